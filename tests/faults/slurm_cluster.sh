# A one-node SLURM cluster on localhost for the tests (sourced): munged, slurmctld and slurmd run as
# root from a private directory with a generated slurm.conf; no cgroups, no accounting.
#
#   slurm_start DIR   starts the daemons (returns 77 with a reason on stderr when they cannot run)
#   slurm_stop        cancels the jobs, kills what is left of them (step daemons and their
#                     processes), stops the daemons (safe to call twice; the tests call it from an
#                     EXIT trap)
#   slurm_stepds      the step daemons (slurmstepd) of this cluster, one process id a line
# After slurm_start, SLURM_CONF points at the config, so sbatch/squeue/scontrol/scancel use it.

SLURM_PIDS=()
SLURM_DIR=""

# slurm_stepds: the step daemons of this cluster (they inherit SLURM_CONF from slurmd).
slurm_stepds() {
  local p
  [ -n "$SLURM_DIR" ] || return 0
  for p in $(pgrep -x slurmstepd); do
    grep -qz "^SLURM_CONF=$SLURM_DIR/slurm.conf\$" "/proc/$p/environ" 2>/dev/null && echo "$p"
  done
}

_slurm_tree() {  # a process and its descendants, children first
  local c
  for c in $(ps -o pid= --ppid "$1" 2>/dev/null); do _slurm_tree "$c"; done
  echo "$1"
}

slurm_stop() {
  local p s
  # Jobs first, while the daemons still run: cancelled, then anything left of them killed.
  if [ -n "$SLURM_DIR" ] && [ ${#SLURM_PIDS[@]} -gt 0 ]; then
    scancel --quiet --user=root 2>/dev/null
    for _ in $(seq 100); do [ -z "$(slurm_stepds)" ] && break; sleep 0.2; done
    for s in $(slurm_stepds); do kill -9 $(_slurm_tree "$s") 2>/dev/null; done
  fi
  for p in "${SLURM_PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${SLURM_PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null
  done
  SLURM_PIDS=()
}

slurm_start() {
  local d="$1" host port
  SLURM_DIR="$d"
  for b in munged mungekey slurmctld slurmd sbatch scontrol squeue scancel; do
    command -v "$b" >/dev/null || { echo "SKIP: $b is not installed (launch/setup.sh installs munge, slurmctld, slurmd)" >&2; return 77; }
  done
  [ "$(id -u)" -eq 0 ] || { echo "SKIP: the SLURM test starts the daemons as root; running as $(id -un)" >&2; return 77; }
  host="$(hostname -s)"
  # Ports: a free pair chosen from the process id, so two checkouts on one machine do not collide.
  port=$(( 20000 + ($$ % 2000) * 2 ))
  mkdir -p "$d"/{munge,state,spool,log,tmp}
  chmod 700 "$d/munge"
  mungekey -c -k "$d/munge/munge.key" -b 1024 2>/dev/null || dd if=/dev/urandom of="$d/munge/munge.key" bs=1024 count=1 status=none
  chmod 400 "$d/munge/munge.key"
  munged -f --key-file="$d/munge/munge.key" --socket="$d/munge/munge.socket" \
    --pid-file="$d/munge/munged.pid" --log-file="$d/log/munged.log" --seed-file="$d/munge/seed" ||
    { echo "SKIP: munged does not start: $(tail -2 "$d/log/munged.log")" >&2; return 77; }
  SLURM_PIDS+=("$(cat "$d/munge/munged.pid")")
  cat >"$d/slurm.conf" <<CONF
ClusterName=framecast-test
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$port
SlurmdPort=$((port + 1))
AuthType=auth/munge
AuthInfo=socket=$d/munge/munge.socket
CredType=cred/munge
StateSaveLocation=$d/state
SlurmdSpoolDir=$d/spool
TmpFS=$d/tmp
SlurmctldPidFile=$d/slurmctld.pid
SlurmdPidFile=$d/slurmd.pid
SlurmctldLogFile=$d/log/slurmctld.log
SlurmdLogFile=$d/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/builtin
MpiDefault=none
ReturnToService=2
KillWait=60
MinJobAge=600
JobRequeue=1
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
NodeName=$host CPUs=2 State=UNKNOWN
PartitionName=test Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:2
CONF
  export SLURM_CONF="$d/slurm.conf"
  slurmctld -D -i -f "$SLURM_CONF" >"$d/log/slurmctld.out" 2>&1 &
  SLURM_PIDS+=($!)
  slurmd -D -f "$SLURM_CONF" -N "$host" >"$d/log/slurmd.out" 2>&1 &
  SLURM_PIDS+=($!)
  local i
  for i in $(seq 200); do
    if sinfo -h -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then return 0; fi
    for p in "${SLURM_PIDS[@]}"; do
      kill -0 "$p" 2>/dev/null || {
        echo "SKIP: a SLURM daemon exited at start-up:" >&2
        tail -3 "$d"/log/slurmctld.log "$d"/log/slurmd.log "$d"/log/*.out >&2 2>/dev/null; return 77; }
    done
    sleep 0.2
  done
  echo "SKIP: the SLURM node never became idle: $(sinfo 2>&1 | tail -2)" >&2
  tail -3 "$d"/log/slurmctld.log "$d"/log/slurmd.log >&2 2>/dev/null
  return 77
}
