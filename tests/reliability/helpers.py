"""Shared parts of the reliability suite: real sample shops, real stores made by `coffre init`, real mounts,
forgeries signed with the store's own key, and checks that a command wrote nothing where it was not asked to."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import time
import tomllib
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import blake3
import pytest
import tomli_w

from conftest import IN_CI, Store, module_format, need_tool, run_coffre

PASSPHRASE_VAR = "COFFRE_TEST_PASSPHRASE"


def fail_or_skip(message: str):
    """A missing tool or privilege FAILS under CI=true (the suite must not go green by skipping)."""
    if IN_CI:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def make_sample_db(path: Path, days: int = 2, tickets_per_day: int = 50, seed: int = 11) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    res = run_coffre("sample-db", path, "--days", days, "--tickets-per-day", tickets_per_day, "--seed", seed)
    assert res.code == 0, res
    return path


@contextlib.contextmanager
def tmpfs(path: Path, size: str):
    """A real tmpfs mounted at `path` (root only), lazily unmounted afterwards."""
    need_tool("mount")
    need_tool("umount")
    if os.geteuid() != 0:
        fail_or_skip("mounting a tmpfs needs root")
    path.mkdir(parents=True, exist_ok=True)
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True, text=True)
    if res.returncode != 0:
        fail_or_skip(f"mount -t tmpfs is not permitted here: {res.stderr.strip()}")
    try:
        yield path
    finally:
        if os.path.ismount(path):
            subprocess.run(["umount", "-l", str(path)], capture_output=True)


@contextlib.contextmanager
def other_device_dir(anchor: Path, size: str = "1g"):
    """A folder on another device than `anchor` (the till's disk): /dev/shm, else a tmpfs of our own."""
    base = Path("/dev/shm")
    if base.is_dir() and os.access(base, os.W_OK) and os.stat(base).st_dev != os.stat(anchor).st_dev:
        d = base / f"coffre-reliability-{uuid.uuid4().hex[:8]}"
        d.mkdir()
        try:
            yield d
        finally:
            shutil.rmtree(d, ignore_errors=True)
        return
    with tmpfs(anchor / f"mnt-{uuid.uuid4().hex[:6]}", size) as mnt:
        yield mnt


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def rclone_webdav(served: Path, remote: str = "coffretest"):
    """A real `rclone serve webdav` of `served` on 127.0.0.1; yields the environment that names it as the rclone
    remote `remote` (rclone:REMOTE:PATH destinations then reach `served`/PATH)."""
    rclone = need_tool("rclone")
    for _ in range(5):
        # A port found free can be taken by another test's server before ours binds it; a bare connect would then
        # find the other server. Ours is the one that serves this folder's probe file.
        probe = served / f".probe-{uuid.uuid4().hex}"
        probe.write_text(probe.name)
        port = free_port()
        proc = subprocess.Popen([rclone, "serve", "webdav", str(served), "--addr", f"127.0.0.1:{port}"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            if _serves(proc, port, probe):
                probe.unlink()
                yield proc, {f"RCLONE_CONFIG_{remote.upper()}_TYPE": "webdav",
                             f"RCLONE_CONFIG_{remote.upper()}_URL": f"http://127.0.0.1:{port}/"}
                return
        finally:
            probe.unlink(missing_ok=True)
            proc.kill()
            proc.wait()
    pytest.fail("rclone serve webdav did not start")


def _serves(proc: subprocess.Popen, port: int, probe: Path) -> bool:
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback only, whatever the proxy settings
    deadline = time.time() + 20
    while time.time() < deadline and proc.poll() is None:
        try:
            with direct.open(f"http://127.0.0.1:{port}/{probe.name}", timeout=2) as answer:
                return answer.read().decode() == probe.name and proc.poll() is None
        except urllib.error.HTTPError:
            return False  # someone else's server answers on that port
        except OSError:
            time.sleep(0.1)
    return False


class RStore(Store):
    """A store made by the real `coffre init`, with its scratch folder kept where the test can watch it."""

    def __init__(self, base: Path, config, db, destinations, identity, store_id, passphrase=None):
        super().__init__(config, db, destinations, identity, store_id)
        self.base = base
        self.passphrase = passphrase
        self.scratch = base / "scratch"

    @property
    def cfg(self) -> dict:
        return tomllib.loads(self.config.read_text())

    @property
    def secret_key_file(self) -> Path:
        return self.config.parent / self.cfg["signing"]["secret_key_file"]

    @property
    def state_dir(self) -> Path:
        return self.config.parent / self.cfg["state"]["dir"]

    @property
    def pinned_key(self) -> str:
        return self.cfg["signing"]["public_key"]

    @property
    def recipient(self) -> str:
        return self.cfg["encryption"]["recipients"][0]

    def env(self) -> dict:
        return {PASSPHRASE_VAR: self.passphrase} if self.passphrase else {}

    def identity_args(self) -> list:
        return ["--identity", self.identity] + (["--passphrase-env", PASSPHRASE_VAR] if self.passphrase else [])

    def coffre(self, command: str, *args, env=None, **kw):
        full_env = dict(self.env(), **(env or {}))
        return run_coffre(command, "--config", self.config, *args, env=full_env, **kw)

    def edit_config(self, edit) -> None:
        doc = self.cfg
        edit(doc)
        self.config.write_text(tomli_w.dumps(doc))

    def run_dir(self, dest: Path, run_id: str) -> Path:
        return dest / self.store_id / run_id


def init_store(base: Path, db: Path, destinations: list[Path], *, store_id: str = "boutique",
               passphrase: str | None = None, compression_level: int | None = None,
               allow_same_disk: bool = False) -> RStore:
    config = base / "etc" / "coffre.toml"
    identity = base / "offline" / "identity.txt"
    args = ["init", "--config", config, "--source", f"sqlite:{db}", "--i-know", "--identity-out", identity, "--store-id", store_id]
    for d in destinations:
        args += ["--to", d]
    if allow_same_disk:  # init refuses a copy on the database's disk, as archive does
        args.append("--allow-same-disk")
    env = {}
    if passphrase:
        args += ["--passphrase-env", PASSPHRASE_VAR]
        env[PASSPHRASE_VAR] = passphrase
    res = run_coffre(*args, env=env)
    assert res.code == 0, res
    store = RStore(base, config, db, list(destinations), identity, store_id, passphrase)
    store.scratch.mkdir(exist_ok=True)

    def edit(doc):
        doc["archive"]["scratch_dir"] = str(store.scratch)
        if module_format() is not None:
            doc["archive"]["store_format"] = module_format()
        if compression_level is not None:
            doc["archive"]["compression_level"] = compression_level

    store.edit_config(edit)
    return store


@contextlib.contextmanager
def two_copy_store(base: Path, days: int, tickets_per_day: int, seed: int, passphrase: str | None = None):
    """A sample shop and a store with two copies (usb-A, disk-B) on another device than the shop."""
    db = make_sample_db(base / "shop" / "caisse.db", days=days, tickets_per_day=tickets_per_day, seed=seed)
    with other_device_dir(base) as dev:
        dests = [dev / "usb-A", dev / "disk-B"]
        for d in dests:
            d.mkdir()
        yield init_store(base, db, dests, passphrase=passphrase)


def archived_once(store: RStore) -> Path:
    """Archives once and returns the run folder on the first copy."""
    res = store.coffre("archive", "--yes")
    assert res.code == 0, res
    (run,) = store.run_dirs(store.destinations[0])
    return run


def archive_ok(store: RStore, *args) -> dict:
    res = store.coffre("archive", "--yes", "--json", *args)
    assert res.code == 0, res
    return json.loads(res.out)


# --- output checks -------------------------------------------------------------------------------------------

def no_traceback(res) -> None:
    assert "Traceback" not in res.err and "Traceback" not in res.out, res
    assert "internal error" not in res.err, res


def one_sentence_error(res, code: int, *mentions: str) -> str:
    """The command ended with `code` and one sentence `coffre: …` on one line, naming `mentions`."""
    assert res.code == code, res
    no_traceback(res)
    lines = [line for line in res.err.splitlines() if line.startswith("coffre:")]
    assert len(lines) == 1, res
    line = lines[0]
    for m in mentions:
        assert m in line, (m, res)
    return line


def b3_of(path: Path) -> str:
    return blake3.blake3(path.read_bytes()).hexdigest()


# --- what a command wrote ---------------------------------------------------------------------------------------

def tree(*roots: Path) -> dict[str, tuple]:
    """Every entry under `roots` with its type, size and mtime: compared before and after a command."""
    out = {}
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            for name in dirnames + filenames:
                p = os.path.join(dirpath, name)
                try:
                    st = os.lstat(p)
                except FileNotFoundError:
                    continue
                out[p] = (st.st_mode, st.st_size, st.st_mtime_ns)
    return out


def assert_written_only_under(before: dict, after: dict, *allowed: Path) -> None:
    changed = {p for p in set(before) | set(after) if before.get(p) != after.get(p)}
    outside = sorted(p for p in changed if not any(Path(p) == a or Path(a) in Path(p).parents for a in allowed))
    assert not outside, f"written outside {[str(a) for a in allowed]}: {outside[:10]}"


# --- forgeries signed with the store's own key --------------------------------------------------------------------

def resign(store: RStore, run: Path, lines: list[bytes] | None = None) -> bytes:
    """Rewrites MANIFEST.b3 (the true hashes of the folder's files, or `lines` as given) and signs it with the
    store's real signing key, as only the archiving machine can: only the content under test is bad."""
    from pipeline.keys.signing import load_secret
    from pipeline.manifest.sign import sign

    if lines is None:
        names = sorted(p.name for p in run.iterdir() if p.name not in ("MANIFEST.b3", "MANIFEST.b3.minisig"))
        lines = [f"{b3_of(run / n)}  {n}\n".encode() for n in names]
    b3 = b"".join(lines)
    (run / "MANIFEST.b3").write_bytes(b3)
    sig = sign(load_secret(store.secret_key_file), b3, f"coffre store:{store.store_id} run:{run.name}")
    (run / "MANIFEST.b3.minisig").write_bytes(sig)
    return b3


def write_manifest(store: RStore, run: Path, content) -> None:
    """Replaces manifest.json (a dict is rendered as Coffre renders it; bytes are written as they are), re-signed."""
    if isinstance(content, dict):
        content = (json.dumps(content, indent=2, sort_keys=True) + "\n").encode()
    (run / "manifest.json").write_bytes(content)
    resign(store, run)


def replace_data_file(store: RStore, run: Path, name: str, data: bytes) -> None:
    """Puts `data` in place of a data file, with its true size and BLAKE3 in manifest.json and MANIFEST.b3, re-signed:
    every list agrees, only the bytes themselves lie."""
    (run / name).write_bytes(data)
    doc = json.loads((run / "manifest.json").read_text())
    for f in doc["files"]:
        if f["name"] == name:
            f["size"] = len(data)
            f["blake3"] = blake3.blake3(data).hexdigest()
    write_manifest(store, run, doc)


@contextlib.contextmanager
def pristine(run: Path):
    """Puts a run folder back exactly as it was after the block (one forgery per case, one archive for all)."""
    saved = {p.name: p.read_bytes() for p in run.iterdir()}
    try:
        yield run
    finally:
        for p in run.iterdir():
            if p.name not in saved:
                p.unlink()
        for name, data in saved.items():
            (run / name).write_bytes(data)


# --- known bugs -------------------------------------------------------------------------------------------------

class StillBuggy(AssertionError):
    """Raised by the check that a regression test for a fixed bug is about (the suite found each of these)."""


def expect_fixed(condition, message: str = "") -> None:
    if not condition:
        raise StillBuggy(message)


@contextlib.contextmanager
def already_works():
    """Inside a known-bug test, the checks that hold today: their failure is a real one, not the known bug."""
    try:
        yield
    except StillBuggy as err:
        raise AssertionError(f"a check that held before the known bug failed: {err}") from None


def mentioned(text: str, m) -> bool:
    """`m` is in `text`; a tuple means any one of its strings."""
    return any(x in text for x in m) if isinstance(m, tuple) else m in text
