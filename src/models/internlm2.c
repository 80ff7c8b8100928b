/* InternLM2 (remote code InternLM2ForCausalLM, e.g. internlm/internlm2-7b):
 * Llama-shaped with its own names — tok_embeddings, attention.wqkv (one
 * fused projection whose rows are grouped per key/value head as
 * [queries of the group..., key, value]), attention.wo, feed_forward.w1/w3/w2,
 * attention_norm, ffn_norm, output — and `bias` on wqkv/wo. Defaults from
 * the checkpoints' configuration_internlm2.py (InternLM2Config). */
#include "blocks.h"

static const mt_dec_names internlm2_names = {
    "InternLM2Model", "InternLM2DecoderLayer", "InternLM2Attention", "InternLM2MLP", "InternLM2RMSNorm",
    "InternLM2RotaryEmbedding",
};

static const mt_dec_naming internlm2_naming = {
    .embed = "tok_embeddings", .lm_head = "output",
    .attn = "attention", .mlp = "feed_forward",
    .attn_norm = "attention_norm", .mlp_norm = "ffn_norm",
    .qkv = "wqkv", .o = "wo",
    .gate = "w1", .up = "w3", .down = "w2",
};

static const mt_dec_defaults internlm2_defaults = {
    .vocab = 103168, .hidden = 4096, .intermediate = 11008, .layers = 32, .heads = 32,
    .norm_eps = 1e-6, .rope_theta = 10000.0, .hidden_act = "silu",
    .norm_eps_key = "rms_norm_eps", .tie_embeddings = false,
};

static mt_status internlm2_build(mt_model *m) {
    mt_dec_spec *s = mt_alloc(m->ctx, sizeof *s);
    if (!s) return mt_ctx_status(m->ctx);
    m->family = s;
    s->cls = internlm2_names;
    s->names = internlm2_naming;
    if (mt_dec_read_common(m, s, &internlm2_defaults) != MT_OK) return mt_ctx_status(m->ctx);
    bool bias;
    if (!mt_config_bool(m->cfg, "bias", true, &bias)) return mt_ctx_status(m->ctx);
    s->qkv_bias = s->o_bias = bias;
    s->caps.qkv = MT_QKV_FUSED_GROUPED;
    if (mt_dec_read_rope(m, s) != MT_OK) return mt_ctx_status(m->ctx);
    return mt_dec_build(m, s);
}

static mt_status internlm2_forward(mt_model *m, mt_tracer *tr) { return mt_dec_forward(m, tr, m->family); }

const mt_arch mt_arch_internlm2 = {
    .model_type = "internlm2",
    .default_class = "InternLM2ForCausalLM",
    .example = "internlm/internlm2-7b",
    .build = internlm2_build,
    .forward = internlm2_forward,
};
