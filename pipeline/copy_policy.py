"""The copy policy of the till's own manual: at least two copies of every evening's run, at least one off-site."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from pipeline.config import Config
from pipeline.destinations.places import names_per_place, normalised
from pipeline.i18n import _, ngettext
from pipeline.retention.policy import local_date

MIN_COPIES = 2


def policy_gaps(cfg: Config, runs: list[dict]) -> tuple[list[str], list[str]]:
    """(what the last run missed that the configuration could have met: a person must act; what the configuration
    itself cannot meet: a standing warning). Each a sentence naming the destination and for how many evenings."""
    last = next((r for r in reversed(runs) if r.get("written") is not None), None)
    zone = ZoneInfo(cfg.journals_timezone)
    names = names_per_place(cfg.destinations)  # each place, by every name the config gives it (a link, a spelling)
    configured = {normalised(first) or first: first for first in names}
    standing = []
    # A place is off-site only when each of its names says so: a link marked off-site to the shop's own folder
    # is no copy elsewhere.
    offsite = [first for first, specs in names.items() if all(cfg.role(s) == "off-site" for s in specs)]
    for specs in names.values():
        marked = [s for s in specs if cfg.role(s) == "off-site"]
        if marked and len(marked) < len(specs):
            standing.append(_("{destination} is marked off-site, but it is the folder {other} names, which is not: "
                              "one folder is in one place").format(
                destination=marked[0], other=next(s for s in specs if s not in marked)))
    if len(configured) < MIN_COPIES and len(cfg.destinations) > len(configured):
        # Names of one folder (a symbolic link, another spelling of its path): written once, one copy.
        standing.append(_("the destinations {destinations} are one folder under several names (a link, or another "
                          "spelling of its path): one copy, where the rule is at least {min} copies").format(
            destinations=", ".join(cfg.destinations), min=MIN_COPIES))
    elif len(configured) < MIN_COPIES:
        standing.append((_("only one destination is configured: the rule is at least {min} copies") if configured
                         else _("no destination is configured: the rule is at least {min} copies")).format(
            min=MIN_COPIES))
    if not offsite:
        standing.append(_("no destination is marked off-site (role = \"off-site\"): a fire or a theft in the shop "
                          "would take every copy"))
    if last is None:
        return [], standing
    written = {normalised(s) or s for s in last.get("written") or []}
    missed = []
    for where, spec in configured.items():
        if where in written:
            continue
        missed_runs, evenings = 0, set()
        for r in reversed(runs):
            if where in {normalised(s) or s for s in r.get("written") or []}:
                break
            missed_runs += 1
            evenings.add(local_date(r["created_at"], zone) if r.get("created_at") else r["run_id"][:8])
        # Evenings, not runs: three runs of one evening missed are one evening without that copy.
        role = {"on-site": _("on-site"), "off-site": _("off-site")}.get(cfg.role(spec), cfg.role(spec))
        if missed_runs == 1:
            sentence = _("the {role} copy {destination} did not get the last run")
        else:
            sentence = ngettext("the {role} copy {destination} did not get the {runs} runs of the last {evenings} "
                                "evening",
                                "the {role} copy {destination} did not get the {runs} runs of the last {evenings} "
                                "evenings", len(evenings))
        missed.append(sentence.format(role=role, destination=spec, runs=missed_runs, evenings=len(evenings)))
    copies = len(written & set(configured))
    if copies < MIN_COPIES <= len(configured) and missed:
        missed.append(ngettext("the last run has {copies} copy, not {min}", "the last run has {copies} copies, not {min}",
                               copies).format(copies=copies, min=MIN_COPIES))
    if offsite and not any(normalised(s) in written for s in offsite):
        missed.append(_("the last run has no off-site copy"))
    return missed, standing
