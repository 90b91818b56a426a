"""The cron line that does what the timer does, for /etc/cron.d/coffre (or a user's crontab)."""

from __future__ import annotations

import shlex

from pipeline.schedule import At


def line(at: At, argv: list[str], user: str | None, weekday: str = "*") -> str:
    """`user`: the field /etc/cron.d wants; None for `crontab -e`, whose lines have none."""
    # cron turns an unescaped % into a newline: a path holding one must keep it.
    command = " ".join(shlex.quote(a) for a in argv).replace("%", "\\%")
    who = f"{user} " if user else ""
    return f"{at.minute} {at.hour} * * {weekday} {who}{command}"
