/*
 * expr_k_cmp.c — comparison kernels (= <> < <= > >=) over int64/timestamp, double, bool and
 * string, column-column and column-constant. Results are bool bytes; validity is the AND of
 * the operands'. Strings compare bytewise (memcmp order, shorter prefix first).
 */
#include <string.h>

#include "expr_kernel.h"

static inline int str_cmp(struct rn_str a, struct rn_str b)
{
    uint32_t m = a.len < b.len ? a.len : b.len;
    int c = m ? memcmp(a.ptr, b.ptr, m) : 0;
    return c ? c : (a.len > b.len) - (a.len < b.len);
}
static inline bool str_eq(struct rn_str a, struct rn_str b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

#define CMP_KERNELS(T, tag, field)                                                             \
    CMP_VV(eq_##tag##_vv, T, x == y) CMP_VV(ne_##tag##_vv, T, x != y)                          \
    CMP_VV(lt_##tag##_vv, T, x < y) CMP_VV(le_##tag##_vv, T, x <= y)                           \
    CMP_VV(gt_##tag##_vv, T, x > y) CMP_VV(ge_##tag##_vv, T, x >= y)                           \
    CMP_VC(eq_##tag##_vc, T, field, x == y) CMP_VC(ne_##tag##_vc, T, field, x != y)            \
    CMP_VC(lt_##tag##_vc, T, field, x < y) CMP_VC(le_##tag##_vc, T, field, x <= y)             \
    CMP_VC(gt_##tag##_vc, T, field, x > y) CMP_VC(ge_##tag##_vc, T, field, x >= y)

#define CMP_VV(name, T, expr) RN_KERNEL_VV(name, T, uint8_t, expr)
#define CMP_VC(name, T, field, expr) RN_KERNEL_VC(name, T, uint8_t, (T)nd->k.field, expr)

CMP_KERNELS(int64_t, i64, i)
CMP_KERNELS(double, f64, d)
CMP_KERNELS(uint8_t, u8, i)

#undef CMP_VC
#define CMP_VC(name, T, field, expr) RN_KERNEL_VC(name, T, uint8_t, nd->ks, expr)

CMP_VV(eq_str_vv, struct rn_str, str_eq(x, y)) CMP_VV(ne_str_vv, struct rn_str, !str_eq(x, y))
CMP_VV(lt_str_vv, struct rn_str, str_cmp(x, y) < 0) CMP_VV(le_str_vv, struct rn_str, str_cmp(x, y) <= 0)
CMP_VV(gt_str_vv, struct rn_str, str_cmp(x, y) > 0) CMP_VV(ge_str_vv, struct rn_str, str_cmp(x, y) >= 0)
CMP_VC(eq_str_vc, struct rn_str, s, str_eq(x, y)) CMP_VC(ne_str_vc, struct rn_str, s, !str_eq(x, y))
CMP_VC(lt_str_vc, struct rn_str, s, str_cmp(x, y) < 0) CMP_VC(le_str_vc, struct rn_str, s, str_cmp(x, y) <= 0)
CMP_VC(gt_str_vc, struct rn_str, s, str_cmp(x, y) > 0) CMP_VC(ge_str_vc, struct rn_str, s, str_cmp(x, y) >= 0)

rn_kern rn__k_cmp(int op, enum rn_type_id t, bool rhs_const)
{
#define ROW(tag) {{eq_##tag##_vv, ne_##tag##_vv, lt_##tag##_vv, le_##tag##_vv, gt_##tag##_vv, ge_##tag##_vv}, \
                  {eq_##tag##_vc, ne_##tag##_vc, lt_##tag##_vc, le_##tag##_vc, gt_##tag##_vc, ge_##tag##_vc}}
    static const rn_kern i64[2][6] = ROW(i64), f64[2][6] = ROW(f64), u8[2][6] = ROW(u8), str[2][6] = ROW(str);
#undef ROW
    if (op < OP_EQ || op > OP_GE) return NULL;
    int k = op - OP_EQ;
    switch (t) {
    case RN_T_INT64:
    case RN_T_TIMESTAMP: return i64[rhs_const][k];
    case RN_T_DOUBLE: return f64[rhs_const][k];
    case RN_T_BOOL: return u8[rhs_const][k];
    case RN_T_STRING: return str[rhs_const][k];
    default: return NULL;
    }
}

/* Row i of a comparable column equals row j of another of the same storage class. */
bool rn__values_equal(enum rn_type_id t, const struct rn_column *a, uint32_t i, const struct rn_column *b, uint32_t j)
{
    switch (t) {
    case RN_T_BOOL: return ((const uint8_t *)a->values)[i] == ((const uint8_t *)b->values)[j];
    case RN_T_INT64:
    case RN_T_TIMESTAMP: return ((const int64_t *)a->values)[i] == ((const int64_t *)b->values)[j];
    case RN_T_DOUBLE: return ((const double *)a->values)[i] == ((const double *)b->values)[j];
    case RN_T_STRING: return str_eq(((const struct rn_str *)a->values)[i], ((const struct rn_str *)b->values)[j]);
    default: return false;
    }
}
