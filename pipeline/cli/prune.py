"""`coffre prune`: removes the runs the retention rules no longer keep, each removal a signed act (--dry-run first)."""

from __future__ import annotations

import json

import click

from pipeline.cli.common import (Command, config_option, epilog, json_option, say, scheduled_option, verbose,
                                 verbosity_options)
from pipeline.errors import CANNOT_RUN, OK, PARTIAL, USAGE
from pipeline.i18n import _, ngettext
from pipeline.units import number


@click.command("prune", cls=Command,
               help=_("Apply the retention rules ([retention] in the config): keep-last/daily/weekly/monthly/yearly, "
                      "the legal years, the newest run of each copy and the newest one found intact there; remove "
                      "the rest."),
               epilog=epilog(["coffre prune --dry-run", "coffre prune", "coffre prune --from /media/usb-key --json"],
                             [OK, USAGE, CANNOT_RUN, PARTIAL],
                             {PARTIAL: _("partial: some copies pruned, others not")}))
@config_option
@click.option("--from", "sources", multiple=True, metavar="DEST", help=_("Prune these destinations instead of the configured ones."))
@click.option("--dry-run", is_flag=True,
              help=_("Say what would be removed and why each other run is kept; remove nothing."))
@click.option("--i-know", is_flag=True, help=_("Accept rules that keep runs fewer years than French law's six."))
@json_option()
@scheduled_option
@verbosity_options
def command(config_path, sources, dry_run, i_know, as_json) -> None:
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
    for c in result.copies:
        if not c.ok and c.removed:  # the runs went (signed removal, run folders), their blocks did not
            say(ngettext("{destination}: removed {removed} run, but not yet the blocks only it needed — {reason}",
                         "{destination}: removed {removed} runs, but not yet the blocks only they needed — {reason}",
                         len(c.removed)).format(destination=c.destination, removed=len(c.removed), reason=c.reason),
                "error")
            continue
        if not c.ok:
            say(_("{destination}: NOT PRUNED — {reason}").format(destination=c.destination, reason=c.reason), "error")
            continue
        if result.dry_run:
            line = ngettext("{destination}: would remove {removed} run ({size} MB), kept {kept}.",
                            "{destination}: would remove {removed} runs ({size} MB), kept {kept}.", len(c.removed))
        else:
            line = ngettext("{destination}: removed {removed} run ({size} MB), kept {kept}.",
                            "{destination}: removed {removed} runs ({size} MB), kept {kept}.", len(c.removed))
        say(line.format(destination=c.destination, removed=len(c.removed), size=number(c.freed / 1e6, 1),
                        kept=len(c.kept)), "result")
        if result.dry_run or verbose():
            for rid in c.kept:
                say(_("  keep   {run_id}: {reasons}").format(
                    run_id=rid, reasons=", ".join(result.reasons.get(rid) or [_("protected on this copy")])))
            for rid in c.removed:
                if result.dry_run:
                    say(_("  remove {run_id}").format(run_id=rid))
                else:
                    say(_("  removed {run_id}").format(run_id=rid))
        for n in c.notes:
            say(_("  note: {note}").format(note=n))
    if not result.dry_run and any(c.removed for c in result.copies):
        say(_("Each removal is signed (removals/{act_id}.json on the copy) and in Coffre's log: verify tells a pruned "
              "run from a deleted one.").format(act_id=result.act_id))
