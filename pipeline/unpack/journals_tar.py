"""journals.tar held to FORMAT.md §3: the members it may hold, each once, plain files, and those it must hold.

Checked the same way whether the tar is extracted (restore --journals) or only streamed through (the drill), so
that a drill that passes means a restore of the journals works.
"""

from __future__ import annotations

import os
import tarfile
import threading
from importlib import resources

from pipeline.i18n import _

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


class TailWatch:
    """A reader between the tar stream and tarfile that notes how far it read and where its last non-zero byte was.

    tarfile takes a header it cannot parse after the first member as the end of the archive, silently: whatever
    follows (a second tickets.csv that stock `tar x` would unpack over the first) would never be looked at. So the
    end is checked here: nothing but zeros after the last member, and the two zero blocks of a proper end."""

    def __init__(self, raw):
        self.raw = raw
        self.read_bytes = 0
        self.last_nonzero = -1

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        if data:
            kept = len(data.rstrip(b"\0"))
            if kept:
                self.last_nonzero = self.read_bytes + kept - 1
            self.read_bytes += len(data)
        return data

    def check_end(self, tar: tarfile.TarFile) -> None:
        while self.read(1 << 16):
            pass
        end = tar.offset  # where the header that ended the walk starts
        if self.last_nonzero >= end:
            raise JournalsTarBad(_("journals.tar holds data after its last member"))
        if self.read_bytes < end + 2 * tarfile.BLOCKSIZE:
            raise JournalsTarBad(_("journals.tar ends without its end-of-archive blocks"))


def open_stream(raw) -> tuple[tarfile.TarFile, TailWatch]:
    watch = TailWatch(raw)
    return tarfile.open(fileobj=watch, mode="r|"), watch


def members(tar: tarfile.TarFile, required: set[str], watch: TailWatch | None = None):
    """Yields (file name, member) for each member, in order, after checking it; JournalsTarBad at the first one that
    is not allowed, or at the end when one that must be there is missing or the tar does not end as a tar ends."""
    seen: set[str] = set()
    for member in tar:
        parts = member.name.split("/")
        name = parts[1] if len(parts) == 2 and parts[0] == "journals" else None
        # A sparse member is a regular file to tarfile, but it can declare gigabytes in a few bytes.
        if name not in ALLOWED or member.type not in (tarfile.REGTYPE, tarfile.AREGTYPE) or member.sparse is not None:
            raise JournalsTarBad(_("journals.tar holds {name}, which is not a journal file").format(
                name=repr(member.name[:80])))
        if name in seen:
            raise JournalsTarBad(_("journals.tar holds {name} twice").format(name=repr(member.name[:80])))
        seen.add(name)
        yield name, member
    missing = sorted(required - seen)
    if missing:
        raise JournalsTarBad(_("journals.tar lacks {names}").format(names=", ".join(missing[:4])))
    if watch is not None:
        watch.check_end(tar)


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
                tar, watch = open_stream(stream)
                with tar:
                    for _member in members(tar, self.required, watch):
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
            return _("journals.tar cannot be read ({reason})").format(reason=err)
        raise err
