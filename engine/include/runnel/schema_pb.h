/*
 * runnel/schema_pb.h — schemas in their stored/sent form (protobuf message runnel.Schema).
 */
#ifndef RUNNEL_SCHEMA_PB_H
#define RUNNEL_SCHEMA_PB_H

#include <stddef.h>
#include <stdint.h>

#include "runnel/types.h"

/* Serialises s; *out (malloc'd, the caller frees) gets *len bytes. 0 or RN_ENOMEM. */
int rn_schema_pack(const rn_schema *s, uint8_t **out, size_t *len);
/* Parses a serialised schema; NULL with err when it does not decode or is invalid. */
rn_schema *rn_schema_unpack(const uint8_t *data, size_t len, struct rn_error *err);

#endif
