"""The message catalogue is complete: every message of the code (and click's own) has its French, with the same
placeholders, and the compiled catalogues are those of the .po files."""

from __future__ import annotations

import subprocess
import sys

from conftest import REPO


def test_every_message_has_its_french_and_the_compiled_catalogues_are_current():
    res = subprocess.run([sys.executable, str(REPO / "scripts" / "catalogue"), "--check"], capture_output=True,
                         text=True, cwd=REPO)
    assert res.returncode == 0, res.stdout[-6000:] + res.stderr[-2000:]
