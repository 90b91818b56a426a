"""Secrets: the age identity's AGE-SECRET-KEY and its passphrase appear in no output, no file Coffre writes, no
command line; the passphrase only ever travels by environment variable."""

from __future__ import annotations

import os
import re
import stat

import pyrage

from conftest import run_coffre

from .helpers import PASSPHRASE_VAR, RStore, make_sample_db, other_device_dir

PASSPHRASE = "Tiroir-Caisse 7f3a9c21 fermeture du soir"
ANY_SECRET_KEY = re.compile(rb"AGE-SECRET-KEY-1[0-9A-Z]{20,}", re.IGNORECASE)


def every_file(*roots):
    for root in roots:
        for dirpath, _, files in os.walk(root):
            for f in files:
                yield os.path.join(dirpath, f)


def test_identity_secret_and_passphrase_appear_nowhere(tmp_path, figures):
    db = make_sample_db(tmp_path / "shop" / "caisse.db", days=2, tickets_per_day=50, seed=41)
    with other_device_dir(tmp_path) as dev:
        dests = [dev / "usb-A", dev / "disk-B"]
        for d in dests:
            d.mkdir()
        config, identity = tmp_path / "etc" / "coffre.toml", tmp_path / "offline" / "identity.txt"
        scratch, out = tmp_path / "scratch", tmp_path / "restored"
        scratch.mkdir()
        env = {PASSPHRASE_VAR: PASSPHRASE, "TMPDIR": str(scratch)}
        argvs, outputs = [], []

        def coffre(*args):
            argv = [str(a) for a in args]
            argvs.append(argv)
            res = run_coffre(*argv, env=env)
            outputs.append((argv[0], res.out + res.err))
            assert res.code == 0, res
            return res

        coffre("init", "--config", config, "--source", f"sqlite:{db}", "--to", dests[0], "--to", dests[1],
               "--i-know", "--identity-out", identity, "--store-id", "boutique", "--passphrase-env", PASSPHRASE_VAR)
        store = RStore(tmp_path, config, db, dests, identity, "boutique", PASSPHRASE)
        store.edit_config(lambda doc: doc["archive"].update(scratch_dir=str(scratch)))
        ident = ["--identity", identity, "--passphrase-env", PASSPHRASE_VAR]
        coffre("archive", "--config", config, "--yes")
        coffre("archive", "--config", config, "--yes", "--json")
        coffre("verify", "--config", config, "--json")
        coffre("verify", "--config", config, "--deep", *ident)
        coffre("restore", "--config", config, *ident, "--out", out)
        coffre("drill", "--config", config, *ident, "--json")
        coffre("status", "--config", config)

        # The secret, as only the passphrase opens it (the identity file on disk is age-encrypted).
        plain = pyrage.passphrase.decrypt(identity.read_bytes(), PASSPHRASE)
        (secret,) = re.findall(rb"AGE-SECRET-KEY-1[0-9A-Z]+", plain)
        needles = [secret, secret.lower(), secret[len(b"AGE-SECRET-KEY-1"):], secret[len(b"AGE-SECRET-KEY-1"):].lower(),
                   PASSPHRASE.encode(), PASSPHRASE.encode("utf-16-le")]

        assert stat.S_IMODE(identity.stat().st_mode) == 0o600
        assert identity.read_bytes().startswith(b"age-encryption.org/v1\n")
        for argv in argvs:  # nothing secret is ever passed on a command line (where ps would show it)
            assert not any(PASSPHRASE in a or secret.decode() in a for a in argv), argv
        for command, text in outputs:
            assert not any(n in text.encode() for n in needles), f"a secret in the output of coffre {command}"
            assert not ANY_SECRET_KEY.search(text.encode()), command
        scanned = 0
        # Config, keys, state, activity log, scratch, the shop's folder, every run file, the restored files, and the
        # identity file itself (encrypted: neither the secret nor the passphrase in clear).
        for path in every_file(config.parent, scratch, db.parent, *dests, out, identity.parent):
            data = open(path, "rb").read()
            scanned += 1
            assert not any(n in data for n in needles), f"a secret in {path}"
            if not path.startswith(str(identity.parent)):
                assert not ANY_SECRET_KEY.search(data), f"an age secret key in {path}: the archiving machine holds none"
        assert list(scratch.iterdir()) == [], "scratch left behind"
        figures(f"secrets: {len(outputs)} commands, {scanned} files scanned: no AGE-SECRET-KEY, no passphrase")
