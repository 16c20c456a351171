/*
 * runnel/types.h — the value types and schemas of the data model.
 *
 * Types: bool, int64, double, string (UTF-8 bytes), timestamp (int64 milliseconds since the
 * epoch) and vector<N> (N float32). Every field may be null. A schema is an ordered list of
 * named, typed fields; it is immutable once built and reference counted, so batches and compiled
 * expressions can share one without copying. Field names are unique (case-sensitive).
 */
#ifndef RUNNEL_TYPES_H
#define RUNNEL_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runnel/error.h"

#ifdef __cplusplus
extern "C" {
#endif

enum rn_type_id {
    RN_T_NULL = 0,   /* only the type of the literal NULL in expressions; never a column type */
    RN_T_BOOL,       /* stored as one byte per row, 0 or 1 */
    RN_T_INT64,      /* int64_t */
    RN_T_DOUBLE,     /* double */
    RN_T_STRING,     /* struct rn_str views (pointer + length) into reference-counted buffers */
    RN_T_TIMESTAMP,  /* int64_t milliseconds since 1970-01-01T00:00:00Z */
    RN_T_VECTOR,     /* dim float32 values per row, contiguous */
};

#define RN_VECTOR_MAX_DIM 65536u

struct rn_type {
    enum rn_type_id id;
    uint32_t dim;    /* number of float32 per row for RN_T_VECTOR, 0 otherwise */
};

static inline struct rn_type rn_type_of(enum rn_type_id id) { return (struct rn_type){id, 0}; }
static inline struct rn_type rn_type_vector(uint32_t dim) { return (struct rn_type){RN_T_VECTOR, dim}; }
static inline bool rn_type_eq(struct rn_type a, struct rn_type b) { return a.id == b.id && a.dim == b.dim; }

/* Bytes per row of the values array of a column of this type (strings: sizeof(struct rn_str)). */
size_t rn_type_width(struct rn_type t);

/* Writes the type's name ("int64", "vector<16>") into buf; returns buf. */
const char *rn_type_name(struct rn_type t, char *buf, size_t len);

/* Parses a type name as written in job files and CAST: bool|boolean, int|int64|bigint|integer|long,
 * double|float|float64, string|varchar|text, timestamp, vector<N>. Case-insensitive.
 * Returns 0, or RN_EINVAL when the name is not a type. */
int rn_type_parse(const char *s, size_t len, struct rn_type *out);

/* One string value: a view of len bytes at ptr. The bytes are owned by a buffer that the column
 * holding the view keeps alive; they are not NUL-terminated. */
struct rn_str {
    const char *ptr;
    uint32_t len;
};

/* Text forms of values, shared by the expression casts, printing and the file formats. */
/* Parses a timestamp: all digits (optionally signed) as milliseconds, or ISO-8601
 * YYYY-MM-DD(T| )hh:mm[:ss[.fff]][Z|+hh:mm|-hh:mm] (no offset = UTC). 0, or RN_EINVAL. */
int rn_timestamp_parse(const char *s, size_t len, int64_t *out);
/* Writes "2026-11-22T13:38:00.000Z" (UTC) into buf (>= 40 bytes); returns buf. */
const char *rn_timestamp_format(int64_t ms, char *buf);
/* Writes the shortest decimal text that reads back as the same double ("1.5", "1e+20", "nan",
 * "inf", "-inf") into buf (>= 32 bytes); returns buf. */
const char *rn_double_format(double v, char *buf);

struct rn_field {
    const char *name;   /* NUL-terminated, owned by the schema */
    struct rn_type type;
    bool nullable;
};

typedef struct rn_schema rn_schema;

/* Creates an empty, mutable schema with one reference. Returns NULL when out of memory. */
rn_schema *rn_schema_create(void);

/* Appends a field (the name is copied). Fails with RN_EINVAL for an empty or duplicate name or
 * a vector of dimension 0 or above RN_VECTOR_MAX_DIM, and on a schema that is already shared
 * (more than one reference): schemas are immutable once handed out. */
int rn_schema_add(rn_schema *s, const char *name, struct rn_type type, bool nullable);

/* Takes another reference; returns s. */
rn_schema *rn_schema_ref(const rn_schema *s);
/* Drops a reference; frees the schema when it was the last. NULL is ignored. */
void rn_schema_unref(const rn_schema *s);

size_t rn_schema_len(const rn_schema *s);
/* The i-th field; i must be < rn_schema_len(s). The pointer lives as long as the schema. */
const struct rn_field *rn_schema_field(const rn_schema *s, size_t i);
/* Index of the field with this name, or -1. Hashed: O(1). */
int rn_schema_find(const rn_schema *s, const char *name);
/* Same, for a name that is not NUL-terminated. */
int rn_schema_findn(const rn_schema *s, const char *name, size_t len);
/* True when both have the same field names, types and nullability, in order. */
bool rn_schema_equal(const rn_schema *a, const rn_schema *b);
/* Writes "name type[ not null], ..." into buf (truncated to len); returns buf. */
const char *rn_schema_describe(const rn_schema *s, char *buf, size_t len);

/* Parses a compact schema description "name:type, name:type not null, ..." (the form the CLI and
 * tests use). Returns a new schema with one reference, or NULL with err filled. */
rn_schema *rn_schema_parse(const char *text, struct rn_error *err);

#ifdef __cplusplus
}
#endif
#endif
