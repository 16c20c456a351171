/*
 * textfmt.c — the JSON lines and CSV row formats of textfmt.h: a hand-written, strict JSON
 * parser (RFC 8259 for the one object per line), an RFC 4180 CSV field splitter, and the
 * encoders of batch rows as text.
 *
 * How a line is decoded: every value is first parsed into the decoder's per-column scratch
 * slots (absent / null / value; strings as views into the line, or into the decoder's string
 * scratch when they had escapes; vectors into a float scratch), and only once the whole line
 * parsed does anything reach the builder. That is the roll back the contract promises: the
 * builder has no undo, so a malformed line must never have appended anything.
 *
 * Speed (the goal is >= 2M rows/s per core for ~100-byte records): no allocation per row (the
 * scratch buffers grow to the longest line seen and are reused); JSON keys are matched through
 * a small cache indexed by the key's position in the object (records of one producer repeat
 * their key order), falling back to the schema's hash (rn_schema_findn); integers and short
 * decimals are converted without strtod (Clinger's fast path: a mantissa below 2^53 and a power
 * of ten up to 1e22 are both exact doubles, so one multiplication or division is correctly
 * rounded); strtod handles the rest and assumes the C locale's decimal point.
 *
 * Strings must be valid UTF-8 (JSON and CSV decoding reject anything else, so string columns
 * keep the data model's promise); the JSON encoder writes invalid bytes that came from
 * elsewhere as U+FFFD so that its output is always valid JSON.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "textfmt.h"

#define JSON_MAX_DEPTH 64  /* nesting deeper than this is rejected (the line's object is 1) */
#define KEY_CACHE_SLOTS 64 /* key positions remembered per decoder */
#define KEY_CACHE_LEN 56   /* longest key text (as written, escapes included) that is cached */

enum slot_state { S_ABSENT = 0, S_NULL, S_VALUE };

/* The value of one column for the line being decoded. */
struct slot {
    uint32_t pos; /* 1-based position of the value (null checks report it) */
    union {
        int64_t i;
        double d;
        bool b;
        struct {
            const char *p;
            uint32_t len;
        } s;
    } v;
};

struct col_info {
    const char *name;
    struct rn_type type;
    bool nullable;
    uint32_t vec_off; /* vector columns: offset of its dim floats in vbuf */
};

struct key_entry {
    uint32_t len; /* UINT32_MAX = empty entry */
    int32_t col;  /* schema column, or -1 for a key the schema does not have */
    char text[KEY_CACHE_LEN];
};

struct rn_text_decoder {
    enum rn_text_format fmt;
    char delim;
    const rn_schema *schema;
    uint32_t n_cols;
    struct col_info *cols;
    uint8_t *state;      /* enum slot_state per column, reset per line */
    struct slot *slots;
    float *vbuf;
    char *sbuf;          /* unescaped strings; cap >= line length + 1 once a line starts */
    size_t sbuf_len, sbuf_cap;
    struct key_entry *keys;
    /* CSV: header field i -> schema column (or -1 when ignored) */
    int32_t *hmap;
    uint32_t n_hdr, hmap_cap;
    bool have_header;
};

/* The line being decoded, for positions and messages. */
struct ctx {
    rn_text_decoder *d;
    const char *line, *end;
    struct rn_error *err;
    rn_builder *bb;
};

/* ---------------------------------------------------------------------------------------- */
/* errors                                                                                    */

/* Up to 40 bytes of the token at p (a JSON string through its closing quote, anything else up
 * to a structural character or the delimiter), non-printable bytes as '?', for "found ...". */
static const char *snippet(const char *p, const char *e, char delim, char *out, size_t cap)
{
    if (p >= e) return "end of line";
    size_t n = 0, lim = cap - 4;
    const char *q = p;
    if (*q == '"') {
        out[n++] = *q++;
        while (q < e && n < lim) {
            char c = *q++;
            out[n++] = (unsigned char)c < 0x20 || c == 0x7f ? '?' : c;
            if (c == '\\' && q < e && n < lim) {
                out[n++] = (unsigned char)*q < 0x20 ? '?' : *q;
                q++;
            } else if (c == '"') {
                break;
            }
        }
    } else {
        while (q < e && n < lim) {
            char c = *q;
            if (c == ',' || c == '}' || c == ']' || c == ':' || c == ' ' || c == '\t' || c == delim ||
                c == '\r' || c == '\n')
                break;
            out[n++] = (unsigned char)c < 0x20 || c == 0x7f ? '?' : c;
            q++;
        }
        if (n == 0) out[n++] = (unsigned char)*q < 0x20 ? '?' : *q, q++;
    }
    if (n == lim && q < e) out[n++] = '.', out[n++] = '.', out[n++] = '.';
    out[n] = 0;
    return out;
}

/* A CSV field's text, quoted and shortened, for "found ...". */
static const char *field_text(const char *p, size_t len, char *out, size_t cap)
{
    size_t n = 0, lim = cap - 5;
    out[n++] = '"';
    for (size_t i = 0; i < len && n < lim; i++)
        out[n++] = (unsigned char)p[i] < 0x20 || p[i] == 0x7f ? '?' : p[i];
    if (n == lim && len > lim - 1) out[n++] = '.', out[n++] = '.', out[n++] = '.';
    out[n++] = '"';
    out[n] = 0;
    return out;
}

/* RN_EINVAL at position `at` of the line; the message is prefixed with the column's name when
 * col >= 0. */
static int fail(const struct ctx *c, const char *at, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(const struct ctx *c, const char *at, int col, const char *fmt, ...)
{
    if (!c->err) return RN_EINVAL;
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int pos = (int)(at - c->line) + 1;
    if (col >= 0)
        return rn_error_set(c->err, RN_EINVAL, 0, pos, "column '%s': %s", c->d->cols[col].name, msg);
    return rn_error_set(c->err, RN_EINVAL, 0, pos, "%s", msg);
}

/* ---------------------------------------------------------------------------------------- */
/* shared scanners                                                                           */

/* Length of the valid UTF-8 sequence at q (lead byte >= 0x80), or 0. */
static int utf8_seq(const unsigned char *q, const unsigned char *e)
{
    unsigned c = q[0];
    if (c < 0xC2) return 0;
    if (c < 0xE0) return e - q >= 2 && (q[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c < 0xF0) {
        if (e - q < 3 || (q[1] & 0xC0) != 0x80 || (q[2] & 0xC0) != 0x80) return 0;
        if (c == 0xE0 && q[1] < 0xA0) return 0; /* overlong */
        if (c == 0xED && q[1] > 0x9F) return 0; /* surrogates */
        return 3;
    }
    if (c > 0xF4 || e - q < 4 || (q[1] & 0xC0) != 0x80 || (q[2] & 0xC0) != 0x80 || (q[3] & 0xC0) != 0x80)
        return 0;
    if (c == 0xF0 && q[1] < 0x90) return 0; /* overlong */
    if (c == 0xF4 && q[1] > 0x8F) return 0; /* above U+10FFFF */
    return 4;
}

/* Position of the first invalid UTF-8 byte in p[0..len), or NULL when valid. */
static const char *utf8_invalid(const char *p, size_t len)
{
    const unsigned char *q = (const unsigned char *)p, *e = q + len;
    while (q < e) {
        /* eight ASCII bytes at a time */
        while (e - q >= 8) {
            uint64_t w;
            memcpy(&w, q, 8);
            if (w & 0x8080808080808080ull) break;
            q += 8;
        }
        if (q >= e) break;
        if (*q < 0x80) {
            q++;
            continue;
        }
        int n = utf8_seq(q, e);
        if (!n) return (const char *)q;
        q += n;
    }
    return NULL;
}

/* A scanned number: the significant digits (at most 19) in mant, times 10^exp10. */
struct num {
    uint64_t mant;
    int64_t exp10;
    bool neg, is_int, truncated, special; /* special: nan/inf (lenient text only) */
    double special_v;
};

/* Scans a number at p (< e). strict: JSON grammar, and the number must be followed by a
 * character that can end it; lenient (CSV text): optional '+', leading zeros, ".5" and "5.",
 * nan/inf/infinity in any case, and the number must fill [p, e). Returns the end, or NULL when
 * the text is not a number of that grammar. */
static const char *scan_number(const char *p, const char *e, bool strict, struct num *n)
{
    const char *q = p;
    n->mant = 0;
    n->exp10 = 0;
    n->neg = false;
    n->is_int = true;
    n->truncated = false;
    n->special = false;
    if (q < e && (*q == '-' || (!strict && *q == '+'))) n->neg = *q++ == '-';
    if (!strict && q < e && (*q | 0x20) >= 'a' && (*q | 0x20) <= 'z') {
        size_t len = (size_t)(e - q);
        if ((len == 3 && strncasecmp(q, "nan", 3) == 0)) {
            n->special = true, n->special_v = n->neg ? -NAN : NAN, n->is_int = false;
            return e;
        }
        if ((len == 3 && strncasecmp(q, "inf", 3) == 0) || (len == 8 && strncasecmp(q, "infinity", 8) == 0)) {
            n->special = true, n->special_v = n->neg ? -INFINITY : INFINITY, n->is_int = false;
            return e;
        }
        return NULL;
    }
    int sig = 0, digits = 0;
    const char *int_start = q;
    while (q < e && (unsigned)(*q - '0') < 10) {
        unsigned dg = (unsigned)(*q - '0');
        if (n->mant == 0 && dg == 0) {
            /* leading zero: not significant */
        } else if (sig < 19) {
            n->mant = n->mant * 10 + dg;
            sig++;
        } else {
            n->exp10++;
            n->truncated = true;
        }
        q++;
        digits++;
    }
    if (strict) {
        if (digits == 0) return NULL;
        if (*int_start == '0' && digits > 1) return NULL; /* leading zeros */
    }
    if (q < e && *q == '.') {
        q++;
        n->is_int = false;
        int frac = 0;
        while (q < e && (unsigned)(*q - '0') < 10) {
            unsigned dg = (unsigned)(*q - '0');
            if (n->mant == 0 && dg == 0) {
                n->exp10--;
            } else if (sig < 19) {
                n->mant = n->mant * 10 + dg;
                sig++;
                n->exp10--;
            } else {
                n->truncated = true;
            }
            q++;
            frac++;
        }
        if (strict && frac == 0) return NULL;
        digits += frac;
    }
    if (digits == 0) return NULL;
    if (q < e && (*q == 'e' || *q == 'E')) {
        q++;
        n->is_int = false;
        bool eneg = false;
        if (q < e && (*q == '+' || *q == '-')) eneg = *q++ == '-';
        if (q >= e || (unsigned)(*q - '0') >= 10) return NULL;
        int64_t ev = 0;
        while (q < e && (unsigned)(*q - '0') < 10) {
            if (ev < 1000000) ev = ev * 10 + (*q - '0');
            q++;
        }
        n->exp10 += eneg ? -ev : ev;
    }
    if (strict) {
        if (q < e) {
            char c = *q;
            if ((c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') || c == '.' || c == '+' ||
                c == '-' || c == '_')
                return NULL;
        }
    } else if (q != e) {
        return NULL;
    }
    return q;
}

/* The scanned integer; 0, or -1 when it is out of range (the number must have is_int). */
static int num_to_i64(const struct num *n, int64_t *out)
{
    if (n->truncated) return -1; /* 20 or more significant digits */
    uint64_t lim = n->neg ? (uint64_t)1 << 63 : ((uint64_t)1 << 63) - 1;
    if (n->mant > lim) return -1;
    *out = n->neg ? (int64_t)(0 - n->mant) : (int64_t)n->mant;
    return 0;
}

static const double pow10_exact[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                       1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                       1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* The number [p, q) as a double; 0, or -1 when it overflows. tmp holds >= q - p + 1 bytes. */
static int num_to_f64(const struct num *n, const char *p, const char *q, char *tmp, double *out)
{
    if (n->special) {
        *out = n->special_v;
        return 0;
    }
    double v;
    if (n->mant == 0) {
        v = 0.0;
    } else if (!n->truncated && n->mant <= ((uint64_t)1 << 53) && n->exp10 >= -22 && n->exp10 <= 22) {
        v = (double)n->mant;
        v = n->exp10 >= 0 ? v * pow10_exact[n->exp10] : v / pow10_exact[-n->exp10];
    } else {
        size_t len = (size_t)(q - p);
        memcpy(tmp, p, len);
        tmp[len] = 0;
        v = fabs(strtod(tmp, NULL));
        if (isinf(v)) return -1;
    }
    *out = n->neg ? -v : v;
    return 0;
}

/* Integer text [+-]?digits (timestamps given as strings or CSV text). 1 when it is one and
 * fits, 0 when it is not integer text, -1 when it is but out of range. */
static int parse_int_text(const char *p, size_t len, int64_t *out)
{
    struct num n;
    if (len == 0) return 0;
    size_t i = (p[0] == '-' || p[0] == '+');
    if (i == len) return 0;
    for (size_t k = i; k < len; k++)
        if ((unsigned)(p[k] - '0') >= 10) return 0;
    if (!scan_number(p, p + len, false, &n)) return 0;
    return num_to_i64(&n, out) == 0 ? 1 : -1;
}

static bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* ---------------------------------------------------------------------------------------- */
/* decoder                                                                                   */

int rn_text_format_parse(const char *name, enum rn_text_format *out)
{
    if (!name) return RN_EINVAL;
    if (strcasecmp(name, "jsonl") == 0 || strcasecmp(name, "json") == 0) {
        *out = RN_FMT_JSONL;
        return 0;
    }
    if (strcasecmp(name, "csv") == 0) {
        *out = RN_FMT_CSV;
        return 0;
    }
    return RN_EINVAL;
}

rn_text_decoder *rn_text_decoder_create(enum rn_text_format f, const rn_schema *s, char delim)
{
    if (!s || (f != RN_FMT_JSONL && f != RN_FMT_CSV)) return NULL;
    if (delim == 0) delim = ',';
    if (delim == '"' || delim == '\r' || delim == '\n') return NULL;
    rn_text_decoder *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    d->fmt = f;
    d->delim = delim;
    d->n_cols = (uint32_t)rn_schema_len(s);
    size_t nc = d->n_cols ? d->n_cols : 1, vdim = 0;
    d->cols = calloc(nc, sizeof *d->cols);
    d->state = calloc(nc, 1);
    d->slots = calloc(nc, sizeof *d->slots);
    d->keys = malloc(KEY_CACHE_SLOTS * sizeof *d->keys);
    if (!d->cols || !d->state || !d->slots || !d->keys) goto fail_alloc;
    for (uint32_t i = 0; i < d->n_cols; i++) {
        const struct rn_field *fd = rn_schema_field(s, i);
        d->cols[i] = (struct col_info){fd->name, fd->type, fd->nullable, 0};
        if (fd->type.id == RN_T_VECTOR) {
            d->cols[i].vec_off = (uint32_t)vdim;
            vdim += fd->type.dim;
        }
    }
    d->vbuf = calloc(vdim ? vdim : 1, sizeof(float));
    if (!d->vbuf) goto fail_alloc;
    for (int k = 0; k < KEY_CACHE_SLOTS; k++) d->keys[k].len = UINT32_MAX;
    d->schema = rn_schema_ref(s);
    return d;
fail_alloc:
    free(d->vbuf);
    free(d->keys);
    free(d->slots);
    free(d->state);
    free(d->cols);
    free(d);
    return NULL;
}

void rn_text_decoder_destroy(rn_text_decoder *d)
{
    if (!d) return;
    rn_schema_unref(d->schema);
    free(d->cols);
    free(d->state);
    free(d->slots);
    free(d->vbuf);
    free(d->sbuf);
    free(d->keys);
    free(d->hmap);
    free(d);
}

/* Makes the string scratch hold a line of len bytes, so that views into it stay put while the
 * line is decoded. Every string decodes into no more bytes than its text took, so the strings
 * kept take at most len; a number copied (NUL-terminated) for strtod goes after them and takes
 * at most len + 1 more (it can be a copy of bytes already in the scratch: a vector element of a
 * CSV field that had "" escapes). */
static int reserve_scratch(rn_text_decoder *d, size_t len)
{
    d->sbuf_len = 0;
    size_t need = 2 * len + 2;
    if (d->sbuf_cap >= need) return 0;
    size_t cap = d->sbuf_cap ? d->sbuf_cap : 256;
    while (cap < need) cap *= 2;
    char *p = realloc(d->sbuf, cap);
    if (!p) return RN_ENOMEM;
    d->sbuf = p;
    d->sbuf_cap = cap;
    return 0;
}

/* Null checks for every column, then the row goes to the builder. end_at: where a missing
 * value is reported. */
static int commit_row(rn_text_decoder *d, const struct ctx *c, const char *end_at)
{
    rn_builder *bb = c->bb;
    for (uint32_t i = 0; i < d->n_cols; i++) {
        if (d->state[i] == S_VALUE || d->cols[i].nullable) continue;
        if (d->state[i] == S_NULL)
            return fail(c, c->line + d->slots[i].pos - 1, (int)i, "null in a not-null column");
        return fail(c, end_at, (int)i, "missing value for a not-null column");
    }
    for (uint32_t i = 0; i < d->n_cols; i++) {
        const struct slot *s = &d->slots[i];
        int rc;
        if (d->state[i] != S_VALUE) {
            rc = rn_builder_null(bb, i);
        } else {
            switch (d->cols[i].type.id) {
            case RN_T_BOOL: rc = rn_builder_bool(bb, i, s->v.b); break;
            case RN_T_INT64: rc = rn_builder_i64(bb, i, s->v.i); break;
            case RN_T_DOUBLE: rc = rn_builder_f64(bb, i, s->v.d); break;
            case RN_T_TIMESTAMP: rc = rn_builder_ts(bb, i, s->v.i); break;
            case RN_T_STRING: rc = rn_builder_str(bb, i, s->v.s.p, s->v.s.len); break;
            case RN_T_VECTOR:
                rc = rn_builder_vec(bb, i, d->vbuf + d->cols[i].vec_off, d->cols[i].type.dim);
                break;
            default: rc = RN_EINVAL; break;
            }
        }
        if (rc) {
            /* Only out of memory can get here (the builder's schema is the decoder's and it
             * had room): the builder's batch is then uneven and must be dropped. */
            if (c->err) rn_error_set(c->err, rc, 0, 0, "column '%s': %s", d->cols[i].name, rn_strerror(rc));
            return rc;
        }
    }
    return 0;
}

/* A blank character of a line that holds nothing (for CSV, not the delimiter: a line of tab
 * delimiters is a row of nulls). */
static bool is_blank(char ch, char delim)
{
    return (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n') && ch != delim;
}

/* Common start of decode_line: trailing '\r', blank lines, a full builder, scratch. */
static int line_start(rn_text_decoder *d, const char *line, size_t *len, rn_builder *bb, struct rn_error *err)
{
    if (*len > 0 && line[*len - 1] == '\r') (*len)--;
    char delim = d->fmt == RN_FMT_CSV ? d->delim : 0;
    size_t i = 0;
    while (i < *len && is_blank(line[i], delim)) i++;
    if (i == *len) return RN_EEND;
    if (rn_builder_full(bb)) {
        if (err) rn_error_set(err, RN_ERANGE, 0, 0, "the batch under construction is full");
        return RN_ERANGE;
    }
    if (*len > UINT32_MAX / 2 - 2) {
        if (err) rn_error_set(err, RN_ERANGE, 0, 0, "line longer than 2 GiB");
        return RN_ERANGE;
    }
    memset(d->state, 0, d->n_cols);
    return reserve_scratch(d, *len);
}

/* ---------------------------------------------------------------------------------------- */
/* JSON                                                                                      */

/* 1 for bytes that a JSON string holds as they are: printable ASCII other than '"' and '\\'. */
static const uint8_t json_plain[256] = {
    ['\x20'] = 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x20..0x2F, '"' not plain */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,            /* 0x30..0x3F */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,            /* 0x40..0x4F */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,            /* 0x50..0x5F, '\\' not plain */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,            /* 0x60..0x6F */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,            /* 0x70..0x7F */
};

static const char *skip_ws(const char *p, const char *e)
{
    while (p < e && is_ws(*p)) p++;
    return p;
}

/* A scanned JSON string: its decoded bytes (a view into the line, or into the scratch when it
 * had escapes) and the raw text between the quotes. */
struct jstr {
    const char *p, *raw;
    size_t len, raw_len;
    bool escaped;
};

static int hex4(const char *q, const char *e, unsigned *out)
{
    if (e - q < 4) return -1;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = q[i];
        unsigned dg;
        if (c >= '0' && c <= '9') dg = (unsigned)(c - '0');
        else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') dg = (unsigned)((c | 0x20) - 'a' + 10);
        else return -1;
        v = v << 4 | dg;
    }
    *out = v;
    return 0;
}

static char *put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) {
        *o++ = (char)cp;
    } else if (cp < 0x800) {
        *o++ = (char)(0xC0 | cp >> 6);
        *o++ = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        *o++ = (char)(0xE0 | cp >> 12);
        *o++ = (char)(0x80 | (cp >> 6 & 0x3F));
        *o++ = (char)(0x80 | (cp & 0x3F));
    } else {
        *o++ = (char)(0xF0 | cp >> 18);
        *o++ = (char)(0x80 | (cp >> 12 & 0x3F));
        *o++ = (char)(0x80 | (cp >> 6 & 0x3F));
        *o++ = (char)(0x80 | (cp & 0x3F));
    }
    return o;
}

/* Scans the string whose opening quote is at *pp; *pp moves past the closing quote. col names
 * the column in messages (-1: none). */
static int scan_string(struct ctx *c, const char **pp, int col, struct jstr *out)
{
    const char *open = *pp, *e = c->end;
    const unsigned char *q = (const unsigned char *)open + 1, *ue = (const unsigned char *)e;
    for (;;) {
        while (ue - q >= 4 && json_plain[q[0]] && json_plain[q[1]] && json_plain[q[2]] && json_plain[q[3]]) q += 4;
        if (q >= ue) return fail(c, open, col, "unterminated string");
        unsigned ch = *q;
        if (json_plain[ch]) {
            q++;
        } else if (ch == '"') {
            out->p = out->raw = open + 1;
            out->len = out->raw_len = (size_t)((const char *)q - open - 1);
            out->escaped = false;
            *pp = (const char *)q + 1;
            return 0;
        } else if (ch == '\\') {
            break;
        } else if (ch < 0x20) {
            return fail(c, (const char *)q, col, "control character 0x%02x in a string (must be escaped)", ch);
        } else {
            int n = utf8_seq(q, ue);
            if (!n) return fail(c, (const char *)q, col, "invalid UTF-8 in a string");
            q += n;
        }
    }
    /* escapes: decode into the scratch */
    rn_text_decoder *d = c->d;
    char *o0 = d->sbuf + d->sbuf_len, *o = o0;
    size_t plain = (size_t)((const char *)q - open - 1);
    memcpy(o, open + 1, plain);
    o += plain;
    for (;;) {
        if (q >= ue) return fail(c, open, col, "unterminated string");
        unsigned ch = *q;
        if (json_plain[ch]) {
            *o++ = (char)*q++;
        } else if (ch == '"') {
            break;
        } else if (ch == '\\') {
            const char *bs = (const char *)q;
            if (ue - q < 2) return fail(c, open, col, "unterminated string");
            switch (q[1]) {
            case '"': *o++ = '"'; q += 2; break;
            case '\\': *o++ = '\\'; q += 2; break;
            case '/': *o++ = '/'; q += 2; break;
            case 'b': *o++ = '\b'; q += 2; break;
            case 'f': *o++ = '\f'; q += 2; break;
            case 'n': *o++ = '\n'; q += 2; break;
            case 'r': *o++ = '\r'; q += 2; break;
            case 't': *o++ = '\t'; q += 2; break;
            case 'u': {
                unsigned cp;
                if (hex4((const char *)q + 2, e, &cp))
                    return fail(c, bs, col, "invalid \\u escape (four hex digits expected)");
                q += 6;
                if (cp >= 0xDC00 && cp <= 0xDFFF)
                    return fail(c, bs, col, "invalid \\u escape: lone low surrogate \\u%04x", cp);
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    unsigned lo;
                    if (ue - q < 6 || q[0] != '\\' || q[1] != 'u' || hex4((const char *)q + 2, e, &lo) ||
                        lo < 0xDC00 || lo > 0xDFFF)
                        return fail(c, bs, col, "invalid \\u escape: high surrogate \\u%04x without a low one", cp);
                    q += 6;
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                }
                o = put_utf8(o, cp);
                break;
            }
            default:
                return fail(c, bs, col, "invalid escape \\%c", q[1] >= 0x20 && q[1] < 0x7f ? q[1] : '?');
            }
        } else if (ch < 0x20) {
            return fail(c, (const char *)q, col, "control character 0x%02x in a string (must be escaped)", ch);
        } else {
            int n = utf8_seq(q, ue);
            if (!n) return fail(c, (const char *)q, col, "invalid UTF-8 in a string");
            memcpy(o, q, (size_t)n);
            o += n;
            q += n;
        }
    }
    out->raw = open + 1;
    out->raw_len = (size_t)((const char *)q - open - 1);
    out->p = o0;
    out->len = (size_t)(o - o0);
    out->escaped = true;
    d->sbuf_len += out->len;
    *pp = (const char *)q + 1;
    return 0;
}

/* Matches the literal word at p (true, false, null) followed by a character that ends it. */
static bool literal(const char *p, const char *e, const char *word, size_t n)
{
    if ((size_t)(e - p) < n || memcmp(p, word, n) != 0) return false;
    if (p + n < e) {
        char ch = p[n];
        if ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'z') return false;
        if ((ch >= '0' && ch <= '9') || ch == '_') return false;
    }
    return true;
}

/* Skips (and validates) a value under a key the schema does not have. depth: that of the
 * container holding it. */
static int skip_value(struct ctx *c, const char **pp, int depth)
{
    const char *p = *pp, *e = c->end;
    if (p >= e) return fail(c, p, -1, "expected a value, found end of line");
    char ch = *p;
    if (ch == '"') {
        struct jstr s;
        int rc = scan_string(c, pp, -1, &s);
        if (rc) return rc;
        if (s.escaped) c->d->sbuf_len -= s.len; /* the bytes are not kept */
        return 0;
    }
    if (ch == '-' || (ch >= '0' && ch <= '9')) {
        struct num n;
        const char *q = scan_number(p, e, true, &n);
        if (!q) return fail(c, p, -1, "invalid number");
        *pp = q;
        return 0;
    }
    if (ch == '{' || ch == '[') {
        if (depth + 1 > JSON_MAX_DEPTH) return fail(c, p, -1, "nesting deeper than %d", JSON_MAX_DEPTH);
        char close = ch == '{' ? '}' : ']';
        p = skip_ws(p + 1, e);
        if (p < e && *p == close) {
            *pp = p + 1;
            return 0;
        }
        for (;;) {
            if (ch == '{') {
                if (p >= e || *p != '"') {
                    char sn[48];
                    return fail(c, p, -1, "expected a key string, found %s", snippet(p, e, 0, sn, sizeof sn));
                }
                struct jstr k;
                int rc = scan_string(c, &p, -1, &k);
                if (rc) return rc;
                if (k.escaped) c->d->sbuf_len -= k.len;
                p = skip_ws(p, e);
                if (p >= e || *p != ':') {
                    char sn[48];
                    return fail(c, p, -1, "expected ':' after a key, found %s", snippet(p, e, 0, sn, sizeof sn));
                }
                p = skip_ws(p + 1, e);
            }
            int rc = skip_value(c, &p, depth + 1);
            if (rc) return rc;
            p = skip_ws(p, e);
            if (p < e && *p == ',') {
                p = skip_ws(p + 1, e);
                continue;
            }
            if (p < e && *p == close) {
                *pp = p + 1;
                return 0;
            }
            char sn[48];
            return fail(c, p, -1, "expected ',' or '%c', found %s", close, snippet(p, e, 0, sn, sizeof sn));
        }
    }
    if (literal(p, e, "true", 4) || literal(p, e, "null", 4)) {
        *pp = p + 4;
        return 0;
    }
    if (literal(p, e, "false", 5)) {
        *pp = p + 5;
        return 0;
    }
    char sn[48];
    return fail(c, p, -1, "expected a value, found %s", snippet(p, e, 0, sn, sizeof sn));
}

/* The wrong kind of value for column col at p. */
static int wrong_kind(struct ctx *c, const char *p, int col, const char *expected)
{
    char sn[48];
    return fail(c, p, col, "expected %s, found %s", expected, snippet(p, c->end, 0, sn, sizeof sn));
}

/* A JSON number for column col (not int64: that one must be integer). */
static int json_double(struct ctx *c, const char **pp, int col, double *out)
{
    const char *p = *pp;
    struct num n;
    const char *q = scan_number(p, c->end, true, &n);
    if (!q) return fail(c, p, col, "invalid number");
    if (num_to_f64(&n, p, q, c->d->sbuf + c->d->sbuf_len, out))
        return fail(c, p, col, "number out of range for a double");
    *pp = q;
    return 0;
}

static int json_vector(struct ctx *c, const char **pp, int col)
{
    rn_text_decoder *d = c->d;
    const char *open = *pp, *e = c->end, *p = skip_ws(open + 1, e);
    uint32_t dim = d->cols[col].type.dim, k = 0;
    float *v = d->vbuf + d->cols[col].vec_off;
    if (p < e && *p == ']') {
        p++;
    } else {
        for (;;) {
            if (p >= e || !(*p == '-' || (*p >= '0' && *p <= '9'))) {
                char sn[48];
                return fail(c, p, col, "vector element %u: expected a number, found %s", k + 1,
                            snippet(p, e, 0, sn, sizeof sn));
            }
            double x;
            const char *at = p;
            int rc = json_double(c, &p, col, &x);
            if (rc) return rc;
            float f = (float)x;
            if (isinf(f)) return fail(c, at, col, "vector element %u: out of range for float32", k + 1);
            if (k < dim) v[k] = f;
            k++;
            p = skip_ws(p, e);
            if (p < e && *p == ',') {
                p = skip_ws(p + 1, e);
                continue;
            }
            if (p < e && *p == ']') {
                p++;
                break;
            }
            char sn[48];
            return fail(c, p, col, "expected ',' or ']' in a vector, found %s", snippet(p, e, 0, sn, sizeof sn));
        }
    }
    if (k != dim) return fail(c, open, col, "expected a vector of %u numbers, found %u", dim, k);
    *pp = p;
    return 0;
}

/* The value at *pp for column col into its slot. */
static int json_value(struct ctx *c, const char **pp, int col)
{
    rn_text_decoder *d = c->d;
    const char *p = *pp, *e = c->end;
    struct slot *s = &d->slots[col];
    s->pos = (uint32_t)(p - c->line) + 1;
    if (p >= e) return fail(c, p, col, "expected a value, found end of line");
    char ch = *p;
    if (ch == 'n' && literal(p, e, "null", 4)) {
        d->state[col] = S_NULL;
        *pp = p + 4;
        return 0;
    }
    switch (d->cols[col].type.id) {
    case RN_T_INT64: {
        if (!(ch == '-' || (ch >= '0' && ch <= '9'))) return wrong_kind(c, p, col, "an integer");
        struct num n;
        const char *q = scan_number(p, e, true, &n);
        if (!q) return fail(c, p, col, "invalid number");
        if (!n.is_int) return fail(c, p, col, "expected an integer, found %.*s", (int)(q - p > 40 ? 40 : q - p), p);
        if (num_to_i64(&n, &s->v.i))
            return fail(c, p, col, "integer out of range, found %.*s", (int)(q - p > 40 ? 40 : q - p), p);
        *pp = q;
        break;
    }
    case RN_T_DOUBLE: {
        if (!(ch == '-' || (ch >= '0' && ch <= '9'))) return wrong_kind(c, p, col, "a number");
        int rc = json_double(c, pp, col, &s->v.d);
        if (rc) return rc;
        break;
    }
    case RN_T_BOOL:
        if (literal(p, e, "true", 4)) {
            s->v.b = true;
            *pp = p + 4;
        } else if (literal(p, e, "false", 5)) {
            s->v.b = false;
            *pp = p + 5;
        } else {
            return wrong_kind(c, p, col, "true or false");
        }
        break;
    case RN_T_STRING: {
        if (ch != '"') return wrong_kind(c, p, col, "a string");
        struct jstr str;
        int rc = scan_string(c, pp, col, &str);
        if (rc) return rc;
        s->v.s.p = str.p;
        s->v.s.len = (uint32_t)str.len;
        break;
    }
    case RN_T_TIMESTAMP:
        if (ch == '-' || (ch >= '0' && ch <= '9')) {
            struct num n;
            const char *q = scan_number(p, e, true, &n);
            if (!q) return fail(c, p, col, "invalid number");
            if (!n.is_int)
                return fail(c, p, col, "expected a timestamp (integer ms or an ISO-8601 string), found %.*s",
                            (int)(q - p > 40 ? 40 : q - p), p);
            if (num_to_i64(&n, &s->v.i)) return fail(c, p, col, "timestamp out of range");
            *pp = q;
        } else if (ch == '"') {
            struct jstr str;
            int rc = scan_string(c, pp, col, &str);
            if (rc) return rc;
            int ir = parse_int_text(str.p, str.len, &s->v.i);
            if (ir < 0) return fail(c, p, col, "timestamp out of range");
            if (ir == 0 && rn_timestamp_parse(str.p, str.len, &s->v.i) != 0) {
                char sn[48];
                return fail(c, p, col, "expected a timestamp (integer ms or an ISO-8601 string), found %s",
                            snippet(p, e, 0, sn, sizeof sn));
            }
        } else {
            return wrong_kind(c, p, col, "a timestamp (integer ms or an ISO-8601 string)");
        }
        break;
    case RN_T_VECTOR: {
        if (ch != '[') return wrong_kind(c, p, col, "an array of numbers");
        int rc = json_vector(c, pp, col);
        if (rc) return rc;
        break;
    }
    default: return fail(c, p, col, "unsupported column type");
    }
    d->state[col] = S_VALUE;
    return 0;
}

/* The schema column of the index-th key of the object (or -1). */
static int lookup_key(rn_text_decoder *d, const struct jstr *k, unsigned index)
{
    struct key_entry *ke = index < KEY_CACHE_SLOTS ? &d->keys[index] : NULL;
    if (ke && ke->len == k->raw_len && memcmp(ke->text, k->raw, k->raw_len) == 0) return ke->col;
    int col;
    if (k->escaped && memchr(k->p, 0, k->len)) col = -1; /* names never hold NUL */
    else col = rn_schema_findn(d->schema, k->p, k->len);
    if (ke && k->raw_len <= KEY_CACHE_LEN) {
        /* the raw text decides the decoded one, so it can be the cache's key */
        ke->len = (uint32_t)k->raw_len;
        ke->col = col;
        memcpy(ke->text, k->raw, k->raw_len);
    }
    return col;
}

static int json_line(rn_text_decoder *d, struct ctx *c)
{
    const char *e = c->end, *p = c->line;
    char sn[48];
    if (e - p >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0) p += 3; /* a byte order mark (RFC 8259 8.1) */
    p = skip_ws(p, e);
    if (p >= e || *p != '{') return fail(c, p, -1, "expected a JSON object, found %s", snippet(p, e, 0, sn, sizeof sn));
    p = skip_ws(p + 1, e);
    if (p < e && *p == '}') {
        p++;
    } else {
        for (unsigned index = 0;; index++) {
            if (p >= e || *p != '"')
                return fail(c, p, -1, "expected a key string, found %s", snippet(p, e, 0, sn, sizeof sn));
            struct jstr k;
            int rc = scan_string(c, &p, -1, &k);
            if (rc) return rc;
            int col = lookup_key(d, &k, index);
            if (k.escaped) d->sbuf_len -= k.len;
            p = skip_ws(p, e);
            if (p >= e || *p != ':')
                return fail(c, p, -1, "expected ':' after a key, found %s", snippet(p, e, 0, sn, sizeof sn));
            p = skip_ws(p + 1, e);
            rc = col >= 0 ? json_value(c, &p, col) : skip_value(c, &p, 1);
            if (rc) return rc;
            p = skip_ws(p, e);
            if (p < e && *p == ',') {
                p = skip_ws(p + 1, e);
                continue;
            }
            if (p < e && *p == '}') {
                p++;
                break;
            }
            return fail(c, p, -1, "expected ',' or '}', found %s", snippet(p, e, 0, sn, sizeof sn));
        }
    }
    const char *close = p - 1;
    p = skip_ws(p, e);
    if (p != e)
        return fail(c, p, -1, "trailing characters after the JSON object: %s", snippet(p, e, 0, sn, sizeof sn));
    return commit_row(d, c, close);
}

/* ---------------------------------------------------------------------------------------- */
/* CSV                                                                                       */

struct field {
    const char *p; /* text (a view into the line, or into the scratch when it had "") */
    size_t len;
    bool quoted;
};

/* Splits the field at *pp; *pp moves to its end (the delimiter or the end of the line). */
static int csv_field(struct ctx *c, const char **pp, int col, struct field *f)
{
    const char *p = *pp, *e = c->end;
    char delim = c->d->delim;
    if (p < e && *p == '"') {
        const char *q = p + 1, *r;
        bool doubled = false;
        for (;;) {
            r = memchr(q, '"', (size_t)(e - q));
            if (!r) return fail(c, p, col, "unterminated quoted field");
            if (r + 1 < e && r[1] == '"') {
                doubled = true;
                q = r + 2;
                continue;
            }
            break;
        }
        if (r + 1 < e && r[1] != delim) return fail(c, r + 1, col, "expected the delimiter after a closing quote");
        f->quoted = true;
        if (!doubled) {
            f->p = p + 1;
            f->len = (size_t)(r - p - 1);
        } else {
            rn_text_decoder *d = c->d;
            char *o0 = d->sbuf + d->sbuf_len, *o = o0;
            for (const char *s = p + 1; s < r; s++) {
                *o++ = *s;
                if (*s == '"') s++;
            }
            f->p = o0;
            f->len = (size_t)(o - o0);
            d->sbuf_len += f->len;
        }
        *pp = r + 1;
        return 0;
    }
    const char *end = p; /* fields are short: a loop beats two memchr calls */
    while (end < e && *end != delim && *end != '"') end++;
    if (end < e && *end == '"') return fail(c, end, col, "quote in an unquoted field");
    f->p = p;
    f->len = (size_t)(end - p);
    f->quoted = false;
    *pp = end;
    return 0;
}

/* Strips spaces and tabs around a field (not strings: those are kept as written). */
static void trim(const char **p, size_t *len)
{
    while (*len && (**p == ' ' || **p == '\t')) (*p)++, (*len)--;
    while (*len && ((*p)[*len - 1] == ' ' || (*p)[*len - 1] == '\t')) (*len)--;
}

/* A CSV number (lenient grammar, nan/inf) as a double; 0, or a message. */
static const char *csv_double(rn_text_decoder *d, const char *p, size_t len, double *out)
{
    struct num n;
    const char *q = scan_number(p, p + len, false, &n);
    if (!q) return "expected a number";
    if (num_to_f64(&n, p, q, d->sbuf + d->sbuf_len, out)) return "number out of range for a double";
    return NULL;
}

static int csv_vector(struct ctx *c, const char *at, int col, const char *p, size_t len)
{
    rn_text_decoder *d = c->d;
    uint32_t dim = d->cols[col].type.dim, k = 0;
    float *v = d->vbuf + d->cols[col].vec_off;
    char sep = ';', sn[56];
    if (len && p[0] == '[') {
        if (p[len - 1] != ']') return fail(c, at, col, "expected a vector, found %s", field_text(p, len, sn, sizeof sn));
        p++;
        len -= 2;
        sep = ',';
    }
    const char *e = p + len, *q = p;
    trim(&q, &len);
    if (len == 0 && dim > 0) return fail(c, at, col, "expected a vector of %u numbers, found 0", dim);
    for (;;) {
        const char *sepp = memchr(q, sep, (size_t)(e - q));
        const char *ee = sepp ? sepp : e, *x = q;
        size_t xl = (size_t)(ee - q);
        trim(&x, &xl);
        double dv;
        const char *msg = csv_double(d, x, xl, &dv);
        if (msg)
            return fail(c, at, col, "vector element %u: %s, found %s", k + 1, msg, field_text(x, xl, sn, sizeof sn));
        float fv = (float)dv;
        if (isinf(fv) && !isinf(dv)) return fail(c, at, col, "vector element %u: out of range for float32", k + 1);
        if (k < dim) v[k] = fv;
        k++;
        if (!sepp) break;
        q = sepp + 1;
    }
    if (k != dim) return fail(c, at, col, "expected a vector of %u numbers, found %u", dim, k);
    return 0;
}

/* Converts field f (which started at `at` in the line) for column col into its slot. */
static int csv_value(struct ctx *c, const char *at, int col, struct field f)
{
    rn_text_decoder *d = c->d;
    struct slot *s = &d->slots[col];
    s->pos = (uint32_t)(at - c->line) + 1;
    if (!f.quoted && f.len == 0) {
        d->state[col] = S_NULL;
        return 0;
    }
    char sn[56];
    enum rn_type_id t = d->cols[col].type.id;
    if (t == RN_T_STRING) {
        const char *bad = utf8_invalid(f.p, f.len);
        if (bad) {
            /* a position in the line: in the scratch after "" unescaping, the field's start */
            const char *pos = bad >= c->line && bad < c->end ? bad : at;
            return fail(c, pos, col, "invalid UTF-8 in a string");
        }
        s->v.s.p = f.p;
        s->v.s.len = (uint32_t)f.len;
        d->state[col] = S_VALUE;
        return 0;
    }
    const char *p = f.p;
    size_t len = f.len;
    trim(&p, &len);
    switch (t) {
    case RN_T_INT64: {
        struct num n;
        const char *q = scan_number(p, p + len, false, &n);
        if (!q || !n.is_int || n.special)
            return fail(c, at, col, "expected an integer, found %s", field_text(f.p, f.len, sn, sizeof sn));
        if (num_to_i64(&n, &s->v.i))
            return fail(c, at, col, "integer out of range, found %s", field_text(f.p, f.len, sn, sizeof sn));
        break;
    }
    case RN_T_DOUBLE: {
        const char *msg = csv_double(d, p, len, &s->v.d);
        if (msg) return fail(c, at, col, "%s, found %s", msg, field_text(f.p, f.len, sn, sizeof sn));
        break;
    }
    case RN_T_BOOL:
        if ((len == 4 && strncasecmp(p, "true", 4) == 0) || (len == 1 && p[0] == '1')) s->v.b = true;
        else if ((len == 5 && strncasecmp(p, "false", 5) == 0) || (len == 1 && p[0] == '0')) s->v.b = false;
        else return fail(c, at, col, "expected true or false, found %s", field_text(f.p, f.len, sn, sizeof sn));
        break;
    case RN_T_TIMESTAMP: {
        int ir = parse_int_text(p, len, &s->v.i);
        if (ir < 0) return fail(c, at, col, "timestamp out of range, found %s", field_text(f.p, f.len, sn, sizeof sn));
        if (ir == 0 && rn_timestamp_parse(p, len, &s->v.i) != 0)
            return fail(c, at, col, "expected a timestamp (integer ms or ISO-8601), found %s",
                        field_text(f.p, f.len, sn, sizeof sn));
        break;
    }
    case RN_T_VECTOR: {
        int rc = csv_vector(c, at, col, p, len);
        if (rc) return rc;
        break;
    }
    default: return fail(c, at, col, "unsupported column type");
    }
    d->state[col] = S_VALUE;
    return 0;
}

int rn_text_decoder_header(rn_text_decoder *d, const char *line, size_t len, struct rn_error *err)
{
    if (d->fmt != RN_FMT_CSV) return 0;
    d->have_header = false;
    d->n_hdr = 0;
    if (len > 0 && line[len - 1] == '\r') len--;
    size_t skip = 0;
    if (len >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0) skip = 3; /* a UTF-8 byte order mark */
    int rc = reserve_scratch(d, len);
    if (rc) return rc;
    struct ctx c = {d, line, line + len, err, NULL};
    memset(d->state, 0, d->n_cols);
    const char *p = line + skip, *e = line + len;
    for (;;) {
        const char *at = p;
        struct field f;
        rc = csv_field(&c, &p, -1, &f);
        if (rc) return rc;
        if (d->n_hdr == d->hmap_cap) {
            uint32_t cap = d->hmap_cap ? d->hmap_cap * 2 : 16;
            int32_t *m = realloc(d->hmap, cap * sizeof *m);
            if (!m) return RN_ENOMEM;
            d->hmap = m;
            d->hmap_cap = cap;
        }
        const char *name = f.p;
        size_t nlen = f.len;
        if (!f.quoted) trim(&name, &nlen);
        int col = memchr(name, 0, nlen) ? -1 : rn_schema_findn(d->schema, name, nlen);
        if (col >= 0) {
            if (d->state[col]) return fail(&c, at, -1, "column '%s' appears twice in the header", d->cols[col].name);
            d->state[col] = 1;
        }
        d->hmap[d->n_hdr++] = col;
        if (p >= e) break;
        p++; /* the delimiter */
    }
    for (uint32_t i = 0; i < d->n_cols; i++)
        if (!d->state[i]) {
            if (err) rn_error_set(err, RN_EINVAL, 0, 0, "column '%s' is missing from the header", d->cols[i].name);
            return RN_EINVAL;
        }
    d->have_header = true;
    return 0;
}

static int csv_line(rn_text_decoder *d, struct ctx *c)
{
    const char *p = c->line, *e = c->end;
    uint32_t fi = 0;
    for (;;) {
        const char *at = p;
        if (fi >= d->n_hdr) return fail(c, at, -1, "the row has more fields than the header (%u)", d->n_hdr);
        int col = d->hmap[fi];
        struct field f;
        int rc = csv_field(c, &p, col, &f);
        if (rc) return rc;
        if (col >= 0 && (rc = csv_value(c, at, col, f)) != 0) return rc;
        fi++;
        if (p >= e) break;
        p++; /* the delimiter */
    }
    if (fi < d->n_hdr) {
        for (uint32_t k = fi; k < d->n_hdr; k++)
            if (d->hmap[k] >= 0)
                return fail(c, e, d->hmap[k], "missing field (the row has %u fields, the header %u)", fi, d->n_hdr);
        return fail(c, e, -1, "the row has %u fields, the header %u", fi, d->n_hdr);
    }
    return commit_row(d, c, e);
}

int rn_text_decode_line(rn_text_decoder *d, const char *line, size_t len, rn_builder *bb, struct rn_error *err)
{
    int rc = line_start(d, line, &len, bb, err);
    if (rc) return rc;
    if (d->fmt == RN_FMT_CSV && !d->have_header) {
        if (err) rn_error_set(err, RN_EINVAL, 0, 0, "no CSV header has been read");
        return RN_EINVAL;
    }
    struct ctx c = {d, line, line + len, err, bb};
    return d->fmt == RN_FMT_JSONL ? json_line(d, &c) : csv_line(d, &c);
}

/* ---------------------------------------------------------------------------------------- */
/* encoders                                                                                  */

void rn_text_buf_free(struct rn_text_buf *b)
{
    if (!b) return;
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* Room for n more bytes. */
static int reserve(struct rn_text_buf *b, size_t n)
{
    if (b->cap - b->len >= n) return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len < n) {
        if (cap > SIZE_MAX / 2) return RN_ENOMEM;
        cap *= 2;
    }
    char *p = realloc(b->data, cap);
    if (!p) return RN_ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

int rn_text_buf_append(struct rn_text_buf *b, const void *p, size_t n)
{
    if (!n) return 0;
    int rc = reserve(b, n);
    if (rc) return rc;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

static const char digit_pairs[201] = "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
                                     "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
                                     "8081828384858687888990919293949596979899";

static char *put_i64(char *o, int64_t v)
{
    char tmp[20], *t = tmp + sizeof tmp;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    while (u >= 100) {
        unsigned k = (unsigned)(u % 100) * 2;
        u /= 100;
        *--t = digit_pairs[k + 1];
        *--t = digit_pairs[k];
    }
    if (u >= 10) {
        *--t = digit_pairs[u * 2 + 1];
        *--t = digit_pairs[u * 2];
    } else {
        *--t = (char)('0' + u);
    }
    if (v < 0) *o++ = '-';
    size_t n = (size_t)(tmp + sizeof tmp - t);
    memcpy(o, t, n);
    return o + n;
}

/* The shortest text that reads back as the same float (a float's digits, not its double's:
 * 0.1f is "0.1", not "0.10000000149011612"). */
static const char *float_text(float f, char buf[32])
{
    if (!isfinite(f)) return rn_double_format((double)f, buf);
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(buf, 32, "%.*g", prec, (double)f);
        if (strtof(buf, NULL) == f) break;
    }
    return buf;
}

/* Appends dim floats separated by sep (shortest round-trip text each). */
static int append_floats(struct rn_text_buf *b, const float *v, uint32_t dim, char sep)
{
    char tmp[48];
    for (uint32_t i = 0; i < dim; i++) {
        if (reserve(b, 40)) return RN_ENOMEM;
        if (i) b->data[b->len++] = sep;
        const char *t = float_text(v[i], tmp);
        size_t n = strlen(t);
        memcpy(b->data + b->len, t, n);
        b->len += n;
    }
    return 0;
}

static const char hexdig[] = "0123456789abcdef";

/* s as a JSON string: '"' and '\\' escaped, control characters as \u00XX, bytes that are not
 * UTF-8 as \ufffd. */
static int json_put_str(struct rn_text_buf *b, const char *s, size_t len)
{
    if (len > (SIZE_MAX - 2) / 6 || reserve(b, 6 * len + 2)) return RN_ENOMEM;
    char *o = b->data + b->len;
    const unsigned char *q = (const unsigned char *)s, *e = q + len;
    *o++ = '"';
    while (q < e) {
        const unsigned char *r = q;
        while (r < e && json_plain[*r]) r++;
        memcpy(o, q, (size_t)(r - q));
        o += r - q;
        q = r;
        if (q >= e) break;
        unsigned ch = *q;
        if (ch == '"' || ch == '\\') {
            *o++ = '\\';
            *o++ = (char)ch;
            q++;
        } else if (ch < 0x20) {
            memcpy(o, "\\u00", 4);
            o[4] = hexdig[ch >> 4];
            o[5] = hexdig[ch & 15];
            o += 6;
            q++;
        } else {
            int n = utf8_seq(q, e);
            if (n) {
                memcpy(o, q, (size_t)n);
                o += n;
                q += n;
            } else {
                memcpy(o, "\\ufffd", 6);
                o += 6;
                q++;
            }
        }
    }
    *o++ = '"';
    b->len = (size_t)(o - b->data);
    return 0;
}

static bool vec_finite(const float *v, uint32_t dim)
{
    for (uint32_t i = 0; i < dim; i++)
        if (!isfinite(v[i])) return false;
    return true;
}

/* Appends value `row` of column c (not null) as JSON. */
static int json_put_value(struct rn_text_buf *b, const struct rn_column *c, uint32_t row)
{
    char tmp[48];
    if (reserve(b, 48)) return RN_ENOMEM;
    char *o = b->data + b->len;
    switch (c->type.id) {
    case RN_T_BOOL:
        if (rn_col_bool(c, row)) memcpy(o, "true", 4), o += 4;
        else memcpy(o, "false", 5), o += 5;
        break;
    case RN_T_INT64:
    case RN_T_TIMESTAMP: o = put_i64(o, rn_col_i64(c, row)); break;
    case RN_T_DOUBLE: {
        double v = rn_col_f64(c, row);
        if (!isfinite(v)) {
            memcpy(o, "null", 4);
            o += 4;
            break;
        }
        const char *t = rn_double_format(v, tmp);
        size_t n = strlen(t);
        memcpy(o, t, n);
        o += n;
        break;
    }
    case RN_T_STRING: {
        struct rn_str s = rn_col_str(c, row);
        return json_put_str(b, s.ptr, s.len);
    }
    case RN_T_VECTOR: {
        const float *v = rn_col_vec(c, row);
        uint32_t dim = c->type.dim;
        if (!vec_finite(v, dim)) { /* JSON has no text for them: the whole vector is null */
            memcpy(o, "null", 4);
            o += 4;
            break;
        }
        *o++ = '[';
        b->len = (size_t)(o - b->data);
        if (append_floats(b, v, dim, ',') || reserve(b, 1)) return RN_ENOMEM;
        o = b->data + b->len;
        *o++ = ']';
        break;
    }
    default: return RN_EINVAL;
    }
    b->len = (size_t)(o - b->data);
    return 0;
}

/* Whether a CSV string needs quotes: it holds the delimiter, a quote or a line break, is empty
 * (an empty unquoted field is null), or starts or ends with a blank (which a reader, or a
 * blank-line check, could take away). */
static bool csv_needs_quotes(const char *s, size_t len, char delim)
{
    if (len == 0) return true;
    if (s[0] == ' ' || s[0] == '\t' || s[len - 1] == ' ' || s[len - 1] == '\t') return true;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        if (ch == delim || ch == '"' || ch == '\r' || ch == '\n') return true;
    }
    return false;
}

static int csv_put_str(struct rn_text_buf *b, const char *s, size_t len, char delim)
{
    if (!csv_needs_quotes(s, len, delim)) {
        if (reserve(b, len)) return RN_ENOMEM;
        memcpy(b->data + b->len, s, len);
        b->len += len;
        return 0;
    }
    if (len > (SIZE_MAX - 2) / 2 || reserve(b, 2 * len + 2)) return RN_ENOMEM;
    char *o = b->data + b->len;
    *o++ = '"';
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '"') *o++ = '"';
        *o++ = s[i];
    }
    *o++ = '"';
    b->len = (size_t)(o - b->data);
    return 0;
}

/* Appends value `row` of column c (not null) as CSV text. */
static int csv_put_value(struct rn_text_buf *b, const struct rn_column *c, uint32_t row, char delim)
{
    char tmp[48];
    if (c->type.id == RN_T_STRING) {
        struct rn_str s = rn_col_str(c, row);
        return csv_put_str(b, s.ptr, s.len, delim);
    }
    size_t start = b->len;
    if (reserve(b, 48)) return RN_ENOMEM;
    char *o = b->data + b->len;
    switch (c->type.id) {
    case RN_T_BOOL:
        if (rn_col_bool(c, row)) memcpy(o, "true", 4), o += 4;
        else memcpy(o, "false", 5), o += 5;
        break;
    case RN_T_INT64:
    case RN_T_TIMESTAMP: o = put_i64(o, rn_col_i64(c, row)); break;
    case RN_T_DOUBLE: {
        const char *t = rn_double_format(rn_col_f64(c, row), tmp);
        size_t n = strlen(t);
        memcpy(o, t, n);
        o += n;
        break;
    }
    case RN_T_VECTOR: {
        b->len = (size_t)(o - b->data);
        if (append_floats(b, rn_col_vec(c, row), c->type.dim, ';')) return RN_ENOMEM;
        o = b->data + b->len;
        break;
    }
    default: return RN_EINVAL;
    }
    b->len = (size_t)(o - b->data);
    /* an odd delimiter ('.', ';', a letter) can occur in a number's text: quote it then */
    if (memchr(b->data + start, delim, b->len - start)) {
        if (reserve(b, 2)) return RN_ENOMEM;
        memmove(b->data + start + 1, b->data + start, b->len - start);
        b->data[start] = '"';
        b->len++;
        b->data[b->len++] = '"';
    }
    return 0;
}

static bool delim_ok(char delim) { return delim != '"' && delim != '\r' && delim != '\n'; }

int rn_text_encode_row(enum rn_text_format f, char delim, const struct rn_batch *b, uint32_t row,
                       struct rn_text_buf *out)
{
    if (!b || !out || row >= b->n_rows) return RN_EINVAL;
    if (delim == 0) delim = ',';
    size_t undo = out->len;
    int rc = 0;
    if (f == RN_FMT_JSONL) {
        if (reserve(out, 1)) return RN_ENOMEM;
        out->data[out->len++] = '{';
        for (uint32_t i = 0; i < b->n_cols && !rc; i++) {
            const struct rn_column *c = &b->cols[i];
            const char *name = rn_schema_field(b->schema, i)->name;
            if (i) {
                if ((rc = reserve(out, 1)) != 0) break;
                out->data[out->len++] = ',';
            }
            if ((rc = json_put_str(out, name, strlen(name))) != 0 || (rc = reserve(out, 5)) != 0) break;
            out->data[out->len++] = ':';
            if (rn_column_is_null(c, row)) {
                memcpy(out->data + out->len, "null", 4);
                out->len += 4;
            } else {
                rc = json_put_value(out, c, row);
            }
        }
        if (!rc && !(rc = reserve(out, 2))) {
            out->data[out->len++] = '}';
            out->data[out->len++] = '\n';
        }
    } else if (f == RN_FMT_CSV) {
        if (!delim_ok(delim)) return RN_EINVAL;
        for (uint32_t i = 0; i < b->n_cols && !rc; i++) {
            const struct rn_column *c = &b->cols[i];
            if (i) {
                if ((rc = reserve(out, 1)) != 0) break;
                out->data[out->len++] = delim;
            }
            if (!rn_column_is_null(c, row)) rc = csv_put_value(out, c, row, delim);
        }
        if (!rc && !(rc = reserve(out, 1))) out->data[out->len++] = '\n';
    } else {
        return RN_EINVAL;
    }
    if (rc) out->len = undo; /* no half rows */
    return rc;
}

int rn_text_encode_header(enum rn_text_format f, char delim, const rn_schema *s, struct rn_text_buf *out)
{
    if (f == RN_FMT_JSONL) return 0;
    if (f != RN_FMT_CSV || !s || !out) return RN_EINVAL;
    if (delim == 0) delim = ',';
    if (!delim_ok(delim)) return RN_EINVAL;
    size_t undo = out->len;
    int rc = 0;
    for (size_t i = 0; i < rn_schema_len(s) && !rc; i++) {
        const char *name = rn_schema_field(s, i)->name;
        if (i) {
            if ((rc = reserve(out, 1)) != 0) break;
            out->data[out->len++] = delim;
        }
        rc = csv_put_str(out, name, strlen(name), delim);
    }
    if (!rc && !(rc = reserve(out, 1))) out->data[out->len++] = '\n';
    if (rc) out->len = undo;
    return rc;
}
