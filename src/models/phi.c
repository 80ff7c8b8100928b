/* Phi-1/Phi-2 (PhiForCausalLM): one LayerNorm per block feeding attention and
 * MLP in parallel (x + attn(ln(x)) + mlp(ln(x))), q/k/v/dense with biases,
 * partial rotary (partial_rotary_factor), optional q/k LayerNorms, fc1/fc2
 * MLP, lm_head with a bias. Defaults: PhiConfig (configuration_phi.py). */
#include <math.h>

#include "classic.h"

typedef struct phi {
    mt_dtype dt;
    int64_t vocab, hidden, inter, layers, heads, kv, hd, rdim;
    double eps, theta;
    bool qk_ln, tie;
    const char *act;
} phi;

/* The handles the forward reads (blocks.h, "handles bound at build"): the model's (bound to the
 * root) and each layer's; the attention is the shared mt_attn_h (o = dense, the q/k LayerNorms NULL
 * without qk_layernorm), the MLP the shared mt_fc_mlp_h. */
typedef struct phi_h {
    mt_module *model, *embed, *drop, *list, *final_ln, *rotary, *lm_head;
} phi_h;
static const mt_handle_kind phi_h_kind = {"phi phi_h"};
typedef struct phi_layer_h {
    mt_module *attn, *mlp, *ln, *drop;
} phi_layer_h;
static const mt_handle_kind phi_layer_h_kind = {"phi phi_layer_h"};

static mt_status phi_build(mt_model *m) {
    mt_config *c = m->cfg;
    phi *p = mt_alloc(m->ctx, sizeof *p);
    if (!p) return mt_ctx_status(m->ctx);
    m->family = p;
    double prf;
    if (cl_read_dtype_layers(m, &p->dt, "num_hidden_layers", 24, &p->layers) != MT_OK ||
        !mt_config_pos_int(c, "vocab_size", 51200, &p->vocab) || !mt_config_pos_int(c, "hidden_size", 2048, &p->hidden) ||
        !mt_config_pos_int(c, "intermediate_size", 8192, &p->inter) ||
        !mt_config_pos_int(c, "num_attention_heads", 32, &p->heads) ||
        !mt_config_float(c, "layer_norm_eps", 1e-5, &p->eps) || !mt_config_float(c, "rope_theta", 10000.0, &p->theta) ||
        !mt_config_float(c, "partial_rotary_factor", 0.5, &prf) || !mt_config_bool(c, "qk_layernorm", false, &p->qk_ln) ||
        !mt_config_str(c, "hidden_act", "gelu_new", &p->act) || !mt_config_bool(c, "tie_word_embeddings", false, &p->tie))
        return mt_ctx_status(m->ctx);
    if (!mt_config_pos_int(c, "num_key_value_heads", p->heads, &p->kv)) return mt_ctx_status(m->ctx);
    if (cl_check_heads(m, "num_attention_heads", p->hidden, p->heads) != MT_OK) return mt_ctx_status(m->ctx);
    if (p->heads % p->kv != 0)
        return mt_config_error(c, "num_key_value_heads", "num_attention_heads %lld is not divisible by %lld (phi)",
                            (long long)p->heads, (long long)p->kv);
    p->hd = p->hidden / p->heads;
    p->rdim = (int64_t)(p->hd * prf);
    mt_ctx *ctx = m->ctx;
    phi_h *mh = MT_BIND(ctx, m->root, phi_h);
    mt_module *model = mh ? mh->model = mt_module_new(ctx, m->root, "model", "PhiModel") : NULL;
    mt_module *emb = model ? mh->embed = cl_embedding(m, model, "embed_tokens", p->vocab, p->hidden) : NULL;
    mt_module *list = emb && (mh->drop = cl_dropout(m, model, "embed_dropout", 0.0))
                          ? mh->list = cl_list(m, model, "layers")
                          : NULL;
    if (!list) return mt_ctx_status(ctx);
    for (int64_t i = 0; i < p->layers; i++) {
        mt_module *L = cl_layer(m, list, i, "PhiDecoderLayer");
        phi_layer_h *lh = MT_BIND(ctx, L, phi_layer_h);
        mt_module *at = lh ? lh->attn = mt_module_new(ctx, L, "self_attn", "PhiAttention") : NULL;
        mt_attn_h *ah = MT_BIND(ctx, at, mt_attn_h);
        if (!ah || !(ah->q = cl_linear(m, at, "q_proj", p->hidden, p->heads * p->hd, true)) ||
            !(ah->k = cl_linear(m, at, "k_proj", p->hidden, p->kv * p->hd, true)) ||
            !(ah->v = cl_linear(m, at, "v_proj", p->hidden, p->kv * p->hd, true)) ||
            !(ah->o = cl_linear(m, at, "dense", p->heads * p->hd, p->hidden, true)))
            return mt_ctx_status(ctx);
        if (p->qk_ln && (!(ah->q_norm = cl_layernorm(m, at, "q_layernorm", p->hd, p->eps, true)) ||
                         !(ah->k_norm = cl_layernorm(m, at, "k_layernorm", p->hd, p->eps, true))))
            return mt_ctx_status(ctx);
        mt_module *mlp = lh->mlp = mt_module_new(ctx, L, "mlp", "PhiMLP");
        mt_module *act = mlp ? mt_act_new(m, mlp, "activation_fn", p->act, "hidden_act") : NULL;
        mt_module *fc1 = act ? cl_linear(m, mlp, "fc1", p->hidden, p->inter, true) : NULL;
        mt_module *fc2 = fc1 ? cl_linear(m, mlp, "fc2", p->inter, p->hidden, true) : NULL;
        if (!fc2 || mt_fc_mlp_bind(ctx, mlp, fc1, act, fc2) != MT_OK ||
            !(lh->ln = cl_layernorm(m, L, "input_layernorm", p->hidden, p->eps, true)) ||
            !(lh->drop = cl_dropout(m, L, "resid_dropout", 0.0)))
            return mt_ctx_status(ctx);
    }
    if (!(mh->final_ln = cl_layernorm(m, model, "final_layernorm", p->hidden, p->eps, true)) ||
        !(mh->rotary = cl_rotary_module(m, model, "rotary_emb", "PhiRotaryEmbedding", p->rdim, p->theta)) ||
        !(mh->lm_head = cl_lm_head(m, m->root, "lm_head", emb, p->tie, p->hidden, p->vocab, !p->tie)))
        return mt_ctx_status(ctx);
    mt_model_info(m, "hidden_size", mt_a_int(p->hidden));
    mt_model_info(m, "num_hidden_layers", mt_a_int(p->layers));
    mt_model_info(m, "rotary_dim", mt_a_int(p->rdim));
    /* transformers has eager and sdpa for it and picks sdpa; metatrace traces sdpa */
    if (mt_attn_choose(m, MT_ATTN_BOTH, MT_ATTN_BIT(MT_ATTN_IMPL_SDPA), MT_ATTN_IMPL_SDPA) != MT_OK)
        return mt_ctx_status(m->ctx);
    return MT_OK;
}

static mt_status phi_forward(mt_model *m, mt_tracer *tr) {
    const phi *p = m->family;
    mt_tensor *ids = m->inputs.items[0], *amask = m->inputs.items[1];
    const phi_h *mh = MT_BOUND(tr, m->root, phi_h);
    if (!mh) return mt_ctx_status(tr->ctx);
    mt_tr_enter(tr, mh->model);
    mt_tensor *h = mt_tr_call(tr, mh->embed, ids);
    mt_tensor *pos = mt_unsqueeze(tr, cl_arange(tr, ids->shape[1]), 0);
    mt_tensor *mask = cl_causal_mask(tr, amask, p->dt);
    h = mt_tr_call(tr, mh->drop, h);
    mt_tensor *cos, *sin;
    mt_rope_cos_sin(tr, mh->rotary, h, pos, MT_ROPE_CAT, MT_ROPE_NO_SCALING, &cos, &sin);
    mt_module *list = mh->list;
    for (int i = 0; i < list->children.n && h; i++) {
        mt_module *L = list->children.items[i];
        const phi_layer_h *lh = MT_BOUND(tr, L, phi_layer_h);
        const mt_attn_h *ah = lh ? MT_BOUND(tr, lh->attn, mt_attn_h) : NULL;
        const mt_fc_mlp_h *fh = lh ? MT_BOUND(tr, lh->mlp, mt_fc_mlp_h) : NULL;
        if (!ah || !fh) return mt_ctx_status(tr->ctx);
        mt_tr_enter(tr, L);
        mt_tensor *ln = mt_tr_call(tr, lh->ln, h);
        mt_tr_enter(tr, lh->attn);
        mt_tensor *q = cl_split_heads(tr, mt_tr_call(tr, ah->q, ln), p->heads, p->hd);
        mt_tensor *k = cl_split_heads(tr, mt_tr_call(tr, ah->k, ln), p->kv, p->hd);
        mt_tensor *v = cl_split_heads(tr, mt_tr_call(tr, ah->v, ln), p->kv, p->hd);
        if (p->qk_ln) q = mt_tr_call(tr, ah->q_norm, q), k = mt_tr_call(tr, ah->k_norm, k);
        q = cl_apply_rotary(tr, q, cos, sin, p->rdim, false);
        k = cl_apply_rotary(tr, k, cos, sin, p->rdim, false);
        k = mt_dec_repeat_kv(tr, k, p->heads / p->kv);
        v = mt_dec_repeat_kv(tr, v, p->heads / p->kv);
        mt_tensor *o = cl_merge_heads(tr, cl_sdpa(tr, q, k, v, mask, 1.0 / sqrt((double)p->hd)));
        o = mt_tr_call(tr, ah->o, o);
        mt_tr_leave(tr);
        o = mt_tr_call(tr, lh->drop, o);
        mt_tr_enter(tr, lh->mlp);
        mt_tensor *f = mt_act_forward(tr, fh->act, mt_tr_call(tr, fh->fc1, ln));
        f = mt_tr_call(tr, fh->fc2, f);
        mt_tr_leave(tr);
        f = mt_tr_call(tr, lh->drop, f);
        h = mt_add(tr, mt_add(tr, o, f), h);
        mt_tr_leave(tr);
    }
    h = mt_tr_call(tr, mh->final_ln, h);
    mt_tr_leave(tr);
    return cl_output(tr, mt_tr_call(tr, mh->lm_head, h));
}

const mt_arch mt_arch_phi = {
    .model_type = "phi",
    .default_class = "PhiForCausalLM",
    .example = "microsoft/phi-2",
    .build = phi_build,
    .forward = phi_forward,
};
