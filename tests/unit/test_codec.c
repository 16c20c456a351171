/*
 * test_codec.c — Check suite "codec": the binary encoding of batches (rn_batch_encode /
 * rn_batch_decode in runnel/batch.h).
 *
 * Round trips of every type, nulls and sizes; decoding against an expected schema; sizes
 * (*used, the encoded bound, too-small output); and hostile input: every truncation and every
 * single-byte flip of a small encoding must be rejected cleanly or decode to a valid batch, and
 * with the body's CRC32C every flip of a body byte must be rejected. The test finds where the
 * body starts by looking for its CRC32C in the header, so it assumes only the header layout the
 * contract names (magic "RNB1" first, version right after it, a CRC32C of the body). Crash and
 * memory checks need ASan (meson setup -Db_sanitize=address,undefined).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "runnel/batch.h"
#include "runnel/hash.h"
#include "runnel/types.h"

/* ---- helpers ---- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* Encodes b into a fresh malloc'd buffer of exactly the encoded size. */
static unsigned char *encode(const struct rn_batch *b, size_t *len)
{
    size_t bound = rn_batch_encoded_bound(b);
    unsigned char *buf = malloc(bound ? bound : 1);
    size_t written = 0;
    int rc = rn_batch_encode(b, buf, bound, &written);
    ck_assert_msg(rc == 0, "encode: %s", rn_strerror(rc));
    ck_assert_msg(written <= bound, "written %zu > bound %zu", written, bound);
    ck_assert_uint_gt(written, 0);
    *len = written;
    return buf;
}

static void assert_valid(const struct rn_batch *b)
{
    struct rn_error err;
    memset(&err, 0, sizeof err);
    int rc = rn_batch_validate(b, &err);
    ck_assert_msg(rc == 0, "decoded batch does not validate: %s", err.msg);
}

/* Same names, types, row count, nulls and values (bitwise for doubles and floats). Field
 * nullability is not compared: the encoding does not carry it. */
static void assert_same_batch(const struct rn_batch *a, const struct rn_batch *b)
{
    ck_assert_uint_eq(a->n_rows, b->n_rows);
    ck_assert_uint_eq(a->n_cols, b->n_cols);
    ck_assert_uint_eq(rn_schema_len(a->schema), rn_schema_len(b->schema));
    for (uint32_t c = 0; c < a->n_cols; c++) {
        const struct rn_field *fa = rn_schema_field(a->schema, c), *fb = rn_schema_field(b->schema, c);
        ck_assert_str_eq(fa->name, fb->name);
        ck_assert(rn_type_eq(fa->type, fb->type));
        ck_assert(rn_type_eq(a->cols[c].type, b->cols[c].type));
        const struct rn_column *ca = &a->cols[c], *cb = &b->cols[c];
        size_t w = rn_type_width(ca->type);
        for (uint32_t r = 0; r < a->n_rows; r++) {
            bool na = rn_column_is_null(ca, r), nb = rn_column_is_null(cb, r);
            ck_assert_msg(na == nb, "col %u row %u: null %d vs %d", c, r, na, nb);
            if (na) continue;
            switch (ca->type.id) {
            case RN_T_STRING: {
                struct rn_str sa = rn_col_str(ca, r), sb = rn_col_str(cb, r);
                ck_assert_msg(sa.len == sb.len && (sa.len == 0 || memcmp(sa.ptr, sb.ptr, sa.len) == 0),
                              "col %u row %u: string differs", c, r);
                break;
            }
            case RN_T_BOOL:
                ck_assert_msg(rn_col_bool(ca, r) == rn_col_bool(cb, r), "col %u row %u", c, r);
                break;
            default:
                ck_assert_msg(memcmp((const char *)ca->values + r * w, (const char *)cb->values + r * w, w) == 0,
                              "col %u row %u: value differs", c, r);
            }
        }
    }
}

/* Encode, decode without a schema, check size bookkeeping, validity and equality. */
static void assert_round_trip(const struct rn_batch *b)
{
    size_t len;
    unsigned char *buf = encode(b, &len);
    struct rn_batch *d = NULL;
    struct rn_error err;
    size_t used = 0;
    int rc = rn_batch_decode(buf, len, NULL, &d, &used, &err);
    ck_assert_msg(rc == 0, "decode: %s", err.msg);
    ck_assert_ptr_nonnull(d);
    ck_assert_uint_eq(used, len);
    assert_valid(d);
    assert_same_batch(b, d);
    rn_batch_unref(d);
    free(buf);
}

static void assert_decode_corrupt(const void *in, size_t len, const rn_schema *expect, const char *what)
{
    struct rn_batch *d = (struct rn_batch *)1;
    struct rn_error err;
    memset(&err, 0, sizeof err);
    int rc = rn_batch_decode(in, len, expect, &d, NULL, &err);
    ck_assert_msg(rc == RN_ECORRUPT, "%s: decode gave %d, want RN_ECORRUPT", what, rc);
    ck_assert_msg(err.code == RN_ECORRUPT, "%s: err.code %d", what, err.code);
    ck_assert_msg(err.msg[0] != 0, "%s: empty error message", what);
    (void)d;
}

#define ALL_TYPES "b:bool, i:int64, d:double, s:string, t:timestamp, v:vector<5>"

/* n rows of ALL_TYPES; when null_every > 0, row r of column c is null when (r + c) % null_every
 * == 0. Strings vary in length from 0 up to 40 bytes and include UTF-8. */
static struct rn_batch *all_types_batch(uint32_t n, uint32_t null_every)
{
    rn_schema *s = tu_schema(ALL_TYPES);
    rn_builder *bb = rn_builder_create(s, n ? n : 1);
    static const char text[] = "ünïcödé 日本語 🙂 plain ascii tail......";
    for (uint32_t r = 0; r < n; r++) {
        for (uint32_t c = 0; c < 6; c++) {
            int rc;
            if (null_every && (r + c) % null_every == 0) {
                rc = rn_builder_null(bb, c);
            } else switch (c) {
            case 0: rc = rn_builder_bool(bb, c, r % 3 == 1); break;
            case 1: rc = rn_builder_i64(bb, c, (int64_t)(r * 0x9E3779B97F4A7C15ull)); break;
            case 2: rc = rn_builder_f64(bb, c, r * 0.1 - 17); break;
            case 3: rc = rn_builder_str(bb, c, text, r % (sizeof text)); break;
            case 4: rc = rn_builder_ts(bb, c, 1700000000000 + r); break;
            default: {
                float v[5] = {(float)r, -(float)r, 0.5f, 1e-30f, (float)r * 1e20f};
                rc = rn_builder_vec(bb, c, v, 5);
            }
            }
            ck_assert_int_eq(rc, 0);
        }
    }
    struct rn_error err;
    struct rn_batch *b = rn_builder_finish(bb, &err);
    ck_assert_msg(b != NULL, "%s", err.msg);
    rn_builder_destroy(bb);
    rn_schema_unref(s);
    return b;
}

/* ---- round trips ---- */

START_TEST(test_round_trip_every_type)
{
    struct rn_batch *b = all_types_batch(10, 0);
    assert_round_trip(b);
    rn_batch_unref(b);
}
END_TEST

START_TEST(test_round_trip_nulls_in_every_type)
{
    struct rn_batch *b = all_types_batch(130, 3);
    for (uint32_t c = 0; c < 6; c++) ck_assert_uint_gt(rn_column_null_count(&b->cols[c], 130), 0);
    assert_round_trip(b);
    rn_batch_unref(b);
}
END_TEST

START_TEST(test_round_trip_all_null_columns)
{
    struct rn_batch *b = all_types_batch(70, 1);
    assert_round_trip(b);
    rn_batch_unref(b);
}
END_TEST

START_TEST(test_round_trip_zero_rows)
{
    struct rn_batch *b = all_types_batch(0, 0);
    ck_assert_uint_eq(b->n_rows, 0);
    assert_round_trip(b);
    rn_batch_unref(b);
}
END_TEST

START_TEST(test_round_trip_one_row)
{
    struct rn_batch *b = all_types_batch(1, 0);
    assert_round_trip(b);
    rn_batch_unref(b);
    b = all_types_batch(1, 1);
    assert_round_trip(b);
    rn_batch_unref(b);
}
END_TEST

START_TEST(test_round_trip_4096_rows)
{
    struct rn_batch *b = all_types_batch(4096, 11);
    assert_round_trip(b);
    rn_batch_unref(b);
}
END_TEST

START_TEST(test_round_trip_strings)
{
    size_t long_len = 200000;
    char *long_str = malloc(long_len);
    for (size_t i = 0; i < long_len; i++) long_str[i] = (char)(' ' + i % 95);
    rn_schema *s = tu_schema("s:string");
    rn_builder *bb = rn_builder_create(s, 0);
    ck_assert_int_eq(rn_builder_str(bb, 0, "", 0), 0);
    ck_assert_int_eq(rn_builder_str(bb, 0, long_str, long_len), 0);
    ck_assert_int_eq(rn_builder_str(bb, 0, "日本語テキスト", strlen("日本語テキスト")), 0);
    ck_assert_int_eq(rn_builder_str(bb, 0, "emoji 🙂🚀", strlen("emoji 🙂🚀")), 0);
    ck_assert_int_eq(rn_builder_str(bb, 0, "nul\0inside", 10), 0);
    ck_assert_int_eq(rn_builder_null(bb, 0), 0);
    ck_assert_int_eq(rn_builder_str(bb, 0, "", 0), 0);
    struct rn_error err;
    struct rn_batch *b = rn_builder_finish(bb, &err);
    assert_round_trip(b);
    rn_batch_unref(b);
    rn_builder_destroy(bb);
    rn_schema_unref(s);
    free(long_str);
}
END_TEST

START_TEST(test_round_trip_special_doubles)
{
    rn_schema *s = tu_schema("d:double, v:vector<4>");
    struct rn_batch *b = rn_batch_new(s, 6);
    double ds[6] = {NAN, -0.0, INFINITY, -INFINITY, 4.9e-324, 1.7976931348623157e308};
    for (int i = 0; i < 6; i++) {
        ((double *)b->cols[0].values)[i] = ds[i];
        float *v = (float *)b->cols[1].values + i * 4;
        v[0] = (float)ds[i];
        v[1] = -0.0f;
        v[2] = NAN;
        v[3] = 1.4e-45f;
    }
    b->n_rows = 6;
    assert_round_trip(b);
    rn_batch_unref(b);
    rn_schema_unref(s);
}
END_TEST

START_TEST(test_round_trip_many_columns)
{
    char text[4096] = "";
    size_t n = 0;
    for (int i = 0; i < 150; i++)
        n += snprintf(text + n, sizeof text - n, "%sc%d:%s", i ? ", " : "", i,
                      i % 3 == 0 ? "int64" : i % 3 == 1 ? "string" : "bool");
    rn_schema *s = tu_schema(text);
    struct rn_batch *b = rn_batch_new(s, 3);
    b->n_rows = 3;
    for (int i = 0; i < 150; i += 3) ((int64_t *)b->cols[i].values)[1] = i;
    for (int i = 1; i < 150; i += 3) ck_assert_int_eq(rn_batch_set_str(b, i, 2, "x", 1), 0);
    ck_assert_int_eq(rn_batch_set_null(b, 149, 0), 0);
    assert_round_trip(b);
    rn_batch_unref(b);
    rn_schema_unref(s);
}
END_TEST

START_TEST(test_round_trip_slice_at_unaligned_offset)
{
    struct rn_batch *b = all_types_batch(300, 4);
    uint32_t offs[] = {1, 63, 65, 130};
    for (size_t i = 0; i < sizeof offs / sizeof offs[0]; i++) {
        struct rn_batch *sl = rn_batch_slice(b, offs[i], 100);
        ck_assert_ptr_nonnull(sl);
        assert_round_trip(sl);
        rn_batch_unref(sl);
    }
    rn_batch_unref(b);
}
END_TEST

START_TEST(test_round_trip_selected_batch)
{
    struct rn_batch *b = all_types_batch(200, 5);
    uint32_t sel[300];
    for (uint32_t k = 0; k < 300; k++) sel[k] = (k * 37) % 200;
    struct rn_batch *o = rn_batch_select(b, sel, 300);
    ck_assert_ptr_nonnull(o);
    rn_batch_unref(b);
    assert_round_trip(o);
    rn_batch_unref(o);
}
END_TEST

START_TEST(test_decoded_strings_survive_freeing_input)
{
    struct rn_batch *b = all_types_batch(50, 7);
    size_t len;
    unsigned char *buf = encode(b, &len);
    struct rn_batch *d = NULL;
    struct rn_error err;
    ck_assert_int_eq(rn_batch_decode(buf, len, NULL, &d, NULL, &err), 0);
    memset(buf, 0xEE, len);
    free(buf);
    assert_valid(d);
    assert_same_batch(b, d);
    rn_batch_unref(d);
    rn_batch_unref(b);
}
END_TEST

START_TEST(test_decode_unaligned_input)
{
    struct rn_batch *b = all_types_batch(40, 3);
    size_t len;
    unsigned char *buf = encode(b, &len);
    for (size_t shift = 1; shift < 8; shift++) {
        unsigned char *moved = malloc(len + shift);
        memcpy(moved + shift, buf, len);
        struct rn_batch *d = NULL;
        struct rn_error err;
        ck_assert_msg(rn_batch_decode(moved + shift, len, NULL, &d, NULL, &err) == 0, "shift %zu: %s",
                      shift, err.msg);
        free(moved);
        assert_valid(d);
        assert_same_batch(b, d);
        rn_batch_unref(d);
    }
    free(buf);
    rn_batch_unref(b);
}
END_TEST

/* ---- expected schema ---- */

START_TEST(test_decode_with_matching_expect)
{
    struct rn_batch *b = all_types_batch(20, 4);
    size_t len;
    unsigned char *buf = encode(b, &len);
    rn_schema *expect = tu_schema(ALL_TYPES);
    struct rn_batch *d = NULL;
    struct rn_error err;
    size_t used = 0;
    ck_assert_msg(rn_batch_decode(buf, len, expect, &d, &used, &err) == 0, "%s", err.msg);
    ck_assert_ptr_eq(d->schema, expect);
    ck_assert_uint_eq(used, len);
    rn_schema_unref(expect); /* the batch holds its own reference */
    assert_valid(d);
    assert_same_batch(b, d);
    rn_batch_unref(d);
    free(buf);
    rn_batch_unref(b);
}
END_TEST

START_TEST(test_decode_rejects_mismatched_expect)
{
    struct rn_batch *b = all_types_batch(5, 0);
    size_t len;
    unsigned char *buf = encode(b, &len);
    const char *wrong[] = {
        "b:bool, i:int64, d:double, s:string, t:timestamp, w:vector<5>",     /* a name */
        "B:bool, i:int64, d:double, s:string, t:timestamp, v:vector<5>",     /* name case */
        "b:bool, i:double, d:double, s:string, t:timestamp, v:vector<5>",    /* a type */
        "b:bool, i:int64, d:double, s:string, t:int64, v:vector<5>",         /* timestamp/int64 */
        "b:bool, i:int64, d:double, s:string, t:timestamp, v:vector<6>",     /* a dimension */
        "b:bool, i:int64, d:double, s:string, t:timestamp",                  /* fewer columns */
        "b:bool, i:int64, d:double, s:string, t:timestamp, v:vector<5>, x:bool", /* more */
        "i:int64, b:bool, d:double, s:string, t:timestamp, v:vector<5>",     /* order */
    };
    for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
        rn_schema *expect = tu_schema(wrong[i]);
        assert_decode_corrupt(buf, len, expect, wrong[i]);
        rn_schema_unref(expect);
    }
    free(buf);
    rn_batch_unref(b);
}
END_TEST

START_TEST(test_decode_rejects_nulls_for_not_null_expect)
{
    /* The encoding has a null in "i"; a schema that says "i" is never null cannot take it:
     * the decoded batch would not validate. */
    struct rn_batch *b = tu_batch("i:int64, s:string", "1, a; NULL, b");
    size_t len;
    unsigned char *buf = encode(b, &len);
    rn_schema *expect = tu_schema("i:int64 not null, s:string");
    assert_decode_corrupt(buf, len, expect, "null in a not-null field");
    rn_schema_unref(expect);
    free(buf);
    rn_batch_unref(b);
}
END_TEST

/* ---- sizes ---- */

START_TEST(test_decode_used_equals_written_in_a_stream)
{
    struct rn_batch *b1 = all_types_batch(33, 4), *b2 = all_types_batch(7, 0);
    size_t l1, l2;
    unsigned char *e1 = encode(b1, &l1), *e2 = encode(b2, &l2);
    unsigned char *stream = malloc(l1 + l2 + 16);
    memcpy(stream, e1, l1);
    memcpy(stream + l1, e2, l2);
    memset(stream + l1 + l2, 0xA5, 16); /* trailing junk after the last batch */
    struct rn_batch *d = NULL;
    struct rn_error err;
    size_t used = 0;
    ck_assert_msg(rn_batch_decode(stream, l1 + l2 + 16, NULL, &d, &used, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(used, l1);
    assert_same_batch(b1, d);
    rn_batch_unref(d);
    ck_assert_msg(rn_batch_decode(stream + used, l1 + l2 + 16 - used, NULL, &d, &used, &err) == 0,
                  "%s", err.msg);
    ck_assert_uint_eq(used, l2);
    assert_same_batch(b2, d);
    rn_batch_unref(d);
    free(stream);
    free(e1);
    free(e2);
    rn_batch_unref(b1);
    rn_batch_unref(b2);
}
END_TEST

START_TEST(test_encoded_bound_covers_written)
{
    uint32_t sizes[] = {0, 1, 2, 63, 64, 65, 1000, 4096};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        for (uint32_t nulls = 0; nulls < 3; nulls++) {
            struct rn_batch *b = all_types_batch(sizes[i], nulls);
            size_t bound = rn_batch_encoded_bound(b);
            unsigned char *buf = malloc(bound + 64);
            size_t written = 0;
            ck_assert_int_eq(rn_batch_encode(b, buf, bound + 64, &written), 0);
            ck_assert_msg(bound >= written, "rows %u: bound %zu < written %zu", sizes[i], bound, written);
            free(buf);
            rn_batch_unref(b);
        }
    }
}
END_TEST

/* "RN_ERANGE when cap is too small": a cap that holds the whole encoding is not too small,
 * even when it is below rn_batch_encoded_bound (which is only an upper bound). */
static void assert_encodes_into_exact_size(const struct rn_batch *b)
{
    size_t len;
    unsigned char *ref = encode(b, &len);
    unsigned char *exact = malloc(len);
    size_t written = 0;
    int rc = rn_batch_encode(b, exact, len, &written);
    ck_assert_msg(rc == 0, "encode into exactly %zu bytes (bound %zu): %s", len,
                  rn_batch_encoded_bound(b), rn_strerror(rc));
    ck_assert_uint_eq(written, len);
    ck_assert_int_eq(memcmp(exact, ref, len), 0);
    free(exact);
    free(ref);
}

START_TEST(test_encode_into_exact_size_with_nulls)
{
    struct rn_batch *b = all_types_batch(17, 3);
    assert_encodes_into_exact_size(b);
    rn_batch_unref(b);
}
END_TEST

START_TEST(test_encode_into_exact_size_without_nulls)
{
    struct rn_batch *b = all_types_batch(17, 0);
    assert_encodes_into_exact_size(b);
    rn_batch_unref(b);
}
END_TEST

START_TEST(test_encode_too_small_is_erange)
{
    struct rn_batch *b = all_types_batch(17, 3);
    size_t len;
    unsigned char *ref = encode(b, &len);
    size_t caps[] = {0, 1, 4, 8, len / 2, len - 1};
    for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++) {
        /* An exactly sized heap block: ASan flags any write past cap. */
        unsigned char *out = malloc(caps[i] ? caps[i] : 1);
        size_t written = 12345;
        int rc = rn_batch_encode(b, out, caps[i], &written);
        ck_assert_msg(rc == RN_ERANGE, "cap %zu of %zu: rc %d", caps[i], len, rc);
        free(out);
    }
    free(ref);
    rn_batch_unref(b);
}
END_TEST

/* ---- corrupt input ---- */

/* A small encoding with every type, nulls, strings and a vector. */
static unsigned char *small_encoding(size_t *len, struct rn_batch **orig)
{
    struct rn_batch *b = all_types_batch(5, 3);
    unsigned char *buf = encode(b, len);
    if (orig) *orig = b;
    else rn_batch_unref(b);
    return buf;
}

/* The offset where the CRC-covered body starts: the smallest h such that the CRC32C of
 * buf[h..len) is stored little-endian somewhere in buf[0..h). 0 when there is none. */
static size_t body_start(const unsigned char *buf, size_t len)
{
    for (size_t h = 8; h + 1 < len && h <= 128; h++) {
        uint32_t crc = rn_crc32c(0, buf + h, len - h);
        for (size_t o = 0; o + 4 <= h; o++) {
            uint32_t v = (uint32_t)buf[o] | (uint32_t)buf[o + 1] << 8 | (uint32_t)buf[o + 2] << 16 |
                         (uint32_t)buf[o + 3] << 24;
            if (v == crc) return h;
        }
    }
    return 0;
}

START_TEST(test_decode_rejects_every_truncation)
{
    size_t len;
    unsigned char *buf = small_encoding(&len, NULL);
    for (size_t n = 0; n < len; n++) {
        /* An exactly sized copy, so a read past n is an ASan error. */
        unsigned char *cut = malloc(n ? n : 1);
        memcpy(cut, buf, n);
        char what[64];
        snprintf(what, sizeof what, "truncated to %zu of %zu", n, len);
        assert_decode_corrupt(cut, n, NULL, what);
        free(cut);
    }
    free(buf);
}
END_TEST

START_TEST(test_decode_byte_flips_rejected_or_valid)
{
    size_t len;
    struct rn_batch *orig;
    unsigned char *buf = small_encoding(&len, &orig);
    unsigned char *copy = malloc(len);
    const unsigned char masks[] = {0x01, 0x80, 0xFF, 0x10};
    for (size_t i = 0; i < len; i++) {
        for (size_t m = 0; m < sizeof masks; m++) {
            memcpy(copy, buf, len);
            copy[i] ^= masks[m];
            struct rn_batch *d = NULL;
            struct rn_error err;
            memset(&err, 0, sizeof err);
            int rc = rn_batch_decode(copy, len, NULL, &d, NULL, &err);
            if (rc == 0) {
                struct rn_error verr;
                ck_assert_msg(rn_batch_validate(d, &verr) == 0,
                              "flip of byte %zu by %02x decoded to an invalid batch: %s", i,
                              masks[m], verr.msg);
                rn_batch_unref(d);
            } else {
                ck_assert_msg(rc == RN_ECORRUPT, "byte %zu: rc %d", i, rc);
                ck_assert_msg(err.msg[0] != 0, "byte %zu: no message", i);
            }
        }
    }
    free(copy);
    free(buf);
    rn_batch_unref(orig);
}
END_TEST

START_TEST(test_decode_rejects_every_body_byte_flip)
{
    size_t len;
    unsigned char *buf = small_encoding(&len, NULL);
    size_t h = body_start(buf, len);
    ck_assert_msg(h > 0, "no CRC32C of a body suffix found in the first bytes of the encoding");
    unsigned char *copy = malloc(len);
    for (size_t i = h; i < len; i++) {
        for (int bit = 0; bit < 8; bit++) {
            memcpy(copy, buf, len);
            copy[i] ^= (unsigned char)(1u << bit);
            char what[64];
            snprintf(what, sizeof what, "body byte %zu bit %d", i, bit);
            assert_decode_corrupt(copy, len, NULL, what);
        }
    }
    free(copy);
    free(buf);
}
END_TEST

START_TEST(test_decode_rejects_crc_flip)
{
    size_t len;
    unsigned char *buf = small_encoding(&len, NULL);
    size_t h = body_start(buf, len);
    ck_assert_uint_gt(h, 0);
    uint32_t crc = rn_crc32c(0, buf + h, len - h);
    for (size_t o = 0; o + 4 <= h; o++) {
        uint32_t v = (uint32_t)buf[o] | (uint32_t)buf[o + 1] << 8 | (uint32_t)buf[o + 2] << 16 |
                     (uint32_t)buf[o + 3] << 24;
        if (v != crc) continue;
        buf[o] ^= 1;
        assert_decode_corrupt(buf, len, NULL, "CRC flipped");
        buf[o] ^= 1;
    }
    free(buf);
}
END_TEST

START_TEST(test_no_checksum_round_trips_and_is_flagged)
{
    struct rn_batch *b = all_types_batch(64, 5);
    size_t cap = rn_batch_encoded_bound(b), len = 0, used = 0;
    unsigned char *buf = malloc(cap), *with = encode(b, &used);
    ck_assert_ptr_nonnull(buf);
    ck_assert_int_eq(rn_batch_encode_flags(b, buf, cap, RN_BATCH_ENC_NO_CHECKSUM, &len), 0);
    /* the same bytes as with a checksum but for the flag and the CRC field */
    ck_assert_uint_eq(len, used);
    ck_assert_int_eq(memcmp(buf + 32, with + 32, len - 32), 0);
    ck_assert_uint_eq(buf[6] | buf[7] << 8, RN_BATCH_ENC_NO_CHECKSUM);
    ck_assert_uint_eq((uint32_t)buf[24] | (uint32_t)buf[25] << 8 | (uint32_t)buf[26] << 16 | (uint32_t)buf[27] << 24, 0);
    struct rn_batch *d = NULL;
    struct rn_error err;
    ck_assert_msg(rn_batch_decode(buf, len, NULL, &d, &used, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(used, len);
    assert_same_batch(b, d);
    rn_batch_unref(d);
    /* unknown flags are refused on both sides; a CRC beside the flag is corrupt */
    ck_assert_int_eq(rn_batch_encode_flags(b, buf, cap, 2, &len), RN_EINVAL);
    ck_assert_int_eq(rn_batch_encode_flags(b, buf, cap, RN_BATCH_ENC_NO_CHECKSUM, &len), 0);
    buf[6] |= 2;
    assert_decode_corrupt(buf, len, NULL, "unknown flag");
    buf[6] &= (unsigned char)~2;
    buf[24] = 1;
    assert_decode_corrupt(buf, len, NULL, "a CRC with the no-checksum flag");
    free(buf);
    free(with);
    rn_batch_unref(b);
}
END_TEST

/* Without a checksum, damage is still caught by the structure checks or decodes to a valid
 * batch; it never crashes. */
START_TEST(test_no_checksum_truncations_are_rejected)
{
    struct rn_batch *b = all_types_batch(9, 2);
    size_t cap = rn_batch_encoded_bound(b), len = 0;
    unsigned char *buf = malloc(cap);
    ck_assert_ptr_nonnull(buf);
    ck_assert_int_eq(rn_batch_encode_flags(b, buf, cap, RN_BATCH_ENC_NO_CHECKSUM, &len), 0);
    for (size_t cut = 0; cut < len; cut++) assert_decode_corrupt(buf, cut, NULL, "truncated, no checksum");
    free(buf);
    rn_batch_unref(b);
}
END_TEST

START_TEST(test_decode_rejects_bad_magic)
{
    size_t len;
    unsigned char *buf = small_encoding(&len, NULL);
    ck_assert_int_eq(memcmp(buf, "RNB1", 4), 0);
    for (int i = 0; i < 4; i++) {
        unsigned char saved = buf[i];
        buf[i] = 'X';
        assert_decode_corrupt(buf, len, NULL, "bad magic");
        buf[i] = saved;
    }
    free(buf);
}
END_TEST

START_TEST(test_decode_rejects_bad_version)
{
    size_t len;
    unsigned char *buf = small_encoding(&len, NULL);
    /* The version follows the magic; bumping its low byte makes it a version from the future
     * (little-endian, whatever its width). */
    buf[4] += 1;
    assert_decode_corrupt(buf, len, NULL, "version + 1");
    buf[4] = 0xFF;
    assert_decode_corrupt(buf, len, NULL, "version 0xFF");
    free(buf);
}
END_TEST

START_TEST(test_decode_rejects_empty_and_garbage)
{
    assert_decode_corrupt("", 0, NULL, "empty input");
    assert_decode_corrupt("RNB1", 4, NULL, "magic only");
    unsigned char junk[512];
    for (int round = 0; round < 2000; round++) {
        size_t n = rnd() % sizeof junk;
        for (size_t i = 0; i < n; i++) junk[i] = (unsigned char)rnd();
        if (round % 2 && n >= 4) memcpy(junk, "RNB1", 4);
        struct rn_batch *d = NULL;
        struct rn_error err;
        int rc = rn_batch_decode(junk, n, NULL, &d, NULL, &err);
        if (rc == 0) {
            assert_valid(d);
            rn_batch_unref(d);
        } else {
            ck_assert_int_eq(rc, RN_ECORRUPT);
        }
    }
}
END_TEST

START_TEST(test_decode_rejects_random_multi_byte_damage)
{
    size_t len;
    unsigned char *buf = small_encoding(&len, NULL);
    unsigned char *copy = malloc(len);
    for (int round = 0; round < 5000; round++) {
        memcpy(copy, buf, len);
        int n = 1 + (int)(rnd() % 4);
        for (int k = 0; k < n; k++) copy[rnd() % len] = (unsigned char)rnd();
        size_t cut = round % 3 ? len : rnd() % (len + 1);
        struct rn_batch *d = NULL;
        struct rn_error err;
        int rc = rn_batch_decode(copy, cut, NULL, &d, NULL, &err);
        if (rc == 0) {
            assert_valid(d);
            rn_batch_unref(d);
        } else {
            ck_assert_int_eq(rc, RN_ECORRUPT);
        }
    }
    free(copy);
    free(buf);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("codec");

    TCase *tc = tcase_create("round_trip");
    tcase_add_test(tc, test_round_trip_every_type);
    tcase_add_test(tc, test_round_trip_nulls_in_every_type);
    tcase_add_test(tc, test_round_trip_all_null_columns);
    tcase_add_test(tc, test_round_trip_zero_rows);
    tcase_add_test(tc, test_round_trip_one_row);
    tcase_add_test(tc, test_round_trip_4096_rows);
    tcase_add_test(tc, test_round_trip_strings);
    tcase_add_test(tc, test_round_trip_special_doubles);
    tcase_add_test(tc, test_round_trip_many_columns);
    tcase_add_test(tc, test_round_trip_slice_at_unaligned_offset);
    tcase_add_test(tc, test_round_trip_selected_batch);
    tcase_add_test(tc, test_decoded_strings_survive_freeing_input);
    tcase_add_test(tc, test_decode_unaligned_input);
    suite_add_tcase(s, tc);

    tc = tcase_create("expect");
    tcase_add_test(tc, test_decode_with_matching_expect);
    tcase_add_test(tc, test_decode_rejects_mismatched_expect);
    tcase_add_test(tc, test_decode_rejects_nulls_for_not_null_expect);
    suite_add_tcase(s, tc);

    tc = tcase_create("sizes");
    tcase_add_test(tc, test_decode_used_equals_written_in_a_stream);
    tcase_add_test(tc, test_encoded_bound_covers_written);
    tcase_add_test(tc, test_encode_into_exact_size_with_nulls);
    tcase_add_test(tc, test_encode_into_exact_size_without_nulls);
    tcase_add_test(tc, test_encode_too_small_is_erange);
    suite_add_tcase(s, tc);

    tc = tcase_create("corrupt");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_decode_rejects_every_truncation);
    tcase_add_test(tc, test_decode_byte_flips_rejected_or_valid);
    tcase_add_test(tc, test_decode_rejects_every_body_byte_flip);
    tcase_add_test(tc, test_decode_rejects_crc_flip);
    tcase_add_test(tc, test_no_checksum_round_trips_and_is_flagged);
    tcase_add_test(tc, test_no_checksum_truncations_are_rejected);
    tcase_add_test(tc, test_decode_rejects_bad_magic);
    tcase_add_test(tc, test_decode_rejects_bad_version);
    tcase_add_test(tc, test_decode_rejects_empty_and_garbage);
    tcase_add_test(tc, test_decode_rejects_random_multi_byte_damage);
    suite_add_tcase(s, tc);

    return s;
}

TU_MAIN(make_suite)
