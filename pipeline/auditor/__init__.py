"""The auditor handoff: a verified, signed, AES-256 ZIP that a tax inspector opens with stock tools."""
