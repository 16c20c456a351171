/*
 * timers.c — timers of keyed operators (runnel/operator.h: rn_op_timer_register). Each timer is
 * kept twice: in the operator's keyed state (map state "__timers.event" / "__timers.processing":
 * key = the timer's key, namespace = its time, map key = its user namespace), which deduplicates
 * them and puts them in snapshots; and in an in-memory min-heap by time, which finds the due
 * ones. Firing pops a timer, removes it from state, then calls on_timer.
 */
#include <stdlib.h>
#include <string.h>

#include "timers.h"

struct entry {
    int64_t time, ns;
    uint16_t key_group;
    uint32_t len;
    uint8_t *key;                /* owned copy */
};

struct heap {
    struct entry *e;
    uint32_t n, cap;
};

struct rn_timers {
    rn_state_backend *backend;
    rn_state *state[2];
    struct heap heap[2];
};

static bool less(const struct entry *a, const struct entry *b) { return a->time < b->time; }

static void sift_up(struct heap *h, uint32_t i)
{
    while (i > 0) {
        uint32_t p = (i - 1) / 2;
        if (!less(&h->e[i], &h->e[p])) break;
        struct entry t = h->e[i];
        h->e[i] = h->e[p];
        h->e[p] = t;
        i = p;
    }
}

static void sift_down(struct heap *h, uint32_t i)
{
    for (;;) {
        uint32_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < h->n && less(&h->e[l], &h->e[m])) m = l;
        if (r < h->n && less(&h->e[r], &h->e[m])) m = r;
        if (m == i) break;
        struct entry t = h->e[i];
        h->e[i] = h->e[m];
        h->e[m] = t;
        i = m;
    }
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
        for (uint32_t i = 0; i < t->heap[k].n; i++) free(t->heap[k].e[i].key);
        free(t->heap[k].e);
    }
    free(t);
}

int rn__timers_register(struct rn_timers *t, enum rn_timer_kind kind, const struct rn_state_key *key, int64_t ns,
                        int64_t time)
{
    const void *v;
    uint32_t len;
    int rc = rn_state_map_get(t->state[kind], key, time, &ns, sizeof ns, &v, &len);
    if (rc || v) return rc;   /* already registered: one timer */
    if ((rc = rn_state_map_put(t->state[kind], key, time, &ns, sizeof ns, "", 0))) return rc;
    struct heap *h = &t->heap[kind];
    if (h->n == h->cap) {
        uint32_t cap = h->cap ? h->cap * 2 : 64;
        struct entry *e = realloc(h->e, cap * sizeof *e);
        if (!e) return RN_ENOMEM;
        h->e = e;
        h->cap = cap;
    }
    struct entry *e = &h->e[h->n];
    if (!(e->key = malloc(key->len ? key->len : 1))) return RN_ENOMEM;
    if (key->len) memcpy(e->key, key->data, key->len);
    e->len = key->len;
    e->key_group = key->key_group;
    e->time = time;
    e->ns = ns;
    sift_up(h, h->n++);
    return 0;
}

int rn__timers_delete(struct rn_timers *t, enum rn_timer_kind kind, const struct rn_state_key *key, int64_t ns,
                      int64_t time)
{
    /* removed from state now; the heap entry is skipped when it comes up (it is no longer in state) */
    return rn_state_map_remove(t->state[kind], key, time, &ns, sizeof ns);
}

int64_t rn__timers_next(const struct rn_timers *t, enum rn_timer_kind kind)
{
    return t && t->heap[kind].n ? t->heap[kind].e[0].time : INT64_MAX;
}

int rn__timers_fire(struct rn_timers *t, enum rn_timer_kind kind, int64_t upto,
                    int (*fn)(const struct rn_timer *timer, void *user), void *user)
{
    struct heap *h = &t->heap[kind];
    while (h->n && h->e[0].time <= upto) {
        struct entry e = h->e[0];
        h->e[0] = h->e[--h->n];
        sift_down(h, 0);
        struct rn_timer timer = {kind, e.time, {e.key, e.len, e.key_group}, e.ns};
        const void *v;
        uint32_t len;
        int rc = rn_state_map_get(t->state[kind], &timer.key, e.time, &e.ns, sizeof e.ns, &v, &len);
        if (!rc && v) {   /* still registered (not deleted) */
            rc = rn_state_map_remove(t->state[kind], &timer.key, e.time, &e.ns, sizeof e.ns);
            if (!rc) rc = fn(&timer, user);
        }
        free(e.key);
        if (rc) return rc;
    }
    return 0;
}
