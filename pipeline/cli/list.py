"""`coffre list`: the runs of each copy, with size, findings, when verified and drilled, and why each is kept."""

from __future__ import annotations

import json

import click

from pipeline.cli.common import config_option
from pipeline.errors import CHECK_FAILED, OK


@click.command("list")
@config_option
@click.option("--from", "sources", multiple=True, help="List these destinations instead of the configured ones.")
@click.option("--no-look", is_flag=True, help="From the record only: do not reach the destinations.")
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable list on standard output.")
def command(config_path, sources, no_look, as_json) -> None:
    """Runs per copy; exit 1 when a run this machine wrote is missing from a copy."""
    from pipeline import config
    from pipeline.listing import list_runs

    cfg = config.load(config_path)
    copies = list_runs(cfg, list(sources) or list(cfg.destinations), look=not no_look)
    missing = any(r["state"].startswith("MISSING") for c in copies for r in c["runs"])
    if as_json:
        click.echo(json.dumps({"store_id": cfg.store_id, "copies": copies}, indent=2))
    else:
        for c in copies:
            held = [r for r in c["runs"] if r["state"] != "removed by retention"]
            click.echo(f"{c['destination']} ({c['role']}): {len(held)} run(s)"
                       + ("" if c["reached"] is not False else f" — not reached: {c['why_not']}"))
            for r in held:
                size = f"{r['bytes'] / 1e6:8.1f} MB" if r["bytes"] else "        ? MB"
                marks = [f"{r['findings']} finding(s)" if r["findings"] else "",
                         f"verified {r['verified'][:10]}" if r["verified"] else "",
                         f"drilled {r['drilled'][:10]}" if r["drilled"] else "",
                         "kept: " + ", ".join(r["kept_because"]) if r["kept_because"] else ""]
                state = "" if r["state"] == "held" else f" [{r['state']}]"
                click.echo(f"  {r['run_id']}  {(r['created_at'] or '')[:16].replace('T', ' ')}  {size}{state}  "
                           + "; ".join(m for m in marks if m))
    raise SystemExit(CHECK_FAILED if missing else OK)
