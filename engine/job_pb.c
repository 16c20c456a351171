/*
 * job_pb.c — a job to and from the protobuf message runnel.JobGraph. Unpacking rebuilds the
 * value tree a job file would have given and validates it with the same code, so a job that
 * arrives over the wire is checked exactly like one read from a file.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "job_internal.h"
#include "jobgraph.pb-c.h"
#include "runnel/schema_pb.h"
#include "value_internal.h"

/* ---- pack ---- */

static void free_pb_value(Runnel__Value *v)
{
    if (!v) return;
    for (size_t i = 0; i < v->n_keys; i++) free_pb_value(v->keys[i]);
    for (size_t i = 0; i < v->n_items; i++) free_pb_value(v->items[i]);
    free(v->keys);
    free(v->items);
    free(v);
}

static Runnel__Value *to_pb(const rn_value *v)
{
    Runnel__Value *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    runnel__value__init(p);
    p->kind = (Runnel__Value__Kind)rn_value_kind(v);
    p->text = (char *)(rn_value_text(v) ? rn_value_text(v) : "");
    p->quoted = rn_value_quoted(v);
    p->line = (uint32_t)rn_value_line(v);
    p->column = (uint32_t)rn_value_column(v);
    size_t n = rn_value_len(v);
    if (!n) return p;
    p->items = calloc(n, sizeof *p->items);
    if (rn_value_kind(v) == RN_VALUE_MAP) p->keys = calloc(n, sizeof *p->keys);
    if (!p->items || (rn_value_kind(v) == RN_VALUE_MAP && !p->keys)) goto fail;
    for (size_t i = 0; i < n; i++) {
        if (!(p->items[p->n_items++] = to_pb(rn_value_at(v, i)))) goto fail;
        if (p->keys && !(p->keys[p->n_keys++] = to_pb(rn__value_key_value(v, i)))) goto fail;
    }
    return p;
fail:
    free_pb_value(p);
    return NULL;
}

int rn_job_pack(const struct rn_job *job, uint8_t **out, size_t *len)
{
    Runnel__JobGraph g;
    runnel__job_graph__init(&g);
    g.file = job->file;
    g.name = job->name;
    g.parallelism = job->parallelism;
    g.max_parallelism = job->max_parallelism;
    g.n_nodes = job->n_nodes;
    Runnel__Node *nodes = calloc(job->n_nodes, sizeof *nodes);
    Runnel__Node **ptrs = calloc(job->n_nodes, sizeof *ptrs);
    Runnel__Watermark *wms = calloc(job->n_nodes, sizeof *wms);
    char ***inputs = calloc(job->n_nodes, sizeof *inputs);
    int rc = RN_ENOMEM;
    if (!nodes || !ptrs || !wms || !inputs) goto out;
    for (uint32_t i = 0; i < job->n_nodes; i++) {
        const struct rn_job_node *n = &job->nodes[i];
        Runnel__Node *p = &nodes[i];
        runnel__node__init(p);
        ptrs[i] = p;
        p->id = n->id;
        p->type = (char *)n->def->name;
        p->parallelism = n->parallelism;
        p->key_by = n->key_by ? n->key_by : "";
        p->partition = (Runnel__Partition)n->partition;
        p->line = (uint32_t)n->line;
        p->column = (uint32_t)n->column;
        if (!(inputs[i] = calloc(n->n_inputs ? n->n_inputs : 1, sizeof **inputs))) goto out;
        for (uint32_t k = 0; k < n->n_inputs; k++) {
            const struct rn_job_node *in = &job->nodes[n->inputs[k]];
            inputs[i][k] = n->input_ports[k] ? in->side[n->input_ports[k] - 1].id : in->id;
        }
        p->n_inputs = n->n_inputs;
        p->inputs = inputs[i];
        if (!n->key_by && n->input_key_by) {   /* the map form: one expression per input */
            p->n_input_key_by = n->n_inputs;
            p->input_key_by = n->input_key_by;
        }
        if (n->watermark) {
            runnel__watermark__init(&wms[i]);
            wms[i].column = n->watermark->column;
            wms[i].max_out_of_orderness_ms = n->watermark->max_out_of_orderness;
            wms[i].idle_timeout_ms = n->watermark->idle_timeout;
            p->watermark = &wms[i];
        }
        if (!(p->options = to_pb(n->options))) goto out;
    }
    g.nodes = ptrs;
    /* the job-level blocks travel as written: the receiver validates them again */
    const char *const blocks[] = {"checkpoint", "restart", "state"};
    Runnel__Value **block_out[] = {&g.checkpoint, &g.restart, &g.state};
    for (int k = 0; k < 3; k++) {
        const rn_value *b = job->source ? rn_value_get(job->source, blocks[k]) : NULL;
        if (b && !(*block_out[k] = to_pb(b))) goto out;
    }
    *len = runnel__job_graph__get_packed_size(&g);
    if (!(*out = malloc(*len ? *len : 1))) goto out;
    runnel__job_graph__pack(&g, *out);
    rc = 0;
out:
    for (uint32_t i = 0; nodes && i < job->n_nodes; i++) {
        free_pb_value(nodes[i].options);
        if (inputs) free(inputs[i]);
    }
    free_pb_value(g.checkpoint);
    free_pb_value(g.restart);
    free_pb_value(g.state);
    free(nodes);
    free(ptrs);
    free(wms);
    free(inputs);
    return rc;
}

/* ---- unpack ---- */

static rn_value *from_pb(const Runnel__Value *p, int depth)
{
    if (!p || depth > 64 || (unsigned)p->kind > RN_VALUE_LIST) return NULL;
    rn_value *v = p->kind == RUNNEL__VALUE__KIND__SCALAR
                      ? rn__value_scalar(p->text ? p->text : "", p->quoted, (int)p->line, (int)p->column)
                      : rn__value_new((enum rn_value_kind)p->kind, (int)p->line, (int)p->column);
    if (!v) return NULL;
    bool is_map = p->kind == RUNNEL__VALUE__KIND__MAP;
    if ((is_map && p->n_keys != p->n_items) || (!is_map && p->n_keys) ||
        (p->kind != RUNNEL__VALUE__KIND__MAP && p->kind != RUNNEL__VALUE__KIND__LIST && p->n_items))
        goto fail;
    for (size_t i = 0; i < p->n_items; i++) {
        rn_value *k = is_map ? from_pb(p->keys[i], depth + 1) : NULL, *it = from_pb(p->items[i], depth + 1);
        if ((is_map && (!k || k->kind != RN_VALUE_SCALAR)) || !it || rn__value_append(v, k, it)) {
            rn__value_free(k);
            rn__value_free(it);
            goto fail;
        }
    }
    return v;
fail:
    rn__value_free(v);
    return NULL;
}

static int put(rn_value *map, const char *key, rn_value *val)
{
    rn_value *k = rn__value_scalar(key, false, val ? val->line : 0, val ? val->col : 0);
    if (!k || !val || rn__value_append(map, k, val)) {
        rn__value_free(k);
        rn__value_free(val);
        return RN_ENOMEM;
    }
    return 0;
}

static rn_value *scalar_u64(uint64_t x, int line, int col)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%" PRIu64, x);
    return rn__value_scalar(buf, false, line, col);
}

int rn_job_unpack(const uint8_t *data, size_t len, const rn_registry *reg, struct rn_job **out,
                  struct rn_job_errors *errs)
{
    *out = NULL;
    Runnel__JobGraph *g = runnel__job_graph__unpack(NULL, len, data);
    struct validator v = {.file = "job graph", .errs = errs};
    if (!g) {
        rn__job_error(&v, NULL, 0, 0, "the job graph message does not decode");
        return RN_ECORRUPT;
    }
    /* the message is freed before validation: keep a copy of what outlives it */
    char *file = strdup(g->file && *g->file ? g->file : "job graph");
    rn_value *root = rn__value_new(RN_VALUE_MAP, 1, 1), *ops = rn__value_new(RN_VALUE_LIST, 0, 0);
    int rc = root && ops ? 0 : RN_ENOMEM;
    if (!rc) rc = put(root, "name", rn__value_scalar(g->name ? g->name : "", true, 0, 0));
    if (!rc) rc = put(root, "parallelism", scalar_u64(g->parallelism, 0, 0));
    if (!rc) rc = put(root, "max_parallelism", scalar_u64(g->max_parallelism, 0, 0));
    for (size_t i = 0; !rc && i < g->n_nodes; i++) {
        const Runnel__Node *p = g->nodes[i];
        int line = (int)p->line, col = (int)p->column;
        rn_value *n = rn__value_new(RN_VALUE_MAP, line, col), *in = rn__value_new(RN_VALUE_LIST, line, col);
        rc = n && in ? 0 : RN_ENOMEM;
        if (!rc) rc = put(n, "id", rn__value_scalar(p->id ? p->id : "", true, line, col));
        if (!rc) rc = put(n, "type", rn__value_scalar(p->type ? p->type : "", true, line, col));
        if (!rc) rc = put(n, "parallelism", scalar_u64(p->parallelism, line, col));
        for (size_t k = 0; !rc && k < p->n_inputs; k++) {
            rn_value *iv = rn__value_scalar(p->inputs[k] ? p->inputs[k] : "", true, line, col);
            if (!iv || rn__value_append(in, NULL, iv)) rc = RN_ENOMEM, rn__value_free(iv);
        }
        if (!rc && p->n_inputs) rc = put(n, "input", in), in = NULL;
        if (!rc && p->key_by && *p->key_by) rc = put(n, "key_by", rn__value_scalar(p->key_by, true, line, col));
        if (!rc && !(p->key_by && *p->key_by) && p->n_input_key_by) {
            rn_value *km = rn__value_new(RN_VALUE_MAP, line, col);
            rc = km ? 0 : RN_ENOMEM;
            for (size_t k = 0; !rc && k < p->n_input_key_by && k < p->n_inputs; k++) {
                rn_value *e = rn__value_scalar(p->input_key_by[k] ? p->input_key_by[k] : "", true, line, col);
                rc = put(km, p->inputs[k] ? p->inputs[k] : "", e);
            }
            if (!rc) rc = put(n, "key_by", km);
            else rn__value_free(km);
        }
        if (!rc && (p->partition == RUNNEL__PARTITION__PARTITION_REBALANCE || p->partition == RUNNEL__PARTITION__PARTITION_BROADCAST))
            rc = put(n, "partition", rn__value_scalar(p->partition == RUNNEL__PARTITION__PARTITION_REBALANCE ? "rebalance" : "broadcast",
                                                      false, line, col));
        if (!rc && p->watermark) {
            rn_value *w = rn__value_new(RN_VALUE_MAP, line, col);
            char ms[40];
            rc = w ? put(w, "column", rn__value_scalar(p->watermark->column ? p->watermark->column : "", true, line, col)) : RN_ENOMEM;
            snprintf(ms, sizeof ms, "%" PRId64 "ms", p->watermark->max_out_of_orderness_ms);
            if (!rc) rc = put(w, "max_out_of_orderness", rn__value_scalar(ms, false, line, col));
            snprintf(ms, sizeof ms, "%" PRId64 "ms", p->watermark->idle_timeout_ms);
            if (!rc && p->watermark->idle_timeout_ms) rc = put(w, "idle_timeout", rn__value_scalar(ms, false, line, col));
            if (!rc) rc = put(n, "watermark", w);
            else rn__value_free(w);
        }
        if (!rc && p->options) {
            rn_value *o = from_pb(p->options, 0);
            rc = o ? put(n, "with", o) : RN_ECORRUPT;
        }
        rn__value_free(in);
        if (!rc && rn__value_append(ops, NULL, n)) rc = RN_ENOMEM;
        if (rc) rn__value_free(n);
    }
    if (!rc) rc = put(root, "operators", ops), ops = NULL;
    const Runnel__Value *blocks[] = {g->checkpoint, g->restart, g->state};
    const char *const block_names[] = {"checkpoint", "restart", "state"};
    for (int k = 0; k < 3 && !rc; k++) {
        if (!blocks[k]) continue;
        rn_value *b = from_pb(blocks[k], 0);
        rc = b ? put(root, block_names[k], b) : RN_ECORRUPT;
    }
    rn__value_free(ops);
    runnel__job_graph__free_unpacked(g, NULL);
    if (!rc && !file) rc = RN_ENOMEM;
    if (rc) {
        rn__value_free(root);
        free(file);
        return rc;
    }
    rc = rn__job_from_value(file, root, reg, out, errs);
    free(file);
    return rc;
}
