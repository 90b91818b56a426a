"""A chain is named by its key as its records give it, even when the key holds the "/" that joins a chain's name."""

from __future__ import annotations

import base64
import sqlite3

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from pipeline.journals.checks import check_chain
from pipeline.journals.findings import CheckResult
from pipeline.journals.mapping import Journal
from pipeline.journals.till_key import TillKey

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))


def _till(registers: list[str], records: int) -> sqlite3.Connection:
    """A signed chain per register: each record signs 'register,number,text,previous signature'."""
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (register TEXT, number INTEGER, text TEXT, previous_signature TEXT, signature TEXT)")
    for register in registers:
        prev = ""
        for n in range(1, records + 1):
            text = f"sale {n}"
            sig = base64.urlsafe_b64encode(KEY.sign(f"{register},{n},{text},{prev}".encode())).decode().rstrip("=")
            conn.execute("INSERT INTO t VALUES (?, ?, ?, ?, ?)", (register, n, text, prev, sig))
            prev = sig
    return conn


def test_a_changed_chain_whose_register_code_holds_a_slash_is_named_by_its_whole_code():
    conn = _till(["CAISSE/01", "CAISSE-02"], 5)
    j = Journal("tickets", "t", "SELECT register, number, text, previous_signature, signature FROM t "
                "ORDER BY register, number", "x", ["register", "number", "text", "previous_signature", "signature"],
                {}, chain_key=["register"], payload="{register},{number},{text},{previous_signature}",
                chain_order="number", numbering_key=["register"], numbering_field="number")
    keys = [TillKey(KEY.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))]
    first = CheckResult()
    checkpoint = check_chain(conn, j, keys, first, None, "", (), True)
    assert first.findings == [] and set(checkpoint) == {"CAISSE/01", "CAISSE-02"}
    conn.execute("UPDATE t SET text = 'altered' WHERE register = 'CAISSE/01' AND number = 3")  # verified already
    again = CheckResult()
    checkpoint = check_chain(conn, j, keys, again, checkpoint, "", (), True)
    changed = [f.record for f in again.findings if f.check == "chain_changed"]
    assert changed == [{"register": "CAISSE/01"}], changed
    assert set(checkpoint) == {"CAISSE-02"}
