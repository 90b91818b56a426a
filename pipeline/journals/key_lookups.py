"""Whether a statement reads a table only by looking up the row a declared foreign key names, from SQLite's program.

An evening that checks only new records keeps the older records' exported text. A table that grew since the last run
leaves that text as it was only when an older record can reach none of its new rows. A declared foreign key followed
to its row is such a path (dangling_references makes sure no older row pointed at a row still to come); a join the
other way round, on another column, or over a range is not. So the rule is read from the program SQLite compiles for
the statement (EXPLAIN): every cursor on the table must be positioned by a rowid seek alone, and each seek's key must
have been read, just before it, from a column that declares a foreign key to the table's INTEGER PRIMARY KEY.
Anything this reading does not recognise counts as another path: the cost of a wrong "no" is a whole check, never
stale journals.
"""

from __future__ import annotations

import sqlite3

from pipeline.journals.mapping import quote_ident

# The opcodes a looked-up row's cursor may meet: its opening, the seek by rowid, reading the row found, standing for
# no row (a LEFT JOIN that finds none).
_SEEKS = frozenset({"SeekRowid", "NotExists"})
_ON_THE_ROW = frozenset({"OpenRead", "Column", "Rowid", "NullRow", "IfNullRow", "ColumnsUsed", "Close"})
_OPENS = frozenset({"OpenRead", "ReopenIdx", "OpenWrite"})
# Opcodes whose P1 is no cursor: any other opcode naming a cursor of the table in P1 is taken as moving it.
_P1_NOT_A_CURSOR = frozenset({
    "Init", "Goto", "Gosub", "Return", "BeginSubrtn", "InitCoroutine", "Yield", "EndCoroutine", "Halt", "HaltIfNull",
    "Transaction", "Integer", "Int64", "Real", "String8", "String", "Null", "SoftNull", "Blob", "Variable", "Move",
    "Copy", "SCopy", "IntCopy", "Function", "PureFunc", "Cast", "Affinity", "MakeRecord", "ResultRow", "If", "IfNot",
    "IfPos", "IfNotZero", "DecrJumpZero", "IsNull", "NotNull", "Eq", "Ne", "Lt", "Le", "Gt", "Ge", "ElseEq", "Once",
    "MustBeInt", "RealAffinity", "Add", "Subtract", "Multiply", "Divide", "Remainder", "Concat", "BitAnd", "BitOr",
    "ShiftLeft", "ShiftRight", "Not", "BitNot", "And", "Or", "IsTrue", "AggStep", "AggStep1", "AggFinal", "AggValue",
    "AggInverse", "Compare", "Permutation", "Jump", "Noop", "ZeroOrNull", "OffsetLimit", "Filter", "FilterAdd",
    "CollSeq", "TypeCheck", "Explain", "Trace", "Param"})
# Opcodes whose P2 is no address (a register, a column, a count): any other opcode's P2 is taken as a jump.
_P2_NOT_AN_ADDRESS = frozenset({
    "Column", "Integer", "Int64", "Real", "String8", "String", "Null", "SoftNull", "Blob", "Variable", "Move", "Copy",
    "SCopy", "IntCopy", "Function", "PureFunc", "Cast", "Affinity", "MakeRecord", "ResultRow", "OpenRead", "ReopenIdx",
    "OpenWrite", "OpenPseudo", "OpenEphemeral", "OpenAutoindex", "SorterOpen", "Transaction", "Rowid", "IdxRowid",
    "Add", "Subtract", "Multiply", "Divide", "Remainder", "Concat", "BitAnd", "BitOr", "ShiftLeft", "ShiftRight", "Not",
    "BitNot", "And", "Or", "IsTrue", "SorterData", "SorterInsert", "IdxInsert", "Insert", "AggStep", "AggStep1",
    "AggFinal", "AggValue", "AggInverse", "Sequence", "RowData", "Compare", "ColumnsUsed", "Noop", "DeferredSeek",
    "Close", "NullRow", "Count", "RealAffinity", "Permutation", "CollSeq", "Explain", "NewRowid", "MemMax", "AddImm",
    "ZeroOrNull", "BeginSubrtn", "OffsetLimit", "TypeCheck", "Halt", "HaltIfNull", "Param", "ReleaseReg",
    "Pagecount"})


def keyed_only(conn: sqlite3.Connection, sql: str, table: str) -> bool:
    """True when `sql` reaches rows of `table` only through a declared foreign key to its rowid, one row each."""
    try:
        return _keyed_only(conn, sql, table)
    except sqlite3.Error:
        return False


def _keyed_only(conn, sql: str, table: str) -> bool:
    alias = _rowid_alias(conn, table)
    if alias is None:
        return False
    roots = {r[0]: (r[1], r[2]) for r in conn.execute("SELECT rootpage, type, name FROM sqlite_master")}
    program = conn.execute(f"EXPLAIN {sql}").fetchall()
    opened: dict[int, set] = {}
    for _addr, op, p1, p2, p3, p4, *_ in program:
        if op in _OPENS:
            opened.setdefault(p1, set()).add((p2, p3, p4))
    ours = set()
    for cursor, where in opened.items():
        on_it = [t for t in (_table_of(conn, roots, root, db, p4) for root, db, p4 in where)
                 if t is not None and t[0].lower() == table.lower()]
        if not on_it:
            continue
        if len(where) != 1 or on_it[0][1] is not None:
            return False  # an index of the table (a search on something else than the rowid), or a cursor reused
        ours.add(cursor)
    if not ours:
        return False  # read some way this reading does not follow (SQLite's authorizer said it is read)
    for addr, (_a, op, p1, p2, p3, *_rest) in enumerate(program):
        if op == "OpenDup" and p2 in ours:
            return False
        if p1 not in ours or op in _P1_NOT_A_CURSOR:
            if op == "DeferredSeek" and p3 in ours:
                return False
            continue
        if op in _SEEKS:
            if not _seek_through_key(conn, program, addr, roots, opened, table, alias):
                return False
        elif op not in _ON_THE_ROW:
            return False
    return True


def _seek_through_key(conn, program, addr: int, roots, opened, table: str, alias: str) -> bool:
    """The seek at `addr` takes its key from a column declaring a foreign key to `table`, read right before it."""
    key = program[addr][4]
    at = addr - 1
    while at >= 0 and program[at][1] == "MustBeInt" and program[at][2] == key:
        at -= 1
    if at < 0:
        return False
    _a, op, src, column, into, *_ = program[at]
    if op != "Column" or into != key:
        return False
    # Nothing may jump in between the read of the key and the seek: it would come with another key.
    if any(op not in _P2_NOT_AN_ADDRESS and at < p2 <= addr for _a, op, _p1, p2, *_ in program):
        return False
    where = opened.get(src)
    if not where or len(where) != 1:
        return False
    root, db, p4 = next(iter(where))
    source = _table_of(conn, roots, root, db, p4)
    if source is None:
        return False
    name = _column_name(conn, source, column)
    if name is None:
        return False
    keys = conn.execute(f"PRAGMA foreign_key_list({quote_ident(source[0])})").fetchall()
    for fk_id, _seq, parent, frm, to, *_ in keys:
        single = sum(1 for k in keys if k[0] == fk_id) == 1
        if single and parent.lower() == table.lower() and frm.lower() == name.lower() and \
                (to is None or to.lower() == alias.lower()):
            return True
    return False


def _table_of(conn, roots, root: int, db: int, p4):
    """(table, index or None) a cursor is opened on, or None when it is no table of the main database. A table
    WITHOUT ROWID is an index b-tree (its P4 describes a key): its values' positions are not its columns', so it is
    none either."""
    if db != 0 or root not in roots:
        return None
    kind, name = roots[root]
    if kind == "table":
        return (name, None) if not str(p4 or "").startswith("k(") else None
    if kind == "index":
        owner = conn.execute("SELECT tbl_name FROM sqlite_master WHERE type = 'index' AND name = ?", (name,)).fetchone()
        return (owner[0], name) if owner else None
    return None


def _column_name(conn, source, column: int) -> str | None:
    """The table column that a cursor's `column`-th value is, or None when it is no plain column."""
    table, index = source
    if index is not None:
        for seqno, cid, name, *_ in conn.execute(f"PRAGMA index_xinfo({quote_ident(index)})"):
            if seqno == column:
                return name if cid >= 0 else None
        return None
    cols = conn.execute(f"PRAGMA table_xinfo({quote_ident(table)})").fetchall()
    if any(c[6] != 0 for c in cols):  # generated or hidden columns: a record's positions are not the columns'
        return None
    return cols[column][1] if 0 <= column < len(cols) else None


def _rowid_alias(conn, table: str) -> str | None:
    """The table's INTEGER PRIMARY KEY column: the one a rowid seek finds its row by. Declared DESC, or in a table
    WITHOUT ROWID, it is a key of its own (an index SQLite makes for it), and the rowid is not it."""
    keys = [c for c in conn.execute(f"PRAGMA table_info({quote_ident(table)})") if c[5]]
    if len(keys) != 1 or (keys[0][2] or "").upper() != "INTEGER":
        return None
    if any(i[3] == "pk" for i in conn.execute(f"PRAGMA index_list({quote_ident(table)})")):
        return None
    return keys[0][1]
