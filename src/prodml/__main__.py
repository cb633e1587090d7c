"""`python -m prodml` runs the CLI, like the `prodml` command."""

from prodml.cli import main

main()
