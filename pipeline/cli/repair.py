"""`coffre repair`: heals damaged or missing blocks of each copy from another copy that holds them intact."""

from __future__ import annotations

import json

import click

from pipeline.cli.common import Command, config_option, epilog, json_option, say, verbosity_options
from pipeline.errors import CANNOT_RUN, CHECK_FAILED, OK, USAGE
from pipeline.i18n import _, ngettext
from pipeline.unreadable_blocks import by_reason, runs_named


@click.command("repair", cls=Command,
               help=_("Heal the damaged or missing blocks of each copy (format 2) from another copy that holds them "
                      "intact, held to the signed block lists; name the blocks no copy holds intact, with the runs "
                      "that need them."),
               epilog=epilog(["coffre repair", "coffre repair --from /media/usb-key --from /media/disk --json"],
                             [OK, CHECK_FAILED, USAGE, CANNOT_RUN],
                             {CHECK_FAILED: _("a block is damaged on a copy and no other copy holds it intact")}))
@config_option
@click.option("--from", "sources", multiple=True, metavar="DEST",
              help=_("Repair among these destinations instead of the configured ones."))
@json_option()
@verbosity_options
def command(config_path, sources, as_json) -> None:
    from pipeline import config
    from pipeline.repair import repair

    cfg = config.load(config_path)
    result = repair(cfg, list(sources) or list(cfg.destinations), say=say)
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2, sort_keys=True))
    else:
        for c in result.copies:
            if not c.reachable:
                say(_("{destination}: NOT CHECKED — {reason}").format(destination=c.destination, reason=c.reason),
                    "error")
                continue
            say(_("{destination}: {checked} blocks checked, {healed} healed.").format(
                destination=c.destination, checked=c.checked, healed=len(c.healed)), "result")
            for run_id in c.unchecked:
                say(_("{destination}: run {run_id} holds a signature, but its block lists do not check (coffre verify "
                      "says why): its blocks cannot be told, nor healed.").format(destination=c.destination,
                                                                                   run_id=run_id), "error")
            said_apart = _unreadable_lines(c)
            for block, runs in sorted(c.unhealed.items()):
                if block in said_apart:
                    continue
                # Copies that would not give it either: whether they hold it intact is not known.
                unknown = ", ".join(o.destination for o in result.copies if o is not c and block in o.unreadable)
                if block in c.unreadable:  # the copy's medium or permissions: not damage
                    if block in c.unwritten:
                        other, reason = c.unwritten[block]
                        said = _("{destination}: block {block} {why}; {other} holds it intact, but {reason}. The runs "
                                 "that need it: {runs} (check the copy's medium and permissions).")
                    elif unknown:
                        other, reason = unknown, ""
                        said = _("{destination}: block {block} {why}, and {other} could not give it either; the runs "
                                 "that need it: {runs} (check the copies' media and permissions, then run coffre "
                                 "repair again).")
                    else:
                        other = reason = ""
                        said = _("{destination}: block {block} {why}, and no other copy holds it intact; the runs that "
                                 "need it: {runs} (check the copy's medium and permissions).")
                    say(said.format(destination=c.destination, block=block, why=c.unreadable[block], other=other,
                                    reason=reason, runs=", ".join(runs)), "error")
                    continue
                if block not in c.unwritten and unknown:
                    say(_("{destination}: block {block} is damaged, and {other} could not give it: whether a copy holds "
                          "it intact is not known; the runs that need it: {runs} (once {other} can be read, run coffre "
                          "repair again).").format(destination=c.destination, block=block, other=unknown,
                                                   runs=", ".join(runs)), "error")
                    continue
                if block in c.unwritten:
                    other, reason = c.unwritten[block]
                    say(_("{destination}: block {block} is damaged; {other} holds it intact, but {reason}. The runs "
                          "that need it: {runs}.").format(destination=c.destination, block=block, other=other,
                                                          reason=reason, runs=", ".join(runs)), "error")
                    continue
                say(_("{destination}: block {block} is damaged and no other copy holds it intact; the runs that "
                      "need it: {runs}.").format(destination=c.destination, block=block, runs=", ".join(runs)),
                    "error")
            if c.no_room:
                say(ngettext("{destination} is full: {count} block that another copy holds intact could not be "
                             "written there. Make room on it (coffre prune, or a larger medium), then run coffre "
                             "repair again.",
                             "{destination} is full: {count} blocks that another copy holds intact could not be "
                             "written there. Make room on it (coffre prune, or a larger medium), then run coffre "
                             "repair again.", len(c.no_room)).format(destination=c.destination, count=len(c.no_room)),
                    "error")
    raise SystemExit(result.exit_code)


def _unreadable_lines(c) -> set[str]:
    """Says in one line each group of unhealed blocks the copy would not give for one same reason (an unreadable
    blocks/ folder: one line, not one per block); returns the blocks so said."""
    many, _few = by_reason({block: c.unreadable[block] for block in c.unhealed if block in c.unreadable})
    for blocks in many:
        say(ngettext("{destination}: {count} block could not be read, for this reason: {why}; {first} and {second} "
                     "among them; the runs that need them: {runs} (check the copy's medium and permissions, then run "
                     "coffre repair again).",
                     "{destination}: {count} blocks could not be read, each for the same reason: {why}; {first} and "
                     "{second} among them; the runs that need them: {runs} (check the copy's medium and permissions, "
                     "then run coffre repair again).", len(blocks)).format(
            destination=c.destination, count=len(blocks), why=c.unreadable[blocks[0]], first=blocks[0],
            second=blocks[1], runs=runs_named({r for b in blocks for r in c.unhealed[b]})), "error")
    return {b for blocks in many for b in blocks}
