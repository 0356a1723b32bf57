"""Mutation check: each mutant must make its test file fail.

``python tests/support/mutants.py [name-fragment ...]`` copies src/ to a temporary folder,
applies one mutant there (the working tree is never touched), runs the mutant's test file
against the copy (PYTHONPATH first) and prints KILLED or SURVIVED; exits with the number of
survivors. Not a pytest module: it runs the suite many times.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
#: (what the mutant breaks, file under src/, original text, mutated text, test file)
MUTANTS = [
    (
        "crossmatch: spectrum near two stars -> first star",
        "spt/prep/crossmatch.py",
        'pairs.sort_values(["i_cat", "separation_arcsec", "i_seis"]',
        'pairs.sort_values(["i_cat", "i_seis", "separation_arcsec"]',
        "tests/test_crossmatch.py",
    ),
    (
        "crossmatch: NaN S/N ranked first",
        "spt/prep/crossmatch.py",
        "fillna(-np.inf)",
        "fillna(np.inf)",
        "tests/test_crossmatch.py",
    ),
    (
        "read_predictions accepts non-finite rows",
        "spt/io/predictions.py",
        "    if bad.any():\n        raise PredictionFormatError",
        "    if False:\n        raise PredictionFormatError",
        "tests/test_predictions_io.py",
    ),
    (
        "median_rel_residual returns the mean",
        "spt/validation/metrics.py",
        "100.0 * np.median(_relative(pred, true))",
        "100.0 * np.mean(_relative(pred, true))",
        "tests/test_metrics.py",
    ),
    (
        "atomic_path leaves its temp file on failure",
        "spt/io/files.py",
        "        tmp.unlink(missing_ok=True)",
        "        pass",
        "tests/test_files_logs.py",
    ),
    (
        "atomic_path writes the target in place",
        "spt/io/files.py",
        "        yield tmp\n",
        "        yield final\n",
        "tests/test_files_logs.py",
    ),
    (
        "log_to does not restore stderr",
        "spt/logs.py",
        "            sys.stderr = old_stderr\n",
        "            pass\n",
        "tests/test_files_logs.py",
    ),
    (
        "log_to leaves its handler",
        "spt/logs.py",
        "            root.removeHandler(handler)\n        return",
        "            pass\n        return",
        "tests/test_files_logs.py",
    ),
    (
        "log_to drops the traceback",
        "spt/logs.py",
        '            root.exception("step failed")',
        "            pass",
        "tests/test_files_logs.py",
    ),
    (
        "classify retries DNS failures",
        "spt/sources/download.py",
        "    if permanent_cause(exc) is not None:\n        return PermanentError",
        "    if False:\n        return PermanentError",
        "tests/test_fetch.py",
    ),
    (
        "no -9999 masking",
        "spt/io/lamost.py",
        "    frame = mask_no_value(frame)\n",
        "",
        "tests/test_lamost_io.py",
    ),
    (
        "DR1 obsid matched on fiberid only",
        "spt/io/lamost.py",
        "        same &= catalog[col]",
        "        same = catalog[col]",
        "tests/test_lamost_io.py",
    ),
    (
        "model file: torch error passes through",
        "spt/model/store.py",
        "    except Exception as exc:  # torch raises",
        "    except KeyError as exc:  # torch raises",
        "tests/test_model_store.py",
    ),
]


def main() -> int:
    """Run every mutant (or those whose name contains an argument); return the survivors."""
    only = sys.argv[1:]
    failures = 0
    for name, rel, old, new, test in MUTANTS:
        if only and not any(o in name for o in only):
            continue
        with tempfile.TemporaryDirectory() as tmp:
            failures += not run_one(Path(tmp), name, rel, old, new, test)
    return failures


def run_one(work: Path, name: str, rel: str, old: str, new: str, test: str) -> bool:
    """Apply one mutant to a copy of src/ in ``work``; True when its test file fails."""
    shutil.copytree(REPO / "src", work / "src")
    target = work / "src" / rel
    text = target.read_text()
    if text.count(old) != 1:
        raise SystemExit(f"{name}: the original text occurs {text.count(old)} times in {rel}")
    target.write_text(text.replace(old, new))
    env = {**os.environ, "PYTHONPATH": str(work / "src")}
    where = subprocess.run(
        [sys.executable, "-c", "import spt; print(spt.__file__)"],
        cwd=REPO, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if not where.stdout.startswith(str(work)):
        raise SystemExit(f"the mutated copy is not the one imported: {where.stdout}{where.stderr}")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", test],
        cwd=REPO, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    failed = [line for line in proc.stdout.splitlines() if line.startswith("FAILED")][:2]
    killed = proc.returncode != 0
    print(f"{'KILLED' if killed else 'SURVIVED'}: {name} ({test}) {failed}")
    return killed


if __name__ == "__main__":
    sys.exit(main())
