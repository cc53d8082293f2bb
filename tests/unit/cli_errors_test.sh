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
check "--min-bytes must be >= 1" "$fc" bench allreduce --min-bytes 0
check "index 99999999999 is out of range" "$fc" train --set stages[99999999999].steps=3
demo_cfg="$(dirname "$0")/../../configs/demo.pbtxt"
tiny_cfg="$(dirname "$0")/../../configs/hvrnn_smmnist_tiny.pbtxt"
check "--ranks=0: must be in [1, 1000000]" "$fc" config check "$demo_cfg" --ranks 0
# config check refuses what train would (the rule named with the field).
check "optimizers[0].adam.beta1=1.000000: must be in [0, 1)" "$fc" config check "$tiny_cfg" --set optimizers[0].adam.beta1=1
check "optimizers[0].adam.beta2" "$fc" config check "$tiny_cfg" --set optimizers[0].adam.beta2=-0.5
check "optimizers[0].weight_decay: must be finite" "$fc" config check "$tiny_cfg" --set optimizers[0].weight_decay=nan
check "dist.bucket_mib: must be in [0, 65536] MiB" "$fc" config check "$tiny_cfg" --set dist.bucket_mib=nan
# Launchers framecast does not speak (torchrun-style variables, MPICH's PMI) are refused before
# the run directory is touched.
tmpd="$(mktemp -d)"; trap 'rm -rf "$tmpd"' EXIT
check "WORLD_SIZE=2 says this is one of several ranks" env WORLD_SIZE=2 RANK=0 LOCAL_RANK=0 \
  "$fc" train --set output_dir="$tmpd/run" --set stages[0].steps=1
check "RANK=1 but MPI sees a world of 1" env RANK=1 "$fc" train --set output_dir="$tmpd/run" --set stages[0].steps=1
check "PMI_SIZE=4 says this is one of several ranks" env PMI_SIZE=4 PMI_RANK=0 \
  "$fc" train --set output_dir="$tmpd/run" --set stages[0].steps=1
[ ! -e "$tmpd/run" ] && echo "ok: refused launches left no run directory" || { echo "FAIL: a refused launch created $tmpd/run"; fail=1; }
# A config naming a dataset this machine lacks: `config check` prints it (warning, exit 0); `train`
# refuses it with the field and the path.
cfg="$(dirname "$0")/../../configs/hvrnn_smmnist_tiny.pbtxt"
out="$("$fc" config check "$cfg" --set data.clips.path=/nonexistent/ds 2>&1)" && grep -q '^# effective config' <<<"$out" \
  && grep -qF "warning: $cfg: data.clips.path: /nonexistent/ds/manifest.pbtxt: missing" <<<"$out" \
  && echo "ok: config check warns about a missing dataset" || { echo "FAIL: config check with a missing dataset: $out"; fail=1; }
check "data.clips.path: /nonexistent/ds/manifest.pbtxt: missing" "$fc" train "$cfg" --set data.clips.path=/nonexistent/ds
"$fc" --help | grep -q "bench allreduce" || { echo "FAIL: --help lacks subcommands"; fail=1; }
exit $fail
