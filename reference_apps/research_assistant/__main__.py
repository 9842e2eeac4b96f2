"""`python -m research_assistant`: the same command line as `python app.py`."""

import sys
from pathlib import Path

# The app's modules are plain files next to this one, so `python app.py` works from the folder.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from app import main

raise SystemExit(main())
