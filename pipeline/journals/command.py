"""`coffre journals export`: the journals of the live database (through a snapshot) or of a run, into a folder."""

from __future__ import annotations

import re
import shutil
from contextlib import ExitStack
from pathlib import Path

from pipeline import interrupt
from pipeline.config import Config
from pipeline.errors import UsageError
from pipeline.i18n import _
from pipeline.journals.secret import chain_secret
from pipeline.journals.run import JournalsOutcome, journals_of_snapshot, tables_wanted
from pipeline.out_folder import refuse_link_to_nowhere
from pipeline.restore.restore import refuse_live_folder, restore
from pipeline.snapshot import journals_of_copy, journals_only, open_source, reader_of
from pipeline.state.activity_log import ActivityLog
from pipeline.state.scratch import private_files, scratch_folder

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}\Z")


def parse_period(text: str | None) -> tuple[str, str] | None:
    if not text:
        return None
    start, sep, end = text.partition("..")
    if not sep or not _DATE.match(start) or not _DATE.match(end) or start > end:
        raise UsageError(_("A period is written FROM..TO with dates YYYY-MM-DD, FROM not after TO; not {text!r}.").format(
            text=text))
    return start, end


def export_journals(cfg: Config, out_dir: Path, period: tuple[str, str] | None, run_id: str | None = None,
                    identities: list | None = None, specs: list[str] | None = None, say=lambda m: None) -> JournalsOutcome:
    out_dir = Path(out_dir).absolute()
    refuse_link_to_nowhere(out_dir)
    refuse_live_folder(cfg, out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise UsageError(_("{folder} is not empty; the export goes into a new or empty folder.").format(folder=out_dir))
    # What is exported is the shop's plain sales: folders 0700, files 0600, whatever the user's umask.
    with private_files(), scratch_folder("journals", cfg.store_id, cfg.scratch_dir) as scratch, ExitStack() as stack:
        if run_id:
            if not identities:
                raise UsageError(_("Exporting from a run needs --identity FILE."))
            res = restore(cfg, identities, scratch / "run", run_id, specs, say=say)
            for warning in res.warnings:
                say(_("Warning: {warning}").format(warning=warning))
            snap_facts = res.facts.get("snapshot") or {}
            snapshot = stack.enter_context(journals_of_copy(
                scratch / "run" / reader_of(snap_facts).PLAIN_NAME, snap_facts, cfg.source, scratch,
                tables_wanted(cfg.journals_mapping, cfg.journals_timezone),
                cfg.source_lock_wait, cfg.source_stall_timeout))
            context = {"store_id": cfg.store_id, "run_id": res.run_id, "from": res.destination}
        else:
            snap = open_source(cfg.source, cfg.source_lock_wait, cfg.source_stall_timeout).take(
                scratch, wanted=tables_wanted(cfg.journals_mapping, cfg.journals_timezone))
            stack.callback(snap.close)
            snapshot = journals_only(snap)
            context = {"store_id": cfg.store_id, "run_id": None, "from": "live database (snapshot)",
                       "snapshot_started_at": snap.facts.get("snapshot_started_at")}
        partial = out_dir.with_name(out_dir.name + ".coffre-partial")
        if partial.exists():
            shutil.rmtree(partial)
        interrupt.half_made(partial)  # until it is DIR: a stop in between leaves no plain copy of the sales beside it
        try:
            outcome = journals_of_snapshot(snapshot, partial, cfg.journals_mapping, None, period, context,
                                           cfg.journals_timezone, chain_secret(cfg.chain_secret_file))
            if outcome is None:
                raise UsageError(_("The database does not match the journal mapping {mapping!r}.").format(
                    mapping=cfg.journals_mapping))
            if out_dir.exists():
                out_dir.rmdir()
            partial.rename(out_dir)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)  # half an export is nobody's: the next one starts afresh
            raise
        finally:
            interrupt.finished(partial)
        outcome.folder = out_dir
    ActivityLog(cfg.state_dir, cfg.store_id).append("journals-export", "ok", run_id=run_id,
                                                    period=list(period) if period else None,
                                                    findings=len(outcome.checks.findings))
    return outcome
