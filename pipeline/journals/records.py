"""Record-level fiscal rules: each ticket and closure against its own breakdown, each line's arithmetic, lines and
payments that belong to no ticket, and the JET events that every closure and duplicate must leave.

What a till does not sign can still be held to what it does: a ticket's total_ht is not in the sample till's
signature, but its per-rate amounts are, so a changed total_ht no longer equals their sum. The rules are data in
the mapping (`record_checks`); each runs on the records in scope (all, a period's, or an evening's new ones) and
looks the other side up in the whole journal.
"""

from __future__ import annotations

from typing import Callable

from pipeline.i18n import _, ngettext
from pipeline.journals import decimals
from pipeline.journals.findings import CheckResult, Finding, clauses
from pipeline.journals.mapping import SOURCE_ID, Journal, Mapping, payload_sql, quote_ident, tickets_journal

Scope = Callable[[Journal], tuple[str, tuple]]  # a journal -> (WHERE clause, parameters) of the records checked

# The rule is pipeline/fiscal_rules.line_total, which verify.py computes from the CSV as SQLite does here: a quantity of
# 1e999, a text (read as verify.py reads its cell: journals/decimals.py) or a 64-bit overflow names the same lines.


def check_records(conn, mapping: Mapping, result: CheckResult, scope: Scope) -> None:
    spec = mapping.doc.get("record_checks") or {}
    lc = mapping.doc.get("line_checks") or {}
    if spec.get("breakdown") and lc.get("rates"):
        for name in spec["breakdown"]["journals"]:
            if name in mapping.journals:
                _breakdown(conn, mapping.journals[name], spec["breakdown"], lc["rates"], result, scope)
    if spec.get("line_arithmetic"):
        _line_arithmetic(conn, mapping, spec["line_arithmetic"], result, scope)
    tickets = mapping.journals.get(tickets_journal(mapping))
    if tickets is not None:
        for part in ("line_checks", "payment_checks"):
            pc = mapping.doc.get(part)
            if pc and pc.get("journal") in mapping.journals:
                _orphans(conn, mapping.journals[pc["journal"]], pc["ticket_key"], tickets, result, scope)
    jet = mapping.journals.get("jet")
    for link in spec.get("jet_events") or []:
        if jet is not None and link.get("journal") in mapping.journals:
            _jet_links(conn, mapping.journals[link["journal"]], jet, link, result, scope)


def _breakdown(conn, j: Journal, spec: dict, rates: dict, result: CheckResult, scope: Scope) -> None:
    ht = " + ".join(f"COALESCE({quote_ident(cols[0])}, 0)" for cols in rates.values())
    tva = " + ".join(f"COALESCE({quote_ident(cols[1])}, 0)" for cols in rates.values())
    t_ht, t_tva, t_ttc = (quote_ident(spec[k]) for k in ("total_ht", "total_tva", "total_ttc"))
    key = [k for k in ("register", "kind", "number") if k in j.fields]
    where, params = scope(j)
    sql = (f"SELECT {', '.join(quote_ident(k) for k in key)}, {t_ht}, {ht}, {t_tva}, {tva}, {t_ttc} "
           f"FROM ({j.sql}) {where or 'WHERE 1'} AND ({t_ht} IS NOT ({ht}) OR {t_tva} IS NOT ({tva}) "
           f"OR {t_ttc} IS NOT {t_ht} + {t_tva})")
    for row in conn.execute(sql, params):
        rec = dict(zip(key, row[:len(key)]))
        got_ht, sum_ht, got_tva, sum_tva, got_ttc = row[len(key):]
        said = []
        if got_ht != sum_ht:
            said.append(_("total HT {total}, its per-rate HT amounts add up to {sum}").format(total=got_ht, sum=sum_ht))
        if got_tva != sum_tva:
            said.append(_("total VAT {total}, its per-rate VAT amounts add up to {sum}").format(total=got_tva,
                                                                                               sum=sum_tva))
        if not said:
            said.append(_("total TTC {ttc} is not total HT {ht} plus total VAT {vat}").format(ttc=got_ttc, ht=got_ht,
                                                                                              vat=got_tva))
        result.add(Finding(j.name, "breakdown", rec, _("does not equal its own per-rate breakdown: {differences}").format(
            differences=clauses(said))))


def _line_arithmetic(conn, mapping: Mapping, spec: dict, result: CheckResult, scope: Scope) -> None:
    j = mapping.journals[spec["journal"]]
    q, u, d, t = (quote_ident(spec[k]) for k in ("quantity", "unit_price", "discount", "total"))
    if j.types.get(spec["quantity"]) == "number":
        q = decimals.as_checked_sql(q)  # a text as verify.py reads its cell
    expected = f"CAST(round({q} * {u}) AS INTEGER) - {d}"
    key = [k for k in ("register", "ticket_number", "line_no") if k in j.fields]
    where, params = scope(j)
    sql = (f"SELECT {', '.join(quote_ident(k) for k in key)}, {q}, {u}, {d}, {t}, {expected} FROM ({j.sql}) "
           f"{where or 'WHERE 1'} AND {t} IS NOT {expected}")
    for row in conn.execute(sql, params):
        rec = dict(zip(key, row[:len(key)]))
        qty, unit, disc, total, want = (_("empty") if v is None else v for v in row[len(key):])
        result.add(Finding(j.name, "line_arithmetic", rec,
                           _("line total {total}, but quantity {quantity} x unit price {unit_price} - discount "
                             "{discount} gives {expected}").format(total=total, quantity=qty, unit_price=unit,
                                                                   discount=disc, expected=want)))


def _orphans(conn, j: Journal, ticket_key: list[str], tickets: Journal, result: CheckResult, scope: Scope) -> None:
    """Lines or payments whose ticket is not in the tickets journal (the mapping's SQL keeps them, with an empty
    ticket, rather than dropping them in a join)."""
    k1, k2 = (quote_ident(k) for k in ticket_key)
    src = "ticket_source_id" if "ticket_source_id" in j.fields else "NULL"
    where, params = scope(j)
    conn.execute("DROP TABLE IF EXISTS temp.coffre_orphan_rows")
    conn.execute(f"CREATE TEMP TABLE coffre_orphan_rows AS SELECT {k1} AS k1, {k2} AS k2, {src} AS src "
                 f"FROM ({j.unordered_sql}) {where}", params)
    # The tickets they name, looked up by source id between bound values: SQLite takes a bound range into the
    # journal's query as a rowid range, where a subquery would make it read (and convert) every ticket.
    lo, hi, rows = conn.execute("SELECT min(src), max(src), count(*) FROM coffre_orphan_rows").fetchone()
    if not rows:
        return  # an evening without a sale: no ticket to read (a supermarket's six years: seconds)
    near = (f"WHERE {SOURCE_ID} BETWEEN ? AND ?", (lo, hi)) if src != "NULL" and lo is not None else ("", ())
    conn.execute("DROP TABLE IF EXISTS temp.coffre_orphan_tickets")
    conn.execute(f"CREATE TEMP TABLE coffre_orphan_tickets AS SELECT register, number FROM ({tickets.unordered_sql}) {near[0]}",
                 near[1])
    conn.execute("CREATE INDEX temp.coffre_orphan_tickets_i ON coffre_orphan_tickets (register, number)")
    sql = ("SELECT x.k1, x.k2, x.src, count(*) FROM coffre_orphan_rows x LEFT JOIN coffre_orphan_tickets t "
           "ON t.register = x.k1 AND t.number = x.k2 WHERE t.number IS NULL GROUP BY 1, 2, 3 ORDER BY 1, 2, 3")
    lines = j.name == "ticket_lines"
    for reg, number, source, n in conn.execute(sql):
        rec = {"register": reg, "ticket_number": number} if number is not None else {"ticket_source_id": source}
        if lines:
            said = ngettext("{count} line of a ticket that is not in the tickets journal",
                            "{count} lines of a ticket that is not in the tickets journal", n)
        else:
            said = ngettext("{count} payment of a ticket that is not in the tickets journal",
                            "{count} payments of a ticket that is not in the tickets journal", n)
        result.add(Finding(j.name, "orphan", rec, said.format(count=n)))


def _jet_links(conn, j: Journal, jet: Journal, link: dict, result: CheckResult, scope: Scope) -> None:
    """Each record of `j` has its JET event (code, register, detail), and each such event its record."""
    codes = link["codes"]
    if isinstance(codes, dict):  # per value of a field: closures' kind
        field = quote_ident(link["code_field"])
        code_sql = "CASE " + " ".join(f"WHEN {field} = '{k.replace(chr(39), '')}' THEN {int(v)}"
                                      for k, v in codes.items()) + " END"
        all_codes = sorted({int(v) for v in codes.values()})
    else:
        code_sql, all_codes = str(int(codes)), [int(codes)]
    detail = payload_sql(link["detail"])
    in_list = ", ".join(str(c) for c in all_codes)
    rec_cols = [k for k in ("register", "kind", "number", "ticket_number") if k in j.fields]
    where, params = scope(j)
    sql = (f"SELECT {', '.join('r.' + quote_ident(k) for k in rec_cols)} FROM "
           f"(SELECT *, {code_sql} AS coffre_code, {detail} AS coffre_detail FROM ({j.sql}) {where}) r "
           f"WHERE NOT EXISTS (SELECT 1 FROM coffre_jet_events e WHERE e.code = r.coffre_code "
           f"AND e.register IS r.register AND e.detail IS r.coffre_detail)")
    conn.execute("DROP TABLE IF EXISTS temp.coffre_jet_events")
    conn.execute(f"CREATE TEMP TABLE coffre_jet_events AS SELECT seq, code, register, detail FROM ({jet.sql}) "
                 f"WHERE code IN ({in_list})")
    conn.execute("CREATE INDEX temp.coffre_jet_events_i ON coffre_jet_events (code, register, detail)")
    for row in conn.execute(sql, params):
        result.add(Finding(j.name, "jet_missing", dict(zip(rec_cols, row)),
                           _("no event in the JET (code {codes}) records it").format(codes=either(all_codes))))
    jwhere, jparams = scope(jet)
    conn.execute("DROP TABLE IF EXISTS temp.coffre_jet_records")
    # CAST: a CASE or a literal gives the column no type, and against the JET's integer codes SQLite could then not
    # use the index but read the whole table for each event (a supermarket's six years: 15 s for the closures, hours
    # for the duplicates of a shop that reprints often).
    conn.execute(f"CREATE TEMP TABLE coffre_jet_records AS SELECT CAST({code_sql} AS INTEGER) AS code, register, "
                 f"{detail} AS detail FROM ({j.sql})")
    conn.execute("CREATE INDEX temp.coffre_jet_records_i ON coffre_jet_records (code, register, detail)")
    sql = (f"SELECT e.seq, e.code, e.detail FROM (SELECT * FROM ({jet.sql}) {jwhere}) e WHERE e.code IN ({in_list}) "
           f"AND NOT EXISTS (SELECT 1 FROM coffre_jet_records r WHERE r.code = e.code AND r.register IS e.register "
           f"AND r.detail IS e.detail)")
    for seq, code, det in conn.execute(sql, jparams):
        if j.name == "closures":
            said = _("event {code} ({detail}) names a closure record that is not in the closures journal")
        elif j.name == "duplicates":
            said = _("event {code} ({detail}) names a duplicate record that is not in the duplicates journal")
        else:
            said = _("event {code} ({detail}) names a {record} record that is not in the {journal} journal")
        result.add(Finding(jet.name, "jet_orphan", {"seq": seq},
                           said.format(code=code, detail=det, record=j.name[:-1], journal=j.name)))


def either(codes) -> str:
    """80, 81, 82 -> "80 or 81 or 82"."""
    said = ""
    for code in codes:
        said = str(code) if not said else _("{codes} or {code}").format(codes=said, code=code)
    return said
