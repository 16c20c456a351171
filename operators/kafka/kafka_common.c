/*
 * kafka_common.c — the Kafka operators' shared parts (kafka_common.h): librdkafka
 * configuration from options, refused properties, and the json / csv / raw record formats over
 * the host's textfmt codecs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka_common.h"

int rnk_format_parse(const char *name, enum rnk_format *out)
{
    if (!name) return RN_EINVAL;
    if (!strcmp(name, "json") || !strcmp(name, "jsonl")) *out = RNK_JSON;
    else if (!strcmp(name, "csv")) *out = RNK_CSV;
    else if (!strcmp(name, "raw")) *out = RNK_RAW;
    else return RN_EINVAL;
    return 0;
}

const char *rnk_format_check(enum rnk_format f, const rn_schema *s)
{
    if (f != RNK_RAW) return NULL;
    if (rn_schema_len(s) != 1 || rn_schema_field(s, 0)->type.id != RN_T_STRING)
        return "format raw needs a schema of exactly one string column (the message value)";
    return NULL;
}

/* What each operator sets itself: offsets belong to checkpoints, transactions to the sink. */
static const char *const refused_source[] = {"enable.auto.commit", "enable.auto.offset.store", "group.id",
                                             "bootstrap.servers", "isolation.level", NULL};
static const char *const refused_sink[] = {"transactional.id", "enable.idempotence", "bootstrap.servers", NULL};

const char *rnk_property_refused(const rn_value *properties, const char *kind)
{
    if (!properties || rn_value_kind(properties) != RN_VALUE_MAP) return NULL;
    const char *const *list = strcmp(kind, "sink") ? refused_source : refused_sink;
    for (size_t i = 0; i < rn_value_len(properties); i++)
        for (size_t j = 0; list[j]; j++)
            if (!strcmp(rn_value_key(properties, i), list[j])) return list[j];
    return NULL;
}

static bool conf_set(rd_kafka_conf_t *c, const char *name, const char *value, char *why, size_t why_len)
{
    char msg[256];
    if (rd_kafka_conf_set(c, name, value, msg, sizeof msg) == RD_KAFKA_CONF_OK) return true;
    snprintf(why, why_len, "property '%s': %s", name, msg);
    return false;
}

rd_kafka_conf_t *rnk_conf_build(const char *bootstrap, const rn_value *properties, const char *const *fixed,
                                char *why, size_t why_len)
{
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    if (!c) return snprintf(why, why_len, "out of memory"), NULL;
    bool ok = conf_set(c, "bootstrap.servers", bootstrap, why, why_len);
    for (size_t i = 0; ok && properties && i < rn_value_len(properties); i++) {
        const char *v = rn_value_text(rn_value_at(properties, i));
        ok = conf_set(c, rn_value_key(properties, i), v ? v : "", why, why_len);
    }
    for (size_t i = 0; ok && fixed && fixed[i]; i += 2) ok = conf_set(c, fixed[i], fixed[i + 1], why, why_len);
    if (ok) return c;
    rd_kafka_conf_destroy(c);
    return NULL;
}

int rnk_plan_check_properties(struct rn_plan_ctx *ctx, const rn_value *options, const char *kind)
{
    const char *bs = rn_opt_string(options, "bootstrap_servers");
    if (!bs || !*bs) return rn_plan_error(ctx, rn_opt_value(options, "bootstrap_servers"), "bootstrap_servers is empty");
    const rn_value *p = rn_opt_value(options, "properties");
    if (!p) return 0;
    if (rn_value_kind(p) != RN_VALUE_MAP) return rn_plan_error(ctx, p, "properties must be a map of librdkafka property: value");
    for (size_t i = 0; i < rn_value_len(p); i++)
        if (rn_value_kind(rn_value_at(p, i)) != RN_VALUE_SCALAR)
            return rn_plan_error(ctx, rn_value_at(p, i), "property '%s' must be a scalar", rn_value_key(p, i));
    const char *refused = rnk_property_refused(p, kind);
    if (refused)
        return rn_plan_error(ctx, rn_value_get(p, refused),
                             "property '%s' is set by kafka_%s itself (see docs/job-spec.md)", refused, kind);
    char why[512];
    rd_kafka_conf_t *c = rnk_conf_build(bs, p, NULL, why, sizeof why);
    if (!c) return rn_plan_error(ctx, p, "%s", why);
    rd_kafka_conf_destroy(c);
    return 0;
}

/* ---- decoding ---- */

struct rnk_decoder {
    enum rnk_format fmt;
    rn_text_decoder *text;   /* json, csv */
};

rnk_decoder *rnk_decoder_create(enum rnk_format f, const rn_schema *s, char delim)
{
    rnk_decoder *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    d->fmt = f;
    if (f == RNK_RAW) return d;
    if (!(d->text = rn_text_decoder_create(f == RNK_CSV ? RN_FMT_CSV : RN_FMT_JSONL, s, delim))) {
        free(d);
        return NULL;
    }
    if (f == RNK_CSV) {
        /* messages carry no header: fields are in schema order */
        struct rn_text_buf h = {0};
        struct rn_error err;
        int rc = rn_text_encode_header(RN_FMT_CSV, delim ? delim : ',', s, &h);
        if (!rc) rc = rn_text_decoder_header(d->text, h.data, h.len && h.data[h.len - 1] == '\n' ? h.len - 1 : h.len, &err);
        rn_text_buf_free(&h);
        if (rc) {
            rnk_decoder_destroy(d);
            return NULL;
        }
    }
    return d;
}

void rnk_decoder_destroy(rnk_decoder *d)
{
    if (!d) return;
    rn_text_decoder_destroy(d->text);
    free(d);
}

int rnk_decode(rnk_decoder *d, const void *value, size_t len, rn_builder *bb, struct rn_error *err)
{
    if (!value || !len) return rn_error_set(err, RN_EINVAL, 0, 0, "empty value");
    if (d->fmt == RNK_RAW) {
        int rc = rn_builder_str(bb, 0, value, len);
        return rc ? rn_error_set(err, rc, 0, 0, "cannot append the value") : 0;
    }
    int rc = rn_text_decode_line(d->text, value, len, bb, err);
    return rc == RN_EEND ? rn_error_set(err, RN_EINVAL, 0, 0, "empty value") : rc;
}

/* ---- encoding ---- */

int rnk_encode(enum rnk_format f, char delim, const struct rn_batch *b, uint32_t row, struct rn_text_buf *out)
{
    if (f == RNK_RAW) {
        if (rn_column_is_null(&b->cols[0], row)) return 0;
        struct rn_str s = rn_col_str(&b->cols[0], row);
        return rn_text_buf_append(out, s.ptr, s.len);
    }
    int rc = rn_text_encode_row(f == RNK_CSV ? RN_FMT_CSV : RN_FMT_JSONL, delim ? delim : ',', b, row, out);
    if (!rc && out->len && out->data[out->len - 1] == '\n') out->len--;
    return rc;
}
