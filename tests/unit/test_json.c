/*
 * test_json.c — Check suite "json": the JSON builder and the strict parser of
 * runtime/rest/json.h. Builder: commas and nesting, string escaping (control characters,
 * quotes, backslash, DEL, invalid UTF-8 replaced), integers at their limits, doubles that read
 * back exactly and non-finite ones as null, misuse reported. Parser: a table of texts accepted
 * and a table rejected (with the byte offset of the error), the depth and size limits, lookups
 * (keys, indexes, big objects, duplicate keys), strings with escapes and surrogate pairs, number
 * accessors, and builder output read back by the parser.
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rest/json.h"
#include "testutil.h"

/* The builder's text, which must be complete and error-free. */
static const char *built(struct rn_json_builder *b)
{
    const char *t;
    size_t n;
    int rc = rn_json_finish(b, &t, &n);
    ck_assert_msg(rc == 0, "builder error %d", rc);
    ck_assert_uint_eq(n, strlen(t));
    return t;
}

static rn_json_doc *parse_ok(const char *text)
{
    rn_json_doc *d = NULL;
    struct rn_error err;
    int rc = rn_json_parse(text, strlen(text), NULL, &d, &err);
    ck_assert_msg(rc == 0, "'%s' rejected: %s", text, err.msg);
    ck_assert_ptr_nonnull(d);
    return d;
}

/* ---- builder ---- */

START_TEST(builder_places_commas_and_colons_in_nested_containers)
{
    struct rn_json_builder b;
    rn_json_init(&b);
    rn_json_obj_begin(&b);
    rn_json_kstr(&b, "id", "abc");
    rn_json_karr_begin(&b, "vertices");
    rn_json_obj_begin(&b);
    rn_json_kint(&b, "p", 2);
    rn_json_kbool(&b, "bp", true);
    rn_json_obj_end(&b);
    rn_json_obj_begin(&b);
    rn_json_obj_end(&b);
    rn_json_arr_begin(&b);
    rn_json_arr_end(&b);
    rn_json_null(&b);
    rn_json_arr_end(&b);
    rn_json_knull(&b, "error");
    rn_json_kobj_begin(&b, "empty");
    rn_json_obj_end(&b);
    rn_json_obj_end(&b);
    ck_assert_str_eq(built(&b), "{\"id\":\"abc\",\"vertices\":[{\"p\":2,\"bp\":true},{},[],null],\"error\":null,\"empty\":{}}");
    /* reset keeps the buffer and starts a new document */
    rn_json_reset(&b);
    rn_json_arr_begin(&b);
    rn_json_int(&b, 1);
    rn_json_str(&b, NULL);
    rn_json_arr_end(&b);
    ck_assert_str_eq(built(&b), "[1,null]");
    rn_json_release(&b);
}
END_TEST

START_TEST(builder_escapes_quotes_backslashes_and_control_characters)
{
    struct rn_json_builder b;
    rn_json_init(&b);
    const char s[] = "a\"b\\c/\b\f\n\r\t\x01\x1f\x7f end";
    rn_json_strn(&b, s, sizeof s - 1);
    ck_assert_str_eq(built(&b), "\"a\\\"b\\\\c/\\b\\f\\n\\r\\t\\u0001\\u001f\\u007f end\"");
    rn_json_reset(&b);
    /* a NUL inside is escaped, not a terminator */
    rn_json_strn(&b, "x\0y", 3);
    ck_assert_str_eq(built(&b), "\"x\\u0000y\"");
    /* keys are escaped the same way */
    rn_json_reset(&b);
    rn_json_obj_begin(&b);
    rn_json_kint(&b, "k\"\n", 1);
    rn_json_obj_end(&b);
    ck_assert_str_eq(built(&b), "{\"k\\\"\\n\":1}");
    rn_json_release(&b);
}
END_TEST

START_TEST(builder_keeps_valid_utf8_and_replaces_invalid_bytes)
{
    struct rn_json_builder b;
    rn_json_init(&b);
    /* é (2 bytes), € (3), 😀 (4) stay as they are */
    rn_json_str(&b, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
    ck_assert_str_eq(built(&b), "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"");
    static const struct {
        const char *in, *want;
    } bad[] = {
        {"a\x80z", "\"a\\ufffdz\""},                        /* lone continuation byte */
        {"\xc0\xaf", "\"\\ufffd\\ufffd\""},                 /* overlong '/' */
        {"\xe0\x80\xaf", "\"\\ufffd\\ufffd\\ufffd\""},      /* overlong 3-byte */
        {"\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\""},      /* UTF-16 surrogate */
        {"\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\""},   /* past U+10FFFF */
        {"\xff", "\"\\ufffd\""},
        {"ok\xe2\x82", "\"ok\\ufffd\\ufffd\""},             /* truncated at the end */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        rn_json_reset(&b);
        rn_json_str(&b, bad[i].in);
        ck_assert_msg(!strcmp(built(&b), bad[i].want), "case %zu: got %s want %s", i, b.buf, bad[i].want);
        /* and the result is valid JSON that the strict parser reads */
        rn_json_doc *d = parse_ok(b.buf);
        rn_json_doc_free(d);
    }
    rn_json_release(&b);
}
END_TEST

START_TEST(builder_writes_integers_at_their_limits)
{
    struct rn_json_builder b;
    rn_json_init(&b);
    rn_json_arr_begin(&b);
    rn_json_int(&b, INT64_MIN);
    rn_json_int(&b, INT64_MAX);
    rn_json_int(&b, -1);
    rn_json_uint(&b, UINT64_MAX);
    rn_json_uint(&b, 0);
    rn_json_arr_end(&b);
    ck_assert_str_eq(built(&b), "[-9223372036854775808,9223372036854775807,-1,18446744073709551615,0]");
    rn_json_release(&b);
}
END_TEST

START_TEST(builder_doubles_read_back_exactly_and_non_finite_are_null)
{
    const double values[] = {0.1, 1.0 / 3.0, 1e300, -2.5e-310, 123456789.125, DBL_MAX, DBL_MIN, -0.0, 1e21, 5e-324};
    struct rn_json_builder b;
    rn_json_init(&b);
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        rn_json_reset(&b);
        rn_json_double(&b, values[i]);
        const char *t = built(&b);
        rn_json_doc *d = parse_ok(t);
        double back;
        ck_assert_int_eq(rn_json_as_double(rn_json_root(d), &back), 0);
        ck_assert_msg(back == values[i], "%.17g printed as %s read back as %.17g", values[i], t, back);
        rn_json_doc_free(d);
    }
    rn_json_reset(&b);
    rn_json_double(&b, 0.1);
    ck_assert_str_eq(built(&b), "0.1");   /* the short form, not 0.10000000000000001 */
    rn_json_reset(&b);
    rn_json_arr_begin(&b);
    rn_json_double(&b, NAN);
    rn_json_double(&b, INFINITY);
    rn_json_double(&b, -INFINITY);
    rn_json_arr_end(&b);
    ck_assert_str_eq(built(&b), "[null,null,null]");
    rn_json_release(&b);
}
END_TEST

START_TEST(builder_reports_misuse_and_incomplete_documents)
{
    struct rn_json_builder b;
    const char *t;
    size_t n;
    /* a value in an object without its key */
    rn_json_init(&b);
    rn_json_obj_begin(&b);
    rn_json_int(&b, 1);
    rn_json_obj_end(&b);
    ck_assert_int_eq(rn_json_finish(&b, &t, &n), RN_EINVAL);
    /* a key in an array */
    rn_json_reset(&b);
    rn_json_arr_begin(&b);
    rn_json_key(&b, "k");
    ck_assert_int_eq(rn_json_finish(&b, &t, &n), RN_EINVAL);
    /* closing the wrong kind */
    rn_json_reset(&b);
    rn_json_arr_begin(&b);
    rn_json_obj_end(&b);
    ck_assert_int_eq(rn_json_finish(&b, &t, &n), RN_EINVAL);
    /* a key without a value */
    rn_json_reset(&b);
    rn_json_obj_begin(&b);
    rn_json_key(&b, "k");
    rn_json_obj_end(&b);
    ck_assert_int_eq(rn_json_finish(&b, &t, &n), RN_EINVAL);
    /* still open, and nothing at all */
    rn_json_reset(&b);
    rn_json_obj_begin(&b);
    ck_assert_int_eq(rn_json_finish(&b, &t, &n), RN_EINVAL);
    rn_json_reset(&b);
    ck_assert_int_eq(rn_json_finish(&b, &t, &n), RN_EINVAL);
    /* two top-level values */
    rn_json_reset(&b);
    rn_json_int(&b, 1);
    rn_json_int(&b, 2);
    ck_assert_int_eq(rn_json_finish(&b, &t, &n), RN_EINVAL);
    /* deeper than the limit */
    rn_json_reset(&b);
    for (int i = 0; i <= RN_JSON_MAX_DEPTH; i++) rn_json_arr_begin(&b);
    ck_assert_int_eq(rn_json_finish(&b, &t, &n), RN_ERANGE);
    /* past the size limit */
    rn_json_reset(&b);
    b.max = 64;
    rn_json_str(&b, "0123456789012345678901234567890123456789012345678901234567890123456789");
    ck_assert_int_eq(rn_json_finish(&b, &t, &n), RN_ERANGE);
    rn_json_release(&b);
}
END_TEST

START_TEST(builder_take_hands_over_the_text)
{
    struct rn_json_builder b;
    rn_json_init(&b);
    rn_json_obj_begin(&b);
    rn_json_kstr(&b, "error", "x");
    rn_json_obj_end(&b);
    size_t n;
    int code;
    char *t = rn_json_take(&b, &n, &code);
    ck_assert_int_eq(code, 0);
    ck_assert_str_eq(t, "{\"error\":\"x\"}");
    ck_assert_uint_eq(n, strlen(t));
    /* the builder is empty and usable */
    rn_json_strf(&b, "%d-%s", 7, "y");
    ck_assert_str_eq(built(&b), "\"7-y\"");
    free(t);
    rn_json_release(&b);
}
END_TEST

START_TEST(escape_append_escapes_into_a_plain_buffer)
{
    char *buf = NULL;
    size_t len = 0, cap = 0;
    ck_assert_int_eq(rn_json_escape_append(&buf, &len, &cap, "a\"\n\xff", 4), 0);
    ck_assert_str_eq(buf, "\"a\\\"\\n\\ufffd\"");
    ck_assert_uint_eq(len, strlen(buf));
    free(buf);
}
END_TEST

/* ---- parser ---- */

static const char *const accepted[] = {
    "0", "-0", "1", "-1", "1.5", "-1.5e10", "1E+2", "1e-2", "0.0", "123456789012345678901234567890",
    "true", "false", "null", "\"\"", "\"a\"", " \t\r\n[ ] ", "{}", "[1,2,[3,{\"a\":[]}]]",
    "{\"a\":1,\"b\":{\"c\":null}}", "\"\\u00e9\\ud83d\\ude00\\/\\b\"", "\"\xe2\x82\xac\"", "[\"\\u0000\"]",
    "-9223372036854775808", "18446744073709551615", "1e308", "1e-400",
};

static const struct {
    const char *text;
    size_t offset;   /* where the error is reported */
} rejected[] = {
    {"", 0},
    {"   ", 3},
    {"[1,]", 3},
    {"[1 2]", 3},
    {"{\"a\":1,}", 7},
    {"{\"a\" 1}", 5},
    {"{a:1}", 1},
    {"{\"a\":1 \"b\":2}", 7},
    {"01", 1},
    {"-", 1},
    {"1.", 2},
    {".5", 0},
    {"1e", 2},
    {"+1", 0},
    {"0x10", 1},
    {"NaN", 0},
    {"Infinity", 0},
    {"tru", 0},
    {"nul", 0},
    {"truex", 4},
    {"\"abc", 0},
    {"\"a\nb\"", 2},
    {"\"\\x\"", 1},
    {"\"\\u12\"", 1},
    {"\"\\ud800\"", 1},
    {"\"\\udc00\"", 1},
    {"\"\\ud800\\u0041\"", 1},
    {"\"\xc0\xaf\"", 1},
    {"\"\xed\xa0\x80\"", 1},
    {"\"a\xff\"", 2},
    {"[1] [2]", 4},
    {"{} x", 3},
    {"\xef\xbb\xbf{}", 0},
    {"[1,2", 4},
    {"{\"a\":1,\"a\":2}", 0},
    {"// c\n1", 0},
    {"1e999", 0},
    {"[\"a\",\x01]", 5},
};

START_TEST(parser_accepts_valid_texts)
{
    const char *t = accepted[_i];
    rn_json_doc *d = parse_ok(t);
    rn_json_doc_free(d);
}
END_TEST

START_TEST(parser_rejects_invalid_texts_with_the_byte_offset)
{
    const char *t = rejected[_i].text;
    rn_json_doc *d = (rn_json_doc *)1;
    struct rn_error err;
    int rc = rn_json_parse(t, strlen(t), NULL, &d, &err);
    ck_assert_msg(rc != 0, "'%s' accepted", t);
    ck_assert_ptr_null(d);
    ck_assert_int_eq(err.code, rc);
    ck_assert_msg(err.msg[0], "no message for '%s'", t);
    char want[32];
    snprintf(want, sizeof want, "(byte %zu)", rejected[_i].offset);
    ck_assert_msg(strstr(err.msg, want), "'%s': message '%s' does not say %s", t, err.msg, want);
    ck_assert_int_ge(err.line, 1);
    ck_assert_int_ge(err.column, 1);
}
END_TEST

START_TEST(parser_error_has_line_and_column)
{
    const char *t = "{\n  \"a\": 1,\n  \"b\": tru\n}";
    rn_json_doc *d;
    struct rn_error err;
    ck_assert_int_eq(rn_json_parse(t, strlen(t), NULL, &d, &err), RN_EINVAL);
    ck_assert_int_eq(err.line, 3);
    ck_assert_int_eq(err.column, 8);
}
END_TEST

START_TEST(parser_enforces_the_depth_limit)
{
    char deep[RN_JSON_MAX_DEPTH * 2 + 3];
    /* exactly the limit: accepted */
    size_t n = 0;
    for (int i = 0; i < RN_JSON_MAX_DEPTH; i++) deep[n++] = '[';
    for (int i = 0; i < RN_JSON_MAX_DEPTH; i++) deep[n++] = ']';
    rn_json_doc *d;
    struct rn_error err;
    ck_assert_msg(rn_json_parse(deep, n, NULL, &d, &err) == 0, "%s", err.msg);
    rn_json_doc_free(d);
    /* one more: refused, and without recursing on (a huge depth must not overflow the stack) */
    n = 0;
    for (int i = 0; i <= RN_JSON_MAX_DEPTH; i++) deep[n++] = '[';
    for (int i = 0; i <= RN_JSON_MAX_DEPTH; i++) deep[n++] = ']';
    ck_assert_int_eq(rn_json_parse(deep, n, NULL, &d, &err), RN_ERANGE);
    ck_assert_ptr_null(d);
    size_t big = 1u << 20;
    char *many = malloc(big);
    memset(many, '[', big);
    ck_assert_int_eq(rn_json_parse(many, big, NULL, &d, &err), RN_ERANGE);
    free(many);
    /* a lower limit of the caller's */
    struct rn_json_limits lim = {.max_depth = 2};
    ck_assert_int_eq(rn_json_parse("[[1]]", 5, &lim, &d, &err), 0);
    rn_json_doc_free(d);
    ck_assert_int_eq(rn_json_parse("[[[1]]]", 7, &lim, &d, &err), RN_ERANGE);
}
END_TEST

START_TEST(parser_enforces_the_size_limit)
{
    struct rn_json_limits lim = {.max_size = 8};
    rn_json_doc *d;
    struct rn_error err;
    ck_assert_int_eq(rn_json_parse("[1,2,3]", 7, &lim, &d, &err), 0);
    rn_json_doc_free(d);
    ck_assert_int_eq(rn_json_parse("[1,2,3,4]", 9, &lim, &d, &err), RN_ERANGE);
    ck_assert_ptr_null(d);
    ck_assert_ptr_nonnull(strstr(err.msg, "limit"));
}
END_TEST

START_TEST(parser_does_not_read_past_the_given_length)
{
    /* the text is not NUL-terminated where the length ends */
    const char text[] = "[1,2]garbage";
    rn_json_doc *d;
    struct rn_error err;
    ck_assert_int_eq(rn_json_parse(text, 5, NULL, &d, &err), 0);
    ck_assert_uint_eq(rn_json_count(rn_json_root(d)), 2);
    rn_json_doc_free(d);
    ck_assert_int_eq(rn_json_parse("\"abc\"", 4, NULL, &d, &err), RN_EINVAL);   /* unterminated */
    ck_assert_int_eq(rn_json_parse("truex", 3, NULL, &d, &err), RN_EINVAL);
}
END_TEST

START_TEST(lookups_find_members_items_and_strings)
{
    rn_json_doc *d = parse_ok("{\"jobs\":[{\"id\":\"0123\",\"name\":\"wc\",\"start_time\":1700000000000,\"end_time\":-1,"
                              "\"rate\":2.5,\"ok\":true,\"error\":null}],\"n\":1}");
    const rn_json *root = rn_json_root(d);
    ck_assert_int_eq(rn_json_type_of(root), RN_JSON_OBJECT);
    ck_assert_uint_eq(rn_json_count(root), 2);
    const rn_json *jobs = rn_json_get(root, "jobs");
    ck_assert_int_eq(rn_json_type_of(jobs), RN_JSON_ARRAY);
    ck_assert_uint_eq(rn_json_count(jobs), 1);
    const rn_json *j = rn_json_at(jobs, 0);
    ck_assert_str_eq(rn_json_get_str(j, "id"), "0123");
    ck_assert_str_eq(rn_json_get_str(j, "name"), "wc");
    int64_t t;
    ck_assert_int_eq(rn_json_as_int(rn_json_get(j, "start_time"), &t), 0);
    ck_assert_int_eq(t, 1700000000000LL);
    ck_assert_int_eq(rn_json_as_int(rn_json_get(j, "end_time"), &t), 0);
    ck_assert_int_eq(t, -1);
    double r;
    ck_assert_int_eq(rn_json_as_double(rn_json_get(j, "rate"), &r), 0);
    ck_assert(r == 2.5);
    ck_assert_int_eq(rn_json_as_int(rn_json_get(j, "rate"), &t), RN_ERANGE);   /* not an integer */
    bool ok;
    ck_assert_int_eq(rn_json_as_bool(rn_json_get(j, "ok"), &ok), 0);
    ck_assert(ok);
    ck_assert(rn_json_is_null(rn_json_get(j, "error")));
    ck_assert_ptr_null(rn_json_get_str(j, "error"));
    /* missing things chain to "not there" */
    ck_assert_ptr_null(rn_json_get(j, "nope"));
    ck_assert_ptr_null(rn_json_at(jobs, 1));
    ck_assert_ptr_null(rn_json_get(jobs, "id"));   /* not an object */
    ck_assert_ptr_null(rn_json_get_str(rn_json_at(rn_json_get(root, "missing"), 3), "id"));
    ck_assert_int_eq(rn_json_as_int(rn_json_get(j, "nope"), &t), RN_ENOTFOUND);
    ck_assert_int_eq(rn_json_as_int(rn_json_get(j, "name"), &t), RN_ETYPE);
    ck_assert_int_eq(rn_json_type_of(NULL), RN_JSON_NONE);
    ck_assert_str_eq(rn_json_type_name(rn_json_type_of(jobs)), "array");
    /* members in document order */
    const char *key;
    size_t klen;
    ck_assert_ptr_eq(rn_json_member(root, 1, &key, &klen), rn_json_get(root, "n"));
    ck_assert_str_eq(key, "n");
    ck_assert_uint_eq(klen, 1);
    ck_assert_ptr_null(rn_json_member(root, 2, &key, &klen));
    rn_json_doc_free(d);
}
END_TEST

START_TEST(big_objects_are_looked_up_and_duplicate_keys_refused)
{
    struct rn_json_builder b;
    rn_json_init(&b);
    rn_json_obj_begin(&b);
    for (int i = 999; i >= 0; i--) {
        char k[16];
        snprintf(k, sizeof k, "k%d", i);
        rn_json_kint(&b, k, i);
    }
    rn_json_obj_end(&b);
    rn_json_doc *d = parse_ok(built(&b));
    const rn_json *root = rn_json_root(d);
    ck_assert_uint_eq(rn_json_count(root), 1000);
    for (int i = 0; i < 1000; i++) {
        char k[16];
        snprintf(k, sizeof k, "k%d", i);
        int64_t v;
        ck_assert_int_eq(rn_json_as_int(rn_json_get(root, k), &v), 0);
        ck_assert_int_eq(v, i);
    }
    ck_assert_ptr_null(rn_json_get(root, "k1000"));
    ck_assert_ptr_null(rn_json_get(root, "k"));
    /* order is the document's */
    const char *key;
    rn_json_member(root, 0, &key, NULL);
    ck_assert_str_eq(key, "k999");
    rn_json_doc_free(d);
    /* a duplicate among many */
    rn_json_reset(&b);
    rn_json_obj_begin(&b);
    for (int i = 0; i < 50; i++) {
        char k[16];
        snprintf(k, sizeof k, "k%d", i == 40 ? 7 : i);
        rn_json_kint(&b, k, i);
    }
    rn_json_obj_end(&b);
    struct rn_error err;
    ck_assert_int_eq(rn_json_parse(built(&b), b.len, NULL, &d, &err), RN_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "duplicate"));
    rn_json_release(&b);
}
END_TEST

START_TEST(strings_decode_escapes_and_surrogate_pairs)
{
    rn_json_doc *d = parse_ok("[\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\", \"\\u00e9\\u20ac\\ud83d\\ude00\", \"x\\u0000y\"]");
    const rn_json *root = rn_json_root(d);
    size_t n;
    ck_assert_str_eq(rn_json_as_str(rn_json_at(root, 0), &n), "a\"b\\c/d\b\f\n\r\t");
    ck_assert_str_eq(rn_json_as_str(rn_json_at(root, 1), &n), "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
    ck_assert_uint_eq(n, 9);
    const char *s = rn_json_as_str(rn_json_at(root, 2), &n);
    ck_assert_uint_eq(n, 3);
    ck_assert(s[0] == 'x' && s[1] == 0 && s[2] == 'y');
    rn_json_doc_free(d);
    /* a key holding a NUL is not a C string */
    d = parse_ok("{\"s\":\"a\\u0000b\"}");
    ck_assert_ptr_null(rn_json_get_str(rn_json_root(d), "s"));
    ck_assert_ptr_nonnull(rn_json_as_str(rn_json_get(rn_json_root(d), "s"), NULL));
    rn_json_doc_free(d);
}
END_TEST

START_TEST(numbers_convert_to_the_asked_type_or_say_why_not)
{
    rn_json_doc *d = parse_ok("[9223372036854775807, -9223372036854775808, 18446744073709551615, 1e3, 2.0, -1, 1e30, 0.5, true]");
    const rn_json *r = rn_json_root(d);
    int64_t i;
    uint64_t u;
    double x;
    ck_assert_int_eq(rn_json_as_int(rn_json_at(r, 0), &i), 0);
    ck_assert_int_eq(i, INT64_MAX);
    ck_assert_int_eq(rn_json_as_int(rn_json_at(r, 1), &i), 0);
    ck_assert_int_eq(i, INT64_MIN);
    ck_assert_int_eq(rn_json_as_int(rn_json_at(r, 2), &i), RN_ERANGE);
    ck_assert_int_eq(rn_json_as_uint(rn_json_at(r, 2), &u), 0);
    ck_assert_uint_eq(u, UINT64_MAX);
    ck_assert_int_eq(rn_json_as_int(rn_json_at(r, 3), &i), 0);
    ck_assert_int_eq(i, 1000);
    ck_assert_int_eq(rn_json_as_int(rn_json_at(r, 4), &i), 0);
    ck_assert_int_eq(i, 2);
    ck_assert_int_eq(rn_json_as_uint(rn_json_at(r, 5), &u), RN_ERANGE);
    ck_assert_int_eq(rn_json_as_int(rn_json_at(r, 6), &i), RN_ERANGE);
    ck_assert_int_eq(rn_json_as_double(rn_json_at(r, 6), &x), 0);
    ck_assert(x == 1e30);
    ck_assert_int_eq(rn_json_as_int(rn_json_at(r, 7), &i), RN_ERANGE);
    ck_assert_int_eq(rn_json_as_double(rn_json_at(r, 8), &x), RN_ETYPE);
    /* integers past 64 bits still read as doubles */
    rn_json_doc_free(d);
    d = parse_ok("123456789012345678901234567890");
    ck_assert_int_eq(rn_json_as_double(rn_json_root(d), &x), 0);
    ck_assert(fabs(x - 1.2345678901234568e29) < 1e15);
    ck_assert_int_eq(rn_json_as_int(rn_json_root(d), &i), RN_ERANGE);
    rn_json_doc_free(d);
}
END_TEST

START_TEST(parser_reads_back_what_the_builder_wrote)
{
    struct rn_json_builder b;
    rn_json_init(&b);
    /* every byte value in a string survives a round trip once it is valid UTF-8 */
    char all[128];
    for (int i = 0; i < 128; i++) all[i] = (char)i;
    rn_json_obj_begin(&b);
    rn_json_key(&b, "ascii");
    rn_json_strn(&b, all, sizeof all);
    rn_json_kstr(&b, "utf8", "\xe6\x97\xa5\xe6\x9c\xac");
    rn_json_kint(&b, "neg", -42);
    rn_json_kdouble(&b, "pi", 3.141592653589793);
    rn_json_obj_end(&b);
    rn_json_doc *d = parse_ok(built(&b));
    size_t n;
    const char *s = rn_json_as_str(rn_json_get(rn_json_root(d), "ascii"), &n);
    ck_assert_uint_eq(n, sizeof all);
    ck_assert(!memcmp(s, all, sizeof all));
    ck_assert_str_eq(rn_json_get_str(rn_json_root(d), "utf8"), "\xe6\x97\xa5\xe6\x9c\xac");
    double pi;
    ck_assert_int_eq(rn_json_as_double(rn_json_get(rn_json_root(d), "pi"), &pi), 0);
    ck_assert(pi == 3.141592653589793);
    rn_json_doc_free(d);
    rn_json_release(&b);
}
END_TEST

START_TEST(parser_survives_a_large_array_of_small_values)
{
    size_t n = 200000;
    char *t = malloc(2 * n + 2);
    size_t k = 0;
    t[k++] = '[';
    for (size_t i = 0; i < n; i++) {
        t[k++] = (char)('0' + i % 10);
        t[k++] = i + 1 < n ? ',' : ']';
    }
    rn_json_doc *d;
    struct rn_error err;
    ck_assert_int_eq(rn_json_parse(t, k, NULL, &d, &err), 0);
    ck_assert_uint_eq(rn_json_count(rn_json_root(d)), n);
    int64_t v;
    ck_assert_int_eq(rn_json_as_int(rn_json_at(rn_json_root(d), n - 1), &v), 0);
    ck_assert_int_eq(v, (int64_t)((n - 1) % 10));
    rn_json_doc_free(d);
    free(t);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("json");
    TCase *tb = tcase_create("builder");
    tcase_add_test(tb, builder_places_commas_and_colons_in_nested_containers);
    tcase_add_test(tb, builder_escapes_quotes_backslashes_and_control_characters);
    tcase_add_test(tb, builder_keeps_valid_utf8_and_replaces_invalid_bytes);
    tcase_add_test(tb, builder_writes_integers_at_their_limits);
    tcase_add_test(tb, builder_doubles_read_back_exactly_and_non_finite_are_null);
    tcase_add_test(tb, builder_reports_misuse_and_incomplete_documents);
    tcase_add_test(tb, builder_take_hands_over_the_text);
    tcase_add_test(tb, escape_append_escapes_into_a_plain_buffer);
    suite_add_tcase(s, tb);
    TCase *tp = tcase_create("parser");
    tcase_add_loop_test(tp, parser_accepts_valid_texts, 0, (int)(sizeof accepted / sizeof accepted[0]));
    tcase_add_loop_test(tp, parser_rejects_invalid_texts_with_the_byte_offset, 0, (int)(sizeof rejected / sizeof rejected[0]));
    tcase_add_test(tp, parser_error_has_line_and_column);
    tcase_add_test(tp, parser_enforces_the_depth_limit);
    tcase_add_test(tp, parser_enforces_the_size_limit);
    tcase_add_test(tp, parser_does_not_read_past_the_given_length);
    tcase_add_test(tp, lookups_find_members_items_and_strings);
    tcase_add_test(tp, big_objects_are_looked_up_and_duplicate_keys_refused);
    tcase_add_test(tp, strings_decode_escapes_and_surrogate_pairs);
    tcase_add_test(tp, numbers_convert_to_the_asked_type_or_say_why_not);
    tcase_add_test(tp, parser_reads_back_what_the_builder_wrote);
    tcase_add_test(tp, parser_survives_a_large_array_of_small_values);
    suite_add_tcase(s, tp);
    return s;
}

TU_MAIN(make_suite)
