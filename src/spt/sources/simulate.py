"""The mock LAMOST x Kepler survey: the pipeline's embedded default data source.

A deterministic generator, not a shipped data set. From one seed it writes the files the real
path downloads, in the real formats (DESIGN §3): LAMOST LRS FITS spectra (DR9 layout by
default), the LRS stellar catalogue CSV, an asteroseismic catalogue in a VizieR layout, an
open-cluster member list, isochrone-like ages, and a truth table.

Labels come from physics: mass, [Fe/H], [alpha/M], radius and evolutionary state are drawn
from a multivariate prior fitted to the Kepler red giants of Miglio et al. (2021); the age
follows a mass-metallicity-age relation fitted to the same stars; Teff follows the giant
branch; numax and Dnu follow the scaling relations. The catalogue's labels are "measured":
noisy numax, Dnu and Teff give the mass through the scaling relation and the age through the
relation, so age and mass errors are correlated as in real catalogues. Spectra carry the
labels only the way real spectra do: through Teff, log g, [Fe/H], [alpha/M] and the
mass-dependent [C/N] of the first dredge-up.
"""

from __future__ import annotations

import copy
import logging
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from astropy import units as u
from astropy.coordinates import SkyCoord
from tqdm import tqdm

from spt.io.files import write_csv
from spt.io.lamost import LamostSpectrum, spectrum_path, write_catalog, write_spectrum
from spt.sources import seismo

log = logging.getLogger(__name__)

ANOMALY_TYPES = ("oscillation", "missing", "outlier", "negative")
C_KMS = 299_792.458
LOG_STEP = 1e-4  # LAMOST COEFF1
MASTER_LOG_START = 3.5600
MASTER_N = 4030
# Stream identifiers keep every random step independent of the others and of the worker count.
_STREAM_POPULATION, _STREAM_SURVEY, _STREAM_SPECTRUM, _STREAM_LINES = 1, 2, 3, 4


# --------------------------------------------------------------------------- population
def draw_population(
    rng: np.random.Generator, n: int, prior: Mapping[str, Any], phase: np.ndarray | None = None
) -> pd.DataFrame:
    """Draw true stellar parameters for ``n`` red giants from the prior in config."""
    if phase is None:
        phase = np.where(rng.random(n) < prior["rc_fraction"], 2, 1)
    out = np.empty((n, 4))
    for code, key in ((1, "rgb"), (2, "rc")):
        sel = phase == code
        mean = np.asarray(prior[key]["mean"], dtype=float)
        cov = np.asarray(prior[key]["cov"], dtype=float)
        out[sel] = rng.multivariate_normal(mean, cov, size=int(sel.sum()), method="cholesky")
    lo, hi = prior["mass_range"]
    mass = np.clip(10 ** out[:, 0], lo, hi)
    stars = pd.DataFrame(
        {
            "phase": phase.astype(int),
            "mass": mass,
            "feh": np.clip(out[:, 1], -2.0, 0.6),
            "alpha": np.clip(out[:, 2], -0.2, 0.45),
            "radius": np.clip(10 ** out[:, 3], 3.0, 30.0),
        }
    )
    rel = prior["age_relation"]
    stars["age"] = age_from_relation(stars["mass"], stars["feh"], stars["alpha"], phase, rel)
    stars["age"] *= 10 ** (rel["scatter_dex"] * rng.standard_normal(n))
    stars["age"] = np.minimum(stars["age"], prior["age_max_gyr"])
    stars["logg"] = seismo.surface_gravity(stars["mass"].to_numpy(), stars["radius"].to_numpy())
    stars["teff"] = giant_teff(stars, prior["teff"]) + prior["teff"]["scatter_k"] * (
        rng.standard_normal(n)
    )
    stars["cfe"], stars["nfe"] = dredge_up(stars["mass"], stars["phase"], prior["first_dredge_up"])
    return stars


def dredge_up(
    mass: np.ndarray | pd.Series, phase: np.ndarray | pd.Series, fdu: Mapping[str, float]
) -> tuple[np.ndarray, np.ndarray]:
    """[C/Fe] and [N/Fe] after the first dredge-up: the mass signature the spectra carry."""
    dm = np.asarray(mass, dtype=float) - 1.0
    rc = np.asarray(phase) == 2
    cfe = fdu["cfe_at_1msun"] + fdu["cfe_per_msun"] * dm + fdu["rc_extra_cfe"] * rc
    return cfe, fdu["nfe_at_1msun"] + fdu["nfe_per_msun"] * dm


def age_from_relation(
    mass: Sequence[float] | np.ndarray | pd.Series,
    feh: Sequence[float] | np.ndarray | pd.Series,
    alpha: Sequence[float] | np.ndarray | pd.Series,
    phase: Sequence[int] | np.ndarray | pd.Series,
    rel: Mapping[str, float],
) -> np.ndarray:
    """Age (Gyr) of a giant from the mass-metallicity-age relation of stellar tracks."""
    logage = (
        rel["intercept"]
        + rel["log_mass"] * np.log10(np.asarray(mass, dtype=float))
        + rel["feh"] * np.asarray(feh, dtype=float)
        + rel["alpha"] * np.asarray(alpha, dtype=float)
        + rel["rc"] * (np.asarray(phase) == 2)
    )
    return np.asarray(10**logage, dtype=float)


def mass_from_age(
    age: float, feh: float, alpha: float, phase: int, rel: Mapping[str, float]
) -> float:
    """Invert the age relation: the giant mass of a population of one age and metallicity."""
    logm = (
        np.log10(age) - rel["intercept"] - rel["feh"] * feh - rel["alpha"] * alpha
        - rel["rc"] * (phase == 2)
    ) / rel["log_mass"]  # fmt: skip
    return float(10**logm)


def giant_teff(stars: pd.DataFrame, teff: Mapping[str, float]) -> np.ndarray:
    """Effective temperature of a giant on the RGB or in the red clump (no scatter)."""
    rgb = (
        teff["rgb_at_logg25"]
        + teff["rgb_per_logg"] * (stars["logg"] - 2.5)
        + teff["per_feh"] * stars["feh"]
        + teff["per_msun"] * (stars["mass"] - 1.2)
    )
    rc = (
        teff["rc"] + teff["rc_per_msun"] * (stars["mass"] - 1.2) + teff["rc_per_feh"] * stars["feh"]
    )
    return np.where(stars["phase"] == 2, rc, rgb)


def observe_seismic(
    stars: pd.DataFrame,
    noise: Mapping[str, float],
    rel: Mapping[str, float],
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Measured catalogue values: noisy numax, Dnu, Teff, [Fe/H]; scaling mass; relation age."""
    n = len(stars)
    m, r, t = (stars[c].to_numpy() for c in ("mass", "radius", "teff"))
    numax_obs = seismo.numax(m, r, t) * (1 + noise["numax_rel"] * rng.standard_normal(n))
    dnu_obs = seismo.dnu(m, r) * (1 + noise["dnu_rel"] * rng.standard_normal(n))
    teff_obs = t + noise["teff_k"] * rng.standard_normal(n)
    feh_obs = stars["feh"].to_numpy() + noise["feh_dex"] * rng.standard_normal(n)
    mass_obs = seismo.scaling_mass(numax_obs, dnu_obs, teff_obs)
    rel_m = seismo.scaling_mass_rel_error(
        np.full(n, noise["numax_rel"]), np.full(n, noise["dnu_rel"]), noise["teff_k"] / teff_obs
    )
    age_obs = age_from_relation(mass_obs, feh_obs, stars["alpha"], stars["phase"], rel)
    rel_age = np.log(10) * np.hypot(
        rel["log_mass"] * rel_m / np.log(10), rel["feh"] * noise["feh_dex"]
    )
    return pd.DataFrame(
        {
            "Teff": np.round(teff_obs, 0),
            "e_Teff": noise["teff_k"],
            "[Fe/H]": np.round(feh_obs, 3),
            "e_[Fe/H]": noise["feh_dex"],
            "numax": np.round(numax_obs, 3),
            "e_numax": np.round(numax_obs * noise["numax_rel"], 3),
            "Dnu": np.round(dnu_obs, 4),
            "e_Dnu": np.round(dnu_obs * noise["dnu_rel"], 4),
            "Mass": np.round(mass_obs, 4),
            "e_Mass": np.round(mass_obs * rel_m, 4),
            "Age": np.round(age_obs, 4),
            "e_Age": np.round(age_obs * rel_age, 4),
            "Phase": stars["phase"].to_numpy(),
        }
    )


# --------------------------------------------------------------------------- spectra
@dataclass(frozen=True)
class Feature:
    """An absorption feature: Gaussian line or one-sided molecular band head."""

    name: str
    center: float  # vacuum Angstrom
    width: float  # intrinsic sigma (line) or e-folding length (band), Angstrom
    tau0: float  # optical depth at the reference star
    group: str  # abundance that scales it: fe, alpha, na, c, cn, h, tio, none
    teff_scale: float  # K; strength ∝ exp(-(Teff - 4750) / teff_scale); 0 = none
    logg_coeff: float  # dex of strength per dex of log g
    shape: str = "line"  # line | band_red (degrades redward) | band_blue


#: Strong features at their real vacuum wavelengths (strengths tuned to look like K giants).
STRONG_FEATURES: tuple[Feature, ...] = (
    Feature("CN 3883", 3883.4, 25.0, 0.35, "cn", 350.0, -0.1, "band_blue"),
    Feature("Ca II K", 3934.8, 6.0, 3.0, "alpha", 900.0, -0.2),
    Feature("Ca II H", 3969.6, 5.0, 2.5, "alpha", 900.0, -0.2),
    Feature("H delta", 4102.9, 2.0, 0.5, "h", -700.0, 0.0),
    Feature("CN 4216", 4216.0, 20.0, 0.25, "cn", 350.0, -0.1, "band_blue"),
    Feature("Ca I 4227", 4227.9, 1.2, 1.4, "alpha", 500.0, 0.15),
    Feature("G band CH", 4300.0, 12.0, 0.35, "c", 450.0, 0.0),
    Feature("H gamma", 4341.7, 2.0, 0.6, "h", -700.0, 0.0),
    Feature("Fe I 4384", 4384.8, 0.9, 1.0, "fe", 700.0, 0.0),
    Feature("Ba II 4555", 4555.3, 0.5, 0.6, "fe", 900.0, -0.3),
    Feature("Fe 4668 blend", 4668.0, 2.5, 0.35, "fe", 600.0, 0.0),
    Feature("H beta", 4862.7, 2.0, 0.8, "h", -700.0, 0.0),
    Feature("Mg b1", 5168.8, 1.0, 1.1, "alpha", 800.0, 0.25),
    Feature("Mg b2", 5174.1, 1.0, 1.3, "alpha", 800.0, 0.25),
    Feature("Mg b4", 5185.0, 1.1, 1.5, "alpha", 800.0, 0.25),
    Feature("Fe 5270", 5271.4, 1.0, 0.8, "fe", 700.0, 0.0),
    Feature("Fe 5335", 5336.3, 1.0, 0.6, "fe", 700.0, 0.0),
    Feature("Fe 5406", 5407.9, 0.9, 0.5, "fe", 700.0, 0.0),
    Feature("Na D2", 5891.6, 0.8, 1.4, "na", 600.0, 0.3),
    Feature("Na D1", 5897.6, 0.8, 1.2, "na", 600.0, 0.3),
    Feature("Ca I 6164", 6164.0, 0.8, 0.4, "alpha", 600.0, 0.1),
    Feature("Fe 6496", 6496.5, 0.8, 0.4, "fe", 700.0, 0.0),
    Feature("H alpha", 6564.6, 2.5, 1.1, "h", -900.0, 0.0),
    Feature("TiO 7055", 7055.0, 60.0, 0.03, "tio", 250.0, 0.0, "band_red"),
    Feature("K I 7701", 7701.1, 0.8, 0.35, "none", 600.0, 0.2),
    Feature("CN 7875", 7875.0, 40.0, 0.04, "cn", 400.0, -0.1, "band_red"),
    Feature("Ca II 8500", 8500.4, 2.0, 1.5, "alpha", 1500.0, -0.3),
    Feature("Ca II 8544", 8544.4, 2.4, 2.0, "alpha", 1500.0, -0.3),
    Feature("Ca II 8664", 8664.5, 2.2, 1.8, "alpha", 1500.0, -0.3),
    Feature("Mg I 8809", 8809.2, 1.0, 0.6, "alpha", 800.0, 0.1),
)
#: Telluric absorption (not corrected by LAMOST): strength independent of the star.
TELLURIC_FEATURES: tuple[Feature, ...] = (
    Feature("O2 B band", 6869.0, 15.0, 0.25, "none", 0.0, 0.0, "band_red"),
    Feature("O2 A band", 7605.0, 20.0, 0.6, "none", 0.0, 0.0, "band_red"),
    Feature("H2O 9000s", 8950.0, 60.0, 0.06, "none", 0.0, 0.0, "line"),
)


#: Strong night-sky emission lines (vacuum Å) that leave residuals after sky subtraction.
SKY_LINES = (5578.9, 5891.6, 6302.0, 6365.5, 7246.0, 8344.6, 8827.1)


def _profile(grid_wave: np.ndarray, f: Feature, resolution: float) -> np.ndarray:
    sigma_inst = f.center / (resolution * 2.3548)
    if f.shape == "line":
        sigma = np.hypot(f.width, sigma_inst)
        return np.exp(-0.5 * ((grid_wave - f.center) / sigma) ** 2)
    sign = 1.0 if f.shape == "band_red" else -1.0
    x = sign * (grid_wave - f.center)
    prof = np.where(x >= 0, np.exp(-np.clip(x, 0, None) / f.width), 0.0)
    edge = np.exp(-0.5 * (x / sigma_inst) ** 2)
    return np.maximum(prof, np.where(x < 0, edge, 0.0))


class SpectrumModel:
    """Optical depths of strong features and a weak-line forest on a rest-frame log-λ grid."""

    def __init__(self, resolution: float, n_forest: int, forest_seed: int) -> None:
        self.log_wave = MASTER_LOG_START + LOG_STEP * np.arange(MASTER_N)
        wave = 10**self.log_wave
        rng = np.random.default_rng([forest_seed, _STREAM_LINES])
        forest = [
            Feature(
                f"forest {i}",
                float(10 ** rng.uniform(np.log10(3800), np.log10(9000))),
                0.15,
                float(0.12 * rng.pareto(3.0) + 0.01),
                str(rng.choice(["fe", "fe", "fe", "alpha", "c"])),
                float(rng.uniform(400, 1200)),
                float(rng.uniform(-0.2, 0.2)),
            )
            for i in range(n_forest)
        ]
        # Forest lines crowd the blue, as in real K giants.
        self.features = [*STRONG_FEATURES, *forest]
        self.profiles = np.stack([_profile(wave, f, resolution) for f in self.features])
        self.telluric = np.stack([_profile(wave, f, resolution) for f in TELLURIC_FEATURES]).T @ (
            np.array([f.tau0 for f in TELLURIC_FEATURES])
        )
        self._group = np.array([f.group for f in self.features])
        self._tscale = np.array([f.teff_scale for f in self.features])
        self._logg = np.array([f.logg_coeff for f in self.features])
        self._tau0 = np.array([f.tau0 for f in self.features])

    def strengths(self, stars: pd.DataFrame) -> np.ndarray:
        """Optical-depth multipliers (n_stars × n_features) from the stellar labels."""
        feh = stars["feh"].to_numpy()[:, None]
        abund = {
            "fe": feh,
            "alpha": feh + stars["alpha"].to_numpy()[:, None],
            "na": feh,
            "c": feh + stars["cfe"].to_numpy()[:, None],
            "cn": 2 * feh + stars["cfe"].to_numpy()[:, None] + stars["nfe"].to_numpy()[:, None],
            "h": np.zeros_like(feh),
            "tio": feh + stars["alpha"].to_numpy()[:, None],
            "none": np.zeros_like(feh),
        }
        # Strong lines are saturated: optical depth grows slower than abundance (curve of growth).
        ab = np.zeros((len(stars), len(self.features)))
        for group, values in abund.items():
            sel = self._group == group
            ab[:, sel] = values
        dt = stars["teff"].to_numpy()[:, None] - 4750.0
        safe = np.where(self._tscale == 0, 1.0, self._tscale)
        # Bounded so that giants far from 4750 K keep physically plausible line strengths.
        tfac = np.where(self._tscale != 0, np.exp(np.clip(-dt / safe, -1.2, 1.2)), 1.0)
        gfac = 10 ** (self._logg * (stars["logg"].to_numpy()[:, None] - 2.5))
        return self._tau0 * 10 ** (0.8 * ab) * tfac * gfac

    def normalised_flux(self, stars: pd.DataFrame) -> np.ndarray:
        """Rest-frame continuum-normalised flux on the master grid (n_stars × MASTER_N)."""
        tau = self.strengths(stars) @ self.profiles
        return np.exp(-tau)


def planck(wave_aa: np.ndarray, teff: np.ndarray) -> np.ndarray:
    """Planck's law per unit wavelength (arbitrary normalisation)."""
    x = 1.4388e8 / (wave_aa * teff)  # hc/(λ k T) with λ in Angstrom
    return wave_aa**-5 / np.expm1(x)


def _efficiency(wave: np.ndarray) -> np.ndarray:
    """Relative throughput of LAMOST's blue and red arms (smooth, peaks near 6000 Å)."""
    lw = np.log10(wave)
    return 0.25 + 0.75 * np.exp(-0.5 * ((lw - np.log10(6200.0)) / 0.11) ** 2)


def _inject_anomaly(
    kind: str, wave: np.ndarray, flux: np.ndarray, ivar: np.ndarray, rng: np.random.Generator
) -> tuple[float, float]:
    """Corrupt one spectrum in place as the real anomalies look; return the affected range."""
    lo_w, hi_w = float(wave[0]), float(wave[-1])
    cont = np.maximum(np.median(flux), 1e-6)
    if kind == "oscillation":
        width = rng.uniform(1500.0, hi_w - lo_w)
        lo = rng.uniform(lo_w, hi_w - width)
        sel = (wave >= lo) & (wave <= lo + width)
        amp, period, phase = (
            rng.uniform(0.08, 0.30),
            rng.uniform(40.0, 250.0),
            rng.uniform(0, 2 * np.pi),
        )
        flux[sel] *= 1 + amp * np.sin(2 * np.pi * wave[sel] / period + phase)
        return lo, lo + width
    if kind == "missing":
        width = rng.uniform(100.0, 800.0)
        lo = rng.uniform(lo_w, hi_w - width)
        sel = (wave >= lo) & (wave <= lo + width)
        flux[sel] = 0.0
        ivar[sel] = 0.0
        return lo, lo + width
    if kind == "outlier":
        n_spikes = int(rng.integers(1, 7))
        centres = rng.integers(20, len(wave) - 20, size=n_spikes)
        for c in centres:
            w = int(rng.integers(1, 4))
            local = max(float(np.median(flux[max(c - 30, 0) : c + 30])), 0.05 * cont)
            if rng.random() < 0.6:
                flux[c : c + w] = local * (1 + rng.uniform(0.5, 3.0))
            else:
                flux[c : c + w] = local * rng.uniform(0.05, 0.30)
        return float(wave[centres.min()]), float(wave[min(centres.max() + 3, len(wave) - 1)])
    if kind == "negative":
        width = rng.uniform(50.0, 600.0)
        lo = rng.uniform(lo_w, hi_w - width)
        sel = (wave >= lo) & (wave <= lo + width)
        local = max(float(np.median(flux[sel])), 0.05 * cont)
        flux[sel] -= rng.uniform(1.2, 2.0) * local
        return lo, lo + width
    raise ValueError(f"unknown anomaly type {kind!r}")


def synthesize_chunk(
    rows: pd.DataFrame, model: SpectrumModel, cfg: Mapping[str, Any], seed: int, out_dir: str
) -> list[dict[str, float]]:
    """Make and write the spectra of ``rows``; return their header S/N and anomaly ranges."""
    norm = model.normalised_flux(rows)
    out: list[dict[str, float]] = []
    for i, row in enumerate(rows.itertuples(index=False)):
        rng = np.random.default_rng([seed, _STREAM_SPECTRUM, int(row.obsid) % (2**32)])
        coeff0 = 3.5682 if rng.random() < 0.9 else float(np.round(rng.uniform(3.5681, 3.5684), 4))
        n_max = int(np.floor((np.log10(9100.0) - coeff0) / LOG_STEP)) + 1
        n = n_max - int(rng.integers(0, 30))
        logw = coeff0 + LOG_STEP * np.arange(n)
        wave = 10**logw
        z = row.rv / C_KMS
        shifted = np.interp(logw - np.log10(1 + z), model.log_wave, norm[i])
        tell = np.interp(logw, model.log_wave, model.telluric)
        ext = 10 ** (-0.4 * row.av * (wave / 5500.0) ** -1.3)
        calib = np.polynomial.Polynomial(
            rng.normal(0, [0, 0.04, 0.03, 0.02]), domain=[wave[0], wave[-1]]
        )
        model_flux = planck(wave, row.teff) * ext * (1 + calib(wave)) * shifted * np.exp(-tell)
        gband = (wave > 4000) & (wave < 5500)
        scale = row.flux_scale / np.median(model_flux[gband])
        model_flux *= scale
        # Photon noise plus a sky-and-read-noise floor, scaled so the g band has S/N = snrg.
        counts = model_flux * _efficiency(wave)
        cg = np.median(counts[gband])
        beta = cfg["background_fraction"]
        sigma_counts = cg / row.snrg * np.sqrt((counts / cg + beta) / (1 + beta))
        snr = counts / sigma_counts
        sigma = sigma_counts * model_flux / counts
        flux = model_flux + sigma * rng.standard_normal(n)
        # Residuals of imperfectly subtracted night-sky lines, as in real LAMOST spectra.
        for sky in SKY_LINES:
            k = int(np.searchsorted(wave, sky))
            if 0 < k < n - 1:
                flux[k - 1 : k + 1] += sigma[k] * rng.normal(0.0, cfg["sky_residual_sigma"])
        flux = flux.astype(np.float32)
        ivar = (1.0 / sigma**2).astype(np.float32)
        andmask = np.zeros(n, dtype=np.int32)
        bad = rng.random(n) < rng.uniform(0, cfg["masked_pixel_fraction"])
        andmask[bad] = 1 << 23  # BADPIX-like bit
        ivar[bad] = 0.0
        lo = hi = np.nan
        if row.anomaly:
            lo, hi = _inject_anomaly(row.anomaly, wave, flux, ivar, rng)
        bands = {"SNRU": (3500, 4000), "SNRG": (4000, 5500), "SNRR": (5600, 6900),
                 "SNRI": (6900, 8400), "SNRZ": (8400, 9100)}  # fmt: skip
        snrs = {
            k: float(np.round(np.median(snr[(wave > a) & (wave < b)]), 2))
            for k, (a, b) in bands.items()
        }
        header = {
            "OBSID": int(row.obsid), "DESIG": row.designation,
            "RA": float(row.ra), "DEC": float(row.dec),
            "DATA_V": "LAMOST DR9", "LMJD": int(row.lmjd), "MJD": int(row.lmjd) - 1,
            "PLANID": row.planid, "SPID": int(row.spid), "FIBERID": int(row.fiberid),
            "CLASS": "STAR", "SUBCLASS": row.subclass, "Z": float(np.round(z, 8)),
            "Z_ERR": 1.5e-5, **snrs,
        }  # fmt: skip
        spec = LamostSpectrum(int(row.obsid), wave, flux, ivar, andmask, andmask.copy(), header)
        write_spectrum(spectrum_path(out_dir, int(row.obsid)), spec, layout=cfg["layout"])
        out.append({"obsid": int(row.obsid), "anomaly_lo": lo, "anomaly_hi": hi,
                    **{k.lower(): v for k, v in snrs.items()}})  # fmt: skip
    return out


# --------------------------------------------------------------------------- survey
def _sky_uniform(
    rng: np.random.Generator, n: int, field: Mapping[str, float]
) -> tuple[np.ndarray, np.ndarray]:
    """Positions uniform on the sphere within ``radius_deg`` of the field centre."""
    centre = SkyCoord(field["ra"] * u.deg, field["dec"] * u.deg)
    cos_r = np.cos(np.deg2rad(field["radius_deg"]))
    sep = np.rad2deg(np.arccos(1 - rng.random(n) * (1 - cos_r)))
    pa = rng.uniform(0, 360, n)
    pos = centre.directional_offset_by(pa * u.deg, sep * u.deg)
    return pos.ra.deg, pos.dec.deg


def _offset(
    rng: np.random.Generator, ra: np.ndarray, dec: np.ndarray, sep_arcsec: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Move positions by ``sep_arcsec`` in random directions."""
    pos = SkyCoord(ra * u.deg, dec * u.deg).directional_offset_by(
        rng.uniform(0, 360, len(ra)) * u.deg, sep_arcsec * u.arcsec
    )
    return pos.ra.deg, pos.dec.deg


def designation(ra: np.ndarray, dec: np.ndarray) -> list[str]:
    """LAMOST designations, 'LAMOST Jhhmmss.ss+ddmmss.s'."""
    c = SkyCoord(ra * u.deg, dec * u.deg)
    ras = c.ra.to_string(unit=u.hour, sep="", precision=2, pad=True)
    decs = c.dec.to_string(unit=u.deg, sep="", precision=1, pad=True, alwayssign=True)
    return [f"LAMOST J{a}{d}" for a, d in zip(np.atleast_1d(ras), np.atleast_1d(decs), strict=True)]


def _subclass(teff: np.ndarray) -> np.ndarray:
    edges = [0, 4300, 4600, 4800, 5000, 1e9]
    return np.asarray(["K5", "K3", "K1", "K0", "G8"])[np.digitize(teff, edges[1:-1])]


def _snr(rng: np.random.Generator, n: int, snr: Mapping[str, float]) -> np.ndarray:
    values = snr["median"] * 10 ** (snr["sigma_dex"] * rng.standard_normal(n))
    return np.round(np.clip(values, snr["min"], snr["max"]), 2)


def _unique_ints(rng: np.random.Generator, n: int, lo: int, hi: int) -> np.ndarray:
    values = np.unique(rng.integers(lo, hi, size=int(n * 1.2) + 10))
    rng.shuffle(values)
    if len(values) < n:
        raise RuntimeError("id space too small for the requested survey size")
    return values[:n]


@dataclass
class Survey:
    """Everything the mock survey writes, as tables (spectra are made from ``spectra``)."""

    seismic: pd.DataFrame
    spectra: pd.DataFrame  # one row per spectrum to synthesise (with true labels)
    catalog: pd.DataFrame  # the LAMOST LRS catalogue (spectra + field stars without files)
    clusters: pd.DataFrame
    isochrone: pd.DataFrame


def build_survey(cfg: Mapping[str, Any], seed: int) -> Survey:
    """Draw the whole survey as tables: stars, spectra to make, catalogues, clusters."""
    rng = np.random.default_rng([seed, _STREAM_SURVEY])
    prior, field = cfg["prior"], cfg["field"]
    rel = prior["age_relation"]
    n_spec, n_only = cfg["n_stars"], cfg["n_seismic_only"]
    n_seis = n_spec + n_only

    stars = draw_population(np.random.default_rng([seed, _STREAM_POPULATION]), n_seis, prior)
    stars["kic"] = _unique_ints(rng, n_seis, 1_000_000, 12_900_000)
    stars["ra"], stars["dec"] = _sky_uniform(rng, n_seis, field)
    seismic = observe_seismic(stars, cfg["label_noise"], rel, rng)
    seismic.insert(0, "KIC", stars["kic"].to_numpy())
    seismic.insert(1, "RAJ2000", np.round(stars["ra"].to_numpy(), 6))
    seismic.insert(2, "DEJ2000", np.round(stars["dec"].to_numpy(), 6))
    # Catastrophic label errors (e.g. a wrong evolutionary state), for the label-outlier cut.
    n_bad = round(cfg["label_outlier_fraction"] * n_seis)
    bad = rng.choice(n_seis, size=n_bad, replace=False)
    factor = rng.uniform(2.0, 4.0, n_bad) ** rng.choice([-1.0, 1.0], n_bad)
    seismic.loc[bad, "Age"] = np.round(seismic.loc[bad, "Age"].to_numpy() * factor, 4)
    stars["label_outlier"] = False
    stars.loc[bad, "label_outlier"] = True

    # Cluster giants: one age and [Fe/H] per cluster, not in the seismic catalogue.
    members, cluster_rows = [], []
    for cl in cfg["clusters"]:
        k = int(cl["n_members"])
        age = 10 ** (cl["log_age"] - 9.0)  # log age in yr -> Gyr
        phase = np.where(rng.random(k) < prior["rc_fraction"], 2, 1)
        feh = np.full(k, cl["feh"]) + 0.03 * rng.standard_normal(k)
        alpha = np.zeros(k)
        mass = np.array(
            [mass_from_age(age, f, 0.0, p, rel) for f, p in zip(feh, phase, strict=True)]
        )
        st = draw_population(rng, k, prior, phase=phase)
        st["mass"], st["feh"], st["alpha"] = mass, feh, alpha
        st["age"] = age_from_relation(mass, feh, alpha, phase, rel)
        st["logg"] = seismo.surface_gravity(mass, st["radius"].to_numpy())
        st["teff"] = giant_teff(st, prior["teff"])
        st["cfe"], st["nfe"] = dredge_up(mass, phase, prior["first_dredge_up"])
        sep = cl["radius_deg"] * np.sqrt(rng.random(k)) * 3600
        st["ra"], st["dec"] = _offset(rng, np.full(k, cl["ra"]), np.full(k, cl["dec"]), sep)
        st["cluster"] = cl["name"]
        st["kic"] = 0
        st["label_outlier"] = False
        members.append(st)
        cluster_rows.append(
            pd.DataFrame(
                {
                    "cluster": cl["name"],
                    "member_id": [f"{cl['name'].replace(' ', '')}-{j + 1:03d}" for j in range(k)],
                    "RAJ2000": np.round(st["ra"].to_numpy(), 6),
                    "DEJ2000": np.round(st["dec"].to_numpy(), 6),
                    "age_lit": np.round(age, 3),
                    "e_age_lit": np.round(age * np.log(10) * cl["e_log_age"], 3),
                    "feh_lit": cl["feh"],
                    "age_ref": cl["ref"],
                }
            )
        )
    clusters = pd.concat(cluster_rows, ignore_index=True)

    # Spectra: the first n_spec seismic stars, repeats of some of them, and cluster giants.
    observed = stars.iloc[:n_spec].assign(role="seismic", cluster="")
    n_rep = round(cfg["repeat_fraction"] * n_spec)
    repeats = observed.sample(n=n_rep, random_state=int(rng.integers(2**31))).assign(role="repeat")
    spectra = pd.concat(
        [observed, repeats, *[m.assign(role="cluster") for m in members]], ignore_index=True
    )
    n_tot = len(spectra)
    sigma = cfg["astrometric_sigma_arcsec"]
    spectra["ra"], spectra["dec"] = _offset(
        rng,
        spectra["ra"].to_numpy(),
        spectra["dec"].to_numpy(),
        sigma * np.sqrt(rng.chisquare(2, n_tot)),
    )
    spectra["snrg"] = _snr(rng, n_tot, cfg["snr"])
    spectra["rv"] = np.round(rng.normal(-20.0, 35.0, n_tot), 2)
    spectra["av"] = rng.uniform(0.1, 1.0, n_tot)
    spectra["flux_scale"] = 10 ** rng.uniform(2.0, 3.5, n_tot)
    rates = cfg["anomalies"]
    probs = np.array([rates[k] for k in ANOMALY_TYPES])
    if probs.sum() >= 1:
        raise ValueError("anomaly rates must sum to less than 1")
    draw = rng.choice(len(ANOMALY_TYPES) + 1, size=n_tot, p=[*probs, 1 - probs.sum()])
    spectra["anomaly"] = np.asarray([*ANOMALY_TYPES, ""], dtype=object)[draw]

    # Field stars the survey observed that have no seismic label; some sit just outside the radius.
    n_field, n_nb = cfg["n_lamost_only"], cfg["n_neighbours"]
    f_ra, f_dec = _sky_uniform(rng, n_field, field)
    near = rng.choice(n_seis, size=n_nb)
    nb_ra, nb_dec = _offset(
        rng,
        stars["ra"].to_numpy()[near],
        stars["dec"].to_numpy()[near],
        rng.uniform(4.0, 30.0, n_nb),
    )
    fieldstars = pd.DataFrame(
        {
            "ra": np.r_[f_ra, nb_ra],
            "dec": np.r_[f_dec, nb_dec],
            "teff": rng.uniform(4000, 6500, n_field + n_nb),
            "logg": rng.uniform(1.5, 4.6, n_field + n_nb),
            "feh": rng.normal(-0.1, 0.3, n_field + n_nb),
            "snrg": _snr(rng, n_field + n_nb, cfg["snr"]),
            "rv": np.round(rng.normal(-15.0, 40.0, n_field + n_nb), 2),
            "role": ["field"] * n_field + ["neighbour"] * n_nb,
        }
    )
    # Keep uniform field stars away from seismic stars, so that no match needs a missing file.
    seis_pos = SkyCoord(stars["ra"].to_numpy() * u.deg, stars["dec"].to_numpy() * u.deg)
    _, d2d, _ = SkyCoord(f_ra * u.deg, f_dec * u.deg).match_to_catalog_sky(seis_pos)
    keep = np.r_[d2d.arcsec > 10.0, np.ones(n_nb, dtype=bool)]
    fieldstars = fieldstars.loc[keep].reset_index(drop=True)

    n_cat = len(spectra) + len(fieldstars)
    obsids = _unique_ints(rng, n_cat, 100_000_000, 999_999_999)
    spectra["obsid"] = obsids[: len(spectra)]
    fieldstars["obsid"] = obsids[len(spectra) :]
    catalog = _lrs_catalog(rng, pd.concat([spectra, fieldstars], ignore_index=True))
    spectra = spectra.merge(
        catalog[["obsid", "designation", "lmjd", "planid", "spid", "fiberid"]], on="obsid"
    )
    spectra["subclass"] = _subclass(spectra["teff"].to_numpy())

    # Isochrone-like ages (larger errors) for a fraction of the observed seismic stars.
    iso_cfg = cfg["isochrone"]
    iso = spectra[spectra["role"] == "seismic"].sample(
        frac=iso_cfg["fraction"], random_state=int(rng.integers(2**31))
    )
    scatter = iso_cfg["age_rel_err"]
    isochrone = pd.DataFrame(
        {
            "obsid": iso["obsid"].to_numpy(),
            "ra": np.round(iso["ra"].to_numpy(), 6),
            "dec": np.round(iso["dec"].to_numpy(), 6),
            "age_iso": np.round(
                iso["age"].to_numpy() * np.exp(scatter * rng.standard_normal(len(iso))), 3
            ),
        }
    )
    isochrone["e_age_iso"] = np.round(isochrone["age_iso"] * scatter, 3)
    return Survey(
        seismic, spectra.sort_values("obsid", ignore_index=True), catalog, clusters, isochrone
    )


def _lrs_catalog(rng: np.random.Generator, rows: pd.DataFrame) -> pd.DataFrame:
    """LAMOST DR9 LRS stellar catalogue rows (LASP-like parameters with their errors)."""
    n = len(rows)
    snr = rows["snrg"].to_numpy()
    err_scale = np.clip(30.0 / snr, 0.3, 3.0)
    teff_err, logg_err, feh_err, rv_err = (
        40 * err_scale,
        0.06 * err_scale,
        0.04 * err_scale,
        3 * err_scale,
    )
    plan = rng.integers(0, 400, n)
    cat = pd.DataFrame(
        {
            "obsid": rows["obsid"].to_numpy(),
            "designation": designation(rows["ra"].to_numpy(), rows["dec"].to_numpy()),
            "lmjd": 56000 + plan * 7,
            "planid": [f"KP{p:04d}N44{p % 97:02d}M01" for p in plan],
            "spid": rng.integers(1, 17, n),
            "fiberid": rng.integers(1, 251, n),
            "ra_obs": np.round(rows["ra"].to_numpy(), 7),
            "dec_obs": np.round(rows["dec"].to_numpy(), 7),
            "snru": np.round(snr * rng.uniform(0.1, 0.3, n), 2),
            "snrg": snr,
            "snrr": np.round(snr * rng.uniform(1.4, 1.9, n), 2),
            "snri": np.round(snr * rng.uniform(1.8, 2.5, n), 2),
            "snrz": np.round(snr * rng.uniform(1.2, 1.8, n), 2),
            "class": "STAR",
            "ra": np.round(rows["ra"].to_numpy(), 7),
            "dec": np.round(rows["dec"].to_numpy(), 7),
            "teff": np.round(rows["teff"].to_numpy() + teff_err * rng.standard_normal(n), 2),
            "teff_err": np.round(teff_err, 2),
            "logg": np.round(rows["logg"].to_numpy() + logg_err * rng.standard_normal(n), 3),
            "logg_err": np.round(logg_err, 3),
            "feh": np.round(rows["feh"].to_numpy() + feh_err * rng.standard_normal(n), 3),
            "feh_err": np.round(feh_err, 3),
            "rv": np.round(rows["rv"].to_numpy() + rv_err * rng.standard_normal(n), 2),
            "rv_err": np.round(rv_err, 2),
        }
    )
    cat.insert(cat.columns.get_loc("ra"), "subclass", _subclass(rows["teff"].to_numpy()))
    return cat.sort_values("obsid", ignore_index=True)


TRUTH_COLUMNS = ("obsid", "kic", "role", "cluster", "phase", "mass", "age", "feh", "alpha",
                 "radius", "teff", "logg", "cfe", "nfe", "rv", "snrg", "anomaly",
                 "anomaly_lo", "anomaly_hi", "label_outlier")  # fmt: skip


def simulate_survey(
    cfg: Mapping[str, Any], seed: int, out_dir: str | os.PathLike[str], workers: int = 1
) -> dict[str, int]:
    """Write the mock survey under ``out_dir``; return the counts of what was written.

    Files: seismic.csv, lamost_catalog.csv, clusters.csv, isochrone_ages.csv, truth.csv and
    spectra/<obsid>.fits.gz. The same ``cfg`` and ``seed`` give byte-identical files for any
    number of ``workers``.
    """
    out = Path(out_dir)
    spectra_dir = out / "spectra"
    spectra_dir.mkdir(parents=True, exist_ok=True)
    survey = build_survey(cfg, seed)
    model = SpectrumModel(cfg["resolution"], cfg["n_forest_lines"], cfg["line_list_seed"])
    rows = survey.spectra
    chunks = [rows.iloc[i : i + cfg["chunk_size"]] for i in range(0, len(rows), cfg["chunk_size"])]
    results: list[dict[str, float]] = []
    log.info("synthesising %d spectra in %d chunks on %d workers", len(rows), len(chunks), workers)
    bar = tqdm(total=len(rows), desc="mock spectra", unit="spec", mininterval=2.0)
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = [
                pool.submit(synthesize_chunk, c, model, cfg, seed, str(spectra_dir)) for c in chunks
            ]
            for fut, chunk in zip(futures, chunks, strict=True):
                results.extend(fut.result())
                bar.update(len(chunk))
    else:
        for chunk in chunks:
            results.extend(synthesize_chunk(chunk, model, cfg, seed, str(spectra_dir)))
            bar.update(len(chunk))
    bar.close()
    measured = pd.DataFrame(results)
    # The catalogue's S/N are the ones measured on the files, as in LAMOST.
    catalog = survey.catalog.set_index("obsid")
    snr_cols = ["snru", "snrg", "snrr", "snri", "snrz"]
    catalog.loc[measured["obsid"], snr_cols] = measured.set_index("obsid")[snr_cols].to_numpy()
    catalog = catalog.reset_index()

    truth = rows.merge(measured[["obsid", "anomaly_lo", "anomaly_hi"]], on="obsid", how="left")
    truth["snrg"] = truth["obsid"].map(catalog.set_index("obsid")["snrg"])
    truth["anomaly_lo"] = truth["anomaly_lo"].round(2)
    truth["anomaly_hi"] = truth["anomaly_hi"].round(2)
    truth = truth.loc[:, list(TRUTH_COLUMNS)]
    float_cols = ["mass", "age", "feh", "alpha", "radius", "teff", "logg", "cfe", "nfe"]
    truth[float_cols] = truth[float_cols].round(5)

    write_csv(survey.seismic.sort_values("KIC"), out / "seismic.csv")
    write_catalog(catalog, out / "lamost_catalog.csv")
    write_csv(survey.clusters, out / "clusters.csv")
    write_csv(survey.isochrone.sort_values("obsid"), out / "isochrone_ages.csv")
    write_csv(truth, out / "truth.csv")
    counts = {
        "seismic_stars": len(survey.seismic),
        "catalog_rows": len(catalog),
        "spectra": len(rows),
        "repeat_spectra": int((rows["role"] == "repeat").sum()),
        "cluster_members": len(survey.clusters),
        "anomalous_spectra": int((rows["anomaly"] != "").sum()),
        "label_outliers": int(survey.spectra["label_outlier"].sum()),
    }
    log.info("mock survey written to %s: %s", out, counts)
    return counts


# --------------------------------------------------------------------------- field survey
#: Defaults of the field survey (config key ``simulate.field_survey`` overrides any of them).
FIELD_SURVEY_DEFAULTS: dict[str, Any] = {
    "n_spectra": 3000,
    # Fractions of stars a survey has and the training set lacks (the rest are giants "in").
    "ood_rates": {"dwarf": 0.05, "subgiant": 0.04, "hot": 0.03, "cool": 0.03,
                  "metal_poor": 0.04, "young": 0.03, "old": 0.03, "low_snr": 0.04},
    # Fraction of in-domain giants drawn from the shifted population below.
    "shifted_fraction": 0.0,
    "shift": {"feh_offset": -0.35, "mass_scale": 1.0,
              "snr": {"median": 30.0, "sigma_dex": 0.3, "min": 8.0, "max": 400.0}},
    "dwarf": {"teff": [4500.0, 6300.0], "logg": [4.0, 4.6], "mass": [0.7, 1.2]},
    "subgiant": {"teff": [4900.0, 5600.0], "logg": [3.7, 4.0], "mass": [0.9, 1.6]},
    "hot_teff": [5500.0, 6300.0],
    "cool_teff": [3700.0, 4200.0],
    "metal_poor_feh": [-2.2, -1.1],
    "young_age_gyr": [0.05, 0.25],
    "old_age_gyr": [16.0, 25.0],
    "low_snr": [5.0, 7.9],
}  # fmt: skip
OOD_KINDS = ("dwarf", "subgiant", "hot", "cool", "metal_poor", "young", "old", "low_snr")
_STREAM_FIELD, _STREAM_FIELD_POPULATION = 5, 6
FIELD_TRUTH_COLUMNS = ("obsid", "kic", "role", "domain", "population", "phase", "mass", "age",
                       "feh", "alpha", "radius", "teff", "logg", "cfe", "nfe", "rv", "snrg",
                       "anomaly", "anomaly_lo", "anomaly_hi")  # fmt: skip


def field_survey_settings(cfg: Mapping[str, Any], field: Mapping[str, Any] | None = None) -> dict:
    """FIELD_SURVEY_DEFAULTS updated by ``cfg['field_survey']`` and then by ``field``."""
    out = copy.deepcopy(FIELD_SURVEY_DEFAULTS)
    for extra in (cfg.get("field_survey") or {}, field or {}):
        for key, value in extra.items():
            if isinstance(value, Mapping) and isinstance(out.get(key), dict):
                out[key] = {**out[key], **copy.deepcopy(dict(value))}
            else:
                out[key] = copy.deepcopy(value)
    return out


def _shifted_prior(prior: Mapping[str, Any], feh_offset: float, mass_scale: float) -> dict:
    """The training prior with its [Fe/H] means moved and its masses scaled."""
    out = copy.deepcopy(dict(prior))
    for key in ("rgb", "rc"):
        mean = list(out[key]["mean"])
        mean[0] += float(np.log10(mass_scale))
        mean[1] += feh_offset
        out[key] = {**out[key], "mean": mean}
    return out


def _refresh(stars: pd.DataFrame, prior: Mapping[str, Any], teff: bool = True) -> None:
    """Recompute log g, Teff (no scatter) and the dredge-up after a change of mass or [Fe/H]."""
    stars["logg"] = seismo.surface_gravity(stars["mass"].to_numpy(), stars["radius"].to_numpy())
    if teff:
        stars["teff"] = giant_teff(stars, prior["teff"])
    stars["cfe"], stars["nfe"] = dredge_up(stars["mass"], stars["phase"], prior["first_dredge_up"])


def _main_sequence_like(
    rng: np.random.Generator, n: int, box: Mapping[str, Sequence[float]]
) -> pd.DataFrame:
    """Dwarfs or subgiants: Teff, log g and mass uniform in ``box``; radius from log g."""
    mass = rng.uniform(*box["mass"], n)
    logg = rng.uniform(*box["logg"], n)
    return pd.DataFrame(
        {
            "phase": np.zeros(n, dtype=int),
            "mass": mass,
            "feh": np.clip(rng.normal(-0.1, 0.25, n), -1.0, 0.5),
            "alpha": np.zeros(n),
            "radius": np.sqrt(mass / 10 ** (logg - seismo.LOGG_SUN)),
            "age": rng.uniform(1.0, 10.0, n),
            "logg": logg,
            "teff": rng.uniform(*box["teff"], n),
            "cfe": np.zeros(n),
            "nfe": np.zeros(n),
        }
    )


def draw_field_population(
    cfg: Mapping[str, Any], seed: int, field: Mapping[str, Any]
) -> pd.DataFrame:
    """True parameters, ``domain`` and ``population`` of every star of the field survey."""
    rng = np.random.default_rng([seed, _STREAM_FIELD_POPULATION])
    prior, n = cfg["prior"], int(field["n_spectra"])
    rates = field["ood_rates"]
    unknown = set(rates) - set(OOD_KINDS)
    if unknown:
        raise ValueError(f"unknown out-of-domain kind(s) {sorted(unknown)}; known: {OOD_KINDS}")
    probs = np.array([rates.get(k, 0.0) for k in OOD_KINDS], dtype=float)
    if np.any(probs < 0) or probs.sum() >= 1:
        raise ValueError("out-of-domain rates must be >= 0 and sum to less than 1")
    kinds = np.asarray([*OOD_KINDS, "in"], dtype=object)
    domain = kinds[rng.choice(len(kinds), size=n, p=[*probs, 1 - probs.sum()])]
    shifted = (domain == "in") & (rng.random(n) < field["shifted_fraction"])
    sh = field["shift"]
    base = draw_population(rng, n, prior)
    moved = draw_population(rng, n, _shifted_prior(prior, sh["feh_offset"], sh["mass_scale"]))
    stars = base.copy()
    stars.loc[shifted] = moved.loc[shifted]
    for kind, box in (("dwarf", field["dwarf"]), ("subgiant", field["subgiant"])):
        sel = domain == kind
        ms = _main_sequence_like(rng, int(sel.sum()), box)
        stars.loc[sel, list(ms.columns)] = ms.to_numpy()
    for kind, key in (("hot", "hot_teff"), ("cool", "cool_teff")):
        sel = domain == kind
        stars.loc[sel, "teff"] = rng.uniform(*field[key], int(sel.sum()))
    sel = domain == "metal_poor"
    if sel.any():
        mp = stars.loc[sel].copy()
        mp["feh"] = rng.uniform(*field["metal_poor_feh"], int(sel.sum()))
        mp["age"] = age_from_relation(mp["mass"], mp["feh"], mp["alpha"], mp["phase"],
                                      prior["age_relation"])  # fmt: skip
        _refresh(mp, prior)
        stars.loc[sel] = mp
    for kind, key in (("young", "young_age_gyr"), ("old", "old_age_gyr")):
        sel = domain == kind
        if sel.any():
            st = stars.loc[sel].copy()
            st["age"] = 10 ** rng.uniform(*np.log10(field[key]), int(sel.sum()))
            st["mass"] = [
                mass_from_age(a, f, al, p, prior["age_relation"])
                for a, f, al, p in zip(st["age"], st["feh"], st["alpha"], st["phase"], strict=True)
            ]
            _refresh(st, prior)
            stars.loc[sel] = st
    stars["phase"] = stars["phase"].astype(int)
    stars["domain"] = domain
    stars["population"] = np.where(shifted, "shifted", "base")
    return stars


def build_field_survey(
    cfg: Mapping[str, Any], seed: int, field: Mapping[str, Any] | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The field survey as tables: (spectra rows to synthesise with true labels, catalogue)."""
    settings = field_survey_settings(cfg, field)
    stars = draw_field_population(cfg, seed, settings)
    rng = np.random.default_rng([seed, _STREAM_FIELD])
    n = len(stars)
    stars["ra"], stars["dec"] = _sky_uniform(rng, n, cfg["field"])
    snr = _snr(rng, n, cfg["snr"])
    shifted_snr = _snr(rng, n, settings["shift"]["snr"])
    low = np.round(rng.uniform(*settings["low_snr"], n), 2)
    stars["snrg"] = np.where(
        stars["domain"] == "low_snr",
        low,
        np.where(stars["population"] == "shifted", shifted_snr, snr),
    )
    stars["rv"] = np.round(rng.normal(-20.0, 35.0, n), 2)
    stars["av"] = rng.uniform(0.1, 1.0, n)
    stars["flux_scale"] = 10 ** rng.uniform(2.0, 3.5, n)
    probs = np.array([cfg["anomalies"][k] for k in ANOMALY_TYPES])
    draw = rng.choice(len(ANOMALY_TYPES) + 1, size=n, p=[*probs, 1 - probs.sum()])
    anomaly = np.asarray([*ANOMALY_TYPES, ""], dtype=object)[draw]
    stars["anomaly"] = np.where(stars["domain"] == "in", anomaly, "")
    stars["kic"] = 0
    stars["role"] = "field"
    stars["cluster"] = ""
    stars["obsid"] = _unique_ints(rng, n, 100_000_000, 999_999_999)
    catalog = _lrs_catalog(rng, stars)
    stars = stars.merge(
        catalog[["obsid", "designation", "lmjd", "planid", "spid", "fiberid"]], on="obsid"
    )
    stars["subclass"] = _subclass(stars["teff"].to_numpy())
    return stars.sort_values("obsid", ignore_index=True), catalog


def simulate_field_survey(
    cfg: Mapping[str, Any],
    seed: int,
    out_dir: str | os.PathLike[str],
    workers: int = 1,
    field: Mapping[str, Any] | None = None,
) -> dict[str, int]:
    """Write a mock field survey: giants like the training set plus stars it lacks.

    ``cfg`` is the ``simulate`` config (prior, snr, anomalies, spectra settings); the field
    settings are `field_survey_settings` (defaults, ``cfg['field_survey']``, ``field``).
    Writes lamost_catalog.csv, spectra/<obsid>.fits.gz and truth.csv, whose ``domain`` says
    why a star is out of the training domain ("in" when it is not) and ``population``
    whether it was drawn from the shifted population. Own RNG streams: `simulate_survey`'s
    output does not change. Byte-identical for any ``workers``.
    """
    out = Path(out_dir)
    spectra_dir = out / "spectra"
    spectra_dir.mkdir(parents=True, exist_ok=True)
    rows, catalog = build_field_survey(cfg, seed, field)
    model = SpectrumModel(cfg["resolution"], cfg["n_forest_lines"], cfg["line_list_seed"])
    size = int(cfg["chunk_size"])
    chunks = [rows.iloc[i : i + size] for i in range(0, len(rows), size)]
    results: list[dict[str, float]] = []
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = [
                pool.submit(synthesize_chunk, c, model, cfg, seed, str(spectra_dir)) for c in chunks
            ]
            for fut in futures:
                results.extend(fut.result())
    else:
        for chunk in chunks:
            results.extend(synthesize_chunk(chunk, model, cfg, seed, str(spectra_dir)))
    measured = pd.DataFrame(results)
    catalog = catalog.set_index("obsid")
    snr_cols = ["snru", "snrg", "snrr", "snri", "snrz"]
    catalog.loc[measured["obsid"], snr_cols] = measured.set_index("obsid")[snr_cols].to_numpy()
    catalog = catalog.reset_index()
    truth = rows.merge(measured[["obsid", "anomaly_lo", "anomaly_hi"]], on="obsid", how="left")
    truth["snrg"] = truth["obsid"].map(catalog.set_index("obsid")["snrg"])
    truth[["anomaly_lo", "anomaly_hi"]] = truth[["anomaly_lo", "anomaly_hi"]].round(2)
    truth = truth.loc[:, list(FIELD_TRUTH_COLUMNS)]
    float_cols = ["mass", "age", "feh", "alpha", "radius", "teff", "logg", "cfe", "nfe"]
    truth[float_cols] = truth[float_cols].astype(float).round(5)
    write_catalog(catalog, out / "lamost_catalog.csv")
    write_csv(truth, out / "truth.csv")
    counts = {"spectra": len(rows), "in_domain": int((rows["domain"] == "in").sum()),
              "shifted": int((rows["population"] == "shifted").sum()),
              "anomalous_spectra": int((rows["anomaly"] != "").sum())}  # fmt: skip
    for kind in OOD_KINDS:
        counts[kind] = int((rows["domain"] == kind).sum())
    log.info("mock field survey written to %s: %s", out, counts)
    return counts
