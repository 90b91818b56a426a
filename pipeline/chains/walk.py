"""Walks one source chain in order and says what does not hold: a seal, a link, a missing or doubled number.

The walker knows no product: the recipe seals, the mapping says how a record finds the one it is linked to.
What it yields is neutral (a kind, the record, numbers); Coffre and verify.py each word it in their own way.

Kinds:
- "altered": the record's seal is not what its content and the seal it is linked to give;
- "missing": sequence numbers `first`..`last` are not in the chain (deleted records);
- "unlinked": the record it is linked to is missing, so its seal cannot be proven;
- "duplicate": a sequence number is used twice;
- "content": the content lacks a value the recipe hashes (`field`);
- "recipe": the row names a recipe there is none of (`name`);
- "secret": records sealed with a secret that was not given (`count` of them, once per chain);
- "unmatched": not one of the chain's `count` records sealed by recipe `name` matches (said once, instead of each:
  a wrong secret or a wrong time zone, more likely than every record altered);
- "downgrade": records sealed by an older recipe than a record before them (Dolibarr's V1 after V2: what no till
  writes, and what a forger who lacks the secret would): said once, on the first, with their `count`;
- "timezone": records whose seals hold only with their times an hour off (`count`, recipe `name`): the till's server
  is on another time zone than the shop's configured one. A recipe tells it by `near_miss(previous, record,
  secret)`, asked only of a seal that does not match.

A recipe may have a `generation` (a number, 0 when absent): a till moves to a newer way of sealing, never back.
`stats`, when given, counts the records whose seal was recomputed ("sealed") and those that matched ("matched").
"""

from collections import namedtuple

from .content import ContentError

# The name of the check each kind is, in findings.json and every report (pipeline/fiscal_rules.py words them).
CHECKS = {"altered": "source_seal", "missing": "source_gap", "unlinked": "source_link",
          "duplicate": "source_duplicate", "content": "source_content", "recipe": "source_recipe",
          "secret": "source_secret", "unmatched": "source_unmatched", "downgrade": "source_downgrade",
          "timezone": "source_timezone"}
HELD = 1000  # broken seals of a recipe held back until one of its records matches (then said, in order)

Problem = namedtuple("Problem", "kind record first last field name count")


def problem(kind, record, first=None, last=None, field=None, name=None, count=None):
    return Problem(kind, record, first, last, field, name, count)


def walk(records, recipe_of, previous, secret=None, whole=True, stats=None):
    """Problems of one chain. `records`: its rows in chain order (sequence order for "sequence" links);
    `recipe_of(record)`: its recipe or None; `previous`: "sequence" or "order"; `secret`: bytes or None;
    `whole`: the chain from its start (a period's records start anywhere, so a first number above 1 is no gap)."""
    stats = {} if stats is None else stats
    stats.setdefault("sealed", 0)
    stats.setdefault("matched", 0)
    held = {}  # recipe name -> [broken seals held back, how many in all] until one of its records matches
    matched = set()
    newest = None  # the highest recipe generation met so far
    downgraded = [None, 0]  # the first record sealed by an older recipe than one before it, and how many
    shifted = {}  # recipe name -> [first record whose seal holds an hour off, how many]
    seals = {}  # "sequence" links: the seal of each sequence number, to find the one before a record
    last_seq = last_seal = None
    unsealed = 0
    first_unsealed = None
    for rec in records:
        seq = rec.get("sequence")
        recipe = recipe_of(rec)
        if recipe is None:
            yield problem("recipe", rec, name=rec.get("recipe"))
            if isinstance(seq, int):
                seals[seq] = rec.get("hash")  # the next record is linked to it all the same
            last_seq, last_seal = seq, rec.get("hash")
            continue
        generation = getattr(recipe, "generation", 0)
        if newest is not None and generation < newest:
            downgraded[0] = downgraded[0] or rec
            downgraded[1] += 1
        newest = generation if newest is None else max(newest, generation)
        # The record this one is linked to, and its seal.
        linked_missing = False
        if previous == "sequence":
            if isinstance(seq, int) and isinstance(last_seq, int) and seq == last_seq:
                yield problem("duplicate", rec)
                continue
            if isinstance(seq, int) and last_seq is None and whole and seq > 1:
                yield problem("missing", rec, first=1, last=seq - 1)
            elif isinstance(seq, int) and isinstance(last_seq, int) and seq > last_seq + 1:
                yield problem("missing", rec, first=last_seq + 1, last=seq - 1)
            if not isinstance(seq, int) or seq <= 1:
                linked = recipe.first_previous
            elif seq - 1 in seals:
                linked = seals[seq - 1]
            else:
                linked, linked_missing = None, True
        else:
            linked = recipe.first_previous if last_seal is None else last_seal
            if last_seal is None and not whole:
                linked = None  # a period's first record: the one before it is outside the period
        stored = rec.get("hash")
        if isinstance(seq, int):
            seals[seq] = stored
            if len(seals) > 4:
                seals.pop(min(seals))  # a link reaches one number back: hold a few, not the chain
        last_seq, last_seal = seq, stored
        if linked_missing:
            if whole:
                yield problem("unlinked", rec)
            continue
        if linked is None:
            continue
        if recipe.secret and secret is None:
            unsealed += 1
            first_unsealed = first_unsealed or rec
            continue
        try:
            expected = recipe.seal(linked, rec, secret)
        except ContentError as err:
            yield problem("content", rec, field=str(err))
            continue
        stats["sealed"] += 1
        if expected == stored:
            stats["matched"] += 1
            if recipe.name not in matched:
                matched.add(recipe.name)
                for p in held.pop(recipe.name, [[], 0])[0]:
                    yield p
        elif getattr(recipe, "near_miss", None) and recipe.near_miss(linked, rec, secret):
            shifted.setdefault(recipe.name, [rec, 0])[1] += 1
        elif recipe.name in matched:
            yield problem("altered", rec)
        else:
            kept = held.setdefault(recipe.name, [[], 0])
            kept[1] += 1
            if len(kept[0]) < HELD:
                kept[0].append(problem("altered", rec))
    if downgraded[1]:
        yield problem("downgrade", downgraded[0], name=recipe_of(downgraded[0]).name, count=downgraded[1])
    for name, (first, count) in sorted(shifted.items()):
        yield problem("timezone", first, name=name, count=count)
    for name, (kept, count) in sorted(held.items()):
        if count >= 2:
            yield problem("unmatched", kept[0].record, name=name, count=count)
        else:
            for p in kept:
                yield p
    if unsealed:
        yield problem("secret", first_unsealed, count=unsealed)  # named by the first record that needs it
