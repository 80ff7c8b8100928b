/* OLMo2 (Olmo2ForCausalLM): RMSNorm after attention and after the MLP (no
 * input norm), RMSNorm on the whole q and k projections before the head
 * split. Defaults from transformers' Olmo2Config (models/olmo2/configuration_olmo2.py). */
#include "blocks.h"

static const mt_dec_names olmo2_names = {
    "Olmo2Model", "Olmo2DecoderLayer", "Olmo2Attention", "Olmo2MLP", "Olmo2RMSNorm", "Olmo2RotaryEmbedding",
};

static const mt_dec_defaults olmo2_defaults = {
    .vocab = 50304, .hidden = 4096, .intermediate = 11008, .layers = 32, .heads = 32,
    .norm_eps = 1e-5, .rope_theta = 10000.0, .hidden_act = "silu",
    .norm_eps_key = "rms_norm_eps", .tie_embeddings = false,
};

static mt_status olmo2_build(mt_model *m) {
    mt_dec_spec *s = mt_alloc(m->ctx, sizeof *s);
    if (!s) return mt_ctx_status(m->ctx);
    m->family = s;
    s->cls = olmo2_names;
    if (mt_dec_read_common(m, s, &olmo2_defaults) != MT_OK) return mt_ctx_status(m->ctx);
    bool bias;
    if (!mt_config_bool(m->cfg, "attention_bias", false, &bias)) return mt_ctx_status(m->ctx);
    s->qkv_bias = s->o_bias = bias;
    s->caps.layout = MT_LAYOUT_POST;
    s->caps.qk_norm = MT_QK_NORM_FULL;
    if (mt_dec_read_rope(m, s) != MT_OK) return mt_ctx_status(m->ctx);
    return mt_dec_build(m, s);
}

static mt_status olmo2_forward(mt_model *m, mt_tracer *tr) { return mt_dec_forward(m, tr, m->family); }

const mt_arch mt_arch_olmo2 = {
    .model_type = "olmo2",
    .default_class = "Olmo2ForCausalLM",
    .example = "allenai/OLMo-2-1124-7B",
    .build = olmo2_build,
    .forward = olmo2_forward,
};
