#!/usr/bin/env bash
# checkpoint.sh — checkpoint figures for about 1 GB of RocksDB state, through the runner
# (tests/bench/bench_checkpoint.c): (a) the duration and the longest synchronous pause of a full
# checkpoint (the first one, and savepoints: self-contained copies), (b) the bytes an incremental
# checkpoint writes after 1% of the keys changed, against the size of the whole state. Medians
# and maxima over 3 savepoints and 9 update steps. State and checkpoints go under $TMPDIR (or
# /tmp), which needs about 7 times the state free; they are removed at the end.
#
#   tests/bench/checkpoint.sh [build-dir] [keys] [payload-bytes]
#       (defaults: build, 1048576, 1000; keys a power of two, payload a multiple of 8)
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
keys=${2:-1048576}
payload=${3:-1000}
bench=$build/tests/bench/bench_checkpoint
[ -x "$bench" ] || { echo "checkpoint.sh: $bench not built (make build)" >&2; exit 2; }
dir=${TMPDIR:-/tmp}
need_kb=$((keys * payload / 1024 * 7))
avail_kb=$(df -Pk "$dir" | awk 'NR == 2 {print $4}')
if [ "$avail_kb" -lt "$need_kb" ]; then
  echo "checkpoint.sh: $dir has $((avail_kb / 1048576)) GB free, needs about $((need_kb / 1048576 + 1)) GB" >&2
  exit 2
fi
exec "$bench" "$dir" "$keys" "$payload" 3 9
