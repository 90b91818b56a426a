"""Deep verify: each data file decrypted, decompressed and checked against the facts, reading each byte once."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from pipeline.errors import UsageError
from pipeline.unpack.check import BoundedBuffer, check_snapshot, parse_facts
from pipeline.unpack.stream import SourceReadError, UnpackError, unpack


def identity_recipients(identities: list) -> set[str]:
    return {str(i.to_public()) for i in identities}


def require_matching_identity(identities: list, manifest: dict, where: str) -> None:
    """An identity that opens none of a run's recipients is a usage error (exit 2), not a damaged copy."""
    if not identity_recipients(identities) & set(manifest.get("recipients") or []):
        raise UsageError(f"The identity given matches none of the recipients of run {manifest['run_id']} ({where}).")


class DeepChecker:
    """Called by verify_run for the data files of one run; the stored BLAKE3 is taken during decryption."""

    def __init__(self, identities: list, scratch: Path | None):
        self.identities = identities
        self.scratch = scratch

    def __call__(self, dest, store_id: str, rep, expected: dict[str, str | None], problem) -> None:
        manifest = rep.manifest
        require_matching_identity(self.identities, manifest, dest.describe())
        kinds = {f["name"]: f["kind"] for f in manifest["files"]}
        # facts first: they say what the snapshot must hash to and hold.
        order = sorted(expected, key=lambda n: (kinds.get(n) != "facts", n))
        facts = None
        for name in order:
            kind = kinds.get(name)
            try:
                if kind == "facts":
                    buf = BoundedBuffer()
                    got = self._unpack(dest, store_id, rep, name, buf)
                    if got and self._stored_ok(got, expected[name], name, problem):
                        try:
                            facts = parse_facts(buf.getvalue())
                        except ValueError as err:
                            problem(name, str(err))
                elif kind == "snapshot":
                    self._snapshot(dest, store_id, rep, name, expected[name], facts, problem)
                else:
                    got = self._unpack(dest, store_id, rep, name, None)
                    if got and self._stored_ok(got, expected[name], name, problem):
                        recorded = (facts or {}).get(kind, {}).get("plain_blake3")
                        if recorded and recorded != got.plain_blake3:
                            problem(name, "decrypts to content whose BLAKE3 differs from the one recorded at archive time")
            except UnpackError as err:
                problem(name, f"is damaged: {err}")
            except (SourceReadError, FileNotFoundError) as err:
                problem(name, f"cannot be read ({err.strerror or err})")

    def _unpack(self, dest, store_id, rep, name, out):
        with dest.open_read(store_id, rep.run_id, name) as src:
            got = unpack(src, self.identities, out)
        rep.bytes_read += got.stored_size
        return got

    @staticmethod
    def _stored_ok(got, expected: str | None, name: str, problem) -> bool:
        if got.stored_blake3 != expected:
            problem(name, "is damaged: its BLAKE3 differs from MANIFEST.b3")
            return False
        return True

    def _snapshot(self, dest, store_id, rep, name, expected, facts, problem) -> None:
        fd, tmp = tempfile.mkstemp(prefix="coffre-verify-", suffix=".sqlite", dir=self.scratch)
        try:
            with os.fdopen(fd, "wb") as out:
                got = self._unpack(dest, store_id, rep, name, out)
            if not self._stored_ok(got, expected, name, problem):
                return
            if facts is None:
                problem(name, "cannot be compared: facts.json.zst.age did not verify")
                return
            snap = facts["snapshot"]
            if snap.get("plain_blake3") != got.plain_blake3:
                problem(name, "decrypts to a database whose BLAKE3 differs from the one recorded at archive time")
                return
            for sentence in check_snapshot(Path(tmp), snap):
                problem(name, sentence)
        finally:
            os.unlink(tmp)
