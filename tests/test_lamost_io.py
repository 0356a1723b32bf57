"""LAMOST LRS FITS and catalogue I/O: both layouts, real files, and every kind of bad file."""

from __future__ import annotations

import gzip
import io

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits

from spt.io.lamost import (
    LamostFormatError,
    LamostSpectrum,
    read_catalog,
    read_spectrum,
    resolve_obsid,
    spectrum_to_bytes,
    write_spectrum,
)
from tests.conftest import SHARED_DATA, shared_file
from tests.support.spectra import write_dr1_spectrum


def make_spectrum(n: int = 3900, obsid: int = 123456789) -> LamostSpectrum:
    rng = np.random.default_rng(0)
    wave = 10 ** (3.5682 + 1e-4 * np.arange(n))
    flux = (1000 + 50 * rng.standard_normal(n)).astype(np.float32)
    ivar = np.full(n, 4e-4, dtype=np.float32)
    andmask = np.zeros(n, dtype=np.int32)
    andmask[100:105] = 8
    header = {"OBSID": obsid, "RA": 290.1, "DEC": 44.2, "SNRG": 55.5, "Z": -1e-4}
    return LamostSpectrum(obsid, wave, flux, ivar, andmask, andmask.copy(), header)


@pytest.mark.parametrize("layout", ["A", "B"])
@pytest.mark.parametrize("suffix", [".fits", ".fits.gz"])
def test_round_trip(tmp_path, layout, suffix):
    spec = make_spectrum()
    path = tmp_path / f"s{suffix}"
    write_spectrum(path, spec, layout=layout)
    back = read_spectrum(path)
    assert back.obsid == spec.obsid
    np.testing.assert_array_equal(back.flux, spec.flux)
    np.testing.assert_array_equal(back.ivar, spec.ivar)
    np.testing.assert_array_equal(back.andmask, spec.andmask)
    np.testing.assert_allclose(back.wavelength, spec.wavelength, rtol=1e-6)
    assert back.header["SNRG"] == 55.5
    assert back.good.sum() == spec.n_pixels - 5


def test_layouts_have_the_real_structure(tmp_path):
    spec = make_spectrum(n=3870)
    with fits.open(io.BytesIO(spectrum_to_bytes(spec, "B"))) as hdul:
        assert hdul[0].data is None
        assert hdul[1].name == "COADD"
        assert hdul[1].columns.names == [
            "FLUX", "IVAR", "WAVELENGTH", "ANDMASK", "ORMASK", "NORMALIZATION"
        ]  # fmt: skip
        assert hdul[1].data["FLUX"].shape == (1, 3870)
    with fits.open(io.BytesIO(spectrum_to_bytes(spec, "A"))) as hdul:
        assert hdul[0].data.shape == (5, 3870)


def test_layout_b_table_equals_astropy_writer():
    """Our fast table writer must give the data block astropy's own writer gives."""
    spec = make_spectrum(n=3000)
    ours = spectrum_to_bytes(spec, "B")
    with fits.open(io.BytesIO(ours)) as hdul:
        hdul[1].verify("exception")
        buffer = io.BytesIO()
        fits.HDUList([fits.PrimaryHDU(), hdul[1].copy()]).writeto(buffer)
        np.testing.assert_array_equal(hdul[1].data["IVAR"][0], spec.ivar)
    data_block = 6 * 3000 * 4 + (-6 * 3000 * 4) % 2880
    assert ours[-data_block:] == buffer.getvalue()[-data_block:]
    assert len(ours) % 2880 == 0


def test_gzip_output_is_reproducible(tmp_path):
    spec = make_spectrum()
    write_spectrum(tmp_path / "a.fits.gz", spec)
    write_spectrum(tmp_path / "b.fits.gz", spec)
    assert (tmp_path / "a.fits.gz").read_bytes() == (tmp_path / "b.fits.gz").read_bytes()


def test_garbage_file_names_file(tmp_path):
    path = tmp_path / "bad.fits"
    path.write_bytes(b"this is not a FITS file at all" * 200)
    with pytest.raises(LamostFormatError, match=r"bad\.fits.*corrupt"):
        read_spectrum(path)


@pytest.mark.parametrize("keep", [0.3, 0.7, 0.97])
def test_truncated_gzip(tmp_path, keep):
    spec = make_spectrum()
    full = tmp_path / "full.fits.gz"
    write_spectrum(full, spec)
    data = full.read_bytes()
    cut = tmp_path / "cut.fits.gz"
    cut.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(LamostFormatError, match=r"cut\.fits\.gz"):
        read_spectrum(cut)


def test_truncated_plain_fits(tmp_path):
    raw = spectrum_to_bytes(make_spectrum(), "B")
    path = tmp_path / "cut.fits"
    path.write_bytes(raw[: len(raw) - 20000])
    with pytest.raises(LamostFormatError, match=r"cut\.fits"):
        read_spectrum(path)


def test_wrong_shape_image(tmp_path):
    path = tmp_path / "shape.fits"
    fits.PrimaryHDU(np.ones((2, 100), dtype=np.float32)).writeto(path)
    with pytest.raises(LamostFormatError, match=r"shape \(2, 100\)"):
        read_spectrum(path)


def test_table_with_two_rows_rejected(tmp_path):
    cols = [fits.Column(name=c, format="50E", array=np.ones((2, 50))) for c in ("FLUX", "IVAR")]
    path = tmp_path / "rows.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(cols, name="COADD")]).writeto(
        path
    )
    with pytest.raises(LamostFormatError, match="2 rows"):
        read_spectrum(path)


def test_medium_resolution_rejected(tmp_path):
    cols = [fits.Column(name="FLUX", format="E", array=np.ones(10))]
    hdul = fits.HDUList([fits.PrimaryHDU()])
    for name in ("COADD_B", "COADD_R"):
        hdul.append(fits.BinTableHDU.from_columns(cols, name=name))
    path = tmp_path / "med-58000-x.fits"
    hdul.writeto(path)
    with pytest.raises(LamostFormatError, match="medium-resolution"):
        read_spectrum(path)


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_spectrum(tmp_path / "nope.fits")


# ---------------------------------------------------------------- real survey files
REAL = {
    "spec-55859-F5902_sp01-001_dr7.fits.gz": (101001, 3908, 12.22),
    "spec-55859-F5902_sp01-013_dr8.fits.gz": (101013, 3908, 5.56),
    "spec-55915-F5591503_sp05-112.fits.gz": (18105112, 3751, 40.53),
    "spec-55859-F5907_sp12-016.fits.gz": (212016, 3820, 133.58),
    "spec-55859-F5907_sp01-092.fits.gz": (201092, 3909, 38.79),
}


@pytest.mark.parametrize("name", sorted(REAL))
def test_real_lamost_files(name):
    matches = sorted((SHARED_DATA / "lamost").glob(f"*__{name}")) if SHARED_DATA.exists() else []
    if not matches:
        pytest.skip(f"real LAMOST file {name} not available")
    spec = read_spectrum(matches[0])
    obsid, n, snrg = REAL[name]
    assert (spec.obsid, spec.n_pixels, spec.header["SNRG"]) == (obsid, n, snrg)
    assert 3690 < spec.wavelength[0] < 3840
    assert np.all(np.diff(spec.wavelength) > 0)


def test_real_file_wavelength_and_mask_details():
    path = shared_file(
        "lamost", "JunHuiLiu2017-CCF_for_LAMOST_LRS__20220313_CCF_test_grouped_fits__"
        "spec-55915-F5591503_sp05-112.fits.gz",
    )  # fmt: skip
    assert read_spectrum(path).wavelength[0] == pytest.approx(10**3.584, rel=1e-6)
    masked = shared_file(
        "lamost", "JunHuiLiu2017-CCF_for_LAMOST_LRS__20220313_CCF_test_grouped_fits__"
        "spec-55859-F5907_sp01-092.fits.gz",
    )  # fmt: skip
    assert (~read_spectrum(masked).good).sum() > 900


def test_real_dr9_round_trips_through_both_layouts(tmp_path):
    spec = read_spectrum(
        shared_file("lamost", "YunyuG-Cmost__tests-data__spec-55859-F5902_sp01-013_dr8.fits.gz")
    )
    for layout in ("A", "B"):
        write_spectrum(tmp_path / f"{layout}.fits.gz", spec, layout=layout)
        back = read_spectrum(tmp_path / f"{layout}.fits.gz")
        np.testing.assert_array_equal(back.flux, spec.flux)
        assert back.obsid == 101013


# ---------------------------------------------------------------- catalogue
def test_read_real_combined_catalogue():
    path = shared_file(
        "lamost", "JunHuiLiu2017-CCF_for_LAMOST_LRS__20220313_snrg_30_Grpeddata_CCF_test.csv"
    )
    cat = read_catalog(path)
    assert len(cat) == 220
    assert {"obsid", "ra", "dec", "snrg", "file"} <= set(cat.columns)
    assert not any(c.endswith(".1") for c in cat.columns)
    assert cat["obsid"].dtype == np.int64


def test_catalogue_bom_duplicates_and_missing_columns(tmp_path):
    path = tmp_path / "cat.csv"
    text = "obsid,ra,dec,snrg\n1,10.0,20.0,30\n1,10.0,20.0,30\n2,11.0,21.0,40\n"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    cat = read_catalog(path)
    assert cat["obsid"].tolist() == [1, 2]
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"obsid": [1], "ra": [1.0]}).to_csv(bad, index=False)
    with pytest.raises(LamostFormatError, match=r"bad\.csv.*\['dec'\]"):
        read_catalog(bad)


def test_gzip_helper_writes_no_timestamp(tmp_path):
    write_spectrum(tmp_path / "a.fits.gz", make_spectrum())
    raw = (tmp_path / "a.fits.gz").read_bytes()
    assert raw[4:8] == b"\x00\x00\x00\x00"  # gzip MTIME field
    assert gzip.decompress(raw)[:6] == b"SIMPLE"


# ---------------------------------------------------------------- catalogue formats
def _catalogue_table():
    from astropy.table import Table

    return Table(
        {
            "obsid": np.array([101001, 101013, 212016], dtype=np.int64),
            "designation": ["J1", "J2", "J3"],
            "ra": [290.1, 290.2, 290.3],
            "dec": [44.1, 44.2, 44.3],
            "snrg": [12.2, 99.0, 133.6],
            "snrr": [20.0, -9999.0, 150.0],
            "snri": [25.0, 30.0, 160.0],
            "teff": [4700.5, -9999.0, 4812.0],
            "teff_err": [30.0, -9999.0, 25.0],
            "logg": [2.5, 2.6, -9999.0],
            "rv": [99.0, -20.0, 3.5],  # a radial velocity of 99 km/s is a value
            "mag1": [13.1, 99.0, 12.2],
            "lmjd": np.array([55859, 55859, 55859], dtype=np.int64),
            "fiberid": np.array([1, 13, 16], dtype=np.int64),
        }
    )


def _write_catalogue(table, path, kind: str) -> None:
    if kind == "csv":
        table.write(path, format="ascii.csv")
    elif kind == "csv.gz":
        path.write_bytes(gzip.compress(table.to_pandas().to_csv(index=False).encode()))
    elif kind == "fits":
        table.write(path, format="fits")
    elif kind == "votable":
        table.write(path, format="votable")
    elif kind == "fits.gz":
        buffer = io.BytesIO()
        table.write(buffer, format="fits")
        path.write_bytes(gzip.compress(buffer.getvalue()))
    else:  # pragma: no cover
        raise ValueError(kind)


@pytest.mark.parametrize("kind", ["csv", "csv.gz", "fits", "fits.gz", "votable"])
def test_catalogue_formats_read_identically(tmp_path, kind):
    """Same rows from CSV, FITS and VOTable, told apart by content (the name says '.dat')."""
    table = _catalogue_table()
    reference = tmp_path / "reference.csv"
    _write_catalogue(table, reference, "csv")
    path = tmp_path / f"catalogue_{kind.replace('.', '_')}.dat"
    _write_catalogue(table, path, kind)
    got, want = read_catalog(path), read_catalog(reference)
    assert list(got.columns) == list(want.columns)
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
    assert got["obsid"].dtype == np.int64
    assert got["designation"].tolist() == ["J1", "J2", "J3"]


def test_no_value_markers_become_nan(tmp_path):
    path = tmp_path / "cat.fits"
    _write_catalogue(_catalogue_table(), path, "fits")
    cat = read_catalog(path).set_index("obsid")
    assert np.isnan(cat.loc[101013, "snrg"]) and np.isnan(cat.loc[101013, "snrr"])  # 99, -9999
    assert np.isnan(cat.loc[101013, "teff"]) and np.isnan(cat.loc[101013, "teff_err"])
    assert np.isnan(cat.loc[212016, "logg"]) and np.isnan(cat.loc[101013, "mag1"])
    assert cat.loc[101001, "rv"] == 99.0  # 99.00 is "no value" only for S/N and magnitudes
    assert cat.loc[101001, "teff"] == 4700.5 and cat.loc[212016, "snrg"] == 133.6
    assert cat.loc[101013, "lmjd"] == 55859 and cat.loc[101013, "fiberid"] == 13  # ids kept
    assert int(cat[["teff", "teff_err", "logg", "snrg", "snrr", "mag1"]].isna().sum().sum()) == 6


@pytest.mark.parametrize(
    ("content", "fault"),
    [
        (b"", "empty file"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe junk", "not a CSV"),
        (gzip.compress(b"obsid,ra,dec\n1,2,3\n", mtime=0)[:20], "gzip"),
        (b"SIMPLE  =                    T" + b" " * 50, "corrupt FITS"),
        (b"<?xml version='1.0'?><VOTABLE><RESOURCE><TABLE>", "VOTable"),
    ],
)
def test_unreadable_catalogue_names_file_and_fault(tmp_path, content, fault):
    path = tmp_path / "lamost_catalog.csv"
    path.write_bytes(content)
    with pytest.raises(LamostFormatError, match=rf"lamost_catalog\.csv: .*{fault}"):
        read_catalog(path)


def test_truncated_fits_catalogue(tmp_path):
    path = tmp_path / "cat.fits"
    _write_catalogue(_catalogue_table(), path, "fits")
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) - 2000])
    with pytest.raises(LamostFormatError, match=r"cat\.fits: truncated or corrupt FITS"):
        read_catalog(path)


# ---------------------------------------------------------------- DR1: no OBSID header
def _dr1_catalogue(extra_rows: list[dict] | None = None) -> pd.DataFrame:
    rows = [
        {"obsid": 77001, "ra": 1.0, "dec": 2.0, "lmjd": 55977, "planid": "F5597703", "spid": 4,
         "fiberid": 117},
        {"obsid": 77002, "ra": 1.0, "dec": 2.0, "lmjd": 55977, "planid": "F5597703", "spid": 4,
         "fiberid": 118},
        {"obsid": 77003, "ra": 1.0, "dec": 2.0, "lmjd": 55978, "planid": "F5597703", "spid": 4,
         "fiberid": 117},
    ]  # fmt: skip
    return pd.DataFrame(rows + (extra_rows or []))


@pytest.mark.parametrize("exten0", ["Flux, Inverse, Sky, Andmask, Ormask", None])
def test_dr1_spectrum_reads_and_resolves_obsid_from_catalogue(tmp_path, exten0):
    path = tmp_path / "spec-55977-F5597703_sp04-117.fits"
    flux = write_dr1_spectrum(str(path), exten0=exten0)
    spec = read_spectrum(path)
    assert spec.obsid is None
    np.testing.assert_array_equal(spec.flux, flux)
    # Wavelengths from COEFF0/COEFF1, never from the third row (a sky spectrum here).
    np.testing.assert_allclose(spec.wavelength, 10 ** (3.5682 + 1e-4 * np.arange(3909)))
    assert spec.header["SNRG"] == 23.4 and spec.header["SNRI"] == 35.1  # SN_G -> SNRG
    # The catalogue's four identity columns pick the one row (77001, not 77002 or 77003).
    assert resolve_obsid(spec, _dr1_catalogue(), where=str(path)) == 77001
    # A catalogue read from a file (lmjd as float, planid with padding) matches too.
    loose = _dr1_catalogue().assign(lmjd=lambda f: f["lmjd"].astype(float), planid="F5597703 ")
    assert resolve_obsid(spec, loose) == 77001


def test_dr1_obsid_never_from_file_name_and_clear_errors(tmp_path):
    path = tmp_path / "77002.fits"  # a misleading name: the header says fibre 117
    write_dr1_spectrum(str(path))
    spec = read_spectrum(path)
    assert resolve_obsid(spec, _dr1_catalogue()) == 77001
    with pytest.raises(LamostFormatError, match=r"77002\.fits: no OBSID header and no catalogue"
                       r" row has lmjd=55977, planid=F5597703, spid=4, fiberid=117"):  # fmt: skip
        resolve_obsid(spec, _dr1_catalogue().iloc[1:], where=str(path))
    twice = _dr1_catalogue([{**_dr1_catalogue().iloc[0].to_dict(), "obsid": 77009}])
    with pytest.raises(LamostFormatError, match=r"2 obsids \[77001, 77009\] share lmjd=55977"):
        resolve_obsid(spec, twice)
    with pytest.raises(LamostFormatError, match=r"lacks column\(s\) \['spid', 'fiberid'\]"):
        resolve_obsid(spec, _dr1_catalogue().drop(columns=["spid", "fiberid"]))
    bare = tmp_path / "bare.fits"
    write_dr1_spectrum(str(bare))
    with fits.open(bare, mode="update") as hdul:
        del hdul[0].header["FIBERID"]
    with pytest.raises(LamostFormatError, match=r"without \['FIBERID'\]"):
        resolve_obsid(read_spectrum(bare), _dr1_catalogue())
    # A spectrum with an OBSID header keeps it, whatever the catalogue says.
    assert resolve_obsid(make_spectrum(obsid=5), _dr1_catalogue()) == 5


@pytest.mark.parametrize("layout", ["A", "B"])
def test_file_cut_after_primary_header_is_truncated(tmp_path, layout):
    raw = spectrum_to_bytes(make_spectrum(), layout)
    path = tmp_path / "cut.fits.gz"
    path.write_bytes(gzip.compress(raw[:2880]))
    with pytest.raises(LamostFormatError, match=r"cut\.fits\.gz: truncated"):
        read_spectrum(path)
