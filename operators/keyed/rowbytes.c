/*
 * operators/keyed/rowbytes.c — whole rows as bytes in keyed state (the encoding is described in
 * rowbytes.h): shared by top_n, window_process and the joins.
 */
#include <stdlib.h>
#include <string.h>

#include "rowbytes.h"


size_t rn__row_fixed_width(struct rn_type t)
{
    switch (t.id) {
    case RN_T_BOOL: return 1;
    case RN_T_VECTOR: return (size_t)t.dim * sizeof(float);
    case RN_T_STRING: return 0;
    default: return 8;
    }
}

size_t rn__row_size(const struct rn_batch *b, uint32_t r)
{
    size_t n = (b->n_cols + 7) / 8;
    for (uint32_t c = 0; c < b->n_cols; c++) {
        const struct rn_column *col = &b->cols[c];
        if (rn_column_is_null(col, r)) continue;
        n += col->type.id == RN_T_STRING ? 4 + rn_col_str(col, r).len : rn__row_fixed_width(col->type);
    }
    return n;
}

size_t rn__row_encode(const struct rn_batch *b, uint32_t r, uint8_t *out)
{
    size_t nb = (b->n_cols + 7) / 8, at = nb;
    memset(out, 0, nb);
    for (uint32_t c = 0; c < b->n_cols; c++) {
        const struct rn_column *col = &b->cols[c];
        if (rn_column_is_null(col, r)) {
            out[c >> 3] |= (uint8_t)(1u << (c & 7));
            continue;
        }
        if (col->type.id == RN_T_STRING) {
            struct rn_str s = rn_col_str(col, r);
            memcpy(out + at, &s.len, 4);
            if (s.len) memcpy(out + at + 4, s.ptr, s.len);
            at += 4 + s.len;
        } else {
            size_t w = rn__row_fixed_width(col->type);
            memcpy(out + at, (const uint8_t *)col->values + (size_t)r * w, w);
            at += w;
        }
    }
    return at;
}

int rn__row_decode(rn_builder *bb, uint32_t first, const rn_schema *s, const uint8_t *p, size_t len,
                      size_t *used)
{
    uint32_t n = (uint32_t)rn_schema_len(s);
    size_t nb = (n + 7) / 8, at = nb;
    if (len < nb) return RN_ECORRUPT;
    int rc = 0;
    for (uint32_t c = 0; c < n && !rc; c++) {
        struct rn_type t = rn_schema_field(s, c)->type;
        if (p[c >> 3] & (1u << (c & 7))) {
            rc = rn_builder_null(bb, first + c);
            continue;
        }
        if (t.id == RN_T_STRING) {
            uint32_t sl;
            if (len - at < 4) return RN_ECORRUPT;
            memcpy(&sl, p + at, 4);
            if (len - at - 4 < sl) return RN_ECORRUPT;
            rc = rn_builder_str(bb, first + c, (const char *)p + at + 4, sl);
            at += 4 + (size_t)sl;
            continue;
        }
        size_t w = rn__row_fixed_width(t);
        if (len - at < w) return RN_ECORRUPT;
        int64_t i;
        double d;
        switch (t.id) {
        case RN_T_BOOL: rc = rn_builder_bool(bb, first + c, p[at] != 0); break;
        case RN_T_INT64: memcpy(&i, p + at, 8); rc = rn_builder_i64(bb, first + c, i); break;
        case RN_T_TIMESTAMP: memcpy(&i, p + at, 8); rc = rn_builder_ts(bb, first + c, i); break;
        case RN_T_DOUBLE: memcpy(&d, p + at, 8); rc = rn_builder_f64(bb, first + c, d); break;
        case RN_T_VECTOR: {
            float tmp[64], *v = t.dim <= 64 ? tmp : malloc(w);
            if (!v) return RN_ENOMEM;
            memcpy(v, p + at, w);   /* the bytes need not be aligned for float */
            rc = rn_builder_vec(bb, first + c, v, t.dim);
            if (v != tmp) free(v);
            break;
        }
        default: return RN_ECORRUPT;
        }
        at += w;
    }
    if (used) *used = at;
    return rc;
}
