"""The journals stage of an archive run: only what is new since the last run is checked and compressed.

Every run still carries the whole journals: the frames kept from earlier runs (journals/cache.py)
followed by a frame of the new records. What makes that safe is journals/tail.py: the rows
behind the kept frames are proved unchanged from the snapshot's own pages first. When they
cannot be (a first run, a changed record, a finding at the last run, a new mapping), the run
checks and exports everything, as `coffre journals export` does.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from pipeline.journals import apart
from pipeline.journals.cache import FrameCache, FrameFile, compressor
from pipeline.journals.checks import (CheckResult, check_closures, check_journals, keys_since, load_public_keys,
                                     table_rows, till_key_rows)
from pipeline.journals.export import JSON_CLOSE, JSON_OPEN, csv_header, write_reports, write_rows
from pipeline.journals.mapping import Mapping, load_mapping, quote_ident
from pipeline.journals.means import check_means
from pipeline.journals.records import check_records
from pipeline.journals.run import mapping_fits
from pipeline.journals.source_chains import check_source_chains
from pipeline.journals.tail import (SOURCE_ID, NotTail, Tail, chain_anchors, chain_checkpoint, dangling_references,
                                    day_sums, grown_tables_read, mapping_digest, numbering_anchors,
                                    page_evidence, plan_statistics, reads_outside, tables_read)
from pipeline.pack.frames import Member, frame
from pipeline.i18n import _
from pipeline.progress import NO_PROGRESS, RECORDS, Progress
from pipeline.journals.connection import DEFAULT_TIMEZONE, open_snapshot

# Bump when the CSV/JSON text changes: kept frames of the older text are then not reused. 2: CSV with a BOM and euros
# columns. 3: bytes that are not UTF-8 written \xHH (63d044e wrote U+FFFD, earlier versions stopped on them). 4: an
# infinite quantity written 1e999 in the JSON, where SQLite's Inf is not JSON. 5: a text or blob quantity
# written as its text (it was 0.0).
EXPORT_VERSION = 5
# The journals' frames are compressed once and then carried by every run. An evening's new frame is small, and
# level 9 makes it about 14 % smaller than level 3 for milliseconds. A whole export (a first run's: 460 MB of
# CSV and JSON for a year of two registers) stays at the run's level: level 9 would take 4.8 s of CPU more than
# level 3 to make it 14 % smaller, a third of the first run's time spent on a saving made once (measured on
# the 1-year sample: 73.7 MB at level 3 in 1.0 s, 63.7 MB at level 9 in 4.8 s). So does a busy evening's (a
# supermarket's 30,000 tickets, 140,000 records): at level 9 its export took about a second more.
FRAME_LEVEL = 9
FRAME_LEVEL_UP_TO = 20_000  # new records, about: an evening with more is exported at the run's level


@dataclass
class RunJournals:
    folder: Path  # the small files: findings.json, export.json, LISEZMOI.txt (and the archive's own log)
    mapping: str
    counts: dict[str, int]
    checks: CheckResult
    seconds: float
    incremental: bool
    full_because: str | None
    files: dict[str, FrameFile]
    state: dict | None  # what the next run starts from; None after a finding (it then checks everything)
    cache: FrameCache
    # The end of the latest fiscal year the till has closed (its yearly Z), for retention's legal rule.
    last_yearly_closure: str | None = None

    def members(self, level: int) -> list[Member]:
        """The tar's members in name order: the journals' kept and new frames, and the small files."""
        out = []
        for name, f in self.files.items():
            close = [frame(JSON_CLOSE.encode(), level)] if name.endswith(".json") else []
            size = f.plain_size + (len(JSON_CLOSE) if close else 0)
            out.append(Member(name, size, f.parts() + close, [length for length, _level in f.plan()]))
        for p in self.folder.iterdir():
            if p.is_file() and not p.is_symlink():
                data = p.read_bytes()
                out.append(Member(p.name, len(data), [frame(data, level)] if data else []))
        return sorted(out, key=lambda m: m.name)

    def commit(self) -> None:
        self.cache.commit(self.files, not self.incremental, self.state)

    def discard(self) -> None:
        self.cache.discard(self.files, fresh=not self.incremental)


def _file_names(mapping: Mapping) -> list[str]:
    return [f"{j}.{ext}" for j in mapping.journals for ext in ("csv", "json")]


def _usable(kept: dict[str, FrameFile] | None, mapping: Mapping) -> bool:
    """Whether the kept files were found whole (cache.resume), one for each file the mapping exports."""
    return kept is not None and set(kept) == set(_file_names(mapping))


def _supports_tail(mapping: Mapping) -> None:
    for j in mapping.journals.values():
        if SOURCE_ID not in j.fields:
            raise NotTail(_("journal {journal} has no {field}").format(journal=j.name, field=SOURCE_ID))
    for spec in ("line_checks", "payment_checks"):
        jn = (mapping.doc.get(spec) or {}).get("journal")
        if jn and "ticket_source_id" not in mapping.journals[jn].fields:
            raise NotTail(_("journal {journal} has no {field}").format(journal=jn, field="ticket_source_id"))


def _consistent(state: dict, mapping: Mapping) -> None:
    """A state file that does not hold together (damaged, edited) is not followed."""
    try:
        for j in mapping.journals.values():
            bound, count = state["boundaries"][j.name], state["counts"][j.name]
            if bound != state["tables"][j.table]["upto"] or not isinstance(count, int) or count < 0 \
                    or count != state["tables"][j.table]["rows"]:
                raise NotTail(_("the kept state of journal {journal} does not hold together").format(journal=j.name))
    except (KeyError, TypeError) as err:
        raise NotTail(_("the kept state is incomplete ({error})").format(error=err)) from err


def export_everything(snapshot: Path, mapping: Mapping, files: dict[str, FrameFile], level: int,
                       progress: Progress = NO_PROGRESS) -> dict[str, int]:
    conn = open_snapshot(snapshot, mapping.timezone)
    try:
        tick = progress.task(_("Exporting the fiscal journals"),
                             table_rows(conn, mapping.journals.values()) if progress else None, RECORDS)
        counts = {}
        c1, c2 = compressor(level), compressor(level)  # reused by every frame (two are open at once)
        for j in mapping.journals.values():
            csv, js = files[f"{j.name}.csv"], files[f"{j.name}.json"]
            with csv.frame(level, c1) as w:
                w(csv_header(j))
            with js.frame(level, c2) as w:
                w(JSON_OPEN)
            with csv.frame(level, c1) as cw, js.frame(level, c2) as jw:
                counts[j.name] = write_rows(conn, j, "", (), cw, jw, tick=tick)
        tick.done()
        return counts
    finally:
        conn.close()


def _export_tail(conn, mapping: Mapping, where_of, files: dict[str, FrameFile], before: dict, level: int) -> dict:
    """The records `where_of` selects appended to `files` as one more frame each; the journals' counts (`before` plus
    the new records)."""
    counts = {}
    c1, c2 = compressor(level), compressor(level)  # reused by every frame (two are open at once)
    for j in mapping.journals.values():
        where, params = where_of(j)
        with files[f"{j.name}.csv"].frame(level, c1) as cw, files[f"{j.name}.json"].frame(level, c2) as jw:
            counts[j.name] = before[j.name] + write_rows(conn, j, where, params, cw, jw, before[j.name])
    return counts


def journals_for_run(snapshot: Path, folder: Path, mapping_name: str, previous: dict | None, cache: FrameCache,
                     level: int, context: dict, timezone: str = DEFAULT_TIMEZONE,
                     progress: Progress = NO_PROGRESS, chain_secret: bytes | None = None) -> RunJournals | None:
    """None when the mapping does not fit this database (the snapshot is still saved whole)."""
    started = time.time()
    mapping = load_mapping(mapping_name, timezone)
    folder.mkdir(parents=True, exist_ok=True)
    conn = open_snapshot(snapshot, timezone)
    try:
        if not mapping_fits(conn, mapping.doc):
            return None
        conn.execute("PRAGMA temp_store=FILE")  # temp tables of the checks on disk: memory stays flat
        digest = mapping_digest(mapping, EXPORT_VERSION, plan_statistics(conn))
        state = cache.load_state() if previous else None
        files, tail, why, evidence = None, None, None, None
        if not state:
            why = _("the kept state is not sealed by this store's signing key (edited or damaged)") if cache.refused \
                else _("no checkpoint from the last run")
        elif state.get("none_because"):
            why = _("the last run cannot be followed: {reason}").format(reason=state['none_because'])
        elif state.get("mapping") != digest:
            why = _("the mapping, the export format, the shop's time zone or its rules, SQLite's version or the database's "
                    "planner statistics changed")
        elif outside := reads_outside(conn, mapping):
            why = _("the mapping's SQL reads {functions}, which Coffre does not know to give the same text from the same "
                    "rows (the clock, the computer's time zone, chance, the connection): every run checks everything"
                    ).format(functions=", ".join(sorted(outside)))
        else:
            try:
                _supports_tail(mapping)
                _consistent(state, mapping)
                tables = _tables_read(conn, mapping)
                grown_tables_read(conn, mapping, state["tables"])
                tail = Tail(mapping, state)
                checks = CheckResult()
                # The proof reads the whole file, the kept frames are read and hashed; the checks of the new
                # records need neither, so all three run at once. Nothing of the checks counts unless both hold.
                # The new records' export comes after, in this process, even on a supermarket's evening: a process
                # of its own beside the checks saved it a second or two, but held 55 MB more (another interpreter,
                # its imports, its SQLite and zstd), 140 MB in all against 85 MB.
                with ThreadPoolExecutor(2) as pool:
                    proof = pool.submit(page_evidence, snapshot, conn, tables, state["tables"])
                    kept = pool.submit(cache.resume, state.get("cache"))
                    try:
                        tail.check(conn, load_public_keys(conn, mapping), checks)
                        check_closures(conn, mapping, checks, "", (), True, None, tail=tail)
                        check_records(conn, mapping, checks, tail.where)
                        check_means(conn, mapping, checks, tail.means_scope(conn))
                        # A till's own chain is walked whole: a hash per record costs little beside the SQL that
                        # gathers what it hashes, and its records need the one before them.
                        tail.chains.update(check_source_chains(conn, mapping, checks, chain_secret,
                                                               (previous or {}).get("chains")))
                        failed = None
                    except Exception as err:  # noqa: BLE001 - held until the proof is known
                        failed = err
                    files = kept.result()  # None when a kept file is missing, short or different
                    # The proof's NotTail comes first: checks run on rows it would have refused prove nothing.
                    evidence = proof.result()
                if not _usable(files, mapping):
                    raise NotTail(_("the journals kept from the last run do not match their record"))
                if failed is not None:
                    raise failed
                frame_level = max(level, FRAME_LEVEL) if tail.how_many_new(conn) <= FRAME_LEVEL_UP_TO else level
                counts = _export_tail(conn, mapping, tail.where, files, state["counts"], frame_level)
            except NotTail as err:
                why = str(err)
                cache.discard(files, fresh=False)
                files, tail = None, None
        if tail is None:
            files = cache.fresh(_file_names(mapping))
            with ThreadPoolExecutor(1) as pool:
                if apart.worth_a_process(snapshot):
                    exported = pool.submit(apart.export_apart, snapshot, mapping_name, timezone, files, level,
                                           progress)
                else:
                    exported = pool.submit(export_everything, snapshot, mapping, files, level, progress)
                checks = check_journals(conn, mapping, (previous or {}).get("chains"), None, progress,
                                        chain_secret=chain_secret)
                counts = exported.result()
        checks.till_keys = till_key_rows(conn, mapping)
        keys_since(checks, (previous or {}).get("till_keys"))
        new_state = {"none_because": _("its checks had findings, which every run must report again")}
        if not checks.findings:
            try:
                if evidence is None:
                    _supports_tail(mapping)
                    evidence = page_evidence(snapshot, conn, _tables_read(conn, mapping), None)
                new_state = _next_state(conn, mapping, digest, evidence, checks, tail, counts, files,
                                        state["tables"] if tail is not None else None)
            except NotTail as err:
                new_state = {"none_because": str(err)}
        if tail is not None:
            # Each signed chain's count and running digest take in tonight's records: a full check later holds them
            # to what was verified tonight, as it holds the records a full check verified.
            checks.checkpoint = dict((previous or {}).get("chains") or {},
                                     **{j.name: chain_checkpoint(tail.chains.get(j.name, {}),
                                                                 tail.broken.get(j.name, set()),
                                                                 ((previous or {}).get("chains") or {}).get(j.name) or {})
                                        for j in mapping.journals.values() if j.payload and j.chain_key is not None},
                                     **{j.name: tail.chains.get(j.name, {}) for j in mapping.source_chains})
        yearly = last_yearly_closure(conn, mapping)
    finally:
        conn.close()
    write_reports(mapping, folder, counts, checks, None, context)
    return RunJournals(folder, mapping.name, counts, checks, time.time() - started, tail is not None, why,
                       files, new_state, cache, yearly)


def last_yearly_closure(conn, mapping: Mapping) -> str | None:
    """The period end of the till's latest yearly closure, when its closures journal says which are yearly."""
    j = mapping.journals.get("closures")
    if j is None or not {"kind", "period_end"} <= set(j.fields):
        return None
    row = conn.execute(f"SELECT max(period_end) FROM ({j.unordered_sql}) WHERE kind = 'yearly'").fetchone()
    return row[0] if row and isinstance(row[0], str) else None


def _tables_read(conn, mapping: Mapping) -> set[str]:
    return tables_read(conn, [j.full_sql for j in mapping.journals.values()] + [mapping.public_keys_sql or "SELECT 1"])


def _next_state(conn, mapping: Mapping, digest: str, tables: dict, checks: CheckResult, tail: Tail | None,
                counts: dict, files: dict[str, FrameFile], previous_tables: dict | None) -> dict:
    """What the next run starts from, or NotTail when its rows could change without their pages changing."""
    bounds = {}
    for j in mapping.journals.values():
        if j.table not in tables:
            raise NotTail(_("journal {journal} does not read its table {table}").format(journal=j.name, table=j.table))
        bounds[j.name] = tables[j.table]["upto"]
        # A row of the table that its journal leaves out (a join that finds nothing) could come in later.
        if counts[j.name] != tables[j.table]["rows"]:
            raise NotTail(_("{count} row(s) of {table} are not in journal {journal}").format(
                count=tables[j.table]['rows'] - counts[j.name], table=j.table, journal=j.name))
    after = {t: r["upto"] for t, r in (previous_tables or {}).items()} if previous_tables else None
    dangling = dangling_references(conn, set(tables) - {"sqlite_schema"}, after)
    if dangling:
        raise NotTail(dangling)
    # A journal whose rows carry a source_id beyond its table's rowids cannot be followed by rowid.
    for j in mapping.journals.values():
        beyond = conn.execute(f"SELECT count(*) FROM ({j.unordered_sql}) WHERE {quote_ident(SOURCE_ID)} > ?",
                              (bounds[j.name],)).fetchone()[0]
        if beyond:
            raise NotTail(_("journal {journal}'s {field} is not its table's rowid").format(journal=j.name, field=SOURCE_ID))
    kept = {
        "chains": tail.chains if tail else chain_anchors(checks.checkpoint),
        "numbers": tail.numbers if tail else numbering_anchors(conn, mapping),
        "days": day_sums(conn, mapping),
    }
    if _holds_bytes(kept):
        # A blob where the till writes text (a register code): kept as text, it would no longer match its rows.
        raise NotTail(_("a record names its register, its day or its number with bytes, not text"))
    return dict(kept, mapping=digest, tables=tables, boundaries=bounds, counts=counts,
                cache={name: f.record() for name, f in files.items()})


def _holds_bytes(value) -> bool:
    if isinstance(value, bytes):
        return True
    if isinstance(value, dict):
        return any(_holds_bytes(k) or _holds_bytes(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(_holds_bytes(v) for v in value)
    return False
