/*
 * fuzz_jsonl.c — libFuzzer target for the JSON lines decoder (operators/formats/textfmt.h).
 *
 * The input is split into lines and each is decoded against a fixed schema of every type
 * (a:int64, b:double, s:string, t:timestamp, f:bool, v:vector<3>, all nullable). Every line
 * must be accepted, rejected with RN_EINVAL and a message and a position inside the line, or be
 * blank (RN_EEND); a rejected line must leave the builder's row count alone. The finished batch
 * must pass rn_batch_validate, and re-encoding its rows as JSON lines and decoding them again
 * must give the same values (JSON numbers never decode to non-finite doubles, so nothing is
 * lost to the encoder's null for them). Anything else aborts. Seeds: tests/fuzz/corpus/jsonl/.
 * Build with CC=clang meson setup -Dfuzz=true -Db_sanitize=address.
 */
#include "fuzz_textfmt_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ft_check_input(RN_FMT_JSONL, "fuzz_jsonl", data, size);
    return 0;
}
