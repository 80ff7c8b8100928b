/* OLMoE (OlmoeForCausalLM): a Llama-style decoder whose every MLP is a sparse
 * block `mlp` (gate Linear(hidden, num_experts), num_experts OlmoeMLP experts
 * of intermediate_size, softmax top-k routing, renormalized only with
 * norm_topk_prob), and whose attention RMS-normalizes the whole q and k
 * projections as they are made (q_norm over hidden_size, k_norm over
 * kv_heads * head_dim), before clip_qkv. Defaults from transformers'
 * OlmoeConfig (models/olmoe/configuration_olmoe.py); the forward is
 * modeling_olmoe.py's (OlmoeAttention, OlmoeSparseMoeBlock, 4.x experts as a
 * ModuleList). */
#include "moe.h"

static const mt_dec_names olmoe_names = {
    "OlmoeModel", "OlmoeDecoderLayer", "OlmoeAttention", "OlmoeMLP", "OlmoeRMSNorm", "OlmoeRotaryEmbedding",
};

static const mt_dec_defaults olmoe_defaults = {
    .vocab = 50304, .hidden = 2048, .intermediate = 2048, .layers = 16, .heads = 16,
    .norm_eps = 1e-5, .rope_theta = 10000.0, .hidden_act = "silu",
    .norm_eps_key = "rms_norm_eps", .tie_embeddings = false,
};

static mt_status build_mlp(mt_model *m, const mt_dec_spec *s, mt_module *layer, int64_t index) {
    (void)index;
    return mt_moe_build(m, s->ext, layer, "mlp") ? MT_OK : mt_ctx_status(m->ctx);
}

static mt_status olmoe_build(mt_model *m) {
    mt_moe_model *mm = mt_moe_model_new(m);
    if (!mm) return mt_ctx_status(m->ctx);
    mt_dec_spec *s = &mm->dec;
    mt_config *c = m->cfg;
    s->cls = olmoe_names;
    if (mt_dec_read_common(m, s, &olmoe_defaults) != MT_OK || mt_dec_read_rope(m, s) != MT_OK)
        return mt_ctx_status(m->ctx);
    if (s->head_dim * s->heads != s->hidden)
        return mt_config_error(c, mt_config_has(c, "head_dim") ? "head_dim" : "num_attention_heads",
                            "OlmoeAttention needs head_dim * num_attention_heads == hidden_size, got %lld * %lld != "
                            "%lld (olmoe)", (long long)s->head_dim, (long long)s->heads, (long long)s->hidden);
    bool bias;
    if (!mt_config_bool(c, "attention_bias", false, &bias) || !mt_config_float(c, "clip_qkv", 0, &s->caps.clip_qkv))
        return mt_ctx_status(m->ctx);
    s->qkv_bias = s->o_bias = bias;
    s->caps.qk_norm = MT_QK_NORM_FULL;
    s->caps.qk_norm_first = true;
    mt_moe_spec *e = &mm->moe;
    e->router = MT_ROUTE_SOFTMAX_TOPK;
    e->block_cls = "OlmoeSparseMoeBlock";
    e->expert_cls = "OlmoeMLP";
    e->expert_inter = s->intermediate;
    if (!mt_config_pos_int(c, "num_experts", 64, &e->num_experts) ||
        !mt_config_pos_int(c, "num_experts_per_tok", 8, &e->top_k) ||
        !mt_config_bool(c, "norm_topk_prob", false, &e->norm_topk))
        return mt_ctx_status(m->ctx);
    if (e->top_k > e->num_experts)
        return mt_config_error(c, "num_experts_per_tok", "num_experts_per_tok %lld exceeds num_experts %lld (olmoe)",
                            (long long)e->top_k, (long long)e->num_experts);
    s->hooks.build_mlp = build_mlp;
    s->hooks.mlp_forward = mt_moe_mlp_forward;
    if (mt_dec_build(m, s) != MT_OK) return mt_ctx_status(m->ctx);
    mt_model_info(m, "num_experts", mt_a_int(e->num_experts));
    mt_model_info(m, "num_experts_per_tok", mt_a_int(e->top_k));
    if (s->caps.clip_qkv > 0) mt_model_info(m, "clip_qkv", mt_a_float(s->caps.clip_qkv));
    return MT_OK;
}

static mt_status olmoe_forward(mt_model *m, mt_tracer *tr) {
    mt_moe_model *mm = m->family;
    return mt_dec_forward(m, tr, &mm->dec);
}

const mt_arch mt_arch_olmoe = {
    .model_type = "olmoe",
    .default_class = "OlmoeForCausalLM",
    .example = "allenai/OLMoE-1B-7B-0924",
    .build = olmoe_build,
    .forward = olmoe_forward,
    .totals = mt_moe_totals,
};
