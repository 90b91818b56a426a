"""Restore: the first copy that verifies, decrypted through temporary names, published only once authenticated."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tarfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from pipeline import interrupt
from pipeline.config import Config
from pipeline.destinations import why_not_read
from pipeline.errors import CannotRun, CheckFailed, UsageError
from pipeline.out_folder import refuse_link_to_nowhere
from pipeline.i18n import _
from pipeline.manifest.format import plain_name
from pipeline.progress import NO_PROGRESS, NO_TASK, Progress, Task
from pipeline.unpack.check import BoundedBuffer, journals_mismatch, journals_need_decompressing, parse_facts
from pipeline.unpack.data_file import authenticate, unpack_data_file
from pipeline.unpack.journals_tar import JournalsTarBad, StreamCheck, required_members
from pipeline.unpack.journals_tar import open_stream as open_tar_stream
from pipeline.unpack.journals_tar import members as journal_members
from pipeline.unpack.stream import SourceReadError, UnpackError
from pipeline.snapshot import KINDS, open_source, reader, reader_of
from pipeline.state.folder_lock import folder_to_ourselves
from pipeline.verify.copy import Problem, VerifyOptions, verify_run
from pipeline.verify.deep import require_matching_identity
from pipeline.restore.choose import lacking, newer_than_written, older_than_written, plan
from pipeline.system_errors import error_words

TMP_PREFIX = ".coffre-partial-"
PUBLISHING = TMP_PREFIX + "publishing.json"  # written while a restore renames its files into place
# What a restore of a Coffre run puts in its folder: the database under its kind's name, the facts, the journals.
PUBLISHED = tuple(reader(kind).PLAIN_NAME for kind in KINDS) + ("facts.json", "journals")

@dataclass
class RestoreResult:
    destination: str
    run_id: str
    out_dir: Path
    files: list[Path] = field(default_factory=list)
    facts: dict = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)  # copies passed over, and why
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)  # sentences to show; the restore itself is good


def refuse_live_folder(cfg: Config, out_dir: Path) -> None:
    """Never write beside the live database: a restore must not be mistaken for, or clobber, the till's data."""
    source = open_source(cfg.source)
    live = getattr(source, "path", None)
    if live is None:
        return
    # realpath, not Path.resolve(): a symlink loop in --out is left as written (the folder's creation then says it
    # in one sentence) instead of raising RuntimeError.
    live_dir = Path(os.path.realpath(live)).parent
    target = Path(os.path.realpath(out_dir))
    if target == live_dir:
        raise UsageError(_("Refusing to restore into {path}: it is the live database's folder ({live}); restore "
                           "into a new folder.").format(path=out_dir, live=live_dir))


JOURNALS_MODES = ("authenticate", "check", "extract")
# authenticate: the stored bytes' BLAKE3 against the signed manifest, nothing decrypted (the default: the database
#               is what a merchant needs back); check: also decrypted and decompressed, compared with the facts,
#               nothing written (the drill); extract: checked, and published as journals/ (restore --journals).


def restore(cfg: Config, identities: list, out_dir: Path, run_id: str | None = None, specs: list[str] | None = None,
            say=lambda m: None, check: bool = True, journals: str = "authenticate",
            integrity: str = "none", progress: Progress = NO_PROGRESS) -> RestoreResult:
    """Restores a run into `out_dir`: the database and facts.json, plus journals/ with journals="extract".

    `integrity` ("none", "quick", "full") also runs SQLite's quick_check or integrity_check on the restored
    database; the plain BLAKE3 and the row counts are always compared with the archive-time facts.
    """
    if journals not in JOURNALS_MODES:
        raise ValueError(f"journals must be one of {JOURNALS_MODES}")
    started = time.time()
    out_dir = Path(out_dir).absolute()
    refuse_live_folder(cfg, out_dir)
    specs = specs or cfg.destinations
    if not specs:
        raise UsageError(_("No destination to restore from: give --from DEST or configure destinations."))
    p = plan(cfg, specs)
    skipped: list[str] = list(p.skipped)
    if not p.copies:
        raise CannotRun(_("No copy can be reached: {reasons}").format(reasons="; ".join(skipped)))
    passed_over: dict[str, list[str]] = {}  # run id -> why each copy of it was passed over
    newest_real = None  # the newest run signed for this store and run id: the one to restore, damaged or not
    ours: list[OSError] = []  # our own disk failing while a copy was written out (full, file too large...)
    with _restore_folder(out_dir):
        for chosen in p.candidates(run_id):
            lost = p.lost_newest() if not run_id and p.newest_written and chosen < p.newest_written else []
            if lost:
                # Deleted or damaged where it was written: never an older run in its place unasked.
                raise CheckFailed(_("Run {newest}, the newest this machine wrote, does not restore from {copies}, "
                                    "where it was written (deleted or damaged?); an older run is restored only when "
                                    "asked for, with --run RUN (coffre verify lists the runs).").format(
                    newest=p.newest_written, copies=", ".join(lost)))
            holders = p.holders(chosen)
            if not holders:
                skipped += [_("{where}: run {run_id} is not there").format(where=c.dest.describe(), run_id=chosen)
                            for c in p.copies]
                continue
            for c in holders:
                dest = c.dest
                problems: list[Problem] = []
                rep = verify_run(dest, cfg.store_id, chosen, VerifyOptions(cfg.signing_public_key, read_data=lambda r: False),
                                 problems)
                newest_real = newest_real or (chosen if rep.authentic else None)
                if problems or not rep.complete or not rep.manifest:
                    why = "; ".join(_said(q) for q in problems[:3]) or _("not a complete run")
                    passed_over.setdefault(chosen, []).append(_("{where}: {reason}").format(
                        where=f"{dest.describe()} / {chosen}", reason=why))
                    continue
                require_matching_identity(identities, rep.manifest, dest.describe())
                try:
                    files, facts = _unpack_run(dest, cfg.store_id, rep.manifest, identities, out_dir,
                                               _Checks(check, journals, integrity, progress))
                except _CopyBad as err:
                    passed_over.setdefault(chosen, []).append(_("{where}: {reason}").format(
                        where=f"{dest.describe()} / {chosen}", reason=err))
                    say(_("Copy {copy} is damaged ({reason}); trying the next one.").format(copy=dest.describe(),
                                                                                           reason=err))
                    continue
                except OSError as err:  # _unpack_run removed what it wrote; the next copy may fit, or fail alike
                    ours.append(err)
                    passed_over.setdefault(chosen, []).append(
                        _("{where}: writing to {path} failed ({reason})").format(
                            where=f"{dest.describe()} / {chosen}", path=out_dir, reason=error_words(err)))
                    say(_("Copy {copy} failed (writing to {path}: {reason}); trying the next one.").format(
                        copy=dest.describe(), path=out_dir, reason=error_words(err)))
                    continue
                newer = [w for rid, why in passed_over.items() if rid > chosen for w in why]
                warnings = [older_than_written(p, chosen, newer, asked=bool(run_id)), *lacking(p, chosen, c.spec),
                            newer_than_written(p, chosen), reader_of(facts.get("snapshot") or {}).damaged_at_archive_time(
                                facts.get("snapshot") or {})]
                if p.record_note:
                    warnings.append(_("this machine's record cannot be read, so whether a newer run was written "
                                      "cannot be told (coffre rebuild-record rebuilds it)"))
                return RestoreResult(dest.describe(), chosen, out_dir, files, facts,
                                     skipped + [w for why in passed_over.values() for w in why], time.time() - started,
                                     [_sentence(w) for w in warnings if w])
            if newest_real:
                # A real run whose every copy is damaged: an older run is never restored in its place unasked.
                break
        # Raised inside the folder's block, so that a folder this restore created is removed again.
        skipped += [w for why in passed_over.values() for w in why]
        if ours:
            raise CannotRun(_target_failed(out_dir, ours[-1]))
        if not any(c.signed for c in p.copies):
            skipped += [_("{where}: no complete run").format(where=c.dest.describe()) for c in p.copies]
        if newest_real and not run_id:
            if len(specs) == 1:
                said = _("Run {run_id}, the newest, does not restore from this copy: {reasons}; an older run is "
                         "restored only when asked for, with --run RUN (coffre verify lists the runs).")
            else:
                said = _("Run {run_id}, the newest, does not restore from any copy: {reasons}; an older run is "
                         "restored only when asked for, with --run RUN (coffre verify lists the runs).")
            raise CheckFailed(said.format(run_id=newest_real, reasons="; ".join(skipped)))
        raise CheckFailed(_("No copy restores: {reasons}").format(reasons="; ".join(skipped)))


def _sentence(clause: str) -> str:
    """A clause said on its own: a capital first, a full stop last (whatever the language)."""
    return clause[0].upper() + clause[1:] + "."


def _said(problem: Problem) -> str:
    """A verify problem in one clause: the file's name once, no full stop of its own."""
    message = problem.message.rstrip(".")
    if problem.file and not message.startswith(problem.file):
        return _("{file} {problem}").format(file=problem.file, problem=message)
    return message


@contextmanager
def _restore_folder(out_dir: Path):
    """The restore's folder, created private (0700), locked against a second restore into it, and cleared of
    what an interrupted restore left there (its partial files: never published, so never the user's)."""
    refuse_link_to_nowhere(out_dir)
    created = not out_dir.exists()
    out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    # export-auditor holds its folder the same way: "another Coffre command", whichever it is. Refused, this restore
    # leaves the folder alone, even one it made: the other command may be using it already. (Its parents stay: another
    # command may be making its own folder in them at this very moment.)
    with folder_to_ourselves(out_dir, _("Another Coffre command is writing into {path}; wait for it to end, or "
                                        "choose another folder.").format(path=out_dir)):
        try:
            _unpublish(out_dir)
            for leftover in out_dir.glob(TMP_PREFIX + "*"):
                if leftover.is_dir() and not leftover.is_symlink():
                    shutil.rmtree(leftover, ignore_errors=True)
                else:
                    leftover.unlink(missing_ok=True)
            yield
        except BaseException:
            if created:
                try:
                    out_dir.rmdir()  # only if empty: a failed restore leaves no folder of its own behind
                except OSError:
                    pass
            raise


def _unpublish(out_dir: Path) -> None:
    """Removes what a restore killed while publishing had published, as its note lists (plain names only)."""
    note = out_dir / PUBLISHING
    try:
        with open(note, "rb") as f:
            names = json.loads(f.read(1 << 16))
    except (OSError, ValueError):
        return
    for name in names if isinstance(names, list) else []:
        if name not in PUBLISHED:  # nothing but what a restore publishes, whatever a note says
            continue
        path = out_dir / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        elif path.exists() or path.is_symlink():
            path.unlink()
    note.unlink(missing_ok=True)


def _target_failed(out_dir: Path, err: OSError) -> str:
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        return _("No copy could be restored: the restore target {path} is full ({reason}); free some space there "
                 "or restore elsewhere.").format(path=out_dir, reason=error_words(err))
    return _("No copy could be restored: writing to the restore target {path} failed ({reason}).").format(
        path=out_dir, reason=error_words(err))


@dataclass
class _Checks:
    snapshot: bool  # row counts (and `integrity`) of the restored database
    journals: str
    integrity: str
    progress: Progress = NO_PROGRESS
    task: Task = NO_TASK  # the bytes read from the copy, for the person watching


class _CopyBad(Exception):
    pass


def extract_journals(tar_path: Path, final: Path, required: set[str]) -> Path:
    """Extracts the journals tar into a partial folder beside `final`, returned for the caller to publish once
    everything is checked: held to FORMAT.md's members (unpack/journals_tar.py), plain files under journals/ only."""
    partial = final.with_name(TMP_PREFIX + final.name + ".d")
    interrupt.half_made(partial)
    partial.mkdir(mode=0o700)
    try:
        with open(tar_path, "rb") as raw:
            tar, watch = open_tar_stream(raw)
            with tar:
                for name, member in journal_members(tar, required, watch):
                    with _create_private(partial / name) as out:
                        shutil.copyfileobj(tar.extractfile(member), out, 1 << 20)
        return partial
    except BaseException as err:
        shutil.rmtree(partial, ignore_errors=True)
        interrupt.finished(partial)
        if isinstance(err, JournalsTarBad):
            raise _CopyBad(_("{reason}: this copy is damaged").format(reason=err))
        if isinstance(err, tarfile.TarError):
            raise _CopyBad(_("journals.tar cannot be read ({reason})").format(reason=err))
        raise


def _unpack_run(dest, store_id: str, manifest: dict, identities: list, out_dir: Path, checks: _Checks):
    """Writes every file to publish to a temporary name, checks all, then renames: all or nothing.

    facts.json first (it says what the rest must be), then the snapshot and the journals side by side, each in
    its own threads (unpack/stream.py), so that one file's work overlaps the other's.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    plan = []
    for f in manifest["files"]:
        name = f["name"]
        plain = plain_name(name)
        if f["kind"] == "journals":
            final = out_dir / "journals" if checks.journals == "extract" else None
        else:
            final = out_dir / plain
        if final is not None and (final.exists() or final.is_symlink()):
            raise UsageError(_("{path} already exists; restore never writes over a file.").format(path=final))
        plan.append((name, f, final))
    if not any(f["kind"] == "facts" for _name, f, _final in plan):
        raise _CopyBad(_("the run has no facts.json.zst.age: nothing to hold the restored data to"))
    checks.task = checks.progress.task(
        _("Restoring from copy {destination}").format(destination=dest.describe()),
        sum(f.get("stored", f["size"]) for _name, f, final in plan if final is not None or f["kind"] != "journals"
            or checks.journals != "authenticate"))
    temps: list[tuple[Path, Path]] = []  # (temporary, final), appended once created by us ("x" mode)
    ready: list[tuple[Path, Path]] = []  # everything unpacked and checked before the first file is published
    facts: dict = {}
    try:
        for name, f, final in plan:
            if f["kind"] == "facts":
                facts = _restore_facts(dest, store_id, manifest["run_id"], name, f, identities, final, temps)
        jobs = [(name, f, final) for name, f, final in plan if f["kind"] != "facts"]

        def run(job):
            name, f, final = job
            _restore_one(dest, store_id, manifest["run_id"], name, f, final, identities, facts, checks, temps)

        if len(jobs) > 1:
            with ThreadPoolExecutor(2, thread_name_prefix="coffre-restore") as pool:
                futures = [pool.submit(run, job) for job in jobs]
            for fut in futures:  # the first failure in plan order is the one reported
                fut.result()
        else:
            for job in jobs:
                run(job)
        for tmp, final in temps:
            if final.name == "journals":
                ready.append((extract_journals(tmp, final, required_members(facts.get("journals"))), final))
                tmp.unlink()
            else:
                ready.append((tmp, final))
        # A note of what is being published, so that a restore killed between two renames can be run again into
        # the same folder (the files it had published are its own: they are removed and made anew).
        note = out_dir / PUBLISHING
        with _create_private(note) as f:
            f.write(json.dumps([final.name for _src, final in ready]).encode())
            os.fsync(f.fileno())
        for src, final in ready:
            os.rename(src, final)
            interrupt.finished(src)
        note.unlink()
        checks.task.done()
        for tmp, _final in temps:
            interrupt.finished(tmp)
        temps, ready = [], []
        return [final for _name, _f, final in plan if final is not None], facts
    finally:
        for tmp, _final in temps:
            try:
                tmp.unlink()
            except OSError:
                pass
            interrupt.finished(tmp)
        for src, _final in ready:  # an extracted journals folder, if publishing failed midway
            if src.is_dir():
                shutil.rmtree(src, ignore_errors=True)
            interrupt.finished(src)


class _EarlySync:
    """Writes to the file `out` and, every SYNC_EVERY bytes, has a helper thread fdatasync it while the writing
    goes on: the final fsync before publishing then waits for the last few MB only, not for the whole file."""

    SYNC_EVERY = 32 << 20

    def __init__(self, out):
        self.out = out
        self.since = 0
        self.wanted = threading.Event()
        self.done = False
        self.thread = threading.Thread(target=self._run, name="coffre-sync", daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.done = True
        self.wanted.set()
        self.thread.join()
        return False

    def _run(self) -> None:
        while True:
            self.wanted.wait()
            self.wanted.clear()
            if self.done:
                return
            try:
                os.fdatasync(self.out.fileno())  # what the kernel holds; the writer's small buffer can wait
            except (OSError, ValueError):
                return  # the final fsync, in the caller's thread, reports what is wrong

    def write(self, data) -> int:
        n = self.out.write(data)
        self.since += len(data)
        if self.since >= self.SYNC_EVERY:
            self.since = 0
            self.wanted.set()
        return n

    def flush(self) -> None:
        self.out.flush()


def _open_temp(final: Path, temps: list):
    tmp = final.with_name(TMP_PREFIX + final.name)
    interrupt.half_made(tmp)  # plain sales: gone even if a second signal ends the command before its cleanup
    out = _create_private(tmp)
    temps.append((tmp, final))
    return tmp, out


def _create_private(path: Path):
    """A new file only its owner can read: restored data is the shop's plain sales."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600), "wb")


@contextlib.contextmanager
def _copy_failures(name: str):
    """The copy's own failures as _CopyBad; an OSError that passes through is ours (writing the restore)."""
    try:
        yield
    except UnpackError as err:
        raise _CopyBad(_("{file} is damaged: {reason}").format(file=name, reason=err))
    except SourceReadError as err:
        raise _CopyBad(_("{file} {problem}").format(file=name, problem=why_not_read(err)))


def _unpack_file(dest, store_id, run_id, f, identities, out, facts, decompress=True, hash_zst=True, task=None):
    with _copy_failures(f["name"]):
        return unpack_data_file(dest, store_id, run_id, f, identities, out, facts, decompress, hash_zst, task)


def _restore_facts(dest, store_id, run_id, name, f, identities, final, temps) -> dict:
    buf = BoundedBuffer()
    got = _unpack_file(dest, store_id, run_id, f, identities, buf, None)
    if got.stored_blake3 != f["blake3"]:
        raise _CopyBad(_("{file} is damaged: its BLAKE3 differs from MANIFEST.b3").format(file=name))
    data = buf.getvalue()
    try:
        facts = parse_facts(data)
    except ValueError as err:
        raise _CopyBad(_("{file}: {reason}").format(file=name, reason=err))
    tmp, out = _open_temp(final, temps)
    with out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    return facts


def _restore_one(dest, store_id, run_id, name, f, final, identities, facts, checks: _Checks, temps) -> None:
    kind = f["kind"]
    if kind == "journals" and checks.journals == "authenticate":
        # Authenticated like every file (its BLAKE3 is in the signed MANIFEST.b3), neither decrypted nor written.
        with _copy_failures(name):
            authenticate(dest, store_id, run_id, f)
        return
    out = None
    if final is not None:
        tmp, out = _open_temp(final, temps)
    elif kind == "journals" and checks.journals == "check":
        # The drill walks the tar's members as it streams, as restore --journals would hold them when extracting.
        out = StreamCheck(required_members(facts.get("journals") if isinstance(facts.get("journals"), dict) else None))
    try:
        # The drill's journals check decompresses too: it proves the stream gives back the recorded size.
        decompress = kind != "journals" or checks.journals in ("check", "extract") or journals_need_decompressing(
            facts.get(kind) if isinstance(facts.get(kind), dict) else None)
        hash_zst = kind != "snapshot"  # the facts hold the snapshot's plain hash
        if final is None:
            got = _unpack_file(dest, store_id, run_id, f, identities, out, facts, decompress, hash_zst, checks.task)
        else:
            with _EarlySync(out) as early:
                got = _unpack_file(dest, store_id, run_id, f, identities, early, facts, decompress, hash_zst,
                                   checks.task)
            out.flush()
            os.fsync(out.fileno())
    finally:
        if isinstance(out, StreamCheck):
            tar_wrong = out.result()
        elif out is not None:
            out.close()
    if got.stored_blake3 != f["blake3"]:
        raise _CopyBad(_("{file} is damaged: its BLAKE3 differs from MANIFEST.b3").format(file=name))
    if kind == "journals":
        part = facts.get("journals") if isinstance(facts.get("journals"), dict) else None
        wrong = journals_mismatch(part, got)
        if wrong:
            raise _CopyBad(_("{file} {problem}").format(file=name, problem=wrong))
        if isinstance(out, StreamCheck) and tar_wrong:
            raise _CopyBad(_("{reason}: this copy is damaged").format(reason=tar_wrong))
    elif kind == "snapshot":
        snap = facts["snapshot"]
        if snap.get("plain_blake3") != got.plain_blake3:
            raise _CopyBad(_("{file} decrypts to a database that differs from the one recorded at archive "
                             "time").format(file=name))
        kind = reader_of(snap)
        with open(tmp, "rb") as fh:
            bad = kind.check_stream(fh.read(100), got.plain_size, snap)
        if checks.snapshot and not bad:
            database_check = checks.progress.task(_("Checking the restored database"), None) \
                if checks.integrity != "none" else NO_TASK
            bad = kind.check_restored(tmp, snap, checks.integrity)
            database_check.done()
        if bad:
            raise _CopyBad(_("{file}: {reason}").format(file=name, reason="; ".join(bad)))
