"""journals.tar held to FORMAT.md §3: the members it may hold, each once, plain files, and those it must hold.

Checked the same way whether the tar is extracted (restore --journals) or only streamed through (the drill), so
that a drill that passes means a restore of the journals works.
"""

from __future__ import annotations

import os
import tarfile
import threading
from importlib import resources

# The canonical journals, one JSON Schema each (schemas/journals/NAME.schema.json): the contract, read from where it
# is published rather than from the journals stage, which readers do not import.
JOURNALS = tuple(sorted(p.name.removesuffix(".schema.json")
                        for p in resources.files("pipeline.schemas").joinpath("journals").iterdir()
                        if p.name.endswith(".schema.json")))
SMALL_FILES = ("findings.json", "export.json", "LISEZMOI.txt")  # in every journals.tar
ALLOWED = frozenset({f"{j}.{ext}" for j in JOURNALS for ext in ("csv", "json")} | set(SMALL_FILES)
                    | {"coffre-log.jsonl"})


class JournalsTarBad(ValueError):
    """The tar is not what Coffre writes: one sentence."""


def required_members(journal_facts: dict | None) -> set[str]:
    """What the run's facts say the tar holds: each exported journal's CSV and JSON, and the small files."""
    records = (journal_facts or {}).get("records")
    names = [j for j in records if j in JOURNALS] if isinstance(records, dict) else []
    return {f"{j}.{ext}" for j in names for ext in ("csv", "json")} | set(SMALL_FILES)


def members(tar: tarfile.TarFile, required: set[str]):
    """Yields (file name, member) for each member, in order, after checking it; JournalsTarBad at the first one that
    is not allowed, or at the end when one that must be there is missing."""
    seen: set[str] = set()
    for member in tar:
        parts = member.name.split("/")
        name = parts[1] if len(parts) == 2 and parts[0] == "journals" else None
        # A sparse member is a regular file to tarfile, but it can declare gigabytes in a few bytes.
        if name not in ALLOWED or member.type not in (tarfile.REGTYPE, tarfile.AREGTYPE) or member.sparse is not None:
            raise JournalsTarBad(f"journals.tar holds {member.name[:80]!r}, which is not a journal file")
        if name in seen:
            raise JournalsTarBad(f"journals.tar holds {member.name[:80]!r} twice")
        seen.add(name)
        yield name, member
    missing = sorted(required - seen)
    if missing:
        raise JournalsTarBad(f"journals.tar lacks {', '.join(missing[:4])}")


class StreamCheck:
    """A writer for the plain tar as it is decompressed: a thread walks its members through a pipe (nothing is
    written to disk), and `result()` says what is wrong with it, or None."""

    def __init__(self, required: set[str]):
        self.required = required
        read_fd, write_fd = os.pipe()
        self.pipe = os.fdopen(write_fd, "wb")
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._walk, args=(os.fdopen(read_fd, "rb"),), name="coffre-tar-check",
                                       daemon=True)
        self.thread.start()

    def _walk(self, stream) -> None:
        with stream:
            try:
                with tarfile.open(fileobj=stream, mode="r|") as tar:
                    for _ in members(tar, self.required):
                        pass  # in stream mode, a member's data is read past when the next header is read
            except BaseException as err:  # noqa: BLE001 - said (or raised again) by result(), in the caller's thread
                self.error = err
            while stream.read(1 << 16):  # the writer must never block on a reader that gave up
                pass

    def write(self, data) -> int:
        try:
            self.pipe.write(data)
        except BrokenPipeError:
            pass
        return len(data)

    def flush(self) -> None:
        pass

    def result(self) -> str | None:
        try:
            self.pipe.close()
        except BrokenPipeError:
            pass
        self.thread.join()
        err = self.error
        if err is None:
            return None
        if isinstance(err, JournalsTarBad):
            return str(err)
        if isinstance(err, (tarfile.TarError, EOFError)):
            return f"journals.tar cannot be read ({err})"
        raise err
