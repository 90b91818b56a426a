"""Readers that give the data back: unpack a stream, restore a run, drill a restore."""
