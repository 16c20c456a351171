/*
 * keys.c — keys of keyed operators: encoding key columns into bytes for keyed state
 * (rn_state_key_encode, runnel/state.h) and, for a batch, every row's key bytes, hash and key
 * group in one pass (rn_op_keys, runnel/operator.h), so keyed operators never hash twice.
 */
#include <string.h>

#include "runnel/state.h"

/* Each column: a tag byte (0 null, 1 value) then the value: fixed-width values as their bytes,
 * strings as a u32 length and the bytes. Unambiguous, so equal bytes mean equal keys. */
uint32_t rn_state_key_encode(const struct rn_column *cols, uint32_t n_cols, uint32_t i, void *buf, uint32_t cap)
{
    uint8_t *o = buf;
    uint32_t at = 0;
    for (uint32_t c = 0; c < n_cols; c++) {
        const struct rn_column *col = &cols[c];
        bool null = rn_column_is_null(col, i);
        if (at < cap) o[at] = !null;
        at++;
        if (null) continue;
        const void *src;
        uint32_t len;
        struct rn_str s;
        if (col->type.id == RN_T_STRING) {
            s = rn_col_str(col, i);
            if (at + 4 <= cap) memcpy(o + at, &s.len, 4);
            at += 4;
            src = s.ptr;
            len = s.len;
        } else {
            size_t w = rn_type_width(col->type);
            src = (const char *)col->values + (size_t)i * w;
            len = (uint32_t)w;
        }
        if (at + len <= cap && len) memcpy(o + at, src, len);
        at += len;
    }
    return at;
}

