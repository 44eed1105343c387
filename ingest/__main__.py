"""`python -m ingest PATH...` is `ragqa ingest PATH...`."""

import sys

from app.cli.main import main

sys.exit(main(["ingest", *sys.argv[1:]]))
