"""Provenance for the report: software versions and the merged configuration."""

from __future__ import annotations

import sys
from importlib import metadata

import yaml

from spt.paper.provenance import (
    NOT_INSTALLED,
    software_versions,
    write_config,
    write_software_versions,
)


def test_versions_of_installed_and_missing_packages(tmp_path):
    frame = software_versions(["numpy", "surely-not-a-package-spt"], extra={"snakemake": "9.9"})
    table = dict(zip(frame["component"], frame["version"], strict=True))
    assert list(frame.columns) == ["component", "version"]
    assert table["python"] == sys.version.split()[0]
    assert table["numpy"] == metadata.version("numpy")
    assert table["surely-not-a-package-spt"] == NOT_INSTALLED
    assert table["snakemake"] == "9.9"
    assert list(frame["component"][:3]) == ["python", "platform", "snakemake"]
    path = tmp_path / "software.csv"
    write_software_versions(path, ["numpy"])
    first = path.read_bytes()
    write_software_versions(path, ["numpy"])
    assert path.read_bytes() == first  # reruns give the same file


class _Config(dict):
    """Stands in for Snakemake's own mapping type."""


def test_config_round_trips_as_plain_yaml(tmp_path):
    config = _Config(seed=1, model={"d_model": 128, "softmax": "temperature"}, fractions=(0.7, 0.3))
    path = tmp_path / "config.yaml"
    write_config(config, path)
    text = path.read_text()
    assert "!!python" not in text
    assert yaml.safe_load(text) == {
        "seed": 1,
        "model": {"d_model": 128, "softmax": "temperature"},
        "fractions": [0.7, 0.3],
    }
