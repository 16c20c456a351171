/*
 * test_hash.c — Check suite "hash": the engine's hash functions and CRC32C (runnel/hash.h).
 *
 * The hash values are pinned: key groups (hash(key) % max_parallelism) are stored in
 * checkpoints, so a change to any of these functions would scatter restored state over the
 * wrong subtasks. If a pinned value here fails, the hash changed — fix the hash, never the
 * constant. CRC32C is checked against the standard check value, the RFC 3720 test vectors and
 * a bitwise reference, at every alignment and split (the hardware and table paths must agree).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "runnel/hash.h"

static uint64_t rng_state = 0x2545F4914F6CDD1Dull;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* ---- pinned values (frozen: key groups live in checkpoints) ---- */

START_TEST(test_hash_i64_is_pinned)
{
    /* Computed from the inline definition in hash.h. Frozen forever. */
    ck_assert_uint_eq(rn_hash_i64(0), 0x4e17cf67001b3979ull);
    ck_assert_uint_eq(rn_hash_i64(1), 0xf7622d3784a0ad54ull);
    ck_assert_uint_eq(rn_hash_i64(-1), 0x503db2454d517fb6ull);
}
END_TEST

START_TEST(test_hash_bytes_is_pinned)
{
    /* Values produced by the first implementation of rn_hash_bytes (engine/hash.c, pinned when
     * it was written). Frozen forever: key groups of string keys live in checkpoints. */
    ck_assert_uint_eq(rn_hash_bytes("runnel", 6), 0xd9c50c270d4bfab1ull);
    ck_assert_uint_eq(rn_hash_bytes("", 0), 0x8cb9463e7cde12e7ull);
    ck_assert_uint_eq(rn_hash_bytes("The quick brown fox jumps over the lazy dog", 43), 0xca9659f2d69c8234ull);
}
END_TEST

START_TEST(test_hash_null_constant)
{
    ck_assert_uint_eq(RN_HASH_NULL, 0x5bd1e9955bd1e995ull);
}
END_TEST

/* ---- rn_hash_i64 and rn_hash_mix64 ---- */

START_TEST(test_hash_i64_is_deterministic)
{
    for (int64_t v = -1000; v <= 1000; v++) ck_assert_uint_eq(rn_hash_i64(v), rn_hash_i64(v));
    ck_assert_uint_eq(rn_hash_i64(INT64_MIN), rn_hash_i64(INT64_MIN));
}
END_TEST

START_TEST(test_hash_i64_spreads_small_keys)
{
    /* Consecutive keys land in different key groups about evenly. */
    enum { GROUPS = 128, N = 128 * 200 };
    static int count[GROUPS];
    memset(count, 0, sizeof count);
    for (int64_t v = 0; v < N; v++) count[rn_hash_i64(v) % GROUPS]++;
    for (int g = 0; g < GROUPS; g++)
        ck_assert_msg(count[g] > 100 && count[g] < 300, "group %d holds %d of %d", g, count[g], N);
}
END_TEST

START_TEST(test_hash_mix64_flips_about_half_the_bits)
{
    for (int i = 0; i < 1000; i++) {
        uint64_t x = rnd();
        int bit = (int)(rnd() % 64);
        int flipped = __builtin_popcountll(rn_hash_mix64(x) ^ rn_hash_mix64(x ^ (1ull << bit)));
        ck_assert_msg(flipped >= 10 && flipped <= 54, "flipping bit %d changed %d bits", bit, flipped);
    }
}
END_TEST

/* ---- rn_hash_bytes ---- */

START_TEST(test_hash_bytes_ignores_alignment)
{
    unsigned char src[300], buf[300 + 64];
    for (size_t i = 0; i < sizeof src; i++) src[i] = (unsigned char)rnd();
    for (size_t len = 0; len <= 200; len++) {
        memcpy(buf, src, len);
        uint64_t want = rn_hash_bytes(buf, len);
        for (size_t off = 1; off < 64; off++) {
            memcpy(buf + off, src, len);
            ck_assert_msg(rn_hash_bytes(buf + off, len) == want, "len %zu offset %zu", len, off);
        }
    }
}
END_TEST

START_TEST(test_hash_bytes_ignores_bytes_after_len)
{
    char a[64], b[64];
    memset(a, 'x', sizeof a);
    memset(b, 'y', sizeof b);
    memcpy(a, "same prefix", 11);
    memcpy(b, "same prefix", 11);
    for (size_t len = 0; len <= 11; len++) ck_assert_uint_eq(rn_hash_bytes(a, len), rn_hash_bytes(b, len));
}
END_TEST

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

START_TEST(test_hash_bytes_differs_for_different_inputs)
{
    enum { N = 20000 };
    uint64_t *h = malloc(N * sizeof *h);
    char key[32];
    for (int i = 0; i < N; i++) {
        int len = snprintf(key, sizeof key, "key-%d", i);
        h[i] = rn_hash_bytes(key, (size_t)len);
    }
    qsort(h, N, sizeof *h, cmp_u64);
    for (int i = 1; i < N; i++) ck_assert_msg(h[i] != h[i - 1], "collision among %d keys", N);
    free(h);
}
END_TEST

START_TEST(test_hash_bytes_length_matters)
{
    const char zeros[16] = {0};
    uint64_t seen[17];
    for (size_t len = 0; len <= 16; len++) {
        seen[len] = rn_hash_bytes(zeros, len);
        for (size_t j = 0; j < len; j++) ck_assert_msg(seen[j] != seen[len], "len %zu vs %zu", j, len);
    }
}
END_TEST

START_TEST(test_hash_bytes_every_bit_matters)
{
    unsigned char buf[40];
    for (size_t len = 1; len <= sizeof buf; len++) {
        for (size_t i = 0; i < len; i++) buf[i] = (unsigned char)rnd();
        uint64_t base = rn_hash_bytes(buf, len);
        for (size_t i = 0; i < len; i++)
            for (int bit = 0; bit < 8; bit++) {
                buf[i] ^= (unsigned char)(1u << bit);
                ck_assert_msg(rn_hash_bytes(buf, len) != base, "len %zu byte %zu bit %d", len, i, bit);
                buf[i] ^= (unsigned char)(1u << bit);
            }
    }
}
END_TEST

START_TEST(test_hash_bytes_spreads_over_key_groups)
{
    enum { GROUPS = 128, N = 128 * 200 };
    static int count[GROUPS];
    memset(count, 0, sizeof count);
    char key[32];
    for (int i = 0; i < N; i++) {
        int len = snprintf(key, sizeof key, "user%d", i);
        count[rn_hash_bytes(key, (size_t)len) % GROUPS]++;
    }
    for (int g = 0; g < GROUPS; g++)
        ck_assert_msg(count[g] > 100 && count[g] < 300, "group %d holds %d of %d", g, count[g], N);
}
END_TEST

/* ---- CRC32C ---- */

/* Bitwise reference CRC32C (reflected polynomial 0x82F63B78), same chaining as rn_crc32c. */
static uint32_t ref_crc32c(uint32_t crc, const unsigned char *p, size_t len)
{
    crc = ~crc;
    for (size_t i = 0; i < len; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1)));
    }
    return ~crc;
}

START_TEST(test_crc32c_check_value)
{
    ck_assert_uint_eq(rn_crc32c(0, "123456789", 9), 0xE3069283u);
}
END_TEST

START_TEST(test_crc32c_rfc3720_vectors)
{
    unsigned char buf[32];
    memset(buf, 0, sizeof buf);
    ck_assert_uint_eq(rn_crc32c(0, buf, 32), 0x8A9136AAu);
    memset(buf, 0xFF, sizeof buf);
    ck_assert_uint_eq(rn_crc32c(0, buf, 32), 0x62A8AB43u);
    for (int i = 0; i < 32; i++) buf[i] = (unsigned char)i;
    ck_assert_uint_eq(rn_crc32c(0, buf, 32), 0x46DD794Eu);
    for (int i = 0; i < 32; i++) buf[i] = (unsigned char)(31 - i);
    ck_assert_uint_eq(rn_crc32c(0, buf, 32), 0x113FDB5Cu);
}
END_TEST

START_TEST(test_crc32c_empty_input_keeps_crc)
{
    ck_assert_uint_eq(rn_crc32c(0, "", 0), 0);
    ck_assert_uint_eq(rn_crc32c(0xE3069283u, "", 0), 0xE3069283u);
}
END_TEST

START_TEST(test_crc32c_incremental_equals_one_shot)
{
    const char *s = "123456789";
    for (size_t split = 0; split <= 9; split++) {
        uint32_t c = rn_crc32c(0, s, split);
        c = rn_crc32c(c, s + split, 9 - split);
        ck_assert_msg(c == 0xE3069283u, "split at %zu: %08x", split, c);
    }
    enum { N = 5000 };
    unsigned char *buf = malloc(N);
    for (size_t i = 0; i < N; i++) buf[i] = (unsigned char)rnd();
    uint32_t whole = rn_crc32c(0, buf, N);
    for (int round = 0; round < 300; round++) {
        size_t a = rnd() % N, b = rnd() % N;
        if (a > b) { size_t t = a; a = b; b = t; }
        uint32_t c = rn_crc32c(0, buf, a);
        c = rn_crc32c(c, buf + a, b - a);
        c = rn_crc32c(c, buf + b, N - b);
        ck_assert_msg(c == whole, "splits %zu, %zu", a, b);
    }
    /* Byte by byte. */
    uint32_t c = 0;
    for (size_t i = 0; i < N; i++) c = rn_crc32c(c, buf + i, 1);
    ck_assert_uint_eq(c, whole);
    free(buf);
}
END_TEST

START_TEST(test_crc32c_matches_reference_at_every_alignment)
{
    enum { N = 2048 };
    unsigned char *buf = malloc(N + 64);
    for (size_t i = 0; i < N + 64; i++) buf[i] = (unsigned char)rnd();
    for (size_t off = 0; off < 16; off++)
        for (size_t len = 0; len <= 300; len++)
            ck_assert_msg(rn_crc32c(0, buf + off, len) == ref_crc32c(0, buf + off, len),
                          "offset %zu len %zu", off, len);
    for (size_t off = 0; off < 8; off++)
        ck_assert_uint_eq(rn_crc32c(0x12345678u, buf + off, N), ref_crc32c(0x12345678u, buf + off, N));
    free(buf);
}
END_TEST

START_TEST(test_crc32c_large_input)
{
    size_t n = (size_t)4 << 20;
    unsigned char *buf = malloc(n);
    for (size_t i = 0; i < n; i++) buf[i] = (unsigned char)(i * 131 + (i >> 9));
    ck_assert_uint_eq(rn_crc32c(0, buf, n), ref_crc32c(0, buf, n));
    free(buf);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("hash");

    TCase *tc = tcase_create("pinned");
    tcase_add_test(tc, test_hash_i64_is_pinned);
    tcase_add_test(tc, test_hash_bytes_is_pinned);
    tcase_add_test(tc, test_hash_null_constant);
    suite_add_tcase(s, tc);

    tc = tcase_create("hash_i64");
    tcase_add_test(tc, test_hash_i64_is_deterministic);
    tcase_add_test(tc, test_hash_i64_spreads_small_keys);
    tcase_add_test(tc, test_hash_mix64_flips_about_half_the_bits);
    suite_add_tcase(s, tc);

    tc = tcase_create("hash_bytes");
    tcase_add_test(tc, test_hash_bytes_ignores_alignment);
    tcase_add_test(tc, test_hash_bytes_ignores_bytes_after_len);
    tcase_add_test(tc, test_hash_bytes_differs_for_different_inputs);
    tcase_add_test(tc, test_hash_bytes_length_matters);
    tcase_add_test(tc, test_hash_bytes_every_bit_matters);
    tcase_add_test(tc, test_hash_bytes_spreads_over_key_groups);
    suite_add_tcase(s, tc);

    tc = tcase_create("crc32c");
    tcase_add_test(tc, test_crc32c_check_value);
    tcase_add_test(tc, test_crc32c_rfc3720_vectors);
    tcase_add_test(tc, test_crc32c_empty_input_keeps_crc);
    tcase_add_test(tc, test_crc32c_incremental_equals_one_shot);
    tcase_add_test(tc, test_crc32c_matches_reference_at_every_alignment);
    tcase_add_test(tc, test_crc32c_large_input);
    suite_add_tcase(s, tc);

    return s;
}

TU_MAIN(make_suite)
