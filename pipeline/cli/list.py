"""`coffre list`: the runs of each copy, with size, findings, when verified and drilled, and why each is kept."""

from __future__ import annotations

import json

import click

from pipeline.cli.common import (Command, config_option, epilog, json_option, quiet, role_text, verbose,
                                 verbosity_options)
from pipeline.errors import CHECK_FAILED, OK, USAGE
from pipeline import units
from pipeline.listing import state_text
from pipeline.i18n import _, ngettext


@click.command("list", cls=Command,
               help=_("Runs per copy; exit 1 when a run this machine wrote is missing from a copy."),
               epilog=epilog(["coffre list", "coffre list --no-look", "coffre list --from /media/usb-key --json"],
                             [OK, CHECK_FAILED, USAGE],
                             {CHECK_FAILED: _("a run this machine wrote is missing from a copy")}))
@config_option
@click.option("--from", "sources", multiple=True, metavar="DEST", help=_("List these destinations instead of the configured ones."))
@click.option("--no-look", is_flag=True, help=_("From the record only: do not reach the destinations."))
@json_option(_("Print a machine-readable list on standard output."))
@verbosity_options
def command(config_path, sources, no_look, as_json) -> None:
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
            shown = c["runs"] if verbose() else held  # -v: the runs removed by retention too
            if c["reached"] is not False:
                click.echo(ngettext("{destination} ({role}): {n} run", "{destination} ({role}): {n} runs", len(held)).format(
                    destination=c["destination"], role=role_text(c["role"]), n=len(held)))
            else:
                click.echo(ngettext("{destination} ({role}): {n} run — not reached: {reason}",
                                    "{destination} ({role}): {n} runs — not reached: {reason}", len(held)).format(
                    destination=c["destination"], role=role_text(c["role"]), n=len(held), reason=c["why_not"]))
            if quiet():
                continue
            for r in shown:
                size = (units.size(r["bytes"]) if r["bytes"] else "?").rjust(10)
                found = ngettext("{n} finding", "{n} findings", r["findings"]).format(n=r["findings"])
                marks = [found if r["findings"] else "",
                         _("verified {date}").format(date=r["verified"][:10]) if r["verified"] else "",
                         _("drilled {date}").format(date=r["drilled"][:10]) if r["drilled"] else "",
                         _("kept: {reasons}").format(reasons=", ".join(r["kept_because"])) if r["kept_because"] else ""]
                state = "" if r["state"] == "held" else f" [{state_text(r['state'])}]"
                click.echo(f"  {r['run_id']}  {(r['created_at'] or '')[:16].replace('T', ' ')}  {size}{state}  "
                           + _("; ").join(m for m in marks if m))
    raise SystemExit(CHECK_FAILED if missing else OK)
