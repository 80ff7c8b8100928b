/* metatrace — quantized checkpoints: the tensors a checkpoint really stores.
 *
 * A Hugging Face config may carry a `quantization_config` (FP8 block-scaled,
 * MXFP4, GPTQ, AWQ, bitsandbytes 8/4-bit, compressed-tensors). The traced
 * graph stays the dequantized computation (what the layers compute); this pass
 * lists what the checkpoint stores instead of each quantized weight — names,
 * shapes and dtypes as in the checkpoint's index `weight_map` — and the byte
 * totals that equal the index's `metadata.total_size`. See docs/quant.md. */
#ifndef METATRACE_QUANT_H
#define METATRACE_QUANT_H

#include "model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One tensor of the checkpoint. Non-quantized parameters appear as themselves
 * (name, shape and dtype of the model parameter). */
typedef struct mt_stored_tensor {
    const char *name;          /* checkpoint key: "model.layers.0.mlp.down_proj.weight_scale_inv" */
    mt_dtype dtype;            /* storage dtype (packed int4 as int32/uint8 as the checkpoint has it) */
    int ndim;
    int64_t shape[MT_MAX_DIMS];
    int64_t bytes;
    const mt_param *param;     /* the model parameter it stores or quantizes (NULL: none) */
    bool quantized;            /* part of a quantized weight (the packed weight or its scales/zeros) */
} mt_stored_tensor;

typedef struct mt_quant_inventory {
    const char *method;        /* NULL: not quantized; else "fp8", "mxfp4", "gptq", "awq",
                                  "bitsandbytes_8bit", "bitsandbytes_4bit", "compressed-tensors" */
    const char *description;   /* one line for people: "FP8 e4m3 weights, 128x128 block scales" */
    int n;
    mt_stored_tensor *tensors; /* checkpoint order: the model's named_parameters order, a
                                  quantized weight followed by its companion tensors */
    int64_t total_bytes;       /* == index metadata.total_size for a real checkpoint */
    int64_t bytes_by_dtype[MT_DTYPE_COUNT];
    int64_t quantized_params;  /* model parameters (elements) replaced by a quantized form */
    int64_t unquantized_bytes; /* what the same parameters take in the model dtype */
} mt_quant_inventory;

/* The stored inventory of a built model. `method` NULL: the config's
 * quantization_config (none: every parameter stored as itself, method NULL);
 * otherwise a "what if" for that method with its usual defaults ("fp8",
 * "mxfp4", "gptq", "awq", "bnb-8bit", "bnb-4bit"), overriding the config's.
 * Fails with MT_ERR_CONFIG naming the field (unknown quant_method, a block
 * size that does not divide, ...) or MT_ERR_USAGE for an unknown `method`;
 * a "what if" the model's layers cannot be stored in (GPTQ dimensions not
 * multiples of 32, mxfp4 without gpt-oss experts, ...) is MT_ERR_UNSUPPORTED.
 * Non-persistent buffers (rotary inv_freq) and tied aliases are not listed.
 * Everything lives in the model's context. */
MT_API mt_status mt_quant_inventory_of(mt_model *m, const char *method, mt_quant_inventory *out);

/* The methods accepted by mt_quant_inventory_of's `method`, comma-separated. */
MT_API const char *mt_quant_methods(void);

#ifdef __cplusplus
}
#endif
#endif
