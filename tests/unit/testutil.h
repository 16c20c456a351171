/*
 * testutil.h — small helpers shared by the Check suites in tests/unit: building schemas and
 * batches from compact text, and a main() that runs one suite and exits with its verdict.
 */
#ifndef RN_TESTUTIL_H
#define RN_TESTUTIL_H

#include <check.h>

#include "runnel/batch.h"
#include "runnel/expr.h"
#include "runnel/types.h"

/* A schema from "name:type, ..." (rn_schema_parse); fails the test on error. */
rn_schema *tu_schema(const char *text);

/* A batch of schema text from rows given as text: rows separated by ';', values by ','; each
 * value parsed by its column's type (ints, doubles, true/false, strings taken verbatim with
 * surrounding spaces trimmed, timestamps as integer ms); the word NULL is a null. An empty row
 * text gives 0 rows. Vector columns are not supported here. Fails the test on error. */
struct rn_batch *tu_batch(const char *schema, const char *rows);

/* Runs the suite (CK_NORMAL output) and returns EXIT_SUCCESS when every test passed. */
int tu_run(Suite *s);

#define TU_MAIN(make_suite) int main(void) { return tu_run(make_suite()); }

#endif
