"""`python -m app.cli` is `ragqa`."""

import sys

from app.cli.main import main

sys.exit(main())
