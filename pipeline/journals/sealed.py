"""Holds the till's tables as they are now to what its sealed records say of them (Dolibarr's blocked log).

A till may seal a copy of what it records instead of the record itself: Dolibarr's log holds each validated
invoice's total and lines as they were, while llx_facture and llx_facturedet stay editable. The chain then proves
the copy, and only a comparison with the tables proves the invoice. A recipe's claims(record) say what a sealed
record holds of the canonical journals ((journal, key, field, value); the field "#rows" counts the journal's rows
with that key); this module checks each claim against the journal, on the snapshot, in SQL over temp tables on
disk (memory stays flat), and says every ticket that no sealing record covers when the mapping names the events
that seal tickets ("seals").
"""

from __future__ import annotations

from pipeline.i18n import _
from pipeline.journals.findings import CheckResult, Finding
from pipeline.journals.mapping import Journal, Mapping, quote_ident

TOLERANCE = 1e-9  # quantities are doubles on both sides: a weighed 0.345 kg compares equal to itself


class Claims:
    """The claims of one source chain journal's records, gathered as the records stream past."""

    def __init__(self, conn):
        self.conn = conn
        self.batch: list[tuple] = []
        conn.execute("DROP TABLE IF EXISTS temp.coffre_claims")
        conn.execute("CREATE TEMP TABLE coffre_claims (chain, sequence, reference, journal, k1f, k1, k2f, k2, field, "
                     "value)")

    def add(self, rec: dict, chain_fields: list[str], claims) -> None:
        chain = "/".join(str(rec.get(k)) for k in chain_fields)
        for journal, key, field, value in claims:
            (k1f, k1), (k2f, k2) = key[0], key[1] if len(key) > 1 else (None, None)
            self.batch.append((chain, rec.get("sequence"), rec.get("reference"), journal, k1f, k1, k2f, k2, field,
                               value))
        if len(self.batch) >= 5000:
            self.flush()

    def flush(self) -> None:
        if self.batch:
            self.conn.executemany("INSERT INTO coffre_claims VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", self.batch)
            self.batch = []


def check_claims(conn, mapping: Mapping, sc: Journal, result: CheckResult) -> None:
    """Each claim against its journal; a claimed record that is gone is said once."""
    groups = conn.execute("SELECT DISTINCT journal, k1f, k2f FROM coffre_claims").fetchall()
    for journal, k1f, k2f in groups:
        j = mapping.journals.get(journal)
        fields = {k1f, k2f} - {None}
        if j is None or not fields <= set(j.fields):
            continue
        cols = [f for f in (k1f, k2f) if f]
        table = f"coffre_claimed_{journal}"
        where = f"WHERE {quote_ident(k1f)} IN (SELECT k1 FROM coffre_claims WHERE journal = ? AND k1f = ?)"
        conn.execute(f"DROP TABLE IF EXISTS temp.{table}")
        conn.execute(f"CREATE TEMP TABLE {table} AS SELECT * FROM ({j.sql}) {where}", (journal, k1f))
        conn.execute(f"CREATE INDEX temp.{table}_i ON {table} ({', '.join(quote_ident(c) for c in cols)})")
        on = f"r.{quote_ident(k1f)} = c.k1" + (f" AND r.{quote_ident(k2f)} = c.k2" if k2f else "")
        base = ("FROM coffre_claims c WHERE c.journal = ? AND c.k1f = ? AND c.k2f IS ?")
        params = (journal, k1f, k2f)
        # Counts: the rows the journal holds now under the claimed key.
        for chain, seq, ref, k1, k2, sealed, live in conn.execute(
                f"SELECT c.chain, c.sequence, c.reference, c.k1, c.k2, c.value, (SELECT count(*) FROM {table} r "
                f"WHERE {on}) AS live {base} AND c.field = '#rows' AND live IS NOT c.value", params):
            result.add(_finding(sc, chain, seq, ref, _("it seals {sealed} {journal} records of {key}; the till's tables "
                                                       "now hold {live}: records were added or deleted after "
                                                       "sealing").format(sealed=sealed, journal=journal,
                                                                         key=_key(k1f, k1, k2f, k2), live=live)))
        # Values: a record that is gone, or a field that differs.
        for field in [r[0] for r in conn.execute(f"SELECT DISTINCT c.field {base} AND c.field <> '#rows'", params)]:
            if field not in j.fields:
                continue
            f = quote_ident(field)
            sql = (f"SELECT c.chain, c.sequence, c.reference, c.k1, c.k2, c.value, r.{f}, r.rowid IS NULL "
                   f"FROM coffre_claims c LEFT JOIN {table} r ON {on} WHERE c.journal = ? AND c.k1f = ? "
                   f"AND c.k2f IS ? AND c.field = ? AND (r.rowid IS NULL OR NOT ("
                   f"r.{f} IS c.value OR abs(r.{f} - c.value) < {TOLERANCE}))")
            gone_said = set()
            for chain, seq, ref, k1, k2, sealed, live, gone in conn.execute(sql, params + (field,)):
                if gone:
                    if (chain, seq, k1, k2) in gone_said:
                        continue
                    gone_said.add((chain, seq, k1, k2))
                    if k2f and _rows_sealed(conn, journal, k1f, k1):
                        continue  # a line that is gone is said by the count of lines
                    said = _("it seals the {journal} record {key}, which is no longer in the till's tables: "
                             "deleted after sealing").format(journal=journal, key=_key(k1f, k1, k2f, k2))
                else:
                    said = _("it seals {field} {sealed} for the {journal} record {key}; the till's tables now hold "
                             "{live}: changed after sealing").format(field=field, sealed=sealed, journal=journal,
                                                                     key=_key(k1f, k1, k2f, k2), live=live)
                result.add(_finding(sc, chain, seq, ref, said))
        conn.execute(f"DROP TABLE IF EXISTS temp.{table}")


def _rows_sealed(conn, journal, k1f, k1) -> bool:
    """Whether the count of the lines of record k1 is sealed. Looked up by an index made at the first line found gone
    (none is made when no line is gone: it would add a third to the check of a supermarket's 473 million claims), not
    by a walk of every claim for each line gone (40-75 s a line there). SQLite lets a connection add an index to a
    table it is reading."""
    conn.execute("CREATE INDEX IF NOT EXISTS temp.coffre_claims_rows ON coffre_claims (journal, k1f, field, k1)")
    return conn.execute("SELECT 1 FROM coffre_claims WHERE journal = ? AND k1f = ? AND k1 = ? AND field = '#rows'",
                        (journal, k1f, k1)).fetchone() is not None


def check_unsealed(conn, mapping: Mapping, sc: Journal, result: CheckResult, where: str, params: tuple) -> None:
    """Each record of the sealed journal (tickets) has a source chain record of a sealing event naming it."""
    seals = sc.source_chain.get("seals") or {}
    j = mapping.journals.get(seals.get("journal", ""))
    events = [e for e in seals.get("events") or [] if isinstance(e, str)]
    if j is None or not events or "source_id" not in j.fields:
        return
    marks = ", ".join("?" * len(events))
    key = [k for k in ("register", "number") if k in j.fields]
    sql = (f"SELECT {', '.join(quote_ident(k) for k in key)} FROM ({j.sql}) t {where} "
           f"{'AND' if where else 'WHERE'} NOT EXISTS (SELECT 1 FROM coffre_sealing s WHERE s.object_id = t.source_id)")
    conn.execute("DROP TABLE IF EXISTS temp.coffre_sealing")
    conn.execute(f"CREATE TEMP TABLE coffre_sealing AS SELECT object_id FROM ({sc.sql}) WHERE event IN ({marks})",
                 events)
    conn.execute("CREATE INDEX temp.coffre_sealing_i ON coffre_sealing (object_id)")
    for row in conn.execute(sql, params):
        result.add(Finding(j.name, "source_unsealed", dict(zip(key, row)),
                           _("no record of the till's own chain seals it ({events}): its sealing record was "
                             "deleted, or it was added without one").format(events=", ".join(events))))


def _key(k1f, k1, k2f, k2) -> str:
    return f"{k1f} {k1}" + (f", {k2f} {k2}" if k2f else "")


def _finding(sc: Journal, chain, seq, ref, said: str) -> Finding:
    rec = dict(zip(sc.source_chain["key"], chain.split("/")))
    rec["sequence"] = seq
    if ref not in (None, ""):
        rec["reference"] = ref
    return Finding(sc.name, "source_sealed", rec, said)
