/* Hunyuan (HunYuanMoEV1ForCausalLM, model_type hunyuan_v1_moe, and the
 * remote-code name hunyuan that the released Hunyuan-A13B configs carry;
 * HunYuanDenseV1ForCausalLM, hunyuan_v1_dense): Llama blocks whose attention
 * RMS-normalizes each query and key head after the rotary (query_layernorm,
 * key_layernorm on [batch, heads, seq, head_dim]; use_qk_norm). The MoE model's
 * every MLP is HunYuanMoEV1Moe: a shared MLP run first on the input, a gate
 * module holding a float32 Linear `wg` (the input cast to float32), softmax
 * top-k routing always renormalized, experts HunYuanMoEV1MLP, and the routed
 * output reshaped back and added to the shared one. num_experts and moe_topk
 * may be per-layer lists; with the remote-code fields, moe_intermediate_size
 * (per layer) sizes the experts and intermediate_size * num_shared_expert the
 * shared MLP, else intermediate_size sizes both (transformers' HunYuanMoEV1MLP).
 * Rotary: rope_scaling {"type": "dynamic", "alpha": ...} (NTK-alpha) changes
 * the base only, not the shapes. Cross-layer attention sharing (use_cla) is
 * refused. Defaults from transformers' HunYuanMoEV1Config / HunYuanDenseV1Config
 * (models/hunyuan_v1_moe, models/hunyuan_v1_dense); forwards from their
 * modeling files (4.56 form, experts as a ModuleList). */
#include <string.h>

#include <jansson.h>

#include "moe.h"

static const mt_dec_names moe_names = {
    "HunYuanMoEV1Model", "HunYuanMoEV1DecoderLayer", "HunYuanMoEV1Attention", "HunYuanMoEV1MLP",
    "HunYuanMoEV1RMSNorm", "HunYuanMoEV1RotaryEmbedding",
};
static const mt_dec_names dense_names = {
    "HunYuanDenseV1Model", "HunYuanDenseV1DecoderLayer", "HunYuanDenseV1Attention", "HunYuanDenseV1MLP",
    "HunYuanDenseV1RMSNorm", "HunYuanDenseV1RotaryEmbedding",
};

/* Per-layer MoE sizes. */
typedef struct hy {
    int64_t *experts, *topk, *inter, *shared_inter;
} hy;

/* An int or a per-layer list `key` (at least cfg_layers entries): out[i] for the first `layers`
 * layers; absent or null: def. */
static bool read_per_layer(mt_model *m, const char *key, int64_t def, int64_t cfg_layers, int64_t layers,
                           int64_t min, int64_t *out) {
    json_t *root = mt_config_json(m->cfg, "");
    json_t *v = root ? json_object_get(root, key) : NULL;
    if (!v || json_is_null(v) || json_is_integer(v)) {
        int64_t x;
        if (!mt_config_int(m->cfg, key, def, &x)) return false;
        if (x < min) {
            mt_config_error(m->cfg, key, "expected an integer >= %lld or a per-layer list, got %lld (%s)",
                         (long long)min, (long long)x, m->model_type);
            return false;
        }
        for (int64_t i = 0; i < layers; i++) out[i] = x;
        return true;
    }
    if (!json_is_array(v) || (int64_t)json_array_size(v) < cfg_layers) {
        mt_config_error(m->cfg, key, "expected an integer or a list of at least %lld per-layer integers "
                     "(num_hidden_layers) (%s)", (long long)cfg_layers, m->model_type);
        return false;
    }
    for (int64_t i = 0; i < layers; i++) {
        char field[64];
        snprintf(field, sizeof field, "%s.%lld", key, (long long)i);
        if (!mt_config_int(m->cfg, field, 0, &out[i])) return false;
        if (out[i] < min) {
            mt_config_error(m->cfg, field, "expected an integer >= %lld, got %lld (%s)", (long long)min,
                         (long long)out[i], m->model_type);
            return false;
        }
    }
    return true;
}

static mt_status build_mlp(mt_model *m, const mt_dec_spec *s, mt_module *layer, int64_t index) {
    mt_moe_model *mm = s->ext;
    const hy *h = mm->fam;
    mt_moe_spec *e = &mm->moe;
    e->num_experts = h->experts[index];
    e->top_k = h->topk[index];
    e->expert_inter = h->inter[index];
    e->shared_inter = h->shared_inter[index];
    return mt_moe_build(m, mm, layer, "mlp") ? MT_OK : mt_ctx_status(m->ctx);
}

/* The attention and dense-MLP settings both models share. */
static mt_status common(mt_model *m, mt_dec_spec *s, const mt_dec_names *names) {
    mt_config *c = m->cfg;
    s->cls = *names;
    int64_t hidden, heads;
    if (!mt_config_pos_int(c, "hidden_size", 4096, &hidden) || !mt_config_pos_int(c, "num_attention_heads", 32, &heads))
        return mt_ctx_status(m->ctx);
    /* head_dim: getattr(config, "head_dim", hidden_size // num_attention_heads); null means absent */
    mt_dec_defaults d = {
        .vocab = 290943, .hidden = 4096, .intermediate = 11008, .layers = 32, .heads = 32,
        .norm_eps = 1e-5, .rope_theta = 10000.0, .hidden_act = "silu",
        .norm_eps_key = "rms_norm_eps", .tie_embeddings = false, .head_dim = hidden / heads,
    };
    if (mt_dec_read_common(m, s, &d) != MT_OK || mt_dec_read_rope(m, s) != MT_OK) return mt_ctx_status(m->ctx);
    bool bias, qk_norm, cla;
    if (!mt_config_bool(c, "attention_bias", false, &bias) || !mt_config_bool(c, "use_qk_norm", true, &qk_norm) ||
        !mt_config_bool(c, "use_cla", false, &cla))
        return mt_ctx_status(m->ctx);
    if (cla)
        return mt_config_error(c, "use_cla", "cross-layer attention sharing (use_cla) is not supported (%s)",
                            m->model_type);
    s->qkv_bias = s->o_bias = bias;
    if (qk_norm) {
        s->caps.qk_norm = MT_QK_NORM_HEAD_POST_ROPE;
        s->names.q_norm = "query_layernorm";
        s->names.k_norm = "key_layernorm";
    }
    return MT_OK;
}

static mt_status moe_build(mt_model *m) {
    mt_moe_model *mm = mt_moe_model_new(m);
    hy *h = mt_alloc(m->ctx, sizeof *h);
    if (!mm || !h) return mt_ctx_status(m->ctx);
    mm->fam = h;
    mt_dec_spec *s = &mm->dec;
    mt_config *c = m->cfg;
    if (common(m, s, &moe_names) != MT_OK) return mt_ctx_status(m->ctx);
    int64_t cfg_layers, n = s->layers;
    bool mixed;
    if (!mt_config_int(c, "num_hidden_layers", 32, &cfg_layers) || !mt_config_bool(c, "use_mixed_mlp_moe", true, &mixed))
        return mt_ctx_status(m->ctx);
    if (strcmp(m->model_type, "hunyuan") == 0 && !mixed)
        return mt_config_error(c, "use_mixed_mlp_moe", "use_mixed_mlp_moe=false (no shared MLP) is not supported (%s)",
                            m->model_type);
    size_t sz = (size_t)(n > 0 ? n : 1);
    h->experts = mt_alloc_array(m->ctx, sz, sizeof *h->experts);
    h->topk = mt_alloc_array(m->ctx, sz, sizeof *h->topk);
    h->inter = mt_alloc_array(m->ctx, sz, sizeof *h->inter);
    h->shared_inter = mt_alloc_array(m->ctx, sz, sizeof *h->shared_inter);
    int64_t *nshared = mt_alloc_array(m->ctx, sz, sizeof *nshared);
    if (!h->experts || !h->topk || !h->inter || !h->shared_inter || !nshared) return mt_ctx_status(m->ctx);
    if (!read_per_layer(m, "num_experts", 1, cfg_layers, n, 1, h->experts) ||
        !read_per_layer(m, "moe_topk", 1, cfg_layers, n, 1, h->topk) ||
        !read_per_layer(m, "moe_intermediate_size", s->intermediate, cfg_layers, n, 1, h->inter) ||
        !read_per_layer(m, "num_shared_expert", 1, cfg_layers, n, 1, nshared))
        return mt_ctx_status(m->ctx);
    for (int64_t i = 0; i < n; i++) {
        if (h->topk[i] > h->experts[i]) {
            char field[48] = "moe_topk";
            if (json_is_array(json_object_get(mt_config_json(c, ""), "moe_topk")))
                snprintf(field, sizeof field, "moe_topk.%lld", (long long)i);
            return mt_config_error(c, field, "layer %lld routes to %lld experts of %lld (%s)", (long long)i,
                                (long long)h->topk[i], (long long)h->experts[i], m->model_type);
        }
        h->shared_inter[i] = s->intermediate * nshared[i];
    }
    mt_moe_spec *e = &mm->moe;
    e->router = MT_ROUTE_GATE_WG_FP32;
    e->norm_topk = true; /* routing_weights /= routing_weights.sum(dim=-1, keepdim=True), always */
    e->block_cls = "HunYuanMoEV1Moe";
    e->expert_cls = "HunYuanMoEV1MLP";
    e->router_cls = "HunYuanMoEV1Gate";
    e->shared_name = "shared_mlp";
    e->shared_cls = "HunYuanMoEV1MLP";
    e->shared_first = true;
    s->hooks.build_mlp = build_mlp;
    s->hooks.mlp_forward = mt_moe_mlp_forward;
    if (mt_dec_build(m, s) != MT_OK) return mt_ctx_status(m->ctx);
    if (n > 0) {
        mt_model_info(m, "num_experts", mt_a_int(h->experts[0]));
        mt_model_info(m, "moe_topk", mt_a_int(h->topk[0]));
    }
    return MT_OK;
}

static mt_status dense_build(mt_model *m) {
    mt_dec_spec *s = mt_alloc(m->ctx, sizeof *s);
    if (!s) return mt_ctx_status(m->ctx);
    m->family = s;
    if (common(m, s, &dense_names) != MT_OK) return mt_ctx_status(m->ctx);
    return mt_dec_build(m, s);
}

static mt_status moe_forward(mt_model *m, mt_tracer *tr) {
    mt_moe_model *mm = m->family;
    return mt_dec_forward(m, tr, &mm->dec);
}

static mt_status dense_forward(mt_model *m, mt_tracer *tr) { return mt_dec_forward(m, tr, m->family); }

static const char *const moe_aliases[] = {"hunyuan", NULL};

const mt_arch mt_arch_hunyuan_v1_moe = {
    .model_type = "hunyuan_v1_moe",
    .aliases = moe_aliases,
    .default_class = "HunYuanMoEV1ForCausalLM",
    .example = "tencent/Hunyuan-A13B-Instruct",
    .build = moe_build,
    .forward = moe_forward,
    .totals = mt_moe_totals,
};

const mt_arch mt_arch_hunyuan_v1_dense = {
    .model_type = "hunyuan_v1_dense",
    .default_class = "HunYuanDenseV1ForCausalLM",
    .example = "tencent/Hunyuan-7B-Instruct",
    .build = dense_build,
    .forward = dense_forward,
};
