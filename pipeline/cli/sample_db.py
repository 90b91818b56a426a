"""`coffre sample-db`: builds the reference sample shop database."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from pipeline.cli.common import Command, epilog, json_option, quiet, say, verbosity_options
from pipeline.errors import CANNOT_RUN, OK, USAGE, UsageError
from pipeline.i18n import _
from pipeline.snapshot import kind_of_spec, refuse_connection_string, safe_spec
from pipeline.units import number
from pipeline.sample import describe_counts
from pipeline.cli.progress import terminal_progress
from pipeline.progress import RECORDS

SHAPES = ("reference-pos", "odoo-pos", "dolibarr-pos")


@click.command("sample-db", cls=Command,
               help=_("Build a realistic, deterministic sample shop database: a SQLite file (WAL) at PATH, or the "
                      "reference tables in an empty PostgreSQL or MariaDB database given as postgresql://… or "
                      "mariadb://…; with --mapping, Odoo's or Dolibarr's own tables."),
               epilog=epilog(["coffre sample-db /tmp/caisse.db",
                              "coffre sample-db postgresql://coffre@127.0.0.1:5432/caisse",
                              "coffre sample-db --mapping odoo-pos postgresql://coffre@127.0.0.1:5432/odoo",
                              "coffre sample-db --mapping dolibarr-pos mariadb://coffre@127.0.0.1:3306/dolibarr",
                              "coffre sample-db /tmp/caisse.db --days 1460 --timezone Europe/Paris",
                              "coffre sample-db /tmp/bar.db --night-sales 40 --seed 3 --json"],
                             [OK, USAGE, CANNOT_RUN], {OK: _("database written"),
                                                       CANNOT_RUN: _("the database server could not be reached, "
                                                                     "logged into or written")}))
@click.argument("path", metavar="PATH|URL")
@click.option("--days", default=30, show_default=True, type=click.IntRange(1, 36600), help=_("Days of trading."))
@click.option("--tickets-per-day", default=400, show_default=True, type=click.IntRange(1, 100000),
              help=_("Tickets a day, over two registers."))
@click.option("--seed", default=1, show_default=True, type=int, help=_("The same seed gives the same database."))
@click.option("--start", "start", metavar="YYYY-MM-DD", help=_("First day of trading (default 2025-01-01)."))
@click.option("--timezone", "zone", metavar="ZONE",
              help=_("A till on this local time (e.g. Europe/Paris) instead of UTC."))
@click.option("--night-sales", default=0, show_default=True, type=click.IntRange(0, 1000),
              help=_("Sales a day between 00:05 and 01:55 local time, counted in that day's Z (a bar's night)."))
@click.option("--mapping", default="reference-pos", show_default=True, type=click.Choice(SHAPES),
              help=_("Whose tables: Coffre's reference till (SQLite, PostgreSQL or MariaDB), Odoo's point of sale "
                     "(odoo-pos, on PostgreSQL) or Dolibarr's TakePOS (dolibarr-pos, on MariaDB), each chained as "
                     "the product seals it."))
@click.option("--chain-secret-file", type=click.Path(dir_okay=False), metavar="PATH",
              help=_("dolibarr-pos: seal the later half of the blocked log with this secret (format V2), as an "
                     "upgraded Dolibarr does; the COFFRE_CHAIN_SECRET environment variable also gives it."))
@json_option()
@verbosity_options
def command(path: str, days: int, tickets_per_day: int, seed: int, start, zone, night_sales, mapping,
            chain_secret_file, as_json) -> None:
    from pipeline.sample import generate
    from pipeline.sample.generate import DEFAULT_START

    refuse_connection_string(path)
    kind = kind_of_spec(path)
    server = kind not in (None, "sqlite")
    if kind == "sqlite":
        path = path.partition(":")[2]
    parent = Path(path).absolute().parent
    if not server and not parent.is_dir():
        raise UsageError(_("The folder {path} does not exist.").format(path=parent))
    from datetime import date
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        first_day = date.fromisoformat(start) if start else DEFAULT_START
    except ValueError:
        raise UsageError(_("--start {value!r} is not a date (YYYY-MM-DD).").format(value=start))
    if zone:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise UsageError(_("--timezone {value!r} is not a time zone (for example Europe/Paris).").format(value=zone))
    started = time.time()
    try:
        with terminal_progress(as_json or quiet()) as progress:
            task = progress.task(_("Building the sample shop"), days * (tickets_per_day + night_sales), RECORDS)
            shape = dict(days=days, tickets_per_day=tickets_per_day, seed=seed, start=first_day, zone=zone,
                         night_sales=night_sales)
            if mapping != "reference-pos":
                counts = _product_sample(path, kind, mapping, shape, chain_secret_file)
            elif server:
                counts = _into_server(path, kind, shape, task)
            else:
                counts = generate(path, task=task, **shape)
            task.done()
    except FileExistsError:
        raise UsageError(_("{path} already exists; sample-db never overwrites a database.").format(path=path))
    seconds = time.time() - started
    if as_json:
        click.echo(json.dumps({"path": safe_spec(path) if server else str(Path(path).absolute()), "days": days, "seed": seed,
                               "start": first_day.isoformat(), "timezone": zone, "counts": counts,
                               "seconds": round(seconds, 3), "exit_code": OK}, indent=2))
    say(_("Sample shop written to {path} in {seconds} s: {counts}.").format(
        path=safe_spec(path), seconds=number(seconds, 1), counts=describe_counts(counts)), "result")


def _product_sample(spec: str, kind: str | None, mapping: str, shape: dict, secret_path) -> dict[str, int]:
    """A product's own tables on its own engine (pipeline/sample/odoo.py, dolibarr.py), sealed as it seals them."""
    from pipeline.journals.mapping import load_mapping
    from pipeline.journals.secret import chain_secret
    from pipeline.snapshot import open_source

    want = load_mapping(mapping).doc["source_kinds"][0]  # the engine the product runs on, as its mapping says
    if kind != want:
        raise UsageError(_("--mapping {mapping} builds its tables on a {kind} server: give its address as "
                           "{kind}://USER@HOST:PORT/DATABASE.").format(mapping=mapping, kind=want))
    open_source(spec)  # a malformed address or one with a password is refused before anything is written
    if mapping == "odoo-pos":
        from pipeline.sample import odoo
        return odoo.load_sample(spec, days=shape["days"], orders_per_day=shape["tickets_per_day"],
                                seed=shape["seed"], start=shape["start"])
    from pipeline.sample import dolibarr
    return dolibarr.load_sample(spec, days=shape["days"], invoices_per_day=shape["tickets_per_day"],
                                seed=shape["seed"], start=shape["start"],
                                secret=chain_secret(Path(secret_path) if secret_path else None))


def _into_server(spec: str, kind: str, shape: dict, task) -> dict[str, int]:
    """The sample is built as the SQLite file it always is, in a private scratch folder, then loaded into the
    server by its kind: the same rows, so the same signatures."""
    import tempfile

    from pipeline.sample import generate
    from pipeline.snapshot import open_source, reader

    open_source(spec)  # a malformed address or one with a password is refused before anything is built
    with tempfile.TemporaryDirectory(prefix="coffre-sample-") as scratch:
        built = Path(scratch) / "sample.sqlite"
        generate(str(built), task=task, **shape)
        return reader(kind).load_sample(built, spec)
