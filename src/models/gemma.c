/* Gemma (GemmaForCausalLM): Llama blocks with head_dim 256 by default,
 * embeddings scaled by sqrt(hidden_size) as a tensor of the hidden dtype,
 * (1 + w) RMSNorm computed in float32, GELU-tanh gated MLP, tied head.
 * Defaults from transformers' GemmaConfig (models/gemma/configuration_gemma.py). */
#include <math.h>

#include "blocks.h"

static const mt_dec_names gemma_names = {
    "GemmaModel", "GemmaDecoderLayer", "GemmaAttention", "GemmaMLP", "GemmaRMSNorm", "GemmaRotaryEmbedding",
};

static const mt_dec_defaults gemma_defaults = {
    .vocab = 256000, .hidden = 3072, .intermediate = 24576, .layers = 28, .heads = 16,
    .norm_eps = 1e-6, .rope_theta = 10000.0, .hidden_act = "gelu_pytorch_tanh",
    .norm_eps_key = "rms_norm_eps", .tie_embeddings = true, .kv_heads = 16, .head_dim = 256,
};

static mt_status gemma_build(mt_model *m) {
    mt_dec_spec *s = mt_alloc(m->ctx, sizeof *s);
    if (!s) return mt_ctx_status(m->ctx);
    m->family = s;
    s->cls = gemma_names;
    if (mt_dec_read_common(m, s, &gemma_defaults) != MT_OK) return mt_ctx_status(m->ctx);
    bool bias;
    /* GemmaMLP: hidden_activation, or gelu_pytorch_tanh when it is absent
     * (hidden_act is ignored, with a warning, in transformers) */
    if (!mt_config_str(m->cfg, "hidden_activation", "gelu_pytorch_tanh", &s->hidden_act) ||
        !mt_config_bool(m->cfg, "attention_bias", false, &bias))
        return mt_ctx_status(m->ctx);
    s->qkv_bias = s->o_bias = bias;
    s->caps.norm = MT_NORM_RMS_GEMMA;
    s->caps.embed_scale = sqrt((double)s->hidden);
    s->caps.embed_scale_in_dtype = true;
    if (mt_dec_read_rope(m, s) != MT_OK) return mt_ctx_status(m->ctx);
    return mt_dec_build(m, s);
}

static mt_status gemma_forward(mt_model *m, mt_tracer *tr) { return mt_dec_forward(m, tr, m->family); }

const mt_arch mt_arch_gemma = {
    .model_type = "gemma",
    .default_class = "GemmaForCausalLM",
    .example = "google/gemma-7b",
    .build = gemma_build,
    .forward = gemma_forward,
};
