/*
 * net.h — the data plane of the distributed runtime: network channels between task managers.
 *
 * Each task manager has one rn_net: a listening data port, and at most one TCP connection to
 * each peer data port it sends to. Every logical channel (one producer subtask to one consumer
 * subtask of one job attempt, named by a 64-bit id that both ends compute from the execution
 * graph) is multiplexed over the connection between the two task managers. A network channel is
 * a `struct rn_channel` (engine/channel.h): the task code cannot tell it from an in-process one.
 *
 * Flow control is credit based: the receiving end grants one credit per free slot of its queue
 * (`capacity` slots at first, one more each time the consumer takes an element); the sending
 * end never sends past its credits, it blocks in send() until the receiver grants more. So a
 * slow consumer stops its producer across processes and memory stays bounded by the queues.
 *
 * Frames (little-endian): u32 length of what follows, u8 type, u64 channel id, payload.
 *   OPEN    (sender -> receiver) a sender attached to the channel; no payload
 *   CREDIT  (receiver -> sender) u32 credits granted
 *   BATCH   an rn_batch in rn_batch_encode's format (schema checked against the receiver's)
 *   WATERMARK / BARRIER  i64; EOI / IDLE no payload
 *   CLOSE   (either way) the other end closed the channel early: from the sender before its
 *           EOI, the receiving channel fails; from the receiver (its close op), the sender's
 *           send() returns RN_ECANCELED. A CLOSE after EOI changes nothing.
 * Every element kind costs one credit. A frame that does not parse (length below the header or
 * above RN_NET_MAX_FRAME, unknown type, payload of the wrong size), a frame in the wrong
 * direction, data past the credits or for a channel that granted none, or a batch that does not
 * decode closes the connection with a log line naming the peer; the channels on it fail (never
 * a crash). Data frames for a channel this side does not have (destroyed, never created) are
 * dropped; OPENs for a channel whose rn_net_input does not exist yet wait, at most
 * RN_NET_MAX_PENDING per connection, and go with their connection or the sender's CLOSE.
 *
 * Failure: when a connection breaks before the channel's end of input, or a frame for it does
 * not decode, the receiving channel's error op (engine/channel.h) says so, naming the peer, and
 * the consumer task fails (elements that arrived before stay readable); a send on a broken
 * channel returns RN_EIO, a blocked one included. Closing a channel (cancel) wakes a sender
 * blocked on credits (RN_ECANCELED). A peer that reads nothing for 30 s, or leaves data
 * unacknowledged that long, counts as gone (the connection breaks).
 *
 * Threads: one I/O thread per rn_net reads every connection and decodes batches; sends encode
 * and write from the producer's own thread (no copy to another thread) under the connection's
 * lock. One thread sends on an output channel; close() may come from any thread. A consumer
 * that takes an element writes its credit from its own thread.
 */
#ifndef RN_NET_H
#define RN_NET_H

#include <stdint.h>
#include <stdio.h>

#include "channel.h"
#include "runnel/error.h"
#include "runnel/types.h"

#define RN_NET_MAX_FRAME (256u << 20)
/* OPENs a connection may have waiting for their rn_net_input at once (more closes it). */
#define RN_NET_MAX_PENDING (1u << 16)

typedef struct rn_net rn_net;

/* Listens on host:port (port 0: any free port; rn_net_port says which) and starts the I/O
 * thread. log: where connection errors are reported (NULL: stderr). */
rn_net *rn_net_create(const char *host, uint16_t port, FILE *log, struct rn_error *err);
uint16_t rn_net_port(const rn_net *n);
/* Stops the I/O thread, closes every connection; channels still open fail. The channels
 * themselves are destroyed by their owners (rn_channel ops destroy) before or after. */
void rn_net_destroy(rn_net *n);

/* The receiving end of channel id: elements of `schema` (batches are decoded against it; the
 * schema must outlive the channel) from a sender that will attach to this task manager's data
 * port, queued (capacity slots, all granted as credits; 0 means 8; at most 1 << 20) and
 * announced on consumer. A sender may attach before or after this call. The caller owns the
 * channel (ops destroy). NULL with err: RN_EINVAL when id already has a receiver on n, RN_ERANGE
 * for a capacity above the limit, RN_ECANCELED after rn_net_destroy began. */
struct rn_channel *rn_net_input(rn_net *n, uint64_t id, const rn_schema *schema, uint32_t capacity,
                                struct rn_mailbox *consumer, struct rn_error *err);
/* The sending end of channel id toward the data port host:port (connecting if this task
 * manager has no connection there yet: within 10 s; connections are shared by the exact
 * host string and port). send() blocks until a credit is there; a batch whose encoding would
 * exceed RN_NET_MAX_FRAME is refused (RN_ERANGE). The caller owns the channel (ops destroy).
 * NULL with err: RN_EIO when the peer cannot be reached (naming host:port), RN_EINVAL when id
 * already has a sender on n. */
struct rn_channel *rn_net_output(rn_net *n, const char *host, uint16_t port, uint64_t id, struct rn_error *err);

/* Counters for metrics and tests: bytes and frames sent and received (every frame, control
 * frames included), how often a send waited for credits, the connections open now (both
 * directions: one per peer data port this side sends to, plus one per peer sending here),
 * the stream elements sent and received (data frames only), and the elements sitting in this
 * rn_net's input queues now (never more than the sum of their capacities). */
struct rn_net_stats {
    uint64_t bytes_out, bytes_in, frames_out, frames_in, credit_waits, connections;
    uint64_t elements_out, elements_in, queued;
};
void rn_net_stats(rn_net *n, struct rn_net_stats *out);

/* ---- internal: the frame format, for net.c and the fuzz target (tests/fuzz/fuzz_net_frame.c) ---- */

enum {
    RN__NET_OPEN = 1, RN__NET_CREDIT, RN__NET_BATCH, RN__NET_WATERMARK, RN__NET_BARRIER,
    RN__NET_EOI, RN__NET_IDLE, RN__NET_CLOSE,
};
#define RN__NET_HEADER 13u   /* u32 length + u8 type + u64 channel id */

struct rn__net_frame {
    uint8_t type;            /* RN__NET_* */
    uint64_t id;
    const uint8_t *payload;  /* points into the parsed buffer */
    uint32_t payload_len;
    uint64_t value;          /* CREDIT: the credits; WATERMARK / BARRIER: the i64 as bits */
    size_t size;             /* bytes the whole frame takes (4 + length); on RN_EAGAIN: the
                              * bytes needed before the frame can be parsed */
};

/* Parses the frame at the start of buf[0..len): 0 with *f filled; RN_EAGAIN when buf holds
 * only part of it (f->size says how much is needed); RN_ECORRUPT with err when the length is
 * below the header or above RN_NET_MAX_FRAME, the type is unknown, or the payload has the
 * wrong size for its type. Pure: no allocation, no state. Batch payloads are not decoded. */
int rn__net_frame_parse(const void *buf, size_t len, struct rn__net_frame *f, struct rn_error *err);

#endif
