/*
 * operators/window/winrows.c — rows as bytes in keyed state, memcmp-ordered sort keys, grouping
 * by (key, namespace) and pane arithmetic, for top_n and window_process (see winrows.h for the
 * encodings).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "winrows.h"
#include "keyed/rowbytes.h"

int rn__wr_append_value(rn_builder *bb, uint32_t col, const struct rn_column *c, uint32_t r)
{
    if (rn_column_is_null(c, r)) return rn_builder_null(bb, col);
    switch (c->type.id) {
    case RN_T_BOOL: return rn_builder_bool(bb, col, rn_col_bool(c, r));
    case RN_T_INT64: return rn_builder_i64(bb, col, rn_col_i64(c, r));
    case RN_T_TIMESTAMP: return rn_builder_ts(bb, col, rn_col_i64(c, r));
    case RN_T_DOUBLE: return rn_builder_f64(bb, col, rn_col_f64(c, r));
    case RN_T_STRING: {
        struct rn_str s = rn_col_str(c, r);
        return rn_builder_str(bb, col, s.ptr, s.len);
    }
    case RN_T_VECTOR: return rn_builder_vec(bb, col, rn_col_vec(c, r), c->type.dim);
    default: return RN_EINVAL;
    }
}

/* ---- order keys ---- */

static bool word_at_end(const char *s, size_t *len, const char *word)
{
    size_t wl = strlen(word), l = *len;
    if (l < wl + 1 || strncasecmp(s + l - wl, word, wl)) return false;
    char before = s[l - wl - 1];
    if (before != ' ' && before != '\t' && before != '\n') return false;
    l -= wl;
    while (l && (s[l - 1] == ' ' || s[l - 1] == '\t' || s[l - 1] == '\n')) l--;
    *len = l;
    return true;
}

/* One item "expr [asc|desc] [nulls first|last]" of len bytes at s. */
static int parse_item(const char *s, size_t len, const rn_schema *schema, struct rn__wr_order_item *it, char *msg,
                      size_t mlen)
{
    while (len && (*s == ' ' || *s == '\t' || *s == '\n')) s++, len--;
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\n')) len--;
    size_t l = len;
    int nulls = word_at_end(s, &l, "first") ? 1 : word_at_end(s, &l, "last") ? 0 : -1;
    if (nulls >= 0) {
        if (!word_at_end(s, &l, "nulls")) {
            snprintf(msg, mlen, "'%.*s': expected 'nulls first' or 'nulls last' at the end", (int)len, s);
            return RN_EINVAL;
        }
        it->nulls_first = nulls == 1;
    } else {
        /* "... nulls <something else>" or a trailing "nulls" */
        size_t e = l, w;
        while (e && s[e - 1] != ' ' && s[e - 1] != '\t' && s[e - 1] != '\n') e--;
        w = e;
        while (w && (s[w - 1] == ' ' || s[w - 1] == '\t' || s[w - 1] == '\n')) w--;
        if (word_at_end(s, &l, "nulls") || (w && word_at_end(s, &w, "nulls"))) {
            snprintf(msg, mlen, "'%.*s': expected 'nulls first' or 'nulls last' at the end", (int)len, s);
            return RN_EINVAL;
        }
    }
    if (word_at_end(s, &l, "desc")) it->desc = true;
    else word_at_end(s, &l, "asc");
    if (!l) {
        snprintf(msg, mlen, "an order_by item has no expression");
        return RN_EINVAL;
    }
    if (!(it->text = strndup(s, l))) return RN_ENOMEM;
    struct rn_error err;
    if (rn_expr_compile(it->text, schema, &it->expr, &err)) {
        snprintf(msg, mlen, "'%.80s': %.300s", it->text, err.msg);
        return RN_EINVAL;
    }
    struct rn_type t = rn_expr_type(it->expr);
    if (t.id == RN_T_VECTOR || t.id == RN_T_NULL) {
        snprintf(msg, mlen, "'%.80s': cannot order by a %s", it->text, t.id == RN_T_VECTOR ? "vector" : "NULL");
        return RN_EINVAL;
    }
    return 0;
}

int rn__wr_order_parse(const char *text, const rn_schema *s, struct rn__wr_order *out, char *msg, size_t len)
{
    memset(out, 0, sizeof *out);
    if (!text) {
        snprintf(msg, len, "order_by is empty");
        return RN_EINVAL;
    }
    size_t tl = strlen(text);
    /* split at commas outside parentheses and quotes */
    size_t start = 0;
    int depth = 0;
    char quote = 0;
    for (size_t i = 0; i <= tl; i++) {
        char c = i < tl ? text[i] : ',';
        if (quote) {
            if (c == quote) quote = 0;
            if (i < tl) continue;
        }
        if (c == '\'' || c == '`') quote = c;
        else if (c == '(') depth++;
        else if (c == ')') depth--;
        else if (c == ',' && depth <= 0) {
            struct rn__wr_order_item *items = realloc(out->items, (out->n + 1) * sizeof *items);
            if (!items) return RN_ENOMEM;
            out->items = items;
            memset(&items[out->n], 0, sizeof items[out->n]);
            out->n++;
            int rc = parse_item(text + start, i - start, s, &items[out->n - 1], msg, len);
            if (rc) return rc;
            start = i + 1;
        }
    }
    if (!(out->cols = calloc(out->n, sizeof *out->cols))) return RN_ENOMEM;
    return 0;
}

void rn__wr_order_free(struct rn__wr_order *o)
{
    for (uint32_t i = 0; i < o->n; i++) {
        free(o->items[i].text);
        rn_expr_destroy(o->items[i].expr);
        if (o->cols) rn_column_release(&o->cols[i]);
    }
    free(o->items);
    free(o->cols);
    memset(o, 0, sizeof *o);
}

int rn__wr_order_eval(struct rn__wr_order *o, const struct rn_batch *b, struct rn_error *err)
{
    for (uint32_t i = 0; i < o->n; i++) {
        rn_column_release(&o->cols[i]);
        int rc = rn_expr_eval(o->items[i].expr, b, &o->cols[i], err);
        if (rc) return rc;
    }
    return 0;
}

static void put_u64_be(uint8_t *p, uint64_t v, bool invert)
{
    if (invert) v = ~v;
    for (int i = 7; i >= 0; i--, v >>= 8) p[i] = (uint8_t)v;
}

uint32_t rn__wr_order_key(const struct rn__wr_order *o, uint32_t r, uint8_t *out, uint32_t cap)
{
    uint32_t at = 0;
#define PUT(byte) do { if (at < cap) out[at] = (uint8_t)(byte); at++; } while (0)
    for (uint32_t i = 0; i < o->n; i++) {
        const struct rn__wr_order_item *it = &o->items[i];
        const struct rn_column *c = &o->cols[i];
        if (rn_column_is_null(c, r)) {
            PUT(it->nulls_first ? 0x00 : 0x02);
            continue;
        }
        PUT(0x01);
        uint8_t x = it->desc ? 0xff : 0x00;
        switch (c->type.id) {
        case RN_T_BOOL: PUT(rn_col_bool(c, r) ^ x); break;
        case RN_T_INT64:
        case RN_T_TIMESTAMP:
            if (at + 8 <= cap) put_u64_be(out + at, (uint64_t)rn_col_i64(c, r) ^ (1ull << 63), it->desc);
            at += 8;
            break;
        case RN_T_DOUBLE: {
            double d = rn_col_f64(c, r);
            uint64_t bits;
            if (d == 0) d = 0;                        /* -0 ties with 0 */
            if (isnan(d)) {
                bits = UINT64_MAX;                    /* one NaN, above +inf */
            } else {
                memcpy(&bits, &d, 8);
                bits = (bits >> 63) ? ~bits : bits ^ (1ull << 63);
            }
            if (at + 8 <= cap) put_u64_be(out + at, bits, it->desc);
            at += 8;
            break;
        }
        case RN_T_STRING: {
            struct rn_str s = rn_col_str(c, r);
            for (uint32_t k = 0; k < s.len; k++) {
                uint8_t ch = (uint8_t)s.ptr[k];
                PUT(ch ^ x);
                if (ch == 0) PUT(0xff ^ x);
            }
            PUT(0x00 ^ x);
            PUT(0x00 ^ x);
            break;
        }
        default: break;
        }
    }
#undef PUT
    return at;
}

/* ---- grouping ---- */

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    return x ^ (x >> 33);
}

int rn__wr_group(struct rn__wr_groups *g, uint32_t n, const uint32_t *dkey, const int64_t *ns, const bool *keep)
{
    if (n > g->cap_rows) {
#define GROW(p) do { void *q_ = realloc((p), (size_t)n * sizeof *(p)); if (!q_) return RN_ENOMEM; (p) = q_; } while (0)
        GROW(g->group);
        GROW(g->dkey);
        GROW(g->ns);
        GROW(g->first_row);
        GROW(g->count);
#undef GROW
        g->cap_rows = n;
    }
    uint32_t tc = 16;
    while (tc < 2 * n) tc *= 2;
    if (tc > g->table_cap) {
        uint32_t *t = realloc(g->table, (size_t)tc * sizeof *t);
        if (!t) return RN_ENOMEM;
        g->table = t;
        g->table_cap = tc;
    }
    memset(g->table, 0xff, (size_t)tc * sizeof *g->table);
    g->n = 0;
    uint32_t mask = tc - 1;
    for (uint32_t r = 0; r < n; r++) {
        if (keep && !keep[r]) {
            g->group[r] = UINT32_MAX;
            continue;
        }
        uint32_t h = (uint32_t)mix(((uint64_t)dkey[r] << 32) ^ (uint64_t)ns[r] ^ ((uint64_t)ns[r] >> 29) * 0x9e3779b9u) & mask;
        for (;;) {
            uint32_t gi = g->table[h];
            if (gi == UINT32_MAX) {
                gi = g->n++;
                g->table[h] = gi;
                g->dkey[gi] = dkey[r];
                g->ns[gi] = ns[r];
                g->first_row[gi] = r;
                g->count[gi] = 0;
            } else if (g->dkey[gi] != dkey[r] || g->ns[gi] != ns[r]) {
                h = (h + 1) & mask;
                continue;
            }
            g->group[r] = gi;
            g->count[gi]++;
            break;
        }
    }
    return 0;
}

void rn__wr_groups_free(struct rn__wr_groups *g)
{
    free(g->group);
    free(g->dkey);
    free(g->ns);
    free(g->first_row);
    free(g->count);
    free(g->table);
    memset(g, 0, sizeof *g);
}

/* ---- panes ---- */

int64_t rn__wr_first_window_end(const struct rn_win_spec *s, int64_t pane_end, int64_t now)
{
    int64_t ps = pane_end - s->pane;
    int64_t last = rn_win_last_start(s, ps);
    /* the earliest window holding the pane starts at the first start >= pane_end - size */
    int64_t k = (last - (pane_end - s->size)) / s->slide;
    for (int64_t st = last - k * s->slide; st <= last; st += s->slide) {
        int64_t end = rn_win_end(st, s->size);
        if (end - 1 > now) return end;
    }
    return INT64_MIN;
}

/* ---- misc ---- */

int rn__wr_reserve(uint8_t **buf, size_t *cap, size_t need)
{
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap : 4096;
    while (c < need) c *= 2;
    uint8_t *p = realloc(*buf, c);
    if (!p) return RN_ENOMEM;
    *buf = p;
    *cap = c;
    return 0;
}
