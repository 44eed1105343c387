"""`python -m app` is `ragqa serve`."""

import sys

from app.cli.main import main

sys.exit(main(["serve", *sys.argv[1:]]))
