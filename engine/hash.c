/*
 * hash.c — the byte-string hash and CRC32C (see runnel/hash.h).
 *
 * rn_hash_bytes reads eight bytes at a time, multiplies each word into the state with two odd
 * constants and a rotation, and finishes with rn_hash_mix64 over the state and the length. It is
 * frozen: key groups derived from it are stored in checkpoints.
 */
#include <string.h>

#include "runnel/batch.h"
#include "runnel/hash.h"

#define K1 0x87c37b91114253d5ull
#define K2 0x4cf5ad432745937full

static inline uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

uint64_t rn_hash_bytes(const void *p, size_t len)
{
    const unsigned char *s = p;
    uint64_t h = 0x243f6a8885a308d3ull;
    size_t n = len;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = rotl(h ^ (w * K1), 31) * K2;
        s += 8;
        n -= 8;
    }
    if (n) {
        uint64_t w = 0;
        for (size_t i = 0; i < n; i++) w |= (uint64_t)s[i] << (8 * i);
        h = rotl(h ^ (w * K1), 31) * K2;
    }
    return rn_hash_mix64(h ^ (uint64_t)len);
}

/* ---- columns ---- */

static inline uint64_t hash_double(double d)
{
    if (d == 0) d = 0;   /* -0.0 == 0.0 */
    if (d != d) d = __builtin_nan("");
    int64_t bits;
    memcpy(&bits, &d, 8);
    return rn_hash_i64(bits);
}

/* One loop per type, the common case (int64 or timestamp without nulls, not combined) tight
 * enough for the compiler to vectorise. */
void rn_hash_column(const struct rn_column *c, uint32_t n, uint64_t *out, int combine)
{
    enum rn_type_id t = c->type.id;
    if ((t == RN_T_INT64 || t == RN_T_TIMESTAMP) && !c->validity) {
        const int64_t *restrict v = c->values;
        uint64_t *restrict o = out;
        if (!combine) {
            for (uint32_t i = 0; i < n; i++) o[i] = rn_hash_i64(v[i]);
        } else {
            for (uint32_t i = 0; i < n; i++) o[i] = rn_hash_combine(o[i], rn_hash_i64(v[i]));
        }
        return;
    }
    for (uint32_t i = 0; i < n; i++) {
        uint64_t h;
        if (rn_column_is_null(c, i)) {
            h = RN_HASH_NULL;
        } else {
            switch (t) {
            case RN_T_BOOL: h = rn_hash_i64(rn_col_bool(c, i)); break;
            case RN_T_INT64:
            case RN_T_TIMESTAMP: h = rn_hash_i64(rn_col_i64(c, i)); break;
            case RN_T_DOUBLE: h = hash_double(rn_col_f64(c, i)); break;
            case RN_T_STRING: {
                struct rn_str s = rn_col_str(c, i);
                h = rn_hash_bytes(s.ptr, s.len);
                break;
            }
            case RN_T_VECTOR: h = rn_hash_bytes(rn_col_vec(c, i), c->type.dim * sizeof(float)); break;
            default: h = 0;
            }
        }
        out[i] = combine ? rn_hash_combine(out[i], h) : h;
    }
}

/* ---- CRC32C ---- */

static uint32_t table[256];

static void make_table(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0x82f63b78u & (0u - (c & 1)));
        table[i] = c;
    }
}

static uint32_t crc_soft(uint32_t crc, const unsigned char *s, size_t n)
{
    static int ready;
    if (!__atomic_load_n(&ready, __ATOMIC_ACQUIRE)) {
        make_table();   /* idempotent: a race computes the same table twice */
        __atomic_store_n(&ready, 1, __ATOMIC_RELEASE);
    }
    while (n--) crc = table[(crc ^ *s++) & 0xff] ^ (crc >> 8);
    return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t crc_hw(uint32_t crc, const unsigned char *s, size_t n)
{
    uint64_t c = crc;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        c = __builtin_ia32_crc32di(c, w);
        s += 8;
        n -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (n--) c32 = __builtin_ia32_crc32qi(c32, *s++);
    return c32;
}
#endif

uint32_t rn_crc32c(uint32_t crc, const void *p, size_t len)
{
    crc = ~crc;
#if defined(__x86_64__)
    if (__builtin_cpu_supports("sse4.2")) return ~crc_hw(crc, p, len);
#endif
    return ~crc_soft(crc, p, len);
}
