/* MiniMax (MiniMaxForCausalLM: MiniMax-Text-01, MiniMax-M1): lightning
 * attention (a linear attention with per-head exponential decay) on the layers
 * layer_types marks "linear_attention", softmax attention with rotary on the
 * "full_attention" ones, a Mixtral-style sparse MoE in every layer, and
 * DeepNorm-like residuals: each sub-block's input is normed first and the
 * normed value is the residual, h = n(h); h = h * alpha + block(h) * beta.
 * Read at the source: transformers src/transformers/models/minimax/
 * modular_minimax.py (commit 008e574391: MiniMaxConfig's defaults, the
 * lightning attention with its padding mask, the decoder layer, the model) and
 * modeling_minimax.py (commit 000c33fdfd: MiniMaxAttention, the rotary's default
 * init over the whole head_dim). The sparse block is kept in the names the
 * checkpoints carry (block_sparse_moe: gate + experts.N.w1/w2/w3, softmax top-k
 * renormalized), as for Mixtral, where transformers 5 fuses the experts.
 *
 * MiniMaxLightningAttention.forward (no cache), traced: act_fn(qkv_proj(x)),
 * the padding mask (apply_mask_to_padding_states: (h * mask[:, :, None]).to(h.dtype),
 * the 2-D mask the model passes its linear layers, padding assumed as elsewhere),
 * reshape to [b, seq, heads, 3 * head_dim], torch.split into q / k / v (recorded
 * as the split method), transposes; then the Python loop over
 * ceil(seq / block_size) blocks (its zero initial state included) is one op,
 * metatrace.ops.lightning_attention(q, k, v, slope_rate, query_decay, key_decay,
 * diagonal_decay) (trace/ops.c); then transpose, reshape, norm,
 * sigmoid(output_gate(x)) * out (F.sigmoid recorded as torch.sigmoid, one rule),
 * out_proj. Its four decay buffers are registered persistent, in the model dtype
 * (computed under the default dtype from_pretrained sets).
 *
 * Remote-code configs (model_type minimax_text_01, minimax_m1, the checkpoints'
 * own config.json) are read as transformers' MiniMaxConfig reads the converted
 * ones: attn_type_list (0 lightning, 1 softmax) for layer_types,
 * layernorm_{full_attention,linear_attention,mlp}_{alpha,beta} for the
 * factors; postnorm must be true (the only residual transformers implements) and
 * shared_intermediate_size 0 (no shared expert). rotary_dim is not read:
 * transformers' default rope init covers the whole head_dim. */
#include <math.h>
#include <string.h>

#include <jansson.h>

#include "moe.h"

static const mt_dec_names minimax_names = {
    "MiniMaxModel", "MiniMaxDecoderLayer", "MiniMaxAttention", "MiniMaxSparseMoeBlock", "MiniMaxRMSNorm",
    "MiniMaxRotaryEmbedding",
};

/* MiniMaxConfig defaults (modular_minimax.py); default_theta 1e6. */
static const mt_dec_defaults minimax_defaults = {
    .vocab = 32000, .hidden = 4096, .intermediate = 14336, .layers = 32, .heads = 32, .kv_heads = 8,
    .norm_eps = 1e-5, .rope_theta = 1e6, .hidden_act = "silu", .norm_eps_key = "rms_norm_eps",
    .tie_embeddings = false,
};

typedef struct minimax_ext {
    const bool *linear;                   /* per layer: lightning attention */
    int64_t block;                        /* block_size */
    double full_alpha, full_beta, lin_alpha, lin_beta, mlp_alpha, mlp_beta;
} minimax_ext;

static const mt_sym *K(mt_tracer *tr, int64_t v) { return mt_sym_const(tr->ctx, v); }

/* ---- build ---- */

/* MiniMaxLightningAttention.__init__: act_fn, norm (MiniMaxRMSNorm(heads * head_dim), eps left at its
 * default 1e-6), qkv_proj, out_proj, output_gate, then the buffers slope_rate [h, 1, 1], query_decay
 * and key_decay [h, B, 1], diagonal_decay [1, h, B, B]. */
/* MiniMaxLightningAttention's handle (blocks.h, "handles bound at build"); the full attention, the
 * sparse block and the decoder's modules are the shared blocks'. */
typedef struct lightning_h {
    mt_module *act, *norm, *qkv, *out, *gate;
    mt_param *bufs[4]; /* slope_rate, query_decay, key_decay, diagonal_decay */
} lightning_h;
static const mt_handle_kind lightning_h_kind = {"minimax lightning_h"};

static mt_status lightning_build(mt_model *m, const mt_dec_spec *s, mt_module *L, const minimax_ext *e) {
    mt_ctx *ctx = m->ctx;
    mt_dtype dt = s->dtype;
    mt_device dev = MT_DEVICE_CPU;
    int64_t h = s->heads, d = s->head_dim, B = e->block, hd = h * d;
    mt_module *la = mt_module_new(ctx, L, "self_attn", "MiniMaxLightningAttention");
    lightning_h *lh = MT_BIND(ctx, la, lightning_h);
    if (!lh || !(lh->act = mt_act_new(m, la, "act_fn", s->hidden_act, "hidden_act"))) return mt_ctx_status(ctx);
    mt_module *norm = lh->norm = mt_dec_rms_norm(m, la, "norm", s, hd);
    if (!norm) return mt_ctx_status(ctx);
    mt_module_attr(ctx, norm, "eps", mt_a_float(1e-6));
    int64_t s1[3] = {h, 1, 1}, s2[3] = {h, B, 1}, s3[4] = {1, h, B, B};
    if (!(lh->qkv = mt_nn_linear(ctx, la, "qkv_proj", s->hidden, 3 * hd, false, dt, dev)) ||
        !(lh->out = mt_nn_linear(ctx, la, "out_proj", hd, s->hidden, false, dt, dev)) ||
        !(lh->gate = mt_nn_linear(ctx, la, "output_gate", s->hidden, hd, false, dt, dev)) ||
        !(lh->bufs[0] = mt_buffer_new(ctx, la, "slope_rate", dt, dev, 3, s1, true, true)) ||
        !(lh->bufs[1] = mt_buffer_new(ctx, la, "query_decay", dt, dev, 3, s2, true, true)) ||
        !(lh->bufs[2] = mt_buffer_new(ctx, la, "key_decay", dt, dev, 3, s2, true, true)) ||
        !(lh->bufs[3] = mt_buffer_new(ctx, la, "diagonal_decay", dt, dev, 4, s3, true, true)))
        return mt_ctx_status(ctx);
    mt_module_attr(ctx, la, "num_attention_heads", mt_a_int(h));
    mt_module_attr(ctx, la, "head_dim", mt_a_int(d));
    mt_module_attr(ctx, la, "block_size", mt_a_int(B));
    /* MiniMaxCache's linear cache: K^T V [heads, head_dim, head_dim] per sequence */
    mt_module_attr(ctx, la, "recurrent_state_numel", mt_a_int(h * d * d));
    return MT_OK;
}

static mt_status minimax_build_attn(mt_model *m, const mt_dec_spec *s, mt_module *L, int64_t index) {
    const minimax_ext *e = ((const mt_moe_model *)s->ext)->fam;
    return e->linear[index] ? lightning_build(m, s, L, e) : mt_dec_build_attn(m, s, L, index);
}

static mt_status minimax_build_mlp(mt_model *m, const mt_dec_spec *s, mt_module *L, int64_t index) {
    (void)index;
    mt_moe_model *mm = s->ext;
    return mt_moe_build(m, mm, L, "block_sparse_moe") ? MT_OK : mt_ctx_status(m->ctx);
}

/* layer_types ("full_attention" / "linear_attention"), or the remote code's attn_type_list (1 / 0);
 * absent: MiniMaxConfig's default, full on even layers ((i + 1) % 2), linear on odd ones. */
static bool read_layer_types(mt_model *m, int64_t cfg_layers, int64_t layers, const bool **out) {
    bool *f = mt_alloc_array(m->ctx, (size_t)(layers > 0 ? layers : 1), sizeof *f);
    if (!f) return false;
    *out = f;
    bool legacy = !mt_config_has(m->cfg, "layer_types") && mt_config_has(m->cfg, "attn_type_list");
    const char *key = legacy ? "attn_type_list" : "layer_types";
    json_t *v = mt_config_json(m->cfg, key);
    if (!v || json_is_null(v)) {
        for (int64_t i = 0; i < layers; i++) f[i] = (i + 1) % 2 == 0;
        return true;
    }
    if (!json_is_array(v) || (int64_t)json_array_size(v) != cfg_layers) {
        mt_config_error(m->cfg, key, "expected a list of %lld layer types (minimax)", (long long)cfg_layers);
        return false;
    }
    for (size_t i = 0; i < json_array_size(v); i++) {
        json_t *x = json_array_get(v, i);
        bool lin, ok;
        if (legacy) {
            json_int_t t = json_is_integer(x) ? json_integer_value(x) : -1;
            ok = t == 0 || t == 1;
            lin = t == 0;
        } else {
            const char *t = json_string_value(x);
            lin = t && strcmp(t, "linear_attention") == 0;
            ok = t && (lin || strcmp(t, "full_attention") == 0);
        }
        if (!ok) {
            mt_config_error(m->cfg, key, legacy ? "entry %zu must be 0 (lightning) or 1 (softmax) (minimax)"
                                                : "entry %zu must be \"full_attention\" or \"linear_attention\" (minimax)",
                            i);
            return false;
        }
        if ((int64_t)i < layers) f[i] = lin;
    }
    return true;
}

/* A residual factor: the transformers key, else the remote code's, else 1. */
static bool factor(mt_model *m, const char *key, const char *legacy, double *out) {
    const char *k = mt_config_has(m->cfg, key) || !mt_config_has(m->cfg, legacy) ? key : legacy;
    return mt_config_float(m->cfg, k, 1.0, out);
}

static mt_status minimax_build(mt_model *m) {
    mt_ctx *ctx = m->ctx;
    mt_moe_model *mm = mt_moe_model_new(m);
    minimax_ext *e = mt_alloc(ctx, sizeof *e);
    if (!mm || !e) return mt_ctx_status(ctx);
    mm->fam = e;
    mt_dec_spec *s = &mm->dec;
    mt_config *c = m->cfg;
    s->cls = minimax_names;
    if (mt_dec_read_common(m, s, &minimax_defaults) != MT_OK) return mt_ctx_status(ctx);
    int64_t cfg_layers, experts, top_k;
    bool postnorm;
    if (!mt_config_int(c, "num_hidden_layers", minimax_defaults.layers, &cfg_layers) ||
        !read_layer_types(m, cfg_layers, s->layers, &e->linear) ||
        !mt_config_pos_int(c, "block_size", 256, &e->block) ||
        !mt_config_pos_int(c, "num_local_experts", 8, &experts) ||
        !mt_config_pos_int(c, "num_experts_per_tok", 2, &top_k) ||
        !factor(m, "full_attn_alpha_factor", "layernorm_full_attention_alpha", &e->full_alpha) ||
        !factor(m, "full_attn_beta_factor", "layernorm_full_attention_beta", &e->full_beta) ||
        !factor(m, "linear_attn_alpha_factor", "layernorm_linear_attention_alpha", &e->lin_alpha) ||
        !factor(m, "linear_attn_beta_factor", "layernorm_linear_attention_beta", &e->lin_beta) ||
        !factor(m, "mlp_alpha_factor", "layernorm_mlp_alpha", &e->mlp_alpha) ||
        !factor(m, "mlp_beta_factor", "layernorm_mlp_beta", &e->mlp_beta) ||
        !mt_config_bool(c, "postnorm", true, &postnorm))
        return mt_ctx_status(ctx);
    if (!postnorm)
        return mt_fail(ctx, MT_ERR_UNSUPPORTED, "minimax: postnorm false (the residual before the norm) is the remote "
                       "code's alternative; transformers' MiniMax implements postnorm only");
    json_t *shared = mt_config_json(c, "shared_intermediate_size");
    if (json_is_array(shared) && json_array_size(shared) == 1) shared = json_array_get(shared, 0);
    if (shared && !json_is_null(shared) && !(json_is_integer(shared) && json_integer_value(shared) == 0))
        return mt_fail(ctx, MT_ERR_UNSUPPORTED, "minimax: a shared expert (shared_intermediate_size > 0, the remote "
                       "code's shared_moe) is not in transformers' MiniMax");
    if (top_k > experts)
        return mt_config_error(c, "num_experts_per_tok", "num_experts_per_tok %lld exceeds num_local_experts %lld "
                               "(minimax)", (long long)top_k, (long long)experts);
    if (mt_dec_read_rope(m, s) != MT_OK) return mt_ctx_status(ctx);
    s->rotary_dim = s->head_dim; /* the default rope init reads head_dim only */
    s->qkv_bias = s->o_bias = s->mlp_bias = false;
    mt_moe_spec *ms = &mm->moe;
    ms->router = MT_ROUTE_SOFTMAX_TOPK;
    ms->block_cls = "MiniMaxSparseMoeBlock";
    ms->expert_cls = "MiniMaxBlockSparseTop2MLP";
    ms->mixtral_names = true;
    ms->norm_topk = true;
    ms->expert_inter = s->intermediate;
    ms->num_experts = experts;
    ms->top_k = top_k;
    s->names.mlp = "block_sparse_moe";
    s->hooks.build_attn = minimax_build_attn;
    s->hooks.build_mlp = minimax_build_mlp;
    if (mt_dec_build(m, s) != MT_OK) return mt_ctx_status(ctx);
    int64_t nlin = 0;
    for (int64_t i = 0; i < s->layers; i++) nlin += e->linear[i];
    mt_model_info(m, "linear_attention_layers", mt_a_int(nlin));
    mt_model_info(m, "full_attention_layers", mt_a_int(s->layers - nlin));
    mt_model_info(m, "block_size", mt_a_int(e->block));
    mt_model_info(m, "num_local_experts", mt_a_int(experts));
    mt_model_info(m, "num_experts_per_tok", mt_a_int(top_k));
    return MT_OK;
}

/* ---- forward ---- */

/* MiniMaxLightningAttention.forward without a cache; amask the 2-D attention_mask. */
static mt_tensor *lightning_forward(mt_tracer *tr, mt_module *la, mt_tensor *x, mt_tensor *amask) {
    if (!x || !la || !amask) return NULL;
    const lightning_h *lh = MT_BOUND(tr, la, lightning_h);
    if (!lh) return NULL;
    const mt_arg *ha = mt_module_get_attr(la, "num_attention_heads"), *da = mt_module_get_attr(la, "head_dim");
    int64_t h = ha->v.i, d = da->v.i;
    const mt_sym *b = x->shape[0], *seq = x->shape[1];
    mt_tr_enter(tr, la);
    mt_tensor *qkv = mt_tr_call(tr, lh->qkv, x);
    qkv = mt_act_forward(tr, lh->act, qkv);
    /* apply_mask_to_padding_states: (h * attention_mask[:, :, None]).to(h.dtype) */
    if (qkv) {
        mt_dtype qdt = qkv->dtype;
        mt_arg idx[3] = {mt_a_slice(NULL, NULL, NULL), mt_a_slice(NULL, NULL, NULL), mt_a_none()};
        mt_tensor *am = mt_index(tr, amask, idx, 3);
        qkv = mt_to(tr, mt_mul(tr, qkv, am), qdt);
    }
    const mt_sym *r4[4] = {b, seq, K(tr, h), K(tr, 3 * d)};
    qkv = mt_reshape(tr, qkv, 4, r4);
    int64_t sz[3] = {d, d, d};
    mt_node *sp = mt_split(tr, qkv, 3, sz, 3);
    /* q, k, v = torch.split(...): the three items unpacked, then the transposes */
    mt_tensor *q = mt_tr_item(tr, sp, 0), *k = mt_tr_item(tr, sp, 1), *v = mt_tr_item(tr, sp, 2);
    q = mt_transpose(tr, q, 1, 2);
    k = mt_transpose(tr, k, 1, 2);
    v = mt_transpose(tr, v, 1, 2);
    mt_tensor *bt[4];
    for (int i = 0; i < 4; i++) bt[i] = mt_tr_get_attr(tr, lh->bufs[i]);
    mt_tensor *o = NULL;
    if (q && k && v && bt[0] && bt[1] && bt[2] && bt[3]) {
        mt_arg a[7] = {mt_a_tensor(q), mt_a_tensor(k), mt_a_tensor(v), mt_a_tensor(bt[0]),
                       mt_a_tensor(bt[1]), mt_a_tensor(bt[2]), mt_a_tensor(bt[3])};
        o = mt_tr_op1(tr, MT_OP_LIGHTNING_ATTENTION, a, 7, NULL, 0);
    }
    o = mt_transpose(tr, o, 1, 2);
    const mt_sym *r3[3] = {b, seq, K(tr, h * d)};
    o = mt_reshape(tr, o, 3, r3);
    o = mt_dec_rms_forward(tr, lh->norm, o);
    mt_tensor *g = mt_tr_call(tr, lh->gate, x);
    g = mt_unary(tr, MT_OP_SIGMOID, g);
    o = mt_mul(tr, g, o);
    o = mt_tr_call(tr, lh->out, o);
    mt_tr_leave(tr);
    return o;
}

/* residual * alpha + h * beta, in Python's order. */
static mt_tensor *scaled_residual(mt_tracer *tr, mt_tensor *res, double alpha, mt_tensor *h, double beta) {
    mt_tensor *a = mt_mul_s(tr, res, alpha);
    mt_tensor *b = mt_mul_s(tr, h, beta);
    return mt_add(tr, a, b);
}

static mt_status minimax_forward(mt_model *m, mt_tracer *tr) {
    const mt_moe_model *mm = m->family;
    const mt_dec_spec *s = &mm->dec;
    const minimax_ext *e = mm->fam;
    mt_tensor *ids = m->inputs.items[0], *amask = m->inputs.items[1];
    const mt_dec_h *dh = MT_BOUND(tr, m->root, mt_dec_h);
    if (!dh) return mt_ctx_status(tr->ctx);
    mt_module *model = dh->model;
    mt_tr_enter(tr, model);
    mt_tensor *h = mt_tr_call(tr, dh->embed, ids);
    mt_tensor *cache_pos = mt_tr_op1(tr, MT_OP_ARANGE, (mt_arg[]){mt_a_dim(ids->shape[1])}, 1, NULL, 0);
    mt_tensor *pos = mt_unsqueeze(tr, cache_pos, 0);
    mt_tensor *mask = mt_dec_causal_mask(tr, amask, cache_pos, s->dtype);
    mt_tensor *cos = NULL, *sin = NULL;
    mt_rope_cos_sin(tr, dh->rotary, h, pos, MT_ROPE_CAT, s->attention_scaling, &cos, &sin);
    mt_module *layers = dh->layers;
    for (int i = 0; layers && i < layers->children.n && h; i++) {
        mt_module *L = layers->children.items[i];
        const mt_dec_layer_h *lh = MT_BOUND(tr, L, mt_dec_layer_h);
        if (!lh) return mt_ctx_status(tr->ctx);
        mt_tr_enter(tr, L);
        h = mt_dec_rms_forward(tr, lh->norm[0], h);
        mt_tensor *res = h, *a;
        mt_module *at = lh->attn;
        if (e->linear[i]) {
            a = lightning_forward(tr, at, h, amask);
            h = scaled_residual(tr, res, e->lin_alpha, a, e->lin_beta);
        } else {
            a = mt_dec_attn_forward(tr, at, h, mask, cos, sin, s);
            h = scaled_residual(tr, res, e->full_alpha, a, e->full_beta);
        }
        h = mt_dec_rms_forward(tr, lh->norm[1], h);
        res = h;
        mt_tensor *f = mt_moe_forward(tr, lh->mlp, h, mm);
        h = scaled_residual(tr, res, e->mlp_alpha, f, e->mlp_beta);
        mt_tr_leave(tr);
    }
    h = mt_dec_rms_forward(tr, dh->norm, h);
    mt_tr_leave(tr);
    mt_tensor *logits = mt_tr_call(tr, dh->lm_head, h);
    return mt_tr_output(tr, &logits, 1);
}

static const char *const minimax_aliases[] = {"minimax_text_01", "minimax_m1", NULL};

const mt_arch mt_arch_minimax = {
    .model_type = "minimax",
    .aliases = minimax_aliases,
    .default_class = "MiniMaxForCausalLM",
    .example = "MiniMaxAI/MiniMax-Text-01-hf",
    .build = minimax_build,
    .forward = minimax_forward,
    .totals = mt_moe_totals,
};
