"""verify --deep opens each block once per verify, whatever the runs and copies that name it: another copy's bytes, or
another run's list naming the same block, are read and held to the same signed BLAKE3, not decrypted again; each run is
still held whole to its facts (the contents root of its blocks); damage on either copy is found and named on the copy
that has it, whichever copy is read first. A run whose facts record no contents root (written before it) is decrypted
as one stream, once over both copies."""

from __future__ import annotations

import json
import subprocess
import threading
import tomllib
from collections import Counter

import blake3
import pytest

from conftest import need_tool, run_coffre, stock_plain
from pipeline import config as config_file
from pipeline.keys.age_identity import load_identities
from pipeline.keys.signing import load_secret
from pipeline.manifest.sign import sign
from pipeline.unpack import block_contents
from pipeline.verify import deep
from pipeline.verify.run import verify_destinations


def archived(store) -> None:
    res = run_coffre("archive", "--config", store.config, "--yes")
    assert res.code == 0, res


@pytest.fixture
def decryptions(monkeypatch):
    """What was decrypted in this process: (copy, file) for a data file decrypted as one stream, ("block", name) for
    each block opened on its own."""
    seen: Counter = Counter()
    lock = threading.Lock()
    real_file, real_block = deep.unpack_data_file, block_contents._decrypt

    def counted(dest, store_id, run_id, entry, *args, **kwargs):
        with lock:
            seen[(dest.describe(), entry["name"])] += 1
        return real_file(dest, store_id, run_id, entry, *args, **kwargs)

    def counted_block(name, data, secrets):
        with lock:
            seen[("block", name)] += 1
        return real_block(name, data, secrets)

    monkeypatch.setattr(deep, "unpack_data_file", counted)
    monkeypatch.setattr(block_contents, "_decrypt", counted_block)
    return seen


def listed_blocks(run) -> dict[str, list[str]]:
    """{list file: [block names]} of a run folder."""
    return {name: [line.rsplit("/", 1)[1] for line in (run / name).read_text().splitlines()]
            for name in ("snapshot.sqlite.blocks", "journals.tar.blocks")}


def opened_blocks(decryptions) -> Counter:
    return Counter({name: n for (kind, name), n in decryptions.items() if kind == "block"})


def deep_verify(store):
    cfg = config_file.load(store.config)
    return verify_destinations(cfg, cfg.destinations, identities=load_identities(store.identity))


def test_two_intact_copies_have_each_block_decrypted_once_and_both_are_verified_deep(store, decryptions):
    archived(store)
    outcome = deep_verify(store)
    assert [r.ok for r in outcome.reports] == [True, True]
    assert all(run.deep and run.data_read for r in outcome.reports for run in r.runs)
    lists = listed_blocks(store.run_dirs(store.destinations[0])[0])
    # Every block of both lists opened, once over both copies, not once per copy; no data file as one stream.
    assert opened_blocks(decryptions) == Counter(set(lists["snapshot.sqlite.blocks"] + lists["journals.tar.blocks"]))
    assert not [f for (kind, f) in decryptions if kind != "block" and not f.startswith("facts")]
    # The facts, which say what the rest must be, are read on each copy.
    assert sum(n for (_copy, f), n in decryptions.items() if f.startswith("facts")) == 2
    # What both copies read is on record as a deep check of each.
    checks = json.loads((store.config.parent / "coffre-state" / "boutique.history.json").read_text())["checks"]
    assert checks[-1]["kind"] == "verify-deep" and all(c["ok"] for c in checks[-1]["copies"])
    # Each copy's bytes were read: the second copy's blocks were hashed, not taken on the first's word.
    for dest, report in zip(store.destinations, outcome.reports):
        assert sum(run.bytes_read for run in report.runs) >= sum(
            p.stat().st_size for p in (dest / store.store_id / "blocks").rglob("*") if p.is_file())


@pytest.mark.parametrize("damaged_copy", [0, 1])
def test_a_damaged_block_is_named_on_its_copy_whichever_copy_is_read_first(store, decryptions, damaged_copy):
    archived(store)
    dest = store.destinations[damaged_copy]
    run = store.run_dirs(dest)[0]
    block = (run / "snapshot.sqlite.blocks").read_text().splitlines()[0].rsplit("/", 1)[1]
    path = dest / store.store_id / "blocks" / block[:2] / block
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    outcome = deep_verify(store)
    assert [r.ok for r in outcome.reports] == [damaged_copy == 1, damaged_copy == 0]
    bad = outcome.reports[damaged_copy]
    said = " ".join(p.sentence() for p in bad.problems)
    assert block in said and "snapshot.sqlite.blocks" in said, said
    good = outcome.reports[1 - damaged_copy]
    assert not good.problems and all(run.deep for run in good.runs)
    # The damaged bytes never reach age (held to the list's BLAKE3 first): the block was decrypted once, from the
    # intact copy's bytes, not taken on the damaged copy's word.
    assert opened_blocks(decryptions)[block] == 1


def test_runs_sharing_blocks_have_each_block_decrypted_once_and_each_run_held_to_its_facts(store, decryptions):
    for _ in range(3):
        archived(store)
    runs = store.run_dirs(store.destinations[0])
    assert len(runs) == 3
    lists = [listed_blocks(run) for run in runs]
    every = [b for one in lists for names in one.values() for b in names]
    # The database did not change: the runs share its blocks (the journals' tar headers carry each run's time).
    snapshots = [b for one in lists for b in one["snapshot.sqlite.blocks"]]
    assert len(set(snapshots)) < len(snapshots) / 2
    outcome = deep_verify(store)
    assert [r.ok for r in outcome.reports] == [True, True]
    assert all(run.deep and run.data_read for r in outcome.reports for run in r.runs)
    assert len(outcome.reports[0].runs) == 3
    assert opened_blocks(decryptions) == Counter(set(every))


def forge_facts(store, run, change) -> None:
    """The run's facts.json decrypted, changed by `change(facts)`, encrypted again (stock zstd and age) and the run
    re-signed with the store's own key: only the archiving machine could do this; the blocks stay as written."""
    age, zstd = need_tool("age"), need_tool("zstd")
    facts = json.loads(stock_plain(run, "facts.json", store.identity))
    change(facts)
    cfg = tomllib.loads(store.config.read_text())
    sealed = subprocess.run(f'"{zstd}" -q -c | "{age}" ' + " ".join(f"-r {r}" for r in cfg["encryption"]["recipients"]),
                            shell=True, input=json.dumps(facts).encode(), capture_output=True, check=True).stdout
    (run / "facts.json.zst.age").write_bytes(sealed)
    doc = json.loads((run / "manifest.json").read_text())
    for f in doc["files"]:
        if f["name"] == "facts.json.zst.age":
            f["size"], f["blake3"] = len(sealed), blake3.blake3(sealed).hexdigest()
    (run / "manifest.json").write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    names = sorted(p.name for p in run.iterdir() if p.name not in ("MANIFEST.b3", "MANIFEST.b3.minisig"))
    b3 = "".join(f"{blake3.blake3((run / n).read_bytes()).hexdigest()}  {n}\n" for n in names).encode()
    (run / "MANIFEST.b3").write_bytes(b3)
    secret = load_secret(store.config.parent / cfg["signing"]["secret_key_file"])
    (run / "MANIFEST.b3.minisig").write_bytes(sign(secret, b3, f"coffre store:{store.store_id} run:{run.name}"))


@pytest.mark.parametrize("kind", ["snapshot", "journals"])
def test_a_contents_root_that_differs_from_the_blocks_is_found(store, kind):
    archived(store)
    run = store.run_dirs(store.destinations[0])[0]

    def wrong(facts):
        facts[kind]["blocks_blake3"] = blake3.blake3(b"not these blocks").hexdigest()

    forge_facts(store, run, wrong)
    res = run_coffre("verify", "--config", store.config, "--deep", "--identity", store.identity, "--from",
                     store.destinations[0])
    assert res.code == 1, res
    assert "its blocks hold other contents than the ones recorded at archive time (the contents root" in res.err, res
    assert "Traceback" not in res.out + res.err


@pytest.mark.parametrize("kind,size", [("snapshot", "plain_size"), ("journals", "zst_size")])
def test_blocks_that_hold_fewer_bytes_than_the_facts_record_are_said_with_both_sizes(store, kind, size):
    archived(store)
    run = store.run_dirs(store.destinations[0])[0]
    recorded = {}

    def more(facts):
        recorded["true"] = facts[kind][size]
        facts[kind][size] += 4096

    forge_facts(store, run, more)
    res = run_coffre("verify", "--config", store.config, "--deep", "--identity", store.identity, "--from",
                     store.destinations[0])
    assert res.code == 1, res
    assert f"its blocks hold {recorded['true']} bytes, {recorded['true'] + 4096} were recorded at archive time" \
        in res.err, res


def test_a_contents_root_that_is_not_one_is_said_and_the_file_decrypted_whole(store, decryptions):
    archived(store)
    first, second = (store.run_dirs(dest)[0] for dest in store.destinations)
    forge_facts(store, first, lambda facts: facts["snapshot"].update(blocks_blake3=facts["snapshot"][
        "blocks_blake3"].upper()))
    for name in ("facts.json.zst.age", "manifest.json", "MANIFEST.b3", "MANIFEST.b3.minisig"):
        (second / name).write_bytes((first / name).read_bytes())
    outcome = deep_verify(store)
    assert [r.ok for r in outcome.reports] == [True, True]
    assert sum(n for (_copy, f), n in decryptions.items() if f == "snapshot.sqlite.blocks") == 1, decryptions
    notes = [n for r in outcome.reports for run in r.runs for n in run.notes]
    assert any(n.startswith("snapshot.sqlite.blocks: facts.json's contents root (blocks_blake3) is not 64 lowercase")
               for n in notes), notes


def test_a_run_whose_facts_record_no_contents_root_is_decrypted_whole_once(store, decryptions):
    """Runs written before the contents root: each data file decrypted as one stream, once over both copies."""
    archived(store)
    first, second = (store.run_dirs(dest)[0] for dest in store.destinations)
    forge_facts(store, first, lambda facts: [facts[k].pop("blocks_blake3") for k in ("snapshot", "journals")])
    for name in ("facts.json.zst.age", "manifest.json", "MANIFEST.b3", "MANIFEST.b3.minisig"):
        (second / name).write_bytes((first / name).read_bytes())  # a run is the same bytes on every copy
    outcome = deep_verify(store)
    assert [r.ok for r in outcome.reports] == [True, True]
    assert all(run.deep and run.data_read for r in outcome.reports for run in r.runs)
    assert not opened_blocks(decryptions)
    for name in ("snapshot.sqlite.blocks", "journals.tar.blocks"):
        assert sum(n for (_copy, f), n in decryptions.items() if f == name) == 1, decryptions


def test_the_contents_root_is_what_stock_tools_give_block_by_block(store):
    """FORMAT.md §11's blocks_blake3, rebuilt from each block with stock age, zstd and b3sum."""
    age, zstd, b3sum = need_tool("age"), need_tool("zstd"), need_tool("b3sum")
    archived(store)
    run = store.run_dirs(store.destinations[0])[0]
    facts = json.loads(stock_plain(run, "facts.json", store.identity))
    for kind, listing, unzip in (("snapshot", "snapshot.sqlite.blocks", f' | "{zstd}" -dcq'),
                                 ("journals", "journals.tar.blocks", "")):
        root = blake3.blake3()
        for line in (run / listing).read_text().splitlines():
            path = line[66:]
            content = subprocess.run(f'"{age}" -d -i "{store.identity}" "{path}"{unzip}', shell=True, cwd=run,
                                     capture_output=True, check=True).stdout
            digest = subprocess.run([b3sum, "--raw"], input=content, capture_output=True, check=True).stdout
            root.update(digest + len(content).to_bytes(8, "big"))
        assert facts[kind]["blocks_blake3"] == root.hexdigest(), kind
