/*
 * expr_kernel.h — the two loop shapes most kernels are made of, as macros: a column-column
 * kernel and a column-constant kernel. Each allocates the result from the pool, ANDs the
 * operands' validity, and runs `expr` (over x, y) in a loop the compiler can vectorise.
 * Included only by the kernel files (expr_k_*.c).
 */
#ifndef RN_EXPR_KERNEL_H
#define RN_EXPR_KERNEL_H

#include "expr_internal.h"

static inline int rn__kernel_prepare(struct enode *nd, uint32_t n)
{
    int rc = rn__out_values(nd, n);
    return rc ? rc : rn__out_validity_and(nd, n);
}

/* out[i] = expr(x = a[i], y = b[i]) */
#define RN_KERNEL_VV(name, TIN, TOUT, expr)                                                    \
    static int name(struct enode *nd, struct ectx *cx)                                         \
    {                                                                                          \
        uint32_t n = cx->n;                                                                    \
        int rc = rn__kernel_prepare(nd, n);                                                    \
        if (rc) return rc;                                                                     \
        const TIN *restrict a = nd->args[0]->out.values, *restrict b = nd->args[1]->out.values; \
        TOUT *restrict o = nd->out.values;                                                     \
        for (uint32_t i = 0; i < n; i++) {                                                     \
            TIN x = a[i], y = b[i];                                                            \
            o[i] = (expr);                                                                     \
        }                                                                                      \
        return 0;                                                                              \
    }

/* out[i] = expr(x = a[i], y = the constant `init`) */
#define RN_KERNEL_VC(name, TIN, TOUT, init, expr)                                              \
    static int name(struct enode *nd, struct ectx *cx)                                         \
    {                                                                                          \
        uint32_t n = cx->n;                                                                    \
        int rc = rn__kernel_prepare(nd, n);                                                    \
        if (rc) return rc;                                                                     \
        const TIN *restrict a = nd->args[0]->out.values;                                       \
        TOUT *restrict o = nd->out.values;                                                     \
        const TIN y = (init);                                                                  \
        (void)y;                                                                               \
        for (uint32_t i = 0; i < n; i++) {                                                     \
            TIN x = a[i];                                                                      \
            o[i] = (expr);                                                                     \
        }                                                                                      \
        return 0;                                                                              \
    }

#endif
