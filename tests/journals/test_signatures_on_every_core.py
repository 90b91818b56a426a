"""The signature checks run on every core and still say their findings in the records' order: across batch
boundaries, broken links and bad signatures interleaved, as the one-by-one walk says them."""

from __future__ import annotations

import base64
from concurrent.futures import ThreadPoolExecutor

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from pipeline.journals.checks import Signatures
from pipeline.journals.findings import CheckResult, Finding
from pipeline.journals.till_key import TillKey


def _walk(pool, workers, batch):
    key = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    result = CheckResult()
    signatures = Signatures([TillKey(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))], result, pool, workers)
    signatures.BATCH = batch
    for n in range(1, 40):
        payload = f"ticket {n}"
        sig = base64.urlsafe_b64encode(key.sign(payload.encode())).decode().rstrip("=")
        if n % 7 == 0:
            signatures.say(Finding("tickets", "chain_link", {"number": n}, "link"))
        if n % 5 == 0:
            payload += " altered"
        signatures.verify(payload, sig, lambda n=n: Finding("tickets", "signature", {"number": n}, "bad"))
    signatures.flush()
    return [(f.check, f.record["number"]) for f in result.findings]


def test_findings_come_in_the_records_order_whatever_the_cores_and_batches():
    one_by_one = _walk(None, 1, 10_000)
    assert one_by_one[:4] == [("signature", 5), ("chain_link", 7), ("signature", 10), ("chain_link", 14)]
    assert len(one_by_one) == 7 + 5
    with ThreadPoolExecutor(2) as pool:
        for batch in (1, 3, 4, 16):
            assert _walk(pool, 2, batch) == one_by_one, batch
