/*
 * test_nexmark.c — the `nexmark` runtime suite: every job in jobs/nexmark/ (q3 and up) run
 * in-process on a small generated input, its output compared with the same query computed here
 * in plain C over the very same events.
 *
 * How a job file is made testable: the text of jobs/nexmark/<q>.yaml is read and edited — the
 * job's `parallelism:` line is replaced (and a `state:` block added after it), every
 * `events: 10000000` of a nexmark source gets the test's event count and a `rate` (events per
 * second of event time: a low rate spreads a few thousand events over many windows), and the
 * `blackhole` sink becomes a CSV `file_sink` into a temporary directory. The job files keep that shape: one
 * top-level `parallelism:` line, nexmark sources written `events: 10000000`, one `blackhole` sink.
 *
 * The expected rows come from the generator library (nexmark_gen.h) called directly with the
 * same config the source's subtasks use (num_generators = P, index = subtask), so the events are
 * byte for byte those the job sees. Rows are compared as sorted lists of tab-joined fields
 * (nulls as \N); fields that differ as text but read as numbers within 1e-9 (relative) are equal.
 * Upsert outputs (aggregate, deduplicate keep last) are reduced to each key's last row first.
 */
#include <check.h>
#include <dirent.h>
#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "builtin.h"
#include "nexmark_gen.h"
#include "runnel/runner.h"
#include "rtutil.h"
#include "testutil.h"

static void setup(void) { tu_tmp_setup("runnel-nexmark"); }
static void teardown(void) { tu_tmp_teardown(); }

/* How a job file is run: its parallelism and state backend, and its sources' events. */
struct job_params {
    uint32_t parallelism;
    const char *backend;
    uint64_t events, rate;
    int64_t base_time;          /* event time of event 0; 0 = the source's default */
};

/* ---- the events, from the generator library ---- */

struct person {
    int64_t id, ts;
    char *name, *email, *card, *city, *state, *extra;
};
struct auction {
    int64_t id, initial_bid, reserve, ts, expires, seller, category;
    char *item_name, *description, *extra;
};
struct bid {
    int64_t auction, bidder, price, ts;
    char *channel, *url, *extra;
};
struct events {
    size_t n_persons, n_auctions, n_bids;
    struct person *persons;
    struct auction *auctions;
    struct bid *bids;
    /* the events' strings, NUL-terminated, in blocks that never move */
    size_t n_blocks, used;
    char **blocks;
};

#define TEXT_BLOCK (1u << 20)

static char *str_dup(struct events *ev, struct rn_str s)
{
    ck_assert(s.len < TEXT_BLOCK);
    if (!ev->n_blocks || ev->used + s.len + 1 > TEXT_BLOCK) {
        ck_assert((ev->blocks = realloc(ev->blocks, (ev->n_blocks + 1) * sizeof *ev->blocks)) != NULL);
        ck_assert((ev->blocks[ev->n_blocks++] = malloc(TEXT_BLOCK)) != NULL);
        ev->used = 0;
    }
    char *p = ev->blocks[ev->n_blocks - 1] + ev->used;
    if (s.len) memcpy(p, s.ptr, s.len);
    p[s.len] = 0;
    ev->used += s.len + 1;
    return p;
}

static void *grow(void *v, size_t n, size_t size)
{
    /* doubling at powers of two */
    if (n && (n & (n - 1))) return v;
    void *p = realloc(v, (n ? 2 * n : 1) * size);
    ck_assert(p);
    return p;
}

/* The kinds of events a test needs (generating the others would only cost time). */
enum { PERSONS = 1, AUCTIONS = 2, BIDS = 4 };

/* The events of the kinds in `kinds` that `nexmark` sources with jp's events, rate and
 * parallelism generate, subtask 0's first (each kind's array in the order one subtask emits
 * them). */
static struct events generate(const struct job_params *jp, unsigned kinds)
{
    uint64_t events = jp->events, rate = jp->rate;
    uint32_t P = jp->parallelism;
    struct events ev = {0};
    for (uint32_t sub = 0; sub < P; sub++) {
        for (int kind = RN_NEXMARK_PERSON; kind <= RN_NEXMARK_BID; kind++) {
            if (!(kinds & (1u << kind))) continue;
            struct rn_nexmark_config c;
            rn_nexmark_config_default(&c);
            c.events = events;
            c.rate = rate;
            if (jp->base_time) c.base_time = jp->base_time;
            c.num_generators = P;
            c.index = sub;
            rn_nexmark_gen *g = rn_nexmark_gen_create(&c, (enum rn_nexmark_kind)kind);
            ck_assert(g);
            for (;;) {
                struct rn_batch *b = rn_batch_new(rn_nexmark_schema((enum rn_nexmark_kind)kind), RN_BATCH_ROWS);
                ck_assert(b);
                int got = rn_nexmark_gen_next(g, b, RN_BATCH_ROWS);
                ck_assert(got >= 0);
                const struct rn_column *col = b->cols;
                for (uint32_t i = 0; i < b->n_rows; i++) {
                    if (kind == RN_NEXMARK_PERSON) {
                        ev.persons = grow(ev.persons, ev.n_persons, sizeof *ev.persons);
                        ev.persons[ev.n_persons++] = (struct person){
                            .id = rn_col_i64(&col[0], i), .name = str_dup(&ev, rn_col_str(&col[1], i)),
                            .email = str_dup(&ev, rn_col_str(&col[2], i)), .card = str_dup(&ev, rn_col_str(&col[3], i)),
                            .city = str_dup(&ev, rn_col_str(&col[4], i)), .state = str_dup(&ev, rn_col_str(&col[5], i)),
                            .ts = rn_col_i64(&col[6], i), .extra = str_dup(&ev, rn_col_str(&col[7], i))};
                    } else if (kind == RN_NEXMARK_AUCTION) {
                        ev.auctions = grow(ev.auctions, ev.n_auctions, sizeof *ev.auctions);
                        ev.auctions[ev.n_auctions++] = (struct auction){
                            .id = rn_col_i64(&col[0], i), .item_name = str_dup(&ev, rn_col_str(&col[1], i)),
                            .description = str_dup(&ev, rn_col_str(&col[2], i)), .initial_bid = rn_col_i64(&col[3], i),
                            .reserve = rn_col_i64(&col[4], i), .ts = rn_col_i64(&col[5], i),
                            .expires = rn_col_i64(&col[6], i), .seller = rn_col_i64(&col[7], i),
                            .category = rn_col_i64(&col[8], i), .extra = str_dup(&ev, rn_col_str(&col[9], i))};
                    } else {
                        ev.bids = grow(ev.bids, ev.n_bids, sizeof *ev.bids);
                        ev.bids[ev.n_bids++] = (struct bid){
                            .auction = rn_col_i64(&col[0], i), .bidder = rn_col_i64(&col[1], i),
                            .price = rn_col_i64(&col[2], i), .channel = str_dup(&ev, rn_col_str(&col[3], i)),
                            .url = str_dup(&ev, rn_col_str(&col[4], i)), .ts = rn_col_i64(&col[5], i),
                            .extra = str_dup(&ev, rn_col_str(&col[6], i))};
                    }
                }
                rn_batch_unref(b);
                if (got == 0) break;
            }
            rn_nexmark_gen_destroy(g);
        }
    }
    return ev;
}

static void events_free(struct events *ev)
{
    for (size_t i = 0; i < ev->n_blocks; i++) free(ev->blocks[i]);
    free(ev->blocks), free(ev->persons), free(ev->auctions), free(ev->bids);
    memset(ev, 0, sizeof *ev);
}

/* ---- rows: tab-joined fields ---- */

/* Rows are kept in struct rt_lines (rtutil.h), one tab-joined line each. */

/* A double as the expected side writes it (compared with tolerance anyway). */
static const char *dbl(double v, char buf[40])
{
    snprintf(buf, 40, "%.17g", v);
    return buf;
}

/* Appends the fields of the CSV text at *p (RFC 4180: quoted fields may hold tabs, commas,
 * quotes doubled) to out as one tab-joined line; an empty unquoted field is \N (null). Advances
 * *p past the line. */
static char *csv_line(const char **p)
{
    const char *s = *p;
    size_t cap = 64, n = 0;
    char *out = malloc(cap);
    ck_assert(out);
#define PUT(c)                                                                                      \
    do {                                                                                            \
        if (n + 4 > cap) ck_assert((out = realloc(out, cap *= 2)) != NULL);                         \
        out[n++] = (c);                                                                             \
    } while (0)
    for (bool first = true;; first = false) {
        if (!first) PUT('\t');
        if (*s == '"') {
            for (s++;; s++) {
                ck_assert_msg(*s, "unterminated quoted CSV field");
                if (*s == '"' && s[1] == '"') {
                    PUT('"');
                    s++;
                } else if (*s == '"') {
                    break;
                } else {
                    PUT(*s);
                }
            }
            s++;
        } else if (*s == ',' || *s == '\n' || *s == 0) {
            PUT('\\');
            PUT('N');
        } else {
            for (; *s && *s != ',' && *s != '\n'; s++) PUT(*s);
        }
        if (*s == ',') {
            s++;
            continue;
        }
        if (*s == '\n') s++;
        break;
    }
#undef PUT
    out[n] = 0;
    *p = s;
    return out;
}

/* The data rows of every part-* file in dir (header lines dropped), in file order, part by part
 * in subtask order. */
static struct rt_lines read_output(const char *dir)
{
    struct rt_lines r = {0};
    DIR *d = opendir(dir);
    ck_assert_msg(d, "no output directory %s", dir);
    struct rt_lines names = {0};
    struct dirent *e;
    while ((e = readdir(d)))
        if (!strncmp(e->d_name, "part-", 5)) rt_lines_push(&names, tu_fmt("%s/%s", dir, e->d_name));
    closedir(d);
    rt_lines_sort(&names);
    for (size_t i = 0; i < names.n; i++) {
        char *text = tu_slurp(names.v[i]);
        ck_assert(text);
        const char *p = strchr(text, '\n');
        p = p ? p + 1 : text + strlen(text);
        while (*p) rt_lines_push(&r, csv_line(&p));
        free(text);
    }
    rt_lines_free(&names);
    return r;
}

/* Keeps each key's last row, in file order (key = the first n_key fields): the current result
 * of an upsert stream. A key lives in one part file, whose rows read_output keeps in order. */
struct keyed_row {
    char *key, *row;
    size_t seq;
};
static int cmp_keyed(const void *a, const void *b)
{
    const struct keyed_row *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c ? c : (x->seq > y->seq) - (x->seq < y->seq);
}

static void last_per_key(struct rt_lines *r, int n_key)
{
    struct keyed_row *k = calloc(r->n + 1, sizeof *k);
    ck_assert(k);
    for (size_t i = 0; i < r->n; i++) {
        const char *end = r->v[i];
        for (int f = 0; f < n_key && end; f++) end = strchr(end + (f > 0), '\t');
        size_t len = end ? (size_t)(end - r->v[i]) : strlen(r->v[i]);
        k[i] = (struct keyed_row){strndup(r->v[i], len), r->v[i], i};
    }
    qsort(k, r->n, sizeof *k, cmp_keyed);
    size_t m = 0;
    for (size_t i = 0; i < r->n; i++) {
        if (i + 1 < r->n && !strcmp(k[i].key, k[i + 1].key)) free(k[i].row);
        else r->v[m++] = k[i].row;
        free(k[i].key);
    }
    r->n = m;
    free(k);
}

/* Whether two fields are equal: as text, or as numbers within 1e-9 relative. */
static bool field_eq(const char *a, size_t alen, const char *b, size_t blen)
{
    if (alen == blen && !memcmp(a, b, alen)) return true;
    char x[64], y[64], *ex, *ey;
    if (alen >= sizeof x || blen >= sizeof y) return false;
    memcpy(x, a, alen), x[alen] = 0;
    memcpy(y, b, blen), y[blen] = 0;
    double dx = strtod(x, &ex), dy = strtod(y, &ey);
    if (ex == x || ey == y || *ex || *ey) return false;
    return fabs(dx - dy) <= 1e-9 * fmax(fabs(dx), fabs(dy));
}

static bool row_eq(const char *a, const char *b)
{
    for (;;) {
        const char *ea = strchr(a, '\t'), *eb = strchr(b, '\t');
        size_t la = ea ? (size_t)(ea - a) : strlen(a), lb = eb ? (size_t)(eb - b) : strlen(b);
        if (!field_eq(a, la, b, lb)) return false;
        if (!ea || !eb) return !ea && !eb;
        a = ea + 1, b = eb + 1;
    }
}

/* Compares got with want (both sorted here); on a difference fails naming the first rows that
 * differ and the counts. */
static void rows_expect(const char *what, struct rt_lines *got, struct rt_lines *want)
{
    rt_lines_sort(got);
    rt_lines_sort(want);
    size_t i = 0, j = 0;
    while (i < got->n && j < want->n && row_eq(got->v[i], want->v[j])) i++, j++;
    if (i == got->n && j == want->n) return;
    ck_abort_msg("%s: %zu rows, want %zu; first difference at sorted row %zu:\n got  %s\n want %s", what, got->n,
                 want->n, i, i < got->n ? got->v[i] : "(end)", j < want->n ? want->v[j] : "(end)");
}

/* ---- running a job file ---- */

/* text with every occurrence of `from` replaced by `to` (a new string). */
static char *replace_all(const char *text, const char *from, const char *to)
{
    size_t n = 0, flen = strlen(from), tlen = strlen(to);
    for (const char *p = text; (p = strstr(p, from)); p += flen) n++;
    char *out = malloc(strlen(text) + n * tlen + 1), *o = out;
    ck_assert(out);
    for (const char *p = text, *q; ; p = q + flen) {
        q = strstr(p, from);
        size_t len = q ? (size_t)(q - p) : strlen(p);
        memcpy(o, p, len), o += len;
        if (!q) break;
        memcpy(o, to, tlen), o += tlen;
    }
    *o = 0;
    return out;
}

/* The text of jobs/nexmark/<q>.yaml made to run on a small input into a CSV file_sink at out. */
static char *job_text(const char *q, const struct job_params *jp, const char *out)
{
    const char *root = getenv("RUNNEL_SOURCE_ROOT");
    ck_assert_msg(root, "RUNNEL_SOURCE_ROOT is not set");
    char *path = tu_fmt("%s/jobs/nexmark/%s.yaml", root, q), *text = tu_slurp(path);
    ck_assert_msg(text, "cannot read %s", path);
    free(path);

    /* the job's parallelism (a line of its own at the top level) and a state block */
    char *par = strstr(text, "\nparallelism: ");
    ck_assert_msg(par, "%s: no top-level parallelism line", q);
    char *eol = strchr(par + 1, '\n');
    char *state = tu_tmp_path("state");
    char *head = tu_fmt("%.*s\nparallelism: %u\nstate: { backend: %s, dir: %s }%s", (int)(par - text), text,
                        jp->parallelism, jp->backend, state, eol);
    free(state);
    free(text);

    /* the sources' event counts and rate */
    char *events = jp->base_time ? tu_fmt("events: %" PRIu64 ", rate: %" PRIu64 ", base_time: %" PRId64, jp->events,
                                          jp->rate, jp->base_time)
                                 : tu_fmt("events: %" PRIu64 ", rate: %" PRIu64, jp->events, jp->rate);
    text = replace_all(head, "events: 10000000", events);
    ck_assert_msg(strcmp(text, head), "%s: no nexmark source with events: 10000000", q);
    free(head);
    free(events);

    /* the sink */
    char *bh = strstr(text, "type: blackhole\n");
    ck_assert_msg(bh && !strstr(bh + 1, "type: blackhole"), "%s: not one blackhole sink", q);
    const char *line = bh;
    while (line > text && line[-1] == ' ') line--;
    char *edited = tu_fmt("%.*stype: file_sink\n%.*swith: { path: %s, format: csv }\n%s", (int)(bh - text), text,
                          (int)(bh - line), line, out, bh + strlen("type: blackhole\n"));
    free(text);
    return edited;
}

/* Runs jobs/nexmark/<q>.yaml with jp; returns its output rows. */
static struct rt_lines run_query(const char *q, const struct job_params *jp)
{
    rn_registry *reg = rt_registry();
    char *out = tu_tmp_path("out");
    char *text = job_text(q, jp, out);
    struct rn_job *job = rt_parse_ok(reg, text);
    rt_run_ok(job, NULL, NULL);

    struct rt_lines rows = read_output(out);
    rn_job_free(job);
    rn_registry_destroy(reg);
    free(text);
    free(out);
    return rows;
}

/* Runs the query, applies the upsert reduction (n_key > 0), and compares with want (freed). */
static void check_query(const char *q, const struct job_params *jp, int n_key, struct rt_lines *want)
{
    struct rt_lines got = run_query(q, jp);
    if (n_key > 0) last_per_key(&got, n_key);
    char *what = tu_fmt("%s (P=%u, %s, %" PRIu64 " events at %" PRIu64 "/s)", q, jp->parallelism, jp->backend,
                        jp->events, jp->rate);
    rows_expect(what, &got, want);
    free(what);
    rt_lines_free(&got);
    rt_lines_free(want);
}

/* ---- small helpers of the reference computations ---- */

/* The day 'YYYY-MM-DD' and minute 'HH:MM' of a timestamp (UTC, ms since the epoch, >= 0). */
static void day_of(int64_t ts, char out[16])
{
    time_t t = (time_t)(ts / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 16, "%Y-%m-%d", &tm);
}
static void minute_of(int64_t ts, char out[16])
{
    time_t t = (time_t)(ts / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 16, "%H:%M", &tm);
}

static int price_band(int64_t price) { return price < 10000 ? 1 : price < 1000000 ? 2 : 3; }

/* A set of int64 values (count_distinct): open addressing, grown at half full. */
struct iset {
    size_t n, cap;
    int64_t *v;
    bool *used;
};
static uint64_t mix(uint64_t x)
{
    x ^= x >> 33, x *= 0xff51afd7ed558ccdull, x ^= x >> 33, x *= 0xc4ceb9fe1a85ec53ull;
    return x ^ (x >> 33);
}
static bool iset_add(struct iset *s, int64_t x)
{
    if (2 * (s->n + 1) > s->cap) {
        struct iset t = {0, s->cap ? 2 * s->cap : 16, NULL, NULL};
        t.v = calloc(t.cap, sizeof *t.v), t.used = calloc(t.cap, 1);
        ck_assert(t.v && t.used);
        for (size_t i = 0; i < s->cap; i++)
            if (s->used[i]) iset_add(&t, s->v[i]);
        free(s->v), free(s->used);
        *s = t;
    }
    size_t i = mix((uint64_t)x) & (s->cap - 1);
    for (; s->used[i]; i = (i + 1) & (s->cap - 1))
        if (s->v[i] == x) return false;
    s->used[i] = true, s->v[i] = x, s->n++;
    return true;
}
static void iset_free(struct iset *s) { free(s->v), free(s->used), memset(s, 0, sizeof *s); }

/* A map of string keys to indexes 0, 1, ... in order of first appearance. */
struct smap {
    size_t n, cap;
    char **keys;    /* by slot */
    size_t *index;  /* by slot */
};
static uint64_t str_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return mix(h);
}
/* The index of key, adding it (as n) when new; *added says which. */
static size_t smap_get(struct smap *m, const char *key, bool *added)
{
    if (2 * (m->n + 1) > m->cap) {
        struct smap t = {0, m->cap ? 2 * m->cap : 64, NULL, NULL};
        t.keys = calloc(t.cap, sizeof *t.keys), t.index = calloc(t.cap, sizeof *t.index);
        ck_assert(t.keys && t.index);
        for (size_t i = 0; i < m->cap; i++)
            if (m->keys[i]) {
                size_t j = str_hash(m->keys[i]) & (t.cap - 1);
                while (t.keys[j]) j = (j + 1) & (t.cap - 1);
                t.keys[j] = m->keys[i], t.index[j] = m->index[i];
            }
        t.n = m->n;
        free(m->keys), free(m->index);
        *m = t;
    }
    size_t i = str_hash(key) & (m->cap - 1);
    for (; m->keys[i]; i = (i + 1) & (m->cap - 1))
        if (!strcmp(m->keys[i], key)) return *added = false, m->index[i];
    m->keys[i] = strdup(key), m->index[i] = m->n;
    *added = true;
    return m->n++;
}
static void smap_free(struct smap *m)
{
    for (size_t i = 0; i < m->cap; i++) free(m->keys[i]);
    free(m->keys), free(m->index);
    memset(m, 0, sizeof *m);
}

/* ======================= q14-q22: filters, projections, group-bys ======================= */

/* q21: the channel id of each bid of a known channel. */
START_TEST(q21_channel_ids_from_names_and_urls)
{
    struct job_params jp = {1, "memory", 20000, 1000, 0};
    struct events ev = generate(&jp, BIDS);
    struct rt_lines want = {0};
    static const char *hot[] = {"apple", "google", "facebook", "baidu"};
    for (size_t i = 0; i < ev.n_bids; i++) {
        const struct bid *b = &ev.bids[i];
        /* regexp_extract(url, '(&|^)channel_id=([^&]*)', 2): the first "channel_id=" at the
         * start or after '&', up to the next '&' */
        const char *id = NULL;
        size_t id_len = 0;
        for (const char *p = b->url; (p = strstr(p, "channel_id=")); p++)
            if (p == b->url || p[-1] == '&') {
                id = p + strlen("channel_id=");
                id_len = strcspn(id, "&");
                break;
            }
        char lower[64];
        size_t n = 0;
        for (; b->channel[n] && n < sizeof lower - 1; n++)
            lower[n] = (char)(b->channel[n] >= 'A' && b->channel[n] <= 'Z' ? b->channel[n] + 32 : b->channel[n]);
        lower[n] = 0;
        int h = -1;
        for (int k = 0; k < 4; k++)
            if (!strcmp(lower, hot[k])) h = k;
        if (h < 0 && !id) continue;
        if (h >= 0)
            rt_lines_addf(&want, "%" PRId64 "\t%" PRId64 "\t%" PRId64 "\t%s\t%d", b->auction, b->bidder, b->price,
                          b->channel, h);
        else
            rt_lines_addf(&want, "%" PRId64 "\t%" PRId64 "\t%" PRId64 "\t%s\t%.*s", b->auction, b->bidder, b->price,
                          b->channel, (int)id_len, id);
    }
    ck_assert(want.n > 100 && want.n < ev.n_bids); /* both kinds of rows, and dropped ones */
    check_query("q21", &jp, 0, &want);
    events_free(&ev);
}
END_TEST

/* q22: the first three directories of each bid's URL. */
START_TEST(q22_url_directories)
{
    struct job_params jp = {1, "memory", 20000, 1000, 0};
    struct events ev = generate(&jp, BIDS);
    struct rt_lines want = {0};
    for (size_t i = 0; i < ev.n_bids; i++) {
        const struct bid *b = &ev.bids[i];
        char *dirs[3];
        for (int d = 0; d < 3; d++) {
            /* piece 3 + d of url split at '/' */
            const char *p = b->url;
            for (int k = 0; k < 3 + d && p; k++) p = strchr(p, '/') ? strchr(p, '/') + 1 : NULL;
            dirs[d] = p ? tu_fmt("%.*s", (int)strcspn(p, "/"), p) : strdup("\\N");
        }
        rt_lines_addf(&want, "%" PRId64 "\t%" PRId64 "\t%" PRId64 "\t%s\t%s\t%s\t%s", b->auction, b->bidder, b->price,
                      b->channel, dirs[0], dirs[1], dirs[2]);
        for (int d = 0; d < 3; d++) free(dirs[d]);
    }
    check_query("q22", &jp, 0, &want);
    events_free(&ev);
}
END_TEST

/* q14: bids with a euro price in (1M, 50M), their time of day and the c's in extra. One event a
 * second: 30,000 events span the hours 0 to 8, every time of day type. */
START_TEST(q14_calculation)
{
    struct job_params jp = {1, "memory", 30000, 1, 0};
    struct events ev = generate(&jp, BIDS);
    struct rt_lines want = {0};
    size_t types[3] = {0};
    for (size_t i = 0; i < ev.n_bids; i++) {
        const struct bid *b = &ev.bids[i];
        double euros = 0.908 * (double)b->price;
        if (!(euros > 1000000 && euros < 50000000)) continue;
        int hour = (int)(b->ts % 86400000 / 3600000), t = hour >= 8 && hour <= 18 ? 0 : hour <= 6 || hour >= 20 ? 1 : 2;
        static const char *names[] = {"dayTime", "nightTime", "otherTime"};
        types[t]++;
        int cs = 0;
        for (const char *p = b->extra; *p; p++) cs += *p == 'c';
        char d[40];
        rt_lines_addf(&want, "%" PRId64 "\t%" PRId64 "\t%s\t%s\t%" PRId64 "\t%s\t%d", b->auction, b->bidder, dbl(euros, d),
                      names[t], b->ts, b->extra, cs);
    }
    ck_assert(types[0] && types[1] && types[2]);
    check_query("q14", &jp, 0, &want);
    events_free(&ev);
}
END_TEST

/* The per-day (q15), per-(channel, day) (q16) and per-(auction, day) (q17) statistics. */
struct day_stats {
    char day[16], minute[16];
    int64_t auction;
    const char *channel;
    int64_t bids[4], min_price, max_price, sum_price;
    struct iset bidders[4], auctions[4];
};

static struct day_stats *stats_of(struct day_stats **all, struct smap *index, const char *key)
{
    bool added;
    size_t i = smap_get(index, key, &added);
    if (!added) return &(*all)[i];
    *all = grow(*all, i, sizeof **all);
    struct day_stats *s = &(*all)[i];
    memset(s, 0, sizeof *s);
    s->min_price = INT64_MAX, s->max_price = INT64_MIN;
    return s;
}

/* which: 15, 16 or 17 */
static struct rt_lines expected_daily(const struct events *ev, int which)
{
    struct day_stats *all = NULL;
    struct smap index = {0};
    for (size_t i = 0; i < ev->n_bids; i++) {
        const struct bid *b = &ev->bids[i];
        char day[16], minute[16], key[96];
        day_of(b->ts, day);
        minute_of(b->ts, minute);
        if (which == 15) snprintf(key, sizeof key, "%s", day);
        else if (which == 16) snprintf(key, sizeof key, "%s %s", b->channel, day);
        else snprintf(key, sizeof key, "%" PRId64 " %s", b->auction, day);
        struct day_stats *s = stats_of(&all, &index, key);
        memcpy(s->day, day, sizeof day);
        if (strcmp(minute, s->minute) > 0) memcpy(s->minute, minute, sizeof minute);
        s->channel = b->channel;
        s->auction = b->auction;
        int band = price_band(b->price);
        s->bids[0]++, s->bids[band]++;
        iset_add(&s->bidders[0], b->bidder), iset_add(&s->bidders[band], b->bidder);
        iset_add(&s->auctions[0], b->auction), iset_add(&s->auctions[band], b->auction);
        if (b->price < s->min_price) s->min_price = b->price;
        if (b->price > s->max_price) s->max_price = b->price;
        s->sum_price += b->price;
    }
    struct rt_lines want = {0};
    for (size_t i = 0; i < index.n; i++) {
        struct day_stats *s = &all[i];
        char counts[256], mean[40];
        snprintf(counts, sizeof counts,
                 "%" PRId64 "\t%" PRId64 "\t%" PRId64 "\t%" PRId64 "\t%zu\t%zu\t%zu\t%zu\t%zu\t%zu\t%zu\t%zu", s->bids[0],
                 s->bids[1], s->bids[2], s->bids[3], s->bidders[0].n, s->bidders[1].n, s->bidders[2].n,
                 s->bidders[3].n, s->auctions[0].n, s->auctions[1].n, s->auctions[2].n, s->auctions[3].n);
        if (which == 15) rt_lines_addf(&want, "%s\t%s", s->day, counts);
        else if (which == 16) rt_lines_addf(&want, "%s\t%s\t%s\t%s", s->channel, s->day, s->minute, counts);
        else
            rt_lines_addf(&want,
                          "%" PRId64 "\t%s\t%" PRId64 "\t%" PRId64 "\t%" PRId64 "\t%" PRId64 "\t%" PRId64 "\t%" PRId64
                          "\t%s\t%" PRId64,
                          s->auction, s->day, s->bids[0], s->bids[1], s->bids[2], s->bids[3], s->min_price, s->max_price,
                          dbl((double)s->sum_price / (double)s->bids[0], mean), s->sum_price);
        for (int k = 0; k < 4; k++) iset_free(&s->bidders[k]), iset_free(&s->auctions[k]);
    }
    free(all);
    smap_free(&index);
    return want;
}

/* One event a second from 8,000 s before midnight: 16,000 events span two days. */
#define TWO_DAYS 16000, 1, 1437004800000 - 8000000
/* Runs q<which> (15, 16 or 17: statistics per day) over two days of bids at parallelism p and
 * compares with expected_daily; n_key: the upsert key's fields; want_rows: the expected number of
 * rows where the test knows it (0: not checked). */
static void check_daily(int which, uint32_t p, const char *backend, int n_key, size_t want_rows)
{
    struct job_params jp = {p, backend, TWO_DAYS};
    struct events ev = generate(&jp, BIDS);
    struct rt_lines want = expected_daily(&ev, which);
    if (want_rows) ck_assert_uint_eq(want.n, want_rows);
    char q[8];
    snprintf(q, sizeof q, "q%d", which);
    check_query(q, &jp, n_key, &want);
    events_free(&ev);
}

START_TEST(q15_daily_bid_statistics)
{
    check_daily(15, 1, rt_backends[_i], 1, 2);
}
END_TEST

START_TEST(q16_channel_statistics_per_day)
{
    check_daily(16, 1, rt_backends[_i], 2, 0);
}
END_TEST

START_TEST(q17_auction_statistics_per_day)
{
    check_daily(17, 1, rt_backends[_i], 2, 0);
}
END_TEST

START_TEST(q17_at_parallelism_2)
{
    check_daily(17, 2, rt_backends[_i], 2, 0);
}
END_TEST

/* q18: each (bidder, auction)'s last bid; at P = 1 arrival order is time order. */
START_TEST(q18_last_bid_per_bidder_and_auction)
{
    struct job_params jp = {1, rt_backends[_i], 20000, 1000, 0};
    struct events ev = generate(&jp, BIDS);
    struct rt_lines all = {0};
    for (size_t i = 0; i < ev.n_bids; i++) {
        const struct bid *b = &ev.bids[i];
        rt_lines_addf(&all, "%" PRId64 "\t%" PRId64 "\t%" PRId64 "\t%s\t%s\t%" PRId64 "\t%s", b->auction, b->bidder,
                      b->price, b->channel, b->url, b->ts, b->extra);
    }
    /* the last bid per (auction, bidder): the generator's order is time order */
    last_per_key(&all, 2);
    check_query("q18", &jp, 2, &all);
    events_free(&ev);
}
END_TEST

/* ======================= joins ======================= */

/* Persons and auctions by id (ids count up from 1000 without gaps: an array indexes them). */
struct by_id {
    int64_t lo, n;
    const void **v;
};
static struct by_id index_ids(const void *items, size_t n, size_t size, size_t id_offset)
{
    struct by_id x = {INT64_MAX, 0, NULL};
    int64_t hi = INT64_MIN;
    for (size_t i = 0; i < n; i++) {
        int64_t id = *(const int64_t *)((const char *)items + i * size + id_offset);
        if (id < x.lo) x.lo = id;
        if (id > hi) hi = id;
    }
    x.n = n ? hi - x.lo + 1 : 0;
    x.v = calloc((size_t)x.n + 1, sizeof *x.v);
    ck_assert(x.v);
    for (size_t i = 0; i < n; i++) {
        const void *it = (const char *)items + i * size;
        int64_t id = *(const int64_t *)((const char *)it + id_offset);
        ck_assert_msg(!x.v[id - x.lo], "id %" PRId64 " twice", id);
        x.v[id - x.lo] = it;
    }
    return x;
}
static const void *find_id(const struct by_id *x, int64_t id)
{
    return id >= x->lo && id - x->lo < x->n ? x->v[id - x->lo] : NULL;
}

/* q3: category-10 auctions of sellers in OR, ID or CA, with the seller's name, city, state. */
static struct rt_lines expected_q3(const struct events *ev)
{
    struct by_id persons = index_ids(ev->persons, ev->n_persons, sizeof *ev->persons, offsetof(struct person, id));
    struct rt_lines want = {0};
    for (size_t i = 0; i < ev->n_auctions; i++) {
        const struct auction *a = &ev->auctions[i];
        const struct person *p = find_id(&persons, a->seller);
        if (a->category != 10 || !p) continue;
        if (strcmp(p->state, "OR") && strcmp(p->state, "ID") && strcmp(p->state, "CA")) continue;
        rt_lines_addf(&want, "%s\t%s\t%s\t%" PRId64, p->name, p->city, p->state, a->id);
    }
    free(persons.v);
    return want;
}

START_TEST(q3_local_item_suggestion)
{
    struct job_params jp = {1, rt_backends[_i], 50000, 1000, 0};
    struct events ev = generate(&jp, PERSONS | AUCTIONS);
    struct rt_lines want = expected_q3(&ev);
    ck_assert_uint_gt(want.n, 100);
    check_query("q3", &jp, 0, &want);
    events_free(&ev);
}
END_TEST

START_TEST(q3_at_parallelism_2)
{
    struct job_params jp = {2, rt_backends[_i], 50000, 1000, 0};
    struct events ev = generate(&jp, PERSONS | AUCTIONS);
    struct rt_lines want = expected_q3(&ev);
    check_query("q3", &jp, 0, &want);
    events_free(&ev);
}
END_TEST

/* q20: each bid on a category-10 auction, with the auction's columns. */
START_TEST(q20_bids_with_their_auction)
{
    struct job_params jp = {1, rt_backends[_i], 20000, 1000, 0};
    struct events ev = generate(&jp, AUCTIONS | BIDS);
    struct by_id auctions = index_ids(ev.auctions, ev.n_auctions, sizeof *ev.auctions, offsetof(struct auction, id));
    struct rt_lines want = {0};
    for (size_t i = 0; i < ev.n_bids; i++) {
        const struct bid *b = &ev.bids[i];
        const struct auction *a = find_id(&auctions, b->auction);
        if (!a || a->category != 10) continue;
        rt_lines_addf(&want,
                      "%" PRId64 "\t%" PRId64 "\t%" PRId64 "\t%s\t%s\t%" PRId64 "\t%s\t%s\t%s\t%" PRId64 "\t%" PRId64
                      "\t%" PRId64 "\t%" PRId64 "\t%" PRId64 "\t%" PRId64 "\t%s",
                      b->auction, b->bidder, b->price, b->channel, b->url, b->ts, b->extra, a->item_name, a->description,
                      a->initial_bid, a->reserve, a->ts, a->expires, a->seller, a->category, a->extra);
    }
    ck_assert_uint_gt(want.n, 100);
    free(auctions.v);
    check_query("q20", &jp, 0, &want);
    events_free(&ev);
}
END_TEST

/* q13: each bid with the side table's value for auction % 10000. */
START_TEST(q13_bids_with_side_input)
{
    struct job_params jp = {1, rt_backends[_i], 20000, 1000, 0};
    struct events ev = generate(&jp, BIDS);
    struct rt_lines want = {0};
    for (size_t i = 0; i < ev.n_bids; i++) {
        const struct bid *b = &ev.bids[i];
        rt_lines_addf(&want, "%" PRId64 "\t%" PRId64 "\t%" PRId64 "\t%" PRId64 "\tvalue-%" PRId64, b->auction, b->bidder,
                      b->price, b->ts, b->auction % 10000);
    }
    check_query("q13", &jp, 0, &want);
    events_free(&ev);
}
END_TEST

/* q4: per category, the average over its auctions of the highest bid placed while the auction
 * was open (auctions without such a bid do not count). */
static struct rt_lines expected_q4(const struct events *ev)
{
    struct by_id auctions = index_ids(ev->auctions, ev->n_auctions, sizeof *ev->auctions, offsetof(struct auction, id));
    int64_t *best = malloc(((size_t)auctions.n + 1) * sizeof *best);
    ck_assert(best);
    for (int64_t i = 0; i < auctions.n; i++) best[i] = -1;
    for (size_t i = 0; i < ev->n_bids; i++) {
        const struct bid *b = &ev->bids[i];
        const struct auction *a = find_id(&auctions, b->auction);
        if (a && b->ts >= a->ts && b->ts <= a->expires && b->price > best[a->id - auctions.lo])
            best[a->id - auctions.lo] = b->price;
    }
    double sum[64] = {0};
    int64_t n[64] = {0};
    for (int64_t i = 0; i < auctions.n; i++) {
        const struct auction *a = auctions.v[i];
        if (!a || best[i] < 0) continue;
        ck_assert(a->category >= 0 && a->category < 64);
        sum[a->category] += (double)best[i];
        n[a->category]++;
    }
    struct rt_lines want = {0};
    for (int c = 0; c < 64; c++) {
        char d[40];
        if (n[c]) rt_lines_addf(&want, "%d\t%s", c, dbl(sum[c] / (double)n[c], d));
    }
    free(best);
    free(auctions.v);
    return want;
}

/* 100 events a second: auctions stay open for seconds, so bids before and after the range exist. */
START_TEST(q4_average_final_price_per_category)
{
    struct job_params jp = {1, rt_backends[_i], 20000, 100, 0};
    struct events ev = generate(&jp, AUCTIONS | BIDS);
    struct rt_lines want = expected_q4(&ev);
    ck_assert_uint_eq(want.n, 5);
    check_query("q4", &jp, 1, &want);
    events_free(&ev);
}
END_TEST

START_TEST(q4_at_parallelism_2)
{
    struct job_params jp = {2, rt_backends[_i], 20000, 100, 0};
    struct events ev = generate(&jp, AUCTIONS | BIDS);
    struct rt_lines want = expected_q4(&ev);
    check_query("q4", &jp, 1, &want);
    events_free(&ev);
}
END_TEST

/* q9: each auction with its winning bid: the highest placed while it was open, the earliest of
 * equal ones, the first to arrive of equal times (P = 1: the generator's order). */
START_TEST(q9_winning_bids)
{
    struct job_params jp = {1, rt_backends[_i], 20000, 100, 0};
    struct events ev = generate(&jp, AUCTIONS | BIDS);
    struct by_id auctions = index_ids(ev.auctions, ev.n_auctions, sizeof *ev.auctions, offsetof(struct auction, id));
    const struct bid **win = calloc((size_t)auctions.n + 1, sizeof *win);
    ck_assert(win);
    for (size_t i = 0; i < ev.n_bids; i++) {
        const struct bid *b = &ev.bids[i];
        const struct auction *a = find_id(&auctions, b->auction);
        if (!a || b->ts < a->ts || b->ts > a->expires) continue;
        const struct bid **w = &win[a->id - auctions.lo];
        if (!*w || b->price > (*w)->price || (b->price == (*w)->price && b->ts < (*w)->ts)) *w = b;
    }
    struct rt_lines want = {0};
    for (int64_t i = 0; i < auctions.n; i++) {
        const struct auction *a = auctions.v[i];
        const struct bid *b = win[i];
        if (!a || !b) continue;
        rt_lines_addf(&want,
                      "%" PRId64 "\t%s\t%s\t%" PRId64 "\t%" PRId64 "\t%" PRId64 "\t%" PRId64 "\t%" PRId64 "\t%" PRId64
                      "\t%s\t%" PRId64 "\t%" PRId64 "\t%" PRId64 "\t%" PRId64 "\t%s",
                      a->id, a->item_name, a->description, a->initial_bid, a->reserve, a->ts, a->expires, a->seller,
                      a->category, a->extra, b->auction, b->bidder, b->price, b->ts, b->extra);
    }
    ck_assert_uint_gt(want.n, 100);
    free(win);
    free(auctions.v);
    check_query("q9", &jp, 0, &want);
    events_free(&ev);
}
END_TEST

/* q8: persons who opened an auction in the 10 s window in which they registered. */
static struct rt_lines expected_q8(const struct events *ev)
{
    struct by_id persons = index_ids(ev->persons, ev->n_persons, sizeof *ev->persons, offsetof(struct person, id));
    bool *hit = calloc((size_t)persons.n + 1, 1);
    ck_assert(hit);
    for (size_t i = 0; i < ev->n_auctions; i++) {
        const struct auction *a = &ev->auctions[i];
        const struct person *p = find_id(&persons, a->seller);
        if (p && p->ts - p->ts % 10000 == a->ts - a->ts % 10000) hit[p->id - persons.lo] = true;
    }
    struct rt_lines want = {0};
    for (int64_t i = 0; i < persons.n; i++) {
        const struct person *p = persons.v[i];
        if (p && hit[i]) rt_lines_addf(&want, "%" PRId64 "\t%s\t%" PRId64, p->id, p->name, p->ts - p->ts % 10000);
    }
    free(hit);
    free(persons.v);
    return want;
}

/* 200 events a second: 40,000 events span 200 s, 20 windows. */
START_TEST(q8_new_users_per_window)
{
    struct job_params jp = {1, rt_backends[_i], 40000, 200, 0};
    struct events ev = generate(&jp, PERSONS | AUCTIONS);
    struct rt_lines want = expected_q8(&ev);
    ck_assert_uint_gt(want.n, 30);
    check_query("q8", &jp, 0, &want);
    events_free(&ev);
}
END_TEST

START_TEST(q8_at_parallelism_2)
{
    struct job_params jp = {2, rt_backends[_i], 40000, 200, 0};
    struct events ev = generate(&jp, PERSONS | AUCTIONS);
    struct rt_lines want = expected_q8(&ev);
    check_query("q8", &jp, 0, &want);
    events_free(&ev);
}
END_TEST

/* ======================= windows and top-n ======================= */

static int64_t floor_to(int64_t ts, int64_t size) { return ts - ((ts % size) + size) % size; }

/* q7: per tumbling 10 s window, the bids with the window's highest price. */
static struct rt_lines expected_q7(const struct events *ev)
{
    /* bids come in time order per subtask, but with P > 1 the subtasks' arrays interleave in
     * time: find each window's maximum first */
    struct smap win = {0};
    int64_t *max = NULL;
    for (size_t i = 0; i < ev->n_bids; i++) {
        char key[32];
        snprintf(key, sizeof key, "%" PRId64, floor_to(ev->bids[i].ts, 10000));
        bool added;
        size_t w = smap_get(&win, key, &added);
        if (added) max = grow(max, w, sizeof *max), max[w] = INT64_MIN;
        if (ev->bids[i].price > max[w]) max[w] = ev->bids[i].price;
    }
    struct rt_lines want = {0};
    for (size_t i = 0; i < ev->n_bids; i++) {
        const struct bid *b = &ev->bids[i];
        char key[32];
        snprintf(key, sizeof key, "%" PRId64, floor_to(b->ts, 10000));
        bool added;
        if (b->price == max[smap_get(&win, key, &added)])
            rt_lines_addf(&want, "%" PRId64 "\t%" PRId64 "\t%" PRId64 "\t%" PRId64 "\t%s", b->auction, b->price, b->bidder,
                          b->ts, b->extra);
    }
    free(max);
    smap_free(&win);
    return want;
}

/* 100 events a second: 20,000 events span 200 s, 20 windows. */
START_TEST(q7_highest_bid_per_window)
{
    struct job_params jp = {1, rt_backends[_i], 20000, 100, 0};
    struct events ev = generate(&jp, BIDS);
    struct rt_lines want = expected_q7(&ev);
    ck_assert_uint_ge(want.n, 20);
    check_query("q7", &jp, 0, &want);
    events_free(&ev);
}
END_TEST

START_TEST(q7_at_parallelism_2)
{
    struct job_params jp = {2, rt_backends[_i], 20000, 100, 0};
    struct events ev = generate(&jp, BIDS);
    struct rt_lines want = expected_q7(&ev);
    check_query("q7", &jp, 0, &want);
    events_free(&ev);
}
END_TEST

/* q5: per sliding window (10 s every 2 s), the auctions with the most bids. */
static struct rt_lines expected_q5(const struct events *ev)
{
    struct smap counts = {0}, windows = {0};
    int64_t *count = NULL, *best = NULL;
    for (size_t i = 0; i < ev->n_bids; i++) {
        const struct bid *b = &ev->bids[i];
        /* the windows holding ts: starts ts - ts mod 2 s, then every 2 s earlier while > ts - 10 s */
        for (int64_t start = floor_to(b->ts, 2000); start > b->ts - 10000; start -= 2000) {
            char key[64];
            bool added;
            snprintf(key, sizeof key, "%" PRId64 " %" PRId64, start, b->auction);
            size_t k = smap_get(&counts, key, &added);
            if (added) count = grow(count, k, sizeof *count), count[k] = 0;
            count[k]++;
            snprintf(key, sizeof key, "%" PRId64, start);
            size_t w = smap_get(&windows, key, &added);
            if (added) best = grow(best, w, sizeof *best), best[w] = 0;
            if (count[k] > best[w]) best[w] = count[k];
        }
    }
    struct rt_lines want = {0};
    for (size_t slot = 0; slot < counts.cap; slot++) {
        if (!counts.keys[slot]) continue;
        int64_t start, auction;
        ck_assert(sscanf(counts.keys[slot], "%" SCNd64 " %" SCNd64, &start, &auction) == 2);
        char key[32];
        bool added;
        snprintf(key, sizeof key, "%" PRId64, start);
        int64_t n = count[counts.index[slot]];
        if (n == best[smap_get(&windows, key, &added)]) rt_lines_addf(&want, "%" PRId64 "\t%" PRId64, auction, n);
    }
    free(count), free(best);
    smap_free(&counts), smap_free(&windows);
    return want;
}

/* 100 events a second: 20,000 events span 200 s, 100 windows. */
START_TEST(q5_hot_items_per_sliding_window)
{
    struct job_params jp = {1, rt_backends[_i], 20000, 100, 0};
    struct events ev = generate(&jp, BIDS);
    struct rt_lines want = expected_q5(&ev);
    ck_assert_uint_ge(want.n, 100);
    check_query("q5", &jp, 0, &want);
    events_free(&ev);
}
END_TEST

START_TEST(q5_at_parallelism_2)
{
    struct job_params jp = {2, rt_backends[_i], 20000, 100, 0};
    struct events ev = generate(&jp, BIDS);
    struct rt_lines want = expected_q5(&ev);
    check_query("q5", &jp, 0, &want);
    events_free(&ev);
}
END_TEST

/* q11: per bidder, sessions of bids at most 10 s apart: count, first bid, last bid + 10 s. */
struct bidder_time {
    int64_t bidder, ts;
};
static int cmp_bidder_time(const void *a, const void *b)
{
    const struct bidder_time *x = a, *y = b;
    if (x->bidder != y->bidder) return x->bidder < y->bidder ? -1 : 1;
    return (x->ts > y->ts) - (x->ts < y->ts);
}

static struct rt_lines expected_q11(const struct events *ev)
{
    struct bidder_time *bt = malloc((ev->n_bids + 1) * sizeof *bt);
    ck_assert(bt);
    for (size_t i = 0; i < ev->n_bids; i++) bt[i] = (struct bidder_time){ev->bids[i].bidder, ev->bids[i].ts};
    qsort(bt, ev->n_bids, sizeof *bt, cmp_bidder_time);
    struct rt_lines want = {0};
    for (size_t i = 0; i < ev->n_bids;) {
        /* a session: [first ts, last ts + gap); the next bid joins while ts <= its end (touching
         * sessions merge) */
        size_t j = i + 1;
        while (j < ev->n_bids && bt[j].bidder == bt[i].bidder && bt[j].ts <= bt[j - 1].ts + 10000) j++;
        rt_lines_addf(&want, "%" PRId64 "\t%zu\t%" PRId64 "\t%" PRId64, bt[i].bidder, j - i, bt[i].ts, bt[j - 1].ts + 10000);
        i = j;
    }
    free(bt);
    return want;
}

/* 20 events a second: 20,000 events span 1,000 s; the bidders that are not hot bid seconds
 * apart, so sessions both merge and split. */
START_TEST(q11_user_sessions)
{
    struct job_params jp = {1, rt_backends[_i], 20000, 20, 0};
    struct events ev = generate(&jp, BIDS);
    struct rt_lines want = expected_q11(&ev);
    check_query("q11", &jp, 0, &want);
    events_free(&ev);
}
END_TEST

START_TEST(q11_at_parallelism_2)
{
    struct job_params jp = {2, rt_backends[_i], 20000, 20, 0};
    struct events ev = generate(&jp, BIDS);
    struct rt_lines want = expected_q11(&ev);
    check_query("q11", &jp, 0, &want);
    events_free(&ev);
}
END_TEST

/* q12: processing-time windows: the rows depend on the clock, but every bid is counted once in
 * some 10 s window of its bidder. */
START_TEST(q12_processing_time_counts_add_up)
{
    struct job_params jp = {1, rt_backends[_i], 20000, 1000, 0};
    struct events ev = generate(&jp, BIDS);
    struct rt_lines got = run_query("q12", &jp), sums = {0}, want = {0};
    struct smap bidders = {0};
    int64_t *total = NULL;
    for (size_t i = 0; i < got.n; i++) {
        int64_t bidder, n, start, end;
        ck_assert_msg(sscanf(got.v[i], "%" SCNd64 "\t%" SCNd64 "\t%" SCNd64 "\t%" SCNd64, &bidder, &n, &start, &end) == 4,
                      "q12 row %s", got.v[i]);
        ck_assert_msg(end - start == 10000 && start % 10000 == 0 && n > 0, "q12 row %s", got.v[i]);
        char key[32];
        bool added;
        snprintf(key, sizeof key, "%" PRId64, bidder);
        size_t k = smap_get(&bidders, key, &added);
        if (added) total = grow(total, k, sizeof *total), total[k] = 0;
        total[k] += n;
    }
    for (size_t slot = 0; slot < bidders.cap; slot++)
        if (bidders.keys[slot]) rt_lines_addf(&sums, "%s\t%" PRId64, bidders.keys[slot], total[bidders.index[slot]]);
    free(total);
    smap_free(&bidders);
    struct bidder_time *bt = malloc((ev.n_bids + 1) * sizeof *bt);
    ck_assert(bt);
    for (size_t i = 0; i < ev.n_bids; i++) bt[i] = (struct bidder_time){ev.bids[i].bidder, 0};
    qsort(bt, ev.n_bids, sizeof *bt, cmp_bidder_time);
    for (size_t i = 0, j; i < ev.n_bids; i = j) {
        for (j = i; j < ev.n_bids && bt[j].bidder == bt[i].bidder; j++) continue;
        rt_lines_addf(&want, "%" PRId64 "\t%zu", bt[i].bidder, j - i);
    }
    free(bt);
    rows_expect("q12 (bids per bidder, summed over its windows)", &sums, &want);
    rt_lines_free(&got), rt_lines_free(&sums), rt_lines_free(&want);
    events_free(&ev);
}
END_TEST

/* q19: per auction its 10 highest bids, ranked; equal prices by arrival (P = 1: time order). */
static int cmp_bid_rank(const void *a, const void *b)
{
    const struct bid *x = *(const struct bid *const *)a, *y = *(const struct bid *const *)b;
    if (x->auction != y->auction) return x->auction < y->auction ? -1 : 1;
    if (x->price != y->price) return x->price > y->price ? -1 : 1;
    return x < y ? -1 : x > y; /* arrival order: the array's order */
}

START_TEST(q19_top_10_bids_per_auction)
{
    struct job_params jp = {1, rt_backends[_i], 20000, 1000, 0};
    struct events ev = generate(&jp, BIDS);
    const struct bid **order = malloc(ev.n_bids * sizeof *order);
    ck_assert(order);
    for (size_t i = 0; i < ev.n_bids; i++) order[i] = &ev.bids[i];
    qsort(order, ev.n_bids, sizeof *order, cmp_bid_rank);
    struct rt_lines want = {0};
    for (size_t i = 0, rank = 0; i < ev.n_bids; i++) {
        const struct bid *b = order[i];
        rank = i > 0 && order[i - 1]->auction == b->auction ? rank + 1 : 1;
        if (rank <= 10)
            rt_lines_addf(&want, "%" PRId64 "\t%" PRId64 "\t%" PRId64 "\t%s\t%s\t%" PRId64 "\t%s\t%zu", b->auction,
                          b->bidder, b->price, b->channel, b->url, b->ts, b->extra, rank);
    }
    free(order);
    check_query("q19", &jp, 0, &want);
    events_free(&ev);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("nexmark");
    TCase *tc = tcase_create("nexmark");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, q14_calculation);
    tcase_add_test(tc, q21_channel_ids_from_names_and_urls);
    tcase_add_test(tc, q22_url_directories);
    tcase_add_loop_test(tc, q15_daily_bid_statistics, 0, 2);
    tcase_add_loop_test(tc, q16_channel_statistics_per_day, 0, 2);
    tcase_add_loop_test(tc, q17_auction_statistics_per_day, 0, 2);
    tcase_add_loop_test(tc, q17_at_parallelism_2, 0, 2);
    tcase_add_loop_test(tc, q18_last_bid_per_bidder_and_auction, 0, 2);
    tcase_add_loop_test(tc, q3_local_item_suggestion, 0, 2);
    tcase_add_loop_test(tc, q3_at_parallelism_2, 0, 2);
    tcase_add_loop_test(tc, q20_bids_with_their_auction, 0, 2);
    tcase_add_loop_test(tc, q13_bids_with_side_input, 0, 2);
    tcase_add_loop_test(tc, q4_average_final_price_per_category, 0, 2);
    tcase_add_loop_test(tc, q4_at_parallelism_2, 0, 2);
    tcase_add_loop_test(tc, q9_winning_bids, 0, 2);
    tcase_add_loop_test(tc, q8_new_users_per_window, 0, 2);
    tcase_add_loop_test(tc, q8_at_parallelism_2, 0, 2);
    tcase_add_loop_test(tc, q7_highest_bid_per_window, 0, 2);
    tcase_add_loop_test(tc, q7_at_parallelism_2, 0, 2);
    tcase_add_loop_test(tc, q19_top_10_bids_per_auction, 0, 2);
    tcase_add_loop_test(tc, q5_hot_items_per_sliding_window, 0, 2);
    tcase_add_loop_test(tc, q5_at_parallelism_2, 0, 2);
    tcase_add_loop_test(tc, q11_user_sessions, 0, 2);
    tcase_add_loop_test(tc, q11_at_parallelism_2, 0, 2);
    tcase_add_loop_test(tc, q12_processing_time_counts_add_up, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}

TU_MAIN(make_suite)
