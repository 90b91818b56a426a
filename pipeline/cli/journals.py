"""`coffre journals`: the fiscal journals, exported and checked, into a plain folder."""

from __future__ import annotations

import json

import click

from pipeline.cli.common import config_option, identity_options, load_identity, run_option, say
from pipeline.errors import NEEDS_PERSON


@click.group("journals")
def command() -> None:
    """Fiscal journals (tickets, lines, payments, closures, JET, duplicates)."""


@command.command("export")
@config_option
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="A new or empty folder.")
@click.option("--period", metavar="FROM..TO", help="Only this period (dates YYYY-MM-DD, inclusive).")
@run_option("Export from this archived run instead of the live database (needs --identity). `latest`: the newest.",
            latest_is_default=False)
@click.option("--identity", type=click.Path(dir_okay=False), help="The age identity file, with --run.")
@identity_options
@click.option("--from", "sources", multiple=True, help="With --run: the destinations to read, in this order.")
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable summary on standard output.")
def export(config_path, out_dir, period, run_id, identity, passphrase_env, sources, as_json) -> None:
    """Export the journals as CSV + JSON with findings.json and LISEZMOI.txt; check every chain and total."""
    from pathlib import Path

    from pipeline import config
    from pipeline.errors import UsageError
    from pipeline.journals.command import export_journals, parse_period

    cfg = config.load(config_path)
    if run_id == "latest":
        from pipeline.state.history import History

        last = History.of(cfg).last_run()
        if last is None:
            raise UsageError("--run latest: this machine has no archive run yet.")
        run_id = last["run_id"]
    if run_id and not identity:
        raise UsageError("--run needs --identity FILE (the age identity that decrypts the copies).")
    identities = load_identity(identity, passphrase_env) if identity else None
    outcome = export_journals(cfg, Path(out_dir), parse_period(period), run_id, identities, list(sources) or None, say=say)
    summary = outcome.checks.summary()
    if as_json:
        click.echo(json.dumps({"out": str(outcome.folder), "records": outcome.counts, "checks": summary,
                               "findings": [f.to_json() for f in outcome.checks.findings]}, indent=2, ensure_ascii=False))
    say(f"Journals written to {outcome.folder}: " + ", ".join(f"{n} {k}" for k, n in outcome.counts.items()) + ".")
    if outcome.checks.findings:
        say(f"ATTENTION: {len(outcome.checks.findings)} finding(s):")
        for f in outcome.checks.findings[:20]:
            say(f"  ! {f.sentence()}")
        # Exported all the same, but a person must look (exit 5, as an archive run with findings).
        raise SystemExit(NEEDS_PERSON)
    say(f"Checks: no finding ({summary['signatures_verified']} signatures verified).")
