"""Reliability suite: faults, bad input and tampering (a package, so that its conftest and helpers never shadow tests/conftest.py)."""
