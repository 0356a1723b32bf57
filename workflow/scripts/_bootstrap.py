"""Make this checkout's ``src/`` importable first, whichever Python runs a rule's script.

Also stops OpenMP threads from spin-waiting (before torch or scikit-learn load it): on a busy
machine spinning threads made 2-thread jobs 5-10x slower than 1-thread ones.
"""

import os
import sys
from pathlib import Path

_SRC = str(Path(__file__).resolve().parents[2] / "src")
# First even when already on the path: Snakemake appends the workflow's sys.path after
# site-packages, where another checkout's (editable) install of the package would win.
while _SRC in sys.path:
    sys.path.remove(_SRC)
sys.path.insert(0, _SRC)

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
