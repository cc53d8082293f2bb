#!/usr/bin/env bash
# Bad flags get a one-line error naming the flag and a non-zero exit, before any MPI start-up.
set -u
fc="$1"; fail=0
check() {  # expected-substring command...
  local want="$1"; shift
  out="$("$@" 2>&1)"; rc=$?
  if [ "$rc" -eq 0 ] || ! grep -qF -- "$want" <<<"$out"; then
    echo "FAIL: '$*' -> rc=$rc, output: $out"; fail=1
  else
    echo "ok: $* -> $(head -n1 <<<"$out")"
  fi
}
check "unknown flag --stepz" "$fc" train --stepz 3
check "has no field 'stepz'" "$fc" train --set stages[0].stepz=3
check "'three' is not a valid int64" "$fc" train --set stages[0].steps=three
check "'BACKEND_GLOO' is not a valid enum" "$fc" train --set dist.backend=BACKEND_GLOO
check "no-such.pbtxt: cannot open config file" "$fc" train no-such.pbtxt
check "unknown command 'trian'" "$fc" trian
check "--dtype: unknown type 'int4'" "$fc" bench allreduce --dtype int4
check "--max-bytes expects a size" "$fc" bench allreduce --max-bytes 12Q
# A config naming a dataset this machine lacks: `config check` prints it (warning, exit 0); `train`
# refuses it with the field and the path.
cfg="$(dirname "$0")/../../configs/hvrnn_smmnist_tiny.pbtxt"
out="$("$fc" config check "$cfg" --set data.clips.path=/nonexistent/ds 2>&1)" && grep -q '^# effective config' <<<"$out" \
  && grep -qF "warning: $cfg: data.clips.path: /nonexistent/ds/manifest.pbtxt: missing" <<<"$out" \
  && echo "ok: config check warns about a missing dataset" || { echo "FAIL: config check with a missing dataset: $out"; fail=1; }
check "data.clips.path: /nonexistent/ds/manifest.pbtxt: missing" "$fc" train "$cfg" --set data.clips.path=/nonexistent/ds
"$fc" --help | grep -q "bench allreduce" || { echo "FAIL: --help lacks subcommands"; fail=1; }
exit $fail
