/*
 * test_batch.c — Check suite "batch": columnar record batches (runnel/batch.h).
 *
 * Covers fresh batches and their writers, validity bitmaps, string arenas, the builder, the
 * derived batches (select, slice, project) and their sharing of buffers, validation, row
 * formatting, column dependencies and reference counting. Lifetime tests free the source
 * before reading the derived batch, so they only prove something under ASan
 * (meson setup -Db_sanitize=address,undefined).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "runnel/batch.h"
#include "runnel/buffer.h"
#include "runnel/types.h"

#define ALL_TYPES "b:bool, i:int64, d:double, s:string, t:timestamp, v:vector<3>"

static void assert_view_eq(struct rn_str v, const char *want)
{
    size_t n = strlen(want);
    ck_assert_msg(v.len == n && (n == 0 || memcmp(v.ptr, want, n) == 0),
                  "string view '%.*s' (len %u), want '%s'", (int)v.len, v.ptr ? v.ptr : "",
                  v.len, want);
}

static void assert_valid(const struct rn_batch *b)
{
    struct rn_error err;
    memset(&err, 0, sizeof err);
    int rc = rn_batch_validate(b, &err);
    ck_assert_msg(rc == 0, "validate: %d %s", rc, err.msg);
}

static void assert_corrupt(const struct rn_batch *b)
{
    struct rn_error err;
    memset(&err, 0, sizeof err);
    int rc = rn_batch_validate(b, &err);
    ck_assert_int_eq(rc, RN_ECORRUPT);
    ck_assert_int_eq(err.code, RN_ECORRUPT);
    ck_assert_msg(err.msg[0] != 0, "validate gave no message");
}

/* A batch from a builder with every type, 3 rows; row 1 is all null. */
static struct rn_batch *all_types_batch(void)
{
    rn_schema *s = tu_schema(ALL_TYPES);
    rn_builder *bb = rn_builder_create(s, 0);
    ck_assert_ptr_nonnull(bb);
    const float v0[3] = {1, 2, 3}, v2[3] = {-1.5f, 0, 1e10f};
    ck_assert_int_eq(rn_builder_bool(bb, 0, true), 0);
    ck_assert_int_eq(rn_builder_i64(bb, 1, -7), 0);
    ck_assert_int_eq(rn_builder_f64(bb, 2, 2.5), 0);
    ck_assert_int_eq(rn_builder_str(bb, 3, "héllo", strlen("héllo")), 0);
    ck_assert_int_eq(rn_builder_ts(bb, 4, 1700000000000), 0);
    ck_assert_int_eq(rn_builder_vec(bb, 5, v0, 3), 0);
    for (uint32_t c = 0; c < 6; c++) ck_assert_int_eq(rn_builder_null(bb, c), 0);
    ck_assert_int_eq(rn_builder_bool(bb, 0, false), 0);
    ck_assert_int_eq(rn_builder_i64(bb, 1, INT64_MAX), 0);
    ck_assert_int_eq(rn_builder_f64(bb, 2, -0.25), 0);
    ck_assert_int_eq(rn_builder_str(bb, 3, "", 0), 0);
    ck_assert_int_eq(rn_builder_ts(bb, 4, -1), 0);
    ck_assert_int_eq(rn_builder_vec(bb, 5, v2, 3), 0);
    ck_assert_uint_eq(rn_builder_rows(bb), 3);
    struct rn_error err;
    struct rn_batch *b = rn_builder_finish(bb, &err);
    ck_assert_msg(b != NULL, "finish: %s", err.msg);
    rn_builder_destroy(bb);
    rn_schema_unref(s);
    return b;
}

/* Reads back all_types_batch() (or a batch whose rows are its rows in order). */
static void assert_all_types_rows(const struct rn_batch *b)
{
    ck_assert_uint_eq(b->n_rows, 3);
    ck_assert_uint_eq(b->n_cols, 6);
    const struct rn_column *c = b->cols;
    ck_assert(rn_col_bool(&c[0], 0) == true);
    ck_assert(rn_col_bool(&c[0], 2) == false);
    ck_assert_int_eq(rn_col_i64(&c[1], 0), -7);
    ck_assert_int_eq(rn_col_i64(&c[1], 2), INT64_MAX);
    ck_assert(rn_col_f64(&c[2], 0) == 2.5);
    ck_assert(rn_col_f64(&c[2], 2) == -0.25);
    assert_view_eq(rn_col_str(&c[3], 0), "héllo");
    assert_view_eq(rn_col_str(&c[3], 2), "");
    ck_assert_int_eq(rn_col_i64(&c[4], 0), 1700000000000);
    ck_assert_int_eq(rn_col_i64(&c[4], 2), -1);
    const float *v = rn_col_vec(&c[5], 0);
    ck_assert(v[0] == 1 && v[1] == 2 && v[2] == 3);
    v = rn_col_vec(&c[5], 2);
    ck_assert(v[0] == -1.5f && v[1] == 0 && v[2] == 1e10f);
    for (uint32_t col = 0; col < 6; col++) {
        ck_assert_msg(!rn_column_is_null(&c[col], 0), "col %u row 0 null", col);
        ck_assert_msg(rn_column_is_null(&c[col], 1), "col %u row 1 not null", col);
        ck_assert_msg(!rn_column_is_null(&c[col], 2), "col %u row 2 null", col);
        ck_assert_uint_eq(rn_column_null_count(&c[col], 3), 1);
    }
}

/* ---- fresh batches ---- */

START_TEST(test_new_batch_is_zero_filled)
{
    rn_schema *s = tu_schema(ALL_TYPES);
    struct rn_batch *b = rn_batch_new(s, 100);
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_eq(b->n_rows, 0);
    ck_assert_uint_ge(b->capacity, 100);
    ck_assert_uint_eq(b->n_cols, 6);
    ck_assert_ptr_eq(b->schema, s);
    ck_assert_uint_eq(b->refs, 1);
    for (uint32_t c = 0; c < 6; c++) {
        ck_assert(rn_type_eq(b->cols[c].type, rn_schema_field(s, c)->type));
        ck_assert_ptr_null(b->cols[c].validity);
        ck_assert_ptr_nonnull(b->cols[c].values);
    }
    for (uint32_t i = 0; i < 100; i++) {
        ck_assert_uint_eq(((uint8_t *)b->cols[0].values)[i], 0);
        ck_assert_int_eq(rn_col_i64(&b->cols[1], i), 0);
        ck_assert(rn_col_f64(&b->cols[2], i) == 0.0);
        struct rn_str v = rn_col_str(&b->cols[3], i);
        ck_assert_uint_eq(v.len, 0);
        ck_assert_ptr_null(v.ptr);
        ck_assert_int_eq(rn_col_i64(&b->cols[4], i), 0);
        for (int k = 0; k < 3; k++) ck_assert(rn_col_vec(&b->cols[5], i)[k] == 0.0f);
    }
    rn_batch_unref(b);
    rn_schema_unref(s);
}
END_TEST

START_TEST(test_new_batch_keeps_schema_alive)
{
    rn_schema *s = tu_schema("a:int64, name:string");
    struct rn_batch *b = rn_batch_new(s, 8);
    rn_schema_unref(s);
    ck_assert_str_eq(rn_schema_field(b->schema, 1)->name, "name");
    rn_batch_unref(b);
}
END_TEST

START_TEST(test_new_batch_rejects_capacity_out_of_range)
{
    rn_schema *s = tu_schema("a:int64");
    ck_assert_ptr_null(rn_batch_new(s, 0));
    ck_assert_ptr_null(rn_batch_new(s, RN_BATCH_MAX_ROWS + 1));
    ck_assert_ptr_null(rn_batch_new(s, UINT32_MAX));
    struct rn_batch *b = rn_batch_new(s, 1);
    ck_assert_ptr_nonnull(b);
    rn_batch_unref(b);
    rn_schema_unref(s);
}
END_TEST

START_TEST(test_new_batch_at_max_rows)
{
    rn_schema *s = tu_schema("a:bool");
    struct rn_batch *b = rn_batch_new(s, RN_BATCH_MAX_ROWS);
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_ge(b->capacity, RN_BATCH_MAX_ROWS);
    ((uint8_t *)b->cols[0].values)[RN_BATCH_MAX_ROWS - 1] = 1;
    ck_assert_int_eq(rn_batch_set_null(b, 0, RN_BATCH_MAX_ROWS - 1), 0);
    b->n_rows = RN_BATCH_MAX_ROWS;
    ck_assert_uint_eq(rn_column_null_count(&b->cols[0], b->n_rows), 1);
    assert_valid(b);
    rn_batch_unref(b);
    rn_schema_unref(s);
}
END_TEST

START_TEST(test_new_batch_written_directly_validates)
{
    rn_schema *s = tu_schema("i:int64, d:double, f:bool");
    struct rn_batch *b = rn_batch_new(s, 10);
    for (uint32_t i = 0; i < 10; i++) {
        ((int64_t *)b->cols[0].values)[i] = i * 3;
        ((double *)b->cols[1].values)[i] = i / 2.0;
        ((uint8_t *)b->cols[2].values)[i] = i & 1;
    }
    b->n_rows = 10;
    assert_valid(b);
    ck_assert_int_eq(rn_col_i64(&b->cols[0], 9), 27);
    rn_batch_unref(b);
    rn_schema_unref(s);
}
END_TEST

START_TEST(test_unref_null_batch_is_ignored)
{
    rn_batch_unref(NULL);
}
END_TEST

/* ---- nulls ---- */

START_TEST(test_set_null_creates_validity)
{
    rn_schema *s = tu_schema("a:int64, b:string");
    struct rn_batch *b = rn_batch_new(s, 200);
    ck_assert_ptr_null(b->cols[0].validity);
    ck_assert_uint_eq(rn_column_null_count(&b->cols[0], 200), 0);
    ck_assert_int_eq(rn_batch_set_null(b, 0, 5), 0);
    ck_assert_ptr_nonnull(b->cols[0].validity);
    ck_assert_ptr_null(b->cols[1].validity);
    for (uint32_t i = 0; i < 200; i++)
        ck_assert_msg(rn_column_is_null(&b->cols[0], i) == (i == 5), "row %u", i);
    ck_assert_uint_eq(rn_column_null_count(&b->cols[0], 200), 1);
    rn_batch_unref(b);
    rn_schema_unref(s);
}
END_TEST

START_TEST(test_null_count_agrees_with_is_null)
{
    rn_schema *s = tu_schema("a:int64");
    struct rn_batch *b = rn_batch_new(s, 300);
    uint32_t rows[] = {0, 1, 63, 64, 65, 127, 128, 129, 200, 255, 256, 299};
    for (size_t k = 0; k < sizeof rows / sizeof rows[0]; k++)
        ck_assert_int_eq(rn_batch_set_null(b, 0, rows[k]), 0);
    ck_assert_int_eq(rn_batch_set_null(b, 0, 64), 0); /* twice: still one null */
    for (uint32_t n = 0; n <= 300; n++) {
        uint32_t want = 0;
        for (uint32_t i = 0; i < n; i++) want += rn_column_is_null(&b->cols[0], i);
        ck_assert_msg(rn_column_null_count(&b->cols[0], n) == want, "n=%u: count %u, want %u", n,
                      rn_column_null_count(&b->cols[0], n), want);
    }
    ck_assert_uint_eq(rn_column_null_count(&b->cols[0], 300), 12);
    ck_assert_uint_eq(rn_column_null_count(&b->cols[0], 64), 3);
    ck_assert_uint_eq(rn_column_null_count(&b->cols[0], 65), 4);
    rn_batch_unref(b);
    rn_schema_unref(s);
}
END_TEST

START_TEST(test_set_valid_clears_null)
{
    rn_schema *s = tu_schema("a:int64, b:int64");
    struct rn_batch *b = rn_batch_new(s, 100);
    ck_assert_int_eq(rn_batch_set_null(b, 0, 3), 0);
    ck_assert_int_eq(rn_batch_set_null(b, 0, 70), 0);
    ck_assert_uint_eq(rn_column_null_count(&b->cols[0], 100), 2);
    ck_assert_int_eq(rn_batch_set_valid(b, 0, 3), 0);
    ck_assert(!rn_column_is_null(&b->cols[0], 3));
    ck_assert(rn_column_is_null(&b->cols[0], 70));
    ck_assert_uint_eq(rn_column_null_count(&b->cols[0], 100), 1);
    /* Without a bitmap it is a no-op and creates none. */
    ck_assert_int_eq(rn_batch_set_valid(b, 1, 3), 0);
    ck_assert_ptr_null(b->cols[1].validity);
    rn_batch_unref(b);
    rn_schema_unref(s);
}
END_TEST

START_TEST(test_writers_reject_row_out_of_range)
{
    rn_schema *s = tu_schema("a:int64, s:string");
    struct rn_batch *b = rn_batch_new(s, 10);
    uint32_t cap = b->capacity;
    ck_assert_int_eq(rn_batch_set_null(b, 0, cap), RN_EINVAL);
    ck_assert_int_eq(rn_batch_set_null(b, 0, UINT32_MAX), RN_EINVAL);
    ck_assert_int_eq(rn_batch_set_valid(b, 0, cap), RN_EINVAL);
    ck_assert_int_eq(rn_batch_set_str(b, 1, cap, "x", 1), RN_EINVAL);
    ck_assert_int_eq(rn_batch_set_null(b, 0, cap - 1), 0);
    rn_batch_unref(b);
    rn_schema_unref(s);
}
END_TEST

START_TEST(test_set_str_rejects_other_type)
{
    rn_schema *s = tu_schema("a:int64, s:string");
    struct rn_batch *b = rn_batch_new(s, 10);
    ck_assert_int_eq(rn_batch_set_str(b, 0, 0, "x", 1), RN_EINVAL);
    ck_assert_int_eq(rn_col_i64(&b->cols[0], 0), 0);
    rn_batch_unref(b);
    rn_schema_unref(s);
}
END_TEST

/* ---- strings ---- */

START_TEST(test_set_str_copies_bytes)
{
    rn_schema *s = tu_schema("s:string");
    struct rn_batch *b = rn_batch_new(s, 4);
    char src[16];
    strcpy(src, "hello");
    ck_assert_int_eq(rn_batch_set_str(b, 0, 0, src, 5), 0);
    ck_assert_int_eq(rn_batch_set_str(b, 0, 1, "", 0), 0);
    ck_assert_int_eq(rn_batch_set_str(b, 0, 2, "a\0b", 3), 0);
    struct rn_str v = rn_col_str(&b->cols[0], 0);
    ck_assert_ptr_ne(v.ptr, src);
    memset(src, 'Z', sizeof src);
    assert_view_eq(v, "hello");
    ck_assert_uint_eq(rn_col_str(&b->cols[0], 1).len, 0);
    v = rn_col_str(&b->cols[0], 2);
    ck_assert_uint_eq(v.len, 3);
    ck_assert_int_eq(memcmp(v.ptr, "a\0b", 3), 0);
    b->n_rows = 3;
    assert_valid(b);
    rn_batch_unref(b);
    rn_schema_unref(s);
}
END_TEST

static void fill_long(char *buf, size_t len, uint32_t i)
{
    for (size_t k = 0; k < len; k++) buf[k] = (char)('a' + (i + k) % 26);
    snprintf(buf, len, "%u:", i); /* a unique prefix; NUL lands inside, bytes compared by len */
}

START_TEST(test_set_str_views_survive_arena_growth)
{
    enum { N = 2000, LEN = 3000 };
    rn_schema *s = tu_schema("s:string");
    struct rn_batch *b = rn_batch_new(s, N);
    const char **ptrs = calloc(N, sizeof *ptrs);
    char buf[LEN];
    for (uint32_t i = 0; i < N; i++) {
        fill_long(buf, LEN, i);
        ck_assert_int_eq(rn_batch_set_str(b, 0, i, buf, LEN), 0);
        ptrs[i] = rn_col_str(&b->cols[0], i).ptr;
        /* Every earlier view still reads right right after this append. */
        if (i % 97 == 0)
            for (uint32_t j = 0; j <= i; j += 13) {
                fill_long(buf, LEN, j);
                ck_assert_int_eq(memcmp(ptrs[j], buf, LEN), 0);
            }
    }
    for (uint32_t i = 0; i < N; i++) {
        struct rn_str v = rn_col_str(&b->cols[0], i);
        ck_assert_ptr_eq(v.ptr, ptrs[i]);
        ck_assert_uint_eq(v.len, LEN);
        fill_long(buf, LEN, i);
        ck_assert_msg(memcmp(v.ptr, buf, LEN) == 0, "row %u changed", i);
    }
    b->n_rows = N;
    assert_valid(b);
    free(ptrs);
    rn_batch_unref(b);
    rn_schema_unref(s);
}
END_TEST

START_TEST(test_set_str_huge_string)
{
    size_t len = (size_t)4 << 20;
    char *big = malloc(len);
    for (size_t i = 0; i < len; i++) big[i] = (char)(i * 7);
    rn_schema *s = tu_schema("s:string");
    struct rn_batch *b = rn_batch_new(s, 3);
    ck_assert_int_eq(rn_batch_set_str(b, 0, 0, "small", 5), 0);
    ck_assert_int_eq(rn_batch_set_str(b, 0, 1, big, len), 0);
    ck_assert_int_eq(rn_batch_set_str(b, 0, 2, "after", 5), 0);
    b->n_rows = 3;
    assert_view_eq(rn_col_str(&b->cols[0], 0), "small");
    ck_assert_uint_eq(rn_col_str(&b->cols[0], 1).len, len);
    ck_assert_int_eq(memcmp(rn_col_str(&b->cols[0], 1).ptr, big, len), 0);
    assert_view_eq(rn_col_str(&b->cols[0], 2), "after");
    assert_valid(b);
    free(big);
    rn_batch_unref(b);
    rn_schema_unref(s);
}
END_TEST

/* ---- builder ---- */

START_TEST(test_builder_builds_each_type_with_nulls)
{
    struct rn_batch *b = all_types_batch();
    assert_all_types_rows(b);
    ck_assert_uint_eq(b->refs, 1);
    assert_valid(b);
    rn_batch_unref(b);
}
END_TEST

START_TEST(test_builder_refuses_null_in_not_null_field)
{
    rn_schema *s = tu_schema("a:int64 not null, b:int64");
    rn_builder *bb = rn_builder_create(s, 0);
    ck_assert_int_eq(rn_builder_null(bb, 0), RN_EINVAL);
    ck_assert_int_eq(rn_builder_null(bb, 1), 0);
    ck_assert_int_eq(rn_builder_i64(bb, 0, 1), 0);
    ck_assert_uint_eq(rn_builder_rows(bb), 1);
    struct rn_error err;
    struct rn_batch *b = rn_builder_finish(bb, &err);
    ck_assert_msg(b != NULL, "%s", err.msg);
    ck_assert_uint_eq(b->n_rows, 1);
    ck_assert_int_eq(rn_col_i64(&b->cols[0], 0), 1);
    ck_assert(!rn_column_is_null(&b->cols[0], 0));
    ck_assert(rn_column_is_null(&b->cols[1], 0));
    assert_valid(b);
    rn_batch_unref(b);
    rn_builder_destroy(bb);
    rn_schema_unref(s);
}
END_TEST

START_TEST(test_builder_refuses_wrong_type)
{
    rn_schema *s = tu_schema(ALL_TYPES);
    rn_builder *bb = rn_builder_create(s, 0);
    float v[4] = {0};
    ck_assert_int_eq(rn_builder_i64(bb, 0, 1), RN_EINVAL);      /* int into bool */
    ck_assert_int_eq(rn_builder_bool(bb, 1, true), RN_EINVAL);  /* bool into int64 */
    ck_assert_int_eq(rn_builder_str(bb, 1, "1", 1), RN_EINVAL); /* string into int64 */
    ck_assert_int_eq(rn_builder_i64(bb, 2, 1), RN_EINVAL);      /* int into double */
    ck_assert_int_eq(rn_builder_f64(bb, 3, 1), RN_EINVAL);      /* double into string */
    ck_assert_int_eq(rn_builder_str(bb, 4, "x", 1), RN_EINVAL); /* string into timestamp */
    ck_assert_int_eq(rn_builder_f64(bb, 5, 1), RN_EINVAL);      /* double into vector */
    ck_assert_int_eq(rn_builder_vec(bb, 5, v, 4), RN_EINVAL);   /* vector<4> into vector<3> */
    ck_assert_int_eq(rn_builder_vec(bb, 5, v, 2), RN_EINVAL);   /* vector<2> into vector<3> */
    ck_assert_int_eq(rn_builder_vec(bb, 1, v, 1), RN_EINVAL);   /* vector into int64 */
    ck_assert_uint_eq(rn_builder_rows(bb), 0);
    struct rn_error err;
    struct rn_batch *b = rn_builder_finish(bb, &err);
    ck_assert_msg(b != NULL, "refused values must not count: %s", err.msg);
    ck_assert_uint_eq(b->n_rows, 0);
    rn_batch_unref(b);
    rn_builder_destroy(bb);
    rn_schema_unref(s);
}
END_TEST

START_TEST(test_builder_full_column_is_erange)
{
    rn_schema *s = tu_schema("a:int64");
    rn_builder *bb = rn_builder_create(s, 4);
    for (int i = 0; i < 4; i++) {
        ck_assert(!rn_builder_full(bb));
        ck_assert_int_eq(rn_builder_i64(bb, 0, i), 0);
    }
    ck_assert(rn_builder_full(bb));
    ck_assert_uint_eq(rn_builder_rows(bb), 4);
    ck_assert_int_eq(rn_builder_i64(bb, 0, 99), RN_ERANGE);
    ck_assert_int_eq(rn_builder_null(bb, 0), RN_ERANGE);
    struct rn_error err;
    struct rn_batch *b = rn_builder_finish(bb, &err);
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_eq(b->n_rows, 4);
    for (int i = 0; i < 4; i++) ck_assert_int_eq(rn_col_i64(&b->cols[0], i), i);
    rn_batch_unref(b);
    rn_builder_destroy(bb);
    rn_schema_unref(s);
}
END_TEST

START_TEST(test_builder_default_rows_per_batch)
{
    rn_schema *s = tu_schema("a:int64, s:string");
    rn_builder *bb = rn_builder_create(s, 0);
    for (uint32_t i = 0; i < RN_BATCH_ROWS; i++) {
        ck_assert_int_eq(rn_builder_i64(bb, 0, i), 0);
        ck_assert_int_eq(rn_builder_str(bb, 1, "abcdefghijklmnopqrstuvwxyz", i % 27), 0);
    }
    ck_assert(rn_builder_full(bb));
    ck_assert_int_eq(rn_builder_i64(bb, 0, 0), RN_ERANGE);
    ck_assert_int_eq(rn_builder_str(bb, 1, "x", 1), RN_ERANGE);
    struct rn_error err;
    struct rn_batch *b = rn_builder_finish(bb, &err);
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_eq(b->n_rows, RN_BATCH_ROWS);
    for (uint32_t i = 0; i < RN_BATCH_ROWS; i++) {
        ck_assert_int_eq(rn_col_i64(&b->cols[0], i), i);
        struct rn_str v = rn_col_str(&b->cols[1], i);
        ck_assert_uint_eq(v.len, i % 27);
        ck_assert_int_eq(memcmp(v.ptr, "abcdefghijklmnopqrstuvwxyz", v.len), 0);
    }
    assert_valid(b);
    rn_batch_unref(b);
    rn_builder_destroy(bb);
    rn_schema_unref(s);
}
END_TEST

START_TEST(test_builder_rows_counts_complete_rows)
{
    rn_schema *s = tu_schema("a:int64, b:string");
    rn_builder *bb = rn_builder_create(s, 0);
    ck_assert_uint_eq(rn_builder_rows(bb), 0);
    for (int i = 0; i < 3; i++) ck_assert_int_eq(rn_builder_i64(bb, 0, i), 0);
    ck_assert_uint_eq(rn_builder_rows(bb), 0);
    ck_assert_int_eq(rn_builder_str(bb, 1, "x", 1), 0);
    ck_assert_int_eq(rn_builder_null(bb, 1), 0);
    ck_assert_uint_eq(rn_builder_rows(bb), 2);
    rn_builder_destroy(bb); /* with a batch half built: no leak */
    rn_schema_unref(s);
}
END_TEST

START_TEST(test_builder_ragged_columns_fail_finish)
{
    rn_schema *s = tu_schema("a:int64, b:string");
    rn_builder *bb = rn_builder_create(s, 0);
    ck_assert_int_eq(rn_builder_i64(bb, 0, 1), 0);
    ck_assert_int_eq(rn_builder_i64(bb, 0, 2), 0);
    ck_assert_int_eq(rn_builder_str(bb, 1, "only one", 8), 0);
    struct rn_error err;
    memset(&err, 0, sizeof err);
    ck_assert_ptr_null(rn_builder_finish(bb, &err));
    ck_assert_int_ne(err.code, 0);
    ck_assert_msg(err.msg[0] != 0, "no message");
    rn_builder_destroy(bb);
    rn_schema_unref(s);
}
END_TEST

START_TEST(test_builder_finish_empty_gives_zero_rows)
{
    rn_schema *s = tu_schema("a:int64, b:string");
    rn_builder *bb = rn_builder_create(s, 0);
    struct rn_error err;
    struct rn_batch *b = rn_builder_finish(bb, &err);
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_eq(b->n_rows, 0);
    ck_assert_uint_eq(b->n_cols, 2);
    assert_valid(b);
    rn_batch_unref(b);
    rn_builder_destroy(bb);
    rn_schema_unref(s);
}
END_TEST

START_TEST(test_builder_finish_starts_new_batch)
{
    rn_schema *s = tu_schema("a:int64, b:string");
    rn_builder *bb = rn_builder_create(s, 3);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(rn_builder_i64(bb, 0, i), 0);
        ck_assert_int_eq(rn_builder_str(bb, 1, "first", 5), 0);
    }
    ck_assert(rn_builder_full(bb));
    struct rn_error err;
    struct rn_batch *b1 = rn_builder_finish(bb, &err);
    ck_assert_ptr_nonnull(b1);
    ck_assert_uint_eq(rn_builder_rows(bb), 0);
    ck_assert(!rn_builder_full(bb));
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(rn_builder_i64(bb, 0, 100 + i), 0);
        ck_assert_int_eq(rn_builder_str(bb, 1, "second", 6), 0);
    }
    struct rn_batch *b2 = rn_builder_finish(bb, &err);
    ck_assert_ptr_nonnull(b2);
    ck_assert_ptr_ne(b1, b2);
    rn_builder_destroy(bb);
    rn_schema_unref(s);

    ck_assert_uint_eq(b1->n_rows, 3);
    ck_assert_uint_eq(b2->n_rows, 2);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(rn_col_i64(&b1->cols[0], i), i);
        assert_view_eq(rn_col_str(&b1->cols[1], i), "first");
    }
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(rn_col_i64(&b2->cols[0], i), 100 + i);
        assert_view_eq(rn_col_str(&b2->cols[1], i), "second");
    }
    assert_valid(b1);
    assert_valid(b2);
    rn_batch_unref(b1);
    rn_batch_unref(b2);
}
END_TEST

START_TEST(test_builder_strings_outlive_builder)
{
    enum { N = 1000 };
    rn_schema *s = tu_schema("s:string");
    rn_builder *bb = rn_builder_create(s, N);
    char buf[600];
    for (uint32_t i = 0; i < N; i++) {
        fill_long(buf, sizeof buf, i);
        ck_assert_int_eq(rn_builder_str(bb, 0, buf, sizeof buf), 0);
    }
    struct rn_error err;
    struct rn_batch *b = rn_builder_finish(bb, &err);
    rn_builder_destroy(bb);
    rn_schema_unref(s);
    for (uint32_t i = 0; i < N; i++) {
        fill_long(buf, sizeof buf, i);
        struct rn_str v = rn_col_str(&b->cols[0], i);
        ck_assert_uint_eq(v.len, sizeof buf);
        ck_assert_int_eq(memcmp(v.ptr, buf, sizeof buf), 0);
    }
    assert_valid(b);
    rn_batch_unref(b);
}
END_TEST

/* ---- select ---- */

#define SEL_SCHEMA "i:int64, s:string, d:double"
#define SEL_ROWS "10, aa, 1.5; 20, NULL, 2.5; 30, cc, NULL; 40, dd, 4.5; 50, ee, 5.5"

START_TEST(test_select_gathers_in_order_with_repeats)
{
    struct rn_batch *b = tu_batch(SEL_SCHEMA, SEL_ROWS);
    uint32_t sel[] = {4, 0, 0, 2, 1, 4};
    struct rn_batch *o = rn_batch_select(b, sel, 6);
    ck_assert_ptr_nonnull(o);
    ck_assert_ptr_ne(o, b);
    ck_assert_uint_eq(o->n_rows, 6);
    ck_assert_uint_eq(o->n_cols, 3);
    int64_t want_i[] = {50, 10, 10, 30, 20, 50};
    const char *want_s[] = {"ee", "aa", "aa", "cc", NULL, "ee"};
    double want_d[] = {5.5, 1.5, 1.5, 0, 2.5, 5.5};
    for (uint32_t k = 0; k < 6; k++) {
        ck_assert_int_eq(rn_col_i64(&o->cols[0], k), want_i[k]);
        ck_assert(!rn_column_is_null(&o->cols[0], k));
        if (want_s[k]) {
            ck_assert(!rn_column_is_null(&o->cols[1], k));
            assert_view_eq(rn_col_str(&o->cols[1], k), want_s[k]);
        } else {
            ck_assert(rn_column_is_null(&o->cols[1], k));
        }
        ck_assert(rn_column_is_null(&o->cols[2], k) == (k == 3));
        if (k != 3) ck_assert(rn_col_f64(&o->cols[2], k) == want_d[k]);
    }
    ck_assert_uint_eq(rn_column_null_count(&o->cols[1], 6), 1);
    assert_valid(o);
    rn_batch_unref(o);
    rn_batch_unref(b);
}
END_TEST

START_TEST(test_select_keeps_string_views)
{
    struct rn_batch *b = tu_batch(SEL_SCHEMA, SEL_ROWS);
    uint32_t sel[] = {3, 0, 4, 0};
    struct rn_batch *o = rn_batch_select(b, sel, 4);
    ck_assert_ptr_nonnull(o);
    for (uint32_t k = 0; k < 4; k++) {
        struct rn_str a = rn_col_str(&o->cols[1], k), src = rn_col_str(&b->cols[1], sel[k]);
        ck_assert_ptr_eq(a.ptr, src.ptr);
        ck_assert_uint_eq(a.len, src.len);
    }
    rn_batch_unref(o);
    rn_batch_unref(b);
}
END_TEST

START_TEST(test_select_bitmap_keeps_set_rows_in_order)
{
    struct rn_batch *b = tu_batch(SEL_SCHEMA, SEL_ROWS);
    uint64_t bits[1] = {0x1a | ((uint64_t)1 << 40)};   /* rows 1, 3, 4; bit 40 is past the end */
    struct rn_batch *o = rn_batch_select_bitmap(b, bits);
    ck_assert_ptr_nonnull(o);
    ck_assert_uint_eq(o->n_rows, 3);
    ck_assert_int_eq(rn_col_i64(&o->cols[0], 0), 20);
    ck_assert_int_eq(rn_col_i64(&o->cols[0], 1), 40);
    ck_assert_int_eq(rn_col_i64(&o->cols[0], 2), 50);
    ck_assert(rn_column_is_null(&o->cols[1], 0));
    assert_view_eq(rn_col_str(&o->cols[1], 2), "ee");
    assert_valid(o);
    rn_batch_unref(o);
    bits[0] = 0;
    o = rn_batch_select_bitmap(b, bits);
    ck_assert_ptr_nonnull(o);
    ck_assert_uint_eq(o->n_rows, 0);
    rn_batch_unref(o);
    rn_batch_unref(b);
}
END_TEST

START_TEST(test_select_identity_returns_same_batch)
{
    struct rn_batch *b = tu_batch(SEL_SCHEMA, SEL_ROWS);
    uint32_t sel[] = {0, 1, 2, 3, 4};
    struct rn_batch *o = rn_batch_select(b, sel, 5);
    ck_assert_ptr_eq(o, b);
    ck_assert_uint_eq(b->refs, 2);
    rn_batch_unref(o);
    ck_assert_uint_eq(b->refs, 1);
    rn_batch_unref(b);
}
END_TEST

START_TEST(test_select_prefix_is_not_identity)
{
    struct rn_batch *b = tu_batch(SEL_SCHEMA, SEL_ROWS);
    uint32_t sel[] = {0, 1, 2};
    struct rn_batch *o = rn_batch_select(b, sel, 3);
    ck_assert_ptr_nonnull(o);
    ck_assert_uint_eq(o->n_rows, 3);
    ck_assert_uint_eq(b->n_rows, 5);
    ck_assert_int_eq(rn_col_i64(&o->cols[0], 2), 30);
    rn_batch_unref(o);
    rn_batch_unref(b);
}
END_TEST

START_TEST(test_select_zero_rows)
{
    struct rn_batch *b = tu_batch(SEL_SCHEMA, SEL_ROWS);
    uint32_t dummy = 0;
    struct rn_batch *o = rn_batch_select(b, &dummy, 0);
    ck_assert_ptr_nonnull(o);
    ck_assert_uint_eq(o->n_rows, 0);
    ck_assert_uint_eq(o->n_cols, 3);
    assert_valid(o);
    rn_batch_unref(o);
    rn_batch_unref(b);
}
END_TEST

START_TEST(test_select_every_type)
{
    struct rn_batch *b = all_types_batch();
    uint32_t sel[] = {2, 1, 0};
    struct rn_batch *o = rn_batch_select(b, sel, 3);
    ck_assert_ptr_nonnull(o);
    /* Reverse order: row 0 of o is row 2 of b. */
    ck_assert(rn_col_bool(&o->cols[0], 2) == true);
    ck_assert(rn_col_bool(&o->cols[0], 0) == false);
    ck_assert_int_eq(rn_col_i64(&o->cols[1], 0), INT64_MAX);
    ck_assert_int_eq(rn_col_i64(&o->cols[4], 2), 1700000000000);
    assert_view_eq(rn_col_str(&o->cols[3], 2), "héllo");
    const float *v = rn_col_vec(&o->cols[5], 0);
    ck_assert(v[0] == -1.5f && v[2] == 1e10f);
    v = rn_col_vec(&o->cols[5], 2);
    ck_assert(v[0] == 1 && v[1] == 2 && v[2] == 3);
    for (uint32_t c = 0; c < 6; c++) {
        ck_assert(rn_column_is_null(&o->cols[c], 1));
        ck_assert(!rn_column_is_null(&o->cols[c], 0));
        ck_assert(!rn_column_is_null(&o->cols[c], 2));
    }
    assert_valid(o);
    rn_batch_unref(o);
    rn_batch_unref(b);
}
END_TEST

/* A batch of n rows "i:int64, s:string": i = row, s = "s<row>", null where row % 7 == 0 (i)
 * and row % 5 == 0 (s). */
static struct rn_batch *numbered_batch(uint32_t n)
{
    rn_schema *s = tu_schema("i:int64, s:string");
    rn_builder *bb = rn_builder_create(s, n);
    char buf[32];
    for (uint32_t r = 0; r < n; r++) {
        ck_assert_int_eq(r % 7 == 0 ? rn_builder_null(bb, 0) : rn_builder_i64(bb, 0, r), 0);
        int len = snprintf(buf, sizeof buf, "s%u", r);
        ck_assert_int_eq(r % 5 == 0 ? rn_builder_null(bb, 1) : rn_builder_str(bb, 1, buf, len), 0);
    }
    struct rn_error err;
    struct rn_batch *b = rn_builder_finish(bb, &err);
    ck_assert_msg(b != NULL, "%s", err.msg);
    rn_builder_destroy(bb);
    rn_schema_unref(s);
    return b;
}

/* Checks that row k of b is row r of numbered_batch(). */
static void assert_numbered_row(const struct rn_batch *b, uint32_t k, uint32_t r)
{
    ck_assert_msg(rn_column_is_null(&b->cols[0], k) == (r % 7 == 0), "row %u (src %u): i null?", k, r);
    if (r % 7) ck_assert_int_eq(rn_col_i64(&b->cols[0], k), r);
    ck_assert_msg(rn_column_is_null(&b->cols[1], k) == (r % 5 == 0), "row %u (src %u): s null?", k, r);
    if (r % 5) {
        char buf[32];
        snprintf(buf, sizeof buf, "s%u", r);
        assert_view_eq(rn_col_str(&b->cols[1], k), buf);
    }
}

START_TEST(test_select_many_rows_keeps_nulls)
{
    struct rn_batch *b = numbered_batch(300);
    uint32_t sel[500];
    for (uint32_t k = 0; k < 500; k++) sel[k] = (k * 131 + 7) % 300;
    struct rn_batch *o = rn_batch_select(b, sel, 500);
    ck_assert_ptr_nonnull(o);
    ck_assert_uint_eq(o->n_rows, 500);
    for (uint32_t k = 0; k < 500; k++) assert_numbered_row(o, k, sel[k]);
    assert_valid(o);
    rn_batch_unref(o);
    rn_batch_unref(b);
}
END_TEST

/* ---- slice ---- */

START_TEST(test_slice_shares_buffers)
{
    struct rn_batch *b = all_types_batch();
    struct rn_batch *o = rn_batch_slice(b, 1, 2);
    ck_assert_ptr_nonnull(o);
    ck_assert_uint_eq(o->n_rows, 2);
    ck_assert_ptr_eq(o->cols[0].values, (uint8_t *)b->cols[0].values + 1);
    ck_assert_ptr_eq(o->cols[1].values, (int64_t *)b->cols[1].values + 1);
    ck_assert_ptr_eq(o->cols[2].values, (double *)b->cols[2].values + 1);
    ck_assert_ptr_eq(o->cols[3].values, (struct rn_str *)b->cols[3].values + 1);
    ck_assert_ptr_eq(o->cols[4].values, (int64_t *)b->cols[4].values + 1);
    ck_assert_ptr_eq(o->cols[5].values, (float *)b->cols[5].values + 3);
    rn_batch_unref(o);
    rn_batch_unref(b);
}
END_TEST

START_TEST(test_slice_values_match)
{
    struct rn_batch *b = all_types_batch();
    struct rn_batch *o = rn_batch_slice(b, 1, 2);
    ck_assert_ptr_nonnull(o);
    for (uint32_t c = 0; c < 6; c++) {
        ck_assert(rn_column_is_null(&o->cols[c], 0));
        ck_assert(!rn_column_is_null(&o->cols[c], 1));
    }
    ck_assert_int_eq(rn_col_i64(&o->cols[1], 1), INT64_MAX);
    assert_view_eq(rn_col_str(&o->cols[3], 1), "");
    ck_assert(rn_col_vec(&o->cols[5], 1)[0] == -1.5f);
    assert_valid(o);
    rn_batch_unref(o);
    rn_batch_unref(b);
}
END_TEST

START_TEST(test_slice_nulls_at_unaligned_offsets)
{
    struct rn_batch *b = numbered_batch(300);
    uint32_t offs[] = {0, 1, 5, 63, 64, 65, 100, 127, 128, 129, 191, 250, 299, 300};
    for (size_t a = 0; a < sizeof offs / sizeof offs[0]; a++) {
        uint32_t off = offs[a];
        uint32_t lens[] = {0, 1, 7, 63, 64, 65, 130, 300 - off};
        for (size_t l = 0; l < sizeof lens / sizeof lens[0]; l++) {
            uint32_t n = lens[l];
            if (off + n > 300) continue;
            struct rn_batch *o = rn_batch_slice(b, off, n);
            ck_assert_ptr_nonnull(o);
            ck_assert_uint_eq(o->n_rows, n);
            uint32_t nulls0 = 0, nulls1 = 0;
            for (uint32_t k = 0; k < n; k++) {
                assert_numbered_row(o, k, off + k);
                nulls0 += (off + k) % 7 == 0;
                nulls1 += (off + k) % 5 == 0;
            }
            ck_assert_uint_eq(rn_column_null_count(&o->cols[0], n), nulls0);
            ck_assert_uint_eq(rn_column_null_count(&o->cols[1], n), nulls1);
            assert_valid(o);
            rn_batch_unref(o);
        }
    }
    rn_batch_unref(b);
}
END_TEST

START_TEST(test_slice_of_slice)
{
    struct rn_batch *b = numbered_batch(300);
    struct rn_batch *s1 = rn_batch_slice(b, 37, 200);
    struct rn_batch *s2 = rn_batch_slice(s1, 29, 100);
    rn_batch_unref(b);
    rn_batch_unref(s1);
    ck_assert_uint_eq(s2->n_rows, 100);
    for (uint32_t k = 0; k < 100; k++) assert_numbered_row(s2, k, 66 + k);
    assert_valid(s2);
    rn_batch_unref(s2);
}
END_TEST

/* ---- project ---- */

START_TEST(test_project_shares_and_reorders)
{
    struct rn_batch *b = tu_batch(SEL_SCHEMA, SEL_ROWS);
    rn_schema *out = tu_schema("name:string, num:int64");
    uint32_t cols[] = {1, 0};
    struct rn_batch *o = rn_batch_project(b, out, cols, 2);
    ck_assert_ptr_nonnull(o);
    ck_assert_ptr_eq(o->schema, out);
    ck_assert_uint_eq(o->n_cols, 2);
    ck_assert_uint_eq(o->n_rows, 5);
    ck_assert_ptr_eq(o->cols[0].values, b->cols[1].values);
    ck_assert_ptr_eq(o->cols[1].values, b->cols[0].values);
    ck_assert(rn_column_is_null(&o->cols[0], 1));
    assert_view_eq(rn_col_str(&o->cols[0], 4), "ee");
    ck_assert_int_eq(rn_col_i64(&o->cols[1], 3), 40);
    assert_valid(o);
    rn_batch_unref(o);
    rn_schema_unref(out);
    rn_batch_unref(b);
}
END_TEST

START_TEST(test_project_repeats_a_column)
{
    struct rn_batch *b = tu_batch(SEL_SCHEMA, SEL_ROWS);
    rn_schema *out = tu_schema("x:double, y:double");
    uint32_t cols[] = {2, 2};
    struct rn_batch *o = rn_batch_project(b, out, cols, 2);
    ck_assert_ptr_nonnull(o);
    for (uint32_t i = 0; i < 5; i++) {
        ck_assert(rn_column_is_null(&o->cols[0], i) == (i == 2));
        ck_assert(rn_column_is_null(&o->cols[1], i) == (i == 2));
    }
    ck_assert(rn_col_f64(&o->cols[1], 4) == 5.5);
    assert_valid(o);
    rn_batch_unref(o);
    rn_schema_unref(out);
    rn_batch_unref(b);
}
END_TEST

START_TEST(test_project_checks_types)
{
    struct rn_batch *b = tu_batch(SEL_SCHEMA, SEL_ROWS);
    uint32_t c0[] = {0}, c1[] = {1};
    rn_schema *dbl = tu_schema("x:double");
    ck_assert_ptr_null(rn_batch_project(b, dbl, c0, 1)); /* int64 as double */
    rn_schema *ts = tu_schema("x:timestamp");
    ck_assert_ptr_null(rn_batch_project(b, ts, c0, 1)); /* int64 as timestamp */
    rn_schema *i64 = tu_schema("x:int64");
    ck_assert_ptr_null(rn_batch_project(b, i64, c1, 1)); /* string as int64 */
    rn_schema_unref(dbl);
    rn_schema_unref(ts);
    rn_schema_unref(i64);
    rn_batch_unref(b);
}
END_TEST

START_TEST(test_project_checks_vector_dim)
{
    struct rn_batch *b = all_types_batch();
    uint32_t c5[] = {5};
    rn_schema *v4 = tu_schema("v:vector<4>");
    ck_assert_ptr_null(rn_batch_project(b, v4, c5, 1));
    rn_schema *v3 = tu_schema("v:vector<3>");
    struct rn_batch *o = rn_batch_project(b, v3, c5, 1);
    ck_assert_ptr_nonnull(o);
    ck_assert(rn_col_vec(&o->cols[0], 2)[2] == 1e10f);
    rn_batch_unref(o);
    rn_schema_unref(v4);
    rn_schema_unref(v3);
    rn_batch_unref(b);
}
END_TEST

/* ---- validation ---- */

START_TEST(test_validate_accepts_good_batches)
{
    struct rn_batch *b = all_types_batch();
    assert_valid(b);
    rn_batch_unref(b);
    b = tu_batch(SEL_SCHEMA, SEL_ROWS);
    assert_valid(b);
    rn_batch_unref(b);
    b = tu_batch("a:int64 not null, s:string not null", "1, x; 2, y");
    assert_valid(b);
    rn_batch_unref(b);
    b = numbered_batch(1000);
    assert_valid(b);
    rn_batch_unref(b);
}
END_TEST

START_TEST(test_validate_rejects_bool_byte_2)
{
    rn_schema *s = tu_schema("f:bool");
    struct rn_batch *b = rn_batch_new(s, 4);
    ((uint8_t *)b->cols[0].values)[0] = 1;
    ((uint8_t *)b->cols[0].values)[1] = 2;
    b->n_rows = 3;
    assert_corrupt(b);
    ((uint8_t *)b->cols[0].values)[1] = 0;
    assert_valid(b);
    rn_batch_unref(b);
    rn_schema_unref(s);
}
END_TEST

START_TEST(test_validate_rejects_null_in_not_null_field)
{
    rn_schema *s = tu_schema("a:int64 not null, b:int64");
    struct rn_batch *b = rn_batch_new(s, 100);
    b->n_rows = 100;
    ck_assert_int_eq(rn_batch_set_null(b, 1, 70), 0);
    assert_valid(b); /* a null in the nullable field is fine */
    /* A bitmap with one null in the not-null field, made by hand (a writer's bug). */
    rn_buf *vb = rn_buf_alloc(rn_bitmap_words(100) * sizeof(uint64_t));
    uint64_t *bits = rn_buf_data(vb);
    for (uint32_t w = 0; w < rn_bitmap_words(100); w++) bits[w] = ~(uint64_t)0;
    rn_bit_clear(bits, 70);
    b->cols[0].validity = bits;
    b->cols[0].validity_buf = vb;
    assert_corrupt(b);
    rn_batch_unref(b);
    rn_schema_unref(s);
}
END_TEST

START_TEST(test_validate_rejects_rows_above_capacity)
{
    rn_schema *s = tu_schema("a:int64");
    struct rn_batch *b = rn_batch_new(s, 10);
    b->n_rows = b->capacity + 1;
    assert_corrupt(b);
    b->n_rows = b->capacity;
    assert_valid(b);
    rn_batch_unref(b);
    rn_schema_unref(s);
}
END_TEST

START_TEST(test_validate_rejects_string_outside_buffers)
{
    static const char elsewhere[] = "not in any buffer of the column";
    rn_schema *s = tu_schema("s:string");
    struct rn_batch *b = rn_batch_new(s, 4);
    ck_assert_int_eq(rn_batch_set_str(b, 0, 0, "abc", 3), 0);
    ck_assert_int_eq(rn_batch_set_str(b, 0, 1, "def", 3), 0);
    b->n_rows = 2;
    assert_valid(b);
    struct rn_str *vals = b->cols[0].values;
    struct rn_str saved = vals[1];
    vals[1].ptr = elsewhere;
    vals[1].len = 5;
    assert_corrupt(b);
    /* In the arena but running far past its end. */
    vals[1] = saved;
    vals[1].len = 1u << 30;
    assert_corrupt(b);
    vals[1] = saved;
    assert_valid(b);
    rn_batch_unref(b);
    rn_schema_unref(s);
}
END_TEST

START_TEST(test_validate_rejects_column_type_mismatch)
{
    rn_schema *s = tu_schema("a:int64, v:vector<4>");
    struct rn_batch *b = rn_batch_new(s, 4);
    b->n_rows = 1;
    b->cols[0].type = rn_type_of(RN_T_TIMESTAMP);
    assert_corrupt(b);
    b->cols[0].type = rn_type_of(RN_T_INT64);
    b->cols[1].type = rn_type_vector(2);
    assert_corrupt(b);
    b->cols[1].type = rn_type_vector(4);
    assert_valid(b);
    rn_batch_unref(b);
    rn_schema_unref(s);
}
END_TEST

/* ---- formatting ---- */

START_TEST(test_format_row_values_strings_nulls)
{
    /* Header: "v1, v2, ..." with strings quoted and nulls as NULL. The quote character is not
     * named there; SQL single quotes are what this test expects. */
    struct rn_batch *b = tu_batch("a:int64, s:string, n:int64", "1, x, NULL; -42, hello world, 7");
    char buf[128];
    ck_assert_ptr_eq(rn_batch_format_row(b, 0, buf, sizeof buf), buf);
    ck_assert_str_eq(buf, "1, 'x', NULL");
    rn_batch_format_row(b, 1, buf, sizeof buf);
    ck_assert_str_eq(buf, "-42, 'hello world', 7");
    rn_batch_unref(b);
}
END_TEST

START_TEST(test_format_row_all_nulls)
{
    struct rn_batch *b = tu_batch("a:int64, s:string, d:double", "NULL, NULL, NULL");
    char buf[64];
    ck_assert_str_eq(rn_batch_format_row(b, 0, buf, sizeof buf), "NULL, NULL, NULL");
    rn_batch_unref(b);
}
END_TEST

START_TEST(test_format_row_truncates)
{
    struct rn_batch *b = tu_batch("a:int64, s:string", "123456, abcdefghijklmnop");
    char full[128], small[8];
    rn_batch_format_row(b, 0, full, sizeof full);
    memset(small, 'Z', sizeof small);
    rn_batch_format_row(b, 0, small, sizeof small);
    ck_assert_uint_lt(strlen(small), sizeof small);
    ck_assert_int_eq(strncmp(small, full, strlen(small)), 0);
    rn_batch_unref(b);
}
END_TEST

START_TEST(test_format_row_every_type)
{
    struct rn_batch *b = all_types_batch();
    char buf[256];
    rn_batch_format_row(b, 0, buf, sizeof buf);
    ck_assert_msg(strstr(buf, "-7") && strstr(buf, "2.5") && strstr(buf, "héllo"), "row 0: %s", buf);
    rn_batch_format_row(b, 1, buf, sizeof buf);
    ck_assert_str_eq(buf, "NULL, NULL, NULL, NULL, NULL, NULL");
    rn_batch_unref(b);
}
END_TEST

/* ---- dependencies and reference counting ---- */

START_TEST(test_add_dep_keeps_buffer_alive)
{
    rn_schema *s = tu_schema("s:string");
    struct rn_batch *b = rn_batch_new(s, 2);
    rn_buf *bytes = rn_buf_alloc(64);
    memcpy(rn_buf_data(bytes), "outside bytes", 13);
    ck_assert_int_eq(rn_column_add_dep(&b->cols[0], bytes), 0);
    ck_assert_uint_eq(rn_buf_refs(bytes), 2);
    ck_assert_int_eq(rn_column_add_dep(&b->cols[0], bytes), 0); /* already held: no-op */
    ck_assert_uint_eq(rn_buf_refs(bytes), 2);
    struct rn_str *vals = b->cols[0].values;
    vals[0] = (struct rn_str){rn_buf_data(bytes), 7};
    vals[1] = (struct rn_str){(char *)rn_buf_data(bytes) + 8, 5};
    b->n_rows = 2;
    rn_buf_unref(bytes);
    assert_view_eq(rn_col_str(&b->cols[0], 0), "outside");
    assert_view_eq(rn_col_str(&b->cols[0], 1), "bytes");
    assert_valid(b);
    rn_batch_unref(b);
    rn_schema_unref(s);
}
END_TEST

START_TEST(test_add_dep_many_buffers)
{
    enum { N = 20 };
    rn_schema *s = tu_schema("s:string");
    struct rn_batch *b = rn_batch_new(s, N);
    struct rn_str *vals = b->cols[0].values;
    for (int i = 0; i < N; i++) {
        rn_buf *x = rn_buf_alloc(32);
        int len = snprintf(rn_buf_data(x), 32, "dep %d", i);
        ck_assert_int_eq(rn_column_add_dep(&b->cols[0], x), 0);
        vals[i] = (struct rn_str){rn_buf_data(x), (uint32_t)len};
        rn_buf_unref(x);
    }
    b->n_rows = N;
    char want[32];
    for (int i = 0; i < N; i++) {
        snprintf(want, sizeof want, "dep %d", i);
        assert_view_eq(rn_col_str(&b->cols[0], i), want);
    }
    assert_valid(b);
    rn_batch_unref(b);
    rn_schema_unref(s);
}
END_TEST

START_TEST(test_share_deps_keeps_source_bytes_alive)
{
    struct rn_batch *src = tu_batch("s:string", "alpha; beta; gamma");
    rn_schema *s = tu_schema("t:string");
    struct rn_batch *dst = rn_batch_new(s, 3);
    ck_assert_int_eq(rn_column_share_deps(&dst->cols[0], &src->cols[0]), 0);
    struct rn_str *vals = dst->cols[0].values;
    for (uint32_t i = 0; i < 3; i++) vals[2 - i] = rn_col_str(&src->cols[0], i);
    dst->n_rows = 3;
    rn_batch_unref(src);
    assert_view_eq(rn_col_str(&dst->cols[0], 0), "gamma");
    assert_view_eq(rn_col_str(&dst->cols[0], 1), "beta");
    assert_view_eq(rn_col_str(&dst->cols[0], 2), "alpha");
    assert_valid(dst);
    rn_batch_unref(dst);
    rn_schema_unref(s);
}
END_TEST

START_TEST(test_batch_ref_counts)
{
    struct rn_batch *b = tu_batch("a:int64", "1; 2");
    ck_assert_uint_eq(b->refs, 1);
    ck_assert_ptr_eq(rn_batch_ref(b), b);
    ck_assert_uint_eq(b->refs, 2);
    rn_batch_unref(b);
    ck_assert_uint_eq(b->refs, 1);
    ck_assert_int_eq(rn_col_i64(&b->cols[0], 1), 2);
    rn_batch_unref(b);
}
END_TEST

START_TEST(test_select_outlives_source)
{
    struct rn_batch *b = numbered_batch(200);
    uint32_t sel[] = {199, 3, 3, 150, 1};
    struct rn_batch *o = rn_batch_select(b, sel, 5);
    rn_batch_unref(b);
    for (uint32_t k = 0; k < 5; k++) assert_numbered_row(o, k, sel[k]);
    assert_valid(o);
    rn_batch_unref(o);
}
END_TEST

START_TEST(test_slice_outlives_source)
{
    struct rn_batch *b = numbered_batch(200);
    struct rn_batch *o = rn_batch_slice(b, 65, 70);
    rn_batch_unref(b);
    for (uint32_t k = 0; k < 70; k++) assert_numbered_row(o, k, 65 + k);
    assert_valid(o);
    rn_batch_unref(o);
}
END_TEST

START_TEST(test_project_outlives_source)
{
    struct rn_batch *b = numbered_batch(200);
    rn_schema *out = tu_schema("s:string, i:int64");
    uint32_t cols[] = {1, 0};
    struct rn_batch *o = rn_batch_project(b, out, cols, 2);
    rn_batch_unref(b);
    rn_schema_unref(out);
    for (uint32_t k = 0; k < 200; k++) {
        ck_assert(rn_column_is_null(&o->cols[1], k) == (k % 7 == 0));
        if (k % 7) ck_assert_int_eq(rn_col_i64(&o->cols[1], k), k);
        ck_assert(rn_column_is_null(&o->cols[0], k) == (k % 5 == 0));
    }
    assert_view_eq(rn_col_str(&o->cols[0], 199), "s199");
    assert_valid(o);
    rn_batch_unref(o);
}
END_TEST

START_TEST(test_derived_chain_outlives_everything)
{
    struct rn_batch *b = numbered_batch(300);
    struct rn_batch *sl = rn_batch_slice(b, 10, 250);
    uint32_t sel[100];
    for (uint32_t k = 0; k < 100; k++) sel[k] = (k * 17) % 250;
    struct rn_batch *se = rn_batch_select(sl, sel, 100);
    rn_schema *out = tu_schema("s:string");
    uint32_t c1[] = {1};
    struct rn_batch *pr = rn_batch_project(se, out, c1, 1);
    struct rn_batch *last = rn_batch_slice(pr, 3, 90);
    rn_batch_unref(b);
    rn_batch_unref(sl);
    rn_batch_unref(se);
    rn_batch_unref(pr);
    rn_schema_unref(out);
    for (uint32_t k = 0; k < 90; k++) {
        uint32_t r = 10 + sel[3 + k];
        ck_assert(rn_column_is_null(&last->cols[0], k) == (r % 5 == 0));
        if (r % 5) {
            char want[32];
            snprintf(want, sizeof want, "s%u", r);
            assert_view_eq(rn_col_str(&last->cols[0], k), want);
        }
    }
    assert_valid(last);
    rn_batch_unref(last);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("batch");

    TCase *tc = tcase_create("new");
    tcase_add_test(tc, test_new_batch_is_zero_filled);
    tcase_add_test(tc, test_new_batch_keeps_schema_alive);
    tcase_add_test(tc, test_new_batch_rejects_capacity_out_of_range);
    tcase_add_test(tc, test_new_batch_at_max_rows);
    tcase_add_test(tc, test_new_batch_written_directly_validates);
    tcase_add_test(tc, test_unref_null_batch_is_ignored);
    suite_add_tcase(s, tc);

    tc = tcase_create("nulls");
    tcase_add_test(tc, test_set_null_creates_validity);
    tcase_add_test(tc, test_null_count_agrees_with_is_null);
    tcase_add_test(tc, test_set_valid_clears_null);
    tcase_add_test(tc, test_writers_reject_row_out_of_range);
    tcase_add_test(tc, test_set_str_rejects_other_type);
    suite_add_tcase(s, tc);

    tc = tcase_create("strings");
    tcase_add_test(tc, test_set_str_copies_bytes);
    tcase_add_test(tc, test_set_str_views_survive_arena_growth);
    tcase_add_test(tc, test_set_str_huge_string);
    suite_add_tcase(s, tc);

    tc = tcase_create("builder");
    tcase_add_test(tc, test_builder_builds_each_type_with_nulls);
    tcase_add_test(tc, test_builder_refuses_null_in_not_null_field);
    tcase_add_test(tc, test_builder_refuses_wrong_type);
    tcase_add_test(tc, test_builder_full_column_is_erange);
    tcase_add_test(tc, test_builder_default_rows_per_batch);
    tcase_add_test(tc, test_builder_rows_counts_complete_rows);
    tcase_add_test(tc, test_builder_ragged_columns_fail_finish);
    tcase_add_test(tc, test_builder_finish_empty_gives_zero_rows);
    tcase_add_test(tc, test_builder_finish_starts_new_batch);
    tcase_add_test(tc, test_builder_strings_outlive_builder);
    suite_add_tcase(s, tc);

    tc = tcase_create("select");
    tcase_add_test(tc, test_select_gathers_in_order_with_repeats);
    tcase_add_test(tc, test_select_keeps_string_views);
    tcase_add_test(tc, test_select_identity_returns_same_batch);
    tcase_add_test(tc, test_select_bitmap_keeps_set_rows_in_order);
    tcase_add_test(tc, test_select_prefix_is_not_identity);
    tcase_add_test(tc, test_select_zero_rows);
    tcase_add_test(tc, test_select_every_type);
    tcase_add_test(tc, test_select_many_rows_keeps_nulls);
    suite_add_tcase(s, tc);

    tc = tcase_create("slice");
    tcase_add_test(tc, test_slice_shares_buffers);
    tcase_add_test(tc, test_slice_values_match);
    tcase_add_test(tc, test_slice_nulls_at_unaligned_offsets);
    tcase_add_test(tc, test_slice_of_slice);
    suite_add_tcase(s, tc);

    tc = tcase_create("project");
    tcase_add_test(tc, test_project_shares_and_reorders);
    tcase_add_test(tc, test_project_repeats_a_column);
    tcase_add_test(tc, test_project_checks_types);
    tcase_add_test(tc, test_project_checks_vector_dim);
    suite_add_tcase(s, tc);

    tc = tcase_create("validate");
    tcase_add_test(tc, test_validate_accepts_good_batches);
    tcase_add_test(tc, test_validate_rejects_bool_byte_2);
    tcase_add_test(tc, test_validate_rejects_null_in_not_null_field);
    tcase_add_test(tc, test_validate_rejects_rows_above_capacity);
    tcase_add_test(tc, test_validate_rejects_string_outside_buffers);
    tcase_add_test(tc, test_validate_rejects_column_type_mismatch);
    suite_add_tcase(s, tc);

    tc = tcase_create("format");
    tcase_add_test(tc, test_format_row_values_strings_nulls);
    tcase_add_test(tc, test_format_row_all_nulls);
    tcase_add_test(tc, test_format_row_truncates);
    tcase_add_test(tc, test_format_row_every_type);
    suite_add_tcase(s, tc);

    tc = tcase_create("lifetime");
    tcase_add_test(tc, test_add_dep_keeps_buffer_alive);
    tcase_add_test(tc, test_add_dep_many_buffers);
    tcase_add_test(tc, test_share_deps_keeps_source_bytes_alive);
    tcase_add_test(tc, test_batch_ref_counts);
    tcase_add_test(tc, test_select_outlives_source);
    tcase_add_test(tc, test_slice_outlives_source);
    tcase_add_test(tc, test_project_outlives_source);
    tcase_add_test(tc, test_derived_chain_outlives_everything);
    suite_add_tcase(s, tc);

    return s;
}

TU_MAIN(make_suite)
