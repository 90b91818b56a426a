"""Retention: which runs a shop keeps (the keep rules and the legal years) and the signed record of a removal."""
