"""`coffre rebuild-record`: the way out when this machine's record of runs cannot be read."""

from __future__ import annotations

import click

from pipeline.cli.common import config_option, say


@click.command("rebuild-record")
@config_option
@click.option("--from", "sources", multiple=True, help="Read these destinations instead of the configured ones.")
def command(config_path, sources) -> None:
    """Keep an unreadable record aside and rebuild it from the runs the copies hold (signed with the pinned key)."""
    from pipeline import config
    from pipeline.verify.rebuild import rebuild_record

    cfg = config.load(config_path)
    out = rebuild_record(cfg, list(sources) or cfg.destinations, say=say)
    if out.kept_aside:
        say(f"The unreadable record was kept aside as {out.kept_aside}.")
    say(f"New record: {out.runs} run(s) found on {len(out.copies_read)} copy(ies): {', '.join(out.copies_read) or 'none'}.")
    for missed in out.copies_missed:
        say(f"  Not read (its runs are not in the new record): {missed}")
    say("The next archive run checks every journal record again.")
