/*
 * nexmark_gen.c — the Nexmark event generator (see nexmark_gen.h and /work/shared/nexmark.md).
 *
 * The rules follow the reference generator (nexmark/nexmark, after Apache Beam's Nexmark):
 * event n is a person when n % 50 < 1, an auction when < 4, else a bid; the newest person and
 * auction ids are derived from n (lastBase0PersonId / lastBase0AuctionId); hot auctions, hot
 * sellers and hot bidders are the newest id rounded down to a multiple of 100; prices are
 * round(10^(U*6) * 100); and so on, rule by rule below. Deliberate differences from the
 * reference, each for a reason:
 *   - Randomness is our own: every event draws from a splitmix64 stream seeded by (seed, event
 *     id), so an event is a pure function of (config, event id). seek() is O(1), generators of
 *     different kinds agree on every event, and parallel instances are independent.
 *   - A bid's non-hot auction is drawn from the last numInFlightAuctions (100) auctions up to
 *     the newest one: no lead of not-yet-created auctions (the reference allows 10), so a bid
 *     never names an auction that does not exist yet. Bidders and sellers keep the reference's
 *     lead of 10 person ids, and the hot bidder is the rounded id + 1 as in the reference (so
 *     that hot bidders and hot sellers differ).
 *   - The URL of "channel-<i>" carries "&channel_id=<i>" (9 times in 10, decided once per
 *     channel from the seed); the reference writes a bit-reversed i. URL paths and the four
 *     hot channels' URLs are drawn from the seed, not from an unseeded Random.
 *   - Event time is integer arithmetic: the k-th event of an instance has date_time =
 *     base_time + floor(k * P * 1000 / rate) ms (= k * (1e6/rate * P) us rounded down to ms).
 *
 * Speed (the q0 target is >= 10M events/s per core): no allocation per event. Random letter
 * strings (`extra`, item names, descriptions, e-mail parts) are views at random offsets into
 * pools of random letters built once per seed; names, cities, states, the 10,000 channel names
 * and their URLs are precomputed strings in the same buffer, so a bid's three strings are
 * zero-copy views. That one buffer (about 6 MiB) is shared by every generator of the process
 * with the same seed (a small mutex-protected cache) and kept alive by the batches whose
 * columns point into it (rn_column_add_dep). Only a person's e-mail address and credit card
 * are formatted per event, and copied into the column arena (rn_batch_set_str).
 *
 * Splitting: bounded streams (events > 0) give instance i of P the ids [i*q, i*q + q) with
 * q = events / P, the last instance taking the remainder. Unbounded streams give instance i
 * the ids from i * W on, W = 2^48 (2^62 / P when P > 2^14): at 10M events/s one instance
 * would take 326 days to run into the next instance's ids.
 *
 * Assumes a 64-bit platform with unsigned __int128 (gcc, clang) and the batch/buffer contracts
 * of runnel/batch.h.
 */
#include "nexmark_gen.h"

#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runnel/buffer.h"
#include "runnel/error.h"
#include "runnel/types.h"

/* ---- constants of the reference generator ---- */

#define PROP_PERSON 1
#define PROP_AUCTION 3
#define PROP_TOTAL 50
#define FIRST_PERSON_ID 1000
#define FIRST_AUCTION_ID 1000
#define FIRST_CATEGORY_ID 10
#define NUM_CATEGORIES 5
#define NUM_ACTIVE_PEOPLE 1000
#define PERSON_ID_LEAD 10
#define NUM_IN_FLIGHT_AUCTIONS 100
#define HOT_RATIO 100                /* hot ids are rounded down to a multiple of this */
#define NUM_CHANNELS 10000
#define AVG_PERSON_BYTES 200
#define AVG_AUCTION_BYTES 500
#define AVG_BID_BYTES 100
/* Events until numInFlightAuctions more auctions have been generated: the "horizon". */
#define HORIZON_EVENTS ((uint64_t)NUM_IN_FLIGHT_AUCTIONS * PROP_TOTAL / PROP_AUCTION)

#define DEFAULT_RATE 10000000ull
#define DEFAULT_BASE_TIME 1436918400000ll

/* ---- the shared string buffer ---- */

#define LETTER_POOL (4u << 20)       /* letters only: `extra` */
#define SPACED_POOL (1u << 20)       /* letters with a space 1 time in 13: names, descriptions */
#define CONST_MAX (1u << 20)         /* precomputed strings */
#define POOL_SLACK 1024u             /* a view never starts in the last POOL_SLACK bytes */

static const char *const first_names[] = {"Peter", "Paul", "Luke", "John", "Saul", "Vicky",
                                          "Kate", "Julie", "Sarah", "Deiter", "Walter"};
static const char *const last_names[] = {"Shultz", "Abrams", "Spencer", "White", "Bartels",
                                         "Walton", "Smith", "Jones", "Noris"};
static const char *const cities[] = {"Phoenix", "Los Angeles", "San Francisco", "Boise", "Portland",
                                     "Bend", "Redmond", "Seattle", "Kent", "Cheyenne"};
static const char *const states[] = {"AZ", "CA", "ID", "OR", "WA", "WY"};
static const char *const hot_channels[] = {"Google", "Facebook", "Baidu", "Apple"};

#define N_FIRST (sizeof first_names / sizeof first_names[0])
#define N_LAST (sizeof last_names / sizeof last_names[0])
#define N_NAMES (N_FIRST * N_LAST)
#define N_CITIES (sizeof cities / sizeof cities[0])
#define N_STATES (sizeof states / sizeof states[0])
#define N_HOT (sizeof hot_channels / sizeof hot_channels[0])

struct shared {
    uint64_t seed;
    unsigned users;
    struct shared *next;
    rn_buf *buf;                 /* letters, spaced letters, then the constant strings */
    const char *letters, *spaced;
    struct rn_str names[N_NAMES], cities[N_CITIES], states[N_STATES];
    struct rn_str hot_channel[N_HOT], hot_url[N_HOT];
    struct rn_str channel[NUM_CHANNELS], url[NUM_CHANNELS];
};

static pthread_mutex_t shared_lock = PTHREAD_MUTEX_INITIALIZER;
static struct shared *shared_list;

/* ---- randomness: splitmix64 ---- */

static inline uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

struct rng {
    uint64_t s;
};

static inline uint64_t rng_next(struct rng *r)
{
    r->s += 0x9e3779b97f4a7c15ull;
    return mix64(r->s);
}

/* Uniform in [0, n) from 64 random bits (multiply-high; the bias is below 2^-32 for our n). */
static inline uint64_t below(uint64_t x, uint64_t n) { return (uint64_t)(((unsigned __int128)x * n) >> 64); }
/* Uniform in [0, n) from 32 random bits, n < 2^32. */
static inline uint32_t below32(uint32_t x, uint32_t n) { return (uint32_t)(((uint64_t)x * n) >> 32); }

static inline uint64_t seed_key(uint64_t seed) { return mix64(seed ^ 0x6a09e667f3bcc909ull); }

/* The stream of event e. */
static inline struct rng event_rng(uint64_t key, uint64_t e)
{
    return (struct rng){mix64(e * 0xd1342543de82ef95ull ^ key)};
}

/* ---- building the shared buffer ---- */

struct writer {
    char *base, *at, *end;
};

static struct rn_str put(struct writer *w, const char *s, size_t len)
{
    if ((size_t)(w->end - w->at) < len) return (struct rn_str){NULL, 0}; /* cannot happen: CONST_MAX */
    memcpy(w->at, s, len);
    struct rn_str v = {w->at, (uint32_t)len};
    w->at += len;
    return v;
}

/* The reference's nextString(maxLength = 5, special = '_') used in URL paths: 3 or 4 characters,
 * each '_' with probability 1/13, else a letter. */
static size_t url_segment(struct rng *r, char *out)
{
    size_t len = 3 + (rng_next(r) & 1);
    for (size_t i = 0; i < len; i++) {
        uint64_t x = rng_next(r);
        out[i] = below32((uint32_t)x, 13) == 0 ? '_' : (char)('a' + below32((uint32_t)(x >> 32), 26));
    }
    return len;
}

static size_t base_url(struct rng *r, char *out)
{
    static const char head[] = "https://www.nexmark.com/", tail[] = "item.htm?query=1";
    size_t n = 0;
    memcpy(out, head, sizeof head - 1);
    n += sizeof head - 1;
    for (int s = 0; s < 3; s++) {
        n += url_segment(r, out + n);
        out[n++] = '/';
    }
    memcpy(out + n, tail, sizeof tail - 1);
    return n + sizeof tail - 1;
}

/* Appends the decimal digits of v to out; returns their number. */
static size_t put_uint(char *out, uint32_t v)
{
    char tmp[10];
    size_t n = 0;
    do tmp[n++] = (char)('0' + v % 10); while ((v /= 10) != 0);
    for (size_t i = 0; i < n; i++) out[i] = tmp[n - 1 - i];
    return n;
}

static struct shared *shared_build(uint64_t seed)
{
    struct shared *sh = calloc(1, sizeof *sh);
    if (!sh) return NULL;
    sh->seed = seed;
    sh->buf = rn_buf_alloc((size_t)LETTER_POOL + SPACED_POOL + CONST_MAX);
    if (!sh->buf) {
        free(sh);
        return NULL;
    }
    char *d = rn_buf_data(sh->buf);
    struct rng r = {seed_key(seed) ^ 0x3c6ef372fe94f82bull};

    /* Letters: four per draw, from 16-bit chunks, assembled in a word and stored at once (byte
     * stores through a char pointer could alias the state, and a byte array read back as a
     * word stalls store forwarding: both made this loop several times slower). Bytes go in
     * memory order on either endianness. */
    uint64_t st = r.s;
    for (size_t i = 0; i < LETTER_POOL; i += 4) {
        st += 0x9e3779b97f4a7c15ull;
        uint64_t x = mix64(st);
        uint32_t w = 0;
        for (int k = 0; k < 4; k++) w |= (uint32_t)('a' + ((((x >> (16 * k)) & 0xffff) * 26) >> 16)) << (8 * k);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        w = __builtin_bswap32(w);
#endif
        memcpy(d + i, &w, 4);
    }
    sh->letters = d;
    /* Letters with an occasional space (1 in 13, as the reference's nextString): two per draw,
     * each from a 16-bit chunk for the space and one for the letter. */
    char *sp = d + LETTER_POOL;
    for (size_t i = 0; i < SPACED_POOL; i += 2) {
        st += 0x9e3779b97f4a7c15ull;
        uint64_t x = mix64(st);
        uint16_t w = 0;
        for (int k = 0; k < 2; k++) {
            uint64_t a = (x >> (32 * k)) & 0xffff, c = (x >> (32 * k + 16)) & 0xffff;
            uint16_t ch = ((a * 13) >> 16) == 0 ? ' ' : (uint16_t)('a' + ((c * 26) >> 16));
            w |= (uint16_t)(ch << (8 * k));
        }
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        w = __builtin_bswap16(w);
#endif
        memcpy(sp + i, &w, 2);
    }
    r.s = st;
    sh->spaced = sp;

    struct writer w = {sp + SPACED_POOL, sp + SPACED_POOL, sp + SPACED_POOL + CONST_MAX};
    char tmp[128];
    for (size_t f = 0; f < N_FIRST; f++)
        for (size_t l = 0; l < N_LAST; l++) {
            size_t a = strlen(first_names[f]), b = strlen(last_names[l]);
            memcpy(tmp, first_names[f], a);
            tmp[a] = ' ';
            memcpy(tmp + a + 1, last_names[l], b);
            sh->names[f * N_LAST + l] = put(&w, tmp, a + 1 + b);
        }
    for (size_t i = 0; i < N_CITIES; i++) sh->cities[i] = put(&w, cities[i], strlen(cities[i]));
    for (size_t i = 0; i < N_STATES; i++) sh->states[i] = put(&w, states[i], strlen(states[i]));
    for (size_t i = 0; i < N_HOT; i++) {
        sh->hot_channel[i] = put(&w, hot_channels[i], strlen(hot_channels[i]));
        sh->hot_url[i] = put(&w, tmp, base_url(&r, tmp));
    }
    for (uint32_t i = 0; i < NUM_CHANNELS; i++) {
        memcpy(tmp, "channel-", 8);
        sh->channel[i] = put(&w, tmp, 8 + put_uint(tmp + 8, i));
        size_t len = base_url(&r, tmp);
        if (below32((uint32_t)rng_next(&r), 10) > 0) {
            memcpy(tmp + len, "&channel_id=", 12);
            len += 12 + put_uint(tmp + len + 12, i);
        }
        sh->url[i] = put(&w, tmp, len);
    }
    return sh;
}

/* The shared buffer of this seed, built on first use. */
static struct shared *shared_get(uint64_t seed)
{
    pthread_mutex_lock(&shared_lock);
    struct shared *sh = shared_list;
    while (sh && sh->seed != seed) sh = sh->next;
    if (!sh && (sh = shared_build(seed)) != NULL) {
        sh->next = shared_list;
        shared_list = sh;
    }
    if (sh) sh->users++;
    pthread_mutex_unlock(&shared_lock);
    return sh;
}

static void shared_put(struct shared *sh)
{
    pthread_mutex_lock(&shared_lock);
    if (--sh->users == 0) {
        struct shared **p = &shared_list;
        while (*p != sh) p = &(*p)->next;
        *p = sh->next;
        rn_buf_unref(sh->buf); /* batches still pointing into it hold their own references */
        free(sh);
    }
    pthread_mutex_unlock(&shared_lock);
}

/* ---- schemas ---- */

struct fdef {
    const char *name;
    enum rn_type_id type;
};

static const struct fdef person_fields[] = {
    {"id", RN_T_INT64},     {"name", RN_T_STRING},       {"email_address", RN_T_STRING},
    {"credit_card", RN_T_STRING}, {"city", RN_T_STRING}, {"state", RN_T_STRING},
    {"date_time", RN_T_TIMESTAMP}, {"extra", RN_T_STRING},
};
static const struct fdef auction_fields[] = {
    {"id", RN_T_INT64},          {"item_name", RN_T_STRING}, {"description", RN_T_STRING},
    {"initial_bid", RN_T_INT64}, {"reserve", RN_T_INT64},    {"date_time", RN_T_TIMESTAMP},
    {"expires", RN_T_TIMESTAMP}, {"seller", RN_T_INT64},     {"category", RN_T_INT64},
    {"extra", RN_T_STRING},
};
static const struct fdef bid_fields[] = {
    {"auction", RN_T_INT64}, {"bidder", RN_T_INT64},        {"price", RN_T_INT64},
    {"channel", RN_T_STRING}, {"url", RN_T_STRING},         {"date_time", RN_T_TIMESTAMP},
    {"extra", RN_T_STRING},
};
#define N_PERSON_F (sizeof person_fields / sizeof person_fields[0])
#define N_AUCTION_F (sizeof auction_fields / sizeof auction_fields[0])
#define N_BID_F (sizeof bid_fields / sizeof bid_fields[0])

/* Column offsets of each group in the `all` schema. */
#define ALL_PERSON 2u
#define ALL_AUCTION (ALL_PERSON + (uint32_t)N_PERSON_F)
#define ALL_BID (ALL_AUCTION + (uint32_t)N_AUCTION_F)
#define ALL_COLS (ALL_BID + (uint32_t)N_BID_F)

static rn_schema *schemas[4];
static pthread_once_t schemas_once = PTHREAD_ONCE_INIT;

static int add_fields(rn_schema *s, const char *prefix, const struct fdef *f, size_t n, bool nullable)
{
    char name[64];
    for (size_t i = 0; i < n; i++) {
        snprintf(name, sizeof name, "%s%s", prefix, f[i].name);
        int rc = rn_schema_add(s, name, rn_type_of(f[i].type), nullable);
        if (rc) return rc;
    }
    return 0;
}

static rn_schema *make_schema(enum rn_nexmark_kind kind)
{
    rn_schema *s = rn_schema_create();
    if (!s) return NULL;
    int rc = 0;
    switch (kind) {
    case RN_NEXMARK_PERSON: rc = add_fields(s, "", person_fields, N_PERSON_F, false); break;
    case RN_NEXMARK_AUCTION: rc = add_fields(s, "", auction_fields, N_AUCTION_F, false); break;
    case RN_NEXMARK_BID: rc = add_fields(s, "", bid_fields, N_BID_F, false); break;
    case RN_NEXMARK_ALL:
        rc = rn_schema_add(s, "event_type", rn_type_of(RN_T_INT64), false);
        if (!rc) rc = rn_schema_add(s, "date_time", rn_type_of(RN_T_TIMESTAMP), false);
        if (!rc) rc = add_fields(s, "person_", person_fields, N_PERSON_F, true);
        if (!rc) rc = add_fields(s, "auction_", auction_fields, N_AUCTION_F, true);
        if (!rc) rc = add_fields(s, "bid_", bid_fields, N_BID_F, true);
        break;
    }
    if (rc) {
        rn_schema_unref(s);
        return NULL;
    }
    return s;
}

static void make_schemas(void)
{
    for (int k = RN_NEXMARK_PERSON; k <= RN_NEXMARK_ALL; k++) schemas[k] = make_schema((enum rn_nexmark_kind)k);
}

const rn_schema *rn_nexmark_schema(enum rn_nexmark_kind kind)
{
    if ((unsigned)kind > RN_NEXMARK_ALL) return NULL;
    pthread_once(&schemas_once, make_schemas);
    return schemas[kind];
}

/* ---- the generator ---- */

struct rn_nexmark_gen {
    struct rn_nexmark_config cfg;
    enum rn_nexmark_kind kind;
    const rn_schema *schema;
    struct shared *sh;
    uint64_t key;                    /* seed_key(cfg.seed) */
    uint64_t first, count;           /* event ids [first, first + count); count UINT64_MAX = unbounded */
    uint64_t pos;                    /* events generated or skipped */
    uint64_t tq, tr;                 /* pos * step = tq * rate + tr, step = P * 1000 */
    uint64_t step;
    uint64_t adv_q[PROP_TOTAL + 1], adv_r[PROP_TOTAL + 1]; /* d * step = adv_q[d] * rate + adv_r[d] */
    uint64_t hor_q, hor_r;           /* HORIZON_EVENTS * step, likewise */
};

void rn_nexmark_config_default(struct rn_nexmark_config *c)
{
    *c = (struct rn_nexmark_config){
        .seed = 0, .events = 0, .rate = DEFAULT_RATE, .base_time = DEFAULT_BASE_TIME,
        .num_generators = 1, .index = 0,
    };
}

rn_nexmark_gen *rn_nexmark_gen_create(const struct rn_nexmark_config *c, enum rn_nexmark_kind kind)
{
    if (!c || c->num_generators == 0 || c->index >= c->num_generators || c->rate == 0 ||
        (unsigned)kind > RN_NEXMARK_ALL)
        return NULL;
    const rn_schema *schema = rn_nexmark_schema(kind);
    if (!schema) return NULL;
    rn_nexmark_gen *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    g->cfg = *c;
    g->kind = kind;
    g->schema = schema;
    g->key = seed_key(c->seed);
    uint64_t p = c->num_generators;
    if (c->events) {
        uint64_t q = c->events / p;
        g->first = c->index * q;
        g->count = c->index == p - 1 ? c->events - (p - 1) * q : q;
    } else {
        uint64_t width = p <= (1u << 14) ? (uint64_t)1 << 48 : ((uint64_t)1 << 62) / p;
        g->first = c->index * width;
        g->count = UINT64_MAX;
    }
    g->step = p * 1000;
    for (uint64_t d = 0; d <= PROP_TOTAL; d++) {
        g->adv_q[d] = d * g->step / c->rate;
        g->adv_r[d] = d * g->step % c->rate;
    }
    g->hor_q = HORIZON_EVENTS * g->step / c->rate;
    g->hor_r = HORIZON_EVENTS * g->step % c->rate;
    g->sh = shared_get(c->seed);
    if (!g->sh) {
        free(g);
        return NULL;
    }
    return g;
}

void rn_nexmark_gen_destroy(rn_nexmark_gen *g)
{
    if (!g) return;
    shared_put(g->sh);
    free(g);
}

uint64_t rn_nexmark_gen_position(const rn_nexmark_gen *g) { return g->pos; }

int rn_nexmark_gen_seek(rn_nexmark_gen *g, uint64_t position)
{
    if (!g) return RN_EINVAL;
    if (position > g->count) return RN_ERANGE;
    unsigned __int128 t = (unsigned __int128)position * g->step;
    unsigned __int128 q = t / g->cfg.rate;
    if (q > (unsigned __int128)INT64_MAX) return RN_ERANGE;
    g->pos = position;
    g->tq = (uint64_t)q;
    g->tr = (uint64_t)(t % g->cfg.rate);
    return 0;
}

/* ---- events ---- */

/* Where the generator stands: event id e = epoch * 50 + off, and its time. */
struct cursor {
    uint64_t pos, e, epoch, tq, tr;
    uint32_t off;
};

static inline void cursor_advance(const rn_nexmark_gen *g, struct cursor *c, uint32_t d)
{
    c->pos += d;
    c->e += d;
    c->off += d;
    if (c->off >= PROP_TOTAL) {
        c->off -= PROP_TOTAL;
        c->epoch++;
    }
    uint64_t rate = g->cfg.rate, r = g->adv_r[d];
    c->tq += g->adv_q[d];
    if (c->tr >= rate - r) {
        c->tr -= rate - r;
        c->tq++;
    } else {
        c->tr += r;
    }
}

/* Events to skip from offset off to the next event of this kind (0: off is one). */
static inline uint32_t skip_to_kind(enum rn_nexmark_kind kind, uint32_t off)
{
    switch (kind) {
    case RN_NEXMARK_PERSON: return off < PROP_PERSON ? 0 : PROP_TOTAL - off;
    case RN_NEXMARK_AUCTION:
        if (off < PROP_PERSON) return PROP_PERSON - off;
        return off < PROP_PERSON + PROP_AUCTION ? 0 : PROP_TOTAL + PROP_PERSON - off;
    case RN_NEXMARK_BID: return off < PROP_PERSON + PROP_AUCTION ? PROP_PERSON + PROP_AUCTION - off : 0;
    default: return 0;
    }
}

/* lastBase0PersonId: with one person per epoch at offset 0, the newest person is the epoch's. */
static inline uint64_t last_person0(const struct cursor *c) { return c->epoch; }

/* lastBase0AuctionId for an auction or bid event (never called for a person event). */
static inline uint64_t last_auction0(const struct cursor *c)
{
    uint64_t off = c->off >= PROP_PERSON + PROP_AUCTION ? PROP_AUCTION - 1 : c->off - PROP_PERSON;
    return c->epoch * PROP_AUCTION + off;
}

/* nextBase0PersonId: one of the last numActivePeople people, or up to PERSON_ID_LEAD ahead. */
static inline uint64_t random_person0(uint64_t last0, uint32_t x)
{
    uint64_t num = last0 + 1, active = num < NUM_ACTIVE_PEOPLE ? num : NUM_ACTIVE_PEOPLE;
    return num - active + below32(x, (uint32_t)(active + PERSON_ID_LEAD));
}

/* round(10^(U*6) * 100), U uniform in [0, 1): 100 .. 100,000,000, log-uniform. */
static inline int64_t next_price(struct rng *r)
{
    double u = (double)(rng_next(r) >> 11) * 0x1p-53;
    return (int64_t)(exp(u * 13.815510557964274 /* 6 ln 10 */) * 100.0 + 0.5);
}

/* The reference's nextExtra: letters padding the event to about avg bytes, length uniform in
 * [d - delta, d + delta) with d = avg - current, delta = round(d / 5). */
static inline struct rn_str next_extra(const struct shared *sh, struct rng *r, uint32_t current, uint32_t avg)
{
    if (current > avg) return (struct rn_str){sh->letters, 0};
    uint32_t d = avg - current, delta = (2 * d + 5) / 10;
    uint64_t x = rng_next(r);
    uint32_t len = d - delta + (delta ? below32((uint32_t)x, 2 * delta) : 0);
    return (struct rn_str){sh->letters + below32((uint32_t)(x >> 32), LETTER_POOL - POOL_SLACK), len};
}

/* The reference's nextString(maxLength): 3 + uniform(maxLength - 3) characters, letters with an
 * occasional space, trimmed. */
static inline struct rn_str next_string(const struct shared *sh, struct rng *r, uint32_t max_len)
{
    uint64_t x = rng_next(r);
    uint32_t len = 3 + below32((uint32_t)x, max_len - 3);
    const char *p = sh->spaced + below32((uint32_t)(x >> 32), SPACED_POOL - POOL_SLACK);
    while (len && *p == ' ') p++, len--;
    while (len && p[len - 1] == ' ') len--;
    return (struct rn_str){p, len};
}

struct person {
    int64_t id;
    struct rn_str name, city, state, extra;
    uint32_t email_len;
    char email[16];       /* at most 6 + 1 + 4 + 4 */
    char card[19];        /* "dddd dddd dddd dddd" */
};

struct auction {
    int64_t id, initial_bid, reserve, expires, seller, category;
    struct rn_str item_name, description, extra;
};

struct bid {
    int64_t auction, bidder, price;
    struct rn_str channel, url, extra;
};

static inline void gen_person(const rn_nexmark_gen *g, const struct cursor *c, struct person *p)
{
    const struct shared *sh = g->sh;
    struct rng r = event_rng(g->key, c->e);
    p->id = (int64_t)(last_person0(c) + FIRST_PERSON_ID);
    uint64_t x = rng_next(&r);
    p->name = sh->names[below32((uint32_t)x, N_FIRST) * N_LAST + below32((uint32_t)(x >> 32), N_LAST)];
    struct rn_str user = next_string(sh, &r, 7), host = next_string(sh, &r, 5);
    memcpy(p->email, user.ptr, user.len);
    p->email[user.len] = '@';
    memcpy(p->email + user.len + 1, host.ptr, host.len);
    memcpy(p->email + user.len + 1 + host.len, ".com", 4);
    p->email_len = user.len + host.len + 5;
    uint64_t digits = below(rng_next(&r), 10000000000000000ull);
    for (int i = 18; i >= 0; i--) {
        if (i % 5 == 4) {
            p->card[i] = ' ';
            continue;
        }
        p->card[i] = (char)('0' + digits % 10);
        digits /= 10;
    }
    x = rng_next(&r);
    p->city = sh->cities[below32((uint32_t)x, N_CITIES)];
    p->state = sh->states[below32((uint32_t)(x >> 32), N_STATES)];
    uint32_t size = 8 + p->name.len + p->email_len + (uint32_t)sizeof p->card + p->city.len + p->state.len;
    p->extra = next_extra(sh, &r, size, AVG_PERSON_BYTES);
}

static inline void gen_auction(const rn_nexmark_gen *g, const struct cursor *c, int64_t ts, struct auction *a)
{
    const struct shared *sh = g->sh;
    struct rng r = event_rng(g->key, c->e);
    uint64_t last_p = last_person0(c);
    a->id = (int64_t)(last_auction0(c) + FIRST_AUCTION_ID);
    uint64_t x = rng_next(&r);
    /* Hot seller with probability 3/4: the first person of the newest hundred. */
    uint64_t seller = (x >> 62) ? last_p / HOT_RATIO * HOT_RATIO : random_person0(last_p, (uint32_t)x);
    a->seller = (int64_t)(seller + FIRST_PERSON_ID);
    a->category = FIRST_CATEGORY_ID + below32((uint32_t)rng_next(&r), NUM_CATEGORIES);
    a->initial_bid = next_price(&r);
    /* Expires within two "horizons": the time until numInFlightAuctions more auctions exist. */
    uint64_t horizon = g->hor_q + (c->tr >= g->cfg.rate - g->hor_r ? 1 : 0);
    uint64_t span = horizon * 2 > 1 ? horizon * 2 : 1;
    a->expires = ts + 1 + (int64_t)below(rng_next(&r), span);
    a->item_name = next_string(sh, &r, 20);
    a->description = next_string(sh, &r, 100);
    a->reserve = a->initial_bid + next_price(&r);
    uint32_t size = 8 + a->item_name.len + a->description.len + 8 + 8 + 8 + 8 + 8;
    a->extra = next_extra(sh, &r, size, AVG_AUCTION_BYTES);
}

static inline void gen_bid(const rn_nexmark_gen *g, const struct cursor *c, struct bid *b)
{
    const struct shared *sh = g->sh;
    struct rng r = event_rng(g->key, c->e);
    uint64_t x = rng_next(&r), y = rng_next(&r);
    /* Hot auction with probability 1/2 (hotAuctionRatio 2): the first of the newest hundred;
     * else one of the last numInFlightAuctions auctions. */
    uint64_t last_a = last_auction0(c);
    uint64_t auction;
    if (x >> 63) {
        auction = last_a / HOT_RATIO * HOT_RATIO;
    } else {
        uint64_t lo = last_a > NUM_IN_FLIGHT_AUCTIONS ? last_a - NUM_IN_FLIGHT_AUCTIONS : 0;
        auction = lo + below32((uint32_t)y, (uint32_t)(last_a - lo + 1));
    }
    b->auction = (int64_t)(auction + FIRST_AUCTION_ID);
    /* Hot bidder with probability 3/4: the second person of the newest hundred. */
    uint64_t last_p = last_person0(c);
    uint64_t bidder = (x >> 61) & 3 ? last_p / HOT_RATIO * HOT_RATIO + 1 : random_person0(last_p, (uint32_t)(y >> 32));
    b->bidder = (int64_t)(bidder + FIRST_PERSON_ID);
    b->price = next_price(&r);
    /* A hot channel with probability 1/2, else one of NUM_CHANNELS. */
    if ((x >> 60) & 1) {
        uint32_t i = (uint32_t)(x >> 58) & 3;
        b->channel = sh->hot_channel[i];
        b->url = sh->hot_url[i];
    } else {
        uint32_t i = below32((uint32_t)x, NUM_CHANNELS);
        b->channel = sh->channel[i];
        b->url = sh->url[i];
    }
    b->extra = next_extra(sh, &r, 8 + 8 + 8 + 8, AVG_BID_BYTES);
}

/* ---- writing rows ---- */

struct person_cols {
    int64_t *id, *dt;
    struct rn_str *name, *city, *state, *extra, *email, *card;
    uint32_t email_col, card_col;
};
struct auction_cols {
    int64_t *id, *initial_bid, *reserve, *dt, *expires, *seller, *category;
    struct rn_str *item_name, *description, *extra;
};
struct bid_cols {
    int64_t *auction, *bidder, *price, *dt;
    struct rn_str *channel, *url, *extra;
};

static void person_cols_of(struct rn_batch *b, uint32_t base, struct person_cols *pc)
{
    pc->id = b->cols[base + 0].values;
    pc->name = b->cols[base + 1].values;
    pc->email = b->cols[base + 2].values;
    pc->card = b->cols[base + 3].values;
    pc->city = b->cols[base + 4].values;
    pc->state = b->cols[base + 5].values;
    pc->dt = b->cols[base + 6].values;
    pc->extra = b->cols[base + 7].values;
    pc->email_col = base + 2;
    pc->card_col = base + 3;
}

static void auction_cols_of(struct rn_batch *b, uint32_t base, struct auction_cols *ac)
{
    ac->id = b->cols[base + 0].values;
    ac->item_name = b->cols[base + 1].values;
    ac->description = b->cols[base + 2].values;
    ac->initial_bid = b->cols[base + 3].values;
    ac->reserve = b->cols[base + 4].values;
    ac->dt = b->cols[base + 5].values;
    ac->expires = b->cols[base + 6].values;
    ac->seller = b->cols[base + 7].values;
    ac->category = b->cols[base + 8].values;
    ac->extra = b->cols[base + 9].values;
}

static void bid_cols_of(struct rn_batch *b, uint32_t base, struct bid_cols *bc)
{
    bc->auction = b->cols[base + 0].values;
    bc->bidder = b->cols[base + 1].values;
    bc->price = b->cols[base + 2].values;
    bc->channel = b->cols[base + 3].values;
    bc->url = b->cols[base + 4].values;
    bc->dt = b->cols[base + 5].values;
    bc->extra = b->cols[base + 6].values;
}

static inline int put_person(struct rn_batch *b, const struct person_cols *pc, uint32_t row, int64_t ts,
                             const struct person *p)
{
    pc->id[row] = p->id;
    pc->name[row] = p->name;
    pc->city[row] = p->city;
    pc->state[row] = p->state;
    pc->dt[row] = ts;
    pc->extra[row] = p->extra;
    int rc = rn_batch_set_str(b, pc->email_col, row, p->email, p->email_len);
    if (!rc) rc = rn_batch_set_str(b, pc->card_col, row, p->card, sizeof p->card);
    return rc;
}

static inline void put_auction(const struct auction_cols *ac, uint32_t row, int64_t ts, const struct auction *a)
{
    ac->id[row] = a->id;
    ac->item_name[row] = a->item_name;
    ac->description[row] = a->description;
    ac->initial_bid[row] = a->initial_bid;
    ac->reserve[row] = a->reserve;
    ac->dt[row] = ts;
    ac->expires[row] = a->expires;
    ac->seller[row] = a->seller;
    ac->category[row] = a->category;
    ac->extra[row] = a->extra;
}

static inline void put_bid(const struct bid_cols *bc, uint32_t row, int64_t ts, const struct bid *d)
{
    bc->auction[row] = d->auction;
    bc->bidder[row] = d->bidder;
    bc->price[row] = d->price;
    bc->channel[row] = d->channel;
    bc->url[row] = d->url;
    bc->dt[row] = ts;
    bc->extra[row] = d->extra;
}

/* Null row of the `all` schema's columns [lo, hi): zero value, validity bit cleared. */
static inline void null_group(struct rn_batch *b, uint32_t lo, uint32_t hi, uint32_t row)
{
    for (uint32_t c = lo; c < hi; c++) {
        struct rn_column *col = &b->cols[c];
        if (col->type.id == RN_T_STRING) ((struct rn_str *)col->values)[row] = (struct rn_str){NULL, 0};
        else ((int64_t *)col->values)[row] = 0;
        rn_bit_clear(col->validity, row);
    }
}

static inline void valid_group(struct rn_batch *b, uint32_t lo, uint32_t hi, uint32_t row)
{
    for (uint32_t c = lo; c < hi; c++) rn_bit_set(b->cols[c].validity, row);
}

/* Makes the string columns that receive views keep the shared buffer alive. */
static int add_deps(const rn_nexmark_gen *g, struct rn_batch *b)
{
    for (uint32_t c = 0; c < b->n_cols; c++) {
        if (b->cols[c].type.id != RN_T_STRING) continue;
        int rc = rn_column_add_dep(&b->cols[c], g->sh->buf);
        if (rc) return rc;
    }
    return 0;
}

int rn_nexmark_gen_next(rn_nexmark_gen *g, struct rn_batch *b, uint32_t max_rows)
{
    if (!g || !b) return RN_EINVAL;
    if (b->schema != g->schema && !rn_schema_equal(b->schema, g->schema)) return RN_EINVAL;
    if (max_rows == 0) return 0;
    if (b->n_rows >= b->capacity) return RN_ERANGE;
    if (max_rows > b->capacity - b->n_rows) max_rows = b->capacity - b->n_rows;
    int rc = add_deps(g, b);
    if (rc) return rc;

    struct person_cols pc = {0};
    struct auction_cols ac = {0};
    struct bid_cols bc = {0};
    int64_t *event_type = NULL, *event_time = NULL;
    switch (g->kind) {
    case RN_NEXMARK_PERSON: person_cols_of(b, 0, &pc); break;
    case RN_NEXMARK_AUCTION: auction_cols_of(b, 0, &ac); break;
    case RN_NEXMARK_BID: bid_cols_of(b, 0, &bc); break;
    case RN_NEXMARK_ALL:
        event_type = b->cols[0].values;
        event_time = b->cols[1].values;
        person_cols_of(b, ALL_PERSON, &pc);
        auction_cols_of(b, ALL_AUCTION, &ac);
        bid_cols_of(b, ALL_BID, &bc);
        for (uint32_t c = ALL_PERSON; c < ALL_COLS; c++) {
            if (b->cols[c].validity) continue;
            rc = rn_batch_set_null(b, c, b->n_rows); /* creates the bitmap; the row is rewritten */
            if (rc) return rc;
        }
        break;
    }

    struct cursor c = {.pos = g->pos, .e = g->first + g->pos, .tq = g->tq, .tr = g->tr};
    c.epoch = c.e / PROP_TOTAL;
    c.off = (uint32_t)(c.e % PROP_TOTAL);
    const int64_t base = g->cfg.base_time;
    const uint64_t count = g->count;
    uint32_t row = b->n_rows, end = b->n_rows + max_rows;

    while (row < end && c.pos < count) {
        uint32_t d = skip_to_kind(g->kind, c.off);
        if (d) {
            if (d > count - c.pos) d = (uint32_t)(count - c.pos);
            cursor_advance(g, &c, d);
            continue;
        }
        int64_t ts = base + (int64_t)c.tq;
        if (g->kind == RN_NEXMARK_BID) {
            struct bid e;
            gen_bid(g, &c, &e);
            put_bid(&bc, row, ts, &e);
        } else if (g->kind == RN_NEXMARK_PERSON) {
            struct person e;
            gen_person(g, &c, &e);
            if ((rc = put_person(b, &pc, row, ts, &e)) != 0) break;
        } else if (g->kind == RN_NEXMARK_AUCTION) {
            struct auction e;
            gen_auction(g, &c, ts, &e);
            put_auction(&ac, row, ts, &e);
        } else {
            event_time[row] = ts;
            if (c.off < PROP_PERSON) {
                struct person e;
                gen_person(g, &c, &e);
                event_type[row] = 0;
                if ((rc = put_person(b, &pc, row, ts, &e)) != 0) break;
                valid_group(b, ALL_PERSON, ALL_AUCTION, row);
                null_group(b, ALL_AUCTION, ALL_COLS, row);
            } else if (c.off < PROP_PERSON + PROP_AUCTION) {
                struct auction e;
                gen_auction(g, &c, ts, &e);
                event_type[row] = 1;
                put_auction(&ac, row, ts, &e);
                null_group(b, ALL_PERSON, ALL_AUCTION, row);
                valid_group(b, ALL_AUCTION, ALL_BID, row);
                null_group(b, ALL_BID, ALL_COLS, row);
            } else {
                struct bid e;
                gen_bid(g, &c, &e);
                event_type[row] = 2;
                put_bid(&bc, row, ts, &e);
                null_group(b, ALL_PERSON, ALL_BID, row);
                valid_group(b, ALL_BID, ALL_COLS, row);
            }
        }
        row++;
        cursor_advance(g, &c, 1);
    }

    uint32_t n = row - b->n_rows;
    b->n_rows = row;
    g->pos = c.pos;
    g->tq = c.tq;
    g->tr = c.tr;
    return rc ? rc : (int)n;
}
