/*
 * builder.c — rn_builder: appends rows value by value into batches of a fixed capacity, for
 * sources, parsers and tests. Each column keeps its own fill count; a batch is handed over
 * only when every column holds the same number of values.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "runnel/batch.h"

struct rn_builder {
    const rn_schema *schema;
    uint32_t rows_per_batch, n_cols;
    struct rn_batch *b;   /* batch under construction, created on the first append */
    uint32_t *len;        /* values appended per column */
};

rn_builder *rn_builder_create(const rn_schema *s, uint32_t rows_per_batch)
{
    if (rows_per_batch == 0) rows_per_batch = RN_BATCH_ROWS;
    if (rows_per_batch > RN_BATCH_MAX_ROWS) return NULL;
    rn_builder *bb = calloc(1, sizeof *bb);
    if (!bb) return NULL;
    bb->n_cols = (uint32_t)rn_schema_len(s);
    bb->len = calloc(bb->n_cols ? bb->n_cols : 1, sizeof *bb->len);
    if (!bb->len) {
        free(bb);
        return NULL;
    }
    bb->schema = rn_schema_ref(s);
    bb->rows_per_batch = rows_per_batch;
    return bb;
}

void rn_builder_destroy(rn_builder *bb)
{
    if (!bb) return;
    rn_batch_unref(bb->b);
    rn_schema_unref(bb->schema);
    free(bb->len);
    free(bb);
}

/* Checks col and its type, makes sure a batch exists; returns the row to write or < 0. */
static int64_t slot(rn_builder *bb, uint32_t col, enum rn_type_id t)
{
    if (col >= bb->n_cols) return RN_EINVAL;
    const struct rn_field *f = rn_schema_field(bb->schema, col);
    if (t != RN_T_NULL && f->type.id != t) return RN_EINVAL;
    if (t == RN_T_NULL && !f->nullable) return RN_EINVAL;
    if (!bb->b) {
        bb->b = rn_batch_new(bb->schema, bb->rows_per_batch);
        if (!bb->b) return RN_ENOMEM;
        memset(bb->len, 0, bb->n_cols * sizeof *bb->len);
    }
    if (bb->len[col] >= bb->rows_per_batch) return RN_ERANGE;
    return bb->len[col];
}

#define APPEND(fn, ctype, tid, store)                                        \
    int fn(rn_builder *bb, uint32_t col, ctype v)                            \
    {                                                                        \
        int64_t row = slot(bb, col, tid);                                    \
        if (row < 0) return (int)row;                                        \
        store;                                                               \
        bb->len[col]++;                                                      \
        return 0;                                                            \
    }

APPEND(rn_builder_bool, bool, RN_T_BOOL, ((uint8_t *)bb->b->cols[col].values)[row] = v ? 1 : 0)
APPEND(rn_builder_i64, int64_t, RN_T_INT64, ((int64_t *)bb->b->cols[col].values)[row] = v)
APPEND(rn_builder_f64, double, RN_T_DOUBLE, ((double *)bb->b->cols[col].values)[row] = v)
APPEND(rn_builder_ts, int64_t, RN_T_TIMESTAMP, ((int64_t *)bb->b->cols[col].values)[row] = v)

int rn_builder_str(rn_builder *bb, uint32_t col, const char *s, size_t len)
{
    int64_t row = slot(bb, col, RN_T_STRING);
    if (row < 0) return (int)row;
    int rc = rn_batch_set_str(bb->b, col, (uint32_t)row, s, len);
    if (rc) return rc;
    bb->len[col]++;
    return 0;
}

int rn_builder_vec(rn_builder *bb, uint32_t col, const float *v, uint32_t dim)
{
    int64_t row = slot(bb, col, RN_T_VECTOR);
    if (row < 0) return (int)row;
    struct rn_column *c = &bb->b->cols[col];
    if (dim != c->type.dim) return RN_EINVAL;
    memcpy((float *)c->values + (size_t)row * dim, v, dim * sizeof(float));
    bb->len[col]++;
    return 0;
}

int rn_builder_null(rn_builder *bb, uint32_t col)
{
    int64_t row = slot(bb, col, RN_T_NULL);
    if (row < 0) return (int)row;
    int rc = rn_batch_set_null(bb->b, col, (uint32_t)row);
    if (rc) return rc;
    bb->len[col]++;
    return 0;
}

uint32_t rn_builder_rows(const rn_builder *bb)
{
    if (!bb->b) return 0;
    uint32_t n = UINT32_MAX;
    for (uint32_t c = 0; c < bb->n_cols; c++)
        if (bb->len[c] < n) n = bb->len[c];
    return bb->n_cols ? n : 0;
}

bool rn_builder_full(const rn_builder *bb) { return rn_builder_rows(bb) >= bb->rows_per_batch; }

struct rn_batch *rn_builder_finish(rn_builder *bb, struct rn_error *err)
{
    if (!bb->b) {
        bb->b = rn_batch_new(bb->schema, bb->rows_per_batch);
        if (!bb->b) {
            rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
            return NULL;
        }
        memset(bb->len, 0, bb->n_cols * sizeof *bb->len);
    }
    uint32_t n = bb->n_cols ? bb->len[0] : 0;
    for (uint32_t c = 1; c < bb->n_cols; c++)
        if (bb->len[c] != n) {
            rn_error_set(err, RN_EINVAL, 0, 0, "column '%s' has %u values, column '%s' %u",
                         rn_schema_field(bb->schema, c)->name, bb->len[c],
                         rn_schema_field(bb->schema, 0)->name, n);
            return NULL;
        }
    struct rn_batch *out = bb->b;
    out->n_rows = n;
    bb->b = NULL;
    return out;
}
