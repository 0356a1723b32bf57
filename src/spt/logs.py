"""Logging for pipeline steps: everything a step says, warnings and tracebacks go to its log."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def log_to(path: str | os.PathLike[str] | None) -> Iterator[logging.Logger]:
    """Send logging, warnings and stderr (progress bars) to ``path`` for the block's duration.

    Everything is restored afterwards (handlers, stderr, the warnings hook), so blocks nest and
    repeat within one process.
    """
    logging.captureWarnings(True)
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    if path is None:
        handler: logging.Handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(fmt)
        root.addHandler(handler)
        try:
            yield root
        finally:
            root.removeHandler(handler)
            logging.captureWarnings(False)
        return
    with open(path, "w", buffering=1, encoding="utf-8") as stream:
        handler = logging.StreamHandler(stream)
        handler.setFormatter(fmt)
        root.addHandler(handler)
        old_stderr = sys.stderr
        sys.stderr = stream
        try:
            yield root
        except BaseException:
            root.exception("step failed")
            raise
        finally:
            sys.stderr = old_stderr
            root.removeHandler(handler)
            logging.captureWarnings(False)
