"""recipes.json and till-keys.json: what verify.py needs to recompute every chain without Coffre."""

from __future__ import annotations

import sqlite3

from pipeline.journals.checks import till_key_rows
from pipeline.journals.mapping import Mapping


def recipes(mapping: Mapping) -> dict:
    doc = mapping.doc
    return {
        "format": "coffre-recipes/1",
        "mapping": mapping.name,
        "journals": {j.name: {"chain_key": j.chain_key, "order_field": j.chain_order or j.numbering_field, "payload": j.payload}
                     for j in mapping.journals.values() if j.payload and j.chain_key is not None},
        "source_chains": {j.name: dict(j.source_chain) for j in mapping.source_chains},
        "numbering": {j.name: {"key": j.numbering_key, "field": j.numbering_field}
                      for j in mapping.journals.values() if j.numbering_field},
        "counted_ticket_types": doc.get("counted_ticket_types", []),
        "closure_checks": doc.get("closure_checks"),
        "line_checks": doc.get("line_checks"),
        "payment_checks": doc.get("payment_checks"),
        "record_checks": doc.get("record_checks"),
        "digests": doc.get("digests"),
        "means_checks": doc.get("means_checks"),
        "template_rules": doc.get("template_rules"),
    }


def till_keys(conn: sqlite3.Connection, mapping: Mapping) -> dict:
    return {"keys": [{"key_id": kid, "algorithm": "ed25519", "public_key_b64": b64}
                     for kid, b64 in till_key_rows(conn, mapping)]}
