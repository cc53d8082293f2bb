#!/usr/bin/env bash
# Starts framecast ranks with Open MPI's mpirun on this machine.
#   launch/run.sh -np N <framecast subcommand and flags>
# One rank per slot; on a CPU-only machine with fewer cores than ranks, oversubscription is allowed
# and idle ranks yield. Environment (NCCL_*, OMP_*, FRAMECAST_*) is forwarded to every rank.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
[ "${1:-}" = "-np" ] || { echo "usage: launch/run.sh -np N <subcommand> [flags]" >&2; exit 2; }
np="$2"; shift 2
fwd=()
for v in $(env | grep -oE '^(NCCL|OMP|FRAMECAST|CUDA)_[A-Z_]*' || true); do fwd+=(-x "$v"); done
exec mpirun --oversubscribe --bind-to none --map-by slot -np "$np" \
  --mca mpi_yield_when_idle 1 "${fwd[@]}" "$FRAMECAST_BUILD_DIR/framecast" "$@"
