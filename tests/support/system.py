"""System programs some tests need (SLURM, Chromium): skip where they are missing, fail in CI.

On a developer's machine a missing program skips its test with the reason. In CI (environment
``CI=true``, as GitHub Actions, GitLab CI and most runners set it, after
``tools/ci_install_system.sh``) a missing program means the install failed, and a skip would
hide that: the test fails instead.
"""

from __future__ import annotations

import os
import shutil
from typing import NoReturn

import pytest


def in_ci() -> bool:
    """True when the environment says this is a CI run (``CI=true``, any case)."""
    return os.environ.get("CI", "").strip().lower() == "true"


def missing(what: str, why: str) -> NoReturn:
    """Skip the test because ``what`` is missing (``why`` says what it was for), or fail in CI."""
    reason = f"{what} is missing: {why}"
    if in_ci():
        pytest.fail(f"CI=true but {reason} (did tools/ci_install_system.sh fail?)", pytrace=False)
    pytest.skip(reason)


def require_program(name: str, why: str, path: str | None = None) -> str:
    """The full path of program ``name`` (searched on PATH, or ``path`` when given as found by
    a caller's own search); skip when absent, fail when ``CI=true``."""
    found = path if path is not None else shutil.which(name)
    if not found:
        missing(f"the program {name!r}", why)
    return found
