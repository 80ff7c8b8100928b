/* Llama end to end on real configs: parameter names, shapes and totals agree
 * with the real checkpoints' index files (tests/data/index, copied from
 * shared/configs/index) and published counts; every Linear call has the
 * right shapes; logits are [batch, seq, vocab]. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "models/blocks.h"
#include "testutil.h"

/* Every call_module on a Linear: input [..., in_features], output [..., out_features]. */
static int check_linear_calls(mt_model *m, mt_graph *g) {
    int count = 0;
    for (int i = 0; i < g->n; i++) {
        mt_node *n = g->nodes[i];
        if (n->op != MT_NODE_CALL_MODULE || n->module->leaf != MT_LEAF_LINEAR) continue;
        const mt_tensor *x = n->args[0].v.t, *y = &n->outs[0];
        int64_t in = mt_module_get_attr(n->module, "in_features")->v.i;
        int64_t out = mt_module_get_attr(n->module, "out_features")->v.i;
        cr_assert_eq(x->shape[x->ndim - 1], mt_sym_const(m->ctx, in), "%s input", n->name);
        cr_assert_eq(y->shape[y->ndim - 1], mt_sym_const(m->ctx, out), "%s output", n->name);
        cr_assert_eq(y->ndim, 3, "%s rank", n->name);
        cr_assert_eq(y->shape[0], mt_sym_var(m->ctx, "batch"));
        cr_assert_eq(y->shape[1], mt_sym_var(m->ctx, "seq"));
        count++;
    }
    return count;
}

static void check_logits(mt_model *m, mt_graph *g, int64_t vocab, mt_dtype dt) {
    mt_node *out = g->nodes[g->n - 1];
    cr_assert_eq(out->op, MT_NODE_OUTPUT);
    const mt_tensor *l = out->args[0].v.t;
    cr_assert_eq(l->ndim, 3);
    cr_assert_eq(l->shape[0], mt_sym_var(m->ctx, "batch"));
    cr_assert_eq(l->shape[1], mt_sym_var(m->ctx, "seq"));
    cr_assert_eq(l->shape[2], mt_sym_const(m->ctx, vocab));
    cr_assert_eq(l->dtype, dt);
}

Test(llama, llama_7b_matches_checkpoint) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build(ctx, tu_src("samples/configs/huggyllama--llama-7b.config.json"), 0);
    mt_totals t;
    cr_assert_eq(mt_model_totals(m, &t), MT_OK);
    cr_assert_eq(t.params, 6738415616LL); /* shared/configs/SOURCES.md, index-derived */
    /* index total_size 13,476,839,424 = fp16 parameters + 32 stored float32
     * inv_freq buffers of 64 elements */
    cr_assert_eq(t.param_bytes + 32 * 64 * 4, 13476839424LL);
    tu_check_index_names(m, "huggyllama--llama-7b.index.json", false);
    tu_check_shape(m, "model.embed_tokens.weight", 2, 32000, 4096);
    tu_check_shape(m, "model.layers.31.self_attn.k_proj.weight", 2, 4096, 4096);
    tu_check_shape(m, "model.layers.0.mlp.gate_proj.weight", 2, 11008, 4096);
    tu_check_shape(m, "model.layers.0.mlp.down_proj.weight", 2, 4096, 11008);
    tu_check_shape(m, "model.norm.weight", 1, 4096, 0);
    tu_check_shape(m, "lm_head.weight", 2, 32000, 4096);
    mt_param *inv = mt_model_param(m, "model.rotary_emb.inv_freq");
    cr_assert_not_null(inv);
    cr_assert(inv->is_buffer && !inv->persistent && inv->computed);
    cr_assert_eq(t.params_by_dtype[MT_FLOAT16], t.params);
    mt_graph *g = tu_trace(m);
    cr_assert_eq(check_linear_calls(m, g), 32 * 7 + 1);
    check_logits(m, g, 32000, MT_FLOAT16);
    mt_ctx_free(ctx);
}

Test(llama, llama_3_2_3b_tied_gqa) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build(ctx, tu_src("samples/configs/meta-llama--Llama-3.2-3B.resaved.config.json"), 0);
    mt_totals t;
    cr_assert_eq(mt_model_totals(m, &t), MT_OK);
    cr_assert_eq(t.params, 3212749824LL);      /* SOURCES.md; card 3.21B */
    cr_assert_eq(t.param_bytes, 6425499648LL); /* index metadata.total_size */
    tu_check_index_names(m, "meta-llama--Llama-3.2-3B.resaved.index.json", false);
    mt_param *head = mt_model_param(m, "lm_head.weight");
    cr_assert_not_null(head, "tied lm_head must still be listed");
    cr_assert_not_null(head->tied_to);
    cr_assert_str_eq(head->tied_to->name, "model.embed_tokens.weight");
    /* GQA: 8 kv heads of 128 -> k/v project to 1024 */
    tu_check_shape(m, "model.layers.0.self_attn.k_proj.weight", 2, 1024, 3072);
    tu_check_shape(m, "model.layers.0.self_attn.q_proj.weight", 2, 3072, 3072);
    mt_graph *g = tu_trace(m);
    cr_assert_eq(check_linear_calls(m, g), 28 * 7 + 1);
    check_logits(m, g, 128256, MT_BFLOAT16);
    mt_ctx_free(ctx);
}

Test(llama, granite_3b_biases) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build(ctx, tu_src("samples/configs/ibm-granite--granite-3b-code-instruct-128k.config.json"), 0);
    mt_totals t;
    cr_assert_eq(mt_model_totals(m, &t), MT_OK);
    cr_assert_eq(t.params, 3482503680LL);      /* SOURCES.md */
    cr_assert_eq(t.param_bytes, 6965007360LL); /* index metadata.total_size */
    tu_check_index_names(m, "ibm-granite--granite-3b-code-instruct-128k.index.json", false);
    tu_check_shape(m, "model.layers.0.self_attn.o_proj.bias", 1, 2560, 0);
    tu_check_shape(m, "model.layers.0.mlp.down_proj.bias", 1, 2560, 0);
    mt_ctx_free(ctx);
}

Test(llama, bound_trace_is_concrete) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build(ctx, tu_src("samples/configs/huggyllama--llama-7b.config.json"), 2);
    const char *names[2] = {"batch", "seq"};
    int64_t vals[2] = {1, 4096};
    mt_trace_opts o = {{names, vals, 2}};
    mt_graph *g = mt_model_trace(m, &o);
    cr_assert_not_null(g, "%s", mt_ctx_errmsg(ctx));
    const mt_tensor *l = g->nodes[g->n - 1]->args[0].v.t;
    cr_assert_eq(l->shape[0], mt_sym_const(ctx, 1));
    cr_assert_eq(l->shape[1], mt_sym_const(ctx, 4096));
    for (int i = 0; i < g->n; i++)
        for (int k = 0; k < g->nodes[i]->nout; k++)
            for (int d = 0; d < g->nodes[i]->outs[k].ndim; d++)
                cr_assert(mt_sym_is_const(g->nodes[i]->outs[k].shape[d]), "%s has a symbolic dim", g->nodes[i]->name);
    mt_ctx_free(ctx);
}

Test(llama, layers_override_and_params_order) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build(ctx, tu_src("samples/configs/huggyllama--llama-7b.config.json"), 2);
    cr_assert_eq(m->num_layers, 2);
    /* named_parameters() order of LlamaForCausalLM */
    const char *first[] = {
        "model.embed_tokens.weight",
        "model.layers.0.self_attn.q_proj.weight",
        "model.layers.0.self_attn.k_proj.weight",
        "model.layers.0.self_attn.v_proj.weight",
        "model.layers.0.self_attn.o_proj.weight",
        "model.layers.0.mlp.gate_proj.weight",
        "model.layers.0.mlp.up_proj.weight",
        "model.layers.0.mlp.down_proj.weight",
        "model.layers.0.input_layernorm.weight",
        "model.layers.0.post_attention_layernorm.weight",
    };
    for (int i = 0; i < 10; i++) cr_assert_str_eq(((mt_param *)m->params.items[i])->name, first[i]);
    cr_assert_str_eq(((mt_param *)m->params.items[m->params.n - 2])->name, "model.norm.weight");
    cr_assert_str_eq(((mt_param *)m->params.items[m->params.n - 1])->name, "lm_head.weight");
    mt_ctx_free(ctx);
}

#define TINY_LLAMA "{\"model_type\": \"llama\", \"hidden_size\": 16, \"intermediate_size\": 32, " \
                   "\"num_hidden_layers\": 2, \"num_attention_heads\": 2, \"vocab_size\": 64}"

/* The build binds to each module its forward reads a handle holding the
 * pointers it made (docs/ARCHITECTURE.md, Decisions): the trace reads them and
 * never looks a name up, so a child renamed after the build changes nothing. */
Test(llama, handles_are_bound_at_build) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build_text(ctx, TINY_LLAMA, 0);
    mt_module *at = mt_module_find(m->root, "model.layers.1.self_attn");
    const mt_attn_h *h = mt_module_bound(at, &mt_attn_h_kind);
    cr_assert_not_null(h);
    cr_assert_eq(h->q, mt_module_find(m->root, "model.layers.1.self_attn.q_proj"));
    cr_assert_eq(h->o, mt_module_find(m->root, "model.layers.1.self_attn.o_proj"));
    cr_assert_null(h->q_norm); /* Llama has no q/k norms */
    cr_assert_null(h->qkv);
    const mt_dec_layer_h *lh = mt_module_bound(mt_module_find(m->root, "model.layers.1"), &mt_dec_layer_h_kind);
    cr_assert_not_null(lh);
    cr_assert_eq(lh->attn, at);
    cr_assert_eq(lh->norm[1], mt_module_find(m->root, "model.layers.1.post_attention_layernorm"));
    cr_assert_null(mt_module_bound(at, &mt_mlp_h_kind)); /* bound as one kind only */
    h->q->name = "query";
    mt_graph *g = mt_model_trace(m, NULL);
    cr_assert_not_null(g, "%s", mt_ctx_errmsg(ctx));
    mt_ctx_free(ctx);
}

static mt_status attention_misnamed(mt_model *m, const mt_dec_spec *s, mt_module *L, int64_t index) {
    (void)s, (void)index;
    return mt_module_new(m->ctx, L, "attention", "LlamaAttention") ? MT_OK : mt_ctx_status(m->ctx);
}

/* A build composing a hook whose module is not where the decoder reads it
 * fails at build, naming the module it looked in and the child it wanted. */
Test(llama, missing_child_is_a_build_error_naming_the_path) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build_text(ctx, TINY_LLAMA, 0);
    mt_dec_spec s = *(const mt_dec_spec *)m->family;
    s.root = mt_module_new(ctx, m->root, "alt", "LlamaForCausalLM");
    s.hooks.build_attn = attention_misnamed;
    cr_assert_neq(mt_dec_build(m, &s), MT_OK);
    cr_assert_str_eq(mt_ctx_errmsg(ctx), "module 'alt.model.layers.0' (LlamaDecoderLayer) has no child 'self_attn'");
    mt_ctx_free(ctx);
}

/* Reading a handle as another kind, or where none was bound, is an error
 * naming the module, not a bad cast. */
Test(llama, handle_of_another_kind_is_an_error) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build_text(ctx, TINY_LLAMA, 0);
    mt_module *at = mt_module_find(m->root, "model.layers.1.self_attn");
    cr_assert_null(mt_module_bound_checked(ctx, at, &mt_mlp_h_kind));
    cr_assert_str_eq(mt_ctx_errmsg(ctx), "module 'model.layers.1.self_attn' (LlamaAttention) is bound as mt_attn_h, "
                                         "read as mt_mlp_h");
    mt_ctx_free(ctx);
    ctx = mt_ctx_new();
    m = tu_build_text(ctx, TINY_LLAMA, 0);
    cr_assert_null(mt_module_bound_checked(ctx, mt_module_find(m->root, "model.layers"), &mt_attn_h_kind));
    cr_assert_str_eq(mt_ctx_errmsg(ctx), "module 'model.layers' (ModuleList) has no bound mt_attn_h (its build did not "
                                         "bind it)");
    mt_ctx_free(ctx);
    ctx = mt_ctx_new();
    m = tu_build_text(ctx, TINY_LLAMA, 0);
    cr_assert_null(mt_bind_child(ctx, mt_module_find(m->root, "model.layers.0.self_attn"), "query"));
    cr_assert_str_eq(mt_ctx_errmsg(ctx), "module 'model.layers.0.self_attn' (LlamaAttention) has no child 'query'");
    mt_ctx_free(ctx);
}
