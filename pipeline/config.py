"""The store's TOML configuration: read, checked field by field, and written."""

from __future__ import annotations

import difflib
import os
import shlex
import tomllib
import urllib.parse
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import minisign

from pipeline import config_schema as schema
from pipeline import shop
from pipeline.config_schema import toml_value
from pipeline.errors import UsageError
from pipeline.i18n import _
from pipeline.retention.policy import LEGAL_YEARS, Rules
from pipeline.system_errors import error_words

FORMAT = 1
ROLES = schema.ROLES  # where a copy lives: in the shop, or away from it (a fire, a theft)
# Every key, its type, default and range: pipeline/config_schema.py, the one description of the file.
TABLE_KEYS = schema.TABLE_KEYS
TOP_LEVEL = schema.TOP_LEVEL

@dataclass
class Config:
    path: Path
    store_id: str
    source: str  # "sqlite:/abs/path.db", "postgresql://user@host:port/db", "mariadb://user@host:port/db"
    destinations: list[str]
    recipients: list[str]
    signing_public_key: str  # base64 minisign public key, the one verify trusts
    signing_secret_key_file: Path
    signing_public_key_file: Path
    state_dir: Path
    scratch_dir: Path | None = None
    # zstd level of the snapshot's blocks (pack/blocks.py: an evening run compresses only the few that changed).
    compression_level: int = 3
    store_format: int = 2  # 2: runs share content-addressed blocks (pipeline/pack/shared.py); 1: each run whole
    reread_days: int = 30  # format 2: a held block is read again on copies but the first once in so many days
    allow_same_disk: bool = False
    # Seconds a snapshot waits for a lock the till holds on its database before the run gives up (exit 3).
    source_lock_wait: int = 60
    source_stall_timeout: int = 600
    journals_enabled: bool = True
    journals_mapping: str = "reference-pos"
    journals_timezone: str = "Europe/Paris"  # the shop's: its business day is the local date there
    chain_secret_file: Path | None = None  # the till's sealing secret (pipeline/journals/secret.py): read, never kept
    shop: dict = field(default_factory=dict)  # who the inspector is dealing with (pipeline/shop.py)
    roles: dict = field(default_factory=dict)  # destination spec -> role, as written in the config
    retention: Rules = field(default_factory=Rules)
    prune_after_archive: bool = False
    below_legal_accepted: bool = False  # legal_years under the law's six, accepted in writing
    # status warns when a copy's medium will be full within this many evenings at the current growth
    warn_evenings: int = 14
    # [hooks], checked: on_success/on_failure/on_findings as argv lists, ping_url, ping_start, timeout (pipeline/alerts).
    hooks: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)

    def role(self, spec: str) -> str:
        """A copy's role; unsaid, a cloud remote is off-site and a folder on-site (a mounted share may be either:
        the config says)."""
        return self.roles.get(spec) or ("off-site" if spec.startswith("rclone:") else "on-site")

    def to_toml(self) -> dict:
        base = self.path.parent
        doc = {
            "format": FORMAT,
            "store_id": self.store_id,
            "source": self.source,
            "destinations": [{"to": d, "role": self.roles[d]} if d in self.roles else d for d in self.destinations],
            "encryption": {"recipients": list(self.recipients)},
            "signing": {
                "public_key": self.signing_public_key,
                "secret_key_file": _relative(self.signing_secret_key_file, base),
                "public_key_file": _relative(self.signing_public_key_file, base),
            },
            "state": {"dir": _relative(self.state_dir, base)},
            "archive": {"compression_level": self.compression_level, "allow_same_disk": self.allow_same_disk,
                        "source_lock_wait": self.source_lock_wait, "source_stall_timeout": self.source_stall_timeout},
            "journals": {"enabled": self.journals_enabled,
                         "mapping": (_relative(Path(self.journals_mapping), base)
                                     if self.journals_mapping.endswith(".json") else self.journals_mapping),
                         "timezone": self.journals_timezone},
        }
        if self.chain_secret_file is not None:
            doc["journals"]["chain_secret_file"] = _relative(self.chain_secret_file, base)
        if self.store_format != Config.store_format:
            doc["archive"]["store_format"] = self.store_format
        if self.reread_days != Config.reread_days:
            doc["archive"]["reread_days"] = self.reread_days
        if self.scratch_dir is not None:
            doc["archive"]["scratch_dir"] = str(self.scratch_dir)
        if self.retention != Rules() or self.prune_after_archive or self.below_legal_accepted:
            doc["retention"] = dict(self.retention.to_json(), after_archive=self.prune_after_archive,
                                    below_legal_accepted=self.below_legal_accepted)
        if self.warn_evenings != Config.warn_evenings:
            doc["status"] = {"warn_evenings": self.warn_evenings}
        if self.shop:
            doc["shop"] = dict(self.shop)
        if self.hooks:
            doc["hooks"] = dict(self.hooks)
        return doc

def _relative(path: Path, base: Path) -> str:
    try:
        return str(path.relative_to(base))
    except ValueError:
        return str(path)

def save(cfg: Config) -> None:
    """Writes the config, a comment above each key, through a temporary name so a crash never leaves half a file."""
    tmp = cfg.path.with_name(cfg.path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(schema.render_toml(cfg.to_toml()).encode("utf-8"))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, cfg.path)

def load(path: str | os.PathLike) -> Config:
    path = Path(path).absolute()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise UsageError(_("The configuration file {path} does not exist (create it with `coffre init`).")
                         .format(path=path))
    except OSError as err:
        raise UsageError(_("The configuration file {path} cannot be read: {reason}.").format(path=path,
                                                                                            reason=error_words(err)))
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise UsageError(_("The configuration file {path} is not valid TOML ({error}).").format(path=path, error=err))
    unknown = sorted(set(doc) - set(TOP_LEVEL))
    if unknown:
        close = difflib.get_close_matches(unknown[0], TOP_LEVEL, n=1)
        if close:
            raise UsageError(_("In {path}, `{key}` is not a key Coffre knows (did you mean `{close}`?).")
                             .format(path=path, key=unknown[0], close=close[0]))
        raise UsageError(_("In {path}, `{key}` is not a key Coffre knows; known: {known}.")
                         .format(path=path, key=unknown[0], known=", ".join(TOP_LEVEL)))
    for table in schema.TABLES:
        if table in doc and not isinstance(doc[table], dict):
            raise UsageError(_("In {path}, `{table}` must be a table ([{table}]).").format(path=path, table=table))
    for table, known in TABLE_KEYS.items():
        unknown = sorted(set(doc.get(table) or {}) - set(known))
        if unknown:
            # A misspelt key is a setting silently left at its default (a time zone, a lock wait): refused.
            close = difflib.get_close_matches(unknown[0], known, n=1)
            if close:
                raise UsageError(_("In {path}, [{table}] has an unknown key {key} (did you mean {close}?).")
                                 .format(path=path, table=table, key=repr(unknown[0]), close=repr(close[0])))
            raise UsageError(_("In {path}, [{table}] has an unknown key {key}; known: {known}.")
                             .format(path=path, table=table, key=repr(unknown[0]), known=", ".join(known)))
    r = _Reader(doc, path)
    base = path.parent
    fmt = r._get("format")
    if isinstance(fmt, bool) or fmt != FORMAT:
        raise UsageError(_("In {path}, `format` is {format}: this Coffre reads format {known} only (a newer Coffre "
                           "wrote this file?).").format(path=path, format=toml_value(fmt), known=FORMAT))
    cfg = Config(
        path=path,
        store_id=r.text("store_id", pattern_safe=True),
        source=r.text("source"),
        destinations=[],
        recipients=r.text_list("encryption.recipients", allow_empty=False),
        signing_public_key=r.text("signing.public_key"),
        signing_secret_key_file=base / r.text("signing.secret_key_file"),
        signing_public_key_file=base / r.text("signing.public_key_file"),
        state_dir=base / r.text("state.dir"),
        scratch_dir=(Path(s) if (s := r.text("archive.scratch_dir")) else None),
        compression_level=r.integer("archive.compression_level"),
        store_format=r.integer("archive.store_format"),
        reread_days=r.integer("archive.reread_days"),
        allow_same_disk=r.boolean("archive.allow_same_disk"),
        source_lock_wait=r.integer("archive.source_lock_wait"),
        source_stall_timeout=r.integer("archive.source_stall_timeout"),
        journals_enabled=r.boolean("journals.enabled"),
        journals_mapping=_mapping(r.text("journals.mapping"), base),
        chain_secret_file=(base / s if (s := r.text("journals.chain_secret_file")) else None),
        journals_timezone=r.text("journals.timezone"),
    )
    cfg.destinations, cfg.roles = _destinations(doc.get("destinations", _MISSING), path)
    cfg.retention, cfg.prune_after_archive, cfg.below_legal_accepted = _retention(r, path)
    cfg.warn_evenings = r.integer("status.warn_evenings")
    shop_table = doc.get("shop", {})
    if not isinstance(shop_table, dict) or not all(isinstance(v, str) for v in shop_table.values()):
        raise UsageError(_("In {path}, [shop] must be a table of text values (name, siret, address, ...).")
                         .format(path=path))
    try:
        cfg.shop = shop.normalised(shop_table)
    except UsageError as err:
        raise UsageError(_("In {path}, [shop]: {error}").format(path=path, error=err))
    cfg.hooks = _hooks(r, doc.get("hooks", {}))
    try:
        ZoneInfo(cfg.journals_timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(_("In {path}, journals.timezone {timezone} is not a time zone (for example Europe/Paris, "
                           "America/Martinique, Indian/Reunion).").format(path=path,
                                                                           timezone=repr(cfg.journals_timezone)))
    for rec in cfg.recipients:
        if rec.strip().upper().startswith("AGE-SECRET-KEY-"):  # never echo a secret into a log
            raise UsageError(_("In {path}, encryption.recipients holds an age SECRET key: put its public recipient "
                               "(age1…) there, and keep the identity off this machine.").format(path=path))
        if not rec.startswith("age1"):
            raise UsageError(_("In {path}, encryption.recipients holds {recipient}, which is not an age X25519 "
                               "recipient (age1…).").format(path=path, recipient=repr(rec)))
    try:
        minisign.PublicKey.from_base64(cfg.signing_public_key)
    except Exception:
        raise UsageError(_("In {path}, `signing.public_key` is not a minisign public key (see {file}).")
                         .format(path=path, file=cfg.signing_public_key_file))
    return cfg


HOOK_COMMANDS = tuple(k.name for k in schema.KEYS if k.table == "hooks" and k.type == "command")
HOOK_KEYS = TABLE_KEYS["hooks"]
HOOK_TIMEOUT = schema.key("hooks.timeout").default  # seconds a hook command may take before it is stopped


def _hooks(r: "_Reader", table) -> dict:
    """[hooks]: commands are split like a shell would (shlex) but never run through one."""
    if not isinstance(table, dict):
        raise UsageError(_("In {path}, `{table}` must be a table ([{table}]).").format(path=r.path, table="hooks"))
    hooks: dict = {}
    for key in HOOK_COMMANDS:
        value = table.get(key)
        if value is None:
            continue
        if isinstance(value, str):
            try:
                value = shlex.split(value)
            except ValueError as err:
                raise UsageError(_("In {path}, `{key}` must be a command line that splits into words ({error}).")
                                 .format(path=r.path, key=f"hooks.{key}", error=err))
        if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
            raise UsageError(_("In {path}, `{key}` must be a command line (a string, or a list of strings).")
                             .format(path=r.path, key=f"hooks.{key}"))
        hooks[key] = value
    if "ping_url" in table:
        url = r.text("hooks.ping_url")
        parts = urllib.parse.urlsplit(url) if url.isascii() and url.isprintable() and " " not in url else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise UsageError(_("In {path}, `{key}` must be an http:// or https:// address.")
                             .format(path=r.path, key="hooks.ping_url"))
        hooks["ping_url"] = url
    if "ping_start" in table:
        hooks["ping_start"] = r.boolean("hooks.ping_start")
    if "timeout" in table:
        hooks["timeout"] = r.integer("hooks.timeout")
    return hooks


_MISSING = object()
_RETENTION_KEYS = TABLE_KEYS["retention"]


def _mapping(value: str, base: Path) -> str:
    """A shipped mapping's name as it is; a mapping file's path from the config's folder, as other paths are."""
    return str(base / value) if value.endswith(".json") else value


def _destinations(value, path: Path) -> tuple[list[str], dict[str, str]]:
    """`destinations`: each a path or rclone:REMOTE:PATH, or a table {to = ..., role = "on-site" | "off-site"}."""
    if value is _MISSING:
        raise UsageError(_("The configuration file {path} has no `{key}`.").format(path=path, key="destinations"))
    wrong = UsageError(_("In {path}, `destinations` must be a list of destinations, each a path, rclone:REMOTE:PATH, "
                         "or a table {{ to = \"...\", role = \"on-site\" or \"off-site\" }}.").format(path=path))
    if not isinstance(value, list):
        raise wrong
    specs, roles = [], {}
    for entry in value:
        if isinstance(entry, dict):
            unknown = sorted(set(entry) - set(schema.DESTINATION_KEYS))
            if unknown:
                close = difflib.get_close_matches(unknown[0], schema.DESTINATION_KEYS, n=1)
                if close:
                    raise UsageError(_("In {path}, a destination has an unknown key {key} (did you mean {close}?).")
                                     .format(path=path, key=repr(unknown[0]), close=repr(close[0])))
                raise UsageError(_("In {path}, a destination has an unknown key {key}; known: to, role.")
                                 .format(path=path, key=repr(unknown[0])))
            spec, role = entry.get("to"), entry.get("role")
            if role is not None and role not in ROLES:
                raise UsageError(_("In {path}, the role of destination {destination} must be \"on-site\" or "
                                   "\"off-site\", not {role}.").format(path=path, destination=repr(spec),
                                                                      role=repr(role)))
            if role is not None and isinstance(spec, str):
                roles[spec] = role
        else:
            spec = entry
        if not isinstance(spec, str) or not spec:
            raise wrong
        specs.append(spec)
    return specs, roles


def _retention(r: "_Reader", path: Path) -> tuple[Rules, bool, bool]:
    counts = {k: r.integer(f"retention.{k}", low=0)
              for k in ("keep_last", "keep_daily", "keep_weekly", "keep_monthly", "keep_yearly")}
    years = r.integer("retention.legal_years")
    start = r.text("retention.fiscal_year_start")
    month, sep, day = start.partition("-")
    if not (sep and start.isascii() and month.isdigit() and day.isdigit() and len(month) == len(day) == 2
            and _a_day(int(month), int(day))):
        raise UsageError(_("In {path}, `retention.fiscal_year_start` must be MM-DD (for example 01-01 or 07-01).")
                         .format(path=path))
    # legal_years below the law's six is refused by prune (pipeline/prune.py) unless accepted here in writing or
    # with `prune --i-know`: refused here, no command could run, and --i-know could never be given.
    accepted = r.boolean("retention.below_legal_accepted")
    if counts["keep_last"] < 1:
        raise UsageError(_("In {path}, `retention.keep_last` must be at least 1: the newest run is always kept.")
                         .format(path=path))
    after = r.boolean("retention.after_archive")
    if after and years < LEGAL_YEARS and not accepted:
        # Unattended, nobody could give --i-know: every evening's prune would be refused, unseen.
        raise UsageError(_("In {path}, `retention.after_archive` prunes every evening with legal_years = {years}, "
                           "below the {legal} years French law keeps a till's data: set below_legal_accepted = true "
                           "only if you know why.").format(path=path, years=years, legal=LEGAL_YEARS))
    return Rules(**counts, legal_years=years, fiscal_year_start=start), after, accepted


def _a_day(month: int, day: int) -> bool:
    try:
        date(2000, month, day)  # a leap year: 29 February may start a fiscal year
    except ValueError:
        return False
    return True


class _Reader:
    """Reads dotted keys, their defaults and ranges from the schema, and turns each wrong type into one sentence
    naming the key."""

    def __init__(self, doc: dict, path: Path):
        self.doc, self.path = doc, path

    def _get(self, key: str):
        default = schema.key(key).default
        default = _MISSING if default is schema.REQUIRED else default
        node = self.doc
        parts = key.split(".")
        for i, part in enumerate(parts):
            if not isinstance(node, dict):  # a table written as a value: never fall back to defaults silently
                table = ".".join(parts[:i])
                raise UsageError(_("In {path}, `{table}` must be a table ([{table}]).").format(path=self.path,
                                                                                              table=table))
            if part not in node:
                if default is _MISSING:
                    raise UsageError(_("The configuration file {path} has no `{key}`.").format(path=self.path,
                                                                                               key=key))
                return default
            node = node[part]
        return node

    def text(self, key: str, pattern_safe: bool = False) -> str:
        value = self._get(key)
        spec = schema.key(key)
        if not isinstance(value, str) or (spec.required and not value):
            raise UsageError(_("In {path}, `{key}` must be a non-empty string.").format(path=self.path, key=key))
        if spec.choices and value not in spec.choices and spec.or_file and not value.endswith(spec.or_file):
            raise UsageError(_("In {path}, `{key}` is {value}: Coffre knows {known}, or the path of a file ending in "
                               "{suffix}.").format(path=self.path, key=key, value=toml_value(value),
                                                   known=", ".join(toml_value(c) for c in spec.choices),
                                                   suffix=spec.or_file))
        if spec.choices and value not in spec.choices and not spec.or_file:
            # Refused now: taken as it is, every evening's run would stop on it while `coffre status` says all is well.
            raise UsageError(_("In {path}, `{key}` is {value}: Coffre knows {known}.").format(
                path=self.path, key=key, value=toml_value(value),
                known=", ".join(toml_value(c) for c in spec.choices)))
        if pattern_safe and not _safe_name(value):
            raise UsageError(_("In {path}, `{key}` must be letters, digits, '.', '_' or '-' only.")
                             .format(path=self.path, key=key))
        return value

    def text_list(self, key: str, allow_empty: bool = True) -> list[str]:
        value = self._get(key)
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise UsageError(_("In {path}, `{key}` must be a list of strings.").format(path=self.path, key=key))
        if not allow_empty and not value:
            raise UsageError(_("In {path}, `{key}` must be a list with at least one entry.").format(path=self.path,
                                                                                                  key=key))
        return value

    def integer(self, key: str, low: int | None = None) -> int:
        """A whole number in the schema's range (`low` widens it, for a key with a sentence of its own below)."""
        spec = schema.key(key)
        value = self._get(key)
        low = spec.low if low is None else low
        high = spec.high
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise UsageError(_("In {path}, `{key}` must be a whole number from {low} to {high}.")
                             .format(path=self.path, key=key, low=low, high=high))
        return value

    def boolean(self, key: str) -> bool:
        value = self._get(key)
        if not isinstance(value, bool):
            raise UsageError(_("In {path}, `{key}` must be true or false.").format(path=self.path, key=key))
        return value


def _safe_name(value: str) -> bool:
    return 0 < len(value) <= 64 and all(c.isascii() and (c.isalnum() or c in "._-") for c in value) and value[0] not in ".-"
