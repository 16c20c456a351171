/*
 * value_internal.h — the layout of configuration values and their constructors, for the YAML
 * loader and the job validator (not part of the public API).
 */
#ifndef RN_VALUE_INTERNAL_H
#define RN_VALUE_INTERNAL_H

#include "runnel/value.h"

struct rn_value {
    enum rn_value_kind kind;
    int line, col;
    bool quoted;
    char *text;               /* scalars */
    size_t n, cap;
    struct rn_value **keys;   /* maps: scalar key values (with their positions) */
    struct rn_value **items;
};

rn_value *rn__value_new(enum rn_value_kind kind, int line, int col);
rn_value *rn__value_scalar(const char *text, bool quoted, int line, int col);
/* Appends item (and key, for maps) to parent, taking them over. */
int rn__value_append(rn_value *parent, rn_value *key, rn_value *item);
void rn__value_free(rn_value *v);
rn_value *rn__value_copy(const rn_value *v);
/* The key of entry i of a map, as a value (for its position). */
const rn_value *rn__value_key_value(const rn_value *v, size_t i);

/* Reads a YAML document (the first of the file) into a value tree. NULL with err (file
 * position) on a syntax error, an alias, or a non-scalar map key. */
rn_value *rn__yaml_load(const char *text, size_t len, struct rn_error *err);

#endif
