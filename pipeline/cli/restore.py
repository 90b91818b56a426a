"""`coffre restore`: the first copy that verifies, into a new folder, never over the live database."""

from __future__ import annotations

import json

import click

from pipeline.cli.common import (Command, config_option, epilog, identity_option, identity_options, json_option, quiet,
                                 load_identity, run_option, say, verbosity_options)
from pipeline.errors import CANNOT_RUN, CHECK_FAILED, OK, USAGE
from pipeline.i18n import _
from pipeline.units import number
from pipeline.cli.progress import terminal_progress


@click.command("restore", cls=Command,
               help=_("Restore a run: verified, decrypted through temporary names, checked against the archive-time "
                      "facts. By default the database (snapshot.sqlite) and facts.json; the journals file is "
                      "authenticated (its BLAKE3 against the signed manifest) but not unpacked unless --journals is "
                      "given."),
               epilog=epilog(["coffre restore --identity /media/safe/identity.txt --out /tmp/restored",
                              "coffre restore --identity id.txt --out /tmp/r --run 20261205T203000Z-3fa1c2 "
                              "--from /media/usb-key",
                              "coffre restore --identity id.txt --out /tmp/r --journals --integrity-check --json"],
                             [OK, CHECK_FAILED, USAGE, CANNOT_RUN], {OK: _("restored and identical to what was archived")}))
@config_option
@identity_option()
@identity_options
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help=_("A new or empty folder to restore into."))
@run_option(_("The run to restore (default: the latest complete one). `latest`: the newest."))
@click.option("--from", "sources", multiple=True, metavar="DEST", help=_("Restore from these destinations, in this order."))
@click.option("--journals", "with_journals", is_flag=True,
              help=_("Also extract the fiscal journals into OUT/journals/ (by default they are only authenticated)."))
@click.option("--integrity-check", is_flag=True,
              help=_("Also run SQLite's PRAGMA integrity_check on the restored database (seconds per 100 MB)."))
@json_option()
@verbosity_options
def command(config_path, identity, passphrase_env, out_dir, run_id, sources, with_journals, integrity_check,
            as_json) -> None:
    from pathlib import Path

    from pipeline import config
    from pipeline.restore.restore import restore

    cfg = config.load(config_path)
    identities = load_identity(identity, passphrase_env)
    with terminal_progress(as_json or quiet()) as progress:
        res = restore(cfg, identities, Path(out_dir), run_id, list(sources) or None, say=say,
                      journals="extract" if with_journals else "authenticate",
                      integrity="full" if integrity_check else "none", progress=progress)
    if as_json:
        click.echo(json.dumps({"run_id": res.run_id, "destination": res.destination, "out": str(res.out_dir),
                               "files": [str(f) for f in res.files], "seconds": round(res.seconds, 3),
                               "skipped": res.skipped, "warnings": res.warnings,
                               "journals": "extracted" if with_journals else "authenticated",
                               "integrity_check": bool(integrity_check), "exit_code": OK}, indent=2))
    for s in res.skipped:
        say(_("Passed over: {reason}").format(reason=s))
    say(_("Restored run {run_id} from {destination} in {seconds} s:").format(
        run_id=res.run_id, destination=res.destination, seconds=number(res.seconds, 1)), "result")
    for f in res.files:
        say(f"  {f}", "result")
    if integrity_check:
        say(_("Identical to the database archived (BLAKE3), row counts equal to those recorded at archive time, "
              "PRAGMA integrity_check ok."))
    else:
        say(_("Identical to the database archived (BLAKE3), row counts equal to those recorded at archive time."))
    if not with_journals and res.facts.get("journals"):
        say(_("The journals file was authenticated, not unpacked (--journals extracts it)."))
    for w in res.warnings:
        say(_("Warning: {warning}").format(warning=w), "warning")
