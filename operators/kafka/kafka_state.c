/*
 * kafka_state.c — encoding and checked decoding of kafka_source's checkpoint elements
 * (kafka_state.h). Decoding trusts nothing: an element comes from a file on disk, which may be
 * damaged or not ours, and every rule of the format is checked before a field is used.
 *
 * Assumes only the engine's little-endian helpers (runnel/operator.h); no librdkafka, no
 * allocation.
 */
#include "kafka_state.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "runnel/operator.h"

__attribute__((format(printf, 3, 4))) static int fail(struct rn_error *err, int code, const char *fmt, ...)
{
    if (!err) return code;
    memset(err, 0, sizeof *err);
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return code;
}

bool rnk_topic_name_ok(const char *t, size_t n)
{
    if (n == 0 || n > RNK_TOPIC_MAX) return false;
    for (size_t i = 0; i < n; i++) {
        char c = t[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '-'))
            return false;
    }
    return true;
}

/* The rules on the fields, shared by both directions: NULL, or what breaks them. */
static const char *fields_bad(int32_t partition, int64_t next, int64_t stop, bool has_stop, bool finished)
{
    if (partition < 0) return "a negative partition";
    if (next < -2) return "a next offset below -2 (only -2 earliest and -1 latest are logical offsets)";
    if (has_stop && stop < 0) return "the has-stop flag with a negative stop offset";
    if (!has_stop && stop != -1) return "a stop offset without the has-stop flag";
    if (finished && !has_stop) return "the finished flag without a stop offset";
    return NULL;
}

int rnk_offsets_elem_encode(const struct rnk_offsets_elem *e, uint8_t *out, size_t cap, size_t *len,
                            struct rn_error *err)
{
    size_t tlen = strnlen(e->topic, sizeof e->topic);
    if (!rnk_topic_name_ok(e->topic, tlen))
        return fail(err, RN_EINVAL, "'%.*s' is not a legal topic name", (int)tlen, e->topic);
    const char *why = fields_bad(e->partition, e->next, e->stop, e->has_stop, e->finished);
    if (why) return fail(err, RN_EINVAL, "topic '%s' partition %" PRId32 ": %s", e->topic, e->partition, why);
    size_t need = RNK_ELEM_FIXED + tlen;
    if (cap < need) return fail(err, RN_ERANGE, "an element of %zu bytes does not fit in %zu", need, cap);
    out[0] = RNK_ELEM_VERSION;
    out[1] = (uint8_t)((e->finished ? RNK_ELEM_FINISHED : 0) | (e->has_stop ? RNK_ELEM_HAS_STOP : 0));
    rn_put_le32(out + 2, (uint32_t)e->partition);
    rn_put_le64(out + 6, (uint64_t)e->next);
    rn_put_le64(out + 14, (uint64_t)e->stop);
    memcpy(out + RNK_ELEM_FIXED, e->topic, tlen);
    *len = need;
    return 0;
}

int rnk_offsets_elem_decode(const void *val, size_t len, struct rnk_offsets_elem *out, struct rn_error *err)
{
    const uint8_t *p = val;
    if (len < 1) return fail(err, RN_ECORRUPT, "an empty element");
    if (p[0] != RNK_ELEM_VERSION)
        return fail(err, RN_ECORRUPT, "version %u (this build reads version %u)", p[0], RNK_ELEM_VERSION);
    if (len <= RNK_ELEM_FIXED)
        return fail(err, RN_ECORRUPT, "%zu bytes: shorter than the %u fixed bytes and a topic", len, RNK_ELEM_FIXED + 1);
    if (len > RNK_ELEM_MAX)
        return fail(err, RN_ECORRUPT, "%zu bytes: longer than %u (a topic of at most %u bytes)", len, RNK_ELEM_MAX,
                    RNK_TOPIC_MAX);
    if (p[1] & ~(RNK_ELEM_FINISHED | RNK_ELEM_HAS_STOP)) return fail(err, RN_ECORRUPT, "unknown flags 0x%02x", p[1]);
    const char *topic = (const char *)p + RNK_ELEM_FIXED;
    size_t tlen = len - RNK_ELEM_FIXED;
    if (!rnk_topic_name_ok(topic, tlen)) {
        /* the name as printable text, for the message */
        char shown[RNK_TOPIC_MAX * 4 + 1];
        size_t o = 0;
        for (size_t i = 0; i < tlen && i < 64; i++) {
            unsigned char c = (unsigned char)topic[i];
            if (c >= 0x20 && c < 0x7f && c != '\\' && c != '\'') shown[o++] = (char)c;
            else o += (size_t)snprintf(shown + o, sizeof shown - o, "\\x%02x", c);
        }
        shown[o] = 0;
        return fail(err, RN_ECORRUPT, "the topic '%s%s' (%zu bytes) is not a legal topic name", shown,
                    tlen > 64 ? "..." : "", tlen);
    }
    memcpy(out->topic, topic, tlen);
    out->topic[tlen] = 0;
    out->partition = (int32_t)rn_get_le32(p + 2);
    out->next = (int64_t)rn_get_le64(p + 6);
    out->stop = (int64_t)rn_get_le64(p + 14);
    out->finished = p[1] & RNK_ELEM_FINISHED;
    out->has_stop = p[1] & RNK_ELEM_HAS_STOP;
    const char *why = fields_bad(out->partition, out->next, out->stop, out->has_stop, out->finished);
    if (why)
        return fail(err, RN_ECORRUPT, "topic '%s' partition %" PRId32 " (next %" PRId64 ", stop %" PRId64 "): %s",
                    out->topic, out->partition, out->next, out->stop, why);
    return 0;
}
