"""The tills' own chains, timed: Odoo's on PostgreSQL and Dolibarr's on MariaDB (V1, then V1 and V2 mixed).

For each product: `coffre sample-db --mapping …` builds its own tables, then `coffre archive` is timed on a first
run (every seal recomputed, every sealed invoice held to the tables) and on a second run with nothing sold, then
`coffre export-auditor` for the whole sample and the inspector's `verify.py` on the package (with the secret where
the log has V2 rows). The servers are private, started here as the tests start theirs (tests/servers/).
A benchmark, not a test: see bench/README.md.

    .venv/bin/python bench/chains.py --days 90 --per-day 200
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sources import coffre, mariadb_server  # noqa: E402 - the sibling benchmark's helpers

PASSWORD = "bench-Contrôle-2025"
START = date(2025, 1, 6)


def timed(*args, env=None, ok=(0,)) -> tuple[float, subprocess.CompletedProcess]:
    started = time.perf_counter()
    done = coffre(*args, env=env)
    seconds = time.perf_counter() - started
    if done.returncode not in ok:
        raise SystemExit(f"coffre {args[0]} failed ({done.returncode}): {done.stderr.strip()}")
    return seconds, done


def bench(product: str, args, work: Path, stack: ExitStack) -> dict:
    work.mkdir(parents=True)
    work.chmod(0o755)
    env, secret = {}, None
    if product == "odoo-pos":
        from servers.postgresql import cluster

        server = stack.enter_context(cluster())
        database = server.new_database()
        env = {"PGPASSFILE": str(server.pgpass(work / "pgpass"))}
        source = server.uri(database)
    else:
        server = stack.enter_context(mariadb_server(work))
        database = server.new_database()
        source = server.url(database, option_file=server.option_file(work / "my.cnf"))
        if product.endswith("+v2"):
            secret = work / "secret"
            secret.write_text("BLOCKEDLOGHMACbench0123456789abcdef\n")
    mapping = product.split("+")[0]
    extra = ["--chain-secret-file", secret] if secret else []
    build, _ = timed("sample-db", "--mapping", mapping, source, "--days", args.days, "--tickets-per-day",
                     args.per_day, "--start", START.isoformat(), *extra, env=env)
    dest = Path(tempfile.mkdtemp(prefix="coffre-bench-chains-", dir=args.dest_dir))
    stack.callback(shutil.rmtree, dest, True)
    config = work / "coffre.toml"
    timed("init", "--config", config, "--source", source, "--to", dest, "--i-know", "--allow-same-disk",
          "--identity-out", work / "identity.txt", "--store-id", "bench", "--mapping", mapping, *extra, env=env)
    first, done = timed("archive", "--config", config, "--json", env=env)
    summary = json.loads(done.stdout)
    again, again_done = timed("archive", "--config", config, "--json", env=env)
    followed = (json.loads(again_done.stdout).get("journals") or {}).get("checked")
    last = START + timedelta(days=args.days + 1)
    package = work / "audit.zip"
    export, _ = timed("export-auditor", "--config", config, "--identity", work / "identity.txt", "--period",
                      f"{START.isoformat()}..{last.isoformat()}", "--out", package, "--password-env", "PW",
                      env={**env, "PW": PASSWORD})
    opened = work / "opened"
    subprocess.run(["7z", "x", "-y", f"-p{PASSWORD}", f"-o{opened}", str(package)], check=True, capture_output=True)
    (root,) = list(opened.iterdir())
    started = time.perf_counter()
    checked = subprocess.run([sys.executable, "-I", str(root / "verify.py"),
                              *(["--secret-file", str(secret)] if secret else [])], capture_output=True, text=True)
    verify = time.perf_counter() - started
    if checked.returncode != 0:
        raise SystemExit(f"verify.py found something on a clean sample:\n{checked.stdout[-2000:]}")
    records = (summary.get("journals") or {}).get("records") or {}
    return {"product": product, "sample_seconds": round(build, 2), "first_seconds": round(first, 2),
            "journals_seconds": (summary.get("journals") or {}).get("seconds"),
            "second_seconds": round(again, 2), "second_checked": followed, "export_seconds": round(export, 2),
            "verify_seconds": round(verify, 2),
            "sealed_records": records.get("source_chain"), "tickets": records.get("tickets"),
            "findings": len(summary.get("findings") or [])}


def render(results: list[dict], args) -> str:
    lines = [f"samples: {args.days} days x {args.per_day} sales; archive twice (nothing sold between), "
             "export-auditor of the whole sample, verify.py on it; the 2nd run checked all records (all) or the new "
             "ones only (new)", "",
             f"{'till':<18} {'sealed':>8} {'tickets':>8} {'1st run':>8} {'journals':>9} {'2nd run':>12} "
             f"{'export':>7} {'verify.py':>9}  findings"]
    for r in results:
        lines.append(f"{r['product']:<18} {r['sealed_records']:>8} {r['tickets']:>8} {r['first_seconds']:>7.2f}s "
                     f"{r['journals_seconds'] or 0:>8.2f}s {r['second_seconds']:>7.2f}s {_mode(r):>4} "
                     f"{r['export_seconds']:>6.2f}s "
                     f"{r['verify_seconds']:>8.2f}s  {r['findings']}")
    return "\n".join(lines)


def _mode(result: dict) -> str:
    return {"all records": "all", "new records only": "new"}.get(result.get("second_checked"), "?")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="The tills' own chains, timed (bench/README.md).")
    p.add_argument("--days", type=int, default=90)
    p.add_argument("--per-day", type=int, default=200, help="orders (Odoo) or invoices (Dolibarr) a day")
    p.add_argument("--products", default="odoo-pos,dolibarr-pos,dolibarr-pos+v2")
    p.add_argument("--dest-dir", default="/dev/shm" if Path("/dev/shm").is_dir() else None)
    p.add_argument("--json", dest="json_out")
    args = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="coffre-bench-chains-"))
    work.chmod(0o755)  # the servers run as nobody, in folders below it
    try:
        results = []
        for product in args.products.split(","):
            with ExitStack() as stack:
                results.append(bench(product, args, work / product.replace("+", "-"), stack))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(render(results, args))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps({"args": vars(args), "results": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
