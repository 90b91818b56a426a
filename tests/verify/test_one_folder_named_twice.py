"""verify: one folder named twice (a link to it, a trailing slash) is one copy, checked once and never counted twice."""

from __future__ import annotations

import json

from conftest import run_coffre


def test_a_destination_that_links_to_another_is_checked_once_and_said_to_be_the_same(store):
    """Found by review: a destination that is a symbolic link to the other copy's folder was reported as a second
    intact copy; the archive wrote it once, and said so, but verify counted two."""
    res = run_coffre("archive", "--config", store.config, "--yes")
    assert res.code == 0, res
    a, _b = store.destinations
    link = a.with_name("usb-A-again")
    link.symlink_to(a)
    res = run_coffre("verify", "--config", store.config, "--from", a, "--from", link, "--json")
    assert res.code == 0, res
    out = json.loads(res.out)
    assert [c["destination"] for c in out["copies"]] == [str(a)], out["copies"]
    assert out["same_destination"] == {str(link): str(a)}
    assert f"Note: {link} is the same destination as {a}: one copy, checked once." in res.err
    res = run_coffre("verify", "--config", store.config, "--from", link, "--from", f"{a}/")
    assert res.code == 0, res
    assert res.out.count("intact") + res.err.count("intact") == 1, res
    assert f"{a}/ is the same destination as {link}" in res.err, res.err


def test_two_destinations_that_are_one_folder_are_called_one_copy_by_the_copy_policy(store):
    """The copy policy counted one copy and said "only one destination is configured" of a config naming two: the
    person must hear that the two names are one folder."""
    a, b = store.destinations
    link = a.with_name("usb-A-again")
    link.symlink_to(a)
    text = store.config.read_text()
    assert f'"{b}"' in text
    store.config.write_text(text.replace(f'"{b}"', f'"{link}"'))
    res = run_coffre("archive", "--config", store.config, "--yes")
    assert res.code == 0, res
    said = f"the destinations {a}, {link} are one folder under several names"
    assert said in res.err and "only one destination is configured" not in res.err, res.err
    res = run_coffre("status", "--config", store.config, "--json")
    assert any(said in w for w in json.loads(res.out)["warnings"]), res.out
    res = run_coffre("status", "--config", store.config, env={"COFFRE_LANG": "fr"})
    assert f"les destinations {a}, {link} sont un seul dossier sous plusieurs noms" in res.out, res.out


def test_a_link_marked_off_site_to_an_on_site_folder_is_no_off_site_copy(store):
    """Found by review: with a link to the shop's USB key marked off-site, the copy policy held its off-site rule met."""
    a, b = store.destinations
    link = a.with_name("usb-A-again")
    link.symlink_to(a)
    text = store.config.read_text()
    store.config.write_text(text.replace(f'"{b}"', f'"{b}", {{ to = "{link}", role = "off-site" }}'))
    res = run_coffre("archive", "--config", store.config, "--yes")
    assert res.code == 0, res
    assert f"{link} is marked off-site, but it is the folder {a} names, which is not" in res.err, res.err
    assert "no destination is marked off-site" in res.err, res.err
    warnings = json.loads(run_coffre("status", "--config", store.config, "--json", "--no-look").out)["warnings"]
    assert any("no destination is marked off-site" in w for w in warnings), warnings
