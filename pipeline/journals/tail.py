"""Checks only the records added since the last run, when the file's pages prove the older ones unchanged.

At the end of a run whose checks found nothing, the checkpoint records, for every table the
journals read, the highest rowid and a digest of its rows up to it (snapshot/pages.py), each
chain's last signature, each numbering's last number, and the day sums the closures are held
to. The next run recomputes those digests on its own snapshot: if every one is equal, the
rows already checked are byte for byte the same, and only the rows after them need checking
(signatures, links to the last checked record, numbering, the closures of their days). Any
difference, an addition in the middle of a chain, or a finding at the last run: the whole
journals are checked again (journals/checks.py), as on a first run.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import blake3

from pipeline.journals.checks import (CHAIN_START, CheckResult, Signatures, _record, bad_signature,
                                      broken_link, chain_record, chain_sql, chained, counted_types_sql, dangling_first,
                                      late_start,
                                      no_keys, numbers_missing, rate_pivot, report_payments, report_ticket_lines,
                                      ticket_line_columns, workers)
from pipeline.journals.connection import zone_rules
from pipeline.i18n import _
from pipeline.journals.exact_sums import rows_summing, run_summing
from pipeline.journals.key_lookups import keyed_only
from pipeline.journals.mapping import (ROW_LOCAL, SOURCE_ID, Journal, Mapping, quote_ident, row_local_digest,
                                      tickets_journal)
from pipeline.manifest.format import HEX64
from pipeline.snapshot.pages import MalformedFile, NotRowidTable, SQLiteFile

STATE_VERSION = 2  # 2: each chain's anchor holds its running digest (checks.chained), which evenings extend


class NotTail(Exception):
    """The rows checked at the last run cannot be taken as they were: check everything."""


def mapping_digest(mapping: Mapping, export_version: int, statistics: str = "") -> str:
    """What the kept journals' text was made with: the mapping, the shop's time zone and its rules (every local time
    and business day is written in them), the statistics SQLite plans with (plan_statistics), SQLite's version (it
    writes the text: a newer one may write a number otherwise), the state's and the export's versions. Any change:
    every record is checked and written again."""
    doc = json.dumps({"mapping": mapping.doc, "timezone": mapping.timezone, "zone_rules": zone_rules(mapping.timezone),
                      "statistics": statistics, "sqlite": sqlite3.sqlite_version, "state": STATE_VERSION,
                      "export": export_version}, sort_keys=True)
    return blake3.blake3(doc.encode()).hexdigest()


def plan_statistics(conn: sqlite3.Connection) -> str:
    """A digest of what ANALYZE (or PRAGMA optimize) left for SQLite's planner: another plan can put in another order,
    from the same rows, what a mapping aggregates without saying one (group_concat, json_group_array)."""
    digest = blake3.blake3()
    for name in ("sqlite_stat1", "sqlite_stat4"):
        try:
            rows = conn.execute(f"SELECT * FROM main.{name}").fetchall()
        except sqlite3.OperationalError:
            continue  # never analysed
        digest.update(repr((name, sorted(rows, key=repr))).encode())
    return digest.hexdigest()


def windowed(conn: sqlite3.Connection, mapping: Mapping) -> list[str]:
    """The journals whose statement computes a window function (AggValue in SQLite's program): a record's value then
    reads other records' rows, whatever its mapping vouches."""
    return [j.name for j in mapping.journals.values()
            if any(row[1] in ("AggValue", "AggInverse") for row in conn.execute(f"EXPLAIN {j.full_sql}"))]


# SQLite's own functions that give the same result from the same values (its core, aggregate, window, JSON and math
# functions), and Coffre's (coffre_…, journals/connection.py). Any other reads something besides the database: the
# clock and the computer's time zone (the date and time functions, whose default is 'now' and whose 'localtime'
# modifier reads TZ, either possibly built as the statement runs), chance, the connection, the library or the file.
SAME_FROM_SAME = frozenset("""
abs char coalesce concat concat_ws format glob hex ifnull iif instr length like likelihood likely lower ltrim max min
nullif octet_length printf quote replace round rtrim sign soundex substr substring trim typeof unhex unicode unlikely
upper zeroblob avg count group_concat string_agg sum total row_number rank dense_rank percent_rank cume_dist ntile lag
lead first_value last_value nth_value json jsonb json_array jsonb_array json_array_length json_error_position
json_extract jsonb_extract -> ->> json_insert jsonb_insert json_object jsonb_object json_patch jsonb_patch json_pretty
json_remove jsonb_remove json_replace jsonb_replace json_set jsonb_set json_type json_valid json_quote
json_group_array jsonb_group_array json_group_object jsonb_group_object acos acosh asin asinh atan atan2 atanh ceil
ceiling cos cosh degrees exp floor ln log log10 log2 mod pi pow power radians sin sinh sqrt tan tanh trunc
""".split())


def reads_outside(conn: sqlite3.Connection, mapping: Mapping) -> set[str]:
    """What the mapping's statements read besides the database's own tables, as SQLite itself resolves them (views
    included): functions not known to give the same result from the same values, and the connection's temporary
    tables (the checks make theirs on it)."""
    sqls = [j.full_sql for j in mapping.journals.values()]
    sqls += [f"SELECT {j.day} FROM ({j.full_sql})" for j in mapping.journals.values()]
    sqls += [mapping.public_keys_sql] if mapping.public_keys_sql else []
    out = set()
    for action, arg1, arg2, db, _source in _asked(conn, sqls):
        if action == sqlite3.SQLITE_FUNCTION and arg2 and arg2.lower() not in SAME_FROM_SAME \
                and not arg2.lower().startswith("coffre_"):
            out.add(arg2.lower())
        elif action == sqlite3.SQLITE_READ and arg1 and (db == "temp" or arg1.lower().startswith("sqlite_temp")):
            out.add(f"temp.{arg1}")
    return out


def tables_read(conn: sqlite3.Connection, sqls: list[str]) -> set[str]:
    """Every table the given statements read, as SQLite itself resolves them (through views and joins)."""
    return reads(conn, sqls)[0]


def reads(conn: sqlite3.Connection, sqls: list[str]) -> tuple[set[str], set[str]]:
    """(tables, views) the statements read. A view is not among the tables: SQLite names the tables it reads too,
    the pages prove those, and what it computes is compiled with the statement (reads_outside holds its functions,
    the schema's digest its definition)."""
    views = {r[0].lower() for r in conn.execute("SELECT name FROM main.sqlite_master WHERE type = 'view'")}
    tables, through = set(), set()
    for action, arg1, _arg2, db, source in _asked(conn, sqls):
        if action != sqlite3.SQLITE_READ:
            continue
        # A view counted or tested (count(*), EXISTS) has none of its columns read: only the tables inside it are
        # asked for, and the view is named as the one they are read for.
        if source:
            through.add(source)
        if arg1:
            (through if db == "main" and arg1.lower() in views else tables).add(arg1)
    return tables - {"sqlite_master", "sqlite_schema", "sqlite_temp_master"}, through


def _asked(conn: sqlite3.Connection, sqls: list[str]) -> set[tuple]:
    """What SQLite's authorizer is asked while it compiles the statements: (action, arg1, arg2, database, the view or
    trigger it is asked for)."""
    seen: set[tuple] = set()

    def auth(action, arg1, arg2, db, source):
        seen.add((action, arg1, arg2, db, source))
        return sqlite3.SQLITE_OK

    conn.set_authorizer(auth)
    try:
        for sql in sqls:
            conn.execute(f"EXPLAIN {sql}").fetchall()
    finally:
        conn.set_authorizer(None)
    return seen


def page_evidence(snapshot: Path, conn: sqlite3.Connection, tables: set[str], recorded: dict | None) -> dict:
    """{table: {upto, rows, digest}}: each table's rows up to its highest rowid now, from the file's pages.

    With `recorded` (the last run's), raises NotTail unless every table still holds, up to the
    rowid recorded then, the very rows of then; both digests come from one pass over the pages.
    """
    out = {}
    try:
        with SQLiteFile(snapshot) as f:
            if not f.accounted_for():
                raise NotTail(_("the database holds overflow pages"))
            roots = f.table_roots()
            for name in sorted((set(tables) | set(recorded or {})) - {"sqlite_schema"}):
                if name not in roots and name in tables:
                    # A virtual table (full-text search) or a table-valued function (json_each, pragma_…)
                    raise NotTail(_("the journals read {name}, which has no rows of its own in the database's file: "
                                    "nothing proves what it gives unchanged, so every run checks everything").format(
                        name=name))
                if name not in roots:
                    raise NotTail(_("table {name} is gone").format(name=name))
                now = f.max_rowid(roots[name])
                rec = (recorded or {}).get(name)
                digests = f.rows_digests(roots[name], [now] + ([rec["upto"]] if rec else []))
                if rec and (digests[1].hexdigest != rec["digest"] or digests[1].rows != rec["rows"]):
                    raise NotTail(_("rows of table {name} checked at the last run have changed").format(name=name))
                out[name] = {"upto": now, "rows": digests[0].rows, "digest": digests[0].hexdigest}
            schema = f.rows_digest(1, 1 << 62)
            rec = (recorded or {}).get("sqlite_schema")
            if rec and (schema.hexdigest != rec["digest"] or schema.rows != rec["rows"]):
                raise NotTail(_("the database's schema changed"))
            out["sqlite_schema"] = {"upto": None, "rows": schema.rows, "digest": schema.hexdigest}
    except (NotRowidTable, MalformedFile, sqlite3.Error, OSError, KeyError, TypeError) as err:
        raise NotTail(str(err)) from err
    return out


def _rowid_name(conn, table: str) -> str:
    columns = {r[1].lower() for r in conn.execute(f"PRAGMA table_info({quote_ident(table)})")}
    for name in ("rowid", "_rowid_", "oid"):
        if name not in columns:
            return name
    raise NotTail(_("table {table} hides its rowid behind columns of every rowid name").format(table=table))


def grown_tables_read(conn, mapping: Mapping, recorded: dict) -> None:
    """NotTail when a table that a journal reads has rows that were not there at the last run and that its older
    records could read.

    The pages prove the rows up to the last run unchanged, but an older record's exported text may also read rows
    added since: its own table's (a later refund that names the sale it undoes), another table's (a register's code,
    a product's reference, a tax mapping). Which it reads, Coffre cannot tell from SQL alone, so it holds to what the
    mapping vouches for ("row_local", mapping.py): a mapping that does not vouch gets an evening of new records only
    when no table its journals read has grown. One that does is held to its word where Coffre can check it: a table
    other than the journal's own (and, for the tickets' journal, the lines and payments that line_checks and
    payment_checks attach to a ticket) may grow only when the journal finds its rows by following a reference the
    database declares, a foreign key to the row's rowid (dangling_references makes sure no row pointed at a missing
    one; key_lookups reads SQLite's program for the statement to tell), and a line or payment added to an older
    ticket stops the run (Tail.per_ticket_checks). Any other growth makes the run check and export everything: an
    Odoo or Dolibarr till's evening after sales does, as their mappings read tables that no key attaches to a
    ticket."""
    windows = windowed(conn, mapping) if mapping.row_local else []
    vouched = mapping.row_local and not windows
    try:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        parents = {fk[2].lower() for name in names
                   for fk in conn.execute(f"PRAGMA foreign_key_list({quote_ident(name)})")}
        # The tables of the lines and payments that line_checks and payment_checks hold to their tickets: the
        # tickets' journal may read them, and per_ticket_checks stops on a line or payment added to an older ticket.
        children = {mapping.journals[spec["journal"]].table.lower() for spec in
                    (mapping.doc.get("line_checks"), mapping.doc.get("payment_checks")) if spec}
        tickets = tickets_journal(mapping)
        for j in mapping.journals.values():
            attached = children if j.name == tickets else set()
            tables, views = reads(conn, [j.full_sql])
            # The word covers the mapping's text, not the SQL of a view in the database that the journal reads.
            word = vouched and not views
            for table in sorted(tables):
                if word and table.lower() in attached | {j.table.lower()}:
                    continue
                top = conn.execute(f"SELECT max({_rowid_name(conn, table)}) FROM {quote_ident(table)}").fetchone()[0]
                # The pages say 0 for an empty table, SQL says NULL.
                if table in recorded and (top or 0) == recorded[table]["upto"]:
                    continue
                if windows:
                    raise NotTail(_("table {table}, which journal {journal} reads, has rows that were not there at the "
                                    "last run, and journal {other} computes a window function: its records read "
                                    "other records' rows, whatever the mapping vouches").format(
                        table=table, journal=j.name, other=windows[0]))
                if vouched and views:
                    raise NotTail(_("table {table}, which journal {journal} reads, has rows that were not there at the "
                                    "last run, and the journal reads the view {view}, whose SQL the mapping's word "
                                    "that a record reads only its own rows does not cover").format(
                        table=table, journal=j.name, view=sorted(views)[0]))
                if not vouched:
                    raise NotTail(_("table {table}, which journal {journal} reads, has rows that were not there at the "
                                    "last run, and the mapping does not vouch that a record reads only its own rows "
                                    "(\"{key}\": \"{digest}\" says it of this mapping as it is)").format(
                        table=table, journal=j.name, key=ROW_LOCAL, digest=row_local_digest(mapping.doc)))
                if table.lower() not in parents or not keyed_only(conn, j.full_sql, table):
                    raise NotTail(_("table {table}, which journal {journal} reads, has rows that were not there at the "
                                    "last run, which its older records could read").format(table=table,
                                                                                          journal=j.name))
    except sqlite3.Error as err:  # a table with no rowid (WITHOUT ROWID): the proof would refuse it too
        raise NotTail(str(err)) from err


def dangling_references(conn, tables: set[str], after: dict[str, int] | None) -> str | None:
    """The first row (after each table's `after` rowid, or any row) whose declared foreign key points
    at no row. Such a row's journal text could change when the row it points at is added later: a run
    that checks only new rows would never see that change, so it is not allowed to."""
    for table in sorted(tables):
        rowid = _rowid_name(conn, table)
        low = (after or {}).get(table)
        for fk in conn.execute(f"PRAGMA foreign_key_list({quote_ident(table)})").fetchall():
            parent, col, to = fk[2], fk[3], fk[4]
            if to is None:
                return _("{table}.{column} references {parent} without naming a column").format(table=table, column=col,
                                                                                           parent=parent)
            sql = (f"SELECT {rowid} FROM {quote_ident(table)} t WHERE t.{quote_ident(col)} IS NOT NULL "
                   f"AND NOT EXISTS (SELECT 1 FROM {quote_ident(parent)} p WHERE p.{quote_ident(to)} = t.{quote_ident(col)})")
            row = conn.execute(sql + (f" AND t.{rowid} > ?" if low is not None else "") + " LIMIT 1",
                               (low,) if low is not None else ()).fetchone()
            if row is not None:
                return _("row {row} of {table} points at no {parent} row ({column})").format(row=row[0], table=table,
                                                                                        parent=parent, column=col)
    return None


ANCHOR = ("sig", "order", "last", "count", "chained")


def chain_anchors(checkpoint: dict) -> dict:
    """From a full check's chain checkpoint: {journal: {chain: {sig, order, last, count, chained}}}."""
    return {j: {name: {k: cp.get(k) for k in ANCHOR} for name, cp in chains.items()} for j, chains in checkpoint.items()}


def chain_checkpoint(anchors: dict, broken: set[str], before: dict) -> dict:
    """The chain checkpoint an evening leaves for the next full check (checks.check_chain): each chain's count and
    running digest, which take in the records the evening checked. A chain the evening found broken keeps the
    checkpoint it had (`before`), which stops short of the record that does not hold: the next full check verifies it,
    and says it, again."""
    out = {name: {"count": a.get("count") or 0, "chained": a["chained"], "last": a.get("last"), "sig": a.get("sig"),
                  "order": a.get("order")} for name, a in anchors.items() if name not in broken}
    out.update({name: before[name] for name in broken if name in before})
    return out


def numbering_anchors(conn, mapping: Mapping) -> dict:
    out = {}
    for j in mapping.journals.values():
        if not j.numbering_field:
            continue
        keys = [quote_ident(k) for k in j.numbering_key]
        key_sel = ", ".join(keys) if keys else "''"
        group = f"GROUP BY {', '.join(keys)}" if keys else ""
        rows = conn.execute(f"SELECT {key_sel}, max({quote_ident(j.numbering_field)}) FROM ({j.unordered_sql}) {group}")
        out[j.name] = {_key_name(r[:-1] if keys else ()): r[-1] for r in rows if r[-1] is not None}
    return out


def day_sums(conn, mapping: Mapping) -> dict:
    """The day sums the closures were held to (temp tables made by check_closures), for the next run."""
    out = {}
    for name, table in (("tickets", "coffre_ticket_days"), ("lines", "coffre_line_days")):
        try:
            out[name] = [list(r) for r in conn.execute(f"SELECT * FROM temp.{table} ORDER BY 1, 2")]
        except sqlite3.OperationalError:
            out[name] = None
    return out


def _key_name(key) -> str:
    return "/".join(str(k) for k in key)


def new_rows_where(bound: int) -> tuple[str, tuple]:
    """The WHERE that selects a journal's records past its bound (its last source id at the last run)."""
    return f"WHERE {quote_ident(SOURCE_ID)} > ?", (bound,)


class Tail:
    """The checks of the rows after each journal's boundary (the highest source rowid at the last run)."""

    def __init__(self, mapping: Mapping, state: dict):
        self.mapping = mapping
        self.state = state
        self.bounds: dict[str, int] = state["boundaries"]
        self.chains = {j: {n: dict(a) for n, a in c.items()} for j, c in state["chains"].items()}
        # Per journal, the chains tonight found a record of that does not hold (a bad signature, a broken link): no
        # checkpoint takes them past it (chain_checkpoint), as a full check takes no broken chain.
        self.broken: dict[str, set[str]] = {}
        signed = {j.name for j in mapping.journals.values() if j.payload and j.chain_key is not None}
        if any(not (isinstance(a.get("chained"), str) and HEX64.match(a["chained"]))
               for j in signed for a in self.chains.get(j, {}).values()):
            raise NotTail(_("the kept state holds no running digest of a chain (written by an older Coffre)"))
        self.numbers = {j: dict(n) for j, n in state["numbers"].items()}

    def where(self, j: Journal) -> tuple[str, tuple]:
        return new_rows_where(self.bounds[j.name])

    def how_many_new(self, conn) -> int:
        """About how many records are new: past each journal's bound, by its table's largest rowid (no count)."""
        total = 0
        for j in self.mapping.journals.values():
            top = conn.execute(f"SELECT max(rowid) FROM {quote_ident(j.table)}").fetchone()[0]
            total += max(0, (top if isinstance(top, int) else 0) - self.bounds[j.name])
        return total

    @staticmethod
    def rows_into(conn, table: str, j: Journal, where: str, params: tuple = ()) -> None:
        """Copies the selected rows of a journal into a temp table first: SQLite pushes a plain WHERE on
        source ids down to rowid lookups, but reads the whole journal when it is grouped or joined."""
        conn.execute(f"DROP TABLE IF EXISTS temp.{table}")
        conn.execute(f"CREATE TEMP TABLE {table} AS SELECT * FROM ({j.sql}) {where}", params)

    def check(self, conn, keys, result: CheckResult) -> None:
        # The new records' signatures on every core, as a full check verifies them (a busy shop's evening: 30,000).
        pool = workers() if keys else (None, 1)
        try:
            for j in self.mapping.journals.values():
                if j.payload and j.chain_key is not None:
                    if not keys:
                        result.add(no_keys(j))
                    else:
                        self._chain(conn, j, Signatures(keys, result, *pool), result)
                if j.numbering_field:
                    self._numbering(conn, j, result)
        finally:
            if pool[0] is not None:
                pool[0].shutdown()

    def _chain(self, conn, j: Journal, signatures: Signatures, result: CheckResult) -> None:
        anchors = self.chains.setdefault(j.name, {})
        broken = self.broken.setdefault(j.name, set())
        where, params = self.where(j)
        sql = chain_sql(j, where)
        result.signatures_trusted_from_checkpoint += sum(a.get("count") or 0 for a in anchors.values())
        for row in conn.execute(sql, params):
            payload, sig, prev, number, order_value = row[:5]
            key = tuple(row[5:]) if j.chain_key else ()
            a = anchors.get(_key_name(key))
            if not isinstance(order_value, int) or (a is not None and not isinstance(a.get("order"), int)):
                raise NotTail(_("a {journal} record has an order value that is not a whole number").format(journal=j.name))
            if a is not None and order_value <= a["order"]:
                raise NotTail(_("a {journal} record was added before records already checked").format(journal=j.name))
            rec = _record(j, key, number)
            name = _key_name(key)
            if a is None:
                if prev not in ("", None):
                    broken.add(name)
                    signatures.say(dangling_first(j, rec))
                a = anchors[name] = {"count": 0, "chained": CHAIN_START.hex()}
            elif prev != a.get("sig"):
                broken.add(name)
                signatures.say(broken_link(j, rec))
            result.signatures_verified += 1
            signatures.verify(payload, sig, lambda rec=rec, name=name: broken.add(name) or bad_signature(j, rec))
            a.update(sig=sig, order=order_value, last=number, count=(a.get("count") or 0) + 1,
                     chained=chained(bytes.fromhex(a["chained"]), chain_record(payload, sig)).hex())
        signatures.flush()

    def _numbering(self, conn, j: Journal, result: CheckResult) -> None:
        last = self.numbers.setdefault(j.name, {})
        keys = [quote_ident(k) for k in j.numbering_key]
        n = quote_ident(j.numbering_field)
        where, params = self.where(j)
        order = ", ".join(keys + [n])
        for row in conn.execute(f"SELECT {', '.join(keys + [n])} FROM ({j.sql}) {where} ORDER BY {order}", params):
            key, number = tuple(row[:-1]), row[-1]
            if not isinstance(number, int):
                raise NotTail(_("a {journal} number is not a whole number").format(journal=j.name))
            name = _key_name(key)
            prev = last.get(name)
            rec = dict(zip(j.numbering_key, key))
            if prev is None:
                if number != 1:
                    result.add(late_start(j, rec, number))
            elif number <= prev:
                raise NotTail(_("a {journal} number was used again or out of order").format(journal=j.name))
            elif number - prev != 1:
                result.add(numbers_missing(j, rec, prev, number))
            last[name] = number

    # --- called by check_closures -------------------------------------------------------------------

    def day_tables(self, conn) -> None:
        """coffre_ticket_days and coffre_line_days: the last run's sums plus the new records'."""
        spec = self.mapping.doc["closure_checks"]
        tj = self.mapping.journals[tickets_journal(self.mapping)]
        amounts = [quote_ident(a) for a in spec["amounts"]]
        days = self.state["days"]
        cols = ["register", "day", "n", *amounts]
        conn.execute("DROP TABLE IF EXISTS temp.coffre_days_in")
        conn.execute(f"CREATE TEMP TABLE coffre_days_in ({', '.join(cols)})")
        marks = ", ".join("?" * len(cols))
        conn.executemany(f"INSERT INTO coffre_days_in VALUES ({marks})", days["tickets"] or [])
        self.new_rows(conn)
        run_summing(conn, f"INSERT INTO coffre_days_in SELECT register, {tj.day}, count(*), "
                    + ", ".join(f"sum({a})" for a in amounts)
                    + f" FROM coffre_tail_tickets WHERE type IN ({counted_types_sql(self.mapping)}) GROUP BY 1, 2")
        conn.execute("DROP TABLE IF EXISTS temp.coffre_ticket_days")
        run_summing(conn, "CREATE TEMP TABLE coffre_ticket_days AS SELECT register, day, sum(n) AS n, "
                    + ", ".join(f"sum({a}) AS {a}" for a in amounts) + " FROM coffre_days_in GROUP BY 1, 2")
        conn.execute("CREATE INDEX temp.coffre_ticket_days_i ON coffre_ticket_days (register, day)")
        lc = self.mapping.doc.get("line_checks")
        if not lc:
            return
        self.rows_into(conn, "coffre_tail_line_tickets", tj, f"WHERE {SOURCE_ID} IN (SELECT tid FROM coffre_tail_lines)")
        rates = [f"r{int(r)}" for r in lc["rates"]]
        conn.execute("DROP TABLE IF EXISTS temp.coffre_line_days_in")
        conn.execute(f"CREATE TEMP TABLE coffre_line_days_in (register, day, {', '.join(rates)})")
        conn.executemany(f"INSERT INTO coffre_line_days_in VALUES ({', '.join('?' * (2 + len(rates)))})",
                         days["lines"] or [])
        tday = tj.day.replace("timestamp", "t.timestamp")
        run_summing(conn, f"INSERT INTO coffre_line_days_in SELECT t.register, {tday}, "
                    + ", ".join(f"sum(l.{r})" for r in rates)
                    + f" FROM coffre_tail_line_tickets t JOIN coffre_tail_lines l ON l.tid = t.{SOURCE_ID} "
                    f"WHERE t.type IN ({counted_types_sql(self.mapping)}) GROUP BY 1, 2")
        conn.execute("DROP TABLE IF EXISTS temp.coffre_line_days")
        run_summing(conn, "CREATE TEMP TABLE coffre_line_days AS SELECT register, day, "
                    + ", ".join(f"sum({r}) AS {r}" for r in rates) + " FROM coffre_line_days_in GROUP BY 1, 2")
        conn.execute("CREATE INDEX temp.coffre_line_days_i ON coffre_line_days (register, day)")

    def means_scope(self, conn):
        """The scope of the closures' payment means tonight (means.check_means): the new closures, and the older ones
        whose period takes in a new ticket's business day or a new closure's start (a roll-up over a new Z). Their
        totals are summed again whole by check_closures; their means, against payments that now include the new
        tickets', must be too."""
        tickets = self.mapping.journals.get(tickets_journal(self.mapping))
        conn.execute("DROP TABLE IF EXISTS temp.coffre_means_days")
        conn.execute("CREATE TEMP TABLE coffre_means_days (means_register, means_day)")
        if tickets is not None:
            if not conn.execute("SELECT 1 FROM sqlite_temp_master WHERE name = 'coffre_tail_tickets'").fetchone():
                self.rows_into(conn, "coffre_tail_tickets", tickets, *self.where(tickets))
            conn.execute(f"INSERT INTO coffre_means_days SELECT DISTINCT register, {tickets.day} FROM coffre_tail_tickets")

        def scope(j: Journal) -> tuple[str, tuple]:
            where, params = self.where(j)
            conn.execute(f"INSERT INTO coffre_means_days SELECT DISTINCT register, period_start FROM ({j.sql}) {where}",
                         params)
            return (f"{where} OR EXISTS (SELECT 1 FROM temp.coffre_means_days WHERE means_register = register AND "
                    "means_day BETWEEN period_start AND period_end)", params)

        return scope

    def new_rows(self, conn) -> None:
        """coffre_tail_tickets (the new tickets) and, with line checks, coffre_tail_lines (the new lines per ticket
        and VAT rate): what the day sums and the per-ticket checks start from."""
        tj = self.mapping.journals[tickets_journal(self.mapping)]
        self.rows_into(conn, "coffre_tail_tickets", tj, *self.where(tj))
        lc = self.mapping.doc.get("line_checks")
        if not lc:
            return
        lj = self.mapping.journals[lc["journal"]]
        self.rows_into(conn, "coffre_tail_line_rows", lj, *self.where(lj))
        conn.execute("DROP TABLE IF EXISTS temp.coffre_tail_lines")
        run_summing(conn, f"CREATE TEMP TABLE coffre_tail_lines AS SELECT ticket_source_id AS tid, {rate_pivot(lc)} "
                    f"FROM coffre_tail_line_rows GROUP BY 1")

    def _older_tickets_touched(self, conn, tj: Journal) -> None:
        """An older ticket that got a new line or payment: its exported row changes too (the digests its signature
        covers, or sums of its lines: Odoo's), so the journals kept from the last run no longer hold: everything is
        checked and exported again."""
        if conn.execute(f"SELECT 1 FROM coffre_affected_tickets WHERE {SOURCE_ID} <= ? LIMIT 1",
                        (self.bounds[tj.name],)).fetchone():
            raise NotTail(_("lines or payments were added to tickets checked at an earlier run"))

    def per_ticket_checks(self, conn, result: CheckResult) -> None:
        """Each new ticket, and each older one that got new lines or payments, against its lines and payments."""
        lc, pc = self.mapping.doc.get("line_checks"), self.mapping.doc.get("payment_checks")
        tj = self.mapping.journals[tickets_journal(self.mapping)]
        conn.execute("DROP TABLE IF EXISTS temp.coffre_affected")
        conn.execute("CREATE TEMP TABLE coffre_affected (id INTEGER PRIMARY KEY)")
        conn.execute(f"INSERT OR IGNORE INTO coffre_affected SELECT {SOURCE_ID} FROM coffre_tail_tickets")
        if lc:
            conn.execute("INSERT OR IGNORE INTO coffre_affected SELECT tid FROM coffre_tail_lines")
        if pc:
            pj = self.mapping.journals[pc["journal"]]
            self.rows_into(conn, "coffre_tail_payments", pj, *self.where(pj))
            conn.execute("INSERT OR IGNORE INTO coffre_affected SELECT ticket_source_id FROM coffre_tail_payments")
        self.rows_into(conn, "coffre_affected_tickets", tj, f"WHERE {SOURCE_ID} IN (SELECT id FROM coffre_affected)")
        self._older_tickets_touched(conn, tj)
        if lc:
            lj = self.mapping.journals[lc["journal"]]
            self.rows_into(conn, "coffre_affected_line_rows", lj, "WHERE ticket_source_id IN (SELECT id FROM coffre_affected)")
            conn.execute("DROP TABLE IF EXISTS temp.coffre_affected_lines")
            run_summing(conn, f"CREATE TEMP TABLE coffre_affected_lines AS SELECT ticket_source_id AS tid, "
                        f"{rate_pivot(lc)} FROM coffre_affected_line_rows GROUP BY 1")
            cols, cond = ticket_line_columns(lc)
            sql = (f"SELECT t.register, t.number, {cols} FROM coffre_affected_tickets t LEFT JOIN coffre_affected_lines l "
                   f"ON l.tid = t.{SOURCE_ID} WHERE ({cond})")
            report_ticket_lines(conn.execute(sql), lc, tj.name, result)
        if pc:
            pj = self.mapping.journals[pc["journal"]]
            total = quote_ident(pc["ticket_total"])
            self.rows_into(conn, "coffre_affected_payments", pj, "WHERE ticket_source_id IN (SELECT id FROM coffre_affected)")
            sql = (f"SELECT t.register, t.number, t.{total}, COALESCE(p.s, 0) FROM coffre_affected_tickets t LEFT JOIN "
                   f"(SELECT ticket_source_id AS tid, sum({quote_ident(pc['amount'])}) AS s FROM coffre_affected_payments "
                   f"GROUP BY 1) p ON p.tid = t.{SOURCE_ID} "
                   f"WHERE t.type <> 'training' AND t.{total} IS NOT COALESCE(p.s, 0)")
            report_payments(rows_summing(conn, sql), tj.name, result)
