"""Destinations: where copies go. Every kind offers the same interface (see Destination).

A destination holds, per store, one folder per run: `<root>/<store_id>/<run_id>/`, the signed records of the
runs retention removed: `<root>/<store_id>/removals/`, and (format 2) the blocks the runs share:
`<root>/<store_id>/blocks/`. Writers
create each file under a temporary name and publish it with `commit` (fsync, rename); readers
only ever see published names. Kinds: a local folder (USB key, disk, mounted share) and
`rclone:REMOTE:PATH`.

Whoever can write to one copy (a USB key left in the shop, a shared cloud folder) must not be able to make the
till machine read something else than that copy's own files: readers open only regular files, reached without
following a symbolic link below the destination's root, and refuse the rest with NotRegular.
"""

from __future__ import annotations

import errno
from collections.abc import Mapping
from typing import BinaryIO, Protocol

from pipeline.errors import UsageError
from pipeline.i18n import _
from pipeline.system_errors import error_words


class RunWriter(Protocol):
    def open(self, name: str) -> BinaryIO:
        """A writable file for `name`, under a temporary name until commit."""

    def commit(self, name: str) -> None:
        """Flushes `name` to stable storage and publishes it under its real name. Raises NotPublished when it
        failed before the publishing step (the name certainly not given), any OSError otherwise."""

    def discard(self) -> None:
        """Removes what this writer left unpublished (after a failure)."""


class Destination(Protocol):
    spec: str

    def describe(self) -> str: ...

    def check_ready(self) -> None:
        """Raises CannotRun with one sentence when the medium is absent or unwritable."""

    def device(self) -> int | None:
        """st_dev of the medium, for the same-disk rule; None when not a local device."""

    def free_space(self) -> int | None:
        """Bytes still free on the medium; None when the kind cannot tell."""

    def runs(self, store_id: str) -> list[str]: ...

    def files(self, store_id: str, run_id: str) -> dict[str, int]:
        """Every entry of a run folder with its size in bytes (-1 for what is not a plain file)."""

    def entry_kind(self, store_id: str, run_id: str, name: str) -> str:
        """What an entry that files() gives as -1 is, in a few words ("a FIFO (named pipe)", "a symbolic link")."""

    def open_read(self, store_id: str, run_id: str, name: str) -> BinaryIO:
        """The published file `name`; raises NotRegular for anything but a regular file of that run folder."""

    def start_run(self, store_id: str, run_id: str) -> RunWriter: ...

    def remove_run(self, store_id: str, run_id: str, patient: bool = True) -> None:
        """Removes a run folder that never got its signature (an interrupted run); never a signed one. Not `patient`:
        best effort for a copy that just failed, given up in seconds on a remote that does not answer (the next
        archive removes what is left)."""

    def remove_signed_run(self, store_id: str, run_id: str) -> None:
        """Removes a whole run, signature first (retention only, once its signed removal record is written)."""

    def store_files(self, store_id: str, folder: str) -> list[str]:
        """The files of `<store>/<folder>/` (the removal records: `removals`), [] when there is none."""

    def read_store_file(self, store_id: str, folder: str, name: str, limit: int) -> bytes:
        """At most limit+1 bytes of one of them."""

    def put_store_file(self, store_id: str, folder: str, name: str, data: bytes) -> None:
        """Writes one of them durably, published under its name only once complete."""

    def remove_store_file(self, store_id: str, folder: str, name: str) -> None:
        """Removes one of them (a removal record a newer one supersedes); nothing there is no error."""

    # Format 2: the blocks the store's runs share, `<store>/blocks/<ab>/<name>` (docs/FORMAT.md §11).
    def blocks(self, store_id: str) -> Mapping[str, int]:
        """Every block with its size (-1, or a key holding a `/`, for what is not a block where its name puts it), as
        a BlockTable (pipeline/manifest/block_table.py): a copy may hold hundreds of thousands."""

    # The `<ab>` folders the last blocks() could not read: the blocks in them are unlisted, not missing.
    unlisted_block_folders: set[str]

    def open_block(self, store_id: str, name: str) -> BinaryIO:
        """One block; raises NotRegular for anything but a regular file reached without a link."""

    def start_blocks(self, store_id: str) -> "BlockWriter": ...

    def remove_block(self, store_id: str, name: str) -> None:
        """Removes one block (the prune's sweep); nothing there is no error."""

    def remove_block_leftovers(self, store_id: str) -> None:
        """Removes the `.tmp-` files a killed writer left among the blocks."""


class BlockWriter(Protocol):
    def put(self, name: str, data: bytes, replace: bool = False) -> None:
        """Writes one block durably under a temporary name, then publishes it; never over an existing block unless
        `replace` (repair)."""


class NotRegular(OSError):
    """An entry of a copy that is not read: not a regular file (or folder), or reached through a symbolic link.

    str(err) is what to say after the entry's name, e.g. "is a FIFO (named pipe), not a regular file; not read".
    """

    def __init__(self, message: str):
        super().__init__(errno.EPERM, message)

    def __str__(self) -> str:
        return self.strerror


class NotPublished(OSError):
    """A file whose writing failed before it was published under its name: it is certainly not there (a failure
    as it is published may have given the name all the same: a rename on a medium going away, a remote move whose
    answer was lost)."""


def not_a_file(kind: str) -> NotRegular:
    return NotRegular(_("is {kind}, not a regular file; not read").format(kind=kind))


def why_not_read(err: OSError) -> str:
    """What to say after a file's name when opening or reading it failed."""
    if isinstance(err, NotRegular):
        return str(err)
    if getattr(err, "said", None):
        return err.said
    return _("cannot be read ({error})").format(error=error_words(err))


def open_destination(spec: str, glance: bool = False) -> Destination:
    """`glance`: for a look that must answer in seconds (status, list): a remote that does not answer soon is absent."""
    if spec.startswith("rclone:"):
        from pipeline.destinations.rclone import RcloneDestination

        return RcloneDestination(spec, glance)
    if not spec or "\0" in spec:
        raise UsageError(_("The destination {spec} is not a folder path nor rclone:REMOTE:PATH.").format(
            spec=repr(spec)))
    from pipeline.destinations.local import LocalDestination

    return LocalDestination(spec)
