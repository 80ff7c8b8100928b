/* OPT (OPTForCausalLM): learned positions with an offset of 2
 * (OPTLearnedPositionalEmbedding has max_position_embeddings + 2 rows),
 * project_in/project_out when word_embed_proj_dim differs from hidden_size,
 * pre- or post-LN blocks (do_layer_norm_before), q/k/v/out with biases
 * (registered k, v, q, out), lm_head tied to the word_embed_proj_dim-wide
 * embeddings. Defaults: OPTConfig (configuration_opt.py).
 * Forward as modeling_opt.py: OPTDecoder computes the positions
 * (torch.cumsum(attention_mask, dim=1) * attention_mask - 1).long()[:, past:]
 * (so left padding gives transformers' positions), OPTLearnedPositionalEmbedding
 * adds the offset and looks them up; q_proj(x) * scaling with the attention
 * called at scaling 1.0 (eager or sdpa, --attn; sdpa by default); the
 * feed-forward runs on hidden_states.reshape(-1, hidden) and is viewed back. */
#include <math.h>

#include "classic.h"

typedef struct opt {
    mt_dtype dt;
    int64_t vocab, hidden, layers, heads, hd, ffn, maxpos, proj;
    bool pre_ln, final_ln, bias, affine, tie;
    const char *act;
} opt;

/* The handles the forward reads (blocks.h, "handles bound at build"): the model's (bound to the
 * root; project_in/out and final_layer_norm NULL when the config has none) and each layer's (the
 * attention the shared mt_attn_h). */
typedef struct opt_h {
    mt_module *model, *dec, *embed, *pos, *project_in, *project_out, *final_ln, *list, *lm_head;
    mt_param *pos_w;
} opt_h;
static const mt_handle_kind opt_h_kind = {"opt opt_h"};
typedef struct opt_layer_h {
    mt_module *attn, *act, *attn_ln, *fc1, *fc2, *final_ln;
} opt_layer_h;
static const mt_handle_kind opt_layer_h_kind = {"opt opt_layer_h"};

static mt_status opt_build(mt_model *m) {
    mt_config *c = m->cfg;
    opt *p = mt_alloc(m->ctx, sizeof *p);
    if (!p) return mt_ctx_status(m->ctx);
    m->family = p;
    bool remove_final;
    if (cl_read_dtype_layers(m, &p->dt, "num_hidden_layers", 12, &p->layers) != MT_OK ||
        !mt_config_pos_int(c, "vocab_size", 50272, &p->vocab) || !mt_config_pos_int(c, "hidden_size", 768, &p->hidden) ||
        !mt_config_pos_int(c, "num_attention_heads", 12, &p->heads) || !mt_config_pos_int(c, "ffn_dim", 3072, &p->ffn) ||
        !mt_config_pos_int(c, "max_position_embeddings", 2048, &p->maxpos) ||
        !mt_config_bool(c, "do_layer_norm_before", true, &p->pre_ln) ||
        !mt_config_bool(c, "_remove_final_layer_norm", false, &remove_final) ||
        !mt_config_bool(c, "enable_bias", true, &p->bias) ||
        !mt_config_bool(c, "layer_norm_elementwise_affine", true, &p->affine) ||
        !mt_config_str(c, "activation_function", "relu", &p->act) ||
        !mt_config_bool(c, "tie_word_embeddings", true, &p->tie))
        return mt_ctx_status(m->ctx);
    if (!mt_config_pos_int(c, "word_embed_proj_dim", p->hidden, &p->proj)) return mt_ctx_status(m->ctx);
    if (cl_check_heads(m, "num_attention_heads", p->hidden, p->heads) != MT_OK) return mt_ctx_status(m->ctx);
    p->hd = p->hidden / p->heads;
    p->final_ln = p->pre_ln && !remove_final;
    mt_ctx *ctx = m->ctx;
    opt_h *mh = MT_BIND(ctx, m->root, opt_h);
    mt_module *model = mh ? mh->model = mt_module_new(ctx, m->root, "model", "OPTModel") : NULL;
    mt_module *dec = model ? mh->dec = mt_module_new(ctx, model, "decoder", "OPTDecoder") : NULL;
    mt_module *emb = dec ? mh->embed = cl_embedding(m, dec, "embed_tokens", p->vocab, p->proj) : NULL;
    mt_module *pos = emb ? mh->pos = mt_module_new(ctx, dec, "embed_positions", "OPTLearnedPositionalEmbedding") : NULL;
    if (!pos) return mt_ctx_status(ctx);
    int64_t ps[2] = {p->maxpos + 2, p->hidden};
    mt_module_attr(ctx, pos, "offset", mt_a_int(2));
    if (!(mh->pos_w = mt_param_new(ctx, pos, "weight", p->dt, MT_DEVICE_CPU, 2, ps))) return mt_ctx_status(ctx);
    if (p->proj != p->hidden && (!(mh->project_out = cl_linear(m, dec, "project_out", p->hidden, p->proj, false)) ||
                                 !(mh->project_in = cl_linear(m, dec, "project_in", p->proj, p->hidden, false))))
        return mt_ctx_status(ctx);
    if (p->final_ln) {
        mt_module *fl = mh->final_ln = mt_nn_layernorm(ctx, dec, "final_layer_norm", p->hidden, 1e-5, p->affine, true,
                                                       p->dt, MT_DEVICE_CPU);
        if (!fl) return mt_ctx_status(ctx);
    }
    mt_module *list = mh->list = cl_list(m, dec, "layers");
    if (!list) return mt_ctx_status(ctx);
    for (int64_t i = 0; i < p->layers; i++) {
        mt_module *L = cl_layer(m, list, i, "OPTDecoderLayer");
        opt_layer_h *lh = MT_BIND(ctx, L, opt_layer_h);
        mt_module *at = lh ? lh->attn = mt_module_new(ctx, L, "self_attn", "OPTAttention") : NULL;
        mt_attn_h *ah = MT_BIND(ctx, at, mt_attn_h);
        if (!ah || !(ah->k = cl_linear(m, at, "k_proj", p->hidden, p->hidden, p->bias)) ||
            !(ah->v = cl_linear(m, at, "v_proj", p->hidden, p->hidden, p->bias)) ||
            !(ah->q = cl_linear(m, at, "q_proj", p->hidden, p->hidden, p->bias)) ||
            !(ah->o = cl_linear(m, at, "out_proj", p->hidden, p->hidden, p->bias)) ||
            !(lh->act = mt_act_new(m, L, "activation_fn", p->act, "activation_function")) ||
            !(lh->attn_ln = mt_nn_layernorm(ctx, L, "self_attn_layer_norm", p->hidden, 1e-5, p->affine, true, p->dt,
                                            MT_DEVICE_CPU)) ||
            !(lh->fc1 = cl_linear(m, L, "fc1", p->hidden, p->ffn, p->bias)) ||
            !(lh->fc2 = cl_linear(m, L, "fc2", p->ffn, p->hidden, p->bias)) ||
            !(lh->final_ln = mt_nn_layernorm(ctx, L, "final_layer_norm", p->hidden, 1e-5, p->affine, true, p->dt,
                                             MT_DEVICE_CPU)))
            return mt_ctx_status(ctx);
    }
    if (!(mh->lm_head = cl_lm_head(m, m->root, "lm_head", emb, p->tie, p->proj, p->vocab, false)))
        return mt_ctx_status(ctx);
    if (mt_attn_choose(m, MT_ATTN_BOTH, MT_ATTN_BOTH, MT_ATTN_IMPL_SDPA) != MT_OK) return mt_ctx_status(ctx);
    mt_model_info(m, "hidden_size", mt_a_int(p->hidden));
    mt_model_info(m, "num_hidden_layers", mt_a_int(p->layers));
    mt_model_info(m, "word_embed_proj_dim", mt_a_int(p->proj));
    mt_model_info(m, "do_layer_norm_before", mt_a_bool(p->pre_ln));
    return MT_OK;
}

/* position_ids = torch.cumsum(attention_mask, dim=1); (position_ids * attention_mask - 1).long();
 * position_ids[:, past_seen_tokens:] with past_seen_tokens 0 (OPTDecoder.forward). */
static mt_tensor *opt_positions(mt_tracer *tr, mt_tensor *amask) {
    if (!amask) return NULL;
    mt_arg ca[1] = {mt_a_tensor(amask)};
    mt_kwarg ck[1] = {{"dim", mt_a_int(1)}};
    mt_tensor *cs = mt_tr_op1(tr, MT_OP_CUMSUM, ca, 1, ck, 1);
    mt_tensor *pos = mt_to(tr, cl_scalar_op(tr, MT_OP_SUB, mt_mul(tr, cs, amask), mt_a_int(1)), MT_INT64);
    mt_arg ix[2] = {mt_a_slice(NULL, NULL, NULL), mt_a_slice(mt_sym_const(tr->ctx, 0), NULL, NULL)};
    return mt_index(tr, pos, ix, 2);
}

static mt_status opt_forward(mt_model *m, mt_tracer *tr) {
    const opt *p = m->family;
    mt_tensor *ids = m->inputs.items[0], *amask = m->inputs.items[1];
    const opt_h *mh = MT_BOUND(tr, m->root, opt_h);
    if (!mh) return mt_ctx_status(tr->ctx);
    mt_tr_enter(tr, mh->model);
    mt_tr_enter(tr, mh->dec);
    mt_tensor *h = mt_tr_call(tr, mh->embed, ids);
    mt_tensor *mask = cl_causal_mask(tr, amask, p->dt);
    mt_tensor *pos = opt_positions(tr, amask);
    /* OPTLearnedPositionalEmbedding (an nn.Embedding subclass, traced through):
     * F.embedding(position_ids + offset, weight) */
    mt_tr_enter(tr, mh->pos);
    pos = cl_scalar_op(tr, MT_OP_ADD, pos, mt_a_int(2));
    mt_tensor *pw = mt_tr_get_attr(tr, mh->pos_w);
    mt_tensor *pe = NULL;
    if (pos && pw) {
        mt_arg ea[2] = {mt_a_tensor(pos), mt_a_tensor(pw)};
        pe = mt_tr_op1(tr, MT_OP_EMBEDDING, ea, 2, NULL, 0);
    }
    mt_tr_leave(tr);
    if (p->proj != p->hidden) h = mt_tr_call(tr, mh->project_in, h);
    h = mt_add(tr, h, pe);
    mt_attn_args aa = {.n_rep = 1, .scaling = 1.0, .kt_neg = true};
    double scaling = 1.0 / sqrt((double)p->hd);
    mt_module *list = mh->list;
    for (int i = 0; i < list->children.n && h; i++) {
        mt_module *L = list->children.items[i];
        const opt_layer_h *lh = MT_BOUND(tr, L, opt_layer_h);
        const mt_attn_h *ah = lh ? MT_BOUND(tr, lh->attn, mt_attn_h) : NULL;
        if (!ah) return mt_ctx_status(tr->ctx);
        mt_tr_enter(tr, L);
        mt_tensor *res = h;
        if (p->pre_ln) h = mt_tr_call(tr, lh->attn_ln, h);
        mt_tr_enter(tr, lh->attn);
        mt_tensor *q = cl_split_heads(tr, mt_mul_s(tr, mt_tr_call(tr, ah->q, h), scaling), p->heads, p->hd);
        mt_tensor *k = cl_split_heads(tr, mt_tr_call(tr, ah->k, h), p->heads, p->hd);
        mt_tensor *v = cl_split_heads(tr, mt_tr_call(tr, ah->v, h), p->heads, p->hd);
        mt_tensor *o = mt_attn_forward(tr, m->attn, q, k, v, mask, &aa);
        if (o) {
            const mt_sym *os[3] = {o->shape[0], o->shape[1], NULL};
            o = mt_contiguous(tr, mt_reshape(tr, o, 3, os));
        }
        o = mt_tr_call(tr, ah->o, o);
        mt_tr_leave(tr);
        h = mt_add(tr, res, o);
        if (!p->pre_ln) h = mt_tr_call(tr, lh->attn_ln, h);
        /* fully connected on hidden_states.reshape(-1, hidden), viewed back afterwards */
        mt_tensor *h3 = h;
        if (h) {
            const mt_sym *fs[2] = {NULL, h->shape[2]};
            h = mt_reshape(tr, h, 2, fs);
        }
        res = h;
        if (p->pre_ln) h = mt_tr_call(tr, lh->final_ln, h);
        h = mt_act_forward(tr, lh->act, mt_tr_call(tr, lh->fc1, h));
        h = mt_add(tr, res, mt_tr_call(tr, lh->fc2, h));
        if (h && h3) h = mt_view(tr, h, 3, h3->shape);
        if (!p->pre_ln) h = mt_tr_call(tr, lh->final_ln, h);
        mt_tr_leave(tr);
    }
    if (p->final_ln) h = mt_tr_call(tr, mh->final_ln, h);
    if (p->proj != p->hidden) h = mt_tr_call(tr, mh->project_out, h);
    mt_tr_leave(tr);
    mt_tr_leave(tr);
    return cl_output(tr, mt_tr_call(tr, mh->lm_head, h));
}

const mt_arch mt_arch_opt = {
    .model_type = "opt",
    .default_class = "OPTForCausalLM",
    .example = "facebook/opt-1.3b",
    .build = opt_build,
    .forward = opt_forward,
};
