#!/usr/bin/env bash
# Install the system programs some tests need on a Debian/Ubuntu CI machine, as root:
#  - SLURM (slurmctld, slurmd, sbatch/srun/sinfo/squeue/scontrol/scancel) and munge for
#    tests/test_slurm.py (the test starts its own daemons; no service is started here);
#  - Chromium for tests/test_workflow.py::test_report_opens_in_headless_chromium.
#
# Idempotent (a group already there is left alone), quiet, and it always exits 0 so that the
# test run reports the damage: where it cannot install (no root, no apt, no network), it says
# so, and a test whose program is missing then skips with its reason on a developer's machine
# but FAILS when CI=true (tests/support/system.py; .ci/run sets CI=true). Python side:
# pip install snakemake-executor-plugin-slurm (in the "test" and "slurm" extras).
set -u

say() { echo "ci_install_system: $*" >&2; }

# What a missing program does to its test: skip, or fail under CI=true.
if [ "${CI:-}" = "true" ]; then consequence="its test will FAIL (CI=true)"; else
  consequence="its test will skip"; fi

have_all() {
  local p
  for p in "$@"; do
    PATH="$PATH:/usr/sbin:/sbin" command -v "$p" >/dev/null 2>&1 || return 1
  done
}

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  have_all slurmctld slurmd sbatch srun munged chromium ||
    say "not root or no apt-get: cannot install SLURM/Chromium; $consequence"
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

LOG=/tmp/ci_install_system.log
updated=0

# install_group NAME "PACKAGES" PROGRAMS...: apt-get update only when the package lists do not
# know the packages (once per run).
install_group() {
  local name=$1 packages=$2
  shift 2
  if have_all "$@"; then
    say "$name already installed"
    return
  fi
  # shellcheck disable=SC2086
  if ! { apt-cache show $packages >/dev/null 2>&1 &&
    apt-get install -y -qq --no-install-recommends $packages >>"$LOG" 2>&1; }; then
    if [ "$updated" -eq 0 ]; then
      apt-get update -qq >>"$LOG" 2>&1
      updated=1
    fi
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $packages >>"$LOG" 2>&1
  fi
  if have_all "$@"; then
    say "installed $name"
  else
    say "could not install $name; $consequence; apt log:"
    tail -n 5 "$LOG" >&2
  fi
}

install_group "SLURM and munge" "slurmctld slurmd slurm-client munge" \
  slurmctld slurmd sbatch srun sinfo squeue scontrol scancel munged
install_group "Chromium" "chromium" chromium
exit 0
