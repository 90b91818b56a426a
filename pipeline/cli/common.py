"""What every subcommand shares: one-sentence errors with the documented exit codes, and messages."""

from __future__ import annotations

import os
import sys

import click

from pipeline.errors import CANNOT_RUN, USAGE, CoffreError


def say(message: str) -> None:
    click.echo(message, err=True)


class GuardedGroup(click.Group):
    """Turns every failure into one sentence and an exit code; never a traceback."""

    def main(self, *args, **kwargs):
        kwargs["standalone_mode"] = False
        try:
            code = super().main(*args, **kwargs)
        except click.exceptions.Exit as e:
            sys.exit(e.exit_code)
        except click.ClickException as e:
            e.show()
            sys.exit(USAGE)
        except click.exceptions.Abort:
            say("coffre: interrupted.")
            sys.exit(CANNOT_RUN)
        except CoffreError as e:
            say(f"coffre: {e}")
            sys.exit(e.exit_code)
        except KeyboardInterrupt:
            say("coffre: interrupted; earlier runs are intact and an unfinished run is never counted.")
            sys.exit(CANNOT_RUN)
        except OSError as e:
            where = f" ({e.filename})" if getattr(e, "filename", None) else ""
            say(f"coffre: a system error stopped the command: {e.strerror or e}{where}.")
            sys.exit(CANNOT_RUN)
        except Exception as e:  # a bug must still end in one sentence; COFFRE_DEBUG=1 shows the trace
            if os.environ.get("COFFRE_DEBUG"):
                raise
            say(f"coffre: internal error ({type(e).__name__}: {e}); nothing was counted as done. "
                "Run again with COFFRE_DEBUG=1 for details.")
            sys.exit(CANNOT_RUN)
        sys.exit(code or 0)


def config_option(f):
    return click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False),
                        help="The store's configuration file (written by `coffre init`).")(f)


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
