/*
 * nexmark.c — `nexmark`: the Nexmark event generator (nexmark_gen.h) as a source. Each subtask
 * generates its own id range on the shared event-time timeline; `events` bounds the stream (0 =
 * unbounded); `rate_limit` paces it in wall-clock time (0 = as fast as possible).
 *
 * Checkpoints: a generator instance is identified by (instances, index) — the parallelism and
 * subtask it was created for — and its position (events generated or skipped). A checkpoint
 * records one element {instances, index, position} per instance a subtask runs, in the
 * operator-state list "nexmark.generators"; on restore a subtask recreates the instances it was
 * given and seeks each to its position, so it emits exactly the events after the checkpoint.
 * At another parallelism the elements are dealt out (element i to subtask i mod P'): a subtask
 * may then run several instances (each its own watermark split, taken in turn) or none (it
 * ends at once), and the events are still those of the first start's instances.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "builtin.h"
#include "nexmark_gen.h"

static const struct rn_option options[] = {
    {"kind", RN_OPT_STRING, "bid", "bid, auction, person, or all (every event, in one wide row)"},
    {"events", RN_OPT_INT, "0", "total events over all subtasks (all kinds count); 0 = unbounded"},
    {"seed", RN_OPT_INT, "0", "seed of the generator"},
    {"rate", RN_OPT_INT, "10000000", "event-time rate: events per second of event time, over all subtasks"},
    {"rate_limit", RN_OPT_INT, "0", "wall-clock pacing in events per second over all subtasks; 0 = none"},
    {"base_time", RN_OPT_INT, "1436918400000", "event time of the first event (ms since the epoch)"},
    {NULL, 0, NULL, NULL},
};

static int kind_of(const char *k, enum rn_nexmark_kind *out)
{
    static const char *names[] = {"person", "auction", "bid", "all"};
    for (int i = 0; i < 4; i++)
        if (k && !strcmp(k, names[i])) return *out = (enum rn_nexmark_kind)i, 0;
    return RN_EINVAL;
}

static int plan(struct rn_plan_ctx *ctx)
{
    const rn_value *o = rn_plan_options(ctx);
    enum rn_nexmark_kind kind;
    if (kind_of(rn_opt_string(o, "kind"), &kind))
        return rn_plan_error(ctx, rn_opt_value(o, "kind"), "kind must be bid, auction, person or all");
    static const char *nonneg[] = {"events", "seed", "rate_limit", "base_time"};
    for (int i = 0; i < 4; i++)
        if (rn_opt_int(o, nonneg[i]) < 0) return rn_plan_error(ctx, rn_opt_value(o, nonneg[i]), "%s must be >= 0", nonneg[i]);
    if (rn_opt_int(o, "rate") <= 0) return rn_plan_error(ctx, rn_opt_value(o, "rate"), "rate must be > 0");
    return rn_plan_set_output(ctx, rn_nexmark_schema(kind));
}

/* One generator instance of this subtask. */
struct inst {
    rn_nexmark_gen *gen;
    uint32_t instances, index;   /* the parallelism and subtask it was created for */
    bool done;
};

struct state {
    struct rn_nexmark_config cfg;   /* the options; num_generators/index per instance */
    enum rn_nexmark_kind kind;
    const rn_schema *schema;
    struct inst *in;
    uint32_t n_in, live, cur;       /* instances, those not done, the one polled next */
    bool declared;                  /* several instances: announced as splits (first poll) */
    uint64_t limit_per_subtask, produced;
    struct timespec start;
};

static void insts_free(struct state *s)
{
    for (uint32_t i = 0; i < s->n_in; i++) rn_nexmark_gen_destroy(s->in[i].gen);
    free(s->in);
    s->in = NULL;
    s->n_in = s->live = s->cur = 0;
}

/* Adds the instance (instances, index) at position; 0 or an error described on ctx. */
static int inst_add(struct state *s, struct rn_op_ctx *ctx, uint32_t instances, uint32_t index, uint64_t position)
{
    struct inst *q = realloc(s->in, (s->n_in + 1) * sizeof *q);
    if (!q) return RN_ENOMEM;
    s->in = q;
    struct rn_nexmark_config c = s->cfg;
    c.num_generators = instances;
    c.index = index;
    struct inst *in = &s->in[s->n_in];
    *in = (struct inst){.instances = instances, .index = index};
    if (!(in->gen = rn_nexmark_gen_create(&c, s->kind))) {
        rn_op_error(ctx, "cannot create generator instance %u of %u", index, instances);
        return RN_EINVAL;
    }
    s->n_in++;
    s->live++;
    int rc = position ? rn_nexmark_gen_seek(in->gen, position) : 0;
    if (rc) rn_op_error(ctx, "generator instance %u of %u: position %llu is past its events", index, instances,
                        (unsigned long long)position);
    return rc;
}

static int open_(struct rn_op_ctx *ctx, void **state)
{
    struct state *s = calloc(1, sizeof *s);
    if (!s) return RN_ENOMEM;
    *state = s;
    const rn_value *o = rn_op_options(ctx);
    s->kind = RN_NEXMARK_BID;
    kind_of(rn_opt_string(o, "kind"), &s->kind);
    rn_nexmark_config_default(&s->cfg);
    s->cfg.events = (uint64_t)rn_opt_int(o, "events");
    s->cfg.seed = (uint64_t)rn_opt_int(o, "seed");
    s->cfg.rate = (uint64_t)rn_opt_int(o, "rate");
    s->cfg.base_time = rn_opt_int(o, "base_time");
    s->schema = rn_nexmark_schema(s->kind);
    s->limit_per_subtask = (uint64_t)rn_opt_int(o, "rate_limit") / rn_op_parallelism(ctx);
    if (rn_opt_int(o, "rate_limit") > 0 && s->limit_per_subtask == 0) s->limit_per_subtask = 1;
    clock_gettime(CLOCK_MONOTONIC, &s->start);
    return inst_add(s, ctx, rn_op_parallelism(ctx), rn_op_subtask(ctx), 0);
}

static int poll_(void *state, struct rn_op_ctx *ctx)
{
    struct state *s = state;
    if (!s->declared) {
        s->declared = true;
        int rc = s->n_in > 1 ? rn_op_declare_splits(ctx, s->n_in) : 0;
        if (rc) return rc;
    }
    if (!s->live) return RN_EEND;
    uint32_t n = RN_BATCH_ROWS;
    if (s->limit_per_subtask) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        double secs = (double)(now.tv_sec - s->start.tv_sec) + (double)(now.tv_nsec - s->start.tv_nsec) * 1e-9;
        double allowed = secs * (double)s->limit_per_subtask - (double)s->produced;
        if (allowed < 1) return RN_EAGAIN;
        if (allowed < n) n = (uint32_t)allowed;
    }
    while (s->in[s->cur].done) s->cur = (s->cur + 1) % s->n_in;
    uint32_t k = s->cur;
    struct inst *in = &s->in[k];
    s->cur = (k + 1) % s->n_in;   /* several instances: one batch of each in turn */
    struct rn_batch *b = rn_batch_new(s->schema, RN_BATCH_ROWS);
    if (!b) return RN_ENOMEM;
    uint64_t before = rn_nexmark_gen_position(in->gen);
    int got = rn_nexmark_gen_next(in->gen, b, n);
    s->produced += rn_nexmark_gen_position(in->gen) - before;
    if (got <= 0) {
        rn_batch_unref(b);
        if (got < 0) {
            rn_op_error(ctx, "the generator failed (%s)", rn_strerror(got));
            return got;
        }
        in->done = true;
        s->live--;
        if (s->n_in > 1) {
            int rc = rn_op_split_finished(ctx, k);
            if (rc) return rc;
        }
        return s->live ? 0 : RN_EEND;
    }
    return s->n_in > 1 ? rn_op_emit_split(ctx, k, b) : rn_op_emit(ctx, b);
}

/* ---- checkpoints: one element per instance, {version 1, instances u32, index u32,
 * position u64}, little-endian ---- */

#define GEN_LIST "nexmark.generators"
#define GEN_ELEM_LEN 17u

static int snapshot(void *state, struct rn_op_ctx *ctx, struct rn_snapshot_writer *w)
{
    struct state *s = state;
    for (uint32_t i = 0; i < s->n_in; i++) {
        uint8_t e[GEN_ELEM_LEN] = {1};
        uint64_t pos = rn_nexmark_gen_position(s->in[i].gen);
        for (int b = 0; b < 4; b++) e[1 + b] = (uint8_t)(s->in[i].instances >> (8 * b));
        for (int b = 0; b < 4; b++) e[5 + b] = (uint8_t)(s->in[i].index >> (8 * b));
        for (int b = 0; b < 8; b++) e[9 + b] = (uint8_t)(pos >> (8 * b));
        int rc = rn_snapshot_append(w, GEN_LIST, e, sizeof e);
        if (rc) {
            rn_op_error(ctx, "cannot record the generator position in the checkpoint: %s", rn_strerror(rc));
            return rc;
        }
    }
    return 0;
}

struct restoring {
    struct state *s;
    struct rn_op_ctx *ctx;
    bool bad;
};

static int restore_one(const void *val, uint32_t len, void *user)
{
    struct restoring *r = user;
    const uint8_t *p = val;
    if (len != GEN_ELEM_LEN || p[0] != 1) return r->bad = true, RN_EINVAL;
    uint32_t instances = 0, index = 0;
    uint64_t pos = 0;
    for (int b = 0; b < 4; b++) instances |= (uint32_t)p[1 + b] << (8 * b);
    for (int b = 0; b < 4; b++) index |= (uint32_t)p[5 + b] << (8 * b);
    for (int b = 0; b < 8; b++) pos |= (uint64_t)p[9 + b] << (8 * b);
    if (!instances || index >= instances) return r->bad = true, RN_EINVAL;
    if (r->s->n_in >= RN_OP_MAX_SPLITS) {
        rn_op_error(r->ctx, "the checkpoint gives this subtask more than %u generator instances", RN_OP_MAX_SPLITS);
        return RN_EINVAL;
    }
    return inst_add(r->s, r->ctx, instances, index, pos);
}

static int restore(void *state, struct rn_op_ctx *ctx, struct rn_snapshot_reader *r)
{
    struct state *s = state;
    insts_free(s);
    struct restoring st = {s, ctx, false};
    int rc = rn_restore_each(r, GEN_LIST, restore_one, &st);
    if (rc) {
        if (st.bad) rn_op_error(ctx, "checkpoint %lld: an element of list '%s' is not one nexmark wrote",
                                (long long)rn_restore_id(r), GEN_LIST);
        return rc;
    }
    /* the rate limit starts its clock again */
    s->produced = 0;
    clock_gettime(CLOCK_MONOTONIC, &s->start);
    return 0;
}

static void close_(void *state, struct rn_op_ctx *ctx)
{
    (void)ctx;
    struct state *s = state;
    if (!s) return;
    insts_free(s);
    free(s);
}

const struct rn_operator_def rn_op_nexmark = {
    .abi_version = RN_OPERATOR_ABI, .struct_size = sizeof(struct rn_operator_def),
    .name = "nexmark", .description = "generates the Nexmark benchmark's persons, auctions and bids",
    .options = options, .n_inputs_min = 0, .n_inputs_max = 0,
    .plan = plan, .open = open_, .poll = poll_, .close = close_,
    .snapshot = snapshot, .restore = restore,
};
