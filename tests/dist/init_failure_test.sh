#!/usr/bin/env bash
# A rank that fails to initialise makes every rank exit non-zero with a message naming it.
# usage: init_failure_test.sh MPIRUN FRAMECAST
set -u
mpirun="$1"; framecast="$2"
out="$(timeout 60 "$mpirun" --oversubscribe -np 3 -x FRAMECAST_FAULT_INIT_RANK=1 "$framecast" train --set output_dir="$(mktemp -d)/run" --set stages[0].steps=1 2>&1)"
rc=$?
echo "$out"
[ "$rc" -ne 0 ] || { echo "FAIL: exit code 0"; exit 1; }
[ "$rc" -ne 124 ] || { echo "FAIL: hung (timeout)"; exit 1; }
n="$(grep -c 'rank 1 (host [^)]*) failed to initialise: Internal: injected fault' <<<"$out")"
[ "$n" -eq 3 ] || { echo "FAIL: expected the failure named on all 3 ranks, saw $n"; exit 1; }
echo "PASS: every rank exited non-zero naming rank 1"
