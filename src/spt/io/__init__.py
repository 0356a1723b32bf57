"""Readers and writers for the survey file formats (LAMOST FITS and CSV, VizieR tables)."""
