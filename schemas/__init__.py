"""The published JSON Schemas and source mappings, shipped as package data (read with importlib.resources)."""
