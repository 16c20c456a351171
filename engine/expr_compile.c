/*
 * expr_compile.c — turns a syntax tree into a tree of kernels: resolves columns against the
 * input schema, checks types (errors name the position and the types involved), inserts
 * implicit casts (int64 -> double), rewrites BETWEEN, simple CASE and NOT IN into core forms,
 * picks a kernel specialised for constant right operands, and folds every subtree whose inputs
 * are all constant into one constant.
 *
 * The untyped NULL literal has type RN_T_NULL; an operator adopts it into the type of its other
 * operand. Only a result that stays untyped is an error (use CAST).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expr_internal.h"

struct compiler {
    const rn_schema *in;
    struct rn_error *err;
};

static struct enode *compile(struct compiler *c, const struct ast *a);

static struct enode *new_node(enum enode_kind kind, int line, int col)
{
    struct enode *nd = calloc(1, sizeof *nd);
    if (!nd) return NULL;
    nd->kind = kind;
    nd->line = line;
    nd->col = col;
    nd->out.cap_deps = 2;
    return nd;
}

void rn__enode_free(struct enode *nd)
{
    if (!nd) return;
    for (uint32_t i = 0; i < nd->n_args; i++) rn__enode_free(nd->args[i]);   /* NULL-safe */
    free(nd->args);
    if (nd->aux_free) nd->aux_free(nd->aux);
    rn_column_release(&nd->out);
    rn_buf_unref(nd->cstr_buf);
    rn_buf_unref(nd->bvals);
    rn_buf_unref(nd->bvalid);
    free(nd);
}

int rn__type_error(struct enode *nd, struct rn_error *err, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return rn_error_set(err, RN_ETYPE, nd->line, nd->col, "%s", msg);
}

static const char *tname(struct rn_type t, char buf[24])
{
    return t.id == RN_T_NULL ? "NULL" : rn_type_name(t, buf, 24);
}

bool rn__is_numeric(struct rn_type t) { return t.id == RN_T_INT64 || t.id == RN_T_DOUBLE; }

/* ---- constants ---- */

static struct enode *const_node(struct rn_type t, int line, int col)
{
    struct enode *nd = new_node(N_CONST, line, col);
    if (nd) nd->type = t;
    return nd;
}

static struct enode *null_const(struct rn_type t, int line, int col)
{
    struct enode *nd = const_node(t, line, col);
    if (nd) {
        nd->cnull = true;
        nd->nullable = true;
    }
    return nd;
}

static int set_const_str(struct enode *nd, const char *s, size_t len)
{
    nd->cstr_buf = rn_buf_alloc(len ? len : 1);
    if (!nd->cstr_buf) return RN_ENOMEM;
    if (len) memcpy(rn_buf_data(nd->cstr_buf), s, len);
    nd->cstr = (struct rn_str){rn_buf_data(nd->cstr_buf), (uint32_t)len};
    return 0;
}

/* Evaluates a kernel node whose arguments are all constants once, and turns it into a
 * constant node (freeing its arguments). */
static int fold(struct enode *nd, struct rn_error *err)
{
    struct ectx cx = {.b = NULL, .n = 1, .now = 0, .err = err};
    int rc = rn__eval_node(nd, &cx);
    if (rc) {
        rn__release_tree(nd);
        return rc;
    }
    const struct rn_column *o = &nd->out;
    bool isnull = rn_column_is_null(o, 0);
    rc = 0;
    if (!isnull) {
        switch (nd->type.id) {
        case RN_T_BOOL: nd->cval.b = ((const uint8_t *)o->values)[0]; break;
        case RN_T_INT64:
        case RN_T_TIMESTAMP: nd->cval.i = ((const int64_t *)o->values)[0]; break;
        case RN_T_DOUBLE: nd->cval.d = ((const double *)o->values)[0]; break;
        case RN_T_STRING: {
            struct rn_str s = ((const struct rn_str *)o->values)[0];
            rc = set_const_str(nd, s.ptr, s.len);
            break;
        }
        default: break;
        }
    }
    rn__release_tree(nd);
    for (uint32_t i = 0; i < nd->n_args; i++) rn__enode_free(nd->args[i]);
    free(nd->args);
    nd->args = NULL;
    nd->n_args = 0;
    if (nd->aux_free) nd->aux_free(nd->aux);
    nd->aux = NULL;
    nd->aux_free = NULL;
    nd->kind = N_CONST;
    nd->fn = NULL;
    nd->cnull = isnull;
    nd->nullable = isnull;
    return rc;
}

static int maybe_fold(struct enode *nd, struct rn_error *err)
{
    if (nd->kind != N_KERNEL || nd->volatile_) return 0;
    for (uint32_t i = 0; i < nd->n_args; i++)
        if (nd->args[i]->kind != N_CONST) return 0;
    return fold(nd, err);
}

/* ---- coercion ---- */

int rn__coerce(struct enode **slot, struct rn_type to, struct rn_error *err)
{
    struct enode *a = *slot;
    if (rn_type_eq(a->type, to)) return 0;
    if (a->type.id == RN_T_NULL) {
        a->type = to;
        return 0;
    }
    rn_kern k = (a->type.id == RN_T_INT64 && to.id == RN_T_DOUBLE) ? rn__k_cast(a->type, to) : NULL;
    if (!k) {
        char x[24], y[24];
        return rn__type_error(a, err, "expected %s, found %s", tname(to, y), tname(a->type, x));
    }
    struct enode *c = new_node(N_KERNEL, a->line, a->col);
    if (!c || !(c->args = malloc(sizeof *c->args))) {
        free(c);
        return rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
    }
    c->fn = k;
    c->type = to;
    c->nullable = a->nullable;
    c->args[0] = a;
    c->n_args = 1;
    *slot = c;
    return maybe_fold(c, err);
}

/* A kernel node at a's position with the given compiled arguments (taken over). */
static struct enode *kernel_node(const struct ast *a, struct enode **args, uint32_t n)
{
    struct enode *nd = new_node(N_KERNEL, a->line, a->col);
    if (!nd) return NULL;
    nd->args = calloc(n ? n : 1, sizeof *nd->args);
    if (!nd->args) {
        free(nd);
        return NULL;
    }
    for (uint32_t i = 0; i < n; i++) {
        nd->args[i] = args[i];
        nd->nullable |= args[i]->nullable;
        nd->volatile_ |= args[i]->volatile_;
    }
    nd->n_args = n;
    return nd;
}

/* ---- operators ---- */

static int op_of(enum tok t)
{
    switch (t) {
    case T_PLUS: return OP_ADD;
    case T_MINUS: return OP_SUB;
    case T_STAR: return OP_MUL;
    case T_SLASH: return OP_DIV;
    case T_PERCENT: return OP_MOD;
    case T_EQ: return OP_EQ;
    case T_NE: return OP_NE;
    case T_LT: return OP_LT;
    case T_LE: return OP_LE;
    case T_GT: return OP_GT;
    case T_GE: return OP_GE;
    default: return -1;
    }
}

static int mirror(int op)
{
    switch (op) {
    case OP_LT: return OP_GT;
    case OP_LE: return OP_GE;
    case OP_GT: return OP_LT;
    case OP_GE: return OP_LE;
    default: return op;
    }
}

/* Untyped NULL on one side takes the other side's type; both untyped stays untyped. */
static void adopt_nulls(struct enode *nd)
{
    struct enode *l = nd->args[0], *r = nd->args[1];
    if (l->type.id == RN_T_NULL && r->type.id != RN_T_NULL) l->type = r->type;
    if (r->type.id == RN_T_NULL && l->type.id != RN_T_NULL) r->type = l->type;
}

static int check_arith(struct enode *nd, enum tok tk, struct rn_error *err)
{
    return rn__check_arith_op(nd, op_of(tk), err);
}

static const char *op_name(int op)
{
    static const char *names[] = {"'+'", "'-'", "'*'", "'/'", "'%'"};
    return op >= OP_ADD && op <= OP_MOD ? names[op] : "?";
}

int rn__check_arith_op(struct enode *nd, int op, struct rn_error *err)
{
    adopt_nulls(nd);
    struct rn_type lt = nd->args[0]->type, rt = nd->args[1]->type;
    enum rn_type_id L = lt.id, R = rt.id;
    char x[24], y[24];
    if (L == RN_T_NULL) {   /* NULL op NULL: stays an untyped null */
        nd->type = lt;
        nd->nullable = true;
        return 0;
    }
    enum rn_type_id kt;
    if (op == OP_ADD && ((L == RN_T_TIMESTAMP && R == RN_T_INT64) || (L == RN_T_INT64 && R == RN_T_TIMESTAMP))) {
        nd->type = rn_type_of(RN_T_TIMESTAMP);
        kt = RN_T_INT64;
    } else if (op == OP_SUB && L == RN_T_TIMESTAMP && R == RN_T_INT64) {
        nd->type = rn_type_of(RN_T_TIMESTAMP);
        kt = RN_T_INT64;
    } else if (op == OP_SUB && L == RN_T_TIMESTAMP && R == RN_T_TIMESTAMP) {
        nd->type = rn_type_of(RN_T_INT64);
        kt = RN_T_INT64;
    } else if (L == RN_T_INT64 && R == RN_T_INT64) {
        nd->type = lt;
        kt = RN_T_INT64;
    } else if (rn__is_numeric(lt) && rn__is_numeric(rt)) {
        nd->type = rn_type_of(RN_T_DOUBLE);
        kt = RN_T_DOUBLE;
        int rc = rn__coerce(&nd->args[0], nd->type, err);
        if (!rc) rc = rn__coerce(&nd->args[1], nd->type, err);
        if (rc) return rc;
    } else {
        return rn__type_error(nd, err, "operator %s cannot take %s and %s", op_name(op), tname(lt, x), tname(rt, y));
    }
    struct enode *r = nd->args[1];
    bool rconst = r->kind == N_CONST && !r->cnull;
    nd->op = op;
    if (kt == RN_T_INT64 && (op == OP_DIV || op == OP_MOD)) {
        nd->nullable = true;   /* division by zero */
        if (rconst && r->cval.i == 0) rconst = false;  /* the vv kernel makes every row null */
        if (rconst) rn__divmagic_init(&nd->dm, r->cval.i);
    }
    if (rconst && kt == RN_T_DOUBLE) nd->k.d = r->cval.d;
    else if (rconst) nd->k.i = r->cval.i;
    nd->fn = rn__k_arith(op, kt, rconst);
    return 0;
}

/* The storage class comparisons run on. */
static enum rn_type_id cmp_class(enum rn_type_id t)
{
    return t == RN_T_TIMESTAMP ? RN_T_INT64 : t;
}

static int check_cmp(struct enode *nd, enum tok tk, struct rn_error *err)
{
    int op = op_of(tk);
    adopt_nulls(nd);
    struct rn_type lt = nd->args[0]->type, rt = nd->args[1]->type;
    char x[24], y[24];
    nd->type = rn_type_of(RN_T_BOOL);
    if (lt.id == RN_T_NULL) {
        nd->args[0]->type = nd->args[1]->type = rn_type_of(RN_T_BOOL);
        lt = rt = nd->args[0]->type;
    }
    enum rn_type_id kt;
    if (lt.id == rt.id && lt.id != RN_T_VECTOR) {
        kt = cmp_class(lt.id);
    } else if (rn__is_numeric(lt) && rn__is_numeric(rt)) {
        kt = RN_T_DOUBLE;
        int rc = rn__coerce(&nd->args[0], rn_type_of(RN_T_DOUBLE), err);
        if (!rc) rc = rn__coerce(&nd->args[1], rn_type_of(RN_T_DOUBLE), err);
        if (rc) return rc;
    } else if ((lt.id == RN_T_TIMESTAMP && rt.id == RN_T_INT64) || (lt.id == RN_T_INT64 && rt.id == RN_T_TIMESTAMP)) {
        kt = RN_T_INT64;
    } else {
        return rn__type_error(nd, err, "cannot compare %s with %s", tname(lt, x), tname(rt, y));
    }
    /* constant on the left: swap so the kernel sees it on the right */
    if (nd->args[0]->kind == N_CONST && nd->args[1]->kind != N_CONST) {
        struct enode *t = nd->args[0];
        nd->args[0] = nd->args[1];
        nd->args[1] = t;
        op = mirror(op);
    }
    struct enode *r = nd->args[1];
    bool rconst = r->kind == N_CONST && !r->cnull;
    if (rconst) {
        if (kt == RN_T_STRING) nd->ks = r->cstr;
        else if (kt == RN_T_DOUBLE) nd->k.d = r->cval.d;
        else if (kt == RN_T_BOOL) nd->k.i = r->cval.b;
        else nd->k.i = r->cval.i;
    }
    nd->op = op;
    nd->fn = rn__k_cmp(op, kt, rconst);
    /* x % d = 0 and x % d <> 0 with a constant d: one divisibility kernel, no remainder */
    struct enode *l = nd->args[0];
    if (rconst && kt == RN_T_INT64 && nd->k.i == 0 && (op == OP_EQ || op == OP_NE) && l->kind == N_KERNEL &&
        l->fn == rn__k_arith(OP_MOD, RN_T_INT64, true)) {
        nd->dm = l->dm;
        nd->args[0] = l->args[0];
        l->args[0] = NULL;
        rn__enode_free(l);
        nd->fn = rn__k_divisible;
    }
    return nd->fn ? 0 : rn__type_error(nd, err, "cannot compare %s with %s", tname(lt, x), tname(rt, y));
}

static int require_bool(struct enode **slot, const char *what, struct rn_error *err)
{
    struct enode *a = *slot;
    if (a->type.id == RN_T_NULL) a->type = rn_type_of(RN_T_BOOL);
    if (a->type.id != RN_T_BOOL) {
        char x[24];
        return rn__type_error(a, err, "%s takes bool, found %s", what, tname(a->type, x));
    }
    return 0;
}

/* The common type of CASE/coalesce/IN values: one type, or int64 and double mixed to double. */
int rn__common_type(struct enode **args, uint32_t n, struct rn_type *out, struct rn_error *err)
{
    struct rn_type t = rn_type_of(RN_T_NULL);
    for (uint32_t i = 0; i < n; i++) {
        struct rn_type a = args[i]->type;
        if (a.id == RN_T_NULL || rn_type_eq(a, t)) continue;
        if (t.id == RN_T_NULL) t = a;
        else if (rn__is_numeric(a) && rn__is_numeric(t)) t = rn_type_of(RN_T_DOUBLE);
        else {
            char x[24], y[24];
            return rn__type_error(args[i], err, "expected a value of type %s, found %s", tname(t, x), tname(a, y));
        }
    }
    for (uint32_t i = 0; i < n && t.id != RN_T_NULL; i++) {
        int rc = rn__coerce(&args[i], t, err);
        if (rc) return rc;
    }
    *out = t;
    return 0;
}

/* ---- node builders per syntax ---- */

static struct enode *fail_nodes(struct enode **args, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) rn__enode_free(args[i]);
    return NULL;
}

static struct enode *oom(struct compiler *c)
{
    rn_error_set(c->err, RN_ENOMEM, 0, 0, "out of memory");
    return NULL;
}

/* Compiles each argument of a; on failure frees what was compiled. */
static int compile_args(struct compiler *c, const struct ast *a, struct enode **out)
{
    for (uint32_t i = 0; i < a->n_args; i++) {
        out[i] = compile(c, a->args[i]);
        if (!out[i]) {
            fail_nodes(out, i);
            return -1;
        }
    }
    return 0;
}

static struct enode *finish(struct compiler *c, struct enode *nd, int rc)
{
    if (!rc) rc = maybe_fold(nd, c->err);
    if (rc) {
        rn__enode_free(nd);
        return NULL;
    }
    return nd;
}

static struct enode *make_binary(struct compiler *c, const struct ast *a, enum tok tk,
                                 struct enode *l, struct enode *r)
{
    struct enode *args[2] = {l, r};
    struct enode *nd = kernel_node(a, args, 2);
    if (!nd) return fail_nodes(args, 2), oom(c);
    int rc;
    if (tk == K_AND || tk == K_OR) {
        nd->type = rn_type_of(RN_T_BOOL);
        rc = require_bool(&nd->args[0], tk == K_AND ? "AND" : "OR", c->err);
        if (!rc) rc = require_bool(&nd->args[1], tk == K_AND ? "AND" : "OR", c->err);
        nd->fn = tk == K_AND ? rn__k_and : rn__k_or;
    } else if (tk == T_CONCAT) {
        adopt_nulls(nd);
        if (nd->args[0]->type.id == RN_T_NULL) nd->args[0]->type = nd->args[1]->type = rn_type_of(RN_T_STRING);
        nd->type = rn_type_of(RN_T_STRING);
        char x[24], y[24];
        rc = (nd->args[0]->type.id != RN_T_STRING || nd->args[1]->type.id != RN_T_STRING)
                 ? rn__type_error(nd, c->err, "operator '||' takes two strings, found %s and %s",
                                  tname(nd->args[0]->type, x), tname(nd->args[1]->type, y))
                 : 0;
        nd->fn = rn__k_concat;
    } else if (tk >= T_EQ && tk <= T_GE) {
        rc = check_cmp(nd, tk, c->err);
    } else {
        rc = check_arith(nd, tk, c->err);
    }
    if (!rc && nd->type.id == RN_T_NULL) {   /* untyped NULL result: stays a constant */
        struct enode *n2 = null_const(nd->type, nd->line, nd->col);
        rn__enode_free(nd);
        return n2 ? n2 : oom(c);
    }
    return finish(c, nd, rc);
}

static struct enode *make_not(struct compiler *c, const struct ast *a, struct enode *arg)
{
    struct enode *nd = kernel_node(a, &arg, 1);
    if (!nd) return fail_nodes(&arg, 1), oom(c);
    nd->type = rn_type_of(RN_T_BOOL);
    nd->fn = rn__k_not;
    return finish(c, nd, require_bool(&nd->args[0], "NOT", c->err));
}

static struct enode *compile_case(struct compiler *c, const struct ast *a)
{
    /* args: [operand] (when then)* [else] -> kernel args: (cond value)* [else] */
    uint32_t first = a->has_operand ? 1 : 0;
    uint32_t pairs = (a->n_args - first - (a->has_else ? 1 : 0)) / 2;
    uint32_t n = pairs * 2 + (a->has_else ? 1 : 0);
    struct enode **args = calloc(n, sizeof *args);
    if (!args) return oom(c);
    for (uint32_t p = 0; p < pairs; p++) {
        const struct ast *when = a->args[first + 2 * p], *then = a->args[first + 2 * p + 1];
        struct enode *cond = compile(c, when);
        if (cond && a->has_operand) {
            struct enode *x = compile(c, a->args[0]);
            cond = x ? make_binary(c, when, T_EQ, x, cond) : (rn__enode_free(cond), NULL);
        }
        if (!cond || !(args[2 * p + 1] = compile(c, then))) {
            rn__enode_free(cond);
            fail_nodes(args, 2 * p);
            free(args);
            return NULL;
        }
        args[2 * p] = cond;
        if (require_bool(&args[2 * p], "WHEN", c->err)) {
            fail_nodes(args, 2 * p + 2);
            free(args);
            return NULL;
        }
    }
    if (a->has_else && !(args[n - 1] = compile(c, a->args[a->n_args - 1]))) {
        fail_nodes(args, n - 1);
        free(args);
        return NULL;
    }
    struct enode *nd = kernel_node(a, args, n);
    free(args);
    if (!nd) return oom(c);
    nd->op = a->has_else;
    /* values: odd positions, and the else */
    struct enode **vals = malloc((pairs + 1) * sizeof *vals);
    if (!vals) {
        rn__enode_free(nd);
        return oom(c);
    }
    uint32_t nv = 0;
    for (uint32_t p = 0; p < pairs; p++) vals[nv++] = nd->args[2 * p + 1];
    if (a->has_else) vals[nv++] = nd->args[n - 1];
    struct rn_type t;
    int rc = rn__common_type(vals, nv, &t, c->err);
    nv = 0;
    for (uint32_t p = 0; p < pairs; p++) nd->args[2 * p + 1] = vals[nv++];
    if (a->has_else) nd->args[n - 1] = vals[nv++];
    nd->nullable = !a->has_else;
    for (uint32_t i = 0; i < nv; i++) nd->nullable |= vals[i]->nullable;
    free(vals);
    if (rc) return finish(c, nd, rc);
    nd->type = t;
    if (t.id == RN_T_NULL) {
        rn__enode_free(nd);
        return null_const(t, a->line, a->col);
    }
    nd->fn = rn__k_case;
    return finish(c, nd, 0);
}

/* A kernel node at a's position over a's arguments, compiled (NULL after reporting). */
static struct enode *kernel_over_args(struct compiler *c, const struct ast *a)
{
    struct enode **args = calloc(a->n_args ? a->n_args : 1, sizeof *args);
    if (!args) return oom(c);
    if (compile_args(c, a, args)) {
        free(args);
        return NULL;
    }
    struct enode *nd = kernel_node(a, args, a->n_args);
    free(args);
    return nd ? nd : oom(c);
}

static struct enode *compile_in(struct compiler *c, const struct ast *a)
{
    /* x IN (v...): the IN kernel compares x with each item; NOT IN negates it. */
    struct enode *nd = kernel_over_args(c, a);
    if (!nd) return NULL;
    nd->type = rn_type_of(RN_T_BOOL);
    /* timestamps compare with int64 milliseconds, as in the comparison operators */
    bool has_ts = false;
    for (uint32_t i = 0; i < nd->n_args; i++) has_ts |= nd->args[i]->type.id == RN_T_TIMESTAMP;
    for (uint32_t i = 0; has_ts && i < nd->n_args; i++)
        if (nd->args[i]->type.id == RN_T_INT64) nd->args[i]->type = rn_type_of(RN_T_TIMESTAMP);
    struct rn_type t;
    int rc = rn__common_type(nd->args, nd->n_args, &t, c->err);
    if (!rc && t.id == RN_T_VECTOR) rc = rn__type_error(nd, c->err, "IN cannot compare vectors");
    if (!rc && t.id == RN_T_NULL) {
        for (uint32_t i = 0; i < nd->n_args; i++) nd->args[i]->type = rn_type_of(RN_T_BOOL);
        t = rn_type_of(RN_T_BOOL);
    }
    if (rc) return finish(c, nd, rc);
    nd->op = cmp_class(t.id);
    nd->fn = rn__k_in;
    nd = finish(c, nd, 0);
    return nd && a->negated ? make_not(c, a, nd) : nd;
}

static struct enode *compile_like(struct compiler *c, const struct ast *a)
{
    struct enode *args[2];
    if (compile_args(c, a, args)) return NULL;
    struct enode *nd = kernel_node(a, args, 2);
    if (!nd) return fail_nodes(args, 2), oom(c);
    nd->type = rn_type_of(RN_T_BOOL);
    int rc = 0;
    char x[24];
    if (nd->args[0]->type.id == RN_T_NULL) nd->args[0]->type = rn_type_of(RN_T_STRING);
    if (nd->args[0]->type.id != RN_T_STRING)
        rc = rn__type_error(nd->args[0], c->err, "LIKE takes a string, found %s", tname(nd->args[0]->type, x));
    else if (nd->args[1]->kind != N_CONST || nd->args[1]->type.id != RN_T_STRING)
        rc = rn__type_error(nd->args[1], c->err, "the LIKE pattern must be a constant string");
    else if (nd->args[1]->cnull) {
        rn__enode_free(nd);
        return null_const(rn_type_of(RN_T_BOOL), a->line, a->col);
    }
    if (!rc) rc = rn__like_prepare(nd, nd->args[1]->cstr);
    if (rc == RN_ENOMEM) rn_error_set(c->err, rc, 0, 0, "out of memory");
    nd->fn = rn__k_like;
    nd = finish(c, nd, rc);
    return nd && a->negated ? make_not(c, a, nd) : nd;
}

static struct enode *compile_call(struct compiler *c, const struct ast *a)
{
    const struct rn_func *f = rn__func_find(a->s, a->slen);
    if (!f) {
        const char *near = rn__func_closest(a->s, a->slen);
        rn_error_set(c->err, RN_ENOTFOUND, a->line, a->col, "unknown function '%s'%s%s%s", a->s,
                     near ? " (did you mean " : "", near ? near : "", near ? "?)" : "");
        return NULL;
    }
    if (a->n_args < f->min_args || a->n_args > f->max_args) {
        if (f->min_args == f->max_args)
            rn_error_set(c->err, RN_ETYPE, a->line, a->col, "%s() takes %u argument%s, found %u", f->name,
                         f->min_args, f->min_args == 1 ? "" : "s", a->n_args);
        else if (f->max_args == UINT32_MAX)
            rn_error_set(c->err, RN_ETYPE, a->line, a->col, "%s() takes at least %u arguments, found %u", f->name,
                         f->min_args, a->n_args);
        else
            rn_error_set(c->err, RN_ETYPE, a->line, a->col, "%s() takes %u to %u arguments, found %u", f->name,
                         f->min_args, f->max_args, a->n_args);
        return NULL;
    }
    struct enode *nd = kernel_over_args(c, a);
    if (!nd) return NULL;
    int rc = f->check(nd, c->err);
    if (!rc && nd->type.id == RN_T_NULL) {
        rn__enode_free(nd);
        return null_const(rn_type_of(RN_T_NULL), a->line, a->col);
    }
    return finish(c, nd, rc);
}

static struct enode *compile(struct compiler *c, const struct ast *a)
{
    struct enode *nd, *args[3];
    switch (a->kind) {
    case A_LIT_INT:
        if ((nd = const_node(rn_type_of(RN_T_INT64), a->line, a->col))) nd->cval.i = a->i;
        return nd ? nd : oom(c);
    case A_LIT_DOUBLE:
        if ((nd = const_node(rn_type_of(RN_T_DOUBLE), a->line, a->col))) nd->cval.d = a->d;
        return nd ? nd : oom(c);
    case A_LIT_BOOL:
        if ((nd = const_node(rn_type_of(RN_T_BOOL), a->line, a->col))) nd->cval.b = (uint8_t)a->i;
        return nd ? nd : oom(c);
    case A_LIT_STRING:
        if (!(nd = const_node(rn_type_of(RN_T_STRING), a->line, a->col))) return oom(c);
        if (set_const_str(nd, a->s, a->slen)) {
            rn__enode_free(nd);
            return oom(c);
        }
        return nd;
    case A_LIT_NULL:
        return (nd = null_const(rn_type_of(RN_T_NULL), a->line, a->col)) ? nd : oom(c);
    case A_COLUMN: {
        int i = rn_schema_findn(c->in, a->s, a->slen);
        if (i < 0) {
            char cols[200];
            rn_schema_describe(c->in, cols, sizeof cols);
            rn_error_set(c->err, RN_ENOTFOUND, a->line, a->col, "unknown column '%s' (the input has: %s)", a->s,
                         rn_schema_len(c->in) ? cols : "no columns");
            return NULL;
        }
        if (!(nd = new_node(N_COLUMN, a->line, a->col))) return oom(c);
        const struct rn_field *f = rn_schema_field(c->in, (size_t)i);
        nd->column = i;
        nd->type = f->type;
        nd->nullable = f->nullable;
        return nd;
    }
    case A_NEG: {
        if (!(args[0] = compile(c, a->args[0]))) return NULL;
        if (args[0]->type.id == RN_T_NULL) return args[0];
        if (!(nd = kernel_node(a, args, 1))) return fail_nodes(args, 1), oom(c);
        nd->type = args[0]->type;
        nd->fn = rn__k_neg(nd->type.id);
        char x[24];
        return finish(c, nd, nd->fn ? 0 : rn__type_error(nd, c->err, "unary '-' takes a number, found %s", tname(nd->type, x)));
    }
    case A_NOT:
        if (!(args[0] = compile(c, a->args[0]))) return NULL;
        return make_not(c, a, args[0]);
    case A_BINARY:
        if (compile_args(c, a, args)) return NULL;
        return make_binary(c, a, a->op, args[0], args[1]);
    case A_ISNULL:
        if (!(args[0] = compile(c, a->args[0]))) return NULL;
        if (!(nd = kernel_node(a, args, 1))) return fail_nodes(args, 1), oom(c);
        nd->type = rn_type_of(RN_T_BOOL);
        nd->nullable = false;
        nd->fn = a->negated ? rn__k_isnotnull : rn__k_isnull;
        if (args[0]->type.id == RN_T_NULL) args[0]->type = rn_type_of(RN_T_BOOL);
        return finish(c, nd, 0);
    case A_BETWEEN: {
        /* x BETWEEN lo AND hi  ->  x >= lo AND x <= hi (x compiled twice: compiling is pure) */
        struct enode *x1 = compile(c, a->args[0]), *lo = x1 ? compile(c, a->args[1]) : NULL;
        struct enode *ge = lo ? make_binary(c, a, T_GE, x1, lo) : (rn__enode_free(x1), NULL);
        struct enode *x2 = ge ? compile(c, a->args[0]) : NULL, *hi = x2 ? compile(c, a->args[2]) : NULL;
        struct enode *le = hi ? make_binary(c, a, T_LE, x2, hi) : (rn__enode_free(x2), NULL);
        if (!le) {
            rn__enode_free(ge);
            return NULL;
        }
        nd = make_binary(c, a, K_AND, ge, le);
        return nd && a->negated ? make_not(c, a, nd) : nd;
    }
    case A_IN: return compile_in(c, a);
    case A_LIKE: return compile_like(c, a);
    case A_CASE: return compile_case(c, a);
    case A_CAST: {
        if (!(args[0] = compile(c, a->args[0]))) return NULL;
        if (args[0]->type.id == RN_T_NULL) {
            args[0]->type = a->cast_to;
            return args[0];
        }
        if (rn_type_eq(args[0]->type, a->cast_to)) return args[0];
        if (!(nd = kernel_node(a, args, 1))) return fail_nodes(args, 1), oom(c);
        nd->type = a->cast_to;
        nd->fn = rn__k_cast(args[0]->type, a->cast_to);
        /* casts that can fail per row give null */
        enum rn_type_id f = args[0]->type.id, t = a->cast_to.id;
        nd->nullable |= f == RN_T_STRING || (f == RN_T_DOUBLE && t == RN_T_INT64);
        char x[24], y[24];
        return finish(c, nd, nd->fn ? 0 : rn__type_error(nd, c->err, "cannot cast %s to %s", tname(args[0]->type, x), tname(a->cast_to, y)));
    }
    case A_CALL: return compile_call(c, a);
    }
    return oom(c);
}

/* ---- public entry points ---- */

struct rn_expr {
    char *src;
    const rn_schema *in;
    struct enode *root;
};

struct enode *rn__expr_root(rn_expr *e) { return e->root; }

int rn_expr_compile(const char *src, const rn_schema *in, rn_expr **out, struct rn_error *err)
{
    *out = NULL;
    rn_error_clear(err);
    struct ast *a = rn__parse(src, err);
    if (!a) return err ? err->code : RN_EINVAL;
    struct compiler c = {in, err};
    struct enode *root = compile(&c, a);
    rn__ast_free(a);
    if (!root) return err ? err->code : RN_EINVAL;
    if (root->type.id == RN_T_NULL) {
        rn__enode_free(root);
        return rn_error_set(err, RN_ETYPE, 1, 1, "the type of NULL cannot be inferred here: write CAST(NULL AS type)");
    }
    rn_expr *e = calloc(1, sizeof *e);
    if (!e || !(e->src = strdup(src))) {
        free(e);
        rn__enode_free(root);
        return rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
    }
    e->in = rn_schema_ref(in);
    e->root = root;
    *out = e;
    return 0;
}

void rn_expr_destroy(rn_expr *e)
{
    if (!e) return;
    rn__enode_free(e->root);
    rn_schema_unref(e->in);
    free(e->src);
    free(e);
}

struct rn_type rn_expr_type(const rn_expr *e) { return e->root->type; }
bool rn_expr_nullable(const rn_expr *e) { return e->root->nullable; }
const char *rn_expr_source(const rn_expr *e) { return e->src; }
bool rn_expr_is_constant(const rn_expr *e) { return e->root->kind == N_CONST; }
