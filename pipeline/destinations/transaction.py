"""The writing of one run to every destination at once: each file teed to every copy, committed, read back;
a copy that fails is dropped (and what it left removed) while the others go on."""

from __future__ import annotations

import threading
import time
import weakref
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass

from pipeline.destinations import Destination, NotPublished, RunWriter
from pipeline.destinations.parallel import PerDestination
from pipeline.errors import CannotRun
from pipeline.i18n import _
from pipeline.hashing import hash_stream
from pipeline.manifest.blocks import MAX_BLOCK
from pipeline.progress import NO_PROGRESS, CountedReader, CountedWriter, Progress
from pipeline.pack.tee import AllBranchesFailed, Tee
from pipeline.system_errors import error_words


@dataclass
class CopyOutcome:
    destination: str
    ok: bool = True
    reason: str = ""  # a sentence said on its own
    words: str = ""  # the same after the copy's name, where that differs (an absent copy: errors.CopyAbsent)
    # Failed while the signature was being published there: it may have landed (a medium or a network that goes
    # as the rename is made), and the run be whole there after all (verify/unrecorded.py find_placed).
    maybe_signed: bool = False



class RunTransaction:
    """The writing of one run to every destination at once, dropping the ones that fail."""

    def __init__(self, store_id: str, run_id: str, dests: dict[str, Destination], copies: dict[str, CopyOutcome], say,
                 progress: Progress = NO_PROGRESS):
        self.store_id, self.run_id, self.say = store_id, run_id, say
        # Each copy's writing, then its reading back, for the person watching (the data files only).
        self.progress = progress
        self._writing: dict = {}  # spec -> its write task
        self._reading: dict = {}  # spec -> its read-back task (its total known once the data files are written)
        self.dests = dests
        self.copies = copies
        self.files: list[dict] = []
        self.writers: dict[str, RunWriter] = {}
        # One thread per destination flushes (fsync) its files, another reads them back: separate media
        # work at the same time instead of one after the other.
        self._flushers, self._checkers = PerDestination(), PerDestination()
        self._checks: dict[tuple[str, str], tuple[str, Future]] = {}  # (spec, name) -> (digest, read-back)
        # The snapshot and the journals are written at once, from two threads: the writers and copies they
        # share change under this lock (a copy failing in one is dropped for both).
        self._lock = threading.RLock()
        self._signing = False  # the signature is being written: a copy failed as it is published may hold it
        # A copy that fails while the other stream still has a file open on it is only dropped from the
        # writers at once; its files are closed and its folder removed once no stream is writing.
        self._streams = 0
        self._dropped: list[tuple[str, RunWriter | None]] = []
        self._blocks: dict = {}  # spec -> its block writer (format 2), made at the first block
        self._block_checks: list = []  # (spec, block name, read-back Future)
        self._block_bytes = 0
        weakref.finalize(self, _close_workers, self._flushers, self._checkers)
        started: dict[str, RunWriter] = {}

        def start(spec: str) -> None:
            started[spec] = dests[spec].start_run(store_id, run_id)

        errors = self._flushers.run_all(dests, start)  # each medium creates its folder at once
        self.writers.update((spec, started[spec]) for spec in dests if spec in started)
        for spec, err in errors.items():
            if not isinstance(err, OSError):
                raise err
            self._fail(spec, _("cannot create the run folder ({error})").format(error=error_words(err)))

    def fail_copy(self, spec: str, reason: str) -> None:
        """Tonight's run is not signed on this copy (CannotRun when no copy is left)."""
        self._fail(spec, reason)

    def _fail(self, spec: str, reason: str, as_published: bool = False) -> None:
        """`as_published`: the copy failed as a file was published there or read back (not before): the signature's,
        while it is published, may be there all the same."""
        with self._lock:
            copy = self.copies[spec]
            if not copy.ok:
                return
            copy.ok, copy.words = False, reason
            copy.maybe_signed = self._signing and as_published
            copy.reason = _("{destination}: {reason}").format(destination=self.dests[spec].describe(), reason=reason)
            self.say(_("Copy failed: {reason}").format(reason=copy.reason))
            self._dropped.append((spec, self.writers.pop(spec, None)))
            if not self._streams:
                self._clear_dropped()
            if not self.writers:
                # Not "could be written": a writable copy is also failed when it holds a damaged block the run names.
                raise CannotRun(_("No copy can take this run: {reasons}").format(
                    reasons="; ".join(c.reason for c in self.copies.values() if not c.ok)))

    def _clear_dropped(self) -> None:
        """Closes and removes what the failed copies hold; called under the lock, with no stream writing."""
        dropped, self._dropped = self._dropped, []
        for spec, writer in dropped:
            if writer is not None:
                writer.discard()
            _remove_unsigned_run(self.dests[spec], self.store_id, self.run_id)

    @property
    def block_bytes(self) -> int:
        """The bytes of the blocks this run wrote to one copy (format 2)."""
        return self._block_bytes

    @contextmanager
    def placing(self):
        """Blocks being written to every copy (format 2): a copy that fails meanwhile is cleared once none is."""
        with self._stream():
            yield

    @contextmanager
    def _stream(self):
        """One file being written to every copy (the snapshot and the journals may be at once)."""
        with self._lock:
            self._streams += 1
        try:
            yield
        finally:
            with self._lock:
                self._streams -= 1
                if not self._streams:
                    self._clear_dropped()

    def _live(self) -> dict[str, RunWriter]:
        with self._lock:
            return dict(self.writers)

    def _open_all(self, name: str, only: set[str] | None = None) -> dict:
        branches = {}
        for spec, w in self._live().items():
            if only is not None and spec not in only:
                continue
            try:
                branches[spec] = w.open(name)
            except OSError as err:
                self._fail(spec, _("cannot create {name} ({error})").format(name=name, error=error_words(err)))
        return branches

    def _commit_all(self, name: str, failures: dict[str, OSError], only: set[str] | None = None) -> None:
        for spec, err in failures.items():
            self._fail(spec, _("writing {name} failed ({error})").format(name=name, error=error_words(err)))
        writers = {spec: w for spec, w in self._live().items() if only is None or spec in only}
        errors = self._flushers.run_all(writers, lambda spec: writers[spec].commit(name))
        for spec, err in errors.items():
            if not isinstance(err, OSError):
                raise err
            self._fail(spec, _("writing {name} failed ({error})").format(name=name, error=error_words(err)),
                       as_published=not isinstance(err, NotPublished))

    def data_file(self, name: str, kind: str, produce, extra: dict | None = None):
        with self._stream():
            tee = Tee({spec: self._counted(spec, f) for spec, f in self._open_all(name).items()})
            try:
                out = produce(tee)
            except Exception:
                if tee.branches:  # a copy is still writable: the failure is the stream's own (a read error, say)
                    raise
                for spec, err in tee.failures.items():
                    self._fail(spec, _("writing {name} failed ({error})").format(name=name, error=error_words(err)))
                raise CannotRun(_("No copy could be written."))  # not reached: _fail raises once no writer is left
            self._commit_all(name, tee.failures)
        digest = tee.hash.hexdigest()
        self.files.append({"name": name, "kind": kind, "size": tee.size, "blake3": digest,
                           "compression": "zstd", "encryption": "age", **(extra or {})})
        # Read back at once, beside what comes next (the facts, the other files); read_back collects it.
        for spec in self._live():
            self._start_check(spec, name, digest)
        return out

    def live_specs(self) -> list[str]:
        return sorted(self._live())

    def read_block(self, spec: str, name: str) -> bytes | None:
        """A stored block of one copy (None when it cannot be read, or is larger than any block)."""
        try:
            with self.dests[spec].open_block(self.store_id, name) as f:
                data = f.read(MAX_BLOCK + 1)
        except OSError:
            return None
        return data if len(data) <= MAX_BLOCK else None

    def put_block(self, specs: list[str], name: str, data: bytes, digest: str) -> None:
        """Writes one block to these copies at once (each in its medium's thread), then has it read back."""
        writers = {s: w for s, w in self._block_writers().items() if s in specs}
        with self._lock:
            self._block_bytes += len(data) if len(writers) == len(self._live()) else 0
        errors = self._flushers.run_all(writers, lambda spec: writers[spec].put(name, data))
        for spec, err in errors.items():
            if not isinstance(err, OSError):
                raise err
            self._fail(spec, _("writing block {name} failed ({error})").format(name=name, error=error_words(err)))
        for spec in writers:
            if spec not in errors and spec in self._live():
                with self._lock:
                    self._block_checks.append((spec, name, self._checkers.submit(
                        spec, self._check_block, spec, name, digest)))

    def _block_writers(self) -> dict:
        with self._lock:
            for spec in self.writers:
                if spec not in self._blocks:
                    self._blocks[spec] = self.dests[spec].start_blocks(self.store_id)
            return {s: self._blocks[s] for s in self.writers}

    def _check_block(self, spec: str, name: str, digest: str) -> str | None:
        if spec not in self.writers:
            return None
        try:
            with self.dests[spec].open_block(self.store_id, name) as f:
                got, _size = hash_stream(f, limit=MAX_BLOCK + 1)
        except OSError as err:
            return _("reading block {name} back failed ({error})").format(name=name, error=error_words(err))
        if got != digest:
            return _("block {name} read back differs from what was written (the medium is failing)").format(name=name)
        return None

    def _read_back_blocks(self) -> None:
        with self._lock:
            checks, self._block_checks = self._block_checks, []
        for spec, _name, fut in checks:
            reason = fut.result()
            if reason:
                self._fail(spec, reason)

    def small_file(self, name: str, data: bytes, only: set[str] | None = None) -> str:
        with self._stream():
            tee = Tee(self._open_all(name, only))
            try:
                tee.write(data)
            except AllBranchesFailed:
                pass
            self._commit_all(name, tee.failures, only)
        return tee.hash.hexdigest()

    def _counted(self, spec: str, f):
        if not self.progress:
            return f
        with self._lock:
            if spec not in self._writing:
                self._writing[spec] = self.progress.task(
                    _("Writing copy {destination}").format(destination=self.dests[spec].describe()), None)
            return CountedWriter(f, self._writing[spec])

    def _reader(self, spec: str):
        with self._lock:
            if spec not in self._reading:
                self._reading[spec] = self.progress.task(
                    _("Reading back copy {destination}").format(destination=self.dests[spec].describe()), None)
            return self._reading[spec]

    def _reading_shown(self) -> list:
        """The data files are written: each copy's write ends, its read-back is held to their total."""
        if not self.progress:
            return []
        total = sum(f["size"] for f in self.files)
        for task in self._writing.values():
            task.done()
        tasks = [self._reader(spec) for spec in self._live()]
        for task in tasks:
            task.expect(total)
        return tasks

    def read_back(self, names: list[str] | None = None, expected: dict[str, str] | None = None,
                  only: set[str] | None = None) -> None:
        """Reads every file back from each destination (or those of `only`) and checks its BLAKE3 against what was
        sent."""
        shown = self._reading_shown() if expected is None else []
        self._read_back_blocks()
        expected = expected or {f["name"]: f["blake3"] for f in self.files}
        specs = [spec for spec in self._live() if only is None or spec in only]
        for spec in specs:
            for name, digest in expected.items():
                if self._checks.get((spec, name), ("",))[0] != digest:
                    self._start_check(spec, name, digest)
        for spec in specs:
            if spec not in self._live():
                continue
            for name in expected:
                reason = self._checks.pop((spec, name))[1].result()
                if reason:
                    self._fail(spec, reason, as_published=True)
                    break
        for task in shown:
            task.done()

    def _start_check(self, spec: str, name: str, digest: str) -> None:
        with self._lock:
            self._checks[(spec, name)] = (digest, self._checkers.submit(spec, self._check_one, spec, name, digest))

    def _check_one(self, spec: str, name: str, digest: str) -> str | None:
        """In the destination's reading thread: None when the copy holds what was sent, else why not."""
        if spec not in self.writers:
            return None  # that copy has failed meanwhile: nothing to read
        for attempt in range(2):
            try:
                with self.dests[spec].open_read(self.store_id, self.run_id, name) as f:
                    got, _size = hash_stream(CountedReader(f, self._reader(spec)) if self.progress and not attempt
                                             else f)
            except OSError as err:
                return _("reading {name} back failed ({error})").format(name=name, error=error_words(err))
            if got == digest:
                return None
            # A remote may serve a file just moved into place from a cache a moment longer (seen once on an rclone
            # WebDAV remote, never twice): read it once more before the copy is given up.
            time.sleep(0.5)
        return _("{name} read back differs from what was written (the medium is failing)").format(name=name)

    def publish(self, control: list[tuple[str, bytes]], signed_name: str, sign, sure=None) -> dict[str, str]:
        """Writes the control files in order, each read back, then `signed_name` = sign(the last one's bytes): only
        then is the folder a run. Returns {name: BLAKE3} of what was written."""
        written = {}
        for name, data in control:
            written[name] = self.small_file(name, data)
        self.read_back(expected=dict(written))
        signature = sign(control[-1][1])
        signed: set[str] = set()
        # Format 2: `sure()` gives the copies seen tonight to hold every block the run names (making sure of one at
        # least, or failing them). They are signed first; only once one of them is signed and read back are the
        # others signed, so that a run is never signed only where no copy was seen to restore.
        while sure is not None and not signed & set(self._live()):
            first = sure() - signed
            written[signed_name] = self._sign(signed_name, signature, first)
            signed |= first
        rest = set(self._live()) - signed
        if rest or not signed:
            written[signed_name] = self._sign(signed_name, signature, rest)
        _close_workers(self._flushers, self._checkers)
        return written

    def _sign(self, name: str, signature: bytes, only: set[str]) -> str:
        """The signature written to `only` and read back; a copy failed as it was published there, or read back,
        may hold it all the same (one failed before, as its temporary file was made or sent, does not)."""
        self._signing = True
        try:
            digest = self.small_file(name, signature, only)
            self.read_back(expected={name: digest}, only=only)
        finally:
            self._signing = False
        return digest


def _close_workers(*workers: PerDestination) -> None:
    for w in workers:
        w.close()


def _remove_unsigned_run(dest: Destination, store_id: str, run_id: str) -> None:
    """A copy that failed is not a run: remove what it left, best effort, so it does not fill the medium."""
    remove = getattr(dest, "remove_run", None)
    if remove:
        try:
            remove(store_id, run_id, patient=False)
        except OSError:
            pass
