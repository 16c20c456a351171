/*
 * expr_k_arith.c — arithmetic kernels: + - * / % and unary minus over int64 and double, each
 * in a column-column form and a column-constant form (the compiler puts constants on the
 * right). int64 arithmetic wraps (computed in unsigned); int64 division and modulo by a
 * constant use a multiply-and-shift reciprocal (divmagic.c); by zero they give null.
 */
#include <math.h>

#include "expr_kernel.h"

#define WRAP(op) ((int64_t)((uint64_t)x op (uint64_t)y))
#define KERNEL_VV(name, T, expr) RN_KERNEL_VV(name, T, T, expr)
#define KERNEL_VC(name, T, field, expr) RN_KERNEL_VC(name, T, T, nd->k.field, expr)

KERNEL_VV(add_i64_vv, int64_t, WRAP(+))
KERNEL_VV(sub_i64_vv, int64_t, WRAP(-))
KERNEL_VV(mul_i64_vv, int64_t, WRAP(*))
KERNEL_VC(add_i64_vc, int64_t, i, WRAP(+))
KERNEL_VC(sub_i64_vc, int64_t, i, WRAP(-))
KERNEL_VC(mul_i64_vc, int64_t, i, WRAP(*))
KERNEL_VV(add_f64_vv, double, x + y)
KERNEL_VV(sub_f64_vv, double, x - y)
KERNEL_VV(mul_f64_vv, double, x * y)
KERNEL_VV(div_f64_vv, double, x / y)
KERNEL_VV(mod_f64_vv, double, fmod(x, y))
KERNEL_VC(add_f64_vc, double, d, x + y)
KERNEL_VC(sub_f64_vc, double, d, x - y)
KERNEL_VC(mul_f64_vc, double, d, x * y)
KERNEL_VC(div_f64_vc, double, d, x / y)
KERNEL_VC(mod_f64_vc, double, d, fmod(x, y))

/* Constant non-zero divisor: reciprocal multiplication, no per-row branch. */
static int div_i64_vc(struct enode *nd, struct ectx *cx)
{
    uint32_t n = cx->n;
    int rc = rn__kernel_prepare(nd, n);
    if (rc) return rc;
    const int64_t *restrict a = nd->args[0]->out.values;
    int64_t *restrict o = nd->out.values;
    const struct rn_divmagic dm = nd->dm;
    for (uint32_t i = 0; i < n; i++) o[i] = rn__sdiv_magic(&dm, a[i]);
    return 0;
}

static int mod_i64_vc(struct enode *nd, struct ectx *cx)
{
    uint32_t n = cx->n;
    int rc = rn__kernel_prepare(nd, n);
    if (rc) return rc;
    const int64_t *restrict a = nd->args[0]->out.values;
    int64_t *restrict o = nd->out.values;
    const struct rn_divmagic dm = nd->dm;
    for (uint32_t i = 0; i < n; i++) o[i] = rn__smod_magic(&dm, a[i]);
    return 0;
}

/* x % d = 0 (nd->op OP_EQ) or x % d <> 0 (OP_NE) for a constant non-zero d. */
int rn__k_divisible(struct enode *nd, struct ectx *cx)
{
    uint32_t n = cx->n;
    int rc = rn__out_values(nd, n);
    if (!rc) rc = rn__out_validity_and(nd, n);
    if (rc) return rc;
    const int64_t *restrict a = nd->args[0]->out.values;
    uint8_t *restrict o = nd->out.values;
    const struct rn_divmagic dm = nd->dm;
    const uint8_t flip = nd->op == OP_NE;
    for (uint32_t i = 0; i < n; i++) o[i] = (uint8_t)(rn__divisible_magic(&dm, a[i]) ^ flip);
    return 0;
}

/* Per-row divisor: zero gives null, -1 is handled apart (INT64_MIN / -1 would trap). */
static int divmod_i64_vv(struct enode *nd, struct ectx *cx, bool mod)
{
    uint32_t n = cx->n;
    int rc = rn__kernel_prepare(nd, n);
    if (rc) return rc;
    const int64_t *a = nd->args[0]->out.values, *b = nd->args[1]->out.values;
    int64_t *o = nd->out.values;
    bool zero = false;
    for (uint32_t i = 0; i < n; i++) {
        int64_t x = a[i], y = b[i];
        if (y == 0) {
            zero = true;
            o[i] = 0;
        } else if (y == -1) {
            o[i] = mod ? 0 : (int64_t)((uint64_t)0 - (uint64_t)x);
        } else {
            o[i] = mod ? x % y : x / y;
        }
    }
    if (!zero) return 0;
    if ((rc = rn__out_validity(nd, n))) return rc;
    for (uint32_t i = 0; i < n; i++)
        if (b[i] == 0) rn_bit_clear(nd->out.validity, i);
    return 0;
}

static int div_i64_vv(struct enode *nd, struct ectx *cx) { return divmod_i64_vv(nd, cx, false); }
static int mod_i64_vv(struct enode *nd, struct ectx *cx) { return divmod_i64_vv(nd, cx, true); }

rn_kern rn__k_arith(int op, enum rn_type_id t, bool rhs_const)
{
    static const rn_kern i64[2][5] = {
        {add_i64_vv, sub_i64_vv, mul_i64_vv, div_i64_vv, mod_i64_vv},
        {add_i64_vc, sub_i64_vc, mul_i64_vc, div_i64_vc, mod_i64_vc},
    };
    static const rn_kern f64[2][5] = {
        {add_f64_vv, sub_f64_vv, mul_f64_vv, div_f64_vv, mod_f64_vv},
        {add_f64_vc, sub_f64_vc, mul_f64_vc, div_f64_vc, mod_f64_vc},
    };
    if (op < OP_ADD || op > OP_MOD) return NULL;
    if (t == RN_T_INT64 || t == RN_T_TIMESTAMP) return i64[rhs_const][op];
    if (t == RN_T_DOUBLE) return f64[rhs_const][op];
    return NULL;
}

static int neg_i64(struct enode *nd, struct ectx *cx)
{
    uint32_t n = cx->n;
    int rc = rn__kernel_prepare(nd, n);
    if (rc) return rc;
    const int64_t *a = nd->args[0]->out.values;
    int64_t *o = nd->out.values;
    for (uint32_t i = 0; i < n; i++) o[i] = (int64_t)((uint64_t)0 - (uint64_t)a[i]);
    return 0;
}

static int neg_f64(struct enode *nd, struct ectx *cx)
{
    uint32_t n = cx->n;
    int rc = rn__kernel_prepare(nd, n);
    if (rc) return rc;
    const double *a = nd->args[0]->out.values;
    double *o = nd->out.values;
    for (uint32_t i = 0; i < n; i++) o[i] = -a[i];
    return 0;
}

rn_kern rn__k_neg(enum rn_type_id t)
{
    return t == RN_T_INT64 ? neg_i64 : t == RN_T_DOUBLE ? neg_f64 : NULL;
}
