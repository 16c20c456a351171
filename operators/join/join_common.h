/*
 * operators/join/join_common.h — what the three join operators (join, interval_join,
 * window_join) share: the output schema of a join (every left column, then every right column,
 * each side's names optionally prefixed, then operator-specific trailing columns), a compact
 * byte encoding of one row for keyed list and map state, an output writer that appends
 * (left, right) pairs taken from live batches or from stored bytes into batches it emits when
 * full, the grouping of a batch's rows by key, and the reading of signed durations.
 *
 * Assumes: one operator subtask per thread (the writer and scratch buffers are per subtask);
 * nothing here allocates per row once the scratch buffers have grown to a batch's size.
 */
#ifndef RN_JOIN_COMMON_H
#define RN_JOIN_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runnel/operator.h"

/* The option-table entries every join has (left_prefix, right_prefix). */
#define RN_JOIN_PREFIX_OPTIONS                                                                            \
    {"left_prefix", RN_OPT_STRING, "''", "prepended to the name of every column of the left input"},     \
    {"right_prefix", RN_OPT_STRING, "''", "prepended to the name of every column of the right input"}

/* A trailing output column that a join adds after the left and right columns. */
struct rn__join_extra {
    const char *name;
    struct rn_type type;
};

/* Plan time: checks that the node has exactly two inputs with keys (rn_plan_key), and builds
 * the output schema: input 0's columns (left_prefix + name), input 1's (right_prefix + name),
 * then the extra columns. right_nullable makes every right column nullable (left joins). A
 * name that appears twice is an error naming the column and suggesting a prefix. Returns 0
 * with *out (one reference, the caller's) or RN_EINVAL with the error recorded. */
int rn__join_plan_output(struct rn_plan_ctx *ctx, bool right_nullable, const struct rn__join_extra *extra,
                         uint32_t n_extra, rn_schema **out);

/* Reads a signed duration: an optional sign, then digits and a unit ms, s, m, min, h or d (a
 * bare number is milliseconds), e.g. "-2s", "+500ms", "0". 0, or RN_EINVAL. */
int rn__join_signed_duration(const char *text, int64_t *ms);

/* Resolves the event-time column of input `input`: the column named by option `option` when it
 * is set (non-empty), else the input's watermark column (rn_plan_time_column). It must be a
 * timestamp or an int64 (ms). Plan time: errors are recorded (at the option, or at the node
 * saying to set the option or a watermark); returns the column's index or RN_EINVAL. */
int rn__join_plan_time(struct rn_plan_ctx *ctx, uint32_t input, const char *option);
/* The same at run time (the job validated: this only fails on a job that changed under us). */
int rn__join_open_time(struct rn_op_ctx *ctx, uint32_t input, const char *option);

/* ---- a growable byte buffer (scratch space reused across batches) ---- */

struct rn__join_buf {
    uint8_t *p;
    size_t len, cap;
};
/* Makes room for `more` bytes after len. 0 or RN_ENOMEM. */
int rn__join_buf_reserve(struct rn__join_buf *b, size_t more);
int rn__join_buf_append(struct rn__join_buf *b, const void *p, size_t n);
void rn__join_buf_free(struct rn__join_buf *b);

/* ---- rows in state ----
 * Rows are stored with the encoding of keyed/rowbytes.h; they are self-delimiting, so a state
 * value can hold several concatenated rows. The codec (a schema's column types) decodes them
 * into views without copying. */

struct rn__join_codec {
    uint32_t n_cols;
    uint32_t null_bytes;
    struct rn_type *types;       /* per column */
};
int rn__join_codec_init(struct rn__join_codec *c, const rn_schema *s);
void rn__join_codec_free(struct rn__join_codec *c);
/* Appends row r of b, encoded (rn__row_encode), to buf. 0 or RN_ENOMEM. */
int rn__join_row_append(const struct rn_batch *b, uint32_t r, struct rn__join_buf *buf);

/* A decoded row: per column a pointer to its value bytes inside the encoding (NULL = null),
 * and for strings the length. Valid as long as the bytes it was decoded from. */
struct rn__join_view {
    const uint8_t **val;         /* n_cols entries */
    uint32_t *len;
};
int rn__join_view_init(struct rn__join_view *v, const struct rn__join_codec *c);
void rn__join_view_free(struct rn__join_view *v);
/* Decodes the row at p[0..avail) into v; returns the bytes it takes, or 0 when the bytes are
 * not a whole row (corrupt state). */
size_t rn__join_row_view(const struct rn__join_codec *c, const uint8_t *p, size_t avail, struct rn__join_view *v);

/* ---- output writer ---- */

/* One side of an output row: a row of a live batch, a decoded stored row, or (neither) nulls. */
struct rn__join_ref {
    const struct rn_batch *b;
    uint32_t row;
    const struct rn__join_view *v;
};

struct rn__join_out {
    struct rn_op_ctx *ctx;
    const rn_schema *schema;     /* the node's output schema */
    const struct rn__join_codec *left, *right;
    uint32_t n_left, n_right;    /* columns */
    struct rn_batch *b;          /* being filled; NULL when none */
    uint32_t rows_per_batch;     /* capacity of the next batch: 256 .. RN_BATCH_ROWS, adapted */
    uint64_t emitted;            /* rows written, for tests and metrics */
};
void rn__join_out_init(struct rn__join_out *o, struct rn_op_ctx *ctx, const struct rn__join_codec *left,
                       const struct rn__join_codec *right);
/* Writes one output row: the left side, the right side, then the n_extra trailing timestamp or
 * int64 columns. Emits the batch when it is full. 0, RN_ENOMEM or rn_op_emit's code. */
int rn__join_out_pair(struct rn__join_out *o, const struct rn__join_ref *l, const struct rn__join_ref *r,
                      const int64_t *extra, uint32_t n_extra);
/* Emits what was written (at the end of each callback, so that nothing waits in the writer). */
int rn__join_out_flush(struct rn__join_out *o);
/* Drops an unsent batch (close after a failure). */
void rn__join_out_free(struct rn__join_out *o);

/* ---- a batch's rows grouped by key ---- */

struct rn__join_groups {
    uint32_t n_groups;
    uint32_t *start;             /* n_groups + 1: rows of group g are order[start[g] .. start[g+1]) */
    uint32_t *order;             /* row indexes, in input order within each group */
    uint32_t cap_rows, cap_groups;
};
/* Groups the rows of k (rn_op_keys) by distinct key. 0 or RN_ENOMEM. */
int rn__join_group(struct rn__join_groups *g, const struct rn_op_keys *k);
void rn__join_groups_free(struct rn__join_groups *g);

/* Saturating addition of time offsets (timestamps near the ends of int64 stay in range). */
static inline int64_t rn__join_add_sat(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_add_overflow(a, b, &r)) return b > 0 ? INT64_MAX : INT64_MIN;
    return r;
}

/* The order-preserving 8-byte encoding of a timestamp (big-endian, sign bit flipped): map keys
 * that sort by time. */
static inline void rn__join_ts_key(int64_t ts, uint8_t out[8])
{
    uint64_t u = (uint64_t)ts ^ (UINT64_C(1) << 63);
    for (int i = 7; i >= 0; i--, u >>= 8) out[i] = (uint8_t)u;
}
static inline int64_t rn__join_ts_from_key(const uint8_t in[8])
{
    uint64_t u = 0;
    for (int i = 0; i < 8; i++) u = u << 8 | in[i];
    return (int64_t)(u ^ (UINT64_C(1) << 63));
}

#endif
