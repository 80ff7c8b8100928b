/* metatrace — dtypes and PyTorch type promotion (torch.result_type semantics). */
#ifndef METATRACE_DTYPE_H
#define METATRACE_DTYPE_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ORDER mt_dtype: keep in step with the table in src/dtype.c. */
typedef enum mt_dtype {
    MT_DTYPE_NONE = -1,
    MT_BOOL = 0,
    MT_UINT8,
    MT_INT8,
    MT_INT16,
    MT_INT32,
    MT_INT64,
    MT_FLOAT16,
    MT_BFLOAT16,
    MT_FLOAT32,
    MT_FLOAT64,
    MT_FLOAT8_E4M3FN,
    MT_FLOAT8_E5M2,
    MT_COMPLEX64,
    MT_DTYPE_COUNT
} mt_dtype;

typedef enum mt_dtype_category {
    MT_CAT_BOOL = 0,
    MT_CAT_INT = 1,
    MT_CAT_FLOAT = 2,
    MT_CAT_COMPLEX = 3
} mt_dtype_category;

MT_API const char *mt_dtype_name(mt_dtype d);        /* torch name without prefix: "bfloat16" */
MT_API size_t mt_dtype_size(mt_dtype d);             /* element size in bytes */
MT_API mt_dtype_category mt_dtype_cat(mt_dtype d);
MT_API bool mt_dtype_is_floating(mt_dtype d);        /* float16/bf16/32/64/float8 */
MT_API bool mt_dtype_is_integral(mt_dtype d, bool include_bool);
MT_API bool mt_dtype_is_complex(mt_dtype d);
/* Parse a dtype name: torch names with or without "torch." prefix, and the
 * aliases torch accepts ("float"=float32, "half"=float16, "double", "long",
 * "int", "short", "cfloat") plus "fp16", "bf16", "fp32". Returns MT_DTYPE_NONE
 * when unknown. */
MT_API mt_dtype mt_dtype_parse(const char *name);

/* torch.promote_types(a, b). MT_DTYPE_NONE when PyTorch refuses (float8 mixed
 * with a different dtype). */
MT_API mt_dtype mt_promote_types(mt_dtype a, mt_dtype b);

/* One operand of torch.result_type. */
typedef enum mt_operand_kind {
    MT_OPERAND_TENSOR = 0,  /* a tensor with ndim >= 1 */
    MT_OPERAND_ZERODIM,     /* a 0-dim tensor */
    MT_OPERAND_SCALAR       /* a Python bool/int/float/complex (dtype says which:
                               MT_BOOL, MT_INT64, MT_FLOAT64, MT_COMPLEX64) */
} mt_operand_kind;

typedef struct mt_operand {
    mt_operand_kind kind;
    mt_dtype dtype;
} mt_operand;

/* torch.result_type over n operands with default dtype float32.
 * MT_DTYPE_NONE when PyTorch would raise. */
MT_API mt_dtype mt_result_type(const mt_operand *ops, int n);

/* Per-op promotion kinds (torch._prims_common.ELEMENTWISE_TYPE_PROMOTION_KIND). */
typedef enum mt_promo_kind {
    MT_PROMO_DEFAULT = 0,     /* result_type */
    MT_PROMO_INT_TO_FLOAT,    /* bool/int results become float32 (true division, sqrt, exp, ...) */
    MT_PROMO_ALWAYS_BOOL,     /* comparisons */
    MT_PROMO_COMPLEX_TO_FLOAT,/* abs: complex64 -> float32 */
    MT_PROMO_BOOL_TO_LONG,    /* sum of bool -> int64 */
    MT_PROMO_NO_OPMATH,       /* same output dtype as DEFAULT (no computation-dtype upcast) */
    MT_PROMO_KEEP_FIRST,      /* output takes the dtype of the first tensor operand (masked_fill, where's self) */
    MT_PROMO_COUNT
} mt_promo_kind;

/* Output dtype of an elementwise op with this promotion kind. */
MT_API mt_dtype mt_promote_for_op(mt_promo_kind k, const mt_operand *ops, int n);

#ifdef __cplusplus
}
#endif
#endif
