"""Robust HTTP(S) downloads for the real-data path: bounded pool, retries, resume, validation.

``download_many`` fetches many files into a cache. A job counts as done only once its file
passed the caller's validator; until then it lives beside its destination as ``<name>.part``
and is moved into place atomically (``os.replace``). The ``.part`` file is kept between
attempts and between runs, so a partial file resumes with an HTTP ``Range`` request.

Retry policy (also used by the VizieR and LAMOST catalogue queries through
``call_with_retries``): connection errors, time-outs, truncated bodies, HTTP 5xx and the two
"try again later" codes 408 and 429 are retried with exponential back-off
(``backoff * 2**(attempt - 1)`` seconds, capped, or the server's ``Retry-After``); any other
4xx (404, 401, 403, ...) fails at once. Faults that another attempt cannot heal fail at once
too (see ``permanent_cause``): a host name that does not resolve (``socket.gaierror``,
urllib3's ``NameResolutionError``), a connection refused by the host, a TLS certificate that
does not verify. A file that arrives whole but fails validation is removed and reported, not
retried: the archive served something that is not what we asked for.

Time bounds: ``timeout`` applies to connecting and to each read (a silent, dropped connection
ends an attempt after ``timeout`` seconds), not to a whole body. On top of it every job (one
file, or one ``call_with_retries`` call) has a wall-clock budget, by default
``total_time_limit`` = (retries + 1) x timeout + the back-off waits: no attempt starts, and no
download keeps reading (a server trickling bytes), once it is spent. With the defaults of
config ``vizier`` (timeout_s 300, retries 3, backoff_s 5) that is 1,235 s per query; with those
of ``download`` (timeout_s 60, retries 4, backoff_s 2) 330 s per file.

An archive token is read from the environment variable named by ``token_env`` and sent as a
query parameter (LAMOST's archive reads ``?token=...``). It never reaches a log record, an
error message or the failure list: jobs carry token-free URLs, every reason is redacted, and
a logging filter redacts urllib3's debug lines while downloads run.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import socket
import ssl
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeVar

import pandas as pd
import requests
import urllib3.exceptions
from tqdm.auto import tqdm

from spt.io.files import write_csv

PathLike = str | os.PathLike[str]
Status = Literal["downloaded", "resumed", "skipped", "failed"]
#: Called with (path, key) of a complete file; raises, or returns False, to reject it.
Validator = Callable[[Path, str], object]
T = TypeVar("T")

log = logging.getLogger(__name__)

#: HTTP statuses that mean "try again later" rather than "this will never work".
RETRYABLE_4XX = frozenset({408, 429})
#: Loggers whose records may carry a full request URL (query string included).
_URL_LOGGERS = ("urllib3.connectionpool", "urllib3.util.retry", "requests")
_CHUNK = 1 << 16
FAILURE_COLUMNS = ("key", "url", "reason", "attempts")


class RetryableError(Exception):
    """A fault worth another attempt (5xx, time-out, connection reset, truncated body)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(Exception):
    """A fault that another attempt will not fix (4xx, invalid file, local I/O error)."""


@dataclass(frozen=True)
class DownloadJob:
    """One file to fetch: a stable key (e.g. the obsid), a token-free URL and a destination."""

    key: str
    url: str
    dest: Path


@dataclass(frozen=True)
class JobResult:
    """Outcome of one job; ``reason`` is empty unless it failed."""

    key: str
    url: str
    dest: Path
    status: Status
    attempts: int
    reason: str = ""
    bytes_received: int = 0


@dataclass
class DownloadReport:
    """Every job's outcome, in the order the jobs were given."""

    results: list[JobResult] = field(default_factory=list)

    @property
    def failed(self) -> list[JobResult]:
        return [r for r in self.results if r.status == "failed"]

    @property
    def ok(self) -> list[JobResult]:
        return [r for r in self.results if r.status != "failed"]

    def counts(self) -> dict[str, int]:
        """Number of jobs per status (all four statuses present, zero included)."""
        counts = Counter(r.status for r in self.results)
        return {s: counts.get(s, 0) for s in ("downloaded", "resumed", "skipped", "failed")}

    def summary(self) -> str:
        c = self.counts()
        return ", ".join(f"{n} {s}" for s, n in c.items()) + f" (of {len(self.results)})"

    def by_key(self) -> dict[str, JobResult]:
        return {r.key: r for r in self.results}


# --------------------------------------------------------------------------- secrets
def _secret_forms(secret: str | None) -> list[str]:
    """The token as it can appear in text: raw and URL-encoded (longest first)."""
    if not secret:
        return []
    forms = {secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret)}
    return sorted(forms, key=len, reverse=True)


def redact(text: str, secrets: Sequence[str]) -> str:
    """Replace every occurrence of each secret in ``text`` with ``***``."""
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def read_token(token_env: str | None) -> str | None:
    """The archive token from the environment variable ``token_env`` (None if unset/empty)."""
    if not token_env:
        return None
    token = os.environ.get(token_env, "").strip()
    if not token:
        log.info("environment variable %s is not set: requesting without a token", token_env)
        return None
    return token


class _RedactFilter(logging.Filter):
    """Rewrites log records so that no secret survives formatting."""

    def __init__(self, secrets: Sequence[str]) -> None:
        super().__init__()
        self.secrets = list(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message, self.secrets)
        if clean != message:
            record.msg, record.args = clean, None
        return True


@contextlib.contextmanager
def redacted_logging(secret: str | None) -> Iterator[list[str]]:
    """While active, records of the HTTP libraries' loggers have ``secret`` masked."""
    secrets = _secret_forms(secret)
    if not secrets:
        yield secrets
        return
    filt = _RedactFilter(secrets)
    loggers = [logging.getLogger(name) for name in _URL_LOGGERS]
    for logger in loggers:
        logger.addFilter(filt)
    try:
        yield secrets
    finally:
        for logger in loggers:
            logger.removeFilter(filt)


# --------------------------------------------------------------------------- retries
def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    return float(value) if re.fullmatch(r"\d+(\.\d+)?", value.strip()) else None


def check_status(response: requests.Response, what: str) -> None:
    """Raise RetryableError for 5xx/408/429 and PermanentError for other 4xx responses."""
    status = response.status_code
    if status < 400:
        return
    message = f"{what}: HTTP {status} {response.reason or ''}".rstrip()
    if status >= 500 or status in RETRYABLE_4XX:
        raise RetryableError(message, _retry_after(response))
    raise PermanentError(message)


#: DNS failures: the socket's own and urllib3's (>= 2) wrapper of it.
_NAME_LOOKUP_ERRORS: tuple[type[BaseException], ...] = (
    socket.gaierror,
    *[
        getattr(urllib3.exceptions, n)
        for n in ("NameResolutionError",)
        if hasattr(urllib3.exceptions, n)
    ],
)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and every exception behind it: causes, contexts, ``reason`` and exception args
    (requests wraps urllib3's MaxRetryError, which holds the real fault as ``reason``)."""
    seen: set[int] = set()
    stack: list[object] = [exc]
    while stack:
        item = stack.pop()
        if not isinstance(item, BaseException) or id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        stack.extend((item.__cause__, item.__context__, getattr(item, "reason", None)))
        stack.extend(item.args)


def permanent_cause(exc: BaseException) -> str | None:
    """Why another attempt cannot help (None if it might): a host name that does not resolve,
    a connection refused by the host, or a TLS certificate that does not verify."""
    for item in _chain(exc):
        if isinstance(item, _NAME_LOOKUP_ERRORS):
            return "the host name does not resolve (DNS lookup failed)"
        if isinstance(item, ConnectionRefusedError):
            return "the host refused the connection (nothing listens on that port)"
        if isinstance(item, ssl.SSLCertVerificationError):
            return "the server's TLS certificate does not verify"
    return None


def total_time_limit(retries: int, timeout: float, backoff: float, max_backoff: float) -> float:
    """Default wall-clock budget of one job: (retries + 1) x timeout plus every back-off wait."""
    waits = sum(backoff_delay(a, backoff, max_backoff, None) for a in range(1, retries + 1))
    return (retries + 1) * timeout + waits


def classify(exc: BaseException) -> type[RetryableError] | type[PermanentError] | None:
    """Which of our two fault classes a requests/urllib3 exception belongs to (None: neither)."""
    if isinstance(exc, RetryableError | PermanentError):
        return type(exc)
    if permanent_cause(exc) is not None:
        return PermanentError
    if isinstance(exc, requests.exceptions.HTTPError) and exc.response is not None:
        status = exc.response.status_code
        return RetryableError if status >= 500 or status in RETRYABLE_4XX else PermanentError
    if isinstance(
        exc,
        requests.exceptions.InvalidURL
        | requests.exceptions.MissingSchema
        | requests.exceptions.InvalidSchema
        | requests.exceptions.InvalidHeader
        | requests.exceptions.SSLError,
    ):
        return PermanentError
    if isinstance(exc, requests.exceptions.RequestException):
        return RetryableError  # connection errors, time-outs, broken or truncated bodies
    return None


def backoff_delay(attempt: int, backoff: float, cap: float, retry_after: float | None) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
    delay = backoff * 2 ** (attempt - 1)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return min(delay, cap)


def call_with_retries(
    func: Callable[[], T],
    *,
    what: str,
    retries: int,
    backoff: float,
    max_backoff: float = 60.0,
    secrets: Sequence[str] = (),
    timeout: float | None = None,
    max_total_s: float | None = None,
) -> T:
    """Call ``func`` until it succeeds, retrying retryable faults ``retries`` times.

    ``func`` should bound each attempt itself (pass ``timeout`` to the HTTP client too). No
    attempt starts that could end (after its back-off and ``timeout``) past ``max_total_s``
    seconds from the first (default, when ``timeout`` is given: ``total_time_limit``).
    Raises RuntimeError naming ``what``, the number of attempts, the last (redacted) fault
    and, for a fault that cannot heal, why it was not retried.
    """
    attempts = retries + 1
    if max_total_s is None and timeout is not None:
        max_total_s = total_time_limit(retries, timeout, backoff, max_backoff)
    start = time.monotonic()
    for attempt in range(1, attempts + 1):
        try:
            return func()
        except Exception as exc:
            kind = classify(exc)
            reason = redact(f"{type(exc).__name__}: {exc}", secrets)
            if kind is None:
                raise
            why = permanent_cause(exc)
            if why is not None:
                reason += f" (not retried: {why})"
            if kind is RetryableError and attempt < attempts:
                delay = backoff_delay(
                    attempt, backoff, max_backoff, getattr(exc, "retry_after", None)
                )
                elapsed = time.monotonic() - start
                # Another attempt may take ``timeout``: start it only if it can end in time.
                if max_total_s is not None and elapsed + delay + (timeout or 0) > max_total_s:
                    raise RuntimeError(
                        f"{what}: gave up after {attempt} attempt(s) and {elapsed:.1f} s, "
                        f"another could pass the time limit of {max_total_s:.0f} s: {reason}"
                    ) from None
                log.warning(
                    "%s: attempt %d/%d failed (%s); retrying in %.1f s",
                    what,
                    attempt,
                    attempts,
                    reason,
                    delay,
                )
                time.sleep(delay)
                continue
            raise RuntimeError(f"{what}: failed after {attempt} attempt(s): {reason}") from None
    raise AssertionError("unreachable")  # pragma: no cover


# --------------------------------------------------------------------------- one job
def part_path(dest: Path) -> Path:
    """Where an incomplete download of ``dest`` is kept between attempts and runs."""
    return dest.with_name(dest.name + ".part")


def _validate(validate: Validator | None, path: Path, key: str) -> str | None:
    """None if the file is acceptable, else the reason it is not."""
    if path.stat().st_size == 0:
        return "empty file"
    if validate is None:
        return None
    try:
        ok = validate(path, key)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return "rejected by validator" if ok is False else None


def _body_chunks(response: requests.Response) -> Iterator[bytes]:
    """The body as it arrives: each chunk is whatever the socket had (urllib3's ``read1``), so
    a slow server cannot hold one chunk, and with it the job's time check, for long."""
    raw = response.raw
    if not hasattr(raw, "read1"):  # urllib3 < 2: whole 64 kB chunks
        yield from response.iter_content(_CHUNK)
        return
    try:
        while chunk := raw.read1(_CHUNK, decode_content=True):
            yield chunk
    except urllib3.exceptions.HTTPError as exc:  # read time-out, broken connection
        raise requests.exceptions.ConnectionError(exc) from exc


def _content_range_total(response: requests.Response) -> int | None:
    match = re.search(r"/(\d+)\s*$", response.headers.get("Content-Range", ""))
    return int(match.group(1)) if match else None


class _Fetcher:
    """Downloads one job with the shared policy; one instance per ``download_many`` call."""

    def __init__(
        self,
        *,
        retries: int,
        backoff: float,
        max_backoff: float,
        timeout: float,
        token: str | None,
        token_param: str,
        validate: Validator | None,
        headers: dict[str, str] | None,
        max_job_s: float | None = None,
    ) -> None:
        self.retries = retries
        self.max_job_s = (
            total_time_limit(retries, timeout, backoff, max_backoff)
            if max_job_s is None
            else max_job_s
        )
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.timeout = timeout
        self.params = {token_param: token} if token else None
        self.secrets = _secret_forms(token)
        self.validate = validate
        # Ask for the file's own bytes: on-the-fly compression would break Content-Length
        # checks and byte offsets for resume.
        self.headers = {"Accept-Encoding": "identity", **(headers or {})}
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._lock = threading.Lock()

    def session(self) -> requests.Session:
        """A Session per worker thread (requests does not promise thread safety)."""
        sess = getattr(self._local, "session", None)
        if sess is None:
            sess = requests.Session()
            sess.headers.update(self.headers)
            self._local.session = sess
            with self._lock:
                self._sessions.append(sess)
        return sess

    def close(self) -> None:
        with self._lock:
            for sess in self._sessions:
                sess.close()
            self._sessions.clear()

    def run(self, job: DownloadJob) -> JobResult:
        """Skip, download or resume one job; never raises."""
        dest = job.dest
        if dest.exists():
            problem = _validate(self.validate, dest, job.key)
            if problem is None:
                return JobResult(job.key, job.url, dest, "skipped", 0)
            log.warning(
                "%s: cached file %s is invalid (%s); downloading again", job.key, dest, problem
            )
            dest.unlink()
        attempts = self.retries + 1
        resumed = False
        received = 0
        deadline = time.monotonic() + self.max_job_s
        for attempt in range(1, attempts + 1):
            try:
                got, was_resumed = self._attempt(job, deadline)
                received += got
                resumed = resumed or was_resumed
            except RetryableError as exc:
                reason = redact(str(exc), self.secrets)
                if attempt == attempts:
                    return self._fail(job, attempt, reason, received)
                delay = backoff_delay(attempt, self.backoff, self.max_backoff, exc.retry_after)
                if time.monotonic() + delay > deadline:
                    reason += f"; no time left for another attempt (limit {self.max_job_s:.0f} s)"
                    return self._fail(job, attempt, reason, received)
                log.info(
                    "%s: attempt %d/%d failed (%s); retrying in %.2f s",
                    job.key,
                    attempt,
                    attempts,
                    reason,
                    delay,
                )
                time.sleep(delay)
                continue
            except PermanentError as exc:
                return self._fail(job, attempt, redact(str(exc), self.secrets), received)
            except Exception as exc:  # a bug or an unforeseen library fault: report, don't crash
                reason = redact(f"unexpected {type(exc).__name__}: {exc}", self.secrets)
                return self._fail(job, attempt, reason, received)
            part = part_path(dest)
            problem = _validate(self.validate, part, job.key)
            if problem is not None:
                part.unlink(missing_ok=True)
                reason = redact(f"invalid file: {problem}", self.secrets)
                return self._fail(job, attempt, reason, received)
            os.replace(part, dest)
            return JobResult(
                job.key,
                job.url,
                dest,
                "resumed" if resumed else "downloaded",
                attempt,
                "",
                received,
            )
        raise AssertionError("unreachable")  # pragma: no cover

    def _fail(self, job: DownloadJob, attempts: int, reason: str, received: int) -> JobResult:
        log.warning(
            "%s: download of %s failed after %d attempt(s): %s", job.key, job.url, attempts, reason
        )
        return JobResult(job.key, job.url, job.dest, "failed", attempts, reason, received)

    def _attempt(self, job: DownloadJob, deadline: float) -> tuple[int, bool]:
        """One GET into the .part file; returns (bytes received, resumed from an offset).

        Stops reading (PermanentError; the .part file is kept for a later run) once the job's
        ``deadline`` (time.monotonic) has passed.
        """
        part = part_path(job.dest)
        offset = part.stat().st_size if part.exists() else 0
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        what = f"GET {job.url}"
        try:
            response = self.session().get(
                job.url, params=self.params, headers=headers, stream=True, timeout=self.timeout
            )
        except requests.RequestException as exc:
            raise self._wrap(what, exc) from None
        with response:
            if response.status_code == 416 and offset:
                # Range not satisfiable: the .part may already hold the whole file.
                if _content_range_total(response) == offset:
                    return 0, True
                part.unlink()
                raise RetryableError(f"{what}: HTTP 416 for bytes={offset}-; restarting")
            check_status(response, what)
            if response.status_code == 206 and offset:
                start = re.match(r"bytes (\d+)-", response.headers.get("Content-Range", ""))
                if start is None or int(start.group(1)) != offset:
                    part.unlink()
                    raise RetryableError(
                        f"{what}: 206 with Content-Range "
                        f"{response.headers.get('Content-Range')!r}; restarting"
                    )
                mode, resumed = "ab", True
            else:  # 200: a fresh body, also when the server ignored our Range header
                mode, resumed, offset = "wb", False, 0
            expected = response.headers.get("Content-Length")
            # Keep what did arrive of a short body (urllib3 would discard its buffer and raise);
            # the length check below turns it into a retryable fault that resumes from there.
            response.raw.enforce_content_length = False
            received = 0
            try:
                part.parent.mkdir(parents=True, exist_ok=True)
                with open(part, mode) as fh:
                    for chunk in _body_chunks(response):
                        fh.write(chunk)
                        received += len(chunk)
                        if time.monotonic() > deadline:
                            raise PermanentError(
                                f"{what}: time limit of {self.max_job_s:.0f} s passed after "
                                f"{received} bytes (server too slow); rerun to resume"
                            )
            except requests.RequestException as exc:
                raise self._wrap(f"{what}: body broken after {received} bytes", exc) from None
            except OSError as exc:
                raise PermanentError(f"cannot write {part}: {exc}") from None
            if expected is not None and expected.isdigit() and received < int(expected):
                raise RetryableError(
                    f"{what}: truncated body, {received} of {expected} bytes received"
                )
            return received, resumed

    def _wrap(self, what: str, exc: requests.RequestException) -> Exception:
        kind = classify(exc) or RetryableError
        why = permanent_cause(exc)
        note = f" (not retried: {why})" if why is not None else ""
        return kind(f"{what}: {type(exc).__name__}: {exc}{note}")


# --------------------------------------------------------------------------- many jobs
def _as_jobs(
    jobs: Iterable[DownloadJob | tuple[str, str, PathLike]], dest_dir: PathLike | None
) -> list[DownloadJob]:
    base = Path(dest_dir) if dest_dir is not None else None
    out: list[DownloadJob] = []
    for job in jobs:
        key, url, dest = (job.key, job.url, job.dest) if isinstance(job, DownloadJob) else job
        path = Path(dest)
        if base is not None and not path.is_absolute():
            path = base / path
        out.append(DownloadJob(str(key), str(url), path))
    for what, values in (("key", [j.key for j in out]), ("destination", [j.dest for j in out])):
        dupes = [v for v, n in Counter(values).items() if n > 1]
        if dupes:
            raise ValueError(f"download jobs share a {what}: {dupes[:5]}")
    return out


def download_many(
    jobs: Iterable[DownloadJob | tuple[str, str, PathLike]],
    dest_dir: PathLike | None = None,
    *,
    workers: int = 4,
    retries: int = 3,
    backoff: float = 1.0,
    timeout: float = 60.0,
    token_env: str | None = None,
    token_param: str = "token",
    validate: Validator | None = None,
    progress: bool = True,
    max_backoff: float = 60.0,
    headers: dict[str, str] | None = None,
    max_job_s: float | None = None,
) -> DownloadReport:
    """Fetch every job (key, url, dest) into place and report each outcome; never raises per job.

    ``dest`` paths that are relative are taken under ``dest_dir``. ``timeout`` (s) applies to
    connecting and to each read. ``retries`` is the number of extra attempts after the first.
    ``max_job_s`` bounds one job's wall-clock time over all its attempts (default
    ``total_time_limit``); past it the job fails and its ``.part`` file stays for a rerun.
    Files already present and accepted by ``validate`` (any non-empty file when there is no
    validator) are skipped without any request; present but rejected ones are fetched again.
    """
    if workers < 1 or retries < 0 or backoff < 0 or timeout <= 0:
        raise ValueError(
            f"need workers >= 1, retries >= 0, backoff >= 0, timeout > 0; got "
            f"{workers=}, {retries=}, {backoff=}, {timeout=}"
        )
    job_list = _as_jobs(jobs, dest_dir)
    if dest_dir is not None:
        Path(dest_dir).mkdir(parents=True, exist_ok=True)
    token = read_token(token_env)
    fetcher = _Fetcher(
        retries=retries,
        backoff=backoff,
        max_backoff=max_backoff,
        timeout=timeout,
        token=token,
        token_param=token_param,
        validate=validate,
        headers=headers,
        max_job_s=max_job_s,
    )
    results: dict[int, JobResult] = {}
    bar = tqdm(total=len(job_list), unit="file", desc="download", disable=not progress)
    try:
        with redacted_logging(token), ThreadPoolExecutor(max_workers=workers) as pool:
            futures = {pool.submit(fetcher.run, job): i for i, job in enumerate(job_list)}
            n_failed = 0
            for future in as_completed(futures):
                result = future.result()
                results[futures[future]] = result
                n_failed += result.status == "failed"
                bar.update(1)
                bar.set_postfix(failed=n_failed, refresh=False)
    finally:
        bar.close()
        fetcher.close()
    report = DownloadReport([results[i] for i in range(len(job_list))])
    log.info("downloads: %s", report.summary())
    return report


def write_failures(report: DownloadReport, path: PathLike) -> None:
    """Write the failed jobs as CSV ``key, url, reason, attempts`` (header only if none failed)."""
    rows = [(r.key, r.url, r.reason, r.attempts) for r in report.failed]
    write_csv(pd.DataFrame(rows, columns=list(FAILURE_COLUMNS)), path)
