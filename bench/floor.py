#!/usr/bin/env python3
"""The floor of a first run: every Ed25519 signature of a sample shop verified once, on every core.

A first `coffre archive` must check each signed record of the till once (tickets, closures, JET,
duplicates: pipeline/sample/chain.py JOURNALS, the reference-pos chains). Nothing can do that in less
time than the signature checks alone, so bench/run.py reports "first run / floor" as a ratio.

Run by bench/run.py with coffre's own interpreter (it needs `cryptography` and pipeline.sample.chain,
which bench/run.py itself does not import):

    PYTHONPATH=. .venv/bin/python bench/floor.py caisse.db [--threads N] [--json OUT]

The floor is timed with `cryptography`, as issue 18 defines it. The same calls are then timed with libsodium,
which Coffre's checks try first (pipeline/journals/till_key.py), and reported beside it.

Only the verify calls are timed. The payloads are rebuilt from the rows (the journals' own queries) in
batches beforehand, untimed, so that the floor is the signatures' cost and nothing of Coffre's reading:
threads, since `cryptography` lets go of Python's lock while it verifies. Memory stays flat: one batch
at a time.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sqlite3
import sys
import time
from concurrent.futures import ThreadPoolExecutor

BATCH = 200_000  # records rebuilt, then verified, at a time: ~60 MB of payloads at most


def _verify_part(key, pairs) -> int:
    """Verifies (signature, payload) pairs with `cryptography`; returns how many failed (a clean sample has none)."""
    from cryptography.exceptions import InvalidSignature
    bad = 0
    for signature, payload in pairs:
        try:
            key.verify(signature, payload)
        except InvalidSignature:
            bad += 1
    return bad


def _sodium_part(raw: bytes, pairs) -> int:
    """The same with libsodium, which Coffre's checks try first (pipeline/journals/till_key.py)."""
    from nacl.bindings import crypto_sign_open
    from nacl.exceptions import CryptoError
    bad = 0
    for signature, payload in pairs:
        try:
            crypto_sign_open(signature + payload, raw)
        except CryptoError:
            bad += 1
    return bad


def measure(db: str, threads: int) -> dict:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from pipeline.sample.chain import JOURNALS

    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    keys = [r[0] for r in conn.execute("SELECT public_key_b64 FROM till_keys")]
    if len(keys) != 1:
        raise SystemExit(f"floor: {db} holds {len(keys)} till keys; the sample has one")
    key = Ed25519PublicKey.from_public_bytes(base64.b64decode(keys[0]))
    counts, bad = {}, 0
    raw = base64.b64decode(keys[0])
    verify_s = read_s = sodium_s = 0.0
    one_thread_us = None
    with ThreadPoolExecutor(threads) as pool:
        for journal in JOURNALS:
            counts[journal.name] = 0
            cursor = conn.execute(journal.query)
            while True:
                t = time.perf_counter()
                rows = cursor.fetchmany(BATCH)
                if not rows:
                    break
                pairs = [(base64.urlsafe_b64decode(r["signature"] + "=" * (-len(r["signature"]) % 4)),
                          journal.payload(r).encode("utf-8")) for r in rows]
                read_s += time.perf_counter() - t
                if one_thread_us is None:  # one thread on the first 5,000, for the per-signature cost
                    t = time.perf_counter()
                    _verify_part(key, pairs[:5000])
                    one_thread_us = (time.perf_counter() - t) / min(5000, len(pairs)) * 1e6
                t = time.perf_counter()
                step = -(-len(pairs) // threads)
                parts = [pairs[i:i + step] for i in range(0, len(pairs), step)]
                bad += sum(pool.map(lambda part: _verify_part(key, part), parts))
                verify_s += time.perf_counter() - t
                t = time.perf_counter()
                sum(pool.map(lambda part: _sodium_part(raw, part), parts))
                sodium_s += time.perf_counter() - t
                counts[journal.name] += len(pairs)
    conn.close()
    total = sum(counts.values())
    return {"signatures": counts, "total_signatures": total, "threads": threads,
            "verify_seconds": round(verify_s, 3), "rebuild_payloads_seconds": round(read_s, 3),
            "verify_seconds_libsodium": round(sodium_s, 3),
            "us_per_signature_all_threads": round(verify_s / total * 1e6, 2) if total else None,
            "us_per_signature_one_thread": round(one_thread_us, 2) if one_thread_us else None,
            "invalid": bad}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Verify every signature of a sample shop once, on every core.")
    p.add_argument("database")
    p.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)), help="default: every core")
    p.add_argument("--json", dest="json_out", help="write the figures here as JSON")
    args = p.parse_args(argv)
    out = measure(args.database, max(1, args.threads))
    text = json.dumps(out, indent=2)
    if args.json_out:
        with open(args.json_out, "w") as f:
            f.write(text + "\n")
    print(text)
    return 1 if out["invalid"] else 0


if __name__ == "__main__":
    sys.exit(main())
