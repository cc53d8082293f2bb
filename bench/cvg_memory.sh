#!/usr/bin/env bash
# Peak memory of one CVG training iteration against the number of output frames: a two-level
# cascade reaching 128x128 (level 1: N/2 frames at 64x64; level 2: 6-frame windows -> 12 frames at
# 128x128) vs a non-cascaded single level that generates the N frames at 128x128 directly
# (bench/configs/cvg_mem_{cascade,single}.pbtxt; the paper's figure 6.3, specs/cvg.md 3.3).
#
# Every point is `framecast bench step CONFIG --level K --peer 0 --flops 0` in a fresh process. On a
# GPU 2 iterations (1 warm-up, 1 timed: Adam's state exists when the peak is read); on the CPU one
# (the narrow networks' Adam state is a few MB; the 2-core CPU cannot afford a second). Peak = the CUDA caching
# allocator's peak on a GPU, the process's peak RSS on the CPU. Levels train one after another, so
# the cascade's peak is the larger of its two levels' peaks.
#
# On the CPU the RSS includes the process's fixed cost (libraries, config); each point's
# "base" is the same process's RSS just before the model was built (`bench step` reports it), and
# the table gives both the raw peak and peak - base.
#
#   bench/cvg_memory.sh                      # CPU, narrow networks (G base $GW, D base $DW), batch 1
#   bench/cvg_memory.sh --device cuda --paper-sizes --batch 8
#                                            # GPU, the configs' (paper) widths
# Options: --device cpu|cuda  --frames "12 16 24 32 48"  --batch B  --paper-sizes  --threads T
# Environment: FRAMECAST_BUILD_DIR (default build), GW / DW (CPU base widths, default 4 / 2).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
fc="${FRAMECAST_BUILD_DIR:-$root/build}/framecast"
device=cpu frames="12 16 24 32 48" batch=1 paper=0 threads=1
GW="${GW:-4}" DW="${DW:-2}"
while [ $# -gt 0 ]; do
  case "$1" in
    --device) device="$2"; shift 2 ;;
    --frames) frames="$2"; shift 2 ;;
    --batch) batch="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --paper-sizes) paper=1; shift ;;
    *) echo "cvg_memory.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
[ -x "$fc" ] || { echo "cvg_memory.sh: $fc not built" >&2; exit 1; }
warmup=$([ "$device" = cuda ] && echo 1 || echo 0)
cascade="$root/bench/configs/cvg_mem_cascade.pbtxt" single="$root/bench/configs/cvg_mem_single.pbtxt"

narrow=()  # --set overrides that narrow every network (CPU)
if [ "$paper" = 0 ]; then
  for l in 0 1; do
    narrow+=(--set "model.cvg.levels[$l].generator.base_channels=$GW")
    for d in spatial temporal; do narrow+=(--set "model.cvg.levels[$l].$d.base_channels=$DW"); done
  done
  narrow+=(--set "model.cvg.levels[1].matching.base_channels=$DW")
fi
narrow_single=()
for s in "${narrow[@]}"; do case "$s" in *levels\[1\]*) ;; --set) ;; *) narrow_single+=(--set "$s") ;; esac; done

# point CONFIG LEVEL N: one `bench step` process; prints "peak base params_g params_d ms".
point() {
  local cfg="$1" level="$2" n="$3" sets=()
  if [ "$cfg" = "$cascade" ]; then
    sets=("${narrow[@]}" --set "model.cvg.levels[0].frames=$((n / 2))" --set "model.cvg.levels[1].frames=$n")
  else
    sets=("${narrow_single[@]}" --set "model.cvg.levels[0].frames=$n")
  fi
  local out
  out="$("$fc" bench step "$cfg" --level "$level" --batch "$batch" --steps 1 --warmup "$warmup" --peer 0 --flops 0 \
    --device "$device" --threads "$threads" --set "data.predicted_frames=$n" "${sets[@]}" 2>&1)" ||
    { echo "cvg_memory.sh: $cfg level $level N=$n failed:" >&2; echo "$out" >&2; exit 1; }
  local line
  line="$(grep '^RESULT family=cvg .*impl=framecast ' <<<"$out")"
  f() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$line"; }
  echo "$(f peak_mb) $(f base_mb) $(f params_g) $(f params_d) $(f ms)"
}

unit=$([ "$device" = cuda ] && echo "peak GPU MB" || echo "peak RSS MB")
echo "# CVG memory vs output frames: $device, batch $batch, threads $threads," \
  "$([ "$paper" = 1 ] && echo "paper widths" || echo "narrow widths (G base $GW, D base $DW)")"
echo "# $unit of one training iteration (2 D + 1 G steps); cascade = max(level 1, level 2)"
if [ "$device" = cuda ]; then
  printf "%6s %10s %10s %10s %12s %10s\n" frames L1 L2 cascade non-casc ratio
else
  printf "%6s %10s %10s %10s %12s %7s | %s\n" frames L1 L2 cascade non-casc ratio \
    "minus each process's base RSS: L1 L2 cascade non-casc ratio"
fi
params=""
for n in $frames; do
  read -r p1 b1 g1 d1 _ < <(point "$cascade" 1 "$n")
  read -r p2 b2 g2 d2 _ < <(point "$cascade" 2 "$n")
  read -r ps bs gs ds _ < <(point "$single" 1 "$n")
  row="$(awk -v p1="$p1" -v p2="$p2" -v ps="$ps" -v b1="$b1" -v b2="$b2" -v bs="$bs" -v n="$n" -v dev="$device" 'BEGIN {
    c = p1 > p2 ? p1 : p2
    if (dev == "cuda") { printf "%6d %10.0f %10.0f %10.0f %12.0f %9.2fx", n, p1, p2, c, ps, ps / c; exit }
    a1 = p1 - b1; a2 = p2 - b2; as = ps - bs; ac = a1 > a2 ? a1 : a2
    printf "%6d %10.0f %10.0f %10.0f %12.0f %6.2fx | %6.0f %6.0f %7.0f %8.0f %6.2fx", n, p1, p2, c, ps, ps / c, a1, a2, ac, as, as / ac }')"
  echo "$row"
  params="cascade level 1 G $g1 D $d1, level 2 G $g2 D $d2 (total $((g1 + d1 + g2 + d2)));"
  params+=" non-cascaded G $gs D $ds (total $((gs + ds))); base RSS of the processes: $b1 / $b2 / $bs MB"
done
echo "# parameters: $params"
