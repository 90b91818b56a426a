"""Sets up a store: config, signing key pair (public key pinned), and the age identity kept elsewhere.

`init` refuses what `archive` would refuse, before anything is written: a destination folder that is not there, a
destination on the database's own disk, a source that is not a SQLite database; and it refuses to write the identity
(the only key that decrypts the copies) onto the till's own disk unless told it is known (`--i-know`)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from pipeline.config import Config, _safe_name, save
from pipeline.destinations import open_destination
from pipeline.errors import UsageError
from pipeline.i18n import _
from pipeline.keys import age_identity, signing
from pipeline.snapshot import open_source
from pipeline.system_errors import error_words

SQLITE_HEADER = b"SQLite format 3\0"


def default_store_id() -> str:
    name = "".join(c if c.isalnum() or c in "._-" else "-" for c in socket.gethostname())[:64].strip(".-")
    return name or "store"


def init_store(config_path: Path, source: str, destinations: list[str], identity_out: Path,
               store_id: str | None = None, passphrase: str | None = None,
               shop: dict | None = None, allow_same_disk: bool = False, i_know: bool = False,
               mapping: str = "reference-pos", chain_secret_file: Path | None = None) -> tuple[Config, str]:
    """Returns the written config and the age recipient. Writes nothing if any argument is wrong."""
    config_path = Path(config_path).absolute()
    identity_out = Path(identity_out).absolute()
    store_id = store_id or default_store_id()
    check_store_id(store_id)
    source, src_dev = check_source(source)
    seen: dict[str, str] = {}
    for d in destinations:
        check_destination(d, src_dev, allow_same_disk, seen)
    check_identity_out(identity_out, src_dev, i_know)
    check_config_target(config_path)
    mapping = check_mapping(mapping, source)
    if chain_secret_file is not None:
        chain_secret_file = check_chain_secret_file(chain_secret_file)
    stem = config_path.stem
    secret_file = config_path.with_name(f"{stem}-signing.key")
    public_file = config_path.with_name(f"{stem}-signing.pub")
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
        journals_mapping=mapping,
        chain_secret_file=chain_secret_file,
    )
    save(cfg)
    return cfg, recipient


def check_mapping(mapping: str, source: str | None = None) -> str:
    """A shipped mapping's name, or a mapping file's absolute path; refuses one that cannot be read or used, or that
    reads another kind of database than the source (Odoo's tables are on PostgreSQL, Dolibarr's on MariaDB)."""
    from pipeline.journals.mapping import load_mapping
    from pipeline.snapshot import kind_of_spec

    if mapping.endswith(".json"):
        mapping = str(Path(mapping).expanduser().absolute())
    kinds = load_mapping(mapping).doc.get("source_kinds")
    kind = kind_of_spec(source) if source else None
    if kind and isinstance(kinds, list) and kinds and kind not in kinds:
        raise UsageError(_("The mapping {mapping} reads a till on {kinds}, not on {kind}: give the till's own "
                           "database, or another --mapping.").format(mapping=mapping, kinds=", ".join(kinds),
                                                                     kind=kind))
    return mapping


def check_chain_secret_file(path: Path) -> Path:
    """The till's secret file, absolute, read once to prove it can be (its content is not kept)."""
    from pipeline.journals.secret import secret_file

    path = Path(path).expanduser().absolute()
    secret_file(path)
    return path


def check_config_target(config_path: Path) -> None:
    """The configuration and its signing key pair are new files: init never overwrites one."""
    config_path = Path(config_path).absolute()
    stem = config_path.stem
    for p in (config_path, config_path.with_name(f"{stem}-signing.key"), config_path.with_name(f"{stem}-signing.pub")):
        if p.exists():
            raise UsageError(_("{path} already exists; coffre init never overwrites a file.").format(path=p))


def check_store_id(store_id: str) -> None:
    if not _safe_name(store_id):
        raise UsageError(_("The store id {store_id} must be letters, digits, '.', '_' or '-' (at most 64).")
                         .format(store_id=repr(store_id)))


def check_source(source: str) -> tuple[str, int | None]:
    """The source as the config will hold it (an absolute path) and the device of its database; refuses what archive's
    snapshot could not read."""
    spec_kind, _sep, spec_path = source.partition(":")
    if spec_kind == "sqlite" and spec_path:
        source = f"sqlite:{Path(spec_path).expanduser().absolute()}"
    opened = open_source(source)  # refuses a malformed source before anything is written
    database = getattr(opened, "path", None)
    if database is not None:
        _check_database(Path(database))
    else:
        opened.check()  # a server: reached, logged into, and its tables readable, or one sentence (exit 3)
    return source, opened.device()


def check_destination(d: str, src_dev: int | None, allow_same_disk: bool = False,
                      seen: dict[str, str] | None = None, again: bool = False) -> None:
    """Refuses a destination archive would refuse; `seen` (normalised -> as given) catches one folder given twice and
    records this one. `again`: the sentence asks for another answer (a prompt) rather than another run."""
    dest = open_destination(d)
    where = dest.normalised()
    if seen is not None:
        if where in seen:
            raise UsageError(_("The destinations {first} and {second} are the same folder: give each copy once.")
                             .format(first=seen[where], second=d))
    if not d.startswith("rclone:"):  # a remote is checked by the first archive: init may run before the network is up
        folder = Path(d).expanduser().absolute()
        if not folder.is_dir():
            if again:
                raise UsageError(_("The folder {path} does not exist: plug in the USB key or disk (or create the "
                                   "folder), then give it again.").format(path=folder))
            raise UsageError(_("The destination folder {path} does not exist: plug in the USB key or disk (or create "
                               "the folder), then run `coffre init` again.").format(path=folder))
        if src_dev is not None and dest.device() == src_dev and not allow_same_disk:
            raise UsageError(_("The destination {path} is on the same disk as the till database: a copy there dies "
                               "with that disk, and `coffre archive` refuses it (experts: --allow-same-disk).")
                             .format(path=folder))
    if seen is not None:
        seen[where] = d


def check_identity_out(identity_out: Path, src_dev: int | None, i_know: bool = False) -> None:
    identity_out = Path(identity_out).expanduser().absolute()
    if src_dev is not None and _device(identity_out.parent) == src_dev and not i_know:
        raise UsageError(_("The identity file {path} would be written on the till database's own disk: write it "
                           "to a USB key you keep elsewhere (or give --i-know, and move it off this machine).")
                         .format(path=identity_out))
    if identity_out.exists():
        raise UsageError(_("{path} already exists; coffre init never overwrites a file.").format(path=identity_out))


def _check_database(path: Path) -> None:
    """The source is a SQLite database that can be read: what archive's snapshot needs."""
    if not path.exists():
        raise UsageError(_("The till database {path} does not exist.").format(path=path))
    if not path.is_file():
        raise UsageError(_("The till database {path} is not a file.").format(path=path))
    try:
        with open(path, "rb") as f:
            header = f.read(len(SQLITE_HEADER))
    except OSError as err:
        raise UsageError(_("The till database {path} cannot be read: {reason}.").format(path=path,
                                                                                      reason=error_words(err)))
    if header != SQLITE_HEADER:
        raise UsageError(_("{path} is not a SQLite database: give the till's database file as --source "
                           "sqlite:PATH.").format(path=path))


def _device(path: Path) -> int | None:
    """The device of a folder, or of its nearest existing parent (init creates the missing ones)."""
    p = path
    while not p.exists() and p != p.parent:
        p = p.parent
    try:
        return os.stat(p).st_dev
    except OSError:
        return None


def _normalise_destination(spec: str) -> str:
    return spec if spec.startswith("rclone:") else str(Path(spec).expanduser().absolute())
