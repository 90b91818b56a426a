"""Reading stored data back: the age+zstd stream undone, and restored data held to the archive-time facts."""
