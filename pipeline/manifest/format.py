"""Renders and parses manifest.json and MANIFEST.b3, refusing anything a reader should not trust."""

from __future__ import annotations

import json
import re

from pipeline.i18n import _

FORMAT_NAME = "coffre-run"
FORMAT_VERSION = 1  # each data file whole in the run's folder
FORMAT_VERSION_BLOCKS = 2  # data files may be lists of blocks shared by the store's runs (manifest/blocks.py)
KNOWN_VERSIONS = (FORMAT_VERSION, FORMAT_VERSION_BLOCKS)

MANIFEST_JSON = "manifest.json"
MANIFEST_B3 = "MANIFEST.b3"
SIGNATURE = "MANIFEST.b3.minisig"
RESTORE_TXT = "RESTORE.txt"
SIGNATURE_COMMENT = "signature from coffre"  # the untrusted comment line of MANIFEST.b3.minisig
DATA_KINDS = ("snapshot", "facts", "journals")
CONTROL_FILES = (MANIFEST_JSON, MANIFEST_B3, SIGNATURE, RESTORE_TXT)

# A run's files sit flat in its folder; a name is a plain file name, nothing a path could escape with.
# \Z, not $: "$" also matches before a last newline, so "<run id>\n" would pass for a run id.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}\Z")
HEX64 = re.compile(r"^[0-9a-f]{64}\Z")  # a BLAKE3, a block's name: every reader of Coffre's records
RUN_ID = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{6}\Z")


def trusted_comment(store_id: str, run_id: str) -> str:
    """The signed comment of a run's MANIFEST.b3.minisig: it binds the signature to this store and this run."""
    return f"coffre store:{store_id} run:{run_id}"


class ManifestError(ValueError):
    """The manifest cannot be trusted as written; the message is one sentence."""


def valid_name(name: str) -> bool:
    return bool(_NAME.match(name)) and ".." not in name


def plain_name(name: str) -> str:
    """What a data file holds once decrypted and decompressed: snapshot.sqlite for snapshot.sqlite.zst.age (format 1)
    or snapshot.sqlite.blocks (format 2)."""
    if name.endswith(".blocks"):
        return name.removesuffix(".blocks")
    return name.removesuffix(".age").removesuffix(".zst")


def render_b3(entries: list[tuple[str, str]]) -> bytes:
    """`b3sum` output format: '<64 hex>  <name>' per line, so `b3sum --check` reads it."""
    for name, digest in entries:
        if not valid_name(name) or not HEX64.match(digest):
            raise ValueError(f"refusing to list {name!r}")
    return "".join(f"{digest}  {name}\n" for name, digest in entries).encode()


def parse_b3(data: bytes) -> dict[str, str]:
    """Returns {name: hex}; any odd line (a path, a NUL, a duplicate) makes the whole list untrusted."""
    if len(data) > 1 << 20:
        raise ManifestError(_("MANIFEST.b3 is larger than any Coffre run writes."))
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise ManifestError(_("MANIFEST.b3 holds bytes that are not plain ASCII."))
    if not text.endswith("\n"):
        raise ManifestError(_("MANIFEST.b3 is truncated (no final newline)."))
    out: dict[str, str] = {}
    for n, line in enumerate(text[:-1].split("\n"), 1):
        digest, sep, name = line.partition("  ")
        if not sep or not HEX64.match(digest):
            raise ManifestError(_("MANIFEST.b3 line {line} is not '<BLAKE3 hex>  <name>'.").format(line=n))
        if not valid_name(name):
            raise ManifestError(_("MANIFEST.b3 line {line} names {name}, which is not a plain file name of the run.").format(
                line=n, name=repr(name[:80])))
        if name in out:
            raise ManifestError(_("MANIFEST.b3 lists {name} twice.").format(name=name))
        out[name] = digest
    if not out:
        raise ManifestError(_("MANIFEST.b3 lists no file."))
    return out


def render_manifest(doc: dict) -> bytes:
    return (json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=True) + "\n").encode()


def parse_manifest(data: bytes) -> dict:
    """Parses manifest.json and checks the fields readers rely on, with their types."""
    if len(data) > 1 << 20:
        raise ManifestError(_("manifest.json is larger than any Coffre run writes."))
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise ManifestError(_("manifest.json is not valid JSON."))
    if not isinstance(doc, dict):
        raise ManifestError(_("manifest.json is not a JSON object."))
    version = doc.get("format_version")
    if doc.get("format") != FORMAT_NAME or isinstance(version, bool) or version not in KNOWN_VERSIONS:
        raise ManifestError(_("manifest.json is not a coffre-run manifest of a version this Coffre reads (1 or 2)."))
    _expect(doc, "run_id", str)
    if not RUN_ID.match(doc["run_id"]):
        raise ManifestError(_("manifest.json has a malformed run_id."))
    _expect(doc, "store_id", str)
    _expect(doc, "created_at", str)
    recipients = _expect(doc, "recipients", list)
    if not recipients or not all(isinstance(r, str) for r in recipients):
        raise ManifestError(_("manifest.json has no valid `recipients`."))
    prev = doc.get("previous_run")
    if prev is not None:
        if not isinstance(prev, dict) or not isinstance(prev.get("run_id"), str) or not RUN_ID.match(prev["run_id"]) \
                or not isinstance(prev.get("manifest_blake3"), str) or not HEX64.match(prev["manifest_blake3"]):
            raise ManifestError(_("manifest.json has a malformed previous_run."))
    files = _expect(doc, "files", list)
    if not files:
        raise ManifestError(_("manifest.json lists no data file."))
    seen = set()
    for f in files:
        if not isinstance(f, dict) or not isinstance(f.get("name"), str) or not valid_name(f["name"]):
            raise ManifestError(_("manifest.json lists a file with a malformed name."))
        if f["name"] in seen or f["name"] in CONTROL_FILES:
            raise ManifestError(_("manifest.json lists {name} more than once or as a data file.").format(name=f["name"]))
        seen.add(f["name"])
        if f.get("kind") not in DATA_KINDS:
            raise ManifestError(_("manifest.json gives {name} a malformed kind.").format(name=f["name"]))
        if isinstance(f.get("size"), bool) or not isinstance(f.get("size"), int) or f["size"] < 0:
            raise ManifestError(_("manifest.json gives {name} a malformed size.").format(name=f["name"]))
        if not isinstance(f.get("blake3"), str) or not HEX64.match(f["blake3"]):
            raise ManifestError(_("manifest.json gives {name} a malformed BLAKE3.").format(name=f["name"]))
        if "layout" in f and (version < FORMAT_VERSION_BLOCKS or f["layout"] != "blocks"
                              or not f["name"].endswith(".blocks") or f["kind"] == "facts"):
            raise ManifestError(_("manifest.json gives {name} a layout this Coffre does not know.").format(
                name=f["name"]))
    return doc


def _expect(doc: dict, key: str, kind: type):
    value = doc.get(key)
    if not isinstance(value, kind):
        raise ManifestError(_("manifest.json has no valid `{key}`.").format(key=key))
    return value
