"""Coffre's archive on each kind of till database side by side: a first run, then evenings after a day's sales.

The same sample shop (`coffre sample-db`) is archived from SQLite, from PostgreSQL and from MariaDB, each server
private and started here (as the tests start theirs: tests/servers/). Every evening sells `--sales` signed tickets
into the database, then times `coffre archive`. The table says how long each run took, how long its journals stage
took, and what the journals stage checked: "all records" on a first run, "new records only" on an evening when the
rows checked before were proved unchanged. A benchmark, not a test: see bench/README.md.

    .venv/bin/python bench/sources.py --days 90 --repeat 3
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "tests"))  # the tests' private servers and their sales writer


def coffre(*args, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline", *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, "LANG": "C.UTF-8", **(env or {})}, cwd=REPO_ROOT)


@contextmanager
def mariadb_server(work: Path):
    from servers.mariadb import _start

    folder = work / "mariadb"
    folder.mkdir()
    proc, server = _start(folder)
    try:
        yield server
    finally:
        proc.terminate()
        proc.wait(30)


class Shop:
    """One kind's till: its source address, the environment its credentials need, and a till that sells."""

    def __init__(self, kind: str, stack: ExitStack, work: Path):
        self.kind = kind
        if kind == "sqlite":
            self.db = work / "caisse.db"
            self.source, self.env = f"sqlite:{self.db}", {}
        elif kind == "postgresql":
            from servers.postgresql import cluster

            self.server = stack.enter_context(cluster())
            self.database = self.server.new_database()
            self.env = {"PGPASSFILE": str(self.server.pgpass(work / "pgpass"))}
            self.source = self.server.uri(self.database)
        else:
            self.server = stack.enter_context(mariadb_server(work))
            self.database = self.server.new_database()
            self.source = self.server.url(self.database, option_file=self.server.option_file(work / "my.cnf"))
            self.env = {}

    def sell(self, n: int) -> None:
        if self.kind == "sqlite":
            from pipeline.sample import SaleWriter

            with SaleWriter(self.db, seed=1) as till:
                for _ in range(n):
                    till.commit_ticket()
            return
        from servers.sales import ServerSales

        with ServerSales(self.server.client(self.database), dict(os.environ), self.kind, seed=1) as till:
            for _ in range(n):
                till.commit_ticket()


def archive(config: Path, env: dict) -> dict:
    started = time.perf_counter()
    done = coffre("archive", "--config", config, "--json", env=env)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"coffre archive failed ({done.returncode}): {done.stderr.strip()}")
    out = json.loads(done.stdout)
    journals = out.get("journals") or {}
    return {"seconds": round(seconds, 3), "journals_seconds": journals.get("seconds"),
            "checked": journals.get("checked"), "tickets": (journals.get("records") or {}).get("tickets"),
            "plain_size": (out.get("snapshot") or {}).get("plain_size")}


def bench_kind(kind: str, args, work: Path) -> dict:
    work.mkdir(parents=True)
    work.chmod(0o755)
    with ExitStack() as stack:
        shop = Shop(kind, stack, work)
        target = shop.db if kind == "sqlite" else shop.source
        made = coffre("sample-db", target, "--days", args.days, "--tickets-per-day", args.tickets_per_day,
                      env=shop.env)
        if made.returncode != 0:
            raise SystemExit(f"sample-db failed for {kind}: {made.stderr.strip()}")
        dest = Path(tempfile.mkdtemp(prefix=f"coffre-bench-{kind}-", dir=args.dest_dir))
        stack.callback(shutil.rmtree, dest, True)
        config = work / "coffre.toml"
        init = coffre("init", "--config", config, "--source", shop.source, "--to", dest, "--i-know",
                      "--allow-same-disk", "--identity-out", work / "identity.txt", "--store-id", "bench",
                      env=shop.env)
        if init.returncode != 0:
            raise SystemExit(f"init failed for {kind}: {init.stderr.strip()}")
        first = archive(config, shop.env)
        evenings = []
        for _ in range(args.repeat):
            shop.sell(args.sales)
            evenings.append(archive(config, shop.env))
    return {"kind": kind, "first": first, "evenings": evenings,
            "evening_median_seconds": statistics.median(e["seconds"] for e in evenings),
            "evening_journals_median_seconds": statistics.median(e["journals_seconds"] or 0 for e in evenings)}


def render(results: list[dict], args) -> str:
    lines = [f"sample: {args.days} days x {args.tickets_per_day} tickets; evenings: {args.sales} tickets sold, "
             f"then coffre archive (median of {args.repeat})",
             "", f"{'source':<11} {'first run':>10} {'journals':>9} {'evening':>9} {'journals':>9}  evenings checked"]
    for r in results:
        checked = sorted({e["checked"] for e in r["evenings"]})
        lines.append(f"{r['kind']:<11} {r['first']['seconds']:>9.2f}s {r['first']['journals_seconds'] or 0:>8.2f}s "
                     f"{r['evening_median_seconds']:>8.2f}s {r['evening_journals_median_seconds']:>8.2f}s  "
                     f"{', '.join(str(c) for c in checked)}")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Coffre's archive from SQLite, PostgreSQL and MariaDB (bench/README.md).")
    p.add_argument("--days", type=int, default=90, help="days of the sample shop")
    p.add_argument("--tickets-per-day", type=int, default=400)
    p.add_argument("--sales", type=int, default=400, help="tickets sold before each evening's archive")
    p.add_argument("--repeat", type=int, default=3, help="evenings (medians are reported)")
    p.add_argument("--kinds", default="sqlite,postgresql,mariadb")
    p.add_argument("--dest-dir", default="/dev/shm" if Path("/dev/shm").is_dir() else None,
                   help="where the copies go (default /dev/shm)")
    p.add_argument("--json", dest="json_out", help="also write the results as JSON to this file")
    args = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="coffre-bench-sources-"))
    work.chmod(0o755)  # the servers run as nobody, in folders below it
    try:
        results = [bench_kind(kind, args, work / kind) for kind in args.kinds.split(",")]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(render(results, args))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps({"args": vars(args), "results": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
