/*
 * timers.c — timers of keyed operators (runnel/operator.h: rn_op_timer_register). Each timer is
 * kept twice: in the operator's keyed state (map state "__timers.event" / "__timers.processing":
 * key = the timer's key, namespace = its time, map key = its user namespace), which deduplicates
 * them and puts them in snapshots; and in memory, in a min-heap by time, which finds the due
 * ones, and in an index by (key, ns, time), which makes registering a timer that exists (every
 * batch of a window registers its window's timer again) one probe without touching state.
 * Firing pops a timer, removes it from state, then calls on_timer.
 */
#include <stdlib.h>
#include <string.h>

#include "runnel/hash.h"
#include "timers.h"

/* A registered timer: one allocation with its key's bytes. */
struct entry {
    int64_t time, ns;
    uint64_t hash;
    uint16_t key_group;
    bool deleted;                /* rn__timers_delete: skipped when it comes up */
    uint32_t len;
    uint8_t key[];
};

struct heap {
    struct entry **e;
    uint32_t n, cap;
};

/* The registered timers of one kind by (key, ns, time): open addressing with tombstones, so
 * that registering a timer that exists (every batch of a window does) costs one probe and no
 * state access. */
#define TOMB ((struct entry *)1)
struct index {
    struct entry **slot;
    uint64_t *hash;              /* per slot: its entry's hash, compared before the entry is read */
    uint32_t cap, used, live;    /* used counts tombstones too */
};

struct rn_timers {
    rn_state_backend *backend;
    rn_state *state[2];
    struct heap heap[2];
    struct index index[2];
};

static bool less(const struct entry *a, const struct entry *b) { return a->time < b->time; }

static void sift_up(struct heap *h, uint32_t i)
{
    while (i > 0) {
        uint32_t p = (i - 1) / 2;
        if (!less(h->e[i], h->e[p])) break;
        struct entry *t = h->e[i];
        h->e[i] = h->e[p];
        h->e[p] = t;
        i = p;
    }
}

static void sift_down(struct heap *h, uint32_t i)
{
    for (;;) {
        uint32_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < h->n && less(h->e[l], h->e[m])) m = l;
        if (r < h->n && less(h->e[r], h->e[m])) m = r;
        if (m == i) break;
        struct entry *t = h->e[i];
        h->e[i] = h->e[m];
        h->e[m] = t;
        i = m;
    }
}

static uint64_t timer_hash(const struct rn_state_key *key, int64_t ns, int64_t time)
{
    return rn_hash_combine(rn_hash_combine(rn_hash_bytes(key->data, key->len), (uint64_t)ns), (uint64_t)time);
}

static bool same(const struct entry *e, uint64_t h, const struct rn_state_key *key, int64_t ns, int64_t time)
{
    return e->hash == h && e->time == time && e->ns == ns && e->len == key->len && e->key_group == key->key_group &&
           !memcmp(e->key, key->data, key->len);
}

/* The slot of the timer, or of where it would go (*found false). */
static uint32_t index_find(const struct index *x, uint64_t h, const struct rn_state_key *key, int64_t ns, int64_t time,
                           bool *found)
{
    uint32_t mask = x->cap - 1, i = (uint32_t)h & mask, free_at = UINT32_MAX;
    for (;; i = (i + 1) & mask) {
        struct entry *e = x->slot[i];
        if (!e) break;
        if (e == TOMB) {
            if (free_at == UINT32_MAX) free_at = i;
        } else if (x->hash[i] == h && same(e, h, key, ns, time)) {
            *found = true;
            return i;
        }
    }
    *found = false;
    return free_at != UINT32_MAX ? free_at : i;
}

static int index_grow(struct index *x)
{
    uint32_t cap = x->cap ? x->cap : 64;
    while (x->live * 4 >= cap) cap *= 2;   /* at most a quarter full after; fewer live: tombstones go */
    struct entry **slot = calloc(cap, sizeof *slot);
    uint64_t *hash = malloc(cap * sizeof *hash);
    if (!slot || !hash) {
        free(slot);
        free(hash);
        return RN_ENOMEM;
    }
    for (uint32_t i = 0; i < x->cap; i++) {
        struct entry *e = x->slot[i];
        if (!e || e == TOMB) continue;
        uint32_t j = (uint32_t)e->hash & (cap - 1);
        while (slot[j]) j = (j + 1) & (cap - 1);
        slot[j] = e;
        hash[j] = e->hash;
    }
    free(x->slot);
    free(x->hash);
    x->slot = slot;
    x->hash = hash;
    x->cap = cap;
    x->used = x->live;
    return 0;
}

static void index_remove(struct index *x, const struct entry *e)
{
    struct rn_state_key k = {e->key, e->len, e->key_group};
    bool found;
    uint32_t i = index_find(x, e->hash, &k, e->ns, e->time, &found);
    if (!found || x->slot[i] != e) return;
    x->slot[i] = TOMB;
    x->live--;
}

int rn__timers_create(rn_state_backend *b, struct rn_timers **out, struct rn_error *err)
{
    struct rn_timers *t = calloc(1, sizeof *t);
    if (!t) return rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
    static const char *names[2] = {"__timers.event", "__timers.processing"};
    for (int k = 0; k < 2; k++) {
        struct rn_state_desc d = {names[k], RN_STATE_MAP, 0, 0, NULL, NULL};
        int rc = rn_state_declare(b, &d, &t->state[k], err);
        if (rc) {
            free(t);
            return rc;
        }
    }
    t->backend = b;
    *out = t;
    return 0;
}

void rn__timers_destroy(struct rn_timers *t)
{
    if (!t) return;
    for (int k = 0; k < 2; k++) {
        for (uint32_t i = 0; i < t->heap[k].n; i++) free(t->heap[k].e[i]);
        free(t->heap[k].e);
        free(t->index[k].slot);
        free(t->index[k].hash);
    }
    free(t);
}

/* Adds a timer to the heap and the index (and, when persist, to keyed state). */
static int track(struct rn_timers *t, enum rn_timer_kind kind, const struct rn_state_key *key, int64_t ns, int64_t time,
                 bool persist)
{
    struct index *x = &t->index[kind];
    if ((x->used + 1) * 2 >= x->cap && index_grow(x)) return RN_ENOMEM;   /* probes stay short */
    uint64_t h = timer_hash(key, ns, time);
    bool found;
    uint32_t slot = index_find(x, h, key, ns, time, &found);
    if (found) return 0;   /* one timer per (key, ns, time) */
    if (persist) {
        int rc = rn_state_map_put(t->state[kind], key, time, &ns, sizeof ns, "", 0);
        if (rc) return rc;
    }
    struct heap *hp = &t->heap[kind];
    if (hp->n == hp->cap) {
        uint32_t cap = hp->cap ? hp->cap * 2 : 64;
        struct entry **e = realloc(hp->e, cap * sizeof *e);
        if (!e) return RN_ENOMEM;
        hp->e = e;
        hp->cap = cap;
    }
    struct entry *e = malloc(sizeof *e + key->len);
    if (!e) return RN_ENOMEM;
    if (key->len) memcpy(e->key, key->data, key->len);
    e->len = key->len;
    e->key_group = key->key_group;
    e->time = time;
    e->ns = ns;
    e->hash = h;
    e->deleted = false;
    if (!x->slot[slot]) x->used++;
    x->slot[slot] = e;
    x->hash[slot] = h;
    x->live++;
    hp->e[hp->n] = e;
    sift_up(hp, hp->n++);
    return 0;
}

int rn__timers_register(struct rn_timers *t, enum rn_timer_kind kind, const struct rn_state_key *key, int64_t ns,
                        int64_t time)
{
    return track(t, kind, key, ns, time, true);
}

struct load_ctx {
    struct rn_timers *t;
    enum rn_timer_kind kind;
};

static int load_one(const struct rn_state_entry *e, void *user)
{
    struct load_ctx *c = user;
    int64_t ns;
    if (e->mkey_len != sizeof ns) return RN_ECORRUPT;
    memcpy(&ns, e->mkey, sizeof ns);
    struct rn_state_key key = {e->key, e->key_len, e->key_group};
    return track(c->t, c->kind, &key, ns, e->ns, false);
}

int rn__timers_load(struct rn_timers *t, uint32_t kg_first, uint32_t kg_last, uint64_t *n)
{
    for (int k = 0; k < 2; k++) {
        struct load_ctx c = {t, (enum rn_timer_kind)k};
        int rc = rn_state_each(t->state[k], kg_first, kg_last, load_one, &c);
        if (rc) return rc;
    }
    if (n) *n = (uint64_t)t->index[0].live + t->index[1].live;
    return 0;
}

int rn__timers_delete(struct rn_timers *t, enum rn_timer_kind kind, const struct rn_state_key *key, int64_t ns,
                      int64_t time)
{
    struct index *x = &t->index[kind];
    bool found = false;
    uint32_t slot = x->cap ? index_find(x, timer_hash(key, ns, time), key, ns, time, &found) : 0;
    if (!found) return 0;
    /* out of the index and of state now; the heap entry is skipped (and freed) when it comes up,
     * and registering the same timer again makes a new one */
    x->slot[slot]->deleted = true;
    x->slot[slot] = TOMB;
    x->live--;
    return rn_state_map_remove(t->state[kind], key, time, &ns, sizeof ns);
}

int64_t rn__timers_next(const struct rn_timers *t, enum rn_timer_kind kind)
{
    return t && t->heap[kind].n ? t->heap[kind].e[0]->time : INT64_MAX;
}

int rn__timers_fire(struct rn_timers *t, enum rn_timer_kind kind, int64_t upto,
                    int (*fn)(const struct rn_timer *timer, void *user), void *user)
{
    struct heap *h = &t->heap[kind];
    while (h->n && h->e[0]->time <= upto) {
        struct entry *e = h->e[0];
        h->e[0] = h->e[--h->n];
        sift_down(h, 0);
        int rc = 0;
        if (!e->deleted) {   /* a deleted timer already left the index */
            index_remove(&t->index[kind], e);
            struct rn_timer timer = {kind, e->time, {e->key, e->len, e->key_group}, e->ns};
            rc = rn_state_map_remove(t->state[kind], &timer.key, e->time, &e->ns, sizeof e->ns);
            if (!rc) rc = fn(&timer, user);
        }
        free(e);
        if (rc) return rc;
    }
    return 0;
}
