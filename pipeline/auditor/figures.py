"""The period's figures an inspector asks for, read from the canonical journals of the verified snapshot: the Z list
with its per-rate amounts and grand totals, payment means per day, refunds, cancellations, training tickets and
duplicates, the JET's event codes."""

from __future__ import annotations

from pipeline.journals.exact_sums import rows_summing
from pipeline.journals.mapping import Mapping, quote_ident


def period_figures(conn, mapping: Mapping, period: tuple[str, str]) -> dict:
    # A till maps the journals it has: one without closures (or payments) has an empty Z list (or means).
    tickets, lines_spec = mapping.journals.get("tickets"), mapping.doc.get("line_checks") or {}
    rates = [(int(bp), ht, tva) for bp, (ht, tva) in (lines_spec.get("rates") or {}).items()]
    return {
        "rates": [bp for bp, _, _ in rates],
        "z": _z_list(conn, mapping, rates, period),
        "means": _payment_means(conn, mapping, period),
        "kinds": _ticket_kinds(conn, tickets.sql, period) if tickets else [],
        "duplicates": _count(conn, mapping, "duplicates", period),
        "jet_codes": _jet_codes(conn, mapping, period),
    }


def _z_list(conn, mapping: Mapping, rates, period) -> list[dict]:
    cj = mapping.journals.get("closures")
    if cj is None:
        return []
    per_rate = "".join(f"{quote_ident(ht)}, {quote_ident(tva)}, " for _, ht, tva in rates)
    sql = (f"SELECT register, kind, number, period_start, period_end, ticket_count, {per_rate}total_ht_cents, "
           f"total_tva_cents, total_ttc_cents, grand_total_perpetual_ht_cents, grand_total_perpetual_ttc_cents "
           f"FROM ({cj.sql}) WHERE period_end >= ? AND period_start <= ? "
           f"ORDER BY period_end, CASE kind WHEN 'daily' THEN 0 WHEN 'monthly' THEN 1 ELSE 2 END, register")
    out = []
    for row in conn.execute(sql, period):
        head, rest = row[:6], row[6:]
        per = [(rates[i][0], rest[2 * i], rest[2 * i + 1]) for i in range(len(rates))]
        tail = rest[2 * len(rates):]
        out.append({"register": head[0], "kind": head[1], "number": head[2], "start": head[3], "end": head[4],
                    "tickets": head[5], "per_rate": per, "ht": tail[0], "tva": tail[1], "ttc": tail[2],
                    "gt_ht": tail[3], "gt_ttc": tail[4]})
    return out


def _payment_means(conn, mapping: Mapping, period) -> list[dict]:
    """Per business day and means, the counted tickets' payments (training tickets move no money)."""
    pj, tj = mapping.journals.get("payments"), mapping.journals.get("tickets")
    if pj is None or tj is None:
        return []
    sql = (f"SELECT p.business_day, p.means, count(*), sum(p.amount_cents) FROM ({pj.sql}) p "
           f"JOIN ({tj.sql}) t ON t.register = p.register AND t.number = p.ticket_number "
           f"WHERE p.business_day BETWEEN ? AND ? AND t.type <> 'training' GROUP BY 1, 2 ORDER BY 1, 2")
    return [{"day": d, "means": m, "count": n, "amount": a} for d, m, n, a in rows_summing(conn, sql, period)]


def _ticket_kinds(conn, tickets_sql: str, period) -> list[dict]:
    sql = (f"SELECT type, count(*), sum(total_ttc_cents) FROM ({tickets_sql}) WHERE business_day BETWEEN ? AND ? "
           f"GROUP BY type ORDER BY type")
    return [{"type": t, "count": n, "ttc": a} for t, n, a in rows_summing(conn, sql, period)]


def _count(conn, mapping: Mapping, name: str, period) -> int:
    j = mapping.journals.get(name)
    if j is None:
        return 0
    return conn.execute(f"SELECT count(*) FROM ({j.sql}) WHERE business_day BETWEEN ? AND ?", period).fetchone()[0]


def _jet_codes(conn, mapping: Mapping, period) -> list[dict]:
    jj = mapping.journals.get("jet")
    if jj is None:
        return []
    sql = (f"SELECT code, min(label), count(*) FROM ({jj.sql}) WHERE business_day BETWEEN ? AND ? "
           f"GROUP BY code ORDER BY code")
    return [{"code": c, "label": label, "count": n} for c, label, n in conn.execute(sql, period)]
