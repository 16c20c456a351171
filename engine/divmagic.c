/*
 * divmagic.c — constants for dividing by an invariant integer with a multiply and shifts
 * (Granlund and Montgomery, "Division by invariant integers using multiplication", 1994, the
 * round-up method for unsigned N-bit division). An int64 `%` or `/` by a constant is the hot
 * operation of filters like `auction % 123 = 0`; a hardware 64-bit divide costs 40+ cycles,
 * this costs a few.
 *
 * For a divisor d >= 2, with l = ceil(log2 d) and m = floor(2^64 * (2^l - d) / d) + 1 (which fits
 * in 64 bits), every 64-bit n has n / d = (t + ((n - t) >> 1)) >> (l - 1), t = mulhi(m, n).
 * Signed division and modulo are done on magnitudes, then the sign is put back.
 *
 * Divisibility (`x % d = 0`, the usual sampling and partitioning filter) needs no quotient:
 * with |d| = o * 2^k, o odd, and inv = o^-1 mod 2^64, n is a multiple of |d| exactly when
 * rotr(n * inv, k) <= (2^64 - 1) / |d| (multiplying by inv maps the multiples of o onto
 * [0, (2^64-1)/o] and the rotation folds in the power of two). A low multiply, a rotate and a
 * compare: it vectorises.
 */
#include "internal.h"

void rn__divmagic_init(struct rn_divmagic *dm, int64_t d)
{
    dm->neg = d < 0;
    dm->abs_d = d < 0 ? (uint64_t)0 - (uint64_t)d : (uint64_t)d;
    dm->one = dm->abs_d == 1;
    dm->m = 0;
    dm->shift = 0;
    dm->inv = dm->lim = 0;
    dm->tz = 0;
    if (dm->abs_d == 0) return;
    dm->tz = (uint32_t)__builtin_ctzll(dm->abs_d);
    uint64_t odd = dm->abs_d >> dm->tz, inv = odd;   /* correct to 3 bits: odd * odd == 1 mod 8 */
    for (int i = 0; i < 5; i++) inv *= 2 - odd * inv;  /* Newton: each step doubles the bits */
    dm->inv = inv;
    dm->lim = UINT64_MAX / dm->abs_d;
    if (dm->one) return;
    uint32_t l = 64u - (uint32_t)__builtin_clzll(dm->abs_d - 1);
    unsigned __int128 two_l = (unsigned __int128)1 << l;
    dm->m = (uint64_t)(((two_l - dm->abs_d) << 64) / dm->abs_d) + 1;
    dm->shift = l - 1;
}
