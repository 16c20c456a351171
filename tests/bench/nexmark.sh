#!/usr/bin/env bash
# nexmark.sh — throughput of Nexmark queries (nexmark source -> query -> blackhole) with
# `runnel run`, at parallelism 1 and 2, for a fixed event count: q0, q1, q2 (stateless) and
# q5, q7, q11 (windows in event time: sliding count + top-n, tumbling top-n, sessions). Prints,
# per query and parallelism, the median of 3 runs of events/s over the whole job's wall time
# (process start to exit, measured outside runnel), and events/s per core. Events count every
# kind (a bid-only job sees 92% of them as bids), as Nexmark's published figures do.
#
#   tests/bench/nexmark.sh [build-dir] [events] [queries]
#       (defaults: build, 20000000, "q0 q1 q2 q5 q7 q11")
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
events=${2:-20000000}
queries=${3:-q0 q1 q2 q5 q7 q11}
runnel=$build/runtime/runnel
[ -x "$runnel" ] || { echo "nexmark.sh: $runnel not built (make build)" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

median() { sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }

printf '%-6s %3s %14s %16s %10s\n' query P 'events/s' 'events/s/core' 'seconds'
for q in $queries; do
  for p in 1 2; do
    sed -e "s/^parallelism: .*/parallelism: $p/" -e "s/events: [0-9]*/events: $events/" \
      jobs/nexmark/$q.yaml > "$tmp/$q-$p.yaml"
    for run in 1 2 3; do
      start=$(date +%s.%N)
      "$runnel" run --quiet "$tmp/$q-$p.yaml" 2>/dev/null
      end=$(date +%s.%N)
      echo "$start $end" | awk '{print $2 - $1}'
    done > "$tmp/times"
    secs=$(median < "$tmp/times")
    awk -v q=$q -v p=$p -v e=$events -v s="$secs" \
      'BEGIN {printf "%-6s %3d %14.0f %16.0f %10.3f\n", q, p, e / s, e / s / p, s}'
  done
done
