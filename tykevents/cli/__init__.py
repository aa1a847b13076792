"""The command line: one argparse front for run, check, send, render and deadletter."""

from tykevents.cli.main import main

__all__ = ["main"]
