/*
 * expr_k_cast.c — CAST kernels between the scalar types (the table in docs/job-spec.md).
 * Conversions that cannot fail keep the argument's nulls; parsing a string, or a double that is
 * NaN or out of int64 range, gives null for that row. int64 <-> timestamp shares the
 * argument's buffer: the storage is the same.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expr_kernel.h"

static int prepare_fallible(struct enode *nd, uint32_t n)
{
    int rc = rn__out_values(nd, n);
    return rc ? rc : rn__out_validity_from(nd, &nd->args[0]->out, n);
}

#define SIMPLE(name, IN, OUT, expr)                                     \
    static int name(struct enode *nd, struct ectx *cx)                  \
    {                                                                   \
        uint32_t n = cx->n;                                             \
        int rc = rn__kernel_prepare(nd, n);                                        \
        if (rc) return rc;                                              \
        const IN *a = nd->args[0]->out.values;                          \
        OUT *o = nd->out.values;                                        \
        for (uint32_t i = 0; i < n; i++) {                              \
            IN x = a[i];                                                \
            o[i] = (expr);                                              \
        }                                                               \
        return 0;                                                       \
    }

SIMPLE(bool_to_i64, uint8_t, int64_t, (int64_t)x)
SIMPLE(bool_to_f64, uint8_t, double, (double)x)
SIMPLE(i64_to_bool, int64_t, uint8_t, x != 0)
SIMPLE(f64_to_bool, double, uint8_t, x != 0)
SIMPLE(i64_to_f64, int64_t, double, (double)x)

static int same_storage(struct enode *nd, struct ectx *cx)
{
    (void)cx;
    int rc = rn_column_share(&nd->out, &nd->args[0]->out);
    nd->out.type = nd->type;
    return rc;
}

static int f64_to_i64(struct enode *nd, struct ectx *cx)
{
    uint32_t n = cx->n;
    int rc = prepare_fallible(nd, n);
    if (rc) return rc;
    const double *a = nd->args[0]->out.values;
    int64_t *o = nd->out.values;
    for (uint32_t i = 0; i < n; i++) {
        double x = a[i];
        /* [-2^63, 2^63) converts exactly after truncation; NaN fails both tests */
        if (x >= -9223372036854775808.0 && x < 9223372036854775808.0) {
            o[i] = (int64_t)x;
        } else {
            o[i] = 0;
            rn_bit_clear(nd->out.validity, i);
        }
    }
    return 0;
}

static int to_string(struct enode *nd, struct ectx *cx)
{
    uint32_t n = cx->n;
    int rc = rn__kernel_prepare(nd, n);
    if (rc) return rc;
    const struct rn_column *a = &nd->args[0]->out;
    struct rn_str *o = nd->out.values;
    char buf[48];
    for (uint32_t i = 0; i < n; i++) {
        if (rn_column_is_null(a, i)) {
            o[i] = (struct rn_str){"", 0};
            continue;
        }
        const char *s = buf;
        switch (a->type.id) {
        case RN_T_BOOL: s = rn_col_bool(a, i) ? "true" : "false"; break;
        case RN_T_INT64: snprintf(buf, sizeof buf, "%" PRId64, rn_col_i64(a, i)); break;
        case RN_T_DOUBLE: s = rn__format_double(rn_col_f64(a, i), buf); break;
        case RN_T_TIMESTAMP: s = rn__format_timestamp(rn_col_i64(a, i), buf); break;
        default: buf[0] = 0;
        }
        if ((rc = rn__out_str(nd, i, s, strlen(s)))) return rc;
    }
    return 0;
}

/* Copies a string view into buf (NUL-terminated, spaces trimmed); false when too long. */
static bool cstr(struct rn_str s, char *buf, size_t cap)
{
    while (s.len && isspace((unsigned char)s.ptr[0])) s.ptr++, s.len--;
    while (s.len && isspace((unsigned char)s.ptr[s.len - 1])) s.len--;
    if (s.len >= cap) return false;
    if (s.len) memcpy(buf, s.ptr, s.len);
    buf[s.len] = 0;
    return true;
}

static bool parse_bool(struct rn_str s, uint8_t *out)
{
    char b[8];
    if (!cstr(s, b, sizeof b)) return false;
    if (!strcasecmp(b, "true") || !strcmp(b, "1")) return *out = 1, true;
    if (!strcasecmp(b, "false") || !strcmp(b, "0")) return *out = 0, true;
    return false;
}

static bool parse_i64(struct rn_str s, int64_t *out)
{
    char b[32], *end;
    if (!cstr(s, b, sizeof b) || !b[0]) return false;
    errno = 0;
    long long v = strtoll(b, &end, 10);
    if (errno || *end) return false;
    *out = v;
    return true;
}

static bool parse_f64(struct rn_str s, double *out)
{
    char b[400], *end;
    if (!cstr(s, b, sizeof b) || !b[0]) return false;
    *out = strtod(b, &end);
    return *end == 0;
}

static bool parse_ts(struct rn_str s, int64_t *out)
{
    char b[64];
    return cstr(s, b, sizeof b) && rn__parse_timestamp(b, strlen(b), out) == 0;
}

#define FROM_STRING(name, OUT, parse)                                   \
    static int name(struct enode *nd, struct ectx *cx)                  \
    {                                                                   \
        uint32_t n = cx->n;                                             \
        int rc = prepare_fallible(nd, n);                               \
        if (rc) return rc;                                              \
        const struct rn_column *a = &nd->args[0]->out;                  \
        OUT *o = nd->out.values;                                        \
        for (uint32_t i = 0; i < n; i++) {                              \
            o[i] = 0;                                                   \
            if (!rn_column_is_null(a, i) && !parse(rn_col_str(a, i), &o[i])) \
                rn_bit_clear(nd->out.validity, i);                      \
        }                                                               \
        return 0;                                                       \
    }

FROM_STRING(str_to_bool, uint8_t, parse_bool)
FROM_STRING(str_to_i64, int64_t, parse_i64)
FROM_STRING(str_to_f64, double, parse_f64)
FROM_STRING(str_to_ts, int64_t, parse_ts)

rn_kern rn__k_cast(struct rn_type from, struct rn_type to)
{
    enum rn_type_id f = from.id, t = to.id;
    if (t == RN_T_STRING && f != RN_T_VECTOR) return to_string;
    switch (f) {
    case RN_T_BOOL: return t == RN_T_INT64 ? bool_to_i64 : t == RN_T_DOUBLE ? bool_to_f64 : NULL;
    case RN_T_INT64:
        return t == RN_T_BOOL ? i64_to_bool : t == RN_T_DOUBLE ? i64_to_f64 : t == RN_T_TIMESTAMP ? same_storage : NULL;
    case RN_T_DOUBLE:
        return t == RN_T_BOOL ? f64_to_bool : (t == RN_T_INT64 || t == RN_T_TIMESTAMP) ? f64_to_i64 : NULL;
    case RN_T_TIMESTAMP: return t == RN_T_INT64 ? same_storage : t == RN_T_DOUBLE ? i64_to_f64 : NULL;
    case RN_T_STRING:
        return t == RN_T_BOOL ? str_to_bool : t == RN_T_INT64 ? str_to_i64 : t == RN_T_DOUBLE ? str_to_f64
             : t == RN_T_TIMESTAMP ? str_to_ts : NULL;
    default: return NULL;
    }
}
