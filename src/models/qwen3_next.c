/* Qwen3-Next (Qwen3NextForCausalLM): a hybrid decoder. Each layer's token
 * mixer is a Gated DeltaNet linear attention ("linear_attn") or, every
 * full_attention_interval layers (layer_types), a gated full attention
 * ("self_attn"); the MLP is Qwen2-MoE's sparse block with a sigmoid-gated
 * shared expert (dense Qwen3NextMLP on mlp_only_layers and off the
 * decoder_sparse_step); every RMSNorm is Gemma's (1 + weight). Read at the
 * source: transformers, src/transformers/models/qwen3_next/modeling_qwen3_next.py
 * and configuration_qwen3_next.py (the v4.57 layout the checkpoints store:
 * experts a ModuleList of Qwen3NextMLP, the router a Linear `gate`).
 *
 * Gated attention (Qwen3NextAttention): q_proj gives 2 * heads * head_dim,
 * viewed [b, s, heads, 2 * head_dim] and torch.chunk'ed into the query and the
 * gate; q_norm/k_norm over head_dim (after the view, before the transpose);
 * partial rotary on the first int(head_dim * partial_rotary_factor) channels
 * (apply_rotary_pos_emb: q/k split at cos.shape[-1], rotated, concatenated);
 * sdpa or eager; the output times sigmoid(gate) before o_proj.
 *
 * Gated DeltaNet (Qwen3NextGatedDeltaNet.forward without a cache, the torch
 * path): the padding mask (apply_mask_to_padding_states, recorded as the
 * general case, as Bamba's), in_proj_qkvz and in_proj_ba,
 * fix_query_key_value_ordering (views per key head, torch.split, reshapes),
 * cat(q, k, v), transpose, the depthwise causal conv1d sliced back to seq,
 * F.silu, split, per-head reshapes, beta = b.sigmoid(), g = -A_log.float().exp()
 * * softplus(a.float() + dt_bias), q/k repeat_interleave'd to the value heads,
 * then torch_chunk_gated_delta_rule as one leaf op (its Python loop runs over
 * the chunks, whose number depends on seq; docs/ops.md), the gated RMSNorm
 * (Qwen3NextRMSNormGated, traced through) on [-1, head_v_dim] rows, out_proj.
 * The layer carries num_heads (value heads), head_dim (key head dim) and
 * ssm_state_size (value head dim) and state_dtype float32, so the sizing pass
 * reports its recurrent state [num_v_heads, head_k_dim, head_v_dim] (float32,
 * as the chunked rule returns it) and its conv state [conv_dim, kernel].
 * Where the graph departs from FX's recording (the project's conventions, as
 * Bamba's): .float() is .to(torch.float32), the .exp() and .sigmoid() methods
 * are torch.exp / torch.sigmoid, torch.split and torch.chunk are the methods
 * (same rules); the second element of the rule's tuple (None without a cache)
 * is not recorded. */
#include <math.h>
#include <string.h>

#include <jansson.h>

#include "qwen3_next.h"

static const mt_dec_names qwen3_next_names = {
    "Qwen3NextModel", "Qwen3NextDecoderLayer", "Qwen3NextAttention", "Qwen3NextMLP", "Qwen3NextRMSNorm",
    "Qwen3NextRotaryEmbedding",
};

/* Qwen3NextConfig defaults. */
static const mt_dec_defaults qwen3_next_defaults = {
    .vocab = 151936, .hidden = 2048, .intermediate = 5632, .layers = 48, .heads = 16, .kv_heads = 2,
    .norm_eps = 1e-6, .rope_theta = 10000.0, .hidden_act = "silu", .norm_eps_key = "rms_norm_eps",
    .tie_embeddings = false, .head_dim = 256,
};

typedef mt_qnext qnext;

static const mt_sym *K(mt_tracer *tr, int64_t v) { return mt_sym_const(tr->ctx, v); }
static const qnext *fam_of(const mt_dec_spec *s) { return ((const mt_moe_model *)s->ext)->fam; }

/* ---- build ---- */

/* The Gated DeltaNet's handle (blocks.h, "handles bound at build"): Qwen3-Next's fused projections
 * (in_qkvz, in_ba) or Qwen3.5's split ones (in_qkv, in_z, in_b, in_a), the rest shared. The gated
 * attention binds the shared mt_attn_h. */
typedef struct deltanet_h {
    mt_module *conv1d, *in_qkvz, *in_ba, *in_qkv, *in_z, *in_b, *in_a, *norm, *out_proj;
    mt_param *dt_bias, *A_log, *norm_weight;
} deltanet_h;
static const mt_handle_kind deltanet_h_kind = {"deltanet_h"};

static mt_module *build_deltanet(mt_model *m, const mt_dec_spec *s, mt_module *L, const qnext *q) {
    mt_ctx *ctx = m->ctx;
    mt_dtype dt = s->dtype;
    mt_device dev = MT_DEVICE_CPU;
    int64_t key_dim = q->nk * q->dk, value_dim = q->nv * q->dv, conv_dim = 2 * key_dim + value_dim, nv = q->nv;
    const char *cls = q->deltanet_cls ? q->deltanet_cls : "Qwen3NextGatedDeltaNet";
    mt_module *la = mt_module_new(ctx, L, "linear_attn", cls);
    deltanet_h *h = MT_BIND(ctx, la, deltanet_h);
    /* __init__ order: act (ACT2FN[hidden_act]), conv1d, in_proj_qkvz, in_proj_ba, dt_bias, A_log, norm, out_proj;
     * Qwen3_5GatedDeltaNet deletes the two fused projections and appends in_proj_qkv, in_proj_z, in_proj_b and
     * in_proj_a after out_proj */
    if (!h || !mt_act_new(m, la, "act", s->hidden_act, "hidden_act") ||
        !(h->conv1d = mt_nn_conv1d_nn(ctx, la, "conv1d", conv_dim, conv_dim, q->conv_kernel, q->conv_kernel - 1,
                                      conv_dim, false, dt, dev)))
        return NULL;
    if (!q->split_proj &&
        (!(h->in_qkvz = mt_nn_linear(ctx, la, "in_proj_qkvz", s->hidden, 2 * key_dim + 2 * value_dim, false, dt,
                                     dev)) ||
         !(h->in_ba = mt_nn_linear(ctx, la, "in_proj_ba", s->hidden, 2 * nv, false, dt, dev))))
        return NULL;
    if (!(h->dt_bias = mt_param_new(ctx, la, "dt_bias", dt, dev, 1, &nv)) ||
        !(h->A_log = mt_param_new(ctx, la, "A_log", dt, dev, 1, &nv)))
        return NULL;
    mt_module *norm = h->norm =
        mt_module_new(ctx, la, "norm", q->gated_norm_cls ? q->gated_norm_cls : "Qwen3NextRMSNormGated");
    if (!norm || !(h->norm_weight = mt_param_new(ctx, norm, "weight", dt, dev, 1, &q->dv))) return NULL;
    mt_module_attr(ctx, norm, "eps", mt_a_float(s->norm_eps));
    if (!(h->out_proj = mt_nn_linear(ctx, la, "out_proj", value_dim, s->hidden, false, dt, dev))) return NULL;
    if (q->split_proj && (!(h->in_qkv = mt_nn_linear(ctx, la, "in_proj_qkv", s->hidden, conv_dim, false, dt, dev)) ||
                          !(h->in_z = mt_nn_linear(ctx, la, "in_proj_z", s->hidden, value_dim, false, dt, dev)) ||
                          !(h->in_b = mt_nn_linear(ctx, la, "in_proj_b", s->hidden, nv, false, dt, dev)) ||
                          !(h->in_a = mt_nn_linear(ctx, la, "in_proj_a", s->hidden, nv, false, dt, dev))))
        return NULL;
    /* the recurrent state the sizing pass reads: [num_heads, head_dim, ssm_state_size] in state_dtype */
    mt_module_attr(ctx, la, "num_heads", mt_a_int(q->nv));
    mt_module_attr(ctx, la, "head_dim", mt_a_int(q->dk));
    mt_module_attr(ctx, la, "ssm_state_size", mt_a_int(q->dv));
    mt_module_attr(ctx, la, "state_dtype", mt_a_dtype(MT_FLOAT32));
    mt_module_attr(ctx, la, "num_k_heads", mt_a_int(q->nk));
    return la;
}

mt_status mt_qnext_build_attn(mt_model *m, const mt_dec_spec *s, mt_module *L, int64_t index) {
    const qnext *q = fam_of(s);
    if (q->linear[index]) return build_deltanet(m, s, L, q) ? MT_OK : mt_ctx_status(m->ctx);
    mt_ctx *ctx = m->ctx;
    mt_dtype dt = s->dtype;
    mt_device dev = MT_DEVICE_CPU;
    int64_t qdim = s->heads * s->head_dim, kvdim = s->kv_heads * s->head_dim;
    mt_module *at = mt_module_new(ctx, L, "self_attn", s->cls.attn);
    mt_attn_h *h = MT_BIND(ctx, at, mt_attn_h);
    if (!h) return mt_ctx_status(ctx);
    mt_module_attr(ctx, at, "num_heads", mt_a_int(s->heads));
    mt_module_attr(ctx, at, "num_key_value_heads", mt_a_int(s->kv_heads));
    mt_module_attr(ctx, at, "head_dim", mt_a_int(s->head_dim));
    if (!(h->q = mt_nn_linear(ctx, at, "q_proj", s->hidden, 2 * qdim, s->qkv_bias, dt, dev)) ||
        !(h->k = mt_nn_linear(ctx, at, "k_proj", s->hidden, kvdim, s->qkv_bias, dt, dev)) ||
        !(h->v = mt_nn_linear(ctx, at, "v_proj", s->hidden, kvdim, s->qkv_bias, dt, dev)) ||
        !(h->o = mt_nn_linear(ctx, at, "o_proj", qdim, s->hidden, s->o_bias, dt, dev)) ||
        !(h->q_norm = mt_dec_norm(m, at, "q_norm", s, s->head_dim)) ||
        !(h->k_norm = mt_dec_norm(m, at, "k_norm", s, s->head_dim)))
        return mt_ctx_status(ctx);
    return MT_OK;
}

static bool layer_sparse(const mt_moe_model *mm, int64_t i) {
    const qnext *q = mm->fam;
    if (q->mlp_only[i]) return false;
    return mm->moe.num_experts > 0 && (i + 1) % q->sparse_step == 0;
}

mt_status mt_qnext_build_mlp(mt_model *m, const mt_dec_spec *s, mt_module *layer, int64_t index) {
    mt_moe_model *mm = s->ext;
    if (layer_sparse(mm, index)) return mt_moe_build(m, mm, layer, "mlp") ? MT_OK : mt_ctx_status(m->ctx);
    return mt_dec_build_mlp(m, s, layer, index);
}

/* mlp_only_layers: layer indices (null: none). */
static mt_status read_mlp_only(mt_model *m, int64_t layers, qnext *q) {
    bool *flags = mt_alloc_array(m->ctx, (size_t)(layers > 0 ? layers : 1), sizeof *flags);
    if (!flags) return mt_ctx_status(m->ctx);
    q->mlp_only = flags;
    json_t *v = mt_config_json(m->cfg, "mlp_only_layers");
    if (!v || json_is_null(v)) return MT_OK;
    if (!json_is_array(v)) return mt_config_error(m->cfg, "mlp_only_layers", "expected a list of layer indices (%s)",
                                            m->model_type);
    for (size_t i = 0; i < json_array_size(v); i++) {
        json_t *x = json_array_get(v, i);
        json_int_t k = json_is_integer(x) ? json_integer_value(x) : -1;
        if (k < 0) {
            char field[48];
            snprintf(field, sizeof field, "mlp_only_layers.%zu", i);
            return mt_config_error(m->cfg, field, "expected a layer index >= 0 (%s)", m->model_type);
        }
        if (k < layers) flags[k] = true;
    }
    return MT_OK;
}

/* layer_types ("linear_attention" / "full_attention", num_hidden_layers entries), else every
 * full_attention_interval-th layer (i + 1) % interval == 0 is a full-attention layer. */
static mt_status read_layer_types(mt_model *m, int64_t cfg_layers, int64_t layers, qnext *q) {
    bool *lin = mt_alloc_array(m->ctx, (size_t)(layers > 0 ? layers : 1), sizeof *lin);
    if (!lin) return mt_ctx_status(m->ctx);
    q->linear = lin;
    json_t *lt = mt_config_json(m->cfg, "layer_types");
    if (!lt || json_is_null(lt)) {
        int64_t every;
        if (!mt_config_pos_int(m->cfg, "full_attention_interval", 4, &every)) return mt_ctx_status(m->ctx);
        for (int64_t i = 0; i < layers; i++) lin[i] = (i + 1) % every != 0;
        return MT_OK;
    }
    if (!json_is_array(lt) || (int64_t)json_array_size(lt) != cfg_layers)
        return mt_config_error(m->cfg, "layer_types", "expected a list of %lld layer types (num_hidden_layers) "
                               "(%s)", (long long)cfg_layers, m->model_type);
    for (size_t i = 0; i < json_array_size(lt); i++) {
        const char *t = json_string_value(json_array_get(lt, i));
        bool is_lin = t && strcmp(t, "linear_attention") == 0;
        if (!is_lin && !(t && strcmp(t, "full_attention") == 0)) {
            char field[48];
            snprintf(field, sizeof field, "layer_types.%zu", i);
            return mt_config_error(m->cfg, field, "expected \"linear_attention\" or \"full_attention\" (%s)",
                                   m->model_type);
        }
        if ((int64_t)i < layers) lin[i] = is_lin;
    }
    return MT_OK;
}

mt_status mt_qnext_read_linear(mt_model *m, mt_qnext *q, int64_t cfg_layers, int64_t layers) {
    mt_config *c = m->cfg;
    if (!mt_config_pos_int(c, "linear_conv_kernel_dim", 4, &q->conv_kernel) ||
        !mt_config_pos_int(c, "linear_key_head_dim", 128, &q->dk) ||
        !mt_config_pos_int(c, "linear_value_head_dim", 128, &q->dv) ||
        !mt_config_pos_int(c, "linear_num_key_heads", 16, &q->nk) ||
        !mt_config_pos_int(c, "linear_num_value_heads", 32, &q->nv))
        return mt_ctx_status(m->ctx);
    const char *lim_key[5] = {"linear_num_key_heads", "linear_num_value_heads", "linear_key_head_dim",
                              "linear_value_head_dim", "linear_conv_kernel_dim"};
    const int64_t lim_val[5] = {q->nk, q->nv, q->dk, q->dv, q->conv_kernel};
    for (int i = 0; i < 5; i++) /* keeps the projection sizes' products far from int64 overflow */
        if (lim_val[i] > ((int64_t)1 << 20))
            return mt_config_error(c, lim_key[i], "expected at most %lld, got %lld (%s)",
                                   (long long)((int64_t)1 << 20), (long long)lim_val[i], m->model_type);
    if (q->nv % q->nk != 0)
        return mt_config_error(c, "linear_num_value_heads", "linear_num_value_heads (%lld) must be a multiple of "
                               "linear_num_key_heads (%lld) (%s)", (long long)q->nv, (long long)q->nk, m->model_type);
    return read_layer_types(m, cfg_layers, layers, q);
}

void mt_qnext_info(mt_model *m, const mt_moe_model *mm) {
    const qnext *q = mm->fam;
    const mt_dec_spec *s = &mm->dec;
    int64_t nlin = 0;
    for (int64_t i = 0; i < s->layers; i++) nlin += q->linear[i];
    mt_model_info(m, "full_attention_layers", mt_a_int(s->layers - nlin));
    mt_model_info(m, "linear_attention_layers", mt_a_int(nlin));
    mt_model_info(m, "linear_num_key_heads", mt_a_int(q->nk));
    mt_model_info(m, "linear_num_value_heads", mt_a_int(q->nv));
    mt_model_info(m, "linear_key_head_dim", mt_a_int(q->dk));
    mt_model_info(m, "linear_value_head_dim", mt_a_int(q->dv));
    if (mm->moe.num_experts == 0 && q->split_proj) return; /* dense Qwen3.5 */
    mt_model_info(m, "num_experts", mt_a_int(mm->moe.num_experts));
    mt_model_info(m, "num_experts_per_tok", mt_a_int(mm->moe.top_k));
    mt_model_info(m, "moe_intermediate_size", mt_a_int(mm->moe.expert_inter));
}

static mt_status qwen3_next_build(mt_model *m) {
    mt_moe_model *mm = mt_moe_model_new(m);
    qnext *q = mt_alloc(m->ctx, sizeof *q);
    if (!mm || !q) return mt_ctx_status(m->ctx);
    mm->fam = q;
    mt_dec_spec *s = &mm->dec;
    mt_config *c = m->cfg;
    s->cls = qwen3_next_names;
    if (mt_dec_read_common(m, s, &qwen3_next_defaults) != MT_OK || mt_dec_read_rope(m, s) != MT_OK)
        return mt_ctx_status(m->ctx);
    int64_t cfg_layers;
    bool bias;
    double prf;
    mt_moe_spec *e = &mm->moe;
    if (!mt_config_int(c, "num_hidden_layers", qwen3_next_defaults.layers, &cfg_layers) ||
        !mt_config_bool(c, "attention_bias", false, &bias) ||
        !mt_config_float(c, "partial_rotary_factor", 0.25, &prf) ||
        !mt_config_int(c, "num_experts", 512, &e->num_experts) ||
        !mt_config_pos_int(c, "num_experts_per_tok", 10, &e->top_k) ||
        !mt_config_pos_int(c, "moe_intermediate_size", 512, &e->expert_inter) ||
        !mt_config_pos_int(c, "shared_expert_intermediate_size", 512, &e->shared_inter) ||
        !mt_config_pos_int(c, "decoder_sparse_step", 1, &q->sparse_step) ||
        !mt_config_bool(c, "norm_topk_prob", true, &e->norm_topk))
        return mt_ctx_status(m->ctx);
    if (e->num_experts < 0)
        return mt_config_error(c, "num_experts", "expected >= 0, got %lld (qwen3_next)", (long long)e->num_experts);
    if (e->num_experts > 0 && e->top_k > e->num_experts)
        return mt_config_error(c, "num_experts_per_tok", "num_experts_per_tok %lld exceeds num_experts %lld (qwen3_next)",
                               (long long)e->top_k, (long long)e->num_experts);
    s->rotary_dim = (int64_t)((double)s->head_dim * prf); /* int(head_dim * partial_rotary_factor) */
    if (prf <= 0 || prf > 1 || s->rotary_dim < 2 || s->rotary_dim % 2 != 0)
        return mt_config_error(c, "partial_rotary_factor", "head_dim %lld * %g gives %lld rotary channels; expected an "
                               "even number >= 2 (qwen3_next)", (long long)s->head_dim, prf, (long long)s->rotary_dim);
    s->qkv_bias = s->o_bias = bias;
    s->caps.norm = MT_NORM_RMS_GEMMA;
    if (mt_qnext_read_linear(m, q, cfg_layers, s->layers) != MT_OK || read_mlp_only(m, s->layers, q) != MT_OK)
        return mt_ctx_status(m->ctx);
    e->router = MT_ROUTE_SOFTMAX_TOPK;
    e->block_cls = "Qwen3NextSparseMoeBlock";
    e->expert_cls = "Qwen3NextMLP";
    e->shared_name = "shared_expert";
    e->shared_cls = "Qwen3NextMLP";
    e->shared_gate = true;
    s->names.attn_alt = "linear_attn";
    s->hooks.build_attn = mt_qnext_build_attn;
    s->hooks.build_mlp = mt_qnext_build_mlp;
    s->hooks.mlp_forward = mt_moe_mlp_forward;
    if (mt_dec_build(m, s) != MT_OK) return mt_ctx_status(m->ctx);
    s->hooks.attn_forward = mt_qnext_attn_forward; /* after mt_dec_build: its attention choice keeps eager and sdpa */
    mt_qnext_info(m, mm);
    return MT_OK;
}

/* ---- forward ---- */

static mt_arg SL(void) { return mt_a_slice(NULL, NULL, NULL); }

/* (h * attention_mask[:, :, None]).to(h.dtype) (apply_mask_to_padding_states). */
static mt_tensor *mask_states(mt_tracer *tr, mt_tensor *h, mt_tensor *amask) {
    if (!h) return NULL;
    mt_arg idx[3] = {SL(), SL(), mt_a_none()};
    mt_tensor *am = mt_index(tr, amask, idx, 3);
    return mt_to(tr, mt_mul(tr, h, am), h->dtype);
}

/* Qwen3NextRMSNormGated.forward(h, gate): norm before the gate. */
static mt_tensor *gated_norm(mt_tracer *tr, const deltanet_h *dh, mt_tensor *h, mt_tensor *gate) {
    mt_module *n = dh->norm;
    if (!h || !n) return NULL;
    mt_dtype in_dt = h->dtype;
    const mt_arg *eps = mt_module_get_attr(n, "eps");
    mt_tr_enter(tr, n);
    h = mt_to(tr, h, MT_FLOAT32);
    mt_tensor *var = mt_reduce(tr, MT_OP_MEAN, mt_pow_s(tr, h, 2), -1, true);
    mt_tensor *r = mt_unary(tr, MT_OP_RSQRT, mt_add_s(tr, var, eps ? eps->v.f : 1e-6));
    h = mt_mul(tr, h, r);
    mt_tensor *w = mt_tr_get_attr(tr, dh->norm_weight);
    h = mt_mul(tr, w, mt_to(tr, h, in_dt));
    mt_tensor *g = mt_to(tr, gate, MT_FLOAT32);
    mt_arg ga = mt_a_tensor(g);
    g = mt_tr_op1(tr, MT_OP_SILU, &ga, 1, NULL, 0);
    h = mt_mul(tr, h, g);
    mt_tensor *y = mt_to(tr, h, in_dt);
    mt_tr_leave(tr);
    return y;
}

/* x.reshape(b, s, -1, d) */
static mt_tensor *heads(mt_tracer *tr, mt_tensor *x, int64_t d) {
    if (!x) return NULL;
    const mt_sym *r[4] = {x->shape[0], x->shape[1], NULL, K(tr, d)};
    return mt_reshape(tr, x, 4, r);
}

/* F.silu(self.conv1d(mixed_qkv)[:, :, :seq_len]) on mixed [b, conv_dim, s], transposed back, split into
 * query, key and value and each reshaped to [b, s, -1, head dim] (out[3]). */
static void conv_split(mt_tracer *tr, const deltanet_h *la, mt_tensor *mixed, const mt_sym *seq, const qnext *q,
                       mt_tensor **out) {
    const int64_t key_dim = q->nk * q->dk, value_dim = q->nv * q->dv;
    mixed = mt_tr_call(tr, la->conv1d, mixed);
    mt_arg cut[3] = {SL(), SL(), mt_a_slice(NULL, seq, NULL)};
    mixed = mixed ? mt_index(tr, mixed, cut, 3) : NULL;
    mt_arg sa = mt_a_tensor(mixed);
    mixed = mixed ? mt_tr_op1(tr, MT_OP_SILU, &sa, 1, NULL, 0) : NULL;
    mixed = mt_transpose(tr, mixed, 1, 2);
    int64_t sz3[3] = {key_dim, key_dim, value_dim};
    mt_node *sp3 = mt_split(tr, mixed, 3, sz3, -1);
    mt_tensor *query = mt_tr_item(tr, sp3, 0), *key = mt_tr_item(tr, sp3, 1), *value = mt_tr_item(tr, sp3, 2);
    out[0] = heads(tr, query, q->dk);
    out[1] = heads(tr, key, q->dk);
    out[2] = heads(tr, value, q->dv);
}

/* beta = b.sigmoid(); g = -self.A_log.float().exp() * F.softplus(a.float() + self.dt_bias); q and k
 * repeat_interleave'd to the value heads; torch_chunk_gated_delta_rule(...)[0]. */
static mt_tensor *delta_rule(mt_tracer *tr, const deltanet_h *la, mt_tensor *query, mt_tensor *key, mt_tensor *value,
                             mt_tensor *b, mt_tensor *a, const qnext *q) {
    const int64_t r = q->nv / q->nk;
    mt_tensor *beta = mt_unary(tr, MT_OP_SIGMOID, b);
    mt_tensor *A = mt_tr_get_attr(tr, la->A_log);
    A = mt_unary(tr, MT_OP_NEG, mt_unary(tr, MT_OP_EXP, mt_to(tr, A, MT_FLOAT32)));
    mt_tensor *af = mt_to(tr, a, MT_FLOAT32);
    mt_tensor *dtb = mt_tr_get_attr(tr, la->dt_bias);
    mt_tensor *sp = mt_add(tr, af, dtb);
    mt_arg spa = mt_a_tensor(sp);
    sp = sp ? mt_tr_op1(tr, MT_OP_SOFTPLUS, &spa, 1, NULL, 0) : NULL;
    mt_tensor *g = mt_mul(tr, A, sp);
    if (r > 1) {
        mt_kwarg dk = {"dim", mt_a_int(2)};
        mt_arg qa[2] = {mt_a_tensor(query), mt_a_int(r)};
        query = query ? mt_tr_op1(tr, MT_OP_REPEAT_INTERLEAVE_METHOD, qa, 2, &dk, 1) : NULL;
        mt_arg ka[2] = {mt_a_tensor(key), mt_a_int(r)};
        key = key ? mt_tr_op1(tr, MT_OP_REPEAT_INTERLEAVE_METHOD, ka, 2, &dk, 1) : NULL;
    }
    if (!query || !key || !value || !g || !beta) return NULL;
    mt_arg da[3] = {mt_a_tensor(query), mt_a_tensor(key), mt_a_tensor(value)};
    mt_kwarg dkw[5] = {{"g", mt_a_tensor(g)},
                       {"beta", mt_a_tensor(beta)},
                       {"initial_state", mt_a_none()},
                       {"output_final_state", mt_a_bool(false)},
                       {"use_qk_l2norm_in_kernel", mt_a_bool(true)}};
    mt_node *rule = mt_tr_op(tr, MT_OP_CHUNK_GATED_DELTA_RULE, da, 3, dkw, 5);
    return rule ? mt_tr_item(tr, rule, 0) : NULL;
}

/* Qwen3NextGatedDeltaNet.forward without a cache; amask the 2-D attention_mask. */
static mt_tensor *deltanet_forward(mt_tracer *tr, mt_module *la, const deltanet_h *h, mt_tensor *x,
                                   mt_tensor *amask, const qnext *q) {
    if (!x || !la || !amask) return NULL;
    const mt_sym *seq = x->shape[1];
    const int64_t r = q->nv / q->nk;
    mt_tr_enter(tr, la);
    x = mask_states(tr, x, amask);
    mt_tensor *qkvz = mt_tr_call(tr, h->in_qkvz, x);
    mt_tensor *ba = mt_tr_call(tr, h->in_ba, x);
    /* fix_query_key_value_ordering */
    mt_tensor *query = NULL, *key = NULL, *value = NULL, *z = NULL, *b = NULL, *a = NULL;
    if (qkvz && ba) {
        const mt_sym *b0 = qkvz->shape[0], *s0 = qkvz->shape[1];
        const mt_sym *v1[4] = {b0, s0, K(tr, q->nk), K(tr, 2 * q->dk + 2 * q->dv * r)};
        const mt_sym *v2[4] = {b0, s0, K(tr, q->nk), K(tr, 2 * r)};
        qkvz = mt_view(tr, qkvz, 4, v1);
        ba = mt_view(tr, ba, 4, v2);
        int64_t sz1[4] = {q->dk, q->dk, r * q->dv, r * q->dv}, sz2[2] = {r, r};
        mt_node *sp1 = mt_split(tr, qkvz, 4, sz1, 3);
        query = mt_tr_item(tr, sp1, 0), key = mt_tr_item(tr, sp1, 1);
        value = mt_tr_item(tr, sp1, 2), z = mt_tr_item(tr, sp1, 3);
        mt_node *sp2 = mt_split(tr, ba, 2, sz2, 3);
        b = mt_tr_item(tr, sp2, 0), a = mt_tr_item(tr, sp2, 1);
        value = heads(tr, value, q->dv);
        z = heads(tr, z, q->dv);
        const mt_sym *rb[3] = {b0, s0, K(tr, q->nv)};
        b = mt_reshape(tr, b, 3, rb);
        a = mt_reshape(tr, a, 3, rb);
    }
    mt_tensor *parts[3] = {query, key, value};
    for (int i = 0; i < 3; i++) {
        if (!parts[i]) continue;
        const mt_sym *r3[3] = {parts[i]->shape[0], parts[i]->shape[1], NULL};
        parts[i] = mt_reshape(tr, parts[i], 3, r3);
    }
    mt_tensor *mixed = mt_cat(tr, parts, 3, -1);
    mixed = mt_transpose(tr, mixed, 1, 2);
    mt_tensor *qkv[3];
    conv_split(tr, h, mixed, seq, q, qkv);
    mt_tensor *core = delta_rule(tr, h, qkv[0], qkv[1], qkv[2], b, a, q);
    /* the norm on [-1, head_v_dim] rows, back to z's shape, then [b, s, -1] */
    const mt_sym *zs[4];
    if (z) memcpy(zs, z->shape, sizeof zs);
    const mt_sym *rows[2] = {NULL, K(tr, q->dv)};
    core = mt_reshape(tr, core, 2, rows);
    z = mt_reshape(tr, z, 2, rows);
    mt_tensor *y = gated_norm(tr, h, core, z);
    y = z ? mt_reshape(tr, y, 4, zs) : NULL;
    const mt_sym *r3[3] = {y ? y->shape[0] : NULL, y ? y->shape[1] : NULL, NULL};
    y = y ? mt_reshape(tr, y, 3, r3) : NULL;
    mt_tensor *out = mt_tr_call(tr, h->out_proj, y);
    mt_tr_leave(tr);
    return out;
}

/* Qwen3_5GatedDeltaNet.forward without a cache (the torch path): the same mixer with the four projections
 * in_proj_qkv (already q|k|v, no reordering), in_proj_z, in_proj_b, in_proj_a, and the norm's output
 * reshaped straight to [batch, seq, -1]. */
static mt_tensor *deltanet_split_forward(mt_tracer *tr, mt_module *la, const deltanet_h *h, mt_tensor *x,
                                         mt_tensor *amask, const qnext *q) {
    if (!x || !la || !amask) return NULL;
    const mt_sym *bsz = x->shape[0], *seq = x->shape[1];
    mt_tr_enter(tr, la);
    x = mask_states(tr, x, amask);
    mt_tensor *mixed = mt_tr_call(tr, h->in_qkv, x);
    mixed = mt_transpose(tr, mixed, 1, 2);
    mt_tensor *z = mt_tr_call(tr, h->in_z, x);
    z = heads(tr, z, q->dv);
    mt_tensor *b = mt_tr_call(tr, h->in_b, x);
    mt_tensor *a = mt_tr_call(tr, h->in_a, x);
    mt_tensor *qkv[3];
    conv_split(tr, h, mixed, seq, q, qkv);
    mt_tensor *core = delta_rule(tr, h, qkv[0], qkv[1], qkv[2], b, a, q);
    const mt_sym *rows[2] = {NULL, K(tr, q->dv)};
    core = mt_reshape(tr, core, 2, rows);
    z = mt_reshape(tr, z, 2, rows);
    mt_tensor *y = gated_norm(tr, h, core, z);
    const mt_sym *r3[3] = {bsz, seq, NULL};
    y = mt_reshape(tr, y, 3, r3);
    mt_tensor *out = mt_tr_call(tr, h->out_proj, y);
    mt_tr_leave(tr);
    return out;
}

/* rotate_half(x): cat((-x[..., d//2:], x[..., :d//2]), dim=-1), in Python's order. */
static mt_tensor *rotate_half(mt_tracer *tr, mt_tensor *x) {
    if (!x) return NULL;
    const mt_sym *h = mt_sym_floordiv(tr->ctx, x->shape[x->ndim - 1], 2);
    mt_tensor *x1 = mt_slice_last(tr, x, NULL, h);
    mt_tensor *x2 = mt_slice_last(tr, x, h, NULL);
    mt_tensor *parts[2] = {mt_unary(tr, MT_OP_NEG, x2), x1};
    return mt_cat(tr, parts, 2, -1);
}

/* (x * cos) + (rotate_half(x) * sin), recorded in Python's order. */
static mt_tensor *rope(mt_tracer *tr, mt_tensor *x, mt_tensor *cos, mt_tensor *sin) {
    mt_tensor *xc = mt_mul(tr, x, cos);
    mt_tensor *xs = mt_mul(tr, rotate_half(tr, x), sin);
    return mt_add(tr, xc, xs);
}

/* The attention slot's forward: the Gated DeltaNet on linear layers (with the
 * 2-D attention_mask), else Qwen3NextAttention. */
mt_tensor *mt_qnext_attn_forward(mt_tracer *tr, mt_module *at, mt_tensor *x, mt_tensor *mask, mt_tensor *cos,
                                 mt_tensor *sin, const mt_dec_spec *s) {
    if (!x || !at) return NULL;
    const deltanet_h *dn = mt_module_bound(at, &deltanet_h_kind); /* a linear layer's mixer */
    if (dn) {
        const qnext *q = fam_of(s);
        mt_tensor *amask = tr->model->inputs.items[1];
        return q->split_proj ? deltanet_split_forward(tr, at, dn, x, amask, q)
                             : deltanet_forward(tr, at, dn, x, amask, q);
    }
    const mt_attn_h *ah = MT_BOUND(tr, at, mt_attn_h);
    if (!ah) return NULL;
    const mt_sym *b = x->shape[0], *q_len = x->shape[1];
    const int64_t hd = s->head_dim;
    mt_tr_enter(tr, at);
    /* query_states, gate = torch.chunk(q_proj(x).view(b, s, -1, head_dim * 2), 2, dim=-1) */
    mt_tensor *qp = mt_tr_call(tr, ah->q, x);
    const mt_sym *v2[4] = {b, q_len, NULL, K(tr, 2 * hd)};
    qp = mt_view(tr, qp, 4, v2);
    mt_node *ch = mt_chunk(tr, qp, 2, -1);
    mt_tensor *q = mt_tr_item(tr, ch, 0), *gate = mt_tr_item(tr, ch, 1);
    const mt_sym *g3[3] = {b, q_len, NULL};
    gate = mt_reshape(tr, gate, 3, g3);
    const mt_sym *hs[4] = {b, q_len, NULL, K(tr, hd)};
    q = mt_dec_norm_forward(tr, ah->q_norm, mt_view(tr, q, 4, hs), s);
    q = mt_transpose(tr, q, 1, 2);
    mt_tensor *k = mt_tr_call(tr, ah->k, x);
    k = mt_dec_norm_forward(tr, ah->k_norm, mt_view(tr, k, 4, hs), s);
    k = mt_transpose(tr, k, 1, 2);
    mt_tensor *v = mt_tr_call(tr, ah->v, x);
    v = mt_transpose(tr, mt_view(tr, v, 4, hs), 1, 2);
    /* apply_rotary_pos_emb: cos/sin unsqueezed at 1, q/k split at rotary_dim = cos.shape[-1] */
    mt_tensor *c = mt_unsqueeze(tr, cos, 1);
    mt_tensor *sn = mt_unsqueeze(tr, sin, 1);
    const mt_sym *rd = c ? c->shape[c->ndim - 1] : NULL;
    mt_arg i1[2] = {mt_a_ellipsis(), mt_a_slice(NULL, rd, NULL)};
    mt_arg i2[2] = {mt_a_ellipsis(), mt_a_slice(rd, NULL, NULL)};
    mt_tensor *q_rot = rd ? mt_index(tr, q, i1, 2) : NULL;
    mt_tensor *q_pass = rd ? mt_index(tr, q, i2, 2) : NULL;
    mt_tensor *k_rot = rd ? mt_index(tr, k, i1, 2) : NULL;
    mt_tensor *k_pass = rd ? mt_index(tr, k, i2, 2) : NULL;
    mt_tensor *qe = rope(tr, q_rot, c, sn);
    mt_tensor *ke = rope(tr, k_rot, c, sn);
    mt_tensor *qparts[2] = {qe, q_pass}, *kparts[2] = {ke, k_pass};
    q = mt_cat(tr, qparts, 2, -1);
    k = mt_cat(tr, kparts, 2, -1);
    mt_attn_impl impl = tr->model->attn;
    /* eager multiplies by module.scaling = head_dim**-0.5; sdpa without scale= (the project's convention) */
    mt_attn_args aa = {.n_rep = s->heads / s->kv_heads, .eager_slice = true, .sdpa_slice = true};
    aa.scaling = impl == MT_ATTN_IMPL_EAGER ? 1.0 / sqrt((double)hd) : 0;
    mt_tensor *o = mt_attn_forward(tr, impl, q, k, v, mask, &aa);
    o = mt_contiguous(tr, mt_reshape(tr, o, 3, g3));
    mt_tensor *sg = mt_unary(tr, MT_OP_SIGMOID, gate);
    o = mt_mul(tr, o, sg);
    o = mt_tr_call(tr, ah->o, o);
    mt_tr_leave(tr);
    return o;
}

static mt_status qwen3_next_forward(mt_model *m, mt_tracer *tr) {
    mt_moe_model *mm = m->family;
    return mt_dec_forward(m, tr, &mm->dec);
}

const mt_arch mt_arch_qwen3_next = {
    .model_type = "qwen3_next",
    .default_class = "Qwen3NextForCausalLM",
    .example = "Qwen/Qwen3-Next-80B-A3B-Instruct",
    .build = qwen3_next_build,
    .forward = qwen3_next_forward,
    .totals = mt_moe_totals,
};
