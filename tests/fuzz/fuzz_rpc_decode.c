/*
 * fuzz_rpc_decode.c — libFuzzer target for the control RPC's frame decoding (runtime/rpc/rpc.c:
 * rn_rpc_frame_length and rn_rpc_decode): what a job manager or task manager reads from a
 * peer that may send anything.
 *
 * The input is read as a connection reads its stream: length prefix, body, next prefix...,
 * under a small frame limit (64 KiB, so the fuzzer reaches the limit check), stopping at the
 * first refused frame or at a cut-off one; and it is also decoded whole as one frame body.
 * Any input must be refused with RN_ERANGE / RN_ECORRUPT and a message, or accepted; never a
 * crash, a leak or a read outside the input. An accepted Envelope has a message set, encodes
 * again, and what it encodes to decodes and encodes to the same bytes (a job manager that
 * forwards what it got sends something its peer accepts). Seeds: tests/fuzz/corpus/rpc_decode/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/rpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_FRAME (64u << 10)

static void refused(int rc, const struct rn_error *err)
{
    if ((rc != RN_ERANGE && rc != RN_ECORRUPT) || !err->msg[0]) abort();
}

/* Checks an accepted Envelope: a message is set; it re-encodes, and its re-encoding is stable. */
static void check_accepted(const Runnel__Rpc__Envelope *m)
{
    struct rn_error err;
    if (m->msg_case == RUNNEL__RPC__ENVELOPE__MSG__NOT_SET) abort();
    uint8_t *f1, *f2;
    size_t n1, n2;
    if (rn_rpc_encode(m, RN_RPC_MAX_FRAME, &f1, &n1, &err)) abort();
    uint32_t len;
    if (rn_rpc_frame_length(f1, RN_RPC_MAX_FRAME, &len, &err) || len + 4 != n1) abort();
    Runnel__Rpc__Envelope *again;
    if (rn_rpc_decode(f1 + 4, len, RN_RPC_MAX_FRAME, &again, &err)) abort();
    if (again->msg_case != m->msg_case) abort();
    if (rn_rpc_encode(again, RN_RPC_MAX_FRAME, &f2, &n2, &err)) abort();
    if (n1 != n2 || memcmp(f1, f2, n1)) abort();
    free(f2);
    rn_rpc_envelope_free(again);
    free(f1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rn_error err;
    /* As a stream of frames. */
    size_t off = 0;
    while (size - off >= 4) {
        uint32_t len;
        int rc = rn_rpc_frame_length(data + off, FUZZ_MAX_FRAME, &len, &err);
        if (rc) {
            if (rc != RN_ERANGE || !err.msg[0]) abort();
            break;
        }
        if (size - off - 4 < len) break;   /* cut off: a connection waits for the rest */
        Runnel__Rpc__Envelope *m;
        rc = rn_rpc_decode(data + off + 4, len, FUZZ_MAX_FRAME, &m, &err);
        if (rc) {
            if (m) abort();
            refused(rc, &err);
            break;
        }
        check_accepted(m);
        rn_rpc_envelope_free(m);
        off += 4 + (size_t)len;
    }
    /* As one body, under a limit it may exceed. */
    Runnel__Rpc__Envelope *m;
    int rc = rn_rpc_decode(data, size, FUZZ_MAX_FRAME, &m, &err);
    if (rc) {
        if (m) abort();
        refused(rc, &err);
    } else {
        check_accepted(m);
        rn_rpc_envelope_free(m);
    }
    return 0;
}
