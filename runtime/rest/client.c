/*
 * client.c — the blocking HTTP/1.1 client of client.h.
 *
 * Sockets are non-blocking and every wait is a poll() bounded by the call's deadline, so no
 * step can outlast timeout_ms. Received bytes go to `in` (a window of at most IN_CAP bytes);
 * the header parser and the chunk decoder consume from it, the body goes to `out`, which is
 * bounded by the response limit.
 */
#include "client.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_HEADERS (64u << 10)
#define IN_CAP (MAX_HEADERS + 4096)
#define MAX_LINE 4096

struct conn {
    int fd;
    int64_t deadline;
    int timeout_ms;
    const char *host;
    uint16_t port;
    char *in;              /* received, not consumed: in[ip .. il) */
    size_t ip, il;
    bool eof;
    char *out;             /* the body */
    size_t ol, ocap, max;
    struct rn_error *err;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int io_error(struct conn *c, int e, const char *what)
{
    int rc = rn_error_set(c->err, RN_EIO, 0, 0, "%s %s:%u: %s", what, c->host, (unsigned)c->port, strerror(e));
    if (c->err) c->err->sys_errno = e;
    return rc;
}

static int timed_out(struct conn *c, const char *what)
{
    int rc = rn_error_set(c->err, RN_EIO, 0, 0, "%s %s:%u: timed out after %d ms", what, c->host, (unsigned)c->port, c->timeout_ms);
    if (c->err) c->err->sys_errno = ETIMEDOUT;
    return rc;
}

static int corrupt(struct conn *c, const char *what)
{
    return rn_error_set(c->err, RN_ECORRUPT, 0, 0, "malformed HTTP response from %s:%u: %s", c->host, (unsigned)c->port, what);
}

/* Waits for events on the socket until the deadline: 1 ready, 0 timed out, <0 error. */
static int wait_fd(struct conn *c, short events)
{
    for (;;) {
        int64_t left = c->deadline - now_ms();
        if (left <= 0) return 0;
        struct pollfd p = {.fd = c->fd, .events = events};
        int n = poll(&p, 1, left > 1000000 ? 1000000 : (int)left);
        if (n > 0) return 1;
        if (n == 0) continue;   /* the loop re-checks the deadline */
        if (errno != EINTR) return -1;
    }
}

static int connect_to(struct conn *c)
{
    char portstr[8], host[256];
    snprintf(portstr, sizeof portstr, "%u", (unsigned)c->port);
    size_t hl = strlen(c->host);
    if (hl >= sizeof host) return rn_error_set(c->err, RN_EINVAL, 0, 0, "host name too long");
    if (hl >= 2 && c->host[0] == '[' && c->host[hl - 1] == ']') {
        memcpy(host, c->host + 1, hl - 2);
        host[hl - 2] = 0;
    } else {
        memcpy(host, c->host, hl + 1);
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int g = getaddrinfo(host, portstr, &hints, &res);
    if (g) return rn_error_set(c->err, RN_EIO, 0, 0, "cannot resolve %s: %s", c->host, gai_strerror(g));
    int last = ECONNREFUSED;
    bool timeout = false;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) {
            last = errno;
            continue;
        }
        c->fd = fd;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) break;
        if (errno == EINPROGRESS) {
            int w = wait_fd(c, POLLOUT);
            if (w > 0) {
                int soerr = 0;
                socklen_t sl = sizeof soerr;
                if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0) break;
                last = soerr ? soerr : errno;
            } else if (w == 0) {
                timeout = true;
            } else {
                last = errno;
            }
        } else {
            last = errno;
        }
        close(fd);
        c->fd = -1;
        if (timeout) break;
    }
    freeaddrinfo(res);
    if (c->fd >= 0) return 0;
    if (timeout) return timed_out(c, "cannot connect to");
    return io_error(c, last, "cannot connect to");
}

/* Sends everything; a peer that closed early (EPIPE, ECONNRESET) ends sending quietly: its
 * answer may be waiting. 1 sent, 0 peer closed, <0 error. */
static int send_all(struct conn *c, const char *p, size_t n)
{
    while (n) {
        ssize_t k = send(c->fd, p, n, MSG_NOSIGNAL);
        if (k > 0) {
            p += k;
            n -= (size_t)k;
            continue;
        }
        if (k < 0 && errno == EINTR) continue;
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int w = wait_fd(c, POLLOUT);
            if (w == 0) return timed_out(c, "cannot send to");
            if (w < 0) return io_error(c, errno, "cannot send to");
            continue;
        }
        if (k < 0 && (errno == EPIPE || errno == ECONNRESET)) return 0;
        return io_error(c, k < 0 ? errno : EIO, "cannot send to");
    }
    return 1;
}

/* Reads more into `in` (compacting it first). 1 got bytes, 0 end of stream, <0 error. */
static int fill(struct conn *c)
{
    if (c->eof) return 0;
    if (c->ip) {
        memmove(c->in, c->in + c->ip, c->il - c->ip);
        c->il -= c->ip;
        c->ip = 0;
    }
    if (c->il == IN_CAP) return corrupt(c, "a line or header block too long");
    for (;;) {
        ssize_t k = recv(c->fd, c->in + c->il, IN_CAP - c->il, 0);
        if (k > 0) {
            c->il += (size_t)k;
            return 1;
        }
        if (k == 0) {
            c->eof = true;
            return 0;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            int w = wait_fd(c, POLLIN);
            if (w == 0) return timed_out(c, "no answer from");
            if (w < 0) return io_error(c, errno, "cannot read from");
            continue;
        }
        return io_error(c, errno, "cannot read from");
    }
}

static int too_big(struct conn *c)
{
    return rn_error_set(c->err, RN_ERANGE, 0, 0, "the answer of %s:%u exceeds the limit of %zu bytes", c->host, (unsigned)c->port, c->max);
}

static int out_add(struct conn *c, const char *p, size_t n)
{
    if (n > c->max - c->ol) return too_big(c);
    if (c->ol + n + 1 > c->ocap) {
        size_t cap = c->ocap ? c->ocap : 4096;
        while (cap < c->ol + n + 1) cap *= 2;
        char *nb = realloc(c->out, cap);
        if (!nb) return rn_error_set(c->err, RN_ENOMEM, 0, 0, "out of memory");
        c->out = nb;
        c->ocap = cap;
    }
    memcpy(c->out + c->ol, p, n);
    c->ol += n;
    c->out[c->ol] = 0;
    return 0;
}

/* One line (CRLF or LF terminated) from `in`, without its end; *got false at the end of the stream. */
static int read_line(struct conn *c, char *line, size_t cap, bool *got)
{
    for (;;) {
        char *nl = memchr(c->in + c->ip, '\n', c->il - c->ip);
        if (nl) {
            size_t n = (size_t)(nl - (c->in + c->ip));
            if (n && c->in[c->ip + n - 1] == '\r') n--;
            if (n >= cap) return corrupt(c, "line too long");
            memcpy(line, c->in + c->ip, n);
            line[n] = 0;
            c->ip = (size_t)(nl - c->in) + 1;
            *got = true;
            return 0;
        }
        if (c->il - c->ip >= cap) return corrupt(c, "line too long");
        int f = fill(c);
        if (f < 0) return f;
        if (f == 0) {
            *got = false;
            return 0;
        }
    }
}

struct head {
    int status;
    bool chunked, has_length;
    uint64_t length;
};

static int parse_head(struct conn *c, struct head *h)
{
    char line[MAX_LINE];
    bool got;
    size_t total = 0;
    for (;;) {   /* until a final (non-1xx) status */
        int rc = read_line(c, line, sizeof line, &got);
        if (rc) return rc;
        if (!got) return rn_error_set(c->err, RN_EIO, 0, 0, "%s:%u closed the connection without answering", c->host, (unsigned)c->port);
        if (strncmp(line, "HTTP/1.", 7) || !line[7] || line[8] != ' ' || line[9] < '1' || line[9] > '5' || line[10] < '0' ||
            line[10] > '9' || line[11] < '0' || line[11] > '9' || (line[12] && line[12] != ' '))
            return corrupt(c, "not an HTTP/1.x status line");
        h->status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
        h->chunked = h->has_length = false;
        h->length = 0;
        for (;;) {
            rc = read_line(c, line, sizeof line, &got);
            if (rc) return rc;
            if (!got) return corrupt(c, "the connection ended inside the headers");
            total += strlen(line) + 2;
            if (total > MAX_HEADERS) return corrupt(c, "headers too long");
            if (!line[0]) break;
            char *colon = strchr(line, ':');
            if (!colon || colon == line) return corrupt(c, "a header line without a name");
            *colon = 0;
            char *v = colon + 1;
            while (*v == ' ' || *v == '\t') v++;
            size_t vl = strlen(v);
            while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t')) v[--vl] = 0;
            if (!strcasecmp(line, "Content-Length")) {
                if (!vl) return corrupt(c, "empty Content-Length");
                uint64_t n = 0;
                for (size_t i = 0; i < vl; i++) {
                    if (v[i] < '0' || v[i] > '9' || n > (UINT64_MAX - 9) / 10) return corrupt(c, "bad Content-Length");
                    n = n * 10 + (uint64_t)(v[i] - '0');
                }
                if (h->has_length && h->length != n) return corrupt(c, "conflicting Content-Length headers");
                h->has_length = true;
                h->length = n;
            } else if (!strcasecmp(line, "Transfer-Encoding")) {
                const char *last = strrchr(v, ',');
                last = last ? last + 1 : v;
                while (*last == ' ') last++;
                if (strcasecmp(last, "chunked")) return corrupt(c, "unsupported Transfer-Encoding");
                h->chunked = true;
            }
        }
        if (h->status >= 200) return 0;
    }
}

static int read_chunked(struct conn *c)
{
    char line[MAX_LINE];
    bool got;
    for (;;) {
        int rc = read_line(c, line, sizeof line, &got);
        if (rc) return rc;
        if (!got) return corrupt(c, "the connection ended inside a chunked body");
        uint64_t size = 0;
        const char *p = line;
        if (!*p) return corrupt(c, "empty chunk size");
        for (; *p && *p != ';' && *p != ' ' && *p != '\t'; p++) {
            int d = (*p >= '0' && *p <= '9') ? *p - '0' : (*p >= 'a' && *p <= 'f') ? *p - 'a' + 10 : (*p >= 'A' && *p <= 'F') ? *p - 'A' + 10 : -1;
            if (d < 0 || size > (UINT64_MAX >> 4)) return corrupt(c, "bad chunk size");
            size = size << 4 | (uint64_t)d;
        }
        if (p == line) return corrupt(c, "bad chunk size");
        if (size == 0) break;
        if (size > c->max - c->ol) return too_big(c);
        while (size) {
            if (c->ip == c->il) {
                int f = fill(c);
                if (f < 0) return f;
                if (f == 0) return corrupt(c, "the connection ended inside a chunk");
            }
            size_t k = c->il - c->ip;
            if (k > size) k = (size_t)size;
            rc = out_add(c, c->in + c->ip, k);
            if (rc) return rc;
            c->ip += k;
            size -= k;
        }
        rc = read_line(c, line, sizeof line, &got);
        if (rc) return rc;
        if (!got || line[0]) return corrupt(c, "a chunk not followed by CRLF");
    }
    /* trailers, up to the empty line (a server that closes right after "0\r\n" is forgiven) */
    for (;;) {
        int rc = read_line(c, line, sizeof line, &got);
        if (rc) return rc;
        if (!got || !line[0]) return 0;
    }
}

static int read_body(struct conn *c, const struct head *h)
{
    if (h->status == 204 || h->status == 304) return 0;
    if (h->chunked) return read_chunked(c);
    if (h->has_length) {
        if (h->length > c->max) return too_big(c);
        uint64_t left = h->length;
        while (left) {
            if (c->ip == c->il) {
                int f = fill(c);
                if (f < 0) return f;
                if (f == 0) return corrupt(c, "the connection ended before Content-Length bytes");
            }
            size_t k = c->il - c->ip;
            if (k > left) k = (size_t)left;
            int rc = out_add(c, c->in + c->ip, k);
            if (rc) return rc;
            c->ip += k;
            left -= k;
        }
        return 0;
    }
    for (;;) {   /* until the end of the connection */
        if (c->ip < c->il) {
            int rc = out_add(c, c->in + c->ip, c->il - c->ip);
            if (rc) return rc;
            c->ip = c->il;
        }
        int f = fill(c);
        if (f < 0) return f;
        if (f == 0) return 0;
    }
}

static bool header_safe(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f) return false;
    return true;
}

static bool token_safe(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s <= 0x20 || *s == 0x7f) return false;
    return true;
}

int rn_http_call(const struct rn_http_call *call, int *status, char **body, size_t *len, struct rn_error *err)
{
    rn_error_clear(err);
    *body = NULL;
    *len = 0;
    *status = 0;
    if (!call->host || !call->method || !call->path || call->path[0] != '/' || !token_safe(call->method) || !token_safe(call->path) ||
        (call->token && !token_safe(call->token)) || (call->content_type && !header_safe(call->content_type)) ||
        (!call->body && call->body_len))
        return rn_error_set(err, RN_EINVAL, 0, 0, "invalid HTTP request (method, path, token or content type)");
    struct conn c = {
        .fd = -1,
        .timeout_ms = call->timeout_ms > 0 ? call->timeout_ms : 30000,
        .host = call->host,
        .port = call->port,
        .max = call->max_response ? call->max_response : RN_HTTP_MAX_RESPONSE,
        .err = err,
    };
    c.deadline = now_ms() + c.timeout_ms;
    int rc = 0;
    char *req = NULL;
    c.in = malloc(IN_CAP);
    if (!c.in) return rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");

    rc = connect_to(&c);
    if (rc) goto out_in;

    size_t cap = 512 + strlen(call->path) + strlen(call->host) + (call->token ? strlen(call->token) : 0) +
                 (call->content_type ? strlen(call->content_type) : 0);
    req = malloc(cap);
    if (!req) {
        rc = rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
        goto out_fd;
    }
    bool bracket = strchr(call->host, ':') && call->host[0] != '[';
    int n = snprintf(req, cap, "%s %s HTTP/1.1\r\nHost: %s%s%s:%u\r\nConnection: close\r\nAccept: application/json\r\n", call->method,
                     call->path, bracket ? "[" : "", call->host, bracket ? "]" : "", (unsigned)call->port);
    if (call->token) n += snprintf(req + n, cap - (size_t)n, "Authorization: Bearer %s\r\n", call->token);
    if (call->content_type) n += snprintf(req + n, cap - (size_t)n, "Content-Type: %s\r\n", call->content_type);
    if (call->body_len || strcmp(call->method, "GET"))
        n += snprintf(req + n, cap - (size_t)n, "Content-Length: %zu\r\n", call->body_len);
    n += snprintf(req + n, cap - (size_t)n, "\r\n");
    int s = send_all(&c, req, (size_t)n);
    if (s > 0 && call->body_len) s = send_all(&c, call->body, call->body_len);
    if (s < 0) {
        rc = s;
        goto out_fd;
    }
    /* no shutdown(SHUT_WR) here: evhttp takes a half-closed connection for a closed one and
     * would drop a reply that comes later */

    struct head h;
    rc = parse_head(&c, &h);
    if (rc) goto out_fd;
    rc = read_body(&c, &h);
    if (rc) goto out_fd;
    if (!c.out) {
        c.out = malloc(1);
        if (!c.out) {
            rc = rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
            goto out_fd;
        }
        c.out[0] = 0;
    }
    *status = h.status;
    *body = c.out;
    *len = c.ol;
    c.out = NULL;
out_fd:
    close(c.fd);
    free(req);
out_in:
    free(c.in);
    free(c.out);
    return rc;
}

int rn_http_request(const char *host, uint16_t port, const char *method, const char *path, const char *token,
                    const void *body, size_t body_len, const char *content_type, int timeout_ms, int *status,
                    char **resp_body, size_t *resp_len, struct rn_error *err)
{
    struct rn_http_call call = {
        .host = host,
        .port = port,
        .method = method,
        .path = path,
        .token = token,
        .body = body,
        .body_len = body_len,
        .content_type = content_type,
        .timeout_ms = timeout_ms,
    };
    return rn_http_call(&call, status, resp_body, resp_len, err);
}
