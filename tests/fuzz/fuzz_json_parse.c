/*
 * fuzz_json_parse.c — libFuzzer target for the strict JSON parser of runtime/rest/json.c (what
 * the job manager reads from REST request bodies and the CLI from its answers) and the
 * builder's escaping.
 *
 * Any input must be either rejected with a message that gives the error's byte offset (inside
 * the input) or accepted as a tree; never a crash, a leak, a hang or a read past the input
 * (the input is copied to a buffer of exactly its size, so ASan sees any overread). An accepted
 * tree is walked through every accessor, written back with the builder and parsed again, and
 * the two trees must be equal (strings byte for byte, numbers by value, members in order). The
 * input as one string value through the builder must always give valid JSON. Seeds:
 * tests/fuzz/corpus/json_parse/.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rest/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void write_back(struct rn_json_builder *b, const rn_json *v)
{
    size_t n;
    const char *s;
    int64_t i;
    uint64_t u;
    double d;
    bool t;
    switch (rn_json_type_of(v)) {
    case RN_JSON_NULL: rn_json_null(b); break;
    case RN_JSON_BOOL:
        if (rn_json_as_bool(v, &t)) abort();
        rn_json_bool(b, t);
        break;
    case RN_JSON_NUMBER:
        if (!rn_json_as_int(v, &i)) rn_json_int(b, i);
        else if (!rn_json_as_uint(v, &u)) rn_json_uint(b, u);
        else if (!rn_json_as_double(v, &d)) rn_json_double(b, d);
        else abort();
        break;
    case RN_JSON_STRING:
        s = rn_json_as_str(v, &n);
        if (!s || s[n] != 0) abort();
        rn_json_strn(b, s, n);
        break;
    case RN_JSON_ARRAY:
        rn_json_arr_begin(b);
        for (size_t k = 0; k < rn_json_count(v); k++) write_back(b, rn_json_at(v, k));
        if (rn_json_at(v, rn_json_count(v))) abort();
        rn_json_arr_end(b);
        break;
    case RN_JSON_OBJECT:
        rn_json_obj_begin(b);
        for (size_t k = 0; k < rn_json_count(v); k++) {
            const char *key;
            size_t klen;
            const rn_json *m = rn_json_member(v, k, &key, &klen);
            if (!m || key[klen] != 0) abort();
            /* lookups find every member whose key is a C string */
            if (strlen(key) == klen && rn_json_get(v, key) != m) abort();
            rn_json_keyn(b, key, klen);
            write_back(b, m);
        }
        rn_json_obj_end(b);
        break;
    default: abort();
    }
}

static bool same(const rn_json *a, const rn_json *b)
{
    enum rn_json_type t = rn_json_type_of(a);
    if (t != rn_json_type_of(b)) return false;
    size_t na, nb;
    const char *sa, *sb;
    double da, db;
    bool ba, bb;
    switch (t) {
    case RN_JSON_NULL: return true;
    case RN_JSON_BOOL: return !rn_json_as_bool(a, &ba) && !rn_json_as_bool(b, &bb) && ba == bb;
    case RN_JSON_NUMBER: return !rn_json_as_double(a, &da) && !rn_json_as_double(b, &db) && da == db;
    case RN_JSON_STRING:
        sa = rn_json_as_str(a, &na);
        sb = rn_json_as_str(b, &nb);
        return na == nb && !memcmp(sa, sb, na);
    case RN_JSON_ARRAY:
        if (rn_json_count(a) != rn_json_count(b)) return false;
        for (size_t k = 0; k < rn_json_count(a); k++)
            if (!same(rn_json_at(a, k), rn_json_at(b, k))) return false;
        return true;
    case RN_JSON_OBJECT:
        if (rn_json_count(a) != rn_json_count(b)) return false;
        for (size_t k = 0; k < rn_json_count(a); k++) {
            const rn_json *ma = rn_json_member(a, k, &sa, &na), *mb = rn_json_member(b, k, &sb, &nb);
            if (na != nb || memcmp(sa, sb, na) || !same(ma, mb)) return false;
        }
        return true;
    default: return false;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size ? size : 1);
    if (!text) return 0;
    if (size) memcpy(text, data, size);

    rn_json_doc *doc = NULL;
    struct rn_error err;
    int rc = rn_json_parse(text, size, NULL, &doc, &err);
    if (rc) {
        if (doc || !err.msg[0]) abort();
        const char *at = strstr(err.msg, "(byte ");
        if (!at) abort();
        unsigned long long off = strtoull(at + 6, NULL, 10);
        if (off > size) abort();
    } else {
        struct rn_json_builder b;
        rn_json_init(&b);
        write_back(&b, rn_json_root(doc));
        const char *out;
        size_t len;
        if (rn_json_finish(&b, &out, &len)) abort();
        rn_json_doc *again = NULL;
        if (rn_json_parse(out, len, NULL, &again, &err)) abort();
        if (!same(rn_json_root(doc), rn_json_root(again))) abort();
        rn_json_doc_free(again);
        rn_json_release(&b);
        rn_json_doc_free(doc);
    }

    /* a lower depth limit on the same input */
    struct rn_json_limits lim = {.max_depth = 3, .max_size = 1 << 16};
    if (!rn_json_parse(text, size, &lim, &doc, &err)) rn_json_doc_free(doc);

    /* the input as a string value: always valid JSON, decoded to a string again */
    struct rn_json_builder s;
    rn_json_init(&s);
    rn_json_strn(&s, text, size);
    const char *out;
    size_t len;
    if (rn_json_finish(&s, &out, &len)) abort();
    if (rn_json_parse(out, len, NULL, &doc, &err)) abort();
    if (rn_json_type_of(rn_json_root(doc)) != RN_JSON_STRING) abort();
    rn_json_doc_free(doc);
    rn_json_release(&s);
    free(text);
    return 0;
}
