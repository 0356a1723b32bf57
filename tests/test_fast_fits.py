"""The numpy-only LAMOST reader (`spt.io.lamost._read_fast`) against the astropy reader.

Every file the fast reader accepts must give what astropy gives, bit for bit: the five arrays
(dtype and bytes), the obsid and the header values with their Python types. Every file it does
not recognise must go to astropy (``_read_fast`` returns None) and still read.
"""

from __future__ import annotations

import copy
import gzip
import io

import numpy as np
import pytest
import yaml
from astropy.io import fits

from spt.io.lamost import (
    _COADD_COLUMNS,
    LamostFormatError,
    LamostSpectrum,
    _read_astropy,
    _read_fast,
    read_spectrum,
    spectrum_to_bytes,
)
from tests.conftest import REPO, SHARED_DATA
from tests.support.spectra import giant, write_dr1_spectrum

ARRAYS = ("wavelength", "flux", "ivar", "andmask", "ormask")


def assert_same(got: LamostSpectrum, want: LamostSpectrum) -> None:
    """Same spectrum bit for bit: arrays (dtype, shape, bytes), obsid, header values, types."""
    for name in ARRAYS:
        a, b = getattr(got, name), getattr(want, name)
        assert a.dtype == b.dtype and a.shape == b.shape, name
        assert a.tobytes() == b.tobytes(), name
    assert got.obsid == want.obsid
    assert list(got.header) == list(want.header)
    for key, value in want.header.items():
        assert got.header[key] == value and type(got.header[key]) is type(value), key


def assert_fast_equals_astropy(path) -> None:
    fast = _read_fast(path)
    assert fast is not None, f"the fast reader fell back on {path}"
    assert_same(fast, _read_astropy(path))
    assert_same(read_spectrum(path), fast)


def assert_falls_back_and_reads(path) -> LamostSpectrum:
    assert _read_fast(path) is None
    spec = read_spectrum(path)
    assert_same(spec, _read_astropy(path))
    return spec


# ---------------------------------------------------------------- real and simulated files
REAL = sorted((SHARED_DATA / "lamost").glob("*.fits.gz")) if SHARED_DATA.exists() else []


@pytest.mark.skipif(not REAL, reason="real LAMOST files (../shared/data/lamost) not available")
@pytest.mark.parametrize("gzipped", [True, False])
def test_real_files_read_identically(tmp_path, gzipped):
    """Every real DR7-DR9 file of both layouts, gzipped as published and unpacked: catches
    byte order, row order, header value parsing (int vs float, string blanks), HDU walking."""
    assert len(REAL) >= 14
    for path in REAL:
        if not gzipped:
            plain = tmp_path / path.name.removesuffix(".gz")
            plain.write_bytes(gzip.decompress(path.read_bytes()))
            path = plain
        assert_fast_equals_astropy(path)


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    """A few mock spectra written by the simulator in each layout, gzipped and plain."""
    from spt.sources.simulate import SpectrumModel, build_survey, synthesize_chunk

    full = yaml.safe_load((REPO / "config/config.yaml").read_text())
    cfg = copy.deepcopy({**full["simulate"], "clusters": full["clusters"][:1]})
    cfg.update(n_stars=20, n_seismic_only=5, n_lamost_only=5, n_neighbours=5)
    cfg["clusters"][0]["n_members"] = 3
    survey = build_survey(cfg, 5)
    model = SpectrumModel(cfg["resolution"], cfg["n_forest_lines"], cfg["line_list_seed"])
    paths = {}
    for layout in ("A", "B"):
        out = tmp_path_factory.mktemp(f"layout{layout}")
        synthesize_chunk(survey.spectra.iloc[:4], model, {**cfg, "layout": layout}, 5, str(out))
        gz = sorted(out.glob("*.fits.gz"))
        for p in gz:
            p.with_suffix("").write_bytes(gzip.decompress(p.read_bytes()))
        paths[layout] = gz + sorted(out.glob("*.fits"))
    return paths


@pytest.mark.parametrize("layout", ["A", "B"])
def test_simulated_files_read_identically(simulated, layout):
    assert len(simulated[layout]) == 8
    for path in simulated[layout]:
        assert_fast_equals_astropy(path)
    with fits.open(simulated[layout][0]) as hdul:  # the layouts are what they claim
        assert (hdul[0].data is None) == (layout == "B")


def test_dr1_layout_with_exten0_and_dr1_keywords(tmp_path):
    """DR1: third row sky (EXTEN0 names the rows), SN_G instead of SNRG, no OBSID."""
    for exten0 in ("Flux, Inverse, Sky, Andmask, Ormask", None):
        path = tmp_path / f"dr1{exten0 is None}.fits"
        write_dr1_spectrum(str(path), exten0=exten0)
        assert_fast_equals_astropy(path)
        assert _read_fast(path).header["SNRG"] == 23.4


# ---------------------------------------------------------------- hand-made FITS files
def card(key: str, value: object = None, comment: str = "") -> str:
    """One 80-character header card (no value: a commentary card)."""
    if value is None:
        return f"{key:<8}{comment}"[:80].ljust(80)
    if isinstance(value, bool):
        text = f"{'T' if value else 'F':>20}"
    elif isinstance(value, str):
        text = f"{chr(39) + value.replace(chr(39), chr(39) * 2).ljust(8) + chr(39):<20}"
    else:
        text = f"{value:>20}"
    return f"{key:<8}= {text} / {comment}"[:80].ljust(80)


def hdu(cards: list[str], data: bytes = b"") -> bytes:
    """A header (cards, END, blank padding) and its data padded with zeros to 2880 bytes."""
    text = "".join(cards) + "END".ljust(80)
    text += " " * (-len(text) % 2880)
    return text.encode("ascii") + data + bytes(-len(data) % 2880)


LAMOST_KEYS = [
    card("OBSID", 424242, "Unique number ID of this spectrum"),
    card("DESIG", "J192013.16+383843.6"),
    card("RA", 290.05484), card("DEC", 38.645444),
    card("DATA_V", "LAMOST DR9"), card("LMJD", 55859), card("PLANID", "F5902"),
    card("SPID", 1), card("FIBERID", 13), card("CLASS", "STAR"), card("SUBCLASS", "K1"),
    card("Z", -0.00106647), card("Z_ERR", 1.5e-05),
    card("SNRU", 2.11), card("SNRG", 5.56), card("SNRR", 12.0), card("SNRI", 20.5),
    card("SNRZ", 23.75), card("COEFF0", 3.5682), card("COEFF1", 0.0001),
]  # fmt: skip


def primary(naxis: tuple[int, ...] = (), bitpix: int = 16, extra: tuple[str, ...] = ()):
    axes = [card(f"NAXIS{i + 1}", n) for i, n in enumerate(naxis)]
    return [card("SIMPLE", True), card("BITPIX", bitpix), card("NAXIS", len(naxis)), *axes,
            card("EXTEND", True), *LAMOST_KEYS, *extra]  # fmt: skip


def bintable(columns, name="COADD", pcount=0, extra=(), heap=b"") -> bytes:
    """A one-row binary table; ``columns`` are (TTYPE, TFORM, big-endian bytes)."""
    row = b"".join(data for _, _, data in columns)
    cards = [card("XTENSION", "BINTABLE"), card("BITPIX", 8), card("NAXIS", 2),
             card("NAXIS1", len(row)), card("NAXIS2", 1), card("PCOUNT", pcount),
             card("GCOUNT", 1), card("TFIELDS", len(columns))]  # fmt: skip
    for i, (ttype, tform, _) in enumerate(columns, start=1):
        cards += [card(f"TTYPE{i}", ttype), card(f"TFORM{i}", tform)]
    cards += [card("EXTNAME", name), *extra]
    return hdu(cards, row + heap)


N = 3900
SPEC = giant(seed=3, n=N)


def coadd_columns(n: int = N):
    """The DR9 COADD columns (FLUX, IVAR, WAVELENGTH, ANDMASK, ORMASK) as float32 vectors."""
    values = (SPEC.flux, SPEC.ivar, SPEC.wavelength, SPEC.andmask, SPEC.ormask)
    return [(name, f"{n}E", np.asarray(v[:n], ">f4").tobytes())
            for name, v in zip(_COADD_COLUMNS, values, strict=False)]  # fmt: skip


def write(tmp_path, name: str, raw: bytes, gz: bool = False):
    path = tmp_path / (name + (".fits.gz" if gz else ".fits"))
    path.write_bytes(gzip.compress(raw) if gz else raw)
    return path


@pytest.mark.parametrize("gz", [False, True])
def test_table_columns_in_another_order_with_other_types(tmp_path, gz):
    """Columns shuffled among others of every width (X, L, A, B, I, J, K, D, C, M, repeat
    counts) and lower-case names; ANDMASK as J, FLUX as D: catches column offsets summed
    wrongly, TFORM repeat counts ignored, a fixed dtype assumed, case-sensitive names."""
    _, ivar, _, _, ormask = coadd_columns()
    columns = [
        ("SKY", f"{N}E", np.linspace(0, 1, N, dtype=">f4").tobytes()),
        ivar, ("BITS", "13X", bytes(2)), ("OK", "L", b"T"), ("NAME", "5A", b"abcde"),
        ("wavelength", f"{N}D", np.asarray(SPEC.wavelength, ">f8").tobytes()),
        ("ANDMASK", f"{N}J", np.asarray(SPEC.andmask, ">i4").tobytes()),
        ("B", "3B", bytes(3)), ("I", "I", bytes(2)), ("K", "2K", bytes(16)),
        ("C", "C", bytes(8)), ("M", "M", bytes(16)),
        ("Flux", f"{N}D", np.asarray(SPEC.flux, ">f8").tobytes()), ormask,
    ]  # fmt: skip
    path = write(tmp_path, "order", hdu(primary()) + bintable(columns), gz)
    assert_fast_equals_astropy(path)
    spec = _read_fast(path)
    np.testing.assert_array_equal(spec.flux, SPEC.flux)
    np.testing.assert_array_equal(spec.andmask, SPEC.andmask)


def test_heap_and_hdus_around_the_table(tmp_path):
    """An image extension before COADD, a heap (PCOUNT, THEAP) after the table rows and a
    table after it: catches COADD taken by position and HDU sizes that ignore PCOUNT (the
    next header would be looked for inside the heap)."""
    before = hdu([card("XTENSION", "IMAGE"), card("BITPIX", -32), card("NAXIS", 2),
                  card("NAXIS1", 7), card("NAXIS2", 3), card("PCOUNT", 0), card("GCOUNT", 1),
                  card("EXTNAME", "INFO")], np.arange(21, dtype=">f4").tobytes())  # fmt: skip
    row_bytes = 5 * N * 4
    table = bintable(coadd_columns(), pcount=5000, heap=b"\x07" * 5000,
                     extra=(card("THEAP", row_bytes + 1000),))  # fmt: skip
    after = bintable([("X", "2E", bytes(8))], name="EXTRA")
    path = write(tmp_path, "heap", hdu(primary()) + before + table + after)
    assert_fast_equals_astropy(path)


@pytest.mark.parametrize(
    ("bitpix", "scaling", "dtype"),
    [
        (-32, (), ">f4"),
        (-64, (), ">f8"),
        (-32, (card("BSCALE", 2.0), card("BZERO", 0.5)), ">f4"),
        (16, (card("BSCALE", 0.001), card("BZERO", 10)), ">i2"),
        (16, (card("BZERO", 32768),), ">i2"),  # astropy's unsigned 16-bit convention
        (32, (card("BSCALE", 1e-3), card("BZERO", -5.0)), ">i4"),
    ],
)
def test_layout_a_bitpix_and_scaling(tmp_path, bitpix, scaling, dtype):
    """Layout A in every BITPIX, scaled or not: catches byte order, BSCALE/BZERO applied in
    another order or precision, the unsigned-integer convention, NAXIS1/NAXIS2 swapped."""
    rng = np.random.default_rng(bitpix & 0xFF)
    if dtype.startswith(">i"):
        image = rng.integers(-3000, 3000, size=(5, N)).astype(dtype)
        image[3:] = 0
    else:
        image = np.vstack([SPEC.flux, SPEC.ivar, SPEC.wavelength, SPEC.andmask, SPEC.ormask])
        image = image.astype(dtype)
    cards = primary((N, 5), bitpix, (*scaling, card("EXTEN0", "Flux, Inverse, Wavelength, "
                                                    "Andmask, Ormask")))  # fmt: skip
    path = write(tmp_path, f"a{bitpix}", hdu(cards, image.tobytes()))
    assert_fast_equals_astropy(path)


def test_header_values_as_astropy_parses_them(tmp_path):
    """Duplicated keywords (astropy takes the first), D exponents, '' in strings, blanks,
    comments holding quotes and slashes, lower-case exponents, signs, leading zeros."""
    extra = [
        "OBSID   =               999999 / a second OBSID: astropy reads the first".ljust(80),
        "SUBCLASS= 'it''s a K/ giant '   / comment with 'quotes' and / slashes".ljust(80),
        "Z_ERR   =              1.5D-05 / Fortran exponent".ljust(80),
        "SNRI    =               +020.5".ljust(80),
        "SNRZ    =               2.375e1".ljust(80),
        "MJD     =                 0042".ljust(80),
        "CLASS   = '  STAR'".ljust(80),
        card("HISTORY", None, "anything at all 'unbalanced / = T"),
        card("COMMENT", None, "x = 'y"),
    ]
    keys = [c for c in LAMOST_KEYS if not c.startswith(("SUBCLASS", "Z_ERR", "SNRI", "SNRZ",
                                                         "CLASS"))]  # fmt: skip
    cards = [card("SIMPLE", True), card("BITPIX", 16), card("NAXIS", 0), *keys, *extra]
    path = write(tmp_path, "values", hdu(cards) + bintable(coadd_columns()))
    assert_fast_equals_astropy(path)
    header = _read_fast(path).header
    assert header["OBSID"] == 424242 and header["SUBCLASS"] == "it's a K/ giant"
    assert header["Z_ERR"] == 1.5e-5 and header["MJD"] == 42 and header["CLASS"] == "  STAR"


# ---------------------------------------------------------------- files astropy reads
def _layout_b_hdus() -> fits.HDUList:
    return fits.open(io.BytesIO(spectrum_to_bytes(SPEC, "B")))


def test_compressed_extension_goes_to_astropy(tmp_path):
    hdul = _layout_b_hdus()
    hdul.append(fits.CompImageHDU(np.ones((20, 20), np.float32), name="THUMB"))
    path = tmp_path / "comp.fits"
    hdul.writeto(path, output_verify="ignore")
    assert_falls_back_and_reads(path)


def test_variable_length_and_scaled_columns_go_to_astropy(tmp_path):
    cols = [fits.Column(name=n, format=f"{N}E", array=np.asarray(v, np.float32)[None])
            for n, v in (("IVAR", SPEC.ivar), ("WAVELENGTH", SPEC.wavelength), ("FLUX", SPEC.flux))
            ]  # fmt: skip
    heap = fits.Column(name="NOTES", format="PB()", array=[np.arange(9, dtype=np.uint8)])
    path = tmp_path / "vla.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns([*cols, heap], name="COADD")]
                 ).writeto(path)  # fmt: skip
    assert_falls_back_and_reads(path)
    raw_flux = ("FLUX", f"{N}I", np.arange(N, dtype=">i2").tobytes())
    scaled = bintable([raw_flux, *coadd_columns()[1:]],
                      extra=(card("TSCAL1", 0.5), card("TZERO1", 100.0)))  # fmt: skip
    path = write(tmp_path, "scaled", hdu(primary()) + scaled)
    spec = assert_falls_back_and_reads(path)
    np.testing.assert_array_equal(spec.flux, 100 + 0.5 * np.arange(N, dtype=np.float32))


def test_unusual_headers_go_to_astropy(tmp_path):
    """A CONTINUE long string, a lower-case keyword, an integer image with BLANK (NaN)."""
    long_desig = fits.Header([("DESIG", "J" + "0123456789" * 9)])  # written with CONTINUE
    hdul = _layout_b_hdus()
    hdul[0].header.update(long_desig)
    path = tmp_path / "continue.fits"
    hdul.writeto(path, output_verify="ignore")
    assert b"CONTINUE" in path.read_bytes()[:5760]
    assert_falls_back_and_reads(path)
    raw = spectrum_to_bytes(SPEC, "B").replace(b"OBSID   =", b"obsid   =", 1)
    assert_falls_back_and_reads(write(tmp_path, "lower", raw))
    cards = primary((N, 5), 16, (card("BSCALE", 0.5), card("BZERO", 1.0), card("BLANK", -1)))
    image = np.ones((5, N), ">i2")
    image[0, :3] = -1
    spec = assert_falls_back_and_reads(write(tmp_path, "blank", hdu(cards, image.tobytes())))
    assert np.isnan(spec.flux[:3]).all() and spec.flux[3] == 1.5


def test_faulty_files_fall_back_for_their_error_messages(tmp_path):
    """Cut short, trailing garbage, a medium-resolution file: the fast reader declines (the
    astropy reader names file and fault; tests/test_lamost_io.py checks the messages)."""
    raw = spectrum_to_bytes(SPEC, "B")
    for name, data in {"cut": raw[:-3000], "tail": raw + b"garbage!" * 400,
                       "headonly": raw[:2880]}.items():  # fmt: skip
        assert _read_fast(write(tmp_path, name, data)) is None
        assert _read_fast(write(tmp_path, name, data, gz=True)) is None
    mrs = hdu(primary()) + bintable(coadd_columns(), "COADD_B") + bintable(coadd_columns(), "X")
    assert _read_fast(write(tmp_path, "mrs", mrs)) is None
    assert _read_fast(tmp_path / "absent.fits") is None
    with pytest.raises(FileNotFoundError):
        read_spectrum(tmp_path / "absent.fits")


def test_column_names_astropy_refuses_are_refused(tmp_path):
    """A name used twice, or no name: astropy rejects the table, so the fast reader must not
    read it (it would return a spectrum where read_spectrum used to raise); the error names
    the file (an unnamed column used to escape as an AttributeError). Names differing only in
    case astropy reads: that goes to astropy."""
    for name, extra in {"twice": [("SKY", "2E", bytes(8)), ("SKY", "2E", bytes(8))],
                        "unnamed": [("", "3E", bytes(12))]}.items():  # fmt: skip
        path = write(tmp_path, name, hdu(primary()) + bintable(coadd_columns() + extra))
        assert _read_fast(path) is None
        with pytest.raises(LamostFormatError, match=rf"{name}\.fits: truncated or corrupt"):
            read_spectrum(path)
    case = [("sky", "2E", bytes(8)), ("SKY", "2E", bytes(8))]
    assert_falls_back_and_reads(write(tmp_path, "case", hdu(primary()) + bintable(
        coadd_columns() + case)))  # fmt: skip
