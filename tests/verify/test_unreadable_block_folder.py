"""A block folder of a copy that cannot be read (its mode, a failing medium) makes verify name the blocks in it as
unreadable, with the reason; the other blocks of the copy are read and found intact, never all called missing."""

from __future__ import annotations


import pytest

from conftest import run_coffre, without_override


@pytest.mark.parametrize("deep", [False, True], ids=["verify", "verify-deep"])
def test_an_unreadable_block_folder_names_its_blocks_and_no_other(store, deep):
    res = run_coffre("archive", "--config", store.config, "--yes")
    assert res.code == 0, res
    blocks = store.destinations[0] / store.store_id / "blocks"
    run = store.run_dirs(store.destinations[0])[0]
    listed = {line.rsplit("/", 1)[1] for name in ("snapshot.sqlite.blocks", "journals.tar.blocks")
              for line in (run / name).read_text().splitlines()}
    folder = blocks / sorted(listed)[0][:2]
    inside = {b for b in listed if b[:2] == folder.name}
    folder.chmod(0)
    try:
        res = without_override("verify", "--config", store.config, "--from", store.destinations[0],
                                            *(["--deep", "--identity", store.identity] if deep else []))
    finally:
        folder.chmod(0o755)
    assert res.code == 1, res
    assert "Traceback" not in res.err and "is missing" not in res.err, res.err
    named = {b for b in listed if b in res.err}
    assert named == inside, (named, inside, res.err)
    assert "permission denied" in res.err, res.err
    if not deep:  # the advice is the medium's, not repair's (which cannot write there either)
        assert "check the copy's medium and permissions" in res.err and "coffre repair heals" not in res.err, res.err
    res = run_coffre("verify", "--config", store.config, "--from", store.destinations[0])
    assert res.code == 0, res  # readable again, the copy is whole


def test_a_missing_block_beside_an_unreadable_folder_is_still_said_missing_without_being_opened(store, monkeypatch):
    """Only the blocks of a folder the listing could not read are opened one by one (a remote's listing is whole:
    opening each missing block there would be a request each)."""
    from pipeline import config as config_file
    from pipeline.destinations.local import LocalDestination
    from pipeline.verify.run import verify_destinations

    res = run_coffre("archive", "--config", store.config, "--yes")
    assert res.code == 0, res
    blocks = store.destinations[0] / store.store_id / "blocks"
    run = store.run_dirs(store.destinations[0])[0]
    listed = sorted(line.rsplit("/", 1)[1] for line in (run / "snapshot.sqlite.blocks").read_text().splitlines())
    gone = listed[-1]
    (blocks / gone[:2] / gone).unlink()
    opened = []
    real_open = LocalDestination.open_block
    real_folders = LocalDestination._block_folders

    def open_block(self, store_id, name):
        opened.append(name)
        return real_open(self, store_id, name)

    def folders(self, store_id):  # the first block's folder cannot be read
        for sub, entries, fd in real_folders(self, store_id):
            if sub == listed[0][:2] and sub != gone[:2]:
                self.unlisted_block_folders.add(sub)
                continue
            yield sub, entries, fd

    monkeypatch.setattr(LocalDestination, "open_block", open_block)
    monkeypatch.setattr(LocalDestination, "_block_folders", folders)
    cfg = config_file.load(store.config)
    outcome = verify_destinations(cfg, [str(store.destinations[0])])
    said = " ".join(p.sentence() for p in outcome.reports[0].problems)
    assert f"{gone[:2]}/{gone}: is missing" in said, said
    assert gone not in opened  # said missing from the listing
    assert listed[0] in opened  # its folder unlisted: opened, and found intact
    assert listed[0] not in said, said


def test_a_block_folder_replaced_by_a_link_is_named_not_called_missing(store, tmp_path):
    res = run_coffre("archive", "--config", store.config, "--yes")
    assert res.code == 0, res
    blocks = store.destinations[0] / store.store_id / "blocks"
    run = store.run_dirs(store.destinations[0])[0]
    first = (run / "snapshot.sqlite.blocks").read_text().splitlines()[0].rsplit("/", 1)[1]
    folder = blocks / first[:2]
    folder.rename(blocks / "elsewhere")
    folder.symlink_to(blocks / "elsewhere")
    res = run_coffre("verify", "--config", store.config, "--from", store.destinations[0])
    assert res.code == 1, res
    assert f"{first}: {first[:2]} is a symbolic link, not a folder; not followed" in res.err, res.err
    assert "is missing" not in res.err and "coffre repair heals" not in res.err, res.err


@pytest.mark.parametrize("language", ["en", "fr"])
def test_an_unreadable_blocks_folder_is_one_line_not_one_per_block(store, language, monkeypatch):
    """The whole blocks/ folder unreadable: one sentence with how many blocks, two of them and the runs, where there was
    one line per block (hundreds of thousands for a supermarket's years)."""
    monkeypatch.setenv("LANGUAGE", language)
    for _ in range(2):
        res = run_coffre("archive", "--config", store.config, "--yes")
        assert res.code == 0, res
    runs = store.run_dirs(store.destinations[0])
    listed = {line.rsplit("/", 1)[1] for run in runs for name in ("snapshot.sqlite.blocks", "journals.tar.blocks")
              for line in (run / name).read_text().splitlines()}
    assert len(listed) >= 4
    blocks = store.destinations[0] / store.store_id / "blocks"
    blocks.chmod(0)
    try:
        res = without_override("verify", "--config", store.config, "--from", store.destinations[0])
    finally:
        blocks.chmod(0o755)
    assert res.code == 1, res
    lines = [line for line in res.err.splitlines() if "blocks/" in line]
    assert len(lines) == 1, res.err
    if language == "en":
        assert f"{len(listed)} blocks were not checked, each for the same reason: cannot be read (permission denied)" \
            in lines[0], lines[0]
        assert "check the copy's medium and permissions" in lines[0]
    else:
        assert f"{len(listed)} blocs n'ont pas été vérifiés, chacun pour la même raison" in lines[0], lines[0]
    assert sum(b in lines[0] for b in listed) == 2, lines[0]
    assert all(run.name in lines[0] for run in runs), lines[0]


def test_a_remotes_reasons_that_name_their_block_are_still_one_line():
    """rclone's error names the block it was reading ("reading `<name>` failed: ... permission denied"): the reasons
    differ only there, and are one reason all the same; damaged blocks stay one line each."""
    from pipeline.verify.copy import CopyReport, _block_problems

    names = [f"{n:02x}" + "ab" * 31 for n in range(6)]
    problems = [(name, f"cannot be read (reading `{name}` failed: failed to find object: permission denied)",
                 ["20261201T200000Z-aaaaaa", "20261202T200000Z-bbbbbb"], True) for name in names]
    problems.append(("ff" + "cd" * 31, "is damaged: its BLAKE3 differs from the block lists", ["20261202T200000Z-bbbbbb"],
                     False))
    report = CopyReport("rclone:offsite:caisse")
    _block_problems(report, problems)
    lines = [p.sentence() for p in report.problems]
    assert len(lines) == 2, lines
    grouped = [line for line in lines if "were not checked" in line]
    assert len(grouped) == 1 and grouped[0].startswith("rclone:offsite:caisse / blocks/: 6 blocks"), lines
    assert f"reading `{names[0]}` failed" in grouped[0] and "20261201T200000Z-aaaaaa" in grouped[0]
    assert any("is damaged" in line and "coffre repair heals" in line for line in lines), lines


def test_a_remotes_reasons_that_differ_only_by_a_count_are_one_line():
    """rclone's daemon says how many bytes a transfer missed: one reason all the same."""
    from pipeline.verify.copy import CopyReport, _block_problems

    problems = [(f"{n:02x}" + "ef" * 31, f"cannot be read (the transfer through the rclone daemon failed ({1000 + n * 77} "
                 "bytes missing))", ["20261201T200000Z-aaaaaa"], True) for n in range(5)]
    report = CopyReport("rclone:offsite:caisse")
    _block_problems(report, problems)
    assert len(report.problems) == 1 and "5 blocks were not checked" in report.problems[0].message, report.problems
