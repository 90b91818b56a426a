"""`coffre export-auditor`: a verified package for a tax inspector, an AES-256 ZIP that 7-Zip opens."""

from __future__ import annotations

import sys

import click

from pipeline.cli.common import config_option, identity_options, load_identity, run_option, say
from pipeline.cli.progress import terminal_progress
from pipeline.errors import NEEDS_PERSON, UsageError


@click.command("export-auditor")
@config_option
@click.option("--identity", required=True, type=click.Path(dir_okay=False), help="The age identity file that decrypts the copies.")
@identity_options
@click.option("--period", required=True, metavar="FROM..TO", help="The period to hand over (dates YYYY-MM-DD, inclusive).")
@click.option("--out", "out_zip", required=True, type=click.Path(dir_okay=False), help="The ZIP file to write (must not exist).")
@click.option("--password-env", metavar="VAR", help="Take the ZIP password from this environment variable; else one is generated and shown once.")
@run_option("Use this run (default: the latest complete one). `latest`: the newest.")
@click.option("--from", "sources", multiple=True, help="Read these destinations, in this order.")
def command(config_path, identity, passphrase_env, period, out_zip, password_env, run_id, sources) -> None:
    """Deep-verify a copy, then package the period's journals, report, sums and signatures in an AES-256 ZIP."""
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
            raise UsageError(f"The environment variable {password_env} is empty or not set.")
        generated = False
    else:
        if not sys.stderr.isatty():
            raise UsageError("Not on a terminal: give the ZIP password with --password-env VAR "
                             "(a generated password is only ever shown on a terminal).")
        secret, generated = pw.generate(), True
    identities = load_identity(identity, passphrase_env)
    with terminal_progress() as progress:
        pkg = build_package(cfg, identities, span, Path(out_zip), secret, run_id, list(sources) or None, say=say,
                            progress=progress)
    say(f"Package written: {pkg.path} — run {pkg.run_id} from {pkg.destination}, verified before use; "
        + ", ".join(f"{n} {k}" for k, n in pkg.records.items()) + ".")
    text_letter, html_letter = letter_paths(pkg.path)
    say(f"Cover letter (lettre de transmission): {text_letter.name} and {html_letter.name}, to print and give with the "
        "password, apart from the package: it carries the signing key's fingerprint and the package's SHA-256.")
    if pkg.findings:
        say(f"ATTENTION: {pkg.findings} finding(s) in the journals of the period: see rapport.html and findings.json.")
    if pkg.earlier_findings:
        say(f"ATTENTION: the runs of the period found {pkg.earlier_findings} finding(s) the evening each was made: "
            "see rapport.html and run/runs.json.")
    if generated:
        # Shown once, on the terminal only: never written to a file, a log or the report.
        click.echo(f"\nMot de passe du paquet (à transmettre à part, il ne sera plus affiché) :\n\n    {secret}\n", err=True)
    if pkg.findings or pkg.earlier_findings:
        raise SystemExit(NEEDS_PERSON)  # the package is written all the same
