/*
 * expr_k_string.c — string kernels: || and concat(), lower/upper, length, substr, split_index,
 * replace, LIKE, regexp_match and regexp_extract. Kernels whose result is a piece of their input
 * (substr, split_index, regexp_extract) return views into the input's bytes and keep its
 * buffers alive, so nothing is copied; the others write into the result column's arena.
 * Character positions count UTF-8 code points.
 */
#include <stdlib.h>
#include <string.h>

#include "expr_kernel.h"

static const struct rn_str EMPTY = {"", 0};

static inline bool is_cont(unsigned char c) { return (c & 0xc0) == 0x80; }

/* Byte offset of the k-th code point of s (s.len when past the end). */
static uint32_t char_offset(struct rn_str s, uint64_t k)
{
    uint32_t i = 0;
    while (k > 0 && i < s.len) {
        i++;
        while (i < s.len && is_cont((unsigned char)s.ptr[i])) i++;
        k--;
    }
    return i;
}

static uint64_t char_count(struct rn_str s)
{
    uint64_t n = 0;
    for (uint32_t i = 0; i < s.len; i++) n += !is_cont((unsigned char)s.ptr[i]);
    return n;
}

/* ---- concatenation ---- */

int rn__k_concat(struct enode *nd, struct ectx *cx)
{
    uint32_t n = cx->n;
    int rc = rn__kernel_prepare(nd, n);
    if (rc) return rc;
    struct rn_str *o = nd->out.values;
    for (uint32_t i = 0; i < n; i++) {
        if (rn_column_is_null(&nd->out, i)) {
            o[i] = EMPTY;
            continue;
        }
        size_t len = 0;
        for (uint32_t k = 0; k < nd->n_args; k++) len += rn_col_str(&nd->args[k]->out, i).len;
        if (len > UINT32_MAX) return RN_ERANGE;
        char *p = rn__out_str_reserve(nd, i, len);
        if (!p) return RN_ENOMEM;
        for (uint32_t k = 0; k < nd->n_args; k++) {
            struct rn_str s = rn_col_str(&nd->args[k]->out, i);
            if (s.len) memcpy(p, s.ptr, s.len);
            p += s.len;
        }
    }
    return 0;
}

static int map_case(struct enode *nd, struct ectx *cx, bool upper)
{
    uint32_t n = cx->n;
    int rc = rn__kernel_prepare(nd, n);
    if (rc) return rc;
    const struct rn_column *a = &nd->args[0]->out;
    struct rn_str *o = nd->out.values;
    for (uint32_t i = 0; i < n; i++) {
        struct rn_str s = rn_col_str(a, i);
        if (rn_column_is_null(a, i) || s.len == 0) {
            o[i] = EMPTY;
            continue;
        }
        char *p = rn__out_str_reserve(nd, i, s.len);
        if (!p) return RN_ENOMEM;
        for (uint32_t k = 0; k < s.len; k++) {
            unsigned char c = (unsigned char)s.ptr[k];
            if (upper) p[k] = (char)(c >= 'a' && c <= 'z' ? c - 32 : c);
            else p[k] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
        }
    }
    return 0;
}

int rn__k_lower(struct enode *nd, struct ectx *cx) { return map_case(nd, cx, false); }
int rn__k_upper(struct enode *nd, struct ectx *cx) { return map_case(nd, cx, true); }

int rn__k_length(struct enode *nd, struct ectx *cx)
{
    uint32_t n = cx->n;
    int rc = rn__kernel_prepare(nd, n);
    if (rc) return rc;
    const struct rn_column *a = &nd->args[0]->out;
    int64_t *o = nd->out.values;
    for (uint32_t i = 0; i < n; i++) o[i] = rn_column_is_null(a, i) ? 0 : (int64_t)char_count(rn_col_str(a, i));
    return 0;
}

/* substr(s, start[, len]): 1-based; negative start counts from the end; start 0 acts as 1. */
int rn__k_substr(struct enode *nd, struct ectx *cx)
{
    uint32_t n = cx->n;
    int rc = rn__kernel_prepare(nd, n);
    if (!rc) rc = rn_column_share_deps(&nd->out, &nd->args[0]->out);
    if (rc) return rc;
    const struct rn_column *a = &nd->args[0]->out, *st = &nd->args[1]->out;
    const struct rn_column *ln = nd->n_args > 2 ? &nd->args[2]->out : NULL;
    struct rn_str *o = nd->out.values;
    for (uint32_t i = 0; i < n; i++) {
        o[i] = EMPTY;
        if (rn_column_is_null(&nd->out, i)) continue;
        struct rn_str s = rn_col_str(a, i);
        int64_t start = rn_col_i64(st, i);
        uint64_t first;
        if (start > 0) {
            first = (uint64_t)start - 1;
        } else if (start == 0) {
            first = 0;
        } else {
            uint64_t chars = char_count(s), back = (uint64_t)0 - (uint64_t)start;
            first = back > chars ? 0 : chars - back;
        }
        uint32_t b0 = char_offset(s, first), b1 = s.len;
        if (ln) {
            int64_t len = rn_col_i64(ln, i);
            if (len <= 0) continue;
            struct rn_str rest = {s.ptr + b0, s.len - b0};
            b1 = b0 + char_offset(rest, (uint64_t)len);
        }
        o[i] = (struct rn_str){s.ptr + b0, b1 - b0};
    }
    return 0;
}

/* split_index(s, delim, i): the i-th piece (0-based); null when out of range. */
int rn__k_split_index(struct enode *nd, struct ectx *cx)
{
    uint32_t n = cx->n;
    int rc = rn__kernel_prepare(nd, n);
    if (!rc) rc = rn_column_share_deps(&nd->out, &nd->args[0]->out);
    if (!rc) rc = rn__out_validity(nd, n);
    if (rc) return rc;
    const struct rn_column *a = &nd->args[0]->out, *d = &nd->args[1]->out, *ix = &nd->args[2]->out;
    struct rn_str *o = nd->out.values;
    for (uint32_t i = 0; i < n; i++) {
        o[i] = EMPTY;
        if (rn_column_is_null(&nd->out, i)) continue;
        struct rn_str s = rn_col_str(a, i), delim = rn_col_str(d, i);
        int64_t want = rn_col_i64(ix, i);
        if (want < 0 || delim.len == 0) {
            rn_bit_clear(nd->out.validity, i);
            continue;
        }
        const char *p = s.ptr, *end = s.ptr + s.len;
        for (; want > 0 && p; want--) {
            const char *hit = memmem(p, (size_t)(end - p), delim.ptr, delim.len);
            p = hit ? hit + delim.len : NULL;
        }
        if (!p) {
            rn_bit_clear(nd->out.validity, i);
            continue;
        }
        const char *stop = memmem(p, (size_t)(end - p), delim.ptr, delim.len);
        o[i] = (struct rn_str){p, (uint32_t)((stop ? stop : end) - p)};
    }
    return 0;
}

/* replace(s, from, to): every occurrence of from, left to right and not overlapping, replaced
 * by to. A row where from is empty or does not occur is s itself (a view: nothing copied). */
int rn__k_replace(struct enode *nd, struct ectx *cx)
{
    uint32_t n = cx->n;
    int rc = rn__kernel_prepare(nd, n);
    if (!rc) rc = rn_column_share_deps(&nd->out, &nd->args[0]->out);
    if (rc) return rc;
    const struct rn_column *a = &nd->args[0]->out, *f = &nd->args[1]->out, *t = &nd->args[2]->out;
    struct rn_str *o = nd->out.values;
    for (uint32_t i = 0; i < n; i++) {
        o[i] = EMPTY;
        if (rn_column_is_null(&nd->out, i)) continue;
        struct rn_str s = rn_col_str(a, i), from = rn_col_str(f, i), to = rn_col_str(t, i);
        const char *end = s.ptr + s.len;
        size_t hits = 0;
        if (from.len)
            for (const char *p = s.ptr; (p = memmem(p, (size_t)(end - p), from.ptr, from.len)); p += from.len) hits++;
        if (!hits) {
            o[i] = s;
            continue;
        }
        size_t len = s.len - hits * from.len + hits * to.len;   /* hits * to.len < 2^64: both < 2^32 */
        if (len > UINT32_MAX) return RN_ERANGE;
        char *q = rn__out_str_reserve(nd, i, len);
        if (!q) return RN_ENOMEM;
        for (const char *p = s.ptr;;) {
            const char *hit = memmem(p, (size_t)(end - p), from.ptr, from.len);
            size_t k = (size_t)((hit ? hit : end) - p);
            if (k) memcpy(q, p, k);
            q += k;
            if (!hit) break;
            if (to.len) memcpy(q, to.ptr, to.len);
            q += to.len;
            p = hit + from.len;
        }
    }
    return 0;
}

/* ---- LIKE ---- */

enum like_kind { LIKE_EXACT, LIKE_PREFIX, LIKE_SUFFIX, LIKE_CONTAINS, LIKE_GENERAL };
struct like {
    enum like_kind kind;
    uint32_t len;
    char pat[];   /* the literal part (or the whole pattern for LIKE_GENERAL) */
};

int rn__like_prepare(struct enode *nd, struct rn_str p)
{
    struct like *lk = malloc(sizeof *lk + p.len + 1);
    if (!lk) return RN_ENOMEM;
    uint32_t wild = 0, under = 0;
    for (uint32_t i = 0; i < p.len; i++) wild += p.ptr[i] == '%', under += p.ptr[i] == '_';
    const char *lit = p.ptr;
    uint32_t len = p.len;
    bool lead = len && p.ptr[0] == '%', trail = len > lead && p.ptr[len - 1] == '%';
    if (under) lk->kind = LIKE_GENERAL;
    else if (wild == 0) lk->kind = LIKE_EXACT;
    else if (wild == 1 && trail) lk->kind = LIKE_PREFIX, len--;
    else if (wild == 1 && lead) lk->kind = LIKE_SUFFIX, lit++, len--;
    else if (wild == 2 && lead && trail) lk->kind = LIKE_CONTAINS, lit++, len -= 2;
    else lk->kind = LIKE_GENERAL;
    if (lk->kind == LIKE_GENERAL) lit = p.ptr, len = p.len;
    if (len) memcpy(lk->pat, lit, len);
    lk->pat[len] = 0;
    lk->len = len;
    nd->aux = lk;
    nd->aux_free = free;
    return 0;
}

/* Iterative matcher: on a mismatch, resume after the last '%' one byte further on. */
static bool like_general(const char *s, uint32_t sn, const char *p, uint32_t pn)
{
    uint32_t si = 0, pi = 0, star_p = UINT32_MAX, star_s = 0;
    while (si < sn) {
        if (pi < pn && p[pi] == '_') {
            pi++;
            si++;
            while (si < sn && is_cont((unsigned char)s[si])) si++;
        } else if (pi < pn && p[pi] == '%') {
            star_p = ++pi;
            star_s = si;
        } else if (pi < pn && p[pi] == s[si]) {
            pi++;
            si++;
        } else if (star_p != UINT32_MAX) {
            /* let the '%' take one more character (not byte) and retry */
            pi = star_p;
            si = ++star_s;
            while (si < sn && is_cont((unsigned char)s[si])) si = ++star_s;
        } else {
            return false;
        }
    }
    while (pi < pn && p[pi] == '%') pi++;
    return pi == pn;
}

int rn__k_like(struct enode *nd, struct ectx *cx)
{
    uint32_t n = cx->n;
    int rc = rn__out_values(nd, n);
    if (!rc) rc = rn__out_validity_from(nd, &nd->args[0]->out, n);
    if (rc) return rc;
    if (!nd->args[0]->out.validity) {
        rn_buf_unref(nd->out.validity_buf);
        nd->out.validity_buf = NULL;
        nd->out.validity = NULL;
    }
    const struct like *lk = nd->aux;
    const struct rn_str *a = nd->args[0]->out.values;
    uint8_t *o = nd->out.values;
    const char *p = lk->pat;
    uint32_t pn = lk->len;
    for (uint32_t i = 0; i < n; i++) {
        struct rn_str s = a[i];
        bool m;
        switch (lk->kind) {
        case LIKE_EXACT: m = s.len == pn && (!pn || memcmp(s.ptr, p, pn) == 0); break;
        case LIKE_PREFIX: m = s.len >= pn && (!pn || memcmp(s.ptr, p, pn) == 0); break;
        case LIKE_SUFFIX: m = s.len >= pn && (!pn || memcmp(s.ptr + s.len - pn, p, pn) == 0); break;
        case LIKE_CONTAINS: m = !pn || (s.len && memmem(s.ptr, s.len, p, pn) != NULL); break;
        default: m = like_general(s.ptr, s.len, p, pn);
        }
        o[i] = m;
    }
    return 0;
}

/* ---- regular expressions (POSIX extended) ---- */

/* regexec wants a NUL-terminated subject; views are not, so each row is copied into the
 * node's scratch buffer (grown, never shrunk: no allocation in steady state). */
static const char *terminated(struct rn_regex *rx, struct rn_str s)
{
    if (s.len >= rx->cap) {
        size_t cap = rx->cap ? rx->cap : 256;
        while (cap <= s.len) cap *= 2;
        char *p = realloc(rx->scratch, cap);
        if (!p) return NULL;
        rx->scratch = p;
        rx->cap = cap;
    }
    if (s.len) memcpy(rx->scratch, s.ptr, s.len);
    rx->scratch[s.len] = 0;
    return rx->scratch;
}

int rn__k_regexp_match(struct enode *nd, struct ectx *cx)
{
    uint32_t n = cx->n;
    int rc = rn__kernel_prepare(nd, n);
    if (rc) return rc;
    struct rn_regex *rx = nd->aux;
    const struct rn_column *a = &nd->args[0]->out;
    uint8_t *o = nd->out.values;
    for (uint32_t i = 0; i < n; i++) {
        o[i] = 0;
        if (rn_column_is_null(a, i)) continue;
        const char *subject = terminated(rx, rn_col_str(a, i));
        if (!subject) return RN_ENOMEM;
        o[i] = regexec(&rx->re, subject, 0, NULL, 0) == 0;
    }
    return 0;
}

int rn__k_regexp_extract(struct enode *nd, struct ectx *cx)
{
    uint32_t n = cx->n;
    int rc = rn__kernel_prepare(nd, n);
    if (!rc) rc = rn_column_share_deps(&nd->out, &nd->args[0]->out);
    if (!rc) rc = rn__out_validity(nd, n);
    if (rc) return rc;
    struct rn_regex *rx = nd->aux;
    uint32_t group = (uint32_t)nd->k.i;
    regmatch_t m[10];
    const struct rn_column *a = &nd->args[0]->out;
    struct rn_str *o = nd->out.values;
    for (uint32_t i = 0; i < n; i++) {
        o[i] = EMPTY;
        if (rn_column_is_null(&nd->out, i)) continue;
        struct rn_str s = rn_col_str(a, i);
        const char *subject = terminated(rx, s);
        if (!subject) return RN_ENOMEM;
        if (regexec(&rx->re, subject, group + 1, m, 0) != 0 || m[group].rm_so < 0) {
            rn_bit_clear(nd->out.validity, i);
            continue;
        }
        o[i] = (struct rn_str){s.ptr + m[group].rm_so, (uint32_t)(m[group].rm_eo - m[group].rm_so)};
    }
    return 0;
}
