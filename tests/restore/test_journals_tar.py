"""journals.tar is held to FORMAT.md's list of members: anything else, or a member twice, is a damaged copy."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile

import blake3
import pytest

from conftest import need_tool

from reliability.helpers import archived_once, replace_data_file, two_copy_store

# These tests hold format 1's data files (one age file per data file in the run folder) to what they must be:
# format 1 is still read, and written when archive.store_format = 1 (tests/store/ holds format 2 to the same).
STORE_FORMAT = 1


def _age_decrypt(path, identity) -> bytes:
    return subprocess.run([need_tool("age"), "-d", "-i", str(identity), str(path)], capture_output=True,
                          check=True).stdout


def _seal(plain: bytes, recipient: str) -> tuple[bytes, bytes]:
    """(zstd stream, age file of it), made with the stock tools."""
    zst = subprocess.run([need_tool("zstd"), "-q", "-c"], input=plain, capture_output=True, check=True).stdout
    stored = subprocess.run([need_tool("age"), "-r", recipient], input=zst, capture_output=True, check=True).stdout
    return zst, stored


def journals_plain(store, run) -> bytes:
    return subprocess.run([need_tool("zstd"), "-d", "-c"], input=_age_decrypt(run / "journals.tar.zst.age", store.identity),
                          capture_output=True, check=True).stdout


def forge_journals(store, run, edit) -> None:
    """Rewrites the run's journals tar through `edit(members) -> members`, with facts.json and the signed lists
    made to agree (what only the holder of the store's signing key could do): the tar itself is what is bad."""
    with tarfile.open(fileobj=io.BytesIO(journals_plain(store, run))) as tar:
        members = [(m, tar.extractfile(m).read() if m.isfile() else None) for m in tar.getmembers()]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in edit(members):
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    forge_journals_plain(store, run, buf.getvalue())


def forge_journals_plain(store, run, new_plain: bytes) -> None:
    zst, stored = _seal(new_plain, store.recipient)
    facts_plain = subprocess.run([need_tool("zstd"), "-d", "-c"],
                                 input=_age_decrypt(run / "facts.json.zst.age", store.identity),
                                 capture_output=True, check=True).stdout
    facts = json.loads(facts_plain)
    facts["journals"].update(zst_blake3=blake3.blake3(zst).hexdigest(), zst_size=len(zst), plain_size=len(new_plain))
    _, facts_stored = _seal(json.dumps(facts).encode(), store.recipient)
    replace_data_file(store, run, "journals.tar.zst.age", stored)
    replace_data_file(store, run, "facts.json.zst.age", facts_stored)


def _twice(members):
    first = next((m, d) for m, d in members if m.name.endswith("tickets.csv"))
    return members + [first]


def _stranger(members):
    info = tarfile.TarInfo("journals/notes.txt")
    info.size = 5
    return members + [(info, b"hello")]


def _without_tickets(members):
    return [(m, d) for m, d in members if not m.name.endswith("/tickets.csv")]


def _sparse(store, run, tmp_path, fmt: str) -> bytes:
    """The journals re-made by the stock GNU tar with tickets.csv a sparse file declaring 1 GiB in a few blocks (in
    the GNU format a member of its own type; in the pax format a regular member with sparse pax records)."""
    folder = tmp_path / "sparse"
    with tarfile.open(fileobj=io.BytesIO(journals_plain(store, run))) as tar:
        tar.extractall(folder, filter="data")
    tickets = folder / "journals" / "tickets.csv"
    with open(tickets, "r+b") as f:
        f.truncate(1 << 30)
    names = sorted(f"journals/{p.name}" for p in (folder / "journals").iterdir())  # files only, as Coffre writes
    return subprocess.run([need_tool("tar"), "--sparse", f"--format={fmt}", "-cf", "-", "-C", str(folder), *names],
                          capture_output=True, check=True).stdout


def _members_end(plain: bytes) -> int:
    with tarfile.open(fileobj=io.BytesIO(plain)) as tar:
        tar.getmembers()
        return tar.offset


def _junk_then_a_second_tickets(plain: bytes) -> bytes:
    """After the real members, a block tarfile cannot parse, then a second tickets.csv: tarfile stops at the junk,
    stock `tar x` skips it and unpacks the second tickets.csv over the first."""
    end = _members_end(plain)
    evil = io.BytesIO()
    with tarfile.open(fileobj=evil, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("journals/tickets.csv")
        info.size = 6
        tar.addfile(info, io.BytesIO(b"forged"))
    return plain[:end] + b"\x01" * 512 + evil.getvalue()


def _junk_after_the_end(plain: bytes) -> bytes:
    return plain + b"junk" * 128


def _no_end_blocks(plain: bytes) -> bytes:
    return plain[:_members_end(plain)]


CASES = [pytest.param(_twice, "twice", id="a member twice"),
         pytest.param(("bytes", _junk_then_a_second_tickets), "data after its last member",
                      id="junk then a second tickets.csv"),
         pytest.param(("bytes", _junk_after_the_end), "data after its last member", id="junk after the end"),
         pytest.param(("bytes", _no_end_blocks), "without its end-of-archive blocks", id="no end blocks"),
         pytest.param(_stranger, "notes.txt", id="a member not in FORMAT.md"),
         pytest.param(_without_tickets, "lacks tickets.csv", id="a journal missing"),
         pytest.param("gnu", "tickets.csv", id="a sparse member declaring 1 GiB, GNU format"),
         pytest.param("pax", "tickets.csv", id="a sparse member declaring 1 GiB, pax format")]


@pytest.mark.parametrize("edit, said", CASES)
def test_a_journals_tar_out_of_format_is_a_damaged_copy_and_the_other_copy_is_restored(tmp_path, edit, said):
    """restore --journals refuses copy A and takes copy B; the drill, which walks the tar as it streams, fails copy
    A for the same reason (a drill that passes means the journals restore)."""
    with two_copy_store(tmp_path, days=1, tickets_per_day=20, seed=8) as store:
        run = archived_once(store)
        if isinstance(edit, str):
            forge_journals_plain(store, run, _sparse(store, run, tmp_path, edit))
        elif isinstance(edit, tuple):
            forge_journals_plain(store, run, edit[1](journals_plain(store, run)))
        else:
            forge_journals(store, run, edit)
        out = tmp_path / "only-a"
        res = store.coffre("restore", *store.identity_args(), "--journals", "--out", out, "--from", store.destinations[0])
        assert res.code == 1 and said in res.err and "Traceback" not in res.err, res
        assert not out.exists() or list(out.iterdir()) == []
        out = tmp_path / "both"
        res = store.coffre("restore", *store.identity_args(), "--journals", "--out", out)
        assert res.code == 0 and said in res.err, res
        got = sorted(p.name for p in (out / "journals").iterdir())
        assert got.count("tickets.csv") == 1 and "notes.txt" not in got
        assert (out / "journals" / "tickets.csv").stat().st_size < 1 << 20
        res = store.coffre("drill", *store.identity_args(), "--json")
        assert res.code == 1, res
        a, b = json.loads(res.out)["copies"]
        assert not a["ok"] and said in a["problem"] and b["ok"], (a, b)
