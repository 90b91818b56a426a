"""Writes one stream of stored bytes to every destination at once; one failing copy does not stop the others."""

from __future__ import annotations

import errno

import blake3

from pipeline.i18n import _


class AllBranchesFailed(OSError):
    pass


class Tee:
    """A writer that hashes the stored bytes once and hands them to each branch.

    A branch whose write raises OSError (disk full, key pulled out) is dropped and its error kept
    in `failures`; the stream goes on to the others. Only when no branch is left does the write fail.
    """

    def __init__(self, branches: dict[str, object]):
        self.branches = dict(branches)
        self.failures: dict[str, OSError] = {}
        self.hash = blake3.blake3(max_threads=1)
        self.size = 0

    def write(self, data) -> int:
        self.hash.update(data)
        self.size += len(data)
        for key, f in list(self.branches.items()):
            try:
                f.write(data)
            except OSError as err:
                self.failures[key] = err
                del self.branches[key]
            except ValueError:  # its file was closed under it (that copy failed elsewhere): the same, for this copy
                self.failures[key] = OSError(errno.EIO, _("the copy's file was closed"))
                del self.branches[key]
        if not self.branches:
            raise AllBranchesFailed(_("every destination failed"))
        return len(data)

    def flush(self) -> None:
        pass

    def writable(self) -> bool:
        return True
