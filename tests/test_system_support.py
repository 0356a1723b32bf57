"""tests/support/system.py: a missing system program skips a test, and fails it in CI."""

from __future__ import annotations

import sys

import pytest

from tests.support.system import in_ci, require_program


def test_found_program_returns_its_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    assert require_program("python3", "always there", path=sys.executable) == sys.executable


def test_missing_program_skips_outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="'no-such-program-x' is missing: for a test"):
        require_program("no-such-program-x", "for a test")


@pytest.mark.parametrize("value", ["true", "TRUE", " true "])
def test_missing_program_fails_in_ci(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("CI", value)
    assert in_ci()
    with pytest.raises(pytest.fail.Exception, match="CI=true but the program 'no-such-program-x'"):
        require_program("no-such-program-x", "for a test")


@pytest.mark.parametrize("value", ["", "false", "0"])
def test_other_ci_values_skip(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("CI", value)
    assert not in_ci()
    with pytest.raises(pytest.skip.Exception):
        require_program("no-such-program-x", "for a test")
