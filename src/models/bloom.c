/* BLOOM (BloomForCausalLM): ALiBi instead of positions,
 * word_embeddings_layernorm, fused query_key_value laid out [heads, 3,
 * head_dim], eager attention alibi.baddbmm(q, k^T, beta=1, alpha=1/sqrt(hd))
 * (traced as matmul * alpha + alibi: same shapes), fp32 softmax, lm_head tied.
 * Defaults: BloomConfig (configuration_bloom.py; n_embed is the old spelling
 * of hidden_size). */
#include <math.h>

#include "classic.h"

typedef struct bloom {
    mt_dtype dt;
    int64_t vocab, hidden, layers, heads, hd;
    double eps;
    bool post_ln_res, tie;
} bloom;

/* The handles the forward reads (blocks.h, "handles bound at build"): the model's (bound to the
 * root) and each block's (its attention's and MLP's children with it). */
typedef struct bloom_h {
    mt_module *tm, *embed, *embed_ln, *list, *ln_f, *lm_head;
} bloom_h;
static const mt_handle_kind bloom_h_kind = {"bloom bloom_h"};
typedef struct bloom_layer_h {
    mt_module *ln_in, *attn, *qkv, *dense, *attn_drop, *ln_post, *mlp, *fc1, *gelu, *fc2;
} bloom_layer_h;
static const mt_handle_kind bloom_layer_h_kind = {"bloom bloom_layer_h"};

static mt_status bloom_build(mt_model *m) {
    mt_config *c = m->cfg;
    bloom *p = mt_alloc(m->ctx, sizeof *p);
    if (!p) return mt_ctx_status(m->ctx);
    m->family = p;
    if (cl_read_dtype_layers(m, &p->dt, mt_config_has(c, "num_hidden_layers") ? "num_hidden_layers" : "n_layer", 2,
                             &p->layers) != MT_OK ||
        !mt_config_pos_int(c, "vocab_size", 250880, &p->vocab) ||
        !mt_config_pos_int(c, mt_config_has(c, "n_embed") ? "n_embed" : "hidden_size", 64, &p->hidden) ||
        !mt_config_pos_int(c, mt_config_has(c, "num_attention_heads") ? "num_attention_heads" : "n_head", 8, &p->heads) ||
        !mt_config_float(c, "layer_norm_epsilon", 1e-5, &p->eps) ||
        !mt_config_bool(c, "apply_residual_connection_post_layernorm", false, &p->post_ln_res) ||
        !mt_config_bool(c, "tie_word_embeddings", true, &p->tie))
        return mt_ctx_status(m->ctx);
    if (cl_check_heads(m, "num_attention_heads", p->hidden, p->heads) != MT_OK) return mt_ctx_status(m->ctx);
    p->hd = p->hidden / p->heads;
    bloom_h *mh = MT_BIND(m->ctx, m->root, bloom_h);
    mt_module *tm = mh ? mh->tm = mt_module_new(m->ctx, m->root, "transformer", "BloomModel") : NULL;
    mt_module *emb = tm ? mh->embed = cl_embedding(m, tm, "word_embeddings", p->vocab, p->hidden) : NULL;
    mt_module *list = emb && (mh->embed_ln = cl_layernorm(m, tm, "word_embeddings_layernorm", p->hidden, p->eps, true))
                          ? mh->list = cl_list(m, tm, "h") : NULL;
    if (!list) return mt_ctx_status(m->ctx);
    for (int64_t i = 0; i < p->layers; i++) {
        mt_module *L = cl_layer(m, list, i, "BloomBlock");
        bloom_layer_h *lh = MT_BIND(m->ctx, L, bloom_layer_h);
        if (!lh || !(lh->ln_in = cl_layernorm(m, L, "input_layernorm", p->hidden, p->eps, true)))
            return mt_ctx_status(m->ctx);
        mt_module *at = lh->attn = mt_module_new(m->ctx, L, "self_attention", "BloomAttention");
        if (!at || !(lh->qkv = cl_linear(m, at, "query_key_value", p->hidden, 3 * p->hidden, true)) ||
            !(lh->dense = cl_linear(m, at, "dense", p->hidden, p->hidden, true)) ||
            !(lh->attn_drop = cl_dropout(m, at, "attention_dropout", 0.0)) ||
            !(lh->ln_post = cl_layernorm(m, L, "post_attention_layernorm", p->hidden, p->eps, true)))
            return mt_ctx_status(m->ctx);
        mt_module *mlp = lh->mlp = mt_module_new(m->ctx, L, "mlp", "BloomMLP");
        if (!mlp || !(lh->fc1 = cl_linear(m, mlp, "dense_h_to_4h", p->hidden, 4 * p->hidden, true)) ||
            !(lh->gelu = mt_module_new(m->ctx, mlp, "gelu_impl", "BloomGelu")) ||
            !(lh->fc2 = cl_linear(m, mlp, "dense_4h_to_h", 4 * p->hidden, p->hidden, true)))
            return mt_ctx_status(m->ctx);
    }
    if (!(mh->ln_f = cl_layernorm(m, tm, "ln_f", p->hidden, p->eps, true)) ||
        !(mh->lm_head = cl_lm_head(m, m->root, "lm_head", emb, p->tie, p->hidden, p->vocab, false)))
        return mt_ctx_status(m->ctx);
    mt_model_info(m, "hidden_size", mt_a_int(p->hidden));
    mt_model_info(m, "n_layer", mt_a_int(p->layers));
    mt_model_info(m, "n_head", mt_a_int(p->heads));
    /* transformers' BLOOM has eager attention only (no sdpa) */
    if (mt_attn_choose(m, MT_ATTN_BIT(MT_ATTN_IMPL_EAGER), MT_ATTN_BIT(MT_ATTN_IMPL_EAGER), MT_ATTN_IMPL_EAGER) != MT_OK)
        return mt_ctx_status(m->ctx);
    return MT_OK;
}

static mt_tensor *bloom_attn(mt_tracer *tr, const bloom_layer_h *lh, mt_tensor *x, mt_tensor *mask, mt_tensor *alibi,
                             const bloom *p) {
    mt_ctx *ctx = tr->ctx;
    mt_tr_enter(tr, lh->attn);
    mt_tensor *qkv = mt_tr_call(tr, lh->qkv, x), *o = NULL;
    if (qkv && alibi) {
        const mt_sym *b = qkv->shape[0], *s = qkv->shape[1], *bh = mt_sym_mul_const(ctx, b, p->heads);
        const mt_sym *hd = mt_sym_const(ctx, p->hd), *H = mt_sym_const(ctx, p->heads);
        const mt_sym *vs[5] = {b, s, H, mt_sym_const(ctx, 3), hd};
        mt_tensor *f = mt_view(tr, qkv, 5, vs);
        mt_arg i0[3] = {mt_a_ellipsis(), mt_a_int(0), mt_a_slice(NULL, NULL, NULL)};
        mt_arg i1[3] = {mt_a_ellipsis(), mt_a_int(1), mt_a_slice(NULL, NULL, NULL)};
        mt_arg i2[3] = {mt_a_ellipsis(), mt_a_int(2), mt_a_slice(NULL, NULL, NULL)};
        mt_tensor *q = mt_index(tr, f, i0, 3), *k = mt_index(tr, f, i1, 3), *v = mt_index(tr, f, i2, 3);
        const mt_sym *qs[3] = {bh, s, hd}, *ks[3] = {bh, hd, s};
        int64_t perm[4] = {0, 2, 3, 1};
        q = mt_reshape(tr, mt_transpose(tr, q, 1, 2), 3, qs);
        k = mt_reshape(tr, mt_permute(tr, k, 4, perm), 3, ks);
        v = mt_reshape(tr, mt_transpose(tr, v, 1, 2), 3, qs);
        mt_tensor *sc = mt_add(tr, alibi, mt_mul_s(tr, mt_matmul(tr, q, k), 1.0 / sqrt((double)p->hd)));
        const mt_sym *s4[4] = {b, H, s, s};
        sc = mt_view(tr, sc, 4, s4);
        sc = mt_add(tr, sc, mask);
        mt_tensor *w = mt_to(tr, mt_softmax(tr, sc, -1, MT_FLOAT32), p->dt);
        w = mt_tr_call(tr, lh->attn_drop, w);
        const mt_sym *s3[3] = {bh, s, s};
        mt_tensor *ctxl = mt_matmul(tr, mt_view(tr, w, 3, s3), v);
        const mt_sym *m4[4] = {b, H, s, hd};
        int64_t pm[4] = {0, 2, 1, 3};
        ctxl = mt_permute(tr, mt_view(tr, ctxl, 4, m4), 4, pm);
        const mt_sym *m3[3] = {b, s, mt_sym_const(ctx, p->hidden)};
        o = mt_tr_call(tr, lh->dense, mt_reshape(tr, ctxl, 3, m3));
    }
    mt_tr_leave(tr);
    return o;
}

static mt_status bloom_forward(mt_model *m, mt_tracer *tr) {
    const bloom *p = m->family;
    mt_tensor *ids = m->inputs.items[0], *amask = m->inputs.items[1];
    const bloom_h *mh = MT_BOUND(tr, m->root, bloom_h);
    if (!mh) return mt_ctx_status(tr->ctx);
    mt_tr_enter(tr, mh->tm);
    mt_tensor *h = mt_tr_call(tr, mh->embed_ln, mt_tr_call(tr, mh->embed, ids));
    mt_tensor *alibi = cl_alibi(tr, amask, p->heads, p->dt, false);
    mt_tensor *mask = cl_causal_mask(tr, amask, p->dt);
    mt_module *list = mh->list;
    for (int i = 0; i < list->children.n && h; i++) {
        mt_module *L = list->children.items[i];
        const bloom_layer_h *lh = MT_BOUND(tr, L, bloom_layer_h);
        if (!lh) return mt_ctx_status(tr->ctx);
        mt_tr_enter(tr, L);
        mt_tensor *ln = mt_tr_call(tr, lh->ln_in, h);
        mt_tensor *res = p->post_ln_res ? ln : h;
        mt_tensor *a = mt_add(tr, bloom_attn(tr, lh, ln, mask, alibi, p), res);
        ln = mt_tr_call(tr, lh->ln_post, a);
        res = p->post_ln_res ? ln : a;
        mt_tr_enter(tr, lh->mlp);
        mt_tensor *f = mt_tr_call(tr, lh->fc1, ln);
        mt_tr_enter(tr, lh->gelu); /* BloomGelu: the tanh approximation */
        f = mt_gelu(tr, f, "tanh");
        mt_tr_leave(tr);
        f = mt_add(tr, mt_tr_call(tr, lh->fc2, f), res);
        mt_tr_leave(tr);
        h = f;
        mt_tr_leave(tr);
    }
    h = mt_tr_call(tr, mh->ln_f, h);
    mt_tr_leave(tr);
    return cl_output(tr, mt_tr_call(tr, mh->lm_head, h));
}

const mt_arch mt_arch_bloom = {
    .model_type = "bloom",
    .default_class = "BloomForCausalLM",
    .example = "bigscience/bloom-560m",
    .build = bloom_build,
    .forward = bloom_forward,
};
