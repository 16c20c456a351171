/*
 * json.h — JSON for the REST API: a builder that appends to a growable buffer, and a small
 * strict parser (RFC 8259) that returns a read-only tree.
 *
 * Builder. A `struct rn_json_builder` lives where the caller puts it (usually the stack):
 * rn_json_init, then calls that append values; commas, the colon after a key and nesting are
 * the builder's business, so a handler writes
 *     rn_json_obj_begin(&b); rn_json_kstr(&b, "id", id); rn_json_kint(&b, "start_time", t);
 *     rn_json_karr_begin(&b, "vertices"); ... rn_json_arr_end(&b); rn_json_obj_end(&b);
 *     if (rn_json_finish(&b, &text, &len) == 0) reply(text, len);
 *     rn_json_release(&b);
 * Errors are sticky: the append calls return nothing, the first error (RN_ENOMEM, RN_ERANGE
 * past RN_JSON_MAX_DEPTH or the builder's size limit, RN_EINVAL for misuse such as a value
 * without its key inside an object, a key outside one, or a second top-level value) is kept
 * and rn_json_finish reports it (also when the document is not complete). Strings are escaped
 * (quote, backslash, every control character, DEL); bytes that are not valid UTF-8 (overlong
 * forms, surrogates, past U+10FFFF, truncated sequences) become \ufffd, one per bad byte, so the
 * output is always valid JSON whatever the input bytes. Doubles print in the shortest form that
 * reads back to the same value; NaN and infinities print as null. A builder reused with
 * rn_json_reset keeps its buffer (no allocation per document once warm).
 *
 * Parser. rn_json_parse reads exactly one JSON text: RFC 8259's grammar and nothing more (no
 * comments, no trailing commas, no leading zeros, no BOM, no NaN, whitespace only as the RFC
 * says), strings must be valid UTF-8 and escapes may not produce lone surrogates, an object may
 * not repeat a key. Limits: input size (default RN_JSON_MAX_SIZE), nesting depth (default
 * RN_JSON_MAX_DEPTH), a number's length (RN_JSON_MAX_NUMBER characters) and range (a double's).
 * Any input — truncated, binary, hostile — gets either a tree or an error whose rn_error has
 * the 1-based line and column and whose message ends with "(byte N)", the 0-based offset;
 * never a crash, a hang or memory beyond a small multiple of the input's size. The tree lives in
 * the document's arena: every pointer the accessors return is valid until rn_json_doc_free.
 *
 * Accessors take NULL (a missing value) and answer "not there", so lookups chain:
 *     int64_t t;
 *     if (rn_json_as_int(rn_json_get(rn_json_at(rn_json_get(root, "jobs"), 0), "start_time"), &t))
 * Strings are returned NUL-terminated with their length (a JSON string may hold \u0000:
 * rn_json_get_str refuses those, rn_json_as_str gives the length).
 *
 * Assumes the C numeric locale (the process never calls setlocale for LC_NUMERIC).
 */
#ifndef RN_REST_JSON_H
#define RN_REST_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runnel/error.h"

#define RN_JSON_MAX_DEPTH 64                  /* nesting of arrays and objects */
#define RN_JSON_MAX_SIZE (16u << 20)          /* parser input, default limit */
#define RN_JSON_MAX_NUMBER 512                /* characters of one number */
#define RN_JSON_BUILDER_MAX ((size_t)256 << 20)

/* ---- builder ---- */

struct rn_json_builder {
    char *buf;            /* the text so far, NUL-terminated when cap > 0 */
    size_t len, cap;
    size_t max;           /* size limit; rn_json_init sets RN_JSON_BUILDER_MAX */
    int error;            /* first error, 0 while none */
    uint32_t depth;       /* open containers */
    uint64_t has_item;    /* bit d-1: the container at depth d has a member already */
    uint64_t is_object;   /* bit d-1: the container at depth d is an object */
    bool after_key;       /* a key was written; its value comes next */
    bool done;            /* the top-level value is complete */
};

void rn_json_init(struct rn_json_builder *b);
/* Empties the builder for a new document, keeping its buffer. */
void rn_json_reset(struct rn_json_builder *b);
/* Frees the buffer (the builder may be initialized again). */
void rn_json_release(struct rn_json_builder *b);
/* 0 and the text (NUL-terminated, owned by the builder, valid until the next call on it) when
 * the document is complete and no error occurred; else the error code. */
int rn_json_finish(struct rn_json_builder *b, const char **text, size_t *len);
/* Like rn_json_finish, but hands the buffer to the caller (free()); the builder is empty and
 * may be reused. NULL on error (*code_out, when not NULL, says which). */
char *rn_json_take(struct rn_json_builder *b, size_t *len, int *code_out);

void rn_json_obj_begin(struct rn_json_builder *b);
void rn_json_obj_end(struct rn_json_builder *b);
void rn_json_arr_begin(struct rn_json_builder *b);
void rn_json_arr_end(struct rn_json_builder *b);
/* A member's name inside an object; the next value call writes its value. */
void rn_json_key(struct rn_json_builder *b, const char *key);
void rn_json_keyn(struct rn_json_builder *b, const char *key, size_t len);

/* Values. rn_json_str(b, NULL) writes null. */
void rn_json_str(struct rn_json_builder *b, const char *s);
void rn_json_strn(struct rn_json_builder *b, const char *s, size_t len);
void rn_json_strf(struct rn_json_builder *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void rn_json_int(struct rn_json_builder *b, int64_t v);
void rn_json_uint(struct rn_json_builder *b, uint64_t v);
void rn_json_double(struct rn_json_builder *b, double v);    /* non-finite: null */
void rn_json_bool(struct rn_json_builder *b, bool v);
void rn_json_null(struct rn_json_builder *b);
/* A value the caller has as JSON text already (copied as is, not checked). */
void rn_json_raw(struct rn_json_builder *b, const char *json, size_t len);

/* key + value in one call */
void rn_json_kstr(struct rn_json_builder *b, const char *key, const char *s);
void rn_json_kint(struct rn_json_builder *b, const char *key, int64_t v);
void rn_json_kuint(struct rn_json_builder *b, const char *key, uint64_t v);
void rn_json_kdouble(struct rn_json_builder *b, const char *key, double v);
void rn_json_kbool(struct rn_json_builder *b, const char *key, bool v);
void rn_json_knull(struct rn_json_builder *b, const char *key);
void rn_json_kobj_begin(struct rn_json_builder *b, const char *key);
void rn_json_karr_begin(struct rn_json_builder *b, const char *key);

/* Appends s (len bytes) as a JSON string literal, quotes included, to a plain buffer: the
 * builder's escaping for callers that format JSON themselves. The caller frees *buf (realloc'd
 * as needed). 0 or RN_ENOMEM. */
int rn_json_escape_append(char **buf, size_t *len, size_t *cap, const char *s, size_t slen);

/* ---- parser ---- */

enum rn_json_type {
    RN_JSON_NONE = 0,   /* no value: what accessors say of NULL */
    RN_JSON_NULL,
    RN_JSON_BOOL,
    RN_JSON_NUMBER,
    RN_JSON_STRING,
    RN_JSON_ARRAY,
    RN_JSON_OBJECT,
};

typedef struct rn_json_doc rn_json_doc;
typedef struct rn_json rn_json;            /* one value of a parsed document */

struct rn_json_limits {
    size_t max_size;      /* 0: RN_JSON_MAX_SIZE */
    uint32_t max_depth;   /* 0: RN_JSON_MAX_DEPTH */
};

/* Parses text[0 .. len) (need not be NUL-terminated). limits may be NULL (the defaults).
 * 0 and *out (free with rn_json_doc_free), or RN_EINVAL (not JSON; err has the position),
 * RN_ERANGE (a limit; position too), RN_ENOMEM. */
int rn_json_parse(const char *text, size_t len, const struct rn_json_limits *limits, rn_json_doc **out,
                  struct rn_error *err);
void rn_json_doc_free(rn_json_doc *doc);
const rn_json *rn_json_root(const rn_json_doc *doc);

enum rn_json_type rn_json_type_of(const rn_json *v);
const char *rn_json_type_name(enum rn_json_type t);   /* "null", "object", ... "missing" */
bool rn_json_is_null(const rn_json *v);               /* a JSON null (not a missing value) */

/* Number of items (array) or members (object); 0 for anything else. */
size_t rn_json_count(const rn_json *v);
/* Item i of an array; NULL past the end or when v is not an array. */
const rn_json *rn_json_at(const rn_json *v, size_t i);
/* Member i of an object in document order: its value, and its key (NUL-terminated) in *key
 * (and its length in *key_len) when those are not NULL. NULL past the end. */
const rn_json *rn_json_member(const rn_json *v, size_t i, const char **key, size_t *key_len);
/* The value of member key of an object; NULL when v is not an object or has no such member.
 * Objects of more than a few members are looked up by binary search. */
const rn_json *rn_json_get(const rn_json *v, const char *key);

/* The string's bytes, NUL-terminated (length in *len when not NULL); NULL when not a string. */
const char *rn_json_as_str(const rn_json *v, size_t *len);
/* rn_json_as_str(rn_json_get(v, key)) as a C string: NULL when missing, not a string, or
 * holding a NUL byte. */
const char *rn_json_get_str(const rn_json *v, const char *key);
/* Numbers: 0, RN_ENOTFOUND (v is NULL), RN_ETYPE (not a number / bool), RN_ERANGE (not an
 * integer of that range: 1.5, 1e30, -1 as unsigned; 1e3 and 2.0 are integers). */
int rn_json_as_int(const rn_json *v, int64_t *out);
int rn_json_as_uint(const rn_json *v, uint64_t *out);
int rn_json_as_double(const rn_json *v, double *out);
int rn_json_as_bool(const rn_json *v, bool *out);

#endif
