"""The `coffre` command: one small file per subcommand; the logic lives in the stages."""

from __future__ import annotations

import sys

import click

from pipeline import __version__, interrupt
from pipeline.cli.common import GuardedGroup


@click.group(cls=GuardedGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="coffre")
def cli() -> None:
    """Coffre keeps a shop's till data safe: several encrypted, signed copies, proven restorable."""


def _register() -> None:
    from pipeline.cli import (archive, demo, drill, export_auditor, init, journals, prune, rebuild_record, restore,
                              sample_db, schedule, status, verify)
    from pipeline.cli import list as list_command

    for module in (sample_db, init, archive, verify, restore, drill, prune, status, list_command, journals,
                   export_auditor, rebuild_record, schedule, demo):
        cli.add_command(module.command)


_register()


def main() -> None:
    # A service manager's SIGTERM goes the way of Ctrl-C: finally blocks run, the scratch copy of the database is
    # removed, the unfinished run stays unsigned, the exit code says it did not run, and the process ends promptly.
    interrupt.install()
    cli.main(prog_name="coffre", standalone_mode=True)


if __name__ == "__main__":
    main()
    sys.exit(0)
