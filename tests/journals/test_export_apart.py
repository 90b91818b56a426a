"""A big first export runs in a process of its own: the same frames, counts and hashes as in a thread, its progress
shown by the run in the run's language, its failures raised as the same errors, and an orphaned export ends itself."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import blake3
import pytest

from pipeline import i18n
from pipeline.journals import apart
from pipeline.journals.cache import FrameCache
from pipeline.journals.incremental import _file_names, export_everything
from pipeline.journals.mapping import load_mapping


def fresh(tmp_path: Path, name: str, mapping):
    return FrameCache(tmp_path / name, "boutique").fresh(_file_names(mapping))


class Recorded:
    """A progress display that keeps what it was told."""

    def __init__(self):
        self.labels, self.ticks, self.totals, self.finished = [], 0, [], 0

    def task(self, label, total, unit=""):
        self.labels.append(label)
        self.totals.append(total)
        return self

    def __call__(self, n):
        self.ticks += n

    def expect(self, total):
        self.totals.append(total)

    def done(self):
        self.finished += 1

    def __bool__(self):
        return True


def test_the_process_writes_the_frames_a_thread_writes_byte_for_byte(sample_db, tmp_path):
    mapping = load_mapping()
    in_thread, in_process = fresh(tmp_path, "thread", mapping), fresh(tmp_path, "process", mapping)
    counts = export_everything(sample_db, mapping, in_thread, 9)
    assert apart.export_apart(sample_db, "reference-pos", mapping.timezone, in_process, 9) == counts
    assert counts["tickets"] > 300
    for name, f in in_thread.items():
        g = in_process[name]
        assert g.new_path.read_bytes() == f.new_path.read_bytes(), name
        assert (g.new_len, g.new_plain) == (f.new_len, f.new_plain) and g.new_len > 0
        # The run hashed what the process wrote: its record is the file's.
        assert g.record() == f.record() and g.record()["blake3"] == blake3.blake3(g.new_path.read_bytes()).hexdigest()


def test_its_progress_is_shown_by_the_run_in_the_runs_language(sample_db, tmp_path):
    mapping = load_mapping()
    shown = Recorded()
    before = i18n.language()
    i18n.set_language("fr")
    try:
        counts = apart.export_apart(sample_db, "reference-pos", mapping.timezone, fresh(tmp_path, "p", mapping), 9,
                                    shown)
    finally:
        i18n.set_language(before)
    assert shown.labels == ["Export des journaux fiscaux"], shown.labels
    assert shown.ticks == sum(counts.values()) and shown.finished == 1


def test_a_database_that_no_longer_fits_the_mapping_fails_as_it_would_in_a_thread(sample_db, tmp_path):
    mapping = load_mapping()
    with sqlite3.connect(sample_db) as conn:
        conn.execute("ALTER TABLE ticket_lines RENAME COLUMN quantity TO qty")
    with pytest.raises(sqlite3.OperationalError) as in_thread:
        export_everything(sample_db, mapping, fresh(tmp_path, "t", mapping), 9)
    with pytest.raises(sqlite3.OperationalError) as in_process:
        apart.export_apart(sample_db, "reference-pos", mapping.timezone, fresh(tmp_path, "p", mapping), 9)
    assert str(in_process.value) == str(in_thread.value)


def test_an_export_whose_run_is_gone_ends_itself_at_its_next_batch():
    # Parent pid 1 is not this process's parent: the bridge's next tick ends the process, saying nothing.
    proc = subprocess.run([sys.executable, "-c", "from pipeline.journals.apart import _Bridge\n"
                           "b = _Bridge(None, 1, False)\nb.task('x', None)\nb(2000)\nprint('still here')"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and proc.stdout == "" and proc.stderr == ""


def test_a_first_run_over_the_threshold_exports_in_a_process_with_the_same_journals(sample_db, tmp_path,
                                                                                  monkeypatch):
    from pipeline.journals.incremental import journals_for_run

    used = []
    real = apart.export_apart
    monkeypatch.setattr(apart, "export_apart", lambda *a, **k: used.append(1) or real(*a, **k))
    runs = {}
    for name, threshold in (("thread", 1 << 60), ("process", 0)):
        monkeypatch.setattr(apart, "APART_FROM_BYTES", threshold)
        out = journals_for_run(sample_db, tmp_path / name / "folder", "reference-pos", None,
                               FrameCache(tmp_path / name, "boutique"), 3, {"store_id": "boutique"})
        runs[name] = out
    assert used == [1]
    a, b = runs["thread"], runs["process"]
    assert a.counts == b.counts and not b.checks.findings
    assert {n: f.record() for n, f in a.files.items()} == {n: f.record() for n, f in b.files.items()}


def run_journals(sample_db, tmp_path, store: str, folder: str, previous=None):
    from pipeline.journals.incremental import journals_for_run

    return journals_for_run(sample_db, tmp_path / store / folder, "reference-pos", previous,
                            FrameCache(tmp_path / store, "boutique"), 3, {"store_id": "boutique"})


def after_a_first_run_and_a_day(sample_db, tmp_path, monkeypatch, stores) -> dict:
    """Each store's first run (exported in a thread, committed), then 30 sales: what each store's evening follows."""
    from pipeline.sample import SaleWriter

    monkeypatch.setattr(apart, "APART_FROM_BYTES", 1 << 60)
    previous = {}
    for name in stores:
        out = run_journals(sample_db, tmp_path, name, "first")
        out.commit()
        previous[name] = {"chains": out.checks.checkpoint, "till_keys": out.checks.till_keys}
    writer = SaleWriter(str(sample_db), seed=7)
    for _ in range(30):
        writer.commit_ticket()
    writer.conn.close()
    return previous


def test_a_busy_evening_exports_its_new_records_in_the_runs_own_process_at_the_runs_level(sample_db, tmp_path,
                                                                                         monkeypatch):
    """Two stores follow the same till: one evening each, one with few new records (its frames at level 9), one with
    many (at the run's level, 3); neither starts a process, and both carry the same journals."""
    import zstandard

    from pipeline.journals import incremental

    used = []
    monkeypatch.setattr(apart, "export_apart", lambda *a, **k: used.append(1))
    firsts = after_a_first_run_and_a_day(sample_db, tmp_path, monkeypatch, ("few", "many"))
    evenings = {}
    for name, up_to in (("few", 1 << 60), ("many", 0)):
        monkeypatch.setattr(incremental, "FRAME_LEVEL_UP_TO", up_to)
        evenings[name] = run_journals(sample_db, tmp_path, name, "evening", firsts[name])
    assert used == []
    a, b = evenings["few"], evenings["many"]
    assert a.incremental and b.incremental and not b.checks.findings
    assert a.counts == b.counts and a.checks.signatures_verified == b.checks.signatures_verified == 30
    smaller = 0
    for name, f in a.files.items():
        g = b.files[name]
        assert g.new_plain == f.new_plain and g.kept == f.kept, name
        if f.new_len:
            plain = [zstandard.ZstdDecompressor().decompressobj().decompress(x.new_path.read_bytes()) for x in (f, g)]
            assert plain[0] == plain[1] and len(plain[0]) == f.new_plain, name
            smaller += f.new_len < g.new_len
    assert smaller >= 4  # level 9 makes the larger frames smaller than level 3 does


def test_the_export_process_dies_with_its_run():
    # A shell stands for the run: it starts a process that asks to die with it, and is killed with -9.
    code = ("import os, time; from pipeline.journals.apart import _die_with; _die_with(os.getppid()); "
            "print(os.getpid(), flush=True); time.sleep(60)")
    run = subprocess.Popen(["bash", "-c", f"'{sys.executable}' -c '{code}' & wait"], stdout=subprocess.PIPE,
                           text=True)
    child = int(run.stdout.readline())
    run.kill()
    run.wait()
    import time

    for _ in range(100):
        try:
            state = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            break
        if state in ("Z", "X"):
            break
        time.sleep(0.05)
    else:
        raise AssertionError(f"process {child} outlived its run")


def test_a_package_or_journals_export_over_the_threshold_writes_the_files_a_thread_writes(sample_db, tmp_path,
                                                                                         monkeypatch):
    """export-auditor and `journals export` (journals_of_snapshot): the period's CSV and JSON files, the same bytes
    from the process as from the thread, and nothing of the process's own folder left behind."""
    from pipeline.journals.run import journals_of_snapshot

    used = []
    real = apart.export_tables_apart
    monkeypatch.setattr(apart, "export_tables_apart", lambda *a, **k: used.append(1) or real(*a, **k))
    period = ("2025-01-02", "2025-01-03")
    outcomes = {}
    for name, threshold in (("thread", 1 << 60), ("process", 0)):
        monkeypatch.setattr(apart, "APART_FROM_BYTES", threshold)
        outcomes[name] = journals_of_snapshot(sample_db, tmp_path / name, "reference-pos", None, period,
                                              {"store_id": "boutique"})
    assert used == [1]
    a, b = outcomes["thread"], outcomes["process"]
    assert a.counts == b.counts and 0 < a.counts["tickets"] < 300 and not b.checks.findings
    assert sorted(p.name for p in (tmp_path / "process").iterdir()) == sorted(p.name for p in (tmp_path / "thread").iterdir())
    for path in (tmp_path / "thread").iterdir():
        if path.suffix in (".csv", ".json") and path.name != "export.json":
            assert (tmp_path / "process" / path.name).read_bytes() == path.read_bytes(), path.name


def test_a_package_export_that_fails_in_its_process_fails_as_in_a_thread_and_leaves_nothing(sample_db, tmp_path):
    mapping = load_mapping()
    with sqlite3.connect(sample_db) as conn:
        conn.execute("ALTER TABLE payments RENAME COLUMN means TO way")
    from pipeline.journals.export import export_tables

    with pytest.raises(sqlite3.OperationalError) as in_thread:
        export_tables(sample_db, mapping, tmp_path / "t", None)
    with pytest.raises(sqlite3.OperationalError) as in_process:
        apart.export_tables_apart(sample_db, "reference-pos", mapping.timezone, tmp_path / "p", None)
    assert str(in_process.value) == str(in_thread.value)
    assert list((tmp_path / "p").iterdir()) == []


@pytest.mark.parametrize("early", [False, True], ids=["while-it-works", "before-its-job"])
def test_an_export_process_killed_from_outside_is_one_sentence_and_exit_3_not_an_internal_error(sample_db, tmp_path,
                                                                                              monkeypatch, early):
    """What the kernel does to a process when the machine runs short of memory: the package's export says it, in the
    run's language, as the machine's doing; the folder of the process's own is gone."""
    from pipeline import interrupt
    from pipeline.errors import CannotRun
    from pipeline.journals.run import journals_of_snapshot

    real = interrupt.spawn

    class KilledOnceAsked:
        def __init__(self, proc):
            self.proc, self.stdin = proc, proc.stdin

        def write(self, data):
            return self.stdin.write(data)

        def close(self):
            self.stdin.close()
            self.proc.kill()  # its job is in the pipe: killed before it reads it, or while it works

    def spawn(argv, **kwargs):
        proc = real(argv, **kwargs)
        if early:  # gone before its job is written: the run meets a broken pipe
            proc.kill()
            proc.wait()
        else:
            proc.stdin = KilledOnceAsked(proc)
        return proc

    monkeypatch.setattr(interrupt, "spawn", spawn)
    monkeypatch.setattr(apart, "APART_FROM_BYTES", 0)
    before = i18n.language()
    i18n.set_language("fr")
    try:
        with pytest.raises(CannotRun) as err:
            journals_of_snapshot(sample_db, tmp_path / "p", "reference-pos", None, ("2025-01-02", "2025-01-03"),
                                 {"store_id": "boutique"})
    finally:
        i18n.set_language(before)
    assert err.value.exit_code == 3
    assert str(err.value) == ("Les journaux fiscaux n'ont pas pu être exportés : le processus qui exporte les journaux "
                              "a été tué par le signal 9 avant la fin, peut-être faute de mémoire ; relancez la "
                              "commande."), str(err.value)
    assert [p.name for p in (tmp_path / "p").iterdir() if p.name.startswith(".coffre-export-")] == []


def test_an_archive_whose_export_process_was_killed_says_it_in_words_not_a_class_name():
    from pipeline.archive import ArchiveResult, _journals_result

    said = []
    result = ArchiveResult(None, "boutique", [])

    def stage():
        raise apart.ExportStopped(apart._stopped(-9))

    assert _journals_result(stage, "reference-pos", result, said.append) is None
    assert said == result.warnings == [
        "Warning: the fiscal journals could not be exported (the process exporting the journals was killed by signal 9 "
        "before the end, perhaps for lack of memory); the database itself is saved."]
    assert "ExportStopped" not in result.journals_problem and "signal 9" in result.journals_problem


def test_a_journals_export_that_fails_leaves_no_half_folder_beside_its_own(store, tmp_path, monkeypatch):
    from pipeline import config
    from pipeline.errors import CannotRun
    from pipeline.journals import command

    def half_then_fails(snapshot, folder, *args, **kwargs):
        folder.mkdir(parents=True)
        (folder / "tickets.csv").write_text("half", encoding="utf-8")
        raise CannotRun(apart._stopped(-9))

    monkeypatch.setattr(command, "journals_of_snapshot", half_then_fails)
    out = tmp_path / "export"
    with pytest.raises(CannotRun):
        command.export_journals(config.load(store.config), out, None)
    assert not out.exists()
    assert not out.with_name("export.coffre-partial").exists()
