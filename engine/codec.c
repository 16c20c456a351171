/*
 * codec.c — the binary encoding of a record batch, for network channels, spill files and
 * checkpoints (layout in runnel/batch.h). The decoder trusts nothing: every length is checked
 * against what is left before it is used, arithmetic is done in 64 bits, string offsets must
 * be monotonic and in range, and the body carries a CRC32C, so truncated or corrupt input gives
 * RN_ECORRUPT with the byte offset, never a crash.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "runnel/batch.h"
#include "runnel/hash.h"

#define MAGIC 0x31424e52u /* "RNB1" little-endian */
#define VERSION 1
#define HEADER 32
#define MAX_COLS 4096
#define MAX_NAME 1024

/* ---- encoding ---- */

struct out { unsigned char *p, *end; };

static void put(struct out *o, const void *src, size_t n)
{
    if (n) memcpy(o->p, src, n);
    o->p += n;
}
static void put_u8(struct out *o, uint8_t v) { *o->p++ = v; }
static void put_u16(struct out *o, uint16_t v) { put(o, &v, 2); }
static void put_u32(struct out *o, uint32_t v) { put(o, &v, 4); }

static size_t column_size(const struct rn_column *c, const char *name, uint32_t n)
{
    size_t size = 10 + strlen(name) + (rn_column_null_count(c, n) ? (size_t)rn_bitmap_words(n) * 8 : 0);
    if (c->type.id == RN_T_STRING) {
        size += ((size_t)n + 1) * 4;
        for (uint32_t i = 0; i < n; i++) size += rn_col_str(c, i).len;
    } else {
        size += rn_type_width(c->type) * n;
    }
    return size;
}

size_t rn_batch_encoded_bound(const struct rn_batch *b)
{
    size_t size = HEADER;
    for (uint32_t c = 0; c < b->n_cols; c++)
        size += column_size(&b->cols[c], rn_schema_field(b->schema, c)->name, b->n_rows);
    return size;
}

int rn_batch_encode(const struct rn_batch *b, void *dst, size_t cap, size_t *written)
{
    return rn_batch_encode_flags(b, dst, cap, 0, written);
}

int rn_batch_encode_flags(const struct rn_batch *b, void *dst, size_t cap, uint32_t flags, size_t *written)
{
    if (flags & ~(uint32_t)RN_BATCH_ENC_NO_CHECKSUM) return RN_EINVAL;
    uint32_t n = b->n_rows;
    size_t need = rn_batch_encoded_bound(b);
    if (need > cap) return RN_ERANGE;
    struct out o = {(unsigned char *)dst + HEADER, (unsigned char *)dst + cap};
    for (uint32_t ci = 0; ci < b->n_cols; ci++) {
        const struct rn_column *c = &b->cols[ci];
        const struct rn_field *f = rn_schema_field(b->schema, ci);
        size_t name_len = strlen(f->name);
        if (name_len > MAX_NAME) return RN_ERANGE;
        bool nulls = rn_column_null_count(c, n) > 0;
        put_u8(&o, (uint8_t)c->type.id);
        put_u8(&o, f->nullable);
        put_u8(&o, nulls);
        put_u8(&o, 0);
        put_u32(&o, c->type.dim);
        put_u16(&o, (uint16_t)name_len);
        put(&o, f->name, name_len);
        if (nulls) put(&o, c->validity, (size_t)rn_bitmap_words(n) * 8);
        switch (c->type.id) {
        case RN_T_BOOL:
            for (uint32_t i = 0; i < n; i++) put_u8(&o, ((const uint8_t *)c->values)[i] != 0);
            break;
        case RN_T_STRING: {
            uint64_t off = 0;
            put_u32(&o, 0);
            for (uint32_t i = 0; i < n; i++) {
                off += rn_col_str(c, i).len;
                if (off > UINT32_MAX) return RN_ERANGE;
                put_u32(&o, (uint32_t)off);
            }
            for (uint32_t i = 0; i < n; i++) {
                struct rn_str s = rn_col_str(c, i);
                put(&o, s.ptr, s.len);
            }
            break;
        }
        default:
            put(&o, c->values, rn_type_width(c->type) * n);
        }
    }
    uint64_t body = (uint64_t)(o.p - ((unsigned char *)dst + HEADER));
    struct out h = {dst, (unsigned char *)dst + HEADER};
    put_u32(&h, MAGIC);
    put_u16(&h, VERSION);
    put_u16(&h, (uint16_t)flags);
    put_u32(&h, n);
    put_u32(&h, b->n_cols);
    put(&h, &body, 8);
    put_u32(&h, flags & RN_BATCH_ENC_NO_CHECKSUM ? 0 : rn_crc32c(0, (unsigned char *)dst + HEADER, body));
    put_u32(&h, 0);
    *written = HEADER + body;
    return 0;
}

/* ---- decoding ---- */

struct in {
    const unsigned char *base, *p, *end;
    struct rn_error *err;
};

static int corrupt(struct in *r, const char *what)
{
    return rn_error_set(r->err, RN_ECORRUPT, 0, 0, "corrupt batch at byte %zu: %s",
                        (size_t)(r->p - r->base), what);
}

static int take(struct in *r, void *dst, size_t n, const char *what)
{
    if ((size_t)(r->end - r->p) < n) return corrupt(r, what);
    if (dst && n) memcpy(dst, r->p, n);
    r->p += n;
    return 0;
}

struct colhdr {
    struct rn_type type;
    bool nullable, nulls;
    const unsigned char *name, *validity, *values, *str_bytes;
    uint16_t name_len;
    uint64_t str_total;
};

/* Reads one column header and checks (and skips) its data; fills h with where it lies. */
static int scan_column(struct in *r, uint32_t n, struct colhdr *h)
{
    uint8_t type = 0, nullable = 0, nulls = 0, pad = 0;
    uint32_t dim = 0;
    if (take(r, &type, 1, "column type") || take(r, &nullable, 1, "column flags") ||
        take(r, &nulls, 1, "column flags") || take(r, &pad, 1, "column flags") ||
        take(r, &dim, 4, "vector dimension") || take(r, &h->name_len, 2, "name length"))
        return RN_ECORRUPT;
    if (type < RN_T_BOOL || type > RN_T_VECTOR) return corrupt(r, "unknown column type");
    if (nullable > 1 || nulls > 1 || pad) return corrupt(r, "bad column flags");
    if (type == RN_T_VECTOR ? (dim == 0 || dim > RN_VECTOR_MAX_DIM) : dim != 0)
        return corrupt(r, "bad vector dimension");
    if (h->name_len == 0 || h->name_len > MAX_NAME) return corrupt(r, "bad name length");
    if (nulls && !nullable) return corrupt(r, "nulls in a column that is not nullable");
    h->type = (struct rn_type){(enum rn_type_id)type, dim};
    h->nullable = nullable;
    h->nulls = nulls;
    h->name = r->p;
    if (take(r, NULL, h->name_len, "column name")) return RN_ECORRUPT;
    if (memchr(h->name, 0, h->name_len)) return corrupt(r, "NUL in column name");
    h->validity = r->p;
    if (nulls && take(r, NULL, (size_t)rn_bitmap_words(n) * 8, "null bitmap")) return RN_ECORRUPT;
    h->values = r->p;
    if (type == RN_T_STRING) {
        uint32_t prev = 0, off;
        for (uint32_t i = 0; i <= n; i++) {
            if (take(r, &off, 4, "string offsets")) return RN_ECORRUPT;
            if ((i == 0 && off != 0) || off < prev) {
                r->p -= 4;
                return corrupt(r, "string offsets not increasing from 0");
            }
            prev = off;
        }
        h->str_total = prev;
        h->str_bytes = r->p;
        if (take(r, NULL, prev, "string bytes")) return RN_ECORRUPT;
    } else {
        uint64_t bytes = (uint64_t)rn_type_width(h->type) * n;
        if (bytes > (uint64_t)(r->end - r->p)) return corrupt(r, "column values truncated");
        if (type == RN_T_BOOL)
            for (uint32_t i = 0; i < n; i++)
                if (r->p[i] > 1) {
                    r->p += i;
                    return corrupt(r, "bool value is not 0 or 1");
                }
        r->p += bytes;
    }
    return 0;
}

static int fill_column(struct rn_column *c, const struct colhdr *h, uint32_t n)
{
    if (h->nulls) {
        if (rn__column_make_validity(c, n ? n : 1)) return RN_ENOMEM;
        memcpy(c->validity, h->validity, (size_t)rn_bitmap_words(n) * 8);
    }
    if (h->type.id != RN_T_STRING) {
        if (n) memcpy(c->values, h->values, rn_type_width(h->type) * n);
        return 0;
    }
    rn_buf *bytes = rn_buf_alloc(h->str_total ? h->str_total : 1);
    if (!bytes) return RN_ENOMEM;
    int rc = rn_column_add_dep(c, bytes);
    rn_buf_unref(bytes);
    if (rc) return rc;
    char *base = rn_buf_data(bytes);
    if (h->str_total) memcpy(base, h->str_bytes, h->str_total);
    struct rn_str *v = c->values;
    uint32_t prev = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t off;
        memcpy(&off, h->values + 4 * (i + 1), 4);
        v[i] = (struct rn_str){base + prev, off - prev};
        prev = off;
    }
    return 0;
}

int rn_batch_decode(const void *src, size_t len, const rn_schema *expect, struct rn_batch **out,
                    size_t *used, struct rn_error *err)
{
    struct in r = {src, src, (const unsigned char *)src + len, err};
    uint32_t magic, n, n_cols, crc, reserved;
    uint16_t version, flags;
    uint64_t body;
    *out = NULL;
    if (take(&r, &magic, 4, "header truncated") || take(&r, &version, 2, "header truncated") ||
        take(&r, &flags, 2, "header truncated") || take(&r, &n, 4, "header truncated") ||
        take(&r, &n_cols, 4, "header truncated") || take(&r, &body, 8, "header truncated") ||
        take(&r, &crc, 4, "header truncated") || take(&r, &reserved, 4, "header truncated"))
        return RN_ECORRUPT;
    r.p = r.base;
    if (magic != MAGIC) return corrupt(&r, "not a runnel batch (bad magic)");
    if (version != VERSION) return corrupt(&r, "unsupported encoding version");
    r.p = r.base + HEADER;
    if ((flags & ~RN_BATCH_ENC_NO_CHECKSUM) || reserved) return corrupt(&r, "unknown header flags");
    if ((flags & RN_BATCH_ENC_NO_CHECKSUM) && crc) return corrupt(&r, "a checksum in a batch flagged as having none");
    if (n > RN_BATCH_MAX_ROWS) return corrupt(&r, "row count out of range");
    if (n_cols > MAX_COLS) return corrupt(&r, "column count out of range");
    if (body > len - HEADER) return corrupt(&r, "body truncated");
    if (!(flags & RN_BATCH_ENC_NO_CHECKSUM) && rn_crc32c(0, r.p, body) != crc) return corrupt(&r, "checksum mismatch");
    r.end = r.p + body;
    if (expect && rn_schema_len(expect) != n_cols) return corrupt(&r, "column count differs from the schema");

    struct colhdr hdr_stack[16], *hdr = n_cols <= 16 ? hdr_stack : malloc(n_cols * sizeof *hdr);
    rn_schema *built = NULL;
    struct rn_batch *b = NULL;
    int rc = RN_ENOMEM;
    if (!hdr) goto done;
    if (!expect && !(built = rn_schema_create())) goto done;
    for (uint32_t c = 0; c < n_cols; c++) {
        if ((rc = scan_column(&r, n, &hdr[c]))) goto done;
        const struct colhdr *h = &hdr[c];
        if (expect) {
            const struct rn_field *f = rn_schema_field(expect, c);
            if (strlen(f->name) != h->name_len || memcmp(f->name, h->name, h->name_len) ||
                !rn_type_eq(f->type, h->type) || (h->nulls && !f->nullable)) {
                rc = corrupt(&r, "column differs from the expected schema");
                goto done;
            }
        } else {
            char name[MAX_NAME + 1];
            memcpy(name, h->name, h->name_len);
            name[h->name_len] = 0;
            if ((rc = rn_schema_add(built, name, h->type, h->nullable))) {
                rc = corrupt(&r, "duplicate column name");
                goto done;
            }
        }
    }
    if (r.p != r.end) {
        rc = corrupt(&r, "trailing bytes in body");
        goto done;
    }
    b = rn__batch_alloc(expect ? expect : built, n ? n : 1, false);
    rc = RN_ENOMEM;
    if (!b) goto done;
    b->n_rows = n;
    for (uint32_t c = 0; c < n_cols; c++)
        if ((rc = fill_column(&b->cols[c], &hdr[c], n))) goto done;
    if (used) *used = HEADER + body;
    *out = b;
    b = NULL;
    rc = 0;
done:
    if (rc == RN_ENOMEM) rn_error_set(err, rc, 0, 0, "out of memory decoding a batch");
    rn_batch_unref(b);
    rn_schema_unref(built);
    if (hdr != hdr_stack) free(hdr);
    return rc;
}
