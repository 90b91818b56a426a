"""The `coffre` command: one small file per subcommand; the logic lives in the stages."""

from __future__ import annotations

import sys

import click

from pipeline import __version__, i18n, interrupt


def _language_asked(argv: list[str]) -> str | None:
    """The --lang given on the command line, read before any command is defined: click reads every option's help when
    the command is built, so the language must be known by then."""
    for i, arg in enumerate(argv):
        if arg == "--lang" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--lang="):
            return arg.split("=", 1)[1]
    return None


i18n.set_language(_language_asked(sys.argv[1:]))

from pipeline.cli.common import GuardedGroup, epilog  # noqa: E402  (after the language is chosen)
from pipeline.errors import CANNOT_RUN, CHECK_FAILED, NEEDS_PERSON, OK, PARTIAL, USAGE  # noqa: E402
from pipeline.i18n import _  # noqa: E402


def _set_language(ctx, param, value):
    if value:
        i18n.set_language(value)
        import os

        os.environ["COFFRE_LANG"] = value  # hooks and child processes of coffre speak it too


@click.group(cls=GuardedGroup, context_settings={"help_option_names": ["-h", "--help"]},
             help=_("Coffre keeps a shop's till data safe: several encrypted, signed copies, proven restorable."),
             epilog=epilog(["coffre demo", "coffre archive --yes", "coffre --lang fr status",
                            "coffre archive --help"], [OK, CHECK_FAILED, USAGE, CANNOT_RUN, PARTIAL, NEEDS_PERSON]))
@click.version_option(__version__, prog_name="coffre")
@click.option("--lang", type=click.Choice(i18n.LANGUAGES), expose_value=False, is_eager=True, callback=_set_language,
              help=_("The language of every message: fr or en (default: French under a French locale, else English)."))
def cli() -> None:
    pass


def _register() -> None:
    from pipeline.cli import (archive, completion, demo, drill, export_auditor, init, journals, prune, rebuild_record,
                              repair, restore, sample_db, schedule, status, verify)
    from pipeline.cli import list as list_command

    for module in (sample_db, init, archive, verify, restore, drill, prune, repair, status, list_command, journals,
                   export_auditor, rebuild_record, schedule, demo, completion):
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
