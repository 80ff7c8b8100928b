/* Qwen2 (Qwen2ForCausalLM): Llama blocks with biased q/k/v projections (o_proj
 * without bias) and, when use_sliding_window is set, a sliding window on the
 * layers from max_window_layers on. Defaults from transformers' Qwen2Config
 * (models/qwen2/configuration_qwen2.py). */
#include "blocks.h"

static const mt_dec_names qwen2_names = {
    "Qwen2Model", "Qwen2DecoderLayer", "Qwen2Attention", "Qwen2MLP", "Qwen2RMSNorm", "Qwen2RotaryEmbedding",
};

static const mt_dec_defaults qwen2_defaults = {
    .vocab = 151936, .hidden = 4096, .intermediate = 22016, .layers = 32, .heads = 32,
    .norm_eps = 1e-6, .rope_theta = 10000.0, .hidden_act = "silu",
    .norm_eps_key = "rms_norm_eps", .tie_embeddings = false, .kv_heads = 32,
};

static mt_status qwen2_build(mt_model *m) {
    mt_dec_spec *s = mt_alloc(m->ctx, sizeof *s);
    if (!s) return mt_ctx_status(m->ctx);
    m->family = s;
    s->cls = qwen2_names;
    if (mt_dec_read_common(m, s, &qwen2_defaults) != MT_OK) return mt_ctx_status(m->ctx);
    s->qkv_bias = true;
    bool use_sw;
    int64_t window, max_window_layers;
    if (!mt_config_bool(m->cfg, "use_sliding_window", false, &use_sw) ||
        !mt_dec_read_window(m, "sliding_window", 4096, &window) ||
        !mt_config_int(m->cfg, "max_window_layers", 28, &max_window_layers))
        return mt_ctx_status(m->ctx);
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

static mt_status qwen2_forward(mt_model *m, mt_tracer *tr) { return mt_dec_forward(m, tr, m->family); }

const mt_arch mt_arch_qwen2 = {
    .model_type = "qwen2",
    .default_class = "Qwen2ForCausalLM",
    .example = "Qwen/Qwen2-7B",
    .build = qwen2_build,
    .forward = qwen2_forward,
};
