"""restore and drill: the data comes back identical, or the command says why in one sentence."""

from __future__ import annotations

import json
import subprocess

import pytest

from conftest import need_tool, run_coffre

# These tests hold format 1's data files (one age file per data file in the run folder) to what they must be:
# format 1 is still read, and written when archive.store_format = 1 (tests/store/ holds format 2 to the same).
STORE_FORMAT = 1


@pytest.fixture
def archived(store):
    for _ in range(2):
        assert run_coffre("archive", "--config", store.config, "--yes").code == 0
    return store


def dump(db) -> str:
    sqlite3 = need_tool("sqlite3")
    return subprocess.run([sqlite3, str(db), ".dump"], capture_output=True, text=True, check=True).stdout


def test_restore_gives_the_same_database(archived, tmp_path):
    out = tmp_path / "restored"
    res = run_coffre("restore", "--config", archived.config, "--identity", archived.identity, "--out", out)
    assert res.code == 0, res
    assert dump(out / "snapshot.sqlite") == dump(archived.db)
    facts = json.loads((out / "facts.json").read_text())
    assert facts["run_id"] == archived.run_dirs(archived.destinations[0])[-1].name
    # The database is what a merchant needs back: the journals are authenticated, not unpacked.
    assert sorted(p.name for p in out.iterdir()) == ["facts.json", "snapshot.sqlite"]
    assert "--journals" in res.err


def stock_journals(store, run, into) -> None:
    """The journals of `run` unpacked by the stock tools alone: age -d | zstd -d | tar x."""
    age, zstd, tar = need_tool("age"), need_tool("zstd"), need_tool("tar")
    into.mkdir()
    subprocess.run(f'"{age}" -d -i "{store.identity}" "{run / "journals.tar.zst.age"}" | "{zstd}" -d -q '
                   f'| "{tar}" -x -C "{into}"', shell=True, check=True)


def test_restore_with_journals_extracts_what_the_stock_tools_extract(archived, tmp_path):
    out = tmp_path / "restored"
    res = run_coffre("restore", "--config", archived.config, "--identity", archived.identity, "--out", out,
                     "--journals")
    assert res.code == 0, res
    assert sorted(p.name for p in out.iterdir()) == ["facts.json", "journals", "snapshot.sqlite"]
    assert dump(out / "snapshot.sqlite") == dump(archived.db)
    stock_journals(archived, archived.run_dirs(archived.destinations[0])[-1], tmp_path / "stock")
    expected = {p.name: p.read_bytes() for p in (tmp_path / "stock" / "journals").iterdir()}
    got = {p.name: p.read_bytes() for p in (out / "journals").iterdir()}
    assert got == expected and "tickets.csv" in got and "LISEZMOI.txt" in got
    assert not [p for p in out.iterdir() if p.name.startswith(".coffre-partial-")]


def test_a_damaged_journals_file_is_still_found_by_a_plain_restore(archived, tmp_path):
    """Not unpacked is not unchecked: the journals file's BLAKE3 is held to the signed list, so a copy with
    damaged journals is passed over even when only the database is restored."""
    run = archived.run_dirs(archived.destinations[0])[-1]
    f = run / "journals.tar.zst.age"
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 0x08
    f.write_bytes(bytes(data))
    out = tmp_path / "restored"
    res = run_coffre("restore", "--config", archived.config, "--identity", archived.identity, "--out", out)
    assert res.code == 0, res
    assert "journals.tar.zst.age" in res.err and str(archived.destinations[1]) in res.err
    assert dump(out / "snapshot.sqlite") == dump(archived.db)
    for dest in archived.destinations[1:]:
        g = archived.run_dirs(dest)[-1] / "journals.tar.zst.age"
        g.write_bytes(g.read_bytes()[:-50])
    res = run_coffre("restore", "--config", archived.config, "--identity", archived.identity,
                     "--out", tmp_path / "again")
    assert res.code == 1 and "journals.tar.zst.age" in res.err and "Traceback" not in res.err, res
    assert not (tmp_path / "again").exists() or list((tmp_path / "again").iterdir()) == []


def test_restore_takes_the_next_copy_when_the_first_is_damaged(archived, tmp_path):
    run = archived.run_dirs(archived.destinations[0])[-1]
    f = run / "snapshot.sqlite.zst.age"
    f.write_bytes(f.read_bytes()[:-100])
    out = tmp_path / "restored"
    res = run_coffre("restore", "--config", archived.config, "--identity", archived.identity, "--out", out)
    assert res.code == 0, res
    assert str(archived.destinations[1]) in res.err
    assert dump(out / "snapshot.sqlite") == dump(archived.db)


def test_restore_with_every_copy_damaged_writes_nothing(archived, tmp_path):
    for dest in archived.destinations:
        run = archived.run_dirs(dest)[-1]
        f = run / "snapshot.sqlite.zst.age"
        data = bytearray(f.read_bytes())
        data[-200] ^= 1
        f.write_bytes(bytes(data))
    out = tmp_path / "restored"
    res = run_coffre("restore", "--config", archived.config, "--identity", archived.identity, "--out", out)
    assert res.code == 1, res
    assert "snapshot.sqlite.zst.age" in res.err and "Traceback" not in res.err
    assert not out.exists() or list(out.iterdir()) == []


def test_damage_found_only_by_decryption_is_never_published(archived, tmp_path):
    """A copy whose hash list was forged consistently still fails age's authentication: nothing published."""
    from pipeline.unpack.stream import Limits, UnpackError, unpack
    from pipeline.keys.age_identity import load_identities

    run = archived.run_dirs(archived.destinations[0])[-1]
    data = bytearray((run / "snapshot.sqlite.zst.age").read_bytes())
    data[len(data) // 2] ^= 1
    import io
    with pytest.raises(UnpackError):
        unpack(io.BytesIO(bytes(data)), load_identities(archived.identity), io.BytesIO(), limits=Limits(len(data)))


def test_unpack_hashes_the_compressed_stream_as_it_flows(archived):
    """zst_blake3 is the BLAKE3 of the age plaintext (the zstd stream), taken in the same pass; without
    decompressing, only that and the stored hash are given."""
    import io

    import blake3
    import pyrage

    from pipeline.keys.age_identity import load_identities
    from pipeline.unpack.stream import Limits, unpack

    ids = load_identities(archived.identity)
    f = archived.run_dirs(archived.destinations[0])[-1] / "journals.tar.zst.age"
    stored = f.read_bytes()
    zst = pyrage.decrypt(stored, ids)
    full = unpack(io.BytesIO(stored), ids, io.BytesIO(), limits=Limits(len(stored)))
    assert full.zst_blake3 == blake3.blake3(zst).hexdigest() and full.zst_size == len(zst)
    assert full.stored_blake3 == blake3.blake3(stored).hexdigest() and full.plain_size > len(zst)
    only = unpack(io.BytesIO(stored), ids, None, decompress=False, limits=Limits(len(stored)))
    assert (only.zst_blake3, only.stored_blake3, only.plain_blake3, only.plain_size) == \
        (full.zst_blake3, full.stored_blake3, None, None)


def test_restore_into_the_live_database_folder_is_refused(archived):
    res = run_coffre("restore", "--config", archived.config, "--identity", archived.identity, "--out", archived.db.parent)
    assert res.code == 2, res
    assert "live database" in res.err and len(res.err.strip().splitlines()) == 1
    assert sorted(p.name for p in archived.db.parent.iterdir() if not p.name.startswith("caisse.db")) == []


def test_restore_never_overwrites(archived, tmp_path):
    out = tmp_path / "restored"
    out.mkdir()
    (out / "snapshot.sqlite").write_text("precious")
    res = run_coffre("restore", "--config", archived.config, "--identity", archived.identity, "--out", out)
    assert res.code == 2 and "already exists" in res.err, res
    assert (out / "snapshot.sqlite").read_text() == "precious"


def test_restore_into_a_folder_another_coffre_command_writes_into_is_one_sentence(archived, tmp_path):
    import fcntl
    import os

    out = tmp_path / "controle"
    out.mkdir()
    (out / "audit.zip.coffre-partial").write_bytes(b"half a package")  # what export-auditor is writing there
    fd = os.open(out, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as export-auditor holds its folder (state/folder_lock.py)
        res = run_coffre("restore", "--config", archived.config, "--identity", archived.identity, "--out", out)
        fr = run_coffre("restore", "--config", archived.config, "--identity", archived.identity, "--out", out,
                        env={"LANG": "fr_FR.UTF-8"})
    finally:
        os.close(fd)
    assert res.code == 3, res
    assert res.err.strip() == (f"coffre: Another Coffre command is writing into {out}; wait for it to end, or choose "
                               "another folder."), res.err
    assert fr.code == 3 and f"Une autre commande de Coffre écrit dans {out}" in fr.err, fr
    assert sorted(p.name for p in out.iterdir()) == ["audit.zip.coffre-partial"]  # nothing taken, nothing written
    res = run_coffre("restore", "--config", archived.config, "--identity", archived.identity, "--out", out)
    assert res.code == 0, res  # the other command gone, its folder restores


def test_restore_into_a_symlink_loop_is_one_sentence(archived, tmp_path):
    """Path.resolve() raises RuntimeError on a loop (Python 3.11): it was an internal error."""
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    res = run_coffre("restore", "--config", archived.config, "--identity", archived.identity, "--out",
                     tmp_path / "a" / "restored")
    assert res.code == 2, res  # said before anything is made (it was exit 3, the system's "too many levels of links")
    assert res.err.strip().splitlines() == [
        f"coffre: {tmp_path / 'a'} is a symbolic link that leads to no folder (it points to {tmp_path / 'b'}): give a "
        "folder that exists or can be made."]


@pytest.mark.parametrize("points_to", ["itself", "nothing", "nothing, from a parent"])
def test_restore_into_a_link_that_leads_to_no_folder_says_so(archived, tmp_path, points_to):
    """--out a symbolic link that loops or dangles, or a folder under one, was "a system error ...: it already exists"
    (one to a file is refused by the option itself, as a file is)."""
    here = tmp_path / "here"
    here.mkdir()
    out = here / "out"
    target = {"itself": out, "nothing": here / "gone", "nothing, from a parent": here / "gone"}[points_to]
    out.symlink_to(target)
    given = out / "restored" / "today" if points_to == "nothing, from a parent" else out
    for language, said in (("en", f"coffre: {out} is a symbolic link that leads to no folder (it points to {target}): "
                                  "give a folder that exists or can be made."),
                           ("fr", f"coffre : {out} est un lien symbolique qui ne mène à aucun dossier (il pointe vers "
                                  f"{target}) : indiquez un dossier qui existe ou qui peut être créé.")):
        res = run_coffre("restore", "--config", archived.config, "--identity", archived.identity, "--out", given,
                         env={"LANGUAGE": language})
        assert res.code == 2, res
        assert res.err.strip().splitlines() == [said], res.err
    assert out.is_symlink() and [p.name for p in here.iterdir()] == ["out"]  # nothing made, nothing followed


def test_restore_into_a_path_too_long_for_sqlite_says_so_and_blames_no_copy(archived, tmp_path):
    """SQLite opens no database whose path passes 504 bytes: that was said to be every copy's damage."""
    out = tmp_path.joinpath(*["d" * 200] * 3)
    res = run_coffre("restore", "--config", archived.config, "--identity", archived.identity, "--out", out)
    assert res.code == 3, res
    lines = res.err.strip().splitlines()
    assert lines[-1].startswith(f"coffre: SQLite cannot open a database restored into {out}: that folder's path is "
                                f"{len(str(out))} bytes long, and SQLite opens one only within 472;"), res.err
    assert lines[-1].endswith("restore into a folder with a shorter path."), res.err
    assert "damaged" not in res.err, res.err
    assert not out.exists()
    res = run_coffre("restore", "--config", archived.config, "--identity", archived.identity, "--out", out,
                     env={"LANG": "fr_FR.UTF-8"})
    assert res.code == 3 and "restaurez dans un dossier au chemin plus court" in res.err, res


def test_a_drill_whose_scratch_folder_is_too_long_for_sqlite_stops_and_blames_no_copy(archived, tmp_path):
    import tomllib

    import tomli_w

    scratch = tmp_path.joinpath(*["s" * 200] * 3)
    scratch.mkdir(parents=True)
    doc = tomllib.loads(archived.config.read_text())
    doc.setdefault("archive", {})["scratch_dir"] = str(scratch)
    archived.config.write_text(tomli_w.dumps(doc))
    res = run_coffre("drill", "--config", archived.config, "--identity", archived.identity)
    assert res.code == 3, res
    said = res.err.strip().splitlines()[-1]
    assert said.startswith(f"coffre: The drill's scratch folder {scratch} has a path of {len(str(scratch))} bytes,"), said
    assert said.endswith("set a shorter [archive] scratch_dir."), said
    most = int(said.rsplit("(", 1)[1].split(" ")[0])
    assert 400 < most < len(str(scratch)), said  # the most the setting itself may have
    assert "FAIL" not in res.out + res.err, res
    import json

    record = json.loads((archived.config.parent / "coffre-state" / "boutique.history.json").read_text())
    assert [c for c in record.get("checks", []) if c["kind"] == "drill"] == []  # nothing recorded against the copies
    assert list(scratch.iterdir()) == []


def test_a_drill_in_a_temporary_folder_too_long_for_sqlite_names_the_setting_to_make(archived, tmp_path):
    """No scratch_dir: the drill works in the system's temporary folder (TMPDIR), which the sentence names."""
    tmp = tmp_path.joinpath(*["t" * 200] * 3)
    tmp.mkdir(parents=True)
    res = run_coffre("drill", "--config", archived.config, "--identity", archived.identity, env={"TMPDIR": str(tmp)})
    assert res.code == 3, res
    said = res.err.strip().splitlines()[-1]
    assert said.startswith(f"coffre: The drill's scratch folder {tmp}, the system's temporary folder, has a path of "
                           f"{len(str(tmp))} bytes,"), said
    assert said.endswith("set [archive] scratch_dir to a shorter folder."), said


def test_restore_with_a_wrong_identity_is_one_sentence(archived, tmp_path):
    age_keygen = need_tool("age-keygen")
    other = tmp_path / "other.txt"
    subprocess.run([age_keygen, "-o", str(other)], check=True, capture_output=True)
    res = run_coffre("restore", "--config", archived.config, "--identity", other, "--out", tmp_path / "r")
    assert res.code == 2, res
    assert "matches none of the recipients" in res.err and len(res.err.strip().splitlines()) == 1
    (tmp_path / "garbage.txt").write_text("not a key\n")
    res = run_coffre("restore", "--config", archived.config, "--identity", tmp_path / "garbage.txt", "--out", tmp_path / "r")
    assert res.code == 2 and "no age identity" in res.err, res


def test_restore_with_the_usb_key_missing(archived, tmp_path):
    import shutil

    for d in archived.destinations:
        shutil.rmtree(d)
    res = run_coffre("restore", "--config", archived.config, "--identity", archived.identity, "--out", tmp_path / "r")
    assert res.code == 3 and "missing" in res.err, res


def test_restore_with_the_integrity_check(archived, tmp_path):
    res = run_coffre("restore", "--config", archived.config, "--identity", archived.identity,
                     "--out", tmp_path / "r", "--integrity-check")
    assert res.code == 0, res
    assert "integrity_check ok" in res.err
    assert dump(tmp_path / "r" / "snapshot.sqlite") == dump(archived.db)


def test_restore_of_a_chosen_run(archived, tmp_path):
    first = archived.run_dirs(archived.destinations[1])[0].name
    res = run_coffre("restore", "--config", archived.config, "--identity", archived.identity, "--out", tmp_path / "r",
                     "--run", first, "--from", archived.destinations[1])
    assert res.code == 0, res
    assert json.loads((tmp_path / "r" / "facts.json").read_text())["run_id"] == first


def test_drill_passes_on_good_copies_and_names_the_damaged_one(archived):
    res = run_coffre("drill", "--config", archived.config, "--identity", archived.identity, "--json")
    assert res.code == 0, res
    report = json.loads(res.out)
    assert [c["ok"] for c in report["copies"]] == [True, True]
    assert all(c["seconds"] >= 0 and c["rows"] > 0 for c in report["copies"])
    status = json.loads(run_coffre("status", "--config", archived.config, "--json").out)
    assert all(d["last_drill"]["ok"] for d in status["destinations"])

    run = archived.run_dirs(archived.destinations[1])[-1]
    (run / "facts.json.zst.age").unlink()
    res = run_coffre("drill", "--config", archived.config, "--identity", archived.identity, "--json")
    assert res.code == 1, res
    report = json.loads(res.out)
    bad = [c for c in report["copies"] if not c["ok"]]
    assert [c["destination"] for c in bad] == [str(archived.destinations[1])]
    assert "facts.json.zst.age" in bad[0]["problem"]
    status = run_coffre("status", "--config", archived.config)
    assert status.code == 1 and "drill" in status.out
    # the scratch folders are gone
    import glob, tempfile
    assert not glob.glob(f"{tempfile.gettempdir()}/coffre-drill-*")
