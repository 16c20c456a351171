/*
 * expr_parse.c — recursive-descent parser from tokens to the syntax tree, one function per
 * precedence level (docs/job-spec.md lists the levels). Errors point at the token where the
 * parser stopped and say what it expected there.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expr_internal.h"

struct parser {
    struct lexer lx;
    struct token tok;    /* current token */
    struct rn_error *err;
    bool failed;
    int depth;
    uint32_t nodes;
};

#define MAX_DEPTH 200    /* nesting of parentheses, NOT and unary minus */
#define MAX_NODES 4096   /* bounds the compiler's recursion over long operator chains too */

static void next(struct parser *ps)
{
    free(ps->tok.text);
    if (rn__lex_next(&ps->lx, &ps->tok, ps->err) == T_ERROR) ps->failed = true;
}

static struct ast *error_at(struct parser *ps, const char *fmt, const char *what)
{
    if (!ps->failed) {
        char found[64];
        if (ps->tok.kind == T_EOF || ps->tok.kind == T_ERROR) snprintf(found, sizeof found, "%s", rn__tok_name(ps->tok.kind));
        else snprintf(found, sizeof found, "'%.*s'", (int)(ps->tok.len > 40 ? 40 : ps->tok.len), ps->tok.start);
        char msg[256];
        snprintf(msg, sizeof msg, fmt, what);
        rn_error_set(ps->err, RN_EINVAL, ps->tok.line, ps->tok.col, "%s, found %s", msg, found);
        ps->failed = true;
    }
    return NULL;
}

static struct ast *node(struct parser *ps, enum ast_kind kind, const struct token *at)
{
    if (++ps->nodes > MAX_NODES) {
        if (!ps->failed) rn_error_set(ps->err, RN_ERANGE, at->line, at->col, "expression too large (more than %d terms)", MAX_NODES);
        ps->failed = true;
        return NULL;
    }
    struct ast *a = calloc(1, sizeof *a);
    if (!a) {
        rn_error_set(ps->err, RN_ENOMEM, 0, 0, "out of memory");
        ps->failed = true;
        return NULL;
    }
    a->kind = kind;
    a->line = at->line;
    a->col = at->col;
    return a;
}

static bool add_arg(struct parser *ps, struct ast *a, struct ast *arg)
{
    if (!arg) return false;
    struct ast **args = realloc(a->args, (a->n_args + 1) * sizeof *args);
    if (!args) {
        rn__ast_free(arg);
        rn_error_set(ps->err, RN_ENOMEM, 0, 0, "out of memory");
        ps->failed = true;
        return false;
    }
    a->args = args;
    a->args[a->n_args++] = arg;
    return true;
}

void rn__ast_free(struct ast *a)
{
    if (!a) return;
    for (uint32_t i = 0; i < a->n_args; i++) rn__ast_free(a->args[i]);
    free(a->args);
    free(a->s);
    free(a);
}

static struct ast *parse_or(struct parser *ps);
static struct ast *parse_add(struct parser *ps);

static bool expect(struct parser *ps, enum tok k)
{
    if (ps->failed) return false;
    if (ps->tok.kind != k) {
        error_at(ps, "expected %s", rn__tok_name(k));
        return false;
    }
    next(ps);
    return !ps->failed;
}

/* An operator node over l and r at token at. */
static struct ast *binary(struct parser *ps, enum ast_kind kind, enum tok op, struct token *at,
                          struct ast *l, struct ast *r)
{
    if (!l || !r) {
        rn__ast_free(l);
        rn__ast_free(r);
        return NULL;
    }
    struct ast *a = node(ps, kind, at);
    if (!a) {
        rn__ast_free(l);
        rn__ast_free(r);
        return NULL;
    }
    a->op = op;
    a->args = malloc(2 * sizeof *a->args);
    if (!a->args) {
        rn__ast_free(l);
        rn__ast_free(r);
        free(a);
        return NULL;
    }
    a->args[0] = l;
    a->args[1] = r;
    a->n_args = 2;
    return a;
}

static struct ast *parse_type(struct parser *ps, struct ast *a)
{
    if (ps->tok.kind != T_IDENT || ps->tok.text) return error_at(ps, "expected %s", "a type name");
    char buf[48];
    size_t n = ps->tok.len < 32 ? ps->tok.len : 32;
    memcpy(buf, ps->tok.start, n);
    buf[n] = 0;
    if (n == 6 && strncasecmp(buf, "vector", 6) == 0) {
        next(ps);
        if (ps->tok.kind != T_LT) return error_at(ps, "expected %s", "'<' after vector");
        next(ps);
        if (ps->tok.kind != T_INT || ps->tok.i < 1 || ps->tok.i > RN_VECTOR_MAX_DIM)
            return error_at(ps, "expected %s", "a vector dimension from 1 to 65536");
        a->cast_to = rn_type_vector((uint32_t)ps->tok.i);
        next(ps);
        if (ps->tok.kind != T_GT) return error_at(ps, "expected %s", "'>'");
        next(ps);
        return a;
    }
    if (rn_type_parse(buf, n, &a->cast_to)) return error_at(ps, "expected %s", "a type name (bool, int64, double, string, timestamp, vector<N>)");
    next(ps);
    return a;
}

static struct ast *parse_case(struct parser *ps)
{
    struct ast *a = node(ps, A_CASE, &ps->tok);
    if (!a) return NULL;
    next(ps);
    if (ps->tok.kind == K_ELSE || ps->tok.kind == K_END) {
        error_at(ps, "expected %s", "WHEN (or an operand before it)");
        goto fail;
    }
    if (ps->tok.kind != K_WHEN) {
        a->has_operand = true;
        if (!add_arg(ps, a, parse_or(ps))) goto fail;
    }
    if (ps->tok.kind != K_WHEN) {
        error_at(ps, "expected %s", "WHEN");
        goto fail;
    }
    while (ps->tok.kind == K_WHEN && !ps->failed) {
        next(ps);
        if (!add_arg(ps, a, parse_or(ps)) || !expect(ps, K_THEN) || !add_arg(ps, a, parse_or(ps))) goto fail;
    }
    if (ps->tok.kind == K_ELSE) {
        next(ps);
        a->has_else = true;
        if (!add_arg(ps, a, parse_or(ps))) goto fail;
    }
    if (!expect(ps, K_END)) goto fail;
    return a;
fail:
    rn__ast_free(a);
    return NULL;
}

static struct ast *parse_primary(struct parser *ps)
{
    if (ps->failed) return NULL;
    struct token t = ps->tok;
    struct ast *a = NULL;
    switch (t.kind) {
    case T_INT:
    case T_DURATION:
        if (t.int_min) return error_at(ps, "%s", "integer literal does not fit in int64");
        if ((a = node(ps, A_LIT_INT, &t))) a->i = t.i;
        next(ps);
        return a;
    case T_DOUBLE:
        if ((a = node(ps, A_LIT_DOUBLE, &t))) a->d = t.d;
        next(ps);
        return a;
    case T_STRING:
        if ((a = node(ps, A_LIT_STRING, &t))) {
            a->s = ps->tok.text;
            a->slen = ps->tok.len;
            ps->tok.text = NULL;
        }
        next(ps);
        return a;
    case K_TRUE:
    case K_FALSE:
        if ((a = node(ps, A_LIT_BOOL, &t))) a->i = t.kind == K_TRUE;
        next(ps);
        return a;
    case K_NULL:
        a = node(ps, A_LIT_NULL, &t);
        next(ps);
        return a;
    case T_LPAREN:
        next(ps);
        a = parse_or(ps);
        if (a && !expect(ps, T_RPAREN)) {
            rn__ast_free(a);
            return NULL;
        }
        return a;
    case K_CASE:
        return parse_case(ps);
    case K_CAST:
        if (!(a = node(ps, A_CAST, &t))) return NULL;
        next(ps);
        if (!expect(ps, T_LPAREN) || !add_arg(ps, a, parse_or(ps)) || !expect(ps, K_AS) ||
            !parse_type(ps, a) || !expect(ps, T_RPAREN)) {
            rn__ast_free(a);
            return NULL;
        }
        return a;
    case T_IDENT: {
        bool quoted_name = t.text != NULL;
        if (!(a = node(ps, A_COLUMN, &t))) return NULL;
        a->slen = quoted_name ? t.len : t.len;
        a->s = quoted_name ? ps->tok.text : strndup(t.start, t.len);
        ps->tok.text = NULL;
        if (!a->s) {
            rn__ast_free(a);
            return NULL;
        }
        next(ps);
        if (ps->tok.kind == T_LPAREN && !quoted_name) {
            a->kind = A_CALL;
            next(ps);
            if (ps->tok.kind != T_RPAREN) {
                do {
                    if (ps->tok.kind == T_COMMA) next(ps);
                    if (!add_arg(ps, a, parse_or(ps))) goto fail_call;
                } while (ps->tok.kind == T_COMMA);
            }
            if (!expect(ps, T_RPAREN)) goto fail_call;
        }
        return a;
    fail_call:
        rn__ast_free(a);
        return NULL;
    }
    default:
        return error_at(ps, "expected %s", "a value, column, function call or '('");
    }
}

static struct ast *parse_unary(struct parser *ps)
{
    if (ps->tok.kind != T_MINUS && ps->tok.kind != T_PLUS) return parse_primary(ps);
    if (++ps->depth > MAX_DEPTH) return error_at(ps, "%s", "expression nested too deeply");
    struct token t = ps->tok;
    next(ps);
    if (t.kind == T_MINUS && ps->tok.kind == T_INT && ps->tok.int_min) {
        struct ast *a = node(ps, A_LIT_INT, &t);
        if (a) a->i = INT64_MIN;
        next(ps);
        ps->depth--;
        return a;
    }
    struct ast *arg = parse_unary(ps);
    ps->depth--;
    if (!arg || t.kind == T_PLUS) return arg;
    struct ast *a = node(ps, A_NEG, &t);
    if (!a || !add_arg(ps, a, arg)) {
        free(a);
        return NULL;
    }
    return a;
}

static struct ast *parse_mul(struct parser *ps)
{
    struct ast *l = parse_unary(ps);
    while (l && (ps->tok.kind == T_STAR || ps->tok.kind == T_SLASH || ps->tok.kind == T_PERCENT)) {
        struct token t = ps->tok;
        next(ps);
        l = binary(ps, A_BINARY, t.kind, &t, l, parse_unary(ps));
    }
    return l;
}

static struct ast *parse_add(struct parser *ps)
{
    struct ast *l = parse_mul(ps);
    while (l && (ps->tok.kind == T_PLUS || ps->tok.kind == T_MINUS || ps->tok.kind == T_CONCAT)) {
        struct token t = ps->tok;
        next(ps);
        l = binary(ps, A_BINARY, t.kind, &t, l, parse_mul(ps));
    }
    return l;
}

static bool is_cmp(enum tok k) { return k >= T_EQ && k <= T_GE; }

static struct ast *parse_cmp(struct parser *ps)
{
    struct ast *l = parse_add(ps);
    if (!l || ps->failed) return l;
    struct token t = ps->tok;
    struct ast *a = NULL;
    if (is_cmp(t.kind)) {
        next(ps);
        a = binary(ps, A_BINARY, t.kind, &t, l, parse_add(ps));
    } else if (t.kind == K_IS) {
        next(ps);
        bool neg = false;
        if (ps->tok.kind == K_NOT) {
            neg = true;
            next(ps);
        }
        if (ps->tok.kind != K_NULL) {
            rn__ast_free(l);
            return error_at(ps, "expected %s", "NULL after IS [NOT]");
        }
        next(ps);
        if (!(a = node(ps, A_ISNULL, &t)) || !add_arg(ps, a, l)) {
            free(a);
            return NULL;
        }
        a->negated = neg;
    } else if (t.kind == K_NOT || t.kind == K_IN || t.kind == K_BETWEEN || t.kind == K_LIKE) {
        bool neg = t.kind == K_NOT;
        if (neg) {
            next(ps);
            if (ps->tok.kind != K_IN && ps->tok.kind != K_BETWEEN && ps->tok.kind != K_LIKE) {
                rn__ast_free(l);
                return error_at(ps, "expected %s", "IN, BETWEEN or LIKE after NOT");
            }
        }
        struct token op = ps->tok;
        next(ps);
        enum ast_kind kind = op.kind == K_IN ? A_IN : op.kind == K_BETWEEN ? A_BETWEEN : A_LIKE;
        if (!(a = node(ps, kind, &op)) || !add_arg(ps, a, l)) {
            free(a);
            return NULL;
        }
        a->negated = neg;
        if (kind == A_IN) {
            if (!expect(ps, T_LPAREN)) goto fail;
            do {
                if (ps->tok.kind == T_COMMA) next(ps);
                if (!add_arg(ps, a, parse_or(ps))) goto fail;
            } while (ps->tok.kind == T_COMMA);
            if (!expect(ps, T_RPAREN)) goto fail;
        } else if (kind == A_BETWEEN) {
            if (!add_arg(ps, a, parse_add(ps)) || !expect(ps, K_AND) || !add_arg(ps, a, parse_add(ps))) goto fail;
        } else {
            if (!add_arg(ps, a, parse_add(ps))) goto fail;
        }
    } else {
        return l;
    }
    if (a && (is_cmp(ps->tok.kind) || ps->tok.kind == K_IS || ps->tok.kind == K_IN ||
              ps->tok.kind == K_BETWEEN || ps->tok.kind == K_LIKE)) {
        rn__ast_free(a);
        return error_at(ps, "%s", "comparisons do not chain: use AND to combine them");
    }
    return a;
fail:
    rn__ast_free(a);
    return NULL;
}

static struct ast *parse_not(struct parser *ps)
{
    if (ps->tok.kind != K_NOT) return parse_cmp(ps);
    if (++ps->depth > MAX_DEPTH) return error_at(ps, "%s", "expression nested too deeply");
    struct token t = ps->tok;
    next(ps);
    struct ast *arg = parse_not(ps);
    ps->depth--;
    if (!arg) return NULL;
    struct ast *a = node(ps, A_NOT, &t);
    if (!a || !add_arg(ps, a, arg)) {
        free(a);
        return NULL;
    }
    return a;
}

static struct ast *parse_and(struct parser *ps)
{
    struct ast *l = parse_not(ps);
    while (l && ps->tok.kind == K_AND) {
        struct token t = ps->tok;
        next(ps);
        l = binary(ps, A_BINARY, K_AND, &t, l, parse_not(ps));
    }
    return l;
}

static struct ast *parse_or(struct parser *ps)
{
    if (++ps->depth > MAX_DEPTH) return error_at(ps, "%s", "expression nested too deeply");
    struct ast *l = parse_and(ps);
    while (l && ps->tok.kind == K_OR) {
        struct token t = ps->tok;
        next(ps);
        l = binary(ps, A_BINARY, K_OR, &t, l, parse_and(ps));
    }
    ps->depth--;
    return l;
}

struct ast *rn__parse(const char *src, struct rn_error *err)
{
    struct parser ps = {.err = err};
    rn__lex_init(&ps.lx, src);
    next(&ps);
    struct ast *a = ps.failed ? NULL : parse_or(&ps);
    if (a && ps.tok.kind != T_EOF) {
        error_at(&ps, "expected %s", "an operator or the end of the expression");
        rn__ast_free(a);
        a = NULL;
    }
    if (ps.failed) {
        rn__ast_free(a);
        a = NULL;
    }
    free(ps.tok.text);
    return a;
}
