/*
 * runnel/batch.h — columnar record batches: the unit in which records travel and are processed.
 *
 * A batch holds up to `capacity` rows of a schema as one array per column:
 *   bool       uint8_t[n], each 0 or 1
 *   int64      int64_t[n]            timestamp  int64_t[n] (ms since the epoch)
 *   double     double[n]             vector<N>  float[n * N], row i at values + i * N
 *   string     struct rn_str[n], views into byte buffers that the column keeps alive (deps)
 * plus a validity bitmap (bit i of word i/64 set = row i is not null) only when the column has
 * nulls; a NULL validity pointer means "no nulls". The values of null rows are unspecified but
 * always safe to read (zero for fresh batches).
 *
 * Why string views rather than one offsets array: a filter, a gather, substr() or
 * split_index() can produce new string columns that point into the bytes they came from, so
 * strings are never copied on the way through an operator chain. The wire encoding packs them
 * as offsets + bytes (see rn_batch_encode).
 *
 * Ownership: batches are reference counted (atomically; they cross threads through channels).
 * A batch from rn_batch_new() or a builder is exclusively owned and may be written until it is
 * shared; from then on it is read-only. Derived batches (select, slice, project) share column
 * buffers with their source and are read-only too.
 */
#ifndef RUNNEL_BATCH_H
#define RUNNEL_BATCH_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "runnel/buffer.h"
#include "runnel/error.h"
#include "runnel/types.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RN_BATCH_ROWS 4096u         /* the default number of rows of a batch */
#define RN_BATCH_MAX_ROWS (1u << 24) /* hard limit on rows per batch */

struct rn_column {
    struct rn_type type;
    void *values;            /* the array described above; owned by values_buf */
    uint64_t *validity;      /* NULL when no row is null; else owned by validity_buf */
    rn_buf *values_buf;
    rn_buf *validity_buf;
    /* String columns: the buffers the views point into (rn_column_deps), held by reference.
     * arena is the one of them that rn_batch_set_str appends to while the batch is built. */
    uint32_t n_deps, cap_deps;
    rn_buf *deps_buf;        /* holds the deps array once it outgrows deps_inline */
    rn_buf *deps_inline[2];
    rn_buf *arena;
    size_t arena_used;
};

/* The buffers a string column's views point into (n_deps of them). Kept as an accessor rather
 * than a pointer field so that a column struct can be copied by value. */
static inline rn_buf *const *rn_column_deps(const struct rn_column *c)
{
    return c->deps_buf ? (rn_buf *const *)rn_buf_data(c->deps_buf) : c->deps_inline;
}

struct rn_batch {
    _Atomic uint32_t refs;
    uint32_t n_rows;
    uint32_t capacity;
    uint32_t n_cols;
    const rn_schema *schema;  /* one reference held */
    rn_buf *self;             /* the buffer this header lives in */
    struct rn_column cols[];
};

/* ---- validity bitmaps ---- */
static inline bool rn_bit_get(const uint64_t *bits, uint32_t i) { return (bits[i >> 6] >> (i & 63)) & 1; }
static inline void rn_bit_set(uint64_t *bits, uint32_t i) { bits[i >> 6] |= (uint64_t)1 << (i & 63); }
static inline void rn_bit_clear(uint64_t *bits, uint32_t i) { bits[i >> 6] &= ~((uint64_t)1 << (i & 63)); }
static inline uint32_t rn_bitmap_words(uint32_t n) { return (n + 63) >> 6; }
/* True when row i of column c is null. */
static inline bool rn_column_is_null(const struct rn_column *c, uint32_t i)
{
    return c->validity && !rn_bit_get(c->validity, i);
}
/* Number of null rows among the first n. */
uint32_t rn_column_null_count(const struct rn_column *c, uint32_t n);

/* Typed accessors for readers (no bounds checks: row < n_rows, column of that type). */
static inline int64_t rn_col_i64(const struct rn_column *c, uint32_t i) { return ((const int64_t *)c->values)[i]; }
static inline double rn_col_f64(const struct rn_column *c, uint32_t i) { return ((const double *)c->values)[i]; }
static inline bool rn_col_bool(const struct rn_column *c, uint32_t i) { return ((const uint8_t *)c->values)[i]; }
static inline struct rn_str rn_col_str(const struct rn_column *c, uint32_t i) { return ((const struct rn_str *)c->values)[i]; }
static inline const float *rn_col_vec(const struct rn_column *c, uint32_t i) { return (const float *)c->values + (size_t)i * c->type.dim; }

/* ---- batches ---- */

/* A new batch of schema s (a reference is taken) with room for capacity rows (1 ..
 * RN_BATCH_MAX_ROWS), zero-filled values, no validity bitmaps and n_rows = 0. The caller owns
 * the one reference, writes values directly and sets n_rows. NULL when out of memory or
 * capacity is out of range. */
struct rn_batch *rn_batch_new(const rn_schema *s, uint32_t capacity);
/* The same without zero-filling the values: for writers that set every row up to n_rows. */
struct rn_batch *rn_batch_new_raw(const rn_schema *s, uint32_t capacity);

/* Takes another reference; returns b (cast away const: the result is still read-only). */
struct rn_batch *rn_batch_ref(const struct rn_batch *b);
/* Drops a reference; the last frees the batch and drops its buffers. NULL is ignored. */
void rn_batch_unref(struct rn_batch *b);

/* Writers of a fresh batch. set_null creates the column's validity bitmap on first use (all
 * valid) and clears bit row. set_valid sets it (no-op without a bitmap). set_str copies len
 * bytes into the column's arena (growing it by chaining a new buffer: earlier views stay valid).
 * Return 0, RN_ENOMEM, or RN_EINVAL for a row >= capacity or a column of another type. */
int rn_batch_set_null(struct rn_batch *b, uint32_t col, uint32_t row);
int rn_batch_set_valid(struct rn_batch *b, uint32_t col, uint32_t row);
int rn_batch_set_str(struct rn_batch *b, uint32_t col, uint32_t row, const char *s, size_t len);

/* Makes column c keep buf alive (takes a reference): for string views that point into bytes
 * owned by buf. Returns 0 or RN_ENOMEM. Adding a buffer already held is a no-op. */
int rn_column_add_dep(struct rn_column *c, rn_buf *buf);
/* Drops every reference a column holds and empties it (for columns from rn_expr_eval). */
void rn_column_release(struct rn_column *c);
/* Makes dst (an empty column, e.g. after rn_column_release) a shared, read-only copy of src:
 * same values, nulls and strings, taking references on src's buffers. 0 or RN_ENOMEM. */
int rn_column_share(struct rn_column *dst, const struct rn_column *src);
/* Makes dst keep alive every buffer src's string views point into. */
int rn_column_share_deps(struct rn_column *dst, const struct rn_column *src);

/* A new batch of the rows sel[0..n) of b, in that order (indexes < b->n_rows, repeats allowed).
 * Fixed-width values are gathered; string views are copied, never the bytes they point to.
 * NULL when out of memory. When sel is the identity over all rows, returns a new reference
 * to b itself. */
struct rn_batch *rn_batch_select(const struct rn_batch *b, const uint32_t *sel, uint32_t n);

/* A new batch of the rows of b whose bit is set in bits (bit i of word i/64 for row i), as
 * rn_batch_select. NULL when out of memory. */
struct rn_batch *rn_batch_select_bitmap(const struct rn_batch *b, const uint64_t *bits);

/* Rows [off, off + n) of b, sharing b's buffers (no copy of values). off + n <= b->n_rows. */
struct rn_batch *rn_batch_slice(const struct rn_batch *b, uint32_t off, uint32_t n);

/* A batch of schema out whose column i is column cols[i] of b, sharing b's buffers. out must
 * have n_cols fields whose types match. NULL when out of memory or a type does not match. */
struct rn_batch *rn_batch_project(const struct rn_batch *b, const rn_schema *out,
                                  const uint32_t *cols, uint32_t n_cols);

/* Checks every invariant of b (row counts, types against the schema, string views inside
 * their buffers, booleans 0/1, nulls only in nullable fields). 0, or RN_ECORRUPT with err. */
int rn_batch_validate(const struct rn_batch *b, struct rn_error *err);

/* Writes row i as "v1, v2, ..." (strings quoted, nulls as NULL) into buf; returns buf. */
const char *rn_batch_format_row(const struct rn_batch *b, uint32_t i, char *buf, size_t len);

/* ---- builder: rows appended value by value (sources, parsers, tests) ---- */

typedef struct rn_builder rn_builder;

/* A builder of batches of schema s with up to rows_per_batch rows each (0 = RN_BATCH_ROWS). */
rn_builder *rn_builder_create(const rn_schema *s, uint32_t rows_per_batch);
void rn_builder_destroy(rn_builder *bb);

/* Append one value to column col. Return 0; RN_ERANGE when that column is full; RN_EINVAL for a
 * value of the wrong type; RN_ENOMEM. vec takes dim floats. A null into a column whose field
 * is not nullable is RN_EINVAL. */
int rn_builder_bool(rn_builder *bb, uint32_t col, bool v);
int rn_builder_i64(rn_builder *bb, uint32_t col, int64_t v);
int rn_builder_f64(rn_builder *bb, uint32_t col, double v);
int rn_builder_ts(rn_builder *bb, uint32_t col, int64_t ms);
int rn_builder_str(rn_builder *bb, uint32_t col, const char *s, size_t len);
int rn_builder_vec(rn_builder *bb, uint32_t col, const float *v, uint32_t dim);
int rn_builder_null(rn_builder *bb, uint32_t col);

/* Rows complete in every column; and whether the batch under construction is full. */
uint32_t rn_builder_rows(const rn_builder *bb);
bool rn_builder_full(const rn_builder *bb);

/* Hands over the batch built so far (which may be empty) and starts a new one. NULL with err
 * when the columns do not all hold the same number of values, or out of memory. */
struct rn_batch *rn_builder_finish(rn_builder *bb, struct rn_error *err);

/* ---- binary encoding (network channels, spill files, checkpoints) ---- */

/* The encoded size of b: exactly what rn_batch_encode will write. */
size_t rn_batch_encoded_bound(const struct rn_batch *b);

/* Encodes b into out[0..cap); *written gets the size. RN_ERANGE when cap is too small.
 * Layout (little-endian): header {magic "RNB1", version, flags, n_rows, n_cols, body length,
 * CRC32C of the body}, then per column: type, dim, name, null bitmap when any, values (bools as
 * one byte, strings as u32 offsets[n+1] + bytes). */
int rn_batch_encode(const struct rn_batch *b, void *out, size_t cap, size_t *written);
/* The same with flags: RN_BATCH_ENC_NO_CHECKSUM leaves the CRC out (0 in the header, flag bit
 * set, and the decoder does not verify it) where the transport checksums already and the cost
 * matters: network channels over TCP, as Flink's network buffers. The structure is checked in
 * full either way. RN_EINVAL for an unknown flag. */
#define RN_BATCH_ENC_NO_CHECKSUM 1u
int rn_batch_encode_flags(const struct rn_batch *b, void *out, size_t cap, uint32_t flags, size_t *written);

/* Decodes one batch from in[0..len). When expect is not NULL the encoded columns must have its
 * names and types (and the batch gets expect as schema); otherwise a schema is built from the
 * encoding. Truncated, corrupt or inconsistent input is RN_ECORRUPT with err saying what and at
 * which byte offset; never undefined behaviour. *used gets the bytes consumed (may be NULL). */
int rn_batch_decode(const void *in, size_t len, const rn_schema *expect, struct rn_batch **out,
                    size_t *used, struct rn_error *err);

#ifdef __cplusplus
}
#endif
#endif
