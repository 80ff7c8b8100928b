/* Llama (LlamaForCausalLM): transformers' LlamaConfig defaults, composed from
 * the shared decoder blocks. */
#include "blocks.h"

static const mt_dec_names llama_names = {
    "LlamaModel", "LlamaDecoderLayer", "LlamaAttention", "LlamaMLP", "LlamaRMSNorm",
    "LlamaRotaryEmbedding",
};

/* LlamaConfig defaults (transformers/models/llama/configuration_llama.py). */
static const mt_dec_defaults llama_defaults = {
    .vocab = 32000, .hidden = 4096, .intermediate = 11008, .layers = 32, .heads = 32,
    .norm_eps = 1e-6, .rope_theta = 10000.0, .hidden_act = "silu",
    .norm_eps_key = "rms_norm_eps", .tie_embeddings = false,
};

static mt_status llama_spec(mt_model *m, mt_dec_spec *s) {
    s->cls = llama_names;
    if (mt_dec_read_common(m, s, &llama_defaults) != MT_OK) return mt_ctx_status(m->ctx);
    bool attn_bias, mlp_bias;
    if (!mt_config_bool(m->cfg, "attention_bias", false, &attn_bias) ||
        !mt_config_bool(m->cfg, "mlp_bias", false, &mlp_bias))
        return mt_ctx_status(m->ctx);
    s->qkv_bias = s->o_bias = attn_bias;
    s->mlp_bias = mlp_bias;
    return mt_dec_read_rope(m, s);
}

static mt_status llama_build(mt_model *m) {
    mt_dec_spec *s = mt_alloc(m->ctx, sizeof *s);
    if (!s) return mt_ctx_status(m->ctx);
    m->family = s;
    if (llama_spec(m, s) != MT_OK) return mt_ctx_status(m->ctx);
    return mt_dec_build(m, s);
}

static mt_status llama_forward(mt_model *m, mt_tracer *tr) {
    return mt_dec_forward(m, tr, m->family);
}

const mt_arch mt_arch_llama = {
    .model_type = "llama",
    .default_class = "LlamaForCausalLM",
    .example = "huggyllama/llama-7b",
    .build = llama_build,
    .forward = llama_forward,
};
