"""Equivalent mutants of ``benchmarks/mutation.py``: no input can tell them from the original.

Each key is a mutant's ``key`` as the script prints it (path under src/, enclosing function,
the code before and after; no line number); each value is the one-line reason it cannot
change any output. Keep this list short and honest: a mutant that merely no test catches
belongs in a test, not here.
"""

from __future__ import annotations

_DL = "spt/sources/download.py::"

EQUIVALENT: dict[str, str] = {
    # ---------------------------------------------------------------- spt.sources.download
    _DL + "<module>::1 << 16 -> 2 << 16": "read size only: read1() returns what has arrived, "
    "at most this many bytes; the bytes written and every check on them are the same",
    _DL + "<module>::1 << 16 -> 1 << 17": "read size only (as 2 << 16)",
    _DL + "_RedactFilter.__init__::super().__init__() -> pass": "logging.Filter.__init__ only "
    "sets name/nlen, read by the base class's filter(), which ours overrides",
    _DL + "backoff_delay::max(delay, retry_after) -> max(retry_after, delay)": "max of two "
    "floats is symmetric (Retry-After is a parsed decimal, never NaN)",
    _DL + "backoff_delay::min(delay, cap) -> min(cap, delay)": "min of two numbers is "
    "symmetric (neither is NaN: back-off and cap are checked numbers)",
    _DL + "call_with_retries::attempts + 1 -> attempts + 2": "the extra iteration is never "
    "reached: attempt == attempts always returns or raises",
    _DL + "_Fetcher.run::attempts + 1 -> attempts + 2": "the extra iteration is never "
    "reached: attempt == attempts always returns",
    _DL + "_Fetcher.close::self._sessions.clear() -> pass": "close() runs once, in "
    "download_many's finally, and the fetcher is dropped right after",
    _DL + "_Fetcher._attempt::('wb', False, 0) -> ('wb', False, 1)": "offset is not read "
    "after this assignment",
    _DL + "download_many::refresh=False -> refresh=True": "display timing only: the postfix "
    "is drawn now instead of at the next update; close() draws the same final bar",
}
