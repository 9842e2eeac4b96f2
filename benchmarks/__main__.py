"""`python -m benchmarks`: `orch bench` without the entry point."""

import sys

from benchmarks.cli import main

sys.exit(main())
