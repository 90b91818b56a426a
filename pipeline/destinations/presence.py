"""Whether a destination is really there this evening: reachable, its medium mounted, not on the till's own disk.

An unplugged USB key often leaves its mount point behind, an empty folder on the till's disk: writing "the key's
copy" there would put it beside the database it is meant to outlive. Such a destination is reported missing and
the other copies are written.
"""

from __future__ import annotations

from pipeline.destinations.medium import MediumFileInvalid, read_medium
from pipeline.errors import CannotRun, CopyAbsent
from pipeline.i18n import _


def absent_reason(dest, source, recorded: dict | None, allow_same_disk: bool) -> tuple[CannotRun | None, str | None]:
    """(why this destination cannot take a copy tonight, or None; a warning to show, or None)."""
    try:
        dest.check_ready()
    except CannotRun as err:
        return err, None
    why = unmounted_reason(dest, recorded)
    if why:
        return why, None
    src_dev = source.device()
    if src_dev is not None and dest.device() == src_dev:
        if not allow_same_disk:
            return CopyAbsent(_(
                "The destination {destination} is on the same disk as the database ({database}): a copy there dies "
                "with that disk; is the USB key or disk plugged in and mounted? (Experts: --allow-same-disk.)").format(
                destination=dest.describe(), database=source.describe()), _(
                "on the same disk as the database ({database}), where a copy dies with that disk (is the USB key or "
                "disk plugged in and mounted? Experts: --allow-same-disk)").format(database=source.describe())), None
        return None, _("Warning: The destination {destination} is on the same disk as the database ({database}): a "
                       "copy there dies with that disk; is the USB key or disk plugged in and mounted? Written anyway "
                       "because --allow-same-disk was given.").format(destination=dest.describe(),
                                                                       database=source.describe())
    return None, None


def unmounted_reason(dest, recorded: dict | None) -> CopyAbsent | None:
    """Why a local destination's medium is not there (its folder is no longer on the file system it was written
    to, and holds no medium id), from what the record says of its last run there, to raise; None when it is, or
    cannot tell."""
    mount_point = getattr(dest, "mount_point", None)
    if mount_point is None or not recorded or not recorded.get("mount_point"):
        return None
    then = recorded["mount_point"]
    if mount_point() == then or _has_medium(dest):
        return None
    return CopyAbsent(_("The destination {destination} is missing: the disk or USB key it was written to (mounted at "
                        "{mount_point}) is not mounted now; is it plugged in?").format(destination=dest.describe(),
                                                                                       mount_point=then),
                      _("missing (the disk or USB key it was written to, mounted at {mount_point}, is not mounted "
                        "now; is it plugged in?)").format(mount_point=then))


def _has_medium(dest) -> bool:
    try:
        return read_medium(dest) is not None
    except (OSError, MediumFileInvalid):
        return False
