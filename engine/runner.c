/*
 * runner.c — runs a job on threads: builds the execution graph (chains, tasks, channels, edge
 * partitioners), runs each task's mailbox loop on its own thread, propagates watermarks and end
 * of input, and turns the first operator failure into a job failure that cancels every task.
 *
 * Inside a chain, a batch emitted by operator k is handed to operator k+1's process() on the
 * same thread: no copy, no queue. The chain's last operator feeds the out edges: hash edges
 * evaluate the key expression, hash it into key groups and gather one batch per target
 * subtask; rebalance picks targets round robin; broadcast sends a reference to all.
 *
 * Watermarks: a source with a `watermark:` block emits max(event time) - bound - 1 after each
 * batch; a task's watermark is the minimum over its inputs (an ended input counts as +inf) and
 * is passed to each operator of the chain in order (operators may emit on it) and then
 * downstream. End of input sends the final watermark (INT64_MAX), calls finish() along the
 * chain and sends EOI downstream.
 */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>

#include "runner_internal.h"
#include "runnel/hash.h"
#include "runnel/runner.h"

static void op_keys_free(struct op_keys *k)
{
    if (!k) return;
    for (uint32_t i = 0; i < k->n_inputs; i++) rn_expr_destroy(k->expr[i]);
    free(k->expr);
    rn_column_release(&k->col);
    free(k->hashes);
    free(k->keys);
    free(k->group_keys);
    free(k->group);
    free(k->first_row);
    free(k->last_row);
    free(k->group_val);
    free(k->table);
    free(k->bytes);
    free(k);
}

/* ---- small helpers ---- */

static double since(const struct timespec *a, const struct timespec *b)
{
    return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) * 1e-9;
}

static FILE *logf_of(const struct rn_runner *r) { return r->opts.log ? r->opts.log : stderr; }

/* Records the job's failure (the first one wins) and cancels everything. */
static void fail_job(struct rn_runner *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void cancel_all(struct rn_runner *r);

static void fail_job(struct rn_runner *r, const char *fmt, ...)
{
    pthread_mutex_lock(&r->mu);
    bool first = atomic_load(&r->state) != RN_RUN_FAILED;
    if (first) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->error, sizeof r->error, fmt, ap);
        va_end(ap);
        atomic_store(&r->state, RN_RUN_FAILED);
    }
    pthread_mutex_unlock(&r->mu);
    if (first) cancel_all(r);
}

void rn__fail_job(struct rn_runner *r, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fail_job(r, "%s", msg);
}

static void cancel_all(struct rn_runner *r)
{
    atomic_store(&r->cancelled, true);
    for (uint32_t i = 0; i < r->n_channels; i++) r->channels[i]->ops->close(r->channels[i]);
    for (uint32_t c = 0; c < r->n_chains; c++)
        for (uint32_t s = 0; s < r->chains[c].parallelism && r->chains[c].tasks; s++)
            rn_mailbox_close(&r->chains[c].tasks[s].mb);
}

/* ---- the operator context API ---- */

const char *rn_op_node_id(const struct rn_op_ctx *ctx) { return ctx->node->id; }
const char *rn_op_job_name(const struct rn_op_ctx *ctx) { return ctx->task->run->job->name ? ctx->task->run->job->name : ""; }
uint32_t rn_op_subtask(const struct rn_op_ctx *ctx) { return ctx->task->subtask; }
uint32_t rn_op_parallelism(const struct rn_op_ctx *ctx) { return ctx->task->parallelism; }
uint32_t rn_op_max_parallelism(const struct rn_op_ctx *ctx) { return ctx->task->run->job->max_parallelism; }
const rn_value *rn_op_options(const struct rn_op_ctx *ctx) { return ctx->node->options; }
const rn_schema *rn_op_output_schema(const struct rn_op_ctx *ctx) { return ctx->node->output; }
const struct rn_registry *rn_op_registry(const struct rn_op_ctx *ctx) { return ctx->task->run->job->registry; }
const char *rn_op_time_column(const struct rn_op_ctx *ctx, uint32_t input)
{
    if (input >= ctx->node->n_inputs) return NULL;
    return rn_job_time_column(ctx->task->run->job, ctx->node->inputs[input], ctx->node->input_ports[input]);
}
uint32_t rn_op_side_port(const struct rn_op_ctx *ctx, const char *option)
{
    for (uint32_t k = 0; k < ctx->node->n_side; k++)
        if (!strcmp(ctx->node->side[k].option, option)) return k + 1;
    return 0;
}
const rn_schema *rn_op_input_schema(const struct rn_op_ctx *ctx, uint32_t i)
{
    const struct rn_job *job = ctx->task->run->job;
    return i < ctx->node->n_inputs ? rn_job_output_schema(job, ctx->node->inputs[i], ctx->node->input_ports[i]) : NULL;
}
bool rn_op_cancelled(const struct rn_op_ctx *ctx) { return atomic_load(&ctx->task->run->cancelled); }
int64_t rn_op_watermark(const struct rn_op_ctx *ctx) { return ctx->watermark; }

void rn_op_error(struct rn_op_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->error, sizeof ctx->error, fmt, ap);
    va_end(ap);
}

void rn_op_log(struct rn_op_ctx *ctx, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const struct rn_run_options *o = &ctx->task->run->opts;
    if (o->op_log) {
        char task[160];
        snprintf(task, sizeof task, "%s/%u", ctx->node->id, ctx->task->subtask + 1);
        o->op_log(o->op_log_user, task, msg);
        return;
    }
    fprintf(logf_of(ctx->task->run), "runnel: %s[%u/%u]: %s\n", ctx->node->id, ctx->task->subtask + 1,
            ctx->task->parallelism, msg);
}

/* rn_op_keys for a key column of 8-byte values without nulls (the common int64 key): rows are
 * grouped by value, and only each distinct key is encoded (tag byte 1, then the 8 bytes, as
 * rn_state_key_encode writes them); every row's key is its group's. */
static int group_fixed8(struct op_keys *k, uint32_t n, uint32_t maxp)
{
    if ((size_t)n * 9 > k->bytes_cap) {
        uint8_t *bytes = realloc(k->bytes, (size_t)n * 9);
        if (!bytes) return RN_ENOMEM;
        k->bytes = bytes;
        k->bytes_cap = (size_t)n * 9;
    }
    const uint64_t *v = k->col.values;
    const uint64_t *hashes = k->hashes;
    int32_t *table = k->table;
    uint32_t groups = 0, mask = k->table_cap - 1;
    memset(table, 0xff, k->table_cap * sizeof *table);
    for (uint32_t r = 0; r < n; r++) {
        uint64_t x = v[r];
        for (uint32_t h = (uint32_t)hashes[r] & mask;; h = (h + 1) & mask) {
            int32_t g = table[h];
            if (g < 0) {
                table[h] = (int32_t)groups;
                k->group_val[groups] = x;
                uint8_t *o = k->bytes + (size_t)groups * 9;
                o[0] = 1;
                memcpy(o + 1, &x, 8);
                k->group_keys[groups] = (struct rn_state_key){o, 9, (uint16_t)rn_key_group(hashes[r], maxp)};
                k->first_row[groups] = k->last_row[groups] = r;
                k->group[r] = groups++;
                break;
            }
            if (k->group_val[g] == x) {
                k->group[r] = (uint32_t)g;
                k->last_row[g] = r;
                break;
            }
        }
    }
    for (uint32_t r = 0; r < n; r++) k->keys[r] = k->group_keys[k->group[r]];
    k->n_groups = groups;
    return 0;
}

int rn_op_keys(struct rn_op_ctx *ctx, uint32_t input, const struct rn_batch *b, struct rn_op_keys *out)
{
    const struct rn_job_node *node = ctx->node;
    if (!node->input_key_by || input >= node->n_inputs || !node->input_key_by[input]) {
        rn_op_error(ctx, "rn_op_keys: the operator has no key_by for input %u", input);
        return RN_EINVAL;
    }
    struct op_keys *k = ctx->keys;
    if (!k) {
        if (!(k = ctx->keys = calloc(1, sizeof *k)) || !(k->expr = calloc(node->n_inputs, sizeof *k->expr))) return RN_ENOMEM;
        k->n_inputs = node->n_inputs;
        k->col.cap_deps = 2;
    }
    struct rn_error err;
    if (!k->expr[input] && rn_expr_compile(node->input_key_by[input], rn_op_input_schema(ctx, input), &k->expr[input], &err)) {
        rn_op_error(ctx, "key_by: %s", err.msg);
        return RN_EINVAL;
    }
    rn_column_release(&k->col);
    if (rn_expr_eval(k->expr[input], b, &k->col, &err)) {
        rn_op_error(ctx, "key_by: %s", err.msg);
        return RN_EINVAL;
    }
    uint32_t n = b->n_rows;
    if (n > k->cap) {
#define GROW(p) do { void *q_ = realloc((p), (size_t)n * sizeof *(p)); if (!q_) return RN_ENOMEM; (p) = q_; } while (0)
        GROW(k->hashes);
        GROW(k->keys);
        GROW(k->group_keys);
        GROW(k->group);
        GROW(k->first_row);
        GROW(k->last_row);
        GROW(k->group_val);
#undef GROW
        uint32_t tc = 16;
        while (tc < 2 * n) tc *= 2;
        int32_t *t = realloc(k->table, tc * sizeof *t);
        if (!t) return RN_ENOMEM;
        k->table = t;
        k->table_cap = tc;
        k->cap = n;
    }
    rn_hash_column(&k->col, n, k->hashes, 0);
    uint32_t maxp = ctx->task->run->job->max_parallelism;
    enum rn_type_id tid = k->col.type.id;
    if (!k->col.validity && (tid == RN_T_INT64 || tid == RN_T_TIMESTAMP || tid == RN_T_DOUBLE)) {
        int rc = group_fixed8(k, n, maxp);
        if (rc) return rc;
        *out = (struct rn_op_keys){n, &k->col, k->hashes, k->keys, k->n_groups, k->group, k->group_keys, k->first_row, k->last_row};
        return 0;
    }
    /* the bytes of every key, in one arena: lengths first, then the bytes in place */
    size_t total = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t len = rn_state_key_encode(&k->col, 1, i, NULL, 0);
        k->keys[i].len = len;
        total += len;
    }
    if (total > k->bytes_cap) {
        uint8_t *bytes = realloc(k->bytes, total);
        if (!bytes) return RN_ENOMEM;
        k->bytes = bytes;
        k->bytes_cap = total;
    }
    size_t at = 0;
    for (uint32_t i = 0; i < n; i++) {
        rn_state_key_encode(&k->col, 1, i, k->bytes + at, k->keys[i].len);
        k->keys[i].data = k->bytes + at;
        k->keys[i].key_group = (uint16_t)rn_key_group(k->hashes[i], maxp);
        at += k->keys[i].len;
    }
    /* group the rows by distinct key, in order of first appearance */
    uint32_t groups = 0, mask = k->table_cap - 1;
    memset(k->table, 0xff, k->table_cap * sizeof *k->table);
    for (uint32_t r = 0; r < n; r++) {
        const struct rn_state_key *key = &k->keys[r];
        for (uint32_t h = (uint32_t)k->hashes[r] & mask;; h = (h + 1) & mask) {
            int32_t g = k->table[h];
            if (g < 0) {
                k->table[h] = (int32_t)groups;
                k->group_keys[groups] = *key;
                k->first_row[groups] = k->last_row[groups] = r;
                k->group[r] = groups++;
                break;
            }
            const struct rn_state_key *o = &k->group_keys[g];
            if (o->len == key->len && o->key_group == key->key_group && !memcmp(o->data, key->data, key->len)) {
                k->group[r] = (uint32_t)g;
                k->last_row[g] = r;
                break;
            }
        }
    }
    *out = (struct rn_op_keys){n, &k->col, k->hashes, k->keys, groups, k->group, k->group_keys, k->first_row, k->last_row};
    return 0;
}

int rn_op_state_config(struct rn_op_ctx *ctx, struct rn_state_config *cfg, char *dir, size_t dir_len)
{
    const struct rn_job *job = ctx->task->run->job;
    uint32_t s = ctx->task->subtask, p = ctx->task->parallelism, maxp = job->max_parallelism;
    memset(cfg, 0, sizeof *cfg);
    cfg->kind = job->state_backend;
    cfg->max_parallelism = maxp;
    /* the key groups g with g * p / maxp == s (rn_key_group_subtask), as a range */
    cfg->kg_first = (uint32_t)(((uint64_t)s * maxp + p - 1) / p);
    cfg->kg_last = (uint32_t)(((uint64_t)(s + 1) * maxp + p - 1) / p) - 1;
    const char *base = job->state_dir ? job->state_dir : getenv("TMPDIR");
    int n = snprintf(dir, dir_len, "%s/%s/%s-%u", base && *base ? base : "/tmp", ctx->task->run->state_subdir,
                     ctx->node->id, s);
    if (n < 0 || (size_t)n >= dir_len) {
        rn_op_error(ctx, "the state directory path is too long");
        return RN_ERANGE;
    }
    /* the parents exist; the backend creates (and removes) its own directory */
    for (char *q = dir + 1; *q; q++)
        if (*q == '/' && q > dir + 1) {
            *q = 0;
            mkdir(dir, 0777);
            *q = '/';
        }
    cfg->dir = dir;
    return 0;
}

rn_state_backend *rn_op_state(struct rn_op_ctx *ctx)
{
    if (ctx->kstate) return ctx->kstate;
    struct rn_state_config cfg;
    struct rn_error err;
    if (rn_op_state_config(ctx, &cfg, ctx->state_dir, sizeof ctx->state_dir)) return NULL;
    int rc = ctx->n_restore_dirs
                 ? rn_state_backend_restore(&cfg, (const char *const *)ctx->restore_dirs, ctx->n_restore_dirs, &ctx->kstate, &err)
                 : rn_state_backend_open(&cfg, &ctx->kstate, &err);
    if (rc) {
        rn_op_error(ctx, "keyed state%s: %s", ctx->n_restore_dirs ? " (restoring)" : "", err.msg);
        ctx->kstate = NULL;
    }
    /* the materialized copies of a restore are not needed once the backend has its own */
    for (uint32_t i = 0; i < ctx->n_restore_tmp; i++) {
        rn__rm_rf(ctx->restore_tmp[i]);
        free(ctx->restore_tmp[i]);
    }
    ctx->n_restore_tmp = 0;
    return ctx->kstate;
}

int rn_op_state_declare(struct rn_op_ctx *ctx, const struct rn_state_desc *desc, rn_state **out)
{
    rn_state_backend *b = rn_op_state(ctx);
    if (!b) return RN_EINVAL;
    struct rn_error err;
    int rc = rn_state_declare(b, desc, out, &err);
    if (rc) rn_op_error(ctx, "keyed state: %s", err.msg);
    return rc;
}

static struct rn_timers *timers_of(struct rn_op_ctx *ctx)
{
    if (ctx->timers) return ctx->timers;
    rn_state_backend *b = rn_op_state(ctx);
    struct rn_error err;
    if (b && rn__timers_create(b, &ctx->timers, &err)) rn_op_error(ctx, "timers: %s", err.msg);
    return ctx->timers;
}

int rn_op_timer_register(struct rn_op_ctx *ctx, enum rn_timer_kind kind, const struct rn_state_key *key, int64_t ns,
                         int64_t time)
{
    struct rn_timers *t = timers_of(ctx);
    if ((unsigned)kind > RN_TIMER_PROCESSING) return RN_EINVAL;
    return t ? rn__timers_register(t, kind, key, ns, time) : RN_EINVAL;
}

int rn_op_timer_delete(struct rn_op_ctx *ctx, enum rn_timer_kind kind, const struct rn_state_key *key, int64_t ns,
                       int64_t time)
{
    struct rn_timers *t = timers_of(ctx);
    if ((unsigned)kind > RN_TIMER_PROCESSING) return RN_EINVAL;
    return t ? rn__timers_delete(t, kind, key, ns, time) : RN_EINVAL;
}

int64_t rn_op_processing_time(const struct rn_op_ctx *ctx)
{
    (void)ctx;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

_Atomic uint64_t *rn_op_metric(struct rn_op_ctx *ctx, const char *name)
{
    for (uint32_t i = 0; i < ctx->n_metrics; i++)
        if (!strcmp(ctx->metric_names[i], name)) return &ctx->metrics[i];
    if (ctx->n_metrics == RN_OP_MAX_METRICS || strlen(name) >= sizeof ctx->metric_names[0]) return NULL;
    strcpy(ctx->metric_names[ctx->n_metrics], name);
    return &ctx->metrics[ctx->n_metrics++];
}

void rn_op_stdout_lock(struct rn_op_ctx *ctx) { pthread_mutex_lock(&ctx->task->run->stdout_mu); }
void rn_op_stdout_unlock(struct rn_op_ctx *ctx) { pthread_mutex_unlock(&ctx->task->run->stdout_mu); }

int rn_op_compile(struct rn_op_ctx *ctx, const char *name, const rn_schema *s, rn_expr **out)
{
    const char *src = rn_opt_string(ctx->node->options, name);
    struct rn_error err;
    if (!src) {
        rn_op_error(ctx, "option '%s' is missing", name);
        return RN_EINVAL;
    }
    int rc = rn_expr_compile(src, s, out, &err);
    if (rc) rn_op_error(ctx, "option '%s': %s", name, err.msg);
    return rc;
}

/* ---- routing ---- */

static int route(struct task *t, struct rn_batch *b, uint32_t port);
static int deliver_watermark(struct task *t, uint32_t from_pos, int64_t wm);
static int broadcast_el(struct task *t, enum rn_el_kind kind, int64_t wm);

/* Records which operator failed first in this task. */
static int op_failed(struct task *t, uint32_t pos, int rc)
{
    /* RN_EAGAIN and RN_EEND are a source's poll results, not failures */
    if (rc < 0 && rc != RN_ECANCELED && rc != RN_EAGAIN && rc != RN_EEND && t->failed_pos < 0) t->failed_pos = (int)pos;
    return rc;
}

int rn__op_failed(struct task *t, uint32_t pos, int rc) { return op_failed(t, pos, rc); }

static int64_t batch_max_ts(const struct rn_op_ctx *ctx, const struct rn_batch *b, int64_t mx)
{
    const struct rn_column *c = &b->cols[ctx->wm_column];
    const int64_t *v = c->values;
    for (uint32_t i = 0; i < b->n_rows; i++)
        if (!rn_column_is_null(c, i) && v[i] > mx) mx = v[i];
    return mx;
}

/* The watermark of a source with splits: the minimum over its splits that are neither finished
 * nor idle (a split without rows yet holds it at INT64_MIN); INT64_MIN when none counts. */
static int64_t splits_watermark(const struct rn_op_ctx *ctx, int64_t now)
{
    const struct rn_watermark_spec *w = ctx->node->watermark;
    int64_t m = INT64_MAX;
    bool any = false;
    for (uint32_t i = 0; i < ctx->n_splits; i++) {
        const struct split *sp = &ctx->splits[i];
        if (sp->finished || (w->idle_timeout > 0 && now - sp->last_ms >= w->idle_timeout)) continue;
        any = true;
        int64_t v = sp->max_ts == INT64_MIN ? INT64_MIN : sp->max_ts - w->max_out_of_orderness - 1;
        if (v < m) m = v;
    }
    return any ? m : INT64_MIN;
}

static int grow_splits(struct rn_op_ctx *ctx, uint32_t n)
{
    if (n <= ctx->n_splits) return 0;
    if (n > RN_OP_MAX_SPLITS) {
        rn_op_error(ctx, "split %u: a source subtask has at most %u splits", n - 1, RN_OP_MAX_SPLITS);
        return RN_ERANGE;
    }
    struct split *sp = realloc(ctx->splits, n * sizeof *sp);
    if (!sp) return RN_ENOMEM;
    int64_t now = rn_op_processing_time(ctx);
    for (uint32_t i = ctx->n_splits; i < n; i++) sp[i] = (struct split){INT64_MIN, now, false};
    ctx->splits = sp;
    ctx->n_splits = n;
    return 0;
}

int rn_op_declare_splits(struct rn_op_ctx *ctx, uint32_t n) { return grow_splits(ctx, n); }

static int emit(struct rn_op_ctx *ctx, struct split *sp, struct rn_batch *b);

int rn_op_emit(struct rn_op_ctx *ctx, struct rn_batch *b)
{
    return emit(ctx, ctx->n_splits ? &ctx->splits[0] : NULL, b);
}

int rn_op_emit_split(struct rn_op_ctx *ctx, uint32_t split, struct rn_batch *b)
{
    int rc = grow_splits(ctx, split + 1);
    if (rc) {
        rn_batch_unref(b);
        return rc;
    }
    return emit(ctx, &ctx->splits[split], b);
}

/* A source's watermark may have advanced without a batch (a split finished or went idle). */
static int advance_source_watermark(struct rn_op_ctx *ctx)
{
    struct task *t = ctx->task;
    if (ctx->wm_column < 0 || !ctx->n_splits) return 0;
    int64_t wm = splits_watermark(ctx, rn_op_processing_time(ctx));
    return wm > t->watermark && wm != INT64_MIN ? deliver_watermark(t, ctx->pos + 1, wm) : 0;
}

int rn_op_split_finished(struct rn_op_ctx *ctx, uint32_t split)
{
    int rc = grow_splits(ctx, split + 1);
    if (rc) return rc;
    ctx->splits[split].finished = true;
    return advance_source_watermark(ctx);
}

static int emit(struct rn_op_ctx *ctx, struct split *sp, struct rn_batch *b)
{
    struct task *t = ctx->task;
    if (!b) return RN_EINVAL;
    if (b->n_rows == 0) {
        rn_batch_unref(b);
        return 0;
    }
    atomic_fetch_add_explicit(&ctx->rows_out, b->n_rows, memory_order_relaxed);
    bool gen_wm = ctx->wm_column >= 0;
    if (gen_wm && sp) {
        sp->max_ts = batch_max_ts(ctx, b, sp->max_ts);
        sp->last_ms = rn_op_processing_time(ctx);
        if (sp->max_ts > ctx->max_ts) ctx->max_ts = sp->max_ts;
    } else if (gen_wm) {
        ctx->max_ts = batch_max_ts(ctx, b, ctx->max_ts);
    }
    int rc;
    if (ctx->pos + 1 < t->n_ops) {
        struct rn_op_ctx *next = &t->ops[ctx->pos + 1];
        atomic_fetch_add_explicit(&next->rows_in, b->n_rows, memory_order_relaxed);
        rc = op_failed(t, next->pos, next->def->process(next->state, next, 0, b));
        rn_batch_unref(b);
    } else {
        rc = route(t, b, 0);
    }
    if (rc == 0 && gen_wm && ctx->max_ts != INT64_MIN) {
        const struct rn_watermark_spec *w = ctx->node->watermark;
        int64_t wm = sp ? splits_watermark(ctx, sp->last_ms) : ctx->max_ts - w->max_out_of_orderness - 1;
        if (wm > t->watermark && wm != INT64_MIN) rc = deliver_watermark(t, ctx->pos + 1, wm);
        else if (t->idle) rc = broadcast_el(t, RN_EL_WATERMARK, t->watermark);   /* active again */
        t->idle = false;
        if (w->idle_timeout > 0) t->last_data_ms = rn_op_processing_time(ctx);
    }
    return rc;
}

/* Sends el, counting the time the task spent in send (blocked on a full channel: back-pressure). */
static int send_el(struct task *t, struct rn_channel *ch, struct rn_element *el)
{
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    int rc = ch->ops->send(ch, el);
    clock_gettime(CLOCK_MONOTONIC, &b);
    /* a network channel that broke says why (which peer): the task's failure names it */
    const char *why = rc == RN_EIO && ch->ops->error ? ch->ops->error(ch) : NULL;
    if (why && !t->send_error[0]) snprintf(t->send_error, sizeof t->send_error, "output: %s", why);
    atomic_fetch_add_explicit(&t->out_wait_ns,
                              (uint64_t)((b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec)),
                              memory_order_relaxed);
    return rc;
}

static int ensure_sel(struct out_edge *e, uint32_t n)
{
    if (n <= e->sel_cap) return 0;
    uint64_t *h = realloc(e->hashes, n * sizeof *h);
    if (!h) return RN_ENOMEM;
    e->hashes = h;
    for (uint32_t k = 0; k < e->n_targets; k++) {
        uint32_t *s = realloc(e->sel[k], n * sizeof *s);
        if (!s) return RN_ENOMEM;
        e->sel[k] = s;
    }
    e->sel_cap = n;
    return 0;
}

static int route_hash(struct task *t, struct out_edge *e, struct rn_batch *b)
{
    struct rn_column key;
    struct rn_error err;
    int rc = ensure_sel(e, b->n_rows);
    if (rc) return rc;
    if ((rc = rn_expr_eval(e->key, b, &key, &err))) {
        fail_job(t->run, "key_by of the edge out of '%s'[%u/%u]: %s", t->ops[t->n_ops - 1].node->id, t->subtask + 1,
                 t->parallelism, err.msg);
        return rc;
    }
    rn_hash_column(&key, b->n_rows, e->hashes, 0);
    rn_column_release(&key);
    memset(e->sel_n, 0, e->n_targets * sizeof *e->sel_n);
    const uint64_t *h = e->hashes;
    const uint16_t *target_of = e->target_of;
    uint32_t **sel = e->sel, *sel_n = e->sel_n, n = b->n_rows;
    uint32_t mp = e->max_parallelism;
    if ((mp & (mp - 1)) == 0) {   /* a power of two (the default 128): the modulo is a mask */
        uint64_t mask = mp - 1;
        for (uint32_t i = 0; i < n; i++) {
            uint32_t k = target_of[h[i] & mask];
            sel[k][sel_n[k]++] = i;
        }
    } else {
        for (uint32_t i = 0; i < n; i++) {
            uint32_t k = target_of[rn_key_group(h[i], mp)];
            sel[k][sel_n[k]++] = i;
        }
    }
    for (uint32_t k = 0; k < e->n_targets && rc == 0; k++) {
        if (!e->sel_n[k]) continue;
        if (e->sel_n[k] == n) {   /* the whole batch goes to one subtask: no copy */
            struct rn_element el = {RN_EL_BATCH, rn_batch_ref(b), 0};
            rc = send_el(t, e->targets[k], &el);
            break;
        }
        struct rn_batch *part = rn_batch_select(b, e->sel[k], e->sel_n[k]);
        if (!part) return RN_ENOMEM;
        struct rn_element el = {RN_EL_BATCH, part, 0};
        rc = send_el(t, e->targets[k], &el);
    }
    return rc;
}

int rn_op_emit_to(struct rn_op_ctx *ctx, uint32_t port, struct rn_batch *b)
{
    if (port == 0) return rn_op_emit(ctx, b);
    if (!b) return RN_EINVAL;
    struct task *t = ctx->task;
    /* an operator with consumers of a side output ends its chain; elsewhere nothing consumes it */
    if (b->n_rows == 0 || ctx->pos + 1 < t->n_ops || port > ctx->node->n_side) {
        rn_batch_unref(b);
        return 0;
    }
    return route(t, b, port);
}

/* Sends b (whose reference is taken over) along every out edge of the task carrying output
 * `port` of its last operator. */
static int route(struct task *t, struct rn_batch *b, uint32_t port)
{
    int rc = 0;
    for (uint32_t o = 0; o < t->n_out && rc == 0; o++) {
        struct out_edge *e = &t->outs[o];
        if (e->port != port) continue;
        switch (e->part) {
        case RN_PART_HASH:
            if (e->n_targets > 1) {
                rc = route_hash(t, e, b);
                break;
            }
            /* one consumer subtask owns every key group: no need to hash */
            /* fall through */
        case RN_PART_BROADCAST:
            for (uint32_t k = 0; k < e->n_targets && rc == 0; k++) {
                struct rn_element el = {RN_EL_BATCH, rn_batch_ref(b), 0};
                rc = send_el(t, e->targets[k], &el);
            }
            break;
        default: {   /* forward has one target; rebalance goes round robin */
            struct rn_element el = {RN_EL_BATCH, rn_batch_ref(b), 0};
            rc = send_el(t, e->targets[e->rr++ % e->n_targets], &el);
        }
        }
    }
    rn_batch_unref(b);
    return rc;
}

static int broadcast_el(struct task *t, enum rn_el_kind kind, int64_t wm)
{
    int rc = 0;
    for (uint32_t o = 0; o < t->n_out; o++)
        for (uint32_t k = 0; k < t->outs[o].n_targets; k++) {
            struct rn_element el = {kind, NULL, wm};
            int r = send_el(t, t->outs[o].targets[k], &el);
            if (r && !rc) rc = r;
        }
    return rc;
}

int rn__broadcast_el(struct task *t, enum rn_el_kind kind, int64_t value) { return broadcast_el(t, kind, value); }

static int call_on_timer(const struct rn_timer *timer, void *user)
{
    struct rn_op_ctx *ctx = user;
    if (!ctx->def->on_timer) return 0;
    return op_failed(ctx->task, ctx->pos, ctx->def->on_timer(ctx->state, ctx, timer));
}

int rn_op_timers_fire_all(struct rn_op_ctx *ctx, enum rn_timer_kind kind)
{
    if (!ctx->timers) return 0;
    return rn__timers_fire(ctx->timers, kind, INT64_MAX, call_on_timer, ctx);
}

/* Fires the due processing-time timers of every operator of the task; returns the next due
 * time (INT64_MAX when none). */
static int fire_processing_timers(struct task *t, int64_t *next)
{
    *next = INT64_MAX;
    for (uint32_t p = 0; p < t->n_ops; p++) {
        struct rn_op_ctx *ctx = &t->ops[p];
        if (!ctx->timers) continue;
        int rc = rn__timers_fire(ctx->timers, RN_TIMER_PROCESSING, rn_op_processing_time(ctx), call_on_timer, ctx);
        if (rc) return rc;
        int64_t n = rn__timers_next(ctx->timers, RN_TIMER_PROCESSING);
        if (n < *next) *next = n;
    }
    return 0;
}

/* The task's watermark advanced to wm: operators from_pos on see it in order (due event-time
 * timers first, then on_watermark), then downstream. */
static int deliver_watermark(struct task *t, uint32_t from_pos, int64_t wm)
{
    t->watermark = wm;
    for (uint32_t p = from_pos; p < t->n_ops; p++) {
        struct rn_op_ctx *ctx = &t->ops[p];
        ctx->watermark = wm;
        if (ctx->timers) {
            int rc = rn__timers_fire(ctx->timers, RN_TIMER_EVENT, wm, call_on_timer, ctx);
            if (rc) return rc;
        }
        if (ctx->def->on_watermark) {
            int rc = op_failed(t, p, ctx->def->on_watermark(ctx->state, ctx, wm));
            if (rc) return rc;
        }
    }
    return broadcast_el(t, RN_EL_WATERMARK, wm);
}

/* ---- the task loop ---- */

static void task_fail(struct task *t, uint32_t pos, int rc)
{
    struct rn_op_ctx *ctx = &t->ops[t->failed_pos >= 0 ? (uint32_t)t->failed_pos : pos];
    fail_job(t->run, "operator '%s' (%s, subtask %u of %u) failed: %s", ctx->node->id, ctx->def->name, t->subtask + 1,
             t->parallelism, ctx->error[0] ? ctx->error : t->send_error[0] ? t->send_error : rn_strerror(rc));
}

static int end_of_input(struct task *t)
{
    int rc = 0;
    if (t->watermark < INT64_MAX) rc = deliver_watermark(t, 0, INT64_MAX);
    for (uint32_t p = 0; p < t->n_ops && rc == 0; p++) {
        struct rn_op_ctx *ctx = &t->ops[p];
        if (ctx->def->finish) rc = op_failed(t, p, ctx->def->finish(ctx->state, ctx));
    }
    if (rc == 0) rc = broadcast_el(t, RN_EL_EOI, 0);
    return rc;
}

/* The minimum watermark over the inputs that are not idle (an ended input counts as +inf);
 * when every open input is idle, the watermark stays where it is. */
static int64_t min_input_watermark(const struct task *t)
{
    int64_t m = INT64_MAX;
    bool any_active = false;
    for (uint32_t i = 0; i < t->n_in; i++) {
        if (t->ins[i].idle && !t->ins[i].eoi) continue;
        any_active = true;
        if (t->ins[i].watermark < m) m = t->ins[i].watermark;
    }
    return any_active ? m : t->watermark;
}

/* Checkpoint barriers (design.md section 9): an input that delivered barrier n is held, in
 * exactly-once mode, until every input did (or ended); then the chain snapshots and forwards
 * it. A newer barrier gives up an older alignment (its checkpoint was abandoned). */
static int barrier_check(struct task *t)
{
    uint32_t in = 0;
    for (uint32_t i = 0; i < t->n_in; i++) in += t->ins[i].barrier || t->ins[i].eoi;
    if (in < t->n_in) return 0;
    int64_t id = t->align_id;
    t->align_id = 0;
    t->done_id = id;
    for (uint32_t i = 0; i < t->n_in; i++) t->ins[i].barrier = t->ins[i].blocked = false;
    return rn__ck_barrier(t, id);
}

static int barrier_in(struct task *t, struct in_chan *in, int64_t id)
{
    if (id <= t->done_id || id < t->align_id) return 0;   /* stale: done or given up */
    if (id > t->align_id) {
        t->align_id = id;
        for (uint32_t i = 0; i < t->n_in; i++) t->ins[i].barrier = t->ins[i].blocked = false;
    }
    in->barrier = true;
    in->blocked = rn__ck_exactly_once(t->run);
    return barrier_check(t);
}

static int handle(struct task *t, struct in_chan *in, struct rn_element *el)
{
    struct rn_op_ctx *head = &t->ops[0];
    int rc = 0;
    switch (el->kind) {
    case RN_EL_BATCH:
        atomic_fetch_add_explicit(&head->rows_in, el->batch->n_rows, memory_order_relaxed);
        rc = op_failed(t, 0, head->def->process(head->state, head, in->port, el->batch));
        rn_batch_unref(el->batch);
        break;
    case RN_EL_BARRIER:
        rc = barrier_in(t, in, el->watermark);
        break;
    case RN_EL_WATERMARK:
    case RN_EL_EOI:
    case RN_EL_IDLE:
        if (el->kind == RN_EL_EOI) {
            in->eoi = true;
            t->n_eoi++;
            in->watermark = INT64_MAX;
            /* an ended input counts as having delivered the barrier being aligned */
            if (t->align_id && (rc = barrier_check(t))) return rc;
        } else if (el->kind == RN_EL_IDLE) {
            in->idle = true;
        } else {
            in->idle = false;
            if (el->watermark > in->watermark) in->watermark = el->watermark;
        }
        int64_t wm = min_input_watermark(t);
        /* the final watermark is sent by end_of_input, after the last input ended */
        if (wm > t->watermark && wm < INT64_MAX) rc = deliver_watermark(t, 0, wm);
        break;
    }
    return rc;
}

static int run_source(struct task *t)
{
    struct rn_op_ctx *src = &t->ops[0];
    int64_t next_timer = INT64_MAX;
    for (;;) {
        if (atomic_load(&t->run->cancelled)) return RN_ECANCELED;
        if (t->run->ck) {
            int rc = rn__ck_poll(t);
            if (rc) return rc;
        }
        if (next_timer != INT64_MAX || t->n_ops > 1) {
            int rc = fire_processing_timers(t, &next_timer);
            if (rc) return rc;
        }
        int rc = op_failed(t, 0, src->def->poll(src->state, src));
        if (rc == RN_EEND) return end_of_input(t);
        if (rc == RN_EAGAIN) {
            /* splits that went idle no longer hold the watermark back */
            if ((rc = advance_source_watermark(src))) return rc;
            /* nothing to emit: after idle_timeout without data, tell downstream not to wait */
            const struct rn_watermark_spec *w = src->node->watermark;
            if (w && w->idle_timeout > 0 && !t->idle) {
                int64_t now = rn_op_processing_time(src);
                if (!t->last_data_ms) t->last_data_ms = now;
                if (now - t->last_data_ms >= w->idle_timeout) {
                    t->idle = true;
                    if ((rc = broadcast_el(t, RN_EL_IDLE, 0))) return rc;
                }
            }
            usleep(1000);
            continue;
        }
        if (rc) return rc;
    }
}

/* A network input that broke before its end of input fails the task (in-process channels
 * never fail). */
static int inputs_failed(struct task *t)
{
    for (uint32_t i = 0; i < t->n_in; i++) {
        struct rn_channel *ch = t->ins[i].ch;
        const char *why = t->ins[i].eoi || !ch->ops->error ? NULL : ch->ops->error(ch);
        if (why) {
            snprintf(t->ops[0].error, sizeof t->ops[0].error, "input %u: %s", t->ins[i].port, why);
            return RN_EIO;
        }
    }
    return 0;
}

static int run_inputs(struct task *t)
{
    for (;;) {
        int64_t next_timer;
        int trc = fire_processing_timers(t, &next_timer);
        if (trc) return trc;
        uint64_t seq = rn_mailbox_seq(&t->mb);
        if (t->run->ck && (trc = rn__ck_poll(t))) return trc;
        bool got = false;
        for (uint32_t i = 0; i < t->n_in; i++) {
            struct in_chan *in = &t->ins[i];
            struct rn_element el;
            /* a few elements per input per round, so one busy input cannot starve the others;
             * an input held for barrier alignment is not read */
            for (int k = 0; k < 4 && !in->eoi && !in->blocked && in->ch->ops->try_recv(in->ch, &el); k++) {
                got = true;
                int rc = handle(t, in, &el);
                if (rc) return rc;
            }
        }
        if (t->n_eoi == t->n_in) return end_of_input(t);
        if (atomic_load(&t->run->cancelled)) return RN_ECANCELED;
        if (!got && (trc = inputs_failed(t))) return trc;
        if (!got) rn_mailbox_wait_until(&t->mb, seq, t->run->ck ? rn__ck_wait_deadline(t, next_timer) : next_timer);
    }
}

static void task_done(struct rn_runner *r)
{
    pthread_mutex_lock(&r->mu);
    if (--r->running == 0) {
        clock_gettime(CLOCK_MONOTONIC, &r->end);
        r->ended = true;
        int s = atomic_load(&r->state);
        bool cancelled = atomic_load(&r->cancelled) || atomic_load(&r->stopped);
        if (s == RN_RUN_RUNNING) atomic_store(&r->state, cancelled ? RN_RUN_CANCELLED : RN_RUN_FINISHED);
        pthread_cond_broadcast(&r->done_cv);
    }
    pthread_mutex_unlock(&r->mu);
}

static void *task_main(void *arg)
{
    struct task *t = arg;
    int rc = 0;
    uint32_t p = 0;
    for (; p < t->n_ops; p++) {
        struct rn_op_ctx *ctx = &t->ops[p];
        if (t->run->ck && (rc = rn__ck_prepare_restore(ctx))) break;
        rc = ctx->def->open(ctx, &ctx->state);
        /* close() also frees what a failed open() left in state */
        ctx->opened = rc == 0 || ctx->state != NULL;
        if (rc) break;
        if (t->run->ck && (rc = op_failed(t, p, rn__ck_after_open(ctx)))) break;
    }
    if (rc) {
        t->failed_pos = (int)p;
        task_fail(t, p, rc);
    } else if (rn__ck_finished_on_restore(t)) {
        /* it had ended: its consumers get the end of its input again, it only takes part in
         * checkpoints */
        rc = broadcast_el(t, RN_EL_WATERMARK, INT64_MAX);
        if (rc == 0) rc = broadcast_el(t, RN_EL_EOI, 0);
        if (rc == 0 && rn__ck_enabled(t->run)) rc = rn__ck_final(t);
        if (rc && rc != RN_ECANCELED) task_fail(t, 0, rc);
    } else if (!rn__ck_commit_only(t->run)) {
        rc = t->n_in == 0 ? run_source(t) : run_inputs(t);
        /* a job that takes checkpoints ends with a final one (two-phase-commit sinks commit) */
        if (rc == 0 && rn__ck_enabled(t->run)) rc = rn__ck_final(t);
        if (rc && rc != RN_ECANCELED) task_fail(t, 0, rc);
        else if (rc == RN_ECANCELED && t->failed_pos >= 0 && !atomic_load(&t->run->cancelled)) task_fail(t, 0, rc);
    }
    if (t->run->ck) rn__ck_task_end(t);
    for (uint32_t q = t->n_ops; q-- > 0;) {
        struct rn_op_ctx *ctx = &t->ops[q];
        if (ctx->opened) ctx->def->close(ctx->state, ctx);
        rn__timers_destroy(ctx->timers);
        rn_state_backend_close(ctx->kstate);
        ctx->timers = NULL;
        ctx->kstate = NULL;
        if (t->run->ck) rn__ck_op_cleanup(ctx);
    }
    rn_pool_trim();
    task_done(t->run);
    return NULL;
}

/* ---- building the execution graph ---- */

/* Keeps ch to close and destroy with the runner; on failure destroys it. */
static int add_channel(struct rn_runner *r, struct rn_channel *ch)
{
    if (r->n_channels == r->cap_channels) {
        uint32_t cap = r->cap_channels ? r->cap_channels * 2 : 16;
        struct rn_channel **c = realloc(r->channels, cap * sizeof *c);
        if (!c) {
            ch->ops->destroy(ch);
            return RN_ENOMEM;
        }
        r->channels = c;
        r->cap_channels = cap;
    }
    r->channels[r->n_channels++] = ch;
    return 0;
}

static struct rn_channel *new_channel(struct rn_runner *r, struct rn_mailbox *consumer)
{
    struct rn_channel *ch = rn_local_channel_create(r->opts.channel_capacity, consumer);
    return ch && add_channel(r, ch) == 0 ? ch : NULL;
}

static bool chainable(const struct rn_job *job, uint32_t n, const uint32_t *consumers)
{
    const struct rn_job_node *node = &job->nodes[n];
    if (node->n_inputs != 1 || node->partition != RN_PART_FORWARD || node->input_ports[0] != 0) return false;
    const struct rn_job_node *in = &job->nodes[node->inputs[0]];
    return in->parallelism == node->parallelism && consumers[node->inputs[0]] == 1;
}

static enum rn_partition edge_partition(const struct rn_job *job, const struct rn_job_node *n, uint32_t producer)
{
    if (n->partition == RN_PART_FORWARD && job->nodes[producer].parallelism != n->parallelism) return RN_PART_REBALANCE;
    return n->partition;
}

static int add_in(struct task *t, struct rn_channel *ch, uint32_t port)
{
    struct in_chan *ins = realloc(t->ins, (t->n_in + 1) * sizeof *ins);
    if (!ins) return RN_ENOMEM;
    t->ins = ins;
    t->ins[t->n_in++] = (struct in_chan){ch, port, INT64_MIN, false, false, false, false};
    return 0;
}

/* Connects every producer subtask of chain pc to every consumer subtask of chain cc for the
 * input port `port` of cc's head. */
static int connect(struct rn_runner *r, uint32_t pc, uint32_t out_port, uint32_t cc, uint32_t port, enum rn_partition part,
                   const char *key_by, struct rn_error *err)
{
    struct chain *P = &r->chains[pc], *C = &r->chains[cc];
    const rn_schema *schema = rn_job_output_schema(r->job, P->nodes[P->n_nodes - 1], out_port);
    for (uint32_t i = 0; i < P->parallelism; i++) {
        struct task *t = &P->tasks[i];
        struct out_edge *outs = realloc(t->outs, (t->n_out + 1) * sizeof *outs);
        if (!outs) return rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
        t->outs = outs;
        struct out_edge *e = &t->outs[t->n_out++];
        memset(e, 0, sizeof *e);
        e->port = out_port;
        e->part = part;
        e->max_parallelism = r->job->max_parallelism;
        e->rr = i;   /* spread the round robin starting points */
        e->n_targets = part == RN_PART_FORWARD ? 1 : C->parallelism;
        e->targets = calloc(e->n_targets, sizeof *e->targets);
        if (!e->targets) return rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
        for (uint32_t k = 0; k < e->n_targets; k++) {
            struct task *ct = &C->tasks[part == RN_PART_FORWARD ? i : k];
            uint32_t index = r->n_edges++;
            if (!t->local && !ct->local) continue;   /* between two other processes */
            struct rn_channel *ch;
            if (t->local && ct->local) {
                ch = new_channel(r, &ct->mb);
                if (!ch) return rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
            } else {
                const struct rn_run_placement *pl = r->opts.placement;
                ch = t->local ? pl->out(pl->user, index, cc, ct->subtask, err)
                              : pl->in(pl->user, index, schema, r->opts.channel_capacity ? r->opts.channel_capacity : 8,
                                       &ct->mb, err);
                if (!ch || add_channel(r, ch)) return ch ? rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory") : err->code;
            }
            if (ct->local && add_in(ct, ch, port)) return rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
            e->targets[k] = ch;
        }
        if (part == RN_PART_HASH) {
            e->sel = calloc(e->n_targets, sizeof *e->sel);
            e->sel_n = calloc(e->n_targets, sizeof *e->sel_n);
            e->target_of = calloc(e->max_parallelism, sizeof *e->target_of);
            if (!e->sel || !e->sel_n || !e->target_of) return rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
            for (uint32_t g = 0; g < e->max_parallelism; g++)
                e->target_of[g] = (uint16_t)rn_key_group_subtask(g, e->max_parallelism, e->n_targets);
            int rc = rn_expr_compile(key_by, schema, &e->key, err);
            if (rc) return rc;
        }
    }
    return 0;
}

/* Working copies of keyed state that runs killed without their cleanup (kill -9) left in base:
 * runnel-<pid>-<n> directories of processes that no longer exist. */
static void remove_stale_state_dirs(const char *base)
{
    DIR *d = opendir(base);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        int pid, n, end = 0;
        if (sscanf(e->d_name, "runnel-%d-%d%n", &pid, &n, &end) != 2 || e->d_name[end] || pid <= 0 || pid == getpid())
            continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;   /* alive, or not ours to judge */
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", base, e->d_name);
        rn__rm_rf(path);
    }
    if (d) closedir(d);
}

uint32_t rn_runner_plan(const struct rn_job *job, uint32_t *chain_of, uint32_t *chain_parallelism)
{
    uint32_t n = job->n_nodes, n_chains = 0;
    uint32_t *consumers = calloc(n ? n : 1, sizeof *consumers);
    if (!consumers) return 0;
    for (uint32_t i = 0; i < n; i++)
        for (uint32_t k = 0; k < job->nodes[i].n_inputs; k++) consumers[job->nodes[i].inputs[k]]++;
    /* chains, in topological order */
    for (uint32_t i = 0; i < n; i++) {
        if (chainable(job, i, consumers)) {
            chain_of[i] = chain_of[job->nodes[i].inputs[0]];
        } else {
            chain_of[i] = n_chains;
            chain_parallelism[n_chains++] = job->nodes[i].parallelism;
        }
    }
    free(consumers);
    return n_chains;
}

rn_runner *rn_runner_create(const struct rn_job *job, const struct rn_run_options *opts, struct rn_error *err)
{
    rn_runner *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->job = job;
    if (opts) r->opts = *opts;
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->done_cv, NULL);
    pthread_mutex_init(&r->stdout_mu, NULL);
    atomic_init(&r->state, RN_RUN_CREATED);
    static _Atomic unsigned runs;
    snprintf(r->state_subdir, sizeof r->state_subdir, "runnel-%d-%u", (int)getpid(), atomic_fetch_add(&runs, 1));
    static _Atomic bool swept;
    if (!atomic_exchange(&swept, true)) {
        const char *base = job->state_dir ? job->state_dir : getenv("TMPDIR");
        remove_stale_state_dirs(base && *base ? base : "/tmp");
    }
    uint32_t n = job->n_nodes;
    uint32_t *parallelism = calloc(n ? n : 1, sizeof *parallelism);
    r->chain_of = calloc(n, sizeof *r->chain_of);
    r->pos_of = calloc(n, sizeof *r->pos_of);
    r->chains = calloc(n, sizeof *r->chains);
    if (!parallelism || !r->chain_of || !r->pos_of || !r->chains) goto oom;
    r->n_chains = rn_runner_plan(job, r->chain_of, parallelism);
    for (uint32_t c = 0; c < r->n_chains; c++) {
        r->chains[c].parallelism = parallelism[c];
        r->chains[c].nodes = calloc(n, sizeof *r->chains[c].nodes);
        if (!r->chains[c].nodes) goto oom;
    }
    free(parallelism);
    parallelism = NULL;
    for (uint32_t i = 0; i < n; i++) {
        struct chain *ch = &r->chains[r->chain_of[i]];
        r->pos_of[i] = ch->n_nodes;
        ch->nodes[ch->n_nodes++] = i;
    }
    if (r->opts.placement && job->checkpoint.enabled && !r->opts.coordinator) {
        rn_error_set(err, RN_EINVAL, 0, 0, "a distributed run of a job with checkpoints needs a coordinator");
        rn_runner_destroy(r);
        return NULL;
    }
    /* tasks */
    for (uint32_t c = 0; c < r->n_chains; c++) {
        struct chain *ch = &r->chains[c];
        ch->tasks = calloc(ch->parallelism, sizeof *ch->tasks);
        if (!ch->tasks) goto oom;
        for (uint32_t s = 0; s < ch->parallelism; s++) {
            struct task *t = &ch->tasks[s];
            t->run = r;
            t->chain = c;
            t->subtask = s;
            t->parallelism = ch->parallelism;
            t->n_ops = ch->n_nodes;
            t->watermark = INT64_MIN;
            t->failed_pos = -1;
            t->local = !r->opts.placement || r->opts.placement->local(r->opts.placement->user, c, s);
            r->n_local += t->local;
            rn_mailbox_init(&t->mb);
            t->ops = calloc(t->n_ops, sizeof *t->ops);
            if (!t->ops) goto oom;
            for (uint32_t p = 0; p < t->n_ops; p++) {
                struct rn_op_ctx *ctx = &t->ops[p];
                ctx->task = t;
                ctx->pos = p;
                ctx->node_index = ch->nodes[p];
                ctx->node = &job->nodes[ch->nodes[p]];
                ctx->def = ctx->node->def;
                ctx->watermark = INT64_MIN;
                ctx->max_ts = INT64_MIN;
                ctx->wm_column = -1;
                if (p == 0 && ctx->node->watermark && ctx->node->output)
                    ctx->wm_column = rn_schema_find(ctx->node->output, ctx->node->watermark->column);
            }
        }
    }
    /* edges between chains */
    for (uint32_t i = 0; i < n; i++) {
        const struct rn_job_node *node = &job->nodes[i];
        if (r->pos_of[i] != 0) continue;
        for (uint32_t k = 0; k < node->n_inputs; k++) {
            uint32_t prod = node->inputs[k];
            if (connect(r, r->chain_of[prod], node->input_ports[k], r->chain_of[i], k, edge_partition(job, node, prod),
                        node->input_key_by ? node->input_key_by[k] : NULL, err)) {
                rn_runner_destroy(r);
                return NULL;
            }
        }
    }
    if (rn__ck_create(r, err)) {
        rn_runner_destroy(r);
        return NULL;
    }
    return r;
oom:
    free(parallelism);
    rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory building the execution graph");
    rn_runner_destroy(r);
    return NULL;
}

int rn_runner_start(rn_runner *r, struct rn_error *err)
{
    if (r->ck && rn__ck_start(r, err)) return err->code;
    atomic_store(&r->state, RN_RUN_RUNNING);
    clock_gettime(CLOCK_MONOTONIC, &r->start);
    pthread_mutex_lock(&r->mu);
    r->running = r->n_local ? r->n_local : 1;
    pthread_mutex_unlock(&r->mu);
    if (!r->n_local) {
        task_done(r);   /* nothing placed here: ended at once */
        return 0;
    }
    uint32_t started = 0;
    for (uint32_t c = 0; c < r->n_chains; c++)
        for (uint32_t s = 0; s < r->chains[c].parallelism; s++) {
            struct task *t = &r->chains[c].tasks[s];
            if (!t->local) continue;
            if (pthread_create(&t->thread, NULL, task_main, t)) {
                /* the tasks never started do not count */
                pthread_mutex_lock(&r->mu);
                r->running -= r->n_local - started - 1;
                pthread_mutex_unlock(&r->mu);
                fail_job(r, "cannot start a thread for task %u", c);
                task_done(r);   /* in place of this task */
                return rn_error_set(err, RN_ENOMEM, 0, 0, "cannot start threads");
            }
            t->started = true;
            started++;
        }
    return 0;
}

bool rn_runner_wait(rn_runner *r, int timeout_ms)
{
    pthread_mutex_lock(&r->mu);
    if (timeout_ms < 0) {
        while (!r->ended) pthread_cond_wait(&r->done_cv, &r->mu);
    } else if (!r->ended) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += timeout_ms / 1000;
        ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
        if (ts.tv_nsec >= 1000000000) ts.tv_sec++, ts.tv_nsec -= 1000000000;
        while (!r->ended && pthread_cond_timedwait(&r->done_cv, &r->mu, &ts) == 0) {}
    }
    bool ended = r->ended;
    pthread_mutex_unlock(&r->mu);
    return ended;
}

void rn_runner_cancel(rn_runner *r)
{
    if (atomic_load(&r->state) == RN_RUN_RUNNING) cancel_all(r);
}

enum rn_run_state rn_runner_state(const rn_runner *r, const char **error)
{
    enum rn_run_state s = (enum rn_run_state)atomic_load(&((rn_runner *)r)->state);
    if (error) *error = s == RN_RUN_FAILED ? r->error : NULL;
    return s;
}

void rn_runner_node_stats(const rn_runner *r, uint32_t node, uint64_t *rows_in, uint64_t *rows_out)
{
    *rows_in = *rows_out = 0;
    const struct chain *ch = &r->chains[r->chain_of[node]];
    for (uint32_t s = 0; s < ch->parallelism; s++) {
        struct rn_op_ctx *ctx = &ch->tasks[s].ops[r->pos_of[node]];
        *rows_in += atomic_load(&ctx->rows_in);
        *rows_out += atomic_load(&ctx->rows_out);
    }
}

bool rn_runner_node_metric(const rn_runner *r, uint32_t node, uint32_t i, const char **name, uint64_t *value)
{
    /* names come from the first subtask that registered them; values are summed by name */
    const struct chain *ch = &r->chains[r->chain_of[node]];
    uint32_t seen = 0;
    for (uint32_t s = 0; s < ch->parallelism; s++) {
        const struct rn_op_ctx *ctx = &ch->tasks[s].ops[r->pos_of[node]];
        for (uint32_t m = 0; m < ctx->n_metrics; m++) {
            bool earlier = false;
            for (uint32_t s2 = 0; s2 < s && !earlier; s2++) {
                const struct rn_op_ctx *c2 = &ch->tasks[s2].ops[r->pos_of[node]];
                for (uint32_t m2 = 0; m2 < c2->n_metrics && !earlier; m2++)
                    earlier = !strcmp(c2->metric_names[m2], ctx->metric_names[m]);
            }
            if (earlier || seen++ != i) continue;
            *name = ctx->metric_names[m];
            *value = 0;
            for (uint32_t s2 = 0; s2 < ch->parallelism; s2++) {
                const struct rn_op_ctx *c2 = &ch->tasks[s2].ops[r->pos_of[node]];
                for (uint32_t m2 = 0; m2 < c2->n_metrics; m2++)
                    if (!strcmp(c2->metric_names[m2], *name)) *value += atomic_load(&((struct rn_op_ctx *)c2)->metrics[m2]);
            }
            return true;
        }
    }
    return false;
}

uint64_t rn_runner_node_out_wait_ms(const rn_runner *r, uint32_t node)
{
    const struct chain *ch = &r->chains[r->chain_of[node]];
    uint64_t ns = 0;
    for (uint32_t s = 0; s < ch->parallelism; s++) ns += atomic_load(&ch->tasks[s].out_wait_ns);
    return ns / 1000000;
}

double rn_runner_elapsed(const rn_runner *r)
{
    struct timespec now;
    if (r->ended) return since(&r->start, &r->end);
    clock_gettime(CLOCK_MONOTONIC, &now);
    return since(&r->start, &now);
}

uint32_t rn_runner_n_tasks(const rn_runner *r)
{
    uint32_t n = 0;
    for (uint32_t c = 0; c < r->n_chains; c++) n += r->chains[c].parallelism;
    return n;
}

uint32_t rn_runner_n_local_tasks(const rn_runner *r) { return r->n_local; }
uint32_t rn_runner_n_channels(const rn_runner *r) { return r->n_channels; }

void rn_runner_destroy(rn_runner *r)
{
    if (!r) return;
    if (atomic_load(&r->state) == RN_RUN_RUNNING) cancel_all(r);
    for (uint32_t c = 0; c < r->n_chains; c++)
        for (uint32_t s = 0; r->chains[c].tasks && s < r->chains[c].parallelism; s++)
            if (r->chains[c].tasks[s].started) pthread_join(r->chains[c].tasks[s].thread, NULL);
    if (r->ck) rn__ck_stop(r);
    for (uint32_t i = 0; i < r->n_channels; i++) r->channels[i]->ops->destroy(r->channels[i]);
    free(r->channels);
    for (uint32_t c = 0; c < r->n_chains; c++) {
        struct chain *ch = &r->chains[c];
        for (uint32_t s = 0; ch->tasks && s < ch->parallelism; s++) {
            struct task *t = &ch->tasks[s];
            for (uint32_t o = 0; o < t->n_out; o++) {
                struct out_edge *e = &t->outs[o];
                for (uint32_t k = 0; e->sel && k < e->n_targets; k++) free(e->sel[k]);
                free(e->sel);
                free(e->sel_n);
                free(e->target_of);
                free(e->hashes);
                free(e->targets);
                rn_expr_destroy(e->key);
            }
            free(t->outs);
            free(t->ins);
            for (uint32_t p = 0; t->ops && p < t->n_ops; p++) {
                op_keys_free(t->ops[p].keys);
                free(t->ops[p].splits);
            }
            free(t->ops);
            rn_mailbox_destroy(&t->mb);
        }
        free(ch->tasks);
        free(ch->nodes);
    }
    free(r->chains);
    rn__ck_destroy(r);
    /* the backends removed their working copies on close: remove what held them */
    char dir[4096];
    const char *base = r->job->state_dir ? r->job->state_dir : getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/%s", base && *base ? base : "/tmp", r->state_subdir);
    rmdir(dir);
    free(r->chain_of);
    free(r->pos_of);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->done_cv);
    pthread_mutex_destroy(&r->stdout_mu);
    free(r);
}
