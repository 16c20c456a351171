/*
 * json.c — the JSON builder and the strict parser of json.h.
 *
 * Builder: one growable buffer; the nesting state is two 64-bit masks (which containers are
 * objects, which have a member already), so there is no allocation besides the buffer.
 *
 * Parser: recursive descent bounded by the depth limit. Values are 16-byte nodes allocated from
 * the document's arena (chunks, freed together). While a container is open its items sit on a
 * scratch stack shared by all levels; when it closes they are copied into one arena array, so
 * an array's items and an object's members are contiguous. Objects of more than SMALL_OBJECT
 * members also get a sorted index (pointers after the member array) for binary search and
 * the duplicate-key check; smaller ones are compared pairwise. Strings are scanned once to find
 * their end (the arena then gets their exact upper bound) and decoded in a second pass that
 * validates UTF-8 and escapes. Assumes the C numeric locale (strtod, snprintf of doubles).
 */
#include "json.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------------------------ */
/* UTF-8                                                                                       */
/* ------------------------------------------------------------------------------------------ */

/* Length of the valid UTF-8 sequence at p (n bytes available), or 0 when it is not one. ASCII
 * is handled by the callers. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
    unsigned c = p[0];
    if (c < 0x80) return 1;
    if (c < 0xc2) return 0;              /* continuation byte or overlong 2-byte lead */
    if (c < 0xe0) return n >= 2 && (p[1] & 0xc0) == 0x80 ? 2 : 0;
    if (c < 0xf0) {
        if (n < 3 || (p[2] & 0xc0) != 0x80) return 0;
        unsigned lo = 0x80, hi = 0xbf;
        if (c == 0xe0) lo = 0xa0;        /* overlong */
        if (c == 0xed) hi = 0x9f;        /* surrogates */
        return p[1] >= lo && p[1] <= hi ? 3 : 0;
    }
    if (c < 0xf5) {
        if (n < 4 || (p[2] & 0xc0) != 0x80 || (p[3] & 0xc0) != 0x80) return 0;
        unsigned lo = 0x80, hi = 0xbf;
        if (c == 0xf0) lo = 0x90;        /* overlong */
        if (c == 0xf4) hi = 0x8f;        /* past U+10FFFF */
        return p[1] >= lo && p[1] <= hi ? 4 : 0;
    }
    return 0;
}

static size_t utf8_put(char *out, uint32_t cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* ------------------------------------------------------------------------------------------ */
/* escaping (shared by the builder and rn_json_escape_append)                                 */
/* ------------------------------------------------------------------------------------------ */

/* Bytes that go out as they are: printable ASCII except '"' and '\\'. */
static bool plain_byte(unsigned char c) { return c >= 0x20 && c < 0x7f && c != '"' && c != '\\'; }

static int grow(char **buf, size_t *cap, size_t need, size_t max)
{
    if (need > max) return RN_ERANGE;
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap : 256;
    while (c < need) c = c > max / 2 ? max : c * 2;
    char *nb = realloc(*buf, c);
    if (!nb) return RN_ENOMEM;
    *buf = nb;
    *cap = c;
    return 0;
}

/* Appends the escaped string with quotes; every byte of input is at most 6 bytes of output. */
static int escape_into(char **buf, size_t *len, size_t *cap, size_t max, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    if (n > (max - *len) / 6) {
        /* a worst-case reservation would pass the limit: grow as we go */
        int rc = grow(buf, cap, *len + 2 + (n < 64 ? n : 64), max);
        if (rc) return rc;
    } else {
        int rc = grow(buf, cap, *len + 6 * n + 3, max);
        if (rc) return rc;
    }
    (*buf)[(*len)++] = '"';
    while (p < end) {
        /* a run of plain bytes */
        const unsigned char *run = p;
        while (p < end && plain_byte(*p)) p++;
        if (p > run) {
            size_t k = (size_t)(p - run);
            int rc = grow(buf, cap, *len + k + 7, max);
            if (rc) return rc;
            memcpy(*buf + *len, run, k);
            *len += k;
            continue;
        }
        int rc = grow(buf, cap, *len + 8, max);
        if (rc) return rc;
        char *o = *buf + *len;
        unsigned c = *p;
        if (c == '"' || c == '\\') {
            o[0] = '\\';
            o[1] = (char)c;
            *len += 2;
            p++;
        } else if (c < 0x20 || c == 0x7f) {
            const char *short_esc = NULL;
            switch (c) {
            case '\b': short_esc = "\\b"; break;
            case '\f': short_esc = "\\f"; break;
            case '\n': short_esc = "\\n"; break;
            case '\r': short_esc = "\\r"; break;
            case '\t': short_esc = "\\t"; break;
            default: break;
            }
            if (short_esc) {
                memcpy(o, short_esc, 2);
                *len += 2;
            } else {
                memcpy(o, "\\u00", 4);
                o[4] = hex[c >> 4];
                o[5] = hex[c & 15];
                *len += 6;
            }
            p++;
        } else {
            size_t k = utf8_seq(p, (size_t)(end - p));
            if (k) {
                memcpy(o, p, k);
                *len += k;
                p += k;
            } else {
                memcpy(o, "\\ufffd", 6);
                *len += 6;
                p++;
            }
        }
    }
    int rc = grow(buf, cap, *len + 2, max);
    if (rc) return rc;
    (*buf)[(*len)++] = '"';
    (*buf)[*len] = 0;
    return 0;
}

int rn_json_escape_append(char **buf, size_t *len, size_t *cap, const char *s, size_t slen)
{
    return escape_into(buf, len, cap, (size_t)-1 / 2, s, slen);
}

/* ------------------------------------------------------------------------------------------ */
/* builder                                                                                     */
/* ------------------------------------------------------------------------------------------ */

void rn_json_init(struct rn_json_builder *b)
{
    memset(b, 0, sizeof *b);
    b->max = RN_JSON_BUILDER_MAX;
}

void rn_json_reset(struct rn_json_builder *b)
{
    size_t max = b->max;
    char *buf = b->buf;
    size_t cap = b->cap;
    memset(b, 0, sizeof *b);
    b->buf = buf;
    b->cap = cap;
    b->max = max ? max : RN_JSON_BUILDER_MAX;
    if (buf) buf[0] = 0;
}

void rn_json_release(struct rn_json_builder *b)
{
    free(b->buf);
    memset(b, 0, sizeof *b);
}

static void fail(struct rn_json_builder *b, int code)
{
    if (!b->error) b->error = code;
}

static bool put(struct rn_json_builder *b, const char *s, size_t n)
{
    int rc = grow(&b->buf, &b->cap, b->len + n + 1, b->max);
    if (rc) {
        fail(b, rc);
        return false;
    }
    memcpy(b->buf + b->len, s, n);
    b->len += n;
    b->buf[b->len] = 0;
    return true;
}

/* Before a value: the separator its position needs; false when no value may come here. */
static bool before_value(struct rn_json_builder *b)
{
    if (b->error) return false;
    if (b->depth == 0) {
        if (b->done) {
            fail(b, RN_EINVAL);   /* a second top-level value */
            return false;
        }
        return true;
    }
    uint64_t bit = 1ull << (b->depth - 1);
    if (b->is_object & bit) {
        if (!b->after_key) {
            fail(b, RN_EINVAL);   /* a value in an object needs its key first */
            return false;
        }
        b->after_key = false;
        return true;
    }
    if (b->has_item & bit) return put(b, ",", 1);
    b->has_item |= bit;
    return true;
}

/* After a complete value at the top level, the document is done. */
static void after_value(struct rn_json_builder *b)
{
    if (b->depth == 0) b->done = true;
}

static void begin(struct rn_json_builder *b, bool object)
{
    if (!before_value(b)) return;
    if (b->depth >= RN_JSON_MAX_DEPTH) {
        fail(b, RN_ERANGE);
        return;
    }
    if (!put(b, object ? "{" : "[", 1)) return;
    uint64_t bit = 1ull << b->depth;
    b->depth++;
    b->has_item &= ~bit;
    if (object) b->is_object |= bit;
    else b->is_object &= ~bit;
}

static void end(struct rn_json_builder *b, bool object)
{
    if (b->error) return;
    if (b->depth == 0 || b->after_key || !!(b->is_object & (1ull << (b->depth - 1))) != object) {
        fail(b, RN_EINVAL);   /* nothing open, a key without value, or the other kind open */
        return;
    }
    if (!put(b, object ? "}" : "]", 1)) return;
    b->depth--;
    after_value(b);
}

void rn_json_obj_begin(struct rn_json_builder *b) { begin(b, true); }
void rn_json_obj_end(struct rn_json_builder *b) { end(b, true); }
void rn_json_arr_begin(struct rn_json_builder *b) { begin(b, false); }
void rn_json_arr_end(struct rn_json_builder *b) { end(b, false); }

void rn_json_keyn(struct rn_json_builder *b, const char *key, size_t len)
{
    if (b->error) return;
    if (b->depth == 0 || !(b->is_object & (1ull << (b->depth - 1))) || b->after_key || !key) {
        fail(b, RN_EINVAL);
        return;
    }
    uint64_t bit = 1ull << (b->depth - 1);
    if ((b->has_item & bit) && !put(b, ",", 1)) return;
    b->has_item |= bit;
    int rc = escape_into(&b->buf, &b->len, &b->cap, b->max, key, len);
    if (rc) {
        fail(b, rc);
        return;
    }
    if (!put(b, ":", 1)) return;
    b->after_key = true;
}

void rn_json_key(struct rn_json_builder *b, const char *key)
{
    rn_json_keyn(b, key, key ? strlen(key) : 0);
}

void rn_json_strn(struct rn_json_builder *b, const char *s, size_t len)
{
    if (!s) {
        rn_json_null(b);
        return;
    }
    if (!before_value(b)) return;
    int rc = escape_into(&b->buf, &b->len, &b->cap, b->max, s, len);
    if (rc) {
        fail(b, rc);
        return;
    }
    after_value(b);
}

void rn_json_str(struct rn_json_builder *b, const char *s)
{
    rn_json_strn(b, s, s ? strlen(s) : 0);
}

void rn_json_strf(struct rn_json_builder *b, const char *fmt, ...)
{
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        fail(b, RN_EINVAL);
        return;
    }
    if ((size_t)n < sizeof small) {
        rn_json_strn(b, small, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        fail(b, RN_ENOMEM);
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    rn_json_strn(b, big, (size_t)n);
    free(big);
}

static void scalar(struct rn_json_builder *b, const char *text, size_t n)
{
    if (!before_value(b)) return;
    if (put(b, text, n)) after_value(b);
}

void rn_json_int(struct rn_json_builder *b, int64_t v)
{
    char t[24];
    int n = snprintf(t, sizeof t, "%lld", (long long)v);
    scalar(b, t, (size_t)n);
}

void rn_json_uint(struct rn_json_builder *b, uint64_t v)
{
    char t[24];
    int n = snprintf(t, sizeof t, "%llu", (unsigned long long)v);
    scalar(b, t, (size_t)n);
}

void rn_json_double(struct rn_json_builder *b, double v)
{
    if (!isfinite(v)) {
        scalar(b, "null", 4);
        return;
    }
    char t[40];
    int n = 0;
    for (int prec = 15; prec <= 17; prec++) {
        n = snprintf(t, sizeof t, "%.*g", prec, v);
        if (strtod(t, NULL) == v) break;
    }
    scalar(b, t, (size_t)n);
}

void rn_json_bool(struct rn_json_builder *b, bool v) { scalar(b, v ? "true" : "false", v ? 4 : 5); }
void rn_json_null(struct rn_json_builder *b) { scalar(b, "null", 4); }

void rn_json_raw(struct rn_json_builder *b, const char *json, size_t len)
{
    if (!json || !len) {
        fail(b, RN_EINVAL);
        return;
    }
    scalar(b, json, len);
}

void rn_json_kstr(struct rn_json_builder *b, const char *key, const char *s) { rn_json_key(b, key); rn_json_str(b, s); }
void rn_json_kint(struct rn_json_builder *b, const char *key, int64_t v) { rn_json_key(b, key); rn_json_int(b, v); }
void rn_json_kuint(struct rn_json_builder *b, const char *key, uint64_t v) { rn_json_key(b, key); rn_json_uint(b, v); }
void rn_json_kdouble(struct rn_json_builder *b, const char *key, double v) { rn_json_key(b, key); rn_json_double(b, v); }
void rn_json_kbool(struct rn_json_builder *b, const char *key, bool v) { rn_json_key(b, key); rn_json_bool(b, v); }
void rn_json_knull(struct rn_json_builder *b, const char *key) { rn_json_key(b, key); rn_json_null(b); }
void rn_json_kobj_begin(struct rn_json_builder *b, const char *key) { rn_json_key(b, key); rn_json_obj_begin(b); }
void rn_json_karr_begin(struct rn_json_builder *b, const char *key) { rn_json_key(b, key); rn_json_arr_begin(b); }

int rn_json_finish(struct rn_json_builder *b, const char **text, size_t *len)
{
    if (b->error) return b->error;
    if (!b->done || b->depth) return RN_EINVAL;   /* nothing written, or containers still open */
    *text = b->buf;
    if (len) *len = b->len;
    return 0;
}

char *rn_json_take(struct rn_json_builder *b, size_t *len, int *code_out)
{
    const char *t;
    size_t n;
    int rc = rn_json_finish(b, &t, &n);
    if (code_out) *code_out = rc;
    if (rc) return NULL;
    char *out = b->buf;
    if (len) *len = n;
    size_t max = b->max;
    memset(b, 0, sizeof *b);
    b->max = max;
    return out;
}

/* ------------------------------------------------------------------------------------------ */
/* parser: tree and arena                                                                      */
/* ------------------------------------------------------------------------------------------ */

enum { NUM_INT = 1, NUM_UINT = 2, NUM_DOUBLE = 3 };

struct rn_json {
    uint8_t type;          /* enum rn_json_type */
    uint8_t num;           /* NUM_*: which of i, u, d holds a number */
    uint8_t indexed;       /* objects: a sorted index follows the members */
    uint32_t n;            /* string length, item or member count */
    union {
        bool b;
        int64_t i;
        uint64_t u;
        double d;
        const char *s;
        const struct rn_json *items;
        const struct member *members;
    } v;
};

struct member {
    const char *key;
    uint32_t key_len;
    struct rn_json value;
};

#define SMALL_OBJECT 8
#define CHUNK_SIZE (64u << 10)

struct chunk {
    struct chunk *next;
    size_t used, size;
    max_align_t data[];
};

struct rn_json_doc {
    struct chunk *chunks;
    struct rn_json root;
};

static void *arena_alloc(rn_json_doc *d, size_t size)
{
    size = (size + 15) & ~(size_t)15;
    struct chunk *c = d->chunks;
    if (!c || c->size - c->used < size) {
        size_t want = size > CHUNK_SIZE ? size : CHUNK_SIZE;
        c = malloc(sizeof *c + want);
        if (!c) return NULL;
        c->size = want;
        c->used = 0;
        if (d->chunks && size > CHUNK_SIZE) {
            /* a big block of its own goes behind the current chunk, which keeps filling */
            c->next = d->chunks->next;
            d->chunks->next = c;
        } else {
            c->next = d->chunks;
            d->chunks = c;
        }
    }
    void *p = (char *)c->data + c->used;
    c->used += size;
    return p;
}

void rn_json_doc_free(rn_json_doc *doc)
{
    if (!doc) return;
    for (struct chunk *c = doc->chunks, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    free(doc);
}

const rn_json *rn_json_root(const rn_json_doc *doc) { return doc ? &doc->root : NULL; }

/* ------------------------------------------------------------------------------------------ */
/* parser                                                                                      */
/* ------------------------------------------------------------------------------------------ */

struct parser {
    const unsigned char *p, *start, *end;
    uint32_t max_depth;
    rn_json_doc *doc;
    struct member *stack;        /* items of the open containers */
    size_t top, cap;
    struct rn_error *err;
    int code;
};

static int perr_at(struct parser *ps, const unsigned char *at, int code, const char *what)
{
    if (ps->code) return ps->code;
    ps->code = code;
    size_t off = (size_t)(at - ps->start);
    int line = 1, col = 1;
    for (const unsigned char *q = ps->start; q < at; q++) {
        if (*q == '\n') {
            line++;
            col = 1;
        } else if ((*q & 0xc0) != 0x80) {
            col++;
        }
    }
    rn_error_set(ps->err, code, line, col, "%s (byte %zu)", what, off);
    return code;
}

static int perr(struct parser *ps, const char *what) { return perr_at(ps, ps->p, RN_EINVAL, what); }

static void skip_ws(struct parser *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r')) ps->p++;
}

static int push(struct parser *ps, struct member *m)
{
    if (ps->top == ps->cap) {
        size_t c = ps->cap ? ps->cap * 2 : 64;
        struct member *ns = realloc(ps->stack, c * sizeof *ns);
        if (!ns) return perr_at(ps, ps->p, RN_ENOMEM, "out of memory");
        ps->stack = ns;
        ps->cap = c;
    }
    ps->stack[ps->top++] = *m;
    return 0;
}

static int hexval(unsigned c)
{
    if (c >= '0' && c <= '9') return (int)(c - '0');
    if (c >= 'a' && c <= 'f') return (int)(c - 'a' + 10);
    if (c >= 'A' && c <= 'F') return (int)(c - 'A' + 10);
    return -1;
}

/* The four hex digits of the \u escape whose backslash is at bs (the string ends at e). */
static int hex4(struct parser *ps, const unsigned char *bs, const unsigned char *e, uint32_t *out)
{
    const unsigned char *q = bs + 2;
    if (e - q < 4) return perr_at(ps, bs, RN_EINVAL, "truncated \\u escape");
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(q[i]);
        if (h < 0) return perr_at(ps, bs, RN_EINVAL, "invalid hex digit in a \\u escape");
        v = v << 4 | (uint32_t)h;
    }
    *out = v;
    return 0;
}

/* A string at ps->p (the opening quote); its decoded bytes go to the arena. */
static int parse_string(struct parser *ps, const char **out, uint32_t *out_len)
{
    const unsigned char *q = ps->p + 1;
    /* pass 1: find the closing quote */
    const unsigned char *e = q;
    for (;;) {
        if (e >= ps->end) return perr_at(ps, ps->p, RN_EINVAL, "unterminated string");
        if (*e == '"') break;
        if (*e == '\\') {
            e += 2;
            continue;
        }
        if (*e < 0x20) return perr_at(ps, e, RN_EINVAL, "control character in a string (escape it)");
        e++;
    }
    size_t raw = (size_t)(e - q);
    if (raw >= UINT32_MAX) return perr_at(ps, ps->p, RN_ERANGE, "string too long");
    char *dst = arena_alloc(ps->doc, raw + 1);
    if (!dst) return perr_at(ps, ps->p, RN_ENOMEM, "out of memory");
    size_t n = 0;
    /* pass 2: decode and validate */
    while (q < e) {
        unsigned c = *q;
        if (c == '\\') {
            unsigned x = q[1];
            switch (x) {
            case '"': dst[n++] = '"'; q += 2; break;
            case '\\': dst[n++] = '\\'; q += 2; break;
            case '/': dst[n++] = '/'; q += 2; break;
            case 'b': dst[n++] = '\b'; q += 2; break;
            case 'f': dst[n++] = '\f'; q += 2; break;
            case 'n': dst[n++] = '\n'; q += 2; break;
            case 'r': dst[n++] = '\r'; q += 2; break;
            case 't': dst[n++] = '\t'; q += 2; break;
            case 'u': {
                uint32_t cp;
                if (hex4(ps, q, e, &cp)) return ps->code;
                if (cp >= 0xdc00 && cp <= 0xdfff) return perr_at(ps, q, RN_EINVAL, "lone low surrogate in a \\u escape");
                if (cp >= 0xd800 && cp <= 0xdbff) {
                    uint32_t lo;
                    if (e - (q + 6) < 6 || q[6] != '\\' || q[7] != 'u' || hex4(ps, q + 6, e, &lo) || lo < 0xdc00 || lo > 0xdfff) {
                        ps->code = 0;
                        return perr_at(ps, q, RN_EINVAL, "high surrogate without its low surrogate in a \\u escape");
                    }
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                    q += 12;
                } else {
                    q += 6;
                }
                n += utf8_put(dst + n, cp);
                break;
            }
            default:
                return perr_at(ps, q, RN_EINVAL, "invalid escape in a string");
            }
            if (q > e) return perr_at(ps, e, RN_EINVAL, "invalid escape in a string");
        } else if (c < 0x80) {
            dst[n++] = (char)c;
            q++;
        } else {
            size_t k = utf8_seq(q, (size_t)(e - q));
            if (!k) return perr_at(ps, q, RN_EINVAL, "invalid UTF-8 in a string");
            memcpy(dst + n, q, k);
            n += k;
            q += k;
        }
    }
    dst[n] = 0;
    ps->p = e + 1;
    *out = dst;
    *out_len = (uint32_t)n;
    return 0;
}

static int parse_number(struct parser *ps, struct rn_json *v)
{
    const unsigned char *s = ps->p, *q = s;
    bool neg = false, integral = true;
    if (q < ps->end && *q == '-') {
        neg = true;
        q++;
    }
    if (q >= ps->end || *q < '0' || *q > '9') return perr_at(ps, q, RN_EINVAL, "expected a digit");
    if (*q == '0') {
        q++;
        if (q < ps->end && *q >= '0' && *q <= '9') return perr_at(ps, q, RN_EINVAL, "leading zero in a number");
    } else {
        while (q < ps->end && *q >= '0' && *q <= '9') q++;
    }
    if (q < ps->end && *q == '.') {
        integral = false;
        q++;
        if (q >= ps->end || *q < '0' || *q > '9') return perr_at(ps, q, RN_EINVAL, "expected a digit after the decimal point");
        while (q < ps->end && *q >= '0' && *q <= '9') q++;
    }
    if (q < ps->end && (*q == 'e' || *q == 'E')) {
        integral = false;
        q++;
        if (q < ps->end && (*q == '+' || *q == '-')) q++;
        if (q >= ps->end || *q < '0' || *q > '9') return perr_at(ps, q, RN_EINVAL, "expected a digit in the exponent");
        while (q < ps->end && *q >= '0' && *q <= '9') q++;
    }
    size_t len = (size_t)(q - s);
    if (len > RN_JSON_MAX_NUMBER) return perr_at(ps, s, RN_ERANGE, "number too long");
    v->type = RN_JSON_NUMBER;
    if (integral) {
        uint64_t u = 0;
        bool over = false;
        for (const unsigned char *d = s + neg; d < q; d++) {
            unsigned dig = *d - '0';
            if (u > (UINT64_MAX - dig) / 10) {
                over = true;
                break;
            }
            u = u * 10 + dig;
        }
        if (!over) {
            if (!neg && u > (uint64_t)INT64_MAX) {
                v->num = NUM_UINT;
                v->v.u = u;
                ps->p = q;
                return 0;
            }
            if (!neg || u <= (uint64_t)INT64_MAX + 1) {
                v->num = NUM_INT;
                v->v.i = neg ? (int64_t)(0 - u) : (int64_t)u;
                ps->p = q;
                return 0;
            }
        }
    }
    char buf[RN_JSON_MAX_NUMBER + 1];
    memcpy(buf, s, len);
    buf[len] = 0;
    errno = 0;
    double d = strtod(buf, NULL);
    if (!isfinite(d) || (errno == ERANGE && fabs(d) > 1.0)) return perr_at(ps, s, RN_ERANGE, "number out of range");
    v->num = NUM_DOUBLE;
    v->v.d = d;
    ps->p = q;
    return 0;
}

static int key_cmp(const struct member *a, const struct member *b)
{
    size_t n = a->key_len < b->key_len ? a->key_len : b->key_len;
    int c = n ? memcmp(a->key, b->key, n) : 0;
    if (c) return c;
    return a->key_len < b->key_len ? -1 : a->key_len > b->key_len;
}

static int ptr_key_cmp(const void *a, const void *b)
{
    return key_cmp(*(const struct member *const *)a, *(const struct member *const *)b);
}

static int parse_value(struct parser *ps, struct rn_json *v, uint32_t depth);

/* The container at ps->p ('[' or '{'); its items go to the scratch stack, then the arena. */
static int parse_container(struct parser *ps, struct rn_json *v, uint32_t depth, bool object)
{
    const unsigned char *open = ps->p;
    if (depth >= ps->max_depth) return perr_at(ps, open, RN_ERANGE, "nesting too deep");
    ps->p++;
    size_t base = ps->top;
    char close = object ? '}' : ']';
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == close) {
        ps->p++;
    } else {
        for (;;) {
            struct member m = {0};
            skip_ws(ps);
            if (object) {
                if (ps->p >= ps->end || *ps->p != '"') return perr(ps, "expected a string key");
                if (parse_string(ps, &m.key, &m.key_len)) return ps->code;
                skip_ws(ps);
                if (ps->p >= ps->end || *ps->p != ':') return perr(ps, "expected ':' after an object key");
                ps->p++;
                skip_ws(ps);
            }
            if (parse_value(ps, &m.value, depth + 1)) return ps->code;
            if (push(ps, &m)) return ps->code;
            if (ps->top - base >= UINT32_MAX) return perr_at(ps, open, RN_ERANGE, "too many items");
            skip_ws(ps);
            if (ps->p >= ps->end) return perr(ps, object ? "unterminated object" : "unterminated array");
            if (*ps->p == ',') {
                ps->p++;
                continue;
            }
            if (*ps->p == close) {
                ps->p++;
                break;
            }
            return perr(ps, object ? "expected ',' or '}' in an object" : "expected ',' or ']' in an array");
        }
    }
    size_t n = ps->top - base;
    v->type = object ? RN_JSON_OBJECT : RN_JSON_ARRAY;
    v->n = (uint32_t)n;
    if (!object) {
        struct rn_json *items = NULL;
        if (n) {
            items = arena_alloc(ps->doc, n * sizeof *items);
            if (!items) return perr_at(ps, open, RN_ENOMEM, "out of memory");
            for (size_t i = 0; i < n; i++) items[i] = ps->stack[base + i].value;
        }
        v->v.items = items;
    } else {
        struct member *ms = NULL;
        if (n) {
            bool indexed = n > SMALL_OBJECT;
            size_t bytes = n * sizeof *ms + (indexed ? n * sizeof(struct member *) : 0);
            ms = arena_alloc(ps->doc, bytes);
            if (!ms) return perr_at(ps, open, RN_ENOMEM, "out of memory");
            memcpy(ms, ps->stack + base, n * sizeof *ms);
            if (indexed) {
                const struct member **idx = (const struct member **)(ms + n);
                for (size_t i = 0; i < n; i++) idx[i] = ms + i;
                qsort(idx, n, sizeof *idx, ptr_key_cmp);
                for (size_t i = 1; i < n; i++)
                    if (!key_cmp(idx[i - 1], idx[i])) return perr_at(ps, open, RN_EINVAL, "duplicate key in an object");
                v->indexed = 1;
            } else {
                for (size_t i = 1; i < n; i++)
                    for (size_t j = 0; j < i; j++)
                        if (!key_cmp(ms + i, ms + j)) return perr_at(ps, open, RN_EINVAL, "duplicate key in an object");
            }
        }
        v->v.members = ms;
    }
    ps->top = base;
    return 0;
}

static bool literal(struct parser *ps, const char *word, size_t n)
{
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n)) return false;
    ps->p += n;
    return true;
}

static int parse_value(struct parser *ps, struct rn_json *v, uint32_t depth)
{
    memset(v, 0, sizeof *v);
    if (ps->p >= ps->end) return perr(ps, "unexpected end of input, expected a value");
    switch (*ps->p) {
    case '{': return parse_container(ps, v, depth, true);
    case '[': return parse_container(ps, v, depth, false);
    case '"': {
        v->type = RN_JSON_STRING;
        return parse_string(ps, &v->v.s, &v->n);
    }
    case 't':
        if (!literal(ps, "true", 4)) return perr(ps, "invalid literal (expected true)");
        v->type = RN_JSON_BOOL;
        v->v.b = true;
        return 0;
    case 'f':
        if (!literal(ps, "false", 5)) return perr(ps, "invalid literal (expected false)");
        v->type = RN_JSON_BOOL;
        v->v.b = false;
        return 0;
    case 'n':
        if (!literal(ps, "null", 4)) return perr(ps, "invalid literal (expected null)");
        v->type = RN_JSON_NULL;
        return 0;
    default:
        if (*ps->p == '-' || (*ps->p >= '0' && *ps->p <= '9')) return parse_number(ps, v);
        return perr(ps, "expected a value");
    }
}

int rn_json_parse(const char *text, size_t len, const struct rn_json_limits *limits, rn_json_doc **out,
                  struct rn_error *err)
{
    *out = NULL;
    rn_error_clear(err);
    size_t max_size = limits && limits->max_size ? limits->max_size : RN_JSON_MAX_SIZE;
    uint32_t max_depth = limits && limits->max_depth ? limits->max_depth : RN_JSON_MAX_DEPTH;
    if (len > max_size)
        return rn_error_set(err, RN_ERANGE, 0, 0, "JSON text of %zu bytes exceeds the limit of %zu bytes (byte %zu)", len,
                            max_size, max_size);
    if (!text && len) return rn_error_set(err, RN_EINVAL, 0, 0, "no text (byte 0)");
    static const char empty[1] = "";
    struct parser ps = {
        .p = (const unsigned char *)(text ? text : empty),
        .start = (const unsigned char *)(text ? text : empty),
        .end = (const unsigned char *)(text ? text : empty) + len,
        .max_depth = max_depth,
        .err = err,
    };
    ps.doc = calloc(1, sizeof *ps.doc);
    if (!ps.doc) return rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory (byte 0)");
    skip_ws(&ps);
    if (parse_value(&ps, &ps.doc->root, 0)) goto fail;
    skip_ws(&ps);
    if (ps.p != ps.end) {
        perr(&ps, "unexpected text after the JSON value");
        goto fail;
    }
    free(ps.stack);
    *out = ps.doc;
    return 0;
fail:
    free(ps.stack);
    rn_json_doc_free(ps.doc);
    return ps.code;
}

/* ------------------------------------------------------------------------------------------ */
/* accessors                                                                                   */
/* ------------------------------------------------------------------------------------------ */

enum rn_json_type rn_json_type_of(const rn_json *v) { return v ? (enum rn_json_type)v->type : RN_JSON_NONE; }

const char *rn_json_type_name(enum rn_json_type t)
{
    switch (t) {
    case RN_JSON_NULL: return "null";
    case RN_JSON_BOOL: return "boolean";
    case RN_JSON_NUMBER: return "number";
    case RN_JSON_STRING: return "string";
    case RN_JSON_ARRAY: return "array";
    case RN_JSON_OBJECT: return "object";
    default: return "missing";
    }
}

bool rn_json_is_null(const rn_json *v) { return v && v->type == RN_JSON_NULL; }

size_t rn_json_count(const rn_json *v)
{
    return v && (v->type == RN_JSON_ARRAY || v->type == RN_JSON_OBJECT) ? v->n : 0;
}

const rn_json *rn_json_at(const rn_json *v, size_t i)
{
    if (!v || v->type != RN_JSON_ARRAY || i >= v->n) return NULL;
    return &v->v.items[i];
}

const rn_json *rn_json_member(const rn_json *v, size_t i, const char **key, size_t *key_len)
{
    if (!v || v->type != RN_JSON_OBJECT || i >= v->n) return NULL;
    const struct member *m = &v->v.members[i];
    if (key) *key = m->key;
    if (key_len) *key_len = m->key_len;
    return &m->value;
}

const rn_json *rn_json_get(const rn_json *v, const char *key)
{
    if (!v || v->type != RN_JSON_OBJECT || !key) return NULL;
    struct member probe = {.key = key, .key_len = (uint32_t)strlen(key)};
    if (!v->indexed) {
        for (uint32_t i = 0; i < v->n; i++)
            if (!key_cmp(&v->v.members[i], &probe)) return &v->v.members[i].value;
        return NULL;
    }
    const struct member *const *idx = (const struct member *const *)(v->v.members + v->n);
    size_t lo = 0, hi = v->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = key_cmp(idx[mid], &probe);
        if (!c) return &idx[mid]->value;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

const char *rn_json_as_str(const rn_json *v, size_t *len)
{
    if (!v || v->type != RN_JSON_STRING) return NULL;
    if (len) *len = v->n;
    return v->v.s;
}

const char *rn_json_get_str(const rn_json *v, const char *key)
{
    size_t n;
    const char *s = rn_json_as_str(rn_json_get(v, key), &n);
    return s && strlen(s) == n ? s : NULL;
}

int rn_json_as_int(const rn_json *v, int64_t *out)
{
    if (!v) return RN_ENOTFOUND;
    if (v->type != RN_JSON_NUMBER) return RN_ETYPE;
    switch (v->num) {
    case NUM_INT: *out = v->v.i; return 0;
    case NUM_UINT: return RN_ERANGE;
    default: {
        double d = v->v.d;
        /* -2^63 <= d < 2^63 and integral */
        if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0) || d != floor(d)) return RN_ERANGE;
        *out = (int64_t)d;
        return 0;
    }
    }
}

int rn_json_as_uint(const rn_json *v, uint64_t *out)
{
    if (!v) return RN_ENOTFOUND;
    if (v->type != RN_JSON_NUMBER) return RN_ETYPE;
    switch (v->num) {
    case NUM_INT:
        if (v->v.i < 0) return RN_ERANGE;
        *out = (uint64_t)v->v.i;
        return 0;
    case NUM_UINT: *out = v->v.u; return 0;
    default: {
        double d = v->v.d;
        if (!(d >= 0.0 && d < 18446744073709551616.0) || d != floor(d)) return RN_ERANGE;
        *out = (uint64_t)d;
        return 0;
    }
    }
}

int rn_json_as_double(const rn_json *v, double *out)
{
    if (!v) return RN_ENOTFOUND;
    if (v->type != RN_JSON_NUMBER) return RN_ETYPE;
    switch (v->num) {
    case NUM_INT: *out = (double)v->v.i; return 0;
    case NUM_UINT: *out = (double)v->v.u; return 0;
    default: *out = v->v.d; return 0;
    }
}

int rn_json_as_bool(const rn_json *v, bool *out)
{
    if (!v) return RN_ENOTFOUND;
    if (v->type != RN_JSON_BOOL) return RN_ETYPE;
    *out = v->v.b;
    return 0;
}
