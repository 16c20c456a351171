/*
 * nexmark.c — `nexmark`: the Nexmark event generator (nexmark_gen.h) as a source. Each subtask
 * generates its own id range on the shared event-time timeline; `events` bounds the stream (0 =
 * unbounded); `rate_limit` paces it in wall-clock time (0 = as fast as possible).
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

struct state {
    rn_nexmark_gen *gen;
    const rn_schema *schema;
    uint64_t limit_per_subtask, produced;
    struct timespec start;
};

static int open_(struct rn_op_ctx *ctx, void **state)
{
    struct state *s = calloc(1, sizeof *s);
    if (!s) return RN_ENOMEM;
    *state = s;
    const rn_value *o = rn_op_options(ctx);
    enum rn_nexmark_kind kind = RN_NEXMARK_BID;
    kind_of(rn_opt_string(o, "kind"), &kind);
    struct rn_nexmark_config c;
    rn_nexmark_config_default(&c);
    c.events = (uint64_t)rn_opt_int(o, "events");
    c.seed = (uint64_t)rn_opt_int(o, "seed");
    c.rate = (uint64_t)rn_opt_int(o, "rate");
    c.base_time = rn_opt_int(o, "base_time");
    c.num_generators = rn_op_parallelism(ctx);
    c.index = rn_op_subtask(ctx);
    s->schema = rn_nexmark_schema(kind);
    s->limit_per_subtask = (uint64_t)rn_opt_int(o, "rate_limit") / c.num_generators;
    if (rn_opt_int(o, "rate_limit") > 0 && s->limit_per_subtask == 0) s->limit_per_subtask = 1;
    clock_gettime(CLOCK_MONOTONIC, &s->start);
    if (!(s->gen = rn_nexmark_gen_create(&c, kind))) {
        rn_op_error(ctx, "cannot create the generator");
        return RN_EINVAL;
    }
    return 0;
}

static int poll_(void *state, struct rn_op_ctx *ctx)
{
    struct state *s = state;
    uint32_t n = RN_BATCH_ROWS;
    if (s->limit_per_subtask) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        double secs = (double)(now.tv_sec - s->start.tv_sec) + (double)(now.tv_nsec - s->start.tv_nsec) * 1e-9;
        double allowed = secs * (double)s->limit_per_subtask - (double)s->produced;
        if (allowed < 1) return RN_EAGAIN;
        if (allowed < n) n = (uint32_t)allowed;
    }
    struct rn_batch *b = rn_batch_new(s->schema, RN_BATCH_ROWS);
    if (!b) return RN_ENOMEM;
    int got = rn_nexmark_gen_next(s->gen, b, n);
    if (got <= 0) {
        rn_batch_unref(b);
        if (got < 0) rn_op_error(ctx, "the generator failed (%s)", rn_strerror(got));
        return got < 0 ? got : RN_EEND;
    }
    s->produced += (uint64_t)rn_nexmark_gen_position(s->gen) - s->produced;
    return rn_op_emit(ctx, b);
}

static void close_(void *state, struct rn_op_ctx *ctx)
{
    (void)ctx;
    struct state *s = state;
    if (!s) return;
    rn_nexmark_gen_destroy(s->gen);
    free(s);
}

const struct rn_operator_def rn_op_nexmark = {
    .abi_version = RN_OPERATOR_ABI, .struct_size = sizeof(struct rn_operator_def),
    .name = "nexmark", .description = "generates the Nexmark benchmark's persons, auctions and bids",
    .options = options, .n_inputs_min = 0, .n_inputs_max = 0,
    .plan = plan, .open = open_, .poll = poll_, .close = close_,
};
