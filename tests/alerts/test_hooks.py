"""The config's [hooks] run as a command ends: a recording hook command and a real HTTP server see every event."""

from __future__ import annotations

import json
import shutil
import socket
import sqlite3
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
import tomli_w

from conftest import run_coffre
from reliability.helpers import tmpfs

RECORDER = """#!{python}
import json, os, sys
with open({calls!r}, "a", encoding="utf-8") as f:
    f.write(json.dumps({{"argv": sys.argv[1:], "stdin": sys.stdin.read(),
                        "env": {{k: v for k, v in os.environ.items() if k.startswith("COFFRE_")}}}}) + "\\n")
"""


@pytest.fixture
def recorder(tmp_path):
    """A hook command that appends its arguments, COFFRE_* environment and standard input to a file."""
    calls = tmp_path / "calls.jsonl"
    script = tmp_path / "record-hook"
    script.write_text(RECORDER.format(python=sys.executable, calls=str(calls)))
    script.chmod(0o755)

    def read() -> list[dict]:
        if not calls.exists():
            return []
        return [json.loads(line) for line in calls.read_text(encoding="utf-8").splitlines()]

    read.script = str(script)
    return read


class _Pings(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.pings.append((self.path, json.loads(body or b"{}")))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"OK")

    def log_message(self, *args):
        pass


@pytest.fixture
def pings():
    """A monitoring service on loopback (an ephemeral port) that records every ping: (path, JSON body)."""
    server = HTTPServer(("127.0.0.1", 0), _Pings)
    server.pings = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.url = f"http://127.0.0.1:{server.server_address[1]}/uuid"
    yield server
    server.shutdown()
    server.server_close()


def with_hooks(store, **hooks) -> None:
    store.config.write_text(store.config.read_text() + "\n" + tomli_w.dumps({"hooks": hooks}))


def every_event(recorder) -> dict:
    return {f"on_{e}": [recorder.script, e] for e in ("success", "failure", "findings")}


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_clean_archive_runs_on_success_with_its_json_summary_and_pings_start_then_the_url(store, recorder, pings):
    with_hooks(store, **every_event(recorder), ping_url=pings.url, ping_start=True)
    res = run_coffre("archive", "--config", store.config, "--yes", "--json")
    assert res.code == 0, res
    printed = json.loads(res.out)
    (call,) = recorder()
    assert call["argv"] == ["success"]
    summary = json.loads(call["stdin"])
    assert summary == dict(printed, command="archive", event="success")
    assert call["env"] == {"COFFRE_EVENT": "success", "COFFRE_COMMAND": "archive", "COFFRE_EXIT_CODE": "0",
                           "COFFRE_STORE_ID": "boutique", "COFFRE_RUN_ID": printed["run_id"]}
    assert [p for p, _ in pings.pings] == ["/uuid/start", "/uuid"]
    assert pings.pings[0][1]["command"] == "archive"
    assert pings.pings[1][1]["run_id"] == printed["run_id"] and pings.pings[1][1]["event"] == "success"
    assert "hook" not in res.err and "ping" not in res.err, res.err  # no hook nor ping failed


def test_a_missing_destination_is_a_failure_and_all_missing_carries_the_error(store, recorder, pings):
    with_hooks(store, **every_event(recorder), ping_url=pings.url)
    shutil.rmtree(store.destinations[1])  # the USB key not plugged in
    res = run_coffre("archive", "--config", store.config, "--yes")
    assert res.code == 4, res
    (call,) = recorder()
    assert call["argv"] == ["failure"] and call["env"]["COFFRE_EXIT_CODE"] == "4"
    summary = json.loads(call["stdin"])
    assert summary["run_id"] == call["env"]["COFFRE_RUN_ID"]
    assert [c["ok"] for c in summary["copies"]] == [True, False]
    assert pings.pings[-1][0] == "/uuid/fail" and pings.pings[-1][1]["exit_code"] == 4

    shutil.rmtree(store.destinations[0])
    res = run_coffre("archive", "--config", store.config, "--yes")
    assert res.code == 3, res
    call = recorder()[-1]
    assert call["argv"] == ["failure"] and call["env"]["COFFRE_EXIT_CODE"] == "3"
    assert "COFFRE_RUN_ID" not in call["env"]
    summary = json.loads(call["stdin"])
    assert summary["run_id"] is None and "No destination can be written" in summary["error"]
    path, body = pings.pings[-1]
    assert path == "/uuid/fail" and body["error"] == summary["error"] and body["event"] == "failure"


def test_findings_in_the_fiscal_journals_run_on_findings_and_ping_fail(store, recorder, pings):
    with_hooks(store, **every_event(recorder), ping_url=pings.url)
    conn = sqlite3.connect(store.db)
    conn.execute("UPDATE ticket_lines SET quantity = quantity + 1 WHERE id = 10")  # a ticket altered after its signature
    conn.commit()
    conn.close()
    res = run_coffre("archive", "--config", store.config, "--yes")
    assert res.code == 5, res
    (call,) = recorder()
    assert call["argv"] == ["findings"] and call["env"]["COFFRE_EVENT"] == "findings"
    summary = json.loads(call["stdin"])
    assert summary["findings"] and summary["event"] == "findings"
    assert [p for p, _ in pings.pings] == ["/uuid/fail"] and pings.pings[0][1]["event"] == "findings"


def test_verify_and_drill_call_the_same_hooks_and_never_send_the_identity(store, recorder, pings):
    assert run_coffre("archive", "--config", store.config, "--yes").code == 0
    with_hooks(store, **every_event(recorder), ping_url=pings.url)
    res = run_coffre("verify", "--config", store.config)
    assert res.code == 0, res
    drilled = run_coffre("drill", "--config", store.config, "--identity", store.identity, "--json",
                         "--passphrase-env", "COFFRE_TEST_PHRASE", env={"COFFRE_TEST_PHRASE": "sesame ouvre-toi"})
    assert drilled.code == 0, drilled
    (run,) = store.run_dirs(store.destinations[0])
    victim = next(p for p in run.iterdir() if p.name.endswith(".age"))
    data = victim.read_bytes()
    victim.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))  # its last byte changed (set to 0 it was 0 once in 256 runs)
    res = run_coffre("verify", "--config", store.config)
    assert res.code == 1, res

    calls = recorder()
    assert [(c["env"]["COFFRE_COMMAND"], c["argv"][0]) for c in calls] == [
        ("verify", "success"), ("drill", "success"), ("verify", "failure")]
    assert json.loads(calls[1]["stdin"]) == dict(json.loads(drilled.out), command="drill", event="success", exit_code=0,
                                                 store_id="boutique")
    assert [p for p, _ in pings.pings] == ["/uuid", "/uuid", "/uuid/fail"]
    assert not json.loads(calls[2]["stdin"])["copies"][0]["ok"]
    secret = store.identity.read_text()
    sent = "".join(c["stdin"] for c in calls) + json.dumps([b for _, b in pings.pings])
    assert "AGE-SECRET-KEY" not in sent.upper() and secret.strip() not in sent and "sesame" not in sent
    assert "COFFRE_TEST_PHRASE" not in calls[1]["env"]  # the recorder keeps every COFFRE_* variable it inherits


def test_a_failing_hook_and_an_unreachable_ping_warn_in_one_sentence_and_change_no_exit_code(store, tmp_path):
    port = closed_port()
    with_hooks(store, on_success=["sh", "-c", "echo 'no mail server' >&2; exit 2"],
               on_failure=str(tmp_path / "no-such-hook"), ping_url=f"http://127.0.0.1:{port}/uuid")
    res = run_coffre("archive", "--config", store.config, "--yes")
    assert res.code == 0, res
    warnings = [line for line in res.err.splitlines() if line.startswith(("Warning: the hook", "Warning: the ping"))]
    assert warnings == ["Warning: the hook on_success (sh) failed: exit 2 (no mail server).",
                        f"Warning: the ping to 127.0.0.1:{port} failed: unreachable (the connection was refused)."]
    assert "Traceback" not in res.err

    shutil.rmtree(store.destinations[1])
    res = run_coffre("archive", "--config", store.config, "--yes")
    assert res.code == 4, res
    assert f"Warning: the hook on_failure ({tmp_path / 'no-such-hook'}) failed: no such file or folder." in res.err
    assert "Traceback" not in res.err
    log = (store.config.parent / "coffre-state" / "boutique.coffre-log.jsonl").read_text()
    assert '"action": "hook"' in log


def test_a_hook_that_hangs_is_stopped_at_the_timeout(store):
    with_hooks(store, on_success="sh -c 'sleep 30'", timeout=1)
    started = time.monotonic()
    res = run_coffre("archive", "--config", store.config, "--yes")
    assert res.code == 0, res
    assert time.monotonic() - started < 20
    assert "Warning: the hook on_success (sh) failed: no answer within 1 s." in res.err


@pytest.mark.parametrize("hooks, key", [
    ({"on_sucess": "true"}, "'on_sucess'"),
    ({"on_success": 5}, "hooks.on_success"),
    ({"on_failure": []}, "hooks.on_failure"),
    ({"on_findings": "notify 'unclosed"}, "hooks.on_findings"),
    ({"ping_url": "ftp://example.org/x"}, "hooks.ping_url"),
    ({"ping_start": "yes"}, "hooks.ping_start"),
    ({"timeout": 0}, "hooks.timeout"),
])
def test_a_wrong_hooks_table_is_one_sentence_naming_the_key(store, hooks, key):
    with_hooks(store, **hooks)
    res = run_coffre("archive", "--config", store.config, "--yes")
    assert res.code == 2, res
    assert key in res.err and "Traceback" not in res.err and len(res.err.strip().splitlines()) == 1


def test_prune_runs_the_hooks_with_its_summary_and_a_copy_it_could_not_prune_is_a_failure(store, recorder, pings):
    for _ in range(3):
        assert run_coffre("archive", "--config", store.config, "--yes").code == 0
    store.config.write_text(store.config.read_text()
                            + "\n[retention]\nkeep_last = 1\nkeep_daily = 1\nkeep_weekly = 0\nkeep_monthly = 0\n")
    with_hooks(store, ping_url=pings.url, **every_event(recorder))
    res = run_coffre("prune", "--config", store.config)
    assert res.code == 0, res
    (call,) = recorder()
    summary = json.loads(call["stdin"])
    assert call["argv"] == ["success"] and call["env"]["COFFRE_COMMAND"] == "prune"
    assert summary["command"] == "prune" and all(len(c["removed"]) == 2 for c in summary["copies"])
    assert [p for p, _ in pings.pings] == ["/uuid"]
    # One copy gone: the other is pruned (nothing left to remove), the command says failure (exit 4).
    shutil.move(store.destinations[1], store.destinations[1].with_name("elsewhere"))
    res = run_coffre("prune", "--config", store.config)
    assert res.code == 4 and "Traceback" not in res.err, res
    assert recorder()[-1]["argv"] == ["failure"] and pings.pings[-1][0] == "/uuid/fail"


def test_a_hook_that_prints_without_end_is_heard_by_its_last_line_only(store, tmp_path):
    """20 MB of output through a 1 MiB temporary folder: only its end is kept (the warning's reason), never written to
    a file that would fill the disk (the hook's writes would then fail and its last word be lost)."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    store.config.write_text(store.config.read_text().replace("[archive]\n", f"[archive]\nscratch_dir = '{scratch}'\n"))
    with_hooks(store, on_success=["sh", "-c", "yes 'chatty hook' | head -n 1600000; echo 'the last word'; exit 2"])
    with tmpfs(tmp_path / "small-tmp", "1m") as small:
        res = run_coffre("archive", "--config", store.config, "--yes", env={"TMPDIR": str(small)})
    assert res.code == 0, res
    (warning,) = [line for line in res.err.splitlines() if line.startswith("Warning: the hook")]
    assert warning == "Warning: the hook on_success (sh) failed: exit 2 (the last word).", warning
