"""spt.io: the survivors of mutation testing (benchmarks/mutation.py), each killed by a number.

Error messages that list at most five offenders, the columns of the manifests a user's folder
gives (no stray index column), two files claiming one obsid, a predictions error whose shape
check looks at the errors too, the seismic phase codes, and vector columns of a FITS table.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.table import Table

from spt.io.lamost import LamostFormatError, lamost_columns, spectrum_path, write_spectrum
from spt.io.manifest import ManifestError, fits_folder_manifest, folder_manifest, write_manifest
from spt.io.predictions import prediction_frame
from spt.io.seismic import RED_CLUMP, RGB, SeismicFormatError, read_seismic
from spt.io.tables import read_table
from tests.support.spectra import giant


def test_catalogue_rows_without_obsid_are_named_one_based_five_at_most() -> None:
    frame = pd.DataFrame(
        {"obsid": [1, None, "x", None, None, None, None, 8], "ra": 1.0, "dec": 2.0}
    )
    with pytest.raises(LamostFormatError) as info:
        lamost_columns(frame, "cat.csv")
    assert str(info.value) == (
        "cat.csv: obsid missing or not a number in data row(s) [2, 3, 4, 5, 6]"
    )


def test_duplicated_ids_are_listed_five_at_most(tmp_path: Path) -> None:
    obsids = [1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6]
    with pytest.raises(ManifestError, match=r"e\.g\. \[1, 2, 3, 4, 5\]$"):
        write_manifest(obsids, [f"{i}.fits" for i in range(12)], tmp_path / "m.csv")
    header = "KIC,RAJ2000,DEJ2000,Mass,e_Mass,Age,e_Age\n"
    rows = "".join(f"{k},1,2,1,0.1,5,1\n" for k in obsids)
    (tmp_path / "seismic.csv").write_text(header + rows)
    with pytest.raises(SeismicFormatError, match=r"e\.g\. \[1, 2, 3, 4, 5\]$"):
        read_seismic(tmp_path / "seismic.csv")


def test_folder_manifest_has_only_obsid_and_path(tmp_path: Path) -> None:
    for name in ("12.fits.gz", "3.fit"):
        (tmp_path / name).write_bytes(b"x")
    frame = folder_manifest(tmp_path)
    assert list(frame.columns) == ["obsid", "path"]
    assert frame.to_dict("list") == {
        "obsid": [3, 12],
        "path": [str(tmp_path / "3.fit"), str(tmp_path / "12.fits.gz")],
    }


def test_two_files_with_one_obsid_are_both_problems(tmp_path: Path) -> None:
    for name, obsid in (("a.fits.gz", 501), ("b.fits.gz", 501), ("c.fits.gz", 502)):
        spec = giant(1)
        spec.obsid = obsid
        write_spectrum(tmp_path / name, spec)
    (tmp_path / "0.fits").write_bytes(b"SIMPLE  = garbage")
    manifest, problems = fits_folder_manifest(tmp_path)
    assert list(manifest.columns) == ["obsid", "path"]
    assert manifest.to_dict("list") == {"obsid": [502], "path": [str(tmp_path / "c.fits.gz")]}
    assert list(problems.columns) == ["path", "problem"]
    names = ("0.fits", "a.fits.gz", "b.fits.gz")
    assert problems["path"].tolist() == [str(tmp_path / n) for n in names]
    twice = f"obsid 501 is also the obsid of another file in {tmp_path}"
    assert problems["problem"].tolist()[1:] == [twice, twice]
    assert problems.index.tolist() == [0, 1, 2]
    assert spectrum_path(tmp_path, 501) == tmp_path / "501.fits.gz"


def test_prediction_errors_of_the_wrong_shape_raise() -> None:
    split = {"y": np.ones((3, 2)), "y_err": np.ones((3, 2)), "obsid": np.arange(3),
             "kic": np.arange(3)}  # fmt: skip
    with pytest.raises(ValueError, match="do not match labels"):
        prediction_frame(split, np.ones((3, 2)), std=np.ones((3, 1)))
    frame = prediction_frame(split, np.ones((3, 2)), std=np.full((3, 2), 0.5))
    assert frame["age_err"].tolist() == [0.5, 0.5, 0.5]


def test_seismic_phase_codes_are_the_catalogues() -> None:
    # Yu et al. (2018) and the mock survey: Phase 1 = RGB, 2 = red clump (0 unknown)
    assert (RGB, RED_CLUMP) == (1, 2)


def test_vector_columns_of_a_fits_table_are_dropped(tmp_path: Path) -> None:
    table = Table({"obsid": [1, 2], "snrg": [10.5, 20.0], "flux": np.ones((2, 3))})
    path = tmp_path / "cat.fits"
    table.write(path)
    frame, kind = read_table(path)
    assert kind == "fits" and list(frame.columns) == ["obsid", "snrg"]
    assert frame["snrg"].tolist() == [10.5, 20.0]
