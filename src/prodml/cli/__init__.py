"""The `prodml` command line: `main.py` holds the app and the top-level commands, and each
part of the flow with commands of its own has a module (`data.py`: `prodml data ...`)."""

from prodml.cli.main import app, main

__all__ = ["app", "main"]
