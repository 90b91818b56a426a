"""The till keeps selling during `coffre archive`: no commit fails or waits long, the snapshot is one instant."""

from __future__ import annotations

import sqlite3
import subprocess
import threading
import time

from conftest import need_tool

from .helpers import archive_ok, init_store, make_sample_db, other_device_dir

# These tests hold format 1's data files (one age file per data file in the run folder) to what they must be:
# format 1 is still read, and written when archive.store_format = 1 (tests/store/ holds format 2 to the same).
STORE_FORMAT = 1


def test_commits_go_on_and_the_snapshot_is_consistent(tmp_path, figures):
    from pipeline.sample import SaleWriter

    shop = tmp_path / "shop"
    shop.mkdir()
    db = make_sample_db(shop / "caisse.db", days=40, tickets_per_day=200, seed=11)
    with other_device_dir(tmp_path) as other:
        dest = other / "usb"
        dest.mkdir()
        store = init_store(tmp_path, db, [dest])
        before = sqlite3.connect(db).execute("SELECT count(*) FROM tickets").fetchone()[0]
        stop, waits, errors = threading.Event(), [], []

        def sell():
            try:
                writer = SaleWriter(str(db), seed=11)
                while not stop.is_set():
                    waits.append(writer.commit_ticket())
                    time.sleep(0.005)  # a busy till, not a benchmark of SQLite
            except BaseException as err:  # a failed commit is what this test is about
                errors.append(err)

        seller = threading.Thread(target=sell)
        seller.start()
        try:
            time.sleep(0.3)
            started = time.time()
            summary = archive_ok(store)
            took = time.time() - started
            time.sleep(0.2)
        finally:
            stop.set()
            seller.join()
        assert not errors, errors
        assert len(waits) > 20, len(waits)
        worst = max(waits)
        figures(f"sales during archive: {len(waits)} tickets committed while a {took:.1f} s archive ran; "
                f"worst commit wait {worst * 1000:.1f} ms, none failed")
        assert worst < 0.5

        # The snapshot is one instant: its chains verify, every ticket has its lines and payments.
        run = next((dest / store.store_id).iterdir())
        snap = tmp_path / "snap.sqlite"
        age, zstd = need_tool("age"), need_tool("zstd")
        with open(snap, "wb") as out:
            a = subprocess.Popen([age, "-d", "-i", str(store.identity), str(run / "snapshot.sqlite.zst.age")],
                                 stdout=subprocess.PIPE)
            subprocess.run([zstd, "-d", "-c"], stdin=a.stdout, stdout=out, check=True)
            a.stdout.close()
            assert a.wait() == 0
        conn = sqlite3.connect(snap)
        n = conn.execute("SELECT count(*) FROM tickets").fetchone()[0]
        assert before < n < before + len(waits) + 1, "the snapshot holds some, not all, of the sales made meanwhile"
        assert conn.execute("SELECT count(*) FROM tickets t WHERE NOT EXISTS "
                            "(SELECT 1 FROM ticket_lines l WHERE l.ticket_id = t.id)").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM tickets t WHERE NOT EXISTS "
                            "(SELECT 1 FROM payments p WHERE p.ticket_id = t.id)").fetchone()[0] == 0
        assert summary["findings"] == [], summary["findings"][:3]  # chains and totals of one instant hold
        assert summary["snapshot"]["row_counts"]["tickets"] == n
