/*
 * testutil.c — helpers shared by the Check suites (see testutil.h).
 */
#include "testutil.h"

#include <ftw.h>
#include <inttypes.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

rn_schema *tu_schema(const char *text)
{
    struct rn_error err;
    rn_schema *s = rn_schema_parse(text, &err);
    ck_assert_msg(s != NULL, "schema '%s': %s", text, err.msg);
    return s;
}

static char *trim(char *s)
{
    while (*s == ' ') s++;
    size_t n = strlen(s);
    while (n > 0 && s[n - 1] == ' ') s[--n] = 0;
    return s;
}

struct rn_batch *tu_batch(const char *schema, const char *rows)
{
    rn_schema *s = tu_schema(schema);
    rn_builder *bb = rn_builder_create(s, 0);
    ck_assert(bb != NULL);
    char *copy = strdup(rows), *save_row = NULL;
    for (char *row = strtok_r(copy, ";", &save_row); row; row = strtok_r(NULL, ";", &save_row)) {
        if (*trim(row) == 0) continue;
        char *save_val = NULL;
        uint32_t col = 0;
        for (char *v = strtok_r(row, ",", &save_val); v; v = strtok_r(NULL, ",", &save_val), col++) {
            ck_assert_msg(col < rn_schema_len(s), "too many values in row '%s'", row);
            v = trim(v);
            const struct rn_field *f = rn_schema_field(s, col);
            int rc;
            if (strcmp(v, "NULL") == 0) rc = rn_builder_null(bb, col);
            else switch (f->type.id) {
            case RN_T_BOOL: rc = rn_builder_bool(bb, col, strcmp(v, "true") == 0); break;
            case RN_T_INT64: rc = rn_builder_i64(bb, col, strtoll(v, NULL, 10)); break;
            case RN_T_DOUBLE: rc = rn_builder_f64(bb, col, strtod(v, NULL)); break;
            case RN_T_STRING: rc = rn_builder_str(bb, col, v, strlen(v)); break;
            case RN_T_TIMESTAMP: rc = rn_builder_ts(bb, col, strtoll(v, NULL, 10)); break;
            default: ck_abort_msg("tu_batch: unsupported column type"); rc = -1;
            }
            ck_assert_msg(rc == 0, "tu_batch: value '%s' of column %u: %s", v, col, rn_strerror(rc));
        }
        ck_assert_msg(col == rn_schema_len(s), "row has %u values, schema %zu", col, rn_schema_len(s));
    }
    free(copy);
    struct rn_error err;
    struct rn_batch *b = rn_builder_finish(bb, &err);
    ck_assert_msg(b != NULL, "tu_batch: %s", err.msg);
    rn_builder_destroy(bb);
    rn_schema_unref(s);
    return b;
}

struct tu_val tu_col_val(const struct rn_column *c, uint32_t row)
{
    struct tu_val v;
    memset(&v, 0, sizeof v);
    v.type = c->type;
    v.null = rn_column_is_null(c, row);
    if (v.null) return v;
    switch (c->type.id) {
    case RN_T_BOOL: {
        uint8_t raw = ((const uint8_t *)c->values)[row];
        ck_assert_msg(raw <= 1, "bool value byte is %u, not 0 or 1", raw);
        v.b = raw;
        break;
    }
    case RN_T_INT64:
    case RN_T_TIMESTAMP: v.i = rn_col_i64(c, row); break;
    case RN_T_DOUBLE: v.d = rn_col_f64(c, row); break;
    case RN_T_STRING: {
        struct rn_str x = rn_col_str(c, row);
        ck_assert(x.len < sizeof v.s);
        if (x.len) memcpy(v.s, x.ptr, x.len);
        v.s[x.len] = 0;
        v.slen = x.len;
        break;
    }
    default: break;
    }
    return v;
}

const char *tu_type_name(struct rn_type t)
{
    static char buf[4][32];
    static int k;
    k = (k + 1) & 3;
    return rn_type_name(t, buf[k], sizeof buf[k]);
}

rn_expr *tu_compile_ok(const char *src, const rn_schema *s)
{
    rn_expr *e = NULL;
    struct rn_error err;
    memset(&err, 0, sizeof err);
    int rc = rn_expr_compile(src, s, &e, &err);
    ck_assert_msg(rc == 0, "compile '%s' failed: rc %d at %d:%d: %s", src, rc, err.line, err.column, err.msg);
    ck_assert(e != NULL);
    return e;
}

void tu_eval_ok(rn_expr *e, const struct rn_batch *b, struct rn_column *out)
{
    struct rn_error err;
    memset(out, 0, sizeof *out);
    memset(&err, 0, sizeof err);
    int rc = rn_expr_eval(e, b, out, &err);
    ck_assert_msg(rc == 0, "eval '%s' failed: %s", rn_expr_source(e), err.msg);
    ck_assert_msg(rn_type_eq(out->type, rn_expr_type(e)), "'%s': column type %s, expr type %s",
                  rn_expr_source(e), tu_type_name(out->type), tu_type_name(rn_expr_type(e)));
}

struct tu_val tu_eval_on(const struct rn_batch *b, const char *src, uint32_t row)
{
    rn_expr *e = tu_compile_ok(src, b->schema);
    struct rn_column out;
    tu_eval_ok(e, b, &out);
    struct tu_val v = tu_col_val(&out, row);
    rn_column_release(&out);
    rn_expr_destroy(e);
    return v;
}

void tu_expect_type(const char *src, struct tu_val v, enum rn_type_id want)
{
    ck_assert_msg(v.type.id == want, "'%s': type %s, want %s", src, tu_type_name(v.type),
                  tu_type_name(rn_type_of(want)));
}

void tu_expect_i64(const struct rn_batch *b, const char *src, int64_t want)
{
    struct tu_val v = tu_eval_on(b, src, 0);
    tu_expect_type(src, v, RN_T_INT64);
    ck_assert_msg(!v.null, "'%s': null, want %" PRId64, src, want);
    ck_assert_msg(v.i == want, "'%s' = %" PRId64 ", want %" PRId64, src, v.i, want);
}

void tu_expect_ts(const struct rn_batch *b, const char *src, int64_t want)
{
    struct tu_val v = tu_eval_on(b, src, 0);
    tu_expect_type(src, v, RN_T_TIMESTAMP);
    ck_assert_msg(!v.null, "'%s': null, want %" PRId64, src, want);
    ck_assert_msg(v.i == want, "'%s' = %" PRId64 ", want %" PRId64, src, v.i, want);
}

void tu_expect_f64(const struct rn_batch *b, const char *src, double want)
{
    struct tu_val v = tu_eval_on(b, src, 0);
    tu_expect_type(src, v, RN_T_DOUBLE);
    ck_assert_msg(!v.null, "'%s': null, want %g", src, want);
    bool same = (isnan(want) && isnan(v.d)) || v.d == want ||
                fabs(v.d - want) <= 1e-12 * fmax(1.0, fabs(want));
    ck_assert_msg(same, "'%s' = %.17g, want %.17g", src, v.d, want);
}

void tu_expect_bool(const struct rn_batch *b, const char *src, bool want)
{
    struct tu_val v = tu_eval_on(b, src, 0);
    tu_expect_type(src, v, RN_T_BOOL);
    ck_assert_msg(!v.null, "'%s': null, want %s", src, want ? "true" : "false");
    ck_assert_msg(v.b == want, "'%s' = %d, want %d", src, v.b, want);
}

void tu_expect_str(const struct rn_batch *b, const char *src, const char *want)
{
    struct tu_val v = tu_eval_on(b, src, 0);
    tu_expect_type(src, v, RN_T_STRING);
    ck_assert_msg(!v.null, "'%s': null, want '%s'", src, want);
    ck_assert_msg(v.slen == strlen(want) && memcmp(v.s, want, v.slen) == 0, "'%s' = '%s', want '%s'",
                  src, v.s, want);
}

void tu_expect_null(const struct rn_batch *b, const char *src, enum rn_type_id type)
{
    struct tu_val v = tu_eval_on(b, src, 0);
    tu_expect_type(src, v, type);
    ck_assert_msg(v.null, "'%s': not null, want NULL", src);
}

bool tu_vals_equal(struct tu_val a, struct tu_val b)
{
    if (a.null || b.null) return a.null == b.null;
    switch (a.type.id) {
    case RN_T_BOOL: return a.b == b.b;
    case RN_T_INT64:
    case RN_T_TIMESTAMP: return a.i == b.i;
    case RN_T_DOUBLE:
        return (isnan(a.d) && isnan(b.d)) || a.d == b.d ||
               fabs(a.d - b.d) <= 1e-12 * fmax(1.0, fabs(b.d));
    case RN_T_STRING: return a.slen == b.slen && memcmp(a.s, b.s, a.slen) == 0;
    default: return false;
    }
}

const char *tu_val_text(struct tu_val v)
{
    static char buf[2][1100];
    static int k;
    k ^= 1;
    if (v.null) return "NULL";
    switch (v.type.id) {
    case RN_T_BOOL: return v.b ? "true" : "false";
    case RN_T_INT64:
    case RN_T_TIMESTAMP: snprintf(buf[k], sizeof buf[k], "%" PRId64, v.i); break;
    case RN_T_DOUBLE: snprintf(buf[k], sizeof buf[k], "%.17g", v.d); break;
    case RN_T_STRING: snprintf(buf[k], sizeof buf[k], "'%s'", v.s); break;
    default: return "?";
    }
    return buf[k];
}

void tu_expect_rows(const char *schema, const char *rows, const char *src, const char *want_type,
                        const char *want)
{
    struct rn_batch *b = tu_batch(schema, rows);
    rn_expr *e = tu_compile_ok(src, b->schema);
    ck_assert_msg(strcmp(tu_type_name(rn_expr_type(e)), want_type) == 0, "'%s': type %s, want %s", src,
                  tu_type_name(rn_expr_type(e)), want_type);
    char wschema[64];
    snprintf(wschema, sizeof wschema, "w:%s", want_type);
    struct rn_batch *w = tu_batch(wschema, want);
    ck_assert_uint_eq(w->n_rows, b->n_rows);
    struct rn_column out;
    tu_eval_ok(e, b, &out);
    for (uint32_t r = 0; r < b->n_rows; r++) {
        struct tu_val got = tu_col_val(&out, r), exp = tu_col_val(&w->cols[0], r);
        ck_assert_msg(tu_vals_equal(got, exp), "'%s' row %u = %s, want %s", src, r, tu_val_text(got),
                      tu_val_text(exp));
    }
    rn_column_release(&out);
    rn_expr_destroy(e);
    rn_batch_unref(w);
    rn_batch_unref(b);
}

/* ---- files ---- */

static char tmp_dir[512];

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

void tu_tmp_teardown(void)
{
    if (!tmp_dir[0]) return;
    nftw(tmp_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    tmp_dir[0] = 0;
}

void tu_tmp_setup(const char *prefix)
{
    static bool registered;
    const char *base = getenv("TMPDIR");
    snprintf(tmp_dir, sizeof tmp_dir, "%s/%s-XXXXXX", base && *base ? base : "/tmp", prefix);
    ck_assert_msg(mkdtemp(tmp_dir) != NULL, "mkdtemp failed");
    /* a failed assertion exits the test's process: remove the directory then too */
    if (!registered) atexit(tu_tmp_teardown), registered = true;
}

char *tu_fmt(const char *f, ...)
{
    va_list ap;
    char *s = NULL;
    va_start(ap, f);
    int n = vasprintf(&s, f, ap);
    va_end(ap);
    ck_assert_msg(n >= 0 && s, "out of memory");
    return s;
}

char *tu_tmp_path(const char *rel) { return tu_fmt("%s/%s", tmp_dir, rel); }

void tu_write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "cannot create %s", path);
    ck_assert(fwrite(text, 1, strlen(text), f) == strlen(text));
    ck_assert(fclose(f) == 0);
}

char *tu_slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    ck_assert(buf);
    for (;;) {
        size_t n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
        if (len + 1 < cap) break;
        cap *= 2;
        buf = realloc(buf, cap);
        ck_assert(buf);
    }
    fclose(f);
    buf[len] = 0;
    return buf;
}

int tu_run(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
