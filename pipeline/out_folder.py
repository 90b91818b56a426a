"""Refuses an --out folder reached through a symbolic link that leads to no folder, before anything is made there."""

from __future__ import annotations

import os
from pathlib import Path

from pipeline.errors import UsageError
from pipeline.i18n import _


def refuse_link_to_nowhere(folder: Path) -> None:
    """A link that loops or dangles, as the folder or one of its parents: making the folder would say only "it already
    exists" (or "not a folder") of it, which nobody can see there."""
    for path in (folder, *folder.parents):
        if path.is_symlink() and not path.is_dir():
            raise UsageError(_("{path} is a symbolic link that leads to no folder (it points to {target}): give a "
                               "folder that exists or can be made.").format(path=path, target=os.readlink(path)))
