/*
 * expr_k_logic.c — three-valued logic and conditionals: AND, OR, NOT, IS [NOT] NULL, IN and
 * CASE. AND/OR follow SQL: false AND null is false, true OR null is true, otherwise a null
 * operand makes the result null. Without nulls on either side they are plain byte loops.
 */
#include <string.h>

#include "expr_internal.h"

static int andor(struct enode *nd, struct ectx *cx, bool is_and)
{
    uint32_t n = cx->n;
    int rc = rn__out_values(nd, n);
    if (rc) return rc;
    const struct rn_column *l = &nd->args[0]->out, *r = &nd->args[1]->out;
    const uint8_t *a = l->values, *b = r->values;
    uint8_t *o = nd->out.values;
    if (!l->validity && !r->validity) {
        if (is_and)
            for (uint32_t i = 0; i < n; i++) o[i] = a[i] & b[i];
        else
            for (uint32_t i = 0; i < n; i++) o[i] = a[i] | b[i];
        return 0;
    }
    if ((rc = rn__out_validity(nd, n))) return rc;
    /* The dominant value (false for AND, true for OR) decides even against a null. */
    uint8_t dom = is_and ? 0 : 1;
    for (uint32_t i = 0; i < n; i++) {
        bool va = !rn_column_is_null(l, i), vb = !rn_column_is_null(r, i);
        bool da = va && a[i] == dom, db = vb && b[i] == dom;
        if (da || db) {
            o[i] = dom;
        } else if (va && vb) {
            o[i] = !dom;
        } else {
            o[i] = 0;
            rn_bit_clear(nd->out.validity, i);
        }
    }
    return 0;
}

int rn__k_and(struct enode *nd, struct ectx *cx) { return andor(nd, cx, true); }
int rn__k_or(struct enode *nd, struct ectx *cx) { return andor(nd, cx, false); }

int rn__k_not(struct enode *nd, struct ectx *cx)
{
    uint32_t n = cx->n;
    int rc = rn__out_values(nd, n);
    if (!rc) rc = rn__out_validity_and(nd, n);
    if (rc) return rc;
    const uint8_t *a = nd->args[0]->out.values;
    uint8_t *o = nd->out.values;
    for (uint32_t i = 0; i < n; i++) o[i] = a[i] ^ 1;
    return 0;
}

static int isnull(struct enode *nd, struct ectx *cx, uint8_t when_null)
{
    uint32_t n = cx->n;
    int rc = rn__out_values(nd, n);
    if (rc) return rc;
    const struct rn_column *a = &nd->args[0]->out;
    uint8_t *o = nd->out.values;
    if (!a->validity) {
        memset(o, when_null ^ 1, n);
        return 0;
    }
    for (uint32_t i = 0; i < n; i++) o[i] = (uint8_t)(rn_bit_get(a->validity, i) ^ when_null);
    return 0;
}

int rn__k_isnull(struct enode *nd, struct ectx *cx) { return isnull(nd, cx, 1); }
int rn__k_isnotnull(struct enode *nd, struct ectx *cx) { return isnull(nd, cx, 0); }

/* x IN (v1, ...): true when x equals an item; else null when x or an item is null; else false. */
int rn__k_in(struct enode *nd, struct ectx *cx)
{
    uint32_t n = cx->n;
    int rc = rn__out_values(nd, n);
    if (rc) return rc;
    const struct rn_column *x = &nd->args[0]->out;
    enum rn_type_id t = (enum rn_type_id)nd->op;
    uint8_t *o = nd->out.values;
    memset(o, 0, n);
    bool nulls = false;
    for (uint32_t i = 0; i < n; i++) {
        if (rn_column_is_null(x, i)) {
            nulls = true;
            continue;
        }
        for (uint32_t k = 1; k < nd->n_args; k++) {
            const struct rn_column *v = &nd->args[k]->out;
            if (rn_column_is_null(v, i)) {
                nulls = true;
            } else if (rn__values_equal(t, x, i, v, i)) {
                o[i] = 1;
                break;
            }
        }
    }
    if (!nulls) return 0;
    if ((rc = rn__out_validity(nd, n))) return rc;
    for (uint32_t i = 0; i < n; i++) {
        if (o[i]) continue;
        bool any_null = rn_column_is_null(x, i);
        for (uint32_t k = 1; k < nd->n_args && !any_null; k++) any_null = rn_column_is_null(&nd->args[k]->out, i);
        if (any_null) rn_bit_clear(nd->out.validity, i);
    }
    return 0;
}

/* CASE: args are (condition, value) pairs, then the ELSE value when nd->op is set. */
int rn__k_case(struct enode *nd, struct ectx *cx)
{
    uint32_t n = cx->n;
    int rc = rn__out_values(nd, n);
    if (!rc) rc = rn__out_validity(nd, n);
    if (rc) return rc;
    uint32_t pairs = (nd->n_args - (nd->op ? 1 : 0)) / 2;
    const struct rn_column *els = nd->op ? &nd->args[nd->n_args - 1]->out : NULL;
    size_t width = rn_type_width(nd->type);
    char *o = nd->out.values;
    bool any_null = false;
    for (uint32_t i = 0; i < n; i++) {
        const struct rn_column *v = els;
        for (uint32_t p = 0; p < pairs; p++) {
            const struct rn_column *c = &nd->args[2 * p]->out;
            if (!rn_column_is_null(c, i) && ((const uint8_t *)c->values)[i]) {
                v = &nd->args[2 * p + 1]->out;
                break;
            }
        }
        if (!v || rn_column_is_null(v, i)) {
            memset(o + i * width, 0, width);
            rn_bit_clear(nd->out.validity, i);
            any_null = true;
        } else {
            memcpy(o + i * width, (const char *)v->values + i * width, width);
        }
    }
    if (!any_null) {
        rn_buf_unref(nd->out.validity_buf);
        nd->out.validity_buf = NULL;
        nd->out.validity = NULL;
    }
    if (nd->type.id == RN_T_STRING) {
        for (uint32_t p = 0; p < pairs; p++)
            if ((rc = rn_column_share_deps(&nd->out, &nd->args[2 * p + 1]->out))) return rc;
        if (els) return rn_column_share_deps(&nd->out, els);
    }
    return 0;
}
