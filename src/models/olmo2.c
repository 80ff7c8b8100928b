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

/* Olmo2DecoderLayer's post-norm: x + post_attention_layernorm(attn(x)), then
 * x + post_feedforward_layernorm(mlp(x)); no norm before either sub-block. */
static mt_status post_norms(mt_model *m, const mt_dec_spec *s, mt_module *L, mt_module *norms[MT_DEC_MAX_NORMS]) {
    return (norms[0] = mt_dec_norm(m, L, "post_attention_layernorm", s, s->hidden)) &&
                   (norms[1] = mt_dec_norm(m, L, "post_feedforward_layernorm", s, s->hidden))
               ? MT_OK
               : mt_ctx_status(m->ctx);
}

static mt_tensor *post_norm_forward(mt_tracer *tr, const mt_dec_layer *ly, mt_tensor *h, const mt_dec_spec *s) {
    mt_tensor *res = h;
    mt_tensor *a = mt_dec_layer_attn(tr, ly, h, s);
    a = mt_dec_layer_norm(tr, ly, 0, a, s);
    h = mt_dec_residual_add(tr, res, a, s);
    res = h;
    mt_tensor *f = mt_dec_layer_mlp(tr, ly, h, s);
    f = mt_dec_layer_norm(tr, ly, 1, f, s);
    return mt_dec_residual_add(tr, res, f, s);
}

static const mt_dec_layout post_norm_layout = {post_norms, post_norm_forward};

static mt_status olmo2_build(mt_model *m) {
    mt_dec_spec *s = mt_alloc(m->ctx, sizeof *s);
    if (!s) return mt_ctx_status(m->ctx);
    m->family = s;
    s->cls = olmo2_names;
    if (mt_dec_read_common(m, s, &olmo2_defaults) != MT_OK) return mt_ctx_status(m->ctx);
    bool bias;
    if (!mt_config_bool(m->cfg, "attention_bias", false, &bias)) return mt_ctx_status(m->ctx);
    s->qkv_bias = s->o_bias = bias;
    s->caps.layout = &post_norm_layout;
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
