#!/usr/bin/env bash
# framecast under a real SLURM (munged + slurmctld + slurmd on localhost, tests/faults/
# slurm_cluster.sh): the project's own cluster/slurm/train_1node.sbatch with 2 tasks is requeued
# mid-training (scontrol requeue: SIGTERM), then signalled (scancel --signal=USR1 -b: the batch
# shell forwards it); each time every rank checkpoints and exits 75, the job is requeued and resumes
# from its run directory (keyed by the job id). Then one rank is killed with SIGKILL: the job is
# requeued as a lost rank and resumes from its newest checkpoint. The final parameters equal an
# uninterrupted run's.
# The ranks hold at the step boundaries chosen for the two stops (test hook FRAMECAST_TEST_HOLD_STEPS)
# until the signal arrives, so nothing depends on how fast the steps or the daemons are.
# Then the acceptance command (configs/hvrnn_smmnist_tiny.pbtxt, cut to 2 steps) trains and
# checkpoints. Exits 77 (skip) with the reason only when the daemons cannot start here.
# usage: slurm_test.sh SOURCE_DIR FRAMECAST WORKDIR
set -u
src="$1"; fc="$2"; work="$3/slurm"
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/common.sh"
source "$here/slurm_cluster.sh"
rm -rf "$work"; mkdir -p "$work/submit" "$work/runs"
trap slurm_stop EXIT
slurm_start "$work/cluster" || exit $?
echo "SLURM up: $(sinfo -h -o '%P %T %c CPUs %N')"
t_start=$(date +%s)

steps=100
args=("${FC_TINY[@]}" --set stages[0].steps=$steps)
mpirun --oversubscribe -np 2 "$fc" train "${args[@]}" --set output_dir="$work/ref" >"$work/ref.log" 2>&1 ||
  { echo "FAIL: reference run"; tail "$work/ref.log"; exit 1; }

export FRAMECAST_ROOT="$src" FRAMECAST_BIN="$fc" FRAMECAST_RUNS="$work/runs"
cd "$work/submit"
# Test hook (train/faults.h): the ranks hold at global steps 20, 60 and 80 until a stop signal arrives
# (or, once the rank at 80 has been killed, the release file exists),
# so the requeue and the USR1 land at known steps however fast the steps run. sbatch hands the
# submitting environment to the job (--export=ALL), srun to the ranks.
job="$(FRAMECAST_TEST_HOLD_STEPS=20,60,80 FRAMECAST_TEST_HOLD_FILE="$work/release-80" sbatch --parsable --ntasks=2 --job-name=fctest \
  "$src/cluster/slurm/train_1node.sbatch" "${args[@]}")" || { echo "FAIL: sbatch"; exit 1; }
out="$work/submit/framecast-fctest-$job.out"
run="$work/runs/fctest-$job"
state() { scontrol show job "$job" 2>/dev/null | grep -oE 'JobState=[A-Z_]+' | cut -d= -f2; }
fail() {
  echo "FAIL: $*"; echo "--- job output"; grep -v ' step [0-9]*/' "$out" | tail -25
  echo "--- scontrol"; scontrol show job "$job" | head -12; echo "--- slurmd"; tail -8 "$work/cluster/log/slurmd.log"; exit 1
}
# wait_out REGEX SECONDS [COUNT]: until the job output has COUNT (default 1) lines matching REGEX;
# fails at once when a step could not be launched.
wait_out() {
  local i n
  for ((i = 0; i < $2 * 5; i++)); do
    n="$(grep -cE "$1" "$out" 2>/dev/null)"
    [ "${n:-0}" -ge "${3:-1}" ] && return 0
    grep -qE 'launch failed|the launcher reported success but' "$out" 2>/dev/null && fail "a job step did not launch"
    sleep 0.2
  done
  fail "no line matching '$1' (x${3:-1}) within $2 s"
}
stop_step() { grep -oE 'after checkpointing global step [0-9]+' "$out" | sed -n "$1p" | grep -oE '[0-9]+$'; }
echo "submitted job $job"
# SLURM holds a requeued job for about two minutes (its begin time); the test releases it at once.
release() {
  for i in $(seq 600); do [ "$(state)" = PENDING ] && break; sleep 0.2; done
  [ "$(state)" = PENDING ] || fail "the job is $(state), expected PENDING after its requeue"
  # Only once the node has torn down the previous run (its step daemons gone), as the hold
  # ensures: a step restarted with the same id while the old one cleans up fails to launch.
  for i in $(seq 600); do [ -z "$(slurm_stepds)" ] && break; sleep 0.2; done
  # slurmd revokes the old run's credential with a time in whole seconds and refuses a launch
  # credential created in that same second ("already killed, do not launch batch job"), which
  # fails the job: release it only once the clock has moved past the second of the teardown.
  local gone; gone="$(date +%s)"
  while [ "$(date +%s)" -le $((gone + 2)) ]; do sleep 0.2; done
  scontrol update JobId="$job" StartTime=now || fail "could not release the requeued job"
}

# 1. Requeue it mid-training (SLURM sends SIGTERM to the ranks and the batch shell).
wait_out 'test hook: holding after global step 20 ' 240 2
scontrol requeue "$job" || fail "scontrol requeue"
echo "requeued job $job while its ranks hold at global step 20"
wait_out 'stopped on signal (15|10) after checkpointing global step' 120
stop1="$(stop_step 1)"
[ "$stop1" = 20 ] || fail "the requeued run stopped at global step '$stop1', expected 20"
release
wait_out 'resumed from .*step-' 240
grep -q "resumed from $run/checkpoints/$(printf 'step-%08d' "$stop1") " "$out" || fail "resumed from the wrong step (stopped at $stop1)"
echo "run 2 resumed from global step $stop1"

# 2. Signal the batch shell, as SLURM's --signal=B:USR1@120 warning does; it forwards SIGUSR1.
wait_out 'test hook: holding after global step 60 ' 240 2
scancel --signal=USR1 -b "$job" || fail "scancel --signal=USR1"
wait_out "requeueing job $job: checkpointed on a signal" 120 2
stop2="$(stop_step 2)"
[ "$stop2" = 60 ] || fail "the signalled run stopped at global step '$stop2', expected 60"
grep -q "got SIGUSR1: asking the ranks to checkpoint" "$out" || fail "the batch shell did not forward SIGUSR1"
release
echo "run 2 checkpointed at global step $stop2 on SIGUSR1 and requeued itself"

# 3. The third run resumes; at global step 80 one rank is killed with SIGKILL (as the OOM killer
# or a crashed node would): srun takes the step down, the batch shell requeues the job (a lost
# rank, restart 2 < FRAMECAST_MAX_RESTARTS), and the fourth run resumes from step 60's checkpoint.
wait_out "resumed from $run/checkpoints/$(printf 'step-%08d' "$stop2") " 240
wait_out 'test hook: holding after global step 80 ' 240 2
victim=""
for p in $(pgrep -f "^$fc train .*output_dir=$run"); do
  grep -qz '^SLURM_PROCID=1$' "/proc/$p/environ" 2>/dev/null && victim="$p"
done
[ -n "$victim" ] || fail "could not find rank 1's process"
kill -9 "$victim"
echo "killed rank 1 (pid $victim) with SIGKILL while the ranks hold at global step 80"
wait_out "requeueing job $job: a rank or node was lost" 120
touch "$work/release-80"  # the fourth run passes global step 80 without holding
release
echo "the job requeued itself after losing a rank"

# 4. The fourth run resumes from step 60 and completes.
for i in $(seq 1200); do s="$(state)"; [ "$s" = COMPLETED ] || [ "$s" = FAILED ] && break; sleep 0.2; done
[ "$(state)" = COMPLETED ] || fail "job ended $(state), expected COMPLETED"
[ "$(grep -c "resumed from $run/checkpoints/$(printf 'step-%08d' "$stop2") " "$out")" -ge 2 ] ||
  fail "run 4 did not resume from global step $stop2 (the newest checkpoint before the kill)"
grep -q "(restart 3)" "$out" || fail "expected four runs of the job (restart 3)"
final="$run/checkpoints/$(printf 'step-%08d' $steps)"
diff <(state_digest "$fc" "$work/ref/checkpoints/$(printf 'step-%08d' $steps)") <(state_digest "$fc" "$final") ||
  fail "final parameters differ from the uninterrupted run"
echo "job $job: requeued at step $stop1, signalled at step $stop2, a rank killed at step 80, completed; final parameters bitwise equal ($(( $(date +%s) - t_start )) s)"

# 5. The acceptance command, cut short: the HVRNN config trains and writes checkpoints.
job2="$(sbatch --parsable --job-name=hvrnn "$src/cluster/slurm/train_1node.sbatch" "$src/configs/hvrnn_smmnist_tiny.pbtxt" \
  --set stages[0].steps=2 --set checkpoint.every_steps=1 --set data.global_batch=2 --set logging.every_steps=1)" || fail "sbatch hvrnn"
job="$job2"; out="$work/submit/framecast-hvrnn-$job2.out"
for i in $(seq 600); do s="$(state)"; [ "$s" = COMPLETED ] || [ "$s" = FAILED ] && break; sleep 0.5; done
[ "$(state)" = COMPLETED ] || fail "hvrnn job ended $(state)"
"$fc" ckpt verify "$(newest_step "$work/runs/hvrnn-$job2")" || fail "hvrnn checkpoint"
echo "PASS: SLURM requeue, USR1 and a rank killed with SIGKILL resume bit-exactly; sbatch train_1node.sbatch configs/hvrnn_smmnist_tiny.pbtxt trains and checkpoints ($(( $(date +%s) - t_start )) s)"
