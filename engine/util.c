/*
 * util.c — small helpers shared across the engine (and the runtime's configuration): edit
 * distance for "did you mean" hints, decimal integers with '_' separators.
 */
#include <ctype.h>
#include <string.h>

#include "internal.h"

size_t rn__edit_distance(const char *a, const char *b)
{
    size_t an = strlen(a), bn = strlen(b), row[65];
    if (an > 64 || bn > 64) return 99;
    for (size_t j = 0; j <= bn; j++) row[j] = j;
    for (size_t i = 1; i <= an; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= bn; j++) {
            size_t up = row[j];
            size_t sub = diag + (tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]));
            size_t best = up + 1 < row[j - 1] + 1 ? up + 1 : row[j - 1] + 1;
            row[j] = sub < best ? sub : best;
            diag = up;
        }
    }
    return row[bn];
}

bool rn__parse_i64(const char *s, int64_t *out, const char **end)
{
    bool neg = *s == '-';
    if (*s == '-' || *s == '+') s++;
    if (!isdigit((unsigned char)*s)) return false;
    uint64_t v = 0, limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; isdigit((unsigned char)*s) || (*s == '_' && isdigit((unsigned char)s[1])); s++) {
        if (*s == '_') continue;
        unsigned d = (unsigned)(*s - '0');
        if (v > (limit - d) / 10) return false;
        v = v * 10 + d;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    *end = s;
    return true;
}
