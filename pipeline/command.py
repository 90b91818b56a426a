"""The `coffre` program's entry: a stop is handled from its first instant, then the command line is read."""

from __future__ import annotations

import importlib
import signal


def main() -> None:
    # Importing what says the stop (the message catalogue, click) and the commands takes a tenth of a second or more:
    # a Ctrl-C or a SIGTERM then must still end in the one sentence and exit code 3, not a traceback or a silent death.
    early: list[int] = []
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) is not signal.SIG_IGN:
            signal.signal(sig, lambda signum, _frame: early.append(signum))
    # Rust extensions (PyO3) panic, and print it, when a stop's exception is raised while they initialise: they are
    # loaded now, while a stop is only noted (8 ms; every command that reads a copy needs them anyway).
    for name in ("blake3", "pyrage", "cryptography.hazmat.bindings._rust"):
        importlib.import_module(name)

    from pipeline import interrupt

    try:
        interrupt.install()
        if early:
            interrupt.end()
        from pipeline import cli
    except BaseException:  # a stop while the handlers are set up or the commands imported (a library's panic too)
        if interrupt.requested() or early:
            interrupt.end()
        raise
    cli.main()
