/*
 * operators/window/top_n.c — `top_n` (Flink's Top-N): per key, the n best rows by an order_by
 * list, in three modes:
 *   window        each row goes to its tumbling or sliding window (event time by default); the
 *                 window's top rows leave when it closes (watermark or clock at end - 1), with
 *                 window_start and window_end columns added.
 *   window_column the rows are window results already (window_aggregate's output): they are
 *                 grouped by that column's value (a window end) and a group's top rows leave
 *                 when the watermark reaches value - 1.
 *   neither       the top rows per key over the whole input, emitted at its end (a continuous
 *                 top-n needs retractions, which runnel's streams do not carry yet).
 * `with_ties: true` keeps every row tied with the n-th (SQL RANK <= n); false keeps exactly n,
 * the row that arrived first winning a tie. `rank_column` adds the rank (1..n).
 *
 * State: one value per (key, namespace) holding that group's best rows so far, sorted, each as
 * (order key, row) bytes (winrows.h): the order key is the memcmp-ordered encoding of the
 * order_by values followed by an 8-byte arrival number, so that one memcmp decides the order and
 * ties go to the earlier row. The namespace is the end of a pane (tumbling: the window; sliding:
 * the gcd(size, slide) slices that windows are unions of, so a row is stored once, not
 * size/slide times), the window_column value, or 0. State is bounded: a row that cannot make
 * the top n is dropped at once.
 *
 * Per batch: the rows are grouped by (key, namespace); each group's candidates are chosen in
 * a scratch array (a row worse than the group's n-th so far is dropped with one memcmp); then
 * state is read once per group (rn_state_get_many), merged with the candidates, and written
 * back only when a candidate made it. A group seen for the first time registers a timer for the
 * first window that will hold it; when a window fires, its panes are merged, its top rows
 * emitted, the panes no later window needs removed, and the next window's timer registered when
 * panes remain (sliding).
 *
 * Checkpoints: the rows and timers are keyed state already. What memory holds is the arrival
 * counter that breaks ties, recorded in a union list and restored as the largest over the old
 * subtasks (rows arriving after a restore must sort after every stored row of their key,
 * whichever old subtask stored it), and the watermark (keyed/ckpt.h: a group first seen after a
 * restore must not get the timer of a window that fired before the checkpoint).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builtin.h"
#include "keyed/ckpt.h"
#include "window_spec.h"
#include "winrows.h"

#define TOPN_MAX_N 1000000
#define TOPN_MAX_PANES 100000   /* panes per sliding window (size / gcd(size, slide)) */

static const struct rn_option options[] = {
    {"n", RN_OPT_INT, "10", "rows kept per key (per key and window when windowed), 1 to 1000000"},
    {"order_by", RN_OPT_STRING, NULL,
     "the best rows first: one or more `expr [asc|desc] [nulls first|last]`, comma separated (asc, nulls last by "
     "default)"},
    {"with_ties", RN_OPT_BOOL, "false",
     "also keep the rows tied with the n-th (RANK semantics); false keeps exactly n, the first arrived winning ties"},
    {"rank_column", RN_OPT_STRING, "", "when set, an int64 column of this name holds each row's rank (1..n)"},
    {"window", RN_OPT_MAP, "",
     "a tumbling or sliding window ({type: tumbling, size: 10s}; see window_aggregate): the top rows per key and "
     "window, emitted when it closes, with window_start and window_end"},
    {"window_column", RN_OPT_STRING, "",
     "a timestamp or int64 column holding each row's window end (input rows that are window results): the top "
     "rows per key and value, emitted when the watermark reaches value - 1"},
    {NULL, 0, NULL, NULL},
};

enum mode { M_NONE, M_WINDOW, M_COLUMN };

static const char *opt_text(const rn_value *o, const char *name)
{
    const char *s = rn_opt_string(o, name);
    return s && *s ? s : NULL;
}

static int plan(struct rn_plan_ctx *ctx)
{
    const rn_value *o = rn_plan_options(ctx);
    const rn_schema *in = rn_plan_input_schema(ctx, 0);
    struct rn_type kt;
    const char *kn;
    int rc = rn_plan_key(ctx, 0, &kt, &kn);
    if (rc) return rc;
    int64_t n = rn_opt_int(o, "n");
    if (n < 1 || n > TOPN_MAX_N) return rn_plan_error(ctx, rn_opt_value(o, "n"), "n must be from 1 to %d", TOPN_MAX_N);
    struct rn__wr_order ord;
    char msg[512];
    rc = rn__wr_order_parse(rn_opt_string(o, "order_by"), in, &ord, msg, sizeof msg);
    rn__wr_order_free(&ord);
    if (rc) return rn_plan_error(ctx, rn_opt_value(o, "order_by"), "order_by: %s", msg);
    const rn_value *wv = rn_opt_value(o, "window");
    const char *wc = opt_text(o, "window_column");
    const char *rank = opt_text(o, "rank_column");
    if (wv && wc)
        return rn_plan_error(ctx, rn_opt_value(o, "window_column"),
                             "set window (rows to assign to windows) or window_column (rows that are window results "
                             "already), not both");
    if (wv) {
        struct rn_win_spec spec;
        if (rn_win_spec_plan(ctx, "window", 0, &spec)) return RN_EINVAL;
        if (spec.type != RN_WIN_TUMBLING && spec.type != RN_WIN_SLIDING)
            return rn_plan_error(ctx, wv, "top_n takes tumbling and sliding windows, not %s (window_process takes any)",
                                 rn_win_type_name(spec.type));
        if (spec.size / spec.pane > TOPN_MAX_PANES)
            return rn_plan_error(ctx, wv, "size / gcd(size, slide) is %lld: at most %d panes per window",
                                 (long long)(spec.size / spec.pane), TOPN_MAX_PANES);
        for (int i = 0; i < 2; i++) {
            const char *c = i ? "window_end" : "window_start";
            if (rn_schema_find(in, c) >= 0)
                return rn_plan_error(ctx, wv,
                                     "the input already has a column '%s': for rows that are window results, use "
                                     "window_column: window_end instead of window",
                                     c);
        }
    }
    if (wc) {
        int at = rn_schema_find(in, wc);
        if (at < 0) return rn_plan_error(ctx, rn_opt_value(o, "window_column"), "no column '%s' in the input", wc);
        enum rn_type_id id = rn_schema_field(in, (size_t)at)->type.id;
        if (id != RN_T_TIMESTAMP && id != RN_T_INT64)
            return rn_plan_error(ctx, rn_opt_value(o, "window_column"), "window_column '%s' is not a timestamp or int64",
                                 wc);
    }
    if (rank && rn_schema_find(in, rank) >= 0)
        return rn_plan_error(ctx, rn_opt_value(o, "rank_column"), "the input already has a column '%s'", rank);
    if (rank && wv && (!strcmp(rank, "window_start") || !strcmp(rank, "window_end")))
        return rn_plan_error(ctx, rn_opt_value(o, "rank_column"), "'%s' is the name of a window column", rank);
    rn_schema *out = rn_schema_create();
    if (!out) return RN_ENOMEM;
    for (size_t i = 0; i < rn_schema_len(in) && !rc; i++) {
        const struct rn_field *f = rn_schema_field(in, i);
        rc = rn_schema_add(out, f->name, f->type, f->nullable);
    }
    if (!rc && wv) rc = rn_schema_add(out, "window_start", rn_type_of(RN_T_TIMESTAMP), false);
    if (!rc && wv) rc = rn_schema_add(out, "window_end", rn_type_of(RN_T_TIMESTAMP), false);
    if (!rc && rank) rc = rn_schema_add(out, rank, rn_type_of(RN_T_INT64), false);
    if (!rc) rn_plan_set_output(ctx, out);
    rn_schema_unref(out);
    return rc ? rn_plan_error(ctx, NULL, "cannot build the output schema") : 0;
}

/* ---- run time ---- */

/* One kept row: its order key (ending with the 8-byte arrival number) and the row, either
 * encoded (payload) or still in the batch (row >= 0). */
struct ent {
    const uint8_t *key;
    uint32_t klen;
    uint32_t plen;
    const uint8_t *payload;
    int64_t row;
};

struct topn {
    enum mode mode;
    uint32_t n;
    bool ties, has_rank;
    struct rn_win_spec spec;
    int time_col, win_col;
    enum rn_timer_kind tkind;
    uint32_t n_in;
    const rn_schema *in;
    struct rn__wr_order order;
    rn_state *rows;
    rn_builder *out;
    uint64_t seq;                 /* arrival number of the next row */
    int64_t wm_floor;             /* the watermark at the checkpoint restored from */
    _Atomic uint64_t *late, *no_time;
    struct rn__wr_groups groups;
    /* per batch, per row */
    uint32_t cap_rows;
    int64_t *ns;
    bool *keep;
    uint32_t *koff, *klen;        /* the row's order key in keys */
    uint32_t *cand;               /* candidates, cand_start[g] .. + cand_n[g] per group */
    uint8_t *keys;
    size_t keys_cap;
    /* per batch, per group */
    uint32_t cap_groups;
    uint32_t *cand_start, *cand_n;
    struct rn_state_key *gkeys;
    const void **vals;
    uint32_t *lens;
    size_t *moff;
    int64_t *pns;                 /* firing: the namespaces of a window's panes */
    uint32_t *mlen;               /* the merged value in merged; 0 = unchanged */
    bool *fresh;                  /* nothing was stored yet */
    uint8_t *merged;
    size_t merged_cap;
    /* merging and firing */
    struct ent *ents;
    uint32_t ents_cap;
    uint8_t *tkey;                /* a timer's key bytes, copied */
    size_t tkey_cap;
};

static int open_(struct rn_op_ctx *ctx, void **state)
{
    struct topn *st = calloc(1, sizeof *st);
    if (!st) return RN_ENOMEM;
    *state = st;
    const rn_value *o = rn_op_options(ctx);
    st->in = rn_op_input_schema(ctx, 0);
    st->n_in = (uint32_t)rn_schema_len(st->in);
    st->n = (uint32_t)rn_opt_int(o, "n");
    st->ties = rn_opt_bool(o, "with_ties");
    st->has_rank = opt_text(o, "rank_column") != NULL;
    st->time_col = st->win_col = -1;
    st->tkind = RN_TIMER_EVENT;
    st->wm_floor = INT64_MIN;
    char msg[512];
    if (rn__wr_order_parse(rn_opt_string(o, "order_by"), st->in, &st->order, msg, sizeof msg)) {
        rn_op_error(ctx, "order_by: %s", msg);
        return RN_EINVAL;
    }
    if (rn_opt_value(o, "window")) {
        st->mode = M_WINDOW;
        if (rn_win_spec_open(ctx, "window", 0, &st->spec, &st->time_col)) return RN_EINVAL;
        if (st->spec.processing_time) st->tkind = RN_TIMER_PROCESSING;
    } else if (opt_text(o, "window_column")) {
        st->mode = M_COLUMN;
        st->win_col = rn_schema_find(st->in, opt_text(o, "window_column"));
    }
    st->late = rn_op_metric(ctx, "late_rows");
    st->no_time = rn_op_metric(ctx, "rows_without_time");
    if (!(st->out = rn_builder_create(rn_op_output_schema(ctx), 0))) return RN_ENOMEM;
    struct rn_state_desc d = {"top_n.rows", RN_STATE_VALUE, 0, 0, NULL, NULL};
    return rn_op_state_declare(ctx, &d, &st->rows);
}

static void close_(void *state, struct rn_op_ctx *ctx)
{
    (void)ctx;
    struct topn *st = state;
    if (!st) return;
    rn__wr_order_free(&st->order);
    rn_builder_destroy(st->out);
    rn__wr_groups_free(&st->groups);
    free(st->ns);
    free(st->keep);
    free(st->koff);
    free(st->klen);
    free(st->cand);
    free(st->keys);
    free(st->cand_start);
    free(st->cand_n);
    free(st->gkeys);
    free(st->vals);
    free(st->lens);
    free(st->moff);
    free(st->pns);
    free(st->mlen);
    free(st->fresh);
    free(st->merged);
    free(st->ents);
    free(st->tkey);
    free(st);
}

#define GROW(p, count)                                                        \
    do {                                                                      \
        void *q_ = realloc((p), (size_t)(count) * sizeof *(p));               \
        if (!q_) return RN_ENOMEM;                                            \
        (p) = q_;                                                             \
    } while (0)

static int grow_rows(struct topn *st, uint32_t n)
{
    if (n <= st->cap_rows) return 0;
    GROW(st->ns, n);
    GROW(st->keep, n);
    GROW(st->koff, n);
    GROW(st->klen, n);
    GROW(st->cand, n);
    st->cap_rows = n;
    return 0;
}

static int grow_groups(struct topn *st, uint32_t n)
{
    if (n <= st->cap_groups) return 0;
    GROW(st->cand_start, n);
    GROW(st->cand_n, n);
    GROW(st->gkeys, n);
    GROW(st->vals, n);
    GROW(st->lens, n);
    GROW(st->moff, n);
    GROW(st->pns, n);
    GROW(st->mlen, n);
    GROW(st->fresh, n);
    st->cap_groups = n;
    return 0;
}

static int grow_ents(struct topn *st, uint32_t n)
{
    if (n <= st->ents_cap) return 0;
    uint32_t c = st->ents_cap ? st->ents_cap : 64;
    while (c < n) c *= 2;
    GROW(st->ents, c);
    st->ents_cap = c;
    return 0;
}
#undef GROW

/* Order of two entries: the order_by values, then arrival. */
static inline int ent_cmp(const struct ent *a, const struct ent *b) { return rn__wr_key_cmp(a->key, a->klen, b->key, b->klen); }
/* Ties on the order_by values (the arrival number left out). */
static inline bool ent_tied(const struct ent *a, const struct ent *b)
{
    return a->klen == b->klen && !memcmp(a->key, b->key, a->klen - 8);
}
static int ent_qsort_cmp(const void *a, const void *b) { return ent_cmp(a, b); }

/* How many of m sorted entries the group keeps: n, plus those tied with the n-th. */
static uint32_t kept(const struct topn *st, const struct ent *e, uint32_t m)
{
    if (m <= st->n) return m;
    if (!st->ties) return st->n;
    uint32_t k = st->n;
    while (k < m && ent_tied(&e[k], &e[st->n - 1])) k++;
    return k;
}

/* Reads a stored value (u32 count, then per row: u32 key length, u32 row length, key, row)
 * into entries at e; returns how many, or -1 when the bytes are not such a value. */
static int64_t read_value(const uint8_t *p, uint32_t len, struct ent *e, uint32_t room)
{
    if (len < 4) return -1;
    uint32_t n, at = 4;
    memcpy(&n, p, 4);
    if (n > room) return -1;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t kl, pl;
        if (len - at < 8) return -1;
        memcpy(&kl, p + at, 4);
        memcpy(&pl, p + at + 4, 4);
        at += 8;
        if (kl < 8 || len - at < kl || len - at - kl < pl) return -1;
        e[i] = (struct ent){p + at, kl, pl, p + at + kl, -1};
        at += kl + pl;
    }
    return n;
}

static uint32_t stored_count(const void *v, uint32_t len)
{
    uint32_t n = 0;
    if (v && len >= 4) memcpy(&n, v, 4);
    return n;
}

static int flush(struct topn *st, struct rn_op_ctx *ctx)
{
    if (!rn_builder_rows(st->out)) return 0;
    struct rn_error err;
    struct rn_batch *b = rn_builder_finish(st->out, &err);
    if (!b) {
        rn_op_error(ctx, "output: %s", err.msg);
        return RN_ENOMEM;
    }
    return rn_op_emit(ctx, b);
}

/* Appends the m sorted entries of one group (encoded rows) to the output, with the window
 * bounds when windowed and the rank. */
static int emit_group(struct topn *st, struct rn_op_ctx *ctx, const struct ent *e, uint32_t m, int64_t wstart,
                      int64_t wend)
{
    int64_t rank = 0;
    for (uint32_t i = 0; i < m; i++) {
        int rc = 0;
        if (rn_builder_full(st->out) && (rc = flush(st, ctx))) return rc;
        size_t used;
        if ((rc = rn__row_decode(st->out, 0, st->in, e[i].payload, e[i].plen, &used))) {
            rn_op_error(ctx, "keyed state holds a row that does not decode (%s)", rn_strerror(rc));
            return rc;
        }
        uint32_t c = st->n_in;
        if (st->mode == M_WINDOW) {
            if (!rc) rc = rn_builder_ts(st->out, c++, wstart);
            if (!rc) rc = rn_builder_ts(st->out, c++, wend);
        }
        if (!(st->ties && i > 0 && ent_tied(&e[i], &e[i - 1]))) rank = i + 1;
        if (!rc && st->has_rank) rc = rn_builder_i64(st->out, c, rank);
        if (rc) return rc;
    }
    return 0;
}

/* ---- process ---- */

static inline int row_cmp(const struct topn *st, uint32_t a, uint32_t b)
{
    return rn__wr_key_cmp(st->keys + st->koff[a], st->klen[a], st->keys + st->koff[b], st->klen[b]);
}
static inline bool row_tied(const struct topn *st, uint32_t a, uint32_t b)
{
    return st->klen[a] == st->klen[b] && !memcmp(st->keys + st->koff[a], st->keys + st->koff[b], st->klen[a] - 8);
}

/* Offers row r to group g's candidates (sorted, at most n plus ties). */
static void offer(struct topn *st, uint32_t g, uint32_t r)
{
    uint32_t *l = st->cand + st->cand_start[g], m = st->cand_n[g], n = st->n;
    /* r arrived last, so among equal order_by values it sorts last: drop it when it is not
     * better than the n-th (or, with ties, when it is worse) */
    if (m >= n) {
        int c = row_cmp(st, r, l[n - 1]);
        if (c > 0 && !(st->ties && row_tied(st, r, l[n - 1]))) return;
    }
    uint32_t lo = 0, hi = m;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (row_cmp(st, l[mid], r) < 0) lo = mid + 1;
        else hi = mid;
    }
    if (!st->ties && m == n) m--;   /* the n-th falls out */
    memmove(l + lo + 1, l + lo, (m - lo) * sizeof *l);
    l[lo] = r;
    m++;
    if (st->ties && m > n) {        /* keep only the rows tied with the n-th beyond it */
        uint32_t k = n;
        while (k < m && row_tied(st, l[k], l[n - 1])) k++;
        m = k;
    }
    st->cand_n[g] = m;
}

/* The namespace of each row and whether it is kept (not late, has a time). */
static int assign(struct topn *st, struct rn_op_ctx *ctx, const struct rn_batch *b)
{
    uint32_t n = b->n_rows;
    int64_t wm = rn__ckpt_watermark(ctx, st->wm_floor);
    uint64_t late = 0, no_time = 0;
    if (st->mode == M_NONE) {
        memset(st->ns, 0, n * sizeof *st->ns);
        memset(st->keep, 1, n * sizeof *st->keep);
        return 0;
    }
    if (st->mode == M_COLUMN) {
        const struct rn_column *c = &b->cols[st->win_col];
        for (uint32_t r = 0; r < n; r++) {
            bool has = !rn_column_is_null(c, r);
            int64_t v = has ? rn_col_i64(c, r) : 0;
            st->ns[r] = v;
            st->keep[r] = has && v - 1 > wm;
            no_time += !has;
            late += has && !st->keep[r];
        }
    } else {
        const struct rn_win_spec *s = &st->spec;
        const struct rn_column *c = st->time_col >= 0 ? &b->cols[st->time_col] : NULL;
        int64_t now = s->processing_time ? rn_op_processing_time(ctx) : wm;
        for (uint32_t r = 0; r < n; r++) {
            bool has = !c || !rn_column_is_null(c, r);
            int64_t ts = c ? (has ? rn_col_i64(c, r) : 0) : now;
            int64_t ps = rn_win_pane_start(s, ts);
            /* late: the last window holding the pane has fired */
            int64_t last_end = rn_win_end(rn_win_last_start(s, ps), s->size);
            st->ns[r] = ps + s->pane;
            st->keep[r] = has && last_end - 1 > now;
            no_time += !has;
            late += has && !st->keep[r];
        }
    }
    if (late) *st->late += late;
    if (no_time) *st->no_time += no_time;
    return 0;
}

/* Merges group g's stored rows with its candidates into merged (moff/mlen); mlen 0 when no
 * candidate made it. */
static int merge_group(struct topn *st, struct rn_op_ctx *ctx, const struct rn_batch *b, uint32_t g)
{
    uint32_t ns_stored = stored_count(st->vals[g], st->lens[g]), nc = st->cand_n[g];
    int rc = grow_ents(st, ns_stored + nc);
    if (rc) return rc;
    struct ent *e = st->ents, *stored = st->ents + nc;
    /* the stored rows are read behind room for the candidates, then merged towards the front */
    if (ns_stored && read_value(st->vals[g], st->lens[g], stored, ns_stored) < 0) {
        rn_op_error(ctx, "keyed state holds a value that is not a top-n list");
        return RN_ECORRUPT;
    }
    uint32_t i = 0, j = 0, m = 0;
    const uint32_t *cand = st->cand + st->cand_start[g];
    bool took_candidate = false;
    /* merged in place: the stored entries start at e + nc and the slot written, m = i + j, is
     * at most nc + i, so it never passes the next stored entry still to be read */
    while (i < ns_stored || j < nc) {
        struct ent c = {0};
        if (j < nc) {
            uint32_t r = cand[j];
            c = (struct ent){st->keys + st->koff[r], st->klen[r], 0, NULL, r};
        }
        bool use_stored = i < ns_stored && (j >= nc || ent_cmp(&stored[i], &c) < 0);
        if (use_stored) {
            struct ent x = stored[i++];
            e[m++] = x;
        } else {
            e[m++] = c;
            j++;
        }
    }
    uint32_t limit = kept(st, e, m);
    for (uint32_t k = 0; k < limit; k++) took_candidate |= e[k].row >= 0;
    st->fresh[g] = ns_stored == 0;
    st->mlen[g] = 0;
    if (!took_candidate) return 0;
    /* the new value */
    size_t size = 4;
    for (uint32_t k = 0; k < limit; k++) {
        if (e[k].row >= 0) e[k].plen = (uint32_t)rn__row_size(b, (uint32_t)e[k].row);
        size += 8 + (size_t)e[k].klen + e[k].plen;
    }
    if (size > UINT32_MAX) {
        rn_op_error(ctx, "a top-n list of one key grew past 4 GiB");
        return RN_ERANGE;
    }
    size_t at = st->moff[g];   /* merged is appended to in group order */
    if ((rc = rn__wr_reserve(&st->merged, &st->merged_cap, at + size))) return rc;
    uint8_t *p = st->merged + at;
    memcpy(p, &limit, 4);
    p += 4;
    for (uint32_t k = 0; k < limit; k++) {
        memcpy(p, &e[k].klen, 4);
        memcpy(p + 4, &e[k].plen, 4);
        memcpy(p + 8, e[k].key, e[k].klen);
        p += 8 + e[k].klen;
        if (e[k].row >= 0) rn__row_encode(b, (uint32_t)e[k].row, p);
        else memcpy(p, e[k].payload, e[k].plen);
        p += e[k].plen;
    }
    st->mlen[g] = (uint32_t)size;
    return 0;
}

static int process(void *state, struct rn_op_ctx *ctx, uint32_t input, const struct rn_batch *b)
{
    (void)input;
    struct topn *st = state;
    uint32_t n = b->n_rows;
    if (!n) return 0;
    struct rn_op_keys keys;
    struct rn_error err;
    int rc = rn_op_keys(ctx, 0, b, &keys);
    if (rc || (rc = grow_rows(st, n))) return rc;
    if ((rc = rn__wr_order_eval(&st->order, b, &err))) {
        rn_op_error(ctx, "order_by: %s", err.msg);
        return rc;
    }
    if ((rc = assign(st, ctx, b))) return rc;
    struct rn__wr_groups *gr = &st->groups;
    if ((rc = rn__wr_group(gr, n, keys.group, st->ns, st->keep)) || (rc = grow_groups(st, gr->n))) return rc;
    /* order keys of the kept rows, each followed by its arrival number */
    size_t at = 0;
    for (uint32_t r = 0; r < n; r++) {
        if (!st->keep[r]) continue;
        for (;;) {
            size_t room = st->keys_cap - at;
            uint32_t len = rn__wr_order_key(&st->order, r, st->keys + at, room > 8 ? (uint32_t)(room - 8) : 0);
            if ((size_t)len + 8 <= room) {
                uint64_t seq = st->seq + r;
                for (int k = 7; k >= 0; k--, seq >>= 8) st->keys[at + len + (uint32_t)k] = (uint8_t)seq;
                st->koff[r] = (uint32_t)at;
                st->klen[r] = len + 8;
                at += len + 8;
                break;
            }
            if ((rc = rn__wr_reserve(&st->keys, &st->keys_cap, at + len + 8))) return rc;
        }
    }
    st->seq += n;
    /* candidates per group */
    uint32_t off = 0;
    for (uint32_t g = 0; g < gr->n; g++) {
        st->cand_start[g] = off;
        st->cand_n[g] = 0;
        off += gr->count[g];
        st->gkeys[g] = keys.group_keys[gr->dkey[g]];
    }
    for (uint32_t r = 0; r < n; r++)
        if (st->keep[r]) offer(st, gr->group[r], r);
    /* one read per group, the merges, then one write per changed group */
    if ((rc = rn_state_get_many(st->rows, st->gkeys, gr->ns, gr->n, st->vals, st->lens))) {
        rn_op_error(ctx, "keyed state: %s", rn_strerror(rc));
        return rc;
    }
    size_t moff = 0;
    for (uint32_t g = 0; g < gr->n; g++) {
        st->moff[g] = moff;
        if ((rc = merge_group(st, ctx, b, g))) return rc;
        moff += st->mlen[g];
    }
    for (uint32_t g = 0; g < gr->n; g++) {
        if (!st->mlen[g]) continue;
        if ((rc = rn_state_put(st->rows, &st->gkeys[g], gr->ns[g], st->merged + st->moff[g], st->mlen[g]))) {
            rn_op_error(ctx, "keyed state: %s", rn_strerror(rc));
            return rc;
        }
    }
    /* a group seen for the first time: the timer of the first window that will emit it */
    if (st->mode == M_NONE) return 0;
    int64_t now = st->tkind == RN_TIMER_PROCESSING ? rn_op_processing_time(ctx) : rn__ckpt_watermark(ctx, st->wm_floor);
    for (uint32_t g = 0; g < gr->n && !rc; g++) {
        if (!st->fresh[g]) continue;
        int64_t end = st->mode == M_COLUMN ? gr->ns[g] : rn__wr_first_window_end(&st->spec, gr->ns[g], now);
        if (end == INT64_MIN) continue;
        rc = rn_op_timer_register(ctx, st->tkind, &st->gkeys[g], end, end - 1);
    }
    return rc;
}

/* ---- firing ---- */

static int on_timer(void *state, struct rn_op_ctx *ctx, const struct rn_timer *t)
{
    struct topn *st = state;
    /* the key's bytes may live in the backend: keep a copy across the state calls below */
    if (rn__wr_reserve(&st->tkey, &st->tkey_cap, t->key.len + 1)) return RN_ENOMEM;
    memcpy(st->tkey, t->key.data, t->key.len);
    struct rn_state_key key = {st->tkey, t->key.len, t->key.key_group};
    int64_t end = t->ns;
    int rc;
    if (st->mode == M_COLUMN) {
        const void *v;
        uint32_t len;
        if ((rc = rn_state_get(st->rows, &key, end, &v, &len))) return rc;
        if (!v) return 0;
        uint32_t m = stored_count(v, len);
        if ((rc = grow_ents(st, m ? m : 1))) return rc;
        if (read_value(v, len, st->ents, m) < 0) {
            rn_op_error(ctx, "keyed state holds a value that is not a top-n list");
            return RN_ECORRUPT;
        }
        if ((rc = emit_group(st, ctx, st->ents, m, 0, end))) return rc;
        return rn_state_remove(st->rows, &key, end);
    }
    /* a window [end - size, end): the panes ending at end - size + pane, ..., end */
    const struct rn_win_spec *s = &st->spec;
    uint32_t np = (uint32_t)(s->size / s->pane);
    if ((rc = grow_groups(st, np))) return rc;
    int64_t *pns = st->pns;
    for (uint32_t i = 0; i < np; i++) {
        st->gkeys[i] = key;
        pns[i] = end - s->size + s->pane * (int64_t)(i + 1);
    }
    if ((rc = rn_state_get_many(st->rows, st->gkeys, pns, np, st->vals, st->lens))) return rc;
    uint32_t total = 0;
    for (uint32_t i = 0; i < np; i++) total += stored_count(st->vals[i], st->lens[i]);
    if ((rc = grow_ents(st, total ? total : 1))) return rc;
    uint32_t m = 0;
    for (uint32_t i = 0; i < np; i++) {
        st->fresh[i] = st->vals[i] != NULL;   /* scratch: the pane exists */
        if (!st->vals[i]) continue;
        int64_t got = read_value(st->vals[i], st->lens[i], st->ents + m, total - m);
        if (got < 0) {
            rn_op_error(ctx, "keyed state holds a value that is not a top-n list");
            return RN_ECORRUPT;
        }
        m += (uint32_t)got;
    }
    if (np > 1) qsort(st->ents, m, sizeof *st->ents, ent_qsort_cmp);
    if ((rc = emit_group(st, ctx, st->ents, kept(st, st->ents, m), end - s->size, end))) return rc;
    /* the panes the next window does not hold go; the next window fires when panes remain */
    int64_t next_start = end - s->size + s->slide;
    bool remain = false;
    for (uint32_t i = 0; i < np && !rc; i++) {
        if (!st->fresh[i]) continue;
        if (pns[i] - s->pane < next_start) rc = rn_state_remove(st->rows, &key, pns[i]);
        else remain = true;
    }
    if (!rc && remain && end <= INT64_MAX - s->slide)
        rc = rn_op_timer_register(ctx, st->tkind, &key, end + s->slide, end + s->slide - 1);
    if (!rc && st->tkind == RN_TIMER_PROCESSING) rc = flush(st, ctx);
    return rc;
}

static int on_watermark(void *state, struct rn_op_ctx *ctx, int64_t wm)
{
    (void)wm;
    return flush(state, ctx);
}

/* Unwindowed: every key's final rows at the end of the input. */
struct final_ctx {
    struct topn *st;
    struct rn_op_ctx *ctx;
};

static int emit_final(const struct rn_state_entry *en, void *user)
{
    struct final_ctx *f = user;
    struct topn *st = f->st;
    uint32_t m = stored_count(en->val, en->len);
    int rc = grow_ents(st, m ? m : 1);
    if (rc) return rc;
    if (read_value(en->val, en->len, st->ents, m) < 0) {
        rn_op_error(f->ctx, "keyed state holds a value that is not a top-n list");
        return RN_ECORRUPT;
    }
    return emit_group(st, f->ctx, st->ents, m, 0, 0);
}

static int finish(void *state, struct rn_op_ctx *ctx)
{
    struct topn *st = state;
    if (st->mode == M_NONE) {
        struct final_ctx f = {st, ctx};
        int rc = rn_state_each_in_namespace(st->rows, 0, emit_final, &f);
        if (rc) return rc;
    }
    /* processing-time windows still open when a bounded input ends fire now */
    if (st->tkind == RN_TIMER_PROCESSING) {
        int rc = rn_op_timers_fire_all(ctx, RN_TIMER_PROCESSING);
        if (rc) return rc;
    }
    return flush(st, ctx);
}

/* ---- checkpoints ---- */

#define WM_LIST "top_n.watermark"
#define SEQ_LIST "top_n.seq"

static int snapshot(void *state, struct rn_op_ctx *ctx, struct rn_snapshot_writer *w)
{
    struct topn *st = state;
    int rc = flush(st, ctx);   /* rows already due leave before the barrier */
    if (!rc) rc = rn__ckpt_save_watermark(w, ctx, WM_LIST, st->wm_floor);
    if (!rc) rc = rn__ckpt_save_i64(w, SEQ_LIST, (int64_t)st->seq);
    if (rc && rc != RN_ECANCELED) rn_op_error(ctx, "checkpoint: %s", rn_strerror(rc));
    return rc;
}

static int restore(void *state, struct rn_op_ctx *ctx, struct rn_snapshot_reader *r)
{
    struct topn *st = state;
    int64_t seq;
    int rc = rn__ckpt_load_watermark(r, WM_LIST, &st->wm_floor);
    if (!rc) rc = rn__ckpt_load_max_i64(r, SEQ_LIST, &seq);
    if (rc) {
        rn_op_error(ctx, "restoring from a checkpoint: %s", rn_strerror(rc));
        return rc;
    }
    if (seq > 0) st->seq = (uint64_t)seq;
    return 0;
}

const struct rn_operator_def rn_op_top_n = {
    .abi_version = RN_OPERATOR_ABI, .struct_size = sizeof(struct rn_operator_def),
    .name = "top_n", .description = "the n best rows per key (per key and window), by an order_by list",
    .options = options, .n_inputs_min = 1, .n_inputs_max = 1, .flags = RN_OP_KEYED,
    .plan = plan, .open = open_, .process = process, .on_watermark = on_watermark, .finish = finish,
    .on_timer = on_timer, .snapshot = snapshot, .restore = restore, .close = close_,
};
