/*
 * jm.h — the job manager: accepts jobs over its REST API, plans each into an execution graph
 * (rn_runner_plan), places its tasks in free task-manager slots, deploys them over the control
 * RPC, follows their state and counters, detects lost task managers (connection closed, or no
 * heartbeat within heartbeat_timeout) and keeps the history of ended jobs.
 *
 * Slots: as in Flink's default slot sharing, one slot holds one subtask of every chain, so a
 * job needs as many slots as its largest parallelism; slot i runs subtask i of each chain.
 * Slots are spread over the task managers with the most free slots first.
 *
 * Everything runs on one thread: the RPC loop's (runtime/rpc/rpc.h), which also drives the
 * REST server (runtime/rest/http.h), so the job table needs no lock.
 */
#ifndef RN_JM_H
#define RN_JM_H

#include <stdint.h>

#include "runnel/error.h"
#include "runnel/job.h"

typedef struct rn_jm rn_jm;

struct rn_jm_config {
    const char *rpc_bind;         /* NULL: 127.0.0.1 */
    uint16_t rpc_port;            /* 0: any */
    const char *rest_bind;        /* NULL: 127.0.0.1 */
    uint16_t rest_port;           /* 0: any */
    const char *rest_token;       /* NULL or "": none */
    size_t rest_max_body;         /* largest request body (a job file); 0: the REST default */
    uint32_t heartbeat_ms;        /* what task managers are told */
    uint32_t heartbeat_timeout_ms;
    uint32_t history;             /* ended jobs kept */
    const char *savepoints_dir;   /* where REST-requested savepoints must stay (NULL: none allowed) */
    const char *checkpoints_dir;  /* restores named over REST must be inside it or savepoints_dir */
    const rn_registry *registry;  /* operators job files may name (to validate them) */
};

rn_jm *rn_jm_create(const struct rn_jm_config *cfg, struct rn_error *err);
uint16_t rn_jm_rpc_port(const rn_jm *jm);
uint16_t rn_jm_rest_port(const rn_jm *jm);
/* Cancels what runs (told to the task managers), closes everything. */
void rn_jm_destroy(rn_jm *jm);

#endif
