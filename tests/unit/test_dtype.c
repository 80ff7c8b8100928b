/* Tests for dtypes and PyTorch type promotion (src/dtype.c).
 *
 * Expected values come from PyTorch's source, not from our output:
 * - promote_types: the _promoteTypesLookup table in c10/core/ScalarType.cpp
 *   (transcribed below in PyTorch's own axis order), and its float8 rule;
 * - result_type: combine_categories / update_result_type_state in
 *   aten/src/ATen/native/TypeProperties.cpp, worked by hand per case;
 * - promotion kinds: elementwise_dtypes in torch/_prims_common/__init__.py. */
#include <criterion/criterion.h>
#include <stdio.h>

#include "metatrace/dtype.h"

#define T(d) ((mt_operand){MT_OPERAND_TENSOR, (d)})
#define Z(d) ((mt_operand){MT_OPERAND_ZERODIM, (d)})
#define S(d) ((mt_operand){MT_OPERAND_SCALAR, (d)})
#define NOPS(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* ---- the dtype table ------------------------------------------------------ */

Test(dtype, names_sizes_categories)
{
    static const struct {
        mt_dtype d;
        const char *name;
        size_t size;
        mt_dtype_category cat;
    } want[] = {
        {MT_BOOL, "bool", 1, MT_CAT_BOOL},
        {MT_UINT8, "uint8", 1, MT_CAT_INT},
        {MT_INT8, "int8", 1, MT_CAT_INT},
        {MT_INT16, "int16", 2, MT_CAT_INT},
        {MT_INT32, "int32", 4, MT_CAT_INT},
        {MT_INT64, "int64", 8, MT_CAT_INT},
        {MT_FLOAT16, "float16", 2, MT_CAT_FLOAT},
        {MT_BFLOAT16, "bfloat16", 2, MT_CAT_FLOAT},
        {MT_FLOAT32, "float32", 4, MT_CAT_FLOAT},
        {MT_FLOAT64, "float64", 8, MT_CAT_FLOAT},
        {MT_FLOAT8_E4M3FN, "float8_e4m3fn", 1, MT_CAT_FLOAT},
        {MT_FLOAT8_E5M2, "float8_e5m2", 1, MT_CAT_FLOAT},
        {MT_COMPLEX64, "complex64", 8, MT_CAT_COMPLEX},
    };
    cr_assert_eq(NOPS(want), MT_DTYPE_COUNT);
    for (int i = 0; i < NOPS(want); i++) {
        cr_expect_str_eq(mt_dtype_name(want[i].d), want[i].name);
        cr_expect_eq(mt_dtype_size(want[i].d), want[i].size, "size of %s", want[i].name);
        cr_expect_eq(mt_dtype_cat(want[i].d), want[i].cat, "category of %s", want[i].name);
        cr_expect_eq(mt_dtype_is_floating(want[i].d), want[i].cat == MT_CAT_FLOAT, "%s", want[i].name);
        cr_expect_eq(mt_dtype_is_complex(want[i].d), want[i].cat == MT_CAT_COMPLEX, "%s", want[i].name);
        cr_expect_eq(mt_dtype_is_integral(want[i].d, false), want[i].cat == MT_CAT_INT, "%s", want[i].name);
        cr_expect_eq(mt_dtype_is_integral(want[i].d, true),
                     want[i].cat == MT_CAT_INT || want[i].cat == MT_CAT_BOOL, "%s", want[i].name);
    }
}

Test(dtype, invalid_dtype_queries)
{
    cr_expect_str_eq(mt_dtype_name(MT_DTYPE_NONE), "none");
    cr_expect_str_eq(mt_dtype_name(MT_DTYPE_COUNT), "none");
    cr_expect_eq(mt_dtype_size(MT_DTYPE_NONE), 0);
    cr_expect_not(mt_dtype_is_floating(MT_DTYPE_NONE));
    cr_expect_not(mt_dtype_is_integral(MT_DTYPE_NONE, true));
    cr_expect_not(mt_dtype_is_complex(MT_DTYPE_COUNT));
}

/* ---- parsing ---------------------------------------------------------------- */

Test(dtype, parse_names_and_prefix)
{
    for (int d = 0; d < MT_DTYPE_COUNT; d++) {
        char buf[64];
        snprintf(buf, sizeof buf, "torch.%s", mt_dtype_name((mt_dtype)d));
        cr_expect_eq(mt_dtype_parse(mt_dtype_name((mt_dtype)d)), d, "%s", mt_dtype_name((mt_dtype)d));
        cr_expect_eq(mt_dtype_parse(buf), d, "%s", buf);
    }
}

Test(dtype, parse_aliases)
{
    /* torch's second names (c10 getDtypeNames) */
    cr_expect_eq(mt_dtype_parse("float"), MT_FLOAT32);
    cr_expect_eq(mt_dtype_parse("torch.float"), MT_FLOAT32);
    cr_expect_eq(mt_dtype_parse("half"), MT_FLOAT16);
    cr_expect_eq(mt_dtype_parse("torch.half"), MT_FLOAT16);
    cr_expect_eq(mt_dtype_parse("double"), MT_FLOAT64);
    cr_expect_eq(mt_dtype_parse("long"), MT_INT64);
    cr_expect_eq(mt_dtype_parse("torch.long"), MT_INT64);
    cr_expect_eq(mt_dtype_parse("int"), MT_INT32);
    cr_expect_eq(mt_dtype_parse("short"), MT_INT16);
    cr_expect_eq(mt_dtype_parse("cfloat"), MT_COMPLEX64);
    cr_expect_eq(mt_dtype_parse("torch.cfloat"), MT_COMPLEX64);
    /* shorthands */
    cr_expect_eq(mt_dtype_parse("fp16"), MT_FLOAT16);
    cr_expect_eq(mt_dtype_parse("bf16"), MT_BFLOAT16);
    cr_expect_eq(mt_dtype_parse("fp32"), MT_FLOAT32);
    cr_expect_eq(mt_dtype_parse("fp64"), MT_FLOAT64);
}

Test(dtype, parse_unknown)
{
    static const char *bad[] = {
        "", "torch.", "torch", "Float32", "FLOAT16", "float128", "complex128", "complex32",
        "uint16", "float8", "bfloat", " float32", "float32 ", "torch.fp16", "torch.bf16",
        "torch.torch.float32", "cdouble", "chalf", "int4",
    };
    for (int i = 0; i < NOPS(bad); i++)
        cr_expect_eq(mt_dtype_parse(bad[i]), MT_DTYPE_NONE, "'%s' should not parse", bad[i]);
    cr_expect_eq(mt_dtype_parse(NULL), MT_DTYPE_NONE);
}

/* ---- promote_types ------------------------------------------------------- */

/* c10/core/ScalarType.cpp, promoteTypes(): _promoteTypesLookup, transcribed
 * in PyTorch's axis order u1 i1 i2 i4 i8 f2 f4 f8 c2 c4 c8 b1 bf. c2
 * (complex32) and c8 (complex128) are dtypes we lack: their entries read XX
 * (we answer MT_DTYPE_NONE) and their rows are never looked up. */
#define u1 MT_UINT8
#define i1 MT_INT8
#define i2 MT_INT16
#define i4 MT_INT32
#define i8 MT_INT64
#define f2 MT_FLOAT16
#define f4 MT_FLOAT32
#define f8 MT_FLOAT64
#define c4 MT_COMPLEX64
#define b1 MT_BOOL
#define bf MT_BFLOAT16
#define XX MT_DTYPE_NONE
enum { PT_N = 13 };
static const mt_dtype PT_AXIS[PT_N] = {u1, i1, i2, i4, i8, f2, f4, f8, XX, c4, XX, b1, bf};
static const mt_dtype PT_TABLE[PT_N][PT_N] = {
    /*        u1  i1  i2  i4  i8  f2  f4  f8  c2  c4  c8  b1  bf */
    /* u1 */ {u1, i2, i2, i4, i8, f2, f4, f8, XX, c4, XX, u1, bf},
    /* i1 */ {i2, i1, i2, i4, i8, f2, f4, f8, XX, c4, XX, i1, bf},
    /* i2 */ {i2, i2, i2, i4, i8, f2, f4, f8, XX, c4, XX, i2, bf},
    /* i4 */ {i4, i4, i4, i4, i8, f2, f4, f8, XX, c4, XX, i4, bf},
    /* i8 */ {i8, i8, i8, i8, i8, f2, f4, f8, XX, c4, XX, i8, bf},
    /* f2 */ {f2, f2, f2, f2, f2, f2, f4, f8, XX, c4, XX, f2, f4},
    /* f4 */ {f4, f4, f4, f4, f4, f4, f4, f8, c4, c4, XX, f4, f4},
    /* f8 */ {f8, f8, f8, f8, f8, f8, f8, f8, XX, XX, XX, f8, f8},
    /* c2 */ {XX, XX, XX, XX, XX, XX, c4, XX, XX, c4, XX, XX, c4},
    /* c4 */ {c4, c4, c4, c4, c4, c4, c4, XX, c4, c4, XX, c4, c4},
    /* c8 */ {XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX},
    /* b1 */ {u1, i1, i2, i4, i8, f2, f4, f8, XX, c4, XX, b1, bf},
    /* bf */ {bf, bf, bf, bf, bf, f4, f4, f8, c4, c4, XX, bf, bf},
};
#undef u1
#undef i1
#undef i2
#undef i4
#undef i8
#undef f2
#undef f4
#undef f8
#undef c4
#undef b1
#undef bf
#undef XX

static int pt_index(mt_dtype d)
{
    for (int i = 0; i < PT_N; i++)
        if (PT_AXIS[i] == d) return i;
    return -1;
}

static bool is_f8(mt_dtype d) { return d == MT_FLOAT8_E4M3FN || d == MT_FLOAT8_E5M2; }

/* What torch.promote_types answers for our dtypes (NONE where it raises or
 * where the answer is a dtype we lack). */
static mt_dtype expected_promote(mt_dtype a, mt_dtype b)
{
    if (a == b) return a; /* promoteTypes: equal types return early */
    if (is_f8(a) || is_f8(b)) return MT_DTYPE_NONE; /* "Promotion for Float8 Types is not supported" */
    int ia = pt_index(a), ib = pt_index(b);
    cr_assert(ia >= 0 && ib >= 0, "dtype %d missing from the PyTorch axis", ia < 0 ? (int)a : (int)b);
    return PT_TABLE[ia][ib];
}

Test(promote_types, full_table)
{
    int checked = 0;
    for (int a = 0; a < MT_DTYPE_COUNT; a++)
        for (int b = 0; b < MT_DTYPE_COUNT; b++) {
            mt_dtype want = expected_promote((mt_dtype)a, (mt_dtype)b);
            mt_dtype got = mt_promote_types((mt_dtype)a, (mt_dtype)b);
            cr_expect_eq(got, want, "promote_types(%s, %s): got %s, want %s", mt_dtype_name((mt_dtype)a),
                         mt_dtype_name((mt_dtype)b), mt_dtype_name(got), mt_dtype_name(want));
            checked++;
        }
    cr_expect_eq(checked, 169);
}

Test(promote_types, symmetric)
{
    for (int a = 0; a < MT_DTYPE_COUNT; a++)
        for (int b = 0; b < MT_DTYPE_COUNT; b++)
            cr_expect_eq(mt_promote_types((mt_dtype)a, (mt_dtype)b), mt_promote_types((mt_dtype)b, (mt_dtype)a),
                         "%s vs %s", mt_dtype_name((mt_dtype)a), mt_dtype_name((mt_dtype)b));
}

Test(promote_types, named_cases)
{
    cr_expect_eq(mt_promote_types(MT_UINT8, MT_INT8), MT_INT16);
    cr_expect_eq(mt_promote_types(MT_BFLOAT16, MT_FLOAT16), MT_FLOAT32);
    cr_expect_eq(mt_promote_types(MT_INT64, MT_FLOAT16), MT_FLOAT16);
    cr_expect_eq(mt_promote_types(MT_COMPLEX64, MT_FLOAT64), MT_DTYPE_NONE); /* complex128 */
    cr_expect_eq(mt_promote_types(MT_COMPLEX64, MT_FLOAT32), MT_COMPLEX64);
    cr_expect_eq(mt_promote_types(MT_COMPLEX64, MT_BFLOAT16), MT_COMPLEX64);
    /* bool + anything = anything, but for float8 (see the float8 test) */
    for (int d = 0; d < MT_DTYPE_COUNT; d++)
        if (!is_f8((mt_dtype)d))
            cr_expect_eq(mt_promote_types(MT_BOOL, (mt_dtype)d), d, "bool + %s", mt_dtype_name((mt_dtype)d));
}

Test(promote_types, float8)
{
    cr_expect_eq(mt_promote_types(MT_FLOAT8_E4M3FN, MT_FLOAT8_E4M3FN), MT_FLOAT8_E4M3FN);
    cr_expect_eq(mt_promote_types(MT_FLOAT8_E5M2, MT_FLOAT8_E5M2), MT_FLOAT8_E5M2);
    cr_expect_eq(mt_promote_types(MT_FLOAT8_E4M3FN, MT_FLOAT8_E5M2), MT_DTYPE_NONE);
    cr_expect_eq(mt_promote_types(MT_FLOAT8_E4M3FN, MT_FLOAT32), MT_DTYPE_NONE);
    cr_expect_eq(mt_promote_types(MT_BOOL, MT_FLOAT8_E5M2), MT_DTYPE_NONE);
    cr_expect_eq(mt_promote_types(MT_FLOAT8_E5M2, MT_INT64), MT_DTYPE_NONE);
}

Test(promote_types, invalid_inputs)
{
    cr_expect_eq(mt_promote_types(MT_DTYPE_NONE, MT_FLOAT32), MT_DTYPE_NONE);
    cr_expect_eq(mt_promote_types(MT_FLOAT32, MT_DTYPE_COUNT), MT_DTYPE_NONE);
    cr_expect_eq(mt_promote_types(MT_DTYPE_NONE, MT_DTYPE_NONE), MT_DTYPE_NONE);
}

/* ---- result_type ----------------------------------------------------------- */

static mt_dtype rt2(mt_operand a, mt_operand b)
{
    mt_operand ops[2] = {a, b};
    mt_dtype r = mt_result_type(ops, 2);
    mt_operand rev[2] = {b, a};
    cr_expect_eq(mt_result_type(rev, 2), r, "result_type depends on operand order");
    return r;
}

Test(result_type, dimensioned_tensors_follow_promote_types)
{
    /* With only dimensioned tensors, every operand is in one tier and
     * result_type reduces to promote_types. */
    for (int a = 0; a < MT_DTYPE_COUNT; a++)
        for (int b = 0; b < MT_DTYPE_COUNT; b++)
            cr_expect_eq(rt2(T((mt_dtype)a), T((mt_dtype)b)), expected_promote((mt_dtype)a, (mt_dtype)b), "%s, %s",
                         mt_dtype_name((mt_dtype)a), mt_dtype_name((mt_dtype)b));
}

Test(result_type, tensor_and_python_scalar)
{
    /* dim int32, wrapped float -> float32 (default dtype): lower tier is
     * floating, so the two are promoted. */
    cr_expect_eq(rt2(T(MT_INT32), S(MT_FLOAT64)), MT_FLOAT32);
    /* dim float16 keeps its dtype over a wrapped float. */
    cr_expect_eq(rt2(T(MT_FLOAT16), S(MT_FLOAT64)), MT_FLOAT16);
    cr_expect_eq(rt2(T(MT_BFLOAT16), S(MT_FLOAT64)), MT_BFLOAT16);
    /* dim bool with wrapped int: higher is bool, so promote -> int64. */
    cr_expect_eq(rt2(T(MT_BOOL), S(MT_INT64)), MT_INT64);
    /* dim int8 keeps int8 over a wrapped int; uint8 over a wrapped bool. */
    cr_expect_eq(rt2(T(MT_INT8), S(MT_INT64)), MT_INT8);
    cr_expect_eq(rt2(T(MT_UINT8), S(MT_BOOL)), MT_UINT8);
    /* dim bool with wrapped float -> default float32. */
    cr_expect_eq(rt2(T(MT_BOOL), S(MT_FLOAT64)), MT_FLOAT32);
    cr_expect_eq(rt2(T(MT_BOOL), S(MT_BOOL)), MT_BOOL);
    /* float8 tensor keeps its dtype over a wrapped float (higher floating). */
    cr_expect_eq(rt2(T(MT_FLOAT8_E4M3FN), S(MT_FLOAT64)), MT_FLOAT8_E4M3FN);
}

Test(result_type, tensor_and_zero_dim)
{
    /* dim int32 with 0-dim float64: lower tier is floating -> promote. */
    cr_expect_eq(rt2(T(MT_INT32), Z(MT_FLOAT64)), MT_FLOAT64);
    /* dim uint8 with 0-dim int64: same category, the dim tensor wins. */
    cr_expect_eq(rt2(T(MT_UINT8), Z(MT_INT64)), MT_UINT8);
    /* dim float16 with 0-dim float64: dim floating wins. */
    cr_expect_eq(rt2(T(MT_FLOAT16), Z(MT_FLOAT64)), MT_FLOAT16);
    /* dim bool with 0-dim int16: higher is bool -> promote. */
    cr_expect_eq(rt2(T(MT_BOOL), Z(MT_INT16)), MT_INT16);
    /* dim int64 with 0-dim float16 -> float16 (promote, not the default dtype). */
    cr_expect_eq(rt2(T(MT_INT64), Z(MT_FLOAT16)), MT_FLOAT16);
    /* 0-dim only: plain promotion among them. */
    cr_expect_eq(rt2(Z(MT_UINT8), Z(MT_INT8)), MT_INT16);
}

Test(result_type, zero_dim_and_python_scalar)
{
    /* no dim tensors: the 0-dim tier is the higher one. */
    cr_expect_eq(rt2(Z(MT_INT32), S(MT_FLOAT64)), MT_FLOAT32);
    cr_expect_eq(rt2(Z(MT_FLOAT64), S(MT_FLOAT64)), MT_FLOAT64);
    cr_expect_eq(rt2(Z(MT_INT16), S(MT_INT64)), MT_INT16);
    cr_expect_eq(rt2(Z(MT_BOOL), S(MT_INT64)), MT_INT64);
}

Test(result_type, scalars_only)
{
    cr_expect_eq(rt2(S(MT_INT64), S(MT_FLOAT64)), MT_FLOAT32);
    cr_expect_eq(rt2(S(MT_BOOL), S(MT_INT64)), MT_INT64);
    cr_expect_eq(rt2(S(MT_BOOL), S(MT_BOOL)), MT_BOOL);
    cr_expect_eq(rt2(S(MT_FLOAT64), S(MT_COMPLEX64)), MT_COMPLEX64);
    mt_operand one = S(MT_FLOAT64);
    cr_expect_eq(mt_result_type(&one, 1), MT_FLOAT32);
}

Test(result_type, three_tiers)
{
    /* combine(dim, combine(zero, wrapped)) */
    mt_operand a[] = {T(MT_BOOL), Z(MT_FLOAT16), S(MT_FLOAT64)};
    cr_expect_eq(mt_result_type(a, NOPS(a)), MT_FLOAT16); /* inner f16, then bool promotes */
    mt_operand b[] = {T(MT_INT8), Z(MT_INT64), S(MT_FLOAT64)};
    cr_expect_eq(mt_result_type(b, NOPS(b)), MT_FLOAT32); /* inner: int64 with float -> f32 */
    mt_operand c[] = {T(MT_FLOAT16), T(MT_BFLOAT16), Z(MT_FLOAT64), S(MT_COMPLEX64)};
    /* dim tier f16+bf16 = f32; inner combine(f64, c64) -> complex128: unsupported */
    cr_expect_eq(mt_result_type(c, NOPS(c)), MT_DTYPE_NONE);
    mt_operand d[] = {T(MT_UINT8), T(MT_INT8), Z(MT_INT64), S(MT_INT64)};
    cr_expect_eq(mt_result_type(d, NOPS(d)), MT_INT16);
}

Test(result_type, complex)
{
    /* combine_categories: a floating higher keeps its precision -> complex
     * of the same width (toComplexType). */
    cr_expect_eq(rt2(T(MT_FLOAT32), S(MT_COMPLEX64)), MT_COMPLEX64);
    cr_expect_eq(rt2(T(MT_BFLOAT16), S(MT_COMPLEX64)), MT_COMPLEX64);   /* bfloat16 -> complex64 */
    cr_expect_eq(rt2(T(MT_FLOAT16), S(MT_COMPLEX64)), MT_DTYPE_NONE);   /* complex32 */
    cr_expect_eq(rt2(T(MT_FLOAT64), S(MT_COMPLEX64)), MT_DTYPE_NONE);   /* complex128 */
    cr_expect_eq(rt2(T(MT_FLOAT64), Z(MT_COMPLEX64)), MT_DTYPE_NONE);   /* complex128 */
    cr_expect_eq(rt2(T(MT_FLOAT8_E5M2), S(MT_COMPLEX64)), MT_DTYPE_NONE); /* no complex float8 */
    /* integral higher: the complex lower is taken as is. */
    cr_expect_eq(rt2(T(MT_INT32), S(MT_COMPLEX64)), MT_COMPLEX64);
    cr_expect_eq(rt2(T(MT_BOOL), Z(MT_COMPLEX64)), MT_COMPLEX64);
    /* complex higher wins outright. */
    cr_expect_eq(rt2(T(MT_COMPLEX64), Z(MT_FLOAT64)), MT_COMPLEX64);
    cr_expect_eq(rt2(T(MT_COMPLEX64), S(MT_FLOAT64)), MT_COMPLEX64);
}

Test(result_type, float8_errors)
{
    /* promoteTypes raises for float8 mixed with another dtype in a tier. */
    cr_expect_eq(rt2(T(MT_FLOAT8_E4M3FN), T(MT_FLOAT16)), MT_DTYPE_NONE);
    cr_expect_eq(rt2(T(MT_FLOAT8_E4M3FN), T(MT_FLOAT8_E5M2)), MT_DTYPE_NONE);
    /* across tiers: an int dim tensor with a floating 0-dim float8 promotes -> raises */
    cr_expect_eq(rt2(T(MT_INT32), Z(MT_FLOAT8_E5M2)), MT_DTYPE_NONE);
    /* ... while a floating dim tensor ignores a 0-dim float8 (never promoted). */
    cr_expect_eq(rt2(T(MT_FLOAT32), Z(MT_FLOAT8_E5M2)), MT_FLOAT32);
    cr_expect_eq(rt2(T(MT_FLOAT8_E5M2), Z(MT_FLOAT32)), MT_FLOAT8_E5M2);
    cr_expect_eq(rt2(T(MT_FLOAT8_E5M2), T(MT_FLOAT8_E5M2)), MT_FLOAT8_E5M2);
    /* an error inside a tier is not hidden by a higher tier */
    mt_operand a[] = {T(MT_FLOAT32), Z(MT_FLOAT8_E4M3FN), Z(MT_FLOAT16)};
    cr_expect_eq(mt_result_type(a, NOPS(a)), MT_DTYPE_NONE);
}

Test(result_type, invalid_inputs)
{
    mt_operand a[] = {T(MT_FLOAT32), T(MT_DTYPE_NONE)};
    cr_expect_eq(mt_result_type(a, 2), MT_DTYPE_NONE);
    cr_expect_eq(mt_result_type(a, 0), MT_DTYPE_NONE);
    cr_expect_eq(mt_result_type(NULL, 2), MT_DTYPE_NONE);
    mt_operand b[] = {{(mt_operand_kind)7, MT_FLOAT32}};
    cr_expect_eq(mt_result_type(b, 1), MT_DTYPE_NONE);
}

/* ---- per-op promotion kinds ---------------------------------------------- */

static mt_dtype op2(mt_promo_kind k, mt_operand a, mt_operand b)
{
    mt_operand ops[2] = {a, b};
    return mt_promote_for_op(k, ops, 2);
}

Test(promo_kind, default_and_no_opmath)
{
    static const mt_promo_kind kinds[] = {MT_PROMO_DEFAULT, MT_PROMO_NO_OPMATH};
    for (int i = 0; i < NOPS(kinds); i++) {
        mt_promo_kind k = kinds[i];
        cr_expect_eq(op2(k, T(MT_INT32), S(MT_FLOAT64)), MT_FLOAT32);
        cr_expect_eq(op2(k, T(MT_FLOAT16), T(MT_FLOAT16)), MT_FLOAT16); /* result dtype, not opmath */
        cr_expect_eq(op2(k, T(MT_BFLOAT16), T(MT_FLOAT16)), MT_FLOAT32);
        cr_expect_eq(op2(k, T(MT_INT64), T(MT_INT64)), MT_INT64);
        cr_expect_eq(op2(k, T(MT_BOOL), T(MT_BOOL)), MT_BOOL);
        cr_expect_eq(op2(k, T(MT_FLOAT8_E4M3FN), T(MT_FLOAT32)), MT_DTYPE_NONE);
    }
}

Test(promo_kind, int_to_float)
{
    cr_expect_eq(op2(MT_PROMO_INT_TO_FLOAT, T(MT_INT64), T(MT_INT32)), MT_FLOAT32);
    cr_expect_eq(op2(MT_PROMO_INT_TO_FLOAT, T(MT_BOOL), S(MT_BOOL)), MT_FLOAT32);
    cr_expect_eq(op2(MT_PROMO_INT_TO_FLOAT, T(MT_UINT8), S(MT_INT64)), MT_FLOAT32);
    cr_expect_eq(op2(MT_PROMO_INT_TO_FLOAT, T(MT_BFLOAT16), S(MT_INT64)), MT_BFLOAT16);
    cr_expect_eq(op2(MT_PROMO_INT_TO_FLOAT, T(MT_FLOAT64), T(MT_INT32)), MT_FLOAT64);
    cr_expect_eq(op2(MT_PROMO_INT_TO_FLOAT, T(MT_COMPLEX64), T(MT_INT32)), MT_COMPLEX64);
}

Test(promo_kind, always_bool)
{
    cr_expect_eq(op2(MT_PROMO_ALWAYS_BOOL, T(MT_FLOAT32), S(MT_FLOAT64)), MT_BOOL);
    cr_expect_eq(op2(MT_PROMO_ALWAYS_BOOL, T(MT_INT64), T(MT_INT32)), MT_BOOL);
    cr_expect_eq(op2(MT_PROMO_ALWAYS_BOOL, T(MT_COMPLEX64), T(MT_COMPLEX64)), MT_BOOL);
    /* the operands are still promoted first, so float8 mixing still fails */
    cr_expect_eq(op2(MT_PROMO_ALWAYS_BOOL, T(MT_FLOAT8_E5M2), T(MT_FLOAT16)), MT_DTYPE_NONE);
}

Test(promo_kind, complex_to_float)
{
    cr_expect_eq(op2(MT_PROMO_COMPLEX_TO_FLOAT, T(MT_COMPLEX64), T(MT_COMPLEX64)), MT_FLOAT32);
    cr_expect_eq(op2(MT_PROMO_COMPLEX_TO_FLOAT, T(MT_FLOAT32), S(MT_COMPLEX64)), MT_FLOAT32);
    cr_expect_eq(op2(MT_PROMO_COMPLEX_TO_FLOAT, T(MT_FLOAT16), T(MT_FLOAT16)), MT_FLOAT16);
    cr_expect_eq(op2(MT_PROMO_COMPLEX_TO_FLOAT, T(MT_INT32), T(MT_INT32)), MT_INT32);
    cr_expect_eq(op2(MT_PROMO_COMPLEX_TO_FLOAT, T(MT_BOOL), T(MT_BOOL)), MT_BOOL);
}

Test(promo_kind, bool_to_long)
{
    /* bool -> int64 (PyTorch's BOOL_TO_LONG); in metatrace also every
     * integral type, as torch.sum does (int32 sum -> int64). */
    cr_expect_eq(op2(MT_PROMO_BOOL_TO_LONG, T(MT_BOOL), T(MT_BOOL)), MT_INT64);
    cr_expect_eq(op2(MT_PROMO_BOOL_TO_LONG, T(MT_INT32), T(MT_INT32)), MT_INT64);
    cr_expect_eq(op2(MT_PROMO_BOOL_TO_LONG, T(MT_UINT8), S(MT_BOOL)), MT_INT64);
    cr_expect_eq(op2(MT_PROMO_BOOL_TO_LONG, T(MT_INT8), T(MT_INT16)), MT_INT64);
    cr_expect_eq(op2(MT_PROMO_BOOL_TO_LONG, T(MT_FLOAT16), T(MT_FLOAT16)), MT_FLOAT16);
    cr_expect_eq(op2(MT_PROMO_BOOL_TO_LONG, T(MT_BOOL), S(MT_FLOAT64)), MT_FLOAT32);
    cr_expect_eq(op2(MT_PROMO_BOOL_TO_LONG, T(MT_COMPLEX64), T(MT_BOOL)), MT_COMPLEX64);
    mt_operand one = T(MT_INT32);
    cr_expect_eq(mt_promote_for_op(MT_PROMO_BOOL_TO_LONG, &one, 1), MT_INT64);
}

Test(promo_kind, keep_first)
{
    cr_expect_eq(op2(MT_PROMO_KEEP_FIRST, T(MT_FLOAT16), S(MT_FLOAT64)), MT_FLOAT16);
    cr_expect_eq(op2(MT_PROMO_KEEP_FIRST, T(MT_INT32), T(MT_FLOAT64)), MT_INT32);
    cr_expect_eq(op2(MT_PROMO_KEEP_FIRST, T(MT_BFLOAT16), T(MT_BOOL)), MT_BFLOAT16);
    /* whatever the others: even ones that would not promote */
    cr_expect_eq(op2(MT_PROMO_KEEP_FIRST, T(MT_FLOAT8_E4M3FN), T(MT_FLOAT32)), MT_FLOAT8_E4M3FN);
    cr_expect_eq(op2(MT_PROMO_KEEP_FIRST, Z(MT_INT8), T(MT_FLOAT32)), MT_INT8);
    /* the first tensor operand, skipping Python scalars */
    cr_expect_eq(op2(MT_PROMO_KEEP_FIRST, S(MT_FLOAT64), T(MT_INT16)), MT_INT16);
    cr_expect_eq(op2(MT_PROMO_KEEP_FIRST, S(MT_FLOAT64), S(MT_INT64)), MT_DTYPE_NONE);
}

Test(promo_kind, invalid)
{
    cr_expect_eq(op2(MT_PROMO_COUNT, T(MT_FLOAT32), T(MT_FLOAT32)), MT_DTYPE_NONE);
    cr_expect_eq(mt_promote_for_op(MT_PROMO_DEFAULT, NULL, 1), MT_DTYPE_NONE);
    mt_operand one = T(MT_FLOAT32);
    cr_expect_eq(mt_promote_for_op(MT_PROMO_DEFAULT, &one, 0), MT_DTYPE_NONE);
    cr_expect_eq(op2(MT_PROMO_INT_TO_FLOAT, T(MT_FLOAT64), S(MT_COMPLEX64)), MT_DTYPE_NONE);
}
