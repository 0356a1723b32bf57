"""spt.sources.vizier through real astroquery against an HTTPS VizieR double on 127.0.0.1."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from astropy.coordinates import SkyCoord
from astropy.table import Table

from spt.io.seismic import SeismicFormatError, read_seismic
from spt.sources.vizier import (
    CLUSTER_COLUMNS,
    ISOCHRONE_COLUMNS,
    SEISMIC_COLUMNS,
    fetch_cluster_members,
    fetch_isochrone_ages,
    fetch_seismic,
    fetch_seismic_file,
    query_vizier,
    seismic_preset,
    standardise_isochrones,
    standardise_seismic,
)
from tests.support.loopback import (
    BERGER_FIXTURE,
    CANTAT_FIXTURE,
    MIGLIO_FIXTURE,
    LoopbackServer,
    Route,
    VizierResponder,
    isolate_network,
    read_votable_tables,
    self_signed_cert,
    server_tls_context,
)

VIZ = "/viz-bin/votable"
REPO = Path(__file__).resolve().parents[1]
FAST = {"retries": 2, "backoff": 0.01, "timeout": 10.0}
REAL_MIGLIO = (
    Path(__file__).resolve().parents[2]
    / "shared/data/seismic/fjaellet-xgboost_chem_ages__data__kepler_apogee_miglio2021.fit"
)


@pytest.fixture
def tables() -> dict[str, Table]:
    fixtures = (MIGLIO_FIXTURE, CANTAT_FIXTURE, BERGER_FIXTURE)
    return {name: t for path in fixtures for name, t in read_votable_tables(path).items()}


@pytest.fixture
def vizier(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tables: dict[str, Table]
) -> Iterator[tuple[LoopbackServer, VizierResponder]]:
    """HTTPS VizieR double; its self-signed certificate is trusted through REQUESTS_CA_BUNDLE."""
    isolate_network(monkeypatch)
    cert, key = self_signed_cert(tmp_path)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))
    responder = VizierResponder(tables)
    routes = {VIZ: Route(responder, content_type="text/xml")}
    with LoopbackServer(
        routes, tls=server_tls_context(cert, key), max_requests=20, lifetime=30
    ) as s:
        yield s, responder


def test_fetch_seismic_through_astroquery(
    vizier: tuple[LoopbackServer, VizierResponder], tables: dict[str, Table], tmp_path: Path
) -> None:
    server, responder = vizier
    preset = seismic_preset("miglio2021")
    output = tmp_path / "seismic.csv"
    frame = fetch_seismic(preset["catalog"], server.host, preset["columns"], output, **FAST)
    script = responder.scripts[0]
    assert script["-source"] == "J/A+A/645/A85/catalog"
    assert "-out.all" in script and script["-out.max"] == "unlimited"

    served = tables["J/A+A/645/A85/catalog"]
    assert list(frame.columns) == list(SEISMIC_COLUMNS)
    assert frame["KIC"].tolist() == served["KIC"].tolist()
    np.testing.assert_allclose(frame["RAJ2000"], served["RAdeg"])
    np.testing.assert_allclose(frame["[Fe/H]"], served["[Fe/H]"])
    np.testing.assert_allclose(frame["Mass"], served["Mass"])
    half_width = (served["b_mass_lc"] - served["b_Mass"]) / 2
    np.testing.assert_allclose(frame["e_Mass"], half_width)
    age = served["Age"].filled(np.nan)
    np.testing.assert_allclose(frame["Age"], age, equal_nan=True)
    e_age = ((served["b_age_lc"] - served["b_Age"]) / 2).filled(np.nan)
    np.testing.assert_allclose(frame["e_Age"], e_age, equal_nan=True)
    assert frame["Age"].isna().sum() == 1
    assert frame["Phase"].tolist() == [int(v) for v in served["evstate"]]
    assert frame["Teff"].isna().all() and frame["numax"].isna().all()

    written = pd.read_csv(output)
    assert list(written.columns) == list(SEISMIC_COLUMNS) and len(written) == len(served)
    fetch_seismic(preset["catalog"], server.host, preset["columns"], output, **FAST)
    assert server.count(VIZ) == 1  # the valid output was reused without a query


def test_fetch_isochrones_with_the_configured_mapping(
    vizier: tuple[LoopbackServer, VizierResponder], tables: dict[str, Table], tmp_path: Path
) -> None:
    """The default config's Berger+2020 mapping: flagged ages dropped, signed errors averaged."""
    server, responder = vizier
    choice = yaml.safe_load((REPO / "config/config.yaml").read_text())["vizier"]["isochrones"]
    output = tmp_path / "isochrone_ages.csv"
    frame = fetch_isochrone_ages(
        choice["catalog"], server.host, choice["columns"], output,
        flag_column=choice["flag_column"], **FAST,
    )  # fmt: skip
    assert responder.scripts[0]["-source"] == "J/AJ/159/280/table2"
    served = tables["J/AJ/159/280/table2"].to_pandas()
    kept = served[served["f_Age"].fillna("").str.strip() == ""]
    assert len(kept) == 8 and list(frame.columns) == list(ISOCHRONE_COLUMNS)
    assert frame["kic"].tolist() == kept["KIC"].tolist()
    np.testing.assert_allclose(frame["age_iso"], kept["Age"])
    np.testing.assert_allclose(frame["e_age_iso"], (kept["E_Age"] - kept["e_Age"]) / 2)
    assert (frame["e_age_iso"] > 0).all()
    fetch_isochrone_ages(choice["catalog"], server.host, choice["columns"], output, **FAST)
    assert server.count(VIZ) == 1  # the valid output was reused without a query


def test_standardise_isochrones_edge_rows() -> None:
    source = pd.DataFrame(
        {
            "KIC": [5, 5, None, 7, 8],
            "Age": [2.0, 3.0, 4.0, 0.0, 9.0],
            "E_Age": [0.4, 0.1, 0.1, 0.1, 1.0],
            "e_Age": [-0.2, -0.1, -0.1, -0.1, 3.0],  # a positive lower error works too
        }
    )
    mapping = {
        "kic": "KIC",
        "age_iso": "Age",
        "e_age_iso": {"column": "Age", "minus": "e_Age", "plus": "E_Age"},
    }
    out = standardise_isochrones(source, mapping)
    assert out["kic"].tolist() == [5, 8]  # first row of a duplicate; no KIC or age 0 dropped
    np.testing.assert_allclose(out["e_age_iso"], [0.3, 2.0])
    with pytest.raises(ValueError, match=r"missing \['e_age_iso'\]"):
        standardise_isochrones(source, {"kic": "KIC", "age_iso": "Age"})
    with pytest.raises(ValueError, match="flag: source column 'f_Age'"):
        standardise_isochrones(source, mapping, flag_column="f_Age")


def test_fetch_cluster_members(
    vizier: tuple[LoopbackServer, VizierResponder], tables: dict[str, Table], tmp_path: Path
) -> None:
    server, responder = vizier
    clusters = [
        {"name": "NGC 6791", "log_age": 9.80, "e_log_age": 0.05, "feh": 0.40, "ref": "CG20"},
        {"name": "NGC 6819", "log_age": 9.35, "e_log_age": 0.05, "feh": 0.09, "ref": "CG20"},
        {
            "name": "M67",
            "vizier_name": "NGC_2682",
            "age": 4.0,
            "e_age": 0.5,
            "feh": 0.07,
            "ref": "lit",
        },
    ]
    output = tmp_path / "clusters.csv"
    frame = fetch_cluster_members(clusters, output, server=server.host, min_probability=0.7, **FAST)
    assert [s["Cluster"] for s in responder.scripts] == ["NGC_6791", "NGC_6819", "NGC_2682"]
    assert all(s["proba"] == ">=0.7" for s in responder.scripts)

    served = tables["J/A+A/640/A1/nodup"].to_pandas()
    expected = served[served["proba"] >= 0.7]
    assert list(frame.columns) == list(CLUSTER_COLUMNS)
    assert frame.groupby("cluster").size().to_dict() == {
        "NGC 6791": int((expected["Cluster"] == "NGC_6791").sum()),
        "NGC 6819": int((expected["Cluster"] == "NGC_6819").sum()),
        "M67": int((expected["Cluster"] == "NGC_2682").sum()),
    }
    assert sorted(frame["member_id"]) == sorted(str(i) for i in expected["GaiaDR2"])
    ngc6791 = frame[frame["cluster"] == "NGC 6791"].iloc[0]
    assert ngc6791["age_lit"] == pytest.approx(10**0.8)
    assert ngc6791["e_age_lit"] == pytest.approx(10**0.8 * math.log(10) * 0.05)
    assert ngc6791["feh_lit"] == 0.40 and ngc6791["age_ref"] == "CG20"
    m67 = frame[frame["cluster"] == "M67"].iloc[0]
    assert (m67["age_lit"], m67["e_age_lit"]) == (4.0, 0.5)
    assert pd.read_csv(output, dtype={"member_id": str}).equals(frame)

    with pytest.raises(LookupError, match="NGC_9999"):
        fetch_cluster_members(
            [{"name": "NGC 9999", "age": 1.0}], tmp_path / "none.csv", server=server.host, **FAST
        )


def test_vizier_server_errors(vizier: tuple[LoopbackServer, VizierResponder]) -> None:
    server, _ = vizier
    route = server.routes[VIZ]
    route.faults = ["500", "ok"]
    table = query_vizier("J/A+A/645/A85/catalog", server.host, **FAST)
    assert len(table) == 12 and server.count(VIZ) == 2

    route.faults = ["403"]
    with pytest.raises(RuntimeError, match=r"HTTP 403.*|after 1 attempt"):
        query_vizier("J/A+A/645/A85/catalog", server.host, **FAST)
    assert server.count(VIZ) == 3  # a 4xx is not retried

    route.faults = ["ok"]
    with pytest.raises(LookupError, match="no rows"):
        query_vizier("J/Nope/1/table", server.host, **FAST)


def test_standardise_transforms() -> None:
    """APOKASC-2-like encodings: log age in Myr with asymmetric errors, fractional mass errors,
    text evolutionary states, and a mangled [Fe/H] column name."""
    source = pd.DataFrame(
        {
            "KIC": [10, 11, None],
            "_RA": [290.0, 291.0, 292.0],
            "_DE": [44.0, 45.0, 46.0],
            "Teff": [4700.0, 4800.0, 4900.0],
            "FeH": [0.1, -0.2, 0.0],
            "Numax": [30.0, 80.0, 50.0],
            "Dnu": [4.0, 7.5, 5.0],
            "M(cor)": [1.0, 1.5, 1.2],
            "e_M(cor)": [0.1, 0.02, 0.05],
            "LogAge": [4.0, 3.5, 3.7],
            "e_LogAge": [0.1, 0.2, 0.1],
            "E_LogAge": [0.1, 0.1, 0.1],
            "ES": ["RGB", "RC", "AMB"],
        }
    )
    out = standardise_seismic(source, seismic_preset("apokasc2")["columns"])
    assert list(out.columns) == list(SEISMIC_COLUMNS)
    assert out["KIC"].tolist() == [10, 11]  # the row without a KIC is dropped
    np.testing.assert_allclose(out["Age"], [10.0, 10**0.5])
    np.testing.assert_allclose(out["e_Age"], [(10**4.1 - 10**3.9) / 2e3, (10**3.6 - 10**3.3) / 2e3])
    np.testing.assert_allclose(out["e_Mass"], [0.1, 0.03])
    np.testing.assert_allclose(out["[Fe/H]"], [0.1, -0.2])
    assert out["Phase"].tolist() == [1, 2]
    unknown = standardise_seismic(
        source.iloc[[2]].assign(KIC=12),
        {
            "KIC": "KIC",
            "RAJ2000": "_RA",
            "DEJ2000": "_DE",
            "Mass": "M(cor)",
            "Age": "LogAge",
            "Phase": {"column": "ES", "codes": {"RGB": 1}},
        },
    )
    assert unknown["Phase"].tolist() == [0]


def test_mapping_errors() -> None:
    frame = pd.DataFrame({"KIC": [1], "RA": [1.0], "DE": [2.0], "M": [1.0], "A": [3.0]})
    good = {"KIC": "KIC", "RAJ2000": "RA", "DEJ2000": "DE", "Mass": "M", "Age": "A"}
    assert standardise_seismic(frame, good)["Age"].tolist() == [3.0]
    with pytest.raises(ValueError, match="unknown target"):
        standardise_seismic(frame, {**good, "age": "A"})
    with pytest.raises(ValueError, match=r"required column\(s\) \['Age'\]"):
        standardise_seismic(frame, {**good, "Age": None})
    with pytest.raises(ValueError, match="Mass: source column 'Mas': no such column"):
        standardise_seismic(frame, {**good, "Mass": "Mas"})
    with pytest.raises(ValueError, match="unknown mapping key"):
        standardise_seismic(frame, {**good, "Age": {"column": "A", "log": True}})
    with pytest.raises(ValueError, match="give both 'lower' and 'upper'"):
        standardise_seismic(frame, {**good, "e_Age": {"lower": "A"}})
    with pytest.raises(ValueError, match="relative_to 'mass'"):
        standardise_seismic(frame, {**good, "e_Mass": {"column": "M", "relative_to": "mass"}})


@pytest.mark.skipif(not REAL_MIGLIO.exists(), reason="shared real-data files not present")
def test_miglio_preset_on_the_real_vizier_export() -> None:
    """The preset against VizieR's own FITS export of J/A+A/645/A85/catalog."""
    frame = standardise_seismic(Table.read(REAL_MIGLIO), seismic_preset("miglio2021")["columns"])
    assert len(frame) == 3315
    assert frame["Phase"].value_counts().to_dict() == {1: 2428, 2: 887}
    assert frame["Age"].isna().sum() == 22
    has_age = frame["Age"].notna()
    # 20 stars have b_Age == b_age_lc (ages are rounded to 0.1 Gyr): zero, never negative.
    assert (frame.loc[has_age, "e_Age"] >= 0).all() and (
        frame.loc[has_age, "e_Age"] == 0
    ).sum() == 20
    assert (frame["e_Mass"] > 0).all()
    assert frame["Mass"].between(0.79, 2.73).all()
    assert frame["RAJ2000"].between(279, 302).all() and frame["DEJ2000"].between(36, 53).all()


# ---------------------------------------------------------------- a local seismic table
KIC_TABLE = "V/133/kic"


def kic_table(kics: list[int], sexagesimal: bool = False) -> Table:
    """Kepler Input Catalogue rows as VizieR serves V/133/kic (random positions)."""
    rng = np.random.default_rng(len(kics))
    ra, dec = rng.uniform(280, 300, len(kics)), rng.uniform(37, 52, len(kics))
    table = Table({"KIC": np.array(kics, dtype=np.int64), "RAJ2000": ra, "DEJ2000": dec})
    table["kepmag"] = rng.uniform(9, 13, len(kics))
    if sexagesimal:
        from astropy.coordinates import SkyCoord

        c = SkyCoord(ra, dec, unit="deg")
        table["RAJ2000"] = c.ra.to_string(unit="hourangle", sep=" ", precision=3)
        table["DEJ2000"] = c.dec.to_string(sep=" ", precision=2, alwayssign=True)
    return table


def write_local(table: Table, path: Path, kind: str) -> Path:
    if kind == "csv":
        table.write(path, format="ascii.csv")
    else:
        table.write(path, format={"fits": "fits", "votable": "votable"}[kind])
    return path


@pytest.fixture
def kic_vizier(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[LoopbackServer, VizierResponder]]:
    """The HTTPS double serving only a KIC excerpt (stars 1001..1010 and 7001)."""
    isolate_network(monkeypatch)
    cert, key = self_signed_cert(tmp_path)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))
    responder = VizierResponder({KIC_TABLE: kic_table([*range(1001, 1011), 7001])})
    routes = {VIZ: Route(responder, content_type="text/xml")}
    tls = server_tls_context(cert, key)
    with LoopbackServer(routes, tls=tls, max_requests=20, lifetime=30) as server:
        yield server, responder


@pytest.mark.parametrize("kind", ["csv", "fits", "votable"])
def test_local_table_with_masses_and_kic_only(
    kic_vizier: tuple[LoopbackServer, VizierResponder], tmp_path: Path, kind: str
) -> None:
    """KIC + masses, no ages, no coordinates: coordinates come from V/133/kic (one query,
    cached), Age is written as NaN, and read_seismic accepts the result."""
    server, responder = kic_vizier
    local = Table({"KIC": [1003, 1001, 1007], "Mass": [1.1, 1.4, 0.9], "e_Mass": [0.1, 0.05, 0.08]})
    path = write_local(local, tmp_path / f"labels.{kind}", kind)
    output = tmp_path / "out" / "seismic.csv"
    frame = fetch_seismic_file(path, server.host, None, output, **FAST)
    assert server.count(VIZ) == 1
    script = responder.scripts[0]
    assert script["-source"] == KIC_TABLE and script["KIC"] == "1001,1003,1007"
    served = responder.tables[KIC_TABLE].to_pandas().set_index("KIC")
    assert frame["KIC"].tolist() == [1003, 1001, 1007]
    np.testing.assert_allclose(frame["RAJ2000"], served.loc[[1003, 1001, 1007], "RAJ2000"])
    np.testing.assert_allclose(frame["DEJ2000"], served.loc[[1003, 1001, 1007], "DEJ2000"])
    np.testing.assert_allclose(frame["Mass"], [1.1, 1.4, 0.9])
    assert frame["Age"].isna().all() and frame["e_Age"].isna().all()
    back = read_seismic(output)
    assert back["age"].isna().all() and back["mass"].tolist() == [1.1, 1.4, 0.9]
    cache = output.parent / "kic_coordinates.csv"
    assert pd.read_csv(cache)["KIC"].tolist() == [1001, 1003, 1007]

    # Again, with one more star: only the new KIC is asked for.
    more = Table({"KIC": [1003, 1001, 1007, 1009], "Mass": [1.1, 1.4, 0.9, 1.2]})
    path2 = write_local(more, tmp_path / f"more.{kind}", kind)
    again = fetch_seismic_file(path2, server.host, None, output, **FAST)
    assert server.count(VIZ) == 2 and responder.scripts[1]["KIC"] == "1009"
    np.testing.assert_allclose(again["RAJ2000"].iloc[:3], frame["RAJ2000"])
    fetch_seismic_file(path2, server.host, None, output, **FAST)
    assert server.count(VIZ) == 2  # all four cached now


def test_local_table_mapping_unknown_kic_and_sexagesimal(
    kic_vizier: tuple[LoopbackServer, VizierResponder], tmp_path: Path
) -> None:
    server, responder = kic_vizier
    responder.tables[KIC_TABLE] = kic_table([1001, 1002], sexagesimal=True)
    local = pd.DataFrame(
        {"kepid": [1001, 1002, 999999], "M": [1.0, 1.2, 1.3], "age_gyr": [3.0, 2.0, 1.0]}
    )
    local.to_csv(tmp_path / "mine.csv", index=False)
    mapping = {"KIC": "kepid", "Mass": "M", "Age": "age_gyr"}
    frame = fetch_seismic_file(tmp_path / "mine.csv", server.host, mapping, tmp_path / "s.csv")
    kic = SkyCoord(
        list(responder.tables[KIC_TABLE]["RAJ2000"]),
        list(responder.tables[KIC_TABLE]["DEJ2000"]),
        unit=("hourangle", "deg"),
    )
    np.testing.assert_allclose(frame["RAJ2000"].iloc[:2], kic.ra.deg, atol=1e-6)
    np.testing.assert_allclose(frame["DEJ2000"].iloc[:2], kic.dec.deg, atol=1e-6)
    assert frame["RAJ2000"].isna().tolist() == [False, False, True]  # 999999: not in the KIC
    np.testing.assert_allclose(frame["Age"], [3.0, 2.0, 1.0])


def test_local_table_faults(tmp_path: Path) -> None:
    junk = tmp_path / "labels.fits"
    junk.write_bytes(b"SIMPLE  =                    T" + bytes(100))
    with pytest.raises(SeismicFormatError, match=r"labels\.fits: truncated or corrupt FITS"):
        fetch_seismic_file(junk, "127.0.0.1:9", None, tmp_path / "s.csv")
    pd.DataFrame({"KIC": [1, 2], "Teff": [4700, 4800]}).to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(SeismicFormatError, match=r"t\.csv: neither Mass nor Age"):
        fetch_seismic_file(tmp_path / "t.csv", "127.0.0.1:9", None, tmp_path / "s.csv")
    pd.DataFrame({"KIC": [1, 1], "Mass": [1.0, 1.1], "RAJ2000": 290.0, "DEJ2000": 44.0}).to_csv(
        tmp_path / "d.csv", index=False
    )
    with pytest.raises(SeismicFormatError, match=r"d\.csv: duplicated KIC numbers, e\.g\. \[1\]"):
        fetch_seismic_file(tmp_path / "d.csv", "127.0.0.1:9", None, tmp_path / "s.csv")
    with pytest.raises(SeismicFormatError, match=r"t\.csv: RAJ2000: source column 'RAdeg'"):
        fetch_seismic_file(
            tmp_path / "t.csv", "127.0.0.1:9", seismic_preset("miglio2021")["columns"],
            tmp_path / "s.csv",
        )  # fmt: skip
    assert not (tmp_path / "s.csv").exists()


def test_preset_mapping_falls_back_to_own_names(tmp_path: Path) -> None:
    """A table in seismic.csv's own names with the default preset configured: no query (it
    has coordinates), the preset's absent columns do not stop it."""
    own = pd.DataFrame(
        {"KIC": [5, 6], "RAJ2000": [290.0, 291.0], "DEJ2000": [44.0, 45.0], "mass": [1.0, 1.5],
         "Age": [4.0, 2.0], "Phase": [1, 2]}
    )  # fmt: skip
    own.to_csv(tmp_path / "own.csv", index=False)
    preset = seismic_preset("miglio2021")["columns"]
    frame = fetch_seismic_file(tmp_path / "own.csv", "127.0.0.1:9", preset, tmp_path / "s.csv")
    assert frame["Mass"].tolist() == [1.0, 1.5] and frame["Phase"].tolist() == [1, 2]


@pytest.mark.skipif(not REAL_MIGLIO.exists(), reason="shared real-data files not present")
def test_local_real_vizier_export_through_preset(tmp_path: Path) -> None:
    """VizieR's own FITS export (an ASCII-table HDU, mangled names) read as a local file."""
    preset = seismic_preset("miglio2021")["columns"]
    frame = fetch_seismic_file(REAL_MIGLIO, "127.0.0.1:9", preset, tmp_path / "seismic.csv")
    assert len(frame) == 3315 and frame["Age"].isna().sum() == 22
    assert frame["RAJ2000"].notna().all()  # coordinates in the table: no KIC query
    assert not (tmp_path / "kic_coordinates.csv").exists()


def test_workflow_script_takes_the_local_file(
    kic_vizier: tuple[LoopbackServer, VizierResponder], tmp_path: Path
) -> None:
    """workflow/scripts/fetch_seismic.py with params.seismic["file"] set: no catalogue query,
    only the KIC one; with it empty: the VizieR catalogue is asked for."""
    import importlib
    import sys
    from types import SimpleNamespace

    server, responder = kic_vizier
    sys.path.insert(0, str(REPO / "workflow" / "scripts"))
    try:
        script = importlib.import_module("fetch_seismic")
    finally:
        sys.path.remove(str(REPO / "workflow" / "scripts"))
    pd.DataFrame({"KIC": [1002], "Mass": [1.3]}).to_csv(tmp_path / "mine.csv", index=False)
    vizier = {"server": server.host, "timeout_s": 10.0, "retries": 1, "backoff_s": 0.01,
              "seismic": {"preset": "miglio2021", "file": ""}}  # fmt: skip

    class Params(SimpleNamespace):
        def get(self, key: str, default: object = None) -> object:
            return getattr(self, key, default)

    smk = SimpleNamespace(
        params=Params(vizier=vizier, seismic={"file": str(tmp_path / "mine.csv")}),
        output=[str(tmp_path / "seismic.csv")],
        log=[str(tmp_path / "fetch_seismic.log")],
    )
    script.main(smk)
    assert [s["-source"] for s in responder.scripts] == [KIC_TABLE]
    assert pd.read_csv(tmp_path / "seismic.csv")["KIC"].tolist() == [1002]
    smk.params = Params(vizier=vizier)  # file empty: the VizieR path
    smk.output = [str(tmp_path / "vizier" / "seismic.csv")]
    with pytest.raises(LookupError, match="no rows"):  # the double serves only the KIC here
        script.main(smk)
    assert responder.scripts[-1]["-source"] == "J/A+A/645/A85/catalog"
