"""Private database servers for the tests and the benchmark: what every kind's start-up shares."""

from __future__ import annotations

import os
import socket


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def as_nobody() -> list[str]:
    """Servers refuse or should not run as root: the suite runs as root in CI."""
    if os.geteuid() != 0:
        return []
    return ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
