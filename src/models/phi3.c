/* Phi-3 (Phi3ForCausalLM): the Llama decoder with a fused qkv_proj
 * ([q | k | v] rows, o_proj registered first), a fused gate_up_proj
 * (chunk(2): gate then up), partial rotary (partial_rotary_factor) and
 * longrope/su scaling. Defaults: transformers' Phi3Config. */
#include <jansson.h>
#include <math.h>
#include <string.h>

#include "classic.h"

static const mt_dec_names phi3_names = {
    "Phi3Model", "Phi3DecoderLayer", "Phi3Attention", "Phi3MLP", "Phi3RMSNorm", "Phi3RotaryEmbedding",
};

/* Phi3Config defaults (configuration_phi3.py). */
static const mt_dec_defaults phi3_defaults = {
    .vocab = 32064, .hidden = 3072, .intermediate = 8192, .layers = 32, .heads = 32,
    .norm_eps = 1e-5, .rope_theta = 10000.0, .hidden_act = "silu",
    .norm_eps_key = "rms_norm_eps", .tie_embeddings = false,
};

static mt_status phi3_build_attn(mt_model *m, const mt_dec_spec *s, mt_module *L, int64_t index) {
    (void)index;
    mt_module *at = mt_module_new(m->ctx, L, "self_attn", s->cls.attn);
    mt_attn_h *h = MT_BIND(m->ctx, at, mt_attn_h); /* the shared attention handle: o_proj, the fused qkv_proj */
    if (!h) return mt_ctx_status(m->ctx);
    int64_t q = s->heads * s->head_dim, kv = s->kv_heads * s->head_dim;
    /* __init__ order: o_proj, then qkv_proj */
    if (!(h->o = cl_linear(m, at, "o_proj", q, s->hidden, false)) ||
        !(h->qkv = cl_linear(m, at, "qkv_proj", s->hidden, q + 2 * kv, false)))
        return mt_ctx_status(m->ctx);
    return MT_OK;
}

static mt_status phi3_build_mlp(mt_model *m, const mt_dec_spec *s, mt_module *L, int64_t index) {
    (void)index;
    mt_module *mlp = mt_module_new(m->ctx, L, "mlp", s->cls.mlp);
    mt_mlp_h *h = MT_BIND(m->ctx, mlp, mt_mlp_h); /* the shared MLP handle: up = the fused gate_up_proj */
    if (!h || !(h->up = cl_linear(m, mlp, "gate_up_proj", s->hidden, 2 * s->intermediate, false)) ||
        !(h->down = cl_linear(m, mlp, "down_proj", s->intermediate, s->hidden, false)) ||
        !(h->act = mt_act_new(m, mlp, "activation_fn", s->hidden_act, "hidden_act")))
        return mt_ctx_status(m->ctx);
    return MT_OK;
}

static mt_tensor *phi3_mlp_forward(mt_tracer *tr, mt_module *mlp, mt_tensor *x, const mt_dec_spec *s) {
    (void)s;
    const mt_mlp_h *h = MT_BOUND(tr, mlp, mt_mlp_h);
    if (!h) return NULL;
    mt_tr_enter(tr, mlp);
    mt_tensor *up = mt_tr_call(tr, h->up, x);
    mt_node *ch = up ? mt_chunk(tr, up, 2, -1) : NULL;
    mt_tensor *gate = ch ? mt_tr_item(tr, ch, 0) : NULL, *u = ch ? mt_tr_item(tr, ch, 1) : NULL;
    u = mt_mul(tr, u, mt_act_forward(tr, h->act, gate));
    mt_tensor *y = mt_tr_call(tr, h->down, u);
    mt_tr_leave(tr);
    return y;
}

static mt_tensor *phi3_attn_forward(mt_tracer *tr, mt_module *at, mt_tensor *x, mt_tensor *mask, mt_tensor *cos,
                                    mt_tensor *sin, const mt_dec_spec *s) {
    mt_ctx *ctx = tr->ctx;
    const mt_attn_h *h = MT_BOUND(tr, at, mt_attn_h);
    if (!h) return NULL;
    mt_tr_enter(tr, at);
    mt_tensor *qkv = mt_tr_call(tr, h->qkv, x);
    int64_t qp = s->heads * s->head_dim, kvp = s->kv_heads * s->head_dim;
    mt_tensor *q = mt_slice_last(tr, qkv, NULL, mt_sym_const(ctx, qp));
    mt_tensor *k = mt_slice_last(tr, qkv, mt_sym_const(ctx, qp), mt_sym_const(ctx, qp + kvp));
    mt_tensor *v = mt_slice_last(tr, qkv, mt_sym_const(ctx, qp + kvp), NULL);
    q = cl_split_heads(tr, q, s->heads, s->head_dim);
    k = cl_split_heads(tr, k, s->kv_heads, s->head_dim);
    v = cl_split_heads(tr, v, s->kv_heads, s->head_dim);
    q = cl_apply_rotary(tr, q, cos, sin, s->rotary_dim, false);
    k = cl_apply_rotary(tr, k, cos, sin, s->rotary_dim, false);
    k = mt_dec_repeat_kv(tr, k, s->heads / s->kv_heads);
    v = mt_dec_repeat_kv(tr, v, s->heads / s->kv_heads);
    mt_tensor *m4 = NULL;
    if (mask && k) {
        mt_arg idx[4] = {mt_a_slice(NULL, NULL, NULL), mt_a_slice(NULL, NULL, NULL), mt_a_slice(NULL, NULL, NULL),
                         mt_a_slice(NULL, k->shape[2], NULL)};
        m4 = mt_index(tr, mask, idx, 4);
    }
    mt_tensor *o = cl_merge_heads(tr, cl_sdpa(tr, q, k, v, m4, 1.0 / sqrt((double)s->head_dim)));
    o = mt_tr_call(tr, h->o, o);
    mt_tr_leave(tr);
    return o;
}

/* longrope / su: short_factor and long_factor must have rotary_dim / 2 entries;
 * cos/sin are scaled by sqrt(1 + ln(max_pos / orig) / ln(orig)) when max_pos > orig
 * (transformers' _compute_longrope_parameters). */
static mt_status phi3_longrope(mt_model *m, mt_dec_spec *s) {
    if (strcmp(s->rope_type, "longrope") != 0 && strcmp(s->rope_type, "su") != 0) return MT_OK;
    int64_t maxpos, orig;
    if (!mt_config_pos_int(m->cfg, "max_position_embeddings", 4096, &maxpos) ||
        !mt_config_pos_int(m->cfg, "original_max_position_embeddings", 4096, &orig))
        return mt_ctx_status(m->ctx);
    const char *keys[2] = {"rope_scaling.short_factor", "rope_scaling.long_factor"};
    for (int i = 0; i < 2; i++) {
        json_t *f = mt_config_json(m->cfg, keys[i]);
        if (!f || !json_is_array(f))
            return mt_config_error(m->cfg, keys[i], "missing required list '%s' for longrope scaling (%s)", keys[i],
                                m->model_type);
        if ((int64_t)json_array_size(f) != s->rotary_dim / 2)
            return mt_config_error(m->cfg, keys[i], "expected %lld entries (rotary dim / 2), got %zu",
                                (long long)(s->rotary_dim / 2), json_array_size(f));
    }
    double factor = (double)maxpos / (double)orig, af = 1.0;
    if (mt_config_has(m->cfg, "rope_scaling.attention_factor")) {
        if (!mt_config_float(m->cfg, "rope_scaling.attention_factor", 1.0, &af)) return mt_ctx_status(m->ctx);
    } else if (factor > 1.0) {
        af = sqrt(1.0 + log(factor) / log((double)orig));
    }
    s->attention_scaling = af;
    return MT_OK;
}

static mt_status phi3_build(mt_model *m) {
    mt_dec_spec *s = mt_alloc(m->ctx, sizeof *s);
    if (!s) return mt_ctx_status(m->ctx);
    m->family = s;
    s->cls = phi3_names;
    if (mt_dec_read_common(m, s, &phi3_defaults) != MT_OK) return mt_ctx_status(m->ctx);
    m->dtype = s->dtype; /* the fused projections are built with cl_linear */
    double prf;
    if (!mt_config_float(m->cfg, "partial_rotary_factor", 1.0, &prf)) return mt_ctx_status(m->ctx);
    if (prf <= 0 || prf > 1) return mt_config_error(m->cfg, "partial_rotary_factor", "expected a number in (0, 1], got %g", prf);
    s->rotary_dim = (int64_t)(s->head_dim * prf);
    if (mt_dec_read_rope(m, s) != MT_OK || phi3_longrope(m, s) != MT_OK) return mt_ctx_status(m->ctx);
    s->hooks.build_attn = phi3_build_attn;
    s->hooks.build_mlp = phi3_build_mlp;
    s->hooks.attn_forward = phi3_attn_forward;
    s->hooks.mlp_forward = phi3_mlp_forward;
    return mt_dec_build(m, s);
}

static mt_status phi3_forward(mt_model *m, mt_tracer *tr) { return mt_dec_forward(m, tr, m->family); }

const mt_arch mt_arch_phi3 = {
    .model_type = "phi3",
    .default_class = "Phi3ForCausalLM",
    .example = "microsoft/Phi-3-mini-128k-instruct",
    .build = phi3_build,
    .forward = phi3_forward,
};
