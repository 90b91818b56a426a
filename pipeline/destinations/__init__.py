"""Destinations: where copies go. Every kind offers the same interface (see Destination).

A destination holds, per store, one folder per run: `<root>/<store_id>/<run_id>/`. Writers
create each file under a temporary name and publish it with `commit` (fsync, rename); readers
only ever see published names. Kinds: a local folder (USB key, disk, mounted share) and
`rclone:REMOTE:PATH`.
"""

from __future__ import annotations

from typing import BinaryIO, Protocol

from pipeline.errors import UsageError


class RunWriter(Protocol):
    def open(self, name: str) -> BinaryIO:
        """A writable file for `name`, under a temporary name until commit."""

    def commit(self, name: str) -> None:
        """Flushes `name` to stable storage and publishes it under its real name."""

    def discard(self) -> None:
        """Removes what this writer left unpublished (after a failure)."""


class Destination(Protocol):
    spec: str

    def describe(self) -> str: ...

    def check_ready(self) -> None:
        """Raises CannotRun with one sentence when the medium is absent or unwritable."""

    def device(self) -> int | None:
        """st_dev of the medium, for the same-disk rule; None when not a local device."""

    def runs(self, store_id: str) -> list[str]: ...

    def files(self, store_id: str, run_id: str) -> dict[str, int]:
        """Every entry of a run folder with its size in bytes (-1 for what is not a plain file)."""

    def open_read(self, store_id: str, run_id: str, name: str) -> BinaryIO: ...

    def start_run(self, store_id: str, run_id: str) -> RunWriter: ...


def open_destination(spec: str) -> Destination:
    if spec.startswith("rclone:"):
        from pipeline.destinations.rclone import RcloneDestination

        return RcloneDestination(spec)
    if not spec or "\0" in spec:
        raise UsageError(f"The destination {spec!r} is not a folder path nor rclone:REMOTE:PATH.")
    from pipeline.destinations.local import LocalDestination

    return LocalDestination(spec)
