"""`coffre schedule`: the evening archive as a systemd timer (printed, written or installed), or as a cron line."""

from __future__ import annotations

import os
from pathlib import Path

import click

from pipeline.cli.common import config_option, say
from pipeline.errors import UsageError


def _at(ctx, param, value):
    from pipeline.schedule import parse_at

    return parse_at(value)  # checked as it is read: a wrong time is said before anything else is looked at


@click.command("schedule")
@click.option("--at", "at", required=True, metavar="HH:MM", callback=_at,
              help="The time of the evening archive, after closing (24-hour clock, the machine's time zone).")
@config_option
@click.option("--out", "out_dir", type=click.Path(file_okay=False), help="Write the unit files into this folder.")
@click.option("--install", is_flag=True,
              help="Write the units where systemd reads them, reload systemd and start the timers.")
@click.option("--user", "user_units", is_flag=True,
              help="Units of your own user (~/.config/systemd/user) instead of the system's (/etc/systemd/system).")
@click.option("--verify-weekly", is_flag=True, help="Also verify every copy once a week, an hour after the archive.")
@click.option("--cron", is_flag=True, help="Print only the cron line(s), for /etc/cron.d/coffre (with --user: for crontab -e).")
def command(at, config_path, out_dir, install, user_units, verify_weekly, cron) -> None:
    """Run the evening archive every day at a set time: systemd units (or a cron line) that call `coffre archive`."""
    from pipeline import config
    from pipeline.schedule import archive_args, coffre_command, cron as cron_lines, systemd, verify_args

    if out_dir and install:
        raise UsageError("Give --out DIR (write the units there) or --install (put them where systemd reads them), not both.")
    if cron and (out_dir or install):
        raise UsageError("--cron prints the cron line only; it goes without --out and --install.")
    cfg = config.load(config_path)  # a schedule of a configuration that does not load would fail every evening
    command_argv = coffre_command()
    run_as = None if user_units else _user_name()
    if cron:
        click.echo(cron_lines.line(at, command_argv + archive_args(cfg.path), run_as))
        if verify_weekly:
            later, next_day = at.later(60)
            click.echo(cron_lines.line(later, command_argv + verify_args(cfg.path), run_as, "1" if next_day else "0"))
        return
    files = systemd.units(cfg.store_id, command_argv, archive_args(cfg.path), at,
                          network=any(d.startswith("rclone:") for d in cfg.destinations), run_as=run_as,
                          verify=verify_args(cfg.path) if verify_weekly else None)
    if install:
        written, timers = systemd.install(files, user_units)
        flag = "--user " if user_units else ""
        say(f"Installed {', '.join(map(str, written))}; the timers {' '.join(timers)} are started. "
            f"Next run: `systemctl {flag}list-timers 'coffre-*'`; what it said: `journalctl {flag}-u "
            f"coffre-archive-{cfg.store_id}.service`.")
    elif out_dir:
        for path in systemd.write(files, Path(out_dir)):
            say(f"Written {path}")
    else:
        where = systemd.user_dir() if user_units else systemd.SYSTEM_DIR
        for name, text in files.items():
            click.echo(f"# ---- {where / name} ----\n{text}")
        say("Printed only: --install puts them in place and starts the timer; --out DIR writes them to a folder.")


def _user_name() -> str:
    # The account this runs as, not $USER: after `su` without `-`, $USER still names the one who typed it.
    try:
        import pwd

        return pwd.getpwuid(os.geteuid()).pw_name
    except (ImportError, KeyError):
        import getpass

        return getpass.getuser()
