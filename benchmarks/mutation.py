"""Mutation testing of the pipeline's modules: does the suite catch plausible one-line bugs?

Run from the repository root (heavy: keep it niced on a shared machine)::

    nice -n 19 python benchmarks/mutation.py                       # the five default modules
    nice -n 19 python benchmarks/mutation.py spt.prep.select       # modules or packages
    nice -n 19 python benchmarks/mutation.py --files spt/io/files.py --json /tmp/m.json
    nice -n 19 python benchmarks/mutation.py spt.io --resume /tmp/m.json   # after adding tests

Time, measured on 2 cores (niced, beside other work), first pass (``--no-confirm``):
spt.io (556 mutants) 19 min, spt.catalog (564) 16 min, spt.prep (1,283, but faster tests)
11 min; step 4 then adds about 35 s per survivor. A single small module takes a minute or
two. ``--resume`` with an earlier run's ``--json`` runs only what that run did not kill (by
key; only adding tests is measured this way): spt.io's 124 survivors took 5 min. It prints
its own run time. Not part of ``.ci/run``.

How it works (nothing in the working tree is changed):

1. ``src/`` is copied to a temporary folder; the mutants are generated from that copy by
   ``tests/support/mutagen.py`` (operators listed there: comparisons, arithmetic, boolean
   operators, constants, dropped calls, swapped arguments, min/max-like names, break/continue).
2. The test files that import a mutated module (a static scan of ``tests/test_*.py``) run
   once against the copy under a line tracer, which records which lines of the mutated
   modules each test executes (and how long each test takes). Tests marked ``workflow``
   (they run Snakemake in a subprocess, minutes each) are deselected throughout: a line only
   they execute counts as run by no test.
3. Each mutant runs only the tests that execute its lines (a mutant in code that runs at
   import, such as a module constant or a default argument, runs every test of the module's
   test files), fastest first, with ``pytest -q -x -p no:cacheprovider``, in a child forked
   from a process that has already imported the heavy libraries (numpy, pandas, astropy,
   torch, ...), with the mutated copy of ``src/`` first on ``sys.path`` and ``PYTHONPATH``.
   Each mutant has a time limit (10 s + 3 x its tests' traced time); one that runs past it
   counts as killed (``timeout``: the mutant hangs).
4. A mutant that survives its covering tests is run again against every test of the test
   files that exercise the module, so a test that relies on a cached result is not missed.

Mutants on lines that no (non-workflow) test executes are not run: they are reported as
``no test`` and count as survivors. The kill rate of a module is (killed + timeout) /
(mutants - equivalent). Equivalent mutants (no input can tell them from the original) are
listed with a one-line reason in ``tests/support/equivalent_mutants.py``; an entry that no
longer matches a mutant is reported as stale.

Exit status: 0 when every module reaches ``--min-rate`` (default 90 %), 1 otherwise.
"""

from __future__ import annotations

import argparse
import ast
import compileall
import contextlib
import gc
import importlib
import json
import os
import shutil
import signal
import sys
import tempfile
import time
import warnings
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.support.equivalent_mutants import EQUIVALENT  # noqa: E402
from tests.support.mutagen import Mutant, apply, iter_modules, mutants_of  # noqa: E402

DEFAULT_MODULES = ["spt.sources.download", "spt.validation", "spt.prep", "spt.io", "spt.catalog"]
#: Plugins left out to save time per mutant: ``unraisableexception`` (its clean-up runs
#: gc.collect five times over a heap that holds torch and pandas, 0.4 s), ``hypothesispytest``
#: (imports and assertion-rewrites all of hypothesis at the end of a run, 1.2 s; no test
#: here uses hypothesis) and ``benchmark`` (no test uses its fixture).
PYTEST_ARGS = ["-q", "-p", "no:cacheprovider", "-p", "no:unraisableexception",
               "-p", "no:hypothesispytest", "-p", "no:benchmark",
               "-m", "not workflow", "--tb=line"]  # fmt: skip
TIMEOUT_BASE_S = 10.0
TIMEOUT_FACTOR = 3.0


# --------------------------------------------------------------------------- test map
def imported_modules(test_file: Path) -> set[str]:
    """Dotted names of the ``spt`` modules a test file imports (anywhere in the file)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(test_file.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return {n for n in names if n == "spt" or n.startswith("spt.")}


def test_files_by_module(dotted: Iterable[str]) -> dict[str, list[str]]:
    """Module -> the test files (relative to the repository) that import it."""
    wanted = set(dotted)
    out: dict[str, list[str]] = {m: [] for m in wanted}
    for test in sorted((REPO / "tests").glob("test_*.py")):
        for name in imported_modules(test) & wanted:
            out[name].append(test.relative_to(REPO).as_posix())
    return out


# --------------------------------------------------------------------------- coverage
class LineTracer:
    """A pytest plugin: the lines of the target files each test executes, and its time."""

    def __init__(self, targets: dict[str, str], out: Path) -> None:
        self.targets = targets  # absolute path of a mutated module's copy -> path under src/
        self.out = out
        self.current: dict[str, set[int]] = defaultdict(set)
        self.tests: dict[str, dict] = {}
        self.failed: set[str] = set()

    def _global(self, frame, event, arg):
        rel = self.targets.get(frame.f_code.co_filename)
        if rel is None:
            return None
        lines = self.current[rel]
        lines.add(frame.f_lineno)

        def local(frame, event, arg):
            if event == "line":
                lines.add(frame.f_lineno)
            return local

        return local

    def pytest_configure(self, config) -> None:
        import threading

        sys.settrace(self._global)
        threading.settrace(self._global)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item, nextitem):
        self.current = defaultdict(set)
        start = time.perf_counter()
        yield
        self.tests[item.nodeid] = {
            "file": item.nodeid.split("::")[0],
            "seconds": time.perf_counter() - start,
            "lines": {rel: sorted(v) for rel, v in self.current.items()},
        }
        self.current = defaultdict(set)

    def pytest_runtest_logreport(self, report) -> None:
        if report.failed:
            self.failed.add(report.nodeid)

    def pytest_sessionfinish(self, session) -> None:
        import threading

        sys.settrace(None)
        threading.settrace(None)  # type: ignore[arg-type]
        modules = sorted(
            name
            for name, mod in list(sys.modules.items())
            if not _is_ours(name, getattr(mod, "__file__", None))
        )
        self.out.write_text(
            json.dumps({"tests": self.tests, "failed": sorted(self.failed), "modules": modules})
        )


def _is_ours(name: str, file: str | None) -> bool:
    """Modules that must be imported afresh by each mutant's run (ours, or beside ours)."""
    top = name.split(".")[0]
    if top in {"spt", "tests", "conftest", "__main__", "__mp_main__"} or top.startswith("test_"):
        return True
    return file is not None and (str(REPO) in file or file.startswith(tempfile.gettempdir()))


# --------------------------------------------------------------------------- children
def fork_pytest(src: Path, args: list[str], log: Path, plugins: list[object] = ()) -> int:
    """Fork a child that runs pytest with ``src`` first on the path; returns its pid."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        return pid
    code = 99
    try:
        os.setpgid(0, 0)
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.chdir(REPO)
        sys.path.insert(0, str(src))
        os.environ["PYTHONPATH"] = os.pathsep.join([str(src), str(REPO)])
        os.environ.setdefault("PYTHONHASHSEED", "0")
        sys.dont_write_bytecode = True  # the mutated module must never leave a .pyc behind
        code = int(pytest.main(args, plugins=list(plugins)))
        spt = sys.modules.get("spt")
        if spt is not None and not str(spt.__file__).startswith(str(src)):
            print(f"MUTATION-TOOL: spt imported from {spt.__file__}, not from {src}")
            code = 98
    except BaseException as exc:
        with contextlib.suppress(Exception):
            print(f"MUTATION-TOOL: child failed: {exc!r}")
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def wait(pid: int, limit: float | None = None) -> int | None:
    """Exit code of child ``pid`` (None when it ran past ``limit`` s and was killed)."""
    start = time.monotonic()
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if limit is not None and time.monotonic() - start > limit:
            kill(pid)
            return None
        time.sleep(0.02)


def kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def preimport(modules: list[str]) -> int:
    """Import in this process what the tests imported, so that each fork starts warm."""
    n = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in modules:
            if name in sys.modules:
                continue
            try:
                with open(os.devnull, "w") as null, contextlib.redirect_stdout(null):
                    importlib.import_module(name)
                n += 1
            except BaseException:
                continue
    return n


# --------------------------------------------------------------------------- results
@dataclass
class Result:
    mutant: Mutant
    group: str  #: the module named on the command line that holds it
    status: str = "pending"  # killed, timeout, survived, no test, equivalent, error
    tests: list[str] = field(default_factory=list)
    seconds: float = 0.0
    killer: str = ""


def killer_of(log: Path) -> str:
    """The first failing test named in a pytest log (for the report)."""
    with contextlib.suppress(OSError):
        for line in log.read_text(errors="replace").splitlines():
            if line.startswith(("FAILED ", "ERROR ")):
                return line.split(" - ")[0].split(" ", 1)[1]
    return ""


def _import_broke(log: Path) -> bool:
    """pytest exit 4 with a test module that no longer imports: the named tests (collected
    fine from the unmutated code) have no collector left. The mutant is caught."""
    text = log.read_text(errors="replace")
    return "ERROR collecting" in text or "found no collectors" in text


def run_all(
    jobs: list[Result],
    slots: list[Path],
    base_sources: dict[str, str],
    durations: dict[str, float],
    extra_args: list[str],
    what: str,
) -> None:
    """Run each job's mutant against its tests, ``len(slots)`` at a time."""
    pending = list(jobs)
    running: dict[int, tuple[int, Result, float, float]] = {}
    done = 0
    t0 = time.monotonic()
    try:
        while pending or running:
            for slot in range(len(slots)):
                if slot in running or not pending:
                    continue
                res = pending.pop(0)
                m = res.mutant
                target = slots[slot] / m.path
                target.write_text(apply(base_sources[m.path], m))
                with contextlib.suppress(FileNotFoundError):
                    for pyc in (target.parent / "__pycache__").glob(target.stem + ".*.pyc"):
                        pyc.unlink()
                limit = TIMEOUT_BASE_S + TIMEOUT_FACTOR * sum(
                    durations.get(t, 1.0) for t in res.tests
                )
                args = [*PYTEST_ARGS, "-x", *extra_args, *res.tests]
                pid = fork_pytest(slots[slot], args, slots[slot].parent / "log.txt")
                running[slot] = (pid, res, time.monotonic(), limit)
            time.sleep(0.02)
            for slot, (pid, res, start, limit) in list(running.items()):
                finished, status = os.waitpid(pid, os.WNOHANG)
                elapsed = time.monotonic() - start
                if not finished and elapsed <= limit:
                    continue
                if finished:
                    code = os.waitstatus_to_exitcode(status)
                else:
                    kill(pid)
                    code = None
                del running[slot]
                res.seconds = elapsed
                log = slots[slot].parent / "log.txt"
                if code is None:
                    res.status = "timeout"
                elif code == 0:
                    res.status = "survived"
                elif code in (1, 2, 3) or code < 0 or (code == 4 and _import_broke(log)):
                    res.status = "killed"
                    res.killer = killer_of(log) or "collection (the mutant breaks an import)"
                else:  # 4: usage error, 5: no tests ran, 98/99: the tool itself
                    res.status = "error"
                    res.killer = f"exit {code}: " + " | ".join(log.read_text().splitlines()[-3:])
                m = res.mutant
                (slots[slot] / m.path).write_text(base_sources[m.path])
                done += 1
                if done % 25 == 0 or done == len(jobs):
                    rate = (time.monotonic() - t0) / done
                    print(f"  {what}: {done}/{len(jobs)} mutants, {rate:.2f} s each", flush=True)
    finally:
        for pid, *_ in running.values():
            kill(pid)


# --------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "modules", nargs="*", help=f"modules or packages (default {DEFAULT_MODULES})"
    )
    parser.add_argument("--files", nargs="*", default=[], help="only these paths under src/")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--json", type=Path, help="write every mutant's result here")
    parser.add_argument("--min-rate", type=float, default=90.0)
    parser.add_argument("--list", action="store_true", help="list the mutants and stop")
    parser.add_argument("--no-confirm", action="store_true", help="skip step 4 (faster)")
    parser.add_argument(
        "--resume",
        type=Path,
        metavar="JSON",
        help="a --json file of an earlier run: its killed and timeout mutants (by key) keep "
        "that status and are not run again; the others run",
    )
    args = parser.parse_args(argv)
    t_start = time.monotonic()
    groups = args.modules or DEFAULT_MODULES

    work = Path(tempfile.mkdtemp(prefix="spt-mutation-"))
    try:
        return _main(args, groups, work, t_start)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _main(args: argparse.Namespace, groups: list[str], work: Path, t_start: float) -> int:
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    base = work / "base" / "src"
    shutil.copytree(REPO / "src", base, ignore=ignore)

    # 1. mutants
    results: list[Result] = []
    sources: dict[str, str] = {}
    dotted_of: dict[str, str] = {}
    for group in groups:
        for rel, dotted in iter_modules([group], base):
            if args.files and rel not in args.files:
                continue
            sources[rel] = (base / rel).read_text()
            dotted_of[rel] = dotted
            results += [Result(m, group) for m in mutants_of(sources[rel], rel)]
    if not results:
        print("no mutants: check the module names and --files")
        return 2
    print(f"{len(results)} mutants in {len(sources)} files ({', '.join(groups)})")
    if args.list:
        for r in results:
            print(f"{r.mutant.where}  {r.mutant.operator:9}  {r.mutant.key}")
        return 0

    # 2. which tests run which lines
    by_module = test_files_by_module(dotted_of.values())
    files_of = {rel: by_module[dotted_of[rel]] for rel in sources}
    test_files = sorted({f for fs in files_of.values() for f in fs})
    targets = {str(base / rel): rel for rel in sources}
    cov_path = work / "coverage.json"
    t = time.monotonic()
    tracer = LineTracer(targets, cov_path)
    pid = fork_pytest(base, [*PYTEST_ARGS, *test_files], work / "coverage-log.txt", [tracer])
    code = wait(pid)
    if not cov_path.exists() or code not in (0, 1):
        print((work / "coverage-log.txt").read_text()[-3000:])
        print(f"the traced run of the tests failed (exit {code})")
        return 2
    cov = json.loads(cov_path.read_text())
    tests: dict[str, dict] = cov["tests"]
    bad = set(cov["failed"])
    if bad:
        print(f"WARNING: {len(bad)} tests fail on the unmutated code, left out: {sorted(bad)[:5]}")
    durations = {t: v["seconds"] for t, v in tests.items()}
    print(
        f"traced run: {len(tests)} tests in {len(test_files)} files, {time.monotonic() - t:.0f} s"
    )
    n = preimport(cov["modules"])
    gc.freeze()  # the forks need not scan what this process imported
    print(f"pre-imported {n} modules")

    index: dict[tuple[str, int], set[str]] = defaultdict(set)
    runs_module: dict[str, set[str]] = defaultdict(set)
    for nodeid, info in tests.items():
        if nodeid in bad:
            continue
        for rel, lines in info["lines"].items():
            runs_module[rel].add(nodeid)
            for line in lines:
                index[rel, line].add(nodeid)
    for rel in sources:
        for nodeid, info in tests.items():
            if info["file"] in files_of[rel] and nodeid not in bad:
                runs_module[rel].add(nodeid)

    def by_speed(ids: set[str]) -> list[str]:
        return sorted(ids, key=lambda i: (durations.get(i, 0.0), i))

    earlier = killed_in(args.resume) if args.resume else {}
    to_run: list[Result] = []
    for r in results:
        m = r.mutant
        if m.runtime:
            ids: set[str] = set()
            for line in range(m.lineno, m.end_lineno + 1):
                ids |= index.get((m.path, line), set())
        else:
            ids = set(runs_module[m.path])
        r.tests = by_speed(ids)
        if m.key in earlier:
            r.status, r.killer, r.seconds = earlier[m.key]
        elif not ids:
            r.status = "no test"
        else:
            to_run.append(r)

    # 3. run the mutants
    slots = []
    for i in range(max(1, args.jobs)):
        slot = work / f"slot{i}" / "src"
        shutil.copytree(base, slot, ignore=ignore)
        compileall.compile_dir(slot, quiet=2)
        slots.append(slot)
    t = time.monotonic()
    kept = sum(r.mutant.key in earlier for r in results)
    idle = len(results) - len(to_run) - kept
    print(f"running {len(to_run)} mutants ({kept} killed earlier, {idle} on lines no test runs)")
    run_all(to_run, slots, sources, durations, [], "mutants")
    print(f"mutants run in {time.monotonic() - t:.0f} s")

    # 4. survivors against every test of their module's test files
    survivors = [r for r in to_run if r.status == "survived"]
    if survivors and not args.no_confirm:
        for r in survivors:
            r.tests = by_speed(runs_module[r.mutant.path] | set(r.tests))
        t = time.monotonic()
        run_all(survivors, slots, sources, durations, [], "confirming survivors")
        print(f"survivors confirmed in {time.monotonic() - t:.0f} s")

    return report(results, groups, args, t_start)


def killed_in(path: Path) -> dict[str, tuple[str, str, float]]:
    """Key -> (status, killer, seconds) of the mutants a ``--json`` file says were killed."""
    return {
        r["key"]: (r["status"], r["killer"], r["seconds"])
        for r in json.loads(path.read_text())
        if r["status"] in ("killed", "timeout")
    }


def report(results: list[Result], groups: list[str], args: argparse.Namespace, t0: float) -> int:
    keys = {r.mutant.key for r in results}
    for r in results:
        if r.mutant.key in EQUIVALENT:
            r.status = "equivalent" if r.status in ("survived", "no test") else r.status
    print()
    header = f"{'module':24} {'mutants':>7} {'killed':>7} {'timeout':>7} {'survived':>8} " \
             f"{'no test':>7} {'equiv.':>6} {'error':>5} {'kill rate':>9}"  # fmt: skip
    print(header)
    worst = 100.0
    for group in groups:
        rs = [r for r in results if r.group == group]
        if not rs:
            continue
        c = {s: sum(r.status == s for r in rs) for s in
             ("killed", "timeout", "survived", "no test", "equivalent", "error")}  # fmt: skip
        denominator = len(rs) - c["equivalent"]
        rate = 100.0 * (c["killed"] + c["timeout"]) / denominator if denominator else 100.0
        worst = min(worst, rate)
        print(
            f"{group:24} {len(rs):7d} {c['killed']:7d} {c['timeout']:7d} {c['survived']:8d} "
            f"{c['no test']:7d} {c['equivalent']:6d} {c['error']:5d} {rate:8.1f}%"
        )
    left = [r for r in results if r.status in ("survived", "no test", "error")]
    if left:
        print(f"\nsurvivors ({len(left)}):")
        for r in sorted(left, key=lambda r: (r.mutant.path, r.mutant.lineno)):
            tag = {"no test": "  [no test runs this line]", "error": f"  [error: {r.killer}]"}
            print(f"  {r.mutant.where}  {r.mutant.operator}: {r.mutant.key}{tag.get(r.status, '')}")
    in_scope = {r.mutant.path for r in results}
    stale = [k for k in EQUIVALENT if k.split("::")[0] in in_scope and k not in keys]
    if stale and not args.files:
        print(f"\nstale entries in tests/support/equivalent_mutants.py ({len(stale)}):")
        for k in stale:
            print(f"  {k}")
    if args.json:
        args.json.write_text(
            json.dumps(
                [
                    {**r.mutant.__dict__, "key": r.mutant.key, "group": r.group,
                     "status": r.status, "seconds": round(r.seconds, 2), "killer": r.killer,
                     "n_tests": len(r.tests)}
                    for r in results
                ],
                indent=1,
            )
        )  # fmt: skip
    minutes, seconds = divmod(time.monotonic() - t0, 60)
    print(f"\nrun time: {int(minutes)} min {seconds:.0f} s ({args.jobs} jobs)")
    return 0 if worst >= args.min_rate else 1


if __name__ == "__main__":
    sys.exit(main())
