"""MANIFEST.b3 and manifest.json parsing: what a reader refuses to trust."""

from __future__ import annotations

import pytest

from pipeline.manifest import format as fmt

H = "a" * 64


def test_b3_round_trip():
    data = fmt.render_b3([("manifest.json", H), ("snapshot.sqlite.zst.age", "b" * 64)])
    assert data == f"{H}  manifest.json\n{'b' * 64}  snapshot.sqlite.zst.age\n".encode()
    assert fmt.parse_b3(data) == {"manifest.json": H, "snapshot.sqlite.zst.age": "b" * 64}


@pytest.mark.parametrize("name", ["../etc/passwd", "/etc/passwd", "a/b", "x\0y", "..", ".hidden", "a" * 300, "a..b", "é.txt"])
def test_b3_refuses_names_that_are_not_plain_files(name):
    with pytest.raises(fmt.ManifestError):
        fmt.parse_b3(f"{H}  {name}\n".encode("utf-8"))


@pytest.mark.parametrize("data", [b"", b"\n", f"{H}  a\n{H}  a\n".encode(), f"{H} a\n".encode(), f"{H[:-1]}  a\n".encode(),
                                  f"{H}  a".encode(), b"\xff\xfe\n", f"{H.upper()}  a\n".encode()])
def test_b3_refuses_malformed_lists(data):
    with pytest.raises(fmt.ManifestError):
        fmt.parse_b3(data)


def test_names_digests_and_run_ids_followed_by_a_newline_are_refused():
    """"$" also matches before a last newline; each of these patterns must take the whole text and no more."""
    assert fmt.valid_name("manifest.json") and not fmt.valid_name("manifest.json\n")
    assert fmt.RUN_ID.match("20261128T120000Z-abcdef") and not fmt.RUN_ID.match("20261128T120000Z-abcdef\n")
    with pytest.raises(fmt.ManifestError):
        fmt.parse_b3(f"{H}\n  a\n".encode())
    with pytest.raises(fmt.ManifestError):
        fmt.parse_manifest(_manifest(run_id="20261128T120000Z-abcdef\n"))
    with pytest.raises(fmt.ManifestError):
        fmt.parse_manifest(_manifest(files=[{"name": "snapshot.sqlite.zst.age", "kind": "snapshot", "size": 1,
                                             "blake3": H + "\n"}]))


def _manifest(**over):
    doc = {"format": "coffre-run", "format_version": 1, "run_id": "20261128T120000Z-abcdef", "store_id": "s",
           "created_at": "2026-11-28T12:00:00Z", "tool": {"name": "coffre", "version": "0"}, "previous_run": None,
           "recipients": ["age1x"], "files": [{"name": "snapshot.sqlite.zst.age", "kind": "snapshot", "size": 1, "blake3": H}]}
    doc.update(over)
    return fmt.render_manifest(doc)


def test_manifest_parses():
    assert fmt.parse_manifest(_manifest())["run_id"] == "20261128T120000Z-abcdef"


@pytest.mark.parametrize("over", [
    {"format_version": 3}, {"format_version": True}, {"run_id": "../x"}, {"files": [{"name": "../x", "size": 1, "blake3": H}]},
    {"files": [{"name": "a", "size": -1, "blake3": H}]}, {"files": [{"name": "a", "size": True, "blake3": H}]},
    {"files": [{"name": "a", "size": 1, "blake3": "zz"}]}, {"files": "nope"}, {"previous_run": {"run_id": 3}},
    {"files": [{"name": "MANIFEST.b3", "size": 1, "blake3": H}]}, {"recipients": None},
])
def test_manifest_refuses_wrong_fields(over):
    with pytest.raises(fmt.ManifestError):
        fmt.parse_manifest(_manifest(**over))


@pytest.mark.parametrize("data", [b"", b"[]", b"{", b"\xff", b"[" * 100000, b"null"])
def test_manifest_refuses_garbage(data):
    with pytest.raises(fmt.ManifestError):
        fmt.parse_manifest(data)


def test_a_block_list_is_known_only_in_version_2_and_only_as_a_blocks_file_of_the_snapshot_or_journals():
    blocks = {"name": "snapshot.sqlite.blocks", "kind": "snapshot", "size": 1, "blake3": H, "layout": "blocks"}
    assert fmt.parse_manifest(_manifest(format_version=2, files=[blocks]))["files"][0]["layout"] == "blocks"
    for version, entry in ((1, blocks), (2, dict(blocks, layout="tar")), (2, dict(blocks, name="snapshot.sqlite")),
                           (2, dict(blocks, kind="facts", name="facts.json.blocks"))):
        with pytest.raises(fmt.ManifestError):
            fmt.parse_manifest(_manifest(format_version=version, files=[entry]))
