/*
 * operators/window/winrows.h — what top_n and window_process share: whole rows kept in keyed
 * state as bytes, order keys that compare with memcmp, grouping a batch's rows by (key,
 * namespace), and the pane arithmetic of tumbling and sliding windows that both use to keep one
 * state entry per (key, pane) rather than a copy of each row per window.
 *
 * Rows are kept with the encoding of keyed/rowbytes.h.
 *
 * Order keys: each `expr [asc|desc] [nulls first|last]` of an order_by list is encoded so that
 * comparing two rows' keys with memcmp (then by length) gives their order: a null marker byte
 * (nulls last unless `nulls first`, whatever the direction), then the value in an
 * order-preserving form (big-endian integers with the sign bit flipped; doubles with the usual
 * bit transform, -0 as 0 and every NaN as one NaN above +inf; strings with 0x00 escaped and a
 * 0x00 0x00 terminator, so a key is never a prefix of another), every value byte inverted for
 * `desc`.
 */
#ifndef RN_WINROWS_H
#define RN_WINROWS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runnel/operator.h"
#include "keyed/rowbytes.h"   /* whole rows as bytes */
#include "window_spec.h"

/* Appends row r of column c to column col of bb (the same type). */
int rn__wr_append_value(rn_builder *bb, uint32_t col, const struct rn_column *c, uint32_t r);

/* ---- order keys ---- */

struct rn__wr_order_item {
    char *text;          /* the expression */
    bool desc, nulls_first;
    rn_expr *expr;       /* compiled (per subtask) */
};
struct rn__wr_order {
    uint32_t n;
    struct rn__wr_order_item *items;
    struct rn_column *cols;   /* per batch: the evaluated items */
};

/* Parses an order_by list ("price desc, date_time", expressions may hold commas inside
 * parentheses or quotes) and compiles it against s. On failure returns RN_EINVAL with a message
 * in msg. */
int rn__wr_order_parse(const char *text, const rn_schema *s, struct rn__wr_order *out, char *msg, size_t len);
void rn__wr_order_free(struct rn__wr_order *o);
/* Evaluates every item over b (into o->cols; released by the next call or rn__wr_order_free). */
int rn__wr_order_eval(struct rn__wr_order *o, const struct rn_batch *b, struct rn_error *err);
/* Encodes row r's key into out[0..cap); returns its length (more than cap: nothing usable
 * written, call again with room for that much). */
uint32_t rn__wr_order_key(const struct rn__wr_order *o, uint32_t r, uint8_t *out, uint32_t cap);
/* memcmp then length: < 0, 0, > 0 as a sorts before, ties with, or after b. */
static inline int rn__wr_key_cmp(const uint8_t *a, uint32_t alen, const uint8_t *b, uint32_t blen)
{
    uint32_t m = alen < blen ? alen : blen;
    int c = m ? __builtin_memcmp(a, b, m) : 0;
    return c ? c : (alen > blen) - (alen < blen);
}

/* ---- grouping a batch's rows by (distinct key, namespace) ---- */

struct rn__wr_groups {
    uint32_t n;               /* groups of the last batch */
    uint32_t *group;          /* per row: its group, or UINT32_MAX for a row left out */
    uint32_t *dkey;           /* per group: the distinct key (rn_op_keys group) */
    int64_t *ns;              /* per group: the namespace */
    uint32_t *first_row;      /* per group */
    uint32_t *count;          /* per group: rows */
    /* scratch */
    uint32_t cap_rows, table_cap;
    uint32_t *table;
};
/* Groups rows 0..n-1: row r belongs to (dkey[r], ns[r]) unless keep[r] is false (keep NULL:
 * every row). Groups are numbered in order of first appearance. */
int rn__wr_group(struct rn__wr_groups *g, uint32_t n, const uint32_t *dkey, const int64_t *ns, const bool *keep);
void rn__wr_groups_free(struct rn__wr_groups *g);

/* ---- panes of tumbling and sliding windows ---- */

/* State is kept per (key, pane); the namespace of a pane is its end. A window [end - size, end)
 * is the panes ending at end - size + pane, ..., end. */
static inline int64_t rn__wr_pane_ns(const struct rn_win_spec *s, int64_t ts)
{
    return rn_win_pane_start(s, ts) + s->pane;
}
/* The end of the earliest window holding the pane that ends at pane_end and firing after
 * `now` (its end - 1 > now), or INT64_MIN when every window holding it has fired (the row is
 * late). */
int64_t rn__wr_first_window_end(const struct rn_win_spec *s, int64_t pane_end, int64_t now);

/* ---- misc ---- */

/* Makes room for `need` bytes at *buf (capacity *cap, grown by doubling); 0 or RN_ENOMEM. */
int rn__wr_reserve(uint8_t **buf, size_t *cap, size_t need);

#endif
