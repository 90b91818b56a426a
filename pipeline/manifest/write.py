"""A run's control files as bytes, in the order they are written: RESTORE.txt, manifest.json, MANIFEST.b3."""

from __future__ import annotations

import blake3

from pipeline import __version__
from pipeline.manifest import format as fmt
from pipeline.manifest import restore_text

FILE_KINDS = ("snapshot", "journals", "facts")  # the order of a run's data files in its manifest


def control_files(run_id: str, store_id: str, created_at: str, previous: dict | None, recipients: list[str],
                  files: list[dict]) -> list[tuple[str, bytes]]:
    """`files` are the data files written ({name, kind, size, blake3, ...}); MANIFEST.b3 lists them and the two
    control files before it. The signature (of MANIFEST.b3, the last of these) is the writer's to add."""
    files = sorted(files, key=lambda f: FILE_KINDS.index(f["kind"]))
    restore = restore_text.render(run_id, store_id, created_at, __version__, [f["name"] for f in files])
    manifest = fmt.render_manifest({
        "format": fmt.FORMAT_NAME,
        "format_version": fmt.FORMAT_VERSION_BLOCKS if any("layout" in f for f in files) else fmt.FORMAT_VERSION,
        "run_id": run_id,
        "store_id": store_id,
        "created_at": created_at,
        "tool": {"name": "coffre", "version": __version__},
        "previous_run": {"run_id": previous["run_id"], "manifest_blake3": previous["manifest_blake3"]}
        if previous else None,
        "recipients": list(recipients),
        "files": files,
    })
    entries = [(f["name"], f["blake3"]) for f in files]
    entries += [(fmt.RESTORE_TXT, blake3.blake3(restore).hexdigest()),
                (fmt.MANIFEST_JSON, blake3.blake3(manifest).hexdigest())]
    return [(fmt.RESTORE_TXT, restore), (fmt.MANIFEST_JSON, manifest), (fmt.MANIFEST_B3, fmt.render_b3(sorted(entries)))]
