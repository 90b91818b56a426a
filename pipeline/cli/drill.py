"""`coffre drill`: the monthly restore drill, every copy restored to scratch, checked, timed, removed."""

from __future__ import annotations

import json

import click

from pipeline.cli.common import (Command, config_option, epilog, identity_option, identity_options, json_option,
                                 load_identity, quiet, run_option, say, scheduled_option, verbose,
                                 verbosity_options)
from pipeline.errors import CANNOT_RUN, CHECK_FAILED, OK, USAGE
from pipeline.i18n import _, ngettext
from pipeline.units import number
from pipeline.cli.progress import terminal_progress


@click.command("drill", cls=Command,
               help=_("Restore every copy into a scratch folder, check it against the archive-time facts, report, "
                      "clean up."),
               epilog=epilog(["coffre drill --identity /media/safe/identity.txt",
                              "coffre drill --identity /media/safe/identity.txt --from /media/usb-key --run latest",
                              "coffre drill --identity id.txt --passphrase-env COFFRE_PASS --scheduled"],
                             [OK, CHECK_FAILED, USAGE, CANNOT_RUN], {OK: _("every copy restored and matched")}))
@config_option
@identity_option()
@identity_options
@click.option("--from", "sources", multiple=True, metavar="DEST", help=_("Drill these destinations instead of the configured ones."))
@run_option(_("Drill this run (default: the latest complete one of each copy). `latest`: the newest."))
@json_option(_("Print a machine-readable report on standard output."))
@scheduled_option
@verbosity_options
def command(config_path, identity, passphrase_env, sources, run_id, as_json) -> None:
    from pipeline import config
    from pipeline.alerts.hooks import alerted
    from pipeline.restore.drill import drill

    cfg = config.load(config_path)
    with alerted(cfg, "drill", say, secret_env=(passphrase_env,)) as alert:
        identities = load_identity(identity, passphrase_env)
        with terminal_progress(as_json or quiet()) as progress:
            report = drill(cfg, identities, list(sources) or cfg.destinations, run_id, say=say, progress=progress)
        code = OK if report.ok else CHECK_FAILED
        alert.summary = dict(report.to_json(), recorded=report.recorded, exit_code=code)
        if as_json:
            click.echo(json.dumps(dict(report.to_json(), recorded=report.recorded), indent=2))
        else:
            _print_human(report)
        if not report.recorded:
            say(_("Note: nothing was recorded of this drill ({reason}): the state folder {folder} cannot be written "
                  "by this user. The copies were drilled all the same.").format(
                reason=report.not_recorded_because, folder=cfg.state_dir), "warning")
        raise SystemExit(code)


def _print_human(report) -> None:
    for o in report.outcomes:
        if o.ok:
            say(_("PASS {destination}: run {run_id} restored in {seconds} s ({size} MB, {tables} tables, {rows} rows "
                  "as recorded)").format(destination=o.destination, run_id=o.run_id, seconds=number(o.seconds, 2),
                                         size=number(o.restored_bytes / 1e6, 1), tables=o.tables, rows=number(o.rows)),
                "result")
            for note in o.notes:
                say(_("  Warning: {note}").format(note=note), "warning")
        else:
            say(_("FAIL {destination}: {problem}").format(destination=o.destination, problem=o.problem), "warning")
    if verbose():
        say(ngettext("{n} copy drilled; its scratch folder was removed.",
                     "{n} copies drilled; each scratch folder was removed.", len(report.outcomes)).format(
            n=len(report.outcomes)), "detail")
