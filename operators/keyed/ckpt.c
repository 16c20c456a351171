/*
 * operators/keyed/ckpt.c — checkpoint helpers of the keyed and windowed operators (ckpt.h):
 * the restored watermark floor and the subtask's key groups. Values in operator-state lists are
 * int64s in host byte order (a checkpoint is restored on the same kind of machine).
 */
#include <string.h>

#include "ckpt.h"

int rn__ckpt_save_i64(struct rn_snapshot_writer *w, const char *list, int64_t v)
{
    return rn_snapshot_append_union(w, list, &v, sizeof v);
}

struct fold {
    int64_t v;
    bool any, max;
};

static int fold_one(const void *val, uint32_t len, void *user)
{
    struct fold *f = user;
    int64_t v;
    if (len != sizeof v) return RN_ECORRUPT;
    memcpy(&v, val, sizeof v);
    if (!f->any || (f->max ? v > f->v : v < f->v)) f->v = v;
    f->any = true;
    return 0;
}

static int load_fold(struct rn_snapshot_reader *r, const char *list, bool max, int64_t *out)
{
    struct fold f = {INT64_MIN, false, max};
    int rc = rn_restore_each(r, list, fold_one, &f);
    if (rc) return rc;
    *out = f.any ? f.v : INT64_MIN;
    return 0;
}

int rn__ckpt_load_max_i64(struct rn_snapshot_reader *r, const char *list, int64_t *out)
{
    return load_fold(r, list, true, out);
}

int rn__ckpt_save_watermark(struct rn_snapshot_writer *w, const struct rn_op_ctx *ctx, const char *list, int64_t floor)
{
    return rn__ckpt_save_i64(w, list, rn__ckpt_watermark(ctx, floor));
}

int rn__ckpt_load_watermark(struct rn_snapshot_reader *r, const char *list, int64_t *floor)
{
    return load_fold(r, list, false, floor);
}

void rn__ckpt_key_groups(const struct rn_op_ctx *ctx, uint32_t *first, uint32_t *last)
{
    uint64_t s = rn_op_subtask(ctx), p = rn_op_parallelism(ctx), maxp = rn_op_max_parallelism(ctx);
    if (!p) p = 1;
    *first = (uint32_t)((s * maxp + p - 1) / p);
    *last = (uint32_t)(((s + 1) * maxp + p - 1) / p) - 1;
}
