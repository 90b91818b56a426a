"""The rclone destination against a real `rclone serve webdav` on 127.0.0.1."""

from __future__ import annotations

import json
import subprocess

import pytest

from conftest import need_tool, run_coffre
from reliability.helpers import free_port, rclone_webdav


@pytest.fixture
def webdav(tmp_path, other_disk, monkeypatch):
    served = other_disk / "served"
    served.mkdir()
    (served / "backups").mkdir()
    with rclone_webdav(served) as (proc, env):
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        yield proc, served / "backups"


def test_archive_to_a_folder_and_an_rclone_remote(sample_db, tmp_path, other_disk, webdav):
    b3sum = need_tool("b3sum")
    proc, served = webdav
    usb = other_disk / "usb"
    usb.mkdir()
    cfg = tmp_path / "etc" / "coffre.toml"
    res = run_coffre("init", "--config", cfg, "--source", f"sqlite:{sample_db}", "--to", usb,
                     "--to", "rclone:coffretest:backups", "--i-know", "--identity-out", tmp_path / "off" / "id.txt", "--store-id", "s1")
    assert res.code == 0, res
    res = run_coffre("archive", "--config", cfg, "--yes", "--json")
    assert res.code == 0, res
    (run,) = [p for p in (served / "s1").iterdir() if p.name != "blocks"]
    assert subprocess.run([b3sum, "--check", "MANIFEST.b3"], cwd=run, capture_output=True).returncode == 0
    assert (run / "MANIFEST.b3").read_bytes() == (usb / "s1" / run.name / "MANIFEST.b3").read_bytes()
    assert not [p for p in run.iterdir() if p.name.startswith(".tmp-")]
    res = run_coffre("verify", "--config", cfg)
    assert res.code == 0, res

    # Damage the remote copy: verify reads it through rclone and names the file.
    target = run / "facts.json.zst.age"
    target.write_bytes(target.read_bytes()[:-1])
    res = run_coffre("verify", "--config", cfg, "--from", "rclone:coffretest:backups")
    assert res.code == 1 and "facts.json.zst.age" in res.err, res
    # A shared block of the remote copy (format 2), damaged: read through rclone, named with its run.
    assert subprocess.run([b3sum, "--check", "snapshot.sqlite.blocks"], cwd=run, capture_output=True).returncode == 0
    block = (run / "snapshot.sqlite.blocks").read_text().splitlines()[0].rsplit("/", 1)[1]
    hit = served / "s1" / "blocks" / block[:2] / block
    good = hit.read_bytes()
    hit.write_bytes(good[:-1])
    res = run_coffre("verify", "--config", cfg, "--from", "rclone:coffretest:backups")
    assert res.code == 1 and block in res.err and run.name in res.err, res
    res = run_coffre("repair", "--config", cfg)
    assert res.code == 0 and block in res.err, res  # healed from the folder copy
    assert hit.read_bytes() == good
    hit.unlink()  # an object lost on the remote: the likeliest damage of an off-site copy
    res = run_coffre("repair", "--config", cfg)
    assert res.code == 0 and block in res.err, res
    assert hit.read_bytes() == good and not list(hit.parent.glob(".tmp-*"))

    # The remote goes away: the local copy is still written and the run is partial.
    proc.kill()
    proc.wait()
    res = run_coffre("archive", "--config", cfg, "--yes", "--json")
    assert res.code == 4, res
    copies = json.loads(res.out)["copies"]
    assert copies[0]["ok"] and not copies[1]["ok"]
    assert "Traceback" not in res.err


def _init_with_usb_and(remote: str, sample_db, tmp_path, other_disk):
    usb = other_disk / "usb"
    usb.mkdir()
    cfg = tmp_path / "etc" / "coffre.toml"
    res = run_coffre("init", "--config", cfg, "--source", f"sqlite:{sample_db}", "--to", usb, "--to", remote,
                     "--i-know", "--identity-out", tmp_path / "off" / "id.txt", "--store-id", "s1")
    assert res.code == 0, res
    return cfg, usb


def test_a_missing_remote_folder_is_named_with_the_command_that_creates_it(sample_db, tmp_path, other_disk, webdav):
    _, served = webdav
    cfg, usb = _init_with_usb_and("rclone:coffretest:backups/nothere", sample_db, tmp_path, other_disk)
    res = run_coffre("archive", "--config", cfg, "--yes", "--json")
    assert res.code == 4, res  # the folder copy is still written
    copies = json.loads(res.out)["copies"]
    assert copies[0]["ok"] and not copies[1]["ok"], copies
    said = ("The destination rclone:coffretest:backups/nothere does not exist on the remote: "
            "create it with `rclone mkdir coffretest:backups/nothere`.")
    assert copies[1]["reason"] == said
    assert said in res.err and "cannot be reached" not in res.err, res
    assert not (served / "nothere").exists()  # never created behind the person's back
    assert len([p for p in (usb / "s1").iterdir() if p.name != "blocks"]) == 1


def test_an_unreachable_remote_is_still_said_to_be_unreachable(sample_db, tmp_path, other_disk, monkeypatch):
    need_tool("rclone")
    monkeypatch.setenv("RCLONE_CONFIG_COFFRECLOSED_TYPE", "webdav")
    monkeypatch.setenv("RCLONE_CONFIG_COFFRECLOSED_URL", f"http://127.0.0.1:{free_port()}/")  # nobody listens
    cfg, usb = _init_with_usb_and("rclone:coffreclosed:backups", sample_db, tmp_path, other_disk)
    res = run_coffre("archive", "--config", cfg, "--yes", "--json")
    assert res.code == 4, res
    reason = json.loads(res.out)["copies"][1]["reason"]
    assert reason.startswith("The destination rclone:coffreclosed:backups cannot be reached ("), reason
    assert "does not exist" not in res.err, res
