/*
 * fuzz_expr_parse.c — libFuzzer target for the expression language: the input bytes are compiled
 * as an expression against a fixed schema holding every type; what compiles is evaluated over a
 * small fixed batch (and, for bool expressions, selected and filtered). Whatever the input, the
 * engine must neither crash nor leak, and a rejected expression must come with a filled error
 * (code, position, message).
 *
 * Schema: a:int64, b:double, s:string, t:timestamp, f:bool, v:vector<3>, all nullable. The batch
 * (built once) has rows with ordinary values, extreme values and nulls in every column.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "runnel/batch.h"
#include "runnel/expr.h"
#include "runnel/types.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static rn_schema *schema;
static struct rn_batch *batch;

static void check(int ok)
{
    if (!ok) abort();
}

static void build_fixture(void)
{
    struct rn_error err;
    schema = rn_schema_parse("a:int64, b:double, s:string, t:timestamp, f:bool, v:vector<3>", &err);
    check(schema != NULL);
    rn_builder *bb = rn_builder_create(schema, 8);
    check(bb != NULL);
    static const int64_t as[] = {7, -3, INT64_MIN, 0, INT64_MAX};
    static const double bs[] = {2.5, -0.0, 1e308, 0.0 / 0.0, -1.0 / 0.0};
    static const char *ss[] = {"abc", "", "héllo/wörld", "a%b_c''", "2026-11-22T13:38:00Z"};
    static const int64_t ts[] = {1795354680000LL, -1, 0, INT64_MIN, 12345};
    for (uint32_t r = 0; r < 6; r++) {
        if (r == 5) { /* the last row: all null */
            for (uint32_t c = 0; c < 6; c++) check(rn_builder_null(bb, c) == 0);
            continue;
        }
        const float vec[3] = {(float)r, -1.5f, 1e30f};
        check((r == 3 ? rn_builder_null(bb, 0) : rn_builder_i64(bb, 0, as[r])) == 0);
        check((r == 1 ? rn_builder_null(bb, 1) : rn_builder_f64(bb, 1, bs[r])) == 0);
        check((r == 4 ? rn_builder_null(bb, 2) : rn_builder_str(bb, 2, ss[r], strlen(ss[r]))) == 0);
        check((r == 2 ? rn_builder_null(bb, 3) : rn_builder_ts(bb, 3, ts[r])) == 0);
        check((r == 0 ? rn_builder_null(bb, 4) : rn_builder_bool(bb, 4, r & 1)) == 0);
        check((r == 1 ? rn_builder_null(bb, 5) : rn_builder_vec(bb, 5, vec, 3)) == 0);
    }
    batch = rn_builder_finish(bb, &err);
    check(batch != NULL);
    rn_builder_destroy(bb);
}

static void run(rn_expr *e)
{
    struct rn_error err;
    struct rn_column out;
    struct rn_type type = rn_expr_type(e);
    (void)rn_expr_nullable(e);
    (void)rn_expr_is_constant(e);
    /* Twice: the second run reuses the expression's scratch columns. */
    for (int k = 0; k < 2; k++) {
        memset(&out, 0, sizeof out);
        memset(&err, 0, sizeof err);
        if (rn_expr_eval(e, batch, &out, &err) != 0) {
            check(err.msg[0] != 0);
            return;
        }
        check(rn_type_eq(out.type, type));
        /* Touch every value so that ASan sees a bad view or a short array. */
        for (uint32_t r = 0; r < batch->n_rows; r++) {
            if (rn_column_is_null(&out, r)) continue;
            if (type.id == RN_T_STRING) {
                struct rn_str sv = rn_col_str(&out, r);
                volatile char sink = 0;
                for (uint32_t i = 0; i < sv.len; i++) sink ^= sv.ptr[i];
                (void)sink;
            } else if (type.id == RN_T_BOOL) {
                check(((const uint8_t *)out.values)[r] <= 1);
            }
        }
        rn_column_release(&out);
    }
    if (type.id == RN_T_BOOL) {
        uint32_t sel[8], n = 0;
        memset(&err, 0, sizeof err);
        if (rn_expr_select(e, batch, sel, &n, &err) == 0) {
            check(n <= batch->n_rows);
            for (uint32_t i = 0; i < n; i++) check(sel[i] < batch->n_rows && (i == 0 || sel[i] > sel[i - 1]));
        }
        struct rn_batch *fb = NULL;
        if (rn_expr_filter(e, batch, &fb, &err) == 0) {
            check(fb->n_rows == n);
            check(rn_batch_validate(fb, &err) == 0);
            rn_batch_unref(fb);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!schema) build_fixture();
    if (size > 4096) return 0;
    char *src = malloc(size + 1);
    if (!src) return 0;
    memcpy(src, data, size);
    src[size] = 0;

    rn_expr *e = NULL;
    struct rn_error err;
    memset(&err, 0, sizeof err);
    int rc = rn_expr_compile(src, schema, &e, &err);
    if (rc == 0) {
        check(e != NULL);
        check(strcmp(rn_expr_source(e), src) == 0);
        run(e);
        rn_expr_destroy(e);
    } else {
        /* A rejected expression names what and where. */
        check(rc < 0);
        check(err.code == rc);
        check(memchr(err.msg, 0, sizeof err.msg) != NULL);
        check(err.msg[0] != 0);
        check(err.line >= 1 && err.column >= 1);
    }
    free(src);
    return 0;
}
