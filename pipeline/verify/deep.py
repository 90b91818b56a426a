"""Deep verify: each data file decrypted, decompressed and checked against the facts, reading each byte once.

The facts first (they say what the rest must be), then the snapshot and the journals side by side, so that one
file's decryption overlaps the other's decompression. A block list whose facts record its contents root (format 2,
FORMAT.md §11) is opened block by block, each block once per verify whatever the runs and copies that name it
(unpack/block_contents.py); older runs' files are decrypted as one stream, once over all copies (_Decrypted).
"""

from __future__ import annotations

import re
import threading
from concurrent.futures import Future, ThreadPoolExecutor

from pipeline.destinations import why_not_read
from pipeline.errors import UsageError
from pipeline.i18n import _
from pipeline.snapshot import reader_of
from pipeline.unpack.check import (BoundedBuffer, HeaderProbe, journals_mismatch, journals_need_decompressing,
                                   parse_facts)
from pipeline.manifest.blocks import is_block_list
from pipeline.unpack.block_contents import OpenedBlocks
from pipeline.unpack.data_file import authenticate, block_list, limits_for, unpack_data_file
from pipeline.unpack.stream import UnpackError


def identity_recipients(identities: list) -> set[str]:
    return {str(i.to_public()) for i in identities}


def require_matching_identity(identities: list, manifest: dict, where: str) -> None:
    """An identity that opens none of a run's recipients is a usage error (exit 2), not a damaged copy."""
    if not identity_recipients(identities) & set(manifest.get("recipients") or []):
        raise UsageError(_("The identity given matches none of the recipients of run {run_id} ({where}).").format(
            run_id=manifest["run_id"], where=where))


class DeepChecker:
    """Called by verify_run for the data files of one run; the stored BLAKE3 is taken during decryption.

    The snapshot is decrypted, decompressed and hashed as it streams, nothing written: its BLAKE3 and size must
    be the archived snapshot's, and its first bytes what its kind writes (an SQLite header of the recorded page size
    and count, a PostgreSQL dump's, a MariaDB dump's). Bytes equal to the
    archived ones are the ones SQLite checked at archive time (facts' quick_check) and counted (row_counts):
    opening them again, which needs them on disk, is left to restore (row counts) and the drill (also
    PRAGMA integrity_check). The journals of runs that record the BLAKE3 of their zstd stream (`zst_blake3`) are
    decrypted and hashed, not decompressed; older runs' journals are decompressed and their plain BLAKE3 compared.
    """

    def __init__(self, identities: list, side_by_side: bool = True):
        self.identities = identities
        self.decrypted = _Decrypted()
        self.opened = OpenedBlocks(identities)
        # One copy's snapshot and journals side by side; with several copies read at once, the other copies keep
        # the second core busy, and two files more only add turns at Python's lock (measured on the 1-year
        # sample, two copies: 0.52 s side by side, 0.47 s one after the other; the supermarket's: the same).
        self.side_by_side = side_by_side

    def __call__(self, dest, store_id: str, rep, expected: dict[str, str | None], problem) -> set[str]:
        """Returns the files whose stored bytes stopped the decryption (damaged, unreadable): a block list's other
        blocks are then still to be held to their BLAKE3 (verify/copy.py)."""
        manifest = rep.manifest
        require_matching_identity(self.identities, manifest, dest.describe())
        entries = {f["name"]: f for f in manifest["files"]}
        kinds = {name: f["kind"] for name, f in entries.items()}
        facts = None
        for name in sorted(n for n in expected if kinds.get(n) == "facts"):
            said, read, facts_found = self._facts(dest, store_id, rep.run_id, entries[name], expected[name])
            rep.bytes_read += read
            facts = facts if facts_found is None else facts_found
            for message in said:
                problem(name, message)
        others = sorted(n for n in expected if kinds.get(n) != "facts")
        jobs = [(name, kinds.get(name)) for name in others]

        def one(job):
            name = job[0]
            if by_blocks(entries[name], facts):  # each block once per verify, whatever the run or copy
                return self._other(dest, store_id, rep.run_id, entries[name], expected[name], facts)
            return self.decrypted.once((rep.run_id, rep.manifest_blake3, name, expected[name]), entries[name],
                                       lambda: self._other(dest, store_id, rep.run_id, entries[name], expected[name],
                                                           facts),
                                       lambda: authenticate(dest, store_id, rep.run_id, entries[name]))

        if len(jobs) > 1 and self.side_by_side:
            with ThreadPoolExecutor(2, thread_name_prefix="coffre-deep") as pool:
                results = list(pool.map(one, jobs))
        else:
            results = [one(job) for job in jobs]
        stopped = set()
        for (name, _kind), (said, read, notes, stop) in zip(jobs, results):
            if malformed_root(entries[name], facts):
                notes = [_("facts.json's contents root (blocks_blake3) is not 64 lowercase hex digits: the file was "
                           "decrypted whole")] + list(notes)
            rep.bytes_read += read
            for message in said:
                problem(name, message)
            rep.notes.extend(_("{file}: {note}").format(file=name, note=n) for n in notes)
            if stop:
                stopped.add(name)
        return stopped

    # Each check returns (problems, bytes read, ...) instead of reporting, so that the two threads' findings
    # are reported in one fixed order.

    def _facts(self, dest, store_id, run_id, entry, expected):
        buf = BoundedBuffer()
        try:
            got = self._unpack(dest, store_id, run_id, entry, buf, None)
        except UnpackError as err:
            return [_("is damaged: {reason}").format(reason=err)], 0, None
        except OSError as err:  # nothing is written here: an OSError is the copy's (refused, missing, failing)
            return [why_not_read(err)], 0, None
        if got.stored_blake3 != expected:
            return [_("is damaged: its BLAKE3 differs from MANIFEST.b3")], got.stored_size, None
        try:
            return [], got.stored_size, parse_facts(buf.getvalue())
        except ValueError as err:
            return [str(err)], got.stored_size, None

    def _other(self, dest, store_id, run_id, entry, expected, facts):
        kind = entry["kind"]
        try:
            if by_blocks(entry, facts):
                return self._blocks(dest, store_id, run_id, entry, expected, facts)
            if kind == "snapshot":
                return self._snapshot(dest, store_id, run_id, entry, expected, facts)
            part = (facts or {}).get(kind)
            part = part if isinstance(part, dict) else None
            got = self._unpack(dest, store_id, run_id, entry, None, facts, decompress=kind != "journals"
                               or journals_need_decompressing(part))
            if got.stored_blake3 != expected:
                return [_("is damaged: its BLAKE3 differs from MANIFEST.b3")], got.stored_size, [], False
            if kind == "journals":
                wrong = journals_mismatch(part, got)
                return ([wrong] if wrong else []), got.stored_size, [], False
            return [], got.stored_size, [], False
        except UnpackError as err:
            return [_("is damaged: {reason}").format(reason=err)], 0, [], True
        except OSError as err:
            return [why_not_read(err)], 0, [], True

    def _blocks(self, dest, store_id, run_id, entry, expected, facts):
        """A block list whose facts record its contents root: each block opened once per verify (OpenedBlocks)."""
        kind = entry["kind"]
        part = facts[kind]
        if expected != entry["blake3"]:
            return [_("is damaged: its BLAKE3 differs from MANIFEST.b3")], 0, [], False
        blocks = block_list(dest, store_id, run_id, entry)
        snapshot = kind == "snapshot"
        size = limits_for(entry, facts).plain if snapshot else part.get("zst_size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise UnpackError(_("facts.json records no size for it (every Coffre run records one): it is not "
                                "unpacked"))
        got = self.opened.open_list(dest, store_id, blocks, snapshot, size)
        read = entry["size"] + got.bytes_read
        if got.size != size:
            return [_("its blocks hold {got} bytes, {size} were recorded at archive time").format(
                got=got.size, size=size)], read, [], False
        if got.root != part["blocks_blake3"]:
            return [_("its blocks hold other contents than the ones recorded at archive time (the contents root, "
                      "blocks_blake3, of facts.json)")], read, [], False
        if not snapshot:
            return [], read, [], False
        return _as_its_kind(part, got.head, got.size, read)

    def _unpack(self, dest, store_id, run_id, entry, out, facts, decompress=True, hash_zst=True):
        return unpack_data_file(dest, store_id, run_id, entry, self.identities, out, facts, decompress, hash_zst)

    def _snapshot(self, dest, store_id, run_id, entry, expected, facts):
        if facts is None:  # nothing to hold it to, nor to bound its plain size: its stored bytes only
            authenticate(dest, store_id, run_id, entry)
            return [_("cannot be compared: facts.json.zst.age did not verify")], entry["size"], [], False
        head = HeaderProbe()
        got = self._unpack(dest, store_id, run_id, entry, head, facts, hash_zst=False)  # the facts hold the plain hash
        if got.stored_blake3 != expected:
            return [_("is damaged: its BLAKE3 differs from MANIFEST.b3")], got.stored_size, [], False
        snap = facts["snapshot"]
        if snap.get("plain_blake3") != got.plain_blake3:
            return ([_("decrypts to a database whose BLAKE3 differs from the one recorded at archive time")],
                    got.stored_size, [], False)
        return _as_its_kind(snap, head.data, got.plain_size, got.stored_size)


def _as_its_kind(snap: dict, head: bytes, size: int, read: int):
    """A decrypted snapshot's first bytes and size held to what its kind writes; (problems, bytes read, notes, stopped)."""
    kind = reader_of(snap)
    damaged = kind.damaged_at_archive_time(snap)
    return kind.check_stream(head, size, snap), read, [damaged] if damaged else [], False


_ROOT = re.compile(r"[0-9a-f]{64}")


def _root(entry: dict, facts: dict | None):
    part = facts.get(entry["kind"]) if isinstance(facts, dict) else None
    return part.get("blocks_blake3") if isinstance(part, dict) and is_block_list(entry) else None


def by_blocks(entry: dict, facts: dict | None) -> bool:
    """Whether a data file is a block list whose facts vouch for each block's content (FORMAT.md §11)."""
    root = _root(entry, facts)
    return isinstance(root, str) and bool(_ROOT.fullmatch(root))


def malformed_root(entry: dict, facts: dict | None) -> bool:
    """A contents root that is not one (not 64 lowercase hex digits): the file is then decrypted whole, and it is said."""
    return _root(entry, facts) is not None and not by_blocks(entry, facts)


class _Decrypted:
    """Data files decrypted once per verify however many copies hold them.

    Two copies of a run hold the same stored bytes. The first copy to reach a file decrypts and checks it; another
    copy reads its own bytes in full and holds them to the same signed BLAKE3 (and a block list's blocks to the
    list), which proves they decrypt to what was checked. Should that copy's bytes differ, or the first copy find
    anything wrong, it decrypts its own: a problem is always found and worded on the copy that has it. The key holds
    the run's signed manifest.json, which pins the facts a file is checked against.
    """

    def __init__(self):
        self.lock = threading.Lock()
        self.claims: dict[tuple, Future] = {}

    def once(self, key: tuple, entry: dict, decrypt, same_bytes):
        if key[1] is None or key[3] is None or entry.get("blake3") != key[3]:
            return decrypt()  # nothing signed to hold another copy's bytes to
        with self.lock:
            first = self.claims.get(key)
            if first is None:
                self.claims[key] = mine = Future()  # (problems, bytes read, notes, stopped) of the copy that decrypts it
        if first is None:
            result = None
            try:
                result = decrypt()
            finally:
                mine.set_result(result)
            return result
        try:
            same_bytes()
        except (UnpackError, OSError):
            return decrypt()  # worded as the decryption words it
        found = first.result()
        if found is None or found[0]:
            return decrypt()
        return [], found[1], list(found[2]), False


class FactsReader(DeepChecker):
    """Reads and authenticates only each run's facts: what a run found, for the list an auditor package gives."""

    def __init__(self, identities: list):
        super().__init__(identities)
        self.facts: dict[str, dict] = {}

    def __call__(self, dest, store_id: str, rep, expected: dict[str, str | None], problem) -> None:
        if not identity_recipients(self.identities) & set(rep.manifest.get("recipients") or []):
            problem(None, _("is encrypted to other recipients than the identity given: its facts cannot be read"))
            return
        entries = {f["name"]: f for f in rep.manifest["files"]}
        for name in sorted(n for n in expected if entries[n]["kind"] == "facts"):
            said, read, facts = self._facts(dest, store_id, rep.run_id, entries[name], expected[name])
            rep.bytes_read += read
            for message in said:
                problem(name, message)
            if facts is not None:
                self.facts[rep.run_id] = facts
