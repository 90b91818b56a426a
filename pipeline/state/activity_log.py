"""Coffre's own chained log of what it did, in the spirit of the JET: a deleted or rewritten line shows."""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

import blake3

from pipeline.errors import CannotRun
from pipeline.i18n import _
from pipeline.state.record_lock import record_lock
from pipeline.system_errors import error_words

GENESIS = "0" * 64


def _hash(line: str) -> str:
    return blake3.blake3(line.encode("utf-8", "surrogateescape")).hexdigest()


class ActivityLog:
    """`<state>/<store>.coffre-log.jsonl`: one JSON object a line, each naming the BLAKE3 of the line before."""

    def __init__(self, state_dir: Path, store_id: str):
        self.state_dir, self.store_id = Path(state_dir), store_id
        self.path = self.state_dir / f"{store_id}.coffre-log.jsonl"

    def lines(self) -> list[str]:
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except FileNotFoundError:
            return []
        except OSError as err:
            raise CannotRun(_("Coffre's log {path} cannot be read ({error}).").format(path=self.path,
                                                                                     error=error_words(err)))
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # a FIFO would hang every command
            os.close(fd)
            raise CannotRun(_("Coffre's log {path} is not a regular file; move it aside to go on.").format(
                path=self.path))
        with os.fdopen(fd, "rb") as f:
            data = f.read()
        # Bytes that are not UTF-8 are kept as they are (surrogates): the chain check names the line they damage.
        return data.decode("utf-8", "surrogateescape").splitlines()

    def append(self, action: str, result: str, **details) -> dict:
        # Under the record lock: two commands appending at once would both name the same line before them.
        with record_lock(self.state_dir, self.store_id):
            lines = self.lines()
            entry = {"seq": len(lines) + 1, "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "action": action,
                     "result": result, "details": details, "previous_hash": _hash(lines[-1]) if lines else GENESIS}
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(json.dumps(entry, sort_keys=True, ensure_ascii=False) + "\n")
                f.flush()
                os.fsync(f.fileno())
        return entry


def check_log(lines: list[str]) -> list[str]:
    """Sentences for every break in the chain (a line removed, inserted or rewritten)."""
    problems = []
    previous = GENESIS
    for n, line in enumerate(lines, 1):
        try:
            entry = json.loads(line)
        except ValueError:
            problems.append(_("line {line} of Coffre's log is not JSON").format(line=n))
            previous = _hash(line)
            continue
        if not isinstance(entry, dict) or entry.get("previous_hash") != previous:
            problems.append(_("line {line} of Coffre's log does not follow line {before}: a line was removed, inserted or "
                             "rewritten").format(line=n, before=n - 1))
        if isinstance(entry, dict) and entry.get("seq") != n:
            problems.append(_("line {line} of Coffre's log carries number {number}").format(line=n,
                                                                                          number=entry.get("seq")))
        previous = _hash(line)
    return problems


def check_against(lines: list[str], recorded: dict | None) -> list[str]:
    """The log must still hold, unchanged, the lines it held when a run carried it: {entries, head}."""
    problems = check_log(lines)
    n = (recorded or {}).get("entries")
    if isinstance(n, int) and not isinstance(n, bool) and n > 0:
        if len(lines) < n:
            problems.append(_("Coffre's log has {lines} lines, but run {run_id} carried {carried}: lines were deleted")
                            .format(lines=len(lines), run_id=recorded.get("run_id"), carried=n))
        elif _hash(lines[n - 1]) != recorded.get("head"):
            problems.append(_("line {line} of Coffre's log differs from the one run {run_id} carried: the log was "
                              "rewritten").format(line=n, run_id=recorded.get("run_id")))
    return problems


def head(lines: list[str]) -> dict:
    return {"entries": len(lines), "head": _hash(lines[-1]) if lines else GENESIS}
