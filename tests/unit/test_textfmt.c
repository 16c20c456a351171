/*
 * test_textfmt.c — Check suite "textfmt": the JSON lines and CSV row formats
 * (operators/formats/textfmt.h).
 *
 * Decoding of every type from both formats, nulls and missing values, JSON escapes and
 * Unicode, number ranges, ignored and duplicate keys, CSV headers, quoting and delimiters;
 * every class of malformed input rejected at the right byte position with nothing appended
 * (checked by the builder's row count and by finishing the batch, which fails when the columns
 * are uneven); and encode -> decode round trips of every type in both formats. Memory checks
 * need ASan (meson setup -Db_sanitize=address,undefined).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "runnel/batch.h"
#include "runnel/types.h"
#include "textfmt.h"

#define ALL "a:int64, b:double, s:string, t:timestamp, f:bool, v:vector<3>"

/* ---- helpers ---- */

/* A decoder and a builder of one schema, and the number of lines accepted so far. */
struct fx {
    rn_schema *s;
    rn_text_decoder *d;
    rn_builder *bb;
    uint32_t good;
    enum rn_text_format f;
    struct rn_batch *b; /* the finished batch, once fx_finish ran */
};

static struct fx fx_new(enum rn_text_format f, const char *schema, char delim)
{
    struct fx x = {0};
    x.f = f;
    x.s = tu_schema(schema);
    x.d = rn_text_decoder_create(f, x.s, delim);
    ck_assert(x.d != NULL);
    x.bb = rn_builder_create(x.s, 0);
    ck_assert(x.bb != NULL);
    return x;
}

static struct fx json(const char *schema) { return fx_new(RN_FMT_JSONL, schema, 0); }

static void fx_free(struct fx *x)
{
    rn_batch_unref(x->b);
    rn_builder_destroy(x->bb);
    rn_text_decoder_destroy(x->d);
    rn_schema_unref(x->s);
}

static void header(struct fx *x, const char *line)
{
    struct rn_error err = {0};
    int rc = rn_text_decoder_header(x->d, line, strlen(line), &err);
    ck_assert_msg(rc == 0, "header '%s': %s (%s)", line, rn_strerror(rc), err.msg);
}

static struct fx csv(const char *schema, const char *hdr, char delim)
{
    struct fx x = fx_new(RN_FMT_CSV, schema, delim);
    header(&x, hdr);
    return x;
}

static void ok_n(struct fx *x, const char *line, size_t len)
{
    struct rn_error err = {0};
    int rc = rn_text_decode_line(x->d, line, len, x->bb, &err);
    ck_assert_msg(rc == 0, "line '%.*s': %s at %d: %s", (int)len, line, rn_strerror(rc), err.column, err.msg);
    x->good++;
    ck_assert_uint_eq(rn_builder_rows(x->bb), x->good);
}

static void ok(struct fx *x, const char *line) { ok_n(x, line, strlen(line)); }

/* The line is rejected with RN_EINVAL at 1-based position pos (0: not checked), with a message
 * holding want, and the builder holds no more rows than before. */
static void bad_n(struct fx *x, const char *line, size_t len, int pos, const char *want)
{
    struct rn_error err = {0};
    int rc = rn_text_decode_line(x->d, line, len, x->bb, &err);
    ck_assert_msg(rc == RN_EINVAL, "line '%.*s' gave %s, want RN_EINVAL", (int)len, line, rn_strerror(rc));
    ck_assert_msg(strstr(err.msg, want) != NULL, "line '%.*s': message '%s' lacks '%s'", (int)len, line, err.msg,
                  want);
    if (pos) ck_assert_msg(err.column == pos, "line '%.*s': error at %d, want %d (%s)", (int)len, line, err.column,
                           pos, err.msg);
    ck_assert_uint_eq(rn_builder_rows(x->bb), x->good);
}

static void bad(struct fx *x, const char *line, int pos, const char *want) { bad_n(x, line, strlen(line), pos, want); }

/* Finishes the batch: it must hold exactly the accepted rows and validate. */
static const struct rn_batch *fx_finish(struct fx *x)
{
    struct rn_error err = {0};
    x->b = rn_builder_finish(x->bb, &err);
    ck_assert_msg(x->b != NULL, "finish: %s", err.msg);
    ck_assert_uint_eq(x->b->n_rows, x->good);
    ck_assert_msg(rn_batch_validate(x->b, &err) == 0, "validate: %s", err.msg);
    return x->b;
}

static const struct rn_column *col(struct fx *x, const char *name)
{
    int i = rn_schema_find(x->s, name);
    ck_assert_msg(i >= 0, "no column %s", name);
    return &x->b->cols[i];
}

static void assert_str(const struct rn_column *c, uint32_t row, const char *want, size_t n)
{
    ck_assert(!rn_column_is_null(c, row));
    struct rn_str v = rn_col_str(c, row);
    ck_assert_msg(v.len == n && (n == 0 || memcmp(v.ptr, want, n) == 0), "row %u: '%.*s' (len %u), want '%.*s'",
                  row, (int)v.len, v.ptr ? v.ptr : "", v.len, (int)n, want);
}
#define ASSERT_STR(c, row, lit) assert_str(c, row, lit, sizeof(lit) - 1)

static void assert_null(const struct rn_column *c, uint32_t row)
{
    ck_assert_msg(rn_column_is_null(c, row), "row %u is not null", row);
}

static void assert_vec(const struct rn_column *c, uint32_t row, float x, float y, float z)
{
    ck_assert(!rn_column_is_null(c, row));
    const float *v = rn_col_vec(c, row);
    ck_assert_msg(v[0] == x && v[1] == y && v[2] == z, "row %u: [%g,%g,%g]", row, v[0], v[1], v[2]);
}

static void assert_vec_2(const struct rn_column *c, uint32_t row, float x, float y)
{
    ck_assert(!rn_column_is_null(c, row));
    const float *v = rn_col_vec(c, row);
    ck_assert_msg(v[0] == x && v[1] == y, "row %u: [%.9g,%.9g]", row, v[0], v[1]);
}

/* Same row count, nulls and values (doubles and floats bitwise, NaN equal to NaN). */
static void assert_same_batch(const struct rn_batch *a, const struct rn_batch *b)
{
    ck_assert_uint_eq(a->n_rows, b->n_rows);
    ck_assert_uint_eq(a->n_cols, b->n_cols);
    for (uint32_t c = 0; c < a->n_cols; c++) {
        const struct rn_column *ca = &a->cols[c], *cb = &b->cols[c];
        for (uint32_t r = 0; r < a->n_rows; r++) {
            bool na = rn_column_is_null(ca, r);
            ck_assert_msg(na == rn_column_is_null(cb, r), "column %u row %u: null differs", c, r);
            if (na) continue;
            switch (ca->type.id) {
            case RN_T_BOOL: ck_assert_int_eq(rn_col_bool(ca, r), rn_col_bool(cb, r)); break;
            case RN_T_INT64:
            case RN_T_TIMESTAMP: ck_assert_int_eq(rn_col_i64(ca, r), rn_col_i64(cb, r)); break;
            case RN_T_DOUBLE: {
                double x = rn_col_f64(ca, r), y = rn_col_f64(cb, r);
                ck_assert_msg((isnan(x) && isnan(y)) || memcmp(&x, &y, sizeof x) == 0,
                              "column %u row %u: %.17g vs %.17g", c, r, x, y);
                break;
            }
            case RN_T_STRING: {
                struct rn_str x = rn_col_str(ca, r), y = rn_col_str(cb, r);
                ck_assert_msg(x.len == y.len && (x.len == 0 || memcmp(x.ptr, y.ptr, x.len) == 0),
                              "column %u row %u: '%.*s' vs '%.*s'", c, r, (int)x.len, x.ptr, (int)y.len, y.ptr);
                break;
            }
            case RN_T_VECTOR: {
                const float *x = rn_col_vec(ca, r), *y = rn_col_vec(cb, r);
                for (uint32_t k = 0; k < ca->type.dim; k++)
                    ck_assert_msg((isnan(x[k]) && isnan(y[k])) || memcmp(&x[k], &y[k], sizeof(float)) == 0,
                                  "column %u row %u element %u: %g vs %g", c, r, k, x[k], y[k]);
                break;
            }
            default: ck_abort_msg("unexpected type");
            }
        }
    }
}

/* Encodes every row of b in format f (with a header for CSV), decodes the lines with a fresh
 * decoder and checks the result equals b. Returns the text (caller frees). */
static char *round_trip(enum rn_text_format f, char delim, const struct rn_batch *b)
{
    struct rn_text_buf out = {0};
    ck_assert_int_eq(rn_text_encode_header(f, delim, b->schema, &out), 0);
    size_t body = out.len;
    for (uint32_t r = 0; r < b->n_rows; r++) ck_assert_int_eq(rn_text_encode_row(f, delim, b, r, &out), 0);
    struct fx x = {0};
    x.f = f;
    x.s = rn_schema_ref(b->schema);
    x.d = rn_text_decoder_create(f, x.s, delim);
    x.bb = rn_builder_create(x.s, 0);
    ck_assert(x.d && x.bb);
    if (f == RN_FMT_CSV) {
        ck_assert_uint_gt(body, 0);
        struct rn_error err = {0};
        ck_assert_msg(rn_text_decoder_header(x.d, out.data, body - 1, &err) == 0, "header: %s", err.msg);
    } else {
        ck_assert_uint_eq(body, 0);
    }
    size_t at = body;
    while (at < out.len) {
        char *nl = memchr(out.data + at, '\n', out.len - at);
        ck_assert_msg(nl != NULL, "encoded row without a newline");
        ok_n(&x, out.data + at, (size_t)(nl - (out.data + at)));
        at = (size_t)(nl - out.data) + 1;
    }
    assert_same_batch(b, fx_finish(&x));
    fx_free(&x);
    char *text = malloc(out.len + 1);
    memcpy(text, out.data, out.len);
    text[out.len] = 0;
    rn_text_buf_free(&out);
    return text;
}

/* A batch of ALL with rows exercising every type, nulls and awkward strings. */
static struct rn_batch *all_types_batch(void)
{
    rn_schema *s = tu_schema(ALL);
    rn_builder *bb = rn_builder_create(s, 0);
    static const char *strs[] = {
        "plain", "with \"quotes\"", "comma, separated", "semi;colon", "",
        "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", " padded ", "back\\slash", "tab\there", "\x01\x1f ctl",
    };
    static const double dbls[] = {0.0, -0.0, 1.5, -2.25e-300, 1e300, 0.1, 123456789012345678.0, 5e-324, -1.0, 3.0};
    static const int64_t ints[] = {0, -1, 1, INT64_MAX, INT64_MIN, 42, -42, 1000000, 9007199254740993, 7};
    for (int r = 0; r < 10; r++) {
        ck_assert_int_eq(r == 9 ? rn_builder_null(bb, 0) : rn_builder_i64(bb, 0, ints[r]), 0);
        ck_assert_int_eq(r == 8 ? rn_builder_null(bb, 1) : rn_builder_f64(bb, 1, dbls[r]), 0);
        ck_assert_int_eq(r == 7 ? rn_builder_null(bb, 2) : rn_builder_str(bb, 2, strs[r], strlen(strs[r])), 0);
        ck_assert_int_eq(r == 6 ? rn_builder_null(bb, 3) : rn_builder_ts(bb, 3, 1700000000123 - r * 86400000123LL), 0);
        ck_assert_int_eq(r == 5 ? rn_builder_null(bb, 4) : rn_builder_bool(bb, 4, r & 1), 0);
        float v[3] = {(float)r * 0.1f, -1e-3f * (float)r, 3.4e38f};
        ck_assert_int_eq(r == 4 ? rn_builder_null(bb, 5) : rn_builder_vec(bb, 5, v, 3), 0);
    }
    struct rn_error err;
    struct rn_batch *b = rn_builder_finish(bb, &err);
    ck_assert(b != NULL);
    rn_builder_destroy(bb);
    rn_schema_unref(s);
    return b;
}

/* ---- JSON: types ---- */

START_TEST(test_json_int64_values)
{
    struct fx x = json(ALL);
    ok(&x, "{\"a\": 0}");
    ok(&x, "{\"a\": -17}");
    ok(&x, "{\"a\":123456789}");
    ok(&x, "{\"a\": -0}");
    fx_finish(&x);
    const struct rn_column *a = col(&x, "a");
    ck_assert_int_eq(rn_col_i64(a, 0), 0);
    ck_assert_int_eq(rn_col_i64(a, 1), -17);
    ck_assert_int_eq(rn_col_i64(a, 2), 123456789);
    ck_assert_int_eq(rn_col_i64(a, 3), 0);
    fx_free(&x);
}
END_TEST

START_TEST(test_json_int64_extremes)
{
    struct fx x = json(ALL);
    ok(&x, "{\"a\": 9223372036854775807}");
    ok(&x, "{\"a\": -9223372036854775808}");
    fx_finish(&x);
    ck_assert_int_eq(rn_col_i64(col(&x, "a"), 0), INT64_MAX);
    ck_assert_int_eq(rn_col_i64(col(&x, "a"), 1), INT64_MIN);
    fx_free(&x);
}
END_TEST

START_TEST(test_json_int64_overflow_rejected)
{
    struct fx x = json(ALL);
    bad(&x, "{\"a\": 9223372036854775808}", 7, "column 'a': integer out of range");
    bad(&x, "{\"a\": -9223372036854775809}", 7, "integer out of range");
    bad(&x, "{\"a\": 123456789012345678901234}", 7, "integer out of range");
    fx_finish(&x);
    fx_free(&x);
}
END_TEST

START_TEST(test_json_int64_rejects_fraction_exponent_and_strings)
{
    struct fx x = json(ALL);
    bad(&x, "{\"a\": 1.5}", 7, "column 'a': expected an integer, found 1.5");
    bad(&x, "{\"a\": 1e3}", 7, "expected an integer, found 1e3");
    bad(&x, "{\"a\":\"abc\"}", 6, "column 'a': expected an integer, found \"abc\"");
    bad(&x, "{\"a\":true}", 6, "expected an integer, found true");
    fx_finish(&x);
    fx_free(&x);
}
END_TEST

START_TEST(test_json_double_values)
{
    struct fx x = json(ALL);
    const char *lines[] = {"{\"b\":1.5}", "{\"b\":-0.25}", "{\"b\":1e10}", "{\"b\":1E-3}", "{\"b\":2.5e+2}",
                           "{\"b\":42}", "{\"b\":0.1234567890123456789}", "{\"b\":1.7976931348623157e308}",
                           "{\"b\":5e-324}", "{\"b\":-0}", "{\"b\":1e-400}", "{\"b\":123456789012345678901234567890}"};
    const double want[] = {1.5, -0.25, 1e10, 1e-3, 250.0, 42.0, 0.1234567890123456789, 1.7976931348623157e308,
                           5e-324, -0.0, 0.0, 123456789012345678901234567890.0};
    for (size_t i = 0; i < sizeof lines / sizeof *lines; i++) ok(&x, lines[i]);
    fx_finish(&x);
    const struct rn_column *b = col(&x, "b");
    for (uint32_t i = 0; i < sizeof want / sizeof *want; i++) {
        double got = rn_col_f64(b, i);
        ck_assert_msg(memcmp(&got, &want[i], sizeof got) == 0, "%s: %.17g, want %.17g", lines[i], got, want[i]);
    }
    fx_free(&x);
}
END_TEST

START_TEST(test_json_double_overflow_rejected)
{
    struct fx x = json(ALL);
    bad(&x, "{\"b\":1e400}", 6, "column 'b': number out of range");
    bad(&x, "{\"b\":-1e309}", 6, "number out of range");
    fx_finish(&x);
    fx_free(&x);
}
END_TEST

START_TEST(test_json_bool_values)
{
    struct fx x = json(ALL);
    ok(&x, "{\"f\":true}");
    ok(&x, "{\"f\":false}");
    bad(&x, "{\"f\":1}", 6, "column 'f': expected true or false, found 1");
    bad(&x, "{\"f\":truex}", 6, "expected true or false");
    bad(&x, "{\"f\":\"true\"}", 6, "expected true or false");
    fx_finish(&x);
    ck_assert(rn_col_bool(col(&x, "f"), 0));
    ck_assert(!rn_col_bool(col(&x, "f"), 1));
    fx_free(&x);
}
END_TEST

START_TEST(test_json_string_plain_and_empty)
{
    struct fx x = json(ALL);
    ok(&x, "{\"s\":\"hello world\"}");
    ok(&x, "{\"s\":\"\"}");
    bad(&x, "{\"s\":12}", 6, "column 's': expected a string, found 12");
    fx_finish(&x);
    ASSERT_STR(col(&x, "s"), 0, "hello world");
    ASSERT_STR(col(&x, "s"), 1, "");
    fx_free(&x);
}
END_TEST

START_TEST(test_json_string_simple_escapes)
{
    struct fx x = json(ALL);
    ok(&x, "{\"s\":\"a\\nb\\\"c\\\\d\\/e\\tf\\rg\\bh\\fi\"}");
    fx_finish(&x);
    ASSERT_STR(col(&x, "s"), 0, "a\nb\"c\\d/e\tf\rg\bh\fi");
    fx_free(&x);
}
END_TEST

START_TEST(test_json_string_unicode_escapes)
{
    struct fx x = json(ALL);
    ok(&x, "{\"s\":\"caf\\u00e9\"}");
    ok(&x, "{\"s\":\"\\u20AC \\u0041\"}");
    ok(&x, "{\"s\":\"nul\\u0000byte\"}");
    fx_finish(&x);
    ASSERT_STR(col(&x, "s"), 0, "caf\xc3\xa9");
    ASSERT_STR(col(&x, "s"), 1, "\xe2\x82\xac A");
    ASSERT_STR(col(&x, "s"), 2, "nul\0byte");
    fx_free(&x);
}
END_TEST

START_TEST(test_json_string_surrogate_pair_to_four_bytes)
{
    struct fx x = json(ALL);
    ok(&x, "{\"s\":\"\\ud83d\\ude00!\"}");
    fx_finish(&x);
    ASSERT_STR(col(&x, "s"), 0, "\xf0\x9f\x98\x80!");
    fx_free(&x);
}
END_TEST

START_TEST(test_json_string_lone_surrogates_rejected)
{
    struct fx x = json(ALL);
    bad(&x, "{\"s\":\"a\\ud83d\"}", 8, "column 's': invalid \\u escape: high surrogate");
    bad(&x, "{\"s\":\"a\\ud83dxyz\"}", 8, "high surrogate");
    bad(&x, "{\"s\":\"a\\ud83d\\u0041\"}", 8, "high surrogate");
    bad(&x, "{\"s\":\"\\ude00\"}", 7, "lone low surrogate");
    fx_finish(&x);
    fx_free(&x);
}
END_TEST

START_TEST(test_json_string_bad_escapes_rejected)
{
    struct fx x = json(ALL);
    bad(&x, "{\"s\":\"a\\qb\"}", 8, "column 's': invalid escape \\q");
    bad(&x, "{\"s\":\"a\\u12\"}", 8, "invalid \\u escape");
    bad(&x, "{\"s\":\"a\\u12g4\"}", 8, "invalid \\u escape");
    bad(&x, "{\"s\":\"a\\x41\"}", 8, "invalid escape");
    fx_finish(&x);
    fx_free(&x);
}
END_TEST

START_TEST(test_json_string_utf8_kept_and_invalid_rejected)
{
    struct fx x = json(ALL);
    ok(&x, "{\"s\":\"\xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80\"}");
    bad(&x, "{\"s\":\"ab\xff\"}", 9, "column 's': invalid UTF-8");
    bad(&x, "{\"s\":\"\xc0\xaf\"}", 7, "invalid UTF-8");         /* overlong */
    bad(&x, "{\"s\":\"\xed\xa0\x80\"}", 7, "invalid UTF-8");     /* encoded surrogate */
    bad(&x, "{\"s\":\"x\xe6\x97\"}", 8, "invalid UTF-8");        /* truncated */
    bad(&x, "{\"zz\":\"\xf5\x80\x80\x80\"}", 8, "invalid UTF-8"); /* under an ignored key too */
    fx_finish(&x);
    ASSERT_STR(col(&x, "s"), 0, "\xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80");
    fx_free(&x);
}
END_TEST

START_TEST(test_json_string_control_character_rejected)
{
    struct fx x = json(ALL);
    bad(&x, "{\"s\":\"ab\tc\"}", 9, "column 's': control character 0x09");
    bad_n(&x, "{\"s\":\"a\0\"}", 10, 8, "control character 0x00");
    fx_finish(&x);
    fx_free(&x);
}
END_TEST

START_TEST(test_json_timestamp_integer)
{
    struct fx x = json(ALL);
    ok(&x, "{\"t\":1700000000123}");
    ok(&x, "{\"t\":-5}");
    ok(&x, "{\"t\":\"1700000000123\"}");
    bad(&x, "{\"t\":1.5}", 6, "column 't': expected a timestamp");
    bad(&x, "{\"t\":99999999999999999999}", 6, "timestamp out of range");
    fx_finish(&x);
    ck_assert_int_eq(rn_col_i64(col(&x, "t"), 0), 1700000000123);
    ck_assert_int_eq(rn_col_i64(col(&x, "t"), 1), -5);
    ck_assert_int_eq(rn_col_i64(col(&x, "t"), 2), 1700000000123);
    fx_free(&x);
}
END_TEST

START_TEST(test_json_timestamp_iso_strings)
{
    struct fx x = json(ALL);
    ok(&x, "{\"t\":\"2023-11-14T22:13:20Z\"}");
    ok(&x, "{\"t\":\"2023-11-14T22:13:20.123Z\"}");
    ok(&x, "{\"t\":\"2023-11-14 23:13:20+01:00\"}");
    ok(&x, "{\"t\":\"1970-01-01T00:00\"}");
    bad(&x, "{\"t\":\"yesterday\"}", 6, "column 't': expected a timestamp (integer ms or an ISO-8601 string), found \"yesterday\"");
    bad(&x, "{\"t\":\"2023-13-01T00:00Z\"}", 6, "expected a timestamp");
    bad(&x, "{\"t\":true}", 6, "expected a timestamp");
    fx_finish(&x);
    const struct rn_column *t = col(&x, "t");
    ck_assert_int_eq(rn_col_i64(t, 0), 1700000000000);
    ck_assert_int_eq(rn_col_i64(t, 1), 1700000000123);
    ck_assert_int_eq(rn_col_i64(t, 2), 1700000000000);
    ck_assert_int_eq(rn_col_i64(t, 3), 0);
    fx_free(&x);
}
END_TEST

START_TEST(test_json_vector_values)
{
    struct fx x = json(ALL);
    ok(&x, "{\"v\":[1,2.5,-3e-2]}");
    ok(&x, "{\"v\": [ 0 , 0.1 , 1e10 ] }");
    fx_finish(&x);
    assert_vec(col(&x, "v"), 0, 1.0f, 2.5f, -3e-2f);
    assert_vec(col(&x, "v"), 1, 0.0f, 0.1f, 1e10f);
    fx_free(&x);
}
END_TEST

START_TEST(test_json_vector_malformed_rejected)
{
    struct fx x = json(ALL);
    bad(&x, "{\"v\":[1,2]}", 6, "column 'v': expected a vector of 3 numbers, found 2");
    bad(&x, "{\"v\":[1,2,3,4]}", 6, "expected a vector of 3 numbers, found 4");
    bad(&x, "{\"v\":[]}", 6, "found 0");
    bad(&x, "{\"v\":[1,\"2\",3]}", 9, "vector element 2: expected a number");
    bad(&x, "{\"v\":[1,null,3]}", 9, "vector element 2: expected a number");
    bad(&x, "{\"v\":[1,2,1e39]}", 11, "vector element 3: out of range for float32");
    bad(&x, "{\"v\":[1,2 3]}", 11, "expected ',' or ']'");
    bad(&x, "{\"v\":[1,2,3}", 12, "expected ',' or ']'");
    bad(&x, "{\"v\":5}", 6, "expected an array of numbers");
    fx_finish(&x);
    fx_free(&x);
}
END_TEST

START_TEST(test_json_nulls_and_missing_keys)
{
    struct fx x = json(ALL);
    ok(&x, "{\"a\":null,\"b\":null,\"s\":null,\"t\":null,\"f\":null,\"v\":null}");
    ok(&x, "{}");
    ok(&x, "{\"s\":\"only\"}");
    fx_finish(&x);
    for (uint32_t c = 0; c < 6; c++) {
        assert_null(&x.b->cols[c], 0);
        assert_null(&x.b->cols[c], 1);
    }
    assert_null(col(&x, "a"), 2);
    ASSERT_STR(col(&x, "s"), 2, "only");
    fx_free(&x);
}
END_TEST

START_TEST(test_json_null_into_not_null_rejected)
{
    struct fx x = json("id:int64 not null, name:string");
    ok(&x, "{\"id\":1}");
    bad(&x, "{\"id\":null, \"name\":\"x\"}", 7, "column 'id': null in a not-null column");
    bad(&x, "{\"name\":\"x\"}", 12, "column 'id': missing value for a not-null column");
    fx_finish(&x);
    fx_free(&x);
}
END_TEST

START_TEST(test_json_ignored_keys_with_nested_values)
{
    struct fx x = json(ALL);
    ok(&x, "{\"x\":{\"y\":[1,{\"z\":null},\"s\",true,false,-1.5e3],\"w\":{}},\"a\":7,\"q\":[],\"r\":\"\\u00e9\"}");
    bad(&x, "{\"x\":{\"y\":[1,}},\"a\":7}", 14, "expected a value");
    bad(&x, "{\"x\":{\"y\" 1},\"a\":7}", 11, "expected ':'");
    bad(&x, "{\"x\":[01],\"a\":7}", 7, "invalid number");
    bad(&x, "{\"x\":nope,\"a\":7}", 6, "expected a value, found nope");
    fx_finish(&x);
    ck_assert_int_eq(rn_col_i64(col(&x, "a"), 0), 7);
    fx_free(&x);
}
END_TEST

START_TEST(test_json_nesting_depth_limit)
{
    struct fx x = json(ALL);
    char line[400];
    /* the object is depth 1, so 63 arrays under a key reach 64: accepted */
    int n = snprintf(line, sizeof line, "{\"x\":");
    for (int i = 0; i < 63; i++) line[n++] = '[';
    for (int i = 0; i < 63; i++) line[n++] = ']';
    n += snprintf(line + n, sizeof line - (size_t)n, ",\"a\":1}");
    ok(&x, line);
    n = snprintf(line, sizeof line, "{\"x\":");
    for (int i = 0; i < 64; i++) line[n++] = '[';
    for (int i = 0; i < 64; i++) line[n++] = ']';
    n += snprintf(line + n, sizeof line - (size_t)n, "}");
    bad(&x, line, 6 + 63, "nesting deeper than 64");
    fx_finish(&x);
    fx_free(&x);
}
END_TEST

START_TEST(test_json_duplicate_keys_last_wins)
{
    struct fx x = json("id:int64 not null, s:string, v:vector<3>");
    ok(&x, "{\"id\":null,\"s\":\"first\",\"id\":2,\"s\":\"second\",\"v\":[1,2,3],\"v\":[4,5,6]}");
    ok(&x, "{\"id\":3,\"s\":\"x\",\"s\":null}");
    fx_finish(&x);
    ck_assert_int_eq(rn_col_i64(col(&x, "id"), 0), 2);
    ASSERT_STR(col(&x, "s"), 0, "second");
    assert_vec(col(&x, "v"), 0, 4, 5, 6);
    assert_null(col(&x, "s"), 1);
    fx_free(&x);
}
END_TEST

START_TEST(test_json_key_order_may_change_between_lines)
{
    struct fx x = json(ALL);
    ok(&x, "{\"a\":1,\"s\":\"x\",\"b\":1.5}");
    ok(&x, "{\"b\":2.5,\"a\":2,\"s\":\"y\"}");
    ok(&x, "{\"s\":\"z\",\"zz\":0,\"a\":3}");
    ok(&x, "{\"a\":4,\"s\":\"w\",\"b\":4.5}");
    fx_finish(&x);
    for (uint32_t r = 0; r < 4; r++) ck_assert_int_eq(rn_col_i64(col(&x, "a"), r), r + 1);
    ck_assert(rn_col_f64(col(&x, "b"), 1) == 2.5);
    assert_null(col(&x, "b"), 2);
    ck_assert(rn_col_f64(col(&x, "b"), 3) == 4.5);
    ASSERT_STR(col(&x, "s"), 2, "z");
    fx_free(&x);
}
END_TEST

START_TEST(test_json_escaped_key_matches_column)
{
    struct fx x = json(ALL);
    ok(&x, "{\"\\u0061\":5,\"\\u0073\":\"k\"}");
    ok(&x, "{\"a\\u0000\":6}"); /* not the column "a" */
    fx_finish(&x);
    ck_assert_int_eq(rn_col_i64(col(&x, "a"), 0), 5);
    ASSERT_STR(col(&x, "s"), 0, "k");
    assert_null(col(&x, "a"), 1);
    fx_free(&x);
}
END_TEST

START_TEST(test_json_blank_lines_are_eend)
{
    struct fx x = json(ALL);
    struct rn_error err;
    ck_assert_int_eq(rn_text_decode_line(x.d, "", 0, x.bb, &err), RN_EEND);
    ck_assert_int_eq(rn_text_decode_line(x.d, "   \t ", 5, x.bb, &err), RN_EEND);
    ck_assert_int_eq(rn_text_decode_line(x.d, "\r", 1, x.bb, &err), RN_EEND);
    ck_assert_uint_eq(rn_builder_rows(x.bb), 0);
    fx_finish(&x);
    fx_free(&x);
}
END_TEST

START_TEST(test_json_whitespace_and_trailing_cr_accepted)
{
    struct fx x = json(ALL);
    ok(&x, "  { \"a\" : 1 , \"s\" : \"x\" }  \r");
    ok(&x, "{\"a\":2}\r");
    fx_finish(&x);
    ck_assert_int_eq(rn_col_i64(col(&x, "a"), 1), 2);
    fx_free(&x);
}
END_TEST

/* ---- JSON: malformed lines ---- */

START_TEST(test_json_trailing_garbage_rejected)
{
    struct fx x = json(ALL);
    bad(&x, "{\"a\":1} x", 9, "trailing characters");
    bad(&x, "{\"a\":1}{}", 8, "trailing characters");
    bad(&x, "{\"a\":1},", 8, "trailing characters");
    fx_finish(&x);
    fx_free(&x);
}
END_TEST

START_TEST(test_json_unterminated_string_rejected)
{
    struct fx x = json(ALL);
    bad(&x, "{\"s\":\"abc", 6, "column 's': unterminated string");
    bad(&x, "{\"s\":\"abc\\\"}", 6, "unterminated string");
    bad(&x, "{\"s", 2, "unterminated string");
    bad(&x, "{\"x\":\"abc}", 6, "unterminated string");
    fx_finish(&x);
    fx_free(&x);
}
END_TEST

START_TEST(test_json_invalid_numbers_rejected)
{
    struct fx x = json(ALL);
    bad(&x, "{\"a\":01}", 6, "column 'a': invalid number");
    bad(&x, "{\"b\":1.}", 6, "column 'b': invalid number");
    bad(&x, "{\"b\":-}", 6, "invalid number");
    bad(&x, "{\"b\":1e}", 6, "invalid number");
    bad(&x, "{\"b\":1e+}", 6, "invalid number");
    bad(&x, "{\"b\":.5}", 6, "expected a number, found .5");
    bad(&x, "{\"b\":+1}", 6, "expected a number, found +1");
    bad(&x, "{\"b\":1.5.2}", 6, "invalid number");
    bad(&x, "{\"b\":12abc}", 6, "invalid number");
    bad(&x, "{\"b\":NaN}", 6, "expected a number");
    bad(&x, "{\"b\":-Infinity}", 6, "invalid number");
    fx_finish(&x);
    fx_free(&x);
}
END_TEST

START_TEST(test_json_structure_errors_rejected)
{
    struct fx x = json(ALL);
    bad(&x, "[1,2]", 1, "expected a JSON object");
    bad(&x, "\"a\"", 1, "expected a JSON object");
    bad(&x, "{a:1}", 2, "expected a key string");
    bad(&x, "{\"a\" 1}", 6, "expected ':'");
    bad(&x, "{\"a\":1 \"b\":2}", 8, "expected ',' or '}'");
    bad(&x, "{\"a\":1,}", 8, "expected a key string");
    bad(&x, "{\"a\":1", 7, "expected ',' or '}', found end of line");
    bad(&x, "{\"a\":}", 6, "expected an integer");
    bad(&x, "{\"a\":", 6, "found end of line");
    bad(&x, "{", 2, "expected a key string");
    fx_finish(&x);
    fx_free(&x);
}
END_TEST

START_TEST(test_json_error_in_late_column_appends_nothing)
{
    struct fx x = json(ALL);
    ok(&x, "{\"a\":1,\"b\":1,\"s\":\"x\",\"t\":1,\"f\":true,\"v\":[1,2,3]}");
    /* five columns parse before the sixth fails */
    bad(&x, "{\"a\":2,\"b\":2,\"s\":\"y\\n\",\"t\":2,\"f\":false,\"v\":[1,2]}", 44, "column 'v'");
    ok(&x, "{\"a\":3}");
    fx_finish(&x);
    ck_assert_int_eq(rn_col_i64(col(&x, "a"), 1), 3);
    ASSERT_STR(col(&x, "s"), 0, "x");
    assert_null(col(&x, "s"), 1);
    fx_free(&x);
}
END_TEST

START_TEST(test_json_full_builder_is_erange)
{
    rn_schema *s = tu_schema("a:int64");
    rn_text_decoder *d = rn_text_decoder_create(RN_FMT_JSONL, s, 0);
    rn_builder *bb = rn_builder_create(s, 2);
    struct rn_error err;
    ck_assert_int_eq(rn_text_decode_line(d, "{\"a\":1}", 7, bb, &err), 0);
    ck_assert_int_eq(rn_text_decode_line(d, "{\"a\":2}", 7, bb, &err), 0);
    ck_assert_int_eq(rn_text_decode_line(d, "{\"a\":3}", 7, bb, &err), RN_ERANGE);
    struct rn_batch *b = rn_builder_finish(bb, &err);
    ck_assert(b != NULL);
    ck_assert_uint_eq(b->n_rows, 2);
    rn_batch_unref(b);
    ck_assert_int_eq(rn_text_decode_line(d, "{\"a\":3}", 7, bb, &err), 0);
    rn_builder_destroy(bb);
    rn_text_decoder_destroy(d);
    rn_schema_unref(s);
}
END_TEST

/* ---- CSV ---- */

START_TEST(test_csv_every_type)
{
    struct fx x = csv(ALL, "a,b,s,t,f,v", 0);
    ok(&x, "42,1.5,hello,1700000000123,true,1;2;3");
    ok(&x, "-9223372036854775808,-2.5e-3,caf\xc3\xa9,2023-11-14T22:13:20Z,0,\"[0.5,1,-1]\"");
    ok(&x, " 7 , 1e2 ,  spaced  , 5 , FALSE , 1 ; 2 ; 3 ");
    fx_finish(&x);
    ck_assert_int_eq(rn_col_i64(col(&x, "a"), 0), 42);
    ck_assert_int_eq(rn_col_i64(col(&x, "a"), 1), INT64_MIN);
    ck_assert_int_eq(rn_col_i64(col(&x, "a"), 2), 7);
    ck_assert(rn_col_f64(col(&x, "b"), 0) == 1.5);
    ck_assert(rn_col_f64(col(&x, "b"), 1) == -2.5e-3);
    ck_assert(rn_col_f64(col(&x, "b"), 2) == 100.0);
    ASSERT_STR(col(&x, "s"), 0, "hello");
    ASSERT_STR(col(&x, "s"), 1, "caf\xc3\xa9");
    ASSERT_STR(col(&x, "s"), 2, "  spaced  ");
    ck_assert_int_eq(rn_col_i64(col(&x, "t"), 0), 1700000000123);
    ck_assert_int_eq(rn_col_i64(col(&x, "t"), 1), 1700000000000);
    ck_assert(rn_col_bool(col(&x, "f"), 0) && !rn_col_bool(col(&x, "f"), 1) && !rn_col_bool(col(&x, "f"), 2));
    assert_vec(col(&x, "v"), 0, 1, 2, 3);
    assert_vec(col(&x, "v"), 1, 0.5f, 1, -1);
    assert_vec(col(&x, "v"), 2, 1, 2, 3);
    fx_free(&x);
}
END_TEST

START_TEST(test_csv_nulls_are_empty_unquoted_fields)
{
    struct fx x = csv(ALL, "a,b,s,t,f,v", 0);
    ok(&x, ",,,,,");
    ok(&x, "1,,\"\",,,");
    fx_finish(&x);
    for (uint32_t c = 0; c < 6; c++) assert_null(&x.b->cols[c], 0);
    ASSERT_STR(col(&x, "s"), 1, ""); /* a quoted empty field is an empty string */
    assert_null(col(&x, "b"), 1);
    fx_free(&x);
}
END_TEST

START_TEST(test_csv_bool_forms)
{
    struct fx x = csv("f:bool", "f", 0);
    const char *t[] = {"true", "TRUE", "True", "1", "false", "FALSE", "fAlSe", "0"};
    for (int i = 0; i < 8; i++) ok(&x, t[i]);
    bad(&x, "yes", 1, "column 'f': expected true or false, found \"yes\"");
    bad(&x, "2", 1, "expected true or false");
    fx_finish(&x);
    for (uint32_t i = 0; i < 8; i++) ck_assert_int_eq(rn_col_bool(col(&x, "f"), i), i < 4);
    fx_free(&x);
}
END_TEST

START_TEST(test_csv_doubles_nan_inf_and_forms)
{
    struct fx x = csv("b:double", "b", 0);
    const char *t[] = {"nan", "-inf", "Infinity", "+1.5", ".5", "5.", "007", "-0", "1E5"};
    for (int i = 0; i < 9; i++) ok(&x, t[i]);
    bad(&x, "1.5x", 1, "column 'b': expected a number, found \"1.5x\"");
    bad(&x, "1e999", 1, "number out of range");
    bad(&x, ".", 1, "expected a number");
    bad(&x, "\"\"", 1, "expected a number, found \"\"");
    fx_finish(&x);
    const struct rn_column *b = col(&x, "b");
    ck_assert(isnan(rn_col_f64(b, 0)));
    ck_assert(isinf(rn_col_f64(b, 1)) && rn_col_f64(b, 1) < 0);
    ck_assert(isinf(rn_col_f64(b, 2)) && rn_col_f64(b, 2) > 0);
    ck_assert(rn_col_f64(b, 3) == 1.5 && rn_col_f64(b, 4) == 0.5 && rn_col_f64(b, 5) == 5.0);
    ck_assert(rn_col_f64(b, 6) == 7.0 && signbit(rn_col_f64(b, 7)) && rn_col_f64(b, 8) == 1e5);
    fx_free(&x);
}
END_TEST

START_TEST(test_csv_int_errors_rejected)
{
    struct fx x = csv("s:string, a:int64", "s,a", 0);
    ok(&x, "x,+12");
    bad(&x, "x,abc", 3, "column 'a': expected an integer, found \"abc\"");
    bad(&x, "x,1.0", 3, "expected an integer");
    bad(&x, "x,9223372036854775808", 3, "column 'a': integer out of range");
    bad(&x, "x,-", 3, "expected an integer");
    fx_finish(&x);
    ck_assert_int_eq(rn_col_i64(col(&x, "a"), 0), 12);
    fx_free(&x);
}
END_TEST

START_TEST(test_csv_timestamps)
{
    struct fx x = csv("t:timestamp", "t", 0);
    ok(&x, "1700000000123");
    ok(&x, "2023-11-14 22:13:20.5");
    ok(&x, "\"2023-11-14T23:13:20+01:00\"");
    bad(&x, "tomorrow", 1, "column 't': expected a timestamp");
    bad(&x, "99999999999999999999", 1, "timestamp out of range");
    fx_finish(&x);
    ck_assert_int_eq(rn_col_i64(col(&x, "t"), 0), 1700000000123);
    ck_assert_int_eq(rn_col_i64(col(&x, "t"), 1), 1700000000500);
    ck_assert_int_eq(rn_col_i64(col(&x, "t"), 2), 1700000000000);
    fx_free(&x);
}
END_TEST

START_TEST(test_csv_vectors)
{
    struct fx x = csv("id:int64, v:vector<3>", "id,v", 0);
    ok(&x, "1,1;2;3");
    ok(&x, "2,\"[1, 2.5, -3]\"");
    ok(&x, "3,nan;inf;-0");
    bad(&x, "4,1;2", 3, "column 'v': expected a vector of 3 numbers, found 2");
    bad(&x, "4,1;2;3;4", 3, "found 4");
    bad(&x, "4,1;x;3", 3, "vector element 2: expected a number");
    bad(&x, "4,\"[1,2,3\"", 3, "expected a vector");
    bad(&x, "4,1;2;1e39", 3, "vector element 3: out of range for float32");
    fx_finish(&x);
    assert_vec(col(&x, "v"), 0, 1, 2, 3);
    assert_vec(col(&x, "v"), 1, 1, 2.5f, -3);
    const float *v = rn_col_vec(col(&x, "v"), 2);
    ck_assert(isnan(v[0]) && isinf(v[1]) && v[2] == 0 && signbit(v[2]));
    fx_free(&x);
}
END_TEST

START_TEST(test_csv_header_reordered_columns)
{
    struct fx x = csv("a:int64, s:string, f:bool", "f,s,a", 0);
    ok(&x, "true,hi,3");
    fx_finish(&x);
    ck_assert_int_eq(rn_col_i64(col(&x, "a"), 0), 3);
    ASSERT_STR(col(&x, "s"), 0, "hi");
    ck_assert(rn_col_bool(col(&x, "f"), 0));
    fx_free(&x);
}
END_TEST

START_TEST(test_csv_header_extra_columns_ignored)
{
    struct fx x = csv("a:int64, s:string", "junk,a,more junk,s,\"quoted, junk\"", 0);
    ok(&x, "\"x,y\",1,whatever,hi,zz");
    ok(&x, "not a number,2,,there,"); /* ignored fields are not converted */
    fx_finish(&x);
    ck_assert_int_eq(rn_col_i64(col(&x, "a"), 1), 2);
    ASSERT_STR(col(&x, "s"), 1, "there");
    fx_free(&x);
}
END_TEST

START_TEST(test_csv_header_missing_column_rejected)
{
    struct fx x = fx_new(RN_FMT_CSV, "a:int64, s:string, f:bool", 0);
    struct rn_error err = {0};
    ck_assert_int_eq(rn_text_decoder_header(x.d, "a,f", 3, &err), RN_EINVAL);
    ck_assert_msg(strstr(err.msg, "column 's' is missing from the header"), "%s", err.msg);
    /* no rows before a good header */
    bad(&x, "1,x,true", 0, "no CSV header");
    header(&x, "s,f,a");
    ok(&x, "x,true,1");
    fx_finish(&x);
    fx_free(&x);
}
END_TEST

START_TEST(test_csv_header_duplicate_column_rejected)
{
    struct fx x = fx_new(RN_FMT_CSV, "a:int64", 0);
    struct rn_error err = {0};
    ck_assert_int_eq(rn_text_decoder_header(x.d, "a,b,a", 5, &err), RN_EINVAL);
    ck_assert_msg(strstr(err.msg, "column 'a' appears twice"), "%s", err.msg);
    ck_assert_int_eq(err.column, 5);
    fx_free(&x);
}
END_TEST

START_TEST(test_csv_header_quoted_names_bom_and_crlf)
{
    /* a name with a space (the schema text parser takes identifiers only) */
    struct fx x = {0};
    x.f = RN_FMT_CSV;
    x.s = rn_schema_create();
    ck_assert_int_eq(rn_schema_add(x.s, "a b", rn_type_of(RN_T_INT64), true), 0);
    ck_assert_int_eq(rn_schema_add(x.s, "s", rn_type_of(RN_T_STRING), true), 0);
    x.d = rn_text_decoder_create(RN_FMT_CSV, x.s, 0);
    x.bb = rn_builder_create(x.s, 0);
    header(&x, "\xEF\xBB\xBF\"a b\", s \r");
    ok(&x, "1,x\r");
    fx_finish(&x);
    ck_assert_int_eq(rn_col_i64(col(&x, "a b"), 0), 1);
    ASSERT_STR(col(&x, "s"), 0, "x");
    fx_free(&x);
}
END_TEST

START_TEST(test_csv_new_header_remaps_columns)
{
    struct fx x = csv("a:int64, s:string", "a,s", 0);
    ok(&x, "1,x");
    header(&x, "s,a");
    ok(&x, "y,2");
    fx_finish(&x);
    ck_assert_int_eq(rn_col_i64(col(&x, "a"), 1), 2);
    ASSERT_STR(col(&x, "s"), 1, "y");
    fx_free(&x);
}
END_TEST

START_TEST(test_csv_quoted_fields_with_delimiter_and_quotes)
{
    struct fx x = csv("a:int64, s:string, u:string", "a,s,u", 0);
    ok(&x, "1,\"x, y\",\"say \"\"hi\"\"\"");
    ok(&x, "\"2\",\"\"\"\",\"a\"\"b,c\"\"\"");
    fx_finish(&x);
    ASSERT_STR(col(&x, "s"), 0, "x, y");
    ASSERT_STR(col(&x, "u"), 0, "say \"hi\"");
    ck_assert_int_eq(rn_col_i64(col(&x, "a"), 1), 2);
    ASSERT_STR(col(&x, "s"), 1, "\"");
    ASSERT_STR(col(&x, "u"), 1, "a\"b,c\"");
    fx_free(&x);
}
END_TEST

START_TEST(test_csv_custom_delimiters)
{
    struct fx x = csv("a:int64, s:string, v:vector<2>", "a;s;v", ';');
    ok(&x, "1;a,b;\"1;2\"");
    ok(&x, "2;\"x;y\";[3,4]");
    fx_finish(&x);
    ASSERT_STR(col(&x, "s"), 0, "a,b");
    ASSERT_STR(col(&x, "s"), 1, "x;y");
    const float *v = rn_col_vec(col(&x, "v"), 1);
    ck_assert(v[0] == 3 && v[1] == 4);
    fx_free(&x);

    x = csv("a:int64, s:string", "a\ts", '\t');
    ok(&x, "1\thello, world");
    ok(&x, "\t"); /* two nulls: a tab delimiter is not a blank line */
    fx_finish(&x);
    ASSERT_STR(col(&x, "s"), 0, "hello, world");
    assert_null(col(&x, "a"), 1);
    assert_null(col(&x, "s"), 1);
    fx_free(&x);

    x = csv("a:int64, s:string", "a|s", '|');
    ok(&x, "3|p");
    fx_free(&x);
}
END_TEST

START_TEST(test_csv_crlf_lines)
{
    struct fx x = csv("a:int64, s:string", "a,s\r", 0);
    ok(&x, "1,x\r");
    ok(&x, "2,\"y\"\r");
    ok(&x, "3,\r");
    fx_finish(&x);
    ASSERT_STR(col(&x, "s"), 0, "x");
    ASSERT_STR(col(&x, "s"), 1, "y");
    assert_null(col(&x, "s"), 2);
    fx_free(&x);
}
END_TEST

START_TEST(test_csv_null_into_not_null_rejected)
{
    struct fx x = csv("a:int64 not null, s:string not null", "a,s", 0);
    ok(&x, "1,\"\"");
    bad(&x, ",x", 1, "column 'a': null in a not-null column");
    bad(&x, "1,", 3, "column 's': null in a not-null column");
    fx_finish(&x);
    fx_free(&x);
}
END_TEST

START_TEST(test_csv_malformed_rejected)
{
    struct fx x = csv("a:int64, s:string", "a,s,c", 0);
    bad(&x, "1,\"abc,z", 3, "column 's': unterminated quoted field");
    bad(&x, "1,\"abc\"x,z", 8, "column 's': expected the delimiter after a closing quote");
    bad(&x, "1,ab\"c,z", 5, "column 's': quote in an unquoted field");
    bad(&x, "1,x,z,extra", 7, "more fields than the header");
    bad(&x, "1", 2, "column 's': missing field");
    bad(&x, "1,x", 4, "the row has 2 fields, the header 3");
    bad(&x, "1,\xff,z", 3, "column 's': invalid UTF-8");
    bad(&x, "1,x,\"z", 5, "unterminated quoted field");
    fx_finish(&x);
    fx_free(&x);
}
END_TEST

START_TEST(test_csv_blank_lines_are_eend)
{
    struct fx x = csv("a:int64", "a", 0);
    struct rn_error err;
    ck_assert_int_eq(rn_text_decode_line(x.d, "", 0, x.bb, &err), RN_EEND);
    ck_assert_int_eq(rn_text_decode_line(x.d, " \r", 2, x.bb, &err), RN_EEND);
    fx_finish(&x);
    fx_free(&x);
}
END_TEST

START_TEST(test_csv_error_in_late_column_appends_nothing)
{
    struct fx x = csv(ALL, "a,b,s,t,f,v", 0);
    ok(&x, "1,2,x,3,true,1;2;3");
    bad(&x, "1,2,\"y\"\"z\",3,true,1;2", 19, "column 'v'");
    ok(&x, "2,,,,,");
    fx_finish(&x);
    ck_assert_int_eq(rn_col_i64(col(&x, "a"), 1), 2);
    fx_free(&x);
}
END_TEST

/* ---- encoding ---- */

START_TEST(test_json_encode_row_text)
{
    struct rn_batch *b = tu_batch("a:int64, b:double, s:string, t:timestamp, f:bool", "7, 1.5, hi, 1700000000123, true; NULL, NULL, NULL, NULL, NULL");
    struct rn_text_buf out = {0};
    ck_assert_int_eq(rn_text_encode_row(RN_FMT_JSONL, 0, b, 0, &out), 0);
    ck_assert_int_eq(rn_text_encode_row(RN_FMT_JSONL, 0, b, 1, &out), 0);
    ck_assert_int_eq(rn_text_encode_row(RN_FMT_JSONL, 0, b, 2, &out), RN_EINVAL);
    const char *want = "{\"a\":7,\"b\":1.5,\"s\":\"hi\",\"t\":1700000000123,\"f\":true}\n"
                       "{\"a\":null,\"b\":null,\"s\":null,\"t\":null,\"f\":null}\n";
    ck_assert_uint_eq(out.len, strlen(want));
    ck_assert(memcmp(out.data, want, out.len) == 0);
    ck_assert_int_eq(rn_text_encode_header(RN_FMT_JSONL, 0, b->schema, &out), 0);
    ck_assert_uint_eq(out.len, strlen(want));
    rn_text_buf_free(&out);
    rn_batch_unref(b);
}
END_TEST

START_TEST(test_json_encode_timestamps_as_integers)
{
    struct rn_batch *b = tu_batch("t:timestamp", "-1; 0; 1700000000123");
    struct rn_text_buf out = {0};
    for (uint32_t r = 0; r < 3; r++) ck_assert_int_eq(rn_text_encode_row(RN_FMT_JSONL, 0, b, r, &out), 0);
    ck_assert_uint_eq(out.len, strlen("{\"t\":-1}\n{\"t\":0}\n{\"t\":1700000000123}\n"));
    ck_assert(memcmp(out.data, "{\"t\":-1}\n{\"t\":0}\n{\"t\":1700000000123}\n", out.len) == 0);
    rn_text_buf_free(&out);
    rn_batch_unref(b);
}
END_TEST

START_TEST(test_json_encode_escapes_strings)
{
    rn_schema *s = tu_schema("s:string");
    rn_builder *bb = rn_builder_create(s, 0);
    const char in[] = "q\"b\\n\nt\x01\x7f\xc3\xa9\xff";
    rn_builder_str(bb, 0, in, sizeof in - 1);
    struct rn_error err;
    struct rn_batch *b = rn_builder_finish(bb, &err);
    struct rn_text_buf out = {0};
    ck_assert_int_eq(rn_text_encode_row(RN_FMT_JSONL, 0, b, 0, &out), 0);
    const char want[] = "{\"s\":\"q\\\"b\\\\n\\u000at\\u0001\x7f\xc3\xa9\\ufffd\"}\n";
    ck_assert_msg(out.len == sizeof want - 1 && memcmp(out.data, want, out.len) == 0, "got %.*s", (int)out.len,
                  out.data);
    rn_text_buf_free(&out);
    rn_batch_unref(b);
    rn_builder_destroy(bb);
    rn_schema_unref(s);
}
END_TEST

START_TEST(test_json_encode_nonfinite_as_null)
{
    rn_schema *s = tu_schema("b:double, v:vector<2>");
    rn_builder *bb = rn_builder_create(s, 0);
    float v[2] = {1, INFINITY};
    rn_builder_f64(bb, 0, NAN);
    rn_builder_vec(bb, 1, v, 2);
    struct rn_error err;
    struct rn_batch *b = rn_builder_finish(bb, &err);
    struct rn_text_buf out = {0};
    ck_assert_int_eq(rn_text_encode_row(RN_FMT_JSONL, 0, b, 0, &out), 0);
    ck_assert_uint_eq(out.len, strlen("{\"b\":null,\"v\":null}\n"));
    ck_assert(memcmp(out.data, "{\"b\":null,\"v\":null}\n", out.len) == 0);
    rn_text_buf_free(&out);
    rn_batch_unref(b);
    rn_builder_destroy(bb);
    rn_schema_unref(s);
}
END_TEST

START_TEST(test_csv_encode_quotes_when_needed)
{
    rn_schema *s = tu_schema("s:string, a:int64, v:vector<2>");
    rn_builder *bb = rn_builder_create(s, 0);
    const char *strs[] = {"plain", "a,b", "say \"hi\"", "", "line\nbreak", " pad"};
    float v[2] = {0.1f, -2};
    for (int i = 0; i < 6; i++) {
        rn_builder_str(bb, 0, strs[i], strlen(strs[i]));
        if (i == 5) rn_builder_null(bb, 1);
        else rn_builder_i64(bb, 1, i);
        rn_builder_vec(bb, 2, v, 2);
    }
    struct rn_error err;
    struct rn_batch *b = rn_builder_finish(bb, &err);
    struct rn_text_buf out = {0};
    ck_assert_int_eq(rn_text_encode_header(RN_FMT_CSV, 0, s, &out), 0);
    for (uint32_t r = 0; r < 6; r++) ck_assert_int_eq(rn_text_encode_row(RN_FMT_CSV, 0, b, r, &out), 0);
    const char *want = "s,a,v\n"
                       "plain,0,0.1;-2\n"
                       "\"a,b\",1,0.1;-2\n"
                       "\"say \"\"hi\"\"\",2,0.1;-2\n"
                       "\"\",3,0.1;-2\n"
                       "\"line\nbreak\",4,0.1;-2\n"
                       "\" pad\",,0.1;-2\n";
    ck_assert_msg(out.len == strlen(want) && memcmp(out.data, want, out.len) == 0, "got\n%.*s", (int)out.len,
                  out.data);
    /* with ';' as the delimiter the vector is quoted */
    out.len = 0;
    ck_assert_int_eq(rn_text_encode_row(RN_FMT_CSV, ';', b, 1, &out), 0);
    ck_assert_msg(out.len == strlen("a,b;1;\"0.1;-2\"\n") && memcmp(out.data, "a,b;1;\"0.1;-2\"\n", out.len) == 0,
                  "got %.*s", (int)out.len, out.data);
    ck_assert_int_eq(rn_text_encode_row(RN_FMT_CSV, '"', b, 1, &out), RN_EINVAL);
    rn_text_buf_free(&out);
    rn_batch_unref(b);
    rn_builder_destroy(bb);
    rn_schema_unref(s);
}
END_TEST

START_TEST(test_json_round_trip_every_type)
{
    struct rn_batch *b = all_types_batch();
    char *text = round_trip(RN_FMT_JSONL, 0, b);
    /* timestamps are written as integers */
    ck_assert_msg(strstr(text, "\"t\":1700000000123") != NULL, "%s", text);
    free(text);
    rn_batch_unref(b);
}
END_TEST

START_TEST(test_json_round_trip_newlines_and_unicode)
{
    rn_schema *s = tu_schema("s:string");
    rn_builder *bb = rn_builder_create(s, 0);
    const char *strs[] = {"a\nb\r\nc", "\"quoted\", and, commas", "\xf0\x9f\x98\x80 \xe2\x82\xac caf\xc3\xa9",
                          "\\u0041 is not an escape", "{\"inner\": [1]}"};
    for (int i = 0; i < 5; i++) rn_builder_str(bb, 0, strs[i], strlen(strs[i]));
    rn_builder_str(bb, 0, "nul\0in", 6);
    struct rn_error err;
    struct rn_batch *b = rn_builder_finish(bb, &err);
    char *text = round_trip(RN_FMT_JSONL, 0, b);
    /* one line per row: the newlines inside the strings are escaped */
    int lines = 0;
    for (const char *p = text; *p; p++) lines += *p == '\n';
    ck_assert_int_eq(lines, 6);
    free(text);
    rn_batch_unref(b);
    rn_builder_destroy(bb);
    rn_schema_unref(s);
}
END_TEST

START_TEST(test_csv_round_trip_every_type)
{
    struct rn_batch *b = all_types_batch();
    free(round_trip(RN_FMT_CSV, 0, b));
    rn_batch_unref(b);
}
END_TEST

START_TEST(test_csv_round_trip_special_doubles_and_delimiters)
{
    rn_schema *s = tu_schema("b:double, s:string, v:vector<2>");
    rn_builder *bb = rn_builder_create(s, 0);
    const double d[] = {NAN, INFINITY, -INFINITY, -0.0, 1e-310};
    for (int i = 0; i < 5; i++) {
        float v[2] = {(float)d[i], 1.0f / 3};
        rn_builder_f64(bb, 0, d[i]);
        rn_builder_str(bb, 1, "a;b|c\td,e", 9);
        rn_builder_vec(bb, 2, v, 2);
    }
    struct rn_error err;
    struct rn_batch *b = rn_builder_finish(bb, &err);
    const char delims[] = {',', ';', '|', '\t', ' ', '.', 'e'};
    for (size_t i = 0; i < sizeof delims; i++) free(round_trip(RN_FMT_CSV, delims[i], b));
    rn_batch_unref(b);
    rn_builder_destroy(bb);
    rn_schema_unref(s);
}
END_TEST

/* ---- misc ---- */

START_TEST(test_format_parse)
{
    enum rn_text_format f;
    ck_assert_int_eq(rn_text_format_parse("jsonl", &f), 0);
    ck_assert_int_eq(f, RN_FMT_JSONL);
    ck_assert_int_eq(rn_text_format_parse("json", &f), 0);
    ck_assert_int_eq(f, RN_FMT_JSONL);
    ck_assert_int_eq(rn_text_format_parse("csv", &f), 0);
    ck_assert_int_eq(f, RN_FMT_CSV);
    ck_assert_int_eq(rn_text_format_parse("parquet", &f), RN_EINVAL);
}
END_TEST

START_TEST(test_decoder_rejects_quote_or_newline_delimiter)
{
    rn_schema *s = tu_schema("a:int64");
    ck_assert(rn_text_decoder_create(RN_FMT_CSV, s, '"') == NULL);
    ck_assert(rn_text_decoder_create(RN_FMT_CSV, s, '\n') == NULL);
    rn_text_decoder *d = rn_text_decoder_create(RN_FMT_JSONL, s, 0);
    ck_assert(d != NULL);
    struct rn_error err;
    ck_assert_int_eq(rn_text_decoder_header(d, "x", 1, &err), 0); /* JSONL: a no-op */
    rn_text_decoder_destroy(d);
    rn_schema_unref(s);
}
END_TEST

START_TEST(test_long_lines_and_many_keys)
{
    /* a line far longer than the initial scratch, with escapes, and more keys than the cache */
    struct fx x = json("s:string, k99:int64");
    size_t cap = 200000;
    char *line = malloc(cap);
    size_t n = 0;
    for (int k = 0; k < 100; k++) n += (size_t)snprintf(line + n, cap - n, "%s\"k%d\":%d", k ? "," : "{", k, k);
    n += (size_t)snprintf(line + n, cap - n, ",\"s\":\"");
    for (int i = 0; i < 20000; i++) n += (size_t)snprintf(line + n, cap - n, "ab\\n");
    n += (size_t)snprintf(line + n, cap - n, "\"}");
    ok_n(&x, line, n);
    ok_n(&x, line, n); /* cached key positions must still be right */
    fx_finish(&x);
    ck_assert_int_eq(rn_col_i64(col(&x, "k99"), 1), 99);
    ck_assert_uint_eq(rn_col_str(col(&x, "s"), 1).len, 60000);
    free(line);
    fx_free(&x);
}
END_TEST

START_TEST(test_csv_long_escaped_vector_field)
{
    /* a vector field with "" escapes (decoded into the scratch) whose element needs strtod */
    struct fx x = csv("v:vector<2>", "v", 0);
    size_t cap = 2000;
    char *line = malloc(cap);
    size_t n = 0;
    n += (size_t)snprintf(line + n, cap - n, "\"[1.");
    for (int i = 0; i < 600; i++) line[n++] = '5';
    n += (size_t)snprintf(line + n, cap - n, ",2]\"");
    ok_n(&x, line, n);
    n = (size_t)snprintf(line, cap, "\"[1.");
    for (int i = 0; i < 600; i++) line[n++] = '5';
    n += (size_t)snprintf(line + n, cap - n, ",\"\"]\"");
    bad_n(&x, line, n, 1, "vector element 2");
    fx_finish(&x);
    assert_vec_2(col(&x, "v"), 0, 1.5555556f, 2);
    free(line);
    fx_free(&x);
}
END_TEST

START_TEST(test_json_byte_order_mark_skipped)
{
    struct fx x = json(ALL);
    ok(&x, "\xEF\xBB\xBF{\"a\":1}");
    fx_finish(&x);
    ck_assert_int_eq(rn_col_i64(col(&x, "a"), 0), 1);
    fx_free(&x);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("textfmt");

    TCase *tc = tcase_create("json_types");
    tcase_add_test(tc, test_json_int64_values);
    tcase_add_test(tc, test_json_int64_extremes);
    tcase_add_test(tc, test_json_int64_overflow_rejected);
    tcase_add_test(tc, test_json_int64_rejects_fraction_exponent_and_strings);
    tcase_add_test(tc, test_json_double_values);
    tcase_add_test(tc, test_json_double_overflow_rejected);
    tcase_add_test(tc, test_json_bool_values);
    tcase_add_test(tc, test_json_string_plain_and_empty);
    tcase_add_test(tc, test_json_string_simple_escapes);
    tcase_add_test(tc, test_json_string_unicode_escapes);
    tcase_add_test(tc, test_json_string_surrogate_pair_to_four_bytes);
    tcase_add_test(tc, test_json_string_lone_surrogates_rejected);
    tcase_add_test(tc, test_json_string_bad_escapes_rejected);
    tcase_add_test(tc, test_json_string_utf8_kept_and_invalid_rejected);
    tcase_add_test(tc, test_json_string_control_character_rejected);
    tcase_add_test(tc, test_json_timestamp_integer);
    tcase_add_test(tc, test_json_timestamp_iso_strings);
    tcase_add_test(tc, test_json_vector_values);
    tcase_add_test(tc, test_json_vector_malformed_rejected);
    suite_add_tcase(s, tc);

    tc = tcase_create("json_objects");
    tcase_add_test(tc, test_json_nulls_and_missing_keys);
    tcase_add_test(tc, test_json_null_into_not_null_rejected);
    tcase_add_test(tc, test_json_ignored_keys_with_nested_values);
    tcase_add_test(tc, test_json_nesting_depth_limit);
    tcase_add_test(tc, test_json_duplicate_keys_last_wins);
    tcase_add_test(tc, test_json_key_order_may_change_between_lines);
    tcase_add_test(tc, test_json_escaped_key_matches_column);
    tcase_add_test(tc, test_json_blank_lines_are_eend);
    tcase_add_test(tc, test_json_whitespace_and_trailing_cr_accepted);
    tcase_add_test(tc, test_json_byte_order_mark_skipped);
    tcase_add_test(tc, test_json_full_builder_is_erange);
    tcase_add_test(tc, test_long_lines_and_many_keys);
    suite_add_tcase(s, tc);

    tc = tcase_create("json_malformed");
    tcase_add_test(tc, test_json_trailing_garbage_rejected);
    tcase_add_test(tc, test_json_unterminated_string_rejected);
    tcase_add_test(tc, test_json_invalid_numbers_rejected);
    tcase_add_test(tc, test_json_structure_errors_rejected);
    tcase_add_test(tc, test_json_error_in_late_column_appends_nothing);
    suite_add_tcase(s, tc);

    tc = tcase_create("csv");
    tcase_add_test(tc, test_csv_every_type);
    tcase_add_test(tc, test_csv_nulls_are_empty_unquoted_fields);
    tcase_add_test(tc, test_csv_bool_forms);
    tcase_add_test(tc, test_csv_doubles_nan_inf_and_forms);
    tcase_add_test(tc, test_csv_int_errors_rejected);
    tcase_add_test(tc, test_csv_timestamps);
    tcase_add_test(tc, test_csv_vectors);
    tcase_add_test(tc, test_csv_header_reordered_columns);
    tcase_add_test(tc, test_csv_header_extra_columns_ignored);
    tcase_add_test(tc, test_csv_header_missing_column_rejected);
    tcase_add_test(tc, test_csv_header_duplicate_column_rejected);
    tcase_add_test(tc, test_csv_header_quoted_names_bom_and_crlf);
    tcase_add_test(tc, test_csv_new_header_remaps_columns);
    tcase_add_test(tc, test_csv_quoted_fields_with_delimiter_and_quotes);
    tcase_add_test(tc, test_csv_custom_delimiters);
    tcase_add_test(tc, test_csv_crlf_lines);
    tcase_add_test(tc, test_csv_null_into_not_null_rejected);
    tcase_add_test(tc, test_csv_malformed_rejected);
    tcase_add_test(tc, test_csv_blank_lines_are_eend);
    tcase_add_test(tc, test_csv_error_in_late_column_appends_nothing);
    tcase_add_test(tc, test_csv_long_escaped_vector_field);
    suite_add_tcase(s, tc);

    tc = tcase_create("encode");
    tcase_add_test(tc, test_json_encode_row_text);
    tcase_add_test(tc, test_json_encode_timestamps_as_integers);
    tcase_add_test(tc, test_json_encode_escapes_strings);
    tcase_add_test(tc, test_json_encode_nonfinite_as_null);
    tcase_add_test(tc, test_csv_encode_quotes_when_needed);
    tcase_add_test(tc, test_json_round_trip_every_type);
    tcase_add_test(tc, test_json_round_trip_newlines_and_unicode);
    tcase_add_test(tc, test_csv_round_trip_every_type);
    tcase_add_test(tc, test_csv_round_trip_special_doubles_and_delimiters);
    suite_add_tcase(s, tc);

    tc = tcase_create("misc");
    tcase_add_test(tc, test_format_parse);
    tcase_add_test(tc, test_decoder_rejects_quote_or_newline_delimiter);
    suite_add_tcase(s, tc);

    return s;
}

TU_MAIN(make_suite)
