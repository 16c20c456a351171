/*
 * test_expr_parse.c — Check suite "expr_parse": the lexical rules, the grammar (precedence and
 * associativity) and the compile-time errors of the expression language, as documented in
 * docs/job-spec.md, "Expressions".
 *
 * Precedence is checked by evaluating on a 1-row batch: a wrong parse tree gives a different
 * value (or a type error). Errors are checked for code, exact 1-based line and column, and a key
 * word of what was expected (never the whole message, which is the implementation's to word).
 * Assumes only the public API (runnel/expr.h) and tests/unit/testutil.h.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* strcasestr */
#endif
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* ---- helpers ---- */

#define SCHEMA "a:int64, b:int64, c:int64, A:int64, _x1:int64, d:double, s:string, " \
               "f:bool, g:bool, h:bool, t:timestamp"
#define ROW "1, 2, 3, 100, 42, 2.5, abc, true, false, false, 10000"

static struct rn_batch *default_batch(void)
{
    static struct rn_batch *b;
    if (!b) b = tu_batch(SCHEMA, ROW);
    return b;
}

static struct tu_val ev(const char *src) { return tu_eval_on(default_batch(), src, 0); }


/* Compiles src against s, which must fail; checks the error object is filled consistently. */
static struct rn_error compile_fail_on(const char *src, const rn_schema *s)
{
    rn_expr *e = NULL;
    struct rn_error err;
    memset(&err, 0, sizeof err);
    int rc = rn_expr_compile(src, s, &e, &err);
    if (rc == 0) rn_expr_destroy(e);
    ck_assert_msg(rc < 0, "'%s' compiled; it should be an error", src);
    ck_assert_msg(rc == RN_EINVAL || rc == RN_ETYPE || rc == RN_ENOTFOUND || rc == RN_ERANGE,
                  "'%s': unexpected code %d", src, rc);
    ck_assert_msg(err.code == rc, "'%s': err.code %d, returned %d", src, err.code, rc);
    ck_assert_msg(memchr(err.msg, 0, sizeof err.msg) != NULL, "'%s': message not terminated", src);
    ck_assert_msg(err.msg[0] != 0, "'%s': empty error message", src);
    ck_assert_msg(err.line >= 1 && err.column >= 1, "'%s': no position (%d:%d): %s", src, err.line,
                  err.column, err.msg);
    return err;
}

static struct rn_error compile_fail(const char *src)
{
    rn_schema *s = tu_schema(SCHEMA);
    struct rn_error err = compile_fail_on(src, s);
    rn_schema_unref(s);
    return err;
}

/* An error at exactly line:column. */
static struct rn_error expect_error_at(const char *src, int line, int column)
{
    struct rn_error err = compile_fail(src);
    ck_assert_msg(err.line == line && err.column == column, "'%s': error at %d:%d, want %d:%d (%s)",
                  src, err.line, err.column, line, column, err.msg);
    return err;
}

/* True when msg contains (case-insensitively) one of the NULL-terminated words. */
static bool msg_has(const char *msg, ...)
{
    va_list ap;
    va_start(ap, msg);
    bool found = false;
    for (const char *w = va_arg(ap, const char *); w && !found; w = va_arg(ap, const char *))
        found = strcasestr(msg, w) != NULL;
    va_end(ap);
    return found;
}

/* A 1-row batch of one int64 column with an arbitrary name (for backtick names). */
static struct rn_batch *named_batch(const char *const *names, const int64_t *vals, uint32_t n)
{
    rn_schema *s = rn_schema_create();
    ck_assert(s != NULL);
    for (uint32_t i = 0; i < n; i++)
        ck_assert_int_eq(rn_schema_add(s, names[i], rn_type_of(RN_T_INT64), true), 0);
    rn_builder *bb = rn_builder_create(s, 0);
    ck_assert(bb != NULL);
    for (uint32_t i = 0; i < n; i++) ck_assert_int_eq(rn_builder_i64(bb, i, vals[i]), 0);
    struct rn_error err;
    struct rn_batch *b = rn_builder_finish(bb, &err);
    ck_assert_msg(b != NULL, "%s", err.msg);
    rn_builder_destroy(bb);
    rn_schema_unref(s);
    return b;
}

/* ---- identifiers ---- */

START_TEST(test_identifier_references_column)
{
    expect_i64("a", 1);
    expect_i64("c", 3);
    expect_f64("d", 2.5);
    expect_str("s", "abc");
}
END_TEST

START_TEST(test_identifier_with_underscore_and_digits)
{
    expect_i64("_x1", 42);
    expect_i64("_x1+a", 43);
}
END_TEST

START_TEST(test_identifier_is_case_sensitive)
{
    expect_i64("A", 100);
    expect_i64("a", 1);
    struct rn_error err = compile_fail("B");
    ck_assert_int_eq(err.code, RN_ENOTFOUND);
}
END_TEST

START_TEST(test_backtick_name_with_space)
{
    const char *names[] = {"bid price", "x"};
    const int64_t vals[] = {17, 3};
    struct rn_batch *b = named_batch(names, vals, 2);
    struct tu_val v = tu_eval_on(b, "`bid price` * x", 0);
    ck_assert(!v.null);
    ck_assert_int_eq(v.i, 51);
    rn_batch_unref(b);
}
END_TEST

START_TEST(test_backtick_doubled_backtick_is_one_backtick)
{
    const char *names[] = {"a`b", "ab"};
    const int64_t vals[] = {5, 9};
    struct rn_batch *b = named_batch(names, vals, 2);
    struct tu_val v = tu_eval_on(b, "`a``b`", 0);
    ck_assert(!v.null);
    ck_assert_int_eq(v.i, 5);
    rn_batch_unref(b);
}
END_TEST

START_TEST(test_backtick_keyword_and_digit_names)
{
    const char *names[] = {"and", "1st", "NULL"};
    const int64_t vals[] = {2, 30, 400};
    struct rn_batch *b = named_batch(names, vals, 3);
    struct tu_val v = tu_eval_on(b, "`and` + `1st` + `NULL`", 0);
    ck_assert(!v.null);
    ck_assert_int_eq(v.i, 432);
    rn_batch_unref(b);
}
END_TEST

START_TEST(test_backtick_plain_name_is_same_column)
{
    expect_i64("`a` + a", 2);
}
END_TEST

START_TEST(test_backtick_unterminated_is_error)
{
    struct rn_error err = compile_fail("a + `b");
    ck_assert_int_eq(err.line, 1);
    ck_assert_int_eq(err.code, RN_EINVAL);
}
END_TEST

/* ---- keywords ---- */

START_TEST(test_keywords_case_insensitive)
{
    expect_bool("TRUE", true);
    expect_bool("true", true);
    expect_bool("True", true);
    expect_bool("fAlSe", false);
    expect_bool("f and not g", true);
    expect_bool("g Or f", true);
    expect_bool("a is not null", true);
    expect_bool("a Is Null", false);
    expect_bool("a in (1, 2)", true);
    expect_bool("a not in (1, 2)", false);
    expect_bool("a between 0 and 2", true);
    expect_bool("s like 'a%'", true);
    expect_bool("s Not Like 'a%'", false);
    expect_i64("case when f then 1 else 2 end", 1);
    expect_i64("Case a When 1 Then 10 End", 10);
    expect_f64("cast(a as double)", 1.0);
    expect_f64("CaSt(a As DoUbLe)", 1.0);
}
END_TEST

START_TEST(test_function_names_case_insensitive)
{
    expect_i64("abs(-3)", 3);
    expect_i64("ABS(-3)", 3);
    expect_i64("Abs(-3)", 3);
    expect_str("LOWER('AbC')", "abc");
}
END_TEST

START_TEST(test_type_names_in_cast_case_insensitive_and_aliases)
{
    expect_i64("CAST(d AS BIGINT)", 2);
    expect_i64("CAST(d AS integer)", 2);
    expect_i64("CAST(d AS Long)", 2);
    expect_i64("CAST(d AS int)", 2);
    expect_f64("CAST(a AS FLOAT)", 1.0);
    expect_f64("CAST(a AS float64)", 1.0);
    expect_str("CAST(a AS VarChar)", "1");
    expect_str("CAST(a AS text)", "1");
    expect_bool("CAST(a AS Boolean)", true);
}
END_TEST

/* ---- string literals ---- */

START_TEST(test_string_literal)
{
    expect_str("'hello'", "hello");
    expect_str("'two words'", "two words");
}
END_TEST

START_TEST(test_string_doubled_quote_is_one_quote)
{
    expect_str("'O''Brien'", "O'Brien");
    expect_str("''''", "'");
    expect_str("'a''''b'", "a''b");
}
END_TEST

START_TEST(test_string_empty)
{
    expect_str("''", "");
}
END_TEST

START_TEST(test_string_keeps_bytes_verbatim)
{
    expect_str("'  héllo -- wörld  '", "  héllo -- wörld  ");
    expect_str("'a\"b`c'", "a\"b`c");
}
END_TEST

START_TEST(test_string_unterminated_is_error)
{
    struct rn_error err = compile_fail("'abc");
    ck_assert_int_eq(err.line, 1);
    ck_assert_int_eq(err.code, RN_EINVAL);
    compile_fail("'O''Brien");
}
END_TEST

/* ---- numeric literals ---- */

START_TEST(test_int_literal)
{
    expect_i64("123", 123);
    expect_i64("0", 0);
    expect_i64("007", 7);
}
END_TEST

START_TEST(test_int_literal_max)
{
    expect_i64("9223372036854775807", INT64_MAX);
}
END_TEST

START_TEST(test_int_literal_min_with_minus)
{
    /* The doc's own example abs(-9223372036854775808) needs this literal. */
    expect_i64("-9223372036854775808", INT64_MIN);
}
END_TEST

START_TEST(test_int_literal_overflow_is_error)
{
    expect_error_at("9223372036854775808", 1, 1);
    expect_error_at("a + 99999999999999999999", 1, 5);
}
END_TEST

START_TEST(test_double_literal_with_point)
{
    expect_f64("1.5", 1.5);
    expect_f64("0.25", 0.25);
}
END_TEST

START_TEST(test_double_literal_leading_point)
{
    expect_f64(".5", 0.5);
    expect_f64("a + .5", 1.5);
}
END_TEST

START_TEST(test_double_literal_exponent_is_double)
{
    expect_f64("2e3", 2000.0);
    expect_f64("1.5E-3", 1.5e-3);
    expect_f64("1E2", 100.0);
}
END_TEST

/* ---- durations ---- */

START_TEST(test_duration_ms)
{
    expect_i64("250ms", 250);
    expect_i64("5ms", 5);
}
END_TEST

START_TEST(test_duration_seconds)
{
    expect_i64("4s", 4000);
    expect_i64("0s", 0);
}
END_TEST

START_TEST(test_duration_minutes)
{
    expect_i64("10m", 600000);
    expect_i64("5m", 300000);
}
END_TEST

START_TEST(test_duration_hours)
{
    expect_i64("2h", 7200000);
}
END_TEST

START_TEST(test_duration_days)
{
    expect_i64("1d", 86400000);
    expect_i64("3d", 259200000);
}
END_TEST

START_TEST(test_duration_in_timestamp_arithmetic)
{
    struct tu_val v = ev("t - 4s");
    ck_assert_int_eq(v.type.id, RN_T_TIMESTAMP);
    ck_assert(!v.null);
    ck_assert_int_eq(v.i, 6000);
}
END_TEST

/* ---- comments and whitespace ---- */

START_TEST(test_comment_to_end_of_line)
{
    expect_i64("1 + -- one plus\n2", 3);
}
END_TEST

START_TEST(test_comment_at_end_of_input)
{
    expect_i64("7 -- trailing", 7);
}
END_TEST

START_TEST(test_comment_lines_before_expression)
{
    expect_i64("-- header\n-- another\n  a", 1);
}
END_TEST

START_TEST(test_double_dash_is_comment_not_negation)
{
    expect_i64("5 --3", 5);
}
END_TEST

START_TEST(test_whitespace_of_any_kind_separates)
{
    expect_i64("\t1\n+\r\n 2 ", 3);
    expect_i64("1+2", 3);
}
END_TEST

/* ---- precedence and associativity ---- */

START_TEST(test_mul_binds_tighter_than_add)
{
    expect_i64("1 + 2 * 3", 7);
    expect_i64("2 * 3 + 1", 7);
    expect_i64("a + b * c", 7);
}
END_TEST

START_TEST(test_parentheses_override_precedence)
{
    expect_i64("(1 + 2) * 3", 9);
    expect_i64("((a))", 1);
}
END_TEST

START_TEST(test_sub_is_left_associative)
{
    expect_i64("10 - 4 - 3", 3);
    expect_i64("c - b - a", 0);
}
END_TEST

START_TEST(test_div_is_left_associative)
{
    expect_i64("100 / 10 / 5", 2);
}
END_TEST

START_TEST(test_mul_div_mod_same_level_left_associative)
{
    expect_i64("2 * 3 % 4", 2);
    expect_i64("7 % 4 * 2", 6);
    expect_i64("12 / 2 * 3", 18);
}
END_TEST

START_TEST(test_unary_minus_binds_tighter_than_binary)
{
    expect_i64("- 1 + 2", 1);
    expect_i64("-a * 3", -3);
    expect_i64("-(2 + 3)", -5);
}
END_TEST

START_TEST(test_unary_operators_nest)
{
    expect_i64("2 - -3", 5);
    expect_i64("- -3", 3);
    expect_i64("+5", 5);
    expect_i64("-+5", -5);
}
END_TEST

START_TEST(test_concat_is_left_associative_and_binds_tighter_than_comparison)
{
    expect_str("'a' || 'b' || 'c'", "abc");
    expect_bool("s || 'x' = 'abcx'", true);
}
END_TEST

START_TEST(test_arith_binds_tighter_than_comparison)
{
    expect_bool("1 + 1 = 2", true);
    expect_bool("a * 2 > b", false);
    expect_bool("a < b - 0", true);
}
END_TEST

START_TEST(test_not_binds_looser_than_comparison)
{
    /* (NOT a) = b would be a type error: NOT takes bools. */
    expect_bool("NOT a = b", true);
    expect_bool("NOT 1 = 1", false);
}
END_TEST

START_TEST(test_and_binds_tighter_than_or)
{
    expect_bool("TRUE OR FALSE AND FALSE", true);
    expect_bool("f OR g AND h", true);
    expect_bool("FALSE AND FALSE OR TRUE", true);
    expect_bool("g AND h OR f", true);
}
END_TEST

START_TEST(test_not_binds_tighter_than_and)
{
    expect_bool("NOT FALSE AND FALSE", false);
    expect_bool("NOT g AND h", false);
    expect_bool("NOT NOT TRUE", true);
}
END_TEST

START_TEST(test_between_and_belongs_to_between)
{
    expect_bool("a BETWEEN 0 AND 2 AND FALSE", false);
    expect_bool("a BETWEEN 0 AND 2 AND TRUE", true);
    expect_bool("a BETWEEN b - 2 AND b + 1", true);
}
END_TEST

START_TEST(test_in_operand_is_additive_expression)
{
    expect_bool("a + 1 IN (b, c)", true);
    expect_bool("a + 1 IN (c, c * 2)", false);
}
END_TEST

START_TEST(test_is_null_applies_to_additive_and_not_wraps_it)
{
    expect_bool("a + 1 IS NULL", false);
    expect_bool("NOT a IS NULL", true);
}
END_TEST

START_TEST(test_like_operand_is_concatenation)
{
    expect_bool("s || 'x' LIKE '%x'", true);
}
END_TEST

START_TEST(test_case_nests)
{
    expect_str("CASE WHEN a = 1 THEN CASE WHEN f THEN 'x' ELSE 'y' END ELSE 'z' END", "x");
    expect_i64("1 + CASE WHEN g THEN 10 ELSE 20 END * 2", 41);
}
END_TEST

START_TEST(test_cast_is_primary)
{
    expect_f64("CAST(a AS double) / 2", 0.5);
    expect_i64("-CAST(d AS int64)", -2);
}
END_TEST

START_TEST(test_function_arguments_are_full_expressions)
{
    expect_i64("abs(a - 5 * 2)", 9);
    expect_bool("coalesce(a > 0 OR f, FALSE)", true);
}
END_TEST

START_TEST(test_source_is_kept)
{
    rn_schema *s = tu_schema(SCHEMA);
    rn_expr *e = tu_compile_ok("a +  b -- c", s);
    ck_assert_str_eq(rn_expr_source(e), "a +  b -- c");
    rn_expr_destroy(e);
    rn_schema_unref(s);
}
END_TEST

/* ---- syntax errors ---- */

START_TEST(test_error_incomplete_binary_at_end)
{
    struct rn_error err = expect_error_at("a +", 1, 4);
    ck_assert_int_eq(err.code, RN_EINVAL);
    ck_assert_msg(msg_has(err.msg, "expression", "operand", "value", NULL), "msg: %s", err.msg);
}
END_TEST

START_TEST(test_error_missing_close_paren)
{
    struct rn_error err = expect_error_at("(a", 1, 3);
    ck_assert_int_eq(err.code, RN_EINVAL);
    ck_assert_msg(strchr(err.msg, ')') != NULL, "msg: %s", err.msg);
}
END_TEST

START_TEST(test_error_missing_close_paren_in_call)
{
    struct rn_error err = expect_error_at("abs(a", 1, 6);
    ck_assert_msg(strchr(err.msg, ')') != NULL, "msg: %s", err.msg);
}
END_TEST

START_TEST(test_error_unbalanced_close_paren)
{
    struct rn_error err = expect_error_at("a)", 1, 2);
    ck_assert_int_eq(err.code, RN_EINVAL);
}
END_TEST

START_TEST(test_error_comparison_not_chainable)
{
    struct rn_error err = expect_error_at("a < b < c", 1, 7);
    ck_assert_int_eq(err.code, RN_EINVAL);
}
END_TEST

START_TEST(test_error_equality_not_chainable)
{
    expect_error_at("a = b = c", 1, 7);
    expect_error_at("f = g <> h", 1, 7);
}
END_TEST

START_TEST(test_error_two_operands_without_operator)
{
    struct rn_error err = expect_error_at("a b", 1, 3);
    ck_assert_int_eq(err.code, RN_EINVAL);
    expect_error_at("1 2", 1, 3);
}
END_TEST

START_TEST(test_error_empty_expression)
{
    expect_error_at("", 1, 1);
    expect_error_at("   ", 1, 4);
    compile_fail("-- nothing but a comment");
}
END_TEST

START_TEST(test_error_unknown_character_named)
{
    struct rn_error err = expect_error_at("a # b", 1, 3);
    ck_assert_int_eq(err.code, RN_EINVAL);
    ck_assert_msg(strchr(err.msg, '#') != NULL, "msg: %s", err.msg);
}
END_TEST

START_TEST(test_error_unknown_column_named)
{
    struct rn_error err = expect_error_at("a + nosuch", 1, 5);
    ck_assert_int_eq(err.code, RN_ENOTFOUND);
    ck_assert_msg(strstr(err.msg, "nosuch") != NULL, "msg: %s", err.msg);
}
END_TEST

START_TEST(test_error_unknown_backtick_column_named)
{
    struct rn_error err = expect_error_at("a + `no such`", 1, 5);
    ck_assert_int_eq(err.code, RN_ENOTFOUND);
    ck_assert_msg(strstr(err.msg, "no such") != NULL, "msg: %s", err.msg);
}
END_TEST

START_TEST(test_error_unknown_function_named)
{
    struct rn_error err = expect_error_at("b * nofunc(a)", 1, 5);
    ck_assert_int_eq(err.code, RN_ENOTFOUND);
    ck_assert_msg(strstr(err.msg, "nofunc") != NULL, "msg: %s", err.msg);
}
END_TEST

START_TEST(test_error_too_many_arguments)
{
    struct rn_error err = expect_error_at("1 + abs(a, b)", 1, 5);
    ck_assert_msg(msg_has(err.msg, "argument", NULL), "msg: %s", err.msg);
}
END_TEST

START_TEST(test_error_too_few_arguments)
{
    struct rn_error err = expect_error_at("power(a)", 1, 1);
    ck_assert_msg(msg_has(err.msg, "argument", NULL), "msg: %s", err.msg);
    expect_error_at("now(a)", 1, 1);
    expect_error_at("substr(s)", 1, 1);
}
END_TEST

START_TEST(test_error_trailing_comma_in_call)
{
    expect_error_at("abs(a,)", 1, 7);
}
END_TEST

START_TEST(test_error_case_missing_end)
{
    struct rn_error err = expect_error_at("CASE WHEN f THEN 1", 1, 19);
    ck_assert_msg(msg_has(err.msg, "END", NULL), "msg: %s", err.msg);
}
END_TEST

START_TEST(test_error_case_missing_then)
{
    struct rn_error err = expect_error_at("CASE WHEN f 1 END", 1, 13);
    ck_assert_msg(msg_has(err.msg, "THEN", NULL), "msg: %s", err.msg);
}
END_TEST

START_TEST(test_error_case_without_when)
{
    /* After CASE comes WHEN or the operand of the simple form: either is what was expected. */
    struct rn_error err = expect_error_at("CASE ELSE 1 END", 1, 6);
    ck_assert_msg(msg_has(err.msg, "WHEN", "value", "expression", NULL), "msg: %s", err.msg);
}
END_TEST

START_TEST(test_error_cast_missing_as)
{
    struct rn_error err = expect_error_at("CAST(a double)", 1, 8);
    ck_assert_msg(msg_has(err.msg, "AS", NULL), "msg: %s", err.msg);
}
END_TEST

START_TEST(test_error_cast_unknown_type_named)
{
    struct rn_error err = expect_error_at("CAST(a AS nosuchtype)", 1, 11);
    ck_assert_msg(strstr(err.msg, "nosuchtype") != NULL, "msg: %s", err.msg);
}
END_TEST

START_TEST(test_error_in_without_parenthesis)
{
    struct rn_error err = expect_error_at("a IN 1, 2", 1, 6);
    ck_assert_msg(strchr(err.msg, '(') != NULL, "msg: %s", err.msg);
}
END_TEST

START_TEST(test_error_between_without_and)
{
    struct rn_error err = expect_error_at("a BETWEEN 1 2", 1, 13);
    ck_assert_msg(msg_has(err.msg, "AND", NULL), "msg: %s", err.msg);
}
END_TEST

START_TEST(test_error_not_without_in_between_like)
{
    struct rn_error err = compile_fail("a NOT 1");
    ck_assert_int_eq(err.line, 1);
    ck_assert_msg(msg_has(err.msg, "IN", "BETWEEN", "LIKE", NULL), "msg: %s", err.msg);
}
END_TEST

START_TEST(test_error_multiline_unknown_column_on_line_2)
{
    struct rn_error err = expect_error_at("a +\n  nosuch", 2, 3);
    ck_assert_int_eq(err.code, RN_ENOTFOUND);
}
END_TEST

START_TEST(test_error_multiline_syntax_on_line_2)
{
    expect_error_at("a = 1 AND\n(b", 2, 3);
}
END_TEST

START_TEST(test_error_multiline_syntax_on_line_3)
{
    expect_error_at("a\n+\n)", 3, 1);
}
END_TEST

START_TEST(test_error_position_counts_comment_lines)
{
    expect_error_at("-- c\na +", 2, 4);
}
END_TEST

START_TEST(test_error_type_error_has_position)
{
    struct rn_error err = compile_fail("s + 1");
    ck_assert_int_eq(err.line, 1);
    ck_assert(err.column >= 1 && err.column <= 5);
    ck_assert_msg(err.code == RN_ETYPE || err.code == RN_EINVAL, "code %d", err.code);
    err = compile_fail("a +\n s");
    ck_assert(err.line >= 1 && err.line <= 2);
}
END_TEST

START_TEST(test_error_bare_null)
{
    compile_fail("NULL");
}
END_TEST

START_TEST(test_error_keyword_is_not_column)
{
    compile_fail("a + AND");
    compile_fail("THEN");
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("expr_parse");
    TCase *tc = tcase_create("lexical");
    tcase_add_test(tc, test_identifier_references_column);
    tcase_add_test(tc, test_identifier_with_underscore_and_digits);
    tcase_add_test(tc, test_identifier_is_case_sensitive);
    tcase_add_test(tc, test_backtick_name_with_space);
    tcase_add_test(tc, test_backtick_doubled_backtick_is_one_backtick);
    tcase_add_test(tc, test_backtick_keyword_and_digit_names);
    tcase_add_test(tc, test_backtick_plain_name_is_same_column);
    tcase_add_test(tc, test_backtick_unterminated_is_error);
    tcase_add_test(tc, test_keywords_case_insensitive);
    tcase_add_test(tc, test_function_names_case_insensitive);
    tcase_add_test(tc, test_type_names_in_cast_case_insensitive_and_aliases);
    tcase_add_test(tc, test_string_literal);
    tcase_add_test(tc, test_string_doubled_quote_is_one_quote);
    tcase_add_test(tc, test_string_empty);
    tcase_add_test(tc, test_string_keeps_bytes_verbatim);
    tcase_add_test(tc, test_string_unterminated_is_error);
    tcase_add_test(tc, test_int_literal);
    tcase_add_test(tc, test_int_literal_max);
    tcase_add_test(tc, test_int_literal_min_with_minus);
    tcase_add_test(tc, test_int_literal_overflow_is_error);
    tcase_add_test(tc, test_double_literal_with_point);
    tcase_add_test(tc, test_double_literal_leading_point);
    tcase_add_test(tc, test_double_literal_exponent_is_double);
    tcase_add_test(tc, test_duration_ms);
    tcase_add_test(tc, test_duration_seconds);
    tcase_add_test(tc, test_duration_minutes);
    tcase_add_test(tc, test_duration_hours);
    tcase_add_test(tc, test_duration_days);
    tcase_add_test(tc, test_duration_in_timestamp_arithmetic);
    tcase_add_test(tc, test_comment_to_end_of_line);
    tcase_add_test(tc, test_comment_at_end_of_input);
    tcase_add_test(tc, test_comment_lines_before_expression);
    tcase_add_test(tc, test_double_dash_is_comment_not_negation);
    tcase_add_test(tc, test_whitespace_of_any_kind_separates);
    suite_add_tcase(s, tc);

    tc = tcase_create("precedence");
    tcase_add_test(tc, test_mul_binds_tighter_than_add);
    tcase_add_test(tc, test_parentheses_override_precedence);
    tcase_add_test(tc, test_sub_is_left_associative);
    tcase_add_test(tc, test_div_is_left_associative);
    tcase_add_test(tc, test_mul_div_mod_same_level_left_associative);
    tcase_add_test(tc, test_unary_minus_binds_tighter_than_binary);
    tcase_add_test(tc, test_unary_operators_nest);
    tcase_add_test(tc, test_concat_is_left_associative_and_binds_tighter_than_comparison);
    tcase_add_test(tc, test_arith_binds_tighter_than_comparison);
    tcase_add_test(tc, test_not_binds_looser_than_comparison);
    tcase_add_test(tc, test_and_binds_tighter_than_or);
    tcase_add_test(tc, test_not_binds_tighter_than_and);
    tcase_add_test(tc, test_between_and_belongs_to_between);
    tcase_add_test(tc, test_in_operand_is_additive_expression);
    tcase_add_test(tc, test_is_null_applies_to_additive_and_not_wraps_it);
    tcase_add_test(tc, test_like_operand_is_concatenation);
    tcase_add_test(tc, test_case_nests);
    tcase_add_test(tc, test_cast_is_primary);
    tcase_add_test(tc, test_function_arguments_are_full_expressions);
    tcase_add_test(tc, test_source_is_kept);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_add_test(tc, test_error_incomplete_binary_at_end);
    tcase_add_test(tc, test_error_missing_close_paren);
    tcase_add_test(tc, test_error_missing_close_paren_in_call);
    tcase_add_test(tc, test_error_unbalanced_close_paren);
    tcase_add_test(tc, test_error_comparison_not_chainable);
    tcase_add_test(tc, test_error_equality_not_chainable);
    tcase_add_test(tc, test_error_two_operands_without_operator);
    tcase_add_test(tc, test_error_empty_expression);
    tcase_add_test(tc, test_error_unknown_character_named);
    tcase_add_test(tc, test_error_unknown_column_named);
    tcase_add_test(tc, test_error_unknown_backtick_column_named);
    tcase_add_test(tc, test_error_unknown_function_named);
    tcase_add_test(tc, test_error_too_many_arguments);
    tcase_add_test(tc, test_error_too_few_arguments);
    tcase_add_test(tc, test_error_trailing_comma_in_call);
    tcase_add_test(tc, test_error_case_missing_end);
    tcase_add_test(tc, test_error_case_missing_then);
    tcase_add_test(tc, test_error_case_without_when);
    tcase_add_test(tc, test_error_cast_missing_as);
    tcase_add_test(tc, test_error_cast_unknown_type_named);
    tcase_add_test(tc, test_error_in_without_parenthesis);
    tcase_add_test(tc, test_error_between_without_and);
    tcase_add_test(tc, test_error_not_without_in_between_like);
    tcase_add_test(tc, test_error_multiline_unknown_column_on_line_2);
    tcase_add_test(tc, test_error_multiline_syntax_on_line_2);
    tcase_add_test(tc, test_error_multiline_syntax_on_line_3);
    tcase_add_test(tc, test_error_position_counts_comment_lines);
    tcase_add_test(tc, test_error_type_error_has_position);
    tcase_add_test(tc, test_error_bare_null);
    tcase_add_test(tc, test_error_keyword_is_not_column);
    suite_add_tcase(s, tc);
    return s;
}

TU_MAIN(make_suite)
