"""`coffre journals`: the fiscal journals, exported and checked, into a plain folder."""

from __future__ import annotations

import json

import click

from pipeline.cli.common import (Command, Group, config_option, epilog, identity_option, identity_options,
                                 json_option, load_identity, run_option, say, verbose, verbosity_options)
from pipeline.errors import CANNOT_RUN, NEEDS_PERSON, OK, USAGE
from pipeline.i18n import _, ngettext
from pipeline.sample import describe_counts


@click.group("journals", cls=Group,
             help=_("Fiscal journals (tickets, lines, payments, closures, JET, duplicates)."),
             epilog=epilog(["coffre journals export --out /tmp/journaux",
                            "coffre journals export --out /tmp/j2025 --period 2025-01-01..2025-12-31"],
                           [OK, USAGE, CANNOT_RUN, NEEDS_PERSON]))
def command() -> None:
    pass


@command.command("export", cls=Command,
                 help=_("Export the journals as CSV + JSON with findings.json and LISEZMOI.txt; check every chain and "
                        "total."),
                 epilog=epilog(["coffre journals export --out /tmp/journaux",
                                "coffre journals export --out /tmp/j2025 --period 2025-01-01..2025-12-31 --json",
                                "coffre journals export --out /tmp/j --run latest --identity /media/safe/identity.txt"],
                               [OK, USAGE, CANNOT_RUN, NEEDS_PERSON],
                               {OK: _("exported, every chain and total checked, no finding"),
                                NEEDS_PERSON: _("exported, with findings a person must look at")}))
@config_option
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help=_("A new or empty folder."))
@click.option("--period", metavar="FROM..TO", help=_("Only this period (dates YYYY-MM-DD, inclusive)."))
@run_option(_("Export from this archived run instead of the live database (needs --identity). `latest`: the newest."),
            latest_is_default=False)
@identity_option(_("The age identity file, with --run."), required=False)
@identity_options
@click.option("--from", "sources", multiple=True, metavar="DEST", help=_("With --run: the destinations to read, in this order."))
@json_option()
@verbosity_options
def export(config_path, out_dir, period, run_id, identity, passphrase_env, sources, as_json) -> None:
    from pathlib import Path

    from pipeline import config
    from pipeline.errors import UsageError
    from pipeline.journals.command import export_journals, parse_period

    cfg = config.load(config_path)
    if run_id == "latest":
        from pipeline.state.history import History

        last = History.of(cfg).last_run()
        if last is None:
            raise UsageError(_("--run latest: this machine has no archive run yet."))
        run_id = last["run_id"]
    if run_id and not identity:
        raise UsageError(_("--run needs --identity FILE (the age identity that decrypts the copies)."))
    identities = load_identity(identity, passphrase_env) if identity else None
    outcome = export_journals(cfg, Path(out_dir), parse_period(period), run_id, identities, list(sources) or None, say=say)
    summary = outcome.checks.summary()
    if as_json:
        from pipeline.journals.mapping import load_mapping, row_local_digest

        # The value a mapping's "row_local" word takes, for the mapping as it is (fixtures/vendor-till/README.md).
        word = row_local_digest(load_mapping(cfg.journals_mapping, cfg.journals_timezone).doc)
        click.echo(json.dumps({"out": str(outcome.folder), "records": outcome.counts, "checks": summary,
                               "findings": [f.to_json() for f in outcome.checks.findings],
                               "row_local_digest": word}, indent=2, ensure_ascii=False))
    say(_("Journals written to {folder}: {records}.").format(
        folder=outcome.folder, records=describe_counts(outcome.counts)), "result")
    findings = outcome.checks.findings
    if findings:
        say(ngettext("ATTENTION: {n} finding:", "ATTENTION: {n} findings:", len(findings)).format(n=len(findings)),
            "warning")
        shown = findings if verbose() else findings[:20]
        for f in shown:
            say(f"  ! {f.sentence()}", "warning")
        if len(findings) > len(shown):
            say(_("  … and {n} more: see findings.json (or -v).").format(n=len(findings) - len(shown)), "warning")
        # Exported all the same, but a person must look (exit 5, as an archive run with findings).
        raise SystemExit(NEEDS_PERSON)
    n = summary["signatures_verified"]
    say(ngettext("Checks: no finding ({n} signature verified).", "Checks: no finding ({n} signatures verified).",
                 n).format(n=n), "result")
    if summary.get("seals_checked"):
        say(ngettext("  The till's own chain: {n} seal recomputed by its recipe.",
                     "  The till's own chain: {n} seals recomputed by its recipe.",
                     summary["seals_checked"]).format(n=summary["seals_checked"]))
