"""Open the Snakemake HTML report in headless Chromium: a screenshot and the rendered page text.

The report is a single-page application that draws itself with JavaScript, so reading the
HTML file proves little; rendering it in a real browser shows that it opens. Chromium runs
with the flags that keep it off the network (the report needs none) and a fresh profile.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from spt.io.files import write_bytes

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


class BrowserError(RuntimeError):
    """Chromium is missing, failed, or wrote nothing."""


def find_chromium() -> str | None:
    """Path of a Chromium-family browser on PATH (or in $CHROMIUM), else None."""
    explicit = os.environ.get("CHROMIUM")
    for name in (explicit, *CHROMIUM_NAMES) if explicit else CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def _run(args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    browser = find_chromium()
    if browser is None:
        raise BrowserError(f"no Chromium found (tried {', '.join(CHROMIUM_NAMES)}, $CHROMIUM)")
    with tempfile.TemporaryDirectory(prefix="spt-chromium-") as profile:
        cmd = [browser, *_FLAGS, f"--user-data-dir={profile}", *args]
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=True)
        except subprocess.CalledProcessError as err:
            raise BrowserError(f"{browser} exited {err.returncode}: {err.stderr[-500:]}") from err
        except subprocess.TimeoutExpired as err:
            raise BrowserError(f"{browser} did not finish in {timeout:.0f} s") from err


def screenshot(
    html: str | os.PathLike[str],
    png: str | os.PathLike[str],
    *,
    width: int = 1400,
    height: int = 1000,
    wait_ms: int = 5000,
    timeout: float = 120.0,
) -> Path:
    """Render ``html`` (a local file) and save a ``width`` x ``height`` PNG screenshot atomically.

    ``wait_ms`` of virtual time lets the report's scripts draw the page before the capture.
    """
    url = Path(html).resolve().as_uri()
    with tempfile.TemporaryDirectory(prefix="spt-shot-") as folder:
        shot = Path(folder) / "screenshot.png"  # Chromium picks the format by the extension
        _run(
            [
                f"--window-size={width},{height}",
                f"--virtual-time-budget={wait_ms}",
                f"--screenshot={shot}",
                url,
            ],
            timeout,
        )
        if not shot.exists() or shot.stat().st_size == 0:
            raise BrowserError(f"Chromium wrote no screenshot of {html}")
        write_bytes(png, shot.read_bytes())
    return Path(png)


def rendered_dom(
    html: str | os.PathLike[str], *, wait_ms: int = 5000, timeout: float = 120.0
) -> str:
    """The page's DOM after its scripts ran (what a reader's browser shows, as HTML text)."""
    url = Path(html).resolve().as_uri()
    return _run([f"--virtual-time-budget={wait_ms}", "--dump-dom", url], timeout).stdout
