#!/usr/bin/env bash
# kafka.sh — throughput of the Kafka connectors against librdkafka's mock cluster (`runnel-kafka
# mock`, one broker on 127.0.0.1, started here): RECORDS JSON records of ~100 bytes
#   {"id":N,"user":"user-NNNN","amount":N,"category":"cat-NN","note":"<22 letters>"}
# are produced to topic `in` (produce speed reported: `runnel-kafka produce`, keyed by id so
# that the partitions are even), then each job is timed with `runnel run` (process start to
# exit, start-up and metadata look-ups included; CPU seconds = user + sys from /usr/bin/time):
#   (a) kafka_source (stop_at: latest) -> blackhole: source records/s
#   (b) datagen -> kafka_sink (at_least_once): sink records/s; and (b2) the same exactly_once
#       (no checkpoints: one transaction per subtask, committed at the end)
#   (c) kafka_source -> filter (keeps 90%) -> kafka_sink (at_least_once): input records/s
# Median of RUNS runs each. Prints figures; asserts nothing about time. Fails only when a run
# fails or a job did not read every record.
#
# The mock keeps about 5 MB per partition (older record batches are dropped), so 1M records of
# ~105 bytes on the wire need more than 23 partitions: `in` has PARTITIONS (default 32). The
# output topics' contents are not read back (the mock drops most of them for the same reason).
#
#   tests/bench/kafka.sh [build-dir] [records] [runs] [parallelism] [partitions]
#   (defaults: build, 1000000, 3, 2, 32)
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
records=${2:-1000000}
runs=${3:-3}
par=${4:-2}
partitions=${5:-32}
runnel=$build/runtime/runnel
tool=$build/runtime/runnel-kafka
for b in "$runnel" "$tool"; do
  [ -x "$b" ] || { echo "kafka.sh: $b not built (make build)" >&2; exit 2; }
done
[ -f "$build/runtime/plugins/runnel_kafka.so" ] || { echo "kafka.sh: the Kafka plugin is not built" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "kafka.sh: /usr/bin/time is missing (apt-get install time)" >&2; exit 2; }
tmp=$(mktemp -d)
mock_pid=
cleanup() {
  if [ -n "$mock_pid" ]; then kill "$mock_pid" 2>/dev/null || true; wait "$mock_pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

median() { sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }

# ---- the cluster and the data ----
"$tool" mock --topic "in:$partitions" --topic out:"$partitions" --port-file "$tmp/bootstrap" \
  > "$tmp/mock.out" 2> "$tmp/mock.err" &
mock_pid=$!
for _ in $(seq 200); do [ -s "$tmp/bootstrap" ] && break; sleep 0.05; done
[ -s "$tmp/bootstrap" ] || { echo "kafka.sh: the mock did not start" >&2; cat "$tmp/mock.err" >&2; exit 1; }
bootstrap=$(cat "$tmp/bootstrap")

awk -v n="$records" 'BEGIN {
  for (i = 0; i < n; i++)
    printf "{\"id\":%d,\"user\":\"user-%04d\",\"amount\":%d,\"category\":\"cat-%02d\",\"note\":\"abcdefghijklmnopqrstuv\"}\n",
      i, i % 5000, (i * 7919) % 100000, i % 20
}' > "$tmp/data.jsonl"
bytes=$(stat -c %s "$tmp/data.jsonl")
start=$(date +%s.%N)
"$tool" produce --bootstrap "$bootstrap" --topic in --key-field id < "$tmp/data.jsonl" 2> "$tmp/produce.err" ||
  { cat "$tmp/produce.err" >&2; exit 1; }
end=$(date +%s.%N)
produce_s=$(echo "$start $end" | awk '{print $2 - $1}')
rm -f "$tmp/data.jsonl"

# ---- the jobs ----
source_block() {
  cat <<EOF
  - id: src
    type: kafka_source
    with:
      bootstrap_servers: "$bootstrap"
      topic: in
      stop_at: latest
      format: json
      schema: { id: int64, user: string, amount: int64, category: string, note: string }
EOF
}
sink_block() { # input delivery
  cat <<EOF
  - id: out
    type: kafka_sink
    input: $1
    with: { bootstrap_servers: "$bootstrap", topic: out, format: json, delivery: $2 }
EOF
}
{ printf 'name: bench-kafka-source\nparallelism: %d\noperators:\n' "$par"; source_block
  printf '  - { id: sink, type: blackhole, input: src, with: { quiet: true } }\n'; } > "$tmp/a.yaml"
gen_block() {
  cat <<EOF
  - id: gen
    type: datagen
    with:
      rows: $records
      fields:
        id: "seq"
        user: "concat('user-', CAST(seq % 5000 AS string))"
        amount: "(seq * 7919) % 100000"
        category: "concat('cat-', CAST(seq % 20 AS string))"
        note: "'abcdefghijklmnopqrstuv'"
EOF
}
{ printf 'name: bench-kafka-sink\nparallelism: %d\noperators:\n' "$par"; gen_block; sink_block gen at_least_once; } > "$tmp/b.yaml"
{ printf 'name: bench-kafka-sink-eo\nparallelism: %d\noperators:\n' "$par"; gen_block; sink_block gen exactly_once; } > "$tmp/b2.yaml"
{ printf 'name: bench-kafka-pipe\nparallelism: %d\noperators:\n' "$par"; source_block
  printf '  - { id: keep, type: filter, input: src, with: { where: "amount %% 10 <> 7" } }\n'
  sink_block keep at_least_once; } > "$tmp/c.yaml"

# run NAME: RUNS timed runs of $tmp/NAME.yaml; medians into $tmp/NAME.s and $tmp/NAME.cpu,
# the source's or generator's rows of the last run into $tmp/NAME.rows
run() {
  : > "$tmp/$1.times"
  : > "$tmp/$1.cpus"
  for _ in $(seq "$runs"); do
    start=$(date +%s.%N)
    if ! /usr/bin/time -f '%U %S' -o "$tmp/time" "$runnel" run "$tmp/$1.yaml" > "$tmp/run.out" 2>&1; then
      echo "kafka.sh: job $1 failed:" >&2
      cat "$tmp/run.out" >&2
      exit 1
    fi
    end=$(date +%s.%N)
    echo "$start $end" | awk '{print $2 - $1}' >> "$tmp/$1.times"
    awk '{print $1 + $2}' "$tmp/time" >> "$tmp/$1.cpus"
    # the summary's first operator line: "  src  kafka_source  x2  out  ROWS ..."
    awk '($1 == "src" || $1 == "gen") && $4 == "out" {print $5}' "$tmp/run.out" > "$tmp/$1.rows"
  done
  median < "$tmp/$1.times" > "$tmp/$1.s"
  median < "$tmp/$1.cpus" > "$tmp/$1.cpu"
}
run a
run b
run b2
run c

printf 'mock cluster: 1 broker, topic in: %d partitions; %d records, %d bytes of JSON (%.0f B each); parallelism %d; median of %d\n' \
  "$partitions" "$records" "$bytes" "$(awk -v b="$bytes" -v n="$records" 'BEGIN {print b / n}')" "$par" "$runs"
printf '%-52s %9s %9s %14s   %s\n' setup seconds cpu_s 'records/s' 'all runs (s)'
printf '%-52s %9.3f %9s %14.0f\n' "produce (runnel-kafka produce, keyed)" "$produce_s" - \
  "$(awk -v r="$records" -v s="$produce_s" 'BEGIN {print r / s}')"
bad=0
for j in a b b2 c; do
  case $j in
    a) what="(a) kafka_source -> blackhole" ;;
    b) what="(b) datagen -> kafka_sink at_least_once" ;;
    b2) what="(b2) datagen -> kafka_sink exactly_once" ;;
    c) what="(c) kafka_source -> filter -> kafka_sink" ;;
  esac
  s=$(cat "$tmp/$j.s")
  printf '%-52s %9.3f %9.2f %14.0f   %s\n' "$what" "$s" "$(cat "$tmp/$j.cpu")" \
    "$(awk -v r="$records" -v s="$s" 'BEGIN {print r / s}')" "$(tr '\n' ' ' < "$tmp/$j.times")"
  got=$(cat "$tmp/$j.rows")
  [ "$got" = "$records" ] || { echo "check: job $j read $got records, want $records" >&2; bad=1; }
done
[ $bad -eq 0 ] && echo "check: every job read all $records records"
exit $bad
