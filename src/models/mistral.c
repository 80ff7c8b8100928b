/* Mistral (MistralForCausalLM): Llama blocks plus a sliding-window mask on
 * every layer when config.sliding_window is set. Defaults from transformers'
 * MistralConfig (models/mistral/configuration_mistral.py). */
#include "blocks.h"

static const mt_dec_names mistral_names = {
    "MistralModel", "MistralDecoderLayer", "MistralAttention", "MistralMLP", "MistralRMSNorm",
    "MistralRotaryEmbedding",
};

static const mt_dec_defaults mistral_defaults = {
    .vocab = 32000, .hidden = 4096, .intermediate = 14336, .layers = 32, .heads = 32,
    .norm_eps = 1e-6, .rope_theta = 10000.0, .hidden_act = "silu",
    .norm_eps_key = "rms_norm_eps", .tie_embeddings = false,
    .kv_heads = 8, /* MistralConfig: 8; null means num_attention_heads */
};

mt_status mt_mistral_spec(mt_model *m, mt_dec_spec *s) {
    s->cls = mistral_names;
    if (mt_dec_read_common(m, s, &mistral_defaults) != MT_OK) return mt_ctx_status(m->ctx);
    /* sliding_window: default 4096, applied to every layer; null disables it */
    if (!mt_dec_read_window(m, "sliding_window", 4096, &s->caps.sliding_window)) return mt_ctx_status(m->ctx);
    return mt_dec_read_rope(m, s);
}

static mt_status mistral_build(mt_model *m) {
    mt_dec_spec *s = mt_alloc(m->ctx, sizeof *s);
    if (!s) return mt_ctx_status(m->ctx);
    m->family = s;
    if (mt_mistral_spec(m, s) != MT_OK) return mt_ctx_status(m->ctx);
    return mt_dec_build(m, s);
}

static mt_status mistral_forward(mt_model *m, mt_tracer *tr) { return mt_dec_forward(m, tr, m->family); }

const mt_arch mt_arch_mistral = {
    .model_type = "mistral",
    .default_class = "MistralForCausalLM",
    .example = "mistralai/Mistral-7B-v0.1",
    .build = mistral_build,
    .forward = mistral_forward,
};
