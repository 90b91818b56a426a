"""A source as a person writes it: a password never echoed, a connection string never taken for a file, and the
MariaDB clients' own reasons told as they are (an option file they ignore, a right on events)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from conftest import run_coffre
from pipeline.errors import CannotRun, UsageError
from pipeline.snapshot import open_source, safe_spec
from pipeline.snapshot.mariadb_errors import sentence

SECRET = "Sekr1tPW"


@pytest.mark.parametrize("spec", [f"host=127.0.0.1 port=5432 dbname=shop user=coffre password={SECRET}",
                                  f"dbname=shop password='{SECRET}'"])
def test_a_libpq_connection_string_is_refused_never_echoed_and_names_no_file(spec, tmp_path):
    for args in (("sample-db", spec), ("init", "--config", tmp_path / "c.toml", "--source", spec, "--to", tmp_path,
                                      "--identity-out", tmp_path / "id.txt", "--i-know")):
        res = run_coffre(*args, cwd=tmp_path)
        assert res.code == 2, res
        assert SECRET not in res.out + res.err and "connection string" in res.err
        assert not any(SECRET in p.name for p in tmp_path.iterdir())
    with pytest.raises(UsageError):
        open_source(spec)
    assert SECRET not in safe_spec(spec)


def test_a_world_writable_option_file_is_named_not_taken_for_a_wrong_password(tmp_path):
    option_file = tmp_path / "coffre.cnf"
    option_file.write_text(f"[client]\nuser=coffre\npassword={SECRET}\n")
    option_file.chmod(0o666)
    with pytest.raises(CannotRun) as err:
        open_source(f"mariadb://coffre@127.0.0.1:1/shop?option_file={option_file}").check()
    assert "chmod 600" in str(err.value) and "wrong password" not in str(err.value) and SECRET not in str(err.value)


def test_a_dump_refused_on_events_names_the_event_right():
    spec = SimpleNamespace(user="clerk", database="shop", server=lambda: "127.0.0.1:3306",
                           option_file_shown=lambda: "/etc/coffre/my.cnf")
    said = sentence("mariadb-dump: Couldn't execute 'show events': Access denied for user 'clerk'@'127.0.0.1' to "
                    "database 'shop' (1044)", spec)
    assert "EVENT" in said and "does not exist" not in said


def test_a_connection_string_typed_at_init_s_prompt_is_refused_never_taken_for_a_file():
    from pipeline.cli.init import _source_typed

    with pytest.raises(UsageError) as err:
        _source_typed(f"host=127.0.0.1 dbname=shop user=coffre password={SECRET}")
    assert SECRET not in str(err.value)
    assert _source_typed("postgresql://coffre@127.0.0.1/shop") == "postgresql://coffre@127.0.0.1/shop"
    assert _source_typed("/var/lib/caisse.db") == "sqlite:/var/lib/caisse.db"
