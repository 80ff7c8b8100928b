/* StableLM: transformers' native `stablelm` (StableLmForCausalLM) and the
 * remote-code `stablelm_epoch` (StableLMEpochForCausalLM, e.g.
 * stabilityai/stable-code-3b). Both: nn.LayerNorm with bias, partial rotary
 * on the first head_dim * factor channels, o_proj without bias, optional
 * q/k/v bias. Defaults: StableLmConfig (models/stablelm/configuration_stablelm.py)
 * and the checkpoints' configuration_stablelm_epoch.py (keys norm_eps, rope_pct). */
#include "blocks.h"

static const mt_dec_names stablelm_names = {
    "StableLmModel", "StableLmDecoderLayer", "StableLmAttention", "StableLmMLP", "LayerNorm",
    "StableLmRotaryEmbedding",
};

static const mt_dec_names epoch_names = {
    "StableLMEpochModel", "DecoderLayer", "Attention", "MLP", "LayerNorm", "RotaryEmbedding",
};

static const mt_dec_defaults stablelm_defaults = {
    .vocab = 50304, .hidden = 2560, .intermediate = 6912, .layers = 32, .heads = 32,
    .norm_eps = 1e-5, .rope_theta = 10000.0, .hidden_act = "silu",
    .norm_eps_key = "layer_norm_eps", .tie_embeddings = false, .kv_heads = 32,
};

static const mt_dec_defaults epoch_defaults = {
    .vocab = 50304, .hidden = 2560, .intermediate = 6912, .layers = 32, .heads = 32,
    .norm_eps = 1e-5, .rope_theta = 10000.0, .hidden_act = "silu",
    .norm_eps_key = "norm_eps", .tie_embeddings = false, .kv_heads = 32,
};

static mt_status common(mt_model *m, mt_dec_spec *s, const char *factor_key) {
    double factor;
    bool qkv_bias;
    if (!mt_config_float(m->cfg, factor_key, 0.25, &factor) || !mt_config_bool(m->cfg, "use_qkv_bias", false, &qkv_bias))
        return mt_ctx_status(m->ctx);
    if (factor <= 0 || factor > 1)
        return mt_config_error(m->cfg, factor_key, "expected a fraction in (0, 1], got %g (%s)", factor, s->family);
    s->rotary_dim = (int64_t)((double)s->head_dim * factor); /* int(head_dim * factor) */
    if (s->rotary_dim < 2 || s->rotary_dim % 2 != 0)
        return mt_config_error(m->cfg, factor_key, "head_dim %lld * %g gives %lld rotary channels; expected an even number >= 2 (%s)",
                            (long long)s->head_dim, factor, (long long)s->rotary_dim, s->family);
    s->qkv_bias = qkv_bias;
    s->caps.norm = MT_NORM_LAYER;
    return mt_dec_read_rope(m, s);
}

static mt_status stablelm_build(mt_model *m) {
    mt_dec_spec *s = mt_alloc(m->ctx, sizeof *s);
    if (!s) return mt_ctx_status(m->ctx);
    m->family = s;
    s->cls = stablelm_names;
    if (mt_dec_read_common(m, s, &stablelm_defaults) != MT_OK) return mt_ctx_status(m->ctx);
    bool qk_ln, parallel;
    if (!mt_config_bool(m->cfg, "qk_layernorm", false, &qk_ln) ||
        !mt_config_bool(m->cfg, "use_parallel_residual", false, &parallel))
        return mt_ctx_status(m->ctx);
    if (qk_ln)
        return mt_config_error(m->cfg, "qk_layernorm", "per-head q/k LayerNorm (StableLmLayerNormPerHead) is not supported yet (stablelm)");
    /* parallel residual: x + attn(ln(x)) + mlp(ln(x)), no post_attention_layernorm */
    if (parallel) s->caps.layout = &mt_cohere_parallel_layout;
    if (common(m, s, "partial_rotary_factor") != MT_OK) return mt_ctx_status(m->ctx);
    return mt_dec_build(m, s);
}

static mt_status epoch_build(mt_model *m) {
    mt_dec_spec *s = mt_alloc(m->ctx, sizeof *s);
    if (!s) return mt_ctx_status(m->ctx);
    m->family = s;
    s->cls = epoch_names;
    if (mt_dec_read_common(m, s, &epoch_defaults) != MT_OK) return mt_ctx_status(m->ctx);
    if (common(m, s, "rope_pct") != MT_OK) return mt_ctx_status(m->ctx);
    return mt_dec_build(m, s);
}

static mt_status stablelm_forward(mt_model *m, mt_tracer *tr) { return mt_dec_forward(m, tr, m->family); }

const mt_arch mt_arch_stablelm = {
    .model_type = "stablelm",
    .default_class = "StableLmForCausalLM",
    .example = "stabilityai/stablelm-2-1_6b",
    .build = stablelm_build,
    .forward = stablelm_forward,
};

const mt_arch mt_arch_stablelm_epoch = {
    .model_type = "stablelm_epoch",
    .default_class = "StableLMEpochForCausalLM",
    .example = "stabilityai/stable-code-3b",
    .build = epoch_build,
    .forward = stablelm_forward,
};
