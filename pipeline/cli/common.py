"""What every subcommand shares: one-sentence errors with the documented exit codes, and messages."""

from __future__ import annotations

import os
import sys

import click

from pipeline import interrupt
from pipeline.cli import scheduled
from pipeline.errors import CANNOT_RUN, USAGE, CoffreError


def say(message: str, level: str | None = None) -> None:
    """One message for the person on standard error; `level` (error, warning, info) matters under --scheduled."""
    if interrupt.requested():
        return  # what a stopping command meets (a copy failing as its upload is killed) is the stop, already said
    if scheduled.active():
        scheduled.say(message, level)
    else:
        click.echo(message, err=True)


scheduled_option = scheduled.option


class GuardedGroup(click.Group):
    """Turns every failure into one sentence and an exit code; never a traceback."""

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
        sys.exit(scheduled.finish(code))


def _report(e: Exception) -> int:
    """Says in one sentence what stopped the command; returns the exit code."""
    if isinstance(e, click.exceptions.Exit):
        return e.exit_code
    if isinstance(e, click.ClickException):
        e.show()
        return USAGE
    if isinstance(e, CoffreError):
        say(f"coffre: {e}", "error")
        return e.exit_code
    if isinstance(e, OSError):
        where = f" ({e.filename})" if getattr(e, "filename", None) else ""
        say(f"coffre: a system error stopped the command: {e.strerror or e}{where}.", "error")
        return CANNOT_RUN
    if os.environ.get("COFFRE_DEBUG"):  # a bug must still end in one sentence; COFFRE_DEBUG=1 shows the trace
        raise e
    say(f"coffre: internal error ({type(e).__name__}: {e}); nothing was counted as done. "
        "Run again with COFFRE_DEBUG=1 for details.", "error")
    return CANNOT_RUN


def config_option(f):
    return click.option("--config", "config_path", type=click.Path(dir_okay=False), callback=_resolve_config,
                        help="The store's configuration file (written by `coffre init`). Default: $COFFRE_CONFIG, "
                             "else ~/.config/coffre/coffre.toml (not for root), else /etc/coffre/coffre.toml.")(f)


def _resolve_config(ctx, param, value):
    # Resolved here, once for every command, so that each command's code receives a path as before.
    from pipeline import config_path

    return str(config_path.resolve(value))


def interactive() -> bool:
    return sys.stdin.isatty() and sys.stderr.isatty()


def identity_options(f):
    f = click.option("--passphrase-env", metavar="VAR",
                     help="The identity file's passphrase is in this environment variable (else asked on a terminal).")(f)
    return f


def load_identity(path: str, passphrase_env: str | None) -> list:
    """Reads the age identity; a protected one takes its passphrase from VAR or, on a terminal, a prompt."""
    from pathlib import Path

    from pipeline.errors import UsageError
    from pipeline.keys.age_identity import is_passphrase_protected, load_identities

    p = Path(path)
    if not p.is_file():
        raise UsageError(f"The identity file {p} does not exist.")
    passphrase = None
    if is_passphrase_protected(p):
        if passphrase_env:
            passphrase = os.environ.get(passphrase_env)
            if not passphrase:
                raise UsageError(f"The environment variable {passphrase_env} is empty or not set.")
        elif interactive():
            passphrase = click.prompt(f"Phrase secrète de {p}", hide_input=True, err=True)
    return load_identities(p, passphrase)


def run_option(help_text: str, latest_is_default: bool = True):
    """--run RUN; `latest` names the newest run (where the command's default is already the newest, it is that
    default)."""
    def callback(ctx, param, value):
        from pipeline.manifest.format import RUN_ID

        if value is not None and value.lower() == "latest":
            return None if latest_is_default else "latest"
        if value is not None and not RUN_ID.match(value):
            raise click.BadParameter(f"{value!r} is not a run id (such as 20261205T203000Z-3fa1c2) nor `latest`.")
        return value

    return click.option("--run", "run_id", callback=callback, metavar="RUN|latest", help=help_text)
