"""Which medium a destination is: an id file at its root, written at the first run there, read by every reader.

The record says which runs went to which medium, so that a run deleted from a copy shows whatever the
destination is called today (a trailing slash, a relative path, a symlink, another mount point, another rclone
remote name for the same place), and two USB keys taking turns at the same mount point are told apart.
"""

from __future__ import annotations

import json
import re
import secrets
import time

from pipeline.i18n import _

MEDIUM_FILE = "coffre-medium.json"
LIMIT = 4096  # the file is a few lines; more is not ours and is not read
_ID = re.compile(r"^[0-9a-f]{32}\Z")
NOTE = ("Coffre knows this medium by this file: keep it, do not copy it to another medium. "
        "Coffre identifie ce support par ce fichier : ne le supprimez pas, ne le copiez pas sur un autre support.")


class MediumFileInvalid(ValueError):
    """The id file exists but is not one Coffre wrote."""


def new_medium_id() -> str:
    return secrets.token_hex(16)


def render(medium_id: str) -> bytes:
    doc = {"coffre_medium": medium_id, "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "note": NOTE}
    return (json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def parse(data: bytes) -> str:
    if len(data) > LIMIT:
        raise MediumFileInvalid(_("{file} is larger than the one Coffre writes").format(file=MEDIUM_FILE))
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise MediumFileInvalid(_("{file} is not valid JSON").format(file=MEDIUM_FILE))
    medium = doc.get("coffre_medium") if isinstance(doc, dict) else None
    if not isinstance(medium, str) or not _ID.match(medium):
        raise MediumFileInvalid(_("{file} holds no medium id of Coffre's").format(file=MEDIUM_FILE))
    return medium


def read_medium(dest) -> str | None:
    """The medium id at the destination's root; None when there is none. Raises MediumFileInvalid, OSError."""
    data = dest.read_root_file(MEDIUM_FILE, LIMIT)
    return None if data is None else parse(data)
