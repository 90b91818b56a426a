"""`coffre prune`: removes the runs the retention rules no longer keep, each removal a signed act (--dry-run first)."""

from __future__ import annotations

import json

import click

from pipeline.cli.common import config_option, say, scheduled_option


@click.command("prune")
@config_option
@click.option("--from", "sources", multiple=True, help="Prune these destinations instead of the configured ones.")
@click.option("--dry-run", is_flag=True, help="Say what would be removed and why each other run is kept; remove nothing.")
@click.option("--i-know", is_flag=True, help="Accept rules that keep runs fewer years than French law's six.")
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable summary on standard output.")
@scheduled_option
def command(config_path, sources, dry_run, i_know, as_json) -> None:
    """Apply the retention rules ([retention] in the config): keep-last/daily/weekly/monthly/yearly, the legal
    years, the newest run of each copy and the newest one found intact there; remove the rest."""
    from pipeline import config
    from pipeline.alerts.hooks import alerted
    from pipeline.prune import prune

    cfg = config.load(config_path)
    with alerted(cfg, "prune", say) as alert:
        result = prune(cfg, list(sources) or list(cfg.destinations), dry_run=dry_run, i_know=i_know, say=say)
        alert.summary = dict(result.to_json(), store_id=cfg.store_id)
        if as_json:
            click.echo(json.dumps(alert.summary, indent=2, sort_keys=True))
        else:
            print_prune(result)
        raise SystemExit(result.exit_code)


def print_prune(result) -> None:
    verb = "would remove" if result.dry_run else "removed"
    for c in result.copies:
        if not c.ok:
            say(f"{c.destination}: NOT PRUNED — {c.reason}")
            continue
        say(f"{c.destination}: {verb} {len(c.removed)} run(s) ({c.freed / 1e6:.1f} MB), kept {len(c.kept)}.")
        if result.dry_run:
            for rid in c.kept:
                say(f"  keep   {rid}: {', '.join(result.reasons.get(rid) or ['protected on this copy'])}")
            for rid in c.removed:
                say(f"  remove {rid}")
        for n in c.notes:
            say(f"  note: {n}")
    if not result.dry_run and any(c.removed for c in result.copies):
        say(f"Each removal is signed (removals/{result.act_id}.json on the copy) and in Coffre's log: verify "
            "tells a pruned run from a deleted one.")
