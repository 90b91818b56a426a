"""Which runs of the machine's record a copy must hold: found by its medium id, whatever the destination's spelling.

Runs are recorded against the medium they were written to (destinations/medium.py). Runs recorded before media had
ids are matched by the destination's normalised spelling instead (its real path, or its tidied rclone path).
A copy whose id file is gone, replaced or damaged while it holds runs of this store is a problem: deleting or
swapping that small file must not be a way to hide a deleted run.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pipeline.destinations.medium import MEDIUM_FILE, MediumFileInvalid, read_medium
from pipeline.destinations.places import normalised
from pipeline.i18n import _, ngettext
from pipeline.system_errors import error_words


@dataclass
class CopyIdentity:
    medium: str | None  # the id read at the copy's root
    where: str  # the destination's normalised spelling
    media: set[str] = field(default_factory=set)  # the media whose recorded runs this copy must hold
    problems: list[str] = field(default_factory=list)
    # The runs the copy's own signed removal records name (retention/removal.py):
    # {run_id: {manifest_blake3, previous_run}}
    signed_removals: dict[str, dict] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # worth saying, not a problem of this copy

    @property
    def key(self) -> str:
        """What the record's per-copy entries (when each run's data was last read) are filed under."""
        return self.medium or self.where

    def written_here(self, run: dict) -> bool:
        media = run.get("media")
        if isinstance(media, dict):
            return bool(self.media & set(media))
        return any(normalised(spec) == self.where for spec in run.get("written") or [] if isinstance(spec, str))

    def judged_in(self, entry: dict) -> bool:
        """A verify's or drill's verdict on one copy (the record's `checks`) is about this copy: by medium id, else by
        the destination's spelling."""
        return bool(self.medium and entry.get("medium") == self.medium) or bool(
            self.where and normalised(entry.get("destination")) == self.where)

    def removed_here(self, run: dict) -> bool:
        """Retention records each removal, by medium (or spelling): such a gap is not an alarm."""
        removed = run.get("removed") or {}
        return isinstance(removed, dict) and any(k in removed for k in (self.medium, self.where) if k)


def twins(dests: dict) -> dict[str, list[str]]:
    """{spec: the other copies} for the copies, among those checked together, that carry one medium id from
    different places: one medium reached two ways, or an id file copied from one medium to another (which would
    make a copy be held to the other's runs)."""
    seen: dict[str, list[tuple[str, str, str]]] = {}
    for spec, dest in dests.items():
        try:
            medium = read_medium(dest)
        except (MediumFileInvalid, OSError):
            continue
        if medium:
            seen.setdefault(medium, []).append((spec, dest.normalised(), dest.describe()))
    out = {}
    for group in seen.values():
        for spec, where, _label in group:
            others = [label for _spec, w, label in group if w != where]
            if others:
                out[spec] = others
    return out


def identify(dest, present: set[str], record: dict, twins_of: list[str] | None = None) -> CopyIdentity:
    """The copy's identity, with a problem for every way its id file disagrees with the runs it holds, or with the
    other copies checked at the same time (`twins_of`: those that carry the same medium id)."""
    ident = CopyIdentity(None, dest.normalised())
    try:
        ident.medium = read_medium(dest)
    except MediumFileInvalid as err:
        ident.problems.append(_("{reason}: Coffre cannot tell which medium this is (the file was altered)").format(
            reason=err))
    except OSError as err:
        ident.problems.append(_("{file} cannot be read ({reason})").format(file=MEDIUM_FILE, reason=error_words(err)))
    runs = record.get("runs") or []
    place = (record.get("destinations") or {}).get(ident.where) or {}
    # The ids recorded here whose file could not be written: a run of one is no sign that this copy is another
    # medium. Which medium it is waits for the archive that writes the id, as the runs alone may not tell it.
    unwritten = set(place.get("media_unwritten") or []) if ident.medium is None else set()
    held_unwritten = {m for r in runs if r["run_id"] in present for m in unwritten & set(r.get("media") or {})}
    if held_unwritten:
        ident.notes.append(_("{file} could not be written here with the first run: the next archive writes it").format(
            file=MEDIUM_FILE))
        ident.media |= held_unwritten  # held to those runs meanwhile: a run deleted from it still shows
    if ident.medium:
        ident.media.add(ident.medium)
    # A run whose signature may have landed here as this copy failed: the next archive reads it whole here and
    # counts it (unrecorded.find_placed); till then it is neither a run copied here by hand nor a sign of which
    # medium this is.
    pending = {r["run_id"] for r in runs if r["run_id"] in present and pending_at(r, ident.where)
               and ident.medium not in (r.get("media") or {})}
    ident.notes += [_("run {run_id} is signed here, though the archive that wrote it said this copy failed as the "
                      "signature was published: the next archive reads it whole here and counts it").format(
        run_id=run_id) for run_id in sorted(pending)]
    # Runs found here that the record says went to other media only: this copy is one of those media.
    # A record rebuilt from the copies knows only the copies it could read then: a run it lists for others may be on
    # this copy too (it was unplugged that day), and says nothing of this copy's id file.
    foreign = [r for r in runs if r["run_id"] in present and isinstance(r.get("media"), dict) and r["media"]
               and ident.medium not in r["media"] and not r.get("rebuilt") and r["run_id"] not in pending
               and not unnamed_at(r, ident.where) and not unwritten & set(r["media"])]
    elsewhere = set().union(*(set(r["media"]) for r in foreign)) if foreign else set()
    if foreign:
        example = foreign[-1]["run_id"]
        if ident.medium is None and not ident.problems:
            ident.problems.append(_("{file} is missing, yet this copy holds runs this machine wrote to a known "
                                    "medium (such as {example}): the file was deleted").format(file=MEDIUM_FILE,
                                                                                              example=example))
        elif ident.medium is not None:
            ident.problems.append(ngettext(
                "this copy's {file} names another medium than the one this machine wrote {count} of its runs to "
                "(such as {example}): the file was replaced, or runs were copied here by hand",
                "this copy's {file} names another medium than the one this machine wrote {count} of its runs to "
                "(such as {example}): the file was replaced, or runs were copied here by hand",
                len(foreign)).format(file=MEDIUM_FILE, count=len(foreign), example=example))
        ident.media |= elsewhere
    last_here = place.get("medium")
    if twins_of:
        ident.problems.append(_("this copy carries the same {file} as {others}: one medium reached two ways, or an "
                                "id file copied from one medium to another").format(file=MEDIUM_FILE,
                                                                                   others=", ".join(twins_of)))
        # Held also to the runs written to every medium seen at this place: a copied id file must not hide a run
        # deleted from this one.
        ident.media |= set(place.get("media_seen") or []) | ({last_here} if last_here else set())
    if not foreign and ident.medium is None and last_here and not held_unwritten and any(
            isinstance(r.get("media"), dict) and last_here in r["media"] for r in runs):
        if not ident.problems:
            ident.problems.append(_("{file} is missing and this copy holds none of the runs this machine wrote "
                                    "here: is it the right disk or USB key? (A new one: archive to it "
                                    "first.)").format(file=MEDIUM_FILE))
        ident.media.add(last_here)
    return ident


def unsure_at(run: dict, where: str) -> bool:
    """The record says the run failed on the copy at `where` (normalised) as its signature was published there."""
    unsure = run.get("unsure")
    return isinstance(unsure, list) and where in {normalised(s) for s in unsure}


def pending_at(run: dict, where: str) -> bool:
    """unsure_at, and not counted there since (unrecorded.find_placed adds the copy to the run's `written`)."""
    return unsure_at(run, where) and where not in {normalised(s) for s in run.get("written") or []
                                                   if isinstance(s, str)}


def unnamed_at(run: dict, where: str) -> bool:
    """The run was written to the copy at `where` (normalised) and recorded there by place alone: an archive older
    than the id recorded for a copy whose id file could not be written. It says nothing of which medium the copy is;
    the next archive that finds it signed there binds it to the copy's id."""
    media = run.get("media")
    written = run.get("written") or []
    if not isinstance(media, dict) or len(media) >= len(written):
        return False  # a medium for every copy written (as archive records it): no spelling to work out
    return where in {normalised(s) for s in written if isinstance(s, str)} \
        and where not in {normalised(s) for s in media.values() if isinstance(s, str)}
