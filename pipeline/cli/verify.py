"""`coffre verify`: proves each copy intact, against the pinned key and the record of what was written."""

from __future__ import annotations

import json

import click

from pipeline.cli.common import (Command, config_option, epilog, identity_option, identity_options, json_option,
                                 load_identity, quiet, run_option, say, scheduled_option, verbose,
                                 verbosity_options)
from pipeline.errors import CANNOT_RUN, CHECK_FAILED, OK, USAGE, UsageError
from pipeline.i18n import _, ngettext
from pipeline.cli.progress import terminal_progress


@click.command("verify", cls=Command,
               help=_("Check every copy: signature, every file's BLAKE3, nothing missing or added, the chain of runs."),
               epilog=epilog(["coffre verify", "coffre verify --run latest --from /media/usb-key",
                              "coffre verify --deep --identity /media/safe/identity.txt --json"],
                             [OK, CHECK_FAILED, USAGE, CANNOT_RUN], {OK: _("every copy is intact")}))
@config_option
@click.option("--from", "sources", multiple=True, metavar="DEST", help=_("Verify these destinations instead of the configured ones."))
@run_option(_("Verify only this run (default: every run). `latest`: the newest."), latest_is_default=False)
@click.option("--all", "all_runs", is_flag=True, help=_("Every run (the default; for scripts that want to say so)."))
@click.option("--deep", is_flag=True, help=_("Also decrypt every data file and hold it to the archive-time facts "
                                             "(the snapshot decompressed, its BLAKE3 and SQLite header); needs "
                                             "--identity."))
@identity_option(_("The age identity file, for --deep."), required=False)
@identity_options
@click.option("--read-data-subset", "subset", metavar="n/m",
              help=_("Read only the n-th of m fixed slices of the data: of the shared blocks by name, of the runs "
                     "written whole by run; m verifies, n = 1 to m, read everything once."))
@click.option("--max-duration", type=click.FloatRange(min=0), metavar="SECONDS",
              help=_("Read data for at most this long, least recently checked runs first; the rest next time."))
@json_option(_("Print a machine-readable report on standard output."))
@scheduled_option
@verbosity_options
def command(config_path, sources, run_id, all_runs, deep, identity, passphrase_env, subset, max_duration, as_json) -> None:
    from pipeline import config
    from pipeline.alerts.hooks import alerted
    from pipeline.verify.run import DataSelection, parse_subset, verify_destinations

    if run_id and all_runs:
        raise UsageError(_("--run and --all exclude each other."))
    if deep and not identity:
        raise UsageError(_("--deep needs --identity FILE (the age identity that decrypts the copies)."))
    if subset and max_duration is not None:
        raise UsageError(_("--read-data-subset and --max-duration exclude each other."))
    cfg = config.load(config_path)
    with alerted(cfg, "verify", say, secret_env=(passphrase_env,)) as alert:
        identities = load_identity(identity, passphrase_env) if deep else None
        selection = DataSelection(parse_subset(subset) if subset else None, max_duration)
        with terminal_progress(as_json or quiet()) as progress:
            outcome = verify_destinations(cfg, list(sources) or cfg.destinations, run_id, identities, selection,
                                          progress)
        reports = outcome.reports
        code = OK if all(r.ok for r in reports) else CHECK_FAILED
        alert.summary = {"exit_code": code, "deep": deep, "recorded": outcome.recorded, "copies": [
            {"destination": r.spec, "ok": r.ok, "missing": r.missing,
             "runs": [{"run_id": x.run_id, "ok": x.ok, "data_read": x.data_read, "bytes_read": x.bytes_read} for x in r.runs],
             "problems": [{"run": p.run_id, "file": p.file, "message": p.message} for p in r.problems],
             "notes": r.notes} for r in reports], "same_destination": outcome.same_as}
        for second, first in outcome.same_as.items():
            say(_("Note: {destination} is the same destination as {other}: one copy, checked once.").format(
                destination=second, other=first), "warning")
        if as_json:
            click.echo(json.dumps(alert.summary, indent=2))
        else:
            _print_human(reports, deep, selection)
        if not outcome.recorded:
            say(_("Note: nothing was recorded of this verify ({reason}): the state folder {folder} cannot be written "
                  "by this user. The copies were checked all the same.").format(
                reason=outcome.not_recorded_because, folder=cfg.state_dir), "warning")
        raise SystemExit(code)


def _print_human(reports, deep: bool, selection) -> None:
    for r in reports:
        read = sum(1 for x in r.runs if x.data_read)
        verdict = _("intact") if r.ok else _("MISSING") if r.missing else _("DAMAGED")
        if deep:
            line = ngettext("{destination}: {verdict} — {runs} run, data read for {read} (decrypted and held to the "
                            "archive-time facts)",
                            "{destination}: {verdict} — {runs} runs, data read for {read} (decrypted and held to the "
                            "archive-time facts)", len(r.runs))
        else:
            line = ngettext("{destination}: {verdict} — {runs} run, data read for {read}",
                            "{destination}: {verdict} — {runs} runs, data read for {read}", len(r.runs))
        say(line.format(destination=r.destination, verdict=verdict, runs=len(r.runs), read=read),
            "result" if r.ok else "warning")
        if verbose():
            for x in r.runs:
                state = _("intact") if x.ok else _("DAMAGED")
                data = _("data read") if x.data_read else _("signature and list only")
                say(_("  {run_id}: {state}, {data}").format(run_id=x.run_id, state=state, data=data), "detail")
        for p in r.problems:
            say(f"  - {p.sentence()}", "warning")
        for n in r.notes:
            say(_("  note: {note}").format(note=n))
    if selection.subset or selection.max_seconds is not None:
        say(_("This time: {selection}; the signature, list of files (MANIFEST.b3) and chain of every run.").format(
            selection=selection.describe()))
