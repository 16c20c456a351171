/*
 * types.c — type names and widths, and schemas: immutable, reference-counted lists of named,
 * typed fields with an open-addressing hash index for name lookup.
 */
#include <ctype.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runnel/hash.h"
#include "runnel/types.h"

size_t rn_type_width(struct rn_type t)
{
    switch (t.id) {
    case RN_T_BOOL: return 1;
    case RN_T_INT64:
    case RN_T_TIMESTAMP: return sizeof(int64_t);
    case RN_T_DOUBLE: return sizeof(double);
    case RN_T_STRING: return sizeof(struct rn_str);
    case RN_T_VECTOR: return (size_t)t.dim * sizeof(float);
    default: return 0;
    }
}

const char *rn_type_name(struct rn_type t, char *buf, size_t len)
{
    static const char *names[] = {"null", "bool", "int64", "double", "string", "timestamp"};
    if (t.id == RN_T_VECTOR) snprintf(buf, len, "vector<%u>", t.dim);
    else if ((unsigned)t.id < sizeof names / sizeof names[0]) snprintf(buf, len, "%s", names[t.id]);
    else snprintf(buf, len, "type#%d", (int)t.id);
    return buf;
}

static bool word_eq(const char *s, size_t len, const char *w)
{
    return strlen(w) == len && strncasecmp(s, w, len) == 0;
}

int rn_type_parse(const char *s, size_t len, struct rn_type *out)
{
    static const struct { const char *name; enum rn_type_id id; } words[] = {
        {"bool", RN_T_BOOL}, {"boolean", RN_T_BOOL},
        {"int", RN_T_INT64}, {"int64", RN_T_INT64}, {"bigint", RN_T_INT64},
        {"integer", RN_T_INT64}, {"long", RN_T_INT64},
        {"double", RN_T_DOUBLE}, {"float", RN_T_DOUBLE}, {"float64", RN_T_DOUBLE},
        {"string", RN_T_STRING}, {"varchar", RN_T_STRING}, {"text", RN_T_STRING},
        {"timestamp", RN_T_TIMESTAMP},
    };
    while (len && isspace((unsigned char)*s)) s++, len--;
    while (len && isspace((unsigned char)s[len - 1])) len--;
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (word_eq(s, len, words[i].name)) {
            *out = rn_type_of(words[i].id);
            return 0;
        }
    if (len > 8 && strncasecmp(s, "vector<", 7) == 0 && s[len - 1] == '>') {
        uint64_t dim = 0;
        size_t i = 7;
        for (; i < len - 1 && isdigit((unsigned char)s[i]) && dim <= RN_VECTOR_MAX_DIM; i++)
            dim = dim * 10 + (uint64_t)(s[i] - '0');
        if (i == len - 1 && dim >= 1 && dim <= RN_VECTOR_MAX_DIM) {
            *out = rn_type_vector((uint32_t)dim);
            return 0;
        }
    }
    return RN_EINVAL;
}

/* ---- schemas ---- */

struct rn_schema {
    _Atomic uint32_t refs;
    uint32_t n, cap;
    struct rn_field *fields;
    int32_t *index;       /* open addressing over field names: field number, or -1 */
    uint32_t index_mask;  /* index has index_mask + 1 slots, a power of two >= 2n */
};

rn_schema *rn_schema_create(void)
{
    rn_schema *s = calloc(1, sizeof *s);
    if (s) atomic_init(&s->refs, 1);
    return s;
}

rn_schema *rn_schema_ref(const rn_schema *cs)
{
    rn_schema *s = (rn_schema *)cs;
    atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
    return s;
}

void rn_schema_unref(const rn_schema *cs)
{
    rn_schema *s = (rn_schema *)cs;
    if (!s || atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1) return;
    for (uint32_t i = 0; i < s->n; i++) free((char *)s->fields[i].name);
    free(s->fields);
    free(s->index);
    free(s);
}

size_t rn_schema_len(const rn_schema *s) { return s->n; }
const struct rn_field *rn_schema_field(const rn_schema *s, size_t i) { return &s->fields[i]; }

static int rebuild_index(rn_schema *s)
{
    uint32_t slots = 8;
    while (slots < 2 * s->n) slots *= 2;
    int32_t *idx = malloc(slots * sizeof *idx);
    if (!idx) return RN_ENOMEM;
    for (uint32_t i = 0; i < slots; i++) idx[i] = -1;
    for (uint32_t f = 0; f < s->n; f++) {
        uint32_t h = (uint32_t)rn_hash_bytes(s->fields[f].name, strlen(s->fields[f].name));
        while (idx[h & (slots - 1)] >= 0) h++;
        idx[h & (slots - 1)] = (int32_t)f;
    }
    free(s->index);
    s->index = idx;
    s->index_mask = slots - 1;
    return 0;
}

int rn_schema_findn(const rn_schema *s, const char *name, size_t len)
{
    if (!s->index) return -1;
    uint32_t h = (uint32_t)rn_hash_bytes(name, len);
    for (;; h++) {
        int32_t f = s->index[h & s->index_mask];
        if (f < 0) return -1;
        /* lengths first: name may hold a NUL byte, and must never be read past len */
        const char *fn = s->fields[f].name;
        if (strlen(fn) == len && memcmp(fn, name, len) == 0) return f;
    }
}

int rn_schema_find(const rn_schema *s, const char *name) { return rn_schema_findn(s, name, strlen(name)); }

int rn_schema_add(rn_schema *s, const char *name, struct rn_type type, bool nullable)
{
    if (atomic_load(&s->refs) != 1 || !name || !*name) return RN_EINVAL;
    if (type.id < RN_T_BOOL || type.id > RN_T_VECTOR) return RN_EINVAL;
    if (type.id == RN_T_VECTOR ? (type.dim == 0 || type.dim > RN_VECTOR_MAX_DIM) : type.dim != 0)
        return RN_EINVAL;
    if (rn_schema_find(s, name) >= 0) return RN_EINVAL;
    if (s->n == s->cap) {
        uint32_t cap = s->cap ? s->cap * 2 : 8;
        struct rn_field *f = realloc(s->fields, cap * sizeof *f);
        if (!f) return RN_ENOMEM;
        s->fields = f;
        s->cap = cap;
    }
    char *copy = strdup(name);
    if (!copy) return RN_ENOMEM;
    s->fields[s->n++] = (struct rn_field){copy, type, nullable};
    int rc = rebuild_index(s);
    if (rc) {
        free(copy);
        s->n--;
    }
    return rc;
}

bool rn_schema_equal(const rn_schema *a, const rn_schema *b)
{
    if (a == b) return true;
    if (a->n != b->n) return false;
    for (uint32_t i = 0; i < a->n; i++) {
        const struct rn_field *x = &a->fields[i], *y = &b->fields[i];
        if (strcmp(x->name, y->name) || !rn_type_eq(x->type, y->type) || x->nullable != y->nullable)
            return false;
    }
    return true;
}

const char *rn_schema_describe(const rn_schema *s, char *buf, size_t len)
{
    size_t at = 0;
    if (len) buf[0] = 0;
    for (uint32_t i = 0; i < s->n && at < len; i++) {
        char tn[32];
        int w = snprintf(buf + at, len - at, "%s%s %s%s", i ? ", " : "", s->fields[i].name,
                         rn_type_name(s->fields[i].type, tn, sizeof tn),
                         s->fields[i].nullable ? "" : " not null");
        if (w < 0) break;
        at += (size_t)w;
    }
    return buf;
}

rn_schema *rn_schema_parse(const char *text, struct rn_error *err)
{
    rn_schema *s = rn_schema_create();
    if (!s) {
        rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
        return NULL;
    }
    const char *p = text;
    while (*p) {
        while (isspace((unsigned char)*p)) p++;
        const char *name = p;
        while (*p && *p != ':' && *p != ',' && !isspace((unsigned char)*p)) p++;
        size_t name_len = (size_t)(p - name);
        while (isspace((unsigned char)*p)) p++;
        int col = (int)(name - text) + 1;
        if (name_len == 0 || *p != ':') {
            rn_error_set(err, RN_EINVAL, 1, col, "expected 'name:type' at column %d", col);
            goto fail;
        }
        p++;
        const char *type = p;
        while (*p && *p != ',') p++;
        const char *end = p;
        while (end > type && isspace((unsigned char)end[-1])) end--;
        bool nullable = true;
        if (end - type > 9 && strncasecmp(end - 8, "not null", 8) == 0 &&
            isspace((unsigned char)end[-9])) {
            nullable = false;
            end -= 9;
        }
        struct rn_type t;
        if (rn_type_parse(type, (size_t)(end - type), &t)) {
            rn_error_set(err, RN_EINVAL, 1, (int)(type - text) + 1, "unknown type '%.*s' for field '%.*s'",
                         (int)(end - type), type, (int)name_len, name);
            goto fail;
        }
        char nm[256];
        if (name_len >= sizeof nm) {
            rn_error_set(err, RN_EINVAL, 1, col, "field name too long");
            goto fail;
        }
        memcpy(nm, name, name_len);
        nm[name_len] = 0;
        int rc = rn_schema_add(s, nm, t, nullable);
        if (rc) {
            rn_error_set(err, rc, 1, col, rc == RN_EINVAL ? "duplicate field '%s'" : "cannot add field '%s'", nm);
            goto fail;
        }
        if (*p == ',') p++;
    }
    return s;
fail:
    rn_schema_unref(s);
    return NULL;
}
