/*
 * fuzz_batch_decode.c — libFuzzer target for rn_batch_decode, the decoder of bytes that arrive
 * from the network, spill files and checkpoints.
 *
 * Any input must either be rejected (RN_ECORRUPT with a message) or decode to a batch that
 * passes rn_batch_validate; a decoded batch must then survive encode -> decode unchanged (same
 * names, types, nulls and values, bit for bit). Anything else aborts, which libFuzzer reports
 * as a crash. Seeds: tests/fuzz/corpus/batch_decode/. Build with CC=clang meson setup
 * -Dfuzz=true -Db_sanitize=address.
 *
 * The body carries a CRC32C, which random mutations almost never get right, so each input is
 * also tried a second time with its CRC recomputed: that is what lets the fuzzer reach the
 * column decoding. Where the CRC and the body sit is found once at start-up from an encoding
 * of a known batch (the CRC32C of the body is stored somewhere in the header before it), so the
 * target assumes no field widths beyond what batch.h states.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runnel/batch.h"
#include "runnel/error.h"
#include "runnel/hash.h"
#include "runnel/types.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what, const struct rn_error *err)
{
    fprintf(stderr, "fuzz_batch_decode: %s%s%s\n", what, err ? ": " : "", err ? err->msg : "");
    abort();
}

/* Same schema names and types, row count, nulls and values (bitwise; bools as truth values). */
static void check_same(const struct rn_batch *a, const struct rn_batch *b)
{
    if (a->n_rows != b->n_rows || a->n_cols != b->n_cols) fail("re-decoded shape differs", NULL);
    if (rn_schema_len(a->schema) != a->n_cols || rn_schema_len(b->schema) != b->n_cols)
        fail("schema length differs from column count", NULL);
    for (uint32_t c = 0; c < a->n_cols; c++) {
        const struct rn_field *fa = rn_schema_field(a->schema, c), *fb = rn_schema_field(b->schema, c);
        if (strcmp(fa->name, fb->name) != 0) fail("re-decoded name differs", NULL);
        if (!rn_type_eq(fa->type, fb->type)) fail("re-decoded type differs", NULL);
        const struct rn_column *ca = &a->cols[c], *cb = &b->cols[c];
        size_t w = rn_type_width(ca->type);
        for (uint32_t r = 0; r < a->n_rows; r++) {
            bool na = rn_column_is_null(ca, r);
            if (na != rn_column_is_null(cb, r)) fail("re-decoded null differs", NULL);
            if (na) continue;
            if (ca->type.id == RN_T_STRING) {
                struct rn_str sa = rn_col_str(ca, r), sb = rn_col_str(cb, r);
                if (sa.len != sb.len || (sa.len && memcmp(sa.ptr, sb.ptr, sa.len) != 0))
                    fail("re-decoded string differs", NULL);
            } else if (ca->type.id == RN_T_BOOL) {
                if (rn_col_bool(ca, r) != rn_col_bool(cb, r)) fail("re-decoded bool differs", NULL);
            } else if (memcmp((const char *)ca->values + (size_t)r * w,
                              (const char *)cb->values + (size_t)r * w, w) != 0) {
                fail("re-decoded value differs", NULL);
            }
        }
    }
}

static uint32_t load_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Where the CRC (crc_at) and the body it covers (body_at) lie; body_at 0 = not found. */
static size_t crc_at, body_at;

static void calibrate(void)
{
    struct rn_error err;
    rn_schema *s = rn_schema_parse("a:int64, s:string", &err);
    if (!s) fail("calibrate: schema", &err);
    rn_builder *bb = rn_builder_create(s, 0);
    rn_builder_i64(bb, 0, 42);
    rn_builder_str(bb, 1, "calibration", 11);
    struct rn_batch *b = rn_builder_finish(bb, &err);
    if (!b) fail("calibrate: builder", &err);
    size_t bound = rn_batch_encoded_bound(b), len = 0;
    uint8_t *buf = malloc(bound);
    if (!buf || rn_batch_encode(b, buf, bound, &len) != 0) fail("calibrate: encode", NULL);
    for (size_t h = 8; h + 1 < len && h <= 128 && !body_at; h++) {
        uint32_t crc = rn_crc32c(0, buf + h, len - h);
        for (size_t o = 0; o + 4 <= h; o++)
            if (load_u32(buf + o) == crc) {
                body_at = h;
                crc_at = o;
                break;
            }
    }
    free(buf);
    rn_batch_unref(b);
    rn_builder_destroy(bb);
    rn_schema_unref(s);
}

static void check_input(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int calibrated;
    if (!calibrated) {
        calibrate();
        calibrated = 1;
    }
    check_input(data, size);
    if (body_at && size > body_at) {
        uint8_t *fixed = malloc(size);
        if (!fixed) abort();
        memcpy(fixed, data, size);
        uint32_t crc = rn_crc32c(0, fixed + body_at, size - body_at);
        for (int k = 0; k < 4; k++) fixed[crc_at + k] = (uint8_t)(crc >> (8 * k));
        check_input(fixed, size);
        free(fixed);
    }
    return 0;
}

static void check_input(const uint8_t *data, size_t size)
{
    struct rn_batch *b = NULL;
    struct rn_error err;
    size_t used = 0;
    int rc = rn_batch_decode(data, size, NULL, &b, &used, &err);
    if (rc != 0) {
        if (rc != RN_ECORRUPT) fail("decode failed with a code other than RN_ECORRUPT", &err);
        if (err.msg[0] == 0) fail("decode failed without a message", NULL);
        return;
    }
    if (!b) fail("decode succeeded without a batch", NULL);
    if (used == 0 || used > size) fail("decode reported a bad *used", NULL);
    if (rn_batch_validate(b, &err) != 0) fail("decoded batch does not validate", &err);

    size_t bound = rn_batch_encoded_bound(b);
    uint8_t *buf = malloc(bound ? bound : 1);
    if (!buf) abort();
    size_t written = 0;
    if (rn_batch_encode(b, buf, bound, &written) != 0) fail("re-encode failed", NULL);
    if (written > bound) fail("re-encode wrote more than the bound", NULL);

    struct rn_batch *b2 = NULL;
    size_t used2 = 0;
    if (rn_batch_decode(buf, written, NULL, &b2, &used2, &err) != 0) fail("re-decode failed", &err);
    if (used2 != written) fail("re-decode did not consume the whole encoding", NULL);
    if (rn_batch_validate(b2, &err) != 0) fail("re-decoded batch does not validate", &err);
    check_same(b, b2);

    /* Decoding against the decoded schema must accept the same bytes. */
    struct rn_batch *b3 = NULL;
    if (rn_batch_decode(buf, written, b->schema, &b3, NULL, &err) != 0)
        fail("decode with its own schema as expect failed", &err);
    check_same(b, b3);

    rn_batch_unref(b3);
    rn_batch_unref(b2);
    free(buf);
    rn_batch_unref(b);
}
