/*
 * test_log.c — Check suite "log": the structured logger (runtime/log.c): the exact text and
 * JSON lines under a fixed clock, escaping, level filtering, long messages, the FILE* adapter
 * (one log line per written line, whatever the pieces, a last line without newline at close),
 * and threads that log at once without mixing lines. Output goes to memory streams; the
 * logger is set back to stderr before a stream is closed.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "testutil.h"

/* 2026-11-22T20:50:01.123Z */
static int64_t fixed_clock(void) { return 1795380601123LL; }

static char *cap_text;
static size_t cap_len;
static FILE *cap;

/* Sends the logger's lines to memory, with the fixed clock. */
static void capture(const char *process, enum rn_log_level level, enum rn_log_format format)
{
    cap = open_memstream(&cap_text, &cap_len);
    ck_assert(cap);
    rn_log_set_clock(fixed_clock);
    rn_log_init(process, level, format, cap);
}

/* What was logged since capture() (the caller frees). */
static char *captured(void)
{
    rn_log_init("runnel", RN_LOG_INFO, RN_LOG_TEXT, NULL);
    fclose(cap);
    cap = NULL;
    char *t = cap_text;
    cap_text = NULL;
    return t;
}

static void expect_captured(const char *want)
{
    char *got = captured();
    ck_assert_str_eq(got, want);
    free(got);
}

static size_t count_lines(const char *t)
{
    size_t n = 0;
    for (; *t; t++) n += *t == '\n';
    return n;
}

/* ---- line formats ---- */

START_TEST(text_line_has_time_level_process_fields_and_message)
{
    capture("jobmanager", RN_LOG_INFO, RN_LOG_TEXT);
    struct rn_log_ctx ctx = {.job = "3fa8c0", .task = "agg/1", .peer = "127.0.0.1:4000"};
    rn_log(RN_LOG_INFO, &ctx, "checkpoint %d completed in %d ms", 7, 12);
    rn_log(RN_LOG_WARN, NULL, "no context");
    rn_log(RN_LOG_ERROR, &(struct rn_log_ctx){.task = "window/2"}, "only a task");
    expect_captured("2026-11-22T20:50:01.123Z INFO jobmanager job=3fa8c0 task=agg/1 peer=127.0.0.1:4000 checkpoint 7 "
                    "completed in 12 ms\n"
                    "2026-11-22T20:50:01.123Z WARN jobmanager no context\n"
                    "2026-11-22T20:50:01.123Z ERROR jobmanager task=window/2 only a task\n");
}
END_TEST

START_TEST(text_quotes_field_values_that_need_it)
{
    capture("taskmanager tm-1", RN_LOG_DEBUG, RN_LOG_TEXT);
    struct rn_log_ctx ctx = {.job = "my job", .task = "a=b", .peer = "say \"hi\"\\"};
    rn_log(RN_LOG_DEBUG, &ctx, "m");
    struct rn_log_ctx ctx2 = {.job = "", .task = "t\n1"};
    rn_log(RN_LOG_DEBUG, &ctx2, "n");
    expect_captured("2026-11-22T20:50:01.123Z DEBUG taskmanager tm-1 job=\"my job\" task=\"a=b\" "
                    "peer=\"say \\\"hi\\\"\\\\\" m\n"
                    "2026-11-22T20:50:01.123Z DEBUG taskmanager tm-1 task=\"t\\n1\" n\n");
}
END_TEST

START_TEST(text_message_stays_on_one_line)
{
    capture("jobmanager", RN_LOG_INFO, RN_LOG_TEXT);
    rn_log(RN_LOG_INFO, NULL, "first\nsecond\r\tthird\x01 \xff end\n\n");
    expect_captured("2026-11-22T20:50:01.123Z INFO jobmanager first\\nsecond\\r\\tthird\\x01 \\xff end\n");
}
END_TEST

START_TEST(json_line_has_the_same_fields)
{
    capture("taskmanager tm-1", RN_LOG_INFO, RN_LOG_JSON);
    struct rn_log_ctx ctx = {.job = "3fa8c0", .task = "agg/1"};
    rn_log(RN_LOG_INFO, &ctx, "checkpoint %d completed", 7);
    rn_log(RN_LOG_ERROR, NULL, "plain");
    expect_captured("{\"time\":\"2026-11-22T20:50:01.123Z\",\"level\":\"info\",\"process\":\"taskmanager tm-1\","
                    "\"job\":\"3fa8c0\",\"task\":\"agg/1\",\"msg\":\"checkpoint 7 completed\"}\n"
                    "{\"time\":\"2026-11-22T20:50:01.123Z\",\"level\":\"error\",\"process\":\"taskmanager tm-1\","
                    "\"msg\":\"plain\"}\n");
}
END_TEST

START_TEST(json_escapes_strings_and_replaces_bad_utf8)
{
    capture("jm \"x\"", RN_LOG_INFO, RN_LOG_JSON);
    struct rn_log_ctx ctx = {.peer = "a\\b"};
    rn_log(RN_LOG_WARN, &ctx, "q\"uote\nnl\ttab\x02 caf\xc3\xa9 bad\xc3( \xed\xa0\x80 \xe2\x82\xac");
    expect_captured("{\"time\":\"2026-11-22T20:50:01.123Z\",\"level\":\"warn\",\"process\":\"jm \\\"x\\\"\","
                    "\"peer\":\"a\\\\b\",\"msg\":\"q\\\"uote\\nnl\\ttab\\u0002 caf\xc3\xa9 bad\\ufffd( "
                    "\\ufffd\\ufffd\\ufffd \xe2\x82\xac\"}\n");
}
END_TEST

START_TEST(timestamps_are_utc_with_milliseconds)
{
    capture("p", RN_LOG_INFO, RN_LOG_TEXT);
    rn_log_set_clock(NULL);
    rn_log(RN_LOG_INFO, NULL, "now");
    char *got = captured();
    /* YYYY-MM-DDTHH:MM:SS.mmmZ */
    ck_assert_uint_ge(strlen(got), 24);
    ck_assert_msg(got[4] == '-' && got[7] == '-' && got[10] == 'T' && got[13] == ':' && got[16] == ':' &&
                      got[19] == '.' && got[23] == 'Z' && got[24] == ' ',
                  "%s", got);
    free(got);
}
END_TEST

/* ---- levels ---- */

START_TEST(levels_below_the_configured_one_are_dropped)
{
    capture("p", RN_LOG_WARN, RN_LOG_TEXT);
    ck_assert(!rn_log_enabled(RN_LOG_INFO));
    ck_assert(rn_log_enabled(RN_LOG_WARN));
    rn_log(RN_LOG_DEBUG, NULL, "d");
    rn_log(RN_LOG_INFO, NULL, "i");
    rn_log(RN_LOG_WARN, NULL, "w");
    rn_log(RN_LOG_ERROR, NULL, "e");
    rn_log_set_level(RN_LOG_DEBUG);
    rn_log(RN_LOG_DEBUG, NULL, "d2");
    expect_captured("2026-11-22T20:50:01.123Z WARN p w\n"
                    "2026-11-22T20:50:01.123Z ERROR p e\n"
                    "2026-11-22T20:50:01.123Z DEBUG p d2\n");
}
END_TEST

START_TEST(level_and_format_names_parse)
{
    enum rn_log_level l;
    enum rn_log_format f;
    ck_assert_int_eq(rn_log_level_parse("WARN", &l), 0);
    ck_assert_int_eq(l, RN_LOG_WARN);
    ck_assert_int_eq(rn_log_level_parse("warning", &l), 0);
    ck_assert_int_eq(rn_log_level_parse("debug", &l), 0);
    ck_assert_int_eq(l, RN_LOG_DEBUG);
    ck_assert_int_eq(rn_log_level_parse("loud", &l), RN_EINVAL);
    ck_assert_int_eq(rn_log_format_parse("JSON", &f), 0);
    ck_assert_int_eq(f, RN_LOG_JSON);
    ck_assert_int_eq(rn_log_format_parse("xml", &f), RN_EINVAL);
    ck_assert_str_eq(rn_log_level_name(RN_LOG_ERROR), "error");
}
END_TEST

START_TEST(init_from_config_takes_level_and_format)
{
    rn_config *c = rn_config_create();
    ck_assert(c);
    struct rn_error err;
    ck_assert_int_eq(rn_config_set(c, RN_CONFIG_FLAG, "log.level", "warn", NULL, &err), 0);
    ck_assert_int_eq(rn_config_set(c, RN_CONFIG_FLAG, "log.format", "json", NULL, &err), 0);
    cap = open_memstream(&cap_text, &cap_len);
    rn_log_set_clock(fixed_clock);
    rn_log_init_config("jobmanager", c, cap);
    rn_log(RN_LOG_INFO, NULL, "dropped");
    rn_log(RN_LOG_WARN, NULL, "kept");
    rn_log_set_process("jobmanager jm-2");
    rn_log(RN_LOG_ERROR, NULL, "renamed");
    expect_captured("{\"time\":\"2026-11-22T20:50:01.123Z\",\"level\":\"warn\",\"process\":\"jobmanager\","
                    "\"msg\":\"kept\"}\n"
                    "{\"time\":\"2026-11-22T20:50:01.123Z\",\"level\":\"error\",\"process\":\"jobmanager jm-2\","
                    "\"msg\":\"renamed\"}\n");
    rn_config_destroy(c);
}
END_TEST

/* ---- long messages ---- */

START_TEST(long_messages_are_kept_up_to_the_limit_then_cut)
{
    capture("p", RN_LOG_INFO, RN_LOG_TEXT);
    char *big = malloc(RN_LOG_MAX_MSG + 100);
    memset(big, 'x', RN_LOG_MAX_MSG + 99);
    big[RN_LOG_MAX_MSG + 99] = 0;
    rn_log(RN_LOG_INFO, NULL, "%.*s", 5000, big);   /* over the stack buffer, under the limit */
    rn_log(RN_LOG_INFO, NULL, "%s", big);           /* over the limit */
    char *got = captured();
    ck_assert_uint_eq(count_lines(got), 2);
    const char *prefix = "2026-11-22T20:50:01.123Z INFO p ";
    size_t pl = strlen(prefix);
    char *second = strchr(got, '\n') + 1;
    ck_assert_uint_eq((size_t)(second - got), pl + 5000 + 1);
    ck_assert_uint_eq(strlen(second), pl + RN_LOG_MAX_MSG + 3 + 1);
    ck_assert(!strcmp(second + strlen(second) - 5, "x...\n"));
    free(got);
    free(big);
}
END_TEST

/* ---- the FILE* adapter ---- */

START_TEST(stream_turns_each_written_line_into_a_log_line)
{
    capture("taskmanager tm-1", RN_LOG_INFO, RN_LOG_TEXT);
    struct rn_log_ctx ctx = {.job = "j1"};
    FILE *f = rn_log_stream(RN_LOG_INFO, &ctx);
    ck_assert(f);
    fputs("checkpoint 1 ", f);   /* a line in pieces */
    fprintf(f, "completed (%d ms)", 5);
    fputs("\nsecond\nthi", f);    /* two lines ends and a start in one write */
    fflush(f);
    fputs("rd\n\n\r\n", f);       /* empty lines are dropped */
    fputs("last without newline", f);
    ck_assert_int_eq(fclose(f), 0);
    expect_captured("2026-11-22T20:50:01.123Z INFO taskmanager tm-1 job=j1 checkpoint 1 completed (5 ms)\n"
                    "2026-11-22T20:50:01.123Z INFO taskmanager tm-1 job=j1 second\n"
                    "2026-11-22T20:50:01.123Z INFO taskmanager tm-1 job=j1 third\n"
                    "2026-11-22T20:50:01.123Z INFO taskmanager tm-1 job=j1 last without newline\n");
}
END_TEST

START_TEST(stream_lines_go_out_at_their_newline)
{
    capture("p", RN_LOG_INFO, RN_LOG_TEXT);
    FILE *f = rn_log_stream(RN_LOG_WARN, NULL);
    fprintf(f, "one\n");
    fflush(cap);
    ck_assert_str_eq(cap_text, "2026-11-22T20:50:01.123Z WARN p one\n");   /* before any fflush of f */
    fprintf(f, "tw");
    fflush(cap);
    ck_assert_uint_eq(count_lines(cap_text), 1);
    fclose(f);
    expect_captured("2026-11-22T20:50:01.123Z WARN p one\n2026-11-22T20:50:01.123Z WARN p tw\n");
}
END_TEST

START_TEST(stream_copies_its_context_and_respects_the_level)
{
    capture("p", RN_LOG_WARN, RN_LOG_JSON);
    char job[16] = "job-7", task[16] = "map/0";
    struct rn_log_ctx ctx = {.job = job, .task = task};
    FILE *info = rn_log_stream(RN_LOG_INFO, &ctx), *err = rn_log_stream(RN_LOG_ERROR, &ctx);
    strcpy(job, "changed");
    strcpy(task, "changed");
    fputs("filtered\n", info);
    fputs("kept\n", err);
    fclose(info);
    fclose(err);
    expect_captured("{\"time\":\"2026-11-22T20:50:01.123Z\",\"level\":\"error\",\"process\":\"p\",\"job\":\"job-7\","
                    "\"task\":\"map/0\",\"msg\":\"kept\"}\n");
}
END_TEST

START_TEST(stream_splits_a_line_longer_than_the_limit)
{
    capture("p", RN_LOG_INFO, RN_LOG_TEXT);
    FILE *f = rn_log_stream(RN_LOG_INFO, NULL);
    for (int i = 0; i < RN_LOG_MAX_MSG + 10; i++) fputc('y', f);
    fputc('\n', f);
    fclose(f);
    char *got = captured();
    ck_assert_uint_eq(count_lines(got), 2);
    const char *prefix = "2026-11-22T20:50:01.123Z INFO p ";
    char *second = strchr(got, '\n') + 1;
    ck_assert_uint_eq((size_t)(second - got), strlen(prefix) + RN_LOG_MAX_MSG + 1);
    ck_assert_uint_eq(strlen(second), strlen(prefix) + 10 + 1);
    free(got);
}
END_TEST

/* ---- threads ---- */

#define N_THREADS 8
#define N_LINES 400

struct writer {
    int id;
    FILE *stream;   /* NULL: rn_log; else write whole lines to this shared adapter */
};

/* Line i of thread id: the thread's letter repeated, a length that varies up to 3000 bytes. */
static size_t msg_len(int id, int i) { return 1 + (size_t)((id * 977 + i * 131) % 3000); }

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    char *buf = malloc(3100);
    char task[16];
    snprintf(task, sizeof task, "t/%d", w->id);
    struct rn_log_ctx ctx = {.task = task};
    for (int i = 0; i < N_LINES; i++) {
        size_t n = msg_len(w->id, i);
        memset(buf, 'a' + w->id, n);
        buf[n] = 0;
        if (w->stream) fprintf(w->stream, "%s\n", buf);
        else rn_log(RN_LOG_INFO, &ctx, "%d %s", i, buf);
    }
    free(buf);
    return NULL;
}

/* Checks that every line is whole: one thread's letter only, and each thread's count. */
static void check_lines(char *text, bool numbered)
{
    int per_thread[N_THREADS] = {0};
    const char *prefix = "2026-11-22T20:50:01.123Z INFO p ";
    size_t pl = strlen(prefix), lines = 0;
    for (char *save = NULL, *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save), lines++) {
        ck_assert_msg(!strncmp(line, prefix, pl), "line %zu starts wrong: %.60s", lines, line);
        char *m = line + pl;
        int id = -1, i = 0;
        if (numbered) {
            ck_assert_msg(sscanf(m, "task=t/%d %d ", &id, &i) == 2, "line %zu: %.60s", lines, m);
            m = strchr(strchr(m, ' ') + 1, ' ') + 1;
        }
        char letter = m[0];
        ck_assert(letter >= 'a' && letter < 'a' + N_THREADS);
        if (!numbered) id = letter - 'a';
        ck_assert_int_eq(letter, 'a' + id);
        size_t n = strspn(m, (char[]){letter, 0});
        ck_assert_msg(m[n] == 0, "line %zu mixes writers at byte %zu", lines, n);
        if (numbered) ck_assert_uint_eq(n, msg_len(id, i));
        per_thread[id]++;
    }
    ck_assert_uint_eq(lines, N_THREADS * N_LINES);
    for (int t = 0; t < N_THREADS; t++) ck_assert_int_eq(per_thread[t], N_LINES);
}

static void run_writers(FILE *stream)
{
    pthread_t th[N_THREADS];
    struct writer w[N_THREADS];
    for (int t = 0; t < N_THREADS; t++) {
        w[t] = (struct writer){t, stream};
        ck_assert_int_eq(pthread_create(&th[t], NULL, writer_main, &w[t]), 0);
    }
    for (int t = 0; t < N_THREADS; t++) pthread_join(th[t], NULL);
}

START_TEST(threads_logging_at_once_never_mix_lines)
{
    capture("p", RN_LOG_INFO, RN_LOG_TEXT);
    run_writers(NULL);
    char *got = captured();
    check_lines(got, true);
    free(got);
}
END_TEST

START_TEST(threads_sharing_a_stream_never_mix_lines)
{
    capture("p", RN_LOG_INFO, RN_LOG_TEXT);
    FILE *f = rn_log_stream(RN_LOG_INFO, NULL);
    run_writers(f);
    fclose(f);
    char *got = captured();
    check_lines(got, false);
    free(got);
}
END_TEST

static Suite *log_suite(void)
{
    Suite *s = suite_create("log");
    TCase *tc = tcase_create("log");
    tcase_add_test(tc, text_line_has_time_level_process_fields_and_message);
    tcase_add_test(tc, text_quotes_field_values_that_need_it);
    tcase_add_test(tc, text_message_stays_on_one_line);
    tcase_add_test(tc, json_line_has_the_same_fields);
    tcase_add_test(tc, json_escapes_strings_and_replaces_bad_utf8);
    tcase_add_test(tc, timestamps_are_utc_with_milliseconds);
    tcase_add_test(tc, levels_below_the_configured_one_are_dropped);
    tcase_add_test(tc, level_and_format_names_parse);
    tcase_add_test(tc, init_from_config_takes_level_and_format);
    tcase_add_test(tc, long_messages_are_kept_up_to_the_limit_then_cut);
    tcase_add_test(tc, stream_turns_each_written_line_into_a_log_line);
    tcase_add_test(tc, stream_lines_go_out_at_their_newline);
    tcase_add_test(tc, stream_copies_its_context_and_respects_the_level);
    tcase_add_test(tc, stream_splits_a_line_longer_than_the_limit);
    tcase_add_test(tc, threads_logging_at_once_never_mix_lines);
    tcase_add_test(tc, threads_sharing_a_stream_never_mix_lines);
    suite_add_tcase(s, tc);
    return s;
}

TU_MAIN(log_suite)
