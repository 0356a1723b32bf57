"""spt.sources.download: the bugs mutation testing found no test for (benchmarks/mutation.py).

The server's requested back-off (Retry-After) and the exponential back-off, the per-job and
per-call time budgets, resume edge cases (416, a wrong Content-Range, a broken body), the
bookkeeping of a job (attempts, bytes received, skipped files), the argument checks, the
defaults and the progress bar. Every HTTP exchange goes to a loopback server; no test sleeps
or reads the real clock: ``clock`` replaces the module's ``time`` (sleep only records).
"""

from __future__ import annotations

import dataclasses
import inspect
import itertools
import logging
from pathlib import Path

import pytest
import requests

import spt.sources.download as download
from spt.sources.download import (
    DownloadJob,
    DownloadReport,
    JobResult,
    PermanentError,
    RetryableError,
    backoff_delay,
    call_with_retries,
    check_status,
    classify,
    download_many,
    part_path,
    permanent_cause,
    redact,
    redacted_logging,
)
from tests.support.loopback import Route, isolate_network
from tests.support.loopback_faults import faulty_server

PAYLOAD = bytes(range(256)) * 24  # 6144 bytes
FAST = {"workers": 1, "retries": 2, "backoff": 0.5, "timeout": 3.0, "progress": False}


class Clock:
    """Stands in for the module's ``time``: monotonic() reads ``now``, sleep() only advances
    it and records the wait."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    isolate_network(monkeypatch)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(download, "time", fake)
    return fake


def response(status: int, retry_after: str | None = None) -> requests.Response:
    r = requests.Response()
    r.status_code = status
    r.reason = "Reason"
    if retry_after is not None:
        r.headers["Retry-After"] = retry_after
    return r


# ------------------------------------------------------------------ back-off and Retry-After
def test_backoff_delay_doubles_takes_the_longer_retry_after_and_is_capped() -> None:
    assert backoff_delay(1, 2.0, 60.0, None) == 2.0
    assert backoff_delay(3, 2.0, 60.0, None) == 8.0
    assert backoff_delay(3, 2.0, 60.0, 1.0) == 8.0  # a shorter Retry-After does not shorten
    assert backoff_delay(1, 2.0, 60.0, 7.0) == 7.0
    assert backoff_delay(10, 2.0, 60.0, None) == 60.0
    assert backoff_delay(1, 2.0, 60.0, 120.0) == 60.0  # the cap holds for the server too


def test_server_retry_after_sets_each_wait(tmp_path: Path, clock: Clock) -> None:
    routes = {
        "/a": Route(PAYLOAD, faults=["503:7", "ok"]),
        "/b": Route(PAYLOAD, faults=["503:soon", "429:0.25", "ok"]),
        "/c": Route(PAYLOAD, faults=["503:120", "ok"]),
        "/d": Route(PAYLOAD, faults=["429: 2.5 ", "ok"]),
    }
    with faulty_server(routes, max_requests=20) as server:
        jobs = [(k, f"{server.url}/{k}", k) for k in "abcd"]
        report = download_many(jobs, tmp_path, **FAST, max_backoff=60.0, max_job_s=1e4)
    # a: Retry-After 7 > back-off 0.5; b: unparsable -> 0.5, then 2 x 0.5 > 0.25;
    # c: 120 capped at 60; d: 2.5 (spaces around the number allowed).
    assert clock.sleeps == [7.0, 0.5, 1.0, 60.0, 2.5]
    assert [(r.status, r.attempts) for r in report.results] == [
        ("downloaded", 2),
        ("downloaded", 3),
        ("downloaded", 2),
        ("downloaded", 2),
    ]
    assert all((tmp_path / k).read_bytes() == PAYLOAD for k in "abcd")


def test_check_status_sorts_statuses_and_reads_retry_after() -> None:
    for ok in (200, 206, 304, 399):
        assert check_status(response(ok), "GET x") is None
    for permanent in (400, 401, 404, 409, 430):
        with pytest.raises(PermanentError, match=f"GET x: HTTP {permanent} Reason"):
            check_status(response(permanent), "GET x")
    for retryable in (408, 429, 500, 503):
        with pytest.raises(RetryableError) as info:
            check_status(response(retryable, "7"), "GET x")
        assert info.value.retry_after == 7.0
        assert str(info.value) == f"GET x: HTTP {retryable} Reason"
    for header, seconds in (("2.5", 2.5), (" 3 ", 3.0), ("soon", None), ("-1", None)):
        with pytest.raises(RetryableError) as info:
            check_status(response(503, header), "GET x")
        assert info.value.retry_after == seconds
    with pytest.raises(RetryableError) as info:
        check_status(response(503), "GET x")
    assert info.value.retry_after is None


def test_classify_http_errors_by_their_status() -> None:
    expected = {404: PermanentError, 409: PermanentError, 499: PermanentError}
    expected |= {408: RetryableError, 429: RetryableError, 500: RetryableError, 503: RetryableError}
    for status, kind in expected.items():
        assert classify(requests.HTTPError(response=response(status))) is kind, status
    assert classify(requests.HTTPError("no response")) is RetryableError
    assert classify(ValueError("not ours")) is None


def test_retryable_error_keeps_its_message() -> None:
    exc = RetryableError("GET x: HTTP 503", 3.0)
    assert str(exc) == "GET x: HTTP 503" and exc.args == ("GET x: HTTP 503",)
    assert exc.retry_after == 3.0


# ------------------------------------------------------------------ call_with_retries budget
def test_call_with_retries_time_budget(clock: Clock) -> None:
    calls: list[float] = []

    def fails() -> None:
        calls.append(clock.now)
        raise requests.ConnectionError("connection reset")

    # Back-off 5 s, no per-attempt time-out: a budget of exactly 5 s still allows the retry.
    with pytest.raises(RuntimeError, match=r"failed after 2 attempt\(s\)"):
        call_with_retries(fails, what="q", retries=1, backoff=5.0, max_total_s=5.0)
    assert (len(calls), clock.sleeps) == (2, [5.0])
    calls.clear()
    with pytest.raises(RuntimeError, match=r"gave up after 1 attempt\(s\) and 0\.0 s"):
        call_with_retries(fails, what="q", retries=1, backoff=5.0, max_total_s=4.0)
    assert len(calls) == 1


def test_call_with_retries_default_cap(clock: Clock) -> None:
    def fails() -> None:
        raise requests.ConnectionError("connection reset")

    with pytest.raises(RuntimeError, match=r"failed after 3 attempt\(s\)"):
        call_with_retries(fails, what="q", retries=2, backoff=50.0)
    assert clock.sleeps == [50.0, 60.0]


def test_exception_chain_with_a_cycle_ends() -> None:
    a, b = ValueError("a"), KeyError("b")
    a.__context__, b.__context__ = b, a
    assert list(itertools.islice(download._chain(a), 10)) == [a, b]
    assert permanent_cause(a) is None


# ------------------------------------------------------------------ secrets
def test_longest_form_of_the_token_is_redacted_first() -> None:
    forms = download._secret_forms("tok%")
    assert forms == ["tok%25", "tok%"]
    assert redact("GET /f?token=tok%25&raw=tok%", forms) == "GET /f?token=***&raw=***"


def test_redacted_logging_keeps_the_record_and_masks_it(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with redacted_logging("s3cret"):
        logging.getLogger("urllib3.connectionpool").debug("GET /x?token=%s HTTP/1.1", "s3cret")
    assert [r.getMessage() for r in caplog.records] == ["GET /x?token=*** HTTP/1.1"]


# ------------------------------------------------------------------ records
def test_job_records_are_frozen_and_report_sorts_them() -> None:
    job = DownloadJob("a", "http://h/a", Path("a"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        job.key = "b"  # type: ignore[misc]
    ok = JobResult("a", "http://h/a", Path("a"), "skipped", 0)
    bad = JobResult("b", "http://h/b", Path("b"), "failed", 2, "HTTP 404")
    with pytest.raises(dataclasses.FrozenInstanceError):
        ok.attempts = 3  # type: ignore[misc]
    assert len({job, DownloadJob("a", "http://h/a", Path("a"))}) == 1  # hashable
    assert ok.bytes_received == 0 and ok.reason == ""
    report = DownloadReport([ok, bad])
    assert report.ok == [ok] and report.failed == [bad]
    assert report.counts() == {"downloaded": 0, "resumed": 0, "skipped": 1, "failed": 1}
    assert report.summary() == "0 downloaded, 0 resumed, 1 skipped, 1 failed (of 2)"


# ------------------------------------------------------------------ one job
def test_cached_file_of_one_byte_is_kept_without_a_request(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"x")
    with faulty_server({"/a": Route(PAYLOAD)}) as server:
        url = f"{server.url}/a"
        report = download_many([("a", url, "a")], tmp_path, **FAST)
        assert server.count() == 0
    assert report.results == [JobResult("a", url, tmp_path / "a", "skipped", 0, "", 0)]


def test_invalid_cached_file_is_removed_even_when_the_download_fails(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"")  # empty: invalid
    with faulty_server({"/a": Route(PAYLOAD, faults=["404"])}) as server:
        report = download_many([("a", f"{server.url}/a", "a")], tmp_path, **FAST)
    assert (report.results[0].status, report.results[0].attempts) == ("failed", 1)
    assert not (tmp_path / "a").exists()


def test_one_attempt_receives_the_whole_file(tmp_path: Path) -> None:
    with faulty_server({"/a": Route(PAYLOAD)}) as server:
        report = download_many([("a", f"{server.url}/a", "a")], tmp_path, **FAST)
    result = report.results[0]
    assert (result.status, result.attempts, result.bytes_received) == (
        "downloaded",
        1,
        len(PAYLOAD),
    )


def test_truncated_download_resumes_where_it_stopped(tmp_path: Path, clock: Clock) -> None:
    routes = {"/a": Route(PAYLOAD, faults=["truncate", "ok"])}
    with faulty_server(routes) as server:
        report = download_many([("a", f"{server.url}/a", "a")], tmp_path, **FAST)
        ranges = [r.headers.get("Range") for r in server.requests]
    result = report.results[0]
    assert (result.status, result.attempts) == ("resumed", 2)
    assert ranges == [None, f"bytes={len(PAYLOAD) // 2}-"]
    assert clock.sleeps == [0.5]
    assert (tmp_path / "a").read_bytes() == PAYLOAD


def test_truncated_body_is_reported_with_its_byte_count(tmp_path: Path) -> None:
    routes = {"/a": Route(PAYLOAD, faults=["truncate"], ranges=False)}
    with faulty_server(routes) as server:
        url = f"{server.url}/a"
        report = download_many([("a", url, "a")], tmp_path, **{**FAST, "retries": 0})
    half = len(PAYLOAD) // 2
    result = report.results[0]
    assert (result.status, result.attempts) == ("failed", 1)
    assert result.reason == f"GET {url}: truncated body, {half} of {len(PAYLOAD)} bytes received"
    assert part_path(tmp_path / "a").read_bytes() == PAYLOAD[:half]


def test_part_file_that_already_holds_the_whole_file(tmp_path: Path) -> None:
    part_path(tmp_path / "a").write_bytes(PAYLOAD)
    with faulty_server({"/a": Route(PAYLOAD)}) as server:
        report = download_many([("a", f"{server.url}/a", "a")], tmp_path, **FAST)
    result = report.results[0]
    assert (result.status, result.attempts, result.bytes_received) == ("resumed", 1, 0)
    assert (tmp_path / "a").read_bytes() == PAYLOAD


def test_part_file_longer_than_the_file_restarts(tmp_path: Path, clock: Clock) -> None:
    part_path(tmp_path / "a").write_bytes(PAYLOAD + b"junk")
    with faulty_server({"/a": Route(PAYLOAD)}) as server:
        report = download_many([("a", f"{server.url}/a", "a")], tmp_path, **FAST)
        ranges = [r.headers.get("Range") for r in server.requests]
    result = report.results[0]
    assert (result.status, result.attempts, result.bytes_received) == (
        "downloaded",
        2,
        len(PAYLOAD),
    )
    assert ranges == [f"bytes={len(PAYLOAD) + 4}-", None]
    assert (tmp_path / "a").read_bytes() == PAYLOAD


def test_wrong_content_range_restarts_from_zero(tmp_path: Path, clock: Clock) -> None:
    part_path(tmp_path / "a").write_bytes(PAYLOAD[:1000])
    with faulty_server({"/a": Route(PAYLOAD, faults=["bad_range", "ok"])}) as server:
        report = download_many([("a", f"{server.url}/a", "a")], tmp_path, **FAST)
        ranges = [r.headers.get("Range") for r in server.requests]
    assert (report.results[0].status, report.results[0].attempts) == ("downloaded", 2)
    assert ranges == ["bytes=1000-", None]
    assert (tmp_path / "a").read_bytes() == PAYLOAD


def test_compressed_transfer_is_decoded(tmp_path: Path) -> None:
    with faulty_server({"/a": Route(PAYLOAD, faults=["gzip"])}) as server:
        report = download_many([("a", f"{server.url}/a", "a")], tmp_path, **FAST)
    assert report.results[0].status == "downloaded"
    assert (tmp_path / "a").read_bytes() == PAYLOAD


def test_requests_carry_identity_encoding_and_caller_headers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    closed: list[int] = []

    class Session(requests.Session):
        def close(self) -> None:
            closed.append(id(self))
            super().close()

    monkeypatch.setattr(requests, "Session", Session)
    routes = {f"/{k}": Route(PAYLOAD) for k in "abc"}
    with faulty_server(routes) as server:
        jobs = [(k, f"{server.url}/{k}", k) for k in "abc"]
        download_many(jobs, tmp_path, **{**FAST, "workers": 2}, headers={"X-Client": "spt"})
        sent = [
            (r.headers.get("Accept-Encoding"), r.headers.get("X-Client")) for r in server.requests
        ]
    assert sent == [("identity", "spt")] * 3
    assert 1 <= len(closed) <= 2 and len(set(closed)) == len(closed)  # one session per worker


def test_no_time_left_for_another_attempt(tmp_path: Path, clock: Clock) -> None:
    routes = {
        "/a": Route(PAYLOAD, faults=["503", "ok"]),
        "/b": Route(PAYLOAD, faults=["503", "ok"]),
    }
    with faulty_server(routes) as server:
        url = f"{server.url}/a"
        short = download_many(
            [("a", url, "a")], tmp_path, **{**FAST, "backoff": 2.0}, max_job_s=1.0
        )
        exact = download_many(
            [("b", f"{server.url}/b", "b")], tmp_path, **{**FAST, "backoff": 2.0}, max_job_s=2.0
        )
    result = short.results[0]
    assert (result.status, result.attempts) == ("failed", 1)
    assert result.reason.startswith(f"GET {url}: HTTP 503")
    assert result.reason.endswith("; no time left for another attempt (limit 1 s)")
    # a back-off that ends exactly at the deadline still allows the next attempt
    assert (exact.results[0].status, exact.results[0].attempts) == ("downloaded", 2)
    assert clock.sleeps == [2.0]


def test_a_frozen_clock_never_passes_the_deadline(tmp_path: Path, clock: Clock) -> None:
    with faulty_server({"/a": Route(PAYLOAD)}) as server:
        report = download_many([("a", f"{server.url}/a", "a")], tmp_path, **FAST, max_job_s=0.0)
    assert report.results[0].status == "downloaded"


def test_unexpected_fault_is_reported_not_raised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(self: requests.Session, url: str, **kwargs: object) -> None:
        raise ValueError(f"boom for {url}")

    monkeypatch.setattr(requests.Session, "get", boom)
    report = download_many([("a", "http://127.0.0.1:9/a?token=t0k", "a")], tmp_path, **FAST)
    result = report.results[0]
    assert (result.key, result.status, result.attempts) == ("a", "failed", 1)
    assert result.reason == "unexpected ValueError: boom for http://127.0.0.1:9/a?token=t0k"


def test_broken_body_is_retried_from_what_arrived(
    tmp_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = download._body_chunks
    broken = [True]

    def chunks(resp: requests.Response):  # the first body breaks after 1 kB
        if broken:
            broken.clear()
            yield next(iter(real(resp)))[:1024]
            raise requests.ConnectionError("connection reset by peer")
        yield from real(resp)

    monkeypatch.setattr(download, "_body_chunks", chunks)
    with faulty_server({"/a": Route(PAYLOAD), "/b": Route(PAYLOAD)}) as server:
        url = f"{server.url}/a"
        report = download_many([("a", url, "a")], tmp_path, **FAST)
        result = report.results[0]
        assert (result.status, result.attempts) == ("resumed", 2)
        assert server.requests[-1].headers.get("Range") == "bytes=1024-"
        assert (tmp_path / "a").read_bytes() == PAYLOAD
        broken.append(True)
        url = f"{server.url}/b"
        failed = download_many([("b", url, "b")], tmp_path, **{**FAST, "retries": 0})
    assert failed.results[0].reason == (
        f"GET {url}: body broken after 1024 bytes: ConnectionError: connection reset by peer"
    )


def test_validator_that_removes_the_file(tmp_path: Path) -> None:
    def rejects(path: Path, key: str) -> bool:
        path.unlink()
        return False

    with faulty_server({"/a": Route(PAYLOAD)}) as server:
        report = download_many([("a", f"{server.url}/a", "a")], tmp_path, **FAST, validate=rejects)
    assert report.results[0].reason == "invalid file: rejected by validator"


# ------------------------------------------------------------------ many jobs
def test_destinations_nested_or_relative_to_the_working_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with faulty_server({"/a": Route(PAYLOAD), "/b": Route(PAYLOAD)}) as server:
        download_many([("a", f"{server.url}/a", "x/y/a")], tmp_path / "out", **FAST)
        download_many([("b", f"{server.url}/b", "b")], None, **FAST)
    assert (tmp_path / "out/x/y/a").read_bytes() == PAYLOAD
    assert (tmp_path / "b").read_bytes() == PAYLOAD


def test_argument_checks(tmp_path: Path) -> None:
    for bad in ({"workers": 0}, {"retries": -1}, {"backoff": -0.5}, {"timeout": 0.0}):
        with pytest.raises(ValueError, match="need workers >= 1"):
            download_many([], tmp_path, **{**FAST, **bad})
    edge = {"workers": 1, "retries": 0, "backoff": 0.0, "timeout": 0.5, "progress": False}
    report = download_many([], tmp_path / "new" / "cache", **edge)
    assert report.results == [] and (tmp_path / "new" / "cache").is_dir()


def test_defaults(tmp_path: Path, clock: Clock, capfd: pytest.CaptureFixture[str]) -> None:
    defaults = {
        k: p.default
        for k, p in inspect.signature(download_many).parameters.items()
        if p.default is not inspect.Parameter.empty
    }
    assert defaults == {
        "dest_dir": None,
        "workers": 4,
        "retries": 3,
        "backoff": 1.0,
        "timeout": 60.0,
        "token_env": None,
        "token_param": "token",
        "validate": None,
        "progress": True,
        "max_backoff": 60.0,
        "headers": None,
        "max_job_s": None,
    }
    with faulty_server({"/a": Route(PAYLOAD, faults=["503"])}) as server:
        report = download_many([("a", f"{server.url}/a", "a")], tmp_path, progress=False)
    assert report.results[0].attempts == 4 and clock.sleeps == [1.0, 2.0, 4.0]
    assert "download" not in capfd.readouterr().err


def test_progress_bar_counts_files_and_failures(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    routes = {"/a": Route(PAYLOAD), "/b": Route(PAYLOAD, faults=["404"]), "/c": Route(PAYLOAD)}
    with faulty_server(routes) as server:
        jobs = [(k, f"{server.url}/{k}", k) for k in "abc"]
        download_many(jobs, tmp_path, **{**FAST, "progress": True})
    last = capfd.readouterr().err.replace("\r", "\n").strip().splitlines()[-1]
    assert last.startswith("download: 100%") and "3/3" in last and "failed=1" in last


def test_progress_bar_is_finished_before_the_summary_line(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    import sys

    caplog.set_level(logging.INFO, logger=download.__name__)
    handler = logging.StreamHandler(sys.stderr)
    logging.getLogger(download.__name__).addHandler(handler)
    try:
        routes = {"/a": Route(PAYLOAD), "/b": Route(PAYLOAD, faults=["404"])}
        with faulty_server(routes) as server:
            jobs = [(k, f"{server.url}/{k}", k) for k in "ab"]
            download_many(jobs, tmp_path, **{**FAST, "progress": True})
    finally:
        logging.getLogger(download.__name__).removeHandler(handler)
    lines = capfd.readouterr().err.replace("\r", "\n").splitlines()
    final = next(i for i, line in enumerate(lines) if "2/2" in line and "failed=1" in line)
    summary = next(i for i, line in enumerate(lines) if line.startswith("downloads: "))
    assert final < summary
