"""Coffre: keeps a shop's point-of-sale data safe, several verified copies, for a tax inspection."""

__version__ = "0.1.0"
