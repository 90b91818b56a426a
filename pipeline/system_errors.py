"""What a system error (a full disk, a read-only key, a refused connection) means, in the person's language.

The system's own words for an error (strerror) are English whatever the person's language: "No space left on device"
in the middle of a French sentence. The errors a shop meets are worded here, through the catalogue; an error whose text
Coffre wrote itself (OSError(errno, _("…"))) keeps it, and one not listed keeps the system's words after its name.
"""

from __future__ import annotations

import errno
import os

from pipeline.i18n import _

_WORDS = {
    errno.ENOSPC: lambda: _("no space left on the device"),
    errno.EDQUOT: lambda: _("the disk quota is used up"),
    errno.EFBIG: lambda: _("the file is too large for this device (a FAT32 USB key takes no file over 4 GB)"),
    errno.EROFS: lambda: _("the device is read-only"),
    errno.EACCES: lambda: _("permission denied"),
    errno.EPERM: lambda: _("operation not permitted"),
    errno.EIO: lambda: _("input/output error: the device may be failing or was unplugged"),
    errno.ENOENT: lambda: _("no such file or folder"),
    errno.ENOTDIR: lambda: _("not a folder"),
    errno.EISDIR: lambda: _("it is a folder"),
    errno.EEXIST: lambda: _("it already exists"),
    errno.ENOTEMPTY: lambda: _("the folder is not empty"),
    errno.ENAMETOOLONG: lambda: _("the name is too long"),
    errno.ELOOP: lambda: _("too many levels of symbolic links"),
    errno.EMFILE: lambda: _("too many files open"),
    errno.ENFILE: lambda: _("too many files open on the system"),
    errno.ENOMEM: lambda: _("not enough memory"),
    errno.EBUSY: lambda: _("the device or file is busy"),
    errno.ENODEV: lambda: _("the device is gone"),
    errno.ENXIO: lambda: _("the device is gone"),
    errno.ESTALE: lambda: _("the network share's file handle is stale (the share was remounted)"),
    errno.EXDEV: lambda: _("the files are on different devices"),
    errno.EAGAIN: lambda: _("resource temporarily unavailable"),
    errno.EINVAL: lambda: _("invalid argument"),
    errno.ETIMEDOUT: lambda: _("the connection timed out"),
    errno.ECONNREFUSED: lambda: _("the connection was refused"),
    errno.ECONNRESET: lambda: _("the connection was reset"),
    errno.ECONNABORTED: lambda: _("the connection was aborted"),
    errno.EPIPE: lambda: _("the other end closed the connection"),
    errno.EHOSTUNREACH: lambda: _("the host is unreachable"),
    errno.ENETUNREACH: lambda: _("the network is unreachable"),
    errno.ENETDOWN: lambda: _("the network is down"),
    errno.ENOTCONN: lambda: _("the network share is no longer connected"),
    errno.EHOSTDOWN: lambda: _("the host is down"),
    errno.ENOLINK: lambda: _("the link to the network share is severed"),
    errno.EREMOTEIO: lambda: _("the remote device reported an input/output error"),
}


# What remotes say when they are full, where rclone passes their words on without an errno: its local backend
# ("file too big for remaining disk space"), WebDAV (507 Insufficient Storage), S3 and Drive ("QuotaExceeded",
# "storageQuotaExceeded").
_FULL_WORDS = ("no space left", "remaining disk space", "insufficient storage", "quota")


def out_of_room(err: BaseException) -> bool:
    """Whether `err` says the medium is full (or its quota used up), locally or on a remote."""
    if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(err).lower()
    return any(words in text for words in _FULL_WORDS)


def error_words(err: BaseException) -> str:
    """The words for `err` to put in a sentence: the catalogue's for a system error, a copy's own words for an absent
    copy (errors.CopyAbsent: the sentence names the copy already), else its own."""
    words = getattr(err, "words", None)
    if isinstance(words, str):
        return words
    code = getattr(err, "errno", None)
    text = getattr(err, "strerror", None)
    if isinstance(code, int) and (text is None or text == os.strerror(code)):
        words = _WORDS.get(code)
        if words is not None:
            return words()
        if text:
            return _("system error {name}: {text}").format(name=errno.errorcode.get(code, code), text=text)
    return text or str(err)
