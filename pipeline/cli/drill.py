"""`coffre drill`: the monthly restore drill, every copy restored to scratch, checked, timed, removed."""

from __future__ import annotations

import json

import click

from pipeline.cli.common import config_option, identity_options, load_identity, run_option, say, scheduled_option
from pipeline.cli.progress import terminal_progress
from pipeline.errors import CHECK_FAILED, OK


@click.command("drill")
@config_option
@click.option("--identity", required=True, type=click.Path(dir_okay=False), help="The age identity file that decrypts the copies.")
@identity_options
@click.option("--from", "sources", multiple=True, help="Drill these destinations instead of the configured ones.")
@run_option("Drill this run (default: the latest complete one of each copy). `latest`: the newest.")
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable report on standard output.")
@scheduled_option
def command(config_path, identity, passphrase_env, sources, run_id, as_json) -> None:
    """Restore every copy into a scratch folder, check it against the archive-time facts, report, clean up."""
    from pipeline import config
    from pipeline.alerts.hooks import alerted
    from pipeline.restore.drill import drill

    cfg = config.load(config_path)
    with alerted(cfg, "drill", say, secret_env=(passphrase_env,)) as alert:
        identities = load_identity(identity, passphrase_env)
        with terminal_progress(as_json) as progress:
            report = drill(cfg, identities, list(sources) or cfg.destinations, run_id, say=say, progress=progress)
        code = OK if report.ok else CHECK_FAILED
        alert.summary = dict(report.to_json(), recorded=report.recorded, exit_code=code)
        if as_json:
            click.echo(json.dumps(dict(report.to_json(), recorded=report.recorded), indent=2))
        else:
            _print_human(report)
        if not report.recorded:
            say(f"Note: nothing was recorded of this drill ({report.not_recorded_because}): the state folder "
                f"{cfg.state_dir} cannot be written by this user. The copies were drilled all the same.")
        raise SystemExit(code)


def _print_human(report) -> None:
    for o in report.outcomes:
        if o.ok:
            say(f"PASS {o.destination}: run {o.run_id} restored in {o.seconds:.2f} s "
                f"({o.restored_bytes / 1e6:.1f} MB, {o.tables} tables, {o.rows} rows as recorded)")
            for note in o.notes:
                say(f"  Warning: {note}")
        else:
            say(f"FAIL {o.destination}: {o.problem}")
