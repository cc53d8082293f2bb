#!/usr/bin/env bash
# framecast bench step CONFIG on the tiny CVG cascade, with its PyTorch peer:
#   - level 2, 2 clips, 1 step: exit 0, a framecast row and a "pytorch eager" row with equal G and
#     D parameter counts, and a positive FLOP count (the peer's --count-flops);
#   - a level the config does not have, or not a number: one line on stderr and exit 2.
# Usage: bench_step_test.sh FRAMECAST SOURCE_DIR PYTHON
set -uo pipefail
fc="$1" src="$2" py="$3"
cfg="$src/configs/cvg_tiny.pbtxt"
fail() { echo "FAIL: $*" >&2; exit 1; }

out="$("$fc" bench step "$cfg" --level 2 --batch 2 --steps 1 --warmup 0 --python "$py" 2>&1)"
rc=$?
echo "$out"
[ "$rc" -eq 0 ] || fail "bench step exited $rc"
fc_line="$(grep '^RESULT family=cvg level=2 impl=framecast ' <<<"$out")" || fail "no framecast row"
py_line="$(grep '^RESULT family=cvg level=2 impl=eager ' <<<"$out")" || fail "no pytorch eager row"
grep -q '^pytorch eager ' <<<"$out" || fail "no pytorch eager table row"
field() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<"$1"; }
for k in params_g params_d; do
  a="$(field "$fc_line" $k)" b="$(field "$py_line" $k)"
  [ -n "$a" ] && [ "$a" -gt 0 ] || fail "framecast $k '$a'"
  [ "$a" = "$b" ] || fail "$k: framecast $a, pytorch $b"
done
flops="$(field "$fc_line" flops)"
awk -v f="$flops" 'BEGIN { exit !(f + 0 > 0) }' || fail "FLOPs per iteration '$flops' not positive"
grep -q '^FLOPs per iteration: ' <<<"$out" || fail "no FLOPs header line"

for bad in 3 0 x; do
  err="$("$fc" bench step "$cfg" --level "$bad" --peer 0 2>&1 >/dev/null)"
  rc=$?
  [ "$rc" -eq 2 ] || fail "--level $bad: exit $rc, want 2"
  [ "$(wc -l <<<"$err")" -eq 1 ] && grep -q -- '--level' <<<"$err" ||
    fail "--level $bad: want one line naming --level, got: $err"
done
echo "PASS"
