"""The ``spt`` command: ``spt predict MODEL PATH... -o OUT`` turns LAMOST spectra into the
catalogue's rows (age, mass, calibrated error, 68.3 % interval, flags, reasons) with a trained
model file, without running the pipeline (`spt.catalog.predict.predict_spectra`)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import torch
from threadpoolctl import threadpool_limits

from spt.catalog.fits import file_md5, write_catalog_fits
from spt.catalog.predict import predict_spectra
from spt.io.files import write_csv
from spt.model.flags import BAD_BITS
from spt.model.store import ModelFileError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="spt", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser(
        "predict",
        help="ages and masses, with errors and flags, of LAMOST spectrum files",
        description="One row per spectrum file: age, mass, their calibrated 1-sigma errors and "
        "68.3 %% intervals, the MC-dropout spread, flag / flag_warn / flag_bad and the reasons. "
        "A file that cannot be used keeps its row, flagged, with the reason.",
    )
    p.add_argument("model", type=Path, help="trained model file, e.g. "
                   "results/models/spt_mahalanobis.pt")  # fmt: skip
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH",
                   help="LAMOST LRS FITS file (.fits, .fits.gz) or a folder of them")  # fmt: skip
    p.add_argument("-o", "--output", type=Path, required=True,
                   help="output file: .fits (the catalogue's format) or .csv")  # fmt: skip
    p.add_argument("--catalog", type=Path, help="LAMOST catalogue (CSV) with obsid, snrg, "
                   "teff, logg, feh, ...: each spectrum's S/N and parameters; without it the "
                   "S/N comes from each file's header and the parameters are unknown")  # fmt: skip
    p.add_argument("--workers", type=int, default=1, help="processes reading spectra")
    p.add_argument("--threads", type=int, default=1, help="threads of the PCA and the model "
                   "(default 1, as the catalogue's jobs: their rows are then repeated bit for "
                   "bit; more threads move the last digits)")  # fmt: skip
    p.add_argument("--passes", type=int, help="MC-dropout passes (default: the model's run)")
    p.add_argument("--seed", type=int, help="MC-dropout seed (default: the model's run)")
    return parser


def _package_version() -> str:
    try:
        return version("spt-pipeline")
    except PackageNotFoundError:  # pragma: no cover (running from a source tree)
        return "unknown"


def predict_command(args: argparse.Namespace) -> int:
    """Run ``spt predict``; the rows go to ``args.output`` (FITS or CSV, atomically)."""
    suffix = args.output.name.lower()
    if not suffix.endswith((".fits", ".csv")):
        raise SystemExit(f"spt predict: {args.output}: the output must end in .fits or .csv")
    torch.set_num_threads(args.threads)
    with threadpool_limits(limits=args.threads):
        rows = predict_spectra(
            args.paths, args.model, catalog=args.catalog, passes=args.passes, seed=args.seed,
            workers=args.workers,
        )  # fmt: skip
    if suffix.endswith(".csv"):
        write_csv(rows, args.output)
    else:
        provenance = {"MODEL": args.model.name, "MODELMD5": file_md5(args.model),
                      "SOFTWARE": f"spt-pipeline {_package_version()}"}  # fmt: skip
        write_catalog_fits(rows, args.output, provenance, int(BAD_BITS))
    used = int((rows["flag"] == 0).sum())
    bad = int(rows["flag_bad"].sum())
    logging.getLogger("spt").info(
        "%d spectra: %d unflagged, %d flagged bad; written to %s", len(rows), used, bad,
        args.output,
    )  # fmt: skip
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``spt`` console script."""
    logging.basicConfig(level=logging.INFO, format="spt: %(message)s", stream=sys.stderr)
    args = _parser().parse_args(argv)
    try:
        return predict_command(args)
    except (FileNotFoundError, ModelFileError) as exc:
        print(f"spt {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
