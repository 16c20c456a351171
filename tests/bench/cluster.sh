#!/usr/bin/env bash
# cluster.sh — the cost of the network between task managers: one keyed job (datagen -> key_by
# -> tumbling event-time window with count and sum, KTW-SUMCOUNT's shape: key = seq % 1000,
# value = seq % 100, windows of 100 s of event time -> blackhole), unpaced, at parallelism 2,
#   (a) with `runnel run` (one process, in-process channels), timed from process start to exit;
#   (b) on a job manager with 2 task managers of 1 slot each (started here, on 127.0.0.1 with
#       ports 0): every subtask of the window reads half its rows from the other process over a
#       network channel. Timed from submission to FINISHED by the job manager itself
#       (end_time - start_time of GET /jobs/{id}, ms).
# Prints the median of 5 runs of each (seconds, rows/s) and the ratio of the medians
# (network / local seconds), and checks that both runs' sinks took the same rows
# (rows / 100000 * 1000 windows). Exits 1 when a check fails. REST calls go through bash's
# /dev/tcp (no curl needed).
#
#   tests/bench/cluster.sh [build-dir] [rows] [runs]   (defaults: build, 20000000, 5;
#                                                      rows a multiple of 100000)
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
rows=${2:-20000000}
runs=${3:-5}
runnel=$build/runtime/runnel
[ -x "$runnel" ] || { echo "cluster.sh: $runnel not built (make build)" >&2; exit 2; }
tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

median() { sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }

cat > "$tmp/job.yaml" <<EOF
name: bench-cluster
parallelism: 2
operators:
  - id: events
    type: datagen
    with:
      rows: $rows
      fields: { key: "seq % 1000", ts: "to_timestamp(seq)", value: "seq % 100" }
    watermark: { column: ts, monotonous: true }
  - id: windows
    type: window_aggregate
    input: events
    key_by: key
    with:
      window: { type: tumbling, size: 100s }
      aggregates: { cnt: "count(*)", total: "sum(value)" }
  - id: sink
    type: blackhole
    input: windows
    with: { quiet: true }
EOF
want_rows=$((rows / 100000 * 1000))

# ---- (a) runnel run ----
: > "$tmp/local"
local_rows=
for run in $(seq "$runs"); do
  start=$(date +%s.%N)
  "$runnel" run "$tmp/job.yaml" > "$tmp/run.out" 2>&1
  end=$(date +%s.%N)
  echo "$start $end" | awk '{print $2 - $1}' >> "$tmp/local"
  # the summary's sink line: "  sink  blackhole  x2  in  ROWS ..."
  local_rows=$(awk '$1 == "sink" && $2 == "blackhole" {print $5}' "$tmp/run.out")
done

# ---- (b) a job manager and two task managers ----
# Waits (up to 20 s) for a line starting with $2 in file $1; prints it.
ready_line() {
  for _ in $(seq 200); do
    if grep -q "^$2" "$1" 2>/dev/null; then grep -m1 "^$2" "$1"; return 0; fi
    sleep 0.1
  done
  echo "cluster.sh: no '$2' line in $1" >&2
  cat "${1%.out}.err" >&2 || true
  return 1
}
# http METHOD PATH [BODY-FILE]: the response body (HTTP/1.1, Connection: close).
http() {
  local len=0
  [ -n "${3:-}" ] && len=$(stat -c %s "$3")
  exec 3<>"/dev/tcp/127.0.0.1/$rest"
  printf '%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/yaml\r\nContent-Length: %d\r\n\r\n' \
    "$1" "$2" "$len" >&3
  [ -n "${3:-}" ] && cat "$3" >&3
  local resp
  resp=$(cat <&3)
  exec 3<&-
  printf '%s' "${resp#*$'\r\n\r\n'}"
}
# jfield NAME: the first value of "NAME": in the JSON on stdin (strings without quotes).
jfield() { grep -o "\"$1\":\"\\?[^,\"}]*" | head -1 | sed -e "s/^\"$1\":\"\\?//"; }

"$runnel" jobmanager --rpc-port 0 --rest-port 0 > "$tmp/jm.out" 2> "$tmp/jm.err" &
pids+=($!)
line=$(ready_line "$tmp/jm.out" "jobmanager ready:")
rpc=$(echo "$line" | sed -n 's/.*rpc=[^ ]*:\([0-9]*\) .*/\1/p')
rest=$(echo "$line" | sed -n 's/.*rest=http:\/\/[^ ]*:\([0-9]*\)$/\1/p')
for i in 1 2; do
  "$runnel" taskmanager --jobmanager "127.0.0.1:$rpc" --slots 1 --name "tm-$i" > "$tmp/tm$i.out" 2> "$tmp/tm$i.err" &
  pids+=($!)
  ready_line "$tmp/tm$i.out" "taskmanager ready:" > /dev/null
done
for _ in $(seq 200); do
  [ "$(http GET /overview | jfield slots_available)" = 2 ] && break
  sleep 0.1
done
[ "$(http GET /overview | jfield slots_available)" = 2 ] || { echo "cluster.sh: the task managers did not register" >&2; cat "$tmp/jm.err" >&2; exit 1; }

: > "$tmp/network"
net_rows=
for run in $(seq "$runs"); do
  id=$(http POST "/jobs?file=bench-cluster.yaml" "$tmp/job.yaml" | jfield id)
  [ ${#id} -eq 32 ] || { echo "cluster.sh: submission refused" >&2; cat "$tmp/jm.err" >&2; exit 1; }
  state=
  for _ in $(seq 30000); do   # up to 10 minutes at 20 ms
    job=$(http GET "/jobs/$id")
    state=$(echo "$job" | jfield state)
    case $state in FINISHED|FAILED|CANCELLED) break ;; esac
    sleep 0.02
  done
  [ "$state" = FINISHED ] || { echo "cluster.sh: job $id is $state: $(echo "$job" | jfield error)" >&2; exit 1; }
  start_ms=$(echo "$job" | jfield start_time)
  end_ms=$(echo "$job" | jfield end_time)
  awk -v a="$start_ms" -v b="$end_ms" 'BEGIN {print (b - a) / 1000}' >> "$tmp/network"
  # the sink vertex's rows_in: the last vertex of the answer
  net_rows=$(echo "$job" | grep -o '"rows_in":[0-9]*' | tail -1 | cut -d: -f2)
  # both slots free again before the next run
  for _ in $(seq 100); do
    [ "$(http GET /overview | jfield slots_available)" = 2 ] && break
    sleep 0.05
  done
done

local_s=$(median < "$tmp/local")
net_s=$(median < "$tmp/network")
printf '%-34s %4s %10s %14s   %s\n' setup runs seconds 'rows/s' 'all runs (s)'
printf '%-34s %4d %10.3f %14.0f   %s\n' "runnel run, P=2" "$runs" "$local_s" "$(awk -v r="$rows" -v s="$local_s" 'BEGIN {print r / s}')" \
  "$(tr '\n' ' ' < "$tmp/local")"
printf '%-34s %4d %10.3f %14.0f   %s\n' "job manager + 2 task managers, P=2" "$runs" "$net_s" \
  "$(awk -v r="$rows" -v s="$net_s" 'BEGIN {print r / s}')" "$(tr '\n' ' ' < "$tmp/network")"
awk -v a="$net_s" -v b="$local_s" 'BEGIN {printf "ratio network / local (median seconds): %.2f\n", a / b}'
bad=0
[ "$local_rows" = "$want_rows" ] || { echo "check: runnel run's sink took $local_rows rows, want $want_rows" >&2; bad=1; }
[ "$net_rows" = "$want_rows" ] || { echo "check: the cluster's sink took $net_rows rows, want $want_rows" >&2; bad=1; }
[ $bad -eq 0 ] && echo "check: both sinks took $want_rows window rows"
exit $bad
