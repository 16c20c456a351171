/*
 * operators/join/join_common.c — the helpers the join operators share (join_common.h): output
 * schema, row encoding for keyed state, the output writer, key grouping, signed durations.
 *
 * The output writer fills one batch of the output schema at a time, writing values straight
 * into its columns (strings are copied into the batch's arena, because stored rows come from
 * state whose bytes are only lent until the next state call), and emits it when it is full or
 * when the operator flushes at the end of a callback.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "join_common.h"
#include "keyed/rowbytes.h"

/* ---- plan time ---- */

static const char *side_name(uint32_t i) { return i == 0 ? "left" : "right"; }

int rn__join_plan_output(struct rn_plan_ctx *ctx, bool right_nullable, const struct rn__join_extra *extra,
                         uint32_t n_extra, rn_schema **out)
{
    *out = NULL;
    if (rn_plan_n_inputs(ctx) != 2)
        return rn_plan_error(ctx, NULL, "a join takes exactly two inputs: input: [left_id, right_id]");
    const rn_value *o = rn_plan_options(ctx);
    const char *prefix[2] = {rn_opt_string(o, "left_prefix"), rn_opt_string(o, "right_prefix")};
    for (uint32_t i = 0; i < 2; i++) {
        struct rn_type kt;
        const char *kn;
        if (rn_plan_key(ctx, i, &kt, &kn)) return RN_EINVAL;
        if (!prefix[i]) prefix[i] = "";
    }
    rn_schema *s = rn_schema_create();
    if (!s) return rn_plan_error(ctx, NULL, "out of memory");
    /* names already used, and by which side (-1 = an extra column), to word a clash */
    char name[512];
    for (uint32_t i = 0; i < 2; i++) {
        const rn_schema *in = rn_plan_input_schema(ctx, i);
        for (size_t c = 0; c < rn_schema_len(in); c++) {
            const struct rn_field *f = rn_schema_field(in, c);
            int n = snprintf(name, sizeof name, "%s%s", prefix[i], f->name);
            if (n < 0 || (size_t)n >= sizeof name) {
                rn_schema_unref(s);
                return rn_plan_error(ctx, rn_opt_value(o, i ? "right_prefix" : "left_prefix"),
                                     "the output column name '%s%s' is too long", prefix[i], f->name);
            }
            if (rn_schema_find(s, name) >= 0) {
                rn_schema_unref(s);
                return rn_plan_error(ctx, NULL,
                                     "output column '%s' comes from both the left and the right input: set "
                                     "left_prefix or right_prefix (e.g. right_prefix: \"r_\") so that the names differ",
                                     name);
            }
            if (rn_schema_add(s, name, f->type, f->nullable || (i == 1 && right_nullable))) {
                rn_schema_unref(s);
                return rn_plan_error(ctx, NULL, "cannot add output column '%s' (from the %s input)", name, side_name(i));
            }
        }
    }
    size_t n_left = rn_schema_len(rn_plan_input_schema(ctx, 0));
    for (uint32_t e = 0; e < n_extra; e++) {
        int at = rn_schema_find(s, extra[e].name);
        if (at >= 0) {
            bool left = (size_t)at < n_left;
            rn_schema_unref(s);
            return rn_plan_error(ctx, NULL,
                                 "output column '%s' of the %s input clashes with the column this join adds under that "
                                 "name: set %s (e.g. %s: \"%s\")",
                                 extra[e].name, left ? "left" : "right", left ? "left_prefix" : "right_prefix",
                                 left ? "left_prefix" : "right_prefix", left ? "l_" : "r_");
        }
        if (rn_schema_add(s, extra[e].name, extra[e].type, false)) {
            rn_schema_unref(s);
            return rn_plan_error(ctx, NULL, "cannot add output column '%s'", extra[e].name);
        }
    }
    *out = s;
    return 0;
}

int rn__join_signed_duration(const char *text, int64_t *ms)
{
    if (!text) return RN_EINVAL;
    while (*text == ' ') text++;
    bool neg = false;
    if (*text == '-' || *text == '+') neg = *text++ == '-';
    while (*text == ' ') text++;
    if (*text < '0' || *text > '9') return RN_EINVAL;
    int64_t n = 0;
    for (; (*text >= '0' && *text <= '9') || *text == '_'; text++) {
        if (*text == '_') continue;
        if (n > (INT64_MAX - 9) / 10) return RN_EINVAL;
        n = n * 10 + (*text - '0');
    }
    static const struct { const char *unit; int64_t ms; } units[] = {
        {"", 1}, {"ms", 1}, {"s", 1000}, {"m", 60000}, {"min", 60000}, {"h", 3600000}, {"d", 86400000},
    };
    size_t len = strlen(text);
    while (len && text[len - 1] == ' ') len--;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (strlen(units[i].unit) == len && !strncmp(text, units[i].unit, len)) {
            if (n > INT64_MAX / units[i].ms) return RN_EINVAL;
            *ms = neg ? -(n * units[i].ms) : n * units[i].ms;
            return 0;
        }
    return RN_EINVAL;
}

static bool time_type_ok(struct rn_type t) { return t.id == RN_T_TIMESTAMP || t.id == RN_T_INT64; }

int rn__join_plan_time(struct rn_plan_ctx *ctx, uint32_t input, const char *option)
{
    const rn_value *o = rn_plan_options(ctx);
    const char *name = option ? rn_opt_string(o, option) : NULL;
    const rn_value *at = option ? rn_opt_value(o, option) : NULL;
    const rn_schema *in = rn_plan_input_schema(ctx, input);
    if (!name || !*name) {
        name = rn_plan_time_column(ctx, input);
        at = NULL;
        if (!name)
            return rn_plan_error(ctx, NULL,
                                 "the %s input has no event-time column: give its source a watermark: block%s%s",
                                 side_name(input), option ? " or set " : "", option ? option : "");
    }
    int c = rn_schema_find(in, name);
    if (c < 0) return rn_plan_error(ctx, at, "the %s input has no column '%s'", side_name(input), name);
    if (!time_type_ok(rn_schema_field(in, (size_t)c)->type))
        return rn_plan_error(ctx, at, "event-time column '%s' of the %s input must be a timestamp or an int64 (ms)", name,
                             side_name(input));
    return c;
}

int rn__join_open_time(struct rn_op_ctx *ctx, uint32_t input, const char *option)
{
    const char *name = option ? rn_opt_string(rn_op_options(ctx), option) : NULL;
    if (!name || !*name) name = rn_op_time_column(ctx, input);
    const rn_schema *in = rn_op_input_schema(ctx, input);
    int c = name ? rn_schema_find(in, name) : -1;
    if (c < 0 || !time_type_ok(rn_schema_field(in, (size_t)c)->type)) {
        rn_op_error(ctx, "the %s input has no usable event-time column", side_name(input));
        return RN_EINVAL;
    }
    return c;
}

/* ---- byte buffer ---- */

int rn__join_buf_reserve(struct rn__join_buf *b, size_t more)
{
    if (b->len + more <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + more) cap *= 2;
    uint8_t *p = realloc(b->p, cap);
    if (!p) return RN_ENOMEM;
    b->p = p;
    b->cap = cap;
    return 0;
}

int rn__join_buf_append(struct rn__join_buf *b, const void *p, size_t n)
{
    int rc = rn__join_buf_reserve(b, n);
    if (rc) return rc;
    if (n) memcpy(b->p + b->len, p, n);
    b->len += n;
    return 0;
}

void rn__join_buf_free(struct rn__join_buf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

/* ---- row encoding ---- */

int rn__join_codec_init(struct rn__join_codec *c, const rn_schema *s)
{
    memset(c, 0, sizeof *c);
    c->n_cols = (uint32_t)rn_schema_len(s);
    c->null_bytes = (c->n_cols + 7) / 8;
    if (!(c->types = calloc(c->n_cols ? c->n_cols : 1, sizeof *c->types))) return RN_ENOMEM;
    for (uint32_t i = 0; i < c->n_cols; i++) c->types[i] = rn_schema_field(s, i)->type;
    return 0;
}

void rn__join_codec_free(struct rn__join_codec *c)
{
    free(c->types);
    memset(c, 0, sizeof *c);
}

int rn__join_row_append(const struct rn_batch *b, uint32_t r, struct rn__join_buf *buf)
{
    size_t need = rn__row_size(b, r);
    int rc = rn__join_buf_reserve(buf, need);
    if (rc) return rc;
    buf->len += rn__row_encode(b, r, buf->p + buf->len);
    return 0;
}

int rn__join_view_init(struct rn__join_view *v, const struct rn__join_codec *c)
{
    uint32_t n = c->n_cols ? c->n_cols : 1;
    v->val = calloc(n, sizeof *v->val);
    v->len = calloc(n, sizeof *v->len);
    if (!v->val || !v->len) {
        rn__join_view_free(v);
        return RN_ENOMEM;
    }
    return 0;
}

void rn__join_view_free(struct rn__join_view *v)
{
    free(v->val);
    free(v->len);
    v->val = NULL;
    v->len = NULL;
}

size_t rn__join_row_view(const struct rn__join_codec *c, const uint8_t *p, size_t avail, struct rn__join_view *v)
{
    if (avail < c->null_bytes) return 0;
    const uint8_t *nulls = p;
    size_t at = c->null_bytes;
    for (uint32_t i = 0; i < c->n_cols; i++) {
        if (nulls[i >> 3] & (1u << (i & 7))) {
            v->val[i] = NULL;
            v->len[i] = 0;
            continue;
        }
        if (c->types[i].id == RN_T_STRING) {
            uint32_t len;
            if (avail - at < 4) return 0;
            memcpy(&len, p + at, 4);
            at += 4;
            if (avail - at < len) return 0;
            v->val[i] = p + at;
            v->len[i] = len;
            at += len;
        } else {
            size_t w = rn__row_fixed_width(c->types[i]);
            if (avail - at < w) return 0;
            v->val[i] = p + at;
            v->len[i] = (uint32_t)w;
            at += w;
        }
    }
    return at;
}

/* ---- output writer ---- */

void rn__join_out_init(struct rn__join_out *o, struct rn_op_ctx *ctx, const struct rn__join_codec *left,
                       const struct rn__join_codec *right)
{
    memset(o, 0, sizeof *o);
    o->ctx = ctx;
    o->schema = rn_op_output_schema(ctx);
    o->left = left;
    o->right = right;
    o->n_left = left->n_cols;
    o->n_right = right->n_cols;
    o->rows_per_batch = 256;
}

/* Copies row `row` of src's column sc into row `dst` of column dc of the output batch. */
static int put_from_batch(struct rn_batch *o, uint32_t dc, uint32_t dst, const struct rn_column *sc, uint32_t row)
{
    if (rn_column_is_null(sc, row)) return rn_batch_set_null(o, dc, dst);
    struct rn_column *c = &o->cols[dc];
    if (sc->type.id == RN_T_STRING) {
        struct rn_str s = rn_col_str(sc, row);
        return rn_batch_set_str(o, dc, dst, s.ptr, s.len);
    }
    size_t w = rn_type_width(sc->type);
    memcpy((uint8_t *)c->values + (size_t)dst * w, (const uint8_t *)sc->values + (size_t)row * w, w);
    return 0;
}

static int put_side(struct rn_batch *o, uint32_t off, uint32_t n_cols, uint32_t dst, const struct rn__join_ref *ref)
{
    int rc = 0;
    for (uint32_t i = 0; i < n_cols && rc == 0; i++) {
        uint32_t dc = off + i;
        if (ref && ref->b) {
            rc = put_from_batch(o, dc, dst, &ref->b->cols[i], ref->row);
        } else if (ref && ref->v && ref->v->val[i]) {
            struct rn_column *c = &o->cols[dc];
            if (c->type.id == RN_T_STRING) {
                rc = rn_batch_set_str(o, dc, dst, (const char *)ref->v->val[i], ref->v->len[i]);
            } else {
                size_t w = rn_type_width(c->type);
                memcpy((uint8_t *)c->values + (size_t)dst * w, ref->v->val[i], ref->v->len[i]);
            }
        } else {
            rc = rn_batch_set_null(o, dc, dst);
        }
    }
    return rc;
}

int rn__join_out_pair(struct rn__join_out *o, const struct rn__join_ref *l, const struct rn__join_ref *r,
                      const int64_t *extra, uint32_t n_extra)
{
    if (!o->b && !(o->b = rn_batch_new(o->schema, o->rows_per_batch))) return RN_ENOMEM;
    struct rn_batch *b = o->b;
    uint32_t dst = b->n_rows;
    int rc = put_side(b, 0, o->n_left, dst, l);
    if (!rc) rc = put_side(b, o->n_left, o->n_right, dst, r);
    if (rc) return rc;
    for (uint32_t e = 0; e < n_extra; e++) ((int64_t *)b->cols[o->n_left + o->n_right + e].values)[dst] = extra[e];
    b->n_rows++;
    o->emitted++;
    return b->n_rows == b->capacity ? rn__join_out_flush(o) : 0;
}

int rn__join_out_flush(struct rn__join_out *o)
{
    struct rn_batch *b = o->b;
    o->b = NULL;
    if (!b) return 0;
    /* size the next batch to what the callbacks produce: a fresh batch is zero-filled, so a
     * 4096-row batch for the few pairs of one small input batch would cost more than the pairs */
    if (b->n_rows == b->capacity && o->rows_per_batch < RN_BATCH_ROWS) o->rows_per_batch *= 2;
    else if (b->n_rows < b->capacity / 4 && o->rows_per_batch > 256) o->rows_per_batch /= 2;
    if (!b->n_rows) {
        rn_batch_unref(b);
        return 0;
    }
    return rn_op_emit(o->ctx, b);
}

void rn__join_out_free(struct rn__join_out *o)
{
    rn_batch_unref(o->b);
    o->b = NULL;
}

/* ---- grouping ---- */

int rn__join_group(struct rn__join_groups *g, const struct rn_op_keys *k)
{
    if (k->n > g->cap_rows) {
        uint32_t *p = realloc(g->order, (size_t)k->n * sizeof *p);
        if (!p) return RN_ENOMEM;
        g->order = p;
        g->cap_rows = k->n;
    }
    if (k->n_groups + 1 > g->cap_groups) {
        uint32_t *p = realloc(g->start, ((size_t)k->n_groups + 1) * sizeof *p);
        if (!p) return RN_ENOMEM;
        g->start = p;
        g->cap_groups = k->n_groups + 1;
    }
    g->n_groups = k->n_groups;
    memset(g->start, 0, ((size_t)k->n_groups + 1) * sizeof *g->start);
    for (uint32_t r = 0; r < k->n; r++) g->start[k->group[r] + 1]++;
    for (uint32_t d = 0; d < k->n_groups; d++) g->start[d + 1] += g->start[d];
    /* fill using start[] as cursors, then shift them back */
    for (uint32_t r = 0; r < k->n; r++) g->order[g->start[k->group[r]]++] = r;
    for (uint32_t d = k->n_groups; d > 0; d--) g->start[d] = g->start[d - 1];
    g->start[0] = 0;
    return 0;
}

void rn__join_groups_free(struct rn__join_groups *g)
{
    free(g->start);
    free(g->order);
    memset(g, 0, sizeof *g);
}
