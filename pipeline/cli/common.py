"""What every subcommand shares: one-sentence errors with the documented exit codes, messages, -q/-v, --help."""

from __future__ import annotations

import os
import sys

import click

from pipeline import interrupt
from pipeline.cli import progress, scheduled
from pipeline.errors import CANNOT_RUN, CHECK_FAILED, NEEDS_PERSON, OK, PARTIAL, USAGE, CoffreError
from pipeline.i18n import _
from pipeline.system_errors import error_words

# How much a command says: -q (errors, warnings and the final result line), normal, -v (more detail).
QUIET, NORMAL, VERBOSE = -1, 0, 1
_verbosity = NORMAL


# click translates these through a variable, where extraction cannot see them: named here for the catalogue.
_CLICK_WORDS = (_("required"),)


def say(message: str, level: str | None = None) -> None:
    """One message for the person on standard error.

    `level`: error, warning, info (which matters under --scheduled), `result` (the command's final line: said even
    under -q) or `detail` (said only under -v). Messages without a level (what the stages say as they go) are left
    out under -q unless their words make them a warning or an error."""
    if interrupt.requested() and not interrupt.holding():
        return  # what a stopping command meets (a copy failing as its upload is killed) is the stop, already said
    if level == "detail" and _verbosity < VERBOSE:
        return
    if scheduled.active():
        scheduled.say(message, level if level in scheduled.PRIORITY else None)
        return
    if _verbosity <= QUIET and (level or scheduled.level_of(message)) not in ("error", "warning", "result"):
        return  # a stage's own warnings carry no level: their words say what they are, as under --scheduled
    if progress.print_above(message):
        return
    click.echo(message, err=True)


def quiet() -> bool:
    """-q was given: no progress, only errors, warnings and the final result line."""
    return _verbosity <= QUIET


def verbose() -> bool:
    return _verbosity >= VERBOSE


def _set_verbosity(level: int):
    def callback(ctx, param, value):
        global _verbosity
        if value:
            _verbosity = level
    return callback


def verbosity_options(f):
    """-q/--quiet and -v/--verbose, on every command."""
    f = click.option("-v", "--verbose", is_flag=True, expose_value=False, callback=_set_verbosity(VERBOSE),
                     help=_("Say more: the detail of each step where the command has it."))(f)
    f = click.option("-q", "--quiet", is_flag=True, expose_value=False, callback=_set_verbosity(QUIET),
                     help=_("Say only errors, warnings and the final result line; no progress."))(f)
    return f


def json_option(help_text: str | None = None):
    return click.option("--json", "as_json", is_flag=True,
                        help=help_text or _("Print a machine-readable summary on standard output."))


scheduled_option = scheduled.option


class Formatter(click.HelpFormatter):
    """click's help, with the colon of each heading written as the language writes it ("Options :" in French)."""

    def write_heading(self, heading: str) -> None:
        self.write(f"{'':>{self.current_indent}}" + _("{heading}:").format(heading=heading) + "\n")


class Context(click.Context):
    formatter_class = Formatter


class Command(click.Command):
    context_class = Context


class Group(click.Group):
    context_class = Context
    command_class = Command

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("subcommand_metavar", _("COMMAND [ARGS]..."))
        super().__init__(*args, **kwargs)


def role_text(role: str) -> str:
    """A copy's role as a person reads it (the config's value, `on-site` or `off-site`, stays as it is)."""
    return {"on-site": _("on-site"), "off-site": _("off-site")}.get(role, role)


def exit_meanings() -> dict[int, str]:
    return {
        OK: _("all good"),
        CHECK_FAILED: _("a check failed: a copy damaged, missing or tampered with, or a restore that does not match"),
        USAGE: _("wrong usage or configuration (an option, a file, the identity)"),
        CANNOT_RUN: _("could not run: source unreadable, destination missing or full, another run in progress"),
        PARTIAL: _("partial: some copies written, others not"),
        NEEDS_PERSON: _("done and saved, but what was saved needs a person (findings, data that shrank)"),
    }


def epilog(examples: list[str], codes: list[int], meanings: dict[int, str] | None = None) -> str:
    """The end of a command's --help: examples, then the exit codes it can give (click keeps the lines after \\b)."""
    said = {**exit_meanings(), **(meanings or {})}
    lines = ["\b", _("Examples:")] + [f"  {e}" for e in examples]
    lines += ["", "\b", _("Exit codes:")] + [f"  {code}  {said[code]}" for code in codes]
    return "\n".join(lines)


class GuardedGroup(Group):
    """Turns every failure into one sentence and an exit code; never a traceback."""

    def resolve_command(self, ctx, args):
        name, command, rest = super().resolve_command(ctx, args)
        if ctx.parent is None:  # `coffre journals export` is the journals command's
            interrupt.running(command.name if command is not None else None)
        return name, command, rest

    def main(self, *args, **kwargs):
        kwargs["standalone_mode"] = False
        try:
            code = super().main(*args, **kwargs) or 0
        except SystemExit as done:  # a command's own exit code: held-back messages of --scheduled still go out
            code = done.code
        except (click.exceptions.Abort, KeyboardInterrupt):
            # Said, then ended at once: a worker thread stuck on a medium must not keep the process alive.
            scheduled.finish(CANNOT_RUN)
            interrupt.end()
        except Exception as e:
            if interrupt.requested():
                scheduled.finish(CANNOT_RUN)
                interrupt.end()  # an error met while stopping follows from the stop: the stop is what is said
            code = _report(e)
        except BaseException as e:  # a library's own (pyo3's PanicException), most often a stop landing inside it
            if interrupt.requested():
                scheduled.finish(CANNOT_RUN)
                interrupt.end()
            code = _report(RuntimeError(f"{type(e).__name__}: {e}"))
        try:
            # The held-back messages and what is buffered go out first, stops still heard: a reader that never reads
            # (a stuck log pipe) must leave the command killable.
            code = scheduled.finish(code)
            for stream in (sys.stdout, sys.stderr):
                stream.flush()
            # The work is done, said, and its code known: a stop from here would only make the interpreter's last
            # steps die by the signal (Python gives the default handlers back as it finishes), the code lost.
            interrupt.ignore_from_now()
        except KeyboardInterrupt:
            # A stop while the finished command says its last words (into a reader that may never read): it ends now,
            # with the command's own code (a signed run stays signed, a damaged copy stays "check failed").
            interrupt.end(code if isinstance(code, int) else CANNOT_RUN, flush=False, say=False)
        sys.exit(code)


def _report(e: Exception) -> int:
    """Says in one sentence what stopped the command; returns the exit code."""
    if isinstance(e, click.exceptions.Exit):
        return e.exit_code
    if isinstance(e, click.ClickException):
        e.show()
        return USAGE
    if isinstance(e, CoffreError):
        say(_("coffre: {error}").format(error=e), "error")
        return e.exit_code
    if isinstance(e, OSError):
        if getattr(e, "filename", None):
            say(_("coffre: a system error stopped the command: {reason} ({path}).").format(
                reason=error_words(e), path=e.filename), "error")
        else:
            say(_("coffre: a system error stopped the command: {reason}.").format(reason=error_words(e)), "error")
        return CANNOT_RUN
    if os.environ.get("COFFRE_DEBUG"):  # a bug must still end in one sentence; COFFRE_DEBUG=1 shows the trace
        raise e
    say(_("coffre: internal error ({kind}: {error}); nothing was counted as done. "
          "Run again with COFFRE_DEBUG=1 for details.").format(kind=type(e).__name__, error=e), "error")
    return CANNOT_RUN


def config_option(f):
    return click.option("--config", "config_path", type=click.Path(dir_okay=False), callback=_resolve_config,
                        help=_("The store's configuration file (written by `coffre init`). Default: $COFFRE_CONFIG, "
                               "else ~/.config/coffre/coffre.toml (not for root), else /etc/coffre/coffre.toml."))(f)


def _resolve_config(ctx, param, value):
    # Resolved here, once for every command, so that each command's code receives a path as before.
    from pipeline import config_path

    return str(config_path.resolve(value))


def interactive() -> bool:
    return sys.stdin.isatty() and sys.stderr.isatty()


def identity_options(f):
    f = click.option("--passphrase-env", metavar="VAR",
                     help=_("The identity file's passphrase is in this environment variable (else asked on a "
                            "terminal)."))(f)
    return f


def identity_option(help_text: str | None = None, required: bool = True):
    return click.option("--identity", required=required, type=click.Path(dir_okay=False),
                        help=help_text or _("The age identity file that decrypts the copies."))


def load_identity(path: str, passphrase_env: str | None) -> list:
    """Reads the age identity; a protected one takes its passphrase from VAR or, on a terminal, a prompt."""
    from pathlib import Path

    from pipeline.errors import UsageError
    from pipeline.keys.age_identity import is_passphrase_protected, load_identities

    p = Path(path)
    if not p.is_file():
        raise UsageError(_("The identity file {path} does not exist.").format(path=p))
    passphrase = None
    if is_passphrase_protected(p):
        if passphrase_env:
            passphrase = os.environ.get(passphrase_env)
            if not passphrase:
                raise UsageError(_("The environment variable {name} is empty or not set.").format(name=passphrase_env))
        elif interactive():
            passphrase = click.prompt(_("Passphrase of {path}").format(path=p), hide_input=True, err=True,
                                      prompt_suffix=_(": "))
    return load_identities(p, passphrase)


def run_option(help_text: str, latest_is_default: bool = True):
    """--run RUN; `latest` names the newest run (where the command's default is already the newest, it is that
    default)."""
    def callback(ctx, param, value):
        from pipeline.manifest.format import RUN_ID

        if value is not None and value.lower() == "latest":
            return None if latest_is_default else "latest"
        if value is not None and not RUN_ID.match(value):
            raise click.BadParameter(
                _("{value!r} is not a run id (such as 20261205T203000Z-3fa1c2) nor `latest`.").format(value=value))
        return value

    return click.option("--run", "run_id", callback=callback, metavar="RUN|latest", help=help_text)
