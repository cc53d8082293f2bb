#!/usr/bin/env bash
# Two nodes on one machine: network namespaces fcA and fcB (hostnames nodea/nodeb through a UTS
# namespace) joined by a veth pair; mpirun in fcA starts the fcB ranks through `ip netns exec`
# (its rsh agent), 2 ranks per node over TCP. Train with a checkpoint every step, cut the link:
# every rank exits non-zero (watchdog or launcher) without hanging and without a partial
# checkpoint; restore the link and run again: it resumes from the newest checkpoint and completes.
# Skips (77) where network namespaces cannot be created (no CAP_NET_ADMIN, e.g. an unprivileged
# container).
# usage: two_nodes_test.sh MPIRUN FRAMECAST WORKDIR
set -u
mpirun="$1"; fc="$2"; work="$3/two-nodes"
source "$(dirname "$0")/common.sh"
rm -rf "$work"; mkdir -p "$work"
A=fcA$$; B=fcB$$
cleanup() {
  pkill -9 -f -- "output_dir=$work/run" 2>/dev/null
  ip netns del "$A" 2>/dev/null; ip netns del "$B" 2>/dev/null
}
trap cleanup EXIT
for t in ip unshare; do command -v "$t" >/dev/null || { echo "SKIP: $t not installed"; exit 77; }; done
if ! ip netns add "$A" 2>"$work/netns.err"; then echo "SKIP: ip netns not permitted here: $(cat "$work/netns.err")"; exit 77; fi
ip netns add "$B" || { echo "SKIP: ip netns add failed"; exit 77; }
ip link add "va$$" type veth peer name "vb$$" || { echo "SKIP: veth pairs not permitted"; exit 77; }
ip link set "va$$" netns "$A"; ip link set "vb$$" netns "$B"
ip -n "$A" addr add 10.77.0.1/24 dev "va$$"; ip -n "$B" addr add 10.77.0.2/24 dev "vb$$"
for n in "$A" "$B"; do ip -n "$n" link set lo up; done
ip -n "$A" link set "va$$" up; ip -n "$B" link set "vb$$" up
ip netns exec "$A" bash -c "exec 3<>/dev/tcp/10.77.0.2/1" 2>&1 | grep -q "refused" || { echo "FAIL: the veth link does not carry traffic"; exit 1; }

# The rsh agent Open MPI calls as `agent HOST COMMAND...`: run COMMAND in node B's namespace.
cat >"$work/agent.sh" <<AGENT
#!/bin/sh
shift
exec ip netns exec $B unshare --uts sh -c "hostname nodeb; \$*"
AGENT
chmod +x "$work/agent.sh"
printf '10.77.0.1 slots=2\n10.77.0.2 slots=2\n' >"$work/hosts"
launch() {  # launch LOG [framecast train flags...]: 4 ranks, 2 per namespace
  local log="$1"; shift
  ip netns exec "$A" unshare --uts sh -c 'hostname nodea; exec "$@"' sh \
    "$mpirun" --hostfile "$work/hosts" -np 4 --map-by ppr:2:node --bind-to none \
    --mca plm_rsh_agent "$work/agent.sh" --mca btl tcp,self --mca btl_tcp_if_include 10.77.0.0/24 \
    --mca oob_tcp_if_include 10.77.0.0/24 --mca oob_tcp_keepalive_time 2 --mca oob_tcp_keepalive_intvl 1 \
    --mca oob_tcp_keepalive_probes 3 -x OMP_NUM_THREADS=1 -x PATH \
    "$fc" train "${FC_TINY[@]}" --set checkpoint.every_steps=1 --set output_dir="$work/run" \
    --set dist.step_timeout_s=5 "$@" >"$log" 2>&1
}
launch "$work/run1.log" --set stages[0].steps=100000 &
job=$!
wait_for_line "$work/run1.log" '\(global 8\)' 180 "$job" || { echo "FAIL: no training across the namespaces"; tail -20 "$work/run1.log"; exit 1; }
grep -q "world: 4 rank(s) on 2 host(s): nodea ranks 0-1; nodeb ranks 2-3" "$work/run1.log" ||
  { echo "FAIL: the ranks are not 2 per namespace"; grep "world:" "$work/run1.log"; exit 1; }
ip -n "$A" link set "va$$" down
echo "link cut at global step $(last_global_step "$work/run1.log")"
for ((i = 0; i < 600; i++)); do kill -0 "$job" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$job" 2>/dev/null; then echo "FAIL: still running 60 s after the link was cut"; tail "$work/run1.log"; exit 1; fi
wait "$job"; rc=$?
grep -E "watchdog|lost|unreachable" "$work/run1.log" | head -4
[ "$rc" -ne 0 ] || { echo "FAIL: exit status 0 after the cut"; exit 1; }
# Node B's ranks lost their peers and their launcher: their watchdog or daemon must end them too.
for ((i = 0; i < 300; i++)); do pgrep -f "^$fc train .*output_dir=$work/run" >/dev/null || break; sleep 0.1; done
if pgrep -f "^$fc train .*output_dir=$work/run" >/dev/null; then echo "FAIL: ranks still alive 30 s after the launcher exited"; exit 1; fi
newest="$(newest_step "$work/run")"
"$fc" ckpt verify "$newest" >/dev/null || { echo "FAIL: newest committed step $newest does not verify"; exit 1; }
ip -n "$A" link set "va$$" up
step=$((10#${newest##*step-}))
launch "$work/run2.log" --set stages[0].steps=$((step + 3)) || { echo "FAIL: the resumed run failed"; tail "$work/run2.log"; exit 1; }
grep -q "resumed from $newest " "$work/run2.log" || { echo "FAIL: did not resume from $newest"; tail "$work/run2.log"; exit 1; }
echo "PASS: 4 ranks on 2 namespaces; link cut -> exit $rc, no hang; resumed from $(basename "$newest") and completed"
