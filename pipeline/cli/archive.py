"""`coffre archive`: the end-of-day run (the till's SAUVEGARDE button)."""

from __future__ import annotations

import json

import click

from pipeline.cli import scheduled
from pipeline.cli.common import config_option, interactive, say, scheduled_option
from pipeline.cli.progress import terminal_progress
from pipeline.errors import CoffreError, UsageError


@click.command("archive")
@config_option
@click.option("--to", "destinations", multiple=True, help="Write to these destinations instead of the configured ones.")
@click.option("--yes", is_flag=True, help="Do not ask; use the configured destinations.")
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable summary on standard output.")
@click.option("--allow-same-disk", is_flag=True, help="Experts: accept a destination on the database's own disk.")
@scheduled_option
def command(config_path, destinations, yes, as_json, allow_same_disk) -> None:
    """Snapshot the till database and write encrypted, signed copies to every destination."""
    from pipeline import config
    from pipeline.alerts.hooks import alerted
    from pipeline.archive import run_archive
    from pipeline.state.history import History

    cfg = config.load(config_path)
    specs = list(destinations) or list(cfg.destinations)
    if not destinations and not yes and not as_json and not scheduled.active() and interactive():
        specs = _ask_destination(History.of(cfg).last_destinations() or specs)
    quiet = as_json or scheduled.active()
    with alerted(cfg, "archive", say) as alert:
        try:
            with terminal_progress(quiet) as progress:
                result = run_archive(cfg, specs, allow_same_disk=allow_same_disk, say=say, progress=progress)
        except CoffreError as err:
            alert.summary = {"run_id": None, "store_id": cfg.store_id, "exit_code": err.exit_code, "error": str(err)}
            if as_json:  # a script reading standard output learns why no run was made, not only from the exit code
                click.echo(json.dumps(alert.summary, indent=2, sort_keys=True))
            raise
        alert.summary = result.to_json()
        if as_json:
            click.echo(json.dumps(alert.summary, indent=2, sort_keys=True))
        else:
            _print_human(result)
        raise SystemExit(result.exit_code)


def _ask_destination(proposed: list[str]) -> list[str]:
    if proposed and click.confirm(f"Sauvegarder dans {', '.join(proposed)} ?", default=True, err=True,
                                  prompt_suffix=" [O/n] ", show_default=False):
        return proposed
    folder = click.prompt("Dossier de sauvegarde (clé USB, disque externe)", err=True)
    if not folder:
        raise UsageError("No destination given.")
    return [folder]


def _print_human(result) -> None:
    snap = result.facts.get("snapshot", {})
    blocks = snap.get("blocks") or {}
    fresh = f" ({blocks['compressed']} of its {blocks['count']} blocks compressed, the others copied unchanged" \
        " from the last run)" if blocks.get("reused") else ""
    say(f"Run {result.run_id} of store {result.store_id}: snapshot of {snap.get('plain_size', 0) / 1e6:.1f} MB"
        f"{fresh} in {result.seconds:.1f} s.")
    for c in result.copies:
        say(f"  {'OK    ' if c.ok else 'FAILED'} {c.destination}" + ("" if c.ok else f" — {c.reason}"))
    if result.journals:
        j = result.journals
        say(f"  Fiscal journals: {sum(j['records'].values())} records in {len(j['records'])} journals, "
            f"{j['checks']['signatures_verified']} signatures verified"
            f" ({j['checks']['signatures_unchanged_since_last_check']} unchanged since the last check).")
    if result.findings:
        say(f"  ATTENTION: {len(result.findings)} finding(s) in the fiscal journals (the data is saved all the same):")
        for f in result.findings[:20]:
            say(f"    ! {f['text']}")
        if len(result.findings) > 20:
            say(f"    … and {len(result.findings) - 20} more: see findings.json in the run's journals.")
    if snap.get("quick_check") not in (None, "ok"):
        say(f"  WARNING: the source database fails SQLite's quick_check: {snap['quick_check']}")
    if result.exit_code == 0:
        say("Every copy was written, read back and checked.")
    elif result.exit_code == 4:
        say("Only some copies were written (exit 4): fix the failed destination and run again.")
