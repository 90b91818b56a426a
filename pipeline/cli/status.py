"""`coffre status`: health at a glance, for a person or a monitoring probe (exit 1 when a person must act)."""

from __future__ import annotations

import json

import click

from pipeline.cli.common import Command, config_option, epilog, json_option, quiet, role_text, verbosity_options
from pipeline.errors import CHECK_FAILED, OK, USAGE
from pipeline.i18n import _, ngettext
from pipeline.units import number


@click.command("status", cls=Command,
               help=_("Per copy: last run written and read back, last verify and drill, whether the medium is there, "
                      "how many evenings it has room for; the copy policy; the last run's findings. Exit 1 when a "
                      "person must act."),
               epilog=epilog(["coffre status", "coffre status --no-look", "coffre status --json"],
                             [OK, CHECK_FAILED, USAGE], {CHECK_FAILED: _("a person must act (see the lines marked !)")}))
@config_option
@json_option(_("Print a machine-readable status on standard output."))
@click.option("--no-look", is_flag=True, help=_("From the record only: do not reach the destinations (free space, "
                                                "whether the USB key is there)."))
@verbosity_options
def command(config_path, as_json, no_look) -> None:
    from pipeline import config
    from pipeline.status import store_status

    st = store_status(config.load(config_path), look=not no_look)
    if as_json:
        click.echo(json.dumps(st, indent=2))
    else:
        lines = describe(st)
        if quiet():  # the first line, and what needs a person
            lines = [lines[0]] + [line for line in lines[1:] if line.lstrip().startswith("!")] + \
                ([lines[-1]] if st["ok"] else [])
        for line in lines:
            click.echo(line)
    raise SystemExit(OK if st["ok"] else CHECK_FAILED)


def _when(check) -> str:
    if not check:
        return _("never")
    if check["ok"]:
        return _("ok on {date} at {time} UTC").format(date=check["at"][:10], time=check["at"][11:16])
    return _("FAILED on {date} at {time} UTC").format(date=check["at"][:10], time=check["at"][11:16])


def describe(st: dict) -> list[str]:
    from pipeline.units import short_size

    last = st["last_run"]
    if last:
        first = ngettext("Store {store_id}: {runs} run, the last {run_id} written {when}.",
                         "Store {store_id}: {runs} runs, the last {run_id} written {when}.", st["runs"]).format(
            store_id=st["store_id"], runs=st["runs"], run_id=last["run_id"], when=last.get("created_at", "?"))
    else:
        first = ngettext("Store {store_id}: {runs} run.", "Store {store_id}: {runs} runs.", st["runs"]).format(store_id=st["store_id"], runs=st["runs"])
    lines = [first]
    for d in st["destinations"]:
        lines.append(_("  {destination} ({role}):").format(destination=d["destination"], role=role_text(d["role"])))
        if d["present"] is False:
            days = d["days_since_present"]
            seen = (_("never seen") if days is None else _("last seen today") if days == 0
                    else ngettext("last seen {n} day ago", "last seen {n} days ago", days).format(n=days))
            # The reason is already words about the copy ("missing (is the USB key …)"): said once, then when seen.
            lines.append(_("    now: {reason}; {seen}").format(seen=seen, reason=d["absent_because"]))
        written = d["last_run_written"] or _("none")
        if d["last_written_at"]:
            written = f"{written} ({d['last_written_at']})"
        lines.append(ngettext("    last run written and read back: {run}; {n} run held, {size}",
                              "    last run written and read back: {run}; {n} runs held, {size}", d["runs_held"]).format(
            run=written, n=d["runs_held"], size=short_size(d["bytes_held"])))
        lines.append(_("    verify {verify}; deep verify {deep}; drill {drill}").format(
            verify=_when(d["last_verify"]), deep=_when(d["last_deep_verify"]), drill=_when(d["last_drill"])))
        if d["free_bytes"] is not None:
            room = (_("room for every evening at the current growth") if d["evenings_left"] is None
                    else ngettext("room for about {n} more evening", "room for about {n} more evenings",
                             d["evenings_left"]).format(n=number(d["evenings_left"])))
            if (d["growth_bytes"] or 0) > 0:
                lines.append(_("    {free} free, {room} ({growth} an evening)").format(
                    free=short_size(d["free_bytes"]), room=room, growth=short_size(d["growth_bytes"])))
            else:
                lines.append(_("    {free} free, {room}").format(free=short_size(d["free_bytes"]), room=room))
    if st["last_run_findings"]:
        lines.append(_("  Findings of the last run (see its findings.json): {counts}").format(counts=", ".join(
            f"{check} {n}" for check, n in sorted(st["last_run_findings"].items()))))
    for w in st["warnings"]:
        lines.append(_("  warning: {warning}").format(warning=w))
    for p in st["problems"]:
        lines.append(f"  ! {p}")
    if st["ok"]:
        lines.append(_("  All good."))
    return lines
