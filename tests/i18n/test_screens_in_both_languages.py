"""The shop's day in a real terminal (tmux), as a person reads it: under LANG=fr_FR.UTF-8 no English word outside
names and paths, under LANG=C.UTF-8 no French one — demo, sample shop, init, archive, verify, drill,
restore, status, list, prune and export-auditor, each on the screen of a real terminal, progress bars included."""

from __future__ import annotations

import os
import sys

import pytest

from conftest import REPO

from .screens import tmux_session, words_of_the_other_language, write_screen

LOCALES = {"fr": "fr_FR.UTF-8", "en": "C.UTF-8"}


@pytest.mark.parametrize("language", ["fr", "en"])
def test_the_shops_day_speaks_one_language_on_a_real_terminal(language, tmp_path, other_disk):
    shop, off, out = tmp_path / "shop", other_disk / "off", tmp_path / "restored"
    usb, disk = other_disk / "usb", other_disk / "disk"
    for folder in (usb, disk, shop):
        folder.mkdir()
    env = {"LANG": LOCALES[language], "PATH": os.environ["PATH"], "HOME": str(tmp_path),
           "PYTHONPATH": os.environ.get("PYTHONPATH", str(REPO)), "CI": os.environ.get("CI", ""),
           "COFFRE_ZIP_PASSWORD": "Zèbre-Ortie-42-Lavande"}
    config = tmp_path / "etc" / "coffre.toml"
    identity = off / "identite.txt"
    steps = [
        ("demo", f"coffre demo --dir {tmp_path / 'demo'} --days 3"),
        ("sample-db", f"coffre sample-db {shop / 'caisse.db'} --days 20"),
        ("init", f"coffre init --config {config} --source sqlite:{shop / 'caisse.db'} --to {usb} --to {disk} "
                 f"--identity-out {identity} --store-id boutique --no-protect"),
        ("archive", f"coffre archive --config {config} --yes"),
        ("verify", f"coffre verify --config {config}"),
        ("drill", f"coffre drill --config {config} --identity {identity}"),
        ("restore", f"coffre restore --config {config} --identity {identity} --out {out}"),
        ("status", f"coffre status --config {config}"),
        ("list", f"coffre list --config {config}"),
        ("prune", f"coffre prune --config {config} --dry-run"),
        ("export-auditor", f"coffre export-auditor --config {config} --identity {identity} "
                           f"--period 2025-01-01..2025-01-20 --out {tmp_path / 'controle.zip'} "
                           "--password-env COFFRE_ZIP_PASSWORD"),
    ]
    foreign, codes = [], {}
    with tmux_session(env) as term:
        term.type(f"coffre() {{ {sys.executable} -m pipeline \"$@\"; }}")
        for name, line in steps:
            code, screen = term.command(line)
            codes[name] = code
            write_screen(tmp_path / "screens", name, screen)
            foreign += [(name, word, said) for word, said in
                        words_of_the_other_language(screen, language, ["boutique", "demo-shop"])]
    assert codes == dict.fromkeys(codes, 0), (codes, (tmp_path / "screens").as_posix())
    assert not foreign, "\n".join(f"{name}: {word!r} in: {said}" for name, word, said in foreign)
    # A warning said while the bars are drawn stays on the screen (written under them, the next drawing erased it).
    warned = {"fr": "aucune destination n'est marquée hors site", "en": "no destination is marked off-site"}[language]
    assert warned in (tmp_path / "screens" / "archive.txt").read_text().replace("\n", ""), "the warning was erased"
    # The screens said something: a command that printed nothing would pass the language check for nothing.
    for name, _ in steps:
        assert len((tmp_path / "screens" / f"{name}.txt").read_text().strip().splitlines()) >= 2, name
