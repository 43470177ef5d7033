"""`python -m imagine` runs the CLI."""

from imagine.cli import main

main()
