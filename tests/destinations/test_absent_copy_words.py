"""A copy out of reach (the USB key unplugged) is named once on each line that says so, in English and in French: the
line gives the copy's name, and the reason follows it ("/media/usb: missing (…)"), never "/media/usb: The destination
/media/usb is missing …". A sentence said on its own still names the copy."""

from __future__ import annotations

import json

import pytest

from conftest import run_coffre

WORDS = {"en": "missing (is the USB key or disk plugged in and mounted?)",
         "fr": "absente (la clé USB ou le disque est-il branché et monté ?)"}
ALONE = {"en": "The destination {b} is missing: is the USB key or disk plugged in and mounted?",
         "fr": "La destination {b} est absente : la clé USB ou le disque est-il branché et monté ?"}


@pytest.mark.parametrize("language", ["en", "fr"])
def test_an_unplugged_copy_is_named_once_on_each_line_of_archive_verify_prune_status_and_restore(store, language):
    env = {"LANGUAGE": language}
    res = run_coffre("archive", "--config", store.config, "--yes", env=env)
    assert res.code == 0, res
    a, b = store.destinations
    b.rename(b.with_name("disk-B-unplugged"))
    said = {}
    said["archive"] = run_coffre("archive", "--config", store.config, "--yes", env=env)
    assert said["archive"].code == 4, said["archive"]
    said["verify"] = run_coffre("verify", "--config", store.config, env=env)
    assert said["verify"].code == 1, said["verify"]
    said["prune"] = run_coffre("prune", "--config", store.config, env=env)
    assert said["prune"].code == 4, said["prune"]
    said["status"] = run_coffre("status", "--config", store.config, env=env)
    said["restore"] = run_coffre("restore", "--config", store.config, "--identity", store.identity, "--out",
                                 store.config.parent / "restored", "--from", b, "--from", a, env=env)
    assert said["restore"].code == 0, said["restore"]
    for command, res in said.items():
        lines = [line for line in (res.out + res.err).splitlines() if str(b) in line]
        assert lines, (command, res)
        assert all(line.count(str(b)) == 1 for line in lines), (command, lines)
        assert any(WORDS[language] in line for line in lines), (command, lines)
    # Where a sentence stands alone (the archive's "Skipping: …"), it names the copy itself.
    assert ALONE[language].format(b=b) in said["archive"].err, said["archive"]

    out = run_coffre("status", "--config", store.config, "--json").out
    entry = next(e for e in json.loads(out)["destinations"] if e["destination"] == str(b))
    assert entry["present"] is False and entry["absent_because"] == WORDS["en"], entry
