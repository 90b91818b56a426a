"""`coffre schedule`: the units it writes pass the stock `systemd-analyze verify`; the cron line; a wrong --at."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from conftest import need_tool, run_coffre
from pipeline.schedule import At, coffre_command, parse_at, systemd
from pipeline.errors import UsageError


def analyze(*files: Path, user: bool = False, runtime: Path | None = None) -> subprocess.CompletedProcess:
    """The stock verifier; it also checks that ExecStart's program exists and can run, so units name the real one."""
    argv = [need_tool("systemd-analyze")] + (["--user"] if user else []) + ["verify", *map(str, files)]
    env = dict(os.environ, **({"XDG_RUNTIME_DIR": str(runtime)} if runtime else {}))
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)


@pytest.fixture
def units(store, tmp_path) -> Path:
    out = tmp_path / "units"
    res = run_coffre("schedule", "--at", "20:30", "--config", store.config, "--verify-weekly", "--out", out)
    assert res.code == 0, res
    return out


def test_written_units_pass_systemd_analyze_verify_without_a_warning(units):
    files = sorted(units.iterdir())
    assert [f.name for f in files] == ["coffre-archive-boutique.service", "coffre-archive-boutique.timer",
                                       "coffre-verify-boutique.service", "coffre-verify-boutique.timer"]
    res = analyze(*files)
    assert (res.returncode, res.stderr, res.stdout) == (0, "", ""), res


def test_user_units_pass_systemd_analyze_verify_user(store, tmp_path):
    out, runtime = tmp_path / "user-units", tmp_path / "run"
    runtime.mkdir(mode=0o700)  # a user manager's runtime folder, which a container has none of
    res = run_coffre("schedule", "--at", "06:05", "--config", store.config, "--user", "--out", out)
    assert res.code == 0, res
    assert "User=" not in (out / "coffre-archive-boutique.service").read_text()
    res = analyze(*sorted(out.iterdir()), user=True, runtime=runtime)
    assert (res.returncode, res.stderr) == (0, ""), res


def test_archive_service_runs_this_coffre_gently_and_the_timer_catches_up_after_a_switched_off_evening(units, store):
    service = (units / "coffre-archive-boutique.service").read_text()
    exe = " ".join(coffre_command() + ["--lang", "en"])  # the language of who scheduled it (cron sets no LANG)
    assert Path(coffre_command()[0]).is_absolute()
    assert f"ExecStart={exe} archive --config {store.config.absolute()} --yes --scheduled\n" in service
    for line in ("Type=oneshot", "Nice=10", "IOSchedulingClass=idle", "TimeoutStartSec=2h", "User=root"):
        assert f"\n{line}\n" in service
    assert "network-online" not in service  # both destinations are local folders
    timer = (units / "coffre-archive-boutique.timer").read_text()
    assert "\nOnCalendar=*-*-* 20:30:00\n" in timer and "\nPersistent=true\n" in timer
    assert "\nWantedBy=timers.target\n" in timer
    verify = (units / "coffre-verify-boutique.service").read_text()
    assert f"ExecStart={exe} verify --config {store.config.absolute()} --scheduled\n" in verify
    assert "\nAfter=coffre-archive-boutique.service\n" in verify
    assert "\nOnCalendar=Sun *-*-* 21:30:00\n" in (units / "coffre-verify-boutique.timer").read_text()


def test_a_broken_unit_is_caught_by_systemd_analyze(units):
    timer = units / "coffre-archive-boutique.timer"
    timer.write_text(timer.read_text().replace("20:30:00", "25:61:00"))
    res = analyze(units / "coffre-archive-boutique.service", timer)
    assert res.returncode != 0 and "calendar" in res.stderr, res
    service = units / "coffre-archive-boutique.service"
    exe = coffre_command()[0]
    service.write_text(service.read_text().replace(f"ExecStart={exe} ", "ExecStart=/nowhere/coffre "))
    res = analyze(service)
    assert res.returncode != 0 and "/nowhere/coffre" in res.stderr, res


def test_rclone_destination_waits_for_the_network_and_odd_paths_are_quoted(tmp_path):
    config = tmp_path / "a folder" / "100% coffre $HOME \"x\".toml"
    files = systemd.units("s", coffre_command(), ["archive", "--config", str(config)], At(20, 30), network=True,
                          run_as="root")
    service = files["coffre-archive-s.service"]
    assert "\nWants=network-online.target\nAfter=network-online.target\n" in service
    assert '"' + str(config).replace("%", "%%").replace("$", "$$").replace('"', '\\"') + '"' in service
    res = analyze(*systemd.write(files, tmp_path / "units"))
    assert (res.returncode, res.stderr) == (0, ""), res


def test_units_are_printed_with_where_they_would_go_by_default(store):
    res = run_coffre("schedule", "--at", "20:30", "--config", store.config)
    assert res.code == 0, res
    assert "# ---- /etc/systemd/system/coffre-archive-boutique.service ----\n" in res.out
    assert "# ---- /etc/systemd/system/coffre-archive-boutique.timer ----\n" in res.out
    assert "OnCalendar=*-*-* 20:30:00" in res.out and "coffre-verify" not in res.out


def test_install_without_a_running_systemd_writes_the_units_then_says_so_exit_3(store, tmp_path):
    if Path("/run/systemd/system").is_dir():
        pytest.skip("systemd runs on this machine: --install would really enable the timer")
    xdg = tmp_path / "xdg"
    res = run_coffre("schedule", "--at", "20:30", "--config", store.config, "--install", "--user",
                     env={"XDG_CONFIG_HOME": str(xdg)})
    assert res.code == 3, res
    assert res.err.count("\n") == 1 and "Traceback" not in res.err, res
    assert str(xdg / "systemd" / "user") in res.err and "enable --now coffre-archive-boutique.timer" in res.err
    assert sorted(p.name for p in (xdg / "systemd" / "user").iterdir()) == ["coffre-archive-boutique.service",
                                                                           "coffre-archive-boutique.timer"]


def test_cron_line_for_etc_cron_d_and_for_a_users_crontab(store):
    exe = " ".join(coffre_command() + ["--lang", "en"])
    res = run_coffre("schedule", "--at", "20:30", "--config", store.config, "--cron")
    assert res.code == 0, res
    assert res.out == f"30 20 * * * root {exe} archive --config {store.config.absolute()} --yes --scheduled\n"
    res = run_coffre("schedule", "--at", "23:45", "--config", store.config, "--cron", "--user", "--verify-weekly")
    assert res.out.splitlines() == [f"45 23 * * * {exe} archive --config {store.config.absolute()} --yes --scheduled",
                                    f"45 0 * * 1 {exe} verify --config {store.config.absolute()} --scheduled"], res
    # Scheduled by a French person, the evening's messages (cron's mail, the journal) are French.
    res = run_coffre("schedule", "--at", "20:30", "--config", store.config, "--cron", env={"LANG": "fr_FR.UTF-8"})
    assert res.out == f"30 20 * * * root {' '.join(coffre_command())} --lang fr archive --config " \
                      f"{store.config.absolute()} --yes --scheduled\n", res


@pytest.mark.parametrize("at", ["25:00", "20:60", "20h30", "2030", "", "-1:00"])
def test_a_wrong_time_is_one_sentence_exit_2(store, at):
    res = run_coffre("schedule", "--at", at, "--config", store.config)
    assert res.code == 2, res
    assert res.err.count("\n") == 1 and "HH:MM" in res.err and "Traceback" not in res.err, res
    with pytest.raises(UsageError):
        parse_at(at)


def test_times_of_day_that_are_right(tmp_path):
    assert parse_at("7:05") == At(7, 5) and parse_at("00:00") == At(0, 0) and parse_at("23:59") == At(23, 59)
    assert At(23, 30).later(60) == (At(0, 30), True) and At(20, 30).later(60) == (At(21, 30), False)


def test_out_and_install_together_is_exit_2(store, tmp_path):
    res = run_coffre("schedule", "--at", "20:30", "--config", store.config, "--out", tmp_path / "u", "--install")
    assert res.code == 2 and res.err.count("\n") == 1, res
    assert not (tmp_path / "u").exists()
