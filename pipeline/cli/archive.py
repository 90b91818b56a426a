"""`coffre archive`: the end-of-day run (the till's SAUVEGARDE button)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from pipeline.cli import scheduled
from pipeline.cli.common import (Command, config_option, epilog, interactive, json_option, quiet, say,
                                 scheduled_option, verbose, verbosity_options)
from pipeline.cli.progress import terminal_progress
from pipeline.cli.prompts import confirm
from pipeline.errors import CANNOT_RUN, NEEDS_PERSON, OK, PARTIAL, USAGE, CoffreError, UsageError
from pipeline.i18n import _, ngettext
from pipeline.units import number


@click.command("archive", cls=Command,
               help=_("Snapshot the till database and write encrypted, signed copies to every destination."),
               epilog=epilog(["coffre archive", "coffre archive --yes --to /media/usb-key",
                              "coffre archive --scheduled --json"],
                             [OK, USAGE, CANNOT_RUN, PARTIAL, NEEDS_PERSON],
                             {OK: _("every copy written, read back and checked")}))
@config_option
@click.option("--to", "destinations", multiple=True, metavar="DEST",
              help=_("Write to these destinations instead of the configured ones."))
@click.option("--yes", is_flag=True, help=_("Do not ask; use the configured destinations."))
@json_option()
@click.option("--allow-same-disk", is_flag=True, help=_("Experts: accept a destination on the database's own disk."))
@scheduled_option
@verbosity_options
def command(config_path, destinations, yes, as_json, allow_same_disk) -> None:
    from pipeline import config
    from pipeline.alerts.hooks import alerted
    from pipeline.archive import run_archive
    from pipeline.state.history import History

    cfg = config.load(config_path)
    specs = list(destinations) or list(cfg.destinations)
    if not destinations and not yes and not as_json and not scheduled.active() and interactive():
        specs = _ask_destination(History.of(cfg).last_destinations() or specs, list(cfg.destinations))
    hushed = as_json or scheduled.active() or quiet()
    with alerted(cfg, "archive", say) as alert:
        try:
            with terminal_progress(hushed) as progress:
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


def _ask_destination(proposed: list[str], configured: list[str]) -> list[str]:
    """The till's way: the destinations used last are proposed; "no" goes through every copy, one question each, then
    lets a folder be added. No copy is dropped without the person saying so."""
    if proposed and confirm(_("Save to {destinations}?").format(destinations=", ".join(proposed)), default=True):
        return proposed
    chosen = []
    for spec in dict.fromkeys(proposed + configured):  # every copy known, in order, once
        if confirm(_("Keep the copy on {destination}?").format(destination=spec), default=True):
            chosen.append(spec)
    while True:
        folder = click.prompt(_("Another folder to save to (USB key, external disk; empty to finish)"), default="",
                              show_default=False, err=True,
                              prompt_suffix=_("{heading}:").format(heading="") + " ").strip()  # " : " in French
        if not folder:
            break
        if not folder.startswith("rclone:"):
            folder = str(Path(folder).expanduser())
            if not Path(folder).is_dir():
                # Said now, and asked again: taken as it is, the run would end in exit code 4 for a key not plugged in.
                say(_("The folder {path} does not exist: plug in the USB key or disk (or create the folder), then "
                      "give it again.").format(path=Path(folder).absolute()), "error")
                continue
        if folder not in chosen:
            chosen.append(folder)
    if not chosen:
        raise UsageError(_("No destination chosen: nothing was saved. Keep at least one copy or give a folder."))
    return chosen


def _print_human(result) -> None:
    snap = result.facts.get("snapshot", {})
    blocks = snap.get("blocks") or {}
    size = number(snap.get('plain_size', 0) / 1e6, 1)
    if blocks.get("reused"):
        say(_("Run {run_id} of store {store_id}: snapshot of {size} MB ({compressed} of its {count} blocks compressed, "
              "the others copied unchanged from the last run) in {seconds} s.").format(
            run_id=result.run_id, store_id=result.store_id, size=size, compressed=blocks["compressed"],
            count=blocks["count"], seconds=number(result.seconds, 1)), "result")
    else:
        say(_("Run {run_id} of store {store_id}: snapshot of {size} MB in {seconds} s.").format(
            run_id=result.run_id, store_id=result.store_id, size=size, seconds=number(result.seconds, 1)), "result")
    for c in result.copies:
        if c.ok:
            say(_("  OK     {destination}").format(destination=c.destination))
        else:
            say(_("  FAILED {destination} — {reason}").format(destination=c.destination, reason=c.words or c.reason),
                "warning")
    if result.journals:
        j = result.journals
        verified = j["checks"]["signatures_verified"]
        say(ngettext("  Fiscal journals: {records} records in {journals} journals, {verified} signature verified "
                     "({unchanged} unchanged since the last check).",
                     "  Fiscal journals: {records} records in {journals} journals, {verified} signatures verified "
                     "({unchanged} unchanged since the last check).", verified).format(
            records=number(sum(j["records"].values())), journals=len(j["records"]), verified=number(verified),
            unchanged=number(j["checks"]["signatures_unchanged_since_last_check"])))
        because = j.get("all_records_because")
        if because and not result.first_run:
            # An evening that checks everything takes the time of a first run: the person hears why.
            say(_("  Every record was checked, not only the new ones: {reason}.").format(reason=because))
        if j["checks"].get("seals_checked"):
            say(ngettext("  The till's own chain: {n} seal recomputed by its recipe.",
                         "  The till's own chain: {n} seals recomputed by its recipe.",
                         j["checks"]["seals_checked"]).format(n=number(j["checks"]["seals_checked"])))
    if result.findings:
        say(ngettext("  ATTENTION: {n} finding in the fiscal journals (the data is saved all the same):",
                     "  ATTENTION: {n} findings in the fiscal journals (the data is saved all the same):",
                     len(result.findings)).format(n=len(result.findings)), "warning")
        shown = result.findings if verbose() else result.findings[:20]
        for f in shown:
            say(f"    ! {f['text']}", "warning")
        if len(result.findings) > len(shown):
            say(_("    … and {n} more: see findings.json in the run's journals (or -v).").format(
                n=len(result.findings) - len(shown)), "warning")
    if snap.get("quick_check") not in (None, "ok"):
        say(_("  WARNING: the source database fails SQLite's quick_check: {result}").format(
            result=snap["quick_check"]), "warning")
    if result.exit_code == 0 and result.held_not_read:
        # Not "every copy checked": what a copy held already is read again on its own evening only (reread_days).
        say(_("Every copy was written and read back. The blocks that {copies} held already were read again only "
              "where due (each every {days} days); coffre verify reads them all.").format(
            copies=", ".join(result.held_not_read), days=result.reread_days), "result")
    elif result.exit_code == 0:
        say(_("Every copy was written, read back and checked."), "result")
    elif result.exit_code == 4:
        say(_("Only some copies were written (exit 4): fix the failed destination and run again."), "result")
    elif result.exit_code == NEEDS_PERSON:
        say(_("Every copy was written; the findings above need a person (exit 5)."), "result")
