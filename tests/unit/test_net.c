/*
 * test_net.c — Check suite "net": the network channels of runtime/net/net.c between two rn_net
 * instances in this process, over 127.0.0.1 with ports the OS picks: every element kind in
 * order, several channels over one shared connection each way, OPEN before and after the
 * receiver exists, credit-based back-pressure (checked with counters, never with timings),
 * failures (a receiver or sender that goes away, close() of either end), and peers that break
 * the protocol (raw sockets sending oversized frames, garbage, undecodable batches, endless
 * OPENs), which lose their connection with a log line while the rn_net serves the others.
 *
 * Every wait has a deadline (WAIT_MS); every thread, socket and rn_net a test starts is ended
 * by that test.
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

#include "net/net.h"
#include "testutil.h"

#define WAIT_MS 10000
#define ROWS_SCHEMA "k:int64, v:double, s:string, b:bool, t:timestamp"
#define SEQ_SCHEMA "seq:int64"

/* ---- helpers ---- */

static int64_t realtime_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static rn_net *net_new(FILE *log)
{
    struct rn_error err;
    rn_net *n = rn_net_create("127.0.0.1", 0, log, &err);
    ck_assert_msg(n != NULL, "rn_net_create: %s", err.msg);
    ck_assert(rn_net_port(n) != 0);
    return n;
}

static struct rn_net_stats stats(rn_net *n)
{
    struct rn_net_stats s;
    rn_net_stats(n, &s);
    return s;
}

/* Polls n until it has exactly want connections open; false at the deadline. */
static bool wait_connections(rn_net *n, uint64_t want)
{
    for (int64_t end = realtime_ms() + WAIT_MS; realtime_ms() < end; sleep_ms(1))
        if (stats(n).connections == want) return true;
    return false;
}

/* Polls a counter of n until it reaches at least want; false at the deadline. */
#define WAIT_STAT(n, field, want) wait_stat(n, offsetof(struct rn_net_stats, field), want)
static bool wait_stat(rn_net *n, size_t off, uint64_t want)
{
    for (int64_t end = realtime_ms() + WAIT_MS; realtime_ms() < end; sleep_ms(1)) {
        struct rn_net_stats s = stats(n);
        if (*(uint64_t *)(void *)((char *)&s + off) >= want) return true;
    }
    return false;
}

static struct rn_channel *output(rn_net *from, rn_net *to, uint64_t id)
{
    struct rn_error err;
    struct rn_channel *ch = rn_net_output(from, "127.0.0.1", rn_net_port(to), id, &err);
    ck_assert_msg(ch != NULL, "rn_net_output %llu: %s", (unsigned long long)id, err.msg);
    return ch;
}

static struct rn_channel *input(rn_net *n, uint64_t id, const rn_schema *s, uint32_t cap, struct rn_mailbox *mb)
{
    struct rn_error err;
    struct rn_channel *ch = rn_net_input(n, id, s, cap, mb, &err);
    ck_assert_msg(ch != NULL, "rn_net_input %llu: %s", (unsigned long long)id, err.msg);
    return ch;
}

/* Takes the next element of ch, waiting on its consumer mailbox; false at the deadline or
 * when the channel failed with nothing left (then *why gets its error, when why is given). */
static bool recv_el(struct rn_channel *ch, struct rn_element *el, const char **why)
{
    int64_t end = realtime_ms() + WAIT_MS;
    for (;;) {
        uint64_t seq = rn_mailbox_seq(ch->consumer);
        if (ch->ops->try_recv(ch, el)) return true;
        const char *e = ch->ops->error(ch);
        if (e) {
            if (why) *why = e;
            return false;
        }
        if (realtime_ms() >= end) return false;
        rn_mailbox_wait_until(ch->consumer, seq, end);
    }
}

/* Waits until ch reports an error and returns it (NULL at the deadline). Elements queued
 * before it are dropped. */
static const char *wait_error(struct rn_channel *ch)
{
    const char *why = NULL;
    struct rn_element el;
    while (recv_el(ch, &el, &why)) {
        if (el.kind == RN_EL_BATCH) rn_batch_unref(el.batch);
    }
    return why;
}

static struct rn_batch *seq_batch(const rn_schema *s, int64_t v)
{
    struct rn_batch *b = rn_batch_new(s, 1);
    ck_assert(b != NULL);
    ((int64_t *)b->cols[0].values)[0] = v;
    b->n_rows = 1;
    return b;
}

static int send_batch(struct rn_channel *ch, struct rn_batch *b)
{
    struct rn_element el = {.kind = RN_EL_BATCH, .batch = b};
    return ch->ops->send(ch, &el);
}

static int send_ctl(struct rn_channel *ch, enum rn_el_kind kind, int64_t v)
{
    struct rn_element el = {.kind = kind, .watermark = v};
    return ch->ops->send(ch, &el);
}

/* A producer thread: n batches of one row (seq = 0..n-1), each followed by a watermark of the
 * same value when with_watermarks, then EOI; rc: the first send that failed, or 0. */
struct producer {
    pthread_t th;
    struct rn_channel *ch;
    const rn_schema *schema;
    int n;
    bool with_watermarks;
    int rc, sent;
};

static void *producer_main(void *arg)
{
    struct producer *p = arg;
    for (int i = 0; i < p->n && !p->rc; i++) {
        p->rc = send_batch(p->ch, seq_batch(p->schema, i));
        if (!p->rc && p->with_watermarks) p->rc = send_ctl(p->ch, RN_EL_WATERMARK, i);
        if (!p->rc) p->sent++;
    }
    if (!p->rc) p->rc = send_ctl(p->ch, RN_EL_EOI, 0);
    return NULL;
}

static void producer_start(struct producer *p, struct rn_channel *ch, const rn_schema *s, int n, bool wm)
{
    memset(p, 0, sizeof *p);
    p->ch = ch;
    p->schema = s;
    p->n = n;
    p->with_watermarks = wm;
    ck_assert(pthread_create(&p->th, NULL, producer_main, p) == 0);
}

/* Joins p within the deadline (fails the test otherwise: the thread would be left behind). */
static void producer_join(struct producer *p)
{
    int64_t end = realtime_ms() + WAIT_MS;
    struct timespec ts = {(time_t)(end / 1000), (long)(end % 1000) * 1000000};
    ck_assert_msg(pthread_timedjoin_np(p->th, NULL, &ts) == 0, "the producer is still blocked");
}

/* Reads ch to its EOI, checking the producer's sequence (batches seq 0..n-1, each followed by
 * its watermark when with_watermarks). */
static void expect_sequence(struct rn_channel *ch, int n, bool wm)
{
    for (int i = 0; i < n; i++) {
        struct rn_element el;
        const char *why = NULL;
        ck_assert_msg(recv_el(ch, &el, &why), "element %d missing (%s)", i, why ? why : "timeout");
        ck_assert_int_eq(el.kind, RN_EL_BATCH);
        ck_assert_int_eq(el.batch->n_rows, 1);
        ck_assert_int_eq(rn_col_i64(&el.batch->cols[0], 0), i);
        rn_batch_unref(el.batch);
        if (wm) {
            ck_assert(recv_el(ch, &el, NULL));
            ck_assert_int_eq(el.kind, RN_EL_WATERMARK);
            ck_assert_int_eq(el.watermark, i);
        }
    }
    struct rn_element el;
    ck_assert(recv_el(ch, &el, NULL));
    ck_assert_int_eq(el.kind, RN_EL_EOI);
    ck_assert(!ch->ops->try_recv(ch, &el));
}

static void expect_same_batch(const struct rn_batch *got, const struct rn_batch *want)
{
    ck_assert_int_eq(got->n_rows, want->n_rows);
    ck_assert_int_eq(got->n_cols, want->n_cols);
    for (uint32_t c = 0; c < want->n_cols; c++) {
        for (uint32_t r = 0; r < want->n_rows; r++) {
            struct tu_val a = tu_col_val(&got->cols[c], r), b = tu_col_val(&want->cols[c], r);
            ck_assert_msg(tu_vals_equal(a, b), "column %u row %u: got %s, want %s", c, r,
                          tu_val_text(a), tu_val_text(b));
        }
    }
}

/* ---- raw peers ---- */

static int raw_connect(rn_net *n)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(rn_net_port(n))};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_msg(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0, "connect: %s", strerror(errno));
    return fd;
}

static void raw_send(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len) {
        ssize_t w = send(fd, p, len, MSG_NOSIGNAL);
        ck_assert_msg(w > 0, "send: %s", strerror(errno));
        p += w;
        len -= (size_t)w;
    }
}

static void put32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static void put64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i)); }

/* Sends one frame: type, id and payload (the length field computed). */
static void raw_frame(int fd, uint8_t type, uint64_t id, const void *payload, uint32_t plen)
{
    uint8_t h[RN__NET_HEADER];
    put32(h, RN__NET_HEADER - 4 + plen);
    h[4] = type;
    put64(h + 5, id);
    raw_send(fd, h, sizeof h);
    if (plen) raw_send(fd, payload, plen);
}

/* Reads one whole frame from fd (false at the deadline or when the connection closed). */
static bool raw_read_frame(int fd, uint8_t *buf, size_t cap, struct rn__net_frame *f)
{
    size_t have = 0;
    int64_t end = realtime_ms() + WAIT_MS;
    for (;;) {
        struct rn_error err;
        int rc = rn__net_frame_parse(buf, have, f, &err);
        if (rc == 0) return true;
        ck_assert_msg(rc == RN_EAGAIN, "bad frame from the rn_net: %s", err.msg);
        ck_assert(f->size <= cap);
        struct pollfd p = {fd, POLLIN, 0};
        int64_t left = end - realtime_ms();
        if (left <= 0 || poll(&p, 1, (int)left) <= 0) return false;
        ssize_t r = recv(fd, buf + have, f->size - have, 0);
        if (r <= 0) return false;
        have += (size_t)r;
    }
}

/* True when the peer closed fd within the deadline (what it sent before is skipped). */
static bool raw_closed(int fd)
{
    int64_t end = realtime_ms() + WAIT_MS;
    char buf[4096];
    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        int64_t left = end - realtime_ms();
        if (left <= 0 || poll(&p, 1, (int)left) <= 0) return false;
        ssize_t r = recv(fd, buf, sizeof buf, 0);
        if (r == 0 || (r < 0 && errno != EINTR)) return true;
    }
}

/* What the rn_net logged so far (log is a tmpfile the rn_net writes and flushes). */
static char *log_text(FILE *log)
{
    static char text[16384];
    ssize_t r = pread(fileno(log), text, sizeof text - 1, 0);
    text[r > 0 ? r : 0] = 0;
    return text;
}

/* A channel a -> b works: used after a peer broke the protocol, to show b still serves. */
static void expect_serves(rn_net *a, rn_net *b, uint64_t id)
{
    rn_schema *s = tu_schema(SEQ_SCHEMA);
    struct rn_mailbox mb;
    rn_mailbox_init(&mb);
    struct rn_channel *in = input(b, id, s, 4, &mb), *out = output(a, b, id);
    ck_assert_int_eq(send_batch(out, seq_batch(s, 0)), 0);
    ck_assert_int_eq(send_ctl(out, RN_EL_EOI, 0), 0);
    expect_sequence(in, 1, false);
    out->ops->destroy(out);
    in->ops->destroy(in);
    rn_mailbox_destroy(&mb);
    rn_schema_unref(s);
}

/* ---- tests ---- */

START_TEST(elements_of_every_kind_cross_in_order)
{
    rn_net *a = net_new(NULL), *b = net_new(NULL);
    rn_schema *s = tu_schema(ROWS_SCHEMA);
    struct rn_mailbox mb;
    rn_mailbox_init(&mb);
    struct rn_channel *in = input(b, 42, s, 16, &mb), *out = output(a, b, 42);

    struct rn_batch *b1 = tu_batch(ROWS_SCHEMA, "1, 1.5, alpha, true, 1000; NULL, -2.25, NULL, NULL, NULL;"
                                                "-9223372036854775807, 1e300, z, false, -5");
    struct rn_batch *b2 = tu_batch(ROWS_SCHEMA, "");
    struct rn_batch *b3 = tu_batch(ROWS_SCHEMA, "7, NULL, a string with spaces, true, 7");
    ck_assert_int_eq(send_batch(out, rn_batch_ref(b1)), 0);
    ck_assert_int_eq(send_ctl(out, RN_EL_WATERMARK, 1234), 0);
    ck_assert_int_eq(send_ctl(out, RN_EL_BARRIER, 7), 0);
    ck_assert_int_eq(send_ctl(out, RN_EL_IDLE, 0), 0);
    ck_assert_int_eq(send_batch(out, rn_batch_ref(b2)), 0);
    ck_assert_int_eq(send_ctl(out, RN_EL_WATERMARK, -5), 0);
    ck_assert_int_eq(send_batch(out, rn_batch_ref(b3)), 0);
    ck_assert_int_eq(send_ctl(out, RN_EL_EOI, 0), 0);

    struct rn_element el;
    ck_assert(recv_el(in, &el, NULL));
    ck_assert_int_eq(el.kind, RN_EL_BATCH);
    ck_assert(el.batch->schema == s);
    expect_same_batch(el.batch, b1);
    rn_batch_unref(el.batch);
    ck_assert(recv_el(in, &el, NULL));
    ck_assert_int_eq(el.kind, RN_EL_WATERMARK);
    ck_assert_int_eq(el.watermark, 1234);
    ck_assert(recv_el(in, &el, NULL));
    ck_assert_int_eq(el.kind, RN_EL_BARRIER);
    ck_assert_int_eq(el.watermark, 7);
    ck_assert(recv_el(in, &el, NULL));
    ck_assert_int_eq(el.kind, RN_EL_IDLE);
    ck_assert(recv_el(in, &el, NULL));
    ck_assert_int_eq(el.kind, RN_EL_BATCH);
    expect_same_batch(el.batch, b2);
    rn_batch_unref(el.batch);
    ck_assert(recv_el(in, &el, NULL));
    ck_assert_int_eq(el.kind, RN_EL_WATERMARK);
    ck_assert_int_eq(el.watermark, -5);
    ck_assert(recv_el(in, &el, NULL));
    ck_assert_int_eq(el.kind, RN_EL_BATCH);
    expect_same_batch(el.batch, b3);
    rn_batch_unref(el.batch);
    ck_assert(recv_el(in, &el, NULL));
    ck_assert_int_eq(el.kind, RN_EL_EOI);
    ck_assert(!in->ops->try_recv(in, &el));
    ck_assert(in->ops->error(in) == NULL);

    struct rn_net_stats sa = stats(a), sb = stats(b);
    ck_assert_int_eq(sa.elements_out, 8);
    ck_assert_int_eq(sb.elements_in, 8);
    ck_assert_int_eq(sb.queued, 0);
    ck_assert(sa.bytes_out > 0 && sb.bytes_in > 0);

    rn_batch_unref(b1);
    rn_batch_unref(b2);
    rn_batch_unref(b3);
    out->ops->destroy(out);
    in->ops->destroy(in);
    rn_net_destroy(a);
    rn_net_destroy(b);
    rn_mailbox_destroy(&mb);
    rn_schema_unref(s);
}
END_TEST

START_TEST(a_batch_bigger_than_the_read_buffer_crosses)
{
    rn_net *a = net_new(NULL), *b = net_new(NULL);
    rn_schema *s = tu_schema("i:int64, s:string");
    struct rn_mailbox mb;
    rn_mailbox_init(&mb);
    struct rn_channel *in = input(b, 8, s, 2, &mb), *out = output(a, b, 8);
    /* 200 strings of 40 KB: an 8 MB frame, then a small one behind it */
    enum { ROWS = 200, LEN = 40000 };
    rn_builder *bb = rn_builder_create(s, ROWS);
    char *text = malloc(LEN);
    for (int r = 0; r < ROWS; r++) {
        memset(text, 'a' + r % 26, LEN);
        ck_assert_int_eq(rn_builder_i64(bb, 0, r), 0);
        ck_assert_int_eq(rn_builder_str(bb, 1, text, LEN - r), 0);
    }
    free(text);
    struct rn_error err;
    struct rn_batch *big = rn_builder_finish(bb, &err);
    ck_assert_msg(big != NULL, "%s", err.msg);
    rn_builder_destroy(bb);
    ck_assert_int_eq(send_batch(out, rn_batch_ref(big)), 0);
    ck_assert_int_eq(send_ctl(out, RN_EL_WATERMARK, 5), 0);
    struct rn_element el;
    ck_assert(recv_el(in, &el, NULL));
    ck_assert_int_eq(el.kind, RN_EL_BATCH);
    ck_assert_int_eq(el.batch->n_rows, ROWS);
    for (uint32_t r = 0; r < ROWS; r++) {
        struct rn_str got = rn_col_str(&el.batch->cols[1], r);
        ck_assert_int_eq(rn_col_i64(&el.batch->cols[0], r), r);
        ck_assert_int_eq(got.len, LEN - r);
        ck_assert(got.ptr[0] == 'a' + r % 26 && got.ptr[got.len - 1] == 'a' + r % 26);
    }
    rn_batch_unref(el.batch);
    ck_assert(recv_el(in, &el, NULL));
    ck_assert_int_eq(el.kind, RN_EL_WATERMARK);
    ck_assert_int_eq(el.watermark, 5);
    rn_batch_unref(big);
    out->ops->destroy(out);
    in->ops->destroy(in);
    rn_net_destroy(a);
    rn_net_destroy(b);
    rn_mailbox_destroy(&mb);
    rn_schema_unref(s);
}
END_TEST

START_TEST(channels_share_one_connection_per_direction_and_keep_their_order)
{
    enum { AB = 3, BA = 2, N = 300 };
    rn_net *a = net_new(NULL), *b = net_new(NULL);
    rn_schema *s = tu_schema(SEQ_SCHEMA);
    struct rn_mailbox mb_a, mb_b;
    rn_mailbox_init(&mb_a);
    rn_mailbox_init(&mb_b);
    struct rn_channel *in[AB + BA], *out[AB + BA];
    struct producer p[AB + BA];

    /* a -> b: three channels, one connection */
    for (int i = 0; i < AB; i++) {
        in[i] = input(b, 100 + i, s, 4, &mb_b);
        out[i] = output(a, b, 100 + i);
    }
    for (int i = 0; i < AB; i++) producer_start(&p[i], out[i], s, N, true);
    for (int i = 0; i < AB; i++) expect_sequence(in[i], N, true);
    for (int i = 0; i < AB; i++) {
        producer_join(&p[i]);
        ck_assert_int_eq(p[i].rc, 0);
    }
    ck_assert_int_eq(stats(a).connections, 1);
    ck_assert_int_eq(stats(b).connections, 1);

    /* b -> a as well: one more connection, the other way */
    for (int i = AB; i < AB + BA; i++) {
        in[i] = input(a, 100 + i, s, 4, &mb_a);
        out[i] = output(b, a, 100 + i);
    }
    for (int i = AB; i < AB + BA; i++) producer_start(&p[i], out[i], s, N, false);
    for (int i = AB; i < AB + BA; i++) expect_sequence(in[i], N, false);
    for (int i = AB; i < AB + BA; i++) {
        producer_join(&p[i]);
        ck_assert_int_eq(p[i].rc, 0);
    }
    ck_assert_int_eq(stats(a).connections, 2);
    ck_assert_int_eq(stats(b).connections, 2);
    ck_assert_int_eq(stats(a).elements_out, AB * (2 * N + 1));
    ck_assert_int_eq(stats(a).elements_in, BA * (N + 1));

    for (int i = 0; i < AB + BA; i++) {
        out[i]->ops->destroy(out[i]);
        in[i]->ops->destroy(in[i]);
    }
    rn_net_destroy(a);
    rn_net_destroy(b);
    rn_mailbox_destroy(&mb_a);
    rn_mailbox_destroy(&mb_b);
    rn_schema_unref(s);
}
END_TEST

START_TEST(an_open_before_the_input_exists_waits_for_it)
{
    rn_net *a = net_new(NULL), *b = net_new(NULL);
    rn_schema *s = tu_schema(SEQ_SCHEMA);
    struct rn_mailbox mb;
    rn_mailbox_init(&mb);
    struct rn_channel *out = output(a, b, 9);
    ck_assert(WAIT_STAT(b, frames_in, 1));   /* the OPEN arrived, with no receiver yet */
    ck_assert_int_eq(stats(a).frames_in, 0); /* and no credit came back */
    struct rn_channel *in = input(b, 9, s, 2, &mb);
    struct producer p;
    producer_start(&p, out, s, 20, true);
    expect_sequence(in, 20, true);
    producer_join(&p);
    ck_assert_int_eq(p.rc, 0);
    out->ops->destroy(out);
    in->ops->destroy(in);
    rn_net_destroy(a);
    rn_net_destroy(b);
    rn_mailbox_destroy(&mb);
    rn_schema_unref(s);
}
END_TEST

START_TEST(an_input_created_first_grants_when_the_sender_opens)
{
    rn_net *a = net_new(NULL), *b = net_new(NULL);
    rn_schema *s = tu_schema(SEQ_SCHEMA);
    struct rn_mailbox mb;
    rn_mailbox_init(&mb);
    struct rn_channel *in = input(b, 9, s, 2, &mb);
    struct rn_channel *out = output(a, b, 9);
    struct producer p;
    producer_start(&p, out, s, 20, true);
    expect_sequence(in, 20, true);
    producer_join(&p);
    ck_assert_int_eq(p.rc, 0);
    out->ops->destroy(out);
    in->ops->destroy(in);
    rn_net_destroy(a);
    rn_net_destroy(b);
    rn_mailbox_destroy(&mb);
    rn_schema_unref(s);
}
END_TEST

START_TEST(a_sender_never_sends_past_the_receivers_credits)
{
    rn_net *a = net_new(NULL), *b = net_new(NULL);
    rn_schema *s = tu_schema(SEQ_SCHEMA);
    struct rn_mailbox mb;
    rn_mailbox_init(&mb);
    struct rn_channel *in = input(b, 5, s, 2, &mb), *out = output(a, b, 5);
    ck_assert(WAIT_STAT(a, frames_in, 1));   /* the first credits arrived */
    struct producer p;
    producer_start(&p, out, s, 100, false);
    /* the producer blocks in its third send: two elements went, no more */
    ck_assert(WAIT_STAT(a, credit_waits, 1));
    ck_assert_int_eq(stats(a).elements_out, 2);
    ck_assert(WAIT_STAT(b, queued, 2));
    struct rn_net_stats sb = stats(b);
    ck_assert_int_eq(sb.queued, 2);
    ck_assert_int_eq(sb.elements_in, 2);
    ck_assert_int_eq(stats(a).elements_out, 2);
    /* reading lets everything through, in order */
    expect_sequence(in, 100, false);
    producer_join(&p);
    ck_assert_int_eq(p.rc, 0);
    ck_assert(stats(a).credit_waits >= 1);
    ck_assert_int_eq(stats(b).queued, 0);
    out->ops->destroy(out);
    in->ops->destroy(in);
    rn_net_destroy(a);
    rn_net_destroy(b);
    rn_mailbox_destroy(&mb);
    rn_schema_unref(s);
}
END_TEST

START_TEST(destroying_the_receiver_fails_a_blocked_send_with_eio)
{
    rn_net *a = net_new(NULL), *b = net_new(NULL);
    rn_schema *s = tu_schema(SEQ_SCHEMA);
    struct rn_mailbox mb;
    rn_mailbox_init(&mb);
    struct rn_channel *in = input(b, 5, s, 1, &mb), *out = output(a, b, 5);
    ck_assert(WAIT_STAT(a, frames_in, 1));   /* the first credit arrived */
    struct producer p;
    producer_start(&p, out, s, 10, false);
    ck_assert(WAIT_STAT(a, credit_waits, 1));   /* blocked in its second send */
    rn_net_destroy(b);
    producer_join(&p);
    ck_assert_int_eq(p.rc, RN_EIO);
    ck_assert_int_eq(p.sent, 1);
    ck_assert(out->ops->error(out) != NULL);
    /* a send after that fails at once too */
    ck_assert_int_eq(send_ctl(out, RN_EL_WATERMARK, 1), RN_EIO);
    /* the input, destroyed after its rn_net, had its element and then failed */
    const char *why = wait_error(in);
    ck_assert_msg(why && strstr(why, "shut down"), "error: %s", why ? why : "(none)");
    in->ops->destroy(in);
    out->ops->destroy(out);
    ck_assert(wait_connections(a, 0));
    rn_net_destroy(a);
    rn_mailbox_destroy(&mb);
    rn_schema_unref(s);
}
END_TEST

START_TEST(destroying_the_sender_before_eoi_fails_the_input_naming_the_peer)
{
    rn_net *a = net_new(NULL), *b = net_new(NULL);
    rn_schema *s = tu_schema(SEQ_SCHEMA);
    struct rn_mailbox mb;
    rn_mailbox_init(&mb);
    struct rn_channel *in = input(b, 5, s, 4, &mb), *out = output(a, b, 5);
    ck_assert_int_eq(send_batch(out, seq_batch(s, 0)), 0);
    struct rn_element el;
    ck_assert(recv_el(in, &el, NULL));
    ck_assert_int_eq(el.kind, RN_EL_BATCH);
    rn_batch_unref(el.batch);
    ck_assert(in->ops->error(in) == NULL);
    rn_net_destroy(a);   /* its output channel is destroyed after it */
    const char *why = wait_error(in);
    ck_assert_msg(why != NULL, "the input did not fail");
    ck_assert_msg(strstr(why, "127.0.0.1:") && strstr(why, "before the end of input"), "error: %s", why);
    out->ops->destroy(out);
    in->ops->destroy(in);
    rn_net_destroy(b);
    rn_mailbox_destroy(&mb);
    rn_schema_unref(s);
}
END_TEST

START_TEST(an_input_that_got_its_eoi_does_not_fail_when_the_sender_goes)
{
    rn_net *a = net_new(NULL), *b = net_new(NULL);
    rn_schema *s = tu_schema(SEQ_SCHEMA);
    struct rn_mailbox mb;
    rn_mailbox_init(&mb);
    struct rn_channel *in = input(b, 5, s, 4, &mb), *out = output(a, b, 5);
    ck_assert_int_eq(send_ctl(out, RN_EL_EOI, 0), 0);
    ck_assert(WAIT_STAT(b, elements_in, 1));
    out->ops->destroy(out);
    rn_net_destroy(a);
    ck_assert(wait_connections(b, 0));
    ck_assert(in->ops->error(in) == NULL);
    struct rn_element el;
    ck_assert(in->ops->try_recv(in, &el));
    ck_assert_int_eq(el.kind, RN_EL_EOI);
    in->ops->destroy(in);
    rn_net_destroy(b);
    rn_mailbox_destroy(&mb);
    rn_schema_unref(s);
}
END_TEST

START_TEST(close_wakes_a_sender_blocked_on_credits)
{
    rn_net *a = net_new(NULL), *b = net_new(NULL);
    rn_schema *s = tu_schema(SEQ_SCHEMA);
    struct rn_mailbox mb;
    rn_mailbox_init(&mb);
    struct rn_channel *in = input(b, 5, s, 1, &mb), *out = output(a, b, 5);
    ck_assert(WAIT_STAT(a, frames_in, 1));   /* the first credit arrived */
    struct producer p;
    producer_start(&p, out, s, 10, false);
    ck_assert(WAIT_STAT(a, credit_waits, 1));   /* blocked in its second send */
    out->ops->close(out);
    producer_join(&p);
    ck_assert_int_eq(p.rc, RN_ECANCELED);
    ck_assert_int_eq(send_ctl(out, RN_EL_EOI, 0), RN_ECANCELED);
    /* the receiver learns that its sender closed the channel early */
    const char *why = wait_error(in);
    ck_assert_msg(why && strstr(why, "closed it before the end of input"), "error: %s", why ? why : "(none)");
    out->ops->destroy(out);
    in->ops->destroy(in);
    rn_net_destroy(a);
    rn_net_destroy(b);
    rn_mailbox_destroy(&mb);
    rn_schema_unref(s);
}
END_TEST

START_TEST(closing_the_input_cancels_its_sender)
{
    rn_net *a = net_new(NULL), *b = net_new(NULL);
    rn_schema *s = tu_schema(SEQ_SCHEMA);
    struct rn_mailbox mb;
    rn_mailbox_init(&mb);
    struct rn_channel *in = input(b, 5, s, 1, &mb), *out = output(a, b, 5);
    ck_assert(WAIT_STAT(a, frames_in, 1));   /* the first credit arrived */
    struct producer p;
    producer_start(&p, out, s, 10, false);
    ck_assert(WAIT_STAT(a, credit_waits, 1));   /* blocked in its second send */
    ck_assert(WAIT_STAT(b, queued, 1));
    in->ops->close(in);
    ck_assert_int_eq(stats(b).queued, 0);   /* what it held was released */
    producer_join(&p);
    ck_assert_int_eq(p.rc, RN_ECANCELED);
    struct rn_element el;
    ck_assert(!in->ops->try_recv(in, &el));
    out->ops->destroy(out);
    in->ops->destroy(in);
    rn_net_destroy(a);
    rn_net_destroy(b);
    rn_mailbox_destroy(&mb);
    rn_schema_unref(s);
}
END_TEST

START_TEST(an_oversized_frame_closes_that_connection_only)
{
    FILE *log = tmpfile();
    ck_assert(log != NULL);
    rn_net *a = net_new(NULL), *b = net_new(log);
    int fd = raw_connect(b);
    uint8_t h[RN__NET_HEADER];
    put32(h, RN_NET_MAX_FRAME + 1);
    h[4] = RN__NET_BATCH;
    put64(h + 5, 1);
    raw_send(fd, h, sizeof h);
    ck_assert(raw_closed(fd));
    close(fd);
    char *text = log_text(log);
    ck_assert_msg(strstr(text, "connection from 127.0.0.1:") && strstr(text, "exceeds the limit"), "log: %s", text);
    expect_serves(a, b, 77);
    rn_net_destroy(a);
    rn_net_destroy(b);
    fclose(log);
}
END_TEST

START_TEST(garbage_closes_that_connection_only)
{
    FILE *log = tmpfile();
    ck_assert(log != NULL);
    rn_net *a = net_new(NULL), *b = net_new(log);
    /* an unknown frame type */
    int fd = raw_connect(b);
    raw_frame(fd, 0xee, 1, NULL, 0);
    ck_assert(raw_closed(fd));
    close(fd);
    ck_assert_msg(strstr(log_text(log), "unknown frame type 238"), "log: %s", log_text(log));
    /* text (an HTTP request reads as a huge length) */
    fd = raw_connect(b);
    const char *http = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    raw_send(fd, http, strlen(http));
    ck_assert(raw_closed(fd));
    close(fd);
    /* a CREDIT toward a receiver (the wrong direction) */
    fd = raw_connect(b);
    uint8_t four[4] = {1, 0, 0, 0};
    raw_frame(fd, RN__NET_CREDIT, 3, four, 4);
    ck_assert(raw_closed(fd));
    close(fd);
    ck_assert_msg(strstr(log_text(log), "wrong direction"), "log: %s", log_text(log));
    expect_serves(a, b, 78);
    rn_net_destroy(a);
    rn_net_destroy(b);
    fclose(log);
}
END_TEST

START_TEST(a_batch_that_does_not_decode_fails_its_channel_naming_the_peer)
{
    FILE *log = tmpfile();
    ck_assert(log != NULL);
    rn_net *a = net_new(NULL), *b = net_new(log);
    rn_schema *s = tu_schema(SEQ_SCHEMA);
    struct rn_mailbox mb;
    rn_mailbox_init(&mb);
    struct rn_channel *in = input(b, 11, s, 4, &mb);
    int fd = raw_connect(b);
    raw_frame(fd, RN__NET_OPEN, 11, NULL, 0);
    uint8_t buf[256];
    struct rn__net_frame f;
    ck_assert(raw_read_frame(fd, buf, sizeof buf, &f));
    ck_assert_int_eq(f.type, RN__NET_CREDIT);
    ck_assert_int_eq(f.id, 11);
    ck_assert_int_eq(f.value, 4);
    /* a well-formed batch of another schema */
    struct rn_batch *other = tu_batch("x:string", "hello");
    size_t len = rn_batch_encoded_bound(other), written;
    uint8_t *enc = malloc(len);
    ck_assert_int_eq(rn_batch_encode(other, enc, len, &written), 0);
    raw_frame(fd, RN__NET_BATCH, 11, enc, (uint32_t)written);
    free(enc);
    rn_batch_unref(other);
    const char *why = wait_error(in);
    ck_assert_msg(why && strstr(why, "does not decode") && strstr(why, "127.0.0.1:"), "error: %s", why ? why : "(none)");
    ck_assert(raw_closed(fd));
    close(fd);
    char *text = log_text(log);
    ck_assert_msg(strstr(text, "connection from 127.0.0.1:") && strstr(text, "does not decode"), "log: %s", text);
    in->ops->destroy(in);
    expect_serves(a, b, 79);
    rn_net_destroy(a);
    rn_net_destroy(b);
    rn_mailbox_destroy(&mb);
    rn_schema_unref(s);
    fclose(log);
}
END_TEST

START_TEST(frames_for_unknown_channels_are_dropped)
{
    rn_net *a = net_new(NULL), *b = net_new(NULL);
    int fd = raw_connect(b);
    uint8_t eight[8] = {0};
    for (int i = 0; i < 1000; i++) raw_frame(fd, RN__NET_WATERMARK, 1000 + i, eight, 8);
    ck_assert(WAIT_STAT(b, frames_in, 1000));
    ck_assert_int_eq(stats(b).queued, 0);
    ck_assert_int_eq(stats(b).elements_in, 0);
    /* the connection still serves a channel it then opens */
    rn_schema *s = tu_schema(SEQ_SCHEMA);
    struct rn_mailbox mb;
    rn_mailbox_init(&mb);
    struct rn_channel *in = input(b, 3, s, 2, &mb);
    raw_frame(fd, RN__NET_OPEN, 3, NULL, 0);
    uint8_t buf[64];
    struct rn__net_frame f;
    ck_assert(raw_read_frame(fd, buf, sizeof buf, &f));
    ck_assert_int_eq(f.type, RN__NET_CREDIT);
    put64(eight, 99);
    raw_frame(fd, RN__NET_WATERMARK, 3, eight, 8);
    struct rn_element el;
    ck_assert(recv_el(in, &el, NULL));
    ck_assert_int_eq(el.kind, RN_EL_WATERMARK);
    ck_assert_int_eq(el.watermark, 99);
    /* a data frame beyond the credits breaks the protocol */
    raw_frame(fd, RN__NET_IDLE, 3, NULL, 0);
    raw_frame(fd, RN__NET_IDLE, 3, NULL, 0);
    raw_frame(fd, RN__NET_IDLE, 3, NULL, 0);
    ck_assert(raw_closed(fd));
    close(fd);
    in->ops->destroy(in);
    rn_net_destroy(a);
    rn_net_destroy(b);
    rn_mailbox_destroy(&mb);
    rn_schema_unref(s);
}
END_TEST

START_TEST(opens_waiting_for_a_receiver_are_bounded)
{
    FILE *log = tmpfile();
    ck_assert(log != NULL);
    rn_net *a = net_new(NULL), *b = net_new(log);
    int fd = raw_connect(b);
    size_t n = RN_NET_MAX_PENDING + 1, len = n * RN__NET_HEADER;
    uint8_t *frames = malloc(len);
    for (size_t i = 0; i < n; i++) {
        uint8_t *h = frames + i * RN__NET_HEADER;
        put32(h, RN__NET_HEADER - 4);
        h[4] = RN__NET_OPEN;
        put64(h + 5, 5000 + i);
    }
    raw_send(fd, frames, len);
    free(frames);
    ck_assert(raw_closed(fd));
    close(fd);
    ck_assert_msg(strstr(log_text(log), "have no receiver"), "log: %s", log_text(log));
    /* they went with their connection: a channel with one of those ids starts clean */
    expect_serves(a, b, 5000);
    rn_net_destroy(a);
    rn_net_destroy(b);
    fclose(log);
}
END_TEST

START_TEST(a_channel_id_has_one_receiver_and_one_sender_per_net)
{
    rn_net *a = net_new(NULL), *b = net_new(NULL);
    rn_schema *s = tu_schema(SEQ_SCHEMA);
    struct rn_mailbox mb;
    rn_mailbox_init(&mb);
    struct rn_error err;
    struct rn_channel *in = input(b, 1, s, 2, &mb), *out = output(a, b, 1);
    ck_assert(rn_net_input(b, 1, s, 2, &mb, &err) == NULL);
    ck_assert_int_eq(err.code, RN_EINVAL);
    ck_assert(rn_net_output(a, "127.0.0.1", rn_net_port(b), 1, &err) == NULL);
    ck_assert_int_eq(err.code, RN_EINVAL);
    ck_assert(rn_net_input(b, 2, s, 1u << 30, &mb, &err) == NULL);
    ck_assert_int_eq(err.code, RN_ERANGE);
    out->ops->destroy(out);
    in->ops->destroy(in);
    rn_net_destroy(a);
    rn_net_destroy(b);
    rn_mailbox_destroy(&mb);
    rn_schema_unref(s);
}
END_TEST

START_TEST(connecting_to_a_closed_port_fails_naming_it)
{
    rn_net *a = net_new(NULL), *gone = net_new(NULL);
    uint16_t port = rn_net_port(gone);
    rn_net_destroy(gone);
    struct rn_error err;
    ck_assert(rn_net_output(a, "127.0.0.1", port, 1, &err) == NULL);
    ck_assert_int_eq(err.code, RN_EIO);
    char want[32];
    snprintf(want, sizeof want, "127.0.0.1:%u", port);
    ck_assert_msg(strstr(err.msg, want), "error: %s", err.msg);
    ck_assert_int_eq(stats(a).connections, 0);
    rn_net_destroy(a);
}
END_TEST

START_TEST(the_frame_parser_checks_length_type_and_payload)
{
    uint8_t f[32] = {0};
    struct rn__net_frame fr;
    struct rn_error err;
    ck_assert_int_eq(rn__net_frame_parse(f, 3, &fr, &err), RN_EAGAIN);
    ck_assert_int_eq(fr.size, 4);
    /* a CREDIT of 5 for channel 7, then shorter prefixes of it */
    put32(f, 13);
    f[4] = RN__NET_CREDIT;
    put64(f + 5, 7);
    put32(f + 13, 5);
    ck_assert_int_eq(rn__net_frame_parse(f, 17, &fr, &err), 0);
    ck_assert_int_eq(fr.type, RN__NET_CREDIT);
    ck_assert_int_eq(fr.id, 7);
    ck_assert_int_eq(fr.value, 5);
    ck_assert_int_eq(fr.size, 17);
    ck_assert_int_eq(rn__net_frame_parse(f, 16, &fr, &err), RN_EAGAIN);
    ck_assert_int_eq(fr.size, 17);
    /* wrong payload size for the type */
    put32(f, 12);
    ck_assert_int_eq(rn__net_frame_parse(f, 16, &fr, &err), RN_ECORRUPT);
    ck_assert_msg(strstr(err.msg, "CREDIT"), "%s", err.msg);
    /* too short, too long, unknown type, empty batch */
    put32(f, 8);
    ck_assert_int_eq(rn__net_frame_parse(f, 32, &fr, &err), RN_ECORRUPT);
    put32(f, RN_NET_MAX_FRAME + 1);
    ck_assert_int_eq(rn__net_frame_parse(f, 32, &fr, &err), RN_ECORRUPT);
    put32(f, 9);
    f[4] = 0;
    ck_assert_int_eq(rn__net_frame_parse(f, 32, &fr, &err), RN_ECORRUPT);
    f[4] = RN__NET_BATCH;
    ck_assert_int_eq(rn__net_frame_parse(f, 32, &fr, &err), RN_ECORRUPT);
    /* a WATERMARK keeps its sign */
    put32(f, 17);
    f[4] = RN__NET_WATERMARK;
    put64(f + 13, (uint64_t)-42);
    ck_assert_int_eq(rn__net_frame_parse(f, 21, &fr, &err), 0);
    ck_assert_int_eq((int64_t)fr.value, -42);
}
END_TEST

static Suite *net_suite(void)
{
    Suite *s = suite_create("net");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, the_frame_parser_checks_length_type_and_payload);
    tcase_add_test(tc, elements_of_every_kind_cross_in_order);
    tcase_add_test(tc, a_batch_bigger_than_the_read_buffer_crosses);
    tcase_add_test(tc, channels_share_one_connection_per_direction_and_keep_their_order);
    tcase_add_test(tc, an_open_before_the_input_exists_waits_for_it);
    tcase_add_test(tc, an_input_created_first_grants_when_the_sender_opens);
    tcase_add_test(tc, a_sender_never_sends_past_the_receivers_credits);
    tcase_add_test(tc, destroying_the_receiver_fails_a_blocked_send_with_eio);
    tcase_add_test(tc, destroying_the_sender_before_eoi_fails_the_input_naming_the_peer);
    tcase_add_test(tc, an_input_that_got_its_eoi_does_not_fail_when_the_sender_goes);
    tcase_add_test(tc, close_wakes_a_sender_blocked_on_credits);
    tcase_add_test(tc, closing_the_input_cancels_its_sender);
    tcase_add_test(tc, an_oversized_frame_closes_that_connection_only);
    tcase_add_test(tc, garbage_closes_that_connection_only);
    tcase_add_test(tc, a_batch_that_does_not_decode_fails_its_channel_naming_the_peer);
    tcase_add_test(tc, frames_for_unknown_channels_are_dropped);
    tcase_add_test(tc, opens_waiting_for_a_receiver_are_bounded);
    tcase_add_test(tc, a_channel_id_has_one_receiver_and_one_sender_per_net);
    tcase_add_test(tc, connecting_to_a_closed_port_fails_naming_it);
    suite_add_tcase(s, tc);
    return s;
}

TU_MAIN(net_suite)
