"""Atomic writes (spt.io.files) and per-step logs (spt.logs)."""

from __future__ import annotations

import gzip
import logging
import sys
import warnings
from pathlib import Path

import pandas as pd
import pytest

from spt.io.files import atomic_path, write_bytes, write_csv
from spt.logs import log_to


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".part"))


def test_atomic_path_replaces_only_on_success(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_path(target) as tmp:
            tmp.write_text("half-written")
            assert tmp.parent == target.parent and tmp != target
            raise RuntimeError("boom")
    assert target.read_text() == "old"  # the failed block left the old file alone
    assert leftovers(tmp_path) == []  # and no temporary file
    with atomic_path(target) as tmp:
        tmp.write_text("new")
        assert target.read_text() == "old"  # not visible before the block ends
    assert target.read_text() == "new" and leftovers(tmp_path) == []


def test_atomic_replace_keeps_readers_of_the_old_file(tmp_path: Path) -> None:
    """os.replace swaps the directory entry: an open reader still sees the whole old file."""
    target = tmp_path / "data.bin"
    target.write_bytes(b"A" * 10000)
    with open(target, "rb") as reader:
        write_bytes(target, b"B" * 50)
        assert reader.read() == b"A" * 10000
    assert target.read_bytes() == b"B" * 50


def test_write_helpers(tmp_path: Path) -> None:
    write_bytes(tmp_path / "sub" / "x.gz", b"payload")  # creates the folder
    raw = (tmp_path / "sub" / "x.gz").read_bytes()
    assert gzip.decompress(raw) == b"payload" and raw[4:8] == b"\0\0\0\0"
    frame = pd.DataFrame({"a": [0.1 + 0.2, 1e-17], "b": ["x", "y"]})
    write_csv(frame, tmp_path / "f.csv")
    back = pd.read_csv(tmp_path / "f.csv")
    assert list(back.columns) == ["a", "b"]  # no index column
    assert back["a"].tolist() == [0.1 + 0.2, 1e-17]  # full precision
    with pytest.raises(TypeError):
        write_csv(frame, tmp_path / "g.csv", no_such_option=True)
    assert not (tmp_path / "g.csv").exists() and leftovers(tmp_path) == []


def test_log_to_file_captures_and_restores(tmp_path: Path) -> None:
    root = logging.getLogger()
    handlers, level_before, stderr = list(root.handlers), root.level, sys.stderr
    log = tmp_path / "step.log"
    with warnings.catch_warnings(), log_to(log) as logger:
        warnings.simplefilter("always")
        logging.getLogger("spt.test").info("hello %d", 42)
        warnings.warn("careful", UserWarning, stacklevel=1)
        print("progress bar", file=sys.stderr)
        assert logger is root and sys.stderr is not stderr
    text = log.read_text()
    assert "INFO spt.test: hello 42" in text
    assert "careful" in text and "progress bar" in text
    assert root.handlers == handlers and sys.stderr is stderr  # all restored
    logging.captureWarnings(False)
    logging.getLogger("spt.test").info("after the block")
    assert "after the block" not in log.read_text()
    root.setLevel(level_before)


def test_log_to_records_the_traceback_and_reraises(tmp_path: Path) -> None:
    root = logging.getLogger()
    handlers, stderr = list(root.handlers), sys.stderr
    log = tmp_path / "fail.log"
    with pytest.raises(ValueError, match="bad input"):
        with log_to(log):
            raise ValueError("bad input")
    text = log.read_text()
    assert "ERROR root: step failed" in text
    assert "Traceback" in text and "ValueError: bad input" in text
    assert root.handlers == handlers and sys.stderr is stderr


def test_log_to_none_logs_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    handlers = list(root.handlers)
    with log_to(None):
        logging.getLogger("spt.test").warning("to the terminal")
    assert "WARNING spt.test: to the terminal" in capsys.readouterr().err
    assert root.handlers == handlers


def test_log_to_captures_warnings_in_every_block(tmp_path: Path) -> None:
    """The warnings hook is released after each block, so the next block captures them too."""
    for n in range(2):
        log = tmp_path / f"step{n}.log"
        with warnings.catch_warnings(), log_to(log):
            warnings.simplefilter("always")
            warnings.warn(f"warning {n}", UserWarning, stacklevel=1)
        assert f"warning {n}" in log.read_text()
