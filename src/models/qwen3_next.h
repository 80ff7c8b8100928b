/* Qwen3-Next's pieces that Qwen3.5 composes (qwen3_5.c): the Gated DeltaNet
 * (Qwen3-Next's fused input projections, or Qwen3.5's four separate ones), the
 * gated full attention, the per-layer choice of sparse block or dense MLP, and
 * the reading of the linear-attention fields and of layer_types. The family
 * data hangs off mt_moe_model.fam (dec.ext points at the mt_moe_model). */
#ifndef METATRACE_QWEN3_NEXT_H
#define METATRACE_QWEN3_NEXT_H

#include "moe.h"

typedef struct mt_qnext {
    int64_t nk, nv, dk, dv, conv_kernel; /* linear_num_key_heads, ..._value_heads, key/value head dims */
    int64_t sparse_step;
    const bool *linear;   /* per layer: a linear-attention layer */
    const bool *mlp_only; /* per layer */
    /* Qwen3.5 (zero: Qwen3-Next) */
    bool split_proj;            /* in_proj_qkv, in_proj_z, in_proj_b, in_proj_a (Qwen3_5GatedDeltaNet) instead of
                                 * in_proj_qkvz and in_proj_ba with fix_query_key_value_ordering */
    const char *deltanet_cls;   /* NULL: "Qwen3NextGatedDeltaNet" */
    const char *gated_norm_cls; /* NULL: "Qwen3NextRMSNormGated" */
} mt_qnext;

/* linear_conv_kernel_dim, linear_key/value_head_dim, linear_num_key/value_heads (Qwen3NextConfig's
 * defaults 4, 128, 128, 16, 32), checked (value heads a multiple of key heads); then layer_types
 * (num_hidden_layers = cfg_layers entries), else every full_attention_interval-th layer full. Errors
 * name the field and m->model_type. */
mt_status mt_qnext_read_linear(mt_model *m, mt_qnext *q, int64_t cfg_layers, int64_t layers);
/* mt_dec_spec hooks: the DeltaNet ("linear_attn") or the gated attention ("self_attn") by layer; the
 * sparse block or the dense MLP by layer; and the attention slot's forward (set after mt_dec_build). */
mt_status mt_qnext_build_attn(mt_model *m, const mt_dec_spec *s, mt_module *L, int64_t index);
mt_status mt_qnext_build_mlp(mt_model *m, const mt_dec_spec *s, mt_module *layer, int64_t index);
mt_tensor *mt_qnext_attn_forward(mt_tracer *tr, mt_module *at, mt_tensor *x, mt_tensor *mask, mt_tensor *cos,
                                 mt_tensor *sin, const mt_dec_spec *s);
/* The model info both families record (layer counts by kind, linear heads; experts when sparse). */
void mt_qnext_info(mt_model *m, const mt_moe_model *mm);

#endif
