"""`coffre status` without --config: --config, then COFFRE_CONFIG, then ~/.config (not root), then /etc; none is exit 2."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, Result, run_coffre
from pipeline import config_path
from pipeline.errors import UsageError

# The real CLI in a process of its own, seen as an ordinary user: the tests run as root here, and root never looks
# in a HOME; only the uid is feigned, everything else (HOME, XDG_CONFIG_HOME, the files) is real.
AS_USER = ("import os, sys; os.geteuid = lambda: 1000; sys.argv[0] = 'coffre'; "
           "from pipeline.cli import main; main()")


def run_as_user(*args, env) -> Result:
    proc = subprocess.run([sys.executable, "-c", AS_USER, *map(str, args)], capture_output=True, text=True,
                          env=env, cwd=REPO, timeout=300)
    return Result(proc)


def clean_env(home: Path, **more) -> dict:
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("COFFRE_CONFIG", "XDG_CONFIG_HOME")}
    env.update(HOME=str(home), **more)
    return env


def touch(p: Path) -> Path:
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text("")
    return p


def test_config_option_wins_over_the_environment_and_the_files(tmp_path):
    system = touch(tmp_path / "etc" / "coffre.toml")
    env = {"COFFRE_CONFIG": str(tmp_path / "env.toml"), "HOME": str(tmp_path)}
    assert config_path.resolve("given.toml", env, uid=1000, system=system) == Path("given.toml")


def test_coffre_config_wins_over_the_files_even_when_its_file_is_missing(tmp_path):
    system = touch(tmp_path / "etc" / "coffre.toml")
    user = touch(tmp_path / "home" / ".config" / "coffre" / "coffre.toml")
    env = {"COFFRE_CONFIG": str(tmp_path / "missing.toml"), "HOME": str(tmp_path / "home")}
    # Named on purpose, so never passed over for another file: config.load says it is missing.
    assert config_path.resolve(None, env, uid=1000, system=system) == tmp_path / "missing.toml"
    assert user.exists()


def test_user_file_comes_before_the_system_file_for_a_user(tmp_path):
    system = touch(tmp_path / "etc" / "coffre.toml")
    home = tmp_path / "home"
    assert config_path.resolve(None, {"HOME": str(home)}, uid=1000, system=system) == system
    user = touch(home / ".config" / "coffre" / "coffre.toml")
    assert config_path.resolve(None, {"HOME": str(home)}, uid=1000, system=system) == user
    xdg = touch(tmp_path / "xdg" / "coffre" / "coffre.toml")
    env = {"HOME": str(home), "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    assert config_path.resolve(None, env, uid=1000, system=system) == xdg


def test_root_looks_only_at_the_system_file(tmp_path):
    system = tmp_path / "etc" / "coffre.toml"
    home = tmp_path / "root"
    touch(home / ".config" / "coffre" / "coffre.toml")
    with pytest.raises(UsageError) as err:
        config_path.resolve(None, {"HOME": str(home)}, uid=0, system=system)
    assert str(system) in str(err.value) and str(home) not in str(err.value)
    touch(system)
    assert config_path.resolve(None, {"HOME": str(home)}, uid=0, system=system) == system


def test_no_configuration_is_one_sentence_naming_the_places_and_coffre_init(tmp_path):
    system = tmp_path / "etc" / "coffre.toml"
    with pytest.raises(UsageError) as err:
        config_path.resolve(None, {"HOME": str(tmp_path)}, uid=1000, system=system)
    message = str(err.value)
    assert err.value.exit_code == 2
    assert str(tmp_path / ".config" / "coffre" / "coffre.toml") in message and str(system) in message
    assert "coffre init" in message and "COFFRE_CONFIG" in message and message.count(". ") == 0


def test_init_writes_to_the_system_file_for_root_and_the_user_file_for_others(tmp_path):
    system = tmp_path / "etc" / "coffre" / "coffre.toml"
    env = {"HOME": str(tmp_path / "home")}
    assert config_path.init_target(None, env, uid=0, system=system) == system
    assert config_path.init_target(None, env, uid=1000, system=system) == tmp_path / "home/.config/coffre/coffre.toml"
    assert config_path.init_target(None, dict(env, COFFRE_CONFIG="/x/c.toml"), uid=0, system=system) == Path("/x/c.toml")
    assert config_path.init_target("given.toml", env, uid=0, system=system) == Path("given.toml")


def test_status_reads_the_file_named_by_coffre_config(store):
    # --no-look: the free space of a shared disk moves between two calls; the file read is what is compared.
    with_option = run_coffre("status", "--no-look", "--config", store.config)
    res = run_coffre("status", "--no-look", env={"COFFRE_CONFIG": str(store.config)})
    assert (res.code, res.out) == (with_option.code, with_option.out), res
    assert "boutique" in res.out + res.err


def test_status_reads_the_users_file_from_xdg_config_home(store, tmp_path):
    assert run_coffre("archive", "--config", store.config, "--yes").code == 0  # a run for status to show
    xdg = tmp_path / "xdg"
    xdg.mkdir()
    (xdg / "coffre").symlink_to(store.config.parent)  # the folder, so that the key and state beside it come along
    with_option = run_coffre("status", "--no-look", "--config", store.config)
    res = run_as_user("status", "--no-look", env=clean_env(tmp_path / "home", XDG_CONFIG_HOME=str(xdg)))
    assert (res.code, res.out) == (with_option.code, with_option.out), res
    assert "boutique" in res.out, res


def test_no_configuration_anywhere_is_exit_2_in_one_sentence(tmp_path):
    if config_path.SYSTEM.exists():
        pytest.skip(f"{config_path.SYSTEM} exists on this machine")
    res = run_as_user("status", env=clean_env(tmp_path / "home"))
    assert res.code == 2, res
    assert res.out == "" and res.err.count("\n") == 1 and "Traceback" not in res.err, res
    assert str(tmp_path / "home" / ".config" / "coffre" / "coffre.toml") in res.err and "coffre init" in res.err
    res = run_coffre("archive", "--yes", env={"HOME": str(tmp_path / "home"), "COFFRE_CONFIG": ""})
    assert res.code == 2 and str(config_path.SYSTEM) in res.err and "Traceback" not in res.err, res


def test_init_without_config_writes_the_users_file_in_a_private_folder(sample_db, tmp_path, other_disk):
    home = tmp_path / "home"
    home.mkdir()
    res = run_as_user("init", "--source", f"sqlite:{sample_db}", "--to", other_disk, "--i-know", "--identity-out",
                      tmp_path / "off" / "id.txt", "--store-id", "sans-option", env=clean_env(home))
    assert res.code == 0, res
    written = home / ".config" / "coffre" / "coffre.toml"
    assert 'store_id = "sans-option"' in written.read_text()
    assert f"Configuration written to {written}" in res.err
    assert stat.S_IMODE(written.parent.stat().st_mode) == 0o700
    # ... and the next command finds it without --config.
    res = run_as_user("archive", "--yes", env=clean_env(home))
    assert res.code == 0, res
    assert len([p for p in (other_disk / "sans-option").iterdir() if p.name != "blocks"]) == 1
