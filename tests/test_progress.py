"""Progress a person watches: every long stage drawn on a terminal (standard error), nothing of it in a log, a pipe
or --json output."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

from conftest import run_coffre

COFFRE = [sys.executable, "-m", "pipeline"]
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r")
LABELS = ("Snapshot of the database", "Compressing and encrypting the snapshot", "Writing copy",
          "Reading back copy", "Checking the signatures of the fiscal journals", "Exporting the fiscal journals",
          "Verifying copy", "Restoring from copy", "Checking the restored database", "Building the sample shop",
          "Preparing the package for the auditor", "records/s")


def on_terminal(args, env=None, stderr_to_terminal=True, timeout=120) -> tuple[int, str, str]:
    """Runs coffre with its standard input and output (and, unless told, standard error) on a real pseudo-terminal
    that draws like a person's (TERM=xterm); returns (exit code, what the terminal showed, what went to a pipe)."""
    import pty
    import select

    master, slave = pty.openpty()
    full_env = dict(os.environ, TERM="xterm-256color", COLUMNS="160", LINES="40", **(env or {}))
    proc = subprocess.Popen([*COFFRE, *map(str, args)], stdin=slave, stdout=slave,
                            stderr=slave if stderr_to_terminal else subprocess.PIPE, env=full_env, close_fds=True,
                            start_new_session=True)
    os.close(slave)
    shown = b""
    deadline = time.time() + timeout
    try:
        while time.time() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                shown += chunk
            elif proc.poll() is not None:
                break
        code = proc.wait(timeout=10)
        piped = proc.stderr.read().decode() if proc.stderr else ""
    finally:
        if proc.poll() is None:
            proc.kill()
        if proc.stderr:
            proc.stderr.close()
        os.close(master)
    return code, ANSI.sub("", shown.decode("utf-8", "replace")), piped


def test_archive_shows_every_stage_on_a_terminal(store):
    code, shown, _ = on_terminal(["archive", "--config", store.config, "--yes"])
    assert code == 0, shown
    for label in ("Snapshot of the database", "Compressing and encrypting the snapshot",
                  "Checking the signatures of the fiscal journals", "Exporting the fiscal journals"):
        assert label in shown, shown
    for dest in store.destinations:
        assert f"Writing copy {dest}" in shown and f"Reading back copy {dest}" in shown, shown
    # The journals count records and say how fast; the snapshot says its size.
    journals = [line for line in shown.splitlines() if "Checking the signatures of the fiscal journals" in line]
    assert any(re.search(r"[\d,]+/[\d,]+ +\([\d,]+ records/s\)", line) for line in journals) \
        or any(re.search(r"100% +[\d,]+ +\([\d,]+ records/s\)", line) for line in journals), journals
    assert re.search(r"Snapshot of the database .* [\d.]+ (kB|MB)", shown), shown
    assert "Every copy was written, read back and checked." in shown  # the result still follows


def test_nothing_of_it_when_standard_error_is_not_a_terminal(store):
    res = run_coffre("archive", "--config", store.config, "--yes")
    assert res.code == 0, res
    assert not [label for label in LABELS if label in res.err], res.err
    assert "Every copy was written" in res.err
    # A terminal on standard output, standard error to a file (a log): still nothing drawn in the log.
    code, shown, piped = on_terminal(["archive", "--config", store.config, "--yes"], stderr_to_terminal=False)
    assert code == 0, piped
    assert not [label for label in LABELS if label in piped + shown], piped
    assert "Every copy was written" in piped


def test_nothing_of_it_under_json_even_on_a_terminal(store):
    code, shown, _ = on_terminal(["archive", "--config", store.config, "--yes", "--json"])
    assert code == 0, shown
    assert not [label for label in LABELS if label in shown], shown
    assert '"run_id"' in shown
    code, shown, _ = on_terminal(["verify", "--config", store.config, "--json"])
    assert code == 0, shown
    assert not [label for label in LABELS if label in shown], shown


def test_verify_restore_drill_and_export_show_progress(store, tmp_path):
    assert run_coffre("archive", "--config", store.config, "--yes").code == 0
    code, shown, _ = on_terminal(["verify", "--config", store.config])
    assert code == 0, shown
    for dest in store.destinations:
        assert re.search(rf"Verifying copy {re.escape(str(dest))} .* [\d.]+ (kB|MB)", shown), shown

    code, shown, _ = on_terminal(["restore", "--config", store.config, "--identity", store.identity,
                                  "--out", tmp_path / "restored", "--integrity-check"])
    assert code == 0, shown
    assert f"Restoring from copy {store.destinations[0]}" in shown, shown
    assert "Checking the restored database" in shown
    assert (tmp_path / "restored" / "snapshot.sqlite").is_file()

    code, shown, _ = on_terminal(["drill", "--config", store.config, "--identity", store.identity])
    assert code == 0, shown
    for dest in store.destinations:
        assert f"Restoring from copy {dest}" in shown, shown

    code, shown, _ = on_terminal(["export-auditor", "--config", store.config, "--identity", store.identity,
                                  "--period", "2025-01-01..2025-01-03", "--out", tmp_path / "audit.zip",
                                  "--password-env", "COFFRE_TEST_ZIP"], env={"COFFRE_TEST_ZIP": "un mot de passe"})
    assert code in (0, 5), shown
    assert "Restoring from copy" in shown and "Preparing the package for the auditor" in shown, shown
    assert (tmp_path / "audit.zip").is_file()


def test_sample_db_shows_the_tickets_it_builds(tmp_path):
    code, shown, _ = on_terminal(["sample-db", tmp_path / "shop.db", "--days", "2", "--tickets-per-day", "50"])
    assert code == 0, shown
    assert re.search(r"Building the sample shop .*100% +100 +\([\d,]+ records/s\)", shown), shown
    res = run_coffre("sample-db", tmp_path / "shop2.db", "--days", "2", "--tickets-per-day", "50")
    assert res.code == 0 and "Building the sample shop" not in res.err, res


def test_labels_and_units_speak_french(store):
    code, shown, _ = on_terminal(["--lang", "fr", "archive", "--config", store.config, "--yes"])
    assert code == 0, shown
    # Translated once the catalogue is compiled (scripts/catalogue); the English ids until then.
    if "Instantané de la base" in shown:
        assert "Vérification des signatures des journaux fiscaux" in shown
        assert "enregistrements/s" in shown and re.search(r"\d+,\d (ko|Mo)", shown), shown
        assert f"Écriture de la copie {store.destinations[0]}" in shown
        assert f"Relecture de la copie {store.destinations[0]}" in shown


def test_the_no_op_progress_costs_nothing_and_counts_nothing():
    from pipeline.progress import NO_PROGRESS

    task = NO_PROGRESS.task("label", 10)
    task(5)
    task.expect(20)
    task.done()
    assert not NO_PROGRESS and not task  # stages skip measuring totals for nobody
