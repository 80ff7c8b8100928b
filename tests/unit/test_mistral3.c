/* Mistral 3 (model_type mistral3, Mistral3ForConditionalGeneration): the Pixtral
 * tower, the projector with its patch merger, and the Mistral language model of
 * mistralai/Mistral-Small-3.1-24B-Instruct-2503, built whole and traced at the
 * config's fixed resolution; --text-only traces the language model alone.
 * Sources of every expected figure are given at each test (SOURCES.md). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "tiny_configs.h"

#define SMALL31 "samples/configs/multimodal/mistralai--Mistral-Small-3.1-24B-Instruct-2503.config.json"

static mt_model *build(mt_ctx *ctx, const char *rel, bool text_only, int64_t layers) {
    mt_config *c = mt_config_load(ctx, tu_src(rel));
    cr_assert_not_null(c, "%s", mt_ctx_errmsg(ctx));
    mt_build_opts o = {.dtype = MT_DTYPE_NONE, .num_layers = layers, .text_only = text_only};
    mt_model *m = mt_model_build(ctx, c, &o);
    cr_assert_not_null(m, "%s", mt_ctx_errmsg(ctx));
    return m;
}

/* The Pixtral tower of Mistral Small 3.1 by hand (hidden 1024, intermediate 4096, 24
 * layers, no biases, 1540 px in 14 px patches): patch_conv 1024*3*14*14, ln_pre 1024;
 * layer: k/v/q/o_proj 4*1024*1024, gate/up/down_proj 3*1024*4096, attention_norm and
 * ffn_norm 2*1024. */
static int64_t pixtral_small31(void) {
    int64_t layer = 4 * 1024LL * 1024 + 3 * 1024LL * 4096 + 2 * 1024;
    return 1024LL * 3 * 14 * 14 + 1024 + 24 * layer;
}

/* The language model by hand (MistralConfig from text_config: 40 layers, hidden 5120,
 * 32 heads and 8 KV heads of 128, intermediate 32768, vocab 131072, untied head):
 * layer = q 5120*4096 + k, v 2*5120*1024 + o 4096*5120 + MLP 3*5120*32768 + 2 norms;
 * embedding + final norm + lm_head. */
static int64_t mistral_small31_text(void) {
    int64_t layer = 5120LL * 4096 + 2 * 5120LL * 1024 + 4096LL * 5120 + 3 * 5120LL * 32768 + 2 * 5120;
    return 40 * layer + 131072LL * 5120 + 5120 + 131072LL * 5120;
}

Test(mistral3, small31_whole_checkpoint)
{
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = build(ctx, SMALL31, false, 0);
    cr_assert_str_eq(m->model_type, "mistral3");
    cr_assert_str_eq(m->class_name, "Mistral3ForConditionalGeneration");
    cr_assert_eq(m->dtype, MT_BFLOAT16);
    /* the language model equals the metadata.total_parameters of the index of
     * mistralai/Devstral-Small-2507 (public mirror fetchwiki/mistralai-Devstral-Small-2507),
     * Mistral Small 3.1's language model fine-tuned with the vision encoder removed */
    cr_assert_eq(mistral_small31_text(), 23572403200LL);
    cr_assert_eq(pixtral_small31(), 403305472LL);
    /* projector: norm 1024, merging_layer 4096*1024, linear_1 1024*5120, linear_2 5120*5120 (no bias) */
    int64_t proj = 1024 + 4096LL * 1024 + 1024LL * 5120 + 5120LL * 5120;
    mt_totals t;
    cr_assert_eq(mt_model_totals(m, &t), MT_OK);
    cr_assert_eq(t.text_params, mistral_small31_text());
    cr_assert_eq(t.params, mistral_small31_text() + pixtral_small31() + proj);
    /* keras-hub's Mistral3 presets (keras_hub/src/models/mistral3/mistral3_presets.py) publish
     * 24,011,361,280 parameters for mistral_small_3.1_24b (base and instruct) */
    cr_assert_eq(t.params, 24011361280LL);
    cr_assert_eq(t.param_bytes, 2 * t.params);
    /* 585 tensors: the count transformers' loader reports for a Mistral 3 checkpoint of 40
     * decoder layers and this 24-layer tower (Devstral-Small-2-24B's log, "Loading weights:
     * 585/585"); by hand 1 + 40*9 + 1 + 1 (language) + 2 + 24*9 (tower) + 4 (projector) */
    cr_assert_eq(m->params.n, 585);
    cr_assert_eq(1 + 40 * 9 + 1 + 1 + 2 + 24 * 9 + 4, 585);
    /* the checkpoint's layout: vision_tower.*, multi_modal_projector.*, language_model.model.*,
     * language_model.lm_head (Mistral3ForConditionalGeneration._checkpoint_conversion_mapping) */
    TU_SHAPE(m, "vision_tower.patch_conv.weight", 1024, 3, 14, 14);
    TU_SHAPE(m, "vision_tower.ln_pre.weight", 1024);
    TU_SHAPE(m, "vision_tower.transformer.layers.0.attention.k_proj.weight", 1024, 1024);
    TU_SHAPE(m, "vision_tower.transformer.layers.23.attention.o_proj.weight", 1024, 1024);
    TU_SHAPE(m, "vision_tower.transformer.layers.23.feed_forward.gate_proj.weight", 4096, 1024);
    TU_SHAPE(m, "vision_tower.transformer.layers.23.feed_forward.down_proj.weight", 1024, 4096);
    TU_SHAPE(m, "vision_tower.transformer.layers.23.attention_norm.weight", 1024);
    TU_SHAPE(m, "vision_tower.transformer.layers.23.ffn_norm.weight", 1024);
    TU_SHAPE(m, "multi_modal_projector.norm.weight", 1024);
    TU_SHAPE(m, "multi_modal_projector.patch_merger.merging_layer.weight", 1024, 4096);
    TU_SHAPE(m, "multi_modal_projector.linear_1.weight", 5120, 1024);
    TU_SHAPE(m, "multi_modal_projector.linear_2.weight", 5120, 5120);
    TU_SHAPE(m, "language_model.model.embed_tokens.weight", 131072, 5120);
    TU_SHAPE(m, "language_model.model.layers.39.self_attn.k_proj.weight", 1024, 5120);
    TU_SHAPE(m, "language_model.model.layers.39.mlp.up_proj.weight", 32768, 5120);
    TU_SHAPE(m, "language_model.model.norm.weight", 5120);
    TU_SHAPE(m, "language_model.lm_head.weight", 131072, 5120);
    cr_assert_null(mt_model_param(m, "language_model.lm_head.weight")->tied_to, "text_config leaves the head untied");
    cr_assert_null(mt_model_param(m, "multi_modal_projector.linear_1.bias"));
    /* Mistral3Model.__init__ order: vision_tower, multi_modal_projector, language_model */
    cr_assert_str_eq(((mt_param *)m->params.items[0])->name, "vision_tower.patch_conv.weight");
    cr_assert_str_eq(((mt_param *)m->params.items[m->params.n - 1])->name, "language_model.lm_head.weight");
    /* the 2-D rotary table: one row per position of the 110 x 110 grid, head_dim 64 */
    const mt_param *inv = mt_model_param(m, "vision_tower.patch_positional_embedding.inv_freq");
    cr_assert_not_null(inv);
    cr_assert(inv->is_buffer && !inv->persistent);
    cr_assert_eq(mt_sym_const_value(inv->t->shape[0]), 110 * 110);
    cr_assert_eq(mt_sym_const_value(inv->t->shape[1]), 64);
    /* the fixed-resolution assumption is stated in the build's note */
    cr_assert_not_null(m->note);
    cr_assert_not_null(strstr(m->note, "1540 x 1540 px, a 110 x 110 patch grid, 3025 image tokens each"), "%s",
                       m->note);
    mt_ctx_free(ctx);
}

/* --text-only: MistralForCausalLM from text_config, named as the standalone checkpoint
 * (model.*, lm_head), with the language model's count. */
Test(mistral3, small31_text_only)
{
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = build(ctx, SMALL31, true, 0);
    cr_assert_str_eq(m->model_type, "mistral");
    cr_assert_str_eq(m->class_name, "MistralForCausalLM");
    cr_assert_not_null(strstr(m->note, "the Pixtral vision tower"), "%s", m->note);
    mt_totals t;
    cr_assert_eq(mt_model_totals(m, &t), MT_OK);
    cr_assert_eq(t.params, 23572403200LL);
    TU_SHAPE(m, "model.layers.39.self_attn.q_proj.weight", 4096, 5120);
    mt_ctx_free(ctx);
}

/* The trace at 2 layers each: pixel_values [images, 3, 1540, 1540]; the convolution
 * to 110 x 110 patches, the rotary table read at arange(12100), the merger's unfold of
 * [images, 1024, 110, 110] into 55 x 55 = 3025 blocks of 1024 * 4, the merge where
 * input_ids == 10; the KV cache is the language model's alone. */
Test(mistral3, small31_trace_merge_and_sizing)
{
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = build(ctx, SMALL31, false, 2);
    mt_graph *g = tu_trace(m);
    tu_check_logits(m, g, 131072);
    cr_assert_eq(m->inputs.n, 3);
    const mt_tensor *px = m->inputs.items[2];
    cr_assert_eq(px->dtype, MT_BFLOAT16);
    cr_assert_str_eq(mt_sym_str(px->shape[0]), "images");
    cr_assert_eq(mt_sym_const_value(px->shape[1]), 3);
    cr_assert_eq(mt_sym_const_value(px->shape[2]), 1540);
    cr_assert_eq(mt_sym_const_value(px->shape[3]), 1540);
    const mt_symbol_info *si = mt_sym_info_of(ctx, px->shape[0]);
    cr_assert_eq(si->lo, 1);
    cr_assert_str_eq(mt_sym_str(si->hi), "(batch*seq)//3025");
    mt_node *conv = tu_first_op(g, MT_OP_CONV2D, "vision_tower");
    cr_assert_not_null(conv);
    cr_assert_eq(mt_sym_const_value(conv->outs[0].shape[2]), 110);
    cr_assert_eq(conv->args[2].kind, MT_ARG_NONE, "patch_conv has no bias");
    mt_node *ar = tu_first_op(g, MT_OP_ARANGE, "vision_tower");
    cr_assert_not_null(ar);
    cr_assert_eq(mt_sym_const_value(ar->outs[0].shape[0]), 12100);
    mt_node *gi = tu_first_op(g, MT_OP_GETITEM, "vision_tower.patch_positional_embedding");
    cr_assert_not_null(gi);
    cr_assert_eq(mt_sym_const_value(gi->outs[0].shape[0]), 12100);
    cr_assert_eq(mt_sym_const_value(gi->outs[0].shape[1]), 64);
    cr_assert_eq(gi->outs[0].dtype, MT_FLOAT32);
    /* no mask in the tower: attention batched per image */
    cr_assert_eq(tu_count_ops(g, MT_OP_SDPA, "vision_tower"), 2);
    mt_node *sd = tu_first_op(g, MT_OP_SDPA, "vision_tower");
    cr_assert_str_eq(mt_sym_str(sd->outs[0].shape[0]), "images");
    cr_assert_eq(mt_sym_const_value(sd->outs[0].shape[2]), 12100);
    mt_node *uf = tu_first_op(g, MT_OP_UNFOLD, "multi_modal_projector.patch_merger");
    cr_assert_not_null(uf);
    const mt_tensor *ufin = uf->args[0].v.t;
    cr_assert_eq(mt_sym_const_value(ufin->shape[1]), 1024);
    cr_assert_eq(mt_sym_const_value(ufin->shape[2]), 110);
    cr_assert_eq(mt_sym_const_value(uf->outs[0].shape[1]), 4096);
    cr_assert_eq(mt_sym_const_value(uf->outs[0].shape[2]), 3025);
    mt_node *ms = tu_first_op(g, MT_OP_MASKED_SCATTER, NULL);
    cr_assert_not_null(ms);
    const mt_tensor *src = ms->args[2].v.t;
    cr_assert_eq(src->ndim, 2);
    cr_assert_str_eq(mt_sym_str(src->shape[0]), "3025*images");
    cr_assert_eq(mt_sym_const_value(src->shape[1]), 5120);
    mt_node *eq = ms->args[1].v.t->node; /* expand <- unsqueeze <- eq */
    eq = eq->args[0].v.t->node;
    eq = eq->args[0].v.t->node;
    cr_assert(tu_is_op(eq, MT_OP_EQ));
    cr_assert_eq(eq->args[1].v.i, 10);
    mt_sizing s;
    mt_sizing_opts so = {.kv_dtype = MT_DTYPE_NONE, .seq = 4096};
    cr_assert_eq(mt_model_sizing(m, g, &so, &s), MT_OK, "%s", mt_ctx_errmsg(ctx));
    /* 2 language layers * (K + V) * 8 KV heads * 128 * 2 bytes; the 2 tower layers cache nothing */
    cr_assert_eq(s.kv_bytes_per_token, 2 * 2 * 8 * 128 * 2);
    int bidir = 0;
    for (int i = 0; i < s.nattn; i++) bidir += s.attn[i].kind == MT_ATTN_BIDIRECTIONAL;
    cr_assert_eq(bidir, 2);
    mt_ctx_free(ctx);
}

Test(mistral3, whole_model_kv_equals_text_only)
{
    /* 40 layers * 2 * 8 KV heads * 128 * 2 bytes = 163,840 B/token, both ways */
    int64_t kv[2];
    for (int k = 0; k < 2; k++) {
        mt_ctx *ctx = mt_ctx_new();
        mt_model *m = build(ctx, SMALL31, k == 1, 0);
        mt_sizing s;
        cr_assert_eq(mt_model_sizing(m, tu_trace(m), NULL, &s), MT_OK, "%s", mt_ctx_errmsg(ctx));
        kv[k] = s.kv_bytes_per_token;
        mt_ctx_free(ctx);
    }
    cr_assert_eq(kv[0], 40LL * 2 * 8 * 128 * 2);
    cr_assert_eq(kv[1], kv[0]);
}

/* vision_feature_layer -2 takes hidden_states[-2]: the output of the second-to-last
 * layer feeds the projector (the last layer is still traced, as transformers runs it). */
Test(mistral3, vision_feature_layer_picks_a_hidden_state)
{
    const char *json = "{\"model_type\": \"mistral3\", \"image_token_index\": 255, \"vision_feature_layer\": -2, "
                       "\"torch_dtype\": \"float32\", \"text_config\": {\"vocab_size\": 256, \"hidden_size\": 64, "
                       "\"intermediate_size\": 128, \"num_hidden_layers\": 1, \"num_attention_heads\": 4, "
                       "\"num_key_value_heads\": 2}, \"vision_config\": {\"hidden_size\": 32, "
                       "\"intermediate_size\": 64, \"num_hidden_layers\": 2, \"num_attention_heads\": 2, "
                       "\"image_size\": 28, \"patch_size\": 7}}";
    mt_ctx *ctx = mt_ctx_new();
    mt_config *c = mt_config_parse(ctx, json, strlen(json), "config.json");
    mt_model *m = mt_model_build(ctx, c, NULL);
    cr_assert_not_null(m, "%s", mt_ctx_errmsg(ctx));
    mt_graph *g = tu_trace(m);
    /* the projector's norm reads layer 0's output: the residual add after its MLP */
    mt_node *first = tu_first_op(g, MT_OP_TO, "multi_modal_projector.norm");
    cr_assert_not_null(first);
    const mt_node *src = first->args[0].v.t->node;
    cr_assert(tu_is_op(src, MT_OP_ADD));
    cr_assert(tu_under(src, "vision_tower.transformer.layers.0"));
    cr_assert(!tu_under(src, "vision_tower.transformer.layers.1"));
    mt_ctx_free(ctx);
}

Test(mistral3, bad_configs_are_located)
{
    static const struct {
        const char *json, *field, *msg;
    } bad[] = {
        {"{\"model_type\": \"mistral3\", \"vision_feature_layer\": [-1, -2], \"text_config\": {}, \"vision_config\": {}}",
         "vision_feature_layer", "expected an int"},
        {"{\"model_type\": \"mistral3\", \"vision_feature_layer\": -26, \"text_config\": {}, \"vision_config\": {}}",
         "vision_feature_layer", "not an index of the tower's 25 hidden states"},
        {"{\"model_type\": \"mistral3\", \"spatial_merge_size\": 70, \"text_config\": {}, \"vision_config\": {}}",
         "spatial_merge_size", "more than the 64 patches a side"},
        {"{\"model_type\": \"mistral3\", \"image_token_index\": 32768, \"text_config\": {}, \"vision_config\": {}}",
         "image_token_index", "outside the vocabulary (32000)"},
        {"{\"model_type\": \"mistral3\", \"text_config\": {\"model_type\": \"llama\"}, \"vision_config\": {}}",
         "text_config.model_type", "traces a mistral language model"},
        {"{\"model_type\": \"mistral3\", \"text_config\": {}, \"vision_config\": {\"model_type\": \"siglip_vision_model\"}}",
         "vision_config.model_type", "expected \"pixtral\""},
        {"{\"model_type\": \"mistral3\", \"text_config\": {}, \"vision_config\": {\"num_attention_heads\": 3}}",
         "vision_config.num_attention_heads", "not divisible"},
        {"{\"model_type\": \"mistral3\", \"text_config\": {}, \"vision_config\": {\"image_size\": 10}}",
         "vision_config.patch_size", "larger than image_size"},
        {"{\"model_type\": \"mistral3\", \"text_config\": {}, \"vision_config\": {\"rope_parameters\": "
         "{\"rope_type\": \"linear\"}}}",
         "vision_config.rope_parameters.rope_type", "non-default RoPE"},
        {"{\"model_type\": \"mistral3\", \"vision_config\": {}}", "text_config", "expected a text_config"},
        {"{\"model_type\": \"mistral3\", \"text_config\": {}, \"vision_config\": {\"hidden_act\": \"swish2\"}}",
         "vision_config.hidden_act", "unsupported activation"},
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

Test(mistral3, cli_note_text_only_and_images)
{
    char *out = NULL, *err = NULL;
    const char *whole[] = {tu_src(SMALL31), "--layers", "1", "--bind", "images=2", NULL};
    cr_assert_eq(tu_run_cli(whole, &out, &err), 0, "%s", err);
    cr_assert(strstr(out, "Mistral3ForConditionalGeneration (model_type mistral3)"), "%s", out);
    cr_assert(strstr(out, "images are traced at vision_config.image_size"), "%s", out);
    cr_assert(strstr(out, "without the vision tower and projector"), "%s", out);
    free(out), free(err);
    const char *text[] = {tu_src(SMALL31), "--text-only", "--layers", "1", NULL};
    cr_assert_eq(tu_run_cli(text, &out, &err), 0, "%s", err);
    cr_assert(strstr(out, "MistralForCausalLM (model_type mistral)"), "%s", out);
    cr_assert(strstr(out, "model_type 'mistral3' is multimodal"), "%s", out);
    cr_assert_null(strstr(out, "images are traced"), "%s", out);
    free(out), free(err);
}

/* --tp 2 on the tiny mistral3 (tests/tiny_configs.h): `images` taken at its bound, 4096
 * tokens // 4 = 1024 images of 16 patches, so 4 tower tokens and 1 merged image token per
 * text token. By hand, float32, per text token and rank (an all-reduce moves 2(t-1)/t = 1 x
 * the tensor, an all-gather (t-1)/t = 1/2): tower layers 2 x 2 all-reduces x 4 tokens x 32 x
 * 4 B = 2048; the merger's output gathered 1/2 x 32 x 4 B = 64 and linear_2's all-reduce 64 x
 * 4 B = 256; language layers 2 x 2 x 64 x 4 B = 1024; the embedding's and lm_head's gathers
 * 1/2 x 64 x 4 B = 128 and 1/2 x 256 x 4 B = 512: 4032. */
Test(mistral3, tiny_plan_shards_the_tower)
{
    const char *cfg = tu_write(tu_tmpdir(), "mistral3.config.json", tiny_for("mistral3")->json);
    char *out = NULL, *err = NULL;
    const char *argv[] = {cfg, "--tp", "2", NULL};
    cr_assert_eq(tu_run_cli(argv, &out, &err), 0, "%s", err);
    cr_assert(strstr(out, "communication: 4032 B/token per rank (9 all_reduce, 3 all_gather"), "%s", out);
    cr_assert(strstr(out, "vision_tower.transformer.layers.*.attention.o_proj rowwise"), "%s", out);
    cr_assert(strstr(out, "vision_tower.transformer.layers.*.feed_forward.down_proj rowwise"), "%s", out);
    cr_assert(strstr(out, "multi_modal_projector.linear_2                   rowwise"), "%s", out);
    free(out), free(err);
}
