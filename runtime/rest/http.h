/*
 * http.h — the HTTP side of the job manager's REST API: a server on libevent's evhttp, driven
 * by an event loop the caller owns, with a route table, path parameters validated before any
 * handler sees them, optional bearer-token authentication, body size limits, JSON replies and
 * replies given later (asynchronous handlers); and rn_http_safe_path for directories that a
 * request names.
 *
 * Threads: everything here runs on the thread of the server's event loop (the job manager's):
 * handlers are called there, and every rn_http_reply_* / rn_http_defer call must come from it.
 * Create the server and add routes before the loop runs or from the loop thread; destroy it
 * from the loop thread or after the loop stopped.
 *
 * A request, in order:
 *   1. methods other than GET, POST, PUT, PATCH, DELETE: libevent answers 501 itself;
 *      a body over max_body: 413 (libevent's own page; the rest of the body is read and
 *      dropped first so that the client sees the answer); malformed HTTP: 400 (libevent's).
 *   2. a token is configured and the request lacks "Authorization: Bearer <token>" or has
 *      another one (compared in constant time): 401 {"error":...} with WWW-Authenticate.
 *   3. the path is split at '/', then each segment percent-decoded; a segment that decodes
 *      to "." or "..", holds '/' or a NUL, or a malformed %-escape: 400.
 *   4. routing: a route whose segments all match and whose method is the request's runs its
 *      handler (when several match, the one with more literal segments wins); else a route of
 *      that path with another method: 405 with Allow; else a route whose literal segments
 *      match but a parameter breaks its rule: 400 naming the parameter; else 404. All of
 *      them {"error":"..."} with Content-Type application/json.
 *   5. the query string is decoded ('+' is a space, %XX escapes): a malformed one is 400.
 *
 * Route patterns: "/jobs/{id:[0-9a-f]{32}}/checkpoints" — literal segments and parameter
 * segments {name} or {name:[CLASS]{min,max}} / {name:[CLASS]{n}}: CLASS lists characters and
 * ranges (a-z), no '/', no negation. A parameter without a rule takes [A-Za-z0-9_-]{1,128}.
 * RN_HTTP_HEX32 and RN_HTTP_HEX1_32 spell the job and request id rules.
 *
 * Replies: a handler answers with one rn_http_reply_* call (or a chunked stream: start, chunk,
 * end). After the reply the request is gone: its pointer and every string it gave out are
 * dead once the handler returns (or at once when the reply comes after rn_http_defer). A
 * handler that returns without replying and without deferring gets a 500 sent for it.
 *
 * Asynchronous replies: rn_http_defer(req, on_drop, arg) inside the handler keeps the request
 * after the handler returns; a later rn_http_reply_* (from the loop thread, e.g. a timer or an
 * event the job manager activates when a savepoint completes) answers it. The request's view
 * (params, query, body, headers) stays valid until then. If the client went away meanwhile the
 * reply is simply dropped (still call it: it frees the request). If the server is destroyed
 * first, on_drop(req, arg) is called (forget the pointer there) and the client gets 503. The
 * connection's timeout (timeout_s) still runs while a request waits: an answer later than that
 * reaches nobody, so operations longer than a few seconds are better answered 202 with an id
 * the client polls (as savepoints are).
 */
#ifndef RN_REST_HTTP_H
#define RN_REST_HTTP_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runnel/error.h"

struct event_base;

#define RN_HTTP_MAX_BODY ((size_t)4 << 20)   /* default request body limit */
#define RN_HTTP_MAX_PARAMS 8                 /* path parameters of one route */
#define RN_HTTP_MAX_SEGMENTS 32              /* path segments of a route or a request */
#define RN_HTTP_HEX32 "[0-9a-f]{32}"         /* job ids */
#define RN_HTTP_HEX1_32 "[0-9a-f]{1,32}"     /* request ids (savepoint triggers) */

typedef struct rn_http_server rn_http_server;
typedef struct rn_http_req rn_http_req;
typedef void (*rn_http_handler)(rn_http_req *req, void *arg);

struct rn_http_config {
    const char *host;      /* NULL: "127.0.0.1" */
    uint16_t port;         /* 0: any free port (rn_http_server_port says which) */
    const char *token;     /* NULL or "": no authentication */
    size_t max_body;       /* 0: RN_HTTP_MAX_BODY */
    int timeout_s;         /* a connection's read/write/idle timeout; 0: 60 */
};

/* Binds and listens on base's loop. NULL with err filled (bind errors name host:port). The
 * config's strings are copied. */
rn_http_server *rn_http_server_create(struct event_base *base, const struct rn_http_config *cfg, struct rn_error *err);
/* The bound port (the OS's choice when the config said 0). */
uint16_t rn_http_server_port(const rn_http_server *s);
/* Adds a route: method "GET" | "POST" | "PUT" | "PATCH" | "DELETE", a pattern as above (copied).
 * RN_EINVAL for an unknown method, a malformed pattern or a duplicate method + pattern. */
int rn_http_route(rn_http_server *s, const char *method, const char *pattern, rn_http_handler fn, void *arg,
                  struct rn_error *err);
/* Answers deferred requests 503 (after their on_drop), closes the listener and every
 * connection, frees everything. NULL is fine. */
void rn_http_server_destroy(rn_http_server *s);

/* ---- the request view (strings owned by the request; see "Replies" above) ---- */

const char *rn_http_method(const rn_http_req *r);          /* "GET", ... */
const char *rn_http_path(const rn_http_req *r);            /* as received, %-escapes kept, no query */
/* A path parameter of the route, decoded and validated; NULL when the route has no such name. */
const char *rn_http_param(const rn_http_req *r, const char *name);
/* A query parameter, decoded (the first when repeated); NULL when absent ("" for "?a" or "?a="). */
const char *rn_http_query(const rn_http_req *r, const char *name);
/* A request header, by case-insensitive name; NULL when absent. */
const char *rn_http_header(const rn_http_req *r, const char *name);
/* The body (NUL-terminated after len bytes, so text bodies are C strings when they hold no
 * NUL); "" and 0 when there is none. */
const char *rn_http_body(const rn_http_req *r, size_t *len);

/* ---- replies ---- */

/* json (len bytes) with Content-Type application/json. */
void rn_http_reply_json(rn_http_req *r, int status, const char *json, size_t len);
/* text with the given Content-Type (NULL: text/plain; charset=utf-8). */
void rn_http_reply_text(rn_http_req *r, int status, const char *content_type, const char *text);
/* {"error":"<message>"}, the message printf-formatted and JSON-escaped. */
void rn_http_reply_error(rn_http_req *r, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void rn_http_reply_verror(rn_http_req *r, int status, const char *fmt, va_list ap);
/* Adds a response header before the reply (e.g. Location). 0 or RN_EINVAL (CR/LF in it). */
int rn_http_add_header(rn_http_req *r, const char *name, const char *value);

/* A chunked reply (HTTP/1.1; HTTP/1.0 clients get the data until the connection closes):
 * start, any number of chunks, end. A handler that returns between start and end must have
 * deferred the request; end completes the reply (and frees a deferred request). */
void rn_http_reply_start(rn_http_req *r, int status, const char *content_type);
void rn_http_reply_chunk(rn_http_req *r, const void *data, size_t len);
void rn_http_reply_end(rn_http_req *r);

/* Keeps the request past the handler's return for a later reply; on_drop (may be NULL) is
 * called if the server is destroyed before that reply. Call from the handler only. */
void rn_http_defer(rn_http_req *r, void (*on_drop)(rn_http_req *r, void *arg), void *arg);

/* ---- directories named by requests ---- */

/* Resolves user_path (absolute, or relative to base) to an absolute path inside base (base
 * itself included) and writes it to out. Refused (RN_EINVAL, err says why): an empty path, a
 * ".." component, control characters, an absolute path outside base, a path whose existing
 * part leads out of base through a symlink (resolved with realpath), a dangling symlink, an
 * existing part that is not a directory. base must exist (RN_ENOTFOUND otherwise); RN_ERANGE
 * when out_len is too small. Components that do not exist yet are appended as written, after
 * the resolved existing prefix ("." and empty components dropped). The check is of the file
 * system as it is now: a symlink created later inside base is the directory owner's doing. */
int rn_http_safe_path(const char *base, const char *user_path, char *out, size_t out_len, struct rn_error *err);

#endif
