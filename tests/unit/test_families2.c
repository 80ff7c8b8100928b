/* Cohere and Gemma3 text: real configs checked against published or
 * hand-derived counts, the graph details particular to each family, the
 * rules of the ops they added (repeat_interleave, stack, flatten), and config
 * errors naming field and family. Expected values come from the transformers
 * sources (models/cohere/modeling_cohere.py, models/gemma3/modeling_gemma3.py),
 * the Hugging Face Hub's safetensors totals, and hand arithmetic. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "models/blocks.h"
#include "testutil.h"
#include "tiny_configs.h"

static const char *build_error(mt_ctx *ctx, const char *json) {
    mt_config *cfg = mt_config_parse(ctx, json, strlen(json), "bad.json");
    cr_assert_not_null(cfg, "config: %s", mt_ctx_errmsg(ctx));
    mt_build_opts o = {.dtype = MT_DTYPE_NONE, .num_layers = 0};
    cr_assert_null(mt_model_build(ctx, cfg, &o), "expected the build to fail");
    return mt_ctx_errmsg(ctx);
}

static const char *tiny_json(const char *model_type) {
    const tiny_config *t = tiny_for(model_type);
    if (t) return t->json;
    cr_assert_fail("no tiny config for %s", model_type);
    return NULL;
}


static const char *innermost(const mt_node *n) {
    return (n && n->stack && n->stack->depth) ? n->stack->mods[n->stack->depth - 1]->path : "";
}

static void check_param(mt_model *m, const char *name, mt_dtype dt, int ndim, const int64_t *dims) {
    mt_param *p = mt_model_param(m, name);
    cr_assert_not_null(p, "no parameter or buffer %s", name);
    cr_assert_eq(p->t->dtype, dt, "%s dtype", name);
    cr_assert_eq(p->t->ndim, ndim, "%s rank %d", name, p->t->ndim);
    for (int i = 0; i < ndim; i++)
        cr_assert_eq(p->t->shape[i], mt_sym_const(m->ctx, dims[i]), "%s dim %d", name, i);
}

/* ---- gemma3_text ------------------------------------------------------------ */

/* google/gemma-3-1b-it config.json (transformers 4.50 export). */
static const char *GEMMA3_1B =
    "{\"architectures\": [\"Gemma3ForCausalLM\"], \"attention_bias\": false, \"attention_dropout\": 0.0, "
    "\"attn_logit_softcapping\": null, \"bos_token_id\": 2, \"cache_implementation\": \"hybrid\", "
    "\"eos_token_id\": [1, 106], \"final_logit_softcapping\": null, \"head_dim\": 256, "
    "\"hidden_activation\": \"gelu_pytorch_tanh\", \"hidden_size\": 1152, \"initializer_range\": 0.02, "
    "\"intermediate_size\": 6912, \"max_position_embeddings\": 32768, \"model_type\": \"gemma3_text\", "
    "\"num_attention_heads\": 4, \"num_hidden_layers\": 26, \"num_key_value_heads\": 1, \"pad_token_id\": 0, "
    "\"query_pre_attn_scalar\": 256, \"rms_norm_eps\": 1e-06, \"rope_local_base_freq\": 10000, "
    "\"rope_scaling\": null, \"rope_theta\": 1000000, \"sliding_window\": 512, \"sliding_window_pattern\": 6, "
    "\"torch_dtype\": \"bfloat16\", \"transformers_version\": \"4.50.0.dev0\", \"use_cache\": true, "
    "\"vocab_size\": 262144}";

/* The SDPA of layer i and whether its mask is the sliding one. */
static mt_node *layer_sdpa(mt_graph *g, int i) {
    char path[64];
    snprintf(path, sizeof path, "model.layers.%d.self_attn", i);
    return tu_first_op(g, MT_OP_SDPA, path);
}

static mt_node *mask_source(const mt_node *sdpa) {
    const mt_arg *am = tu_kwarg(sdpa, "attn_mask");
    cr_assert_not_null(am);
    mt_node *gi = am->v.t->node; /* mask[:, :, :, :kv_len] */
    cr_assert(tu_is_op(gi, MT_OP_GETITEM));
    return gi->args[0].v.t->node;
}

/* The module whose rotary cos feeds layer i's attention (first unsqueeze under it). */
static const char *rotary_source(mt_graph *g, int i) {
    char path[64];
    snprintf(path, sizeof path, "model.layers.%d.self_attn", i);
    mt_node *u = tu_first_op(g, MT_OP_UNSQUEEZE, path);
    cr_assert_not_null(u);
    return innermost(u->args[0].v.t->node);
}

Test(gemma3, gemma_3_1b_matches_published_count) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build_text(ctx, GEMMA3_1B, 0);
    cr_assert_str_eq(m->class_name, "Gemma3ForCausalLM");
    /* Hub safetensors total for google/gemma-3-1b-it: 999,885,952. By hand: layer = q 1152*1024
     * + k, v 1152*256 each + o 1024*1152 + q/k norms 2*256 + MLP 3*1152*6912 + 4 norms 4*1152
     * = 26,842,112; 26 layers + embedding 262144*1152 + final norm 1152 (head tied). */
    mt_totals t;
    cr_assert_eq(mt_model_totals(m, &t), MT_OK);
    cr_assert_eq(t.params, 999885952LL, "%lld", (long long)t.params);
    cr_assert_eq(t.param_bytes, 2 * 999885952LL);
    cr_assert_eq(t.params_by_dtype[MT_BFLOAT16], 999885952LL);
    cr_assert_not_null(mt_model_param(m, "lm_head.weight")->tied_to);
    /* Gemma3DecoderLayer registration order: self_attn (q, k, v, o, q_norm, k_norm), mlp, 4 norms */
    const char *order[] = {"self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight",
                           "self_attn.o_proj.weight", "self_attn.q_norm.weight", "self_attn.k_norm.weight",
                           "mlp.gate_proj.weight", "mlp.up_proj.weight", "mlp.down_proj.weight",
                           "input_layernorm.weight", "post_attention_layernorm.weight",
                           "pre_feedforward_layernorm.weight", "post_feedforward_layernorm.weight"};
    cr_assert_str_eq(((mt_param *)m->params.items[0])->name, "model.embed_tokens.weight");
    for (int i = 0; i < 13; i++) {
        char want[128];
        snprintf(want, sizeof want, "model.layers.0.%s", order[i]);
        cr_assert_str_eq(((mt_param *)m->params.items[1 + i])->name, want);
    }
    check_param(m, "model.layers.3.self_attn.q_norm.weight", MT_BFLOAT16, 1, (int64_t[]){256});
    check_param(m, "model.layers.3.self_attn.k_proj.weight", MT_BFLOAT16, 2, (int64_t[]){256, 1152});
    /* Gemma3TextScaledWordEmbedding: register_buffer("embed_scale", torch.tensor(...), persistent=False) */
    mt_module *emb = mt_module_find(m->root, "model.embed_tokens");
    cr_assert_str_eq(emb->type, "Gemma3TextScaledWordEmbedding");
    cr_assert_eq(emb->leaf, MT_LEAF_NONE);
    mt_param *es = mt_model_param(m, "model.embed_tokens.embed_scale");
    cr_assert_not_null(es);
    cr_assert(es->is_buffer && !es->persistent);
    cr_assert_eq(es->t->ndim, 0);
    /* two rotary embeddings, inv_freq of head_dim/2 each */
    check_param(m, "model.rotary_emb.inv_freq", MT_FLOAT32, 1, (int64_t[]){128});
    check_param(m, "model.rotary_emb_local.inv_freq", MT_FLOAT32, 1, (int64_t[]){128});
    cr_assert_eq(t.buffers, 1 + 128 + 128);

    mt_graph *g = tu_trace(m);
    mt_node *out = g->nodes[g->n - 1];
    cr_assert_eq(out->args[0].v.t->shape[2], mt_sym_const(ctx, 262144));
    /* no soft-capping configured: SDPA with scale 256^-0.5, no tanh; the head is the last node */
    cr_assert_eq(tu_count_ops(g, MT_OP_SDPA, NULL), 26);
    cr_assert_eq(tu_count_ops(g, MT_OP_TANH, NULL), 0);
    cr_assert_float_eq(tu_kwarg(layer_sdpa(g, 0), "scale")->v.f, 0.0625, 0);
    cr_assert_eq(g->nodes[g->n - 2]->op, MT_NODE_CALL_MODULE);
    cr_assert_str_eq(g->nodes[g->n - 2]->target, "lm_head");
    /* (i + 1) % 6 == 0 is global: layers 5, 11, 17, 23 use the causal mask and rotary_emb,
     * the other 22 the sliding mask and rotary_emb_local */
    mt_node *causal = mask_source(layer_sdpa(g, 5));
    mt_node *sliding = mask_source(layer_sdpa(g, 0));
    cr_assert_neq(causal, sliding);
    cr_assert(tu_is_op(sliding, MT_OP_MASKED_FILL));
    cr_assert_eq(sliding->args[0].v.t->node, causal, "the sliding mask refines the causal one");
    int nslide = 0;
    for (int i = 0; i < 26; i++) {
        bool global = (i + 1) % 6 == 0;
        mt_node *src = mask_source(layer_sdpa(g, i));
        cr_assert_eq(src, global ? causal : sliding, "layer %d mask", i);
        cr_assert_str_eq(rotary_source(g, i), global ? "model.rotary_emb" : "model.rotary_emb_local", "layer %d", i);
        nslide += !global;
    }
    cr_assert_eq(nslide, 22);
    mt_node *ge = tu_first_op(g, MT_OP_GE, NULL);
    cr_assert_eq(ge->args[1].v.i, 512);
    /* embedding traced through: F.embedding(ids, weight, 0, None, 2.0, False, False) * embed_scale.to(bf16) */
    mt_node *e = tu_first_op(g, MT_OP_EMBEDDING, "model.embed_tokens");
    cr_assert_not_null(e);
    cr_assert_eq(e->args[2].kind, MT_ARG_INT);
    cr_assert_eq(e->args[2].v.i, 0);
    mt_node *mul = tu_first_op(g, MT_OP_MUL, "model.embed_tokens");
    cr_assert_not_null(mul);
    cr_assert_eq(mul->args[0].v.t->node, e);
    mt_node *to = mul->args[1].v.t->node;
    cr_assert(tu_is_op(to, MT_OP_TO));
    cr_assert_eq(to->args[0].v.t->node->op, MT_NODE_GET_ATTR);
    cr_assert_str_eq(to->args[0].v.t->node->target, "model.embed_tokens.embed_scale");
    cr_assert_eq(mul->outs[0].dtype, MT_BFLOAT16);
    /* q_norm after the transpose: the variance is [batch, heads 4, seq, 1] */
    mt_node *rs = tu_first_op(g, MT_OP_RSQRT, "model.layers.0.self_attn.q_norm");
    cr_assert_not_null(rs);
    cr_assert_eq(rs->outs[0].shape[1], mt_sym_const(ctx, 4));
    cr_assert_eq(rs->outs[0].shape[2], mt_sym_var(ctx, "seq"));
    mt_ctx_free(ctx);
}

Test(gemma3, layer_types_and_softcaps_from_config) {
    mt_ctx *ctx = mt_ctx_new();
    /* layer_types wins over the pattern; caps only when configured (eager attention then) */
    mt_model *m = tu_build_text(ctx, "{\"model_type\": \"gemma3_text\", \"head_dim\": 16, \"sliding_window\": 8, "
                                  "\"layer_types\": [\"full_attention\", \"sliding_attention\"], "
                                  "\"sliding_window_pattern\": 2, \"final_logit_softcapping\": 30.0, "
                                  "\"attn_logit_softcapping\": 50.0, \"rope_scaling\": {\"rope_type\": \"linear\", "
                                  "\"factor\": 8.0}, " TINY_DIMS "}", 0);
    mt_graph *g = tu_trace(m);
    cr_assert_eq(tu_count_ops(g, MT_OP_SDPA, NULL), 0);
    cr_assert_eq(tu_count_ops(g, MT_OP_TANH, NULL), 2 + 1);
    cr_assert_str_eq(rotary_source(g, 0), "model.rotary_emb");
    cr_assert_str_eq(rotary_source(g, 1), "model.rotary_emb_local");
    mt_node *last = g->nodes[g->n - 2];
    cr_assert(tu_is_op(last, MT_OP_MUL));
    cr_assert_float_eq(last->args[1].v.f, 30.0, 0);
    /* the global rotary carries the rope scaling, the local one is default */
    cr_assert_str_eq(mt_module_get_attr(mt_module_find(m->root, "model.rotary_emb"), "rope_type")->v.s, "linear");
    cr_assert_str_eq(mt_module_get_attr(mt_module_find(m->root, "model.rotary_emb_local"), "rope_type")->v.s,
                     "default");
    mt_ctx_free(ctx);
    /* the tiny config: pattern 2 -> layer 0 slides, layer 1 is global */
    ctx = mt_ctx_new();
    g = tu_trace(tu_build_text(ctx, tiny_json("gemma3_text"), 0));
    cr_assert_str_eq(rotary_source(g, 0), "model.rotary_emb_local");
    cr_assert_str_eq(rotary_source(g, 1), "model.rotary_emb");
    cr_assert_float_eq(tu_kwarg(layer_sdpa(g, 1), "scale")->v.f, 0.25, 0); /* query_pre_attn_scalar 16 */
    mt_ctx_free(ctx);
}

Test(gemma3, config_errors_name_field_and_family) {
    mt_ctx *ctx = mt_ctx_new();
    const char *e = build_error(ctx, "{\"model_type\": \"gemma3_text\", \"layer_types\": [\"full_attention\"], "
                                     "\"head_dim\": 16, " TINY_DIMS "}");
    cr_assert(strstr(e, "layer_types") && strstr(e, "gemma3_text"), "%s", e);
    mt_ctx_free(ctx);
    ctx = mt_ctx_new();
    e = build_error(ctx, "{\"model_type\": \"gemma3_text\", \"layer_types\": [\"full_attention\", \"local\"], "
                         "\"head_dim\": 16, " TINY_DIMS "}");
    cr_assert(strstr(e, "layer_types[1]") && strstr(e, "gemma3_text"), "%s", e);
    mt_ctx_free(ctx);
    ctx = mt_ctx_new();
    e = build_error(ctx, "{\"model_type\": \"gemma3_text\", \"sliding_window_pattern\": 0, " TINY_DIMS "}");
    cr_assert(strstr(e, "sliding_window_pattern") && strstr(e, "gemma3_text"), "%s", e);
    mt_ctx_free(ctx);
    ctx = mt_ctx_new();
    e = build_error(ctx, "{\"model_type\": \"gemma3_text\", \"use_bidirectional_attention\": true, " TINY_DIMS "}");
    cr_assert(strstr(e, "use_bidirectional_attention") && strstr(e, "gemma3_text"), "%s", e);
    mt_ctx_free(ctx);
}

/* ---- cohere ------------------------------------------------------------------ */

/* CohereForAI/c4ai-command-r-v01 config.json. */
static const char *COMMAND_R =
    "{\"architectures\": [\"CohereForCausalLM\"], \"attention_bias\": false, \"attention_dropout\": 0.0, "
    "\"bos_token_id\": 5, \"eos_token_id\": 255001, \"hidden_act\": \"silu\", \"hidden_size\": 8192, "
    "\"initializer_range\": 0.02, \"intermediate_size\": 22528, \"layer_norm_eps\": 1e-05, "
    "\"logit_scale\": 0.0625, \"max_position_embeddings\": 8192, \"model_type\": \"cohere\", "
    "\"num_attention_heads\": 64, \"num_hidden_layers\": 40, \"num_key_value_heads\": 64, \"pad_token_id\": 0, "
    "\"rope_theta\": 8000000.0, \"torch_dtype\": \"float16\", \"use_cache\": true, \"use_qk_norm\": false, "
    "\"vocab_size\": 256000}";

Test(cohere, command_r_matches_hand_count) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build_text(ctx, COMMAND_R, 0);
    /* Card: 35 billion. By hand from modeling_cohere.py: layer = 4*8192^2 + 3*8192*22528 + 8192
     * (one weight-only CohereLayerNorm) = 822,091,776; 40 layers + embedding 256000*8192
     * + final norm 8192 = 34,980,831,232 (lm_head tied). */
    mt_totals t;
    cr_assert_eq(mt_model_totals(m, &t), MT_OK);
    cr_assert_eq(t.params, 34980831232LL, "%lld", (long long)t.params);
    cr_assert_eq(t.param_bytes, 2 * 34980831232LL);
    cr_assert_eq(t.params_by_dtype[MT_FLOAT16], 34980831232LL);
    cr_assert_not_null(mt_model_param(m, "lm_head.weight")->tied_to);
    const char *order[] = {"self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight",
                           "self_attn.o_proj.weight", "mlp.gate_proj.weight", "mlp.up_proj.weight",
                           "mlp.down_proj.weight", "input_layernorm.weight", NULL};
    for (int i = 0; order[i]; i++) {
        char want[128];
        snprintf(want, sizeof want, "model.layers.0.%s", order[i]);
        cr_assert_str_eq(((mt_param *)m->params.items[1 + i])->name, want);
    }
    cr_assert_str_eq(((mt_param *)m->params.items[9])->name, "model.layers.1.self_attn.q_proj.weight");
    cr_assert_null(mt_model_param(m, "model.layers.0.input_layernorm.bias"));
    cr_assert_null(mt_model_param(m, "model.layers.0.post_attention_layernorm.weight"));
    cr_assert_null(mt_model_param(m, "model.layers.0.self_attn.q_norm.weight"));
    check_param(m, "model.norm.weight", MT_FLOAT16, 1, (int64_t[]){8192});
    check_param(m, "model.rotary_emb.inv_freq", MT_FLOAT32, 1, (int64_t[]){64});

    mt_graph *g = tu_trace(m);
    mt_ctx *c = ctx;
    const mt_sym *b = mt_sym_var(c, "batch"), *seq = mt_sym_var(c, "seq");
    cr_assert_eq(g->nodes[g->n - 1]->args[0].v.t->shape[2], mt_sym_const(c, 256000));
    cr_assert_eq(tu_count_ops(g, MT_OP_SDPA, NULL), 40);
    /* logits * logit_scale is the last op */
    mt_node *last = g->nodes[g->n - 2];
    cr_assert(tu_is_op(last, MT_OP_MUL));
    cr_assert_float_eq(last->args[1].v.f, 0.0625, 0);
    cr_assert_eq(last->args[0].v.t->node->op, MT_NODE_CALL_MODULE);
    /* rotary: torch.repeat_interleave(freqs, 2, dim=-1) -> [1, seq, 128], no cat */
    mt_node *ri = tu_first_op(g, MT_OP_REPEAT_INTERLEAVE, "model.rotary_emb");
    cr_assert_not_null(ri);
    cr_assert_eq(ri->args[1].v.i, 2);
    cr_assert_eq(tu_kwarg(ri, "dim")->v.i, -1);
    cr_assert_eq(ri->outs[0].ndim, 3);
    cr_assert_eq(ri->outs[0].shape[1], seq);
    cr_assert_eq(ri->outs[0].shape[2], mt_sym_const(c, 128));
    cr_assert_eq(tu_count_ops(g, MT_OP_CAT, "model.rotary_emb"), 0);
    /* rotate_half on strided halves, stacked and flattened: q and k in every layer */
    cr_assert_eq(tu_count_ops(g, MT_OP_STACK, NULL), 80);
    cr_assert_eq(tu_count_ops(g, MT_OP_FLATTEN, NULL), 80);
    mt_node *st = tu_first_op(g, MT_OP_STACK, "model.layers.0.self_attn");
    const mt_sym *want5[5] = {b, mt_sym_const(c, 64), seq, mt_sym_const(c, 64), mt_sym_const(c, 2)};
    cr_assert_eq(st->outs[0].ndim, 5);
    for (int i = 0; i < 5; i++) cr_assert_eq(st->outs[0].shape[i], want5[i], "stack dim %d", i);
    cr_assert_eq(st->outs[0].dtype, MT_FLOAT32, "rotated in float32");
    mt_node *x1 = st->args[0].v.list.items[1].v.t->node; /* x[..., ::2] */
    cr_assert(tu_is_op(x1, MT_OP_GETITEM));
    cr_assert_eq(x1->args[1].v.list.items[1].kind, MT_ARG_SLICE);
    cr_assert_eq(x1->args[1].v.list.items[1].v.slice.step, mt_sym_const(c, 2));
    cr_assert_null(x1->args[1].v.list.items[1].v.slice.start);
    mt_node *fl = tu_first_op(g, MT_OP_FLATTEN, "model.layers.0.self_attn");
    cr_assert_eq(fl->args[1].v.i, -2);
    cr_assert_eq(fl->outs[0].ndim, 4);
    cr_assert_eq(fl->outs[0].shape[3], mt_sym_const(c, 128));
    /* q and k go to float32 before the rotary and back to float16 after; SDPA sees float16 */
    cr_assert_eq(layer_sdpa(g, 0)->args[0].v.t->dtype, MT_FLOAT16);
    cr_assert_eq(layer_sdpa(g, 0)->args[0].v.t->node->opid, MT_OP_TO);
    /* CohereLayerNorm traced (float32 mean/variance), no LayerNorm leaf */
    cr_assert_eq(tu_count_ops(g, MT_OP_MEAN, "model.layers.0.input_layernorm"), 2);
    for (int i = 0; i < g->n; i++)
        cr_assert(!(g->nodes[i]->op == MT_NODE_CALL_MODULE && g->nodes[i]->module->leaf == MT_LEAF_LAYERNORM));
    /* parallel block: h = (residual + attn) + mlp, both branches fed by the same norm */
    mt_node *mlp_gate = NULL, *q_proj = NULL;
    for (int i = 0; i < g->n; i++) {
        if (g->nodes[i]->op != MT_NODE_CALL_MODULE) continue;
        if (strcmp(g->nodes[i]->target, "model.layers.0.mlp.gate_proj") == 0) mlp_gate = g->nodes[i];
        if (strcmp(g->nodes[i]->target, "model.layers.0.self_attn.q_proj") == 0) q_proj = g->nodes[i];
    }
    cr_assert_not_null(mlp_gate);
    cr_assert_not_null(q_proj);
    cr_assert_eq(mlp_gate->args[0].v.t, q_proj->args[0].v.t, "mlp and attention read the same normed input");
    mt_ctx_free(ctx);
}

Test(cohere, qk_norm_weights_per_head) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build_text(ctx, tiny_json("cohere"), 0);
    /* CohereLayerNorm(hidden_size=(num_heads, head_dim)): weight [4, 16] and [2, 16] */
    check_param(m, "model.layers.0.self_attn.q_norm.weight", MT_FLOAT32, 2, (int64_t[]){4, 16});
    check_param(m, "model.layers.1.self_attn.k_norm.weight", MT_FLOAT32, 2, (int64_t[]){2, 16});
    mt_module *qn = mt_module_find(m->root, "model.layers.0.self_attn.q_norm");
    cr_assert_str_eq(qn->type, "CohereLayerNorm");
    mt_graph *g = tu_trace(m);
    /* applied after the view, before the transpose: mean over head_dim of [batch, seq, 4, 16] */
    mt_node *mean = tu_first_op(g, MT_OP_MEAN, "model.layers.0.self_attn.q_norm");
    cr_assert_not_null(mean);
    mt_node *in = mean->args[0].v.t->node; /* x.to(float32) */
    cr_assert_eq(in->outs[0].ndim, 4);
    cr_assert_eq(in->outs[0].shape[1], mt_sym_var(ctx, "seq"));
    cr_assert_eq(in->outs[0].shape[2], mt_sym_const(ctx, 4));
    /* the weight [4, 16] broadcasts against it */
    mt_node *w = tu_first_op(g, MT_OP_MUL, "model.layers.0.self_attn.k_norm");
    cr_assert_not_null(w);
    mt_ctx_free(ctx);
}

Test(cohere, config_errors_name_field_and_family) {
    mt_ctx *ctx = mt_ctx_new();
    const char *e = build_error(ctx, "{\"model_type\": \"cohere\", \"logit_scale\": null, " TINY_DIMS "}");
    cr_assert(strstr(e, "logit_scale") && strstr(e, "cohere"), "%s", e);
    mt_ctx_free(ctx);
    ctx = mt_ctx_new();
    e = build_error(ctx, "{\"model_type\": \"cohere\", \"hidden_act\": \"swiglu\", " TINY_DIMS "}");
    cr_assert(strstr(e, "hidden_act"), "%s", e);
    mt_ctx_free(ctx);
}

/* ---- op rules: repeat_interleave, stack, flatten (inference only) ---------------- */

static int infer(mt_ctx *ctx, mt_op_id id, const mt_arg *a, int na, const mt_kwarg *kw, int nk, mt_tensor *outs) {
    int n = 0;
    bool tup;
    mt_status st = mt_op_infer(ctx, id, a, na, kw, nk, outs, &n, &tup);
    if (st != MT_OK) return -1;
    return n;
}

static void expect_shape(mt_ctx *ctx, const mt_tensor *t, int ndim, const mt_sym *const *dims) {
    cr_assert_eq(t->ndim, ndim, "rank %d, expected %d", t->ndim, ndim);
    for (int i = 0; i < ndim; i++)
        cr_assert_eq(t->shape[i], dims[i], "dim %d: %s", i, mt_shape_str(ctx, t->ndim, t->shape));
}

Test(ops2, repeat_interleave_rule) {
    mt_ctx *ctx = mt_ctx_new();
    const mt_sym *seq = mt_sym_var(ctx, "seq"), *one = mt_sym_const(ctx, 1);
    mt_tensor outs[MT_MAX_OUTS];
    mt_tensor *f = mt_tensor_meta(ctx, MT_FLOAT32, 3, (const mt_sym *[]){one, seq, mt_sym_const(ctx, 64)});
    /* dim=-1: the last dim doubles */
    cr_assert_eq(infer(ctx, MT_OP_REPEAT_INTERLEAVE, (mt_arg[]){mt_a_tensor(f), mt_a_int(2)}, 2,
                       (mt_kwarg[]){{"dim", mt_a_int(-1)}}, 1, outs), 1, "%s", mt_ctx_errmsg(ctx));
    expect_shape(ctx, &outs[0], 3, (const mt_sym *[]){one, seq, mt_sym_const(ctx, 128)});
    cr_assert_eq(outs[0].dtype, MT_FLOAT32);
    /* no dim: flattened, numel * repeats = 3 * seq * 64 */
    cr_assert_eq(infer(ctx, MT_OP_REPEAT_INTERLEAVE, (mt_arg[]){mt_a_tensor(f), mt_a_int(3)}, 2, NULL, 0, outs), 1);
    expect_shape(ctx, &outs[0], 1, (const mt_sym *[]){mt_sym_mul_const(ctx, seq, 192)});
    /* dim given positionally, symbolic repeats */
    cr_assert_eq(infer(ctx, MT_OP_REPEAT_INTERLEAVE, (mt_arg[]){mt_a_tensor(f), mt_a_dim(seq), mt_a_int(0)}, 3,
                       NULL, 0, outs), 1);
    expect_shape(ctx, &outs[0], 3, (const mt_sym *[]){seq, seq, mt_sym_const(ctx, 64)});
    /* output_size must agree; negative repeats, bad dim and tensor repeats are refused */
    cr_assert_eq(infer(ctx, MT_OP_REPEAT_INTERLEAVE, (mt_arg[]){mt_a_tensor(f), mt_a_int(2), mt_a_int(2)}, 3,
                       (mt_kwarg[]){{"output_size", mt_a_int(128)}}, 1, outs), 1);
    cr_assert_eq(infer(ctx, MT_OP_REPEAT_INTERLEAVE, (mt_arg[]){mt_a_tensor(f), mt_a_int(2), mt_a_int(2)}, 3,
                       (mt_kwarg[]){{"output_size", mt_a_int(127)}}, 1, outs), -1);
    cr_assert(strstr(mt_ctx_errmsg(ctx), "output_size 127, required 128"), "%s", mt_ctx_errmsg(ctx));
    mt_error_clear(ctx);
    cr_assert_eq(infer(ctx, MT_OP_REPEAT_INTERLEAVE, (mt_arg[]){mt_a_tensor(f), mt_a_int(-1)}, 2, NULL, 0, outs), -1);
    cr_assert(strstr(mt_ctx_errmsg(ctx), "repeats can not be negative"), "%s", mt_ctx_errmsg(ctx));
    mt_error_clear(ctx);
    cr_assert_eq(infer(ctx, MT_OP_REPEAT_INTERLEAVE, (mt_arg[]){mt_a_tensor(f), mt_a_int(2), mt_a_int(3)}, 3,
                       NULL, 0, outs), -1);
    cr_assert(strstr(mt_ctx_errmsg(ctx), "Dimension out of range"), "%s", mt_ctx_errmsg(ctx));
    mt_error_clear(ctx);
    mt_tensor *r = mt_tensor_meta_i(ctx, MT_INT64, 1, (int64_t[]){64});
    cr_assert_eq(infer(ctx, MT_OP_REPEAT_INTERLEAVE, (mt_arg[]){mt_a_tensor(f), mt_a_tensor(r)}, 2, NULL, 0, outs), -1);
    cr_assert_eq(mt_ctx_status(ctx), MT_ERR_UNSUPPORTED);
    mt_ctx_free(ctx);
}

Test(ops2, stack_rule) {
    mt_ctx *ctx = mt_ctx_new();
    const mt_sym *b = mt_sym_var(ctx, "batch"), *seq = mt_sym_var(ctx, "seq");
    const mt_sym *s32 = mt_sym_const(ctx, 32), *two = mt_sym_const(ctx, 2);
    mt_tensor outs[MT_MAX_OUTS];
    mt_tensor *x = mt_tensor_meta(ctx, MT_FLOAT32, 3, (const mt_sym *[]){b, seq, s32});
    mt_tensor *y = mt_tensor_meta(ctx, MT_FLOAT16, 3, (const mt_sym *[]){b, seq, s32});
    mt_arg items[2] = {mt_a_tensor(x), mt_a_tensor(y)};
    mt_arg a[1] = {mt_a_list(ctx, items, 2)};
    /* dim=-1 appends the new dim; float32 with float16 promotes to float32 like cat */
    cr_assert_eq(infer(ctx, MT_OP_STACK, a, 1, (mt_kwarg[]){{"dim", mt_a_int(-1)}}, 1, outs), 1, "%s",
                 mt_ctx_errmsg(ctx));
    expect_shape(ctx, &outs[0], 4, (const mt_sym *[]){b, seq, s32, two});
    cr_assert_eq(outs[0].dtype, MT_FLOAT32);
    /* default dim 0 prepends it; dim 3 (= ndim) is allowed, 4 is not */
    cr_assert_eq(infer(ctx, MT_OP_STACK, a, 1, NULL, 0, outs), 1);
    expect_shape(ctx, &outs[0], 4, (const mt_sym *[]){two, b, seq, s32});
    cr_assert_eq(infer(ctx, MT_OP_STACK, (mt_arg[]){a[0], mt_a_int(3)}, 2, NULL, 0, outs), 1);
    cr_assert_eq(infer(ctx, MT_OP_STACK, (mt_arg[]){a[0], mt_a_int(4)}, 2, NULL, 0, outs), -1);
    mt_error_clear(ctx);
    /* shapes must be equal (no broadcasting), the list non-empty */
    mt_tensor *z = mt_tensor_meta(ctx, MT_FLOAT32, 3, (const mt_sym *[]){b, seq, mt_sym_const(ctx, 1)});
    mt_arg bad[2] = {mt_a_tensor(x), mt_a_tensor(z)};
    cr_assert_eq(infer(ctx, MT_OP_STACK, (mt_arg[]){mt_a_list(ctx, bad, 2)}, 1, NULL, 0, outs), -1);
    cr_assert(strstr(mt_ctx_errmsg(ctx), "stack expects each tensor to be equal size"), "%s", mt_ctx_errmsg(ctx));
    mt_error_clear(ctx);
    cr_assert_eq(infer(ctx, MT_OP_STACK, (mt_arg[]){mt_a_list(ctx, NULL, 0)}, 1, NULL, 0, outs), -1);
    mt_error_clear(ctx);
    /* 0-dim tensors stack into a vector */
    mt_tensor *s0 = mt_tensor_meta(ctx, MT_INT64, 0, NULL);
    mt_arg sc[3] = {mt_a_tensor(s0), mt_a_tensor(s0), mt_a_tensor(s0)};
    cr_assert_eq(infer(ctx, MT_OP_STACK, (mt_arg[]){mt_a_list(ctx, sc, 3)}, 1, NULL, 0, outs), 1);
    expect_shape(ctx, &outs[0], 1, (const mt_sym *[]){mt_sym_const(ctx, 3)});
    mt_ctx_free(ctx);
}

Test(ops2, flatten_rule) {
    mt_ctx *ctx = mt_ctx_new();
    const mt_sym *b = mt_sym_var(ctx, "batch"), *seq = mt_sym_var(ctx, "seq");
    mt_tensor outs[MT_MAX_OUTS];
    mt_tensor *x = mt_tensor_meta(ctx, MT_BFLOAT16, 5,
                                  (const mt_sym *[]){b, mt_sym_const(ctx, 8), seq, mt_sym_const(ctx, 32), mt_sym_const(ctx, 2)});
    /* flatten(-2): the last two dims merge (32 * 2) */
    cr_assert_eq(infer(ctx, MT_OP_FLATTEN, (mt_arg[]){mt_a_tensor(x), mt_a_int(-2)}, 2, NULL, 0, outs), 1);
    expect_shape(ctx, &outs[0], 4, (const mt_sym *[]){b, mt_sym_const(ctx, 8), seq, mt_sym_const(ctx, 64)});
    cr_assert_eq(outs[0].dtype, MT_BFLOAT16);
    /* default: everything, batch * seq * 512 */
    cr_assert_eq(infer(ctx, MT_OP_FLATTEN, (mt_arg[]){mt_a_tensor(x)}, 1, NULL, 0, outs), 1);
    expect_shape(ctx, &outs[0], 1, (const mt_sym *[]){mt_sym_mul_const(ctx, mt_sym_mul(ctx, b, seq), 512)});
    /* start_dim=1, end_dim=2 by keyword: 8 * seq */
    cr_assert_eq(infer(ctx, MT_OP_FLATTEN, (mt_arg[]){mt_a_tensor(x)}, 1,
                       (mt_kwarg[]){{"start_dim", mt_a_int(1)}, {"end_dim", mt_a_int(2)}}, 2, outs), 1);
    expect_shape(ctx, &outs[0], 4,
                 (const mt_sym *[]){b, mt_sym_mul_const(ctx, seq, 8), mt_sym_const(ctx, 32), mt_sym_const(ctx, 2)});
    /* start after end, out-of-range dims are errors; a 0-dim tensor becomes [1] */
    cr_assert_eq(infer(ctx, MT_OP_FLATTEN, (mt_arg[]){mt_a_tensor(x), mt_a_int(3), mt_a_int(1)}, 3, NULL, 0, outs), -1);
    cr_assert(strstr(mt_ctx_errmsg(ctx), "start_dim cannot come after end_dim"), "%s", mt_ctx_errmsg(ctx));
    mt_error_clear(ctx);
    cr_assert_eq(infer(ctx, MT_OP_FLATTEN, (mt_arg[]){mt_a_tensor(x), mt_a_int(5)}, 2, NULL, 0, outs), -1);
    mt_error_clear(ctx);
    mt_tensor *s0 = mt_tensor_meta(ctx, MT_FLOAT32, 0, NULL);
    cr_assert_eq(infer(ctx, MT_OP_FLATTEN, (mt_arg[]){mt_a_tensor(s0)}, 1, NULL, 0, outs), 1);
    expect_shape(ctx, &outs[0], 1, (const mt_sym *[]){mt_sym_const(ctx, 1)});
    cr_assert_eq(mt_op_def(MT_OP_FLATTEN)->kind, MT_NODE_CALL_METHOD);
    cr_assert_str_eq(mt_op_def(MT_OP_STACK)->target, "torch.stack");
    cr_assert_str_eq(mt_op_def(MT_OP_REPEAT_INTERLEAVE)->target, "torch.repeat_interleave");
    mt_ctx_free(ctx);
}

/* An unsupported model_type lists the supported ones and, when one is close,
 * the nearest match. */
Test(families2, unsupported_model_type_suggests_nearest) {
    cr_assert_str_eq(mt_arch_nearest("lama"), "llama");
    cr_assert_str_eq(mt_arch_nearest("Mixtral"), "mixtral");
    cr_assert_str_eq(mt_arch_nearest("qwen2moe"), "qwen2_moe");
    /* (mamba2 served here until bamba was registered: it is two edits from it) */
    cr_assert_null(mt_arch_nearest("rwkv6"), "no family is close to rwkv6");
    mt_ctx *ctx = mt_ctx_new();
    const char *txt = "{\"model_type\": \"mistrall\", \"hidden_size\": 64}";
    mt_config *cfg = mt_config_parse(ctx, txt, strlen(txt), "x.json");
    cr_assert_not_null(cfg);
    cr_assert_null(mt_model_build(ctx, cfg, NULL));
    const char *msg = mt_ctx_errmsg(ctx);
    cr_assert(strstr(msg, "unsupported model_type 'mistrall' (did you mean 'mistral'?); supported: llama,"), "%s", msg);
    cr_assert(strstr(msg, "gpt_oss"), "%s", msg);
    mt_ctx_free(ctx);
}
