/*
 * channel.h — channels carry stream elements (batches, watermarks, end of input) from one
 * subtask to another, in order, bounded. The task code sees only this interface: an in-process
 * queue (channel.c) or a network channel between task managers (runtime/net/net.h).
 *
 * Every consumer has one mailbox that all its input channels ring when they get an element, so a
 * task waits for "any input" without polling.
 */
#ifndef RN_CHANNEL_H
#define RN_CHANNEL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "runnel/batch.h"

/* RN_EL_BARRIER: checkpoint barrier n (engine/runner.c aligns and snapshots on it).
 * RN_EL_IDLE: the producer has no data for now (its watermark strategy's idle_timeout passed);
 * the consumer stops waiting for its watermark until the next watermark element. */
enum rn_el_kind { RN_EL_BATCH, RN_EL_WATERMARK, RN_EL_EOI, RN_EL_IDLE, RN_EL_BARRIER };

struct rn_element {
    enum rn_el_kind kind;
    struct rn_batch *batch;   /* RN_EL_BATCH: one reference, owned by whoever holds the element */
    int64_t watermark;        /* RN_EL_WATERMARK; RN_EL_BARRIER: the checkpoint id */
};

struct rn_mailbox {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t seq;             /* bumped by every ring */
    bool closed;
};

void rn_mailbox_init(struct rn_mailbox *mb);
void rn_mailbox_destroy(struct rn_mailbox *mb);
uint64_t rn_mailbox_seq(struct rn_mailbox *mb);
void rn_mailbox_ring(struct rn_mailbox *mb);
/* Waits until the mailbox rang after seq was read, or was closed. */
void rn_mailbox_wait(struct rn_mailbox *mb, uint64_t seq);
void rn_mailbox_close(struct rn_mailbox *mb);
/* The same, but also returns at deadline_ms (CLOCK_REALTIME ms; INT64_MAX = no deadline). */
void rn_mailbox_wait_until(struct rn_mailbox *mb, uint64_t seq, int64_t deadline_ms);

struct rn_channel;
struct rn_channel_ops {
    /* Appends el, blocking while the channel is full. RN_ECANCELED when closed (el's batch is
     * then released). */
    int (*send)(struct rn_channel *ch, struct rn_element *el);
    /* Takes the oldest element if there is one. */
    bool (*try_recv)(struct rn_channel *ch, struct rn_element *el);
    /* Wakes blocked senders; later sends fail; elements still queued are released. */
    void (*close)(struct rn_channel *ch);
    void (*destroy)(struct rn_channel *ch);
    /* What went wrong, or NULL (optional; in-process channels never fail): a network channel
     * whose connection broke before its end of input. The consumer fails its task with it. */
    const char *(*error)(struct rn_channel *ch);
};

struct rn_channel {
    const struct rn_channel_ops *ops;
    struct rn_mailbox *consumer;
};

/* An in-process channel of capacity elements ringing consumer. */
struct rn_channel *rn_local_channel_create(uint32_t capacity, struct rn_mailbox *consumer);

#endif
