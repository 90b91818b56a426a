"""What in an archive run needs a person (exit 5): the run is saved all the same, but someone must look.

A till database that is suddenly empty, another program's database, journals that no longer fit their mapping,
tables that lost rows since the last run: a backup that copies them faithfully every evening would otherwise
overwrite the shop's memory of what it sold without anyone hearing of it.
"""

from __future__ import annotations

from pipeline.i18n import _, ngettext


def shrinkage(before: dict | None, now: dict) -> list[str]:
    """Sentences for every table that vanished or holds fewer rows than at the last run."""
    said = []
    for table, was in sorted((before or {}).items()):
        if not isinstance(was, int) or isinstance(was, bool):
            continue
        if table not in now:
            said.append(ngettext("table {table} has vanished from the database ({count} row at the last run)",
                                 "table {table} has vanished from the database ({count} rows at the last run)",
                                 was).format(table=table, count=was))
        elif isinstance(now[table], int) and now[table] < was:
            said.append(ngettext("table {table} holds {count} row, {then} at the last run: rows were deleted",
                                 "table {table} holds {count} rows, {then} at the last run: rows were deleted",
                                 now[table]).format(table=table, count=now[table], then=was))
    return said


def baseline(runs: list[dict]) -> dict | None:
    """The row counts tonight's are compared with: the newest written run's whose database was the till's. A run
    of another program's database (said at the time) is no measure of the till's: once the right file is back,
    its tables are not reported as vanished."""
    for run in reversed(runs):
        if run.get("written") and not run.get("foreign_database"):
            return run.get("row_counts")
    return None


def needs_a_person(snapshot: dict, last_counts: dict | None, journals_expected: bool, journals_done: bool,
                   journals_problem: str | None, findings: int) -> list[str]:
    """The sentences that make a written run end with exit 5; empty when nothing needs a person."""
    counts = snapshot.get("row_counts") or {}
    said = []
    if not counts or not any(isinstance(v, int) and v > 0 for v in counts.values()):
        said.append(_("the till database holds no data (no table, or every table empty): is it the right database?"))
    said += shrinkage(last_counts, counts)
    if journals_expected and not journals_done:
        said.append(journals_problem or _("the fiscal journals could not be exported from this database"))
    if findings:
        said.append(ngettext("{count} finding in the fiscal journals", "{count} findings in the fiscal journals",
                             findings).format(count=findings))
    qc = snapshot.get("quick_check")
    if qc not in (None, "ok"):
        said.append(_("SQLite's quick_check finds the till database damaged"))
    return said
