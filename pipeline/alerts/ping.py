"""The HTTP ping of a monitoring service in the healthchecks.io style: URL, URL/fail, URL/start."""

from __future__ import annotations

import json
import urllib.parse

from pipeline.i18n import _
from pipeline.system_errors import error_words

TIMEOUT = 10  # seconds; a monitoring service that does not answer by then is down for us
ATTEMPTS = 2  # one retry: a lost packet is common, a service down for minutes is not ours to wait out


def ping(url: str, body: dict | None = None) -> str | None:
    """POSTs the JSON body (or nothing) to url; returns None when it answered 2xx/3xx, else why not, in a few words."""
    import urllib.error
    import urllib.request  # here: 11 ms to import (http, ssl, email), which a command that pings nobody spares

    data = json.dumps(body or {}, sort_keys=True).encode("utf-8")
    why = None
    for _attempt in range(ATTEMPTS):
        request = urllib.request.Request(url, data=data, method="POST",
                                         headers={"Content-Type": "application/json", "User-Agent": "coffre"})
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as answer:
                answer.read(4096)
            return None
        except urllib.error.HTTPError as err:
            why = f"HTTP {err.code}"
            if err.code < 500:
                return why  # the service refused the ping: asking again gets the same answer
        except urllib.error.URLError as err:
            why = _("unreachable ({error})").format(
                error=error_words(err.reason) if isinstance(err.reason, BaseException) else err.reason)
        except (OSError, ValueError) as err:  # a timeout while reading, a malformed address
            why = _("unreachable ({error})").format(error=error_words(err))
    return why


def where(url: str) -> str:
    """The host alone: the rest of a ping URL (its check's uuid) lets anyone ping in our name, so logs never get it."""
    return urllib.parse.urlsplit(url).netloc or url
