"""Property tests (hypothesis): the manifest parsers and the run verifier, fed arbitrary and near-valid input,
only ever answer with ManifestError or reported problems, never another exception."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest

from conftest import IN_CI

try:
    from hypothesis import HealthCheck, example, given, settings, strategies as st
except ImportError:  # pragma: no cover - hypothesis belongs in the test extras
    if IN_CI:
        raise
    pytest.skip("hypothesis is not installed (pip install hypothesis)", allow_module_level=True)

from hypothesis.configuration import set_hypothesis_home_dir

# Hypothesis keeps caches in ./.hypothesis by default: keep them out of the work tree.
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "coffre-reliability-hypothesis")

from pipeline.destinations.local import LocalDestination
from pipeline.errors import UsageError
from pipeline.keys.age_identity import load_identities
from pipeline.manifest import format as fmt
from pipeline.verify.copy import VerifyOptions, verify_run
from pipeline.verify.deep import DeepChecker

from .helpers import b3_of, expect_fixed, init_store, make_sample_db, other_device_dir, pristine, resign

# These tests hold format 1's data files (one age file per data file in the run folder) to what they must be:
# format 1 is still read, and written when archive.store_format = 1 (tests/store/ holds format 2 to the same).
STORE_FORMAT = 1

# Seeded (derandomize), no example database written into the work tree, modest sizes: seconds, not minutes.
FUZZ = settings(max_examples=200, deadline=None, derandomize=True, database=None, report_multiple_bugs=False,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])

HEX = "0123456789abcdef"
VALID_NAMES = ["snapshot.sqlite.zst.age", "facts.json.zst.age", "journals.tar.zst.age", "manifest.json", "RESTORE.txt"]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=8)


def assert_trusted_b3(listed: dict) -> None:
    assert listed and all(fmt.valid_name(n) and len(h) == 64 and set(h) <= set(HEX) for n, h in listed.items())


@FUZZ
@given(st.binary(max_size=4096))
def test_parse_b3_arbitrary_bytes(data):
    try:
        listed = fmt.parse_b3(data)
    except fmt.ManifestError:
        return
    assert_trusted_b3(listed)


b3_lines = st.tuples(
    st.one_of(st.text(HEX, min_size=64, max_size=64), st.text(HEX + "ABCDEFxyz ", min_size=60, max_size=68)),
    st.sampled_from(["  ", " ", "\t", "   ", " *", ""]),
    st.one_of(st.sampled_from(VALID_NAMES + ["../x", "/etc/passwd", "a/b", ".x", "..", "a..b", "x\0y", "a" * 300]),
              st.text(max_size=140)),
    st.sampled_from(["\n", "\r\n", "", "\n\n"]),
).map(lambda t: "".join(t))


@FUZZ
@given(st.lists(b3_lines, max_size=8))
@example(["a" * 64 + "  ../x\n"])
@example(["a" * 64 + "  " + "b" * 5000 + "\n"])
def test_parse_b3_near_valid(lines):
    data = "".join(lines).encode("utf-8", "surrogatepass")
    try:
        listed = fmt.parse_b3(data)
    except fmt.ManifestError:
        return
    assert_trusted_b3(listed)


@FUZZ
@given(st.binary(max_size=4096))
def test_parse_manifest_arbitrary_bytes(data):
    try:
        fmt.parse_manifest(data)
    except fmt.ManifestError:
        pass


def base_manifest() -> dict:
    return {"format": "coffre-run", "format_version": 1, "run_id": "20261128T120000Z-abcdef", "store_id": "boutique",
            "created_at": "2026-11-28T12:00:00Z", "tool": {"name": "coffre", "version": "0.1.0"},
            "previous_run": {"run_id": "20261127T120000Z-012345", "manifest_blake3": "c" * 64},
            "recipients": ["age1" + "q" * 58],
            "files": [{"name": n, "kind": k, "size": 10, "blake3": "d" * 64, "compression": "zstd", "encryption": "age"}
                      for n, k in (("snapshot.sqlite.zst.age", "snapshot"), ("facts.json.zst.age", "facts"))]}


@st.composite
def near_valid_manifests(draw) -> dict:
    """A valid manifest with one to three fields deleted or replaced by arbitrary JSON."""
    doc = base_manifest()
    for _ in range(draw(st.integers(1, 3))):
        target = doc
        if draw(st.booleans()) and isinstance(doc.get("files"), list) and doc["files"]:
            f = doc["files"][draw(st.integers(0, len(doc["files"]) - 1))]
            if isinstance(f, dict):
                target = f
        if not target:
            continue
        key = draw(st.sampled_from(sorted(target)))
        if draw(st.booleans()):
            del target[key]
        else:
            target[key] = draw(json_values)
    return doc


@FUZZ
@given(near_valid_manifests())
def test_parse_manifest_near_valid(doc):
    try:
        fmt.parse_manifest(json.dumps(doc).encode())
    except fmt.ManifestError:
        pass


def _without_kind(doc):
    del doc["files"][0]["kind"]
    return doc


@FUZZ
@given(near_valid_manifests())
@example(_without_kind(base_manifest()))
def test_a_manifest_that_parses_is_one_the_readers_can_use(doc):
    try:
        m = fmt.parse_manifest(json.dumps(doc).encode())
    except fmt.ManifestError:
        return
    expect_fixed(m["files"] and all(f.get("kind") in ("snapshot", "facts", "journals") for f in m["files"])
                 and m["recipients"] and all(isinstance(r, str) for r in m["recipients"]), f"accepted: {m}")


# --- verify_run over a real run folder whose files hypothesis replaces -------------------------------------------

@pytest.fixture(scope="module")
def fuzz_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("fuzz")
    db = make_sample_db(base / "shop" / "caisse.db", days=2, tickets_per_day=50, seed=31)
    with other_device_dir(base) as dev:
        dest = dev / "usb-A"
        dest.mkdir()
        store = init_store(base, db, [dest])
        res = store.coffre("archive", "--yes")
        assert res.code == 0, res
        (run,) = store.run_dirs(dest)
        scratch = base / "deep-scratch"
        scratch.mkdir()
        yield store, run, load_identities(store.identity), scratch


def fuzz_bytes(original: bytes):
    """Random bytes, or the real file cut and extended, or a plausible age header followed by garbage."""
    return st.one_of(
        st.binary(max_size=2048),
        st.tuples(st.integers(0, len(original)), st.binary(max_size=256)).map(lambda t: original[:t[0]] + t[1]),
        st.binary(max_size=512).map(lambda b: b"age-encryption.org/v1\n-> X25519 " + b),
    )


def _verify(store, run, identities, scratch, deep: bool):
    problems: list = []
    opts = VerifyOptions(store.pinned_key, deep=DeepChecker(identities) if deep else None)
    rep = verify_run(LocalDestination(str(store.destinations[0])), store.store_id, run.name, opts, problems)
    return problems, rep


@FUZZ
@given(data=st.data())
def test_verify_run_on_fuzzed_files_only_reports_problems(fuzz_run, data):
    store, run, identities, scratch = fuzz_run
    with pristine(run):
        originals = {p.name: p.read_bytes() for p in sorted(run.iterdir())}
        names = data.draw(st.lists(st.sampled_from(sorted(originals)), min_size=1, max_size=3, unique=True), "files")
        for name in names:
            if data.draw(st.integers(0, 9), "delete?") == 0:
                (run / name).unlink()
            else:
                (run / name).write_bytes(data.draw(fuzz_bytes(originals[name]), name))
        changed = {p.name: p.read_bytes() for p in run.iterdir()} != originals
        signed = data.draw(st.booleans(), "re-signed with the real key")
        if signed:
            resign(store, run)
        deep = data.draw(st.booleans(), "deep")
        problems, rep = _verify(store, run, identities, scratch, deep)  # any exception fails the test
        if changed and not signed:
            # A problem, or no signature left: then it is not a run (verify_copy notes or reports it).
            assert not rep.ok and (problems or not rep.complete), "an unsigned change went unnoticed"
        assert list(scratch.iterdir()) == []


@FUZZ
@given(data=st.data())
def test_deep_verify_of_consistently_listed_fuzzed_data_reports_problems(fuzz_run, data):
    """A data file replaced by hypothesis bytes, with its size and BLAKE3 put in manifest.json and a re-signed
    MANIFEST.b3: only decryption can tell, and it must tell with a problem, not an exception."""
    store, run, identities, scratch = fuzz_run
    with pristine(run):
        doc = json.loads((run / "manifest.json").read_text())
        entry = data.draw(st.sampled_from(doc["files"]), "data file")
        forged = data.draw(fuzz_bytes((run / entry["name"]).read_bytes()), "bytes")
        (run / entry["name"]).write_bytes(forged)
        entry.update(size=len(forged), blake3=b3_of(run / entry["name"]))
        (run / "manifest.json").write_bytes(fmt.render_manifest(doc))
        resign(store, run)
        problems, rep = _verify(store, run, identities, scratch, deep=True)
        assert problems and not rep.ok
        assert any(p.file == entry["name"] for p in problems), [p.sentence() for p in problems]


def _merge_entry(real: dict, base: dict, fuzzed):
    """A real file entry with the changes hypothesis made to its base entry (removed, altered or added fields)."""
    if not isinstance(fuzzed, dict):
        return fuzzed
    out = {k: v for k, v in real.items() if k in fuzzed or k not in base}
    out.update({k: v for k, v in fuzzed.items() if k not in base or base[k] != v})
    return out


def fuzzed_over_real(real: dict, doc: dict) -> dict:
    """The real run's manifest with the fields hypothesis changed in `doc` (its other fields stay the real ones, so
    the files still decrypt with the real identity)."""
    base = base_manifest()
    forged = json.loads(json.dumps(real))
    for key in base:
        if key not in doc:
            forged.pop(key, None)
        elif doc[key] == base[key] or key in ("run_id", "store_id", "previous_run"):
            continue
        elif key == "files" and isinstance(doc["files"], list):
            forged["files"] = [_merge_entry(r, b, d) for r, b, d in zip(real["files"], base["files"], doc["files"])] \
                + real["files"][min(len(doc["files"]), len(base["files"])):]
        else:
            forged[key] = doc[key]
    return forged


@FUZZ
@given(doc=near_valid_manifests())
@example(doc=_without_kind(base_manifest()))
def test_deep_verify_of_a_signed_near_valid_manifest_never_raises(fuzz_run, doc):
    store, run, identities, scratch = fuzz_run
    with pristine(run):
        forged = fuzzed_over_real(json.loads((run / "manifest.json").read_text()), doc)
        (run / "manifest.json").write_bytes(fmt.render_manifest(forged))
        resign(store, run)
        try:
            _verify(store, run, identities, scratch, deep=True)
        except UsageError as err:
            assert "matches none of the recipients" in str(err)
        except Exception as err:  # noqa: BLE001
            expect_fixed(False, f"{type(err).__name__}: {err}")
