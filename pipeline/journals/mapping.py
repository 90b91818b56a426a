"""Source mappings: which tables and columns make each canonical journal, and how its chain is signed.

A mapping (schemas/sources/*.json) is data: SQL that yields the canonical fields of each
journal (schemas/journals/*.schema.json) in chain order, and payload templates. Another
till's schema is another mapping file, not new code.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import blake3

from pipeline import chains
from pipeline.chains import TEMPLATE
from pipeline.errors import UsageError
from pipeline.i18n import _
from pipeline.journals.function_args import bytes_for_functions
from pipeline.journals.unordered import without_order

# The mapping's word that each record's exported text reads only its own row and the rows its declared foreign keys
# name (a ticket, also its own lines and payments, when line_checks and payment_checks say which they are): the digest
# of the mapping as it was vouched for (row_local_digest), so that an edited copy no longer carries the word. Without
# it an evening checks only new records when no table a journal reads has grown; Coffre cannot prove from SQL alone
# that a new row changes no older record's text.
ROW_LOCAL = "row_local"
JOURNALS = ("tickets", "ticket_lines", "payments", "closures", "jet", "duplicates", "source_chain")
LINKS = ("sequence", "order")  # how a source chain's record finds the one it is linked to (pipeline/chains/walk.py)
SOURCE_ID = "source_id"  # the canonical field that carries the journal's row id in its source table
_PLACEHOLDER = re.compile(r"\{([a-z_0-9]+)(!e)?\}")


@dataclass
class Journal:
    name: str
    table: str
    sql: str
    day: str  # SQL expression over the canonical fields giving the business day (YYYY-MM-DD)
    fields: list[str]  # canonical fields in order, from the journal's JSON Schema
    types: dict[str, str]  # field -> "integer" | "number" | "string"
    nullable: set[str] = field(default_factory=set)
    chain_key: list[str] | None = None  # None: not a signed chain
    payload: str | None = None
    chain_order: str | None = None  # the field that orders a chain (the mapping's SQL already does)
    numbering_key: list[str] | None = None
    numbering_field: str | None = None
    # Fields the journal's SQL leaves out because they cost (a digest of each ticket's lines): SQL expressions over
    # the journal's row, named x, added only where they are read (the chain's payloads and the export).
    derived: dict[str, str] = field(default_factory=dict)
    # A chain the till seals its own way (pipeline/chains/): the recipe's name, or None when each row names its own
    # in its `recipe` field; how a record finds the one before it; and the fields that split it into chains.
    source_chain: dict | None = None

    @property
    def full_sql(self) -> str:
        if not self.derived:
            return self.sql
        extra = ", ".join(f"{expr} AS {quote_ident(name)}" for name, expr in self.derived.items())
        return f"SELECT x.*, {extra} FROM ({self.sql}) x"

    @property
    def unordered_sql(self) -> str:
        """The same rows in no particular order: for a sum, a count or a table the checks join (unordered.py)."""
        return without_order(self.sql)


@dataclass
class Mapping:
    name: str
    doc: dict
    journals: dict[str, Journal]
    timezone: str = "Europe/Paris"  # the shop's, for local times and business days (journals/connection.py)

    @property
    def public_keys_sql(self) -> str | None:
        """None for a till that signs nothing with a public key (its chains are sealed by recipes)."""
        return (self.doc.get("signature") or {}).get("public_keys_sql")

    @property
    def source_chains(self) -> list[Journal]:
        return [j for j in self.journals.values() if j.source_chain]

    @property
    def row_local(self) -> bool:
        """Whether the mapping vouches, for its text as it is now, that a record reads only its own rows."""
        return self.doc.get(ROW_LOCAL) == row_local_digest(self.doc)


def row_local_digest(doc: dict) -> str:
    """BLAKE3 of the mapping without its "row_local" word, however its file is laid out."""
    text = json.dumps({k: v for k, v in doc.items() if k != ROW_LOCAL}, sort_keys=True, ensure_ascii=False,
                      separators=(",", ":"))
    return blake3.blake3(text.encode("utf-8")).hexdigest()


def journal_schema(name: str) -> dict:
    return json.loads(resources.files("pipeline.schemas").joinpath("journals", f"{name}.schema.json").read_text("utf-8"))


def load_mapping(name_or_path: str = "reference-pos", timezone: str = "Europe/Paris") -> Mapping:
    path = Path(name_or_path)
    try:
        if path.suffix == ".json":
            doc = json.loads(path.read_text("utf-8"))
        else:
            doc = json.loads(resources.files("pipeline.schemas").joinpath("sources", f"{name_or_path}.json").read_text("utf-8"))
    except FileNotFoundError:
        if path.suffix == ".json":
            raise UsageError(_("The mapping file {path} does not exist.").format(path=path))
        raise UsageError(_("No source mapping named {name!r}.").format(name=name_or_path))
    except (OSError, ValueError) as err:
        raise UsageError(_("The source mapping {name} cannot be read ({error}).").format(name=name_or_path, error=err))
    if not isinstance(doc, dict) or not isinstance(doc.get("journals"), dict) or not doc["journals"]:
        raise UsageError(_("The source mapping {name} is not a mapping: its file must hold a JSON object with its "
                           "journals (schemas/sources/reference-pos.json is one).").format(name=name_or_path))
    journals = {}
    for name, spec in (doc.get("journals") or {}).items():
        if name not in JOURNALS:
            raise UsageError(_("The source mapping {mapping} defines an unknown journal {journal!r}.").format(
                mapping=doc.get("name"), journal=name))
        props = journal_schema(name)["items"]["properties"]
        types, nullable = {}, set()
        for fname, p in props.items():
            t = p.get("type")
            if isinstance(t, list):  # ["number", "string"]: a number, written as a text where the till holds one
                if "null" in t:
                    nullable.add(fname)
                t = next(x for x in t if x != "null")
            types[fname] = t
        chain = spec.get("chain")
        numbering = spec.get("numbering")
        j = Journal(name, spec["table"], bytes_for_functions(spec["sql"]),
                    bytes_for_functions(spec.get("day", "substr(timestamp, 1, 10)")), list(props), types, nullable,
                    chain["key"] if chain else None, chain["payload"] if chain else None,
                    chain.get("order") if chain else None, numbering["key"] if numbering else None, numbering["field"] if numbering else None,
                    {k: bytes_for_functions(v) for k, v in (spec.get("derived") or {}).items()},
                    _source_chain(doc.get("name"), name, spec))
        if chain and chain.get("recipe", TEMPLATE) != TEMPLATE:
            raise UsageError(_("The chain of {journal} in mapping {mapping} names the recipe {recipe!r}, which "
                               "signs with a public key; a till's own chain goes in a \"source_chain\" "
                               "section.").format(journal=name, mapping=doc.get("name"), recipe=chain.get("recipe")))
        if j.payload:
            for fname, _spec in _PLACEHOLDER.findall(j.payload):
                if fname not in types:
                    raise UsageError(_("The payload of {journal} in mapping {mapping} names an unknown field "
                                       "{field!r}.").format(journal=name, mapping=doc.get("name"), field=fname))
        journals[name] = j
    return Mapping(doc.get("name", "?"), doc, journals, timezone)


def _source_chain(mapping: str | None, journal: str, spec: dict) -> dict | None:
    """The journal's "source_chain" section, checked: {"recipe": name | None (per row), "key": [...], "previous"}."""
    sc = spec.get("source_chain")
    if sc is None:
        return None
    recipe = sc.get("recipe")
    per_row = isinstance(recipe, dict) and recipe.get("field") == "recipe"
    if not per_row and chains.recipe(recipe) is None:
        raise UsageError(_("The source chain of {journal} in mapping {mapping} names the recipe {recipe!r}; Coffre "
                           "knows {known}.").format(journal=journal, mapping=mapping, recipe=recipe,
                                                    known=", ".join(sorted(chains.RECIPES))))
    previous = sc.get("previous") or (None if per_row else chains.recipe(recipe).previous)
    if previous not in LINKS:
        raise UsageError(_("The source chain of {journal} in mapping {mapping} must say how a record finds the one "
                           "before it: \"previous\" is \"sequence\" or \"order\".").format(journal=journal,
                                                                                          mapping=mapping))
    return {"recipe": None if per_row else recipe, "key": list(sc.get("key") or []), "previous": previous,
            "seals": sc.get("seals") if isinstance(sc.get("seals"), dict) else None}


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def payload_sql(template: str) -> str:
    """The payload template as one SQL expression, so SQLite builds every payload string in C."""
    parts, pos = [], 0
    for m in _PLACEHOLDER.finditer(template):
        if m.start() > pos:
            parts.append(_sql_literal(template[pos:m.start()]))
        col = f"COALESCE(CAST({quote_ident(m.group(1))} AS TEXT), '')"
        if m.group(2):
            col = f"replace(replace({col}, '\\', '\\\\'), ',', '\\,')"
        parts.append(col)
        pos = m.end()
    if pos < len(template):
        parts.append(_sql_literal(template[pos:]))
    return " || ".join(parts) or "''"


def _sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def tickets_journal(mapping: Mapping) -> str:
    """The journal of the tickets that closures, lines and payments are held to ("tickets" unless said)."""
    return (mapping.doc.get("closure_checks") or {}).get("tickets", "tickets")


def counted_types_sql(mapping: Mapping) -> str:
    return ", ".join("'" + t.replace("'", "''") + "'" for t in mapping.doc.get("counted_ticket_types") or [])
