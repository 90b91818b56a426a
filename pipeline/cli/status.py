"""`coffre status`: health at a glance, for a person or a monitoring probe (exit 1 when something needs care)."""

from __future__ import annotations

import json

import click

from pipeline.cli.common import config_option
from pipeline.errors import CHECK_FAILED, OK


@click.command("status")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable status on standard output.")
def command(config_path, as_json) -> None:
    """Last run, last verify, last drill, per copy; exit 1 when something needs attention."""
    from pipeline import config
    from pipeline.status import store_status

    st = store_status(config.load(config_path))
    if as_json:
        click.echo(json.dumps(st, indent=2))
    else:
        last = st["last_run"]
        click.echo(f"Store {st['store_id']}: {st['runs']} run(s)" + (f", last {last['run_id']}" if last else ""))
        for d in st["destinations"]:
            def show(x):
                return "never" if not x else f"{'ok' if x['ok'] else 'FAILED'} {x['at']}"
            click.echo(f"  {d['destination']}: last run {d['last_run_written'] or 'none'}; verify {show(d['last_verify'])};"
                       f" deep {show(d['last_deep_verify'])}; drill {show(d['last_drill'])}")
        if st["last_run_findings"]:
            click.echo("  Findings of the last run (see its findings.json): " + ", ".join(
                f"{check} {n}" for check, n in sorted(st["last_run_findings"].items())))
        for p in st["problems"]:
            click.echo(f"  ! {p}")
        if st["ok"]:
            click.echo("  All good.")
    raise SystemExit(OK if st["ok"] else CHECK_FAILED)
