"""Checks the journals of a snapshot: signature chains, numbering, closures against tickets, grand totals.

Everything runs on the snapshot (never the live till), mostly in SQL. Signatures are the
expensive part (an Ed25519 verify per record), so a chain already verified in an earlier run
is held to that run's digest of its records instead: if any earlier record changed, the digest
differs and the whole chain is verified again, naming the record.
"""

from __future__ import annotations

import base64
import binascii
import os
import sqlite3
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import blake3

from pipeline.i18n import _, ngettext
from pipeline.journals.connection import open_snapshot
from pipeline.journals.exact_sums import rows_summing, run_summing
from pipeline.journals.findings import CheckResult, Finding, clauses, closure_name, closures_of_kind
from pipeline.journals.till_key import TillKey, verify_any
from pipeline.journals.mapping import Journal, Mapping, counted_types_sql, payload_sql, quote_ident, tickets_journal
from pipeline.journals.means import check_means
from pipeline.journals.records import check_records
from pipeline.progress import EVERY, NO_PROGRESS, NO_TASK, RECORDS, Progress, Task

def till_key_rows(conn: sqlite3.Connection, mapping: Mapping) -> list[list[str]]:
    """[key id, public key (base64)] of every till key the database holds, as the mapping reads them."""
    if mapping.public_keys_sql is None:
        return []
    return [[str(row[0]) if len(row) > 1 else "", str(row[-1])] for row in conn.execute(mapping.public_keys_sql)]


def load_public_keys(conn: sqlite3.Connection, mapping: Mapping) -> list[TillKey]:
    keys = []
    for _key_id, b64 in till_key_rows(conn, mapping):
        try:
            keys.append(TillKey(base64.b64decode(b64, validate=True)))
        except (binascii.Error, ValueError):
            continue
    return keys


def keys_since(checks: CheckResult, before) -> None:
    """A till key that appeared since the last run can sign records that were never the till's (a forger who
    re-signs a chain with a key of their own adds it): said, as is a key that went."""
    if not isinstance(before, list):
        return  # a first run, or a record from before keys were kept
    then = {k[1]: k[0] for k in before if isinstance(k, list) and len(k) == 2}
    if not then:
        return  # the last run saw no key (an emptied or foreign database, said then): nothing to hold keys to
    now = {k: i for i, k in checks.till_keys}
    for key, kid in sorted(now.items()):
        if key not in then:
            checks.add(Finding("till_keys", "till_key_added", {"key_id": kid, "public_key": key},
                               _("a till public key that was not there at the last run: check that the till made "
                                 "it")))
    for key, kid in sorted(then.items()):
        if key not in now:
            checks.add(Finding("till_keys", "till_key_removed", {"key_id": kid, "public_key": key},
                               _("a till public key that was there at the last run is gone")))


def _decode_sig(sig: str) -> bytes:
    return base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4))


def _verify(keys: list[TillKey], payload: str, sig: str | None) -> bool:
    if not sig:
        return False
    try:
        raw = _decode_sig(sig)
    except (binascii.Error, ValueError):
        return False
    data = payload.encode("utf-8")
    return verify_any(keys, raw, data)


class Signatures:
    """Ed25519 checks spread over every core while the records are read, their findings said in the records' order.

    A first run verifies every signature of the till (155,000 for a year of two registers): one after another that
    is most of its time. Both libraries of till_key.py let go of Python's lock while they verify, so threads run them
    side by side, and beside the SQL that reads the next records. Records are queued with what to say of them (a broken link,
    or a bad signature once verified); every BATCH verifications the batch goes to the workers, in one slice per
    worker, and the batch before it, verified meanwhile, is said in order: the findings read as a one-by-one walk
    would say them. Memory: two batches of payloads, with what to say of each (some 700 bytes a record): 4096 a
    batch held 5 MB more through a supermarket's evening (30,000 signatures) than a quiet one's, and 1024 is as fast
    (the 1-year first run: 15.9-16.5 s either way, its slices 30 ms of work each).
    """

    BATCH = 1024

    def __init__(self, keys, result: CheckResult, pool: ThreadPoolExecutor | None, workers: int = 1):
        self.keys, self.result, self.pool, self.workers = keys, result, pool, workers
        self.queue: list[tuple] = []  # (finding, None) or (what makes the finding, (payload, signature))
        self.waiting = 0
        self.inflight: tuple[list, list] | None = None  # a batch being verified: (its queue, its slices' futures)

    def say(self, finding: Finding) -> None:
        if self.queue or self.inflight:
            self.queue.append((finding, None))
        else:
            self.result.add(finding)

    def verify(self, payload: str, sig: str | None, bad) -> None:
        """`bad()` makes the finding of a bad signature: only then (most records are good)."""
        self.queue.append((bad, (payload, sig)))
        self.waiting += 1
        if self.waiting >= self.BATCH:
            self.flush(final=False)

    def flush(self, final: bool = True) -> None:
        """The batch in flight said; the queue sent to the workers (and, when final, said too)."""
        self._settle()
        if self.queue:
            items = [v for _, v in self.queue if v is not None]
            if self.pool is None or self.workers < 2 or len(items) < 2 * self.workers:
                futures = [Future()]
                futures[0].set_result(self._slice(items))
            else:
                size = -(-len(items) // self.workers)
                futures = [self.pool.submit(self._slice, items[i:i + size]) for i in range(0, len(items), size)]
            self.inflight = (self.queue, futures)
            self.queue, self.waiting = [], 0
        if final:
            self._settle()

    def _settle(self) -> None:
        if self.inflight is None:
            return
        queue, futures = self.inflight
        self.inflight = None
        said = iter([v for f in futures for v in f.result()])
        for finding, item in queue:
            if item is None:
                self.result.add(finding)
            elif not next(said):
                self.result.add(finding())

    def _slice(self, items: list) -> list[bool]:
        return [_verify(self.keys, p, s) for p, s in items]


def workers() -> tuple[ThreadPoolExecutor | None, int]:
    """A pool of one thread per core for the signature checks (none on one core)."""
    n = os.cpu_count() or 1
    return (ThreadPoolExecutor(n), n) if n > 1 else (None, 1)


def _record(j: Journal, row_key: tuple, number) -> dict:
    rec = dict(zip(j.chain_key or j.numbering_key or [], row_key))
    rec[j.numbering_field or "number"] = number
    return rec


# The findings both the full check and the check of new records (tail.py) make, worded once.
def no_keys(j: Journal) -> Finding:
    return Finding(j.name, "signature", {}, _("no till public key found: signatures cannot be checked"))


def broken_link(j: Journal, rec: dict) -> Finding:
    return Finding(j.name, "chain_link", rec, _("its previous_signature is not the signature of the record before "
                                                "it: a record was removed, inserted or rewritten here"))


def dangling_first(j: Journal, rec: dict) -> Finding:
    return Finding(j.name, "chain_link", rec,
                   _("the first record of the chain points to an earlier record that is not there"))


def bad_signature(j: Journal, rec: dict) -> Finding:
    return Finding(j.name, "signature", rec,
                   _("its signature does not match its content: the record was altered after signing"))


def late_start(j: Journal, rec: dict, number: int) -> Finding:
    return Finding(j.name, "numbering_gap", dict(rec, **{j.numbering_field: number}),
                   ngettext("numbering starts at {number}: numbers 1 to {last} are missing",
                            "numbering starts at {number}: numbers 1 to {last} are missing",
                            number - 1).format(number=number, last=number - 1))


def numbers_missing(j: Journal, rec: dict, prev: int, number: int) -> Finding:
    missing = f"{prev + 1}" if number - prev == 2 else numbers_from_to(prev + 1, number - 1)
    return Finding(j.name, "numbering_gap", dict(rec, **{j.numbering_field: prev + 1}),
                   ngettext("number {missing} missing between {previous} and {number}",
                            "numbers {missing} missing between {previous} and {number}",
                            number - prev - 1).format(missing=missing, previous=prev, number=number))


def numbers_from_to(first, last) -> str:
    return _("{first} to {last}").format(first=first, last=last)


def tail_deleted(j: Journal, name: str, cp: dict, now: dict | None) -> Finding | None:
    """The records a chain lost at its end since the last check, by number when the chain is numbered by itself."""
    rec = dict(zip(j.chain_key, name.split("/"))) if j.chain_key else {}
    count_now = (now or {}).get("count", 0)
    last_then, last_now = cp.get("last"), (now or {}).get("last")
    own = j.numbering_field and (j.numbering_key or []) == (j.chain_key or [])
    if own and isinstance(last_then, int) and isinstance(last_now, int) and last_now >= last_then:
        return None  # the end is still there: what went from the middle is a broken link and a gap, named as such
    if own and isinstance(last_then, int) and isinstance(last_now, (int, type(None))) and (last_now or 0) < last_then:
        first = (last_now or 0) + 1
        numbers = f"{first}" if first == last_then else f"{first} to {last_then}"  # a field of the record: as is
        shown = f"{first}" if first == last_then else numbers_from_to(first, last_then)
        rec = dict(rec, numbers=numbers)
        said = ngettext("number {numbers} was here at the last check and is gone ({then} records then, {now} "
                        "now): records were deleted",
                        "numbers {numbers} were here at the last check and are gone ({then} records then, {now} "
                        "now): records were deleted", last_then - first + 1)
        said = said.format(numbers=shown, then=cp["count"], now=count_now)
    else:
        rec = dict(rec, last_seen=last_then)
        said = _("the chain ended at number {then_last} at the last check, at {now_last} now ({then} records then, "
                 "{now} now): records were deleted").format(then_last=last_then, now_last=last_now, then=cp["count"],
                                                            now=count_now)
    return Finding(j.name, "tail_deleted", rec, said)


def chain_sql(j: Journal, where: str) -> str:
    """payload, signature, previous_signature, number, order value, then the chain key, in chain order.

    The signatures and the text fields of the key are read as the export writes them, as text (SQLite keeps any type
    in any column: a blob there is the text of its bytes), so that Coffre and the inspector's verify.py, which reads
    the export, name the same chains and say the same of each signature."""
    key_cols = [_as_text(j, k) for k in j.chain_key]
    key_sql = ", ".join(key_cols) if key_cols else "''"
    num = quote_ident(j.numbering_field) if j.numbering_field else "NULL"
    order = quote_ident(j.chain_order) if j.chain_order else "NULL"
    return (f"SELECT {payload_sql(j.payload)}, CAST(signature AS TEXT), CAST(previous_signature AS TEXT), {num}, "
            f"{order}, {key_sql} FROM ({j.full_sql}) {where}")


def _as_text(j: Journal, field: str) -> str:
    col = quote_ident(field)
    return f"CAST({col} AS TEXT)" if j.types.get(field) == "string" else col


CHAIN_START = bytes(32)  # what a chain's running digest starts from, before its first record


def chain_record(payload: str, sig: str | None) -> bytes:
    """A signed record as the checkpoints' digests take it."""
    return payload.encode("utf-8") + b"\x1f" + (sig or "").encode() + b"\n"


def chained(before: bytes, record: bytes) -> bytes:
    """A chain's running digest after one more record: BLAKE3(the digest before it, the record). An evening extends it
    from the last run's value with the records it checks (tail.py); a whole BLAKE3 over the records could not be."""
    return blake3.blake3(before + record).digest()


def check_chain(conn, j: Journal, keys, result: CheckResult, checkpoint: dict | None, where: str, params: tuple,
                full_period: bool, tick: Task = NO_TASK, pool: tuple[ThreadPoolExecutor | None, int] = (None, 1)
                ) -> dict:
    """Verifies one signed journal; returns its new checkpoint {chain: {count, digest, chained, last, sig, order}}.

    `digest` is the BLAKE3 of the chain's records; `chained`, their running digest (chained()), which an evening run
    extends with the records it checks: a checkpoint an evening wrote holds `chained` alone, and a record checked by an
    evening, changed or gone since, is said as one a full check verified."""
    sql = chain_sql(j, where)
    checkpoint = checkpoint or {}
    new_cp: dict = {}
    redo: set[str] = set()

    def run(only: set[str] | None):
        signatures = Signatures(keys, result, *pool)
        chain = None
        last_number = last_order = None
        prev_sig = None
        index = 0
        h = None
        c = CHAIN_START
        cp = None
        walked = 0
        for row in conn.execute(sql, params):
            walked += 1
            if not walked & (EVERY - 1):
                tick(EVERY)
            payload, sig, prev, number, order_value = row[0], row[1], row[2], row[3], row[4]
            key = tuple(row[5:]) if j.chain_key else ()
            name = "/".join(str(k) for k in key)
            if name != chain:
                if chain is not None and only is None:
                    new_cp[chain] = {"count": index, "digest": h.hexdigest(), "chained": c.hex(), "last": last_number,
                                     "sig": prev_sig, "order": last_order}
                chain, prev_sig, index, h, c = name, None, 0, blake3.blake3(), CHAIN_START
                key_of[name] = key
                cp = None if only is not None else checkpoint.get(name)
            if only is not None and name not in only:
                continue
            index += 1
            last_number, last_order = number, order_value
            record = chain_record(payload, sig)
            h.update(record)
            c = chained(c, record)
            if prev_sig is not None and prev != prev_sig:
                broken.add(name)
                signatures.say(broken_link(j, _record(j, key, number)))
            elif prev_sig is None and full_period and prev not in ("", None):
                broken.add(name)
                signatures.say(dangling_first(j, _record(j, key, number)))
            trusted = cp is not None and index <= cp["count"]
            if trusted:
                result.signatures_trusted_from_checkpoint += 1
                trusted_in[name] = trusted_in.get(name, 0) + 1
                if index == cp["count"] and (c.hex() != cp["chained"] if "chained" in cp
                                             else h.hexdigest() != cp.get("digest")):
                    redo.add(name)  # an already verified record changed: verify this chain again, fully
            else:
                result.signatures_verified += 1
                signatures.verify(payload, sig, lambda key=key, number=number, name=name: bad(key, number, name))
            prev_sig = sig
        signatures.flush()
        if chain is not None and only is None:
            new_cp[chain] = {"count": index, "digest": h.hexdigest(), "chained": c.hex(), "last": last_number,
                             "sig": prev_sig, "order": last_order}
        tick(walked & (EVERY - 1))

    trusted_in: dict[str, int] = {}
    key_of: dict[str, tuple] = {}  # each chain's key as its rows give it (its name joins them with "/", which they may hold)
    # The chains with a broken record, said or not: past MAX_FINDINGS_PER_CHECK a finding is not kept, and its chain
    # must not be taken as a checkpoint all the same (the next run would trust the record, and never say it).
    broken: set[str] = set()

    def bad(key, number, name) -> Finding:
        broken.add(name)
        return bad_signature(j, _record(j, key, number))

    run(None)
    changed = set(redo)  # an already verified record whose content differs now
    for name, cp in checkpoint.items():
        if name in new_cp and new_cp[name]["count"] < cp["count"]:
            redo.add(name)  # shorter: which records went is only known by verifying it all again
        if name not in new_cp or new_cp[name]["count"] < cp["count"]:
            gone = tail_deleted(j, name, cp, new_cp.get(name))
            if gone is not None:
                result.add(gone)
    if redo:
        for name in redo:  # verified in full now, so no longer counted as trusted
            result.signatures_trusted_from_checkpoint -= trusted_in.get(name, 0)
        run(redo)
        # Records verified at an earlier run whose content differs now: said for each such chain, whatever else
        # the run finds (a bad signature elsewhere must not hide a chain re-signed with the till's key). A chain
        # that only got shorter is said by tail_deleted: that its remaining records "changed" would accuse the
        # till of a forgery it did not commit.
        for name in sorted(changed):
            rec = dict(zip(j.chain_key, key_of[name])) if j.chain_key else {}  # as its records' findings name it
            result.add(Finding(j.name, "chain_changed", rec,
                               _("records verified at an earlier run have changed since (re-signed, or altered)")))
    # A chain with a broken record is never taken as a checkpoint: the finding must come back every run.
    for name in broken | changed:
        new_cp.pop(name, None)
    return new_cp


def check_numbering(conn, j: Journal, result: CheckResult, where: str, params: tuple, full_period: bool) -> None:
    keys = [quote_ident(k) for k in j.numbering_key]
    part = f"PARTITION BY {', '.join(keys)}" if keys else ""
    n = quote_ident(j.numbering_field)
    key_sel = (", ".join(keys) + ", ") if keys else ""
    # The mapping's order, not unordered_sql: among equal numbers (3 and 3.0 in an untyped column) the window keeps
    # the rows as they come, and which one comes last decides the gap said after them.
    sql = (f"SELECT {key_sel}{n}, prev, first FROM (SELECT {key_sel}{n}, LAG({n}) OVER ({part} ORDER BY {n}) AS prev, "
           f"ROW_NUMBER() OVER ({part} ORDER BY {n}) = 1 AS first FROM ({j.sql}) {where}) "
           f"WHERE (prev IS NOT NULL AND {n} - prev <> 1) OR (first AND ? AND {n} <> 1) OR typeof({n}) <> 'integer'")
    for row in conn.execute(sql, params + (1 if full_period else 0,)):
        key, number, prev, first = tuple(row[:len(keys)]), row[len(keys)], row[len(keys) + 1], row[len(keys) + 2]
        rec = dict(zip(j.numbering_key, key))
        if not isinstance(number, int) or not isinstance(prev, (int, type(None))):
            bad = number if not isinstance(number, int) else prev
            result.add(Finding(j.name, "numbering_not_integer", dict(rec, **{j.numbering_field: bad}),
                               _("number {number!r} is not a whole number").format(number=bad)))
        elif first and prev is None:
            result.add(late_start(j, rec, number))
        elif number == prev:
            result.add(Finding(j.name, "numbering_duplicate", dict(rec, **{j.numbering_field: number}),
                               _("number {number} is used twice").format(number=number)))
        else:
            result.add(numbers_missing(j, rec, prev, number))


def check_closures(conn, mapping: Mapping, result: CheckResult, where: str, params: tuple, full_period: bool,
                   period: tuple[str, str] | None = None, tail=None) -> None:
    """Closures against their tickets and lines, roll-ups, perpetual grand totals.

    The day sums (temp tables coffre_ticket_days, coffre_line_days) come from the whole journals, or,
    with `tail` (journals/tail.py), from the sums kept at the last run plus the records added since.
    """
    spec = mapping.doc.get("closure_checks")
    if not spec:
        # A till whose closures cannot be summed from its tickets (Odoo's) still holds each ticket to its lines
        # and payments.
        if tickets_journal(mapping) in mapping.journals and (mapping.doc.get("line_checks")
                                                             or mapping.doc.get("payment_checks")):
            if tail is None:
                _ticket_lines_table(conn, mapping)
                _per_ticket_full(conn, mapping, result, where, params)
            else:
                tail.new_rows(conn)
                tail.per_ticket_checks(conn, result)
        return
    cj = mapping.journals[spec["journal"]]
    amounts, count = spec["amounts"], spec["count"]
    if tail is None:
        _day_tables_full(conn, mapping)
    else:
        tail.day_tables(conn)
    conn.execute("DROP TABLE IF EXISTS temp.coffre_closures")
    conn.execute(f"CREATE TEMP TABLE coffre_closures AS SELECT * FROM ({cj.sql}) {where}", params)
    # Roll-ups and grand totals look closures up by register, kind and number (4x faster at four years).
    conn.execute("CREATE INDEX temp.coffre_closures_i ON coffre_closures (register, kind, number)")
    diff = " OR ".join(f"c.{quote_ident(a)} IS NOT COALESCE(s.{quote_ident(a)}, 0)" for a in amounts)
    sel = ", ".join(f"c.{quote_ident(a)}, COALESCE(s.{quote_ident(a)}, 0)" for a in amounts)
    # daily closures against the sum of their tickets
    daily = spec["daily"]
    sql = (f"SELECT c.register, c.kind, c.number, c.period_start, c.{quote_ident(count)}, COALESCE(s.n, 0), {sel} "
           f"FROM coffre_closures c LEFT JOIN (SELECT t.register AS register, cc.rowid AS cid, sum(t.n) AS n, "
           + ", ".join(f"sum(t.{quote_ident(a)}) AS {quote_ident(a)}" for a in amounts) +
           " FROM coffre_closures cc JOIN coffre_ticket_days t ON t.register = cc.register AND t.day BETWEEN cc.period_start "
           "AND cc.period_end WHERE cc.kind = ? GROUP BY cc.rowid) s ON s.cid = c.rowid "
           f"WHERE c.kind = ? AND (c.{quote_ident(count)} IS NOT COALESCE(s.n, 0) OR {diff})")
    _report_sums(conn, sql, (daily, daily), amounts, result, _("its tickets"))
    if tail is None:
        _per_ticket_full(conn, mapping, result, where, params)
    else:
        tail.per_ticket_checks(conn, result)
    _closure_lines(conn, mapping, result, daily)
    # monthly and yearly closures against the closures they roll up
    for kind, lower in spec.get("rollups", {}).items():
        sql = (f"SELECT c.register, c.kind, c.number, c.period_start, c.{quote_ident(count)}, COALESCE(s.n, 0), {sel} "
               f"FROM coffre_closures c LEFT JOIN (SELECT cc.rowid AS cid, sum(l.{quote_ident(count)}) AS n, "
               + ", ".join(f"sum(l.{quote_ident(a)}) AS {quote_ident(a)}" for a in amounts) +
               " FROM coffre_closures cc JOIN coffre_closures l ON l.register = cc.register AND l.kind = ? "
               "AND l.period_start >= cc.period_start AND l.period_end <= cc.period_end WHERE cc.kind = ? GROUP BY cc.rowid) s "
               f"ON s.cid = c.rowid WHERE c.kind = ? AND c.period_start >= ? "
               f"AND (c.{quote_ident(count)} IS NOT COALESCE(s.n, 0) OR {diff})")
        # A roll-up that reaches back before an export's period cannot be summed from it: left out.
        _report_sums(conn, sql, (lower, kind, kind, period[0] if period else ""), amounts, result,
                     closures_of_kind(lower))
    # perpetual grand totals: each daily closure adds its period total to the running total
    for perpetual, period_total in (spec.get("perpetual") or {}).items():
        p, t = quote_ident(perpetual), quote_ident(period_total)
        sql = (f"SELECT register, kind, number, {p}, prev_p, {t}, first FROM (SELECT register, kind, number, {p}, {t}, "
               f"LAG({p}) OVER (PARTITION BY register ORDER BY number) AS prev_p, "
               f"ROW_NUMBER() OVER (PARTITION BY register ORDER BY number) = 1 AS first "
               f"FROM coffre_closures WHERE kind = ?) WHERE (prev_p IS NOT NULL AND {p} - prev_p IS NOT {t}) "
               f"OR (first AND ? AND {p} IS NOT {t})")
        for reg, kind, number, got, prev_p, total, first in conn.execute(sql, (daily, 1 if full_period else 0)):
            expected = total if prev_p is None else _plus(prev_p, total)
            result.add(Finding(cj.name, "grand_total", {"register": reg, "kind": kind, "number": number},
                               _("{closure}: {perpetual} is {got}, but the previous grand total plus this period's "
                                 "{period_total} gives {expected}").format(
                                   closure=closure_name(kind), perpetual=perpetual, got=got,
                                   period_total=period_total, expected=expected)))
        # rollup closures carry the running total of the last daily closure they cover
        sql = (f"SELECT c.register, c.kind, c.number, c.{p}, (SELECT d.{p} FROM coffre_closures d WHERE d.register = c.register "
               f"AND d.kind = ? AND d.period_end <= c.period_end ORDER BY d.number DESC LIMIT 1) AS last_p "
               f"FROM coffre_closures c WHERE c.kind <> ?")
        for reg, kind, number, got, last_p in conn.execute(sql, (daily, daily)):
            if last_p is not None and got != last_p:
                result.add(Finding(cj.name, "grand_total", {"register": reg, "kind": kind, "number": number},
                                   _("{closure}: {perpetual} is {got}, but the last daily closure of its period "
                                     "says {last}").format(closure=closure_name(kind), perpetual=perpetual, got=got,
                                                           last=last_p)))


def _plus(a, b):
    """a + b where both are numbers; else the sum as written ("x + 1250"): a grand total the till stored as text is
    said, not a stop of the checks."""
    numbers = (int, float)
    if isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool) and not isinstance(b, bool):
        return a + b
    return f"{a} + {b}"


def _day_tables_full(conn, mapping: Mapping) -> None:
    """coffre_ticket_days (counted tickets per register and day) and, with line checks, coffre_ticket_lines
    (each ticket's lines per VAT rate) and coffre_line_days (those lines per register and day)."""
    spec = mapping.doc["closure_checks"]
    tj = mapping.journals[tickets_journal(mapping)]
    sums = ", ".join(f"sum({quote_ident(a)}) AS {quote_ident(a)}" for a in spec["amounts"])
    conn.execute("DROP TABLE IF EXISTS temp.coffre_ticket_days")
    run_summing(conn, f"CREATE TEMP TABLE coffre_ticket_days AS SELECT register, {tj.day} AS day, count(*) AS n, {sums} "
                f"FROM ({tj.unordered_sql}) WHERE type IN ({counted_types_sql(mapping)}) GROUP BY register, day")
    conn.execute("CREATE INDEX temp.coffre_ticket_days_i ON coffre_ticket_days (register, day)")
    lc = mapping.doc.get("line_checks")
    if not lc:
        return
    _ticket_lines_table(conn, mapping)
    conn.execute("DROP TABLE IF EXISTS temp.coffre_line_days")
    sums = ", ".join(f"sum(l.r{int(r)}) AS r{int(r)}" for r in lc["rates"])
    run_summing(conn, f"CREATE TEMP TABLE coffre_line_days AS SELECT t.register AS register, {tj.day.replace('timestamp', 't.timestamp')} AS day, {sums} "
                f"FROM ({tj.unordered_sql}) t JOIN coffre_ticket_lines l ON l.k1 = t.register AND l.k2 = t.number "
                f"WHERE t.type IN ({counted_types_sql(mapping)}) GROUP BY 1, 2")
    conn.execute("CREATE INDEX temp.coffre_line_days_i ON coffre_line_days (register, day)")


def _ticket_lines_table(conn, mapping: Mapping) -> None:
    """coffre_ticket_lines: each ticket's lines summed per VAT rate (with line checks)."""
    lc = mapping.doc.get("line_checks")
    if not lc:
        return
    lj = mapping.journals[lc["journal"]]
    k1, k2 = (quote_ident(k) for k in lc["ticket_key"])
    conn.execute("DROP TABLE IF EXISTS temp.coffre_ticket_lines")
    run_summing(conn, f"CREATE TEMP TABLE coffre_ticket_lines AS SELECT {k1} AS k1, {k2} AS k2, {rate_pivot(lc)} "
                f"FROM ({lj.unordered_sql}) GROUP BY 1, 2")
    conn.execute("CREATE INDEX temp.coffre_ticket_lines_i ON coffre_ticket_lines (k1, k2)")


def rate_pivot(lc: dict) -> str:
    rate, amount = quote_ident(lc["rate_field"]), quote_ident(lc["amount"])
    return ", ".join(f"sum(CASE WHEN {rate} = {int(r)} THEN {amount} ELSE 0 END) AS r{int(r)}" for r in lc["rates"])


def report_ticket_lines(rows, lc: dict, tj_name: str, result: CheckResult) -> None:
    """rows: (register, number, then per rate: ticket's HT+TVA, lines' sum)."""
    for row in rows:
        diffs = [_("{rate:g} % rate: {ticket} on the ticket, {lines} in its lines").format(
                     rate=r / 100, ticket=row[2 + 2 * i], lines=row[3 + 2 * i])
                 for i, r in enumerate(int(x) for x in lc["rates"]) if row[2 + 2 * i] != row[3 + 2 * i]]
        result.add(Finding(tj_name, "ticket_lines", {"register": row[0], "number": row[1]},
                           _("does not equal the sum of its lines: {differences}").format(
                               differences=clauses(diffs))))


def report_payments(rows, tj_name: str, result: CheckResult) -> None:
    for reg, number, tot, paid in rows:
        result.add(Finding(tj_name, "payments", {"register": reg, "number": number},
                           _("total {total} but payments add up to {paid}").format(total=tot, paid=paid)))


def ticket_line_columns(lc: dict) -> tuple[str, str]:
    """SELECT columns and the mismatch condition of a ticket `t` against its line sums `l`."""
    cols = ", ".join(f"t.{quote_ident(ht)} + t.{quote_ident(tva)}, COALESCE(l.r{int(r)}, 0)" for r, (ht, tva) in lc["rates"].items())
    cond = " OR ".join(f"t.{quote_ident(ht)} + t.{quote_ident(tva)} IS NOT COALESCE(l.r{int(r)}, 0)" for r, (ht, tva) in lc["rates"].items())
    return cols, cond


def _per_ticket_full(conn, mapping: Mapping, result: CheckResult, where: str, params: tuple) -> None:
    """Each ticket equals its lines and its payments."""
    lc, pc = mapping.doc.get("line_checks"), mapping.doc.get("payment_checks")
    tj = mapping.journals[tickets_journal(mapping)]
    tday = tj.day.replace('timestamp', 't.timestamp')
    if lc:
        cols, cond = ticket_line_columns(lc)
        sql = (f"SELECT t.register, t.number, {cols} FROM ({tj.sql}) t LEFT JOIN coffre_ticket_lines l "
               f"ON l.k1 = t.register AND l.k2 = t.number {('WHERE ' + tday + ' BETWEEN ? AND ? AND') if where else 'WHERE'} ({cond})")
        report_ticket_lines(conn.execute(sql, params), lc, tj.name, result)
    if pc:
        pj = mapping.journals[pc["journal"]]
        k1, k2 = (quote_ident(k) for k in pc["ticket_key"])
        total = quote_ident(pc["ticket_total"])
        sql = (f"SELECT t.register, t.number, t.{total}, COALESCE(p.s, 0) FROM ({tj.sql}) t LEFT JOIN "
               f"(SELECT {k1} AS k1, {k2} AS k2, sum({quote_ident(pc['amount'])}) AS s FROM ({pj.unordered_sql}) GROUP BY 1, 2) p "
               f"ON p.k1 = t.register AND p.k2 = t.number WHERE t.type <> 'training' AND t.{total} IS NOT COALESCE(p.s, 0)"
               + (f" AND {tday} BETWEEN ? AND ?" if where else ""))
        report_payments(rows_summing(conn, sql, params), tj.name, result)


def _closure_lines(conn, mapping: Mapping, result: CheckResult, daily: str) -> None:
    """Each daily closure equals the lines of the counted tickets of its day, rate by rate."""
    lc = mapping.doc.get("line_checks")
    if not lc:
        return
    cols = ", ".join(f"c.{quote_ident(ht)} + c.{quote_ident(tva)}, COALESCE(s.r{int(r)}, 0)" for r, (ht, tva) in lc["rates"].items())
    cond = " OR ".join(f"c.{quote_ident(ht)} + c.{quote_ident(tva)} IS NOT COALESCE(s.r{int(r)}, 0)" for r, (ht, tva) in lc["rates"].items())
    inner = ", ".join(f"sum(d.r{int(r)}) AS r{int(r)}" for r in lc["rates"])
    sql = (f"SELECT c.register, c.kind, c.number, c.period_start, {cols} FROM coffre_closures c LEFT JOIN "
           f"(SELECT cc.rowid AS cid, {inner} FROM coffre_closures cc JOIN coffre_line_days d ON d.register = cc.register "
           f"AND d.day BETWEEN cc.period_start AND cc.period_end WHERE cc.kind = ? GROUP BY cc.rowid) s ON s.cid = c.rowid "
           f"WHERE c.kind = ? AND ({cond})")
    for row in rows_summing(conn, sql, (daily, daily)):
        diffs = [_("{rate:g} % rate: {recorded} recorded, {lines} from the lines of its tickets").format(
                     rate=r / 100, recorded=row[4 + 2 * i], lines=row[5 + 2 * i])
                 for i, r in enumerate(int(x) for x in lc["rates"]) if row[4 + 2 * i] != row[5 + 2 * i]]
        result.add(Finding("closures", "closure_lines", {"register": row[0], "kind": row[1], "number": row[2],
                                                         "period_start": row[3]},
                           _("{closure} does not match the ticket lines of its period: {differences}").format(
                               closure=closure_name(row[1]), differences=clauses(diffs))))


def _report_sums(conn, sql, params, amounts, result: CheckResult, source: str) -> None:
    """`source`: what the closure is summed from, as a sentence names it ("its tickets", "its daily closures")."""
    for row in rows_summing(conn, sql, params):
        reg, kind, number, start, c_count, s_count = row[:6]
        diffs = []
        if c_count != s_count:
            diffs.append(ngettext("{recorded} tickets recorded, {found} found", "{recorded} tickets recorded, {found} found",
                                  c_count if isinstance(c_count, int) else 2).format(recorded=c_count, found=s_count))
        vals = row[6:]
        for i, a in enumerate(amounts):
            if vals[2 * i] != vals[2 * i + 1]:
                diffs.append(_("{amount} {recorded} recorded, {found} from {source}").format(
                    amount=a, recorded=vals[2 * i], found=vals[2 * i + 1], source=source))
        result.add(Finding("closures", "closure_total", {"register": reg, "kind": kind, "number": number, "period_start": start},
                           _("{closure} does not add up: {differences}").format(closure=closure_name(kind),
                                                                                 differences=clauses(diffs[:4]))))


def table_rows(conn: sqlite3.Connection, journals) -> int:
    """The rows of the journals' tables: what a progress display counts towards (a journal may leave some out)."""
    return sum(conn.execute(f"SELECT count(*) FROM {quote_ident(j.table)}").fetchone()[0] for j in journals)


def check_journals(conn: sqlite3.Connection, mapping: Mapping, checkpoint: dict | None = None,
                   period: tuple[str, str] | None = None, progress: Progress = NO_PROGRESS,
                   chain_secret: bytes | None = None) -> CheckResult:
    """Runs every check; `checkpoint` (from the last run) spares re-verifying unchanged signatures.

    With a period, checks are limited to it and nothing is trusted from a checkpoint.
    """
    keys = load_public_keys(conn, mapping)
    parts: dict[str, CheckResult] = {}  # each journal's findings: its chain's, then its numbering's
    new_cp: dict = {}
    signed = [j for j in mapping.journals.values() if j.payload and j.chain_key is not None]
    tick = progress.task(_("Checking the signatures of the fiscal journals"),
                         table_rows(conn, signed) if progress and not period else None, RECORDS)
    pool = workers() if keys else (None, 1)
    try:
        for j in signed:
            parts[j.name] = part = CheckResult()
            if not keys:
                part.add(no_keys(j))
            else:
                where, params = ("WHERE " + j.day + " BETWEEN ? AND ?", period) if period else ("", ())
                new_cp[j.name] = check_chain(conn, j, keys, part, None if period else (checkpoint or {}).get(j.name),
                                             where, params, period is None, tick, pool)
    finally:
        if pool[0] is not None:
            pool[0].shutdown()
    tick.done()
    seals = CheckResult()
    if mapping.source_chains:
        from pipeline.journals.source_chains import check_source_chains  # it words its findings with this module's
        task = progress.task(_("Checking the till's own chain"), None, RECORDS)
        new_cp.update(check_source_chains(conn, mapping, seals, chain_secret, None if period else checkpoint, period))
        task.done()
    # The numbering, closures, grand totals, records and means: SQL with nothing to count on the way, in two halves
    # side by side (the signatures, verified on every core, are done; an export beside them may be too).
    sums = progress.task(_("Checking the closures and grand totals"), None, RECORDS)
    records = CheckResult()
    path = _file_of(conn)
    opened: list[sqlite3.Connection] = []
    with ThreadPoolExecutor(1) as side:
        half = side.submit(_records_and_means, path, conn.execute("PRAGMA temp_store").fetchone()[0], mapping, period,
                           records, opened) if path else None
        try:
            for j in mapping.journals.values():
                if j.numbering_field:
                    part = parts.setdefault(j.name, CheckResult())
                    where, params = ("WHERE " + j.day + " BETWEEN ? AND ?", period) if period else ("", ())
                    check_numbering(conn, j, part, where, params, period is None)
            closures = CheckResult()
            cj = mapping.journals.get((mapping.doc.get("closure_checks") or {}).get("journal", ""))
            where, params = (f"WHERE {cj.day} BETWEEN ? AND ?", period) if period and cj else ("", ())
            check_closures(conn, mapping, closures, where, params, period is None, period)
            if half is None:
                _records_and_means_on(conn, mapping, period, records)
            else:
                half.result()
        finally:
            for c in list(opened):
                try:
                    c.interrupt()  # nothing once it is done; else its query stops now, its error unsaid
                except sqlite3.ProgrammingError:
                    pass  # closed meanwhile by its thread, done: the error being raised here is the one to say
    sums.done()
    result = CheckResult()
    for j in mapping.journals.values():
        if j.name in parts:
            _merge(result, parts[j.name])
    for part in (seals, closures, records):
        _merge(result, part)
    result.checkpoint = {} if period else new_cp
    return result


def _file_of(conn: sqlite3.Connection) -> str:
    """The snapshot's file, for a second connection to it ('' for a database in memory)."""
    return next((row[2] for row in conn.execute("PRAGMA database_list") if row[1] == "main"), "") or ""


def _records_and_means(path: str, temp_store: int, mapping: Mapping, period, into: CheckResult, opened: list) -> None:
    """On a connection of this thread's own: a sqlite3 connection stays in the thread that opened it."""
    conn = open_snapshot(Path(path), mapping.timezone)
    opened.append(conn)
    try:
        conn.execute(f"PRAGMA temp_store={int(temp_store)}")
        _records_and_means_on(conn, mapping, period, into)
    finally:
        opened.remove(conn)
        conn.close()


def _records_and_means_on(conn, mapping: Mapping, period, into: CheckResult) -> None:
    def scope(j):
        return (f"WHERE {j.day} BETWEEN ? AND ?", period) if period else ("", ())
    check_records(conn, mapping, into, scope)
    check_means(conn, mapping, into, scope)


def _merge(into: CheckResult, part: CheckResult) -> None:
    """A part's findings and counts added as if its checks had written into `into` themselves."""
    for f in part.findings:
        into.add(f)
    into.truncated_checks += [t for t in part.truncated_checks if t not in into.truncated_checks]
    into.signatures_verified += part.signatures_verified
    into.signatures_trusted_from_checkpoint += part.signatures_trusted_from_checkpoint
    into.seals_checked += part.seals_checked
