"""Giving the data back: restore a run into a new folder, and the restore drill."""
