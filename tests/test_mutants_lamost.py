"""spt.io.lamost: the survivors of mutation testing (benchmarks/mutation.py), each killed.

The astropy reader's messages for files cut after their primary header (and for files that
are not cut), the rows a layout-A image names, the shortest spectrum, the fast reader's strict
refusals (it must leave to astropy what it does not recognise in every detail), BSCALE/BZERO
as astropy applies them, the header a written spectrum carries, and LAMOST's "no value"
markers matched exactly.
"""

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
    _primary_header,
    _read_astropy,
    _read_fast,
    _scaled_image,
    loglinear_wavelength,
    mask_no_value,
    read_catalog,
    read_spectrum,
    spectrum_to_bytes,
)
from tests.support.spectra import giant
from tests.test_fast_fits import (
    SPEC,
    N,
    assert_fast_equals_astropy,
    assert_same,
    bintable,
    card,
    coadd_columns,
    hdu,
    primary,
    write,
)

ENDS = "truncated FITS file: it ends after the primary header"
NEITHER = "neither a (5, N) primary image"


def header_bytes(*cards: tuple[str, object]) -> bytes:
    return fits.Header(list(cards)).tostring().encode("ascii")


def message(path) -> str:
    with pytest.raises(LamostFormatError) as info:
        read_spectrum(path)
    return str(info.value)


# ---------------------------------------------------------------- cut after the primary header
def test_a_file_that_is_only_its_primary_header(tmp_path) -> None:
    """Bugs: a header that announces nothing called truncated (or the reverse); NAXIS=1 not
    counted as announcing data; the size check tripped by an exception of its own."""
    bare = header_bytes(("SIMPLE", True), ("BITPIX", 8), ("NAXIS", 0))
    text = message(write(tmp_path, "bare", bare))
    assert NEITHER in text and "['PRIMARY']" in text
    no_naxis = header_bytes(("SIMPLE", True), ("BITPIX", 8))
    assert NEITHER in message(write(tmp_path, "nonaxis", no_naxis))
    one_axis = header_bytes(("SIMPLE", True), ("BITPIX", 8), ("NAXIS", 1), ("NAXIS1", 0))
    assert f"one_axis.fits: {ENDS}" in message(write(tmp_path, "one_axis", one_axis))
    extend = fits.PrimaryHDU().header.tostring().encode("ascii")
    for gz in (False, True):
        assert ENDS in message(write(tmp_path, "extend", extend, gz))


def test_gzip_sizes_are_of_the_unpacked_file(tmp_path) -> None:
    """Bugs: the gzip magic compared wrongly (the packed size, zero padding included, taken
    for the file's), and a gzip stream that cannot be read to its end not called truncated."""
    extend = fits.PrimaryHDU().header.tostring().encode("ascii")
    packed = gzip.compress(extend)
    padded = tmp_path / "padded.fits.gz"  # gzip ignores zero padding after the stream
    padded.write_bytes(packed + bytes(6000))
    assert ENDS in message(padded)
    no_trailer = tmp_path / "no_trailer.fits.gz"  # astropy reads it; gzip.open cannot finish
    no_trailer.write_bytes(packed[:-4])
    assert ENDS in message(no_trailer)
    two = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.ones(3))]).writeto(two)
    two_cut = tmp_path / "two.fits.gz"
    two_cut.write_bytes(gzip.compress(two.getvalue())[:-4])
    assert NEITHER in message(two_cut)


def test_astropy_warnings_are_errors(tmp_path) -> None:
    """Bug: astropy's warnings (extra padding) left as warnings, the file read as empty."""
    extend = fits.PrimaryHDU().header.tostring().encode("ascii")
    text = message(write(tmp_path, "padding", extend + bytes(2880)))
    assert "truncated or corrupt FITS file" in text and "padding" in text


# ---------------------------------------------------------------- layout A
def image_file(tmp_path, name: str, image: np.ndarray, *extra: str) -> object:
    rows, n = image.shape
    cards = primary((n, rows), -32, extra)
    return write(tmp_path, name, hdu(cards, image.astype(">f4").tobytes()))


def rows_of(n: int = N) -> np.ndarray:
    return np.vstack([SPEC.flux[:n], SPEC.ivar[:n], SPEC.wavelength[:n], SPEC.andmask[:n],
                      SPEC.ormask[:n]]).astype(np.float32)  # fmt: skip


def no_coeff(cards: list[str]) -> list[str]:
    return [c for c in cards if not c.startswith(("COEFF0", "COEFF1"))]


def test_exten0_names_the_rows_in_its_own_order(tmp_path) -> None:
    """Bugs: EXTEN0 ignored (or read only when it does not fit), its multi-word names
    ("Inverse Variance") not reduced to the first word, the row count taken from NAXIS1."""
    image = rows_of()
    order = "Inverse Variance, Flux, Wavelength, Andmask, Ormask"
    path = image_file(tmp_path, "order", image[[1, 0, 2, 3, 4]], card("EXTEN0", order))
    for spec in (read_spectrum(path), _read_astropy(path)):
        np.testing.assert_array_equal(spec.flux, image[0])
        np.testing.assert_array_equal(spec.ivar, image[1])


def test_three_rows_are_a_spectrum(tmp_path) -> None:
    """Bug: fewer than five rows refused (or indexed past the image): flux, ivar and
    wavelength are enough; the masks are zero."""
    image = rows_of()[:3]
    path = image_file(tmp_path, "three", image)
    for spec in (read_spectrum(path), _read_astropy(path)):
        np.testing.assert_array_equal(spec.flux, image[0])
        assert spec.andmask.dtype == np.int32 and not spec.andmask.any()
    two = image_file(tmp_path, "two", image[:2])
    assert "primary image has shape (2, 3900)" in message(two)


def test_exten0_without_ivar_is_named(tmp_path) -> None:
    """Bug: a layout naming flux but no inverse variance read on until a KeyError."""
    exten0 = "Flux, Sky, Wavelength, Andmask, Ormask"
    path = image_file(tmp_path, "nosky", rows_of(), card("EXTEN0", exten0))
    assert f"EXTEN0='{exten0}' names no flux and inverse variance" in message(path)


def test_a_one_pixel_image_is_read_as_an_image(tmp_path) -> None:
    """Bug: a primary image of one value taken for no image at all."""
    path = tmp_path / "one.fits"
    fits.PrimaryHDU(np.ones(1, np.float32)).writeto(path)
    assert "primary image has shape (1,)" in message(path)


def test_ten_pixels_are_enough_nine_are_not(tmp_path) -> None:
    """Bugs: the shortest spectrum's limit moved, or checked only for 2-D fluxes."""
    for n, ok in ((10, True), (9, False)):
        w = np.linspace(4000.0, 4100.0, n)
        spec = LamostSpectrum(1, w, np.ones(n, np.float32), np.ones(n, np.float32),
                              np.zeros(n, np.int32), np.zeros(n, np.int32))  # fmt: skip
        path = tmp_path / f"n{n}.fits"
        path.write_bytes(spectrum_to_bytes(spec, "A"))
        if ok:
            assert read_spectrum(path).n_pixels == 10
        else:
            assert "flux has shape (9,), not a 1-D spectrum" in message(path)


def test_one_coefficient_alone_leaves_the_wavelength_row(tmp_path) -> None:
    """Bug: COEFF0 without COEFF1 taken for a wavelength solution (a KeyError)."""
    image = rows_of()
    cards = [*no_coeff(primary((N, 5), -32)), card("COEFF0", 3.5682)]
    path = write(tmp_path, "c0", hdu(cards, image.astype(">f4").tobytes()))
    for spec in (read_spectrum(path), _read_astropy(path)):
        np.testing.assert_array_equal(spec.wavelength, image[2].astype(np.float64))


# ---------------------------------------------------------------- medium resolution, COADD
def test_a_coadd_beside_one_medium_resolution_arm_is_refused(tmp_path) -> None:
    """Bug: a medium-resolution file refused only when it has both arms."""
    raw = hdu(primary()) + bintable(coadd_columns()) + bintable(coadd_columns(), "COADD_B")
    assert "medium-resolution" in message(write(tmp_path, "mrs", raw))


def test_a_primary_named_coadd_is_not_the_table(tmp_path) -> None:
    """Bug: the fast reader takes the second COADD where astropy finds the primary first."""
    raw = hdu([*primary(), card("EXTNAME", "COADD")]) + bintable(coadd_columns())
    assert "COADD extension is not a binary table" in message(write(tmp_path, "named", raw))


# ---------------------------------------------------------------- the fast reader's refusals
def empty_image(naxis: int = 1, naxis1: int = 0) -> bytes:
    axes = [card(f"NAXIS{i + 1}", naxis1) for i in range(naxis)]
    return hdu([card("XTENSION", "IMAGE"), card("BITPIX", 8), card("NAXIS", naxis), *axes,
                card("PCOUNT", 0), card("GCOUNT", 1), card("EXTNAME", "EMPTY")])  # fmt: skip


def test_an_empty_image_after_the_table_is_read_fast(tmp_path) -> None:
    """Bugs: a header that ends exactly at the end of the file, or an axis of length 0,
    sent to astropy (the fast reader must read what LAMOST-like files hold)."""
    path = write(tmp_path, "empty", hdu(primary()) + bintable(coadd_columns()) + empty_image())
    assert_fast_equals_astropy(path)


def test_bitpix_64_is_read_fast(tmp_path) -> None:
    """Bug: BITPIX 64 missing from the fast reader's types."""
    image = np.vstack([np.arange(N), np.ones(N), SPEC.wavelength, np.zeros(N), np.zeros(N)])
    cards = primary((N, 5), 64)
    path = write(tmp_path, "i8", hdu(cards, image.astype(">i8").tobytes()))
    assert_fast_equals_astropy(path)


@pytest.mark.parametrize(
    "change",
    [
        "naxis_late",  # NAXIS1/NAXIS2 not right after NAXIS
        "groups",  # random groups
        "gcount_primary",  # GCOUNT 2 in the primary
        "gcount_table",  # GCOUNT 2 in COADD
        "theap_real",  # THEAP not an integer
        "tdim_2d",  # a column of 2-D cells
        "bscale_logical",  # BSCALE = T
        "desig_record",  # a string astropy may read as a record-valued card
        "gcount_table_sized",  # GCOUNT 2 in COADD, its data as long as that says
        "table_naxis3",  # a binary table with a third axis
        "tdim_short",  # TDIM naming fewer values than TFORM
        "cut_in_header",  # the file ends inside the second header
        "extname_blank",  # an EXTNAME with a leading blank
    ],
)
def test_what_the_fast_reader_does_not_recognise_goes_to_astropy(tmp_path, change) -> None:
    """Bugs: a check of the fast reader weakened (``or`` made ``and``, a call dropped, a limit
    moved): it would read a file astropy reads otherwise, or not at all."""
    table = bintable(coadd_columns())
    image = rows_of().astype(">f4").tobytes()
    if change == "naxis_late":
        cards = [card("SIMPLE", True), card("BITPIX", -32), card("NAXIS", 2),
                 card("EXTEND", True), card("NAXIS1", N), card("NAXIS2", 5)]  # fmt: skip
        raw = hdu(cards, image)
    elif change == "groups":
        raw = hdu([*primary(), card("GROUPS", False)]) + table
    elif change == "gcount_primary":
        raw = hdu([*primary(), card("PCOUNT", 0), card("GCOUNT", 2)]) + table
    elif change == "gcount_table":
        raw = hdu(primary()) + table.replace(card("GCOUNT", 1).encode(), card("GCOUNT", 2).encode())
    elif change == "theap_real":
        raw = hdu(primary()) + bintable(coadd_columns(), extra=(card("THEAP", 2.5),))
    elif change == "tdim_2d":
        extra = [("CUBE", "6E", bytes(24))]
        raw = hdu(primary()) + bintable(coadd_columns() + extra, extra=(card("TDIM6", "(2,3)"),))
    elif change == "bscale_logical":
        raw = hdu(primary((N, 5), -32, (card("BSCALE", True),)), image)
    elif change == "desig_record":
        cards = [c for c in primary() if not c.startswith("DESIG")]
        raw = hdu([*cards, card("DESIG", "AXIS.1: 1")]) + table
    elif change == "extname_blank":
        raw = hdu(primary()) + table + bintable(coadd_columns(), " COADD_B")
    elif change in ("gcount_table_sized", "table_naxis3"):
        row = b"".join(data for _, _, data in coadd_columns())
        axes = [card("NAXIS", 2), card("NAXIS1", len(row)), card("NAXIS2", 1)]
        if change == "table_naxis3":
            axes = [card("NAXIS", 3), *axes[1:], card("NAXIS3", 1)]
        gcount = 2 if change == "gcount_table_sized" else 1
        cards = [card("XTENSION", "BINTABLE"), card("BITPIX", 8), *axes, card("PCOUNT", 0),
                 card("GCOUNT", gcount), card("TFIELDS", 5)]  # fmt: skip
        for i, (ttype, tform, _) in enumerate(coadd_columns(), start=1):
            cards += [card(f"TTYPE{i}", ttype), card(f"TFORM{i}", tform)]
        raw = hdu(primary()) + hdu([*cards, card("EXTNAME", "COADD")], row * gcount)
    elif change == "tdim_short":
        extra = [("CUBE", "6E", bytes(24))]
        raw = hdu(primary()) + bintable(coadd_columns() + extra, extra=(card("TDIM6", "(5)"),))
    else:
        raw = (hdu(primary()) + table)[: 2880 + 1000]
    path = write(tmp_path, change, raw)
    assert _read_fast(path) is None
    try:
        want = _read_astropy(path)
    except LamostFormatError:
        return
    assert_same(read_spectrum(path), want)


def test_bit_columns_are_as_wide_as_their_bytes(tmp_path) -> None:
    """Bug: an X column's width in bytes rounded wrongly (8 bits are one byte, 17 three)."""
    columns = [("B8", "8X", bytes(1)), *coadd_columns(), ("B17", "17X", bytes(3))]
    assert_fast_equals_astropy(write(tmp_path, "bits", hdu(primary()) + bintable(columns)))


def test_a_naxis_999_extension_is_walked(tmp_path) -> None:
    """Bug: the largest NAXIS the standard allows refused by the fast reader."""
    cards = [card("XTENSION", "IMAGE"), card("BITPIX", 8), card("NAXIS", 999),
             *(card(f"NAXIS{k}", 1) for k in range(1, 1000)), card("PCOUNT", 0),
             card("GCOUNT", 1)]  # fmt: skip
    raw = hdu(primary()) + bintable(coadd_columns()) + hdu(cards, b"\x00")
    spec = _read_fast(write(tmp_path, "n999", raw))
    assert spec is not None
    np.testing.assert_array_equal(spec.flux, SPEC.flux)


# ---------------------------------------------------------------- BSCALE / BZERO
SCALINGS = [
    (8, 1, 0), (8, 1, -128), (8, 2.0, 0), (16, 1, 0), (16, 1, 1), (16, 1, 32768),
    (16, 2.0, 1), (32, 1, 0), (32, 1, 2147483648), (32, 1e-3, -5.0), (64, 1, 0),
    (64, 1, 9223372036854775808), (-32, 1, 0), (-32, 2.0, 1), (-64, 0.5, 0),
]  # fmt: skip


@pytest.mark.parametrize(("bitpix", "bscale", "bzero"), SCALINGS)
def test_scaling_is_astropys(bitpix, bscale, bzero) -> None:
    """Bugs: an unscaled image converted, the unsigned (BZERO 2**(bits-1)) or signed-byte
    (BZERO -128) convention missed, BZERO 1 taken for none: the type or values differ from
    astropy's for the same bytes."""
    dtype = {8: "u1", 16: ">i2", 32: ">i4", 64: ">i8", -32: ">f4", -64: ">f8"}[bitpix]
    stored = (np.arange(-6, 6) % 200 if bitpix == 8 else np.arange(-6, 6)).astype(dtype)
    cards = [card("SIMPLE", True), card("BITPIX", bitpix), card("NAXIS", 1),
             card("NAXIS1", stored.size), card("BSCALE", bscale), card("BZERO", bzero)]  # fmt: skip
    with fits.open(io.BytesIO(hdu(cards, stored.tobytes()))) as hdul:
        want = hdul[0].data
    got = _scaled_image(stored, bitpix, bscale, bzero)
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


# ---------------------------------------------------------------- what a written file says
def test_written_headers_are_lamosts(tmp_path) -> None:
    """Bugs: NAXIS2 other than five rows, VACUUM false, EXTEN0 in the wrong layout, the
    wavelength solution rounded to other decimals than LAMOST's."""
    spec = giant(2, n=500)
    spec.wavelength = loglinear_wavelength(3.56821234567, 0.000100123456789, 500)
    a = fits.Header.fromstring(spectrum_to_bytes(spec, "A")[:2880].decode("ascii"))
    b = fits.Header.fromstring(spectrum_to_bytes(spec, "B")[:2880].decode("ascii"))
    assert b["NAXIS1"] == 500 and b["NAXIS2"] == 5 and a["NAXIS2"] == 5
    assert a["VACUUM"] is True and b["VACUUM"] is True
    assert a["EXTEN0"] == "Flux, Inverse, Wavelength, Andmask, Ormask" and "EXTEN0" not in b
    c0 = round(float(np.log10(spec.wavelength[0])), 6)
    c1 = round(float(np.log10(spec.wavelength[-1] / spec.wavelength[0]) / 499), 8)
    assert b["COEFF0"] == c0 and b["COEFF1"] == c1
    path = write(tmp_path, "w", spectrum_to_bytes(spec, "B"))
    np.testing.assert_array_equal(read_spectrum(path).wavelength, loglinear_wavelength(c0, c1, 500))


def test_two_pixels_span_one_step() -> None:
    """Bug: the dispersion divided by at least 2 instead of 1 (n - 1 pixel steps)."""
    w = np.array([4000.0, 4001.0])
    spec = LamostSpectrum(1, w, np.ones(2, np.float32), np.ones(2, np.float32),
                          np.zeros(2, np.int32), np.zeros(2, np.int32))  # fmt: skip
    assert _primary_header(spec, "B")["COEFF1"] == round(float(np.log10(4001.0 / 4000.0)), 8)


# ---------------------------------------------------------------- the catalogue
def test_no_value_markers_are_matched_exactly() -> None:
    """Bugs: a relative or a loose tolerance on the markers: a real S/N of 98.5, a metallicity
    of -0.5 or a value beside -9999 masked with them."""
    frame = pd.DataFrame({"feh": [-0.5, -9999.0, -9998.5], "snrg": [98.5, 99.0, 99.0000001]})
    out = mask_no_value(frame)
    assert out["feh"].tolist()[0] == -0.5 and np.isnan(out["feh"][1])
    assert out["feh"][2] == -9998.5
    assert out["snrg"][0] == 98.5 and out["snrg"][1:].isna().all()


def test_read_catalog_has_no_index_column(tmp_path) -> None:
    """Bug: the row index of the de-duplicated catalogue kept as a column."""
    path = tmp_path / "cat.csv"
    path.write_text("obsid,ra,dec\n5,1.0,2.0\n5,1.0,2.0\n7,3.0,4.0\n")
    frame = read_catalog(path)
    assert list(frame.columns) == ["obsid", "ra", "dec"]
    assert frame.index.tolist() == [0, 1] and frame["obsid"].tolist() == [5, 7]
