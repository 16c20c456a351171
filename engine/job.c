/*
 * job.c — job validation: from a value tree (a loaded job file, or an unpacked job graph) to a
 * planned job. Checks, each reported with file, line, column and operator id, and all of them
 * collected rather than stopping at the first: the layout of the file, unknown keys (with the
 * closest valid one), operator types (closest name), options (unknown, missing, wrong type),
 * inputs (unknown ids, counts), cycles, partitioning, then each operator's plan() in
 * topological order with the input schemas, key_by expressions and watermark columns.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"
#include "job_internal.h"
#include "runnel/job.h"
#include "value_internal.h"

#define MAX_FILE_BYTES (16u << 20)
#define MAX_PARALLELISM 32768u

/* ---- errors ---- */

void rn_job_errors_free(struct rn_job_errors *e)
{
    for (size_t i = 0; i < e->n; i++) {
        free(e->items[i].file);
        free(e->items[i].node);
        free(e->items[i].msg);
    }
    free(e->items);
    memset(e, 0, sizeof *e);
}

void rn_job_errors_print(const struct rn_job_errors *e, FILE *f)
{
    for (size_t i = 0; i < e->n; i++) {
        const struct rn_job_error *x = &e->items[i];
        fprintf(f, "%s", x->file ? x->file : "job");
        if (x->line > 0) fprintf(f, ":%d:%d", x->line, x->column);
        fprintf(f, ": ");
        if (x->node) fprintf(f, "operator '%s': ", x->node);
        fprintf(f, "%s\n", x->msg);
    }
}

void rn__job_error_v(struct validator *v, const char *node, int line, int col, const char *fmt, va_list ap)
{
    struct rn_job_errors *e = v->errs;
    v->failed = true;
    if (!e) return;
    if (e->n == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 8;
        struct rn_job_error *items = realloc(e->items, cap * sizeof *items);
        if (!items) return;
        e->items = items;
        e->cap = cap;
    }
    char msg[600];
    vsnprintf(msg, sizeof msg, fmt, ap);
    e->items[e->n++] = (struct rn_job_error){
        .file = strdup(v->file), .line = line, .column = col, .node = node ? strdup(node) : NULL, .msg = strdup(msg)};
}

void rn__job_error(struct validator *v, const char *node, int line, int col, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    rn__job_error_v(v, node, line, col, fmt, ap);
    va_end(ap);
}

__attribute__((format(printf, 4, 5))) static void error_at(struct validator *v, const char *node, const rn_value *at,
                                                           const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    rn__job_error_v(v, node, rn_value_line(at), rn_value_column(at), fmt, ap);
    va_end(ap);
}

/* Moves the position of the error just reported (when it is known more precisely). */
static void last_pos(struct validator *v, int line, int col)
{
    if (!v->errs || v->errs->n == 0) return;
    v->errs->items[v->errs->n - 1].line = line;
    v->errs->items[v->errs->n - 1].column = col;
}

static void value_error(struct validator *v, const char *node, const struct rn_error *err)
{
    struct rn_error e = *err;
    error_at(v, node, NULL, "%s", e.msg);
    last_pos(v, e.line, e.column);
}

/* "did you mean" over a NULL-terminated list of words */
static const char *closest(const char *word, const char *const *words)
{
    const char *best = NULL;
    size_t best_d = strlen(word) / 2 + 2;
    for (; *words; words++) {
        size_t d = rn__edit_distance(word, *words);
        if (d < best_d) best_d = d, best = *words;
    }
    return best;
}

static void unknown_keys(struct validator *v, const char *node, const rn_value *map, const char *const *known,
                         const char *what)
{
    for (size_t i = 0; i < rn_value_len(map); i++) {
        const char *k = rn_value_key(map, i);
        const char *const *w = known;
        while (*w && strcmp(*w, k)) w++;
        if (*w) continue;
        const char *near = closest(k, known);
        error_at(v, node, rn__value_key_value(map, i), "unknown %s '%s'%s%s%s", what, k,
                 near ? " (did you mean '" : "", near ? near : "", near ? "'?)" : "");
    }
}

/* ---- options ---- */

static bool option_type_ok(struct validator *v, const char *node, const struct rn_option *o, const rn_value *val)
{
    struct rn_error err = {0};
    int rc = 0;
    int64_t i;
    double d;
    bool b;
    rn_schema *s = NULL;
    switch (o->type) {
    case RN_OPT_STRING:
    case RN_OPT_EXPR:
        if (rn_value_kind(val) != RN_VALUE_SCALAR)
            rc = rn_error_set(&err, RN_EINVAL, rn_value_line(val), rn_value_column(val), "option '%s' must be %s",
                              o->name, o->type == RN_OPT_EXPR ? "an expression" : "a string");
        break;
    case RN_OPT_OUTPUT: {
        const char *id = rn_value_text(val);   /* "" = not set */
        bool ok = id != NULL;
        for (const char *p = id; ok && *p; p++)
            ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_' ||
                 *p == '-' || *p == '.';
        if (!ok)
            rc = rn_error_set(&err, RN_EINVAL, rn_value_line(val), rn_value_column(val),
                              "option '%s' names a side output: an id of letters, digits, '_', '-' or '.'", o->name);
        break;
    }
    case RN_OPT_INT: rc = rn_value_int(val, &i, &err); break;
    case RN_OPT_DOUBLE: rc = rn_value_double(val, &d, &err); break;
    case RN_OPT_BOOL: rc = rn_value_bool(val, &b, &err); break;
    case RN_OPT_DURATION: rc = rn_value_duration(val, &i, &err); break;
    case RN_OPT_MAP:
        if (rn_value_kind(val) != RN_VALUE_MAP)
            rc = rn_error_set(&err, RN_EINVAL, rn_value_line(val), rn_value_column(val), "option '%s' must be a map", o->name);
        break;
    case RN_OPT_LIST:
        if (rn_value_kind(val) != RN_VALUE_LIST)
            rc = rn_error_set(&err, RN_EINVAL, rn_value_line(val), rn_value_column(val), "option '%s' must be a list", o->name);
        break;
    case RN_OPT_SCHEMA:
        rc = rn_value_schema(val, &s, &err);
        rn_schema_unref(s);
        break;
    }
    if (rc) {
        if (o->type != RN_OPT_STRING && o->type != RN_OPT_EXPR && o->type != RN_OPT_MAP && o->type != RN_OPT_LIST &&
            o->type != RN_OPT_OUTPUT) {
            char msg[sizeof err.msg];
            snprintf(msg, sizeof msg, "option '%.60s': %.400s", o->name, err.msg);
            memcpy(err.msg, msg, sizeof msg);
        }
        value_error(v, node, &err);
    }
    return rc == 0;
}

/* A map of options checked against an option table: unknown names (with a "did you mean"),
 * types, required options; a copy with the defaults added. owner names the table's owner in
 * messages ("nexmark", "window function 'median_price'"); def, when the owner is an operator,
 * points the user at `runnel operators`. *ok is false when an error was reported. */
static rn_value *check_table(struct validator *v, const char *node, const struct rn_option *table, const char *owner,
                             const struct rn_operator_def *def, const rn_value *with, bool *ok)
{
    *ok = false;
    rn_value *opts = rn__value_new(RN_VALUE_MAP, rn_value_line(with), rn_value_column(with));
    if (!opts) return NULL;
    if (with && rn_value_kind(with) != RN_VALUE_MAP) {
        if (def) error_at(v, node, with, "'with' must be a map of options");
        else error_at(v, node, with, "the options of %s must be a map", owner);
        return opts;
    }
    bool good = true;
    for (size_t i = 0; i < rn_value_len(with); i++) {
        const char *k = rn_value_key(with, i);
        const struct rn_option *o = table;
        while (o && o->name && strcmp(o->name, k)) o++;
        if (!o || !o->name) {
            const char *names[64];
            size_t n = 0;
            char list[256] = "";
            for (const struct rn_option *p = table; p && p->name && n < 63; p++) {
                names[n++] = p->name;
                snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", list[0] ? ", " : "", p->name);
            }
            names[n] = NULL;
            const char *near = closest(k, names);
            if (near)
                error_at(v, node, rn__value_key_value(with, i), "unknown option '%s' for %s (did you mean '%s'?)", k, owner,
                         near);
            else if (def)
                error_at(v, node, rn__value_key_value(with, i), "unknown option '%s' for %s (`runnel operators %s` lists its options)",
                         k, owner, def->name);
            else
                error_at(v, node, rn__value_key_value(with, i), "unknown option '%s' for %s (%s%s)", k, owner,
                         list[0] ? "its options: " : "it takes no options", list);
            good = false;
        }
    }
    for (const struct rn_option *o = table; o && o->name; o++) {
        const rn_value *given = rn_value_get(with, o->name);
        rn_value *val = NULL;
        if (given && rn_value_kind(given) != RN_VALUE_NULL) {
            if (!option_type_ok(v, node, o, given)) {
                good = false;
                continue;
            }
            val = rn__value_copy(given);
        } else if (o->default_value) {
            struct rn_error err;
            val = rn__yaml_load(o->default_value, strlen(o->default_value), &err);
            if (!val) val = rn__value_new(RN_VALUE_NULL, 0, 0);   /* an empty default */
        } else {
            error_at(v, node, given, "%s needs option '%s' (%s)", owner, o->name, o->help ? o->help : "");
            if (!given) {   /* absent: point at the node (an operator's) or at the map of options */
                if (def || !with) last_pos(v, v->node_line, v->node_col);
                else last_pos(v, rn_value_line(with), rn_value_column(with));
            }
            good = false;
            continue;
        }
        rn_value *key = rn__value_scalar(o->name, false, rn_value_line(given), rn_value_column(given));
        if (!val || !key || rn__value_append(opts, key, val)) {
            rn__value_free(key);
            rn__value_free(val);
            good = false;
        }
    }
    *ok = good;
    return opts;
}

/* The node's options: the `with:` map checked against the table, defaults added. */
static rn_value *check_options(struct validator *v, const char *node, const struct rn_operator_def *def,
                               const rn_value *with)
{
    bool ok;
    return check_table(v, node, def->options, def->name, def, with, &ok);
}

/* ---- typed option reads (values were checked by check_options) ---- */

const rn_value *rn_opt_value(const rn_value *options, const char *name)
{
    const rn_value *v = rn_value_get(options, name);
    return rn_value_kind(v) == RN_VALUE_NULL ? NULL : v;
}
const char *rn_opt_string(const rn_value *options, const char *name) { return rn_value_text(rn_opt_value(options, name)); }
int64_t rn_opt_int(const rn_value *options, const char *name)
{
    int64_t x = 0;
    rn_value_int(rn_opt_value(options, name), &x, NULL);
    return x;
}
double rn_opt_double(const rn_value *options, const char *name)
{
    double x = 0;
    rn_value_double(rn_opt_value(options, name), &x, NULL);
    return x;
}
bool rn_opt_bool(const rn_value *options, const char *name)
{
    bool x = false;
    rn_value_bool(rn_opt_value(options, name), &x, NULL);
    return x;
}
int64_t rn_opt_duration(const rn_value *options, const char *name)
{
    int64_t x = 0;
    rn_value_duration(rn_opt_value(options, name), &x, NULL);
    return x;
}

/* ---- plan context ---- */

struct rn_plan_ctx {
    struct validator *v;
    struct rn_job_node *node;
    const rn_schema *const *inputs;
    uint32_t n_inputs;
};

const char *rn_plan_node_id(const struct rn_plan_ctx *ctx) { return ctx->node->id; }
uint32_t rn_plan_n_inputs(const struct rn_plan_ctx *ctx) { return ctx->n_inputs; }
const rn_schema *rn_plan_input_schema(const struct rn_plan_ctx *ctx, uint32_t i)
{
    return i < ctx->n_inputs ? ctx->inputs[i] : NULL;
}
const rn_value *rn_plan_options(const struct rn_plan_ctx *ctx) { return ctx->node->options; }

int rn_plan_set_output(struct rn_plan_ctx *ctx, const rn_schema *s)
{
    rn_schema_unref(ctx->node->output);
    ctx->node->output = rn_schema_ref(s);
    return 0;
}

int rn_plan_set_side_output(struct rn_plan_ctx *ctx, const char *option, const rn_schema *s)
{
    const struct rn_option *o = ctx->node->def->options;
    while (o && o->name && strcmp(o->name, option)) o++;
    if (!o || !o->name || o->type != RN_OPT_OUTPUT)
        return rn_plan_error(ctx, NULL, "%s: '%s' is not a side-output option (a bug in the operator)",
                             ctx->node->def->name, option);
    for (uint32_t k = 0; k < ctx->node->n_side; k++)
        if (!strcmp(ctx->node->side[k].option, o->name)) {
            rn_schema_unref(ctx->node->side[k].schema);
            ctx->node->side[k].schema = rn_schema_ref(s);
            return (int)k + 1;
        }
    return 0;
}

const char *rn_job_time_column(const struct rn_job *job, uint32_t node, uint32_t port)
{
    const struct rn_job_node *n = &job->nodes[node];
    const rn_schema *s = rn_job_output_schema(job, node, port);
    const char *col = NULL;
    if (n->watermark && port == 0) {
        col = n->watermark->column;
    } else {
        for (uint32_t k = 0; k < n->n_inputs; k++) {
            const char *c = rn_job_time_column(job, n->inputs[k], n->input_ports ? n->input_ports[k] : 0);
            if (!c || (col && strcmp(c, col))) return NULL;
            col = c;
        }
    }
    if (!col || !s) return NULL;
    int at = rn_schema_find(s, col);
    if (at < 0) return NULL;
    enum rn_type_id t = rn_schema_field(s, (size_t)at)->type.id;
    return t == RN_T_TIMESTAMP || t == RN_T_INT64 ? col : NULL;
}

const char *rn_plan_time_column(const struct rn_plan_ctx *ctx, uint32_t input)
{
    if (input >= ctx->n_inputs) return NULL;
    return rn_job_time_column(ctx->v->job, ctx->node->inputs[input], ctx->node->input_ports[input]);
}

const struct rn_registry *rn_plan_registry(const struct rn_plan_ctx *ctx) { return ctx->v->job->registry; }

/* An option map left out (null, or an empty default) is no options at all. */
static const rn_value *absent_if_empty(const rn_value *given)
{
    if (!given || rn_value_kind(given) == RN_VALUE_NULL) return NULL;
    const char *t = rn_value_kind(given) == RN_VALUE_SCALAR ? rn_value_text(given) : NULL;
    return t && !*t ? NULL : given;
}

rn_value *rn_plan_check_options(struct rn_plan_ctx *ctx, const struct rn_option *table, const char *owner,
                                const rn_value *given)
{
    bool ok;
    given = absent_if_empty(given);
    rn_value *out = check_table(ctx->v, ctx->node->id, table, owner, NULL, given, &ok);
    if (ok) return out;
    rn__value_free(out);
    return NULL;
}

rn_value *rn_options_fill(const struct rn_option *table, const rn_value *given)
{
    struct validator quiet = {.file = ""};   /* no error list: the options were checked at plan time */
    bool ok;
    given = absent_if_empty(given);
    rn_value *out = check_table(&quiet, NULL, table, "", NULL, given, &ok);
    if (ok) return out;
    rn__value_free(out);
    return NULL;
}

void rn_options_free(rn_value *options) { rn__value_free(options); }

int rn_plan_error(struct rn_plan_ctx *ctx, const rn_value *at, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    rn__job_error_v(ctx->v, ctx->node->id, at ? rn_value_line(at) : ctx->node->line,
                    at ? rn_value_column(at) : ctx->node->column, fmt, ap);
    va_end(ap);
    return RN_EINVAL;
}

/* Maps a position inside an expression to the job file: exact for one-line scalars. */
void rn__expr_error_position(const rn_value *at, const struct rn_error *err, int *line, int *col)
{
    *line = rn_value_line(at) + (err->line > 1 ? err->line - 1 : 0);
    *col = err->line > 1 ? err->column : rn_value_column(at) + (rn_value_quoted(at) ? 1 : 0) + err->column - 1;
}

int rn__compile_at(struct validator *v, const char *node, const rn_value *at, const char *what,
                   const rn_schema *s, rn_expr **out)
{
    const char *src = rn_value_text(at);
    struct rn_error err;
    if (!src) {
        error_at(v, node, at, "%s must be an expression", what);
        return RN_EINVAL;
    }
    int rc = rn_expr_compile(src, s, out, &err);
    if (rc) {
        int line, col;
        rn__expr_error_position(at, &err, &line, &col);
        error_at(v, node, at, "%s: %s", what, err.msg);
        last_pos(v, line, col);
    }
    return rc;
}

int rn_plan_compile_value(struct rn_plan_ctx *ctx, const rn_value *v, const char *what, const rn_schema *s,
                          rn_expr **out)
{
    *out = NULL;
    return rn__compile_at(ctx->v, ctx->node->id, v, what, s, out);
}

int rn_plan_compile(struct rn_plan_ctx *ctx, const char *name, const rn_schema *s, rn_expr **out)
{
    char what[80];
    snprintf(what, sizeof what, "option '%s'", name);
    *out = NULL;
    const rn_value *at = rn_opt_value(ctx->node->options, name);
    if (!at) return rn_plan_error(ctx, NULL, "option '%s' is missing", name);
    return rn__compile_at(ctx->v, ctx->node->id, at, what, s, out);
}

int rn_plan_key(struct rn_plan_ctx *ctx, uint32_t input, struct rn_type *type, const char **name)
{
    if (input >= ctx->n_inputs) return RN_EINVAL;
    const char *k = ctx->node->input_key_by ? ctx->node->input_key_by[input] : NULL;
    if (!k) return rn_plan_error(ctx, NULL, "%s needs key_by", ctx->node->def->name);
    rn_expr *e;
    struct rn_error err;
    if (rn_expr_compile(k, ctx->inputs[input], &e, &err)) return RN_EINVAL;   /* reported by the key_by check */
    *type = rn_expr_type(e);
    rn_expr_destroy(e);
    bool plain = (*k >= 'a' && *k <= 'z') || (*k >= 'A' && *k <= 'Z') || *k == '_';
    for (const char *p = k; plain && *p; p++)
        plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_';
    *name = plain ? k : "key";
    return 0;
}

/* ---- the job ---- */

static void free_node(struct rn_job_node *n)
{
    free(n->id);
    free(n->inputs);
    free(n->input_ports);
    free(n->key_by);
    for (uint32_t k = 0; n->input_key_by && k < n->n_inputs; k++) free(n->input_key_by[k]);
    free(n->input_key_by);
    for (uint32_t k = 0; k < n->n_side; k++) {
        free(n->side[k].id);
        rn_schema_unref(n->side[k].schema);
    }
    free(n->side);
    if (n->watermark) free(n->watermark->column);
    free(n->watermark);
    rn__value_free(n->options);
    rn_schema_unref(n->output);
}

void rn_job_free(struct rn_job *job)
{
    if (!job) return;
    for (uint32_t i = 0; i < job->n_nodes; i++) free_node(&job->nodes[i]);
    free(job->nodes);
    free(job->file);
    free(job->name);
    free(job->state_dir);
    free(job->checkpoint.dir);
    free(job->checkpoint.savepoint_dir);
    rn__value_free(job->source);
    free(job);
}

int rn_job_find(const struct rn_job *job, const char *id)
{
    for (uint32_t i = 0; i < job->n_nodes; i++)
        if (!strcmp(job->nodes[i].id, id)) return (int)i;
    return -1;
}

const rn_schema *rn_job_output_schema(const struct rn_job *job, uint32_t node, uint32_t port)
{
    if (node >= job->n_nodes) return NULL;
    const struct rn_job_node *n = &job->nodes[node];
    if (port == 0) return n->output;
    return port <= n->n_side ? n->side[port - 1].schema : NULL;
}

/* The stream named id: a node's main output (port 0) or a node's side output. */
static int find_stream(const struct rn_job *job, const char *id, uint32_t *port)
{
    *port = 0;
    int at = rn_job_find(job, id);
    if (at >= 0) return at;
    for (uint32_t i = 0; i < job->n_nodes; i++)
        for (uint32_t k = 0; k < job->nodes[i].n_side; k++)
            if (!strcmp(job->nodes[i].side[k].id, id)) {
                *port = k + 1;
                return (int)i;
            }
    return -1;
}

static bool read_u32(struct validator *v, const char *node, const rn_value *val, const char *what, uint32_t lo,
                     uint32_t hi, uint32_t *out)
{
    int64_t x;
    struct rn_error err;
    if (rn_value_int(val, &x, &err)) {
        error_at(v, node, val, "%s must be an integer from %u to %u", what, lo, hi);
        return false;
    }
    if (x < lo || x > hi) {
        error_at(v, node, val, "%s must be from %u to %u, not %lld", what, lo, hi, (long long)x);
        return false;
    }
    *out = (uint32_t)x;
    return true;
}

static const char *const node_keys[] = {"id", "type", "input", "key_by", "parallelism", "partition", "watermark",
                                        "with", NULL};
static const char *const top_keys[] = {"name", "parallelism", "max_parallelism", "operators", "checkpoint", "restart",
                                       "state", NULL};

static bool read_duration(struct validator *v, const rn_value *val, const char *what, int64_t min, int64_t *out)
{
    struct rn_error err;
    if (rn_value_duration(val, out, &err)) {
        value_error(v, NULL, &err);
        return false;
    }
    if (*out < min) {
        error_at(v, NULL, val, "%s must be at least %lldms", what, (long long)min);
        return false;
    }
    return true;
}

/* `checkpoint:` — docs/job-spec.md "Checkpoints". */
static void read_checkpoint(struct validator *v, struct rn_job *job, const rn_value *x)
{
    static const char *const keys[] = {"interval", "mode", "dir", "savepoint_dir", "retain", "timeout", "min_pause", NULL};
    struct rn_checkpoint_spec *c = &job->checkpoint;
    c->retain = 3;
    c->timeout = 10 * 60 * 1000;
    if (rn_value_kind(x) != RN_VALUE_MAP) {
        error_at(v, NULL, x, "checkpoint must be a map: {interval: 10s, mode: exactly_once, dir: ...}");
        return;
    }
    unknown_keys(v, NULL, x, keys, "checkpoint field");
    c->enabled = true;
    const rn_value *f;
    if (!(f = rn_value_get(x, "interval"))) error_at(v, NULL, x, "checkpoint needs an interval (e.g. interval: 10s)");
    else read_duration(v, f, "checkpoint interval", 10, &c->interval);
    if ((f = rn_value_get(x, "mode"))) {
        const char *m = rn_value_text(f);
        if (m && !strcmp(m, "exactly_once")) c->mode = RN_CHECKPOINT_EXACTLY_ONCE;
        else if (m && !strcmp(m, "at_least_once")) c->mode = RN_CHECKPOINT_AT_LEAST_ONCE;
        else error_at(v, NULL, f, "checkpoint mode must be exactly_once or at_least_once");
    }
    const char *const dir_fields[] = {"dir", "savepoint_dir"};
    char **dir_out[] = {&c->dir, &c->savepoint_dir};
    for (int k = 0; k < 2; k++) {
        f = rn_value_get(x, dir_fields[k]);
        const char *d = f ? rn_value_text(f) : k == 0 ? "checkpoints" : NULL;
        if (f && (!d || !*d)) {
            error_at(v, NULL, f, "checkpoint %s must be a directory path or a file:// URI", dir_fields[k]);
            continue;
        }
        if (!d) continue;
        if (!strncmp(d, "file://", 7)) d += 7;
        else if (strstr(d, "://")) {
            error_at(v, NULL, f, "checkpoint %s: only file:// storage is supported, not '%s'", dir_fields[k], d);
            continue;
        }
        if (!*d) error_at(v, NULL, f, "checkpoint %s: the file:// URI has no path", dir_fields[k]);
        else *dir_out[k] = strdup(d);
    }
    if ((f = rn_value_get(x, "retain"))) read_u32(v, NULL, f, "checkpoint retain", 1, 1000, &c->retain);
    if ((f = rn_value_get(x, "timeout"))) read_duration(v, f, "checkpoint timeout", 10, &c->timeout);
    if ((f = rn_value_get(x, "min_pause"))) read_duration(v, f, "checkpoint min_pause", 0, &c->min_pause);
}

/* `restart:` — docs/job-spec.md "Restarts". Without the block: fixed-delay (10 attempts, 1s)
 * when the job takes checkpoints, else none. */
static void read_restart(struct validator *v, struct rn_job *job, const rn_value *x)
{
    struct rn_restart_spec *r = &job->restart;
    *r = (struct rn_restart_spec){job->checkpoint.enabled ? RN_RESTART_FIXED_DELAY : RN_RESTART_NONE, 10, 1000,
                                  5 * 60 * 1000, 2.0, 60 * 60 * 1000};
    if (!x) return;
    static const char *const keys[] = {"strategy", "attempts", "delay", "max_delay", "multiplier", "reset_after", NULL};
    if (rn_value_kind(x) != RN_VALUE_MAP) {
        error_at(v, NULL, x, "restart must be a map: {strategy: fixed-delay | exponential-delay | none, ...}");
        return;
    }
    unknown_keys(v, NULL, x, keys, "restart field");
    const rn_value *f = rn_value_get(x, "strategy");
    const char *st = f ? rn_value_text(f) : "fixed-delay";
    if (st && !strcmp(st, "fixed-delay")) r->kind = RN_RESTART_FIXED_DELAY;
    else if (st && !strcmp(st, "exponential-delay")) r->kind = RN_RESTART_EXPONENTIAL_DELAY, r->attempts = 0;
    else if (st && !strcmp(st, "none")) r->kind = RN_RESTART_NONE;
    else error_at(v, NULL, f, "restart strategy must be fixed-delay, exponential-delay or none");
    if (r->kind != RN_RESTART_NONE && !job->checkpoint.enabled)
        error_at(v, NULL, f ? f : x, "restart needs a checkpoint block (a restarted job resumes from its latest checkpoint)");
    if ((f = rn_value_get(x, "attempts"))) read_u32(v, NULL, f, "restart attempts", 0, 1000000, &r->attempts);
    if ((f = rn_value_get(x, "delay"))) read_duration(v, f, "restart delay", 0, &r->delay);
    if ((f = rn_value_get(x, "max_delay"))) read_duration(v, f, "restart max_delay", 0, &r->max_delay);
    if ((f = rn_value_get(x, "reset_after"))) read_duration(v, f, "restart reset_after", 1, &r->reset_after);
    if ((f = rn_value_get(x, "multiplier"))) {
        struct rn_error err;
        if (rn_value_double(f, &r->multiplier, &err)) value_error(v, NULL, &err);
        else if (!(r->multiplier >= 1.0 && r->multiplier <= 100.0)) error_at(v, NULL, f, "restart multiplier must be from 1 to 100");
    }
    if (r->kind == RN_RESTART_EXPONENTIAL_DELAY && r->max_delay < r->delay)
        error_at(v, NULL, x, "restart max_delay must not be below delay");
}

/* Reads the node map at position i into job->nodes[i] (types, options, fields). */
static void read_node(struct validator *v, const rn_registry *reg, struct rn_job *job, uint32_t i, const rn_value *m,
                      const rn_value **input_vals)
{
    struct rn_job_node *n = &job->nodes[i];
    n->line = rn_value_line(m);
    n->column = rn_value_column(m);
    v->node_line = n->line;
    v->node_col = n->column;
    char placeholder[32];
    snprintf(placeholder, sizeof placeholder, "#%u", i + 1);   /* until the node has a valid id */
    if (rn_value_kind(m) != RN_VALUE_MAP) {
        n->id = strdup(placeholder);
        error_at(v, NULL, m, "each entry of 'operators' must be a map with id, type, ...");
        return;
    }
    const rn_value *idv = rn_value_get(m, "id");
    const char *id = rn_value_text(idv);
    bool id_ok = id && *id;
    for (const char *p = id; id_ok && *p; p++)
        id_ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '-' || *p == '.';
    if (!id_ok) {
        error_at(v, NULL, idv ? idv : m, idv ? "operator id must be letters, digits, '_', '-' or '.'"
                                             : "operator has no id");
        n->id = strdup(placeholder);
    } else {
        n->id = strdup(id);
        for (uint32_t k = 0; k < i; k++)
            if (job->nodes[k].id && !strcmp(job->nodes[k].id, id)) error_at(v, id, idv, "operator id '%s' is used twice", id);
    }
    unknown_keys(v, n->id, m, node_keys, "operator field");
    const rn_value *tv = rn_value_get(m, "type");
    const char *type = rn_value_text(tv);
    if (!type) {
        error_at(v, n->id, tv ? tv : m, "operator has no type");
    } else if (!(n->def = rn_registry_find(reg, type))) {
        const char *near = rn_registry_closest(reg, type);
        error_at(v, n->id, tv, "unknown operator type '%s'%s%s%s", type, near ? " (did you mean '" : "",
                 near ? near : "", near ? "'?)" : " (`runnel operators` lists them)");
    }
    n->parallelism = job->parallelism;
    const rn_value *pv = rn_value_get(m, "parallelism");
    if (pv) read_u32(v, n->id, pv, "parallelism", 1, job->max_parallelism, &n->parallelism);
    const rn_value *kv = rn_value_get(m, "key_by");
    if (kv) {
        if (rn_value_kind(kv) == RN_VALUE_SCALAR) n->key_by = strdup(rn_value_text(kv));
        else if (rn_value_kind(kv) != RN_VALUE_MAP)
            error_at(v, n->id, kv, "key_by must be an expression, or a map from input id to expression");
    }
    const rn_value *partv = rn_value_get(m, "partition");
    n->partition = kv ? RN_PART_HASH : RN_PART_FORWARD;
    if (partv) {
        const char *p = rn_value_text(partv);
        if (kv) error_at(v, n->id, partv, "partition cannot be combined with key_by (key_by partitions by key)");
        else if (p && !strcmp(p, "forward")) n->partition = RN_PART_FORWARD;
        else if (p && !strcmp(p, "rebalance")) n->partition = RN_PART_REBALANCE;
        else if (p && !strcmp(p, "broadcast")) n->partition = RN_PART_BROADCAST;
        else error_at(v, n->id, partv, "partition must be forward, rebalance or broadcast");
    }
    input_vals[i] = rn_value_get(m, "input");
    if (n->def) n->options = check_options(v, n->id, n->def, rn_value_get(m, "with"));
    /* side outputs: the RN_OPT_OUTPUT options the job sets, in option-table order */
    for (const struct rn_option *o = n->def && n->options ? n->def->options : NULL; o && o->name; o++) {
        const rn_value *ov = o->type == RN_OPT_OUTPUT ? rn_value_get(n->options, o->name) : NULL;
        const char *sid = rn_value_text(ov);
        if (!sid || !*sid) continue;
        struct rn_side_output *side = realloc(n->side, (n->n_side + 1) * sizeof *side);
        if (!side) return;
        n->side = side;
        n->side[n->n_side++] = (struct rn_side_output){strdup(sid), o->name, NULL};
    }
}

/* Side-output ids share the namespace of operator ids. */
static void check_stream_ids(struct validator *v, const struct rn_job *job, const rn_value *const *node_vals)
{
    for (uint32_t i = 0; i < job->n_nodes; i++)
        for (uint32_t k = 0; k < job->nodes[i].n_side; k++) {
            const struct rn_side_output *so = &job->nodes[i].side[k];
            const rn_value *at = rn_value_get(rn_value_get(node_vals[i], "with"), so->option);
            uint32_t port;
            int first = find_stream(job, so->id, &port);
            if (first != (int)i || port != k + 1)
                error_at(v, job->nodes[i].id, at, "side output id '%s' is already the id of %s", so->id,
                         port ? "another side output" : "an operator");
        }
}

/* Resolves input ids to node indexes; checks counts. */
static void resolve_inputs(struct validator *v, struct rn_job *job, uint32_t i, const rn_value *in)
{
    struct rn_job_node *n = &job->nodes[i];
    size_t count = rn_value_kind(in) == RN_VALUE_LIST ? rn_value_len(in) : in && rn_value_kind(in) != RN_VALUE_NULL;
    n->inputs = calloc(count ? count : 1, sizeof *n->inputs);
    n->input_ports = calloc(count ? count : 1, sizeof *n->input_ports);
    if (!n->inputs || !n->input_ports) return;
    for (size_t k = 0; k < count; k++) {
        const rn_value *iv = rn_value_kind(in) == RN_VALUE_LIST ? rn_value_at(in, k) : in;
        const char *id = rn_value_text(iv);
        uint32_t port = 0;
        int at = id ? find_stream(job, id, &port) : -1;
        if (!id) {
            error_at(v, n->id, iv, "input must be an operator id or a list of them");
        } else if (at < 0) {
            const char *ids[257];
            size_t m = 0;
            for (uint32_t j = 0; j < job->n_nodes && m < 256; j++) ids[m++] = job->nodes[j].id;
            ids[m] = NULL;
            const char *near = closest(id, ids);
            error_at(v, n->id, iv, "input '%s' is not an operator of this job%s%s%s", id, near ? " (did you mean '" : "",
                     near ? near : "", near ? "'?)" : "");
        } else if ((uint32_t)at == i) {
            error_at(v, n->id, iv, "an operator cannot be its own input");
        } else {
            n->input_ports[n->n_inputs] = port;
            n->inputs[n->n_inputs++] = (uint32_t)at;
        }
    }
    if (!n->def) return;
    if (count < n->def->n_inputs_min || count > n->def->n_inputs_max) {
        if (n->def->n_inputs_max == 0)
            error_at(v, n->id, in, "%s is a source: it takes no input", n->def->name);
        else if (count == 0)
            error_at(v, n->id, NULL, "%s needs an input", n->def->name);
        else
            error_at(v, n->id, in, "%s takes %u%s input%s, found %zu", n->def->name, n->def->n_inputs_min,
                     n->def->n_inputs_max == UINT32_MAX ? " or more" : n->def->n_inputs_min == n->def->n_inputs_max ? "" : "+",
                     n->def->n_inputs_min == 1 ? "" : "s", count);
        if (count == 0) {
            last_pos(v, n->line, n->column);
        }
    }
}

/* Gives each input of node i its key expression: the one key_by, or the map's entry for that
 * input's id. */
static void resolve_key_by(struct validator *v, struct rn_job *job, uint32_t i, const rn_value *node_val)
{
    struct rn_job_node *n = &job->nodes[i];
    const rn_value *kv = rn_value_get(node_val, "key_by");
    if (!kv || !n->inputs || (rn_value_kind(kv) != RN_VALUE_SCALAR && rn_value_kind(kv) != RN_VALUE_MAP)) return;
    if (!(n->input_key_by = calloc(n->n_inputs ? n->n_inputs : 1, sizeof *n->input_key_by))) return;
    bool is_map = rn_value_kind(kv) == RN_VALUE_MAP;
    for (uint32_t k = 0; k < n->n_inputs; k++) {
        const struct rn_job_node *in = &job->nodes[n->inputs[k]];
        const char *sid = n->input_ports[k] ? in->side[n->input_ports[k] - 1].id : in->id;
        const char *text = n->key_by;
        if (is_map) {
            const rn_value *e = rn_value_get(kv, sid);
            if (!e) {
                error_at(v, n->id, kv, "key_by has no expression for input '%s'", sid);
                continue;
            }
            if (rn_value_kind(e) != RN_VALUE_SCALAR || !(text = rn_value_text(e))) {
                error_at(v, n->id, e, "key_by of input '%s' must be an expression", sid);
                continue;
            }
        }
        n->input_key_by[k] = text ? strdup(text) : NULL;
    }
    for (size_t m = 0; is_map && m < rn_value_len(kv); m++) {
        const char *name = rn_value_key(kv, m);
        bool found = false;
        for (uint32_t k = 0; k < n->n_inputs && !found; k++) {
            const struct rn_job_node *in = &job->nodes[n->inputs[k]];
            found = !strcmp(name, n->input_ports[k] ? in->side[n->input_ports[k] - 1].id : in->id);
        }
        if (!found) error_at(v, n->id, rn__value_key_value(kv, m), "key_by names '%s', which is not an input of this operator", name);
    }
}

/* Orders nodes so that inputs come first, keeping the written order where it already is;
 * reports a cycle. Returns false on a cycle. */
static bool topo_sort(struct validator *v, struct rn_job *job, const rn_value **vals)
{
    uint32_t n = job->n_nodes, *order = calloc(n ? n : 1, sizeof *order), *pos = calloc(n ? n : 1, sizeof *pos);
    bool *done = calloc(n ? n : 1, sizeof *done);
    uint32_t k = 0;
    bool ok = order && pos && done;
    while (ok && k < n) {
        uint32_t pick = n;
        for (uint32_t i = 0; i < n && pick == n; i++) {
            if (done[i]) continue;
            bool ready = true;
            for (uint32_t j = 0; j < job->nodes[i].n_inputs; j++) ready &= done[job->nodes[i].inputs[j]];
            if (ready) pick = i;
        }
        if (pick == n) {
            /* every remaining node waits on another: walk inputs from one until a repeat */
            uint32_t at = 0;
            while (done[at]) at++;
            uint32_t *seen = calloc(n, sizeof *seen), steps = 0;
            char path[512] = "";
            while (seen && !seen[at]) {
                seen[at] = ++steps;
                uint32_t next = at;
                for (uint32_t j = 0; j < job->nodes[at].n_inputs; j++)
                    if (!done[job->nodes[at].inputs[j]]) next = job->nodes[at].inputs[j];
                at = next;
            }
            /* at is on the cycle: print it in data-flow order */
            uint32_t start = at, cyc[256], m = 0;
            do {
                cyc[m++] = at;
                for (uint32_t j = 0; j < job->nodes[at].n_inputs; j++)
                    if (!done[job->nodes[at].inputs[j]] && seen[job->nodes[at].inputs[j]]) {
                        at = job->nodes[at].inputs[j];
                        break;
                    }
            } while (at != start && m < 256);
            for (uint32_t c = m; c-- > 0;) {
                size_t l = strlen(path);
                snprintf(path + l, sizeof path - l, "%s -> ", job->nodes[cyc[c]].id);
            }
            size_t l = strlen(path);
            snprintf(path + l, sizeof path - l, "%s", job->nodes[cyc[m - 1]].id);
            error_at(v, job->nodes[start].id, NULL, "the operators form a cycle: %s", path);
            last_pos(v, job->nodes[start].line, job->nodes[start].column);
            free(seen);
            ok = false;
            break;
        }
        done[pick] = true;
        pos[pick] = k;
        order[k++] = pick;
    }
    if (ok) {
        struct rn_job_node *sorted = malloc(n * sizeof *sorted);
        const rn_value **sorted_vals = malloc(n * sizeof *sorted_vals);
        if (!sorted || !sorted_vals) ok = false;
        for (uint32_t i = 0; ok && i < n; i++) {
            sorted[i] = job->nodes[order[i]];
            sorted_vals[i] = vals[order[i]];
            for (uint32_t j = 0; j < sorted[i].n_inputs; j++) sorted[i].inputs[j] = pos[sorted[i].inputs[j]];
        }
        if (ok) {
            free(job->nodes);
            job->nodes = sorted;
            memcpy(vals, sorted_vals, n * sizeof *vals);
        } else {
            free(sorted);
        }
        free(sorted_vals);
    }
    free(order);
    free(pos);
    free(done);
    return ok;
}

static void read_watermark(struct validator *v, struct rn_job_node *n, const rn_value *w)
{
    static const char *const keys[] = {"column", "max_out_of_orderness", "monotonous", "idle_timeout", NULL};
    if (rn_value_kind(w) != RN_VALUE_MAP) {
        error_at(v, n->id, w, "watermark must be a map: {column: ..., max_out_of_orderness: 4s}");
        return;
    }
    unknown_keys(v, n->id, w, keys, "watermark field");
    if (n->def && n->def->n_inputs_max != 0) {
        error_at(v, n->id, w, "watermark is set on source operators (where event time enters the job)");
        return;
    }
    struct rn_watermark_spec *spec = calloc(1, sizeof *spec);
    if (!spec) return;
    n->watermark = spec;
    struct rn_error err;
    const rn_value *col = rn_value_get(w, "column"), *bound = rn_value_get(w, "max_out_of_orderness");
    const rn_value *mono = rn_value_get(w, "monotonous"), *idle = rn_value_get(w, "idle_timeout");
    if (!rn_value_text(col)) error_at(v, n->id, col ? col : w, "watermark needs a column (the event time)");
    else spec->column = strdup(rn_value_text(col));
    bool monotonous = false;
    if (mono && rn_value_bool(mono, &monotonous, &err)) value_error(v, n->id, &err);
    if (bound && rn_value_duration(bound, &spec->max_out_of_orderness, &err)) value_error(v, n->id, &err);
    if (monotonous && bound && spec->max_out_of_orderness != 0)
        error_at(v, n->id, mono, "monotonous watermarks have no out-of-orderness bound");
    if (!monotonous && !bound) error_at(v, n->id, w, "watermark needs max_out_of_orderness (or monotonous: true)");
    if (idle && rn_value_duration(idle, &spec->idle_timeout, &err)) value_error(v, n->id, &err);
}

/* Plans each node in order: its plan(), then key_by and watermark against the schemas. */
static void plan_nodes(struct validator *v, struct rn_job *job, const rn_value *const *node_vals)
{
    for (uint32_t i = 0; i < job->n_nodes; i++) {
        struct rn_job_node *n = &job->nodes[i];
        const rn_schema *ins[64];
        /* a node whose inputs did not all resolve is not planned (its error is reported) */
        bool ready = n->def && n->options && n->n_inputs <= 64 && n->n_inputs >= n->def->n_inputs_min &&
                     n->n_inputs <= n->def->n_inputs_max;
        for (uint32_t k = 0; ready && k < n->n_inputs; k++) {
            const struct rn_job_node *in = &job->nodes[n->inputs[k]];
            uint32_t port = n->input_ports[k];
            if (port && !(ins[k] = in->side[port - 1].schema)) {
                /* the producer failed (its error is reported), or planned without declaring it */
                if (!v->failed) {
                    const rn_value *iv = rn_value_get(node_vals[i], "input");
                    if (rn_value_kind(iv) == RN_VALUE_LIST) iv = rn_value_at(iv, k);
                    error_at(v, n->id, iv ? iv : node_vals[i], "side output '%s' of '%s' has no schema (a bug in %s)",
                             in->side[port - 1].id, in->id, in->def ? in->def->name : "its operator");
                }
                ready = false;
            } else if (port) {
                /* ins[k] is the side output's schema */
            } else if (in->def && (in->def->flags & RN_OP_SINK)) {
                const rn_value *iv = rn_value_get(node_vals[i], "input");
                if (rn_value_kind(iv) == RN_VALUE_LIST) iv = rn_value_at(iv, k);
                error_at(v, n->id, iv ? iv : node_vals[i], "input '%s' is a sink (%s): it has no output", in->id,
                         in->def->name);
                ready = false;
            } else if (!(ins[k] = in->output)) {
                ready = false;   /* the input failed; its error is reported */
            }
            if (ready && in->parallelism != n->parallelism && n->partition == RN_PART_FORWARD) {
                const rn_value *pv = rn_value_get(node_vals[i], "partition");
                if (pv) error_at(v, n->id, pv, "partition forward needs the same parallelism as input '%s' (%u, not %u)",
                                 in->id, in->parallelism, n->parallelism);
            }
        }
        if (!ready) continue;
        if ((n->def->flags & RN_OP_KEYED) && !n->input_key_by) {
            error_at(v, n->id, node_vals[i], "%s works per key: it needs key_by", n->def->name);
            continue;
        }
        /* key_by before plan(): keyed operators read its type when they plan */
        const rn_value *kv = rn_value_get(node_vals[i], "key_by");
        bool key_ok = true;
        struct rn_type first_type = {0};
        for (uint32_t k = 0; n->input_key_by && k < n->n_inputs; k++) {
            rn_expr *e = NULL;
            const rn_value *at = kv;
            if (!n->key_by) {   /* the map form: the entry of this input */
                const struct rn_job_node *in = &job->nodes[n->inputs[k]];
                at = rn_value_get(kv, n->input_ports[k] ? in->side[n->input_ports[k] - 1].id : in->id);
            }
            if (!at || !n->input_key_by[k]) {
                key_ok = false;
                continue;
            }
            if (rn__compile_at(v, n->id, at, "key_by", ins[k], &e)) {
                key_ok = false;
                continue;
            }
            struct rn_type t = rn_expr_type(e);
            if (t.id == RN_T_VECTOR) {
                error_at(v, n->id, at, "key_by cannot be a vector");
                key_ok = false;
            } else if (k == 0) {
                first_type = t;
            } else if (t.id != first_type.id) {
                char a[64], b[64];
                error_at(v, n->id, at, "key_by of input %u is %s but key_by of input 1 is %s: keys of all inputs must have one type (use CAST)",
                         k + 1, rn_type_name(t, a, sizeof a), rn_type_name(first_type, b, sizeof b));
                key_ok = false;
            }
            rn_expr_destroy(e);
        }
        if (!key_ok) continue;
        size_t before = v->errs ? v->errs->n : 0;
        struct rn_plan_ctx ctx = {v, n, ins, n->n_inputs};
        int rc = n->def->plan(&ctx);
        if (rc && (!v->errs || v->errs->n == before))
            error_at(v, n->id, node_vals[i], "%s refused its configuration (%s)", n->def->name, rn_strerror(rc));
        if (rc) continue;
        if (!n->output && !(n->def->flags & RN_OP_SINK)) {
            error_at(v, n->id, node_vals[i], "%s declared no output schema (a bug in the operator)", n->def->name);
            continue;
        }
        const rn_value *wv = rn_value_get(node_vals[i], "watermark");
        if (wv) read_watermark(v, n, wv);
        if (n->watermark && n->watermark->column && n->output) {
            int c = rn_schema_find(n->output, n->watermark->column);
            const rn_value *cv = rn_value_get(wv, "column");
            if (c < 0) {
                char cols[300];
                error_at(v, n->id, cv, "watermark column '%s' is not in the output (%s)", n->watermark->column,
                         rn_schema_describe(n->output, cols, sizeof cols));
            } else {
                enum rn_type_id t = rn_schema_field(n->output, (size_t)c)->type.id;
                if (t != RN_T_TIMESTAMP && t != RN_T_INT64)
                    error_at(v, n->id, cv, "watermark column '%s' must be a timestamp (or int64 ms)", n->watermark->column);
            }
        }
    }
}

int rn__job_from_value(const char *file, rn_value *root, const rn_registry *reg, struct rn_job **out,
                       struct rn_job_errors *errs)
{
    *out = NULL;
    struct validator v = {.file = file, .errs = errs};
    struct rn_job *job = calloc(1, sizeof *job);
    v.job = job;
    if (job) job->registry = reg;
    if (!job || !(job->file = strdup(file))) {
        free(job);
        rn__value_free(root);
        return RN_ENOMEM;
    }
    job->source = root;
    job->parallelism = 1;
    job->max_parallelism = 128;
    if (rn_value_kind(root) != RN_VALUE_MAP) {
        error_at(&v, NULL, root, "a job file is a map with name, parallelism and operators");
        goto done;
    }
    unknown_keys(&v, NULL, root, top_keys, "job field");
    const rn_value *x;
    if ((x = rn_value_get(root, "checkpoint"))) read_checkpoint(&v, job, x);
    read_restart(&v, job, rn_value_get(root, "restart"));
    job->state_backend = RN_STATE_MEMORY;
    if ((x = rn_value_get(root, "state"))) {
        static const char *const state_keys[] = {"backend", "dir", NULL};
        const rn_value *bv = rn_value_get(x, "backend"), *dv = rn_value_get(x, "dir");
        if (rn_value_kind(x) != RN_VALUE_MAP) error_at(&v, NULL, x, "state must be a map: {backend: memory | rocksdb, dir: ...}");
        unknown_keys(&v, NULL, x, state_keys, "state field");
        const char *b = rn_value_text(bv);
        if (bv && (!b || (strcmp(b, "memory") && strcmp(b, "rocksdb"))))
            error_at(&v, NULL, bv, "state backend must be memory or rocksdb");
        else if (b && !strcmp(b, "rocksdb"))
            job->state_backend = RN_STATE_ROCKSDB;
        if (dv && !rn_value_text(dv)) error_at(&v, NULL, dv, "state dir must be a directory path");
        else if (dv) job->state_dir = strdup(rn_value_text(dv));
    }
    const char *name = rn_value_text(rn_value_get(root, "name"));
    if (!name) {
        const char *base = strrchr(file, '/');
        name = base ? base + 1 : file;
    }
    job->name = strdup(name);
    if ((x = rn_value_get(root, "max_parallelism")))
        read_u32(&v, NULL, x, "max_parallelism", 1, MAX_PARALLELISM, &job->max_parallelism);
    if ((x = rn_value_get(root, "parallelism")))
        read_u32(&v, NULL, x, "parallelism", 1, job->max_parallelism, &job->parallelism);
    const rn_value *ops = rn_value_get(root, "operators");
    if (rn_value_kind(ops) != RN_VALUE_LIST || rn_value_len(ops) == 0) {
        error_at(&v, NULL, ops ? ops : root, "a job needs 'operators': a list of operators");
        goto done;
    }
    job->n_nodes = (uint32_t)rn_value_len(ops);
    job->nodes = calloc(job->n_nodes, sizeof *job->nodes);
    const rn_value **input_vals = calloc(job->n_nodes, sizeof *input_vals);
    const rn_value **node_vals = calloc(job->n_nodes, sizeof *node_vals);
    if (!job->nodes || !input_vals || !node_vals) {
        free(input_vals);
        free(node_vals);
        goto done;
    }
    for (uint32_t i = 0; i < job->n_nodes; i++) read_node(&v, reg, job, i, rn_value_at(ops, i), input_vals);
    /* node values follow the nodes through the sort */
    for (uint32_t i = 0; i < job->n_nodes; i++) node_vals[i] = rn_value_at(ops, i);
    check_stream_ids(&v, job, node_vals);
    for (uint32_t i = 0; i < job->n_nodes; i++) resolve_inputs(&v, job, i, input_vals[i]);
    for (uint32_t i = 0; i < job->n_nodes; i++) resolve_key_by(&v, job, i, node_vals[i]);
    if (topo_sort(&v, job, node_vals)) plan_nodes(&v, job, node_vals);
    free(input_vals);
    free(node_vals);
done:
    if (v.failed) {
        rn_job_free(job);
        return RN_EINVAL;
    }
    *out = job;
    return 0;
}

int rn_job_parse(const char *file, const char *text, size_t len, const rn_registry *reg, struct rn_job **out,
                 struct rn_job_errors *errs)
{
    struct rn_error err;
    *out = NULL;
    rn_value *root = rn__yaml_load(text, len, &err);
    if (!root) {
        struct validator v = {.file = file, .errs = errs};
        value_error(&v, NULL, &err);
        return RN_EINVAL;
    }
    return rn__job_from_value(file, root, reg, out, errs);
}

int rn_job_load(const char *path, const rn_registry *reg, struct rn_job **out, struct rn_job_errors *errs)
{
    *out = NULL;
    struct validator v = {.file = path, .errs = errs};
    FILE *f = fopen(path, "rb");
    struct stat st;
    if (!f || fstat(fileno(f), &st) || !S_ISREG(st.st_mode)) {
        int e = errno;
        if (f) fclose(f);
        error_at(&v, NULL, NULL, "cannot read the job file: %s", f ? "not a regular file" : strerror(e));
        return RN_EIO;
    }
    if (st.st_size > MAX_FILE_BYTES) {
        fclose(f);
        error_at(&v, NULL, NULL, "the job file is larger than %u MiB", MAX_FILE_BYTES >> 20);
        return RN_EINVAL;
    }
    char *text = malloc((size_t)st.st_size + 1);
    size_t n = text ? fread(text, 1, (size_t)st.st_size, f) : 0;
    fclose(f);
    if (!text) return RN_ENOMEM;
    text[n] = 0;
    int rc = rn_job_parse(path, text, n, reg, out, errs);
    free(text);
    return rc;
}

int64_t rn_restart_delay(const struct rn_restart_spec *s, uint32_t failures)
{
    if (failures == 0) return 0;
    switch (s->kind) {
    case RN_RESTART_FIXED_DELAY:
        return failures > s->attempts ? -1 : s->delay;
    case RN_RESTART_EXPONENTIAL_DELAY: {
        if (s->attempts && failures > s->attempts) return -1;
        double d = (double)s->delay;
        for (uint32_t i = 1; i < failures && d < (double)s->max_delay; i++) d *= s->multiplier;
        return d > (double)s->max_delay ? s->max_delay : (int64_t)d;
    }
    default:
        return -1;
    }
}
