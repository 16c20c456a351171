/*
 * datagen.c — `datagen`: rows of a declared shape, generated in memory. Each field is either an
 * expression over `seq` (the row number: "seq % 1000", "to_timestamp(1700000000000 + seq)") or a
 * generator map {type, kind: sequence | random, ...}. Every value is a pure function of (seed,
 * field, seq), so the output is the same whatever the parallelism, batch boundaries and restarts.
 *
 * The rows are cut into splits, each an arithmetic progression of seq: on a fresh start with
 * parallelism P and `splits` S, subtask r owns the S splits {first r + P k, stride P S} (k < S)
 * and takes one row of each in turn, which gives it seq = r, r + P, r + 2P, ... (the
 * bench-workloads convention) with its i-th row in split i % S. A checkpoint records, per split,
 * {first, stride, next seq} as an element of the operator-state list "datagen.splits"; on
 * restore each subtask continues the splits it was given. At another parallelism the host
 * deals the elements out (element i to subtask i mod P'), so a split — not the subtask index —
 * decides its rows, and no row is lost or made twice; the number of splits stays the one of the
 * first start (a subtask given none ends at once).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "builtin.h"
#include "runnel/hash.h"

static const struct rn_option options[] = {
    {"fields", RN_OPT_MAP, NULL, "column -> expression over seq, or {type, kind: sequence|random, ...}"},
    {"rows", RN_OPT_INT, "0", "total rows over all subtasks; 0 = unbounded"},
    {"rate_limit", RN_OPT_INT, "0", "rows per second over all subtasks; 0 = as fast as possible"},
    {"seed", RN_OPT_INT, "0", "seed of the random generators"},
    {"splits", RN_OPT_INT, "1", "splits per subtask: the subtask's i-th row belongs to split i % splits, each with "
                                "its own watermark (as the partitions of a log would)"},
    {NULL, 0, NULL, NULL},
};

enum kind { K_EXPR, K_SEQUENCE, K_RANDOM };

struct field {
    const char *name;
    enum kind kind;
    struct rn_type type;
    int expr_col;               /* K_EXPR: column of the projection */
    int64_t start, step;        /* sequence */
    double dmin, dmax;          /* random numbers */
    int64_t imin, imax;
    double skew;                /* zipf exponent for random ints and value lists; 0 = uniform */
    uint32_t min_len, max_len;  /* random strings */
    const rn_value *values;     /* random choice among these strings */
    double null_rate;
    uint64_t salt;
};

struct gen {
    uint32_t n;
    struct field *f;
    rn_schema *out;
    rn_schema *seq_schema;
    rn_projection *proj;        /* the expression fields, over (seq) */
    bool all_expr;              /* every field is an expression: the output is the projection's */
    uint32_t *expr_cols;        /* per field: its column of the projection (all_expr) */
};

static void gen_free(struct gen *g)
{
    if (!g) return;
    free(g->f);
    free(g->expr_cols);
    rn_schema_unref(g->out);
    rn_schema_unref(g->seq_schema);
    rn_projection_destroy(g->proj);
    free(g);
}

#define FAIL(at, ...) (*where = (at), rn_error_set(err, RN_EINVAL, rn_value_line(at), rn_value_column(at), __VA_ARGS__), (void)0)

static bool get_int(const rn_value *m, const char *k, int64_t *out, struct rn_error *err, const rn_value **where)
{
    const rn_value *v = rn_value_get(m, k);
    if (!v) return true;
    *where = v;
    if (rn_value_int(v, out, err) == 0) return true;
    int64_t ts;
    const char *t = rn_value_text(v);
    if (t && rn_timestamp_parse(t, strlen(t), &ts) == 0) {   /* timestamps may be written as ISO text */
        *out = ts;
        return true;
    }
    return false;
}

static bool get_double(const rn_value *m, const char *k, double *out, struct rn_error *err, const rn_value **where)
{
    const rn_value *v = rn_value_get(m, k);
    if (v) *where = v;
    return !v || rn_value_double(v, out, err) == 0;
}

/* Reads the fields map into a generator; err positions point into the job file. */
/* Reads the fields map; on failure *where is the value the error is about. */
static struct gen *gen_build(const rn_value *fields, struct rn_error *err, const rn_value **where)
{
    *where = fields;
    static const char *const keys[] = {"type", "kind", "start", "step", "min", "max", "length", "min_length",
                                       "max_length", "values", "skew", "null_rate", NULL};
    struct gen *g = calloc(1, sizeof *g);
    size_t n = rn_value_len(fields);
    if (!g || !(g->f = calloc(n ? n : 1, sizeof *g->f)) || !(g->out = rn_schema_create()) ||
        !(g->seq_schema = rn_schema_parse("seq:int64 not null", err))) {
        gen_free(g);
        rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
        return NULL;
    }
    g->n = (uint32_t)n;
    const char **names = calloc(n ? n : 1, sizeof *names), **exprs = calloc(n ? n : 1, sizeof *exprs);
    uint32_t n_expr = 0;
    if (!names || !exprs) goto fail;
    if (n == 0) {
        FAIL(fields, "fields must declare at least one column");
        goto fail;
    }
    for (uint32_t i = 0; i < n; i++) {
        struct field *f = &g->f[i];
        const rn_value *spec = rn_value_at(fields, i);
        f->name = rn_value_key(fields, i);
        f->salt = rn_hash_bytes(f->name, strlen(f->name));
        if (rn_value_kind(spec) == RN_VALUE_SCALAR) {
            f->kind = K_EXPR;
            f->expr_col = (int)n_expr;
            names[n_expr] = f->name;
            exprs[n_expr++] = rn_value_text(spec);
            continue;
        }
        if (rn_value_kind(spec) != RN_VALUE_MAP) {
            FAIL(spec, "field '%s': expected an expression over seq, or a map {type, kind, ...}", f->name);
            goto fail;
        }
        for (size_t k = 0; k < rn_value_len(spec); k++) {
            const char *key = rn_value_key(spec, k);
            const char *const *w = keys;
            while (*w && strcmp(*w, key)) w++;
            if (!*w) {
                FAIL(rn_value_at(spec, k), "field '%s': unknown setting '%s' (settings: type, kind, start, step, min, max, "
                                           "length, min_length, max_length, values, skew, null_rate)", f->name, key);
                goto fail;
            }
        }
        const char *type = rn_value_text(rn_value_get(spec, "type"));
        if (!type || rn_type_parse(type, strlen(type), &f->type) || f->type.id == RN_T_VECTOR) {
            FAIL(rn_value_get(spec, "type") ? rn_value_get(spec, "type") : spec,
                 "field '%s': type must be bool, int64, double, string or timestamp", f->name);
            goto fail;
        }
        const char *kind = rn_value_text(rn_value_get(spec, "kind"));
        f->kind = !kind || !strcmp(kind, "random") ? K_RANDOM : !strcmp(kind, "sequence") ? K_SEQUENCE : K_EXPR;
        if (f->kind == K_EXPR) {
            FAIL(rn_value_get(spec, "kind"), "field '%s': kind must be sequence or random", f->name);
            goto fail;
        }
        f->step = 1;
        f->imax = 100;
        f->dmax = 1;
        f->min_len = f->max_len = 10;
        int64_t len = -1, minl = -1, maxl = -1;
        if (!get_int(spec, "start", &f->start, err, where) || !get_int(spec, "step", &f->step, err, where) ||
            !get_int(spec, "length", &len, err, where) || !get_int(spec, "min_length", &minl, err, where) ||
            !get_int(spec, "max_length", &maxl, err, where) || !get_double(spec, "skew", &f->skew, err, where) ||
            !get_double(spec, "null_rate", &f->null_rate, err, where))
            goto fail;
        if (f->type.id == RN_T_DOUBLE) {
            if (!get_double(spec, "min", &f->dmin, err, where) || !get_double(spec, "max", &f->dmax, err, where)) goto fail;
        } else if (!get_int(spec, "min", &f->imin, err, where) || !get_int(spec, "max", &f->imax, err, where)) {
            goto fail;
        }
        if (len >= 0) f->min_len = f->max_len = (uint32_t)len;
        if (minl >= 0) f->min_len = (uint32_t)minl;
        if (maxl >= 0) f->max_len = (uint32_t)maxl;
        f->values = rn_value_get(spec, "values");
        if (f->values && (rn_value_kind(f->values) != RN_VALUE_LIST || !rn_value_len(f->values) || f->type.id != RN_T_STRING)) {
            FAIL(f->values, "field '%s': values must be a non-empty list (string fields)", f->name);
            goto fail;
        }
        if (f->imin > f->imax || f->dmin > f->dmax || f->min_len > f->max_len || f->max_len > 1u << 20 ||
            f->skew < 0 || f->null_rate < 0 || f->null_rate > 1) {
            FAIL(spec, "field '%s': needs min <= max, min_length <= max_length <= 1048576, skew >= 0, 0 <= null_rate <= 1",
                 f->name);
            goto fail;
        }
        if (f->kind == K_SEQUENCE && f->type.id != RN_T_INT64 && f->type.id != RN_T_TIMESTAMP && f->type.id != RN_T_DOUBLE) {
            FAIL(spec, "field '%s': a sequence is int64, double or timestamp", f->name);
            goto fail;
        }
    }
    if (n_expr && rn_projection_compile(names, exprs, n_expr, g->seq_schema, &g->proj, err)) goto fail;
    for (uint32_t i = 0; i < n; i++) {
        struct field *f = &g->f[i];
        bool nullable = f->null_rate > 0;
        if (f->kind == K_EXPR) {
            const struct rn_field *pf = rn_schema_field(rn_projection_schema(g->proj), (size_t)f->expr_col);
            f->type = pf->type;
            nullable = pf->nullable;
        }
        rn_schema_add(g->out, f->name, f->type, nullable);
    }
    g->all_expr = n_expr == n && n > 0;
    if (g->all_expr) {
        if (!(g->expr_cols = malloc(n * sizeof *g->expr_cols))) goto fail;
        for (uint32_t i = 0; i < n; i++) g->expr_cols[i] = (uint32_t)g->f[i].expr_col;
    }
    free(names);
    free(exprs);
    return g;
fail:
    free(names);
    free(exprs);
    gen_free(g);
    return NULL;
}

static int plan(struct rn_plan_ctx *ctx)
{
    struct rn_error err;
    const rn_value *o = rn_plan_options(ctx), *where;
    if (rn_opt_int(o, "rows") < 0) return rn_plan_error(ctx, rn_opt_value(o, "rows"), "rows must be >= 0");
    if (rn_opt_int(o, "rate_limit") < 0) return rn_plan_error(ctx, rn_opt_value(o, "rate_limit"), "rate_limit must be >= 0");
    if (rn_opt_int(o, "splits") < 1 || rn_opt_int(o, "splits") > RN_OP_MAX_SPLITS)
        return rn_plan_error(ctx, rn_opt_value(o, "splits"), "splits must be 1 to %u", RN_OP_MAX_SPLITS);
    const rn_value *fields = rn_opt_value(o, "fields");
    /* expression fields first, so that their errors point into the expression */
    rn_schema *seq = rn_schema_parse("seq:int64 not null", NULL);
    for (size_t i = 0; seq && i < rn_value_len(fields); i++) {
        const rn_value *v = rn_value_at(fields, i);
        char what[96];
        rn_expr *e = NULL;
        if (rn_value_kind(v) != RN_VALUE_SCALAR) continue;
        snprintf(what, sizeof what, "field '%s'", rn_value_key(fields, i));
        int rc = rn_plan_compile_value(ctx, v, what, seq, &e);
        rn_expr_destroy(e);
        if (rc) {
            rn_schema_unref(seq);
            return rc;
        }
    }
    rn_schema_unref(seq);
    struct gen *g = gen_build(fields, &err, &where);
    if (!g) return rn_plan_error(ctx, where, "%s", err.msg);
    rn_plan_set_output(ctx, g->out);
    gen_free(g);
    return 0;
}

/* One split: the progression seq = first, first + stride, ... (first < stride). */
struct split {
    uint64_t first, stride;
    uint64_t next;        /* its next seq */
    bool done;            /* next >= the end of a bounded stream */
    bool reported;        /* rn_op_split_finished was called for it */
};

struct state {
    struct gen *g;
    uint64_t end;         /* one past the last seq (UINT64_MAX unbounded) */
    uint64_t seed;
    uint32_t step;        /* parallelism (the rate limit's share) */
    uint64_t rate, produced;
    struct timespec start;
    rn_buf *letters;      /* a pool of random letters for random strings */
    struct split *sp;     /* this subtask's splits, in the order it takes their rows */
    uint32_t n_sp, live;  /* splits, and those not done */
    uint32_t cur;         /* the split the next row comes from */
    bool declared;        /* the splits were announced to the host (first poll) */
    bool strided;         /* this batch: no split ended, row i is split (first + i) % n_sp's */
    uint32_t first;
    uint32_t *split_of;   /* scratch (several splits): per row of a batch its split */
    uint32_t *sel;        /* scratch: the rows of a batch grouped by split */
    uint32_t *count;      /* scratch: per split, its rows in the batch (n_sp + 1) */
};

/* The splits of subtask r of P on a fresh start (see the file comment). */
static int fresh_splits(struct state *s, uint32_t r, uint32_t p, uint32_t n)
{
    if (!(s->sp = calloc(n, sizeof *s->sp))) return RN_ENOMEM;
    s->n_sp = n;
    for (uint32_t k = 0; k < n; k++)
        s->sp[k] = (struct split){.first = r + (uint64_t)p * k, .stride = (uint64_t)p * n, .next = r + (uint64_t)p * k};
    return 0;
}

/* Marks the splits that reached the end; counts the live ones. */
static void mark_done(struct state *s)
{
    s->live = 0;
    for (uint32_t k = 0; k < s->n_sp; k++) {
        if (s->sp[k].next >= s->end) s->sp[k].done = true;
        if (!s->sp[k].done) s->live++;
    }
}

static int open_(struct rn_op_ctx *ctx, void **state)
{
    struct state *s = calloc(1, sizeof *s);
    if (!s) return RN_ENOMEM;
    *state = s;
    const rn_value *o = rn_op_options(ctx);
    struct rn_error err;
    const rn_value *where;
    if (!(s->g = gen_build(rn_opt_value(o, "fields"), &err, &where))) {
        rn_op_error(ctx, "%s", err.msg);
        return RN_EINVAL;
    }
    int64_t rows = rn_opt_int(o, "rows");
    s->end = rows > 0 ? (uint64_t)rows : UINT64_MAX;
    s->step = rn_op_parallelism(ctx);
    s->seed = (uint64_t)rn_opt_int(o, "seed");
    s->rate = (uint64_t)rn_opt_int(o, "rate_limit");
    int rc = fresh_splits(s, rn_op_subtask(ctx), s->step, (uint32_t)rn_opt_int(o, "splits"));
    if (rc) return rc;
    mark_done(s);
    clock_gettime(CLOCK_MONOTONIC, &s->start);
    /* 64 KiB of letters; random strings are views at random offsets (zero copy) */
    if (!(s->letters = rn_buf_alloc(1 << 16))) return RN_ENOMEM;
    char *p = rn_buf_data(s->letters);
    for (uint32_t i = 0; i < 1u << 16; i++) p[i] = (char)('a' + rn_hash_i64((int64_t)(s->seed + i)) % 26);
    return 0;
}

static inline double unit(uint64_t h) { return (double)(h >> 11) * 0x1.0p-53; }

/* Zipf-like rank in [0, n) for exponent s by inverting the continuous power law. */
static uint64_t zipf(uint64_t h, uint64_t n, double s)
{
    double u = unit(h), x;
    if (fabs(s - 1.0) < 1e-9) x = exp(u * log((double)n + 1.0));
    else x = pow(1.0 + u * (pow((double)n + 1.0, 1.0 - s) - 1.0), 1.0 / (1.0 - s));
    uint64_t r = (uint64_t)x;
    return r >= 1 ? (r - 1 < n ? r - 1 : n - 1) : 0;
}

static int fill_field(struct state *s, const struct field *f, struct rn_column *c, struct rn_batch *b, uint32_t col,
                      const uint64_t *seqs, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        uint64_t h = rn_hash_mix64(s->seed * 0x9e3779b97f4a7c15ull ^ f->salt ^ rn_hash_i64((int64_t)seqs[i]));
        if (f->null_rate > 0 && unit(rn_hash_mix64(h ^ 0x55)) < f->null_rate) {
            if (rn_batch_set_null(b, col, i)) return RN_ENOMEM;
            continue;
        }
        int64_t iv = 0;
        if (f->kind == K_SEQUENCE) {
            iv = (int64_t)((uint64_t)f->start + seqs[i] * (uint64_t)f->step);
            if (f->type.id == RN_T_DOUBLE) ((double *)c->values)[i] = (double)iv;
            else ((int64_t *)c->values)[i] = iv;
            continue;
        }
        switch (f->type.id) {
        case RN_T_BOOL: ((uint8_t *)c->values)[i] = h & 1; break;
        case RN_T_DOUBLE: ((double *)c->values)[i] = f->dmin + unit(h) * (f->dmax - f->dmin); break;
        case RN_T_INT64:
        case RN_T_TIMESTAMP: {
            uint64_t span = (uint64_t)f->imax - (uint64_t)f->imin + 1;
            uint64_t r = f->skew > 0 ? zipf(h, span ? span : UINT64_MAX, f->skew) : span ? h % span : h;
            ((int64_t *)c->values)[i] = (int64_t)((uint64_t)f->imin + r);
            break;
        }
        case RN_T_STRING: {
            struct rn_str v;
            if (f->values) {
                size_t k = rn_value_len(f->values);
                uint64_t r = f->skew > 0 ? zipf(h, k, f->skew) : h % k;
                const char *t = rn_value_text(rn_value_at(f->values, r));
                if (rn_batch_set_str(b, col, i, t ? t : "", t ? strlen(t) : 0)) return RN_ENOMEM;
                continue;
            }
            uint32_t len = f->min_len + (uint32_t)((h >> 32) % (f->max_len - f->min_len + 1));
            if (len <= (1u << 16)) {
                uint32_t off = (uint32_t)(h % ((1u << 16) - len + 1));
                v = (struct rn_str){(const char *)rn_buf_data(s->letters) + off, len};
                ((struct rn_str *)c->values)[i] = v;
            } else {
                char *tmp = malloc(len);
                if (!tmp) return RN_ENOMEM;
                for (uint32_t k = 0; k < len; k++) tmp[k] = (char)('a' + rn_hash_i64((int64_t)(h + k)) % 26);
                int rc = rn_batch_set_str(b, col, i, tmp, len);
                free(tmp);
                if (rc) return rc;
            }
            break;
        }
        default: break;
        }
    }
    if (f->type.id == RN_T_STRING && !f->values) return rn_column_add_dep(c, s->letters);
    return 0;
}

/* Emits the rows of b split by split (b's reference is given up): a counting sort of the rows
 * by split_of, then one selection per split that has rows. */
static int emit_splits(struct state *s, struct rn_op_ctx *ctx, struct rn_batch *b)
{
    uint32_t n = b->n_rows;
    memset(s->count, 0, (s->n_sp + 1) * sizeof *s->count);
    for (uint32_t i = 0; i < n; i++) s->count[s->split_of[i] + 1]++;
    for (uint32_t k = 0; k < s->n_sp; k++) s->count[k + 1] += s->count[k];
    for (uint32_t i = 0; i < n; i++) s->sel[s->count[s->split_of[i]]++] = i;
    /* count[k] is now the end of split k's rows, which start at count[k - 1] (0 for k = 0) */
    int rc = 0;
    for (uint32_t k = 0, lo = 0; k < s->n_sp && rc == 0; lo = s->count[k++]) {
        uint32_t m = s->count[k] - lo;
        if (!m) continue;
        struct rn_batch *part = rn_batch_select(b, s->sel + lo, m);
        rc = part ? rn_op_emit_split(ctx, k, part) : RN_ENOMEM;
    }
    rn_batch_unref(b);
    return rc;
}

/* Whether every split has its share of n rows in turn from s->cur before the end. */
static bool strided_fits(const struct state *s, uint32_t n)
{
    for (uint32_t k = 0; k < s->n_sp; k++) {
        uint32_t off = (k + s->n_sp - s->cur) % s->n_sp;
        if (off >= n) continue;
        uint64_t take = (n - off + s->n_sp - 1) / s->n_sp;
        if (s->sp[k].next + (take - 1) * s->sp[k].stride >= s->end) return false;
    }
    return true;
}

/* emit_splits for a batch made by the strided path: split k's rows are every n_sp-th from
 * where its turn came (the batch's first row was split `first`'s). */
static int emit_strided(struct state *s, struct rn_op_ctx *ctx, struct rn_batch *b)
{
    int rc = 0;
    for (uint32_t k = 0; k < s->n_sp && rc == 0; k++) {
        uint32_t m = 0;
        for (uint32_t i = (k + s->n_sp - s->first) % s->n_sp; i < b->n_rows; i += s->n_sp) s->sel[m++] = i;
        if (!m) continue;
        struct rn_batch *part = rn_batch_select(b, s->sel, m);
        rc = part ? rn_op_emit_split(ctx, k, part) : RN_ENOMEM;
    }
    rn_batch_unref(b);
    return rc;
}

/* First poll: announce the splits (when more than one) and make the scratch they need. */
static int declare(struct state *s, struct rn_op_ctx *ctx)
{
    s->declared = true;
    if (s->n_sp <= 1) return 0;
    if (!(s->split_of = malloc(RN_BATCH_ROWS * sizeof *s->split_of)) ||
        !(s->sel = malloc(RN_BATCH_ROWS * sizeof *s->sel)) || !(s->count = malloc((s->n_sp + 1) * sizeof *s->count)))
        return RN_ENOMEM;
    return rn_op_declare_splits(ctx, s->n_sp);
}

static int poll_(void *state, struct rn_op_ctx *ctx)
{
    struct state *s = state;
    int rc;
    if (!s->declared && (rc = declare(s, ctx))) return rc;
    if (!s->live) return RN_EEND;
    uint32_t n = RN_BATCH_ROWS;
    if (s->rate) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        double secs = (double)(now.tv_sec - s->start.tv_sec) + (double)(now.tv_nsec - s->start.tv_nsec) * 1e-9;
        double allowed = secs * (double)s->rate / s->step - (double)s->produced;
        if (allowed < 1) return RN_EAGAIN;
        if (allowed < n) n = (uint32_t)allowed;
    }
    struct gen *g = s->g;
    struct rn_batch *seqb = rn_batch_new_raw(g->seq_schema, n), *out = NULL, *exprs = NULL;
    if (!seqb) return RN_ENOMEM;
    uint64_t *seqs = seqb->cols[0].values;
    /* one row of each live split in turn; a split that reaches the end drops out */
    uint32_t m = 0, cur = s->cur;
    bool ended = false;
    s->strided = false;
    s->first = cur;
    if (s->n_sp == 1) {   /* the common case, without the round robin */
        struct split *sp = &s->sp[0];
        uint64_t left = (s->end - sp->next) / sp->stride + ((s->end - sp->next) % sp->stride != 0);
        m = left < n ? (uint32_t)left : n;
        for (uint32_t i = 0; i < m; i++) seqs[i] = sp->next + (uint64_t)i * sp->stride;
        sp->next += (uint64_t)m * sp->stride;
        if (sp->next >= s->end) sp->done = ended = true, s->live = 0;
    } else if (s->live == s->n_sp && strided_fits(s, n)) {
        /* no split ends in this batch: split k has rows off_k, off_k + n_sp, ... */
        for (uint32_t k = 0; k < s->n_sp; k++) {
            struct split *sp = &s->sp[k];
            uint32_t off = (k + s->n_sp - cur) % s->n_sp, take = off < n ? (n - off + s->n_sp - 1) / s->n_sp : 0;
            for (uint32_t j = 0; j < take; j++) seqs[off + j * s->n_sp] = sp->next + (uint64_t)j * sp->stride;
            sp->next += (uint64_t)take * sp->stride;
        }
        m = n;
        cur = (uint32_t)((cur + (uint64_t)n) % s->n_sp);
        s->strided = true;
    }
    while (m < n && s->live) {
        struct split *sp = &s->sp[cur];
        if (!sp->done) {
            if (sp->next >= s->end) {
                sp->done = ended = true;
                s->live--;
            } else {
                if (s->split_of) s->split_of[m] = cur;
                seqs[m++] = sp->next;
                sp->next += sp->stride;
            }
        }
        if (++cur == s->n_sp) cur = 0;
    }
    s->cur = cur;
    n = m;
    seqb->n_rows = n;
    struct rn_error err;
    rc = 0;
    if (n == 0) goto done;
    if (g->proj && (rc = rn_projection_apply(g->proj, seqb, &exprs, &err))) {
        rn_op_error(ctx, "%s", err.msg);
        goto done;
    }
    /* the output: expression columns shared from the projection, generated ones filled here */
    rc = RN_ENOMEM;
    if (g->all_expr) {   /* nothing to fill: the projection's columns, in output order */
        if (!(out = rn_batch_project(exprs, g->out, g->expr_cols, g->n))) goto done;
        goto emit;
    }
    if (!(out = rn_batch_new(g->out, n))) goto done;
    for (uint32_t f = 0; f < g->n; f++) {
        struct rn_column *c = &out->cols[f];
        if (g->f[f].kind == K_EXPR) {
            rn_column_release(c);
            if (rn_column_share(c, &exprs->cols[g->f[f].expr_col])) goto done;
        } else if ((rc = fill_field(s, &g->f[f], c, out, f, seqs, n))) {
            goto done;
        }
    }
    out->n_rows = n;
emit:
    s->produced += n;
    rc = s->strided ? emit_strided(s, ctx, out) : s->split_of ? emit_splits(s, ctx, out) : rn_op_emit(ctx, out);
    out = NULL;
done:
    /* after the rows of this batch went out, so that none of them is late behind the others */
    for (uint32_t k = 0; ended && rc == 0 && s->split_of && k < s->n_sp; k++)
        if (s->sp[k].done && !s->sp[k].reported) {
            s->sp[k].reported = true;
            rc = rn_op_split_finished(ctx, k);
        }
    rn_batch_unref(out);
    rn_batch_unref(exprs);
    rn_batch_unref(seqb);
    return rc;
}

/* ---- checkpoints: one element per split, {first, stride, next} as little-endian u64 ---- */

#define SPLITS_LIST "datagen.splits"
#define SPLIT_ELEM_LEN 25u   /* a version byte (1), then the three u64 */

static int snapshot(void *state, struct rn_op_ctx *ctx, struct rn_snapshot_writer *w)
{
    struct state *s = state;
    for (uint32_t k = 0; k < s->n_sp; k++) {
        uint8_t e[SPLIT_ELEM_LEN] = {1};
        rn_put_le64(e + 1, s->sp[k].first);
        rn_put_le64(e + 9, s->sp[k].stride);
        rn_put_le64(e + 17, s->sp[k].next);
        int rc = rn_snapshot_append(w, SPLITS_LIST, e, sizeof e);
        if (rc) {
            rn_op_error(ctx, "cannot record the position of split %u in the checkpoint: %s", k, rn_strerror(rc));
            return rc;
        }
    }
    return 0;
}

struct restored {
    struct split *sp;
    uint32_t n, cap;
    bool bad;
};

static int restore_one(const void *val, uint32_t len, void *user)
{
    struct restored *r = user;
    const uint8_t *p = val;
    if (len != SPLIT_ELEM_LEN || p[0] != 1) return r->bad = true, RN_EINVAL;
    struct split sp = {.first = rn_get_le64(p + 1), .stride = rn_get_le64(p + 9), .next = rn_get_le64(p + 17)};
    if (!sp.stride || sp.first >= sp.stride || sp.next < sp.first || (sp.next - sp.first) % sp.stride)
        return r->bad = true, RN_EINVAL;
    if (r->n == r->cap) {
        uint32_t cap = r->cap ? 2 * r->cap : 16;
        struct split *q = realloc(r->sp, cap * sizeof *q);
        if (!q) return RN_ENOMEM;
        r->sp = q;
        r->cap = cap;
    }
    r->sp[r->n++] = sp;
    return 0;
}

/* Resume in the order an uninterrupted run would go on: the split furthest behind first. */
static int cmp_split(const void *a, const void *b)
{
    const struct split *x = a, *y = b;
    if (x->next != y->next) return x->next < y->next ? -1 : 1;
    return x->first < y->first ? -1 : x->first > y->first;
}

static int restore(void *state, struct rn_op_ctx *ctx, struct rn_snapshot_reader *r)
{
    struct state *s = state;
    struct restored got = {0};
    int rc = rn_restore_each(r, SPLITS_LIST, restore_one, &got);
    if (rc || got.n > RN_OP_MAX_SPLITS) {
        if (got.bad) rn_op_error(ctx, "checkpoint %lld: a split position of list '%s' is not one datagen wrote",
                                 (long long)rn_restore_id(r), SPLITS_LIST);
        else if (!rc) rn_op_error(ctx, "checkpoint %lld gives this subtask %u splits (at most %u)",
                                  (long long)rn_restore_id(r), got.n, RN_OP_MAX_SPLITS);
        else rn_op_error(ctx, "cannot read the split positions of checkpoint %lld: %s", (long long)rn_restore_id(r),
                         rn_strerror(rc));
        free(got.sp);
        return rc ? rc : RN_EINVAL;
    }
    if (got.n) qsort(got.sp, got.n, sizeof *got.sp, cmp_split);   /* a subtask may get no split (a rescale up) */
    free(s->sp);
    s->sp = got.sp;
    s->n_sp = got.n;
    s->cur = 0;
    mark_done(s);
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
    gen_free(s->g);
    free(s->sp);
    free(s->split_of);
    free(s->sel);
    free(s->count);
    rn_buf_unref(s->letters);
    free(s);
}

const struct rn_operator_def rn_op_datagen = {
    .abi_version = RN_OPERATOR_ABI, .struct_size = sizeof(struct rn_operator_def),
    .name = "datagen", .description = "generates rows from expressions over a row number and random generators",
    .options = options, .n_inputs_min = 0, .n_inputs_max = 0,
    .plan = plan, .open = open_, .poll = poll_, .close = close_,
    .snapshot = snapshot, .restore = restore,
};
