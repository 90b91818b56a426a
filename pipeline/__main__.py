"""Lets `python -m pipeline` run the coffre command."""

from pipeline.cli import main

main()
