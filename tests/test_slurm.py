"""The run-anywhere profiles: their rule names, a SLURM dry run, and a run on a real SLURM.

The real run starts a single-node SLURM on localhost (tests/support/slurm_cluster.py) and runs
the tiny configuration through ``profiles/slurm``. Where SLURM or the executor plugin is missing it
skips and says why (install: tools/ci_install_system.sh and
``pip install snakemake-executor-plugin-slurm``); SPT_REQUIRE_SLURM=1 turns those skips into
failures (for CI after the install).
"""

from __future__ import annotations

import copy
import importlib.util
import os
import re
import shlex
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import pandas as pd
import pytest
import yaml
from astropy.table import Table

from tests.conftest import REPO, run_snakemake
from tests.support.slurm_cluster import SlurmCluster, SlurmUnavailable, machine_size, start
from tests.support.system import missing

pytestmark = pytest.mark.workflow

PROFILES = REPO / "profiles"
SLURM_PROFILE = PROFILES / "slurm" / "config.yaml"
LOCAL_PROFILE = PROFILES / "local" / "config.yaml"
# The rule the SLURM profile sends to a GPU, and the CPU rule that stands in for it (with the
# same profile resources) while the workflow has no such rule yet.
GPU_RULE = "train_spt"
STAND_IN = "crossmatch"
# Rules whose jobs the tiny `data` target must submit.
DATA_RULES = {"simulate_survey", "crossmatch"}
# The stage targets the SLURM run builds when the workflow has them.
TARGETS = ("data", "model", "catalog")
PLUGIN = "snakemake_executor_plugin_slurm"


def load_profile(path: Path) -> dict[str, Any]:
    """A profile's settings as a mapping."""
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict), f"{path} is not a mapping"
    return data


def skip_or_fail(reason: str) -> NoReturn:
    """Skip with ``reason``, or fail when SPT_REQUIRE_SLURM=1 or CI=true says SLURM must be
    there (tests/support/system.py)."""
    if os.environ.get("SPT_REQUIRE_SLURM") == "1":
        pytest.fail(f"SPT_REQUIRE_SLURM=1 but {reason}")
    missing("SLURM", reason)


def require_plugin() -> None:
    """Skip (or fail) unless the SLURM executor plugin is importable."""
    if importlib.util.find_spec(PLUGIN) is None:
        skip_or_fail(
            "snakemake-executor-plugin-slurm is not installed "
            "(pip install snakemake-executor-plugin-slurm)"
        )


def list_rules(tmp_path: Path, flag: str = "--list-rules") -> set[str]:
    """Rule names Snakemake reports for this workflow (``--list-rules`` or a sibling flag)."""
    proc = run_snakemake(tmp_path, flag)
    return {line.strip() for line in proc.stdout.splitlines() if re.fullmatch(r"\s*\w+\s*", line)}


def resources_for(profile: dict[str, Any], rule: str) -> dict[str, Any]:
    """The resources a profile gives one rule: its set-resources entry over the defaults."""
    merged = dict(profile.get("default-resources") or {})
    merged.update((profile.get("set-resources") or {}).get(rule) or {})
    return merged


def test_profile_folders_have_a_profile_file():
    # An empty profiles/default/ aborts every run: each folder must hold its settings file.
    folders = [p for p in PROFILES.iterdir() if p.is_dir()]
    assert {p.name for p in folders} >= {"slurm", "local"}
    for folder in folders:
        files = {f.name for f in folder.iterdir()}
        assert files & {"config.yaml", "profile.yaml"}, f"{folder} has no profile file"


@pytest.mark.parametrize("path", [SLURM_PROFILE, LOCAL_PROFILE], ids=["slurm", "local"])
def test_set_resources_names_are_real_rules(tmp_path, path):
    # Snakemake silently ignores set-resources for a rule name that does not exist.
    rules = list_rules(tmp_path)
    assert {"simulate_survey", "crossmatch"} <= rules, rules
    named = set(load_profile(path).get("set-resources") or {})
    unknown = sorted(named - rules)
    if unknown == [GPU_RULE]:
        # The training stage is being written; a GPU rule under another name is caught by
        # test_slurm_profile_dry_run_resources (it would not go to the GPU partition).
        pytest.xfail(f"{GPU_RULE} is named in profiles/slurm but not in the workflow yet")
    assert not unknown, f"{path.relative_to(REPO)}: set-resources for unknown rules {unknown}"


def test_slurm_profile_settings():
    profile = load_profile(SLURM_PROFILE)
    assert profile["executor"] == "slurm"
    assert profile["software-deployment-method"] == "conda"
    defaults = profile["default-resources"]
    assert {"slurm_partition", "runtime", "mem_mb"} <= set(defaults)
    gpu = profile["set-resources"][GPU_RULE]
    assert gpu["gpu"] == 1 and gpu["cpus_per_gpu"] >= 1
    assert gpu["slurm_partition"] != defaults["slurm_partition"]
    # Download rules must stay on the login node (localrule in the workflow), not in here.
    assert not [r for r in profile["set-resources"] if r.startswith("fetch_")]


def test_slurm_extra_has_no_managed_flags():
    require_plugin()
    from snakemake_executor_plugin_slurm.validation import get_forbidden_slurm_options

    profile = load_profile(SLURM_PROFILE)
    entries = {"default-resources": profile.get("default-resources") or {}}
    entries.update(profile.get("set-resources") or {})
    for name, resources in entries.items():
        extra = str(resources.get("slurm_extra", ""))
        for pattern, option in get_forbidden_slurm_options().items():
            assert not re.search(pattern, extra), f"{name}: slurm_extra sets the {option}"


def test_local_profile_run(tmp_path):
    # The workstation profile alone runs the tiny survey: all cores, one GPU as a resource.
    proc = run_snakemake(tmp_path, "--profile", str(PROFILES / "local"), "data")
    out = proc.stdout + proc.stderr
    assert f"Using profile {PROFILES / 'local'}" in out
    assert re.search(r"Provided cores: [1-9]", out), out
    assert re.search(r"Provided resources: .*gpu=Resource\(\"gpu\", 1\)", out), out
    assert (tmp_path / "results/data/matched.csv").stat().st_size > 0


def dry_run_jobs(output: str) -> dict[str, dict[str, str]]:
    """rule -> the ``resources:`` Snakemake printed for its job in a dry run (one job a rule)."""
    jobs = {}
    pattern = r"^(?:rule|checkpoint) (\w+):\n((?:    .*\n?)*)"
    for rule, block in re.findall(pattern, output, re.MULTILINE):
        match = re.search(r"^    resources: (.*)$", block, re.MULTILINE)
        if match:
            jobs[rule] = dict(item.split("=", 1) for item in match.group(1).split(", "))
    return jobs


def asks_for_gpu(resources: dict[str, str]) -> bool:
    """Whether a job's resources request a GPU (as the plugin reads them)."""
    return resources.get("gpu", "0") not in ("0", "") or "gpu" in resources.get("gres", "")


def gpu_plan(tmp_path: Path) -> tuple[str, list[str]]:
    """The targets to build and the rule whose GPU request is checked: the profile's GPU rule
    when the targets reach it, else a workflow rule asking for a GPU, else the stand-in."""
    target_rules = list_rules(tmp_path, "--list-target-rules")
    targets = [t for t in TARGETS if t in target_rules]
    proc = run_snakemake(tmp_path, "-n", "--cores", "1", "--forceall", *targets)
    jobs = dry_run_jobs(proc.stdout)
    if GPU_RULE not in jobs and GPU_RULE in target_rules:
        targets.append(GPU_RULE)
        return GPU_RULE, targets
    if GPU_RULE in jobs:
        return GPU_RULE, targets
    return next((r for r, res in jobs.items() if asks_for_gpu(res)), STAND_IN), targets


def machine_profile(tmp_path: Path, gpu_rule: str) -> Path:
    """A copy of profiles/slurm for this machine: no conda (not installable here), and the
    GPU rule's resources also given to the rule checked when that is another rule."""
    profile = copy.deepcopy(load_profile(SLURM_PROFILE))
    del profile["software-deployment-method"]
    if gpu_rule != GPU_RULE:
        profile["set-resources"][gpu_rule] = dict(profile["set-resources"][GPU_RULE])
    folder = tmp_path / "profile"
    folder.mkdir()
    (folder / "config.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))
    return folder


@pytest.fixture(scope="module")
def slurm_dry_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, Any]]:
    """The GPU rule checked, and rule -> resources of a dry run with the SLURM profile.

    With the plugin installed the dry run needs no SLURM; the printed resources are the ones
    the jobs would be submitted with.
    """
    require_plugin()
    tmp_path = tmp_path_factory.mktemp("slurm_dry_run")
    gpu_rule, targets = gpu_plan(tmp_path)
    profile = machine_profile(tmp_path, GPU_RULE)
    # Every job of the default target `all` and of the stage targets.
    proc = run_snakemake(tmp_path, "--profile", str(profile), "-n", "--forceall", "all", *targets)
    assert "Using profile" in proc.stdout + proc.stderr
    return gpu_rule, dry_run_jobs(proc.stdout)


def test_slurm_profile_dry_run_resources(slurm_dry_run):
    _, jobs = slurm_dry_run
    real = load_profile(SLURM_PROFILE)
    assert DATA_RULES <= set(jobs), jobs
    for rule in DATA_RULES:
        for key, value in resources_for(real, rule).items():
            assert jobs[rule][key] == str(value), (rule, key, jobs[rule])
    # Every job of the workflow that asks for a GPU goes to the profile's GPU partition.
    gpu_partition = real["set-resources"][GPU_RULE]["slurm_partition"]
    for rule, resources in jobs.items():
        if asks_for_gpu(resources):
            assert resources["slurm_partition"] == gpu_partition, (
                f"rule {rule} asks for a GPU but profiles/slurm sends it to partition "
                f"{resources['slurm_partition']!r}: give it a set-resources entry"
            )


def test_slurm_profile_dry_run_gpu_rule(slurm_dry_run):
    gpu_rule, jobs = slurm_dry_run
    if gpu_rule != GPU_RULE:
        pytest.skip(f"the workflow has no rule {GPU_RULE} (reached by {TARGETS}) yet")
    wanted = load_profile(SLURM_PROFILE)["set-resources"][GPU_RULE]
    assert jobs[GPU_RULE]["gpu"] == "1", jobs[GPU_RULE]
    for key in ("slurm_partition", "cpus_per_gpu", "mem_mb", "runtime"):
        assert jobs[GPU_RULE][key] == str(wanted[key]), (key, jobs[GPU_RULE])


# --------------------------------------------------------------------------------------------
# A real single-node SLURM


def largest_request(profile: dict[str, Any]) -> tuple[int, int]:
    """The most CPUs and memory (MB) any one job of the profile asks for."""
    entries = [profile.get("default-resources") or {}]
    entries += [e or {} for e in (profile.get("set-resources") or {}).values()]
    cpus = max(
        max(int(e.get("cpus_per_gpu", 0)) * int(e.get("gpu", 1)), int(e.get("cpus_per_task", 1)))
        for e in entries
    )
    return cpus, max(int(e.get("mem_mb", 0)) for e in entries)


@pytest.fixture(scope="module")
def slurm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlurmCluster]:
    """A running single-node SLURM whose partitions are the profile's, stopped afterwards."""
    require_plugin()
    profile = load_profile(SLURM_PROFILE)
    partitions = [profile["default-resources"]["slurm_partition"]]
    for resources in profile["set-resources"].values():
        if resources.get("slurm_partition") not in (None, *partitions):
            partitions.append(resources["slurm_partition"])
    # The node is declared as large as the profile's largest job (a GPU job asks for 8 cores
    # and 32 GB), so the profile's own requests are accepted unchanged; nothing enforces the
    # sizes (no cgroups), and the tiny jobs use far less.
    real_cpus, real_mem = machine_size()
    cpus, mem = largest_request(profile)
    t0 = time.monotonic()
    try:
        cluster = start(
            tmp_path_factory.mktemp("slurm"),
            partitions=partitions,
            cpus=max(real_cpus, cpus),
            memory_mb=max(real_mem, mem),
            gpus=1,
            timeout=60,
        )
    except SlurmUnavailable as exc:
        skip_or_fail(f"no local SLURM test cluster: {exc}")
    print(f"SLURM test cluster up in {time.monotonic() - t0:.1f} s: {cluster.root}")
    try:
        yield cluster
    finally:
        cluster.stop()


def parse_submissions(out: str) -> dict[str, tuple[str, list[str], Path]]:
    """rule -> (SLURM job id, sbatch arguments before --wrap, SLURM log) from a verbose run."""
    calls: dict[str, list[str]] = {}
    for line in re.findall(r"^sbatch call: (sbatch .*)$", out, re.MULTILINE):
        head = shlex.split(line.split(" --wrap=", 1)[0])
        comment = head[head.index("--comment") + 1].removeprefix("rule_")
        calls[comment.split("_wildcards_")[0]] = head  # rule_<rule>[_wildcards_<values>]
    found = {}
    for jobid, log in re.findall(
        r"Job \d+ has been submitted with SLURM jobid (\d+) \(log: (.+?)\)\.", out
    ):
        # .snakemake/slurm_logs/rule_<rule>[/<wildcards>]/<jobid>.log
        rule = next(p for p in Path(log).parts if p.startswith("rule_")).removeprefix("rule_")
        found[rule] = (jobid, calls[rule], Path(log))
    return found


def flag(args: list[str], name: str) -> str | None:
    """The value of an sbatch option given as ``name value`` or ``name=value``."""
    for i, arg in enumerate(args):
        if arg == name and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def test_tiny_run_on_slurm(slurm, tmp_path, monkeypatch, tiny_run):
    gpu_rule, targets = gpu_plan(tmp_path / "plan")
    profile = machine_profile(tmp_path, gpu_rule)
    effective = load_profile(profile / "config.yaml")
    # Clients find the test cluster through SLURM_CONF; no SLURM_* of an enclosing job leaks in.
    for key in [k for k in os.environ if k.startswith(("SLURM_", "SBATCH_"))]:
        monkeypatch.delenv(key)
    for key in ("SLURM_CONF", "PATH"):
        monkeypatch.setenv(key, slurm.env[key])
    workdir = tmp_path / "work"
    t0 = time.monotonic()
    proc = run_snakemake(
        workdir,
        "--profile", str(profile),
        "--jobs", "2", "--latency-wait", "5", "--retries", "0",
        # No accounting here (sacct/sacctmgr fail): no account (plugin 2.8.0 ignores the flag,
        # but its guess fails and it submits without -A), job states from squeue, and a short
        # first status check so the test does not wait the default 40 s.
        "--slurm-no-account", "--slurm-status-command", "squeue",
        "--slurm-init-seconds-before-status-checks", "2",
        "--slurm-keep-successful-logs", "--verbose",
        *targets,
        timeout=480,
    )  # fmt: skip
    wall = time.monotonic() - t0
    out = proc.stdout + proc.stderr

    # Outputs of the tiny survey, made inside SLURM jobs.
    matched = pd.read_csv(workdir / "results/data/matched.csv")
    assert len(matched) == 240
    assert (workdir / "results/data/crossmatch_summary.csv").stat().st_size > 0

    # Every computing rule went through sbatch and got a SLURM job id.
    subs = parse_submissions(out)
    print(f"snakemake on SLURM: {wall:.1f} s; targets {targets}; GPU check on {gpu_rule}")
    for rule, (jobid, args, _) in sorted(subs.items()):
        print(f"  {rule}: jobid {jobid}: {shlex.join(args)}")
    assert DATA_RULES | {gpu_rule} <= set(subs), out
    assert not [r for r in subs if r.startswith("fetch_")]
    run_id = re.search(r"SLURM run ID: (\S+)", out)
    assert run_id, out
    states = slurm.run(
        "squeue", "--noheader", "--states=all", "--format=%i|%T|%P", "--name", run_id.group(1)
    ).stdout.split()
    by_id = {i: (state, part) for i, state, part in (s.split("|") for s in states)}

    for rule, (jobid, args, log) in subs.items():
        wanted = resources_for(effective, rule)
        assert args[:2] == ["sbatch", "--parsable"] and flag(args, "--job-name") == run_id[1]
        assert flag(args, "-A") is None, args
        assert flag(args, "-p") == wanted["slurm_partition"], args
        assert flag(args, "-t") == str(wanted["runtime"]), args
        assert flag(args, "--mem") == str(wanted["mem_mb"]), args
        # The cluster ran it to completion in the partition the profile asked for.
        assert by_id.get(jobid) == ("COMPLETED", wanted["slurm_partition"]), (rule, by_id)
        # Its SLURM log (kept) shows the job step the plugin's jobstep executor started.
        # .snakemake/slurm_logs/rule_<rule>[/<wildcards>]/<jobid>.log
        assert log.is_relative_to(workdir / ".snakemake/slurm_logs" / f"rule_{rule}"), log
        assert log.name == f"{jobid}.log", log
        assert "The call for this job is: srun" in log.read_text(), log

    # The GPU job asked for one GPU (not through slurm_extra) and was given the cluster's GPU.
    jobid, args, log = subs[gpu_rule]
    gpu_wanted = resources_for(effective, gpu_rule)
    assert flag(args, "--gpus") == "1", args
    assert flag(args, "--cpus-per-gpu") == str(gpu_wanted["cpus_per_gpu"]), args
    assert "--ntasks" not in " ".join(args), args
    # SLURM recorded the request (TresPerJob) and the GPU it allocated to the job (JOB_GRES).
    job = slurm.run("scontrol", "show", "job", "--details", jobid).stdout
    assert "TresPerJob=gres:gpu:1" in job and "JOB_GRES=gpu:1" in job, job
    assert re.search(r"srun .*--gpus=1", log.read_text()), log
    for rule in DATA_RULES - {gpu_rule}:
        assert flag(subs[rule][1], "--gpus") is None

    # The catalogue: one sbatch job per shard (150 targets, 50 a shard), and the gathered
    # catalogue equals the one of a local run of the same configuration.
    shard_jobs = re.findall(r"^sbatch call: .*--comment[ =]'?rule_catalog_shard", out, re.MULTILINE)
    assert len(shard_jobs) >= 3, out
    on_slurm = Table.read(workdir / "results/catalog/spt_catalog.fits", hdu="CATALOG")
    local = Table.read(tiny_run / "results/catalog/spt_catalog.fits", hdu="CATALOG")
    assert on_slurm.colnames == local.colnames and len(on_slurm) == len(local) == 150
    for name in on_slurm.colnames:
        a, b = np.asarray(on_slurm[name]), np.asarray(local[name])
        if a.dtype.kind == "f":
            np.testing.assert_array_equal(a, b, err_msg=name)
        else:
            assert a.tolist() == b.tolist(), name
