/* Multimodal configs. Gemma 3 (model_type gemma3) is built whole: SigLIP tower,
 * projector and language model, named and counted as the real checkpoints'
 * indexes; --text-only (mt_build_opts.text_only) traces its language model
 * alone. Other wrappers whose language model is a registered family are traced
 * as that language model from text_config, with a note; errors inside
 * text_config name the full field path and its place in the file. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "tiny_configs.h"

static mt_model *build_opts(mt_ctx *ctx, const char *rel, bool text_only, int64_t layers) {
    mt_config *c = mt_config_load(ctx, tu_src(rel));
    cr_assert_not_null(c, "%s", mt_ctx_errmsg(ctx));
    mt_build_opts o = {.dtype = MT_DTYPE_NONE, .num_layers = layers, .text_only = text_only};
    mt_model *m = mt_model_build(ctx, c, &o);
    cr_assert_not_null(m, "%s", mt_ctx_errmsg(ctx));
    return m;
}

#define GEMMA3_4B "samples/configs/multimodal/google--gemma-3-4b-it.config.json"
#define MEDGEMMA_27B "samples/configs/multimodal/google--medgemma-27b-it.config.json"

Test(multimodal, gemma3_4b_language_model)
{
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = build_opts(ctx, GEMMA3_4B, true, 0);
    cr_assert_str_eq(m->model_type, "gemma3_text");
    cr_assert_not_null(m->note);
    cr_assert_not_null(strstr(m->note, "model_type 'gemma3' is multimodal"), "%s", m->note);
    cr_assert_not_null(strstr(m->note, "SigLIP vision tower"), "%s", m->note);
    /* torch_dtype comes from the top level (text_config has none) */
    cr_assert_eq(m->dtype, MT_BFLOAT16);
    /* by hand (Gemma3TextConfig defaults for what text_config leaves out: 8 heads,
     * 4 KV heads, head_dim 256, vocab 262208): layer = q 2560*2048 + k, v 2560*1024
     * + o 2048*2560 + q/k norms 2*256 + MLP 3*2560*10240 + 4 norms 4*2560
     * = 94,382,592; 34 layers + final norm 2560 + tied embedding 262208*2560.
     * The report's non-embedding 3,209M is 34 * 94,382,592 + 2560. */
    int64_t layer = 2560LL * 2048 + 2 * 2560LL * 1024 + 2048LL * 2560 + 2 * 256 + 3 * 2560LL * 10240 + 4 * 2560;
    cr_assert_eq(layer, 94382592);
    mt_totals t;
    cr_assert_eq(mt_model_totals(m, &t), MT_OK);
    cr_assert_eq(t.params, 34 * layer + 2560 + 262208LL * 2560);
    cr_assert_eq(t.params, 3880263168LL);
    cr_assert_eq(t.text_params, 0, "a text model reports no separate language model");
    mt_ctx_free(ctx);
}

/* The SigLIP tower of Gemma 3 (hidden 1152, intermediate 4304, 27 layers, 896 px in
 * 14 px patches: 64 x 64 = 4096 positions) by hand: patch_embedding 1152*3*14*14 +
 * 1152, position_embedding 4096*1152; layer: k/v/q/out_proj 4*(1152*1152 + 1152),
 * layer_norm1/2 2*2*1152, fc1 1152*4304 + 4304, fc2 4304*1152 + 1152; post_layernorm
 * 2*1152. The Gemma 3 technical report lists a 417M vision encoder for 4B/12B/27B. */
static int64_t siglip_896(void) {
    int64_t layer = 4 * (1152LL * 1152 + 1152) + 4 * 1152 + (1152LL * 4304 + 4304) + (4304LL * 1152 + 1152);
    return 1152LL * 3 * 14 * 14 + 1152 + 4096LL * 1152 + 27 * layer + 2 * 1152;
}

Test(multimodal, gemma3_4b_whole_checkpoint)
{
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = build_opts(ctx, GEMMA3_4B, false, 0);
    cr_assert_str_eq(m->model_type, "gemma3");
    cr_assert_str_eq(m->class_name, "Gemma3ForConditionalGeneration");
    cr_assert_null(m->note, "%s", m->note);
    cr_assert_eq(siglip_896(), 416866032LL);
    /* projector: mm_input_projection_weight 1152*2560, mm_soft_emb_norm 1152 */
    int64_t proj = 1152LL * 2560 + 1152, lm = 3880263168LL;
    mt_totals t;
    cr_assert_eq(mt_model_totals(m, &t), MT_OK);
    cr_assert_eq(t.text_params, lm);
    cr_assert_eq(t.text_param_bytes, 2 * lm);
    cr_assert_eq(t.params, lm + siglip_896() + proj);
    /* bfloat16: 2 bytes each. No copy of gemma-3-4b-it's own index was found in a public
     * mirror; 8,600,158,944 is the metadata.total_size a public test fixture gives for
     * MedGemma 4B's index (the same architecture): the 27b test below checks names and
     * total against a real index */
    cr_assert_eq(t.param_bytes, 2 * t.params);
    cr_assert_eq(t.param_bytes, 8600158944LL);
    /* names: the checkpoint's layout (language_model.model.*, vision_tower.vision_model.*) */
    TU_SHAPE(m, "vision_tower.vision_model.embeddings.patch_embedding.weight", 1152, 3, 14, 14);
    TU_SHAPE(m, "vision_tower.vision_model.embeddings.position_embedding.weight", 4096, 1152);
    TU_SHAPE(m, "vision_tower.vision_model.encoder.layers.26.mlp.fc1.weight", 4304, 1152);
    TU_SHAPE(m, "vision_tower.vision_model.post_layernorm.bias", 1152);
    TU_SHAPE(m, "multi_modal_projector.mm_input_projection_weight", 1152, 2560);
    TU_SHAPE(m, "multi_modal_projector.mm_soft_emb_norm.weight", 1152);
    TU_SHAPE(m, "language_model.model.layers.33.self_attn.q_proj.weight", 2048, 2560);
    cr_assert_not_null(mt_model_param(m, "language_model.lm_head.weight"));
    cr_assert_not_null(mt_model_param(m, "language_model.lm_head.weight")->tied_to);
    /* the three parts in Gemma3ForConditionalGeneration.__init__ order */
    cr_assert_str_eq(((mt_param *)m->params.items[0])->name, "vision_tower.vision_model.embeddings.patch_embedding.weight");
    mt_ctx_free(ctx);
}

/* google/medgemma-27b-it: a Gemma 3 multimodal checkpoint whose index is kept in a
 * public mirror (tests/data/index, provenance in samples/configs/SOURCES.md): every
 * name of its weight_map (1,247 tensors), and its metadata: total_size is our
 * bytes; total_parameters counts the tied lm_head a second time (vocab*hidden). */
Test(multimodal, medgemma_27b_matches_its_index)
{
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = build_opts(ctx, MEDGEMMA_27B, false, 0);
    tu_check_index_names(m, "google--medgemma-27b-it.index.json", false);
    json_error_t err;
    json_t *idx = json_load_file(tu_src("tests/data/index/google--medgemma-27b-it.index.json"), 0, &err);
    cr_assert_not_null(idx, "%s", err.text);
    json_t *md = json_object_get(idx, "metadata");
    int64_t total_size = json_integer_value(json_object_get(md, "total_size"));
    int64_t total_params = json_integer_value(json_object_get(md, "total_parameters"));
    cr_assert_eq(total_size, 54864813280LL);
    mt_totals t;
    cr_assert_eq(mt_model_totals(m, &t), MT_OK);
    cr_assert_eq(t.param_bytes, total_size);
    cr_assert_eq(t.params + 262208LL * 5376, total_params);
    /* its language model: 62 layers of hidden 5376, 32 heads and 16 KV heads of 128,
     * intermediate 21504, q/k norms 128, 4 layer norms; final norm; tied embedding */
    int64_t layer = 5376LL * 4096 + 2 * 5376LL * 2048 + 4096LL * 5376 + 2 * 128 + 3 * 5376LL * 21504 + 4 * 5376;
    cr_assert_eq(t.text_params, 62 * layer + 5376 + 262208LL * 5376);
    cr_assert_eq(t.params, t.text_params + siglip_896() + 1152LL * 5376 + 1152);
    json_decref(idx);
    mt_ctx_free(ctx);
}

/* The trace: pixel_values [images, 3, 896, 896] with `images` an input symbol bounded
 * by the placeholder tokens it needs; the tower, the projector's pooling to 16 x 16 =
 * 256 tokens, the merge where input_ids == image_token_index; the KV cache is the
 * language model's alone (--text-only's figure). */
Test(multimodal, gemma3_4b_trace_merge_and_sizing)
{
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = build_opts(ctx, GEMMA3_4B, false, 2);
    mt_graph *g = tu_trace(m);
    tu_check_logits(m, g, 262208);
    cr_assert_eq(m->inputs.n, 3);
    const mt_tensor *px = m->inputs.items[2];
    cr_assert_eq(px->ndim, 4);
    cr_assert_eq(px->dtype, MT_BFLOAT16);
    cr_assert_str_eq(mt_sym_str(px->shape[0]), "images");
    cr_assert_eq(mt_sym_const_value(px->shape[1]), 3);
    cr_assert_eq(mt_sym_const_value(px->shape[2]), 896);
    const mt_symbol_info *si = mt_sym_info_of(ctx, px->shape[0]);
    cr_assert_eq(si->lo, 1);
    cr_assert_str_eq(mt_sym_str(si->hi), "(batch*seq)//256");
    cr_assert_eq(tu_count_ops(g, MT_OP_CONV2D, "vision_tower"), 1);
    mt_node *pool = tu_first_op(g, MT_OP_AVG_POOL2D, "multi_modal_projector");
    cr_assert_not_null(pool);
    /* kernel 64 // int(256 ** 0.5) = 4: [images, 1152, 64, 64] -> [images, 1152, 16, 16] */
    cr_assert_eq(pool->args[1].v.i, 4);
    cr_assert_eq(mt_sym_const_value(pool->outs[0].shape[3]), 16);
    mt_node *ms = tu_first_op(g, MT_OP_MASKED_SCATTER, NULL);
    cr_assert_not_null(ms);
    cr_assert_eq(ms->outs[0].ndim, 3);
    cr_assert_eq(mt_sym_const_value(ms->outs[0].shape[2]), 2560);
    const mt_tensor *src = ms->args[2].v.t;
    cr_assert_eq(mt_sym_const_value(src->shape[1]), 256);
    mt_node *eq = ms->args[1].v.t->node; /* expand <- unsqueeze <- eq */
    eq = eq->args[0].v.t->node;
    eq = eq->args[0].v.t->node;
    cr_assert(tu_is_op(eq, MT_OP_EQ));
    cr_assert_eq(eq->args[1].v.i, 262144);
    mt_sizing s;
    mt_sizing_opts so = {.kv_dtype = MT_DTYPE_NONE, .seq = 4096};
    cr_assert_eq(mt_model_sizing(m, g, &so, &s), MT_OK, "%s", mt_ctx_errmsg(ctx));
    /* 2 language layers * (K + V) * 4 KV heads * 256 * 2 bytes; the 2 tower layers cache nothing */
    cr_assert_eq(s.kv_bytes_per_token, 2 * 2 * 4 * 256 * 2);
    int bidir = 0;
    for (int i = 0; i < s.nattn; i++) bidir += s.attn[i].kind == MT_ATTN_BIDIRECTIONAL;
    cr_assert_eq(bidir, 2);
    mt_ctx_free(ctx);
}

Test(multimodal, whole_model_kv_equals_text_only)
{
    /* 34 layers * 2 * 4 KV heads * 256 * 2 bytes = 139,264 B/token, both ways */
    int64_t kv[2];
    for (int k = 0; k < 2; k++) {
        mt_ctx *ctx = mt_ctx_new();
        mt_model *m = build_opts(ctx, GEMMA3_4B, k == 1, 0);
        mt_sizing s;
        cr_assert_eq(mt_model_sizing(m, tu_trace(m), NULL, &s), MT_OK, "%s", mt_ctx_errmsg(ctx));
        kv[k] = s.kv_bytes_per_token;
        mt_ctx_free(ctx);
    }
    cr_assert_eq(kv[0], 34LL * 2 * 4 * 256 * 2);
    cr_assert_eq(kv[1], kv[0]);
}

Test(multimodal, gemma3_bind_images_and_bad_configs)
{
    /* --bind images=2: the placeholder is concrete */
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = build_opts(ctx, GEMMA3_4B, false, 1);
    const char *names[] = {"images"};
    int64_t vals[] = {2};
    mt_trace_opts to = {.bind = {names, vals, 1}};
    mt_graph *g = mt_model_trace(m, &to);
    cr_assert_not_null(g, "%s", mt_ctx_errmsg(ctx));
    cr_assert_eq(mt_sym_const_value(((mt_tensor *)m->inputs.items[2])->shape[0]), 2);
    mt_ctx_free(ctx);
    /* --text-only on a text model is a usage error */
    ctx = mt_ctx_new();
    mt_config *c = mt_config_load(ctx, tu_src("samples/configs/huggyllama--llama-7b.config.json"));
    mt_build_opts o = {.dtype = MT_DTYPE_NONE, .text_only = true};
    cr_assert_null(mt_model_build(ctx, c, &o));
    cr_assert_eq(mt_ctx_status(ctx), MT_ERR_USAGE);
    cr_assert_not_null(strstr(mt_ctx_errmsg(ctx), "--text-only"), "%s", mt_ctx_errmsg(ctx));
    mt_ctx_free(ctx);
    /* located config errors: the pooled tokens must fill mm_tokens_per_image; the image
     * token inside the vocabulary; no SigLIP pooling head */
    static const struct {
        const char *json, *field, *msg;
    } bad[] = {
        {"{\"model_type\": \"gemma3\", \"mm_tokens_per_image\": 200, \"image_token_index\": 5, "
         "\"text_config\": {}, \"vision_config\": {\"vision_use_head\": false}}",
         "mm_tokens_per_image", "do not tile"},
        {"{\"model_type\": \"gemma3\", \"mm_tokens_per_image\": 196, \"image_token_index\": 262208, "
         "\"text_config\": {}, \"vision_config\": {\"vision_use_head\": false}}",
         "image_token_index", "outside the vocabulary"},
        {"{\"model_type\": \"gemma3\", \"text_config\": {}, \"vision_config\": {}}", "vision_config.vision_use_head",
         "pooling head"},
        {"{\"model_type\": \"gemma3\", \"vision_config\": {}}", "text_config", "expected a text_config"},
        {"{\"model_type\": \"gemma3\", \"text_config\": {}, \"vision_config\": {\"vision_use_head\": false, "
         "\"image_size\": 10, \"patch_size\": 20}}",
         "vision_config.patch_size", "larger than image_size"},
        {"{\"model_type\": \"gemma3\", \"text_config\": {}, \"vision_config\": {\"vision_use_head\": false, "
         "\"image_size\": 1099511627776, \"patch_size\": 1}}",
         "vision_config.image_size", "more than the limit of 1048576"},
        {"{\"model_type\": \"gemma3\", \"mm_tokens_per_image\": 9223372036854775807, \"text_config\": {}, "
         "\"vision_config\": {\"vision_use_head\": false, \"image_size\": 896, \"patch_size\": 14}}",
         "mm_tokens_per_image", "do not tile the 64x64 patches"},
        /* 384 px in 14 px patches: 27 a side (the valid convolution drops the rest); 729 tokens unpooled */
        {"{\"model_type\": \"gemma3\", \"mm_tokens_per_image\": 730, \"text_config\": {}, \"vision_config\": "
         "{\"vision_use_head\": false, \"image_size\": 384, \"patch_size\": 14}}",
         "mm_tokens_per_image", "the 27x27 patches"},
        {"{\"model_type\": \"gemma3\", \"text_config\": {}, \"vision_config\": {\"vision_use_head\": false, "
         "\"image_size\": 896, \"patch_size\": 14, \"hidden_act\": \"swish2\"}}",
         "vision_config.hidden_act", "unsupported activation"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ctx = mt_ctx_new();
        mt_config *bc = mt_config_parse(ctx, bad[i].json, strlen(bad[i].json), "config.json");
        cr_assert_not_null(bc);
        cr_assert_null(mt_model_build(ctx, bc, NULL), "case %zu built", i);
        const mt_error *e = mt_ctx_error(ctx);
        cr_assert_str_eq(e->field, bad[i].field, "case %zu: %s", i, mt_ctx_errmsg(ctx));
        cr_assert_not_null(strstr(mt_ctx_errmsg(ctx), bad[i].msg), "case %zu: %s", i, mt_ctx_errmsg(ctx));
        mt_ctx_free(ctx);
    }
}

Test(multimodal, errors_inside_text_config_are_located)
{
    const char *dir = tu_tmpdir();
    const char *path = tu_write(dir, "config.json",
                                "{\n"
                                "  \"model_type\": \"llava\",\n"
                                "  \"text_config\": {\n"
                                "    \"model_type\": \"llama\",\n"
                                "    \"hidden_size\": -8\n"
                                "  }\n"
                                "}\n");
    mt_ctx *ctx = mt_ctx_new();
    mt_config *c = mt_config_load(ctx, path);
    cr_assert_not_null(c);
    cr_assert_null(mt_model_build(ctx, c, NULL));
    const mt_error *e = mt_ctx_error(ctx);
    cr_assert_str_eq(e->field, "text_config.hidden_size");
    cr_assert_eq(e->line, 5, "line %d", e->line);
    mt_ctx_free(ctx);
}

Test(multimodal, llava_defaults_to_llama_and_unknown_text_models_are_refused)
{
    const char *dir = tu_tmpdir();
    /* LlavaConfig's text model defaults to llama when text_config names none */
    const char *ok = tu_write(dir, "llava.json",
                              "{\"model_type\": \"llava\", \"text_config\": {\"vocab_size\": 64, \"hidden_size\": 32, "
                              "\"intermediate_size\": 64, \"num_hidden_layers\": 1, \"num_attention_heads\": 2}}");
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build(ctx, ok, 0);
    cr_assert_str_eq(m->model_type, "llama");
    cr_assert_not_null(strstr(m->note, "CLIP vision tower"), "%s", m->note);
    mt_ctx_free(ctx);
    /* a text model we do not have: the wrapper's model_type is what is unsupported */
    const char *bad = tu_write(dir, "bad.json",
                               "{\"model_type\": \"fuyu\", \"text_config\": {\"model_type\": \"persimmon\"}}");
    ctx = mt_ctx_new();
    mt_config *c = mt_config_load(ctx, bad);
    cr_assert_null(mt_model_build(ctx, c, NULL));
    cr_assert_not_null(strstr(mt_ctx_errmsg(ctx), "unsupported model_type 'fuyu'"), "%s", mt_ctx_errmsg(ctx));
    mt_ctx_free(ctx);
}

/* A multimodal wrapper metatrace knows (gemma4, qwen3_5, llava) is traced through its
 * text_config: without one, or with a language model we lack, the error says so
 * (not "unsupported model_type 'gemma4'", which reads as if the wrapper were unknown). */
Test(multimodal, known_wrapper_without_a_usable_text_config)
{
    const char *dir = tu_tmpdir();
    const char *none = tu_write(dir, "g4.json", "{\"model_type\": \"gemma4\"}");
    mt_ctx *ctx = mt_ctx_new();
    mt_config *c = mt_config_load(ctx, none);
    cr_assert_null(mt_model_build(ctx, c, NULL));
    cr_assert_eq(mt_ctx_status(ctx), MT_ERR_CONFIG);
    const char *msg = mt_ctx_errmsg(ctx);
    cr_assert(strstr(msg, "field 'text_config': expected a text_config object: model_type 'gemma4' is multimodal"), "%s", msg);
    cr_assert(strstr(msg, "model_type 'gemma4_text' unless text_config names another"), "%s", msg);
    cr_assert_null(strstr(msg, "unsupported model_type"), "%s", msg);
    mt_ctx_free(ctx);
    /* a text model we do not have, under a wrapper we know: the field is text_config.model_type, line 2 */
    const char *other = tu_write(dir, "llava.json", "{\"model_type\": \"llava\",\n \"text_config\": {\"model_type\": \"persimmon\"}}");
    ctx = mt_ctx_new();
    c = mt_config_load(ctx, other);
    cr_assert_null(mt_model_build(ctx, c, NULL));
    msg = mt_ctx_errmsg(ctx);
    cr_assert(strstr(msg, "field 'text_config.model_type': the language model of multimodal model_type 'llava' is "
                          "'persimmon', not a family metatrace has; supported: llama,"), "%s", msg);
    const mt_error *e = mt_ctx_error(ctx);
    cr_assert_eq(e->line, 2, "line %d", e->line);
    mt_ctx_free(ctx);
}

/* The expert-block limit (layers x experts, docs/cli.md, Limits) is checked on a
 * multimodal config's text_config before anything is built, for every wrapper:
 * 600 x 4000 = 2,400,000 blocks > 65,536, located at text_config.num_experts. */
Test(multimodal, expert_limit_read_from_text_config)
{
    const char *dir = tu_tmpdir();
    const char *cfgs[] = {
        "{\"model_type\": \"qwen3_5_moe\", \"text_config\": {\"num_hidden_layers\": 600, \"num_experts\": 4000}}",
        "{\"model_type\": \"gemma4\", \"text_config\": {\"num_hidden_layers\": 600, \"num_experts\": 4000, "
        "\"enable_moe_block\": true}}",
    };
    for (size_t i = 0; i < sizeof cfgs / sizeof *cfgs; i++) {
        const char *f = tu_write(dir, "big.json", cfgs[i]);
        mt_ctx *ctx = mt_ctx_new();
        mt_config *c = mt_config_load(ctx, f);
        cr_assert_null(mt_model_build(ctx, c, NULL));
        cr_assert_eq(mt_ctx_status(ctx), MT_ERR_CONFIG);
        const char *msg = mt_ctx_errmsg(ctx);
        cr_assert(strstr(msg, "field 'text_config.num_experts': 4000 experts x 600 layers (num_hidden_layers) = "
                              "2400000 expert blocks, more than the limit of 65536"), "%s", msg);
        mt_ctx_free(ctx);
    }
}

/* The CLI: --text-only's note and row, the whole model's language-model row,
 * --bind images=N, and --text-only on a text model (usage error, exit 2). */
Test(multimodal, cli_text_only_and_images)
{
    char *out = NULL, *err = NULL;
    const char *whole[] = {tu_src(GEMMA3_4B), "--layers", "1", "--bind", "images=2", NULL};
    cr_assert_eq(tu_run_cli(whole, &out, &err), 0, "%s", err);
    cr_assert(strstr(out, "Gemma3ForConditionalGeneration (model_type gemma3)"), "%s", out);
    cr_assert(strstr(out, "without the vision tower and projector"), "%s", out);
    free(out), free(err);
    const char *text[] = {tu_src(GEMMA3_4B), "--text-only", "--layers", "1", NULL};
    cr_assert_eq(tu_run_cli(text, &out, &err), 0, "%s", err);
    cr_assert(strstr(out, "Gemma3ForCausalLM (model_type gemma3_text)"), "%s", out);
    cr_assert(strstr(out, "model_type 'gemma3' is multimodal"), "%s", out);
    cr_assert_null(strstr(out, "without the vision tower"), "%s", out);
    free(out), free(err);
    const char *bad[] = {tu_src("samples/configs/huggyllama--llama-7b.config.json"), "--text-only", NULL};
    cr_assert_eq(tu_run_cli(bad, &out, &err), 2);
    cr_assert(strstr(err, "--text-only: model_type 'llama' has no text_config"), "%s", err);
    free(out), free(err);
    const char *nobind[] = {tu_src(GEMMA3_4B), "--text-only", "--layers", "1", "--bind", "images=2", NULL};
    cr_assert_eq(tu_run_cli(nobind, &out, &err), 2);
    cr_assert(strstr(err, "cannot bind 'images'"), "%s", err);
    free(out), free(err);
    /* a bound image count that needs more positions than batch x seq: gemma-3 has 256 tokens
     * per image (mm_tokens_per_image), so 1 x 600 positions hold two */
    const char *three[] = {tu_src(GEMMA3_4B), "--layers", "1", "--bind", "batch=1,seq=600,images=3", NULL};
    cr_assert_eq(tu_run_cli(three, &out, &err), 2);
    cr_assert(strstr(err, "images=3 need 3 x 256 = 768 image tokens, more than batch x seq = 600; at most 2 images fit"),
              "%s", err);
    free(out), free(err);
    const char *two[] = {tu_src(GEMMA3_4B), "--layers", "1", "--bind", "batch=1,seq=600,images=2", NULL};
    cr_assert_eq(tu_run_cli(two, &out, &err), 0, "%s", err);
    free(out), free(err);
}

/* --tp 2 on the tiny gemma3 (tests/tiny_configs.h): the planner takes `images` at its
 * bound like the sizing pass (4096 tokens // 4 = 1024 images of 16 patches: 4 tower
 * tokens per text token) and shards the tower Megatron-style. By hand, float32, per
 * text token and rank: an all-reduce moves 2(t-1)/t = 1 x the tensor: tower layers
 * 2 x 2 all-reduces x 4 tokens x 32 x 4 B = 2048, language layers 2 x 2 x 64 x 4 B =
 * 1024; lm_head gathered, (t-1)/t x 256 x 4 B = 512; the position embedding's gather
 * ([1, 16, 32], once per forward) rounds to nothing per token: 3584. */
Test(multimodal, tiny_gemma3_plan_shards_the_tower)
{
    const char *cfg = tu_write(tu_tmpdir(), "gemma3.config.json", tiny_for("gemma3")->json);
    char *out = NULL, *err = NULL;
    const char *argv[] = {cfg, "--tp", "2", NULL};
    cr_assert_eq(tu_run_cli(argv, &out, &err), 0, "%s", err);
    cr_assert(strstr(out, "communication: 3584 B/token per rank (8 all_reduce, 2 all_gather"), "%s", out);
    cr_assert(strstr(out, "vision_tower.vision_model.encoder.layers.*.self_attn.out_proj rowwise"), "%s", out);
    cr_assert(strstr(out, "vision_tower.vision_model.encoder.layers.*.mlp.fc2 rowwise"), "%s", out);
    free(out), free(err);
}

/* Gemma 3's projector reads the handle its build bound (its norm, pool and mm_input_projection_weight), not
 * names: renamed after the build, the trace records the same nodes, where a lookup by name would fail. */
Test(multimodal, gemma3_projector_reads_handles_not_names)
{
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = build_opts(ctx, GEMMA3_4B, false, 1);
    int before = tu_trace(m)->n;
    mt_module *p = mt_module_find(m->root, "multi_modal_projector");
    cr_assert_not_null(p);
    mt_module_find(p, "avg_pool")->name = "pool";
    mt_module_find(p, "mm_soft_emb_norm")->name = "norm";
    mt_model_param(m, "multi_modal_projector.mm_input_projection_weight")->local = "w";
    mt_graph *g = mt_model_trace(m, NULL);
    cr_assert_not_null(g, "%s", mt_ctx_errmsg(ctx));
    cr_assert_eq(g->n, before);
    mt_ctx_free(ctx);
}
