"""Restore: the first copy that verifies, decrypted through temporary names, published only once authenticated."""

from __future__ import annotations

import os
import shutil
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.config import Config
from pipeline.destinations import open_destination
from pipeline.errors import CannotRun, CheckFailed, CoffreError, UsageError
from pipeline.manifest.format import valid_name
from pipeline.unpack.check import check_snapshot, parse_facts
from pipeline.unpack.stream import SourceReadError, UnpackError, unpack
from pipeline.snapshot import open_source
from pipeline.verify.copy import Problem, VerifyOptions, verify_run
from pipeline.verify.deep import require_matching_identity

TMP_PREFIX = ".coffre-partial-"


@dataclass
class RestoreResult:
    destination: str
    run_id: str
    out_dir: Path
    files: list[Path] = field(default_factory=list)
    facts: dict = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)  # copies passed over, and why
    seconds: float = 0.0


def refuse_live_folder(cfg: Config, out_dir: Path) -> None:
    """Never write beside the live database: a restore must not be mistaken for, or clobber, the till's data."""
    source = open_source(cfg.source)
    live = getattr(source, "path", None)
    if live is None:
        return
    live_dir = Path(live).resolve().parent
    target = out_dir.resolve()
    if target == live_dir:
        raise UsageError(f"Refusing to restore into {out_dir}: it is the live database's folder ({live_dir}); "
                         "restore into a new folder.")


def restore(cfg: Config, identities: list, out_dir: Path, run_id: str | None = None, specs: list[str] | None = None,
            say=lambda m: None, check: bool = True) -> RestoreResult:
    started = time.time()
    out_dir = Path(out_dir).absolute()
    refuse_live_folder(cfg, out_dir)
    specs = specs or cfg.destinations
    if not specs:
        raise UsageError("No destination to restore from: give --from DEST or configure destinations.")
    skipped: list[str] = []
    reachable = 0
    for spec in specs:
        dest = open_destination(spec)
        try:
            dest.check_ready()
            runs = dest.runs(cfg.store_id)
        except (CoffreError, OSError) as err:
            skipped.append(f"{dest.describe()}: {err}")
            continue
        reachable += 1
        chosen = run_id or _latest_signed(dest, cfg.store_id, runs)
        if chosen is None or chosen not in runs:
            skipped.append(f"{dest.describe()}: {'run ' + run_id + ' is not there' if run_id else 'no complete run'}")
            continue
        problems: list[Problem] = []
        rep = verify_run(dest, cfg.store_id, chosen, VerifyOptions(cfg.signing_public_key, read_data=lambda r: False), problems)
        if problems or not rep.complete or not rep.manifest:
            skipped.append(f"{dest.describe()} / {chosen}: " + ("; ".join(" ".join(x for x in (p.file, p.message) if x) for p in problems[:3])
                                                    or "not a complete run"))
            continue
        require_matching_identity(identities, rep.manifest, dest.describe())
        try:
            files, facts = _unpack_run(dest, cfg.store_id, rep.manifest, identities, out_dir, check)
        except _CopyBad as err:
            skipped.append(f"{dest.describe()} / {chosen}: {err}")
            say(f"Copy {dest.describe()} is damaged ({err}); trying the next one.")
            continue
        return RestoreResult(dest.describe(), chosen, out_dir, files, facts, skipped, time.time() - started)
    if not reachable:
        raise CannotRun("No copy can be reached: " + "; ".join(skipped))
    raise CheckFailed("No copy restores: " + "; ".join(skipped))


class _CopyBad(Exception):
    pass


def extract_journals(tar_path: Path, final: Path) -> Path:
    """Extracts the journals tar into a partial folder beside `final`, returned for the caller to publish once
    everything is checked: plain files under journals/ only, nothing else, nowhere else."""
    partial = final.with_name(TMP_PREFIX + final.name + ".d")
    partial.mkdir()
    try:
        with tarfile.open(tar_path, mode="r:") as tar:
            for member in tar:
                parts = member.name.split("/")
                if len(parts) != 2 or parts[0] != "journals" or not valid_name(parts[1]) or not member.isfile():
                    raise _CopyBad(f"journals.tar holds {member.name[:80]!r}, which is not a journal file")
                src = tar.extractfile(member)
                with open(partial / parts[1], "xb") as out:
                    shutil.copyfileobj(src, out, 1 << 20)
        return partial
    except BaseException as err:
        shutil.rmtree(partial, ignore_errors=True)
        if isinstance(err, tarfile.TarError):
            raise _CopyBad(f"journals.tar cannot be read ({err})")
        raise


def _latest_signed(dest, store_id: str, runs: list[str]) -> str | None:
    for rid in reversed(runs):
        try:
            if "MANIFEST.b3.minisig" in dest.files(store_id, rid):
                return rid
        except OSError:
            continue
    return None


def _unpack_run(dest, store_id: str, manifest: dict, identities: list, out_dir: Path, check: bool):
    """Writes every data file to a temporary name, checks all, then renames: all or nothing."""
    out_dir.mkdir(parents=True, exist_ok=True)
    listed = {f["name"]: f for f in manifest["files"]}
    plan = []
    for name, f in listed.items():
        plain = name.removesuffix(".age").removesuffix(".zst")
        final = out_dir / ("journals" if f["kind"] == "journals" else plain)
        if final.exists() or final.is_symlink():
            raise UsageError(f"{final} already exists; restore never writes over a file.")
        plan.append((name, f, final))
    # facts first: they say what the rest must be.
    plan.sort(key=lambda p: p[1]["kind"] != "facts")
    temps: list[tuple[Path, Path]] = []
    facts = None
    try:
        for name, f, final in plan:
            tmp = out_dir / (TMP_PREFIX + final.name)
            with open(tmp, "xb") as out:
                temps.append((tmp, final))
                try:
                    with dest.open_read(store_id, manifest["run_id"], name) as src:
                        got = unpack(src, identities, out)
                except UnpackError as err:
                    raise _CopyBad(f"{name} is damaged: {err}")
                except (SourceReadError, FileNotFoundError) as err:
                    raise _CopyBad(f"{name} cannot be read ({err.strerror or err})")
                out.flush()
                os.fsync(out.fileno())
            if got.stored_blake3 != f["blake3"]:
                raise _CopyBad(f"{name} is damaged: its BLAKE3 differs from MANIFEST.b3")
            if f["kind"] == "facts":
                try:
                    with open(tmp, "rb") as fh:
                        facts = parse_facts(fh.read(16 << 20))
                except ValueError as err:
                    raise _CopyBad(f"{name}: {err}")
            elif f["kind"] == "journals" and facts is not None:
                if (facts.get("journals") or {}).get("plain_blake3") != got.plain_blake3:
                    raise _CopyBad(f"{name} decrypts to journals that differ from the ones recorded at archive time")
            elif f["kind"] == "snapshot" and facts is not None:
                snap = facts["snapshot"]
                if snap.get("plain_blake3") != got.plain_blake3:
                    raise _CopyBad(f"{name} decrypts to a database that differs from the one recorded at archive time")
                if check:
                    bad = check_snapshot(tmp, snap)
                    if bad:
                        raise _CopyBad(f"{name}: " + "; ".join(bad))
        ready = []  # everything unpacked and checked before the first file is published
        for tmp, final in temps:
            if final.name == "journals":
                ready.append((extract_journals(tmp, final), final))
                tmp.unlink()
            else:
                ready.append((tmp, final))
        for src, final in ready:
            os.rename(src, final)
        temps = []
        return [final for _, _, final in plan], facts or {}
    finally:
        for tmp, _ in temps:
            try:
                tmp.unlink()
            except OSError:
                pass

