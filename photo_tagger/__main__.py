"""`python -m photo_tagger` runs the CLI."""

from .cli import main

main()
