#!/usr/bin/env bash
# cluster/slurm/job.sh's hostfile for mpirun inside an allocation: one line per node with its share
# of the tasks from SLURM_TASKS_PER_NODE ("8(x2),4"), so --nodes=2 --ntasks=16 starts 16 ranks.
# scontrol is replaced by a stub that expands the node list.
# usage: slurm_hostfile_test.sh REPO_ROOT
set -u
root="$1"; tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
printf '#!/bin/sh\n[ "$1 $2" = "show hostnames" ] || exit 1\nfor h in $(echo "$3" | tr "," " "); do echo "$h"; done\n' >"$tmp/scontrol"
chmod +x "$tmp/scontrol"
fn="$(sed -n '/^slurm_hostfile()/,/^}/p' "$root/cluster/slurm/job.sh")"
run() { PATH="$tmp:$PATH" SLURM_JOB_NODELIST="$1" SLURM_TASKS_PER_NODE="$2" bash -c "$fn"$'\nslurm_hostfile'; }
fail=0
check() {  # NODELIST TASKS_PER_NODE EXPECTED
  got="$(run "$1" "$2" | tr '\n' ';')"
  [ "$got" = "$3" ] && echo "ok: $1 / $2 -> $got" || { echo "FAIL: $1 / $2 -> '$got', want '$3'"; fail=1; }
}
check "a,b" "8(x2)" "a slots=8;b slots=8;"
check "a,b,c" "8(x2),4" "a slots=8;b slots=8;c slots=4;"
check "a,b" "8,8" "a slots=8;b slots=8;"
check "a" "3" "a slots=3;"
# A malformed count or a node count that does not match: no hostfile (the job stops with a message).
run "a,b" "8(x3)" >/dev/null && { echo "FAIL: 3 counts for 2 nodes accepted"; fail=1; } || echo "ok: mismatched counts refused"
run "a" "x" >/dev/null && { echo "FAIL: malformed SLURM_TASKS_PER_NODE accepted"; fail=1; } || echo "ok: malformed counts refused"
exit $fail
