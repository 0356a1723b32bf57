# Shared helpers of the rules: where the chosen source keeps its files.
import os
from pathlib import Path

# Rules import the package from this checkout, whichever Python (or conda env) runs them.
_SRC = str(Path(workflow.basedir) / "src")
if _SRC not in os.environ.get("PYTHONPATH", "").split(os.pathsep):
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (_SRC, os.environ.get("PYTHONPATH", "")) if p
    )

SOURCE = config["source"]
RESOURCES = f"resources/{SOURCE}"


def source_file(name):
    """Path of one of the source's catalogue files (same names for every source)."""
    return f"{RESOURCES}/{name}"
