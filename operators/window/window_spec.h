/*
 * operators/window/window_spec.h — the `window:` option shared by the window operators
 * (window_aggregate, window_process, top_n, window_join): parsing and checking it at plan time,
 * reading it again at open time, and assigning event or processing times to windows.
 *
 * Job-file syntax (a map option, usually named `window`):
 *     window: {type: tumbling, size: 10s}                   offset: 0s optional
 *     window: {type: sliding, size: 10s, slide: 2s}         offset optional
 *     window: {type: session, gap: 10s}
 *     window: {type: count, size: 100}                      slide: N optional (sliding count)
 *     window: {type: global}
 *   time: event | processing        (default event; count and global windows ignore the clock
 *                                     for assignment, `time: processing` is refused for count)
 *   column: <column>                (event time: a timestamp or int64 ms column; default the
 *                                     input's event-time column, rn_plan_time_column)
 *
 * Windows are half-open [start, end): end = start + size. Flink's assignment:
 *   tumbling: start = ts - floor_mod(ts - offset, size)
 *   sliding:  the last start is ts - floor_mod(ts - offset, slide); then every slide earlier
 *             while start > ts - size (so size/slide windows when slide divides size)
 *   session:  [ts, ts + gap) per record; overlapping or touching sessions of a key merge.
 * A time window fires when the watermark (or processing clock) reaches end - 1.
 */
#ifndef RUNNEL_WINDOW_SPEC_H
#define RUNNEL_WINDOW_SPEC_H

#include <stdbool.h>
#include <stdint.h>

#include "runnel/operator.h"

enum rn_win_type { RN_WIN_TUMBLING, RN_WIN_SLIDING, RN_WIN_SESSION, RN_WIN_COUNT, RN_WIN_GLOBAL };

struct rn_win_spec {
    enum rn_win_type type;
    int64_t size;               /* tumbling/sliding: ms; count: rows; 0 for session and global */
    int64_t slide;              /* sliding: ms; count: rows (== size when not sliding); tumbling: == size */
    int64_t gap;                /* session: ms */
    int64_t offset;             /* tumbling/sliding: ms (0 by default) */
    int64_t pane;               /* tumbling/sliding: gcd(size, slide) in ms (== size for tumbling) */
    bool processing_time;       /* `time: processing` */
    const char *time_column;    /* event time: the column's name (valid for the job's life);
                                 * NULL for processing time, count and global windows */
};

/* Parses the map option `name` of the node against input i's schema. Errors (missing size,
 * slide > size, non-positive durations, count window with processing time, no event-time
 * column: "set window.column or a watermark on the source", unknown keys) are recorded with
 * rn_plan_error at the offending value; returns 0 or RN_EINVAL. */
int rn_win_spec_plan(struct rn_plan_ctx *ctx, const char *name, uint32_t input, struct rn_win_spec *out);
/* The same at open time (the job validated already, so it does not fail on a valid job), plus
 * the index of the time column in input i's schema (-1 when the window uses none). */
int rn_win_spec_open(struct rn_op_ctx *ctx, const char *name, uint32_t input, struct rn_win_spec *out,
                     int *time_col);

/* Floor division and modulo (rounding towards minus infinity), for negative timestamps. */
static inline int64_t rn_win_floor_mod(int64_t a, int64_t b) {
    int64_t r = a % b;
    return r < 0 ? r + b : r;
}

/* Tumbling and sliding windows: the starts of the windows that hold ts, latest first; returns
 * how many there are (at most cap are written). 0 for the other window types. */
uint32_t rn_win_assign(const struct rn_win_spec *s, int64_t ts, int64_t *starts, uint32_t cap);
/* Tumbling and sliding windows: the start of the pane holding ts (panes of `pane` ms aligned to
 * the offset); a window [start, start + size) is exactly the panes start, start + pane, ... */
static inline int64_t rn_win_pane_start(const struct rn_win_spec *s, int64_t ts) {
    return ts - rn_win_floor_mod(ts - s->offset, s->pane);
}
/* Tumbling and sliding windows: the start of the last window (the one that ends last) that
 * holds the pane starting at p; the windows holding it start at that, minus slide, ... while
 * start > p + pane - 1 - size. */
static inline int64_t rn_win_last_start(const struct rn_win_spec *s, int64_t pane_start) {
    return pane_start - rn_win_floor_mod(pane_start - s->offset, s->slide);
}
/* The time at which window [start, end) fires: end - 1 (the max timestamp it holds). */
static inline int64_t rn_win_max_ts(int64_t end) { return end - 1; }
/* Windows whose end would pass INT64_MAX hold ts near the top of the range: the end saturates. */
static inline int64_t rn_win_end(int64_t start, int64_t size) {
    return start > INT64_MAX - size ? INT64_MAX : start + size;
}

/* A short name of the type ("tumbling", ...). */
const char *rn_win_type_name(enum rn_win_type t);

#endif
