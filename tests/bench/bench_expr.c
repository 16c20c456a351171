/*
 * bench_expr.c — expression micro-benchmark: rows/s of a filter (`auction % 123 = 0` over
 * int64) and a projection (`price * 0.908`) over N rows (default 10M) in 4096-row batches,
 * one thread. Batches are built before timing; each figure is the median of 5 runs.
 *
 *   build/tests/bench/bench_expr [rows]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runnel/expr.h"

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

typedef long long (*work_fn)(void *ctx, struct rn_batch **batches, size_t nb);

static double median_rate(const char *what, work_fn fn, void *ctx, struct rn_batch **batches, size_t nb,
                          uint64_t rows, long long *check)
{
    double rates[5];
    for (int r = 0; r < 5; r++) {
        double t0 = now_s();
        *check = fn(ctx, batches, nb);
        rates[r] = (double)rows / (now_s() - t0);
    }
    qsort(rates, 5, sizeof rates[0], cmp_double);
    printf("%-44s %8.1f M rows/s  (min %.1f, max %.1f; check %lld)\n", what, rates[2] / 1e6, rates[0] / 1e6,
           rates[4] / 1e6, *check);
    return rates[2];
}

static long long run_filter(void *ctx, struct rn_batch **batches, size_t nb)
{
    long long kept = 0;
    struct rn_error err;
    for (size_t i = 0; i < nb; i++) {
        struct rn_batch *out;
        if (rn_expr_filter(ctx, batches[i], &out, &err)) {
            fprintf(stderr, "filter: %s\n", err.msg);
            exit(1);
        }
        kept += out->n_rows;
        rn_batch_unref(out);
    }
    return kept;
}

static long long run_select(void *ctx, struct rn_batch **batches, size_t nb)
{
    static uint32_t sel[RN_BATCH_ROWS];
    long long kept = 0;
    struct rn_error err;
    for (size_t i = 0; i < nb; i++) {
        uint32_t n;
        if (rn_expr_select(ctx, batches[i], sel, &n, &err)) exit(1);
        kept += n;
    }
    return kept;
}

static long long run_project(void *ctx, struct rn_batch **batches, size_t nb)
{
    double sum = 0;
    struct rn_error err;
    for (size_t i = 0; i < nb; i++) {
        struct rn_batch *out;
        if (rn_projection_apply(ctx, batches[i], &out, &err)) {
            fprintf(stderr, "projection: %s\n", err.msg);
            exit(1);
        }
        sum += ((const double *)out->cols[0].values)[0];
        rn_batch_unref(out);
    }
    return (long long)sum;
}

int main(int argc, char **argv)
{
    uint64_t rows = argc > 1 ? strtoull(argv[1], NULL, 10) : 10000000;
    struct rn_error err;
    rn_schema *s = rn_schema_parse("auction:int64 not null, price:int64 not null", &err);
    size_t nb = (rows + RN_BATCH_ROWS - 1) / RN_BATCH_ROWS;
    struct rn_batch **batches = malloc(nb * sizeof *batches);
    uint64_t x = 88172645463325252ull, left = rows;
    for (size_t b = 0; b < nb; b++) {
        uint32_t n = left < RN_BATCH_ROWS ? (uint32_t)left : RN_BATCH_ROWS;
        batches[b] = rn_batch_new(s, RN_BATCH_ROWS);
        int64_t *auction = batches[b]->cols[0].values, *price = batches[b]->cols[1].values;
        for (uint32_t i = 0; i < n; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            auction[i] = 1000 + (int64_t)(x % 100000);
            price[i] = (int64_t)(x >> 40) % 1000000;
        }
        batches[b]->n_rows = n;
        left -= n;
    }

    rn_expr *filter;
    if (rn_expr_compile("auction % 123 = 0", s, &filter, &err)) return fprintf(stderr, "%s\n", err.msg), 1;
    const char *names[] = {"price"}, *exprs[] = {"price * 0.908"};
    rn_projection *proj;
    if (rn_projection_compile(names, exprs, 1, s, &proj, &err)) return fprintf(stderr, "%s\n", err.msg), 1;

    printf("bench_expr: %llu rows in %zu batches of %u, 1 thread\n", (unsigned long long)rows, nb, RN_BATCH_ROWS);
    long long check;
    median_rate("filter  auction % 123 = 0  (selection only)", run_select, filter, batches, nb, rows, &check);
    median_rate("filter  auction % 123 = 0  (output batches)", run_filter, filter, batches, nb, rows, &check);
    median_rate("project price * 0.908", run_project, proj, batches, nb, rows, &check);
    struct rn_pool_stats ps;
    rn_pool_stats(&ps);
    printf("buffer pool: %llu allocations, %llu from malloc\n", (unsigned long long)ps.allocs,
           (unsigned long long)ps.mallocs);

    rn_projection_destroy(proj);
    rn_expr_destroy(filter);
    for (size_t b = 0; b < nb; b++) rn_batch_unref(batches[b]);
    free(batches);
    rn_schema_unref(s);
    return 0;
}
