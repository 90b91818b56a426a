"""Where the configuration is when --config is not given: COFFRE_CONFIG, then the user's file, then the system's."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

from pipeline.errors import UsageError
from pipeline.i18n import _

ENV = "COFFRE_CONFIG"
SYSTEM = Path("/etc/coffre/coffre.toml")


def xdg_config_home(env: Mapping[str, str]) -> Path:
    """$XDG_CONFIG_HOME, by default ~/.config."""
    base = env.get("XDG_CONFIG_HOME") or ""
    if not os.path.isabs(base):  # the XDG spec: a relative value is invalid and ignored
        base = os.path.join(env.get("HOME") or os.path.expanduser("~"), ".config")
    return Path(base)


def user_path(env: Mapping[str, str]) -> Path:
    """$XDG_CONFIG_HOME/coffre/coffre.toml, by default ~/.config/coffre/coffre.toml."""
    return xdg_config_home(env) / "coffre" / "coffre.toml"


def places(uid: int, env: Mapping[str, str], system: Path = SYSTEM) -> list[Path]:
    """The files looked at, in order. Root looks only at the system's: what root schedules must not hang on a HOME."""
    return [system] if uid == 0 else [user_path(env), system]


def resolve(given: str | None, env: Mapping[str, str] | None = None, uid: int | None = None,
            system: Path = SYSTEM) -> Path:
    """--config FILE, else $COFFRE_CONFIG, else the first of places() that exists; none: one sentence, exit 2."""
    env = os.environ if env is None else env
    named = _named(given, env)
    if named:
        return named  # named on purpose: a missing file is said by config.load, never passed over for another
    looked = places(_uid(uid), env, system)
    for p in looked:
        if p.is_file():
            return p
    raise UsageError(_("No configuration found: no --config, no {variable}, and no {files}; create one with "
                       "`coffre init` (or give --config FILE).").format(variable=ENV,
                                                                       files=_(" nor ").join(map(str, looked))))


def init_target(given: str | None, env: Mapping[str, str] | None = None, uid: int | None = None,
                system: Path = SYSTEM) -> Path:
    """Where `coffre init` writes: --config, else $COFFRE_CONFIG, else the system's file for root, the user's for others."""
    env = os.environ if env is None else env
    return _named(given, env) or (system if _uid(uid) == 0 else user_path(env))


def _named(given: str | None, env: Mapping[str, str]) -> Path | None:
    value = given or env.get(ENV)  # an empty COFFRE_CONFIG counts as unset
    return Path(value) if value else None


def _uid(uid: int | None) -> int:
    if uid is not None:
        return uid
    return os.geteuid() if hasattr(os, "geteuid") else 1  # Windows has no root: the user's file
