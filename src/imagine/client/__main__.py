"""`python -m imagine.client` runs the client commands alone."""

from imagine.client.cli import main

main()
