"""`coffre export-auditor`: a verified package for a tax inspector, an AES-256 ZIP that 7-Zip opens."""

from __future__ import annotations

import json
import sys

import click

from pipeline.cli.common import (Command, config_option, epilog, identity_option, identity_options, json_option, quiet,
                                 load_identity, run_option, say, verbosity_options)
from pipeline import interrupt
from pipeline.errors import CANNOT_RUN, CHECK_FAILED, NEEDS_PERSON, OK, USAGE, UsageError
from pipeline.i18n import _, ngettext
from pipeline.sample import describe_counts
from pipeline.cli.progress import print_above, terminal_progress


@click.command("export-auditor", cls=Command,
               help=_("Deep-verify a copy, then package the period's journals, report, sums and signatures in an "
                      "AES-256 ZIP."),
               epilog=epilog(["coffre export-auditor --identity id.txt --period 2025-01-01..2025-12-31 "
                              "--out controle-2025.zip",
                              "coffre export-auditor --identity id.txt --period 2025-01-01..2025-03-31 --out t1.zip "
                              "--password-env ZIP_PASS --json"],
                             [OK, CHECK_FAILED, USAGE, CANNOT_RUN, NEEDS_PERSON],
                             {OK: _("package written, nothing to point out"),
                              NEEDS_PERSON: _("package written, with findings the inspector will see")}))
@config_option
@identity_option()
@identity_options
@click.option("--period", required=True, metavar="FROM..TO",
              help=_("The period to hand over (dates YYYY-MM-DD, inclusive)."))
@click.option("--out", "out_zip", required=True, type=click.Path(dir_okay=False),
              help=_("The ZIP file to write (must not exist)."))
@click.option("--password-env", metavar="VAR",
              help=_("Take the ZIP password from this environment variable; else one is generated and shown once."))
@run_option(_("Use this run (default: the latest complete one). `latest`: the newest."))
@click.option("--from", "sources", multiple=True, metavar="DEST", help=_("Read these destinations, in this order."))
@json_option()
@verbosity_options
def command(config_path, identity, passphrase_env, period, out_zip, password_env, run_id, sources, as_json) -> None:
    from pathlib import Path

    from pipeline import config
    from pipeline.auditor import password as pw
    from pipeline.auditor.package import build_package, letter_paths
    from pipeline.journals.command import parse_period

    cfg = config.load(config_path)
    span = parse_period(period)
    if password_env:
        secret = pw.from_env(password_env)
        if not secret:
            raise UsageError(_("The environment variable {name} is empty or not set.").format(name=password_env))
        generated = False
    else:
        if not sys.stderr.isatty():
            raise UsageError(_("Not on a terminal: give the ZIP password with --password-env VAR "
                               "(a generated password is only ever shown on a terminal)."))
        secret, generated = pw.generate(), True
    identities = load_identity(identity, passphrase_env)

    def published() -> None:
        if generated:
            # Shown once, on the terminal only, as soon as the package is there: never written to a file, a log or
            # the report.
            shown = "\n" + _("Package password (give it apart from the package; it will not be shown again):") + \
                f"\n\n    {secret}\n"
            if not print_above(shown):  # the progress bars may still be drawn
                click.echo(shown, err=True)

    with terminal_progress(as_json or quiet()) as progress:
        pkg = build_package(cfg, identities, span, Path(out_zip), secret, run_id, list(sources) or None, say=say,
                            progress=progress, published=published)
    text_letter, html_letter = letter_paths(pkg.path)
    code = NEEDS_PERSON if pkg.findings or pkg.earlier_findings else OK
    if interrupt.requested():
        code = CANNOT_RUN  # stopped once the package was whole: said at the end, as the exit code
    if as_json:  # never the password: it is shown on the terminal only
        click.echo(json.dumps({"package": str(pkg.path), "run_id": pkg.run_id, "destination": pkg.destination,
                               "records": pkg.records, "findings": pkg.findings,
                               "earlier_findings": pkg.earlier_findings, "files": pkg.files,
                               "letters": [str(text_letter), str(html_letter)], "exit_code": code}, indent=2))
    say(_("Package written: {path} — run {run_id} from {destination}, verified before use; {records}.").format(
        path=pkg.path, run_id=pkg.run_id, destination=pkg.destination,
        records=describe_counts(pkg.records)), "result")
    say(_("Cover letter (lettre de transmission): {text} and {html}, to print and give with the password, apart from "
          "the package: it carries the signing key's fingerprint and the package's SHA-256.").format(
        text=text_letter.name, html=html_letter.name), "result")
    say(_("In the package: rapport.html and LISEZMOI.txt in French for the inspector, report.en.html and README.txt "
          "in English."), "result")
    if pkg.findings:
        say(ngettext("ATTENTION: {n} finding in the journals of the period: see rapport.html and findings.json.",
                     "ATTENTION: {n} findings in the journals of the period: see rapport.html and findings.json.",
                     pkg.findings).format(n=pkg.findings), "warning")
    if pkg.earlier_findings:
        say(ngettext("ATTENTION: the runs of the period found {n} finding the evening each was made: see rapport.html "
                     "and run/runs.json.",
                     "ATTENTION: the runs of the period found {n} findings the evening each was made: see "
                     "rapport.html and run/runs.json.", pkg.earlier_findings).format(n=pkg.earlier_findings),
            "warning")
    interrupt.release()  # held since the package was published: it is whole, and its password shown
    raise SystemExit(code)  # the package is written all the same
