"""From catalogues and spectra to features: cross-match, spectra, anomalies, sample, PCA."""
