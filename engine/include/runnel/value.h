/*
 * runnel/value.h — configuration values as written in job files: scalars, maps and lists, each
 * remembering the file, line and column it came from, so that any error about a value can
 * point at it. Operators read their `with:` options through this API (runnel/operator.h).
 *
 * Values are immutable and owned by the job they belong to; pointers stay valid as long as it.
 */
#ifndef RUNNEL_VALUE_H
#define RUNNEL_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runnel/error.h"
#include "runnel/types.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rn_value rn_value;

enum rn_value_kind { RN_VALUE_NULL, RN_VALUE_SCALAR, RN_VALUE_MAP, RN_VALUE_LIST };

enum rn_value_kind rn_value_kind(const rn_value *v);
/* Where the value starts in its file: 1-based line and column (0 when made in code). */
int rn_value_line(const rn_value *v);
int rn_value_column(const rn_value *v);
/* Scalars: the text (NUL-terminated) and whether it was quoted in the file (a quoted scalar is
 * always a string, never a number or a bool). NULL for a non-scalar. */
const char *rn_value_text(const rn_value *v);
bool rn_value_quoted(const rn_value *v);
/* Maps and lists: the number of entries, the i-th value, and (maps) the i-th key. */
size_t rn_value_len(const rn_value *v);
const rn_value *rn_value_at(const rn_value *v, size_t i);
const char *rn_value_key(const rn_value *v, size_t i);
/* A map's entry value for key (the last one when repeated), or NULL. */
const rn_value *rn_value_get(const rn_value *v, const char *key);

/* Typed reads of a scalar. 0, or RN_EINVAL with err (position = the value) saying what was
 * expected. Integers: decimal, optional sign, `_` separators allowed (1_000_000). Bools:
 * true/false/yes/no/on/off. Durations: an integer with a unit ms, s, m, h or d ("500ms", "10s");
 * a bare integer is milliseconds. */
int rn_value_int(const rn_value *v, int64_t *out, struct rn_error *err);
int rn_value_double(const rn_value *v, double *out, struct rn_error *err);
int rn_value_bool(const rn_value *v, bool *out, struct rn_error *err);
int rn_value_duration(const rn_value *v, int64_t *ms, struct rn_error *err);
/* A string: a scalar's text (numbers and bools as written). */
int rn_value_string(const rn_value *v, const char **out, struct rn_error *err);
/* A map of column name to type name ({id: int64, name: string}) as a new schema (one
 * reference for the caller); a type may be followed by " not null". */
int rn_value_schema(const rn_value *v, rn_schema **out, struct rn_error *err);

#ifdef __cplusplus
}
#endif
#endif
