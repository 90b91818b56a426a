"""Lets `python -m pipeline` run the coffre command."""

from pipeline.command import main

main()
