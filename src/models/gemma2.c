/* Gemma2 (Gemma2ForCausalLM): Gemma's (1 + w) RMSNorm in float32, embeddings
 * scaled by sqrt(hidden_size) as a tensor of the hidden dtype, norms before and
 * after both attention and MLP, attention scores scaled by
 * query_pre_attn_scalar^-0.5 and soft-capped (tanh), a sliding window on even
 * layers, soft-capped logits, tied head. Defaults from transformers'
 * Gemma2Config (models/gemma2/configuration_gemma2.py). */
#include <math.h>

#include "blocks.h"

static const mt_dec_names gemma2_names = {
    "Gemma2Model", "Gemma2DecoderLayer", "Gemma2Attention", "Gemma2MLP", "Gemma2RMSNorm",
    "Gemma2RotaryEmbedding",
};

static const mt_dec_defaults gemma2_defaults = {
    .vocab = 256000, .hidden = 2304, .intermediate = 9216, .layers = 26, .heads = 8,
    .norm_eps = 1e-6, .rope_theta = 10000.0, .hidden_act = "gelu_pytorch_tanh",
    .norm_eps_key = "rms_norm_eps", .tie_embeddings = true, .kv_heads = 4, .head_dim = 256,
};

/* An optional positive float: absent takes def, null means none (0). */
static bool read_cap(mt_model *m, const char *key, double def, double *out) {
    if (mt_dec_cfg_is_null(m, key)) { *out = 0; return true; }
    return mt_config_float(m->cfg, key, def, out); /* > 0: the getter's domain check */
}

/* Gemma2DecoderLayer's sandwich: every sub-block between two norms,
 * x + post_attention_layernorm(attn(input_layernorm(x))), then
 * x + post_feedforward_layernorm(mlp(pre_feedforward_layernorm(x))); Gemma 3 has it too. */
static mt_status sandwich_norms(mt_model *m, const mt_dec_spec *s, mt_module *L,
                                mt_module *norms[MT_DEC_MAX_NORMS]) {
    static const char *const names[4] = {NULL, "post_attention_layernorm", "pre_feedforward_layernorm",
                                         "post_feedforward_layernorm"};
    for (int i = 0; i < 4; i++) {
        const char *nm = i == 0 ? (s->names.attn_norm ? s->names.attn_norm : "input_layernorm") : names[i];
        if (!(norms[i] = mt_dec_norm(m, L, nm, s, s->hidden))) return mt_ctx_status(m->ctx);
    }
    return MT_OK;
}

static mt_tensor *sandwich_forward(mt_tracer *tr, const mt_dec_layer *ly, mt_tensor *h, const mt_dec_spec *s) {
    mt_tensor *res = h;
    mt_tensor *a = mt_dec_layer_norm(tr, ly, 0, h, s);
    a = mt_dec_layer_attn(tr, ly, a, s);
    a = mt_dec_layer_norm(tr, ly, 1, a, s);
    h = mt_dec_residual_add(tr, res, a, s);
    res = h;
    mt_tensor *f = mt_dec_layer_norm(tr, ly, 2, h, s);
    f = mt_dec_layer_mlp(tr, ly, f, s);
    f = mt_dec_layer_norm(tr, ly, 3, f, s);
    return mt_dec_residual_add(tr, res, f, s);
}

const mt_dec_layout mt_gemma2_sandwich_layout = {sandwich_norms, sandwich_forward};

static mt_status gemma2_build(mt_model *m) {
    mt_dec_spec *s = mt_alloc(m->ctx, sizeof *s);
    if (!s) return mt_ctx_status(m->ctx);
    m->family = s;
    s->cls = gemma2_names;
    if (mt_dec_read_common(m, s, &gemma2_defaults) != MT_OK) return mt_ctx_status(m->ctx);
    bool bias;
    double qpas;
    /* Gemma2MLP uses hidden_activation (hidden_act is not read) */
    if (!mt_config_str(m->cfg, "hidden_activation", "gelu_pytorch_tanh", &s->hidden_act) ||
        !mt_config_bool(m->cfg, "attention_bias", false, &bias) ||
        !mt_config_float(m->cfg, "query_pre_attn_scalar", 256, &qpas) ||
        !mt_dec_read_window(m, "sliding_window", 4096, &s->caps.sliding_window) ||
        !read_cap(m, "attn_logit_softcapping", 50.0, &s->caps.attn_softcap) ||
        !read_cap(m, "final_logit_softcapping", 30.0, &s->caps.final_softcap))
        return mt_ctx_status(m->ctx);
    s->qkv_bias = s->o_bias = bias;
    s->caps.norm = MT_NORM_RMS_GEMMA;
    s->caps.layout = &mt_gemma2_sandwich_layout;
    s->caps.attn_scale = pow(qpas, -0.5);
    s->caps.embed_scale = sqrt((double)s->hidden);
    s->caps.embed_scale_in_dtype = true;
    s->caps.sliding = mt_dec_sliding_pattern(m, s->layers, 2, 1); /* layer_idx % 2 == 0 slides */
    if (!s->caps.sliding) return mt_ctx_status(m->ctx);
    if (mt_dec_read_rope(m, s) != MT_OK) return mt_ctx_status(m->ctx);
    return mt_dec_build(m, s);
}

static mt_status gemma2_forward(mt_model *m, mt_tracer *tr) { return mt_dec_forward(m, tr, m->family); }

const mt_arch mt_arch_gemma2 = {
    .model_type = "gemma2",
    .default_class = "Gemma2ForCausalLM",
    .example = "google/gemma-2-2b",
    .build = gemma2_build,
    .forward = gemma2_forward,
};
