/*
 * test_expr_eval.c — Check suite "expr_eval": the operators of the expression language over
 * columns and constants (arithmetic, time arithmetic, comparisons, three-valued logic, IS NULL,
 * IN, BETWEEN, LIKE, CASE, CAST), result types and nullability, and the batch-level API:
 * rn_expr_select, rn_expr_filter, projections, large batches with nulls, steady-state reuse
 * without malloc, and division/modulo by constants against C's own operators.
 *
 * The contract is docs/job-spec.md, "Expressions" and "CAST"; expected values are written from
 * that page, never from the implementation. Uses only the public API and testutil.h.
 */
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runnel/buffer.h"
#include "testutil.h"

/* ---- helpers ---- */

#define SCHEMA "i:int64, j:int64, z:int64, d:double, e:double, s:string, s2:string, " \
               "t:timestamp, u:timestamp, f:bool, g:bool, n:int64, nd:double, ns:string, " \
               "nb:bool, nt:timestamp, k:int64 not null, m:int64 not null"
#define ROW "7, -2, 0, 2.5, -0.5, abc, abd, 10000, 4000, false, true, NULL, NULL, NULL, " \
            "NULL, NULL, 5, 3"

static struct rn_batch *default_batch(void)
{
    static struct rn_batch *b;
    if (!b) b = tu_batch(SCHEMA, ROW);
    return b;
}



static struct rn_error compile_fail_on(const char *src, const rn_schema *s)
{
    rn_expr *e = NULL;
    struct rn_error err;
    memset(&err, 0, sizeof err);
    int rc = rn_expr_compile(src, s, &e, &err);
    if (rc == 0) rn_expr_destroy(e);
    ck_assert_msg(rc < 0, "'%s' compiled; it should be an error", src);
    ck_assert_msg(err.code == rc, "'%s': err.code %d, returned %d", src, err.code, rc);
    ck_assert_msg(err.msg[0] != 0, "'%s': empty error message", src);
    ck_assert_msg(err.line >= 1 && err.column >= 1, "'%s': no position: %s", src, err.msg);
    return err;
}

/* A type error: RN_ETYPE (error.h also allows RN_EINVAL for type errors). */
static void expect_type_error(const char *src)
{
    rn_schema *s = tu_schema(SCHEMA);
    struct rn_error err = compile_fail_on(src, s);
    ck_assert_msg(err.code == RN_ETYPE || err.code == RN_EINVAL, "'%s': code %d (%s), want a type "
                  "error", src, err.code, err.msg);
    rn_schema_unref(s);
}

/* Evaluates src over the rows of (schema, rows) and compares with want, rows of one value of
 * type want_type written as tu_batch reads them ("1; NULL; 3"). */
/* ---- arithmetic ---- */

START_TEST(test_add_int_int_is_int)
{
    expect_i64("i + j", 5);
    expect_i64("7 + 2", 9);
    expect_i64("i + 3", 10);
    expect_i64("3 + i", 10);
}
END_TEST

START_TEST(test_sub_int_int_is_int)
{
    expect_i64("i - j", 9);
    expect_i64("2 - 7", -5);
    expect_i64("i - 10", -3);
}
END_TEST

START_TEST(test_mul_int_int_is_int)
{
    expect_i64("i * j", -14);
    expect_i64("6 * 7", 42);
    expect_i64("i * 0", 0);
}
END_TEST

START_TEST(test_int_with_double_is_double)
{
    expect_f64("i + d", 9.5);
    expect_f64("d + i", 9.5);
    expect_f64("i - d", 4.5);
    expect_f64("i * e", -3.5);
    expect_f64("i / d", 2.8);
    expect_f64("1 + 0.5", 1.5);
    expect_f64("3 * 0.5", 1.5);
}
END_TEST

START_TEST(test_double_with_double_is_double)
{
    expect_f64("d + e", 2.0);
    expect_f64("d - e", 3.0);
    expect_f64("d * e", -1.25);
    expect_f64("e / d", -0.2);
    expect_f64("7 / 2.0", 3.5);
}
END_TEST

START_TEST(test_int_division_truncates_toward_zero)
{
    expect_i64("7 / 2", 3);
    expect_i64("-7 / 2", -3);
    expect_i64("7 / -2", -3);
    expect_i64("-7 / -2", 3);
    expect_i64("i / j", -3);
    expect_rows("a:int64, b:int64", "7, 2; -7, 2; 7, -2; -7, -2; 1, 3; -1, 3", "a / b", "int64",
                "3; -3; -3; 3; 0; 0");
}
END_TEST

START_TEST(test_int_modulo_takes_sign_of_dividend)
{
    expect_i64("7 % 3", 1);
    expect_i64("-7 % 3", -1);
    expect_i64("7 % -3", 1);
    expect_i64("-7 % -3", -1);
    expect_i64("i % j", 1);
    expect_rows("a:int64, b:int64", "7, 3; -7, 3; 7, -3; -7, -3; 6, 3; -6, 3", "a % b", "int64",
                "1; -1; 1; -1; 0; 0");
}
END_TEST

START_TEST(test_double_modulo_is_double)
{
    expect_f64("5.5 % 2", 1.5);
    expect_f64("-5.5 % 2", -1.5);
    expect_f64("d % 1", 0.5);
}
END_TEST

START_TEST(test_int_division_by_zero_is_null)
{
    expect_null("i / z", RN_T_INT64);
    expect_null("i / 0", RN_T_INT64);
    expect_null("7 / 0", RN_T_INT64);
    expect_null("0 / 0", RN_T_INT64);
}
END_TEST

START_TEST(test_int_modulo_by_zero_is_null)
{
    expect_null("i % z", RN_T_INT64);
    expect_null("i % 0", RN_T_INT64);
    expect_null("7 % 0", RN_T_INT64);
}
END_TEST

START_TEST(test_int_division_by_zero_nulls_only_those_rows)
{
    expect_rows("a:int64, b:int64", "10, 2; 10, 0; NULL, 3; 9, 3; 5, 0", "a / b", "int64",
                "5; NULL; NULL; 3; NULL");
    expect_rows("a:int64, b:int64", "10, 3; 10, 0; -10, 3", "a % b", "int64", "1; NULL; -1");
}
END_TEST

START_TEST(test_double_division_by_zero_is_infinity)
{
    expect_f64("1.0 / 0", INFINITY);
    expect_f64("-1.0 / 0", -INFINITY);
    expect_f64("d / z", INFINITY);
    expect_f64("i / 0.0", INFINITY);
    expect_f64("0.0 / 0", NAN);
}
END_TEST

START_TEST(test_double_modulo_by_zero_is_nan)
{
    expect_f64("d % 0", NAN);
}
END_TEST

START_TEST(test_int_overflow_wraps)
{
    expect_i64("9223372036854775807 + 1", INT64_MIN);
    expect_i64("(-9223372036854775807 - 1) - 1", INT64_MAX);
    expect_i64("9223372036854775807 * 2", -2);
    expect_rows("a:int64, b:int64", "9223372036854775807, 1; -9223372036854775808, -1; "
                "4611686018427387904, 4611686018427387904", "a + b", "int64",
                "-9223372036854775808; 9223372036854775807; -9223372036854775808");
    expect_rows("a:int64, b:int64", "4611686018427387904, 2; 3037000500, 3037000500", "a * b",
                "int64", "-9223372036854775808; -9223372036709301616");
}
END_TEST

START_TEST(test_int_min_divided_by_minus_one_wraps)
{
    expect_rows("a:int64, b:int64", "-9223372036854775808, -1", "a / b", "int64",
                "-9223372036854775808");
    expect_rows("a:int64, b:int64", "-9223372036854775808, -1", "a % b", "int64", "0");
    expect_i64("(-9223372036854775807 - 1) / -1", INT64_MIN);
    expect_i64("(-9223372036854775807 - 1) % -1", 0);
}
END_TEST

START_TEST(test_unary_minus)
{
    expect_i64("-i", -7);
    expect_i64("-j", 2);
    expect_f64("-d", -2.5);
    expect_i64("+i", 7);
    expect_null("-n", RN_T_INT64);
    expect_rows("a:int64", "-9223372036854775808; 5", "-a", "int64", "-9223372036854775808; -5");
}
END_TEST

START_TEST(test_arithmetic_with_null_is_null)
{
    expect_null("i + n", RN_T_INT64);
    expect_null("n * 2", RN_T_INT64);
    expect_null("n / 0", RN_T_INT64);
    expect_null("d + nd", RN_T_DOUBLE);
    expect_null("n + d", RN_T_DOUBLE);
    expect_null("2.5 * nd", RN_T_DOUBLE);
}
END_TEST

START_TEST(test_arithmetic_on_bool_or_string_is_type_error)
{
    expect_type_error("f + 1");
    expect_type_error("TRUE + 1");
    expect_type_error("f * g");
    expect_type_error("s + 1");
    expect_type_error("s * 2");
    expect_type_error("'a' - 'b'");
    expect_type_error("-s");
    expect_type_error("-f");
}
END_TEST

START_TEST(test_concat_two_strings)
{
    expect_str("s || s2", "abcabd");
    expect_str("'x' || s", "xabc");
    expect_str("'' || ''", "");
    expect_null("s || ns", RN_T_STRING);
    expect_rows("a:string, b:string", "x, y; NULL, y; héllo, wörld", "a || b", "string",
                "xy; NULL; héllowörld");
}
END_TEST

START_TEST(test_concat_non_strings_is_type_error)
{
    expect_type_error("s || 1");
    expect_type_error("1 || 'a'");
    expect_type_error("s || f");
    expect_type_error("s || t");
}
END_TEST

/* ---- time arithmetic ---- */

START_TEST(test_timestamp_minus_int_is_timestamp)
{
    expect_ts("t - 4000", 6000);
    expect_ts("t - 4s", 6000);
    expect_ts("t - i", 9993);
}
END_TEST

START_TEST(test_timestamp_plus_int_is_timestamp)
{
    expect_ts("t + i", 10007);
    expect_ts("t + 1m", 70000);
}
END_TEST

START_TEST(test_int_plus_timestamp_is_timestamp)
{
    expect_ts("i + t", 10007);
    expect_ts("4s + t", 14000);
}
END_TEST

START_TEST(test_timestamp_minus_timestamp_is_int64)
{
    expect_i64("t - u", 6000);
    expect_i64("u - t", -6000);
}
END_TEST

START_TEST(test_timestamp_arithmetic_with_null_is_null)
{
    expect_null("nt - 1s", RN_T_TIMESTAMP);
    expect_null("t + n", RN_T_TIMESTAMP);
    expect_null("t - nt", RN_T_INT64);
}
END_TEST

START_TEST(test_timestamp_other_arithmetic_is_type_error)
{
    expect_type_error("t + u");
    expect_type_error("t * 2");
    expect_type_error("t / 2");
    expect_type_error("t % 2");
    expect_type_error("i - t");
    expect_type_error("t + d");
    expect_type_error("t - 1.5");
    expect_type_error("t + f");
}
END_TEST

/* ---- comparisons ---- */

START_TEST(test_compare_int_int_all_operators)
{
    expect_bool("i = 7", true);
    expect_bool("i == 7", true);
    expect_bool("i = j", false);
    expect_bool("i <> j", true);
    expect_bool("i != j", true);
    expect_bool("i != 7", false);
    expect_bool("i < j", false);
    expect_bool("j < i", true);
    expect_bool("i <= 7", true);
    expect_bool("i <= 6", false);
    expect_bool("i > j", true);
    expect_bool("i > 7", false);
    expect_bool("i >= 7", true);
    expect_bool("i >= 8", false);
    expect_bool("3 < 4", true);
}
END_TEST

START_TEST(test_compare_int_double_converts_int)
{
    expect_bool("i = 7.0", true);
    expect_bool("7.0 = i", true);
    expect_bool("i < d", false);
    expect_bool("d < i", true);
    expect_bool("2 < 2.5", true);
    expect_bool("j <= e", true);
    expect_bool("9007199254740993 = 9007199254740992.0", true);
}
END_TEST

START_TEST(test_compare_double_double)
{
    expect_bool("d > e", true);
    expect_bool("d = 2.5", true);
    expect_bool("d <> 2.5", false);
    expect_bool("e >= -0.5", true);
}
END_TEST

START_TEST(test_compare_strings_bytewise)
{
    expect_bool("s = 'abc'", true);
    expect_bool("s < s2", true);
    expect_bool("s2 > s", true);
    expect_bool("'B' < 'a'", true);
    expect_bool("'ab' < 'abc'", true);
    expect_bool("'' < 'a'", true);
    expect_bool("'é' > 'z'", true);
    expect_bool("s <> 'ABC'", true);
    expect_rows("a:string, b:string", "a, b; b, a; x, x; ab, a", "a < b", "bool",
                "true; false; false; false");
}
END_TEST

START_TEST(test_compare_bools_false_less_than_true)
{
    expect_bool("f < g", true);
    expect_bool("FALSE < TRUE", true);
    expect_bool("g > f", true);
    expect_bool("g <= f", false);
    expect_bool("f = FALSE", true);
    expect_bool("TRUE = TRUE", true);
}
END_TEST

START_TEST(test_compare_timestamps)
{
    expect_bool("t > u", true);
    expect_bool("t = t", true);
    expect_bool("u >= t", false);
}
END_TEST

START_TEST(test_compare_timestamp_with_int)
{
    expect_bool("t = 10000", true);
    expect_bool("t > 5000", true);
    expect_bool("10000 = t", true);
    expect_bool("t < 10s", false);
    expect_bool("u < i", false);
}
END_TEST

START_TEST(test_compare_with_null_is_null)
{
    expect_null("n = 1", RN_T_BOOL);
    expect_null("1 <> n", RN_T_BOOL);
    expect_null("nd < 1.0", RN_T_BOOL);
    expect_null("ns = 'a'", RN_T_BOOL);
    expect_null("nb = TRUE", RN_T_BOOL);
    expect_null("nt > t", RN_T_BOOL);
    expect_null("n = n", RN_T_BOOL);
}
END_TEST

START_TEST(test_compare_disallowed_pairs_are_type_errors)
{
    expect_type_error("s = i");
    expect_type_error("s = 1");
    expect_type_error("1 = 'x'");
    expect_type_error("f = 1");
    expect_type_error("f < i");
    expect_type_error("t = d");
    expect_type_error("t = 1.5");
    expect_type_error("t < 'x'");
    expect_type_error("s < t");
    expect_type_error("d = s");
    expect_type_error("f = 'true'");
    expect_type_error("t = f");
}
END_TEST

/* ---- three-valued logic ---- */

/* 1 true, 0 false, -1 null */
static const char *lit3(int v) { return v < 0 ? "CAST(NULL AS bool)" : v ? "TRUE" : "FALSE"; }
static const char *cell3(int v) { return v < 0 ? "NULL" : v ? "true" : "false"; }
static int val3(struct tu_val v) { return v.null ? -1 : v.b; }

/* Checks x op y over columns, constants and both mixes. */
static void check_logic(const char *op, int x, int y, int want)
{
    char rows[64], src[128];
    snprintf(rows, sizeof rows, "%s, %s", cell3(x), cell3(y));
    struct rn_batch *b = tu_batch("x:bool, y:bool", rows);
    const char *forms[4][2] = {{"x", "y"}, {lit3(x), lit3(y)}, {"x", lit3(y)}, {lit3(x), "y"}};
    for (int k = 0; k < 4; k++) {
        snprintf(src, sizeof src, "%s %s %s", forms[k][0], op, forms[k][1]);
        struct tu_val v = tu_eval_on(b, src, 0);
        expect_type(src, v, RN_T_BOOL);
        ck_assert_msg(val3(v) == want, "'%s' with x=%s y=%s: got %s, want %s", src, cell3(x),
                      cell3(y), cell3(val3(v)), cell3(want));
    }
    rn_batch_unref(b);
}

static void check_not(int x, int want)
{
    char rows[32], src[64];
    snprintf(rows, sizeof rows, "%s", cell3(x));
    struct rn_batch *b = tu_batch("x:bool", rows);
    const char *forms[2] = {"x", lit3(x)};
    for (int k = 0; k < 2; k++) {
        snprintf(src, sizeof src, "NOT %s", forms[k]);
        struct tu_val v = tu_eval_on(b, src, 0);
        expect_type(src, v, RN_T_BOOL);
        ck_assert_msg(val3(v) == want, "'%s' with x=%s: got %s, want %s", src, cell3(x),
                      cell3(val3(v)), cell3(want));
    }
    rn_batch_unref(b);
}

START_TEST(test_and_true_true_is_true) { check_logic("AND", 1, 1, 1); }
END_TEST
START_TEST(test_and_true_false_is_false) { check_logic("AND", 1, 0, 0); }
END_TEST
START_TEST(test_and_true_null_is_null) { check_logic("AND", 1, -1, -1); }
END_TEST
START_TEST(test_and_false_true_is_false) { check_logic("AND", 0, 1, 0); }
END_TEST
START_TEST(test_and_false_false_is_false) { check_logic("AND", 0, 0, 0); }
END_TEST
START_TEST(test_and_false_null_is_false) { check_logic("AND", 0, -1, 0); }
END_TEST
START_TEST(test_and_null_true_is_null) { check_logic("AND", -1, 1, -1); }
END_TEST
START_TEST(test_and_null_false_is_false) { check_logic("AND", -1, 0, 0); }
END_TEST
START_TEST(test_and_null_null_is_null) { check_logic("AND", -1, -1, -1); }
END_TEST

START_TEST(test_or_true_true_is_true) { check_logic("OR", 1, 1, 1); }
END_TEST
START_TEST(test_or_true_false_is_true) { check_logic("OR", 1, 0, 1); }
END_TEST
START_TEST(test_or_true_null_is_true) { check_logic("OR", 1, -1, 1); }
END_TEST
START_TEST(test_or_false_true_is_true) { check_logic("OR", 0, 1, 1); }
END_TEST
START_TEST(test_or_false_false_is_false) { check_logic("OR", 0, 0, 0); }
END_TEST
START_TEST(test_or_false_null_is_null) { check_logic("OR", 0, -1, -1); }
END_TEST
START_TEST(test_or_null_true_is_true) { check_logic("OR", -1, 1, 1); }
END_TEST
START_TEST(test_or_null_false_is_null) { check_logic("OR", -1, 0, -1); }
END_TEST
START_TEST(test_or_null_null_is_null) { check_logic("OR", -1, -1, -1); }
END_TEST

START_TEST(test_not_true_is_false) { check_not(1, 0); }
END_TEST
START_TEST(test_not_false_is_true) { check_not(0, 1); }
END_TEST
START_TEST(test_not_null_is_null) { check_not(-1, -1); }
END_TEST

START_TEST(test_logic_all_combinations_in_one_batch)
{
    const char *rows = "true, true; true, false; true, NULL; false, true; false, false; "
                       "false, NULL; NULL, true; NULL, false; NULL, NULL";
    expect_rows("x:bool, y:bool", rows, "x AND y", "bool",
                "true; false; NULL; false; false; false; NULL; false; NULL");
    expect_rows("x:bool, y:bool", rows, "x OR y", "bool",
                "true; true; true; true; false; NULL; true; NULL; NULL");
    expect_rows("x:bool, y:bool", rows, "NOT x", "bool",
                "false; false; false; true; true; true; NULL; NULL; NULL");
}
END_TEST

START_TEST(test_logic_on_non_bool_is_type_error)
{
    expect_type_error("i AND TRUE");
    expect_type_error("f OR 1");
    expect_type_error("NOT i");
    expect_type_error("s OR f");
}
END_TEST

/* ---- IS [NOT] NULL ---- */

START_TEST(test_is_null_on_every_type)
{
    expect_bool("n IS NULL", true);
    expect_bool("i IS NULL", false);
    expect_bool("nd IS NULL", true);
    expect_bool("d IS NULL", false);
    expect_bool("ns IS NULL", true);
    expect_bool("s IS NULL", false);
    expect_bool("nb IS NULL", true);
    expect_bool("f IS NULL", false);
    expect_bool("nt IS NULL", true);
    expect_bool("t IS NULL", false);
}
END_TEST

START_TEST(test_is_not_null_on_every_type)
{
    expect_bool("n IS NOT NULL", false);
    expect_bool("i IS NOT NULL", true);
    expect_bool("ns IS NOT NULL", false);
    expect_bool("s IS NOT NULL", true);
    expect_bool("nb IS NOT NULL", false);
    expect_bool("nt IS NOT NULL", false);
    expect_bool("nd IS NOT NULL", false);
}
END_TEST

START_TEST(test_is_null_of_expression)
{
    expect_bool("(i / z) IS NULL", true);
    expect_bool("(i + n) IS NULL", true);
    expect_bool("(i + 1) IS NOT NULL", true);
    expect_rows("a:int64", "1; NULL; 3", "a IS NULL", "bool", "false; true; false");
}
END_TEST

START_TEST(test_is_null_is_never_null)
{
    rn_schema *s = tu_schema("a:int64");
    rn_expr *e = tu_compile_ok("a IS NULL", s);
    ck_assert(!rn_expr_nullable(e));
    rn_expr_destroy(e);
    e = tu_compile_ok("a IS NOT NULL", s);
    ck_assert(!rn_expr_nullable(e));
    rn_expr_destroy(e);
    rn_schema_unref(s);
}
END_TEST

/* ---- IN ---- */

START_TEST(test_in_true_when_equal_to_an_item)
{
    expect_bool("i IN (1, 7, 9)", true);
    expect_bool("i IN (7)", true);
    expect_bool("s IN ('x', 'abc')", true);
    expect_bool("d IN (1.0, 2.5)", true);
    expect_bool("f IN (FALSE)", true);
    expect_bool("t IN (10000, 20000)", true);
}
END_TEST

START_TEST(test_in_mixes_int_and_double)
{
    expect_bool("i IN (1.5, 7.0)", true);
    expect_bool("d IN (1, 2)", false);
}
END_TEST

START_TEST(test_in_false_when_no_item_equal)
{
    expect_bool("i IN (1, 2)", false);
    expect_bool("s IN ('ab', 'abcd')", false);
}
END_TEST

START_TEST(test_in_null_operand_is_null)
{
    expect_null("n IN (1, 2)", RN_T_BOOL);
    expect_null("ns IN ('a')", RN_T_BOOL);
}
END_TEST

START_TEST(test_in_null_item_without_match_is_null)
{
    expect_null("i IN (1, n)", RN_T_BOOL);
    expect_null("i IN (1, CAST(NULL AS int64))", RN_T_BOOL);
}
END_TEST

START_TEST(test_in_null_item_with_match_is_true)
{
    expect_bool("i IN (7, n)", true);
    expect_bool("i IN (n, 7)", true);
}
END_TEST

START_TEST(test_in_items_are_expressions)
{
    expect_bool("i IN (j + 9, 100)", true);
    expect_rows("x:int64, y:int64", "1, 1; 2, NULL; 3, 5; NULL, 1; 4, 5", "x IN (y, 3)", "bool",
                "true; NULL; true; NULL; false");
}
END_TEST

START_TEST(test_in_incomparable_item_is_type_error)
{
    expect_type_error("i IN ('a')");
    expect_type_error("s IN (1, 2)");
    expect_type_error("f IN (1)");
}
END_TEST

START_TEST(test_not_in)
{
    expect_bool("i NOT IN (1, 2)", true);
    expect_bool("i NOT IN (7)", false);
    expect_null("i NOT IN (1, n)", RN_T_BOOL);
    expect_bool("i NOT IN (7, n)", false);
    expect_null("n NOT IN (1)", RN_T_BOOL);
}
END_TEST

/* ---- BETWEEN ---- */

START_TEST(test_between_is_inclusive)
{
    expect_bool("i BETWEEN 7 AND 7", true);
    expect_bool("i BETWEEN 1 AND 7", true);
    expect_bool("i BETWEEN 7 AND 9", true);
    expect_bool("i BETWEEN 8 AND 10", false);
    expect_bool("i BETWEEN 10 AND 1", false);
}
END_TEST

START_TEST(test_between_other_types)
{
    expect_bool("d BETWEEN 2 AND 3", true);
    expect_bool("i BETWEEN 6.5 AND 7.5", true);
    expect_bool("s BETWEEN 'abb' AND 'abd'", true);
    expect_bool("t BETWEEN 5000 AND 20000", true);
    expect_bool("t BETWEEN u AND t", true);
}
END_TEST

START_TEST(test_between_null_operand_is_null)
{
    expect_null("n BETWEEN 1 AND 2", RN_T_BOOL);
}
END_TEST

START_TEST(test_between_null_bound_follows_and)
{
    /* x >= lo AND x <= hi: null AND false is false, null AND true is null. */
    expect_bool("i BETWEEN n AND 5", false);
    expect_null("i BETWEEN n AND 10", RN_T_BOOL);
    expect_bool("i BETWEEN 8 AND n", false);
    expect_null("i BETWEEN 1 AND n", RN_T_BOOL);
}
END_TEST

START_TEST(test_not_between)
{
    expect_bool("i NOT BETWEEN 8 AND 10", true);
    expect_bool("i NOT BETWEEN 1 AND 10", false);
    expect_null("n NOT BETWEEN 1 AND 2", RN_T_BOOL);
    expect_bool("i NOT BETWEEN n AND 5", true);
    expect_rows("x:int64", "0; 1; 5; 6; NULL", "x NOT BETWEEN 1 AND 5", "bool",
                "true; false; false; true; NULL");
}
END_TEST

START_TEST(test_between_incomparable_is_type_error)
{
    expect_type_error("s BETWEEN 1 AND 2");
    expect_type_error("i BETWEEN 'a' AND 'b'");
}
END_TEST

/* ---- LIKE ---- */

START_TEST(test_like_percent_matches_any_run)
{
    expect_bool("s LIKE 'a%'", true);
    expect_bool("'abc' LIKE '%c'", true);
    expect_bool("'abc' LIKE '%b%'", true);
    expect_bool("'abc' LIKE '%'", true);
    expect_bool("'' LIKE '%'", true);
    expect_bool("'abc' LIKE 'a%c'", true);
    expect_bool("'ac' LIKE 'a%c'", true);
    expect_bool("'abc' LIKE 'b%'", false);
    expect_bool("'abc' LIKE '%%%'", true);
    expect_bool("'abcbd' LIKE '%b%d'", true);
    expect_bool("'aXbXc' LIKE 'a%b%c'", true);
    expect_bool("'abcb' LIKE '%bc'", false);
}
END_TEST

START_TEST(test_like_underscore_matches_one_character)
{
    expect_bool("'abc' LIKE 'a_c'", true);
    expect_bool("'abc' LIKE '___'", true);
    expect_bool("'abc' LIKE '__'", false);
    expect_bool("'ac' LIKE 'a_c'", false);
    expect_bool("'' LIKE '_'", false);
    expect_bool("'abc' LIKE '_%'", true);
}
END_TEST

START_TEST(test_like_underscore_matches_one_utf8_character)
{
    expect_bool("'héllo' LIKE 'h_llo'", true);
    expect_bool("'日本' LIKE '__'", true);
    expect_bool("'日本' LIKE '_'", false);
}
END_TEST

START_TEST(test_like_percent_backtracks_by_whole_characters)
{
    /* '%' must give back whole characters: '%_本' needs one character before 本 */
    expect_bool("'日本' LIKE '%_本'", true);
    expect_bool("'本' LIKE '%_本'", false);
    expect_bool("'ééx' LIKE '%__x'", true);
    expect_bool("'éx' LIKE '%__x'", false);
}
END_TEST

START_TEST(test_like_without_wildcards_is_equality)
{
    expect_bool("'abc' LIKE 'abc'", true);
    expect_bool("'abc' LIKE 'ab'", false);
    expect_bool("'ab' LIKE 'abc'", false);
    expect_bool("'ABC' LIKE 'abc'", false);
}
END_TEST

START_TEST(test_like_other_characters_are_literal)
{
    expect_bool("'a.c' LIKE 'a.c'", true);
    expect_bool("'abc' LIKE 'a.c'", false);
    expect_bool("'a*' LIKE 'a*'", true);
    expect_bool("'aaa' LIKE 'a*'", false);
    expect_bool("'a+b' LIKE 'a+b'", true);
    expect_bool("'(x)[y]^$|?' LIKE '(x)[y]^$|?'", true);
    expect_bool("'a\\b' LIKE 'a\\b'", true);
}
END_TEST

START_TEST(test_like_null_is_null)
{
    expect_null("ns LIKE 'a%'", RN_T_BOOL);
    expect_null("ns NOT LIKE 'a%'", RN_T_BOOL);
}
END_TEST

START_TEST(test_not_like)
{
    expect_bool("s NOT LIKE 'x%'", true);
    expect_bool("s NOT LIKE 'a%'", false);
}
END_TEST

START_TEST(test_like_over_rows)
{
    expect_rows("x:string", "apple; banana; NULL; avocado; a; ao", "x LIKE 'a%o'", "bool",
                "false; false; NULL; true; false; true");
}
END_TEST

START_TEST(test_like_pattern_must_be_constant)
{
    expect_type_error("s LIKE s2");
}
END_TEST

START_TEST(test_like_on_non_string_is_type_error)
{
    expect_type_error("i LIKE '1'");
}
END_TEST

/* ---- CASE ---- */

START_TEST(test_case_searched_first_true_wins)
{
    expect_str("CASE WHEN i > 5 THEN 'big' WHEN i > 0 THEN 'pos' ELSE 'neg' END", "big");
    expect_str("CASE WHEN i > 50 THEN 'big' WHEN i > 0 THEN 'pos' ELSE 'neg' END", "pos");
    expect_str("CASE WHEN i > 50 THEN 'big' WHEN i > 10 THEN 'pos' ELSE 'neg' END", "neg");
}
END_TEST

START_TEST(test_case_without_else_is_null)
{
    expect_null("CASE WHEN i < 0 THEN 1 END", RN_T_INT64);
}
END_TEST

START_TEST(test_case_null_condition_is_not_true)
{
    expect_i64("CASE WHEN nb THEN 1 ELSE 2 END", 2);
    expect_i64("CASE WHEN n > 0 THEN 1 WHEN TRUE THEN 3 END", 3);
}
END_TEST

START_TEST(test_case_int_and_double_mix_to_double)
{
    expect_f64("CASE WHEN g THEN 1 ELSE 2.5 END", 1.0);
    expect_f64("CASE WHEN f THEN 1 ELSE 2.5 END", 2.5);
    expect_f64("CASE WHEN f THEN d WHEN g THEN i END", 7.0);
}
END_TEST

START_TEST(test_case_null_result_fits_any_type)
{
    expect_null("CASE WHEN g THEN NULL ELSE 3 END", RN_T_INT64);
    expect_str("CASE WHEN f THEN NULL ELSE 'x' END", "x");
}
END_TEST

START_TEST(test_case_simple_form)
{
    expect_str("CASE i WHEN 1 THEN 'one' WHEN 7 THEN 'seven' ELSE 'other' END", "seven");
    expect_str("CASE i WHEN 1 THEN 'one' ELSE 'other' END", "other");
    expect_null("CASE i WHEN 1 THEN 'one' END", RN_T_STRING);
    expect_str("CASE s WHEN 'abc' THEN 'yes' END", "yes");
}
END_TEST

START_TEST(test_case_simple_form_null_operand_goes_to_else)
{
    expect_str("CASE n WHEN 1 THEN 'a' ELSE 'b' END", "b");
}
END_TEST

START_TEST(test_case_simple_form_mixes_int_and_double)
{
    expect_str("CASE i WHEN 7.0 THEN 'x' END", "x");
}
END_TEST

START_TEST(test_case_over_rows)
{
    expect_rows("x:int64", "5; -3; 0; NULL", "CASE WHEN x > 0 THEN 'pos' WHEN x < 0 THEN 'neg' END",
                "string", "pos; neg; NULL; NULL");
    expect_rows("x:int64, y:int64", "6, 3; 6, 0; NULL, 2",
                "CASE WHEN y = 0 THEN -1 ELSE x / y END", "int64", "2; -1; NULL");
}
END_TEST

START_TEST(test_case_result_type_mismatch_is_type_error)
{
    expect_type_error("CASE WHEN g THEN 1 ELSE 'x' END");
    expect_type_error("CASE WHEN g THEN f ELSE 1 END");
}
END_TEST

START_TEST(test_case_condition_not_bool_is_type_error)
{
    expect_type_error("CASE WHEN i THEN 1 END");
}
END_TEST

START_TEST(test_case_simple_incomparable_is_type_error)
{
    expect_type_error("CASE s WHEN 1 THEN 2 END");
}
END_TEST

/* ---- CAST: one test per cell of the doc's table ---- */

START_TEST(test_cast_bool_to_bool)
{
    expect_bool("CAST(g AS bool)", true);
    expect_bool("CAST(f AS bool)", false);
}
END_TEST

START_TEST(test_cast_bool_to_int64)
{
    expect_i64("CAST(g AS int64)", 1);
    expect_i64("CAST(f AS int64)", 0);
    expect_i64("CAST(TRUE AS int64)", 1);
}
END_TEST

START_TEST(test_cast_bool_to_double)
{
    expect_f64("CAST(g AS double)", 1.0);
    expect_f64("CAST(f AS double)", 0.0);
}
END_TEST

START_TEST(test_cast_bool_to_string)
{
    expect_str("CAST(g AS string)", "true");
    expect_str("CAST(f AS string)", "false");
    expect_str("CAST(FALSE AS string)", "false");
}
END_TEST

START_TEST(test_cast_bool_to_timestamp_is_error)
{
    expect_type_error("CAST(g AS timestamp)");
    expect_type_error("CAST(TRUE AS timestamp)");
}
END_TEST

START_TEST(test_cast_int64_to_bool_is_not_zero)
{
    expect_bool("CAST(i AS bool)", true);
    expect_bool("CAST(z AS bool)", false);
    expect_bool("CAST(j AS bool)", true);
    expect_bool("CAST(0 AS bool)", false);
}
END_TEST

START_TEST(test_cast_int64_to_int64)
{
    expect_i64("CAST(i AS int64)", 7);
}
END_TEST

START_TEST(test_cast_int64_to_double_exact_or_nearest)
{
    expect_f64("CAST(i AS double)", 7.0);
    expect_f64("CAST(-3 AS double)", -3.0);
    expect_f64("CAST(9007199254740993 AS double)", 9007199254740992.0);
    expect_f64("CAST(9223372036854775807 AS double)", 9223372036854775808.0);
}
END_TEST

START_TEST(test_cast_int64_to_string_decimal)
{
    expect_str("CAST(i AS string)", "7");
    expect_str("CAST(j AS string)", "-2");
    expect_str("CAST(0 AS string)", "0");
    expect_str("CAST(9223372036854775807 AS string)", "9223372036854775807");
    expect_str("CAST((-9223372036854775807 - 1) AS string)", "-9223372036854775808");
}
END_TEST

START_TEST(test_cast_int64_to_timestamp_milliseconds)
{
    expect_ts("CAST(i AS timestamp)", 7);
    expect_ts("CAST(-1000 AS timestamp)", -1000);
}
END_TEST

START_TEST(test_cast_double_to_bool_is_not_zero)
{
    expect_bool("CAST(d AS bool)", true);
    expect_bool("CAST(0.0 AS bool)", false);
    expect_bool("CAST(-0.0 AS bool)", false);
    expect_bool("CAST(0.1 AS bool)", true);
    expect_bool("CAST(e AS bool)", true);
}
END_TEST

START_TEST(test_cast_double_to_int64_truncates_toward_zero)
{
    expect_i64("CAST(d AS int64)", 2);
    expect_i64("CAST(2.7 AS int64)", 2);
    expect_i64("CAST(-2.7 AS int64)", -2);
    expect_i64("CAST(e AS int64)", 0);
    expect_i64("CAST(1e18 AS int64)", 1000000000000000000LL);
    expect_i64("CAST(-9223372036854775808.0 AS int64)", INT64_MIN);
}
END_TEST

START_TEST(test_cast_double_to_int64_nan_or_out_of_range_is_null)
{
    expect_null("CAST(0.0 / 0 AS int64)", RN_T_INT64);
    expect_null("CAST(1.0 / 0 AS int64)", RN_T_INT64);
    expect_null("CAST(-1.0 / 0 AS int64)", RN_T_INT64);
    expect_null("CAST(1e19 AS int64)", RN_T_INT64);
    expect_null("CAST(-1e19 AS int64)", RN_T_INT64);
    expect_null("CAST(9223372036854775808.0 AS int64)", RN_T_INT64);
    expect_rows("x:double", "1.5; 1e300; -7.9; NULL", "CAST(x AS int64)", "int64",
                "1; NULL; -7; NULL");
}
END_TEST

START_TEST(test_cast_double_to_double)
{
    expect_f64("CAST(d AS double)", 2.5);
}
END_TEST

START_TEST(test_cast_double_to_string_shortest_round_trip)
{
    expect_str("CAST(d AS string)", "2.5");
    expect_str("CAST(1.5 AS string)", "1.5");
    expect_str("CAST(1e20 AS string)", "1e+20");
    expect_str("CAST(0.1 AS string)", "0.1");
    expect_str("CAST(0.1 + 0.2 AS string)", "0.30000000000000004");
    expect_str("CAST(100.0 AS string)", "100");
    expect_str("CAST(e AS string)", "-0.5");
}
END_TEST

START_TEST(test_cast_double_to_string_nan_and_inf)
{
    expect_str("CAST(0.0 / 0 AS string)", "nan");
    expect_str("CAST(1.0 / 0 AS string)", "inf");
    expect_str("CAST(-1.0 / 0 AS string)", "-inf");
}
END_TEST

START_TEST(test_cast_double_to_timestamp_truncates)
{
    expect_ts("CAST(1500.9 AS timestamp)", 1500);
    expect_ts("CAST(-1500.9 AS timestamp)", -1500);
    expect_ts("CAST(d AS timestamp)", 2);
}
END_TEST

START_TEST(test_cast_string_to_bool)
{
    expect_bool("CAST('true' AS bool)", true);
    expect_bool("CAST('false' AS bool)", false);
    expect_bool("CAST('1' AS bool)", true);
    expect_bool("CAST('0' AS bool)", false);
    expect_bool("CAST('TRUE' AS bool)", true);
    expect_bool("CAST('False' AS bool)", false);
    expect_bool("CAST('tRuE' AS bool)", true);
}
END_TEST

START_TEST(test_cast_string_to_bool_unreadable_is_null)
{
    expect_null("CAST('yes' AS bool)", RN_T_BOOL);
    expect_null("CAST('' AS bool)", RN_T_BOOL);
    expect_null("CAST('2' AS bool)", RN_T_BOOL);
    expect_null("CAST(s AS bool)", RN_T_BOOL);
}
END_TEST

START_TEST(test_cast_string_to_int64)
{
    expect_i64("CAST('123' AS int64)", 123);
    expect_i64("CAST('-45' AS int64)", -45);
    expect_i64("CAST('9223372036854775807' AS int64)", INT64_MAX);
    expect_rows("x:string", "12; -3; 0", "CAST(x AS int64)", "int64", "12; -3; 0");
}
END_TEST

START_TEST(test_cast_string_to_int64_unreadable_is_null)
{
    expect_null("CAST('abc' AS int64)", RN_T_INT64);
    expect_null("CAST('12abc' AS int64)", RN_T_INT64);
    expect_null("CAST('' AS int64)", RN_T_INT64);
    expect_null("CAST('1.5' AS int64)", RN_T_INT64);
    expect_null("CAST('99999999999999999999' AS int64)", RN_T_INT64);
}
END_TEST

START_TEST(test_cast_string_to_double)
{
    expect_f64("CAST('1.5' AS double)", 1.5);
    expect_f64("CAST('-2e3' AS double)", -2000.0);
    expect_f64("CAST('7' AS double)", 7.0);
}
END_TEST

START_TEST(test_cast_string_to_double_unreadable_is_null)
{
    expect_null("CAST('x' AS double)", RN_T_DOUBLE);
    expect_null("CAST('1.5x' AS double)", RN_T_DOUBLE);
    expect_null("CAST('' AS double)", RN_T_DOUBLE);
    expect_null("CAST(s AS double)", RN_T_DOUBLE);
}
END_TEST

START_TEST(test_cast_string_to_string)
{
    expect_str("CAST(s AS string)", "abc");
}
END_TEST

START_TEST(test_cast_string_to_timestamp_as_to_timestamp)
{
    expect_ts("CAST('1000' AS timestamp)", 1000);
    expect_ts("CAST('1970-01-01T00:00:01Z' AS timestamp)", 1000);
    expect_ts("CAST('2026-11-22T13:38:00.000Z' AS timestamp)", 1795354680000LL);
    expect_null("CAST('bad' AS timestamp)", RN_T_TIMESTAMP);
}
END_TEST

START_TEST(test_cast_timestamp_to_bool_is_error)
{
    expect_type_error("CAST(t AS bool)");
}
END_TEST

START_TEST(test_cast_timestamp_to_int64_milliseconds)
{
    expect_i64("CAST(t AS int64)", 10000);
}
END_TEST

START_TEST(test_cast_timestamp_to_double_milliseconds)
{
    expect_f64("CAST(t AS double)", 10000.0);
}
END_TEST

START_TEST(test_cast_timestamp_to_string_iso8601)
{
    expect_str("CAST(CAST(1795354680000 AS timestamp) AS string)", "2026-11-22T13:38:00.000Z");
    expect_str("CAST(CAST(1795354680123 AS timestamp) AS string)", "2026-11-22T13:38:00.123Z");
    expect_str("CAST(CAST(0 AS timestamp) AS string)", "1970-01-01T00:00:00.000Z");
    expect_str("CAST(t AS string)", "1970-01-01T00:00:10.000Z");
    expect_str("CAST(CAST(-1 AS timestamp) AS string)", "1969-12-31T23:59:59.999Z");
}
END_TEST

START_TEST(test_cast_timestamp_to_timestamp)
{
    expect_ts("CAST(t AS timestamp)", 10000);
}
END_TEST

START_TEST(test_cast_null_input_is_null)
{
    expect_null("CAST(n AS string)", RN_T_STRING);
    expect_null("CAST(ns AS int64)", RN_T_INT64);
    expect_null("CAST(nd AS int64)", RN_T_INT64);
    expect_null("CAST(nb AS int64)", RN_T_INT64);
    expect_null("CAST(nt AS string)", RN_T_STRING);
}
END_TEST

START_TEST(test_cast_null_literal_to_every_type)
{
    expect_null("CAST(NULL AS bool)", RN_T_BOOL);
    expect_null("CAST(NULL AS int64)", RN_T_INT64);
    expect_null("CAST(NULL AS double)", RN_T_DOUBLE);
    expect_null("CAST(NULL AS string)", RN_T_STRING);
    expect_null("CAST(NULL AS timestamp)", RN_T_TIMESTAMP);
}
END_TEST

START_TEST(test_bare_null_is_error)
{
    rn_schema *s = tu_schema(SCHEMA);
    compile_fail_on("NULL", s);
    rn_schema_unref(s);
}
END_TEST

/* ---- vectors ---- */

/* v, w: vector<3>; x: int64. Rows: [1,2,3]; NULL; [4,5,6]. */
static struct rn_batch *vector_batch(void)
{
    rn_schema *s = tu_schema("v:vector<3>, w:vector<3>, x:int64");
    rn_builder *bb = rn_builder_create(s, 0);
    const float r0[3] = {1, 2, 3}, r2[3] = {4, 5, 6};
    ck_assert_int_eq(rn_builder_vec(bb, 0, r0, 3), 0);
    ck_assert_int_eq(rn_builder_vec(bb, 1, r2, 3), 0);
    ck_assert_int_eq(rn_builder_i64(bb, 2, 1), 0);
    ck_assert_int_eq(rn_builder_null(bb, 0), 0);
    ck_assert_int_eq(rn_builder_null(bb, 1), 0);
    ck_assert_int_eq(rn_builder_i64(bb, 2, 2), 0);
    ck_assert_int_eq(rn_builder_vec(bb, 0, r2, 3), 0);
    ck_assert_int_eq(rn_builder_vec(bb, 1, r0, 3), 0);
    ck_assert_int_eq(rn_builder_i64(bb, 2, 3), 0);
    struct rn_error err;
    struct rn_batch *b = rn_builder_finish(bb, &err);
    ck_assert_msg(b != NULL, "%s", err.msg);
    rn_builder_destroy(bb);
    rn_schema_unref(s);
    return b;
}

static void check_vector_passthrough(const char *src)
{
    struct rn_batch *b = vector_batch();
    rn_expr *e = tu_compile_ok(src, b->schema);
    ck_assert(rn_type_eq(rn_expr_type(e), rn_type_vector(3)));
    struct rn_column out;
    tu_eval_ok(e, b, &out);
    ck_assert(!rn_column_is_null(&out, 0));
    ck_assert(rn_column_is_null(&out, 1));
    ck_assert(!rn_column_is_null(&out, 2));
    ck_assert(rn_col_vec(&out, 0)[0] == 1 && rn_col_vec(&out, 0)[2] == 3);
    ck_assert(rn_col_vec(&out, 2)[0] == 4 && rn_col_vec(&out, 2)[2] == 6);
    rn_column_release(&out);
    rn_expr_destroy(e);
    rn_batch_unref(b);
}

START_TEST(test_vector_column_passes_through)
{
    check_vector_passthrough("v");
}
END_TEST

START_TEST(test_vector_cast_to_itself)
{
    check_vector_passthrough("CAST(v AS vector<3>)");
}
END_TEST

START_TEST(test_vector_is_null)
{
    struct rn_batch *b = vector_batch();
    struct tu_val v0 = tu_eval_on(b, "v IS NULL", 0), v1 = tu_eval_on(b, "v IS NULL", 1);
    ck_assert(!v0.null && !v0.b);
    ck_assert(!v1.null && v1.b);
    v1 = tu_eval_on(b, "w IS NOT NULL", 1);
    ck_assert(!v1.null && !v1.b);
    rn_batch_unref(b);
}
END_TEST

START_TEST(test_vector_other_operations_are_errors)
{
    struct rn_batch *b = vector_batch();
    const char *bad[] = {"v + 1", "v = w", "v < w", "CAST(v AS string)", "CAST(x AS vector<3>)",
                         "CAST(v AS vector<4>)", "v IN (w)", "-v", "v || 'a'"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) compile_fail_on(bad[k], b->schema);
    rn_batch_unref(b);
}
END_TEST

/* ---- result type, nullability, constness ---- */

START_TEST(test_expr_type_of_results)
{
    rn_schema *s = tu_schema(SCHEMA);
    struct { const char *src; enum rn_type_id want; } cases[] = {
        {"i + j", RN_T_INT64}, {"i + d", RN_T_DOUBLE}, {"t - 4s", RN_T_TIMESTAMP},
        {"i + t", RN_T_TIMESTAMP}, {"t - u", RN_T_INT64}, {"i < d", RN_T_BOOL},
        {"s || s2", RN_T_STRING}, {"CAST(i AS timestamp)", RN_T_TIMESTAMP}, {"2e3", RN_T_DOUBLE},
        {"4s", RN_T_INT64}, {"n IS NULL", RN_T_BOOL},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        rn_expr *e = tu_compile_ok(cases[k].src, s);
        ck_assert_msg(rn_expr_type(e).id == cases[k].want, "'%s': type %s", cases[k].src,
                      tu_type_name(rn_expr_type(e)));
        rn_expr_destroy(e);
    }
    rn_schema_unref(s);
}
END_TEST

static bool nullable_of(const char *src)
{
    rn_schema *s = tu_schema("k:int64 not null, m:int64 not null, n:int64");
    rn_expr *e = tu_compile_ok(src, s);
    bool r = rn_expr_nullable(e);
    rn_expr_destroy(e);
    rn_schema_unref(s);
    return r;
}

START_TEST(test_nullable_follows_inputs)
{
    ck_assert_msg(!nullable_of("k + 1"), "k + 1 over a not-null column is not nullable");
    ck_assert_msg(!nullable_of("k"), "k");
    ck_assert_msg(nullable_of("n + 1"), "n + 1");
    ck_assert_msg(nullable_of("n"), "n");
    ck_assert_msg(nullable_of("k + n"), "k + n");
}
END_TEST

START_TEST(test_nullable_when_result_can_be_null_without_null_input)
{
    ck_assert_msg(nullable_of("k / m"), "integer division can give null");
    ck_assert_msg(nullable_of("k % m"), "integer modulo can give null");
    ck_assert_msg(nullable_of("CASE WHEN k > 1 THEN 1 END"), "CASE without ELSE");
    ck_assert_msg(nullable_of("CAST(NULL AS int64)"), "typed null");
}
END_TEST

START_TEST(test_is_constant)
{
    rn_schema *s = tu_schema(SCHEMA);
    struct { const char *src; bool want; } cases[] = {
        {"1 + 2", true}, {"'a' || 'b'", true}, {"CAST(NULL AS int64)", true}, {"abs(-3)", true},
        {"i + 1", false}, {"s", false}, {"now()", false}, {"now() - 1s", false},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        rn_expr *e = tu_compile_ok(cases[k].src, s);
        ck_assert_msg(rn_expr_is_constant(e) == cases[k].want, "'%s': is_constant %d",
                      cases[k].src, rn_expr_is_constant(e));
        rn_expr_destroy(e);
    }
    rn_schema_unref(s);
}
END_TEST

START_TEST(test_constant_expression_fills_every_row)
{
    struct rn_batch *b = tu_batch("x:int64", "1; 2; 3; 4; 5");
    rn_expr *e = tu_compile_ok("2 * 21", b->schema);
    struct rn_column out;
    tu_eval_ok(e, b, &out);
    for (uint32_t r = 0; r < 5; r++) {
        ck_assert(!rn_column_is_null(&out, r));
        ck_assert_int_eq(rn_col_i64(&out, r), 42);
    }
    rn_column_release(&out);
    rn_expr_destroy(e);
    e = tu_compile_ok("CAST(NULL AS string)", b->schema);
    tu_eval_ok(e, b, &out);
    for (uint32_t r = 0; r < 5; r++) ck_assert(rn_column_is_null(&out, r));
    rn_column_release(&out);
    rn_expr_destroy(e);
    rn_batch_unref(b);
}
END_TEST

START_TEST(test_eval_empty_batch)
{
    struct rn_batch *b = tu_batch("x:int64", "");
    ck_assert_uint_eq(b->n_rows, 0);
    rn_expr *e = tu_compile_ok("x * 2 > 1", b->schema);
    struct rn_column out;
    tu_eval_ok(e, b, &out);
    rn_column_release(&out);
    uint32_t sel[1], n = 99;
    struct rn_error err;
    ck_assert_int_eq(rn_expr_select(e, b, sel, &n, &err), 0);
    ck_assert_uint_eq(n, 0);
    rn_expr_destroy(e);
    rn_batch_unref(b);
}
END_TEST

/* ---- select / filter ---- */

START_TEST(test_select_gives_indexes_of_true_rows)
{
    struct rn_batch *b = tu_batch("x:int64", "5; NULL; 1; 7; NULL; 9");
    rn_expr *e = tu_compile_ok("x > 4", b->schema);
    uint32_t sel[6], n = 0;
    struct rn_error err;
    ck_assert_int_eq(rn_expr_select(e, b, sel, &n, &err), 0);
    ck_assert_uint_eq(n, 3);
    ck_assert_uint_eq(sel[0], 0);
    ck_assert_uint_eq(sel[1], 3);
    ck_assert_uint_eq(sel[2], 5);
    rn_expr_destroy(e);
    rn_batch_unref(b);
}
END_TEST

START_TEST(test_select_excludes_null_rows)
{
    struct rn_batch *b = tu_batch("x:bool", "NULL; true; NULL; false; true");
    rn_expr *e = tu_compile_ok("x", b->schema);
    uint32_t sel[5], n = 0;
    struct rn_error err;
    ck_assert_int_eq(rn_expr_select(e, b, sel, &n, &err), 0);
    ck_assert_uint_eq(n, 2);
    ck_assert_uint_eq(sel[0], 1);
    ck_assert_uint_eq(sel[1], 4);
    rn_expr_destroy(e);
    rn_batch_unref(b);
}
END_TEST

START_TEST(test_select_none_true)
{
    struct rn_batch *b = tu_batch("x:int64", "1; 2; NULL");
    rn_expr *e = tu_compile_ok("x > 100", b->schema);
    uint32_t sel[3], n = 99;
    struct rn_error err;
    ck_assert_int_eq(rn_expr_select(e, b, sel, &n, &err), 0);
    ck_assert_uint_eq(n, 0);
    rn_expr_destroy(e);
    rn_batch_unref(b);
}
END_TEST

START_TEST(test_select_constant_condition)
{
    struct rn_batch *b = tu_batch("x:int64", "1; 2; 3");
    rn_expr *e = tu_compile_ok("1 < 2", b->schema);
    uint32_t sel[3], n = 0;
    struct rn_error err;
    ck_assert_int_eq(rn_expr_select(e, b, sel, &n, &err), 0);
    ck_assert_uint_eq(n, 3);
    ck_assert(sel[0] == 0 && sel[1] == 1 && sel[2] == 2);
    rn_expr_destroy(e);
    e = tu_compile_ok("CAST(NULL AS bool)", b->schema);
    ck_assert_int_eq(rn_expr_select(e, b, sel, &n, &err), 0);
    ck_assert_uint_eq(n, 0);
    rn_expr_destroy(e);
    rn_batch_unref(b);
}
END_TEST

START_TEST(test_select_non_bool_is_error)
{
    struct rn_batch *b = tu_batch("x:int64", "1; 2");
    rn_expr *e = tu_compile_ok("x + 1", b->schema);
    uint32_t sel[2], n = 0;
    struct rn_error err;
    memset(&err, 0, sizeof err);
    ck_assert_int_lt(rn_expr_select(e, b, sel, &n, &err), 0);
    rn_expr_destroy(e);
    rn_batch_unref(b);
}
END_TEST

START_TEST(test_filter_all_pass_returns_same_batch)
{
    struct rn_batch *b = tu_batch("x:int64, s:string", "1, a; 2, b; 3, c");
    rn_expr *e = tu_compile_ok("x > 0", b->schema);
    struct rn_batch *out = NULL;
    struct rn_error err;
    uint32_t refs = atomic_load(&b->refs);
    ck_assert_int_eq(rn_expr_filter(e, b, &out, &err), 0);
    ck_assert_ptr_eq(out, b);
    ck_assert_uint_eq(atomic_load(&b->refs), refs + 1);
    rn_batch_unref(out);
    ck_assert_uint_eq(atomic_load(&b->refs), refs);
    rn_expr_destroy(e);
    rn_batch_unref(b);
}
END_TEST

START_TEST(test_filter_none_pass_gives_zero_rows)
{
    struct rn_batch *b = tu_batch("x:int64, s:string", "1, a; NULL, b; 3, c");
    rn_expr *e = tu_compile_ok("x > 10", b->schema);
    struct rn_batch *out = NULL;
    struct rn_error err;
    ck_assert_int_eq(rn_expr_filter(e, b, &out, &err), 0);
    ck_assert_ptr_nonnull(out);
    ck_assert_uint_eq(out->n_rows, 0);
    ck_assert(rn_schema_equal(out->schema, b->schema));
    ck_assert_int_eq(rn_batch_validate(out, &err), 0);
    rn_batch_unref(out);
    rn_expr_destroy(e);
    rn_batch_unref(b);
}
END_TEST

START_TEST(test_filter_keeps_true_rows_and_strings_intact)
{
    struct rn_batch *b = tu_batch("x:int64, s:string", "1, one; 2, two; NULL, three; 4, four; "
                                  "5, five; 6, NULL");
    rn_expr *e = tu_compile_ok("x % 2 = 0", b->schema);
    struct rn_batch *out = NULL;
    struct rn_error err;
    ck_assert_int_eq(rn_expr_filter(e, b, &out, &err), 0);
    rn_expr_destroy(e);
    rn_batch_unref(b); /* the output must keep the string bytes alive on its own */
    struct rn_batch *noise = tu_batch("x:int64, s:string", "9, zzzzzzzzzzzzzzzzz; 9, yyyyyyyyyyy");
    ck_assert_uint_eq(out->n_rows, 3);
    ck_assert_int_eq(rn_batch_validate(out, &err), 0);
    const char *want[] = {"two", "four", NULL};
    const int64_t wx[] = {2, 4, 6};
    for (uint32_t r = 0; r < 3; r++) {
        ck_assert_int_eq(rn_col_i64(&out->cols[0], r), wx[r]);
        if (!want[r]) {
            ck_assert(rn_column_is_null(&out->cols[1], r));
            continue;
        }
        struct rn_str sv = rn_col_str(&out->cols[1], r);
        ck_assert_uint_eq(sv.len, strlen(want[r]));
        ck_assert(memcmp(sv.ptr, want[r], sv.len) == 0);
    }
    rn_batch_unref(noise);
    rn_batch_unref(out);
}
END_TEST

/* ---- projections ---- */

static rn_projection *projection_ok(const char *const *names, const char *const *exprs, uint32_t n,
                                    const rn_schema *in)
{
    rn_projection *p = NULL;
    struct rn_error err;
    memset(&err, 0, sizeof err);
    int rc = rn_projection_compile(names, exprs, n, in, &p, &err);
    ck_assert_msg(rc == 0, "projection: %s", err.msg);
    ck_assert_ptr_nonnull(p);
    return p;
}

START_TEST(test_projection_output_schema)
{
    struct rn_batch *b = tu_batch("id:int64, s:string, t:timestamp", "1, x, 5000");
    const char *names[] = {"id", "twice", "half", "label", "earlier", "big"};
    const char *exprs[] = {"id", "id * 2", "id / 2.0", "s || '!'", "t - 1s", "id > 10"};
    rn_projection *p = projection_ok(names, exprs, 6, b->schema);
    const rn_schema *os = rn_projection_schema(p);
    ck_assert_uint_eq(rn_schema_len(os), 6);
    const enum rn_type_id types[] = {RN_T_INT64, RN_T_INT64, RN_T_DOUBLE, RN_T_STRING,
                                     RN_T_TIMESTAMP, RN_T_BOOL};
    for (size_t k = 0; k < 6; k++) {
        ck_assert_str_eq(rn_schema_field(os, k)->name, names[k]);
        ck_assert_int_eq(rn_schema_field(os, k)->type.id, types[k]);
    }
    rn_projection_destroy(p);
    rn_batch_unref(b);
}
END_TEST

START_TEST(test_projection_column_reference_shares_values)
{
    struct rn_batch *b = tu_batch("id:int64, s:string", "1, x; 2, y");
    const char *names[] = {"name", "key"};
    const char *exprs[] = {"s", "id"};
    rn_projection *p = projection_ok(names, exprs, 2, b->schema);
    struct rn_batch *out = NULL;
    struct rn_error err;
    ck_assert_int_eq(rn_projection_apply(p, b, &out, &err), 0);
    ck_assert_ptr_eq(out->cols[0].values, b->cols[1].values);
    ck_assert_ptr_eq(out->cols[1].values, b->cols[0].values);
    rn_batch_unref(out);
    rn_projection_destroy(p);
    rn_batch_unref(b);
}
END_TEST

START_TEST(test_projection_computes_columns)
{
    struct rn_batch *b = tu_batch("id:int64, s:string, t:timestamp",
                                  "1, x, 5000; NULL, yy, 6000; 3, NULL, 7000");
    const char *names[] = {"id", "twice", "label", "earlier"};
    const char *exprs[] = {"id", "id * 2", "s || '!'", "t - 1s"};
    rn_projection *p = projection_ok(names, exprs, 4, b->schema);
    struct rn_batch *out = NULL;
    struct rn_error err;
    ck_assert_int_eq(rn_projection_apply(p, b, &out, &err), 0);
    ck_assert_uint_eq(out->n_rows, 3);
    ck_assert(rn_schema_equal(out->schema, rn_projection_schema(p)));
    ck_assert_int_eq(rn_col_i64(&out->cols[1], 0), 2);
    ck_assert(rn_column_is_null(&out->cols[1], 1));
    ck_assert_int_eq(rn_col_i64(&out->cols[1], 2), 6);
    struct tu_val v = tu_col_val(&out->cols[2], 1);
    ck_assert_str_eq(v.s, "yy!");
    ck_assert(rn_column_is_null(&out->cols[2], 2));
    ck_assert_int_eq(rn_col_i64(&out->cols[3], 2), 6000);
    rn_batch_unref(out);
    rn_projection_destroy(p);
    rn_batch_unref(b);
}
END_TEST

START_TEST(test_projection_output_validates)
{
    struct rn_batch *b = tu_batch("id:int64, s:string, d:double, f:bool",
                                  "1, x, 1.5, true; NULL, yy, NULL, false; 3, NULL, 2.5, NULL");
    const char *names[] = {"id", "s", "u", "r", "c", "flag", "cut"};
    const char *exprs[] = {"id", "s", "s || s", "d * id", "id > 1", "NOT f", "CAST(d AS int64)"};
    rn_projection *p = projection_ok(names, exprs, 7, b->schema);
    struct rn_batch *out = NULL;
    struct rn_error err;
    ck_assert_int_eq(rn_projection_apply(p, b, &out, &err), 0);
    rn_batch_unref(b);
    memset(&err, 0, sizeof err);
    ck_assert_msg(rn_batch_validate(out, &err) == 0, "invalid projection output: %s", err.msg);
    struct tu_val v = tu_col_val(&out->cols[2], 1);
    ck_assert_str_eq(v.s, "yyyy");
    rn_batch_unref(out);
    rn_projection_destroy(p);
}
END_TEST

START_TEST(test_projection_error_names_failing_column)
{
    rn_schema *s = tu_schema("id:int64, s:string");
    const char *names[] = {"good", "broken_one"};
    const char *exprs[] = {"id", "nosuch + 1"};
    rn_projection *p = NULL;
    struct rn_error err;
    memset(&err, 0, sizeof err);
    ck_assert_int_lt(rn_projection_compile(names, exprs, 2, s, &p, &err), 0);
    ck_assert_msg(strstr(err.msg, "broken_one") != NULL, "msg: %s", err.msg);
    const char *exprs2[] = {"s + 1", "id"};
    memset(&err, 0, sizeof err);
    ck_assert_int_lt(rn_projection_compile(names, exprs2, 2, s, &p, &err), 0);
    ck_assert_msg(strstr(err.msg, "good") != NULL, "msg: %s", err.msg);
    rn_schema_unref(s);
}
END_TEST

/* ---- large batches with nulls against a per-row computation ---- */

#define BIG 1000

/* a: (r*37 % 201) - 100, null every 7th row; b: (r % 11) - 5, null when r % 5 == 3;
 * s: "k<r>", null when r % 7 == 3; x: a / 4.0, null when r % 9 == 0. */
static bool big_a_null(uint32_t r) { return r % 7 == 0; }
static int64_t big_a(uint32_t r) { return (int64_t)(r * 37 % 201) - 100; }
static bool big_b_null(uint32_t r) { return r % 5 == 3; }
static int64_t big_b(uint32_t r) { return (int64_t)(r % 11) - 5; }
static bool big_s_null(uint32_t r) { return r % 7 == 3; }
static bool big_x_null(uint32_t r) { return r % 9 == 0; }

static struct rn_batch *big_batch(uint32_t n)
{
    rn_schema *s = tu_schema("a:int64, b:int64, s:string, x:double");
    rn_builder *bb = rn_builder_create(s, n);
    ck_assert_ptr_nonnull(bb);
    for (uint32_t r = 0; r < n; r++) {
        char buf[32];
        int len = snprintf(buf, sizeof buf, "k%u", r);
        ck_assert_int_eq(big_a_null(r) ? rn_builder_null(bb, 0) : rn_builder_i64(bb, 0, big_a(r)), 0);
        ck_assert_int_eq(big_b_null(r) ? rn_builder_null(bb, 1) : rn_builder_i64(bb, 1, big_b(r)), 0);
        ck_assert_int_eq(big_s_null(r) ? rn_builder_null(bb, 2) : rn_builder_str(bb, 2, buf, len), 0);
        ck_assert_int_eq(big_x_null(r) ? rn_builder_null(bb, 3)
                                       : rn_builder_f64(bb, 3, big_a(r) / 4.0), 0);
    }
    struct rn_error err;
    struct rn_batch *b = rn_builder_finish(bb, &err);
    ck_assert_msg(b != NULL, "%s", err.msg);
    ck_assert_uint_eq(b->n_rows, n);
    rn_builder_destroy(bb);
    rn_schema_unref(s);
    return b;
}

/* Three-valued helpers for the reference computation: -1 null, 0 false, 1 true. */
static int and3(int x, int y) { return (x == 0 || y == 0) ? 0 : (x < 0 || y < 0) ? -1 : 1; }
static int or3(int x, int y) { return (x == 1 || y == 1) ? 1 : (x < 0 || y < 0) ? -1 : 0; }

static void check_i64_rows(struct rn_batch *b, const char *src,
                           bool (*ref)(uint32_t r, int64_t *out))
{
    rn_expr *e = tu_compile_ok(src, b->schema);
    struct rn_column out;
    tu_eval_ok(e, b, &out);
    for (uint32_t r = 0; r < b->n_rows; r++) {
        int64_t want = 0;
        bool valid = ref(r, &want);
        ck_assert_msg(rn_column_is_null(&out, r) == !valid, "'%s' row %u: null %d, want %d", src, r,
                      rn_column_is_null(&out, r), !valid);
        if (valid)
            ck_assert_msg(rn_col_i64(&out, r) == want, "'%s' row %u: %" PRId64 ", want %" PRId64,
                          src, r, rn_col_i64(&out, r), want);
    }
    rn_column_release(&out);
    rn_expr_destroy(e);
}

static void check_bool_rows(struct rn_batch *b, const char *src, int (*ref)(uint32_t r))
{
    rn_expr *e = tu_compile_ok(src, b->schema);
    struct rn_column out;
    tu_eval_ok(e, b, &out);
    uint32_t *sel = malloc(sizeof *sel * (b->n_rows + 1)), n = 0, k = 0;
    struct rn_error err;
    ck_assert_int_eq(rn_expr_select(e, b, sel, &n, &err), 0);
    for (uint32_t r = 0; r < b->n_rows; r++) {
        int want = ref(r);
        struct tu_val v = tu_col_val(&out, r);
        ck_assert_msg(val3(v) == want, "'%s' row %u: %s, want %s", src, r, cell3(val3(v)),
                      cell3(want));
        if (want == 1) {
            ck_assert_msg(k < n && sel[k] == r, "'%s': select misses row %u", src, r);
            k++;
        }
    }
    ck_assert_uint_eq(k, n);
    free(sel);
    rn_column_release(&out);
    rn_expr_destroy(e);
}

static bool ref_a3b(uint32_t r, int64_t *o)
{
    if (big_a_null(r) || big_b_null(r)) return false;
    *o = big_a(r) * 3 + big_b(r);
    return true;
}

static bool ref_a_div_b(uint32_t r, int64_t *o)
{
    if (big_a_null(r) || big_b_null(r) || big_b(r) == 0) return false;
    *o = big_a(r) / big_b(r);
    return true;
}

static bool ref_a_mod_b(uint32_t r, int64_t *o)
{
    if (big_a_null(r) || big_b_null(r) || big_b(r) == 0) return false;
    *o = big_a(r) % big_b(r);
    return true;
}

static bool ref_case_max(uint32_t r, int64_t *o)
{
    /* CASE WHEN a > b THEN a ELSE b END: a null comparison goes to ELSE. */
    if (!big_a_null(r) && !big_b_null(r) && big_a(r) > big_b(r)) {
        *o = big_a(r);
        return true;
    }
    if (big_b_null(r)) return false;
    *o = big_b(r);
    return true;
}

static bool ref_coalesce_like(uint32_t r, int64_t *o)
{
    /* CASE WHEN a IS NULL THEN -1000 ELSE a + 1 END */
    *o = big_a_null(r) ? -1000 : big_a(r) + 1;
    return true;
}

static int ref_gt(uint32_t r) { return (big_a_null(r) || big_b_null(r)) ? -1 : big_a(r) > big_b(r); }

static int ref_logic(uint32_t r)
{
    /* a > 0 AND b < 0 OR x IS NULL */
    int p = big_a_null(r) ? -1 : big_a(r) > 0;
    int q = big_b_null(r) ? -1 : big_b(r) < 0;
    return or3(and3(p, q), big_x_null(r));
}

static int ref_not_or(uint32_t r)
{
    /* NOT (a % 7 = 0 OR b = 2) */
    int p = big_a_null(r) ? -1 : big_a(r) % 7 == 0;
    int q = big_b_null(r) ? -1 : big_b(r) == 2;
    int o = or3(p, q);
    return o < 0 ? -1 : !o;
}

static int ref_in(uint32_t r)
{
    /* a IN (1, 2, 3, b) */
    if (big_a_null(r)) return -1;
    int64_t a = big_a(r);
    if (a == 1 || a == 2 || a == 3) return 1;
    if (big_b_null(r)) return -1;
    return a == big_b(r);
}

static int ref_between(uint32_t r)
{
    if (big_a_null(r)) return -1;
    return big_a(r) >= -10 && big_a(r) <= 10;
}

static int ref_like(uint32_t r)
{
    /* s LIKE 'k1%' */
    if (big_s_null(r)) return -1;
    char buf[32];
    snprintf(buf, sizeof buf, "k%u", r);
    return buf[1] == '1';
}

static int ref_x_cmp(uint32_t r)
{
    /* x * 4 = a (both double and int view) */
    if (big_x_null(r) || big_a_null(r)) return -1;
    return 1;
}

START_TEST(test_big_batch_arithmetic_with_nulls)
{
    struct rn_batch *b = big_batch(BIG);
    check_i64_rows(b, "a * 3 + b", ref_a3b);
    check_i64_rows(b, "a / b", ref_a_div_b);
    check_i64_rows(b, "a % b", ref_a_mod_b);
    rn_batch_unref(b);
}
END_TEST

START_TEST(test_big_batch_case_with_nulls)
{
    struct rn_batch *b = big_batch(BIG);
    check_i64_rows(b, "CASE WHEN a > b THEN a ELSE b END", ref_case_max);
    check_i64_rows(b, "CASE WHEN a IS NULL THEN -1000 ELSE a + 1 END", ref_coalesce_like);
    rn_batch_unref(b);
}
END_TEST

START_TEST(test_big_batch_comparison_and_logic_with_nulls)
{
    struct rn_batch *b = big_batch(BIG);
    check_bool_rows(b, "a > b", ref_gt);
    check_bool_rows(b, "a > 0 AND b < 0 OR x IS NULL", ref_logic);
    check_bool_rows(b, "NOT (a % 7 = 0 OR b = 2)", ref_not_or);
    check_bool_rows(b, "x * 4 = a", ref_x_cmp);
    rn_batch_unref(b);
}
END_TEST

START_TEST(test_big_batch_in_between_like_with_nulls)
{
    struct rn_batch *b = big_batch(BIG);
    check_bool_rows(b, "a IN (1, 2, 3, b)", ref_in);
    check_bool_rows(b, "a BETWEEN -10 AND 10", ref_between);
    check_bool_rows(b, "s LIKE 'k1%'", ref_like);
    rn_batch_unref(b);
}
END_TEST

START_TEST(test_big_batch_strings_with_nulls)
{
    struct rn_batch *b = big_batch(BIG);
    rn_expr *e = tu_compile_ok("s || '-' || s", b->schema);
    struct rn_column out;
    tu_eval_ok(e, b, &out);
    for (uint32_t r = 0; r < BIG; r++) {
        ck_assert_msg(rn_column_is_null(&out, r) == big_s_null(r), "row %u", r);
        if (big_s_null(r)) continue;
        char want[64];
        snprintf(want, sizeof want, "k%u-k%u", r, r);
        struct tu_val v = tu_col_val(&out, r);
        ck_assert_str_eq(v.s, want);
    }
    rn_column_release(&out);
    rn_expr_destroy(e);
    rn_batch_unref(b);
}
END_TEST

START_TEST(test_nulls_at_bitmap_word_boundaries)
{
    const uint32_t nulls[] = {0, 63, 64, 127, 128, 191, 192, 199};
    rn_schema *s = tu_schema("a:int64");
    rn_builder *bb = rn_builder_create(s, 200);
    for (uint32_t r = 0, k = 0; r < 200; r++) {
        if (k < 8 && nulls[k] == r) {
            ck_assert_int_eq(rn_builder_null(bb, 0), 0);
            k++;
        } else {
            ck_assert_int_eq(rn_builder_i64(bb, 0, r), 0);
        }
    }
    struct rn_error err;
    struct rn_batch *b = rn_builder_finish(bb, &err);
    rn_builder_destroy(bb);
    rn_expr *e = tu_compile_ok("a + 1", b->schema);
    rn_expr *c = tu_compile_ok("a >= 0", b->schema);
    struct rn_column out;
    tu_eval_ok(e, b, &out);
    uint32_t sel[200], n = 0;
    ck_assert_int_eq(rn_expr_select(c, b, sel, &n, &err), 0);
    ck_assert_uint_eq(n, 192);
    for (uint32_t r = 0, k = 0, j = 0; r < 200; r++) {
        bool isnull = k < 8 && nulls[k] == r;
        if (isnull) k++;
        ck_assert_msg(rn_column_is_null(&out, r) == isnull, "row %u", r);
        if (!isnull) {
            ck_assert_int_eq(rn_col_i64(&out, r), (int64_t)r + 1);
            ck_assert_uint_eq(sel[j++], r);
        }
    }
    rn_column_release(&out);
    rn_expr_destroy(e);
    rn_expr_destroy(c);
    rn_batch_unref(b);
    rn_schema_unref(s);
}
END_TEST

START_TEST(test_same_expr_over_batches_of_varied_sizes)
{
    /* Sizes around the 64-row word size, and batches without nulls after ones with nulls: a
     * compiled expression reuses its scratch columns, which must not leak between batches. */
    const uint32_t sizes[] = {1000, 1, 63, 64, 65, 7, 1000, 129, 2};
    rn_schema *s = tu_schema("a:int64, b:int64, s:string, x:double");
    rn_expr *e = tu_compile_ok("a * 3 + b", s);
    rn_expr *c = tu_compile_ok("a > b", s);
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        struct rn_batch *b;
        bool no_nulls = k % 2 == 1;
        if (no_nulls) {
            /* same values, no nulls at all */
            rn_builder *bb = rn_builder_create(s, sizes[k]);
            for (uint32_t r = 0; r < sizes[k]; r++) {
                ck_assert_int_eq(rn_builder_i64(bb, 0, big_a(r)), 0);
                ck_assert_int_eq(rn_builder_i64(bb, 1, big_b(r)), 0);
                ck_assert_int_eq(rn_builder_str(bb, 2, "q", 1), 0);
                ck_assert_int_eq(rn_builder_f64(bb, 3, 0.5), 0);
            }
            struct rn_error err;
            b = rn_builder_finish(bb, &err);
            rn_builder_destroy(bb);
        } else {
            b = big_batch(sizes[k]);
        }
        struct rn_column out;
        tu_eval_ok(e, b, &out);
        for (uint32_t r = 0; r < b->n_rows; r++) {
            int64_t want = 0;
            bool valid = no_nulls ? (want = big_a(r) * 3 + big_b(r), true) : ref_a3b(r, &want);
            ck_assert_msg(rn_column_is_null(&out, r) == !valid, "batch %zu row %u null", k, r);
            if (valid) ck_assert_int_eq(rn_col_i64(&out, r), want);
        }
        rn_column_release(&out);
        tu_eval_ok(c, b, &out);
        for (uint32_t r = 0; r < b->n_rows; r++) {
            int want = no_nulls ? big_a(r) > big_b(r) : ref_gt(r);
            ck_assert_msg(val3(tu_col_val(&out, r)) == want, "batch %zu row %u", k, r);
        }
        rn_column_release(&out);
        rn_batch_unref(b);
    }
    rn_expr_destroy(e);
    rn_expr_destroy(c);
    rn_schema_unref(s);
}
END_TEST

START_TEST(test_steady_state_evaluation_does_not_malloc)
{
    enum { NB = 6, ROWS = 500 };
    struct rn_batch *bs[NB];
    for (int k = 0; k < NB; k++) bs[k] = big_batch(ROWS);
    rn_expr *e1 = tu_compile_ok("a * 3 + b", bs[0]->schema);
    rn_expr *e2 = tu_compile_ok("a > b AND s LIKE 'k1%' OR x IS NULL", bs[0]->schema);
    rn_expr *e3 = tu_compile_ok("s || '!'", bs[0]->schema);
    rn_expr *e4 = tu_compile_ok("CASE WHEN a > 0 THEN x * 2 ELSE -x END", bs[0]->schema);
    uint32_t sel[ROWS], n;
    struct rn_error err;
    struct rn_pool_stats before, after;
    for (int round = 0; round < 25; round++) {
        if (round == 5) rn_pool_stats(&before);
        for (int k = 0; k < NB; k++) {
            struct rn_column out;
            tu_eval_ok(e1, bs[k], &out);
            for (uint32_t r = 0; r < ROWS; r += 37) {
                int64_t want = 0;
                bool valid = ref_a3b(r, &want);
                ck_assert(rn_column_is_null(&out, r) == !valid);
                if (valid) ck_assert_int_eq(rn_col_i64(&out, r), want);
            }
            rn_column_release(&out);
            tu_eval_ok(e3, bs[k], &out);
            ck_assert_uint_eq(rn_col_str(&out, 1).len, 3);
            rn_column_release(&out);
            tu_eval_ok(e4, bs[k], &out);
            rn_column_release(&out);
            ck_assert_int_eq(rn_expr_select(e2, bs[k], sel, &n, &err), 0);
            struct rn_batch *f = NULL;
            ck_assert_int_eq(rn_expr_filter(e2, bs[k], &f, &err), 0);
            ck_assert_uint_eq(f->n_rows, n);
            rn_batch_unref(f);
        }
    }
    rn_pool_stats(&after);
    ck_assert_msg(after.mallocs == before.mallocs, "mallocs grew from %" PRIu64 " to %" PRIu64
                  " in steady state", before.mallocs, after.mallocs);
    rn_expr_destroy(e1);
    rn_expr_destroy(e2);
    rn_expr_destroy(e3);
    rn_expr_destroy(e4);
    for (int k = 0; k < NB; k++) rn_batch_unref(bs[k]);
}
END_TEST

/* ---- division and modulo by constants against C ---- */

static uint64_t splitmix(uint64_t *st)
{
    uint64_t z = (*st += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static int64_t ref_div(int64_t a, int64_t d) { return d == -1 ? (int64_t)(0 - (uint64_t)a) : a / d; }
static int64_t ref_mod(int64_t a, int64_t d) { return d == -1 ? 0 : a % d; }

static const int64_t divisors[] = {1, -1, 2, -2, 3, -3, 5, 7, -7, 10, 64, -64, 123, -123, 641,
                                   1000, 1000003, 6700417, 4294967296LL, 4294967297LL,
                                   INT64_MAX, INT64_MIN};

/* Dividends: edge values, multiples of every divisor and their neighbours, random values of
 * every magnitude. */
static uint32_t dividends(int64_t *v, uint32_t cap)
{
    uint32_t n = 0;
    const int64_t edge[] = {0, 1, -1, 2, -2, 3, -3, 6, 7, -7, 100, -100, 1000003, -1000003,
                            INT64_MAX, INT64_MAX - 1, INT64_MIN, INT64_MIN + 1, 4294967296LL,
                            -4294967296LL, 2147483648LL, -2147483648LL, 9007199254740993LL};
    for (size_t k = 0; k < sizeof edge / sizeof edge[0]; k++) v[n++] = edge[k];
    for (size_t k = 0; k < sizeof divisors / sizeof divisors[0]; k++)
        for (int m = -3; m <= 3; m++)
            for (int o = -1; o <= 1; o++)
                v[n++] = (int64_t)((uint64_t)divisors[k] * (uint64_t)(int64_t)m + (uint64_t)(int64_t)o);
    uint64_t st = 42;
    while (n < cap) {
        uint64_t x = splitmix(&st);
        int shift = (int)(splitmix(&st) % 64);
        v[n++] = (int64_t)x >> shift;
    }
    return n;
}

static void check_div_mod_by_constants(const char *op, int64_t (*ref)(int64_t, int64_t))
{
    enum { N = 3000 };
    int64_t *v = malloc(sizeof *v * N);
    uint32_t n = dividends(v, N);
    rn_schema *s = tu_schema("a:int64");
    rn_builder *bb = rn_builder_create(s, n);
    for (uint32_t r = 0; r < n; r++) ck_assert_int_eq(rn_builder_i64(bb, 0, v[r]), 0);
    struct rn_error err;
    struct rn_batch *b = rn_builder_finish(bb, &err);
    ck_assert_ptr_nonnull(b);
    rn_builder_destroy(bb);
    for (size_t k = 0; k < sizeof divisors / sizeof divisors[0]; k++) {
        int64_t d = divisors[k];
        char src[96];
        if (d == INT64_MIN) snprintf(src, sizeof src, "a %s (-9223372036854775807 - 1)", op);
        else snprintf(src, sizeof src, "a %s %" PRId64, op, d);
        rn_expr *e = tu_compile_ok(src, s);
        struct rn_column out;
        tu_eval_ok(e, b, &out);
        for (uint32_t r = 0; r < n; r++) {
            ck_assert_msg(!rn_column_is_null(&out, r), "'%s' a=%" PRId64 ": null", src, v[r]);
            int64_t want = ref(v[r], d), got = rn_col_i64(&out, r);
            ck_assert_msg(got == want, "'%s' a=%" PRId64 ": %" PRId64 ", want %" PRId64, src, v[r],
                          got, want);
        }
        rn_column_release(&out);
        rn_expr_destroy(e);
    }
    rn_batch_unref(b);
    rn_schema_unref(s);
    free(v);
}

START_TEST(test_modulo_by_constant_matches_c)
{
    check_div_mod_by_constants("%", ref_mod);
}
END_TEST

START_TEST(test_division_by_constant_matches_c)
{
    check_div_mod_by_constants("/", ref_div);
}
END_TEST

START_TEST(test_division_and_modulo_by_column_match_c)
{
    enum { N = 3000 };
    int64_t *v = malloc(sizeof *v * N);
    uint32_t n = dividends(v, N);
    rn_schema *s = tu_schema("a:int64, d:int64");
    rn_builder *bb = rn_builder_create(s, n);
    const size_t nd = sizeof divisors / sizeof divisors[0];
    for (uint32_t r = 0; r < n; r++) {
        ck_assert_int_eq(rn_builder_i64(bb, 0, v[r]), 0);
        ck_assert_int_eq(rn_builder_i64(bb, 1, divisors[r % nd]), 0);
    }
    struct rn_error err;
    struct rn_batch *b = rn_builder_finish(bb, &err);
    rn_builder_destroy(bb);
    rn_expr *q = tu_compile_ok("a / d", s), *m = tu_compile_ok("a % d", s);
    struct rn_column oq, om;
    tu_eval_ok(q, b, &oq);
    tu_eval_ok(m, b, &om);
    for (uint32_t r = 0; r < n; r++) {
        int64_t d = divisors[r % nd];
        ck_assert_msg(rn_col_i64(&oq, r) == ref_div(v[r], d), "%" PRId64 " / %" PRId64, v[r], d);
        ck_assert_msg(rn_col_i64(&om, r) == ref_mod(v[r], d), "%" PRId64 " %% %" PRId64, v[r], d);
    }
    rn_column_release(&oq);
    rn_column_release(&om);
    rn_expr_destroy(q);
    rn_expr_destroy(m);
    rn_batch_unref(b);
    rn_schema_unref(s);
    free(v);
}
END_TEST

START_TEST(test_modulo_by_constant_keeps_nulls)
{
    expect_rows("a:int64", "10; NULL; -10; NULL; 7", "a % 3", "int64", "1; NULL; -1; NULL; 1");
    expect_rows("a:int64", "10; NULL; -10", "a / 3", "int64", "3; NULL; -3");
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("expr_eval");
    TCase *tc = tcase_create("arithmetic");
    tcase_add_test(tc, test_add_int_int_is_int);
    tcase_add_test(tc, test_sub_int_int_is_int);
    tcase_add_test(tc, test_mul_int_int_is_int);
    tcase_add_test(tc, test_int_with_double_is_double);
    tcase_add_test(tc, test_double_with_double_is_double);
    tcase_add_test(tc, test_int_division_truncates_toward_zero);
    tcase_add_test(tc, test_int_modulo_takes_sign_of_dividend);
    tcase_add_test(tc, test_double_modulo_is_double);
    tcase_add_test(tc, test_int_division_by_zero_is_null);
    tcase_add_test(tc, test_int_modulo_by_zero_is_null);
    tcase_add_test(tc, test_int_division_by_zero_nulls_only_those_rows);
    tcase_add_test(tc, test_double_division_by_zero_is_infinity);
    tcase_add_test(tc, test_double_modulo_by_zero_is_nan);
    tcase_add_test(tc, test_int_overflow_wraps);
    tcase_add_test(tc, test_int_min_divided_by_minus_one_wraps);
    tcase_add_test(tc, test_unary_minus);
    tcase_add_test(tc, test_arithmetic_with_null_is_null);
    tcase_add_test(tc, test_arithmetic_on_bool_or_string_is_type_error);
    tcase_add_test(tc, test_concat_two_strings);
    tcase_add_test(tc, test_concat_non_strings_is_type_error);
    tcase_add_test(tc, test_timestamp_minus_int_is_timestamp);
    tcase_add_test(tc, test_timestamp_plus_int_is_timestamp);
    tcase_add_test(tc, test_int_plus_timestamp_is_timestamp);
    tcase_add_test(tc, test_timestamp_minus_timestamp_is_int64);
    tcase_add_test(tc, test_timestamp_arithmetic_with_null_is_null);
    tcase_add_test(tc, test_timestamp_other_arithmetic_is_type_error);
    suite_add_tcase(s, tc);

    tc = tcase_create("comparison");
    tcase_add_test(tc, test_compare_int_int_all_operators);
    tcase_add_test(tc, test_compare_int_double_converts_int);
    tcase_add_test(tc, test_compare_double_double);
    tcase_add_test(tc, test_compare_strings_bytewise);
    tcase_add_test(tc, test_compare_bools_false_less_than_true);
    tcase_add_test(tc, test_compare_timestamps);
    tcase_add_test(tc, test_compare_timestamp_with_int);
    tcase_add_test(tc, test_compare_with_null_is_null);
    tcase_add_test(tc, test_compare_disallowed_pairs_are_type_errors);
    suite_add_tcase(s, tc);

    tc = tcase_create("logic");
    tcase_add_test(tc, test_and_true_true_is_true);
    tcase_add_test(tc, test_and_true_false_is_false);
    tcase_add_test(tc, test_and_true_null_is_null);
    tcase_add_test(tc, test_and_false_true_is_false);
    tcase_add_test(tc, test_and_false_false_is_false);
    tcase_add_test(tc, test_and_false_null_is_false);
    tcase_add_test(tc, test_and_null_true_is_null);
    tcase_add_test(tc, test_and_null_false_is_false);
    tcase_add_test(tc, test_and_null_null_is_null);
    tcase_add_test(tc, test_or_true_true_is_true);
    tcase_add_test(tc, test_or_true_false_is_true);
    tcase_add_test(tc, test_or_true_null_is_true);
    tcase_add_test(tc, test_or_false_true_is_true);
    tcase_add_test(tc, test_or_false_false_is_false);
    tcase_add_test(tc, test_or_false_null_is_null);
    tcase_add_test(tc, test_or_null_true_is_true);
    tcase_add_test(tc, test_or_null_false_is_null);
    tcase_add_test(tc, test_or_null_null_is_null);
    tcase_add_test(tc, test_not_true_is_false);
    tcase_add_test(tc, test_not_false_is_true);
    tcase_add_test(tc, test_not_null_is_null);
    tcase_add_test(tc, test_logic_all_combinations_in_one_batch);
    tcase_add_test(tc, test_logic_on_non_bool_is_type_error);
    tcase_add_test(tc, test_is_null_on_every_type);
    tcase_add_test(tc, test_is_not_null_on_every_type);
    tcase_add_test(tc, test_is_null_of_expression);
    tcase_add_test(tc, test_is_null_is_never_null);
    suite_add_tcase(s, tc);

    tc = tcase_create("predicates");
    tcase_add_test(tc, test_in_true_when_equal_to_an_item);
    tcase_add_test(tc, test_in_mixes_int_and_double);
    tcase_add_test(tc, test_in_false_when_no_item_equal);
    tcase_add_test(tc, test_in_null_operand_is_null);
    tcase_add_test(tc, test_in_null_item_without_match_is_null);
    tcase_add_test(tc, test_in_null_item_with_match_is_true);
    tcase_add_test(tc, test_in_items_are_expressions);
    tcase_add_test(tc, test_in_incomparable_item_is_type_error);
    tcase_add_test(tc, test_not_in);
    tcase_add_test(tc, test_between_is_inclusive);
    tcase_add_test(tc, test_between_other_types);
    tcase_add_test(tc, test_between_null_operand_is_null);
    tcase_add_test(tc, test_between_null_bound_follows_and);
    tcase_add_test(tc, test_not_between);
    tcase_add_test(tc, test_between_incomparable_is_type_error);
    tcase_add_test(tc, test_like_percent_matches_any_run);
    tcase_add_test(tc, test_like_underscore_matches_one_character);
    tcase_add_test(tc, test_like_underscore_matches_one_utf8_character);
    tcase_add_test(tc, test_like_percent_backtracks_by_whole_characters);
    tcase_add_test(tc, test_like_without_wildcards_is_equality);
    tcase_add_test(tc, test_like_other_characters_are_literal);
    tcase_add_test(tc, test_like_null_is_null);
    tcase_add_test(tc, test_not_like);
    tcase_add_test(tc, test_like_over_rows);
    tcase_add_test(tc, test_like_pattern_must_be_constant);
    tcase_add_test(tc, test_like_on_non_string_is_type_error);
    tcase_add_test(tc, test_case_searched_first_true_wins);
    tcase_add_test(tc, test_case_without_else_is_null);
    tcase_add_test(tc, test_case_null_condition_is_not_true);
    tcase_add_test(tc, test_case_int_and_double_mix_to_double);
    tcase_add_test(tc, test_case_null_result_fits_any_type);
    tcase_add_test(tc, test_case_simple_form);
    tcase_add_test(tc, test_case_simple_form_null_operand_goes_to_else);
    tcase_add_test(tc, test_case_simple_form_mixes_int_and_double);
    tcase_add_test(tc, test_case_over_rows);
    tcase_add_test(tc, test_case_result_type_mismatch_is_type_error);
    tcase_add_test(tc, test_case_condition_not_bool_is_type_error);
    tcase_add_test(tc, test_case_simple_incomparable_is_type_error);
    suite_add_tcase(s, tc);

    tc = tcase_create("cast");
    tcase_add_test(tc, test_cast_bool_to_bool);
    tcase_add_test(tc, test_cast_bool_to_int64);
    tcase_add_test(tc, test_cast_bool_to_double);
    tcase_add_test(tc, test_cast_bool_to_string);
    tcase_add_test(tc, test_cast_bool_to_timestamp_is_error);
    tcase_add_test(tc, test_cast_int64_to_bool_is_not_zero);
    tcase_add_test(tc, test_cast_int64_to_int64);
    tcase_add_test(tc, test_cast_int64_to_double_exact_or_nearest);
    tcase_add_test(tc, test_cast_int64_to_string_decimal);
    tcase_add_test(tc, test_cast_int64_to_timestamp_milliseconds);
    tcase_add_test(tc, test_cast_double_to_bool_is_not_zero);
    tcase_add_test(tc, test_cast_double_to_int64_truncates_toward_zero);
    tcase_add_test(tc, test_cast_double_to_int64_nan_or_out_of_range_is_null);
    tcase_add_test(tc, test_cast_double_to_double);
    tcase_add_test(tc, test_cast_double_to_string_shortest_round_trip);
    tcase_add_test(tc, test_cast_double_to_string_nan_and_inf);
    tcase_add_test(tc, test_cast_double_to_timestamp_truncates);
    tcase_add_test(tc, test_cast_string_to_bool);
    tcase_add_test(tc, test_cast_string_to_bool_unreadable_is_null);
    tcase_add_test(tc, test_cast_string_to_int64);
    tcase_add_test(tc, test_cast_string_to_int64_unreadable_is_null);
    tcase_add_test(tc, test_cast_string_to_double);
    tcase_add_test(tc, test_cast_string_to_double_unreadable_is_null);
    tcase_add_test(tc, test_cast_string_to_string);
    tcase_add_test(tc, test_cast_string_to_timestamp_as_to_timestamp);
    tcase_add_test(tc, test_cast_timestamp_to_bool_is_error);
    tcase_add_test(tc, test_cast_timestamp_to_int64_milliseconds);
    tcase_add_test(tc, test_cast_timestamp_to_double_milliseconds);
    tcase_add_test(tc, test_cast_timestamp_to_string_iso8601);
    tcase_add_test(tc, test_cast_timestamp_to_timestamp);
    tcase_add_test(tc, test_cast_null_input_is_null);
    tcase_add_test(tc, test_cast_null_literal_to_every_type);
    tcase_add_test(tc, test_bare_null_is_error);
    tcase_add_test(tc, test_vector_column_passes_through);
    tcase_add_test(tc, test_vector_cast_to_itself);
    tcase_add_test(tc, test_vector_is_null);
    tcase_add_test(tc, test_vector_other_operations_are_errors);
    suite_add_tcase(s, tc);

    tc = tcase_create("api");
    tcase_add_test(tc, test_expr_type_of_results);
    tcase_add_test(tc, test_nullable_follows_inputs);
    tcase_add_test(tc, test_nullable_when_result_can_be_null_without_null_input);
    tcase_add_test(tc, test_is_constant);
    tcase_add_test(tc, test_constant_expression_fills_every_row);
    tcase_add_test(tc, test_eval_empty_batch);
    tcase_add_test(tc, test_select_gives_indexes_of_true_rows);
    tcase_add_test(tc, test_select_excludes_null_rows);
    tcase_add_test(tc, test_select_none_true);
    tcase_add_test(tc, test_select_constant_condition);
    tcase_add_test(tc, test_select_non_bool_is_error);
    tcase_add_test(tc, test_filter_all_pass_returns_same_batch);
    tcase_add_test(tc, test_filter_none_pass_gives_zero_rows);
    tcase_add_test(tc, test_filter_keeps_true_rows_and_strings_intact);
    tcase_add_test(tc, test_projection_output_schema);
    tcase_add_test(tc, test_projection_column_reference_shares_values);
    tcase_add_test(tc, test_projection_computes_columns);
    tcase_add_test(tc, test_projection_output_validates);
    tcase_add_test(tc, test_projection_error_names_failing_column);
    suite_add_tcase(s, tc);

    tc = tcase_create("batches");
    tcase_add_test(tc, test_big_batch_arithmetic_with_nulls);
    tcase_add_test(tc, test_big_batch_case_with_nulls);
    tcase_add_test(tc, test_big_batch_comparison_and_logic_with_nulls);
    tcase_add_test(tc, test_big_batch_in_between_like_with_nulls);
    tcase_add_test(tc, test_big_batch_strings_with_nulls);
    tcase_add_test(tc, test_nulls_at_bitmap_word_boundaries);
    tcase_add_test(tc, test_same_expr_over_batches_of_varied_sizes);
    tcase_add_test(tc, test_steady_state_evaluation_does_not_malloc);
    tcase_add_test(tc, test_modulo_by_constant_matches_c);
    tcase_add_test(tc, test_division_by_constant_matches_c);
    tcase_add_test(tc, test_division_and_modulo_by_column_match_c);
    tcase_add_test(tc, test_modulo_by_constant_keeps_nulls);
    suite_add_tcase(s, tc);
    return s;
}

TU_MAIN(make_suite)
