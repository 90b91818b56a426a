"""Every key of the configuration, described once: the source of its checks (pipeline/config.py), of the published
JSON Schema (schemas/config.schema.json), of the reference (docs/CONFIG.md) and of the comments in the file `coffre
init` writes.

`python -m pipeline.config_schema` rewrites the two generated files; `--check` only says whether they are current.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from pipeline.i18n import _

REQUIRED = object()  # a key with no default: the file must give it
ROOT = Path(__file__).resolve().parent.parent
SCHEMA_FILE = ROOT / "schemas" / "config.schema.json"
REFERENCE_FILE = ROOT / "docs" / "CONFIG.md"
SAFE_NAME = r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}$"


@dataclass(frozen=True)
class Key:
    table: str | None  # None: a key at the top of the file
    name: str
    # string, integer, boolean, strings (a list of strings), destinations, command (a string or a list of strings)
    type: str
    description: Callable[[], str]  # in the language this process speaks
    default: object = REQUIRED
    low: int | None = None
    high: int | None = None
    choices: tuple = ()
    pattern: str | None = None
    or_file: str | None = None  # a value may also be the path of a file ending so (a vendor's mapping: ".json")

    @property
    def dotted(self) -> str:
        return f"{self.table}.{self.name}" if self.table else self.name

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


# table -> (its description, whether the file must have it)
TABLES: dict[str, tuple[Callable[[], str], bool]] = {
    "encryption": (lambda: _("Who can read the copies: they are encrypted to these age recipients."), True),
    "signing": (lambda: _("The key that signs every run, so that a changed copy shows."), True),
    "state": (lambda: _("Where Coffre keeps its record of runs on this machine."), False),
    "archive": (lambda: _("How the evening run takes and writes its copies."), False),
    "journals": (lambda: _("The check and export of the till's fiscal journals."), False),
    "shop": (lambda: _("Who the tax inspector is dealing with: shown in the auditor package."), False),
    "retention": (lambda: _("Which runs are kept when old ones are pruned."), False),
    "status": (lambda: _("What `coffre status` warns about."), False),
    "hooks": (lambda: _("Commands run and addresses called after a run, to raise an alert."), False),
}


def _mappings() -> tuple[str, ...]:
    """The source mappings shipped with Coffre (schemas/sources/*.json): the names `journals.mapping` takes."""
    from importlib import resources

    return tuple(sorted(p.name[:-len(".json")] for p in resources.files("pipeline.schemas").joinpath("sources")
                        .iterdir() if p.name.endswith(".json")))


MAPPINGS = _mappings()

KEYS: tuple[Key, ...] = (
    Key(None, "format", "integer", lambda: _("The version of this file's layout; this Coffre writes 1."), 1,
        choices=(1,)),
    Key(None, "store_id", "string",
        lambda: _("A short name for the shop: letters, digits, '.', '_' or '-' (at most 64)."), pattern=SAFE_NAME),
    Key(None, "source", "string", lambda: _("The till database, written as sqlite:/path/to/the/file.db, "
                                            "postgresql://USER@HOST:PORT/DATABASE or mariadb://USER@HOST:PORT/DATABASE; "
                                            "never with a password: PostgreSQL's is read from ~/.pgpass (or PGPASSFILE, "
                                            "or ?passfile=FILE), MariaDB's from an option file (?option_file=FILE, "
                                            "or ~/.my.cnf).")),
    Key(None, "destinations", "destinations",
        lambda: _("Where the copies go: folders (USB key, external disk, network share) or rclone:REMOTE:PATH; a "
                  "table { to = \"...\", role = \"on-site\" or \"off-site\" } says where the copy lives.")),
    Key("encryption", "recipients", "strings",
        lambda: _("The age public recipients (age1…) the copies are encrypted to; the identity that decrypts them "
                  "is kept off this machine."), pattern="^age1"),
    Key("signing", "public_key", "string", lambda: _("The minisign public key that verify trusts (pinned here).")),
    Key("signing", "secret_key_file", "string",
        lambda: _("The signing secret key, relative to this file's folder.")),
    Key("signing", "public_key_file", "string",
        lambda: _("The signing public key file, relative to this file's folder.")),
    Key("state", "dir", "string", lambda: _("The folder of the record of runs, relative to this file's folder."),
        "state"),
    Key("archive", "compression_level", "integer",
        lambda: _("The zstd compression level of the snapshot, from 1 (fast) to 19 (small)."), 3, low=1, high=19),
    Key("archive", "store_format", "integer",
        lambda: _("How runs are stored: 2 (blocks shared between runs, an evening writes only what changed) or 1 "
                  "(each run whole in its own folder, as Coffre wrote before)."), 2, low=1, high=2),
    Key("archive", "reread_days", "integer",
        lambda: _("Format 2: every evening reads again the blocks the copies hold already on one copy (the first "
                  "one on this machine, if any), and on the others (downloading them, from a remote) each block once "
                  "in each stretch of this many days, on a day of its own; 1: on every copy every evening. What the "
                  "evening writes is always read back, and verify reads every block."), 30, low=1, high=366),
    Key("archive", "allow_same_disk", "boolean",
        lambda: _("Experts: accept a destination on the database's own disk (a copy there dies with that disk)."),
        False),
    Key("archive", "source_lock_wait", "integer",
        lambda: _("Seconds the snapshot waits for the till to release its lock on the database."), 60, low=0,
        high=3600),
    Key("archive", "source_stall_timeout", "integer",
        lambda: _("Seconds a database server's dump may send nothing before the run is abandoned (exit 3) rather "
                  "than wait forever on a server that stopped answering; at least source_lock_wait + 5."), 600,
        low=5, high=86400),
    Key("archive", "scratch_dir", "string",
        lambda: _("A folder for the temporary copy of the database (default: the system's temporary folder), on "
                  "this machine's own disk: another machine sharing it could take a copy still in use for a dead "
                  "one's."), ""),
    Key("journals", "enabled", "boolean", lambda: _("Check and export the fiscal journals at every run."), True),
    Key("journals", "mapping", "string",
        lambda: _("How the till software's tables are read: a mapping shipped with Coffre ({names}) or the path of a "
                  "mapping file (.json, relative to this file's folder).").format(names=", ".join(MAPPINGS)),
        "reference-pos", choices=MAPPINGS, or_file=".json"),
    Key("journals", "chain_secret_file", "string",
        lambda: _("A file holding the till's secret that seals its own chain (Dolibarr's blocked log, format V2); "
                  "read at each run, never copied (the COFFRE_CHAIN_SECRET environment variable wins)."), ""),
    Key("journals", "timezone", "string",
        lambda: _("The shop's time zone: its business day is the local date there."), "Europe/Paris"),
    Key("shop", "name", "string", lambda: _("The company's name."), ""),
    Key("shop", "siren", "string", lambda: _("The company's SIREN (9 digits)."), ""),
    Key("shop", "siret", "string", lambda: _("The shop's SIRET (14 digits)."), ""),
    Key("shop", "address", "string", lambda: _("The shop's address."), ""),
    Key("shop", "vat_number", "string", lambda: _("The intra-EU VAT number (FR…)."), ""),
    Key("shop", "naf", "string", lambda: _("The NAF (APE) code, for example 47.11B."), ""),
    Key("shop", "till_software", "string", lambda: _("The till software's name."), ""),
    Key("shop", "till_version", "string", lambda: _("The till software's version."), ""),
    Key("shop", "till_certificate", "string", lambda: _("The till's NF525 certificate or attestation number."), ""),
    Key("retention", "keep_last", "integer", lambda: _("How many of the newest runs are always kept."), 3, low=1,
        high=100000),
    Key("retention", "keep_daily", "integer", lambda: _("How many days keep their last run."), 7, low=0, high=100000),
    Key("retention", "keep_weekly", "integer", lambda: _("How many weeks keep their last run."), 4, low=0,
        high=100000),
    Key("retention", "keep_monthly", "integer", lambda: _("How many months keep their last run."), 12, low=0,
        high=100000),
    Key("retention", "keep_yearly", "integer", lambda: _("How many years keep their last run."), 0, low=0,
        high=100000),
    Key("retention", "legal_years", "integer",
        lambda: _("How many fiscal years keep a run, as French law asks (6)."), 6, low=1, high=100),
    Key("retention", "fiscal_year_start", "string", lambda: _("The first day of the fiscal year, as MM-DD."),
        "01-01", pattern=r"^[0-9]{2}-[0-9]{2}$"),
    Key("retention", "after_archive", "boolean", lambda: _("Prune the old runs after every evening's run."), False),
    Key("retention", "below_legal_accepted", "boolean",
        lambda: _("Accept, in writing, a legal_years under the law's six."), False),
    Key("status", "warn_evenings", "integer",
        lambda: _("Warn when a copy's medium will be full within this many evenings."), 14, low=1, high=365),
    Key("hooks", "on_success", "command", lambda: _("A command run after a run that went well."), None),
    Key("hooks", "on_failure", "command", lambda: _("A command run after a run that failed."), None),
    Key("hooks", "on_findings", "command",
        lambda: _("A command run after a run whose fiscal journals need a person."), None),
    Key("hooks", "ping_url", "string",
        lambda: _("An http:// or https:// address called after every run (a monitoring service)."), None),
    Key("hooks", "ping_start", "boolean", lambda: _("Also call the address when a run starts."), False),
    Key("hooks", "timeout", "integer", lambda: _("Seconds a hook may take before it is stopped."), 60, low=1,
        high=3600),
)

BY_DOTTED = {k.dotted: k for k in KEYS}
TOP_LEVEL = tuple(k.name for k in KEYS if k.table is None) + tuple(TABLES)
TABLE_KEYS = {t: tuple(k.name for k in KEYS if k.table == t) for t in TABLES}
ROLES = ("on-site", "off-site")
DESTINATION_KEYS = ("to", "role")  # the keys of a destination written as a table


def key(dotted: str) -> Key:
    return BY_DOTTED[dotted]


# ---------------------------------------------------------------------------------------------------- JSON Schema

def _json_type(k: Key) -> dict:
    if k.type == "string":
        node: dict = {"type": "string"}
        if k.required:
            node["minLength"] = 1
    elif k.type == "integer":
        node = {"type": "integer"}
        if k.low is not None:
            node["minimum"] = k.low
        if k.high is not None:
            node["maximum"] = k.high
    elif k.type == "boolean":
        node = {"type": "boolean"}
    elif k.type == "strings":
        node = {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1}
    elif k.type == "command":
        node = {"oneOf": [{"type": "string", "minLength": 1},
                          {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1}]}
    elif k.type == "destinations":
        node = {"type": "array", "items": {"oneOf": [
            {"type": "string", "minLength": 1},
            {"type": "object", "properties": {"to": {"type": "string", "minLength": 1},
                                               "role": {"enum": list(ROLES)}},
             "required": ["to"], "additionalProperties": False}]}}
    else:  # pragma: no cover - a new type must be described here
        raise ValueError(k.type)
    if k.choices and k.or_file:
        node = {"anyOf": [dict(node, enum=list(k.choices)), dict(node, pattern=f"\\{k.or_file}$")]}
    elif k.choices:
        node["enum"] = list(k.choices)
    if k.pattern:
        if k.type == "strings":
            node["items"]["pattern"] = k.pattern
        else:
            node["pattern"] = k.pattern
    if not k.required and k.default not in (None, ""):
        node["default"] = k.default
    return node


def json_schema() -> dict:
    """The JSON Schema of the file (descriptions in English): what `jsonschema` and editors check it against."""
    with _in_english():
        def described(k: Key) -> dict:
            return {"description": k.description(), **_json_type(k)}

        properties: dict = {k.name: described(k) for k in KEYS if k.table is None}
        for table, (describe, _required) in TABLES.items():
            keys = [k for k in KEYS if k.table == table]
            properties[table] = {
                "description": describe(), "type": "object", "additionalProperties": False,
                "properties": {k.name: described(k) for k in keys},
            }
            needed = [k.name for k in keys if k.required]
            if needed:
                properties[table]["required"] = needed
        return {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": "https://coffre.example/schemas/config.schema.json",
            "title": "Coffre configuration (coffre.toml)",
            "description": "Generated from pipeline/config_schema.py by `python -m pipeline.config_schema`.",
            "type": "object",
            "additionalProperties": False,
            "required": [k.name for k in KEYS if k.table is None and k.required]
            + [t for t, (_d, needed) in TABLES.items() if needed],
            "properties": properties,
        }


def json_schema_text() -> str:
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


# ---------------------------------------------------------------------------------------------------- TOML text

def toml_value(value) -> str:
    """One TOML value: strings as basic strings, lists on one line, tables inline."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        # JSON's escapes are TOML's; TOML also wants DEL escaped.
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"no TOML for {type(value).__name__}")


def _toml_key(name: str) -> str:
    if name and all(c.isascii() and (c.isalnum() or c in "_-") for c in name):
        return name
    return toml_value(name)


def _comment(text: str) -> list[str]:
    """A description as `# ` lines of at most about 100 characters."""
    import textwrap

    return ["# " + line for line in textwrap.wrap(text, 98)] or ["#"]


def render_toml(doc: dict) -> str:
    """The configuration as TOML text, a `#` comment (in this process's language) above each table and key.

    Keys the schema does not know are written last in their table, without a comment."""
    lines = ["# " + _("Coffre configuration; every key is described in docs/CONFIG.md.")]
    known_top = [k for k in KEYS if k.table is None]
    for k in known_top:
        if k.name in doc:
            lines += [""] + _comment(k.description()) + [f"{k.name} = {toml_value(doc[k.name])}"]
    for name, value in doc.items():
        if name not in TOP_LEVEL and not isinstance(value, dict):
            lines += ["", f"{_toml_key(name)} = {toml_value(value)}"]
    tables = [t for t in TABLES if isinstance(doc.get(t), dict)]
    tables += [t for t, v in doc.items() if isinstance(v, dict) and t not in TABLES]
    for table in tables:
        body = doc[table]
        lines.append("")
        if table in TABLES:
            lines += _comment(TABLES[table][0]())
        lines.append(f"[{_toml_key(table)}]")
        described = [k for k in KEYS if k.table == table]
        for k in described:
            if k.name in body:
                lines += _comment(k.description()) + [f"{k.name} = {toml_value(body[k.name])}"]
        for name, value in body.items():
            if name not in {k.name for k in described}:
                lines.append(f"{_toml_key(name)} = {toml_value(value)}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------------- reference

def _shown_default(k: Key) -> str:
    if k.required:
        return "required"
    if k.default in (None, ""):
        return "unset"
    return f"`{toml_value(k.default)}`"


def _allowed(k: Key) -> str:
    if k.choices and k.or_file:
        return ", ".join(f"`{toml_value(c)}`" for c in k.choices) + f", or the path of a `{k.or_file}` file"
    if k.choices:
        return ", ".join(f"`{toml_value(c)}`" for c in k.choices)
    if k.low is not None or k.high is not None:
        return f"{k.low} to {k.high}"
    if k.type == "destinations":
        return "a path, `rclone:REMOTE:PATH`, or `{ to = ..., role = \"on-site\" | \"off-site\" }`"
    if k.type == "command":
        return "a command line (string) or a list of words"
    if k.pattern:
        return f"matches `{k.pattern}`"
    return ""


_TYPE_NAMES = {"string": "text", "integer": "whole number", "boolean": "true or false", "strings": "list of texts",
               "destinations": "list", "command": "text or list of texts"}

EXAMPLE = {
    "format": 1,
    "store_id": "boutique",
    "source": "sqlite:/var/lib/caisse/caisse.db",
    "destinations": ["/media/usb-coffre", {"to": "rclone:nuage:coffre", "role": "off-site"}],
    "encryption": {"recipients": ["age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"]},
    "signing": {"public_key": "RWQf6LRCGA9i53mlYecO4IzT51TGPpvWucNSCh1CBM0QTaLn73Y7GFO3",
                "secret_key_file": "coffre-signing.key", "public_key_file": "coffre-signing.pub"},
    "state": {"dir": "coffre-state"},
    "archive": {"compression_level": 3, "allow_same_disk": False, "source_lock_wait": 60, "source_stall_timeout": 600},
    "journals": {"enabled": True, "mapping": "reference-pos", "timezone": "Europe/Paris"},
    "shop": {"name": "Épicerie Martin SARL", "siret": "73282932000074"},
    "retention": {"keep_last": 3, "legal_years": 6, "after_archive": False},
    "hooks": {"on_failure": ["/usr/local/bin/alerte", "coffre"], "ping_url": "https://hc-ping.com/0000"},
}


def reference_markdown() -> str:
    """docs/CONFIG.md, in English: every table and key, its type, default, allowed values and meaning."""
    with _in_english():
        out = ["# Coffre configuration reference", "",
               "<!-- Generated from pipeline/config_schema.py by `python -m pipeline.config_schema`: edit that file, "
               "not this one. -->", "",
               "Coffre reads one TOML file (`coffre init` writes it; `--config FILE`, else `$COFFRE_CONFIG`, else "
               "`~/.config/coffre/coffre.toml`, or `/etc/coffre/coffre.toml` for root). A key Coffre does not know "
               "is an error naming the closest known key (exit code 2), so that a misspelt setting is never "
               "silently left at its default. The machine-readable form of this page is "
               "`schemas/config.schema.json` (JSON Schema).", "",
               "This reference is in English; the comments `coffre init` writes in the file are in the language it "
               "runs in (French under a French locale).", ""]

        def table_rows(keys: list[Key]) -> list[str]:
            rows = ["| Key | Type | Default | Allowed | Description |", "|---|---|---|---|---|"]
            for k in keys:
                cells = [f"`{k.name}`", _TYPE_NAMES[k.type], _shown_default(k), _allowed(k), k.description()]
                rows.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
            return rows

        out += ["## Top level", ""] + table_rows([k for k in KEYS if k.table is None]) + [""]
        for table, (describe, needed) in TABLES.items():
            out += [f"## [{table}]", "", describe() + (" Required." if needed else " Optional."), ""]
            out += table_rows([k for k in KEYS if k.table == table]) + [""]
        out += ["## A commented example", "", "```toml", render_toml(EXAMPLE).rstrip("\n"), "```", ""]
        return "\n".join(out)


class _in_english:
    """Renders in English whatever this process speaks (the published files are English)."""

    def __enter__(self):
        from pipeline import i18n

        self.was = i18n.language()
        i18n.set_language("en")

    def __exit__(self, *exc):
        from pipeline import i18n

        i18n.set_language(self.was)


def generated() -> dict[Path, str]:
    return {SCHEMA_FILE: json_schema_text(), REFERENCE_FILE: reference_markdown()}


def main(argv: list[str]) -> int:
    stale = []
    for path, text in generated().items():
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        stale.append(path)
        if "--check" not in argv:
            path.write_text(text, encoding="utf-8")
    verb = "is not up to date" if "--check" in argv else "rewritten"
    for path in stale:
        print(f"{path.relative_to(ROOT)} {verb}")
    return 1 if stale and "--check" in argv else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
