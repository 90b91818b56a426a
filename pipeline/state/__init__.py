"""What this machine remembers: the store lock, and which run was written to which destination."""
