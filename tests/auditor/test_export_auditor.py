"""export-auditor: a package the inspector opens and checks with 7-Zip, sha256sum, minisign and openssl."""

from __future__ import annotations

import csv
import fcntl
import hashlib
import json
import os
import sqlite3
import subprocess
import sys

import pytest

from conftest import need_tool, run_coffre, run_in_terminal

PASSWORD = "cheval-agrafe-batterie-42"
PERIOD = ("2025-01-02", "2025-01-03")


@pytest.fixture
def package(store, tmp_path):
    assert run_coffre("archive", "--config", store.config, "--yes").code == 0
    out = tmp_path / "audit.zip"
    res = run_coffre("export-auditor", "--config", store.config, "--identity", store.identity,
                     "--period", f"{PERIOD[0]}..{PERIOD[1]}", "--out", out, "--password-env", "AUDIT_PW",
                     env={"AUDIT_PW": PASSWORD})
    assert res.code == 0, res
    assert PASSWORD not in res.out + res.err
    return store, out, res


def extract(zip_path, into, password):
    sevenz = need_tool("7z")
    return subprocess.run([sevenz, "x", "-y", f"-p{password}", f"-o{into}", str(zip_path)], capture_output=True, text=True)


def test_7z_shows_aes256_and_extracts_only_with_the_password(package, tmp_path):
    store, out, _ = package
    sevenz = need_tool("7z")
    listing = subprocess.run([sevenz, "l", "-slt", f"-p{PASSWORD}", str(out)], capture_output=True, text=True)
    assert listing.returncode == 0, listing.stderr
    methods = [l for l in listing.stdout.splitlines() if l.startswith("Method = ")]
    assert methods and all("AES-256" in m for m in methods), methods
    assert extract(out, tmp_path / "bad", "not-the-password").returncode != 0
    assert extract(out, tmp_path / "good", PASSWORD).returncode == 0


def test_package_checks_with_stock_tools(package, tmp_path):
    store, out, _ = package
    sha256sum, minisign, openssl = need_tool("sha256sum"), need_tool("minisign"), need_tool("openssl")
    assert extract(out, tmp_path / "x", PASSWORD).returncode == 0
    (root,) = list((tmp_path / "x").iterdir())
    check = subprocess.run([sha256sum, "--check", "SHA256SUMS"], cwd=root, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    listed = {l.split("  ", 1)[1] for l in (root / "SHA256SUMS").read_text().splitlines()}
    present = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    assert listed == present - {"SHA256SUMS", "SHA256SUMS.minisig", "SHA256SUMS.sig"}
    assert subprocess.run([minisign, "-V", "-p", "keys/coffre-signing.pub", "-m", "SHA256SUMS"], cwd=root,
                          capture_output=True).returncode == 0
    ossl = subprocess.run([openssl, "pkeyutl", "-verify", "-pubin", "-inkey", "keys/coffre-signing.pem", "-rawin",
                           "-in", "SHA256SUMS", "-sigfile", "SHA256SUMS.sig"], cwd=root, capture_output=True, text=True)
    assert ossl.returncode == 0 and "Verified Successfully" in ossl.stdout, ossl.stdout + ossl.stderr
    # the key in the package is the store's pinned key, not one made up for the package
    assert (root / "keys" / "coffre-signing.pub").read_bytes() == store.public_key_file.read_bytes()
    # a changed file fails sha256sum; a changed SHA256SUMS fails both signatures
    (root / "journals" / "tickets.csv").write_text("rien\n")
    assert subprocess.run([sha256sum, "--check", "SHA256SUMS"], cwd=root, capture_output=True).returncode != 0
    with open(root / "SHA256SUMS", "a") as f:
        f.write("0" * 64 + "  extra\n")
    assert subprocess.run([minisign, "-V", "-p", "keys/coffre-signing.pub", "-m", "SHA256SUMS"], cwd=root,
                          capture_output=True).returncode != 0
    assert subprocess.run([openssl, "pkeyutl", "-verify", "-pubin", "-inkey", "keys/coffre-signing.pem", "-rawin",
                           "-in", "SHA256SUMS", "-sigfile", "SHA256SUMS.sig"], cwd=root, capture_output=True).returncode != 0


def test_package_holds_the_periods_tickets_and_explains_itself(package, tmp_path):
    store, out, _ = package
    assert extract(out, tmp_path / "x", PASSWORD).returncode == 0
    (root,) = list((tmp_path / "x").iterdir())
    with open(root / "journals" / "tickets.csv", encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f, delimiter=";"))
    expected = sqlite3.connect(store.db).execute(
        "SELECT count(*) FROM tickets WHERE substr(timestamp, 1, 10) BETWEEN ? AND ?", PERIOD).fetchone()[0]
    assert len(rows) - 1 == expected > 0
    for name in ("ticket_lines", "payments", "closures", "jet", "duplicates"):
        assert (root / "journals" / f"{name}.csv").exists() and (root / "journals" / f"{name}.json").exists()
    lisezmoi = (root / "LISEZMOI.txt").read_text(encoding="utf-8")
    assert "sha256sum --check SHA256SUMS" in lisezmoi and "openssl pkeyutl" in lisezmoi and "python3 verify.py" in lisezmoi
    report = (root / "rapport.html").read_text(encoding="utf-8")
    assert 'lang="fr"' in report and store.run_dirs(store.destinations[0])[-1].name in report
    assert "Tous les contrôles sont satisfaits" in report
    assert (root / "run" / "manifest.json").exists() and (root / "findings.json").exists() is False
    assert (root / "journals" / "findings.json").exists()
    # nothing in the package holds the password
    for p in root.rglob("*"):
        if p.is_file():
            assert PASSWORD.encode() not in p.read_bytes(), p
    verify = subprocess.run([sys.executable, "verify.py"], cwd=root, capture_output=True, text=True, timeout=300)
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_every_copy_damaged_means_no_package(store, tmp_path):
    assert run_coffre("archive", "--config", store.config, "--yes").code == 0
    for dest in store.destinations:
        run = store.run_dirs(dest)[-1]
        # A block of the journals (format 2), the same on both copies: no copy can give them.
        block = (run / "journals.tar.blocks").read_text().splitlines()[0].rsplit("/", 1)[1]
        f = dest / store.store_id / "blocks" / block[:2] / block
        data = bytearray(f.read_bytes())
        data[len(data) // 2] ^= 0x10
        f.write_bytes(bytes(data))
    out = tmp_path / "audit.zip"
    res = run_coffre("export-auditor", "--config", store.config, "--identity", store.identity, "--period",
                     "2025-01-01..2025-01-03", "--out", out, "--password-env", "AUDIT_PW", env={"AUDIT_PW": PASSWORD})
    assert res.code == 1, res
    assert "journals.tar.blocks" in res.err and block in res.err and "Traceback" not in res.err
    assert not out.exists() and not list(tmp_path.glob("audit.zip*"))


def test_a_damaged_first_copy_is_passed_over(store, tmp_path):
    assert run_coffre("archive", "--config", store.config, "--yes").code == 0
    run = store.run_dirs(store.destinations[0])[-1]
    (run / "facts.json.zst.age").unlink()
    out = tmp_path / "audit.zip"
    res = run_coffre("export-auditor", "--config", store.config, "--identity", store.identity, "--period",
                     "2025-01-01..2025-01-03", "--out", out, "--password-env", "AUDIT_PW", env={"AUDIT_PW": PASSWORD})
    assert res.code == 0, res
    assert str(store.destinations[1]) in res.err
    assert extract(out, tmp_path / "x", PASSWORD).returncode == 0
    (root,) = list((tmp_path / "x").iterdir())
    assert str(store.destinations[0]) in (root / "rapport.html").read_text(encoding="utf-8")  # the copy passed over


def test_generated_password_is_shown_once_on_a_terminal_only(store, tmp_path):
    assert run_coffre("archive", "--config", store.config, "--yes").code == 0
    res = run_coffre("export-auditor", "--config", store.config, "--identity", store.identity, "--period",
                     "2025-01-01..2025-01-03", "--out", tmp_path / "a.zip")
    assert res.code == 2 and "--password-env" in res.err and not (tmp_path / "a.zip").exists()
    code, shown = run_in_terminal([sys.executable, "-m", "pipeline", "export-auditor", "--config", str(store.config),
                                   "--identity", str(store.identity), "--period", "2025-01-01..2025-01-03",
                                   "--out", str(tmp_path / "b.zip")], [])
    assert code == 0, shown
    lines = shown.splitlines()
    password = lines[lines.index(next(l for l in lines if "Package password" in l)) + 2].strip()
    assert len(password) >= 24
    assert extract(tmp_path / "b.zip", tmp_path / "x", password).returncode == 0
    state = store.config.with_name("coffre-state")
    for p in list(state.rglob("*")) + list(store.config.parent.rglob("*")):
        if p.is_file():
            assert password.encode() not in p.read_bytes(), p


# The command with a Ctrl-C at a chosen point of the package's making: while the letters are written (the zip is
# made), or just after one of the three files is published (a signal landing at that instant).
_STOPPED_AT = """
import os, signal, sys
from pipeline.auditor import letter
from pipeline.cli import main

where = sys.argv.pop(1)
signals = [signal.SIGINT, signal.SIGTERM] if where.startswith("2") else [signal.SIGINT]
where = where.lstrip("2")
if where == "letters":
    def stopped(ctx):
        raise KeyboardInterrupt
    letter.render_html = stopped
else:
    real = os.replace
    def replace(src, dst, *args, **kwargs):
        real(src, dst, *args, **kwargs)
        if str(dst).endswith(where):
            for sig in signals:
                os.kill(os.getpid(), sig)
    os.replace = replace
main()
"""


def _args(store, out):
    return ["export-auditor", "--config", str(store.config), "--identity", str(store.identity), "--period",
            "2025-01-01..2025-01-03", "--out", str(out), "--password-env", "AUDIT_PW"]


def _stopped_at(where, store, out):
    return subprocess.run([sys.executable, "-c", _STOPPED_AT, where, *_args(store, out)], capture_output=True,
                          text=True, env={**os.environ, "AUDIT_PW": PASSWORD}, timeout=300)


def _whole_package(out) -> None:
    folder = out.parent
    text_letter, html_letter = (folder / f"{out.stem}-lettre-de-transmission.txt",
                                folder / f"{out.stem}-lettre-de-transmission.html")
    assert sorted(p.name for p in folder.iterdir()) == sorted([out.name, text_letter.name, html_letter.name])
    sha = hashlib.sha256(out.read_bytes()).hexdigest()
    assert sha in text_letter.read_text(encoding="utf-8") and sha in html_letter.read_text(encoding="utf-8")
    assert out.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("where", ["letters", ".txt", ".html"])
def test_a_stop_before_the_zip_is_published_leaves_no_part_of_the_package_and_a_rerun_makes_it(store, tmp_path,
                                                                                                 where):
    assert run_coffre("archive", "--config", store.config, "--yes").code == 0
    out = tmp_path / "controle" / "audit.zip"
    out.parent.mkdir()
    stopped = _stopped_at(where, store, out)
    assert stopped.returncode == 3, stopped.stderr
    assert "Traceback" not in stopped.stderr
    assert list(out.parent.iterdir()) == []  # neither the zip, nor a letter, nor a partial file
    res = run_coffre(*_args(store, out), env={"AUDIT_PW": PASSWORD})
    assert res.code == 0, res
    _whole_package(out)


def test_a_stop_once_the_zip_is_published_leaves_the_whole_package(store, tmp_path):
    # The package is whole: the stop is said, and nothing of it is taken back (its letters least of all).
    assert run_coffre("archive", "--config", store.config, "--yes").code == 0
    out = tmp_path / "controle" / "audit.zip"
    out.parent.mkdir()
    stopped = subprocess.run([sys.executable, "-c", _STOPPED_AT, ".zip", *_args(store, out), "--json"],
                             capture_output=True, text=True, env={**os.environ, "AUDIT_PW": PASSWORD}, timeout=300)
    assert stopped.returncode == 3, stopped.stderr
    assert json.loads(stopped.stdout)["exit_code"] == 3  # what the process ends with
    assert "Package written" in stopped.stderr and "Traceback" not in stopped.stderr
    _whole_package(out)
    assert extract(out, tmp_path / "x", PASSWORD).returncode == 0


@pytest.mark.parametrize("signals", ["", "2"], ids=["one signal", "two signals"])
def test_a_generated_password_is_shown_even_when_a_stop_comes_once_the_package_is_published(store, tmp_path, signals):
    # Once the package is published, what is left to do can wait: Coffre's log, under the record lock, which
    # another Coffre command holds here. A stop then ends the command past its grace, and the password must have
    # been shown before.
    assert run_coffre("archive", "--config", store.config, "--yes").code == 0
    out = tmp_path / "controle" / "audit.zip"
    out.parent.mkdir()
    (lock,) = store.config.parent.rglob(f"{store.store_id}.record.lock")
    fd = os.open(lock, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        code, shown = run_in_terminal([sys.executable, "-c", _STOPPED_AT, signals + ".zip", *_args(store, out)[:-2]],
                                      [])
    finally:
        os.close(fd)
    assert code == 3, shown
    lines = shown.splitlines()
    password = lines[lines.index(next(l for l in lines if "Package password" in l)) + 2].strip()
    _whole_package(out)
    assert extract(out, tmp_path / "x", password).returncode == 0


_ZIP_SLOWLY = """
import sys, time
from pipeline.auditor import package
from pipeline.cli import main

zip_now = package._zip
def slowly(root, path, password):
    zip_now(root, path, password)
    print("zipped", file=sys.stderr, flush=True)
    time.sleep(4)
package._zip = slowly
main()
"""


def test_a_second_export_auditor_to_the_same_file_is_refused_while_the_first_writes(store, tmp_path):
    assert run_coffre("archive", "--config", store.config, "--yes").code == 0
    out = tmp_path / "controle" / "audit.zip"
    out.parent.mkdir()
    first = subprocess.Popen([sys.executable, "-c", _ZIP_SLOWLY, *_args(store, out)], stderr=subprocess.PIPE,
                             stdout=subprocess.DEVNULL, text=True, env={**os.environ, "AUDIT_PW": PASSWORD})
    try:
        assert first.stderr.readline().strip() == "zipped"
        second = run_coffre(*_args(store, out), env={"AUDIT_PW": "a-second-password-1234"})
        _, err = first.communicate(timeout=300)
    finally:
        if first.poll() is None:
            first.kill()
    assert second.code == 3, second
    assert "Another Coffre command is writing into" in second.err and "Traceback" not in second.err
    assert first.returncode == 0, err
    _whole_package(out)
    assert extract(out, tmp_path / "x", PASSWORD).returncode == 0


def test_a_full_disk_while_zipping_is_one_sentence_and_leaves_nothing(store, tmp_path):
    from reliability.helpers import tmpfs

    assert run_coffre("archive", "--config", store.config, "--yes").code == 0
    with tmpfs(tmp_path / "small", "100k") as small:
        res = run_coffre(*_args(store, small / "audit.zip"), env={"AUDIT_PW": PASSWORD})
        assert res.code == 3, res
        said = [line for line in res.err.splitlines() if line.startswith("coffre:")]
        assert len(said) == 1 and "no space left" in said[0].lower() and str(small) in said[0], res.err
        assert "Traceback" not in res.err and "Exception ignored" not in res.err, res.err
        assert list(small.iterdir()) == []


@pytest.mark.parametrize("points_to", ["itself", "nothing"])
def test_out_a_link_that_leads_nowhere_is_refused_not_replaced(store, tmp_path, points_to):
    """--out "must not exist": a link that loops or dangles was replaced by the package (os.replace over it)."""
    assert run_coffre("archive", "--config", store.config, "--yes").code == 0
    here = tmp_path / "here"
    here.mkdir()
    out = here / "audit.zip"
    out.symlink_to(out if points_to == "itself" else here / "gone.zip")
    target = os.readlink(out)
    res = run_coffre(*_args(store, out), env={"AUDIT_PW": PASSWORD})
    assert res.code == 2, res
    assert res.err.strip().splitlines() == [f"coffre: {out} already exists; export-auditor never overwrites a file."]
    assert out.is_symlink() and os.readlink(out) == target and [p.name for p in here.iterdir()] == [out.name]
