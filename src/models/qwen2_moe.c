/* Qwen2-MoE (Qwen2MoeForCausalLM) and Qwen3-MoE (Qwen3MoeForCausalLM): a
 * Llama-style decoder whose MLP is a sparse block `mlp` (gate, experts with
 * gate_proj/up_proj/down_proj of moe_intermediate_size, softmax top-k routing,
 * optional renormalization). Qwen2-MoE adds a shared expert scaled by
 * sigmoid(shared_expert_gate(x)) and has q/k/v biases; Qwen3-MoE has no shared
 * expert and RMS-normalizes q and k per head. A layer is sparse when it is not
 * in mlp_only_layers and (index + 1) % decoder_sparse_step == 0, else a dense
 * MLP of intermediate_size. Defaults: transformers' Qwen2MoeConfig / Qwen3MoeConfig. */
#include <string.h>

#include "moe.h"

static const mt_dec_names qwen2_moe_names = {
    "Qwen2MoeModel", "Qwen2MoeDecoderLayer", "Qwen2MoeAttention", "Qwen2MoeMLP", "Qwen2MoeRMSNorm",
    "Qwen2MoeRotaryEmbedding",
};
static const mt_dec_names qwen3_moe_names = {
    "Qwen3MoeModel", "Qwen3MoeDecoderLayer", "Qwen3MoeAttention", "Qwen3MoeMLP", "Qwen3MoeRMSNorm",
    "Qwen3MoeRotaryEmbedding",
};

static const mt_dec_defaults qwen2_moe_defaults = {
    .vocab = 151936, .hidden = 2048, .intermediate = 5632, .layers = 24, .heads = 16,
    .norm_eps = 1e-6, .rope_theta = 10000.0, .hidden_act = "silu",
    .norm_eps_key = "rms_norm_eps", .tie_embeddings = false,
};
static const mt_dec_defaults qwen3_moe_defaults = {
    .vocab = 151936, .hidden = 2048, .intermediate = 6144, .layers = 24, .heads = 32, .kv_heads = 4,
    .norm_eps = 1e-6, .rope_theta = 10000.0, .hidden_act = "silu",
    .norm_eps_key = "rms_norm_eps", .tie_embeddings = false,
};

typedef struct qmoe {
    int64_t sparse_step;
    const bool *mlp_only; /* per layer */
} qmoe;

static bool layer_sparse(const mt_moe_model *mm, int64_t i) {
    const qmoe *q = mm->fam;
    if (q->mlp_only && q->mlp_only[i]) return false;
    return mm->moe.num_experts > 0 && (i + 1) % q->sparse_step == 0;
}

static mt_status build_mlp(mt_model *m, const mt_dec_spec *s, mt_module *layer, int64_t index) {
    mt_moe_model *mm = s->ext;
    if (layer_sparse(mm, index)) return mt_moe_build(m, mm, layer, "mlp") ? MT_OK : mt_ctx_status(m->ctx);
    return mt_dec_build_mlp(m, s, layer, index);
}

static mt_status read_mlp_only(mt_model *m, mt_moe_model *mm, qmoe *q) {
    int64_t n = mm->dec.layers;
    bool *flags = mt_alloc_array(m->ctx, (size_t)n, sizeof *flags);
    if (!flags) return mt_ctx_status(m->ctx);
    q->mlp_only = flags;
    if (!mt_config_has(m->cfg, "mlp_only_layers")) return MT_OK;
    /* walk the list through the dotted-index getters: "mlp_only_layers.0", ... */
    for (int64_t k = 0;; k++) {
        char field[48];
        snprintf(field, sizeof field, "mlp_only_layers.%lld", (long long)k);
        if (!mt_config_has(m->cfg, field)) break;
        int64_t v;
        if (!mt_config_int(m->cfg, field, 0, &v)) return mt_ctx_status(m->ctx);
        if (v < 0) return mt_config_error(m->cfg, field, "expected a layer index >= 0, got %lld", (long long)v);
        if (v < n) flags[v] = true;
    }
    return MT_OK;
}

static mt_status qmoe_build(mt_model *m, bool v3) {
    mt_moe_model *mm = mt_moe_model_new(m);
    qmoe *q = mt_alloc(m->ctx, sizeof *q);
    if (!mm || !q) return mt_ctx_status(m->ctx);
    mm->fam = q;
    mt_dec_spec *s = &mm->dec;
    mt_config *c = m->cfg;
    s->cls = v3 ? qwen3_moe_names : qwen2_moe_names;
    if (mt_dec_read_common(m, s, v3 ? &qwen3_moe_defaults : &qwen2_moe_defaults) != MT_OK ||
        mt_dec_read_rope(m, s) != MT_OK)
        return mt_ctx_status(m->ctx);
    if (v3) {
        bool bias;
        if (!mt_config_bool(c, "attention_bias", false, &bias)) return mt_ctx_status(m->ctx);
        s->qkv_bias = s->o_bias = bias;
        s->caps.qk_norm = MT_QK_NORM_HEAD;
    } else {
        s->qkv_bias = true; /* Qwen2MoeAttention: q/k/v with bias, o_proj without */
    }
    bool sw;
    if (!mt_config_bool(c, "use_sliding_window", false, &sw)) return mt_ctx_status(m->ctx);
    if (sw)
        return mt_config_error(c, "use_sliding_window", "use_sliding_window=true is not supported for %s yet",
                            m->model_type);
    mt_moe_spec *e = &mm->moe;
    e->router = MT_ROUTE_SOFTMAX_TOPK;
    e->block_cls = v3 ? "Qwen3MoeSparseMoeBlock" : "Qwen2MoeSparseMoeBlock";
    e->expert_cls = v3 ? "Qwen3MoeMLP" : "Qwen2MoeMLP";
    if (!mt_config_int(c, "num_experts", v3 ? 128 : 60, &e->num_experts) ||
        !mt_config_pos_int(c, "num_experts_per_tok", v3 ? 8 : 4, &e->top_k) ||
        !mt_config_pos_int(c, "moe_intermediate_size", v3 ? 768 : 1408, &e->expert_inter) ||
        !mt_config_pos_int(c, "decoder_sparse_step", 1, &q->sparse_step) ||
        !mt_config_bool(c, "norm_topk_prob", false, &e->norm_topk))
        return mt_ctx_status(m->ctx);
    if (e->num_experts < 0) return mt_config_error(c, "num_experts", "expected >= 0, got %lld", (long long)e->num_experts);
    if (e->num_experts > 0 && e->top_k > e->num_experts)
        return mt_config_error(c, "num_experts_per_tok", "num_experts_per_tok %lld exceeds num_experts %lld (%s)",
                            (long long)e->top_k, (long long)e->num_experts, m->model_type);
    if (!v3) {
        if (!mt_config_pos_int(c, "shared_expert_intermediate_size", 5632, &e->shared_inter)) return mt_ctx_status(m->ctx);
        e->shared_name = "shared_expert";
        e->shared_cls = "Qwen2MoeMLP";
        e->shared_gate = true;
    }
    if (read_mlp_only(m, mm, q) != MT_OK) return mt_ctx_status(m->ctx);
    s->hooks.build_mlp = build_mlp;
    s->hooks.mlp_forward = mt_moe_mlp_forward;
    if (mt_dec_build(m, s) != MT_OK) return mt_ctx_status(m->ctx);
    mt_model_info(m, "num_experts", mt_a_int(e->num_experts));
    mt_model_info(m, "num_experts_per_tok", mt_a_int(e->top_k));
    mt_model_info(m, "moe_intermediate_size", mt_a_int(e->expert_inter));
    return MT_OK;
}

static mt_status qwen2_moe_build(mt_model *m) { return qmoe_build(m, false); }
static mt_status qwen3_moe_build(mt_model *m) { return qmoe_build(m, true); }

static mt_status qmoe_forward(mt_model *m, mt_tracer *tr) {
    mt_moe_model *mm = m->family;
    return mt_dec_forward(m, tr, &mm->dec);
}

const mt_arch mt_arch_qwen2_moe = {
    .model_type = "qwen2_moe",
    .default_class = "Qwen2MoeForCausalLM",
    .example = "Qwen/Qwen1.5-MoE-A2.7B",
    .build = qwen2_moe_build,
    .forward = qmoe_forward,
    .totals = mt_moe_totals,
};

const mt_arch mt_arch_qwen3_moe = {
    .model_type = "qwen3_moe",
    .default_class = "Qwen3MoeForCausalLM",
    .example = "Qwen/Qwen3-Coder-30B-A3B-Instruct",
    .build = qwen3_moe_build,
    .forward = qmoe_forward,
    .totals = mt_moe_totals,
};
