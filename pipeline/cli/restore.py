"""`coffre restore`: the first copy that verifies, into a new folder, never over the live database."""

from __future__ import annotations

import click

from pipeline.cli.common import config_option, identity_options, load_identity, run_option, say
from pipeline.cli.progress import terminal_progress


@click.command("restore")
@config_option
@click.option("--identity", required=True, type=click.Path(dir_okay=False), help="The age identity file that decrypts the copies.")
@identity_options
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="A new or empty folder to restore into.")
@run_option("The run to restore (default: the latest complete one). `latest`: the newest.")
@click.option("--from", "sources", multiple=True, help="Restore from these destinations, in this order.")
@click.option("--journals", "with_journals", is_flag=True,
              help="Also extract the fiscal journals into OUT/journals/ (by default they are only authenticated).")
@click.option("--integrity-check", is_flag=True,
              help="Also run SQLite's PRAGMA integrity_check on the restored database (seconds per 100 MB).")
def command(config_path, identity, passphrase_env, out_dir, run_id, sources, with_journals, integrity_check) -> None:
    """Restore a run: verified, decrypted through temporary names, checked against the archive-time facts.

    By default the database (snapshot.sqlite) and facts.json; the journals file is authenticated (its BLAKE3
    against the signed manifest) but not unpacked unless --journals is given."""
    from pathlib import Path

    from pipeline import config
    from pipeline.restore.restore import restore

    cfg = config.load(config_path)
    identities = load_identity(identity, passphrase_env)
    with terminal_progress() as progress:
        res = restore(cfg, identities, Path(out_dir), run_id, list(sources) or None, say=say,
                      journals="extract" if with_journals else "authenticate",
                      integrity="full" if integrity_check else "none", progress=progress)
    for s in res.skipped:
        say(f"Passed over: {s}")
    say(f"Restored run {res.run_id} from {res.destination} in {res.seconds:.1f} s:")
    for f in res.files:
        say(f"  {f}")
    say("Identical to the database archived (BLAKE3), row counts equal to those recorded at archive time"
        + (", PRAGMA integrity_check ok." if integrity_check else "."))
    if not with_journals and res.facts.get("journals"):
        say("The journals file was authenticated, not unpacked (--journals extracts it).")
    for w in res.warnings:
        say(f"Warning: {w}")
