#!/usr/bin/env bash
# jobs/kafka/demo.sh — the Kafka jobs of this folder against librdkafka's mock cluster: starts
# `runnel kafka mock` (3 brokers; topics bids and bid_counts, 8 partitions each), writes 368K
# Nexmark bids into `bids` (produce_bids.yaml), counts them per auction and window into
# `bid_counts` exactly once (bid_counts.yaml), and prints the first results. The job files name
# localhost:9092; this script runs copies naming the mock's ephemeral ports. The mock keeps about
# 5 MB per partition (older messages are dropped), hence 8 partitions for ~30 MB of bids.
#   jobs/kafka/demo.sh [build-dir]        (default: build)
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
runnel=$build/runtime/runnel
work=$(mktemp -d /tmp/runnel-kafka-demo.XXXXXX)
mock_pid=
cleanup() {
  [ -n "$mock_pid" ] && kill "$mock_pid" 2>/dev/null && wait "$mock_pid" 2>/dev/null
  rm -rf "$work" /tmp/runnel-kafka-demo/checkpoints/bid-counts
}
trap cleanup EXIT

"$runnel" kafka mock --brokers 3 --topic bids:8 --topic bid_counts:8 --port-file "$work/servers" >/dev/null &
mock_pid=$!
for _ in $(seq 100); do [ -s "$work/servers" ] && break; sleep 0.1; done
servers=$(cat "$work/servers")
echo "mock cluster: $servers"
for job in produce_bids bid_counts; do
  sed "s/localhost:9092/$servers/" "jobs/kafka/$job.yaml" > "$work/$job.yaml"
  "$runnel" run "$work/$job.yaml"
done
echo "first results in bid_counts (read_committed):"
"$runnel" kafka consume --bootstrap "$servers" --topic bid_counts --read-committed | head -5
