/* granitemoe and gpt_oss: parameter names/order/shapes against transformers'
 * modeling sources (modeling_granitemoe.py, modeling_gpt_oss.py), totals and
 * active parameters derived by hand, the published gpt-oss counts (model card,
 * arXiv 2508.10925: 116.8B total / 5.1B active for 120b, 20.9B / 3.6B for 20b),
 * and the routed graph (a fresh bounded symbol per expert). */
#include <criterion/criterion.h>
#include <string.h>

#include "testutil.h"

#define SHAPE TU_SHAPE

/* named_parameters() order of one layer, from the __init__ registration order. */
static void check_order(mt_model *m, const char *prefix, const char *const *locals) {
    int start = -1;
    size_t pl = strlen(prefix);
    for (int i = 0; i < m->params.n; i++) {
        mt_param *p = m->params.items[i];
        if (strncmp(p->name, prefix, pl) == 0) { start = i; break; }
    }
    cr_assert_geq(start, 0, "no parameter under %s", prefix);
    for (int k = 0; locals[k]; k++) {
        mt_param *p = m->params.items[start + k];
        char want[256];
        snprintf(want, sizeof want, "%s%s", prefix, locals[k]);
        cr_assert_str_eq(p->name, want, "parameter %d of %s: %s", k, prefix, p->name);
    }
}

/* Every nonzero node yields a fresh symbol in [0, batch*seq*top_k] whose origin
 * names the expert; the first F.linear / matmul after it takes [that symbol, hidden]. */
static int check_routing(mt_model *m, mt_graph *g, int64_t top_k, int64_t hidden, mt_op_id first) {
    mt_ctx *ctx = m->ctx;
    const mt_sym *bound = mt_sym_mul_const(ctx, mt_sym_mul(ctx, mt_sym_var(ctx, "batch"), mt_sym_var(ctx, "seq")), top_k);
    int nnz = 0;
    for (int i = 0; i < g->n; i++) {
        mt_node *n = g->nodes[i];
        if (n->opid != MT_OP_NONZERO) continue;
        nnz++;
        const mt_sym *s = n->outs[0].shape[0];
        cr_assert(mt_sym_is_var(s), "%s: data-dependent size must be a fresh symbol, got %s", n->name, mt_sym_str(s));
        mt_symbol_info *info = mt_sym_info_of(ctx, s);
        cr_assert_not_null(info);
        cr_assert_eq(info->lo, 0);
        cr_assert_eq(info->hi, bound, "%s bound %s", info->name, info->hi ? mt_sym_str(info->hi) : "none");
        cr_assert(info->origin && strstr(info->origin, "tokens routed to expert"));
        bool found = false;
        for (int j = i + 1; j < g->n && !found; j++) {
            mt_node *k = g->nodes[j];
            if (k->opid != (int)first) continue;
            const mt_tensor *x = k->args[0].v.t;
            cr_assert_eq(x->ndim, 2, "%s", k->name);
            cr_assert_eq(x->shape[0], s, "%s rows %s, want %s", k->name, mt_sym_str(x->shape[0]), mt_sym_str(s));
            cr_assert_eq(x->shape[1], mt_sym_const(ctx, hidden));
            found = true;
        }
        cr_assert(found);
    }
    return nnz;
}

/* ---- granitemoe ---- */

static const char *granitemoe_tiny =
    "{\"model_type\": \"granitemoe\", \"vocab_size\": 100, \"hidden_size\": 16, \"intermediate_size\": 8,"
    " \"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"num_key_value_heads\": 2,"
    " \"num_local_experts\": 4, \"num_experts_per_tok\": 2, \"embedding_multiplier\": 12.0,"
    " \"residual_multiplier\": 0.22, \"attention_multiplier\": 0.015625, \"logits_scaling\": 6.0,"
    " \"tie_word_embeddings\": true, \"torch_dtype\": \"bfloat16\"}";

Test(moe2, granitemoe_tiny_counts_names_order) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build_text(ctx, granitemoe_tiny, 0);
    mt_totals t;
    cr_assert_eq(mt_model_totals(m, &t), MT_OK, "%s", mt_ctx_errmsg(ctx));
    /* By hand from modeling_granitemoe.py: attention q 16x16 + k, v 16x8 each + o 16x16
     * = 768 (attention_bias false); norms 32; input_linear 4x(2x8)x16 = 1,024;
     * output_linear 4x16x8 = 512; router.layer 4x16 = 64 -> 2,400 per layer;
     * 2 layers 4,800 + embed 100x16 = 1,600 (lm_head tied) + final norm 16 = 6,416. */
    cr_assert_eq(t.params, 6416);
    /* active: 2 of 4 experts idle in each fused weight: 2 x (1,024 + 512) / 2 = 1,536 */
    cr_assert_eq(t.active_params, 6416 - 1536);
    cr_assert_eq(t.param_bytes, 2 * 6416);
    SHAPE(m, "model.layers.1.block_sparse_moe.input_linear.weight", 4, 16, 16);
    SHAPE(m, "model.layers.1.block_sparse_moe.output_linear.weight", 4, 16, 8);
    SHAPE(m, "model.layers.1.block_sparse_moe.router.layer.weight", 4, 16);
    cr_assert_null(mt_model_param(m, "model.layers.0.self_attn.q_proj.bias"));
    /* GraniteMoeDecoderLayer.__init__: self_attn, block_sparse_moe (activation,
     * input_linear, output_linear, router), input_layernorm, post_attention_layernorm */
    static const char *const order[] = {
        "self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight", "self_attn.o_proj.weight",
        "block_sparse_moe.input_linear.weight", "block_sparse_moe.output_linear.weight",
        "block_sparse_moe.router.layer.weight", "input_layernorm.weight", "post_attention_layernorm.weight", NULL};
    check_order(m, "model.layers.0.", order);
    mt_graph *g = tu_trace(m);
    tu_check_logits(m, g, 100);
    cr_assert_eq(check_routing(m, g, 2, 16, MT_OP_LINEAR), 8);
    /* per expert: F.linear on weight[e] slices [16, 16] then [16, 8]; the router
     * topk over float32 logits; the multipliers are recorded */
    int linears = 0, topk = 0, index_add = 0, div = 0;
    for (int i = 0; i < g->n; i++) {
        mt_node *n = g->nodes[i];
        if (n->opid == MT_OP_LINEAR) {
            linears++;
            const mt_tensor *w = n->args[1].v.t;
            cr_assert_eq(w->ndim, 2);
            cr_assert_eq(n->outs[0].dtype, MT_BFLOAT16);
        }
        if (n->opid == MT_OP_TOPK) {
            topk++;
            cr_assert_eq(n->args[0].v.t->dtype, MT_FLOAT32);
        }
        index_add += n->opid == MT_OP_INDEX_ADD;
        if (n->opid == MT_OP_TRUEDIV) {
            div++;
            cr_assert_eq(n->args[1].kind, MT_ARG_FLOAT);
            cr_assert_float_eq(n->args[1].v.f, 6.0, 0);
        }
    }
    cr_assert_eq(linears, 2 * 4 * 2);
    cr_assert_eq(topk, 2);
    cr_assert_eq(index_add, 8);
    cr_assert_eq(div, 1, "logits / logits_scaling");
    mt_ctx_free(ctx);
}

Test(moe2, granitemoe_defaults) {
    mt_ctx *ctx = mt_ctx_new();
    /* GraniteMoeConfig defaults: vocab 32000, hidden 4096, intermediate 11008,
     * 32 layers, 32 heads (kv = heads), 8 experts, top-2 */
    mt_model *m = tu_build_text(ctx, "{\"model_type\": \"granitemoe\"}", 1);
    SHAPE(m, "model.layers.0.block_sparse_moe.input_linear.weight", 8, 22016, 4096);
    SHAPE(m, "model.layers.0.block_sparse_moe.output_linear.weight", 8, 4096, 11008);
    SHAPE(m, "model.layers.0.self_attn.k_proj.weight", 4096, 4096);
    SHAPE(m, "lm_head.weight", 32000, 4096);
    mt_ctx_free(ctx);
}

/* ---- gpt_oss ---- */

/* Totals by hand (modeling_gpt_oss.py shapes), hidden 2880, 64 q heads and 8 kv heads of 64:
 * attention q 2880x4096+4096, k and v 2880x512+512 each, o 4096x2880+2880, sinks 64
 *   = 26,550,144 per layer; norms 2x2880;
 * one expert: gate_up 2880x5760 + 5760, down 2880x2880 + 2880 = 24,891,840;
 * router E x 2880 + E; embed and untied lm_head 2 x 201088x2880 = 1,158,266,880; final norm 2880. */
Test(moe2, gpt_oss_120b_defaults_totals) {
    mt_ctx *ctx = mt_ctx_new();
    /* GptOssConfig's defaults are the gpt-oss-120b shape: 36 layers, 128 experts, top-4 */
    mt_model *m = tu_build_text(ctx, "{\"model_type\": \"gpt_oss\", \"torch_dtype\": \"bfloat16\"}", 0);
    mt_totals t;
    cr_assert_eq(mt_model_totals(m, &t), MT_OK, "%s", mt_ctx_errmsg(ctx));
    /* layer: 26,550,144 + 5,760 + 128 x 24,891,840 + 368,768 = 3,213,080,192; x36
     * + 1,158,269,760 = 116,829,156,672 (model card: 116.83B total) */
    cr_assert_eq(t.params, 116829156672LL);
    /* active: 36 x (26,550,144 + 5,760 + 4 x 24,891,840 + 368,768) + 1,158,269,760
     * = 5,711,982,912; the card's 5.13B "active" leaves out the input embedding
     * (201088 x 2880 = 579,133,440): 5,132,849,472 */
    cr_assert_eq(t.active_params, 5711982912LL);
    cr_assert_eq(t.active_params - 201088LL * 2880, 5132849472LL);
    SHAPE(m, "model.layers.35.mlp.experts.gate_up_proj", 128, 2880, 5760);
    SHAPE(m, "model.layers.35.mlp.experts.down_proj", 128, 2880, 2880);
    SHAPE(m, "model.layers.0.self_attn.sinks", 64);
    SHAPE(m, "model.layers.0.self_attn.q_proj.weight", 4096, 2880);
    SHAPE(m, "model.layers.0.self_attn.o_proj.bias", 2880);
    SHAPE(m, "model.rotary_emb.inv_freq", 32);
    mt_ctx_free(ctx);
}

Test(moe2, gpt_oss_20b_totals) {
    mt_ctx *ctx = mt_ctx_new();
    /* gpt-oss-20b differs from the defaults in 24 layers and 32 experts (model card) */
    mt_model *m = tu_build_text(ctx, "{\"model_type\": \"gpt_oss\", \"num_hidden_layers\": 24, \"num_local_experts\": 32,"
                                  " \"num_experts_per_tok\": 4, \"torch_dtype\": \"bfloat16\"}", 0);
    mt_totals t;
    cr_assert_eq(mt_model_totals(m, &t), MT_OK, "%s", mt_ctx_errmsg(ctx));
    /* layer: 26,550,144 + 5,760 + 32 x 24,891,840 + 92,192 = 823,186,976; x24
     * + 1,158,269,760 = 20,914,757,184 (model card: 20.91B) */
    cr_assert_eq(t.params, 20914757184LL);
    /* active: 24 x (26,550,144 + 5,760 + 4 x 24,891,840 + 92,192) + 1,158,269,760
     * = 4,187,440,704; without the input embedding 3,608,307,264 (card: 3.61B) */
    cr_assert_eq(t.active_params, 4187440704LL);
    cr_assert_eq(t.active_params - 201088LL * 2880, 3608307264LL);
    mt_ctx_free(ctx);
}

static const char *gpt_oss_tiny =
    "{\"model_type\": \"gpt_oss\", \"vocab_size\": 100, \"hidden_size\": 16, \"intermediate_size\": 8,"
    " \"num_hidden_layers\": 3, \"num_attention_heads\": 4, \"num_key_value_heads\": 2, \"head_dim\": 4,"
    " \"num_local_experts\": 4, \"num_experts_per_tok\": 2, \"sliding_window\": 8,"
    " \"layer_types\": [\"full_attention\", \"sliding_attention\", \"full_attention\"],"
    " \"torch_dtype\": \"float32\"}";

Test(moe2, gpt_oss_tiny_counts_order_graph) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build_text(ctx, gpt_oss_tiny, 0);
    mt_totals t;
    cr_assert_eq(mt_model_totals(m, &t), MT_OK, "%s", mt_ctx_errmsg(ctx));
    /* attention: q 16x16+16, k/v 16x8+8 each, o 16x16+16, sinks 4 = 820; norms 32;
     * router 4x16+4 = 68; experts gate_up 4x16x16 + 4x16, down 4x8x16 + 4x16 = 1,664
     * -> 2,584 per layer; 3 layers 7,752 + embed and lm_head 2x1,600 + norm 16 = 10,968 */
    cr_assert_eq(t.params, 10968);
    cr_assert_eq(t.active_params, 10968 - 3 * 832);
    /* GptOssDecoderLayer.__init__ order. named_parameters() walks modules in pre-order
     * and yields a module's own parameters before its children's, so the attention's
     * sinks (a direct nn.Parameter) precede q_proj..o_proj; GptOssMLP: router, experts */
    static const char *const order[] = {
        "self_attn.sinks", "self_attn.q_proj.weight", "self_attn.q_proj.bias", "self_attn.k_proj.weight", "self_attn.k_proj.bias",
        "self_attn.v_proj.weight", "self_attn.v_proj.bias", "self_attn.o_proj.weight", "self_attn.o_proj.bias",
        "mlp.router.weight", "mlp.router.bias", "mlp.experts.gate_up_proj",
        "mlp.experts.gate_up_proj_bias", "mlp.experts.down_proj", "mlp.experts.down_proj_bias",
        "input_layernorm.weight", "post_attention_layernorm.weight", NULL};
    check_order(m, "model.layers.1.", order);
    SHAPE(m, "model.layers.0.mlp.experts.gate_up_proj_bias", 4, 16);
    SHAPE(m, "model.layers.0.mlp.experts.down_proj", 4, 8, 16);
    SHAPE(m, "model.rotary_emb.inv_freq", 2);
    mt_graph *g = tu_trace(m);
    tu_check_logits(m, g, 100);
    cr_assert_eq(check_routing(m, g, 2, 16, MT_OP_MATMUL), 12);
    int clamps = 0, sdpa = 0, one_hot = 0, slide_fill = 0, cat_sink = 0;
    for (int i = 0; i < g->n; i++) {
        mt_node *n = g->nodes[i];
        if (n->opid == MT_OP_CLAMP) {
            clamps++;
            cr_assert_eq(n->outs[0].shape[1], mt_sym_const(ctx, 8), "gate/up halves of 2*8 by stride 2");
        }
        sdpa += n->opid == MT_OP_SDPA;
        if (n->opid == MT_OP_ONE_HOT) {
            one_hot++;
            cr_assert_eq(n->outs[0].shape[2], mt_sym_const(ctx, 5), "num_experts + 1 classes");
        }
        if (n->opid == MT_OP_MASKED_FILL) slide_fill++;
        /* cat([scores, sinks], -1): last dim seq + 1 */
        if (n->opid == MT_OP_CAT && n->outs[0].ndim == 4 &&
            n->outs[0].shape[3] == mt_sym_add_const(ctx, mt_sym_var(ctx, "seq"), 1))
            cat_sink++;
    }
    cr_assert_eq(clamps, 2 * 4 * 3);
    cr_assert_eq(sdpa, 0, "eager attention with sinks");
    cr_assert_eq(one_hot, 3);
    cr_assert_eq(slide_fill, 3, "padding fill for two masks + the window fill");
    cr_assert_eq(cat_sink, 3);
    mt_ctx_free(ctx);
}

Test(moe2, gpt_oss_errors) {
    mt_ctx *ctx = mt_ctx_new();
    const char *bad = "{\"model_type\": \"gpt_oss\", \"num_hidden_layers\": 2, \"layer_types\": [\"full_attention\", \"local\"]}";
    mt_config *c = mt_config_parse(ctx, bad, strlen(bad), "bad");
    mt_build_opts o = {.dtype = MT_DTYPE_NONE, .num_layers = 0};
    cr_assert_null(mt_model_build(ctx, c, &o));
    cr_assert(strstr(mt_ctx_errmsg(ctx), "layer_types.1"), "%s", mt_ctx_errmsg(ctx));
    mt_ctx_free(ctx);
}

/* Tensor.clamp (out of place): broadcast shape, result_type dtype, one bound required. */
Test(moe2, clamp_rule) {
    mt_ctx *ctx = mt_ctx_new();
    const mt_sym *T = mt_sym_var(ctx, "T"), *s2[2] = {T, mt_sym_const(ctx, 8)};
    mt_tensor *x = mt_tensor_meta(ctx, MT_BFLOAT16, 2, s2), *xi = mt_tensor_meta(ctx, MT_INT64, 2, s2);
    mt_tensor outs[MT_MAX_OUTS];
    int n;
    bool tup;
    mt_arg a[1] = {mt_a_tensor(x)};
    mt_kwarg kw[2] = {{"min", mt_a_none()}, {"max", mt_a_float(7.0)}};
    cr_assert_eq(mt_op_infer(ctx, MT_OP_CLAMP, a, 1, kw, 2, outs, &n, &tup), MT_OK, "%s", mt_ctx_errmsg(ctx));
    cr_assert_eq(outs[0].dtype, MT_BFLOAT16);
    cr_assert_eq(outs[0].shape[0], T);
    /* int64 tensor with a float bound: result_type gives the default float32 */
    mt_arg ai[1] = {mt_a_tensor(xi)};
    cr_assert_eq(mt_op_infer(ctx, MT_OP_CLAMP, ai, 1, kw, 2, outs, &n, &tup), MT_OK, "%s", mt_ctx_errmsg(ctx));
    cr_assert_eq(outs[0].dtype, MT_FLOAT32);
    /* a [3, 1, 8] tensor bound broadcasts the result to [3, T, 8] */
    const mt_sym *s3[3] = {mt_sym_const(ctx, 3), mt_sym_const(ctx, 1), mt_sym_const(ctx, 8)};
    mt_kwarg kt[1] = {{"min", mt_a_tensor(mt_tensor_meta(ctx, MT_BFLOAT16, 3, s3))}};
    cr_assert_eq(mt_op_infer(ctx, MT_OP_CLAMP, a, 1, kt, 1, outs, &n, &tup), MT_OK, "%s", mt_ctx_errmsg(ctx));
    cr_assert_eq(outs[0].ndim, 3);
    cr_assert_eq(outs[0].shape[1], T);
    mt_kwarg none[2] = {{"min", mt_a_none()}, {"max", mt_a_none()}};
    cr_assert_neq(mt_op_infer(ctx, MT_OP_CLAMP, a, 1, none, 2, outs, &n, &tup), MT_OK);
    mt_ctx_free(ctx);
}
