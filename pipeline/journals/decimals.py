"""How a decimal field (a weighed quantity) is written in the journals' text, and how a line's arithmetic reads it.

The CSV holds one text per value, and the inspector's verify.py has only that text: where the till holds a text,
Coffre's check of a line reads it as verify.py reads the cell (fiscal_rules.text_number: the number SQLite's
arithmetic finds in a text), so that both name the same lines. A real is written with SQLite's 15 significant
digits, the text a till signs; verify.py computes from those, Coffre from the till's double: for a real of 16 or 17
digits (0.35 x 3 computed by a till is 1.0499999999999998, written 1.05) a line at half a cent can read otherwise.
"""

from __future__ import annotations


def is_text_sql(col: str) -> str:
    """True where the till holds a text or a blob in place of the number (a damaged or edited row)."""
    return f"typeof({col}) IN ('text', 'blob')"


def written_sql(col: str) -> str:
    """The field's text in the CSV (NULL for NULL): a whole number as an integer, a real as SQLite writes it (Inf
    and -Inf past a double's range, as the till's signed texts hold them), a text or blob as the text it holds."""
    return (f"(CASE WHEN {is_text_sql(col)} THEN CAST({col} AS TEXT) "
            f"WHEN {col} = CAST({col} AS INTEGER) THEN CAST(CAST({col} AS INTEGER) AS TEXT) "
            f"ELSE CAST({col} AS TEXT) END)")


def json_sql(col: str) -> str:
    """The field as json_object takes it: a JSON number holding the same number (an infinite one 1e999: json_object
    would write Inf, which is not JSON), or a JSON string for a text."""
    return (f"(CASE WHEN {is_text_sql(col)} THEN CAST({col} AS TEXT) "
            f"WHEN {col} = 1e999 THEN json('1e999') WHEN {col} = -1e999 THEN json('-1e999') "
            f"WHEN {col} = CAST({col} AS INTEGER) THEN CAST({col} AS INTEGER) ELSE {col} END)")


def as_checked_sql(col: str) -> str:
    """The value a line's arithmetic takes: the till's number as it is (its total was computed from that double, not
    from 15 digits of it); a text or blob read as fiscal_rules.text_number reads its CSV cell, as verify.py does
    (SQLite's own reading of a text differs in the last bit between versions, and reads SQLite's text Inf as 0)."""
    return f"(CASE WHEN {is_text_sql(col)} THEN coffre_text_number(CAST({col} AS BLOB)) ELSE {col} END)"
