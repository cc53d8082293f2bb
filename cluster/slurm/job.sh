#!/usr/bin/env bash
# The body shared by framecast's sbatch scripts (sourced by them; not submitted itself).
#
#   FRAMECAST_LAUNCHER=srun|mpirun source cluster/slurm/job.sh [CONFIG] [framecast train flags...]
#
# - The run directory is keyed by the job: $FRAMECAST_RUNS/<job name>-<job id> (default
#   FRAMECAST_RUNS=$SLURM_SUBMIT_DIR/runs). A requeued job keeps its id, so it finds its own
#   checkpoints there and resumes from the newest one automatically.
# - Signals: SLURM's early warning (--signal=B:USR1@120) and `scancel --signal=USR1 -b` reach this
#   shell, which forwards SIGUSR1 to the ranks; a preemption or `scontrol requeue` sends SIGTERM,
#   forwarded the same way. framecast checkpoints at the next step boundary and exits with 75.
# - Exit statuses of `framecast train` (docs/clusters.md):
#     0 done; 75 checkpointed and stopped on a signal: this script requeues the job;
#     1, 2 a config, data or command-line error, and 65 non-finite values (last good state
#        checkpointed): not requeued (the same job would fail again);
#     anything else: a failure of the machines, not of the run: 69 (the watchdog stopped a lost
#        collective, or the launcher claimed success for a run that is not complete), a rank
#        killed by a signal or the OOM killer (srun/mpirun report 128 + signal, e.g. 137), a lost
#        node (mpirun 205, srun's own failures): requeued while SLURM_RESTART_COUNT is below
#        FRAMECAST_MAX_RESTARTS (default 3); the requeued job resumes from the newest checkpoint.
# Environment: FRAMECAST_ROOT (the checkout; default $SLURM_SUBMIT_DIR), FRAMECAST_BIN (default
# $FRAMECAST_BUILD_DIR/framecast), FRAMECAST_RUNS, FRAMECAST_MAX_RESTARTS, NCCL_* (forwarded).
set -uo pipefail

FRAMECAST_ROOT="${FRAMECAST_ROOT:-${SLURM_SUBMIT_DIR:-$PWD}}"
source "$FRAMECAST_ROOT/launch/env.sh"
FRAMECAST_BIN="${FRAMECAST_BIN:-$FRAMECAST_BUILD_DIR/framecast}"
FRAMECAST_RUNS="${FRAMECAST_RUNS:-${SLURM_SUBMIT_DIR:-$PWD}/runs}"
FRAMECAST_MAX_RESTARTS="${FRAMECAST_MAX_RESTARTS:-3}"
launcher="${FRAMECAST_LAUNCHER:-srun}"

# "node slots=N" per node of the allocation, from SLURM_JOB_NODELIST and SLURM_TASKS_PER_NODE.
slurm_hostfile() {
  local counts=() part n reps i hosts
  IFS=',' read -ra parts <<<"${SLURM_TASKS_PER_NODE:-1}"
  for part in "${parts[@]}"; do
    if [[ "$part" =~ ^([0-9]+)\(x([0-9]+)\)$ ]]; then
      n="${BASH_REMATCH[1]}"; reps="${BASH_REMATCH[2]}"
    elif [[ "$part" =~ ^[0-9]+$ ]]; then
      n="$part"; reps=1
    else
      return 1
    fi
    for ((i = 0; i < reps; i++)); do counts+=("$n"); done
  done
  mapfile -t hosts < <(scontrol show hostnames "${SLURM_JOB_NODELIST:-$(hostname)}" 2>/dev/null || hostname)
  [ "${#hosts[@]}" -eq "${#counts[@]}" ] || return 1
  for i in "${!hosts[@]}"; do echo "${hosts[$i]} slots=${counts[$i]}"; done
}

config=()
if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then config=("$1"); shift; fi
run_dir="$FRAMECAST_RUNS/${SLURM_JOB_NAME:-framecast}-${SLURM_JOB_ID:-local}"
mkdir -p "$FRAMECAST_RUNS"
log() { echo "[framecast-job $(date +%H:%M:%S)] $*"; }
log "job ${SLURM_JOB_ID:-?} (restart ${SLURM_RESTART_COUNT:-0}) on ${SLURM_JOB_NODELIST:-?}:" \
  "${SLURM_NTASKS:-1} rank(s) via $launcher, run directory $run_dir"

# One rank per task; OpenMP threads per rank from the CPUs SLURM gave each task. Slurm 22.05+ no
# longer passes --cpus-per-task from sbatch to srun: SRUN_CPUS_PER_TASK carries it.
if [ -n "${SLURM_CPUS_PER_TASK:-}" ]; then export SRUN_CPUS_PER_TASK="$SLURM_CPUS_PER_TASK"; fi
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-${SLURM_CPUS_PER_TASK:-1}}"
cmd=("$FRAMECAST_BIN" train "${config[@]}" --set "output_dir=$run_dir" "$@")
case "$launcher" in
  srun)
    # --kill-on-bad-exit: a rank that dies takes the step down at once (the watchdog covers the
    # ranks a lost node leaves behind). --mpi: PMIx where SLURM has it, else SLURM's default.
    mpi=()
    if srun --mpi=list 2>&1 | grep -q pmix; then mpi=(--mpi=pmix); fi
    # One rank per GPU by default: with GPUs on the nodes and no tasks per node asked for, the step
    # gets SLURM_GPUS_ON_NODE tasks per node (every rank sees all of its node's GPUs and binds one
    # by local rank, so CUDA IPC between ranks stays possible).
    layout=()
    if [ -z "${SLURM_NTASKS_PER_NODE:-}" ] && [ "${SLURM_GPUS_ON_NODE:-0}" -gt 0 ] 2>/dev/null; then
      layout=(--ntasks-per-node="$SLURM_GPUS_ON_NODE" --ntasks=$(( ${SLURM_JOB_NUM_NODES:-1} * SLURM_GPUS_ON_NODE )))
      log "one rank per GPU: ${layout[*]}"
    fi
    srun --kill-on-bad-exit=1 "${mpi[@]}" "${layout[@]}" "${cmd[@]}" &
    ;;
  mpirun)
    # Open MPI reads the allocation itself (one rank per task; ranks mapped by node).
    fwd=()
    for v in $(env | grep -oE '^(NCCL|OMP|FRAMECAST|CUDA|UCX)_[A-Z0-9_]*' || true); do fwd+=(-x "$v"); done
    # The allocation as a hostfile: each node of SLURM_JOB_NODELIST with its share of the tasks
    # (SLURM_TASKS_PER_NODE, e.g. "8(x2),4"), so --nodes=2 --ntasks=16 starts 16 ranks, not 32.
    hostfile="$run_dir.hosts"
    mkdir -p "$(dirname "$hostfile")"
    if ! slurm_hostfile >"$hostfile"; then log "could not build a hostfile from the allocation"; exit 1; fi
    log "mpirun hostfile $hostfile: $(tr '\n' ' ' <"$hostfile")"
    mpirun --hostfile "$hostfile" -np "${SLURM_NTASKS:-1}" --map-by slot --bind-to none \
      "${fwd[@]}" "${cmd[@]}" &
    ;;
  *) log "unknown FRAMECAST_LAUNCHER=$launcher"; exit 2 ;;
esac
pid=$!
forward() { log "got SIG$1: asking the ranks to checkpoint and stop"; kill -USR1 "$pid" 2>/dev/null; }
trap 'forward USR1' USR1
trap 'forward TERM' TERM
# `wait` returns early when a trapped signal arrives; wait again until the launcher is gone.
rc=0
lost="the watchdog stopped a lost collective"
while :; do
  wait "$pid"; rc=$?
  kill -0 "$pid" 2>/dev/null || break
done
trap - USR1 TERM
log "framecast exited with status $rc"
if [ "$rc" -eq 0 ]; then
  # A step that failed to launch can report success: trust the run directory, not the launcher.
  newest="$(ls -d "$run_dir"/checkpoints/step-* 2>/dev/null | while read -r d; do [ -f "$d/MANIFEST.pb" ] && echo "$d"; done | sort | tail -n1)"
  if [ -z "$newest" ] || "$FRAMECAST_BIN" ckpt inspect "$newest" 2>/dev/null | grep -qE '^  stage +[^ ]+ +(RUNNING|PENDING) '; then
    log "the launcher reported success but the run is not complete (a failed launch?)"; rc=69
    lost="the launcher failed"
  fi
fi
requeue() {
  log "requeueing job $SLURM_JOB_ID: $1"
  scontrol requeue "$SLURM_JOB_ID" || log "scontrol requeue failed (already requeued by SLURM?)"
}
case "$rc" in
  0) log "run complete: $run_dir" ;;
  75) [ -n "${SLURM_JOB_ID:-}" ] && requeue "checkpointed on a signal" ;;
  65) log "stopped on non-finite values; last good state checkpointed in $run_dir (not requeued)" ;;
  1|2) log "a config, data or command-line error (not requeued): see the messages above" ;;
  *) if [ "$rc" -ne 69 ]; then
       lost="a rank or node was lost (status $rc"
       [ "$rc" -gt 128 ] && [ "$rc" -lt 192 ] && lost="$lost: signal $((rc - 128))"
       lost="$lost)"
     fi
     if [ -z "${SLURM_JOB_ID:-}" ]; then
       :
     elif [ "${SLURM_RESTART_COUNT:-0}" -lt "$FRAMECAST_MAX_RESTARTS" ]; then
       requeue "$lost"
     else
       log "not requeued: $lost, and the job was restarted ${SLURM_RESTART_COUNT:-0} time(s) (FRAMECAST_MAX_RESTARTS=$FRAMECAST_MAX_RESTARTS)"
     fi ;;
esac
exit "$rc"
