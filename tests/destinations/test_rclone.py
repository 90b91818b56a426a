"""The rclone destination against a real `rclone serve webdav` on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import subprocess
import time

import pytest

from conftest import need_tool, run_coffre


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def webdav(tmp_path, other_disk, monkeypatch):
    rclone = need_tool("rclone")
    served = other_disk / "served"
    served.mkdir()
    (served / "backups").mkdir()
    port = _free_port()
    proc = subprocess.Popen([rclone, "serve", "webdav", str(served), "--addr", f"127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail("rclone serve webdav did not start")
    monkeypatch.setenv("RCLONE_CONFIG_COFFRETEST_TYPE", "webdav")
    monkeypatch.setenv("RCLONE_CONFIG_COFFRETEST_URL", f"http://127.0.0.1:{port}/")
    yield proc, served / "backups"
    proc.kill()
    proc.wait()


def test_archive_to_a_folder_and_an_rclone_remote(sample_db, tmp_path, other_disk, webdav):
    b3sum = need_tool("b3sum")
    proc, served = webdav
    usb = other_disk / "usb"
    usb.mkdir()
    cfg = tmp_path / "etc" / "coffre.toml"
    res = run_coffre("init", "--config", cfg, "--source", f"sqlite:{sample_db}", "--to", usb,
                     "--to", "rclone:coffretest:backups", "--identity-out", tmp_path / "off" / "id.txt", "--store-id", "s1")
    assert res.code == 0, res
    res = run_coffre("archive", "--config", cfg, "--yes", "--json")
    assert res.code == 0, res
    (run,) = [p for p in (served / "s1").iterdir()]
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

    # The remote goes away: the local copy is still written and the run is partial.
    proc.kill()
    proc.wait()
    res = run_coffre("archive", "--config", cfg, "--yes", "--json")
    assert res.code == 4, res
    copies = json.loads(res.out)["copies"]
    assert copies[0]["ok"] and not copies[1]["ok"]
    assert "Traceback" not in res.err
