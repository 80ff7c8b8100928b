/* Falcon (FalconForCausalLM), also the pre-"falcon" remote-code configs
 * model_type RefinedWebModel (7B: multi-query) and RefinedWeb (40B: the
 * new decoder architecture with grouped kv heads). Fused query_key_value:
 * new architecture [kv_heads, heads/kv_heads + 2, head_dim] rows, multi-query
 * [heads + 2, head_dim], else [heads, 3, head_dim]; parallel attention
 * (mlp(ln(x)) + attn(ln(x)) + x); rotary unless alibi; lm_head tied to the
 * word embeddings (the bin index stores both copies: see SOURCES.md).
 * Defaults: FalconConfig (configuration_falcon.py); the old configs spell
 * n_head/n_layer/n_head_kv/n_embed. */
#include <math.h>
#include <string.h>

#include "classic.h"

typedef struct falcon {
    mt_dtype dt;
    int64_t vocab, hidden, layers, heads, kv, hd, ffn, nln;
    double eps, theta;
    bool alibi, newarch, mq, parallel, bias, tie;
    const char *act;
} falcon;

static bool int_alias(mt_model *m, const char *a, const char *b, int64_t def, int64_t *out) {
    return mt_config_pos_int(m->cfg, mt_config_has(m->cfg, a) ? a : b, def, out);
}

/* The handles the forward reads (blocks.h, "handles bound at build"): the model's (bound to the
 * root; rotary_emb NULL with ALiBi) and each layer's (the attention the shared mt_attn_h with qkv =
 * query_key_value and o = dense, the MLP the shared mt_fc_mlp_h; ln_attn/ln_mlp for the new
 * architecture's two norms, else input_layernorm and, when not parallel, post_attention_layernorm). */
typedef struct falcon_h {
    mt_module *tm, *embed, *list, *ln_f, *rotary, *lm_head;
} falcon_h;
static const mt_handle_kind falcon_h_kind = {"falcon falcon_h"};
typedef struct falcon_layer_h {
    mt_module *attn, *mlp, *ln_attn, *ln_mlp, *ln_in, *ln_post;
} falcon_layer_h;
static const mt_handle_kind falcon_layer_h_kind = {"falcon falcon_layer_h"};

static mt_status falcon_build(mt_model *m) {
    mt_config *c = m->cfg;
    falcon *p = mt_alloc(m->ctx, sizeof *p);
    if (!p) return mt_ctx_status(m->ctx);
    m->family = p;
    /* RefinedWeb (falcon-40b's remote code) always uses the new architecture. */
    bool rw40 = strcmp(m->model_type, "RefinedWeb") == 0;
    if (mt_model_read_dtype(m, &p->dt) != MT_OK) return mt_ctx_status(m->ctx);
    m->dtype = p->dt;
    if (!int_alias(m, "num_hidden_layers", "n_layer", 32, &p->layers) ||
        !mt_config_pos_int(c, "vocab_size", 65024, &p->vocab) ||
        !int_alias(m, "n_embed", "hidden_size", 4544, &p->hidden) ||
        !int_alias(m, "num_attention_heads", "n_head", 71, &p->heads) ||
        !mt_config_float(c, "layer_norm_epsilon", 1e-5, &p->eps) ||
        !mt_config_bool(c, "alibi", false, &p->alibi) ||
        !mt_config_bool(c, "new_decoder_architecture", rw40, &p->newarch) ||
        !mt_config_bool(c, "multi_query", true, &p->mq) || !mt_config_bool(c, "parallel_attn", true, &p->parallel) ||
        !mt_config_bool(c, "bias", false, &p->bias) || !mt_config_bool(c, "tie_word_embeddings", true, &p->tie) ||
        !mt_config_float(c, "rope_theta", 10000.0, &p->theta) || !mt_config_str(c, "activation", "gelu", &p->act))
        return mt_ctx_status(m->ctx);
    if (m->num_layers > 0) p->layers = m->num_layers;
    m->num_layers = p->layers;
    if (cl_check_heads(m, mt_config_has(c, "n_head") ? "n_head" : "num_attention_heads", p->hidden, p->heads) != MT_OK)
        return mt_ctx_status(m->ctx);
    p->hd = p->hidden / p->heads;
    if (!int_alias(m, "num_kv_heads", "n_head_kv", p->heads, &p->kv) ||
        !mt_config_pos_int(c, "ffn_hidden_size", 4 * p->hidden, &p->ffn) ||
        !mt_config_pos_int(c, "num_ln_in_parallel_attn", p->newarch ? 2 : 1, &p->nln))
        return mt_ctx_status(m->ctx);
    if (p->newarch && p->heads % p->kv != 0)
        return mt_config_error(c, mt_config_has(c, "n_head_kv") ? "n_head_kv" : "num_kv_heads",
                            "num_attention_heads %lld is not divisible by the kv heads %lld (falcon)",
                            (long long)p->heads, (long long)p->kv);
    int64_t qkv = p->newarch ? (2 * p->kv + p->heads) * p->hd : p->mq ? p->hidden + 2 * p->hd : 3 * p->hidden;
    mt_ctx *ctx = m->ctx;
    falcon_h *mh = MT_BIND(ctx, m->root, falcon_h);
    mt_module *tm = mh ? mh->tm = mt_module_new(ctx, m->root, "transformer", "FalconModel") : NULL;
    mt_module *emb = tm ? mh->embed = cl_embedding(m, tm, "word_embeddings", p->vocab, p->hidden) : NULL;
    mt_module *list = emb ? mh->list = cl_list(m, tm, "h") : NULL;
    if (!list) return mt_ctx_status(ctx);
    for (int64_t i = 0; i < p->layers; i++) {
        mt_module *L = cl_layer(m, list, i, "FalconDecoderLayer");
        falcon_layer_h *lh = MT_BIND(ctx, L, falcon_layer_h);
        mt_module *at = lh ? lh->attn = mt_module_new(ctx, L, "self_attention", "FalconAttention") : NULL;
        mt_attn_h *ah = MT_BIND(ctx, at, mt_attn_h);
        if (!ah || !(ah->qkv = cl_linear(m, at, "query_key_value", p->hidden, qkv, p->bias)) ||
            !(ah->o = cl_linear(m, at, "dense", p->hidden, p->hidden, p->bias)) ||
            !cl_dropout(m, at, "attention_dropout", 0.0))
            return mt_ctx_status(ctx);
        mt_module *mlp = lh->mlp = mt_module_new(ctx, L, "mlp", "FalconMLP");
        mt_module *fc1 = mlp ? cl_linear(m, mlp, "dense_h_to_4h", p->hidden, p->ffn, p->bias) : NULL;
        mt_module *act = fc1 ? mt_act_new(m, mlp, "act", p->act, "activation") : NULL;
        mt_module *fc2 = act ? cl_linear(m, mlp, "dense_4h_to_h", p->ffn, p->hidden, p->bias) : NULL;
        if (!fc2 || mt_fc_mlp_bind(ctx, mlp, fc1, act, fc2) != MT_OK) return mt_ctx_status(ctx);
        if (p->newarch && p->nln == 2) {
            if (!(lh->ln_attn = cl_layernorm(m, L, "ln_attn", p->hidden, p->eps, true)) ||
                !(lh->ln_mlp = cl_layernorm(m, L, "ln_mlp", p->hidden, p->eps, true)))
                return mt_ctx_status(ctx);
        } else {
            if (!(lh->ln_in = cl_layernorm(m, L, "input_layernorm", p->hidden, p->eps, true)))
                return mt_ctx_status(ctx);
            if (!p->parallel &&
                !(lh->ln_post = cl_layernorm(m, L, "post_attention_layernorm", p->hidden, p->eps, true)))
                return mt_ctx_status(ctx);
        }
    }
    if (!(mh->ln_f = cl_layernorm(m, tm, "ln_f", p->hidden, p->eps, true))) return mt_ctx_status(ctx);
    if (!p->alibi && !(mh->rotary = cl_rotary_module(m, tm, "rotary_emb", "FalconRotaryEmbedding", p->hd, p->theta)))
        return mt_ctx_status(ctx);
    if (!(mh->lm_head = cl_lm_head(m, m->root, "lm_head", emb, p->tie, p->hidden, p->vocab, false)))
        return mt_ctx_status(ctx);
    mt_model_info(m, "hidden_size", mt_a_int(p->hidden));
    mt_model_info(m, "num_hidden_layers", mt_a_int(p->layers));
    mt_model_info(m, "num_attention_heads", mt_a_int(p->heads));
    mt_model_info(m, "num_kv_heads", mt_a_int(p->newarch ? p->kv : p->mq ? 1 : p->heads));
    mt_model_info(m, "new_decoder_architecture", mt_a_bool(p->newarch));
    mt_model_info(m, "alibi", mt_a_bool(p->alibi));
    /* transformers' Falcon has eager and sdpa and picks sdpa; metatrace traces sdpa with rotary
     * and, with ALiBi, the eager scores + alibi path (same shapes) — only that one is offered */
    mt_attn_impl traced = p->alibi ? MT_ATTN_IMPL_EAGER : MT_ATTN_IMPL_SDPA;
    if (mt_attn_choose(m, MT_ATTN_BOTH, MT_ATTN_BIT(traced), traced) != MT_OK) return mt_ctx_status(m->ctx);
    return MT_OK;
}

/* q [b, heads, s, hd]; k, v [b, heads, s, hd] (broadcast from the kv heads). */
static mt_tensor *falcon_attn(mt_tracer *tr, mt_module *at, mt_tensor *x, mt_tensor *mask, mt_tensor *alibi,
                              mt_tensor *cos, mt_tensor *sin, const falcon *p) {
    mt_ctx *ctx = tr->ctx;
    const mt_attn_h *ah = MT_BOUND(tr, at, mt_attn_h);
    if (!ah) return NULL;
    mt_tr_enter(tr, at);
    mt_tensor *qkv = mt_tr_call(tr, ah->qkv, x);
    mt_tensor *q = NULL, *k = NULL, *v = NULL;
    if (qkv) {
        const mt_sym *b = qkv->shape[0], *s = qkv->shape[1];
        const mt_sym *m2 = mt_sym_const(ctx, -2), *m1 = mt_sym_const(ctx, -1);
        /* k = fused[..., [-2], :], v = fused[..., [-1], :] in transformers; the
         * slices -2:-1 and -1: give the same shapes without list indexing */
        if (p->newarch) {
            int64_t g = p->heads / p->kv;
            const mt_sym *vs[5] = {b, s, NULL, mt_sym_const(ctx, g + 2), mt_sym_const(ctx, p->hd)};
            mt_tensor *f = mt_view(tr, qkv, 5, vs);
            mt_arg iq[5] = {mt_a_slice(NULL, NULL, NULL), mt_a_slice(NULL, NULL, NULL), mt_a_slice(NULL, NULL, NULL),
                            mt_a_slice(NULL, m2, NULL), mt_a_ellipsis()};
            mt_arg ik[5] = {iq[0], iq[1], iq[2], mt_a_slice(m2, m1, NULL), mt_a_ellipsis()};
            mt_arg iv[5] = {iq[0], iq[1], iq[2], mt_a_slice(m1, NULL, NULL), mt_a_ellipsis()};
            q = mt_index(tr, f, iq, 5);
            k = mt_index(tr, f, ik, 5);
            v = mt_index(tr, f, iv, 5);
            if (q) {
                /* broadcast_to(query.shape) traced as expand */
                k = mt_expand(tr, k, 5, (const mt_sym *const *)q->shape);
                v = mt_expand(tr, v, 5, (const mt_sym *const *)q->shape);
            }
            const mt_sym *fs[4] = {b, s, mt_sym_const(ctx, p->heads), mt_sym_const(ctx, p->hd)};
            q = mt_reshape(tr, q, 4, fs), k = mt_reshape(tr, k, 4, fs), v = mt_reshape(tr, v, 4, fs);
        } else if (p->mq) {
            const mt_sym *vs[4] = {b, s, mt_sym_const(ctx, p->heads + 2), mt_sym_const(ctx, p->hd)};
            mt_tensor *f = mt_view(tr, qkv, 4, vs);
            mt_arg iq[3] = {mt_a_ellipsis(), mt_a_slice(NULL, m2, NULL), mt_a_slice(NULL, NULL, NULL)};
            mt_arg ik[3] = {mt_a_ellipsis(), mt_a_slice(m2, m1, NULL), mt_a_slice(NULL, NULL, NULL)};
            mt_arg iv[3] = {mt_a_ellipsis(), mt_a_slice(m1, NULL, NULL), mt_a_slice(NULL, NULL, NULL)};
            q = mt_index(tr, f, iq, 3), k = mt_index(tr, f, ik, 3), v = mt_index(tr, f, iv, 3);
        } else {
            const mt_sym *vs[5] = {b, s, mt_sym_const(ctx, p->heads), mt_sym_const(ctx, 3), mt_sym_const(ctx, p->hd)};
            mt_tensor *f = mt_view(tr, qkv, 5, vs);
            mt_arg i0[3] = {mt_a_ellipsis(), mt_a_int(0), mt_a_slice(NULL, NULL, NULL)};
            mt_arg i1[3] = {mt_a_ellipsis(), mt_a_int(1), mt_a_slice(NULL, NULL, NULL)};
            mt_arg i2[3] = {mt_a_ellipsis(), mt_a_int(2), mt_a_slice(NULL, NULL, NULL)};
            q = mt_index(tr, f, i0, 3), k = mt_index(tr, f, i1, 3), v = mt_index(tr, f, i2, 3);
        }
    }
    q = mt_transpose(tr, q, 1, 2), k = mt_transpose(tr, k, 1, 2), v = mt_transpose(tr, v, 1, 2);
    mt_tensor *o;
    if (!p->alibi) {
        q = cl_apply_rotary(tr, q, cos, sin, p->hd, false);
        k = cl_apply_rotary(tr, k, cos, sin, p->hd, false);
        o = cl_sdpa(tr, q, k, v, mask, 0);
    } else {
        /* alibi [b*heads, 1, s] -> [b, heads, 1, s], added to the scores (eager) */
        mt_tensor *al = NULL;
        if (alibi && q) {
            const mt_sym *as[4] = {q->shape[0], mt_sym_const(ctx, p->heads), mt_sym_const(ctx, 1), NULL};
            al = mt_view(tr, alibi, 4, as);
        }
        o = cl_eager_attn(tr, q, k, v, al, mask, 1.0 / sqrt((double)p->hd), true);
    }
    o = mt_tr_call(tr, ah->o, cl_merge_heads(tr, o));
    mt_tr_leave(tr);
    return o;
}

static mt_tensor *falcon_mlp(mt_tracer *tr, mt_module *mlp, mt_tensor *x) {
    const mt_fc_mlp_h *fh = MT_BOUND(tr, mlp, mt_fc_mlp_h);
    if (!fh) return NULL;
    mt_tr_enter(tr, mlp);
    mt_tensor *h = mt_act_forward(tr, fh->act, mt_tr_call(tr, fh->fc1, x));
    h = mt_tr_call(tr, fh->fc2, h);
    mt_tr_leave(tr);
    return h;
}

/* dropout_add: F.dropout(x, p, training) + residual */
static mt_tensor *dropout_add(mt_tracer *tr, mt_tensor *x, mt_tensor *res) {
    if (!x) return NULL;
    mt_arg a[1] = {mt_a_tensor(x)};
    mt_kwarg k[2] = {{"p", mt_a_float(0.0)}, {"training", mt_a_bool(false)}};
    return mt_add(tr, mt_tr_op1(tr, MT_OP_DROPOUT, a, 1, k, 2), res);
}

static mt_status falcon_forward(mt_model *m, mt_tracer *tr) {
    const falcon *p = m->family;
    mt_tensor *ids = m->inputs.items[0], *amask = m->inputs.items[1];
    const falcon_h *mh = MT_BOUND(tr, m->root, falcon_h);
    if (!mh) return mt_ctx_status(tr->ctx);
    mt_tr_enter(tr, mh->tm);
    mt_tensor *h = mt_tr_call(tr, mh->embed, ids);
    mt_tensor *mask = cl_causal_mask(tr, amask, p->dt);
    mt_tensor *cos = NULL, *sin = NULL, *alibi = NULL;
    if (p->alibi) {
        alibi = cl_alibi(tr, amask, p->heads, p->dt, true);
    } else {
        mt_tensor *pos = mt_unsqueeze(tr, cl_arange(tr, ids->shape[1]), 0);
        mt_rope_cos_sin(tr, mh->rotary, h, pos, MT_ROPE_CAT, MT_ROPE_NO_SCALING, &cos, &sin);
    }
    mt_module *list = mh->list;
    for (int i = 0; i < list->children.n && h; i++) {
        mt_module *L = list->children.items[i];
        const falcon_layer_h *lh = MT_BOUND(tr, L, falcon_layer_h);
        if (!lh) return mt_ctx_status(tr->ctx);
        mt_tr_enter(tr, L);
        mt_tensor *res = h, *aln, *mln = NULL;
        if (p->newarch && p->nln == 2) {
            aln = mt_tr_call(tr, lh->ln_attn, h);
            mln = mt_tr_call(tr, lh->ln_mlp, h);
        } else {
            aln = mt_tr_call(tr, lh->ln_in, h);
        }
        mt_tensor *a = falcon_attn(tr, lh->attn, aln, mask, alibi, cos, sin, p);
        if (!p->newarch) {
            if (p->parallel) {
                mln = aln;
            } else {
                res = dropout_add(tr, a, res);
                mln = mt_tr_call(tr, lh->ln_post, res);
            }
        } else if (p->parallel && p->nln == 1) {
            mln = aln;
        }
        mt_tensor *f = falcon_mlp(tr, lh->mlp, mln);
        if (p->newarch || p->parallel) f = mt_add(tr, f, a);
        h = dropout_add(tr, f, res);
        mt_tr_leave(tr);
    }
    h = mt_tr_call(tr, mh->ln_f, h);
    mt_tr_leave(tr);
    return cl_output(tr, mt_tr_call(tr, mh->lm_head, h));
}

static const char *const falcon_aliases[] = {"RefinedWebModel", "RefinedWeb", NULL};

const mt_arch mt_arch_falcon = {
    .model_type = "falcon",
    .aliases = falcon_aliases,
    .default_class = "FalconForCausalLM",
    .example = "tiiuae/falcon-7b",
    .build = falcon_build,
    .forward = falcon_forward,
};
