/*
 * rpc.c — the control RPC transport (rpc.h): length-prefixed protobuf Envelopes over TCP with
 * libevent, one event_base on one thread per rn_rpc_loop.
 *
 * Assumes libevent 2.1 with pthreads (evthread_use_pthreads is called once, before the first
 * event_base). Bufferevents are thread safe, with deferred and unlocked callbacks, so that
 *   - user callbacks always run on the loop thread, outside libevent's locks, and
 *   - the lock order is: connection mutex, then the bufferevent's lock, then the base's lock
 *     (a sender holds the connection mutex while it packs into the output buffer; callbacks
 *     hold no libevent lock when they send).
 * A connection's state moves OPEN/CONNECTING -> CLOSING -> CLOSED, changed under its mutex;
 * only the loop thread frees the bufferevent (in conn_finish), and senders check the state
 * under the mutex before touching it. The loop keeps lists of its connections, servers and
 * timers (under loop->mu) for rn_rpc_loop_destroy.
 */
#include "rpc/rpc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum conn_state { ST_CONNECTING, ST_OPEN, ST_CLOSING, ST_CLOSED };

struct call {
    rn_rpc_fn fn;
    void *arg;
    struct call *next;
};

struct rn_rpc_loop {
    struct event_base *base;
    struct event *call_ev;        /* activated to run the queued calls */
    pthread_t thread;
    FILE *log;
    pthread_mutex_t mu;           /* calls, stopping, the lists below */
    pthread_cond_t cv;            /* started */
    bool started;
    bool stopping;                /* rn_rpc_loop_destroy began: no new calls */
    struct call *calls_head, *calls_tail;
    rn_rpc_conn *conns;
    rn_rpc_server *servers;
    rn_rpc_timer *timers;
    _Atomic size_t max_frame;
    _Atomic uint32_t connect_timeout_ms;
};

struct rn_rpc_server {
    rn_rpc_loop *loop;
    struct evconnlistener *lis;
    struct event *retry_ev;       /* re-enables accepting after an accept error */
    struct rn_rpc_callbacks cb;
    void *ctx;
    _Atomic size_t max_frame;
    uint16_t port;
    char name[80];                /* host:port it listens on */
    rn_rpc_server *prev, *next;   /* loop->servers */
};

struct rn_rpc_conn {
    rn_rpc_loop *loop;            /* not used once CLOSED: the loop may be gone */
    rn_rpc_server *server;        /* NULL for outgoing connections */
    struct rn_rpc_callbacks cb;
    void *ctx;
    void *user;
    atomic_int refs;
    pthread_mutex_t mu;           /* state, bev, events, reason */
    _Atomic int state;            /* enum conn_state; written under mu */
    bool outgoing;
    bool connected;               /* loop thread: on_open ran */
    bool flush;                   /* CLOSING: flush output first */
    bool flushing;                /* loop thread: waiting for the output to drain */
    bool log_close;               /* CLOSING: log the reason */
    struct bufferevent *bev;
    struct event *close_ev;       /* activated by a close request */
    struct event *linger_ev;      /* bounds the flush of a closing connection */
    _Atomic size_t max_frame;
    char peer[64];
    char reason[256];             /* why it is closing or closed */
    rn_rpc_conn *prev, *next;     /* loop->conns */
};

struct rn_rpc_timer {
    rn_rpc_loop *loop;
    struct event *ev;
    rn_rpc_fn fn;
    void *arg;
    bool repeat;
    rn_rpc_timer *prev, *next;    /* loop->timers */
};

/* ---- small helpers ---- */

static pthread_once_t evthread_once = PTHREAD_ONCE_INIT;
static int evthread_rc;

static void evthread_init(void) { evthread_rc = evthread_use_pthreads(); }

static struct timeval tv_ms(uint32_t ms)
{
    return (struct timeval){.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static int check_max_frame(size_t max_frame, struct rn_error *err)
{
    if (max_frame == 0 || max_frame > UINT32_MAX)
        return rn_error_set(err, RN_EINVAL, 0, 0, "rpc: a frame limit of %zu bytes is not in 1 .. %u",
                            max_frame, (unsigned)UINT32_MAX);
    return 0;
}

/* "a.b.c.d:port" or "[v6]:port". */
static void addr_text(const struct sockaddr *sa, char *out, size_t n)
{
    char h[INET6_ADDRSTRLEN] = "?";
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, h, sizeof h);
        snprintf(out, n, "%s:%u", h, (unsigned)ntohs(in->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, h, sizeof h);
        snprintf(out, n, "[%s]:%u", h, (unsigned)ntohs(in6->sin6_port));
    } else {
        snprintf(out, n, "(address family %d)", (int)sa->sa_family);
    }
}

/* Resolves host:port, preferring IPv4 (servers listen on 127.0.0.1 by default). */
static int resolve(const char *host, uint16_t port, struct sockaddr_storage *ss, socklen_t *len,
                   struct rn_error *err)
{
    char service[8];
    snprintf(service, sizeof service, "%u", (unsigned)port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV}, *res = NULL;
    int rc = getaddrinfo(host, service, &hints, &res);
    if (rc)
        return rn_error_set(err, RN_EINVAL, 0, 0, "rpc: cannot resolve %s: %s", host,
                            rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
    const struct addrinfo *pick = res;
    for (const struct addrinfo *a = res; a; a = a->ai_next)
        if (a->ai_family == AF_INET) { pick = a; break; }
    if (pick->ai_addrlen > sizeof *ss) {
        freeaddrinfo(res);
        return rn_error_set(err, RN_EINVAL, 0, 0, "rpc: cannot use the address of %s", host);
    }
    memcpy(ss, pick->ai_addr, pick->ai_addrlen);
    *len = (socklen_t)pick->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

static void set_nodelay(evutil_socket_t fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);   /* best effort */
}

static void logf_line(rn_rpc_loop *loop, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_line(rn_rpc_loop *loop, const char *fmt, ...)
{
    FILE *f = loop->log ? loop->log : stderr;
    va_list ap;
    va_start(ap, fmt);
    flockfile(f);
    vfprintf(f, fmt, ap);
    fputc('\n', f);
    fflush(f);
    funlockfile(f);
    va_end(ap);
}

/* ---- framing ---- */

int rn_rpc_frame_length(const uint8_t hdr[4], size_t max_frame, uint32_t *len, struct rn_error *err)
{
    uint32_t n = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
    if (n > max_frame)
        return rn_error_set(err, RN_ERANGE, 0, 0, "frame of %u bytes exceeds the limit of %zu", n, max_frame);
    *len = n;
    return 0;
}

/* Whether every unknown field in m and its sub-messages has a valid field number. protobuf-c
 * accepts field number 0 when its tag is written in more than one byte, and numbers above
 * 2^29 - 1, keeps them as unknown fields, and then writes them back as something else (or that
 * it refuses to read): such a message is not valid protobuf, so it is refused. */
static bool unknown_fields_valid(const ProtobufCMessage *m, int depth)
{
    if (depth > 32) return false;   /* rpc.proto nests far less; protobuf-c does not recurse more */
    for (unsigned i = 0; i < m->n_unknown_fields; i++) {
        uint32_t tag = m->unknown_fields[i].tag;
        if (tag == 0 || tag > 0x1fffffffu) return false;
    }
    const ProtobufCMessageDescriptor *d = m->descriptor;
    const char *base = (const char *)m;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->type != PROTOBUF_C_TYPE_MESSAGE) continue;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)(base + f->quantifier_offset);
            ProtobufCMessage *const *arr = *(ProtobufCMessage *const *const *)(base + f->offset);
            for (size_t j = 0; j < n; j++)
                if (arr[j] && !unknown_fields_valid(arr[j], depth + 1)) return false;
            continue;
        }
        if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) && *(const uint32_t *)(base + f->quantifier_offset) != f->id)
            continue;   /* another member of the oneof is set */
        const ProtobufCMessage *sub = *(const ProtobufCMessage *const *)(base + f->offset);
        if (sub && !unknown_fields_valid(sub, depth + 1)) return false;
    }
    return true;
}

int rn_rpc_decode(const void *buf, size_t len, size_t max_frame, Runnel__Rpc__Envelope **out,
                  struct rn_error *err)
{
    *out = NULL;
    if (len > max_frame)
        return rn_error_set(err, RN_ERANGE, 0, 0, "frame of %zu bytes exceeds the limit of %zu", len, max_frame);
    Runnel__Rpc__Envelope *m = runnel__rpc__envelope__unpack(NULL, len, len ? buf : (const uint8_t *)"");
    if (!m)
        return rn_error_set(err, RN_ECORRUPT, 0, 0, "frame of %zu bytes does not decode as an Envelope", len);
    if (m->msg_case == RUNNEL__RPC__ENVELOPE__MSG__NOT_SET) {
        runnel__rpc__envelope__free_unpacked(m, NULL);
        return rn_error_set(err, RN_ECORRUPT, 0, 0,
                            "frame of %zu bytes is an Envelope with no message (or one unknown here)", len);
    }
    if (!unknown_fields_valid(&m->base, 0)) {
        runnel__rpc__envelope__free_unpacked(m, NULL);
        return rn_error_set(err, RN_ECORRUPT, 0, 0, "frame of %zu bytes has a field numbered 0 or above 2^29 - 1",
                            len);
    }
    if (!protobuf_c_message_check(&m->base)) {
        runnel__rpc__envelope__free_unpacked(m, NULL);
        return rn_error_set(err, RN_ECORRUPT, 0, 0, "frame of %zu bytes is an incomplete Envelope", len);
    }
    *out = m;
    return 0;
}

void rn_rpc_envelope_free(Runnel__Rpc__Envelope *msg)
{
    if (msg) runnel__rpc__envelope__free_unpacked(msg, NULL);
}

int rn_rpc_encode(const Runnel__Rpc__Envelope *msg, size_t max_frame, uint8_t **out, size_t *len,
                  struct rn_error *err)
{
    *out = NULL;
    *len = 0;
    if (!msg || msg->msg_case == RUNNEL__RPC__ENVELOPE__MSG__NOT_SET)
        return rn_error_set(err, RN_EINVAL, 0, 0, "rpc: an Envelope with no message cannot be sent");
    size_t n = runnel__rpc__envelope__get_packed_size(msg);
    if (n > max_frame || n > UINT32_MAX)
        return rn_error_set(err, RN_ERANGE, 0, 0, "rpc: a message of %zu bytes exceeds the frame limit of %zu",
                            n, max_frame);
    uint8_t *b = malloc(4 + n);
    if (!b) return rn_error_set(err, RN_ENOMEM, 0, 0, "rpc: out of memory for a frame of %zu bytes", n);
    put_be32(b, (uint32_t)n);
    runnel__rpc__envelope__pack(msg, b + 4);
    *out = b;
    *len = 4 + n;
    return 0;
}

/* ---- calls onto the loop thread ---- */

/* Queues node (fn and arg set) to run on the loop thread; frees it and returns RN_ECANCELED
 * when the loop is being destroyed (unless internal: the teardown's own calls). */
static int post_node(rn_rpc_loop *loop, struct call *node, bool internal)
{
    node->next = NULL;
    pthread_mutex_lock(&loop->mu);
    if (loop->stopping && !internal) {
        pthread_mutex_unlock(&loop->mu);
        free(node);
        return RN_ECANCELED;
    }
    if (loop->calls_tail) loop->calls_tail->next = node;
    else loop->calls_head = node;
    loop->calls_tail = node;
    event_active(loop->call_ev, EV_TIMEOUT, 0);
    pthread_mutex_unlock(&loop->mu);
    return 0;
}

static int post(rn_rpc_loop *loop, rn_rpc_fn fn, void *arg, bool internal)
{
    struct call *node = malloc(sizeof *node);
    if (!node) return RN_ENOMEM;
    node->fn = fn;
    node->arg = arg;
    return post_node(loop, node, internal);
}

/* Runs the queued calls in order; returns with the queue empty. */
static void run_calls(rn_rpc_loop *loop)
{
    for (;;) {
        pthread_mutex_lock(&loop->mu);
        struct call *c = loop->calls_head;
        if (c) {
            loop->calls_head = c->next;
            if (!loop->calls_head) loop->calls_tail = NULL;
        }
        pthread_mutex_unlock(&loop->mu);
        if (!c) return;
        c->fn(c->arg);
        free(c);
    }
}

static void call_ev_cb(evutil_socket_t fd, short what, void *arg)
{
    run_calls(arg);
}

int rn_rpc_loop_call(rn_rpc_loop *loop, rn_rpc_fn fn, void *arg)
{
    return post(loop, fn, arg, false);
}

struct waiter {
    rn_rpc_fn fn;
    void *arg;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
};

static void waiter_run(void *arg)
{
    struct waiter *w = arg;
    w->fn(w->arg);
    pthread_mutex_lock(&w->mu);
    w->done = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static int call_wait(rn_rpc_loop *loop, rn_rpc_fn fn, void *arg, bool internal)
{
    if (rn_rpc_loop_on_thread(loop)) {
        fn(arg);
        return 0;
    }
    struct waiter w = {.fn = fn, .arg = arg, .done = false};
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);
    int rc = post(loop, waiter_run, &w, internal);
    if (!rc) {
        pthread_mutex_lock(&w.mu);
        while (!w.done) pthread_cond_wait(&w.cv, &w.mu);
        pthread_mutex_unlock(&w.mu);
    }
    pthread_cond_destroy(&w.cv);
    pthread_mutex_destroy(&w.mu);
    return rc;
}

int rn_rpc_loop_call_wait(rn_rpc_loop *loop, rn_rpc_fn fn, void *arg)
{
    return call_wait(loop, fn, arg, false);
}

/* ---- connections ---- */

void rn_rpc_conn_ref(rn_rpc_conn *c)
{
    atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
}

void rn_rpc_conn_unref(rn_rpc_conn *c)
{
    if (!c) return;
    if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1) return;
    /* Last reference: the connection is CLOSED (the transport's reference goes last in
     * conn_finish) or was never started; its libevent objects are already freed. */
    pthread_mutex_destroy(&c->mu);
    free(c);
}

const char *rn_rpc_peer(const rn_rpc_conn *c) { return c->peer; }
void *rn_rpc_conn_user(const rn_rpc_conn *c) { return c->user; }
void rn_rpc_conn_set_user(rn_rpc_conn *c, void *user) { c->user = user; }

bool rn_rpc_conn_closed(rn_rpc_conn *c)
{
    int st = atomic_load(&c->state);
    return st == ST_CLOSING || st == ST_CLOSED;
}

static const char *direction(const rn_rpc_conn *c) { return c->outgoing ? "to" : "from"; }

/* Ends c now (loop thread): frees its bufferevent and events, unlists it, calls on_close with
 * reason, drops the transport's reference. Does nothing when c is already CLOSED. */
static void conn_finish(rn_rpc_conn *c, const char *reason, bool log)
{
    pthread_mutex_lock(&c->mu);
    if (atomic_load(&c->state) == ST_CLOSED) {
        pthread_mutex_unlock(&c->mu);
        return;
    }
    atomic_store(&c->state, ST_CLOSED);
    if (reason != c->reason) snprintf(c->reason, sizeof c->reason, "%s", reason);
    struct bufferevent *bev = c->bev;
    struct event *close_ev = c->close_ev, *linger_ev = c->linger_ev;
    c->bev = NULL;
    c->close_ev = c->linger_ev = NULL;
    pthread_mutex_unlock(&c->mu);

    rn_rpc_loop *loop = c->loop;
    if (log) logf_line(loop, "rpc: closing connection %s %s: %s", direction(c), c->peer, c->reason);
    if (bev) bufferevent_free(bev);
    if (close_ev) event_free(close_ev);
    if (linger_ev) event_free(linger_ev);
    pthread_mutex_lock(&loop->mu);
    if (c->prev) c->prev->next = c->next;
    else if (loop->conns == c) loop->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    c->prev = c->next = NULL;
    pthread_mutex_unlock(&loop->mu);
    if (c->cb.on_close) c->cb.on_close(c, c->reason, c->ctx);
    rn_rpc_conn_unref(c);
}

/* Asks the loop thread to close c (any thread; c->mu held). */
static void close_request_locked(rn_rpc_conn *c, bool flush, bool log, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void close_request_locked(rn_rpc_conn *c, bool flush, bool log, const char *fmt, ...)
{
    int st = atomic_load(&c->state);
    if (st != ST_OPEN && st != ST_CONNECTING) return;
    atomic_store(&c->state, ST_CLOSING);
    c->flush = flush;
    c->log_close = log;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->reason, sizeof c->reason, fmt, ap);
    va_end(ap);
    event_active(c->close_ev, EV_TIMEOUT, 0);
}

void rn_rpc_close(rn_rpc_conn *c)
{
    if (!c) return;
    pthread_mutex_lock(&c->mu);
    close_request_locked(c, true, false, "closed locally");
    pthread_mutex_unlock(&c->mu);
}

static void linger_cb(evutil_socket_t fd, short what, void *arg)
{
    rn_rpc_conn *c = arg;
    size_t left = c->bev ? evbuffer_get_length(bufferevent_get_output(c->bev)) : 0;
    char why[sizeof c->reason + 64];
    snprintf(why, sizeof why, "%s (%zu bytes not sent within %u ms)", c->reason, left,
             (unsigned)RN_RPC_CLOSE_LINGER_MS);
    conn_finish(c, why, true);
}

static void close_ev_cb(evutil_socket_t fd, short what, void *arg)
{
    rn_rpc_conn *c = arg;
    if (atomic_load(&c->state) != ST_CLOSING || c->flushing) return;
    if (!c->flush || !c->connected || !evbuffer_get_length(bufferevent_get_output(c->bev))) {
        conn_finish(c, c->reason, c->log_close);
        return;
    }
    /* Flush what is queued: stop reading, finish when the output drained (write_cb) or the
     * linger time passed. */
    bufferevent_disable(c->bev, EV_READ);
    c->flushing = true;
    struct event *ev = evtimer_new(c->loop->base, linger_cb, c);
    struct timeval tv = tv_ms(RN_RPC_CLOSE_LINGER_MS);
    if (!ev || evtimer_add(ev, &tv)) {
        if (ev) event_free(ev);
        conn_finish(c, c->reason, c->log_close);
        return;
    }
    pthread_mutex_lock(&c->mu);
    c->linger_ev = ev;
    pthread_mutex_unlock(&c->mu);
}

/* Reads every complete frame in c's input and delivers it (loop thread). Stops at the first
 * bad frame, closing c. */
static void read_frames(rn_rpc_conn *c)
{
    rn_rpc_conn_ref(c);
    struct rn_error err;
    while (atomic_load(&c->state) == ST_OPEN) {
        struct evbuffer *in = bufferevent_get_input(c->bev);
        size_t have = evbuffer_get_length(in);
        if (have < 4) break;
        uint8_t hdr[4];
        uint32_t len;
        evbuffer_copyout(in, hdr, 4);
        if (rn_rpc_frame_length(hdr, atomic_load(&c->max_frame), &len, &err)) {
            conn_finish(c, err.msg, true);
            break;
        }
        if (have - 4 < len) break;
        const uint8_t *p = evbuffer_pullup(in, 4 + (ev_ssize_t)len);
        if (!p) {
            conn_finish(c, "out of memory reading a frame", true);
            break;
        }
        Runnel__Rpc__Envelope *msg;
        int rc = rn_rpc_decode(p + 4, len, atomic_load(&c->max_frame), &msg, &err);
        evbuffer_drain(in, 4 + (size_t)len);
        if (rc) {
            conn_finish(c, err.msg, true);
            break;
        }
        if (c->cb.on_message) c->cb.on_message(c, msg, c->ctx);
        rn_rpc_envelope_free(msg);
    }
    rn_rpc_conn_unref(c);
}

static void read_cb(struct bufferevent *bev, void *arg)
{
    read_frames(arg);
}

static void write_cb(struct bufferevent *bev, void *arg)
{
    rn_rpc_conn *c = arg;
    if (c->flushing && atomic_load(&c->state) == ST_CLOSING) conn_finish(c, c->reason, c->log_close);
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
    rn_rpc_conn *c = arg;
    int e = EVUTIL_SOCKET_ERROR();
    rn_rpc_conn_ref(c);
    if (what & BEV_EVENT_CONNECTED) {
        bufferevent_set_timeouts(bev, NULL, NULL);
        pthread_mutex_lock(&c->mu);
        bool open = atomic_load(&c->state) == ST_CONNECTING;
        if (open) atomic_store(&c->state, ST_OPEN);
        pthread_mutex_unlock(&c->mu);
        if (open) {
            c->connected = true;
            bufferevent_enable(bev, EV_READ | EV_WRITE);
            if (c->cb.on_open) c->cb.on_open(c, c->ctx);
        }
        goto out_unref;
    }
    if (atomic_load(&c->state) == ST_CLOSING) {
        conn_finish(c, c->reason, c->log_close);
        goto out_unref;
    }
    char why[sizeof c->reason];
    bool log = true;
    if (!c->connected) {
        if (what & BEV_EVENT_TIMEOUT)
            snprintf(why, sizeof why, "cannot connect to %s: no answer within %u ms", c->peer,
                     (unsigned)atomic_load(&c->loop->connect_timeout_ms));
        else
            snprintf(why, sizeof why, "cannot connect to %s: %s", c->peer,
                     e ? evutil_socket_error_to_string(e) : "connection failed");
        log = false;   /* the owner hears of it through on_close (and retries) */
    } else if (what & BEV_EVENT_EOF) {
        read_frames(c);   /* whatever complete frames came before the end */
        if (atomic_load(&c->state) != ST_OPEN) goto out_unref;
        size_t left = evbuffer_get_length(bufferevent_get_input(bev));
        if (left) {
            snprintf(why, sizeof why, "the peer closed the connection in the middle of a frame (%zu bytes of it received)",
                     left);
        } else {
            snprintf(why, sizeof why, "closed by the peer");
            log = false;
        }
    } else if (what & BEV_EVENT_TIMEOUT) {
        snprintf(why, sizeof why, "timed out");
    } else {
        snprintf(why, sizeof why, "connection error: %s", e ? evutil_socket_error_to_string(e) : "unknown");
    }
    conn_finish(c, why, log);
out_unref:
    rn_rpc_conn_unref(c);
}

/* A new connection over socket fd (owned from here on, closed on failure), listed in the loop,
 * with the transport's reference. */
static rn_rpc_conn *conn_new(rn_rpc_loop *loop, rn_rpc_server *server, const struct rn_rpc_callbacks *cb,
                             void *ctx, evutil_socket_t fd, size_t max_frame, const struct sockaddr *peer,
                             struct rn_error *err)
{
    bool stopping = false;
    rn_rpc_conn *c = calloc(1, sizeof *c);
    if (!c) {
        evutil_closesocket(fd);
        rn_error_set(err, RN_ENOMEM, 0, 0, "rpc: out of memory");
        return NULL;
    }
    c->loop = loop;
    c->server = server;
    if (cb) c->cb = *cb;
    c->ctx = ctx;
    atomic_init(&c->refs, 1);
    atomic_init(&c->state, server ? ST_OPEN : ST_CONNECTING);
    atomic_init(&c->max_frame, max_frame);
    c->outgoing = !server;
    c->connected = server != NULL;
    pthread_mutex_init(&c->mu, NULL);
    addr_text(peer, c->peer, sizeof c->peer);
    set_nodelay(fd);
    c->bev = bufferevent_socket_new(loop->base, fd,
                                    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_THREADSAFE | BEV_OPT_DEFER_CALLBACKS |
                                        BEV_OPT_UNLOCK_CALLBACKS);
    if (!c->bev) {
        evutil_closesocket(fd);
        goto fail_free;
    }
    c->close_ev = event_new(loop->base, -1, 0, close_ev_cb, c);
    if (!c->close_ev) goto fail_bev;
    bufferevent_setcb(c->bev, read_cb, write_cb, event_cb, c);
    bufferevent_setwatermark(c->bev, EV_READ, 0, 4 + max_frame);
    pthread_mutex_lock(&loop->mu);
    stopping = loop->stopping;
    if (!stopping) {
        c->next = loop->conns;
        if (c->next) c->next->prev = c;
        loop->conns = c;
    }
    pthread_mutex_unlock(&loop->mu);
    if (stopping) goto fail_event;
    return c;

fail_event:
    event_free(c->close_ev);
fail_bev:
    bufferevent_free(c->bev);
fail_free:
    if (stopping) rn_error_set(err, RN_ECANCELED, 0, 0, "rpc: the loop is being destroyed");
    else rn_error_set(err, RN_ENOMEM, 0, 0, "rpc: out of memory");
    pthread_mutex_destroy(&c->mu);
    free(c);
    return NULL;
}

int rn_rpc_send(rn_rpc_conn *c, const Runnel__Rpc__Envelope *msg, struct rn_error *err)
{
    if (!msg || msg->msg_case == RUNNEL__RPC__ENVELOPE__MSG__NOT_SET)
        return rn_error_set(err, RN_EINVAL, 0, 0, "rpc: an Envelope with no message cannot be sent to %s", c->peer);
    size_t n = runnel__rpc__envelope__get_packed_size(msg);
    size_t max_frame = atomic_load(&c->max_frame);
    if (n > max_frame)
        return rn_error_set(err, RN_ERANGE, 0, 0, "rpc: a message of %zu bytes to %s exceeds the frame limit of %zu",
                            n, c->peer, max_frame);
    int rc = 0;
    pthread_mutex_lock(&c->mu);
    int st = atomic_load(&c->state);
    if (st != ST_OPEN && st != ST_CONNECTING) {
        rc = rn_error_set(err, RN_EIO, 0, 0, "rpc: the connection %s %s is closed: %s", direction(c), c->peer,
                          c->reason);
        goto out_unlock;
    }
    bufferevent_lock(c->bev);
    struct evbuffer *out = bufferevent_get_output(c->bev);
    size_t queued = evbuffer_get_length(out);
    size_t cap = 2 * max_frame > RN_RPC_MAX_QUEUED ? 2 * max_frame : RN_RPC_MAX_QUEUED;
    if (queued + 4 + n > cap) {
        bufferevent_unlock(c->bev);
        close_request_locked(c, false, true, "the peer does not read: %zu bytes are waiting to be sent", queued);
        rc = rn_error_set(err, RN_EIO, 0, 0, "rpc: the connection %s %s is closed: %s", direction(c), c->peer,
                          c->reason);
        goto out_unlock;
    }
    struct evbuffer_iovec v;
    if (evbuffer_reserve_space(out, (ev_ssize_t)(4 + n), &v, 1) != 1 || v.iov_len < 4 + n) {
        bufferevent_unlock(c->bev);
        rc = rn_error_set(err, RN_ENOMEM, 0, 0, "rpc: out of memory for a frame of %zu bytes to %s", n, c->peer);
        goto out_unlock;
    }
    put_be32(v.iov_base, (uint32_t)n);
    runnel__rpc__envelope__pack(msg, (uint8_t *)v.iov_base + 4);
    v.iov_len = 4 + n;
    if (evbuffer_commit_space(out, &v, 1))
        rc = rn_error_set(err, RN_ENOMEM, 0, 0, "rpc: out of memory for a frame of %zu bytes to %s", n, c->peer);
    bufferevent_unlock(c->bev);
out_unlock:
    pthread_mutex_unlock(&c->mu);
    return rc;
}

int rn_rpc_conn_set_max_frame(rn_rpc_conn *c, size_t max_frame, struct rn_error *err)
{
    int rc = check_max_frame(max_frame, err);
    if (rc) return rc;
    pthread_mutex_lock(&c->mu);
    atomic_store(&c->max_frame, max_frame);
    if (c->bev) bufferevent_setwatermark(c->bev, EV_READ, 0, 4 + max_frame);
    pthread_mutex_unlock(&c->mu);
    return 0;
}

/* ---- outgoing connections ---- */

rn_rpc_conn *rn_rpc_connect(rn_rpc_loop *loop, const char *host, uint16_t port,
                            const struct rn_rpc_callbacks *cb, void *ctx, struct rn_error *err)
{
    if (!loop || !host || !port) {
        rn_error_set(err, RN_EINVAL, 0, 0, "rpc: connect needs a loop, a host and a port");
        return NULL;
    }
    struct sockaddr_storage ss;
    socklen_t len;
    if (resolve(host, port, &ss, &len, err)) return NULL;
    evutil_socket_t fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        rn_error_set(err, RN_EIO, 0, 0, "rpc: cannot make a socket to connect to %s:%u: %s", host, (unsigned)port,
                     strerror(errno));
        return NULL;
    }
    rn_rpc_conn *c = conn_new(loop, NULL, cb, ctx, fd, atomic_load(&loop->max_frame), (struct sockaddr *)&ss, err);
    if (!c) return NULL;
    rn_rpc_conn_ref(c);   /* the caller's */
    /* Connect here: the socket's own connect() reports an immediate failure (a refused
     * loopback connect) with its errno; libevent then waits for the connect to finish
     * (writability, within the connect timeout) and reports CONNECTED or the error on the loop
     * thread. Frames sent from now on wait in the output until the connection is up. */
    struct timeval tv = tv_ms(atomic_load(&loop->connect_timeout_ms));
    bufferevent_set_timeouts(c->bev, NULL, &tv);
    int e = 0;
    if (connect(fd, (struct sockaddr *)&ss, len) && errno != EINPROGRESS && errno != EINTR) e = errno;
    if (!e && bufferevent_socket_connect(c->bev, NULL, 0)) e = errno ? errno : EIO;
    if (e) {
        pthread_mutex_lock(&c->mu);
        close_request_locked(c, false, false, "cannot connect to %s: %s", c->peer, strerror(e));
        pthread_mutex_unlock(&c->mu);
    }
    return c;
}

/* ---- servers ---- */

static void retry_accept_cb(evutil_socket_t fd, short what, void *arg)
{
    rn_rpc_server *s = arg;
    evconnlistener_enable(s->lis);
}

static void accept_error_cb(struct evconnlistener *lis, void *arg)
{
    rn_rpc_server *s = arg;
    int e = EVUTIL_SOCKET_ERROR();
    logf_line(s->loop, "rpc: accepting a connection on %s failed: %s; trying again in 100 ms", s->name,
              evutil_socket_error_to_string(e));
    /* Typically out of file descriptors: pause rather than spin on the listening socket. */
    evconnlistener_disable(lis);
    struct timeval tv = tv_ms(100);
    evtimer_add(s->retry_ev, &tv);
}

static void accept_cb(struct evconnlistener *lis, evutil_socket_t fd, struct sockaddr *sa, int socklen, void *arg)
{
    rn_rpc_server *s = arg;
    struct rn_error err;
    evutil_make_socket_nonblocking(fd);
    rn_rpc_conn *c = conn_new(s->loop, s, &s->cb, s->ctx, fd, atomic_load(&s->max_frame), sa, &err);
    if (!c) {
        char peer[64];
        addr_text(sa, peer, sizeof peer);
        logf_line(s->loop, "rpc: refusing a connection from %s: %s", peer, err.msg);
        return;
    }
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    if (c->cb.on_open) {
        rn_rpc_conn_ref(c);
        c->cb.on_open(c, c->ctx);
        rn_rpc_conn_unref(c);
    }
}

struct server_open {
    rn_rpc_server *s;
    struct sockaddr_storage ss;
    socklen_t len;
    int rc;
    int sys_errno;
};

static void server_open_on_loop(void *arg)
{
    struct server_open *o = arg;
    rn_rpc_server *s = o->s;
    s->retry_ev = evtimer_new(s->loop->base, retry_accept_cb, s);
    if (!s->retry_ev) {
        o->rc = RN_ENOMEM;
        return;
    }
    s->lis = evconnlistener_new_bind(s->loop->base, accept_cb, s,
                                     LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC, -1,
                                     (struct sockaddr *)&o->ss, (int)o->len);
    if (!s->lis) {
        o->sys_errno = errno;
        o->rc = RN_EIO;
        event_free(s->retry_ev);
        return;
    }
    evconnlistener_set_error_cb(s->lis, accept_error_cb);
    struct sockaddr_storage bound;
    socklen_t blen = sizeof bound;
    if (getsockname(evconnlistener_get_fd(s->lis), (struct sockaddr *)&bound, &blen) == 0) {
        s->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                     : ((struct sockaddr_in *)&bound)->sin_port);
        addr_text((struct sockaddr *)&bound, s->name, sizeof s->name);
    }
    rn_rpc_loop *loop = s->loop;
    pthread_mutex_lock(&loop->mu);
    s->next = loop->servers;
    if (s->next) s->next->prev = s;
    loop->servers = s;
    pthread_mutex_unlock(&loop->mu);
    o->rc = 0;
}

rn_rpc_server *rn_rpc_server_create(rn_rpc_loop *loop, const char *host, uint16_t port,
                                    const struct rn_rpc_callbacks *cb, void *ctx, struct rn_error *err)
{
    if (!loop) {
        rn_error_set(err, RN_EINVAL, 0, 0, "rpc: a server needs a loop");
        return NULL;
    }
    if (!host) host = "127.0.0.1";
    struct server_open o = {.rc = RN_ENOMEM};
    if (resolve(host, port, &o.ss, &o.len, err)) return NULL;
    rn_rpc_server *s = calloc(1, sizeof *s);
    if (!s) {
        rn_error_set(err, RN_ENOMEM, 0, 0, "rpc: out of memory");
        return NULL;
    }
    s->loop = loop;
    if (cb) s->cb = *cb;
    s->ctx = ctx;
    atomic_init(&s->max_frame, atomic_load(&loop->max_frame));
    s->port = port;
    snprintf(s->name, sizeof s->name, "%s:%u", host, (unsigned)port);
    o.s = s;
    int rc = call_wait(loop, server_open_on_loop, &o, false);
    if (rc || o.rc) {
        if (rc == RN_ECANCELED) rn_error_set(err, rc, 0, 0, "rpc: cannot listen on %s: the loop is being destroyed", s->name);
        else if (o.rc == RN_EIO)
            rn_error_set(err, RN_EIO, 0, 0, "rpc: cannot listen on %s: %s", s->name, strerror(o.sys_errno));
        else rn_error_set(err, RN_ENOMEM, 0, 0, "rpc: cannot listen on %s: out of memory", s->name);
        if (err) err->sys_errno = o.sys_errno;
        free(s);
        return NULL;
    }
    return s;
}

uint16_t rn_rpc_server_port(const rn_rpc_server *s) { return s->port; }

int rn_rpc_server_set_max_frame(rn_rpc_server *s, size_t max_frame, struct rn_error *err)
{
    int rc = check_max_frame(max_frame, err);
    if (!rc) atomic_store(&s->max_frame, max_frame);
    return rc;
}

/* Closes s's listener and connections (loop thread); s itself is freed by the caller. */
static void server_close_on_loop(void *arg)
{
    rn_rpc_server *s = arg;
    rn_rpc_loop *loop = s->loop;
    pthread_mutex_lock(&loop->mu);
    if (s->prev) s->prev->next = s->next;
    else if (loop->servers == s) loop->servers = s->next;
    if (s->next) s->next->prev = s->prev;
    pthread_mutex_unlock(&loop->mu);
    evconnlistener_free(s->lis);
    event_free(s->retry_ev);
    for (;;) {
        pthread_mutex_lock(&loop->mu);
        rn_rpc_conn *c = loop->conns;
        while (c && c->server != s) c = c->next;
        if (c) rn_rpc_conn_ref(c);
        pthread_mutex_unlock(&loop->mu);
        if (!c) break;
        conn_finish(c, "server closed", false);
        rn_rpc_conn_unref(c);
    }
}

void rn_rpc_server_destroy(rn_rpc_server *s)
{
    if (!s) return;
    call_wait(s->loop, server_close_on_loop, s, true);
    free(s);
}

/* ---- timers ---- */

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
    rn_rpc_timer *t = arg;
    t->fn(t->arg);
}

rn_rpc_timer *rn_rpc_timer_start(rn_rpc_loop *loop, uint32_t ms, bool repeat, rn_rpc_fn fn, void *arg,
                                 struct rn_error *err)
{
    if (!loop || !fn || (repeat && ms == 0)) {
        rn_error_set(err, RN_EINVAL, 0, 0, "rpc: a timer needs a loop, a function and (repeating) a period > 0");
        return NULL;
    }
    rn_rpc_timer *t = calloc(1, sizeof *t);
    if (!t) goto fail;
    t->loop = loop;
    t->fn = fn;
    t->arg = arg;
    t->repeat = repeat;
    t->ev = event_new(loop->base, -1, repeat ? EV_PERSIST : 0, timer_cb, t);
    if (!t->ev) goto fail_timer;
    pthread_mutex_lock(&loop->mu);
    bool stopping = loop->stopping;
    if (!stopping) {
        t->next = loop->timers;
        if (t->next) t->next->prev = t;
        loop->timers = t;
    }
    pthread_mutex_unlock(&loop->mu);
    if (stopping) {
        event_free(t->ev);
        free(t);
        rn_error_set(err, RN_ECANCELED, 0, 0, "rpc: the loop is being destroyed");
        return NULL;
    }
    struct timeval tv = tv_ms(ms);
    event_add(t->ev, &tv);
    return t;

fail_timer:
    free(t);
fail:
    rn_error_set(err, RN_ENOMEM, 0, 0, "rpc: out of memory");
    return NULL;
}

int rn_rpc_timer_reset(rn_rpc_timer *t, uint32_t ms)
{
    if (t->repeat && ms == 0) return RN_EINVAL;
    struct timeval tv = tv_ms(ms);
    return event_add(t->ev, &tv) ? RN_ENOMEM : 0;
}

void rn_rpc_timer_stop(rn_rpc_timer *t)
{
    if (!t) return;
    rn_rpc_loop *loop = t->loop;
    pthread_mutex_lock(&loop->mu);
    if (t->prev) t->prev->next = t->next;
    else if (loop->timers == t) loop->timers = t->next;
    if (t->next) t->next->prev = t->prev;
    pthread_mutex_unlock(&loop->mu);
    event_free(t->ev);   /* from another thread: waits for a run in progress */
    free(t);
}

/* ---- the loop ---- */

static void *loop_main(void *arg)
{
    rn_rpc_loop *loop = arg;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    pthread_mutex_lock(&loop->mu);
    loop->started = true;
    pthread_cond_broadcast(&loop->cv);
    pthread_mutex_unlock(&loop->mu);
    event_base_loop(loop->base, EVLOOP_NO_EXIT_ON_EMPTY);
    return NULL;
}

rn_rpc_loop *rn_rpc_loop_create(FILE *log, struct rn_error *err)
{
    pthread_once(&evthread_once, evthread_init);
    if (evthread_rc) {
        rn_error_set(err, RN_EIO, 0, 0, "rpc: libevent has no pthreads support (evthread_use_pthreads failed)");
        return NULL;
    }
    rn_rpc_loop *loop = calloc(1, sizeof *loop);
    if (!loop) {
        rn_error_set(err, RN_ENOMEM, 0, 0, "rpc: out of memory");
        return NULL;
    }
    loop->log = log;
    atomic_init(&loop->max_frame, RN_RPC_MAX_FRAME);
    atomic_init(&loop->connect_timeout_ms, RN_RPC_CONNECT_TIMEOUT_MS);
    pthread_mutex_init(&loop->mu, NULL);
    pthread_cond_init(&loop->cv, NULL);
    loop->base = event_base_new();
    if (!loop->base) {
        rn_error_set(err, RN_ENOMEM, 0, 0, "rpc: cannot make an event base");
        goto fail_loop;
    }
    loop->call_ev = event_new(loop->base, -1, 0, call_ev_cb, loop);
    if (!loop->call_ev) {
        rn_error_set(err, RN_ENOMEM, 0, 0, "rpc: out of memory");
        goto fail_base;
    }
    int rc = pthread_create(&loop->thread, NULL, loop_main, loop);
    if (rc) {
        rn_error_set(err, RN_EIO, 0, 0, "rpc: cannot start the loop thread: %s", strerror(rc));
        goto fail_event;
    }
    pthread_mutex_lock(&loop->mu);
    while (!loop->started) pthread_cond_wait(&loop->cv, &loop->mu);
    pthread_mutex_unlock(&loop->mu);
    return loop;

fail_event:
    event_free(loop->call_ev);
fail_base:
    event_base_free(loop->base);
fail_loop:
    pthread_cond_destroy(&loop->cv);
    pthread_mutex_destroy(&loop->mu);
    free(loop);
    return NULL;
}

bool rn_rpc_loop_on_thread(const rn_rpc_loop *loop)
{
    return pthread_equal(pthread_self(), loop->thread);
}

int rn_rpc_loop_set_max_frame(rn_rpc_loop *loop, size_t max_frame, struct rn_error *err)
{
    int rc = check_max_frame(max_frame, err);
    if (!rc) atomic_store(&loop->max_frame, max_frame);
    return rc;
}

int rn_rpc_loop_set_connect_timeout(rn_rpc_loop *loop, uint32_t ms, struct rn_error *err)
{
    if (ms == 0) return rn_error_set(err, RN_EINVAL, 0, 0, "rpc: a connect timeout must be > 0 ms");
    atomic_store(&loop->connect_timeout_ms, ms);
    return 0;
}

/* rn_rpc_loop_destroy's work on the loop thread. */
static void loop_teardown(void *arg)
{
    rn_rpc_loop *loop = arg;
    /* The calls queued so far run (they may queue more); then no new ones are taken. */
    for (;;) {
        run_calls(loop);
        pthread_mutex_lock(&loop->mu);
        bool empty = !loop->calls_head;
        if (empty) loop->stopping = true;
        pthread_mutex_unlock(&loop->mu);
        if (empty) break;
    }
    for (;;) {
        pthread_mutex_lock(&loop->mu);
        rn_rpc_server *s = loop->servers;
        pthread_mutex_unlock(&loop->mu);
        if (!s) break;
        server_close_on_loop(s);
        free(s);
    }
    for (;;) {
        pthread_mutex_lock(&loop->mu);
        rn_rpc_conn *c = loop->conns;
        if (c) rn_rpc_conn_ref(c);
        pthread_mutex_unlock(&loop->mu);
        if (!c) break;
        conn_finish(c, "rpc loop destroyed", false);
        rn_rpc_conn_unref(c);
    }
    for (;;) {
        pthread_mutex_lock(&loop->mu);
        rn_rpc_timer *t = loop->timers;
        if (t) loop->timers = t->next;
        pthread_mutex_unlock(&loop->mu);
        if (!t) break;
        event_free(t->ev);
        free(t);
    }
    /* Exit once libevent's own pending work (bufferevent finalizers) has run. */
    event_base_loopexit(loop->base, NULL);
}

void rn_rpc_loop_destroy(rn_rpc_loop *loop)
{
    if (!loop) return;
    if (rn_rpc_loop_on_thread(loop)) {
        logf_line(loop, "rpc: rn_rpc_loop_destroy called on the loop's own thread: ignored");
        return;
    }
    call_wait(loop, loop_teardown, loop, true);
    pthread_join(loop->thread, NULL);
    /* Calls queued by the teardown's own callbacks were refused; nothing is left queued. */
    event_free(loop->call_ev);
    event_base_free(loop->base);
    pthread_cond_destroy(&loop->cv);
    pthread_mutex_destroy(&loop->mu);
    free(loop);
}

struct event_base *rn_rpc_loop_base(rn_rpc_loop *loop) { return loop->base; }
