"""`coffre restore`: the first copy that verifies, into a new folder, never over the live database."""

from __future__ import annotations

import click

from pipeline.cli.common import config_option, identity_options, load_identity, say


@click.command("restore")
@config_option
@click.option("--identity", required=True, type=click.Path(dir_okay=False), help="The age identity file that decrypts the copies.")
@identity_options
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="A new or empty folder to restore into.")
@click.option("--run", "run_id", help="The run to restore (default: the latest complete one).")
@click.option("--from", "sources", multiple=True, help="Restore from these destinations, in this order.")
def command(config_path, identity, passphrase_env, out_dir, run_id, sources) -> None:
    """Restore a run: verified, decrypted through temporary names, checked against the archive-time facts."""
    from pathlib import Path

    from pipeline import config
    from pipeline.restore.restore import restore

    cfg = config.load(config_path)
    identities = load_identity(identity, passphrase_env)
    res = restore(cfg, identities, Path(out_dir), run_id, list(sources) or None, say=say)
    for s in res.skipped:
        say(f"Passed over: {s}")
    say(f"Restored run {res.run_id} from {res.destination} in {res.seconds:.1f} s:")
    for f in res.files:
        say(f"  {f}")
    say("Integrity checked and row counts equal to those recorded at archive time.")
