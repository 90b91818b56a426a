"""Numbers and sizes as the reader writes them: kept here for the commands; they live in pipeline/units.py."""

from pipeline.units import number, size

__all__ = ["number", "size"]
