/* GLM-4.5 / GLM-4.6 (Glm4MoeForCausalLM, model_type glm4_moe): a Llama-style
 * decoder with grouped-query attention (q/k/v biases with attention_bias, o_proj
 * without), rotary on the first int(head_dim * partial_rotary_factor) channels
 * (rotate_half layout), optional RMSNorm of each q and k head (use_qk_norm,
 * after the view); the first first_k_dense_replace layers have a dense
 * Glm4MoeMLP of intermediate_size, the others Glm4MoeMoE: DeepSeek-V3's block
 * (n_routed_experts experts of moe_intermediate_size, the Glm4MoeTopkRouter
 * with sigmoid scores, e_score_correction_bias, group-limited top-k,
 * renormalization and routed_scaling_factor, and n_shared_experts fused into
 * one shared_experts MLP). The checkpoint's multi-token-prediction layers
 * (num_nextn_predict_layers, stored as model.layers.<num_hidden_layers + i>.*)
 * are not part of the transformers model: their unique parameters (one MoE
 * decoder layer + enorm, hnorm, eh_proj, shared_head.norm) are reported in
 * mt_totals.extra_params. Defaults from transformers' Glm4MoeConfig
 * (models/glm4_moe/configuration_glm4_moe.py); forward from modeling_glm4_moe.py. */
#include "moe.h"

typedef struct glm {
    int64_t first_dense, n_shared, nextn;
} glm;

static const mt_dec_names glm4_moe_names = {
    "Glm4MoeModel", "Glm4MoeDecoderLayer", "Glm4MoeAttention", "Glm4MoeMLP", "Glm4MoeRMSNorm",
    "Glm4MoeRotaryEmbedding",
};

static mt_status build_mlp(mt_model *m, const mt_dec_spec *s, mt_module *layer, int64_t index) {
    mt_moe_model *mm = s->ext;
    const glm *g = mm->fam;
    if (index >= g->first_dense && mm->moe.num_experts > 0)
        return mt_moe_build(m, mm, layer, "mlp") ? MT_OK : mt_ctx_status(m->ctx);
    return mt_dec_build_mlp(m, s, layer, index);
}

/* Unique parameters of one MTP layer: a MoE decoder layer with this model's
 * attention, plus enorm, hnorm (hidden each), eh_proj (2*hidden -> hidden) and
 * shared_head.norm (hidden). */
static int64_t mtp_params(const mt_moe_model *mm) {
    const mt_dec_spec *s = &mm->dec;
    const mt_moe_spec *e = &mm->moe;
    int64_t h = s->hidden, q = s->heads * s->head_dim, kv = s->kv_heads * s->head_dim;
    int64_t attn = h * q + 2 * h * kv + q * h;
    if (s->qkv_bias) attn += q + 2 * kv;
    if (s->caps.qk_norm != MT_QK_NORM_NONE) attn += 2 * s->head_dim;
    int64_t mlp = e->num_experts * h + e->num_experts * 3 * h * e->expert_inter + 3 * h * e->shared_inter;
    return attn + mlp + 2 * h + 2 * h + 2 * h * h + h;
}

static mt_status glm4_moe_build(mt_model *m) {
    mt_moe_model *mm = mt_moe_model_new(m);
    glm *g = mt_alloc(m->ctx, sizeof *g);
    if (!mm || !g) return mt_ctx_status(m->ctx);
    mm->fam = g;
    mt_dec_spec *s = &mm->dec;
    mt_config *c = m->cfg;
    s->cls = glm4_moe_names;
    /* Glm4MoeAttention: head_dim = getattr(config, "head_dim", hidden_size // num_attention_heads) */
    int64_t hidden, heads;
    if (!mt_config_pos_int(c, "hidden_size", 4096, &hidden) || !mt_config_pos_int(c, "num_attention_heads", 96, &heads))
        return mt_ctx_status(m->ctx);
    mt_dec_defaults d = {
        .vocab = 151552, .hidden = 4096, .intermediate = 10944, .layers = 46, .heads = 96, .kv_heads = 8,
        .norm_eps = 1e-5, .rope_theta = 10000.0, .hidden_act = "silu",
        .norm_eps_key = "rms_norm_eps", .tie_embeddings = false, .head_dim = hidden / heads,
    };
    if (mt_dec_read_common(m, s, &d) != MT_OK || mt_dec_read_rope(m, s) != MT_OK) return mt_ctx_status(m->ctx);
    bool bias, qk_norm;
    double prf;
    mt_moe_spec *e = &mm->moe;
    int64_t n_routed;
    if (!mt_config_bool(c, "attention_bias", false, &bias) || !mt_config_bool(c, "use_qk_norm", false, &qk_norm) ||
        !mt_config_float(c, "partial_rotary_factor", 0.5, &prf) ||
        !mt_config_int(c, "first_k_dense_replace", 1, &g->first_dense) ||
        !mt_config_int(c, "n_routed_experts", 128, &n_routed) || !mt_config_int(c, "n_shared_experts", 1, &g->n_shared) ||
        !mt_config_pos_int(c, "num_experts_per_tok", 8, &e->top_k) ||
        !mt_config_pos_int(c, "moe_intermediate_size", 1408, &e->expert_inter) ||
        !mt_config_float(c, "routed_scaling_factor", 1.0, &e->routed_scaling) ||
        !mt_config_bool(c, "norm_topk_prob", true, &e->norm_topk) ||
        !mt_config_pos_int(c, "n_group", 1, &e->n_group) || !mt_config_pos_int(c, "topk_group", 1, &e->topk_group) ||
        !mt_config_int(c, "num_nextn_predict_layers", 0, &g->nextn))
        return mt_ctx_status(m->ctx);
    if (n_routed < 0 || g->n_shared < 0 || g->first_dense < 0 || g->nextn < 0)
        return mt_config_error(c, n_routed < 0 ? "n_routed_experts" : g->n_shared < 0 ? "n_shared_experts"
                               : g->first_dense < 0 ? "first_k_dense_replace" : "num_nextn_predict_layers",
                            "expected a value >= 0 (glm4_moe)");
    s->qkv_bias = bias;
    s->o_bias = false;
    if (qk_norm) s->caps.qk_norm = MT_QK_NORM_HEAD;
    s->rotary_dim = (int64_t)((double)s->head_dim * prf); /* int(head_dim * partial_rotary_factor) */
    if (s->rotary_dim < 2 || s->rotary_dim % 2 != 0)
        return mt_config_error(c, "partial_rotary_factor", "head_dim %lld * %g gives %lld rotary channels; expected an "
                            "even number >= 2 (glm4_moe)", (long long)s->head_dim, prf, (long long)s->rotary_dim);
    e->num_experts = n_routed;
    if (n_routed > 0) {
        if (e->top_k > n_routed)
            return mt_config_error(c, "num_experts_per_tok", "expected 1..n_routed_experts (%lld), got %lld (glm4_moe)",
                                (long long)n_routed, (long long)e->top_k);
        if (n_routed % e->n_group != 0 || e->topk_group > e->n_group || n_routed / e->n_group < 2)
            return mt_config_error(c, "n_group", "n_routed_experts %lld must split into n_group %lld groups of at least 2 "
                                "with topk_group (%lld) <= n_group (glm4_moe)", (long long)n_routed,
                                (long long)e->n_group, (long long)e->topk_group);
    }
    e->router = MT_ROUTE_DEEPSEEK_V3;
    e->group_limited = true;
    e->block_cls = "Glm4MoeMoE";
    e->expert_cls = "Glm4MoeMLP";
    e->router_cls = "Glm4MoeTopkRouter";
    if (g->n_shared > 0) {
        e->shared_name = "shared_experts";
        e->shared_cls = "Glm4MoeMLP";
        e->shared_inter = e->expert_inter * g->n_shared;
    }
    s->hooks.build_mlp = build_mlp;
    s->hooks.mlp_forward = mt_moe_mlp_forward;
    if (mt_dec_build(m, s) != MT_OK) return mt_ctx_status(m->ctx);
    if (g->nextn > 0 && n_routed > 0) mm->extra_params = g->nextn * mtp_params(mm);
    mt_model_info(m, "n_routed_experts", mt_a_int(n_routed));
    mt_model_info(m, "n_shared_experts", mt_a_int(g->n_shared));
    mt_model_info(m, "num_experts_per_tok", mt_a_int(e->top_k));
    mt_model_info(m, "moe_intermediate_size", mt_a_int(e->expert_inter));
    mt_model_info(m, "first_k_dense_replace", mt_a_int(g->first_dense));
    mt_model_info(m, "num_nextn_predict_layers", mt_a_int(g->nextn));
    return MT_OK;
}

static mt_status glm4_moe_forward(mt_model *m, mt_tracer *tr) {
    mt_moe_model *mm = m->family;
    return mt_dec_forward(m, tr, &mm->dec);
}

const mt_arch mt_arch_glm4_moe = {
    .model_type = "glm4_moe",
    .default_class = "Glm4MoeForCausalLM",
    .example = "zai-org/GLM-4.5-Air",
    .build = glm4_moe_build,
    .forward = glm4_moe_forward,
    .totals = mt_moe_totals,
};
