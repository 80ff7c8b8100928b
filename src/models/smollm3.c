/* SmolLM3 (SmolLM3ForCausalLM): Llama blocks whose attention skips the rotary
 * embedding on NoPE layers. no_rope_layers lists one flag per layer (1: RoPE,
 * 0: NoPE); absent, layer i has RoPE unless (i + 1) % no_rope_layer_interval == 0
 * (every fourth layer by default). Sliding-window layers come from layer_types,
 * else they are the NoPE layers when use_sliding_window and sliding_window are
 * both set. Tied head by default. Defaults from transformers' SmolLM3Config
 * (models/smollm3/configuration_smollm3.py); the forward is
 * modeling_smollm3.py's (the rotary embedding at model level, as released in
 * 4.53, applied only where use_rope). */
#include "blocks.h"

static const mt_dec_names smollm3_names = {
    "SmolLM3Model", "SmolLM3DecoderLayer", "SmolLM3Attention", "SmolLM3MLP", "SmolLM3RMSNorm",
    "SmolLM3RotaryEmbedding",
};

static const mt_dec_defaults smollm3_defaults = {
    .vocab = 128256, .hidden = 2048, .intermediate = 11008, .layers = 36, .heads = 16, .kv_heads = 4,
    .norm_eps = 1e-6, .rope_theta = 2000000.0, .hidden_act = "silu",
    .norm_eps_key = "rms_norm_eps", .tie_embeddings = true,
};

static mt_status smollm3_build(mt_model *m) {
    mt_dec_spec *s = mt_alloc(m->ctx, sizeof *s);
    if (!s) return mt_ctx_status(m->ctx);
    m->family = s;
    s->cls = smollm3_names;
    if (mt_dec_read_common(m, s, &smollm3_defaults) != MT_OK) return mt_ctx_status(m->ctx);
    mt_config *c = m->cfg;
    bool attn_bias, mlp_bias, use_sw;
    int64_t interval, cfg_layers, window;
    const bool *rope = NULL, *sliding = NULL;
    if (!mt_config_bool(c, "attention_bias", false, &attn_bias) || !mt_config_bool(c, "mlp_bias", false, &mlp_bias) ||
        !mt_config_bool(c, "use_sliding_window", false, &use_sw) || !mt_dec_read_window(m, "sliding_window", 0, &window) ||
        !mt_config_pos_int(c, "no_rope_layer_interval", 4, &interval) ||
        !mt_config_int(c, "num_hidden_layers", smollm3_defaults.layers, &cfg_layers) ||
        !mt_dec_read_layer_flags(m, "no_rope_layers", cfg_layers, s->layers, &rope) ||
        !mt_dec_read_layer_types(m, cfg_layers, s->layers, &sliding))
        return mt_ctx_status(m->ctx);
    s->qkv_bias = s->o_bias = attn_bias;
    s->mlp_bias = mlp_bias;
    bool *nope = mt_alloc_array(m->ctx, (size_t)s->layers, sizeof *nope);
    if (!nope) return mt_ctx_status(m->ctx);
    bool any_nope = false;
    for (int64_t i = 0; i < s->layers; i++) {
        nope[i] = rope ? !rope[i] : (i + 1) % interval == 0;
        any_nope = any_nope || nope[i];
    }
    if (any_nope) s->caps.nope = nope;
    if (!sliding && use_sw && window > 0) sliding = nope; /* SmolLM3Config: the NoPE layers slide */
    bool any_slide = false;
    for (int64_t i = 0; sliding && i < s->layers; i++) any_slide = any_slide || sliding[i];
    if (any_slide) {
        if (window <= 0)
            return mt_config_error(c, "sliding_window", "layer_types has sliding_attention layers but sliding_window is "
                                "not set (%s)", m->model_type);
        s->caps.sliding_window = window;
        s->caps.sliding = sliding;
    }
    if (mt_dec_read_rope(m, s) != MT_OK) return mt_ctx_status(m->ctx);
    if (mt_dec_build(m, s) != MT_OK) return mt_ctx_status(m->ctx);
    int64_t n = 0;
    for (int64_t i = 0; i < s->layers; i++) n += nope[i];
    mt_model_info(m, "nope_layers", mt_a_int(n));
    return MT_OK;
}

static mt_status smollm3_forward(mt_model *m, mt_tracer *tr) { return mt_dec_forward(m, tr, m->family); }

const mt_arch mt_arch_smollm3 = {
    .model_type = "smollm3",
    .default_class = "SmolLM3ForCausalLM",
    .example = "HuggingFaceTB/SmolLM3-3B",
    .build = smollm3_build,
    .forward = smollm3_forward,
};
