/*
 * fuzz_textfmt_common.h — the checks shared by fuzz_jsonl.c and fuzz_csv.c (each includes it
 * once; everything here is static). See those files for what is asserted. Assumes only
 * textfmt.h's contract and runnel/batch.h.
 */
#ifndef RN_FUZZ_TEXTFMT_COMMON_H
#define RN_FUZZ_TEXTFMT_COMMON_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runnel/batch.h"
#include "runnel/error.h"
#include "runnel/types.h"
#include "textfmt.h"

#define FT_SCHEMA "a:int64, b:double, s:string, t:timestamp, f:bool, v:vector<3>"
#define FT_ROWS 64 /* small batches, so that finishing a full one is exercised too */

static const char *ft_who = "fuzz_textfmt";

static void ft_fail(const char *what, const struct rn_error *err)
{
    fprintf(stderr, "%s: %s%s%s\n", ft_who, what, err ? ": " : "", err ? err->msg : "");
    abort();
}

/* Same row count, nulls and values (doubles and floats bitwise, NaN equal to any NaN). */
static void ft_check_same(const struct rn_batch *a, const struct rn_batch *b)
{
    if (a->n_rows != b->n_rows || a->n_cols != b->n_cols) ft_fail("re-decoded shape differs", NULL);
    for (uint32_t c = 0; c < a->n_cols; c++) {
        const struct rn_column *ca = &a->cols[c], *cb = &b->cols[c];
        for (uint32_t r = 0; r < a->n_rows; r++) {
            bool na = rn_column_is_null(ca, r);
            if (na != rn_column_is_null(cb, r)) ft_fail("re-decoded null differs", NULL);
            if (na) continue;
            switch (ca->type.id) {
            case RN_T_BOOL:
                if (rn_col_bool(ca, r) != rn_col_bool(cb, r)) ft_fail("re-decoded bool differs", NULL);
                break;
            case RN_T_INT64:
            case RN_T_TIMESTAMP:
                if (rn_col_i64(ca, r) != rn_col_i64(cb, r)) ft_fail("re-decoded integer differs", NULL);
                break;
            case RN_T_DOUBLE: {
                double x = rn_col_f64(ca, r), y = rn_col_f64(cb, r);
                if (!(isnan(x) && isnan(y)) && memcmp(&x, &y, sizeof x) != 0) ft_fail("re-decoded double differs", NULL);
                break;
            }
            case RN_T_STRING: {
                struct rn_str x = rn_col_str(ca, r), y = rn_col_str(cb, r);
                if (x.len != y.len || (x.len && memcmp(x.ptr, y.ptr, x.len) != 0))
                    ft_fail("re-decoded string differs", NULL);
                break;
            }
            case RN_T_VECTOR: {
                const float *x = rn_col_vec(ca, r), *y = rn_col_vec(cb, r);
                for (uint32_t k = 0; k < ca->type.dim; k++)
                    if (!(isnan(x[k]) && isnan(y[k])) && memcmp(&x[k], &y[k], sizeof(float)) != 0)
                        ft_fail("re-decoded vector differs", NULL);
                break;
            }
            default: ft_fail("unexpected column type", NULL);
            }
        }
    }
}

/* Validates a finished batch, re-encodes it (with a header for CSV) and decodes that again. */
static void ft_check_batch(enum rn_text_format f, const rn_schema *s, const struct rn_batch *b)
{
    struct rn_error err;
    if (rn_batch_validate(b, &err) != 0) ft_fail("decoded batch does not validate", &err);
    struct rn_text_buf out = {0};
    if (rn_text_encode_header(f, 0, s, &out) != 0) ft_fail("encode header failed", NULL);
    size_t body = out.len;
    for (uint32_t r = 0; r < b->n_rows; r++)
        if (rn_text_encode_row(f, 0, b, r, &out) != 0) ft_fail("encode row failed", NULL);
    rn_text_decoder *d = rn_text_decoder_create(f, s, 0);
    rn_builder *bb = rn_builder_create(s, FT_ROWS);
    if (!d || !bb) ft_fail("out of memory", NULL);
    if (f == RN_FMT_CSV && rn_text_decoder_header(d, out.data, body - 1, &err) != 0)
        ft_fail("re-decoding the encoded header failed", &err);
    size_t at = body;
    while (at < out.len) {
        char *nl = memchr(out.data + at, '\n', out.len - at);
        if (!nl) ft_fail("encoded row without a newline", NULL);
        int rc = rn_text_decode_line(d, out.data + at, (size_t)(nl - (out.data + at)), bb, &err);
        if (rc != 0) {
            fprintf(stderr, "%s: line: %.*s\n", ft_who, (int)(nl - (out.data + at)), out.data + at);
            ft_fail("re-decoding an encoded row failed", &err);
        }
        at = (size_t)(nl - out.data) + 1;
    }
    struct rn_batch *b2 = rn_builder_finish(bb, &err);
    if (!b2) ft_fail("finishing the re-decoded batch failed", &err);
    if (rn_batch_validate(b2, &err) != 0) ft_fail("re-decoded batch does not validate", &err);
    ft_check_same(b, b2);
    rn_batch_unref(b2);
    rn_builder_destroy(bb);
    rn_text_decoder_destroy(d);
    rn_text_buf_free(&out);
}

static void ft_finish_and_check(enum rn_text_format f, const rn_schema *s, rn_builder *bb)
{
    struct rn_error err;
    uint32_t rows = rn_builder_rows(bb);
    struct rn_batch *b = rn_builder_finish(bb, &err);
    if (!b) ft_fail("finish failed (uneven columns after a rejected line?)", &err);
    if (b->n_rows != rows) ft_fail("finished batch has another row count", NULL);
    ft_check_batch(f, s, b);
    rn_batch_unref(b);
}

static void ft_check_input(enum rn_text_format f, const char *who, const uint8_t *data, size_t size)
{
    static rn_schema *s;
    struct rn_error err;
    ft_who = who;
    if (!s && !(s = rn_schema_parse(FT_SCHEMA, &err))) ft_fail("schema", &err);
    rn_text_decoder *d = rn_text_decoder_create(f, s, 0);
    rn_builder *bb = rn_builder_create(s, FT_ROWS);
    if (!d || !bb) ft_fail("out of memory", NULL);
    const char *p = (const char *)data, *e = p + size;
    bool first = true;
    while (p < e) {
        const char *nl = memchr(p, '\n', (size_t)(e - p));
        size_t len = (size_t)((nl ? nl : e) - p);
        int rc;
        memset(&err, 0, sizeof err);
        if (f == RN_FMT_CSV && first) {
            rc = rn_text_decoder_header(d, p, len, &err);
            if (rc != 0) {
                if (rc != RN_EINVAL || !err.msg[0]) ft_fail("header rejected without RN_EINVAL and a message", NULL);
                goto done;
            }
        } else {
            if (rn_builder_full(bb)) ft_finish_and_check(f, s, bb);
            uint32_t before = rn_builder_rows(bb);
            rc = rn_text_decode_line(d, p, len, bb, &err);
            uint32_t after = rn_builder_rows(bb);
            if (rc == 0) {
                if (after != before + 1) ft_fail("accepted line did not add one row", NULL);
            } else if (rc == RN_EINVAL) {
                if (!err.msg[0]) ft_fail("rejected line without a message", NULL);
                if (err.column < 1 || (size_t)err.column > len + 1) ft_fail("error position outside the line", &err);
                if (after != before) ft_fail("rejected line changed the row count", &err);
            } else if (rc == RN_EEND) {
                if (after != before) ft_fail("blank line changed the row count", NULL);
            } else {
                ft_fail("decode returned an unexpected code", &err);
            }
        }
        first = false;
        p = nl ? nl + 1 : e;
    }
    ft_finish_and_check(f, s, bb);
done:
    rn_builder_destroy(bb);
    rn_text_decoder_destroy(d);
}

#endif
