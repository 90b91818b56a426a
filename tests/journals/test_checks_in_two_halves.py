"""The sums of the journals (numbering, closures, records, means) are checked in two halves side by side, on two
connections: the findings are the same, in the same order, as on one connection one check after another."""

from __future__ import annotations

import sqlite3

from pipeline.journals import checks
from pipeline.journals.connection import add_functions, open_snapshot
from pipeline.journals.mapping import load_mapping


def _tamper(db) -> None:
    """Findings of every kind of check: a signature, a gap, a closure, a payment, a line, an orphan and a JET event."""
    conn = sqlite3.connect(db)
    conn.execute("UPDATE tickets SET total_ttc = total_ttc + 1000 WHERE id = 42")  # signature, payments, closure
    tid = conn.execute("SELECT id FROM tickets WHERE id > 100 AND type = 'sale' ORDER BY id LIMIT 1").fetchone()[0]
    conn.execute("DELETE FROM payments WHERE ticket_id = ?", (tid,))
    conn.execute("UPDATE tickets SET original_ticket_id = NULL WHERE original_ticket_id = ?", (tid,))
    conn.execute("DELETE FROM duplicates WHERE ticket_id = ?", (tid,))
    conn.execute("DELETE FROM tickets WHERE id = ?", (tid,))  # a gap, a broken link, orphan lines
    conn.execute("UPDATE ticket_lines SET line_total_ttc = line_total_ttc + 7 WHERE id = 30")  # line arithmetic
    conn.execute("UPDATE jet SET detail = 'rien' WHERE seq = 5")
    conn.commit()
    conn.close()


def _one_after_another(conn, mapping) -> list[tuple]:
    """The order the checks had when they ran on one connection: per journal its chain then its numbering, the
    closures, then the records and means."""
    result = checks.CheckResult()
    keys = checks.load_public_keys(conn, mapping)
    for j in mapping.journals.values():
        if j.payload and j.chain_key is not None:
            checks.check_chain(conn, j, keys, result, None, "", (), True)
        if j.numbering_field:
            checks.check_numbering(conn, j, result, "", (), True)
    checks.check_closures(conn, mapping, result, "", (), True, None)
    checks.check_records(conn, mapping, result, lambda j: ("", ()))
    checks.check_means(conn, mapping, result, lambda j: ("", ()))
    return [(f.journal, f.check, f.record, f.message) for f in result.findings]


def test_two_halves_find_what_one_connection_finds_in_the_same_order(sample_db):
    _tamper(sample_db)
    mapping = load_mapping("reference-pos", "Europe/Paris")
    conn = open_snapshot(sample_db, mapping.timezone)
    found = checks.check_journals(conn, mapping)
    expected = _one_after_another(conn, mapping)
    conn.close()
    said = [(f.journal, f.check, f.record, f.message) for f in found.findings]
    kinds = {c for _, c, _, _ in said}
    assert {"signature", "chain_link", "numbering_gap", "closure_total", "payments", "line_arithmetic"} <= kinds, kinds
    assert said == expected


def test_a_database_in_memory_is_checked_on_its_one_connection(sample_db):
    """No file to open a second connection to: the halves run one after the other, with the same findings."""
    _tamper(sample_db)
    mapping = load_mapping("reference-pos", "Europe/Paris")
    on_disk = open_snapshot(sample_db, mapping.timezone)
    memory = add_functions(sqlite3.connect(":memory:"), mapping.timezone)
    on_disk.backup(memory)
    assert checks._file_of(memory) == ""
    a, b = checks.check_journals(on_disk, mapping), checks.check_journals(memory, mapping)
    assert a.findings and [vars(f) for f in a.findings] == [vars(f) for f in b.findings]
    assert a.signatures_verified == b.signatures_verified > 0


def test_an_error_of_the_main_half_is_the_one_said_when_the_other_half_ends_meanwhile(sample_db, monkeypatch):
    """The main half fails as the other ends: stopping the other half's connection, closed by then, must not put its
    own error in the place of the main half's."""
    import threading
    import time

    means_done = threading.Event()
    real_means, real_open = checks.check_means, checks.open_snapshot

    def means(*args, **kwargs):
        real_means(*args, **kwargs)
        means_done.set()
        time.sleep(0.05)

    def closures(*args, **kwargs):
        means_done.wait()
        raise RuntimeError("the main half failed")

    class SlowToStop:
        def __init__(self, conn):
            self.conn = conn

        def __getattr__(self, name):
            return getattr(self.conn, name)

        def interrupt(self):
            time.sleep(0.3)  # the main thread held up between taking the list of connections and stopping one
            self.conn.interrupt()

    monkeypatch.setattr(checks, "check_means", means)
    monkeypatch.setattr(checks, "check_closures", closures)
    monkeypatch.setattr(checks, "open_snapshot", lambda path, zone: SlowToStop(real_open(path, zone)))
    mapping = load_mapping("reference-pos", "Europe/Paris")
    conn = open_snapshot(sample_db, mapping.timezone)
    try:
        checks.check_journals(conn, mapping)
    except RuntimeError as err:
        assert str(err) == "the main half failed"
    else:
        raise AssertionError("the main half's error was not raised")
    finally:
        conn.close()
