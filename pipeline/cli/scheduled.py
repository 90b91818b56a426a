"""`--scheduled`: a run by a timer is quiet unless something is wrong, and every message also reaches the system log.

Under systemd (JOURNAL_STREAM set) standard error already goes to the journal: each line is printed at once with
its sd-daemon priority prefix (<3> error, <4> warning, <6> info). Elsewhere (cron) each message goes to syslog
and standard output and error are held back, then printed only when the exit code is not 0: cron mails only then.
"""

from __future__ import annotations

import io
import os
import sys

import click

from pipeline.i18n import _

PRIORITY = {"error": 3, "warning": 4, "info": 6}
SYSLOG_SOCKET = "/dev/log"
# The stages' messages carry no level; their words do (in English and in French).
_WARNING_WORDS = ("warning", "attention", "failed", "fail ", "missing", "damaged", "! ", "needs a person",
                  "skipping", "avertissement", "à surveiller", "échec", "échoué", "manquant", "abîmé", "corrompu",
                  "besoin d'une personne")
_ERROR_WORDS = ("copy failed", "only some copies", "no copy could", "not pruned", "copie a échoué",
                "seulement une partie des copies", "aucune copie n'a pu", "non élagué")

_mode = None


def option(f):
    return click.option("--scheduled", is_flag=True, expose_value=False, is_eager=True, callback=_start,
                        help=_("Run by a timer (cron, systemd): nothing printed when all is well, "
                               "every message also in the system log."))(f)


def active() -> bool:
    return _mode is not None


def say(message: str, level: str | None = None) -> None:
    _mode.say(message, level or level_of(message))


def finish(code):
    """Prints what was held back when the exit code is not 0; returns the code unchanged."""
    global _mode
    if _mode is not None:
        _mode.finish(code not in (0, None))
        _mode = None
    return code


def level_of(message: str) -> str:
    text = message.lstrip().lower()
    if text.startswith(("coffre:", "coffre :")):  # the sentence that ended the command (common._report, interrupt)
        return "error"
    if any(w in text for w in _ERROR_WORDS):
        return "error"
    return "warning" if any(w in text for w in _WARNING_WORDS) else "info"


def _start(ctx, param, value) -> None:
    global _mode
    if value and _mode is None:
        _mode = _Journal() if os.environ.get("JOURNAL_STREAM") else _Cron()


class _Journal:
    def say(self, message: str, level: str) -> None:
        for line in message.splitlines() or [""]:
            click.echo(f"<{PRIORITY[level]}>{line}", err=True)

    def finish(self, failed: bool) -> None:
        pass


class _Cron:
    def __init__(self):
        self.log = _syslog()
        self.real = sys.stdout, sys.stderr
        self.out, self.err = io.StringIO(), io.StringIO()
        sys.stdout, sys.stderr = self.out, self.err

    def say(self, message: str, level: str) -> None:
        click.echo(message, err=True)
        if self.log:
            import logging  # already loaded by _syslog, which made self.log

            for line in message.splitlines():
                if line.strip():
                    self.log.log(getattr(logging, level.upper()), line)

    def finish(self, failed: bool) -> None:
        sys.stdout, sys.stderr = self.real
        if failed:
            for held, stream in ((self.out, sys.stdout), (self.err, sys.stderr)):
                stream.write(held.getvalue())
                stream.flush()
        if self.log:
            for handler in self.log.handlers:
                handler.close()


def _syslog():
    """A logging.Logger to syslog (ident coffre, facility user), or None when there is no syslog socket: best effort."""
    import logging
    import logging.handlers  # here: 8 ms to import (socket, pickle), for scheduled runs only

    address = os.environ.get("COFFRE_SYSLOG_SOCKET") or SYSLOG_SOCKET
    if not os.path.exists(address):
        return None
    handler = logging.handlers.SysLogHandler(address=address, facility=logging.handlers.SysLogHandler.LOG_USER)
    handler.ident = f"coffre[{os.getpid()}]: "
    handler.handleError = lambda record: None  # a syslog gone mid-run must not print logging's traceback
    logger = logging.Logger("coffre.scheduled", logging.INFO)  # not the root's child: nothing else reaches it
    logger.addHandler(handler)
    return logger
