"""Runs the config's [hooks] when a command ends: a command with the run's JSON summary on stdin, and the ping URL.

A hook never changes the command's exit code and never raises: a failed hook is one warning sentence.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading

from pipeline import interrupt
from pipeline.alerts.ping import ping, where
from pipeline.config import HOOK_TIMEOUT
from pipeline.errors import CANNOT_RUN, NEEDS_PERSON, OK, CoffreError
from pipeline.i18n import _
from pipeline.system_errors import error_words

SECRET_MARK = "AGE-SECRET-KEY-"  # an age identity: never sent anywhere, whatever a summary came to hold


def event_of(exit_code: int) -> str:
    """0 success; 5 findings (saved, but a person must look); anything else failure."""
    return "success" if exit_code == OK else "findings" if exit_code == NEEDS_PERSON else "failure"


def notify(cfg, command: str, exit_code: int, summary: dict, say, secret_env: tuple = ()) -> None:
    """Runs the hook of the event `exit_code` means and pings; failures go to `say` as one warning sentence each.

    `command` is the subcommand's name (archive, verify, drill, prune); `summary` what it prints with --json;
    `secret_env` names environment variables the hook command must not inherit (a --passphrase-env VAR).
    """
    hooks = getattr(cfg, "hooks", None) or {}
    if not hooks or interrupt.requested():  # a stopping command must end within seconds, not wait for a hook
        return
    try:
        _notify(cfg, hooks, command, exit_code, summary, say, secret_env)
    except Exception as err:  # noqa: BLE001 - an alert is never worth the command's exit code or a traceback
        say(_("Warning: the hooks could not be run ({error}).").format(error=f"{type(err).__name__}: {err}"))


def _notify(cfg, hooks: dict, command: str, exit_code: int, summary: dict, say, secret_env) -> None:
    event = event_of(exit_code)
    body = _redacted({"store_id": cfg.store_id, **summary, "command": command, "event": event, "exit_code": exit_code})
    argv = hooks.get(f"on_{event}")
    if argv:
        why = _run(argv, body, hooks.get("timeout", HOOK_TIMEOUT), cfg, secret_env)
        if why:
            _warn(cfg, say, _("the hook {hook} ({program})").format(hook=f"on_{event}", program=argv[0]), why, event)
    url = hooks.get("ping_url")
    if url:
        full = url.rstrip("/") + ("" if event == "success" else "/fail")
        why = ping(full, body)
        if why:
            _warn(cfg, say, _("the ping to {host}").format(host=where(full)), why, event)


def ping_start(cfg, command: str, say) -> None:
    """The `URL/start` ping, when [hooks] asks for it: the monitoring service then also sees a run that never ends."""
    hooks = getattr(cfg, "hooks", None) or {}
    if not (hooks.get("ping_url") and hooks.get("ping_start")):
        return
    full = hooks["ping_url"].rstrip("/") + "/start"
    try:
        why = ping(full, {"command": command, "event": "start", "store_id": cfg.store_id})
    except Exception as err:  # noqa: BLE001 - as in notify: never the command's exit code
        why = f"{type(err).__name__}: {err}"
    if why:
        _warn(cfg, say, _("the ping to {host}").format(host=where(full)), why, "start")


@contextlib.contextmanager
def alerted(cfg, command: str, say, secret_env: tuple = ()):
    """Around a command's work: pings the start, then notifies whatever way it ends (SystemExit or CoffreError).

    The work sets `.summary` on what this yields before its `raise SystemExit(code)`; an error gets
    {"error": sentence}. What was raised is raised again, unchanged.
    """
    state = _Summary()
    ping_start(cfg, command, say)
    try:
        yield state
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (OK if done.code is None else CANNOT_RUN)
        notify(cfg, command, code, state.summary or {"store_id": cfg.store_id}, say, secret_env)
        raise
    except (CoffreError, OSError) as err:
        code = err.exit_code if isinstance(err, CoffreError) else CANNOT_RUN
        sentence = str(err) if isinstance(err, CoffreError) else \
            _("a system error stopped the command: {error}").format(error=error_words(err))
        notify(cfg, command, code, dict(state.summary or {}, store_id=cfg.store_id, error=sentence), say, secret_env)
        raise


class _Summary:
    summary: dict | None = None


def _run(argv: list[str], body: dict, timeout: int, cfg, secret_env) -> str | None:
    """Runs argv (no shell) with the summary on stdin; returns None on exit 0, else why it failed."""
    env = dict(os.environ, COFFRE_EVENT=body["event"], COFFRE_COMMAND=body["command"],
               COFFRE_EXIT_CODE=str(body["exit_code"]), COFFRE_STORE_ID=cfg.store_id)
    for name in ("COFFRE_RUN_ID", *(v for v in secret_env if v)):
        env.pop(name, None)
    if body.get("run_id"):
        env["COFFRE_RUN_ID"] = str(body["run_id"])
    data = json.dumps(body, sort_keys=True).encode("utf-8")
    try:
        # Its own session, so that a timeout kills whatever it started too; through `spawn`, so a stop kills it.
        proc = interrupt.spawn(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               env=env, start_new_session=True)
    except OSError as err:  # not found, not executable (InterruptedError too: the command is stopping)
        return error_words(err)
    # Its output is read by a daemon thread that keeps only the end: a chatty hook fills neither memory nor a disk,
    # and one that leaves a child behind holding the pipe never holds us (the thread is not waited for).
    tail = _Tail(proc.stdout)
    # Fed from a daemon thread too: a hook that never reads a large summary must not hold us past its timeout.
    threading.Thread(target=_feed, args=(proc.stdin, data), daemon=True, name="coffre-hook-input").start()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return _("no answer within {seconds} s").format(seconds=timeout)
    finally:
        interrupt.forget(proc)
    if proc.returncode == 0:
        return None
    last = [line for line in tail.text().splitlines() if line.strip()]
    why = _("exit {code}").format(code=proc.returncode) if proc.returncode > 0 else \
        _("killed by signal {signal}").format(signal=-proc.returncode)
    return why + (f" ({last[-1].strip()[:200]})" if last else "")


def _feed(pipe, data: bytes) -> None:
    try:
        pipe.write(data)
    except OSError:  # a hook that does not read its standard input
        pass
    finally:
        with contextlib.suppress(OSError):
            pipe.close()


class _Tail:
    """The last TAIL bytes a pipe gave, read to its end in a daemon thread."""

    TAIL = 4096

    def __init__(self, pipe):
        self.kept = b""
        self.done = threading.Event()
        threading.Thread(target=self._read, args=(pipe,), daemon=True, name="coffre-hook-output").start()

    def _read(self, pipe) -> None:
        try:
            while chunk := pipe.read1(65536):
                self.kept = (self.kept + chunk)[-self.TAIL:]
        except (OSError, ValueError):
            pass
        finally:
            self.done.set()

    def text(self) -> str:
        self.done.wait(1)  # what the hook said before it exited, unless a child of its keeps the pipe open
        return self.kept.decode("utf-8", "replace")


def _warn(cfg, say, what: str, why: str, event: str) -> None:
    say(_("Warning: {what} failed: {reason}.").format(what=what, reason=why))
    try:  # also in Coffre's own log, best effort: the warning above is what counts
        from pipeline.state.activity_log import ActivityLog

        from pipeline.state.sentences import english

        # The log is read by code and by any reader: its words stay English, whatever the person reads.
        ActivityLog(cfg.state_dir, cfg.store_id).append("hook", "failed", hook=english(what), event=event,
                                                        reason=english(why))
    except (CoffreError, OSError):
        pass


def _redacted(value):
    if isinstance(value, str):
        return "[redacted]" if SECRET_MARK in value.upper() else value
    if isinstance(value, dict):
        return {k: _redacted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redacted(v) for v in value]
    return value
