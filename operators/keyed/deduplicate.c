/*
 * deduplicate.c — `deduplicate`: per key, `keep: first` passes the first row of each key and
 * drops the later ones; `keep: last` passes a row when it differs from the last row passed for
 * its key (an upsert stream of each key's latest row, without repeats). With `ttl`, a key not
 * seen for that long (processing time) is forgotten: its next row counts as a first one.
 *
 * Per batch: rows are first reduced within the batch (the first, or the last, row per distinct
 * key), then keyed state is read and written once per distinct key. State holds a marker
 * (first) or a 64-bit hash of the last row passed (last).
 *
 * Checkpoints: nothing to do: the markers (and their TTL write times) are keyed state, written
 * in the batch that decides them.
 */
#include <stdlib.h>
#include <string.h>

#include "builtin.h"
#include "runnel/hash.h"

static const struct rn_option options[] = {
    {"keep", RN_OPT_STRING, "first", "first (the first row of each key) or last (each key's latest row, when it changes)"},
    {"ttl", RN_OPT_DURATION, "0", "forget a key not seen for this long (processing time); 0 = never"},
    {NULL, 0, NULL, NULL},
};

static int plan(struct rn_plan_ctx *ctx)
{
    const rn_value *o = rn_plan_options(ctx);
    const char *keep = rn_opt_string(o, "keep");
    if (!keep || (strcmp(keep, "first") && strcmp(keep, "last")))
        return rn_plan_error(ctx, rn_opt_value(o, "keep"), "keep must be first or last");
    struct rn_type t;
    const char *name;
    if (rn_plan_key(ctx, 0, &t, &name)) return RN_EINVAL;
    return rn_plan_set_output(ctx, rn_plan_input_schema(ctx, 0));
}

struct state {
    bool last;
    rn_state_backend *backend;
    rn_state *seen;
    uint32_t cap;
    uint32_t *pick;             /* per distinct key: the row kept from this batch */
    struct rn_state_key *dkeys;
    int64_t *ns;
    uint64_t *row_hash;         /* keep last: hash of each picked row */
    const void **vals;
    uint32_t *lens, *sel;
};

static int open_(struct rn_op_ctx *ctx, void **state)
{
    struct state *st = calloc(1, sizeof *st);
    if (!st) return RN_ENOMEM;
    *state = st;
    const rn_value *o = rn_op_options(ctx);
    st->last = !strcmp(rn_opt_string(o, "keep"), "last");
    if (!(st->backend = rn_op_state(ctx))) return RN_EINVAL;
    struct rn_state_desc d = {"deduplicate.seen", RN_STATE_VALUE, 8, rn_opt_duration(o, "ttl"), NULL, NULL};
    return rn_op_state_declare(ctx, &d, &st->seen);
}

static int grow(struct state *st, uint32_t n)
{
    if (n <= st->cap) return 0;
#define GROW(p, count) do { void *q_ = realloc((p), (size_t)(count) * sizeof *(p)); if (!q_) return RN_ENOMEM; (p) = q_; } while (0)
    GROW(st->pick, n);
    GROW(st->dkeys, n);
    GROW(st->ns, n);
    GROW(st->row_hash, n);
    GROW(st->vals, n);
    GROW(st->lens, n);
    GROW(st->sel, n);
#undef GROW
    st->cap = n;
    return 0;
}

/* A hash of every column of row r (keep last: "did the key's row change?"). */
static uint64_t row_hash(const struct rn_batch *b, uint32_t r)
{
    uint64_t h = 0x243f6a8885a308d3ull;
    for (uint32_t c = 0; c < b->n_cols; c++) {
        uint64_t x;
        uint8_t buf[64];
        uint32_t len = rn_state_key_encode(&b->cols[c], 1, r, buf, sizeof buf);
        if (len <= sizeof buf) {
            x = rn_hash_bytes(buf, len);
        } else {
            uint8_t *p = malloc(len);
            if (!p) return 0;
            rn_state_key_encode(&b->cols[c], 1, r, p, len);
            x = rn_hash_bytes(p, len);
            free(p);
        }
        h = rn_hash_combine(h, x);
    }
    return h;
}

static int process(void *state, struct rn_op_ctx *ctx, uint32_t input, const struct rn_batch *b)
{
    (void)input;
    struct state *st = state;
    struct rn_op_keys keys;
    int rc = rn_op_keys(ctx, 0, b, &keys);
    if (rc || (rc = grow(st, b->n_rows))) return rc;
    /* the first (or last) row of each distinct key in this batch (the runtime grouped them) */
    uint32_t nd = keys.n_groups;
    for (uint32_t d = 0; d < nd; d++) {
        st->dkeys[d] = keys.group_keys[d];
        st->ns[d] = 0;
        st->pick[d] = st->last ? keys.last_row[d] : keys.first_row[d];
    }
    if ((rc = rn_state_get_many(st->seen, st->dkeys, st->ns, nd, st->vals, st->lens))) {
        rn_op_error(ctx, "keyed state: %s", rn_strerror(rc));
        return rc;
    }
    uint32_t n_sel = 0;
    for (uint32_t d = 0; d < nd; d++) {
        uint64_t mark = st->last ? row_hash(b, st->pick[d]) : 1;
        uint64_t old = 0;
        if (st->vals[d]) memcpy(&old, st->vals[d], 8);
        bool pass = st->last ? (!st->vals[d] || old != mark) : !st->vals[d];
        st->row_hash[d] = mark;
        if (pass) st->sel[n_sel++] = st->pick[d];
    }
    /* write after reading everything: the pointers from get_many stay valid until now */
    for (uint32_t d = 0; d < nd && rc == 0; d++)
        if (st->last || !st->vals[d]) rc = rn_state_put(st->seen, &st->dkeys[d], 0, &st->row_hash[d], 8);
    if (rc) {
        rn_op_error(ctx, "keyed state: %s", rn_strerror(rc));
        return rc;
    }
    /* rows leave in input order */
    for (uint32_t i = 1; i < n_sel; i++)
        for (uint32_t j = i; j > 0 && st->sel[j - 1] > st->sel[j]; j--) {
            uint32_t t = st->sel[j];
            st->sel[j] = st->sel[j - 1];
            st->sel[j - 1] = t;
        }
    if (!n_sel) return 0;
    struct rn_batch *out = rn_batch_select(b, st->sel, n_sel);
    return out ? rn_op_emit(ctx, out) : RN_ENOMEM;
}

static void close_(void *state, struct rn_op_ctx *ctx)
{
    (void)ctx;
    struct state *st = state;
    if (!st) return;
    free(st->pick);
    free(st->dkeys);
    free(st->ns);
    free(st->row_hash);
    free(st->vals);
    free(st->lens);
    free(st->sel);
    free(st);
}

const struct rn_operator_def rn_op_deduplicate = {
    .abi_version = RN_OPERATOR_ABI, .struct_size = sizeof(struct rn_operator_def),
    .name = "deduplicate", .description = "the first row per key, or each key's latest row when it changes",
    .options = options, .n_inputs_min = 1, .n_inputs_max = 1, .flags = RN_OP_KEYED,
    .plan = plan, .open = open_, .process = process, .close = close_,
};
