"""The documented exit codes, and the errors that end a command with one sentence."""

OK = 0
CHECK_FAILED = 1  # a copy damaged, missing, tampered, or a restore that does not match
USAGE = 2  # usage or configuration error
CANNOT_RUN = 3  # source unreadable, destination missing or full, lock held
PARTIAL = 4  # some copies written, others not
NEEDS_PERSON = 5  # done and saved, but what was saved needs a person (findings, data that shrank or vanished)


class CoffreError(Exception):
    """An error for a person: `str(err)` is one sentence, `exit_code` is for scripts."""

    exit_code = CANNOT_RUN

    def __init__(self, message: str, exit_code: int | None = None):
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class UsageError(CoffreError):
    exit_code = USAGE


class CannotRun(CoffreError):
    exit_code = CANNOT_RUN


class CopyAbsent(CannotRun):
    """A copy out of reach (its medium unplugged, its remote missing): `str(err)` is the sentence said on its own, which
    names the copy; `words`, what follows the copy's name on a line that already gives it ("/media/usb: missing …"),
    rather than "/media/usb: The destination /media/usb is missing …"."""

    def __init__(self, sentence: str, words: str):
        super().__init__(sentence)
        self.words = words


class CheckFailed(CoffreError):
    exit_code = CHECK_FAILED
