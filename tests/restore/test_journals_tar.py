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


def _age_decrypt(path, identity) -> bytes:
    return subprocess.run([need_tool("age"), "-d", "-i", str(identity), str(path)], capture_output=True,
                          check=True).stdout


def _seal(plain: bytes, recipient: str) -> tuple[bytes, bytes]:
    """(zstd stream, age file of it), made with the stock tools."""
    zst = subprocess.run([need_tool("zstd"), "-q", "-c"], input=plain, capture_output=True, check=True).stdout
    stored = subprocess.run([need_tool("age"), "-r", recipient], input=zst, capture_output=True, check=True).stdout
    return zst, stored


def forge_journals(store, run, edit) -> None:
    """Rewrites the run's journals tar through `edit(members) -> members`, with facts.json and the signed lists
    made to agree (what only the holder of the store's signing key could do): the tar itself is what is bad."""
    plain = subprocess.run([need_tool("zstd"), "-d", "-c"], input=_age_decrypt(run / "journals.tar.zst.age", store.identity),
                           capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(plain)) as tar:
        members = [(m, tar.extractfile(m).read() if m.isfile() else None) for m in tar.getmembers()]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in edit(members):
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    new_plain = buf.getvalue()
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


@pytest.mark.parametrize("edit, said", [(_twice, "twice"), (_stranger, "notes.txt")], ids=["a member twice", "a member not in FORMAT.md"])
def test_a_journals_tar_out_of_format_is_a_damaged_copy_and_the_other_copy_is_restored(tmp_path, edit, said):
    with two_copy_store(tmp_path, days=1, tickets_per_day=20, seed=8) as store:
        run = archived_once(store)
        forge_journals(store, run, edit)
        out = tmp_path / "only-a"
        res = store.coffre("restore", *store.identity_args(), "--journals", "--out", out, "--from", store.destinations[0])
        assert res.code == 1 and said in res.err and "Traceback" not in res.err, res
        assert not out.exists() or list(out.iterdir()) == []
        out = tmp_path / "both"
        res = store.coffre("restore", *store.identity_args(), "--journals", "--out", out)
        assert res.code == 0 and said in res.err, res
        assert sorted(p.name for p in (out / "journals").iterdir()).count("tickets.csv") == 1
        assert not (out / "journals" / "notes.txt").exists()
