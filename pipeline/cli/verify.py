"""`coffre verify`: proves each copy intact, against the pinned key and the record of what was written."""

from __future__ import annotations

import json

import click

from pipeline.cli.common import config_option, identity_options, load_identity, run_option, say, scheduled_option
from pipeline.cli.progress import terminal_progress
from pipeline.errors import CHECK_FAILED, OK, UsageError


@click.command("verify")
@config_option
@click.option("--from", "sources", multiple=True, help="Verify these destinations instead of the configured ones.")
@run_option("Verify only this run (default: every run). `latest`: the newest.", latest_is_default=False)
@click.option("--all", "all_runs", is_flag=True, help="Every run (the default; for scripts that want to say so).")
@click.option("--deep", is_flag=True, help="Also decrypt every data file and hold it to the archive-time facts "
              "(the snapshot decompressed, its BLAKE3 and SQLite header); needs --identity.")
@click.option("--identity", type=click.Path(dir_okay=False), help="The age identity file, for --deep.")
@identity_options
@click.option("--read-data-subset", "subset", metavar="n/m", help="Read the data of only the n-th of m fixed slices of the runs.")
@click.option("--max-duration", type=click.FloatRange(min=0), metavar="SECONDS",
              help="Read data for at most this long, least recently checked runs first; the rest next time.")
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable report on standard output.")
@scheduled_option
def command(config_path, sources, run_id, all_runs, deep, identity, passphrase_env, subset, max_duration, as_json) -> None:
    """Check every copy: signature, every file's BLAKE3, nothing missing or added, the chain of runs."""
    from pipeline import config
    from pipeline.alerts.hooks import alerted
    from pipeline.verify.run import DataSelection, parse_subset, verify_destinations

    if run_id and all_runs:
        raise UsageError("--run and --all exclude each other.")
    if deep and not identity:
        raise UsageError("--deep needs --identity FILE (the age identity that decrypts the copies).")
    if subset and max_duration is not None:
        raise UsageError("--read-data-subset and --max-duration exclude each other.")
    cfg = config.load(config_path)
    with alerted(cfg, "verify", say, secret_env=(passphrase_env,)) as alert:
        identities = load_identity(identity, passphrase_env) if deep else None
        selection = DataSelection(parse_subset(subset) if subset else None, max_duration)
        with terminal_progress(as_json) as progress:
            outcome = verify_destinations(cfg, list(sources) or cfg.destinations, run_id, identities, selection,
                                          progress)
        reports = outcome.reports
        code = OK if all(r.ok for r in reports) else CHECK_FAILED
        alert.summary = {"exit_code": code, "deep": deep, "recorded": outcome.recorded, "copies": [
            {"destination": r.spec, "ok": r.ok, "missing": r.missing,
             "runs": [{"run_id": x.run_id, "ok": x.ok, "data_read": x.data_read, "bytes_read": x.bytes_read} for x in r.runs],
             "problems": [{"run": p.run_id, "file": p.file, "message": p.message} for p in r.problems],
             "notes": r.notes} for r in reports]}
        if as_json:
            click.echo(json.dumps(alert.summary, indent=2))
        else:
            _print_human(reports, deep, selection)
        if not outcome.recorded:
            say(f"Note: nothing was recorded of this verify ({outcome.not_recorded_because}): the state folder "
                f"{cfg.state_dir} cannot be written by this user. The copies were checked all the same.")
        raise SystemExit(code)


def _print_human(reports, deep: bool, selection) -> None:
    for r in reports:
        read = sum(1 for x in r.runs if x.data_read)
        verdict = "intact" if r.ok else "MISSING" if r.missing else "DAMAGED"
        say(f"{r.destination}: {verdict} — {len(r.runs)} run(s), data read for {read}"
            + (" (decrypted and held to the archive-time facts)" if deep else ""))
        for p in r.problems:
            say(f"  - {p.sentence()}")
        for n in r.notes:
            say(f"  note: {n}")
    if selection.subset or selection.max_seconds is not None:
        say(f"This time: {selection.describe()}; signatures, lists and chain of every run.")
