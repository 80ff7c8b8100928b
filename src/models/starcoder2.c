/* StarCoder2 (Starcoder2ForCausalLM): nn.LayerNorm with bias, a plain MLP
 * (c_fc -> act -> c_proj), biases on every projection (use_bias), GQA, an
 * optional sliding window on every layer, tied head. Defaults from
 * transformers' Starcoder2Config (models/starcoder2/configuration_starcoder2.py). */
#include "blocks.h"

static const mt_dec_names starcoder2_names = {
    "Starcoder2Model", "Starcoder2DecoderLayer", "Starcoder2Attention", "Starcoder2MLP", "LayerNorm",
    "Starcoder2RotaryEmbedding",
};

static const mt_dec_defaults starcoder2_defaults = {
    .vocab = 49152, .hidden = 3072, .intermediate = 12288, .layers = 30, .heads = 24,
    .norm_eps = 1e-5, .rope_theta = 10000.0, .hidden_act = "gelu_pytorch_tanh",
    .norm_eps_key = "norm_epsilon", .tie_embeddings = true, .kv_heads = 2,
};

static mt_status starcoder2_build(mt_model *m) {
    mt_dec_spec *s = mt_alloc(m->ctx, sizeof *s);
    if (!s) return mt_ctx_status(m->ctx);
    m->family = s;
    s->cls = starcoder2_names;
    if (mt_dec_read_common(m, s, &starcoder2_defaults) != MT_OK) return mt_ctx_status(m->ctx);
    bool bias;
    if (!mt_config_bool(m->cfg, "use_bias", true, &bias) ||
        !mt_dec_read_window(m, "sliding_window", 0, &s->caps.sliding_window))
        return mt_ctx_status(m->ctx);
    s->qkv_bias = s->o_bias = s->mlp_bias = bias;
    s->caps.norm = MT_NORM_LAYER;
    s->caps.mlp = MT_MLP_PLAIN;
    if (mt_dec_read_rope(m, s) != MT_OK) return mt_ctx_status(m->ctx);
    return mt_dec_build(m, s);
}

static mt_status starcoder2_forward(mt_model *m, mt_tracer *tr) { return mt_dec_forward(m, tr, m->family); }

const mt_arch mt_arch_starcoder2 = {
    .model_type = "starcoder2",
    .default_class = "Starcoder2ForCausalLM",
    .example = "bigcode/starcoder2-3b",
    .build = starcoder2_build,
    .forward = starcoder2_forward,
};
