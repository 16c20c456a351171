/*
 * test_types.c — Check suite "types": type names and parsing, type widths, and schemas
 * (building, lookup, comparison, description, the compact text form, reference counting).
 *
 * Written against the contract in runnel/types.h; assumes nothing about the implementation.
 * Leak checks rely on running under ASan (meson setup -Db_sanitize=address,undefined).
 */
#include <stdio.h>
#include <string.h>

#include "testutil.h"

#include "runnel/error.h"
#include "runnel/types.h"

/* Parses a NUL-terminated type name; returns the rc. */
static int parse(const char *s, struct rn_type *out)
{
    return rn_type_parse(s, strlen(s), out);
}

static void assert_parses(const char *s, struct rn_type want)
{
    struct rn_type t = {RN_T_NULL, 12345};
    int rc = parse(s, &t);
    ck_assert_msg(rc == 0, "'%s' should parse, got %d", s, rc);
    ck_assert_msg(rn_type_eq(t, want), "'%s' parsed as id %d dim %u, want id %d dim %u", s,
                  (int)t.id, t.dim, (int)want.id, want.dim);
}

static void assert_rejects(const char *s)
{
    struct rn_type t;
    int rc = parse(s, &t);
    ck_assert_msg(rc == RN_EINVAL, "'%s' should be RN_EINVAL, got %d", s, rc);
}

/* ---- type names ---- */

START_TEST(test_type_name_of_each_type)
{
    char buf[64];
    ck_assert_str_eq(rn_type_name(rn_type_of(RN_T_BOOL), buf, sizeof buf), "bool");
    ck_assert_str_eq(rn_type_name(rn_type_of(RN_T_INT64), buf, sizeof buf), "int64");
    ck_assert_str_eq(rn_type_name(rn_type_of(RN_T_DOUBLE), buf, sizeof buf), "double");
    ck_assert_str_eq(rn_type_name(rn_type_of(RN_T_STRING), buf, sizeof buf), "string");
    ck_assert_str_eq(rn_type_name(rn_type_of(RN_T_TIMESTAMP), buf, sizeof buf), "timestamp");
    ck_assert_str_eq(rn_type_name(rn_type_vector(16), buf, sizeof buf), "vector<16>");
    ck_assert_str_eq(rn_type_name(rn_type_vector(1), buf, sizeof buf), "vector<1>");
    ck_assert_str_eq(rn_type_name(rn_type_vector(RN_VECTOR_MAX_DIM), buf, sizeof buf),
                     "vector<65536>");
}
END_TEST

START_TEST(test_type_name_returns_buf)
{
    char buf[32];
    ck_assert_ptr_eq(rn_type_name(rn_type_of(RN_T_INT64), buf, sizeof buf), buf);
}
END_TEST

START_TEST(test_type_name_round_trips_through_parse)
{
    struct rn_type all[] = {rn_type_of(RN_T_BOOL),      rn_type_of(RN_T_INT64),
                            rn_type_of(RN_T_DOUBLE),    rn_type_of(RN_T_STRING),
                            rn_type_of(RN_T_TIMESTAMP), rn_type_vector(1),
                            rn_type_vector(768),        rn_type_vector(RN_VECTOR_MAX_DIM)};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        char buf[64];
        rn_type_name(all[i], buf, sizeof buf);
        assert_parses(buf, all[i]);
    }
}
END_TEST

/* ---- type parsing ---- */

START_TEST(test_type_parse_all_aliases)
{
    assert_parses("bool", rn_type_of(RN_T_BOOL));
    assert_parses("boolean", rn_type_of(RN_T_BOOL));
    assert_parses("int", rn_type_of(RN_T_INT64));
    assert_parses("int64", rn_type_of(RN_T_INT64));
    assert_parses("bigint", rn_type_of(RN_T_INT64));
    assert_parses("integer", rn_type_of(RN_T_INT64));
    assert_parses("long", rn_type_of(RN_T_INT64));
    assert_parses("double", rn_type_of(RN_T_DOUBLE));
    assert_parses("float", rn_type_of(RN_T_DOUBLE));
    assert_parses("float64", rn_type_of(RN_T_DOUBLE));
    assert_parses("string", rn_type_of(RN_T_STRING));
    assert_parses("varchar", rn_type_of(RN_T_STRING));
    assert_parses("text", rn_type_of(RN_T_STRING));
    assert_parses("timestamp", rn_type_of(RN_T_TIMESTAMP));
}
END_TEST

START_TEST(test_type_parse_vector)
{
    assert_parses("vector<4>", rn_type_vector(4));
    assert_parses("vector<1>", rn_type_vector(1));
    assert_parses("vector<768>", rn_type_vector(768));
    assert_parses("vector<65536>", rn_type_vector(RN_VECTOR_MAX_DIM));
}
END_TEST

START_TEST(test_type_parse_is_case_insensitive)
{
    assert_parses("BOOL", rn_type_of(RN_T_BOOL));
    assert_parses("Boolean", rn_type_of(RN_T_BOOL));
    assert_parses("INT64", rn_type_of(RN_T_INT64));
    assert_parses("BigInt", rn_type_of(RN_T_INT64));
    assert_parses("DOUBLE", rn_type_of(RN_T_DOUBLE));
    assert_parses("VarChar", rn_type_of(RN_T_STRING));
    assert_parses("TIMESTAMP", rn_type_of(RN_T_TIMESTAMP));
    assert_parses("VECTOR<8>", rn_type_vector(8));
    assert_parses("Vector<8>", rn_type_vector(8));
}
END_TEST

START_TEST(test_type_parse_honours_len)
{
    /* Only the first len bytes are the name: the rest of the text is not looked at. */
    struct rn_type t;
    ck_assert_int_eq(rn_type_parse("int64, b:string", 5, &t), 0);
    ck_assert(rn_type_eq(t, rn_type_of(RN_T_INT64)));
    ck_assert_int_eq(rn_type_parse("vector<4>>>", 9, &t), 0);
    ck_assert(rn_type_eq(t, rn_type_vector(4)));
    /* A prefix of a name is not the name. */
    ck_assert_int_eq(rn_type_parse("int64", 4, &t), RN_EINVAL); /* "int6" */
    ck_assert_int_eq(rn_type_parse("timestamp", 5, &t), RN_EINVAL); /* "times" */
    ck_assert_int_eq(rn_type_parse("string", 0, &t), RN_EINVAL);
}
END_TEST

START_TEST(test_type_parse_rejects_invalid_names)
{
    assert_rejects("");
    assert_rejects("int32");
    assert_rejects("int6");
    assert_rejects("int644");
    assert_rejects("str");
    assert_rejects("null");
    assert_rejects("bools");
    assert_rejects(" int64x");
    assert_rejects("vector");
    assert_rejects("vector<>");
    assert_rejects("vector<4");
    assert_rejects("vector4>");
    assert_rejects("vector<x>");
    assert_rejects("vector<-1>");
    assert_rejects("vector<4>x");
    assert_rejects("vector<4x>");
}
END_TEST

START_TEST(test_type_parse_rejects_vector_0)
{
    assert_rejects("vector<0>");
}
END_TEST

START_TEST(test_type_parse_rejects_vector_above_max)
{
    assert_rejects("vector<65537>");
    assert_rejects("vector<4294967297>"); /* 2^32 + 1: must not wrap to 1 */
    assert_rejects("vector<99999999999999999999>");
}
END_TEST

/* ---- widths ---- */

START_TEST(test_type_width_of_each_type)
{
    ck_assert_uint_eq(rn_type_width(rn_type_of(RN_T_BOOL)), 1);
    ck_assert_uint_eq(rn_type_width(rn_type_of(RN_T_INT64)), sizeof(int64_t));
    ck_assert_uint_eq(rn_type_width(rn_type_of(RN_T_DOUBLE)), sizeof(double));
    ck_assert_uint_eq(rn_type_width(rn_type_of(RN_T_STRING)), sizeof(struct rn_str));
    ck_assert_uint_eq(rn_type_width(rn_type_of(RN_T_TIMESTAMP)), sizeof(int64_t));
    ck_assert_uint_eq(rn_type_width(rn_type_vector(1)), sizeof(float));
    ck_assert_uint_eq(rn_type_width(rn_type_vector(16)), 16 * sizeof(float));
    ck_assert_uint_eq(rn_type_width(rn_type_vector(RN_VECTOR_MAX_DIM)),
                      (size_t)RN_VECTOR_MAX_DIM * sizeof(float));
}
END_TEST

/* ---- schemas: building and lookup ---- */

START_TEST(test_schema_create_is_empty)
{
    rn_schema *s = rn_schema_create();
    ck_assert_ptr_nonnull(s);
    ck_assert_uint_eq(rn_schema_len(s), 0);
    ck_assert_int_eq(rn_schema_find(s, "a"), -1);
    rn_schema_unref(s);
}
END_TEST

START_TEST(test_schema_add_and_read_fields)
{
    rn_schema *s = rn_schema_create();
    ck_assert_int_eq(rn_schema_add(s, "id", rn_type_of(RN_T_INT64), false), 0);
    ck_assert_int_eq(rn_schema_add(s, "name", rn_type_of(RN_T_STRING), true), 0);
    ck_assert_int_eq(rn_schema_add(s, "emb", rn_type_vector(8), true), 0);
    ck_assert_uint_eq(rn_schema_len(s), 3);

    const struct rn_field *f = rn_schema_field(s, 0);
    ck_assert_str_eq(f->name, "id");
    ck_assert(rn_type_eq(f->type, rn_type_of(RN_T_INT64)));
    ck_assert(!f->nullable);
    f = rn_schema_field(s, 1);
    ck_assert_str_eq(f->name, "name");
    ck_assert(rn_type_eq(f->type, rn_type_of(RN_T_STRING)));
    ck_assert(f->nullable);
    f = rn_schema_field(s, 2);
    ck_assert_str_eq(f->name, "emb");
    ck_assert(rn_type_eq(f->type, rn_type_vector(8)));
    ck_assert(f->nullable);
    rn_schema_unref(s);
}
END_TEST

START_TEST(test_schema_add_copies_name)
{
    char name[16];
    strcpy(name, "price");
    rn_schema *s = rn_schema_create();
    ck_assert_int_eq(rn_schema_add(s, name, rn_type_of(RN_T_DOUBLE), true), 0);
    memset(name, 'X', sizeof name - 1);
    name[sizeof name - 1] = 0;
    ck_assert_str_eq(rn_schema_field(s, 0)->name, "price");
    ck_assert_int_eq(rn_schema_find(s, "price"), 0);
    rn_schema_unref(s);
}
END_TEST

START_TEST(test_schema_find_by_name)
{
    rn_schema *s = tu_schema("a:int64, b:string, c:double, ts:timestamp");
    ck_assert_int_eq(rn_schema_find(s, "a"), 0);
    ck_assert_int_eq(rn_schema_find(s, "b"), 1);
    ck_assert_int_eq(rn_schema_find(s, "c"), 2);
    ck_assert_int_eq(rn_schema_find(s, "ts"), 3);
    ck_assert_int_eq(rn_schema_find(s, "d"), -1);
    ck_assert_int_eq(rn_schema_find(s, ""), -1);
    ck_assert_int_eq(rn_schema_find(s, "t"), -1);
    ck_assert_int_eq(rn_schema_find(s, "tss"), -1);
    rn_schema_unref(s);
}
END_TEST

START_TEST(test_schema_find_is_case_sensitive)
{
    rn_schema *s = rn_schema_create();
    ck_assert_int_eq(rn_schema_add(s, "a", rn_type_of(RN_T_INT64), true), 0);
    ck_assert_int_eq(rn_schema_add(s, "A", rn_type_of(RN_T_STRING), true), 0);
    ck_assert_int_eq(rn_schema_find(s, "a"), 0);
    ck_assert_int_eq(rn_schema_find(s, "A"), 1);
    rn_schema_unref(s);
}
END_TEST

START_TEST(test_schema_findn_takes_unterminated_names)
{
    rn_schema *s = tu_schema("user:string, user_id:int64, us:bool");
    const char *text = "user_id > 3";
    ck_assert_int_eq(rn_schema_findn(s, text, 7), 1);
    ck_assert_int_eq(rn_schema_findn(s, text, 4), 0);
    ck_assert_int_eq(rn_schema_findn(s, text, 2), 2);
    ck_assert_int_eq(rn_schema_findn(s, text, 3), -1);
    ck_assert_int_eq(rn_schema_findn(s, text, 0), -1);
    rn_schema_unref(s);
}
END_TEST

START_TEST(test_schema_findn_with_nul_byte_in_name_does_not_match_prefix)
{
    rn_schema *s = tu_schema("ab:int64");
    /* "ab\0cd": equal to the field up to the NUL, but 5 bytes long: not the field, and the
     * field name must not be read past its end (ASan checks) */
    ck_assert_int_eq(rn_schema_findn(s, "ab\0cd", 5), -1);
    ck_assert_int_eq(rn_schema_findn(s, "ab", 2), 0);
    rn_schema_unref(s);
}
END_TEST

START_TEST(test_schema_find_many_fields)
{
    rn_schema *s = rn_schema_create();
    char name[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(name, sizeof name, "field_%d", i);
        ck_assert_int_eq(rn_schema_add(s, name, rn_type_of(RN_T_INT64), true), 0);
    }
    ck_assert_uint_eq(rn_schema_len(s), 1000);
    for (int i = 0; i < 1000; i++) {
        snprintf(name, sizeof name, "field_%d", i);
        ck_assert_int_eq(rn_schema_find(s, name), i);
        ck_assert_int_eq(rn_schema_findn(s, name, strlen(name)), i);
        ck_assert_str_eq(rn_schema_field(s, i)->name, name);
    }
    ck_assert_int_eq(rn_schema_find(s, "field_1000"), -1);
    rn_schema_unref(s);
}
END_TEST

/* ---- schemas: refused additions ---- */

START_TEST(test_schema_add_refuses_duplicate_name)
{
    rn_schema *s = rn_schema_create();
    ck_assert_int_eq(rn_schema_add(s, "a", rn_type_of(RN_T_INT64), true), 0);
    ck_assert_int_eq(rn_schema_add(s, "a", rn_type_of(RN_T_STRING), true), RN_EINVAL);
    ck_assert_int_eq(rn_schema_add(s, "a", rn_type_of(RN_T_INT64), true), RN_EINVAL);
    ck_assert_uint_eq(rn_schema_len(s), 1);
    ck_assert(rn_type_eq(rn_schema_field(s, 0)->type, rn_type_of(RN_T_INT64)));
    rn_schema_unref(s);
}
END_TEST

START_TEST(test_schema_add_refuses_empty_name)
{
    rn_schema *s = rn_schema_create();
    ck_assert_int_eq(rn_schema_add(s, "", rn_type_of(RN_T_INT64), true), RN_EINVAL);
    ck_assert_uint_eq(rn_schema_len(s), 0);
    rn_schema_unref(s);
}
END_TEST

START_TEST(test_schema_add_refuses_bad_vector_dim)
{
    rn_schema *s = rn_schema_create();
    ck_assert_int_eq(rn_schema_add(s, "v", rn_type_vector(0), true), RN_EINVAL);
    ck_assert_int_eq(rn_schema_add(s, "v", rn_type_vector(RN_VECTOR_MAX_DIM + 1), true),
                     RN_EINVAL);
    ck_assert_uint_eq(rn_schema_len(s), 0);
    ck_assert_int_eq(rn_schema_add(s, "v", rn_type_vector(RN_VECTOR_MAX_DIM), true), 0);
    ck_assert_uint_eq(rn_schema_len(s), 1);
    rn_schema_unref(s);
}
END_TEST

START_TEST(test_schema_add_refuses_shared_schema)
{
    rn_schema *s = rn_schema_create();
    ck_assert_int_eq(rn_schema_add(s, "a", rn_type_of(RN_T_INT64), true), 0);
    rn_schema *other = rn_schema_ref(s);
    ck_assert_int_eq(rn_schema_add(s, "b", rn_type_of(RN_T_INT64), true), RN_EINVAL);
    ck_assert_uint_eq(rn_schema_len(s), 1);
    ck_assert_int_eq(rn_schema_find(s, "b"), -1);
    rn_schema_unref(other);
    rn_schema_unref(s);
}
END_TEST

/* ---- schemas: comparison and description ---- */

START_TEST(test_schema_equal_same_fields)
{
    rn_schema *a = tu_schema("a:int64, b:string not null, v:vector<4>");
    rn_schema *b = tu_schema("a:int64, b:string not null, v:vector<4>");
    ck_assert(rn_schema_equal(a, b));
    ck_assert(rn_schema_equal(b, a));
    ck_assert(rn_schema_equal(a, a));
    rn_schema *e1 = rn_schema_create(), *e2 = rn_schema_create();
    ck_assert(rn_schema_equal(e1, e2));
    rn_schema_unref(e1);
    rn_schema_unref(e2);
    rn_schema_unref(a);
    rn_schema_unref(b);
}
END_TEST

START_TEST(test_schema_equal_detects_differences)
{
    rn_schema *base = tu_schema("a:int64, b:string not null, v:vector<4>");
    const char *others[] = {
        "a:int64, b:string not null",                            /* fewer fields */
        "a:int64, b:string not null, v:vector<4>, c:bool",       /* more fields */
        "x:int64, b:string not null, v:vector<4>",               /* a name */
        "a:double, b:string not null, v:vector<4>",              /* a type */
        "a:timestamp, b:string not null, v:vector<4>",           /* int64 vs timestamp */
        "a:int64, b:string, v:vector<4>",                        /* nullability */
        "a:int64, b:string not null, v:vector<5>",               /* a dimension */
        "b:string not null, a:int64, v:vector<4>",               /* order */
    };
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        rn_schema *o = tu_schema(others[i]);
        ck_assert_msg(!rn_schema_equal(base, o), "equal to '%s'", others[i]);
        ck_assert_msg(!rn_schema_equal(o, base), "equal to '%s' (swapped)", others[i]);
        rn_schema_unref(o);
    }
    rn_schema_unref(base);
}
END_TEST

START_TEST(test_schema_describe_format)
{
    rn_schema *s = rn_schema_create();
    ck_assert_int_eq(rn_schema_add(s, "a", rn_type_of(RN_T_INT64), true), 0);
    ck_assert_int_eq(rn_schema_add(s, "b", rn_type_of(RN_T_STRING), false), 0);
    ck_assert_int_eq(rn_schema_add(s, "v", rn_type_vector(4), true), 0);
    char buf[128];
    ck_assert_ptr_eq(rn_schema_describe(s, buf, sizeof buf), buf);
    ck_assert_str_eq(buf, "a int64, b string not null, v vector<4>");
    rn_schema_unref(s);
}
END_TEST

START_TEST(test_schema_describe_truncates)
{
    rn_schema *s = tu_schema("alpha:int64, beta:string not null");
    char full[128];
    rn_schema_describe(s, full, sizeof full);
    char small[9];
    memset(small, 'Z', sizeof small);
    rn_schema_describe(s, small, sizeof small);
    ck_assert_uint_lt(strlen(small), sizeof small);
    ck_assert_int_eq(strncmp(small, full, strlen(small)), 0);
    rn_schema_unref(s);
}
END_TEST

/* ---- the compact text form ---- */

START_TEST(test_schema_parse_compact_form)
{
    struct rn_error err;
    rn_schema *s = rn_schema_parse("a:int64, b:string not null, v:vector<4>", &err);
    ck_assert_msg(s != NULL, "%s", err.msg);
    ck_assert_uint_eq(rn_schema_len(s), 3);
    const struct rn_field *f = rn_schema_field(s, 0);
    ck_assert_str_eq(f->name, "a");
    ck_assert(rn_type_eq(f->type, rn_type_of(RN_T_INT64)));
    ck_assert(f->nullable);
    f = rn_schema_field(s, 1);
    ck_assert_str_eq(f->name, "b");
    ck_assert(rn_type_eq(f->type, rn_type_of(RN_T_STRING)));
    ck_assert(!f->nullable);
    f = rn_schema_field(s, 2);
    ck_assert_str_eq(f->name, "v");
    ck_assert(rn_type_eq(f->type, rn_type_vector(4)));
    ck_assert(f->nullable);
    rn_schema_unref(s);
}
END_TEST

START_TEST(test_schema_parse_accepts_aliases)
{
    rn_schema *s = tu_schema("a:bigint, b:text, c:boolean, d:float, t:timestamp");
    ck_assert(rn_type_eq(rn_schema_field(s, 0)->type, rn_type_of(RN_T_INT64)));
    ck_assert(rn_type_eq(rn_schema_field(s, 1)->type, rn_type_of(RN_T_STRING)));
    ck_assert(rn_type_eq(rn_schema_field(s, 2)->type, rn_type_of(RN_T_BOOL)));
    ck_assert(rn_type_eq(rn_schema_field(s, 3)->type, rn_type_of(RN_T_DOUBLE)));
    ck_assert(rn_type_eq(rn_schema_field(s, 4)->type, rn_type_of(RN_T_TIMESTAMP)));
    rn_schema_unref(s);
}
END_TEST

START_TEST(test_schema_parse_matches_built_schema)
{
    rn_schema *built = rn_schema_create();
    ck_assert_int_eq(rn_schema_add(built, "a", rn_type_of(RN_T_INT64), true), 0);
    ck_assert_int_eq(rn_schema_add(built, "b", rn_type_of(RN_T_STRING), false), 0);
    ck_assert_int_eq(rn_schema_add(built, "v", rn_type_vector(4), true), 0);
    rn_schema *parsed = tu_schema("a:int64, b:string not null, v:vector<4>");
    ck_assert(rn_schema_equal(built, parsed));
    rn_schema_unref(built);
    rn_schema_unref(parsed);
}
END_TEST

static void assert_parse_fails(const char *text)
{
    struct rn_error err;
    memset(&err, 0, sizeof err);
    rn_schema *s = rn_schema_parse(text, &err);
    ck_assert_msg(s == NULL, "'%s' should not parse", text);
    ck_assert_msg(err.code == RN_EINVAL, "'%s': err.code %d, want RN_EINVAL", text, err.code);
    ck_assert_msg(err.msg[0] != 0, "'%s': empty error message", text);
}

START_TEST(test_schema_parse_rejects_unknown_type)
{
    assert_parse_fails("a:int64, b:int32");
    assert_parse_fails("a:vector<0>");
    assert_parse_fails("a:vector<65537>");
}
END_TEST

START_TEST(test_schema_parse_rejects_missing_colon)
{
    assert_parse_fails("a int64");
    assert_parse_fails("a:int64, b string");
}
END_TEST

START_TEST(test_schema_parse_rejects_duplicate_name)
{
    assert_parse_fails("a:int64, a:string");
}
END_TEST

START_TEST(test_schema_parse_rejects_empty_name)
{
    assert_parse_fails(":int64");
}
END_TEST

/* ---- reference counting ---- */

START_TEST(test_schema_ref_unref_frees)
{
    rn_schema *s = tu_schema("a:int64, b:string");
    rn_schema *r = rn_schema_ref(s);
    ck_assert_ptr_eq(r, s);
    rn_schema_unref(s);
    /* Still alive through the second reference. */
    ck_assert_str_eq(rn_schema_field(r, 1)->name, "b");
    ck_assert_int_eq(rn_schema_find(r, "a"), 0);
    rn_schema_unref(r); /* last: freed; ASan reports a leak otherwise */
}
END_TEST

START_TEST(test_schema_unref_null_is_ignored)
{
    rn_schema_unref(NULL);
}
END_TEST

/* ---- error codes (error.h, used by every module) ---- */

START_TEST(test_strerror_names_every_code)
{
    int codes[] = {RN_OK, RN_ENOMEM, RN_EINVAL, RN_ECORRUPT, RN_ERANGE,
                   RN_EIO, RN_ENOTFOUND, RN_ETYPE, RN_EEND};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        const char *s = rn_strerror(codes[i]);
        ck_assert_ptr_nonnull(s);
        ck_assert_uint_gt(strlen(s), 0);
        for (size_t j = 0; j < i; j++)
            ck_assert_str_ne(s, rn_strerror(codes[j]));
    }
}
END_TEST

START_TEST(test_error_set_fills_and_returns_code)
{
    struct rn_error err;
    ck_assert_int_eq(rn_error_set(&err, RN_EINVAL, 3, 7, "bad %s at %d", "thing", 42), RN_EINVAL);
    ck_assert_int_eq(err.code, RN_EINVAL);
    ck_assert_int_eq(err.line, 3);
    ck_assert_int_eq(err.column, 7);
    ck_assert_str_eq(err.msg, "bad thing at 42");
    ck_assert_int_eq(rn_error_set(NULL, RN_ERANGE, 0, 0, "x"), RN_ERANGE);
    rn_error_clear(&err);
    ck_assert_int_eq(err.code, RN_OK);
    ck_assert_str_eq(err.msg, "");
}
END_TEST

START_TEST(test_error_set_truncates_long_message)
{
    struct rn_error err;
    char big[2000];
    memset(big, 'm', sizeof big - 1);
    big[sizeof big - 1] = 0;
    rn_error_set(&err, RN_EINVAL, 0, 0, "%s", big);
    ck_assert_uint_eq(strlen(err.msg), sizeof err.msg - 1);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("types");

    TCase *tc = tcase_create("type_names");
    tcase_add_test(tc, test_type_name_of_each_type);
    tcase_add_test(tc, test_type_name_returns_buf);
    tcase_add_test(tc, test_type_name_round_trips_through_parse);
    suite_add_tcase(s, tc);

    tc = tcase_create("type_parse");
    tcase_add_test(tc, test_type_parse_all_aliases);
    tcase_add_test(tc, test_type_parse_vector);
    tcase_add_test(tc, test_type_parse_is_case_insensitive);
    tcase_add_test(tc, test_type_parse_honours_len);
    tcase_add_test(tc, test_type_parse_rejects_invalid_names);
    tcase_add_test(tc, test_type_parse_rejects_vector_0);
    tcase_add_test(tc, test_type_parse_rejects_vector_above_max);
    suite_add_tcase(s, tc);

    tc = tcase_create("type_width");
    tcase_add_test(tc, test_type_width_of_each_type);
    suite_add_tcase(s, tc);

    tc = tcase_create("schema_build");
    tcase_add_test(tc, test_schema_create_is_empty);
    tcase_add_test(tc, test_schema_add_and_read_fields);
    tcase_add_test(tc, test_schema_add_copies_name);
    tcase_add_test(tc, test_schema_find_by_name);
    tcase_add_test(tc, test_schema_find_is_case_sensitive);
    tcase_add_test(tc, test_schema_findn_takes_unterminated_names);
    tcase_add_test(tc, test_schema_findn_with_nul_byte_in_name_does_not_match_prefix);
    tcase_add_test(tc, test_schema_find_many_fields);
    suite_add_tcase(s, tc);

    tc = tcase_create("schema_refused");
    tcase_add_test(tc, test_schema_add_refuses_duplicate_name);
    tcase_add_test(tc, test_schema_add_refuses_empty_name);
    tcase_add_test(tc, test_schema_add_refuses_bad_vector_dim);
    tcase_add_test(tc, test_schema_add_refuses_shared_schema);
    suite_add_tcase(s, tc);

    tc = tcase_create("schema_compare");
    tcase_add_test(tc, test_schema_equal_same_fields);
    tcase_add_test(tc, test_schema_equal_detects_differences);
    tcase_add_test(tc, test_schema_describe_format);
    tcase_add_test(tc, test_schema_describe_truncates);
    suite_add_tcase(s, tc);

    tc = tcase_create("schema_parse");
    tcase_add_test(tc, test_schema_parse_compact_form);
    tcase_add_test(tc, test_schema_parse_accepts_aliases);
    tcase_add_test(tc, test_schema_parse_matches_built_schema);
    tcase_add_test(tc, test_schema_parse_rejects_unknown_type);
    tcase_add_test(tc, test_schema_parse_rejects_missing_colon);
    tcase_add_test(tc, test_schema_parse_rejects_duplicate_name);
    tcase_add_test(tc, test_schema_parse_rejects_empty_name);
    suite_add_tcase(s, tc);

    tc = tcase_create("schema_refcount");
    tcase_add_test(tc, test_schema_ref_unref_frees);
    tcase_add_test(tc, test_schema_unref_null_is_ignored);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_add_test(tc, test_strerror_names_every_code);
    tcase_add_test(tc, test_error_set_fills_and_returns_code);
    tcase_add_test(tc, test_error_set_truncates_long_message);
    suite_add_tcase(s, tc);

    return s;
}

TU_MAIN(make_suite)
