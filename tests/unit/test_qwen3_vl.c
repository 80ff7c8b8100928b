/* Qwen3-VL (model_type qwen3_vl, Qwen3VLForConditionalGeneration): the vision transformer with
 * its deepstack mergers and the Qwen3 decoder with interleaved M-RoPE, built whole against a
 * checkpoint index of Qwen3-VL-8B-Instruct's layout, traced at the fixed grid (docs/cli.md,
 * Multimodal models); --text-only traces the language model alone. Sources of every expected
 * figure are given at each test (samples/configs/SOURCES.md). */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "tiny_configs.h"

#define CR8B "samples/configs/multimodal/nvidia--Cosmos-Reason2-8B.config.json"
#define CR8B_INDEX "nvidia--Cosmos-Reason2-8B.index.json"

/* The call_module node of the module at `path`, or NULL. */
static mt_node *module_call(mt_graph *g, const char *path) {
    for (int i = 0; i < g->n; i++)
        if (g->nodes[i]->op == MT_NODE_CALL_MODULE && strcmp(g->nodes[i]->target, path) == 0) return g->nodes[i];
    return NULL;
}

static mt_model *build(mt_ctx *ctx, const char *rel, bool text_only, int64_t layers) {
    mt_config *c = mt_config_load(ctx, tu_src(rel));
    cr_assert_not_null(c, "%s", mt_ctx_errmsg(ctx));
    mt_build_opts o = {.dtype = MT_DTYPE_NONE, .num_layers = layers, .text_only = text_only};
    mt_model *m = mt_model_build(ctx, c, &o);
    cr_assert_not_null(m, "%s", mt_ctx_errmsg(ctx));
    return m;
}

/* The language model by hand (text_config: 36 layers, hidden 4096, 32 heads and 8 KV heads of
 * 128, intermediate 12288, vocab 151936, lm_head untied): layer = q 4096*4096, k and v
 * 2*4096*1024, o 4096*4096, q_norm + k_norm 2*128, MLP 3*4096*12288, two norms; embedding,
 * final norm, lm_head. */
static int64_t text_8b(void) {
    int64_t layer = 4096LL * 4096 + 2 * 4096LL * 1024 + 4096LL * 4096 + 2 * 128 + 3 * 4096LL * 12288 + 2 * 4096;
    return 36 * layer + 2 * 151936LL * 4096 + 4096;
}

/* The tower by hand (vision_config: depth 27, hidden 1152, 16 heads, intermediate 4304, 16 px
 * patches over 2 frames of 3 channels, merge 2, out 4096, 2304 positions, deepstack at 8, 16,
 * 24): patch_embed 1152*3*2*16*16 + 1152; pos_embed 2304*1152; block: qkv 1152*3456 + 3456,
 * proj 1152*1152 + 1152, linear_fc1 1152*4304 + 4304, linear_fc2 4304*1152 + 1152, two
 * LayerNorms 4*1152; merger: norm 2*1152, linear_fc1 4608*4608 + 4608, linear_fc2 4608*4096 +
 * 4096; three deepstack mergers, their norm 2*4608. */
static int64_t vision_8b(void) {
    int64_t block = 1152LL * 3456 + 3456 + 1152LL * 1152 + 1152 + 1152LL * 4304 + 4304 + 4304LL * 1152 + 1152 +
                    4 * 1152;
    int64_t fc = 4608LL * 4608 + 4608 + 4608LL * 4096 + 4096;
    return 1152LL * 3 * 2 * 16 * 16 + 1152 + 2304LL * 1152 + 27 * block + 2 * 1152 + fc + 3 * (2 * 4608 + fc);
}

/* The checkpoint's model.safetensors.index.json (tests/data/index, provenance in SOURCES.md): every
 * parameter name; its 750 tensors; the total, 8,767,123,696 parameters, is the count a public
 * weights report of Qwen/Qwen3-VL-8B-Instruct prints (its safetensors files, 750 tensors; SOURCES.md),
 * and the hand counts above; bfloat16 from text_config.dtype (the config has no top-level dtype). */
Test(qwen3_vl, cr8b_matches_its_index)
{
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = build(ctx, CR8B, false, 0);
    cr_assert_str_eq(m->model_type, "qwen3_vl");
    cr_assert_str_eq(m->class_name, "Qwen3VLForConditionalGeneration");
    cr_assert_eq(m->dtype, MT_BFLOAT16);
    tu_check_index_names(m, CR8B_INDEX, false);
    json_error_t err;
    json_t *idx = json_load_file(tu_src("tests/data/index/" CR8B_INDEX), 0, &err);
    cr_assert_not_null(idx, "%s", err.text);
    /* 750 stored tensors: embed + 36*11 + norm + lm_head (language); patch_embed 2 + pos_embed + 27*12 +
     * merger 6 + 3*6 (vision) */
    size_t stored = json_object_size(json_object_get(idx, "weight_map"));
    cr_assert_eq(stored, 1 + 36 * 11 + 1 + 1 + 2 + 1 + 27 * 12 + 6 + 3 * 6);
    cr_assert_eq(stored, 750);
    json_decref(idx);
    cr_assert_eq(text_8b() + vision_8b(), 8767123696LL);
    mt_totals t;
    cr_assert_eq(mt_model_totals(m, &t), MT_OK);
    cr_assert_eq(t.params, 8767123696LL);
    cr_assert_eq(t.param_bytes, 2 * 8767123696LL);
    cr_assert_eq(t.text_params, text_8b());
    cr_assert_eq(t.text_param_bytes, 2 * text_8b());
    /* shapes by hand from the config (names from the index) */
    TU_SHAPE(m, "model.visual.patch_embed.proj.weight", 1152, 3, 2, 16, 16);
    TU_SHAPE(m, "model.visual.patch_embed.proj.bias", 1152);
    TU_SHAPE(m, "model.visual.pos_embed.weight", 2304, 1152);
    TU_SHAPE(m, "model.visual.blocks.26.attn.qkv.weight", 3456, 1152);
    TU_SHAPE(m, "model.visual.blocks.26.mlp.linear_fc1.weight", 4304, 1152);
    TU_SHAPE(m, "model.visual.blocks.26.norm2.bias", 1152);
    TU_SHAPE(m, "model.visual.merger.norm.weight", 1152);
    TU_SHAPE(m, "model.visual.merger.linear_fc2.weight", 4096, 4608);
    TU_SHAPE(m, "model.visual.deepstack_merger_list.2.norm.weight", 4608);
    TU_SHAPE(m, "model.visual.deepstack_merger_list.2.linear_fc1.weight", 4608, 4608);
    TU_SHAPE(m, "model.language_model.embed_tokens.weight", 151936, 4096);
    TU_SHAPE(m, "model.language_model.layers.35.self_attn.k_proj.weight", 1024, 4096);
    TU_SHAPE(m, "model.language_model.layers.35.self_attn.q_norm.weight", 128);
    TU_SHAPE(m, "model.language_model.layers.35.mlp.up_proj.weight", 12288, 4096);
    cr_assert_null(mt_model_param(m, "model.language_model.layers.0.self_attn.q_proj.bias"));
    mt_param *head = mt_model_param(m, "lm_head.weight");
    cr_assert(head && !head->tied_to, "tie_word_embeddings: false");
    /* Qwen3VLModel's __init__ order: visual, language_model; then lm_head */
    cr_assert_str_eq(((mt_param *)m->params.items[0])->name, "model.visual.patch_embed.proj.weight");
    cr_assert_str_eq(((mt_param *)m->params.items[m->params.n - 1])->name, "lm_head.weight");
    /* the vision rotary: Qwen3VLVisionRotaryEmbedding(head_dim 72 // 2): arange(0, 36, 2) */
    const mt_param *inv = mt_model_param(m, "model.visual.rotary_pos_emb.inv_freq");
    cr_assert(inv && inv->is_buffer && !inv->persistent);
    cr_assert_eq(mt_sym_const_value(inv->t->shape[0]), 18);
    inv = mt_model_param(m, "model.language_model.rotary_emb.inv_freq");
    cr_assert(inv && mt_sym_const_value(inv->t->shape[0]) == 64);
    /* the fixed grid: int(2304 ** 0.5) = 48 patches of 16 px a side, (48 / 2)^2 = 576 image tokens */
    cr_assert_not_null(m->note);
    cr_assert_not_null(strstr(m->note, "768 x 768 px frame pair (the position table's 48 x 48 patch grid, 576 image "
                                       "tokens)"),
                       "%s", m->note);
    mt_ctx_free(ctx);
}

/* --text-only: text_config as Qwen3VLTextConfig, under the stored names model.language_model.* and
 * lm_head; the names are the index's without model.visual.*, the count the language model's. */
Test(qwen3_vl, cr8b_text_only)
{
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = build(ctx, CR8B, true, 0);
    cr_assert_str_eq(m->model_type, "qwen3_vl_text");
    cr_assert_not_null(strstr(m->note, "deepstack mergers"), "%s", m->note);
    cr_assert_eq(m->dtype, MT_BFLOAT16);
    mt_totals t;
    cr_assert_eq(mt_model_totals(m, &t), MT_OK);
    cr_assert_eq(t.params, text_8b());
    int n;
    char **keys = tu_index_keys(CR8B_INDEX, &n);
    int text_keys = 0;
    for (int i = 0; i < n; i++) {
        if (strncmp(keys[i], "model.visual.", 13) != 0) {
            text_keys++;
            cr_assert_not_null(mt_model_param(m, keys[i]), "%s", keys[i]);
        }
        free(keys[i]);
    }
    free(keys);
    cr_assert_eq(m->params.n, text_keys, "the index's language tensors, lm_head stored (untied)");
    /* position_ids = cache_position.view(1, 1, -1).expand(3, batch, -1), interleaved all the same */
    mt_graph *g = tu_trace(m);
    tu_check_logits(m, g, 151936);
    cr_assert_eq(m->inputs.n, 2);
    mt_node *mm = tu_first_op(g, MT_OP_MATMUL, "model.language_model.rotary_emb");
    cr_assert(mm && mm->outs[0].ndim == 4 && mt_sym_const_value(mm->outs[0].shape[0]) == 3);
    cr_assert_eq(tu_count_ops(g, MT_OP_SCATTER, "model.language_model.rotary_emb"), 2);
    cr_assert_eq(tu_count_ops(g, MT_OP_MASKED_SCATTER, NULL), 0);
    mt_ctx_free(ctx);
}

/* The trace at 9 blocks and 9 layers (--layers counts both): pixel_values [images * 2304, 3*2*16*16];
 * the biased Conv3d to 1152; the interpolated position table looked up at [4, images * 2304]; every
 * block attends over each image's 2,304 patches; block 8 (the first deepstack index) gives one
 * deepstack feature, added after decoder layer 0 only; the merge where input_ids == 151655; the
 * interleaved M-RoPE writes channels 1::3 below 3*20 = 60 from the height row and 2::3 below 60 from
 * the width row (mrope_section [24, 20, 20]), once, in the rotary module; the KV cache is the
 * language model's alone. */
Test(qwen3_vl, cr8b_trace_tower_deepstack_and_mrope)
{
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = build(ctx, CR8B, false, 9);
    mt_graph *g = tu_trace(m);
    tu_check_logits(m, g, 151936);
    cr_assert_eq(m->inputs.n, 5);
    const mt_tensor *pos = m->inputs.items[2], *px = m->inputs.items[3], *grid = m->inputs.items[4];
    cr_assert_eq(pos->dtype, MT_INT64);
    cr_assert_eq(mt_sym_const_value(pos->shape[0]), 3);
    cr_assert_eq(px->dtype, MT_BFLOAT16);
    cr_assert_str_eq(mt_sym_str(px->shape[0]), "2304*images");
    cr_assert_eq(mt_sym_const_value(px->shape[1]), 3 * 2 * 16 * 16);
    cr_assert_str_eq(mt_sym_str(grid->shape[0]), "images");
    const mt_symbol_info *si = mt_sym_info_of(ctx, grid->shape[0]);
    cr_assert_str_eq(mt_sym_str(si->hi), "(batch*seq)//576");
    mt_node *conv = tu_first_op(g, MT_OP_CONV3D, "model.visual.patch_embed.proj");
    cr_assert_not_null(conv);
    cr_assert_eq(mt_sym_const_value(conv->outs[0].shape[1]), 1152);
    cr_assert_eq(conv->args[2].kind, MT_ARG_TENSOR, "proj has a bias");
    mt_node *pe = module_call(g, "model.visual.pos_embed");
    cr_assert_not_null(pe);
    cr_assert_eq(mt_sym_const_value(pe->outs[0].shape[0]), 4);
    cr_assert_str_eq(mt_sym_str(pe->outs[0].shape[1]), "2304*images");
    mt_node *outer = tu_first_op(g, MT_OP_OUTER, "model.visual.rotary_pos_emb");
    cr_assert(outer && mt_sym_const_value(outer->outs[0].shape[0]) == 48 &&
              mt_sym_const_value(outer->outs[0].shape[1]) == 18);
    cr_assert_eq(tu_count_ops(g, MT_OP_SDPA, "model.visual"), 9);
    for (int i = 0; i < g->n; i++) {
        mt_node *n = g->nodes[i];
        if (!tu_is_op(n, MT_OP_SDPA) || !tu_under(n, "model.visual")) continue;
        cr_assert_str_eq(mt_sym_str(n->outs[0].shape[0]), "images");
        cr_assert_eq(mt_sym_const_value(n->outs[0].shape[1]), 16);
        cr_assert_eq(mt_sym_const_value(n->outs[0].shape[2]), 2304);
    }
    /* one deepstack merger ran (block 8), over 4 x 1152 channels */
    mt_node *fc1 = module_call(g, "model.visual.deepstack_merger_list.0.linear_fc1");
    cr_assert(fc1 && mt_sym_const_value(fc1->outs[0].shape[1]) == 4608);
    cr_assert_null(module_call(g, "model.visual.deepstack_merger_list.1.linear_fc1"));
    /* masked_scatter: the merge (576 image rows of 4096 per image, source [576*images, 4096]) and one
     * deepstack add */
    cr_assert_eq(tu_count_ops(g, MT_OP_MASKED_SCATTER, NULL), 2);
    mt_node *ms = tu_first_op(g, MT_OP_MASKED_SCATTER, NULL);
    const mt_tensor *src = ms->args[2].v.t;
    cr_assert_str_eq(mt_sym_str(src->shape[0]), "576*images");
    cr_assert_eq(mt_sym_const_value(src->shape[1]), 4096);
    mt_node *eq = ms->args[1].v.t->node; /* expand <- unsqueeze <- eq */
    eq = eq->args[0].v.t->node;
    eq = eq->args[0].v.t->node;
    cr_assert(tu_is_op(eq, MT_OP_EQ));
    cr_assert_eq(eq->args[1].v.i, 151655);
    int ds = 0;
    for (int i = 0; i < g->n; i++) {
        mt_node *n = g->nodes[i];
        if (!tu_is_op(n, MT_OP_MASKED_SCATTER) || n == ms) continue;
        ds++;
        cr_assert(tu_is_op(n->args[0].v.t->node, MT_OP_ZEROS_LIKE), "the deepstack sum is written into zeros");
        cr_assert_str_eq(mt_sym_str(n->args[2].v.t->shape[0]), "576*images");
    }
    cr_assert_eq(ds, 1);
    /* interleaved M-RoPE: two scatter_ on freqs[0], indexes arange(1, 60, 3) and arange(2, 60, 3) */
    cr_assert_eq(tu_count_ops(g, MT_OP_SCATTER, NULL), 2);
    cr_assert_eq(tu_count_ops(g, MT_OP_SCATTER, "model.language_model.rotary_emb"), 2);
    int found = 0;
    for (int i = 0; i < g->n; i++) {
        mt_node *n = g->nodes[i];
        if (!tu_is_op(n, MT_OP_ARANGE) || !tu_under(n, "model.language_model.rotary_emb") || n->nargs != 3) continue;
        cr_assert_eq(n->args[0].v.i, found + 1);
        cr_assert_eq(n->args[1].v.i, 60);
        cr_assert_eq(n->args[2].v.i, 3);
        cr_assert_eq(mt_sym_const_value(n->outs[0].shape[0]), 20);
        found++;
    }
    cr_assert_eq(found, 2);
    cr_assert_eq(tu_count_ops(g, MT_OP_SPLIT, "model.language_model"), 0, "no chunked M-RoPE split");
    mt_sizing s;
    mt_sizing_opts so = {.kv_dtype = MT_DTYPE_NONE, .seq = 4096};
    cr_assert_eq(mt_model_sizing(m, g, &so, &s), MT_OK, "%s", mt_ctx_errmsg(ctx));
    /* 9 language layers * (K + V) * 8 KV heads * 128 * 2 bytes; the 9 vision blocks cache nothing */
    cr_assert_eq(s.kv_bytes_per_token, 9 * 2 * 8 * 128 * 2);
    int bidir = 0;
    for (int i = 0; i < s.nattn; i++) bidir += s.attn[i].kind == MT_ATTN_BIDIRECTIONAL;
    cr_assert_eq(bidir, 9);
    mt_ctx_free(ctx);
}

/* Deepstack features go to the decoder in block order, whatever the list order: with indexes [1, 0]
 * block 0's feature (merger 1) is added after layer 0 and block 1's (merger 0) after layer 1, as
 * transformers appends them (deepstack_visual_indexes.index(layer_num)). */
Test(qwen3_vl, deepstack_in_block_order)
{
    const char *json =
        "{\"model_type\": \"qwen3_vl\", \"image_token_id\": 255, \"text_config\": {\"head_dim\": 16, \"vocab_size\": "
        "256, \"hidden_size\": 64, \"intermediate_size\": 128, \"num_hidden_layers\": 3, \"num_attention_heads\": 4, "
        "\"num_key_value_heads\": 2, \"rope_scaling\": {\"mrope_section\": [4, 2, 2]}}, \"vision_config\": {\"depth\": "
        "2, \"hidden_size\": 32, \"intermediate_size\": 64, \"num_heads\": 2, \"patch_size\": 2, \"out_hidden_size\": "
        "64, \"num_position_embeddings\": 16, \"deepstack_visual_indexes\": [1, 0]}}";
    mt_ctx *ctx = mt_ctx_new();
    mt_config *c = mt_config_parse(ctx, json, strlen(json), "config.json");
    mt_model *m = mt_model_build(ctx, c, NULL);
    cr_assert_not_null(m, "%s", mt_ctx_errmsg(ctx));
    mt_graph *g = tu_trace(m);
    int k = 0;
    static const char *const want[2] = {"model.visual.deepstack_merger_list.1.linear_fc2",
                                        "model.visual.deepstack_merger_list.0.linear_fc2"};
    for (int i = 0; i < g->n; i++) {
        mt_node *n = g->nodes[i];
        if (!tu_is_op(n, MT_OP_MASKED_SCATTER) || !tu_is_op(n->args[0].v.t->node, MT_OP_ZEROS_LIKE)) continue;
        cr_assert_lt(k, 2);
        /* source: visual_embeds.to(dtype) of the merger's output */
        const mt_node *to = n->args[2].v.t->node;
        const mt_node *fc2 = to->args[0].v.t->node;
        cr_assert_str_eq(fc2->target, want[k]);
        k++;
    }
    cr_assert_eq(k, 2, "two features for three layers");
    mt_ctx_free(ctx);
}

Test(qwen3_vl, bad_configs_are_located)
{
    static const struct {
        const char *json, *field, *msg;
    } bad[] = {
        {"{\"model_type\": \"qwen3_vl\", \"text_config\": {\"rope_scaling\": {\"mrope_section\": [24, 30, 10]}}, "
         "\"vision_config\": {\"out_hidden_size\": 4096}}",
         "text_config.rope_scaling", "exceed head_dim / 2 = 64"},
        {"{\"model_type\": \"qwen3_vl\", \"text_config\": {\"rope_parameters\": {\"rope_type\": \"yarn\"}}, "
         "\"vision_config\": {\"out_hidden_size\": 4096}}",
         "text_config.rope_parameters", "not modelled"},
        {"{\"model_type\": \"qwen3_vl\", \"text_config\": {}}", "vision_config", "expected a vision_config"},
        {"{\"model_type\": \"qwen3_vl\", \"vision_config\": {}}", "text_config", "expected a text_config"},
        {"{\"model_type\": \"qwen3_vl\", \"text_config\": {}, \"vision_config\": {\"out_hidden_size\": 4096, "
         "\"num_position_embeddings\": 2300}}",
         "vision_config.num_position_embeddings", "a square"},
        {"{\"model_type\": \"qwen3_vl\", \"text_config\": {}, \"vision_config\": {\"out_hidden_size\": 4096, "
         "\"num_position_embeddings\": 2401}}",
         "vision_config.num_position_embeddings", "multiple of spatial_merge_size 2"},
        {"{\"model_type\": \"qwen3_vl\", \"text_config\": {}, \"vision_config\": {\"out_hidden_size\": 4096, "
         "\"hidden_size\": 1160, \"num_heads\": 20}}",
         "vision_config.num_heads", "not a multiple of 4"},
        {"{\"model_type\": \"qwen3_vl\", \"text_config\": {}, \"vision_config\": {}}", "vision_config.out_hidden_size",
         "expected the language model's hidden_size 4096"},
        {"{\"model_type\": \"qwen3_vl\", \"text_config\": {}, \"vision_config\": {\"out_hidden_size\": 4096, "
         "\"deepstack_visual_indexes\": [8, 27]}}",
         "vision_config.deepstack_visual_indexes", "entry 1"},
        {"{\"model_type\": \"qwen3_vl\", \"image_token_id\": 151936, \"text_config\": {}, \"vision_config\": "
         "{\"out_hidden_size\": 4096}}",
         "image_token_id", "outside the vocabulary"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mt_ctx *ctx = mt_ctx_new();
        mt_config *bc = mt_config_parse(ctx, bad[i].json, strlen(bad[i].json), "config.json");
        cr_assert_not_null(bc);
        cr_assert_null(mt_model_build(ctx, bc, NULL), "case %zu built", i);
        const mt_error *e = mt_ctx_error(ctx);
        cr_assert_str_eq(e->field, bad[i].field, "case %zu: %s", i, mt_ctx_errmsg(ctx));
        cr_assert_not_null(strstr(mt_ctx_errmsg(ctx), bad[i].msg), "case %zu: %s", i, mt_ctx_errmsg(ctx));
        mt_ctx_free(ctx);
    }
}

Test(qwen3_vl, cli_note_text_only_and_images)
{
    char *out = NULL, *err = NULL;
    const char *whole[] = {tu_src(CR8B), "--layers", "1", "--bind", "images=2", NULL};
    cr_assert_eq(tu_run_cli(whole, &out, &err), 0, "%s", err);
    cr_assert(strstr(out, "Qwen3VLForConditionalGeneration (model_type qwen3_vl)"), "%s", out);
    cr_assert(strstr(out, "position_ids [3, batch, seq] (get_rope_index's result) is an input"), "%s", out);
    free(out), free(err);
    const char *text[] = {tu_src(CR8B), "--text-only", "--layers", "1", NULL};
    cr_assert_eq(tu_run_cli(text, &out, &err), 0, "%s", err);
    cr_assert(strstr(out, "(model_type qwen3_vl_text)"), "%s", out);
    cr_assert(strstr(out, "model_type 'qwen3_vl' is multimodal"), "%s", out);
    cr_assert_null(strstr(out, "frame pair"), "%s", out);
    free(out), free(err);
}

/* --tp 2 on the tiny qwen3_vl runs: the tower replicated by its conv3d/unbind, the decoder sharded
 * by heads. */
Test(qwen3_vl, tiny_plans)
{
    const char *cfg = tu_write(tu_tmpdir(), "qwen3_vl.config.json", tiny_for("qwen3_vl")->json);
    char *out = NULL, *err = NULL;
    const char *argv[] = {cfg, "--tp", "2", NULL};
    cr_assert_eq(tu_run_cli(argv, &out, &err), 0, "%s", err);
    cr_assert(strstr(out, "tp=2 (ours style) valid"), "%s", out);
    const char *q = strstr(out, "model.language_model.layers.*.self_attn.q_proj ");
    cr_assert(q, "%s", out);
    cr_assert(strstr(out, "model.visual.blocks.*.attn.qkv "), "%s", out);
    free(out), free(err);
}

/* lm_head follows Qwen3VLConfig's own tie_word_embeddings (the 2B and 4B Hub configs set it true at the top
 * level): the tiny qwen3_vl tied loses lm_head's 256*64 = 16384 parameters (200160 - 16384). */
Test(qwen3_vl, top_level_tie)
{
    const char *tiny = tiny_for("qwen3_vl")->json;
    char json[4096];
    cr_assert_eq(strncmp(tiny, "{", 1), 0);
    snprintf(json, sizeof json, "{\"tie_word_embeddings\": true, %s", tiny + 1);
    mt_ctx *ctx = mt_ctx_new();
    mt_config *c = mt_config_parse(ctx, json, strlen(json), "config.json");
    mt_model *m = mt_model_build(ctx, c, NULL);
    cr_assert_not_null(m, "%s", mt_ctx_errmsg(ctx));
    mt_param *head = mt_model_param(m, "lm_head.weight");
    cr_assert(head && head->tied_to, "lm_head tied to the embedding");
    mt_totals t;
    cr_assert_eq(mt_model_totals(m, &t), MT_OK);
    cr_assert_eq(t.params, 200160 - 256 * 64);
    mt_ctx_free(ctx);
}
