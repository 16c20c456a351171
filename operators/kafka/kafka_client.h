/*
 * kafka_client.h — a small librdkafka client for the runnel-kafka tool (`runnel kafka ...`),
 * the Kafka tests and the benchmarks: an in-process mock cluster (librdkafka's rdkafka_mock:
 * the real protocol over loopback, several brokers, error injection), producing messages and
 * reading a topic back. Not linked into the engine or the plugin.
 */
#ifndef RN_KAFKA_CLIENT_H
#define RN_KAFKA_CLIENT_H

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- mock cluster ---- */

typedef struct rnk_mock rnk_mock;

/* Starts a mock cluster of `brokers` brokers on 127.0.0.1 (ephemeral ports). NULL with why. */
rnk_mock *rnk_mock_start(int brokers, char *why, size_t why_len);
/* "127.0.0.1:port,..." (valid until rnk_mock_stop). */
const char *rnk_mock_bootstrap(const rnk_mock *m);
/* The cluster, for fault injection (rd_kafka_mock_broker_set_down, rd_kafka_mock_push_request_errors, ...). */
rd_kafka_mock_cluster_t *rnk_mock_cluster(rnk_mock *m);
/* Creates topic with `partitions` partitions (replication 1). 0, or -1 with why. */
int rnk_mock_create_topic(rnk_mock *m, const char *topic, int partitions, char *why, size_t why_len);
void rnk_mock_stop(rnk_mock *m);

/* ---- producing ---- */

/* Produces n messages to topic and waits until every one is acknowledged (timeout_ms in all).
 * values[i] (len: strlen) is message i's value; keys NULL or keys[i] NULL: no key; partition
 * -1: librdkafka's partitioner (by key; round robin without), else that partition; timestamps
 * NULL: now, else timestamps[i] ms. 0, or -1 with why naming the first failure. */
int rnk_produce(const char *bootstrap, const char *topic, int32_t partition, const char *const *values,
                const char *const *keys, const int64_t *timestamps, size_t n, int timeout_ms, char *why, size_t why_len);

/* ---- consuming ---- */

struct rnk_msg {
    char *key;          /* NUL-terminated copy; NULL when the message has none */
    char *value;        /* NUL-terminated copy; NULL for a tombstone */
    size_t key_len, value_len;
    int32_t partition;
    int64_t offset, timestamp;
};
struct rnk_msgs {
    size_t n, cap;
    struct rnk_msg *v;  /* per partition in offset order, partitions in order */
};
void rnk_msgs_free(struct rnk_msgs *m);

/* Reads every message of every partition of topic from the beginning up to each partition's
 * high watermark at the time of the call (read_committed: its last stable offset), with no
 * consumer group. 0, or -1 with why (a topic that does not exist, a timeout). */
int rnk_consume_all(const char *bootstrap, const char *topic, bool read_committed, int timeout_ms,
                    struct rnk_msgs *out, char *why, size_t why_len);

/* The number of partitions of topic, or -1 with why. */
int rnk_partitions(const char *bootstrap, const char *topic, int timeout_ms, char *why, size_t why_len);

#endif
