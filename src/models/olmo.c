/* OLMo (OlmoForCausalLM): Llama blocks with non-parametric LayerNorm
 * (OlmoLayerNorm: F.layer_norm in float32 without weight or bias, eps 1e-5)
 * and optional clip_qkv (q, k, v clamped in place to [-clip, clip]). Defaults
 * from transformers' OlmoConfig (models/olmo/configuration_olmo.py). */
#include "blocks.h"

static const mt_dec_names olmo_names = {
    "OlmoModel", "OlmoDecoderLayer", "OlmoAttention", "OlmoMLP", "OlmoLayerNorm", "OlmoRotaryEmbedding",
};

static const mt_dec_defaults olmo_defaults = {
    .vocab = 50304, .hidden = 4096, .intermediate = 11008, .layers = 32, .heads = 32,
    .norm_eps = 1e-5, .rope_theta = 10000.0, .hidden_act = "silu",
    /* OlmoLayerNorm's eps is fixed at 1e-5; no config key sets it */
    .norm_eps_key = "__olmo_layer_norm_eps", .tie_embeddings = false,
};

static mt_status olmo_build(mt_model *m) {
    mt_dec_spec *s = mt_alloc(m->ctx, sizeof *s);
    if (!s) return mt_ctx_status(m->ctx);
    m->family = s;
    s->cls = olmo_names;
    if (mt_dec_read_common(m, s, &olmo_defaults) != MT_OK) return mt_ctx_status(m->ctx);
    bool bias;
    double clip = 0;
    if (!mt_config_bool(m->cfg, "attention_bias", false, &bias) || !mt_config_float(m->cfg, "clip_qkv", 0, &clip))
        return mt_ctx_status(m->ctx);
    if (clip < 0) return mt_config_error(m->cfg, "clip_qkv", "expected a positive number or null, got %g (olmo)", clip);
    s->qkv_bias = s->o_bias = bias;
    s->caps.norm = MT_NORM_LAYER_NOPARAM;
    s->caps.clip_qkv = clip;
    if (mt_dec_read_rope(m, s) != MT_OK) return mt_ctx_status(m->ctx);
    return mt_dec_build(m, s);
}

static mt_status olmo_forward(mt_model *m, mt_tracer *tr) { return mt_dec_forward(m, tr, m->family); }

const mt_arch mt_arch_olmo = {
    .model_type = "olmo",
    .default_class = "OlmoForCausalLM",
    .example = "allenai/OLMo-1B-hf",
    .build = olmo_build,
    .forward = olmo_forward,
};
