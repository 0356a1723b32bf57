"""Shared test fixtures: repository paths, the real survey files, running Snakemake."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def shared_file(*parts: str) -> Path:
    """A real survey file from ../shared/data, or skip the test when the folder is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real survey file not available: {path}")
    return path


def run_snakemake(
    workdir: Path,
    *args: str,
    configfiles: tuple[str | Path, ...] = (),
    check: bool = True,
    timeout: float = 600,
) -> subprocess.CompletedProcess[str]:
    """Run this repository's workflow in ``workdir`` with the tiny test configuration.

    ``configfiles`` are merged over the tiny configuration, in order (one ``--configfile``
    option takes them all: a second option would replace the first).
    """
    cmd = [
        sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"),
        "--directory", str(workdir), *args,
        "--configfile", str(REPO / ".test/config/config.yaml"), *map(str, configfiles),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One finished run of the tiny configuration, shared by the workflow tests."""
    workdir = tmp_path_factory.mktemp("tiny_run")
    run_snakemake(workdir, "--cores", "2", "all")
    return workdir
