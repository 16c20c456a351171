#!/usr/bin/env bash
# recovery.sh — how long a job takes to recover after a task manager is killed (kill -9): a job
# manager and 3 task managers of 1 slot on 127.0.0.1, a job of parallelism 2 with checkpoints
# every 200 ms (rate-limited datagen -> key_by -> event-time window -> exactly-once file sink);
# once it has completed checkpoints, one of its task managers is killed, and the script measures
# (a) until the job manager deployed the new attempt (it knows the loss at once: the connection
# closes; then the job's restart delay, here 0 ms, then the other task managers' old tasks
# stop), (b) until the new attempt completed its first checkpoint (restored and running). Each
# time is the median over the runs; the job's output is checked against a failure-free
# `runnel run` after each run.
#
#   tests/bench/recovery.sh [build-dir] [runs]     (defaults: build, 5)
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
runs=${2:-5}
runnel=$(realpath "$build/runtime/runnel")
[ -x "$runnel" ] || { echo "recovery.sh: $runnel not built (make build)" >&2; exit 2; }
work=$(mktemp -d "${TMPDIR:-/tmp}/runnel-recovery-XXXXXX")
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

now() { date +%s.%N; }
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
rest() { curl -sf "http://127.0.0.1:$rest_port$1"; }

job() {   # job <out dir> <checkpoint dir>
  cat <<EOF
name: recovery
parallelism: 2
checkpoint: { interval: 200ms, dir: $2 }
restart: { strategy: fixed-delay, attempts: 10, delay: 0ms }
operators:
  - id: gen
    type: datagen
    with: { rows: 200000, rate_limit: 40000, fields: { k: "seq % 1000", v: seq, t: "to_timestamp(seq * 10)" } }
    watermark: { column: t, max_out_of_orderness: 0ms }
  - id: w
    type: window_aggregate
    input: gen
    key_by: k
    with: { window: { type: tumbling, size: 1s }, aggregates: { n: count(*), s: sum(v) } }
  - { id: out, type: file_sink, input: w, with: { path: $1, format: csv, delivery: exactly_once } }
EOF
}

job "$work/ref" "$work/ckref" > "$work/ref.yaml"
"$runnel" run "$work/ref.yaml" > /dev/null 2>&1
cat "$work"/ref/*.csv | grep -v '^k,' | sort > "$work/ref.txt"

"$runnel" jobmanager --rpc-port 0 --rest-port 0 > "$work/jm.out" 2> "$work/jm.err" &
pids+=($!)
disown
for _ in $(seq 100); do grep -q ready "$work/jm.out" 2>/dev/null && break; sleep 0.05; done
rpc_port=$(sed -n 's/.*rpc=[^:]*:\([0-9]*\).*/\1/p' "$work/jm.out")
rest_port=$(sed -n 's/.*rest=http:\/\/[^:]*:\([0-9]*\).*/\1/p' "$work/jm.out")
start_tm() {
  "$runnel" taskmanager --jobmanager "127.0.0.1:$rpc_port" --slots 1 > /dev/null 2>> "$work/tm.err" &
  pids+=($!)
  disown
}
for _ in 1 2 3; do start_tm; done
for _ in $(seq 100); do [ "$(rest /overview | json "d['taskmanagers']")" = 3 ] && break; sleep 0.05; done

deploy_ms=() running_ms=()
for run in $(seq "$runs"); do
  rm -rf "$work/out" "$work/ck"
  job "$work/out" "$work/ck" > "$work/job.yaml"
  id=$(curl -sf -X POST --data-binary @"$work/job.yaml" "http://127.0.0.1:$rest_port/jobs?file=job.yaml" | json "d['id']")
  for _ in $(seq 400); do
    [ "$(rest "/jobs/$id/checkpoints" | json "d['counts']['completed']")" -ge 3 ] && break; sleep 0.02
  done
  victim=$(rest "/jobs/$id" | json "d['taskmanagers'][0]")
  before=$(rest "/jobs/$id/checkpoints" | json "d['counts']['completed']")
  t0=$(now)
  kill -9 "${victim##*/}"
  t1= t2=
  for _ in $(seq 2000); do
    s=$(rest "/jobs/$id" | json "d['state'] + ' ' + str(d['attempt'])")
    if [ -z "$t1" ] && [ "$s" = "RUNNING 2" ]; then t1=$(now); fi
    if [ -n "$t1" ] && [ "$(rest "/jobs/$id/checkpoints" | json "d['counts']['completed']")" -gt "$before" ]; then
      t2=$(now); break
    fi
    case "$s" in FINISHED*|FAILED*) break;; esac
    sleep 0.01
  done
  [ -n "$t2" ] || { echo "recovery.sh: run $run: the job did not recover ($s)" >&2; tail -5 "$work/jm.err" >&2; exit 1; }
  deploy_ms+=("$(echo "($t1 - $t0) * 1000" | bc)")
  running_ms+=("$(echo "($t2 - $t0) * 1000" | bc)")
  for _ in $(seq 1000); do
    case "$(rest "/jobs/$id" | json "d['state']")" in FINISHED) break;; FAILED) echo "recovery.sh: job failed" >&2; exit 1;; esac
    sleep 0.05
  done
  cat "$work"/out/*.csv | grep -v '^k,' | sort > "$work/got.txt"
  cmp -s "$work/got.txt" "$work/ref.txt" || { echo "recovery.sh: run $run: output differs from runnel run's" >&2; exit 1; }
  start_tm   # back to 3 task managers
  for _ in $(seq 100); do [ "$(rest /overview | json "d['taskmanagers']")" = 3 ] && break; sleep 0.05; done
done

median() { printf '%s\n' "$@" | sort -n | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
printf 'recovery after kill -9 of a task manager (%d runs, output checked against runnel run each time)\n' "$runs"
printf '  new attempt deployed:          median %6.0f ms  (runs: %s)\n' "$(median "${deploy_ms[@]}")" "$(printf '%.0f ' "${deploy_ms[@]}")"
printf '  first checkpoint after restore: median %6.0f ms  (runs: %s)\n' "$(median "${running_ms[@]}")" "$(printf '%.0f ' "${running_ms[@]}")"
