/* metatrace — dtypes and PyTorch type promotion.
 *
 * What PyTorch does, and where (read at the source, rewritten here):
 * - promote_types: c10/core/ScalarType.cpp, promoteTypes() and its lookup
 *   table (NumPy-style lattice; uint8 with a signed type goes to the smallest
 *   signed type holding both; float16 with bfloat16 goes to float32; float8
 *   with anything different raises).
 * - result_type: aten/src/ATen/native/TypeProperties.cpp, ResultTypeState,
 *   update_result_type_state() and combine_categories(): operands are
 *   promoted within three tiers (dimensioned tensors, 0-dim tensors, wrapped
 *   Python numbers); a lower tier only matters when it is of a higher
 *   category (bool < int < float < complex) than the tier above it.
 * - per-op kinds: torch/_prims_common/__init__.py, ELEMENTWISE_TYPE_PROMOTION_KIND
 *   and elementwise_dtypes().
 *
 * We have no complex32 and no complex128: where PyTorch would produce one we
 * return MT_DTYPE_NONE, as for the cases where PyTorch raises. */
#include "metatrace/dtype.h"

#include <assert.h>
#include <string.h>

/* ---- the dtype table ----------------------------------------------------- */

typedef struct dtype_info {
    const char *name;      /* torch name without "torch." */
    size_t size;           /* bytes per element */
    mt_dtype_category cat;
    int rank;              /* width order inside the category (see promote) */
} dtype_info;

/* ORDER mt_dtype */
static const dtype_info DTYPES[] = {
    [MT_BOOL] = {"bool", 1, MT_CAT_BOOL, 0},
    [MT_UINT8] = {"uint8", 1, MT_CAT_INT, 1},
    [MT_INT8] = {"int8", 1, MT_CAT_INT, 1},
    [MT_INT16] = {"int16", 2, MT_CAT_INT, 2},
    [MT_INT32] = {"int32", 4, MT_CAT_INT, 3},
    [MT_INT64] = {"int64", 8, MT_CAT_INT, 4},
    [MT_FLOAT16] = {"float16", 2, MT_CAT_FLOAT, 1},
    [MT_BFLOAT16] = {"bfloat16", 2, MT_CAT_FLOAT, 1},
    [MT_FLOAT32] = {"float32", 4, MT_CAT_FLOAT, 2},
    [MT_FLOAT64] = {"float64", 8, MT_CAT_FLOAT, 3},
    [MT_FLOAT8_E4M3FN] = {"float8_e4m3fn", 1, MT_CAT_FLOAT, 0},
    [MT_FLOAT8_E5M2] = {"float8_e5m2", 1, MT_CAT_FLOAT, 0},
    [MT_COMPLEX64] = {"complex64", 8, MT_CAT_COMPLEX, 2},
};
static_assert(sizeof DTYPES / sizeof DTYPES[0] == MT_DTYPE_COUNT,
              "DTYPES must have one entry per mt_dtype");

static bool valid(mt_dtype d) { return d >= 0 && d < MT_DTYPE_COUNT; }

const char *mt_dtype_name(mt_dtype d) { return valid(d) ? DTYPES[d].name : "none"; }

size_t mt_dtype_size(mt_dtype d) { return valid(d) ? DTYPES[d].size : 0; }

/* An invalid dtype has no category; MT_CAT_BOOL is returned so the result is
 * at least a valid enumerator. The predicates below say false for it. */
mt_dtype_category mt_dtype_cat(mt_dtype d) { return valid(d) ? DTYPES[d].cat : MT_CAT_BOOL; }

bool mt_dtype_is_floating(mt_dtype d) { return valid(d) && DTYPES[d].cat == MT_CAT_FLOAT; }

bool mt_dtype_is_integral(mt_dtype d, bool include_bool)
{
    if (!valid(d)) return false;
    return DTYPES[d].cat == MT_CAT_INT || (include_bool && d == MT_BOOL);
}

bool mt_dtype_is_complex(mt_dtype d) { return valid(d) && DTYPES[d].cat == MT_CAT_COMPLEX; }

static bool is_float8(mt_dtype d) { return d == MT_FLOAT8_E4M3FN || d == MT_FLOAT8_E5M2; }

/* ---- parsing ------------------------------------------------------------- */

typedef struct dtype_alias {
    const char *name;
    mt_dtype dtype;
    bool torch; /* also valid after a "torch." prefix (a real torch attribute) */
} dtype_alias;

/* torch's second names (c10 getDtypeNames) plus common shorthands that are
 * not torch attributes. */
static const dtype_alias ALIASES[] = {
    {"float", MT_FLOAT32, true},   {"half", MT_FLOAT16, true},  {"double", MT_FLOAT64, true},
    {"long", MT_INT64, true},      {"int", MT_INT32, true},     {"short", MT_INT16, true},
    {"cfloat", MT_COMPLEX64, true}, {"fp16", MT_FLOAT16, false}, {"bf16", MT_BFLOAT16, false},
    {"fp32", MT_FLOAT32, false},   {"fp64", MT_FLOAT64, false},
};

mt_dtype mt_dtype_parse(const char *name)
{
    static const char prefix[] = "torch.";
    if (!name) return MT_DTYPE_NONE;
    bool prefixed = strncmp(name, prefix, sizeof prefix - 1) == 0;
    if (prefixed) name += sizeof prefix - 1;
    for (int d = 0; d < MT_DTYPE_COUNT; d++)
        if (strcmp(name, DTYPES[d].name) == 0) return (mt_dtype)d;
    for (size_t i = 0; i < sizeof ALIASES / sizeof ALIASES[0]; i++)
        if ((ALIASES[i].torch || !prefixed) && strcmp(name, ALIASES[i].name) == 0)
            return ALIASES[i].dtype;
    return MT_DTYPE_NONE;
}

/* ---- promote_types ------------------------------------------------------- */

mt_dtype mt_promote_types(mt_dtype a, mt_dtype b)
{
    if (!valid(a) || !valid(b)) return MT_DTYPE_NONE;
    if (a == b) return a;
    /* PyTorch refuses to promote a float8 with any other dtype. */
    if (is_float8(a) || is_float8(b)) return MT_DTYPE_NONE;

    const dtype_info *x = &DTYPES[a], *y = &DTYPES[b];
    /* Order so that x is of the lower (or same) category. */
    if (x->cat > y->cat) {
        const dtype_info *t = x;
        x = y;
        y = t;
        mt_dtype s = a;
        a = b;
        b = s;
    }
    if (x->cat != y->cat) {
        /* The higher category wins, except that complex64 with float64 is
         * complex128, which we lack. */
        if (b == MT_COMPLEX64 && a == MT_FLOAT64) return MT_DTYPE_NONE;
        return b;
    }
    switch (x->cat) {
    case MT_CAT_INT:
        /* uint8 with a signed type: the smallest signed type holding both,
         * i.e. int16 at least. */
        if (a == MT_UINT8 || b == MT_UINT8) {
            mt_dtype other = a == MT_UINT8 ? b : a;
            return DTYPES[other].rank < DTYPES[MT_INT16].rank ? MT_INT16 : other;
        }
        return x->rank >= y->rank ? a : b;
    case MT_CAT_FLOAT:
        /* float16 and bfloat16 have the same rank and meet at float32. */
        if (x->rank == y->rank) return MT_FLOAT32;
        return x->rank > y->rank ? a : b;
    case MT_CAT_BOOL:    /* a == b, handled above */
    case MT_CAT_COMPLEX: /* only complex64 */
    default:
        return MT_DTYPE_NONE;
    }
}

/* ---- result_type --------------------------------------------------------- */

/* One tier of ResultTypeState: MT_DTYPE_NONE while empty; `bad` once a
 * promotion inside it failed. */
typedef struct tier {
    mt_dtype dt;
    bool bad;
} tier;

static void tier_add(tier *t, mt_dtype d)
{
    if (t->bad) return;
    if (t->dt == MT_DTYPE_NONE) {
        t->dt = d;
        return;
    }
    t->dt = mt_promote_types(t->dt, d);
    if (t->dt == MT_DTYPE_NONE) t->bad = true;
}

/* promote, where an empty side stands aside */
static mt_dtype promote_skip_empty(mt_dtype a, mt_dtype b, bool *bad)
{
    if (a == MT_DTYPE_NONE) return b;
    if (b == MT_DTYPE_NONE) return a;
    mt_dtype r = mt_promote_types(a, b);
    if (r == MT_DTYPE_NONE) *bad = true;
    return r;
}

/* The complex dtype of the same precision (c10 toComplexType): bfloat16 and
 * float32 give complex64; float16 (complex32) and float64 (complex128) are
 * unsupported here, and float8 has none in PyTorch either. */
static mt_dtype to_complex(mt_dtype d, bool *bad)
{
    if (d == MT_BFLOAT16 || d == MT_FLOAT32 || d == MT_COMPLEX64) return MT_COMPLEX64;
    *bad = true;
    return MT_DTYPE_NONE;
}

/* ATen's combine_categories: `higher` is the tier that takes precedence. */
static mt_dtype combine(mt_dtype higher, mt_dtype lower, bool *bad)
{
    if (mt_dtype_is_complex(higher)) return higher;
    if (mt_dtype_is_complex(lower)) {
        /* A floating higher keeps its precision in the complex result; an
         * integral or bool (or empty) higher yields to the complex lower. */
        if (mt_dtype_is_floating(higher)) return to_complex(higher, bad);
        return lower;
    }
    if (mt_dtype_is_floating(higher)) return higher;
    if (higher == MT_BOOL || mt_dtype_is_floating(lower)) return promote_skip_empty(higher, lower, bad);
    return higher != MT_DTYPE_NONE ? higher : lower;
}

/* A wrapped Python number takes the default dtype of its category: float ->
 * float32 (default dtype), complex -> complex64 (default complex dtype),
 * int -> int64, bool -> bool. */
static mt_dtype wrapped_dtype(mt_dtype d)
{
    switch (DTYPES[d].cat) {
    case MT_CAT_BOOL: return MT_BOOL;
    case MT_CAT_INT: return MT_INT64;
    case MT_CAT_FLOAT: return MT_FLOAT32;
    case MT_CAT_COMPLEX: return MT_COMPLEX64;
    default: return MT_DTYPE_NONE;
    }
}

mt_dtype mt_result_type(const mt_operand *ops, int n)
{
    if (!ops || n <= 0) return MT_DTYPE_NONE;
    tier dim = {MT_DTYPE_NONE, false}, zero = dim, wrapped = dim;
    for (int i = 0; i < n; i++) {
        mt_dtype d = ops[i].dtype;
        if (!valid(d)) return MT_DTYPE_NONE;
        switch (ops[i].kind) {
        case MT_OPERAND_TENSOR: tier_add(&dim, d); break;
        case MT_OPERAND_ZERODIM: tier_add(&zero, d); break;
        case MT_OPERAND_SCALAR: tier_add(&wrapped, wrapped_dtype(d)); break;
        default: return MT_DTYPE_NONE;
        }
    }
    if (dim.bad || zero.bad || wrapped.bad) return MT_DTYPE_NONE;
    bool bad = false;
    mt_dtype r = combine(dim.dt, combine(zero.dt, wrapped.dt, &bad), &bad);
    return bad ? MT_DTYPE_NONE : r;
}

/* ---- per-op promotion kinds ---------------------------------------------- */

mt_dtype mt_promote_for_op(mt_promo_kind k, const mt_operand *ops, int n)
{
    if (!ops || n <= 0) return MT_DTYPE_NONE;
    if (k == MT_PROMO_KEEP_FIRST) {
        for (int i = 0; i < n; i++)
            if (ops[i].kind == MT_OPERAND_TENSOR || ops[i].kind == MT_OPERAND_ZERODIM)
                return valid(ops[i].dtype) ? ops[i].dtype : MT_DTYPE_NONE;
        return MT_DTYPE_NONE;
    }
    mt_dtype r = mt_result_type(ops, n);
    if (r == MT_DTYPE_NONE) return r;
    switch (k) {
    case MT_PROMO_DEFAULT:
    case MT_PROMO_NO_OPMATH:
        return r;
    case MT_PROMO_INT_TO_FLOAT:
        return mt_dtype_is_integral(r, true) ? MT_FLOAT32 : r;
    case MT_PROMO_ALWAYS_BOOL:
        return MT_BOOL;
    case MT_PROMO_COMPLEX_TO_FLOAT:
        return r == MT_COMPLEX64 ? MT_FLOAT32 : r;
    case MT_PROMO_BOOL_TO_LONG:
        /* Wider than PyTorch's elementwise BOOL_TO_LONG (which maps only
         * bool): we use this kind for sum-like ops, where torch.sum turns
         * every integral or bool input into int64. See docs/dtypes.md. */
        return mt_dtype_is_integral(r, true) ? MT_INT64 : r;
    case MT_PROMO_KEEP_FIRST: /* handled above */
    case MT_PROMO_COUNT:
    default:
        return MT_DTYPE_NONE;
    }
}
