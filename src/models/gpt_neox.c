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
    mt_module *tm = mt_module_new(m->ctx, m->root, "gpt_neox", "GPTNeoXModel");
    if (!tm) return mt_ctx_status(m->ctx);
    mt_module *emb = cl_embedding(m, tm, "embed_in", p->vocab, p->hidden);
    mt_module *list = emb && cl_dropout(m, tm, "emb_dropout", 0.0) ? cl_list(m, tm, "layers") : NULL;
    if (!list) return mt_ctx_status(m->ctx);
    for (int64_t i = 0; i < p->layers; i++) {
        mt_module *L = cl_layer(m, list, i, "GPTNeoXLayer");
        if (!L || !cl_layernorm(m, L, "input_layernorm", p->hidden, p->eps, true) ||
            !cl_layernorm(m, L, "post_attention_layernorm", p->hidden, p->eps, true) ||
            !cl_dropout(m, L, "post_attention_dropout", 0.0) || !cl_dropout(m, L, "post_mlp_dropout", 0.0))
            return mt_ctx_status(m->ctx);
        mt_module *at = mt_module_new(m->ctx, L, "attention", "GPTNeoXAttention");
        if (!at || !cl_linear(m, at, "query_key_value", p->hidden, 3 * p->hidden, p->bias) ||
            !cl_linear(m, at, "dense", p->hidden, p->hidden, p->bias))
            return mt_ctx_status(m->ctx);
        mt_module *mlp = mt_module_new(m->ctx, L, "mlp", "GPTNeoXMLP");
        if (!mlp || !cl_linear(m, mlp, "dense_h_to_4h", p->hidden, p->inter, true) ||
            !cl_linear(m, mlp, "dense_4h_to_h", p->inter, p->hidden, true) ||
            !mt_act_new(m, mlp, "act", p->act, "hidden_act"))
            return mt_ctx_status(m->ctx);
    }
    if (!cl_layernorm(m, tm, "final_layer_norm", p->hidden, p->eps, true) ||
        !cl_rotary_module(m, tm, "rotary_emb", "GPTNeoXRotaryEmbedding", p->rdim, theta) ||
        !cl_lm_head(m, m->root, "embed_out", emb, p->tie, p->hidden, p->vocab, false))
        return mt_ctx_status(m->ctx);
    mt_model_info(m, "hidden_size", mt_a_int(p->hidden));
    mt_model_info(m, "num_hidden_layers", mt_a_int(p->layers));
    mt_model_info(m, "rotary_ndims", mt_a_int(p->rdim));
    mt_model_info(m, "use_parallel_residual", mt_a_bool(p->parallel));
    if (mt_attn_choose(m, MT_ATTN_BOTH, MT_ATTN_BOTH, MT_ATTN_IMPL_SDPA) != MT_OK) return mt_ctx_status(m->ctx);
    return MT_OK;
}

static mt_tensor *neox_attn(mt_tracer *tr, mt_module *at, mt_tensor *x, mt_tensor *mask, mt_tensor *cos,
                            mt_tensor *sin, const neox *p) {
    mt_tr_enter(tr, at);
    mt_tensor *qkv = cl_call(tr, at, "query_key_value", x);
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
    o = cl_call(tr, at, "dense", o);
    mt_tr_leave(tr);
    return o;
}

static mt_tensor *neox_mlp(mt_tracer *tr, mt_module *mlp, mt_tensor *x) {
    mt_tr_enter(tr, mlp);
    mt_tensor *h = mt_act_forward(tr, mt_tr_child(tr, mlp, "act"), cl_call(tr, mlp, "dense_h_to_4h", x));
    h = cl_call(tr, mlp, "dense_4h_to_h", h);
    mt_tr_leave(tr);
    return h;
}

static mt_status neox_forward(mt_model *m, mt_tracer *tr) {
    const neox *p = m->family;
    mt_tensor *ids = m->inputs.items[0], *amask = m->inputs.items[1];
    mt_module *tm = mt_tr_child(tr, m->root, "gpt_neox");
    mt_tr_enter(tr, tm);
    mt_tensor *h = cl_call(tr, tm, "embed_in", ids);
    mt_tensor *pos = mt_unsqueeze(tr, cl_arange(tr, ids->shape[1]), 0);
    mt_tensor *mask = cl_causal_mask(tr, amask, p->dt);
    h = cl_call(tr, tm, "emb_dropout", h);
    mt_tensor *cos, *sin;
    mt_rope_cos_sin(tr, mt_tr_child(tr, tm, "rotary_emb"), h, pos, MT_ROPE_CAT, MT_ROPE_NO_SCALING, &cos, &sin);
    mt_module *list = mt_tr_child(tr, tm, "layers");
    for (int i = 0; i < list->children.n && h; i++) {
        mt_module *L = list->children.items[i];
        mt_tr_enter(tr, L);
        mt_tensor *a = neox_attn(tr, mt_tr_child(tr, L, "attention"), cl_call(tr, L, "input_layernorm", h), mask,
                                 cos, sin, p);
        a = cl_call(tr, L, "post_attention_dropout", a);
        if (p->parallel) {
            mt_tensor *f = neox_mlp(tr, mt_tr_child(tr, L, "mlp"), cl_call(tr, L, "post_attention_layernorm", h));
            f = cl_call(tr, L, "post_mlp_dropout", f);
            h = mt_add(tr, mt_add(tr, f, a), h);
        } else {
            a = mt_add(tr, a, h);
            mt_tensor *f = neox_mlp(tr, mt_tr_child(tr, L, "mlp"), cl_call(tr, L, "post_attention_layernorm", a));
            f = cl_call(tr, L, "post_mlp_dropout", f);
            h = mt_add(tr, f, a);
        }
        mt_tr_leave(tr);
    }
    h = cl_call(tr, tm, "final_layer_norm", h);
    mt_tr_leave(tr);
    return cl_output(tr, cl_call(tr, m->root, "embed_out", h));
}

const mt_arch mt_arch_gpt_neox = {
    .model_type = "gpt_neox",
    .default_class = "GPTNeoXForCausalLM",
    .example = "togethercomputer/RedPajama-INCITE-7B-Base",
    .build = neox_build,
    .forward = neox_forward,
};
