/* Mixtral (MixtralForCausalLM): Mistral's decoder with a sparse MoE block
 * `block_sparse_moe` (gate + num_local_experts experts w1/w2/w3, top-k
 * softmax routing, renormalized). transformers' MixtralConfig defaults. */
#include "moe.h"

static const mt_dec_names mixtral_names = {
    "MixtralModel", "MixtralDecoderLayer", "MixtralAttention", "MixtralSparseMoeBlock", "MixtralRMSNorm",
    "MixtralRotaryEmbedding",
};

/* MixtralConfig defaults (transformers/models/mixtral/configuration_mixtral.py). */
static const mt_dec_defaults mixtral_defaults = {
    .vocab = 32000, .hidden = 4096, .intermediate = 14336, .layers = 32, .heads = 32, .kv_heads = 8,
    .norm_eps = 1e-5, .rope_theta = 1e6, .hidden_act = "silu",
    .norm_eps_key = "rms_norm_eps", .tie_embeddings = false,
};

static mt_status build_moe(mt_model *m, const mt_dec_spec *s, mt_module *layer, int64_t index) {
    (void)index;
    mt_moe_model *mm = s->ext;
    return mt_moe_build(m, mm, layer, "block_sparse_moe") ? MT_OK : mt_ctx_status(m->ctx);
}

static mt_status mixtral_build(mt_model *m) {
    mt_moe_model *mm = mt_moe_model_new(m);
    if (!mm) return mt_ctx_status(m->ctx);
    mt_dec_spec *s = &mm->dec;
    s->cls = mixtral_names;
    if (mt_dec_read_common(m, s, &mixtral_defaults) != MT_OK || mt_dec_read_rope(m, s) != MT_OK)
        return mt_ctx_status(m->ctx);
    if (!mt_dec_read_window(m, "sliding_window", 0, &s->caps.sliding_window)) return mt_ctx_status(m->ctx);
    mt_moe_spec *e = &mm->moe;
    e->router = MT_ROUTE_SOFTMAX_TOPK;
    e->block_cls = "MixtralSparseMoeBlock";
    e->expert_cls = "MixtralBlockSparseTop2MLP";
    e->mixtral_names = true;
    e->norm_topk = true;
    e->expert_inter = s->intermediate;
    if (!mt_config_pos_int(m->cfg, "num_local_experts", 8, &e->num_experts) ||
        !mt_config_pos_int(m->cfg, "num_experts_per_tok", 2, &e->top_k))
        return mt_ctx_status(m->ctx);
    if (e->top_k > e->num_experts)
        return mt_config_error(m->cfg, "num_experts_per_tok", "num_experts_per_tok %lld exceeds num_local_experts %lld (mixtral)",
                            (long long)e->top_k, (long long)e->num_experts);
    s->hooks.build_mlp = build_moe;
    s->hooks.mlp_forward = mt_moe_mlp_forward;
    s->names.mlp = "block_sparse_moe";
    if (mt_dec_build(m, s) != MT_OK) return mt_ctx_status(m->ctx);
    mt_model_info(m, "num_local_experts", mt_a_int(e->num_experts));
    mt_model_info(m, "num_experts_per_tok", mt_a_int(e->top_k));
    return MT_OK;
}

static mt_status mixtral_forward(mt_model *m, mt_tracer *tr) {
    mt_moe_model *mm = m->family;
    return mt_dec_forward(m, tr, &mm->dec);
}

const mt_arch mt_arch_mixtral = {
    .model_type = "mixtral",
    .default_class = "MixtralForCausalLM",
    .example = "mistralai/Mixtral-8x7B-v0.1",
    .build = mixtral_build,
    .forward = mixtral_forward,
    .totals = mt_moe_totals,
};
