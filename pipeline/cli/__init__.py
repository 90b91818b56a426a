"""The `coffre` command: one small file per subcommand; the logic lives in the stages."""

from __future__ import annotations

import importlib
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


# Each subcommand's module, imported when that command is asked for: `coffre verify` does not load the code of the
# auditor's package nor of the sample shop (a verify of a year's store is under half a second; its start counts).
COMMANDS = {"sample-db": "sample_db", "init": "init", "archive": "archive", "verify": "verify", "restore": "restore",
            "drill": "drill", "prune": "prune", "repair": "repair", "status": "status", "list": "list",
            "journals": "journals", "export-auditor": "export_auditor", "rebuild-record": "rebuild_record",
            "schedule": "schedule", "demo": "demo", "completion": "completion"}


class _Commands(GuardedGroup):
    def list_commands(self, ctx) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx, name: str):
        module = COMMANDS.get(name)
        return importlib.import_module(f"pipeline.cli.{module}").command if module else None

    def resolve_command(self, ctx, args):
        try:
            return super().resolve_command(ctx, args)
        except click.exceptions.NoSuchCommand as err:  # "did you mean" is drawn from the names, none loaded yet
            raise click.exceptions.NoSuchCommand(err.command_name, possibilities=COMMANDS, ctx=ctx) from None


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]},
             help=_("Coffre keeps a shop's till data safe: several encrypted, signed copies, proven restorable."),
             epilog=epilog(["coffre demo", "coffre archive --yes", "coffre --lang fr status",
                            "coffre archive --help"], [OK, CHECK_FAILED, USAGE, CANNOT_RUN, PARTIAL, NEEDS_PERSON]))
@click.version_option(__version__, prog_name="coffre")
@click.option("--lang", type=click.Choice(i18n.LANGUAGES), expose_value=False, is_eager=True, callback=_set_language,
              help=_("The language of every message: fr or en (default: French under a French locale, else English)."))
def cli() -> None:
    pass


def main() -> None:
    # A service manager's SIGTERM goes the way of Ctrl-C: finally blocks run, the scratch copy of the database is
    # removed, the unfinished run stays unsigned, the exit code says it did not run, and the process ends promptly.
    try:
        interrupt.install()  # (pipeline/command.py has already, when it is the entry)
    except KeyboardInterrupt:
        interrupt.end()
    cli.main(prog_name="coffre", standalone_mode=True)


if __name__ == "__main__":
    main()
    sys.exit(0)
