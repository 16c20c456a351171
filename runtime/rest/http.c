/*
 * http.c — the REST server plumbing of http.h on libevent's evhttp, and rn_http_safe_path.
 *
 * evhttp parses HTTP, enforces the body and header size limits and the connection timeouts;
 * one generic callback (on_request) does the rest: authentication, path splitting and
 * decoding, routing, query decoding, then the route's handler. Each request gets a small
 * wrapper (struct rn_http_req) that holds the decoded path segments and query and points at
 * evhttp's request for headers and body; the wrapper is freed when the reply is sent (after the
 * handler returns, or at the reply of a deferred request).
 *
 * What libevent 2.1 does that this relies on: an evhttp_request whose connection closed while
 * the user had not replied is detached (its connection pointer becomes NULL) and kept for the
 * user; evhttp_send_reply / evhttp_send_reply_end on a detached request free it, and
 * evhttp_send_reply_chunk ignores it; evhttp_free frees every request still attached to a
 * connection. So deferred requests are answered (or dropped) before evhttp_free, never after.
 */
#include "http.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>

#include "json.h"

#define MAX_QUERY_PARAMS 64
#define MAX_HEADERS_SIZE (64 << 10)
#define DEFAULT_PARAM_MAX 128

/* ------------------------------------------------------------------------------------------ */
/* structures                                                                                  */
/* ------------------------------------------------------------------------------------------ */

struct seg {
    char *lit;                 /* literal text; NULL for a parameter */
    char *name;                /* parameter name */
    uint8_t cls[32];           /* parameter: allowed bytes (bit set) */
    uint32_t min, max;         /* parameter: length range */
};

struct route {
    enum evhttp_cmd_type cmd;
    const char *method;
    char *pattern;
    uint32_t nseg, nliteral;
    struct seg segs[RN_HTTP_MAX_SEGMENTS];
    rn_http_handler fn;
    void *arg;
};

struct kv {
    const char *key, *value;
};

struct rn_http_req {
    rn_http_server *srv;
    struct evhttp_request *ev;          /* NULL once replied */
    const char *method;
    char *path;                         /* raw path copy */
    char *segbuf;                       /* decoded segments, NUL-separated */
    const char *segs[RN_HTTP_MAX_SEGMENTS];
    uint32_t nseg;
    struct kv params[RN_HTTP_MAX_PARAMS];
    uint32_t nparams;
    char *querybuf;
    struct kv *query;
    uint32_t nquery;
    const char *body;
    size_t body_len;
    bool in_handler, deferred, replied, streaming;
    void (*on_drop)(rn_http_req *, void *);
    void *drop_arg;
    rn_http_req *prev, *next;           /* the server's deferred list */
};

struct rn_http_server {
    struct event_base *base;
    struct evhttp *http;
    struct evhttp_bound_socket *sock;
    uint16_t port;
    char *token;
    size_t token_len;
    size_t max_body;
    struct route **routes;
    size_t nroutes;
    rn_http_req *deferred;
};

static const struct {
    const char *name;
    enum evhttp_cmd_type cmd;
} methods[] = {
    {"GET", EVHTTP_REQ_GET},     {"POST", EVHTTP_REQ_POST},     {"PUT", EVHTTP_REQ_PUT},
    {"PATCH", EVHTTP_REQ_PATCH}, {"DELETE", EVHTTP_REQ_DELETE}, {"HEAD", EVHTTP_REQ_HEAD},
    {"OPTIONS", EVHTTP_REQ_OPTIONS},
};

static const char *method_name(enum evhttp_cmd_type cmd)
{
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
        if (methods[i].cmd == cmd) return methods[i].name;
    return "?";
}

/* ------------------------------------------------------------------------------------------ */
/* route patterns                                                                              */
/* ------------------------------------------------------------------------------------------ */

static void cls_set(uint8_t *cls, unsigned c) { cls[c >> 3] |= (uint8_t)(1u << (c & 7)); }
static bool cls_has(const uint8_t *cls, unsigned c) { return cls[c >> 3] & (1u << (c & 7)); }

static bool parse_u32(const char **p, uint32_t *out)
{
    const char *q = *p;
    uint32_t v = 0;
    if (*q < '0' || *q > '9') return false;
    while (*q >= '0' && *q <= '9') {
        if (v > 100000) return false;
        v = v * 10 + (uint32_t)(*q++ - '0');
    }
    *p = q;
    *out = v;
    return true;
}

/* "{name}" or "{name:[CLASS]{m,n}}" (text is the segment, len bytes). */
static int parse_param(struct seg *sg, const char *text, size_t len, const char *pattern, struct rn_error *err)
{
    if (len < 3 || text[len - 1] != '}') goto bad;
    char *inner = strndup(text + 1, len - 2);
    if (!inner) return rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
    char *colon = strchr(inner, ':');
    if (colon) *colon = 0;
    const char *name = inner;
    if (!name[0] || !(name[0] == '_' || (name[0] >= 'a' && name[0] <= 'z') || (name[0] >= 'A' && name[0] <= 'Z'))) {
        free(inner);
        goto bad;
    }
    for (const char *c = name; *c; c++)
        if (!(*c == '_' || (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9'))) {
            free(inner);
            goto bad;
        }
    memset(sg->cls, 0, sizeof sg->cls);
    if (!colon) {
        for (unsigned c = 'a'; c <= 'z'; c++) cls_set(sg->cls, c);
        for (unsigned c = 'A'; c <= 'Z'; c++) cls_set(sg->cls, c);
        for (unsigned c = '0'; c <= '9'; c++) cls_set(sg->cls, c);
        cls_set(sg->cls, '_');
        cls_set(sg->cls, '-');
        sg->min = 1;
        sg->max = DEFAULT_PARAM_MAX;
    } else {
        const char *r = colon + 1;
        if (*r++ != '[') {
            free(inner);
            goto bad;
        }
        bool any = false;
        while (*r && *r != ']') {
            unsigned lo = (unsigned char)*r++, hi = lo;
            if (*r == '-' && r[1] && r[1] != ']') {
                hi = (unsigned char)r[1];
                r += 2;
            }
            if (lo < 0x21 || hi > 0x7e || hi < lo || (lo <= '/' && '/' <= hi)) {
                free(inner);
                goto bad;
            }
            for (unsigned c = lo; c <= hi; c++) cls_set(sg->cls, c);
            any = true;
        }
        if (*r++ != ']' || !any) {
            free(inner);
            goto bad;
        }
        sg->min = 1;
        sg->max = DEFAULT_PARAM_MAX;
        if (*r == '{') {
            r++;
            if (!parse_u32(&r, &sg->min)) {
                free(inner);
                goto bad;
            }
            sg->max = sg->min;
            if (*r == ',') {
                r++;
                if (!parse_u32(&r, &sg->max)) {
                    free(inner);
                    goto bad;
                }
            }
            if (*r++ != '}' || sg->min < 1 || sg->max < sg->min || sg->max > 4096) {
                free(inner);
                goto bad;
            }
        }
        if (*r) {
            free(inner);
            goto bad;
        }
    }
    sg->name = strdup(name);
    free(inner);
    if (!sg->name) return rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
    return 0;
bad:
    return rn_error_set(err, RN_EINVAL, 0, 0, "route pattern '%s': malformed parameter '%.*s' (want {name} or {name:[a-z0-9]{min,max}})",
                        pattern, (int)len, text);
}

static void route_free(struct route *rt)
{
    if (!rt) return;
    for (uint32_t i = 0; i < rt->nseg; i++) {
        free(rt->segs[i].lit);
        free(rt->segs[i].name);
    }
    free(rt->pattern);
    free(rt);
}

static int parse_pattern(struct route *rt, const char *pattern, struct rn_error *err)
{
    if (pattern[0] != '/') return rn_error_set(err, RN_EINVAL, 0, 0, "route pattern '%s' does not start with '/'", pattern);
    const char *p = pattern + 1;
    if (!*p) return 0;   /* "/" */
    uint32_t nparams = 0;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        if (rt->nseg >= RN_HTTP_MAX_SEGMENTS)
            return rn_error_set(err, RN_EINVAL, 0, 0, "route pattern '%s' has more than %d segments", pattern, RN_HTTP_MAX_SEGMENTS);
        struct seg *sg = &rt->segs[rt->nseg];
        if (!len) return rn_error_set(err, RN_EINVAL, 0, 0, "route pattern '%s' has an empty segment", pattern);
        if (p[0] == '{') {
            if (nparams >= RN_HTTP_MAX_PARAMS)
                return rn_error_set(err, RN_EINVAL, 0, 0, "route pattern '%s' has more than %d parameters", pattern, RN_HTTP_MAX_PARAMS);
            int rc = parse_param(sg, p, len, pattern, err);
            if (rc) return rc;
            rt->nseg++;
            for (uint32_t i = 0; i + 1 < rt->nseg; i++)
                if (rt->segs[i].name && !strcmp(rt->segs[i].name, sg->name))
                    return rn_error_set(err, RN_EINVAL, 0, 0, "route pattern '%s' names parameter '%s' twice", pattern, sg->name);
            nparams++;
        } else {
            for (size_t i = 0; i < len; i++)
                if (p[i] == '{' || p[i] == '}' || p[i] == '%' || p[i] == '?' || (unsigned char)p[i] <= 0x20)
                    return rn_error_set(err, RN_EINVAL, 0, 0, "route pattern '%s': bad character in literal segment '%.*s'", pattern,
                                        (int)len, p);
            if ((len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
                return rn_error_set(err, RN_EINVAL, 0, 0, "route pattern '%s' has a dot segment", pattern);
            sg->lit = strndup(p, len);
            if (!sg->lit) return rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
            rt->nseg++;
            rt->nliteral++;
        }
        if (!slash) break;
        p = slash + 1;
        if (!*p) return rn_error_set(err, RN_EINVAL, 0, 0, "route pattern '%s' ends with '/'", pattern);
    }
    return 0;
}

int rn_http_route(rn_http_server *s, const char *method, const char *pattern, rn_http_handler fn, void *arg,
                  struct rn_error *err)
{
    if (!method || !pattern || !fn) return rn_error_set(err, RN_EINVAL, 0, 0, "route: method, pattern and handler are required");
    enum evhttp_cmd_type cmd = 0;
    const char *mname = NULL;
    for (size_t i = 0; i < 5; i++)   /* GET POST PUT PATCH DELETE */
        if (!strcmp(method, methods[i].name)) {
            cmd = methods[i].cmd;
            mname = methods[i].name;
        }
    if (!mname) return rn_error_set(err, RN_EINVAL, 0, 0, "route '%s': unsupported method '%s'", pattern, method);
    for (size_t i = 0; i < s->nroutes; i++)
        if (s->routes[i]->cmd == cmd && !strcmp(s->routes[i]->pattern, pattern))
            return rn_error_set(err, RN_EINVAL, 0, 0, "route %s %s is already there", method, pattern);
    struct route *rt = calloc(1, sizeof *rt);
    if (!rt) return rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
    int rc = parse_pattern(rt, pattern, err);
    if (rc) goto fail_route;
    rt->pattern = strdup(pattern);
    if (!rt->pattern) {
        rc = rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
        goto fail_route;
    }
    rt->cmd = cmd;
    rt->method = mname;
    rt->fn = fn;
    rt->arg = arg;
    struct route **nr = realloc(s->routes, (s->nroutes + 1) * sizeof *nr);
    if (!nr) {
        rc = rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
        goto fail_route;
    }
    s->routes = nr;
    s->routes[s->nroutes++] = rt;
    return 0;
fail_route:
    route_free(rt);
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* replies                                                                                     */
/* ------------------------------------------------------------------------------------------ */

static void req_free(rn_http_req *r)
{
    free(r->path);
    free(r->segbuf);
    free(r->querybuf);
    free(r->query);
    free(r);
}

static void unlink_deferred(rn_http_req *r)
{
    if (!r->deferred) return;
    if (r->prev) r->prev->next = r->next;
    else if (r->srv->deferred == r) r->srv->deferred = r->next;
    if (r->next) r->next->prev = r->prev;
    r->prev = r->next = NULL;
    r->deferred = false;
}

/* The reply is complete: a deferred request is freed now, a handler's after it returns. */
static void completed(rn_http_req *r)
{
    r->replied = true;
    r->ev = NULL;
    if (r->in_handler) return;
    unlink_deferred(r);
    req_free(r);
}

static bool can_reply(const rn_http_req *r) { return r && !r->replied && !r->streaming && r->ev; }

static void send_body(rn_http_req *r, int status, const char *content_type, const char *data, size_t len)
{
    if (!can_reply(r)) return;
    struct evbuffer *buf = evbuffer_new();
    if (buf && len && evbuffer_add(buf, data, len)) {
        evbuffer_free(buf);
        buf = NULL;
    }
    if (!buf) {
        evhttp_send_error(r->ev, 500, NULL);
        completed(r);
        return;
    }
    struct evkeyvalq *h = evhttp_request_get_output_headers(r->ev);
    evhttp_remove_header(h, "Content-Type");
    evhttp_add_header(h, "Content-Type", content_type);
    evhttp_send_reply(r->ev, status, NULL, buf);
    evbuffer_free(buf);
    completed(r);
}

void rn_http_reply_json(rn_http_req *r, int status, const char *json, size_t len)
{
    send_body(r, status, "application/json", json, len);
}

void rn_http_reply_text(rn_http_req *r, int status, const char *content_type, const char *text)
{
    send_body(r, status, content_type ? content_type : "text/plain; charset=utf-8", text, text ? strlen(text) : 0);
}

void rn_http_reply_verror(rn_http_req *r, int status, const char *fmt, va_list ap)
{
    if (!can_reply(r)) return;
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    struct rn_json_builder b;
    rn_json_init(&b);
    rn_json_obj_begin(&b);
    rn_json_kstr(&b, "error", msg);
    rn_json_obj_end(&b);
    const char *text;
    size_t len;
    if (rn_json_finish(&b, &text, &len)) {
        text = "{\"error\":\"out of memory\"}";
        len = strlen(text);
    }
    send_body(r, status, "application/json", text, len);
    rn_json_release(&b);
}

void rn_http_reply_error(rn_http_req *r, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    rn_http_reply_verror(r, status, fmt, ap);
    va_end(ap);
}

int rn_http_add_header(rn_http_req *r, const char *name, const char *value)
{
    if (!can_reply(r) || !name || !value || strpbrk(name, "\r\n: ") || strpbrk(value, "\r\n")) return RN_EINVAL;
    return evhttp_add_header(evhttp_request_get_output_headers(r->ev), name, value) ? RN_EINVAL : 0;
}

void rn_http_reply_start(rn_http_req *r, int status, const char *content_type)
{
    if (!can_reply(r)) return;
    r->streaming = true;
    if (!evhttp_request_get_connection(r->ev)) {
        /* the client went away: evhttp_send_reply frees a detached request */
        evhttp_send_reply(r->ev, status, NULL, NULL);
        r->ev = NULL;
        return;
    }
    struct evkeyvalq *h = evhttp_request_get_output_headers(r->ev);
    evhttp_remove_header(h, "Content-Type");
    evhttp_add_header(h, "Content-Type", content_type ? content_type : "application/json");
    evhttp_send_reply_start(r->ev, status, NULL);
}

void rn_http_reply_chunk(rn_http_req *r, const void *data, size_t len)
{
    if (!r || !r->streaming || r->replied || !r->ev || !len) return;
    struct evbuffer *buf = evbuffer_new();
    if (!buf) return;
    if (!evbuffer_add(buf, data, len)) evhttp_send_reply_chunk(r->ev, buf);
    evbuffer_free(buf);
}

void rn_http_reply_end(rn_http_req *r)
{
    if (!r || !r->streaming || r->replied) return;
    if (r->ev) evhttp_send_reply_end(r->ev);
    r->streaming = false;
    completed(r);
}

void rn_http_defer(rn_http_req *r, void (*on_drop)(rn_http_req *, void *), void *arg)
{
    if (!r || !r->in_handler || r->replied || r->deferred) return;
    r->on_drop = on_drop;
    r->drop_arg = arg;
    r->deferred = true;
    r->prev = NULL;
    r->next = r->srv->deferred;
    if (r->next) r->next->prev = r;
    r->srv->deferred = r;
}

/* ------------------------------------------------------------------------------------------ */
/* the request view                                                                            */
/* ------------------------------------------------------------------------------------------ */

const char *rn_http_method(const rn_http_req *r) { return r->method; }
const char *rn_http_path(const rn_http_req *r) { return r->path ? r->path : "/"; }

const char *rn_http_param(const rn_http_req *r, const char *name)
{
    for (uint32_t i = 0; i < r->nparams; i++)
        if (!strcmp(r->params[i].key, name)) return r->params[i].value;
    return NULL;
}

const char *rn_http_query(const rn_http_req *r, const char *name)
{
    for (uint32_t i = 0; i < r->nquery; i++)
        if (!strcmp(r->query[i].key, name)) return r->query[i].value;
    return NULL;
}

const char *rn_http_header(const rn_http_req *r, const char *name)
{
    if (!r->ev) return NULL;
    return evhttp_find_header(evhttp_request_get_input_headers(r->ev), name);
}

const char *rn_http_body(const rn_http_req *r, size_t *len)
{
    if (len) *len = r->body_len;
    return r->body ? r->body : "";
}

/* ------------------------------------------------------------------------------------------ */
/* request handling                                                                            */
/* ------------------------------------------------------------------------------------------ */

static int hexdig(unsigned c)
{
    if (c >= '0' && c <= '9') return (int)(c - '0');
    if (c >= 'a' && c <= 'f') return (int)(c - 'a' + 10);
    if (c >= 'A' && c <= 'F') return (int)(c - 'A' + 10);
    return -1;
}

/* Decodes s[0..n) into out (NUL-terminated, at most n + 1 bytes); plus: '+' is a space.
 * -1 for a malformed escape or a decoded NUL. */
static int pct_decode(const char *s, size_t n, bool plus, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '%') {
            if (i + 2 >= n) return -1;
            int h = hexdig((unsigned char)s[i + 1]), l = hexdig((unsigned char)s[i + 2]);
            if (h < 0 || l < 0) return -1;
            c = (unsigned char)(h << 4 | l);
            if (!c) return -1;
            i += 2;
        } else if (plus && c == '+') {
            c = ' ';
        }
        out[o++] = (char)c;
    }
    out[o] = 0;
    return 0;
}

/* Constant-time comparison (time depends only on the expected length). */
static bool token_equal(const char *got, size_t got_len, const char *want, size_t want_len)
{
    unsigned diff = got_len != want_len;
    for (size_t i = 0; i < want_len; i++) diff |= (unsigned)(unsigned char)(i < got_len ? got[i] : 0) ^ (unsigned char)want[i];
    return diff == 0;
}

static bool authorized(rn_http_server *s, struct evhttp_request *ev)
{
    if (!s->token) return true;
    const char *h = evhttp_find_header(evhttp_request_get_input_headers(ev), "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7)) return false;
    h += 7;
    while (*h == ' ') h++;
    size_t n = strlen(h);
    while (n && (h[n - 1] == ' ' || h[n - 1] == '\t')) n--;
    return token_equal(h, n, s->token, s->token_len);
}

/* Splits and decodes the path; 0, or -1 after replying 400/404. */
static int split_path(rn_http_req *r)
{
    const char *p = r->path;
    if (p[0] != '/') {
        rn_http_reply_error(r, 400, "invalid path '%s'", p);
        return -1;
    }
    size_t n = strlen(p);
    r->segbuf = malloc(n + 2);
    if (!r->segbuf) {
        rn_http_reply_error(r, 500, "out of memory");
        return -1;
    }
    if (n == 1) return 0;
    char *o = r->segbuf;
    const char *q = p + 1;
    for (;;) {
        const char *slash = strchr(q, '/');
        size_t len = slash ? (size_t)(slash - q) : strlen(q);
        if (r->nseg >= RN_HTTP_MAX_SEGMENTS) {
            rn_http_reply_error(r, 404, "no such path");
            return -1;
        }
        if (pct_decode(q, len, false, o)) {
            rn_http_reply_error(r, 400, "invalid path: malformed %%-escape");
            return -1;
        }
        if (!strcmp(o, ".") || !strcmp(o, "..")) {
            rn_http_reply_error(r, 400, "invalid path: '.' and '..' segments are not allowed");
            return -1;
        }
        if (strchr(o, '/')) {
            rn_http_reply_error(r, 400, "invalid path: an encoded '/' inside a segment");
            return -1;
        }
        r->segs[r->nseg++] = o;
        o += strlen(o) + 1;
        if (!slash) break;
        q = slash + 1;
    }
    return 0;
}

static int parse_query(rn_http_req *r, const char *raw)
{
    if (!raw || !*raw) return 0;
    size_t n = strlen(raw);
    r->querybuf = malloc(n + 1);
    r->query = calloc(MAX_QUERY_PARAMS, sizeof *r->query);
    if (!r->querybuf || !r->query) {
        rn_http_reply_error(r, 500, "out of memory");
        return -1;
    }
    char *o = r->querybuf;
    const char *q = raw;
    while (*q) {
        const char *amp = strchr(q, '&');
        size_t len = amp ? (size_t)(amp - q) : strlen(q);
        if (len) {
            if (r->nquery >= MAX_QUERY_PARAMS) {
                rn_http_reply_error(r, 400, "too many query parameters (at most %d)", MAX_QUERY_PARAMS);
                return -1;
            }
            const char *eq = memchr(q, '=', len);
            size_t klen = eq ? (size_t)(eq - q) : len;
            /* key and value each decode into their own NUL-terminated room: klen + 1 + vlen + 1
             * <= len + 1 when there is an '=' (it gives the extra byte); without one the value
             * is the key's terminating NUL */
            char *key = o;
            if (pct_decode(q, klen, true, key)) goto bad;
            o += strlen(key) + 1;
            const char *value = key + strlen(key);   /* "" */
            if (eq) {
                char *v = o;
                if (pct_decode(eq + 1, len - klen - 1, true, v)) goto bad;
                o += strlen(v) + 1;
                value = v;
            }
            r->query[r->nquery].key = key;
            r->query[r->nquery].value = value;
            r->nquery++;
        }
        if (!amp) break;
        q = amp + 1;
    }
    return 0;
bad:
    rn_http_reply_error(r, 400, "invalid query string: malformed %%-escape");
    return -1;
}

static bool param_ok(const struct seg *sg, const char *v)
{
    size_t n = strlen(v);
    if (n < sg->min || n > sg->max) return false;
    for (size_t i = 0; i < n; i++)
        if (!cls_has(sg->cls, (unsigned char)v[i])) return false;
    return true;
}

static void route_request(rn_http_server *s, rn_http_req *r, enum evhttp_cmd_type cmd)
{
    const struct route *best = NULL;
    const char *bad_param = NULL;
    const char *bad_value = NULL;
    unsigned allow = 0;
    for (size_t i = 0; i < s->nroutes; i++) {
        const struct route *rt = s->routes[i];
        if (rt->nseg != r->nseg) continue;
        bool lit_ok = true;
        const char *bp = NULL, *bv = NULL;
        for (uint32_t k = 0; k < rt->nseg && lit_ok; k++) {
            const struct seg *sg = &rt->segs[k];
            if (sg->lit) lit_ok = !strcmp(sg->lit, r->segs[k]);
            else if (!r->segs[k][0]) lit_ok = false;   /* "/jobs/": no parameter there at all */
            else if (!bp && !param_ok(sg, r->segs[k])) {
                bp = sg->name;
                bv = r->segs[k];
            }
        }
        if (!lit_ok) continue;
        if (bp) {
            if (!bad_param) {
                bad_param = bp;
                bad_value = bv;
            }
            continue;
        }
        if (rt->cmd == cmd) {
            if (!best || rt->nliteral > best->nliteral) best = rt;
        } else {
            allow |= (unsigned)rt->cmd;
        }
    }
    if (best) {
        for (uint32_t k = 0; k < best->nseg; k++)
            if (!best->segs[k].lit) {
                r->params[r->nparams].key = best->segs[k].name;
                r->params[r->nparams].value = r->segs[k];
                r->nparams++;
            }
        if (parse_query(r, evhttp_uri_get_query(evhttp_request_get_evhttp_uri(r->ev)))) return;
        struct evbuffer *in = evhttp_request_get_input_buffer(r->ev);
        size_t blen = evbuffer_get_length(in);
        if (blen > s->max_body) {
            rn_http_reply_error(r, 413, "request body of %zu bytes exceeds the limit of %zu bytes", blen, s->max_body);
            return;
        }
        if (evbuffer_add(in, "", 1)) {
            rn_http_reply_error(r, 500, "out of memory");
            return;
        }
        r->body = (const char *)evbuffer_pullup(in, -1);
        r->body_len = blen;
        if (!r->body) {
            rn_http_reply_error(r, 500, "out of memory");
            return;
        }
        best->fn(r, best->arg);
        return;
    }
    if (allow) {
        char list[128] = "";
        for (size_t i = 0; i < 5; i++)
            if (allow & (unsigned)methods[i].cmd) {
                if (list[0]) strcat(list, ", ");
                strcat(list, methods[i].name);
            }
        rn_http_add_header(r, "Allow", list);
        rn_http_reply_error(r, 405, "method %s is not allowed on %s (allowed: %s)", r->method, r->path, list);
        return;
    }
    if (bad_param) {
        char shown[80];
        size_t n = strlen(bad_value);
        snprintf(shown, sizeof shown, "%.64s%s", bad_value, n > 64 ? "..." : "");
        rn_http_reply_error(r, 400, "invalid %s '%s'", bad_param, shown);
        return;
    }
    rn_http_reply_error(r, 404, "no such path: %s", r->path);
}

static void on_request(struct evhttp_request *ev, void *arg)
{
    rn_http_server *s = arg;
    rn_http_req *r = calloc(1, sizeof *r);
    if (!r) {
        evhttp_send_error(ev, 500, NULL);
        return;
    }
    r->srv = s;
    r->ev = ev;
    enum evhttp_cmd_type cmd = evhttp_request_get_command(ev);
    r->method = method_name(cmd);
    r->in_handler = true;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(ev);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    r->path = strdup(path && *path ? path : "/");
    if (!r->path) {
        rn_http_reply_error(r, 500, "out of memory");
    } else if (!authorized(s, ev)) {
        rn_http_add_header(r, "WWW-Authenticate", "Bearer");
        rn_http_reply_error(r, 401, "authentication required: send the job manager's token as 'Authorization: Bearer <token>'");
    } else if (split_path(r) == 0) {
        route_request(s, r, cmd);
    }
    r->in_handler = false;
    if (r->replied) {
        req_free(r);
    } else if (!r->deferred) {
        if (r->streaming) {
            rn_http_reply_end(r);   /* frees r */
        } else {
            rn_http_reply_error(r, 500, "the handler of %s %s gave no reply", r->method, r->path);   /* frees r */
        }
    }
}

/* ------------------------------------------------------------------------------------------ */
/* server                                                                                      */
/* ------------------------------------------------------------------------------------------ */

rn_http_server *rn_http_server_create(struct event_base *base, const struct rn_http_config *cfg, struct rn_error *err)
{
    rn_error_clear(err);
    const char *host = cfg && cfg->host ? cfg->host : "127.0.0.1";
    uint16_t port = cfg ? cfg->port : 0;
    rn_http_server *s = calloc(1, sizeof *s);
    if (!s) {
        rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
        return NULL;
    }
    s->base = base;
    s->max_body = cfg && cfg->max_body ? cfg->max_body : RN_HTTP_MAX_BODY;
    if (cfg && cfg->token && cfg->token[0]) {
        if (strpbrk(cfg->token, "\r\n")) {
            rn_error_set(err, RN_EINVAL, 0, 0, "the REST token may not hold line breaks");
            goto fail_server;
        }
        s->token = strdup(cfg->token);
        if (!s->token) {
            rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
            goto fail_server;
        }
        s->token_len = strlen(s->token);
    }
    s->http = evhttp_new(base);
    if (!s->http) {
        rn_error_set(err, RN_ENOMEM, 0, 0, "cannot create the HTTP server (evhttp_new)");
        goto fail_server;
    }
    evhttp_set_allowed_methods(s->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT | EVHTTP_REQ_PATCH | EVHTTP_REQ_DELETE);
    evhttp_set_max_body_size(s->http, (ev_ssize_t)s->max_body);
    evhttp_set_max_headers_size(s->http, MAX_HEADERS_SIZE);
    evhttp_set_timeout(s->http, cfg && cfg->timeout_s > 0 ? cfg->timeout_s : 60);
    evhttp_set_flags(s->http, EVHTTP_SERVER_LINGERING_CLOSE);
    evhttp_set_gencb(s->http, on_request, s);
    errno = 0;
    s->sock = evhttp_bind_socket_with_handle(s->http, host, port);
    if (!s->sock) {
        int e = errno;
        rn_error_set(err, RN_EIO, 0, 0, "cannot listen on %s:%u: %s", host, (unsigned)port, e ? strerror(e) : "bind failed");
        if (err) err->sys_errno = e;
        goto fail_server;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    evutil_socket_t fd = evhttp_bound_socket_get_fd(s->sock);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl)) {
        rn_error_set(err, RN_EIO, 0, 0, "cannot read the bound address of %s:%u: %s", host, (unsigned)port, strerror(errno));
        goto fail_server;
    }
    if (ss.ss_family == AF_INET) s->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    else if (ss.ss_family == AF_INET6) s->port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    else s->port = port;
    return s;
fail_server:
    if (s->http) evhttp_free(s->http);
    free(s->token);
    free(s);
    return NULL;
}

uint16_t rn_http_server_port(const rn_http_server *s) { return s->port; }

void rn_http_server_destroy(rn_http_server *s)
{
    if (!s) return;
    while (s->deferred) {
        rn_http_req *r = s->deferred;
        unlink_deferred(r);
        r->in_handler = true;   /* a reply from on_drop must not free r under us */
        if (r->on_drop) r->on_drop(r, r->drop_arg);
        if (!r->replied) {
            if (r->streaming) rn_http_reply_end(r);
            else rn_http_reply_error(r, 503, "the job manager's REST server is shutting down");
        }
        req_free(r);
    }
    if (s->http) evhttp_free(s->http);
    for (size_t i = 0; i < s->nroutes; i++) route_free(s->routes[i]);
    free(s->routes);
    if (s->token) {
        memset(s->token, 0, s->token_len);
        free(s->token);
    }
    free(s);
}

/* ------------------------------------------------------------------------------------------ */
/* rn_http_safe_path                                                                           */
/* ------------------------------------------------------------------------------------------ */

static bool inside(const char *path, const char *base)
{
    size_t n = strlen(base);
    if (n == 1 && base[0] == '/') return path[0] == '/';
    return !strncmp(path, base, n) && (path[n] == 0 || path[n] == '/');
}

int rn_http_safe_path(const char *base, const char *user_path, char *out, size_t out_len, struct rn_error *err)
{
    rn_error_clear(err);
    if (!base || !*base) return rn_error_set(err, RN_EINVAL, 0, 0, "no base directory");
    if (!user_path || !*user_path) return rn_error_set(err, RN_EINVAL, 0, 0, "empty path");
    for (const char *c = user_path; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f) return rn_error_set(err, RN_EINVAL, 0, 0, "path holds a control character");
    size_t ulen = strlen(user_path);
    if (ulen >= PATH_MAX) return rn_error_set(err, RN_ERANGE, 0, 0, "path too long");

    char rbase[PATH_MAX];
    if (!realpath(base, rbase)) {
        int e = errno;
        int rc = rn_error_set(err, e == ENOENT ? RN_ENOTFOUND : RN_EIO, 0, 0, "base directory %s: %s", base, strerror(e));
        if (err) err->sys_errno = e;
        return rc;
    }
    struct stat st;
    if (stat(rbase, &st) || !S_ISDIR(st.st_mode)) return rn_error_set(err, RN_EINVAL, 0, 0, "base %s is not a directory", base);

    /* components, checked: no "..", "." and empty ones dropped */
    char comps[PATH_MAX];
    memcpy(comps, user_path, ulen + 1);
    const char *list[PATH_MAX / 2];
    size_t n = 0;
    for (char *save = NULL, *c = strtok_r(comps, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
        if (!strcmp(c, ".")) continue;
        if (!strcmp(c, "..")) return rn_error_set(err, RN_EINVAL, 0, 0, "'..' is not allowed in a path (%s)", user_path);
        list[n++] = c;
    }

    /* the existing prefix */
    char cur[PATH_MAX];
    if (user_path[0] == '/') snprintf(cur, sizeof cur, "/");
    else snprintf(cur, sizeof cur, "%s", rbase);
    size_t i = 0;
    for (; i < n; i++) {
        char next[PATH_MAX];
        int k = snprintf(next, sizeof next, "%s%s%s", cur, strcmp(cur, "/") ? "/" : "", list[i]);
        if (k < 0 || (size_t)k >= sizeof next) return rn_error_set(err, RN_ERANGE, 0, 0, "path too long");
        if (lstat(next, &st)) {
            if (errno == ENOENT) break;
            int e = errno;
            int rc = rn_error_set(err, e == ENOTDIR ? RN_EINVAL : RN_EIO, 0, 0, "%s: %s", next, strerror(e));
            if (err) err->sys_errno = e;
            return rc;
        }
        memcpy(cur, next, (size_t)k + 1);
    }
    char resolved[PATH_MAX];
    if (!realpath(cur, resolved)) {
        int e = errno;
        if (e == ENOENT || e == ELOOP) return rn_error_set(err, RN_EINVAL, 0, 0, "%s is a symlink that leads nowhere", cur);
        if (e == ENOTDIR) return rn_error_set(err, RN_EINVAL, 0, 0, "%s: a part of it is not a directory", cur);
        int rc = rn_error_set(err, RN_EIO, 0, 0, "%s: %s", cur, strerror(e));
        if (err) err->sys_errno = e;
        return rc;
    }
    if (!inside(resolved, rbase))
        return rn_error_set(err, RN_EINVAL, 0, 0, "%s is outside %s%s", user_path, rbase,
                            strcmp(resolved, cur) && inside(cur, rbase) ? " (through a symlink)" : "");
    if (i < n && (stat(resolved, &st) || !S_ISDIR(st.st_mode)))
        return rn_error_set(err, RN_EINVAL, 0, 0, "%s is not a directory", resolved);

    /* the result: the resolved prefix, then the components still to be made */
    size_t len = strlen(resolved);
    if (len + 1 > out_len) return rn_error_set(err, RN_ERANGE, 0, 0, "path too long for the output buffer");
    memcpy(out, resolved, len + 1);
    for (; i < n; i++) {
        size_t cl = strlen(list[i]);
        bool root = len == 1 && out[0] == '/';
        if (len + !root + cl + 1 > out_len) return rn_error_set(err, RN_ERANGE, 0, 0, "path too long for the output buffer");
        if (!root) out[len++] = '/';
        memcpy(out + len, list[i], cl + 1);
        len += cl;
    }
    return 0;
}
