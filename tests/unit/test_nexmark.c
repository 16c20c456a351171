/*
 * test_nexmark.c — Check suite "nexmark": the Nexmark event generator (nexmark_gen.h).
 *
 * Checks the rules of the reference generator as /work/shared/nexmark.md states them (kinds by
 * event id, ids, hot keys, prices, categories, channels, strings, times) and the library's own
 * contract: determinism, seek, bounded streams split over instances, the `all` schema's nulls,
 * generators of different kinds agreeing, and batches that pass rn_batch_validate. Statistical
 * checks use 100k events and tolerances wide enough never to fail by chance.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "nexmark_gen.h"

#define BASE 1436918400000ll

/* Assertions that call into Check only when they fail: Check records every passing ck_assert
 * (a write per call), which made the loops over 100k events spend seconds in the kernel. */
#define CHECK(cond) do { if (!(cond)) ck_abort_msg("Assertion '%s' failed", #cond); } while (0)
#define CHECK_MSG(cond, ...) do { if (!(cond)) ck_abort_msg(__VA_ARGS__); } while (0)
#define CHECK_CMP(T, F, a, op, b)                                                                    \
    do {                                                                                            \
        T x_ = (a), y_ = (b);                                                                       \
        if (!(x_ op y_)) ck_abort_msg("Assertion '%s %s %s' failed: " F " vs " F, #a, #op, #b, x_, y_); \
    } while (0)
#define CHECK_INT(a, op, b) CHECK_CMP(long long, "%lld", a, op, b)
#define CHECK_UINT(a, op, b) CHECK_CMP(unsigned long long, "%llu", a, op, b)

static struct rn_nexmark_config config(uint64_t events, uint32_t p, uint32_t index)
{
    struct rn_nexmark_config c;
    rn_nexmark_config_default(&c);
    c.events = events;
    c.num_generators = p;
    c.index = index;
    return c;
}

static rn_nexmark_gen *make(const struct rn_nexmark_config *c, enum rn_nexmark_kind kind)
{
    rn_nexmark_gen *g = rn_nexmark_gen_create(c, kind);
    ck_assert_ptr_nonnull(g);
    return g;
}

static void validate(const struct rn_batch *b)
{
    struct rn_error err;
    rn_error_clear(&err);
    CHECK_MSG(rn_batch_validate(b, &err) == 0, "invalid batch: %s", err.msg);
}

/* A batch of up to rows rows of g's kind, filled by next() calls of `chunk` rows (the last
 * smaller), validated. Fewer rows only at the end of a bounded stream. */
static struct rn_batch *take_chunked(rn_nexmark_gen *g, enum rn_nexmark_kind kind, uint32_t rows, uint32_t chunk)
{
    struct rn_batch *b = rn_batch_new(rn_nexmark_schema(kind), rows);
    ck_assert_ptr_nonnull(b);
    while (b->n_rows < rows) {
        uint32_t want = rows - b->n_rows < chunk ? rows - b->n_rows : chunk;
        uint32_t before = b->n_rows;
        int n = rn_nexmark_gen_next(g, b, want);
        CHECK_INT(n, >=, 0);
        CHECK_UINT(b->n_rows, ==, before + (uint32_t)n);
        if (n == 0) break;
    }
    validate(b);
    return b;
}

static struct rn_batch *take(rn_nexmark_gen *g, enum rn_nexmark_kind kind, uint32_t rows)
{
    return take_chunked(g, kind, rows, 4096);
}

/* Generates rows events of kind with a fresh generator of config c. */
static struct rn_batch *generate(const struct rn_nexmark_config *c, enum rn_nexmark_kind kind, uint32_t rows)
{
    rn_nexmark_gen *g = make(c, kind);
    struct rn_batch *b = take(g, kind, rows);
    rn_nexmark_gen_destroy(g);
    return b;
}

static const struct rn_column *col(const struct rn_batch *b, const char *name)
{
    int i = rn_schema_find(b->schema, name);
    CHECK_MSG(i >= 0, "no column %s", name);
    return &b->cols[i];
}

static int64_t I(const struct rn_batch *b, const char *name, uint32_t row) { return rn_col_i64(col(b, name), row); }
static struct rn_str S(const struct rn_batch *b, const char *name, uint32_t row) { return rn_col_str(col(b, name), row); }

static bool str_is(struct rn_str s, const char *want) { return s.len == strlen(want) && memcmp(s.ptr, want, s.len) == 0; }
static bool str_eq(struct rn_str a, struct rn_str b) { return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0); }

/* Kind of event id e by the reference rule: 0 person, 1 auction, 2 bid. */
static int kind_of(uint64_t e) { return e % 50 < 1 ? 0 : e % 50 < 4 ? 1 : 2; }

/* Column offset of a kind's group in the `all` schema. */
static uint32_t group_base(enum rn_nexmark_kind k) { return k == RN_NEXMARK_PERSON ? 2 : k == RN_NEXMARK_AUCTION ? 10 : 20; }

/* Row ra of the single-kind batch a equals row rb of the `all` batch b (its group's columns). */
static bool row_matches_all(const struct rn_batch *a, uint32_t ra, const struct rn_batch *b, uint32_t rb,
                            enum rn_nexmark_kind k)
{
    uint32_t base = group_base(k);
    for (uint32_t c = 0; c < a->n_cols; c++) {
        const struct rn_column *x = &a->cols[c], *y = &b->cols[base + c];
        if (rn_column_is_null(y, rb)) return false;
        if (x->type.id == RN_T_STRING) {
            if (!str_eq(rn_col_str(x, ra), rn_col_str(y, rb))) return false;
        } else if (rn_col_i64(x, ra) != rn_col_i64(y, rb)) {
            return false;
        }
    }
    return true;
}

/* Row ra of a equals row rb of b (same schema). */
static bool rows_equal(const struct rn_batch *a, uint32_t ra, const struct rn_batch *b, uint32_t rb)
{
    for (uint32_t c = 0; c < a->n_cols; c++) {
        const struct rn_column *x = &a->cols[c], *y = &b->cols[c];
        if (rn_column_is_null(x, ra) != rn_column_is_null(y, rb)) return false;
        if (rn_column_is_null(x, ra)) continue;
        if (x->type.id == RN_T_STRING) {
            if (!str_eq(rn_col_str(x, ra), rn_col_str(y, rb))) return false;
        } else if (rn_col_i64(x, ra) != rn_col_i64(y, rb)) {
            return false;
        }
    }
    return true;
}

static const enum rn_nexmark_kind all_kinds[] = {RN_NEXMARK_PERSON, RN_NEXMARK_AUCTION, RN_NEXMARK_BID, RN_NEXMARK_ALL};

/* ---- schemas and configuration ---- */

START_TEST(test_schemas_match_header)
{
    char buf[2048];
    ck_assert_str_eq(rn_schema_describe(rn_nexmark_schema(RN_NEXMARK_PERSON), buf, sizeof buf),
                     "id int64 not null, name string not null, email_address string not null, "
                     "credit_card string not null, city string not null, state string not null, "
                     "date_time timestamp not null, extra string not null");
    ck_assert_str_eq(rn_schema_describe(rn_nexmark_schema(RN_NEXMARK_AUCTION), buf, sizeof buf),
                     "id int64 not null, item_name string not null, description string not null, "
                     "initial_bid int64 not null, reserve int64 not null, date_time timestamp not null, "
                     "expires timestamp not null, seller int64 not null, category int64 not null, "
                     "extra string not null");
    ck_assert_str_eq(rn_schema_describe(rn_nexmark_schema(RN_NEXMARK_BID), buf, sizeof buf),
                     "auction int64 not null, bidder int64 not null, price int64 not null, "
                     "channel string not null, url string not null, date_time timestamp not null, "
                     "extra string not null");
    const rn_schema *all = rn_nexmark_schema(RN_NEXMARK_ALL);
    CHECK_UINT(rn_schema_len(all), ==, 27);
    ck_assert_str_eq(rn_schema_field(all, 0)->name, "event_type");
    CHECK(!rn_schema_field(all, 0)->nullable);
    ck_assert_str_eq(rn_schema_field(all, 1)->name, "date_time");
    CHECK_INT(rn_schema_find(all, "person_id"), ==, 2);
    CHECK_INT(rn_schema_find(all, "person_extra"), ==, 9);
    CHECK_INT(rn_schema_find(all, "auction_id"), ==, 10);
    CHECK_INT(rn_schema_find(all, "auction_extra"), ==, 19);
    CHECK_INT(rn_schema_find(all, "bid_auction"), ==, 20);
    CHECK_INT(rn_schema_find(all, "bid_extra"), ==, 26);
    for (size_t i = 2; i < 27; i++) CHECK(rn_schema_field(all, i)->nullable);
    ck_assert_ptr_eq(rn_nexmark_schema(RN_NEXMARK_BID), rn_nexmark_schema(RN_NEXMARK_BID));
}
END_TEST

START_TEST(test_bad_config_is_rejected)
{
    struct rn_nexmark_config c = config(0, 0, 0);
    ck_assert_ptr_null(rn_nexmark_gen_create(&c, RN_NEXMARK_BID));
    c = config(0, 2, 2);
    ck_assert_ptr_null(rn_nexmark_gen_create(&c, RN_NEXMARK_BID));
    c = config(0, 1, 0);
    c.rate = 0;
    ck_assert_ptr_null(rn_nexmark_gen_create(&c, RN_NEXMARK_BID));
    c = config(0, 1, 0);
    ck_assert_ptr_null(rn_nexmark_gen_create(&c, (enum rn_nexmark_kind)7));
    ck_assert_ptr_null(rn_nexmark_gen_create(NULL, RN_NEXMARK_BID));
}
END_TEST

START_TEST(test_config_defaults)
{
    struct rn_nexmark_config c;
    memset(&c, 0xab, sizeof c);
    rn_nexmark_config_default(&c);
    CHECK_UINT(c.seed, ==, 0);
    CHECK_UINT(c.events, ==, 0);
    CHECK_UINT(c.rate, ==, 10000000);
    CHECK_INT(c.base_time, ==, BASE);
    CHECK_UINT(c.num_generators, ==, 1);
    CHECK_UINT(c.index, ==, 0);
}
END_TEST

START_TEST(test_next_rejects_bad_batches)
{
    struct rn_nexmark_config c = config(0, 1, 0);
    rn_nexmark_gen *g = make(&c, RN_NEXMARK_BID);
    struct rn_batch *wrong = rn_batch_new(rn_nexmark_schema(RN_NEXMARK_PERSON), 16);
    CHECK_INT(rn_nexmark_gen_next(g, wrong, 16), ==, RN_EINVAL);
    struct rn_batch *b = rn_batch_new(rn_nexmark_schema(RN_NEXMARK_BID), 16);
    CHECK_INT(rn_nexmark_gen_next(g, b, 0), ==, 0);
    CHECK_INT(rn_nexmark_gen_next(g, b, 100), ==, 16); /* clamped to the room left */
    CHECK_INT(rn_nexmark_gen_next(g, b, 1), ==, RN_ERANGE);
    validate(b);
    rn_batch_unref(b);
    rn_batch_unref(wrong);
    rn_nexmark_gen_destroy(g);
}
END_TEST

/* ---- kinds and ids ---- */

START_TEST(test_proportions_exact_per_epoch)
{
    struct rn_nexmark_config c = config(0, 1, 0);
    struct rn_batch *b = generate(&c, RN_NEXMARK_ALL, 50 * 400);
    for (uint32_t epoch = 0; epoch < 400; epoch++) {
        int n[3] = {0, 0, 0};
        for (uint32_t i = 0; i < 50; i++) n[I(b, "event_type", epoch * 50 + i)]++;
        CHECK_INT(n[0], ==, 1);
        CHECK_INT(n[1], ==, 3);
        CHECK_INT(n[2], ==, 46);
    }
    rn_batch_unref(b);
}
END_TEST

START_TEST(test_kind_follows_event_id)
{
    /* P = 1: row k is event k. P = 3 over 3100 events: instance 1 holds events 1033 .. 2065. */
    struct rn_nexmark_config c = config(0, 1, 0);
    struct rn_batch *b = generate(&c, RN_NEXMARK_ALL, 5000);
    for (uint32_t k = 0; k < b->n_rows; k++) CHECK_INT(I(b, "event_type", k), ==, kind_of(k));
    rn_batch_unref(b);
    c = config(3100, 3, 1);
    b = generate(&c, RN_NEXMARK_ALL, 5000);
    CHECK_UINT(b->n_rows, ==, 1033);
    for (uint32_t k = 0; k < b->n_rows; k++) CHECK_INT(I(b, "event_type", k), ==, kind_of(1033 + k));
    rn_batch_unref(b);
}
END_TEST

START_TEST(test_first_ids)
{
    struct rn_nexmark_config c = config(0, 1, 0);
    struct rn_batch *p = generate(&c, RN_NEXMARK_PERSON, 100);
    struct rn_batch *a = generate(&c, RN_NEXMARK_AUCTION, 300);
    for (uint32_t i = 0; i < p->n_rows; i++) CHECK_INT(I(p, "id", i), ==, 1000 + i);
    for (uint32_t i = 0; i < a->n_rows; i++) CHECK_INT(I(a, "id", i), ==, 1000 + i);
    rn_batch_unref(p);
    rn_batch_unref(a);
    /* The first bids (events 4 ..) come after person 1000 and auctions 1000 .. 1002. */
    struct rn_batch *b = generate(&c, RN_NEXMARK_BID, 46);
    for (uint32_t i = 0; i < b->n_rows; i++) {
        CHECK_INT(I(b, "auction", i), >=, 1000);
        CHECK_INT(I(b, "auction", i), <=, 1002);
        CHECK_INT(I(b, "bidder", i), >=, 1000);
    }
    rn_batch_unref(b);
}
END_TEST

/* Walks an `all` batch tracking the newest person and auction ids. */
struct walk {
    int64_t newest_person, newest_auction;
};

static void walk_step(struct walk *w, const struct rn_batch *b, uint32_t k)
{
    if (I(b, "event_type", k) == 0) {
        CHECK_INT(I(b, "person_id", k), ==, w->newest_person + 1);
        w->newest_person = I(b, "person_id", k);
    } else if (I(b, "event_type", k) == 1) {
        CHECK_INT(I(b, "auction_id", k), ==, w->newest_auction + 1);
        w->newest_auction = I(b, "auction_id", k);
    }
}

START_TEST(test_bids_reference_existing_ids)
{
    struct rn_nexmark_config c = config(0, 1, 0);
    struct rn_batch *b = generate(&c, RN_NEXMARK_ALL, 100000);
    struct walk w = {999, 999};
    for (uint32_t k = 0; k < b->n_rows; k++) {
        walk_step(&w, b, k);
        int64_t t = I(b, "event_type", k);
        if (t == 1) {
            CHECK_INT(I(b, "auction_seller", k), >=, 1000);
            CHECK_INT(I(b, "auction_seller", k), <=, w.newest_person + 10);
            CHECK_INT(I(b, "auction_seller", k), >=, w.newest_person - 1000);
        } else if (t == 2) {
            int64_t a = I(b, "bid_auction", k), p = I(b, "bid_bidder", k);
            CHECK_INT(a, >=, 1000);
            CHECK_INT(a, <=, w.newest_auction);
            CHECK_INT(a, >=, w.newest_auction - 100);
            CHECK_INT(p, >=, 1000);
            CHECK_INT(p, <=, w.newest_person + 10); /* the reference's lead of 10 ids */
            CHECK_INT(p, >=, w.newest_person - 1000);
        }
    }
    rn_batch_unref(b);
}
END_TEST

START_TEST(test_hot_key_rates)
{
    struct rn_nexmark_config c = config(0, 1, 0);
    struct rn_batch *b = generate(&c, RN_NEXMARK_ALL, 100000);
    struct walk w = {999, 999};
    uint32_t bids = 0, auctions = 0, hot_auction = 0, hot_bidder = 0, hot_seller = 0;
    for (uint32_t k = 0; k < b->n_rows; k++) {
        walk_step(&w, b, k);
        int64_t hot_p = (w.newest_person - 1000) / 100 * 100 + 1000;
        int64_t hot_a = (w.newest_auction - 1000) / 100 * 100 + 1000;
        if (I(b, "event_type", k) == 1) {
            auctions++;
            hot_seller += I(b, "auction_seller", k) == hot_p;
        } else if (I(b, "event_type", k) == 2) {
            bids++;
            hot_auction += I(b, "bid_auction", k) == hot_a;
            hot_bidder += I(b, "bid_bidder", k) == hot_p + 1;
        }
    }
    double ra = (double)hot_auction / bids, rb = (double)hot_bidder / bids, rs = (double)hot_seller / auctions;
    CHECK_MSG(ra > 0.47 && ra < 0.56, "hot auctions %.3f, want ~1/2", ra);
    CHECK_MSG(rb > 0.72 && rb < 0.79, "hot bidders %.3f, want ~3/4", rb);
    CHECK_MSG(rs > 0.70 && rs < 0.80, "hot sellers %.3f, want ~3/4", rs);
    rn_batch_unref(b);
}
END_TEST

/* ---- values ---- */

START_TEST(test_price_range)
{
    struct rn_nexmark_config c = config(0, 1, 0);
    struct rn_batch *b = generate(&c, RN_NEXMARK_BID, 100000);
    uint32_t below_mid = 0;
    for (uint32_t i = 0; i < b->n_rows; i++) {
        int64_t p = I(b, "price", i);
        CHECK_INT(p, >=, 100);
        CHECK_INT(p, <=, 100000000);
        below_mid += p < 100000; /* 10^(U*6)*100 < 10^5 iff U < 1/2 */
    }
    double r = (double)below_mid / b->n_rows;
    CHECK_MSG(r > 0.48 && r < 0.52, "%.3f of prices below 10^5, want ~1/2 (log-uniform)", r);
    rn_batch_unref(b);
    struct rn_batch *a = generate(&c, RN_NEXMARK_AUCTION, 10000);
    for (uint32_t i = 0; i < a->n_rows; i++) {
        CHECK_INT(I(a, "initial_bid", i), >=, 100);
        CHECK_INT(I(a, "initial_bid", i), <=, 100000000);
        CHECK_INT(I(a, "reserve", i) - I(a, "initial_bid", i), >=, 100);
        CHECK_INT(I(a, "reserve", i) - I(a, "initial_bid", i), <=, 100000000);
    }
    rn_batch_unref(a);
}
END_TEST

START_TEST(test_category_range)
{
    struct rn_nexmark_config c = config(0, 1, 0);
    struct rn_batch *a = generate(&c, RN_NEXMARK_AUCTION, 10000);
    uint32_t seen[5] = {0};
    for (uint32_t i = 0; i < a->n_rows; i++) {
        int64_t cat = I(a, "category", i);
        CHECK_INT(cat, >=, 10);
        CHECK_INT(cat, <=, 14);
        seen[cat - 10]++;
    }
    for (int i = 0; i < 5; i++) CHECK_MSG(seen[i] > 1800 && seen[i] < 2200, "category %d: %u of 10000", 10 + i, seen[i]);
    rn_batch_unref(a);
}
END_TEST

static bool has_prefix(struct rn_str s, const char *p) { return s.len >= strlen(p) && memcmp(s.ptr, p, strlen(p)) == 0; }
static bool has_suffix(struct rn_str s, const char *p)
{
    size_t n = strlen(p);
    return s.len >= n && memcmp(s.ptr + s.len - n, p, n) == 0;
}
static bool contains(struct rn_str s, const char *p) { return memmem(s.ptr, s.len, p, strlen(p)) != NULL; }

START_TEST(test_channel_and_url_rules)
{
    static const char *hot[] = {"Google", "Facebook", "Baidu", "Apple"};
    struct rn_nexmark_config c = config(0, 1, 0);
    struct rn_batch *b = generate(&c, RN_NEXMARK_BID, 100000);
    struct rn_str hot_url[4] = {{0}};
    uint32_t hot_n[4] = {0}, hot_total = 0, with_id = 0, distinct = 0;
    struct rn_str *url_of = calloc(10000, sizeof *url_of);
    for (uint32_t i = 0; i < b->n_rows; i++) {
        struct rn_str ch = S(b, "channel", i), url = S(b, "url", i);
        CHECK(has_prefix(url, "https://www.nexmark.com/"));
        int h = -1;
        for (int k = 0; k < 4; k++)
            if (str_is(ch, hot[k])) h = k;
        if (h >= 0) {
            hot_total++;
            hot_n[h]++;
            if (hot_url[h].ptr) CHECK(str_eq(hot_url[h], url)); /* one fixed URL per hot channel */
            hot_url[h] = url;
            CHECK(has_suffix(url, "/item.htm?query=1"));
            continue;
        }
        char name[32];
        CHECK(has_prefix(ch, "channel-") && ch.len < sizeof name);
        memcpy(name, ch.ptr, ch.len);
        name[ch.len] = 0;
        char *end;
        long id = strtol(name + 8, &end, 10);
        CHECK(*end == 0 && id >= 0 && id < 10000);
        if (url_of[id].ptr) {
            CHECK(str_eq(url_of[id], url)); /* one URL per channel */
            continue;
        }
        url_of[id] = url;
        distinct++;
        char want[48];
        snprintf(want, sizeof want, "/item.htm?query=1&channel_id=%ld", id);
        if (has_suffix(url, want)) with_id++;
        else CHECK(has_suffix(url, "/item.htm?query=1") && !contains(url, "channel_id"));
    }
    double rh = (double)hot_total / b->n_rows, rid = (double)with_id / distinct;
    CHECK_MSG(rh > 0.48 && rh < 0.52, "hot channels %.3f, want ~1/2", rh);
    for (int k = 0; k < 4; k++) CHECK_MSG(hot_n[k] > hot_total / 5, "hot channel %s: %u of %u", hot[k], hot_n[k], hot_total);
    CHECK_UINT(distinct, >, 9000);
    CHECK_MSG(rid > 0.85 && rid < 0.95, "%.3f of channel URLs carry channel_id, want ~0.9", rid);
    /* The four hot URLs differ. */
    for (int x = 0; x < 4; x++)
        for (int y = x + 1; y < 4; y++) CHECK(!str_eq(hot_url[x], hot_url[y]));
    free(url_of);
    rn_batch_unref(b);
}
END_TEST

static bool all_letters(struct rn_str s, bool spaces)
{
    for (uint32_t i = 0; i < s.len; i++)
        if (!((s.ptr[i] >= 'a' && s.ptr[i] <= 'z') || (spaces && s.ptr[i] == ' '))) return false;
    return true;
}

static bool in_list(struct rn_str s, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (str_is(s, list[i])) return true;
    return false;
}

START_TEST(test_person_strings)
{
    static const char *first[] = {"Peter", "Paul", "Luke", "John", "Saul", "Vicky", "Kate", "Julie", "Sarah", "Deiter", "Walter"};
    static const char *last[] = {"Shultz", "Abrams", "Spencer", "White", "Bartels", "Walton", "Smith", "Jones", "Noris"};
    static const char *cities[] = {"Phoenix", "Los Angeles", "San Francisco", "Boise", "Portland", "Bend", "Redmond", "Seattle", "Kent", "Cheyenne"};
    static const char *states[] = {"AZ", "CA", "ID", "OR", "WA", "WY"};
    struct rn_nexmark_config c = config(0, 1, 0);
    struct rn_batch *p = generate(&c, RN_NEXMARK_PERSON, 5000);
    double size = 0;
    for (uint32_t i = 0; i < p->n_rows; i++) {
        struct rn_str name = S(p, "name", i), email = S(p, "email_address", i), card = S(p, "credit_card", i);
        struct rn_str city = S(p, "city", i), state = S(p, "state", i), extra = S(p, "extra", i);
        const char *sp = memchr(name.ptr, ' ', name.len);
        ck_assert_ptr_nonnull(sp);
        uint32_t fl = (uint32_t)(sp - name.ptr);
        CHECK(in_list((struct rn_str){name.ptr, fl}, first, 11));
        CHECK(in_list((struct rn_str){sp + 1, name.len - fl - 1}, last, 9));
        CHECK(in_list(city, cities, 10));
        CHECK(in_list(state, states, 6));
        CHECK_UINT(card.len, ==, 19);
        for (uint32_t k = 0; k < 19; k++) CHECK(k % 5 == 4 ? card.ptr[k] == ' ' : (card.ptr[k] >= '0' && card.ptr[k] <= '9'));
        const char *at = memchr(email.ptr, '@', email.len);
        ck_assert_ptr_nonnull(at);
        CHECK(has_suffix(email, ".com"));
        CHECK(all_letters((struct rn_str){email.ptr, (uint32_t)(at - email.ptr)}, true));
        CHECK(all_letters((struct rn_str){at + 1, (uint32_t)(email.ptr + email.len - 4 - at - 1)}, true));
        CHECK(all_letters(extra, false));
        size += 8 + name.len + email.len + card.len + city.len + state.len + extra.len;
    }
    size /= p->n_rows;
    CHECK_MSG(size > 190 && size < 210, "average person size %.1f, want ~200", size);
    rn_batch_unref(p);
}
END_TEST

START_TEST(test_auction_and_bid_strings)
{
    struct rn_nexmark_config c = config(0, 1, 0);
    struct rn_batch *a = generate(&c, RN_NEXMARK_AUCTION, 5000);
    double size = 0;
    for (uint32_t i = 0; i < a->n_rows; i++) {
        struct rn_str name = S(a, "item_name", i), desc = S(a, "description", i), extra = S(a, "extra", i);
        CHECK_UINT(name.len, <=, 19);
        CHECK_UINT(desc.len, <=, 99);
        CHECK(all_letters(name, true) && all_letters(desc, true) && all_letters(extra, false));
        if (name.len) CHECK(name.ptr[0] != ' ' && name.ptr[name.len - 1] != ' ');
        if (desc.len) CHECK(desc.ptr[0] != ' ' && desc.ptr[desc.len - 1] != ' ');
        size += 8 + name.len + desc.len + 40 + extra.len;
    }
    size /= a->n_rows;
    CHECK_MSG(size > 490 && size < 510, "average auction size %.1f, want ~500", size);
    rn_batch_unref(a);
    struct rn_batch *b = generate(&c, RN_NEXMARK_BID, 20000);
    size = 0;
    for (uint32_t i = 0; i < b->n_rows; i++) {
        struct rn_str extra = S(b, "extra", i);
        CHECK_UINT(extra.len, >=, 54);
        CHECK_UINT(extra.len, <=, 81);
        CHECK(all_letters(extra, false));
        size += 32 + extra.len;
    }
    size /= b->n_rows;
    CHECK_MSG(size > 98 && size < 102, "average bid size %.1f, want ~100", size);
    rn_batch_unref(b);
}
END_TEST

/* ---- time ---- */

static int64_t want_time(uint64_t k, uint64_t p, uint64_t rate)
{
    return BASE + (int64_t)((unsigned __int128)k * p * 1000000 / rate / 1000);
}

START_TEST(test_date_time_formula_one_instance)
{
    static const uint64_t rates[] = {10000000, 3, 7, 1000, 999983};
    for (size_t r = 0; r < sizeof rates / sizeof rates[0]; r++) {
        struct rn_nexmark_config c = config(0, 1, 0);
        c.rate = rates[r];
        struct rn_batch *b = generate(&c, RN_NEXMARK_ALL, 20000);
        for (uint32_t k = 0; k < b->n_rows; k++) {
            int64_t t = I(b, "date_time", k);
            CHECK_INT(t, ==, want_time(k, 1, rates[r]));
            if (k) CHECK_INT(t, >=, I(b, "date_time", k - 1));
            const char *own = kind_of(k) == 0 ? "person_date_time" : kind_of(k) == 1 ? "auction_date_time" : "bid_date_time";
            CHECK_INT(I(b, own, k), ==, t);
        }
        rn_batch_unref(b);
    }
}
END_TEST

START_TEST(test_date_time_formula_two_instances)
{
    for (uint32_t i = 0; i < 2; i++) {
        struct rn_nexmark_config c = config(10001, 2, i);
        c.rate = 7;
        struct rn_batch *b = generate(&c, RN_NEXMARK_ALL, 6000);
        CHECK_UINT(b->n_rows, ==, i == 0 ? 5000 : 5001);
        CHECK_INT(I(b, "date_time", 0), ==, BASE); /* each instance starts at base_time */
        for (uint32_t k = 0; k < b->n_rows; k++) CHECK_INT(I(b, "date_time", k), ==, want_time(k, 2, 7));
        rn_batch_unref(b);
        /* A single-kind generator stamps its events with the same timeline. */
        c.rate = 10000000;
        struct rn_batch *all = generate(&c, RN_NEXMARK_ALL, 6000);
        struct rn_batch *bids = generate(&c, RN_NEXMARK_BID, 6000);
        uint32_t j = 0;
        for (uint32_t k = 0; k < all->n_rows; k++)
            if (I(all, "event_type", k) == 2) CHECK_INT(I(bids, "date_time", j++), ==, want_time(k, 2, 10000000));
        CHECK_UINT(j, ==, bids->n_rows);
        rn_batch_unref(all);
        rn_batch_unref(bids);
    }
}
END_TEST

START_TEST(test_auction_expires_within_two_horizons)
{
    /* At 1000 events/s the horizon (1666 events ahead) is 1666 ms. */
    struct rn_nexmark_config c = config(0, 1, 0);
    c.rate = 1000;
    struct rn_batch *a = generate(&c, RN_NEXMARK_AUCTION, 5000);
    double mean = 0;
    for (uint32_t i = 0; i < a->n_rows; i++) {
        int64_t span = I(a, "expires", i) - I(a, "date_time", i);
        CHECK_INT(span, >=, 1);
        CHECK_INT(span, <=, 2 * 1666);
        mean += (double)span;
    }
    mean /= a->n_rows;
    CHECK_MSG(mean > 1500 && mean < 1830, "mean auction length %.0f ms, want ~1666", mean);
    rn_batch_unref(a);
    /* At the default 10M events/s the horizon rounds to 0 or 1 ms: expires is 1 or 2 ms later. */
    c.rate = 10000000;
    a = generate(&c, RN_NEXMARK_AUCTION, 5000);
    for (uint32_t i = 0; i < a->n_rows; i++) {
        int64_t span = I(a, "expires", i) - I(a, "date_time", i);
        CHECK(span == 1 || span == 2);
    }
    rn_batch_unref(a);
}
END_TEST

/* ---- determinism and seek ---- */

START_TEST(test_same_config_same_bytes)
{
    for (size_t k = 0; k < 4; k++) {
        struct rn_nexmark_config c = config(0, 1, 0);
        c.seed = 42;
        struct rn_batch *a = generate(&c, all_kinds[k], 10000);
        struct rn_batch *b = generate(&c, all_kinds[k], 10000);
        CHECK_UINT(a->n_rows, ==, b->n_rows);
        for (uint32_t i = 0; i < a->n_rows; i++) CHECK_MSG(rows_equal(a, i, b, i), "kind %zu row %u differs", k, i);
        rn_batch_unref(a);
        rn_batch_unref(b);
    }
}
END_TEST

START_TEST(test_seed_changes_output)
{
    struct rn_nexmark_config c0 = config(0, 1, 0), c1 = config(0, 1, 0);
    c1.seed = 1;
    /* Both alive at once: they hold different string pools. */
    rn_nexmark_gen *g0 = make(&c0, RN_NEXMARK_BID), *g1 = make(&c1, RN_NEXMARK_BID);
    struct rn_batch *a = take(g0, RN_NEXMARK_BID, 1000), *b = take(g1, RN_NEXMARK_BID, 1000);
    uint32_t same_price = 0, same_extra = 0, same_row = 0;
    for (uint32_t i = 0; i < 1000; i++) {
        same_price += I(a, "price", i) == I(b, "price", i);
        same_extra += str_eq(S(a, "extra", i), S(b, "extra", i));
        same_row += rows_equal(a, i, b, i);
    }
    CHECK_UINT(same_price, <, 50);
    CHECK_UINT(same_extra, <, 5);
    CHECK_UINT(same_row, ==, 0);
    rn_batch_unref(a);
    rn_batch_unref(b);
    rn_nexmark_gen_destroy(g0);
    rn_nexmark_gen_destroy(g1);
}
END_TEST

START_TEST(test_seek_equals_skipping)
{
    /* The `all` stream is the reference: its row k is event k. seek(p) on a generator of kind K
     * must give the events of kind K from event p on. */
    static const uint64_t ps[] = {0, 1, 3, 4, 49, 50, 51, 1000, 4095, 4096, 4097, 12345, 29000};
    struct rn_nexmark_config c = config(0, 1, 0);
    c.seed = 7;
    struct rn_batch *ref = generate(&c, RN_NEXMARK_ALL, 50000); /* enough for 300 persons after 29000 */
    for (size_t k = 0; k < 4; k++) {
        enum rn_nexmark_kind kind = all_kinds[k];
        rn_nexmark_gen *g = make(&c, kind);
        for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++) {
            CHECK_INT(rn_nexmark_gen_seek(g, ps[i]), ==, 0);
            CHECK_UINT(rn_nexmark_gen_position(g), ==, ps[i]);
            struct rn_batch *b = take(g, kind, 300);
            uint32_t r = 0;
            for (uint32_t e = (uint32_t)ps[i]; e < ref->n_rows && r < b->n_rows; e++) {
                if (kind != RN_NEXMARK_ALL && kind_of(e) != (int)kind) continue;
                bool ok = kind == RN_NEXMARK_ALL ? rows_equal(b, r, ref, e) : row_matches_all(b, r, ref, e, kind);
                CHECK_MSG(ok, "kind %d seek %llu: row %u is not event %u", kind, (unsigned long long)ps[i], r, e);
                r++;
            }
            CHECK_UINT(r, ==, b->n_rows);
            rn_batch_unref(b);
        }
        rn_nexmark_gen_destroy(g);
    }
    rn_batch_unref(ref);
}
END_TEST

START_TEST(test_seek_to_position_mid_batch)
{
    /* Positions taken from a generator in the middle of filling a batch resume exactly there. */
    static const uint32_t chunks[] = {1, 7, 100, 1000};
    struct rn_nexmark_config c = config(0, 1, 0);
    for (size_t k = 0; k < 4; k++) {
        enum rn_nexmark_kind kind = all_kinds[k];
        struct rn_batch *ref = generate(&c, kind, 3000);
        for (size_t ci = 0; ci < 4; ci++) {
            rn_nexmark_gen *g = make(&c, kind);
            struct rn_batch *b = rn_batch_new(rn_nexmark_schema(kind), 3000);
            uint32_t done = 0;
            while (done < 2500) {
                uint64_t pos = rn_nexmark_gen_position(g);
                rn_nexmark_gen *h = make(&c, kind);
                CHECK_INT(rn_nexmark_gen_seek(h, pos), ==, 0);
                struct rn_batch *rest = take(h, kind, 10);
                for (uint32_t r = 0; r < rest->n_rows; r++) CHECK(rows_equal(rest, r, ref, done + r));
                rn_batch_unref(rest);
                rn_nexmark_gen_destroy(h);
                int n = rn_nexmark_gen_next(g, b, chunks[ci]);
                CHECK_INT(n, ==, (int)chunks[ci]);
                done += (uint32_t)n;
            }
            for (uint32_t r = 0; r < b->n_rows; r++) CHECK(rows_equal(b, r, ref, r));
            validate(b);
            rn_batch_unref(b);
            rn_nexmark_gen_destroy(g);
        }
        rn_batch_unref(ref);
    }
}
END_TEST

START_TEST(test_seek_beyond_end_is_an_error)
{
    struct rn_nexmark_config c = config(1000, 1, 0);
    rn_nexmark_gen *g = make(&c, RN_NEXMARK_BID);
    CHECK_INT(rn_nexmark_gen_seek(g, 1001), ==, RN_ERANGE);
    CHECK_INT(rn_nexmark_gen_seek(g, 1000), ==, 0);
    struct rn_batch *b = rn_batch_new(rn_nexmark_schema(RN_NEXMARK_BID), 16);
    CHECK_INT(rn_nexmark_gen_next(g, b, 16), ==, 0);
    CHECK_INT(rn_nexmark_gen_seek(g, 990), ==, 0); /* events 990 .. 999 are bids */
    CHECK_INT(rn_nexmark_gen_next(g, b, 16), ==, 10);
    CHECK_INT(rn_nexmark_gen_next(g, b, 6), ==, 0);
    rn_batch_unref(b);
    rn_nexmark_gen_destroy(g);
}
END_TEST

/* ---- bounded streams and instances ---- */

START_TEST(test_bounded_stream_ends_exactly)
{
    static const uint32_t ps[] = {1, 2, 3, 7, 50};
    const uint64_t events = 12345;
    for (size_t pi = 0; pi < sizeof ps / sizeof ps[0]; pi++) {
        uint64_t total = 0, by_kind = 0;
        for (uint32_t i = 0; i < ps[pi]; i++) {
            struct rn_nexmark_config c = config(events, ps[pi], i);
            uint64_t want = i == ps[pi] - 1 ? events - (ps[pi] - 1) * (events / ps[pi]) : events / ps[pi];
            for (size_t k = 0; k < 4; k++) {
                rn_nexmark_gen *g = make(&c, all_kinds[k]);
                struct rn_batch *b = take_chunked(g, all_kinds[k], 13000, 333);
                CHECK_UINT(rn_nexmark_gen_position(g), ==, want);
                struct rn_batch *more = rn_batch_new(rn_nexmark_schema(all_kinds[k]), 8);
                CHECK_INT(rn_nexmark_gen_next(g, more, 8), ==, 0);
                CHECK_INT(rn_nexmark_gen_next(g, more, 8), ==, 0);
                if (all_kinds[k] == RN_NEXMARK_ALL) {
                    CHECK_UINT(b->n_rows, ==, want);
                    total += b->n_rows;
                } else {
                    by_kind += b->n_rows;
                }
                rn_batch_unref(more);
                rn_batch_unref(b);
                rn_nexmark_gen_destroy(g);
            }
        }
        CHECK_UINT(total, ==, events);
        CHECK_UINT(by_kind, ==, events);
    }
}
END_TEST

START_TEST(test_instances_have_disjoint_ids)
{
    /* Bounded: instance 1 of 2 over 10000 events starts at event 5000 (person 1100). Unbounded:
     * instance 1 starts at event 2^48 (its first person is the next multiple of 50). */
    struct rn_nexmark_config c = config(10000, 2, 1);
    struct rn_batch *p = generate(&c, RN_NEXMARK_PERSON, 10);
    CHECK_INT(I(p, "id", 0), ==, 1000 + 5000 / 50);
    rn_batch_unref(p);
    c = config(0, 2, 1);
    p = generate(&c, RN_NEXMARK_PERSON, 10);
    CHECK_INT(I(p, "id", 0), ==, 1000 + (int64_t)(((1ull << 48) + 49) / 50)); /* first person event */
    CHECK_INT(I(p, "date_time", 0), ==, BASE);
    rn_batch_unref(p);
    c = config(0, 2, 0);
    p = generate(&c, RN_NEXMARK_PERSON, 10);
    CHECK_INT(I(p, "id", 0), ==, 1000);
    rn_batch_unref(p);
}
END_TEST

START_TEST(test_all_schema_null_pattern)
{
    struct rn_nexmark_config c = config(0, 1, 0);
    rn_nexmark_gen *g = make(&c, RN_NEXMARK_ALL);
    struct rn_batch *b = take_chunked(g, RN_NEXMARK_ALL, 1000, 77);
    for (uint32_t k = 0; k < b->n_rows; k++) {
        int t = kind_of(k);
        CHECK_INT(I(b, "event_type", k), ==, t);
        CHECK(!rn_column_is_null(&b->cols[0], k) && !rn_column_is_null(&b->cols[1], k));
        for (uint32_t cidx = 2; cidx < 27; cidx++) {
            int group = cidx < 10 ? 0 : cidx < 20 ? 1 : 2;
            CHECK_MSG(rn_column_is_null(&b->cols[cidx], k) == (group != t), "row %u column %u", k, cidx);
        }
    }
    rn_batch_unref(b);
    rn_nexmark_gen_destroy(g);
}
END_TEST

START_TEST(test_single_kind_rows_match_all)
{
    /* A generator of one kind gives exactly the rows of that kind of the `all` stream. */
    struct rn_nexmark_config c = config(0, 1, 0);
    c.seed = 99;
    struct rn_batch *ref = generate(&c, RN_NEXMARK_ALL, 20000);
    for (size_t k = 0; k < 3; k++) {
        struct rn_batch *b = generate(&c, all_kinds[k], 20000);
        uint32_t r = 0;
        for (uint32_t e = 0; e < ref->n_rows; e++) {
            if (kind_of(e) != (int)all_kinds[k]) continue;
            CHECK_MSG(row_matches_all(b, r, ref, e, all_kinds[k]), "kind %zu row %u", k, r);
            r++;
        }
        rn_batch_unref(b);
    }
    rn_batch_unref(ref);
}
END_TEST

START_TEST(test_kinds_agree_on_ids)
{
    /* Over the first 50,000 events: 1,000 persons (1000 .. 1999), 3,000 auctions (1000 .. 3999). */
    struct rn_nexmark_config c = config(50000, 1, 0);
    struct rn_batch *p = generate(&c, RN_NEXMARK_PERSON, 5000);
    struct rn_batch *a = generate(&c, RN_NEXMARK_AUCTION, 5000);
    struct rn_batch *b = generate(&c, RN_NEXMARK_BID, 50000);
    CHECK_UINT(p->n_rows, ==, 1000);
    CHECK_UINT(a->n_rows, ==, 3000);
    CHECK_UINT(b->n_rows, ==, 46000);
    bool *person = calloc(3000, 1), *auction = calloc(5000, 1);
    for (uint32_t i = 0; i < p->n_rows; i++) person[I(p, "id", i) - 1000] = true;
    for (uint32_t i = 0; i < a->n_rows; i++) auction[I(a, "id", i) - 1000] = true;
    for (uint32_t i = 0; i < a->n_rows; i++) {
        int64_t s = I(a, "seller", i);
        if (s <= 1999) CHECK(person[s - 1000]);
    }
    for (uint32_t i = 0; i < b->n_rows; i++) {
        int64_t x = I(b, "auction", i), y = I(b, "bidder", i);
        CHECK(x >= 1000 && x <= 3999 && auction[x - 1000]);
        CHECK(y >= 1000 && y <= 1999 + 10);
        if (y <= 1999) CHECK(person[y - 1000]);
    }
    free(person);
    free(auction);
    rn_batch_unref(p);
    rn_batch_unref(a);
    rn_batch_unref(b);
}
END_TEST

START_TEST(test_batches_validate)
{
    /* Batches filled over several calls, appended to, and read after the generator is gone. */
    struct rn_nexmark_config c = config(0, 1, 0);
    for (size_t k = 0; k < 4; k++) {
        rn_nexmark_gen *g = make(&c, all_kinds[k]);
        struct rn_batch *b = rn_batch_new(rn_nexmark_schema(all_kinds[k]), RN_BATCH_ROWS);
        static const uint32_t sizes[] = {1, 2, 3, 500, 1, 1000, 4096};
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0] && b->n_rows < b->capacity; s++) {
            int n = rn_nexmark_gen_next(g, b, sizes[s]);
            CHECK_INT(n, >, 0);
            validate(b);
        }
        CHECK_UINT(b->n_rows, ==, RN_BATCH_ROWS);
        struct rn_batch *c2 = take_chunked(g, all_kinds[k], 10000, 4096);
        rn_nexmark_gen_destroy(g);
        validate(b);
        validate(c2);
        /* Strings still readable: sum the bytes of every string. */
        unsigned long sum = 0;
        for (uint32_t cidx = 0; cidx < c2->n_cols; cidx++) {
            if (c2->cols[cidx].type.id != RN_T_STRING) continue;
            for (uint32_t r = 0; r < c2->n_rows; r++) {
                struct rn_str v = rn_col_str(&c2->cols[cidx], r);
                for (uint32_t i = 0; i < v.len; i++) sum += (unsigned char)v.ptr[i];
            }
        }
        CHECK_UINT(sum, >, 0);
        rn_batch_unref(b);
        rn_batch_unref(c2);
    }
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("nexmark");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_schemas_match_header);
    tcase_add_test(tc, test_bad_config_is_rejected);
    tcase_add_test(tc, test_config_defaults);
    tcase_add_test(tc, test_next_rejects_bad_batches);
    tcase_add_test(tc, test_proportions_exact_per_epoch);
    tcase_add_test(tc, test_kind_follows_event_id);
    tcase_add_test(tc, test_first_ids);
    tcase_add_test(tc, test_bids_reference_existing_ids);
    tcase_add_test(tc, test_hot_key_rates);
    tcase_add_test(tc, test_price_range);
    tcase_add_test(tc, test_category_range);
    tcase_add_test(tc, test_channel_and_url_rules);
    tcase_add_test(tc, test_person_strings);
    tcase_add_test(tc, test_auction_and_bid_strings);
    tcase_add_test(tc, test_date_time_formula_one_instance);
    tcase_add_test(tc, test_date_time_formula_two_instances);
    tcase_add_test(tc, test_auction_expires_within_two_horizons);
    tcase_add_test(tc, test_same_config_same_bytes);
    tcase_add_test(tc, test_seed_changes_output);
    tcase_add_test(tc, test_seek_equals_skipping);
    tcase_add_test(tc, test_seek_to_position_mid_batch);
    tcase_add_test(tc, test_seek_beyond_end_is_an_error);
    tcase_add_test(tc, test_bounded_stream_ends_exactly);
    tcase_add_test(tc, test_instances_have_disjoint_ids);
    tcase_add_test(tc, test_all_schema_null_pattern);
    tcase_add_test(tc, test_single_kind_rows_match_all);
    tcase_add_test(tc, test_kinds_agree_on_ids);
    tcase_add_test(tc, test_batches_validate);
    suite_add_tcase(s, tc);
    return s;
}

TU_MAIN(make_suite)
