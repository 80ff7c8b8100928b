/* GPT-2 (GPT2LMHeadModel): learned absolute positions (wpe), pre-LN blocks
 * whose projections are transformers' Conv1D (weights stored [in, out]),
 * c_attn fused [q | k | v] split along the last dim, lm_head tied to wte.
 * Each GPT2Attention registers the non-persistent buffers bias [1, 1, n_positions,
 * n_positions] bool and masked_bias [] (not in the checkpoint, counted as buffers).
 * Defaults: GPT2Config (configuration_gpt2.py). */
#include <math.h>

#include "classic.h"

typedef struct gpt2 {
    mt_dtype dt;
    int64_t vocab, npos, embd, layers, heads, hd, inner;
    double eps;
    bool scale;
    const char *act;
} gpt2;

/* The handles the forward reads (blocks.h, "handles bound at build"): the model's (bound to the
 * root) and each block's (its attention's and MLP's children with it). */
typedef struct gpt2_h {
    mt_module *tm, *wte, *wpe, *drop, *list, *ln_f, *lm_head;
} gpt2_h;
static const mt_handle_kind gpt2_h_kind = {"gpt2 gpt2_h"};
typedef struct gpt2_layer_h {
    mt_module *ln_1, *attn, *c_attn, *c_proj, *resid_drop, *ln_2, *mlp, *c_fc, *mlp_proj, *act, *mlp_drop;
} gpt2_layer_h;
static const mt_handle_kind gpt2_layer_h_kind = {"gpt2 gpt2_layer_h"};

static mt_status gpt2_build(mt_model *m) {
    mt_config *c = m->cfg;
    gpt2 *p = mt_alloc(m->ctx, sizeof *p);
    if (!p) return mt_ctx_status(m->ctx);
    m->family = p;
    if (cl_read_dtype_layers(m, &p->dt, "n_layer", 12, &p->layers) != MT_OK ||
        !mt_config_pos_int(c, "vocab_size", 50257, &p->vocab) || !mt_config_pos_int(c, "n_positions", 1024, &p->npos) ||
        !mt_config_pos_int(c, "n_embd", 768, &p->embd) || !mt_config_pos_int(c, "n_head", 12, &p->heads) ||
        !mt_config_float(c, "layer_norm_epsilon", 1e-5, &p->eps) ||
        !mt_config_str(c, "activation_function", "gelu_new", &p->act) ||
        !mt_config_bool(c, "scale_attn_weights", true, &p->scale))
        return mt_ctx_status(m->ctx);
    if (cl_check_heads(m, "n_head", p->embd, p->heads) != MT_OK) return mt_ctx_status(m->ctx);
    p->hd = p->embd / p->heads;
    if (!mt_config_pos_int(c, "n_inner", 4 * p->embd, &p->inner)) return mt_ctx_status(m->ctx);
    gpt2_h *mh = MT_BIND(m->ctx, m->root, gpt2_h);
    mt_module *tm = mh ? mh->tm = mt_module_new(m->ctx, m->root, "transformer", "GPT2Model") : NULL;
    mt_module *wte = tm ? mh->wte = cl_embedding(m, tm, "wte", p->vocab, p->embd) : NULL;
    mt_module *list = wte && (mh->wpe = cl_embedding(m, tm, "wpe", p->npos, p->embd)) &&
                              (mh->drop = cl_dropout(m, tm, "drop", 0.1))
                          ? mh->list = cl_list(m, tm, "h") : NULL;
    if (!list) return mt_ctx_status(m->ctx);
    for (int64_t i = 0; i < p->layers; i++) {
        mt_module *L = cl_layer(m, list, i, "GPT2Block");
        gpt2_layer_h *lh = MT_BIND(m->ctx, L, gpt2_layer_h);
        if (!lh || !(lh->ln_1 = cl_layernorm(m, L, "ln_1", p->embd, p->eps, true))) return mt_ctx_status(m->ctx);
        mt_module *at = lh->attn = mt_module_new(m->ctx, L, "attn", "GPT2Attention");
        /* GPT2Attention.__init__ registers two non-persistent buffers first: bias, the causal
         * tril(ones(max_positions, max_positions), bool).view(1, 1, n, n), and masked_bias,
         * torch.tensor(-1e4) (the default dtype, i.e. the model's when loaded with a torch_dtype) */
        int64_t bs[4] = {1, 1, p->npos, p->npos}, none = 0;
        if (!at || !mt_buffer_new(m->ctx, at, "bias", MT_BOOL, MT_DEVICE_CPU, 4, bs, false, true) ||
            !mt_buffer_new(m->ctx, at, "masked_bias", p->dt, MT_DEVICE_CPU, 0, &none, false, true))
            return mt_ctx_status(m->ctx);
        if (!(lh->c_attn = cl_conv1d(m, at, "c_attn", p->embd, 3 * p->embd)) ||
            !(lh->c_proj = cl_conv1d(m, at, "c_proj", p->embd, p->embd)) || !cl_dropout(m, at, "attn_dropout", 0.1) ||
            !(lh->resid_drop = cl_dropout(m, at, "resid_dropout", 0.1)) ||
            !(lh->ln_2 = cl_layernorm(m, L, "ln_2", p->embd, p->eps, true)))
            return mt_ctx_status(m->ctx);
        mt_module *mlp = lh->mlp = mt_module_new(m->ctx, L, "mlp", "GPT2MLP");
        if (!mlp || !(lh->c_fc = cl_conv1d(m, mlp, "c_fc", p->embd, p->inner)) ||
            !(lh->mlp_proj = cl_conv1d(m, mlp, "c_proj", p->inner, p->embd)) ||
            !(lh->act = mt_act_new(m, mlp, "act", p->act, "activation_function")) ||
            !(lh->mlp_drop = cl_dropout(m, mlp, "dropout", 0.1)))
            return mt_ctx_status(m->ctx);
    }
    if (!(mh->ln_f = cl_layernorm(m, tm, "ln_f", p->embd, p->eps, true)) ||
        !(mh->lm_head = cl_lm_head(m, m->root, "lm_head", wte, true, p->embd, p->vocab, false)))
        return mt_ctx_status(m->ctx);
    mt_model_info(m, "n_embd", mt_a_int(p->embd));
    mt_model_info(m, "n_layer", mt_a_int(p->layers));
    mt_model_info(m, "n_head", mt_a_int(p->heads));
    /* transformers' GPT-2 has eager and sdpa and picks sdpa; metatrace traces sdpa only: GPT-2's
     * own eager_attention_forward slices the causal buffer, module.bias[:, :, k_len - q_len:k_len,
     * :k_len], and min(seq, n_positions) is undecidable for the slice rule (seq has no upper bound) */
    if (mt_attn_choose(m, MT_ATTN_BOTH, MT_ATTN_BIT(MT_ATTN_IMPL_SDPA), MT_ATTN_IMPL_SDPA) != MT_OK)
        return mt_ctx_status(m->ctx);
    return MT_OK;
}

static mt_status gpt2_forward(mt_model *m, mt_tracer *tr) {
    const gpt2 *p = m->family;
    mt_tensor *ids = m->inputs.items[0], *amask = m->inputs.items[1];
    const gpt2_h *mh = MT_BOUND(tr, m->root, gpt2_h);
    if (!mh) return mt_ctx_status(tr->ctx);
    mt_tr_enter(tr, mh->tm);
    mt_tensor *pos = mt_unsqueeze(tr, cl_arange(tr, ids->shape[1]), 0);
    /* wte(ids) + wpe(pos): wpe is recorded first as the goldens have it (Python calls wte first) */
    mt_tensor *pe = mt_tr_call(tr, mh->wpe, pos);
    mt_tensor *te = mt_tr_call(tr, mh->wte, ids);
    mt_tensor *h = mt_add(tr, te, pe);
    mt_tensor *mask = cl_causal_mask(tr, amask, p->dt);
    h = mt_tr_call(tr, mh->drop, h);
    mt_module *list = mh->list;
    for (int i = 0; i < list->children.n && h; i++) {
        mt_module *L = list->children.items[i];
        const gpt2_layer_h *lh = MT_BOUND(tr, L, gpt2_layer_h);
        if (!lh) return mt_ctx_status(tr->ctx);
        mt_tr_enter(tr, L);
        mt_tr_enter(tr, lh->attn);
        mt_tensor *qkv = mt_tr_call(tr, lh->c_attn, mt_tr_call(tr, lh->ln_1, h));
        int64_t sz = p->embd;
        mt_node *sp = qkv ? mt_split(tr, qkv, 1, &sz, 2) : NULL;
        mt_tensor *q = sp ? mt_tr_item(tr, sp, 0) : NULL, *k = sp ? mt_tr_item(tr, sp, 1) : NULL,
                  *v = sp ? mt_tr_item(tr, sp, 2) : NULL;
        q = cl_split_heads(tr, q, p->heads, p->hd);
        k = cl_split_heads(tr, k, p->heads, p->hd);
        v = cl_split_heads(tr, v, p->heads, p->hd);
        mt_tensor *o = cl_sdpa(tr, q, k, v, mask, p->scale ? 1.0 / sqrt((double)p->hd) : 1.0);
        o = mt_tr_call(tr, lh->resid_drop, mt_tr_call(tr, lh->c_proj, cl_merge_heads(tr, o)));
        mt_tr_leave(tr);
        h = mt_add(tr, o, h);
        mt_tr_enter(tr, lh->mlp);
        mt_tensor *f = mt_tr_call(tr, lh->c_fc, mt_tr_call(tr, lh->ln_2, h));
        f = mt_act_forward(tr, lh->act, f);
        f = mt_tr_call(tr, lh->mlp_drop, mt_tr_call(tr, lh->mlp_proj, f));
        mt_tr_leave(tr);
        h = mt_add(tr, h, f);
        mt_tr_leave(tr);
    }
    h = mt_tr_call(tr, mh->ln_f, h);
    mt_tr_leave(tr);
    return cl_output(tr, mt_tr_call(tr, mh->lm_head, h));
}

const mt_arch mt_arch_gpt2 = {
    .model_type = "gpt2",
    .default_class = "GPT2LMHeadModel",
    .example = "openai-community/gpt2-large",
    .build = gpt2_build,
    .forward = gpt2_forward,
};
