"""Sets up a store: config, signing key pair (public key pinned), and the age identity kept elsewhere."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from pipeline.config import Config, _safe_name, save
from pipeline.destinations import open_destination
from pipeline.errors import UsageError
from pipeline.keys import age_identity, signing
from pipeline.snapshot import open_source


def default_store_id() -> str:
    name = "".join(c if c.isalnum() or c in "._-" else "-" for c in socket.gethostname())[:64].strip(".-")
    return name or "store"


def init_store(config_path: Path, source: str, destinations: list[str], identity_out: Path,
               store_id: str | None = None, passphrase: str | None = None,
               shop: dict | None = None) -> tuple[Config, str]:
    """Returns the written config and the age recipient. Writes nothing if any argument is wrong."""
    config_path = Path(config_path).absolute()
    identity_out = Path(identity_out).absolute()
    store_id = store_id or default_store_id()
    if not _safe_name(store_id):
        raise UsageError(f"The store id {store_id!r} must be letters, digits, '.', '_' or '-' (at most 64).")
    spec_kind, _, spec_path = source.partition(":")
    if spec_kind == "sqlite" and spec_path:
        source = f"sqlite:{Path(spec_path).absolute()}"
    open_source(source)  # refuses a malformed source before anything is written
    seen: dict[str, str] = {}
    for d in destinations:
        where = open_destination(d).normalised()
        if where in seen:
            raise UsageError(f"The destinations {seen[where]} and {d} are the same folder: give each copy once.")
        seen[where] = d
    stem = config_path.stem
    secret_file = config_path.with_name(f"{stem}-signing.key")
    public_file = config_path.with_name(f"{stem}-signing.pub")
    for p in (config_path, secret_file, public_file, identity_out):
        if p.exists():
            raise UsageError(f"{p} already exists; coffre init never overwrites a file.")
    if not config_path.parent.exists():
        # A new folder is the owner's alone: it holds the signing secret key and the record of runs.
        config_path.parent.mkdir(parents=True)
        os.chmod(config_path.parent, 0o700)

    identity, recipient = age_identity.generate()
    age_identity.write_identity(identity_out, identity, recipient, passphrase)
    del identity
    public_key = signing.generate(secret_file, public_file, store_id)
    cfg = Config(
        path=config_path,
        store_id=store_id,
        source=source,
        destinations=[_normalise_destination(d) for d in destinations],
        recipients=[recipient],
        signing_public_key=public_key,
        signing_secret_key_file=secret_file,
        signing_public_key_file=public_file,
        state_dir=config_path.with_name(f"{stem}-state"),
        shop=dict(shop or {}),
    )
    save(cfg)
    return cfg, recipient


def _normalise_destination(spec: str) -> str:
    return spec if spec.startswith("rclone:") else str(Path(spec).expanduser().absolute())
