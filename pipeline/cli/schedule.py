"""`coffre schedule`: the evening archive as a systemd timer (printed, written or installed), or as a cron line."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from pipeline.cli.common import Command, config_option, epilog, json_option, say, verbosity_options
from pipeline.errors import CANNOT_RUN, OK, USAGE, UsageError
from pipeline import i18n
from pipeline.i18n import _
from pipeline.out_folder import refuse_link_to_nowhere


def _at(ctx, param, value):
    from pipeline.schedule import parse_at

    return parse_at(value)  # checked as it is read: a wrong time is said before anything else is looked at


@click.command("schedule", cls=Command,
               help=_("Run the evening archive every day at a set time: systemd units (or a cron line) that call "
                      "`coffre archive`."),
               epilog=epilog(["coffre schedule --at 20:30", "coffre schedule --at 20:30 --install --verify-weekly",
                              "coffre schedule --at 21:00 --cron --json"],
                             [OK, USAGE, CANNOT_RUN], {OK: _("printed, written or installed")}))
@click.option("--at", "at", required=True, metavar="HH:MM", callback=_at,
              help=_("The time of the evening archive, after closing (24-hour clock, the machine's time zone)."))
@config_option
@click.option("--out", "out_dir", type=click.Path(file_okay=False), help=_("Write the unit files into this folder."))
@click.option("--install", is_flag=True,
              help=_("Write the units where systemd reads them, reload systemd and start the timers."))
@click.option("--user", "user_units", is_flag=True,
              help=_("Units of your own user (~/.config/systemd/user) instead of the system's (/etc/systemd/system)."))
@click.option("--verify-weekly", is_flag=True,
              help=_("Also verify every copy once a week, an hour after the archive."))
@click.option("--cron", is_flag=True,
              help=_("Print only the cron lines, for /etc/cron.d/coffre (with --user: for crontab -e)."))
@json_option()
@verbosity_options
def command(at, config_path, out_dir, install, user_units, verify_weekly, cron, as_json) -> None:
    from pipeline import config
    from pipeline.schedule import archive_args, coffre_command, cron as cron_lines, systemd, verify_args

    if out_dir and install:
        raise UsageError(_("Give --out DIR (write the units there) or --install (put them where systemd reads them), "
                           "not both."))
    if cron and (out_dir or install):
        raise UsageError(_("--cron prints the cron line only; it goes without --out and --install."))
    cfg = config.load(config_path)  # a schedule of a configuration that does not load would fail every evening
    # The scheduled runs speak the language of the person who scheduled them: cron and systemd set no LANG.
    command_argv = coffre_command() + ["--lang", i18n.language()]
    run_as = None if user_units else _user_name()
    summary = {"at": str(at), "store_id": cfg.store_id, "config": str(cfg.path), "verify_weekly": verify_weekly}
    if cron:
        lines = [cron_lines.line(at, command_argv + archive_args(cfg.path), run_as)]
        if verify_weekly:
            later, next_day = at.later(60)
            lines.append(cron_lines.line(later, command_argv + verify_args(cfg.path), run_as, "1" if next_day else "0"))
        if as_json:
            click.echo(json.dumps(dict(summary, cron=lines), indent=2))
        else:
            for line in lines:
                click.echo(line)
        return
    files = systemd.units(cfg.store_id, command_argv, archive_args(cfg.path), at,
                          network=any(d.startswith("rclone:") for d in cfg.destinations), run_as=run_as,
                          verify=verify_args(cfg.path) if verify_weekly else None)
    if install:
        written, timers = systemd.install(files, user_units)
        flag = "--user " if user_units else ""
        if as_json:
            click.echo(json.dumps(dict(summary, installed=[str(p) for p in written], timers=list(timers)), indent=2))
        say(_("Installed {files}; the timers {timers} are started. Next run: `{list_command}`; what it said: "
              "`{journal_command}`.").format(
            files=", ".join(map(str, written)), timers=" ".join(timers),
            list_command=f"systemctl {flag}list-timers 'coffre-*'",
            journal_command=f"journalctl {flag}-u coffre-archive-{cfg.store_id}.service"), "result")
    elif out_dir:
        refuse_link_to_nowhere(Path(out_dir).absolute())
        written = systemd.write(files, Path(out_dir))
        if as_json:
            click.echo(json.dumps(dict(summary, written=[str(p) for p in written]), indent=2))
        for path in written:
            say(_("Written {path}").format(path=path), "result")
    else:
        where = systemd.user_dir() if user_units else systemd.SYSTEM_DIR
        if as_json:
            click.echo(json.dumps(dict(summary, units={str(where / name): text for name, text in files.items()}),
                                  indent=2))
        else:
            for name, text in files.items():
                click.echo(f"# ---- {where / name} ----\n{text}")
        say(_("Printed only: --install puts them in place and starts the timer; --out DIR writes them to a folder."))


def _user_name() -> str:
    # The account this runs as, not $USER: after `su` without `-`, $USER still names the one who typed it.
    try:
        import pwd

        return pwd.getpwuid(os.geteuid()).pw_name
    except (ImportError, KeyError):
        import getpass

        return getpass.getuser()
