/*
 * value.c — configuration value trees (runnel/value.h): construction (by the YAML loader and
 * for option defaults), lookup and typed reads with positioned errors.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runnel/value.h"
#include "internal.h"
#include "value_internal.h"

enum rn_value_kind rn_value_kind(const rn_value *v) { return v ? v->kind : RN_VALUE_NULL; }
int rn_value_line(const rn_value *v) { return v ? v->line : 0; }
int rn_value_column(const rn_value *v) { return v ? v->col : 0; }
const char *rn_value_text(const rn_value *v) { return v && v->kind == RN_VALUE_SCALAR ? v->text : NULL; }
bool rn_value_quoted(const rn_value *v) { return v && v->quoted; }
size_t rn_value_len(const rn_value *v) { return v && (v->kind == RN_VALUE_MAP || v->kind == RN_VALUE_LIST) ? v->n : 0; }
const rn_value *rn_value_at(const rn_value *v, size_t i) { return i < rn_value_len(v) ? v->items[i] : NULL; }
const char *rn_value_key(const rn_value *v, size_t i)
{
    return v && v->kind == RN_VALUE_MAP && i < v->n ? v->keys[i]->text : NULL;
}
const rn_value *rn__value_key_value(const rn_value *v, size_t i)
{
    return v && v->kind == RN_VALUE_MAP && i < v->n ? v->keys[i] : NULL;
}

const rn_value *rn_value_get(const rn_value *v, const char *key)
{
    if (!v || v->kind != RN_VALUE_MAP) return NULL;
    for (size_t i = v->n; i-- > 0;)
        if (!strcmp(v->keys[i]->text, key)) return v->items[i];
    return NULL;
}

/* ---- construction ---- */

rn_value *rn__value_new(enum rn_value_kind kind, int line, int col)
{
    rn_value *v = calloc(1, sizeof *v);
    if (v) {
        v->kind = kind;
        v->line = line;
        v->col = col;
    }
    return v;
}

rn_value *rn__value_scalar(const char *text, bool quoted, int line, int col)
{
    rn_value *v = rn__value_new(RN_VALUE_SCALAR, line, col);
    if (v && !(v->text = strdup(text))) {
        free(v);
        return NULL;
    }
    if (v) v->quoted = quoted;
    return v;
}

int rn__value_append(rn_value *parent, rn_value *key, rn_value *item)
{
    if (parent->n == parent->cap) {
        size_t cap = parent->cap ? parent->cap * 2 : 4;
        rn_value **items = realloc(parent->items, cap * sizeof *items);
        if (!items) return RN_ENOMEM;
        parent->items = items;
        if (parent->kind == RN_VALUE_MAP) {
            rn_value **keys = realloc(parent->keys, cap * sizeof *keys);
            if (!keys) return RN_ENOMEM;
            parent->keys = keys;
        }
        parent->cap = cap;
    }
    if (parent->kind == RN_VALUE_MAP) parent->keys[parent->n] = key;
    parent->items[parent->n++] = item;
    return 0;
}

void rn__value_free(rn_value *v)
{
    if (!v) return;
    for (size_t i = 0; i < v->n; i++) {
        if (v->keys) rn__value_free(v->keys[i]);
        rn__value_free(v->items[i]);
    }
    free(v->keys);
    free(v->items);
    free(v->text);
    free(v);
}

rn_value *rn__value_copy(const rn_value *v)
{
    if (!v) return NULL;
    rn_value *c = v->kind == RN_VALUE_SCALAR ? rn__value_scalar(v->text, v->quoted, v->line, v->col)
                                             : rn__value_new(v->kind, v->line, v->col);
    if (!c) return NULL;
    for (size_t i = 0; i < v->n; i++) {
        rn_value *k = v->keys ? rn__value_copy(v->keys[i]) : NULL, *it = rn__value_copy(v->items[i]);
        if ((v->keys && !k) || !it || rn__value_append(c, k, it)) {
            rn__value_free(k);
            rn__value_free(it);
            rn__value_free(c);
            return NULL;
        }
    }
    return c;
}

/* ---- typed reads ---- */

static int expected(const rn_value *v, struct rn_error *err, const char *what)
{
    const char *t = rn_value_text(v);
    if (t) return rn_error_set(err, RN_EINVAL, v->line, v->col, "expected %s, found '%s'", what, t);
    static const char *kinds[] = {"nothing", "a value", "a map", "a list"};
    return rn_error_set(err, RN_EINVAL, v ? v->line : 0, v ? v->col : 0, "expected %s, found %s", what,
                        kinds[rn_value_kind(v)]);
}

int rn_value_int(const rn_value *v, int64_t *out, struct rn_error *err)
{
    const char *t = rn_value_text(v), *end;
    if (!t || v->quoted || !rn__parse_i64(t, out, &end) || *end) return expected(v, err, "an integer");
    return 0;
}

int rn_value_double(const rn_value *v, double *out, struct rn_error *err)
{
    const char *t = rn_value_text(v);
    char *end;
    if (!t || v->quoted || !*t) return expected(v, err, "a number");
    errno = 0;
    *out = strtod(t, &end);
    if (*end || errno == ERANGE || isnan(*out)) return expected(v, err, "a number");
    return 0;
}

int rn_value_bool(const rn_value *v, bool *out, struct rn_error *err)
{
    const char *t = rn_value_text(v);
    if (t && !v->quoted) {
        static const char *yes[] = {"true", "yes", "on"}, *no[] = {"false", "no", "off"};
        for (int i = 0; i < 3; i++) {
            if (!strcasecmp(t, yes[i])) return *out = true, 0;
            if (!strcasecmp(t, no[i])) return *out = false, 0;
        }
    }
    return expected(v, err, "true or false");
}

int rn_value_duration(const rn_value *v, int64_t *ms, struct rn_error *err)
{
    const char *t = rn_value_text(v), *end;
    int64_t n;
    if (!t || !rn__parse_i64(t, &n, &end) || n < 0) return expected(v, err, "a duration such as 500ms, 10s, 5m, 1h or 1d");
    static const struct { const char *unit; int64_t ms; } units[] = {
        {"", 1}, {"ms", 1}, {"s", 1000}, {"m", 60000}, {"min", 60000}, {"h", 3600000}, {"d", 86400000},
    };
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (!strcmp(end, units[i].unit)) {
            if (n > INT64_MAX / units[i].ms) return expected(v, err, "a duration that fits in int64 milliseconds");
            *ms = n * units[i].ms;
            return 0;
        }
    return expected(v, err, "a duration such as 500ms, 10s, 5m, 1h or 1d");
}

int rn_value_string(const rn_value *v, const char **out, struct rn_error *err)
{
    const char *t = rn_value_text(v);
    if (!t) return expected(v, err, "a string");
    *out = t;
    return 0;
}

int rn_value_schema(const rn_value *v, rn_schema **out, struct rn_error *err)
{
    *out = NULL;
    if (rn_value_kind(v) != RN_VALUE_MAP || v->n == 0)
        return expected(v, err, "a map of column: type, such as {id: int64, name: string}");
    rn_schema *s = rn_schema_create();
    if (!s) return rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
    for (size_t i = 0; i < v->n; i++) {
        const char *type = rn_value_text(v->items[i]);
        struct rn_type t;
        bool nullable = true;
        size_t len = type ? strlen(type) : 0;
        if (len > 9 && !strcasecmp(type + len - 9, " not null")) {
            nullable = false;
            len -= 9;
        }
        if (!type || rn_type_parse(type, len, &t)) {
            rn_schema_unref(s);
            return expected(v->items[i], err, "a type (bool, int64, double, string, timestamp, vector<N>)");
        }
        if (rn_schema_add(s, v->keys[i]->text, t, nullable)) {
            rn_schema_unref(s);
            return rn_error_set(err, RN_EINVAL, v->keys[i]->line, v->keys[i]->col, "column '%s' is declared twice",
                                v->keys[i]->text);
        }
    }
    *out = s;
    return 0;
}
