/*
 * test_cli_remote.c — Check suite "cli_remote": the `runnel` verbs that talk to a job manager
 * (submit, list, status, cancel, savepoint, stop; runtime/cli/cmd_remote.c) as real processes
 * against a fake job manager: an rn_http_server in this test process, on its own event loop
 * thread on 127.0.0.1 (port 0), answering the REST contract with canned JSON and recording what
 * each request carried (method, path, query, body, content type). Checked: what the verbs send,
 * what they print (tables, ids, savepoint paths, file:line:column errors, --json as received),
 * and their exit codes (0 ok; 1 the job manager said no, a savepoint failed or timed out; 2
 * usage, an unreadable file, or no job manager at the address, which the message names); the
 * token from --token and RUNNEL_REST_TOKEN, the address from RUNNEL_JOBMANAGER; and that
 * `runnel savepoint JOB.yaml` still goes to the local form.
 *
 * Every child has a bounded wait (killed and failed past it); the server and its thread stop
 * at the end of each test. Environment (tests/integration/meson.build): RUNNEL (the binary).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "child.h"
#include "rest/http.h"
#include "rest/json.h"
#include "testutil.h"

#define JOB_ID "0123456789abcdef0123456789abcdef"
#define OTHER_ID "fedcba9876543210fedcba9876543210"
#define FAIL_ID "00000000000000000000000000000f00"
#define SLOW_ID "00000000000000000000000000000510"
#define WAIT_S 30.0

/* ------------------------------------------------------------------------------------------ */
/* the fake job manager                                                                        */
/* ------------------------------------------------------------------------------------------ */

static struct event_base *base;
static rn_http_server *srv;
static struct event *stop_ev;
static pthread_t loop_thread;
static uint16_t port;
static char addr[64];

/* what the last request carried (written on the loop thread, read after the child ended) */
static pthread_mutex_t rec_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    char method[16], path[512], file[256], restore[512], mode[32], ctype[128], body[4096];
    bool has_restore;
    int requests, polls;
} rec;

static void record(rn_http_req *r)
{
    pthread_mutex_lock(&rec_lock);
    rec.requests++;
    snprintf(rec.method, sizeof rec.method, "%s", rn_http_method(r));
    snprintf(rec.path, sizeof rec.path, "%s", rn_http_path(r));
    const char *q;
    snprintf(rec.file, sizeof rec.file, "%s", (q = rn_http_query(r, "file")) ? q : "");
    rec.has_restore = (q = rn_http_query(r, "restore")) != NULL;
    snprintf(rec.restore, sizeof rec.restore, "%s", q ? q : "");
    snprintf(rec.mode, sizeof rec.mode, "%s", (q = rn_http_query(r, "mode")) ? q : "");
    snprintf(rec.ctype, sizeof rec.ctype, "%s", (q = rn_http_header(r, "Content-Type")) ? q : "");
    size_t n;
    const char *b = rn_http_body(r, &n);
    snprintf(rec.body, sizeof rec.body, "%.*s", (int)n, b);
    pthread_mutex_unlock(&rec_lock);
}

static void reply(rn_http_req *r, int status, const char *json) { rn_http_reply_json(r, status, json, strlen(json)); }

static void post_jobs(rn_http_req *r, void *arg)
{
    record(r);
    if (!strcmp(rn_http_query(r, "file") ? rn_http_query(r, "file") : "", "bad.yaml"))
        reply(r, 400,
              "{\"errors\":[{\"file\":\"bad.yaml\",\"line\":3,\"column\":5,\"message\":\"unknown operator 'fliter'\"},"
              "{\"file\":\"bad.yaml\",\"line\":7,\"column\":1,\"message\":\"edge to nowhere\"}]}");
    else
        reply(r, 202, "{\"id\":\"" JOB_ID "\"}");
}

static const char jobs_json[] =
    "{\"jobs\":[{\"id\":\"" JOB_ID "\",\"name\":\"wordcount\",\"state\":\"RUNNING\",\"start_time\":1700000000000,"
    "\"end_time\":-1,\"duration\":65000},"
    "{\"id\":\"" OTHER_ID "\",\"name\":\"nexmark-q5\",\"state\":\"FINISHED\",\"start_time\":1700000000000,"
    "\"end_time\":1700000001500,\"duration\":1500}]}";

static void get_jobs(rn_http_req *r, void *arg)
{
    record(r);
    reply(r, 200, jobs_json);
}

static void get_job(rn_http_req *r, void *arg)
{
    record(r);
    if (strcmp(rn_http_param(r, "id"), JOB_ID)) {
        rn_http_reply_error(r, 404, "no job %s", rn_http_param(r, "id"));
        return;
    }
    reply(r, 200,
          "{\"id\":\"" JOB_ID "\",\"name\":\"wordcount\",\"state\":\"RESTARTING\",\"attempt\":2,\"restarts\":1,"
          "\"start_time\":1700000000000,\"end_time\":-1,\"duration\":3723000,\"error\":\"task tm-1 lost\","
          "\"vertices\":[{\"id\":\"source\",\"type\":\"datagen\",\"parallelism\":2,\"rows_in\":0,\"rows_out\":123456,"
          "\"rows_in_per_s\":0,\"rows_out_per_s\":1000.5,\"backpressured\":true},"
          "{\"id\":\"counter\",\"type\":\"aggregate\",\"parallelism\":4,\"rows_in\":123456,\"rows_out\":99,"
          "\"rows_in_per_s\":1000.5,\"rows_out_per_s\":2.25,\"backpressured\":false}]}");
}

static void patch_job(rn_http_req *r, void *arg)
{
    record(r);
    reply(r, 202, "{}");
}

static void post_savepoint(rn_http_req *r, void *arg)
{
    record(r);
    const char *id = rn_http_param(r, "id");
    if (!strcmp(id, FAIL_ID)) reply(r, 202, "{\"request\":\"f3\"}");
    else if (!strcmp(id, SLOW_ID)) reply(r, 202, "{\"request\":\"c4\"}");
    else if (!strcmp(id, JOB_ID)) reply(r, 202, arg ? "{\"request\":\"b2\"}" : "{\"request\":\"a1\"}");
    else rn_http_reply_error(r, 404, "no job %s", id);
}

static void get_savepoint(rn_http_req *r, void *arg)
{
    pthread_mutex_lock(&rec_lock);
    int polls = ++rec.polls;
    pthread_mutex_unlock(&rec_lock);
    const char *q = rn_http_param(r, "req");
    if (!strcmp(q, "a1"))
        reply(r, 200, polls < 3 ? "{\"status\":\"IN_PROGRESS\"}" : "{\"status\":\"COMPLETED\",\"path\":\"/sp/savepoint-a1\"}");
    else if (!strcmp(q, "b2")) reply(r, 200, "{\"status\":\"COMPLETED\",\"path\":\"/sp/savepoint-b2\"}");
    else if (!strcmp(q, "f3")) reply(r, 200, "{\"status\":\"FAILED\",\"error\":\"disk full\"}");
    else if (!strcmp(q, "c4")) reply(r, 200, "{\"status\":\"IN_PROGRESS\"}");
    else rn_http_reply_error(r, 404, "no savepoint request %s", q);
}

static void stop_cb(evutil_socket_t fd, short what, void *arg) { event_base_loopbreak(base); }

static void *loop_main(void *arg)
{
    event_base_loop(base, EVLOOP_NO_EXIT_ON_EMPTY);
    return NULL;
}

static void start_fake(const char *token)
{
    tu_tmp_setup("runnel-cli-remote");
    memset(&rec, 0, sizeof rec);
    unsetenv("RUNNEL_JOBMANAGER");
    unsetenv("RUNNEL_REST_TOKEN");
    ck_assert_int_eq(evthread_use_pthreads(), 0);
    base = event_base_new();
    ck_assert_ptr_nonnull(base);
    struct rn_http_config cfg = {.token = token, .timeout_s = 10};
    struct rn_error err;
    srv = rn_http_server_create(base, &cfg, &err);
    ck_assert_msg(srv, "%s", err.msg);
    port = rn_http_server_port(srv);
    snprintf(addr, sizeof addr, "127.0.0.1:%u", (unsigned)port);
#define ROUTE(m, p, f, a) ck_assert_msg(rn_http_route(srv, m, p, f, a, &err) == 0, "%s", err.msg)
    ROUTE("POST", "/jobs", post_jobs, NULL);
    ROUTE("GET", "/jobs", get_jobs, NULL);
    ROUTE("GET", "/jobs/{id:" RN_HTTP_HEX32 "}", get_job, NULL);
    ROUTE("PATCH", "/jobs/{id:" RN_HTTP_HEX32 "}", patch_job, NULL);
    ROUTE("POST", "/jobs/{id:" RN_HTTP_HEX32 "}/savepoints", post_savepoint, NULL);
    ROUTE("POST", "/jobs/{id:" RN_HTTP_HEX32 "}/stop", post_savepoint, "stop");
    ROUTE("GET", "/jobs/{id:" RN_HTTP_HEX32 "}/savepoints/{req:" RN_HTTP_HEX1_32 "}", get_savepoint, NULL);
#undef ROUTE
    stop_ev = event_new(base, -1, 0, stop_cb, NULL);
    ck_assert_int_eq(pthread_create(&loop_thread, NULL, loop_main, NULL), 0);
}

static void setup(void) { start_fake(NULL); }
static void setup_token(void) { start_fake("tok-123"); }

static void teardown(void)
{
    if (base) {
        event_active(stop_ev, EV_READ, 0);
        pthread_join(loop_thread, NULL);
        event_free(stop_ev);
        rn_http_server_destroy(srv);
        event_base_free(base);
        base = NULL;
    }
    tu_tmp_teardown();
}

/* ------------------------------------------------------------------------------------------ */
/* running the CLI                                                                             */
/* ------------------------------------------------------------------------------------------ */

/* Runs runnel with args (NULL-terminated) to its end; fails the test past WAIT_S. */
static void run(struct child *c, const char *const *args)
{
    child_start(c, args);
    ck_assert_msg(child_wait(c, WAIT_S), "runnel %s did not end within %.0f s\nstdout:\n%s\nstderr:\n%s", args[0], WAIT_S, c->out.buf,
                  c->err.buf);
}

#define RUN(c, ...) run(c, (const char *const[]){__VA_ARGS__, NULL})

static void expect_exit(const struct child *c, int code)
{
    ck_assert_msg(child_exit_code(c) == code, "exit %d, want %d\nstdout:\n%s\nstderr:\n%s", child_exit_code(c), code, c->out.buf,
                  c->err.buf);
}

static void expect_out(const struct child *c, const char *want)
{
    ck_assert_msg(strstr(c->out.buf, want), "stdout lacks '%s'\nstdout:\n%s\nstderr:\n%s", want, c->out.buf, c->err.buf);
}

static void expect_err(const struct child *c, const char *want)
{
    ck_assert_msg(strstr(c->err.buf, want), "stderr lacks '%s'\nstdout:\n%s\nstderr:\n%s", want, c->out.buf, c->err.buf);
}

/* ------------------------------------------------------------------------------------------ */
/* submit                                                                                      */
/* ------------------------------------------------------------------------------------------ */

static const char job_yaml[] = "name: wordcount\nparallelism: 2\noperators:\n  - id: gen\n    type: datagen\n";

START_TEST(submit_sends_the_yaml_and_prints_the_job_id)
{
    char *job = tu_tmp_path("job.yaml");
    tu_write_file(job, job_yaml);
    struct child c;
    RUN(&c, "submit", job, "--jobmanager", addr);
    expect_exit(&c, 0);
    ck_assert_str_eq(c.out.buf, "submitted " JOB_ID "\n");
    ck_assert_str_eq(rec.method, "POST");
    ck_assert_str_eq(rec.path, "/jobs");
    ck_assert_str_eq(rec.file, "job.yaml");
    ck_assert(!rec.has_restore);
    ck_assert_str_eq(rec.ctype, "application/yaml");
    ck_assert_str_eq(rec.body, job_yaml);
    child_free(&c);
    /* --restore goes along as a query parameter, encoded */
    RUN(&c, "submit", "--jobmanager", addr, "--restore", "/sp/savepoint 1&x", job);
    expect_exit(&c, 0);
    ck_assert(rec.has_restore);
    ck_assert_str_eq(rec.restore, "/sp/savepoint 1&x");
    ck_assert_str_eq(rec.file, "job.yaml");
    child_free(&c);
    /* --json prints the answer as it came */
    RUN(&c, "submit", "--json", "--jobmanager", addr, job);
    expect_exit(&c, 0);
    ck_assert_str_eq(c.out.buf, "{\"id\":\"" JOB_ID "\"}\n");
    child_free(&c);
    free(job);
}
END_TEST

START_TEST(submit_prints_each_validation_error_with_line_and_column)
{
    char *job = tu_tmp_path("bad.yaml");
    tu_write_file(job, "name: bad\n");
    struct child c;
    RUN(&c, "submit", job, "--jobmanager", addr);
    expect_exit(&c, 1);
    expect_err(&c, "bad.yaml:3:5: unknown operator 'fliter'\n");
    expect_err(&c, "bad.yaml:7:1: edge to nowhere\n");
    ck_assert_str_eq(c.out.buf, "");
    child_free(&c);
    free(job);
}
END_TEST

START_TEST(submit_of_a_missing_file_is_a_usage_error)
{
    char *job = tu_tmp_path("missing.yaml");
    struct child c;
    RUN(&c, "submit", job, "--jobmanager", addr);
    expect_exit(&c, 2);
    expect_err(&c, "missing.yaml");
    ck_assert_int_eq(rec.requests, 0);
    child_free(&c);
    free(job);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* list, status, cancel                                                                        */
/* ------------------------------------------------------------------------------------------ */

START_TEST(list_prints_a_table_of_jobs)
{
    struct child c;
    RUN(&c, "list", "--jobmanager", addr);
    expect_exit(&c, 0);
    expect_out(&c, "ID");
    expect_out(&c, "NAME");
    expect_out(&c, "STATE");
    expect_out(&c, "DURATION");
    expect_out(&c, JOB_ID "  wordcount   RUNNING     1m05s\n");
    expect_out(&c, OTHER_ID "  nexmark-q5  FINISHED    1.5s\n");
    ck_assert_str_eq(rec.method, "GET");
    ck_assert_str_eq(rec.path, "/jobs");
    child_free(&c);
}
END_TEST

START_TEST(list_json_prints_the_servers_json)
{
    struct child c;
    RUN(&c, "list", "--json", "--jobmanager", addr);
    expect_exit(&c, 0);
    char *want = tu_fmt("%s\n", jobs_json);
    ck_assert_str_eq(c.out.buf, want);
    free(want);
    child_free(&c);
}
END_TEST

START_TEST(status_prints_the_job_and_its_vertices)
{
    struct child c;
    RUN(&c, "status", JOB_ID, "--jobmanager", addr);
    expect_exit(&c, 0);
    ck_assert_str_eq(rec.path, "/jobs/" JOB_ID);
    expect_out(&c, "job       " JOB_ID " (wordcount)\n");
    expect_out(&c, "state     RESTARTING (attempt 2, restarts 1)\n");
    expect_out(&c, "duration  1h02m\n");
    expect_out(&c, "error     task tm-1 lost\n");
    expect_out(&c, "VERTEX");
    expect_out(&c, "BACKPRESSURED");
    expect_out(&c, "source   datagen");
    expect_out(&c, "123456");
    expect_out(&c, "1000.5");
    expect_out(&c, "yes\n");
    expect_out(&c, "counter  aggregate");
    expect_out(&c, "no\n");
    ck_assert_ptr_null(strstr(c.out.buf, "ended"));   /* end_time -1 */
    child_free(&c);
}
END_TEST

START_TEST(status_of_an_unknown_job_prints_the_servers_error)
{
    struct child c;
    RUN(&c, "status", OTHER_ID, "--jobmanager", addr);
    expect_exit(&c, 1);
    expect_err(&c, "no job " OTHER_ID " (HTTP 404)");
    child_free(&c);
    /* an id that is no id at all: the server refuses it before any handler */
    RUN(&c, "status", "../../etc/passwd", "--jobmanager", addr);
    expect_exit(&c, 1);
    expect_err(&c, "HTTP 400");
    child_free(&c);
}
END_TEST

START_TEST(cancel_sends_a_patch_with_mode_cancel)
{
    struct child c;
    RUN(&c, "cancel", JOB_ID, "--jobmanager", addr);
    expect_exit(&c, 0);
    ck_assert_str_eq(rec.method, "PATCH");
    ck_assert_str_eq(rec.path, "/jobs/" JOB_ID);
    ck_assert_str_eq(rec.mode, "cancel");
    ck_assert_str_eq(rec.body, "{}");
    expect_out(&c, JOB_ID);
    child_free(&c);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* savepoint, stop                                                                             */
/* ------------------------------------------------------------------------------------------ */

START_TEST(savepoint_polls_until_completed_and_prints_the_path)
{
    struct child c;
    RUN(&c, "savepoint", JOB_ID, "/sp/target", "--jobmanager", addr);
    expect_exit(&c, 0);
    ck_assert_str_eq(c.out.buf, "/sp/savepoint-a1\n");
    ck_assert_int_ge(rec.polls, 3);   /* IN_PROGRESS twice, then COMPLETED */
    /* the last recorded request is the trigger (polls are counted, not recorded) */
    ck_assert_str_eq(rec.method, "POST");
    ck_assert_str_eq(rec.path, "/jobs/" JOB_ID "/savepoints");
    ck_assert_str_eq(rec.body, "{\"target_directory\":\"/sp/target\"}");
    ck_assert_str_eq(rec.ctype, "application/json");
    child_free(&c);
}
END_TEST

START_TEST(savepoint_without_a_directory_sends_an_empty_object)
{
    struct child c;
    RUN(&c, "savepoint", "--jobmanager", addr, "--json", JOB_ID);
    expect_exit(&c, 0);
    ck_assert_str_eq(rec.body, "{}");
    ck_assert_str_eq(c.out.buf, "{\"status\":\"COMPLETED\",\"path\":\"/sp/savepoint-a1\"}\n");
    child_free(&c);
}
END_TEST

START_TEST(stop_triggers_a_savepoint_and_prints_its_path)
{
    struct child c;
    RUN(&c, "stop", JOB_ID, "--savepoint", "/sp/final", "--jobmanager", addr);
    expect_exit(&c, 0);
    ck_assert_str_eq(c.out.buf, "/sp/savepoint-b2\n");
    ck_assert_str_eq(rec.path, "/jobs/" JOB_ID "/stop");
    ck_assert_str_eq(rec.body, "{\"target_directory\":\"/sp/final\"}");
    child_free(&c);
    RUN(&c, "stop", JOB_ID, "--jobmanager", addr);
    expect_exit(&c, 0);
    ck_assert_str_eq(rec.body, "{}");
    child_free(&c);
}
END_TEST

START_TEST(a_failed_savepoint_exits_1_with_its_error)
{
    struct child c;
    RUN(&c, "savepoint", FAIL_ID, "--jobmanager", addr);
    expect_exit(&c, 1);
    expect_err(&c, "disk full");
    ck_assert_str_eq(c.out.buf, "");
    child_free(&c);
}
END_TEST

START_TEST(a_savepoint_still_in_progress_at_the_timeout_exits_1)
{
    struct child c;
    double t0 = child_now();
    RUN(&c, "savepoint", SLOW_ID, "--timeout", "1", "--jobmanager", addr);
    expect_exit(&c, 1);
    expect_err(&c, "still in progress");
    ck_assert(child_now() - t0 < WAIT_S);
    child_free(&c);
}
END_TEST

START_TEST(savepoint_of_a_local_job_file_stays_local)
{
    char *job = tu_tmp_path("local.yaml");
    tu_write_file(job, "name: local\n"
                       "operators:\n"
                       "  - id: gen\n"
                       "    type: datagen\n"
                       "    with: { rows: 5, fields: { id: seq } }\n"
                       "  - id: out\n"
                       "    type: file_sink\n"
                       "    input: gen\n"
                       "    with: { path: \"/tmp/unused\", format: csv }\n");
    struct child c;
    RUN(&c, "savepoint", job);
    expect_exit(&c, 2);
    expect_err(&c, "has no checkpoint block");
    child_free(&c);
    /* --dir makes it local too, whatever the first argument */
    RUN(&c, "savepoint", JOB_ID, "--dir", "/sp", "--jobmanager", addr);
    ck_assert_int_ne(child_exit_code(&c), 0);
    ck_assert_int_eq(rec.requests, 0);
    child_free(&c);
    free(job);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* addresses, tokens, usage                                                                    */
/* ------------------------------------------------------------------------------------------ */

START_TEST(an_unreachable_job_manager_exits_2_naming_the_address)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t sl = sizeof a;
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &sl), 0);
    close(fd);   /* nobody listens on that port now */
    char *where = tu_fmt("127.0.0.1:%u", (unsigned)ntohs(a.sin_port));
    struct child c;
    static const char *const verbs[][3] = {{"list", NULL, NULL}, {"status", JOB_ID, NULL}, {"savepoint", JOB_ID, NULL}, {"stop", JOB_ID, NULL}};
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++) {
        const char *args[6] = {verbs[i][0], "--jobmanager", where, verbs[i][1], NULL};
        run(&c, args);
        expect_exit(&c, 2);
        expect_err(&c, "cannot reach the job manager at");
        expect_err(&c, where);
        child_free(&c);
    }
    free(where);
}
END_TEST

START_TEST(the_address_comes_from_runnel_jobmanager_when_not_given)
{
    setenv("RUNNEL_JOBMANAGER", addr, 1);
    struct child c;
    RUN(&c, "list");
    expect_exit(&c, 0);
    expect_out(&c, "wordcount");
    child_free(&c);
    /* --jobmanager wins over the environment */
    setenv("RUNNEL_JOBMANAGER", "127.0.0.1:1", 1);
    RUN(&c, "list", "--jobmanager", addr);
    expect_exit(&c, 0);
    child_free(&c);
    unsetenv("RUNNEL_JOBMANAGER");
}
END_TEST

START_TEST(a_token_comes_from_the_option_or_the_environment)
{
    struct child c;
    RUN(&c, "list", "--jobmanager", addr);
    expect_exit(&c, 1);
    expect_err(&c, "HTTP 401");
    child_free(&c);
    RUN(&c, "list", "--jobmanager", addr, "--token", "wrong");
    expect_exit(&c, 1);
    child_free(&c);
    RUN(&c, "list", "--jobmanager", addr, "--token", "tok-123");
    expect_exit(&c, 0);
    expect_out(&c, "wordcount");
    child_free(&c);
    setenv("RUNNEL_REST_TOKEN", "tok-123", 1);
    RUN(&c, "status", JOB_ID, "--jobmanager", addr);
    expect_exit(&c, 0);
    child_free(&c);
    unsetenv("RUNNEL_REST_TOKEN");
}
END_TEST

START_TEST(usage_errors_exit_2_without_a_request)
{
    /* ADDR stands for the fake job manager's address */
    static const char *const cases[][7] = {
        {"status", "--jobmanager", "ADDR", NULL},
        {"status", JOB_ID, "extra", "--jobmanager", "ADDR", NULL},
        {"list", "extra", "--jobmanager", "ADDR", NULL},
        {"cancel", "--jobmanager", "ADDR", NULL},
        {"submit", "--jobmanager", "ADDR", NULL},
        {"list", "--jobmanager", "no-port:abc", NULL},
        {"list", "--jobmanager", "host:70000", NULL},
        {"stop", JOB_ID, "--restore", "/x", "--jobmanager", "ADDR", NULL},
        {"list", "--bogus", "--jobmanager", "ADDR", NULL},
        {"savepoint", JOB_ID, "--timeout", "0", "--jobmanager", "ADDR", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *args[8];
        size_t n = 0;
        for (size_t k = 0; k < 7 && cases[i][k]; k++) args[n++] = strcmp(cases[i][k], "ADDR") ? cases[i][k] : addr;
        args[n] = NULL;
        struct child c;
        run(&c, args);
        ck_assert_msg(child_exit_code(&c) == 2, "case %zu (%s %s): exit %d\nstderr:\n%s", i, cases[i][0], cases[i][1],
                      child_exit_code(&c), c.err.buf);
        ck_assert_msg(c.err.buf[0], "case %zu: nothing said", i);
        child_free(&c);
    }
    ck_assert_int_eq(rec.requests, 0);
    ck_assert_int_eq(rec.polls, 0);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("cli_remote");
    TCase *tc = tcase_create("verbs");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, submit_sends_the_yaml_and_prints_the_job_id);
    tcase_add_test(tc, submit_prints_each_validation_error_with_line_and_column);
    tcase_add_test(tc, submit_of_a_missing_file_is_a_usage_error);
    tcase_add_test(tc, list_prints_a_table_of_jobs);
    tcase_add_test(tc, list_json_prints_the_servers_json);
    tcase_add_test(tc, status_prints_the_job_and_its_vertices);
    tcase_add_test(tc, status_of_an_unknown_job_prints_the_servers_error);
    tcase_add_test(tc, cancel_sends_a_patch_with_mode_cancel);
    tcase_add_test(tc, savepoint_polls_until_completed_and_prints_the_path);
    tcase_add_test(tc, savepoint_without_a_directory_sends_an_empty_object);
    tcase_add_test(tc, stop_triggers_a_savepoint_and_prints_its_path);
    tcase_add_test(tc, a_failed_savepoint_exits_1_with_its_error);
    tcase_add_test(tc, a_savepoint_still_in_progress_at_the_timeout_exits_1);
    tcase_add_test(tc, savepoint_of_a_local_job_file_stays_local);
    tcase_add_test(tc, an_unreachable_job_manager_exits_2_naming_the_address);
    tcase_add_test(tc, the_address_comes_from_runnel_jobmanager_when_not_given);
    tcase_add_test(tc, usage_errors_exit_2_without_a_request);
    suite_add_tcase(s, tc);
    TCase *ta = tcase_create("token");
    tcase_add_checked_fixture(ta, setup_token, teardown);
    tcase_add_test(ta, a_token_comes_from_the_option_or_the_environment);
    suite_add_tcase(s, ta);
    return s;
}

TU_MAIN(make_suite)
