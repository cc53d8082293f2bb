#!/usr/bin/env bash
# framecast vs PyTorch DistributedDataParallel on the same small model, per-rank batch and threads,
# 2 CPU ranks started the same way (mpirun, default core binding), in one invocation: ROUNDS alternating rounds (framecast, DDP, framecast, DDP, ...),
# each printing its median ms/step; the comparison uses the median over rounds of each side, which
# keeps a noisy shared machine from favouring whichever side ran in a quiet moment.
#   ROUNDS=3 bench/ddp_compare.sh [--batch 32 --image 64 --width 16 --steps 30 --threads 1]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/../launch/env.sh"
args=("$@")
rounds="${ROUNDS:-3}"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
fc_all=(); py_all=()
for r in $(seq 1 "$rounds"); do
  fc_out="$(mpirun --oversubscribe -np 2 "$FRAMECAST_BUILD_DIR/framecast" bench step --sync-bn 0 "${args[@]}" 2>&1)" ||
    { echo "$fc_out"; exit 1; }
  echo "round $r: $(grep -v '^RESULT' <<<"$fc_out")"
  fc_all+=("$(sed -n 's/^RESULT framecast_ms_per_step=//p' <<<"$fc_out")")
  py_out="$(mpirun --oversubscribe -np 2 -x OMP_NUM_THREADS "$(framecast_python)" \
    "$here/peers/ddp_demo.py" "${args[@]}" 2>&1)" || { echo "$py_out"; exit 1; }
  echo "round $r: $(grep '^pytorch-ddp' <<<"$py_out")"
  py_all+=("$(sed -n 's/^RESULT ddp_ms_per_step=//p' <<<"$py_out")")
done
# For transparency: the peer once more with framecast's allocator settings given to glibc by
# environment (framecast applies them itself at start-up; see src/util/allocator.h).
tuned="$(mpirun --oversubscribe -np 2 -x OMP_NUM_THREADS -x MALLOC_MMAP_THRESHOLD_=268435456 \
  -x MALLOC_TRIM_THRESHOLD_=1073741824 -x MALLOC_TOP_PAD_=67108864 "$(framecast_python)" \
  "$here/peers/ddp_demo.py" "${args[@]}" 2>&1 | grep '^pytorch-ddp')" || true
echo "extra:   pytorch-ddp given framecast's malloc settings: ${tuned#pytorch-ddp: }"
python3 - "${fc_all[*]}" "${py_all[*]}" <<'PY'
import statistics, sys
fc = [float(x) for x in sys.argv[1].split()]
py = [float(x) for x in sys.argv[2].split()]
f, p = statistics.median(fc), statistics.median(py)
print(f"median over {len(fc)} rounds: framecast {f:.2f} ms/step, PyTorch DDP {p:.2f} ms/step")
print(f"best round: framecast {min(fc):.2f} ms/step, PyTorch DDP {min(py):.2f} ms/step "
      f"(ratio {min(fc) / min(py):.3f})")
print(f"framecast / DDP step time (medians): {f / p:.3f} (target <= 1.0)")
PY
