"""Bad input everywhere: forged-but-signed manifests, odd paths, age headers that lie, facts that lie, evil journal
tars, wrong configurations, wrong identities. Each gets its documented exit code, one sentence, no traceback, and
nothing written outside the folder asked for."""

from __future__ import annotations

import base64
import io
import json
import random
import re
import subprocess
import tarfile

import pyrage
import pytest
import zstandard
from pyrage import x25519

from conftest import need_tool

from .helpers import (PASSPHRASE_VAR, already_works, assert_written_only_under, b3_of, expect_fixed,
                      mentioned, pristine, replace_data_file, resign,
                      tree, write_manifest, two_copy_store, archived_once)

# These tests hold format 1's data files (one age file per data file in the run folder) to what they must be:
# format 1 is still read, and written when archive.store_format = 1 (tests/store/ holds format 2 to the same).
STORE_FORMAT = 1

SECRET_KEY = re.compile(r"AGE-SECRET-KEY-1[0-9A-Z]{20,}")
SNAPSHOT, FACTS, JOURNALS = "snapshot.sqlite.zst.age", "facts.json.zst.age", "journals.tar.zst.age"


@pytest.fixture(scope="module")
def forge(tmp_path_factory):
    """One archived run on two copies; each case forges copy A (signed with the store's own key) and puts it back."""
    with two_copy_store(tmp_path_factory.mktemp("forge"), days=2, tickets_per_day=50, seed=21) as store:
        yield store, archived_once(store)


def watched(store):
    return tree(store.base, *store.destinations)


def refused(res, code: int, *mentions: str) -> None:
    """`code`, no traceback, no internal error, the last line one sentence `coffre: …` naming `mentions`."""
    expect_fixed(res.code == code, f"exit {res.code}, not {code}: {res}")
    expect_fixed("Traceback" not in res.err + res.out and "internal error" not in res.err, res)
    lines = [line for line in res.err.splitlines() if line.startswith("coffre:")]
    expect_fixed(len(lines) == 1, res)
    for m in mentions:
        expect_fixed(mentioned(lines[0], m), (m, res))
    expect_fixed("\0" not in res.err and max(map(len, res.err.splitlines())) < 2000, "not a readable sentence")


def check_verify_fails(store, *mentions, deep=False) -> None:
    """verify of copy A: exit 1, each problem one line, naming `mentions`; the state folder is all it writes."""
    before = watched(store)
    args = ["--deep", *store.identity_args()] if deep else []
    res = store.coffre("verify", "--from", store.destinations[0], *args)
    expect_fixed(res.code == 1, f"verify{' --deep' if deep else ''} gave exit {res.code}: {res}")
    expect_fixed("Traceback" not in res.err + res.out and "internal error" not in res.err, res)
    for m in mentions:
        expect_fixed(mentioned(res.err, m), (m, res))
    assert_written_only_under(before, watched(store), store.state_dir, store.scratch)


def check_restore_fails(store, out, *mentions, extra=()) -> None:
    """restore from copy A: exit 1, one sentence; nothing published in --out, nothing written anywhere else."""
    before = watched(store)
    res = store.coffre("restore", *store.identity_args(), "--out", out, "--from", store.destinations[0], *extra)
    refused(res, 1, *mentions)
    left = sorted(p.name for p in out.iterdir()) if out.exists() else []
    expect_fixed(left == [], f"restore left {left} in --out")
    assert_written_only_under(before, watched(store), out)


def manifest_doc(run) -> dict:
    return json.loads((run / "manifest.json").read_text())


def edit_manifest(edit):
    def apply(run):
        doc = manifest_doc(run)
        edit(doc)
        return doc
    return apply


def _set_file_field(name, key, value):
    def edit(doc):
        for f in doc["files"]:
            if f["name"] == name:
                if value is KeyError:
                    del f[key]
                else:
                    f[key] = value
    return edit


def _keep_files(*names):
    def edit(doc):
        doc["files"] = [f for f in doc["files"] if f["name"] in names]
    return edit


# --- manifest.json whose content is bad, consistently listed and signed with the store's real key ------------------

MANIFESTS = [
    pytest.param(lambda run: b'{"format": "coffre-run", "format_version": ', id="not-json"),
    pytest.param(lambda run: b"[]\n", id="json-array"),
    pytest.param(lambda run: b"[" * 100000, id="nested-100000-deep"),
    pytest.param(edit_manifest(lambda d: d.update(format_version=3)), id="format-version-3"),
    pytest.param(edit_manifest(lambda d: d.update(run_id="20000101T000000Z-abcdef")), id="run-id-of-another-run"),
    pytest.param(edit_manifest(_set_file_field(SNAPSHOT, "size", "12")), id="size-a-string"),
    pytest.param(edit_manifest(_set_file_field(SNAPSHOT, "blake3", "0" * 64)), id="blake3-disagrees"),
    pytest.param(edit_manifest(_set_file_field(SNAPSHOT, "name", "../../etc/passwd")), id="file-name-escapes"),
    pytest.param(edit_manifest(lambda d: d.update(files=[])),
                 id="no-data-file"),
    pytest.param(edit_manifest(_keep_files(SNAPSHOT)),
                 id="facts-left-out"),
    pytest.param(edit_manifest(_set_file_field(SNAPSHOT, "kind", KeyError)),
                 id="kind-missing"),
    pytest.param(edit_manifest(lambda d: d.update(recipients=[{"age": 1}])),
                 id="recipients-not-strings"),
]


@pytest.mark.parametrize("content", MANIFESTS)
def test_malformed_manifest_signed_with_the_real_key(forge, tmp_path, content):
    store, run = forge
    with pristine(run):
        data = content(run)
        write_manifest(store, run, data)
        check_verify_fails(store, run.name, deep=True)  # every check of plain verify, and the decryption
        check_restore_fails(store, tmp_path / "out")


# --- MANIFEST.b3 with odd paths, signed with the real key ---------------------------------------------------------

def _b3_with(*extra: bytes):
    def lines(run):
        names = sorted(p.name for p in run.iterdir() if p.name not in ("MANIFEST.b3", "MANIFEST.b3.minisig"))
        return [f"{b3_of(run / n)}  {n}\n".encode() for n in names] + list(extra)
    return lines


H = b"ab" * 32
ODD_B3 = [
    pytest.param(_b3_with(H + b"  ../x\n"), id="dot-dot"),
    pytest.param(_b3_with(H + b"  /etc/passwd\n"), id="absolute"),
    pytest.param(_b3_with(H + b"  x\0y\n"), id="nul"),
    pytest.param(_b3_with(H + b"  " + b"a" * 5000 + b"\n"), id="5000-char-name"),
    pytest.param(_b3_with(H + b"  " + SNAPSHOT.encode() + b"\n"), id="listed-twice"),
    pytest.param(lambda run: [line.replace(b"\n", b"\r\n") for line in _b3_with()(run)], id="crlf"),
    pytest.param(lambda run: [], id="empty"),
]


@pytest.mark.parametrize("lines", ODD_B3)
def test_manifest_b3_with_odd_paths_signed_with_the_real_key(forge, tmp_path, lines):
    store, run = forge
    with pristine(run):
        resign(store, run, lines(run))
        check_verify_fails(store, run.name, "MANIFEST.b3")
        check_restore_fails(store, tmp_path / "out", "MANIFEST.b3")


# --- data files whose bytes lie, every list consistent and signed ---------------------------------------------------

def b64(data: bytes) -> bytes:
    return base64.b64encode(data).rstrip(b"=")


def _rng() -> random.Random:
    return random.Random(1286)


def age_header(*stanzas: bytes, end: bool = True) -> bytes:
    rng = _rng()
    return b"age-encryption.org/v1\n" + b"".join(stanzas) + (b"--- " + b64(rng.randbytes(32)) + b"\n" if end else b"")


def real_age(store, plain: bytes, compress: bool = True) -> bytes:
    data = zstandard.ZstdCompressor(write_checksum=True).compress(plain) if compress else plain
    return pyrage.encrypt(data, [x25519.Recipient.from_str(store.recipient)])


def real_plain(store, run, name: str) -> bytes:
    from pipeline.keys.age_identity import load_identities

    data = pyrage.decrypt((run / name).read_bytes(), load_identities(store.identity))
    return zstandard.ZstdDecompressor().decompressobj().decompress(data)


LYING_AGE = [
    pytest.param(SNAPSHOT, lambda s, r: age_header(b"-> X25519 !!not*base64!!\nAAAA\n") + _rng().randbytes(300),
                 id="x25519-stanza-not-base64"),
    pytest.param(SNAPSHOT, lambda s, r: age_header(b"-> X25519 " + b64(_rng().randbytes(32)) + b"\n"
                                                   + b64(_rng().randbytes(32)) + b"\n") + _rng().randbytes(300),
                 id="x25519-stanza-for-another-key"),
    pytest.param(SNAPSHOT, lambda s, r: age_header(b"-> scrypt " + b64(_rng().randbytes(16)) + b" 62\n"
                                                   + b64(_rng().randbytes(32)) + b"\n") + _rng().randbytes(300),
                 id="scrypt-stanza-work-factor-62"),
    pytest.param(SNAPSHOT, lambda s, r: age_header(b"-> X25519 " + b"A" * 200000 + b"\n\n") + b"x" * 100,
                 id="200-kB-stanza-argument"),
    pytest.param(SNAPSHOT, lambda s, r: age_header(b"-> X25519 " + b64(_rng().randbytes(32)) + b"\n"
                                                   + (b"A" * 64 + b"\n") * 2000, end=False),
                 id="header-never-ends"),
    pytest.param(SNAPSHOT, lambda s, r: b"age-encryption.org/v1\n", id="header-line-only"),
    pytest.param(SNAPSHOT, lambda s, r: b"age-encryption.org/v2\n-> X25519 AAAA\nAAAA\n--- AAAA\n", id="age-v2"),
    pytest.param(SNAPSHOT, lambda s, r: real_age(s, _rng().randbytes(5000), compress=False),
                 id="real-age-not-zstd"),
    pytest.param(SNAPSHOT, lambda s, r: real_age(s, b"pas une base SQLite\n" * 1000), id="real-age-zstd-not-sqlite"),
    pytest.param(SNAPSHOT, lambda s, r: (r / SNAPSHOT).read_bytes()[:-40], id="real-file-truncated"),
    pytest.param(SNAPSHOT, lambda s, r: (r / SNAPSHOT).read_bytes() + b"trailing junk", id="real-file-with-junk"),
    pytest.param(FACTS, lambda s, r: age_header(b"-> X25519 " + b64(_rng().randbytes(32)) + b"\n"
                                                + b64(_rng().randbytes(32)) + b"\n") + _rng().randbytes(64),
                 id="facts-x25519-for-another-key"),
    pytest.param(FACTS, lambda s, r: real_age(s, b"{not json"), id="facts-not-json"),
    pytest.param(FACTS, lambda s, r: real_age(s, b'{"run_id": "x"}'), id="facts-without-snapshot"),
    pytest.param(FACTS, lambda s, r: real_age(s, b"\0" * (17 << 20)), id="facts-17-MB-zstd-bomb"),
    pytest.param(JOURNALS, lambda s, r: age_header(b"-> X25519 !!\n\n") + b"x", id="journals-stanza-not-base64"),
]


@pytest.mark.parametrize("name, forged", LYING_AGE)
def test_data_file_that_lies_is_refused_by_deep_verify_and_restore(forge, tmp_path, name, forged):
    store, run = forge
    if not (run / name).exists():
        pytest.fail(f"the run has no {name}", pytrace=False)
    with pristine(run):
        replace_data_file(store, run, name, forged(store, run))
        check_verify_fails(store, name, deep=True)
        if name == JOURNALS:
            # A plain restore gives back the database only; the journals are unpacked with --journals.
            check_plain_restore_leaves_journals_alone(store, tmp_path / "plain")
        check_restore_fails(store, tmp_path / "out", name, extra=("--journals",) if name == JOURNALS else ())


def _facts_edit(edit):
    def forged(store, run):
        facts = json.loads(real_plain(store, run, FACTS))
        edit(facts["snapshot"])
        return real_age(store, json.dumps(facts).encode())
    return forged


@pytest.mark.parametrize("forged, deep_sees_it", [
    pytest.param(_facts_edit(lambda s: s.update(plain_blake3="0" * 64)), True, id="another-snapshot-hash"),
    pytest.param(_facts_edit(lambda s: s.update(plain_size=12)), True, id="another-snapshot-size"),
    pytest.param(_facts_edit(lambda s: s.update(page_count=3)), True, id="another-page-count"),
    pytest.param(_facts_edit(lambda s: s.update(row_counts={"tickets": 1})), False, id="row-count-differs"),
    pytest.param(_facts_edit(lambda s: s.update(row_counts={"no_such_table": 3})), False, id="table-missing"),
    pytest.param(_facts_edit(lambda s: s.update(row_counts=[1, 2])), True,
                 id="row-counts-a-list"),
])
def test_facts_that_lie_about_the_snapshot(forge, tmp_path, forged, deep_sees_it):
    """Facts signed with the store's key that disagree with the snapshot they describe. verify --deep streams the
    snapshot without writing it: it holds it to the recorded BLAKE3, size and SQLite header, not to the row
    counts, which need the database opened (the documented trade-off); restore and the drill open it."""
    store, run = forge
    with pristine(run):
        replace_data_file(store, run, FACTS, forged(store, run))
        if deep_sees_it:
            check_verify_fails(store, (SNAPSHOT, FACTS), deep=True)
        else:
            res = store.coffre("verify", "--from", store.destinations[0], "--deep", *store.identity_args())
            assert res.code == 0, res
            res = store.coffre("drill", *store.identity_args(), "--from", store.destinations[0])
            assert res.code == 1 and "recorded at archive time" in res.err, res
        check_restore_fails(store, tmp_path / "out", (SNAPSHOT, FACTS))


def _tar(*members: tuple[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.mark.parametrize("members", [
    pytest.param([("journals/tickets.csv", b"a;b\n"), ("../escape.txt", b"pwned")], id="dot-dot-member"),
    pytest.param([("/tmp/coffre-evil.txt", b"pwned")], id="absolute-member"),
])
def test_journals_tar_with_evil_members_writes_nothing(forge, tmp_path, members):
    store, run = forge
    if not (run / JOURNALS).exists():
        pytest.fail(f"the run has no {JOURNALS}", pytrace=False)
    with pristine(run):
        replace_data_file(store, run, JOURNALS, real_age(store, _tar(*members)))
        with already_works():
            check_verify_fails(store, JOURNALS, deep=True)
        out = tmp_path / "restored" / "out"
        before = watched(store)
        res = store.coffre("restore", *store.identity_args(), "--out", out, "--from", store.destinations[0],
                           "--journals")
        assert not (tmp_path / "restored" / "escape.txt").exists() and not (tmp_path / "escape.txt").exists()
        assert not (tmp_path / "coffre-evil.txt").exists()
        assert res.code == 1 and "Traceback" not in res.err and "journals.tar" in res.err, res
        assert_written_only_under(before, watched(store), out)
        left = sorted(p.name for p in out.iterdir()) if out.exists() else []
        expect_fixed(left == [], f"a refused copy left {left} in --out")


def test_journals_that_differ_from_the_archive_time_facts_are_refused_by_restore(forge, tmp_path):
    store, run = forge
    with pristine(run):
        replace_data_file(store, run, JOURNALS, real_age(store, _tar(("journals/tickets.csv", b"id;total\n1;0\n"))))
        with already_works():
            check_verify_fails(store, JOURNALS, deep=True)
        check_plain_restore_leaves_journals_alone(store, tmp_path / "plain")
        check_restore_fails(store, tmp_path / "out", JOURNALS, extra=("--journals",))


# --- the journals' recorded hash: of the zstd stream (zst_blake3), or of the plain tar in older runs -------------

def _all_frames(zst: bytes) -> bytes:
    return zstandard.ZstdDecompressor().decompressobj(read_across_frames=True).decompress(zst)


def _with_journal_facts(store, run, edit) -> None:
    facts = json.loads(real_plain(store, run, FACTS))
    edit(facts["journals"])
    replace_data_file(store, run, FACTS, real_age(store, json.dumps(facts).encode()))


def _older_facts(plain_blake3: str):
    def edit(j):
        j.pop("zst_blake3", None)
        j.pop("zst_size", None)
        j["plain_blake3"] = plain_blake3
    return edit


def test_runs_that_record_the_plain_journals_hash_still_verify_restore_and_drill(forge, tmp_path):
    """Runs written before `zst_blake3` record the BLAKE3 of the plain tar: readers decompress and compare it."""
    from pipeline.keys.age_identity import load_identities

    store, run = forge
    with pristine(run):
        tar = _all_frames(pyrage.decrypt((run / JOURNALS).read_bytes(), load_identities(store.identity)))
        _with_journal_facts(store, run, _older_facts(b3(tar)))
        res = store.coffre("verify", "--from", store.destinations[0], "--deep", *store.identity_args())
        assert res.code == 0, res
        res = store.coffre("restore", *store.identity_args(), "--out", tmp_path / "out", "--from",
                           store.destinations[0], "--journals")
        assert res.code == 0, res
        assert (tmp_path / "out" / "journals" / "tickets.csv").is_file()
        res = store.coffre("drill", *store.identity_args(), "--from", store.destinations[0])
        assert res.code == 0, res
        # and an older run whose plain hash does not match is refused by each of them
        _with_journal_facts(store, run, _older_facts("0" * 64))
        check_verify_fails(store, JOURNALS, deep=True)
        check_restore_fails(store, tmp_path / "out2", JOURNALS, extra=("--journals",))
        res = store.coffre("drill", *store.identity_args(), "--from", store.destinations[0])
        assert res.code == 1 and JOURNALS in res.err, res


def test_a_zst_blake3_that_differs_is_refused(forge, tmp_path):
    store, run = forge
    with pristine(run):
        _with_journal_facts(store, run, lambda j: j.update(zst_blake3="1" * 64))
        check_verify_fails(store, JOURNALS, deep=True)
        check_plain_restore_leaves_journals_alone(store, tmp_path / "plain")
        check_restore_fails(store, tmp_path / "out", JOURNALS, extra=("--journals",))


def test_journals_recorded_damaged_pass_deep_verify_but_fail_the_drill(forge, tmp_path):
    """The documented trade-off: verify --deep holds the journals' zstd stream to the BLAKE3 recorded at archive
    time without decompressing it; the drill (and restore --journals) decompress it. A run whose recorded stream
    itself does not decompress (forged here with the store's own key) shows in the drill."""
    store, run = forge
    with pristine(run):
        zst = bytearray(zstandard.ZstdCompressor(write_checksum=True).compress(
            _tar(("journals/tickets.csv", b"id;total\n" + b"1;100\n" * 5000))))
        zst[-2] ^= 0xFF  # the frame's content checksum
        zst = bytes(zst)
        replace_data_file(store, run, JOURNALS, real_age(store, zst, compress=False))
        _with_journal_facts(store, run, lambda j: j.update(zst_blake3=b3(zst), zst_size=len(zst)))
        res = store.coffre("verify", "--from", store.destinations[0], "--deep", *store.identity_args())
        assert res.code == 0, res
        res = store.coffre("drill", *store.identity_args(), "--from", store.destinations[0], "--json")
        assert res.code == 1 and "Traceback" not in res.err, res
        (copy,) = json.loads(res.out)["copies"]
        assert JOURNALS in copy["problem"] and "zstd" in copy["problem"], copy
        check_restore_fails(store, tmp_path / "out", JOURNALS, extra=("--journals",))


def b3(data: bytes) -> str:
    import blake3

    return blake3.blake3(data).hexdigest()


def check_plain_restore_leaves_journals_alone(store, out) -> None:
    """A journals file signed with the store's key but lying about its content: a plain restore authenticates
    it (signed BLAKE3) without unpacking it, and gives back the database, checked, and nothing else."""
    res = store.coffre("restore", *store.identity_args(), "--out", out, "--from", store.destinations[0])
    assert res.code == 0, res
    assert sorted(p.name for p in out.iterdir()) == ["facts.json", "snapshot.sqlite"]


# --- configurations with wrong types ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def guarded(tmp_path_factory):
    """A store whose identity is protected by a passphrase (`coffre init --passphrase-env`), one run archived."""
    with two_copy_store(tmp_path_factory.mktemp("guarded"), days=2, tickets_per_day=50, seed=22,
                        passphrase="Caisse-Fermee-42 le soir") as store:
        archived_once(store)
        # Opened once: the passphrase-protected identity costs a second of scrypt each time.
        raw = pyrage.passphrase.decrypt(store.identity.read_bytes(), store.passphrase).decode()
        store.secret = next(line for line in raw.splitlines() if line.startswith("AGE-SECRET-KEY-"))
        yield store


def _secret_of(store) -> str:
    return store.secret


def _set(path: str, value):
    def edit(doc, store):
        *parents, last = path.split(".")
        node = doc
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = value(store) if callable(value) else value
    return edit


CONFIGS = [
    pytest.param(_set("destinations", "/media/usb"), "destinations", id="destinations-a-string"),
    pytest.param(_set("destinations", [1, 2]), "destinations", id="destinations-numbers"),
    pytest.param(_set("encryption.recipients", ["age1notakey"]), "age1notakey", id="recipient-malformed"),
    pytest.param(_set("encryption.recipients", []), "encryption.recipients", id="recipients-empty"),
    pytest.param(_set("encryption.recipients", "age1abc"), "encryption.recipients", id="recipients-a-string"),
    pytest.param(_set("signing.public_key", 42), "signing.public_key", id="public-key-a-number"),
    pytest.param(_set("signing.secret_key_file", "nowhere.key"), "nowhere.key", id="secret-key-file-missing"),
    pytest.param(_set("source", ["sqlite:/x"]), "source", id="source-a-list"),
    pytest.param(_set("source", "postgres:"), "source", id="source-unknown-kind"),
    pytest.param(_set("archive.compression_level", 0), "archive.compression_level", id="level-0"),
    pytest.param(_set("archive.compression_level", 3.5), "archive.compression_level", id="level-a-float"),
    pytest.param(_set("archive.scratch_dir", 5), "archive.scratch_dir", id="scratch-dir-a-number"),
    pytest.param(_set("archive.allow_same_disk", 1), "archive.allow_same_disk", id="allow-same-disk-a-number"),
    pytest.param(_set("store_id", ""), "store_id", id="store-id-empty"),
    pytest.param(_set("state", "coffre-state"), "state",
                 id="state-a-string"),
    pytest.param(_set("archive", "fast"), "archive",
                 id="archive-a-string"),
    pytest.param(_set("encryption.recipients", lambda st: [_secret_of(st)]), "encryption.recipients",
                 id="secret-key-as-recipient"),
]


@pytest.mark.parametrize("edit, named", CONFIGS)
def test_config_with_wrong_types_is_exit_2_one_sentence(guarded, edit, named):
    store = guarded
    saved = store.config.read_text()
    try:
        store.edit_config(lambda doc: edit(doc, store))
        before = watched(store)
        res = store.coffre("archive", "--yes")
        secret = _secret_of(store)
        expect_fixed(secret not in res.err + res.out and secret.lower() not in (res.err + res.out).lower(),
                     "the age secret key is shown")
        refused(res, 2, named)
        assert_written_only_under(before, watched(store))
    finally:
        store.config.write_text(saved)


def test_malformed_pinned_key_is_a_configuration_error(guarded):
    store = guarded
    saved = store.config.read_text()
    try:
        store.edit_config(lambda doc: doc["signing"].update(public_key="bm90IGEga2V5"))
        refused(store.coffre("verify"), 2, "signing.public_key")
    finally:
        store.config.write_text(saved)


# --- wrong identities, and a passphrase-protected identity without its passphrase -----------------------------------

def _other_identity(store, tmp_path):
    p = tmp_path / "other-identity.txt"
    subprocess.run([need_tool("age-keygen"), "-o", str(p)], check=True, capture_output=True)
    return ["--identity", p, "--passphrase-env", PASSPHRASE_VAR], {}, "matches none of the recipients"


def _garbage_identity(store, tmp_path):
    p = tmp_path / "garbage.txt"
    p.write_text("# not a key\nhello\n")
    return ["--identity", p], {}, "holds no age identity"


def _malformed_identity(store, tmp_path):
    p = tmp_path / "malformed.txt"
    p.write_text("AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ\n")
    return ["--identity", p], {}, "malformed"


IDENTITIES = [
    pytest.param(lambda s, t: (["--identity", s.identity], {}, "protected by a passphrase"), id="no-passphrase"),
    pytest.param(lambda s, t: (["--identity", s.identity, "--passphrase-env", "COFFRE_UNSET_VAR"], {},
                               "empty or not set"), id="passphrase-var-unset"),
    pytest.param(lambda s, t: (["--identity", s.identity, "--passphrase-env", PASSPHRASE_VAR],
                               {PASSPHRASE_VAR: "Caisse-Ouverte-24"}, "does not open"), id="wrong-passphrase"),
    pytest.param(_other_identity, id="another-identity"),
    pytest.param(_garbage_identity, id="no-key-in-file"),
    pytest.param(_malformed_identity, id="malformed-key"),
    pytest.param(lambda s, t: (["--identity", t / "missing.txt"], {}, "does not exist"), id="missing-file"),
]


@pytest.mark.parametrize("command, identity", [
    pytest.param(command, identity.values[0], id=f"{identity.id}-{command}")
    for identity in IDENTITIES for command in ("restore", "drill", "verify-deep")
    if command == "restore" or identity.id in ("no-passphrase", "another-identity")
])
def test_wrong_identity_is_exit_2_one_sentence_no_secret(guarded, tmp_path, command, identity):
    store = guarded
    args, env, says = identity(store, tmp_path)
    full_env = {PASSPHRASE_VAR: "", **env}  # never the real passphrase
    out = tmp_path / "out"
    argv = {"restore": ["restore", *args, "--out", out], "drill": ["drill", *args],
            "verify-deep": ["verify", "--deep", *args]}[command]
    before = watched(store)
    res = store.coffre(*argv, env=full_env)
    refused(res, 2, says)
    shown = res.out + res.err
    assert not SECRET_KEY.search(shown.upper()) and store.passphrase not in shown
    assert not out.exists()
    assert_written_only_under(before, watched(store), store.scratch)
