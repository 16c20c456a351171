/*
 * operators/join/join.c — `join`: the regular (unwindowed) equi-join of two keyed inputs, inner
 * or left, with an optional time-to-live of the stored rows (docs/job-spec.md, "Joins").
 *
 * Each side's rows are kept in keyed list state (key = the row's join key). A row arriving on
 * one side is joined with every stored row of the other side under the same key, each pair is
 * emitted at once, and the row is stored for the rows still to come on the other side. Flink's
 * regular join does the same; runnel has no retractions, so a left join cannot emit (l, NULL)
 * first and retract it when a match comes: it emits (l, NULL) only once l can no longer match,
 * that is when l expires (ttl) or at the end of the input (see "Joins" in docs/job-spec.md).
 *
 * Per batch the rows are grouped by key (rn_op_keys): per distinct key the other side's list is
 * read once and the batch's rows of that key are appended as one list element (a "chunk"):
 *     i64 stored_at (processing time, ms) | u8 matched | u32 n_rows | n_rows encoded rows
 * `matched` is used by left joins only: whether some right row was seen while the left chunk
 * was alive. A right row that finds unmatched live left chunks rewrites its key's left list
 * once with the flags set (the list is then all matched until new unmatched rows come).
 *
 * Time-to-live (processing time, Flink's state TTL): a row stored at t is gone once now - t >=
 * ttl. Inner joins use the state backend's TTL on both lists (expired rows are never read and
 * are dropped lazily). Left joins keep the left list without backend TTL: the expiry of left
 * chunks is checked on every read, and a processing-time timer per (key, stored_at + ttl)
 * emits the expired unmatched rows with NULLs and drops the expired chunks. At the end of the
 * input every left row still unmatched is emitted with NULLs (whether or not it expired).
 *
 * Rows whose key is NULL never match (SQL semantics): an inner join drops them, a left join
 * emits a left one with NULLs at once; both count them in the metric null_keys.
 *
 * Checkpoints: nothing to do. Both sides' rows (with their stored_at and matched flags), the
 * backend's TTL times and the left join's expiry timers are keyed state, and the output writer
 * is emptied at the end of every callback.
 */
#include <stdlib.h>
#include <string.h>

#include "builtin.h"
#include "join_common.h"

static const struct rn_option options[] = {
    {"type", RN_OPT_STRING, "inner", "inner (pairs only) or left (also each left row that never found a match, "
                                     "with NULLs for the right columns, once it expires or at the end of the input)"},
    {"ttl", RN_OPT_DURATION, "0s", "stored rows expire this long after they were stored (processing time); 0 = never"},
    RN_JOIN_PREFIX_OPTIONS,
    {NULL, 0, NULL, NULL},
};

#define CHUNK_HEADER 13u   /* i64 stored_at, u8 matched, u32 n_rows */

static int plan(struct rn_plan_ctx *ctx)
{
    const rn_value *o = rn_plan_options(ctx);
    const char *type = rn_opt_string(o, "type");
    if (!type || (strcmp(type, "inner") && strcmp(type, "left")))
        return rn_plan_error(ctx, rn_opt_value(o, "type"), "type must be inner or left");
    rn_schema *out;
    int rc = rn__join_plan_output(ctx, !strcmp(type, "left"), NULL, 0, &out);
    if (rc) return rc;
    rc = rn_plan_set_output(ctx, out);
    rn_schema_unref(out);
    return rc;
}

/* ---- run time ---- */

struct state {
    bool left_join;
    int64_t ttl;
    struct rn__join_codec codec[2];
    struct rn__join_view view;      /* a stored row (either side: sized for the wider) */
    struct rn__join_out out;
    rn_state *rows[2];              /* list state per side */
    struct rn__join_groups groups;
    struct rn__join_buf chunk;      /* the chunk being built */
    struct rn__join_buf copy;       /* a key's left list, copied for a rewrite */
    _Atomic uint64_t *null_keys;
};

static int open_(struct rn_op_ctx *ctx, void **state)
{
    struct state *st = calloc(1, sizeof *st);
    if (!st) return RN_ENOMEM;
    *state = st;
    const rn_value *o = rn_op_options(ctx);
    st->left_join = !strcmp(rn_opt_string(o, "type"), "left");
    st->ttl = rn_opt_duration(o, "ttl");
    int rc;
    for (uint32_t i = 0; i < 2; i++)
        if ((rc = rn__join_codec_init(&st->codec[i], rn_op_input_schema(ctx, i)))) return rc;
    struct rn__join_codec *wide = st->codec[0].n_cols >= st->codec[1].n_cols ? &st->codec[0] : &st->codec[1];
    if ((rc = rn__join_view_init(&st->view, wide))) return rc;
    rn__join_out_init(&st->out, ctx, &st->codec[0], &st->codec[1]);
    /* a left join expires its left rows itself (it must see them go, to emit the unmatched) */
    struct rn_state_desc d[2] = {
        {"join.left", RN_STATE_LIST, 0, st->left_join ? 0 : st->ttl, NULL, NULL},
        {"join.right", RN_STATE_LIST, 0, st->ttl, NULL, NULL},
    };
    for (uint32_t i = 0; i < 2; i++)
        if ((rc = rn_op_state_declare(ctx, &d[i], &st->rows[i]))) return rc;
    st->null_keys = rn_op_metric(ctx, "null_keys");
    return 0;
}

struct chunk {
    int64_t stored_at;
    bool matched;
    uint32_t n_rows;
    const uint8_t *rows;
    size_t len;
};

static bool chunk_parse(const void *val, uint32_t len, struct chunk *c)
{
    if (len < CHUNK_HEADER) return false;
    const uint8_t *p = val;
    memcpy(&c->stored_at, p, 8);
    c->matched = p[8] != 0;
    memcpy(&c->n_rows, p + 9, 4);
    c->rows = p + CHUNK_HEADER;
    c->len = len - CHUNK_HEADER;
    return true;
}

/* A left chunk the left join's own expiry has retired (inner joins: the backend's TTL). */
static bool left_expired(const struct state *st, const struct chunk *c, int64_t now)
{
    return st->left_join && st->ttl > 0 && now - c->stored_at >= st->ttl;
}

/* Emits every stored row of chunk c (of side `side`) paired with each of the batch rows
 * rows[0..n) of the other side (or, when b is NULL, with NULLs). */
static int emit_chunk(struct state *st, uint32_t side, const struct chunk *c, const struct rn_batch *b,
                      const uint32_t *rows, uint32_t n)
{
    const struct rn__join_codec *codec = &st->codec[side];
    const uint8_t *p = c->rows;
    size_t left = c->len;
    for (uint32_t i = 0; i < c->n_rows; i++) {
        size_t used = rn__join_row_view(codec, p, left, &st->view);
        if (!used) {
            rn_op_error(st->out.ctx, "keyed state: a stored row is corrupt");
            return RN_ECORRUPT;
        }
        p += used;
        left -= used;
        struct rn__join_ref stored = {NULL, 0, &st->view};
        if (!b) {
            int rc = rn__join_out_pair(&st->out, &stored, NULL, NULL, 0);
            if (rc) return rc;
            continue;
        }
        for (uint32_t j = 0; j < n; j++) {
            struct rn__join_ref live = {b, rows[j], NULL};
            int rc = side == 0 ? rn__join_out_pair(&st->out, &stored, &live, NULL, 0)
                               : rn__join_out_pair(&st->out, &live, &stored, NULL, 0);
            if (rc) return rc;
        }
    }
    return 0;
}

struct probe {
    struct state *st;
    uint32_t other;                 /* the side of the stored rows */
    const struct rn_batch *b;
    const uint32_t *rows;
    uint32_t n;
    int64_t now;
    bool matched;                   /* some live stored row was found */
    bool unmatched;                 /* a live, unmatched left chunk was found */
};

static int probe_fn(const void *val, uint32_t len, void *user)
{
    struct probe *p = user;
    struct chunk c;
    if (!chunk_parse(val, len, &c)) {
        rn_op_error(p->st->out.ctx, "keyed state: a stored chunk is corrupt");
        return RN_ECORRUPT;
    }
    if (p->other == 0 && left_expired(p->st, &c, p->now)) return 0;
    if (c.n_rows) p->matched = true;
    if (p->other == 0 && !c.matched) p->unmatched = true;
    return emit_chunk(p->st, p->other, &c, p->b, p->rows, p->n);
}

static int copy_fn(const void *val, uint32_t len, void *user)
{
    struct rn__join_buf *b = user;
    int rc = rn__join_buf_append(b, &len, 4);
    return rc ? rc : rn__join_buf_append(b, val, len);
}

/* Rewrites key k's left list: chunks alive at `now` get matched = 1 (mark), and chunks that
 * expired are dropped after their unmatched rows are emitted with NULLs (expire). */
static int rewrite_left(struct state *st, const struct rn_state_key *k, int64_t now, bool mark, bool expire)
{
    st->copy.len = 0;
    int rc = rn_state_list_each(st->rows[0], k, 0, copy_fn, &st->copy);
    if (rc) return rc;
    if ((rc = rn_state_remove(st->rows[0], k, 0))) return rc;
    for (size_t at = 0; at < st->copy.len && rc == 0;) {
        uint32_t len;
        memcpy(&len, st->copy.p + at, 4);
        uint8_t *val = st->copy.p + at + 4;
        at += 4 + (size_t)len;
        struct chunk c;
        if (!chunk_parse(val, len, &c)) return RN_ECORRUPT;
        if (left_expired(st, &c, now)) {
            if (expire) {
                if (!c.matched) rc = emit_chunk(st, 0, &c, NULL, NULL, 0);
                continue;
            }
        } else if (mark) {
            val[8] = 1;
        }
        if (!rc) rc = rn_state_list_append(st->rows[0], k, 0, val, len);
    }
    return rc;
}

static int process(void *state, struct rn_op_ctx *ctx, uint32_t input, const struct rn_batch *b)
{
    struct state *st = state;
    uint32_t side = input ? 1 : 0, other = 1 - side;
    struct rn_op_keys keys;
    int rc = rn_op_keys(ctx, side, b, &keys);
    if (rc || (rc = rn__join_group(&st->groups, &keys))) return rc;
    int64_t now = rn_op_processing_time(ctx);
    for (uint32_t g = 0; g < st->groups.n_groups && rc == 0; g++) {
        const uint32_t *rows = st->groups.order + st->groups.start[g];
        uint32_t n = st->groups.start[g + 1] - st->groups.start[g];
        const struct rn_state_key *k = &keys.group_keys[g];
        if (rn_column_is_null(keys.column, keys.first_row[g])) {
            if (st->null_keys) *st->null_keys += n;
            for (uint32_t j = 0; j < n && rc == 0 && st->left_join && side == 0; j++) {
                struct rn__join_ref l = {b, rows[j], NULL};
                rc = rn__join_out_pair(&st->out, &l, NULL, NULL, 0);
            }
            continue;
        }
        /* 1. the other side's rows of this key */
        struct probe p = {st, other, b, rows, n, now, false, false};
        if ((rc = rn_state_list_each(st->rows[other], k, 0, probe_fn, &p))) break;
        /* 2. left join: live left rows that had no match have one now */
        if (st->left_join && side == 1 && p.unmatched && (rc = rewrite_left(st, k, now, true, false))) break;
        /* 3. store this batch's rows of the key as one chunk */
        st->chunk.len = 0;
        if ((rc = rn__join_buf_reserve(&st->chunk, CHUNK_HEADER))) break;
        memcpy(st->chunk.p, &now, 8);
        st->chunk.p[8] = side == 0 && p.matched;
        memcpy(st->chunk.p + 9, &n, 4);
        st->chunk.len = CHUNK_HEADER;
        for (uint32_t j = 0; j < n && rc == 0; j++) rc = rn__join_row_append(b, rows[j], &st->chunk);
        if (!rc) rc = rn_state_list_append(st->rows[side], k, 0, st->chunk.p, (uint32_t)st->chunk.len);
        if (!rc && st->left_join && side == 0 && st->ttl > 0)
            rc = rn_op_timer_register(ctx, RN_TIMER_PROCESSING, k, 0, rn__join_add_sat(now, st->ttl));
    }
    if (rc == 0) rc = rn__join_out_flush(&st->out);
    return rc;
}

/* Left joins with a ttl: left rows of timer->key stored at timer->time - ttl have expired. */
static int on_timer(void *state, struct rn_op_ctx *ctx, const struct rn_timer *timer)
{
    struct state *st = state;
    int64_t now = rn_op_processing_time(ctx);
    if (now < timer->time) now = timer->time;
    int rc = rewrite_left(st, &timer->key, now, false, true);
    if (rc == 0) rc = rn__join_out_flush(&st->out);
    return rc;
}

static int unmatched_fn(const struct rn_state_entry *e, void *user)
{
    struct state *st = user;
    struct chunk c;
    if (!chunk_parse(e->val, e->len, &c)) return RN_ECORRUPT;
    return c.matched ? 0 : emit_chunk(st, 0, &c, NULL, NULL, 0);
}

/* End of input: a left join emits every left row that is still unmatched. */
static int finish(void *state, struct rn_op_ctx *ctx)
{
    struct state *st = state;
    if (!st->left_join) return 0;
    int rc = rn_state_each(st->rows[0], 0, rn_op_max_parallelism(ctx) - 1, unmatched_fn, st);
    if (rc == 0) rc = rn__join_out_flush(&st->out);
    return rc;
}

static void close_(void *state, struct rn_op_ctx *ctx)
{
    (void)ctx;
    struct state *st = state;
    if (!st) return;
    rn__join_out_free(&st->out);
    for (uint32_t i = 0; i < 2; i++) rn__join_codec_free(&st->codec[i]);
    rn__join_view_free(&st->view);
    rn__join_groups_free(&st->groups);
    rn__join_buf_free(&st->chunk);
    rn__join_buf_free(&st->copy);
    free(st);
}

const struct rn_operator_def rn_op_join = {
    .abi_version = RN_OPERATOR_ABI, .struct_size = sizeof(struct rn_operator_def),
    .name = "join", .description = "regular equi-join of two keyed inputs (inner or left), with an optional state TTL",
    .options = options, .n_inputs_min = 2, .n_inputs_max = 2, .flags = RN_OP_KEYED,
    .plan = plan, .open = open_, .process = process, .on_timer = on_timer, .finish = finish, .close = close_,
};
