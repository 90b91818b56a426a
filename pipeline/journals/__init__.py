"""Fiscal journals: mapped from the till schema, exported as CSV and JSON, checked and reported."""
