/*
 * testutil.h — small helpers shared by the Check suites in tests/unit: building schemas and
 * batches from compact text, and a main() that runs one suite and exits with its verdict.
 */
#ifndef RN_TESTUTIL_H
#define RN_TESTUTIL_H

#include <check.h>

#include "runnel/batch.h"
#include "runnel/expr.h"
#include "runnel/types.h"

/* A schema from "name:type, ..." (rn_schema_parse); fails the test on error. */
rn_schema *tu_schema(const char *text);

/* A batch of schema text from rows given as text: rows separated by ';', values by ','; each
 * value parsed by its column's type (ints, doubles, true/false, strings taken verbatim with
 * surrounding spaces trimmed, timestamps as integer ms); the word NULL is a null. An empty row
 * text gives 0 rows. Vector columns are not supported here. Fails the test on error. */
struct rn_batch *tu_batch(const char *schema, const char *rows);

/* One value read back from an evaluated column. */
struct tu_val {
    bool null;
    struct rn_type type;
    int64_t i;    /* int64, timestamp */
    double d;
    bool b;
    char s[1024]; /* NUL-terminated copy of a string value */
    uint32_t slen;
};

/* Row of column c as a tu_val (bool bytes must be 0 or 1). */
struct tu_val tu_col_val(const struct rn_column *c, uint32_t row);
/* The type's name, from a small rotating static buffer (fine for one message). */
const char *tu_type_name(struct rn_type t);
/* Compiles src against s; fails the test with the error and its position otherwise. */
rn_expr *tu_compile_ok(const char *src, const rn_schema *s);
/* Evaluates e over b into out; fails the test on error or a result of the wrong type. */
void tu_eval_ok(rn_expr *e, const struct rn_batch *b, struct rn_column *out);
/* Compiles src against b's schema, evaluates it, returns row `row` of the result. */
struct tu_val tu_eval_on(const struct rn_batch *b, const char *src, uint32_t row);

/* Expectations on row 0 of src evaluated over b: type, not null, and the value. */
void tu_expect_type(const char *src, struct tu_val v, enum rn_type_id want);
void tu_expect_i64(const struct rn_batch *b, const char *src, int64_t want);
void tu_expect_ts(const struct rn_batch *b, const char *src, int64_t want);
void tu_expect_f64(const struct rn_batch *b, const char *src, double want);   /* 1e-12 relative */
void tu_expect_bool(const struct rn_batch *b, const char *src, bool want);
void tu_expect_str(const struct rn_batch *b, const char *src, const char *want);
void tu_expect_null(const struct rn_batch *b, const char *src, enum rn_type_id type);
/* Equality of two read-back values (doubles to 1e-12 relative, NaN equals NaN), and their text. */
bool tu_vals_equal(struct tu_val a, struct tu_val b);
const char *tu_val_text(struct tu_val v);
/* Evaluates src over the rows of (schema, rows) and compares each row with want, rows of one
 * value of want_type in tu_batch's notation ("1; NULL; 3"). */
void tu_expect_rows(const char *schema, const char *rows, const char *src, const char *want_type,
                    const char *want);

/* Short forms over the suite's own `static struct rn_batch *default_batch(void)`. */
#define expect_i64(src, want) tu_expect_i64(default_batch(), src, want)
#define expect_ts(src, want) tu_expect_ts(default_batch(), src, want)
#define expect_f64(src, want) tu_expect_f64(default_batch(), src, want)
#define expect_bool(src, want) tu_expect_bool(default_batch(), src, want)
#define expect_str(src, want) tu_expect_str(default_batch(), src, want)
#define expect_null(src, type) tu_expect_null(default_batch(), src, type)
#define expect_type tu_expect_type
#define expect_rows tu_expect_rows
#define vals_equal tu_vals_equal
#define val_text tu_val_text

/* ---- files, for the runtime and integration suites ---- */

/* Creates a fresh temporary directory (TMPDIR or /tmp, named prefix-XXXXXX) for the current
 * test; it is removed by tu_tmp_teardown, and at exit if an assertion ends the process first. */
void tu_tmp_setup(const char *prefix);
void tu_tmp_teardown(void);
/* printf into a new string, and a path inside the temporary directory (the caller frees). */
char *tu_fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
char *tu_tmp_path(const char *rel);
/* Writes text to a new file; reads a whole file (NULL when missing; the caller frees). */
void tu_write_file(const char *path, const char *text);
char *tu_slurp(const char *path);

/* Runs the suite (CK_NORMAL output) and returns EXIT_SUCCESS when every test passed. */
int tu_run(Suite *s);

#define TU_MAIN(make_suite) int main(void) { return tu_run(make_suite()); }

#endif
