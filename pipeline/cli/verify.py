"""`coffre verify`: proves each copy intact, against the pinned key and the record of what was written."""

from __future__ import annotations

import json

import click

from pipeline.cli.common import config_option, say
from pipeline.errors import CHECK_FAILED, OK


@click.command("verify")
@config_option
@click.option("--from", "sources", multiple=True, help="Verify these destinations instead of the configured ones.")
@click.option("--run", "run_id", help="Verify only this run.")
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable report on standard output.")
def command(config_path, sources, run_id, as_json) -> None:
    """Check every copy: signature, every file's BLAKE3, nothing missing or added, the chain of runs."""
    from pipeline import config
    from pipeline.verify.run import verify_destinations

    cfg = config.load(config_path)
    reports = verify_destinations(cfg, list(sources) or cfg.destinations, run_id)
    code = OK if all(r.ok for r in reports) else CHECK_FAILED
    if as_json:
        click.echo(json.dumps({"exit_code": code, "copies": [
            {"destination": r.destination, "ok": r.ok, "runs": [x.run_id for x in r.runs],
             "problems": [{"run": p.run_id, "file": p.file, "message": p.message} for p in r.problems],
             "notes": r.notes} for r in reports]}, indent=2))
    else:
        for r in reports:
            verdict = "intact" if r.ok else "DAMAGED"
            say(f"{r.destination}: {verdict} ({len(r.runs)} run(s) checked)")
            for p in r.problems:
                say(f"  - {p.sentence()}")
            for n in r.notes:
                say(f"  note: {n}")
    raise SystemExit(code)
