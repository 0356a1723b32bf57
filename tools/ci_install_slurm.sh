#!/usr/bin/env bash
# Install what tests/test_slurm.py needs on a Debian/Ubuntu CI machine, as root: SLURM
# (slurmctld, slurmd, the clients sbatch/srun/sinfo/squeue/scontrol/scancel) and munge.
# The test starts its own daemons in a temporary directory; no service is started here.
#
# Idempotent (does nothing when everything is there), quiet, and it always exits 0: where it
# cannot install (no root, no apt, no network), it says so and the SLURM test skips with its
# reason. Python side: pip install snakemake-executor-plugin-slurm (the "slurm" extra).
set -u

PACKAGES=(slurmctld slurmd slurm-client munge)
PROGRAMS=(slurmctld slurmd sbatch srun sinfo squeue scontrol scancel munged)

have_all() {
  local p
  for p in "${PROGRAMS[@]}"; do
    PATH="$PATH:/usr/sbin:/sbin" command -v "$p" >/dev/null 2>&1 || return 1
  done
}

say() { echo "ci_install_slurm: $*" >&2; }

if have_all; then
  say "SLURM and munge already installed"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  say "not root: cannot install ${PACKAGES[*]} (the SLURM test will skip)"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  say "no apt-get: cannot install ${PACKAGES[*]} (the SLURM test will skip)"
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive
# Keep the packages' maintainer scripts from starting system services (the test runs its own
# daemons); only when the machine has no policy of its own, removed again on exit.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy"
  trap 'rm -f "$policy"' EXIT
fi

install() {
  apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/tmp/ci_install_slurm.log 2>&1
}

# apt-get update only when the package lists do not know the packages or are stale.
if ! { apt-cache show "${PACKAGES[@]}" >/dev/null 2>&1 && install; }; then
  apt-get update -qq >/tmp/ci_install_slurm.log 2>&1 && install
fi

if have_all; then
  say "installed ${PACKAGES[*]}"
else
  say "could not install ${PACKAGES[*]} (the SLURM test will skip); apt log:"
  tail -n 5 /tmp/ci_install_slurm.log >&2
fi
exit 0
