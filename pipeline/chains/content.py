"""Reading a source chain record's content: what a recipe needs, or ContentError naming what is missing."""


class ContentError(ValueError):
    """The record's content lacks a value the recipe hashes, or holds one of the wrong kind."""


def need(content, key):
    """content[key], which must be there (None is a value: the product's empty field)."""
    if not isinstance(content, dict) or key not in content:
        raise ContentError(key)
    return content[key]
