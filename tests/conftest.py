"""Shared test parts: real stock tools (required under CI=true), a second real device, the CLI as a person runs it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from pipeline.manifest.format import RUN_ID

# The database servers the tests start (one of each per session, private, on 127.0.0.1), as fixtures for every module.
pytest_plugins = ["servers.postgresql", "servers.mariadb"]

# The suite reads Coffre in English, whatever the developer's locale; the language tests set French themselves.
for _name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "COFFRE_LANG"):
    os.environ.pop(_name, None)
os.environ["LANG"] = "C.UTF-8"

# The suite starts `python -m pipeline` hundreds of times. Where the environment forbids bytecode beside the
# sources (PYTHONDONTWRITEBYTECODE), every one of them compiled Coffre from source again (a third of its start-up):
# they share a bytecode cache of this session instead, outside the tree, removed at the end (pytest_unconfigure).
# Nothing a test checks depends on it: the same sources run, compiled once.
PYCACHE: str | None = None
if os.environ.get("PYTHONDONTWRITEBYTECODE") and not os.environ.get("PYTHONPYCACHEPREFIX"):
    import tempfile

    PYCACHE = tempfile.mkdtemp(prefix="coffre-test-pycache-")
    os.environ["PYTHONPYCACHEPREFIX"] = PYCACHE
    del os.environ["PYTHONDONTWRITEBYTECODE"]


def pytest_unconfigure(config):
    if PYCACHE:
        shutil.rmtree(PYCACHE, ignore_errors=True)

REPO = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() == "true"
FIGURES: list[str] = []


@pytest.fixture
def figures(request):
    """figures(line): a figure a test measured, shown in the terminal summary (and at once on stderr, for -s).

    Kept in the test's report (user_properties), which pytest-xdist's workers send to the process that prints."""

    def record(line: str) -> None:
        request.node.user_properties.append(("figure", line))
        print(f"[figures] {line}", file=sys.stderr, flush=True)

    return record


def pytest_collection_modifyitems(config, items):
    """The files that hold a slow scenario go first, then the others by how many tests they hold. Workers take whole
    files in this order (scripts/test: --dist loadfile --no-loadscope-reorder): a minute-long file of one test,
    taken last, left the other core idle till it ended."""
    files: dict = {}
    for item in items:
        files.setdefault(item.path, []).append(item)
    slow = {path for path, its in files.items() if any(i.get_closest_marker("slow") for i in its)}
    items[:] = [i for path in sorted(files, key=lambda p: (p not in slow, -len(files[p]))) for i in files[path]]


def pytest_runtest_logreport(report):
    if report.when == "teardown":
        FIGURES.extend(value for name, value in report.user_properties if name == "figure")


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if FIGURES:
        terminalreporter.section("measured figures")
        for line in FIGURES:
            terminalreporter.write_line(line)


def need_tool(name: str) -> str:
    """The path of a stock tool; a missing one FAILS under CI=true and skips (loudly) elsewhere."""
    path = shutil.which(name)
    if path:
        return path
    if IN_CI:
        pytest.fail(f"the stock tool `{name}` is missing; scripts/test installs it", pytrace=False)
    pytest.skip(f"stock tool `{name}` not installed (run scripts/test to install it)")


@pytest.fixture
def other_disk(tmp_path):
    """A folder on another device than tmp_path, like a USB key beside the till's disk."""
    base = Path("/dev/shm")
    if base.is_dir() and os.access(base, os.W_OK) and os.stat(base).st_dev != os.stat(tmp_path).st_dev:
        d = base / f"coffre-test-{uuid.uuid4().hex[:8]}"
        d.mkdir()
        yield d
        shutil.rmtree(d, ignore_errors=True)
        return
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    if os.geteuid() == 0 and subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512m", "tmpfs", str(mnt)]).returncode == 0:
        yield mnt
        subprocess.run(["umount", "-l", str(mnt)])
        return
    if IN_CI:
        pytest.fail("no second device for the destinations (/dev/shm or a tmpfs mount)", pytrace=False)
    pytest.skip("no second device available")


class Result:
    def __init__(self, proc: subprocess.CompletedProcess):
        self.code = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr

    def __repr__(self):
        return f"<exit {self.code}\nstdout:\n{self.out}\nstderr:\n{self.err}>"


def run_coffre(*args, env=None, input=None, cwd=None, timeout=300) -> Result:
    """Runs `coffre` as a separate process, the way a person or the till's button does."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    proc = subprocess.run([sys.executable, "-m", "pipeline", *map(str, args)], capture_output=True, text=True,
                          env=full_env, input=input, cwd=cwd, timeout=timeout)
    return Result(proc)


def without_override(*args, timeout=300) -> Result:
    """`coffre` run so that modes bind it: root keeps its ownership, not its right to read or write anything (a folder
    at mode 000 is then unreadable to it, as to a shopkeeper's account)."""
    argv = [sys.executable, "-m", "pipeline", *map(str, args)]
    if os.geteuid() == 0:
        argv = [need_tool("setpriv"), "--bounding-set=-dac_override,-dac_read_search",
                "--inh-caps=-dac_override,-dac_read_search", *argv]
    return Result(subprocess.run(argv, capture_output=True, text=True, cwd=REPO, timeout=timeout))


@pytest.fixture(scope="session")
def sample_db_template(tmp_path_factory) -> Path:
    """A small sample shop, built once per session; tests copy it."""
    path = tmp_path_factory.mktemp("sample") / "caisse.db"
    res = run_coffre("sample-db", path, "--days", "3", "--tickets-per-day", "120", "--seed", "7")
    assert res.code == 0, res
    return path


@pytest.fixture
def sample_db(sample_db_template, tmp_path) -> Path:
    shop = tmp_path / "shop"
    shop.mkdir()
    dst = shop / "caisse.db"
    shutil.copy(sample_db_template, dst)
    return dst


# The store format the test module's stores are written in: a module that tampers with format 1's data files (each
# run's snapshot.sqlite.zst.age, journals.tar.zst.age) says STORE_FORMAT = 1, so that format 1 stays tested whole;
# the others write format 2, the default.
# Kept in the environment of the test process (coffre never reads it): this file is imported under two names.
_FORMAT_VAR = "COFFRE_TESTS_MODULE_STORE_FORMAT"


@pytest.fixture(scope="module", autouse=True)
def _module_store_format(request):
    wanted = getattr(request.module, "STORE_FORMAT", None)
    if wanted is None:
        os.environ.pop(_FORMAT_VAR, None)
    else:
        os.environ[_FORMAT_VAR] = str(wanted)
    yield
    os.environ.pop(_FORMAT_VAR, None)


def module_format() -> int | None:
    value = os.environ.get(_FORMAT_VAR)
    return int(value) if value else None


def written_in_module_format(config_path: Path) -> None:
    """Sets archive.store_format in a config `coffre init` wrote, when the test module asks for one."""
    if module_format() is None:
        return
    import tomllib

    import tomli_w

    doc = tomllib.loads(Path(config_path).read_text())
    doc.setdefault("archive", {})["store_format"] = module_format()
    Path(config_path).write_text(tomli_w.dumps(doc))


@pytest.fixture
def store(sample_db, tmp_path, other_disk):
    """A store set up with `coffre init` on the sample shop, with two destinations on another device."""
    a, b = other_disk / "usb-A", other_disk / "disk-B"
    a.mkdir()
    b.mkdir()
    keys = tmp_path / "offline"
    res = run_coffre("init", "--config", tmp_path / "etc" / "coffre.toml", "--source", f"sqlite:{sample_db}",
                     "--to", a, "--to", b, "--i-know", "--identity-out", keys / "identity.txt", "--store-id", "boutique")
    assert res.code == 0, res
    written_in_module_format(tmp_path / "etc" / "coffre.toml")
    return Store(tmp_path / "etc" / "coffre.toml", sample_db, [a, b], keys / "identity.txt", "boutique")


def stock_plain(run_dir: Path, plain: str, identity: Path) -> bytes:
    """The plain bytes of a run's data file (snapshot.sqlite, journals.tar, facts.json) by the stock tools alone, in
    either format: `age -d | zstd -d` of NAME.zst.age, or of NAME.blocks' blocks one after the other."""
    age, zstd = need_tool("age"), need_tool("zstd")
    if (run_dir / f"{plain}.blocks").exists():
        cmd = (f'set -o pipefail; cut -c 67- "{plain}.blocks" | while read -r b; do "{age}" -d -i "{identity}" "$b" '
               f'|| exit 1; done | "{zstd}" -dcq')
    else:
        cmd = f'set -o pipefail; "{age}" -d -i "{identity}" "{plain}.zst.age" | "{zstd}" -dcq'
    return subprocess.run(cmd, shell=True, executable="/bin/bash", cwd=run_dir, check=True,
                          capture_output=True).stdout


class Store:
    def __init__(self, config, db, destinations, identity, store_id):
        self.config, self.db, self.destinations, self.identity, self.store_id = config, db, destinations, identity, store_id

    @property
    def public_key_file(self) -> Path:
        return self.config.with_name("coffre-signing.pub")

    def run_dirs(self, dest: Path) -> list[Path]:
        d = dest / self.store_id
        # Run folders only: retention's removals/ and the shared blocks/ sit beside them.
        return sorted(p for p in d.iterdir() if p.is_dir() and RUN_ID.match(p.name)) if d.is_dir() else []


def run_in_terminal(argv: list[str], dialogue: list[tuple[str, str]], env=None, timeout=60,
                    every_question: bool = False) -> tuple[int, str]:
    """Runs argv on a pseudo-terminal, as a person at the till would, answering each prompt in turn.

    `dialogue` is a list of (text to wait for, line to type); each text is looked for in what was shown AFTER the
    previous answer, so a question asked twice must really be asked again. `every_question`: fail when a question of
    the dialogue was never asked. Returns (exit code, everything shown).
    """
    import pty
    import select

    master, slave = pty.openpty()
    full_env = dict(os.environ, **(env or {}), TERM="dumb", COLUMNS="200")
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=full_env, close_fds=True,
                            start_new_session=True)
    os.close(slave)
    shown, seen_up_to = b"", 0
    pending = list(dialogue)
    deadline = time.time() + timeout
    try:
        while time.time() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                shown += chunk
            if pending and shown.find(pending[0][0].encode(), seen_up_to) >= 0:
                os.write(master, pending.pop(0)[1].encode() + b"\r")
                seen_up_to = len(shown)
                shown += b"\n"
            if proc.poll() is not None and not ready:
                break
        code = proc.wait(timeout=5)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    text = shown.decode("utf-8", "replace")
    if every_question:
        assert not pending, f"never asked {pending[0][0]!r}; the screen:\n{text}"
    return code, text


@pytest.fixture(scope="session")
def vs():
    """The inspector's verify.py (pipeline/auditor/verify_script.py) as a module, for its Ed25519 and in-process runs."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("coffre_verify_script", REPO / "pipeline" / "auditor" / "verify_script.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def verify_py_folder(db: Path, root: Path, vs, mapping_name: str = "reference-pos", context: dict | None = None):
    """The journals Coffre exports of `db`, laid out under `root` as an auditor package's verify.py reads them (till
    keys, recipes, verify.py and fiscal_rules.py beside, SHA256SUMS); returns Coffre's outcome (its checks)."""
    import hashlib
    import json
    import shutil
    import sqlite3

    from pipeline.auditor.recipes import recipes, till_keys
    from pipeline.journals.connection import add_functions
    from pipeline.journals.mapping import load_mapping
    from pipeline.journals.run import journals_of_snapshot

    mapping = load_mapping(mapping_name)
    conn = add_functions(sqlite3.connect(db))
    try:
        keys = till_keys(conn, mapping)
    finally:
        conn.close()
    outcome = journals_of_snapshot(db, root / "journals", mapping_name, None, None, context or {})
    (root / "keys").mkdir()
    (root / "keys" / "till-keys.json").write_text(json.dumps(keys), encoding="utf-8")
    (root / "recipes.json").write_text(json.dumps(recipes(mapping)), encoding="utf-8")
    script = Path(vs.__file__)
    shutil.copy(script, root / "verify.py")
    shutil.copy(script.parent.parent / "fiscal_rules.py", root / "fiscal_rules.py")
    sums = "".join(f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.relative_to(root).as_posix()}\n"
                   for p in sorted(root.rglob("*")) if p.is_file())
    (root / "SHA256SUMS").write_text(sums, encoding="utf-8")
    return outcome


def open_package(package: Path, into: Path, password: str) -> Path:
    """An auditor package extracted with the stock 7-Zip, as the inspector does; returns its one folder."""
    res = subprocess.run([need_tool("7z"), "x", "-y", f"-p{password}", f"-o{into}", str(package)], capture_output=True)
    assert res.returncode == 0, res.stderr
    (root,) = list(into.iterdir())
    return root
