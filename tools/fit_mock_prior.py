"""Fit the mock survey's population prior to a real Kepler red-giant table (run once, by hand).

Usage: python tools/fit_mock_prior.py <Miglio2021 VizieR FITS export>

Prints, per evolutionary state, the mean and covariance of (log10 M, [Fe/H], [alpha/M],
log10 R) and the least-squares mass-metallicity-age relation; the numbers go into
config/config.yaml (simulate.prior). The pipeline never reads the real table at run time.
"""

from __future__ import annotations

import sys

import numpy as np
from astropy.table import Table


def main(path: str) -> None:
    t = Table.read(path, hdu=1).to_pandas()
    t = t.dropna(subset=["Mass", "__Fe_H_", "__alpha_M_", "Rad"])
    print(f"rc_fraction: {(t['evstate'] == 2).mean():.3f}")
    for state, name in ((1, "rgb"), (2, "rc")):
        d = t[t["evstate"] == state]
        x = np.c_[np.log10(d["Mass"]), d["__Fe_H_"], d["__alpha_M_"], np.log10(d["Rad"])]
        print(f"{name}: n={len(d)} mean={x.mean(0).round(4).tolist()}")
        print(f"  cov={np.cov(x.T).round(5).tolist()}")
    d = t.dropna(subset=["Age"])
    design = np.c_[
        np.ones(len(d)), np.log10(d["Mass"]), d["__Fe_H_"], d["__alpha_M_"], d["evstate"] == 2
    ]
    coef, *_ = np.linalg.lstsq(design, np.log10(d["Age"]), rcond=None)
    resid = np.log10(d["Age"]) - design @ coef
    names = ("intercept", "log_mass", "feh", "alpha", "rc")
    print("age_relation:", dict(zip(names, coef.round(4).tolist(), strict=True)))
    print(f"  residual scatter: {resid.std():.4f} dex")


if __name__ == "__main__":
    main(sys.argv[1])
