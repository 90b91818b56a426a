"""Chain recipes: how each till links and seals its records, redone byte for byte (standard library only).

A till that certifies its records (NF525, the French anti-fraud law) links each one to the one before it and
seals it: Coffre's sample signs with Ed25519 over a template, Odoo hashes a JSON string with SHA-256, Dolibarr a
`|`-joined string, with or without a per-instance secret. A recipe is one such way, named, in a module of its
own; the mapping names it for its "source chain" journal (schemas/sources/*.json), and a row may name its own
(Dolibarr's object_format). Nothing here imports Coffre: the auditor's package ships this folder beside verify.py,
so that the inspector re-checks the chains with the same code and Python alone.

A recipe has:
- `name`: what a mapping calls it;
- `secret`: True when the seal needs the till's per-instance secret (given at run time, never stored);
- `previous`: how a record finds the one it is linked to by default: "sequence" (the record whose sequence is
  one less, as Odoo looks it up) or "order" (the record before it in its chain, as Dolibarr does);
- `first_previous`: the value the first record of a chain is linked to;
- `text(record)`: the string the product hashes for this record, without the link;
- `seal(previous, record, secret)`: the value the product stores for the record (`previous` is the stored seal of
  the record it is linked to, or `first_previous`).
`record` is a row of the source chain journal (schemas/journals/source_chain.schema.json) with its `content`
already read from JSON. A recipe raises ContentError when the content lacks what it needs.

The template recipe of Coffre's own sample, `ed25519-template`, is listed for its name only: it verifies
signatures with a public key and is run by the journal checks (pipeline/journals/checks.py) and verify.py.
"""

from . import dolibarr_blockedlog, odoo_pos, sha256_text
from .content import ContentError

__all__ = ["ContentError", "NAMES", "RECIPES", "TEMPLATE", "recipe"]

TEMPLATE = "ed25519-template"

RECIPES = {r.name: r for r in (odoo_pos.RECIPE, dolibarr_blockedlog.RECIPE_V1, dolibarr_blockedlog.RECIPE_V2,
                                sha256_text.RECIPE)}
NAMES = (TEMPLATE,) + tuple(sorted(RECIPES))


def recipe(name):
    """The recipe named, or None when there is none of that name (the caller says so in its own words)."""
    return RECIPES.get(name)
