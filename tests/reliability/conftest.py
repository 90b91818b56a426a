"""Fixtures of the reliability suite, and the figures it prints at the end of the session."""

from __future__ import annotations

import sys

import pytest

from .helpers import FIGURES


@pytest.fixture(scope="session")
def figures():
    """figures(line): a measured figure, shown in the terminal summary (and at once on stderr, for -s)."""

    def record(line: str) -> None:
        FIGURES.append(line)
        print(f"[reliability] {line}", file=sys.stderr, flush=True)

    return record


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if FIGURES:
        terminalreporter.section("reliability figures")
        for line in FIGURES:
            terminalreporter.write_line(line)
