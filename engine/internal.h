/*
 * internal.h — functions shared between engine source files, not part of the public API
 * (prefix rn__). Plugin authors never see this header.
 */
#ifndef RN_ENGINE_INTERNAL_H
#define RN_ENGINE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runnel/batch.h"

/* A batch with buffers for capacity rows; values zero-filled when zero is true. */
struct rn_batch *rn__batch_alloc(const rn_schema *s, uint32_t capacity, bool zero);
/* A batch header with no column buffers (the caller fills every column). */
struct rn_batch *rn__batch_header(const rn_schema *s, uint32_t capacity);
/* Gives c an all-valid bitmap for capacity rows if it has none. */
int rn__column_make_validity(struct rn_column *c, uint32_t capacity);
/* Room for len bytes in c's string arena (growing it); NULL when out of memory. */
char *rn__arena_reserve(struct rn_column *c, size_t len);
/* Copies len bytes into c's string arena (growing it); returns where they now live, or NULL. */
const char *rn__arena_put(struct rn_column *c, const char *s, size_t len);
/* dst[i] = src[sel[i]] for elements of width bytes. */
void rn__gather(void *restrict dst, const void *restrict src, size_t width, const uint32_t *sel,
                uint32_t n);
/* Formats row i of col as text (strings quoted); returns the length written (truncated). */
size_t rn__format_value(const struct rn_column *col, uint32_t i, char *buf, size_t len);

/* Levenshtein distance, case-insensitive (99 for strings over 64 bytes). */
size_t rn__edit_distance(const char *a, const char *b);
/* An optionally signed decimal integer with '_' between digits ("1_000"); *end gets the rest.
 * False when there is no digit or it does not fit in int64. */
bool rn__parse_i64(const char *s, int64_t *out, const char **end);

/* Shortest decimal text that reads back as the same double ("1.5", "1e+20", "nan", "inf"). */
const char *rn__format_double(double v, char buf[32]);
/* ISO-8601 UTC text of a timestamp, "2026-11-22T13:38:00.000Z". */
const char *rn__format_timestamp(int64_t ms, char buf[40]);
/* Parses a timestamp: all digits (ms), or ISO-8601 as docs/job-spec.md describes. 0 or -1. */
int rn__parse_timestamp(const char *s, size_t len, int64_t *out);

/* Division by an invariant int64 with multiply-and-shift (see divmagic.c). */
struct rn_divmagic {
    uint64_t abs_d;   /* |d| as unsigned */
    uint64_t m;       /* magic multiplier */
    uint32_t shift;   /* l - 1 */
    bool one;         /* |d| == 1 */
    bool neg;         /* d < 0 */
    /* divisibility test: |n| % |d| == 0 <=> rotr(|n| * inv, tz) <= lim */
    uint64_t inv;     /* inverse of the odd part of |d| modulo 2^64 */
    uint64_t lim;     /* UINT64_MAX / |d| */
    uint32_t tz;      /* trailing zero bits of |d| */
};
void rn__divmagic_init(struct rn_divmagic *dm, int64_t d);   /* d != 0 */

static inline uint64_t rn__udiv_magic(const struct rn_divmagic *dm, uint64_t n)
{
    if (dm->one) return n;
    uint64_t t = (uint64_t)(((unsigned __int128)dm->m * n) >> 64);
    return (t + ((n - t) >> 1)) >> dm->shift;
}
/* n % d with C semantics (sign of n). */
static inline int64_t rn__smod_magic(const struct rn_divmagic *dm, int64_t n)
{
    uint64_t un = n < 0 ? (uint64_t)0 - (uint64_t)n : (uint64_t)n;
    uint64_t r = un - rn__udiv_magic(dm, un) * dm->abs_d;
    return (int64_t)(n < 0 ? (uint64_t)0 - r : r);
}
/* True when d divides n. */
static inline bool rn__divisible_magic(const struct rn_divmagic *dm, int64_t n)
{
    uint64_t un = n < 0 ? (uint64_t)0 - (uint64_t)n : (uint64_t)n;
    uint64_t p = un * dm->inv;
    uint64_t r = dm->tz ? (p >> dm->tz) | (p << (64 - dm->tz)) : p;
    return r <= dm->lim;
}
/* n / d truncated toward zero, wrapping for INT64_MIN / -1. */
static inline int64_t rn__sdiv_magic(const struct rn_divmagic *dm, int64_t n)
{
    uint64_t un = n < 0 ? (uint64_t)0 - (uint64_t)n : (uint64_t)n;
    uint64_t q = rn__udiv_magic(dm, un);
    return (int64_t)(((n < 0) != dm->neg) ? (uint64_t)0 - q : q);
}

#endif
