# Shared helpers of the rules: where the chosen source keeps its files.
# (Scripts import the package from this checkout's src/ through workflow/scripts/_bootstrap.py,
# so any Python that runs them, a conda env included, uses the code beside this Snakefile.)

import hashlib
import json
import subprocess
from pathlib import Path

SOURCE = config["source"]
RESOURCES = f"resources/{SOURCE}"
# Drawn on figures and written into tables, so mock numbers are never mistaken for the paper's.
DATA_NOTE = (
    "simulated survey (mock LAMOST x Kepler), not the paper's data"
    if SOURCE == "simulated"
    else "LAMOST DR9 x Kepler asteroseismology"
)


def source_file(name):
    """Path of one of the source's catalogue files (same names for every source)."""
    return f"{RESOURCES}/{name}"


def spectra_ready():
    """The file (or folder) whose existence means the source's spectra are all on disk."""
    if SOURCE == "simulated":
        return f"{RESOURCES}/spectra"
    return f"{RESOURCES}/downloaded_spectra.csv"


def spectra_dir(wildcards, input):
    """The folder of the source's <obsid>.fits.gz files, next to what spectra_ready() names."""
    ready = Path(input.spectra)
    return str(ready if SOURCE == "simulated" else ready.parent / "spectra")


def fig(name):
    """Outputs of a figure rule: the PDF and the PNG beside it (the PNG goes in the report)."""
    return {
        "pdf": f"results/figures/{name}.pdf",
        "png": report(
            f"results/figures/{name}.png",
            caption=f"../report/{name}.rst",
            category="Figures",
        ),
    }


def cluster_catalog():
    """LAMOST catalogue rows near the cluster members (the survey catalogue for the mock)."""
    if SOURCE == "simulated":
        return f"{RESOURCES}/lamost_catalog.csv"
    return f"{RESOURCES}/cluster_catalog.csv"


def cluster_spectra_ready():
    """What must exist before the cluster members' spectra are all on disk."""
    if SOURCE == "simulated":
        return f"{RESOURCES}/spectra"
    return f"{RESOURCES}/downloaded_cluster_spectra.csv"


def _commit():
    """The checkout's commit (or 'unknown' outside git), for table captions."""
    try:
        out = subprocess.run(
            ["git", "-C", workflow.basedir, "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


COMMIT = _commit()
CONFIG_MD5 = hashlib.md5(json.dumps(config, sort_keys=True).encode()).hexdigest()[:12]


def caption(title):
    """A table caption naming the data, the commit and the configuration."""
    return f"{title}. Data: {DATA_NOTE}. Pipeline commit {COMMIT}, config md5 {CONFIG_MD5}."
