/*
 * test_opstate.c — Check suite "opstate": operator (non-keyed) state lists — appends, clears,
 * snapshots, redistribution over another parallelism on restore, and corrupt snapshots.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runnel/state.h"
#include "testutil.h"

static void setup(void) { tu_tmp_setup("runnel-opstate"); }
static void teardown(void) { tu_tmp_teardown(); }

struct collect {
    int n;
    char items[64][16];
};

static int collect(const void *val, uint32_t len, void *user)
{
    struct collect *c = user;
    ck_assert(len < 16 && c->n < 64);
    memcpy(c->items[c->n], val, len);
    c->items[c->n++][len] = 0;
    return 0;
}

static struct collect list_of(const rn_opstate *s, const char *name)
{
    struct collect c = {0};
    ck_assert_int_eq(rn_opstate_each(s, name, collect, &c), 0);
    return c;
}

START_TEST(append_each_and_clear_keep_order)
{
    rn_opstate *s = rn_opstate_create();
    ck_assert_int_eq(rn_opstate_append(s, "offsets", "a", 1), 0);
    ck_assert_int_eq(rn_opstate_append(s, "offsets", "bb", 2), 0);
    ck_assert_int_eq(rn_opstate_append(s, "other", "", 0), 0);
    struct collect c = list_of(s, "offsets");
    ck_assert_int_eq(c.n, 2);
    ck_assert_str_eq(c.items[0], "a");
    ck_assert_str_eq(c.items[1], "bb");
    ck_assert_int_eq(list_of(s, "other").n, 1);
    ck_assert_int_eq(list_of(s, "missing").n, 0);
    ck_assert_int_eq(rn_opstate_clear(s, "offsets"), 0);
    ck_assert_int_eq(list_of(s, "offsets").n, 0);
    rn_opstate_destroy(s);
}
END_TEST

/* Writes old subtask i's snapshot: list "l" holds "i.0", "i.1", ... (counts[i] elements). */
static char *old_snapshot(int i, int count)
{
    rn_opstate *s = rn_opstate_create();
    for (int k = 0; k < count; k++) {
        char v[16];
        snprintf(v, sizeof v, "%d.%d", i, k);
        ck_assert_int_eq(rn_opstate_append(s, "l", v, (uint32_t)strlen(v)), 0);
    }
    char *base = tu_tmp_path("snap"), *path = tu_fmt("%s-%d", base, i);
    free(base);
    struct rn_error err;
    ck_assert_msg(rn_opstate_snapshot(s, path, &err) == 0, "%s", err.msg);
    rn_opstate_destroy(s);
    return path;
}

START_TEST(snapshot_then_restore_at_the_same_parallelism_is_identity)
{
    char *p = old_snapshot(0, 5);
    const char *paths[] = {p};
    rn_opstate *s;
    struct rn_error err;
    ck_assert_int_eq(rn_opstate_restore(paths, 1, 0, 1, &s, &err), 0);
    struct collect c = list_of(s, "l");
    ck_assert_int_eq(c.n, 5);
    ck_assert_str_eq(c.items[4], "0.4");
    rn_opstate_destroy(s);
    free(p);
}
END_TEST

START_TEST(restore_at_another_parallelism_splits_each_list_round_robin)
{
    /* 2 old subtasks with 3 and 4 elements -> 3 new subtasks: element i of the concatenation
     * (0.0 0.1 0.2 1.0 1.1 1.2 1.3) goes to subtask i % 3; every element exactly once */
    char *p0 = old_snapshot(0, 3), *p1 = old_snapshot(1, 4);
    const char *paths[] = {p0, p1};
    const char *want[3][3] = {{"0.0", "1.0", "1.3"}, {"0.1", "1.1", NULL}, {"0.2", "1.2", NULL}};
    int total = 0;
    for (uint32_t i = 0; i < 3; i++) {
        rn_opstate *s;
        struct rn_error err;
        ck_assert_int_eq(rn_opstate_restore(paths, 2, i, 3, &s, &err), 0);
        struct collect c = list_of(s, "l");
        for (int k = 0; k < 3 && want[i][k]; k++) ck_assert_str_eq(c.items[k], want[i][k]);
        total += c.n;
        rn_opstate_destroy(s);
    }
    ck_assert_int_eq(total, 7);
    /* and back to 1: everything */
    rn_opstate *one;
    struct rn_error err;
    ck_assert_int_eq(rn_opstate_restore(paths, 2, 0, 1, &one, &err), 0);
    ck_assert_int_eq(list_of(one, "l").n, 7);
    rn_opstate_destroy(one);
    free(p0);
    free(p1);
}
END_TEST

START_TEST(missing_truncated_or_flipped_snapshots_are_refused)
{
    char *p = old_snapshot(0, 4);
    char *text = tu_slurp(p);
    ck_assert(text);
    FILE *f = fopen(p, "rb");
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *bytes = malloc((size_t)size);
    ck_assert(fread(bytes, 1, (size_t)size, f) == (size_t)size);
    fclose(f);
    char *bad = tu_tmp_path("bad");
    const char *paths[] = {bad};
    rn_opstate *s;
    struct rn_error err;
    ck_assert_int_eq(rn_opstate_restore(paths, 1, 0, 1, &s, &err), RN_EIO);   /* missing */
    ck_assert_ptr_nonnull(strstr(err.msg, bad));
    for (long cut = 0; cut < size; cut++) {
        f = fopen(bad, "wb");
        fwrite(bytes, 1, (size_t)cut, f);
        fclose(f);
        ck_assert_int_eq(rn_opstate_restore(paths, 1, 0, 1, &s, &err), RN_ECORRUPT);
    }
    for (long at = 0; at < size; at++) {
        bytes[at] ^= 0x20;
        f = fopen(bad, "wb");
        fwrite(bytes, 1, (size_t)size, f);
        fclose(f);
        ck_assert_int_eq(rn_opstate_restore(paths, 1, 0, 1, &s, &err), RN_ECORRUPT);
        bytes[at] ^= 0x20;
    }
    ck_assert_int_eq(rn_opstate_restore(paths, 1, 1, 1, &s, &err), RN_EINVAL);   /* no subtask 1 of 1 */
    free(bytes);
    free(text);
    free(bad);
    free(p);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("opstate");
    TCase *tc = tcase_create("opstate");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, append_each_and_clear_keep_order);
    tcase_add_test(tc, snapshot_then_restore_at_the_same_parallelism_is_identity);
    tcase_add_test(tc, restore_at_another_parallelism_splits_each_list_round_robin);
    tcase_add_test(tc, missing_truncated_or_flipped_snapshots_are_refused);
    suite_add_tcase(s, tc);
    return s;
}

TU_MAIN(make_suite)
