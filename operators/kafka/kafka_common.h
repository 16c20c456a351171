/*
 * kafka_common.h — what the Kafka plugin's operators (kafka_source, kafka_sink) share: the
 * librdkafka configuration built from a node's options, the record formats (json, csv, raw)
 * over the host's textfmt library, and the stable names derived from the job.
 *
 * The plugin (runnel_kafka.so, built into build/runtime/plugins/) links librdkafka; the core
 * does not. It calls the textfmt functions that the runnel binary (and every test binary that
 * loads plugins) exports.
 */
#ifndef RN_KAFKA_COMMON_H
#define RN_KAFKA_COMMON_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>

#include "runnel/operator.h"
#include "textfmt.h"

/* The operators (kafka_source.c, kafka_sink.c); plugin.c exports both. */
extern const struct rn_operator_def rnk_source_def;
extern const struct rn_operator_def rnk_sink_def;

/* Record formats of a message's value. raw: the value's bytes as the one string column of the
 * schema. */
enum rnk_format { RNK_JSON, RNK_CSV, RNK_RAW };

/* "json" (also "jsonl"), "csv" or "raw": 0, or RN_EINVAL. */
int rnk_format_parse(const char *name, enum rnk_format *out);

/* NULL when format f can carry schema s, else why not (static text): raw needs exactly one
 * string column. */
const char *rnk_format_check(enum rnk_format f, const rn_schema *s);

/* Properties the operators set themselves and refuse under `properties:` (they would break
 * the checkpointed offsets or the transactions): NULL, or the name refused. kind is "source"
 * or "sink". */
const char *rnk_property_refused(const rn_value *properties, const char *kind);

/* A librdkafka configuration: bootstrap.servers, every `properties:` entry (a map of name:
 * scalar, set as text), then the operator's own pairs `fixed` (name, value, name, value, ...,
 * NULL). NULL with why filled ("property 'x': <librdkafka's message>") when one is refused. */
rd_kafka_conf_t *rnk_conf_build(const char *bootstrap, const rn_value *properties, const char *const *fixed,
                                char *why, size_t why_len);

/* Plan-time check of the common options: bootstrap_servers not empty, `properties:` a map of
 * scalars that librdkafka accepts and rnk_property_refused does not refuse. 0, or the
 * rn_plan_error code (the error recorded at the offending value). */
int rnk_plan_check_properties(struct rn_plan_ctx *ctx, const rn_value *options, const char *kind);

/* ---- decoding (source) ---- */

typedef struct rnk_decoder rnk_decoder;

/* A decoder of message values into rows of schema s (a reference is taken). delim: CSV
 * delimiter (fields in schema order, no header). */
rnk_decoder *rnk_decoder_create(enum rnk_format f, const rn_schema *s, char delim);
void rnk_decoder_destroy(rnk_decoder *d);

/* Appends one row decoded from the value (len bytes; NULL/0 for a tombstone) to columns
 * 0 .. n-1 of bb, n being the decoder schema's columns (bb may have more after them, which the
 * caller fills). A malformed value appends nothing and returns RN_EINVAL with err saying what
 * (err->column: byte position). A tombstone or empty value is RN_EINVAL too ("empty value"). */
int rnk_decode(rnk_decoder *d, const void *value, size_t len, rn_builder *bb, struct rn_error *err);

/* ---- encoding (sink) ---- */

/* Appends row `row` of b as a message value (json: one object; csv: one line; raw: the string
 * column's bytes, a null as nothing) to out, without a line ending. 0 or RN_ENOMEM. */
int rnk_encode(enum rnk_format f, char delim, const struct rn_batch *b, uint32_t row, struct rn_text_buf *out);

#endif
