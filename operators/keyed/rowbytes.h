/*
 * operators/keyed/rowbytes.h — one row of a batch as bytes, for operators that keep whole rows
 * in keyed state (top_n, window_process, the joins).
 *
 * Encoding (one row of a schema): a null bitmap of ceil(columns / 8) bytes (bit set = null),
 * then each non-null value: bool 1 byte, int64/timestamp/double 8 bytes (host order: state
 * never leaves the machine that wrote it except through snapshots of the same build), string a
 * u32 length then the bytes, vector<N> N floats.
 */
#ifndef RN_ROWBYTES_H
#define RN_ROWBYTES_H

#include <stddef.h>
#include <stdint.h>

#include "runnel/batch.h"

/* Bytes of a non-null value of fixed width of type t (strings: 0, they carry their length). */
size_t rn__row_fixed_width(struct rn_type t);
/* Bytes row r of b takes encoded. */
size_t rn__row_size(const struct rn_batch *b, uint32_t r);
/* Encodes row r of b into out (rn__row_size bytes); returns the bytes written. */
size_t rn__row_encode(const struct rn_batch *b, uint32_t r, uint8_t *out);
/* Appends one encoded row of schema s (len bytes at p) to columns first .. first + len(s) - 1
 * of bb; *used gets its size. RN_ECORRUPT when the bytes do not hold a row of s. */
int rn__row_decode(rn_builder *bb, uint32_t first, const rn_schema *s, const uint8_t *p, size_t len, size_t *used);

#endif
