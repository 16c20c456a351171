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
 *   CLOSE   (either way) the other end went away: the channel fails
 * A frame that does not decode, names an unknown type, or exceeds RN_NET_MAX_FRAME closes the
 * connection with a log line naming the peer; the channels on it fail (never a crash).
 *
 * Failure: when a connection breaks before the channel's end of input, or a frame for it does
 * not decode, the receiving channel's error op (engine/channel.h) says so, naming the peer, and
 * the consumer task fails; a send on a broken channel
 * returns RN_EIO. Closing a channel (cancel) wakes a sender blocked on credits.
 *
 * Threads: one I/O thread per rn_net reads every connection; sends write from the producer's
 * own thread (no copy to another thread) under the connection's lock.
 */
#ifndef RN_NET_H
#define RN_NET_H

#include <stdint.h>
#include <stdio.h>

#include "channel.h"
#include "runnel/error.h"
#include "runnel/types.h"

#define RN_NET_MAX_FRAME (256u << 20)

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
 * port, queued (capacity slots, all granted as credits) and announced on consumer. A sender
 * may attach before or after this call. */
struct rn_channel *rn_net_input(rn_net *n, uint64_t id, const rn_schema *schema, uint32_t capacity,
                                struct rn_mailbox *consumer, struct rn_error *err);
/* The sending end of channel id toward the data port host:port (connecting if this task
 * manager has no connection there yet). send() blocks until a credit is there. */
struct rn_channel *rn_net_output(rn_net *n, const char *host, uint16_t port, uint64_t id, struct rn_error *err);

/* Counters for metrics and tests: bytes and frames sent and received, and how often a sender
 * waited for credits. */
struct rn_net_stats {
    uint64_t bytes_out, bytes_in, frames_out, frames_in, credit_waits, connections;
};
void rn_net_stats(rn_net *n, struct rn_net_stats *out);

#endif
