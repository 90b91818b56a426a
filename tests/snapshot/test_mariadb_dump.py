"""The mariadb-dump reader alone: values, escapes, and rows cut across read chunks at every offset."""

from __future__ import annotations

import pytest

from pipeline.snapshot.mariadb_values import CONVERT
from pipeline.snapshot.mariadb_dump import DumpError, DumpReader, split_row, unescape
from pipeline.snapshot.mirror import BLOB, INTEGER, NUMERIC, REAL, TEXT

DUMP = (b"/*M!999999\\- enable the sandbox mode */ \n"
        b"-- MariaDB dump 10.19  Distrib 10.11.19-MariaDB, for debian-linux-gnu (x86_64)\n"
        b"CREATE TABLE `empty` (\n  `x` int(11) DEFAULT NULL\n);\n"
        b"CREATE TABLE `t` (\n  `id` bigint(20) NOT NULL\n);\n"
        b"INSERT INTO `t` VALUES\n"
        b"(1,'a\\nb\\'c\\\"\\\\ ),(; \xc3\xa9',0x00FF,12.50,-0.00000000015,NULL),\n"
        b"(2,'',0x,-3.10,-2,'x\\0\\b\\r\\t\\Zy\\%\\_'),\n"
        b"(3,'line\nbreak;',NULL,0,1e-3,'it''s');\n"
        b"INSERT INTO `t` VALUES (4,'(',NULL,0,0,')');\n"
        b"DELIMITER ;;\n"
        b"/*!50003 CREATE*/ /*!50003 TRIGGER tr BEFORE INSERT ON t FOR EACH ROW BEGIN\n"
        b"INSERT INTO `other` VALUES (NEW.id);\n"
        b"END */;;\n"
        b"DELIMITER ;\n"
        b"INSERT INTO `we``ird` VALUES (5);\n"
        b"\n-- Dump completed on 2026-12-05 11:17:15\n")

ROWS = [
    ("t", [b"1", b"'a\\nb\\'c\\\"\\\\ ),(; \xc3\xa9'", b"0x00FF", b"12.50", b"-0.00000000015", None]),
    ("t", [b"2", b"''", b"0x", b"-3.10", b"-2", b"'x\\0\\b\\r\\t\\Zy\\%\\_'"]),
    ("t", [b"3", b"'line\nbreak;'", None, b"0", b"1e-3", b"'it''s'"]),
    ("t", [b"4", b"'('", None, b"0", b"0", b"')'"]),
]


def _read(chunks, wanted=("t",)):
    reader = DumpReader(wanted)
    return reader, list(reader.rows(chunks))


def test_rows_counts_and_trailer():
    reader, rows = _read([DUMP])
    assert rows == ROWS
    assert reader.counts == {"empty": 0, "t": 4, "we`ird": 1}  # the trigger's INSERT is not data
    assert reader.completed
    assert reader.head == DUMP[:100]


def test_values_as_the_reference_sqlite_holds_them():
    first, second, third = (values for _t, values in ROWS[:3])
    assert CONVERT[INTEGER](first[0]) == 1
    assert CONVERT[TEXT](first[1]) == "a\nb'c\"\\ ),(; é"
    assert CONVERT[BLOB](first[2]) == b"\x00\xff" and CONVERT[BLOB](second[2]) == b""
    assert CONVERT[NUMERIC](first[3]) == "12.50" and CONVERT[NUMERIC](second[3]) == "-3.10"
    assert CONVERT[REAL](first[4]) == -1.5e-10 and CONVERT[INTEGER](second[4]) == -2
    assert CONVERT[TEXT](second[1]) == "" and CONVERT[BLOB](b"'a\\'b'") == b"a'b"
    assert CONVERT[TEXT](second[5]) == "x\0\b\r\t\x1ay\\%\\_"  # \% and \_ keep their backslash, as in MySQL
    assert CONVERT[TEXT](third[1]) == "line\nbreak;" and CONVERT[TEXT](third[5]) == "it's"
    assert unescape(b"plain") == b"plain"
    assert split_row(b"NULL,-1,'a,b'") == [None, b"-1", b"'a,b'"]


def test_cut_at_every_offset_into_two_chunks():
    whole = _read([DUMP])
    for i in range(len(DUMP) + 1):
        reader, rows = _read([DUMP[:i], DUMP[i:]])
        assert (rows, reader.counts, reader.completed) == (whole[1], whole[0].counts, True), i


def test_one_byte_at_a_time_and_three_chunks():
    reader, rows = _read([DUMP[i:i + 1] for i in range(len(DUMP))])
    assert rows == ROWS and reader.completed
    for i in range(0, len(DUMP), 7):
        for j in range(i, len(DUMP), 11):
            reader, rows = _read([DUMP[:i], DUMP[i:j], DUMP[j:]])
            assert rows == ROWS and reader.counts["t"] == 4, (i, j)


def test_not_wanted_tables_are_only_counted():
    reader, rows = _read([DUMP], wanted=())
    assert rows == [] and reader.counts["t"] == 4


def test_truncated_dumps():
    end = DUMP.index(b"\n-- Dump completed")
    reader, _rows = _read([DUMP[:end]])
    assert not reader.completed and reader.counts["t"] == 4
    with pytest.raises(DumpError, match="ends inside the rows of table t"):
        _read([DUMP[:DUMP.index(b"(3,")]])
    reader, _rows = _read([DUMP + b"INSERT INTO `t` VALUES (9);\n"])
    assert not reader.completed  # something after the trailer: not the dump's end


def test_not_a_dump_row():
    with pytest.raises(DumpError, match="not mariadb-dump's"):
        _read([b"INSERT INTO `t` VALUES (1,(2)),(3);\n" + b"x" * 10000])


def test_a_long_row_is_not_read_again_at_every_chunk():
    big = b"INSERT INTO `b` VALUES (1,'" + b"z" * 3_000_000 + b"');\n-- Dump completed\n"
    reader, rows = _read([big[i:i + 4096] for i in range(0, len(big), 4096)], wanted=("b",))
    assert len(rows[0][1][1]) == 3_000_002 and reader.completed
