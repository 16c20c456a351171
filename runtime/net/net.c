/*
 * net.c — network channels between task managers (runtime/net/net.h): one listening data port
 * per rn_net, one TCP connection per peer data port this side sends to (shared by every
 * logical channel to that peer, multiplexed by channel id), credit-based flow control.
 *
 * Threads and locks. One I/O thread per rn_net waits in epoll on the listening socket, an
 * eventfd (to stop it) and every connection, reads frames and routes them: data frames to
 * the input channel's queue (batches decoded there, on the I/O thread, against the receiver's
 * schema), CREDIT / CLOSE to output channels. Writes happen on the thread that wants them
 * (a producer's send(), a consumer's try_recv() granting a credit, the I/O thread granting the
 * first credits) under the connection's write mutex, one whole frame per write, so frames of
 * different channels never interleave. Sockets stay blocking for writes (SO_SNDTIMEO bounds a
 * write to a peer that stopped reading) and are read with MSG_DONTWAIT.
 *   n->mu     the channel maps, the pending OPENs, the connection list, a connection's
 *             `dead` and `reason`. Held by the I/O thread while it handles the frames of one
 *             read, so a channel cannot be destroyed while a frame is being delivered to it.
 *   in->mu / o->mu   a channel's queue or credits (taken inside n->mu, never the reverse).
 *   c->wmu    writes on a connection; nothing else is taken while it is held.
 * A consumer's mailbox is rung with n->mu (and nothing else) held: it is a leaf lock.
 *
 * Lifetimes. Connections are reference counted: the connection list holds one reference (the
 * I/O thread drops it when it takes the connection out of service), every channel on it holds
 * one; the socket is closed with the last. A broken connection is shut down at once (which
 * wakes a writer blocked in send) and its channels fail: inputs whose end of input had not
 * arrived get an error naming the peer, outputs return RN_EIO. The rn_net is reference counted
 * too (rn_net_destroy and every channel), so channels may be destroyed after it.
 *
 * Bounds. A frame longer than RN_NET_MAX_FRAME closes its connection; the read buffer grows
 * only as bytes arrive (at most twice what the current frame has delivered). Data frames for
 * channels this side does not know (destroyed, or never created) are dropped; OPENs waiting for
 * their rn_net_input are kept, at most RN_NET_MAX_PENDING per connection, and dropped with the
 * connection (or at the sender's CLOSE). A sender that sends past its credits, data on a
 * channel it did not open, or frames of the wrong direction breaks the protocol: its connection
 * is closed with a log line.
 *
 * Assumes Linux (epoll, eventfd, accept4, MSG_NOSIGNAL) and one sending thread per output
 * channel (close() may come from any thread).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "net.h"

#define MAX_CAPACITY (1u << 20)       /* slots of an input queue */
#define MAX_CREDITS (1ull << 32)      /* credits an output may hold: more is a broken peer */
#define RBUF_MIN (1u << 20)           /* a connection's read buffer, at least */
#define RBUF_KEEP (4u << 20)          /* a bigger read buffer shrinks back once drained */
#define WBUF_KEEP (16u << 20)         /* the same for an output's frame buffer */
#define READ_BUDGET (8u << 20)        /* bytes read from one connection before the next */
#define CONNECT_TIMEOUT_MS 10000
#define SEND_TIMEOUT_S 30             /* a peer that reads nothing for this long is gone */

/* ---- little-endian fields ---- */

static inline void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline void put_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint32_t get_le32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) v |= (uint32_t)p[i] << (8 * i);
    return v;
}
static inline uint64_t get_le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static const char *type_name(uint8_t t)
{
    static const char *const names[] = {"?", "OPEN", "CREDIT", "BATCH", "WATERMARK", "BARRIER",
                                        "EOI", "IDLE", "CLOSE"};
    return t <= RN__NET_CLOSE ? names[t] : "?";
}

/* ---- frames ---- */

int rn__net_frame_parse(const void *buf, size_t len, struct rn__net_frame *f, struct rn_error *err)
{
    const uint8_t *p = buf;
    memset(f, 0, sizeof *f);
    if (len < 4) {
        f->size = 4;
        return RN_EAGAIN;
    }
    uint32_t flen = get_le32(p);
    if (flen < RN__NET_HEADER - 4)
        return rn_error_set(err, RN_ECORRUPT, 0, 0, "frame length %" PRIu32 " is shorter than its header", flen);
    if (flen > RN_NET_MAX_FRAME)
        return rn_error_set(err, RN_ECORRUPT, 0, 0, "frame of %" PRIu32 " bytes exceeds the limit of %u bytes",
                            flen, RN_NET_MAX_FRAME);
    f->size = 4 + (size_t)flen;
    if (len < f->size) return RN_EAGAIN;
    f->type = p[4];
    f->id = get_le64(p + 5);
    f->payload = p + RN__NET_HEADER;
    f->payload_len = flen - (RN__NET_HEADER - 4);
    uint32_t want;
    switch (f->type) {
    case RN__NET_OPEN: case RN__NET_EOI: case RN__NET_IDLE: case RN__NET_CLOSE: want = 0; break;
    case RN__NET_CREDIT: want = 4; break;
    case RN__NET_WATERMARK: case RN__NET_BARRIER: want = 8; break;
    case RN__NET_BATCH:
        if (f->payload_len == 0)
            return rn_error_set(err, RN_ECORRUPT, 0, 0, "BATCH frame for channel %" PRIu64 " is empty", f->id);
        return 0;
    default:
        return rn_error_set(err, RN_ECORRUPT, 0, 0, "unknown frame type %u", (unsigned)f->type);
    }
    if (f->payload_len != want)
        return rn_error_set(err, RN_ECORRUPT, 0, 0, "%s frame for channel %" PRIu64 " has %" PRIu32
                            " payload bytes (expects %" PRIu32 ")", type_name(f->type), f->id,
                            f->payload_len, want);
    if (want == 4) f->value = get_le32(f->payload);
    if (want == 8) f->value = get_le64(f->payload);
    return 0;
}

/* The header of a frame of type with payload_len bytes after it. */
static void frame_header(uint8_t *p, uint8_t type, uint64_t id, uint32_t payload_len)
{
    put_le32(p, RN__NET_HEADER - 4 + payload_len);
    p[4] = type;
    put_le64(p + 5, id);
}

/* ---- a small intrusive map from channel id to node ---- */

struct idnode {
    uint64_t id;
    struct idnode *next;
};

struct idmap {
    struct idnode **b;
    size_t nb, n;   /* nb: a power of two, or 0 */
};

static size_t id_slot(uint64_t id, size_t nb) { return (size_t)((id * 0x9e3779b97f4a7c15ull) >> 29) & (nb - 1); }

static struct idnode *idmap_get(const struct idmap *m, uint64_t id)
{
    if (!m->nb) return NULL;
    for (struct idnode *e = m->b[id_slot(id, m->nb)]; e; e = e->next)
        if (e->id == id) return e;
    return NULL;
}

/* Adds nd (whose id is not in m yet). 0 or RN_ENOMEM. */
static int idmap_put(struct idmap *m, struct idnode *nd)
{
    if (m->n >= m->nb) {
        size_t nb = m->nb ? m->nb * 2 : 16;
        struct idnode **b = calloc(nb, sizeof *b);
        if (!b) return RN_ENOMEM;
        for (size_t i = 0; i < m->nb; i++) {
            for (struct idnode *e = m->b[i], *next; e; e = next) {
                next = e->next;
                size_t s = id_slot(e->id, nb);
                e->next = b[s];
                b[s] = e;
            }
        }
        free(m->b);
        m->b = b;
        m->nb = nb;
    }
    size_t s = id_slot(nd->id, m->nb);
    nd->next = m->b[s];
    m->b[s] = nd;
    m->n++;
    return 0;
}

static void idmap_del(struct idmap *m, struct idnode *nd)
{
    if (!m->nb) return;
    for (struct idnode **pp = &m->b[id_slot(nd->id, m->nb)]; *pp; pp = &(*pp)->next) {
        if (*pp == nd) {
            *pp = nd->next;
            m->n--;
            return;
        }
    }
}

#define container_of(p, type, member) ((type *)(void *)((char *)(p) - offsetof(type, member)))

/* ---- structures ---- */

struct conn {
    _Atomic uint32_t refs;
    _Atomic bool broken;       /* shut down: no more writes */
    bool dead;                 /* out of service: off the list and epoll (n->mu) */
    bool outgoing;             /* opened by this side toward a peer's data port */
    int fd;
    char peer[96];             /* "host:port" for messages */
    char *host;                /* outgoing: the data port it serves (the sharing key) */
    uint16_t port;
    char reason[200];          /* why it broke, when a writer found out first (n->mu) */
    uint32_t n_pending;        /* OPENs on it waiting for their receiver (n->mu) */
    pthread_mutex_t wmu;
    uint8_t *rbuf;             /* I/O thread only: bytes [rpos, rlen) not parsed yet; rneed: */
    size_t rpos, rlen, rcap, rneed;   /* the size of the frame at rpos, once known */
    struct conn *next;         /* n->conns, then the I/O thread's graveyard */
};

struct net_in {
    struct rn_channel base;
    struct idnode node;        /* in n->inputs while in_map (n->mu) */
    bool in_map;
    struct rn_net *net;
    const rn_schema *schema;
    struct conn *conn;         /* the sender's connection once it opened (a reference) */
    pthread_mutex_t mu;
    uint32_t cap, head, len;
    bool closed, eoi, failed;
    char err[400];             /* written once, before failed is set */
    struct rn_element ring[];
};

struct net_out {
    struct rn_channel base;
    struct idnode node;        /* in n->outputs while in_map (n->mu) */
    bool in_map;
    struct rn_net *net;
    struct conn *conn;         /* a reference */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t credits;
    bool closed, peer_closed, broken, eoi_sent;
    char err[400];
    uint8_t *buf;              /* header + encoded batch, reused (the sending thread only) */
    size_t buf_cap;
};

struct pending {
    struct idnode node;        /* in n->pending */
    struct conn *conn;         /* the connection the OPEN came on (a reference) */
};

struct grant {
    uint64_t id;
    uint32_t credits;          /* 0: send CLOSE instead (the receiver was closed already) */
};

struct rn_net {
    _Atomic uint32_t refs;
    pthread_mutex_t mu;
    pthread_mutex_t connect_mu;    /* one connection attempt at a time: no two to one peer */
    FILE *log;
    int lfd, epfd, evfd;
    uint16_t port;
    pthread_t io;
    _Atomic bool stopping;
    bool down;                     /* rn_net_destroy began (n->mu) */
    struct idmap inputs, outputs, pending;
    struct conn *conns;
    uint32_t n_conns;
    /* the I/O thread's own */
    struct conn *graveyard;
    struct grant *grants;
    size_t n_grants, cap_grants;
    bool listen_paused;
    int64_t listen_resume_ms;
    _Atomic uint64_t bytes_out, bytes_in, frames_out, frames_in, credit_waits;
    _Atomic uint64_t elements_out, elements_in, queued;
};

/* ---- helpers ---- */

static const char *errstr(int e, char *buf, size_t len) { return strerror_r(e, buf, len); }

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void net_log(struct rn_net *n, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void net_log(struct rn_net *n, const char *fmt, ...)
{
    FILE *f = n->log ? n->log : stderr;
    char line[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(f, "runnel net: %s\n", line);
    fflush(f);
}

static void release(struct rn_element *el)
{
    if (el->kind == RN_EL_BATCH) rn_batch_unref(el->batch);
    el->batch = NULL;
}

static void net_unref(struct rn_net *n)
{
    if (atomic_fetch_sub(&n->refs, 1) != 1) return;
    free(n->inputs.b);
    free(n->outputs.b);
    free(n->pending.b);
    free(n->grants);
    pthread_mutex_destroy(&n->mu);
    pthread_mutex_destroy(&n->connect_mu);
    free(n);
}

static struct conn *conn_ref(struct conn *c)
{
    atomic_fetch_add(&c->refs, 1);
    return c;
}

static void conn_unref(struct conn *c)
{
    if (!c || atomic_fetch_sub(&c->refs, 1) != 1) return;
    close(c->fd);
    pthread_mutex_destroy(&c->wmu);
    free(c->rbuf);
    free(c->host);
    free(c);
}

/* A connection over fd (one reference, for the connection list). NULL when out of memory. */
static struct conn *conn_new(int fd, bool outgoing, const char *peer, const char *host, uint16_t port)
{
    struct conn *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->rbuf = malloc(RBUF_MIN);
    c->host = host ? strdup(host) : NULL;
    if (!c->rbuf || (host && !c->host)) {
        free(c->rbuf);
        free(c->host);
        free(c);
        return NULL;
    }
    atomic_init(&c->refs, 1);
    atomic_init(&c->broken, false);
    c->fd = fd;
    c->outgoing = outgoing;
    c->port = port;
    c->rcap = RBUF_MIN;
    c->rneed = 4;
    snprintf(c->peer, sizeof c->peer, "%s", peer);
    pthread_mutex_init(&c->wmu, NULL);
    return c;
}

/* A writer found c broken: remember why (the first reason wins), stop every write and make
 * the I/O thread see the end of the stream (it takes c out of service). */
static void conn_break(struct rn_net *n, struct conn *c, const char *why)
{
    pthread_mutex_lock(&n->mu);
    if (!c->reason[0]) snprintf(c->reason, sizeof c->reason, "%s", why);
    pthread_mutex_unlock(&n->mu);
    atomic_store(&c->broken, true);
    shutdown(c->fd, SHUT_RDWR);
}

/* Writes one whole frame. 0, or RN_EIO when c is (or just became) broken. */
static int conn_write(struct rn_net *n, struct conn *c, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    size_t left = len;
    pthread_mutex_lock(&c->wmu);
    if (atomic_load(&c->broken)) {
        pthread_mutex_unlock(&c->wmu);
        return RN_EIO;
    }
    while (left) {
        ssize_t w = send(c->fd, p, left, MSG_NOSIGNAL);
        if (w > 0) {
            p += w;
            left -= (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR) continue;
        int e = w < 0 ? errno : EPIPE;
        pthread_mutex_unlock(&c->wmu);
        char why[160], eb[96];
        if (e == EAGAIN || e == EWOULDBLOCK)
            snprintf(why, sizeof why, "the peer read nothing for %d s", SEND_TIMEOUT_S);
        else
            snprintf(why, sizeof why, "write failed: %s", errstr(e, eb, sizeof eb));
        conn_break(n, c, why);
        return RN_EIO;
    }
    pthread_mutex_unlock(&c->wmu);
    atomic_fetch_add_explicit(&n->bytes_out, len, memory_order_relaxed);
    atomic_fetch_add_explicit(&n->frames_out, 1, memory_order_relaxed);
    return 0;
}

/* Writes a control frame: OPEN / CLOSE (no payload) or CREDIT (u32). */
static int conn_send_ctl(struct rn_net *n, struct conn *c, uint8_t type, uint64_t id, uint32_t credits)
{
    uint8_t f[RN__NET_HEADER + 4];
    uint32_t plen = type == RN__NET_CREDIT ? 4 : 0;
    frame_header(f, type, id, plen);
    if (plen) put_le32(f + RN__NET_HEADER, credits);
    return conn_write(n, c, f, RN__NET_HEADER + plen);
}

/* Fails input in (in->mu held): its error names the peer; the consumer is rung by the caller. */
static void in_fail(struct net_in *in, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void in_fail(struct net_in *in, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(in->err, sizeof in->err, fmt, ap);
    va_end(ap);
    in->failed = true;
}

/* Takes c out of service (the I/O thread, or rn_net_destroy once that thread ended): off the
 * list and epoll, shut down; its inputs without end of input fail, its outputs break, the
 * OPENs it brought are dropped. Logged when it was a protocol error or a channel failed. The
 * list's reference goes to the graveyard (dropped after the current round of events). */
static void conn_teardown(struct rn_net *n, struct conn *c, const char *why, bool protocol_error)
{
    char reason[sizeof c->reason];
    unsigned failed = 0;
    pthread_mutex_lock(&n->mu);
    if (c->dead) {
        pthread_mutex_unlock(&n->mu);
        return;
    }
    c->dead = true;
    snprintf(reason, sizeof reason, "%s", c->reason[0] && !protocol_error ? c->reason : why);
    for (struct conn **pp = &n->conns; *pp; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            n->n_conns--;
            break;
        }
    }
    for (size_t i = 0; i < n->inputs.nb; i++) {
        for (struct idnode *e = n->inputs.b[i]; e; e = e->next) {
            struct net_in *in = container_of(e, struct net_in, node);
            if (in->conn != c) continue;
            pthread_mutex_lock(&in->mu);
            bool fail = !in->eoi && !in->closed && !in->failed;
            if (fail)
                in_fail(in, "channel %" PRIu64 ": the connection from %s closed before the end of input (%s)",
                        e->id, c->peer, reason);
            pthread_mutex_unlock(&in->mu);
            if (fail) {
                failed++;
                rn_mailbox_ring(in->base.consumer);
            }
        }
    }
    for (size_t i = 0; i < n->outputs.nb; i++) {
        for (struct idnode *e = n->outputs.b[i]; e; e = e->next) {
            struct net_out *o = container_of(e, struct net_out, node);
            if (o->conn != c) continue;
            pthread_mutex_lock(&o->mu);
            if (!o->broken) {
                o->broken = true;
                snprintf(o->err, sizeof o->err, "channel %" PRIu64 ": the connection to %s broke (%s)",
                         e->id, c->peer, reason);
                if (!o->eoi_sent && !o->closed && !o->peer_closed) failed++;
            }
            pthread_cond_broadcast(&o->cv);
            pthread_mutex_unlock(&o->mu);
        }
    }
    for (size_t i = 0; i < n->pending.nb && c->n_pending; i++) {
        for (struct idnode **pp = &n->pending.b[i]; *pp;) {
            struct pending *p = container_of(*pp, struct pending, node);
            if (p->conn != c) {
                pp = &(*pp)->next;
                continue;
            }
            *pp = (*pp)->next;
            n->pending.n--;
            c->n_pending--;
            conn_unref(c);   /* never the last: the list's reference is still held */
            free(p);
        }
    }
    bool quiet = n->down;
    pthread_mutex_unlock(&n->mu);
    /* logged before the socket closes, so whoever sees it close finds the line */
    if (!quiet && (protocol_error || failed))
        net_log(n, "connection %s %s closed: %s%s", c->outgoing ? "to" : "from", c->peer, reason,
                failed ? " (its channels fail)" : "");
    atomic_store(&c->broken, true);
    shutdown(c->fd, SHUT_RDWR);
    epoll_ctl(n->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    c->next = n->graveyard;
    n->graveyard = c;
}

static void drain_graveyard(struct rn_net *n)
{
    while (n->graveyard) {
        struct conn *c = n->graveyard;
        n->graveyard = c->next;
        conn_unref(c);
    }
}

/* Socket options of every data connection: no Nagle delay (a credit or a watermark must not
 * wait), a bound on blocked writes and on unacknowledged data, keepalive so that a vanished
 * host is noticed even on an idle connection. */
static void setup_socket(int fd)
{
    int one = 1, idle = 10, intvl = 5, cnt = 3;
    unsigned user_timeout_ms = SEND_TIMEOUT_S * 1000;   /* data unacknowledged that long: gone */
    struct timeval tv = {SEND_TIMEOUT_S, 0};
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);
    setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout_ms, sizeof user_timeout_ms);
}

static void addr_text(const struct sockaddr *sa, char *buf, size_t len)
{
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)(const void *)sa;
        inet_ntop(AF_INET, &s4->sin_addr, host, sizeof host);
        port = ntohs(s4->sin_port);
        snprintf(buf, len, "%s:%u", host, port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)(const void *)sa;
        inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof host);
        port = ntohs(s6->sin6_port);
        snprintf(buf, len, "[%s]:%u", host, port);
    } else {
        snprintf(buf, len, "?");
    }
}

/* ---- the I/O thread: frames in ---- */

static int add_grant(struct rn_net *n, uint64_t id, uint32_t credits)
{
    if (n->n_grants == n->cap_grants) {
        size_t cap = n->cap_grants ? n->cap_grants * 2 : 16;
        struct grant *g = realloc(n->grants, cap * sizeof *g);
        if (!g) return RN_ENOMEM;
        n->grants = g;
        n->cap_grants = cap;
    }
    n->grants[n->n_grants++] = (struct grant){id, credits};
    return 0;
}

/* The frame handlers run on the I/O thread with n->mu held. They return 0, or -1 with why
 * filled when the peer broke the protocol (the connection is then closed). */

static int on_open(struct rn_net *n, struct conn *c, uint64_t id, char *why, size_t wl)
{
    struct idnode *e = idmap_get(&n->inputs, id);
    if (e) {
        struct net_in *in = container_of(e, struct net_in, node);
        if (in->conn) {
            snprintf(why, wl, "channel %" PRIu64 " opened twice", id);
            return -1;
        }
        pthread_mutex_lock(&in->mu);
        in->conn = conn_ref(c);
        bool closed = in->closed;
        pthread_mutex_unlock(&in->mu);
        if (add_grant(n, id, closed ? 0 : in->cap)) {
            snprintf(why, wl, "out of memory");
            return -1;
        }
        return 0;
    }
    if (idmap_get(&n->pending, id)) {
        snprintf(why, wl, "channel %" PRIu64 " opened twice", id);
        return -1;
    }
    if (c->n_pending >= RN_NET_MAX_PENDING) {
        snprintf(why, wl, "more than %u channels opened that have no receiver here", RN_NET_MAX_PENDING);
        return -1;
    }
    struct pending *p = calloc(1, sizeof *p);
    if (!p) {
        snprintf(why, wl, "out of memory");
        return -1;
    }
    p->node.id = id;
    if (idmap_put(&n->pending, &p->node)) {
        free(p);
        snprintf(why, wl, "out of memory");
        return -1;
    }
    p->conn = conn_ref(c);
    c->n_pending++;
    return 0;
}

static int on_credit(struct rn_net *n, struct conn *c, uint64_t id, uint64_t credits, char *why, size_t wl)
{
    struct idnode *e = idmap_get(&n->outputs, id);
    if (!e) return 0;   /* the output was destroyed meanwhile */
    struct net_out *o = container_of(e, struct net_out, node);
    if (o->conn != c) return 0;
    pthread_mutex_lock(&o->mu);
    o->credits += credits;
    bool over = o->credits > MAX_CREDITS;
    pthread_cond_signal(&o->cv);
    pthread_mutex_unlock(&o->mu);
    if (over) {
        snprintf(why, wl, "channel %" PRIu64 " was granted more than %llu credits", id, MAX_CREDITS);
        return -1;
    }
    return 0;
}

static void on_close(struct rn_net *n, struct conn *c, uint64_t id)
{
    if (c->outgoing) {   /* the receiver closed its end: the sender is cancelled */
        struct idnode *e = idmap_get(&n->outputs, id);
        struct net_out *o = e ? container_of(e, struct net_out, node) : NULL;
        if (!o || o->conn != c) return;
        pthread_mutex_lock(&o->mu);
        o->peer_closed = true;
        pthread_cond_broadcast(&o->cv);
        pthread_mutex_unlock(&o->mu);
        return;
    }
    struct idnode *e = idmap_get(&n->pending, id);
    if (e) {
        struct pending *p = container_of(e, struct pending, node);
        if (p->conn == c) {
            idmap_del(&n->pending, e);
            c->n_pending--;
            conn_unref(c);
            free(p);
        }
        return;
    }
    e = idmap_get(&n->inputs, id);
    struct net_in *in = e ? container_of(e, struct net_in, node) : NULL;
    if (!in || in->conn != c) return;
    pthread_mutex_lock(&in->mu);
    bool fail = !in->eoi && !in->closed && !in->failed;
    if (fail)
        in_fail(in, "channel %" PRIu64 ": the sender at %s closed it before the end of input", id, c->peer);
    pthread_mutex_unlock(&in->mu);
    if (fail) rn_mailbox_ring(in->base.consumer);
}

static int on_data(struct rn_net *n, struct conn *c, const struct rn__net_frame *f, char *why, size_t wl)
{
    struct idnode *e = idmap_get(&n->inputs, f->id);
    struct net_in *in = e ? container_of(e, struct net_in, node) : NULL;
    if (!in || in->conn != c) {
        struct idnode *pe = idmap_get(&n->pending, f->id);
        if ((pe && container_of(pe, struct pending, node)->conn == c) || in) {
            snprintf(why, wl, "%s frame for channel %" PRIu64 ", which has granted it no credits",
                     type_name(f->type), f->id);
            return -1;
        }
        return 0;   /* a channel destroyed here (or never created): dropped */
    }
    pthread_mutex_lock(&in->mu);
    bool drop = in->closed || in->failed, full = in->len == in->cap;
    pthread_mutex_unlock(&in->mu);
    if (drop) return 0;
    if (full) {
        snprintf(why, wl, "channel %" PRIu64 " sent past its credits", f->id);
        return -1;
    }
    struct rn_element el = {0};
    switch (f->type) {
    case RN__NET_BATCH: {
        struct rn_error err;
        size_t used = 0;
        int rc = rn_batch_decode(f->payload, f->payload_len, in->schema, &el.batch, &used, &err);
        if (!rc && used != f->payload_len) {
            rn_batch_unref(el.batch);
            el.batch = NULL;
            rc = rn_error_set(&err, RN_ECORRUPT, 0, 0, "%zu bytes after the encoded batch",
                              (size_t)f->payload_len - used);
        }
        if (rc) {
            pthread_mutex_lock(&in->mu);
            in_fail(in, "channel %" PRIu64 ": a batch from %s does not decode: %s", f->id, c->peer, err.msg);
            pthread_mutex_unlock(&in->mu);
            rn_mailbox_ring(in->base.consumer);
            snprintf(why, wl, "a batch for channel %" PRIu64 " does not decode: %s", f->id, err.msg);
            return -1;
        }
        el.kind = RN_EL_BATCH;
        break;
    }
    case RN__NET_WATERMARK: el.kind = RN_EL_WATERMARK; el.watermark = (int64_t)f->value; break;
    case RN__NET_BARRIER: el.kind = RN_EL_BARRIER; el.watermark = (int64_t)f->value; break;
    case RN__NET_EOI: el.kind = RN_EL_EOI; break;
    default: el.kind = RN_EL_IDLE; break;
    }
    pthread_mutex_lock(&in->mu);
    bool queued = !in->closed && !in->failed;
    if (queued) {
        in->ring[(in->head + in->len) % in->cap] = el;
        in->len++;
        if (el.kind == RN_EL_EOI) in->eoi = true;
        /* counted before the consumer can take it (which counts it out) */
        atomic_fetch_add_explicit(&n->elements_in, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&n->queued, 1, memory_order_relaxed);
    }
    pthread_mutex_unlock(&in->mu);
    if (!queued) {
        release(&el);
        return 0;
    }
    rn_mailbox_ring(in->base.consumer);
    return 0;
}

static int handle_frame(struct rn_net *n, struct conn *c, const struct rn__net_frame *f, char *why, size_t wl)
{
    bool to_receiver = f->type != RN__NET_CREDIT && f->type != RN__NET_CLOSE;
    if (f->type != RN__NET_CLOSE && to_receiver == c->outgoing) {
        snprintf(why, wl, "%s frame in the wrong direction", type_name(f->type));
        return -1;
    }
    switch (f->type) {
    case RN__NET_OPEN: return on_open(n, c, f->id, why, wl);
    case RN__NET_CREDIT: return on_credit(n, c, f->id, f->value, why, wl);
    case RN__NET_CLOSE: on_close(n, c, f->id); return 0;
    default: return on_data(n, c, f, why, wl);
    }
}

/* Handles every whole frame in c's read buffer. 0, or -1 when c was taken out of service. */
static int conn_process(struct rn_net *n, struct conn *c)
{
    char why[600] = "";
    size_t off = c->rpos;
    bool bad = false;
    n->n_grants = 0;
    pthread_mutex_lock(&n->mu);
    for (;;) {
        struct rn__net_frame f;
        struct rn_error err;
        int rc = rn__net_frame_parse(c->rbuf + off, c->rlen - off, &f, &err);
        if (rc == RN_EAGAIN) {
            c->rneed = f.size;
            break;
        }
        if (rc) {
            snprintf(why, sizeof why, "%s", err.msg);
            bad = true;
            break;
        }
        atomic_fetch_add_explicit(&n->frames_in, 1, memory_order_relaxed);
        if (handle_frame(n, c, &f, why, sizeof why)) {
            bad = true;
            break;
        }
        off += f.size;
    }
    pthread_mutex_unlock(&n->mu);
    if (bad) {
        conn_teardown(n, c, why, true);
        return -1;
    }
    for (size_t i = 0; i < n->n_grants; i++) {
        const struct grant *g = &n->grants[i];
        conn_send_ctl(n, c, g->credits ? RN__NET_CREDIT : RN__NET_CLOSE, g->id, g->credits);
    }
    /* what is left stays where it is (conn_readable moves it when the buffer is full) */
    c->rpos = off;
    if (c->rpos == c->rlen) c->rpos = c->rlen = 0;
    if (c->rcap > RBUF_KEEP && c->rlen == 0 && c->rneed <= RBUF_MIN) {
        uint8_t *b = realloc(c->rbuf, RBUF_MIN);
        if (b) {
            c->rbuf = b;
            c->rcap = RBUF_MIN;
        }
    }
    return 0;
}

static void conn_readable(struct rn_net *n, struct conn *c)
{
    size_t budget = READ_BUDGET;
    while (budget) {
        if (c->rlen == c->rcap && c->rpos) {   /* a partial frame to the front */
            memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
            c->rlen -= c->rpos;
            c->rpos = 0;
        }
        if (c->rlen == c->rcap) {
            /* only a frame bigger than the buffer fills it: grow toward that frame's size, at
             * most doubling, so memory follows the bytes that really arrived */
            size_t cap = c->rcap * 2 < c->rneed ? c->rcap * 2 : c->rneed;
            uint8_t *b = cap > c->rcap ? realloc(c->rbuf, cap) : NULL;
            if (!b) {
                char why[120];
                snprintf(why, sizeof why, "out of memory for a frame of %zu bytes", c->rneed);
                conn_teardown(n, c, why, true);
                return;
            }
            c->rbuf = b;
            c->rcap = cap;
        }
        ssize_t r = recv(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen, MSG_DONTWAIT);
        if (r == 0) {
            conn_teardown(n, c, "closed by the peer", false);
            return;
        }
        if (r < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return;
            char why[120], eb[96];
            snprintf(why, sizeof why, "read failed: %s", errstr(errno, eb, sizeof eb));
            conn_teardown(n, c, why, false);
            return;
        }
        atomic_fetch_add_explicit(&n->bytes_in, (uint64_t)r, memory_order_relaxed);
        c->rlen += (size_t)r;
        budget -= (size_t)r < budget ? (size_t)r : budget;
        if (conn_process(n, c)) return;
    }
}

/* Adds c to the list and to epoll (n->mu held). 0, or RN_EIO (c untouched). */
static int conn_enlist(struct rn_net *n, struct conn *c)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    if (epoll_ctl(n->epfd, EPOLL_CTL_ADD, c->fd, &ev)) return RN_EIO;
    c->next = n->conns;
    n->conns = c;
    n->n_conns++;
    return 0;
}

static void accept_all(struct rn_net *n)
{
    for (;;) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int fd = accept4(n->lfd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return;
            /* out of descriptors or memory: stop listening for a moment rather than spin */
            char eb[96];
            net_log(n, "cannot accept a connection on port %u: %s (retrying in 100 ms)", n->port,
                    errstr(errno, eb, sizeof eb));
            struct epoll_event ev = {.events = 0, .data.ptr = &n->lfd};
            epoll_ctl(n->epfd, EPOLL_CTL_MOD, n->lfd, &ev);
            n->listen_paused = true;
            n->listen_resume_ms = now_ms() + 100;
            return;
        }
        setup_socket(fd);
        char peer[96];
        addr_text((struct sockaddr *)&ss, peer, sizeof peer);
        struct conn *c = conn_new(fd, false, peer, NULL, 0);
        if (!c) {
            net_log(n, "connection from %s refused: out of memory", peer);
            close(fd);
            continue;
        }
        pthread_mutex_lock(&n->mu);
        int rc = n->down ? RN_ECANCELED : conn_enlist(n, c);
        pthread_mutex_unlock(&n->mu);
        if (rc) conn_unref(c);
    }
}

static void *io_main(void *arg)
{
    struct rn_net *n = arg;
    struct epoll_event ev[64];
    while (!atomic_load(&n->stopping)) {
        int timeout = -1;
        if (n->listen_paused) {
            int64_t left = n->listen_resume_ms - now_ms();
            if (left <= 0) {
                struct epoll_event lev = {.events = EPOLLIN, .data.ptr = &n->lfd};
                epoll_ctl(n->epfd, EPOLL_CTL_MOD, n->lfd, &lev);
                n->listen_paused = false;
            } else {
                timeout = (int)left;
            }
        }
        int k = epoll_wait(n->epfd, ev, 64, timeout);
        if (k < 0) {
            if (errno == EINTR) continue;
            char eb[96];
            net_log(n, "the I/O thread of port %u stops: epoll_wait: %s", n->port, errstr(errno, eb, sizeof eb));
            break;
        }
        for (int i = 0; i < k; i++) {
            void *p = ev[i].data.ptr;
            if (p == &n->evfd) {
                uint64_t v;
                while (read(n->evfd, &v, sizeof v) < 0 && errno == EINTR) {}
            } else if (p == &n->lfd) {
                accept_all(n);
            } else {
                conn_readable(n, p);
            }
        }
        drain_graveyard(n);
    }
    return NULL;
}

/* ---- rn_net ---- */

rn_net *rn_net_create(const char *host, uint16_t port, FILE *log, struct rn_error *err)
{
    if (!host || !*host) host = "127.0.0.1";
    struct rn_net *n = calloc(1, sizeof *n);
    if (!n) {
        rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
        return NULL;
    }
    atomic_init(&n->refs, 1);
    pthread_mutex_init(&n->mu, NULL);
    pthread_mutex_init(&n->connect_mu, NULL);
    n->log = log;
    n->lfd = n->epfd = n->evfd = -1;

    char ps[8], eb[96];
    snprintf(ps, sizeof ps, "%u", (unsigned)port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    int grc = getaddrinfo(host, ps, &hints, &ai);
    if (grc) {
        rn_error_set(err, RN_EINVAL, 0, 0, "data port %s:%u: %s", host, (unsigned)port, gai_strerror(grc));
        goto undo_net;
    }
    int last = 0;
    for (struct addrinfo *a = ai; a; a = a->ai_next) {
        int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
        if (fd < 0) {
            last = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, a->ai_addr, a->ai_addrlen) || listen(fd, 128)) {
            last = errno;
            close(fd);
            continue;
        }
        n->lfd = fd;
        break;
    }
    freeaddrinfo(ai);
    if (n->lfd < 0) {
        rn_error_set(err, RN_EIO, 0, 0, "cannot listen on %s:%u: %s", host, (unsigned)port,
                     errstr(last ? last : EADDRNOTAVAIL, eb, sizeof eb));
        if (err) err->sys_errno = last;
        goto undo_net;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(n->lfd, (struct sockaddr *)&ss, &sl)) {
        rn_error_set(err, RN_EIO, 0, 0, "getsockname: %s", errstr(errno, eb, sizeof eb));
        goto undo_listen;
    }
    n->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                             : ((struct sockaddr_in *)&ss)->sin_port);
    n->epfd = epoll_create1(EPOLL_CLOEXEC);
    n->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (n->epfd < 0 || n->evfd < 0) {
        rn_error_set(err, RN_EIO, 0, 0, "epoll/eventfd: %s", errstr(errno, eb, sizeof eb));
        goto undo_poll;
    }
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = &n->lfd};
    struct epoll_event eev = {.events = EPOLLIN, .data.ptr = &n->evfd};
    if (epoll_ctl(n->epfd, EPOLL_CTL_ADD, n->lfd, &lev) || epoll_ctl(n->epfd, EPOLL_CTL_ADD, n->evfd, &eev)) {
        rn_error_set(err, RN_EIO, 0, 0, "epoll_ctl: %s", errstr(errno, eb, sizeof eb));
        goto undo_poll;
    }
    int prc = pthread_create(&n->io, NULL, io_main, n);
    if (prc) {
        rn_error_set(err, RN_EIO, 0, 0, "cannot start the data plane's I/O thread: %s", errstr(prc, eb, sizeof eb));
        goto undo_poll;
    }
    return n;

undo_poll:
    if (n->epfd >= 0) close(n->epfd);
    if (n->evfd >= 0) close(n->evfd);
undo_listen:
    close(n->lfd);
undo_net:
    net_unref(n);
    return NULL;
}

uint16_t rn_net_port(const rn_net *n) { return n->port; }

void rn_net_destroy(rn_net *n)
{
    if (!n) return;
    pthread_mutex_lock(&n->mu);
    n->down = true;
    /* wakes writers blocked in send (the I/O thread's grants included) */
    for (struct conn *c = n->conns; c; c = c->next) {
        if (!c->reason[0]) snprintf(c->reason, sizeof c->reason, "this task manager's data plane shut down");
        atomic_store(&c->broken, true);
        shutdown(c->fd, SHUT_RDWR);
    }
    pthread_mutex_unlock(&n->mu);
    atomic_store(&n->stopping, true);
    uint64_t one = 1;
    while (write(n->evfd, &one, sizeof one) < 0 && errno == EINTR) {}
    pthread_join(n->io, NULL);

    for (;;) {
        pthread_mutex_lock(&n->mu);
        struct conn *c = n->conns;
        pthread_mutex_unlock(&n->mu);
        if (!c) break;
        conn_teardown(n, c, "this task manager's data plane shut down", false);
    }
    drain_graveyard(n);
    /* inputs whose sender never attached fail too; outputs were broken with their connection */
    pthread_mutex_lock(&n->mu);
    for (size_t i = 0; i < n->inputs.nb; i++) {
        for (struct idnode *e = n->inputs.b[i]; e; e = e->next) {
            struct net_in *in = container_of(e, struct net_in, node);
            pthread_mutex_lock(&in->mu);
            bool fail = !in->eoi && !in->closed && !in->failed;
            if (fail)
                in_fail(in, "channel %" PRIu64 ": the data plane on port %u shut down before the end of input",
                        e->id, n->port);
            pthread_mutex_unlock(&in->mu);
            if (fail) rn_mailbox_ring(in->base.consumer);
        }
    }
    pthread_mutex_unlock(&n->mu);
    close(n->lfd);
    close(n->epfd);
    close(n->evfd);
    net_unref(n);
}

void rn_net_stats(rn_net *n, struct rn_net_stats *out)
{
    out->bytes_out = atomic_load(&n->bytes_out);
    out->bytes_in = atomic_load(&n->bytes_in);
    out->frames_out = atomic_load(&n->frames_out);
    out->frames_in = atomic_load(&n->frames_in);
    out->credit_waits = atomic_load(&n->credit_waits);
    out->elements_out = atomic_load(&n->elements_out);
    out->elements_in = atomic_load(&n->elements_in);
    out->queued = atomic_load(&n->queued);
    pthread_mutex_lock(&n->mu);
    out->connections = n->n_conns;
    pthread_mutex_unlock(&n->mu);
}

/* ---- input channels ---- */

static int in_send(struct rn_channel *ch, struct rn_element *el)
{
    release(el);
    return RN_EINVAL;   /* the receiving end of a network channel is not written to */
}

static bool in_try_recv(struct rn_channel *ch, struct rn_element *el)
{
    struct net_in *in = container_of(ch, struct net_in, base);
    pthread_mutex_lock(&in->mu);
    if (in->len == 0) {
        pthread_mutex_unlock(&in->mu);
        return false;
    }
    *el = in->ring[in->head];
    in->head = (in->head + 1) % in->cap;
    in->len--;
    /* the freed slot is a credit for the sender (none needed once its input ended) */
    struct conn *c = in->conn && !in->eoi && !in->closed && !in->failed ? conn_ref(in->conn) : NULL;
    pthread_mutex_unlock(&in->mu);
    atomic_fetch_sub_explicit(&in->net->queued, 1, memory_order_relaxed);
    if (c) {
        conn_send_ctl(in->net, c, RN__NET_CREDIT, in->node.id, 1);
        conn_unref(c);
    }
    return true;
}

static void in_close(struct rn_channel *ch)
{
    struct net_in *in = container_of(ch, struct net_in, base);
    pthread_mutex_lock(&in->mu);
    if (in->closed) {
        pthread_mutex_unlock(&in->mu);
        return;
    }
    in->closed = true;
    uint32_t dropped = in->len;
    while (in->len) {
        release(&in->ring[in->head]);
        in->head = (in->head + 1) % in->cap;
        in->len--;
    }
    struct conn *c = in->conn && !in->eoi && !in->failed ? conn_ref(in->conn) : NULL;
    pthread_mutex_unlock(&in->mu);
    atomic_fetch_sub_explicit(&in->net->queued, dropped, memory_order_relaxed);
    if (c) {   /* tells the sender, whose send() then returns RN_ECANCELED */
        conn_send_ctl(in->net, c, RN__NET_CLOSE, in->node.id, 0);
        conn_unref(c);
    }
}

static void in_destroy(struct rn_channel *ch)
{
    struct net_in *in = container_of(ch, struct net_in, base);
    struct rn_net *n = in->net;
    in_close(ch);
    pthread_mutex_lock(&n->mu);
    if (in->in_map) idmap_del(&n->inputs, &in->node);
    pthread_mutex_unlock(&n->mu);
    conn_unref(in->conn);
    pthread_mutex_destroy(&in->mu);
    free(in);
    net_unref(n);
}

static const char *in_error(struct rn_channel *ch)
{
    struct net_in *in = container_of(ch, struct net_in, base);
    pthread_mutex_lock(&in->mu);
    const char *e = in->failed ? in->err : NULL;
    pthread_mutex_unlock(&in->mu);
    return e;
}

static const struct rn_channel_ops in_ops = {in_send, in_try_recv, in_close, in_destroy, in_error};

struct rn_channel *rn_net_input(rn_net *n, uint64_t id, const rn_schema *schema, uint32_t capacity,
                                struct rn_mailbox *consumer, struct rn_error *err)
{
    if (capacity == 0) capacity = 8;
    if (capacity > MAX_CAPACITY) {
        rn_error_set(err, RN_ERANGE, 0, 0, "channel %" PRIu64 ": capacity %" PRIu32 " above the limit of %u",
                     id, capacity, MAX_CAPACITY);
        return NULL;
    }
    struct net_in *in = calloc(1, sizeof *in + (size_t)capacity * sizeof(struct rn_element));
    if (!in) {
        rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
        return NULL;
    }
    in->base.ops = &in_ops;
    in->base.consumer = consumer;
    in->node.id = id;
    in->net = n;
    in->schema = schema;
    in->cap = capacity;
    pthread_mutex_init(&in->mu, NULL);

    struct conn *grant = NULL;
    pthread_mutex_lock(&n->mu);
    int rc = 0;
    if (n->down)
        rc = rn_error_set(err, RN_ECANCELED, 0, 0, "channel %" PRIu64 ": the data plane shut down", id);
    else if (idmap_get(&n->inputs, id))
        rc = rn_error_set(err, RN_EINVAL, 0, 0, "channel %" PRIu64 " already has a receiver here", id);
    else if (idmap_put(&n->inputs, &in->node))
        rc = rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
    if (rc) {
        pthread_mutex_unlock(&n->mu);
        pthread_mutex_destroy(&in->mu);
        free(in);
        return NULL;
    }
    in->in_map = true;
    atomic_fetch_add(&n->refs, 1);
    struct idnode *pe = idmap_get(&n->pending, id);
    if (pe) {   /* the sender attached first: its OPEN waited here */
        struct pending *p = container_of(pe, struct pending, node);
        idmap_del(&n->pending, pe);
        in->conn = p->conn;   /* the pending entry's reference moves to the input */
        in->conn->n_pending--;
        free(p);
        if (!in->conn->dead) grant = conn_ref(in->conn);
    }
    pthread_mutex_unlock(&n->mu);
    if (grant) {
        conn_send_ctl(n, grant, RN__NET_CREDIT, id, capacity);
        conn_unref(grant);
    }
    return &in->base;
}

/* ---- output channels ---- */

/* Makes o->buf hold at least need bytes. 0 or RN_ENOMEM. */
static int out_reserve(struct net_out *o, size_t need)
{
    if (o->buf_cap >= need && !(o->buf_cap > WBUF_KEEP && need < o->buf_cap / 8)) return 0;
    size_t cap = o->buf_cap >= need ? need : o->buf_cap * 2;
    if (cap < need) cap = need;
    if (cap < 4096) cap = 4096;
    uint8_t *b = realloc(o->buf, cap);
    if (!b) return o->buf_cap >= need ? 0 : RN_ENOMEM;
    o->buf = b;
    o->buf_cap = cap;
    return 0;
}

static int out_send(struct rn_channel *ch, struct rn_element *el)
{
    struct net_out *o = container_of(ch, struct net_out, base);
    struct rn_net *n = o->net;
    uint8_t small[RN__NET_HEADER + 8];
    const uint8_t *frame = small;
    size_t len = RN__NET_HEADER;
    uint64_t id = o->node.id;
    /* the frame is built before waiting for a credit: encoding overlaps the receiver's work */
    switch (el->kind) {
    case RN_EL_BATCH: {
        if (!el->batch) return RN_EINVAL;
        size_t bound = rn_batch_encoded_bound(el->batch), written = 0;
        if (bound > RN_NET_MAX_FRAME - (RN__NET_HEADER - 4)) {
            release(el);
            return RN_ERANGE;
        }
        if (out_reserve(o, RN__NET_HEADER + bound)) {
            release(el);
            return RN_ENOMEM;
        }
        /* no CRC: TCP checksums the stream (Flink's network buffers carry none either) */
        int rc = rn_batch_encode_flags(el->batch, o->buf + RN__NET_HEADER, o->buf_cap - RN__NET_HEADER,
                                       RN_BATCH_ENC_NO_CHECKSUM, &written);
        release(el);
        if (rc) return rc;
        frame_header(o->buf, RN__NET_BATCH, id, (uint32_t)written);
        frame = o->buf;
        len = RN__NET_HEADER + written;
        break;
    }
    case RN_EL_WATERMARK:
    case RN_EL_BARRIER:
        frame_header(small, el->kind == RN_EL_WATERMARK ? RN__NET_WATERMARK : RN__NET_BARRIER, id, 8);
        put_le64(small + RN__NET_HEADER, (uint64_t)el->watermark);
        len += 8;
        break;
    case RN_EL_EOI: frame_header(small, RN__NET_EOI, id, 0); break;
    case RN_EL_IDLE: frame_header(small, RN__NET_IDLE, id, 0); break;
    default:
        return RN_EINVAL;
    }

    pthread_mutex_lock(&o->mu);
    if (!o->credits && !o->closed && !o->peer_closed && !o->broken) {
        atomic_fetch_add_explicit(&n->credit_waits, 1, memory_order_relaxed);
        while (!o->credits && !o->closed && !o->peer_closed && !o->broken) pthread_cond_wait(&o->cv, &o->mu);
    }
    int rc = o->closed || o->peer_closed ? RN_ECANCELED : o->broken ? RN_EIO : 0;
    if (!rc) o->credits--;
    pthread_mutex_unlock(&o->mu);
    if (rc) return rc;
    /* a failed write broke the connection: the I/O thread marks its channels with the reason;
     * this one says so now, for the failure its task reports */
    if (conn_write(n, o->conn, frame, len)) {
        pthread_mutex_lock(&o->mu);
        if (!o->broken) {
            o->broken = true;
            snprintf(o->err, sizeof o->err, "channel %" PRIu64 ": the connection to %s broke (a write failed)", id,
                     o->conn->peer);
        }
        pthread_mutex_unlock(&o->mu);
        return RN_EIO;
    }
    atomic_fetch_add_explicit(&n->elements_out, 1, memory_order_relaxed);
    if (el->kind == RN_EL_EOI) {
        pthread_mutex_lock(&o->mu);
        o->eoi_sent = true;
        pthread_mutex_unlock(&o->mu);
    }
    return 0;
}

static bool out_try_recv(struct rn_channel *ch, struct rn_element *el) { return false; }

static void out_close(struct rn_channel *ch)
{
    struct net_out *o = container_of(ch, struct net_out, base);
    pthread_mutex_lock(&o->mu);
    if (o->closed) {
        pthread_mutex_unlock(&o->mu);
        return;
    }
    o->closed = true;
    bool tell = !o->eoi_sent && !o->broken && !o->peer_closed;
    pthread_cond_broadcast(&o->cv);
    pthread_mutex_unlock(&o->mu);
    if (tell) conn_send_ctl(o->net, o->conn, RN__NET_CLOSE, o->node.id, 0);
}

static void out_destroy(struct rn_channel *ch)
{
    struct net_out *o = container_of(ch, struct net_out, base);
    struct rn_net *n = o->net;
    out_close(ch);
    pthread_mutex_lock(&n->mu);
    if (o->in_map) idmap_del(&n->outputs, &o->node);
    pthread_mutex_unlock(&n->mu);
    conn_unref(o->conn);
    pthread_mutex_destroy(&o->mu);
    pthread_cond_destroy(&o->cv);
    free(o->buf);
    free(o);
    net_unref(n);
}

static const char *out_error(struct rn_channel *ch)
{
    struct net_out *o = container_of(ch, struct net_out, base);
    pthread_mutex_lock(&o->mu);
    const char *e = o->broken ? o->err : NULL;
    pthread_mutex_unlock(&o->mu);
    return e;
}

static const struct rn_channel_ops out_ops = {out_send, out_try_recv, out_close, out_destroy, out_error};

/* A connected, blocking socket to host:port, or -1 with err. */
static int connect_to(const char *host, uint16_t port, struct rn_error *err)
{
    char ps[8], eb[96];
    snprintf(ps, sizeof ps, "%u", (unsigned)port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    int grc = getaddrinfo(host, ps, &hints, &ai);
    if (grc) {
        rn_error_set(err, RN_EIO, 0, 0, "cannot connect to %s:%u: %s", host, (unsigned)port, gai_strerror(grc));
        return -1;
    }
    int last = ECONNREFUSED, fd = -1;
    for (struct addrinfo *a = ai; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
        if (fd < 0) {
            last = errno;
            continue;
        }
        int rc = connect(fd, a->ai_addr, a->ai_addrlen);
        if (rc && errno == EINPROGRESS) {
            struct pollfd pfd = {fd, POLLOUT, 0};
            int64_t deadline = now_ms() + CONNECT_TIMEOUT_MS;
            int pr;
            do {
                int64_t left = deadline - now_ms();
                pr = left > 0 ? poll(&pfd, 1, (int)left) : 0;
            } while (pr < 0 && errno == EINTR);
            int soerr = 0;
            socklen_t sl = sizeof soerr;
            if (pr == 0) {
                errno = ETIMEDOUT;
            } else if (pr > 0 && !getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl)) {
                errno = soerr;
                rc = soerr ? -1 : 0;
            }
        }
        if (rc) {
            last = errno;
            close(fd);
            fd = -1;
            continue;
        }
        int fl = fcntl(fd, F_GETFL);
        fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
        setup_socket(fd);
    }
    freeaddrinfo(ai);
    if (fd < 0) {
        rn_error_set(err, RN_EIO, 0, 0, "cannot connect to %s:%u: %s", host, (unsigned)port, errstr(last, eb, sizeof eb));
        if (err) err->sys_errno = last;
    }
    return fd;
}

/* The connection to host:port (a reference), opened when there is none in service. */
static struct conn *conn_get(struct rn_net *n, const char *host, uint16_t port, struct rn_error *err)
{
    struct conn *c = NULL;
    pthread_mutex_lock(&n->connect_mu);
    pthread_mutex_lock(&n->mu);
    for (struct conn *k = n->conns; k; k = k->next) {
        if (k->outgoing && !k->dead && !atomic_load(&k->broken) && k->port == port && !strcmp(k->host, host)) {
            c = conn_ref(k);
            break;
        }
    }
    pthread_mutex_unlock(&n->mu);
    if (c) goto done;
    int fd = connect_to(host, port, err);
    if (fd < 0) goto done;
    char peer[96];
    snprintf(peer, sizeof peer, strchr(host, ':') ? "[%s]:%u" : "%s:%u", host, (unsigned)port);
    c = conn_new(fd, true, peer, host, port);
    if (!c) {
        close(fd);
        rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
        goto done;
    }
    pthread_mutex_lock(&n->mu);
    int rc = n->down ? RN_ECANCELED : conn_enlist(n, c);
    if (!rc) conn_ref(c);
    pthread_mutex_unlock(&n->mu);
    if (rc) {
        conn_unref(c);
        c = NULL;
        rn_error_set(err, rc, 0, 0, "cannot use the connection to %s:%u: %s", host, (unsigned)port,
                     rc == RN_ECANCELED ? "the data plane shut down" : "epoll_ctl failed");
    }
done:
    pthread_mutex_unlock(&n->connect_mu);
    return c;
}

struct rn_channel *rn_net_output(rn_net *n, const char *host, uint16_t port, uint64_t id, struct rn_error *err)
{
    pthread_mutex_lock(&n->mu);
    bool taken = idmap_get(&n->outputs, id) != NULL;
    pthread_mutex_unlock(&n->mu);
    if (taken) {
        rn_error_set(err, RN_EINVAL, 0, 0, "channel %" PRIu64 " already has a sender here", id);
        return NULL;
    }
    struct net_out *o = calloc(1, sizeof *o);
    if (!o) {
        rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
        return NULL;
    }
    o->conn = conn_get(n, host, port, err);
    if (!o->conn) goto undo_out;
    o->base.ops = &out_ops;
    o->node.id = id;
    o->net = n;
    pthread_mutex_init(&o->mu, NULL);
    pthread_cond_init(&o->cv, NULL);

    pthread_mutex_lock(&n->mu);
    int rc = 0;
    if (n->down)
        rc = rn_error_set(err, RN_ECANCELED, 0, 0, "channel %" PRIu64 ": the data plane shut down", id);
    else if (idmap_get(&n->outputs, id))
        rc = rn_error_set(err, RN_EINVAL, 0, 0, "channel %" PRIu64 " already has a sender here", id);
    else if (idmap_put(&n->outputs, &o->node))
        rc = rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
    if (!rc) {
        o->in_map = true;
        atomic_fetch_add(&n->refs, 1);
    }
    pthread_mutex_unlock(&n->mu);
    if (rc) goto undo_sync;
    /* registered before OPEN goes out, so that the CREDIT answering it finds the channel */
    if (conn_send_ctl(n, o->conn, RN__NET_OPEN, id, 0)) {
        rn_error_set(err, RN_EIO, 0, 0, "channel %" PRIu64 ": the connection to %s:%u broke", id, host, (unsigned)port);
        out_destroy(&o->base);
        return NULL;
    }
    return &o->base;

undo_sync:
    pthread_mutex_destroy(&o->mu);
    pthread_cond_destroy(&o->cv);
    conn_unref(o->conn);
undo_out:
    free(o);
    return NULL;
}
