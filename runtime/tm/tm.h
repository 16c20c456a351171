/*
 * tm.h — the task manager: registers its slots with the job manager over the control RPC,
 * heartbeats, runs the tasks of the job attempts it is given (a runner with a placement:
 * engine/include/runnel/runner.h), serves its data port for their network channels
 * (runtime/net/net.h), reports their state and counters, and reconnects when the job manager
 * goes away (its attempts keep running; a job manager that does not know them cancels them).
 *
 * Everything but the runners' task threads runs on the RPC loop's thread (runtime/rpc/rpc.h).
 */
#ifndef RN_TM_H
#define RN_TM_H

#include <stdint.h>

#include "runnel/error.h"
#include "runnel/job.h"

typedef struct rn_tm rn_tm;

struct rn_tm_config {
    const char *jm_host;          /* the job manager's RPC address */
    uint16_t jm_port;
    uint32_t slots;
    const char *data_bind;        /* the data port's address (NULL: 127.0.0.1) */
    uint16_t data_port;           /* 0: any */
    const char *data_host;        /* what peers connect to (NULL: data_bind) */
    uint32_t heartbeat_ms;        /* until the job manager says otherwise */
    const char *name;             /* for logs ("tm-1"); NULL: derived from the data port */
    const rn_registry *registry;  /* operators the job files may name (built-ins and plugins) */
};

/* Starts the task manager: its data port, its loop, the connection to the job manager
 * (retried every second until it answers). NULL with err on failure. */
rn_tm *rn_tm_create(const struct rn_tm_config *cfg, struct rn_error *err);
uint16_t rn_tm_data_port(const rn_tm *tm);
/* Cancels the attempts it runs, waits for them, closes everything. */
void rn_tm_destroy(rn_tm *tm);

/* The attempt's channel `index` as a 64-bit network channel id, the same in every process. */
uint64_t rn_tm_channel_id(const char *job_id, uint32_t attempt, uint32_t index);

#endif
