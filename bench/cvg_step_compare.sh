#!/usr/bin/env bash
# framecast bench step CONFIG, ROUNDS times (default 3) per level, levels alternating, then the
# median over the rounds of each row's ms/iter. On a shared machine one invocation is one sample;
# framecast and its peer run back to back inside each.
#   ROUNDS=3 bench/cvg_step_compare.sh configs/cvg_tiny.pbtxt "1 2" [bench step flags...]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
fc="${FRAMECAST_BUILD_DIR:-$root/build}/framecast"
cfg="$1" levels="$2"
shift 2
rounds="${ROUNDS:-3}"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
for r in $(seq 1 "$rounds"); do
  for l in $levels; do
    out="$("$fc" bench step "$cfg" --level "$l" "$@")"
    echo "$out" | grep -v '^RESULT' | sed "s/^/round $r: /"
    echo "$out" | grep '^RESULT family=' >>"$log"
  done
done
echo "median over $rounds round(s):"
for l in $levels; do
  for impl in $(sed -n "s/^RESULT family=cvg level=$l impl=\([^ ]*\).*/\1/p" "$log" | sort -u); do
    grep "level=$l impl=$impl " "$log" | sed 's/.* ms=\([^ ]*\).* peak_mb=\([^ ]*\).*/\1 \2/' |
      sort -n | awk -v l="$l" -v impl="$impl" '
        { ms[NR] = $1; mem[NR] = $2 }
        END { printf "  level %s %-10s ms/iter median %.1f (min %.1f, max %.1f), peak MB %.0f\n",
                l, impl, ms[int((NR + 1) / 2)], ms[1], ms[NR], mem[int((NR + 1) / 2)] }'
  done
done
