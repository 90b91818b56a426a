"""The till's sealing secret (Dolibarr's blocked log V2), read at run time and never kept, logged or shown."""

from __future__ import annotations

import os
from pathlib import Path

from pipeline.errors import UsageError
from pipeline.i18n import _
from pipeline.system_errors import error_words

ENVIRONMENT = "COFFRE_CHAIN_SECRET"


def chain_secret(path: Path | None) -> bytes | None:
    """The environment variable's value, else the file's content without its final line end, else None."""
    value = os.environ.get(ENVIRONMENT)
    if value:
        return value.encode("utf-8")
    return None if path is None else secret_file(Path(path))


def secret_file(path: Path) -> bytes:
    """The file's content without its final line end; one sentence when it cannot be read or is empty."""
    try:
        raw = Path(path).read_bytes()
    except OSError as err:
        raise UsageError(_("The till's secret file {path} cannot be read ({reason}).").format(
            path=path, reason=error_words(err)))
    raw = raw.rstrip(b"\r\n")
    if not raw:
        raise UsageError(_("The till's secret file {path} is empty.").format(path=path))
    return raw
