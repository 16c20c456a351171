/*
 * textfmt.h — row formats for files (and later Kafka): JSON lines and CSV, decoding text into
 * record batches of a declared schema and encoding batch rows as text. Library only: the
 * file_source / file_sink operators wrap it.
 *
 * Decoding rules (both formats):
 *   int64: decimal integer (JSON number without fraction/exponent; CSV text); out of range is an
 *          error.
 *   double: any JSON number / decimal text (also nan, inf in CSV).
 *   bool: JSON true/false; CSV true/false/1/0 (any case).
 *   string: JSON string (all escapes incl. \uXXXX and surrogate pairs, to UTF-8); CSV field.
 *   timestamp: an integer (ms since the epoch) or an ISO-8601 string as
 *          rn_timestamp_parse (runnel/types.h) accepts (JSON: number or string; CSV: either text).
 *   vector<N>: JSON array of N numbers; CSV: the field holds N numbers separated by ';' or a
 *          JSON-style array "[1,2,3]".
 *   null: JSON null or a missing key; CSV an empty unquoted field. Null into a not-null column is
 *          an error.
 * JSON: one object per line; keys not in the schema are ignored; duplicate keys: last wins;
 * nested objects/arrays under ignored keys are skipped (validated). CSV: RFC 4180 (quoted fields,
 * "" escapes, embedded delimiter; a field with an embedded newline is not supported: records are
 * lines); delimiter configurable (default ','); the first line of each file is a header naming
 * columns, matched to the schema by name (a schema column missing from the header is an error at
 * header time; extra header columns are ignored).
 */
#ifndef RN_TEXTFMT_H
#define RN_TEXTFMT_H

#include <stddef.h>
#include <stdint.h>

#include "runnel/batch.h"

enum rn_text_format { RN_FMT_JSONL, RN_FMT_CSV };

/* Parses a format name: "jsonl" (also "json") or "csv". 0 or RN_EINVAL. */
int rn_text_format_parse(const char *name, enum rn_text_format *out);

typedef struct rn_text_decoder rn_text_decoder;

/* A decoder of rows of schema s (a reference is taken). delim: CSV delimiter (0 = ','). */
rn_text_decoder *rn_text_decoder_create(enum rn_text_format f, const rn_schema *s, char delim);
void rn_text_decoder_destroy(rn_text_decoder *d);

/* CSV only: reads a header line (without its line ending) and maps columns. For JSONL a no-op.
 * RN_EINVAL with err naming the missing column. Must be called before the first row of each
 * CSV file (a new file may have another column order). */
int rn_text_decoder_header(rn_text_decoder *d, const char *line, size_t len, struct rn_error *err);

/* Decodes one line (without its line ending; a trailing '\r' is ignored) and appends one row
 * to bb (whose schema is the decoder's). On a malformed line nothing is appended (the row is
 * rolled back: every column keeps the same number of values) and RN_EINVAL is returned with
 * err->column set to the 1-based byte position in the line and a message naming the schema
 * column and what was wrong. An empty or whitespace-only line is RN_EEND (skip it). */
int rn_text_decode_line(rn_text_decoder *d, const char *line, size_t len, rn_builder *bb,
                        struct rn_error *err);

/* A growable output buffer. */
struct rn_text_buf {
    char *data;
    size_t len, cap;
};
void rn_text_buf_free(struct rn_text_buf *b);
/* Appends n bytes to b (growing it). 0 or RN_ENOMEM. */
int rn_text_buf_append(struct rn_text_buf *b, const void *p, size_t n);

/* Appends row `row` of batch b as one line (with '\n'): JSONL objects with the schema's names
 * as keys (timestamps as integer ms, nulls as null, doubles in shortest round-trip form,
 * non-finite doubles as null... strings escaped per RFC 8259); CSV fields in schema order
 * (quoted when they contain the delimiter, a quote, \r or \n; nulls empty). 0 or RN_ENOMEM. */
int rn_text_encode_row(enum rn_text_format f, char delim, const struct rn_batch *b, uint32_t row,
                       struct rn_text_buf *out);
/* Appends the CSV header line of schema s (for JSONL nothing). */
int rn_text_encode_header(enum rn_text_format f, char delim, const rn_schema *s, struct rn_text_buf *out);

#endif
