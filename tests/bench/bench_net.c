/*
 * bench_net.c — throughput of a network channel (runtime/net/net.h) against an in-process one
 * (rn_local_channel_create): a producer thread streams N batches of 4096 rows (k int64, v int64,
 * d double: 24 bytes of values per row) and EOI; the consumer (the main thread) takes every
 * element through the consumer mailbox and sums column k (so both paths hand over readable
 * data and the sum checks that nothing was lost or reordered into another batch).
 *
 * The network path goes between two rn_net instances of this process over 127.0.0.1 (one TCP
 * connection; each run is a new channel on it): the batch is encoded on the producer's thread,
 * written, read and decoded on the receiver's I/O thread, with credits coming back. The local
 * path passes batch references through a queue (no copy). 16 distinct batches are built before
 * timing and sent round robin (a reference each time). Figures: rows/s and MB/s of values
 * (rows x 24 bytes), the median of 5 runs each; the network line also gives the bytes on the
 * wire per run.
 *
 *   build/tests/bench/bench_net [batches (default 5000)] [capacity (default 8)]
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "channel.h"
#include "net/net.h"
#include "runnel/batch.h"

enum { ROWS = 4096, DISTINCT = 16, RUNS = 5 };

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *what, int rc, const struct rn_error *err)
{
    fprintf(stderr, "bench_net: %s failed: %d %s\n", what, rc, err && err->msg[0] ? err->msg : rn_strerror(rc));
    exit(1);
}

struct producer {
    struct rn_channel *ch;
    struct rn_batch **batches;
    long n;
    int rc;
};

static void *producer_main(void *arg)
{
    struct producer *p = arg;
    for (long i = 0; i < p->n && !p->rc; i++) {
        struct rn_element el = {.kind = RN_EL_BATCH, .batch = rn_batch_ref(p->batches[i % DISTINCT])};
        p->rc = p->ch->ops->send(p->ch, &el);
    }
    struct rn_element eoi = {.kind = RN_EL_EOI};
    if (!p->rc) p->rc = p->ch->ops->send(p->ch, &eoi);
    if (p->rc) die("send", p->rc, NULL);   /* the consumer would wait for ever */
    return NULL;
}

/* Streams n batches from tx to rx (the two ends of one channel: the same one in-process; rx's
 * consumer is mb) and returns the seconds it took. */
static double run(struct rn_channel *tx, struct rn_channel *rx, struct rn_mailbox *mb,
                  struct rn_batch **batches, long n, int64_t want_sum)
{
    struct rn_channel *ch = rx;
    struct producer p = {tx, batches, n, 0};
    pthread_t th;
    double t0 = now_s();
    if (pthread_create(&th, NULL, producer_main, &p)) die("pthread_create", RN_EIO, NULL);
    int64_t sum = 0;
    long got = 0;
    for (;;) {
        uint64_t seq = rn_mailbox_seq(mb);
        struct rn_element el;
        bool any = false, eoi = false;
        while (ch->ops->try_recv(ch, &el)) {
            any = true;
            if (el.kind == RN_EL_EOI) {
                eoi = true;
                break;
            }
            const struct rn_column *k = &el.batch->cols[0];
            for (uint32_t i = 0; i < el.batch->n_rows; i++) sum += rn_col_i64(k, i);
            got++;
            rn_batch_unref(el.batch);
        }
        if (eoi) break;
        const char *why = ch->ops->error ? ch->ops->error(ch) : NULL;
        if (why) {
            fprintf(stderr, "bench_net: %s\n", why);
            exit(1);
        }
        if (!any) rn_mailbox_wait(mb, seq);
    }
    double dt = now_s() - t0;
    pthread_join(th, NULL);
    if (p.rc) die("send", p.rc, NULL);
    if (got != n || sum != want_sum) {
        fprintf(stderr, "bench_net: got %ld batches (sum %" PRId64 "), sent %ld (sum %" PRId64 ")\n", got, sum, n, want_sum);
        exit(1);
    }
    return dt;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void report(const char *name, double *secs, long n, double wire_bytes)
{
    qsort(secs, RUNS, sizeof *secs, cmp_double);
    double s = secs[RUNS / 2], rows = (double)n * ROWS;
    printf("%-22s %ld batches x %d rows: %8.1f M rows/s %9.1f MB/s (median of %d: %.3f s; min %.3f, max %.3f)",
           name, n, ROWS, rows / s / 1e6, rows * 24 / s / 1e6, RUNS, s, secs[0], secs[RUNS - 1]);
    if (wire_bytes > 0) printf("; %.1f MB on the wire per run", wire_bytes / 1e6);
    printf("\n");
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 5000;
    uint32_t cap = argc > 2 ? (uint32_t)atol(argv[2]) : 8;
    if (n <= 0 || cap == 0) {
        fprintf(stderr, "usage: bench_net [batches] [capacity]\n");
        return 2;
    }
    struct rn_error err;
    rn_schema *s = rn_schema_parse("k:int64 not null, v:int64 not null, d:double not null", &err);
    if (!s) die("schema", err.code, &err);
    struct rn_batch *batches[DISTINCT];
    int64_t sums[DISTINCT], want = 0;
    for (int b = 0; b < DISTINCT; b++) {
        batches[b] = rn_batch_new(s, ROWS);
        if (!batches[b]) die("rn_batch_new", RN_ENOMEM, NULL);
        int64_t *k = batches[b]->cols[0].values, *v = batches[b]->cols[1].values;
        double *d = batches[b]->cols[2].values;
        sums[b] = 0;
        for (uint32_t i = 0; i < ROWS; i++) {
            k[i] = (int64_t)b * ROWS + i;
            v[i] = k[i] * 7;
            d[i] = (double)k[i] * 0.5;
            sums[b] += k[i];
        }
        batches[b]->n_rows = ROWS;
    }
    for (long i = 0; i < n; i++) want += sums[i % DISTINCT];
    printf("bench_net: channel capacity %u\n", cap);
    fflush(stdout);

    /* network: two rn_net on loopback, a new channel per run over the same connection */
    rn_net *a = rn_net_create("127.0.0.1", 0, NULL, &err);
    if (!a) die("rn_net_create", err.code, &err);
    rn_net *b = rn_net_create("127.0.0.1", 0, NULL, &err);
    if (!b) die("rn_net_create", err.code, &err);
    double secs[RUNS], wire = 0;
    for (int r = 0; r < RUNS; r++) {
        struct rn_mailbox mb;
        rn_mailbox_init(&mb);
        struct rn_channel *in = rn_net_input(b, (uint64_t)r + 1, s, cap, &mb, &err);
        if (!in) die("rn_net_input", err.code, &err);
        struct rn_channel *out = rn_net_output(a, "127.0.0.1", rn_net_port(b), (uint64_t)r + 1, &err);
        if (!out) die("rn_net_output", err.code, &err);
        struct rn_net_stats before, after;
        rn_net_stats(a, &before);
        secs[r] = run(out, in, &mb, batches, n, want);
        rn_net_stats(a, &after);
        wire = (double)(after.bytes_out - before.bytes_out);
        out->ops->destroy(out);
        in->ops->destroy(in);
        rn_mailbox_destroy(&mb);
    }
    report("network (loopback)", secs, n, wire);
    rn_net_destroy(a);
    rn_net_destroy(b);

    /* in-process channel */
    for (int r = 0; r < RUNS; r++) {
        struct rn_mailbox mb;
        rn_mailbox_init(&mb);
        struct rn_channel *ch = rn_local_channel_create(cap, &mb);
        if (!ch) die("rn_local_channel_create", RN_ENOMEM, NULL);
        secs[r] = run(ch, ch, &mb, batches, n, want);
        ch->ops->destroy(ch);
        rn_mailbox_destroy(&mb);
    }
    report("in-process channel", secs, n, 0);

    for (int i = 0; i < DISTINCT; i++) rn_batch_unref(batches[i]);
    rn_schema_unref(s);
    return 0;
}
