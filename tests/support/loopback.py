"""Loopback test servers for the real-data code: HTTP with injected faults, HTTPS VizieR.

Everything binds to 127.0.0.1 on a free port, answers a bounded number of requests, and stops
itself after ``lifetime`` seconds even if a test forgets to. Nothing here reaches the network.

- ``LoopbackServer``: a threaded ``http.server`` whose routes serve bytes (or build them from
  the request) with a per-request fault script: ``ok``, an HTTP status such as ``500`` or
  ``404``, ``sleep`` (answer only after ``sleep_s``, longer than the client's time-out),
  ``truncate`` (Content-Length larger than what is sent), ``trickle`` (the body 1 kB every
  0.2 s, so no read ever times out), ``garbage`` (200 with junk),
  ``ignore_range`` (200 with the whole body even when a Range was asked for). The last entry of
  a script repeats. Routes honour ``Range: bytes=N-`` with 206 (or 416 past the end).
- ``self_signed_cert``: a certificate for IP 127.0.0.1 (``cryptography``, else ``openssl``).
- ``VizierResponder``: answers astroquery's ``POST /viz-bin/votable`` with VOTables in VizieR's
  layout, applying the ``-source`` and simple column constraints of the request.
- ``write_fixtures``: regenerates the synthetic recorded responses in ``tests/data/vizier``
  (``python tests/loopback.py``); their values are random draws, not copied from any catalogue.
"""

from __future__ import annotations

import io
import shutil
import ssl
import subprocess
import tempfile
import threading
import urllib.parse
import warnings
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
from astropy.io import votable
from astropy.io.votable.exceptions import VOWarning
from astropy.io.votable.tree import Info
from astropy.table import Column, MaskedColumn, Table

from spt.io.lamost import LamostSpectrum, loglinear_wavelength, spectrum_path, write_spectrum

FIXTURES = Path(__file__).parents[1] / "data" / "vizier"
MIGLIO_FIXTURE = FIXTURES / "J_A+A_645_A85_catalog.xml"
CANTAT_FIXTURE = FIXTURES / "J_A+A_640_A1_nodup.xml"
BERGER_FIXTURE = FIXTURES / "J_AJ_159_280_table2.xml"


@dataclass(frozen=True)
class Request:
    """What the server received (headers as a plain dict, query parsed)."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


Responder = Callable[[Request], bytes]


@dataclass
class Route:
    """Content of one path and the fault script applied to its successive requests."""

    body: bytes | Responder
    faults: Sequence[str] = ("ok",)
    ranges: bool = True
    content_type: str = "application/octet-stream"


@dataclass
class _State:
    routes: dict[str, Route]
    max_requests: int
    sleep_s: float
    counts: Counter[str] = field(default_factory=Counter)
    log: list[Request] = field(default_factory=list)
    overflow: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)
    stopping: threading.Event = field(default_factory=threading.Event)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # silence stderr
        pass

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_HEAD(self) -> None:
        self._handle()

    def _handle(self) -> None:
        state = self.server.state
        url = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        req = Request(
            self.command,
            url.path,
            urllib.parse.parse_qs(url.query),
            dict(self.headers.items()),
            body,
        )
        with state.lock:
            state.log.append(req)
            n = state.counts[url.path]
            state.counts[url.path] += 1
            over = len(state.log) > state.max_requests
            state.overflow |= over
        route = state.routes.get(url.path)
        try:
            if over:
                self.send_error(503, "loopback request budget spent")
            elif route is None:
                self.send_error(404)
            else:
                self._serve(route, route.faults[min(n, len(route.faults) - 1)], req)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            pass  # the client gave up (e.g. after its time-out)

    def _serve(self, route: Route, fault: str, req: Request) -> None:
        if fault.isdigit():
            self.send_error(int(fault))
            return
        if fault == "sleep":
            if self.server.state.stopping.wait(self.server.state.sleep_s):
                return
            fault = "ok"
        payload = route.body(req) if callable(route.body) else route.body
        if fault == "garbage":
            payload = np.random.default_rng(0).bytes(max(len(payload), 64))
        status, start = 200, 0
        asked = req.headers.get("Range", "")
        if route.ranges and fault != "ignore_range" and asked.startswith("bytes="):
            start = int(asked[len("bytes=") :].split("-")[0])
            if start >= len(payload):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(payload)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status = 206
        chunk = payload[start:]
        self.send_response(status)
        self.send_header("Content-Type", route.content_type)
        self.send_header("Content-Length", str(len(chunk)))
        if route.ranges:
            self.send_header("Accept-Ranges", "bytes")
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{len(payload) - 1}/{len(payload)}")
        self.send_header("Connection", "close")
        self.end_headers()
        if req.method == "HEAD":
            return
        if fault == "trickle":  # 1 kB every 0.2 s: alive, never timing out, never done
            for i in range(0, len(chunk), 1024):
                self.wfile.write(chunk[i : i + 1024])
                self.wfile.flush()
                if self.server.state.stopping.wait(0.2):
                    return
            return
        if fault == "truncate":
            self.wfile.write(chunk[: len(chunk) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(chunk)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: _State


class LoopbackServer:
    """HTTP(S) server on 127.0.0.1 in a background thread; use as a context manager."""

    def __init__(
        self,
        routes: Mapping[str, Route] | None = None,
        *,
        tls: ssl.SSLContext | None = None,
        max_requests: int = 200,
        lifetime: float = 60.0,
        sleep_s: float = 1.5,
    ) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.state = _State(dict(routes or {}), max_requests, sleep_s)
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self.scheme = "https" if tls is not None else "http"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._timer = threading.Timer(lifetime, self.stop)
        self._timer.daemon = True
        self._stopped = threading.Lock()
        self._started = False

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def host(self) -> str:
        """``127.0.0.1:<port>``, the form astroquery takes as ``vizier_server``."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}"

    @property
    def routes(self) -> dict[str, Route]:
        return self._server.state.routes

    @property
    def requests(self) -> list[Request]:
        with self._server.state.lock:
            return list(self._server.state.log)

    def count(self, path: str | None = None) -> int:
        """Requests received for ``path`` (all paths when None)."""
        state = self._server.state
        with state.lock:
            return len(state.log) if path is None else state.counts[path]

    @property
    def overflow(self) -> bool:
        return self._server.state.overflow

    def start(self) -> LoopbackServer:
        self._thread.start()
        self._timer.start()
        self._started = True
        return self

    def stop(self) -> None:
        if not self._stopped.acquire(blocking=False):
            return
        self._timer.cancel()
        self._server.state.stopping.set()
        if self._started:
            self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def isolate_network(monkeypatch: object) -> None:
    """Make sure requests to 127.0.0.1 never go through a proxy from the environment."""
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)  # type: ignore[attr-defined]
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")  # type: ignore[attr-defined]
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")  # type: ignore[attr-defined]


def lamost_fits_bytes(obsid: int, n_pixels: int = 3900, header_obsid: int | None = None) -> bytes:
    """The bytes of a gzipped LAMOST DR9 (layout B) spectrum made with ``write_spectrum``."""
    rng = np.random.default_rng(obsid)
    wavelength = loglinear_wavelength(3.5682, 1e-4, n_pixels)
    flux = (1.0 + 0.05 * rng.standard_normal(n_pixels)).astype(np.float32)
    header = {
        "OBSID": obsid if header_obsid is None else header_obsid,
        "DATA_V": "LAMOST DR9",
        "RA": 290.0,
        "DEC": 44.0,
        "SNRG": 50.0,
        "CLASS": "STAR",
    }
    spec = LamostSpectrum(
        obsid=int(header["OBSID"]),
        wavelength=wavelength,
        flux=flux,
        ivar=np.full(n_pixels, 400.0, np.float32),
        andmask=np.zeros(n_pixels, np.int32),
        ormask=np.zeros(n_pixels, np.int32),
        header=header,
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = spectrum_path(tmp, obsid)
        write_spectrum(path, spec, layout="B")
        return path.read_bytes()


# --------------------------------------------------------------------------- TLS
def self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """Write a self-signed certificate for IP 127.0.0.1 and its key; return (cert, key)."""
    cert, key = directory / "loopback-cert.pem", directory / "loopback-key.pem"
    try:
        _cert_cryptography(cert, key)
    except ImportError:
        _cert_openssl(cert, key)
    return cert, key


def _cert_cryptography(cert_path: Path, key_path: Path) -> None:
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(ski, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def _cert_openssl(cert_path: Path, key_path: Path) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("neither the cryptography package nor the openssl CLI is available")
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key_path),
            "-out",
            str(cert_path),
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )


def server_tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


# --------------------------------------------------------------------------- VizieR
def vizier_votable(tables: Mapping[str, Table]) -> bytes:
    """Serialise tables keyed by VizieR table name (``J/A+A/645/A85/catalog``) as VizieR does:
    one RESOURCE per catalogue named by its id, TABLE named by the table id, FIELD names with
    VizieR's labels, units, UCDs and descriptions, and a QUERY_STATUS info."""
    doc = votable.tree.VOTableFile()
    doc.description = "VizieR Astronomical Server 127.0.0.1 (loopback test double)"
    doc.infos.append(Info(name="QUERY_STATUS", value="OK"))
    resources: dict[str, votable.tree.Resource] = {}
    for name, table in tables.items():
        catalogue = name.rsplit("/", 1)[0] if name.count("/") > 2 else name
        if catalogue not in resources:
            resource = votable.tree.Resource(name=catalogue, ID="yCat_" + _ident(catalogue))
            resources[catalogue] = resource
            doc.resources.append(resource)
        t = table.copy()
        for col in t.itercols():
            if col.dtype.kind == "U":  # VizieR sends text as char, not unicodeChar
                t.replace_column(
                    col.name,
                    Column(
                        np.char.encode(col, "ascii"),
                        name=col.name,
                        description=col.description,
                        meta=col.meta,
                    ),
                )
        with warnings.catch_warnings():  # W03: IDs made from names such as [Fe/H]
            warnings.simplefilter("ignore", VOWarning)
            single = votable.from_table(t)
        vt = single.resources[0].tables[0]
        vt.name, vt.ID = name, _ident(name)
        resources[catalogue].tables.append(vt)
        resources[catalogue].infos.append(Info(name="matches", value=str(len(table))))
    buffer = io.BytesIO()
    doc.to_xml(buffer)
    return buffer.getvalue()


def _ident(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name)


def read_votable_tables(path: Path) -> dict[str, Table]:
    """Tables of a VOTable keyed by TABLE name, with FIELD names as column names."""
    doc = votable.parse(str(path), verify="ignore")
    return {t.name: t.to_table(use_names_over_ids=True) for t in doc.iter_tables()}


def parse_vizier_script(body: bytes) -> dict[str, str]:
    """astroquery's POST body: one ``key=value`` (or bare ``key``) per line."""
    out: dict[str, str] = {}
    for line in body.decode().splitlines():
        key, _, value = line.partition("=")
        out[key.strip()] = value.strip()
    return out


def _constraint(column: Column, condition: str) -> np.ndarray:
    """VizieR-style constraint on one column: ``>=x``, ``<x``, ``=x``, a plain value or a list
    of values ``a,b,c``."""
    if "," in condition:
        wanted_any = {v.strip() for v in condition.removeprefix("=").split(",")}
        values = [v.decode() if isinstance(v, bytes) else str(v) for v in np.asarray(column)]
        return np.array([v.strip() in wanted_any for v in values])
    for op, func in (
        (">=", np.greater_equal),
        ("<=", np.less_equal),
        (">", np.greater),
        ("<", np.less),
    ):
        if condition.startswith(op):
            return np.asarray(func(np.asarray(column, dtype=float), float(condition[len(op) :])))
    wanted = condition.removeprefix("=").strip()
    values = [v.decode() if isinstance(v, bytes) else str(v) for v in np.asarray(column)]
    return np.array([v.strip() == wanted for v in values])


class VizierResponder:
    """Callable route body answering astroquery's VizieR POSTs from in-memory tables."""

    def __init__(self, tables: Mapping[str, Table]) -> None:
        self.tables = dict(tables)
        self.scripts: list[dict[str, str]] = []

    def __call__(self, req: Request) -> bytes:
        script = parse_vizier_script(req.body)
        self.scripts.append(script)
        source = script.get("-source", "")
        chosen = {n: t for n, t in self.tables.items() if n == source or n.startswith(source + "/")}
        out = {}
        for name, table in chosen.items():
            keep = np.ones(len(table), dtype=bool)
            for key, condition in script.items():
                if not key.startswith("-") and key in table.colnames and condition:
                    keep &= _constraint(table[key], condition)
            out[name] = table[keep]
        return vizier_votable(out)


# --------------------------------------------------------------------------- fixtures
def _miglio_like(rng: np.random.Generator, n: int = 12) -> Table:
    """A synthetic table in the column layout of J/A+A/645/A85/catalog (random values)."""
    ra = rng.uniform(281.0, 300.0, n)
    dec = rng.uniform(37.0, 51.0, n)
    mass = np.round(rng.uniform(0.8, 2.5, n), 2)
    age = np.round(10 ** (1.0 - 3.2 * np.log10(mass) + rng.normal(0, 0.05, n)), 1)
    feh = np.round(rng.normal(0.0, 0.2, n), 2)
    t = Table()

    def add(name: str, values: object, unit: str | None, ucd: str, text: str) -> None:
        kind = MaskedColumn if np.ma.isMaskedArray(values) else Column
        t[name] = kind(values, unit=unit, description=text, meta={"ucd": ucd})

    apogee = [
        f"2M{int(r / 15):02d}{i:06d}+{int(d):02d}{i:05d}"
        for i, (r, d) in enumerate(zip(ra, dec, strict=True))
    ]
    add("APOGEE", np.array(apogee), None, "meta.id;meta.main", "APOGEE ID in DR14")
    add(
        "KIC",
        rng.choice(np.arange(1_500_000, 12_900_000), n, replace=False).astype(np.int32),
        None,
        "meta.id",
        "Kepler Input Catalogue ID",
    )
    add("RAdeg", np.round(ra, 4), "deg", "pos.eq.ra", "Right Ascension (J2000)")
    add("DEdeg", np.round(dec, 4), "deg", "pos.eq.dec", "Declination (J2000)")
    add("[Fe/H]", feh, None, "phys.abund.Fe", "APOGEE [Fe/H] (DR14)")
    add("[alpha/M]", np.round(rng.uniform(-0.05, 0.3, n), 2), None, "phys.abund", "[alpha/M]")
    age_col = np.ma.masked_array(age, mask=np.arange(n) == n - 1)
    add("Age", age_col, "Gyr", "time.age", "? Age from PARAM")
    add(
        "b_Age",
        np.ma.masked_array(np.round(age * 0.8, 1), mask=age_col.mask),
        "Gyr",
        "time.age",
        "? Age 16th percentile",
    )
    add(
        "b_age_lc",
        np.ma.masked_array(np.round(age * 1.3, 1), mask=age_col.mask),
        "Gyr",
        "time.age",
        "? Age 84th percentile",
    )
    add("Mass", mass, "solMass", "phys.mass", "Mass from PARAM")
    add("b_Mass", np.round(mass * 0.95, 2), "solMass", "phys.mass", "Mass 16th percentile")
    add("b_mass_lc", np.round(mass * 1.05, 2), "solMass", "phys.mass", "Mass 84th percentile")
    add(
        "evstate",
        rng.choice(np.array([1, 2], dtype=np.uint8), n, p=[0.7, 0.3]),
        None,
        "meta.code",
        "[1/2] Evolutionary state",
    )
    add("_RA", np.round(ra, 5), "deg", "pos.eq.ra;meta.main", "Position from APOGEE name")
    add("_DE", np.round(dec, 5), "deg", "pos.eq.dec;meta.main", "Position from APOGEE name")
    return t


def _cantat_like(rng: np.random.Generator) -> Table:
    """A synthetic table in the layout of J/A+A/640/A1/nodup (members of three clusters)."""
    centres = {
        "NGC_6791": (290.221, 37.777, 8),
        "NGC_6819": (295.327, 40.190, 6),
        "NGC_2682": (132.846, 11.817, 5),
    }
    rows = []
    for name, (ra0, dec0, k) in centres.items():
        proba = np.round(np.linspace(0.4, 1.0, k), 1)
        for j in range(k):
            rows.append(
                (
                    ra0 + rng.normal(0, 0.05),
                    dec0 + rng.normal(0, 0.05),
                    int(rng.integers(10**18, 7 * 10**18)),
                    float(rng.uniform(11, 17)),
                    proba[j],
                    name,
                )
            )
    ra, dec, gaia, gmag, proba, cluster = map(np.array, zip(*rows, strict=True))
    t = Table()
    t["RA_ICRS"] = Column(np.round(ra, 6), unit="deg", meta={"ucd": "pos.eq.ra;meta.main"})
    t["DE_ICRS"] = Column(np.round(dec, 6), unit="deg", meta={"ucd": "pos.eq.dec;meta.main"})
    t["GaiaDR2"] = Column(
        gaia.astype(np.int64), description="Gaia DR2 source_id", meta={"ucd": "meta.id"}
    )
    t["Gmag"] = Column(np.round(gmag, 3), unit="mag", meta={"ucd": "phot.mag;em.opt"})
    t["proba"] = Column(
        proba, description="Membership probability", meta={"ucd": "stat.probability"}
    )
    t["Cluster"] = Column(cluster, description="Cluster name", meta={"ucd": "meta.id.parent"})
    return t


def _berger_like(rng: np.random.Generator, kic: np.ndarray) -> Table:
    """A synthetic table in the layout of J/AJ/159/280/table2 (isochrone ages of ``kic``).

    The lower age error is negative as in the catalogue; every third star is flagged "*".
    """
    n = len(kic)
    age = np.round(10 ** rng.uniform(0.0, 1.1, n), 2)
    t = Table()
    t["KIC"] = Column(kic.astype(np.int32), meta={"ucd": "meta.id;meta.main"})
    t["Mass"] = Column(np.round(rng.uniform(0.9, 2.0, n), 3), unit="solMass")
    t["Age"] = Column(age, unit="Gyr", description="Isochrone derived age")
    t["f_Age"] = Column(np.where(np.arange(n) % 3 == 2, "*", ""), description="Age flag")
    t["E_Age"] = Column(np.round(0.5 * age, 2), unit="Gyr", description="Upper error on Age")
    t["e_Age"] = Column(np.round(-0.4 * age, 2), unit="Gyr", description="Lower error on Age")
    return t


def write_fixtures(directory: Path = FIXTURES) -> list[Path]:
    """(Re)write the recorded VizieR responses used by the tests (deterministic)."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(2024)
    out = []
    for path, name, table in (
        (directory / MIGLIO_FIXTURE.name, "J/A+A/645/A85/catalog", _miglio_like(rng)),
        (directory / CANTAT_FIXTURE.name, "J/A+A/640/A1/nodup", _cantat_like(rng)),
    ):
        path.write_bytes(vizier_votable({name: table}))
        out.append(path)
    # Berger+2020 ages for the Miglio fixture's stars, from their own generator (so the two
    # fixtures above stay as they were).
    kic = read_votable_tables(MIGLIO_FIXTURE)["J/A+A/645/A85/catalog"]["KIC"]
    berger = _berger_like(np.random.default_rng(2025), np.asarray(kic))
    (directory / BERGER_FIXTURE.name).write_bytes(vizier_votable({"J/AJ/159/280/table2": berger}))
    out.append(directory / BERGER_FIXTURE.name)
    return out


if __name__ == "__main__":
    for written in write_fixtures():
        print(written)
