/* Cohere (CohereForCausalLM, Command-R): Llama blocks with a weight-only
 * LayerNorm computed in float32 (CohereLayerNorm), one norm per layer feeding
 * attention and MLP in parallel (x + attn(n) + mlp(n)), interleaved rotary
 * (freqs repeat_interleave'd; rotate_half on the even/odd channels with
 * stack + flatten; q and k rotated in float32), optional q/k LayerNorms with
 * one weight row per head (use_qk_norm), logits * logit_scale, tied head.
 * Defaults from transformers' CohereConfig (models/cohere/configuration_cohere.py,
 * the 4.x signature: rope_theta 10000). */
#include "blocks.h"

static const mt_dec_names cohere_names = {
    "CohereModel", "CohereDecoderLayer", "CohereAttention", "CohereMLP", "CohereLayerNorm",
    "CohereRotaryEmbedding",
};

static const mt_dec_defaults cohere_defaults = {
    .vocab = 256000, .hidden = 8192, .intermediate = 22528, .layers = 40, .heads = 64,
    .norm_eps = 1e-5, .rope_theta = 10000.0, .hidden_act = "silu",
    .norm_eps_key = "layer_norm_eps", .tie_embeddings = true,
};

/* CohereDecoderLayer's parallel block: one norm, then x + attn(n) + mlp(n) (no
 * residual scale); StableLM's use_parallel_residual has it too. */
static mt_status parallel_norms(mt_model *m, const mt_dec_spec *s, mt_module *L,
                                mt_module *norms[MT_DEC_MAX_NORMS]) {
    return (norms[0] = mt_dec_norm(m, L, s->names.attn_norm ? s->names.attn_norm : "input_layernorm", s, s->hidden))
               ? MT_OK
               : mt_ctx_status(m->ctx);
}

static mt_tensor *parallel_forward(mt_tracer *tr, const mt_dec_layer *ly, mt_tensor *h, const mt_dec_spec *s) {
    mt_tensor *n = mt_dec_layer_norm(tr, ly, 0, h, s);
    mt_tensor *a = mt_dec_layer_attn(tr, ly, n, s);
    mt_tensor *f = mt_dec_layer_mlp(tr, ly, n, s);
    mt_tensor *ha = mt_add(tr, h, a);
    return mt_add(tr, ha, f);
}

const mt_dec_layout mt_cohere_parallel_layout = {parallel_norms, parallel_forward};

static mt_status cohere_build(mt_model *m) {
    mt_dec_spec *s = mt_alloc(m->ctx, sizeof *s);
    if (!s) return mt_ctx_status(m->ctx);
    m->family = s;
    s->cls = cohere_names;
    if (mt_dec_read_common(m, s, &cohere_defaults) != MT_OK) return mt_ctx_status(m->ctx);
    bool bias, qk_norm;
    double scale;
    if (mt_dec_cfg_is_null(m, "logit_scale"))
        return mt_config_error(m->cfg, "logit_scale", "expected a number, got null (cohere multiplies the logits by it)");
    if (!mt_config_bool(m->cfg, "attention_bias", false, &bias) ||
        !mt_config_bool(m->cfg, "use_qk_norm", false, &qk_norm) ||
        !mt_config_float(m->cfg, "logit_scale", 0.0625, &scale))
        return mt_ctx_status(m->ctx);
    s->qkv_bias = s->o_bias = bias; /* CohereAttention: all four projections take attention_bias */
    s->caps.norm = MT_NORM_LAYER_FP32;
    s->caps.layout = &mt_cohere_parallel_layout;
    s->caps.rope_interleave = true;
    s->caps.logits_mul = scale;
    if (qk_norm) {
        s->caps.qk_norm = MT_QK_NORM_HEAD; /* after the view, before the transpose */
        s->caps.qk_norm_per_head = true;
    }
    if (mt_dec_read_rope(m, s) != MT_OK) return mt_ctx_status(m->ctx);
    return mt_dec_build(m, s);
}

static mt_status cohere_forward(mt_model *m, mt_tracer *tr) { return mt_dec_forward(m, tr, m->family); }

const mt_arch mt_arch_cohere = {
    .model_type = "cohere",
    .default_class = "CohereForCausalLM",
    .example = "CohereForAI/c4ai-command-r-v01",
    .build = cohere_build,
    .forward = cohere_forward,
};
