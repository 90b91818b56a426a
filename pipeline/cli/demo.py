"""`coffre demo`: the whole job on a built-in sample shop, on a fresh machine, in seconds."""

from __future__ import annotations

import json
from pathlib import Path

import click

from pipeline.cli.common import Command, epilog, json_option, quiet, say, verbosity_options
from pipeline.errors import CHECK_FAILED, OK, USAGE
from pipeline.i18n import _
from pipeline.cli.progress import terminal_progress


@click.command("demo", cls=Command,
               help=_("Sample shop, keys, an archive run to two folders, verify what was written, a restore drill."),
               epilog=epilog(["coffre demo", "coffre demo --dir /tmp/essai --days 365", "coffre demo --json"],
                             [OK, CHECK_FAILED, USAGE], {OK: _("every step passed")}))
@click.option("--dir", "folder", type=click.Path(file_okay=False),
              help=_("Where to build the demo (default: ./coffre-demo, or -2, -3… if taken)."))
@click.option("--days", default=30, show_default=True, type=click.IntRange(1, 3660), help=_("Days of sample trading."))
@json_option()
@verbosity_options
def command(folder, days, as_json) -> None:
    from pipeline.demo import run_demo

    steps: list[str] = []

    def tell(message: str) -> None:
        steps.append(message)
        if not as_json:
            say(message)

    with terminal_progress(as_json or quiet()) as progress:
        code = run_demo(Path(folder) if folder else None, days, tell, progress)
    if as_json:
        click.echo(json.dumps({"ok": code == OK, "exit_code": code, "steps": [s for s in steps if s.strip()]},
                              indent=2, ensure_ascii=False))
    elif code == OK:
        say(_("Demo finished: every step passed."), "result")
    else:
        say(_("Demo finished: a step failed (see above)."), "result")
    raise SystemExit(code)
