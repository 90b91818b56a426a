"""`--scheduled`: silent when all is well, the messages printed when not, every message in syslog or the journal."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from pathlib import Path

import pytest

from conftest import run_coffre


@pytest.fixture
def syslog():
    """A unix datagram socket bound where COFFRE_SYSLOG_SOCKET points, as syslogd binds /dev/log."""
    folder = Path(tempfile.mkdtemp(prefix="coffre-log-"))  # short: a socket path holds at most 107 bytes
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(folder / "log"))
    sock.setblocking(False)

    def received() -> list[str]:
        out = []
        while True:
            try:
                out.append(sock.recv(65536).decode("utf-8"))
            except BlockingIOError:
                return out

    received.env = {"COFFRE_SYSLOG_SOCKET": str(folder / "log"), "JOURNAL_STREAM": ""}
    yield received
    sock.close()
    shutil.rmtree(folder)


def test_a_clean_scheduled_archive_prints_nothing_and_logs_to_syslog(store, syslog):
    res = run_coffre("archive", "--config", store.config, "--scheduled", env=syslog.env)
    assert (res.code, res.out, res.err) == (0, "", ""), res
    logged = syslog()
    # <14>: facility user (1) x 8 + info (6); the ident names coffre and its process.
    assert any(m.startswith("<14>coffre[") and "Every copy was written" in m for m in logged), logged
    assert all("coffre" in m for m in logged)


def test_a_failing_scheduled_archive_prints_its_messages_and_logs_them_as_warnings_and_errors(store, syslog):
    shutil.rmtree(store.destinations[1])
    res = run_coffre("archive", "--config", store.config, "--scheduled", env=syslog.env)
    assert res.code == 4, res
    assert "Only some copies were written" in res.err and "FAILED" in res.err and res.out == ""
    assert any(m.startswith("<12>coffre[") and "FAILED" in m for m in syslog())  # user x 8 + warning (4)

    shutil.rmtree(store.destinations[0])
    res = run_coffre("archive", "--config", store.config, "--scheduled", "--json", env=syslog.env)
    assert res.code == 3, res
    assert "coffre: No destination can be written" in res.err and '"error"' in res.out
    assert any(m.startswith("<11>coffre[") and "No destination can be written" in m for m in syslog())  # error (3)
    assert "Traceback" not in res.err


def test_under_systemd_every_line_carries_its_priority_and_nothing_is_held_back(store):
    env = {"JOURNAL_STREAM": "8:12345"}
    res = run_coffre("archive", "--config", store.config, "--scheduled", env=env)
    assert res.code == 0, res
    lines = res.err.splitlines()
    assert lines and all(line[:3] in ("<3>", "<4>", "<6>") for line in lines), res
    assert "<6>Every copy was written, read back and checked." in lines

    shutil.rmtree(store.destinations[1])
    res = run_coffre("archive", "--config", store.config, "--scheduled", env=env)
    assert res.code == 4, res
    assert any(line.startswith("<4>  FAILED") for line in res.err.splitlines()), res
    shutil.rmtree(store.destinations[0])
    res = run_coffre("archive", "--config", store.config, "--scheduled", env=env)
    assert res.code == 3 and "<3>coffre: No destination can be written" in res.err, res


@pytest.mark.parametrize("where", ["missing", "not a socket"])
def test_no_syslog_is_no_error(store, tmp_path, where):
    path = tmp_path / "log"
    if where == "not a socket":
        path.write_text("")
    res = run_coffre("archive", "--config", store.config, "--scheduled",
                     env={"COFFRE_SYSLOG_SOCKET": str(path), "JOURNAL_STREAM": ""})
    assert (res.code, res.out, res.err) == (0, "", ""), res


def test_scheduled_verify_and_drill_are_silent_when_all_is_well(store, syslog):
    assert run_coffre("archive", "--config", store.config, "--yes").code == 0
    res = run_coffre("verify", "--config", store.config, "--scheduled", "--json", env=syslog.env)
    assert (res.code, res.out, res.err) == (0, "", ""), res
    res = run_coffre("drill", "--config", store.config, "--identity", store.identity, "--scheduled", env=syslog.env)
    assert (res.code, res.out, res.err) == (0, "", ""), res
    assert any("PASS" in m for m in syslog())
    os.rename(store.destinations[0], store.destinations[0].with_name("elsewhere"))
    res = run_coffre("verify", "--config", store.config, "--scheduled", env=syslog.env)
    assert res.code == 1 and "MISSING" in res.err, res
