/*
 * test_kafka.c — Check suite "kafka": the Kafka connectors end to end, `runnel run` as a real
 * process against librdkafka's mock cluster, which each test runs in its own process through
 * kafka_client.h (so that it can inject faults: rd_kafka_mock_broker_set_down/up, request
 * errors, round-trip times).
 *
 * The data set: 20,000 JSON records {"key": "k<i % 10>", "amount": i} over 4 partitions
 * (record i to partition i % 4), event time in the Kafka timestamp, 5 ms apart, ascending in
 * every partition, in record batches of 25 (the mock answers a fetch with one record batch per
 * partition, so that a round-trip time set on the brokers paces the source: ~3 s per run at
 * 15 ms). The job: kafka_source (stop_at: latest, timestamp_column) -> window_aggregate
 * (tumbling 1 s of event time, count and sum per key) -> kafka_sink (exactly_once), checkpoints
 * every 150 ms. Its output topic, read with read_committed, must hold exactly the 1,000 window
 * rows computed here; after kill -9 and --restore, and through broker faults, every expected
 * row must be there and nothing else: librdkafka 2.0.2's mock does not hide aborted
 * transactions, so whole rows may appear twice there, but a duplicate is always identical to
 * its expected row (a partial window would be an unexpected row).
 *
 * Beside it, `runnel kafka` (the runnel-kafka tool through the runnel CLI): mock, consume and
 * bad arguments. Environment (tests/integration/meson.build): RUNNEL; runnel loads the Kafka
 * plugin from build/runtime/plugins next to it. Every child is killed and reaped by the end of
 * its test; files live in a temporary directory removed after each test.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "child.h"
#include "kafka_client.h"
#include "testutil.h"

static char *case_dir;

static void case_setup(void) { case_dir = child_case_dir_make("runnel-kafka"); }
static void case_teardown(void) { child_case_dir_remove(case_dir); }
static void setup(void) { tu_tmp_setup("test"); }
static void teardown(void) { tu_tmp_teardown(); }

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

/* The end of a child's output, for failure messages (Check refuses very long ones). */
static const char *tail(const char *s)
{
    size_t n = strlen(s);
    return n > 2500 ? s + n - 2500 : s;
}
#define TMO 20000

enum { RECORDS = 20000, PARTITIONS = 4, KEYS = 10, STEP_MS = 5, WINDOW_MS = 1000, BATCH = 25 };
static const int64_t BASE_TS = 1700000000000LL; /* a whole second */

/* ------------------------------------------------------------------------------------------ */
/* the data set and the expected windows                                                      */
/* ------------------------------------------------------------------------------------------ */

static int64_t dr_failed;
static char dr_err[256];

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    if (m->err && dr_failed++ == 0) snprintf(dr_err, sizeof dr_err, "%s", rd_kafka_message_errstr(m));
}

/* Produces the data set to topic `events` in record batches of BATCH (a producer of the test's
 * own: kafka_client's batches are large). */
static void produce_data_set(const char *bootstrap)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    ck_assert_int_eq(rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err, sizeof err), RD_KAFKA_CONF_OK);
    ck_assert_int_eq(rd_kafka_conf_set(conf, "batch.num.messages", "25", err, sizeof err), RD_KAFKA_CONF_OK);
    ck_assert_int_eq(rd_kafka_conf_set(conf, "linger.ms", "20", err, sizeof err), RD_KAFKA_CONF_OK);
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    ck_assert_msg(rk, "producer: %s", err);
    dr_failed = 0;
    char value[64];
    for (int i = 0; i < RECORDS; i++) {
        int len = snprintf(value, sizeof value, "{\"key\":\"k%d\",\"amount\":%d}", i % KEYS, i);
        rd_kafka_resp_err_t e;
        while ((e = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC("events"), RD_KAFKA_V_PARTITION(i % PARTITIONS),
                                      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_VALUE(value, (size_t)len),
                                      RD_KAFKA_V_TIMESTAMP(BASE_TS + (int64_t)i * STEP_MS), RD_KAFKA_V_END)) ==
               RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(rk, 10);
        ck_assert_msg(!e, "produce record %d: %s", i, rd_kafka_err2str(e));
        rd_kafka_poll(rk, 0);
    }
    ck_assert_msg(rd_kafka_flush(rk, TMO) == RD_KAFKA_RESP_ERR_NO_ERROR, "the data set was not acknowledged in time");
    ck_assert_msg(dr_failed == 0, "%" PRId64 " records failed: %s", dr_failed, dr_err);
    rd_kafka_destroy(rk);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The window rows, as kafka_sink writes them, sorted; *n their number. */
static char **expected_rows(size_t *n)
{
    int windows = (RECORDS * STEP_MS + WINDOW_MS - 1) / WINDOW_MS;
    int64_t count[windows][KEYS], sum[windows][KEYS];
    memset(count, 0, sizeof count);
    memset(sum, 0, sizeof sum);
    for (int i = 0; i < RECORDS; i++) {
        int w = (int)((int64_t)i * STEP_MS / WINDOW_MS);
        count[w][i % KEYS]++;
        sum[w][i % KEYS] += i;
    }
    char **rows = malloc((size_t)windows * KEYS * sizeof *rows);
    ck_assert(rows);
    *n = 0;
    for (int w = 0; w < windows; w++)
        for (int k = 0; k < KEYS; k++)
            if (count[w][k]) {
                int64_t start = BASE_TS + (int64_t)w * WINDOW_MS;
                rows[(*n)++] = tu_fmt("{\"key\":\"k%d\",\"window_start\":%" PRId64 ",\"window_end\":%" PRId64
                                      ",\"n\":%" PRId64 ",\"total\":%" PRId64 "}",
                                      k, start, start + WINDOW_MS, count[w][k], sum[w][k]);
            }
    qsort(rows, *n, sizeof *rows, cmp_str);
    return rows;
}

static void rows_free(char **rows, size_t n)
{
    for (size_t i = 0; i < n; i++) free(rows[i]);
    free(rows);
}

/* What topic `out` holds for read_committed readers: how often each expected row is there, and
 * the rows that are not expected (the first, and how many). */
struct out_check {
    size_t got, distinct, missing, unexpected, duplicates;
    char first_missing[256], first_unexpected[256];
};

static struct out_check check_output(const char *bootstrap)
{
    size_t n_exp;
    char **exp = expected_rows(&n_exp);
    int *seen = calloc(n_exp, sizeof *seen);
    ck_assert(seen);
    struct rnk_msgs msgs;
    char why[512];
    ck_assert_msg(rnk_consume_all(bootstrap, "out", true, TMO, &msgs, why, sizeof why) == 0, "read out: %s", why);
    struct out_check c = {.got = msgs.n};
    for (size_t i = 0; i < msgs.n; i++) {
        const char *v = msgs.v[i].value ? msgs.v[i].value : "(tombstone)";
        char **hit = bsearch(&v, exp, n_exp, sizeof *exp, cmp_str);
        if (!hit) {
            if (c.unexpected++ == 0) snprintf(c.first_unexpected, sizeof c.first_unexpected, "%s", v);
            continue;
        }
        if (seen[hit - exp]++) c.duplicates++;
    }
    for (size_t i = 0; i < n_exp; i++) {
        if (seen[i]) c.distinct++;
        else if (c.missing++ == 0) snprintf(c.first_missing, sizeof c.first_missing, "%s", exp[i]);
    }
    rnk_msgs_free(&msgs);
    free(seen);
    rows_free(exp, n_exp);
    return c;
}

/* Every expected row at least once and nothing else; exactly once when exact. */
static void expect_output(const char *bootstrap, bool exact, const char *context, const struct child *run)
{
    struct out_check c = check_output(bootstrap);
    ck_assert_msg(c.unexpected == 0, "%s: %zu unexpected rows in out (partial or wrong windows), first: %s\nstderr:\n%s",
                  context, c.unexpected, c.first_unexpected, tail(run->err.buf));
    ck_assert_msg(c.missing == 0, "%s: %zu expected rows missing from out (of %zu read), first: %s\nstderr:\n%s", context,
                  c.missing, c.got, c.first_missing, tail(run->err.buf));
    if (exact)
        ck_assert_msg(c.duplicates == 0, "%s: %zu duplicate rows in out\nstderr:\n%s", context, c.duplicates,
                      tail(run->err.buf));
    fprintf(stderr, "kafka: %s: %zu rows read, %zu distinct, %zu duplicates\n", context, c.got, c.distinct,
            c.duplicates);
}

/* ------------------------------------------------------------------------------------------ */
/* the cluster, the job, the runs                                                             */
/* ------------------------------------------------------------------------------------------ */

static rnk_mock *cluster_with_data(int brokers)
{
    char why[512];
    rnk_mock *m = rnk_mock_start(brokers, why, sizeof why);
    ck_assert_msg(m, "mock: %s", why);
    ck_assert_msg(rnk_mock_create_topic(m, "events", PARTITIONS, why, sizeof why) == 0, "%s", why);
    ck_assert_msg(rnk_mock_create_topic(m, "out", 2, why, sizeof why) == 0, "%s", why);
    produce_data_set(rnk_mock_bootstrap(m));
    return m;
}

static void set_rtt(rnk_mock *m, int ms)
{
    ck_assert_int_eq(rd_kafka_mock_broker_set_rtt(rnk_mock_cluster(m), -1, ms), 0);
}

/* Writes <tmp>/job.yaml; returns its path. The checkpoints go to <tmp>/ckpt/kwin. */
static char *write_job(const char *bootstrap, const char *restart)
{
    char *ckpt = tu_tmp_path("ckpt");
    char *text = tu_fmt("name: kwin\n"
                        "parallelism: 2\n"
                        "checkpoint: { interval: 150ms, dir: \"%s\" }\n"
                        "restart: %s\n"
                        "operators:\n"
                        "  - id: src\n"
                        "    type: kafka_source\n"
                        "    with:\n"
                        "      bootstrap_servers: \"%s\"\n"
                        "      topic: events\n"
                        "      stop_at: latest\n"
                        "      format: json\n"
                        "      schema: { key: string, amount: int64 }\n"
                        "      timestamp_column: kafka_ts\n"
                        "    watermark: { column: kafka_ts, max_out_of_orderness: 50ms }\n"
                        "  - id: win\n"
                        "    type: window_aggregate\n"
                        "    input: src\n"
                        "    key_by: key\n"
                        "    with:\n"
                        "      window: { type: tumbling, size: 1s }\n"
                        "      aggregates: { n: \"count(*)\", total: \"sum(amount)\" }\n"
                        "  - id: out\n"
                        "    type: kafka_sink\n"
                        "    input: win\n"
                        "    with: { bootstrap_servers: \"%s\", topic: out, format: json, delivery: exactly_once }\n",
                        ckpt, restart, bootstrap, bootstrap);
    char *path = tu_tmp_path("job.yaml");
    tu_write_file(path, text);
    free(text);
    free(ckpt);
    return path;
}

static void expect_exit(const struct child *c, int code, const char *what)
{
    ck_assert_msg(child_exit_code(c) == code, "%s: exit status %d (status word %d), expected %d\nstdout:\n%s\nstderr:\n%s",
                  what, child_exit_code(c), c->status, code, c->out.buf, tail(c->err.buf));
}

static void run_to_end(struct child *c, double timeout_s, const char *const *args)
{
    child_start(c, args);
    ck_assert_msg(child_wait(c, timeout_s), "runnel %s did not end within %.0f s\nstderr:\n%s", args[0], timeout_s,
                  tail(c->err.buf));
}

/* Waits until the running child logged n completed checkpoints (at most timeout_s). */
static void wait_checkpoints(struct child *c, int n, double timeout_s)
{
    double deadline = child_now() + timeout_s;
    while (child_completed_checkpoints(tail(c->err.buf)) < n) {
        ck_assert_msg(!child_pump(c, 20), "the run ended (status word %d) before %d completed checkpoints\nstderr:\n%s",
                      c->status, n, tail(c->err.buf));
        ck_assert_msg(child_now() < deadline, "%d checkpoints did not complete within %.0f s\nstderr:\n%s", n, timeout_s,
                      tail(c->err.buf));
    }
}

/* Pumps the running child for s seconds; fails when it ends meanwhile. */
static void keep_running(struct child *c, double s, const char *what)
{
    double until = child_now() + s;
    while (child_now() < until)
        ck_assert_msg(!child_pump(c, 20), "%s: the run ended (status word %d) too early\nstderr:\n%s", what, c->status,
                      tail(c->err.buf));
}

/* ------------------------------------------------------------------------------------------ */
/* tests                                                                                      */
/* ------------------------------------------------------------------------------------------ */

START_TEST(windowed_job_from_kafka_to_kafka_writes_every_window_once)
{
    rnk_mock *m = cluster_with_data(2);
    const char *b = rnk_mock_bootstrap(m);
    char *job = write_job(b, "{ strategy: none }");
    struct child run;
    run_to_end(&run, 60, ARGS("run", job));
    expect_exit(&run, 0, "runnel run");
    ck_assert_msg(strstr(tail(run.err.buf), "late_dropped=0"), "rows were late:\n%s", tail(run.err.buf));
    expect_output(b, true, "failure-free run", &run);
    child_free(&run);
    free(job);
    rnk_mock_stop(m);
}
END_TEST

START_TEST(kill_9_mid_way_and_restore_loses_no_window)
{
    rnk_mock *m = cluster_with_data(2);
    const char *b = rnk_mock_bootstrap(m);
    char *job = write_job(b, "{ strategy: none }");
    char *jobdir = tu_tmp_path("ckpt/kwin");
    set_rtt(m, 15); /* ~3 s of reading */

    struct child run;
    child_start(&run, ARGS("run", job));
    wait_checkpoints(&run, 2, 30);
    ck_assert_msg(!run.exited, "the run ended before the kill");
    child_kill(&run);
    ck_assert_int_eq(child_exit_code(&run), -1);
    struct out_check mid = check_output(b);
    fprintf(stderr, "kafka: at the kill, out held %zu rows (%zu distinct)\n", mid.got, mid.distinct);
    ck_assert_msg(mid.unexpected == 0, "after the kill: unexpected row %s", mid.first_unexpected);

    set_rtt(m, 0);
    struct child again;
    run_to_end(&again, 60, ARGS("run", job, "--restore", jobdir));
    expect_exit(&again, 0, "runnel run --restore");
    expect_output(b, false, "killed and restored", &again);
    child_free(&run);
    child_free(&again);
    free(jobdir);
    free(job);
    rnk_mock_stop(m);
}
END_TEST

START_TEST(broker_down_and_up_during_a_run_loses_nothing)
{
    rnk_mock *m = cluster_with_data(3);
    const char *b = rnk_mock_bootstrap(m);
    char *job = write_job(b, "{ strategy: fixed-delay, attempts: 10, delay: 200ms }");
    set_rtt(m, 10);
    /* broker 2 leads partitions 1 and 3 of the input and partition 0 of the output */
    rd_kafka_mock_cluster_t *mc = rnk_mock_cluster(m);
    static const int32_t events_leaders[PARTITIONS] = {1, 2, 3, 2}, out_leaders[2] = {2, 1};
    for (int p = 0; p < PARTITIONS; p++)
        ck_assert_int_eq(rd_kafka_mock_partition_set_leader(mc, "events", p, events_leaders[p]), 0);
    for (int p = 0; p < 2; p++) ck_assert_int_eq(rd_kafka_mock_partition_set_leader(mc, "out", p, out_leaders[p]), 0);

    struct child run;
    child_start(&run, ARGS("run", job));
    wait_checkpoints(&run, 1, 30);
    ck_assert_int_eq(rd_kafka_mock_broker_set_down(rnk_mock_cluster(m), 2), 0);
    keep_running(&run, 1.5, "broker 2 down");
    ck_assert_int_eq(rd_kafka_mock_broker_set_up(rnk_mock_cluster(m), 2), 0);
    ck_assert_msg(child_wait(&run, 90), "the run did not end within 90 s after the broker came back\nstderr:\n%s",
                  tail(run.err.buf));
    expect_exit(&run, 0, "runnel run through a broker outage");
    expect_output(b, false, "broker down and up", &run);
    child_free(&run);
    free(job);
    rnk_mock_stop(m);
}
END_TEST

START_TEST(injected_request_errors_lose_nothing)
{
    rnk_mock *m = cluster_with_data(2);
    const char *b = rnk_mock_bootstrap(m);
    char *job = write_job(b, "{ strategy: fixed-delay, attempts: 10, delay: 200ms }");
    set_rtt(m, 10);
    rd_kafka_mock_cluster_t *mc = rnk_mock_cluster(m);

    struct child run;
    child_start(&run, ARGS("run", job));
    wait_checkpoints(&run, 1, 30);
    /* retriable errors on the sink's produce requests and on the source's fetches (API keys:
     * Produce 0, Fetch 1, EndTxn 26) */
    rd_kafka_mock_push_request_errors(mc, 0, 4, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
                                      RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
                                      RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE);
    rd_kafka_mock_push_request_errors(mc, 1, 3, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
                                      RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT);
    rd_kafka_mock_push_request_errors(mc, 26, 2, RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS,
                                      RD_KAFKA_RESP_ERR_CONCURRENT_TRANSACTIONS);
    ck_assert_msg(child_wait(&run, 90), "the run did not end within 90 s\nstderr:\n%s", tail(run.err.buf));
    expect_exit(&run, 0, "runnel run with injected request errors");
    expect_output(b, false, "injected request errors", &run);
    child_free(&run);
    free(job);
    rnk_mock_stop(m);
}
END_TEST

/* ---- runnel kafka: the tool through the CLI ---- */

START_TEST(runnel_kafka_mock_serves_its_topics_until_sigterm)
{
    char *pf = tu_tmp_path("bootstrap");
    struct child mock;
    child_start(&mock, ARGS("kafka", "mock", "--brokers", "2", "--topic", "a:3", "--topic", "b", "--port-file", pf));
    double deadline = child_now() + 30;
    struct stat st;
    while (stat(pf, &st) != 0) {
        ck_assert_msg(!child_pump(&mock, 20), "the mock ended\nstderr:\n%s", tail(mock.err.buf));
        ck_assert_msg(child_now() < deadline, "no port file within 30 s\nstderr:\n%s", tail(mock.err.buf));
    }
    char *text = tu_slurp(pf);
    ck_assert_ptr_nonnull(text);
    text[strcspn(text, "\n")] = 0;
    ck_assert_msg(!strncmp(text, "127.0.0.1:", 10) && strchr(text, ','), "bootstrap list '%s'", text);
    while (!strstr(mock.out.buf, "\n")) ck_assert(!child_pump(&mock, 20));
    char *line = tu_fmt("bootstrap.servers=%s\n", text);
    ck_assert_str_eq(mock.out.buf, line);
    char why[512];
    ck_assert_int_eq(rnk_partitions(text, "a", TMO, why, sizeof why), 3);
    ck_assert_int_eq(rnk_partitions(text, "b", TMO, why, sizeof why), 1);

    /* consume prints the values, and with --keys the keys */
    const char *values[] = {"one", "two"}, *keys[] = {"x", "y"};
    ck_assert_msg(rnk_produce(text, "b", 0, values, keys, NULL, 2, TMO, why, sizeof why) == 0, "%s", why);
    struct child c;
    run_to_end(&c, 30, ARGS("kafka", "consume", "--bootstrap", text, "--topic", "b"));
    expect_exit(&c, 0, "runnel kafka consume");
    ck_assert_str_eq(c.out.buf, "one\ntwo\n");
    child_free(&c);
    run_to_end(&c, 30, ARGS("kafka", "consume", "--bootstrap", text, "--topic", "b", "--keys", "--read-committed"));
    expect_exit(&c, 0, "runnel kafka consume --keys");
    ck_assert_str_eq(c.out.buf, "x\tone\ny\ttwo\n");
    child_free(&c);
    /* a topic that does not exist: exit 1 naming it and the brokers */
    run_to_end(&c, 30, ARGS("kafka", "consume", "--bootstrap", text, "--topic", "nope"));
    expect_exit(&c, 1, "runnel kafka consume of a missing topic");
    ck_assert_msg(strstr(tail(c.err.buf), "nope") && strstr(tail(c.err.buf), text), "%s", tail(c.err.buf));
    child_free(&c);
    /* produce reads stdin (here /dev/null: nothing) */
    run_to_end(&c, 30, ARGS("kafka", "produce", "--bootstrap", text, "--topic", "a"));
    expect_exit(&c, 0, "runnel kafka produce");
    ck_assert_msg(strstr(tail(c.err.buf), "0 messages to a"), "%s", tail(c.err.buf));
    child_free(&c);

    ck_assert_int_eq(kill(mock.pid, SIGTERM), 0);
    ck_assert_msg(child_wait(&mock, 30), "the mock did not stop on SIGTERM");
    expect_exit(&mock, 0, "runnel kafka mock after SIGTERM");
    ck_assert_int_ne(stat(pf, &st), 0); /* the port file goes with it */
    child_free(&mock);
    free(line);
    free(text);
    free(pf);
}
END_TEST

START_TEST(runnel_kafka_bad_arguments_exit_2)
{
    static const char *const cases[][6] = {
        {"kafka", NULL},
        {"kafka", "frobnicate", NULL},
        {"kafka", "mock", "--brokers", "0", NULL},
        {"kafka", "mock", "--topic", "t:0", NULL},
        {"kafka", "mock", "--bogus", NULL},
        {"kafka", "produce", "--topic", "t", NULL},
        {"kafka", "consume", "--bootstrap", "127.0.0.1:1", NULL},
        {"kafka", "produce", "--bootstrap", "127.0.0.1:1", "--partition", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct child c;
        run_to_end(&c, 30, cases[i]);
        char *what = tu_fmt("runnel %s %s", cases[i][0], cases[i][1] ? cases[i][1] : "");
        expect_exit(&c, 2, what);
        ck_assert_msg(strstr(tail(c.err.buf), "runnel-kafka"), "%s: no message\n%s", what, tail(c.err.buf));
        free(what);
        child_free(&c);
    }
}
END_TEST

START_TEST(runnel_kafka_produce_to_an_unreachable_broker_fails_naming_it)
{
    struct child c;
    run_to_end(&c, 60, ARGS("kafka", "produce", "--bootstrap", "127.0.0.1:1", "--topic", "t", "--timeout-ms", "1000"));
    expect_exit(&c, 1, "runnel kafka produce to a closed port");
    ck_assert_msg(strstr(tail(c.err.buf), "127.0.0.1:1") && strstr(tail(c.err.buf), " t "), "%s", tail(c.err.buf));
    child_free(&c);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("kafka");
    TCase *tc = tcase_create("jobs");
    tcase_add_unchecked_fixture(tc, case_setup, case_teardown);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, windowed_job_from_kafka_to_kafka_writes_every_window_once);
    tcase_add_test(tc, kill_9_mid_way_and_restore_loses_no_window);
    tcase_add_test(tc, broker_down_and_up_during_a_run_loses_nothing);
    tcase_add_test(tc, injected_request_errors_lose_nothing);
    suite_add_tcase(s, tc);

    tc = tcase_create("tool");
    tcase_add_unchecked_fixture(tc, case_setup, case_teardown);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, runnel_kafka_mock_serves_its_topics_until_sigterm);
    tcase_add_test(tc, runnel_kafka_bad_arguments_exit_2);
    tcase_add_test(tc, runnel_kafka_produce_to_an_unreachable_broker_fails_naming_it);
    suite_add_tcase(s, tc);
    return s;
}

TU_MAIN(make_suite)
