"""Make this checkout's ``src/`` importable first, whichever Python runs a rule's script."""

import sys
from pathlib import Path

_SRC = str(Path(__file__).resolve().parents[2] / "src")
if _SRC not in sys.path:
    sys.path.insert(0, _SRC)
