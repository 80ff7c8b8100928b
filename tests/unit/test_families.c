/* Llama-like decoder families: every registered family builds and traces on a
 * tiny config (tests/tiny_configs.h); the real configs with checkpoint indexes
 * match the checkpoints' names, shapes and counts (samples/configs/SOURCES.md);
 * family-specific graph details; config errors name the field and family. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "models/blocks.h"
#include "testutil.h"
#include "tiny_configs.h"

/* NULL model and the error message, for the error tests. */
static const char *build_error(mt_ctx *ctx, const char *json) {
    mt_config *cfg = mt_config_parse(ctx, json, strlen(json), "bad.json");
    cr_assert_not_null(cfg, "config: %s", mt_ctx_errmsg(ctx));
    mt_build_opts o = {.dtype = MT_DTYPE_NONE, .num_layers = 0};
    mt_model *m = mt_model_build(ctx, cfg, &o);
    cr_assert_null(m, "expected the build to fail");
    return mt_ctx_errmsg(ctx);
}

static void check_logits(mt_model *m, mt_graph *g, int64_t vocab) {
    mt_node *out = g->nodes[g->n - 1];
    cr_assert_eq(out->op, MT_NODE_OUTPUT);
    const mt_tensor *l = out->args[0].v.t;
    cr_assert_eq(l->ndim, 3, "%s: logits rank %d", m->model_type, l->ndim);
    cr_assert_eq(l->shape[0], mt_sym_var(m->ctx, "batch"), "%s: batch", m->model_type);
    /* encoder-decoders: the logits follow the decoder's own length */
    bool seq2seq = false;
    for (int i = 0; i < g->n && g->nodes[i]->op == MT_NODE_PLACEHOLDER; i++)
        if (strcmp(g->nodes[i]->name, "decoder_input_ids") == 0) seq2seq = true;
    cr_assert_eq(l->shape[1], mt_sym_var(m->ctx, seq2seq ? "dec_seq" : "seq"), "%s: seq", m->model_type);
    cr_assert_eq(l->shape[2], mt_sym_const(m->ctx, vocab), "%s: vocab", m->model_type);
}

static int count_nodes(mt_graph *g, mt_op_id id) {
    int n = 0;
    for (int i = 0; i < g->n; i++)
        if ((g->nodes[i]->op == MT_NODE_CALL_FUNCTION || g->nodes[i]->op == MT_NODE_CALL_METHOD) &&
            g->nodes[i]->opid == (int)id)
            n++;
    return n;
}

static mt_node *first_node(mt_graph *g, mt_op_id id, const char *under) {
    for (int i = 0; i < g->n; i++) {
        mt_node *n = g->nodes[i];
        if (n->opid != (int)id || (n->op != MT_NODE_CALL_FUNCTION && n->op != MT_NODE_CALL_METHOD)) continue;
        if (!under) return n;
        for (int d = 0; n->stack && d < n->stack->depth; d++)
            if (strcmp(n->stack->mods[d]->path, under) == 0) return n;
    }
    return NULL;
}

static const mt_arg *kwarg(mt_node *n, const char *name) {
    for (int i = 0; i < n->nkwargs; i++)
        if (strcmp(n->kwargs[i].name, name) == 0) return &n->kwargs[i].value;
    return NULL;
}

Test(families, every_registered_family_builds_and_traces) {
    cr_assert_gt(mt_arch_count(), 0);
    char missing[1024] = "";
    for (int i = 0; i < mt_arch_count(); i++) {
        const mt_arch *a = mt_arch_at(i);
        const tiny_config *t = tiny_for(a->model_type);
        if (!t) { /* check the others first, then fail naming every family left out */
            strncat(missing, " ", sizeof missing - strlen(missing) - 1);
            strncat(missing, a->model_type, sizeof missing - strlen(missing) - 1);
            continue;
        }
        mt_ctx *ctx = mt_ctx_new();
        mt_model *m = tu_build_text(ctx, t->json, 0);
        cr_assert_eq(m->arch, a, "%s: built by another family", a->model_type);
        cr_assert_eq(m->num_layers, 2, "%s", a->model_type);
        if (t->params) {
            mt_totals tot;
            cr_assert_eq(mt_model_totals(m, &tot), MT_OK);
            cr_assert_eq(tot.params, t->params, "%s: %lld parameters, expected %lld", a->model_type,
                         (long long)tot.params, (long long)t->params);
        }
        mt_graph *g = mt_model_trace(m, NULL);
        cr_assert_not_null(g, "%s: trace: %s", a->model_type, mt_ctx_errmsg(ctx));
        check_logits(m, g, t->vocab);
        mt_ctx_free(ctx);
    }
    cr_assert_eq(missing[0], '\0', "registered families without a tiny config in tests/tiny_configs.h:%s", missing);
}

static mt_model *real(mt_ctx *ctx, const char *file, int64_t params, int64_t bytes, mt_dtype dt) {
    char rel[256];
    snprintf(rel, sizeof rel, "samples/configs/%s", file);
    mt_model *m = tu_build(ctx, tu_src(rel), 0);
    mt_totals t;
    cr_assert_eq(mt_model_totals(m, &t), MT_OK);
    cr_assert_eq(t.params, params, "%s: %lld parameters", file, (long long)t.params);
    cr_assert_eq(t.param_bytes, bytes, "%s: %lld bytes", file, (long long)t.param_bytes);
    cr_assert_eq(t.params_by_dtype[dt], params);
    return m;
}

Test(families, mistral_7b_matches_checkpoint) {
    mt_ctx *ctx = mt_ctx_new();
    /* SOURCES.md 7,241,732,096 (card: 7 billion); index total_size 14,483,464,192 (bf16) */
    mt_model *m = real(ctx, "mistralai--Mistral-7B-v0.1.config.json", 7241732096LL, 14483464192LL, MT_BFLOAT16);
    tu_check_index_names(m, "mistralai--Mistral-7B-v0.1.index.json", false);
    tu_check_shape(m, "model.layers.0.self_attn.k_proj.weight", 2, 1024, 4096);
    tu_check_shape(m, "model.layers.31.mlp.gate_proj.weight", 2, 14336, 4096);
    mt_graph *g = tu_trace(m);
    check_logits(m, g, 32000);
    /* sliding window 4096 on every layer: one sliding mask, used by all 32 SDPA calls */
    mt_node *ge = first_node(g, MT_OP_GE, NULL);
    cr_assert_not_null(ge, "no sliding-window comparison");
    cr_assert_eq(ge->args[1].kind, MT_ARG_INT);
    cr_assert_eq(ge->args[1].v.i, 4096);
    cr_assert_eq(count_nodes(g, MT_OP_SDPA), 32);
    mt_ctx_free(ctx);
}

Test(families, qwen2_7b_matches_checkpoint) {
    mt_ctx *ctx = mt_ctx_new();
    /* SOURCES.md 7,615,616,512 (Qwen2-7B shape); bf16 */
    mt_model *m = real(ctx, "SeaLLMs--SeaLLMs-v3-7B-Chat.config.json", 7615616512LL, 2 * 7615616512LL, MT_BFLOAT16);
    tu_check_index_names(m, "SeaLLMs--SeaLLMs-v3-7B-Chat.index.json", false);
    tu_check_shape(m, "model.layers.0.self_attn.q_proj.bias", 1, 3584, 0);
    tu_check_shape(m, "model.layers.0.self_attn.k_proj.bias", 1, 512, 0);
    cr_assert_null(mt_model_param(m, "model.layers.0.self_attn.o_proj.bias"));
    mt_graph *g = tu_trace(m);
    check_logits(m, g, 152064);
    /* use_sliding_window false: no sliding mask */
    cr_assert_null(first_node(g, MT_OP_GE, NULL));
    mt_ctx_free(ctx);
}

Test(families, gemma2_2b_matches_checkpoint) {
    mt_ctx *ctx = mt_ctx_new();
    /* SOURCES.md 2,614,341,888; the pytorch_model.bin index stores float16
     * parameters only (no buffers, no lm_head: tied), total_size 5,228,683,776 */
    mt_model *m = real(ctx, "Ayush2006128--mithoon-2b.gemma-2-2b-finetune.config.json", 2614341888LL,
                       5228683776LL, MT_FLOAT16);
    tu_check_index_names(m, "Ayush2006128--mithoon-2b.gemma-2-2b-finetune.pytorch_model.bin.index.json", false);
    mt_param *head = mt_model_param(m, "lm_head.weight");
    cr_assert_not_null(head);
    cr_assert_not_null(head->tied_to);
    tu_check_shape(m, "model.layers.0.self_attn.q_proj.weight", 2, 2048, 2304); /* 8 heads of 256 */
    tu_check_shape(m, "model.layers.0.pre_feedforward_layernorm.weight", 1, 2304, 0);
    /* Gemma2DecoderLayer registration order */
    const char *order[] = {"self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight",
                           "self_attn.o_proj.weight", "mlp.gate_proj.weight", "mlp.up_proj.weight",
                           "mlp.down_proj.weight", "input_layernorm.weight", "post_attention_layernorm.weight",
                           "pre_feedforward_layernorm.weight", "post_feedforward_layernorm.weight"};
    for (int i = 0; i < 11; i++) {
        char want[128];
        snprintf(want, sizeof want, "model.layers.0.%s", order[i]);
        cr_assert_str_eq(((mt_param *)m->params.items[1 + i])->name, want);
    }
    mt_graph *g = tu_trace(m);
    check_logits(m, g, 256000);
    /* eager attention with soft-capping: no SDPA; tanh per layer + the final one */
    cr_assert_eq(count_nodes(g, MT_OP_SDPA), 0);
    cr_assert_eq(count_nodes(g, MT_OP_TANH), 26 + 1);
    cr_assert_eq(count_nodes(g, MT_OP_SOFTMAX), 26);
    /* the last node before output: logits * 30.0 (final_logit_softcapping) */
    mt_node *last = g->nodes[g->n - 2];
    cr_assert_eq(last->opid, MT_OP_MUL);
    cr_assert_float_eq(last->args[1].v.f, 30.0, 0);
    /* embeddings * sqrt(2304) = 48 (exact in float16) */
    mt_node *scale = first_node(g, MT_OP_MUL, "model");
    cr_assert_not_null(scale);
    /* query_pre_attn_scalar 256 -> scores * 1/16 */
    mt_node *mm = first_node(g, MT_OP_MATMUL, "model.layers.0.self_attn");
    cr_assert_not_null(mm);
    /* even layers slide: 13 of 26 layers use the sliding mask */
    cr_assert_eq(first_node(g, MT_OP_GE, NULL)->args[1].v.i, 4096);
    mt_ctx_free(ctx);
}

Test(families, stable_code_3b_matches_checkpoint) {
    mt_ctx *ctx = mt_ctx_new();
    /* SOURCES.md 2,795,443,200; index total_size 5,590,886,400 (bf16) */
    mt_model *m = real(ctx, "stabilityai--stable-code-3b.config.json", 2795443200LL, 5590886400LL, MT_BFLOAT16);
    cr_assert_str_eq(m->class_name, "StableLMEpochForCausalLM");
    tu_check_index_names(m, "stabilityai--stable-code-3b.index.json", false);
    tu_check_shape(m, "model.layers.0.input_layernorm.bias", 1, 2560, 0);
    tu_check_shape(m, "model.norm.bias", 1, 2560, 0);
    /* rope_pct 0.25 of head_dim 80: 20 rotary channels, inv_freq of 10 */
    mt_param *inv = mt_model_param(m, "model.rotary_emb.inv_freq");
    cr_assert_not_null(inv);
    cr_assert_eq(mt_sym_const_value(inv->t->shape[0]), 10);
    mt_graph *g = tu_trace(m);
    check_logits(m, g, 50304);
    /* LayerNorm leaves: 2 per layer + final */
    int ln = 0;
    for (int i = 0; i < g->n; i++)
        if (g->nodes[i]->op == MT_NODE_CALL_MODULE && g->nodes[i]->module->leaf == MT_LEAF_LAYERNORM) ln++;
    cr_assert_eq(ln, 32 * 2 + 1);
    mt_ctx_free(ctx);
}

static mt_graph *tiny_trace(mt_ctx *ctx, const char *model_type, mt_model **mo) {
    const tiny_config *t = tiny_for(model_type);
    cr_assert_not_null(t);
    mt_model *m = tu_build_text(ctx, t->json, 0);
    mt_graph *g = mt_model_trace(m, NULL);
    cr_assert_not_null(g, "%s", mt_ctx_errmsg(ctx));
    *mo = m;
    return g;
}

Test(families, granite_multipliers_in_graph) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m;
    mt_graph *g = tiny_trace(ctx, "granite", &m);
    /* attention_multiplier is SDPA's scale */
    mt_node *sdpa = first_node(g, MT_OP_SDPA, NULL);
    const mt_arg *sc = kwarg(sdpa, "scale");
    cr_assert_not_null(sc);
    cr_assert_float_eq(sc->v.f, 0.0078125, 0);
    /* embeddings * 12.0 right after the embedding */
    mt_node *emb_mul = first_node(g, MT_OP_MUL, "model");
    cr_assert_float_eq(emb_mul->args[1].v.f, 12.0, 0);
    /* logits / 8.0 is the last op */
    mt_node *last = g->nodes[g->n - 2];
    cr_assert_eq(last->opid, MT_OP_TRUEDIV);
    cr_assert_float_eq(last->args[1].v.f, 8.0, 0);
    /* residual_multiplier: two scaled residuals per layer */
    int scaled = 0;
    for (int i = 0; i < g->n; i++)
        if (g->nodes[i]->opid == MT_OP_MUL && g->nodes[i]->nargs == 2 && g->nodes[i]->args[1].kind == MT_ARG_FLOAT &&
            g->nodes[i]->args[1].v.f == 0.22)
            scaled++;
    cr_assert_eq(scaled, 4);
    mt_ctx_free(ctx);
}

Test(families, qk_norm_shapes) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m;
    /* Qwen3: RMSNorm over head_dim on [batch, seq, heads, head_dim] */
    mt_graph *g = tiny_trace(ctx, "qwen3", &m);
    mt_node *rs = first_node(g, MT_OP_RSQRT, "model.layers.0.self_attn.q_norm");
    cr_assert_not_null(rs);
    cr_assert_eq(rs->outs[0].ndim, 4);
    cr_assert_eq(rs->outs[0].shape[2], mt_sym_const(ctx, 4));
    tu_check_shape(m, "model.layers.1.self_attn.k_norm.weight", 1, 16, 0);
    /* OLMo2: RMSNorm over the whole projection [batch, seq, heads*head_dim] */
    g = tiny_trace(ctx, "olmo2", &m);
    rs = first_node(g, MT_OP_RSQRT, "model.layers.0.self_attn.k_norm");
    cr_assert_not_null(rs);
    cr_assert_eq(rs->outs[0].ndim, 3);
    tu_check_shape(m, "model.layers.0.self_attn.q_norm.weight", 1, 64, 0);
    tu_check_shape(m, "model.layers.0.self_attn.k_norm.weight", 1, 32, 0);
    cr_assert_null(mt_model_param(m, "model.layers.0.input_layernorm.weight"));
    cr_assert_not_null(mt_model_param(m, "model.layers.0.post_feedforward_layernorm.weight"));
    mt_ctx_free(ctx);
}

Test(families, internlm2_names_and_fused_qkv) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m;
    mt_graph *g = tiny_trace(ctx, "internlm2", &m);
    const char *order[] = {"model.tok_embeddings.weight", "model.layers.0.attention.wqkv.weight",
                           "model.layers.0.attention.wqkv.bias", "model.layers.0.attention.wo.weight",
                           "model.layers.0.attention.wo.bias", "model.layers.0.feed_forward.w1.weight",
                           "model.layers.0.feed_forward.w3.weight", "model.layers.0.feed_forward.w2.weight",
                           "model.layers.0.attention_norm.weight", "model.layers.0.ffn_norm.weight"};
    for (int i = 0; i < 10; i++) cr_assert_str_eq(((mt_param *)m->params.items[i])->name, order[i]);
    cr_assert_str_eq(((mt_param *)m->params.items[m->params.n - 1])->name, "output.weight");
    tu_check_shape(m, "model.layers.0.attention.wqkv.weight", 2, 128, 64); /* (4 + 2*2) * 16 */
    /* rows viewed as [batch, seq, kv_heads 2, groups 2 + 2, head_dim 16] */
    mt_node *v = first_node(g, MT_OP_VIEW, "model.layers.0.attention");
    cr_assert_eq(v->outs[0].ndim, 5);
    cr_assert_eq(v->outs[0].shape[3], mt_sym_const(ctx, 4));
    mt_ctx_free(ctx);
}

Test(families, starcoder2_plain_mlp_and_layernorm) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m;
    mt_graph *g = tiny_trace(ctx, "starcoder2", &m);
    tu_check_shape(m, "model.layers.0.mlp.c_fc.weight", 2, 128, 64);
    tu_check_shape(m, "model.layers.0.mlp.c_fc.bias", 1, 128, 0);
    tu_check_shape(m, "model.layers.0.mlp.c_proj.bias", 1, 64, 0);
    tu_check_shape(m, "model.layers.0.self_attn.o_proj.bias", 1, 64, 0);
    tu_check_shape(m, "model.norm.bias", 1, 64, 0);
    cr_assert_not_null(mt_model_param(m, "lm_head.weight")->tied_to);
    /* GELU-tanh between c_fc and c_proj */
    mt_node *gelu = first_node(g, MT_OP_GELU, "model.layers.0.mlp");
    cr_assert_not_null(gelu);
    cr_assert_str_eq(kwarg(gelu, "approximate") ? kwarg(gelu, "approximate")->v.s : gelu->args[1].v.s, "tanh");
    mt_ctx_free(ctx);
}

Test(families, gemma_normalizer_is_rounded_to_hidden_dtype) {
    mt_ctx *ctx = mt_ctx_new();
    /* transformers' note: in reduced precision sqrt(3072) = 55.4256 becomes 55.5 */
    const char *json = "{\"model_type\": \"gemma\", \"vocab_size\": 256, \"hidden_size\": 3072, "
                       "\"intermediate_size\": 64, \"num_hidden_layers\": 1, \"num_attention_heads\": 2, "
                       "\"num_key_value_heads\": 1, \"head_dim\": 32, \"torch_dtype\": \"bfloat16\"}";
    mt_model *m = tu_build_text(ctx, json, 0);
    mt_graph *g = tu_trace(m);
    mt_node *mul = NULL;
    for (int i = 0; i < g->n && !mul; i++)
        if (g->nodes[i]->opid == MT_OP_MUL && g->nodes[i]->args[0].kind == MT_ARG_TENSOR &&
            g->nodes[i]->args[0].v.t->node && g->nodes[i]->args[0].v.t->node->op == MT_NODE_CALL_MODULE &&
            g->nodes[i]->nargs == 2 && g->nodes[i]->args[1].kind == MT_ARG_FLOAT)
            mul = g->nodes[i];
    cr_assert_not_null(mul, "no embedding scaling");
    cr_assert_float_eq(mul->args[1].v.f, 55.5, 0);
    cr_assert_float_eq(mt_dtype_round(MT_FLOAT16, sqrt(3072.0)), 55.4375, 0); /* 11 significant bits */
    cr_assert_float_eq(mt_dtype_round(MT_FLOAT32, 48.0), 48.0, 0);
    /* (1 + w) RMSNorm in float32: add(1.0, weight) recorded */
    mt_node *add1 = first_node(g, MT_OP_ADD, "model.layers.0.input_layernorm");
    cr_assert_not_null(add1);
    mt_ctx_free(ctx);
}

Test(families, errors_name_field_and_family) {
    mt_ctx *ctx = mt_ctx_new();
    const char *e = build_error(ctx, "{\"model_type\": \"mistral\", \"rope_scaling\": {\"type\": \"linear\"}, " TINY_DIMS "}");
    cr_assert(strstr(e, "rope_scaling.factor") && strstr(e, "mistral"), "%s", e);
    mt_ctx_free(ctx);
    ctx = mt_ctx_new();
    e = build_error(ctx, "{\"model_type\": \"stablelm\", \"qk_layernorm\": true, " TINY_DIMS "}");
    cr_assert(strstr(e, "qk_layernorm") && strstr(e, "stablelm"), "%s", e);
    mt_ctx_free(ctx);
    ctx = mt_ctx_new();
    /* out of its domain: caught by the getter, located, whatever the family */
    e = build_error(ctx, "{\"model_type\": \"gemma2\", \"query_pre_attn_scalar\": 0, " TINY_DIMS "}");
    cr_assert(strstr(e, ":1:") && strstr(e, "query_pre_attn_scalar") && strstr(e, "expected a number > 0, got 0"), "%s", e);
    mt_ctx_free(ctx);
    ctx = mt_ctx_new();
    e = build_error(ctx, "{\"model_type\": \"qwen2\", \"num_attention_heads\": 3, \"hidden_size\": 63, "
                         "\"num_key_value_heads\": 2}");
    cr_assert(strstr(e, "num_key_value_heads") && strstr(e, "qwen2"), "%s", e);
    mt_ctx_free(ctx);
}

Test(families, olmo_noparam_layernorm_and_clip_qkv) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m;
    mt_graph *g = tiny_trace(ctx, "olmo", &m);
    cr_assert_null(mt_model_param(m, "model.norm.weight"));
    /* F.layer_norm(x.float(), [64], None, None, eps=1e-5) */
    mt_node *ln = first_node(g, MT_OP_LAYER_NORM, "model.layers.0.input_layernorm");
    cr_assert_not_null(ln);
    cr_assert_eq(ln->args[2].kind, MT_ARG_NONE);
    cr_assert_eq(ln->outs[0].dtype, MT_FLOAT32);
    cr_assert_float_eq(kwarg(ln, "eps")->v.f, 1e-5, 0);
    /* q, k, v clamped in place per layer */
    cr_assert_eq(count_nodes(g, MT_OP_CLAMP_), 3 * 2);
    mt_node *cl = first_node(g, MT_OP_CLAMP_, NULL);
    cr_assert_float_eq(kwarg(cl, "min")->v.f, -8.0, 0);
    cr_assert_float_eq(kwarg(cl, "max")->v.f, 8.0, 0);
    mt_ctx_free(ctx);
}

/* The clamp_ rule, in test_ops.c's style: inference only, no recording. */
Test(families, clamp_rule) {
    mt_ctx *ctx = mt_ctx_new();
    const mt_sym *sh[2] = {mt_sym_var(ctx, "batch"), mt_sym_const(ctx, 8)};
    mt_tensor *x = mt_tensor_meta(ctx, MT_BFLOAT16, 2, sh);
    mt_tensor outs[MT_MAX_OUTS];
    int n;
    bool tup;
    mt_arg a[1] = {mt_a_tensor(x)};
    mt_kwarg kw[2] = {{"min", mt_a_float(-1.5)}, {"max", mt_a_float(1.5)}};
    cr_assert_eq(mt_op_infer(ctx, MT_OP_CLAMP_, a, 1, kw, 2, outs, &n, &tup), MT_OK, "%s", mt_ctx_errmsg(ctx));
    cr_assert_eq(n, 1);
    cr_assert_eq(outs[0].dtype, MT_BFLOAT16);
    cr_assert_eq(outs[0].shape[0], sh[0]);
    cr_assert_eq(outs[0].shape[1], sh[1]);
    /* max only, positional */
    mt_arg a2[3] = {mt_a_tensor(x), mt_a_none(), mt_a_int(3)};
    cr_assert_eq(mt_op_infer(ctx, MT_OP_CLAMP_, a2, 3, NULL, 0, outs, &n, &tup), MT_OK, "%s", mt_ctx_errmsg(ctx));
    /* neither bound */
    cr_assert_neq(mt_op_infer(ctx, MT_OP_CLAMP_, a, 1, NULL, 0, outs, &n, &tup), MT_OK);
    cr_assert(strstr(mt_ctx_errmsg(ctx), "At least one of 'min' or 'max'"), "%s", mt_ctx_errmsg(ctx));
    mt_error_clear(ctx);
    /* a tensor bound that would grow the in-place result */
    const mt_sym *big[3] = {mt_sym_const(ctx, 2), sh[0], sh[1]};
    mt_tensor *b = mt_tensor_meta(ctx, MT_BFLOAT16, 3, big);
    mt_kwarg kb[1] = {{"min", mt_a_tensor(b)}};
    cr_assert_neq(mt_op_infer(ctx, MT_OP_CLAMP_, a, 1, kb, 1, outs, &n, &tup), MT_OK);
    cr_assert_eq(mt_op_def(MT_OP_CLAMP_)->kind, MT_NODE_CALL_METHOD);
    cr_assert_str_eq(mt_op_def(MT_OP_CLAMP_)->target, "clamp_");
    mt_ctx_free(ctx);
}
