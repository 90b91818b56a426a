"""Key material: the age identity that decrypts, the minisign key that signs runs."""
