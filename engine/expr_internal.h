/*
 * expr_internal.h — the expression engine's inner structures: tokens, the syntax tree the
 * parser builds, and the compiled tree of kernels that evaluation runs.
 *
 * Pipeline: expr_lex.c (tokens with line/column) -> expr_parse.c (syntax tree) ->
 * expr_compile.c (name resolution, type checking, implicit casts, rewrites such as IN -> OR of
 * equalities, constant folding, kernel choice) -> expr_eval.c (post-order evaluation, one
 * kernel call per node per batch). Kernels live in expr_k_*.c.
 */
#ifndef RN_EXPR_INTERNAL_H
#define RN_EXPR_INTERNAL_H

#include <regex.h>
#include <stdbool.h>
#include <stdint.h>

#include "internal.h"
#include "runnel/expr.h"

/* ---- tokens ---- */
enum tok {
    T_EOF, T_IDENT, T_INT, T_DOUBLE, T_STRING, T_DURATION,
    T_LPAREN, T_RPAREN, T_COMMA, T_PLUS, T_MINUS, T_STAR, T_SLASH, T_PERCENT, T_CONCAT,
    T_EQ, T_NE, T_LT, T_LE, T_GT, T_GE,
    K_AND, K_OR, K_NOT, K_IN, K_BETWEEN, K_LIKE, K_IS, K_NULL, K_TRUE, K_FALSE,
    K_CASE, K_WHEN, K_THEN, K_ELSE, K_END, K_CAST, K_AS,
    T_ERROR,
};

struct token {
    enum tok kind;
    int line, col;
    const char *start;   /* in the source */
    size_t len;
    int64_t i;           /* T_INT, T_DURATION (ms) */
    double d;            /* T_DOUBLE */
    bool int_min;        /* T_INT 9223372036854775808: valid only negated */
    char *text;          /* T_STRING / quoted T_IDENT: unescaped, malloc'd; NULL otherwise */
};

struct lexer {
    const char *src, *p;
    int line;
    const char *line_start;
};

void rn__lex_init(struct lexer *lx, const char *src);
/* Reads the next token; on a lexical error returns T_ERROR with err filled. */
enum tok rn__lex_next(struct lexer *lx, struct token *t, struct rn_error *err);
const char *rn__tok_name(enum tok k);

/* ---- syntax tree ---- */
enum ast_kind {
    A_LIT_INT, A_LIT_DOUBLE, A_LIT_STRING, A_LIT_BOOL, A_LIT_NULL, A_COLUMN,
    A_NEG, A_NOT, A_BINARY, A_CALL, A_CASE, A_CAST, A_IN, A_BETWEEN, A_LIKE, A_ISNULL,
};

struct ast {
    enum ast_kind kind;
    int line, col;
    enum tok op;           /* A_BINARY: the operator token */
    bool negated;          /* NOT IN, NOT BETWEEN, NOT LIKE, IS NOT NULL */
    bool has_operand;      /* A_CASE: simple form, args[0] is the operand */
    bool has_else;         /* A_CASE: the last arg is the ELSE value */
    int64_t i;
    double d;
    char *s;               /* string literal, column or function name (malloc'd) */
    size_t slen;
    struct rn_type cast_to;
    struct ast **args;
    uint32_t n_args;
};

/* Parses src into a tree (freed with rn__ast_free); NULL with err on a syntax error. */
struct ast *rn__parse(const char *src, struct rn_error *err);
void rn__ast_free(struct ast *a);

/* ---- compiled tree ---- */
struct enode;
struct ectx {
    const struct rn_batch *b;
    uint32_t n;
    int64_t now;
    struct rn_error *err;
};
typedef int (*rn_kern)(struct enode *nd, struct ectx *cx);

enum enode_kind { N_CONST, N_COLUMN, N_KERNEL };

struct enode {
    enum enode_kind kind;
    rn_kern fn;
    struct rn_type type;
    bool nullable;
    bool volatile_;         /* depends on the clock (now()) */
    int line, col;
    struct enode **args;
    uint32_t n_args;
    struct rn_column out;   /* result of the last evaluation; owns references to its buffers */
    /* kernel parameters */
    int column;             /* N_COLUMN */
    int op;                 /* comparison / arithmetic operator */
    union { int64_t i; double d; } k;   /* constant right operand of a _vc kernel */
    struct rn_str ks;       /* constant string operand */
    struct rn_divmagic dm;
    void *aux;              /* kernel-specific: compiled regex, LIKE pattern, ... */
    void (*aux_free)(void *);
    /* N_CONST */
    bool cnull;
    union { int64_t i; double d; uint8_t b; } cval;
    struct rn_str cstr;
    rn_buf *cstr_buf;       /* owns cstr's bytes */
    rn_buf *bvals, *bvalid; /* broadcast of the constant, bcap rows */
    uint32_t bcap;
};

/* Evaluation (expr_eval.c) and tree management (expr_compile.c). */
int rn__eval_node(struct enode *nd, struct ectx *cx);
void rn__release_tree(struct enode *nd);
void rn__enode_free(struct enode *nd);
struct enode *rn__expr_root(rn_expr *e);
int rn__common_type(struct enode **args, uint32_t n, struct rn_type *out, struct rn_error *err);

/* Kernels write into nd->out, which the evaluator has emptied. These allocate its buffers. */
int rn__out_values(struct enode *nd, uint32_t n);
int rn__out_validity(struct enode *nd, uint32_t n);              /* all valid */
/* out.validity = AND of the args' validity (NULL when none has a bitmap). */
int rn__out_validity_and(struct enode *nd, uint32_t n);
/* out.validity = a copy of arg's validity, or all valid when it has none. */
int rn__out_validity_from(struct enode *nd, const struct rn_column *arg, uint32_t n);

/* Operators */
enum { OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_MOD, OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE };

/* Kernel choosers: return NULL when there is none for these types (the compiler reports). */
rn_kern rn__k_arith(int op, enum rn_type_id t, bool rhs_const);
rn_kern rn__k_neg(enum rn_type_id t);
rn_kern rn__k_cmp(int op, enum rn_type_id t, bool rhs_const);
rn_kern rn__k_cast(struct rn_type from, struct rn_type to);
int rn__k_and(struct enode *, struct ectx *);
int rn__k_or(struct enode *, struct ectx *);
int rn__k_not(struct enode *, struct ectx *);
int rn__k_isnull(struct enode *, struct ectx *);
int rn__k_isnotnull(struct enode *, struct ectx *);
int rn__k_case(struct enode *, struct ectx *);
int rn__k_in(struct enode *, struct ectx *);           /* nd->op: storage class of the values */
int rn__k_like(struct enode *, struct ectx *);
int rn__k_concat(struct enode *, struct ectx *);
int rn__k_divisible(struct enode *, struct ectx *);
/* string kernels (expr_k_string.c), chosen by the function table (expr_k_misc.c) */
int rn__k_lower(struct enode *nd, struct ectx *cx);
int rn__k_upper(struct enode *nd, struct ectx *cx);
int rn__k_length(struct enode *nd, struct ectx *cx);
int rn__k_substr(struct enode *nd, struct ectx *cx);
int rn__k_split_index(struct enode *nd, struct ectx *cx);
int rn__k_replace(struct enode *nd, struct ectx *cx);
int rn__k_regexp_match(struct enode *nd, struct ectx *cx);
int rn__k_regexp_extract(struct enode *nd, struct ectx *cx);   /* fused `x % const = 0` / `<> 0` */
/* Compiles a LIKE pattern into nd->aux. */
int rn__like_prepare(struct enode *nd, struct rn_str pattern);

/* A compiled regular expression and the scratch buffer its subjects are copied into. */
struct rn_regex {
    regex_t re;
    char *scratch;
    size_t cap;
};

/* Function table (expr_k_misc.c, expr_k_string.c): checks argument types at compile time. */
struct rn_func {
    const char *name;
    uint32_t min_args, max_args;
    /* Type-checks nd->args (already compiled), may insert casts, sets nd->type/nullable/fn/aux.
     * Returns 0 or an error code with err set (position: the call). */
    int (*check)(struct enode *nd, struct rn_error *err);
};
const struct rn_func *rn__func_find(const char *name, size_t len);
const char *rn__func_closest(const char *name, size_t len);

/* Compiler services the function checkers use. */
int rn__coerce(struct enode **slot, struct rn_type to, struct rn_error *err);
bool rn__is_numeric(struct rn_type t);
int rn__type_error(struct enode *nd, struct rn_error *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The kernels' per-row helpers for string outputs. */
int rn__out_str(struct enode *nd, uint32_t row, const char *s, size_t len);
/* Reserves len bytes for row's string and points the row's view at them; NULL on ENOMEM. */
char *rn__out_str_reserve(struct enode *nd, uint32_t row, size_t len);
/* Type-checks an arithmetic node (used by mod()). */
int rn__check_arith_op(struct enode *nd, int op, struct rn_error *err);
bool rn__values_equal(enum rn_type_id t, const struct rn_column *a, uint32_t i, const struct rn_column *b, uint32_t j);
/* Kernels shared by functions. */
int rn__k_share(struct enode *nd, struct ectx *cx);   /* result = argument 0, shared */

#endif
