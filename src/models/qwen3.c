/* Qwen3 (Qwen3ForCausalLM): Llama blocks with RMSNorm on each query and key
 * head (q_norm/k_norm over head_dim, after the view), head_dim 128 by default,
 * optional sliding window from max_window_layers on. Defaults from
 * transformers' Qwen3Config (models/qwen3/configuration_qwen3.py). */
#include "blocks.h"

static const mt_dec_names qwen3_names = {
    "Qwen3Model", "Qwen3DecoderLayer", "Qwen3Attention", "Qwen3MLP", "Qwen3RMSNorm", "Qwen3RotaryEmbedding",
};

static const mt_dec_defaults qwen3_defaults = {
    .vocab = 151936, .hidden = 4096, .intermediate = 22016, .layers = 32, .heads = 32,
    .norm_eps = 1e-6, .rope_theta = 10000.0, .hidden_act = "silu",
    .norm_eps_key = "rms_norm_eps", .tie_embeddings = false, .kv_heads = 32, .head_dim = 128,
};

static mt_status qwen3_build(mt_model *m) {
    mt_dec_spec *s = mt_alloc(m->ctx, sizeof *s);
    if (!s) return mt_ctx_status(m->ctx);
    m->family = s;
    s->cls = qwen3_names;
    if (mt_dec_read_common(m, s, &qwen3_defaults) != MT_OK) return mt_ctx_status(m->ctx);
    bool bias, use_sw;
    int64_t window, max_window_layers;
    if (!mt_config_bool(m->cfg, "attention_bias", false, &bias) ||
        !mt_config_bool(m->cfg, "use_sliding_window", false, &use_sw) ||
        !mt_dec_read_window(m, "sliding_window", 4096, &window) ||
        !mt_config_int(m->cfg, "max_window_layers", 28, &max_window_layers))
        return mt_ctx_status(m->ctx);
    s->qkv_bias = s->o_bias = bias;
    s->caps.qk_norm = MT_QK_NORM_HEAD;
    if (use_sw && window > 0) {
        bool *sl = mt_alloc_array(m->ctx, (size_t)s->layers, sizeof *sl);
        if (!sl) return mt_ctx_status(m->ctx);
        for (int64_t i = 0; i < s->layers; i++) sl[i] = i >= max_window_layers;
        s->caps.sliding_window = window;
        s->caps.sliding = sl;
    }
    if (mt_dec_read_rope(m, s) != MT_OK) return mt_ctx_status(m->ctx);
    return mt_dec_build(m, s);
}

static mt_status qwen3_forward(mt_model *m, mt_tracer *tr) { return mt_dec_forward(m, tr, m->family); }

const mt_arch mt_arch_qwen3 = {
    .model_type = "qwen3",
    .default_class = "Qwen3ForCausalLM",
    .example = "Qwen/Qwen3-8B",
    .build = qwen3_build,
    .forward = qwen3_forward,
};
