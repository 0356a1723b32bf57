"""spt.io: the survivors of mutation testing (benchmarks/mutation.py), each killed by a number.

Error messages that list at most five offenders, the columns of the manifests a user's folder
gives (no stray index column), two files claiming one obsid, a predictions error whose shape
check looks at the errors too, the seismic phase codes, and vector columns of a FITS table.
"""

from __future__ import annotations

import gzip
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.table import Table

from spt.io.files import write_bytes
from spt.io.lamost import (
    LamostFormatError,
    lamost_columns,
    spectrum_path,
    spectrum_to_bytes,
    write_spectrum,
)
from spt.io.manifest import ManifestError, fits_folder_manifest, folder_manifest, write_manifest
from spt.io.predictions import prediction_frame
from spt.io.seismic import RED_CLUMP, RGB, SeismicFormatError, read_seismic
from spt.io.tables import read_table, sniff
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


# ---------------------------------------------------------------- files and tables
def test_atomic_writes_make_every_missing_folder(tmp_path: Path) -> None:
    """Bug: only the last folder made (a nested output path fails)."""
    write_bytes(tmp_path / "a" / "b" / "c.txt", b"x")
    assert (tmp_path / "a" / "b" / "c.txt").read_bytes() == b"x"


def test_gzip_level_is_six(tmp_path: Path) -> None:
    """Bug: another compression level: every published .gz file (and its checksum) changes."""
    data = spectrum_to_bytes(giant(1, n=500), "B")
    write_bytes(tmp_path / "s.fits.gz", data)
    assert (tmp_path / "s.fits.gz").read_bytes() == gzip.compress(data, 6, mtime=0)
    assert gzip.compress(data, 6, mtime=0) != gzip.compress(data, 7, mtime=0)


def test_the_first_2048_bytes_tell_a_votable() -> None:
    """Bug: the sniffed window moved: where the XML declaration starts decides the format."""
    assert sniff(b" " * 2043 + b"<?xml version='1.0'?>") == "votable"
    assert sniff(b" " * 2044 + b"<?xml version='1.0'?>") == "csv"


VOTABLE = b"""<?xml version="1.0"?>
<VOTABLE version="1.3">
<RESOURCE><TABLE>
<FIELD name="ra" ID="col1" datatype="double"/>
<FIELD name="n" ID="col2" datatype="int"/>
<FIELD name="k" ID="col3" datatype="long"/>
<DATA><TABLEDATA>
<TR><TD>1.5</TD><TD>3</TD><TD>7</TD></TR>
<TR><TD>2.5</TD><TD></TD><TD>8</TD></TR>
</TABLEDATA></DATA></TABLE></RESOURCE></VOTABLE>"""


def test_votable_columns_by_name_masked_ints_as_nan_no_warnings(tmp_path: Path) -> None:
    """Bugs: columns named by their IDs, a masked integer cell read as a number, numbers
    turned to text; and no warning for a VOTable without a namespace."""
    (tmp_path / "t.xml").write_bytes(VOTABLE)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        frame, kind = read_table(tmp_path / "t.xml")
    assert kind == "votable" and list(frame.columns) == ["ra", "n", "k"]
    assert frame["ra"].dtype == np.float64 and frame["k"].dtype == np.int64
    assert frame["n"].dtype == np.float64 and frame["n"][0] == 3.0 and np.isnan(frame["n"][1])
    assert frame["k"].tolist() == [7, 8]


def test_fits_table_numbers_stay_numbers(tmp_path: Path) -> None:
    """Bugs: numeric columns read as text, integers made floats, a masked integer kept."""
    table = Table({"x": [1.5, 2.5], "i": np.array([1, 2], np.int32), "s": ["a ", "b"]})
    masked = Table({"m": np.ma.array([4, 5], mask=[False, True])}, masked=True)
    table.write(tmp_path / "t.fits")
    masked.write(tmp_path / "m.fits")
    frame, _ = read_table(tmp_path / "t.fits")
    assert frame["x"].dtype == np.float64 and frame["i"].dtype == np.int32
    assert frame["s"].tolist() == ["a", "b"]
    frame, _ = read_table(tmp_path / "m.fits")
    assert frame["m"][0] == 4.0 and np.isnan(frame["m"][1])


def test_a_large_csv_column_has_one_type(tmp_path: Path) -> None:
    """Bug: the CSV parsed in chunks (low_memory): a column of numbers with a text value late
    in a large file comes back half int, half str."""
    text = "a,b\n" + "".join(f"{i},1\n" for i in range(270_000)) + "x,1\n"
    (tmp_path / "big.csv").write_text(text)
    frame, _ = read_table(tmp_path / "big.csv")
    assert set(frame["a"].map(type)) == {str}
