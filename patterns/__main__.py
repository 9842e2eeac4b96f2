"""`python -m patterns` is `orch`."""

import sys

from patterns.cli import main

sys.exit(main())
