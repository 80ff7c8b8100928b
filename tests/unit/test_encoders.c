/* Encoders and encoder-decoders: BERT (the heads architectures[0] names), T5,
 * mT5 and BART. Expected totals are worked out by hand from the transformers
 * modeling sources (each test shows the sum) and agree with the published
 * figures named beside them; names, registration order, tying, buffers and the
 * traced forward (relative position bias, decoder input, scaling) are checked
 * against modeling_bert.py / modeling_t5.py / modeling_bart.py. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "testutil.h"

static int64_t total(mt_model *m) {
    mt_totals t;
    cr_assert_eq(mt_model_totals(m, &t), MT_OK, "%s", mt_ctx_errmsg(m->ctx));
    return t.params;
}

static mt_graph *trace(mt_model *m) {
    mt_graph *g = mt_model_trace(m, NULL);
    cr_assert_not_null(g, "trace: %s", mt_ctx_errmsg(m->ctx));
    return g;
}

static const mt_tensor *output(mt_graph *g, int i) {
    mt_node *out = g->nodes[g->n - 1];
    cr_assert_eq(out->op, MT_NODE_OUTPUT);
    /* several outputs are one tuple argument, as FX's output node holds them */
    if (out->nargs == 1 && out->args[0].kind == MT_ARG_LIST) {
        cr_assert_gt(out->args[0].v.list.n, i);
        return out->args[0].v.list.items[i].v.t;
    }
    cr_assert_gt(out->nargs, i);
    return out->args[i].v.t;
}

static void check_dims(mt_model *m, const mt_tensor *t, int n, const char *const *syms, const int64_t *consts) {
    cr_assert_eq(t->ndim, n, "rank %d, expected %d", t->ndim, n);
    for (int i = 0; i < n; i++) {
        const mt_sym *want = syms[i] ? mt_sym_var(m->ctx, syms[i]) : mt_sym_const(m->ctx, consts[i]);
        cr_assert_eq(t->shape[i], want, "dim %d", i);
    }
}

static int count_ops(mt_graph *g, mt_op_id id) {
    int n = 0;
    for (int i = 0; i < g->n; i++)
        if ((g->nodes[i]->op == MT_NODE_CALL_FUNCTION || g->nodes[i]->op == MT_NODE_CALL_METHOD) &&
            g->nodes[i]->opid == (int)id)
            n++;
    return n;
}

static mt_node *call_of(mt_graph *g, const char *path) {
    for (int i = 0; i < g->n; i++)
        if (g->nodes[i]->op == MT_NODE_CALL_MODULE && strcmp(g->nodes[i]->target, path) == 0) return g->nodes[i];
    return NULL;
}

static int param_index(mt_model *m, const char *name) {
    for (int i = 0; i < m->params.n; i++)
        if (strcmp(((mt_param *)m->params.items[i])->name, name) == 0) return i;
    return -1;
}

/* ---- BERT ---- */

Test(encoders, bert_base_uncased_masked_lm) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build(ctx, tu_src("samples/configs/google-bert--bert-base-uncased.config.json"), 0);
    cr_assert_str_eq(m->class_name, "BertForMaskedLM");
    /* embeddings 30522*768 + 512*768 + 2*768 + 1536 = 23,837,184; layer: 4*(768*768+768) +
     * 1536 + (768*3072+3072) + (3072*768+768) + 1536 = 7,087,872, * 12 = 85,054,464; no pooler;
     * cls.predictions: transform 590,592 + 1536, bias 30,522 (decoder tied) = 622,650.
     * 109,514,298 — the card's "110M" (BertModel with the pooler instead: 109,482,240). */
    cr_assert_eq(total(m), 109514298LL);
    const char *first[] = {"bert.embeddings.word_embeddings.weight", "bert.embeddings.position_embeddings.weight",
                           "bert.embeddings.token_type_embeddings.weight", "bert.embeddings.LayerNorm.weight",
                           "bert.embeddings.LayerNorm.bias", "bert.encoder.layer.0.attention.self.query.weight",
                           "bert.encoder.layer.0.attention.self.query.bias",
                           "bert.encoder.layer.0.attention.self.key.weight"};
    for (int i = 0; i < 8; i++) cr_assert_str_eq(((mt_param *)m->params.items[i])->name, first[i]);
    cr_assert_null(mt_model_param(m, "bert.pooler.dense.weight"));
    /* the head's own bias first, then transform, then the decoder's aliases */
    int b = param_index(m, "cls.predictions.bias"), t = param_index(m, "cls.predictions.transform.dense.weight");
    int dw = param_index(m, "cls.predictions.decoder.weight"), db = param_index(m, "cls.predictions.decoder.bias");
    cr_assert(b >= 0 && b < t && t < dw && dw < db, "order %d %d %d %d", b, t, dw, db);
    mt_param *dec_w = m->params.items[dw], *dec_b = m->params.items[db];
    cr_assert(dec_w->tied_to && strcmp(dec_w->tied_to->name, "bert.embeddings.word_embeddings.weight") == 0);
    cr_assert(dec_b->tied_to && strcmp(dec_b->tied_to->name, "cls.predictions.bias") == 0);
    tu_check_shape(m, "cls.predictions.bias", 1, 30522, 0);
    /* position_ids and token_type_ids: non-persistent [1, 512] int64 buffers */
    const char *bufs[2] = {"bert.embeddings.position_ids", "bert.embeddings.token_type_ids"};
    for (int i = 0; i < 2; i++) {
        mt_param *p = mt_model_param(m, bufs[i]);
        cr_assert(p && p->is_buffer && !p->persistent, "%s", bufs[i]);
        cr_assert_eq(p->t->dtype, MT_INT64);
        cr_assert_eq(mt_sym_const_value(p->t->shape[1]), 512);
    }
    mt_graph *g = trace(m);
    const char *s3[3] = {"batch", "seq", NULL};
    int64_t c3[3] = {0, 0, 30522};
    check_dims(m, output(g, 0), 3, s3, c3);
    cr_assert_eq(output(g, 0)->dtype, MT_FLOAT32);
    cr_assert_eq(count_ops(g, MT_OP_SDPA), 12);
    /* the decoder is a Linear call with the tied bias */
    cr_assert_not_null(call_of(g, "cls.predictions.decoder"));
    cr_assert_not_null(call_of(g, "bert.embeddings.token_type_embeddings"));
    mt_ctx_free(ctx);
}

#define BERT_BASE                                                                                           \
    "\"model_type\": \"bert\", \"vocab_size\": 30522, \"hidden_size\": 768, \"num_hidden_layers\": 12, "   \
    "\"num_attention_heads\": 12, \"intermediate_size\": 3072, \"max_position_embeddings\": 512"

Test(encoders, bert_pretraining_and_model_heads) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build_text(ctx, "{\"architectures\": [\"BertForPreTraining\"], " BERT_BASE "}", 0);
    /* BertModel with pooler 109,482,240 + cls.predictions 622,650 + seq_relationship 768*2+2 */
    cr_assert_eq(total(m), 110106428LL);
    tu_check_shape(m, "cls.seq_relationship.weight", 2, 2, 768);
    cr_assert_not_null(mt_model_param(m, "bert.pooler.dense.weight"));
    mt_graph *g = trace(m);
    const char *s3[3] = {"batch", "seq", NULL}, *s2[2] = {"batch", NULL};
    int64_t c3[3] = {0, 0, 30522}, c2[2] = {0, 2};
    check_dims(m, output(g, 0), 3, s3, c3);
    check_dims(m, output(g, 1), 2, s2, c2);

    m = tu_build_text(ctx, "{\"architectures\": [\"BertModel\"], " BERT_BASE "}", 0);
    /* 23,837,184 + 85,054,464 + pooler 590,592; no prefix */
    cr_assert_eq(total(m), 109482240LL);
    cr_assert_str_eq(((mt_param *)m->params.items[0])->name, "embeddings.word_embeddings.weight");
    cr_assert_str_eq(((mt_param *)m->params.items[m->params.n - 1])->name, "pooler.dense.bias");
    g = trace(m);
    int64_t h3[3] = {0, 0, 768}, h2[2] = {0, 768};
    check_dims(m, output(g, 0), 3, s3, h3);
    check_dims(m, output(g, 1), 2, s2, h2);
    mt_ctx_free(ctx);
}

Test(encoders, bert_errors_name_the_field) {
    mt_ctx *ctx = mt_ctx_new();
    const char *j = "{\"model_type\": \"bert\", \"position_embedding_type\": \"relative_key\"}";
    mt_config *cfg = mt_config_parse(ctx, j, strlen(j), "bad.json");
    mt_build_opts o = {.dtype = MT_DTYPE_NONE, .num_layers = 0};
    cr_assert_null(mt_model_build(ctx, cfg, &o));
    cr_assert(strstr(mt_ctx_errmsg(ctx), "position_embedding_type"), "%s", mt_ctx_errmsg(ctx));
    mt_ctx_free(ctx);
}

/* ---- T5 / mT5 ---- */

Test(encoders, t5_small_defaults) {
    mt_ctx *ctx = mt_ctx_new();
    /* T5Config defaults are t5-small */
    mt_model *m = tu_build_text(ctx, "{\"model_type\": \"t5\"}", 0);
    cr_assert_str_eq(m->class_name, "T5ForConditionalGeneration");
    /* shared 32128*512 = 16,449,536; encoder layer 4*512*512 + 2*512*2048 + 2*512 = 3,146,752,
     * * 6 + relative bias 32*8 + final 512 = 18,881,280; decoder layer + cross 1,048,576 + 512
     * = 4,195,840, * 6 + 256 + 512 = 25,175,808; tied head: 60,506,624 (t5-small's published count) */
    cr_assert_eq(total(m), 60506624LL);
    cr_assert_str_eq(((mt_param *)m->params.items[0])->name, "shared.weight");
    mt_param *et = m->params.items[1];
    cr_assert_str_eq(et->name, "encoder.embed_tokens.weight");
    cr_assert(et->tied_to && strcmp(et->tied_to->name, "shared.weight") == 0);
    tu_check_shape(m, "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight", 2, 32, 8);
    tu_check_shape(m, "decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight", 2, 32, 8);
    cr_assert_null(mt_model_param(m, "encoder.block.1.layer.0.SelfAttention.relative_attention_bias.weight"));
    cr_assert_null(mt_model_param(m, "decoder.block.0.layer.1.EncDecAttention.relative_attention_bias.weight"));
    tu_check_shape(m, "decoder.block.5.layer.1.EncDecAttention.q.weight", 2, 512, 512);
    tu_check_shape(m, "decoder.block.5.layer.2.DenseReluDense.wi.weight", 2, 2048, 512);
    mt_param *head = mt_model_param(m, "lm_head.weight");
    cr_assert(head && head->tied_to && strcmp(head->tied_to->name, "shared.weight") == 0);
    mt_graph *g = trace(m);
    /* placeholders: input_ids, attention_mask, decoder_input_ids [batch, dec_seq] */
    cr_assert_str_eq(g->nodes[2]->name, "decoder_input_ids");
    cr_assert_eq(g->nodes[2]->op, MT_NODE_PLACEHOLDER);
    const char *s3[3] = {"batch", "dec_seq", NULL};
    int64_t c3[3] = {0, 0, 32128};
    check_dims(m, output(g, 0), 3, s3, c3);
    /* relative bias: Embedding over [q, k] buckets -> [seq, seq, 8] -> permute/unsqueeze [1, 8, seq, seq] */
    mt_node *rb = call_of(g, "encoder.block.0.layer.0.SelfAttention.relative_attention_bias");
    cr_assert_not_null(rb);
    const char *sq[3] = {"seq", "seq", NULL};
    int64_t c8[3] = {0, 0, 8};
    check_dims(m, &rb->outs[0], 3, sq, c8);
    mt_node *un = g->nodes[rb->index + 2];
    cr_assert_eq(un->opid, MT_OP_UNSQUEEZE);
    const char *s4[4] = {NULL, NULL, "seq", "seq"};
    int64_t c4[4] = {1, 8, 0, 0};
    check_dims(m, &un->outs[0], 4, s4, c4);
    rb = call_of(g, "decoder.block.0.layer.0.SelfAttention.relative_attention_bias");
    const char *dq[3] = {"dec_seq", "dec_seq", NULL};
    check_dims(m, &rb->outs[0], 3, dq, c8);
    /* bucket math: log once per stack; torch.min caps both and the decoder's
     * unidirectional branch adds -min(rp, zeros_like(rp)); one relative bias per stack */
    cr_assert_eq(count_ops(g, MT_OP_LOG), 2);
    cr_assert_eq(count_ops(g, MT_OP_MIN), 3);
    cr_assert_eq(count_ops(g, MT_OP_FULL_LIKE), 2);
    cr_assert_eq(count_ops(g, MT_OP_ZEROS_LIKE), 1);
    cr_assert_eq(count_ops(g, MT_OP_ABS), 1);
    /* cross-attention position bias: zeros [1, 8, dec_seq, seq] once */
    cr_assert_eq(count_ops(g, MT_OP_ZEROS), 1);
    /* eager attention, no scaling: 6 + 6*2 softmaxes */
    cr_assert_eq(count_ops(g, MT_OP_SOFTMAX), 18);
    /* tied: sequence_output * 512**-0.5 right before lm_head */
    mt_node *lm = call_of(g, "lm_head");
    mt_node *sc = g->nodes[lm->index - 1];
    cr_assert_eq(sc->opid, MT_OP_MUL);
    cr_assert_float_eq(sc->args[1].v.f, 1.0 / sqrt(512.0), 1e-15);
    mt_ctx_free(ctx);
}

Test(encoders, mt5_small_defaults_gated_untied) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build_text(ctx, "{\"model_type\": \"mt5\"}", 0);
    cr_assert_str_eq(m->class_name, "MT5ForConditionalGeneration");
    /* MT5Config defaults are mt5-small: shared and lm_head 250112*512 each = 256,114,688;
     * encoder layer q/k/v 3*512*384 + o 384*512 + wi_0/wi_1/wo 3*512*1024 + 2*512 = 2,360,320,
     * * 8 + 32*6 + 512 = 18,883,264; decoder layer + 786,432 + 512 = 3,147,264, * 8 + 704
     * = 25,178,816: 300,176,768 (mt5-small's published count) */
    cr_assert_eq(total(m), 300176768LL);
    tu_check_shape(m, "encoder.block.0.layer.1.DenseReluDense.wi_0.weight", 2, 1024, 512);
    tu_check_shape(m, "encoder.block.0.layer.1.DenseReluDense.wi_1.weight", 2, 1024, 512);
    tu_check_shape(m, "encoder.block.0.layer.0.SelfAttention.q.weight", 2, 384, 512);
    mt_param *head = mt_model_param(m, "lm_head.weight");
    cr_assert(head && !head->tied_to);
    mt_graph *g = trace(m);
    const char *s3[3] = {"batch", "dec_seq", NULL};
    int64_t c3[3] = {0, 0, 250112};
    check_dims(m, output(g, 0), 3, s3, c3);
    /* untied: no rescale before lm_head; gelu_new (tanh) in the gated FF */
    mt_node *lm = call_of(g, "lm_head");
    cr_assert_neq(g->nodes[lm->index - 1]->opid, MT_OP_MUL);
    cr_assert_eq(count_ops(g, MT_OP_GELU), 16);
    mt_ctx_free(ctx);
}

Test(encoders, t5_bad_feed_forward_proj) {
    mt_ctx *ctx = mt_ctx_new();
    const char *j = "{\"model_type\": \"t5\", \"feed_forward_proj\": \"swish-gelu\"}";
    mt_config *cfg = mt_config_parse(ctx, j, strlen(j), "bad.json");
    mt_build_opts o = {.dtype = MT_DTYPE_NONE, .num_layers = 0};
    cr_assert_null(mt_model_build(ctx, cfg, &o));
    cr_assert(strstr(mt_ctx_errmsg(ctx), "feed_forward_proj"), "%s", mt_ctx_errmsg(ctx));
    mt_ctx_free(ctx);
}

/* ---- BART ---- */

Test(encoders, bart_large_defaults) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build_text(ctx, "{\"model_type\": \"bart\"}", 0);
    cr_assert_str_eq(m->class_name, "BartForConditionalGeneration");
    /* shared 50265*1024 = 51,471,360; encoder: positions 1026*1024 = 1,050,624, layer 4*(1024^2+1024)
     * + (1024*4096+4096) + (4096*1024+1024) + 2*2048 = 12,596,224, * 12, layernorm_embedding 2048
     * -> 152,207,360; decoder layer + 4,198,400 + 2048 = 16,796,672, * 12 + 1,050,624 + 2048
     * -> 202,612,736; tied head: 406,291,456 (bart-large's published count) */
    cr_assert_eq(total(m), 406291456LL);
    const char *first[] = {"model.shared.weight", "model.encoder.embed_tokens.weight",
                           "model.encoder.embed_positions.weight", "model.encoder.layers.0.self_attn.k_proj.weight"};
    for (int i = 0; i < 4; i++) cr_assert_str_eq(((mt_param *)m->params.items[i])->name, first[i]);
    tu_check_shape(m, "model.encoder.embed_positions.weight", 2, 1026, 1024);
    /* decoder layer registration: self_attn, self_attn_layer_norm, encoder_attn, ..., fc1 */
    int a = param_index(m, "model.decoder.layers.0.self_attn_layer_norm.weight");
    int b = param_index(m, "model.decoder.layers.0.encoder_attn.k_proj.weight");
    int c = param_index(m, "model.decoder.layers.0.fc1.weight");
    cr_assert(a >= 0 && a < b && b < c);
    /* encoder layer: self_attn_layer_norm before fc1 */
    cr_assert_lt(param_index(m, "model.encoder.layers.0.self_attn_layer_norm.weight"),
                 param_index(m, "model.encoder.layers.0.fc1.weight"));
    mt_param *fb = mt_model_param(m, "final_logits_bias");
    cr_assert(fb && fb->is_buffer && fb->persistent);
    cr_assert_eq(mt_sym_const_value(fb->t->shape[1]), 50265);
    mt_param *head = mt_model_param(m, "lm_head.weight");
    cr_assert(head && head->tied_to && strcmp(head->tied_to->name, "model.shared.weight") == 0);
    mt_graph *g = trace(m);
    const char *s3[3] = {"batch", "dec_seq", NULL};
    int64_t c3[3] = {0, 0, 50265};
    check_dims(m, output(g, 0), 3, s3, c3);
    /* logits + final_logits_bias is the last op */
    mt_node *last = g->nodes[g->n - 2];
    cr_assert_eq(last->opid, MT_OP_ADD);
    cr_assert_eq(last->args[1].v.t->node->op, MT_NODE_GET_ATTR);
    /* 12 + 2*12 attention calls, scale 64**-0.5 */
    cr_assert_eq(count_ops(g, MT_OP_SDPA), 36);
    /* positions: arange(seq) + 2 through F.embedding on embed_positions.weight */
    int emb = count_ops(g, MT_OP_EMBEDDING);
    cr_assert_eq(emb, 4); /* embed_tokens and embed_positions of both stacks (traced through) */
    mt_ctx_free(ctx);
}

/* ---- op rules added for T5's buckets ---- */

Test(encoders, min_and_full_like_rules) {
    mt_ctx *ctx = mt_ctx_new();
    const mt_sym *sh[2] = {mt_sym_var(ctx, "q"), mt_sym_var(ctx, "k")};
    mt_tensor *x = mt_tensor_meta(ctx, MT_INT64, 2, sh);
    const mt_sym *one[1] = {sh[1]};
    mt_tensor *y = mt_tensor_meta(ctx, MT_FLOAT32, 1, one);
    mt_tensor outs[MT_MAX_OUTS];
    int n;
    bool tup;
    /* torch.min(int64 [q, k], float32 [k]) -> float32 [q, k] (torch.minimum's promotion) */
    mt_arg a[2] = {mt_a_tensor(x), mt_a_tensor(y)};
    cr_assert_eq(mt_op_infer(ctx, MT_OP_MIN, a, 2, NULL, 0, outs, &n, &tup), MT_OK, "%s", mt_ctx_errmsg(ctx));
    cr_assert_eq(outs[0].dtype, MT_FLOAT32);
    cr_assert_eq(outs[0].ndim, 2);
    cr_assert_eq(outs[0].shape[0], sh[0]);
    /* torch.min(x): a 0-d tensor of x's dtype */
    cr_assert_eq(mt_op_infer(ctx, MT_OP_MIN, a, 1, NULL, 0, outs, &n, &tup), MT_OK, "%s", mt_ctx_errmsg(ctx));
    cr_assert_eq(outs[0].ndim, 0);
    cr_assert_eq(outs[0].dtype, MT_INT64);
    /* torch.min(x, 1) is the dim form: not modelled, said so */
    mt_arg ad[2] = {mt_a_tensor(x), mt_a_int(1)};
    cr_assert_neq(mt_op_infer(ctx, MT_OP_MIN, ad, 2, NULL, 0, outs, &n, &tup), MT_OK);
    mt_error_clear(ctx);
    /* full_like(x, 31): x's shape and dtype; dtype= overrides */
    mt_arg f[2] = {mt_a_tensor(x), mt_a_int(31)};
    cr_assert_eq(mt_op_infer(ctx, MT_OP_FULL_LIKE, f, 2, NULL, 0, outs, &n, &tup), MT_OK, "%s", mt_ctx_errmsg(ctx));
    cr_assert_eq(outs[0].dtype, MT_INT64);
    cr_assert_eq(outs[0].shape[1], sh[1]);
    mt_kwarg kw[1] = {{"dtype", mt_a_dtype(MT_BFLOAT16)}};
    cr_assert_eq(mt_op_infer(ctx, MT_OP_FULL_LIKE, f, 2, kw, 1, outs, &n, &tup), MT_OK);
    cr_assert_eq(outs[0].dtype, MT_BFLOAT16);
    cr_assert_str_eq(mt_op_def(MT_OP_MIN)->target, "torch.min");
    cr_assert_str_eq(mt_op_def(MT_OP_FULL_LIKE)->target, "torch.full_like");
    mt_ctx_free(ctx);
}

/* Every input symbol can be bound, the decoder's dec_seq included; a name no
 * input uses is a usage error naming it. */
Test(encoders, bind_dec_seq_and_reject_unknown_symbols) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build_text(ctx, "{\"model_type\": \"t5\", \"num_layers\": 1}", 0);
    const char *names[3] = {"batch", "seq", "dec_seq"};
    int64_t vals[3] = {2, 16, 5};
    mt_trace_opts o = {{names, vals, 3}};
    mt_graph *g = mt_model_trace(m, &o);
    cr_assert_not_null(g, "%s", mt_ctx_errmsg(ctx));
    const mt_tensor *l = g->nodes[g->n - 1]->args[0].v.t;
    cr_assert_eq(l->ndim, 3);
    cr_assert_eq(l->shape[0], mt_sym_const(ctx, 2));
    cr_assert_eq(l->shape[1], mt_sym_const(ctx, 5), "logits follow the decoder length");
    mt_ctx_free(ctx);

    ctx = mt_ctx_new();
    m = tu_build_text(ctx, "{\"model_type\": \"t5\", \"num_layers\": 1}", 0);
    const char *bad[1] = {"tokens"};
    int64_t one[1] = {4};
    mt_trace_opts ob = {{bad, one, 1}};
    cr_assert_null(mt_model_trace(m, &ob));
    cr_assert_eq(mt_ctx_status(ctx), MT_ERR_USAGE);
    cr_assert(strstr(mt_ctx_errmsg(ctx), "cannot bind 'tokens'"), "%s", mt_ctx_errmsg(ctx));
    mt_ctx_free(ctx);
}
