/*
 * fuzz_csv.c — libFuzzer target for the CSV decoder (operators/formats/textfmt.h).
 *
 * The input is split into lines: the first is the header (matched by name to a fixed schema of
 * every type: a:int64, b:double, s:string, t:timestamp, f:bool, v:vector<3>, all nullable;
 * a header that lacks a column must be rejected with RN_EINVAL), the rest are rows. Every row
 * must be accepted, rejected with RN_EINVAL and a message and a position inside the line, or be
 * blank (RN_EEND); a rejected row must leave the builder's row count alone. The finished batch
 * must pass rn_batch_validate, and re-encoding it as CSV (header and rows) and decoding that
 * again must give the same values. Anything else aborts. Seeds: tests/fuzz/corpus/csv/.
 * Build with CC=clang meson setup -Dfuzz=true -Db_sanitize=address.
 */
#include "fuzz_textfmt_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ft_check_input(RN_FMT_CSV, "fuzz_csv", data, size);
    return 0;
}
