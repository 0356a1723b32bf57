"""Benchmark: the catalogue at survey scale, the goal of docs/scale.md (LAMOST DR10's 1.1e7
stellar spectra: a million on one machine, all of them on SLURM). It measures what grows with
the number of spectra N on this machine, each in a fresh process (peak RSS from os.wait4):

- catalog_targets (spt.catalog.targets): a LAMOST-layout catalogue of N rows (gzipped CSV, the
  mock's rows under new obsids) cut to giants and written as shards;
- Snakemake planning `snakemake -n catalog` with 500 (catalog.max_shards), 1,000 and 10,000
  shards waiting (a copy of the run, hard links, new target shards);
- catalog_gather (spt.catalog.fits.write_catalog) of 1e5 and 1e6 rows (1e7 with --huge) from
  fake shards (the run's shard rows under new obsids, every star observed twice, its two
  spectra in different shards), and the in-memory path (gather + write_catalog_fits) beside it;
  the STARS table's share of the time;
- the shard chain's throughput per core beside its ceilings (read + gunzip, PCA projection, MC
  dropout), from benchmarks/bench_catalog.py;
and how each grows with N (the exponent b of time or memory ~ N^b between two sizes).

Run, from the repository root, on a finished default run (`snakemake --cores 2`):
    python benchmarks/bench_scale.py --run /path/to/finished/run
About 15 minutes on 2 cores (the fake shards are kept in --work for the next time); --huge adds
the 1e7-row gather (about 15 minutes more and 8 GB of disk). Prints figures; not a test.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
import bench_catalog  # noqa: E402  (the shard chain's measurements, the config, N_SURVEY)
from bench_catalog import N_SURVEY, _config  # noqa: E402

OBSID0 = 10**9  # fake obsids start here (the mock's are below)


def _measure(cmd: list[str], cwd: Path | None = None) -> tuple[float, float, str]:
    """(seconds, peak RSS in MiB, stdout) of one command in a fresh process; raises on failure."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True, cwd=cwd)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak RSS (KiB on Linux)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode:
            raise RuntimeError(f"{cmd[:4]}... failed ({proc.returncode}):\n{err.read()[-3000:]}")
        return seconds, usage.ru_maxrss / 1024, out.read()


def _child(*args: str) -> tuple[float, float, dict]:
    """Run this script's hidden ``args`` mode in a fresh process: seconds, MiB, its JSON."""
    seconds, rss, out = _measure([sys.executable, __file__, *args])
    return seconds, rss, json.loads(out.strip().splitlines()[-1])


def _growth(n: tuple[float, float], y: tuple[float, float]) -> str:
    """The exponent b of y ~ N^b between two sizes."""
    return f"N^{math.log(y[1] / y[0]) / math.log(n[1] / n[0]):.2f}"


# -- inputs ------------------------------------------------------------------------------------


def _run_rows(run: Path) -> pd.DataFrame:
    """The finished run's catalogue rows, as its shard files hold them."""
    paths = sorted((run / "results/catalog/shards").glob("s*.csv"))
    if not paths:
        sys.exit(f"{run}: no results/catalog/shards/*.csv (not a finished default run)")
    frames = [pd.read_csv(p, keep_default_na=True, dtype={"designation": str}) for p in paths]
    return pd.concat(frames, ignore_index=True).sort_values("obsid", ignore_index=True)


def fake_shards(run: Path, n: int, work: Path) -> Path:
    """A folder of shard files holding ``n`` catalogue rows, cut as catalog_targets cuts n
    targets (catalog.shard_size and max_shards): the run's rows repeated under new obsids,
    copies 2k and 2k+1 sharing their designations (each star observed twice, far apart)."""
    from spt.catalog.targets import shard_names, shard_size_for

    folder = work / f"shards_{n}"
    if (folder / "complete").exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    base = _run_rows(run)
    cfg = _config()["catalog"]
    size = shard_size_for(n, cfg["shard_size"], cfg["max_shards"])
    designation = base["designation"].fillna("").astype(str).to_numpy(dtype=object)
    for i, name in enumerate(shard_names(n, size)):
        idx = np.arange(i * size, min(n, (i + 1) * size))
        rows = base.iloc[idx % len(base)].reset_index(drop=True)
        rows["obsid"] = OBSID0 + idx
        star = designation[idx % len(base)]
        pair = (idx // len(base) // 2).astype(str).astype(object)
        rows["designation"] = np.where(star != "", star + "-" + pair, "")
        rows.to_csv(folder / f"{name}.csv", index=False)
    (folder / "complete").write_text(str(n))
    return folder


def fake_lamost_catalog(run: Path, n: int, work: Path) -> Path:
    """A LAMOST-layout catalogue (gzipped CSV, as LAMOST serves it) of ``n`` rows: the mock
    field survey's catalogue repeated under new obsids."""
    path = work / f"lamost_{n}.csv.gz"
    if path.exists():
        return path
    base = pd.read_csv(run / "resources/simulated/field/lamost_catalog.csv")
    rows = base.iloc[np.arange(n) % len(base)].reset_index(drop=True)
    rows["obsid"] = OBSID0 + np.arange(n)
    tmp = path.with_suffix(".part")
    rows.to_csv(tmp, index=False, compression={"method": "gzip", "compresslevel": 1})
    tmp.rename(path)
    return path


# -- the measurements --------------------------------------------------------------------------


def _targets_job(catalog: str, out: str) -> dict:
    """catalog_targets on a LAMOST catalogue (child process)."""
    from spt.catalog.targets import shard_size_for, targets_from_catalog, write_shards

    cfg = _config()["catalog"]
    t0 = time.perf_counter()
    targets = targets_from_catalog(catalog, cfg["lamost"]["cuts"])
    t1 = time.perf_counter()
    size = shard_size_for(len(targets), cfg["shard_size"], cfg["max_shards"])
    names = write_shards(targets, size, out)
    t2 = time.perf_counter()
    return {"targets": len(targets), "shards": len(names), "shard_size": size,
            "read_cut_s": t1 - t0, "write_shards_s": t2 - t1}  # fmt: skip


def _gather_job(folder: str, out: str, in_memory: bool) -> dict:
    """catalog_gather on a folder of shards (child process): streamed, or held in memory."""
    from spt.catalog.fits import gather, write_catalog, write_catalog_fits
    from spt.catalog.stars import combine_spectra

    paths = sorted(Path(folder).glob("s*.csv"))
    if in_memory:
        t0 = time.perf_counter()
        frame = gather(paths)
        t1 = time.perf_counter()
        stars = combine_spectra(frame)
        t2 = time.perf_counter()
        write_catalog_fits(frame, out, {"SOURCE": "bench"}, 0, stars)
        return {"rows": len(frame), "stars": len(stars), "stars_s": t2 - t1,
                "seconds": {"read": t1 - t0, "stars": t2 - t1,
                            "write": time.perf_counter() - t2}}  # fmt: skip
    done = write_catalog(paths, out, {"SOURCE": "bench"}, 0)
    return {"rows": done.rows, "stars": done.stars, "multi": done.stars_multi,
            "buckets": done.buckets, "seconds": done.seconds}  # fmt: skip


def bench_targets(run: Path, work: Path, sizes: list[int]) -> None:
    print("catalog_targets (LAMOST catalogue, gzipped CSV -> giants -> shard files):")
    got = {}
    for n in sizes:
        catalog = fake_lamost_catalog(run, n, work)
        out = work / f"targets_{n}"
        shutil.rmtree(out, ignore_errors=True)
        seconds, rss, r = _child("--_targets", str(catalog), str(out))
        got[n] = (seconds, rss)
        mb = catalog.stat().st_size / 1e6
        print(f"  N = {n:>10,} rows ({mb:,.0f} MB gz): {r['targets']:,} giants, "
              f"{r['shards']} shards of {r['shard_size']:,}; {seconds:6.1f} s "
              f"(read + cut {r['read_cut_s']:.1f} s, write shards {r['write_shards_s']:.1f} s), "
              f"peak RSS {rss:,.0f} MiB")  # fmt: skip
        shutil.rmtree(out, ignore_errors=True)
    a, b = sizes[0], sizes[-1]
    print(f"  grows as time {_growth((a, b), (got[a][0], got[b][0]))}, "
          f"memory {_growth((a, b), (got[a][1], got[b][1]))}")  # fmt: skip


def plan_workdir(run: Path, work: Path, n_shards: int) -> Path:
    """A copy of the run (hard links: nothing in it is written) whose catalogue targets are
    ``n_shards`` shard files waiting to be predicted."""
    where = work / "plan"
    if not where.exists():
        where.mkdir(parents=True)
        for part in ("resources", "results"):
            subprocess.run(["cp", "-al", str(run / part), str(where / part)], check=True)
    catalog = where / "results/catalog"
    shutil.rmtree(catalog)  # links only: the run's own files stay
    (catalog / "targets").mkdir(parents=True)
    header = "obsid,path,designation,ra,dec,snrg,teff,logg,feh\n"
    for i in range(n_shards):
        (catalog / "targets" / f"s{i:05d}.csv").write_text(header)
    pd.DataFrame({"quantity": ["shards"], "count": [n_shards]}).to_csv(
        catalog / "targets_summary.csv", index=False
    )
    (catalog / "target_problems.csv").write_text("path,problem\n")
    return where


def slurm_profile(work: Path) -> Path:
    """profiles/slurm without its conda line (a dry run with conda needs conda installed)."""
    profile = yaml.safe_load((REPO / "profiles/slurm/config.yaml").read_text())
    profile.pop("software-deployment-method", None)
    folder = work / "slurm_profile"
    folder.mkdir(exist_ok=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))
    return folder


def bench_planning(run: Path, work: Path, counts: list[int]) -> None:
    print("Snakemake planning: `snakemake -n catalog` with the shards' targets written "
          "(locally, and with profiles/slurm's executor):")  # fmt: skip
    got = {}
    for n in counts:
        where = plan_workdir(run, work, n)
        cmd = [sys.executable, "-m", "snakemake", "catalog", "-s", str(REPO / "Snakefile"),
               "-n", "--directory", str(where), "--rerun-triggers", "mtime"]  # fmt: skip
        seconds, rss, out = _measure([*cmd, "--cores", "2"])
        jobs = sum(1 for line in out.splitlines() if line.startswith("rule catalog_shard:"))
        got[n] = seconds
        slurm_s, slurm_rss, _ = _measure([*cmd, "--profile", str(slurm_profile(work))])
        print(f"  {n:>6,} shards: {jobs:,} shard jobs planned in {seconds:6.1f} s, "
              f"peak RSS {rss:,.0f} MiB; with profiles/slurm {slurm_s:6.1f} s, "
              f"{slurm_rss:,.0f} MiB")  # fmt: skip
    a, b = counts[-2], counts[-1]
    print(f"  grows as {_growth((a, b), (got[a], got[b]))} in the number of shards")


def bench_gather(run: Path, work: Path, sizes: list[int], in_memory: list[int]) -> None:
    print("catalog_gather (shard CSVs -> spt_catalog.fits; each in a fresh process):")
    got = {}
    for n in sizes:
        t0 = time.perf_counter()
        folder = fake_shards(run, n, work)
        made = time.perf_counter() - t0
        size = sum(p.stat().st_size for p in folder.glob("s*.csv")) / 1e6
        out = work / "catalog.fits"
        for memory in (False, True) if n in in_memory else (False,):
            seconds, rss, r = _child(
                "--_gather", str(folder), str(out), *(["--in-memory"] * memory)
            )
            fits_mb = out.stat().st_size / 1e6
            how = (
                "in memory (gather + write_catalog_fits)" if memory else "streamed (write_catalog)"
            )
            phases = ", ".join(f"{k} {v:.1f}" for k, v in r["seconds"].items())
            print(f"  N = {n:>10,} rows ({len(list(folder.glob('s*.csv')))} shards, "
                  f"{size:,.0f} MB CSV{f', made in {made:.0f} s' if made > 1 else ''}) "
                  f"{how}: {seconds:6.1f} s ({phases}), peak RSS {rss:,.0f} MiB; "
                  f"{r['stars']:,} stars; FITS {fits_mb:,.0f} MB")  # fmt: skip
            if not memory:
                got[n] = (seconds, rss)
        out.unlink(missing_ok=True)
    a, b = sizes[0], sizes[-1]
    print(
        f"  streamed: time grows as {_growth((a, b), (got[a][0], got[b][0]))}, peak RSS as "
        f"{_growth((a, b), (got[a][1], got[b][1]))} ({got[a][1]:,.0f} -> {got[b][1]:,.0f} MiB)"
    )
    rate = b / got[b][0]
    minutes = N_SURVEY / rate / 60
    print(f"  at {rate:,.0f} rows/s: {N_SURVEY:,} rows (LAMOST DR10) in ~{minutes:.0f} min")


def bench_chain(run: Path, n: int) -> None:
    """The shard chain's spectra per second per core beside its ceilings (bench_catalog): on
    400 and ``n`` spectra, each in a fresh process with imports and the model load, and the
    rate of the spectra between them (what a survey-scale shard of 10^4 spectra runs at)."""
    stages = bench_catalog._stages(run, 400)
    small, big = (bench_catalog._in_fresh_process(run, k, 1) for k in (400, n))
    steady = (big["n"] - small["n"]) / (big["wall_s"] - small["wall_s"])
    print("shard chain on one core (mock spectra; imports and model load included):")
    for r in (small, big):
        rate = r["n"] / r["wall_s"]
        print(f"  {r['n']:>6,} spectra in {r['wall_s']:5.1f} s: {rate:5.0f} spectra/s/core, "
              f"peak RSS {r['rss_mib']:,.0f} MiB")  # fmt: skip
    print(f"  beyond the first 400 (survey-size shards): {steady:.0f} spectra/s/core "
          f"(goal >= 100); ceilings, each stage alone on 400 spectra:")  # fmt: skip
    for name in ("read + gunzip (I/O floor)", "PCA"):
        print(f"  {name:<28} {400 / stages[name]:>9,.0f} spectra/s/core")
    mc = next(k for k in stages if k.startswith("MC dropout"))
    print(f"  {mc:<28} {400 / stages[mc]:>9,.0f} spectra/s/core")
    from spt.catalog.targets import shard_size_for

    hours = N_SURVEY / steady / 3600
    cfg = _config()["catalog"]
    shard = shard_size_for(N_SURVEY, cfg["shard_size"], cfg["max_shards"])
    shards = -(-N_SURVEY // shard)
    print(f"  {N_SURVEY:,} spectra: {hours:,.0f} core-hours; {shards} shards of {shard:,} "
          f"spectra, {shard / steady / 60:.1f} min each; wall {60 * hours / 100:,.0f} min on "
          f"100 cores, {60 * hours / 1000:,.1f} min on 1,000 (perfectly parallel)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, help="a finished default run")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "spt_scale",
                        help="scratch folder (fake inputs are kept for next time)")  # fmt: skip
    parser.add_argument("--huge", action="store_true", help="also gather 1e7 rows")
    parser.add_argument("--only", nargs="+", choices=["targets", "plan", "gather", "chain"],
                        default=["targets", "plan", "gather", "chain"])  # fmt: skip
    parser.add_argument("--_targets", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--_gather", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--in-memory", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._targets:
        print(json.dumps(_targets_job(*args._targets)))
        return
    if args._gather:
        print(json.dumps(_gather_job(*args._gather, args.in_memory)))
        return
    if args.run is None or not (args.run / "results/catalog/spt_catalog.fits").exists():
        parser.error("--run must be a finished default run (results/catalog/spt_catalog.fits)")
    run = args.run.resolve()
    args.work.mkdir(parents=True, exist_ok=True)
    print(f"machine: {os.cpu_count()} CPU(s); run {run}; scratch {args.work}")
    if "targets" in args.only:
        bench_targets(run, args.work, [100_000, 1_000_000])
    if "plan" in args.only:
        bench_planning(run, args.work, [500, 1_000, 10_000])
    if "gather" in args.only:
        sizes = [100_000, 1_000_000] + ([10_000_000] if args.huge else [])
        bench_gather(run, args.work, sizes, in_memory=[100_000, 1_000_000])
    if "chain" in args.only:
        bench_chain(run, 2_000)


if __name__ == "__main__":
    main()
