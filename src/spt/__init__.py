"""SPT: a reproducible pipeline for red-giant ages and masses from LAMOST low-resolution spectra."""

__version__ = "0.1.0"
