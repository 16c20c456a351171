/*
 * test_kafka_sink.c — the `kafka_sink` runtime suite: jobs run in-process (registry with the
 * Kafka plugin, validator, runner) from datagen into kafka_sink, writing to a librdkafka mock
 * cluster that each test starts on 127.0.0.1 (kafka_client.h) and stops; what the sink wrote is
 * read back with rnk_consume_all and compared with the rows datagen makes.
 *
 * What the mock of librdkafka 2.0.2 can and cannot show: it runs the transactional protocol
 * (InitProducerId, AddPartitionsToTxn, EndTxn), so the flow — a transaction per checkpoint,
 * commits, aborts, re-initialised ids — is exercised for real; it does not hide aborted
 * transactions from read_committed readers and does not fence older producers, so after a
 * crash and restore rows may be there twice (at least once is what is checked there).
 *
 * Environment (tests/runtime/meson.build): RUNNEL_KAFKA_PLUGIN_DIR (where runnel_kafka.so is).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka_client.h"
#include "kafkatest.h"
#include "runnel/checkpoint.h"
#include "runnel/runner.h"
#include "runnel/state.h"
#include "rtutil.h"
#include "testutil.h"

#define WAIT_MS 20000

static rnk_mock *mock;
static rn_registry *reg;

static void setup(void) { kt_setup("runnel-kafka-sink", &mock, &reg); }

static void teardown(void) { kt_teardown(mock, reg); }

static void topic(const char *name, int partitions) { kt_topic(mock, name, partitions); }

static struct rnk_msgs consume(const char *t, bool committed)
{
    struct rnk_msgs m = {0};
    char why[512];
    ck_assert_msg(rnk_consume_all(rnk_mock_bootstrap(mock), t, committed, WAIT_MS, &m, why, sizeof why) == 0, "%s",
                  why);
    return m;
}

/* The values (and, with keys, "key|value") of the messages, as lines. */
static struct rt_lines values_of(const struct rnk_msgs *m, bool keys)
{
    struct rt_lines l = {0};
    for (size_t i = 0; i < m->n; i++) {
        const struct rnk_msg *g = &m->v[i];
        if (keys) rt_lines_addf(&l, "%s|%s", g->key ? g->key : "<none>", g->value ? g->value : "<null>");
        else rt_lines_addf(&l, "%s", g->value ? g->value : "<null>");
    }
    return l;
}

/* Runs text (a printf format: the mock's address is its one %s, and %% stands for %) to its
 * end; returns node sink's metric. */
static uint64_t run_ok(const char *text, const char *metric)
{
    char *t = tu_fmt(text, rnk_mock_bootstrap(mock));
    struct rn_job *job = rt_parse_ok(reg, t);
    uint64_t v = rt_run_ok(job, "sink", metric);
    rn_job_free(job);
    free(t);
    return v;
}

/* ---- at_least_once ---- */

START_TEST(at_least_once_writes_every_row_as_json_with_its_key)
{
    topic("out", 3);
    uint64_t written = run_ok("name: alo\nparallelism: 2\noperators:\n"
                              "  - id: gen\n    type: datagen\n"
                              "    with: { rows: 3000, fields: { id: seq, name: \"concat('n', seq %% 7)\" } }\n"
                              "  - id: sink\n    type: kafka_sink\n    input: gen\n"
                              "    with: { bootstrap_servers: '%s', topic: out, key: id }\n",
                              "records_written");
    ck_assert_uint_eq(written, 3000);
    struct rnk_msgs m = consume("out", false);
    struct rt_lines got = values_of(&m, true), want = {0};
    for (int i = 0; i < 3000; i++) rt_lines_addf(&want, "%d|{\"id\":%d,\"name\":\"n%d\"}", i, i, i % 7);
    rt_lines_expect_sorted(&got, &want, "messages");
    rt_lines_free(&got);
    rt_lines_free(&want);
    rnk_msgs_free(&m);
}
END_TEST

START_TEST(at_least_once_writes_csv_with_a_string_key_and_delimiter)
{
    topic("csv", 1);
    run_ok("name: csv\noperators:\n"
           "  - id: gen\n    type: datagen\n"
           "    with: { rows: 500, fields: { a: seq, b: \"seq * 0.5\", c: \"concat('x;', seq)\" } }\n"
           "  - id: sink\n    type: kafka_sink\n    input: gen\n"
           "    with: { bootstrap_servers: '%s', topic: csv, format: csv, delimiter: ';', key: \"upper(c)\" }\n",
           NULL);
    struct rnk_msgs m = consume("csv", false);
    struct rt_lines got = values_of(&m, true), want = {0};
    for (int i = 0; i < 500; i++) {
        char b[32];
        snprintf(b, sizeof b, "%g", i * 0.5);
        rt_lines_addf(&want, "X;%d|%d;%s;\"x;%d\"", i, i, b, i);
    }
    /* one partition: the order is the order of the rows */
    rt_lines_expect(&got, &want, "messages");
    rt_lines_free(&got);
    rt_lines_free(&want);
    rnk_msgs_free(&m);
}
END_TEST

START_TEST(raw_format_writes_the_string_column_and_a_null_as_a_tombstone)
{
    topic("raw", 1);
    run_ok("name: raw\noperators:\n"
           "  - id: gen\n    type: datagen\n"
           "    with: { rows: 100, fields: { v: \"CASE WHEN seq %% 10 = 3 THEN CAST(NULL AS string) "
           "ELSE concat('value-', seq) END\" } }\n"
           "  - id: sink\n    type: kafka_sink\n    input: gen\n"
           "    with: { bootstrap_servers: '%s', topic: raw, format: raw }\n",
           NULL);
    struct rnk_msgs m = consume("raw", false);
    struct rt_lines got = values_of(&m, true), want = {0};
    for (int i = 0; i < 100; i++)
        if (i % 10 == 3) rt_lines_addf(&want, "<none>|<null>");
        else rt_lines_addf(&want, "<none>|value-%d", i);
    rt_lines_expect(&got, &want, "messages");
    rt_lines_free(&got);
    rt_lines_free(&want);
    rnk_msgs_free(&m);
}
END_TEST

START_TEST(null_key_values_give_messages_without_a_key)
{
    topic("nk", 2);
    run_ok("name: nk\noperators:\n"
           "  - id: gen\n    type: datagen\n"
           "    with: { rows: 200, fields: { id: seq, t: \"to_timestamp(seq)\", "
           "k: \"CASE WHEN seq %% 2 = 0 THEN seq %% 3 = 0 ELSE CAST(NULL AS bool) END\" } }\n"
           "  - id: sink\n    type: kafka_sink\n    input: gen\n"
           "    with: { bootstrap_servers: '%s', topic: nk, key: k, format: csv }\n",
           NULL);
    struct rnk_msgs m = consume("nk", false);
    struct rt_lines got = values_of(&m, true), want = {0};
    for (int i = 0; i < 200; i++) {
        const char *k = i % 2 ? "<none>" : i % 3 == 0 ? "true" : "false";
        rt_lines_addf(&want, "%s|%d,%d,%s", k, i, i, i % 2 ? "" : i % 3 == 0 ? "true" : "false");
    }
    rt_lines_expect_sorted(&got, &want, "messages");
    rt_lines_free(&got);
    rt_lines_free(&want);
    rnk_msgs_free(&m);
}
END_TEST

START_TEST(at_least_once_flushes_at_checkpoints)
{
    topic("ck", 2);
    char *dir = tu_tmp_path("chk");
    char *t = tu_fmt("name: alock\nparallelism: 2\ncheckpoint: { interval: 50ms, dir: %s }\noperators:\n"
                     "  - id: gen\n    type: datagen\n"
                     "    with: { rows: 2000, rate_limit: 4000, fields: { id: seq } }\n"
                     "  - id: sink\n    type: kafka_sink\n    input: gen\n"
                     "    with: { bootstrap_servers: '%%s', topic: ck, format: csv }\n",
                     dir);
    run_ok(t, NULL);
    struct rnk_msgs m = consume("ck", false);
    struct rt_lines got = values_of(&m, false), want = {0};
    for (int i = 0; i < 2000; i++) rt_lines_addf(&want, "%d", i);
    rt_lines_expect_sorted(&got, &want, "messages");
    rt_lines_free(&got);
    rt_lines_free(&want);
    rnk_msgs_free(&m);
    free(t);
    free(dir);
}
END_TEST

/* ---- exactly_once ---- */

static const char eo_job[] = "name: eo\nparallelism: %d\ncheckpoint: { interval: 50ms, dir: %s }\noperators:\n"
                             "  - id: gen\n    type: datagen\n"
                             "    with: { rows: %d, rate_limit: %d, fields: { id: seq } }\n"
                             "  - id: sink\n    type: kafka_sink\n    input: gen\n"
                             "    with: { bootstrap_servers: '%s', topic: eo, format: csv, key: id, "
                             "delivery: exactly_once, transaction_timeout: 1min }\n";

/* The ids in the values of eo's messages, counted: every one of 0 .. n-1 at least once (and,
 * when once, exactly once). */
static void expect_ids(const struct rnk_msgs *m, int n, bool once)
{
    int *seen = calloc((size_t)n, sizeof *seen);
    ck_assert(seen);
    for (size_t i = 0; i < m->n; i++) {
        int v = atoi(m->v[i].value ? m->v[i].value : "-1");
        CHECK_MSG(v >= 0 && v < n, "unexpected message '%s'", m->v[i].value ? m->v[i].value : "<null>");
        CHECK_MSG(m->v[i].key && atoi(m->v[i].key) == v, "message %d has key '%s'", v, m->v[i].key ? m->v[i].key : "");
        seen[v]++;
    }
    for (int i = 0; i < n; i++) {
        CHECK_MSG(seen[i] >= 1, "row %d is missing (%zu messages)", i, m->n);
        CHECK_MSG(!once || seen[i] == 1, "row %d is there %d times", i, seen[i]);
    }
    free(seen);
}

START_TEST(exactly_once_commits_a_transaction_per_checkpoint)
{
    topic("eo", 2);
    char *dir = tu_tmp_path("chk");
    char *t = tu_fmt(eo_job, 2, dir, 3000, 3000, rnk_mock_bootstrap(mock));
    struct rn_job *job = rt_parse_ok(reg, t);
    struct rt_ckrun run = rt_ckrun_start(job, NULL);
    ck_assert_msg(rn_runner_wait(run.r, RT_RUN_WAIT_MS), "the job did not end");
    const char *why = NULL;
    CHECK_MSG(rn_runner_state(run.r, &why) == RN_RUN_FINISHED, "the job failed: %s", why ? why : "");
    struct rn_checkpoint_stats st;
    rn_runner_checkpoint_stats(run.r, &st);
    uint64_t committed = 0, aborted = 0, written = 0;
    const char *name;
    uint64_t v;
    int at = rn_job_find(job, "sink");
    for (uint32_t i = 0; rn_runner_node_metric(run.r, (uint32_t)at, i, &name, &v); i++) {
        if (!strcmp(name, "transactions_committed")) committed = v;
        if (!strcmp(name, "transactions_aborted")) aborted = v;
        if (!strcmp(name, "records_written")) written = v;
    }
    rt_ckrun_end(&run);
    /* at least one per subtask, and never more than one per subtask and checkpoint taken (with
     * the final one; a checkpoint that failed after the sink's snapshot pre-committed too; and the
     * one in flight when every task ended, which the engine gives up without counting it as
     * failed, after the sink may have pre-committed for it: + 1) */
    CHECK_MSG(committed >= 2 && committed <= 2 * (st.completed + st.failed + 1),
              "%llu transactions committed over %llu checkpoints (%llu failed: %s)", (unsigned long long)committed,
              (unsigned long long)st.completed, (unsigned long long)st.failed, st.last_error);
    ck_assert_uint_eq(aborted, 0);
    ck_assert_uint_eq(written, 3000);
    struct rnk_msgs m = consume("eo", true);
    expect_ids(&m, 3000, true);
    rnk_msgs_free(&m);
    rn_job_free(job);
    free(t);
    free(dir);
}
END_TEST

static uint64_t metric(struct rt_ckrun *run, const struct rn_job *job, const char *want);

/* ... and warns at the start that nothing is visible before the end of input. */
START_TEST(exactly_once_without_checkpoints_commits_at_the_end_and_warns)
{
    topic("eo1", 1);
    char *t = tu_fmt("name: eo1\noperators:\n"
                     "  - id: gen\n    type: datagen\n    with: { rows: 1000, fields: { id: seq } }\n"
                     "  - id: sink\n    type: kafka_sink\n    input: gen\n"
                     "    with: { bootstrap_servers: '%s', topic: eo1, format: csv, key: id, "
                     "delivery: exactly_once }\n",
                     rnk_mock_bootstrap(mock));
    struct rn_job *job = rt_parse_ok(reg, t);
    struct rt_ckrun run = rt_ckrun_start(job, NULL);
    ck_assert_msg(rn_runner_wait(run.r, RT_RUN_WAIT_MS), "the job did not end");
    const char *why = NULL;
    CHECK_MSG(rn_runner_state(run.r, &why) == RN_RUN_FINISHED, "the job failed: %s", why ? why : "");
    uint64_t committed = metric(&run, job, "transactions_committed");
    rt_ckrun_end(&run);
    rn_job_free(job);
    free(t);
    ck_assert_uint_eq(committed, 1);
    char *log = tu_tmp_path("job.log");
    char *lt = tu_slurp(log);
    ck_assert(lt);
    CHECK_MSG(strstr(lt, "exactly_once without a checkpoint: block") && strstr(lt, "only at the end of input"),
              "no warning that the rows become visible only at the end of input:\n%s", lt);
    free(lt);
    free(log);
    struct rnk_msgs m = consume("eo1", true);
    ck_assert_uint_eq(m.n, 1000);
    for (size_t i = 0; i < m.n; i++) CHECK_MSG(atoi(m.v[i].value) == (int)i, "message %zu: %s", i, m.v[i].value);
    rnk_msgs_free(&m);
}
END_TEST

/* The metric of node sink in a run. */
static uint64_t metric(struct rt_ckrun *run, const struct rn_job *job, const char *want)
{
    const char *name;
    uint64_t v, got = 0;
    int at = rn_job_find(job, "sink");
    for (uint32_t i = 0; rn_runner_node_metric(run->r, (uint32_t)at, i, &name, &v); i++)
        if (!strcmp(name, want)) got = v;
    return got;
}

/* Crash (cancel after 2 checkpoints) and restore at parallelism p2: every row at least once
 * (the mock does not hide the aborted transaction of the crashed run, so its rows may be there
 * twice), and the restored run re-initialised its pool — and, after a scale-down, the pools of
 * the old subtasks that are gone. */
static void crash_restore(int p1, int p2)
{
    topic("eo", 2);
    char *dir = tu_tmp_path("chk");
    char *t1 = tu_fmt(eo_job, p1, dir, 2000, 500, rnk_mock_bootstrap(mock));
    struct rn_job *job = rt_parse_ok(reg, t1);
    struct rt_ckrun run = rt_ckrun_start(job, NULL);
    rt_wait_checkpoints(&run, 2);
    /* a completed checkpoint reaches the sink's checkpoint_complete later, on its task's thread:
     * wait (bounded) for a commit rather than assume one happened by now */
    for (int waited = 0; waited < WAIT_MS && metric(&run, job, "transactions_committed") == 0; waited += 20)
        if (rn_runner_wait(run.r, 20)) break;
    rn_runner_cancel(run.r);
    ck_assert(rn_runner_wait(run.r, RT_RUN_WAIT_MS));
    ck_assert_uint_eq(metric(&run, job, "transactional_ids_initialised"), 4u * (unsigned)p1);
    uint64_t committed1 = metric(&run, job, "transactions_committed");
    CHECK_MSG(committed1 >= 1, "no transaction committed before the crash");
    rt_ckrun_end(&run);
    rn_job_free(job);

    char jobdir[4096], from[4096];
    struct rn_error err;
    snprintf(jobdir, sizeof jobdir, "%s/eo", dir);
    ck_assert_msg(!rn_checkpoint_resolve(jobdir, from, sizeof from, NULL, &err), "%s", err.msg);
    char *t2 = tu_fmt(eo_job, p2, dir, 2000, 20000, rnk_mock_bootstrap(mock));
    job = rt_parse_ok(reg, t2);
    run = rt_ckrun_start(job, from);
    ck_assert_msg(rn_runner_wait(run.r, RT_RUN_WAIT_MS), "the restored job did not end");
    const char *why = NULL;
    CHECK_MSG(rn_runner_state(run.r, &why) == RN_RUN_FINISHED, "the restored job failed: %s", why ? why : "");
    uint64_t inits = metric(&run, job, "transactional_ids_initialised");
    unsigned want = 4u * (unsigned)(p1 > p2 ? p1 : p2);
    CHECK_MSG(inits == want, "%llu transactional ids initialised at restore, want %u", (unsigned long long)inits, want);
    CHECK_MSG(metric(&run, job, "transactions_committed") >= 1, "the restored run committed nothing");
    rt_ckrun_end(&run);
    rn_job_free(job);

    struct rnk_msgs m = consume("eo", true);
    expect_ids(&m, 2000, false);
    rnk_msgs_free(&m);
    char *log = tu_tmp_path("job.log");
    char *text = tu_slurp(log);
    ck_assert(text);
    CHECK_MSG(strstr(text, "pre-committed for checkpoint"), "no log of the checkpoint's pending transactions");
    free(text);
    free(log);
    free(t1);
    free(t2);
    free(dir);
}

START_TEST(exactly_once_crash_and_restore_reinitialises_the_ids)
{
    crash_restore(1, 1);
}
END_TEST

START_TEST(exactly_once_restore_at_lower_parallelism_fences_the_old_subtasks_ids)
{
    crash_restore(2, 1);
}
END_TEST

START_TEST(exactly_once_cancel_aborts_the_open_transaction)
{
    topic("eo", 1);
    /* no checkpoints and an unbounded paced source: the open transaction has rows at the cancel */
    char *t = tu_fmt("name: eoc\noperators:\n"
                     "  - id: gen\n    type: datagen\n    with: { rate_limit: 2000, fields: { id: seq } }\n"
                     "  - id: sink\n    type: kafka_sink\n    input: gen\n"
                     "    with: { bootstrap_servers: '%s', topic: eo, format: csv, delivery: exactly_once }\n",
                     rnk_mock_bootstrap(mock));
    struct rn_job *job = rt_parse_ok(reg, t);
    struct rt_ckrun run = rt_ckrun_start(job, NULL);
    for (int i = 0; i < 400 && metric(&run, job, "records_written") == 0; i++) rn_runner_wait(run.r, 25);
    CHECK_MSG(metric(&run, job, "records_written") > 0, "nothing was written");
    rn_runner_cancel(run.r);
    ck_assert(rn_runner_wait(run.r, RT_RUN_WAIT_MS));
    ck_assert_uint_eq(metric(&run, job, "transactions_aborted"), 1);
    ck_assert_uint_eq(metric(&run, job, "transactions_committed"), 0);
    rt_ckrun_end(&run);
    rn_job_free(job);
    free(t);
}
END_TEST

/* ---- the replay of a transaction whose commit was lost ---- */

/* Run 1 (RUNNEL_KAFKA_SINK_TEST_SKIP_COMMIT=1): the first checkpoint with rows completes, the
 * sink's checkpoint_complete skips the commit and fails the task — a crash between a
 * checkpoint's completion and the commit. Run 2 restores from that checkpoint. The topic has
 * one partition, so the messages run 2 wrote follow run 1's: with replay they are every row
 * exactly once and in order (the replayed transaction, then what the sources produce after the
 * checkpoint); without, the rows of the lost transaction are missing from them. (On the mock,
 * run 1's uncommitted rows stay visible before them; a real broker hides them.) Returns the
 * restored run's transactions_replayed; *missing: rows 0.. absent from run 2's messages. */
static uint64_t lost_commit_restore(bool replay, int *missing)
{
    topic("eo", 1);
    char *dir = tu_tmp_path("chk");
    const char *opt = replay ? "" : ", replay: false";
    char *base = tu_fmt("%s", eo_job);
    /* eo_job with the replay option appended to the sink's options */
    char *at = strstr(base, "transaction_timeout: 1min");
    ck_assert(at);
    at += strlen("transaction_timeout: 1min");
    char *text = tu_fmt("%.*s%s%s", (int)(at - base), base, opt, at);
    /* text is still a format for tu_fmt: its %% stay */
    char *t1 = tu_fmt(text, 1, dir, 2000, 2000, rnk_mock_bootstrap(mock));
    struct rn_job *job = rt_parse_ok(reg, t1);
    setenv("RUNNEL_KAFKA_SINK_TEST_SKIP_COMMIT", "1", 1);
    struct rt_ckrun run = rt_ckrun_start(job, NULL);
    bool ended = rn_runner_wait(run.r, RT_RUN_WAIT_MS);
    unsetenv("RUNNEL_KAFKA_SINK_TEST_SKIP_COMMIT");
    ck_assert_msg(ended, "run 1 did not end");
    const char *why = NULL;
    CHECK_MSG(rn_runner_state(run.r, &why) == RN_RUN_FAILED, "run 1 did not fail");
    CHECK_MSG(why && strstr(why, "RUNNEL_KAFKA_SINK_TEST_SKIP_COMMIT"), "run 1 failed otherwise: %s", why ? why : "");
    ck_assert_uint_eq(metric(&run, job, "transactions_committed"), 0);
    rt_ckrun_end(&run);
    rn_job_free(job);
    struct rnk_msgs m1 = consume("eo", false);
    size_t c1 = m1.n;
    rnk_msgs_free(&m1);

    char jobdir[4096], from[4096];
    struct rn_error err;
    snprintf(jobdir, sizeof jobdir, "%s/eo", dir);
    ck_assert_msg(!rn_checkpoint_resolve(jobdir, from, sizeof from, NULL, &err), "%s", err.msg);
    char *t2 = tu_fmt(text, 1, dir, 2000, 20000, rnk_mock_bootstrap(mock));
    job = rt_parse_ok(reg, t2);
    run = rt_ckrun_start(job, from);
    ck_assert_msg(rn_runner_wait(run.r, RT_RUN_WAIT_MS), "the restored job did not end");
    why = NULL;
    CHECK_MSG(rn_runner_state(run.r, &why) == RN_RUN_FINISHED, "the restored job failed: %s", why ? why : "");
    uint64_t replayed = metric(&run, job, "transactions_replayed");
    rt_ckrun_end(&run);
    rn_job_free(job);

    struct rnk_msgs m = consume("eo", false);
    ck_assert_uint_ge(m.n, c1);
    *missing = 0;
    if (replay) {
        /* every row once, in order, with its key */
        CHECK_MSG(m.n - c1 == 2000, "the restored run wrote %zu messages, want 2000", m.n - c1);
        for (size_t i = c1; i < m.n; i++) {
            int v = atoi(m.v[i].value ? m.v[i].value : "-1");
            CHECK_MSG(v == (int)(i - c1), "message %zu of the restored run is '%s', want %zu", i - c1,
                      m.v[i].value ? m.v[i].value : "<null>", i - c1);
            CHECK_MSG(m.v[i].key && atoi(m.v[i].key) == v, "message %d has key '%s'", v, m.v[i].key ? m.v[i].key : "");
        }
    } else {
        /* the first row run 2 wrote is where the lost transaction ended */
        *missing = c1 < m.n ? atoi(m.v[c1].value) : 2000;
        for (size_t i = c1; i < m.n; i++)
            CHECK_MSG(atoi(m.v[i].value) == *missing + (int)(i - c1), "message %zu of the restored run is '%s'", i - c1,
                      m.v[i].value);
    }
    rnk_msgs_free(&m);
    char *log = tu_tmp_path("job.log");
    char *lt = tu_slurp(log);
    ck_assert(lt);
    if (replay) CHECK_MSG(strstr(lt, "replayed its"), "no log of the replay");
    else CHECK_MSG(strstr(lt, "without its messages (replay: false)"), "no log of the unreplayable transaction");
    free(lt);
    free(log);
    free(t1);
    free(t2);
    free(text);
    free(base);
    free(dir);
    return replayed;
}

START_TEST(exactly_once_restore_replays_a_transaction_whose_commit_was_lost)
{
    int missing;
    uint64_t replayed = lost_commit_restore(true, &missing);
    ck_assert_uint_eq(replayed, 1);
}
END_TEST

START_TEST(replay_false_restores_without_the_lost_transactions_rows)
{
    int missing;
    uint64_t replayed = lost_commit_restore(false, &missing);
    ck_assert_uint_eq(replayed, 0);
    CHECK_MSG(missing > 0, "no row of the lost transaction is missing: it was not lost");
}
END_TEST

/* ---- run nonce ---- */

/* What a checkpoint's operator state of sink (parallelism 1) says of the run nonce. */
struct nonces {
    uint32_t runs, pendings;   /* elements of kafka_sink.run, of kafka_sink.pending */
    uint64_t run;              /* the last run element's nonce */
    bool pending_other;        /* a version-3 pending entry holds another nonce than `run` */
    uint64_t pending_nonce;
};

static uint64_t le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static int run_elem(const void *val, uint32_t len, void *user)
{
    struct nonces *n = user;
    ck_assert_uint_eq(len, 13);
    ck_assert_uint_eq(((const uint8_t *)val)[0], 1);
    n->run = le64((const uint8_t *)val + 5);
    n->runs++;
    return 0;
}

static int pending_elem(const void *val, uint32_t len, void *user)
{
    struct nonces *n = user;
    const uint8_t *p = val;
    ck_assert_uint_ge(len, 39);
    ck_assert_uint_eq(p[0], 3);
    n->pending_nonce = le64(p + 30);
    n->pendings++;
    return 0;
}

static struct nonces nonces_of(const char *ckpt)
{
    char *file = tu_fmt("%s/sink-0/opstate", ckpt);
    const char *paths[1] = {file};
    rn_opstate *st;
    struct rn_error err;
    ck_assert_msg(rn_opstate_restore(paths, 1, 0, 1, &st, &err) == 0, "%s", err.msg);
    struct nonces n = {0};
    ck_assert_int_eq(rn_opstate_each(st, "kafka_sink.run", run_elem, &n), 0);
    ck_assert_int_eq(rn_opstate_each(st, "kafka_sink.pending", pending_elem, &n), 0);
    n.pending_other = n.pendings && n.pending_nonce != n.run;
    rn_opstate_destroy(st);
    free(file);
    return n;
}

/* Runs eo_job (parallelism 1, checkpoint dir `dir`) fresh until 2 checkpoints completed, then
 * cancels it; returns its latest checkpoint. */
static char *eo_crashed_run(const char *dir)
{
    char *t1 = tu_fmt(eo_job, 1, dir, 2000, 500, rnk_mock_bootstrap(mock));
    struct rn_job *job = rt_parse_ok(reg, t1);
    struct rt_ckrun run = rt_ckrun_start(job, NULL);
    rt_wait_checkpoints(&run, 2);
    rn_runner_cancel(run.r);
    ck_assert(rn_runner_wait(run.r, RT_RUN_WAIT_MS));
    rt_ckrun_end(&run);
    rn_job_free(job);
    free(t1);
    char jobdir[4096], from[4096];
    struct rn_error err;
    snprintf(jobdir, sizeof jobdir, "%s/eo", dir);
    ck_assert_msg(!rn_checkpoint_resolve(jobdir, from, sizeof from, NULL, &err), "%s", err.msg);
    return strdup(from);
}

/* Runs eo_job from `from` (NULL: fresh) with checkpoint dir `dir` to its end; returns its last
 * checkpoint, or (with want_fail) the failure text. */
static char *eo_run_to_end(const char *dir, const char *from, bool want_fail)
{
    char *t = tu_fmt(eo_job, 1, dir, 2000, 20000, rnk_mock_bootstrap(mock));
    if (want_fail) {
        char *ops = strstr(t, "operators:\n");
        ck_assert_ptr_nonnull(ops);
        char *t2 = tu_fmt("%.*srestart: { strategy: none }\n%s", (int)(ops - t), t, ops);
        free(t);
        t = t2;
    }
    struct rn_job *job = rt_parse_ok(reg, t);
    struct rt_ckrun run = rt_ckrun_start(job, from);
    ck_assert_msg(rn_runner_wait(run.r, RT_RUN_WAIT_MS), "the job did not end");
    const char *why = NULL;
    enum rn_run_state st = rn_runner_state(run.r, &why);
    char *ret;
    if (want_fail) {
        ck_assert_msg(st == RN_RUN_FAILED, "the job did not fail");
        ret = strdup(why ? why : "");
    } else {
        CHECK_MSG(st == RN_RUN_FINISHED, "the job failed: %s", why ? why : "");
        struct rn_checkpoint_stats cs;
        rn_runner_checkpoint_stats(run.r, &cs);
        ck_assert_msg(cs.last_id >= 1 && cs.last_path[0], "no completed checkpoint");
        ret = strdup(cs.last_path);
    }
    rt_ckrun_end(&run);
    rn_job_free(job);
    free(t);
    return ret;
}

/* Commit markers outlive runs, checkpoint ids restart with a fresh checkpoint directory: each
 * fresh start draws its own run nonce, recorded in every checkpoint (and in pending entries),
 * and a restored run keeps the nonce of the checkpoint (so its markers stay its run's). */
START_TEST(the_run_nonce_is_kept_across_a_restore_and_new_at_a_fresh_start)
{
    topic("eo", 1);
    char *dir = tu_tmp_path("chk"), *dir2 = tu_tmp_path("chk2");
    char *from = eo_crashed_run(dir);
    struct nonces n1 = nonces_of(from);
    ck_assert_uint_eq(n1.runs, 1);
    CHECK_MSG(n1.run != 0, "run nonce 0");
    CHECK_MSG(!n1.pending_other, "a pending entry holds nonce %llx, the run %llx", (unsigned long long)n1.pending_nonce,
              (unsigned long long)n1.run);
    char *last = eo_run_to_end(dir, from, false);
    struct nonces n2 = nonces_of(last);
    ck_assert_uint_eq(n2.runs, 1);
    CHECK_MSG(n2.run == n1.run, "the restored run's nonce is %llx, the checkpoint's %llx", (unsigned long long)n2.run,
              (unsigned long long)n1.run);
    /* the same job (same transactional ids) started afresh with another checkpoint directory */
    char *fresh = eo_run_to_end(dir2, NULL, false);
    struct nonces n3 = nonces_of(fresh);
    ck_assert_uint_eq(n3.runs, 1);
    CHECK_MSG(n3.run != 0 && n3.run != n1.run, "a fresh start kept nonce %llx", (unsigned long long)n3.run);
    /* on the mock (no stored markers) every pending transaction of the crash is replayed */
    struct rnk_msgs m = consume("eo", false);
    expect_ids(&m, 2000, false);
    rnk_msgs_free(&m);
    free(fresh);
    free(last);
    free(from);
    free(dir);
    free(dir2);
}
END_TEST

struct rewrite {
    rn_opstate *to;
    const char *list;
};

static int copy_elem(const void *val, uint32_t len, void *user)
{
    struct rewrite *w = user;
    uint8_t e[64];
    if (!strcmp(w->list, "kafka_sink.run")) {
        ck_assert_uint_eq(len, 13);
        memcpy(e, val, len);
        memset(e + 5, 0, 8);   /* nonce 0 */
        return rn_opstate_append_union(w->to, w->list, e, len);
    }
    return rn_opstate_append_union(w->to, w->list, val, len);
}

/* A checkpoint whose kafka_sink.run element holds nonce 0 (same length; the file's CRC written
 * anew): the restore fails naming the list, the element and what is wrong. */
START_TEST(a_corrupt_run_nonce_element_fails_the_restore_naming_it)
{
    topic("eo", 1);
    char *dir = tu_tmp_path("chk");
    char *from = eo_crashed_run(dir);
    char *file = tu_fmt("%s/sink-0/opstate", from);
    const char *paths[1] = {file};
    rn_opstate *was, *now = rn_opstate_create();
    struct rn_error err;
    ck_assert_msg(rn_opstate_restore(paths, 1, 0, 1, &was, &err) == 0, "%s", err.msg);
    static const char *const lists[] = {"kafka_sink.run", "kafka_sink.pending", "kafka_sink.replay"};
    for (int i = 0; i < 3; i++) {
        struct rewrite w = {now, lists[i]};
        ck_assert_int_eq(rn_opstate_each(was, lists[i], copy_elem, &w), 0);
    }
    ck_assert_msg(rn_opstate_snapshot(now, file, &err) == 0, "%s", err.msg);
    rn_opstate_destroy(was);
    rn_opstate_destroy(now);
    char *why = eo_run_to_end(dir, from, true);
    CHECK_MSG(strstr(why, "element 1 of list 'kafka_sink.run' is corrupt: run nonce 0"),
              "the failure does not name the element and the fault: %s", why);
    free(why);
    free(file);
    free(from);
    free(dir);
}
END_TEST

/* ---- failures ---- */

START_TEST(a_failed_delivery_fails_the_job_naming_the_topic)
{
    topic("bad", 1);
    rd_kafka_mock_push_request_errors(rnk_mock_cluster(mock), 0 /* Produce */, 20,
                                      RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
                                      RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
                                      RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
                                      RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
                                      RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
                                      RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
                                      RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
                                      RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
                                      RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
                                      RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
                                      RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
                                      RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
                                      RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
                                      RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
                                      RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
                                      RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
                                      RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
                                      RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
                                      RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
                                      RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
    char *t = tu_fmt("name: bad\noperators:\n"
                     "  - id: gen\n    type: datagen\n    with: { rows: 100, fields: { id: seq } }\n"
                     "  - id: sink\n    type: kafka_sink\n    input: gen\n"
                     "    with: { bootstrap_servers: '%s', topic: bad, format: csv }\n",
                     rnk_mock_bootstrap(mock));
    struct rn_job *job = rt_parse_ok(reg, t);
    char why[1024];
    uint64_t v;
    ck_assert_int_eq(rt_run(job, why, sizeof why, "sink", "records_written", &v), RN_RUN_FAILED);
    CHECK_MSG(strstr(why, "topic 'bad'") && strstr(why, "uthoriz"), "failure: %s", why);
    rn_job_free(job);
    free(t);
}
END_TEST

/* The mock creates any topic a client asks about; its metadata error for a topic stands in for
 * a topic that does not exist. */
START_TEST(a_topic_that_does_not_exist_fails_the_job_naming_it)
{
    rd_kafka_mock_topic_set_error(rnk_mock_cluster(mock), "nowhere", RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART);
    char *t = tu_fmt("name: nt\noperators:\n"
                     "  - id: gen\n    type: datagen\n    with: { rows: 10, fields: { id: seq } }\n"
                     "  - id: sink\n    type: kafka_sink\n    input: gen\n"
                     "    with: { bootstrap_servers: '%s', topic: nowhere, format: csv,\n"
                     "            properties: { topic.metadata.propagation.max.ms: 200, message.timeout.ms: 5000 } }\n",
                     rnk_mock_bootstrap(mock));
    struct rn_job *job = rt_parse_ok(reg, t);
    char why[1024];
    uint64_t v;
    ck_assert_int_eq(rt_run(job, why, sizeof why, "sink", "records_written", &v), RN_RUN_FAILED);
    CHECK_MSG(strstr(why, "topic 'nowhere'"), "failure: %s", why);
    ck_assert_uint_eq(v, 0);
    rn_job_free(job);
    free(t);
}
END_TEST

START_TEST(a_failed_delivery_in_a_transaction_fails_the_job_naming_the_id)
{
    topic("bad", 1);
    rd_kafka_mock_push_request_errors(rnk_mock_cluster(mock), 0 /* Produce */, 4,
                                      RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
                                      RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
                                      RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
                                      RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
    char *t = tu_fmt("name: badtx\noperators:\n"
                     "  - id: gen\n    type: datagen\n    with: { rows: 100, fields: { id: seq } }\n"
                     "  - id: sink\n    type: kafka_sink\n    input: gen\n"
                     "    with: { bootstrap_servers: '%s', topic: bad, format: csv, delivery: exactly_once }\n",
                     rnk_mock_bootstrap(mock));
    struct rn_job *job = rt_parse_ok(reg, t);
    char why[1024];
    uint64_t v;
    ck_assert_int_eq(rt_run(job, why, sizeof why, "sink", "transactions_committed", &v), RN_RUN_FAILED);
    CHECK_MSG(strstr(why, "topic 'bad'") && strstr(why, "badtx-sink-0-0"), "failure: %s", why);
    ck_assert_uint_eq(v, 0);
    rn_job_free(job);
    free(t);
}
END_TEST

START_TEST(an_unreachable_cluster_fails_the_end_of_input_within_the_timeout)
{
    /* nothing listens on port 1: the flush at the end gives up after `timeout` */
    rt_expect_invalid(reg, "name: x\noperators:\n  - { id: gen, type: datagen, with: { rows: 1, fields: { id: seq } } }\n"
                           "  - { id: sink, type: kafka_sink, input: gen, with: { bootstrap_servers: '127.0.0.1:1', "
                           "topic: t, timeout: 0s } }\n", "timeout");
    struct rn_job *job = rt_parse_ok(reg, "name: x\noperators:\n"
                                          "  - { id: gen, type: datagen, with: { rows: 5, fields: { id: seq } } }\n"
                                          "  - { id: sink, type: kafka_sink, input: gen, with: { bootstrap_servers: "
                                          "'127.0.0.1:1', topic: t, timeout: 500ms } }\n");
    char why[1024];
    uint64_t v;
    ck_assert_int_eq(rt_run(job, why, sizeof why, "sink", "records_written", &v), RN_RUN_FAILED);
    CHECK_MSG(strstr(why, "topic 't'") && strstr(why, "not acknowledged within 500 ms"), "failure: %s", why);
    rn_job_free(job);
}
END_TEST

START_TEST(exactly_once_with_an_unreachable_cluster_fails_at_the_start_within_the_timeout)
{
    struct rn_job *job = rt_parse_ok(reg, "name: x\noperators:\n"
                                          "  - { id: gen, type: datagen, with: { rows: 5, fields: { id: seq } } }\n"
                                          "  - { id: sink, type: kafka_sink, input: gen, with: { bootstrap_servers: "
                                          "'127.0.0.1:1', topic: t, timeout: 500ms, delivery: exactly_once } }\n");
    char why[1024];
    uint64_t v;
    ck_assert_int_eq(rt_run(job, why, sizeof why, "sink", "transactional_ids_initialised", &v), RN_RUN_FAILED);
    CHECK_MSG(strstr(why, "init_transactions of transactional id 'x-sink-0-0'") && strstr(why, "topic 't'"),
              "failure: %s", why);
    ck_assert_uint_eq(v, 0);
    rn_job_free(job);
}
END_TEST

/* ---- plan errors ---- */

static void expect_invalid(const char *with, const char *fields, const char *word)
{
    char *t = tu_fmt("name: bad\noperators:\n"
                     "  - id: gen\n    type: datagen\n    with: { rows: 1, fields: { %s } }\n"
                     "  - id: sink\n    type: kafka_sink\n    input: gen\n    with: { %s }\n",
                     fields, with);
    rt_expect_invalid(reg, t, word);
    free(t);
}

START_TEST(plan_refuses_bad_options_with_their_positions)
{
    const char *f1 = "id: seq", *f2 = "id: seq, s: \"concat('a', seq)\"";
    expect_invalid("bootstrap_servers: 'h:1'", f1, "topic");
    expect_invalid("bootstrap_servers: 'h:1', topic: ''", f1, "topic is empty");
    expect_invalid("bootstrap_servers: '', topic: t", f1, "bootstrap_servers");
    expect_invalid("bootstrap_servers: 'h:1', topic: t, format: raw", f2, "exactly one string column");
    expect_invalid("bootstrap_servers: 'h:1', topic: t, format: raw", f1, "exactly one string column");
    expect_invalid("bootstrap_servers: 'h:1', topic: t, format: xml", f1, "format must be");
    expect_invalid("bootstrap_servers: 'h:1', topic: t, delivery: twice", f1, "delivery must be");
    expect_invalid("bootstrap_servers: 'h:1', topic: t, format: csv, delimiter: ';;'", f1, "delimiter");
    expect_invalid("bootstrap_servers: 'h:1', topic: t, properties: { transactional.id: x }", f1, "transactional.id");
    expect_invalid("bootstrap_servers: 'h:1', topic: t, properties: { enable.idempotence: false }", f1,
                   "enable.idempotence");
    expect_invalid("bootstrap_servers: 'h:1', topic: t, properties: { transaction.timeout.ms: 5000 }", f1,
                   "transaction_timeout");
    expect_invalid("bootstrap_servers: 'h:1', topic: t, properties: { no.such.property: 1 }", f1, "no.such.property");
    expect_invalid("bootstrap_servers: 'h:1', topic: t, key: \"nope + 1\"", f1, "nope");
    expect_invalid("bootstrap_servers: 'h:1', topic: t, key: \"id +\"", f1, "key");
    expect_invalid("bootstrap_servers: 'h:1', topic: t, delivery: exactly_once, transaction_timeout: 10ms", f1,
                   "transaction_timeout");
}
END_TEST

START_TEST(plan_accepts_every_format_and_key_type)
{
    const char *fields = "i: seq, d: \"seq * 0.5\", b: \"seq % 2 = 0\", t: \"to_timestamp(seq)\", s: \"concat('a', seq)\"";
    const char *withs[] = {"key: i", "key: d, format: csv", "key: b", "key: t", "key: \"s || 'x'\", format: json",
                           "delivery: exactly_once, transactional_id_prefix: p1"};
    for (size_t i = 0; i < sizeof withs / sizeof *withs; i++) {
        char *t = tu_fmt("name: ok\noperators:\n"
                         "  - id: gen\n    type: datagen\n    with: { rows: 1, fields: { %s } }\n"
                         "  - id: sink\n    type: kafka_sink\n    input: gen\n"
                         "    with: { bootstrap_servers: 'h:1', topic: t, %s }\n",
                         fields, withs[i]);
        struct rn_job *job = rt_parse_ok(reg, t);
        rn_job_free(job);
        free(t);
    }
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("kafka_sink");
    TCase *tc = tcase_create("kafka_sink");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, at_least_once_writes_every_row_as_json_with_its_key);
    tcase_add_test(tc, at_least_once_writes_csv_with_a_string_key_and_delimiter);
    tcase_add_test(tc, raw_format_writes_the_string_column_and_a_null_as_a_tombstone);
    tcase_add_test(tc, null_key_values_give_messages_without_a_key);
    tcase_add_test(tc, at_least_once_flushes_at_checkpoints);
    tcase_add_test(tc, exactly_once_commits_a_transaction_per_checkpoint);
    tcase_add_test(tc, exactly_once_without_checkpoints_commits_at_the_end_and_warns);
    tcase_add_test(tc, exactly_once_crash_and_restore_reinitialises_the_ids);
    tcase_add_test(tc, exactly_once_restore_at_lower_parallelism_fences_the_old_subtasks_ids);
    tcase_add_test(tc, exactly_once_cancel_aborts_the_open_transaction);
    tcase_add_test(tc, exactly_once_restore_replays_a_transaction_whose_commit_was_lost);
    tcase_add_test(tc, replay_false_restores_without_the_lost_transactions_rows);
    tcase_add_test(tc, the_run_nonce_is_kept_across_a_restore_and_new_at_a_fresh_start);
    tcase_add_test(tc, a_corrupt_run_nonce_element_fails_the_restore_naming_it);
    tcase_add_test(tc, a_failed_delivery_fails_the_job_naming_the_topic);
    tcase_add_test(tc, a_topic_that_does_not_exist_fails_the_job_naming_it);
    tcase_add_test(tc, a_failed_delivery_in_a_transaction_fails_the_job_naming_the_id);
    tcase_add_test(tc, an_unreachable_cluster_fails_the_end_of_input_within_the_timeout);
    tcase_add_test(tc, exactly_once_with_an_unreachable_cluster_fails_at_the_start_within_the_timeout);
    tcase_add_test(tc, plan_refuses_bad_options_with_their_positions);
    tcase_add_test(tc, plan_accepts_every_format_and_key_type);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
