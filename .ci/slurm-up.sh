#!/usr/bin/env bash
# Start a throwaway single-node SLURM cluster on 127.0.0.1, without systemd (run as root).
# State, logs, PID files and the job-completion log live under $SLURM_CI_DIR; stop it with
# slurm-down.sh and the same $SLURM_CI_DIR. Exit status 3: a SLURM setup that is not ours is
# present, and this script leaves it alone.
set -euo pipefail
S=${SLURM_CI_DIR:-/tmp/ci-slurm}
CONF=/etc/slurm/slurm.conf
GRES=/etc/slurm/gres.conf
# The executor's jobstep plugin drops every SLURM_* variable (SLURM_CONF too) before its inner srun,
# so the configuration has to sit at the default path.
MARK="ClusterName=taskgrouping-ci"

if { [ -e "$CONF" ] || [ -e "$GRES" ]; } && ! grep -qx "$MARK" "$CONF" 2>/dev/null; then
  echo "slurm-up: $CONF or $GRES exists and was not written by this script; not touching it" >&2
  exit 3
fi
if [ -e "$CONF" ] && scontrol ping 2>/dev/null | grep -q UP; then
  echo "slurm-up: a throwaway cluster from this script is already running; stop it first" >&2
  exit 3
fi

mkdir -p "$S"/{state,spool,log}
export DEBIAN_FRONTEND=noninteractive
if ! command -v slurmctld >/dev/null; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null
fi
[ -s /etc/munge/munge.key ] || { mungekey --create --force; chown munge:munge /etc/munge/munge.key; }
install -d -o munge -g munge -m 0755 /run/munge
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  runuser -u munge -- /usr/sbin/munged
  # slurm-down.sh stops munged only when this script started it.
  touch "$S/munged.ours"
fi

node=$(slurmd -C -f /dev/null | head -1 | sed 's/^NodeName=[^ ]*//; s/ UpTime=.*//')
mkdir -p /etc/slurm
# MinJobAge: finished jobs stay visible to squeue long enough for the executor's status checks.
# DefMemPerCPU: without it a job takes all the node's memory and jobs run one at a time.
# JobCompType=jobcomp/filetxt: one line per finished job, for tests to count what ran here.
# The gpu partition's one GPU exists only on paper (its device file is /dev/null): GPU requests are
# scheduled and recorded like on a real cluster, while the jobs compute on whatever the machine has.
cat > "$GRES" <<CONF
NodeName=localhost Name=gpu File=/dev/null Count=1
CONF
cat > "$CONF" <<CONF
$MARK
SlurmctldHost=localhost
SlurmUser=root
AuthType=auth/munge
StateSaveLocation=$S/state
SlurmdSpoolDir=$S/spool
SlurmctldPidFile=$S/slurmctld.pid
SlurmdPidFile=$S/slurmd.pid
SlurmctldLogFile=$S/log/slurmctld.log
SlurmdLogFile=$S/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
MpiDefault=none
ReturnToService=2
MinJobAge=600
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=$S/log/jobcomp.txt
GresTypes=gpu
NodeName=localhost NodeAddr=127.0.0.1 $node Gres=gpu:1 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP DefMemPerCPU=1000
PartitionName=gpu Nodes=localhost MaxTime=INFINITE State=UP DefMemPerCPU=1000
CONF
# In the foreground, as this script's background jobs: their PIDs are known even when a daemon
# stops before writing its own PID file. -i: ignore state left in the same folder.
slurmctld -D -i >"$S/log/slurmctld.out" 2>&1 </dev/null &
echo $! >"$S/slurmctld.pid"
slurmd -D -N localhost >"$S/log/slurmd.out" 2>&1 </dev/null &
echo $! >"$S/slurmd.pid"
for _ in $(seq 1 60); do
  sinfo -h -o %t 2>/dev/null | grep -qx idle && break
  sleep 0.5
done
sinfo -h -o %t | grep -qx idle || { echo "slurm-up: node did not become idle" >&2; exit 1; }
sinfo
