"""`coffre status`: health at a glance, for a person or a monitoring probe (exit 1 when a person must act)."""

from __future__ import annotations

import json

import click

from pipeline.cli.common import config_option
from pipeline.errors import CHECK_FAILED, OK


@click.command("status")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable status on standard output.")
@click.option("--no-look", is_flag=True, help="From the record only: do not reach the destinations (free space, "
              "whether the USB key is there).")
def command(config_path, as_json, no_look) -> None:
    """Per copy: last run written and read back, last verify and drill, whether the medium is there, how many
    evenings it has room for; the copy policy; the last run's findings. Exit 1 when a person must act."""
    from pipeline import config
    from pipeline.status import store_status

    st = store_status(config.load(config_path), look=not no_look)
    if as_json:
        click.echo(json.dumps(st, indent=2))
    else:
        for line in describe(st):
            click.echo(line)
    raise SystemExit(OK if st["ok"] else CHECK_FAILED)


def _when(check) -> str:
    if not check:
        return "never"
    return f"{'ok' if check['ok'] else 'FAILED'} on {check['at'][:10]} at {check['at'][11:16]} UTC"


def describe(st: dict) -> list[str]:
    from pipeline.status import size_text

    last = st["last_run"]
    lines = [f"Store {st['store_id']}: {st['runs']} run(s)"
             + (f", the last {last['run_id']} written {last.get('created_at', '?')}" if last else "") + "."]
    for d in st["destinations"]:
        lines.append(f"  {d['destination']} ({d['role']}):")
        if d["present"] is False:
            days = d["days_since_present"]
            seen = "never seen" if days is None else "last seen today" if days == 0 else f"last seen {days} day(s) ago"
            lines.append(f"    not there now ({seen}): {d['absent_because']}")
        lines.append(f"    last run written and read back: {d['last_run_written'] or 'none'}"
                     + (f" ({d['last_written_at']})" if d["last_written_at"] else "")
                     + f"; {d['runs_held']} run(s) held, {size_text(d['bytes_held'])}")
        lines.append(f"    verify {_when(d['last_verify'])}; deep verify {_when(d['last_deep_verify'])}; "
                     f"drill {_when(d['last_drill'])}")
        if d["free_bytes"] is not None:
            room = ("room for every evening at the current growth" if d["evenings_left"] is None
                    else f"room for about {d['evenings_left']} more evening(s)")
            lines.append(f"    {size_text(d['free_bytes'])} free, {room}"
                         + (f" ({size_text(d['growth_bytes'])} an evening)" if (d["growth_bytes"] or 0) > 0 else ""))
    if st["last_run_findings"]:
        lines.append("  Findings of the last run (see its findings.json): " + ", ".join(
            f"{check} {n}" for check, n in sorted(st["last_run_findings"].items())))
    for w in st["warnings"]:
        lines.append(f"  warning: {w}")
    for p in st["problems"]:
        lines.append(f"  ! {p}")
    if st["ok"]:
        lines.append("  All good.")
    return lines
