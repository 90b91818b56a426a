"""RESTORE.txt, the text a person reads the day the till is dead: French first, then its English twin, the same bytes
whatever the language of the archive that wrote it."""

from __future__ import annotations

import json

from conftest import run_coffre

FRENCH = {"LANG": "fr_FR.UTF-8", "LANGUAGE": "", "LC_ALL": "", "LC_MESSAGES": "", "COFFRE_LANG": ""}
ENGLISH = {"LANG": "C.UTF-8", "LANGUAGE": "", "LC_ALL": "", "LC_MESSAGES": "", "COFFRE_LANG": ""}


def newest_run(store):
    return store.run_dirs(store.destinations[0])[-1]


def restore_text_of(store, env) -> tuple[str, dict]:
    res = run_coffre("archive", "--config", store.config, "--yes", env=env)
    assert res.code == 0, res
    run = newest_run(store)
    return (run / "RESTORE.txt").read_bytes().decode("utf-8"), json.loads((run / "manifest.json").read_text())


def test_restore_txt_holds_french_then_english_and_is_the_same_in_every_locale(store):
    fr_text, fr_manifest = restore_text_of(store, FRENCH)
    en_text, en_manifest = restore_text_of(store, ENGLISH)
    assert fr_manifest["run_id"] != en_manifest["run_id"]

    # Both languages, French first, each with the commands a person types.
    french = fr_text.index("Vérifiez qu'aucun fichier n'a été modifié, supprimé ou ajouté")
    english = fr_text.index("Check that no file was changed, removed or added")
    assert french < english
    assert fr_text.startswith("RESTAURER CETTE SAUVEGARDE À LA MAIN")
    assert f"Coffre : sauvegarde {fr_manifest['run_id']} du magasin {store.store_id}" in fr_text
    assert f"Coffre run {fr_manifest['run_id']} (store {store.store_id})" in fr_text
    loop = 'cut -c 67- snapshot.sqlite.blocks | while read -r b; do age -d -i {} "$b" || exit 1; done | zstd -d > ' \
           'snapshot.sqlite'
    assert loop.format("IDENTITE") in fr_text[:english] and loop.format("IDENTITY") in fr_text[english:]
    assert fr_text.count("b3sum --check snapshot.sqlite.blocks") == 2
    assert fr_text.count("b3sum --check MANIFEST.b3") == 2

    # Byte for byte the same text, once the run's own id and time are set aside: the locale changes nothing.
    def generic(text: str, manifest: dict) -> str:
        return text.replace(manifest["run_id"], "RUN").replace(manifest["created_at"], "TIME")

    assert generic(fr_text, fr_manifest) == generic(en_text, en_manifest)
    # Listed and signed like every file of the run: the copy still verifies.
    res = run_coffre("verify", "--config", store.config)
    assert res.code == 0, res
