"""--out folders reached through a symbolic link that leads to no folder: one sentence, exit 2, nothing made or followed
(pipeline/out_folder.py; restore's own case is in test_restore.py)."""

from __future__ import annotations

import os

import pytest

from conftest import run_coffre


def _link(tmp_path, how: str):
    here = tmp_path / "here"
    here.mkdir()
    link = here / "out"
    link.symlink_to(link if how == "loops" else here / "gone")
    return here, link


@pytest.mark.parametrize("how", ["loops", "dangles"])
@pytest.mark.parametrize("command", [["journals", "export"], ["schedule", "--at", "21:00"]])
def test_a_link_to_no_folder_is_said_as_such(store, tmp_path, how, command):
    here, link = _link(tmp_path, how)
    for given in (link, link / "below"):
        res = run_coffre(*command, "--config", store.config, "--out", given)
        assert res.code == 2, res
        assert res.err.strip().splitlines() == [
            f"coffre: {link} is a symbolic link that leads to no folder (it points to {os.readlink(link)}): give a "
            "folder that exists or can be made."], res.err
        assert [p.name for p in here.iterdir()] == ["out"] and link.is_symlink()
