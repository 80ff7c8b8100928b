/* BART (BartForConditionalGeneration / BartModel, modeling_bart.py): a
 * `model.shared` BartScaledWordEmbedding whose weight the encoder's and
 * decoder's embed_tokens alias, learned positions with an offset of 2
 * (BartLearnedPositionalEmbedding: max_position_embeddings + 2 rows, ids
 * arange(seq) + 2), layernorm_embedding, post-LN encoder layers
 * (self_attn k/v/q/out_proj with biases, fc1, fc2) and decoder layers (+
 * encoder_attn cross-attention), functional dropouts, and for the
 * conditional-generation head an lm_head tied to `shared` plus the persistent
 * buffer final_logits_bias [1, vocab] added to the logits. Both embedding
 * subclasses are not torch.nn leaves and are traced through (F.embedding,
 * then `* embed_scale`, 1.0 unless scale_embedding).
 *
 * The decoder runs over `decoder_input_ids` [batch, dec_seq] int64 with a
 * causal mask built from a ones mask (as for T5); the cross-attention and
 * encoder masks are the additive padding mask [batch, 1, 1, seq] (transformers
 * expands it to [batch, 1, tgt, src]; SDPA broadcasts the same values). Not
 * traced: the float16-only clamp of the encoder layer.
 * Defaults: BartConfig (configuration_bart.py). */
#include <math.h>
#include <string.h>

#include "classic.h"

typedef struct bart {
    mt_dtype dt;
    int64_t vocab, d, maxpos, enc_layers, dec_layers, enc_heads, dec_heads, enc_ffn, dec_ffn;
    double dropout, act_dropout, embed_scale;
    const char *act;
    bool tie, lm; /* lm: BartForConditionalGeneration (else BartModel) */
} bart;

static const mt_sym *C(mt_tracer *tr, int64_t v) { return mt_sym_const(tr->ctx, v); }

/* The handles the forward reads (blocks.h, "handles bound at build"): the model's (bound to the
 * root), each stack's and each layer's (the attentions the shared mt_attn_h). */
typedef struct bart_h {
    mt_module *model, *encoder, *decoder, *lm_head;
    mt_param *final_bias;
} bart_h;
static const mt_handle_kind bart_h_kind = {"bart bart_h"};
typedef struct bart_stack_h {
    mt_module *embed, *pos, *list, *ln_emb;
    mt_param *embed_w, *pos_w;
} bart_stack_h;
static const mt_handle_kind bart_stack_h_kind = {"bart bart_stack_h"};
typedef struct bart_layer_h {
    mt_module *self_attn, *self_ln, *act, *cross_attn, *cross_ln, *fc1, *fc2, *final_ln; /* cross: decoder only */
} bart_layer_h;
static const mt_handle_kind bart_layer_h_kind = {"bart bart_layer_h"};

static mt_module *bart_attn(mt_model *m, const bart *p, mt_module *L, const char *name, int64_t heads) {
    mt_module *a = mt_module_new(m->ctx, L, name, "BartAttention");
    mt_attn_h *h = MT_BIND(m->ctx, a, mt_attn_h);
    if (!h || !(h->k = cl_linear(m, a, "k_proj", p->d, p->d, true)) ||
        !(h->v = cl_linear(m, a, "v_proj", p->d, p->d, true)) || !(h->q = cl_linear(m, a, "q_proj", p->d, p->d, true)) ||
        !(h->o = cl_linear(m, a, "out_proj", p->d, p->d, true)))
        return NULL;
    mt_module_attr(m->ctx, a, "num_heads", mt_a_int(heads));
    mt_module_attr(m->ctx, a, "head_dim", mt_a_int(p->d / heads));
    return a;
}

static mt_status bart_stack(mt_model *m, const bart *p, mt_module *model, mt_param *shared, bool decoder) {
    mt_ctx *ctx = m->ctx;
    mt_module *st = mt_module_new(ctx, model, decoder ? "decoder" : "encoder", decoder ? "BartDecoder" : "BartEncoder");
    bart_stack_h *sh = MT_BIND(ctx, st, bart_stack_h);
    bart_h *mh = mt_module_bound_checked(ctx, m->root, &bart_h_kind);
    mt_module *et = sh && mh ? sh->embed = mt_module_new(ctx, st, "embed_tokens", "BartScaledWordEmbedding") : NULL;
    if (!et || !(sh->embed_w = mt_param_tie(ctx, et, "weight", shared))) return mt_ctx_status(ctx);
    *(decoder ? &mh->decoder : &mh->encoder) = st;
    mt_module_attr(ctx, et, "embed_scale", mt_a_float(p->embed_scale));
    mt_module *pos = sh->pos = mt_module_new(ctx, st, "embed_positions", "BartLearnedPositionalEmbedding");
    int64_t ps[2] = {p->maxpos + 2, p->d};
    if (!pos || !(sh->pos_w = mt_param_new(ctx, pos, "weight", p->dt, MT_DEVICE_CPU, 2, ps))) return mt_ctx_status(ctx);
    mt_module_attr(ctx, pos, "offset", mt_a_int(2));
    mt_module *list = sh->list = cl_list(m, st, "layers");
    if (!list) return mt_ctx_status(ctx);
    int64_t n = decoder ? p->dec_layers : p->enc_layers, heads = decoder ? p->dec_heads : p->enc_heads;
    int64_t ffn = decoder ? p->dec_ffn : p->enc_ffn;
    for (int64_t i = 0; i < n; i++) {
        mt_module *L = cl_layer(m, list, i, decoder ? "BartDecoderLayer" : "BartEncoderLayer");
        bart_layer_h *lh = MT_BIND(ctx, L, bart_layer_h);
        if (!lh || !(lh->self_attn = bart_attn(m, p, L, "self_attn", heads))) return mt_ctx_status(ctx);
        /* registration order: the encoder layer makes self_attn_layer_norm before
         * activation_fn; the decoder layer after it */
        if (!decoder && !(lh->self_ln = cl_layernorm(m, L, "self_attn_layer_norm", p->d, 1e-5, true)))
            return mt_ctx_status(ctx);
        if (!(lh->act = mt_act_new(m, L, "activation_fn", p->act, "activation_function"))) return mt_ctx_status(ctx);
        if (decoder && (!(lh->self_ln = cl_layernorm(m, L, "self_attn_layer_norm", p->d, 1e-5, true)) ||
                        !(lh->cross_attn = bart_attn(m, p, L, "encoder_attn", heads)) ||
                        !(lh->cross_ln = cl_layernorm(m, L, "encoder_attn_layer_norm", p->d, 1e-5, true))))
            return mt_ctx_status(ctx);
        if (!(lh->fc1 = cl_linear(m, L, "fc1", p->d, ffn, true)) ||
            !(lh->fc2 = cl_linear(m, L, "fc2", ffn, p->d, true)) ||
            !(lh->final_ln = cl_layernorm(m, L, "final_layer_norm", p->d, 1e-5, true)))
            return mt_ctx_status(ctx);
    }
    if (!(sh->ln_emb = cl_layernorm(m, st, "layernorm_embedding", p->d, 1e-5, true))) return mt_ctx_status(ctx);
    return MT_OK;
}

static mt_status bart_build(mt_model *m) {
    mt_config *c = m->cfg;
    mt_ctx *ctx = m->ctx;
    bart *p = mt_alloc(ctx, sizeof *p);
    if (!p) return mt_ctx_status(ctx);
    m->family = p;
    bool override = m->num_layers > 0, scale;
    if (cl_read_dtype_layers(m, &p->dt, "encoder_layers", 12, &p->enc_layers) != MT_OK ||
        !mt_config_pos_int(c, "decoder_layers", 12, &p->dec_layers) ||
        !mt_config_pos_int(c, "vocab_size", 50265, &p->vocab) || !mt_config_pos_int(c, "d_model", 1024, &p->d) ||
        !mt_config_pos_int(c, "max_position_embeddings", 1024, &p->maxpos) ||
        !mt_config_pos_int(c, "encoder_attention_heads", 16, &p->enc_heads) ||
        !mt_config_pos_int(c, "decoder_attention_heads", 16, &p->dec_heads) ||
        !mt_config_pos_int(c, "encoder_ffn_dim", 4096, &p->enc_ffn) ||
        !mt_config_pos_int(c, "decoder_ffn_dim", 4096, &p->dec_ffn) ||
        !mt_config_float(c, "dropout", 0.1, &p->dropout) || !mt_config_float(c, "activation_dropout", 0.0, &p->act_dropout) ||
        !mt_config_str(c, "activation_function", "gelu", &p->act) || !mt_config_bool(c, "scale_embedding", false, &scale) ||
        !mt_config_bool(c, "tie_word_embeddings", true, &p->tie))
        return mt_ctx_status(ctx);
    if (override) p->dec_layers = p->enc_layers;
    if (cl_check_heads(m, "encoder_attention_heads", p->d, p->enc_heads) != MT_OK ||
        cl_check_heads(m, "decoder_attention_heads", p->d, p->dec_heads) != MT_OK)
        return mt_ctx_status(ctx);
    p->embed_scale = scale ? sqrt((double)p->d) : 1.0;
    if (strcmp(m->class_name, "BartForConditionalGeneration") == 0) p->lm = true;
    else if (strcmp(m->class_name, "BartModel") == 0) p->lm = false;
    else
        return mt_config_error(c, "architectures",
                            "bart class '%s' is not supported; expected BartForConditionalGeneration or BartModel",
                            m->class_name);
    bart_h *mh = MT_BIND(ctx, m->root, bart_h);
    mt_module *model = !mh ? NULL : p->lm ? mt_module_new(ctx, m->root, "model", "BartModel") : m->root;
    mt_module *sh = model ? (mh->model = model, mt_module_new(ctx, model, "shared", "BartScaledWordEmbedding")) : NULL;
    int64_t ws[2] = {p->vocab, p->d};
    mt_param *shw = sh ? mt_param_new(ctx, sh, "weight", p->dt, MT_DEVICE_CPU, 2, ws) : NULL;
    if (!shw) return mt_ctx_status(ctx);
    mt_module_attr(ctx, sh, "embed_scale", mt_a_float(p->embed_scale));
    if (bart_stack(m, p, model, shw, false) != MT_OK || bart_stack(m, p, model, shw, true) != MT_OK)
        return mt_ctx_status(ctx);
    if (p->lm) {
        int64_t bs[2] = {1, p->vocab};
        if (!(mh->final_bias = mt_buffer_new(ctx, m->root, "final_logits_bias", p->dt, MT_DEVICE_CPU, 2, bs, true,
                                             false)))
            return mt_ctx_status(ctx);
        mt_module *head = mh->lm_head = p->tie ? mt_nn_linear_tied(ctx, m->root, "lm_head", shw)
                                               : cl_linear(m, m->root, "lm_head", p->d, p->vocab, false);
        if (!head) return mt_ctx_status(ctx);
    }
    mt_model_info(m, "d_model", mt_a_int(p->d));
    mt_model_info(m, "encoder_layers", mt_a_int(p->enc_layers));
    mt_model_info(m, "decoder_layers", mt_a_int(p->dec_layers));
    mt_model_info(m, "encoder_attention_heads", mt_a_int(p->enc_heads));
    mt_model_info(m, "decoder_attention_heads", mt_a_int(p->dec_heads));
    /* transformers has eager and sdpa for it and picks sdpa; metatrace traces sdpa */
    if (mt_attn_choose(m, MT_ATTN_BOTH, MT_ATTN_BIT(MT_ATTN_IMPL_SDPA), MT_ATTN_IMPL_SDPA) != MT_OK)
        return mt_ctx_status(m->ctx);
    return MT_OK;
}

/* ---- forward ---- */

/* BartScaledWordEmbedding: F.embedding(ids, weight, padding_idx) * embed_scale. */
static mt_tensor *scaled_embed(mt_tracer *tr, mt_module *e, mt_param *weight, mt_tensor *ids) {
    if (!e || !ids) return NULL;
    mt_tr_enter(tr, e);
    mt_tensor *w = mt_tr_get_attr(tr, weight);
    mt_tensor *h = NULL;
    if (w) {
        mt_arg a[2] = {mt_a_tensor(ids), mt_a_tensor(w)};
        h = mt_tr_op1(tr, MT_OP_EMBEDDING, a, 2, NULL, 0);
    }
    h = mt_mul_s(tr, h, mt_module_get_attr(e, "embed_scale")->v.f);
    mt_tr_leave(tr);
    return h;
}

/* BartLearnedPositionalEmbedding: F.embedding(arange(seq).expand(b, -1) + 2, weight). */
static mt_tensor *learned_pos(mt_tracer *tr, mt_module *e, mt_param *weight, mt_tensor *ids) {
    if (!e || !ids) return NULL;
    mt_tr_enter(tr, e);
    mt_kwarg lk[1] = {{"dtype", mt_a_dtype(MT_INT64)}};
    mt_arg ra[2] = {mt_a_int(0), mt_a_dim(ids->shape[1])};
    mt_tensor *pos = mt_tr_op1(tr, MT_OP_ARANGE, ra, 2, lk, 1);
    const mt_sym *ex[2] = {ids->shape[0], NULL};
    pos = cl_scalar_op(tr, MT_OP_ADD, mt_expand(tr, pos, 2, ex), mt_a_int(2));
    mt_tensor *w = mt_tr_get_attr(tr, weight);
    mt_tensor *h = NULL;
    if (pos && w) {
        mt_arg a[2] = {mt_a_tensor(pos), mt_a_tensor(w)};
        h = mt_tr_op1(tr, MT_OP_EMBEDDING, a, 2, NULL, 0);
    }
    mt_tr_leave(tr);
    return h;
}

static mt_tensor *bart_attn_fwd(mt_tracer *tr, mt_module *a, mt_tensor *x, mt_tensor *kv, mt_tensor *mask) {
    const mt_attn_h *ah = a ? MT_BOUND(tr, a, mt_attn_h) : NULL;
    if (!ah || !x) return NULL;
    int64_t hd = mt_module_get_attr(a, "head_dim")->v.i;
    mt_tr_enter(tr, a);
    mt_tensor *src = kv ? kv : x;
    const mt_sym *qs[4] = {x->shape[0], x->shape[1], NULL, C(tr, hd)};
    const mt_sym *ks[4] = {x->shape[0], src->shape[1], NULL, C(tr, hd)};
    mt_tensor *q = mt_transpose(tr, mt_view(tr, mt_tr_call(tr, ah->q, x), 4, qs), 1, 2);
    mt_tensor *k = mt_transpose(tr, mt_view(tr, mt_tr_call(tr, ah->k, src), 4, ks), 1, 2);
    mt_tensor *v = mt_transpose(tr, mt_view(tr, mt_tr_call(tr, ah->v, src), 4, ks), 1, 2);
    mt_tensor *o = mt_contiguous(tr, mt_transpose(tr, cl_sdpa(tr, q, k, v, mask, pow((double)hd, -0.5)), 1, 2));
    const mt_sym *os[3] = {x->shape[0], x->shape[1], NULL};
    o = mt_contiguous(tr, mt_reshape(tr, o, 3, os));
    o = mt_tr_call(tr, ah->o, o);
    mt_tr_leave(tr);
    return o;
}

static mt_tensor *bart_stack_fwd(mt_tracer *tr, const bart *p, mt_module *st, mt_tensor *ids, mt_tensor *amask,
                                 mt_tensor *enc) {
    bool decoder = enc != NULL;
    const bart_stack_h *sh = MT_BOUND(tr, st, bart_stack_h);
    if (!sh) return NULL;
    mt_tr_enter(tr, st);
    /* input_ids.view(-1, input_shape[-1]) */
    const mt_sym *vs[2] = {NULL, ids->shape[1]};
    mt_tensor *flat = mt_view(tr, ids, 2, vs);
    mt_tensor *h = scaled_embed(tr, sh->embed, sh->embed_w, flat);
    mt_tensor *self_mask, *cross_mask = NULL;
    if (decoder) {
        const mt_sym *os[2] = {ids->shape[0], ids->shape[1]};
        mt_arg fa[2] = {mt_a_dims(tr->ctx, os, 2), mt_a_float(1.0)};
        self_mask = cl_causal_mask(tr, mt_tr_op1(tr, MT_OP_FULL, fa, 2, NULL, 0), p->dt);
        cross_mask = cl_padding_mask(tr, amask, p->dt);
    } else {
        self_mask = cl_padding_mask(tr, amask, p->dt);
    }
    h = mt_add(tr, h, learned_pos(tr, sh->pos, sh->pos_w, ids));
    h = mt_tr_call(tr, sh->ln_emb, h);
    h = cl_fdropout(tr, h, p->dropout);
    mt_module *list = sh->list;
    for (int i = 0; i < list->children.n && h; i++) {
        mt_module *L = list->children.items[i];
        const bart_layer_h *lh = MT_BOUND(tr, L, bart_layer_h);
        if (!lh) return NULL;
        mt_tr_enter(tr, L);
        mt_tensor *o = bart_attn_fwd(tr, lh->self_attn, h, NULL, self_mask);
        h = mt_tr_call(tr, lh->self_ln, mt_add(tr, h, cl_fdropout(tr, o, p->dropout)));
        if (decoder) {
            o = bart_attn_fwd(tr, lh->cross_attn, h, enc, cross_mask);
            h = mt_tr_call(tr, lh->cross_ln, mt_add(tr, h, cl_fdropout(tr, o, p->dropout)));
        }
        mt_tensor *f = mt_act_forward(tr, lh->act, mt_tr_call(tr, lh->fc1, h));
        f = mt_tr_call(tr, lh->fc2, cl_fdropout(tr, f, p->act_dropout));
        h = mt_tr_call(tr, lh->final_ln, mt_add(tr, h, cl_fdropout(tr, f, p->dropout)));
        mt_tr_leave(tr);
    }
    mt_tr_leave(tr);
    return h;
}

static mt_status bart_forward(mt_model *m, mt_tracer *tr) {
    const bart *p = m->family;
    mt_ctx *ctx = m->ctx;
    mt_tensor *ids = m->inputs.items[0], *amask = m->inputs.items[1];
    const mt_sym *ds[2] = {ids->shape[0], mt_model_input_dim(m, "dec_seq")};
    mt_symbol_info *info = mt_sym_info_of(ctx, ds[1]);
    if (info) info->origin = "input";
    mt_tensor *dec_ids = mt_tr_placeholder(tr, "decoder_input_ids", MT_INT64, 2, ds);
    if (!dec_ids) return mt_ctx_status(ctx);
    mt_vec_push(ctx, &m->inputs, dec_ids);
    const bart_h *mh = MT_BOUND(tr, m->root, bart_h);
    if (!mh) return mt_ctx_status(ctx);
    if (p->lm) mt_tr_enter(tr, mh->model);
    mt_tensor *enc = bart_stack_fwd(tr, p, mh->encoder, ids, amask, NULL);
    mt_tensor *h = enc ? bart_stack_fwd(tr, p, mh->decoder, dec_ids, amask, enc) : NULL;
    if (!p->lm) return cl_output(tr, h);
    mt_tr_leave(tr);
    mt_tensor *logits = mt_tr_call(tr, mh->lm_head, h);
    return cl_output(tr, mt_add(tr, logits, mt_tr_get_attr(tr, mh->final_bias)));
}

static const char *const bart_classes[] = {"BartForConditionalGeneration", "BartModel", NULL};

const mt_arch mt_arch_bart = {
    .model_type = "bart",
    .default_class = "BartForConditionalGeneration",
    .classes = bart_classes,
    .example = "facebook/bart-large-cnn",
    .build = bart_build,
    .forward = bart_forward,
};
