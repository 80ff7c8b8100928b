/* Classic and encoder families end to end on real configs: parameter names
 * equal the checkpoint index keys (less the buffers old bin checkpoints
 * stored), totals equal the figures in samples/configs/SOURCES.md or a hand
 * derivation from the transformers modeling source (each test says which),
 * and logits are [batch, seq, vocab]. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static const mt_tensor *output0(mt_graph *g) {
    mt_node *out = g->nodes[g->n - 1];
    cr_assert_eq(out->op, MT_NODE_OUTPUT);
    return out->args[0].v.t;
}

static void check_logits(mt_model *m, mt_graph *g, const char *seq, int64_t vocab, mt_dtype dt) {
    const mt_tensor *l = output0(g);
    cr_assert_eq(l->ndim, 3);
    cr_assert_eq(l->shape[0], mt_sym_var(m->ctx, "batch"));
    cr_assert_eq(l->shape[1], mt_sym_var(m->ctx, seq));
    cr_assert_eq(l->shape[2], mt_sym_const(m->ctx, vocab), "logits last dim");
    cr_assert_eq(l->dtype, dt);
}

static int64_t total(mt_model *m) {
    mt_totals t;
    cr_assert_eq(mt_model_totals(m, &t), MT_OK, "%s", mt_ctx_errmsg(m->ctx));
    return t.params;
}

static int count_calls(mt_graph *g, mt_leaf_kind k) {
    int c = 0;
    for (int i = 0; i < g->n; i++)
        if (g->nodes[i]->op == MT_NODE_CALL_MODULE && g->nodes[i]->module->leaf == k) c++;
    return c;
}

Test(classic, phi3_mini_128k_matches_checkpoint) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build(ctx, tu_src("samples/configs/microsoft--Phi-3-mini-128k-instruct.config.json"), 0);
    /* SOURCES.md, index-derived: 3,821,079,552; index total_size 7,642,159,104 = 2 bytes each */
    cr_assert_eq(total(m), 3821079552LL);
    tu_check_index_names(m, "microsoft--Phi-3-mini-128k-instruct.index.json", false);
    /* fused: q 3072 + k 3072 + v 3072 rows; gate_up 2 * 8192 rows */
    tu_check_shape(m, "model.layers.0.self_attn.qkv_proj.weight", 2, 9216, 3072);
    tu_check_shape(m, "model.layers.0.mlp.gate_up_proj.weight", 2, 16384, 3072);
    /* named_parameters order: o_proj is registered before qkv_proj */
    cr_assert_str_eq(((mt_param *)m->params.items[1])->name, "model.layers.0.self_attn.o_proj.weight");
    cr_assert_str_eq(((mt_param *)m->params.items[2])->name, "model.layers.0.self_attn.qkv_proj.weight");
    mt_graph *g = tu_trace(m);
    cr_assert_eq(count_calls(g, MT_LEAF_LINEAR), 32 * 4 + 1);
    check_logits(m, g, "seq", 32064, MT_BFLOAT16);
    mt_ctx_free(ctx);
}

Test(classic, gpt_neox_redpajama_7b_matches_checkpoint) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build(ctx, tu_src("samples/configs/togethercomputer--RedPajama-INCITE-7B-Base.config.json"), 0);
    /* SOURCES.md, index-derived unique count */
    cr_assert_eq(total(m), 6857302016LL);
    /* index keys less attention.bias / masked_bias / rotary_emb.inv_freq buffers */
    tu_check_index_names(m, "togethercomputer--RedPajama-INCITE-7B-Base.pytorch_model.bin.index.json", false);
    tu_check_shape(m, "gpt_neox.layers.0.attention.query_key_value.weight", 2, 12288, 4096);
    tu_check_shape(m, "embed_out.weight", 2, 50432, 4096);
    mt_graph *g = tu_trace(m);
    check_logits(m, g, "seq", 50432, MT_FLOAT16);
    mt_ctx_free(ctx);
}

Test(classic, falcon_7b_refinedwebmodel_matches_checkpoint) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build(ctx, tu_src("samples/configs/tiiuae--falcon-7b.config.json"), 0);
    /* SOURCES.md: 6,921,720,704 unique (the index stores lm_head.weight again) */
    cr_assert_eq(total(m), 6921720704LL);
    tu_check_index_names(m, "tiiuae--falcon-7b.pytorch_model.bin.index.json", true);
    mt_param *head = mt_model_param(m, "lm_head.weight");
    cr_assert_not_null(head);
    cr_assert_not_null(head->tied_to);
    /* multi-query: 71 query heads + one k + one v head of 64 */
    tu_check_shape(m, "transformer.h.0.self_attention.query_key_value.weight", 2, 4672, 4544);
    mt_graph *g = tu_trace(m);
    check_logits(m, g, "seq", 65024, MT_BFLOAT16);
    mt_ctx_free(ctx);
}

Test(classic, gpt2_large_conv1d_tied) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build(ctx, tu_src("samples/configs/openai-community--gpt2-large.config.json"), 0);
    /* Hand derivation from modeling_gpt2.py: wte 50257*1280 + wpe 1024*1280 + 36 layers *
     * (ln_1 2560 + c_attn 1280*3840+3840 + c_proj 1280*1280+1280 + ln_2 2560 +
     * c_fc 1280*5120+5120 + c_proj 5120*1280+1280 = 19,677,440) + ln_f 2560
     * = 774,030,080 (also the usual published figure, tied head) */
    cr_assert_eq(total(m), 774030080LL);
    /* Conv1D weights are [in, out] */
    tu_check_shape(m, "transformer.h.0.attn.c_attn.weight", 2, 1280, 3840);
    tu_check_shape(m, "transformer.h.0.mlp.c_fc.weight", 2, 1280, 5120);
    tu_check_shape(m, "transformer.h.35.mlp.c_proj.weight", 2, 5120, 1280);
    mt_param *head = mt_model_param(m, "lm_head.weight");
    cr_assert(head && head->tied_to && strcmp(head->tied_to->name, "transformer.wte.weight") == 0);
    mt_graph *g = tu_trace(m);
    cr_assert_eq(count_calls(g, MT_LEAF_CONV1D), 36 * 4);
    check_logits(m, g, "seq", 50257, MT_FLOAT32);
    mt_ctx_free(ctx);
}

Test(classic, bloom_560m_alibi_tied) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build(ctx, tu_src("samples/configs/bigscience--bloom-560m.config.json"), 0);
    /* SOURCES.md / model card: 559,214,592 (n_embed 1024 is the old hidden_size spelling) */
    cr_assert_eq(total(m), 559214592LL);
    tu_check_shape(m, "transformer.word_embeddings_layernorm.weight", 1, 1024, 0);
    tu_check_shape(m, "transformer.h.23.self_attention.query_key_value.weight", 2, 3072, 1024);
    mt_param *head = mt_model_param(m, "lm_head.weight");
    cr_assert(head && head->tied_to);
    mt_graph *g = tu_trace(m);
    check_logits(m, g, "seq", 250880, MT_FLOAT32);
    mt_ctx_free(ctx);
}

Test(classic, gptj_6b_parallel_partial_rotary) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build(ctx, tu_src("samples/configs/EleutherAI--gpt-j-6b.config.json"), 0);
    /* SOURCES.md: 6,050,882,784 (HF module count; the card's 6,053,381,344 counts differently).
     * By hand: wte 206,438,400 + 28 * (ln_1 8192 + 4 * 4096^2 + fc_in 67,125,248 + fc_out
     * 67,112,960) + ln_f 8192 + lm_head with bias 206,488,800 */
    cr_assert_eq(total(m), 6050882784LL);
    tu_check_shape(m, "lm_head.bias", 1, 50400, 0);
    cr_assert_str_eq(((mt_param *)m->params.items[3])->name, "transformer.h.0.attn.k_proj.weight");
    mt_graph *g = tu_trace(m);
    check_logits(m, g, "seq", 50400, MT_FLOAT32);
    mt_ctx_free(ctx);
}

Test(classic, opt_1_3b_learned_positions) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build(ctx, tu_src("samples/configs/facebook--opt-1.3b.config.json"), 0);
    /* By hand from modeling_opt.py: embed_tokens 50272*2048 = 102,957,056; embed_positions
     * (2048 + 2)*2048 = 4,198,400; final_layer_norm 4096; 24 layers * (4 * (2048^2 + 2048)
     * + 2 LayerNorms 8192 + fc1 2048*8192+8192 + fc2 8192*2048+2048 = 50,358,272);
     * lm_head tied. = 1,315,758,080 ("1.3B") */
    cr_assert_eq(total(m), 1315758080LL);
    tu_check_shape(m, "model.decoder.embed_positions.weight", 2, 2050, 2048);
    cr_assert_null(mt_model_param(m, "model.decoder.project_in.weight"), "no projection when dims agree");
    mt_graph *g = tu_trace(m);
    check_logits(m, g, "seq", 50272, MT_FLOAT16);
    mt_ctx_free(ctx);
}

Test(classic, opt_350m_style_projections) {
    mt_ctx *ctx = mt_ctx_new();
    const char *dir = tu_tmpdir();
    /* opt-350m's distinguishing fields: word_embed_proj_dim 512 < hidden 1024, post-LN */
    const char *path = tu_write(dir, "config.json",
        "{\"model_type\": \"opt\", \"hidden_size\": 64, \"ffn_dim\": 128, \"num_hidden_layers\": 1, "
        "\"num_attention_heads\": 4, \"vocab_size\": 100, \"word_embed_proj_dim\": 32, "
        "\"max_position_embeddings\": 16, \"do_layer_norm_before\": false}");
    mt_model *m = tu_build(ctx, path, 0);
    /* embed 100*32 + positions 18*64 + project_out 64*32 + project_in 32*64 + layer
     * (4*(64*64+64) + 2*128 + 64*128+128 + 128*64+64 = 33,472); no final LayerNorm (post-LN) */
    cr_assert_eq(total(m), 3200 + 1152 + 2048 + 2048 + 33472);
    tu_check_shape(m, "model.decoder.project_out.weight", 2, 32, 64);
    mt_graph *g = tu_trace(m);
    check_logits(m, g, "seq", 100, MT_FLOAT32);
    mt_ctx_free(ctx);
}

#include "tiny_configs.h"

/* Every classic entry of the shared tiny table: builds, counts by hand, traces to [batch, seq, vocab]. */
Test(classic, tiny_configs) {
    static const char *const mine[] = {"phi3", "gpt_neox", "falcon", "gpt2", "bloom", "gptj", "opt", "phi",
                                       "bert", "t5", "mt5", "bart"};
    int seen = 0;
    for (int i = 0; i < TINY_CONFIG_COUNT; i++) {
        const tiny_config *tc = &tiny_configs[i];
        bool ours = false;
        for (size_t j = 0; j < sizeof mine / sizeof mine[0]; j++) ours |= strcmp(mine[j], tc->model_type) == 0;
        if (!ours) continue;
        seen++;
        mt_ctx *ctx = mt_ctx_new();
        mt_config *cfg = mt_config_parse(ctx, tc->json, strlen(tc->json), tc->model_type);
        cr_assert_not_null(cfg, "%s: %s", tc->model_type, mt_ctx_errmsg(ctx));
        mt_model *m = mt_model_build(ctx, cfg, NULL);
        cr_assert_not_null(m, "%s: %s", tc->model_type, mt_ctx_errmsg(ctx));
        if (tc->params) cr_assert_eq(total(m), tc->params, "%s: %lld params", tc->model_type, (long long)total(m));
        mt_graph *g = mt_model_trace(m, NULL);
        cr_assert_not_null(g, "%s: %s", tc->model_type, mt_ctx_errmsg(ctx));
        const mt_tensor *l = output0(g);
        cr_assert_eq(l->shape[l->ndim - 1], mt_sym_const(ctx, tc->vocab), "%s logits", tc->model_type);
        mt_ctx_free(ctx);
    }
    cr_assert_geq(seen, 8);
}
