/*
 * bench_nexmark.c — Nexmark generator throughput: rows/s of bids, persons, auctions and `all`
 * events generated into 4096-row batches (fresh from the buffer pool, dropped at once: a
 * blackhole), P = 1, one thread, default config. Each figure is the median of 3 runs. The q0
 * goal is >= 10M bids/s per core.
 *
 *   build/tests/bench/bench_nexmark [rows]     (default 20M rows per kind)
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "nexmark_gen.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Generates rows events of kind; returns a checksum so that nothing is optimised away. */
static long long run(enum rn_nexmark_kind kind, uint64_t rows, uint64_t *events)
{
    struct rn_nexmark_config cfg;
    rn_nexmark_config_default(&cfg);
    rn_nexmark_gen *g = rn_nexmark_gen_create(&cfg, kind);
    if (!g) {
        fprintf(stderr, "rn_nexmark_gen_create failed\n");
        exit(1);
    }
    const rn_schema *s = rn_nexmark_schema(kind);
    long long check = 0;
    for (uint64_t done = 0; done < rows;) {
        struct rn_batch *b = rn_batch_new(s, RN_BATCH_ROWS);
        uint32_t want = rows - done < RN_BATCH_ROWS ? (uint32_t)(rows - done) : RN_BATCH_ROWS;
        int n = b ? rn_nexmark_gen_next(g, b, want) : -1;
        if (n <= 0) {
            fprintf(stderr, "rn_nexmark_gen_next: %d\n", n);
            exit(1);
        }
        check += ((const int64_t *)b->cols[0].values)[n - 1];
        done += (uint64_t)n;
        rn_batch_unref(b);
    }
    *events = rn_nexmark_gen_position(g);
    rn_nexmark_gen_destroy(g);
    return check;
}

static void bench(const char *name, enum rn_nexmark_kind kind, uint64_t rows)
{
    double rates[3];
    uint64_t events = 0;
    long long check = 0;
    for (int r = 0; r < 3; r++) {
        double t0 = now_s();
        check = run(kind, rows, &events);
        rates[r] = (double)rows / (now_s() - t0);
    }
    qsort(rates, 3, sizeof rates[0], cmp_double);
    printf("%-9s %7.2f M rows/s  (min %.2f, max %.2f; %.1f ns/row; %llu events spanned; check %lld)\n", name,
           rates[1] / 1e6, rates[0] / 1e6, rates[2] / 1e6, 1e9 / rates[1], (unsigned long long)events, check);
}

int main(int argc, char **argv)
{
    uint64_t rows = argc > 1 ? strtoull(argv[1], NULL, 10) : 20000000;
    if (rows == 0) return fprintf(stderr, "usage: bench_nexmark [rows > 0]\n"), 2;
    printf("bench_nexmark: %llu rows per kind in batches of %u, P = 1, 1 thread\n", (unsigned long long)rows,
           RN_BATCH_ROWS);
    bench("bids", RN_NEXMARK_BID, rows);
    bench("persons", RN_NEXMARK_PERSON, rows);
    bench("auctions", RN_NEXMARK_AUCTION, rows);
    bench("all", RN_NEXMARK_ALL, rows);
    return 0;
}
