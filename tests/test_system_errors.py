"""A system error is said in the person's language: the system's own words (strerror) are English whatever the
locale, so the errors a shop meets are worded through the catalogue; a text Coffre wrote itself is kept."""

from __future__ import annotations

import errno
import os

import pytest

from pipeline import i18n
from pipeline.system_errors import error_words, out_of_room


@pytest.fixture
def french():
    i18n.set_language("fr")
    yield
    i18n.set_language("en")


@pytest.mark.parametrize("code, english, french_words", [
    (errno.ENOSPC, "no space left on the device", "plus de place sur le support"),
    (errno.EROFS, "the device is read-only", "le support est en lecture seule"),
    (errno.EIO, "input/output error", "erreur d'entrée-sortie"),
    (errno.EFBIG, "FAT32", "FAT32"),
    (errno.ECONNREFUSED, "the connection was refused", "la connexion a été refusée"),
    (errno.ENOTCONN, "the network share is no longer connected", "le partage réseau n'est plus connecté"),
])
def test_the_errors_a_shop_meets_are_said_in_its_language(code, english, french_words, french):
    err = OSError(code, os.strerror(code))
    assert french_words in error_words(err) and os.strerror(code) not in error_words(err)
    i18n.set_language("en")
    assert english in error_words(err)


def test_an_error_as_python_raises_it_is_translated_too(tmp_path, french):
    with pytest.raises(OSError) as caught:
        open(tmp_path / "absent" / "file")
    assert error_words(caught.value) == "fichier ou dossier introuvable"


def test_a_text_coffre_wrote_itself_is_kept_and_an_unlisted_error_keeps_its_name(french):
    assert error_words(OSError(errno.ELOOP, "x.db est un lien symbolique")) == "x.db est un lien symbolique"
    said = error_words(OSError(errno.EDOM, os.strerror(errno.EDOM)))
    assert said.startswith("erreur système EDOM : ") and os.strerror(errno.EDOM) in said
    assert error_words(ValueError("not an OSError")) == "not an OSError"


@pytest.mark.parametrize("err, full", [
    (OSError(errno.ENOSPC, "No space left on device"), True),
    (OSError(errno.EDQUOT, "Disk quota exceeded"), True),
    # rclone passes a remote's words on without an errno (its local backend, as a review met it on a full tmpfs)
    (OSError("writing blocks/ab/x failed: preallocate: file too big for remaining disk space"), True),
    (OSError("writing x failed: 507 Insufficient Storage"), True),
    (OSError("googleapi: Error 403: The user's Drive storage quota has been exceeded., storageQuotaExceeded"), True),
    (OSError(errno.EIO, "Input/output error"), False),
    (OSError("writing x failed: 405 Method Not Allowed"), False),
])
def test_a_full_medium_is_told_from_other_failures_local_or_remote(err, full):
    assert out_of_room(err) is full
