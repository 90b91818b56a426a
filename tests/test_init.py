"""`coffre init` refuses what `coffre archive` would refuse, in one sentence with exit code 2, and writes nothing."""

from __future__ import annotations

import os
from pathlib import Path
import tomllib

import pytest

from conftest import run_coffre


def _init(tmp_path, source, *to, identity=None, extra=()):
    identity = identity or tmp_path / "off" / "id.txt"
    args = ["init", "--config", tmp_path / "etc" / "coffre.toml", "--source", source, "--identity-out", identity,
            "--store-id", "boutique", *extra]
    for d in to:
        args += ["--to", d]
    return run_coffre(*args)


def _refused(res, tmp_path, said: str, identity=None):
    assert res.code == 2, res
    assert said in res.err and "Traceback" not in res.err, res
    assert len(res.err.strip().splitlines()) == 1, res
    assert not (tmp_path / "etc").exists(), "a refused init wrote the configuration folder"
    assert not (identity or tmp_path / "off" / "id.txt").exists()


def test_tmp_path_is_the_database_disk_and_other_disk_is_not(sample_db, tmp_path, other_disk):
    # What the tests below rely on: the sample shop and tmp_path on one device, other_disk on another.
    assert os.stat(sample_db).st_dev == os.stat(tmp_path).st_dev != os.stat(other_disk).st_dev


def test_refuses_a_destination_folder_that_does_not_exist(sample_db, tmp_path, other_disk):
    missing = other_disk / "usb-not-plugged"
    res = _init(tmp_path, f"sqlite:{sample_db}", missing, extra=["--i-know"])
    _refused(res, tmp_path, f"The destination folder {missing} does not exist")
    assert not missing.exists()


def test_refuses_a_destination_on_the_database_disk_unless_allowed(sample_db, tmp_path, other_disk):
    same = tmp_path / "same-disk"
    same.mkdir()
    res = _init(tmp_path, f"sqlite:{sample_db}", other_disk, same, extra=["--i-know"])
    _refused(res, tmp_path, "is on the same disk as the till database")
    assert list(same.iterdir()) == []
    res = _init(tmp_path, f"sqlite:{sample_db}", other_disk, same, extra=["--i-know", "--allow-same-disk"])
    assert res.code == 0, res
    assert "`coffre archive` will refuse it" in res.err  # accepted at init, still said


@pytest.mark.parametrize("make, said", [
    (lambda p: p.write_text("ticket;montant\n1;12.50\n"), "is not a SQLite database"),
    (lambda p: p.write_bytes(b""), "is not a SQLite database"),
    (lambda p: None, "does not exist"),
    (lambda p: p.mkdir(), "is not a file"),
])
def test_refuses_a_source_that_is_not_a_database(tmp_path, other_disk, make, said):
    db = tmp_path / "shop" / "caisse.db"
    db.parent.mkdir()
    make(db)
    res = _init(tmp_path, f"sqlite:{db}", other_disk, identity=other_disk / "id.txt")
    _refused(res, tmp_path, said, identity=other_disk / "id.txt")


def test_refuses_a_source_that_cannot_be_read(sample_db, tmp_path, other_disk):
    source = sample_db
    if os.geteuid() == 0:  # root reads a file whatever its mode: a file whose every read fails stands for it
        source = Path("/proc/self/mem")
    else:
        sample_db.chmod(0)
    res = _init(tmp_path, f"sqlite:{source}", other_disk, identity=other_disk / "id.txt")
    _refused(res, tmp_path, "cannot be read", identity=other_disk / "id.txt")


def test_refuses_the_identity_on_the_database_disk_without_i_know(sample_db, tmp_path, other_disk):
    (other_disk / "usb").mkdir()
    res = _init(tmp_path, f"sqlite:{sample_db}", other_disk / "usb")
    _refused(res, tmp_path, "would be written on the till database's own disk")
    # On another disk (the USB key kept in the safe): no question asked.
    res = _init(tmp_path, f"sqlite:{sample_db}", other_disk / "usb", identity=other_disk / "key" / "id.txt")
    assert res.code == 0, res
    assert (other_disk / "key" / "id.txt").exists()


def test_i_know_writes_the_identity_beside_the_database(sample_db, tmp_path, other_disk):
    res = _init(tmp_path, f"sqlite:{sample_db}", other_disk, extra=["--i-know"])
    assert res.code == 0, res
    assert (tmp_path / "off" / "id.txt").exists()
    doc = tomllib.loads((tmp_path / "etc" / "coffre.toml").read_text())
    assert doc["destinations"] == [str(other_disk)] and doc["store_id"] == "boutique"


def test_help_names_the_refusals_and_an_example():
    res = run_coffre("init", "--help")
    assert res.code == 0, res
    assert "--i-know" in res.out and "--allow-same-disk" in res.out and "Example:" in res.out
