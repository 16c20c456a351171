/*
 * fuzz_kafka_state.c — libFuzzer target for kafka_source's checkpoint element codec
 * (operators/kafka/kafka_state.h): one element of the union list "kafka_source.offsets", read
 * from a checkpoint file that may be damaged.
 *
 * Any input must be refused with RN_ECORRUPT and a message, or decode to an element that obeys
 * the format's rules and encodes back to exactly the input bytes (the encoding is canonical);
 * its prefixes without a topic byte must be refused, and encoding into one byte too few must be
 * RN_ERANGE. Anything else aborts. Links only the codec and the engine (no librdkafka).
 * Seeds: tests/fuzz/corpus/kafka_state/, written by rnk_offsets_elem_encode (a topic with each
 * combination of flags, logical and real offsets, the longest topic name).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kafka_state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rnk_offsets_elem e;
    struct rn_error err = {0};
    int rc = rnk_offsets_elem_decode(data, size, &e, &err);
    if (rc) {
        if (rc != RN_ECORRUPT || !err.msg[0]) abort();
        if (rnk_offsets_elem_decode(data, size, &e, NULL) != RN_ECORRUPT) abort();   /* no err: same answer */
        return 0;
    }
    /* accepted: the rules hold */
    size_t tlen = strlen(e.topic);
    if (!rnk_topic_name_ok(e.topic, tlen) || e.partition < 0 || e.next < -2 || e.has_stop != (e.stop >= 0) ||
        (!e.has_stop && e.stop != -1) || (e.finished && !e.has_stop))
        abort();
    uint8_t out[RNK_ELEM_MAX];
    size_t len = 0;
    if (rnk_offsets_elem_encode(&e, out, sizeof out, &len, &err)) abort();
    if (len != size || memcmp(out, data, size) != 0) abort();
    if (rnk_offsets_elem_encode(&e, out, len - 1, &len, &err) != RN_ERANGE) abort();
    for (size_t n = 0; n <= RNK_ELEM_FIXED; n++)   /* the topic is what the element's length leaves */
        if (rnk_offsets_elem_decode(data, n, &e, &err) != RN_ECORRUPT) abort();
    return 0;
}
