/*
 * fuzz_net_frame.c — libFuzzer target for the data plane's frame parser
 * (rn__net_frame_parse in runtime/net/net.c) and what the receiver does with a frame's
 * payload: the bytes a peer (or anything that connects to a data port) sends.
 *
 * The input is read as a stream of frames, exactly as the I/O thread reads a connection: parse
 * at the current offset; RN_EAGAIN must ask for more than what is left (and never more than a
 * frame can be); RN_ECORRUPT must say why; a parsed frame must lie inside the input, with a
 * payload of the size its type has. BATCH payloads are decoded against a fixed schema (as an
 * input channel does) and must decode or be refused with a message. Never a crash, a leak or a
 * read outside the input.
 */
#include <stdint.h>
#include <stdlib.h>

#include "net/net.h"
#include "runnel/batch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static rn_schema *schema;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!schema) {
        struct rn_error err;
        schema = rn_schema_parse("k:int64, v:double, s:string", &err);
        if (!schema) abort();
    }
    size_t off = 0;
    while (off < size) {
        struct rn__net_frame f;
        struct rn_error err;
        err.msg[0] = 0;
        int rc = rn__net_frame_parse(data + off, size - off, &f, &err);
        if (rc == RN_EAGAIN) {
            if (f.size <= size - off || f.size > 4 + (size_t)RN_NET_MAX_FRAME) abort();
            break;
        }
        if (rc) {
            if (rc != RN_ECORRUPT || !err.msg[0]) abort();
            break;
        }
        if (f.size < RN__NET_HEADER || f.size > size - off) abort();
        if (f.payload != data + off + RN__NET_HEADER || f.payload_len != f.size - RN__NET_HEADER) abort();
        if (f.type < RN__NET_OPEN || f.type > RN__NET_CLOSE) abort();
        if (f.type == RN__NET_BATCH) {
            struct rn_batch *b = NULL;
            size_t used = 0;
            err.msg[0] = 0;
            rc = rn_batch_decode(f.payload, f.payload_len, schema, &b, &used, &err);
            if (rc && !err.msg[0]) abort();
            if (!rc && (!b || used > f.payload_len)) abort();
            rn_batch_unref(b);
        }
        off += f.size;
    }
    return 0;
}
