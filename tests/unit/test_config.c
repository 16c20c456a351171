/*
 * test_config.c — Check suite "config": the configuration of runnel's processes
 * (runtime/config.c): the built-in key table, the precedence default < file < environment <
 * flag, the flat and nested file forms, every value type's parsing and its errors (naming the
 * file and line, the variable or the flag), unknown keys, describe()'s sources, and the
 * cross-key check. Environment variables are set with setenv and removed again; each test runs
 * in its own process (Check's fork mode), so none leaks into another.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "testutil.h"

static void setup(void) { tu_tmp_setup("runnel-config"); }
static void teardown(void) { tu_tmp_teardown(); }

/* ---- helpers ---- */

static rn_config *make(void)
{
    rn_config *c = rn_config_create();
    ck_assert_msg(c, "rn_config_create failed (a default that does not parse?)");
    return c;
}

/* Loads text as file name; asserts success. */
static void load_ok(rn_config *c, const char *name, const char *text)
{
    struct rn_error err;
    rn_error_clear(&err);
    int rc = rn_config_load_text(c, text, strlen(text), name, &err);
    ck_assert_msg(rc == 0, "loading %s failed: %s", name, err.msg);
}

/* Loads text and expects a failure whose message contains every one of the (NULL-ended) parts. */
static void load_fails(rn_config *c, const char *text, ...)
{
    struct rn_error err;
    rn_error_clear(&err);
    int rc = rn_config_load_text(c, text, strlen(text), "conf.yaml", &err);
    ck_assert_msg(rc < 0, "loading succeeded but should fail:\n%s", text);
    va_list ap;
    va_start(ap, text);
    for (const char *part; (part = va_arg(ap, const char *));)
        ck_assert_msg(strstr(err.msg, part), "error '%s' does not contain '%s'", err.msg, part);
    va_end(ap);
}

/* A table with one key of each type, for the parsing tests. */
static const struct rn_config_key types_table[] = {
    {"t.string", RN_CONFIG_STRING, "x", "a string", 0, 0, NULL, NULL, false},
    {"t.int", RN_CONFIG_INT, "5", "an int in 1..100", 1, 100, NULL, NULL, false},
    {"t.wide", RN_CONFIG_INT, "0", "an int without bounds", 0, 0, NULL, NULL, false},
    {"t.bool", RN_CONFIG_BOOL, "false", "a bool", 0, 0, NULL, NULL, false},
    {"t.dur", RN_CONFIG_DURATION, "1s", "a duration", 0, 0, NULL, NULL, false},
    {"t.size", RN_CONFIG_SIZE, "1kb", "a size", 0, 0, NULL, NULL, false},
    {"t.addr", RN_CONFIG_HOSTPORT, "localhost:1", "a host:port", 1, 65535, NULL, NULL, false},
    {"t.mode", RN_CONFIG_ENUM, "fast", "an enum", 0, 0, "fast|slow|off", NULL, false},
    {"t.copy", RN_CONFIG_STRING, "", "follows t.string", 0, 0, NULL, "t.string", false},
    {"t.secret", RN_CONFIG_STRING, "", "a secret", 0, 0, NULL, NULL, true},
};

static rn_config *make_types(void)
{
    rn_config *c = rn_config_create_with(types_table, sizeof types_table / sizeof types_table[0]);
    ck_assert(c);
    return c;
}

/* Sets key from a flag-like source and expects success. */
static void set_ok(rn_config *c, const char *key, const char *value)
{
    struct rn_error err;
    rn_error_clear(&err);
    int rc = rn_config_set(c, RN_CONFIG_FLAG, key, value, NULL, &err);
    ck_assert_msg(rc == 0, "%s=%s refused: %s", key, value, err.msg);
}

/* Sets key and expects a refusal whose message contains part. */
static void set_fails(rn_config *c, const char *key, const char *value, const char *part)
{
    struct rn_error err;
    rn_error_clear(&err);
    int rc = rn_config_set(c, RN_CONFIG_FLAG, key, value, NULL, &err);
    ck_assert_msg(rc < 0, "%s=%s accepted", key, value);
    ck_assert_msg(strstr(err.msg, part), "error '%s' does not contain '%s'", err.msg, part);
}

/* rn_config_describe into a string (the caller frees). */
static char *describe(const rn_config *c)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ck_assert(f);
    rn_config_describe(c, f);
    fclose(f);
    return text;
}

/* The line of text that starts with prefix (a static copy), or "" when none. */
static const char *line_of(const char *text, const char *prefix)
{
    static char line[1024];
    size_t pl = strlen(prefix);
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (strncmp(p, prefix, pl)) continue;
        const char *end = strchr(p, '\n');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n >= sizeof line) n = sizeof line - 1;
        memcpy(line, p, n);
        line[n] = 0;
        return line;
    }
    return "";
}

/* ---- the table ---- */

START_TEST(builtin_keys_are_sorted_unique_and_their_defaults_parse)
{
    for (size_t i = 1; i < rn_config_n_keys; i++)
        ck_assert_msg(strcmp(rn_config_keys[i - 1].name, rn_config_keys[i].name) < 0, "%s before %s",
                      rn_config_keys[i - 1].name, rn_config_keys[i].name);
    /* distinct flags and environment variables (a.b-c and a-b.c would collide) */
    for (size_t i = 0; i < rn_config_n_keys; i++)
        for (size_t j = i + 1; j < rn_config_n_keys; j++) {
            char a[128], b[128];
            ck_assert_int_eq(rn_config_env_name(rn_config_keys[i].name, a, sizeof a), 0);
            ck_assert_int_eq(rn_config_env_name(rn_config_keys[j].name, b, sizeof b), 0);
            ck_assert_msg(strcmp(a, b), "%s and %s share %s", rn_config_keys[i].name, rn_config_keys[j].name, a);
        }
    rn_config *c = make();
    ck_assert_int_eq(rn_config_check(c, NULL), 0);
    rn_config_destroy(c);
}
END_TEST

START_TEST(builtin_defaults_are_in_place)
{
    rn_config *c = make();
    ck_assert_str_eq(rn_config_host(c, "jobmanager.address"), "127.0.0.1");
    ck_assert_int_eq(rn_config_port(c, "jobmanager.address"), 6123);
    ck_assert_str_eq(rn_config_str(c, "jobmanager.rpc.bind"), "127.0.0.1");
    ck_assert_int_eq(rn_config_int(c, "jobmanager.rpc.port"), 6123);
    ck_assert_str_eq(rn_config_str(c, "rest.bind"), "127.0.0.1");
    ck_assert_int_eq(rn_config_int(c, "rest.port"), 8081);
    ck_assert_str_eq(rn_config_str(c, "rest.token"), "");
    ck_assert_uint_eq(rn_config_size(c, "rest.max-body"), 16u << 20);
    ck_assert_int_eq(rn_config_int(c, "taskmanager.slots"), 2);
    ck_assert_str_eq(rn_config_str(c, "taskmanager.data.bind"), "127.0.0.1");
    ck_assert_int_eq(rn_config_int(c, "taskmanager.data.port"), 0);
    ck_assert_int_eq(rn_config_duration_ms(c, "heartbeat.interval"), 1000);
    ck_assert_int_eq(rn_config_duration_ms(c, "heartbeat.timeout"), 5000);
    ck_assert_str_eq(rn_config_str(c, "plugins.dir"), "");
    ck_assert_str_eq(rn_config_str(c, "state.dir"), "");
    ck_assert_str_eq(rn_config_str(c, "checkpoints.dir"), "");
    ck_assert_str_eq(rn_config_str(c, "savepoints.dir"), "");
    ck_assert_int_eq(rn_config_int(c, "jobs.history"), 100);
    ck_assert_int_eq(rn_config_int(c, "restart.attempts"), 3);
    ck_assert_int_eq(rn_config_duration_ms(c, "restart.delay"), 1000);
    ck_assert_str_eq(rn_config_str(c, "log.level"), "info");
    ck_assert_str_eq(rn_config_str(c, "log.format"), "text");
    ck_assert_int_eq(rn_config_enum(c, "log.format"), 0);
    ck_assert_int_eq(rn_config_source_of(c, "rest.port"), RN_CONFIG_DEFAULT);
    ck_assert_str_eq(rn_config_origin(c, "rest.port"), "default");
    rn_config_destroy(c);
}
END_TEST

START_TEST(data_host_follows_data_bind_until_set)
{
    rn_config *c = make();
    ck_assert_str_eq(rn_config_str(c, "taskmanager.data.host"), "127.0.0.1");
    set_ok(c, "taskmanager.data.bind", "0.0.0.0");
    ck_assert_str_eq(rn_config_str(c, "taskmanager.data.host"), "0.0.0.0");
    set_ok(c, "taskmanager.data.host", "tm-1.runnel.svc");
    ck_assert_str_eq(rn_config_str(c, "taskmanager.data.host"), "tm-1.runnel.svc");
    ck_assert_str_eq(rn_config_str(c, "taskmanager.data.bind"), "0.0.0.0");
    rn_config_destroy(c);
}
END_TEST

START_TEST(env_names_upper_case_with_underscores)
{
    char buf[64];
    ck_assert_int_eq(rn_config_env_name("rest.port", buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "RUNNEL_REST_PORT");
    ck_assert_int_eq(rn_config_env_name("rest.max-body", buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "RUNNEL_REST_MAX_BODY");
    ck_assert_int_eq(rn_config_env_name("taskmanager.data.host", buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "RUNNEL_TASKMANAGER_DATA_HOST");
    ck_assert_int_eq(rn_config_env_name("taskmanager.data.host", buf, 10), RN_ERANGE);
}
END_TEST

/* ---- precedence ---- */

START_TEST(precedence_is_default_file_env_flag)
{
    char *path = tu_tmp_path("conf.yaml");
    tu_write_file(path, "rest.port: 9001\njobs.history: 7\ntaskmanager.slots: 4\n");
    unsetenv("RUNNEL_JOBS_HISTORY");
    setenv("RUNNEL_REST_PORT", "9002", 1);
    setenv("RUNNEL_TASKMANAGER_SLOTS", "5", 1);
    char *argv[] = {"taskmanager", "--config", path, "--rest-port", "9003", "--name", "tm-1", NULL};
    int argc = 7;
    rn_config *c = make();
    struct rn_error err;
    rn_error_clear(&err);
    ck_assert_msg(rn_config_load_args(c, &argc, argv, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(rn_config_int(c, "rest.port"), 9003);           /* flag over env over file */
    ck_assert_int_eq(rn_config_int(c, "taskmanager.slots"), 5);      /* env over file */
    ck_assert_int_eq(rn_config_int(c, "jobs.history"), 7);           /* file over default */
    ck_assert_int_eq(rn_config_int(c, "jobmanager.rpc.port"), 6123); /* default */
    ck_assert_int_eq(rn_config_source_of(c, "rest.port"), RN_CONFIG_FLAG);
    ck_assert_int_eq(rn_config_source_of(c, "taskmanager.slots"), RN_CONFIG_ENV);
    ck_assert_int_eq(rn_config_source_of(c, "jobs.history"), RN_CONFIG_FILE);
    ck_assert_str_eq(rn_config_file(c), path);
    /* the caller's own flags are left, in order */
    ck_assert_int_eq(argc, 3);
    ck_assert_str_eq(argv[0], "taskmanager");
    ck_assert_str_eq(argv[1], "--name");
    ck_assert_str_eq(argv[2], "tm-1");
    ck_assert_ptr_null(argv[3]);
    unsetenv("RUNNEL_REST_PORT");
    unsetenv("RUNNEL_TASKMANAGER_SLOTS");
    rn_config_destroy(c);
    free(path);
}
END_TEST

START_TEST(precedence_holds_whatever_the_reading_order)
{
    rn_config *c = make();
    struct rn_error err;
    ck_assert_int_eq(rn_config_set(c, RN_CONFIG_FLAG, "rest.port", "1", NULL, &err), 0);
    char *env[] = {"RUNNEL_REST_PORT=2", "RUNNEL_JOBS_HISTORY=3", NULL};
    ck_assert_int_eq(rn_config_load_env(c, env, &err), 0);
    load_ok(c, "late.yaml", "rest.port: 4\njobs.history: 5\ntaskmanager.slots: 6\n");
    ck_assert_int_eq(rn_config_int(c, "rest.port"), 1);
    ck_assert_int_eq(rn_config_int(c, "jobs.history"), 3);
    ck_assert_int_eq(rn_config_int(c, "taskmanager.slots"), 6);
    /* a later flag replaces an earlier one */
    ck_assert_int_eq(rn_config_set(c, RN_CONFIG_FLAG, "rest.port", "8", NULL, &err), 0);
    ck_assert_int_eq(rn_config_int(c, "rest.port"), 8);
    rn_config_destroy(c);
}
END_TEST

START_TEST(overridden_bad_value_is_still_an_error)
{
    rn_config *c = make();
    struct rn_error err;
    ck_assert_int_eq(rn_config_set(c, RN_CONFIG_FLAG, "rest.port", "1", NULL, &err), 0);
    load_fails(c, "rest.port: lots\n", "conf.yaml:1:12", "rest.port", "lots", NULL);
    ck_assert_int_eq(rn_config_int(c, "rest.port"), 1);
    rn_config_destroy(c);
}
END_TEST

/* ---- the file ---- */

START_TEST(file_flat_nested_and_mixed_forms_mean_the_same)
{
    const char *forms[] = {
        "rest.port: 9100\njobmanager.rpc.port: 7000\ntaskmanager.data.bind: 0.0.0.0\n",
        "rest:\n  port: 9100\njobmanager:\n  rpc:\n    port: 7000\ntaskmanager:\n  data:\n    bind: 0.0.0.0\n",
        "rest: {port: 9100}\njobmanager:\n  rpc.port: 7000\ntaskmanager.data: {bind: 0.0.0.0}\n",
    };
    for (int i = 0; i < 3; i++) {
        rn_config *c = make();
        load_ok(c, "conf.yaml", forms[i]);
        ck_assert_int_eq(rn_config_int(c, "rest.port"), 9100);
        ck_assert_int_eq(rn_config_int(c, "jobmanager.rpc.port"), 7000);
        ck_assert_str_eq(rn_config_str(c, "taskmanager.data.bind"), "0.0.0.0");
        ck_assert_int_eq(rn_config_source_of(c, "rest.port"), RN_CONFIG_FILE);
        rn_config_destroy(c);
    }
}
END_TEST

START_TEST(file_origin_names_file_and_line)
{
    rn_config *c = make();
    load_ok(c, "conf.yaml", "# comment\nrest:\n  bind: 0.0.0.0\n  port: 9100\n");
    ck_assert_str_eq(rn_config_origin(c, "rest.port"), "conf.yaml:4");
    ck_assert_str_eq(rn_config_origin(c, "rest.bind"), "conf.yaml:3");
    rn_config_destroy(c);
}
END_TEST

START_TEST(file_unknown_key_is_an_error_with_its_line)
{
    rn_config *c = make();
    load_fails(c, "rest.port: 1\nrest.prot: 2\n", "conf.yaml:2:1", "unknown key 'rest.prot'", "did you mean rest.port",
               NULL);
    load_fails(c, "rest:\n  port: 1\n  colour: red\n", "conf.yaml:3:3", "unknown key 'rest.colour'", NULL);
    load_fails(c, "nosuch:\n  thing: 1\n", "conf.yaml:2:3", "unknown key 'nosuch.thing'", NULL);
    load_fails(c, "nosuch: []\n", "conf.yaml:1:1", "unknown key 'nosuch'", NULL);
    rn_config_destroy(c);
}
END_TEST

START_TEST(file_section_given_a_value_is_an_error)
{
    rn_config *c = make();
    load_fails(c, "rest: 8081\n", "conf.yaml:1:1", "'rest' is a section", "rest.port", NULL);
    /* an empty section sets nothing */
    load_ok(c, "conf.yaml", "rest: {}\n");
    ck_assert_int_eq(rn_config_int(c, "rest.port"), 8081);
    rn_config_destroy(c);
}
END_TEST

START_TEST(file_key_set_twice_is_an_error)
{
    rn_config *c = make();
    load_fails(c, "rest.port: 1\nrest:\n  port: 2\n", "conf.yaml:3:3", "rest.port is set twice", "line 1", NULL);
    rn_config_destroy(c);
}
END_TEST

START_TEST(file_map_or_list_for_a_key_is_an_error)
{
    rn_config *c = make();
    load_fails(c, "rest.port: {a: 1}\n", "conf.yaml:1:12", "rest.port", "found a map", NULL);
    load_fails(c, "rest:\n  port: [1, 2]\n", "conf.yaml:2:9", "rest.port", "found a list", NULL);
    load_fails(c, "rest.port:\n", "conf.yaml:1", "rest.port", "found nothing", NULL);
    rn_config_destroy(c);
}
END_TEST

START_TEST(file_syntax_error_has_its_position)
{
    rn_config *c = make();
    load_fails(c, "rest.port: 1\nrest.bind: [unclosed\n", "conf.yaml:", "YAML syntax", NULL);
    load_fails(c, "a: &x 1\nb: *x\n", "conf.yaml:2", "anchors", NULL);
    rn_config_destroy(c);
}
END_TEST

START_TEST(file_top_level_must_be_a_map)
{
    rn_config *c = make();
    load_fails(c, "- rest.port: 1\n", "conf.yaml:1:1", "expected a map of keys", NULL);
    load_fails(c, "just text\n", "conf.yaml:1:1", "expected a map of keys", NULL);
    rn_config_destroy(c);
}
END_TEST

START_TEST(file_empty_or_only_comments_sets_nothing)
{
    rn_config *c = make();
    load_ok(c, "empty.yaml", "");
    load_ok(c, "comments.yaml", "# nothing here\n\n   # still nothing\n");
    load_ok(c, "doc.yaml", "---\n");
    load_ok(c, "bom.yaml", "\xef\xbb\xbf# a byte order mark and a comment\n");
    ck_assert_int_eq(rn_config_source_of(c, "rest.port"), RN_CONFIG_DEFAULT);
    load_ok(c, "bom.yaml", "\xef\xbb\xbfrest.port: 1\n");
    ck_assert_int_eq(rn_config_int(c, "rest.port"), 1);
    rn_config_destroy(c);
}
END_TEST

START_TEST(file_null_string_is_empty_and_quoted_numbers_count)
{
    rn_config *c = make();
    set_ok(c, "plugins.dir", "/somewhere");
    rn_config *d = make();
    load_ok(d, "conf.yaml", "plugins.dir: /opt/plugins\nrest.token:\nrest.port: \"9200\"\n");
    ck_assert_str_eq(rn_config_str(d, "rest.token"), "");
    ck_assert_int_eq(rn_config_source_of(d, "rest.token"), RN_CONFIG_FILE);
    ck_assert_int_eq(rn_config_int(d, "rest.port"), 9200);
    ck_assert_str_eq(rn_config_str(d, "plugins.dir"), "/opt/plugins");
    rn_config_destroy(d);
    rn_config_destroy(c);
}
END_TEST

START_TEST(file_that_cannot_be_read_is_an_io_error)
{
    rn_config *c = make();
    struct rn_error err;
    char *path = tu_tmp_path("missing.yaml");
    ck_assert_int_eq(rn_config_load_file(c, path, &err), RN_EIO);
    ck_assert_ptr_nonnull(strstr(err.msg, path));
    /* and through --config */
    char *argv[] = {"jobmanager", "--config", path, NULL};
    int argc = 3;
    ck_assert_int_eq(rn_config_load_args(c, &argc, argv, &err), RN_EIO);
    ck_assert_ptr_nonnull(strstr(err.msg, path));
    free(path);
    rn_config_destroy(c);
}
END_TEST

START_TEST(file_over_one_mib_is_refused)
{
    size_t n = (1u << 20) + 10;
    char *big = malloc(n + 1);
    memset(big, '#', n);
    big[n] = 0;
    char *path = tu_tmp_path("big.yaml");
    tu_write_file(path, big);
    rn_config *c = make();
    struct rn_error err;
    ck_assert_int_eq(rn_config_load_file(c, path, &err), RN_ERANGE);
    ck_assert_ptr_nonnull(strstr(err.msg, "larger than"));
    rn_config_destroy(c);
    free(path);
    free(big);
}
END_TEST

START_TEST(file_errors_name_the_file_path)
{
    char *path = tu_tmp_path("conf.yaml");
    tu_write_file(path, "rest:\n  port: 70000\n");
    rn_config *c = make();
    struct rn_error err;
    ck_assert_int_eq(rn_config_load_file(c, path, &err), RN_ERANGE);
    char *want = tu_fmt("%s:2:9: rest.port: expected an integer in 0..65535, found '70000'", path);
    ck_assert_str_eq(err.msg, want);
    ck_assert_int_eq(err.line, 2);
    ck_assert_int_eq(err.column, 9);
    free(want);
    free(path);
    rn_config_destroy(c);
}
END_TEST

/* ---- value types ---- */

START_TEST(int_values_parse_with_bounds)
{
    rn_config *c = make_types();
    set_ok(c, "t.int", "42");
    ck_assert_int_eq(rn_config_int(c, "t.int"), 42);
    set_ok(c, "t.int", " 100 ");
    ck_assert_int_eq(rn_config_int(c, "t.int"), 100);
    set_ok(c, "t.wide", "-1_000_000");
    ck_assert_int_eq(rn_config_int(c, "t.wide"), -1000000);
    ck_assert_str_eq(rn_config_str(c, "t.wide"), "-1000000");
    set_ok(c, "t.wide", "9223372036854775807");
    ck_assert_int_eq(rn_config_int(c, "t.wide"), INT64_MAX);
    set_fails(c, "t.int", "0", "expected an integer in 1..100, found '0'");
    set_fails(c, "t.int", "101", "in 1..100");
    set_fails(c, "t.int", "99999999999999999999999", "in 1..100");
    set_fails(c, "t.int", "12abc", "expected an integer, found '12abc'");
    set_fails(c, "t.int", "", "expected an integer");
    set_fails(c, "t.wide", "9223372036854775808", "expected an integer");
    set_fails(c, "t.wide", "1.5", "expected an integer");
    ck_assert_int_eq(rn_config_int(c, "t.int"), 100);   /* refused values change nothing */
    rn_config_destroy(c);
}
END_TEST

START_TEST(bool_values_parse)
{
    rn_config *c = make_types();
    const char *yes[] = {"true", "TRUE", "yes", "on", "1"}, *no[] = {"false", "No", "off", "0"};
    for (int i = 0; i < 5; i++) {
        set_ok(c, "t.bool", yes[i]);
        ck_assert_msg(rn_config_bool(c, "t.bool"), "%s", yes[i]);
        ck_assert_str_eq(rn_config_str(c, "t.bool"), "true");
    }
    for (int i = 0; i < 4; i++) {
        set_ok(c, "t.bool", no[i]);
        ck_assert_msg(!rn_config_bool(c, "t.bool"), "%s", no[i]);
    }
    set_fails(c, "t.bool", "maybe", "expected true or false, found 'maybe'");
    set_fails(c, "t.bool", "2", "expected true or false");
    rn_config_destroy(c);
}
END_TEST

START_TEST(duration_values_parse)
{
    rn_config *c = make_types();
    struct { const char *text, *canon; int64_t ms; } ok[] = {
        {"500ms", "500ms", 500}, {"10s", "10s", 10000}, {"2m", "2m", 120000}, {"3min", "3m", 180000},
        {"1h", "1h", 3600000}, {"1d", "1d", 86400000}, {"1500", "1500ms", 1500}, {"0s", "0ms", 0},
        {"90 s", "90s", 90000}, {"60s", "1m", 60000},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        set_ok(c, "t.dur", ok[i].text);
        ck_assert_int_eq(rn_config_duration_ms(c, "t.dur"), ok[i].ms);
        ck_assert_str_eq(rn_config_str(c, "t.dur"), ok[i].canon);
    }
    set_fails(c, "t.dur", "10x", "expected a duration such as 500ms, 10s or 2m, found '10x'");
    set_fails(c, "t.dur", "-1s", "expected a duration");
    set_fails(c, "t.dur", "s", "expected a duration");
    set_fails(c, "t.dur", "10S", "expected a duration");
    set_fails(c, "t.dur", "9223372036854775807d", "too large");
    int64_t ms;
    ck_assert_int_eq(rn_config_parse_duration("250ms", &ms, NULL), 0);
    ck_assert_int_eq(ms, 250);
    rn_config_destroy(c);
}
END_TEST

START_TEST(duration_bounds_of_builtin_keys)
{
    rn_config *c = make();
    set_fails(c, "heartbeat.interval", "0ms", "expected a duration in 10ms..1h, found '0ms'");
    set_ok(c, "heartbeat.interval", "250ms");
    ck_assert_int_eq(rn_config_duration_ms(c, "heartbeat.interval"), 250);
    rn_config_destroy(c);
}
END_TEST

START_TEST(size_values_parse)
{
    rn_config *c = make_types();
    struct { const char *text, *canon; uint64_t b; } ok[] = {
        {"64mb", "64mb", 64u << 20}, {"64MB", "64mb", 64u << 20}, {"1kib", "1kb", 1024}, {"2G", "2gb", 2ull << 30},
        {"1tb", "1tb", 1ull << 40}, {"4096", "4kb", 4096}, {"100b", "100b", 100}, {"1536 kb", "1536kb", 1536u << 10},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        set_ok(c, "t.size", ok[i].text);
        ck_assert_uint_eq(rn_config_size(c, "t.size"), ok[i].b);
        ck_assert_str_eq(rn_config_str(c, "t.size"), ok[i].canon);
    }
    set_fails(c, "t.size", "64 megabytes", "expected a size such as 4096, 512kb or 64mb, found '64 megabytes'");
    set_fails(c, "t.size", "-1kb", "expected a size");
    set_fails(c, "t.size", "99999999999tb", "too large");
    set_fails(c, "rest.max-body", "1kb", "unknown key");   /* not in this table */
    rn_config_destroy(c);
    c = make();
    set_fails(c, "rest.max-body", "10b", "expected a size in 1kb..1gb, found '10b'");
    rn_config_destroy(c);
}
END_TEST

START_TEST(hostport_values_parse)
{
    rn_config *c = make_types();
    set_ok(c, "t.addr", "jm.runnel.svc:6123");
    ck_assert_str_eq(rn_config_host(c, "t.addr"), "jm.runnel.svc");
    ck_assert_int_eq(rn_config_port(c, "t.addr"), 6123);
    set_ok(c, "t.addr", "[::1]:80");
    ck_assert_str_eq(rn_config_host(c, "t.addr"), "::1");
    ck_assert_int_eq(rn_config_port(c, "t.addr"), 80);
    ck_assert_str_eq(rn_config_str(c, "t.addr"), "[::1]:80");
    set_fails(c, "t.addr", "jm", "expected host:port");
    set_fails(c, "t.addr", ":6123", "expected host:port");
    set_fails(c, "t.addr", "jm:", "expected host:port");
    set_fails(c, "t.addr", "jm:61x", "expected host:port");
    set_fails(c, "t.addr", "jm:0", "expected a port in 1..65535, found 'jm:0'");
    set_fails(c, "t.addr", "jm:65536", "expected a port in 1..65535");
    set_fails(c, "t.addr", "::1:80", "an IPv6 address needs brackets");
    set_fails(c, "t.addr", "[::1]80", "expected host:port");
    set_fails(c, "t.addr", "a b:80", "expected host:port");
    rn_config_destroy(c);
}
END_TEST

START_TEST(enum_values_parse)
{
    rn_config *c = make_types();
    set_ok(c, "t.mode", "SLOW");
    ck_assert_str_eq(rn_config_str(c, "t.mode"), "slow");
    ck_assert_int_eq(rn_config_enum(c, "t.mode"), 1);
    set_ok(c, "t.mode", "off");
    ck_assert_int_eq(rn_config_enum(c, "t.mode"), 2);
    set_fails(c, "t.mode", "medium", "expected one of fast|slow|off, found 'medium'");
    set_fails(c, "t.mode", "fas", "expected one of");
    rn_config_destroy(c);
    c = make();
    set_fails(c, "log.format", "xml", "expected one of text|json");
    set_ok(c, "log.level", "Debug");
    ck_assert_str_eq(rn_config_str(c, "log.level"), "debug");
    rn_config_destroy(c);
}
END_TEST

START_TEST(string_values_are_kept_verbatim_up_to_a_limit)
{
    rn_config *c = make_types();
    set_ok(c, "t.string", "  spaces kept: yes  ");
    ck_assert_str_eq(rn_config_str(c, "t.string"), "  spaces kept: yes  ");
    char *big = malloc(5000);
    memset(big, 'a', 4999);
    big[4999] = 0;
    set_fails(c, "t.string", big, "longer than 4096 bytes");
    free(big);
    rn_config_destroy(c);
}
END_TEST

START_TEST(type_errors_in_file_name_file_line_and_key)
{
    rn_config *c = make_types();
    load_fails(c, "t:\n  int: many\n", "conf.yaml:2:8: t.int: expected an integer, found 'many'", NULL);
    load_fails(c, "t.bool: perhaps\n", "conf.yaml:1:9: t.bool: expected true or false", NULL);
    load_fails(c, "\n\nt.dur: 5 parsecs\n", "conf.yaml:3:8: t.dur: expected a duration", NULL);
    load_fails(c, "t.size: lots\n", "conf.yaml:1:9: t.size: expected a size", NULL);
    load_fails(c, "t: {addr: nowhere}\n", "conf.yaml:1:11: t.addr: expected host:port", NULL);
    load_fails(c, "t.mode: warp\n", "conf.yaml:1:9: t.mode: expected one of fast|slow|off", NULL);
    rn_config_destroy(c);
}
END_TEST

START_TEST(getters_of_unknown_keys_or_other_types_give_zero)
{
    rn_config *c = make();
    ck_assert_ptr_null(rn_config_str(c, "no.such"));
    ck_assert_ptr_null(rn_config_origin(c, "no.such"));
    ck_assert_int_eq(rn_config_int(c, "no.such"), 0);
    ck_assert_int_eq(rn_config_int(c, "heartbeat.interval"), 0);
    ck_assert_int_eq(rn_config_duration_ms(c, "rest.port"), 0);
    ck_assert(!rn_config_bool(c, "rest.port"));
    ck_assert_uint_eq(rn_config_size(c, "rest.port"), 0);
    ck_assert_ptr_null(rn_config_host(c, "rest.bind"));
    ck_assert_int_eq(rn_config_port(c, "rest.port"), 0);
    ck_assert_int_eq(rn_config_enum(c, "rest.port"), -1);
    /* every key reads as text */
    ck_assert_str_eq(rn_config_str(c, "jobmanager.address"), "127.0.0.1:6123");
    ck_assert_str_eq(rn_config_str(c, "heartbeat.timeout"), "5s");
    rn_config_destroy(c);
}
END_TEST

/* ---- environment ---- */

START_TEST(env_bad_value_names_the_variable)
{
    rn_config *c = make();
    char *env[] = {"PATH=/bin", "RUNNEL_REST_PORT=eighty", NULL};
    struct rn_error err;
    ck_assert_int_eq(rn_config_load_env(c, env, &err), RN_EINVAL);
    ck_assert_str_eq(err.msg, "RUNNEL_REST_PORT: rest.port: expected an integer, found 'eighty'");
    /* through load_args and the real environment */
    setenv("RUNNEL_HEARTBEAT_TIMEOUT", "soon", 1);
    char *argv[] = {"jobmanager", NULL};
    int argc = 1;
    ck_assert_int_eq(rn_config_load_args(c, &argc, argv, &err), RN_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "RUNNEL_HEARTBEAT_TIMEOUT: heartbeat.timeout: expected a duration"));
    unsetenv("RUNNEL_HEARTBEAT_TIMEOUT");
    rn_config_destroy(c);
}
END_TEST

START_TEST(env_values_with_dashes_and_origin)
{
    rn_config *c = make();
    char *env[] = {"RUNNEL_REST_MAX_BODY=1mb", "RUNNEL_JOBMANAGER_ADDRESS=jm:7000", NULL};
    struct rn_error err;
    ck_assert_int_eq(rn_config_load_env(c, env, &err), 0);
    ck_assert_uint_eq(rn_config_size(c, "rest.max-body"), 1u << 20);
    ck_assert_str_eq(rn_config_host(c, "jobmanager.address"), "jm");
    ck_assert_int_eq(rn_config_port(c, "jobmanager.address"), 7000);
    ck_assert_str_eq(rn_config_origin(c, "rest.max-body"), "env RUNNEL_REST_MAX_BODY");
    rn_config_destroy(c);
}
END_TEST

START_TEST(env_empty_value_counts_as_unset)
{
    rn_config *c = make();
    load_ok(c, "conf.yaml", "rest.port: 9000\n");
    char *env[] = {"RUNNEL_REST_PORT=", NULL};
    struct rn_error err;
    ck_assert_int_eq(rn_config_load_env(c, env, &err), 0);
    ck_assert_int_eq(rn_config_int(c, "rest.port"), 9000);
    rn_config_destroy(c);
}
END_TEST

START_TEST(env_unknown_variables_are_ignored_near_misses_warned)
{
    rn_config *c = make();
    char *env[] = {"RUNNEL_REST_PROT=1", "RUNNEL_SOMETHING_ELSE=x", "RUNNEL_=y", "RUNNEL_REST_PROT=1", NULL};
    struct rn_error err;
    ck_assert_int_eq(rn_config_load_env(c, env, &err), 0);
    ck_assert_ptr_nonnull(rn_config_warning(c, 0));
    ck_assert_ptr_nonnull(strstr(rn_config_warning(c, 0), "RUNNEL_REST_PROT"));
    ck_assert_ptr_nonnull(strstr(rn_config_warning(c, 0), "did you mean RUNNEL_REST_PORT"));
    ck_assert_ptr_null(rn_config_warning(c, 1));   /* once, and nothing for the others */
    char *text = describe(c);
    ck_assert_ptr_nonnull(strstr(text, "# warning: environment variable RUNNEL_REST_PROT"));
    free(text);
    rn_config_destroy(c);
}
END_TEST

/* ---- flags ---- */

START_TEST(flag_forms_all_set_the_key)
{
    const char *forms[][3] = {
        {"--rest-port", "1", "flag --rest-port"}, {"--rest-port=2", NULL, "flag --rest-port"},
        {"-D", "rest.port=3", "flag -D rest.port"}, {"-Drest.port=4", NULL, "flag -D rest.port"},
        {"--set", "rest.port=5", "flag --set rest.port"}, {"--set=rest.port=6", NULL, "flag --set rest.port"},
    };
    for (int f = 0; f < 6; f++) {
        rn_config *c = make();
        char *argv[] = {"x", (char *)forms[f][0], (char *)forms[f][1], NULL};
        int argc = forms[f][1] ? 3 : 2, i = 1;
        struct rn_error err;
        rn_error_clear(&err);
        ck_assert_msg(rn_config_arg(c, argc, argv, &i, &err) == 1, "%s: %s", forms[f][0], err.msg);
        ck_assert_int_eq(i, argc);
        ck_assert_int_eq(rn_config_int(c, "rest.port"), f + 1);
        ck_assert_str_eq(rn_config_origin(c, "rest.port"), forms[f][2]);
        rn_config_destroy(c);
    }
}
END_TEST

START_TEST(flag_errors_name_the_flag)
{
    rn_config *c = make();
    struct rn_error err;
    struct { const char *argv[3]; int argc; const char *msg; } cases[] = {
        {{"x", "--rest-port", "high"}, 3, "--rest-port: rest.port: expected an integer, found 'high'"},
        {{"x", "--rest-port"}, 2, "--rest-port needs a value (int)"},
        {{"x", "-D", "rest.prot=1"}, 3, "-D: unknown key 'rest.prot' (did you mean rest.port?)"},
        {{"x", "-Drest.port"}, 2, "-D rest.port: expected key=value (-D rest.port=8081)"},
        {{"x", "--set"}, 2, "--set needs key=value (-D rest.port=8081)"},
        {{"x", "-D", "heartbeat.timeout=0"}, 3, "-D: heartbeat.timeout: expected a duration in 10ms..1d, found '0'"},
        {{"x", "--config"}, 2, "--config needs a file name"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        int i = 1;
        rn_error_clear(&err);
        ck_assert_int_lt(rn_config_arg(c, cases[k].argc, (char **)cases[k].argv, &i, &err), 0);
        ck_assert_msg(!strncmp(err.msg, cases[k].msg, strlen(cases[k].msg)), "got '%s', want '%s'", err.msg,
                      cases[k].msg);
    }
    rn_config_destroy(c);
}
END_TEST

START_TEST(flags_not_of_the_config_are_left_to_the_caller)
{
    rn_config *c = make();
    char *argv[] = {"tm", "--rest-prot", "1", "-v", "--slots", "4", "--", "--rest-port", "9", NULL};
    int argc = 9, i = 1;
    struct rn_error err;
    ck_assert_int_eq(rn_config_arg(c, argc, argv, &i, &err), 0);
    ck_assert_int_eq(i, 1);
    ck_assert_str_eq(rn_config_flag_suggestion(c, "--rest-prot"), "rest-port");
    ck_assert_str_eq(rn_config_flag_suggestion(c, "--taskmanager-slot=3"), "taskmanager-slots");
    ck_assert_ptr_null(rn_config_flag_suggestion(c, "--slots"));
    ck_assert_int_eq(rn_config_load_args(c, &argc, argv, &err), 0);
    ck_assert_int_eq(argc, 9);   /* nothing taken: after "--" nothing is looked at */
    ck_assert_int_eq(rn_config_int(c, "rest.port"), 8081);
    rn_config_destroy(c);
}
END_TEST

START_TEST(bool_flag_alone_means_true)
{
    rn_config *c = make_types();
    char *argv[] = {"x", "--t-bool", "--t-int", "7", "--t-bool", "off", NULL};
    int i = 1;
    struct rn_error err;
    ck_assert_int_eq(rn_config_arg(c, 6, argv, &i, &err), 1);
    ck_assert_int_eq(i, 2);
    ck_assert(rn_config_bool(c, "t.bool"));
    ck_assert_int_eq(rn_config_arg(c, 6, argv, &i, &err), 1);
    ck_assert_int_eq(rn_config_int(c, "t.int"), 7);
    ck_assert_int_eq(rn_config_arg(c, 6, argv, &i, &err), 1);
    ck_assert_int_eq(i, 6);
    ck_assert(!rn_config_bool(c, "t.bool"));
    rn_config_destroy(c);
}
END_TEST

START_TEST(print_config_flag_is_remembered)
{
    rn_config *c = make();
    char *argv[] = {"jobmanager", "--print-config", NULL};
    int argc = 2;
    struct rn_error err;
    ck_assert(!rn_config_print_requested(c));
    ck_assert_int_eq(rn_config_load_args(c, &argc, argv, &err), 0);
    ck_assert(rn_config_print_requested(c));
    ck_assert_int_eq(argc, 1);
    ck_assert_ptr_null(rn_config_file(c));
    rn_config_destroy(c);
}
END_TEST

/* ---- describe and checks ---- */

START_TEST(describe_shows_values_and_sources)
{
    rn_config *c = make();
    load_ok(c, "conf.yaml", "jobs.history: 9\nrest:\n  token: s3cret\n");
    char *env[] = {"RUNNEL_TASKMANAGER_SLOTS=3", NULL};
    struct rn_error err;
    ck_assert_int_eq(rn_config_load_env(c, env, &err), 0);
    set_ok(c, "rest.port", "9999");
    ck_assert_int_eq(rn_config_set(c, RN_CONFIG_FLAG, "taskmanager.data.port", "7001", "flag --taskmanager-data-port",
                                   &err), 0);
    char *text = describe(c);
    ck_assert_msg(strstr(line_of(text, "jobs.history:"), "9") && strstr(line_of(text, "jobs.history:"), "# conf.yaml:1"),
                  "%s", text);
    ck_assert_ptr_nonnull(strstr(line_of(text, "taskmanager.slots:"), "# env RUNNEL_TASKMANAGER_SLOTS"));
    ck_assert_ptr_nonnull(strstr(line_of(text, "taskmanager.data.port:"), "7001"));
    ck_assert_ptr_nonnull(strstr(line_of(text, "taskmanager.data.port:"), "# flag --taskmanager-data-port"));
    ck_assert_ptr_nonnull(strstr(line_of(text, "rest.port:"), "9999"));
    ck_assert_ptr_nonnull(strstr(line_of(text, "rest.port:"), "# flag"));
    ck_assert_ptr_nonnull(strstr(line_of(text, "heartbeat.interval:"), "1s"));
    ck_assert_ptr_nonnull(strstr(line_of(text, "heartbeat.interval:"), "# default"));
    ck_assert_ptr_nonnull(strstr(line_of(text, "taskmanager.data.host:"), "\"127.0.0.1\""));
    ck_assert_ptr_nonnull(strstr(line_of(text, "taskmanager.data.host:"), "# default (= taskmanager.data.bind)"));
    /* the secret is hidden, but where it came from is shown */
    ck_assert_ptr_null(strstr(text, "s3cret"));
    ck_assert_ptr_nonnull(strstr(line_of(text, "rest.token:"), "\"***\""));
    ck_assert_ptr_nonnull(strstr(line_of(text, "rest.token:"), "# conf.yaml:3"));
    /* every key has its line */
    for (size_t i = 0; i < rn_config_n_keys; i++) {
        char *prefix = tu_fmt("%s:", rn_config_keys[i].name);
        ck_assert_msg(line_of(text, prefix)[0], "no line for %s", rn_config_keys[i].name);
        free(prefix);
    }
    free(text);
    rn_config_destroy(c);
}
END_TEST

START_TEST(describe_output_loads_back_as_a_file)
{
    rn_config *c = make();
    set_ok(c, "plugins.dir", "/opt/run \"nel\"\\plugins");
    set_ok(c, "jobmanager.address", "[::1]:6200");
    set_ok(c, "rest.max-body", "3mb");
    set_ok(c, "log.format", "json");
    char *text = describe(c);
    rn_config *d = make();
    load_ok(d, "described.yaml", text);
    for (size_t i = 0; i < rn_config_n_keys; i++) {
        const char *k = rn_config_keys[i].name;
        if (rn_config_keys[i].secret) continue;
        ck_assert_msg(!strcmp(rn_config_str(c, k), rn_config_str(d, k)), "%s: %s became %s", k, rn_config_str(c, k),
                      rn_config_str(d, k));
    }
    free(text);
    rn_config_destroy(d);
    rn_config_destroy(c);
}
END_TEST

START_TEST(help_lists_every_key_with_env_and_flag)
{
    rn_config *c = make();
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    rn_config_help(c, f);
    fclose(f);
    ck_assert_ptr_nonnull(strstr(text, "rest.max-body (size, default 16mb; env RUNNEL_REST_MAX_BODY; flag --rest-max-body)"));
    ck_assert_ptr_nonnull(strstr(text, "log.format (text|json, default text;"));
    ck_assert_ptr_nonnull(strstr(text, "taskmanager.data.host (string, default = taskmanager.data.bind;"));
    free(text);
    rn_config_destroy(c);
}
END_TEST

START_TEST(heartbeat_timeout_must_exceed_interval)
{
    rn_config *c = make();
    struct rn_error err;
    load_ok(c, "conf.yaml", "heartbeat:\n  interval: 5s\n");
    ck_assert_int_eq(rn_config_check(c, &err), RN_EINVAL);
    ck_assert_str_eq(err.msg, "heartbeat.timeout (5s, default) must be longer than heartbeat.interval (5s, conf.yaml:2)");
    set_ok(c, "heartbeat.timeout", "6s");
    ck_assert_int_eq(rn_config_check(c, &err), 0);
    rn_config_destroy(c);
}
END_TEST

static Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("config");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, builtin_keys_are_sorted_unique_and_their_defaults_parse);
    tcase_add_test(tc, builtin_defaults_are_in_place);
    tcase_add_test(tc, data_host_follows_data_bind_until_set);
    tcase_add_test(tc, env_names_upper_case_with_underscores);
    tcase_add_test(tc, precedence_is_default_file_env_flag);
    tcase_add_test(tc, precedence_holds_whatever_the_reading_order);
    tcase_add_test(tc, overridden_bad_value_is_still_an_error);
    tcase_add_test(tc, file_flat_nested_and_mixed_forms_mean_the_same);
    tcase_add_test(tc, file_origin_names_file_and_line);
    tcase_add_test(tc, file_unknown_key_is_an_error_with_its_line);
    tcase_add_test(tc, file_section_given_a_value_is_an_error);
    tcase_add_test(tc, file_key_set_twice_is_an_error);
    tcase_add_test(tc, file_map_or_list_for_a_key_is_an_error);
    tcase_add_test(tc, file_syntax_error_has_its_position);
    tcase_add_test(tc, file_top_level_must_be_a_map);
    tcase_add_test(tc, file_empty_or_only_comments_sets_nothing);
    tcase_add_test(tc, file_null_string_is_empty_and_quoted_numbers_count);
    tcase_add_test(tc, file_that_cannot_be_read_is_an_io_error);
    tcase_add_test(tc, file_over_one_mib_is_refused);
    tcase_add_test(tc, file_errors_name_the_file_path);
    tcase_add_test(tc, int_values_parse_with_bounds);
    tcase_add_test(tc, bool_values_parse);
    tcase_add_test(tc, duration_values_parse);
    tcase_add_test(tc, duration_bounds_of_builtin_keys);
    tcase_add_test(tc, size_values_parse);
    tcase_add_test(tc, hostport_values_parse);
    tcase_add_test(tc, enum_values_parse);
    tcase_add_test(tc, string_values_are_kept_verbatim_up_to_a_limit);
    tcase_add_test(tc, type_errors_in_file_name_file_line_and_key);
    tcase_add_test(tc, getters_of_unknown_keys_or_other_types_give_zero);
    tcase_add_test(tc, env_bad_value_names_the_variable);
    tcase_add_test(tc, env_values_with_dashes_and_origin);
    tcase_add_test(tc, env_empty_value_counts_as_unset);
    tcase_add_test(tc, env_unknown_variables_are_ignored_near_misses_warned);
    tcase_add_test(tc, flag_forms_all_set_the_key);
    tcase_add_test(tc, flag_errors_name_the_flag);
    tcase_add_test(tc, flags_not_of_the_config_are_left_to_the_caller);
    tcase_add_test(tc, bool_flag_alone_means_true);
    tcase_add_test(tc, print_config_flag_is_remembered);
    tcase_add_test(tc, describe_shows_values_and_sources);
    tcase_add_test(tc, describe_output_loads_back_as_a_file);
    tcase_add_test(tc, help_lists_every_key_with_env_and_flag);
    tcase_add_test(tc, heartbeat_timeout_must_exceed_interval);
    suite_add_tcase(s, tc);
    return s;
}

TU_MAIN(config_suite)
