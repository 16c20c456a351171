/*
 * keys.c — keys of keyed operators: encoding key columns into bytes for keyed state
 * (rn_state_key_encode, runnel/state.h) and, for a batch, every row's key bytes, hash and key
 * group in one pass (rn_op_keys, runnel/operator.h), so keyed operators never hash twice.
 */
#include <string.h>

#include "runnel/state.h"

int rn_state_key_decode(const struct rn_state_key *k, struct rn_type t, struct rn_key_value *out)
{
    const uint8_t *p = k->data;
    memset(out, 0, sizeof *out);
    if (k->len == 0) return RN_ECORRUPT;
    if (p[0] == 0) {
        out->null = true;
        return k->len == 1 ? 0 : RN_ECORRUPT;
    }
    if (t.id == RN_T_STRING) {
        uint32_t sl;
        if (k->len < 5) return RN_ECORRUPT;
        memcpy(&sl, p + 1, 4);
        if ((size_t)k->len != 5 + (size_t)sl) return RN_ECORRUPT;
        out->s = (struct rn_str){(const char *)p + 5, sl};
        return 0;
    }
    size_t w = t.id == RN_T_BOOL ? 1 : t.id == RN_T_VECTOR ? 0 : 8;
    if (!w || k->len != 1 + w) return RN_ECORRUPT;
    if (t.id == RN_T_BOOL) out->v.b = p[1] != 0;
    else memcpy(&out->v, p + 1, 8);
    return 0;
}

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

