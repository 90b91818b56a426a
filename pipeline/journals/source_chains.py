"""Checks the chains a till seals its own way (Odoo's hashed orders, Dolibarr's blocked log) by their recipes.

The mapping's "source_chain" journal yields each sealed record with the values the till hashed (`content`) and its
seal; pipeline/chains/ holds the recipes and the walker that holds each chain to them. This module runs the walker
on the snapshot and words what it yields as findings that name the till's own references. A chain's count and last
number are kept as its checkpoint, so that records deleted from its end since the last run are said too.
"""

from __future__ import annotations

import json
from dataclasses import replace
from itertools import groupby

import blake3

from pipeline import chains
from pipeline.chains.walk import CHECKS, walk
from pipeline.i18n import _, ngettext
from pipeline.journals.checks import numbers_from_to, tail_deleted
from pipeline.journals.findings import CheckResult, Finding
from pipeline.journals.mapping import Journal, Mapping, quote_ident
from pipeline.journals.sealed import Claims, check_claims, check_unsealed

SECRET_HINTS = "COFFRE_CHAIN_SECRET, [journals] chain_secret_file"


def check_source_chains(conn, mapping: Mapping, result: CheckResult, secret: bytes | None,
                        checkpoint: dict | None = None, period: tuple[str, str] | None = None) -> dict:
    """Walks every source chain of the mapping; returns their checkpoints {journal: {chain: {count, last}}}."""
    out = {}
    for j in mapping.source_chains:
        where, params = (f"WHERE {j.day} BETWEEN ? AND ?", period) if period else ("", ())
        out[j.name] = _check(conn, mapping, j, result, secret, (checkpoint or {}).get(j.name) or {}, where, params,
                             period is None)
    return out


def _records(conn, j: Journal, where: str, params: tuple):
    cols = [f for f in j.fields]
    sql = f"SELECT {', '.join(quote_ident(f) for f in cols)} FROM ({j.full_sql}) {where}"
    for row in conn.execute(sql, params):
        rec = dict(zip(cols, row))
        try:
            rec["content"] = json.loads(rec["content"]) if isinstance(rec["content"], str) else None
        except ValueError:
            rec["content"] = None
        yield rec


def _chain_name(j: Journal, rec: dict) -> str:
    return "/".join(str(rec.get(k)) for k in j.source_chain["key"])


def _check(conn, mapping: Mapping, j: Journal, result: CheckResult, secret, checkpoint: dict, where, params,
           whole: bool) -> dict:
    fixed = chains.recipe(j.source_chain["recipe"]) if j.source_chain["recipe"] else None

    def recipe_of(rec):
        return fixed or chains.recipe(rec.get("recipe"))

    new_cp: dict = {}
    # Streamed chain by chain: the walker looks back a few records only, so memory stays flat whatever the chain's
    # length (a supermarket's six years).
    claims = Claims(conn)
    changed: set[str] = set()
    for name, records in groupby(_records(conn, j, where, params), key=lambda r: _chain_name(j, r)):
        seen = {"count": 0, "last": None}
        before = checkpoint.get(name) if isinstance(checkpoint.get(name), dict) else {}
        upto = before.get("last") if isinstance(before.get("last"), int) else None
        # What the chain was when it was last archived: its records' numbers and seals, in order, up to the last
        # number then. Those records, as they are now, must give the same digest: a record deleted, added or
        # re-sealed among them does not.
        digest, archived = blake3.blake3(), blake3.blake3()

        def counted(records=records, seen=seen, digest=digest, archived=archived, upto=upto):
            for rec in records:
                said = getattr(recipe_of(rec), "claims", None)
                if said is not None:
                    claims.add(rec, j.source_chain["key"], said(rec))
                seen["count"] += 1
                seq = rec.get("sequence")
                if isinstance(seq, int) and (seen["last"] is None or seq > seen["last"]):
                    seen["last"] = seq
                line = f"{seq}\x1f{rec.get('hash')}\n".encode("utf-8")
                digest.update(line)
                if upto is not None and isinstance(seq, int) and seq <= upto:
                    archived.update(line)
                yield rec

        stats: dict = {}
        problems = 0
        for p in walk(counted(), recipe_of, j.source_chain["previous"], secret, whole, stats):
            problems += 1
            result.add(_finding(j, p))
        result.seals_checked += stats["sealed"]
        new_cp[name] = dict(seen, digest=digest.hexdigest())
        shorter = upto is not None and (seen["last"] or 0) < upto  # records gone from its end: tail_deleted's
        if whole and before.get("digest") and not shorter and archived.hexdigest() != before["digest"]:
            changed.add(name)
        if name in changed and not problems:
            # Seals that hold, yet are not those archived: a keyless recipe (Odoo's, Dolibarr's V1) is recomputed
            # by anyone who can write to the tables. (A chain whose seals break is said by them.)
            result.add(Finding(j.name, "source_changed", {k: v for k, v in zip(j.source_chain["key"], name.split("/"))},
                               _("its first {count} records, archived at an earlier run (sequence up to {last}), are "
                                 "not the same now, though their seals may hold: the chain was re-sealed or "
                                 "rewritten").format(count=before["count"], last=before.get("last"))))
    claims.flush()
    check_claims(conn, mapping, j, result)
    check_unsealed(conn, mapping, j, result, where, params)
    if whole:
        for chain, cp in checkpoint.items():
            if not isinstance(cp, dict) or not isinstance(cp.get("count"), int):
                continue
            now = new_cp.get(chain)
            if now is None or now["count"] < cp["count"]:
                gone = tail_deleted(_as_numbered(j), chain, cp, now)
                if gone is not None:
                    result.add(gone)
                    changed.add(chain)
    # What earlier runs archived stays what later runs are held to: a chain re-sealed, rewritten or shortened keeps
    # the checkpoint it had, so that the finding comes back every run. Any other finding (a broken seal, a sealed
    # copy that disagrees) is said again from the data itself; the chain's checkpoint moves on with its new records.
    out = {k: v for k, v in new_cp.items() if k not in changed}
    out.update({k: v for k, v in checkpoint.items() if k in changed and isinstance(v, dict)})
    return out


def _as_numbered(j: Journal) -> Journal:
    """The journal as tail_deleted reads a numbered chain: keyed by the source chain's key, numbered by sequence."""
    return replace(j, chain_key=j.source_chain["key"], numbering_key=j.source_chain["key"], numbering_field="sequence")


def _record(j: Journal, rec: dict) -> dict:
    out = {k: rec.get(k) for k in j.source_chain["key"]}
    out["sequence"] = rec.get("sequence")
    if rec.get("reference") not in (None, ""):
        out["reference"] = rec["reference"]
    return out


def _finding(j: Journal, p) -> Finding:
    rec = _record(j, p.record) if p.record else {}
    recipe = p.record.get("recipe") if p.record else None
    if p.kind == "altered" and j.source_chain["previous"] == "order":
        # Linked to whatever record comes before it: a deleted record breaks the next one's seal the same way.
        return Finding(j.name, CHECKS[p.kind], rec,
                       _("its seal ({recipe}) does not match its content and the seal of the record before it: the "
                         "record was altered after the till sealed it, or a record before it was deleted")
                       .format(recipe=recipe))
    if p.kind == "altered":
        return Finding(j.name, CHECKS[p.kind], rec,
                       _("its seal ({recipe}) does not match its content and the seal of the record before it: the "
                         "record was altered after the till sealed it").format(recipe=recipe))
    if p.kind == "missing":
        shown = str(p.first) if p.first == p.last else numbers_from_to(p.first, p.last)
        rec = dict(rec, sequence=p.first)
        rec.pop("reference", None)  # the reference is the record after the gap's, not a missing one's
        return Finding(j.name, CHECKS[p.kind], rec,
                       ngettext("sequence number {numbers} is missing before {after}: a sealed record was deleted",
                                "sequence numbers {numbers} are missing before {after}: sealed records were deleted",
                                p.last - p.first + 1).format(numbers=shown, after=p.record.get("sequence")))
    if p.kind == "unlinked":
        return Finding(j.name, CHECKS[p.kind], rec,
                       _("the record it is linked to (sequence {number}) is missing: its seal cannot be "
                         "proven").format(number=(p.record.get("sequence") or 0) - 1))
    if p.kind == "duplicate":
        return Finding(j.name, CHECKS[p.kind], rec, _("its sequence number is used twice"))
    if p.kind == "content":
        return Finding(j.name, CHECKS[p.kind], rec,
                       _("its content lacks {field}, which the recipe {recipe} hashes").format(field=p.field,
                                                                                               recipe=recipe))
    if p.kind == "unmatched":
        return Finding(j.name, CHECKS[p.kind], rec,
                       ngettext("its {count} record sealed by {recipe} does not match its seal",
                                "none of its {count} records sealed by {recipe} matches its seal: the till's secret, or "
                                "the time zone of the till's server ([journals] timezone), is not the till's, unless "
                                "every one of them was altered", p.count).format(count=p.count, recipe=p.name))
    if p.kind == "downgrade":
        return Finding(j.name, CHECKS[p.kind], rec,
                       ngettext("it is sealed by {recipe}, an older way of sealing than a record before it: a till "
                                "never goes back, whereas a forger without the till's secret would",
                                "it and {more} records after it are sealed by an older way of sealing than a record "
                                "before them ({recipe} first): a till never goes back, whereas a forger without the "
                                "till's secret would", p.count).format(recipe=p.name, more=p.count - 1))
    if p.kind == "timezone":
        return Finding(j.name, CHECKS[p.kind], rec,
                       ngettext("its seal ({recipe}) holds only with its times an hour off: the till's server is "
                                "not on the shop's time zone ([journals] timezone), at least part of the year",
                                "the seals ({recipe}) of {count} records, from this one on, hold only with their "
                                "times an hour off: the till's server is not on the shop's time zone ([journals] "
                                "timezone), at least part of the year", p.count).format(recipe=p.name,
                                                                                         count=p.count))
    if p.kind == "recipe":
        return Finding(j.name, CHECKS[p.kind], rec,
                       _("it names the recipe {name!r}, which Coffre does not know").format(name=p.name))
    return Finding(j.name, CHECKS[p.kind], {k: v for k, v in rec.items() if k in j.source_chain["key"]},
                   ngettext("{count} record is sealed with the till's secret ({recipe}), which was not given: it was "
                            "not checked ({hints})",
                            "{count} records are sealed with the till's secret ({recipe}), which was not given: they "
                            "were not checked ({hints})", p.count).format(count=p.count, recipe=recipe,
                                                                           hints=SECRET_HINTS))
