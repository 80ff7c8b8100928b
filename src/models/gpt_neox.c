/* GPT-NeoX (GPTNeoXForCausalLM): LayerNorm blocks with a fused query_key_value
 * laid out per head ([heads, 3 * head_size] rows: q, k, v of one head
 * together), partial rotary (rotary_pct) and the parallel residual
 * x + attn(ln1(x)) + mlp(ln2(x)) (use_parallel_residual). Attention eager or
 * sdpa (--attn; sdpa by default). Old bin checkpoints also stored the attention
 * buffers bias/masked_bias and rotary_emb.inv_freq; those are not parameters,
 * and current transformers' GPTNeoXAttention registers no bias/masked_bias
 * buffer at all (only the model's rotary_emb.inv_freq, non-persistent).
 * Defaults: GPTNeoXConfig. */
#include <math.h>

#include "classic.h"

typedef struct neox {
    mt_dtype dt;
    int64_t vocab, hidden, inter, layers, heads, hd, rdim;
    double eps;
    const char *act;
    bool parallel, bias, tie;
} neox;

/* The handles the forward reads (blocks.h, "handles bound at build"): the model's (bound to the
 * root) and each layer's; the attention is the shared mt_attn_h (qkv = query_key_value, o = dense),
 * the MLP the shared mt_fc_mlp_h (fc1 = dense_h_to_4h, fc2 = dense_4h_to_h). */
typedef struct neox_h {
    mt_module *tm, *embed, *drop, *list, *final_ln, *rotary, *lm_head;
} neox_h;
static const mt_handle_kind neox_h_kind = {"gpt_neox neox_h"};
typedef struct neox_layer_h {
    mt_module *ln1, *ln2, *attn_drop, *mlp_drop, *attn, *mlp;
} neox_layer_h;
static const mt_handle_kind neox_layer_h_kind = {"gpt_neox neox_layer_h"};

static mt_status neox_build(mt_model *m) {
    mt_config *c = m->cfg;
    neox *p = mt_alloc(m->ctx, sizeof *p);
    if (!p) return mt_ctx_status(m->ctx);
    m->family = p;
    double pct, theta;
    if (cl_read_dtype_layers(m, &p->dt, "num_hidden_layers", 44, &p->layers) != MT_OK ||
        !mt_config_pos_int(c, "vocab_size", 50432, &p->vocab) || !mt_config_pos_int(c, "hidden_size", 6144, &p->hidden) ||
        !mt_config_pos_int(c, "num_attention_heads", 64, &p->heads) ||
        !mt_config_pos_int(c, "intermediate_size", 24576, &p->inter) ||
        !mt_config_str(c, "hidden_act", "gelu", &p->act) || !mt_config_float(c, "layer_norm_eps", 1e-5, &p->eps) ||
        !mt_config_float(c, mt_config_has(c, "partial_rotary_factor") ? "partial_rotary_factor" : "rotary_pct", 0.25, &pct) ||
        !mt_config_float(c, mt_config_has(c, "rope_theta") ? "rope_theta" : "rotary_emb_base", 10000.0, &theta) ||
        !mt_config_bool(c, "use_parallel_residual", true, &p->parallel) ||
        !mt_config_bool(c, "attention_bias", true, &p->bias) ||
        !mt_config_bool(c, "tie_word_embeddings", false, &p->tie))
        return mt_ctx_status(m->ctx);
    if (cl_check_heads(m, "num_attention_heads", p->hidden, p->heads) != MT_OK) return mt_ctx_status(m->ctx);
    p->hd = p->hidden / p->heads;
    p->rdim = (int64_t)(p->hd * pct);
    mt_ctx *ctx = m->ctx;
    neox_h *mh = MT_BIND(ctx, m->root, neox_h);
    mt_module *tm = mh ? mh->tm = mt_module_new(ctx, m->root, "gpt_neox", "GPTNeoXModel") : NULL;
    if (!tm) return mt_ctx_status(ctx);
    mt_module *emb = mh->embed = cl_embedding(m, tm, "embed_in", p->vocab, p->hidden);
    mt_module *list = emb && (mh->drop = cl_dropout(m, tm, "emb_dropout", 0.0)) ? mh->list = cl_list(m, tm, "layers")
                                                                               : NULL;
    if (!list) return mt_ctx_status(ctx);
    for (int64_t i = 0; i < p->layers; i++) {
        mt_module *L = cl_layer(m, list, i, "GPTNeoXLayer");
        neox_layer_h *lh = MT_BIND(ctx, L, neox_layer_h);
        if (!lh || !(lh->ln1 = cl_layernorm(m, L, "input_layernorm", p->hidden, p->eps, true)) ||
            !(lh->ln2 = cl_layernorm(m, L, "post_attention_layernorm", p->hidden, p->eps, true)) ||
            !(lh->attn_drop = cl_dropout(m, L, "post_attention_dropout", 0.0)) ||
            !(lh->mlp_drop = cl_dropout(m, L, "post_mlp_dropout", 0.0)))
            return mt_ctx_status(ctx);
        mt_module *at = lh->attn = mt_module_new(ctx, L, "attention", "GPTNeoXAttention");
        mt_attn_h *ah = MT_BIND(ctx, at, mt_attn_h);
        if (!ah || !(ah->qkv = cl_linear(m, at, "query_key_value", p->hidden, 3 * p->hidden, p->bias)) ||
            !(ah->o = cl_linear(m, at, "dense", p->hidden, p->hidden, p->bias)))
            return mt_ctx_status(ctx);
        mt_module *mlp = lh->mlp = mt_module_new(ctx, L, "mlp", "GPTNeoXMLP");
        mt_module *fc1 = mlp ? cl_linear(m, mlp, "dense_h_to_4h", p->hidden, p->inter, true) : NULL;
        mt_module *fc2 = fc1 ? cl_linear(m, mlp, "dense_4h_to_h", p->inter, p->hidden, true) : NULL;
        mt_module *act = fc2 ? mt_act_new(m, mlp, "act", p->act, "hidden_act") : NULL;
        if (!act || mt_fc_mlp_bind(ctx, mlp, fc1, act, fc2) != MT_OK) return mt_ctx_status(ctx);
    }
    if (!(mh->final_ln = cl_layernorm(m, tm, "final_layer_norm", p->hidden, p->eps, true)) ||
        !(mh->rotary = cl_rotary_module(m, tm, "rotary_emb", "GPTNeoXRotaryEmbedding", p->rdim, theta)) ||
        !(mh->lm_head = cl_lm_head(m, m->root, "embed_out", emb, p->tie, p->hidden, p->vocab, false)))
        return mt_ctx_status(ctx);
    mt_model_info(m, "hidden_size", mt_a_int(p->hidden));
    mt_model_info(m, "num_hidden_layers", mt_a_int(p->layers));
    mt_model_info(m, "rotary_ndims", mt_a_int(p->rdim));
    mt_model_info(m, "use_parallel_residual", mt_a_bool(p->parallel));
    if (mt_attn_choose(m, MT_ATTN_BOTH, MT_ATTN_BOTH, MT_ATTN_IMPL_SDPA) != MT_OK) return mt_ctx_status(m->ctx);
    return MT_OK;
}

static mt_tensor *neox_attn(mt_tracer *tr, mt_module *at, mt_tensor *x, mt_tensor *mask, mt_tensor *cos,
                            mt_tensor *sin, const neox *p) {
    const mt_attn_h *ah = MT_BOUND(tr, at, mt_attn_h);
    if (!ah) return NULL;
    mt_tr_enter(tr, at);
    mt_tensor *qkv = mt_tr_call(tr, ah->qkv, x);
    mt_tensor *q = NULL, *k = NULL, *v = NULL;
    if (qkv) {
        /* view(b, s, heads, 3 * head_size).transpose(1, 2).chunk(3, -1) */
        const mt_sym *vs[4] = {qkv->shape[0], qkv->shape[1], NULL, mt_sym_const(tr->ctx, 3 * p->hd)};
        mt_tensor *t = mt_transpose(tr, mt_view(tr, qkv, 4, vs), 1, 2);
        mt_node *ch = t ? mt_chunk(tr, t, 3, -1) : NULL;
        if (ch) q = mt_tr_item(tr, ch, 0), k = mt_tr_item(tr, ch, 1), v = mt_tr_item(tr, ch, 2);
    }
    q = cl_apply_rotary(tr, q, cos, sin, p->rdim, false);
    k = cl_apply_rotary(tr, k, cos, sin, p->rdim, false);
    /* eager_attention_forward (the mask sliced to the key length) or sdpa_attention_forward,
     * both at module.scaling = head_size**-0.5, then reshape(*input_shape, -1).contiguous() */
    mt_attn_args aa = {.n_rep = 1, .scaling = 1.0 / sqrt((double)p->hd), .eager_slice = true};
    mt_tensor *o = mt_attn_forward(tr, tr->model->attn, q, k, v, mask, &aa);
    if (o) {
        const mt_sym *os[3] = {o->shape[0], o->shape[1], NULL};
        o = mt_contiguous(tr, mt_reshape(tr, o, 3, os));
    }
    o = mt_tr_call(tr, ah->o, o);
    mt_tr_leave(tr);
    return o;
}

static mt_tensor *neox_mlp(mt_tracer *tr, mt_module *mlp, mt_tensor *x) {
    const mt_fc_mlp_h *fh = MT_BOUND(tr, mlp, mt_fc_mlp_h);
    if (!fh) return NULL;
    mt_tr_enter(tr, mlp);
    mt_tensor *h = mt_act_forward(tr, fh->act, mt_tr_call(tr, fh->fc1, x));
    h = mt_tr_call(tr, fh->fc2, h);
    mt_tr_leave(tr);
    return h;
}

static mt_status neox_forward(mt_model *m, mt_tracer *tr) {
    const neox *p = m->family;
    mt_tensor *ids = m->inputs.items[0], *amask = m->inputs.items[1];
    const neox_h *mh = MT_BOUND(tr, m->root, neox_h);
    if (!mh) return mt_ctx_status(tr->ctx);
    mt_tr_enter(tr, mh->tm);
    mt_tensor *h = mt_tr_call(tr, mh->embed, ids);
    mt_tensor *pos = mt_unsqueeze(tr, cl_arange(tr, ids->shape[1]), 0);
    mt_tensor *mask = cl_causal_mask(tr, amask, p->dt);
    h = mt_tr_call(tr, mh->drop, h);
    mt_tensor *cos, *sin;
    mt_rope_cos_sin(tr, mh->rotary, h, pos, MT_ROPE_CAT, MT_ROPE_NO_SCALING, &cos, &sin);
    mt_module *list = mh->list;
    for (int i = 0; i < list->children.n && h; i++) {
        mt_module *L = list->children.items[i];
        const neox_layer_h *lh = MT_BOUND(tr, L, neox_layer_h);
        if (!lh) return mt_ctx_status(tr->ctx);
        mt_tr_enter(tr, L);
        mt_tensor *a = neox_attn(tr, lh->attn, mt_tr_call(tr, lh->ln1, h), mask, cos, sin, p);
        a = mt_tr_call(tr, lh->attn_drop, a);
        if (p->parallel) {
            mt_tensor *f = neox_mlp(tr, lh->mlp, mt_tr_call(tr, lh->ln2, h));
            f = mt_tr_call(tr, lh->mlp_drop, f);
            h = mt_add(tr, mt_add(tr, f, a), h);
        } else {
            a = mt_add(tr, a, h);
            mt_tensor *f = neox_mlp(tr, lh->mlp, mt_tr_call(tr, lh->ln2, a));
            f = mt_tr_call(tr, lh->mlp_drop, f);
            h = mt_add(tr, f, a);
        }
        mt_tr_leave(tr);
    }
    h = mt_tr_call(tr, mh->final_ln, h);
    mt_tr_leave(tr);
    return cl_output(tr, mt_tr_call(tr, mh->lm_head, h));
}

const mt_arch mt_arch_gpt_neox = {
    .model_type = "gpt_neox",
    .default_class = "GPTNeoXForCausalLM",
    .example = "togethercomputer/RedPajama-INCITE-7B-Base",
    .build = neox_build,
    .forward = neox_forward,
};
