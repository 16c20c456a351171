/*
 * channel.c — the in-process channel: a bounded ring of stream elements under a mutex, a
 * condition variable for senders waiting for room, and the consumer's mailbox rung after each
 * element so that a task with several inputs sleeps until any of them has something.
 * Elements are batches of thousands of rows, so a lock per element is noise.
 */
#include <stdlib.h>
#include <time.h>

#include "channel.h"

void rn_mailbox_init(struct rn_mailbox *mb)
{
    pthread_mutex_init(&mb->mu, NULL);
    pthread_cond_init(&mb->cv, NULL);
    mb->seq = 0;
    mb->closed = false;
}

void rn_mailbox_destroy(struct rn_mailbox *mb)
{
    pthread_mutex_destroy(&mb->mu);
    pthread_cond_destroy(&mb->cv);
}

uint64_t rn_mailbox_seq(struct rn_mailbox *mb)
{
    pthread_mutex_lock(&mb->mu);
    uint64_t s = mb->seq;
    pthread_mutex_unlock(&mb->mu);
    return s;
}

void rn_mailbox_ring(struct rn_mailbox *mb)
{
    pthread_mutex_lock(&mb->mu);
    mb->seq++;
    pthread_cond_signal(&mb->cv);
    pthread_mutex_unlock(&mb->mu);
}

void rn_mailbox_wait(struct rn_mailbox *mb, uint64_t seq)
{
    pthread_mutex_lock(&mb->mu);
    while (mb->seq == seq && !mb->closed) pthread_cond_wait(&mb->cv, &mb->mu);
    pthread_mutex_unlock(&mb->mu);
}

void rn_mailbox_wait_until(struct rn_mailbox *mb, uint64_t seq, int64_t deadline_ms)
{
    if (deadline_ms == INT64_MAX) {
        rn_mailbox_wait(mb, seq);
        return;
    }
    struct timespec ts = {(time_t)(deadline_ms / 1000), (long)(deadline_ms % 1000) * 1000000};
    pthread_mutex_lock(&mb->mu);
    while (mb->seq == seq && !mb->closed && pthread_cond_timedwait(&mb->cv, &mb->mu, &ts) == 0) {}
    pthread_mutex_unlock(&mb->mu);
}

void rn_mailbox_close(struct rn_mailbox *mb)
{
    pthread_mutex_lock(&mb->mu);
    mb->closed = true;
    pthread_cond_broadcast(&mb->cv);
    pthread_mutex_unlock(&mb->mu);
}

struct local {
    struct rn_channel base;
    pthread_mutex_t mu;
    pthread_cond_t not_full;
    uint32_t cap, head, len;
    bool closed;
    struct rn_element ring[];
};

static void release(struct rn_element *el)
{
    if (el->kind == RN_EL_BATCH) rn_batch_unref(el->batch);
    el->batch = NULL;
}

static int local_send(struct rn_channel *ch, struct rn_element *el)
{
    struct local *c = (struct local *)ch;
    pthread_mutex_lock(&c->mu);
    while (c->len == c->cap && !c->closed) pthread_cond_wait(&c->not_full, &c->mu);
    if (c->closed) {
        pthread_mutex_unlock(&c->mu);
        release(el);
        return RN_ECANCELED;
    }
    c->ring[(c->head + c->len) % c->cap] = *el;
    c->len++;
    pthread_mutex_unlock(&c->mu);
    rn_mailbox_ring(ch->consumer);
    return 0;
}

static bool local_try_recv(struct rn_channel *ch, struct rn_element *el)
{
    struct local *c = (struct local *)ch;
    pthread_mutex_lock(&c->mu);
    if (c->len == 0) {
        pthread_mutex_unlock(&c->mu);
        return false;
    }
    *el = c->ring[c->head];
    c->head = (c->head + 1) % c->cap;
    bool was_full = c->len-- == c->cap;
    if (was_full) pthread_cond_signal(&c->not_full);
    pthread_mutex_unlock(&c->mu);
    return true;
}

static void local_close(struct rn_channel *ch)
{
    struct local *c = (struct local *)ch;
    pthread_mutex_lock(&c->mu);
    c->closed = true;
    while (c->len) {
        release(&c->ring[c->head]);
        c->head = (c->head + 1) % c->cap;
        c->len--;
    }
    pthread_cond_broadcast(&c->not_full);
    pthread_mutex_unlock(&c->mu);
}

static void local_destroy(struct rn_channel *ch)
{
    struct local *c = (struct local *)ch;
    local_close(ch);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->not_full);
    free(c);
}

static const struct rn_channel_ops local_ops = {local_send, local_try_recv, local_close, local_destroy, NULL};

struct rn_channel *rn_local_channel_create(uint32_t capacity, struct rn_mailbox *consumer)
{
    if (capacity == 0) capacity = 8;
    struct local *c = calloc(1, sizeof *c + capacity * sizeof(struct rn_element));
    if (!c) return NULL;
    c->base.ops = &local_ops;
    c->base.consumer = consumer;
    c->cap = capacity;
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->not_full, NULL);
    return &c->base;
}
