/*
 * rpc.h — the control RPC transport of the distributed runtime: protobuf Envelopes
 * (runtime/proto/rpc.proto) between the runnel CLI, the job manager and task managers, over TCP
 * with libevent. The job manager and task managers build their protocols on top of this; this
 * layer knows nothing of what the messages mean.
 *
 * Wire format: every message is one Envelope, framed as a u32 big-endian length and that many
 * bytes of protobuf. A receiver refuses a frame longer than its connection's max_frame
 * (RN_RPC_MAX_FRAME by default) before reading its body, a body that does not unpack, and an
 * Envelope with no message set (which is also what a message type unknown to this process
 * looks like): the connection is closed with a line on the loop's log naming the peer and the
 * reason, e.g.
 *   rpc: closing connection from 127.0.0.1:5555: frame of 17000000 bytes exceeds the limit of 16777216
 * and the process goes on. A connection never holds more than 4 + max_frame bytes of input
 * (a read high-water mark), plus one unpacked message.
 *
 * Threads. An rn_rpc_loop owns a libevent event_base and the thread that runs it. Every
 * callback (on_open, on_message, on_close, timers, rn_rpc_loop_call) runs on that thread, one at
 * a time, so state that only callbacks touch needs no lock. rn_rpc_send, rn_rpc_close, the
 * timer functions and rn_rpc_loop_call may be called from any thread. The loop thread blocks
 * SIGPIPE for itself (a write to a socket the peer closed gives EPIPE, not a signal); only the
 * loop thread writes to sockets.
 *
 * Connection lifetime (rn_rpc_conn is reference counted):
 *   - Every connection gets exactly one on_close, whatever ends it: the peer, a protocol or
 *     socket error, a failed connect, rn_rpc_close, or rn_rpc_server_destroy /
 *     rn_rpc_loop_destroy (which call on_close for the connections they close). Accepted
 *     connections get on_open first; outgoing ones get on_open when connected, or only on_close
 *     (reason "cannot connect to ...") when the connect fails.
 *   - The transport holds one reference from the connection's creation until on_close returned.
 *     A connection is therefore valid on the loop thread from on_open (or rn_rpc_connect) until
 *     on_close returns; code that keeps the pointer beyond that, or uses it from another thread,
 *     takes its own reference (rn_rpc_conn_ref) and drops it (rn_rpc_conn_unref). rn_rpc_connect
 *     returns with one reference owned by the caller.
 *   - A closed connection stays a valid object while referenced: rn_rpc_send on it returns
 *     RN_EIO (naming why it closed), rn_rpc_close does nothing. So a thread inside rn_rpc_send
 *     while the peer disconnects gets an error, never a freed connection.
 *
 * Outgoing data: rn_rpc_send packs the Envelope straight into the connection's output buffer
 * (no intermediate copy); the loop thread writes it. Frames from one thread leave in the order
 * sent (each frame is appended whole, under the connection's lock). When a peer stops reading,
 * output is capped: a send that would queue more than RN_RPC_MAX_QUEUED bytes (or 2 * max_frame
 * when larger) closes the connection with a log line and returns RN_EIO.
 */
#ifndef RN_RPC_H
#define RN_RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "rpc.pb-c.h"
#include "runnel/error.h"

#define RN_RPC_MAX_FRAME (16u << 20)           /* default limit of one frame's body */
#define RN_RPC_MAX_QUEUED (64u << 20)          /* default cap of a connection's unsent bytes */
#define RN_RPC_CONNECT_TIMEOUT_MS 5000u        /* default time a connect may take */
#define RN_RPC_CLOSE_LINGER_MS 2000u           /* how long rn_rpc_close waits to flush output */

typedef struct rn_rpc_loop rn_rpc_loop;
typedef struct rn_rpc_server rn_rpc_server;
typedef struct rn_rpc_conn rn_rpc_conn;
typedef struct rn_rpc_timer rn_rpc_timer;

/* A function run on the loop thread (timers, rn_rpc_loop_call). */
typedef void (*rn_rpc_fn)(void *arg);

/* What a server or an outgoing connection reports; all run on the loop thread, and ctx is the
 * pointer given to rn_rpc_server_create / rn_rpc_connect. Any member may be NULL.
 *   on_open: the connection is established (accepted, or connected).
 *   on_message: one decoded Envelope (msg_case is set); msg is freed when the callback
 *     returns: copy what you keep.
 *   on_close: the connection is closed, with why ("closed by the peer", "closed locally",
 *     "frame of ... exceeds ...", "cannot connect to ...: Connection refused", ...). After it
 *     returns the transport drops its reference. Sends from inside it fail. */
struct rn_rpc_callbacks {
    void (*on_open)(rn_rpc_conn *c, void *ctx);
    void (*on_message)(rn_rpc_conn *c, const Runnel__Rpc__Envelope *msg, void *ctx);
    void (*on_close)(rn_rpc_conn *c, const char *reason, void *ctx);
};

/* ---- loop ---- */

/* Creates a loop and starts its thread. log: where connection errors are reported (NULL:
 * stderr); it must outlive the loop. Returns NULL with err set on failure. */
rn_rpc_loop *rn_rpc_loop_create(FILE *log, struct rn_error *err);
/* Stops the loop and frees it: runs the rn_rpc_loop_call functions still queued, closes the
 * servers still open (freeing them: their handles become invalid) and every connection
 * (on_close is called for each), frees the timers still running (their handles become
 * invalid), then joins the thread. Never call it from the loop thread (it would wait for
 * itself: it logs and returns without doing anything). NULL is ignored. */
void rn_rpc_loop_destroy(rn_rpc_loop *loop);
/* Defaults for servers and connections created afterwards: the largest frame body accepted
 * (1 .. UINT32_MAX; RN_RPC_MAX_FRAME unless set) and how long a connect may take (ms, > 0). */
int rn_rpc_loop_set_max_frame(rn_rpc_loop *loop, size_t max_frame, struct rn_error *err);
int rn_rpc_loop_set_connect_timeout(rn_rpc_loop *loop, uint32_t ms, struct rn_error *err);
/* The loop's libevent base, for servers of other protocols driven by the same thread (the job
 * manager's REST API): use it only from the loop thread. */
struct event_base;
struct event_base *rn_rpc_loop_base(rn_rpc_loop *loop);
/* True when called on the loop's thread. */
bool rn_rpc_loop_on_thread(const rn_rpc_loop *loop);
/* Runs fn(arg) on the loop thread soon (in the order of the calls); any thread, also the loop
 * thread itself (then it runs after the current callback). Returns 0, RN_ENOMEM, or
 * RN_ECANCELED when the loop is being destroyed (fn will not run). */
int rn_rpc_loop_call(rn_rpc_loop *loop, rn_rpc_fn fn, void *arg);
/* Runs fn(arg) on the loop thread and waits until it returned (from the loop thread it just
 * calls fn). Same return values. fn must not wait for the calling thread. */
int rn_rpc_loop_call_wait(rn_rpc_loop *loop, rn_rpc_fn fn, void *arg);

/* ---- timers ---- */

/* Runs fn(arg) on the loop thread after ms milliseconds, once or (repeat) every ms (ms may be
 * 0 once: as soon as possible). Any thread. The caller owns the timer, also after a one-shot
 * timer fired, and frees it with rn_rpc_timer_stop. NULL with err set on failure. */
rn_rpc_timer *rn_rpc_timer_start(rn_rpc_loop *loop, uint32_t ms, bool repeat, rn_rpc_fn fn, void *arg,
                                 struct rn_error *err);
/* Re-arms the timer to fire ms from now (then every ms if it repeats); also re-arms a one-shot
 * timer that already fired. Any thread. Use it for deadlines that move (heartbeat timeouts). */
int rn_rpc_timer_reset(rn_rpc_timer *t, uint32_t ms);
/* Stops and frees the timer: its function does not run afterwards. From another thread it
 * waits for a run in progress to finish; from the loop thread (also inside the timer's own
 * function) it returns at once. NULL is ignored. */
void rn_rpc_timer_stop(rn_rpc_timer *t);

/* ---- servers ---- */

/* Listens on host:port (host NULL: 127.0.0.1; port 0: a free port, see rn_rpc_server_port)
 * and accepts connections, each reported through cb with ctx. cb is copied. Any thread (the
 * loop thread too). Returns NULL with err set on failure (a host that does not resolve, a port
 * in use). */
rn_rpc_server *rn_rpc_server_create(rn_rpc_loop *loop, const char *host, uint16_t port,
                                    const struct rn_rpc_callbacks *cb, void *ctx, struct rn_error *err);
/* The port it listens on. */
uint16_t rn_rpc_server_port(const rn_rpc_server *s);
/* The largest frame body its connections accepted from now on take (1 .. UINT32_MAX). */
int rn_rpc_server_set_max_frame(rn_rpc_server *s, size_t max_frame, struct rn_error *err);
/* Stops listening and closes its connections (on_close "server closed" for each, on the loop
 * thread, before this returns), then frees it. Any thread, also a callback. NULL is ignored. */
void rn_rpc_server_destroy(rn_rpc_server *s);

/* ---- connections ---- */

/* Connects to host:port asynchronously: on_open when connected, or on_close with the reason
 * when not (refused, timed out after the loop's connect timeout). The host is resolved here,
 * on the calling thread (an unknown host returns NULL with err set). Messages may be sent at
 * once: they leave when the connection is up. Returns the connection with one reference owned
 * by the caller (rn_rpc_conn_unref; rn_rpc_close first to end the connection). */
rn_rpc_conn *rn_rpc_connect(rn_rpc_loop *loop, const char *host, uint16_t port,
                            const struct rn_rpc_callbacks *cb, void *ctx, struct rn_error *err);
/* Queues msg (which must have a message set) as one frame. Any thread; the caller holds a
 * reference to c or is on the loop thread between c's on_open and on_close. Returns 0;
 * RN_EINVAL for an Envelope with no message; RN_ERANGE when it packs larger than c's
 * max_frame; RN_EIO when c is closed or closing (err says why it closed), or when the peer
 * stopped reading and the output cap was reached (c is closed then). */
int rn_rpc_send(rn_rpc_conn *c, const Runnel__Rpc__Envelope *msg, struct rn_error *err);
/* Ends the connection: nothing more is read, what is queued is flushed (for at most
 * RN_RPC_CLOSE_LINGER_MS), then on_close("closed locally") runs on the loop thread. Any
 * thread; does nothing on a connection already closed or closing. */
void rn_rpc_close(rn_rpc_conn *c);
/* References (any thread). unref frees the connection when the last one goes. */
void rn_rpc_conn_ref(rn_rpc_conn *c);
void rn_rpc_conn_unref(rn_rpc_conn *c);
/* "host:port" of the other end (IPv6 as "[addr]:port"); valid while c is. */
const char *rn_rpc_peer(const rn_rpc_conn *c);
/* True once c is closing or closed (sends fail). */
bool rn_rpc_conn_closed(rn_rpc_conn *c);
/* A pointer of the application's per connection (NULL at first). Not synchronized: set it and
 * read it on one thread (the loop's, typically in on_open). */
void *rn_rpc_conn_user(const rn_rpc_conn *c);
void rn_rpc_conn_set_user(rn_rpc_conn *c, void *user);
/* Changes the largest frame body c accepts and sends (1 .. UINT32_MAX). Any thread. */
int rn_rpc_conn_set_max_frame(rn_rpc_conn *c, size_t max_frame, struct rn_error *err);

/* ---- framing (pure functions: the connection code and the fuzzer use them) ---- */

/* The body length in a frame's 4-byte big-endian prefix; RN_ERANGE, err "frame of N bytes
 * exceeds the limit of M", when it is over max_frame. */
int rn_rpc_frame_length(const uint8_t hdr[4], size_t max_frame, uint32_t *len, struct rn_error *err);
/* Decodes one frame's body (len bytes at buf, without the prefix) into *out, which the caller
 * frees with rn_rpc_envelope_free. RN_ERANGE when len > max_frame; RN_ECORRUPT when it does not
 * unpack or sets no message; err says which. Never reads outside buf. */
int rn_rpc_decode(const void *buf, size_t len, size_t max_frame, Runnel__Rpc__Envelope **out,
                  struct rn_error *err);
/* Frees what rn_rpc_decode returned (NULL is ignored). */
void rn_rpc_envelope_free(Runnel__Rpc__Envelope *msg);
/* Encodes msg as a whole frame (prefix and body) into a new buffer (*out, *len; the caller
 * frees *out). RN_EINVAL when no message is set; RN_ERANGE when the body exceeds max_frame. */
int rn_rpc_encode(const Runnel__Rpc__Envelope *msg, size_t max_frame, uint8_t **out, size_t *len,
                  struct rn_error *err);

#endif
