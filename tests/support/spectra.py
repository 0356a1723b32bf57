"""Constructed LAMOST-like red-giant spectra for unit tests (no simulator, no files)."""

from __future__ import annotations

import numpy as np

from spt.io.lamost import LamostSpectrum

# Strong features of K giants at LAMOST's resolution: vacuum centre (A), depth, intrinsic sigma.
STRONG = (
    (3934.8, 0.80, 6.0), (3969.6, 0.75, 5.0), (4102.9, 0.25, 2.0), (4227.9, 0.45, 1.2),
    (4300.0, 0.30, 8.0), (4341.7, 0.30, 2.0), (4862.7, 0.35, 2.0), (5168.8, 0.35, 1.0),
    (5174.1, 0.40, 1.0), (5185.0, 0.45, 1.1), (5271.4, 0.30, 1.0), (5891.6, 0.50, 0.8),
    (5897.6, 0.45, 0.8), (6564.6, 0.45, 2.5), (7605.0, 0.50, 12.0), (8500.4, 0.40, 2.0),
    (8544.4, 0.55, 2.4), (8664.5, 0.50, 2.2),
)  # fmt: skip


_FOREST = np.random.default_rng(12345)


FOREST = tuple(
    (float(c), float(d), 0.2)
    for c, d in zip(
        np.geomspace(3750, 9050, 260) * (1 + 1e-3 * _FOREST.standard_normal(260)),
        0.25 * _FOREST.random(260) ** 3 + 0.02,
        strict=True,
    )
)


def giant(
    seed: int = 0,
    snr: float = 50.0,
    teff: float = 4600.0,
    n: int = 3900,
    coeff0: float = 3.5682,
    masked: float = 0.005,
) -> LamostSpectrum:
    """A LAMOST-like red-giant spectrum: reddened Planck continuum, lines at R~1800, noise."""
    rng = np.random.default_rng(seed)
    wave = 10 ** (coeff0 + 1e-4 * np.arange(n))
    x = 1.4388e8 / (wave * teff)
    cont = wave**-5 / np.expm1(x) * 10 ** (-0.4 * 0.5 * (wave / 5500) ** -1.3)
    cont = 500 * cont / np.median(cont)
    depth = np.zeros(n)
    for centre, d, width in (*STRONG, *FOREST):
        sigma = np.hypot(width, centre / 1800 / 2.3548)
        depth += d * np.exp(-0.5 * ((wave - centre) / sigma) ** 2)
    model = cont * np.clip(1 - depth, 0.05, None)
    efficiency = 0.25 + 0.75 * np.exp(-0.5 * ((np.log10(wave) - np.log10(6200)) / 0.11) ** 2)
    counts = model * efficiency
    g = (wave > 4000) & (wave < 5500)
    cg = np.median(counts[g])
    sigma_counts = cg / snr * np.sqrt((counts / cg + 0.3) / 1.3)
    sigma = sigma_counts * model / counts
    flux = (model + sigma * rng.standard_normal(n)).astype(np.float32)
    ivar = (1 / sigma**2).astype(np.float32)
    andmask = np.zeros(n, dtype=np.int32)
    bad = rng.random(n) < masked
    andmask[bad] = 1 << 23
    ivar[bad] = 0
    return LamostSpectrum(seed, wave, flux, ivar, andmask, andmask.copy(), {"OBSID": seed})


#: A DR1 spectrum's identity: the keys its obsid is found by in the catalogue.
DR1_IDENTITY = {"LMJD": 55977, "PLANID": "F5597703", "SPID": 4, "FIBERID": 117}


def write_dr1_spectrum(
    path: str,
    n: int = 3909,
    *,
    exten0: str | None = "Flux, Inverse, Sky, Andmask, Ormask",
    identity: dict[str, object] | None = None,
) -> np.ndarray:
    """Write a file in LAMOST DR1's layout: a (5, N) primary image whose third row is NOT
    wavelength (a sky spectrum here), wavelengths only in COEFF0/COEFF1, no OBSID or DATA_V,
    S/N as SN_U ... SN_Z (99.00 for "no value"). Returns the flux row."""
    from astropy.io import fits

    rng = np.random.default_rng(7)
    flux = (800 + 20 * rng.standard_normal(n)).astype(np.float32)
    rows = np.vstack(
        [
            flux,
            np.full(n, 2.5e-3, np.float32),
            (50 + rng.random(n)).astype(np.float32),  # sky, not wavelength
            np.zeros(n, np.float32),
            np.zeros(n, np.float32),
        ]
    )
    header = fits.Header()
    for key, value in {**DR1_IDENTITY, **(identity or {})}.items():
        header[key] = value
    header["RA"], header["DEC"] = 132.846, 11.817
    header["COEFF0"], header["COEFF1"] = 3.5682, 1e-4
    header["SN_U"], header["SN_G"], header["SN_R"] = 99.0, 23.4, 31.5
    header["SN_I"], header["SN_Z"] = 35.1, 99.0
    if exten0 is not None:
        header["EXTEN0"] = exten0
    fits.PrimaryHDU(rows, header=header).writeto(path)
    return flux
