"""systemd units for the evening archive (and a weekly verify): a oneshot service, a persistent timer, installed."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from pipeline import __version__
from pipeline.config_path import xdg_config_home
from pipeline.errors import CannotRun, UsageError
from pipeline.i18n import _
from pipeline.schedule import At

SYSTEM_DIR = Path("/etc/systemd/system")
_SPECIAL = set(" \t\n\"'\\;")


def user_dir(env=None) -> Path:
    return xdg_config_home(os.environ if env is None else env) / "systemd" / "user"


def exec_line(argv: list[str]) -> str:
    """ExecStart's words: % and $ doubled (systemd would expand them), quoted when they hold a space or a quote."""
    words = []
    for arg in argv:
        arg = arg.replace("%", "%%").replace("$", "$$")
        if arg and not (_SPECIAL & set(arg)):
            words.append(arg)
        else:
            words.append('"' + arg.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"')
    return " ".join(words)


def units(store_id: str, command: list[str], archive: list[str], at: At, *, network: bool, run_as: str | None,
          verify: list[str] | None = None) -> dict[str, str]:
    """File name -> text. `run_as`: User= of a system unit (it also gives the run a HOME, where rclone finds its
    config); None for a user unit."""
    name = f"coffre-archive-{store_id}"
    files = {
        f"{name}.service": _service(f"evening archive of the till data of store {store_id}", command + archive,
                                    network, run_as, "2h"),
        f"{name}.timer": _timer(f"Coffre: evening archive of store {store_id} at {at}", f"*-*-* {at}:00"),
    }
    if verify is not None:
        # An hour after the archive, so that it checks that evening's run and never reads one being written.
        later, next_day = at.later(60)
        files[f"coffre-verify-{store_id}.service"] = _service(
            f"weekly verification of every copy of store {store_id}", command + verify, network, run_as, "6h",
            after=f"{name}.service")
        files[f"coffre-verify-{store_id}.timer"] = _timer(
            f"Coffre: weekly verification of store {store_id}", f"{'Mon' if next_day else 'Sun'} *-*-* {later}:00")
    return files


def _header() -> str:
    return f"# Written by `coffre schedule` (Coffre {__version__}); see docs/SCHEDULING.md.\n"


def _service(what: str, argv: list[str], network: bool, run_as: str | None, timeout: str, after: str = "") -> str:
    unit = [f"Description=Coffre: {what}"]
    if network:  # an rclone destination: wait for the network; a local disk needs none
        unit += ["Wants=network-online.target", "After=network-online.target"]
    if after:
        unit.append(f"After={after}")
    service = ["Type=oneshot"] + ([f"User={run_as}"] if run_as else []) + [
        f"ExecStart={exec_line(argv)}",
        # Gentle on the till: it may still be selling, or counting the day's cash.
        "Nice=10",
        "IOSchedulingClass=idle",
        # A stuck medium must not hold the run forever; the exit codes 4 and 5 fail the unit on purpose: a person
        # sees it in `systemctl --failed`.
        f"TimeoutStartSec={timeout}",
    ]
    return _header() + "[Unit]\n" + "\n".join(unit) + "\n\n[Service]\n" + "\n".join(service) + "\n"


def _timer(description: str, calendar: str) -> str:
    # Persistent: a till switched off at that hour runs the missed archive at its next boot.
    return (_header() + f"[Unit]\nDescription={description}\n\n"
            f"[Timer]\nOnCalendar={calendar}\nPersistent=true\n\n[Install]\nWantedBy=timers.target\n")


def write(files: dict[str, str], folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in files.items():
        path = folder / name
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
        written.append(path)
    return written


def install(files: dict[str, str], user: bool) -> tuple[list[Path], list[str]]:
    """Writes the units where systemd reads them, reloads it and starts the timers; returns the files and timers.

    Files written but systemd unreachable (a container, no session bus): CannotRun, which says the files are there.
    """
    if not user and hasattr(os, "geteuid") and os.geteuid() != 0:
        raise UsageError(_("Installing system units in {folder} needs root; run as root, or add --user for units of "
                           "your own.").format(folder=SYSTEM_DIR))
    written = write(files, user_dir() if user else SYSTEM_DIR)
    timers = [name for name in files if name.endswith(".timer")]
    base = ["systemctl"] + (["--user"] if user else [])
    for args in (["daemon-reload"], ["enable", "--now", *timers]):
        _systemctl(base + args, written[0].parent, timers, user)
    return written, timers


def _systemctl(argv: list[str], folder: Path, timers: list[str], user: bool) -> None:
    if not shutil.which(argv[0]):
        raise CannotRun(_unreachable(folder, timers, user, _("there is no systemctl here")))
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise CannotRun(_unreachable(folder, timers, user, str(err)))
    if proc.returncode != 0:
        said = (proc.stderr or proc.stdout).strip().splitlines()
        why = said[0].strip().rstrip(".") if said else _("exit {code}").format(code=proc.returncode)  # its first line
        raise CannotRun(_unreachable(folder, timers, user, _("`{command}` said: {reason}").format(
            command=" ".join(argv), reason=why)))


def _unreachable(folder: Path, timers: list[str], user: bool, why: str) -> str:
    flag = "--user " if user else ""
    return _("The units are written in {folder}, but systemd could not take them ({reason}); where systemd runs, do "
             "`systemctl {flag}daemon-reload && systemctl {flag}enable --now {timers}`.").format(
        folder=folder, reason=why, flag=flag, timers=" ".join(timers))
