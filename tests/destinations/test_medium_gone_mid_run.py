"""A destination whose medium goes during a run (the USB key pulled out, its mount point left behind on the till's
disk, or its folder renamed) takes no more of the run: nothing is made anew at its path on another disk."""

from __future__ import annotations

import pytest

from pipeline.destinations.local import LocalDestination


def test_a_key_pulled_out_during_the_run_gets_nothing_written_on_the_disk_left_at_its_path(other_disk, tmp_path):
    key = other_disk / "usb"
    key.mkdir()
    dest = LocalDestination(str(key))
    dest.check_ready()
    key.rename(other_disk / "usb-elsewhere")
    with pytest.raises(FileNotFoundError, match="gone since the run started"):
        dest.start_run("shop", "20261207T120000Z-abcdef")
    assert not key.exists(), "the destination was made anew"
    # Its mount point left behind: the same path, another file system (here a link to a folder of the till's disk).
    bare = tmp_path / "mount-point-left-behind"
    bare.mkdir()
    key.symlink_to(bare)
    with pytest.raises(FileNotFoundError, match="no longer mounted there"):
        dest.start_run("shop", "20261207T120000Z-abcdef")
    with pytest.raises(FileNotFoundError, match="no longer mounted there"):
        dest._open_block_folder("shop", "ab" * 32, create=True)
    assert list(bare.iterdir()) == [], "the run wrote on the till's own disk"
    # The medium back at its place: the run's folder is made there.
    key.unlink()
    (other_disk / "usb-elsewhere").rename(key)
    dest.start_run("shop", "20261207T120000Z-abcdef")
    assert (key / "shop" / "20261207T120000Z-abcdef").is_dir()
