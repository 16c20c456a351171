/*
 * expr_eval.c — evaluation of compiled expressions over batches, filters, projections.
 *
 * Evaluation is post-order over the kernel tree: each node's result is a column (nd->out)
 * holding references to the buffers it points into. Column references share the input
 * batch's buffers; kernels take fresh buffers from the thread's pool (no malloc in steady
 * state); constants share a broadcast buffer built once per capacity. After the caller has
 * taken what it needs from the root, every node's references are dropped, so buffers go back
 * to the pool right away and the input batch is not kept alive.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "expr_internal.h"

static int64_t system_clock(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static _Atomic(rn_clock_fn) clock_fn = system_clock;

void rn_expr_set_clock(rn_clock_fn fn) { atomic_store(&clock_fn, fn ? fn : system_clock); }

/* ---- output helpers for kernels ---- */

int rn__out_values(struct enode *nd, uint32_t n)
{
    size_t bytes = rn_type_width(nd->type) * (n ? n : 1);
    nd->out.type = nd->type;
    nd->out.values_buf = rn_buf_alloc(bytes);
    if (!nd->out.values_buf) return RN_ENOMEM;
    nd->out.values = rn_buf_data(nd->out.values_buf);
    return 0;
}

int rn__out_validity(struct enode *nd, uint32_t n)
{
    return rn__column_make_validity(&nd->out, n ? n : 1);
}

int rn__out_validity_from(struct enode *nd, const struct rn_column *arg, uint32_t n)
{
    int rc = rn__out_validity(nd, n);
    if (!rc && arg->validity) memcpy(nd->out.validity, arg->validity, rn_bitmap_words(n) * 8);
    return rc;
}

int rn__out_validity_and(struct enode *nd, uint32_t n)
{
    const uint64_t *first = NULL;
    uint32_t with = 0;
    for (uint32_t i = 0; i < nd->n_args; i++)
        if (nd->args[i]->out.validity) {
            with++;
            if (!first) first = nd->args[i]->out.validity;
        }
    if (!with) return 0;
    int rc = rn__out_validity(nd, n);
    if (rc) return rc;
    uint64_t *v = nd->out.validity;
    uint32_t words = rn_bitmap_words(n);
    memcpy(v, first, words * 8);
    for (uint32_t i = 0; i < nd->n_args; i++) {
        const uint64_t *a = nd->args[i]->out.validity;
        if (!a || a == first) continue;
        for (uint32_t w = 0; w < words; w++) v[w] &= a[w];
    }
    return 0;
}

int rn__out_str(struct enode *nd, uint32_t row, const char *s, size_t len)
{
    const char *p = rn__arena_put(&nd->out, s, len);
    if (!p) return RN_ENOMEM;
    ((struct rn_str *)nd->out.values)[row] = (struct rn_str){p, (uint32_t)len};
    return 0;
}

char *rn__out_str_reserve(struct enode *nd, uint32_t row, size_t len)
{
    char *p = rn__arena_reserve(&nd->out, len);
    if (p) ((struct rn_str *)nd->out.values)[row] = (struct rn_str){p, (uint32_t)len};
    return p;
}

int rn__k_share(struct enode *nd, struct ectx *cx)
{
    (void)cx;
    int rc = rn_column_share(&nd->out, &nd->args[0]->out);
    nd->out.type = nd->type;
    return rc;
}

/* ---- the evaluator ---- */

static int broadcast(struct enode *nd, uint32_t n)
{
    if (n < 1) n = 1;
    if (nd->bcap < n) {
        uint32_t cap = nd->bcap ? nd->bcap : 64;
        while (cap < n) cap *= 2;
        rn_buf *vals = rn_buf_alloc(rn_type_width(nd->type) * cap);
        rn_buf *valid = nd->cnull ? rn_buf_alloc(rn_bitmap_words(cap) * 8) : NULL;
        if (!vals || (nd->cnull && !valid)) {
            rn_buf_unref(vals);
            rn_buf_unref(valid);
            return RN_ENOMEM;
        }
        void *v = rn_buf_data(vals);
        switch (nd->type.id) {
        case RN_T_BOOL: memset(v, nd->cval.b, cap); break;
        case RN_T_INT64:
        case RN_T_TIMESTAMP:
            for (uint32_t i = 0; i < cap; i++) ((int64_t *)v)[i] = nd->cval.i;
            break;
        case RN_T_DOUBLE:
            for (uint32_t i = 0; i < cap; i++) ((double *)v)[i] = nd->cval.d;
            break;
        case RN_T_STRING:
            for (uint32_t i = 0; i < cap; i++) ((struct rn_str *)v)[i] = nd->cstr;
            break;
        default: memset(v, 0, rn_type_width(nd->type) * cap);
        }
        if (valid) memset(rn_buf_data(valid), 0, rn_bitmap_words(cap) * 8);
        rn_buf_unref(nd->bvals);
        rn_buf_unref(nd->bvalid);
        nd->bvals = vals;
        nd->bvalid = valid;
        nd->bcap = cap;
    }
    struct rn_column *o = &nd->out;
    o->type = nd->type;
    o->values_buf = rn_buf_ref(nd->bvals);
    o->values = rn_buf_data(nd->bvals);
    if (nd->bvalid) {
        o->validity_buf = rn_buf_ref(nd->bvalid);
        o->validity = rn_buf_data(nd->bvalid);
    }
    if (nd->cstr_buf) return rn_column_add_dep(o, nd->cstr_buf);
    return 0;
}

int rn__eval_node(struct enode *nd, struct ectx *cx)
{
    switch (nd->kind) {
    case N_CONST: return broadcast(nd, cx->n);
    case N_COLUMN: return rn_column_share(&nd->out, &cx->b->cols[nd->column]);
    case N_KERNEL:
        for (uint32_t i = 0; i < nd->n_args; i++) {
            int rc = rn__eval_node(nd->args[i], cx);
            if (rc) return rc;
        }
        nd->out.type = nd->type;
        return nd->fn(nd, cx);
    }
    return RN_EINVAL;
}

void rn__release_tree(struct enode *nd)
{
    rn_column_release(&nd->out);
    for (uint32_t i = 0; i < nd->n_args; i++) rn__release_tree(nd->args[i]);
}

/* Evaluates e's tree over b; the root's out is valid until rn__release_tree. */
static int run(rn_expr *e, const struct rn_batch *b, struct rn_error *err)
{
    struct enode *root = rn__expr_root(e);
    struct ectx cx = {.b = b, .n = b->n_rows, .err = err};
    if (root->volatile_) cx.now = atomic_load(&clock_fn)();
    int rc = rn__eval_node(root, &cx);
    if (rc) {
        rn__release_tree(root);
        if (err && err->code == 0) rn_error_set(err, rc, 0, 0, "expression '%s': %s", rn_expr_source(e), rn_strerror(rc));
    }
    return rc;
}

int rn_expr_eval(rn_expr *e, const struct rn_batch *b, struct rn_column *out, struct rn_error *err)
{
    memset(out, 0, sizeof *out);
    out->cap_deps = 2;
    int rc = run(e, b, err);
    if (rc) return rc;
    struct enode *root = rn__expr_root(e);
    rc = rn_column_share(out, &root->out);
    rn__release_tree(root);
    if (rc) rn_column_release(out);
    return rc;
}

/* Indexes of the rows where a bool column is true and valid. */
static uint32_t select_true(const struct rn_column *c, uint32_t n, uint32_t *sel)
{
    const uint8_t *v = c->values;
    uint32_t k = 0, i = 0;
    /* Eight bools at a time: a word of zeros (the common case for selective filters) costs
     * one test; otherwise each set byte is found with a count of trailing zeros. */
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, v + i, 8);
        if (c->validity) {
            uint64_t valid = (c->validity[i >> 6] >> (i & 63)) & 0xff;
            /* spread the 8 validity bits to the low bit of each byte */
            valid = (valid | (valid << 28)) & 0x0000000f0000000full;
            valid = (valid | (valid << 14)) & 0x0003000300030003ull;
            valid = (valid | (valid << 7)) & 0x0101010101010101ull;
            w &= valid;
        }
        while (w) {
            sel[k++] = i + ((uint32_t)__builtin_ctzll(w) >> 3);
            w &= w - 1;
        }
    }
    for (; i < n; i++) {
        sel[k] = i;
        k += v[i] & (c->validity ? (uint32_t)rn_bit_get(c->validity, i) : 1u);
    }
    return k;
}

int rn_expr_select(rn_expr *e, const struct rn_batch *b, uint32_t *sel, uint32_t *n, struct rn_error *err)
{
    if (rn_expr_type(e).id != RN_T_BOOL)
        return rn_error_set(err, RN_ETYPE, 1, 1, "a condition must be bool: '%s' is not", rn_expr_source(e));
    int rc = run(e, b, err);
    if (rc) return rc;
    struct enode *root = rn__expr_root(e);
    *n = select_true(&root->out, b->n_rows, sel);
    rn__release_tree(root);
    return 0;
}

int rn_expr_filter(rn_expr *e, const struct rn_batch *b, struct rn_batch **out, struct rn_error *err)
{
    *out = NULL;
    uint32_t stack_sel[RN_BATCH_ROWS], *sel = stack_sel, n = 0;
    if (b->n_rows > RN_BATCH_ROWS && !(sel = malloc(b->n_rows * sizeof *sel)))
        return rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
    int rc = rn_expr_select(e, b, sel, &n, err);
    if (!rc && !(*out = rn_batch_select(b, sel, n))) rc = rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
    if (sel != stack_sel) free(sel);
    return rc;
}

/* ---- projections ---- */

struct rn_projection {
    uint32_t n;
    rn_expr **exprs;
    rn_schema *schema;
};

int rn_projection_compile(const char *const *names, const char *const *exprs, uint32_t n,
                          const rn_schema *in, rn_projection **out, struct rn_error *err)
{
    *out = NULL;
    rn_projection *p = calloc(1, sizeof *p);
    if (!p || !(p->exprs = calloc(n ? n : 1, sizeof *p->exprs)) || !(p->schema = rn_schema_create())) {
        rn_projection_destroy(p);
        return rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
    }
    p->n = n;
    for (uint32_t i = 0; i < n; i++) {
        int rc = rn_expr_compile(exprs[i], in, &p->exprs[i], err);
        if (rc) {
            if (err) {
                char msg[sizeof err->msg];
                snprintf(msg, sizeof msg, "column '%.60s': %.400s", names[i], err->msg);
                memcpy(err->msg, msg, sizeof msg);
            }
            rn_projection_destroy(p);
            return rc;
        }
        rc = rn_schema_add(p->schema, names[i], rn_expr_type(p->exprs[i]), rn_expr_nullable(p->exprs[i]));
        if (rc) {
            rn_error_set(err, rc, 0, 0, rc == RN_EINVAL ? "column '%s' is named twice" : "cannot add column '%s'", names[i]);
            rn_projection_destroy(p);
            return rc;
        }
    }
    *out = p;
    return 0;
}

void rn_projection_destroy(rn_projection *p)
{
    if (!p) return;
    for (uint32_t i = 0; p->exprs && i < p->n; i++) rn_expr_destroy(p->exprs[i]);
    free(p->exprs);
    rn_schema_unref(p->schema);
    free(p);
}

const rn_schema *rn_projection_schema(const rn_projection *p) { return p->schema; }

int rn_projection_apply(rn_projection *p, const struct rn_batch *b, struct rn_batch **out, struct rn_error *err)
{
    *out = NULL;
    struct rn_batch *o = rn__batch_header(p->schema, b->n_rows ? b->n_rows : 1);
    if (!o) return rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
    o->n_rows = b->n_rows;
    for (uint32_t i = 0; i < p->n; i++) {
        int rc = rn_expr_eval(p->exprs[i], b, &o->cols[i], err);
        if (rc) {
            rn_batch_unref(o);
            return rc;
        }
    }
    *out = o;
    return 0;
}
