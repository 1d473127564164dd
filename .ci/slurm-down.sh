#!/usr/bin/env bash
# Stop the throwaway cluster started by slurm-up.sh with the same $SLURM_CI_DIR: its jobs, then its
# daemons by their PID files (munged only if slurm-up.sh started it), then its configuration.
S=${SLURM_CI_DIR:-/tmp/ci-slurm}
CONF=/etc/slurm/slurm.conf
grep -qx "ClusterName=taskgrouping-ci" "$CONF" 2>/dev/null || exit 0
# Every job on this cluster was submitted to it by its user; no other cluster is addressed.
scancel --user="$(id -un)" 2>/dev/null || true
pids=("$S/slurmd.pid" "$S/slurmctld.pid")
[ -e "$S/munged.ours" ] && pids+=(/run/munge/munged.pid)
for f in "${pids[@]}"; do
  [ -s "$f" ] || continue
  p=$(cat "$f")
  # The PID may belong to another process by now if the daemon died early.
  grep -qa -e slurmctld -e slurmd -e munged "/proc/$p/cmdline" 2>/dev/null || continue
  kill "$p" 2>/dev/null || continue
  for _ in $(seq 1 50); do
    kill -0 "$p" 2>/dev/null || break
    sleep 0.2
  done
  # slurmd ignores SIGTERM while it retries to register with a controller that is gone.
  kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null
done
rm -f "$CONF" /etc/slurm/gres.conf "$S/munged.ours"
