/*
 * runnel/expr.h — the expression language: filters, projections, keys and timestamps in job
 * files, without C.
 *
 * An expression is parsed once, type-checked against an input schema and compiled into a tree
 * of vectorised kernels; evaluating it over a batch runs each kernel over whole columns. SQL
 * null semantics throughout: an operator over a null gives null, AND/OR are three-valued, a
 * filter keeps only the rows whose condition is TRUE. Integer division or modulo by zero gives
 * null rather than failing the job. The language reference is docs/job-spec.md, "Expressions".
 *
 * A compiled expression keeps scratch columns for its intermediate results, so evaluating it
 * does no per-row allocation and, in steady state, no malloc at all. It is not thread-safe:
 * one compiled expression per task.
 */
#ifndef RUNNEL_EXPR_H
#define RUNNEL_EXPR_H

#include <stdint.h>

#include "runnel/batch.h"
#include "runnel/error.h"
#include "runnel/types.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rn_expr rn_expr;

/* Parses and type-checks src against schema in. On success *out owns a new compiled
 * expression. On failure returns RN_EINVAL / RN_ETYPE / RN_ENOTFOUND with err holding the
 * 1-based line and column inside src and a message that says what was expected. */
int rn_expr_compile(const char *src, const rn_schema *in, rn_expr **out, struct rn_error *err);

void rn_expr_destroy(rn_expr *e);

/* The result type, whether the result can be null, and the source text. */
struct rn_type rn_expr_type(const rn_expr *e);
bool rn_expr_nullable(const rn_expr *e);
const char *rn_expr_source(const rn_expr *e);
/* True when the expression does not depend on any column (and is not now()). */
bool rn_expr_is_constant(const rn_expr *e);

/* Evaluates e over all rows of b into out: a column of rn_expr_type(e) with b->n_rows rows,
 * holding its own references (to fresh buffers, or to b's buffers when e is a column
 * reference). The caller owns out and releases it with rn_column_release(). */
int rn_expr_eval(rn_expr *e, const struct rn_batch *b, struct rn_column *out, struct rn_error *err);

/* For a bool expression: writes the indexes of the rows where it is TRUE (neither false nor
 * null) into sel (room for b->n_rows) and their number into *n. */
int rn_expr_select(rn_expr *e, const struct rn_batch *b, uint32_t *sel, uint32_t *n,
                   struct rn_error *err);

/* For a bool expression: *out gets a new batch of the rows of b where it is TRUE (a new
 * reference to b itself when every row passes). */
int rn_expr_filter(rn_expr *e, const struct rn_batch *b, struct rn_batch **out,
                   struct rn_error *err);

/* Checks a POSIX extended regular expression before regcomp: RN_EINVAL with a message when its
 * bounded repetitions expand past 20000 nodes or its groups nest over 64 deep (glibc's regcomp
 * copies a repeated operand: '((a{255}){255}){255}' would take gigabytes). regexp_match and
 * regexp_extract use it, and so should operators that compile patterns from job files. */
int rn_regex_check(const char *pattern, size_t len, struct rn_error *err);

/* ---- projections: several named expressions evaluated into one output batch ---- */

typedef struct rn_projection rn_projection;

/* Compiles n expressions (exprs[i] named names[i]) against in. err names the failing one in
 * its message ("column 'x': ..."). */
int rn_projection_compile(const char *const *names, const char *const *exprs, uint32_t n,
                          const rn_schema *in, rn_projection **out, struct rn_error *err);
void rn_projection_destroy(rn_projection *p);
/* The output schema (owned by the projection; take a reference to keep it longer). */
const rn_schema *rn_projection_schema(const rn_projection *p);
/* *out gets a new batch of the projection over b. Columns that are plain references share b's
 * buffers. */
int rn_projection_apply(rn_projection *p, const struct rn_batch *b, struct rn_batch **out,
                        struct rn_error *err);

/* The processing-time clock that now() reads, in ms since the epoch. Tests may replace it. */
typedef int64_t (*rn_clock_fn)(void);
void rn_expr_set_clock(rn_clock_fn fn);

#ifdef __cplusplus
}
#endif
#endif
