/*
 * test_kafka_source.c — the `kafka_source` runtime suite: jobs run in-process (registry with the
 * Kafka plugin, validator, runner) from kafka_source into file_sink, reading a librdkafka mock
 * cluster that each test starts on 127.0.0.1 (kafka_client.h) and stops. The test produces
 * known rows, runs the job, and compares the rows file_sink wrote (read back with rtutil) with
 * what it produced.
 *
 * Bounded jobs (stop_at: latest) end by themselves. Unbounded ones (crash and restore,
 * discovery, start: latest) run with checkpoints and an exactly-once file_sink, and the test
 * waits (bounded) until the committed output holds the rows it expects, then cancels them. No
 * result depends on timing: a crash falls after some completed checkpoint, wherever that is.
 *
 * Environment (tests/runtime/meson.build): RUNNEL_KAFKA_PLUGIN_DIR (where runnel_kafka.so is).
 */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kafka/kafka_state.h"
#include "kafka_client.h"
#include "kafkatest.h"
#include "runnel/checkpoint.h"
#include "runnel/runner.h"
#include "runnel/state.h"
#include "rtutil.h"
#include "testutil.h"

#define WAIT_MS 30000

static rnk_mock *mock;
static rn_registry *reg;

static void setup(void) { kt_setup("runnel-kafka-source", &mock, &reg); }

static void teardown(void) { kt_teardown(mock, reg); }

static const char *bs(void) { return rnk_mock_bootstrap(mock); }

static void topic(const char *name, int partitions) { kt_topic(mock, name, partitions); }

/* Row values of the formats: id, name "n<id>". */
enum vfmt { V_JSON, V_CSV, V_RAW };

static char *value_of(enum vfmt f, int id)
{
    switch (f) {
    case V_JSON: return tu_fmt("{\"id\": %d, \"name\": \"n%d\"}", id, id);
    case V_CSV: return tu_fmt("%d,n%d", id, id);
    default: return tu_fmt("raw value %d", id);
    }
}

/* Produces rows from .. to-1 (their values given by f) to partition p of t; timestamps, when
 * ts0 >= 0, ts0 + id * 100. */
static void produce(const char *t, int32_t p, enum vfmt f, int from, int to, int64_t ts0)
{
    size_t n = (size_t)(to - from);
    char **v = calloc(n, sizeof *v);
    int64_t *ts = calloc(n, sizeof *ts);
    ck_assert(v && ts);
    for (size_t i = 0; i < n; i++) {
        v[i] = value_of(f, from + (int)i);
        ts[i] = ts0 + (int64_t)(from + (int)i) * 100;
    }
    char why[512];
    ck_assert_msg(rnk_produce(bs(), t, p, (const char *const *)v, NULL, ts0 >= 0 ? ts : NULL, n, WAIT_MS, why,
                              sizeof why) == 0,
                  "produce: %s", why);
    for (size_t i = 0; i < n; i++) free(v[i]);
    free(v);
    free(ts);
}

/* Produces one value as it is to partition p of t (with a key when key is set). */
static void produce_one(const char *t, int32_t p, const char *value, const char *key)
{
    char why[512];
    const char *keys[1] = {key};
    ck_assert_msg(rnk_produce(bs(), t, p, &value, key ? keys : NULL, NULL, 1, WAIT_MS, why, sizeof why) == 0,
                  "produce: %s", why);
}

/* The lines file_sink writes for rows from .. to-1 of the json/csv formats (id,name). */
static void want_rows(struct rt_lines *l, int from, int to)
{
    for (int i = from; i < to; i++) rt_lines_addf(l, "%d,n%d", i, i);
}

/* A job from kafka_source (its `with:` lines after bootstrap_servers in src, each indented by
 * six spaces) into an exactly-once (with checkpoints) or plain file_sink writing CSV into out. */
static char *job_text(int parallelism, const char *chk, const char *src, const char *out)
{
    char *ck = chk ? tu_fmt("checkpoint: { interval: 30ms, dir: %s }\n", chk) : strdup("");
    char *t = tu_fmt("name: ks\nparallelism: %d\nmax_parallelism: 16\n%s"
                     "operators:\n"
                     "  - id: src\n    type: kafka_source\n    with:\n      bootstrap_servers: \"%s\"\n%s"
                     "  - id: out\n    type: file_sink\n    input: src\n"
                     "    with: { path: %s, format: csv%s }\n",
                     parallelism, ck, bs(), src, out, chk ? ", delivery: exactly_once" : "");
    free(ck);
    return t;
}

/* Runs text to its end, which must be a finish; returns src's metric (0 when metric is NULL). */
static uint64_t run_ok(const char *text, const char *metric)
{
    struct rn_job *job = rt_parse_ok(reg, text);
    char why[1024];
    uint64_t v = 0;
    enum rn_run_state st = rt_run(job, why, sizeof why, "src", metric ? metric : "records_skipped", &v);
    ck_assert_msg(st == RN_RUN_FINISHED, "the job did not finish: %s\n%s", why, text);
    rn_job_free(job);
    return metric ? v : 0;
}

/* Runs text to its end, which must be a failure; returns its message (the caller frees). */
static char *run_fails(const char *text)
{
    struct rn_job *job = rt_parse_ok(reg, text);
    char why[2048];
    enum rn_run_state st = rt_run(job, why, sizeof why, NULL, NULL, NULL);
    ck_assert_msg(st == RN_RUN_FAILED, "the job did not fail (state %d)\n%s", (int)st, text);
    rn_job_free(job);
    return strdup(why);
}

static void expect_dir_rows(const char *dir, struct rt_lines *want, const char *what)
{
    struct rt_lines got = rt_read_csv_parts(dir);
    rt_lines_expect_sorted(&got, want, what);
    rt_lines_free(&got);
}

/* Waits (bounded) until the committed part files in dir hold n rows. */
static void wait_rows(struct rt_ckrun *run, const char *dir, size_t n)
{
    for (int waited = 0;; waited += 20) {
        struct stat st;
        size_t have = 0;
        if (stat(dir, &st) == 0) {   /* file_sink makes it when it opens */
            struct rt_lines got = rt_read_csv_parts(dir);
            have = got.n;
            rt_lines_free(&got);
        }
        if (have >= n) return;
        if (rn_runner_wait(run->r, 20)) {
            const char *why = NULL;
            rn_runner_state(run->r, &why);
            ck_abort_msg("the job ended with %zu of %zu rows committed: %s", have, n, why ? why : "no error");
        }
        CHECK_MSG(waited < WAIT_MS, "%zu of %zu rows committed after %d ms", have, n, WAIT_MS);
    }
}


/* ---- reading ---- */

static void bounded_read(enum vfmt f, const char *format_lines)
{
    topic("t", 3);
    for (int p = 0; p < 3; p++) produce("t", p, f, p * 100, p * 100 + 100, -1);
    char *out = tu_tmp_path("out"), *src = tu_fmt("      topic: t\n      stop_at: latest\n%s", format_lines);
    char *text = job_text(1, NULL, src, out);
    run_ok(text, NULL);
    struct rt_lines want = {0};
    if (f == V_RAW)
        for (int i = 0; i < 300; i++) rt_lines_addf(&want, "raw value %d", i);
    else want_rows(&want, 0, 300);
    expect_dir_rows(out, &want, "rows read");
    rt_lines_free(&want);
    free(text);
    free(src);
    free(out);
}

START_TEST(bounded_read_of_three_partitions_gives_exactly_the_json_rows)
{
    bounded_read(V_JSON, "      format: json\n      schema: { id: int64, name: string }\n");
}
END_TEST

START_TEST(bounded_read_gives_exactly_the_csv_rows)
{
    bounded_read(V_CSV, "      format: csv\n      schema: { id: int64, name: string }\n");
}
END_TEST

START_TEST(bounded_read_gives_exactly_the_raw_values)
{
    bounded_read(V_RAW, "      format: raw\n      schema: { line: string }\n");
}
END_TEST

START_TEST(parallelism_two_splits_the_partitions_and_reads_them_all)
{
    topic("t", 5);
    topic("u", 2);
    for (int p = 0; p < 5; p++) produce("t", p, V_JSON, p * 50, p * 50 + 50, -1);
    for (int p = 0; p < 2; p++) produce("u", p, V_JSON, 1000 + p * 50, 1000 + p * 50 + 50, -1);
    char *out = tu_tmp_path("out");
    char *text = job_text(2, NULL,
                          "      topics: [t, u]\n      stop_at: latest\n      schema: { id: int64, name: string }\n",
                          out);
    run_ok(text, NULL);
    struct rt_lines want = {0};
    want_rows(&want, 0, 250);
    want_rows(&want, 1000, 1100);
    expect_dir_rows(out, &want, "rows of both topics through two subtasks");
    /* each subtask wrote its own part file: both read partitions */
    char *f0 = tu_fmt("%s/part-0.csv", out), *f1 = tu_fmt("%s/part-1.csv", out);
    char *t0 = tu_slurp(f0), *t1 = tu_slurp(f1);
    ck_assert_msg(t0 && t1, "a part file per subtask");
    ck_assert_msg(strchr(t0, '\n') != strrchr(t0, '\n') && strchr(t1, '\n') != strrchr(t1, '\n'),
                  "both subtasks read rows");
    free(t0);
    free(t1);
    free(f0);
    free(f1);
    rt_lines_free(&want);
    free(text);
    free(out);
}
END_TEST

START_TEST(bounded_subtasks_without_partitions_and_empty_partitions_end_at_once)
{
    topic("one", 1);
    topic("empty", 2);
    produce("one", 0, V_JSON, 0, 10, -1);
    char *out = tu_tmp_path("out");
    char *text = job_text(4, NULL,
                          "      topics: [one, empty]\n      stop_at: latest\n      schema: { id: int64, name: string }\n",
                          out);
    run_ok(text, NULL);
    struct rt_lines want = {0};
    want_rows(&want, 0, 10);
    expect_dir_rows(out, &want, "the rows of the one partition with rows");
    rt_lines_free(&want);
    free(text);
    free(out);
}
END_TEST

/* librdkafka 2.0.2's mock answers every ListOffsets by timestamp with "no such offset" (-1), so
 * only that case can be run here: a timestamp after every message starts at the end. The lookup
 * of a timestamp inside a partition (rd_kafka_offsets_for_times) is not verifiable on the mock. */
START_TEST(start_timestamp_after_every_message_reads_nothing)
{
    topic("t", 3);
    for (int p = 0; p < 3; p++) produce("t", p, V_JSON, p * 100, p * 100 + 100, 1000000);
    char *out = tu_tmp_path("out");
    char *text = job_text(1, NULL,
                          "      topic: t\n      stop_at: latest\n      start: \"timestamp:2000000\"\n"
                          "      schema: { id: int64, name: string }\n",
                          out);
    run_ok(text, NULL);
    struct rt_lines want = {0};
    expect_dir_rows(out, &want, "no rows after the timestamp");
    free(text);
    free(out);
}
END_TEST

START_TEST(start_latest_reads_only_what_arrives_after_the_start)
{
    topic("t", 2);
    for (int p = 0; p < 2; p++) produce("t", p, V_JSON, p * 100, p * 100 + 100, -1);
    char *out = tu_tmp_path("out"), *chk = tu_tmp_path("chk");
    char *text = job_text(1, chk, "      topic: t\n      start: latest\n      schema: { id: int64, name: string }\n", out);
    struct rn_job *job = rt_parse_ok(reg, text);
    struct rt_ckrun run = rt_ckrun_start(job, NULL);
    rt_wait_checkpoints(&run, 1);   /* the first checkpoint fixed the start offsets */
    for (int p = 0; p < 2; p++) produce("t", p, V_JSON, 500 + p * 20, 520 + p * 20, -1);
    wait_rows(&run, out, 40);
    free(rt_ckrun_crash(&run));
    struct rt_lines want = {0};
    want_rows(&want, 500, 540);
    expect_dir_rows(out, &want, "only the rows produced after the start");
    rt_lines_free(&want);
    rn_job_free(job);
    free(text);
    free(out);
    free(chk);
}
END_TEST

/* Unbounded, start: latest, and the cluster's metadata cannot be read at the start (nothing
 * listens on port 1): the job fails naming it rather than run on and find the partitions with a
 * later discovery, which reads them from the earliest offset. */
START_TEST(start_latest_fails_when_the_metadata_cannot_be_read_at_the_start)
{
    char *text = tu_fmt("name: nolatest\nrestart: { strategy: none }\noperators:\n"
                        "  - id: src\n    type: kafka_source\n    with:\n      bootstrap_servers: \"127.0.0.1:1\"\n"
                        "      topic: t\n      start: latest\n      schema: { id: int64, name: string }\n"
                        "  - id: out\n    type: print\n    input: src\n");
    char *why = run_fails(text);
    ck_assert_msg(strstr(why, "cannot read the cluster's metadata from 127.0.0.1:1"), "failure: %s", why);
    free(why);
    free(text);
}
END_TEST

/* ---- event time ---- */

START_TEST(timestamp_column_drives_per_partition_watermarks_and_event_time_windows)
{
    topic("ev", 3);
    /* 600 rows, id i at 2000000 + i * 100 ms, partition i % 3: 10 rows per second-long window,
     * each partition's timestamps rising; a partition read after another must not be late */
    for (int p = 0; p < 3; p++) {
        char *v[200];
        int64_t ts[200];
        for (int k = 0; k < 200; k++) {
            int i = k * 3 + p;
            v[k] = tu_fmt("{\"id\": %d, \"name\": \"a\"}", i);
            ts[k] = 2000000 + (int64_t)i * 100;
        }
        char why[512];
        ck_assert_msg(rnk_produce(bs(), "ev", p, (const char *const *)v, NULL, ts, 200, WAIT_MS, why, sizeof why) == 0,
                      "%s", why);
        for (int k = 0; k < 200; k++) free(v[k]);
    }
    char *out = tu_tmp_path("out");
    char *text = tu_fmt("name: ev\nparallelism: 1\noperators:\n"
                        "  - id: src\n    type: kafka_source\n"
                        "    with:\n      bootstrap_servers: \"%s\"\n      topic: ev\n      stop_at: latest\n"
                        "      schema: { id: int64, name: string }\n      timestamp_column: kts\n"
                        "    watermark: { column: kts, max_out_of_orderness: 0s, idle_timeout: 1s }\n"
                        "  - id: win\n    type: window_aggregate\n    input: src\n    key_by: name\n"
                        "    with:\n      window: { type: tumbling, size: 1s }\n      aggregates: { n: \"count(*)\" }\n"
                        "  - id: out\n    type: file_sink\n    input: win\n    with: { path: %s, format: csv }\n",
                        bs(), out);
    run_ok(text, NULL);
    struct rt_lines want = {0};
    for (int w = 0; w < 60; w++)
        rt_lines_addf(&want, "a,%" PRId64 ",%" PRId64 ",10", (int64_t)2000000 + w * 1000, (int64_t)2001000 + w * 1000);
    expect_dir_rows(out, &want, "per-second counts over the Kafka timestamps");
    rt_lines_free(&want);
    free(text);
    free(out);
}
END_TEST

START_TEST(an_idle_partition_does_not_hold_the_watermark_back)
{
    topic("ev", 2);   /* partition 1 stays empty */
    char *out = tu_tmp_path("out"), *chk = tu_tmp_path("chk");
    char *text = tu_fmt("name: idle\nparallelism: 1\ncheckpoint: { interval: 30ms, dir: %s }\noperators:\n"
                        "  - id: src\n    type: kafka_source\n"
                        "    with:\n      bootstrap_servers: \"%s\"\n      topic: ev\n"
                        "      schema: { id: int64, name: string }\n      timestamp_column: kts\n"
                        "    watermark: { column: kts, max_out_of_orderness: 0s, idle_timeout: 200ms }\n"
                        "  - id: win\n    type: window_aggregate\n    input: src\n    key_by: name\n"
                        "    with:\n      window: { type: tumbling, size: 1s }\n      aggregates: { n: \"count(*)\" }\n"
                        "  - id: out\n    type: file_sink\n    input: win\n"
                        "    with: { path: %s, format: csv, delivery: exactly_once }\n",
                        chk, bs(), out);
    struct rn_job *job = rt_parse_ok(reg, text);
    struct rt_ckrun run = rt_ckrun_start(job, NULL);
    /* 3 seconds of rows in partition 0 (10 a second): while the job runs (unbounded), the
     * windows before the last close only if the empty partition 1 stops holding the watermark */
    char *v[30];
    int64_t ts[30];
    for (int i = 0; i < 30; i++) {
        v[i] = tu_fmt("{\"id\": %d, \"name\": \"a\"}", i);
        ts[i] = 3000000 + (int64_t)i * 100;
    }
    char why[512];
    ck_assert_msg(rnk_produce(bs(), "ev", 0, (const char *const *)v, NULL, ts, 30, WAIT_MS, why, sizeof why) == 0, "%s",
                  why);
    for (int i = 0; i < 30; i++) free(v[i]);
    wait_rows(&run, out, 2);
    free(rt_ckrun_crash(&run));
    struct rt_lines want = {0};
    rt_lines_addf(&want, "a,3000000,3001000,10");
    rt_lines_addf(&want, "a,3001000,3002000,10");
    expect_dir_rows(out, &want, "the windows the busy partition closed");
    rt_lines_free(&want);
    rn_job_free(job);
    free(text);
    free(out);
    free(chk);
}
END_TEST

START_TEST(the_job_keeps_reading_across_a_broker_outage)
{
    topic("t", 2);
    for (int p = 0; p < 2; p++) produce("t", p, V_JSON, p * 50, p * 50 + 50, -1);
    char *out = tu_tmp_path("out"), *chk = tu_tmp_path("chk");
    char *text = job_text(1, chk, "      topic: t\n      schema: { id: int64, name: string }\n", out);
    struct rn_job *job = rt_parse_ok(reg, text);
    struct rt_ckrun run = rt_ckrun_start(job, NULL);
    wait_rows(&run, out, 100);
    rd_kafka_mock_cluster_t *mc = rnk_mock_cluster(mock);
    ck_assert_int_eq(rd_kafka_mock_broker_set_down(mc, 1), 0);
    usleep(1500 * 1000);
    ck_assert_msg(!rn_runner_wait(run.r, 1), "the job ended while the broker was down");
    ck_assert_int_eq(rd_kafka_mock_broker_set_up(mc, 1), 0);
    for (int p = 0; p < 2; p++) produce("t", p, V_JSON, 100 + p * 50, 150 + p * 50, -1);
    wait_rows(&run, out, 200);
    free(rt_ckrun_crash(&run));
    struct rt_lines want = {0};
    want_rows(&want, 0, 200);
    expect_dir_rows(out, &want, "the rows before and after the outage, once");
    rt_lines_free(&want);
    rn_job_free(job);
    free(text);
    free(out);
    free(chk);
}
END_TEST

/* ---- bad records ---- */

static void produce_with_bad(const char *t)
{
    topic(t, 2);
    produce(t, 0, V_JSON, 0, 10, -1);
    produce(t, 1, V_JSON, 10, 12, -1);
    produce_one(t, 1, "{\"id\": \"twelve\", \"name\": \"x\"}", "k1");   /* offset 2 */
    produce(t, 1, V_JSON, 12, 20, -1);
    produce_one(t, 1, "not json", NULL);                                 /* offset 11 */
}

START_TEST(a_bad_record_fails_the_job_naming_topic_partition_and_offset)
{
    produce_with_bad("bad");
    char *out = tu_tmp_path("out");
    char *text = job_text(1, NULL, "      topic: bad\n      stop_at: latest\n      schema: { id: int64, name: string }\n",
                          out);
    char *why = run_fails(text);
    ck_assert_msg(strstr(why, "topic 'bad' partition 1 offset 2:") && strstr(why, "id"), "failure: %s", why);
    free(why);
    free(text);
    free(out);
}
END_TEST

START_TEST(on_error_skip_counts_the_bad_records_and_reads_the_rest)
{
    produce_with_bad("bad");
    char *out = tu_tmp_path("out");
    char *text = job_text(1, NULL,
                          "      topic: bad\n      stop_at: latest\n      on_error: skip\n"
                          "      schema: { id: int64, name: string }\n",
                          out);
    ck_assert_uint_eq(run_ok(text, "records_skipped"), 2);
    struct rt_lines want = {0};
    want_rows(&want, 0, 20);
    expect_dir_rows(out, &want, "the good rows");
    rt_lines_free(&want);
    free(text);
    free(out);
}
END_TEST

/* The headers of message `offset` of partition 0 of t: runnel.topic/partition/offset as given,
 * runnel.error not empty. */
static void expect_dead_letter_headers(const char *t, int64_t offset, const char *topic_h, const char *part_h,
                                       const char *offset_h)
{
    char why[512];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    ck_assert(rd_kafka_conf_set(c, "bootstrap.servers", bs(), why, sizeof why) == RD_KAFKA_CONF_OK);
    ck_assert(rd_kafka_conf_set(c, "group.id", "test-headers", why, sizeof why) == RD_KAFKA_CONF_OK);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, why, sizeof why);
    ck_assert_msg(rk, "%s", why);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, t, 0)->offset = offset;
    ck_assert(rd_kafka_assign(rk, l) == 0);
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_message_t *m = NULL;
    for (int waited = 0; !m && waited < WAIT_MS; waited += 100) {
        m = rd_kafka_consumer_poll(rk, 100);
        if (m && m->err) {
            rd_kafka_message_destroy(m);
            m = NULL;
        }
    }
    ck_assert_msg(m, "no message at offset %lld of %s", (long long)offset, t);
    rd_kafka_headers_t *h = NULL;
    ck_assert_int_eq(rd_kafka_message_headers(m, &h), 0);
    static const char *const names[] = {"runnel.topic", "runnel.partition", "runnel.offset", "runnel.error"};
    const char *want[] = {topic_h, part_h, offset_h, NULL};
    for (int i = 0; i < 4; i++) {
        const void *v;
        size_t n;
        ck_assert_msg(rd_kafka_header_get_last(h, names[i], &v, &n) == 0, "no header %s", names[i]);
        if (want[i]) ck_assert_msg(n == strlen(want[i]) && !memcmp(v, want[i], n), "header %s: %.*s, want %s", names[i],
                                   (int)n, (const char *)v, want[i]);
        else ck_assert_msg(n > 0, "header %s is empty", names[i]);
    }
    rd_kafka_message_destroy(m);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
}

START_TEST(on_error_dead_letter_writes_the_bad_records_to_the_topic)
{
    produce_with_bad("bad");
    topic("dlq", 1);
    char *out = tu_tmp_path("out");
    char *text = job_text(1, NULL,
                          "      topic: bad\n      stop_at: latest\n      on_error: dead_letter\n"
                          "      dead_letter_topic: dlq\n      schema: { id: int64, name: string }\n",
                          out);
    ck_assert_uint_eq(run_ok(text, "records_dead_lettered"), 2);
    struct rt_lines want = {0};
    want_rows(&want, 0, 20);
    expect_dir_rows(out, &want, "the good rows");
    rt_lines_free(&want);
    struct rnk_msgs m = {0};
    char why[512];
    ck_assert_msg(rnk_consume_all(bs(), "dlq", false, WAIT_MS, &m, why, sizeof why) == 0, "%s", why);
    ck_assert_uint_eq(m.n, 2);
    ck_assert_str_eq(m.v[0].value, "{\"id\": \"twelve\", \"name\": \"x\"}");
    ck_assert_msg(m.v[0].key && !strcmp(m.v[0].key, "k1"), "the key goes with it");
    ck_assert_str_eq(m.v[1].value, "not json");
    ck_assert_ptr_null(m.v[1].key);
    rnk_msgs_free(&m);
    expect_dead_letter_headers("dlq", 0, "bad", "1", "2");
    expect_dead_letter_headers("dlq", 1, "bad", "1", "11");
    free(text);
    free(out);
}
END_TEST

/* ---- checkpoints ---- */

/* Rows 0..599 over 3 partitions, a run with checkpoints crashed after some, rows 600..1199,
 * then a bounded run restored from the checkpoint (at parallelism p2): the exactly-once output
 * holds every row once, so the restored run began at the checkpointed offsets (from the
 * earliest it would repeat rows the first run committed, from the latest lose some). */
static void crash_and_restore(int p1, int p2)
{
    topic("t", 3);
    for (int p = 0; p < 3; p++) produce("t", p, V_JSON, p * 200, p * 200 + 200, -1);
    char *out = tu_tmp_path("out"), *chk = tu_tmp_path("chk");
    char *t1 = job_text(p1, chk, "      topic: t\n      schema: { id: int64, name: string }\n", out);
    char *t2 = job_text(p2, chk, "      topic: t\n      stop_at: latest\n      schema: { id: int64, name: string }\n", out);
    struct rn_job *j1 = rt_parse_ok(reg, t1), *j2 = rt_parse_ok(reg, t2);
    struct rt_ckrun run = rt_ckrun_start(j1, NULL);
    wait_rows(&run, out, 600);
    rt_wait_checkpoints(&run, 2);
    char *from = rt_ckrun_crash(&run);
    for (int p = 0; p < 3; p++) produce("t", p, V_JSON, 600 + p * 200, 600 + p * 200 + 200, -1);
    run = rt_ckrun_start(j2, from);
    ck_assert_msg(rn_runner_wait(run.r, RT_RUN_WAIT_MS), "the restored job did not end");
    const char *why = NULL;
    ck_assert_msg(rn_runner_state(run.r, &why) == RN_RUN_FINISHED, "the restored job did not finish: %s",
                  why ? why : "");
    rt_ckrun_end(&run);
    struct rt_lines want = {0};
    want_rows(&want, 0, 1200);
    expect_dir_rows(out, &want, "every row once across the crash");
    rt_lines_free(&want);
    rn_job_free(j1);
    rn_job_free(j2);
    free(from);
    free(t1);
    free(t2);
    free(out);
    free(chk);
}

START_TEST(restored_run_resumes_at_the_checkpointed_offsets)
{
    crash_and_restore(1, 1);
}
END_TEST

START_TEST(restore_at_another_parallelism_reassigns_the_checkpointed_partitions)
{
    crash_and_restore(2, 3);
}
END_TEST

/* A job that read topic a, restored with topic b: b is read (from the earliest offset), a's
 * checkpointed partitions are skipped (nothing of a after the checkpoint), and the log says so. */
START_TEST(a_restore_skips_the_checkpointed_topics_no_longer_wanted)
{
    topic("a", 2);
    topic("b", 2);
    for (int p = 0; p < 2; p++) produce("a", p, V_JSON, p * 150, p * 150 + 150, -1);
    char *out = tu_tmp_path("out"), *chk = tu_tmp_path("chk");
    char *t1 = job_text(1, chk, "      topic: a\n      schema: { id: int64, name: string }\n", out);
    char *t2 = job_text(1, chk, "      topic: b\n      stop_at: latest\n      schema: { id: int64, name: string }\n",
                        out);
    struct rn_job *j1 = rt_parse_ok(reg, t1), *j2 = rt_parse_ok(reg, t2);
    struct rt_ckrun run = rt_ckrun_start(j1, NULL);
    wait_rows(&run, out, 300);
    rt_wait_checkpoints(&run, 2);
    char *from = rt_ckrun_crash(&run);
    for (int p = 0; p < 2; p++) produce("a", p, V_JSON, 300 + p * 50, 300 + p * 50 + 50, -1);
    for (int p = 0; p < 2; p++) produce("b", p, V_JSON, 1000 + p * 100, 1000 + p * 100 + 100, -1);
    run = rt_ckrun_start(j2, from);
    ck_assert_msg(rn_runner_wait(run.r, RT_RUN_WAIT_MS), "the restored job did not end");
    const char *why = NULL;
    ck_assert_msg(rn_runner_state(run.r, &why) == RN_RUN_FINISHED, "the restored job did not finish: %s",
                  why ? why : "");
    rt_ckrun_end(&run);
    struct rt_lines want = {0};
    want_rows(&want, 0, 300);      /* a, before the checkpoint */
    want_rows(&want, 1000, 1200);  /* b, all of it; nothing of a after the checkpoint */
    expect_dir_rows(out, &want, "topic a up to the checkpoint, then topic b");
    rt_lines_free(&want);
    char *log = tu_tmp_path("job.log"), *lt = tu_slurp(log);
    ck_assert(lt);
    const char *at = strstr(lt, "topic 'a' of the checkpoint is not read any more");
    CHECK_MSG(at, "no log of the skipped topic a:\n%s", lt);
    CHECK_MSG(at && !strstr(at + 1, "topic 'a' of the checkpoint is not read any more"), "topic a logged twice");
    free(lt);
    free(log);
    rn_job_free(j1);
    rn_job_free(j2);
    free(from);
    free(t1);
    free(t2);
    free(out);
    free(chk);
}
END_TEST

struct rewrite {
    rn_opstate *to;
    uint32_t n, bad;          /* elements copied; the one (1-based) whose partition becomes -1 */
};

static int copy_elem(const void *val, uint32_t len, void *user)
{
    struct rewrite *w = user;
    uint8_t e[RNK_ELEM_MAX];
    ck_assert_uint_le(len, sizeof e);
    memcpy(e, val, len);
    if (++w->n == w->bad) memset(e + 2, 0xff, 4);   /* partition le32 at byte 2 */
    return rn_opstate_append_union(w->to, RNK_OFFSETS_LIST, e, len);
}

/* A checkpoint whose operator-state file for src holds a damaged kafka_source.offsets element
 * (same length, so the checkpoint's file sizes still match; the file's CRC written anew, so the
 * engine accepts it): the restore fails naming the list, the element and what is wrong. */
START_TEST(a_corrupt_offsets_element_fails_the_restore_naming_it)
{
    topic("t", 2);
    for (int p = 0; p < 2; p++) produce("t", p, V_JSON, p * 50, p * 50 + 50, -1);
    char *out = tu_tmp_path("out"), *chk = tu_tmp_path("chk");
    char *t1 = job_text(1, chk, "      topic: t\n      schema: { id: int64, name: string }\n", out);
    char *t2 = job_text(1, chk, "      topic: t\n      stop_at: latest\n      schema: { id: int64, name: string }\n", out);
    char *ops = strstr(t2, "operators:\n");
    ck_assert_ptr_nonnull(ops);
    char *t2r = tu_fmt("%.*srestart: { strategy: none }\n%s", (int)(ops - t2), t2, ops);
    struct rn_job *j1 = rt_parse_ok(reg, t1), *j2 = rt_parse_ok(reg, t2r);
    struct rt_ckrun run = rt_ckrun_start(j1, NULL);
    wait_rows(&run, out, 100);
    rt_wait_checkpoints(&run, 2);
    char *from = rt_ckrun_crash(&run);

    char *file = tu_fmt("%s/src-0/opstate", from);
    const char *paths[1] = {file};
    rn_opstate *was, *now = rn_opstate_create();
    struct rn_error err;
    ck_assert_msg(rn_opstate_restore(paths, 1, 0, 1, &was, &err) == 0, "%s", err.msg);
    struct rewrite w = {now, 0, 2};
    ck_assert_int_eq(rn_opstate_each(was, RNK_OFFSETS_LIST, copy_elem, &w), 0);
    ck_assert_uint_eq(w.n, 2);
    ck_assert_msg(rn_opstate_snapshot(now, file, &err) == 0, "%s", err.msg);
    rn_opstate_destroy(was);
    rn_opstate_destroy(now);

    run = rt_ckrun_start(j2, from);
    ck_assert_msg(rn_runner_wait(run.r, RT_RUN_WAIT_MS), "the restored job did not end");
    const char *why = NULL;
    ck_assert_int_eq(rn_runner_state(run.r, &why), RN_RUN_FAILED);
    ck_assert_ptr_nonnull(why);
    ck_assert_msg(strstr(why, "element 2 of list 'kafka_source.offsets' is corrupt") && strstr(why, "negative partition"),
                  "the failure does not name the element and the fault: %s", why);
    rt_ckrun_end(&run);
    rn_job_free(j1);
    rn_job_free(j2);
    free(file);
    free(from);
    free(t1);
    free(t2);
    free(t2r);
    free(out);
    free(chk);
}
END_TEST

START_TEST(topic_pattern_discovers_topics_created_while_running)
{
    topic("disc-a", 2);
    topic("other", 1);
    produce("other", 0, V_JSON, 9000, 9010, -1);
    for (int p = 0; p < 2; p++) produce("disc-a", p, V_JSON, p * 50, p * 50 + 50, -1);
    char *out = tu_tmp_path("out"), *chk = tu_tmp_path("chk");
    char *text = job_text(2, chk,
                          "      topic_pattern: \"^disc-\"\n      discovery_interval: 100ms\n"
                          "      schema: { id: int64, name: string }\n",
                          out);
    struct rn_job *job = rt_parse_ok(reg, text);
    struct rt_ckrun run = rt_ckrun_start(job, NULL);
    wait_rows(&run, out, 100);
    topic("disc-b", 3);
    for (int p = 0; p < 3; p++) produce("disc-b", p, V_JSON, 100 + p * 30, 130 + p * 30, -1);
    wait_rows(&run, out, 190);
    free(rt_ckrun_crash(&run));
    struct rt_lines want = {0};
    want_rows(&want, 0, 190);
    expect_dir_rows(out, &want, "the rows of both matching topics, none of 'other'");
    rt_lines_free(&want);
    rn_job_free(job);
    free(text);
    free(out);
    free(chk);
}
END_TEST

START_TEST(start_group_reads_from_the_offsets_committed_at_checkpoints)
{
    topic("t", 2);
    for (int p = 0; p < 2; p++) produce("t", p, V_JSON, p * 100, p * 100 + 100, -1);
    char *out = tu_tmp_path("out"), *chk = tu_tmp_path("chk"), *out2 = tu_tmp_path("out2");
    char *t1 = job_text(1, chk,
                        "      topic: t\n      stop_at: latest\n      group_id: g1\n"
                        "      schema: { id: int64, name: string }\n",
                        out);
    run_ok(t1, NULL);   /* its final checkpoint commits offsets 100 and 100 to g1 */
    for (int p = 0; p < 2; p++) produce("t", p, V_JSON, 200 + p * 10, 210 + p * 10, -1);
    char *t2 = job_text(1, NULL,
                        "      topic: t\n      stop_at: latest\n      group_id: g1\n      start: group\n"
                        "      schema: { id: int64, name: string }\n",
                        out2);
    run_ok(t2, NULL);
    struct rt_lines want = {0};
    want_rows(&want, 200, 220);
    expect_dir_rows(out2, &want, "the rows after the group's committed offsets");
    rt_lines_free(&want);
    free(t1);
    free(t2);
    free(out);
    free(out2);
    free(chk);
}
END_TEST

/* ---- plan errors ---- */

static void expect_refused(const char *with, const char *word)
{
    char *text = tu_fmt("name: bad\noperators:\n"
                        "  - id: src\n    type: kafka_source\n    with:\n      bootstrap_servers: \"127.0.0.1:1\"\n%s"
                        "  - id: out\n    type: print\n    input: src\n",
                        with);
    rt_expect_invalid(reg, text, word);
    free(text);
}

START_TEST(plan_refuses_bad_options_with_their_position)
{
    const char *schema = "      schema: { id: int64 }\n";
    char *w;
    expect_refused(schema, "one of topic, topics or topic_pattern");
    expect_refused(w = tu_fmt("      topic: a\n      topics: [b]\n%s", schema), "not topic and topics");
    free(w);
    expect_refused(w = tu_fmt("      topic: a\n      topic_pattern: \"^x\"\n%s", schema), "not topic and topic_pattern");
    free(w);
    expect_refused(w = tu_fmt("      topic_pattern: \"(\"\n%s", schema), "topic_pattern:");
    free(w);
    expect_refused(w = tu_fmt("      topic_pattern: \"((a{255}){255}){255}\"\n%s", schema), "too large");
    free(w);
    expect_refused(w = tu_fmt("      topic: \"a b\"\n%s", schema), "not a Kafka topic name");
    free(w);
    expect_refused(w = tu_fmt("      topic: a\n      start: yesterday\n%s", schema), "start must be");
    free(w);
    expect_refused(w = tu_fmt("      topic: a\n      start: \"timestamp:soon\"\n%s", schema), "timestamp:<ms>");
    free(w);
    expect_refused(w = tu_fmt("      topic: a\n      start: group\n%s", schema), "set group_id");
    free(w);
    expect_refused("      topic: a\n      format: raw\n      schema: { a: string, b: string }\n", "exactly one string");
    expect_refused(w = tu_fmt("      topic: a\n      format: xml\n%s", schema), "format must be");
    free(w);
    expect_refused(w = tu_fmt("      topic: a\n      stop_at: never\n%s", schema), "stop_at must be");
    free(w);
    expect_refused(w = tu_fmt("      topic: a\n      on_error: ignore\n%s", schema), "on_error must be");
    free(w);
    expect_refused(w = tu_fmt("      topic: a\n      on_error: dead_letter\n%s", schema), "needs dead_letter_topic");
    free(w);
    expect_refused(w = tu_fmt("      topic: a\n      on_error: dead_letter\n      dead_letter_topic: a\n%s", schema),
                   "is a topic this source reads");
    free(w);
    expect_refused(w = tu_fmt("      topic: a\n      timestamp_column: id\n%s", schema), "has a column 'id'");
    free(w);
    expect_refused(w = tu_fmt("      topic: a\n      properties: { enable.auto.commit: \"true\" }\n%s", schema),
                   "enable.auto.commit");
    free(w);
    expect_refused(w = tu_fmt("      topic: a\n      properties: { no.such.property: 1 }\n%s", schema), "no.such.property");
    free(w);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("kafka_source");
    TCase *tc = tcase_create("kafka_source");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, bounded_read_of_three_partitions_gives_exactly_the_json_rows);
    tcase_add_test(tc, bounded_read_gives_exactly_the_csv_rows);
    tcase_add_test(tc, bounded_read_gives_exactly_the_raw_values);
    tcase_add_test(tc, parallelism_two_splits_the_partitions_and_reads_them_all);
    tcase_add_test(tc, bounded_subtasks_without_partitions_and_empty_partitions_end_at_once);
    tcase_add_test(tc, start_timestamp_after_every_message_reads_nothing);
    tcase_add_test(tc, start_latest_reads_only_what_arrives_after_the_start);
    tcase_add_test(tc, start_latest_fails_when_the_metadata_cannot_be_read_at_the_start);
    tcase_add_test(tc, timestamp_column_drives_per_partition_watermarks_and_event_time_windows);
    tcase_add_test(tc, an_idle_partition_does_not_hold_the_watermark_back);
    tcase_add_test(tc, the_job_keeps_reading_across_a_broker_outage);
    tcase_add_test(tc, a_bad_record_fails_the_job_naming_topic_partition_and_offset);
    tcase_add_test(tc, on_error_skip_counts_the_bad_records_and_reads_the_rest);
    tcase_add_test(tc, on_error_dead_letter_writes_the_bad_records_to_the_topic);
    tcase_add_test(tc, restored_run_resumes_at_the_checkpointed_offsets);
    tcase_add_test(tc, restore_at_another_parallelism_reassigns_the_checkpointed_partitions);
    tcase_add_test(tc, a_restore_skips_the_checkpointed_topics_no_longer_wanted);
    tcase_add_test(tc, a_corrupt_offsets_element_fails_the_restore_naming_it);
    tcase_add_test(tc, topic_pattern_discovers_topics_created_while_running);
    tcase_add_test(tc, start_group_reads_from_the_offsets_committed_at_checkpoints);
    tcase_add_test(tc, plan_refuses_bad_options_with_their_position);
    suite_add_tcase(s, tc);
    return s;
}

TU_MAIN(suite)
