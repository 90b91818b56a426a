#!/usr/bin/env python3
"""Coffre's benchmark: `coffre archive / verify / restore` against restic, borg and the stock
`sqlite3 .backup | zstd | age` pipeline, on the same sample shop database, as ratios.

This is NOT a test (pytest only collects tests/). Standard library only; run it with the
project's virtualenv so that the `coffre` beside the interpreter is used:

    .venv/bin/python bench/run.py [--days N] [--repeat K] [--work DIR] [--json OUT] [--cold] [--profile]
    .venv/bin/python bench/run.py --shop large --scale 0.014 --repeat 1 --json large.json
    .venv/bin/python bench/run.py --compare small.json large.json

See bench/README.md for what it measures and how to read the table.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
FIRST = -1  # the repetition number of the first backups, made once before the evenings
STORE_ID = "bench"
RUN_FOLDER = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{6}$")
PASSWORD = "coffre-bench-not-a-secret"



def rotated(rows: list, rep: int) -> list:
    """The rows, started one further along at each repetition: no tool always runs first (or last)."""
    k = rep % len(rows)
    return rows[k:] + rows[:k]

class BenchError(Exception):
    """A clear, one-sentence reason why the benchmark cannot go on."""


# --------------------------------------------------------------------------- processes


@dataclass
class Proc:
    argv: list[str]
    stdin: str | None = None  # a file to read from (only for the first process of a stage)
    stdout: str | None = None  # a file to write to (only for the last process of a stage)
    cwd: str | None = None


@dataclass
class Measure:
    seconds: float
    peak_kb: int  # max over sequential stages of the sum of the concurrent processes' max RSS


class TreeSampler:
    """The largest sum of resident memory over the processes a stage started and their descendants, sampled every
    50 ms from /proc. wait4 gives each child's own peak, and for a child's helper processes only the largest one: a
    command that runs a helper beside itself (coffre's first export) would show less than it holds."""

    PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024

    def __init__(self, pids: list[int]):
        self.roots, self.peak_kb = set(pids), 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while not self.stop.wait(0.05):
            self.peak_kb = max(self.peak_kb, self._sample())

    def _sample(self) -> int:
        total, todo, seen = 0, list(self.roots), set()
        while todo:
            pid = todo.pop()
            if pid in seen:
                continue
            seen.add(pid)
            try:
                with open(f"/proc/{pid}/statm", "rb") as f:
                    total += int(f.read().split()[1]) * self.PAGE_KB
                for tid in os.listdir(f"/proc/{pid}/task"):
                    with open(f"/proc/{pid}/task/{tid}/children", "rb") as f:
                        todo.extend(int(c) for c in f.read().split())
            except (OSError, ValueError, IndexError):
                continue  # gone meanwhile
        return total

    def finish(self) -> int:
        self.stop.set()
        self.thread.join()
        return self.peak_kb


class Runner:
    """Runs commands with a clean environment, times them, and takes each child's max RSS from wait4 (and the
    largest sum over a command's helper processes, from TreeSampler)."""

    def __init__(self, env: dict, logs: Path, cold: bool):
        self.env = env
        self.logs = logs
        self.cold = cold
        self.cold_status = "off (warm page cache)"
        if cold:
            ok, why = drop_caches()
            self.cold_status = ("on: page cache dropped before each timed command (tmpfs contents stay in memory)"
                                if ok else f"requested but FAILED ({why}); the page cache stayed warm")
            self.cold = ok

    def run(self, label: str, stages: list) -> Measure:
        """`stages` run one after the other; a stage is a list of Proc piped together, or a callable."""
        if self.cold:
            drop_caches()
        log = self.logs / (slug(label) + ".log")
        peak = 0
        # What the commands before left to write goes to disk first, untimed: otherwise the next command to flush a
        # file (coffre's restore does, before it publishes) pays for all of it. Measured on this machine: the first
        # fdatasync of 445 MB after other tools' restores took 2.3 s, the next 0.28 s; coffre's restore showed 2.8 to
        # 3.6 s in the benchmark and 0.86 to 1.02 s run alone.
        os.sync()
        started = time.perf_counter()
        with open(log, "wb") as logf:
            for stage in stages:
                if callable(stage):
                    stage()
                    continue
                peak = max(peak, self._stage(stage, logf, label, log))
        seconds = time.perf_counter() - started
        return Measure(seconds, peak)

    def _stage(self, procs: list[Proc], logf, label: str, log: Path) -> int:
        children = []
        opened = []
        prev_out = None
        try:
            for i, p in enumerate(procs):
                if i == 0:
                    stdin = open(p.stdin, "rb") if p.stdin else subprocess.DEVNULL
                    if p.stdin:
                        opened.append(stdin)
                else:
                    stdin = prev_out
                if i == len(procs) - 1:
                    stdout = open(p.stdout, "wb") if p.stdout else logf
                    if p.stdout:
                        opened.append(stdout)
                else:
                    stdout = subprocess.PIPE
                try:
                    child = subprocess.Popen(p.argv, stdin=stdin, stdout=stdout, stderr=logf, cwd=p.cwd, env=self.env)
                except OSError as err:
                    raise BenchError(f"cannot start {p.argv[0]} ({err.strerror})")
                if prev_out is not None:
                    prev_out.close()  # the child holds it now; EOF/SIGPIPE flow as in a shell pipeline
                prev_out = child.stdout
                children.append(child)
        finally:
            for f in opened:
                f.close()
        rss = 0
        failed = []
        sampler = TreeSampler([c.pid for c in children])
        try:
            for child in children:
                _, status, usage = os.wait4(child.pid, 0)
                child.returncode = os.waitstatus_to_exitcode(status)
                rss += usage.ru_maxrss  # kilobytes on Linux
                if child.returncode != 0:
                    failed.append(f"{' '.join(Path(a).name for a in child.args[:4])} exited {child.returncode}")
        except BaseException:  # Ctrl-C: stop the children too, the way a terminal would, then give up
            _stop(children)
            raise
        finally:
            rss = max(rss, sampler.finish())
        if failed:
            logf.flush()
            tail = log.read_text(errors="replace").strip().splitlines()[-6:]
            raise BenchError(f"{label}: {', '.join(failed)}; last output ({log}):\n    " + "\n    ".join(tail))
        return rss


def _stop(children: list) -> None:
    import signal
    for child in children:
        if child.returncode is None:
            try:
                child.send_signal(signal.SIGINT)  # coffre cleans up its scratch and unsigned run on SIGINT
            except OSError:
                pass
    # A child started with SIGINT ignored (a background job) does not hear it: then SIGTERM, then SIGKILL.
    for sig, grace in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        deadline = time.monotonic() + grace
        for child in children:
            if child.returncode is None:
                try:
                    child.wait(max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    pass
        alive = [c for c in children if c.returncode is None]
        if not alive:
            return
        for child in alive:
            try:
                child.send_signal(sig)
            except OSError:
                pass
    for child in children:
        if child.returncode is None:
            child.wait()


def drop_caches() -> tuple[bool, str]:
    try:
        os.sync()
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        return True, ""
    except OSError as err:
        return False, err.strerror or str(err)


def slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text).strip("-")[:80]


def tree_size(path: Path) -> int:
    """Apparent size of every regular file under `path` (or of `path` itself)."""
    if path.is_file():
        return path.stat().st_size
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except FileNotFoundError:
                pass
    return total


def rmtree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
    if path.exists():
        raise BenchError(f"cannot remove {path}")


def find_tools() -> dict[str, str]:
    tools: dict[str, str] = {}
    here = Path(sys.executable).parent / "coffre"  # the venv's coffre, beside this interpreter
    candidates = [here, REPO_ROOT / ".venv" / "bin" / "coffre"]
    coffre = next((str(c) for c in candidates if c.is_file() and os.access(c, os.X_OK)), shutil.which("coffre"))
    if not coffre:
        raise BenchError("`coffre` is not installed: run `python3 -m venv .venv && .venv/bin/pip install -e .` "
                         "and start the benchmark with .venv/bin/python bench/run.py")
    tools["coffre"] = coffre
    python = Path(coffre).parent / "python"  # the interpreter of coffre's own environment
    tools["python"] = str(python) if python.is_file() else sys.executable
    missing = []
    for name, pkg in (("restic", "restic"), ("borg", "borgbackup"), ("age", "age"), ("zstd", "zstd"),
                      ("sqlite3", "sqlite3"), ("b3sum", "b3sum")):
        path = shutil.which(name)
        if path:
            tools[name] = path
        else:
            missing.append(f"{name} (Debian package {pkg})")
    if missing:
        raise BenchError("missing stock tool(s): " + ", ".join(missing) + "; install them, e.g. `apt-get install "
                         + " ".join(m.split("package ")[1].rstrip(")") for m in missing) + "`")
    return tools


def tool_versions(tools: dict[str, str], env: dict, coffre: list[str]) -> dict[str, str]:
    out = {}
    for name, args in (("coffre", ["--version"]), ("restic", ["version"]), ("borg", ["--version"]),
                       ("age", ["--version"]), ("zstd", ["--version"]), ("sqlite3", ["--version"]),
                       ("b3sum", ["--version"])):
        try:
            argv = [*coffre, *args] if name == "coffre" else [tools[name], *args]
            r = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=30, cwd="/")
            line = (r.stdout or r.stderr).strip().splitlines()[0]
            words = line.replace(",", " ").split()
            # "restic 0.14.0 compiled…", "borg 1.2.4", "coffre, version 0.1.0", "v1.1.1", "*** Zstandard CLI (64-bit) v1.5.4…"
            out[name] = next((w.lstrip("v") for w in words if w.lstrip("v")[:1].isdigit()), line[:40])
        except (OSError, subprocess.SubprocessError, IndexError):
            out[name] = "?"
    return out


def _code_files(root: Path, frozen: bool):
    """(logical name, path) of the code and data Coffre runs: pipeline/ and schemas/ (which installs as
    pipeline/schemas, and sits there in a frozen copy)."""
    tops = [("pipeline", root / "pipeline")] + ([] if frozen else [("pipeline/schemas", root / "schemas")])
    for name, top in tops:
        for path in sorted(top.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix in (".py", ".json", ".sql", ".txt"):
                yield name + "/" + str(path.relative_to(top)), path


def code_fingerprint(root: Path = REPO_ROOT, frozen: bool = False) -> dict:
    """Which Coffre is measured: a digest of its code and schemas, and for the repository its git HEAD and
    whether the tree differs from it. Taken at the start and at the end, so that a change shows."""
    import hashlib
    h = hashlib.sha256()
    files = 0
    for name, path in sorted(_code_files(root, frozen)):
        h.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
        files += 1
    out = {"code_sha256": h.hexdigest()[:16], "files": files}
    if frozen:
        return out
    try:
        out["git_head"] = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
                                         capture_output=True, text=True, timeout=10).stdout.strip() or "?"
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--", "pipeline", "schemas"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        out["uncommitted_changes"] = bool(dirty)
    except (OSError, subprocess.SubprocessError):
        out["git_head"] = "?"
    return out


def freeze_code(work: Path) -> Path:
    """A copy of pipeline/ (with schemas/ as pipeline/schemas, as installed) taken now: every command of the
    benchmark runs this copy, so that someone editing the repository meanwhile cannot mix two versions."""
    tmp = Path(tempfile.mkdtemp(prefix="code-", dir=work))
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(REPO_ROOT / "pipeline", tmp / "pipeline", ignore=ignore)
    if (REPO_ROOT / "schemas").is_dir() and not (tmp / "pipeline" / "schemas").exists():
        shutil.copytree(REPO_ROOT / "schemas", tmp / "pipeline" / "schemas", ignore=ignore)
    return tmp


def quiet(argv: list[str], env: dict, what: str, cwd: str | None = None) -> str:
    """An untimed set-up step; fails with a clear sentence."""
    r = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=cwd, stdin=subprocess.DEVNULL)
    if r.returncode != 0:
        tail = (r.stderr or r.stdout).strip().splitlines()[-5:]
        raise BenchError(f"{what} failed (exit {r.returncode}): " + " | ".join(tail))
    return r.stdout


# --------------------------------------------------------------------------- set-up

# The shops: (registers, tickets a day over all the registers, days). "small" is `coffre sample-db`'s own
# shape (2 registers, 400 a day); "large" is issue 18's supermarket: 10 registers x 3,000 tickets a day each,
# for 6 years (65.7 million tickets, about 33 GB: see bench/README.md for what fits where).
SHOPS = {"small": (2, 400, 365), "large": (10, 30_000, 2190)}
BYTES_PER_TICKET = 500  # measured: 73.8 MB for 146,000 tickets (2 registers), 7.3 MB for 15,000 (10 registers)


@dataclass(frozen=True)
class Shape:
    registers: int
    tickets_per_day: int  # over all the registers, as `coffre sample-db --tickets-per-day`
    days: int

    @property
    def label(self) -> str:
        """Names the cached sample, logs and live copy; the small shop keeps its old name (db-365d)."""
        if (self.registers, self.tickets_per_day) == SHOPS["small"][:2]:
            return f"{self.days}d"
        return f"{self.registers}r-{self.tickets_per_day}t-{self.days}d"

    @property
    def tickets(self) -> int:
        return self.tickets_per_day * self.days

    def describe(self) -> str:
        return (f"{self.days} days x {self.tickets_per_day:,} tickets a day over {self.registers} registers "
                f"({self.tickets:,} tickets)")


# Made with pipeline.sample.generate (the CLI has no --registers): the same bytes as `coffre sample-db` for
# the small shop. workers: the signatures in another process while the next day is drawn.
BUILD = """import json, sys, time
from pipeline.sample import generate
path, registers, per_day, days, workers = sys.argv[1], *map(int, sys.argv[2:6])
import inspect
if "workers" not in inspect.signature(generate).parameters:  # a generator from before the signing processes
    workers = 0
t = time.perf_counter()
counts = generate(path, days=days, tickets_per_day=per_day, registers=registers, seed=1,
                  **({"workers": workers} if workers else {}))
print(json.dumps({"counts": counts, "seconds": round(time.perf_counter() - t, 2), "workers": workers}))
"""


def sample_db(python: str, env: dict, work: Path, shape: Shape) -> tuple[Path, dict]:
    """The sample shop of `shape`, built once and reused (cached under --work by all its parameters).
    Returns the database and how its build went (kept beside it as build.json)."""
    folder = work / f"db-{shape.label}"
    db = folder / "caisse.db"
    if db.is_file():
        print(f"Reusing the sample database {db} ({db.stat().st_size / 1e6:.1f} MB).", flush=True)
        meta = folder / "build.json"
        return db, (json.loads(meta.read_text()) if meta.is_file() else {})
    # The sample, its working copy, coffre's scratch snapshot and a restore, each the database's size, where
    # the work folder is (the scratch and restores are there on a one-disk machine): refuse now rather than
    # fill the disk after an hour of building. The destinations are checked later (choose_dest_root).
    need = 4 * shape.tickets * BYTES_PER_TICKET
    free = shutil.disk_usage(work).free
    if free < need:
        raise BenchError(f"the sample ({shape.describe()}) needs about {need / 1e9:.0f} GB in {work} (itself, the "
                         f"working copy, a scratch snapshot and a restore), {free / 1e9:.0f} GB are free: give "
                         f"--scale (e.g. --scale {max(0.001, round(free / need * 0.8, 3))}) or another --work")
    building = work / f"db-{shape.label}.building"
    rmtree(building)
    building.mkdir(parents=True)
    workers = min(2, max(1, len(os.sched_getaffinity(0)) - 1))  # more do not help: drawing the rows is the limit
    print(f"Building the sample database ({shape.describe()}) in {folder}, signing in {workers} more "
          f"process(es) …", flush=True)
    t = time.perf_counter()
    out = quiet([python, "-P", "-c", BUILD, str(building / "caisse.db"), str(shape.registers),
                 str(shape.tickets_per_day), str(shape.days), str(workers)], env, "building the sample")
    meta = json.loads(out.strip().splitlines()[-1])
    meta["wall_seconds"] = round(time.perf_counter() - t, 2)
    meta["tickets_per_second"] = round(meta["counts"]["tickets"] / meta["seconds"])
    full = SHOPS["large"][1] * SHOPS["large"][2]
    meta["full_large_shop_extrapolated_seconds"] = round(full / meta["tickets_per_second"])
    meta["bytes"] = (building / "caisse.db").stat().st_size
    (building / "build.json").write_text(json.dumps(meta, indent=2) + "\n")
    rmtree(folder)
    os.rename(building, folder)
    print(f"  built in {meta['seconds']:.0f} s ({meta['tickets_per_second']:,} tickets/s): {db.stat().st_size / 1e6:.1f} MB; "
          f"the full large shop ({full:,} tickets) would take about {meta['full_large_shop_extrapolated_seconds'] / 60:.0f} "
          f"min at this rate.", flush=True)
    return db, meta


def choose_dest_root(db: Path, requested: str | None, need: int) -> tuple[Path, bool, str]:
    """Where copies and repositories go: another device than the database when possible.
    Returns (parent folder, same_device, sentence)."""
    db_dev = db.stat().st_dev
    if requested:
        base = Path(requested).absolute()
        base.mkdir(parents=True, exist_ok=True)
    else:
        shm = Path("/dev/shm")
        base = None
        if shm.is_dir() and os.access(shm, os.W_OK) and shm.stat().st_dev != db_dev:
            if shutil.disk_usage(shm).free > need:
                base = shm
        if base is None:
            base = db.parent.parent
    same = base.stat().st_dev == db_dev
    fs = _fs_type(base)
    where = (f"{base} ({fs}, {'the SAME device as' if same else 'another device than'} the database"
             + ("; coffre runs with --allow-same-disk" if same else "") + ")")
    return base, same, where


def _fs_type(path: Path) -> str:
    best, fstype = "", "?"
    try:
        for line in Path("/proc/mounts").read_text().splitlines():
            parts = line.split()
            if len(parts) > 2 and str(path).startswith(parts[1]) and len(parts[1]) > len(best):
                best, fstype = parts[1], parts[2]
    except OSError:
        pass
    return fstype


# --------------------------------------------------------------------------- the benchmark


@dataclass
class Row:
    group: str  # archive | verify | restore
    key: str
    label: str
    times: list[float] = field(default_factory=list)
    peaks_kb: list[int] = field(default_factory=list)
    written: list[int] = field(default_factory=list)
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.times) if self.times else float("nan")


class Bench:
    def __init__(self, args, tools: dict):
        self.args = args
        self.tools = tools
        self.work = Path(args.work).absolute()
        self.work.mkdir(parents=True, exist_ok=True)
        self.env = self._env()
        self.rows: dict[str, Row] = {}
        self.info: dict = {}

    def _env(self) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RESTIC_", "BORG_", "COFFRE_"))}
        env.update({
            "RESTIC_PASSWORD": PASSWORD,
            "RESTIC_CACHE_DIR": str(self.work / "cache" / "restic"),
            "RESTIC_PROGRESS_FPS": "0.016",
            "BORG_PASSPHRASE": PASSWORD,
            "BORG_BASE_DIR": str(self.work / "cache" / "borg"),  # borg's config, keys, security and cache
            "BORG_RELOCATED_REPO_ACCESS_IS_OK": "yes",
            "BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK": "yes",
            "BORG_DISPLAY_PASSPHRASE": "no",
            "LC_ALL": "C.UTF-8",
            # An installed coffre has its bytecode compiled (pip does it); keep that cache out of the source tree.
            "PYTHONPYCACHEPREFIX": str(self.work / "pycache"),
        })
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        return env

    def row(self, group: str, key: str, label: str, note: str = "") -> Row:
        if key not in self.rows:
            self.rows[key] = Row(group, key, label, note=note)
        return self.rows[key]

    def record(self, key: str, m: Measure, written: int | None = None) -> None:
        r = self.rows[key]
        r.times.append(m.seconds)
        r.peaks_kb.append(m.peak_kb)
        if written is not None:
            r.written.append(written)

    # ---------------------------------------------------------------- set-up

    def setup(self) -> None:
        a = self.args
        if a.live_code:
            self.coffre_argv = [self.tools["coffre"]]
            self.code_note = f"the live tree ({REPO_ROOT}), as the venv's coffre runs it"
        else:
            frozen = freeze_code(self.work)
            self.frozen = frozen
            self.env["PYTHONPATH"] = str(frozen)
            # -P: no current folder on sys.path, so the frozen copy wins over a checkout in the cwd.
            self.coffre_argv = [self.tools["python"], "-P", "-m", "pipeline"]
            self.code_note = f"a copy of {REPO_ROOT}/pipeline (+ schemas) frozen at the start in {frozen}"
            print(f"Measuring {self.code_note}.", flush=True)
        self.shape = shape = a.shape
        label = shape.label
        cached, self.build = sample_db(self.tools["python"], self.env, self.work, shape)
        self.cached_db = cached
        # The shop sells between two evenings' backups (--sales): a working copy takes those sales, so
        # the cached sample stays as built.
        live = self.work / f"live-{label}"
        rmtree(live)
        live.mkdir()
        self.db = live / cached.name
        shutil.copyfile(cached, self.db)
        self.sold = 0
        wal = Path(str(self.db) + "-wal")
        if wal.exists() and wal.stat().st_size:
            print(f"Note: {wal} holds {wal.stat().st_size} bytes; counted in the input, but restic and borg, "
                  "given the database file only, do not read it.")
        self.input_size = sum(tree_size(Path(str(self.db) + s)) for s in ("", "-wal") if Path(str(self.db) + s).exists())
        base, same, where = choose_dest_root(self.db, a.dest_dir, need=4 * self.input_size)
        self.root = Path(tempfile.mkdtemp(prefix=f"coffre-bench-{label}-", dir=base))
        self.same_disk = same
        self.A, self.B = self.root / "A", self.root / "B"
        self.stock_dir = self.root / "stock"
        for d in (self.A, self.B, self.stock_dir):
            d.mkdir()
        self.scratch = Path(tempfile.gettempdir())
        self.setup_dir = self.work / "setup"
        rmtree(self.setup_dir)
        self.setup_dir.mkdir()
        rmtree(self.work / "cache")
        self.logs = self.work / "logs" / label
        rmtree(self.logs)
        self.logs.mkdir(parents=True)
        self.restore_root = self.work / "restored"
        rmtree(self.restore_root)
        self.restore_root.mkdir()
        self.config = self.setup_dir / "coffre.toml"
        self.identity = self.setup_dir / "identity.txt"
        quiet([*self.coffre_argv, "init", "--config", str(self.config), "--source", f"sqlite:{self.db}",
               "--to", str(self.A), "--to", str(self.B), "--identity-out", str(self.identity), "--store-id", STORE_ID,
               "--i-know"],  # the identity beside the database, in the work folder: a benchmark's, not a shop's
              self.env, "coffre init")
        import tomllib
        recipients = tomllib.loads(self.config.read_text())["encryption"]["recipients"]
        self.recipient = recipients[0]  # the stock pipeline encrypts to the same age recipient
        self.runner = Runner(self.env, self.logs, a.cold)
        self.info = {
            "days": shape.days, "repeat": a.repeat,
            "shop": {"registers": shape.registers, "tickets_per_day": shape.tickets_per_day, "days": shape.days,
                     "label": label, "described": shape.describe(), "build": self.build}, "database": str(self.db), "input_bytes": self.input_size,
            "database_device": _dev(self.db), "destinations": where, "destination_root": str(self.root),
            "destination_device": _dev(self.root), "scratch": f"{self.scratch} (device {_dev(self.scratch)})",
            "restore_target": f"{self.restore_root} (device {_dev(self.restore_root)})",
            "page_cache": self.runner.cold_status, "cpus": len(os.sched_getaffinity(0)),
            "sales_per_second_backup": a.sales,
            "load_average_at_start": round(os.getloadavg()[0], 2),
            "code_measured": self.code_note,
            "code_at_start": code_fingerprint(),
            "code_frozen": code_fingerprint(self.frozen, frozen=True) if not a.live_code else None,
            "machine": f"{platform.system()} {platform.release()} {platform.machine()}, Python {platform.python_version()}",
            "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "versions": tool_versions(self.tools, self.env, self.coffre_argv),
        }
        print(f"Copies and repositories under {where}: {self.root}", flush=True)
        print(f"Scratch (coffre's snapshot, the stock pipeline's .backup): {self.info['scratch']}; "
              f"page cache: {self.runner.cold_status}", flush=True)

    def sell(self) -> None:
        """A day's trading (--sales tickets, signed and chained like the till's) before an evening's backups."""
        n = self.args.sales
        if not n:
            return
        code = ("import sys; from pipeline.sample import SaleWriter; w = SaleWriter(sys.argv[1], seed=1); "
                "[w.commit_ticket() for _ in range(int(sys.argv[2]))]")
        quiet([self.tools["python"], "-P", "-c", code, str(self.db), str(n)], self.env, "sales into the sample")
        self.sold += n

    def coffre(self, *args: str) -> list[str]:
        extra = ["--allow-same-disk"] if self.same_disk and args[0] == "archive" else []
        return [*self.coffre_argv, args[0], "--config", str(self.config), *args[1:], *extra]

    def reset_coffre(self) -> None:
        """A fresh store for each archive run: no earlier run, no history, empty destinations."""
        for d in (self.A / STORE_ID, self.B / STORE_ID):
            rmtree(d)
        for p in self.setup_dir.iterdir():
            if p.is_dir():
                rmtree(p)  # the state folder (history, lock, journal checkpoint) that `archive` creates

    def coffre_runs(self, dest: Path) -> list[Path]:
        """The run folders (format 2 keeps the blocks they share in blocks/ beside them)."""
        d = dest / STORE_ID
        return sorted(p for p in d.iterdir() if p.is_dir() and RUN_FOLDER.match(p.name)) if d.is_dir() else []

    def copies_size(self) -> int:
        """Every byte of both copies: run folders, the blocks they share, removal records."""
        return sum(tree_size(d / STORE_ID) for d in (self.A, self.B) if (d / STORE_ID).is_dir())

    # ---------------------------------------------------------------- archive

    def archive_phase(self) -> None:
        k = self.args.repeat
        self.row("archive", "coffre2", "coffre archive (2 copies), first run")
        after = f", after {self.args.sales:,} sales" if self.args.sales else ""
        self.row("archive", "coffre2b", f"coffre archive (2 copies), second run{after}")
        if self.args.one_copy:
            self.row("archive", "coffre1", "coffre archive --to A (1 copy), first")
        self.row("archive", "restic1", "restic backup, first (empty repo)")
        self.row("archive", "restic2", f"restic backup --force, second{after}")
        self.row("archive", "borg1", "borg create zstd,3, first (empty repo)")
        self.row("archive", "borg2", f"borg create zstd,3, second{after}")
        self.row("archive", "stock", "stock .backup|zstd -3 -T0|age (1 copy)")
        self.row("verify", "coffre_deep_all", f"coffre verify --deep, all {k + 1} runs (2 copies, once)")
        self.measure_floor()
        # First backups once (a fresh store, empty repositories); then each repetition is an evening: one
        # day's sales, then every tool's backup of the same file, in an order that rotates.
        print("  archive, first backups: coffre, restic, borg", flush=True)
        for unit in (self.u_coffre, self.u_restic, self.u_borg):
            unit(FIRST, False)
        units = [self.u_coffre, self.u_restic, self.u_borg, self.u_stock]
        for rep in range(k):
            last = rep == k - 1
            order = units[rep % len(units):] + units[:rep % len(units)]  # alternate, and rotate who goes first
            self.sell()
            print(f"  archive, evening {rep + 1}/{k}: " + ", ".join(u.__name__[2:] for u in order), flush=True)
            for unit in order:
                unit(rep, last)

    def measure_floor(self) -> None:
        """The floor of a first run (bench/floor.py): every signature of the sample verified once on every
        core, in this run, just before the first archives, on the sample as the first runs see it."""
        print("  floor: every signature of the sample verified once, on every core", flush=True)
        out = self.work / f"floor-{self.shape.label}.json"
        helper = Path(__file__).resolve().parent / "floor.py"
        quiet([self.tools["python"], "-P", str(helper), str(self.cached_db), "--json", str(out)], self.env,
              "the floor (bench/floor.py)")
        self.floor = json.loads(out.read_text())
        f = self.floor
        print(f"    {f['total_signatures']:,} signatures in {f['verify_seconds']:.1f} s on {f['threads']} threads "
              f"({f['us_per_signature_all_threads']} us each)", flush=True)

    def u_coffre(self, rep: int, last: bool) -> None:
        if self.args.one_copy and rep == FIRST:
            self.reset_coffre()
            m = self.runner.run(f"coffre-archive-1copy-{rep}", [[Proc(self.coffre("archive", "--yes", "--to", str(self.A)))]])
            self.record("coffre1", m, sum(tree_size(r) for r in self.coffre_runs(self.A)))
        if rep == FIRST:
            # First run: a fresh store (no earlier run, no history, so no journal checkpoint).
            self.reset_coffre()
            m = self.runner.run(f"coffre-archive-first-{rep}", [[Proc(self.coffre("archive", "--yes"))]])
            runs_a, runs_b = self.coffre_runs(self.A), self.coffre_runs(self.B)
            if len(runs_a) != 1 or len(runs_b) != 1:
                raise BenchError(f"coffre archive left {len(runs_a)} and {len(runs_b)} runs in A and B, expected 1 each")
            self.record("coffre2", m, self.copies_size())
            self.coffre_first = runs_a[0].name
            self.coffre_files = sorted(p.name for p in runs_a[0].iterdir())
            self.coffre_copy_size = tree_size(self.A / STORE_ID)  # the run and (format 2) its blocks
            self.state_after_first = self._save_state()
            return
        # An evening into the same store, after the day's sales: whatever Coffre carries over from the previous
        # run (the journals already checked and compressed, the snapshot blocks' frames) is used. It writes a
        # whole run again.
        before = self.copies_size()
        m = self.runner.run(f"coffre-archive-second-{rep}", [[Proc(self.coffre("archive", "--yes"))]])
        self.record("coffre2b", m, self.copies_size() - before)
        if last:
            # Once, with every run in the store: a deep verify opens each block the runs share once, so that a store
            # of many runs costs what its distinct blocks weigh (restic's check reads its packs once likewise).
            self.record("coffre_deep_all", self.runner.run(f"coffre-verify-deep-all-{rep}", [[Proc(self.coffre(
                "verify", "--deep", "--identity", str(self.identity)))]]))
            # Verify and restore work on a store holding the first run only, like restic's and borg's
            # repositories that hold the file's data once: the later runs are taken away, state and all.
            for r in self.coffre_runs(self.A) + self.coffre_runs(self.B):
                if r.name != self.coffre_first:
                    rmtree(r)
            self._restore_state(self.state_after_first)

    def _state_dirs(self) -> list[Path]:
        return [p for p in self.setup_dir.iterdir() if p.is_dir() and not p.name.startswith(".bench-")]

    def _save_state(self) -> Path:
        saved = self.setup_dir / ".bench-state"
        rmtree(saved)
        saved.mkdir()
        for d in self._state_dirs():
            shutil.copytree(d, saved / d.name, symlinks=True)
        return saved

    def _restore_state(self, saved: Path) -> None:
        for d in self._state_dirs():
            rmtree(d)
        for d in saved.iterdir():
            shutil.copytree(d, self.setup_dir / d.name, symlinks=True)
        rmtree(saved)

    def _restic(self, repo: Path, *args: str) -> list[str]:
        return [self.tools["restic"], "-r", str(repo), *args]

    def u_restic(self, rep: int, last: bool) -> None:
        repo = self.root / "restic"
        if rep == FIRST:
            rmtree(repo)
            rmtree(self.work / "cache" / "restic")
            quiet(self._restic(repo, "init"), self.env, "restic init")
            before = tree_size(repo)
            m = self.runner.run(f"restic-backup-first-{rep}", [[Proc(self._restic(repo, "backup", "--host", "bench", str(self.db)))]])
            self.record("restic1", m, tree_size(repo) - before)
            self.restic_repo = repo
            return
        after1 = tree_size(repo)
        # After the day's sales, as for Coffre. --force: re-read the file as restic must when the database
        # changed (a till's does every day); without it restic skips an unchanged file on its mtime.
        m = self.runner.run(f"restic-backup-second-{rep}",
                            [[Proc(self._restic(repo, "backup", "--force", "--host", "bench", str(self.db)))]])
        self.record("restic2", m, tree_size(repo) - after1)
        self.restic_repo = repo

    def _borg(self, *args: str) -> list[str]:
        return [self.tools["borg"], *args]

    def u_borg(self, rep: int, last: bool) -> None:
        repo = self.root / "borg"
        if rep == FIRST:
            rmtree(repo)
            rmtree(self.work / "cache" / "borg")
            quiet(self._borg("init", "--encryption", "repokey-blake2", str(repo)), self.env, "borg init")
            before = tree_size(repo)
            m = self.runner.run(f"borg-create-first-{rep}",
                                [[Proc(self._borg("create", "--compression", "zstd,3", f"{repo}::first-{rep}", str(self.db)))]])
            self.record("borg1", m, tree_size(repo) - before)
            self.borg_repo, self.borg_latest = repo, f"first-{rep}"
            return
        after1 = tree_size(repo)
        # After the day's sales. --files-cache=disabled: read and chunk the file again (as for a changed
        # database), dedup does the rest.
        m = self.runner.run(f"borg-create-second-{rep}",
                            [[Proc(self._borg("create", "--files-cache=disabled", "--compression", "zstd,3",
                                              f"{repo}::second-{rep}", str(self.db)))]])
        self.borg_latest = f"second-{rep}"
        self.record("borg2", m, tree_size(repo) - after1)
        self.borg_repo = repo

    def u_stock(self, rep: int, last: bool) -> None:
        tmp = self.scratch / f"coffre-bench-stock-{os.getpid()}.sqlite"
        out = self.stock_dir / "caisse.sqlite.zst.age"
        for p in (tmp, out):
            p.unlink(missing_ok=True)
        t = self.tools
        m = self.runner.run(f"stock-archive-{rep}", [
            [Proc([t["sqlite3"], str(self.db), f".backup '{tmp}'"])],
            [Proc([t["zstd"], "-3", "-T0", "-q", "-c", str(tmp)]), Proc([t["age"], "-r", self.recipient], stdout=str(out))],
            lambda: tmp.unlink(),
        ])
        self.record("stock", m, out.stat().st_size)
        self.stock_out = out

    # ---------------------------------------------------------------- verify

    def verify_phase(self) -> None:
        run_a = self.coffre_runs(self.A)[0]
        ident = str(self.identity)
        rows = [
            ("coffre_verify", "coffre verify (2 copies)", [[Proc(self.coffre("verify"))]]),
            ("coffre_deep", "coffre verify --deep (2 copies)", [[Proc(self.coffre("verify", "--deep", "--identity", ident))]]),
            ("coffre_deep1", "coffre verify --deep --from A (1 copy)",
             [[Proc(self.coffre("verify", "--deep", "--identity", ident, "--from", str(self.A)))]]),
            ("restic_check", "restic check --read-data",
             [[Proc(self._restic(self.restic_repo, "check", "--read-data"))]]),
            ("borg_check", "borg check --verify-data", [[Proc(self._borg("check", "--verify-data", str(self.borg_repo)))]]),
            ("stock_b3", "stock b3sum --check MANIFEST.b3 (1 copy)",
             [[Proc([self.tools["b3sum"], "--check", "MANIFEST.b3"], cwd=str(run_a))]]),
        ]
        self.alternate("verify", rows, lambda key, stages, rep: self.record(key, self.runner.run(f"{key}-{rep}", stages)))

    def alternate(self, group: str, rows: list, measure) -> None:
        """Each row's command in turn, --repeat times, in an order that rotates: measure(key, what, rep)."""
        k = self.args.repeat
        for key, label, _ in rows:
            self.row(group, key, label)
        for rep in range(k):
            print(f"  {group}, repetition {rep + 1}/{k}", flush=True)
            for key, _, what in rotated(rows, rep):
                measure(key, what, rep)

    # ---------------------------------------------------------------- restore

    def restore_phase(self) -> None:
        t = self.tools

        def target(key: str, rep: int) -> Path:
            return self.restore_root / f"{key}-{rep}"

        def coffre(rep):
            out = target("coffre", rep)
            return out, [[Proc(self.coffre("restore", "--identity", str(self.identity), "--out", str(out)))]]

        def restic(rep):
            out = target("restic", rep)
            return out, [[Proc(self._restic(self.restic_repo, "restore", "latest", "--target", str(out)))]]

        def borg(rep):
            out = target("borg", rep)
            out.mkdir()
            return out, [[Proc(self._borg("extract", f"{self.borg_repo}::{self.borg_latest}"), cwd=str(out))]]

        def stock(rep):
            out = target("stock", rep)
            out.mkdir()
            return out, [[Proc([t["age"], "-d", "-i", str(self.identity), str(self.stock_out)]),
                          Proc([t["zstd"], "-d", "-q", "-c"], stdout=str(out / "caisse.db"))]]

        rows = [("coffre_restore", "coffre restore --out NEW", coffre),
                ("restic_restore", "restic restore latest --target NEW", restic),
                ("borg_extract", "borg extract (into NEW)", borg),
                ("stock_restore", "stock age -d | zstd -d > NEW", stock)]

        def measure(key, make, rep):
            out, stages = make(rep)
            self.record(key, self.runner.run(f"{key}-{rep}", stages), tree_size(out))
            rmtree(out)

        self.alternate("restore", rows, measure)

    # ---------------------------------------------------------------- profile

    def profile(self) -> str:
        """`coffre archive` under cProfile in every thread (bench/profile_threads.py): a first run into a
        fresh store, then, after a day's sales (--sales), a second run into the same store, as the timed evenings
        are. Top entries of each."""
        import io
        import pstats
        self.reset_coffre()
        helper = Path(__file__).resolve().parent / "profile_threads.py"
        out = []
        for which in ("first", "second"):
            if which == "second":
                self.sell()
            prefix = self.work / f"archive-{self.shape.label}-{which}"
            cmd = [self.tools["python"], "-P", str(helper), str(prefix),
                   *self.coffre("archive", "--yes")[len(self.coffre_argv):]]
            quiet(cmd, self.env, f"coffre archive ({which} run) under cProfile", cwd=str(self.work))
            threads = json.loads(Path(str(prefix) + ".threads.json").read_text())
            out.append(f"--- {which} run: {threads['wall_seconds']:.1f} s wall under the profiler; threads: "
                       + ", ".join(f"{t['name']} {t['seconds']:.1f} s" for t in threads["threads"]))
            for title, key, restrict in (("by own time, top 14", "tottime", (14,)),
                                         ("coffre's own functions by cumulative time, top 16", "cumulative",
                                          (r"pipeline[/\\]", 16))):
                buf = io.StringIO()
                pstats.Stats(str(prefix) + ".all.prof", stream=buf).sort_stats(key).print_stats(*restrict)
                out.append(f"  {title}:")
                for line in buf.getvalue().splitlines():
                    if (not line.strip() or line.lstrip().startswith(("Ordered by", "List reduced"))
                            or str(prefix) in line or "function calls" in line):
                        continue
                    for root in (getattr(self, "frozen", None), REPO_ROOT):
                        if root:
                            line = line.replace(str(root) + "/", "")
                    out.append(line.replace(sys.base_prefix + "/lib/", ""))
            out.append(f"(all threads merged; {prefix}.all.prof, main thread alone in {prefix}.main.prof)")
        text = "\n".join(out)
        (self.work / f"archive-{self.shape.label}.profile.txt").write_text(text + "\n")
        return text

    def cleanup(self) -> None:
        if getattr(self, "frozen", None):
            rmtree(self.frozen)
        if not self.args.keep:  # a set-up that stopped half-way has not made them all
            for attr in ("root", "restore_root"):
                if hasattr(self, attr):
                    rmtree(getattr(self, attr))


def _dev(p: Path) -> str:
    st = os.stat(p)
    return f"{os.major(st.st_dev)}:{os.minor(st.st_dev)}"


# --------------------------------------------------------------------------- report


REFS = {"archive": ("restic1", "restic2", "stock"), "verify": ("restic_check", None, "stock_b3"),
        "restore": ("restic_restore", None, "stock_restore")}


def mb(n: float | None) -> str:
    return "-" if n is None else f"{n / 1e6:.1f} MB"


def build_report(bench: Bench) -> dict:
    rows = []
    by_key = bench.rows
    for r in by_key.values():
        ref1, ref2, ref_stock = REFS[r.group]
        rat = {}
        if ref1 in by_key and by_key[ref1].times:
            rat["restic"] = r.median / by_key[ref1].median
        if ref2 and by_key.get(ref2) and by_key[ref2].times:
            rat["restic_second"] = r.median / by_key[ref2].median
        if ref_stock in by_key and by_key[ref_stock].times:
            rat["stock"] = r.median / by_key[ref_stock].median
        rows.append({
            "group": r.group, "key": r.key, "command": r.label,
            "median_seconds": round(r.median, 4), "seconds": [round(t, 4) for t in r.times],
            "ratio_to_restic": round(rat["restic"], 3) if "restic" in rat else None,
            "ratio_to_restic_second": round(rat["restic_second"], 3) if "restic_second" in rat else None,
            "ratio_to_stock": round(rat["stock"], 3) if "stock" in rat else None,
            "peak_rss_mb": round(max(r.peaks_kb) / 1024, 1) if r.peaks_kb else None,
            "bytes_written": int(statistics.median(r.written)) if r.written else None,
            "input_bytes": bench.input_size,
        })
    floor = getattr(bench, "floor", None)
    if floor and by_key.get("coffre2") and by_key["coffre2"].times and floor["verify_seconds"]:
        floor = dict(floor, first_run_over_floor=round(by_key["coffre2"].median / floor["verify_seconds"], 2))
    return {"info": bench.info, "coffre_run_files": getattr(bench, "coffre_files", []),
            "coffre_copy_bytes": getattr(bench, "coffre_copy_size", None), "rows": rows, "floor": floor}


def _code_line(info: dict) -> str:
    a, b = info.get("code_at_start", {}), info.get("code_at_end", {})
    frozen = info.get("code_frozen")
    line = (f"code: git {a.get('git_head', '?')}" + (" + uncommitted changes" if a.get("uncommitted_changes") else "")
            + f", pipeline+schemas sha256 {(frozen or a).get('code_sha256', '?')}"
            + (", frozen copy taken at the start" if frozen else ", live tree"))
    if b and b.get("code_sha256") != (frozen or a).get("code_sha256"):
        if frozen:
            line += f"  (the live tree has changed since, now git {b.get('git_head', '?')}: not measured)"
        else:
            line += (f"  <- CHANGED during the benchmark (now git {b.get('git_head', '?')}, {b.get('code_sha256', '?')}):"
                     " rows may mix two versions")
    return line


def render(report: dict) -> str:
    info = report["info"]
    lines = [
        f"Coffre benchmark: {shop_words(info)}, database {mb(info['input_bytes'])} ({info['database']}, device {info['database_device']})",
        f"copies and repos: {info['destinations']}",
        f"before each evening's backups, {info.get('sales_per_second_backup', 0)} tickets were sold "
        f"into a working copy of the sample ({info.get('tickets_sold', 0)} in all)",
        f"scratch: {info['scratch']}; restores into {info['restore_target']}",
        f"{info['cpus']} CPUs, {info['machine']}; page cache: {info['page_cache']}",
        f"load average (1 min) {info['load_average_at_start']} at start, {info.get('load_average_at_end', '?')} at end"
        + ("  <- other work was using the CPU: timings are noisy" if max(
            info["load_average_at_start"], info.get("load_average_at_end", 0)) > 0.5 * info["cpus"] else ""),
        _code_line(info),
        f"medians of {info['repeat']} alternating repetitions; versions: "
        + ", ".join(f"{k} {v}" for k, v in info["versions"].items()),
        f"coffre run files: {', '.join(report['coffre_run_files'])}",
        "",
    ]
    head = ("command", "median s", "min..max s", "÷restic", "÷stock", "peak RSS", "written", "input")
    widths = (56, 9, 13, 13, 7, 10, 11, 9)
    titles = {"archive": "ARCHIVE   (÷restic = ÷ restic backup first / ÷ second; written = bytes stored, all copies)",
              "verify": "VERIFY    (÷restic = ÷ restic check --read-data; ÷stock = ÷ b3sum --check one copy)",
              "restore": "RESTORE   (÷restic = ÷ restic restore; written = bytes restored)"}

    def fmt_row(cells):
        out = []
        for i, (c, w) in enumerate(zip(cells, widths)):
            out.append(c.ljust(w) if i == 0 else c.rjust(w))
        return "  ".join(out).rstrip()

    lines.append(fmt_row(head))
    lines.append("-" * (sum(widths) + 2 * (len(widths) - 1)))
    for group in ("archive", "verify", "restore"):
        rows = [r for r in report["rows"] if r["group"] == group]
        if not rows:
            continue
        lines.append(titles[group])
        for r in rows:
            ratio = "-" if r["ratio_to_restic"] is None else f"{r['ratio_to_restic']:.2f}"
            if r["ratio_to_restic_second"] is not None:
                ratio += f" / {r['ratio_to_restic_second']:.2f}"
            stock = "-" if r["ratio_to_stock"] is None else f"{r['ratio_to_stock']:.2f}"
            secs = r["seconds"]
            lines.append(fmt_row((
                r["command"], f"{r['median_seconds']:.2f}", f"{min(secs):.2f}..{max(secs):.2f}", ratio, stock,
                f"{r['peak_rss_mb']:.0f} MB", mb(r["bytes_written"]) if r["bytes_written"] is not None else "-",
                mb(r["input_bytes"]))))
    if report.get("floor"):
        lines += ["", floor_line(report["floor"])]
    return "\n".join(lines)


def shop_words(info: dict) -> str:
    shop = info.get("shop")
    if not shop:  # a report from before the large shop: 2 registers, 400 tickets a day
        return f"{info['days']} days of sample shop"
    return f"sample shop of {shop['described']}"


def floor_line(f: dict) -> str:
    """The floor of a first run, and the first run against it (must-show: at most 1.5)."""
    parts = ", ".join(f"{k} {v:,}" for k, v in f["signatures"].items())
    line = (f"FLOOR of a first run: {f['total_signatures']:,} signatures ({parts}) verified once on {f['threads']} "
            f"threads: {f['verify_seconds']:.2f} s ({f['us_per_signature_all_threads']} us each; "
            f"{f['us_per_signature_one_thread']} us on one thread)")
    if f.get("verify_seconds_libsodium") is not None:
        line += (f"\n  the same with libsodium, which coffre's checks try first: {f['verify_seconds_libsodium']:.2f} s "
                 "(the floor stays the issue's, with cryptography)")
    if f.get("first_run_over_floor") is not None:
        line += f"\n  coffre archive first run / floor = {f['first_run_over_floor']:.2f}  (issue 18: at most 1.5)"
    return line


# --------------------------------------------------------------------------- growth from one report to another


def compare(a: dict, b: dict, name_a: str = "A", name_b: str = "B") -> str:
    """How each command's time and peak memory grow from report A (e.g. the 1-year sample) to report B (the large
    shop): the table, then issue 18's bars for the large shop (peak memory of every coffre command under 200 MB
    and within 1.2x of A's; first run at most 1.5x its floor)."""
    def size(r: dict) -> str:
        info = r["info"]
        shop = info.get("shop") or {"registers": 2, "tickets_per_day": 400, "days": info["days"]}
        return (f"{shop['registers']} registers x {shop['tickets_per_day']:,}/day x {shop['days']} days = "
                f"{shop['tickets_per_day'] * shop['days']:,} tickets, database {mb(info['input_bytes'])}")

    def ratio(x, y) -> str:
        return "-" if x in (None, 0) or y is None else f"{y / x:.2f}"

    ia, ib = a["info"], b["info"]
    lines = [f"A: {name_a}: {size(a)}", f"B: {name_b}: {size(b)}",
             f"   database B/A = {ratio(ia['input_bytes'], ib['input_bytes'])}"]
    fa, fb = a.get("floor") or {}, b.get("floor") or {}
    if fa.get("total_signatures") and fb.get("total_signatures"):
        lines[-1] += f", signatures B/A = {ratio(fa['total_signatures'], fb['total_signatures'])}"
    lines.append("")
    head = ("command", "time A s", "time B s", "B/A", "peak A MB", "peak B MB", "B/A", "issue 18 (B)")
    widths = (56, 9, 9, 7, 10, 10, 6, 28)
    fmt = lambda cells: "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()
    lines += [fmt(head), "-" * (sum(widths) + 2 * (len(widths) - 1))]
    rows_a = {r["key"]: r for r in a["rows"]}
    misses = 0
    for rb in b["rows"]:
        ra = rows_a.get(rb["key"])
        if ra is None:
            continue
        bar = ""
        if rb["key"].startswith("coffre") and rb["peak_rss_mb"] is not None:
            # Every coffre command: under 200 MB, and within 1.2x of the small sample's peak.
            ok = rb["peak_rss_mb"] < 200 and ra["peak_rss_mb"] and rb["peak_rss_mb"] <= 1.2 * ra["peak_rss_mb"]
            misses += not ok
            bar = "peak ok" if ok else "peak OVER (<200 MB, <=1.2x)"
        lines.append(fmt((rb["command"][:56], f"{ra['median_seconds']:.2f}", f"{rb['median_seconds']:.2f}",
                          ratio(ra["median_seconds"], rb["median_seconds"]), f"{ra['peak_rss_mb']:.0f}",
                          f"{rb['peak_rss_mb']:.0f}", ratio(ra["peak_rss_mb"], rb["peak_rss_mb"]), bar)))
    lines.append("")
    for tag, f in (("A", fa), ("B", fb)):
        if f:
            lines.append(f"{tag}: " + floor_line(f))
    lines.append("")
    lines.append("peak memory bar (every coffre command under 200 MB and within 1.2x of A): "
                 + ("met" if not misses else f"missed by {misses} command(s)"))
    if fb.get("first_run_over_floor") is not None:
        lines.append(f"first run bar (B's first run at most 1.5x its floor): {fb['first_run_over_floor']:.2f} -> "
                     + ("met" if fb["first_run_over_floor"] <= 1.5 else "missed"))
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Coffre's benchmark against restic, borg and sqlite3|zstd|age (see bench/README.md).")
    p.add_argument("--shop", choices=sorted(SHOPS), default="small",
                   help="small: 2 registers, 400 tickets a day, 365 days; large: 10 registers x 3,000 tickets a day "
                        "each (30,000), 2,190 days (6 years)")
    p.add_argument("--registers", type=int, help="registers of the sample shop (default: the --shop's)")
    p.add_argument("--tickets-per-day", type=int, help="tickets a day over all the registers (default: the --shop's)")
    p.add_argument("--days", type=int, help="days of the sample shop (default: the --shop's; 365, 1460 for 4x)")
    p.add_argument("--scale", type=float, help="a fraction of the shop's days (e.g. --shop large --scale 0.014: 30 days), "
                                               "for a machine that cannot hold all of it")
    p.add_argument("--sales", type=int,
                   help="tickets sold into the database before each evening's backups (default: a day of the shop)")
    p.add_argument("--compare", nargs=2, metavar=("A.json", "B.json"),
                   help="print how each command's time and peak memory grow from report A to report B, and stop")
    p.add_argument("--repeat", type=int, default=5, help="repetitions of each command (medians are reported)")
    p.add_argument("--work", default="/var/tmp/coffre-bench", help="work folder: sample databases (cached by days), logs, keys")
    p.add_argument("--dest-dir", help="where copies and repositories go (default: /dev/shm when it is another device)")
    p.add_argument("--json", dest="json_out", help="also write the results as JSON to this file")
    p.add_argument("--cold", action="store_true", help="drop the page cache before each timed command (needs root)")
    p.add_argument("--profile", action="store_true", help="also run `coffre archive` once under cProfile and print the top entries")
    p.add_argument("--one-copy", action="store_true", help="also time `coffre archive --to A` (one copy, like the stock pipeline)")
    p.add_argument("--live-code", action="store_true",
                   help="run the venv's coffre on the live tree instead of a copy of pipeline/ frozen at the start")
    p.add_argument("--keep", action="store_true", help="keep the copies, repositories and restored files")
    args = p.parse_args(argv)
    if args.compare:
        try:
            print(compare(*(json.loads(Path(f).read_text()) for f in args.compare), *args.compare))
        except (OSError, ValueError, KeyError) as err:
            print(f"bench: cannot compare {' and '.join(args.compare)}: {err}", file=sys.stderr)
            return 2
        return 0
    registers, per_day, days = SHOPS[args.shop]
    registers = args.registers or registers
    per_day = args.tickets_per_day or per_day
    days = args.days or days
    if args.scale is not None:
        if not 0 < args.scale <= 1:
            p.error("--scale is a fraction of the shop's days, above 0 and at most 1")
        days = max(1, round(days * args.scale))
    if days < 1 or args.repeat < 1 or per_day < 1 or not 1 <= registers <= 20:
        p.error("--days, --tickets-per-day and --repeat must be at least 1, --registers between 1 and 20")
    args.shape = Shape(registers, per_day, days)
    if args.sales is None:
        args.sales = per_day  # a day of the shop
    bench = None

    def interrupted(signum, frame):
        raise KeyboardInterrupt

    import signal
    signal.signal(signal.SIGTERM, interrupted)  # a CI timeout stops the benchmark as Ctrl-C does, children too
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, interrupted)  # started in the background: Ctrl-C still reaches it via kill -INT
    try:
        tools = find_tools()
        bench = Bench(args, tools)
        bench.setup()
        t0 = time.perf_counter()
        bench.archive_phase()
        bench.verify_phase()
        bench.restore_phase()
        prof = bench.profile() if args.profile else None
        report = build_report(bench)
        report["info"]["benchmark_seconds"] = round(time.perf_counter() - t0, 1)
        report["info"]["load_average_at_end"] = round(os.getloadavg()[0], 2)
        report["info"]["tickets_sold"] = bench.sold
        report["info"]["code_at_end"] = code_fingerprint()
        print()
        print(render(report))
        if prof:
            print("\ncProfile of `coffre archive`, every thread (bench/profile_threads.py):")
            print(prof)
            report["profile"] = prof
        if args.json_out:
            Path(args.json_out).write_text(json.dumps(report, indent=2) + "\n")
            print(f"\nJSON written to {args.json_out}")
        return 0
    except BenchError as err:
        print(f"bench: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bench: interrupted.", file=sys.stderr)
        return 3
    finally:
        if bench is not None:
            bench.cleanup()


if __name__ == "__main__":
    sys.exit(main())
