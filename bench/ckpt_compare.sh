#!/usr/bin/env bash
# framecast checkpoints vs raw write+fsync vs torch.distributed.checkpoint, 1 GiB state, on 1 and 2
# ranks, in one invocation, on the disk holding DIR (default: bench-ckpt in the current directory).
#   bench/ckpt_compare.sh [--bytes 1G] [--dir DIR]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/../launch/env.sh"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
bytes=1073741824; dir=bench-ckpt
while [ $# -gt 0 ]; do
  case "$1" in
    --bytes) bytes="$(numfmt --from=iec "$2")"; shift 2 ;;
    --dir) dir="$2"; shift 2 ;;
    *) echo "usage: bench/ckpt_compare.sh [--bytes 1G] [--dir DIR]" >&2; exit 2 ;;
  esac
done
for np in 1 2; do
  mpirun --oversubscribe -np "$np" "$FRAMECAST_BUILD_DIR/framecast" bench ckpt --bytes "$bytes" --dir "$dir" | grep -v '^RESULT'
  mpirun --oversubscribe -np "$np" -x OMP_NUM_THREADS "$(framecast_python)" "$here/peers/dcp_save.py" \
    --bytes "$bytes" --dir "$dir-dcp" 2>&1 | grep -v '^RESULT' | grep -v -i warn
done
