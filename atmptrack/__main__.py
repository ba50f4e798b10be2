"""Entry point for ``python -m atmptrack``."""

from atmptrack.cli import main

raise SystemExit(main())
