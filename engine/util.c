/*
 * util.c — small helpers shared across the engine: edit distance for "did you mean" hints.
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
