"""Asteroseismic scaling relations for solar-like oscillators (Kjeldsen & Bedding 1995 form).

numax ∝ g Teff^-1/2 and Dnu ∝ sqrt(mean density) give the mass M = (numax)^3 (Dnu)^-4 Teff^1.5
in solar units. The solar reference values are those of the Kepler red-giant catalogues.
"""

from __future__ import annotations

import numpy as np

NUMAX_SUN = 3090.0  # µHz (Huber et al. 2011)
DNU_SUN = 135.1  # µHz (Huber et al. 2011)
TEFF_SUN = 5777.0  # K
LOGG_SUN = 4.438  # cgs


def surface_gravity(mass: np.ndarray, radius: np.ndarray) -> np.ndarray:
    """log10 g (cgs) from mass and radius in solar units."""
    return LOGG_SUN + np.log10(mass) - 2.0 * np.log10(radius)


def numax(mass: np.ndarray, radius: np.ndarray, teff: np.ndarray) -> np.ndarray:
    """Frequency of maximum oscillation power (µHz)."""
    return NUMAX_SUN * mass / radius**2 * (teff / TEFF_SUN) ** -0.5


def dnu(mass: np.ndarray, radius: np.ndarray) -> np.ndarray:
    """Large frequency separation (µHz)."""
    return DNU_SUN * np.sqrt(mass / radius**3)


def scaling_mass(numax_: np.ndarray, dnu_: np.ndarray, teff: np.ndarray) -> np.ndarray:
    """Mass (Msun) from numax, Dnu and Teff."""
    return (numax_ / NUMAX_SUN) ** 3 * (dnu_ / DNU_SUN) ** -4 * (teff / TEFF_SUN) ** 1.5


def scaling_mass_rel_error(
    rel_numax: np.ndarray, rel_dnu: np.ndarray, rel_teff: np.ndarray
) -> np.ndarray:
    """Relative mass error from independent relative errors on numax, Dnu and Teff."""
    return np.sqrt((3 * rel_numax) ** 2 + (4 * rel_dnu) ** 2 + (1.5 * rel_teff) ** 2)
