"""Scores and checks of predictions: metrics, calibration, open clusters, isochrone ages."""
