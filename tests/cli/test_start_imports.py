"""A command's start loads only what it uses: the progress display (rich), the HTTP client of the pings and the syslog
handler cost 45 ms to import, a tenth of a year's `verify --deep`, and most runs show, ping and log nothing."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

LAZY = ("rich", "urllib.request", "http.client", "logging.handlers")


@pytest.mark.parametrize("command", ["archive", "verify", "restore", "drill", "prune", "status"])
def test_a_command_loads_no_display_http_or_syslog_code_until_it_needs_them(command):
    probe = (
        "import json, sys\n"
        f"sys.argv = ['coffre', {command!r}, '--help']\n"
        "import pipeline.cli, pipeline.cli.common, pipeline.alerts.hooks, pipeline.alerts.ping\n"
        f"import importlib; importlib.import_module('pipeline.cli.' + pipeline.cli.COMMANDS[{command!r}])\n"
        "print(json.dumps(sorted(sys.modules)))\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    loaded = set(json.loads(done.stdout))
    assert not {m for m in loaded if m.split(".")[0] == "rich" or m in LAZY}, sorted(
        m for m in loaded if m.split(".")[0] == "rich" or m in LAZY)


def test_the_display_the_pings_and_the_syslog_still_load_when_used(tmp_path):
    probe = (
        "import json, sys\n"
        "from pipeline.cli import progress, scheduled\n"
        "from pipeline.alerts import ping\n"
        "progress._columns()\n"
        "print(ping.ping('http://127.0.0.1:9/'))\n"
        "print(json.dumps(sorted(sys.modules)))\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    said, modules = done.stdout.splitlines()
    assert said.startswith("unreachable"), said
    assert {"rich.progress", "urllib.request"} <= set(json.loads(modules))
