"""The spectra manifest: written, read, looked up, and built from a user's folder of FITS files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from spt.io.lamost import spectrum_path, write_spectrum
from spt.io.manifest import (
    ManifestError,
    fits_folder_manifest,
    folder_manifest,
    paths_for,
    read_manifest,
    write_manifest,
)
from spt.prep.spectra import common_grid, preprocess_arrays
from tests.support.spectra import giant, write_dr1_spectrum

CATALOG = pd.DataFrame(
    {
        "obsid": [77001, 77002, 901],
        "lmjd": [55977, 55977, 58000],
        "planid": ["F5597703", "F5597703", "P1"],
        "spid": [4, 4, 1],
        "fiberid": [117, 118, 1],
    }
)


def test_write_read_and_look_up(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    write_manifest([30, 10, 20], ["c.fits", "a.fits", "b.fits"], path)
    frame = read_manifest(path)
    assert frame["obsid"].tolist() == [10, 20, 30]  # sorted by obsid
    assert paths_for(frame, [20, 99, 10]) == ["b.fits", "", "a.fits"]  # 99: not listed
    failed = frame.assign(status=["downloaded", "failed", "skipped"])
    assert paths_for(failed, [10, 20, 30]) == ["a.fits", "", "c.fits"]  # failed: no file
    with pytest.raises(ManifestError, match="listed twice"):
        write_manifest([1, 1], ["a", "b"], tmp_path / "d.csv")
    (tmp_path / "bad.csv").write_text("obsid,file\n1,a\n")
    with pytest.raises(
        ManifestError, match=r"bad\.csv: spectra manifest lacks column\(s\) \['path'\]"
    ):
        read_manifest(tmp_path / "bad.csv")


def test_folder_manifest_lists_only_our_obsid_named_files(tmp_path: Path) -> None:
    for name in ("12.fits.gz", "3.fits", "notes.txt", "spec-1.fits"):
        (tmp_path / name).write_bytes(b"x")
    frame = folder_manifest(tmp_path)
    assert frame["obsid"].tolist() == [3, 12]


def test_dr1_files_flow_through_preprocessing_with_their_catalogue_obsids(tmp_path: Path) -> None:
    """A DR1 file (no OBSID header) named misleadingly, a DR9 file, and a broken one."""
    folder = tmp_path / "mine"
    folder.mkdir()
    write_dr1_spectrum(str(folder / "77002.fits"))  # the header says fibre 117: obsid 77001
    spec = giant(1)
    spec.obsid = 901
    write_spectrum(spectrum_path(folder, 901), spec)
    (folder / "5.fits").write_bytes(b"SIMPLE  = garbage")
    manifest, problems = fits_folder_manifest(folder, CATALOG)
    assert manifest["obsid"].tolist() == [77001, 901]
    assert manifest["path"].tolist() == [str(folder / "77002.fits"), str(folder / "901.fits.gz")]
    assert problems["path"].tolist() == [str(folder / "5.fits")]
    report, arrays = preprocess_arrays(manifest["path"], manifest["obsid"], common_grid())
    assert report["obsid"].tolist() == [77001, 901] and report["ok"].all()
    assert np.isfinite(arrays["flux"]).all(axis=1).tolist() == [True, True]
    without, problems = fits_folder_manifest(folder)  # no catalogue: the DR1 file is named
    assert without["obsid"].tolist() == [901]
    named = dict(zip(problems["path"], problems["problem"], strict=True))
    assert "77002.fits: no OBSID header" in named[str(folder / "77002.fits")]
