"""RESTORE.txt: how to check and restore one run by hand, with stock tools only, in French then in English.

The file is the same whatever the language of the process that writes it (its bytes are listed in MANIFEST.b3 and
byte-identical across the copies of a run): each language's text comes from that language's catalogue.
"""

from __future__ import annotations

from pipeline.i18n import in_language
from pipeline.manifest.format import plain_name
from pipeline.snapshot import reader_of_file

LANGUAGES = ("fr", "en")  # French first (the shop's), then the English twin for a foreign reader
SEPARATOR = "=" * 78


def _title(language: str) -> str:
    return in_language(language, "RESTORE THIS BACKUP BY HAND (in French first, then in English below)")


def _body(language: str, run_id: str, store_id: str, created_at: str, version: str, data_files: list[str]) -> str:
    kind = reader_of_file(data_files)
    # Each paragraph is one message, its lines wrapped by hand; the commands between them are never translated,
    # except the words a person replaces (IDENTITY, the public key's path).
    identity = in_language(language, "IDENTITY")
    public_key = in_language(language, "/path/to/coffre-signing.pub")
    decrypt = []
    for name in data_files:
        plain = plain_name(name)
        if name.endswith(".blocks"):
            # Format 2: the blocks, each an age file of its own, decrypted in the list's order make one zstd stream.
            loop = f"     cut -c 67- {name} | while read -r b; do age -d -i {identity} \"$b\" || exit 1; done"
            decrypt.append(f"     b3sum --check {name}\n")
            decrypt.append(loop + (" | zstd -d | tar x\n" if plain.endswith(".tar") else f" | zstd -d > {plain}\n"))
        elif name.endswith(".tar.zst.age"):
            decrypt.append(f"     age -d -i {identity} {name} | zstd -d | tar x\n")
        else:
            decrypt.append(f"     age -d -i {identity} {name} | zstd -d > {plain}\n")
    parts = [
        in_language(language, "Coffre run {run_id} (store {store_id}), written {created_at} by coffre {version}.\n"
                              "This folder is one complete backup. Everything below uses stock tools only\n"
                              "(Debian/Ubuntu packages: b3sum, minisign, age, zstd, {client}, tar).\n").format(
            run_id=run_id, store_id=store_id, created_at=created_at, version=version, client=kind.CLIENT_PACKAGE),
        "\n",
        in_language(language, "1. Check that no file was changed, removed or added\n"
                              "   (run these inside this folder; the public key is the one printed by `coffre init`,\n"
                              "   kept beside the configuration as a .pub file - never trust a key found in this "
                              "folder):\n"),
        "\n",
        f"     minisign -V -p {public_key} -m MANIFEST.b3\n",
        "     b3sum --check MANIFEST.b3\n",
        "\n",
        in_language(language, "   The signature covers MANIFEST.b3; MANIFEST.b3 covers every other file of the run.\n"),
        "\n",
        in_language(language, "2. Decrypt and decompress ({identity} is the age identity file written by `coffre init\n"
                              "   --identity-out`, kept off the shop's machine; if it asks for a passphrase, give "
                              "it):\n").format(identity=identity),
        "\n",
        *decrypt,
        "\n",
        *kind.restore_lines(language),
        "\n",
        in_language(language, "4. Never restore over the live till database: restore into a new folder, then have the\n"
                              "   till's vendor or `coffre restore` put it in place.\n"),
        "\n",
        in_language(language, "The format of this folder is described in Coffre's docs/FORMAT.md.\n"),
    ]
    return "".join(parts)


def render(run_id: str, store_id: str, created_at: str, version: str, data_files: list[str]) -> bytes:
    head = "".join(_title(language) + "\n" for language in LANGUAGES)
    bodies = [_body(language, run_id, store_id, created_at, version, data_files) for language in LANGUAGES]
    return (head + "\n" + f"\n{SEPARATOR}\n\n".join(bodies)).encode("utf-8")
