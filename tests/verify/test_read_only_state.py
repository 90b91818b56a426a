"""`verify` (and `drill`) by someone who may read the copies but not write the state folder: the full report and exit code,
with a note that nothing was recorded, and the state folder left as it was."""

from __future__ import annotations

import contextlib
import errno
import json
import shutil
import subprocess

from reliability.helpers import no_traceback, tmpfs, tree, two_copy_store


@contextlib.contextmanager
def read_only(folder):
    """The folder, with its files, on a file system mounted read-only: even root cannot write there (file modes
    would not stop the root the tests run as)."""
    held = folder.with_name(folder.name + "-held")
    shutil.copytree(folder, held)
    with tmpfs(folder, "256m"):
        shutil.copytree(held, folder, dirs_exist_ok=True)
        res = subprocess.run(["mount", "-o", "remount,ro", str(folder)], capture_output=True, text=True)
        assert res.returncode == 0, res.stderr
        yield folder


def test_verify_reports_and_exits_as_usual_when_the_state_folder_is_read_only(tmp_path):
    with two_copy_store(tmp_path, days=1, tickets_per_day=40, seed=3) as store:
        res = store.coffre("archive", "--yes")
        assert res.code == 0, res
        usb = store.destinations[0]
        (run,) = store.run_dirs(usb)
        with read_only(store.state_dir) as state:
            try:
                (state / "probe").touch()
            except OSError as err:
                assert err.errno == errno.EROFS
            else:
                raise AssertionError("the state folder is still writable")
            before = tree(state)
            contents = {p: p.read_bytes() for p in state.rglob("*") if p.is_file()}

            res = store.coffre("verify")
            no_traceback(res)
            assert res.code == 0, res
            assert "Note: nothing was recorded of this verify" in res.err and str(store.state_dir) in res.err, res

            res = store.coffre("verify", "--json")
            assert res.code == 0 and json.loads(res.out)["recorded"] is False, res

            # The drill alike: its verdict in full, and the note.
            res = store.coffre("drill", *store.identity_args(), "--json")
            no_traceback(res)
            assert res.code == 0 and json.loads(res.out)["recorded"] is False, res
            assert "Note: nothing was recorded of this drill" in res.err, res

            damaged = run / "facts.json.zst.age"
            damaged.write_bytes(damaged.read_bytes()[:-1])
            res = store.coffre("verify")
            no_traceback(res)
            assert res.code == 1 and "facts.json.zst.age" in res.err, res
            assert "Note: nothing was recorded of this verify" in res.err, res

            assert tree(state) == before
            assert {p: p.read_bytes() for p in state.rglob("*") if p.is_file()} == contents
