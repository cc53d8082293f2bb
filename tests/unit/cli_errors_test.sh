#!/usr/bin/env bash
# Bad flags get a one-line error naming the flag and a non-zero exit, before any MPI start-up.
set -u
fc="$1"; fail=0
tmpd="$(mktemp -d)"; trap 'rm -rf "$tmpd"' EXIT
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
# Special files never hang a command: a FIFO as the config, as a checkpoint's manifest, as a
# shard (a link to a device): one-line errors, bounded by `timeout`.
mkfifo "$tmpd/fifo.pbtxt"
check "fifo.pbtxt: not a regular file" timeout 20 "$fc" config check "$tmpd/fifo.pbtxt"
"$fc" train --set output_dir="$tmpd/sp" --set stages[0].steps=1 >/dev/null 2>&1 || { echo "FAIL: special-file run"; fail=1; }
sp="$(ls -d "$tmpd"/sp/checkpoints/step-* | tail -n1)"
mv "$sp/MANIFEST.pb" "$tmpd/manifest.bak" && mkfifo "$sp/MANIFEST.pb"
check "MANIFEST.pb: not a regular file" timeout 20 "$fc" ckpt verify "$sp"
check "MANIFEST.pb: not a regular file" timeout 20 "$fc" ckpt inspect "$sp"
rm "$sp/MANIFEST.pb" && mv "$tmpd/manifest.bak" "$sp/MANIFEST.pb"
shard="$(ls "$sp"/shard-*.bin | head -n1)"; rm "$shard"; ln -s /dev/zero "$shard"
check "not a regular file" timeout 20 "$fc" ckpt verify "$sp"
# Launchers framecast does not speak (torchrun-style variables, MPICH's PMI) are refused before
# the run directory is touched.
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
# Every subcommand answers --help on stdout with exit 0, listing its real flags.
for c in "train" "eval" "eval train-classifier" "sample" "model summary" "ckpt" "ckpt list" "runs list" \
         "config check" "data" "data prepare" "data preview" "bench" "bench allreduce" "bench step" \
         "bench step $demo_cfg" "bench ckpt" "completion"; do
  # shellcheck disable=SC2086
  out="$("$fc" $c --help 2>/dev/null)"; rc=$?
  [ "$rc" -eq 0 ] && [ -n "$out" ] || { echo "FAIL: framecast $c --help -> rc=$rc"; fail=1; }
done
"$fc" train --help | grep -q -- "--threads" && ! "$fc" train --help | grep -q -- "--steps" &&
  echo "ok: train --help lists its real flags (--threads, not --steps)" || { echo "FAIL: train --help"; fail=1; }
check "unknown flag --steps" "$fc" train --steps 5
# On/off flags: bare, --no-, =value; anything else is an error naming the flag.
check "--baselines is on/off, got 'maybe'" "$fc" eval "$demo_cfg" --checkpoint x --baselines=maybe
"$fc" eval --help | grep -q -- "--baselines / --no-baselines" && echo "ok: eval --help shows --baselines / --no-baselines" ||
  { echo "FAIL: eval --help lacks the on/off form"; fail=1; }
# Bash completion from the same definitions: subcommands, then a subcommand's flags.
comp="$(bash -c 'source <("$1" completion bash); PATH="$(dirname "$1"):$PATH"
  COMP_WORDS=(framecast ev); COMP_CWORD=1; _framecast; echo "${COMPREPLY[*]}"
  COMP_WORDS=(framecast eval c.pbtxt --chec); COMP_CWORD=3; _framecast; echo "${COMPREPLY[*]}"
  COMP_WORDS=(framecast ckpt ve); COMP_CWORD=2; _framecast; echo "${COMPREPLY[*]}"' _ "$fc" 2>&1)"
[ "$comp" = $'eval\n--checkpoint\nverify' ] && echo "ok: bash completion completes subcommands and flags" ||
  { echo "FAIL: bash completion: $comp"; fail=1; }
exit $fail
