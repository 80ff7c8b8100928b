/* Shared building blocks for model families: a decoder-only transformer
 * described as data (mt_dec_spec) that families fill from their config. */
#ifndef METATRACE_BLOCKS_H
#define METATRACE_BLOCKS_H

#include <metatrace/model.h>

/* Class names a family uses for its modules (as transformers names them). */
typedef struct mt_dec_names {
    const char *model;   /* "LlamaModel" */
    const char *layer;   /* "LlamaDecoderLayer" */
    const char *attn;    /* "LlamaAttention" */
    const char *mlp;     /* "LlamaMLP" */
    const char *norm;    /* "LlamaRMSNorm" */
    const char *rotary;  /* "LlamaRotaryEmbedding" */
} mt_dec_names;

struct mt_dec_spec;

/* Hooks a family sets to replace one sub-block (MoE MLP, latent attention, ...).
 * NULL means the default Llama block. `layer` is the decoder layer module;
 * `index` its number. Build hooks create the sub-module named "mlp" /
 * "self_attn" under layer; forward hooks trace it. */
typedef struct mt_dec_hooks {
    mt_status (*build_mlp)(mt_model *m, const struct mt_dec_spec *s, mt_module *layer, int64_t index);
    mt_tensor *(*mlp_forward)(mt_tracer *tr, mt_module *mlp, mt_tensor *x, const struct mt_dec_spec *s);
    mt_status (*build_attn)(mt_model *m, const struct mt_dec_spec *s, mt_module *layer, int64_t index);
    mt_tensor *(*attn_forward)(mt_tracer *tr, mt_module *attn, mt_tensor *x, mt_tensor *mask,
                               mt_tensor *cos, mt_tensor *sin, const struct mt_dec_spec *s);
} mt_dec_hooks;

typedef struct mt_dec_spec {
    mt_dec_names cls;
    mt_dec_hooks hooks;
    void *ext;                 /* family-private data for its hooks */
    const char *family;        /* model_type, for messages */
    mt_dtype dtype;
    int64_t vocab, hidden, intermediate, layers;
    int64_t heads, kv_heads, head_dim;
    double norm_eps;
    const char *hidden_act;    /* config hidden_act ("silu") */
    bool qkv_bias, o_bias, mlp_bias;
    bool tie_embeddings;
    double rope_theta;
    int64_t rotary_dim;        /* head_dim unless partial rotary */
    const char *rope_type;     /* "default", "linear", "dynamic", "llama3", ... */
    double attention_scaling;  /* cos/sin multiplier (1.0 unless the rope type sets it) */
} mt_dec_spec;

/* Read the fields every Llama-like config shares, with the given defaults
 * (transformers' configuration class defaults for the family). Validates
 * sizes and divisibility with located errors. */
typedef struct mt_dec_defaults {
    int64_t vocab, hidden, intermediate, layers, heads;
    double norm_eps, rope_theta;
    const char *hidden_act;
    const char *norm_eps_key; /* "rms_norm_eps" */
    bool tie_embeddings;
} mt_dec_defaults;
mt_status mt_dec_read_common(mt_model *m, mt_dec_spec *s, const mt_dec_defaults *d);
/* Parse and validate rope_scaling (none, linear, dynamic, llama3, yarn, longrope). */
mt_status mt_dec_read_rope(mt_model *m, mt_dec_spec *s);
/* The model's parameter dtype: the override, else torch_dtype/dtype, else float32. */
mt_status mt_model_read_dtype(mt_model *m, mt_dtype *out);

/* Build a Llama-style CausalLM tree on m->root and trace it. */
mt_status mt_dec_build(mt_model *m, const mt_dec_spec *s);
mt_status mt_dec_forward(mt_model *m, mt_tracer *tr, const mt_dec_spec *s);

/* The default sub-blocks, for families that compose or wrap them. */
mt_status mt_dec_build_attn(mt_model *m, const mt_dec_spec *s, mt_module *layer, int64_t index);
mt_status mt_dec_build_mlp(mt_model *m, const mt_dec_spec *s, mt_module *layer, int64_t index);
/* A gated MLP (gate_proj/up_proj/down_proj + act_fn) named `name` under parent. */
mt_module *mt_dec_gated_mlp(mt_model *m, const mt_dec_spec *s, mt_module *parent, const char *name,
                            const char *cls, int64_t intermediate);
mt_tensor *mt_dec_attn_forward(mt_tracer *tr, mt_module *attn, mt_tensor *x, mt_tensor *mask,
                               mt_tensor *cos, mt_tensor *sin, const mt_dec_spec *s);
mt_tensor *mt_dec_mlp_forward(mt_tracer *tr, mt_module *mlp, mt_tensor *x, const mt_dec_spec *s);
mt_tensor *mt_dec_rms_forward(mt_tracer *tr, mt_module *norm, mt_tensor *x);
mt_module *mt_dec_rms_norm(mt_model *m, mt_module *parent, const char *name, const mt_dec_spec *s,
                           int64_t dim);
/* Rotary helpers: q*cos + rotate_half(q)*sin; repeat_kv for GQA. */
mt_tensor *mt_dec_apply_rotary(mt_tracer *tr, mt_tensor *x, mt_tensor *cos, mt_tensor *sin);
mt_tensor *mt_dec_repeat_kv(mt_tracer *tr, mt_tensor *x, int64_t n_rep);

/* Activation from a config hidden_act name: a leaf for torch.nn built-ins,
 * traced through for transformers' own activation classes. */
mt_module *mt_act_new(mt_model *m, mt_module *parent, const char *name, const char *hidden_act,
                      const char *field);
mt_tensor *mt_act_forward(mt_tracer *tr, mt_module *act, mt_tensor *x);

/* Most negative finite value of a floating dtype (torch.finfo(dt).min). */
double mt_dtype_min(mt_dtype dt);

#endif
