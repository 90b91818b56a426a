"""What a schedule runs and when: the time of day checked, and the absolute command that runs this coffre."""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import UsageError
from pipeline.i18n import _


@dataclass(frozen=True)
class At:
    hour: int
    minute: int

    def later(self, minutes: int) -> tuple[At, bool]:
        """This time plus some minutes, and whether that passed midnight."""
        total = self.hour * 60 + self.minute + minutes
        return At(total // 60 % 24, total % 60), total >= 24 * 60

    def __str__(self) -> str:
        return f"{self.hour:02d}:{self.minute:02d}"


def parse_at(text: str) -> At:
    m = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", text.strip())
    if not m:
        raise UsageError(_("--at wants a time of day as HH:MM from 00:00 to 23:59, for example 20:30; got {text}.")
                         .format(text=repr(text)))
    return At(int(m.group(1)), int(m.group(2)))


def coffre_command() -> list[str]:
    """The installed `coffre` beside this Python (a venv's bin/ or Scripts\\), else this Python with -m pipeline.

    Absolute, and not resolved through links: a venv's python is a link out of the venv, and the venv is what counts.
    """
    bindir = Path(os.path.abspath(sys.executable)).parent
    for name in ("coffre", "coffre.exe"):
        script = bindir / name
        if script.is_file() and os.access(script, os.X_OK):
            return [str(script)]
    return [os.path.abspath(sys.executable), "-m", "pipeline"]


def archive_args(config: Path) -> list[str]:
    # --scheduled: quiet on success, the journal gets what went wrong; --yes: nobody is there to answer.
    return ["archive", "--config", str(config), "--yes", "--scheduled"]


def verify_args(config: Path) -> list[str]:
    return ["verify", "--config", str(config), "--scheduled"]  # checks every copy; needs no identity
