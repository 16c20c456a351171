/*
 * yaml.c — loads a YAML document into a configuration value tree with libyaml's event parser,
 * keeping every node's line and column. Anchors and aliases are refused (job files do not need
 * them, and they would make positions ambiguous); plain `null`, `~` and empty scalars are nulls.
 */
#include <string.h>
#include <yaml.h>

#include "value_internal.h"

#define MAX_DEPTH 64

static int syntax_error(yaml_parser_t *p, struct rn_error *err)
{
    const yaml_mark_t *m = p->problem ? &p->problem_mark : &p->context_mark;
    return rn_error_set(err, RN_EINVAL, (int)m->line + 1, (int)m->column + 1, "YAML syntax: %s%s%s",
                        p->problem ? p->problem : "error", p->context ? " " : "", p->context ? p->context : "");
}

static bool next(yaml_parser_t *p, yaml_event_t *ev, struct rn_error *err)
{
    if (yaml_parser_parse(p, ev)) return true;
    syntax_error(p, err);
    return false;
}

static rn_value *node(yaml_parser_t *p, yaml_event_t *ev, int depth, struct rn_error *err);

static rn_value *collection(yaml_parser_t *p, yaml_event_t *start, int depth, struct rn_error *err)
{
    bool is_map = start->type == YAML_MAPPING_START_EVENT;
    rn_value *v = rn__value_new(is_map ? RN_VALUE_MAP : RN_VALUE_LIST, (int)start->start_mark.line + 1,
                                (int)start->start_mark.column + 1);
    if (!v) {
        rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
        return NULL;
    }
    for (;;) {
        yaml_event_t ev;
        if (!next(p, &ev, err)) goto fail;
        if (ev.type == YAML_MAPPING_END_EVENT || ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&ev);
            return v;
        }
        rn_value *key = NULL;
        if (is_map) {
            if (ev.type != YAML_SCALAR_EVENT) {
                rn_error_set(err, RN_EINVAL, (int)ev.start_mark.line + 1, (int)ev.start_mark.column + 1,
                             "a map key must be a plain name, not a map or a list");
                yaml_event_delete(&ev);
                goto fail;
            }
            key = node(p, &ev, depth + 1, err);
            yaml_event_delete(&ev);
            if (!key) goto fail;
            if (key->kind != RN_VALUE_SCALAR || !key->text[0]) {
                rn_error_set(err, RN_EINVAL, key->line, key->col, "a map key must be a name, not empty or null");
                rn__value_free(key);
                goto fail;
            }
            if (!next(p, &ev, err)) {
                rn__value_free(key);
                goto fail;
            }
        }
        rn_value *item = node(p, &ev, depth + 1, err);
        yaml_event_delete(&ev);
        if (!item || rn__value_append(v, key, item)) {
            if (item) rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
            rn__value_free(key);
            rn__value_free(item);
            goto fail;
        }
    }
fail:
    rn__value_free(v);
    return NULL;
}

static rn_value *node(yaml_parser_t *p, yaml_event_t *ev, int depth, struct rn_error *err)
{
    int line = (int)ev->start_mark.line + 1, col = (int)ev->start_mark.column + 1;
    if (depth > MAX_DEPTH) {
        rn_error_set(err, RN_EINVAL, line, col, "nested more than %d levels deep", MAX_DEPTH);
        return NULL;
    }
    switch (ev->type) {
    case YAML_SCALAR_EVENT: {
        const char *text = (const char *)ev->data.scalar.value;
        bool quoted = ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
        if (strlen(text) != ev->data.scalar.length) {
            rn_error_set(err, RN_EINVAL, line, col, "a NUL byte inside a value");
            return NULL;
        }
        if (!quoted && (!*text || !strcmp(text, "~") || !strcmp(text, "null") || !strcmp(text, "Null") ||
                        !strcmp(text, "NULL")))
            return rn__value_new(RN_VALUE_NULL, line, col);
        rn_value *v = rn__value_scalar(text, quoted, line, col);
        if (!v) rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
        return v;
    }
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
        if (ev->data.mapping_start.anchor || ev->data.sequence_start.anchor) {
            rn_error_set(err, RN_EINVAL, line, col, "YAML anchors and aliases are not supported in job files");
            return NULL;
        }
        return collection(p, ev, depth, err);
    case YAML_ALIAS_EVENT:
        rn_error_set(err, RN_EINVAL, line, col, "YAML anchors and aliases are not supported in job files");
        return NULL;
    default:
        rn_error_set(err, RN_EINVAL, line, col, "unexpected YAML event");
        return NULL;
    }
}

rn_value *rn__yaml_load(const char *text, size_t len, struct rn_error *err)
{
    yaml_parser_t p;
    yaml_event_t ev;
    rn_value *root = NULL;
    if (!yaml_parser_initialize(&p)) {
        rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
        return NULL;
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    bool ok = true;
    /* stream start, document start (or stream end for an empty file) */
    while (ok) {
        if (!(ok = next(&p, &ev, err))) break;
        yaml_event_type_t t = ev.type;
        if (t == YAML_STREAM_END_EVENT) {
            yaml_event_delete(&ev);
            rn_error_set(err, RN_EINVAL, 1, 1, "the file is empty");
            ok = false;
            break;
        }
        if (t == YAML_STREAM_START_EVENT || t == YAML_DOCUMENT_START_EVENT) {
            yaml_event_delete(&ev);
            continue;
        }
        root = node(&p, &ev, 0, err);
        yaml_event_delete(&ev);
        ok = root != NULL;
        /* the end of the document: surfaces syntax errors after the root node */
        if (ok && (ok = next(&p, &ev, err))) yaml_event_delete(&ev);
        break;
    }
    yaml_parser_delete(&p);
    if (!ok) {
        rn__value_free(root);
        root = NULL;
    }
    return root;
}
