/* Qwen2.5-VL (model_type qwen2_5_vl, Qwen2_5_VLForConditionalGeneration): the vision
 * transformer and the Qwen2 decoder with M-RoPE of Qwen/Qwen2.5-VL-3B-Instruct, built
 * whole against its checkpoint index, traced at the fixed grid (docs/cli.md, Multimodal
 * models); --text-only traces the language model alone. Sources of every expected figure
 * are given at each test (samples/configs/SOURCES.md). */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "tiny_configs.h"

#define VL3B "samples/configs/multimodal/Qwen--Qwen2.5-VL-3B-Instruct.config.json"
#define VL3B_INDEX "Qwen--Qwen2.5-VL-3B-Instruct.index.json"

static mt_model *build(mt_ctx *ctx, const char *rel, bool text_only, int64_t layers) {
    mt_config *c = mt_config_load(ctx, tu_src(rel));
    cr_assert_not_null(c, "%s", mt_ctx_errmsg(ctx));
    mt_build_opts o = {.dtype = MT_DTYPE_NONE, .num_layers = layers, .text_only = text_only};
    mt_model *m = mt_model_build(ctx, c, &o);
    cr_assert_not_null(m, "%s", mt_ctx_errmsg(ctx));
    return m;
}

/* The language model of the 3B by hand (top-level fields of its config.json: 36 layers,
 * hidden 2048, 16 heads and 2 KV heads of 128, intermediate 11008, vocab 151936, lm_head
 * tied): layer = q 2048*2048 + 2048, k and v 2*(2048*256 + 256), o 2048*2048, MLP
 * 3*2048*11008, two norms; embedding + final norm. */
static int64_t text_3b(void) {
    int64_t layer = 2048LL * 2048 + 2048 + 2 * (2048LL * 256 + 256) + 2048LL * 2048 + 3 * 2048LL * 11008 + 2 * 2048;
    return 36 * layer + 151936LL * 2048 + 2048;
}

/* Its vision transformer by hand (vision_config: depth 32, hidden 1280, 16 heads,
 * intermediate 3420, 14 px patches over 2 frames of 3 channels, merge 2, out 2048):
 * patch_embed 1280*3*2*14*14 (no bias); block: qkv 1280*3840 + 3840, proj 1280*1280 +
 * 1280, gate/up 2*(1280*3420 + 3420), down 3420*1280 + 1280, norm1 + norm2; merger: ln_q
 * 1280, mlp.0 5120*5120 + 5120, mlp.2 5120*2048 + 2048. */
static int64_t vision_3b(void) {
    int64_t block = 1280LL * 3840 + 3840 + 1280LL * 1280 + 1280 + 2 * (1280LL * 3420 + 3420) + 3420LL * 1280 + 1280 +
                    2 * 1280;
    return 1280LL * 3 * 2 * 14 * 14 + 32 * block + 1280 + 5120LL * 5120 + 5120 + 5120LL * 2048 + 2048;
}

/* The checkpoint's model.safetensors.index.json (tests/data/index, provenance in
 * SOURCES.md): every parameter name (the tied lm_head is not stored), and the total: its
 * metadata.total_size 7,509,245,952 bytes of bfloat16 = 3,754,622,976 parameters, which
 * is the hand count above. */
Test(qwen2_5_vl, vl3b_matches_its_index)
{
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = build(ctx, VL3B, false, 0);
    cr_assert_str_eq(m->model_type, "qwen2_5_vl");
    cr_assert_str_eq(m->class_name, "Qwen2_5_VLForConditionalGeneration");
    cr_assert_eq(m->dtype, MT_BFLOAT16);
    tu_check_index_names(m, VL3B_INDEX, false);
    json_error_t err;
    json_t *idx = json_load_file(tu_src("tests/data/index/" VL3B_INDEX), 0, &err);
    cr_assert_not_null(idx, "%s", err.text);
    int64_t total_size = json_integer_value(json_object_get(json_object_get(idx, "metadata"), "total_size"));
    cr_assert_eq(total_size, 7509245952LL);
    /* 824 stored tensors: embed + 36*12 + norm (language), patch_embed + 32*12 + 5 (merger) */
    cr_assert_eq(json_object_size(json_object_get(idx, "weight_map")), 1 + 36 * 12 + 1 + 1 + 32 * 12 + 5);
    json_decref(idx);
    cr_assert_eq(text_3b(), 3085938688LL);
    cr_assert_eq(vision_3b(), 668684288LL);
    mt_totals t;
    cr_assert_eq(mt_model_totals(m, &t), MT_OK);
    cr_assert_eq(t.params, text_3b() + vision_3b());
    cr_assert_eq(t.param_bytes, total_size);
    cr_assert_eq(t.text_params, text_3b());
    cr_assert_eq(t.text_param_bytes, 2 * text_3b());
    /* shapes by hand from the config (names from the index) */
    TU_SHAPE(m, "visual.patch_embed.proj.weight", 1280, 3, 2, 14, 14);
    TU_SHAPE(m, "visual.blocks.0.attn.qkv.weight", 3840, 1280);
    TU_SHAPE(m, "visual.blocks.0.attn.qkv.bias", 3840);
    TU_SHAPE(m, "visual.blocks.31.attn.proj.weight", 1280, 1280);
    TU_SHAPE(m, "visual.blocks.31.mlp.gate_proj.weight", 3420, 1280);
    TU_SHAPE(m, "visual.blocks.31.mlp.down_proj.weight", 1280, 3420);
    TU_SHAPE(m, "visual.blocks.31.mlp.down_proj.bias", 1280);
    TU_SHAPE(m, "visual.blocks.31.norm2.weight", 1280);
    TU_SHAPE(m, "visual.merger.ln_q.weight", 1280);
    TU_SHAPE(m, "visual.merger.mlp.0.weight", 5120, 5120);
    TU_SHAPE(m, "visual.merger.mlp.2.weight", 2048, 5120);
    TU_SHAPE(m, "visual.merger.mlp.2.bias", 2048);
    TU_SHAPE(m, "model.embed_tokens.weight", 151936, 2048);
    TU_SHAPE(m, "model.layers.35.self_attn.k_proj.weight", 256, 2048);
    TU_SHAPE(m, "model.layers.35.self_attn.k_proj.bias", 256);
    TU_SHAPE(m, "model.layers.35.mlp.up_proj.weight", 11008, 2048);
    cr_assert_null(mt_model_param(m, "model.layers.0.self_attn.o_proj.bias"));
    mt_param *head = mt_model_param(m, "lm_head.weight");
    cr_assert_not_null(head);
    cr_assert_not_null(head->tied_to, "tie_word_embeddings: true");
    /* 4.49's __init__ order: visual, model, lm_head */
    cr_assert_str_eq(((mt_param *)m->params.items[0])->name, "visual.patch_embed.proj.weight");
    /* the vision rotary: Qwen2_5_VisionRotaryEmbedding(head_dim 80 // 2): arange(0, 40, 2) */
    const mt_param *inv = mt_model_param(m, "visual.rotary_pos_emb.inv_freq");
    cr_assert(inv && inv->is_buffer && !inv->persistent);
    cr_assert_eq(mt_sym_const_value(inv->t->shape[0]), 20);
    /* the decoder's: head_dim 128 // 2 */
    inv = mt_model_param(m, "model.rotary_emb.inv_freq");
    cr_assert(inv && mt_sym_const_value(inv->t->shape[0]) == 64);
    /* the fixed grid: 4 windows of 112 px // 14 = 8 patches a side: 32 x 32 patches, 448 px,
     * (32 / 2)^2 = 256 image tokens */
    cr_assert_not_null(m->note);
    cr_assert_not_null(strstr(m->note, "448 x 448 px frame pair (a 32 x 32 patch grid, 4 x 4 attention windows, "
                                       "256 image tokens)"),
                       "%s", m->note);
    mt_ctx_free(ctx);
}

/* --text-only: the top-level fields (no text_config in the Hub config) as
 * Qwen2_5_VLTextConfig; the names are the index's without visual.*, the count the
 * language model's by hand. */
Test(qwen2_5_vl, vl3b_text_only)
{
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = build(ctx, VL3B, true, 0);
    cr_assert_str_eq(m->model_type, "qwen2_5_vl_text");
    cr_assert_not_null(strstr(m->note, "the vision transformer"), "%s", m->note);
    mt_totals t;
    cr_assert_eq(mt_model_totals(m, &t), MT_OK);
    cr_assert_eq(t.params, text_3b());
    int n;
    char **keys = tu_index_keys(VL3B_INDEX, &n);
    int text_keys = 0;
    for (int i = 0; i < n; i++) {
        if (strncmp(keys[i], "visual.", 7) != 0) {
            text_keys++;
            cr_assert_not_null(mt_model_param(m, keys[i]), "%s", keys[i]);
        }
        free(keys[i]);
    }
    free(keys);
    cr_assert_eq(m->params.n, text_keys + 1, "the index's language tensors and the tied lm_head");
    /* position_ids = cache_position.view(1, 1, -1).expand(3, batch, -1): M-RoPE's three rows */
    mt_graph *g = tu_trace(m);
    tu_check_logits(m, g, 151936);
    cr_assert_eq(m->inputs.n, 2);
    mt_node *mm = tu_first_op(g, MT_OP_MATMUL, "model.rotary_emb");
    cr_assert_not_null(mm);
    cr_assert_eq(mm->outs[0].ndim, 4);
    cr_assert_eq(mt_sym_const_value(mm->outs[0].shape[0]), 3);
    cr_assert_eq(mt_sym_const_value(mm->outs[0].shape[2]), 64);
    mt_ctx_free(ctx);
}

/* The trace at 8 blocks and 8 layers (--layers counts both): pixel_values [images * 1024, 3*2*14*14]; the Conv3d to
 * 1280; the window order and its reverse (argsort) over images * 256 merged tokens; windowed
 * blocks attend in 16 windows of 64 patches an image, block 7 (fullatt_block_indexes) over
 * each image's 1,024; the merge where input_ids == 151655; the decoder's M-RoPE split by
 * mrope_section [16, 24, 24] twice; the KV cache is the language model's alone. */
Test(qwen2_5_vl, vl3b_trace_windows_merge_and_mrope)
{
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = build(ctx, VL3B, false, 8);
    mt_graph *g = tu_trace(m);
    tu_check_logits(m, g, 151936);
    cr_assert_eq(m->inputs.n, 5);
    const mt_tensor *pos = m->inputs.items[2], *px = m->inputs.items[3], *grid = m->inputs.items[4];
    cr_assert_eq(pos->dtype, MT_INT64);
    cr_assert_eq(mt_sym_const_value(pos->shape[0]), 3);
    cr_assert_str_eq(mt_sym_str(pos->shape[2]), "seq");
    cr_assert_eq(px->dtype, MT_BFLOAT16);
    cr_assert_str_eq(mt_sym_str(px->shape[0]), "1024*images");
    cr_assert_eq(mt_sym_const_value(px->shape[1]), 3 * 2 * 14 * 14);
    cr_assert_str_eq(mt_sym_str(grid->shape[0]), "images");
    const mt_symbol_info *si = mt_sym_info_of(ctx, grid->shape[0]);
    cr_assert_eq(si->lo, 1);
    cr_assert_str_eq(mt_sym_str(si->hi), "(batch*seq)//256");
    mt_node *conv = tu_first_op(g, MT_OP_CONV3D, "visual.patch_embed.proj");
    cr_assert_not_null(conv);
    cr_assert_eq(conv->outs[0].ndim, 5);
    cr_assert_eq(mt_sym_const_value(conv->outs[0].shape[1]), 1280);
    cr_assert_eq(mt_sym_const_value(conv->outs[0].shape[2]), 1);
    cr_assert_eq(conv->args[2].kind, MT_ARG_NONE, "proj has no bias");
    mt_node *as = tu_first_op(g, MT_OP_ARGSORT, "visual");
    cr_assert_not_null(as);
    cr_assert_str_eq(mt_sym_str(as->outs[0].shape[0]), "256*images");
    mt_node *outer = tu_first_op(g, MT_OP_OUTER, "visual.rotary_pos_emb");
    cr_assert(outer && mt_sym_const_value(outer->outs[0].shape[0]) == 32 &&
              mt_sym_const_value(outer->outs[0].shape[1]) == 20);
    cr_assert_eq(tu_count_ops(g, MT_OP_UNBIND, "visual"), 8);
    cr_assert_eq(tu_count_ops(g, MT_OP_SDPA, "visual"), 8);
    int windowed = 0, full = 0;
    for (int i = 0; i < g->n; i++) {
        mt_node *n = g->nodes[i];
        if (!tu_is_op(n, MT_OP_SDPA) || !tu_under(n, "visual")) continue;
        const char *b = mt_sym_str(n->outs[0].shape[0]);
        int64_t len = mt_sym_const_value(n->outs[0].shape[2]);
        cr_assert_eq(mt_sym_const_value(n->outs[0].shape[1]), 16);
        if (strcmp(b, "16*images") == 0 && len == 64) windowed++;
        else if (strcmp(b, "images") == 0 && len == 1024) {
            full++;
            cr_assert(tu_under(n, "visual.blocks.7"), "only block 7 of the first 8 attends over the whole image");
        } else
            cr_assert_fail("vision attention over [%s, 16, %lld]", b, (long long)len);
    }
    cr_assert_eq(windowed, 7);
    cr_assert_eq(full, 1);
    mt_node *ms = tu_first_op(g, MT_OP_MASKED_SCATTER, NULL);
    cr_assert_not_null(ms);
    const mt_tensor *src = ms->args[2].v.t;
    cr_assert_str_eq(mt_sym_str(src->shape[0]), "256*images");
    cr_assert_eq(mt_sym_const_value(src->shape[1]), 2048);
    mt_node *eq = ms->args[1].v.t->node; /* expand <- unsqueeze <- eq */
    eq = eq->args[0].v.t->node;
    eq = eq->args[0].v.t->node;
    cr_assert(tu_is_op(eq, MT_OP_EQ));
    cr_assert_eq(eq->args[1].v.i, 151655);
    /* M-RoPE: cos and sin split by mrope_section * 2 in each of the 2 layers */
    mt_node *sp = tu_first_op(g, MT_OP_SPLIT, "model.layers.0.self_attn");
    cr_assert_not_null(sp);
    cr_assert_eq(sp->nout, 6);
    static const int64_t sec[6] = {16, 24, 24, 16, 24, 24};
    for (int i = 0; i < 6; i++) cr_assert_eq(mt_sym_const_value(sp->outs[i].shape[3]), sec[i]);
    cr_assert_eq(tu_count_ops(g, MT_OP_SPLIT, NULL), 16, "cos and sin in each of the 8 layers, nowhere else");
    mt_sizing s;
    mt_sizing_opts so = {.kv_dtype = MT_DTYPE_NONE, .seq = 4096};
    cr_assert_eq(mt_model_sizing(m, g, &so, &s), MT_OK, "%s", mt_ctx_errmsg(ctx));
    /* 8 language layers * (K + V) * 2 KV heads * 128 * 2 bytes; the 8 vision blocks cache nothing */
    cr_assert_eq(s.kv_bytes_per_token, 8 * 2 * 2 * 128 * 2);
    int bidir = 0;
    for (int i = 0; i < s.nattn; i++) bidir += s.attn[i].kind == MT_ATTN_BIDIRECTIONAL;
    cr_assert_eq(bidir, 8);
    mt_ctx_free(ctx);
}

/* Qwen/Qwen2.5-VL-7B-Instruct as transformers 4.53 re-saves it, with a text_config (fields as in
 * the re-saved config.json embedded in public code, code-search file id 1959876389; repository not
 * named by the tool): the nested layout reads the same. By hand: language model (28 layers, hidden
 * 3584, 28 heads and 4 KV heads of 128, intermediate 18944, vocab 152064, untied) layer = q 3584^2 +
 * 3584, k and v 2*(3584*512 + 512), o 3584^2, MLP 3*3584*18944, two norms; embedding and lm_head
 * 152064*3584 each, final norm. Vision as the 3B's but mlp.2 5120 -> 3584. A public parameter
 * analysis of the 7B (code search, repository not named) prints 676.55M for the vision encoder,
 * 7.07B language model + 545.00M other components (lm_head), 8.29B in all. */
Test(qwen2_5_vl, vl7b_text_config_layout)
{
    const char *json =
        "{\"architectures\": [\"Qwen2_5_VLForConditionalGeneration\"], \"model_type\": \"qwen2_5_vl\", "
        "\"image_token_id\": 151655, \"tie_word_embeddings\": false, \"torch_dtype\": \"bfloat16\", "
        "\"text_config\": {\"hidden_act\": \"silu\", \"hidden_size\": 3584, \"intermediate_size\": 18944, "
        "\"max_position_embeddings\": 128000, \"max_window_layers\": 28, \"model_type\": \"qwen2_5_vl_text\", "
        "\"num_attention_heads\": 28, \"num_hidden_layers\": 28, \"num_key_value_heads\": 4, \"rms_norm_eps\": 1e-06, "
        "\"rope_scaling\": {\"mrope_section\": [16, 24, 24], \"rope_type\": \"default\", \"type\": \"default\"}, "
        "\"rope_theta\": 1000000.0, \"sliding_window\": null, \"use_sliding_window\": false, \"vocab_size\": 152064}, "
        "\"vision_config\": {\"depth\": 32, \"fullatt_block_indexes\": [7, 15, 23, 31], \"hidden_act\": \"silu\", "
        "\"hidden_size\": 1280, \"in_channels\": 3, \"intermediate_size\": 3420, \"num_heads\": 16, "
        "\"out_hidden_size\": 3584, \"patch_size\": 14, \"spatial_merge_size\": 2, \"temporal_patch_size\": 2, "
        "\"window_size\": 112}}";
    mt_ctx *ctx = mt_ctx_new();
    mt_config *c = mt_config_parse(ctx, json, strlen(json), "config.json");
    mt_model *m = mt_model_build(ctx, c, NULL);
    cr_assert_not_null(m, "%s", mt_ctx_errmsg(ctx));
    int64_t layer = 3584LL * 3584 + 3584 + 2 * (3584LL * 512 + 512) + 3584LL * 3584 + 3 * 3584LL * 18944 + 2 * 3584;
    int64_t text = 28 * layer + 2 * 152064LL * 3584 + 3584;
    int64_t vision = vision_3b() - (5120LL * 2048 + 2048) + 5120LL * 3584 + 3584;
    cr_assert_eq(vision, 676550144LL);         /* 676.55M */
    cr_assert_eq(text, 7615616512LL);          /* 7.07B + 545.00M (lm_head 152064 * 3584) */
    cr_assert_eq(text + vision, 8292166656LL); /* 8.29B */
    /* the published figures, rounded as printed */
    cr_assert_eq((vision + 5000) / 10000, 67655);                          /* 676.55M */
    cr_assert_eq((text - 152064LL * 3584 + 5000000) / 10000000, 707);      /* 7.07B */
    cr_assert_eq((152064LL * 3584 + 5000) / 10000, 54500);                 /* 545.00M */
    cr_assert_eq((text + vision + 5000000) / 10000000, 829);               /* 8.29B */
    mt_totals t;
    cr_assert_eq(mt_model_totals(m, &t), MT_OK);
    cr_assert_eq(t.params, text + vision);
    cr_assert_eq(t.text_params, text);
    cr_assert_null(mt_model_param(m, "lm_head.weight")->tied_to);
    TU_SHAPE(m, "visual.merger.mlp.2.weight", 3584, 5120);
    TU_SHAPE(m, "model.layers.27.self_attn.v_proj.weight", 512, 3584);
    mt_ctx_free(ctx);
}

Test(qwen2_5_vl, bad_configs_are_located)
{
    static const struct {
        const char *json, *field, *msg;
    } bad[] = {
        {"{\"model_type\": \"qwen2_5_vl\", \"vision_config\": {}, \"rope_scaling\": {\"type\": \"mrope\", "
         "\"mrope_section\": [16, 24, 25]}}",
         "rope_scaling.mrope_section", "expected head_dim / 2 = 64"},
        {"{\"model_type\": \"qwen2_5_vl\", \"vision_config\": {}}", "rope_scaling", "mrope_section"},
        {"{\"model_type\": \"qwen2_5_vl\", \"vision_config\": {}, \"rope_scaling\": {\"type\": \"yarn\", "
         "\"mrope_section\": [16, 24, 24]}}",
         "rope_scaling.type", "not modelled"},
        {"{\"model_type\": \"qwen2_5_vl\", \"rope_scaling\": {\"mrope_section\": [16, 24, 24]}}", "vision_config",
         "expected a vision_config"},
        {"{\"model_type\": \"qwen2_5_vl\", \"hidden_size\": 3584, \"num_attention_heads\": 28, \"vision_config\": "
         "{\"window_size\": 100}, \"rope_scaling\": {\"mrope_section\": [16, 24, 24]}}",
         "vision_config.window_size", "not a positive multiple"},
        {"{\"model_type\": \"qwen2_5_vl\", \"hidden_size\": 3584, \"num_attention_heads\": 28, \"vision_config\": "
         "{\"hidden_size\": 1290, \"num_heads\": 15}, \"rope_scaling\": {\"mrope_section\": [16, 24, 24]}}",
         "vision_config.num_heads", "not a multiple of 4"},
        {"{\"model_type\": \"qwen2_5_vl\", \"vision_config\": {\"out_hidden_size\": 2048}, "
         "\"rope_scaling\": {\"mrope_section\": [16, 24, 24]}}",
         "vision_config.out_hidden_size", "expected the language model's hidden_size 8192"},
        {"{\"model_type\": \"qwen2_5_vl\", \"hidden_size\": 3584, \"num_attention_heads\": 28, \"vision_config\": "
         "{\"fullatt_block_indexes\": [7, 32]}, \"rope_scaling\": {\"mrope_section\": [16, 24, 24]}}",
         "vision_config.fullatt_block_indexes", "entry 1"},
        {"{\"model_type\": \"qwen2_5_vl\", \"image_token_id\": 152064, \"hidden_size\": 3584, "
         "\"num_attention_heads\": 28, \"num_key_value_heads\": 4, \"vision_config\": {}, \"rope_scaling\": {\"mrope_section\": [16, 24, 24]}}",
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

Test(qwen2_5_vl, cli_note_text_only_and_images)
{
    char *out = NULL, *err = NULL;
    const char *whole[] = {tu_src(VL3B), "--layers", "1", "--bind", "images=2", NULL};
    cr_assert_eq(tu_run_cli(whole, &out, &err), 0, "%s", err);
    cr_assert(strstr(out, "Qwen2_5_VLForConditionalGeneration (model_type qwen2_5_vl)"), "%s", out);
    cr_assert(strstr(out, "position_ids [3, batch, seq] (get_rope_index's result) is an input"), "%s", out);
    free(out), free(err);
    const char *text[] = {tu_src(VL3B), "--text-only", "--layers", "1", NULL};
    cr_assert_eq(tu_run_cli(text, &out, &err), 0, "%s", err);
    cr_assert(strstr(out, "(model_type qwen2_5_vl_text)"), "%s", out);
    cr_assert(strstr(out, "model_type 'qwen2_5_vl' is multimodal"), "%s", out);
    cr_assert_null(strstr(out, "frame pair"), "%s", out);
    free(out), free(err);
}

/* --tp 2 on the tiny qwen2_5_vl runs: the tower replicated by its conv3d/unbind/argsort,
 * the decoder sharded by heads. */
Test(qwen2_5_vl, tiny_plans)
{
    const char *cfg = tu_write(tu_tmpdir(), "qwen2_5_vl.config.json", tiny_for("qwen2_5_vl")->json);
    char *out = NULL, *err = NULL;
    const char *argv[] = {cfg, "--tp", "2", NULL};
    cr_assert_eq(tu_run_cli(argv, &out, &err), 0, "%s", err);
    cr_assert(strstr(out, "tp=2 (ours style) valid"), "%s", out);
    const char *q = strstr(out, "model.layers.*.self_attn.q_proj ");
    cr_assert(q && strncmp(q + strspn(q + 32, " ") + 32, "colwise\n", 8) == 0, "%s", out);
    cr_assert(strstr(out, "visual.blocks.*.attn.qkv "), "%s", out);
    free(out), free(err);
}
