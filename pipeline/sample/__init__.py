"""The reference POS schema and its deterministic, signed sample shop database."""

from pipeline.sample.generate import TABLES, SaleWriter, generate

__all__ = ["TABLES", "SaleWriter", "generate"]
