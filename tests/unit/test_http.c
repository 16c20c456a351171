/*
 * test_http.c — Check suite "http": the REST server plumbing (runtime/rest/http.h) driven
 * through the blocking client (runtime/rest/client.h). Each test starts a server on
 * 127.0.0.1, port 0, on an event loop in its own thread with a few test routes, talks to it
 * with rn_http_call, and stops the loop and frees everything at the end. Covered: routing and
 * path/query parameters, 404/405, path parameters that break their rule or try '..' / '/'
 * (400, the handler never runs), bearer tokens (401 / 200), the body limit (413), replies from
 * a timer after the handler returned, chunked replies, a handler that forgets to reply, deferred
 * requests at server destruction; the client against canned raw responses (chunk extensions and
 * trailers, malformed framing, responses over its limit), an unreachable port and a silent
 * server (timeout); and rn_http_safe_path. Every wait is bounded (client timeouts of a few
 * seconds, Check's test timeout).
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "rest/client.h"
#include "rest/http.h"
#include "rest/json.h"
#include "testutil.h"

#define JOB_ID "0123456789abcdef0123456789abcdef"
#define TIMEOUT_MS 5000

/* ------------------------------------------------------------------------------------------ */
/* the server under test                                                                       */
/* ------------------------------------------------------------------------------------------ */

static struct event_base *base;
static rn_http_server *srv;
static pthread_t loop_thread;
static uint16_t port;
static atomic_int handler_calls, drops, deferred_waiting;

static struct event *stop_ev;

/* loopbreak from the loop itself: a break asked before the loop started would be lost */
static void stop_cb(evutil_socket_t fd, short what, void *arg) { event_base_loopbreak(base); }

static void *loop_main(void *arg)
{
    (void)arg;
    event_base_loop(base, EVLOOP_NO_EXIT_ON_EMPTY);
    return NULL;
}

static void reply_json(rn_http_req *r, int status, struct rn_json_builder *b)
{
    const char *t;
    size_t n;
    ck_assert_int_eq(rn_json_finish(b, &t, &n), 0);
    rn_http_reply_json(r, status, t, n);
    rn_json_release(b);
}

static void h_jobs(rn_http_req *r, void *arg)
{
    handler_calls++;
    rn_http_reply_json(r, 200, "{\"jobs\":[]}", 11);
}

static void h_job(rn_http_req *r, void *arg)
{
    handler_calls++;
    struct rn_json_builder b;
    rn_json_init(&b);
    rn_json_obj_begin(&b);
    rn_json_kstr(&b, "route", (const char *)arg);
    rn_json_kstr(&b, "id", rn_http_param(r, "id"));
    rn_json_kstr(&b, "request", rn_http_param(r, "req"));
    rn_json_kstr(&b, "method", rn_http_method(r));
    rn_json_kstr(&b, "mode", rn_http_query(r, "mode"));
    rn_json_obj_end(&b);
    reply_json(r, 200, &b);
}

static void h_echo(rn_http_req *r, void *arg)
{
    handler_calls++;
    size_t n;
    const char *body = rn_http_body(r, &n);
    struct rn_json_builder b;
    rn_json_init(&b);
    rn_json_obj_begin(&b);
    rn_json_kuint(&b, "len", n);
    rn_json_key(&b, "body");
    rn_json_strn(&b, body, n);
    rn_json_kstr(&b, "file", rn_http_query(r, "file"));
    rn_json_kstr(&b, "restore", rn_http_query(r, "restore"));
    rn_json_kstr(&b, "flag", rn_http_query(r, "flag"));
    rn_json_kstr(&b, "ctype", rn_http_header(r, "content-type"));
    rn_json_kbool(&b, "terminated", body[n] == 0);
    rn_json_obj_end(&b);
    reply_json(r, 202, &b);
}

static void h_thing(rn_http_req *r, void *arg)
{
    handler_calls++;
    rn_http_reply_text(r, 200, NULL, (const char *)arg);
}

/* replies from a timer, 50 ms after the handler returned */
struct late {
    rn_http_req *r;
    struct event *ev;
    int step;
    bool stream;
};

static void late_cb(evutil_socket_t fd, short what, void *arg)
{
    struct late *l = arg;
    if (!l->stream) {
        rn_http_reply_json(l->r, 200, "{\"late\":true}", 13);
    } else if (l->step < 3) {
        char chunk[32];
        int n = snprintf(chunk, sizeof chunk, "%spart%d", l->step ? "," : "[", l->step);
        rn_http_reply_chunk(l->r, chunk, (size_t)n);
        l->step++;
        struct timeval tv = {0, 10000};
        evtimer_add(l->ev, &tv);
        return;
    } else {
        rn_http_reply_chunk(l->r, "]", 1);
        rn_http_reply_end(l->r);
    }
    event_free(l->ev);
    free(l);
}

static void h_late(rn_http_req *r, void *arg)
{
    handler_calls++;
    struct late *l = calloc(1, sizeof *l);
    l->r = r;
    l->stream = arg != NULL;
    l->ev = evtimer_new(base, late_cb, l);
    rn_http_defer(r, NULL, NULL);
    if (l->stream) rn_http_reply_start(r, 200, "text/plain");
    struct timeval tv = {0, 50000};
    evtimer_add(l->ev, &tv);
}

static void h_stream(rn_http_req *r, void *arg)
{
    handler_calls++;
    rn_http_reply_start(r, 200, "application/json");
    rn_http_reply_chunk(r, "{\"a\":", 5);
    rn_http_reply_chunk(r, "[1,2,3]", 7);
    rn_http_reply_chunk(r, "}", 1);
    rn_http_reply_end(r);
}

static void h_noreply(rn_http_req *r, void *arg) { handler_calls++; }

static void on_drop(rn_http_req *r, void *arg)
{
    drops++;
}

static void h_hold(rn_http_req *r, void *arg)
{
    handler_calls++;
    rn_http_defer(r, on_drop, NULL);
    deferred_waiting++;
}

static void h_big(rn_http_req *r, void *arg)
{
    handler_calls++;
    size_t n = 100000;
    char *t = malloc(n + 1);
    memset(t, 'x', n);
    t[n] = 0;
    rn_http_reply_text(r, 200, NULL, t);
    free(t);
}

static void start_server(const char *token, size_t max_body)
{
    handler_calls = drops = deferred_waiting = 0;
    ck_assert_int_eq(evthread_use_pthreads(), 0);
    base = event_base_new();
    ck_assert_ptr_nonnull(base);
    struct rn_http_config cfg = {.token = token, .max_body = max_body, .timeout_s = 10};
    struct rn_error err;
    srv = rn_http_server_create(base, &cfg, &err);
    ck_assert_msg(srv, "%s", err.msg);
    port = rn_http_server_port(srv);
    ck_assert_uint_ne(port, 0);
    static const struct {
        const char *method, *pattern;
        rn_http_handler fn;
        const char *arg;
    } routes[] = {
        {"GET", "/jobs", h_jobs, NULL},
        {"POST", "/jobs", h_echo, NULL},
        {"GET", "/jobs/{id:" RN_HTTP_HEX32 "}", h_job, "job"},
        {"PATCH", "/jobs/{id:" RN_HTTP_HEX32 "}", h_job, "cancel"},
        {"GET", "/jobs/{id:" RN_HTTP_HEX32 "}/savepoints/{req:" RN_HTTP_HEX1_32 "}", h_job, "savepoint"},
        {"GET", "/things/{name}", h_thing, "param"},
        {"GET", "/things/special", h_thing, "literal"},
        {"GET", "/late", h_late, NULL},
        {"GET", "/late-stream", h_late, "stream"},
        {"GET", "/stream", h_stream, NULL},
        {"GET", "/noreply", h_noreply, NULL},
        {"GET", "/hold", h_hold, NULL},
        {"GET", "/big", h_big, NULL},
    };
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        ck_assert_msg(rn_http_route(srv, routes[i].method, routes[i].pattern, routes[i].fn, (void *)routes[i].arg, &err) == 0, "%s",
                      err.msg);
    stop_ev = event_new(base, -1, 0, stop_cb, NULL);
    ck_assert_ptr_nonnull(stop_ev);
    ck_assert_int_eq(pthread_create(&loop_thread, NULL, loop_main, NULL), 0);
}

static void stop_server(void)
{
    if (!base) return;
    event_active(stop_ev, EV_READ, 0);
    pthread_join(loop_thread, NULL);
    event_free(stop_ev);
    rn_http_server_destroy(srv);
    event_base_free(base);
    srv = NULL;
    base = NULL;
}

static void setup(void) { start_server(NULL, 0); }
static void setup_token(void) { start_server("s3cret-token", 0); }
static void setup_small_body(void) { start_server(NULL, 1024); }
static void teardown(void) { stop_server(); }

/* ------------------------------------------------------------------------------------------ */
/* client helpers                                                                              */
/* ------------------------------------------------------------------------------------------ */

struct resp {
    int rc, status;
    char *body;
    size_t len;
    struct rn_error err;
    rn_json_doc *doc;
};

static struct resp call_full(const char *method, const char *path, const char *token, const char *body, size_t body_len,
                             const char *ctype, size_t max_response)
{
    struct resp r = {0};
    struct rn_http_call c = {
        .host = "127.0.0.1",
        .port = port,
        .method = method,
        .path = path,
        .token = token,
        .body = body,
        .body_len = body_len,
        .content_type = ctype,
        .timeout_ms = TIMEOUT_MS,
        .max_response = max_response,
    };
    r.rc = rn_http_call(&c, &r.status, &r.body, &r.len, &r.err);
    if (r.rc == 0 && r.len && r.body[0] == '{') {
        struct rn_error e;
        rn_json_parse(r.body, r.len, NULL, &r.doc, &e);
    }
    return r;
}

static struct resp call(const char *method, const char *path)
{
    struct resp r = call_full(method, path, NULL, NULL, 0, NULL, 0);
    ck_assert_msg(r.rc == 0, "%s %s: %s", method, path, r.err.msg);
    return r;
}

static void resp_free(struct resp *r)
{
    free(r->body);
    rn_json_doc_free(r->doc);
}

static const char *field(const struct resp *r, const char *key)
{
    ck_assert_msg(r->doc, "not a JSON object: %s", r->body ? r->body : "(none)");
    return rn_json_get_str(rn_json_root(r->doc), key);
}

/* The reply is the JSON error form: {"error": "..."} of the status, and the message holds want. */
static void expect_error(const char *method, const char *path, int status, const char *want)
{
    struct resp r = call(method, path);
    ck_assert_msg(r.status == status, "%s %s: status %d, want %d (%s)", method, path, r.status, status, r.body);
    const char *e = field(&r, "error");
    ck_assert_msg(e, "%s %s: no error field in %s", method, path, r.body);
    if (want) ck_assert_msg(strstr(e, want), "%s %s: error '%s' does not say '%s'", method, path, e, want);
    resp_free(&r);
}

/* ------------------------------------------------------------------------------------------ */
/* routing                                                                                     */
/* ------------------------------------------------------------------------------------------ */

START_TEST(routes_dispatch_by_method_and_pass_path_parameters)
{
    struct resp r = call("GET", "/jobs");
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "{\"jobs\":[]}");
    resp_free(&r);

    r = call("GET", "/jobs/" JOB_ID);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(field(&r, "route"), "job");
    ck_assert_str_eq(field(&r, "id"), JOB_ID);
    ck_assert_ptr_null(field(&r, "request"));
    resp_free(&r);

    r = call("PATCH", "/jobs/" JOB_ID "?mode=cancel");
    ck_assert_str_eq(field(&r, "route"), "cancel");
    ck_assert_str_eq(field(&r, "method"), "PATCH");
    ck_assert_str_eq(field(&r, "mode"), "cancel");
    resp_free(&r);

    r = call("GET", "/jobs/" JOB_ID "/savepoints/a1f");
    ck_assert_str_eq(field(&r, "route"), "savepoint");
    ck_assert_str_eq(field(&r, "id"), JOB_ID);
    ck_assert_str_eq(field(&r, "request"), "a1f");
    resp_free(&r);
    ck_assert_int_eq(handler_calls, 4);
}
END_TEST

START_TEST(a_literal_segment_wins_over_a_parameter)
{
    struct resp r = call("GET", "/things/special");
    ck_assert_str_eq(r.body, "literal");
    resp_free(&r);
    r = call("GET", "/things/other-name_1");
    ck_assert_str_eq(r.body, "param");
    resp_free(&r);
}
END_TEST

START_TEST(query_parameters_and_the_body_reach_the_handler_decoded)
{
    const char yaml[] = "name: wordcount\nparallelism: 2\n";
    struct resp r = call_full("POST", "/jobs?file=job%20one.yaml&restore=%2Fsp%2Fsavepoint-1&flag", NULL, yaml, sizeof yaml - 1,
                              "application/yaml", 0);
    ck_assert_int_eq(r.rc, 0);
    ck_assert_int_eq(r.status, 202);
    ck_assert_str_eq(field(&r, "file"), "job one.yaml");
    ck_assert_str_eq(field(&r, "restore"), "/sp/savepoint-1");
    ck_assert_str_eq(field(&r, "flag"), "");
    ck_assert_str_eq(field(&r, "ctype"), "application/yaml");
    ck_assert_str_eq(field(&r, "body"), yaml);
    int64_t n;
    ck_assert_int_eq(rn_json_as_int(rn_json_get(rn_json_root(r.doc), "len"), &n), 0);
    ck_assert_int_eq(n, (int64_t)sizeof yaml - 1);
    bool term;
    ck_assert_int_eq(rn_json_as_bool(rn_json_get(rn_json_root(r.doc), "terminated"), &term), 0);
    ck_assert(term);
    resp_free(&r);
    /* '+' is a space in a query; a malformed escape is refused */
    r = call_full("POST", "/jobs?file=a+b.yaml", NULL, NULL, 0, NULL, 0);
    ck_assert_str_eq(field(&r, "file"), "a b.yaml");
    ck_assert_str_eq(field(&r, "body"), "");
    resp_free(&r);
    expect_error("POST", "/jobs?file=%zz", 400, "query");
}
END_TEST

START_TEST(an_unknown_path_is_404_in_json)
{
    expect_error("GET", "/nope", 404, "no such path");
    expect_error("GET", "/", 404, NULL);
    expect_error("GET", "/jobs/" JOB_ID "/nope", 404, NULL);
    expect_error("GET", "/jobs/", 404, NULL);
    ck_assert_int_eq(handler_calls, 0);
}
END_TEST

START_TEST(a_known_path_with_another_method_is_405_with_allow)
{
    expect_error("DELETE", "/jobs", 405, "allowed: GET, POST");
    expect_error("POST", "/jobs/" JOB_ID, 405, "GET, PATCH");
    ck_assert_int_eq(handler_calls, 0);
}
END_TEST

START_TEST(path_parameters_breaking_their_rule_are_400_before_the_handler)
{
    static const char *const bad[] = {
        "/jobs/../etc",                                   /* dot segment */
        "/jobs/%2e%2e",                                   /* encoded dot segment */
        "/jobs/%2E",                                      /* "." */
        "/jobs/.%2e/etc",
        "/jobs/abc%2fdef",                                /* encoded '/' */
        "/jobs/" JOB_ID "0",                              /* 33 characters */
        "/jobs/0123",                                     /* too short */
        "/jobs/0123456789ABCDEF0123456789ABCDEF",         /* upper case */
        "/jobs/0123456789abcdef0123456789abcdeg",         /* not hex */
        "/jobs/%30123456789abcdef0123456789abcdef%00",    /* NUL */
        "/jobs/" JOB_ID "/savepoints/0123456789abcdef0123456789abcdef0",   /* request id of 33 */
        "/jobs/" JOB_ID "/savepoints/..",
        "/jobs/%zz",                                      /* malformed escape */
        "/things/a.b",                                    /* default rule: no dots */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) expect_error("GET", bad[i], 400, NULL);
    expect_error("GET", "/jobs/" JOB_ID "0", 400, "invalid id");
    expect_error("GET", "/jobs/" JOB_ID "/savepoints/x", 400, "invalid req");
    ck_assert_int_eq(handler_calls, 0);
    /* a percent-encoded id that decodes to a valid one is fine */
    struct resp r = call("GET", "/jobs/%30123456789abcdef0123456789abcdef");
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(field(&r, "id"), JOB_ID);
    resp_free(&r);
}
END_TEST

START_TEST(route_patterns_are_checked_when_added)
{
    struct rn_error err;
    static const char *const bad[] = {
        "jobs", "/jobs/", "/jobs//x", "/jobs/{}", "/jobs/{id:[a-z]", "/jobs/{id:[]}", "/jobs/{id:[a-z]{0}}",
        "/jobs/{id:[a-z]{3,2}}", "/jobs/{id:[!-~]}", "/jobs/{1d}", "/jobs/{id}/{id}", "/jobs/..", "/jobs/a%20b",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(rn_http_route(srv, "GET", bad[i], h_jobs, NULL, &err) == RN_EINVAL, "pattern %s accepted", bad[i]);
    ck_assert_int_eq(rn_http_route(srv, "GET", "/jobs", h_jobs, NULL, &err), RN_EINVAL);   /* duplicate */
    ck_assert_int_eq(rn_http_route(srv, "BREW", "/coffee", h_jobs, NULL, &err), RN_EINVAL);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* authentication and limits                                                                   */
/* ------------------------------------------------------------------------------------------ */

START_TEST(a_missing_or_wrong_token_is_401_and_the_right_one_passes)
{
    struct resp r = call_full("GET", "/jobs", NULL, NULL, 0, NULL, 0);
    ck_assert_int_eq(r.status, 401);
    ck_assert_ptr_nonnull(field(&r, "error"));
    resp_free(&r);
    static const char *const wrong[] = {"s3cret-toke", "s3cret-token2", "S3CRET-TOKEN", "x"};
    for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
        r = call_full("GET", "/jobs", wrong[i], NULL, 0, NULL, 0);
        ck_assert_msg(r.status == 401, "token %s: status %d", wrong[i], r.status);
        resp_free(&r);
    }
    /* even unknown paths say 401 first (no route discovery without the token) */
    r = call_full("GET", "/nope", NULL, NULL, 0, NULL, 0);
    ck_assert_int_eq(r.status, 401);
    resp_free(&r);
    ck_assert_int_eq(handler_calls, 0);
    r = call_full("GET", "/jobs", "s3cret-token", NULL, 0, NULL, 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "{\"jobs\":[]}");
    resp_free(&r);
    ck_assert_int_eq(handler_calls, 1);
}
END_TEST

START_TEST(a_body_over_the_limit_is_413)
{
    char body[4096];
    memset(body, 'y', sizeof body);
    struct resp r = call_full("POST", "/jobs?file=a.yaml", NULL, body, 1024, "application/yaml", 0);
    ck_assert_int_eq(r.rc, 0);
    ck_assert_int_eq(r.status, 202);   /* at the limit */
    resp_free(&r);
    r = call_full("POST", "/jobs?file=a.yaml", NULL, body, 1025, "application/yaml", 0);
    ck_assert_msg(r.rc == 0, "%s", r.err.msg);
    ck_assert_int_eq(r.status, 413);
    resp_free(&r);
    r = call_full("POST", "/jobs?file=a.yaml", NULL, body, sizeof body, "application/yaml", 0);
    ck_assert_msg(r.rc == 0, "%s", r.err.msg);
    ck_assert_int_eq(r.status, 413);
    resp_free(&r);
    ck_assert_int_eq(handler_calls, 1);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* replies                                                                                     */
/* ------------------------------------------------------------------------------------------ */

START_TEST(a_deferred_request_is_answered_from_a_timer)
{
    struct resp r = call("GET", "/late");
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "{\"late\":true}");
    resp_free(&r);
    /* and several at once */
    for (int i = 0; i < 3; i++) {
        r = call("GET", "/late");
        ck_assert_str_eq(r.body, "{\"late\":true}");
        resp_free(&r);
    }
}
END_TEST

START_TEST(a_chunked_reply_is_read_whole_by_the_client)
{
    struct resp r = call("GET", "/stream");
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "{\"a\":[1,2,3]}");
    ck_assert_ptr_nonnull(r.doc);
    resp_free(&r);
    r = call("GET", "/late-stream");
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "[part0,part1,part2]");
    resp_free(&r);
}
END_TEST

START_TEST(a_handler_that_gives_no_reply_gets_500_sent_for_it)
{
    expect_error("GET", "/noreply", 500, "no reply");
    ck_assert_int_eq(handler_calls, 1);
}
END_TEST

struct bg_call {
    pthread_t t;
    struct resp r;
    const char *path;
};

static void *bg_main(void *arg)
{
    struct bg_call *b = arg;
    b->r = call_full("GET", b->path, NULL, NULL, 0, NULL, 0);
    return NULL;
}

START_TEST(destroying_the_server_drops_deferred_requests_through_on_drop)
{
    struct bg_call bg = {.path = "/hold"};
    ck_assert_int_eq(pthread_create(&bg.t, NULL, bg_main, &bg), 0);
    for (int i = 0; i < 500 && deferred_waiting == 0; i++) usleep(10000);
    ck_assert_int_eq(deferred_waiting, 1);
    stop_server();   /* answers 503 or closes; frees the request either way */
    pthread_join(bg.t, NULL);
    ck_assert_int_eq(drops, 1);
    ck_assert(bg.r.rc != 0 || bg.r.status == 503);
    resp_free(&bg.r);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* the client against other servers                                                           */
/* ------------------------------------------------------------------------------------------ */

struct raw {
    int lfd;
    uint16_t port;
    const char *resp;
    pthread_t t;
};

static void raw_listen(struct raw *w)
{
    w->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(w->lfd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(w->lfd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(listen(w->lfd, 4), 0);
    socklen_t sl = sizeof a;
    ck_assert_int_eq(getsockname(w->lfd, (struct sockaddr *)&a, &sl), 0);
    w->port = ntohs(a.sin_port);
}

/* accepts one connection, reads the request head, writes the canned response, closes */
static void *raw_main(void *arg)
{
    struct raw *w = arg;
    struct pollfd p = {.fd = w->lfd, .events = POLLIN};
    if (poll(&p, 1, TIMEOUT_MS) != 1) return NULL;
    int fd = accept(w->lfd, NULL, NULL);
    if (fd < 0) return NULL;
    char buf[8192];
    size_t n = 0;
    while (n < sizeof buf - 1) {
        struct pollfd q = {.fd = fd, .events = POLLIN};
        if (poll(&q, 1, TIMEOUT_MS) != 1) break;
        ssize_t k = read(fd, buf + n, sizeof buf - 1 - n);
        if (k <= 0) break;
        n += (size_t)k;
        buf[n] = 0;
        if (strstr(buf, "\r\n\r\n")) break;
    }
    size_t len = strlen(w->resp), off = 0;
    while (off < len) {
        ssize_t k = write(fd, w->resp + off, len - off);
        if (k <= 0) break;
        off += (size_t)k;
    }
    close(fd);
    return NULL;
}

static struct resp raw_call(const char *canned, size_t max_response)
{
    struct raw w = {.resp = canned};
    raw_listen(&w);
    ck_assert_int_eq(pthread_create(&w.t, NULL, raw_main, &w), 0);
    struct resp r = {0};
    struct rn_http_call c = {.host = "127.0.0.1", .port = w.port, .method = "GET", .path = "/x", .timeout_ms = TIMEOUT_MS,
                             .max_response = max_response};
    r.rc = rn_http_call(&c, &r.status, &r.body, &r.len, &r.err);
    pthread_join(w.t, NULL);
    close(w.lfd);
    return r;
}

START_TEST(the_client_reads_chunk_extensions_trailers_and_interim_responses)
{
    struct resp r = raw_call("HTTP/1.1 100 Continue\r\n\r\n"
                             "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n"
                             "4;ext=1\r\n{\"a\"\r\n"
                             "A\r\n:[1,2,3,4]\r\n"
                             "1\r\n}\r\n"
                             "0\r\nX-Trailer: yes\r\n\r\n",
                             0);
    ck_assert_msg(r.rc == 0, "%s", r.err.msg);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "{\"a\":[1,2,3,4]}");
    ck_assert_uint_eq(r.len, 15);
    resp_free(&r);
    /* without framing: the body ends with the connection */
    r = raw_call("HTTP/1.0 404 Not Found\r\n\r\nno such thing", 0);
    ck_assert_msg(r.rc == 0, "%s", r.err.msg);
    ck_assert_int_eq(r.status, 404);
    ck_assert_str_eq(r.body, "no such thing");
    resp_free(&r);
    /* Content-Length stops reading even if more follows */
    r = raw_call("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA", 0);
    ck_assert_str_eq(r.body, "ok");
    resp_free(&r);
}
END_TEST

START_TEST(the_client_refuses_malformed_responses)
{
    static const char *const bad[] = {
        "SSH-2.0-OpenSSH\r\n\r\n",
        "HTTP/1.1 2000 OK\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 12x\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
        "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nxx\r\n0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcdeXX\r\n0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
        "HTTP/1.1 200 OK\r\nNoColonHere\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Type: x",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct resp r = raw_call(bad[i], 0);
        ck_assert_msg(r.rc == RN_ECORRUPT, "case %zu: rc %d (%s)", i, r.rc, r.err.msg);
        ck_assert_ptr_null(r.body);
        ck_assert_ptr_nonnull(strstr(r.err.msg, "127.0.0.1:"));
    }
    /* closed without a word */
    struct resp r = raw_call("", 0);
    ck_assert_int_eq(r.rc, RN_EIO);
}
END_TEST

START_TEST(the_client_refuses_a_response_over_its_limit)
{
    struct resp r = call_full("GET", "/big", NULL, NULL, 0, NULL, 1000);
    ck_assert_int_eq(r.rc, RN_ERANGE);
    ck_assert_ptr_null(r.body);
    ck_assert_ptr_nonnull(strstr(r.err.msg, "limit"));
    r = call_full("GET", "/big", NULL, NULL, 0, NULL, 100000);
    ck_assert_int_eq(r.rc, 0);
    ck_assert_uint_eq(r.len, 100000);
    resp_free(&r);
    /* chunked too */
    r = raw_call("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n", 8);
    ck_assert_int_eq(r.rc, RN_ERANGE);
    r = raw_call("HTTP/1.1 200 OK\r\n\r\n0123456789abcdef", 8);
    ck_assert_int_eq(r.rc, RN_ERANGE);
}
END_TEST

START_TEST(the_client_says_when_nobody_listens)
{
    struct raw w;
    raw_listen(&w);
    close(w.lfd);   /* the port is free now: nobody listens there */
    struct rn_error err;
    int status;
    char *body;
    size_t len;
    int rc = rn_http_request("127.0.0.1", w.port, "GET", "/jobs", NULL, NULL, 0, NULL, TIMEOUT_MS, &status, &body, &len, &err);
    ck_assert_int_eq(rc, RN_EIO);
    ck_assert_int_eq(err.sys_errno, ECONNREFUSED);
    char want[64];
    snprintf(want, sizeof want, "127.0.0.1:%u", (unsigned)w.port);
    ck_assert_msg(strstr(err.msg, want), "'%s' does not name %s", err.msg, want);
    ck_assert_ptr_null(body);
}
END_TEST

START_TEST(the_client_times_out_on_a_silent_server)
{
    struct raw w;
    raw_listen(&w);   /* listens, never accepts: the connection completes, no answer comes */
    struct rn_error err;
    int status;
    char *body;
    size_t len;
    int rc = rn_http_request("127.0.0.1", w.port, "GET", "/jobs", NULL, NULL, 0, NULL, 300, &status, &body, &len, &err);
    close(w.lfd);
    ck_assert_int_eq(rc, RN_EIO);
    ck_assert_int_eq(err.sys_errno, ETIMEDOUT);
    ck_assert_ptr_nonnull(strstr(err.msg, "timed out"));
}
END_TEST

START_TEST(the_client_refuses_requests_that_would_break_the_request_line)
{
    struct rn_error err;
    int status;
    char *body;
    size_t len;
    ck_assert_int_eq(rn_http_request("127.0.0.1", port, "GET", "/jobs HTTP/1.0\r\nX: y", NULL, NULL, 0, NULL, TIMEOUT_MS, &status, &body,
                                     &len, &err),
                     RN_EINVAL);
    ck_assert_int_eq(rn_http_request("127.0.0.1", port, "GET", "/jobs", "tok\r\nX: y", NULL, 0, NULL, TIMEOUT_MS, &status, &body, &len, &err),
                     RN_EINVAL);
    ck_assert_int_eq(rn_http_request("127.0.0.1", port, "GET", "jobs", NULL, NULL, 0, NULL, TIMEOUT_MS, &status, &body, &len, &err),
                     RN_EINVAL);
    ck_assert_int_eq(handler_calls, 0);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* rn_http_safe_path                                                                           */
/* ------------------------------------------------------------------------------------------ */

static void fs_setup(void) { tu_tmp_setup("runnel-http"); }
static void fs_teardown(void) { tu_tmp_teardown(); }

START_TEST(safe_path_accepts_directories_inside_the_base)
{
    char *bdir = tu_tmp_path("bdir");
    ck_assert_int_eq(mkdir(bdir, 0777), 0);
    char *sub = tu_fmt("%s/savepoints", bdir);
    ck_assert_int_eq(mkdir(sub, 0777), 0);
    char rbase[4096], out[4096];
    ck_assert_ptr_nonnull(realpath(bdir, rbase));
    struct rn_error err;
    static const struct {
        const char *in, *want_rel;
    } ok[] = {
        {"savepoints", "/savepoints"},
        {"savepoints/sp-1", "/savepoints/sp-1"},
        {"./savepoints//new/deeper/", "/savepoints/new/deeper"},
        {"fresh", "/fresh"},
        {".", ""},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        ck_assert_msg(rn_http_safe_path(bdir, ok[i].in, out, sizeof out, &err) == 0, "%s: %s", ok[i].in, err.msg);
        char *want = tu_fmt("%s%s", rbase, ok[i].want_rel);
        ck_assert_str_eq(out, want);
        free(want);
    }
    /* an absolute path inside the bdir */
    char *abs = tu_fmt("%s/savepoints/x", rbase);
    ck_assert_int_eq(rn_http_safe_path(bdir, abs, out, sizeof out, &err), 0);
    ck_assert_str_eq(out, abs);
    /* a symlink that stays inside */
    char *inner = tu_fmt("%s/inner-link", bdir);
    ck_assert_int_eq(symlink("savepoints", inner), 0);
    ck_assert_int_eq(rn_http_safe_path(bdir, "inner-link/sp", out, sizeof out, &err), 0);
    char *want = tu_fmt("%s/savepoints/sp", rbase);
    ck_assert_str_eq(out, want);
    /* too small an output buffer */
    char tiny[8];
    ck_assert_int_eq(rn_http_safe_path(bdir, "savepoints", tiny, sizeof tiny, &err), RN_ERANGE);
    free(want);
    free(inner);
    free(abs);
    free(sub);
    free(bdir);
}
END_TEST

START_TEST(safe_path_refuses_ways_out_of_the_base)
{
    char *bdir = tu_tmp_path("bdir");
    ck_assert_int_eq(mkdir(bdir, 0777), 0);
    char *outside = tu_tmp_path("outside");
    ck_assert_int_eq(mkdir(outside, 0777), 0);
    char *link_out = tu_fmt("%s/escape", bdir);
    ck_assert_int_eq(symlink(outside, link_out), 0);
    char *link_dangling = tu_fmt("%s/dangling", bdir);
    ck_assert_int_eq(symlink("/nonexistent-runnel-target", link_dangling), 0);
    char *file = tu_fmt("%s/plain-file", bdir);
    tu_write_file(file, "x");
    char *sibling = tu_fmt("%s-sibling", bdir);   /* shares the bdir's name as a prefix */
    ck_assert_int_eq(mkdir(sibling, 0777), 0);
    char *abs_outside = tu_fmt("%s/x", outside);
    static const char *fixed[] = {"..", "../outside", "savepoints/../../outside", "a/..", "/etc", "/", "", "a\nb"};
    char out[4096];
    struct rn_error err;
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        ck_assert_msg(rn_http_safe_path(bdir, fixed[i], out, sizeof out, &err) != 0, "'%s' accepted as %s", fixed[i], out);
    const char *made[] = {"escape", "escape/sp", "dangling", "dangling/x", "plain-file/x", abs_outside, sibling, outside};
    for (size_t i = 0; i < sizeof made / sizeof made[0]; i++) {
        int rc = rn_http_safe_path(bdir, made[i], out, sizeof out, &err);
        ck_assert_msg(rc == RN_EINVAL, "'%s': rc %d (%s)", made[i], rc, rc ? err.msg : out);
        ck_assert(err.msg[0]);
    }
    ck_assert_int_eq(rn_http_safe_path(bdir, "escape/sp", out, sizeof out, &err), RN_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "outside"));
    ck_assert_int_eq(rn_http_safe_path(bdir, "../outside", out, sizeof out, &err), RN_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, ".."));
    /* a bdir that does not exist */
    char *missing = tu_fmt("%s/missing", bdir);
    ck_assert_int_eq(rn_http_safe_path(missing, "x", out, sizeof out, &err), RN_ENOTFOUND);
    free(missing);
    free(abs_outside);
    free(sibling);
    free(file);
    free(link_dangling);
    free(link_out);
    free(outside);
    free(bdir);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("http");
    TCase *tr = tcase_create("server");
    tcase_add_checked_fixture(tr, setup, teardown);
    tcase_add_test(tr, routes_dispatch_by_method_and_pass_path_parameters);
    tcase_add_test(tr, a_literal_segment_wins_over_a_parameter);
    tcase_add_test(tr, query_parameters_and_the_body_reach_the_handler_decoded);
    tcase_add_test(tr, an_unknown_path_is_404_in_json);
    tcase_add_test(tr, a_known_path_with_another_method_is_405_with_allow);
    tcase_add_test(tr, path_parameters_breaking_their_rule_are_400_before_the_handler);
    tcase_add_test(tr, route_patterns_are_checked_when_added);
    tcase_add_test(tr, a_deferred_request_is_answered_from_a_timer);
    tcase_add_test(tr, a_chunked_reply_is_read_whole_by_the_client);
    tcase_add_test(tr, a_handler_that_gives_no_reply_gets_500_sent_for_it);
    tcase_add_test(tr, destroying_the_server_drops_deferred_requests_through_on_drop);
    tcase_add_test(tr, the_client_refuses_a_response_over_its_limit);
    tcase_add_test(tr, the_client_refuses_requests_that_would_break_the_request_line);
    suite_add_tcase(s, tr);
    TCase *ta = tcase_create("auth");
    tcase_add_checked_fixture(ta, setup_token, teardown);
    tcase_add_test(ta, a_missing_or_wrong_token_is_401_and_the_right_one_passes);
    suite_add_tcase(s, ta);
    TCase *tl = tcase_create("limits");
    tcase_add_checked_fixture(tl, setup_small_body, teardown);
    tcase_add_test(tl, a_body_over_the_limit_is_413);
    suite_add_tcase(s, tl);
    TCase *tc = tcase_create("client");
    tcase_add_test(tc, the_client_reads_chunk_extensions_trailers_and_interim_responses);
    tcase_add_test(tc, the_client_refuses_malformed_responses);
    tcase_add_test(tc, the_client_says_when_nobody_listens);
    tcase_add_test(tc, the_client_times_out_on_a_silent_server);
    suite_add_tcase(s, tc);
    TCase *tf = tcase_create("safe_path");
    tcase_add_checked_fixture(tf, fs_setup, fs_teardown);
    tcase_add_test(tf, safe_path_accepts_directories_inside_the_base);
    tcase_add_test(tf, safe_path_refuses_ways_out_of_the_base);
    suite_add_tcase(s, tf);
    return s;
}

TU_MAIN(make_suite)
