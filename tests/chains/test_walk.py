"""The walker holds a chain to its recipe: what it says for a sealed chain, an altered record, deleted records, a
doubled number, a missing secret, an unknown recipe, a period's chain. The recipe here is a plain SHA-256 over the
link and a text, so that each case is built by hand; the products' recipes have their own tests."""

import hashlib

from pipeline.chains.content import need
from pipeline.chains.walk import walk


class Sha:
    name, secret, first_previous = "test-sha", False, ""

    def __init__(self, previous="sequence", secret=False):
        self.previous, self.secret = previous, secret

    def text(self, record):
        return str(need(record["content"], "v"))

    def seal(self, previous, record, secret):
        key = (secret or b"").decode() if self.secret else ""
        return hashlib.sha256((key + previous + self.text(record)).encode()).hexdigest()


def chain(values, recipe, start=1):
    out, prev = [], recipe.first_previous
    for i, v in enumerate(values):
        rec = {"sequence": start + i, "content": {"v": v}, "recipe": recipe.name}
        rec["hash"] = prev = recipe.seal(prev, rec, b"k" if recipe.secret else None)
        out.append(rec)
    return out


def kinds(records, recipe, link="sequence", secret=None, whole=True):
    return [(p.kind, p.record["sequence"], p.first, p.last, p.count)
            for p in walk(iter(records), lambda r: recipe if r["recipe"] == recipe.name else None, link, secret, whole)]


def test_a_sealed_chain_says_nothing_by_sequence_or_by_order():
    for link in ("sequence", "order"):
        r = Sha(link)
        assert kinds(chain(["a", "b", "c"], r), r, link) == []


def test_an_altered_record_is_named_and_only_it():
    r = Sha()
    recs = chain(["a", "b", "c", "d"], r)
    recs[1]["content"]["v"] = "B"
    assert kinds(recs, r) == [("altered", 2, None, None, None)]


def test_a_deleted_record_is_a_gap_and_the_next_one_cannot_be_proven():
    r = Sha()
    recs = chain(["a", "b", "c", "d"], r)
    del recs[1]
    assert kinds(recs, r) == [("missing", 3, 2, 2, None), ("unlinked", 3, None, None, None)]


def test_a_deleted_record_in_an_order_linked_chain_breaks_the_next_seal():
    r = Sha("order")
    recs = chain(["a", "b", "c"], r)
    del recs[1]
    assert kinds(recs, r, "order") == [("altered", 3, None, None, None)]


def test_a_chain_that_starts_late_has_lost_its_first_records_unless_it_is_a_period():
    r = Sha()
    recs = chain(["a", "b", "c", "d"], r)[2:]
    assert kinds(recs, r)[0][:4] == ("missing", 3, 1, 2)
    assert kinds(recs, r, whole=False) == []


def test_a_doubled_sequence_number_is_said():
    r = Sha()
    recs = chain(["a", "b"], r)
    recs.append(dict(recs[1]))
    assert kinds(recs, r) == [("duplicate", 2, None, None, None)]


def test_records_sealed_with_a_secret_are_counted_once_when_it_is_not_given_and_checked_when_it_is():
    r = Sha(secret=True)
    recs = chain(["a", "b", "c"], r)
    assert kinds(recs, r) == [("secret", 1, None, None, 3)]
    assert kinds(recs, r, secret=b"k") == []
    # A wrong secret is one finding, not every record "altered".
    assert kinds(recs, r, secret=b"wrong") == [("unmatched", 1, None, None, 3)]


def test_an_unknown_recipe_and_a_content_without_its_value_are_said():
    r = Sha()
    recs = chain(["a", "b", "c"], r)
    recs[0]["recipe"] = "nobody"
    recs[2]["content"] = {}
    got = list(walk(iter(recs), lambda x: r if x["recipe"] == r.name else None, "sequence"))
    assert [(p.kind, p.record["sequence"]) for p in got] == [("recipe", 1), ("content", 3)]
    assert got[0].name == "nobody" and got[1].field == "v"


def test_a_broken_first_seal_is_said_once_a_later_record_matches_and_in_its_place():
    r = Sha()
    recs = chain(["a", "b", "c"], r)
    recs[0]["content"]["v"] = "A"
    stats = {}
    got = [(p.kind, p.record["sequence"]) for p in walk(iter(recs), lambda x: r, "sequence", stats=stats)]
    assert got == [("altered", 1)] and stats == {"sealed": 3, "matched": 2}


def test_a_chain_none_of_whose_seals_match_is_one_finding():
    r = Sha("order")
    recs = chain(["a", "b", "c", "d"], r)
    for rec in recs:
        rec["hash"] = "0" * 64
    got = list(walk(iter(recs), lambda x: r, "order"))
    assert [(p.kind, p.record["sequence"], p.count, p.name) for p in got] == [("unmatched", 1, 4, "test-sha")]


def test_an_older_recipe_after_a_newer_one_is_a_downgrade():
    old, new = Sha("order"), Sha("order", secret=True)
    old.name, new.name = "v1", "v2"
    old.generation, new.generation = 1, 2
    recs = []
    prev = ""
    for i, recipe in enumerate([old, new, new, old], 1):
        rec = {"sequence": i, "content": {"v": str(i)}, "recipe": recipe.name}
        rec["hash"] = prev = recipe.seal(prev, rec, b"k" if recipe.secret else None)
        recs.append(rec)
    by = {"v1": old, "v2": new}
    got = [(p.kind, p.record["sequence"]) for p in walk(iter(recs), lambda x: by[x["recipe"]], "order", b"k")]
    assert got == [("downgrade", 4)]
