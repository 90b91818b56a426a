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
import tomli_w

from pipeline import shop
from pipeline.errors import UsageError
from pipeline.retention.policy import LEGAL_YEARS, Rules

FORMAT = 1
ROLES = ("on-site", "off-site")
TABLE_KEYS = {"encryption": ("recipients",), "signing": ("public_key", "secret_key_file", "public_key_file"),
              "state": ("dir",), "archive": ("compression_level", "allow_same_disk", "source_lock_wait", "scratch_dir"),
              "journals": ("enabled", "mapping", "timezone"), "status": ("warn_evenings",)}
TOP_LEVEL = ("format", "store_id", "source", "destinations", "encryption", "signing", "state", "archive", "journals",
             "shop", "retention", "status", "hooks")  # where a copy lives: in the shop, or away from it (a fire, a theft)


@dataclass
class Config:
    path: Path
    store_id: str
    source: str  # "sqlite:/abs/path.db"
    destinations: list[str]
    recipients: list[str]
    signing_public_key: str  # base64 minisign public key, the one verify trusts
    signing_secret_key_file: Path
    signing_public_key_file: Path
    state_dir: Path
    scratch_dir: Path | None = None
    # zstd level of the snapshot's blocks (pack/blocks.py: an evening run compresses only the few that changed).
    compression_level: int = 3
    allow_same_disk: bool = False
    # Seconds a snapshot waits for a lock the till holds on its database before the run gives up (exit 3).
    source_lock_wait: int = 60
    journals_enabled: bool = True
    journals_mapping: str = "reference-pos"
    journals_timezone: str = "Europe/Paris"  # the shop's: its business day is the local date there
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
                        "source_lock_wait": self.source_lock_wait},
            "journals": {"enabled": self.journals_enabled, "mapping": self.journals_mapping,
                         "timezone": self.journals_timezone},
        }
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
    """Writes the config through a temporary name so a crash never leaves half a file."""
    tmp = cfg.path.with_name(cfg.path.name + ".tmp")
    with open(tmp, "wb") as f:
        tomli_w.dump(cfg.to_toml(), f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, cfg.path)


def load(path: str | os.PathLike) -> Config:
    path = Path(path).absolute()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"The configuration file {path} does not exist (create it with `coffre init`).")
    except OSError as err:
        raise UsageError(f"The configuration file {path} cannot be read: {err.strerror}.")
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise UsageError(f"The configuration file {path} is not valid TOML ({err}).")
    unknown = sorted(set(doc) - set(TOP_LEVEL))
    if unknown:
        close = difflib.get_close_matches(unknown[0], TOP_LEVEL, n=1)
        raise UsageError(f"In {path}, `{unknown[0]}` is not a key Coffre knows"
                         + (f" (did you mean `{close[0]}`?)" if close else f"; known: {', '.join(TOP_LEVEL)}") + ".")
    for table in ("encryption", "signing", "state", "archive", "journals", "shop", "retention", "status", "hooks"):
        if table in doc and not isinstance(doc[table], dict):
            raise UsageError(f"In {path}, `{table}` must be a table ([{table}]).")
    for table, known in {**TABLE_KEYS, "shop": shop.FIELDS, "hooks": HOOK_KEYS, "retention": _RETENTION_KEYS}.items():
        unknown = sorted(set(doc.get(table) or {}) - set(known))
        if unknown:
            # A misspelt key is a setting silently left at its default (a time zone, a lock wait): refused.
            close = difflib.get_close_matches(unknown[0], known, n=1)
            raise UsageError(f"In {path}, [{table}] has an unknown key {unknown[0]!r}"
                             + (f" (did you mean {close[0]!r}?)" if close else f"; known: {', '.join(known)}") + ".")
    r = _Reader(doc, path)
    base = path.parent
    cfg = Config(
        path=path,
        store_id=r.text("store_id", pattern_safe=True),
        source=r.text("source"),
        destinations=[],
        recipients=r.text_list("encryption.recipients", allow_empty=False),
        signing_public_key=r.text("signing.public_key"),
        signing_secret_key_file=base / r.text("signing.secret_key_file"),
        signing_public_key_file=base / r.text("signing.public_key_file"),
        state_dir=base / r.text("state.dir", default="state"),
        scratch_dir=(Path(s) if (s := r.text("archive.scratch_dir", default="")) else None),
        compression_level=r.integer("archive.compression_level", default=Config.compression_level, low=1, high=19),
        allow_same_disk=r.boolean("archive.allow_same_disk", default=False),
        source_lock_wait=r.integer("archive.source_lock_wait", default=Config.source_lock_wait, low=0, high=3600),
        journals_enabled=r.boolean("journals.enabled", default=True),
        journals_mapping=r.text("journals.mapping", default="reference-pos"),
        journals_timezone=r.text("journals.timezone", default=Config.journals_timezone),
    )
    cfg.destinations, cfg.roles = _destinations(doc.get("destinations", _MISSING), path)
    cfg.retention, cfg.prune_after_archive, cfg.below_legal_accepted = _retention(r, path)
    cfg.warn_evenings = r.integer("status.warn_evenings", default=Config.warn_evenings, low=1, high=365)
    shop_table = doc.get("shop", {})
    if not isinstance(shop_table, dict) or not all(isinstance(v, str) for v in shop_table.values()):
        raise UsageError(f"In {path}, [shop] must be a table of text values (name, siret, address, ...).")
    try:
        cfg.shop = shop.normalised(shop_table)
    except UsageError as err:
        raise UsageError(f"In {path}, [shop]: {err}")
    cfg.hooks = _hooks(r, doc.get("hooks", {}))
    try:
        ZoneInfo(cfg.journals_timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(f"In {path}, journals.timezone {cfg.journals_timezone!r} is not a time zone "
                         "(for example Europe/Paris, America/Martinique, Indian/Reunion).")
    for rec in cfg.recipients:
        if rec.strip().upper().startswith("AGE-SECRET-KEY-"):  # never echo a secret into a log
            raise UsageError(f"In {path}, encryption.recipients holds an age SECRET key: put its public recipient "
                             "(age1…) there, and keep the identity off this machine.")
        if not rec.startswith("age1"):
            raise UsageError(f"In {path}, encryption.recipients holds {rec!r}, which is not an age X25519 recipient (age1…).")
    try:
        minisign.PublicKey.from_base64(cfg.signing_public_key)
    except Exception:
        raise UsageError(f"In {path}, `signing.public_key` is not a minisign public key (see {cfg.signing_public_key_file}).")
    return cfg


HOOK_COMMANDS = ("on_success", "on_failure", "on_findings")
HOOK_KEYS = HOOK_COMMANDS + ("ping_url", "ping_start", "timeout")
HOOK_TIMEOUT = 60  # seconds a hook command may take before it is stopped


def _hooks(r: "_Reader", table) -> dict:
    """[hooks]: commands are split like a shell would (shlex) but never run through one."""
    if not isinstance(table, dict):
        raise UsageError(f"In {r.path}, `hooks` must be a table ([hooks]).")
    hooks: dict = {}
    for key in HOOK_COMMANDS:
        value = table.get(key)
        if value is None:
            continue
        if isinstance(value, str):
            try:
                value = shlex.split(value)
            except ValueError as err:
                raise r._wrong(f"hooks.{key}", f"a command line that splits into words ({err})")
        if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
            raise r._wrong(f"hooks.{key}", "a command line (a string, or a list of strings)")
        hooks[key] = value
    if "ping_url" in table:
        url = r.text("hooks.ping_url")
        parts = urllib.parse.urlsplit(url) if url.isascii() and url.isprintable() and " " not in url else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise r._wrong("hooks.ping_url", "an http:// or https:// address")
        hooks["ping_url"] = url
    if "ping_start" in table:
        hooks["ping_start"] = r.boolean("hooks.ping_start", default=False)
    if "timeout" in table:
        hooks["timeout"] = r.integer("hooks.timeout", default=HOOK_TIMEOUT, low=1, high=3600)
    return hooks


_MISSING = object()
_RETENTION_KEYS = ("keep_last", "keep_daily", "keep_weekly", "keep_monthly", "keep_yearly", "legal_years",
                   "fiscal_year_start", "after_archive", "below_legal_accepted")


def _destinations(value, path: Path) -> tuple[list[str], dict[str, str]]:
    """`destinations`: each a path or rclone:REMOTE:PATH, or a table {to = ..., role = "on-site" | "off-site"}."""
    if value is _MISSING:
        raise UsageError(f"The configuration file {path} has no `destinations`.")
    wrong = UsageError(f"In {path}, `destinations` must be a list of destinations, each a path, "
                       "rclone:REMOTE:PATH, or a table { to = \"...\", role = \"on-site\" or \"off-site\" }.")
    if not isinstance(value, list):
        raise wrong
    specs, roles = [], {}
    for entry in value:
        if isinstance(entry, dict):
            unknown = sorted(set(entry) - {"to", "role"})
            if unknown:
                raise UsageError(f"In {path}, a destination has an unknown key {unknown[0]!r}; known: to, role.")
            spec, role = entry.get("to"), entry.get("role")
            if role is not None and role not in ROLES:
                raise UsageError(f"In {path}, the role of destination {spec!r} must be \"on-site\" or \"off-site\", "
                                 f"not {role!r}.")
            if role is not None and isinstance(spec, str):
                roles[spec] = role
        else:
            spec = entry
        if not isinstance(spec, str) or not spec:
            raise wrong
        specs.append(spec)
    return specs, roles


def _retention(r: "_Reader", path: Path) -> tuple[Rules, bool, bool]:
    counts = {k: r.integer(f"retention.{k}", default=getattr(Rules, k), low=0, high=100000)
              for k in ("keep_last", "keep_daily", "keep_weekly", "keep_monthly", "keep_yearly")}
    years = r.integer("retention.legal_years", default=LEGAL_YEARS, low=1, high=100)
    start = r.text("retention.fiscal_year_start", default=Rules.fiscal_year_start)
    month, sep, day = start.partition("-")
    if not (sep and start.isascii() and month.isdigit() and day.isdigit() and len(month) == len(day) == 2
            and _a_day(int(month), int(day))):
        raise UsageError(f"In {path}, `retention.fiscal_year_start` must be MM-DD (for example 01-01 or 07-01).")
    # legal_years below the law's six is refused by prune (pipeline/prune.py) unless accepted here in writing or
    # with `prune --i-know`: refused here, no command could run, and --i-know could never be given.
    accepted = r.boolean("retention.below_legal_accepted", default=False)
    if counts["keep_last"] < 1:
        raise UsageError(f"In {path}, `retention.keep_last` must be at least 1: the newest run is always kept.")
    after = r.boolean("retention.after_archive", default=False)
    if after and years < LEGAL_YEARS and not accepted:
        # Unattended, nobody could give --i-know: every evening's prune would be refused, unseen.
        raise UsageError(f"In {path}, `retention.after_archive` prunes every evening with legal_years = {years}, "
                         f"below the {LEGAL_YEARS} years French law keeps a till's data: set below_legal_accepted = "
                         "true only if you know why.")
    return Rules(**counts, legal_years=years, fiscal_year_start=start), after, accepted


def _a_day(month: int, day: int) -> bool:
    try:
        date(2000, month, day)  # a leap year: 29 February may start a fiscal year
    except ValueError:
        return False
    return True


class _Reader:
    """Reads dotted keys and turns each wrong type into one sentence naming the key."""

    def __init__(self, doc: dict, path: Path):
        self.doc, self.path = doc, path

    def _get(self, key: str, default):
        node = self.doc
        parts = key.split(".")
        for i, part in enumerate(parts):
            if not isinstance(node, dict):  # a table written as a value: never fall back to defaults silently
                table = ".".join(parts[:i])
                raise UsageError(f"In {self.path}, `{table}` must be a table ([{table}]).")
            if part not in node:
                if default is _MISSING:
                    raise UsageError(f"The configuration file {self.path} has no `{key}`.")
                return default
            node = node[part]
        return node

    def _wrong(self, key: str, want: str):
        return UsageError(f"In {self.path}, `{key}` must be {want}.")

    def text(self, key: str, default=_MISSING, pattern_safe: bool = False) -> str:
        value = self._get(key, default)
        if not isinstance(value, str) or (default is _MISSING and not value):
            raise self._wrong(key, "a non-empty string")
        if pattern_safe and not _safe_name(value):
            raise self._wrong(key, "letters, digits, '.', '_' or '-' only")
        return value

    def text_list(self, key: str, allow_empty: bool = True) -> list[str]:
        value = self._get(key, _MISSING)
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self._wrong(key, "a list of strings")
        if not allow_empty and not value:
            raise self._wrong(key, "a list with at least one entry")
        return value

    def integer(self, key: str, default: int, low: int, high: int) -> int:
        value = self._get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self._wrong(key, f"a whole number from {low} to {high}")
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self._get(key, default)
        if not isinstance(value, bool):
            raise self._wrong(key, "true or false")
        return value


def _safe_name(value: str) -> bool:
    return 0 < len(value) <= 64 and all(c.isascii() and (c.isalnum() or c in "._-") for c in value) and value[0] not in ".-"
