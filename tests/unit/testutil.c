/*
 * testutil.c — helpers shared by the Check suites (see testutil.h).
 */
#include "testutil.h"

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

int tu_run(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
