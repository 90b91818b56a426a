"""A mapping's SQL rewritten so that Coffre's own SQL functions get their text arguments as bytes.

SQLite keeps whatever bytes it is given in a TEXT value; Python's sqlite3 turns a text argument into a str before
calling the function, and a text that is not UTF-8 (a bit flipped on the till's disk, an edit) stops the whole
statement there, with nothing to say which record. Given `CAST(arg AS BLOB)`, the functions (journals/connection.py)
read the bytes themselves, in the database's encoding, each byte that is not part of a character becoming \\xHH, as in
every text the checks and the export read: the record's signature then does not match, and the check says which
record it is.

The rewriting follows SQL's quotes and comments, and wraps only the arguments that carry a record's text:
coffre_local_time(x) and coffre_day(x) their one argument, coffre_digest(order, text) its second.
"""

from __future__ import annotations

import re

# function name (lower case) -> the positions of its arguments given as bytes
WRAPPED = {"coffre_local_time": (0,), "coffre_day": (0,), "coffre_digest": (1,)}
_WORD = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_$")


def bytes_for_functions(sql: str) -> str:
    if not isinstance(sql, str):
        return sql  # not SQL: the mapping's checks say so
    out, pos = [], 0
    while pos < len(sql):
        skip = _quoted_or_comment(sql, pos)
        if skip > pos:
            out.append(sql[pos:skip])
            pos = skip
            continue
        name = _function_at(sql, pos)
        if name is None:
            out.append(sql[pos])
            pos += 1
            continue
        open_at = sql.index("(", pos + len(name))
        close_at = _closing(sql, open_at)
        if close_at is None:  # unbalanced: left as it is, and SQLite says what is wrong
            out.append(sql[pos:])
            break
        args = [bytes_for_functions(a) for a in _split_args(sql[open_at + 1:close_at])]
        wrapped = WRAPPED[name.lower()]
        if args != [""]:
            args = [_wrapped(a) if i in wrapped and a.strip() else a for i, a in enumerate(args)]
        out.append(f"{sql[pos:open_at]}({','.join(args)})")
        pos = close_at + 1
    return "".join(out)


def _wrapped(arg: str) -> str:
    """CAST((arg) AS BLOB), an aggregate's ORDER BY (SQLite 3.44) left after it."""
    cut = _order_by_at(arg)
    return f"CAST(({arg[:cut]}) AS BLOB){arg[cut:]}"


def _order_by_at(text: str) -> int:
    """Where an ORDER BY outside parentheses, quotes and comments starts in `text` (its length if none)."""
    for pos, c, depth in _outside_quotes(text):
        if depth == 0 and c in "oO" and (pos == 0 or text[pos - 1] not in _WORD) and _ORDER_BY.match(text, pos):
            return pos
    return len(text)


_ORDER_BY = re.compile(r"order\s+by\b", re.IGNORECASE)


def _function_at(sql: str, pos: int) -> str | None:
    """The name of one of WRAPPED called at `pos` (a whole word, then a parenthesis), else None."""
    if pos and sql[pos - 1] in _WORD:
        return None
    for name in WRAPPED:
        end = pos + len(name)
        if sql[pos:end].lower() == name and (end == len(sql) or sql[end] not in _WORD):
            rest = sql[end:].lstrip()
            if rest.startswith("("):
                return sql[pos:end]
    return None


def _quoted_or_comment(sql: str, pos: int) -> int:
    """Where a string, a quoted name or a comment starting at `pos` ends (`pos` itself if none starts there)."""
    c = sql[pos]
    if c in "'\"`":
        end = pos + 1
        while end < len(sql):
            if sql[end] == c:
                if sql[end + 1:end + 2] == c:  # a doubled quote stands for one
                    end += 2
                    continue
                return end + 1
            end += 1
        return len(sql)
    if c == "[":
        end = sql.find("]", pos + 1)
        return len(sql) if end < 0 else end + 1
    if sql.startswith("--", pos):
        end = sql.find("\n", pos)
        return len(sql) if end < 0 else end + 1
    if sql.startswith("/*", pos):
        end = sql.find("*/", pos + 2)
        return len(sql) if end < 0 else end + 2
    return pos


def _outside_quotes(text: str, pos: int = 0):
    """(position, character, parentheses open before it) of each character outside strings, quoted names and
    comments, from `pos`."""
    depth = 0
    while pos < len(text):
        skip = _quoted_or_comment(text, pos)
        if skip > pos:
            pos = skip
            continue
        c = text[pos]
        if c == ")":
            depth -= 1
        yield pos, c, depth
        if c == "(":
            depth += 1
        pos += 1


def _closing(sql: str, open_at: int) -> int | None:
    for pos, c, depth in _outside_quotes(sql, open_at):
        if c == ")" and depth == 0:
            return pos
    return None


def _split_args(text: str) -> list[str]:
    """The arguments of a call, split at the commas outside parentheses, quotes and comments."""
    args, start = [], 0
    for pos, c, depth in _outside_quotes(text):
        if c == "," and depth == 0:
            args.append(text[start:pos])
            start = pos + 1
    args.append(text[start:])
    return args
