"""The reference POS schema and its deterministic, signed sample shop database."""

from pipeline.i18n import _, ngettext
from pipeline.units import number
from pipeline.sample.generate import TABLES, SaleComposer, SaleWriter, generate

__all__ = ["TABLES", "SaleComposer", "SaleWriter", "generate", "describe_counts"]


def describe_counts(counts: dict[str, int]) -> str:
    """What a sample database holds, as a person reads it: "2 registers, 6 operators, …, 60 closures"."""
    return ", ".join(_count(table, n) for table, n in counts.items())


def _count(table: str, n: int) -> str:
    if table == "registers":
        return ngettext("{count} register", "{count} registers", n).format(count=number(n))
    if table == "operators":
        return ngettext("{count} operator", "{count} operators", n).format(count=number(n))
    if table == "till_keys":
        return ngettext("{count} till key", "{count} till keys", n).format(count=number(n))
    if table == "products":
        return ngettext("{count} product", "{count} products", n).format(count=number(n))
    if table == "tickets":
        return ngettext("{count} ticket", "{count} tickets", n).format(count=number(n))
    if table == "ticket_lines":
        return ngettext("{count} ticket line", "{count} ticket lines", n).format(count=number(n))
    if table == "payments":
        return ngettext("{count} payment", "{count} payments", n).format(count=number(n))
    if table == "closures":
        return ngettext("{count} closure", "{count} closures", n).format(count=number(n))
    if table == "jet":
        return ngettext("{count} technical event", "{count} technical events", n).format(count=number(n))
    if table == "duplicates":
        return ngettext("{count} duplicate", "{count} duplicates", n).format(count=number(n))
    return _("{count} {table}").format(count=n, table=table)
