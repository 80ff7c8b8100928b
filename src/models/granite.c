/* Granite (GraniteForCausalLM): Llama blocks with four multipliers —
 * embeddings * embedding_multiplier, residual + out * residual_multiplier,
 * attention scale = attention_multiplier, logits / logits_scaling.
 * Defaults from transformers' GraniteConfig (models/granite/configuration_granite.py). */
#include "blocks.h"

static const mt_dec_names granite_names = {
    "GraniteModel", "GraniteDecoderLayer", "GraniteAttention", "GraniteMLP", "GraniteRMSNorm",
    "GraniteRotaryEmbedding",
};

static const mt_dec_defaults granite_defaults = {
    .vocab = 32000, .hidden = 4096, .intermediate = 11008, .layers = 32, .heads = 32,
    .norm_eps = 1e-6, .rope_theta = 10000.0, .hidden_act = "silu",
    .norm_eps_key = "rms_norm_eps", .tie_embeddings = false,
};

static bool positive(mt_model *m, const char *key, double *v) {
    if (!mt_config_float(m->cfg, key, 1.0, v)) return false;
    if (*v <= 0) {
        mt_config_error(m->cfg, key, "expected a positive number, got %g (granite)", *v);
        return false;
    }
    return true;
}

static mt_status granite_build(mt_model *m) {
    mt_dec_spec *s = mt_alloc(m->ctx, sizeof *s);
    if (!s) return mt_ctx_status(m->ctx);
    m->family = s;
    s->cls = granite_names;
    if (mt_dec_read_common(m, s, &granite_defaults) != MT_OK) return mt_ctx_status(m->ctx);
    bool attn_bias, mlp_bias;
    if (!mt_config_bool(m->cfg, "attention_bias", false, &attn_bias) ||
        !mt_config_bool(m->cfg, "mlp_bias", false, &mlp_bias) ||
        !positive(m, "embedding_multiplier", &s->caps.embed_scale) ||
        !positive(m, "residual_multiplier", &s->caps.residual_scale) ||
        !positive(m, "attention_multiplier", &s->caps.attn_scale) ||
        !positive(m, "logits_scaling", &s->caps.logits_div))
        return mt_ctx_status(m->ctx);
    s->qkv_bias = s->o_bias = attn_bias;
    s->mlp_bias = mlp_bias;
    if (mt_dec_read_rope(m, s) != MT_OK) return mt_ctx_status(m->ctx);
    return mt_dec_build(m, s);
}

static mt_status granite_forward(mt_model *m, mt_tracer *tr) { return mt_dec_forward(m, tr, m->family); }

const mt_arch mt_arch_granite = {
    .model_type = "granite",
    .default_class = "GraniteForCausalLM",
    .example = "ibm-granite/granite-3.0-2b-instruct",
    .build = granite_build,
    .forward = granite_forward,
};
