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
    mt_module *tm = mt_module_new(m->ctx, m->root, "transformer", "GPT2Model");
    mt_module *wte = tm ? cl_embedding(m, tm, "wte", p->vocab, p->embd) : NULL;
    mt_module *list = wte && cl_embedding(m, tm, "wpe", p->npos, p->embd) && cl_dropout(m, tm, "drop", 0.1)
                          ? cl_list(m, tm, "h") : NULL;
    if (!list) return mt_ctx_status(m->ctx);
    for (int64_t i = 0; i < p->layers; i++) {
        mt_module *L = cl_layer(m, list, i, "GPT2Block");
        if (!L || !cl_layernorm(m, L, "ln_1", p->embd, p->eps, true)) return mt_ctx_status(m->ctx);
        mt_module *at = mt_module_new(m->ctx, L, "attn", "GPT2Attention");
        /* GPT2Attention.__init__ registers two non-persistent buffers first: bias, the causal
         * tril(ones(max_positions, max_positions), bool).view(1, 1, n, n), and masked_bias,
         * torch.tensor(-1e4) (the default dtype, i.e. the model's when loaded with a torch_dtype) */
        int64_t bs[4] = {1, 1, p->npos, p->npos}, none = 0;
        if (!at || !mt_buffer_new(m->ctx, at, "bias", MT_BOOL, MT_DEVICE_CPU, 4, bs, false, true) ||
            !mt_buffer_new(m->ctx, at, "masked_bias", p->dt, MT_DEVICE_CPU, 0, &none, false, true))
            return mt_ctx_status(m->ctx);
        if (!cl_conv1d(m, at, "c_attn", p->embd, 3 * p->embd) || !cl_conv1d(m, at, "c_proj", p->embd, p->embd) ||
            !cl_dropout(m, at, "attn_dropout", 0.1) || !cl_dropout(m, at, "resid_dropout", 0.1) ||
            !cl_layernorm(m, L, "ln_2", p->embd, p->eps, true))
            return mt_ctx_status(m->ctx);
        mt_module *mlp = mt_module_new(m->ctx, L, "mlp", "GPT2MLP");
        if (!mlp || !cl_conv1d(m, mlp, "c_fc", p->embd, p->inner) || !cl_conv1d(m, mlp, "c_proj", p->inner, p->embd) ||
            !mt_act_new(m, mlp, "act", p->act, "activation_function") || !cl_dropout(m, mlp, "dropout", 0.1))
            return mt_ctx_status(m->ctx);
    }
    if (!cl_layernorm(m, tm, "ln_f", p->embd, p->eps, true) ||
        !cl_lm_head(m, m->root, "lm_head", wte, true, p->embd, p->vocab, false))
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
    mt_module *tm = mt_tr_child(tr, m->root, "transformer");
    mt_tr_enter(tr, tm);
    mt_tensor *pos = mt_unsqueeze(tr, cl_arange(tr, ids->shape[1]), 0);
    /* wte(ids) + wpe(pos): wpe is recorded first as the goldens have it (Python calls wte first) */
    mt_tensor *pe = cl_call(tr, tm, "wpe", pos);
    mt_tensor *te = cl_call(tr, tm, "wte", ids);
    mt_tensor *h = mt_add(tr, te, pe);
    mt_tensor *mask = cl_causal_mask(tr, amask, p->dt);
    h = cl_call(tr, tm, "drop", h);
    mt_module *list = mt_tr_child(tr, tm, "h");
    for (int i = 0; i < list->children.n && h; i++) {
        mt_module *L = list->children.items[i];
        mt_tr_enter(tr, L);
        mt_module *at = mt_tr_child(tr, L, "attn");
        mt_tr_enter(tr, at);
        mt_tensor *qkv = cl_call(tr, at, "c_attn", cl_call(tr, L, "ln_1", h));
        int64_t sz = p->embd;
        mt_node *sp = qkv ? mt_split(tr, qkv, 1, &sz, 2) : NULL;
        mt_tensor *q = sp ? mt_tr_item(tr, sp, 0) : NULL, *k = sp ? mt_tr_item(tr, sp, 1) : NULL,
                  *v = sp ? mt_tr_item(tr, sp, 2) : NULL;
        q = cl_split_heads(tr, q, p->heads, p->hd);
        k = cl_split_heads(tr, k, p->heads, p->hd);
        v = cl_split_heads(tr, v, p->heads, p->hd);
        mt_tensor *o = cl_sdpa(tr, q, k, v, mask, p->scale ? 1.0 / sqrt((double)p->hd) : 1.0);
        o = cl_call(tr, at, "resid_dropout", cl_call(tr, at, "c_proj", cl_merge_heads(tr, o)));
        mt_tr_leave(tr);
        h = mt_add(tr, o, h);
        mt_module *mlp = mt_tr_child(tr, L, "mlp");
        mt_tr_enter(tr, mlp);
        mt_tensor *f = cl_call(tr, mlp, "c_fc", cl_call(tr, L, "ln_2", h));
        f = mt_act_forward(tr, mt_tr_child(tr, mlp, "act"), f);
        f = cl_call(tr, mlp, "dropout", cl_call(tr, mlp, "c_proj", f));
        mt_tr_leave(tr);
        h = mt_add(tr, h, f);
        mt_tr_leave(tr);
    }
    h = cl_call(tr, tm, "ln_f", h);
    mt_tr_leave(tr);
    return cl_output(tr, cl_call(tr, m->root, "lm_head", h));
}

const mt_arch mt_arch_gpt2 = {
    .model_type = "gpt2",
    .default_class = "GPT2LMHeadModel",
    .example = "openai-community/gpt2-large",
    .build = gpt2_build,
    .forward = gpt2_forward,
};
