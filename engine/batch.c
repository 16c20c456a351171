/*
 * batch.c — record batches: creation, reference counting, string arenas and dependencies,
 * derived batches (select, slice, project), validation and row formatting.
 * See runnel/batch.h for the layout and ownership rules.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runnel/batch.h"
#include "internal.h"

#define ARENA_MIN (16u << 10)
#define ARENA_MAX (1u << 20)

uint32_t rn_column_null_count(const struct rn_column *c, uint32_t n)
{
    if (!c->validity) return 0;
    uint32_t valid = 0, full = n >> 6;
    for (uint32_t w = 0; w < full; w++) valid += (uint32_t)__builtin_popcountll(c->validity[w]);
    if (n & 63) valid += (uint32_t)__builtin_popcountll(c->validity[full] & (((uint64_t)1 << (n & 63)) - 1));
    return n - valid;
}

/* A batch header for schema s with capacity rows and no column buffers. */
static struct rn_batch *alloc_header(const rn_schema *s, uint32_t capacity)
{
    uint32_t n_cols = (uint32_t)rn_schema_len(s);
    rn_buf *self = rn_buf_alloc(sizeof(struct rn_batch) + n_cols * sizeof(struct rn_column));
    if (!self) return NULL;
    struct rn_batch *b = rn_buf_data(self);
    memset(b, 0, sizeof *b + n_cols * sizeof(struct rn_column));
    atomic_init(&b->refs, 1);
    b->capacity = capacity;
    b->n_cols = n_cols;
    b->schema = rn_schema_ref(s);
    b->self = self;
    for (uint32_t i = 0; i < n_cols; i++) {
        b->cols[i].type = rn_schema_field(s, i)->type;
        b->cols[i].cap_deps = 2;
    }
    return b;
}

struct rn_batch *rn__batch_header(const rn_schema *s, uint32_t capacity)
{
    if (capacity == 0 || capacity > RN_BATCH_MAX_ROWS) return NULL;
    return alloc_header(s, capacity);
}

struct rn_batch *rn__batch_alloc(const rn_schema *s, uint32_t capacity, bool zero)
{
    if (capacity == 0 || capacity > RN_BATCH_MAX_ROWS) return NULL;
    struct rn_batch *b = alloc_header(s, capacity);
    if (!b) return NULL;
    for (uint32_t i = 0; i < b->n_cols; i++) {
        struct rn_column *c = &b->cols[i];
        size_t bytes = rn_type_width(c->type) * capacity;
        c->values_buf = rn_buf_alloc(bytes);
        if (!c->values_buf) {
            rn_batch_unref(b);
            return NULL;
        }
        c->values = rn_buf_data(c->values_buf);
        if (zero) memset(c->values, 0, bytes);
    }
    return b;
}

struct rn_batch *rn_batch_new(const rn_schema *s, uint32_t capacity)
{
    return rn__batch_alloc(s, capacity, true);
}

struct rn_batch *rn_batch_new_raw(const rn_schema *s, uint32_t capacity)
{
    return rn__batch_alloc(s, capacity, false);
}

struct rn_batch *rn_batch_ref(const struct rn_batch *cb)
{
    struct rn_batch *b = (struct rn_batch *)cb;
    atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
    return b;
}

void rn_column_release(struct rn_column *c)
{
    rn_buf_unref(c->values_buf);
    rn_buf_unref(c->validity_buf);
    rn_buf *const *deps = rn_column_deps(c);
    for (uint32_t d = 0; d < c->n_deps; d++) rn_buf_unref(deps[d]);
    rn_buf_unref(c->deps_buf);
    c->values_buf = c->validity_buf = c->deps_buf = c->arena = NULL;
    c->values = NULL;
    c->validity = NULL;
    c->n_deps = 0;
    c->cap_deps = 2;
    c->arena_used = 0;
}

void rn_batch_unref(struct rn_batch *b)
{
    if (!b || atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) != 1) return;
    for (uint32_t i = 0; i < b->n_cols; i++) rn_column_release(&b->cols[i]);
    rn_schema_unref(b->schema);
    rn_buf_unref(b->self);
}

int rn_column_add_dep(struct rn_column *c, rn_buf *buf)
{
    rn_buf *const *deps = rn_column_deps(c);
    for (uint32_t d = c->n_deps; d-- > 0;)
        if (deps[d] == buf) return 0;
    if (c->n_deps == c->cap_deps) {
        uint32_t cap = c->cap_deps * 2;
        rn_buf *nb = rn_buf_alloc(cap * sizeof(rn_buf *));
        if (!nb) return RN_ENOMEM;
        memcpy(rn_buf_data(nb), deps, c->n_deps * sizeof(rn_buf *));
        rn_buf_unref(c->deps_buf);
        c->deps_buf = nb;
        c->cap_deps = cap;
    }
    ((rn_buf **)rn_column_deps(c))[c->n_deps++] = rn_buf_ref(buf);
    return 0;
}

int rn_column_share_deps(struct rn_column *dst, const struct rn_column *src)
{
    rn_buf *const *deps = rn_column_deps(src);
    for (uint32_t d = 0; d < src->n_deps; d++) {
        int rc = rn_column_add_dep(dst, deps[d]);
        if (rc) return rc;
    }
    return 0;
}

/* Gives c a validity bitmap for capacity rows, all valid. */
int rn__column_make_validity(struct rn_column *c, uint32_t capacity)
{
    if (c->validity) return 0;
    size_t bytes = rn_bitmap_words(capacity) * sizeof(uint64_t);
    c->validity_buf = rn_buf_alloc(bytes);
    if (!c->validity_buf) return RN_ENOMEM;
    c->validity = rn_buf_data(c->validity_buf);
    memset(c->validity, 0xff, bytes);
    return 0;
}

int rn_batch_set_null(struct rn_batch *b, uint32_t col, uint32_t row)
{
    if (col >= b->n_cols || row >= b->capacity) return RN_EINVAL;
    struct rn_column *c = &b->cols[col];
    int rc = rn__column_make_validity(c, b->capacity);
    if (rc) return rc;
    rn_bit_clear(c->validity, row);
    return 0;
}

int rn_batch_set_valid(struct rn_batch *b, uint32_t col, uint32_t row)
{
    if (col >= b->n_cols || row >= b->capacity) return RN_EINVAL;
    if (b->cols[col].validity) rn_bit_set(b->cols[col].validity, row);
    return 0;
}

char *rn__arena_reserve(struct rn_column *c, size_t len)
{
    if (!c->arena || c->arena_used + len > rn_buf_cap(c->arena)) {
        size_t size = c->arena ? rn_buf_cap(c->arena) * 2 : ARENA_MIN;
        if (size > ARENA_MAX) size = ARENA_MAX;
        if (size < len) size = len;
        rn_buf *a = rn_buf_alloc(size);
        if (!a) return NULL;
        int rc = rn_column_add_dep(c, a);
        rn_buf_unref(a);
        if (rc) return NULL;
        c->arena = a;
        c->arena_used = 0;
    }
    char *dst = (char *)rn_buf_data(c->arena) + c->arena_used;
    c->arena_used += len;
    return dst;
}

const char *rn__arena_put(struct rn_column *c, const char *s, size_t len)
{
    char *dst = rn__arena_reserve(c, len);
    if (dst && len) memcpy(dst, s, len);
    return dst;
}

int rn_batch_set_str(struct rn_batch *b, uint32_t col, uint32_t row, const char *s, size_t len)
{
    if (col >= b->n_cols || row >= b->capacity || b->cols[col].type.id != RN_T_STRING) return RN_EINVAL;
    if (len > UINT32_MAX) return RN_ERANGE;
    struct rn_column *c = &b->cols[col];
    const char *p = rn__arena_put(c, s, len);
    if (!p) return RN_ENOMEM;
    ((struct rn_str *)c->values)[row] = (struct rn_str){p, (uint32_t)len};
    return 0;
}

/* ---- derived batches ---- */

static int gather_validity(struct rn_column *dst, const struct rn_column *src, const uint32_t *sel,
                           uint32_t n)
{
    if (!src->validity) return 0;
    uint32_t words = rn_bitmap_words(n);
    rn_buf *vb = rn_buf_alloc(words * sizeof(uint64_t));
    if (!vb) return RN_ENOMEM;
    uint64_t *v = rn_buf_data(vb), all = ~(uint64_t)0;
    for (uint32_t w = 0; w < words; w++) {
        uint64_t word = 0;
        uint32_t end = (w + 1) * 64 < n ? (w + 1) * 64 : n;
        for (uint32_t i = w * 64; i < end; i++)
            word |= (uint64_t)rn_bit_get(src->validity, sel[i]) << (i & 63);
        if (end - w * 64 < 64) word |= ~(uint64_t)0 << (end - w * 64);
        v[w] = word;
        all &= word;
    }
    if (all == ~(uint64_t)0) {
        rn_buf_unref(vb);
        return 0;
    }
    dst->validity_buf = vb;
    dst->validity = v;
    return 0;
}

void rn__gather(void *restrict dst, const void *restrict src, size_t width, const uint32_t *sel,
                uint32_t n)
{
    switch (width) {
    case 1:
        for (uint32_t i = 0; i < n; i++) ((uint8_t *)dst)[i] = ((const uint8_t *)src)[sel[i]];
        break;
    case 8:
        for (uint32_t i = 0; i < n; i++) ((uint64_t *)dst)[i] = ((const uint64_t *)src)[sel[i]];
        break;
    case 16:
        for (uint32_t i = 0; i < n; i++) ((struct rn_str *)dst)[i] = ((const struct rn_str *)src)[sel[i]];
        break;
    default:
        for (uint32_t i = 0; i < n; i++)
            memcpy((char *)dst + i * width, (const char *)src + (size_t)sel[i] * width, width);
    }
}

struct rn_batch *rn_batch_select(const struct rn_batch *b, const uint32_t *sel, uint32_t n)
{
    if (n == b->n_rows) {
        uint32_t i = 0;
        while (i < n && sel[i] == i) i++;
        if (i == n) return rn_batch_ref(b);
    }
    struct rn_batch *out = rn__batch_alloc(b->schema, n ? n : 1, false);
    if (!out) return NULL;
    out->n_rows = n;
    for (uint32_t c = 0; c < b->n_cols; c++) {
        const struct rn_column *src = &b->cols[c];
        struct rn_column *dst = &out->cols[c];
        rn__gather(dst->values, src->values, rn_type_width(src->type), sel, n);
        if (gather_validity(dst, src, sel, n) || rn_column_share_deps(dst, src)) {
            rn_batch_unref(out);
            return NULL;
        }
    }
    return out;
}

struct rn_batch *rn_batch_select_bitmap(const struct rn_batch *b, const uint64_t *bits)
{
    uint32_t stack_sel[RN_BATCH_ROWS], *sel = stack_sel, k = 0;
    if (b->n_rows > RN_BATCH_ROWS && !(sel = malloc(b->n_rows * sizeof *sel))) return NULL;
    for (uint32_t w = 0; w < rn_bitmap_words(b->n_rows); w++) {
        uint64_t word = bits[w];
        if ((w + 1) * 64 > b->n_rows) word &= ~(uint64_t)0 >> ((w + 1) * 64 - b->n_rows);
        while (word) {
            sel[k++] = w * 64 + (uint32_t)__builtin_ctzll(word);
            word &= word - 1;
        }
    }
    struct rn_batch *out = rn_batch_select(b, k ? sel : NULL, k);
    if (sel != stack_sel) free(sel);
    return out;
}

struct rn_batch *rn_batch_slice(const struct rn_batch *b, uint32_t off, uint32_t n)
{
    if (off > b->n_rows || n > b->n_rows - off) return NULL;
    struct rn_batch *out = alloc_header(b->schema, n ? n : 1);
    if (!out) return NULL;
    out->n_rows = n;
    for (uint32_t c = 0; c < b->n_cols; c++) {
        const struct rn_column *src = &b->cols[c];
        struct rn_column *dst = &out->cols[c];
        dst->values_buf = rn_buf_ref(src->values_buf);
        dst->values = (char *)src->values + (size_t)off * rn_type_width(src->type);
        if (rn_column_share_deps(dst, src)) goto fail;
        if (!src->validity) continue;
        if ((off & 63) == 0) {
            dst->validity_buf = rn_buf_ref(src->validity_buf);
            dst->validity = src->validity + (off >> 6);
        } else {
            if (rn__column_make_validity(dst, n ? n : 1)) goto fail;
            for (uint32_t i = 0; i < n; i++)
                if (!rn_bit_get(src->validity, off + i)) rn_bit_clear(dst->validity, i);
        }
    }
    return out;
fail:
    rn_batch_unref(out);
    return NULL;
}

struct rn_batch *rn_batch_project(const struct rn_batch *b, const rn_schema *s, const uint32_t *cols,
                                  uint32_t n_cols)
{
    if (rn_schema_len(s) != n_cols) return NULL;
    for (uint32_t i = 0; i < n_cols; i++)
        if (cols[i] >= b->n_cols || !rn_type_eq(rn_schema_field(s, i)->type, b->cols[cols[i]].type))
            return NULL;
    struct rn_batch *out = alloc_header(s, b->capacity);
    if (!out) return NULL;
    out->n_rows = b->n_rows;
    for (uint32_t i = 0; i < n_cols; i++)
        if (rn_column_share(&out->cols[i], &b->cols[cols[i]])) {
            rn_batch_unref(out);
            return NULL;
        }
    return out;
}

int rn_column_share(struct rn_column *dst, const struct rn_column *src)
{
    dst->type = src->type;
    dst->values = src->values;
    dst->values_buf = src->values_buf ? rn_buf_ref(src->values_buf) : NULL;
    dst->validity = src->validity;
    dst->validity_buf = src->validity_buf ? rn_buf_ref(src->validity_buf) : NULL;
    return rn_column_share_deps(dst, src);
}

/* ---- validation and formatting ---- */

static bool inside(const void *p, size_t len, const rn_buf *buf)
{
    const char *lo = rn_buf_data(buf), *q = p;
    return q >= lo && (size_t)(q - lo) <= rn_buf_cap(buf) && len <= rn_buf_cap(buf) - (size_t)(q - lo);
}

int rn_batch_validate(const struct rn_batch *b, struct rn_error *err)
{
    if (b->n_rows > b->capacity || b->n_cols != rn_schema_len(b->schema))
        return rn_error_set(err, RN_ECORRUPT, 0, 0, "batch has %u rows for capacity %u, %u columns for %zu fields",
                            b->n_rows, b->capacity, b->n_cols, rn_schema_len(b->schema));
    for (uint32_t c = 0; c < b->n_cols; c++) {
        const struct rn_column *col = &b->cols[c];
        const struct rn_field *f = rn_schema_field(b->schema, c);
        if (!rn_type_eq(col->type, f->type))
            return rn_error_set(err, RN_ECORRUPT, 0, 0, "column '%s' has the wrong type", f->name);
        if (b->n_rows == 0) continue;
        size_t width = rn_type_width(col->type);
        if (!col->values_buf || !inside(col->values, width * b->n_rows, col->values_buf))
            return rn_error_set(err, RN_ECORRUPT, 0, 0, "column '%s': values outside their buffer", f->name);
        if (col->validity && (!col->validity_buf ||
                              !inside(col->validity, rn_bitmap_words(b->n_rows) * 8, col->validity_buf)))
            return rn_error_set(err, RN_ECORRUPT, 0, 0, "column '%s': validity outside its buffer", f->name);
        if (!f->nullable && rn_column_null_count(col, b->n_rows))
            return rn_error_set(err, RN_ECORRUPT, 0, 0, "column '%s' is not nullable but has nulls", f->name);
        for (uint32_t i = 0; i < b->n_rows; i++) {
            if (rn_column_is_null(col, i)) continue;
            if (col->type.id == RN_T_BOOL && ((const uint8_t *)col->values)[i] > 1)
                return rn_error_set(err, RN_ECORRUPT, 0, 0, "column '%s' row %u: bool byte is not 0 or 1", f->name, i);
            if (col->type.id == RN_T_STRING) {
                struct rn_str s = rn_col_str(col, i);
                if (s.len == 0) continue;
                rn_buf *const *deps = rn_column_deps(col);
                uint32_t d = 0;
                while (d < col->n_deps && !inside(s.ptr, s.len, deps[d])) d++;
                if (d == col->n_deps)
                    return rn_error_set(err, RN_ECORRUPT, 0, 0, "column '%s' row %u: string outside the column's buffers",
                                        f->name, i);
            }
        }
    }
    return 0;
}

const char *rn_batch_format_row(const struct rn_batch *b, uint32_t i, char *buf, size_t len)
{
    size_t at = 0;
    if (len) buf[0] = 0;
    for (uint32_t c = 0; c < b->n_cols && at + 1 < len; c++) {
        if (c) at += (size_t)snprintf(buf + at, len - at, ", ");
        if (at >= len) break;
        at += rn__format_value(&b->cols[c], i, buf + at, len - at);
    }
    return buf;
}

size_t rn__format_value(const struct rn_column *col, uint32_t i, char *buf, size_t len)
{
    int w = 0;
    if (rn_column_is_null(col, i)) {
        w = snprintf(buf, len, "NULL");
    } else {
        switch (col->type.id) {
        case RN_T_BOOL: w = snprintf(buf, len, "%s", rn_col_bool(col, i) ? "true" : "false"); break;
        case RN_T_INT64: w = snprintf(buf, len, "%" PRId64, rn_col_i64(col, i)); break;
        case RN_T_DOUBLE: {
            char tmp[32];
            w = snprintf(buf, len, "%s", rn__format_double(rn_col_f64(col, i), tmp));
            break;
        }
        case RN_T_STRING: {
            struct rn_str s = rn_col_str(col, i);
            w = snprintf(buf, len, "'%.*s'", (int)s.len, s.len ? s.ptr : "");
            break;
        }
        case RN_T_TIMESTAMP: {
            char tmp[40];
            w = snprintf(buf, len, "%s", rn__format_timestamp(rn_col_i64(col, i), tmp));
            break;
        }
        case RN_T_VECTOR: {
            const float *v = rn_col_vec(col, i);
            size_t at = 0;
            at += (size_t)snprintf(buf, len, "[");
            for (uint32_t k = 0; k < col->type.dim && at < len; k++)
                at += (size_t)snprintf(buf + at, len - at, "%s%g", k ? ", " : "", (double)v[k]);
            if (at < len) at += (size_t)snprintf(buf + at, len - at, "]");
            w = (int)at;
            break;
        }
        default: w = snprintf(buf, len, "?");
        }
    }
    if (w < 0) return 0;
    return (size_t)w < len ? (size_t)w : (len ? len - 1 : 0);
}
