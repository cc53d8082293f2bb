#!/usr/bin/env bash
# Starts framecast ranks with Open MPI's mpirun, on this machine or on the hosts of a hostfile.
#
#   launch/run.sh -np N <framecast subcommand and flags>                  # this machine
#   launch/run.sh --hostfile HOSTS -np N <framecast subcommand and flags> # several nodes
#
# Defaults: one rank per slot (a hostfile's slots = GPUs per node), consecutive ranks fill a node so
# local ranks map to its GPUs; FRAMECAST_RANKS_PER_NODE=N maps exactly N ranks to each node
# (--map-by ppr:N:node); no core binding (framecast sets its own thread count per rank; add
# --bind-to through FRAMECAST_MPIRUN_ARGS); oversubscription only on this machine (CPU test runs
# with more ranks than cores).
# Environment forwarded to every rank: NCCL_*, OMP_*, FRAMECAST_*, CUDA_*, UCX_*.
# HOSTS is an Open MPI hostfile ("node1 slots=8" per line; slots = GPUs per node).
#
# NCCL variables worth knowing (docs/clusters.md):
#   NCCL_DEBUG=WARN|INFO         what NCCL prints (INFO: rings, transports, versions)
#   NCCL_SOCKET_IFNAME=eth0      the interface for bootstrap and socket traffic (multi-homed nodes)
#   NCCL_IB_HCA=mlx5             InfiniBand adapters to use; NCCL_IB_DISABLE=1 forces sockets
#   NCCL_ASYNC_ERROR_HANDLING    not needed: framecast's watchdog aborts the communicator itself
# Extra mpirun flags: FRAMECAST_MPIRUN_ARGS (e.g. "--mca btl_tcp_if_include eth0").
# Exit status: framecast's (0 done, 75 stopped on a signal after a checkpoint, 69 watchdog,
# 65 non-finite values), also when mpirun itself was sent SIGTERM; SIGTERM, SIGINT or SIGUSR1 sent
# to this script, or SIGUSR1 sent to mpirun, reaches every rank as SIGUSR1 (checkpoint and stop).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
usage() { echo "usage: launch/run.sh [--hostfile HOSTS] -np N <subcommand> [flags]" >&2; exit 2; }
hostfile=()
if [ "${1:-}" = "--hostfile" ]; then [ $# -ge 2 ] || usage; hostfile=(--hostfile "$2"); shift 2; fi
[ "${1:-}" = "-np" ] && [ $# -ge 3 ] || usage
np="$2"; shift 2
fwd=()
for v in $(env | grep -oE '^(NCCL|OMP|FRAMECAST|CUDA|UCX)_[A-Z0-9_]*' || true); do fwd+=(-x "$v"); done
map=(--map-by "${FRAMECAST_RANKS_PER_NODE:+ppr:$FRAMECAST_RANKS_PER_NODE:}node")
[ -n "${FRAMECAST_RANKS_PER_NODE:-}" ] || map=(--map-by slot)
local_only=(--oversubscribe --mca mpi_yield_when_idle 1)
[ ${#hostfile[@]} -eq 0 ] || local_only=()
# mpirun runs as a child: SIGTERM/SIGINT/SIGUSR1 to this script reach every rank as SIGUSR1
# (checkpoint and stop, exit 75), and each rank writes its exit status to FRAMECAST_STATUS_DIR, so
# the script returns the ranks' status when mpirun reports its own (mpirun returns 1 after a
# SIGTERM sent to it directly, e.g. by a scheduler, even when every rank checkpointed and exited 75).
status_dir="$(mktemp -d "${TMPDIR:-/tmp}/framecast-status.XXXXXX")"
trap 'rm -rf "$status_dir"' EXIT
export FRAMECAST_STATUS_DIR="$status_dir"
fwd+=(-x FRAMECAST_STATUS_DIR)
# shellcheck disable=SC2086
mpirun "${hostfile[@]}" "${local_only[@]}" --bind-to none "${map[@]}" -np "$np" \
  "${fwd[@]}" ${FRAMECAST_MPIRUN_ARGS:-} "$FRAMECAST_BUILD_DIR/framecast" "$@" &
pid=$!
forward() { kill -USR1 "$pid" 2>/dev/null || true; }
trap forward TERM INT USR1
set +e
# `wait` returns early (> 128) when a trapped signal arrives; bash keeps the child's status, so a
# last `wait` after it has exited returns its own.
while kill -0 "$pid" 2>/dev/null; do wait "$pid"; done
wait "$pid"; rc=$?
set -e
trap - TERM INT USR1
if [ "$rc" -ne 0 ]; then
  # The ranks' own statuses: when every rank that wrote one agrees (all np of them on this
  # machine; with a hostfile, those whose node shares this temporary directory), return it.
  codes=$(cat "$status_dir"/rank* 2>/dev/null | sort -u)
  n=$(ls "$status_dir" 2>/dev/null | wc -l)
  if [ -n "$codes" ] && [ "$(echo "$codes" | wc -l)" -eq 1 ] &&
     { [ "$n" -eq "$np" ] || [ ${#hostfile[@]} -gt 0 ]; }; then
    rc=$codes
  fi
fi
exit "$rc"
