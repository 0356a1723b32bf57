"""What a run was made with: the software versions and the merged configuration, for the report."""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Mapping, Sequence
from importlib import metadata
from typing import Any

import pandas as pd
import yaml

from spt.io.files import atomic_path, write_csv

#: The distributions the pipeline's results depend on (PyPI names).
CORE_PACKAGES = (
    "numpy",
    "scipy",
    "pandas",
    "scikit-learn",
    "astropy",
    "astroquery",
    "torch",
    "matplotlib",
    "joblib",
    "pyyaml",
)
NOT_INSTALLED = "not installed"


def software_versions(
    packages: Sequence[str] = CORE_PACKAGES, extra: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """``component, version`` rows: Python, the platform, ``extra`` and each package's version.

    A package this Python cannot find is listed as "not installed", not skipped, so a table
    from an environment without torch says so.
    """
    rows = [("python", sys.version.split()[0]), ("platform", platform.platform())]
    rows += [(name, str(version)) for name, version in (extra or {}).items()]
    for name in packages:
        try:
            rows.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            rows.append((name, NOT_INSTALLED))
    return pd.DataFrame(rows, columns=["component", "version"])


def write_software_versions(
    path: str | os.PathLike[str],
    packages: Sequence[str] = CORE_PACKAGES,
    extra: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Write ``software_versions`` to a CSV atomically and return it."""
    frame = software_versions(packages, extra)
    write_csv(frame, path)
    return frame


def write_config(config: Mapping[str, Any], path: str | os.PathLike[str]) -> None:
    """The configuration a run used (defaults merged with every --configfile) as YAML."""
    text = yaml.safe_dump(_plain(config), sort_keys=True, default_flow_style=False)
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def _plain(value: Any) -> Any:
    """Snakemake's config holds its own mapping and list types; YAML wants plain ones."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
