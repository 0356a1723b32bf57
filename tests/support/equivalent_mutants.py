"""Equivalent mutants of ``benchmarks/mutation.py``: no input can tell them from the original.

Each key is a mutant's ``key`` as the script prints it (path under src/, enclosing function,
the code before and after; no line number); each value is the one-line reason it cannot
change any output. Keep this list short and honest: a mutant that merely no test catches
belongs in a test, not here.
"""

from __future__ import annotations

EQUIVALENT: dict[str, str] = {}
