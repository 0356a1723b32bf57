"""A throw-away single-node SLURM cluster on localhost (munged, slurmctld, slurmd) for tests.

Everything lives in one temporary directory: the munge key and socket, ``slurm.conf``,
``gres.conf``, state, spool, pid and log files. The daemons run in the foreground as children
of this process, are tracked by pid and are stopped by pid, also when the test fails.
Clients (``sbatch``, ``sinfo``, the Snakemake SLURM plugin) find the cluster through the
``SLURM_CONF`` variable in :attr:`SlurmCluster.env`; the host's ``/etc/slurm`` is never read.

Needs root (slurmd starts jobs) and the Debian packages ``slurm-wlm`` and ``munge``
(``tools/ci_install_system.sh``). :func:`unavailable_reason` says why a cluster cannot run here.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

# Daemons live in sbin, which is not always on a non-root PATH.
_SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin", "/usr/bin"])
DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "sinfo", "squeue", "scontrol", "scancel", "srun")
NODE = "localhost"


class SlurmUnavailable(RuntimeError):
    """The test cluster cannot be installed or started here; the message says why."""


def which(name: str) -> str | None:
    """Full path of a SLURM or munge program, also looking in sbin."""
    return shutil.which(name, path=_SEARCH_PATH)


def unavailable_reason() -> str | None:
    """Why no test cluster can run on this machine, or None when it can be tried."""
    if not sys.platform.startswith("linux"):
        return f"a local SLURM test cluster needs Linux, not {sys.platform}"
    if os.geteuid() != 0:
        return "a local SLURM test cluster needs root (slurmd launches the jobs)"
    missing = [name for name in (*DAEMONS, *CLIENTS) if which(name) is None]
    if missing:
        return (
            f"SLURM/munge programs not installed: {', '.join(missing)} "
            "(run tools/ci_install_system.sh as root)"
        )
    return None


def machine_size() -> tuple[int, int]:
    """CPUs usable by this process and total memory in MB (what ``slurmd -C`` would report)."""
    cpus = len(os.sched_getaffinity(0))
    with open("/proc/meminfo", encoding="ascii") as fh:
        kib = next(int(line.split()[1]) for line in fh if line.startswith("MemTotal:"))
    return cpus, kib // 1024


def _free_ports(n: int) -> list[int]:
    """``n`` distinct TCP ports on 127.0.0.1 that nothing listens on right now."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(n)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in socks]


@dataclass
class SlurmCluster:
    """A running test cluster: its directory, client environment and daemon processes."""

    root: Path
    partitions: tuple[str, ...]
    cpus: int
    memory_mb: int
    gpus: int
    env: dict[str, str] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def conf(self) -> Path:
        """The cluster's slurm.conf."""
        return self.root / "etc" / "slurm.conf"

    def run(self, *cmd: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
        """Run a SLURM client command against this cluster (never raises on failure)."""
        try:
            return subprocess.run(
                list(cmd), capture_output=True, text=True, timeout=timeout, env=self.env
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return subprocess.CompletedProcess(list(cmd), 255, "", str(exc))

    def log_tail(self, name: str, lines: int = 15) -> str:
        """The last lines of one daemon's log file (or its captured output), for messages."""
        for path in (self.root / "log" / f"{name}.log", self.root / "log" / f"{name}.out"):
            text = path.read_text(errors="replace").strip() if path.exists() else ""
            if text:
                return "\n".join(text.splitlines()[-lines:])
        return "(no log written)"

    def diagnostics(self) -> str:
        """Exit codes and log tails of every daemon."""
        parts = []
        for name, proc in self.procs.items():
            state = "running" if proc.poll() is None else f"exited {proc.returncode}"
            parts.append(f"--- {name} (pid {proc.pid}, {state}):\n{self.log_tail(name)}")
        return "\n".join(parts)

    def node_state(self) -> str:
        """The node's state as sinfo reports it (e.g. 'idle', 'down*'), or '' if unknown."""
        proc = self.run("sinfo", "--noheader", "--Node", "--format=%t", "--nodes", NODE)
        return proc.stdout.split()[0] if proc.returncode == 0 and proc.stdout.split() else ""

    def job_ids(self) -> list[str]:
        """Ids of the jobs the controller still knows about (pending, running or finished)."""
        proc = self.run("squeue", "--noheader", "--states=all", "--format=%i")
        return proc.stdout.split() if proc.returncode == 0 else []

    def stop(self, timeout: float = 10) -> None:
        """Cancel this cluster's jobs, then stop every daemon it started, by pid."""
        if self.procs.get("slurmctld") and self.procs["slurmctld"].poll() is None:
            # squeue without --states lists the jobs still pending or running.
            active = self.run("squeue", "--noheader", "--format=%i").stdout.split()
            if active:
                self.run("scancel", *active)
        # Reverse start order: slurmd, slurmctld, then munged, which they authenticate with.
        for name in reversed(list(self.procs)):
            _terminate(self.procs[name], timeout)
        self.procs.clear()


def _terminate(proc: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM one daemon (and the process group it leads), SIGKILL it if it lingers."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if proc.poll() is not None:
            break
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=timeout)
    # Each daemon leads its own process group (start_new_session); kill, by pid, what it forked
    # and left behind in that group (e.g. a job step of a job that outlived the test).
    for pid in _group_members(proc.pid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def _group_members(pgid: int) -> list[int]:
    """Pids of the live processes in process group ``pgid`` (read from /proc)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            # Fields after the parenthesised command: state, ppid, pgrp, ...
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                members.append(int(stat.parent.name))
    return members


def write_config(
    root: Path,
    *,
    partitions: Sequence[str],
    cpus: int,
    memory_mb: int,
    gpus: int,
    ports: Sequence[int],
) -> Path:
    """Write slurm.conf and gres.conf (``gpus``: 0 or 1) under ``root/etc``; return slurm.conf."""
    if gpus not in (0, 1):
        raise ValueError(f"the test node has at most one (pretend) GPU, not {gpus}")
    etc, state, spool, log, run = (root / d for d in ("etc", "state", "spool", "log", "run"))
    for path in (etc, state, spool, log, run):
        path.mkdir(parents=True, exist_ok=True)
    gres = f" Gres=gpu:{gpus}" if gpus else ""
    lines = [
        "# Single-node test cluster written by tests/support/slurm_cluster.py; not for production.",
        "ClusterName=spttest",
        f"SlurmctldHost={NODE}(127.0.0.1)",
        # Random free ports; every address below is 127.0.0.1. (CommunicationParameters=
        # NoInAddrAny would bind to the address of the machine's hostname, not localhost.)
        # Any request needs a munge credential made with this run's random key.
        f"SlurmctldPort={ports[0]}",
        f"SlurmdPort={ports[1]}",
        "AuthType=auth/munge",
        "CredType=cred/munge",
        f"AuthInfo=socket={run / 'munge.socket'}",
        "SlurmUser=root",
        "SlurmdUser=root",
        f"StateSaveLocation={state}",
        f"SlurmdSpoolDir={spool}",
        f"SlurmctldPidFile={run / 'slurmctld.pid'}",
        f"SlurmdPidFile={run / 'slurmd.pid'}",
        f"SlurmctldLogFile={log / 'slurmctld.log'}",
        f"SlurmdLogFile={log / 'slurmd.log'}",
        "SlurmctldDebug=info",
        "SlurmdDebug=info",
        # No cgroups: processes are tracked through /proc, tasks are not bound or confined.
        "ProctrackType=proctrack/linuxproc",
        "TaskPlugin=task/none",
        "JobAcctGatherType=jobacct_gather/none",
        # No slurmdbd: sacct/sacctmgr do not work, job states come from squeue.
        "AccountingStorageType=accounting_storage/none",
        "JobCompType=jobcomp/none",
        "MpiDefault=none",
        "SwitchType=switch/none",
        "SchedulerType=sched/backfill",
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_CPU_Memory",
        # A job without --mem gets 256 MB per CPU, not the whole node.
        "DefMemPerCPU=256",
        "GresTypes=gpu",
        # Finished jobs stay visible to squeue for 5 minutes (the plugin polls squeue).
        "MinJobAge=300",
        "ReturnToService=2",
        "SlurmctldTimeout=30",
        "SlurmdTimeout=60",
        "InactiveLimit=0",
        "KillWait=5",
        "Waittime=0",
        # Trust the node sizes below rather than the hardware (a test node may be declared
        # larger than the machine, e.g. to accept a GPU request without a GPU).
        "SlurmdParameters=config_overrides",
        f"PlugStackConfig={etc / 'plugstack.conf'}",
        f"NodeName={NODE} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memory_mb}{gres}"
        " State=UNKNOWN",
    ]
    for i, name in enumerate(partitions):
        default = "YES" if i == 0 else "NO"
        lines.append(
            f"PartitionName={name} Nodes={NODE} Default={default} MaxTime=INFINITE State=UP"
        )
    conf = etc / "slurm.conf"
    conf.write_text("\n".join(lines) + "\n")
    (etc / "plugstack.conf").write_text("")
    # A pretend GPU: slurmd drops a GPU without a device file, and the file must be a character
    # device, so the GPU is /dev/null (hence at most one). No autodetection (no NVML here).
    # Jobs see CUDA_VISIBLE_DEVICES=0 but no hardware: only the scheduling is real.
    gres_conf = "AutoDetect=off\n"
    if gpus:
        gres_conf += f"NodeName={NODE} Name=gpu File=/dev/null\n"
    (etc / "gres.conf").write_text(gres_conf)
    return conf


def _write_srun_shim(root: Path, conf: Path) -> Path:
    """Write ``root/bin/srun``, which runs the real srun with this cluster's SLURM_CONF.

    Inside a job the plugin's jobstep executor (snakemake-executor-plugin-slurm-jobstep 0.6)
    strips every ``SLURM_*`` variable, SLURM_CONF included, before it calls ``srun``; a real
    node has /etc/slurm/slurm.conf, ours does not. PATH travels into jobs (--export=ALL).
    """
    real = which("srun")
    assert real is not None
    bin_dir = root / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    shim = bin_dir / "srun"
    shim.write_text(
        "#!/bin/sh\n# Test cluster only: srun with the cluster's config (see slurm_cluster.py).\n"
        f'SLURM_CONF={shlex.quote(str(conf))} exec {shlex.quote(real)} "$@"\n'
    )
    shim.chmod(0o755)
    return bin_dir


def _spawn(cluster: SlurmCluster, name: str, *args: str) -> None:
    """Start one daemon in the foreground, in its own session, and remember its pid."""
    out = open(cluster.root / "log" / f"{name}.out", "wb")  # the child keeps its own copy
    exe = which(name)
    assert exe is not None
    proc = subprocess.Popen(
        [exe, *args],
        stdin=subprocess.DEVNULL,
        stdout=out,
        stderr=subprocess.STDOUT,
        env=cluster.env,
        start_new_session=True,
    )
    out.close()
    cluster.procs[name] = proc


def _wait(check: Callable[[], bool], what: str, cluster: SlurmCluster, deadline: float) -> None:
    """Poll ``check()`` until it is true; raise SlurmUnavailable at the deadline or on a crash."""
    while not check():
        dead = [n for n, p in cluster.procs.items() if p.poll() is not None]
        if dead:
            raise SlurmUnavailable(
                f"{', '.join(dead)} exited while waiting for {what}:\n{cluster.diagnostics()}"
            )
        if time.monotonic() > deadline:
            raise SlurmUnavailable(f"timed out waiting for {what}:\n{cluster.diagnostics()}")
        time.sleep(0.25)


def _node_ready(cluster: SlurmCluster) -> bool:
    """True once the node is idle; raise at once if slurmctld rejected it (drain, inval)."""
    state = cluster.node_state()
    if state.startswith(("drain", "inval", "fail")):
        reason = cluster.run("sinfo", "--noheader", "--list-reasons").stdout.strip()
        raise SlurmUnavailable(
            f"the node was rejected ({state}: {reason}):\n{cluster.diagnostics()}"
        )
    return state == "idle"


def start(
    root: Path,
    *,
    partitions: Sequence[str] = ("debug",),
    cpus: int | None = None,
    memory_mb: int | None = None,
    gpus: int = 1,
    timeout: float = 60,
) -> SlurmCluster:
    """Start a cluster in ``root`` and wait until its node is idle; raise SlurmUnavailable if not.

    ``cpus`` and ``memory_mb`` default to this machine's; ``gpus=1`` declares a pretend GPU.
    On failure every daemon already started is stopped before raising.
    """
    reason = unavailable_reason()
    if reason:
        raise SlurmUnavailable(reason)
    real_cpus, real_mem = machine_size()
    cluster = SlurmCluster(
        root=root,
        partitions=tuple(partitions),
        cpus=cpus or real_cpus,
        memory_mb=memory_mb or real_mem,
        gpus=gpus,
    )
    deadline = time.monotonic() + timeout
    try:
        ports = _free_ports(2)
        conf = write_config(
            root,
            partitions=cluster.partitions,
            cpus=cluster.cpus,
            memory_mb=cluster.memory_mb,
            gpus=gpus,
            ports=ports,
        )
        run = root / "run"
        # munged insists that its directories are not writable by group or others.
        root.chmod(0o700)
        run.chmod(0o700)
        key = run / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o600)
        bin_dir = _write_srun_shim(root, conf)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "SBATCH_"))}
        env.update(SLURM_CONF=str(conf), PATH=os.pathsep.join([str(bin_dir), _SEARCH_PATH]))
        cluster.env = env
        sock = run / "munge.socket"
        if len(str(sock)) > 100:
            raise SlurmUnavailable(f"path too long for a unix socket: {sock}")
        _spawn(
            cluster, "munged", "--foreground", "--force", f"--socket={sock}",
            f"--key-file={key}", f"--pid-file={run / 'munged.pid'}",
            f"--log-file={root / 'log' / 'munged.log'}", f"--seed-file={run / 'munged.seed'}",
        )  # fmt: skip
        _wait(sock.exists, "the munge socket", cluster, deadline)
        _spawn(cluster, "slurmctld", "-D", "-i", "-f", str(conf))
        _wait(
            lambda: " is UP" in cluster.run("scontrol", "ping").stdout,
            "slurmctld to answer",
            cluster,
            deadline,
        )
        _spawn(cluster, "slurmd", "-D", "-N", NODE, "-f", str(conf))
        _wait(lambda: _node_ready(cluster), "the node to be idle", cluster, deadline)
    except BaseException:
        cluster.stop()
        raise
    # Also stop the daemons if the caller never does (an interrupted test session).
    atexit.register(cluster.stop)
    return cluster


def main() -> None:
    """Start a cluster by hand (``python -m tests.support.slurm_cluster``) and stop it on Ctrl-C."""
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="spt-slurm-"))
    try:
        cluster = start(root, partitions=("cpu", "gpu"))
    except SlurmUnavailable as exc:
        sys.exit(f"no SLURM test cluster: {exc}")
    print(f"export SLURM_CONF={cluster.env['SLURM_CONF']} PATH={cluster.env['PATH']}")
    print("SLURM test cluster running; Ctrl-C stops it.", flush=True)
    try:
        while all(p.poll() is None for p in cluster.procs.values()):
            time.sleep(1)
        print(f"a daemon died:\n{cluster.diagnostics()}")
    except KeyboardInterrupt:
        pass
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
