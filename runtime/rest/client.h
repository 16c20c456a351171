/*
 * client.h — a small blocking HTTP/1.1 client for the `runnel` CLI verbs that talk to a job
 * manager's REST API (and for tests of the server).
 *
 * One request per connection ("Connection: close"), plain TCP (no TLS), any address family
 * getaddrinfo gives for the host. The whole exchange — resolving aside, connecting, sending,
 * reading the answer — has one deadline, timeout_ms from the call. Responses: a status line,
 * headers (at most 64 KiB), and a body framed by Content-Length, chunked transfer coding (what
 * evhttp sends for streamed replies; chunk extensions and trailers are skipped) or the end of
 * the connection; interim 1xx responses are skipped. A body past the limit is refused
 * (RN_ERANGE) without reading further. If the server answers before it has read the whole
 * request body (401, 413) and closes, the answer is still read.
 */
#ifndef RN_REST_CLIENT_H
#define RN_REST_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "runnel/error.h"

#define RN_HTTP_MAX_RESPONSE ((size_t)64 << 20)   /* default response body limit */

struct rn_http_call {
    const char *host;           /* name or address; "[::1]" brackets are accepted */
    uint16_t port;
    const char *method;         /* "GET", "POST", ... */
    const char *path;           /* starts with '/', already %-encoded, query included */
    const char *token;          /* NULL: no Authorization header */
    const void *body;           /* NULL with body_len 0: no body */
    size_t body_len;
    const char *content_type;   /* of the body; NULL: none sent */
    int timeout_ms;             /* <= 0: 30 s */
    size_t max_response;        /* 0: RN_HTTP_MAX_RESPONSE */
};

/* Performs the call. 0 when a whole response was read: *status is its code and *body (caller
 * frees; NUL-terminated after *len bytes, never NULL) its body, whatever the status. Errors,
 * with err saying what and naming host:port: RN_EIO (cannot resolve, connect, send or read;
 * timed out: sys_errno ETIMEDOUT; refused: ECONNREFUSED), RN_ECORRUPT (not an HTTP response,
 * bad framing), RN_ERANGE (the body exceeds the limit), RN_EINVAL (a method, path, token or
 * content type that would break the request line or a header), RN_ENOMEM. */
int rn_http_call(const struct rn_http_call *call, int *status, char **body, size_t *len, struct rn_error *err);

/* rn_http_call with the default response limit. */
int rn_http_request(const char *host, uint16_t port, const char *method, const char *path, const char *token,
                    const void *body, size_t body_len, const char *content_type, int timeout_ms, int *status,
                    char **resp_body, size_t *resp_len, struct rn_error *err);

#endif
