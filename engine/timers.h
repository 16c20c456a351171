/*
 * timers.h — the timer service of keyed operators (engine/timers.c), used by the runner.
 */
#ifndef RN_TIMERS_H
#define RN_TIMERS_H

#include "runnel/operator.h"

struct rn_timers;
int rn__timers_create(rn_state_backend *b, struct rn_timers **out, struct rn_error *err);
void rn__timers_destroy(struct rn_timers *t);
/* After a restore: puts the timers found in keyed state (key groups [kg_first, kg_last]) back
 * into the heap and index; *n = how many timers there are then. */
int rn__timers_load(struct rn_timers *t, uint32_t kg_first, uint32_t kg_last, uint64_t *n);
int rn__timers_register(struct rn_timers *t, enum rn_timer_kind kind, const struct rn_state_key *key, int64_t ns,
                        int64_t time);
int rn__timers_delete(struct rn_timers *t, enum rn_timer_kind kind, const struct rn_state_key *key, int64_t ns,
                      int64_t time);
/* The earliest time of a kind (INT64_MAX when none). */
int64_t rn__timers_next(const struct rn_timers *t, enum rn_timer_kind kind);
/* Fires, in time order, every timer of kind with time <= upto (including ones that firing
 * registers), calling fn; stops at fn's first error. */
int rn__timers_fire(struct rn_timers *t, enum rn_timer_kind kind, int64_t upto,
                    int (*fn)(const struct rn_timer *timer, void *user), void *user);

#endif
