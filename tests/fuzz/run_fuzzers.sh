#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, -fsanitize=fuzzer,address) for the checkpoint manifest
# reader and the config parser, and runs each for SECONDS seconds from a seed corpus (the repo's
# configs and a real manifest). Exit 77 (skipped) when clang's libFuzzer is not available.
# usage: run_fuzzers.sh REPO_ROOT WORKDIR FRAMECAST [SECONDS]
set -u
root="$1"; work="$2/fuzz"; fc="$3"; secs="${4:-20}"
cxx="$(command -v clang++ || true)"
[ -n "$cxx" ] || { echo "SKIP: no clang++"; exit 77; }
rm -rf "$work"; mkdir -p "$work/gen/proto" "$work/gen/ckpt" "$work/corpus-config" "$work/corpus-manifest"
echo 'extern "C" int LLVMFuzzerTestOneInput(const char*, unsigned long) { return 0; }' > "$work/probe.cc"
"$cxx" -fsanitize=fuzzer "$work/probe.cc" -o "$work/probe" 2>/dev/null || { echo "SKIP: clang has no libFuzzer runtime"; exit 77; }
set -e
# Every schema under src/proto (a new family's proto is picked up without editing this script).
protos=(ckpt/manifest.proto)
for f in "$root"/src/proto/*.proto; do protos+=("proto/$(basename "$f")"); done
protoc -I"$root/src" --cpp_out="$work/gen" "${protos[@]}"
flags=(-std=c++17 -O1 -g -fsanitize=fuzzer,address -I"$root/src" -I"$work/gen")
common=("$root/src/util/status.cc")
for f in "${protos[@]}"; do common+=("$work/gen/${f%.proto}.pb.cc"); done
"$cxx" "${flags[@]}" "$root/tests/fuzz/config_fuzz.cc" "$root/src/config/run_config.cc" "$root/src/util/files.cc" "${common[@]}" -lprotobuf -o "$work/config_fuzz"
"$cxx" "${flags[@]}" "$root/tests/fuzz/manifest_fuzz.cc" "$root/src/ckpt/manifest_check.cc" "$root/src/util/crc32c.cc" "${common[@]}" -lprotobuf -o "$work/manifest_fuzz"
cp "$root"/configs/*.pbtxt "$work/corpus-config/"
# A real manifest as the seed: one training step of the demo.
"$fc" train --set output_dir="$work/seed-run" --set stages[0].steps=1 >/dev/null 2>&1
cp "$work"/seed-run/checkpoints/step-*/MANIFEST.pb "$work/corpus-manifest/seed"
set +e
fail=0
for t in config manifest; do
  "$work/${t}_fuzz" -max_total_time="$secs" -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
    "$work/corpus-$t" > "$work/$t.log" 2>&1
  rc=$?
  execs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work/$t.log" | grep -o '[0-9]*$')"
  if [ "$rc" -ne 0 ]; then
    echo "FAIL: ${t}_fuzz found a crash:"; tail -30 "$work/$t.log"; fail=1
  else
    echo "ok: ${t}_fuzz ran ${execs:-?} inputs in ${secs} s without a crash"
  fi
done
exit $fail
