"""The one predict path: files or folders in, the catalogue's rows out (`spt.catalog.predict`,
``spt predict``), every file a row, no age without a sigma or a flag."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.table import Table

from spt.catalog.predict import (
    Predictor,
    header_targets,
    predict_spectra,
    predict_targets,
    spectrum_files,
)
from spt.catalog.targets import TARGET_COLUMNS
from spt.cli import main
from spt.io.lamost import write_spectrum
from spt.model.flags import BAD_BITS, Flag
from spt.model.store import ModelFileError, load_model, save_model
from tests.conftest import SHARED_DATA
from tests.support.predictor import tiny_predictor
from tests.support.spectra import giant, write_dr1_spectrum


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_predictor(tmp_path_factory.mktemp("predictor"))


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four giants (S/N in the header), a DR1 file (SN_G), a truncated file and a text file."""
    out = tmp_path_factory.mktemp("spectra")
    for i, (snr, teff) in enumerate([(80, 4500), (30, 4800), (120, 4400), (60, 4650)]):
        spec = giant(seed=50 + i, snr=snr, teff=teff)
        spec.obsid = 7000 + i
        spec.header.update({"OBSID": 7000 + i, "SNRG": float(snr), "DESIG": f"J00000{i}",
                            "RA": 10.0 + i, "DEC": -5.0, "CLASS": "STAR"})  # fmt: skip
        write_spectrum(out / f"spec-{i}.fits.gz", spec)
    write_dr1_spectrum(str(out / "dr1.fits"))
    (out / "cut.fits.gz").write_bytes((out / "spec-0.fits.gz").read_bytes()[:400])
    (out / "notes.txt").write_text("not a spectrum")
    return out


def test_folder_gives_one_row_per_spectrum_file_with_header_snr_and_flags(
    model_file, folder
) -> None:
    rows = predict_spectra([folder], model_file)
    names = [Path(p).name for p in rows["path"]]
    assert names == sorted(["spec-0.fits.gz", "spec-1.fits.gz", "spec-2.fits.gz",
                            "spec-3.fits.gz", "dr1.fits", "cut.fits.gz"])  # fmt: skip
    row = rows.set_index(pd.Index(names))
    assert row.loc["spec-1.fits.gz", "snrg"] == 30.0 and row.loc["dr1.fits", "snrg"] == 23.4
    assert row.loc["spec-2.fits.gz", "obsid"] == 7002
    assert row.loc["spec-2.fits.gz", "designation"] == "J000002"
    assert row.loc["spec-2.fits.gz", "lamost_class"] == "STAR"
    # the truncated file keeps its row: unreadable, bad, no age, the reason given
    cut = row.loc["cut.fits.gz"]
    assert cut["flag"] & int(Flag.UNREADABLE) and cut["flag_bad"] and np.isnan(cut["age"])
    assert "unreadable" in cut["reasons"]
    # no catalogue: the parameter-domain check could not be made, and every row says so
    assert (rows["flag"] & int(Flag.PARAMS_UNKNOWN)).astype(bool).all()
    giants = row.loc[[f"spec-{i}.fits.gz" for i in range(4)]]
    assert np.isfinite(giants[["age", "age_err", "mass", "mass_err"]].to_numpy()).all()
    assert (giants["age_p16"] < giants["age"]).all() and (giants["age"] < giants["age_p84"]).all()
    _no_silent_age(rows)


def _no_silent_age(rows: pd.DataFrame) -> None:
    """Every row has a finite sigma or a flag bit; no age stands with flag 0 and no sigma."""
    has_age = np.isfinite(rows["age"].to_numpy(float))
    has_sigma = np.isfinite(rows[["age_err", "mass_err"]].to_numpy(float)).all(axis=1)
    assert (has_sigma | (rows["flag"] != 0)).all()
    assert not (has_age & ~has_sigma & (rows["flag"] == 0)).any()
    assert not (has_age & ~has_sigma & ~rows["flag_bad"]).any()  # an age without sigma is bad


def test_a_catalogue_gives_the_parameters_and_the_rows_of_predict_targets(
    model_file, folder
) -> None:
    """With a catalogue the S/N and parameters come from it (not the header); the rows equal
    predict_targets on the same targets, and one spectrum alone gets its row among others."""
    files = sorted(folder.glob("spec-*.fits.gz"))
    catalog = pd.DataFrame({"obsid": [7000, 7001, 7002, 7003],
                            "snrg": [81.0, 31.0, 121.0, 61.0],
                            "teff": [4500.0, 4800.0, 4400.0, 4650.0], "logg": 2.5, "feh": 0.0,
                            "designation": ["A", "B", "C", "D"], "ra": 1.0,
                            "dec": 2.0})  # fmt: skip
    rows = predict_spectra(files, model_file, catalog=catalog)
    assert rows["snrg"].tolist() == [81.0, 31.0, 121.0, 61.0]
    assert rows["designation"].tolist() == ["A", "B", "C", "D"]
    assert not (rows["flag"] & int(Flag.PARAMS_UNKNOWN)).any()
    targets = catalog.assign(path=[str(f) for f in files]).loc[:, list(TARGET_COLUMNS)]
    direct = predict_targets(Predictor.load(model_file), targets)
    pd.testing.assert_frame_equal(rows.drop(columns=["path", "lamost_class"]), direct)
    alone = predict_spectra(files[2:3], model_file, catalog=catalog)
    pd.testing.assert_frame_equal(alone.reset_index(drop=True),
                                  rows.iloc[2:3].reset_index(drop=True))  # fmt: skip
    # the obsid seeds a spectrum's MC dropout (not its features' last bits): the same file
    # under another obsid gets other masks, hence another MC spread
    renamed = predict_targets(
        Predictor.load(model_file), targets.assign(obsid=targets["obsid"] + 9)
    )
    assert (renamed["age_err_mc"] != direct["age_err_mc"]).all()
    # a catalogue without S/N for a spectrum falls back to its header
    partial = predict_spectra(
        files[:2], model_file, catalog=catalog.assign(snrg=[np.nan, 5.0, 1.0, 1.0])
    )
    assert partial["snrg"].tolist() == [80.0, 5.0]


def test_header_targets_read_each_files_identity(folder, tmp_path) -> None:
    got = header_targets([folder / "spec-3.fits.gz", folder / "dr1.fits", folder / "cut.fits.gz"])
    assert got["obsid"].tolist() == [7003, -1, -1]  # DR1 has no OBSID, nor a numeric name
    assert got["snrg"].iloc[0] == 60.0 and got["snrg"].iloc[1] == 23.4
    assert np.isnan(got["snrg"].iloc[2]) and got["designation"].iloc[2] == ""
    assert got[["teff", "logg", "feh"]].isna().all().all()
    # DR1 writes 99.00 for "no S/N"
    from astropy.io import fits

    with fits.open(folder / "dr1.fits") as hdul:
        hdul[0].header["SN_G"] = 99.0
        hdul.writeto(tmp_path / "dr1_none.fits")
    assert np.isnan(header_targets([tmp_path / "dr1_none.fits"])["snrg"].iloc[0])


def test_spectrum_files_expands_folders_and_names_what_is_missing(folder, tmp_path) -> None:
    found = spectrum_files([folder, folder / "dr1.fits"])
    assert [f.name for f in found][-1] == "dr1.fits" and len(found) == 7
    assert all(not f.name.endswith(".txt") for f in found)
    with pytest.raises(FileNotFoundError, match=r"nowhere\.fits: no such file"):
        spectrum_files([tmp_path / "nowhere.fits"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="empty: folder holds no spectrum file"):
        spectrum_files([tmp_path / "empty"])


def test_a_model_file_without_its_pipeline_is_refused_by_name(model_file, tmp_path) -> None:
    save_model(tmp_path / "bare.pt", load_model(model_file, device="cpu"))
    with pytest.raises(ModelFileError, match=r"bare\.pt holds no error model"):
        Predictor.load(tmp_path / "bare.pt")


def test_command_line_writes_the_rows_as_fits_and_csv(model_file, folder, tmp_path, capsys) -> None:
    files = [str(folder / f"spec-{i}.fits.gz") for i in range(2)]
    assert main(["predict", str(model_file), *files, "-o", str(tmp_path / "out.fits")]) == 0
    table = Table.read(tmp_path / "out.fits", hdu="CATALOG")
    assert list(table["obsid"]) == [7000, 7001] and str(table["age"].unit) == "Gyr"
    assert main(["predict", str(model_file), *files, "-o", str(tmp_path / "out.csv")]) == 0
    csv = pd.read_csv(tmp_path / "out.csv")
    np.testing.assert_allclose(csv["age"], np.asarray(table["age"]), rtol=1e-6)
    assert main(["predict", str(model_file), str(tmp_path / "missing.fits"), "-o",
                 str(tmp_path / "x.fits")]) == 2  # fmt: skip
    assert "missing.fits: no such file or folder" in capsys.readouterr().err
    assert not (tmp_path / "x.fits").exists()
    with pytest.raises(SystemExit):
        main(["predict", str(model_file), *files, "-o", str(tmp_path / "out.txt")])


def test_real_lamost_files_without_a_catalogue_never_give_a_silent_age(model_file) -> None:
    """The real DR7-DR9 files of ../shared as one folder, no catalogue: a row each, every row
    with a finite sigma or a flag bit, the header's S/N used (an S/N 5.6 A star among them)."""
    real = SHARED_DATA / "lamost"
    if not real.is_dir():
        pytest.skip(f"real survey files not available: {real}")
    rows = predict_spectra([real], model_file)
    assert len(rows) == len(spectrum_files([real])) >= 14
    _no_silent_age(rows)
    assert (rows["flag"] & int(Flag.PARAMS_UNKNOWN)).astype(bool).all()
    a_star = rows.loc[rows["obsid"] == 101013].iloc[0]
    assert a_star["snrg"] == pytest.approx(5.56) and a_star["lamost_class"] == "STAR"
    assert rows["snrg"].notna().all()
    assert ((rows["flag"] & int(BAD_BITS)) != 0).tolist() == rows["flag_bad"].tolist()
