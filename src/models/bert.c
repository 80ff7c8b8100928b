/* BERT (modeling_bert.py): word + position + token_type embeddings with a
 * LayerNorm, post-LN encoder layers (query/key/value, SelfOutput,
 * Intermediate, Output), and the head that architectures[0] names:
 *  - BertForMaskedLM: BertModel without the pooler + cls.predictions
 *    (transform dense + act + LayerNorm, decoder tied to the word embeddings,
 *    its bias the head's own `cls.predictions.bias` — decoder.bias is an alias);
 *  - BertForPreTraining: BertModel with the pooler + cls.predictions +
 *    cls.seq_relationship (Linear(hidden, 2));
 *  - BertModel: embeddings, encoder, pooler (dense + Tanh on token 0).
 * Buffers: embeddings.position_ids (arange) and embeddings.token_type_ids
 * (zeros), both [1, max_position_embeddings] int64, registered
 * persistent=False (not in the state_dict). Attention is SDPA over the
 * additive padding mask [batch, 1, 1, seq]. Defaults: BertConfig
 * (configuration_bert.py). */
#include <string.h>

#include "classic.h"

typedef enum bert_head { BERT_MLM = 0, BERT_PRETRAINING, BERT_MODEL } bert_head;

typedef struct bert {
    mt_dtype dt;
    int64_t vocab, hidden, layers, heads, hd, inter, maxpos, types;
    double eps;
    const char *act;
    bert_head head;
    bool tie;
} bert;

static const mt_sym *C(mt_tracer *tr, int64_t v) { return mt_sym_const(tr->ctx, v); }

/* The handles the forward reads (blocks.h, "handles bound at build"): the model's (bound to the
 * root), each layer's, and each residual output block's (BertSelfOutput, BertOutput). */
typedef struct bert_h {
    mt_module *bm, *emb, *word, *pos, *type, *emb_ln, *emb_drop, *enc, *list;
    mt_module *pool, *pool_dense, *pool_act;                          /* not with BertForMaskedLM */
    mt_module *cls, *pr, *tf, *tf_dense, *tf_act, *tf_ln, *decoder, *seq_rel; /* the heads */
} bert_h;
static const mt_handle_kind bert_h_kind = {"bert bert_h"};
typedef struct bert_layer_h {
    mt_module *attn, *self, *q, *k, *v, *attn_out, *inter, *inter_dense, *inter_act, *out;
} bert_layer_h;
static const mt_handle_kind bert_layer_h_kind = {"bert bert_layer_h"};
typedef struct bert_out_h {
    mt_module *dense, *ln, *drop;
} bert_out_h;
static const mt_handle_kind bert_out_h_kind = {"bert bert_out_h"};

/* BertSelfOutput / BertOutput: dense (in -> hidden), LayerNorm, dropout. */
static mt_module *out_block(mt_model *m, const bert *p, mt_module *parent, const char *name, const char *cls,
                            int64_t in) {
    mt_module *o = mt_module_new(m->ctx, parent, name, cls);
    bert_out_h *h = MT_BIND(m->ctx, o, bert_out_h);
    if (!h || !(h->dense = cl_linear(m, o, "dense", in, p->hidden, true)) ||
        !(h->ln = cl_layernorm(m, o, "LayerNorm", p->hidden, p->eps, true)) ||
        !(h->drop = cl_dropout(m, o, "dropout", 0.1)))
        return NULL;
    return o;
}

static mt_status bert_build(mt_model *m) {
    mt_config *c = m->cfg;
    mt_ctx *ctx = m->ctx;
    bert *p = mt_alloc(ctx, sizeof *p);
    if (!p) return mt_ctx_status(ctx);
    m->family = p;
    const char *pet;
    if (cl_read_dtype_layers(m, &p->dt, "num_hidden_layers", 12, &p->layers) != MT_OK ||
        !mt_config_pos_int(c, "vocab_size", 30522, &p->vocab) || !mt_config_pos_int(c, "hidden_size", 768, &p->hidden) ||
        !mt_config_pos_int(c, "num_attention_heads", 12, &p->heads) ||
        !mt_config_pos_int(c, "intermediate_size", 3072, &p->inter) ||
        !mt_config_pos_int(c, "max_position_embeddings", 512, &p->maxpos) ||
        !mt_config_pos_int(c, "type_vocab_size", 2, &p->types) || !mt_config_float(c, "layer_norm_eps", 1e-12, &p->eps) ||
        !mt_config_str(c, "hidden_act", "gelu", &p->act) ||
        !mt_config_str(c, "position_embedding_type", "absolute", &pet) ||
        !mt_config_bool(c, "tie_word_embeddings", true, &p->tie))
        return mt_ctx_status(ctx);
    if (strcmp(pet, "absolute") != 0)
        return mt_config_error(c, "position_embedding_type",
                            "position_embedding_type '%s' is not supported for bert (only 'absolute')", pet);
    if (cl_check_heads(m, "num_attention_heads", p->hidden, p->heads) != MT_OK) return mt_ctx_status(ctx);
    p->hd = p->hidden / p->heads;
    if (strcmp(m->class_name, "BertForMaskedLM") == 0) p->head = BERT_MLM;
    else if (strcmp(m->class_name, "BertForPreTraining") == 0) p->head = BERT_PRETRAINING;
    else if (strcmp(m->class_name, "BertModel") == 0) p->head = BERT_MODEL;
    else
        return mt_config_error(c, "architectures",
                            "bert class '%s' is not supported; expected BertForMaskedLM, BertForPreTraining or "
                            "BertModel",
                            m->class_name);

    bert_h *mh = MT_BIND(ctx, m->root, bert_h);
    mt_module *bm = !mh ? NULL : p->head == BERT_MODEL ? m->root : mt_module_new(ctx, m->root, "bert", "BertModel");
    if (!bm) return mt_ctx_status(ctx);
    mh->bm = bm;
    mt_module *emb = mh->emb = mt_module_new(ctx, bm, "embeddings", "BertEmbeddings");
    mt_module *we = emb ? mh->word = cl_embedding(m, emb, "word_embeddings", p->vocab, p->hidden) : NULL;
    if (!we || !(mh->pos = cl_embedding(m, emb, "position_embeddings", p->maxpos, p->hidden)) ||
        !(mh->type = cl_embedding(m, emb, "token_type_embeddings", p->types, p->hidden)) ||
        !(mh->emb_ln = cl_layernorm(m, emb, "LayerNorm", p->hidden, p->eps, true)) ||
        !(mh->emb_drop = cl_dropout(m, emb, "dropout", 0.1)))
        return mt_ctx_status(ctx);
    int64_t bs[2] = {1, p->maxpos};
    if (!mt_buffer_new(ctx, emb, "position_ids", MT_INT64, MT_DEVICE_CPU, 2, bs, false, true) ||
        !mt_buffer_new(ctx, emb, "token_type_ids", MT_INT64, MT_DEVICE_CPU, 2, bs, false, true))
        return mt_ctx_status(ctx);
    mt_module *enc = mh->enc = mt_module_new(ctx, bm, "encoder", "BertEncoder");
    mt_module *list = enc ? mh->list = cl_list(m, enc, "layer") : NULL;
    if (!list) return mt_ctx_status(ctx);
    for (int64_t i = 0; i < p->layers; i++) {
        mt_module *L = cl_layer(m, list, i, "BertLayer");
        bert_layer_h *lh = MT_BIND(ctx, L, bert_layer_h);
        mt_module *at = lh ? lh->attn = mt_module_new(ctx, L, "attention", "BertAttention") : NULL;
        mt_module *sa = at ? lh->self = mt_module_new(ctx, at, "self", "BertSdpaSelfAttention") : NULL;
        if (!sa || !(lh->q = cl_linear(m, sa, "query", p->hidden, p->hidden, true)) ||
            !(lh->k = cl_linear(m, sa, "key", p->hidden, p->hidden, true)) ||
            !(lh->v = cl_linear(m, sa, "value", p->hidden, p->hidden, true)) || !cl_dropout(m, sa, "dropout", 0.1))
            return mt_ctx_status(ctx);
        if (!(lh->attn_out = out_block(m, p, at, "output", "BertSelfOutput", p->hidden))) return mt_ctx_status(ctx);
        mt_module *im = lh->inter = mt_module_new(ctx, L, "intermediate", "BertIntermediate");
        if (!im || !(lh->inter_dense = cl_linear(m, im, "dense", p->hidden, p->inter, true)) ||
            !(lh->inter_act = mt_act_new(m, im, "intermediate_act_fn", p->act, "hidden_act")))
            return mt_ctx_status(ctx);
        if (!(lh->out = out_block(m, p, L, "output", "BertOutput", p->inter))) return mt_ctx_status(ctx);
    }
    if (p->head != BERT_MLM) {
        mt_module *pool = mh->pool = mt_module_new(ctx, bm, "pooler", "BertPooler");
        if (!pool || !(mh->pool_dense = cl_linear(m, pool, "dense", p->hidden, p->hidden, true)) ||
            !(mh->pool_act = mt_act_new(m, pool, "activation", "tanh", "hidden_act")))
            return mt_ctx_status(ctx);
    }
    if (p->head != BERT_MODEL) {
        mt_module *cls = mh->cls = mt_module_new(ctx, m->root, "cls",
                                                 p->head == BERT_MLM ? "BertOnlyMLMHead" : "BertPreTrainingHeads");
        mt_module *pr = cls ? mh->pr = mt_module_new(ctx, cls, "predictions", "BertLMPredictionHead") : NULL;
        mt_module *tf = pr ? mh->tf = mt_module_new(ctx, pr, "transform", "BertPredictionHeadTransform") : NULL;
        if (!tf || !(mh->tf_dense = cl_linear(m, tf, "dense", p->hidden, p->hidden, true)) ||
            !(mh->tf_act = mt_act_new(m, tf, "transform_act_fn", p->act, "hidden_act")) ||
            !(mh->tf_ln = cl_layernorm(m, tf, "LayerNorm", p->hidden, p->eps, true)))
            return mt_ctx_status(ctx);
        /* decoder: Linear(hidden, vocab, bias=False), weight tied to the word
         * embeddings (unless tie_word_embeddings is false), then
         * `self.decoder.bias = self.bias`: the head's own bias, registered on
         * predictions after transform and decoder, listed first (own
         * parameters precede the children's). */
        mt_module *dec = mh->decoder = cl_lm_head(m, pr, "decoder", we, p->tie, p->hidden, p->vocab, false);
        mt_param *bias = dec ? mt_param_new(ctx, pr, "bias", p->dt, MT_DEVICE_CPU, 1, &p->vocab) : NULL;
        if (!bias || !mt_param_tie(ctx, dec, "bias", bias)) return mt_ctx_status(ctx);
        mt_module_attr(ctx, dec, "bias", mt_a_bool(true));
        if (p->head == BERT_PRETRAINING && !(mh->seq_rel = cl_linear(m, cls, "seq_relationship", p->hidden, 2, true)))
            return mt_ctx_status(ctx);
    }
    mt_model_info(m, "hidden_size", mt_a_int(p->hidden));
    mt_model_info(m, "num_hidden_layers", mt_a_int(p->layers));
    mt_model_info(m, "num_attention_heads", mt_a_int(p->heads));
    mt_model_info(m, "intermediate_size", mt_a_int(p->inter));
    /* transformers has eager and sdpa for it and picks sdpa; metatrace traces sdpa */
    if (mt_attn_choose(m, MT_ATTN_BOTH, MT_ATTN_BIT(MT_ATTN_IMPL_SDPA), MT_ATTN_IMPL_SDPA) != MT_OK)
        return mt_ctx_status(m->ctx);
    return MT_OK;
}

/* dense -> dropout -> LayerNorm(x + residual) (BertSelfOutput / BertOutput). */
static mt_tensor *bert_out(mt_tracer *tr, mt_module *mod, mt_tensor *x, mt_tensor *res) {
    const bert_out_h *oh = MT_BOUND(tr, mod, bert_out_h);
    if (!oh) return NULL;
    mt_tr_enter(tr, mod);
    mt_tensor *h = mt_tr_call(tr, oh->drop, mt_tr_call(tr, oh->dense, x));
    h = mt_tr_call(tr, oh->ln, mt_add(tr, h, res));
    mt_tr_leave(tr);
    return h;
}

static mt_status bert_forward(mt_model *m, mt_tracer *tr) {
    const bert *p = m->family;
    mt_tensor *ids = m->inputs.items[0], *amask = m->inputs.items[1];
    const mt_sym *b = ids->shape[0], *seq = ids->shape[1];
    /* absolute positions: seq can be at most max_position_embeddings (the
     * position_ids buffer is sliced to seq) */
    if (mt_sym_info_of(m->ctx, seq)) mt_sym_set_bounds(m->ctx, seq, 1, mt_sym_const(m->ctx, p->maxpos));
    const bert_h *mh = MT_BOUND(tr, m->root, bert_h);
    if (!mh) return mt_ctx_status(tr->ctx);
    mt_module *bm = mh->bm;
    if (bm != m->root) mt_tr_enter(tr, bm);
    /* extended attention mask: (1 - mask[:, None, None, :]) * finfo.min */
    mt_tensor *mask = cl_padding_mask(tr, amask, p->dt);
    mt_tr_enter(tr, mh->emb);
    /* transformers slices the buffers: position_ids[:, 0:seq] and
     * token_type_ids[:, :seq].expand(batch, seq). Our getitem rule cannot yet
     * slice a constant dim (max_position_embeddings) at a symbolic stop, even
     * with seq bounded by it, so the same values are traced from their
     * definitions: arange(seq)[None, :] and zeros([1, seq], int64). */
    mt_arg pa[2] = {mt_a_none(), mt_a_slice(NULL, NULL, NULL)};
    mt_tensor *pos = mt_index(tr, cl_arange(tr, seq), pa, 2);
    const mt_sym *zs[2] = {C(tr, 1), seq};
    mt_arg za[1] = {mt_a_dims(tr->ctx, zs, 2)};
    mt_kwarg zk[1] = {{"dtype", mt_a_dtype(MT_INT64)}};
    mt_tensor *tt = mt_tr_op1(tr, MT_OP_ZEROS, za, 1, zk, 1);
    const mt_sym *ex[2] = {b, seq};
    tt = mt_expand(tr, tt, 2, ex);
    /* word + token type embeddings: token_type_embeddings is recorded first as the goldens have it
     * (Python calls word_embeddings first) */
    mt_tensor *te = mt_tr_call(tr, mh->type, tt);
    mt_tensor *we = mt_tr_call(tr, mh->word, ids);
    mt_tensor *h = mt_add(tr, we, te);
    h = mt_add(tr, h, mt_tr_call(tr, mh->pos, pos));
    h = mt_tr_call(tr, mh->emb_drop, mt_tr_call(tr, mh->emb_ln, h));
    mt_tr_leave(tr);
    mt_module *list = mh->list;
    mt_tr_enter(tr, mh->enc);
    for (int i = 0; i < list->children.n && h; i++) {
        mt_module *L = list->children.items[i];
        const bert_layer_h *lh = MT_BOUND(tr, L, bert_layer_h);
        if (!lh) return mt_ctx_status(tr->ctx);
        mt_tr_enter(tr, L);
        mt_tr_enter(tr, lh->attn);
        mt_tr_enter(tr, lh->self);
        mt_tensor *q = cl_split_heads(tr, mt_tr_call(tr, lh->q, h), p->heads, p->hd);
        mt_tensor *k = cl_split_heads(tr, mt_tr_call(tr, lh->k, h), p->heads, p->hd);
        mt_tensor *v = cl_split_heads(tr, mt_tr_call(tr, lh->v, h), p->heads, p->hd);
        mt_tensor *o = mt_transpose(tr, cl_sdpa(tr, q, k, v, mask, 0), 1, 2);
        const mt_sym *rs[3] = {b, seq, C(tr, p->hidden)};
        o = mt_reshape(tr, o, 3, rs);
        mt_tr_leave(tr);
        mt_tensor *a = bert_out(tr, lh->attn_out, o, h);
        mt_tr_leave(tr);
        mt_tr_enter(tr, lh->inter);
        mt_tensor *fd = mt_tr_call(tr, lh->inter_dense, a);
        mt_tensor *f = mt_act_forward(tr, lh->inter_act, fd);
        mt_tr_leave(tr);
        h = bert_out(tr, lh->out, f, a);
        mt_tr_leave(tr);
    }
    mt_tr_leave(tr);
    mt_tensor *pooled = NULL;
    if (p->head != BERT_MLM) {
        mt_tr_enter(tr, mh->pool);
        mt_arg first[2] = {mt_a_slice(NULL, NULL, NULL), mt_a_int(0)};
        pooled = mt_tr_call(tr, mh->pool_dense, mt_index(tr, h, first, 2));
        pooled = mt_act_forward(tr, mh->pool_act, pooled);
        mt_tr_leave(tr);
    }
    if (bm != m->root) mt_tr_leave(tr);
    if (p->head == BERT_MODEL) {
        mt_tensor *outs[2] = {h, pooled};
        if (!h || !pooled) return cl_output(tr, NULL);
        return mt_tr_output(tr, outs, 2);
    }
    mt_tr_enter(tr, mh->cls);
    mt_tr_enter(tr, mh->pr);
    mt_tr_enter(tr, mh->tf);
    mt_tensor *td = mt_tr_call(tr, mh->tf_dense, h);
    mt_tensor *t = mt_act_forward(tr, mh->tf_act, td);
    t = mt_tr_call(tr, mh->tf_ln, t);
    mt_tr_leave(tr);
    mt_tensor *scores = mt_tr_call(tr, mh->decoder, t);
    mt_tr_leave(tr);
    mt_tensor *rel = p->head == BERT_PRETRAINING ? mt_tr_call(tr, mh->seq_rel, pooled) : NULL;
    mt_tr_leave(tr);
    if (p->head == BERT_MLM) return cl_output(tr, scores);
    if (!scores || !rel) return cl_output(tr, NULL);
    mt_tensor *outs[2] = {scores, rel};
    return mt_tr_output(tr, outs, 2);
}

static const char *const bert_classes[] = {"BertForMaskedLM", "BertForPreTraining", "BertModel", NULL};

const mt_arch mt_arch_bert = {
    .model_type = "bert",
    .default_class = "BertForMaskedLM",
    .classes = bert_classes,
    .example = "google-bert/bert-base-uncased",
    .build = bert_build,
    .forward = bert_forward,
};
