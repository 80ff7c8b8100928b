/* GPT-J (GPTJForCausalLM): one LayerNorm per block feeding attention and MLP
 * in parallel (x + attn(ln_1(x)) + mlp(ln_1(x))), separate bias-free q/k/v/out
 * projections (registered k, v, q, out), partial rotary on rotary_dim with
 * the interleaved rotate_every_two layout, lm_head with a bias, eager attention
 * (GPTJAttention._attn: transformers has no sdpa for GPT-J). Current transformers
 * registers no buffer in GPTJAttention (the old bias/masked_bias are gone;
 * embed_positions is a plain tensor attribute).
 * Defaults: GPTJConfig (configuration_gptj.py). */
#include <math.h>

#include "classic.h"

typedef struct gptj {
    mt_dtype dt;
    int64_t vocab, embd, layers, heads, hd, rdim, inner;
    double eps;
    const char *act;
    bool tie;
} gptj;

/* The handles the forward reads (blocks.h, "handles bound at build"): the model's (bound to the
 * root) and each block's (its attention's and MLP's children with it). */
typedef struct gptj_h {
    mt_module *tm, *wte, *drop, *list, *ln_f, *rotary, *lm_head;
} gptj_h;
static const mt_handle_kind gptj_h_kind = {"gptj gptj_h"};
typedef struct gptj_layer_h {
    mt_module *ln_1, *attn, *attn_drop, *resid_drop, *q, *k, *v, *o, *mlp, *fc_in, *fc_out, *act, *mlp_drop;
} gptj_layer_h;
static const mt_handle_kind gptj_layer_h_kind = {"gptj gptj_layer_h"};

static mt_status gptj_build(mt_model *m) {
    mt_config *c = m->cfg;
    gptj *p = mt_alloc(m->ctx, sizeof *p);
    if (!p) return mt_ctx_status(m->ctx);
    m->family = p;
    if (cl_read_dtype_layers(m, &p->dt, "n_layer", 28, &p->layers) != MT_OK ||
        !mt_config_pos_int(c, "vocab_size", 50400, &p->vocab) || !mt_config_pos_int(c, "n_embd", 4096, &p->embd) ||
        !mt_config_pos_int(c, "n_head", 16, &p->heads) || !mt_config_float(c, "layer_norm_epsilon", 1e-5, &p->eps) ||
        !mt_config_str(c, "activation_function", "gelu_new", &p->act) ||
        !mt_config_bool(c, "tie_word_embeddings", false, &p->tie))
        return mt_ctx_status(m->ctx);
    if (cl_check_heads(m, "n_head", p->embd, p->heads) != MT_OK) return mt_ctx_status(m->ctx);
    p->hd = p->embd / p->heads;
    if (!mt_config_pos_int(c, "rotary_dim", 64, &p->rdim) || !mt_config_pos_int(c, "n_inner", 4 * p->embd, &p->inner))
        return mt_ctx_status(m->ctx);
    if (p->rdim > p->hd) return mt_config_error(c, "rotary_dim", "rotary_dim %lld exceeds the head size %lld (gptj)",
                                             (long long)p->rdim, (long long)p->hd);
    gptj_h *mh = MT_BIND(m->ctx, m->root, gptj_h);
    mt_module *tm = mh ? mh->tm = mt_module_new(m->ctx, m->root, "transformer", "GPTJModel") : NULL;
    mt_module *wte = tm ? mh->wte = cl_embedding(m, tm, "wte", p->vocab, p->embd) : NULL;
    mt_module *list = wte && (mh->drop = cl_dropout(m, tm, "drop", 0.0)) ? mh->list = cl_list(m, tm, "h") : NULL;
    if (!list) return mt_ctx_status(m->ctx);
    for (int64_t i = 0; i < p->layers; i++) {
        mt_module *L = cl_layer(m, list, i, "GPTJBlock");
        gptj_layer_h *lh = MT_BIND(m->ctx, L, gptj_layer_h);
        if (!lh || !(lh->ln_1 = cl_layernorm(m, L, "ln_1", p->embd, p->eps, true))) return mt_ctx_status(m->ctx);
        mt_module *at = lh->attn = mt_module_new(m->ctx, L, "attn", "GPTJAttention");
        if (!at || !(lh->attn_drop = cl_dropout(m, at, "attn_dropout", 0.0)) ||
            !(lh->resid_drop = cl_dropout(m, at, "resid_dropout", 0.0)) ||
            !(lh->k = cl_linear(m, at, "k_proj", p->embd, p->embd, false)) ||
            !(lh->v = cl_linear(m, at, "v_proj", p->embd, p->embd, false)) ||
            !(lh->q = cl_linear(m, at, "q_proj", p->embd, p->embd, false)) ||
            !(lh->o = cl_linear(m, at, "out_proj", p->embd, p->embd, false)))
            return mt_ctx_status(m->ctx);
        mt_module *mlp = lh->mlp = mt_module_new(m->ctx, L, "mlp", "GPTJMLP");
        if (!mlp || !(lh->fc_in = cl_linear(m, mlp, "fc_in", p->embd, p->inner, true)) ||
            !(lh->fc_out = cl_linear(m, mlp, "fc_out", p->inner, p->embd, true)) ||
            !(lh->act = mt_act_new(m, mlp, "act", p->act, "activation_function")) ||
            !(lh->mlp_drop = cl_dropout(m, mlp, "dropout", 0.0)))
            return mt_ctx_status(m->ctx);
    }
    if (!(mh->ln_f = cl_layernorm(m, tm, "ln_f", p->embd, p->eps, true)) ||
        !(mh->rotary = cl_rotary_module(m, tm, "rotary_emb", "GPTJRotary", p->rdim, 10000.0)) ||
        !(mh->lm_head = cl_lm_head(m, m->root, "lm_head", wte, p->tie, p->embd, p->vocab, !p->tie)))
        return mt_ctx_status(m->ctx);
    mt_model_info(m, "n_embd", mt_a_int(p->embd));
    mt_model_info(m, "n_layer", mt_a_int(p->layers));
    mt_model_info(m, "rotary_dim", mt_a_int(p->rdim));
    /* transformers' GPT-J has eager attention only (no sdpa) */
    if (mt_attn_choose(m, MT_ATTN_BIT(MT_ATTN_IMPL_EAGER), MT_ATTN_BIT(MT_ATTN_IMPL_EAGER), MT_ATTN_IMPL_EAGER) != MT_OK)
        return mt_ctx_status(m->ctx);
    return MT_OK;
}

/* GPTJAttention._attn, the only attention transformers has for GPT-J (GPTJ_ATTENTION_CLASSES:
 * eager and flash_attention_2, no sdpa): q and k in float32, matmul(q, k.transpose(-1, -2)) /
 * scale_attn, + attention_mask[:, :, :, :k_len], softmax(dim=-1), .to(v.dtype), attn_dropout,
 * matmul with v. scale_attn is a plain 0-dim float32 tensor attribute (sqrt(head_dim)), not a
 * buffer; it is recorded as the Python number (same result dtype: float32 / float32). */
static mt_tensor *gptj_attn(mt_tracer *tr, const gptj_layer_h *lh, mt_tensor *q, mt_tensor *k, mt_tensor *v,
                            mt_tensor *mask,
                            const gptj *p) {
    if (!q || !k || !v) return NULL;
    q = mt_to(tr, q, MT_FLOAT32);
    k = mt_to(tr, k, MT_FLOAT32);
    mt_tensor *w = mt_div_s(tr, mt_matmul(tr, q, mt_transpose(tr, k, -1, -2)), sqrt((double)p->hd));
    if (mask && k) {
        mt_arg idx[4] = {mt_a_slice(NULL, NULL, NULL), mt_a_slice(NULL, NULL, NULL), mt_a_slice(NULL, NULL, NULL),
                         mt_a_slice(NULL, k->shape[2], NULL)};
        w = mt_add(tr, w, mt_index(tr, mask, idx, 4));
    }
    w = mt_to(tr, mt_softmax(tr, w, -1, MT_DTYPE_NONE), v->dtype);
    w = mt_tr_call(tr, lh->attn_drop, w);
    return mt_matmul(tr, w, v);
}

static mt_status gptj_forward(mt_model *m, mt_tracer *tr) {
    const gptj *p = m->family;
    mt_tensor *ids = m->inputs.items[0], *amask = m->inputs.items[1];
    const gptj_h *mh = MT_BOUND(tr, m->root, gptj_h);
    if (!mh) return mt_ctx_status(tr->ctx);
    mt_tr_enter(tr, mh->tm);
    mt_tensor *h = mt_tr_call(tr, mh->drop, mt_tr_call(tr, mh->wte, ids));
    mt_tensor *pos = mt_unsqueeze(tr, cl_arange(tr, ids->shape[1]), 0);
    mt_tensor *mask = cl_causal_mask(tr, amask, p->dt);
    /* sin/cos over rotary_dim; GPT-J repeats each frequency twice
     * (repeat_interleave), which has the same [1, seq, rotary_dim] shape */
    mt_tensor *cos, *sin;
    mt_rope_cos_sin(tr, mh->rotary, h, pos, MT_ROPE_CAT, MT_ROPE_NO_SCALING, &cos, &sin);
    mt_module *list = mh->list;
    for (int i = 0; i < list->children.n && h; i++) {
        mt_module *L = list->children.items[i];
        const gptj_layer_h *lh = MT_BOUND(tr, L, gptj_layer_h);
        if (!lh) return mt_ctx_status(tr->ctx);
        mt_tr_enter(tr, L);
        mt_tensor *ln = mt_tr_call(tr, lh->ln_1, h);
        mt_tr_enter(tr, lh->attn);
        mt_tensor *q = cl_split_heads(tr, mt_tr_call(tr, lh->q, ln), p->heads, p->hd);
        mt_tensor *k = cl_split_heads(tr, mt_tr_call(tr, lh->k, ln), p->heads, p->hd);
        mt_tensor *v = cl_split_heads(tr, mt_tr_call(tr, lh->v, ln), p->heads, p->hd);
        q = cl_apply_rotary(tr, q, cos, sin, p->rdim, true);
        k = cl_apply_rotary(tr, k, cos, sin, p->rdim, true);
        mt_tensor *o = cl_merge_heads(tr, gptj_attn(tr, lh, q, k, v, mask, p));
        o = mt_tr_call(tr, lh->resid_drop, mt_tr_call(tr, lh->o, o));
        mt_tr_leave(tr);
        mt_tr_enter(tr, lh->mlp);
        mt_tensor *f = mt_act_forward(tr, lh->act, mt_tr_call(tr, lh->fc_in, ln));
        f = mt_tr_call(tr, lh->mlp_drop, mt_tr_call(tr, lh->fc_out, f));
        mt_tr_leave(tr);
        h = mt_add(tr, mt_add(tr, o, f), h);
        mt_tr_leave(tr);
    }
    h = mt_tr_call(tr, mh->ln_f, h);
    mt_tr_leave(tr);
    return cl_output(tr, mt_tr_call(tr, mh->lm_head, h));
}

const mt_arch mt_arch_gptj = {
    .model_type = "gptj",
    .default_class = "GPTJForCausalLM",
    .example = "EleutherAI/gpt-j-6b",
    .build = gptj_build,
    .forward = gptj_forward,
};
