/*
 * operators/keyed/ckpt.h — what the keyed and windowed operators share for checkpoints (ABI 1.2,
 * "checkpoints" in runnel/operator.h): the event time a restored subtask must not fall behind,
 * and the key groups a subtask owns.
 *
 * Why a watermark floor: a subtask restored from checkpoint n starts with no watermark
 * (rn_op_watermark is INT64_MIN until the first one arrives after the restore), while in a run
 * without the failure its watermark right after barrier n was W, the watermark it had when it
 * took the snapshot. The first rows after the restore would then be judged against INT64_MIN:
 * rows late in the failure-free run kept, and timers registered for windows that had fired
 * before the checkpoint (a second, partial firing). So each operator records W in a union
 * operator-state list at snapshot() and, after restore(), judges rows against
 * max(rn_op_watermark, W). Every subtask behind a hash edge has the same W at the barrier (each
 * channel carried every watermark its upstream subtask emitted before the barrier); on a
 * rescale the union gives each new subtask every old one's W and the minimum is taken.
 *
 * Assumes: called from the operator's own callbacks (one thread per subtask).
 */
#ifndef RN_OPS_CKPT_H
#define RN_OPS_CKPT_H

#include <stdint.h>

#include "runnel/operator.h"

/* The event time this subtask stands at: max(rn_op_watermark(ctx), floor). */
static inline int64_t rn__ckpt_watermark(const struct rn_op_ctx *ctx, int64_t floor)
{
    int64_t wm = rn_op_watermark(ctx);
    return wm > floor ? wm : floor;
}

/* snapshot(): records rn__ckpt_watermark(ctx, floor) as one element of union list `list`. */
int rn__ckpt_save_watermark(struct rn_snapshot_writer *w, const struct rn_op_ctx *ctx, const char *list,
                            int64_t floor);
/* restore(): *floor = the smallest watermark in union list `list` (INT64_MIN when it is absent);
 * RN_ECORRUPT for an element that is not one. */
int rn__ckpt_load_watermark(struct rn_snapshot_reader *r, const char *list, int64_t *floor);

/* A union list of one int64 per old subtask: save one, load the largest (INT64_MIN when absent). */
int rn__ckpt_save_i64(struct rn_snapshot_writer *w, const char *list, int64_t v);
int rn__ckpt_load_max_i64(struct rn_snapshot_reader *r, const char *list, int64_t *out);

/* The key groups [*first, *last] this subtask owns (the engine's rule: key group g belongs to
 * subtask g * parallelism / max_parallelism), e.g. for timers under a key of its own. */
void rn__ckpt_key_groups(const struct rn_op_ctx *ctx, uint32_t *first, uint32_t *last);

#endif
