/* DeepSeek-V2 (DeepseekV2ForCausalLM) and DeepSeek-V3 (DeepseekV3ForCausalLM):
 * a Llama-style decoder with multi-head latent attention and DeepSeekMoE.
 *
 * Attention (DeepseekV3Attention): q through a low-rank path q_a_proj ->
 * q_a_layernorm -> q_b_proj (or a plain q_proj when q_lora_rank is null),
 * heads of qk_nope_head_dim + qk_rope_head_dim; kv_a_proj_with_mqa gives the
 * kv_lora_rank latent plus one shared rotary key of qk_rope_head_dim;
 * kv_a_layernorm -> kv_b_proj expands the latent to per-head keys (nope) and
 * values (v_head_dim); o_proj from heads*v_head_dim. Rotary over
 * qk_rope_head_dim (interleaved layout when rope_interleave, the V3 default);
 * softmax scale qk_head_dim^-0.5 times yarn's mscale(factor, mscale_all_dim)^2.
 * V2's complex-number rotary is recorded with the same real-valued formula
 * (same shapes).
 *
 * MLP: dense DeepseekV3MLP for layers < first_k_dense_replace or off the
 * moe_layer_freq grid, else the MoE block: n_routed_experts experts of
 * moe_intermediate_size, a router `gate` (V3: sigmoid scores with
 * e_score_correction_bias, group-limited top-k, renormalized, scaled; V2:
 * softmax, greedy or group-limited), and n_shared_experts fused into one
 * shared_experts MLP of moe_intermediate_size * n_shared_experts.
 *
 * DeepSeek-V3's multi-token-prediction module (num_nextn_predict_layers
 * layers stored as model.layers.<num_hidden_layers + i>.*) is not part of
 * the transformers model; its unique parameters (one MoE decoder layer +
 * enorm, hnorm, eh_proj, shared_head.norm; embed_tokens and shared_head.head
 * are shared with the main model) are reported in mt_totals.extra_params. */
#include <math.h>
#include <string.h>

#include "moe.h"

typedef struct dsk {
    bool v3;
    int64_t q_lora, kv_lora, nope, rope, v_dim, qk_dim;
    int64_t first_dense, freq, n_shared, nextn;
    bool attn_bias, interleave;
    double scaling;
} dsk;

static const mt_dec_names v2_names = {
    "DeepseekV2Model", "DeepseekV2DecoderLayer", "DeepseekV2Attention", "DeepseekV2MLP", "DeepseekV2RMSNorm",
    "DeepseekV2RotaryEmbedding",
};
static const mt_dec_names v3_names = {
    "DeepseekV3Model", "DeepseekV3DecoderLayer", "DeepseekV3Attention", "DeepseekV3MLP", "DeepseekV3RMSNorm",
    "DeepseekV3RotaryEmbedding",
};

/* DeepseekV2Config / DeepseekV3Config defaults (transformers). */
static const mt_dec_defaults v2_defaults = {
    .vocab = 102400, .hidden = 4096, .intermediate = 11008, .layers = 30, .heads = 32,
    .norm_eps = 1e-6, .rope_theta = 10000.0, .hidden_act = "silu",
    .norm_eps_key = "rms_norm_eps", .tie_embeddings = false,
};
static const mt_dec_defaults v3_defaults = {
    .vocab = 129280, .hidden = 7168, .intermediate = 18432, .layers = 61, .heads = 128,
    .norm_eps = 1e-6, .rope_theta = 10000.0, .hidden_act = "silu",
    .norm_eps_key = "rms_norm_eps", .tie_embeddings = false,
};

static const mt_sym *C(mt_tracer *tr, int64_t v) { return mt_sym_const(tr->ctx, v); }

/* ---- attention ---- */

/* Multi-head latent attention's handle (blocks.h, "handles bound at build"): q_a/q_a_layernorm/q_b
 * with q_lora_rank, else q_proj (the others NULL); the sparse blocks and the decoder are the shared
 * blocks'. */
typedef struct mla_h {
    mt_module *q_a, *q_a_ln, *q_b, *q, *kv_a, *kv_a_ln, *kv_b, *o;
} mla_h;
static const mt_handle_kind mla_h_kind = {"deepseek mla_h"};

static mt_status build_mla(mt_model *m, const mt_dec_spec *s, mt_module *L, int64_t index) {
    (void)index;
    mt_ctx *ctx = m->ctx;
    const mt_moe_model *mm = s->ext;
    const dsk *d = mm->fam;
    mt_dtype dt = s->dtype;
    mt_device dev = MT_DEVICE_CPU;
    mt_module *at = mt_module_new(ctx, L, "self_attn", s->cls.attn);
    mla_h *h = MT_BIND(ctx, at, mla_h);
    if (!h) return mt_ctx_status(ctx);
    mt_module_attr(ctx, at, "num_heads", mt_a_int(s->heads));
    mt_module_attr(ctx, at, "q_lora_rank", d->q_lora ? mt_a_int(d->q_lora) : mt_a_none());
    mt_module_attr(ctx, at, "kv_lora_rank", mt_a_int(d->kv_lora));
    mt_module_attr(ctx, at, "qk_head_dim", mt_a_int(d->qk_dim));
    mt_module_attr(ctx, at, "v_head_dim", mt_a_int(d->v_dim));
    mt_module_attr(ctx, at, "scaling", mt_a_float(d->scaling));
    int64_t hq = s->heads * d->qk_dim;
    if (d->q_lora) {
        if (!(h->q_a = mt_nn_linear(ctx, at, "q_a_proj", s->hidden, d->q_lora, d->attn_bias, dt, dev)) ||
            !(h->q_a_ln = mt_dec_rms_norm(m, at, "q_a_layernorm", s, d->q_lora)) ||
            !(h->q_b = mt_nn_linear(ctx, at, "q_b_proj", d->q_lora, hq, false, dt, dev)))
            return mt_ctx_status(ctx);
    } else if (!(h->q = mt_nn_linear(ctx, at, "q_proj", s->hidden, hq, false, dt, dev))) {
        return mt_ctx_status(ctx);
    }
    if (!(h->kv_a = mt_nn_linear(ctx, at, "kv_a_proj_with_mqa", s->hidden, d->kv_lora + d->rope, d->attn_bias, dt,
                                 dev)) ||
        !(h->kv_a_ln = mt_dec_rms_norm(m, at, "kv_a_layernorm", s, d->kv_lora)) ||
        !(h->kv_b = mt_nn_linear(ctx, at, "kv_b_proj", d->kv_lora, s->heads * (d->nope + d->v_dim), false, dt, dev)) ||
        !(h->o = mt_nn_linear(ctx, at, "o_proj", s->heads * d->v_dim, s->hidden, d->attn_bias, dt, dev)))
        return mt_ctx_status(ctx);
    return MT_OK;
}

/* apply_rotary_pos_emb_interleave's de-interleave: x.view(b, h, s, d/2, 2).transpose(4, 3).reshape(b, h, s, d) */
static mt_tensor *deinterleave(mt_tracer *tr, mt_tensor *x) {
    if (!x) return NULL;
    const mt_sym *d = x->shape[3];
    const mt_sym *v5[5] = {x->shape[0], x->shape[1], x->shape[2], mt_sym_floordiv(tr->ctx, d, 2), C(tr, 2)};
    mt_tensor *y = mt_transpose(tr, mt_view(tr, x, 5, v5), 4, 3);
    const mt_sym *r4[4] = {x->shape[0], x->shape[1], x->shape[2], d};
    return mt_reshape(tr, y, 4, r4);
}

static mt_tensor *mla_forward(mt_tracer *tr, mt_module *at, mt_tensor *x, mt_tensor *mask, mt_tensor *cos,
                              mt_tensor *sin, const mt_dec_spec *s) {
    if (!x) return NULL;
    const mla_h *h = MT_BOUND(tr, at, mla_h);
    if (!h) return NULL;
    const mt_moe_model *mm = s->ext;
    const dsk *d = mm->fam;
    const mt_sym *b = x->shape[0], *L = x->shape[1];
    mt_tr_enter(tr, at);
    mt_tensor *q;
    if (d->q_lora) {
        q = mt_tr_call(tr, h->q_a, x);
        q = mt_dec_rms_forward(tr, h->q_a_ln, q);
        q = mt_tr_call(tr, h->q_b, q);
    } else {
        q = mt_tr_call(tr, h->q, x);
    }
    const mt_sym *qs[4] = {b, L, NULL, C(tr, d->qk_dim)};
    q = mt_transpose(tr, mt_view(tr, q, 4, qs), 1, 2);
    int64_t qsplit[2] = {d->nope, d->rope};
    mt_node *qp = mt_split(tr, q, 2, qsplit, -1);
    mt_tensor *q_pass = mt_tr_item(tr, qp, 0), *q_rot = mt_tr_item(tr, qp, 1);
    mt_tensor *ckv = mt_tr_call(tr, h->kv_a, x);
    int64_t ksplit[2] = {d->kv_lora, d->rope};
    mt_node *kp = mt_split(tr, ckv, 2, ksplit, -1);
    mt_tensor *k_pass = mt_tr_item(tr, kp, 0), *k_rot = mt_tr_item(tr, kp, 1);
    k_pass = mt_dec_rms_forward(tr, h->kv_a_ln, k_pass);
    k_pass = mt_tr_call(tr, h->kv_b, k_pass);
    const mt_sym *ks[4] = {b, L, NULL, C(tr, d->nope + d->v_dim)};
    k_pass = mt_transpose(tr, mt_view(tr, k_pass, 4, ks), 1, 2);
    int64_t vsplit[2] = {d->nope, d->v_dim};
    mt_node *vp = mt_split(tr, k_pass, 2, vsplit, -1);
    k_pass = mt_tr_item(tr, vp, 0);
    mt_tensor *v = mt_tr_item(tr, vp, 1);
    const mt_sym *kr[4] = {b, C(tr, 1), L, C(tr, d->rope)};
    k_rot = mt_view(tr, k_rot, 4, kr);
    mt_tensor *c = mt_unsqueeze(tr, cos, 1), *sn = mt_unsqueeze(tr, sin, 1);
    if (d->interleave) {
        q_rot = deinterleave(tr, q_rot);
        k_rot = deinterleave(tr, k_rot);
    }
    q_rot = mt_rope_apply(tr, q_rot, c, sn, MT_ROPE_HALF, 0);
    k_rot = mt_rope_apply(tr, k_rot, c, sn, MT_ROPE_HALF, 0);
    if (k_pass) {
        const mt_sym *ex[4] = {k_pass->shape[0], k_pass->shape[1], k_pass->shape[2], NULL};
        k_rot = mt_expand(tr, k_rot, 4, ex);
    }
    mt_tensor *qc[2] = {q_pass, q_rot}, *kc[2] = {k_pass, k_rot};
    mt_tensor *qst = mt_cat(tr, qc, 2, -1), *kst = mt_cat(tr, kc, 2, -1);
    mt_tensor *m4 = NULL;
    if (mask && kst) {
        mt_arg idx[4] = {mt_a_slice(NULL, NULL, NULL), mt_a_slice(NULL, NULL, NULL), mt_a_slice(NULL, NULL, NULL),
                         mt_a_slice(NULL, kst->shape[2], NULL)};
        m4 = mt_index(tr, mask, idx, 4);
    }
    mt_tensor *o = NULL;
    if (qst && kst && v && m4) {
        mt_arg a[3] = {mt_a_tensor(qst), mt_a_tensor(kst), mt_a_tensor(v)};
        mt_kwarg kw[4] = {{"attn_mask", mt_a_tensor(m4)}, {"dropout_p", mt_a_float(0.0)},
                          {"scale", mt_a_float(d->scaling)}, {"is_causal", mt_a_bool(false)}};
        o = mt_tr_op1(tr, MT_OP_SDPA, a, 3, kw, 4);
    }
    o = mt_contiguous(tr, mt_transpose(tr, o, 1, 2));
    const mt_sym *os[3] = {b, L, NULL};
    o = mt_contiguous(tr, mt_reshape(tr, o, 3, os));
    o = mt_tr_call(tr, h->o, o);
    mt_tr_leave(tr);
    return o;
}

/* ---- MLP ---- */

static bool layer_moe(const mt_moe_model *mm, int64_t i) {
    const dsk *d = mm->fam;
    return mm->moe.num_experts > 0 && i >= d->first_dense && i % d->freq == 0;
}

static mt_status build_mlp(mt_model *m, const mt_dec_spec *s, mt_module *layer, int64_t index) {
    mt_moe_model *mm = s->ext;
    if (layer_moe(mm, index)) return mt_moe_build(m, mm, layer, "mlp") ? MT_OK : mt_ctx_status(m->ctx);
    return mt_dec_build_mlp(m, s, layer, index);
}

/* ---- config ---- */

static double yarn_mscale(double scale, double m) { return scale <= 1.0 ? 1.0 : 0.1 * m * log(scale) + 1.0; }

static mt_status read_rope(mt_model *m, mt_moe_model *mm, dsk *d) {
    mt_dec_spec *s = &mm->dec;
    mt_config *c = m->cfg;
    if (mt_dec_read_rope(m, s) != MT_OK) return mt_ctx_status(m->ctx);
    d->scaling = 1.0 / sqrt((double)d->qk_dim);
    s->attention_scaling = 1.0;
    if (strcmp(s->rope_type, "yarn") == 0) {
        double f, ms = 0, msa = 0, af = 0;
        if (!mt_config_float(c, "rope_scaling.factor", 1.0, &f) || !mt_config_float(c, "rope_scaling.mscale", 0, &ms) ||
            !mt_config_float(c, "rope_scaling.mscale_all_dim", 0, &msa) ||
            !mt_config_float(c, "rope_scaling.attention_factor", 0, &af))
            return mt_ctx_status(m->ctx);
        /* DeepseekV3Attention: scaling *= mscale(factor, mscale_all_dim)^2 when mscale_all_dim is set */
        if (msa != 0) {
            double k = yarn_mscale(f, msa);
            d->scaling *= k * k;
        }
        /* _compute_yarn_parameters: attention_factor, else mscale ratio, else mscale(factor) */
        if (af != 0) s->attention_scaling = af;
        else if (ms != 0 && msa != 0) s->attention_scaling = yarn_mscale(f, ms) / yarn_mscale(f, msa);
        else s->attention_scaling = yarn_mscale(f, 1.0);
    }
    return MT_OK;
}

/* Unique parameters of the MTP module(s): one MoE decoder layer each, plus
 * enorm, hnorm, eh_proj (2*hidden -> hidden) and shared_head.norm. */
static int64_t mtp_params(const mt_moe_model *mm) {
    const mt_dec_spec *s = &mm->dec;
    const dsk *d = mm->fam;
    const mt_moe_spec *e = &mm->moe;
    int64_t h = s->hidden, H = s->heads;
    int64_t attn = d->q_lora ? h * d->q_lora + d->q_lora + d->q_lora * H * d->qk_dim : h * H * d->qk_dim;
    attn += h * (d->kv_lora + d->rope) + d->kv_lora + d->kv_lora * H * (d->nope + d->v_dim) + H * d->v_dim * h;
    if (d->attn_bias) attn += (d->q_lora ? d->q_lora : 0) + d->kv_lora + d->rope + h;
    int64_t mlp = e->num_experts * h + e->num_experts * 3 * h * e->expert_inter + 3 * h * e->shared_inter;
    int64_t layer = attn + 2 * h + mlp;
    return d->nextn * (layer + 2 * h + 2 * h * h + h);
}

static mt_status dsk_build(mt_model *m, bool v3) {
    mt_moe_model *mm = mt_moe_model_new(m);
    dsk *d = mt_alloc(m->ctx, sizeof *d);
    if (!mm || !d) return mt_ctx_status(m->ctx);
    mm->fam = d;
    d->v3 = v3;
    mt_dec_spec *s = &mm->dec;
    mt_config *c = m->cfg;
    s->cls = v3 ? v3_names : v2_names;
    if (mt_dec_read_common(m, s, v3 ? &v3_defaults : &v2_defaults) != MT_OK) return mt_ctx_status(m->ctx);
    mt_moe_spec *e = &mm->moe;
    int64_t n_routed = 0, n_shared = 0;
    const char *topk_method = NULL;
    if (!mt_config_int(c, "q_lora_rank", 1536, &d->q_lora) || !mt_config_pos_int(c, "kv_lora_rank", 512, &d->kv_lora) ||
        !mt_config_pos_int(c, "qk_nope_head_dim", 128, &d->nope) || !mt_config_pos_int(c, "qk_rope_head_dim", 64, &d->rope) ||
        !mt_config_pos_int(c, "v_head_dim", 128, &d->v_dim) || !mt_config_bool(c, "attention_bias", false, &d->attn_bias) ||
        !mt_config_bool(c, "rope_interleave", true, &d->interleave) ||
        !mt_config_int(c, "first_k_dense_replace", v3 ? 3 : 0, &d->first_dense) ||
        !mt_config_pos_int(c, "moe_layer_freq", 1, &d->freq) ||
        !mt_config_int(c, "n_routed_experts", v3 ? 256 : 0, &n_routed) ||
        !mt_config_int(c, "n_shared_experts", v3 ? 1 : 0, &n_shared) ||
        !mt_config_int(c, "num_experts_per_tok", v3 ? 8 : 0, &e->top_k) ||
        !mt_config_pos_int(c, "moe_intermediate_size", v3 ? 2048 : 1407, &e->expert_inter) ||
        !mt_config_float(c, "routed_scaling_factor", v3 ? 2.5 : 1.0, &e->routed_scaling) ||
        !mt_config_bool(c, "norm_topk_prob", v3, &e->norm_topk) ||
        !mt_config_int(c, "n_group", v3 ? 8 : 1, &e->n_group) || !mt_config_int(c, "topk_group", v3 ? 4 : 1, &e->topk_group) ||
        !mt_config_str(c, "topk_method", v3 ? "noaux_tc" : "greedy", &topk_method) ||
        !mt_config_int(c, "num_nextn_predict_layers", 0, &d->nextn))
        return mt_ctx_status(m->ctx);
    if (!mt_config_has(c, "q_lora_rank")) d->q_lora = mt_dec_cfg_is_null(m, "q_lora_rank") ? 0 : d->q_lora;
    if (d->q_lora < 0) return mt_config_error(c, "q_lora_rank", "expected a positive rank or null, got %lld", (long long)d->q_lora);
    if (n_routed < 0 || n_shared < 0 || d->first_dense < 0 || d->nextn < 0)
        return mt_config_error(c, n_routed < 0 ? "n_routed_experts" : n_shared < 0 ? "n_shared_experts"
                               : d->first_dense < 0 ? "first_k_dense_replace" : "num_nextn_predict_layers",
                            "expected a value >= 0 (%s)", m->model_type);
    d->qk_dim = d->nope + d->rope;
    s->head_dim = d->rope;
    s->rotary_dim = d->rope;
    if (read_rope(m, mm, d) != MT_OK) return mt_ctx_status(m->ctx);
    e->num_experts = n_routed;
    if (n_routed > 0) {
        if (e->top_k <= 0 || e->top_k > n_routed)
            return mt_config_error(c, "num_experts_per_tok", "expected 1..n_routed_experts (%lld), got %lld (%s)",
                                (long long)n_routed, (long long)e->top_k, m->model_type);
        bool grouped = v3 || strcmp(topk_method, "group_limited_greedy") == 0;
        if (!v3 && strcmp(topk_method, "greedy") != 0 && !grouped)
            return mt_config_error(c, "topk_method", "expected \"greedy\" or \"group_limited_greedy\", got \"%s\"", topk_method);
        if (grouped && (e->n_group <= 0 || n_routed % e->n_group != 0 || e->topk_group <= 0 || e->topk_group > e->n_group))
            return mt_config_error(c, "n_group", "n_routed_experts %lld must split into n_group %lld groups with "
                                "1 <= topk_group (%lld) <= n_group (%s)", (long long)n_routed, (long long)e->n_group,
                                (long long)e->topk_group, m->model_type);
        e->group_limited = grouped;
    }
    e->router = v3 ? MT_ROUTE_DEEPSEEK_V3 : MT_ROUTE_DEEPSEEK_V2;
    e->block_cls = v3 ? "DeepseekV3MoE" : "DeepseekV2Moe";
    e->expert_cls = s->cls.mlp;
    e->router_cls = "DeepseekV3TopkRouter";
    if (n_shared > 0) {
        e->shared_name = "shared_experts";
        e->shared_cls = s->cls.mlp;
        e->shared_inter = e->expert_inter * n_shared;
    }
    d->n_shared = n_shared;
    s->hooks.build_attn = build_mla;
    s->hooks.attn_forward = mla_forward;
    s->hooks.build_mlp = build_mlp;
    s->hooks.mlp_forward = mt_moe_mlp_forward;
    if (mt_dec_build(m, s) != MT_OK) return mt_ctx_status(m->ctx);
    if (v3 && d->nextn > 0 && n_routed > 0) mm->extra_params = mtp_params(mm);
    mt_model_info(m, "kv_lora_rank", mt_a_int(d->kv_lora));
    mt_model_info(m, "q_lora_rank", d->q_lora ? mt_a_int(d->q_lora) : mt_a_none());
    mt_model_info(m, "n_routed_experts", mt_a_int(n_routed));
    mt_model_info(m, "n_shared_experts", mt_a_int(n_shared));
    mt_model_info(m, "num_experts_per_tok", mt_a_int(e->top_k));
    mt_model_info(m, "first_k_dense_replace", mt_a_int(d->first_dense));
    mt_model_info(m, "num_nextn_predict_layers", mt_a_int(d->nextn));
    return MT_OK;
}

static mt_status v2_build(mt_model *m) { return dsk_build(m, false); }
static mt_status v3_build(mt_model *m) { return dsk_build(m, true); }

static mt_status dsk_forward(mt_model *m, mt_tracer *tr) {
    mt_moe_model *mm = m->family;
    return mt_dec_forward(m, tr, &mm->dec);
}

const mt_arch mt_arch_deepseek_v2 = {
    .model_type = "deepseek_v2",
    .default_class = "DeepseekV2ForCausalLM",
    .example = "deepseek-ai/DeepSeek-V2-Lite",
    .build = v2_build,
    .forward = dsk_forward,
    .totals = mt_moe_totals,
};

const mt_arch mt_arch_deepseek_v3 = {
    .model_type = "deepseek_v3",
    .default_class = "DeepseekV3ForCausalLM",
    .example = "deepseek-ai/DeepSeek-V3",
    .build = v3_build,
    .forward = dsk_forward,
    .totals = mt_moe_totals,
};
