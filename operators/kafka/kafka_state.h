/*
 * kafka_state.h — the checkpointed state of kafka_source: one element of the union list
 * "kafka_source.offsets" per owned partition, and its encoding.
 *
 * An element is {version 1, flags (bit 0 finished, bit 1 has stop), partition le32, next offset
 * le64, stop offset le64, topic bytes (1..249 of [a-zA-Z0-9._-], no terminator)}: 22 fixed bytes
 * and the topic. The encoding is canonical (one element, one byte string), so a decoded element
 * encodes back to the same bytes. Free of librdkafka types: the codec is also linked alone into
 * its fuzzer (tests/fuzz/fuzz_kafka_state.c).
 *
 * Assumes checkpoints are read back by the code that wrote them or a later one; version 1 is the
 * only one so far.
 */
#ifndef RN_KAFKA_STATE_H
#define RN_KAFKA_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runnel/error.h"

#define RNK_OFFSETS_LIST "kafka_source.offsets"
#define RNK_TOPIC_MAX 249u                       /* Kafka's limit on a topic name */
#define RNK_ELEM_FIXED 22u                       /* an element without its topic */
#define RNK_ELEM_MAX (RNK_ELEM_FIXED + RNK_TOPIC_MAX)
#define RNK_ELEM_VERSION 1u
#define RNK_ELEM_FINISHED 1u
#define RNK_ELEM_HAS_STOP 2u

/* A partition's position as a checkpoint records it. */
struct rnk_offsets_elem {
    char topic[RNK_TOPIC_MAX + 1];   /* NUL-terminated */
    int32_t partition;               /* >= 0 */
    int64_t next;                    /* the next offset to read: >= 0, or librdkafka's logical
                                        -2 (earliest) or -1 (latest) when nothing was read yet */
    int64_t stop;                    /* bounded mode's end offset (>= 0) when has_stop, else -1 */
    bool has_stop;
    bool finished;                   /* bounded mode: read up to stop (needs has_stop) */
};

/* Kafka's legal topic names: n (1..249) bytes of [a-zA-Z0-9._-]. */
bool rnk_topic_name_ok(const char *t, size_t n);

/* Encodes e into out (cap bytes; RNK_ELEM_MAX always suffice) and sets *len. RN_EINVAL (with
 * err saying which field) when e breaks the rules above, RN_ERANGE when cap is too small. */
int rnk_offsets_elem_encode(const struct rnk_offsets_elem *e, uint8_t *out, size_t cap, size_t *len,
                            struct rn_error *err);

/* Decodes and checks one element of len bytes: every length and field. RN_ECORRUPT with err
 * naming what is wrong (size, version, flags, partition, offsets, topic); never reads outside
 * val. err may be NULL. */
int rnk_offsets_elem_decode(const void *val, size_t len, struct rnk_offsets_elem *out, struct rn_error *err);

#endif
