"""The four anomaly detectors, the label-outlier cut, detection scores, the rejection table and
the preprocessing figures (Figs. 4 and 5): true positives, near misses and real LAMOST files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from spt.io.lamost import LamostSpectrum, read_spectrum
from spt.prep.anomalies import (
    ANOMALY_TYPES,
    apply_template,
    detect_all,
    detect_missing,
    detect_negative,
    detect_oscillation,
    detect_outlier,
    detection_scores,
    flag_spectra,
    merge_config,
    population_template,
)
from spt.prep.labels import flag_label_outliers
from spt.prep.select import rejection_table, select_sample
from tests.support.spectra import giant

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
LAMOST = SHARED / "lamost"


def arrays(spec: LamostSpectrum) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """wavelength, flux and the inverse variance with and-masked pixels zeroed."""
    return spec.wavelength, spec.flux.copy(), np.where(spec.andmask == 0, spec.ivar, 0.0)


def local_level(wave: np.ndarray, flux: np.ndarray, centre: float) -> float:
    sel = np.abs(wave - centre) < 30
    return float(np.median(flux[sel]))


def overlaps(region: tuple[float, float] | None, lo: float, hi: float) -> bool:
    return region is not None and region[0] <= hi and region[1] >= lo


# --------------------------------------------------------------------------- clean spectra
@pytest.mark.parametrize("snr", [10.0, 40.0, 300.0])
@pytest.mark.parametrize("teff", [4000.0, 4700.0])
def test_clean_giants_are_not_flagged(snr, teff):
    for seed in range(4):
        row = detect_all(*arrays(giant(seed, snr, teff)))
        assert not any(row[t] for t in ANOMALY_TYPES), (seed, row["reasons"])
        assert row["reasons"] == ""


# --------------------------------------------------------------------------- oscillation
def test_oscillation_true_positive():
    wave, flux, ivar = arrays(giant(1, snr=20))
    sel = (wave > 5200) & (wave < 7000)
    flux[sel] *= 1 + 0.08 * np.sin(2 * np.pi * wave[sel] / 120.0 + 0.3)
    flag, region, score = detect_oscillation(wave, flux, ivar)
    assert flag
    assert score > 0.6
    assert overlaps(region, 5200, 7000)


def test_oscillation_near_misses():
    wave, flux, ivar = arrays(giant(2, snr=20))
    weak = flux.copy()
    weak *= 1 + 0.01 * np.sin(2 * np.pi * wave / 120.0)  # far below any real modulation
    assert not detect_oscillation(wave, weak, ivar)[0]
    bump = flux * (1 - 0.08 * np.exp(-0.5 * ((wave - 6000) / 100) ** 2))  # one broad dip
    flag, _, score = detect_oscillation(wave, bump, ivar)
    assert not flag
    assert score < 0.45


# --------------------------------------------------------------------------- missing values
def test_missing_true_positive():
    wave, flux, ivar = arrays(giant(3))
    sel = (wave >= 6100) & (wave <= 6250)
    flux[sel], ivar[sel] = 0, 0
    flag, region, score = detect_missing(wave, flux, ivar)
    assert flag
    assert region[0] == pytest.approx(6100, abs=2) and region[1] == pytest.approx(6250, abs=2)
    assert score == pytest.approx(150, abs=3)


def test_missing_near_misses():
    spec = giant(4, masked=0.01)  # 1 % isolated masked pixels
    wave, flux, ivar = arrays(spec)
    ivar[(wave > 7000) & (wave < 7030)] = 0  # masked but the flux is still there
    flux[-30:] = 0  # LAMOST's zero padding of the red end (~60 A)
    flux[:8] = 0
    flag, region, score = detect_missing(wave, flux, ivar)
    assert not flag and region is None
    assert score < 40


# --------------------------------------------------------------------------- outliers
def test_outlier_true_positives():
    wave, flux, ivar = arrays(giant(5, snr=40))
    i = int(np.searchsorted(wave, 6700.0))
    spiked = flux.copy()
    spiked[i : i + 2] = local_level(wave, flux, 6700) * 2.0
    flag, region, score = detect_outlier(wave, spiked, ivar)
    assert flag and overlaps(region, wave[i], wave[i + 1])
    assert score > 20
    j = int(np.searchsorted(wave, 5500.0))
    trough = flux.copy()
    trough[j] = local_level(wave, flux, 5500) * 0.1
    assert detect_outlier(wave, trough, ivar)[0]


def test_outlier_near_misses():
    wave, flux, ivar = arrays(giant(6, snr=40))
    # A deep unresolved absorption line (not in the line list) is a line, not a trough.
    line = flux * (1 - 0.6 * np.exp(-0.5 * ((wave - 6700.2) / (6700 / 1800 / 2.3548)) ** 2))
    assert not detect_outlier(wave, line.astype(np.float32), ivar)[0]
    # A small spike (20 % of the continuum) is noise-like, not a pronounced peak.
    i = int(np.searchsorted(wave, 6800.0))
    small = flux.copy()
    small[i] = local_level(wave, flux, 6800) * 1.2
    assert not detect_outlier(wave, small, ivar)[0]
    # Night-sky [O I] 5577 residuals are a known LAMOST feature, ignored.
    k = int(np.searchsorted(wave, 5578.9))
    sky = flux.copy()
    sky[k - 1 : k + 1] = local_level(wave, flux, 5578.9) * 2.0
    assert not detect_outlier(wave, sky, ivar)[0]


def test_template_vetoes_lines_every_star_has():
    # A saturated, box-like line in every spectrum looks like a trough in each of them ...
    specs = [giant(s, snr=80) for s in range(30, 36)]
    for spec in specs:
        i = int(np.searchsorted(spec.wavelength, 6200.0))
        spec.flux[i : i + 2] *= 0.1
    hits = [detect_outlier(*arrays(s))[0] for s in specs]
    assert all(hits)
    # ... but the population template (median normalised spectrum) has it too.
    from spt.prep.spectra import common_grid, preprocess_one

    grid = common_grid()
    norm = [preprocess_one(s, grid)[:2] for s in specs]
    template = population_template(
        np.array([f for f, _ in norm]), np.array([v for _, v in norm]), grid
    )
    assert not any(detect_outlier(*arrays(s), template=template)[0] for s in specs)
    # A spike right beside that line is still an outlier.
    wave, flux, ivar = arrays(specs[0])
    i = int(np.searchsorted(wave, 6200.0))
    flux[i + 4 : i + 6] = local_level(wave, flux, 6200) * 2.5
    assert detect_outlier(wave, flux, ivar, template=template)[0]
    # apply_template reaches the same decision from the stored hits.
    frame = flag_spectra([0, 1], [specs[1], (wave, flux, ivar)])
    assert frame["outlier"].tolist() == [True, True]
    vetoed = apply_template(frame, template)
    assert vetoed["outlier"].tolist() == [False, True]
    assert vetoed["reasons"].tolist() == ["", "outliers"]


# --------------------------------------------------------------------------- negative values
def test_negative_true_positive():
    wave, flux, ivar = arrays(giant(7, snr=30))
    sel = (wave >= 6400) & (wave <= 6480)
    flux[sel] -= 1.2 * np.median(flux[sel])
    flag, region, score = detect_negative(wave, flux, ivar)
    assert flag
    assert region[0] == pytest.approx(6400, abs=15) and region[1] == pytest.approx(6480, abs=15)
    assert score > 50


def test_negative_near_misses():
    # A cool giant at low S/N: near-zero, noisy (partly negative) flux in the far blue.
    spec = giant(8, snr=8, teff=3900)
    wave, flux, ivar = arrays(spec)
    blue = wave < 4000
    flux[blue] = (flux[blue] - np.median(flux[blue])).astype(np.float32)  # centred on zero
    assert (flux[blue] < 0).sum() > 0.3 * blue.sum()
    assert not detect_negative(wave, flux, ivar)[0]
    # A short dip below zero (a few pixels) is not a negative region.
    wave, flux, ivar = arrays(giant(9, snr=30))
    sel = (wave > 6000) & (wave < 6008)
    flux[sel] = -0.2 * np.median(flux)
    assert not detect_negative(wave, flux, ivar)[0]


# --------------------------------------------------------------------------- real LAMOST files
#: What each real file is: sp01-092 lost its red arm (no flux, masked, 7251-9076 A), a true
#: "missing values" spectrum; every other file is a normal spectrum.
REAL_EXPECTED = {"spec-55859-F5907_sp01-092": {"missing"}}


def test_real_lamost_spectra():
    files = sorted(LAMOST.glob("*.fits.gz")) if LAMOST.is_dir() else []
    if not files:
        pytest.skip(f"real LAMOST files not available under {LAMOST}")
    specs = [read_spectrum(p) for p in files]
    frame = flag_spectra([s.obsid for s in specs], specs)
    assert len(frame) == len(files) == 14
    for path, row in zip(files, frame.itertuples(), strict=True):
        expected = next((v for k, v in REAL_EXPECTED.items() if k in path.name), set())
        flagged = {t for t in ANOMALY_TYPES if getattr(row, t)}
        assert flagged == expected, (path.name, row.reasons)
    lost = frame[frame["missing"]].iloc[0]
    assert lost["missing_lo"] == pytest.approx(7251, abs=15) and lost["missing_score"] > 1500


# --------------------------------------------------------------------------- tables
def test_flag_spectra_columns_and_reasons():
    clean = giant(10)
    wave, flux, ivar = arrays(giant(11))
    sel = (wave >= 5000) & (wave <= 5300)
    flux[sel], ivar[sel] = 0, 0
    flux[(wave >= 7000) & (wave <= 7100)] -= 2 * np.median(flux)
    frame = flag_spectra([10, 11], [clean, (wave, flux, ivar)])
    assert frame["obsid"].tolist() == [10, 11]
    for t in ANOMALY_TYPES:
        assert {t, f"{t}_lo", f"{t}_hi", f"{t}_score"} <= set(frame.columns)
    assert frame.loc[1, "reasons"] == "missing values; negative values"
    assert frame.loc[0, "reasons"] == ""
    assert np.isnan(frame.loc[0, "missing_lo"])


def test_detection_scores_counts():
    flags = pd.DataFrame({"obsid": [1, 2, 3, 4, 5], **{t: [False] * 5 for t in ANOMALY_TYPES}})
    flags.loc[0, "missing"] = True  # TP
    flags.loc[1, "missing"] = True  # FP (a negative one)
    flags.loc[1, "negative"] = True  # TP
    truth = pd.DataFrame(
        {"obsid": [1, 2, 3, 4, 5, 6], "anomaly": ["missing", "negative", "", np.nan, "", "outlier"]}
    )
    scores = detection_scores(flags, truth).set_index("type")
    assert scores.loc["missing", ["n_true", "n_flagged", "TP"]].tolist() == [1, 2, 1]
    assert scores.loc["missing", "precision"] == 0.5 and scores.loc["missing", "recall"] == 1.0
    assert scores.loc["negative", "precision"] == 1.0
    assert scores.loc["outlier", "recall"] == 0.0  # obsid 6 was never flagged (absent)
    assert np.isnan(scores.loc["oscillation", "precision"])
    assert scores.loc["any", ["n_true", "TP"]].tolist() == [3, 2]
    with pytest.raises(ValueError, match="unknown anomaly"):
        detection_scores(flags, truth.assign(anomaly="bogus"))


def test_merge_config_rejects_typos():
    assert merge_config({"outlier": {"n_sigma": 9}})["outlier"]["n_sigma"] == 9
    with pytest.raises(KeyError, match="n_sgima"):
        merge_config({"outlier": {"n_sgima": 9}})
    with pytest.raises(KeyError, match="unknown anomaly detector"):
        merge_config({"spikes": {}})


# --------------------------------------------------------------------------- label outliers
def label_table(n: int = 1500, seed: int = 0) -> pd.DataFrame:
    """Asteroseismic-like labels: log age linear in log mass and [Fe/H], correlated errors."""
    rng = np.random.default_rng(seed)
    mass = 10 ** np.clip(rng.normal(0.12, 0.07, n), np.log10(0.85), None)
    feh = rng.normal(-0.05, 0.2, n)
    dm = 0.05 * rng.standard_normal(n)
    log_age = 0.9 - 3.2 * np.log10(mass * (1 + dm)) + 0.23 * feh + 0.02 * rng.standard_normal(n)
    age = 10**log_age
    return pd.DataFrame(
        {
            "kic": np.arange(n) + 1000,
            "obsid": np.arange(n) + 9_000_000,
            "age": age,
            "e_age": 0.15 * age,
            "mass": mass * (1 + dm),
            "e_mass": 0.05 * mass,
            "feh": feh,
        }
    )


def test_label_outliers():
    frame = label_table()
    bad = [10, 20, 30, 40, 50, 60]
    frame.loc[bad[0], "age"] = -1.0
    frame.loc[bad[1], ["age", "e_age"]] = 15.0, 0.3  # 15 +- 0.3 Gyr: older than age_max
    frame.loc[bad[2], "mass"] = 0.3
    frame.loc[bad[3], "e_age"] = 2.0 * frame.loc[bad[3], "age"]
    frame.loc[bad[4], "age"] *= 3.0  # catastrophic: x3
    frame.loc[bad[5], "age"] /= 2.5  # catastrophic: / 2.5
    out = flag_label_outliers(frame)
    assert len(out) == len(frame) and out["kic"].tolist() == frame["kic"].tolist()
    assert out.loc[bad[0], "age_invalid"] and out.loc[bad[1], "age_invalid"]
    assert out.loc[bad[2], "mass_invalid"] and out.loc[bad[3], "large_error"]
    assert out.loc[bad[4], "off_relation"] and out.loc[bad[5], "off_relation"]
    assert "age outside (0.0, 14.0] Gyr by more than 2.0 e_age" in out.loc[bad[0], "reasons"]
    assert abs(out.loc[bad[4], "relation_resid_dex"] - np.log10(3.0)) < 0.1
    clean = out.drop(index=bad)
    assert clean["rejected"].mean() < 0.01
    assert out.loc[bad, "rejected"].all()


def test_age_max_allows_for_the_label_error():
    """A label above age_max within age_max_nsigma of its own error is a possible old star."""
    frame = label_table(200)
    frame["age"] = frame["age"].clip(upper=13.0)
    rows = [5, 6, 7]
    frame.loc[rows, "age"] = [15.0, 20.5, 19.5]
    frame.loc[rows, "e_age"] = [3.0, 3.0, 3.0]  # 14 + 2 x 3 = 20 Gyr is the limit
    out = flag_label_outliers(frame, {"relation_k": 1e9})
    assert out.loc[rows, "age_invalid"].tolist() == [False, True, False]
    hard = flag_label_outliers(frame, {"relation_k": 1e9, "age_max_nsigma": 0.0})
    assert hard.loc[rows, "age_invalid"].all()
    assert hard["age_invalid"].sum() == out["age_invalid"].sum() + 2


def test_label_outliers_bad_input():
    with pytest.raises(KeyError, match="mass"):
        flag_label_outliers(pd.DataFrame({"age": [1.0]}))
    with pytest.raises(KeyError, match="relation_kk"):
        flag_label_outliers(label_table(50), {"relation_kk": 3})
    frame = label_table(200).assign(e_mass=np.nan)
    assert flag_label_outliers(frame)["large_error"].all()  # an unknown error is no error bar


def test_mass_only_labels_ignore_ages():
    """With labels [mass] a NaN or impossible age rejects no star; mass cuts still apply."""
    frame = label_table(300)
    frame.loc[:99, ["age", "e_age"]] = np.nan  # a seismic table with masses but no ages
    frame.loc[100, "age"] = 40.0
    frame.loc[101, "age"] *= 3.0  # off the age-mass relation: not checked with one label
    frame.loc[102, "mass"] = 0.3
    frame.loc[103, "e_mass"] = frame.loc[103, "mass"]
    out = flag_label_outliers(frame, labels=["mass"])
    assert not out["age_invalid"].any() and not out["off_relation"].any()
    assert out["relation_resid_dex"].isna().all()
    assert out["rejected"].tolist() == [i in (102, 103) for i in range(300)]
    assert "mass outside" in out.loc[102, "reasons"] and "relative error" in out.loc[103, "reasons"]
    assert flag_label_outliers(frame)["rejected"][:102].all()  # both labels: those are rejected
    with pytest.raises(KeyError, match="mass"):
        flag_label_outliers(frame.drop(columns=["mass"]), labels=["mass"])
    ages_only = flag_label_outliers(frame.drop(columns=["age", "e_age"]), labels=["mass"])
    assert ages_only["rejected"].sum() == 2


def test_mass_only_sample_keeps_stars_without_ages():
    """select_sample after the [mass] cut keeps a star whose age is unknown."""
    frame = label_table(50)
    frame.loc[:9, "age"] = np.nan
    frame.loc[10, "mass"] = 9.0
    for labels, kept in ((["mass"], 49), (["age", "mass"], 39)):
        rejected = rejection_table(None, flag_label_outliers(frame, labels=labels))
        sample = select_sample(frame, rejected)
        assert len(sample) == kept and 10 + 1000 not in sample["kic"].tolist()
    assert sample["age"].notna().all()


def test_age_only_labels_ignore_masses():
    frame = label_table(300).assign(mass=np.nan, e_mass=np.nan)
    frame.loc[5, "age"] = 20.0
    out = flag_label_outliers(frame, labels=["age"])
    assert not out["mass_invalid"].any() and not out["off_relation"].any()
    assert np.flatnonzero(out["rejected"]).tolist() == [5]
    with pytest.raises(ValueError, match="order"):
        flag_label_outliers(frame, labels=["mass", "age"])


def test_rejection_table_keeps_every_reason():
    spectra = pd.DataFrame(
        {
            "obsid": [1, 2, 3, 4],
            "ok": [True, False, True, True],
            "problem": ["", "unreadable: truncated", "", ""],
            "reasons": ["", "", "missing values; outliers", ""],
        }
    )
    labels = pd.DataFrame(
        {
            "kic": [11, 13, 14],
            "obsid": [1, 3, 4],
            "rejected": [False, True, True],
            "reasons": ["", "age outside (0, 14] Gyr", "off the relation"],
        }
    )
    table = rejection_table(spectra, labels).set_index("obsid")
    assert sorted(table.index) == [2, 3, 4]
    assert table.loc[3, "stage"] == "both"
    assert table.loc[3, "reasons"] == "missing values; outliers; age outside (0, 14] Gyr"
    assert table.loc[2, "stage"] == "spectrum" and "unreadable" in table.loc[2, "reasons"]
    assert table.loc[4, "stage"] == "labels"


def test_pick_examples_prefers_single_type_and_high_scores():
    from spt.paper.plots.preprocessing import pick_examples

    frame = pd.DataFrame({"obsid": [1, 2, 3], **{t: [False] * 3 for t in ANOMALY_TYPES}})
    for t in ANOMALY_TYPES:
        frame[f"{t}_lo"], frame[f"{t}_hi"], frame[f"{t}_score"] = 5000.0, 5100.0, 0.0
    frame.loc[[0, 1, 2], "missing"] = True
    frame.loc[:, "missing_score"] = [900.0, 200.0, 100.0]
    frame.loc[0, "outlier"] = True  # obsid 1 is also an outlier: 2 is the cleaner example
    spectra = {i: giant(i) for i in (1, 2, 3)}
    examples = pick_examples(frame, spectra.__getitem__)
    assert set(examples) == {"missing", "outlier"}
    assert examples["missing"]["label"] == "obsid 2"
    assert examples["outlier"]["label"] == "obsid 1"
    assert examples["missing"]["region"] == (5000.0, 5100.0)
    assert np.array_equal(examples["missing"]["flux"], spectra[2].flux)


# --------------------------------------------------------------------------- figures 4 and 5
def _check_figure_files(pdf: Path) -> tuple[bytes, bytes]:
    png = pdf.with_suffix(".png")
    a, b = pdf.read_bytes(), png.read_bytes()
    assert a.startswith(b"%PDF-") and a.rstrip().endswith(b"%%EOF") and len(a) > 5000
    assert b.startswith(b"\x89PNG\r\n\x1a\n") and len(b) > 5000
    assert b"CreationDate" not in a
    return a, b


def test_anomaly_and_label_figures_are_reproducible(tmp_path):
    from spt.paper.plots.preprocessing import plot_anomaly_examples, plot_label_densities

    examples = {}
    for name in ANOMALY_TYPES:
        wave, flux, _ = arrays(giant(20))
        examples[name] = {"wavelength": wave, "flux": flux, "region": (6000.0, 6300.0),
                          "label": f"obsid {name}"}  # fmt: skip
    del examples["negative"]  # a type without an example still gets its panel
    frame = label_table(300)
    after = frame.iloc[:250]
    runs = []
    for k in range(2):
        out = tmp_path / f"run{k}"
        fig4 = plot_anomaly_examples(examples, out / "fig04_anomalies.pdf")
        fig5 = plot_label_densities(frame, after, out / "fig05_labels.pdf")
        runs.append((_check_figure_files(fig4), _check_figure_files(fig5)))
    assert runs[0] == runs[1]
