/*
 * bench_textfmt.c — text format micro-benchmark: decoding N (default 1M) bid-like records
 * (auction, bidder, price, channel, url, date_time, extra; ~115 bytes a JSON line, ~60 a
 * CSV line) from JSON lines
 * and from CSV into 4096-row batches, and encoding those batches back, one thread. The text is
 * generated in memory before timing (no I/O); each figure is the median of 3 runs, in rows/s
 * and MB/s of text.
 *
 *   build/tests/bench/bench_textfmt [rows]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runnel/batch.h"
#include "textfmt.h"

#define SCHEMA                                                                                     \
    "auction:int64 not null, bidder:int64 not null, price:int64 not null, channel:string, "      \
    "url:string, date_time:timestamp not null, extra:string"

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

static void die(const char *what, const struct rn_error *err)
{
    fprintf(stderr, "bench_textfmt: %s%s%s\n", what, err ? ": " : "", err ? err->msg : "");
    exit(1);
}

/* The text of `rows` records in format f (CSV with a header line first). */
static struct rn_text_buf generate(enum rn_text_format f, uint64_t rows)
{
    static const char *channels[] = {"Google", "Facebook", "Baidu", "Apple", "chan-12"};
    struct rn_text_buf t = {0};
    t.cap = (size_t)rows * 192 + 256; /* lines are well under 192 bytes */
    t.data = malloc(t.cap);
    if (!t.data) die("out of memory", NULL);
    if (f == RN_FMT_CSV) t.len += (size_t)sprintf(t.data, "auction,bidder,price,channel,url,date_time,extra\n");
    uint64_t x = 88172645463325252ull;
    for (uint64_t i = 0; i < rows; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        long long auction = 1000 + (long long)(x % 10000), bidder = 1000 + (long long)(x >> 20) % 100000;
        long long price = (long long)(x >> 40) % 1000000, ts = 1700000000000LL + (long long)i * 10;
        const char *ch = channels[(x >> 8) % 5];
        unsigned q = (unsigned)(x >> 32) % 1000;
        const char *extra = (x & 15) == 0 ? "a \\\"note\\\"" : "";
        if (f == RN_FMT_JSONL) {
            t.len += (size_t)sprintf(t.data + t.len,
                                     "{\"auction\":%lld,\"bidder\":%lld,\"price\":%lld,\"channel\":\"%s\","
                                     "\"url\":\"nx.io/i/%u\",\"date_time\":%lld,\"extra\":\"%s\"}\n",
                                     auction, bidder, price, ch, q, ts, extra);
        } else {
            t.len += (size_t)sprintf(t.data + t.len, "%lld,%lld,%lld,%s,nx.io/i/%u,%lld,%s\n", auction,
                                     bidder, price, ch, q, ts, (x & 15) == 0 ? "\"a \"\"note\"\"\"" : "");
        }
    }
    return t;
}

/* Decodes the whole text into batches; returns them (*nb of them) when keep, else drops them. */
static struct rn_batch **decode_all(enum rn_text_format f, const rn_schema *s, const struct rn_text_buf *t,
                                    bool keep, size_t *nb, uint64_t *rows)
{
    struct rn_error err;
    rn_text_decoder *d = rn_text_decoder_create(f, s, 0);
    rn_builder *bb = rn_builder_create(s, RN_BATCH_ROWS);
    if (!d || !bb) die("out of memory", NULL);
    size_t cap = 0;
    struct rn_batch **out = NULL;
    *nb = 0;
    *rows = 0;
    const char *p = t->data, *e = t->data + t->len;
    bool first = f == RN_FMT_CSV;
    while (p < e) {
        const char *nl = memchr(p, '\n', (size_t)(e - p));
        size_t len = (size_t)((nl ? nl : e) - p);
        if (first) {
            if (rn_text_decoder_header(d, p, len, &err)) die("header", &err);
            first = false;
        } else {
            if (rn_builder_full(bb)) {
                struct rn_batch *b = rn_builder_finish(bb, &err);
                if (!b) die("finish", &err);
                *rows += b->n_rows;
                if (keep) {
                    if (*nb == cap) out = realloc(out, (cap = cap ? cap * 2 : 256) * sizeof *out);
                    out[(*nb)++] = b;
                } else {
                    rn_batch_unref(b);
                }
            }
            int rc = rn_text_decode_line(d, p, len, bb, &err);
            if (rc && rc != RN_EEND) die("decode", &err);
        }
        p = nl ? nl + 1 : e;
    }
    struct rn_batch *b = rn_builder_finish(bb, &err);
    if (!b) die("finish", &err);
    *rows += b->n_rows;
    if (keep) {
        if (*nb == cap) out = realloc(out, (cap + 1) * sizeof *out);
        out[(*nb)++] = b;
    } else {
        rn_batch_unref(b);
    }
    rn_builder_destroy(bb);
    rn_text_decoder_destroy(d);
    return out;
}

/* Encodes every row of the batches (text reused per batch); returns the bytes written. */
static uint64_t encode_all(enum rn_text_format f, struct rn_batch **batches, size_t nb, struct rn_text_buf *out)
{
    uint64_t bytes = 0;
    for (size_t i = 0; i < nb; i++) {
        out->len = 0;
        for (uint32_t r = 0; r < batches[i]->n_rows; r++)
            if (rn_text_encode_row(f, 0, batches[i], r, out)) die("encode", NULL);
        bytes += out->len;
    }
    return bytes;
}

static void report(const char *what, double *secs, uint64_t rows, uint64_t bytes)
{
    qsort(secs, 3, sizeof *secs, cmp_double);
    printf("%-14s %7.2f M rows/s  %7.1f MB/s  (min %.2f, max %.2f M rows/s)\n", what, (double)rows / secs[1] / 1e6,
           (double)bytes / secs[1] / 1e6, (double)rows / secs[2] / 1e6, (double)rows / secs[0] / 1e6);
}

int main(int argc, char **argv)
{
    uint64_t rows = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000;
    struct rn_error err;
    rn_schema *s = rn_schema_parse(SCHEMA, &err);
    if (!s) die("schema", &err);
    printf("bench_textfmt: %llu bid records, batches of %u, 1 thread, median of 3\n", (unsigned long long)rows,
           RN_BATCH_ROWS);
    const enum rn_text_format fmts[] = {RN_FMT_JSONL, RN_FMT_CSV};
    const char *names[] = {"json", "csv"};
    for (int k = 0; k < 2; k++) {
        struct rn_text_buf text = generate(fmts[k], rows);
        printf("%s: %.1f MB, %.1f bytes a line\n", names[k], (double)text.len / 1e6, (double)text.len / (double)rows);
        double secs[3];
        uint64_t got = 0;
        size_t nb;
        for (int r = 0; r < 3; r++) {
            double t0 = now_s();
            decode_all(fmts[k], s, &text, false, &nb, &got);
            secs[r] = now_s() - t0;
        }
        if (got != rows) die("decoded row count differs", NULL);
        char what[32];
        snprintf(what, sizeof what, "%s decode", names[k]);
        report(what, secs, rows, text.len);

        struct rn_batch **batches = decode_all(fmts[k], s, &text, true, &nb, &got);
        struct rn_text_buf out = {0};
        uint64_t bytes = 0;
        for (int r = 0; r < 3; r++) {
            double t0 = now_s();
            bytes = encode_all(fmts[k], batches, nb, &out);
            secs[r] = now_s() - t0;
        }
        snprintf(what, sizeof what, "%s encode", names[k]);
        report(what, secs, rows, bytes);
        for (size_t i = 0; i < nb; i++) rn_batch_unref(batches[i]);
        free(batches);
        rn_text_buf_free(&out);
        rn_text_buf_free(&text);
    }
    rn_schema_unref(s);
    return 0;
}
