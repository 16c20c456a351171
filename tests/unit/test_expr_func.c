/*
 * test_expr_func.c — Check suite "expr_func": every function of the expression language's
 * function table in docs/job-spec.md (normal values, nulls, and the edge cases the table names),
 * and the build-time errors for wrong argument types, wrong argument counts and non-constant
 * arguments where a constant is required.
 *
 * Values are evaluated both from constants and from columns (a constant-folding path and a
 * vectorised kernel can differ). Uses only the public API and testutil.h; now() is driven through
 * rn_expr_set_clock.
 */
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* ---- helpers ---- */

#define SCHEMA "i:int64, d:double, s:string, s2:string, t:timestamp, n:int64, nd:double, " \
               "ns:string, nt:timestamp, u:string, neg:int64, z:int64, f:bool"
#define ROW "7, 2.5, abc, abd, 12345, NULL, NULL, NULL, NULL, héllo, -3, 0, true"

static struct rn_batch *default_batch(void)
{
    static struct rn_batch *b;
    if (!b) b = tu_batch(SCHEMA, ROW);
    return b;
}

static struct tu_val ev(const char *src) { return tu_eval_on(default_batch(), src, 0); }


/* src must not compile against the default schema; the error carries a code, a position and a
 * message. */
static struct rn_error expect_error(const char *src)
{
    rn_schema *s = tu_schema(SCHEMA);
    rn_expr *e = NULL;
    struct rn_error err;
    memset(&err, 0, sizeof err);
    int rc = rn_expr_compile(src, s, &e, &err);
    if (rc == 0) rn_expr_destroy(e);
    ck_assert_msg(rc < 0, "'%s' compiled; it should be an error", src);
    ck_assert_msg(err.code == rc, "'%s': err.code %d, returned %d", src, err.code, rc);
    ck_assert_msg(err.msg[0] != 0, "'%s': empty error message", src);
    ck_assert_msg(err.line >= 1 && err.column >= 1, "'%s': no position: %s", src, err.msg);
    rn_schema_unref(s);
    return err;
}

#define TS_2026 1795354680000LL /* 2026-11-22T13:38:00Z */

/* ---- abs ---- */

START_TEST(test_abs_int)
{
    expect_i64("abs(-3)", 3);
    expect_i64("abs(neg)", 3);
    expect_i64("abs(i)", 7);
    expect_i64("abs(0)", 0);
}
END_TEST

START_TEST(test_abs_double)
{
    expect_f64("abs(-2.5)", 2.5);
    expect_f64("abs(d)", 2.5);
}
END_TEST

START_TEST(test_abs_int_min_wraps_to_itself)
{
    expect_i64("abs(-9223372036854775808)", INT64_MIN);
    expect_rows("x:int64", "-9223372036854775808; -5; 5; NULL", "abs(x)", "int64",
                "-9223372036854775808; 5; 5; NULL");
}
END_TEST

START_TEST(test_abs_null)
{
    expect_null("abs(n)", RN_T_INT64);
    expect_null("abs(nd)", RN_T_DOUBLE);
}
END_TEST

START_TEST(test_abs_wrong_type_is_error)
{
    expect_error("abs('x')");
    expect_error("abs(f)");
    expect_error("abs(t)");
}
END_TEST

/* ---- round ---- */

START_TEST(test_round_half_away_from_zero)
{
    expect_f64("round(2.5)", 3.0);
    expect_f64("round(-2.5)", -3.0);
    expect_f64("round(0.5)", 1.0);
    expect_f64("round(-0.5)", -1.0);
    expect_f64("round(1.5)", 2.0);
    expect_f64("round(2.4)", 2.0);
    expect_f64("round(-2.6)", -3.0);
    expect_f64("round(d)", 3.0);
}
END_TEST

START_TEST(test_round_int_keeps_type)
{
    expect_i64("round(7)", 7);
    expect_i64("round(neg)", -3);
}
END_TEST

START_TEST(test_round_to_digits_is_double)
{
    expect_f64("round(1.25, 1)", 1.3);
    expect_f64("round(-1.25, 1)", -1.3);
    expect_f64("round(1.2345, 2)", 1.23);
    expect_f64("round(d, 0)", 3.0);
    expect_f64("round(7, 1)", 7.0);
}
END_TEST

START_TEST(test_round_negative_digits)
{
    expect_f64("round(1234.5678, -2)", 1200.0);
    expect_f64("round(1250, -2)", 1300.0);
    expect_f64("round(-1250, -2)", -1300.0);
    expect_f64("round(15, -1)", 20.0);
    expect_f64("round(i, -1)", 10.0);
}
END_TEST

START_TEST(test_round_null)
{
    expect_null("round(nd)", RN_T_DOUBLE);
    expect_null("round(n)", RN_T_INT64);
    expect_null("round(nd, 1)", RN_T_DOUBLE);
    expect_null("round(2.5, n)", RN_T_DOUBLE);
}
END_TEST

START_TEST(test_round_wrong_type_is_error)
{
    expect_error("round('x')");
    expect_error("round(d, 'a')");
    expect_error("round(f)");
}
END_TEST

/* ---- floor, ceil ---- */

START_TEST(test_floor_double)
{
    expect_f64("floor(2.7)", 2.0);
    expect_f64("floor(-2.1)", -3.0);
    expect_f64("floor(d)", 2.0);
    expect_f64("floor(-0.5)", -1.0);
}
END_TEST

START_TEST(test_ceil_double)
{
    expect_f64("ceil(2.1)", 3.0);
    expect_f64("ceil(-2.7)", -2.0);
    expect_f64("ceil(d)", 3.0);
}
END_TEST

START_TEST(test_floor_ceil_identity_on_int)
{
    expect_i64("floor(7)", 7);
    expect_i64("ceil(neg)", -3);
    expect_i64("floor(i)", 7);
    expect_i64("ceil(9223372036854775807)", INT64_MAX);
}
END_TEST

START_TEST(test_floor_ceil_null)
{
    expect_null("floor(nd)", RN_T_DOUBLE);
    expect_null("ceil(n)", RN_T_INT64);
}
END_TEST

START_TEST(test_floor_ceil_wrong_type_is_error)
{
    expect_error("floor('x')");
    expect_error("ceil(t)");
}
END_TEST

/* ---- sqrt, ln, exp, power ---- */

START_TEST(test_sqrt)
{
    expect_f64("sqrt(4.0)", 2.0);
    expect_f64("sqrt(16)", 4.0);
    expect_f64("sqrt(2)", sqrt(2.0));
    expect_f64("sqrt(d)", sqrt(2.5));
}
END_TEST

START_TEST(test_sqrt_outside_domain_is_nan)
{
    expect_f64("sqrt(-1)", NAN);
    expect_f64("sqrt(neg)", NAN);
}
END_TEST

START_TEST(test_ln)
{
    expect_f64("ln(1)", 0.0);
    expect_f64("ln(exp(2))", 2.0);
    expect_f64("ln(d)", log(2.5));
}
END_TEST

START_TEST(test_ln_outside_domain_is_nan)
{
    expect_f64("ln(-1)", NAN);
    expect_f64("ln(neg)", NAN);
}
END_TEST

START_TEST(test_exp)
{
    expect_f64("exp(0)", 1.0);
    expect_f64("exp(1)", exp(1.0));
    expect_f64("exp(d)", exp(2.5));
}
END_TEST

START_TEST(test_power)
{
    expect_f64("power(2, 10)", 1024.0);
    expect_f64("power(2, -1)", 0.5);
    expect_f64("power(4, 0.5)", 2.0);
    expect_f64("power(d, 2)", 6.25);
    expect_f64("power(i, z)", 1.0);
}
END_TEST

START_TEST(test_math_functions_null)
{
    expect_null("sqrt(nd)", RN_T_DOUBLE);
    expect_null("sqrt(n)", RN_T_DOUBLE);
    expect_null("ln(nd)", RN_T_DOUBLE);
    expect_null("exp(n)", RN_T_DOUBLE);
    expect_null("power(n, 2)", RN_T_DOUBLE);
    expect_null("power(2, nd)", RN_T_DOUBLE);
}
END_TEST

START_TEST(test_math_functions_wrong_type_is_error)
{
    expect_error("sqrt('x')");
    expect_error("ln(f)");
    expect_error("exp(s)");
    expect_error("power('a', 1)");
    expect_error("power(1, s)");
}
END_TEST

/* ---- mod ---- */

START_TEST(test_mod_like_percent)
{
    expect_i64("mod(7, 3)", 1);
    expect_i64("mod(-7, 3)", -1);
    expect_i64("mod(7, -3)", 1);
    expect_i64("mod(i, neg)", 1);
    expect_f64("mod(7.5, 2)", 1.5);
}
END_TEST

START_TEST(test_mod_by_zero_is_null)
{
    expect_null("mod(7, 0)", RN_T_INT64);
    expect_null("mod(i, z)", RN_T_INT64);
}
END_TEST

START_TEST(test_mod_null)
{
    expect_null("mod(n, 2)", RN_T_INT64);
    expect_null("mod(2, n)", RN_T_INT64);
}
END_TEST

START_TEST(test_mod_wrong_type_is_error)
{
    expect_error("mod('a', 2)");
    expect_error("mod(f, 2)");
}
END_TEST

/* ---- lower, upper ---- */

START_TEST(test_lower_upper_ascii)
{
    expect_str("lower('AbC')", "abc");
    expect_str("upper('AbC')", "ABC");
    expect_str("upper(s)", "ABC");
    expect_str("lower('Hello World 123!')", "hello world 123!");
    expect_str("upper('')", "");
}
END_TEST

START_TEST(test_lower_upper_leave_non_ascii_bytes)
{
    expect_str("upper('straße')", "STRAßE");
    expect_str("upper(u)", "HéLLO");
    expect_str("lower('ÉCOLE')", "École");
    expect_str("upper('日本a')", "日本A");
}
END_TEST

START_TEST(test_lower_upper_over_rows)
{
    expect_rows("x:string", "MiXeD; NULL; ÀB", "lower(x)", "string", "mixed; NULL; Àb");
}
END_TEST

START_TEST(test_lower_upper_null)
{
    expect_null("lower(ns)", RN_T_STRING);
    expect_null("upper(ns)", RN_T_STRING);
}
END_TEST

START_TEST(test_lower_upper_wrong_type_is_error)
{
    expect_error("lower(1)");
    expect_error("upper(f)");
}
END_TEST

/* ---- length ---- */

START_TEST(test_length_ascii)
{
    expect_i64("length('abc')", 3);
    expect_i64("length(s)", 3);
    expect_i64("length('')", 0);
}
END_TEST

START_TEST(test_length_counts_utf8_code_points)
{
    expect_i64("length('héllo')", 5);
    expect_i64("length(u)", 5);
    expect_i64("length('日本語')", 3);
    expect_i64("length('a😀b')", 3);
}
END_TEST

START_TEST(test_length_null)
{
    expect_null("length(ns)", RN_T_INT64);
}
END_TEST

START_TEST(test_length_wrong_type_is_error)
{
    expect_error("length(1)");
    expect_error("length(t)");
}
END_TEST

/* ---- substr ---- */

START_TEST(test_substr_from_start)
{
    expect_str("substr('hello', 2)", "ello");
    expect_str("substr('hello', 1)", "hello");
    expect_str("substr(s, 2)", "bc");
}
END_TEST

START_TEST(test_substr_with_length)
{
    expect_str("substr('hello', 2, 3)", "ell");
    expect_str("substr('hello', 1, 100)", "hello");
    expect_str("substr('hello', 3, 0)", "");
}
END_TEST

START_TEST(test_substr_negative_start_counts_from_end)
{
    expect_str("substr('hello', -1)", "o");
    expect_str("substr('hello', -3, 2)", "ll");
    expect_str("substr('hello', -5)", "hello");
}
END_TEST

START_TEST(test_substr_start_zero_is_one)
{
    expect_str("substr('hello', 0)", "hello");
    expect_str("substr('hello', 0, 2)", "he");
}
END_TEST

START_TEST(test_substr_negative_length_is_empty)
{
    expect_str("substr('hello', 2, -1)", "");
    expect_str("substr(s, 1, -5)", "");
}
END_TEST

START_TEST(test_substr_past_end_is_empty)
{
    expect_str("substr('hello', 10)", "");
    expect_str("substr('hello', 6)", "");
}
END_TEST

START_TEST(test_substr_counts_utf8_characters)
{
    expect_str("substr('héllo', 2, 2)", "él");
    expect_str("substr('héllo', -4, 1)", "é");
    expect_str("substr('日本語', 2)", "本語");
    expect_str("substr(u, 2, 1)", "é");
}
END_TEST

START_TEST(test_substr_null)
{
    expect_null("substr(ns, 1)", RN_T_STRING);
    expect_null("substr('hello', n)", RN_T_STRING);
    expect_null("substr('hello', 1, n)", RN_T_STRING);
}
END_TEST

START_TEST(test_substr_over_rows)
{
    expect_rows("x:string, p:int64", "hello, 2; world, -2; NULL, 1; ab, 0; xyz, NULL", "substr(x, p)",
                "string", "ello; ld; NULL; ab; NULL");
    expect_rows("x:string, p:int64", "hello, 2; abc, 5; xyz, NULL", "substr(x, 1, p)", "string",
                "he; abc; NULL");
}
END_TEST

START_TEST(test_substr_wrong_type_is_error)
{
    expect_error("substr(1, 2)");
    expect_error("substr('a', 'b')");
    expect_error("substr('a', 1, 'c')");
}
END_TEST

/* ---- concat ---- */

START_TEST(test_concat_strings)
{
    expect_str("concat('a', 'b', 'c')", "abc");
    expect_str("concat(s, '-', s2)", "abc-abd");
    expect_str("concat('', '')", "");
}
END_TEST

START_TEST(test_concat_casts_non_strings)
{
    expect_str("concat('x', 1)", "x1");
    expect_str("concat('v', 1.5)", "v1.5");
    expect_str("concat(TRUE, '!')", "true!");
    expect_str("concat(i, d)", "72.5");
    expect_str("concat('t=', CAST(0 AS timestamp))", "t=1970-01-01T00:00:00.000Z");
    expect_str("concat(neg, f)", "-3true");
}
END_TEST

START_TEST(test_concat_null_if_any_argument_null)
{
    expect_null("concat('a', ns)", RN_T_STRING);
    expect_null("concat('a', n)", RN_T_STRING);
    expect_null("concat(ns, 'b', 'c')", RN_T_STRING);
    expect_rows("x:string, y:int64", "a, 1; NULL, 2; c, NULL", "concat(x, '/', y)", "string",
                "a/1; NULL; NULL");
}
END_TEST

/* ---- split_index ---- */

START_TEST(test_split_index_pieces)
{
    expect_str("split_index('a/b/c', '/', 0)", "a");
    expect_str("split_index('a/b/c', '/', 1)", "b");
    expect_str("split_index('a/b/c', '/', 2)", "c");
    expect_str("split_index('http://x.com/a/b', '/', 3)", "a");
}
END_TEST

START_TEST(test_split_index_out_of_range_is_null)
{
    expect_null("split_index('a/b/c', '/', 3)", RN_T_STRING);
    expect_null("split_index('a/b/c', '/', 100)", RN_T_STRING);
    expect_null("split_index('abc', '/', 1)", RN_T_STRING);
}
END_TEST

START_TEST(test_split_index_negative_is_null)
{
    expect_null("split_index('a/b/c', '/', -1)", RN_T_STRING);
    expect_null("split_index('a/b/c', '/', neg)", RN_T_STRING);
}
END_TEST

START_TEST(test_split_index_empty_pieces)
{
    expect_str("split_index('a//b', '/', 1)", "");
    expect_str("split_index('a//b', '/', 2)", "b");
    expect_str("split_index('/a', '/', 0)", "");
    expect_str("split_index('a/', '/', 1)", "");
}
END_TEST

START_TEST(test_split_index_no_delimiter_is_whole_string)
{
    expect_str("split_index('abc', '/', 0)", "abc");
    expect_str("split_index(s, '/', 0)", "abc");
}
END_TEST

START_TEST(test_split_index_multibyte_delimiter)
{
    expect_str("split_index('a::b::c', '::', 2)", "c");
    expect_str("split_index('a:b::c', '::', 0)", "a:b");
    expect_str("split_index('xéyéz', 'é', 1)", "y");
}
END_TEST

START_TEST(test_split_index_null)
{
    expect_null("split_index(ns, '/', 0)", RN_T_STRING);
    expect_null("split_index('a/b', '/', n)", RN_T_STRING);
    expect_null("split_index('a/b', ns, 0)", RN_T_STRING);
}
END_TEST

START_TEST(test_split_index_over_rows)
{
    expect_rows("x:string, k:int64", "a.b.c, 1; x.y, 2; NULL, 0; p.q, 0; m.n, -1", "split_index(x, '.', k)",
                "string", "b; NULL; NULL; p; NULL");
}
END_TEST

START_TEST(test_split_index_wrong_type_is_error)
{
    expect_error("split_index('a', '/', 'x')");
    expect_error("split_index(1, '/', 0)");
    expect_error("split_index('a', 1, 0)");
}
END_TEST

/* ---- replace ---- */

START_TEST(test_replace_every_occurrence)
{
    expect_str("replace('a/b/c', '/', '::')", "a::b::c");
    expect_str("replace('aaaa', 'aa', 'b')", "bb");          /* left to right, not overlapping */
    expect_str("replace('aaa', 'aa', 'b')", "ba");
    expect_str("replace('abc', 'abc', '')", "");
    expect_str("replace(s, 'b', 'XYZ')", "aXYZc");
}
END_TEST

START_TEST(test_replace_without_occurrence_is_the_string)
{
    expect_str("replace('abc', 'x', 'y')", "abc");
    expect_str("replace('abc', '', 'y')", "abc");             /* an empty search string matches nothing */
    expect_str("replace('', 'a', 'b')", "");
}
END_TEST

START_TEST(test_replace_counts_characters)
{
    /* count_char(s, 'c') of Nexmark q14, as the expression language writes it */
    expect_i64("length('cacbcc') - length(replace('cacbcc', 'c', ''))", 4);
    expect_str("replace(u, 'é', 'e')", "hello");
}
END_TEST

START_TEST(test_replace_null)
{
    expect_null("replace(ns, 'a', 'b')", RN_T_STRING);
    expect_null("replace('a', ns, 'b')", RN_T_STRING);
    expect_null("replace('a', 'a', ns)", RN_T_STRING);
}
END_TEST

START_TEST(test_replace_over_rows)
{
    expect_rows("x:string, f:string, t:string", "a-b, -, +; a--b, -, x; abc, z, y; NULL, a, b; xyx, x, yy; q, NULL, r",
                "replace(x, f, t)", "string", "a+b; axxb; abc; NULL; yyyyy; NULL");
}
END_TEST

START_TEST(test_replace_wrong_type_is_error)
{
    expect_error("replace(1, 'a', 'b')");
    expect_error("replace('a', 1, 'b')");
    expect_error("replace('a', 'b', 1)");
    expect_error("replace('a', 'b')");
}
END_TEST

/* ---- regexp_match ---- */

START_TEST(test_regexp_match_anywhere)
{
    expect_bool("regexp_match('abc123', '[0-9]+')", true);
    expect_bool("regexp_match('xabcx', 'abc')", true);
    expect_bool("regexp_match('abc', '^b')", false);
    expect_bool("regexp_match('abc', 'x')", false);
    expect_bool("regexp_match(s, '^a.c$')", true);
}
END_TEST

START_TEST(test_regexp_match_is_extended_syntax)
{
    expect_bool("regexp_match('aaa', '^a{3}$')", true);
    expect_bool("regexp_match('cat', '^(dog|cat)$')", true);
    expect_bool("regexp_match('abab', '^(ab)+$')", true);
    expect_bool("regexp_match('a+b', 'a[+]b')", true);
    expect_bool("regexp_match('ab', 'a?b')", true);
}
END_TEST

START_TEST(test_regexp_match_null)
{
    expect_null("regexp_match(ns, 'a')", RN_T_BOOL);
}
END_TEST

START_TEST(test_regexp_match_over_rows)
{
    expect_rows("x:string", "order-12; none; NULL; 7", "regexp_match(x, '[0-9]$')", "bool",
                "true; false; NULL; true");
}
END_TEST

START_TEST(test_regexp_match_pattern_must_be_constant)
{
    expect_error("regexp_match(s, s2)");
}
END_TEST

START_TEST(test_regexp_match_invalid_pattern_is_error)
{
    expect_error("regexp_match(s, '(ab')");
    expect_error("regexp_match(s, '[a')");
}
END_TEST

START_TEST(test_regexp_match_refuses_pattern_expanding_too_far)
{
    /* glibc would build 16M nodes (gigabytes) for the first: found by fuzz_expr_parse */
    struct rn_error e = expect_error("regexp_match(s, '((a{255}){255}){255}')");
    ck_assert_ptr_nonnull(strstr(e.msg, "too large"));
    expect_error("regexp_match(s, '(.{200}){200}')");
    expect_error("regexp_match(s, 'a++++++++++++++++++++++++++++++++++++++++')");
    expect_error("regexp_match(s, '((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((a)))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))')");
    expect_bool("regexp_match('aaa', '^(a{1,3}){1,5}[[:alpha:]]{0,100}$')", true);
    expect_bool("regexp_match('a{', 'a[{]')", true);
}
END_TEST

START_TEST(test_regexp_match_wrong_type_is_error)
{
    expect_error("regexp_match(1, 'a')");
    expect_error("regexp_match(s, 1)");
}
END_TEST

/* ---- regexp_extract ---- */

START_TEST(test_regexp_extract_default_group_is_one)
{
    expect_str("regexp_extract('abc123def', '([0-9]+)')", "123");
    expect_str("regexp_extract('abc123def', '[a-z]([0-9]+)')", "123");
}
END_TEST

START_TEST(test_regexp_extract_group_zero_is_whole_match)
{
    expect_str("regexp_extract('abc123def', '[a-z]([0-9]+)', 0)", "c123");
    expect_str("regexp_extract('abc123def', '[0-9]+', 0)", "123");
}
END_TEST

START_TEST(test_regexp_extract_numbered_group)
{
    expect_str("regexp_extract('k=v', '(.*)=(.*)', 2)", "v");
    expect_str("regexp_extract('k=v', '(.*)=(.*)', 1)", "k");
}
END_TEST

START_TEST(test_regexp_extract_first_match)
{
    expect_str("regexp_extract('a1b22', '([0-9]+)')", "1");
}
END_TEST

START_TEST(test_regexp_extract_no_match_is_null)
{
    expect_null("regexp_extract('abc', '([0-9]+)')", RN_T_STRING);
    expect_null("regexp_extract(s, 'x(y)', 0)", RN_T_STRING);
}
END_TEST

START_TEST(test_regexp_extract_non_participating_group_is_null)
{
    expect_null("regexp_extract('ab', 'a(x)?b', 1)", RN_T_STRING);
    expect_null("regexp_extract('b', '(a)|(b)', 1)", RN_T_STRING);
    expect_str("regexp_extract('b', '(a)|(b)', 2)", "b");
}
END_TEST

START_TEST(test_regexp_extract_empty_group_is_empty_string)
{
    expect_str("regexp_extract('ab', 'a(x*)b', 1)", "");
}
END_TEST

START_TEST(test_regexp_extract_null)
{
    expect_null("regexp_extract(ns, '(a)')", RN_T_STRING);
}
END_TEST

START_TEST(test_regexp_extract_over_rows)
{
    expect_rows("x:string", "id=42; id=; NULL; no; id=7x", "regexp_extract(x, 'id=([0-9]+)')",
                "string", "42; NULL; NULL; NULL; 7");
}
END_TEST

START_TEST(test_regexp_extract_non_constant_arguments_are_errors)
{
    expect_error("regexp_extract(s, s2)");
    expect_error("regexp_extract(s, '(a)', i)");
}
END_TEST

START_TEST(test_regexp_extract_wrong_type_is_error)
{
    expect_error("regexp_extract(1, '(a)')");
    expect_error("regexp_extract(s, '(a)', 'x')");
}
END_TEST

/* ---- coalesce ---- */

START_TEST(test_coalesce_first_non_null)
{
    expect_i64("coalesce(n, 5)", 5);
    expect_i64("coalesce(i, 5)", 7);
    expect_i64("coalesce(n, n, 3)", 3);
    expect_str("coalesce(ns, 'x')", "x");
    expect_str("coalesce(s, 'x')", "abc");
    expect_ts("coalesce(nt, t)", 12345);
}
END_TEST

START_TEST(test_coalesce_mixes_int_and_double)
{
    expect_f64("coalesce(n, d)", 2.5);
    expect_f64("coalesce(i, 2.5)", 7.0);
    expect_f64("coalesce(nd, 1)", 1.0);
}
END_TEST

START_TEST(test_coalesce_all_null_is_null)
{
    expect_null("coalesce(n, n)", RN_T_INT64);
    expect_null("coalesce(ns, CAST(NULL AS string))", RN_T_STRING);
}
END_TEST

START_TEST(test_coalesce_over_rows)
{
    expect_rows("x:int64, y:int64", "1, 2; NULL, 2; NULL, NULL; 4, NULL", "coalesce(x, y, -1)",
                "int64", "1; 2; -1; 4");
}
END_TEST

START_TEST(test_coalesce_incompatible_types_is_error)
{
    expect_error("coalesce(s, 1)");
    expect_error("coalesce(f, 'x')");
}
END_TEST

/* ---- hash ---- */

START_TEST(test_hash_is_int64)
{
    struct tu_val v = ev("hash(i)");
    expect_type("hash(i)", v, RN_T_INT64);
    ck_assert(!v.null);
}
END_TEST

START_TEST(test_hash_equal_inputs_hash_equal)
{
    expect_bool("hash(7) = hash(i)", true);
    expect_bool("hash('abc') = hash(s)", true);
    expect_bool("hash(i, s) = hash(7, 'abc')", true);
    expect_bool("hash(d) = hash(2.5)", true);
}
END_TEST

START_TEST(test_hash_equal_strings_in_different_rows_hash_equal)
{
    struct rn_batch *b = tu_batch("x:string", "hello; xhello; hello; a_longer_string_value; "
                                  "a_longer_string_value");
    rn_expr *e = tu_compile_ok("hash(x)", b->schema);
    struct rn_column out;
    tu_eval_ok(e, b, &out);
    ck_assert_int_eq(rn_col_i64(&out, 0), rn_col_i64(&out, 2));
    ck_assert_int_eq(rn_col_i64(&out, 3), rn_col_i64(&out, 4));
    ck_assert_int_ne(rn_col_i64(&out, 0), rn_col_i64(&out, 1));
    rn_column_release(&out);
    rn_expr_destroy(e);
    rn_batch_unref(b);
}
END_TEST

START_TEST(test_hash_different_inputs_differ)
{
    expect_bool("hash(1) = hash(2)", false);
    expect_bool("hash('a') = hash('b')", false);
}
END_TEST

START_TEST(test_hash_of_null_is_not_null)
{
    struct tu_val v = ev("hash(n)");
    expect_type("hash(n)", v, RN_T_INT64);
    ck_assert_msg(!v.null, "hash(n) is null; nulls hash too");
    expect_bool("hash(n) = hash(CAST(NULL AS int64))", true);
    v = ev("hash(i, n)");
    ck_assert(!v.null);
    expect_rows("x:int64", "1; NULL; 1", "hash(x) IS NULL", "bool", "false; false; false");
}
END_TEST

/* ---- now ---- */

static int64_t fake_now = 1234567;
static int64_t fake_clock(void) { return fake_now; }
static int64_t ticking_clock(void) { return fake_now += 1000; }

START_TEST(test_now_reads_clock)
{
    rn_expr_set_clock(fake_clock);
    fake_now = 1234567;
    expect_ts("now()", 1234567);
    fake_now = 99999;
    expect_ts("now()", 99999);
    expect_i64("now() - t", 99999 - 12345);
}
END_TEST

START_TEST(test_now_one_value_per_batch)
{
    rn_expr_set_clock(ticking_clock);
    fake_now = 0;
    struct rn_batch *b = tu_batch("x:int64", "1; 2; 3; 4; 5; 6; 7; 8");
    rn_expr *e = tu_compile_ok("now()", b->schema);
    struct rn_column out;
    tu_eval_ok(e, b, &out);
    int64_t first = rn_col_i64(&out, 0);
    for (uint32_t r = 1; r < 8; r++) ck_assert_int_eq(rn_col_i64(&out, r), first);
    rn_column_release(&out);
    tu_eval_ok(e, b, &out);
    int64_t second = rn_col_i64(&out, 0);
    ck_assert_int_gt(second, first);
    for (uint32_t r = 1; r < 8; r++) ck_assert_int_eq(rn_col_i64(&out, r), second);
    rn_column_release(&out);
    ck_assert(!rn_expr_is_constant(e));
    rn_expr_destroy(e);
    rn_batch_unref(b);
}
END_TEST

/* ---- to_timestamp ---- */

START_TEST(test_to_timestamp_from_int)
{
    expect_ts("to_timestamp(1500)", 1500);
    expect_ts("to_timestamp(i)", 7);
    expect_ts("to_timestamp(-1000)", -1000);
}
END_TEST

START_TEST(test_to_timestamp_from_double)
{
    expect_ts("to_timestamp(1500.0)", 1500);
    expect_ts("to_timestamp(2.5e3)", 2500);
}
END_TEST

START_TEST(test_to_timestamp_from_digit_string)
{
    expect_ts("to_timestamp('1500')", 1500);
    expect_ts("to_timestamp('0')", 0);
    expect_ts("to_timestamp('1795354680000')", TS_2026);
}
END_TEST

START_TEST(test_to_timestamp_iso_with_z)
{
    expect_ts("to_timestamp('2026-11-22T13:38:00Z')", TS_2026);
    expect_ts("to_timestamp('2026-11-22T13:38Z')", TS_2026);
}
END_TEST

START_TEST(test_to_timestamp_iso_without_offset_is_utc)
{
    expect_ts("to_timestamp('2026-11-22T13:38:00')", TS_2026);
    expect_ts("to_timestamp('2026-11-22T13:38')", TS_2026);
}
END_TEST

START_TEST(test_to_timestamp_iso_space_separator)
{
    expect_ts("to_timestamp('2026-11-22 13:38:00')", TS_2026);
    expect_ts("to_timestamp('2026-11-22 13:38')", TS_2026);
}
END_TEST

START_TEST(test_to_timestamp_iso_with_millis)
{
    expect_ts("to_timestamp('2026-11-22T13:38:00.123Z')", TS_2026 + 123);
    expect_ts("to_timestamp('2026-11-22T13:38:00.007')", TS_2026 + 7);
}
END_TEST

START_TEST(test_to_timestamp_iso_with_offset)
{
    expect_ts("to_timestamp('2026-11-22T15:38:00+02:00')", TS_2026);
    expect_ts("to_timestamp('2026-11-22T08:38:00-05:00')", TS_2026);
    expect_ts("to_timestamp('2026-11-22T14:08:00.500+00:30')", TS_2026 + 500);
    expect_ts("to_timestamp('2026-11-22T13:38:00+00:00')", TS_2026);
}
END_TEST

START_TEST(test_to_timestamp_iso_before_epoch_and_leap_day)
{
    expect_ts("to_timestamp('1969-12-31T23:59:59Z')", -1000);
    expect_ts("to_timestamp('1969-12-31T23:59:59.999Z')", -1);
    expect_ts("to_timestamp('2024-02-29T00:00:00Z')", 1709164800000LL);
    expect_ts("to_timestamp('2000-01-01T00:00:00Z')", 946684800000LL);
}
END_TEST

START_TEST(test_to_timestamp_unreadable_string_is_null)
{
    expect_null("to_timestamp('bad')", RN_T_TIMESTAMP);
    expect_null("to_timestamp('')", RN_T_TIMESTAMP);
    expect_null("to_timestamp('12a')", RN_T_TIMESTAMP);
    expect_null("to_timestamp('2026-13-01T00:00:00Z')", RN_T_TIMESTAMP);
    expect_null("to_timestamp('2026-11-22T25:00:00Z')", RN_T_TIMESTAMP);
    expect_null("to_timestamp('2026-11-22T13:38:00X')", RN_T_TIMESTAMP);
    expect_null("to_timestamp('2026/11/22 13:38')", RN_T_TIMESTAMP);
    expect_null("to_timestamp('2026-11-22')", RN_T_TIMESTAMP);
    expect_null("to_timestamp(s)", RN_T_TIMESTAMP);
}
END_TEST

START_TEST(test_to_timestamp_null)
{
    expect_null("to_timestamp(ns)", RN_T_TIMESTAMP);
    expect_null("to_timestamp(n)", RN_T_TIMESTAMP);
    expect_null("to_timestamp(nd)", RN_T_TIMESTAMP);
}
END_TEST

START_TEST(test_to_timestamp_over_rows)
{
    expect_rows("x:string", "1970-01-01T00:00:01Z; 2500; nope; NULL; 1970-01-01 00:01",
                "to_timestamp(x)", "timestamp", "1000; 2500; NULL; NULL; 60000");
}
END_TEST

START_TEST(test_to_timestamp_wrong_type_is_error)
{
    expect_error("to_timestamp(f)");
    expect_error("to_timestamp(TRUE)");
}
END_TEST

/* ---- hour ---- */

START_TEST(test_hour_of_day_utc)
{
    expect_i64("hour(t)", 0);
    expect_i64("hour(CAST(1795354680000 AS timestamp))", 13);      /* 2026-11-22T13:38:00Z */
    expect_i64("hour(CAST(86399999 AS timestamp))", 23);
    expect_i64("hour(CAST(86400000 AS timestamp))", 0);
}
END_TEST

START_TEST(test_hour_floors_before_1970)
{
    expect_i64("hour(CAST(-1 AS timestamp))", 23);
    expect_i64("hour(CAST(-3600000 AS timestamp))", 23);
    expect_i64("hour(CAST(-3600001 AS timestamp))", 22);
}
END_TEST

START_TEST(test_hour_over_rows_and_null)
{
    expect_rows("x:timestamp", "0; 3599999; 3600000; 1795354680000; -1; NULL", "hour(x)", "int64",
                "0; 0; 1; 13; 23; NULL");
    expect_null("hour(nt)", RN_T_INT64);
}
END_TEST

START_TEST(test_hour_wrong_type_is_error)
{
    expect_error("hour(i)");
    expect_error("hour('2026-11-22T13:38:00Z')");
    expect_error("hour(t, 1)");
}
END_TEST

/* ---- tumble_start, tumble_end ---- */

START_TEST(test_tumble_start)
{
    expect_ts("tumble_start(t, 10s)", 10000);
    expect_ts("tumble_start(t, 1000)", 12000);
    expect_ts("tumble_start(CAST(20000 AS timestamp), 10s)", 20000);
    expect_ts("tumble_start(CAST(1795354803456 AS timestamp), 1h)", 1795352400000LL);
    expect_ts("tumble_start(CAST(1795354680000 AS timestamp), 1d)", 1795305600000LL);
}
END_TEST

START_TEST(test_tumble_end)
{
    expect_ts("tumble_end(t, 10s)", 20000);
    expect_ts("tumble_end(CAST(20000 AS timestamp), 10s)", 30000);
    expect_ts("tumble_end(CAST(19999 AS timestamp), 10s)", 20000);
}
END_TEST

START_TEST(test_tumble_floors_before_1970)
{
    expect_ts("tumble_start(CAST(-1 AS timestamp), 10s)", -10000);
    expect_ts("tumble_end(CAST(-1 AS timestamp), 10s)", 0);
    expect_ts("tumble_start(CAST(-10000 AS timestamp), 10s)", -10000);
    expect_ts("tumble_start(CAST(-10001 AS timestamp), 10s)", -20000);
    expect_ts("tumble_end(CAST(-10001 AS timestamp), 10s)", -10000);
}
END_TEST

START_TEST(test_tumble_over_rows)
{
    expect_rows("x:timestamp", "0; 999; 1000; -1; -1000; -1001; NULL", "tumble_start(x, 1s)",
                "timestamp", "0; 0; 1000; -1000; -1000; -2000; NULL");
    expect_rows("x:timestamp", "0; 999; -1; NULL", "tumble_end(x, 1s)", "timestamp",
                "1000; 1000; 0; NULL");
}
END_TEST

START_TEST(test_tumble_null)
{
    expect_null("tumble_start(nt, 1m)", RN_T_TIMESTAMP);
    expect_null("tumble_end(nt, 1m)", RN_T_TIMESTAMP);
}
END_TEST

START_TEST(test_tumble_size_must_be_constant)
{
    expect_error("tumble_start(t, i)");
    expect_error("tumble_end(t, i)");
}
END_TEST

START_TEST(test_tumble_size_must_be_positive)
{
    expect_error("tumble_start(t, 0)");
    expect_error("tumble_start(t, 0s)");
    expect_error("tumble_end(t, -1s)");
}
END_TEST

START_TEST(test_tumble_wrong_type_is_error)
{
    expect_error("tumble_start(s, 1s)");
    expect_error("tumble_start(t, 'x')");
}
END_TEST

/* ---- argument counts ---- */

START_TEST(test_wrong_argument_counts_are_errors)
{
    const char *bad[] = {"abs()", "abs(1, 2)", "round(1, 2, 3)", "floor()", "sqrt(1, 2)",
                         "power(1)", "mod(1)", "lower()", "length('a', 'b')", "substr('a')",
                         "substr('a', 1, 2, 3)", "split_index('a', '/')", "regexp_match('a')",
                         "regexp_extract('a')", "regexp_extract('a', 'b', 1, 2)", "coalesce()",
                         "hash()", "concat()", "now(1)", "to_timestamp()", "tumble_start(t)",
                         "tumble_end(t, 1s, 1s)"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) expect_error(bad[k]);
}
END_TEST

START_TEST(test_unknown_function_is_error)
{
    struct rn_error err = expect_error("nosuch(1)");
    ck_assert_int_eq(err.code, RN_ENOTFOUND);
    ck_assert_msg(strstr(err.msg, "nosuch") != NULL, "msg: %s", err.msg);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("expr_func");
    TCase *tc = tcase_create("numeric");
    tcase_add_test(tc, test_abs_int);
    tcase_add_test(tc, test_abs_double);
    tcase_add_test(tc, test_abs_int_min_wraps_to_itself);
    tcase_add_test(tc, test_abs_null);
    tcase_add_test(tc, test_abs_wrong_type_is_error);
    tcase_add_test(tc, test_round_half_away_from_zero);
    tcase_add_test(tc, test_round_int_keeps_type);
    tcase_add_test(tc, test_round_to_digits_is_double);
    tcase_add_test(tc, test_round_negative_digits);
    tcase_add_test(tc, test_round_null);
    tcase_add_test(tc, test_round_wrong_type_is_error);
    tcase_add_test(tc, test_floor_double);
    tcase_add_test(tc, test_ceil_double);
    tcase_add_test(tc, test_floor_ceil_identity_on_int);
    tcase_add_test(tc, test_floor_ceil_null);
    tcase_add_test(tc, test_floor_ceil_wrong_type_is_error);
    tcase_add_test(tc, test_sqrt);
    tcase_add_test(tc, test_sqrt_outside_domain_is_nan);
    tcase_add_test(tc, test_ln);
    tcase_add_test(tc, test_ln_outside_domain_is_nan);
    tcase_add_test(tc, test_exp);
    tcase_add_test(tc, test_power);
    tcase_add_test(tc, test_math_functions_null);
    tcase_add_test(tc, test_math_functions_wrong_type_is_error);
    tcase_add_test(tc, test_mod_like_percent);
    tcase_add_test(tc, test_mod_by_zero_is_null);
    tcase_add_test(tc, test_mod_null);
    tcase_add_test(tc, test_mod_wrong_type_is_error);
    suite_add_tcase(s, tc);

    tc = tcase_create("string");
    tcase_add_test(tc, test_lower_upper_ascii);
    tcase_add_test(tc, test_lower_upper_leave_non_ascii_bytes);
    tcase_add_test(tc, test_lower_upper_over_rows);
    tcase_add_test(tc, test_lower_upper_null);
    tcase_add_test(tc, test_lower_upper_wrong_type_is_error);
    tcase_add_test(tc, test_length_ascii);
    tcase_add_test(tc, test_length_counts_utf8_code_points);
    tcase_add_test(tc, test_length_null);
    tcase_add_test(tc, test_length_wrong_type_is_error);
    tcase_add_test(tc, test_substr_from_start);
    tcase_add_test(tc, test_substr_with_length);
    tcase_add_test(tc, test_substr_negative_start_counts_from_end);
    tcase_add_test(tc, test_substr_start_zero_is_one);
    tcase_add_test(tc, test_substr_negative_length_is_empty);
    tcase_add_test(tc, test_substr_past_end_is_empty);
    tcase_add_test(tc, test_substr_counts_utf8_characters);
    tcase_add_test(tc, test_substr_null);
    tcase_add_test(tc, test_substr_over_rows);
    tcase_add_test(tc, test_substr_wrong_type_is_error);
    tcase_add_test(tc, test_concat_strings);
    tcase_add_test(tc, test_concat_casts_non_strings);
    tcase_add_test(tc, test_concat_null_if_any_argument_null);
    tcase_add_test(tc, test_split_index_pieces);
    tcase_add_test(tc, test_split_index_out_of_range_is_null);
    tcase_add_test(tc, test_split_index_negative_is_null);
    tcase_add_test(tc, test_split_index_empty_pieces);
    tcase_add_test(tc, test_split_index_no_delimiter_is_whole_string);
    tcase_add_test(tc, test_split_index_multibyte_delimiter);
    tcase_add_test(tc, test_split_index_null);
    tcase_add_test(tc, test_split_index_over_rows);
    tcase_add_test(tc, test_split_index_wrong_type_is_error);
    tcase_add_test(tc, test_replace_every_occurrence);
    tcase_add_test(tc, test_replace_without_occurrence_is_the_string);
    tcase_add_test(tc, test_replace_counts_characters);
    tcase_add_test(tc, test_replace_null);
    tcase_add_test(tc, test_replace_over_rows);
    tcase_add_test(tc, test_replace_wrong_type_is_error);
    suite_add_tcase(s, tc);

    tc = tcase_create("regex");
    tcase_add_test(tc, test_regexp_match_anywhere);
    tcase_add_test(tc, test_regexp_match_is_extended_syntax);
    tcase_add_test(tc, test_regexp_match_null);
    tcase_add_test(tc, test_regexp_match_over_rows);
    tcase_add_test(tc, test_regexp_match_pattern_must_be_constant);
    tcase_add_test(tc, test_regexp_match_invalid_pattern_is_error);
    tcase_add_test(tc, test_regexp_match_refuses_pattern_expanding_too_far);
    tcase_add_test(tc, test_regexp_match_wrong_type_is_error);
    tcase_add_test(tc, test_regexp_extract_default_group_is_one);
    tcase_add_test(tc, test_regexp_extract_group_zero_is_whole_match);
    tcase_add_test(tc, test_regexp_extract_numbered_group);
    tcase_add_test(tc, test_regexp_extract_first_match);
    tcase_add_test(tc, test_regexp_extract_no_match_is_null);
    tcase_add_test(tc, test_regexp_extract_non_participating_group_is_null);
    tcase_add_test(tc, test_regexp_extract_empty_group_is_empty_string);
    tcase_add_test(tc, test_regexp_extract_null);
    tcase_add_test(tc, test_regexp_extract_over_rows);
    tcase_add_test(tc, test_regexp_extract_non_constant_arguments_are_errors);
    tcase_add_test(tc, test_regexp_extract_wrong_type_is_error);
    suite_add_tcase(s, tc);

    tc = tcase_create("misc");
    tcase_add_test(tc, test_coalesce_first_non_null);
    tcase_add_test(tc, test_coalesce_mixes_int_and_double);
    tcase_add_test(tc, test_coalesce_all_null_is_null);
    tcase_add_test(tc, test_coalesce_over_rows);
    tcase_add_test(tc, test_coalesce_incompatible_types_is_error);
    tcase_add_test(tc, test_hash_is_int64);
    tcase_add_test(tc, test_hash_equal_inputs_hash_equal);
    tcase_add_test(tc, test_hash_equal_strings_in_different_rows_hash_equal);
    tcase_add_test(tc, test_hash_different_inputs_differ);
    tcase_add_test(tc, test_hash_of_null_is_not_null);
    tcase_add_test(tc, test_now_reads_clock);
    tcase_add_test(tc, test_now_one_value_per_batch);
    suite_add_tcase(s, tc);

    tc = tcase_create("time");
    tcase_add_test(tc, test_to_timestamp_from_int);
    tcase_add_test(tc, test_to_timestamp_from_double);
    tcase_add_test(tc, test_to_timestamp_from_digit_string);
    tcase_add_test(tc, test_to_timestamp_iso_with_z);
    tcase_add_test(tc, test_to_timestamp_iso_without_offset_is_utc);
    tcase_add_test(tc, test_to_timestamp_iso_space_separator);
    tcase_add_test(tc, test_to_timestamp_iso_with_millis);
    tcase_add_test(tc, test_to_timestamp_iso_with_offset);
    tcase_add_test(tc, test_to_timestamp_iso_before_epoch_and_leap_day);
    tcase_add_test(tc, test_to_timestamp_unreadable_string_is_null);
    tcase_add_test(tc, test_to_timestamp_null);
    tcase_add_test(tc, test_to_timestamp_over_rows);
    tcase_add_test(tc, test_to_timestamp_wrong_type_is_error);
    tcase_add_test(tc, test_tumble_start);
    tcase_add_test(tc, test_tumble_end);
    tcase_add_test(tc, test_hour_of_day_utc);
    tcase_add_test(tc, test_hour_floors_before_1970);
    tcase_add_test(tc, test_hour_over_rows_and_null);
    tcase_add_test(tc, test_hour_wrong_type_is_error);
    tcase_add_test(tc, test_tumble_floors_before_1970);
    tcase_add_test(tc, test_tumble_over_rows);
    tcase_add_test(tc, test_tumble_null);
    tcase_add_test(tc, test_tumble_size_must_be_constant);
    tcase_add_test(tc, test_tumble_size_must_be_positive);
    tcase_add_test(tc, test_tumble_wrong_type_is_error);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_add_test(tc, test_wrong_argument_counts_are_errors);
    tcase_add_test(tc, test_unknown_function_is_error);
    suite_add_tcase(s, tc);
    return s;
}

TU_MAIN(make_suite)
