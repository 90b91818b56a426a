"""RESTORE.txt: how to check and restore one run by hand, with stock tools only."""

from __future__ import annotations

TEMPLATE = """\
Coffre run {run_id} (store {store_id}), written {created_at} by coffre {version}.
This folder is one complete backup. Everything below uses stock tools only
(Debian/Ubuntu packages: b3sum, minisign, age, zstd, sqlite3, tar).

1. Check that no file was changed, removed or added
   (run these inside this folder; the public key is the one printed by `coffre init`,
   kept beside the configuration as a .pub file - never trust a key found in this folder):

     minisign -V -p /path/to/coffre-signing.pub -m MANIFEST.b3
     b3sum --check MANIFEST.b3

   The signature covers MANIFEST.b3; MANIFEST.b3 covers every other file of the run.

2. Decrypt and decompress (IDENTITY is the age identity file written by `coffre init
   --identity-out`, kept off the shop's machine; if it asks for a passphrase, give it):

{decrypt_lines}
3. Check the restored database:

     sqlite3 snapshot.sqlite "PRAGMA integrity_check;"

   facts.json (from facts.json.zst.age) records, at archive time, the BLAKE3 of the
   plain snapshot (compare with `b3sum snapshot.sqlite`) and the row count of each table.

4. Never restore over the live till database: restore into a new folder, then have the
   till's vendor or `coffre restore` put it in place.

The format of this folder is described in Coffre's docs/FORMAT.md.
"""


def render(run_id: str, store_id: str, created_at: str, version: str, data_files: list[str]) -> bytes:
    lines = []
    for name in data_files:
        plain = name.removesuffix(".age").removesuffix(".zst")
        if name.endswith(".tar.zst.age"):
            lines.append(f"     age -d -i IDENTITY {name} | zstd -d | tar x\n")
        else:
            lines.append(f"     age -d -i IDENTITY {name} | zstd -d > {plain}\n")
    return TEMPLATE.format(run_id=run_id, store_id=store_id, created_at=created_at, version=version,
                           decrypt_lines="".join(lines)).encode()
