"""`coffre rebuild-record`: the way out when this machine's record of runs cannot be read."""

from __future__ import annotations

import json

import click

from pipeline.cli.common import Command, config_option, epilog, json_option, say, verbosity_options
from pipeline.errors import CANNOT_RUN, OK, USAGE
from pipeline.i18n import _, ngettext


@click.command("rebuild-record", cls=Command,
               help=_("Keep an unreadable record aside and rebuild it from the runs the copies hold (signed with the "
                      "pinned key)."),
               epilog=epilog(["coffre rebuild-record", "coffre rebuild-record --from /media/usb-key --json"],
                             [OK, USAGE, CANNOT_RUN]))
@config_option
@click.option("--from", "sources", multiple=True, metavar="DEST", help=_("Read these destinations instead of the configured ones."))
@json_option()
@verbosity_options
def command(config_path, sources, as_json) -> None:
    from pipeline import config
    from pipeline.verify.rebuild import rebuild_record

    cfg = config.load(config_path)
    out = rebuild_record(cfg, list(sources) or cfg.destinations, say=say)
    if as_json:
        click.echo(json.dumps({"kept_aside": str(out.kept_aside) if out.kept_aside else None, "runs": out.runs,
                               "copies_read": out.copies_read, "copies_missed": out.copies_missed,
                               "exit_code": OK}, indent=2))
    if out.kept_aside:
        say(_("The unreadable record was kept aside as {path}.").format(path=out.kept_aside))
    say(ngettext("New record: {runs} run found, on {copies}.", "New record: {runs} runs found, on {copies}.",
                 out.runs).format(runs=out.runs, copies=", ".join(out.copies_read) or _("no copy")), "result")
    for missed in out.copies_missed:
        say(_("  Not read (its runs are not in the new record): {destination}").format(destination=missed), "warning")
    say(_("The next archive run checks every journal record again."))
