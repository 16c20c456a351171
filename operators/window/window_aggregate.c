/*
 * window_aggregate.c — `window_aggregate`: aggregates per key and window (Flink's keyed
 * windows with an incremental aggregate function). Output rows: the key, window_start,
 * window_end, then the aggregates in the order written.
 *
 * Window types (window_spec.h): tumbling, sliding, session, count, global; event time (the
 * watermark) by default, processing time with `time: processing`.
 *
 * Tumbling and sliding windows: time is sliced into panes of gcd(size, slide); rows are
 * accumulated per (key, pane) and a window, when it fires, combines the panes it covers, so a
 * row costs the same whatever size/slide is (Flink SQL's slicing; Flink's DataStream windows
 * copy each row into size/slide windows). Per batch: every row's pane (one compare per row
 * while rows stay in one pane), a scratch accumulator per distinct (key, pane) folded with
 * tight loops (accum.h), then one update per distinct (key, pane) of a write-back cache of
 * accumulators in front of the state backend: per pane, an open-addressing table of the keys
 * seen. The cache is written to the backend (value state "window.acc", namespace = pane start)
 * when it holds more than `cache_entries` accumulators (and by flush(), for snapshots); panes
 * whose entries went to the backend are read back from it (get_many once per batch, an
 * enumeration of the namespace when a window fires). So both backends hold the same
 * accumulators and give the same results; the memory backend only ever sees the overflow.
 * Event time: the operator keeps the earliest window start not fired yet; on each watermark it
 * fires, in start order, every window holding data whose end - 1 <= watermark, then drops the
 * panes whose last window is past end - 1 + allowed_lateness. (One firing per window covers all
 * its keys in one pass over the cache, instead of a timer per key and window.) A row whose pane
 * is past that is late: dropped (counted in the late_dropped metric) or sent unchanged to
 * `late_output`. A row for a window that fired but is still within allowed_lateness updates it
 * and re-emits that key's row at once (Flink's late firing). Processing time: a row goes to the
 * pane of the clock when it arrives; the windows fire from processing-time timers (one per
 * window, under an empty key, at the window's end) and at the end of the input.
 * Early firing (`trigger: {early_every: 1s}`, Flink's ContinuousProcessingTimeTrigger): every
 * interval of processing time (aligned to multiples of it) the windows not fired yet emit the
 * partial rows of the keys that received rows since the previous early firing.
 *
 * Session windows: per key, a value state holds the key's open sessions (start, end, a stable
 * id, accumulator). A batch's rows of a key are merged into them in arrival order (windows that
 * overlap or touch merge; a row bridging two sessions merges them); each session has an
 * event-time (or processing-time) timer at end - 1 under namespace = its id, moved when it
 * grows, and a cleanup timer at end - 1 + allowed_lateness.
 *
 * Count trigger on event-time tumbling and session windows (`trigger: {type: count, count: N}`,
 * Flink's CountTrigger in place of the event-time trigger): a (key, window) emits its current
 * row when a batch brings its rows to one or more multiples of N (once per batch: the batch's
 * rows are pre-combined, so one emit covers all the multiples it crossed, with the whole batch
 * in), and never when the watermark passes its end; its state still goes at end - 1 +
 * allowed_lateness. Tumbling: checked at the one cache update per (key, pane) of a batch (the
 * pane is the window). Sessions: the rows before the batch are those of the stored sessions
 * merged into it; the timer at end - 1 (still lazily re-armed) then only leads to the cleanup.
 *
 * Count windows fire per key every `slide` rows (default size) with the last `size` rows (panes
 * of gcd(size, slide) rows in a ring per key). Global windows fire at the end of the input, or
 * with `trigger: {type: count, count: N}` every N rows of a key (cumulative, Flink's
 * CountTrigger on GlobalWindows), or every early_every with the key's current row. Neither has
 * a start or end: window_start and window_end are NULL.
 *
 * count_distinct keeps the values seen per (key, pane | session | count pane) in a map state
 * ("window.distinct", user key = aggregate index + value); a window of several panes counts the
 * union. Strings of min/max/first/last are kept in a map state ("window.string", user key =
 * aggregate index) per (key, pane | session | count pane).
 *
 * Checkpoints: snapshot() writes the cache's changed accumulators to the backend (one put per
 * entry changed since the last write: each pane keeps a list of its dirty entries, so the pause
 * is proportional to what changed, not to the cache) and records, in a union operator-state
 * list, the subtask's live pane starts and its next window to fire, and its watermark
 * (keyed/ckpt.h). With RocksDB, restore() rebuilds the pane list from that list rather than by
 * scanning the keyed state: the panes are few (size/slide plus lateness and disorder), the state
 * may be large, and the restored panes are marked evicted, so the cache reloads keys lazily from
 * the backend exactly as after an eviction. On a rescale every new subtask gets every old
 * subtask's panes (a union list): a pane with no keys of this subtask fires nothing and drops
 * nothing, so extra panes are harmless. With the memory backend (whose namespace enumeration is
 * a scan of the whole state) restore() puts the subtask's accumulators back into the cache in
 * one pass instead (see restore()). The next window to fire is the old subtask's own at the same
 * parallelism; on a rescale the largest over the old subtasks (every window before it had its
 * end - 1 <= the common watermark, so it fired in every old subtask that had rows for it).
 * Window timers (processing time, early firing) are under the empty key in the subtask's first
 * key group; a restore re-registers the processing-time ones of its panes' unfired windows under
 * its own (a timer that arrives twice finds its window fired: next_fire skips it). Sessions,
 * count and global windows live wholly in keyed state and timers. Lost on a restore: which keys
 * changed since the last early firing (early rows are processing-time output; the final rows
 * are exact).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builtin.h"
#include "keyed/accum.h"
#include "keyed/ckpt.h"
#include "runnel/hash.h"
#include "window/window_spec.h"

static const struct rn_option options[] = {
    {"window", RN_OPT_MAP, NULL,
     "{type: tumbling|sliding|session|count|global, size, slide, gap, offset, time: event|processing, column}"},
    {"aggregates", RN_OPT_MAP, NULL, "output column -> count(*), count(x), sum(x), min(x), max(x), avg(x), "
                                     "count_distinct(x), first(x), last(x) or a plugin's function(x)"},
    {"trigger", RN_OPT_MAP, "",
     "{type: count, count: N}: global windows, and event-time tumbling and session windows, fire a key's window "
     "each time its rows reach a multiple of N (time windows then do not fire at their end); {early_every: 1s}: "
     "partial rows every interval of processing time before the final firing"},
    {"allowed_lateness", RN_OPT_DURATION, "0s",
     "event time: windows are kept this long after they fired; rows arriving then update and re-emit them"},
    {"late_output", RN_OPT_OUTPUT, "",
     "side output id for rows too late for every window (unchanged, input schema); without it they are dropped "
     "and counted (late_dropped)"},
    {"cache_entries", RN_OPT_INT, "0",
     "accumulators held in memory in front of the state backend before they are written to it; 0 = no bound "
     "with the memory backend (its state is in memory anyway), 1000000 with rocksdb"},
    {NULL, 0, NULL, NULL},
};

#define EARLY_NS INT64_MIN   /* the namespace of early-firing timers */
#define NONE UINT32_MAX

static int64_t sat_add(int64_t a, int64_t b)
{
    if (b > 0 && a > INT64_MAX - b) return INT64_MAX;
    if (b < 0 && a < INT64_MIN - b) return INT64_MIN;
    return a + b;
}

/* ---- configuration (plan and open) ---- */

struct conf {
    struct rn_win_spec w;
    struct rn_acc_spec *acc;
    int64_t lateness;        /* ms */
    int64_t trig_count;      /* count trigger: fire every N rows (global, tumbling, session; 0: none) */
    int64_t early_every;     /* ms; 0: no early firing */
    int64_t cache_entries;
    bool has_late_output;
};

/* Where a configuration error goes. */
struct report {
    struct rn_plan_ctx *plan;
    struct rn_op_ctx *op;
};

__attribute__((format(printf, 3, 4))) static int fail(const struct report *r, const rn_value *at, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (r->plan) return rn_plan_error(r->plan, at, "%s", msg);
    rn_op_error(r->op, "%s", msg);
    return RN_EINVAL;
}

static int parse_trigger(const struct report *r, const rn_value *t, struct conf *c)
{
    if (!t) return 0;
    if (rn_value_kind(t) != RN_VALUE_MAP)
        return fail(r, t, "trigger: expected a map such as {type: count, count: 100} or {early_every: 1s}");
    for (size_t i = 0; i < rn_value_len(t); i++) {
        const char *k = rn_value_key(t, i);
        if (strcmp(k, "type") && strcmp(k, "count") && strcmp(k, "early_every"))
            return fail(r, rn_value_at(t, i), "trigger: unknown key '%s' (type, count, early_every)", k);
    }
    struct rn_error err;
    const rn_value *tv = rn_value_get(t, "type"), *cv = rn_value_get(t, "count"), *ev = rn_value_get(t, "early_every");
    if (tv) {
        const char *ty = rn_value_text(tv);
        if (!ty || strcmp(ty, "count"))
            return fail(r, tv, "trigger: unknown type '%s' (count; time windows fire by time already)", ty ? ty : "");
        if (!cv) return fail(r, tv, "trigger: a count trigger needs count (rows, such as count: 100)");
    }
    if (cv) {
        if (!tv) return fail(r, cv, "trigger: count needs type: count");
        if (rn_value_int(cv, &c->trig_count, &err)) return fail(r, cv, "trigger.count: %s", err.msg);
        if (c->trig_count <= 0) return fail(r, cv, "trigger.count must be positive");
        if (c->w.type == RN_WIN_COUNT)
            return fail(r, tv, "trigger: a count trigger is not for count windows (they fire every slide rows "
                               "already)");
        if (c->w.type == RN_WIN_SLIDING)
            return fail(r, tv, "trigger: a count trigger is for global, tumbling and session windows, not sliding "
                               "ones (a row belongs to several sliding windows; for early results use early_every)");
        if (c->w.type != RN_WIN_GLOBAL && c->w.processing_time)
            return fail(r, tv, "trigger: a count trigger on tumbling and session windows needs event time (this "
                               "window is in processing time)");
        if (c->w.type != RN_WIN_GLOBAL && ev)
            return fail(r, ev, "trigger: early_every and a count trigger cannot be combined on time windows "
                               "(the count trigger replaces the firing at the window's end)");
    }
    if (ev) {
        if (rn_value_duration(ev, &c->early_every, &err)) return fail(r, ev, "trigger.early_every: %s", err.msg);
        if (c->early_every <= 0) return fail(r, ev, "trigger.early_every must be positive");
        bool ok = c->w.type == RN_WIN_GLOBAL ||
                  ((c->w.type == RN_WIN_TUMBLING || c->w.type == RN_WIN_SLIDING) && !c->w.processing_time);
        if (!ok)
            return fail(r, ev, "trigger.early_every is for event-time tumbling and sliding windows and global windows");
    }
    return 0;
}

/* Everything but the aggregates, whose errors the caller reports. */
static int parse_rest(const struct report *r, const rn_value *opts, struct conf *c)
{
    c->lateness = rn_opt_duration(opts, "allowed_lateness");
    c->cache_entries = rn_opt_int(opts, "cache_entries");
    c->has_late_output = rn_opt_value(opts, "late_output") != NULL;
    bool event = !c->w.processing_time && c->w.type != RN_WIN_COUNT && c->w.type != RN_WIN_GLOBAL;
    if (c->lateness < 0) return fail(r, rn_opt_value(opts, "allowed_lateness"), "allowed_lateness must not be negative");
    if (c->lateness > 0 && !event)
        return fail(r, rn_opt_value(opts, "allowed_lateness"),
                    "allowed_lateness is for event-time windows (this one is %s)",
                    c->w.processing_time ? "in processing time" : "not in time");
    if (c->has_late_output && !event)
        return fail(r, rn_opt_value(opts, "late_output"), "late_output: only event-time windows have late rows");
    if (c->cache_entries < 0) return fail(r, rn_opt_value(opts, "cache_entries"), "cache_entries must not be negative");
    return parse_trigger(r, rn_opt_value(opts, "trigger"), c);
}

static rn_schema *out_schema(const struct conf *c, const char *key_name, struct rn_type key_type)
{
    rn_schema *o = rn_schema_create();
    if (!o) return NULL;
    bool no_bounds = c->w.type == RN_WIN_COUNT || c->w.type == RN_WIN_GLOBAL;
    int rc = rn_schema_add(o, key_name, key_type, true);
    if (!rc) rc = rn_schema_add(o, "window_start", rn_type_of(RN_T_TIMESTAMP), no_bounds);
    if (!rc) rc = rn_schema_add(o, "window_end", rn_type_of(RN_T_TIMESTAMP), no_bounds);
    if (!rc) rc = rn_acc_add_columns(c->acc, o);
    if (rc) {
        rn_schema_unref(o);
        return NULL;
    }
    return o;
}

static int plan(struct rn_plan_ctx *ctx)
{
    struct conf c = {0};
    struct report r = {ctx, NULL};
    const rn_value *opts = rn_plan_options(ctx);
    const rn_schema *in = rn_plan_input_schema(ctx, 0);
    int rc = rn_win_spec_plan(ctx, "window", 0, &c.w);
    if (rc) return rc;
    if ((rc = parse_rest(&r, opts, &c))) return rc;
    char msg[512];
    const rn_value *where;
    if (!(c.acc = rn_acc_spec_build(rn_opt_value(opts, "aggregates"), in, rn_plan_registry(ctx), &where, msg, sizeof msg)))
        return rn_plan_error(ctx, where, "%s", msg);
    struct rn_type key_type;
    const char *key_name;
    rc = rn_plan_key(ctx, 0, &key_type, &key_name);
    for (uint32_t i = 0; !rc && i < c.acc->n; i++) {
        const char *n = c.acc->a[i].name;
        if (!strcmp(n, key_name) || !strcmp(n, "window_start") || !strcmp(n, "window_end"))
            rc = rn_plan_error(ctx, rn_value_at(rn_opt_value(opts, "aggregates"), i),
                               "column '%s' is also the name of the key or of a window bound", n);
    }
    if (!rc && (!strcmp(key_name, "window_start") || !strcmp(key_name, "window_end")))
        rc = rn_plan_error(ctx, NULL, "the key's column is named '%s' like a window bound (key_by an expression "
                                      "or rename the column)", key_name);
    rn_schema *o = rc ? NULL : out_schema(&c, key_name, key_type);
    if (!rc && !o) rc = rn_plan_error(ctx, NULL, "cannot build the output schema (a column named twice?)");
    if (o) rn_plan_set_output(ctx, o);
    if (!rc && c.has_late_output && rn_plan_set_side_output(ctx, "late_output", in) < 0) rc = RN_EINVAL;
    rn_schema_unref(o);
    rn_acc_spec_free(c.acc);
    return rc;
}

/* ---- run time: structures ---- */

/* One (key, pane) accumulator in the cache. */
struct pentry {
    uint64_t hash;
    uint32_t key_off, key_len;   /* the key's bytes in the pane's key arena */
    uint16_t kg;
    uint8_t dirty;               /* changed since it was last written to the backend (in the pane's dirty list) */
    uint8_t early;               /* changed since the last early firing */
    uint8_t stored;              /* the backend holds a value for it (written, or read from it) */
};

/* A pane: [start, start + pane) of time, and its keys' accumulators in memory. */
struct pane {
    int64_t start;
    uint32_t n, cap;
    struct pentry *e;
    uint8_t *accs;               /* cap * stride */
    uint32_t *index;             /* open addressing: entry + 1, 0 = empty */
    uint32_t mask;
    uint8_t *keys;
    size_t keys_used, keys_cap;
    uint32_t *dirty;             /* the entries with dirty set, for flush() */
    size_t n_dirty, cap_dirty;
    bool evicted;                /* the backend may hold entries that memory does not */
    bool early;                  /* an entry changed since the last early firing */
};

/* A set of byte strings with a value of fixed size each (scratch: combining the panes of a
 * window per key, counting distinct values over panes). */
struct bmap {
    uint32_t n, cap, mask, vsize;
    uint32_t *index;             /* entry + 1 */
    uint64_t *hash;
    uint32_t *off, *len;
    uint8_t *vals;
    uint8_t *bytes;
    size_t used, bcap;
};

struct st {
    struct conf c;
    rn_expr **args;
    int time_col;
    uint32_t stride;             /* 8 (rows) + the aggregates' accumulator */
    uint32_t nagg;
    uint32_t late_port;
    _Atomic uint64_t *late_metric;
    rn_state_backend *backend;
    rn_state *acc_state, *distinct_state, *string_state;
    struct rn_type key_type;
    bool pane_windows, event_time;
    /* pane windows */
    struct pane **panes;         /* live panes by start */
    uint32_t n_panes, cap_panes;
    struct pane **spare;
    uint32_t n_spare, cap_spare;
    uint64_t cached;             /* entries in memory */
    int64_t next_fire;           /* the earliest window start not fired yet */
    uint16_t timer_kg;           /* the key group of the empty key that window timers use: the
                                  * subtask's first */
    bool early_registered;
    int64_t wm_floor;            /* the watermark at the checkpoint restored from (keyed/ckpt.h) */
    /* batch scratch */
    uint32_t cap_rows;
    uint32_t *rowp, *slot, *dropped;
    int64_t *bp;
    uint8_t *bp_status;
    struct pane **bp_pane;
    uint32_t cap_bph;
    int64_t *bph_key;
    uint32_t *bph_val, *bph_gen, gen;
    size_t cap_slots;
    uint8_t *accs;
    uint32_t *slot_g, *slot_p, *slot_entry;
    struct rn_str *best;
    uint32_t cap_sh;
    uint64_t *sh_key;
    uint32_t *sh_val;
    struct rn_state_key *lkeys;
    int64_t *lns;
    const void **lvals;
    uint32_t *llens, *lslot;
    size_t cap_load;
    int64_t *late_pairs;         /* (group, window start) pairs to re-emit */
    size_t cap_late;
    struct bmap win, set;        /* window combine; distinct union */
    uint8_t *tmp;                /* one accumulator */
    uint8_t *load;               /* one accumulator copied out of state (whose values need not be aligned) */
    int64_t *nsb;                /* the panes (namespaces) of the window being emitted */
    size_t cap_nsb;
    uint8_t *strbuf;
    size_t strcap;
    /* sessions, count and global windows */
    struct sess_ctx *sx;
    uint8_t *kbuf;
    size_t kcap;
    /* output */
    struct rn_batch *out;
    /* checkpoints: the pane list element being written or the starts being restored */
    uint8_t *ckbuf;
    size_t ckcap;
};

/* ---- small helpers ---- */

static int grow_to(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap : 16;
    while (c < need) c *= 2;
    void *q = realloc(*p, c * elem);
    if (!q) return RN_ENOMEM;
    *p = q;
    *cap = c;
    return 0;
}
#define GROW(ptr, capv, need) grow_to((void **)&(ptr), &(capv), (need), sizeof *(ptr))

static inline uint64_t key_hash(const void *k, uint32_t len)
{
    if (len == 9) {
        uint64_t x;
        memcpy(&x, (const uint8_t *)k + 1, 8);
        return rn_hash_mix64(x ^ ((uint64_t)((const uint8_t *)k)[0] << 56) ^ 0x9e3779b97f4a7c15ull);
    }
    return rn_hash_bytes(k, len);
}

/* Writes the key encoded by rn_state_key_encode (one column: a tag byte, then the value or a
 * u32 length and the bytes) into column col, row `row` of o. */
/* Row `row` of column col of o: the value of key k (of type t). */
static int put_key(struct rn_batch *o, uint32_t col, struct rn_type t, const struct rn_state_key *k, uint32_t row)
{
    struct rn_key_value kv;
    int rc = rn_state_key_decode(k, t, &kv);
    if (rc) return rc;
    if (kv.null) return rn_batch_set_null(o, col, row);
    if (t.id == RN_T_STRING) return rn_batch_set_str(o, col, row, kv.s.ptr, kv.s.len);
    if (t.id == RN_T_BOOL) ((uint8_t *)o->cols[col].values)[row] = kv.v.b;
    else memcpy((char *)o->cols[col].values + (size_t)row * 8, &kv.v, 8);
    return 0;
}

/* ---- bmap ---- */

static void bmap_reset(struct bmap *m)
{
    if (m->index && m->n) memset(m->index, 0, (size_t)(m->mask + 1) * sizeof *m->index);
    m->n = 0;
    m->used = 0;
}

static void bmap_free(struct bmap *m)
{
    free(m->index);
    free(m->hash);
    free(m->off);
    free(m->len);
    free(m->vals);
    free(m->bytes);
}

static int bmap_rehash(struct bmap *m, uint32_t slots)
{
    uint32_t *ix = calloc(slots, sizeof *ix);
    if (!ix) return RN_ENOMEM;
    free(m->index);
    m->index = ix;
    m->mask = slots - 1;
    for (uint32_t i = 0; i < m->n; i++) {
        uint32_t h = (uint32_t)m->hash[i] & m->mask;
        while (ix[h]) h = (h + 1) & m->mask;
        ix[h] = i + 1;
    }
    return 0;
}

/* Finds or adds k; *out = its entry, *added whether it is new (its value zeroed). */
static int bmap_get(struct bmap *m, const void *k, uint32_t len, uint64_t h, uint32_t *out, bool *added)
{
    if (!m->index && bmap_rehash(m, 64)) return RN_ENOMEM;
    for (uint32_t s = (uint32_t)h & m->mask;; s = (s + 1) & m->mask) {
        uint32_t e = m->index[s];
        if (!e) break;
        e--;
        if (m->hash[e] == h && m->len[e] == len && !memcmp(m->bytes + m->off[e], k, len)) {
            *out = e;
            *added = false;
            return 0;
        }
    }
    if (m->n == m->cap) {
        size_t cap = m->cap, c2;
        c2 = cap;
        if (grow_to((void **)&m->hash, &c2, cap + 1, sizeof *m->hash)) return RN_ENOMEM;
        size_t c3 = cap;
        if (grow_to((void **)&m->off, &c3, cap + 1, sizeof *m->off)) return RN_ENOMEM;
        c3 = cap;
        if (grow_to((void **)&m->len, &c3, cap + 1, sizeof *m->len)) return RN_ENOMEM;
        if (m->vsize) {
            void *v = realloc(m->vals, c2 * m->vsize);
            if (!v) return RN_ENOMEM;
            m->vals = v;
        }
        m->cap = (uint32_t)c2;
    }
    if (grow_to((void **)&m->bytes, &m->bcap, m->used + len + 1, 1)) return RN_ENOMEM;
    uint32_t e = m->n++;
    m->hash[e] = h;
    m->off[e] = (uint32_t)m->used;
    m->len[e] = len;
    if (len) memcpy(m->bytes + m->used, k, len);
    m->used += len;
    if (m->vsize) memset(m->vals + (size_t)e * m->vsize, 0, m->vsize);
    if ((uint64_t)m->n * 4 > (uint64_t)(m->mask + 1) * 3) {
        if (bmap_rehash(m, (m->mask + 1) * 2)) return RN_ENOMEM;
    } else {
        uint32_t s = (uint32_t)h & m->mask;
        while (m->index[s]) s = (s + 1) & m->mask;
        m->index[s] = e + 1;
    }
    *out = e;
    *added = true;
    return 0;
}

/* ---- output ---- */

static int flush_out(struct st *st, struct rn_op_ctx *ctx)
{
    struct rn_batch *o = st->out;
    st->out = NULL;
    if (!o) return 0;
    if (!o->n_rows) {
        rn_batch_unref(o);
        return 0;
    }
    return rn_op_emit(ctx, o);
}

/* A new output row (emitting the pending batch when it is full); *row gets its index. */
static int out_row(struct st *st, struct rn_op_ctx *ctx, uint32_t *row)
{
    if (st->out && st->out->n_rows == st->out->capacity) {
        int rc = flush_out(st, ctx);
        if (rc) return rc;
    }
    if (!st->out && !(st->out = rn_batch_new(rn_op_output_schema(ctx), RN_BATCH_ROWS))) return RN_ENOMEM;
    *row = st->out->n_rows;
    return 0;
}

/* ---- side states: count_distinct and strings ---- */

/* The union of aggregate i's distinct values over namespaces ns[0..n) of key k. */
struct count_cb {
    struct bmap *set;
    uint8_t agg;
    int rc;
};
static int count_one(const void *mkey, uint32_t mlen, const void *val, uint32_t len, void *user)
{
    (void)val;
    (void)len;
    struct count_cb *c = user;
    const uint8_t *m = mkey;
    if (!mlen || m[0] != c->agg) return 0;
    uint32_t e;
    bool added;
    return c->rc = bmap_get(c->set, m, mlen, rn_hash_bytes(m, mlen), &e, &added);
}

static int distinct_union(struct st *st, const struct rn_state_key *k, const int64_t *ns, uint32_t n, uint32_t agg,
                          int64_t *count)
{
    bmap_reset(&st->set);
    struct count_cb c = {&st->set, (uint8_t)agg, 0};
    for (uint32_t j = 0; j < n; j++) {
        int rc = rn_state_map_each(st->distinct_state, k, ns[j], count_one, &c);
        if (rc) return rc;
        if (c.rc) return c.rc;
    }
    *count = st->set.n;
    return 0;
}

/* Adds row r's value of aggregate i to the values seen for (k, ns); counts it in *n when new. */
static int add_distinct(struct st *st, uint32_t agg, const struct rn_column *c, uint32_t row,
                        const struct rn_state_key *k, int64_t ns, int64_t *n)
{
    if (rn_column_is_null(c, row)) return 0;
    uint8_t buf[256];
    uint32_t len = rn_state_key_encode(c, 1, row, buf + 1, sizeof buf - 1) + 1;
    uint8_t *p = buf;
    if (len > sizeof buf) {
        if (!(p = malloc(len))) return RN_ENOMEM;
        rn_state_key_encode(c, 1, row, p + 1, len - 1);
    }
    p[0] = (uint8_t)agg;
    const void *v;
    uint32_t vl;
    int rc = rn_state_map_get(st->distinct_state, k, ns, p, len, &v, &vl);
    if (!rc && !v) {
        rc = rn_state_map_put(st->distinct_state, k, ns, p, len, "", 0);
        (*n)++;
    }
    if (p != buf) free(p);
    return rc;
}

/* Keeps a copy of s in st->strbuf. */
static int keep_str(struct st *st, struct rn_str *s)
{
    if (grow_to((void **)&st->strbuf, &st->strcap, (size_t)s->len + 1, 1)) return RN_ENOMEM;
    if (s->len) memmove(st->strbuf, s->ptr, s->len);
    s->ptr = (const char *)st->strbuf;
    return 0;
}

/* Folds a batch's best string of aggregate i into the stored one of (k, ns). */
static int merge_string(struct st *st, uint32_t agg, const struct rn_state_key *k, int64_t ns, struct rn_str mine)
{
    uint8_t mk = (uint8_t)agg;
    const void *v;
    uint32_t len;
    int rc = rn_state_map_get(st->string_state, k, ns, &mk, 1, &v, &len);
    if (rc) return rc;
    struct rn_str stored = {v, len};
    if (!rn_acc_str_takes(st->c.acc->a[agg].fn, v != NULL, stored, mine)) return 0;
    return rn_state_map_put(st->string_state, k, ns, &mk, 1, mine.ptr, mine.len);
}

/* Writes the result of string aggregate i over namespaces ns[0..n) (in time order). */
static int put_string(struct st *st, uint32_t agg, const struct rn_state_key *k, const int64_t *ns, uint32_t n,
                      struct rn_batch *o, uint32_t col, uint32_t row)
{
    uint8_t mk = (uint8_t)agg;
    bool has = false;
    struct rn_str best = {NULL, 0};
    for (uint32_t j = 0; j < n; j++) {
        const void *v;
        uint32_t len;
        int rc = rn_state_map_get(st->string_state, k, ns[j], &mk, 1, &v, &len);
        if (rc) return rc;
        if (!v) continue;
        struct rn_str s = {v, len};
        if (rn_acc_str_takes(st->c.acc->a[agg].fn, has, best, s)) {
            best = s;
            if ((rc = keep_str(st, &best))) return rc;
        }
        has = true;
    }
    if (!has) return rn_batch_set_null(o, col, row);
    return rn_batch_set_str(o, col, row, best.ptr, best.len);
}

static int remove_side(struct st *st, const struct rn_state_key *k, int64_t ns)
{
    int rc = 0;
    if (st->distinct_state) rc = rn_state_remove(st->distinct_state, k, ns);
    if (!rc && st->string_state) rc = rn_state_remove(st->string_state, k, ns);
    return rc;
}

/* Emits one result row: key k, the window (bounds NULL when has_bounds is false), accumulator
 * acc (rows + aggregates); side aggregates read from namespaces ns[0..n). */
static int emit_row(struct st *st, struct rn_op_ctx *ctx, const struct rn_state_key *k, bool has_bounds, int64_t ws,
                    int64_t we, const uint8_t *acc, const int64_t *ns, uint32_t n_ns)
{
    uint32_t row;
    int rc = out_row(st, ctx, &row);
    if (rc) return rc;
    struct rn_batch *o = st->out;
    if ((rc = put_key(o, 0, st->key_type, k, row))) return rc;
    if (has_bounds) {
        ((int64_t *)o->cols[1].values)[row] = ws;
        ((int64_t *)o->cols[2].values)[row] = we;
    } else if ((rc = rn_batch_set_null(o, 1, row)) || (rc = rn_batch_set_null(o, 2, row))) {
        return rc;
    }
    const struct rn_acc_spec *sp = st->c.acc;
    for (uint32_t i = 0; i < sp->n && !rc; i++) {
        const struct rn_acc_agg *g = &sp->a[i];
        if (!g->external) {
            rc = rn_acc_put(sp, i, acc + 8, o, 3 + i, row);
        } else if (g->fn == RN_ACC_COUNT_DISTINCT) {
            int64_t cnt = rn_acc_cslot_of(sp, acc + 8, i)->n;
            if (n_ns > 1 && (rc = distinct_union(st, k, ns, n_ns, i, &cnt))) break;
            ((int64_t *)o->cols[3 + i].values)[row] = cnt;
        } else {
            rc = put_string(st, i, k, ns, n_ns, o, 3 + i, row);
        }
    }
    if (rc) {
        rn_op_error(ctx, "writing a window's row: %s", rn_strerror(rc));
        return rc;
    }
    o->n_rows++;
    return 0;
}

/* ---- the pane cache ---- */

static struct pane *pane_new(struct st *st, int64_t start)
{
    struct pane *p = st->n_spare ? st->spare[--st->n_spare] : calloc(1, sizeof *p);
    if (!p) return NULL;
    p->start = start;
    p->n = 0;
    p->keys_used = 0;
    p->n_dirty = 0;
    p->evicted = p->early = false;
    if (p->index) memset(p->index, 0, (size_t)(p->mask + 1) * sizeof *p->index);
    return p;
}

static void pane_free(struct pane *p)
{
    if (!p) return;
    free(p->e);
    free(p->accs);
    free(p->index);
    free(p->keys);
    free(p->dirty);
    free(p);
}

/* Gives a pane back (kept for reuse, up to a few). */
static void pane_release(struct st *st, struct pane *p)
{
    st->cached -= p->n;
    p->n = 0;
    size_t cap = st->cap_spare;
    if (st->n_spare < 16 && !GROW(st->spare, cap, (size_t)st->n_spare + 1)) {
        st->cap_spare = (uint32_t)cap;
        st->spare[st->n_spare++] = p;
        return;
    }
    pane_free(p);
}

/* The index of the first live pane with start >= t. */
static uint32_t pane_lower(const struct st *st, int64_t t)
{
    uint32_t lo = 0, hi = st->n_panes;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (st->panes[mid]->start < t) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

static struct pane *pane_find(const struct st *st, int64_t start)
{
    uint32_t i = pane_lower(st, start);
    return i < st->n_panes && st->panes[i]->start == start ? st->panes[i] : NULL;
}

static int pane_get(struct st *st, int64_t start, struct pane **out)
{
    uint32_t i = pane_lower(st, start);
    if (i < st->n_panes && st->panes[i]->start == start) {
        *out = st->panes[i];
        return 0;
    }
    size_t cap = st->cap_panes;
    if (GROW(st->panes, cap, st->n_panes + 1)) return RN_ENOMEM;
    st->cap_panes = (uint32_t)cap;
    struct pane *p = pane_new(st, start);
    if (!p) return RN_ENOMEM;
    memmove(&st->panes[i + 1], &st->panes[i], (st->n_panes - i) * sizeof *st->panes);
    st->panes[i] = p;
    st->n_panes++;
    *out = p;
    return 0;
}

static int pane_rehash(struct pane *p, uint32_t slots)
{
    uint32_t *ix = calloc(slots, sizeof *ix);
    if (!ix) return RN_ENOMEM;
    free(p->index);
    p->index = ix;
    p->mask = slots - 1;
    for (uint32_t i = 0; i < p->n; i++) {
        uint32_t h = (uint32_t)p->e[i].hash & p->mask;
        while (ix[h]) h = (h + 1) & p->mask;
        ix[h] = i + 1;
    }
    return 0;
}

static uint32_t pane_lookup(const struct pane *p, const void *k, uint32_t len, uint64_t h)
{
    if (!p->index || !p->n) return NONE;
    for (uint32_t s = (uint32_t)h & p->mask;; s = (s + 1) & p->mask) {
        uint32_t e = p->index[s];
        if (!e) return NONE;
        e--;
        const struct pentry *x = &p->e[e];
        if (x->hash == h && x->key_len == len && !memcmp(p->keys + x->key_off, k, len)) return e;
    }
}

/* Adds key k (absent) with a zero accumulator; *out = its entry. */
static int pane_insert(struct st *st, struct pane *p, const struct rn_state_key *k, uint64_t h, uint32_t *out)
{
    if (p->n == p->cap) {
        size_t cap = p->cap, c2 = cap;
        if (GROW(p->e, c2, cap + 1)) return RN_ENOMEM;
        void *a = realloc(p->accs, c2 * st->stride);
        if (!a) return RN_ENOMEM;
        p->accs = a;
        p->cap = (uint32_t)c2;
    }
    if (!p->index || (uint64_t)(p->n + 1) * 4 > (uint64_t)(p->mask + 1) * 3) {
        uint32_t slots = p->index ? (p->mask + 1) * 2 : 64;
        if (pane_rehash(p, slots)) return RN_ENOMEM;
    }
    if (grow_to((void **)&p->keys, &p->keys_cap, p->keys_used + k->len, 1)) return RN_ENOMEM;
    uint32_t e = p->n++;
    p->e[e] = (struct pentry){h, (uint32_t)p->keys_used, k->len, k->key_group, 0, 0, 0};
    memcpy(p->keys + p->keys_used, k->data, k->len);
    p->keys_used += k->len;
    memset(p->accs + (size_t)e * st->stride, 0, st->stride);
    uint32_t s = (uint32_t)h & p->mask;
    while (p->index[s]) s = (s + 1) & p->mask;
    p->index[s] = e + 1;
    st->cached++;
    *out = e;
    return 0;
}

static inline struct rn_state_key entry_key(const struct pane *p, const struct pentry *e)
{
    return (struct rn_state_key){p->keys + e->key_off, e->key_len, e->kg};
}

/* Entry e of pane p changed: it goes into the pane's dirty list (once until flushed). */
static int mark_dirty(struct pane *p, uint32_t e)
{
    if (p->e[e].dirty) return 0;
    if (GROW(p->dirty, p->cap_dirty, p->n_dirty + 1)) return RN_ENOMEM;
    p->dirty[p->n_dirty++] = e;
    p->e[e].dirty = 1;
    return 0;
}

/* Writes every changed accumulator to the backend (they stay in memory): before a snapshot,
 * and before the cache is emptied. One put per entry changed since the last flush. */
static int flush(struct st *st)
{
    for (uint32_t i = 0; i < st->n_panes; i++) {
        struct pane *p = st->panes[i];
        for (size_t d = 0; d < p->n_dirty; d++) {
            uint32_t j = p->dirty[d];
            struct pentry *e = &p->e[j];
            struct rn_state_key k = entry_key(p, e);
            int rc = rn_state_put(st->acc_state, &k, p->start, p->accs + (size_t)j * st->stride, st->stride);
            if (rc) return rc;
            e->dirty = 0;
            e->stored = 1;
        }
        p->n_dirty = 0;
    }
    return 0;
}

/* The cache outgrew cache_entries: everything goes to the backend and memory starts afresh. */
static int evict_all(struct st *st)
{
    int rc = flush(st);
    if (rc) return rc;
    for (uint32_t i = 0; i < st->n_panes; i++) {
        struct pane *p = st->panes[i];
        if (!p->n) continue;
        st->cached -= p->n;
        p->n = 0;
        p->keys_used = 0;
        p->evicted = true;
        p->early = false;
        if (p->index) memset(p->index, 0, (size_t)(p->mask + 1) * sizeof *p->index);
    }
    return 0;
}

/* ---- pane windows: geometry ---- */

/* The start of the last (latest) window holding pane p. */
static inline int64_t last_window(const struct st *st, int64_t p) { return rn_win_last_start(&st->c.w, p); }
/* The start of the first (earliest) window holding pane p. */
static inline int64_t first_window(const struct st *st, int64_t p)
{
    int64_t l = last_window(st, p);
    return l - ((st->c.w.size - 1 - (p - l)) / st->c.w.slide) * st->c.w.slide;
}
/* When the state of window w may go: end - 1 + allowed lateness. */
static inline int64_t cleanup_time(const struct st *st, int64_t w)
{
    return sat_add(sat_add(w, st->c.w.size - 1), st->c.lateness);
}
static inline int64_t fire_time(const struct st *st, int64_t w) { return sat_add(w, st->c.w.size - 1); }

/* ---- pane windows: firing ---- */

/* The combined accumulator of key k over the panes of window w, into st->tmp (*any false when
 * the key has no rows there); st->nsb gets the panes holding them (for side aggregates). */
static int key_window_acc(struct st *st, const struct rn_state_key *k, uint64_t h, int64_t w, uint32_t *n_ns, bool *any)
{
    *any = false;
    *n_ns = 0;
    memset(st->tmp, 0, st->stride);
    int64_t end = sat_add(w, st->c.w.size);
    uint32_t first = pane_lower(st, w), last = first;
    while (last < st->n_panes && st->panes[last]->start < end) last++;
    if (GROW(st->nsb, st->cap_nsb, (size_t)(last - first) + 1)) return RN_ENOMEM;
    int64_t *ns = st->nsb;
    for (uint32_t i = first; i < last; i++) {
        struct pane *p = st->panes[i];
        const uint8_t *acc = NULL;
        uint32_t e = pane_lookup(p, k->data, k->len, h);
        if (e != NONE) {
            acc = p->accs + (size_t)e * st->stride;
        } else if (p->evicted) {
            const void *v;
            uint32_t len;
            int rc = rn_state_get(st->acc_state, k, p->start, &v, &len);
            if (rc) return rc;
            if (v && len != st->stride) return RN_ECORRUPT;
            if (v) acc = memcpy(st->load, v, st->stride);   /* state values need not be aligned */
        }
        if (!acc) continue;
        *(int64_t *)st->tmp += *(const int64_t *)acc;
        rn_acc_combine(st->c.acc, st->tmp + 8, acc + 8);
        ns[(*n_ns)++] = p->start;
        *any = true;
    }
    return 0;
}

struct collect_cb {
    struct st *st;
    struct pane *p;
    int rc;
};
/* A backend entry of an evicted pane: combined into the window's table unless memory has the key. */
static int collect_state(const struct rn_state_entry *e, void *user)
{
    struct collect_cb *c = user;
    struct st *st = c->st;
    uint64_t h = key_hash(e->key, e->key_len);
    if (pane_lookup(c->p, e->key, e->key_len, h) != NONE) return 0;
    if (e->len != st->stride) return c->rc = RN_ECORRUPT;
    uint32_t x;
    bool added;
    if ((c->rc = bmap_get(&st->win, e->key, e->key_len, h, &x, &added))) return c->rc;
    uint8_t *acc = st->win.vals + (size_t)x * st->win.vsize;
    if (added) memcpy(acc + st->stride, &e->key_group, sizeof e->key_group);
    const uint8_t *val = memcpy(st->load, e->val, st->stride);   /* state values need not be aligned */
    *(int64_t *)acc += *(const int64_t *)val;
    rn_acc_combine(st->c.acc, acc + 8, val + 8);
    return 0;
}

/* Fires window w for every key that has rows in it. */
static int fire_window(struct st *st, struct rn_op_ctx *ctx, int64_t w)
{
    int64_t end = sat_add(w, st->c.w.size);
    uint32_t first = pane_lower(st, w), last = first;
    while (last < st->n_panes && st->panes[last]->start < end) last++;
    uint32_t np = last - first;
    if (!np) return 0;
    int rc = 0;
    if (GROW(st->nsb, st->cap_nsb, np)) return RN_ENOMEM;
    int64_t *ns = st->nsb;
    for (uint32_t i = 0; i < np; i++) ns[i] = st->panes[first + i]->start;
    if (np == 1 && !st->panes[first]->evicted) {
        struct pane *p = st->panes[first];
        for (uint32_t j = 0; j < p->n && !rc; j++) {
            struct rn_state_key k = entry_key(p, &p->e[j]);
            rc = emit_row(st, ctx, &k, true, w, end, p->accs + (size_t)j * st->stride, ns, 1);
        }
        return rc;
    }
    /* several panes (or keys in the backend): combine per key in time order */
    bmap_reset(&st->win);
    for (uint32_t i = first; i < last && !rc; i++) {
        struct pane *p = st->panes[i];
        for (uint32_t j = 0; j < p->n && !rc; j++) {
            const struct pentry *e = &p->e[j];
            uint32_t x;
            bool added;
            if ((rc = bmap_get(&st->win, p->keys + e->key_off, e->key_len, e->hash, &x, &added))) break;
            uint8_t *acc = st->win.vals + (size_t)x * st->win.vsize;
            if (added) memcpy(acc + st->stride, &e->kg, sizeof e->kg);
            const uint8_t *src = p->accs + (size_t)j * st->stride;
            *(int64_t *)acc += *(const int64_t *)src;
            rn_acc_combine(st->c.acc, acc + 8, src + 8);
        }
        if (!rc && p->evicted) {
            struct collect_cb c = {st, p, 0};
            rc = rn_state_each_in_namespace(st->acc_state, p->start, collect_state, &c);
            if (!rc) rc = c.rc;
        }
    }
    for (uint32_t x = 0; x < st->win.n && !rc; x++) {
        uint8_t *acc = st->win.vals + (size_t)x * st->win.vsize;
        if (!*(int64_t *)acc) continue;
        struct rn_state_key k = {st->win.bytes + st->win.off[x], st->win.len[x], 0};
        memcpy(&k.key_group, acc + st->stride, sizeof k.key_group);
        rc = emit_row(st, ctx, &k, true, w, end, acc, ns, np);
    }
    return rc;
}

/* Removes a pane: its accumulators in memory and in the backend, and its side states. */
struct drop_cb {
    struct st *st;
    int64_t ns;
    int rc;
};
static int drop_state_entry(const struct rn_state_entry *e, void *user)
{
    struct drop_cb *c = user;
    struct rn_state_key k = {e->key, e->key_len, e->key_group};
    c->rc = rn_state_remove(c->st->acc_state, &k, c->ns);
    if (!c->rc) c->rc = remove_side(c->st, &k, c->ns);
    return c->rc;
}

static int drop_pane(struct st *st, uint32_t i)
{
    struct pane *p = st->panes[i];
    int rc = 0;
    bool side = st->distinct_state || st->string_state;
    for (uint32_t j = 0; j < p->n && !rc; j++) {
        struct rn_state_key k = entry_key(p, &p->e[j]);
        if (p->e[j].stored && !p->evicted) rc = rn_state_remove(st->acc_state, &k, p->start);   /* evicted: below */
        if (!rc && side) rc = remove_side(st, &k, p->start);
    }
    if (!rc && p->evicted) {
        struct drop_cb c = {st, p->start, 0};
        rc = rn_state_each_in_namespace(st->acc_state, p->start, drop_state_entry, &c);
        if (!rc) rc = c.rc;
    }
    memmove(&st->panes[i], &st->panes[i + 1], (st->n_panes - i - 1) * sizeof *st->panes);
    st->n_panes--;
    pane_release(st, p);
    return rc;
}

/* Fires, in start order, every window holding data whose end - 1 <= wm and that has not fired,
 * then drops the panes whose every window is past its cleanup time. */
static int advance(struct st *st, struct rn_op_ctx *ctx, int64_t wm)
{
    int rc = 0;
    for (; !st->c.trig_count;) {   /* a count trigger replaces the firing at the end */
        uint32_t i = pane_lower(st, st->next_fire);
        if (i >= st->n_panes) break;
        int64_t p = st->panes[i]->start, fw = first_window(st, p);
        int64_t w = fw > st->next_fire ? fw : st->next_fire;
        if (fire_time(st, w) > wm) break;
        if ((rc = fire_window(st, ctx, w))) return rc;
        if (w > INT64_MAX - st->c.w.slide) {
            st->next_fire = INT64_MAX;
            break;
        }
        st->next_fire = w + st->c.w.slide;
    }
    while (st->n_panes && cleanup_time(st, last_window(st, st->panes[0]->start)) <= wm)
        if ((rc = drop_pane(st, 0))) return rc;
    return 0;
}

/* ---- pane windows: a batch ---- */

/* The batch's index of pane start p (adding it). */
static uint32_t batch_pane(struct st *st, int64_t p, uint32_t *nbp)
{
    uint32_t mask = st->cap_bph - 1;
    for (uint32_t s = (uint32_t)rn_hash_i64(p) & mask;; s = (s + 1) & mask) {
        if (st->bph_gen[s] != st->gen) {
            st->bph_gen[s] = st->gen;
            st->bph_key[s] = p;
            st->bp[*nbp] = p;
            return st->bph_val[s] = (*nbp)++;
        }
        if (st->bph_key[s] == p) return st->bph_val[s];
    }
}

static int scratch_rows(struct st *st, uint32_t n)
{
    if (n <= st->cap_rows) return 0;
    size_t c;
#define G(p) (c = st->cap_rows, GROW(p, c, n))
    if (G(st->rowp) || G(st->slot) || G(st->dropped) || G(st->bp) || G(st->bp_status) || G(st->bp_pane)) return RN_ENOMEM;
#undef G
    uint32_t hc = 64;
    while (hc < 2 * n) hc *= 2;
    free(st->bph_key);
    free(st->bph_val);
    free(st->bph_gen);
    st->bph_key = malloc(hc * sizeof *st->bph_key);
    st->bph_val = malloc(hc * sizeof *st->bph_val);
    st->bph_gen = calloc(hc, sizeof *st->bph_gen);
    free(st->sh_key);
    free(st->sh_val);
    st->sh_key = malloc(hc * sizeof *st->sh_key);
    st->sh_val = malloc(hc * sizeof *st->sh_val);
    if (!st->bph_key || !st->bph_val || !st->bph_gen || !st->sh_key || !st->sh_val) return RN_ENOMEM;
    st->cap_bph = st->cap_sh = hc;
    st->gen = 0;
    st->cap_rows = n;
    return 0;
}

static int scratch_slots(struct st *st, size_t n)
{
    if (n <= st->cap_slots) return 0;
    size_t c = st->cap_slots;
    if (GROW(st->slot_g, c, n)) return RN_ENOMEM;
    c = st->cap_slots;
    if (GROW(st->slot_p, c, n)) return RN_ENOMEM;
    c = st->cap_slots;
    if (GROW(st->slot_entry, c, n)) return RN_ENOMEM;
    void *a = realloc(st->accs, c * st->stride);
    if (!a) return RN_ENOMEM;
    st->accs = a;
    if (st->c.acc->any_string) {
        if (!(a = realloc(st->best, c * st->nagg * sizeof *st->best))) return RN_ENOMEM;
        st->best = a;
    }
    st->cap_slots = c;
    return 0;
}

/* The registered empty key of window timers. */
static struct rn_state_key timer_key(const struct st *st) { return (struct rn_state_key){"", 0, st->timer_kg}; }

/* Processing time: the timers of the windows holding a new pane (those starting at `from` or
 * later). They fire at the window's end rather than end - 1: a row arriving in the window's last
 * millisecond, after a timer at end - 1 fired, would find its window gone. */
static int register_pane_timers(struct st *st, struct rn_op_ctx *ctx, int64_t p, int64_t from)
{
    struct rn_state_key k = timer_key(st);
    for (int64_t w = first_window(st, p), l = last_window(st, p);; w += st->c.w.slide) {
        int rc = w >= from ? rn_op_timer_register(ctx, RN_TIMER_PROCESSING, &k, w, sat_add(w, st->c.w.size)) : 0;
        if (rc) return rc;
        if (w >= l) break;
    }
    return 0;
}

static int register_early(struct st *st, struct rn_op_ctx *ctx, const struct rn_state_key *k)
{
    int64_t now = rn_op_processing_time(ctx), e = st->c.early_every;
    return rn_op_timer_register(ctx, RN_TIMER_PROCESSING, k, EARLY_NS, now - rn_win_floor_mod(now, e) + e);
}

static int cmp_pair(const void *a, const void *b)
{
    const int64_t *x = a, *y = b;
    if (x[1] != y[1]) return x[1] < y[1] ? -1 : 1;
    return (x[0] > y[0]) - (x[0] < y[0]);
}

/* Sends (or counts) the rows too late for every window. */
static int route_late(struct st *st, struct rn_op_ctx *ctx, const struct rn_batch *b, uint32_t n_late)
{
    if (!n_late) return 0;
    if (!st->late_port) {
        if (st->late_metric) atomic_fetch_add_explicit(st->late_metric, n_late, memory_order_relaxed);
        return 0;
    }
    struct rn_batch *lb = rn_batch_select(b, st->dropped, n_late);
    if (!lb) return RN_ENOMEM;
    return rn_op_emit_to(ctx, st->late_port, lb);
}

enum { BP_NORMAL, BP_DROP, BP_LATE };

static int process_panes(struct st *st, struct rn_op_ctx *ctx, const struct rn_batch *b, const struct rn_op_keys *keys,
                         const struct rn_column *cols)
{
    uint32_t n = b->n_rows, ng = keys->n_groups, nagg = st->nagg, stride = st->stride;
    int rc = scratch_rows(st, n);
    if (rc) return rc;
    const struct rn_acc_spec *sp = st->c.acc;
    int64_t wm = rn__ckpt_watermark(ctx, st->wm_floor), pane = st->c.w.pane;
    /* 1. every row's pane, and the batch's distinct panes */
    if (++st->gen == 0) {
        memset(st->bph_gen, 0, st->cap_bph * sizeof *st->bph_gen);
        st->gen = 1;
    }
    uint32_t nbp = 0, n_late = 0;
    if (!st->event_time) {
        int64_t now = rn_op_processing_time(ctx);
        uint32_t pi = batch_pane(st, rn_win_pane_start(&st->c.w, now), &nbp);
        for (uint32_t r = 0; r < n; r++) st->rowp[r] = pi;
    } else {
        const struct rn_column *tc = &b->cols[st->time_col];
        const int64_t *ts = tc->values;
        int64_t lp = 0;
        uint32_t li = NONE;
        for (uint32_t r = 0; r < n; r++) {
            if (rn_column_is_null(tc, r)) {
                st->rowp[r] = NONE;
                continue;
            }
            int64_t t = ts[r];
            if (li != NONE && t >= lp && (uint64_t)t - (uint64_t)lp < (uint64_t)pane) {
                st->rowp[r] = li;
                continue;
            }
            lp = rn_win_pane_start(&st->c.w, t);
            st->rowp[r] = li = batch_pane(st, lp, &nbp);
        }
    }
    /* 2. which panes are late: past every window's cleanup (dropped), or holding windows that
     * fired but are within allowed_lateness (re-emitted) */
    bool any_drop = false, any_late = false;
    for (uint32_t i = 0; i < nbp; i++) {
        int64_t p = st->bp[i];
        st->bp_status[i] = BP_NORMAL;
        if (!st->event_time) continue;
        if (cleanup_time(st, last_window(st, p)) <= wm) st->bp_status[i] = BP_DROP, any_drop = true;
        else if (st->c.lateness > 0 && !st->c.trig_count && fire_time(st, first_window(st, p)) <= wm)
            st->bp_status[i] = BP_LATE, any_late = true;
    }
    for (uint32_t r = 0; r < n; r++) {
        uint32_t pi = st->rowp[r];
        if (pi == NONE || st->bp_status[pi] == BP_DROP) {
            st->dropped[n_late++] = r;
            st->rowp[r] = NONE;
        }
    }
    (void)any_drop;
    /* 3. a scratch accumulator per distinct (key, pane) */
    uint32_t nslots;
    const uint32_t *slot;
    if (nbp == 1 && !n_late) {
        nslots = ng;
        slot = keys->group;
        if ((rc = scratch_slots(st, (size_t)nslots + 1))) return rc;
        for (uint32_t s = 0; s < ng; s++) st->slot_g[s] = s, st->slot_p[s] = 0;
    } else if ((uint64_t)ng * (nbp ? nbp : 1) <= 2ull * n + 1024) {
        nslots = ng * nbp;
        if ((rc = scratch_slots(st, (size_t)nslots + 1))) return rc;
        for (uint32_t r = 0; r < n; r++)
            st->slot[r] = st->rowp[r] == NONE ? nslots : keys->group[r] * nbp + st->rowp[r];
        for (uint32_t s = 0; s < nslots; s++) st->slot_g[s] = s / nbp, st->slot_p[s] = s % nbp;
        slot = st->slot;
    } else {
        /* many panes: a hash table of the (key, pane) pairs present */
        if ((rc = scratch_slots(st, (size_t)n + 1))) return rc;
        uint32_t mask = st->cap_sh - 1;
        memset(st->sh_val, 0xff, st->cap_sh * sizeof *st->sh_val);
        nslots = 0;
        for (uint32_t r = 0; r < n; r++) {
            if (st->rowp[r] == NONE) {
                st->slot[r] = NONE;
                continue;
            }
            uint64_t kk = (uint64_t)keys->group[r] << 32 | st->rowp[r];
            uint32_t s = (uint32_t)rn_hash_mix64(kk) & mask;
            while (st->sh_val[s] != NONE && st->sh_key[s] != kk) s = (s + 1) & mask;
            if (st->sh_val[s] == NONE) {
                st->sh_key[s] = kk;
                st->sh_val[s] = nslots;
                st->slot_g[nslots] = keys->group[r];
                st->slot_p[nslots] = st->rowp[r];
                nslots++;
            }
            st->slot[r] = st->sh_val[s];
        }
        for (uint32_t r = 0; r < n; r++)
            if (st->slot[r] == NONE) st->slot[r] = nslots;
        slot = st->slot;
    }
    memset(st->accs, 0, ((size_t)nslots + 1) * stride);
    /* 4. fold: rows, then the aggregates (tight loops), then the side aggregates per row */
    for (uint32_t r = 0; r < n; r++) (*(int64_t *)(st->accs + (size_t)slot[r] * stride))++;
    rn_acc_fold(sp, st->accs + 8, stride, slot, cols, n);
    for (uint32_t i = 0; i < nagg && sp->any_external; i++) {
        const struct rn_acc_agg *g = &sp->a[i];
        if (!g->external) continue;
        for (uint32_t r = 0; r < n && !rc; r++) {
            if (st->rowp[r] == NONE) continue;
            uint32_t s = slot[r];
            struct rn_acc_slot *sl = rn_acc_slot_of(sp, st->accs + (size_t)s * stride + 8, i);
            if (g->fn == RN_ACC_COUNT_DISTINCT) {
                rc = add_distinct(st, i, &cols[i], r, &keys->keys[r], st->bp[st->rowp[r]], &sl->n);
            } else if (!rn_column_is_null(&cols[i], r)) {
                struct rn_str v = rn_col_str(&cols[i], r), *best = &st->best[(size_t)s * nagg + i];
                if (rn_acc_str_takes(g->fn, sl->n != 0, *best, v)) *best = v;
                sl->n = 1;
            }
        }
    }
    if (rc) return rc;
    /* 5. the batch's panes in the cache (processing time: and their windows' timers) */
    for (uint32_t i = 0; i < nbp; i++) {
        st->bp_pane[i] = NULL;
        if (st->bp_status[i] == BP_DROP) continue;
        bool fresh = !pane_find(st, st->bp[i]);
        if ((rc = pane_get(st, st->bp[i], &st->bp_pane[i]))) return rc;
        if (fresh && !st->event_time && (rc = register_pane_timers(st, ctx, st->bp[i], INT64_MIN))) return rc;
    }
    /* 6. one cache update per distinct (key, pane); new entries of evicted panes read the
     * backend first (one get_many) */
    size_t n_load = 0;
    for (uint32_t s = 0; s < nslots; s++) {
        st->slot_entry[s] = NONE;
        if (!*(int64_t *)(st->accs + (size_t)s * stride)) continue;
        struct pane *p = st->bp_pane[st->slot_p[s]];
        const struct rn_state_key *k = &keys->group_keys[st->slot_g[s]];
        uint64_t h = key_hash(k->data, k->len);
        uint32_t e = pane_lookup(p, k->data, k->len, h);
        if (e == NONE) {
            if ((rc = pane_insert(st, p, k, h, &e))) return rc;
            if (p->evicted) {
                size_t c = st->cap_load;
                if (GROW(st->lkeys, c, n_load + 1)) return RN_ENOMEM;
                c = st->cap_load;
                if (GROW(st->lns, c, n_load + 1)) return RN_ENOMEM;
                c = st->cap_load;
                if (GROW(st->lvals, c, n_load + 1)) return RN_ENOMEM;
                c = st->cap_load;
                if (GROW(st->llens, c, n_load + 1)) return RN_ENOMEM;
                c = st->cap_load;
                if (GROW(st->lslot, c, n_load + 1)) return RN_ENOMEM;
                st->cap_load = c;
                st->lkeys[n_load] = *k;
                st->lns[n_load] = p->start;
                st->lslot[n_load++] = s;
            }
        }
        st->slot_entry[s] = e;
    }
    if (n_load) {
        if ((rc = rn_state_get_many(st->acc_state, st->lkeys, st->lns, (uint32_t)n_load, st->lvals, st->llens))) return rc;
        for (size_t j = 0; j < n_load; j++) {
            uint32_t s = st->lslot[j];
            struct pane *p = st->bp_pane[st->slot_p[s]];
            if (st->lvals[j] && st->llens[j] == stride) {
                memcpy(p->accs + (size_t)st->slot_entry[s] * stride, st->lvals[j], stride);
                p->e[st->slot_entry[s]].stored = 1;
            }
        }
    }
    int64_t trig = st->c.trig_count;
    for (uint32_t s = 0; s < nslots; s++) {
        uint32_t e = st->slot_entry[s];
        if (e == NONE) continue;
        struct pane *p = st->bp_pane[st->slot_p[s]];
        uint8_t *acc = p->accs + (size_t)e * stride;
        const uint8_t *mine = st->accs + (size_t)s * stride;
        int64_t before = *(const int64_t *)acc;
        *(int64_t *)acc += *(const int64_t *)mine;
        rn_acc_combine(sp, acc + 8, mine + 8);
        if ((rc = mark_dirty(p, e))) return rc;
        p->e[e].early = 1;
        p->early = true;
        for (uint32_t i = 0; i < nagg && sp->any_string && !rc; i++) {
            const struct rn_acc_agg *g = &sp->a[i];
            if (!g->external || g->fn == RN_ACC_COUNT_DISTINCT || !rn_acc_cslot_of(sp, mine + 8, i)->n) continue;
            rc = merge_string(st, i, &keys->group_keys[st->slot_g[s]], p->start, st->best[(size_t)s * nagg + i]);
        }
        /* count trigger (tumbling: the pane is the window): the key's row when the window's rows
         * reached one or more multiples of N in this batch */
        if (!rc && trig && *(const int64_t *)acc / trig > before / trig) {
            int64_t w = last_window(st, p->start);
            rc = emit_row(st, ctx, &keys->group_keys[st->slot_g[s]], true, w, sat_add(w, st->c.w.size), acc,
                          &p->start, 1);
        }
    }
    if (rc) return rc;
    /* 7. late rows within allowed_lateness: re-emit the updated rows of the windows that fired */
    if (any_late) {
        size_t np = 0;
        for (uint32_t s = 0; s < nslots; s++) {
            if (st->slot_entry[s] == NONE || st->bp_status[st->slot_p[s]] != BP_LATE) continue;
            int64_t p = st->bp[st->slot_p[s]];
            for (int64_t w = first_window(st, p), l = last_window(st, p); w <= l; w += st->c.w.slide) {
                if (fire_time(st, w) > wm) break;
                if (cleanup_time(st, w) > wm) {
                    if (grow_to((void **)&st->late_pairs, &st->cap_late, 2 * (np + 1), sizeof *st->late_pairs)) return RN_ENOMEM;
                    st->late_pairs[2 * np] = st->slot_g[s];
                    st->late_pairs[2 * np + 1] = w;
                    np++;
                }
                if (w > INT64_MAX - st->c.w.slide) break;
            }
        }
        qsort(st->late_pairs, np, 2 * sizeof *st->late_pairs, cmp_pair);
        for (size_t j = 0; j < np && !rc; j++) {
            if (j && !cmp_pair(&st->late_pairs[2 * j], &st->late_pairs[2 * (j - 1)])) continue;
            const struct rn_state_key *k = &keys->group_keys[st->late_pairs[2 * j]];
            int64_t w = st->late_pairs[2 * j + 1];
            uint32_t n_ns;
            bool any;
            if ((rc = key_window_acc(st, k, key_hash(k->data, k->len), w, &n_ns, &any))) break;
            if (any) rc = emit_row(st, ctx, k, true, w, sat_add(w, st->c.w.size), st->tmp, st->nsb, n_ns);
            if (w >= st->next_fire) st->next_fire = w + st->c.w.slide;
        }
        if (rc) return rc;
    }
    if ((rc = route_late(st, ctx, b, n_late))) return rc;
    /* 8. early firing: the first tick */
    if (st->c.early_every && !st->early_registered) {
        struct rn_state_key k = timer_key(st);
        if ((rc = register_early(st, ctx, &k))) return rc;
        st->early_registered = true;
    }
    if (st->cached > (uint64_t)st->c.cache_entries && (rc = evict_all(st))) return rc;
    return 0;
}

/* Early firing of pane windows: the partial rows of the keys that changed since the last tick,
 * in the windows that have not fired. */
static int early_panes(struct st *st, struct rn_op_ctx *ctx)
{
    int rc = 0;
    int64_t done_until = INT64_MIN;   /* windows are visited in start order: skip repeats */
    for (uint32_t i = 0; i < st->n_panes && !rc; i++) {
        struct pane *pn = st->panes[i];
        if (!pn->early) continue;
        for (int64_t w = first_window(st, pn->start), l = last_window(st, pn->start); w <= l && !rc; w += st->c.w.slide) {
            if (w < st->next_fire || w <= done_until) continue;
            done_until = w;
            /* the changed keys of every pane of w */
            bmap_reset(&st->win);
            int64_t end = sat_add(w, st->c.w.size);
            for (uint32_t j = pane_lower(st, w); j < st->n_panes && st->panes[j]->start < end && !rc; j++) {
                struct pane *p = st->panes[j];
                if (!p->early) continue;
                for (uint32_t e = 0; e < p->n && !rc; e++) {
                    if (!p->e[e].early) continue;
                    uint32_t x;
                    bool added;
                    rc = bmap_get(&st->win, p->keys + p->e[e].key_off, p->e[e].key_len, p->e[e].hash, &x, &added);
                    if (!rc && added) {
                        struct rn_state_key k = entry_key(p, &p->e[e]);
                        uint32_t n_ns;
                        bool any;
                        if (!(rc = key_window_acc(st, &k, p->e[e].hash, w, &n_ns, &any)) && any)
                            rc = emit_row(st, ctx, &k, true, w, end, st->tmp, st->nsb, n_ns);
                    }
                }
            }
            if (w > INT64_MAX - st->c.w.slide) break;
        }
    }
    for (uint32_t i = 0; i < st->n_panes; i++) {
        struct pane *p = st->panes[i];
        if (!p->early) continue;
        for (uint32_t e = 0; e < p->n; e++) p->e[e].early = 0;
        p->early = false;
    }
    return rc;
}

/* ---- session windows ---- */

/* A key's sessions in state (namespace 0): u32 count, then per session {start, end, id} and an
 * accumulator, by start. The id (the first row's time) names the session's timers and side
 * states; it survives merges (the surviving session keeps its own). */
#define SESS_HEAD 24u

struct sess {
    int64_t start, end, id;
    int64_t old_start, old_end;   /* as stored (INT64_MIN: new in this batch) */
    uint32_t parent;              /* union-find over the batch's pool */
    bool alive, stored;
};

/* Scratch of one batch: every key's sessions in one pool. */
struct sess_ctx {
    struct sess *s;
    size_t cap_s;
    uint8_t *stored;              /* per session: its accumulator (as stored, then final) */
    size_t cap_stored;
    uint8_t *batch;               /* per session: the batch's rows folded (+ a trash one) */
    size_t cap_batch;
    uint32_t *base, *cnt;         /* per key: its sessions in the pool */
    size_t cap_keys;
    uint32_t *rows;               /* the batch's rows grouped by key, arrival order kept */
    size_t cap_rows;
    uint32_t *start_of;           /* per key: where its rows start in rows[] */
    size_t cap_start;
    uint32_t *row_sess;           /* per row: its session in the pool (NONE: late) */
    size_t cap_row_sess;
    uint8_t *out;
    size_t cap_out;
};

static void sess_ctx_free(struct sess_ctx *x)
{
    if (!x) return;
    free(x->s);
    free(x->stored);
    free(x->batch);
    free(x->base);
    free(x->cnt);
    free(x->rows);
    free(x->start_of);
    free(x->row_sess);
    free(x->out);
    free(x);
}

static inline uint32_t sess_find(struct sess *s, uint32_t i)
{
    while (s[i].parent != i) i = s[i].parent = s[s[i].parent].parent;
    return i;
}

static enum rn_timer_kind timer_kind(const struct st *st)
{
    return st->c.w.processing_time ? RN_TIMER_PROCESSING : RN_TIMER_EVENT;
}

/* Room for `total` sessions in the pool. */
static int sess_room(struct st *st, struct sess_ctx *x, size_t total)
{
    if (GROW(x->s, x->cap_s, total)) return RN_ENOMEM;
    return grow_to((void **)&x->stored, &x->cap_stored, total * st->stride, 1);
}

/* Decodes a key's stored sessions into the pool at base; *n gets their number. */
static int sess_decode(struct st *st, const void *v, uint32_t len, struct sess_ctx *x, uint32_t base, uint32_t *n)
{
    *n = 0;
    if (!v) return 0;
    uint32_t cnt;
    if (len < 4) return RN_ECORRUPT;
    memcpy(&cnt, v, 4);
    size_t each = SESS_HEAD + st->stride;
    if ((size_t)len != 4 + (size_t)cnt * each) return RN_ECORRUPT;
    if (sess_room(st, x, (size_t)base + cnt)) return RN_ENOMEM;
    const uint8_t *p = (const uint8_t *)v + 4;
    for (uint32_t i = 0; i < cnt; i++, p += each) {
        struct sess *s = &x->s[base + i];
        memcpy(&s->start, p, 8);
        memcpy(&s->end, p + 8, 8);
        memcpy(&s->id, p + 16, 8);
        s->old_start = s->start;
        s->old_end = s->end;
        s->parent = base + i;
        s->alive = s->stored = true;
        memcpy(x->stored + (size_t)(base + i) * st->stride, p + SESS_HEAD, st->stride);
    }
    *n = cnt;
    return 0;
}

/* Writes a key's live sessions (pool [base, base + n)) back, by start. */
static int sess_store(struct st *st, const struct rn_state_key *k, struct sess_ctx *x, uint32_t base, uint32_t n)
{
    size_t each = SESS_HEAD + st->stride;
    uint32_t live = 0;
    for (uint32_t i = base; i < base + n; i++) live += x->s[i].alive;
    if (!live) return rn_state_remove(st->acc_state, k, 0);
    if (grow_to((void **)&x->out, &x->cap_out, 4 + (size_t)live * each, 1)) return RN_ENOMEM;
    memcpy(x->out, &live, 4);
    uint8_t *p = x->out + 4;
    int64_t prev = INT64_MIN;
    for (uint32_t done = 0; done < live; done++) {
        /* live sessions never overlap: the next by start is the smallest start above prev */
        uint32_t best = NONE;
        for (uint32_t i = base; i < base + n; i++)
            if (x->s[i].alive && (done == 0 || x->s[i].start > prev) && (best == NONE || x->s[i].start < x->s[best].start))
                best = i;
        if (best == NONE) break;
        prev = x->s[best].start;
        memcpy(p, &x->s[best].start, 8);
        memcpy(p + 8, &x->s[best].end, 8);
        memcpy(p + 16, &x->s[best].id, 8);
        memcpy(p + SESS_HEAD, x->stored + (size_t)best * st->stride, st->stride);
        p += each;
    }
    return rn_state_put(st->acc_state, k, 0, x->out, (uint32_t)(p - x->out));
}

/* Moves the side states of session `from` into session `into` (merged sessions); the distinct
 * counts are recounted afterwards. */
struct move_cb {
    struct st *st;
    const struct rn_state_key *k;
    int64_t into;
    int rc;
};
static int move_distinct(const void *mkey, uint32_t mlen, const void *val, uint32_t len, void *user)
{
    (void)val;
    (void)len;
    struct move_cb *c = user;
    const void *v;
    uint32_t vl;
    if ((c->rc = rn_state_map_get(c->st->distinct_state, c->k, c->into, mkey, mlen, &v, &vl))) return c->rc;
    if (!v) c->rc = rn_state_map_put(c->st->distinct_state, c->k, c->into, mkey, mlen, "", 0);
    return c->rc;
}

static int sess_merge_side(struct st *st, const struct rn_state_key *k, int64_t from, int64_t into, bool from_is_later)
{
    const struct rn_acc_spec *sp = st->c.acc;
    int rc = 0;
    if (st->distinct_state) {
        struct move_cb c = {st, k, into, 0};
        rc = rn_state_map_each(st->distinct_state, k, from, move_distinct, &c);
        if (!rc) rc = c.rc;
    }
    for (uint32_t i = 0; i < sp->n && !rc && st->string_state; i++) {
        const struct rn_acc_agg *g = &sp->a[i];
        if (!g->external || g->fn == RN_ACC_COUNT_DISTINCT) continue;
        uint8_t mk = (uint8_t)i;
        const void *v;
        uint32_t len;
        if ((rc = rn_state_map_get(st->string_state, k, from, &mk, 1, &v, &len)) || !v) continue;
        struct rn_str fs = {v, len};
        if ((rc = keep_str(st, &fs))) break;
        const void *iv;
        uint32_t il;
        if ((rc = rn_state_map_get(st->string_state, k, into, &mk, 1, &iv, &il))) break;
        struct rn_str is = {iv, il};
        bool take = !iv || (from_is_later ? rn_acc_str_takes(g->fn, true, is, fs) : !rn_acc_str_takes(g->fn, true, fs, is));
        if (take) rc = rn_state_map_put(st->string_state, k, into, &mk, 1, fs.ptr, fs.len);
    }
    if (!rc) rc = remove_side(st, k, from);
    return rc;
}

/* Recounts the distinct values of a session (after merges). */
static int sess_recount(struct st *st, const struct rn_state_key *k, int64_t id, uint8_t *acc)
{
    const struct rn_acc_spec *sp = st->c.acc;
    for (uint32_t i = 0; i < sp->n; i++) {
        if (sp->a[i].fn != RN_ACC_COUNT_DISTINCT) continue;
        int64_t cnt;
        int rc = distinct_union(st, k, &id, 1, i, &cnt);
        if (rc) return rc;
        rn_acc_slot_of(sp, acc + 8, i)->n = cnt;
    }
    return 0;
}

static struct sess_ctx *sess_ctx_of(struct st *st)
{
    if (!st->sx) st->sx = calloc(1, sizeof *st->sx);
    return st->sx;
}

/* Phase 1 for one key: its stored sessions, then each row's window [ts, ts + gap) merged into
 * the sessions it overlaps or touches (a row bridging sessions merges them: the stored one,
 * else the earlier, survives). */
static int sess_assign(struct st *st, struct sess_ctx *x, const struct rn_state_key *k, uint32_t g,
                       const struct rn_column *tc, int64_t now, int64_t wm, uint32_t *total, uint32_t *n_late)
{
    const void *v;
    uint32_t len, nst;
    int rc = rn_state_get(st->acc_state, k, 0, &v, &len);
    if (rc) return rc;
    uint32_t base = *total;
    if ((rc = sess_decode(st, v, len, x, base, &nst))) return rc;
    uint32_t n = nst;
    int64_t gap = st->c.w.gap;
    for (uint32_t j = x->start_of[g]; j < x->start_of[g + 1]; j++) {
        uint32_t r = x->rows[j];
        x->row_sess[r] = NONE;
        if (tc && rn_column_is_null(tc, r)) {
            st->dropped[(*n_late)++] = r;
            continue;
        }
        int64_t t = tc ? ((const int64_t *)tc->values)[r] : now, e = sat_add(t, gap);
        uint32_t into = NONE;
        for (uint32_t i = base; i < base + n; i++) {
            struct sess *s = &x->s[i];
            if (!s->alive || s->start > e || s->end < t) continue;
            if (into == NONE) {
                into = i;
                continue;
            }
            struct sess *a = &x->s[into];
            uint32_t keep = into, gone = i;
            if ((s->stored && !a->stored) || (s->stored == a->stored && s->start < a->start)) keep = i, gone = into;
            struct sess *K = &x->s[keep], *G = &x->s[gone];
            if (G->start < K->start) K->start = G->start;
            if (G->end > K->end) K->end = G->end;
            G->alive = false;
            G->parent = keep;
            into = keep;
        }
        if (into == NONE) {
            if (tc && sat_add(e - 1, st->c.lateness) <= wm) {
                st->dropped[(*n_late)++] = r;   /* late: no live session to join, its own window is past */
                continue;
            }
            if (sess_room(st, x, (size_t)base + n + 1)) return RN_ENOMEM;
            x->s[base + n] = (struct sess){t, e, t, INT64_MIN, INT64_MIN, base + n, true, false};
            memset(x->stored + (size_t)(base + n) * st->stride, 0, st->stride);
            into = base + n++;
        } else {
            struct sess *s = &x->s[into];
            if (t < s->start) s->start = t;
            if (e > s->end) s->end = e;
        }
        x->row_sess[r] = into;
    }
    x->base[g] = base;
    x->cnt[g] = n;
    *total = base + n;
    return 0;
}

/* Phase 3 for one key: merged sessions, side aggregates, final accumulators, timers (and late
 * firings), the state. */
static int sess_finish_key(struct st *st, struct rn_op_ctx *ctx, struct sess_ctx *x, const struct rn_state_key *k,
                           uint32_t g, const struct rn_column *cols, int64_t wm)
{
    const struct rn_acc_spec *sp = st->c.acc;
    uint32_t base = x->base[g], n = x->cnt[g], stride = st->stride;
    enum rn_timer_kind kind = timer_kind(st);
    int rc = 0;
    bool merged_stored = false;
    for (uint32_t i = base; i < base + n && !rc; i++) {
        if (x->s[i].alive) continue;
        uint32_t root = sess_find(x->s, i);
        bool later = x->s[i].id > x->s[root].id;
        uint8_t *ra = x->stored + (size_t)root * stride, *ia = x->stored + (size_t)i * stride;
        if (later) {
            *(int64_t *)ra += *(int64_t *)ia;
            rn_acc_combine(sp, ra + 8, ia + 8);
        } else {
            memcpy(st->tmp, ia, stride);
            *(int64_t *)st->tmp += *(int64_t *)ra;
            rn_acc_combine(sp, st->tmp + 8, ra + 8);
            memcpy(ra, st->tmp, stride);
        }
        if (!x->s[i].stored) continue;
        merged_stored = true;
        if (sp->any_external) rc = sess_merge_side(st, k, x->s[i].id, x->s[root].id, later);
        if (!rc) rc = rn_op_timer_delete(ctx, kind, k, x->s[i].id, x->s[i].old_end - 1);
        if (!rc && st->c.lateness)
            rc = rn_op_timer_delete(ctx, kind, k, x->s[i].id, sat_add(x->s[i].old_end - 1, st->c.lateness));
    }
    /* side aggregates of the batch's rows, into the surviving sessions' namespaces */
    for (uint32_t i = 0; i < sp->n && sp->any_external && !rc; i++) {
        const struct rn_acc_agg *ag = &sp->a[i];
        if (!ag->external) continue;
        for (uint32_t j = x->start_of[g]; j < x->start_of[g + 1] && !rc; j++) {
            uint32_t r = x->rows[j];
            if (x->row_sess[r] == NONE) continue;
            uint32_t root = sess_find(x->s, x->row_sess[r]);
            struct rn_acc_slot *sl = rn_acc_slot_of(sp, x->batch + (size_t)root * stride + 8, i);
            if (ag->fn == RN_ACC_COUNT_DISTINCT) {
                rc = add_distinct(st, i, &cols[i], r, k, x->s[root].id, &sl->n);
            } else if (!rn_column_is_null(&cols[i], r)) {
                rc = merge_string(st, i, k, x->s[root].id, rn_col_str(&cols[i], r));
                sl->n = 1;
            }
        }
    }
    for (uint32_t i = base; i < base + n && !rc; i++) {
        if (!x->s[i].alive) continue;
        uint8_t *a = x->stored + (size_t)i * stride;
        const uint8_t *bt = x->batch + (size_t)i * stride;
        *(int64_t *)a += *(const int64_t *)bt;
        rn_acc_combine(sp, a + 8, bt + 8);
        if (merged_stored && sp->any_distinct) rc = sess_recount(st, k, x->s[i].id, a);
    }
    /* count trigger: a session whose rows reached one or more multiples of N in this batch (its
     * rows before the batch: those of the stored sessions merged into it) emits its row */
    for (uint32_t i = base; i < base + n && !rc && st->c.trig_count; i++) {
        const struct sess *s = &x->s[i];
        int64_t after = *(const int64_t *)(x->stored + (size_t)i * stride), trig = st->c.trig_count;
        int64_t before = after - *(const int64_t *)(x->batch + (size_t)i * stride);
        if (s->alive && after / trig > before / trig)
            rc = emit_row(st, ctx, k, true, s->start, s->end, x->stored + (size_t)i * stride, &s->id, 1);
    }
    /* timers; sessions already past their end (late rows within allowed_lateness) fire now
     * (unless a count trigger replaces that firing) */
    for (uint32_t i = base; i < base + n && !rc; i++) {
        struct sess *s = &x->s[i];
        if (!s->alive) continue;
        bool changed = s->start != s->old_start || s->end != s->old_end;
        if (!changed && !*(const int64_t *)(x->batch + (size_t)i * stride)) continue;
        int64_t ft = s->end - 1;
        /* An event-time session that grows before it fired keeps its pending timer (at its old
         * end - 1, never later than the new one): when that fires, session_timer re-arms it at
         * the session's end - 1 then. One timer per session instead of a delete and a register
         * each time a batch extends it. */
        bool lazy = !st->c.w.processing_time && s->stored && s->old_end - 1 > wm && ft > wm;
        if (lazy) continue;
        if (s->stored && s->end != s->old_end) {
            rc = rn_op_timer_delete(ctx, kind, k, s->id, s->old_end - 1);
            if (!rc && st->c.lateness) rc = rn_op_timer_delete(ctx, kind, k, s->id, sat_add(s->old_end - 1, st->c.lateness));
            if (rc) break;
        }
        if (st->c.w.processing_time || ft > wm) {
            rc = rn_op_timer_register(ctx, kind, k, s->id, ft);
        } else {
            if (!st->c.trig_count) rc = emit_row(st, ctx, k, true, s->start, s->end, x->stored + (size_t)i * stride, &s->id, 1);
            if (!rc) rc = rn_op_timer_register(ctx, kind, k, s->id, sat_add(ft, st->c.lateness));
        }
    }
    if (!rc) rc = sess_store(st, k, x, base, n);
    return rc;
}

static int process_sessions(struct st *st, struct rn_op_ctx *ctx, const struct rn_batch *b,
                            const struct rn_op_keys *keys, const struct rn_column *cols)
{
    struct sess_ctx *x = sess_ctx_of(st);
    if (!x) return RN_ENOMEM;
    uint32_t n = b->n_rows, ng = keys->n_groups, stride = st->stride;
    int rc = scratch_rows(st, n);
    if (rc) return rc;
    int64_t wm = rn__ckpt_watermark(ctx, st->wm_floor), now = rn_op_processing_time(ctx);
    const struct rn_column *tc = st->c.w.processing_time ? NULL : &b->cols[st->time_col];
    size_t ck = x->cap_keys;
    if (GROW(x->rows, x->cap_rows, n) || GROW(x->start_of, x->cap_start, (size_t)ng + 1) ||
        GROW(x->row_sess, x->cap_row_sess, n) || GROW(x->base, ck, ng))
        return RN_ENOMEM;
    ck = x->cap_keys;
    if (GROW(x->cnt, ck, ng)) return RN_ENOMEM;
    x->cap_keys = ck;
    /* the rows grouped by key (a counting sort keeps their order) */
    memset(x->start_of, 0, ((size_t)ng + 1) * sizeof *x->start_of);
    for (uint32_t r = 0; r < n; r++) x->start_of[keys->group[r] + 1]++;
    for (uint32_t g = 0; g < ng; g++) x->start_of[g + 1] += x->start_of[g];
    for (uint32_t r = 0; r < n; r++) x->rows[x->start_of[keys->group[r]]++] = r;
    for (uint32_t g = ng; g > 0; g--) x->start_of[g] = x->start_of[g - 1];
    x->start_of[0] = 0;
    /* 1. sessions per key, rows assigned */
    uint32_t total = 0, n_late = 0;
    for (uint32_t g = 0; g < ng && !rc; g++)
        rc = sess_assign(st, x, &keys->group_keys[g], g, tc, now, wm, &total, &n_late);
    if (rc) return rc;
    /* 2. one fold of the batch: every row into its surviving session (late rows: a trash one) */
    if (grow_to((void **)&x->batch, &x->cap_batch, ((size_t)total + 1) * stride, 1)) return RN_ENOMEM;
    memset(x->batch, 0, ((size_t)total + 1) * stride);
    for (uint32_t r = 0; r < n; r++) st->slot[r] = x->row_sess[r] == NONE ? total : sess_find(x->s, x->row_sess[r]);
    for (uint32_t r = 0; r < n; r++) (*(int64_t *)(x->batch + (size_t)st->slot[r] * stride))++;
    rn_acc_fold(st->c.acc, x->batch + 8, stride, st->slot, cols, n);
    /* 3. per key: merges, timers, state */
    for (uint32_t g = 0; g < ng && !rc; g++) rc = sess_finish_key(st, ctx, x, &keys->group_keys[g], g, cols, wm);
    if (rc) return rc;
    return route_late(st, ctx, b, n_late);
}

static int session_timer(struct st *st, struct rn_op_ctx *ctx, const struct rn_timer *t)
{
    struct sess_ctx *x = sess_ctx_of(st);
    if (!x) return RN_ENOMEM;
    const void *v;
    uint32_t len, n;
    int rc = rn_state_get(st->acc_state, &t->key, 0, &v, &len);
    if (rc || (rc = sess_decode(st, v, len, x, 0, &n))) return rc;
    for (uint32_t i = 0; i < n; i++) {
        struct sess *s = &x->s[i];
        if (s->id != t->ns) continue;
        /* the timer of a session that grew since (sess_finish_key's lazy timers): re-armed */
        if (t->kind == RN_TIMER_EVENT && t->time < s->end - 1)
            return rn_op_timer_register(ctx, RN_TIMER_EVENT, &t->key, s->id, s->end - 1);
        bool fire = t->time == s->end - 1, purge = t->time == sat_add(s->end - 1, st->c.lateness);
        /* with a count trigger the timer at end - 1 only leads to the cleanup */
        if (fire && !st->c.trig_count && (rc = emit_row(st, ctx, &t->key, true, s->start, s->end, x->stored + (size_t)i * st->stride, &s->id, 1)))
            return rc;
        if (purge) {
            s->alive = false;
            if ((rc = remove_side(st, &t->key, s->id))) return rc;
            return sess_store(st, &t->key, x, 0, n);
        }
        if (fire) return rn_op_timer_register(ctx, timer_kind(st), &t->key, s->id, sat_add(s->end - 1, st->c.lateness));
        return 0;
    }
    return 0;
}

/* Processing-time sessions still open at the end of the input fire then. */
struct final_cb {
    struct st *st;
    struct rn_op_ctx *ctx;
    int rc;
};
static int final_session(const struct rn_state_entry *e, void *user)
{
    struct final_cb *c = user;
    struct st *st = c->st;
    struct sess_ctx *x = sess_ctx_of(st);
    uint32_t n;
    if (!x) return c->rc = RN_ENOMEM;
    if ((c->rc = sess_decode(st, e->val, e->len, x, 0, &n))) return c->rc;
    struct rn_state_key k = {e->key, e->key_len, e->key_group};
    for (uint32_t i = 0; i < n && !c->rc; i++)
        c->rc = emit_row(st, c->ctx, &k, true, x->s[i].start, x->s[i].end, x->stored + (size_t)i * st->stride, &x->s[i].id, 1);
    return c->rc;
}

/* ---- count and global windows ---- */

/* Per key (namespace 0): i64 rows seen, then `ring` accumulators: the panes of the last `size`
 * rows (count windows), or the whole window (global). */
struct cw {
    int64_t pane;        /* rows per pane (global: per trigger firing; INT64_MAX without trigger) */
    uint32_t ring;       /* panes per window */
    int64_t slide;       /* fire every slide rows */
    bool cumulative;     /* global: the accumulator is never reset */
};

static struct cw cw_of(const struct st *st)
{
    if (st->c.w.type == RN_WIN_GLOBAL) {
        int64_t p = st->c.trig_count ? st->c.trig_count : INT64_MAX;
        return (struct cw){p, 1, p, true};
    }
    return (struct cw){st->c.w.pane, (uint32_t)(st->c.w.size / st->c.w.pane), st->c.w.slide, false};
}

static int process_counts(struct st *st, struct rn_op_ctx *ctx, const struct rn_batch *b,
                          const struct rn_op_keys *keys, const struct rn_column *cols)
{
    const struct rn_acc_spec *sp = st->c.acc;
    struct cw cw = cw_of(st);
    uint32_t n = b->n_rows, ng = keys->n_groups, stride = st->stride;
    size_t vsize = 8 + (size_t)cw.ring * stride;
    int rc = scratch_rows(st, n);
    if (rc) return rc;
    /* read every key's state; slots: per key, one per pane its rows reach */
    size_t c = st->cap_load;
    if (GROW(st->lkeys, c, ng)) return RN_ENOMEM;
    c = st->cap_load;
    if (GROW(st->lns, c, ng)) return RN_ENOMEM;
    c = st->cap_load;
    if (GROW(st->lvals, c, ng)) return RN_ENOMEM;
    c = st->cap_load;
    if (GROW(st->llens, c, ng)) return RN_ENOMEM;
    c = st->cap_load;
    if (GROW(st->lslot, c, ng)) return RN_ENOMEM;
    st->cap_load = c;
    memcpy(st->lkeys, keys->group_keys, ng * sizeof *st->lkeys);
    memset(st->lns, 0, ng * sizeof *st->lns);
    if ((rc = rn_state_get_many(st->acc_state, st->lkeys, st->lns, ng, st->lvals, st->llens))) return rc;
    /* the values are only valid until the next state call: copy them */
    if (grow_to((void **)&st->kbuf, &st->kcap, (size_t)ng * vsize, 1)) return RN_ENOMEM;
    for (uint32_t g = 0; g < ng; g++) {
        uint8_t *dst = st->kbuf + (size_t)g * vsize;
        if (st->lvals[g] && st->llens[g] == vsize) memcpy(dst, st->lvals[g], vsize);
        else memset(dst, 0, vsize);
    }
    /* per row: its ordinal in its key, hence its pane; slot = the key's first slot + pane offset */
    int64_t *seen = st->lns;   /* reused: per group, rows seen so far in this batch */
    memset(seen, 0, ng * sizeof *seen);
    uint32_t *first = st->lslot, nslots = 0;
    /* pass 1: slots per key = panes touched */
    for (uint32_t r = 0; r < n; r++) seen[keys->group[r]]++;
    for (uint32_t g = 0; g < ng; g++) {
        int64_t before = *(int64_t *)(st->kbuf + (size_t)g * vsize);
        int64_t p0 = before / cw.pane, p1 = (before + seen[g] - 1) / cw.pane;
        first[g] = nslots;
        nslots += (uint32_t)(p1 - p0 + 1);
        seen[g] = 0;
    }
    if ((rc = scratch_slots(st, (size_t)nslots + 1))) return rc;
    memset(st->accs, 0, ((size_t)nslots + 1) * stride);
    for (uint32_t r = 0; r < n; r++) {
        uint32_t g = keys->group[r];
        int64_t before = *(int64_t *)(st->kbuf + (size_t)g * vsize);
        int64_t o = before + seen[g]++;
        st->slot[r] = first[g] + (uint32_t)(o / cw.pane - before / cw.pane);
    }
    for (uint32_t r = 0; r < n; r++) (*(int64_t *)(st->accs + (size_t)st->slot[r] * stride))++;
    rn_acc_fold(sp, st->accs + 8, stride, st->slot, cols, n);
    /* side aggregates: namespace = the pane's number (global: 0) */
    for (uint32_t i = 0; i < sp->n && sp->any_external && !rc; i++) {
        const struct rn_acc_agg *ag = &sp->a[i];
        if (!ag->external) continue;
        memset(seen, 0, ng * sizeof *seen);
        for (uint32_t r = 0; r < n && !rc; r++) {
            uint32_t g = keys->group[r];
            int64_t before = *(int64_t *)(st->kbuf + (size_t)g * vsize), o = before + seen[g]++;
            int64_t ns = cw.cumulative ? 0 : o / cw.pane;
            struct rn_acc_slot *sl = rn_acc_slot_of(sp, st->accs + (size_t)st->slot[r] * stride + 8, i);
            if (ag->fn == RN_ACC_COUNT_DISTINCT) {
                rc = add_distinct(st, i, &cols[i], r, &keys->keys[r], ns, &sl->n);
            } else if (!rn_column_is_null(&cols[i], r)) {
                rc = merge_string(st, i, &keys->keys[r], ns, rn_col_str(&cols[i], r));
                sl->n = 1;
            }
        }
    }
    if (rc) return rc;
    /* per key: the panes in order; fire at the end of every slide */
    for (uint32_t g = 0; g < ng && !rc; g++) {
        uint8_t *v = st->kbuf + (size_t)g * vsize;
        const struct rn_state_key *k = &keys->group_keys[g];
        int64_t before = *(int64_t *)v;
        uint32_t cnt = g + 1 < ng ? first[g + 1] - first[g] : nslots - first[g];
        int64_t o = before;
        for (uint32_t q = 0; q < cnt && !rc; q++) {
            const uint8_t *mine = st->accs + (size_t)(first[g] + q) * stride;
            int64_t rows = *(const int64_t *)mine, pn = o / cw.pane;
            uint8_t *ra = v + 8 + (size_t)(cw.ring > 1 ? (uint64_t)pn % cw.ring : 0) * stride;
            if (!cw.cumulative && o % cw.pane == 0) memset(ra, 0, stride);   /* a new pane */
            *(int64_t *)ra += rows;
            rn_acc_combine(sp, ra + 8, mine + 8);
            o += rows;
            if (o % cw.pane || o % cw.slide) continue;
            /* fire: the ring's panes from the oldest still in the window */
            if (o == 0) continue;
            if (cw.cumulative) {
                int64_t zero = 0;
                rc = emit_row(st, ctx, k, false, 0, 0, ra, &zero, 1);
                continue;
            }
            int64_t last = o / cw.pane - 1, firstp = last - (int64_t)cw.ring + 1;
            if (firstp < 0) firstp = 0;
            memset(st->tmp, 0, stride);
            uint32_t n_ns = 0;
            if (GROW(st->nsb, st->cap_nsb, (size_t)(last - firstp) + 1)) return RN_ENOMEM;
            for (int64_t x = firstp; x <= last; x++) {
                const uint8_t *pa = v + 8 + (size_t)((uint64_t)x % cw.ring) * stride;
                *(int64_t *)st->tmp += *(const int64_t *)pa;
                rn_acc_combine(sp, st->tmp + 8, pa + 8);
                st->nsb[n_ns++] = x;
            }
            rc = emit_row(st, ctx, k, false, 0, 0, st->tmp, st->nsb, n_ns);
            /* the panes that the next window no longer holds: their side states go */
            int64_t keep_from = last + cw.slide / cw.pane - (int64_t)cw.ring + 1;
            for (int64_t x = firstp; x < keep_from && !rc && sp->any_external; x++) rc = remove_side(st, k, x);
        }
        *(int64_t *)v = o;
        if (!rc) rc = rn_state_put(st->acc_state, k, 0, v, (uint32_t)vsize);
        if (!rc && st->c.early_every) rc = register_early(st, ctx, k);
    }
    return rc;
}

/* Global windows at the end of the input: every key's row (unless the last firing covered it). */
static int final_global(const struct rn_state_entry *e, void *user)
{
    struct final_cb *c = user;
    struct st *st = c->st;
    struct cw cw = cw_of(st);
    if (e->len != 8 + (size_t)cw.ring * st->stride) return c->rc = RN_ECORRUPT;
    int64_t rows;
    memcpy(&rows, e->val, 8);
    if (!rows || (cw.pane != INT64_MAX && rows % cw.pane == 0)) return 0;
    memcpy(st->tmp, (const uint8_t *)e->val + 8, st->stride);
    struct rn_state_key k = {e->key, e->key_len, e->key_group};
    int64_t zero = 0;
    return c->rc = emit_row(st, c->ctx, &k, false, 0, 0, st->tmp, &zero, 1);
}

static int global_early(struct st *st, struct rn_op_ctx *ctx, const struct rn_state_key *k)
{
    const void *v;
    uint32_t len;
    int rc = rn_state_get(st->acc_state, k, 0, &v, &len);
    if (rc || !v || len < 8 + st->stride) return rc;
    memcpy(st->tmp, (const uint8_t *)v + 8, st->stride);
    int64_t zero = 0;
    return emit_row(st, ctx, k, false, 0, 0, st->tmp, &zero, 1);
}

/* ---- callbacks ---- */

static int open_(struct rn_op_ctx *ctx, void **state)
{
    struct st *st = calloc(1, sizeof *st);
    if (!st) return RN_ENOMEM;
    *state = st;
    struct report r = {NULL, ctx};
    const rn_value *opts = rn_op_options(ctx);
    const rn_schema *in = rn_op_input_schema(ctx, 0);
    int rc = rn_win_spec_open(ctx, "window", 0, &st->c.w, &st->time_col);
    if (rc || (rc = parse_rest(&r, opts, &st->c))) return rc;
    char msg[512];
    const rn_value *where;
    if (!(st->c.acc = rn_acc_spec_build(rn_opt_value(opts, "aggregates"), in, rn_op_registry(ctx), &where, msg, sizeof msg))) {
        rn_op_error(ctx, "%s", msg);
        return RN_EINVAL;
    }
    const struct rn_acc_spec *sp = st->c.acc;
    st->nagg = sp->n;
    st->stride = 8 + sp->acc_size;
    st->key_type = rn_schema_field(rn_op_output_schema(ctx), 0)->type;
    st->pane_windows = st->c.w.type == RN_WIN_TUMBLING || st->c.w.type == RN_WIN_SLIDING;
    st->event_time = !st->c.w.processing_time;
    st->next_fire = INT64_MIN;
    st->wm_floor = INT64_MIN;
    uint32_t kg_first, kg_last;
    rn__ckpt_key_groups(ctx, &kg_first, &kg_last);
    st->timer_kg = (uint16_t)kg_first;
    if (!(st->args = calloc(sp->n, sizeof *st->args)) || !(st->tmp = calloc(1, st->stride)) ||
        !(st->load = calloc(1, st->stride)))
        return RN_ENOMEM;
    struct rn_error err;
    if (rn_acc_compile_args(sp, in, st->args, &err)) {
        rn_op_error(ctx, "%s", err.msg);
        return RN_EINVAL;
    }
    st->win.vsize = st->stride + 8;   /* the accumulator, then the key group */
    st->late_port = st->c.has_late_output ? rn_op_side_port(ctx, "late_output") : 0;
    if (!st->late_port && st->event_time && st->c.w.type != RN_WIN_COUNT && st->c.w.type != RN_WIN_GLOBAL)
        st->late_metric = rn_op_metric(ctx, "late_dropped");
    if (!(st->backend = rn_op_state(ctx))) return RN_EINVAL;
    if (st->c.cache_entries == 0)   /* spilling to the memory backend would only move entries between two tables */
        st->c.cache_entries = rn_state_backend_kind(st->backend) == RN_STATE_MEMORY ? INT64_MAX : 1000000;
    if (st->c.w.type == RN_WIN_SESSION) {
        struct rn_state_desc d = {"window.sessions", RN_STATE_VALUE, 0, 0, NULL, NULL};
        rc = rn_op_state_declare(ctx, &d, &st->acc_state);
    } else if (st->pane_windows) {
        struct rn_state_desc d = {"window.acc", RN_STATE_VALUE, st->stride, 0, NULL, NULL};
        rc = rn_op_state_declare(ctx, &d, &st->acc_state);
    } else {
        struct cw cw = cw_of(st);
        struct rn_state_desc d = {"window.count", RN_STATE_VALUE, (uint32_t)(8 + (size_t)cw.ring * st->stride), 0, NULL, NULL};
        rc = rn_op_state_declare(ctx, &d, &st->acc_state);
    }
    if (!rc && sp->any_distinct) {
        struct rn_state_desc d = {"window.distinct", RN_STATE_MAP, 0, 0, NULL, NULL};
        rc = rn_op_state_declare(ctx, &d, &st->distinct_state);
    }
    if (!rc && sp->any_string) {
        struct rn_state_desc d = {"window.string", RN_STATE_MAP, 0, 0, NULL, NULL};
        rc = rn_op_state_declare(ctx, &d, &st->string_state);
    }
    return rc;
}

static int process(void *state, struct rn_op_ctx *ctx, uint32_t input, const struct rn_batch *b)
{
    (void)input;
    struct st *st = state;
    if (!b->n_rows) return 0;
    struct rn_op_keys keys;
    int rc = rn_op_keys(ctx, 0, b, &keys);
    if (rc) return rc;
    struct rn_column cols[RN_ACC_MAX_AGGS];
    struct rn_error err;
    if (rn_acc_eval_args(st->c.acc, st->args, b, cols, &err)) {
        rn_op_error(ctx, "%s", err.msg);
        return RN_EINVAL;
    }
    if (st->pane_windows) rc = process_panes(st, ctx, b, &keys, cols);
    else if (st->c.w.type == RN_WIN_SESSION) rc = process_sessions(st, ctx, b, &keys, cols);
    else rc = process_counts(st, ctx, b, &keys, cols);
    rn_acc_release_args(st->c.acc, cols);
    if (rc) {
        if (rc != RN_ECANCELED && rc != RN_EINVAL) rn_op_error(ctx, "%s", rn_strerror(rc));
        return rc;
    }
    return flush_out(st, ctx);
}

static int on_watermark(void *state, struct rn_op_ctx *ctx, int64_t wm)
{
    struct st *st = state;
    int rc = 0;
    if (st->pane_windows && st->event_time) rc = advance(st, ctx, wm);
    if (rc) {
        if (rc != RN_ECANCELED) rn_op_error(ctx, "firing windows: %s", rn_strerror(rc));
        return rc;
    }
    return flush_out(st, ctx);
}

static int on_timer(void *state, struct rn_op_ctx *ctx, const struct rn_timer *t)
{
    struct st *st = state;
    int rc = 0;
    if (st->pane_windows && t->key.len == 0) {
        if (t->ns == EARLY_NS) {
            rc = early_panes(st, ctx);
            struct rn_state_key k = timer_key(st);
            if (!rc) rc = register_early(st, ctx, &k);
        } else if (!st->event_time && t->ns >= st->next_fire) {
            rc = fire_window(st, ctx, t->ns);
            if (!rc) st->next_fire = t->ns > INT64_MAX - st->c.w.slide ? INT64_MAX : t->ns + st->c.w.slide;
            while (!rc && st->n_panes && last_window(st, st->panes[0]->start) <= t->ns) rc = drop_pane(st, 0);
        }
    } else if (st->c.w.type == RN_WIN_SESSION) {
        rc = session_timer(st, ctx, t);
    } else if (st->c.w.type == RN_WIN_GLOBAL && t->ns == EARLY_NS) {
        rc = global_early(st, ctx, &t->key);
    }
    if (rc) {
        if (rc != RN_ECANCELED) rn_op_error(ctx, "timer: %s", rn_strerror(rc));
        return rc;
    }
    /* event-time timers are followed by on_watermark, which emits; processing time emits now */
    return t->kind == RN_TIMER_PROCESSING ? flush_out(st, ctx) : 0;
}

static int finish(void *state, struct rn_op_ctx *ctx)
{
    struct st *st = state;
    int rc = 0;
    if (st->pane_windows && !st->event_time) {
        rc = advance(st, ctx, INT64_MAX);
    } else if (st->c.w.type == RN_WIN_GLOBAL) {
        struct final_cb c = {st, ctx, 0};
        rc = rn_state_each_in_namespace(st->acc_state, 0, final_global, &c);
        if (!rc) rc = c.rc;
    } else if (st->c.w.type == RN_WIN_SESSION && st->c.w.processing_time) {
        struct final_cb c = {st, ctx, 0};
        rc = rn_state_each_in_namespace(st->acc_state, 0, final_session, &c);
        if (!rc) rc = c.rc;
    }
    if (rc) {
        if (rc != RN_ECANCELED) rn_op_error(ctx, "end of input: %s", rn_strerror(rc));
        return rc;
    }
    return flush_out(st, ctx);
}

/* ---- checkpoints ---- */

#define WM_LIST "window_aggregate.watermark"
/* One element per old subtask: u32 subtask, u32 n, i64 next_fire, then n i64 pane starts. */
#define PANES_LIST "window_aggregate.panes"
#define PANES_HEAD 16u

static int snapshot(void *state, struct rn_op_ctx *ctx, struct rn_snapshot_writer *w)
{
    struct st *st = state;
    int rc = flush_out(st, ctx);   /* rows already due leave before the barrier */
    if (!rc && st->pane_windows) rc = flush(st);
    if (!rc) rc = rn__ckpt_save_watermark(w, ctx, WM_LIST, st->wm_floor);
    if (!rc && st->pane_windows) {
        size_t size = PANES_HEAD + (size_t)st->n_panes * 8;
        if (grow_to((void **)&st->ckbuf, &st->ckcap, size, 1)) return RN_ENOMEM;
        uint32_t head[2] = {rn_op_subtask(ctx), st->n_panes};
        memcpy(st->ckbuf, head, 8);
        memcpy(st->ckbuf + 8, &st->next_fire, 8);
        for (uint32_t i = 0; i < st->n_panes; i++) memcpy(st->ckbuf + PANES_HEAD + (size_t)i * 8, &st->panes[i]->start, 8);
        rc = rn_snapshot_append_union(w, PANES_LIST, st->ckbuf, (uint32_t)size);
    }
    if (rc && rc != RN_ECANCELED) rn_op_error(ctx, "checkpoint: %s", rn_strerror(rc));
    return rc;
}

/* Reading the pane list: at the same parallelism the subtask's own element, else all of them. */
struct restore_cb {
    struct st *st;
    uint32_t me;
    bool own_only, found;
    int64_t next_fire;
    size_t n;                       /* starts gathered in st->ckbuf */
};

static int restore_panes(const void *val, uint32_t len, void *user)
{
    struct restore_cb *c = user;
    uint32_t head[2];
    int64_t nf;
    if (len < PANES_HEAD) return RN_ECORRUPT;
    memcpy(head, val, 8);
    memcpy(&nf, (const uint8_t *)val + 8, 8);
    if ((size_t)len != PANES_HEAD + (size_t)head[1] * 8) return RN_ECORRUPT;
    if (c->own_only && head[0] != c->me) return 0;
    if (!c->found || nf > c->next_fire) c->next_fire = nf;
    c->found = true;
    if (grow_to((void **)&c->st->ckbuf, &c->st->ckcap, (c->n + head[1]) * 8, 1)) return RN_ENOMEM;
    if (head[1]) memcpy(c->st->ckbuf + c->n * 8, (const uint8_t *)val + PANES_HEAD, (size_t)head[1] * 8);
    c->n += head[1];
    return 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x, y;
    memcpy(&x, a, 8);
    memcpy(&y, b, 8);
    return (x > y) - (x < y);
}

/* Memory backend: one accumulator of the subtask's state back into the cache (its pane made
 * when it is the pane's first). */
static int load_entry(const struct rn_state_entry *e, void *user)
{
    struct st *st = user;
    if (e->len != st->stride) return RN_ECORRUPT;
    struct pane *p;
    int rc = pane_get(st, e->ns, &p);
    if (rc) return rc;
    struct rn_state_key k = {e->key, e->key_len, e->key_group};
    uint64_t h = key_hash(e->key, e->key_len);
    uint32_t x;
    if (pane_lookup(p, e->key, e->key_len, h) != NONE) return RN_ECORRUPT;   /* one value per (key, pane) */
    if ((rc = pane_insert(st, p, &k, h, &x))) return rc;
    memcpy(p->accs + (size_t)x * st->stride, e->val, st->stride);
    p->e[x].stored = 1;
    return 0;
}

/* The panes come back from the union list. With RocksDB they come back empty and evicted: a
 * key is read from the backend when a row or a firing needs it (a firing enumerates the pane's
 * namespace with a seek per key group), so the restore costs nothing per key. The memory
 * backend enumerates a namespace by scanning its whole state, which evicted panes would do at
 * every firing and drop; there the accumulators come back into the cache in one pass over the
 * subtask's key groups instead (the pane list then comes from the state itself: a pane without
 * keys here has nothing to fire). */
static int restore(void *state, struct rn_op_ctx *ctx, struct rn_snapshot_reader *r)
{
    struct st *st = state;
    int rc = rn__ckpt_load_watermark(r, WM_LIST, &st->wm_floor);
    if (!rc && st->pane_windows) {
        struct restore_cb c = {st, rn_op_subtask(ctx), rn_restore_old_parallelism(r) == rn_op_parallelism(ctx), false,
                               INT64_MIN, 0};
        rc = rn_restore_each(r, PANES_LIST, restore_panes, &c);
        if (!rc && c.own_only && !c.found) {   /* not this subtask's element: take every one */
            c.own_only = false;
            rc = rn_restore_each(r, PANES_LIST, restore_panes, &c);
        }
        if (!rc) {
            st->next_fire = c.next_fire;
            if (c.n) qsort(st->ckbuf, c.n, 8, cmp_i64);
        }
        if (!rc && rn_state_backend_kind(st->backend) == RN_STATE_MEMORY) {
            uint32_t kg_first, kg_last;
            rn__ckpt_key_groups(ctx, &kg_first, &kg_last);
            rc = rn_state_each(st->acc_state, kg_first, kg_last, load_entry, st);
        } else {
            for (size_t i = 0; i < c.n && !rc; i++) {
                int64_t p;
                memcpy(&p, st->ckbuf + i * 8, 8);
                if (i && !cmp_i64(st->ckbuf + i * 8, st->ckbuf + (i - 1) * 8)) continue;
                struct pane *pn;
                if (!(rc = pane_get(st, p, &pn))) pn->evicted = true;
            }
        }
        for (uint32_t i = 0; i < st->n_panes && !rc && !st->event_time; i++)
            rc = register_pane_timers(st, ctx, st->panes[i]->start, st->next_fire);
    }
    if (rc) rn_op_error(ctx, "restoring from checkpoint %" PRId64 ": %s", rn_restore_id(r), rn_strerror(rc));
    return rc;
}

static void close_(void *state, struct rn_op_ctx *ctx)
{
    (void)ctx;
    struct st *st = state;
    if (!st) return;
    for (uint32_t i = 0; st->c.acc && st->args && i < st->c.acc->n; i++) rn_expr_destroy(st->args[i]);
    free(st->args);
    rn_acc_spec_free(st->c.acc);
    for (uint32_t i = 0; i < st->n_panes; i++) pane_free(st->panes[i]);
    for (uint32_t i = 0; i < st->n_spare; i++) pane_free(st->spare[i]);
    free(st->panes);
    free(st->spare);
    free(st->rowp);
    free(st->slot);
    free(st->dropped);
    free(st->bp);
    free(st->bp_status);
    free(st->bp_pane);
    free(st->bph_key);
    free(st->bph_val);
    free(st->bph_gen);
    free(st->accs);
    free(st->slot_g);
    free(st->slot_p);
    free(st->slot_entry);
    free(st->best);
    free(st->sh_key);
    free(st->sh_val);
    free(st->lkeys);
    free(st->lns);
    free(st->lvals);
    free(st->llens);
    free(st->lslot);
    free(st->late_pairs);
    bmap_free(&st->win);
    bmap_free(&st->set);
    free(st->tmp);
    free(st->load);
    free(st->nsb);
    free(st->strbuf);
    free(st->kbuf);
    free(st->ckbuf);
    sess_ctx_free(st->sx);
    rn_batch_unref(st->out);
    free(st);
}

const struct rn_operator_def rn_op_window_aggregate = {
    .abi_version = RN_OPERATOR_ABI, .struct_size = sizeof(struct rn_operator_def),
    .name = "window_aggregate", .description = "aggregates per key and window (tumbling, sliding, session, count, global)",
    .options = options, .n_inputs_min = 1, .n_inputs_max = 1, .flags = RN_OP_KEYED,
    .plan = plan, .open = open_, .process = process, .on_watermark = on_watermark, .finish = finish,
    .on_timer = on_timer, .snapshot = snapshot, .restore = restore, .close = close_,
};
