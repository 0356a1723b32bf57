"""spt.sources.download against a loopback server with injected faults (no network)."""

from __future__ import annotations

import logging
import socket
import urllib.parse
from pathlib import Path

import pandas as pd
import pytest
import requests

from spt.io.lamost import read_spectrum
from spt.sources.download import (
    FAILURE_COLUMNS,
    DownloadJob,
    PermanentError,
    RetryableError,
    call_with_retries,
    classify,
    download_many,
    part_path,
    permanent_cause,
    redact,
    total_time_limit,
    write_failures,
)
from tests.support.loopback import LoopbackServer, Route, isolate_network, lamost_fits_bytes

# Client time-out (s), long enough that a loaded machine never times out a healthy request;
# the server's "sleep" fault waits SLEEP_S, far longer, so that attempt always times out.
TIMEOUT = 3.0
SLEEP_S = 60.0
FAST = {"workers": 4, "retries": 2, "backoff": 0.01, "timeout": TIMEOUT, "progress": False}


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    isolate_network(monkeypatch)


@pytest.fixture(scope="module")
def fits() -> dict[int, bytes]:
    return {obsid: lamost_fits_bytes(obsid) for obsid in range(1001, 1012)}


def same_obsid(path: Path, key: str) -> bool:
    """Validator: a readable LAMOST spectrum whose header OBSID is the key."""
    return read_spectrum(path).obsid == int(key)


def test_fault_matrix(tmp_path: Path, fits: dict[int, bytes]) -> None:
    routes = {
        "/f/1001": Route(fits[1001]),
        "/f/1002": Route(fits[1002], faults=["500", "ok"]),
        "/f/1003": Route(fits[1003], faults=["sleep", "ok"]),
        "/f/1004": Route(fits[1004], faults=["truncate", "ok"]),
        "/f/1005": Route(fits[1005]),
        "/f/1006": Route(fits[1006], faults=["ignore_range"]),
        "/f/1007": Route(fits[1007], faults=["404"]),
        "/f/1008": Route(fits[1008], faults=["garbage"]),
        "/f/1009": Route(fits[1009], faults=["truncate"], ranges=False),
        "/f/1010": Route(fits[1010], faults=["503"]),
        "/f/1011": Route(fits[1011]),
    }
    out = tmp_path / "spectra"
    out.mkdir()
    # Partial files from an earlier run: half of 1005 and 1006, all of 1011.
    part_path(out / "1005.fits.gz").write_bytes(fits[1005][: len(fits[1005]) // 2])
    part_path(out / "1006.fits.gz").write_bytes(fits[1006][:1000])
    part_path(out / "1011.fits.gz").write_bytes(fits[1011])
    with LoopbackServer(routes, max_requests=60, lifetime=120, sleep_s=SLEEP_S) as server:
        jobs = [(str(o), f"{server.url}/f/{o}", f"{o}.fits.gz") for o in sorted(fits)]
        report = download_many(jobs, out, validate=same_obsid, **FAST)
        counts = {o: server.count(f"/f/{o}") for o in fits}
        ranges = {r.path: r.headers.get("Range") for r in server.requests}
        assert not server.overflow

    status = {r.key: (r.status, r.attempts) for r in report.results}
    assert status == {
        "1001": ("downloaded", 1),
        "1002": ("downloaded", 2),
        "1003": ("downloaded", 2),
        "1004": ("resumed", 2),
        "1005": ("resumed", 1),
        "1006": ("downloaded", 1),
        "1007": ("failed", 1),
        "1008": ("failed", 1),
        "1009": ("failed", 3),
        "1010": ("failed", 3),
        "1011": ("resumed", 1),
    }
    # One request per attempt, none for retries of 4xx or invalid files.
    assert counts == {
        1001: 1,
        1002: 2,
        1003: 2,
        1004: 2,
        1005: 1,
        1006: 1,
        1007: 1,
        1008: 1,
        1009: 3,
        1010: 3,
        1011: 1,
    }
    assert ranges["/f/1005"] == f"bytes={len(fits[1005]) // 2}-"
    for obsid in (1001, 1002, 1003, 1004, 1005, 1006, 1011):
        assert (out / f"{obsid}.fits.gz").read_bytes() == fits[obsid]
        assert not part_path(out / f"{obsid}.fits.gz").exists()
    for obsid in (1007, 1008, 1009, 1010):
        assert not (out / f"{obsid}.fits.gz").exists()
    assert not part_path(out / "1008.fits.gz").exists()  # invalid download removed

    write_failures(report, tmp_path / "failed.csv")
    failed = pd.read_csv(tmp_path / "failed.csv", dtype={"key": str})
    assert list(failed.columns) == list(FAILURE_COLUMNS)
    assert list(failed["key"]) == ["1007", "1008", "1009", "1010"]
    assert list(failed["attempts"]) == [1, 1, 3, 3]
    assert list(failed["url"]) == [f"{server.url}/f/{o}" for o in (1007, 1008, 1009, 1010)]
    reasons = list(failed["reason"])
    assert "HTTP 404" in reasons[0]
    assert reasons[1].startswith("invalid file")
    assert "truncated" in reasons[2] or "broken" in reasons[2]
    assert "HTTP 503" in reasons[3]
    assert report.counts() == {"downloaded": 4, "resumed": 3, "skipped": 0, "failed": 4}


def test_valid_file_is_skipped_without_request(tmp_path: Path, fits: dict[int, bytes]) -> None:
    (tmp_path / "1001.fits.gz").write_bytes(fits[1001])
    (tmp_path / "1002.fits.gz").write_bytes(b"not a fits file")  # invalid: fetched again
    routes = {"/f/1001": Route(fits[1001]), "/f/1002": Route(fits[1002])}
    with LoopbackServer(routes, max_requests=5, lifetime=20) as server:
        jobs = [
            DownloadJob(str(o), f"{server.url}/f/{o}", tmp_path / f"{o}.fits.gz")
            for o in (1001, 1002)
        ]
        report = download_many(jobs, None, validate=same_obsid, **FAST)
        assert server.count("/f/1001") == 0
        assert server.count("/f/1002") == 1
    assert [(r.status, r.attempts) for r in report.results] == [("skipped", 0), ("downloaded", 1)]
    assert (tmp_path / "1002.fits.gz").read_bytes() == fits[1002]


def test_token_never_logged(
    tmp_path: Path,
    fits: dict[int, bytes],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    token = "s3cr3t+tok/en=="
    forms = {token, urllib.parse.quote(token, safe=""), urllib.parse.quote_plus(token)}
    monkeypatch.setenv("SPT_TEST_ARCHIVE_TOKEN", token)
    caplog.set_level(logging.DEBUG)
    with socket.socket() as s:  # a port nobody listens on: connection refused
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    routes = {"/f/1001": Route(fits[1001]), "/f/1002": Route(fits[1002], faults=["404"])}
    with LoopbackServer(routes, max_requests=10, lifetime=20) as server:
        jobs = [
            ("1001", f"{server.url}/f/1001", "1001.fits.gz"),
            ("1002", f"{server.url}/f/1002", "1002.fits.gz"),
            ("1003", f"http://127.0.0.1:{dead}/f/1003", "1003.fits.gz"),
        ]
        opts = {**FAST, "retries": 1, "progress": True}
        report = download_many(jobs, tmp_path, token_env="SPT_TEST_ARCHIVE_TOKEN", **opts)
        sent = [r.query.get("token") for r in server.requests]
    assert sent == [[token], [token]]  # the archive did receive it
    write_failures(report, tmp_path / "failed.csv")
    texts = {
        "log": caplog.text,
        "failures": (tmp_path / "failed.csv").read_text(),
        "reasons": " ".join(r.reason for r in report.results),
        "terminal": "".join(capsys.readouterr()),
    }
    for where, text in texts.items():
        for form in forms:
            assert form not in text, f"token leaked into {where}"
    assert "token=***" in caplog.text  # urllib3's debug lines were seen, and redacted
    refused = report.by_key()["1003"]
    assert refused.status == "failed" and refused.attempts == 1  # refused: not retried
    assert "***" in refused.reason and "ConnectionError" in refused.reason
    assert "refused the connection" in refused.reason


def test_failure_file_header_only_when_nothing_failed(
    tmp_path: Path, fits: dict[int, bytes]
) -> None:
    with LoopbackServer({"/f/1001": Route(fits[1001])}, max_requests=3, lifetime=20) as server:
        report = download_many([("a", f"{server.url}/f/1001", "a.fits.gz")], tmp_path, **FAST)
    write_failures(report, tmp_path / "failed.csv")
    assert (tmp_path / "failed.csv").read_text().strip() == ",".join(FAILURE_COLUMNS)


def test_duplicate_jobs_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="share a key"):
        download_many(
            [("a", "http://127.0.0.1:9/x", "x"), ("a", "http://127.0.0.1:9/y", "y")],
            tmp_path,
            **FAST,
        )
    with pytest.raises(ValueError, match="share a destination"):
        download_many(
            [("a", "http://127.0.0.1:9/x", "x"), ("b", "http://127.0.0.1:9/y", "x")],
            tmp_path,
            **FAST,
        )


def test_call_with_retries() -> None:
    calls: list[int] = []

    def flaky() -> int:
        calls.append(1)
        if len(calls) < 3:
            raise requests.ConnectionError("connection reset")
        return 42

    assert call_with_retries(flaky, what="flaky", retries=2, backoff=0.0) == 42
    calls.clear()
    with pytest.raises(RuntimeError, match=r"flaky: failed after 2 attempt\(s\)"):
        call_with_retries(flaky, what="flaky", retries=1, backoff=0.0)

    def forbidden() -> None:
        calls.append(1)
        raise PermanentError("HTTP 403 Forbidden")

    calls.clear()
    with pytest.raises(RuntimeError, match="after 1 attempt"):
        call_with_retries(forbidden, what="x", retries=5, backoff=0.0)
    assert len(calls) == 1

    def bug() -> None:
        raise KeyError("not a network fault")

    with pytest.raises(KeyError):  # not ours to classify: passes through unchanged
        call_with_retries(bug, what="x", retries=5, backoff=0.0)


def test_redact() -> None:
    assert redact("GET /a?token=abc&x=abc1", ["abc1", "abc"]) == "GET /a?token=***&x=***"


# ---------------------------------------------------------------- faults that cannot heal
@pytest.fixture
def unresolvable(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Make ``archive.invalid`` fail its DNS lookup (no resolver is asked); log every lookup."""
    lookups: list[str] = []
    real = socket.getaddrinfo

    def fake(host: object, *args: object, **kwargs: object) -> object:
        lookups.append(str(host))
        if host == "archive.invalid":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    return lookups


def test_name_lookup_failure_is_attempted_once(tmp_path: Path, unresolvable: list[str]) -> None:
    job = ("a", "http://archive.invalid/f/1", "a.fits.gz")
    report = download_many([job], tmp_path, **{**FAST, "retries": 4})
    result = report.by_key()["a"]
    assert (result.status, result.attempts) == ("failed", 1)
    assert "does not resolve" in result.reason
    assert unresolvable.count("archive.invalid") == 1

    unresolvable.clear()
    with pytest.raises(RuntimeError, match=r"after 1 attempt\(s\).*does not resolve"):
        call_with_retries(
            lambda: requests.get("http://archive.invalid/x", timeout=TIMEOUT),
            what="query",
            retries=4,
            backoff=0.0,
        )
    assert unresolvable.count("archive.invalid") == 1


def test_classify_faults_that_cannot_heal() -> None:
    import ssl

    import urllib3.exceptions

    gai = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    assert classify(gai) is PermanentError
    # requests' own wrapping: ConnectionError(MaxRetryError(reason=NameResolutionError)).
    nre = urllib3.exceptions.NameResolutionError("archive.invalid", None, gai)  # type: ignore[arg-type]
    wrapped = requests.ConnectionError(urllib3.exceptions.MaxRetryError(None, "/x", nre))  # type: ignore[arg-type]
    assert classify(wrapped) is PermanentError and "resolve" in str(permanent_cause(wrapped))
    refused = urllib3.exceptions.NewConnectionError(None, "refused")  # type: ignore[arg-type]
    refused.__cause__ = ConnectionRefusedError(111, "Connection refused")
    assert classify(requests.ConnectionError(refused)) is PermanentError
    cert = ssl.SSLCertVerificationError(1, "certificate verify failed")
    assert classify(requests.ConnectionError(cert)) is PermanentError
    # Faults that may heal stay retryable.
    assert classify(requests.ConnectionError("connection reset by peer")) is RetryableError
    assert classify(requests.ReadTimeout("read timed out")) is RetryableError
    assert permanent_cause(requests.ReadTimeout("read timed out")) is None


def test_total_time_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """With a fake clock: each attempt hangs for the whole time-out, so after attempts x
    time-out + back-off no further attempt starts, however many retries are allowed."""
    import spt.sources.download as download

    class Clock:
        now = 0.0

        def monotonic(self) -> float:
            return self.now

        def sleep(self, seconds: float) -> None:
            self.now += seconds

    clock = Clock()
    monkeypatch.setattr(download, "time", clock)
    calls: list[float] = []

    def hangs() -> None:
        calls.append(clock.now)
        clock.now += 300.0  # a dropped connection: the read time-out ends the attempt
        raise requests.ReadTimeout("read timed out (300 s)")

    limit = total_time_limit(3, 300.0, 5.0, 60.0)
    assert limit == 4 * 300 + 5 + 10 + 20
    with pytest.raises(RuntimeError, match="after 4 attempt"):
        call_with_retries(hangs, what="q", retries=3, backoff=5.0, timeout=300.0)
    assert len(calls) == 4 and clock.now <= limit
    calls.clear()
    clock.now = 0.0
    with pytest.raises(RuntimeError, match=r"gave up after 3 attempt\(s\).*time limit of 950 s"):
        call_with_retries(hangs, what="q", retries=50, backoff=5.0, timeout=300.0, max_total_s=950)
    assert len(calls) == 3 and clock.now == 915  # a 4th could end at 915 + 20 + 300 > 950


def test_trickling_download_stops_at_the_time_limit(tmp_path: Path, fits: dict[int, bytes]) -> None:
    """A server sending 1 kB every 0.2 s never hits the read time-out; the job limit stops it."""
    routes = {"/f/1001": Route(fits[1001], faults=["trickle"])}
    with LoopbackServer(routes, max_requests=5, lifetime=60) as server:
        job = ("1001", f"{server.url}/f/1001", "1001.fits.gz")
        report = download_many([job], tmp_path, **{**FAST, "retries": 3}, max_job_s=1.0)
        assert server.count("/f/1001") == 1
    result = report.by_key()["1001"]
    assert (result.status, result.attempts) == ("failed", 1)
    assert "time limit of 1 s" in result.reason
    assert 0 < part_path(tmp_path / "1001.fits.gz").stat().st_size < len(fits[1001])
