"""Where the survey comes from: the mock survey, VizieR, the LAMOST archive, HTTP download."""
