/*
 * test_rpc.c — Check suite "rpc": the control RPC transport of runtime/rpc/rpc.c over real
 * TCP connections on 127.0.0.1 (port 0: the OS picks a free one): messages arriving intact and
 * in order from several threads, frames that are too long, do not decode or are cut off
 * closing the connection with a logged reason while the server goes on, sends on a closed
 * connection failing cleanly, close and destroy semantics, and the loop's calls and timers.
 *
 * Assumes loopback networking. Every wait has a timeout (WAIT_S); assertions run on the test's
 * own thread only (callbacks on the loop thread just record what they saw).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "rpc/rpc.h"
#include "testutil.h"

#define WAIT_S 10

/* ---- what one end's callbacks saw ---- */

struct blob {
    uint8_t *p;
    size_t n;
};

struct side;
typedef void (*hook_fn)(struct side *s, rn_rpc_conn *c, const Runnel__Rpc__Envelope *msg);

struct side {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    rn_rpc_loop *loop;
    int opens, closes, msgs;
    int off_thread;             /* callbacks that ran off the loop thread */
    char reason[512];           /* of the last close */
    rn_rpc_conn *conns[16];     /* a reference to each connection opened (dropped at the end) */
    int n_conns;
    struct blob *got;           /* each message, packed again */
    size_t n_got, cap_got;
    bool keep;                  /* keep the messages (else only count them) */
    hook_fn hook;               /* run for each message, after it was recorded */
    int close_after;            /* rn_rpc_close the connection after this many messages (0: never) */
    /* two-thread ordering check: heartbeat time = thread << 32 | sequence, < 0: a marker */
    bool count_order;
    uint32_t next_seq[2];
    int order_errors;
    int markers;
    int send_errors;            /* replies of a hook that failed */
};

static void side_init(struct side *s, rn_rpc_loop *loop)
{
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    s->loop = loop;
    s->keep = true;
}

static void side_free(struct side *s)
{
    for (int i = 0; i < s->n_conns; i++) rn_rpc_conn_unref(s->conns[i]);
    for (size_t i = 0; i < s->n_got; i++) free(s->got[i].p);
    free(s->got);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
}

static void note_thread(struct side *s)
{
    if (!rn_rpc_loop_on_thread(s->loop)) s->off_thread++;
}

static void on_open(rn_rpc_conn *c, void *ctx)
{
    struct side *s = ctx;
    pthread_mutex_lock(&s->mu);
    note_thread(s);
    s->opens++;
    if (s->n_conns < 16) {
        rn_rpc_conn_ref(c);
        s->conns[s->n_conns++] = c;
    }
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static void on_message(rn_rpc_conn *c, const Runnel__Rpc__Envelope *msg, void *ctx)
{
    struct side *s = ctx;
    pthread_mutex_lock(&s->mu);
    note_thread(s);
    s->msgs++;
    if (s->keep) {
        if (s->n_got == s->cap_got) {
            s->cap_got = s->cap_got ? 2 * s->cap_got : 16;
            s->got = realloc(s->got, s->cap_got * sizeof *s->got);
        }
        size_t n = runnel__rpc__envelope__get_packed_size(msg);
        uint8_t *p = malloc(n ? n : 1);
        runnel__rpc__envelope__pack(msg, p);
        s->got[s->n_got++] = (struct blob){p, n};
    }
    if (s->count_order && msg->msg_case == RUNNEL__RPC__ENVELOPE__MSG_HEARTBEAT) {
        int64_t t = msg->heartbeat->time_ms;
        if (t < 0) {
            s->markers++;
        } else {
            int who = (int)(t >> 32);
            uint32_t seq = (uint32_t)t;
            if (who > 1 || seq != s->next_seq[who]) s->order_errors++;
            else s->next_seq[who]++;
        }
    }
    int n = s->msgs;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    if (s->hook) s->hook(s, c, msg);
    if (s->close_after && n == s->close_after) rn_rpc_close(c);
}

static void on_close(rn_rpc_conn *c, const char *reason, void *ctx)
{
    struct side *s = ctx;
    pthread_mutex_lock(&s->mu);
    note_thread(s);
    s->closes++;
    snprintf(s->reason, sizeof s->reason, "%s", reason);
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static const struct rn_rpc_callbacks callbacks = {on_open, on_message, on_close};

/* Waits until *field >= want (at most WAIT_S seconds); returns whether it got there. */
static bool wait_ge(struct side *s, const int *field, int want)
{
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += WAIT_S;
    pthread_mutex_lock(&s->mu);
    while (*field < want)
        if (pthread_cond_timedwait(&s->cv, &s->mu, &dl) == ETIMEDOUT) break;
    bool ok = *field >= want;
    pthread_mutex_unlock(&s->mu);
    return ok;
}

static int get_int(struct side *s, const int *field)
{
    pthread_mutex_lock(&s->mu);
    int v = *field;
    pthread_mutex_unlock(&s->mu);
    return v;
}

/* Message i as received (the caller frees it). */
static Runnel__Rpc__Envelope *got(struct side *s, size_t i)
{
    pthread_mutex_lock(&s->mu);
    ck_assert_uint_lt(i, s->n_got);
    Runnel__Rpc__Envelope *m = runnel__rpc__envelope__unpack(NULL, s->got[i].n, s->got[i].p);
    pthread_mutex_unlock(&s->mu);
    ck_assert_ptr_nonnull(m);
    return m;
}

/* ---- a loop with a server ---- */

struct env {
    char *log_path;
    FILE *log;
    rn_rpc_loop *loop;
    rn_rpc_server *server;
    uint16_t port;
    struct side srv, cli;
};

static void env_open(struct env *e)
{
    struct rn_error err;
    e->log_path = tu_tmp_path("rpc.log");
    e->log = fopen(e->log_path, "w");
    ck_assert_ptr_nonnull(e->log);
    e->loop = rn_rpc_loop_create(e->log, &err);
    ck_assert_msg(e->loop, "loop: %s", err.msg);
    side_init(&e->srv, e->loop);
    side_init(&e->cli, e->loop);
    e->server = rn_rpc_server_create(e->loop, "127.0.0.1", 0, &callbacks, &e->srv, &err);
    ck_assert_msg(e->server, "server: %s", err.msg);
    e->port = rn_rpc_server_port(e->server);
    ck_assert_uint_gt(e->port, 0);
}

static void env_close(struct env *e)
{
    rn_rpc_server_destroy(e->server);
    rn_rpc_loop_destroy(e->loop);
    side_free(&e->srv);
    side_free(&e->cli);
    fclose(e->log);
    free(e->log_path);
}

/* A client connection of e->cli, open (the caller unrefs it). */
static rn_rpc_conn *client(struct env *e)
{
    struct rn_error err;
    int opens = get_int(&e->cli, &e->cli.opens);
    rn_rpc_conn *c = rn_rpc_connect(e->loop, "127.0.0.1", e->port, &callbacks, &e->cli, &err);
    ck_assert_msg(c, "connect: %s", err.msg);
    ck_assert_msg(wait_ge(&e->cli, &e->cli.opens, opens + 1), "the client did not connect: %s", e->cli.reason);
    return c;
}

static char *log_text(struct env *e)
{
    fflush(e->log);
    char *t = tu_slurp(e->log_path);
    ck_assert_ptr_nonnull(t);
    return t;
}

static void send_ok(rn_rpc_conn *c, const Runnel__Rpc__Envelope *env)
{
    struct rn_error err;
    int rc = rn_rpc_send(c, env, &err);
    ck_assert_msg(rc == 0, "send: %s", err.msg);
}

static void send_heartbeat(rn_rpc_conn *c, int64_t t)
{
    Runnel__Rpc__Heartbeat hb = RUNNEL__RPC__HEARTBEAT__INIT;
    hb.time_ms = t;
    Runnel__Rpc__Envelope env = RUNNEL__RPC__ENVELOPE__INIT;
    env.msg_case = RUNNEL__RPC__ENVELOPE__MSG_HEARTBEAT;
    env.heartbeat = &hb;
    send_ok(c, &env);
}

/* ---- raw sockets, for peers that break the protocol ---- */

/* A blocking connection to 127.0.0.1:port; *local gets its own port. */
static int raw_connect(uint16_t port, uint16_t *local)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_msg(connect(fd, (struct sockaddr *)&a, sizeof a) == 0, "connect: %s", strerror(errno));
    struct timeval tv = {WAIT_S, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in me;
    socklen_t len = sizeof me;
    ck_assert(getsockname(fd, (struct sockaddr *)&me, &len) == 0);
    if (local) *local = ntohs(me.sin_port);
    return fd;
}

static void raw_write(int fd, const void *p, size_t n)
{
    ck_assert_msg(send(fd, p, n, MSG_NOSIGNAL) == (ssize_t)n, "raw write: %s", strerror(errno));
}

static void raw_prefix(int fd, uint32_t len)
{
    uint8_t h[4] = {(uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8), (uint8_t)len};
    raw_write(fd, h, 4);
}

/* Whether the other end closed fd (EOF or reset) within WAIT_S. */
static bool raw_closed_by_peer(int fd)
{
    char b[256];
    for (;;) {
        ssize_t n = recv(fd, b, sizeof b, 0);
        if (n == 0) return true;
        if (n < 0) return errno == ECONNRESET;
    }
}

/* ---- messages ---- */

static void check_register_arrived(struct side *s, size_t i)
{
    Runnel__Rpc__Envelope *m = got(s, i);
    ck_assert_int_eq(m->msg_case, RUNNEL__RPC__ENVELOPE__MSG_REGISTER);
    Runnel__Rpc__RegisterTaskManager *r = m->register_;
    ck_assert_str_eq(r->id, "127.0.0.1:6001/4242");
    ck_assert_uint_eq(r->slots, 4);
    ck_assert_str_eq(r->data_host, "127.0.0.1");
    ck_assert_uint_eq(r->data_port, 6001);
    ck_assert_uint_eq(r->pid, 4242);
    ck_assert_uint_eq(r->n_running, 2);
    ck_assert_str_eq(r->running[0]->job_id, "job-a");
    ck_assert_uint_eq(r->running[0]->attempt, 3);
    ck_assert_str_eq(r->running[1]->job_id, "job-b");
    ck_assert_uint_eq(r->running[1]->attempt, 0);
    rn_rpc_envelope_free(m);
}

static void send_register(rn_rpc_conn *c)
{
    Runnel__Rpc__RunningAttempt a = RUNNEL__RPC__RUNNING_ATTEMPT__INIT, b = RUNNEL__RPC__RUNNING_ATTEMPT__INIT;
    a.job_id = "job-a";
    a.attempt = 3;
    b.job_id = "job-b";
    Runnel__Rpc__RunningAttempt *running[] = {&a, &b};
    Runnel__Rpc__RegisterTaskManager r = RUNNEL__RPC__REGISTER_TASK_MANAGER__INIT;
    r.id = "127.0.0.1:6001/4242";
    r.slots = 4;
    r.data_host = "127.0.0.1";
    r.data_port = 6001;
    r.pid = 4242;
    r.n_running = 2;
    r.running = running;
    Runnel__Rpc__Envelope env = RUNNEL__RPC__ENVELOPE__INIT;
    env.msg_case = RUNNEL__RPC__ENVELOPE__MSG_REGISTER;
    env.register_ = &r;
    send_ok(c, &env);
}

/* Server hook: answers a register with a register_ack and a heartbeat with time + 1. */
static void answer(struct side *s, rn_rpc_conn *c, const Runnel__Rpc__Envelope *msg)
{
    Runnel__Rpc__Envelope env = RUNNEL__RPC__ENVELOPE__INIT;
    Runnel__Rpc__RegisterAck ack = RUNNEL__RPC__REGISTER_ACK__INIT;
    Runnel__Rpc__Heartbeat hb = RUNNEL__RPC__HEARTBEAT__INIT;
    if (msg->msg_case == RUNNEL__RPC__ENVELOPE__MSG_REGISTER) {
        ack.accepted = true;
        ack.reason = "welcome";
        ack.heartbeat_ms = 1500;
        env.msg_case = RUNNEL__RPC__ENVELOPE__MSG_REGISTER_ACK;
        env.register_ack = &ack;
    } else if (msg->msg_case == RUNNEL__RPC__ENVELOPE__MSG_HEARTBEAT) {
        hb.time_ms = msg->heartbeat->time_ms + 1;
        env.msg_case = RUNNEL__RPC__ENVELOPE__MSG_HEARTBEAT;
        env.heartbeat = &hb;
    } else {
        return;
    }
    if (rn_rpc_send(c, &env, NULL)) {
        pthread_mutex_lock(&s->mu);
        s->send_errors++;
        pthread_mutex_unlock(&s->mu);
    }
}

/* ---- tests ---- */

static void setup(void) { tu_tmp_setup("runnel-rpc"); }
static void teardown(void) { tu_tmp_teardown(); }

START_TEST(register_ack_and_heartbeat_arrive_intact)
{
    struct env e;
    env_open(&e);
    e.srv.hook = answer;
    rn_rpc_conn *c = client(&e);
    char want_peer[32];
    snprintf(want_peer, sizeof want_peer, "127.0.0.1:%u", (unsigned)e.port);
    ck_assert_str_eq(rn_rpc_peer(c), want_peer);

    send_register(c);
    ck_assert_msg(wait_ge(&e.cli, &e.cli.msgs, 1), "no register_ack");
    check_register_arrived(&e.srv, 0);
    Runnel__Rpc__Envelope *m = got(&e.cli, 0);
    ck_assert_int_eq(m->msg_case, RUNNEL__RPC__ENVELOPE__MSG_REGISTER_ACK);
    ck_assert(m->register_ack->accepted);
    ck_assert_str_eq(m->register_ack->reason, "welcome");
    ck_assert_uint_eq(m->register_ack->heartbeat_ms, 1500);
    rn_rpc_envelope_free(m);

    send_heartbeat(c, 1234567890123);
    ck_assert_msg(wait_ge(&e.cli, &e.cli.msgs, 2), "no heartbeat back");
    m = got(&e.srv, 1);
    ck_assert_int_eq(m->msg_case, RUNNEL__RPC__ENVELOPE__MSG_HEARTBEAT);
    ck_assert_int_eq(m->heartbeat->time_ms, 1234567890123);
    rn_rpc_envelope_free(m);
    m = got(&e.cli, 1);
    ck_assert_int_eq(m->msg_case, RUNNEL__RPC__ENVELOPE__MSG_HEARTBEAT);
    ck_assert_int_eq(m->heartbeat->time_ms, 1234567890124);
    rn_rpc_envelope_free(m);

    /* The server saw the client's address as its peer. */
    ck_assert_int_eq(get_int(&e.srv, &e.srv.opens), 1);
    ck_assert_msg(strncmp(rn_rpc_peer(e.srv.conns[0]), "127.0.0.1:", 10) == 0, "peer %s",
                  rn_rpc_peer(e.srv.conns[0]));
    ck_assert_int_eq(get_int(&e.srv, &e.srv.send_errors), 0);
    ck_assert_int_eq(get_int(&e.srv, &e.srv.off_thread) + get_int(&e.cli, &e.cli.off_thread), 0);
    rn_rpc_conn_unref(c);
    env_close(&e);
}
END_TEST

START_TEST(messages_sent_before_the_connection_is_up_leave_once_it_is)
{
    struct env e;
    env_open(&e);
    struct rn_error err;
    rn_rpc_conn *c = rn_rpc_connect(e.loop, "localhost", e.port, &callbacks, &e.cli, &err);
    ck_assert_msg(c, "connect: %s", err.msg);
    ck_assert_ptr_null(rn_rpc_conn_user(c));
    rn_rpc_conn_set_user(c, &e);
    ck_assert_ptr_eq(rn_rpc_conn_user(c), &e);
    send_register(c);   /* most likely before the connect finished */
    send_heartbeat(c, 9);
    ck_assert_msg(wait_ge(&e.srv, &e.srv.msgs, 2), "only %d messages arrived", get_int(&e.srv, &e.srv.msgs));
    check_register_arrived(&e.srv, 0);
    Runnel__Rpc__Envelope *m = got(&e.srv, 1);
    ck_assert_int_eq(m->heartbeat->time_ms, 9);
    rn_rpc_envelope_free(m);
    ck_assert(wait_ge(&e.cli, &e.cli.opens, 1));
    rn_rpc_conn_unref(c);
    env_close(&e);
}
END_TEST

START_TEST(a_large_message_arrives_intact_between_small_ones)
{
    struct env e;
    env_open(&e);
    rn_rpc_conn *c = client(&e);
    size_t n = 3u << 20;
    uint8_t *yaml = malloc(n);
    for (size_t i = 0; i < n; i++) yaml[i] = (uint8_t)(i * 7 + (i >> 11));
    Runnel__Rpc__DeployJob d = RUNNEL__RPC__DEPLOY_JOB__INIT;
    d.job_id = "job-big";
    d.attempt = 2;
    d.job_yaml.data = yaml;
    d.job_yaml.len = n;
    Runnel__Rpc__Envelope env = RUNNEL__RPC__ENVELOPE__INIT;
    env.msg_case = RUNNEL__RPC__ENVELOPE__MSG_DEPLOY;
    env.deploy = &d;
    send_heartbeat(c, 1);
    send_ok(c, &env);
    send_heartbeat(c, 2);
    ck_assert_msg(wait_ge(&e.srv, &e.srv.msgs, 3), "only %d messages arrived", get_int(&e.srv, &e.srv.msgs));
    Runnel__Rpc__Envelope *m = got(&e.srv, 1);
    ck_assert_int_eq(m->msg_case, RUNNEL__RPC__ENVELOPE__MSG_DEPLOY);
    ck_assert_str_eq(m->deploy->job_id, "job-big");
    ck_assert_uint_eq(m->deploy->attempt, 2);
    ck_assert_uint_eq(m->deploy->job_yaml.len, n);
    ck_assert(memcmp(m->deploy->job_yaml.data, yaml, n) == 0);
    rn_rpc_envelope_free(m);
    m = got(&e.srv, 2);
    ck_assert_int_eq(m->heartbeat->time_ms, 2);
    rn_rpc_envelope_free(m);
    free(yaml);
    rn_rpc_conn_unref(c);
    env_close(&e);
}
END_TEST

#define PER_THREAD 5000

struct sender {
    rn_rpc_conn *c;
    int who;
    int failures;
    char first_error[480];
};

static void *send_many(void *arg)
{
    struct sender *s = arg;
    Runnel__Rpc__Heartbeat hb = RUNNEL__RPC__HEARTBEAT__INIT;
    Runnel__Rpc__Envelope env = RUNNEL__RPC__ENVELOPE__INIT;
    env.msg_case = RUNNEL__RPC__ENVELOPE__MSG_HEARTBEAT;
    env.heartbeat = &hb;
    for (uint32_t i = 0; i < PER_THREAD; i++) {
        hb.time_ms = (int64_t)s->who << 32 | i;
        struct rn_error err;
        if (rn_rpc_send(s->c, &env, &err)) {
            if (!s->failures++) snprintf(s->first_error, sizeof s->first_error, "%s", err.msg);
        }
    }
    return NULL;
}

START_TEST(messages_sent_from_two_threads_arrive_once_each_in_order_per_thread)
{
    struct env e;
    env_open(&e);
    e.srv.keep = false;
    e.srv.count_order = true;
    rn_rpc_conn *c = client(&e);
    struct sender s[2] = {{c, 0, 0, ""}, {c, 1, 0, ""}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++) ck_assert_int_eq(pthread_create(&t[i], NULL, send_many, &s[i]), 0);
    for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
    ck_assert_msg(s[0].failures + s[1].failures == 0, "sends failed: %s%s", s[0].first_error, s[1].first_error);
    send_heartbeat(c, -1);   /* a marker after everything */
    ck_assert_msg(wait_ge(&e.srv, &e.srv.markers, 1), "the marker did not arrive (%d messages)",
                  get_int(&e.srv, &e.srv.msgs));
    pthread_mutex_lock(&e.srv.mu);
    int msgs = e.srv.msgs, errors = e.srv.order_errors;
    uint32_t n0 = e.srv.next_seq[0], n1 = e.srv.next_seq[1];
    pthread_mutex_unlock(&e.srv.mu);
    ck_assert_int_eq(errors, 0);
    ck_assert_uint_eq(n0, PER_THREAD);
    ck_assert_uint_eq(n1, PER_THREAD);
    ck_assert_int_eq(msgs, 2 * PER_THREAD + 1);
    rn_rpc_conn_unref(c);
    env_close(&e);
}
END_TEST

/* The log has the line the server wrote when it closed the connection from local port lp. */
static void check_logged(struct env *e, uint16_t lp, const char *reason)
{
    char *want = tu_fmt("rpc: closing connection from 127.0.0.1:%u: %s", (unsigned)lp, reason);
    char *log = log_text(e);
    ck_assert_msg(strstr(log, want), "log lacks \"%s\":\n%s", want, log);
    free(log);
    free(want);
}

/* A new client still registers and gets its answer. */
static void check_server_still_serves(struct env *e)
{
    e->srv.hook = answer;
    int before = get_int(&e->cli, &e->cli.msgs);
    rn_rpc_conn *c = client(e);
    send_register(c);
    ck_assert_msg(wait_ge(&e->cli, &e->cli.msgs, before + 1), "the server no longer answers");
    Runnel__Rpc__Envelope *m = got(&e->cli, (size_t)before);
    ck_assert_int_eq(m->msg_case, RUNNEL__RPC__ENVELOPE__MSG_REGISTER_ACK);
    rn_rpc_envelope_free(m);
    rn_rpc_conn_unref(c);
}

START_TEST(an_oversized_length_prefix_closes_the_connection_with_a_logged_reason)
{
    struct env e;
    env_open(&e);
    uint16_t lp;
    int fd = raw_connect(e.port, &lp);
    ck_assert(wait_ge(&e.srv, &e.srv.opens, 1));
    raw_prefix(fd, 17000000);
    raw_write(fd, "abcdefgh", 8);   /* the start of a body that is never read */
    ck_assert_msg(wait_ge(&e.srv, &e.srv.closes, 1), "the server did not close the connection");
    const char *why = "frame of 17000000 bytes exceeds the limit of 16777216";
    ck_assert_str_eq(e.srv.reason, why);
    check_logged(&e, lp, why);
    ck_assert(raw_closed_by_peer(fd));
    close(fd);
    ck_assert_int_eq(get_int(&e.srv, &e.srv.msgs), 0);
    check_server_still_serves(&e);
    env_close(&e);
}
END_TEST

START_TEST(the_frame_limit_is_set_per_server_and_per_connection)
{
    struct env e;
    env_open(&e);
    struct rn_error err;
    ck_assert_int_eq(rn_rpc_server_set_max_frame(e.server, 0, &err), RN_EINVAL);
    ck_assert_int_eq(rn_rpc_server_set_max_frame(e.server, 16, &err), 0);
    uint16_t lp;
    int fd = raw_connect(e.port, &lp);
    raw_prefix(fd, 17);
    ck_assert(wait_ge(&e.srv, &e.srv.closes, 1));
    check_logged(&e, lp, "frame of 17 bytes exceeds the limit of 16");
    close(fd);
    /* A sender refuses a message over its own connection's limit, and the connection stays. */
    rn_rpc_conn *c = client(&e);
    ck_assert_int_eq(rn_rpc_conn_set_max_frame(c, 8, &err), 0);
    Runnel__Rpc__CancelJob cj = RUNNEL__RPC__CANCEL_JOB__INIT;
    cj.job_id = "a-job-id-longer-than-eight-bytes";
    Runnel__Rpc__Envelope env = RUNNEL__RPC__ENVELOPE__INIT;
    env.msg_case = RUNNEL__RPC__ENVELOPE__MSG_CANCEL;
    env.cancel = &cj;
    ck_assert_int_eq(rn_rpc_send(c, &env, &err), RN_ERANGE);
    ck_assert_msg(strstr(err.msg, "exceeds the frame limit of 8"), "%s", err.msg);
    send_heartbeat(c, 5);   /* 4 bytes: fits both limits */
    ck_assert(wait_ge(&e.srv, &e.srv.msgs, 1));
    ck_assert(!rn_rpc_conn_closed(c));
    rn_rpc_conn_unref(c);
    env_close(&e);
}
END_TEST

/* Frame bodies that are not a usable Envelope, with what the log must say. */
static const struct {
    const char *body;
    size_t len;
    const char *reason;
} bad_bodies[] = {
    {"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 16,
     "frame of 16 bytes does not decode as an Envelope"},
    {"\x0a\x0a\x0a\x01", 4, "frame of 4 bytes does not decode as an Envelope"},   /* sub-message cut */
    {"", 0, "frame of 0 bytes is an Envelope with no message (or one unknown here)"},
    {"\x98\x06\x01", 3, "frame of 3 bytes is an Envelope with no message (or one unknown here)"},  /* field 99 */
    /* an ack whose unknown field has number 0, written in two bytes (protobuf-c reads it) */
    {"\x42\x03\x80\x00\x3f", 5, "frame of 5 bytes has a field numbered 0 or above 2^29 - 1"},
};

START_TEST(garbage_of_a_valid_length_closes_the_connection_with_a_logged_reason)
{
    struct env e;
    env_open(&e);
    uint16_t lp;
    int fd = raw_connect(e.port, &lp);
    raw_prefix(fd, (uint32_t)bad_bodies[_i].len);
    if (bad_bodies[_i].len) raw_write(fd, bad_bodies[_i].body, bad_bodies[_i].len);
    ck_assert_msg(wait_ge(&e.srv, &e.srv.closes, 1), "the server did not close the connection");
    ck_assert_str_eq(e.srv.reason, bad_bodies[_i].reason);
    check_logged(&e, lp, bad_bodies[_i].reason);
    ck_assert(raw_closed_by_peer(fd));
    close(fd);
    ck_assert_int_eq(get_int(&e.srv, &e.srv.msgs), 0);
    check_server_still_serves(&e);
    env_close(&e);
}
END_TEST

START_TEST(a_frame_cut_off_by_the_peer_closing_delivers_nothing_of_it)
{
    struct env e;
    env_open(&e);
    uint16_t lp;
    int fd = raw_connect(e.port, &lp);
    /* One whole heartbeat, then 40 bytes of a 100-byte frame, then the end. */
    Runnel__Rpc__Heartbeat hb = RUNNEL__RPC__HEARTBEAT__INIT;
    hb.time_ms = 77;
    Runnel__Rpc__Envelope env = RUNNEL__RPC__ENVELOPE__INIT;
    env.msg_case = RUNNEL__RPC__ENVELOPE__MSG_HEARTBEAT;
    env.heartbeat = &hb;
    uint8_t *frame;
    size_t len;
    struct rn_error err;
    ck_assert_int_eq(rn_rpc_encode(&env, RN_RPC_MAX_FRAME, &frame, &len, &err), 0);
    raw_write(fd, frame, len);
    free(frame);
    raw_prefix(fd, 100);
    char part[40];
    memset(part, 0x0a, sizeof part);
    raw_write(fd, part, sizeof part);
    close(fd);
    ck_assert_msg(wait_ge(&e.srv, &e.srv.closes, 1), "no on_close");
    const char *why = "the peer closed the connection in the middle of a frame (44 bytes of it received)";
    ck_assert_str_eq(e.srv.reason, why);
    check_logged(&e, lp, why);
    ck_assert_int_eq(get_int(&e.srv, &e.srv.msgs), 1);
    Runnel__Rpc__Envelope *m = got(&e.srv, 0);
    ck_assert_int_eq(m->heartbeat->time_ms, 77);
    rn_rpc_envelope_free(m);
    env_close(&e);
}
END_TEST

START_TEST(sending_after_the_peer_closed_returns_an_error)
{
    struct env e;
    env_open(&e);
    e.srv.close_after = 1;
    rn_rpc_conn *c = client(&e);
    send_heartbeat(c, 1);
    ck_assert_msg(wait_ge(&e.cli, &e.cli.closes, 1), "the client did not see the close");
    ck_assert_str_eq(e.cli.reason, "closed by the peer");
    ck_assert_str_eq(e.srv.reason, "closed locally");
    ck_assert(rn_rpc_conn_closed(c));
    struct rn_error err;
    Runnel__Rpc__Heartbeat hb = RUNNEL__RPC__HEARTBEAT__INIT;
    Runnel__Rpc__Envelope env = RUNNEL__RPC__ENVELOPE__INIT;
    env.msg_case = RUNNEL__RPC__ENVELOPE__MSG_HEARTBEAT;
    env.heartbeat = &hb;
    ck_assert_int_eq(rn_rpc_send(c, &env, &err), RN_EIO);
    ck_assert_msg(strstr(err.msg, "is closed: closed by the peer"), "%s", err.msg);
    rn_rpc_close(c);   /* nothing to do */
    ck_assert_int_eq(get_int(&e.cli, &e.cli.closes), 1);
    rn_rpc_conn_unref(c);
    env_close(&e);
}
END_TEST

struct flood {
    rn_rpc_conn *c;
    long sent;
    int rc;
};

static void *send_until_error(void *arg)
{
    struct flood *f = arg;
    Runnel__Rpc__Heartbeat hb = RUNNEL__RPC__HEARTBEAT__INIT;
    Runnel__Rpc__Envelope env = RUNNEL__RPC__ENVELOPE__INIT;
    env.msg_case = RUNNEL__RPC__ENVELOPE__MSG_HEARTBEAT;
    env.heartbeat = &hb;
    time_t end = time(NULL) + WAIT_S;
    while (time(NULL) < end) {
        hb.time_ms = f->sent;
        f->rc = rn_rpc_send(f->c, &env, NULL);
        if (f->rc) break;
        f->sent++;
    }
    return NULL;
}

START_TEST(a_thread_sending_while_the_peer_closes_gets_an_error)
{
    struct env e;
    env_open(&e);
    e.srv.keep = false;
    e.srv.close_after = 100;
    rn_rpc_conn *c = client(&e);
    struct flood f = {c, 0, 0};
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, send_until_error, &f), 0);
    pthread_join(t, NULL);
    ck_assert_msg(f.rc == RN_EIO, "the sender ended with %d after %ld messages", f.rc, f.sent);
    ck_assert_msg(f.sent >= 100, "only %ld sent", f.sent);
    ck_assert(wait_ge(&e.cli, &e.cli.closes, 1));
    ck_assert_int_eq(get_int(&e.cli, &e.cli.closes), 1);
    rn_rpc_conn_unref(c);
    env_close(&e);
}
END_TEST

/* Server hook-less variant: on_open of the server sends an ack then closes. */
static void ack_and_close(rn_rpc_conn *c, void *ctx)
{
    on_open(c, ctx);
    Runnel__Rpc__RegisterAck ack = RUNNEL__RPC__REGISTER_ACK__INIT;
    ack.reason = "full";
    Runnel__Rpc__Envelope env = RUNNEL__RPC__ENVELOPE__INIT;
    env.msg_case = RUNNEL__RPC__ENVELOPE__MSG_REGISTER_ACK;
    env.register_ack = &ack;
    rn_rpc_send(c, &env, NULL);
    rn_rpc_close(c);
}

START_TEST(close_sends_what_was_queued_before_it)
{
    struct env e;
    env_open(&e);
    rn_rpc_server_destroy(e.server);
    struct rn_error err;
    const struct rn_rpc_callbacks cb = {ack_and_close, on_message, on_close};
    e.server = rn_rpc_server_create(e.loop, NULL, 0, &cb, &e.srv, &err);
    ck_assert_msg(e.server, "%s", err.msg);
    e.port = rn_rpc_server_port(e.server);
    rn_rpc_conn *c = client(&e);
    ck_assert(wait_ge(&e.cli, &e.cli.closes, 1));
    ck_assert_int_eq(get_int(&e.cli, &e.cli.msgs), 1);
    Runnel__Rpc__Envelope *m = got(&e.cli, 0);
    ck_assert_int_eq(m->msg_case, RUNNEL__RPC__ENVELOPE__MSG_REGISTER_ACK);
    ck_assert_str_eq(m->register_ack->reason, "full");
    rn_rpc_envelope_free(m);
    ck_assert_str_eq(e.cli.reason, "closed by the peer");
    rn_rpc_conn_unref(c);
    env_close(&e);
}
END_TEST

START_TEST(a_failed_connect_reports_through_on_close)
{
    struct env e;
    env_open(&e);
    /* A port nobody listens on: bound (so no one else takes it) but not listening. */
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert(bind(fd, (struct sockaddr *)&a, sizeof a) == 0);
    socklen_t len = sizeof a;
    ck_assert(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
    struct rn_error err;
    rn_rpc_conn *c = rn_rpc_connect(e.loop, "127.0.0.1", ntohs(a.sin_port), &callbacks, &e.cli, &err);
    ck_assert_msg(c, "%s", err.msg);
    ck_assert_msg(wait_ge(&e.cli, &e.cli.closes, 1), "no on_close for a refused connect");
    char *want = tu_fmt("cannot connect to 127.0.0.1:%u: Connection refused", (unsigned)ntohs(a.sin_port));
    ck_assert_str_eq(e.cli.reason, want);
    free(want);
    ck_assert_int_eq(get_int(&e.cli, &e.cli.opens), 0);
    Runnel__Rpc__Envelope empty = RUNNEL__RPC__ENVELOPE__INIT;
    ck_assert_int_eq(rn_rpc_send(c, &empty, &err), RN_EINVAL);
    rn_rpc_conn_unref(c);
    close(fd);
    /* A host that does not resolve fails at once. */
    ck_assert_ptr_null(rn_rpc_connect(e.loop, "no-such-host.invalid", 1, &callbacks, &e.cli, &err));
    ck_assert_msg(strstr(err.msg, "cannot resolve no-such-host.invalid"), "%s", err.msg);
    env_close(&e);
}
END_TEST

START_TEST(destroying_the_server_closes_its_connections)
{
    struct env e;
    env_open(&e);
    rn_rpc_conn *c = client(&e);
    ck_assert(wait_ge(&e.srv, &e.srv.opens, 1));
    rn_rpc_server_destroy(e.server);
    e.server = NULL;
    ck_assert_int_eq(get_int(&e.srv, &e.srv.closes), 1);   /* before destroy returned */
    ck_assert_str_eq(e.srv.reason, "server closed");
    ck_assert(wait_ge(&e.cli, &e.cli.closes, 1));
    ck_assert_str_eq(e.cli.reason, "closed by the peer");
    rn_rpc_conn_unref(c);
    env_close(&e);
}
END_TEST

START_TEST(destroying_the_loop_closes_every_connection_once)
{
    struct env e;
    env_open(&e);
    rn_rpc_conn *c = client(&e);
    ck_assert(wait_ge(&e.srv, &e.srv.opens, 1));
    rn_rpc_server_destroy(e.server);
    e.server = NULL;
    rn_rpc_loop_destroy(e.loop);
    e.loop = NULL;
    ck_assert_int_eq(e.cli.closes, 1);
    ck_assert_int_eq(e.srv.closes, 1);
    /* The connection object outlives the loop while referenced: sends fail. */
    struct rn_error err;
    Runnel__Rpc__Heartbeat hb = RUNNEL__RPC__HEARTBEAT__INIT;
    Runnel__Rpc__Envelope env = RUNNEL__RPC__ENVELOPE__INIT;
    env.msg_case = RUNNEL__RPC__ENVELOPE__MSG_HEARTBEAT;
    env.heartbeat = &hb;
    ck_assert_int_eq(rn_rpc_send(c, &env, &err), RN_EIO);
    rn_rpc_conn_unref(c);
    env_close(&e);
}
END_TEST

START_TEST(a_peer_that_does_not_read_is_cut_off)
{
    struct env e;
    env_open(&e);
    /* A listening socket whose connection is never read. */
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert(bind(lfd, (struct sockaddr *)&a, sizeof a) == 0 && listen(lfd, 4) == 0);
    socklen_t len = sizeof a;
    ck_assert(getsockname(lfd, (struct sockaddr *)&a, &len) == 0);
    struct rn_error err;
    rn_rpc_conn *c = rn_rpc_connect(e.loop, "127.0.0.1", ntohs(a.sin_port), &callbacks, &e.cli, &err);
    ck_assert_msg(c, "%s", err.msg);
    ck_assert(wait_ge(&e.cli, &e.cli.opens, 1));
    struct pollfd p = {lfd, POLLIN, 0};
    ck_assert_int_eq(poll(&p, 1, WAIT_S * 1000), 1);
    int fd = accept(lfd, NULL, NULL);
    ck_assert_int_ge(fd, 0);
    size_t n = 1u << 20;
    uint8_t *yaml = calloc(1, n);
    Runnel__Rpc__DeployJob d = RUNNEL__RPC__DEPLOY_JOB__INIT;
    d.job_yaml.data = yaml;
    d.job_yaml.len = n;
    Runnel__Rpc__Envelope env = RUNNEL__RPC__ENVELOPE__INIT;
    env.msg_case = RUNNEL__RPC__ENVELOPE__MSG_DEPLOY;
    env.deploy = &d;
    int sent = 0, rc = 0;
    while (sent < 200 && !(rc = rn_rpc_send(c, &env, &err))) sent++;
    free(yaml);
    /* 64 MiB queued, plus what the kernel's socket buffers took. */
    ck_assert_msg(rc == RN_EIO, "%d sends of 1 MiB all queued", sent);
    ck_assert_msg(sent >= 63, "cut off after %d MiB", sent);
    ck_assert(wait_ge(&e.cli, &e.cli.closes, 1));
    ck_assert_msg(strstr(e.cli.reason, "the peer does not read"), "%s", e.cli.reason);
    char *log = log_text(&e);
    char *want = tu_fmt("rpc: closing connection to 127.0.0.1:%u: the peer does not read", (unsigned)ntohs(a.sin_port));
    ck_assert_msg(strstr(log, want), "log lacks \"%s\":\n%s", want, log);
    free(want);
    free(log);
    close(fd);
    close(lfd);
    rn_rpc_conn_unref(c);
    env_close(&e);
}
END_TEST

/* ---- the loop's calls and timers ---- */

struct runs {
    pthread_mutex_t mu;
    rn_rpc_loop *loop;
    int order[16];
    int n;
    int off_thread;
    pthread_t thread;
    int fired;                  /* timer runs */
    rn_rpc_timer *self_stop;    /* a timer that stops itself on its 3rd run */
};

static void record(struct runs *r, int v)
{
    pthread_mutex_lock(&r->mu);
    if (!rn_rpc_loop_on_thread(r->loop)) r->off_thread++;
    r->thread = pthread_self();
    if (r->n < 16) r->order[r->n++] = v;
    pthread_mutex_unlock(&r->mu);
}

static void call1(void *arg) { record(arg, 1); }
static void call2(void *arg) { record(arg, 2); }
static void call3(void *arg) { record(arg, 3); }
static void call_then_queue(void *arg)
{
    record(arg, 4);
    struct runs *r = arg;
    rn_rpc_loop_call(r->loop, call1, r);   /* from the loop thread: runs after this one */
}

START_TEST(loop_calls_run_on_the_loop_thread_in_order)
{
    struct env e;
    env_open(&e);
    struct runs r = {.loop = e.loop};
    pthread_mutex_init(&r.mu, NULL);
    ck_assert(!rn_rpc_loop_on_thread(e.loop));
    ck_assert_int_eq(rn_rpc_loop_call(e.loop, call1, &r), 0);
    ck_assert_int_eq(rn_rpc_loop_call(e.loop, call2, &r), 0);
    ck_assert_int_eq(rn_rpc_loop_call(e.loop, call_then_queue, &r), 0);
    ck_assert_int_eq(rn_rpc_loop_call_wait(e.loop, call3, &r), 0);   /* after the three before it */
    pthread_mutex_lock(&r.mu);
    int n = r.n, o0 = r.order[0], o1 = r.order[1], o2 = r.order[2], o3 = r.order[3];
    pthread_mutex_unlock(&r.mu);
    ck_assert_int_ge(n, 4);
    ck_assert_int_eq(o0, 1);
    ck_assert_int_eq(o1, 2);
    ck_assert_int_eq(o2, 4);
    ck_assert_msg(o3 == 3 || o3 == 1, "order %d %d %d %d", o0, o1, o2, o3);
    ck_assert_int_eq(r.off_thread, 0);
    ck_assert(!pthread_equal(r.thread, pthread_self()));
    /* Calls queued at destroy still run. */
    ck_assert_int_eq(rn_rpc_loop_call(e.loop, call2, &r), 0);
    rn_rpc_server_destroy(e.server);
    e.server = NULL;
    rn_rpc_loop_destroy(e.loop);
    e.loop = NULL;
    ck_assert_int_eq(r.order[r.n - 1], 2);
    ck_assert_int_eq(r.n, 6);
    ck_assert_int_eq(r.off_thread, 0);
    pthread_mutex_destroy(&r.mu);
    env_close(&e);
}
END_TEST

static void tick(void *arg)
{
    struct runs *r = arg;
    pthread_mutex_lock(&r->mu);
    if (!rn_rpc_loop_on_thread(r->loop)) r->off_thread++;
    int n = ++r->fired;
    pthread_mutex_unlock(&r->mu);
    if (n == 3 && r->self_stop) {
        rn_rpc_timer_stop(r->self_stop);   /* from inside its own run */
        r->self_stop = NULL;
    }
}

static int fired(struct runs *r)
{
    pthread_mutex_lock(&r->mu);
    int n = r->fired;
    pthread_mutex_unlock(&r->mu);
    return n;
}

/* Waits up to WAIT_S for r->fired >= want. */
static bool wait_fired(struct runs *r, int want)
{
    for (int i = 0; i < WAIT_S * 200; i++) {
        if (fired(r) >= want) return true;
        usleep(5000);
    }
    return false;
}

START_TEST(timers_run_on_the_loop_thread_once_or_repeatedly_until_stopped)
{
    struct env e;
    env_open(&e);
    struct rn_error err;
    struct runs once = {.loop = e.loop}, rep = {.loop = e.loop}, never = {.loop = e.loop}, self = {.loop = e.loop};
    pthread_mutex_init(&once.mu, NULL);
    pthread_mutex_init(&rep.mu, NULL);
    pthread_mutex_init(&never.mu, NULL);
    pthread_mutex_init(&self.mu, NULL);

    rn_rpc_timer *t1 = rn_rpc_timer_start(e.loop, 5, false, tick, &once, &err);
    ck_assert_msg(t1, "%s", err.msg);
    rn_rpc_timer *t2 = rn_rpc_timer_start(e.loop, 2, true, tick, &rep, &err);
    ck_assert_ptr_nonnull(t2);
    rn_rpc_timer *t3 = rn_rpc_timer_start(e.loop, 60000, false, tick, &never, &err);
    ck_assert_ptr_nonnull(t3);
    ck_assert_ptr_null(rn_rpc_timer_start(e.loop, 0, true, tick, &never, &err));   /* a busy loop */

    ck_assert(wait_fired(&once, 1));
    ck_assert(wait_fired(&rep, 3));
    rn_rpc_timer_stop(t2);
    int stopped_at = fired(&rep);
    rn_rpc_timer_stop(t3);
    /* A one-shot timer re-armed fires again. */
    ck_assert_int_eq(rn_rpc_timer_reset(t1, 1), 0);
    ck_assert(wait_fired(&once, 2));
    rn_rpc_timer_stop(t1);
    /* A repeating timer that stops itself from its own run. */
    self.self_stop = rn_rpc_timer_start(e.loop, 1, true, tick, &self, &err);
    ck_assert_ptr_nonnull(self.self_stop);
    ck_assert(wait_fired(&self, 3));
    usleep(50000);
    ck_assert_int_eq(fired(&self), 3);
    ck_assert_int_eq(fired(&rep), stopped_at);   /* nothing after stop returned */
    ck_assert_int_eq(fired(&once), 2);
    ck_assert_int_eq(fired(&never), 0);
    ck_assert_int_eq(once.off_thread + rep.off_thread + self.off_thread, 0);
    /* A timer left running is freed by the loop's destroy. */
    ck_assert_ptr_nonnull(rn_rpc_timer_start(e.loop, 60000, true, tick, &never, &err));
    pthread_mutex_destroy(&once.mu);
    pthread_mutex_destroy(&rep.mu);
    pthread_mutex_destroy(&self.mu);
    env_close(&e);
    pthread_mutex_destroy(&never.mu);
}
END_TEST

/* ---- framing functions on their own ---- */

START_TEST(decode_and_encode_check_limits_and_content)
{
    struct rn_error err;
    uint32_t len = 0;
    uint8_t h[4] = {0x01, 0x00, 0x00, 0x01};
    ck_assert_int_eq(rn_rpc_frame_length(h, 0x01000001u, &len, &err), 0);
    ck_assert_uint_eq(len, 0x01000001u);
    ck_assert_int_eq(rn_rpc_frame_length(h, 0x01000000u, &len, &err), RN_ERANGE);
    ck_assert_str_eq(err.msg, "frame of 16777217 bytes exceeds the limit of 16777216");

    Runnel__Rpc__TriggerCheckpoint tr = RUNNEL__RPC__TRIGGER_CHECKPOINT__INIT;
    tr.job_id = "j";
    tr.attempt = 7;
    tr.id = 42;
    tr.savepoint = true;
    tr.dir = "/tmp/sp";
    tr.time_ms = -5;
    Runnel__Rpc__Envelope env = RUNNEL__RPC__ENVELOPE__INIT;
    env.msg_case = RUNNEL__RPC__ENVELOPE__MSG_TRIGGER;
    env.trigger = &tr;
    uint8_t *frame;
    size_t flen;
    ck_assert_int_eq(rn_rpc_encode(&env, RN_RPC_MAX_FRAME, &frame, &flen, &err), 0);
    ck_assert_int_eq(rn_rpc_frame_length(frame, RN_RPC_MAX_FRAME, &len, &err), 0);
    ck_assert_uint_eq(len + 4, flen);
    Runnel__Rpc__Envelope *m;
    ck_assert_int_eq(rn_rpc_decode(frame + 4, len, RN_RPC_MAX_FRAME, &m, &err), 0);
    ck_assert_int_eq(m->msg_case, RUNNEL__RPC__ENVELOPE__MSG_TRIGGER);
    ck_assert_str_eq(m->trigger->job_id, "j");
    ck_assert_uint_eq(m->trigger->attempt, 7);
    ck_assert_int_eq(m->trigger->id, 42);
    ck_assert(m->trigger->savepoint);
    ck_assert_str_eq(m->trigger->dir, "/tmp/sp");
    ck_assert_int_eq(m->trigger->time_ms, -5);
    rn_rpc_envelope_free(m);
    ck_assert_int_eq(rn_rpc_decode(frame + 4, len, len - 1, &m, &err), RN_ERANGE);
    ck_assert_ptr_null(m);
    ck_assert_int_eq(rn_rpc_decode(frame + 4, len - 1, RN_RPC_MAX_FRAME, &m, &err), RN_ECORRUPT);
    ck_assert_ptr_null(m);
    free(frame);
    uint8_t *big;
    ck_assert_int_eq(rn_rpc_encode(&env, len - 1, &big, &flen, &err), RN_ERANGE);
    ck_assert_ptr_null(big);
    Runnel__Rpc__Envelope empty = RUNNEL__RPC__ENVELOPE__INIT;
    uint8_t *none;
    ck_assert_int_eq(rn_rpc_encode(&empty, RN_RPC_MAX_FRAME, &none, &flen, &err), RN_EINVAL);
    ck_assert_ptr_null(none);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("rpc");
    TCase *tc = tcase_create("rpc");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, register_ack_and_heartbeat_arrive_intact);
    tcase_add_test(tc, messages_sent_before_the_connection_is_up_leave_once_it_is);
    tcase_add_test(tc, a_large_message_arrives_intact_between_small_ones);
    tcase_add_test(tc, messages_sent_from_two_threads_arrive_once_each_in_order_per_thread);
    tcase_add_test(tc, an_oversized_length_prefix_closes_the_connection_with_a_logged_reason);
    tcase_add_test(tc, the_frame_limit_is_set_per_server_and_per_connection);
    tcase_add_loop_test(tc, garbage_of_a_valid_length_closes_the_connection_with_a_logged_reason, 0,
                        (int)(sizeof bad_bodies / sizeof bad_bodies[0]));
    tcase_add_test(tc, a_frame_cut_off_by_the_peer_closing_delivers_nothing_of_it);
    tcase_add_test(tc, sending_after_the_peer_closed_returns_an_error);
    tcase_add_test(tc, a_thread_sending_while_the_peer_closes_gets_an_error);
    tcase_add_test(tc, close_sends_what_was_queued_before_it);
    tcase_add_test(tc, a_failed_connect_reports_through_on_close);
    tcase_add_test(tc, destroying_the_server_closes_its_connections);
    tcase_add_test(tc, destroying_the_loop_closes_every_connection_once);
    tcase_add_test(tc, a_peer_that_does_not_read_is_cut_off);
    tcase_add_test(tc, loop_calls_run_on_the_loop_thread_in_order);
    tcase_add_test(tc, timers_run_on_the_loop_thread_once_or_repeatedly_until_stopped);
    tcase_add_test(tc, decode_and_encode_check_limits_and_content);
    suite_add_tcase(s, tc);
    return s;
}

TU_MAIN(make_suite)
