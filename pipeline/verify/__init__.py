"""Verify: proves each copy intact against the pinned key, the BLAKE3 list and the chain of runs."""
