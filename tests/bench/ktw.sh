#!/usr/bin/env bash
# ktw.sh — the KTW-SUMCOUNT workload of ../shared/bench-workloads.md (keyed tumbling event-time
# window, count and sum per key) with `runnel run` on jobs/bench/ktw_sumcount.yaml, at
# parallelism 1 and 2. Prints, per parallelism, the median of 3 runs of N / wall-clock seconds of
# the whole run (process start to exit), and the workload's check: the result rows, the counts
# (must add up to N) and the sums (must add up to 4950 * N / 100). Exits 1 when a check fails.
#
#   tests/bench/ktw.sh [build-dir] [events]      (defaults: build, 50000000; a multiple of 100000)
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
n=${2:-50000000}
runnel=$build/runtime/runnel
[ -x "$runnel" ] || { echo "ktw.sh: $runnel not built (make build)" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

median() { sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }

want_rows=$((n / 100000 * 1000))
want_sum=$((4950 * n / 100))
bad=0
printf '%3s %14s %10s   %s\n' P 'events/s' 'seconds' 'check'
for p in 1 2; do
  sed -e "s/^parallelism: .*/parallelism: $p/" -e "s/rows: [0-9]*/rows: $n/" \
    jobs/bench/ktw_sumcount.yaml > "$tmp/ktw-$p.yaml"
  : > "$tmp/times"
  for run in 1 2 3; do
    start=$(date +%s.%N)
    "$runnel" run "$tmp/ktw-$p.yaml" > "$tmp/out" 2>&1
    end=$(date +%s.%N)
    echo "$start $end" | awk '{print $2 - $1}' >> "$tmp/times"
  done
  secs=$(median < "$tmp/times")
  # the summary line of the sink: "check blackhole xP in ROWS ... sum(cnt)=C sum(total)=S"
  line=$(grep -E '^ +check +blackhole' "$tmp/out" || true)
  rows=$(echo "$line" | awk '{print $5}')
  cnt=$(echo "$line" | sed -n 's/.*sum(cnt)=\([0-9]*\).*/\1/p')
  sum=$(echo "$line" | sed -n 's/.*sum(total)=\([0-9]*\).*/\1/p')
  verdict=ok
  if [ "$rows" != "$want_rows" ] || [ "$cnt" != "$n" ] || [ "$sum" != "$want_sum" ]; then verdict=FAILED; bad=1; fi
  awk -v p=$p -v e=$n -v s="$secs" -v r="$rows" -v c="$cnt" -v t="$sum" -v wr=$want_rows -v ws=$want_sum -v v=$verdict \
    'BEGIN {printf "%3d %14.0f %10.3f   rows %s (want %s), counts %s (want %s), sums %s (want %s): %s\n", p, e / s, s, r, wr, c, e, t, ws, v}'
done
exit $bad
