"""How a decimal field (a weighed quantity) is written in the journals' text, which its line's arithmetic reads back.

The CSV holds one text per value, and the inspector's verify.py has only that text: Coffre's check of a line reads
the quantity through the same text (fiscal_rules.text_number: the number SQLite's arithmetic finds in a text), so
that both name the same lines whatever the till holds. SQLite's text of a real has 15 significant digits: a till's 0.4999999999999999 is written,
and checked, as 0.5.
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


def as_read_back_sql(col: str) -> str:
    """The value a line's arithmetic takes: the field's text read back as fiscal_rules.text_number reads it (SQLite's
    own reading of a text differs between its versions in the last bit); an integer as it is, at no cost."""
    return f"(CASE WHEN typeof({col}) = 'integer' THEN {col} ELSE coffre_text_number(CAST({written_sql(col)} AS BLOB)) END)"
