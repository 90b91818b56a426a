"""The `sha256-text` recipe: SHA-256 (hex) of the previous seal followed by a text the mapping builds in SQL.

Many tills chain their records this simple way: each record's fields joined into one line, hashed after the seal of
the record before it. Such a till needs no recipe of its own: its mapping builds that line in SQL, byte for byte as
the till does, and gives it as the content's "text"; this recipe hashes it. A till whose string cannot be built in
SQL (Odoo's Python str() of floats, Dolibarr's PHP formatting) has a recipe of its own beside this one.

Content: {"text": "<the line the till hashes, without the previous seal>"}.
Seal: sha256((previous + text).encode("utf-8")).hexdigest(); the first record's previous is "".
"""

import hashlib

from .content import ContentError, need


class Sha256Text:
    name = "sha256-text"
    secret = False
    previous = "order"
    first_previous = ""

    def text(self, record):
        text = need(record.get("content"), "text")
        if not isinstance(text, str):
            raise ContentError("text")
        return text

    def seal(self, previous, record, secret):
        return hashlib.sha256((previous + self.text(record)).encode("utf-8")).hexdigest()


RECIPE = Sha256Text()
