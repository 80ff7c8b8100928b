/* Llama 4 (llama4_text, llama4): Llama-4-Scout-17B-16E and Llama-4-Maverick-17B-128E
 * checked by hand against their cards (109B total / 17B active; 400B / 17B), the
 * whole checkpoints against the parameter counts the Hugging Face API publishes for
 * them, the checkpoint names public loaders quote (samples/configs/SOURCES.md), the
 * graph details of transformers' modeling_llama4.py (complex rotary on RoPE
 * layers, L2 qk_norm, temperature tuning on NoPE layers, chunked masks, the
 * fused experts applied by bmm; the vision tower's unfold patches, class token,
 * 2-D rotary in complex form and pixel shuffle), the K/V per token by hand, and
 * config errors. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "tiny_configs.h"

/* The text_config of Llama-4-Scout-17B-16E as a public dump of its Llama4Config
 * prints it (transformers 4.51; moe_layers, printed abbreviated as [0..47], left to
 * its default: interleave_moe_layer_step 1 makes every layer sparse). */
#define SCOUT_TEXT                                                                                                   \
    "{\"attention_bias\": false, \"attention_chunk_size\": 8192, \"attention_dropout\": 0.0, \"attn_scale\": 0.1, "    \
    "\"attn_temperature_tuning\": 4, \"bos_token_id\": 200000, \"eos_token_id\": [200001, 200007, 200008], "         \
    "\"floor_scale\": 8192, \"for_llm_compressor\": false, \"head_dim\": 128, \"hidden_act\": \"silu\", "             \
    "\"hidden_size\": 5120, \"initializer_range\": 0.02, \"interleave_moe_layer_step\": 1, "                         \
    "\"intermediate_size\": 8192, \"intermediate_size_mlp\": 16384, \"max_position_embeddings\": 262144, "           \
    "\"model_type\": \"llama4_text\", \"no_rope_layers\": [1,1,1,0,1,1,1,0,1,1,1,0,1,1,1,0,1,1,1,0,1,1,1,0,"        \
    "1,1,1,0,1,1,1,0,1,1,1,0,1,1,1,0,1,1,1,0,1,1,1,0], \"num_attention_heads\": 40, \"num_experts_per_tok\": 1, "    \
    "\"num_hidden_layers\": 48, \"num_key_value_heads\": 8, \"num_local_experts\": 16, "                             \
    "\"output_router_logits\": false, \"pad_token_id\": 200018, \"rms_norm_eps\": 1e-05, \"rope_scaling\": "          \
    "{\"factor\": 8.0, \"high_freq_factor\": 4.0, \"low_freq_factor\": 1.0, "                                        \
    "\"original_max_position_embeddings\": 8192, \"rope_type\": \"llama3\"}, \"rope_theta\": 500000.0, "              \
    "\"router_aux_loss_coef\": 0.001, \"router_jitter_noise\": 0.0, \"torch_dtype\": \"bfloat16\", "                 \
    "\"use_cache\": true, \"use_qk_norm\": true, \"vocab_size\": 202048}"

/* The vision_config of the same dump. */
#define SCOUT_VISION                                                                                                 \
    "{\"attention_dropout\": 0.0, \"hidden_act\": \"gelu\", \"hidden_size\": 1408, "                                 \
    "\"image_size\": 336, \"initializer_range\": 0.02, \"intermediate_size\": 5632, "                                \
    "\"model_type\": \"llama4_vision_model\", \"multi_modal_projector_bias\": false, \"norm_eps\": 1e-05, "        \
    "\"num_attention_heads\": 16, \"num_channels\": 3, \"num_hidden_layers\": 34, \"patch_size\": 14, "             \
    "\"pixel_shuffle_ratio\": 0.5, \"projector_dropout\": 0.0, \"projector_input_dim\": 4096, "                     \
    "\"projector_output_dim\": 4096, \"rope_theta\": 10000, \"vision_feature_layer\": -1, "                          \
    "\"vision_feature_select_strategy\": \"default\", \"vision_output_dim\": 4096}"

/* The whole Llama4Config of the same dump. */
static const char *SCOUT =
    "{\"architectures\": [\"Llama4ForConditionalGeneration\"], \"boi_token_index\": 200080, "
    "\"eoi_token_index\": 200081, \"image_token_index\": 200092, \"model_type\": \"llama4\", \"text_config\": "
    SCOUT_TEXT ", \"tie_word_embeddings\": false, \"torch_dtype\": \"bfloat16\", \"transformers_version\": \"4.51.0\", "
    "\"vision_config\": " SCOUT_VISION "}";

/* Llama-4-Maverick-17B-128E's text_config as a public vLLM test copies it (reduced there to
 * 2 layers with no_rope_layer_interval 2 added; restored here to its 48 layers and the
 * default interval). */
static const char *MAVERICK_TEXT =
    "{\"attention_bias\": false, \"attention_chunk_size\": 8192, \"attention_dropout\": 0.0, "
    "\"bos_token_id\": 200000, \"eos_token_id\": [200001, 200007, 200008], \"for_llm_compressor\": false, "
    "\"head_dim\": 128, \"hidden_act\": \"silu\", \"hidden_size\": 5120, \"initializer_range\": 0.02, "
    "\"interleave_moe_layer_step\": 2, \"intermediate_size\": 8192, \"intermediate_size_mlp\": 16384, "
    "\"max_position_embeddings\": 1048576, \"model_type\": \"llama4_text\", \"num_attention_heads\": 40, "
    "\"num_experts_per_tok\": 1, \"num_hidden_layers\": 48, \"num_key_value_heads\": 8, "
    "\"num_local_experts\": 128, \"output_router_logits\": false, \"pad_token_id\": 200018, "
    "\"rms_norm_eps\": 1e-05, \"rope_scaling\": null, \"rope_theta\": 500000.0, \"router_aux_loss_coef\": 0.001, "
    "\"router_jitter_noise\": 0.0, \"torch_dtype\": \"bfloat16\", \"use_cache\": true, \"use_qk_norm\": false, "
    "\"vocab_size\": 202048}";

static const char *build_error(mt_ctx *ctx, const char *json) {
    mt_config *cfg = mt_config_parse(ctx, json, strlen(json), "bad.json");
    cr_assert_not_null(cfg, "config: %s", mt_ctx_errmsg(ctx));
    mt_build_opts o = {.dtype = MT_DTYPE_NONE, .num_layers = 0};
    cr_assert_null(mt_model_build(ctx, cfg, &o), "expected the build to fail");
    return mt_ctx_errmsg(ctx);
}

/* By hand (Scout, text): attention q 5120*5120 = 26,214,400, k and v 5120*1024 = 5,242,880 each,
 * o 26,214,400 = 62,914,560 (the L2 qk_norm has no weight); norms 2*5120 = 10,240; MoE: experts
 * gate_up_proj 16*5120*16384 = 1,342,177,280, down_proj 16*8192*5120 = 671,088,640, router 16*5120
 * = 81,920, shared expert 3*5120*8192 = 125,829,120 -> 2,139,176,960; layer 2,202,101,760; 48 layers
 * 105,700,884,480; embed_tokens and lm_head 202048*5120 = 1,034,485,760 each, norm 5,120:
 * 107,769,861,120. Active: 15 of 16 experts idle, 48*15*(1,342,177,280 + 671,088,640)/16 =
 * 90,596,966,400 -> 17,172,894,720 (card: 17B active). The vision tower (not built) by hand:
 * class_embedding 1,408, positional_embedding_vlm 577*1408 = 812,416, patch_embedding 588*1408 =
 * 827,904, layernorm_pre/post 5,632, 34 layers of (q/k/v/o 4*(1408*1408 + 1408) + fc1 1408*5632 +
 * 5632 + fc2 5632*1408 + 1408 + norms 4*1408 = 23,807,872) = 809,467,648, vision_adapter fc1
 * 5632*4096 + fc2 4096*4096 = 39,845,888 -> 850,960,896; multi_modal_projector 4096*5120 =
 * 20,971,520; whole checkpoint 108,641,793,536 (card: 109B total). */
#define SCOUT_TEXT_PARAMS 107769861120LL
#define SCOUT_TEXT_ACTIVE 17172894720LL

Test(llama4, scout_text_matches_card) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build_text(ctx, SCOUT_TEXT, 0);
    mt_totals t;
    cr_assert_eq(mt_model_totals(m, &t), MT_OK);
    cr_assert_eq(t.params, SCOUT_TEXT_PARAMS, "%lld", (long long)t.params);
    cr_assert_eq(t.param_bytes, 2 * SCOUT_TEXT_PARAMS);
    cr_assert_eq(t.params_by_dtype[MT_BFLOAT16], SCOUT_TEXT_PARAMS);
    cr_assert_eq(t.active_params, SCOUT_TEXT_ACTIVE, "%lld", (long long)t.active_params);
    cr_assert_str_eq(m->class_name, "Llama4ForCausalLM");
    /* the names public loaders quote from the checkpoint, without the language_model prefix here */
    TU_SHAPE(m, "model.layers.0.feed_forward.experts.gate_up_proj", 16, 5120, 16384);
    TU_SHAPE(m, "model.layers.0.feed_forward.experts.down_proj", 16, 8192, 5120);
    TU_SHAPE(m, "model.layers.47.feed_forward.router.weight", 16, 5120);
    TU_SHAPE(m, "model.layers.47.feed_forward.shared_expert.down_proj.weight", 5120, 8192);
    TU_SHAPE(m, "lm_head.weight", 202048, 5120);
    cr_assert_null(mt_model_param(m, "model.layers.0.feed_forward.gate_proj.weight"));
    mt_ctx_free(ctx);
}

/* The vision tower and projector of Scout by hand (modeling_llama4.py, vision_config above:
 * hidden 1408, 16 heads of 88, 34 layers, 336 px tiles in 14 px patches: 24 x 24 = 576 patches
 * + the class token):
 *   class_embedding 1,408; positional_embedding_vlm 577 * 1408 = 812,416; patch_embedding.linear
 *   (3 * 14 * 14 = 588) * 1408 = 827,904; layernorm_pre/post 4 * 1408 = 5,632;
 *   layer: q/k/v/o_proj 4 * (1408 * 1408 + 1408) = 7,935,488, fc1 1408 * 5632 + 5632 = 7,935,488,
 *   fc2 5632 * 1408 + 1408 = 7,931,264, two LayerNorms 4 * 1408 = 5,632 -> 23,807,872; 34 layers
 *   809,467,648;
 *   vision_adapter: fc1 5632 * 4096 = 23,068,672, fc2 4096 * 4096 = 16,777,216 -> 39,845,888;
 *   the tower 850,960,896; multi_modal_projector.linear_1 4096 * 5120 = 20,971,520.
 * The whole checkpoint, 107,769,861,120 + 850,960,896 + 20,971,520 = 108,641,793,536, is the
 * Hugging Face API's safetensors parameter count of meta-llama/Llama-4-Scout-17B-16E-Instruct
 * (all bfloat16: `safetensors.parameters.BF16` = 108,641,793,536 at revision 92f3b159, as public
 * notes quote it: samples/configs/SOURCES.md), so the index's total_size is 2 bytes each:
 * 217,283,587,072. */
#define SCOUT_VISION_PARAMS 850960896LL
#define SCOUT_PROJECTOR_PARAMS 20971520LL
#define SCOUT_HUB_PARAMS 108641793536LL

Test(llama4, scout_whole_checkpoint) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build_text(ctx, SCOUT, 0);
    cr_assert_str_eq(m->class_name, "Llama4ForConditionalGeneration");
    cr_assert_eq(1408 + 577 * 1408 + 588 * 1408 + 4 * 1408 + 34 * 23807872LL + 39845888, SCOUT_VISION_PARAMS);
    mt_totals t;
    cr_assert_eq(mt_model_totals(m, &t), MT_OK);
    cr_assert_eq(t.params, SCOUT_TEXT_PARAMS + SCOUT_VISION_PARAMS + SCOUT_PROJECTOR_PARAMS, "%lld",
                 (long long)t.params);
    cr_assert_eq(t.params, SCOUT_HUB_PARAMS);
    cr_assert_eq(t.param_bytes, 217283587072LL); /* total_size: bfloat16, 2 bytes a parameter */
    cr_assert_eq(t.params_by_dtype[MT_BFLOAT16], SCOUT_HUB_PARAMS);
    /* the language model alone, unchanged: the card's 109B less the tower and the projector */
    cr_assert_eq(t.text_params, SCOUT_TEXT_PARAMS, "%lld", (long long)t.text_params);
    cr_assert_eq(t.text_param_bytes, 2 * SCOUT_TEXT_PARAMS);
    /* active: every tower parameter works on every image token; the 15 idle experts as before */
    cr_assert_eq(t.active_params, SCOUT_TEXT_ACTIVE + SCOUT_VISION_PARAMS + SCOUT_PROJECTOR_PARAMS);
    /* the names the checkpoint stores (public loaders bind these: samples/configs/SOURCES.md) */
    TU_SHAPE(m, "vision_model.class_embedding", 1408);
    TU_SHAPE(m, "vision_model.positional_embedding_vlm", 577, 1408);
    TU_SHAPE(m, "vision_model.patch_embedding.linear.weight", 1408, 588);
    TU_SHAPE(m, "vision_model.layernorm_pre.weight", 1408);
    TU_SHAPE(m, "vision_model.layernorm_pre.bias", 1408);
    TU_SHAPE(m, "vision_model.layernorm_post.weight", 1408);
    TU_SHAPE(m, "vision_model.layernorm_post.bias", 1408);
    TU_SHAPE(m, "vision_model.model.layers.0.self_attn.q_proj.weight", 1408, 1408);
    TU_SHAPE(m, "vision_model.model.layers.0.self_attn.q_proj.bias", 1408);
    TU_SHAPE(m, "vision_model.model.layers.0.self_attn.k_proj.weight", 1408, 1408);
    TU_SHAPE(m, "vision_model.model.layers.0.self_attn.v_proj.bias", 1408);
    TU_SHAPE(m, "vision_model.model.layers.33.self_attn.o_proj.weight", 1408, 1408);
    TU_SHAPE(m, "vision_model.model.layers.33.self_attn.o_proj.bias", 1408);
    TU_SHAPE(m, "vision_model.model.layers.33.mlp.fc1.weight", 5632, 1408);
    TU_SHAPE(m, "vision_model.model.layers.33.mlp.fc1.bias", 5632);
    TU_SHAPE(m, "vision_model.model.layers.33.mlp.fc2.weight", 1408, 5632);
    TU_SHAPE(m, "vision_model.model.layers.33.mlp.fc2.bias", 1408);
    TU_SHAPE(m, "vision_model.model.layers.33.input_layernorm.weight", 1408);
    TU_SHAPE(m, "vision_model.model.layers.33.post_attention_layernorm.bias", 1408);
    TU_SHAPE(m, "vision_model.vision_adapter.mlp.fc1.weight", 4096, 5632);
    TU_SHAPE(m, "vision_model.vision_adapter.mlp.fc2.weight", 4096, 4096);
    TU_SHAPE(m, "multi_modal_projector.linear_1.weight", 5120, 4096);
    cr_assert_null(mt_model_param(m, "vision_model.model.layers.34.mlp.fc1.weight"));
    cr_assert_null(mt_model_param(m, "vision_model.vision_adapter.mlp.fc1.bias"));
    cr_assert_null(mt_model_param(m, "multi_modal_projector.linear_1.bias"));
    cr_assert_null(mt_model_param(m, "vision_model.patch_embedding.linear.bias"));
    /* the language model as before, under language_model */
    TU_SHAPE(m, "language_model.model.embed_tokens.weight", 202048, 5120);
    TU_SHAPE(m, "language_model.model.layers.0.feed_forward.experts.gate_up_proj", 16, 5120, 16384);
    TU_SHAPE(m, "language_model.model.layers.0.feed_forward.router.weight", 16, 5120);
    TU_SHAPE(m, "language_model.model.layers.0.feed_forward.shared_expert.gate_proj.weight", 8192, 5120);
    TU_SHAPE(m, "language_model.model.layers.3.self_attn.k_proj.weight", 1024, 5120);
    TU_SHAPE(m, "language_model.model.norm.weight", 5120);
    TU_SHAPE(m, "language_model.lm_head.weight", 202048, 5120);
    cr_assert_null(mt_model_param(m, "model.embed_tokens.weight"));
    /* named_parameters order: Llama4ForConditionalGeneration.__init__ (vision_model,
     * multi_modal_projector, language_model), a module's own parameters before its children's */
    cr_assert_str_eq(((mt_param *)m->params.items[0])->name, "vision_model.class_embedding");
    cr_assert_str_eq(((mt_param *)m->params.items[1])->name, "vision_model.positional_embedding_vlm");
    cr_assert_str_eq(((mt_param *)m->params.items[2])->name, "vision_model.patch_embedding.linear.weight");
    cr_assert_str_eq(((mt_param *)m->params.items[m->params.n - 1])->name, "language_model.lm_head.weight");
    /* freqs_ci: the constant 2-D rotary table, complex64 [577, 1, 88 / 2], in no checkpoint */
    const mt_param *fc = mt_model_param(m, "vision_model.rotary_embedding.freqs_ci");
    cr_assert_not_null(fc);
    cr_assert(fc->is_buffer && !fc->persistent);
    cr_assert_eq(fc->t->dtype, MT_COMPLEX64);
    TU_SHAPE(m, "vision_model.rotary_embedding.freqs_ci", 577, 1, 44);
    cr_assert_not_null(m->note);
    cr_assert(strstr(m->note, "336 x 336 px tile") && strstr(m->note, "144 image tokens"), "%s", m->note);
    cr_assert_null(strstr(m->note, "not included"), "%s", m->note);
    mt_ctx_free(ctx);
}

/* The tower's and projector's names are exactly the checkpoint keys torchtune's Llama 4 converter
 * maps from a Hugging Face checkpoint (torchtune/models/llama4/_convert_weights.py, _FROM_HF, code-
 * search file id 4218159954; SOURCES.md): 7 tower-level keys, 16 per encoder layer, the adapter's 2
 * and the projector's 1, 7 + 34 * 16 + 2 + 1 = 554 keys for Scout, and nothing else. */
Test(llama4, scout_vision_names_equal_a_converters_map) {
    static const char *const top[] = {
        "vision_model.layernorm_pre.weight", "vision_model.layernorm_pre.bias", "vision_model.layernorm_post.weight",
        "vision_model.layernorm_post.bias", "vision_model.class_embedding", "vision_model.positional_embedding_vlm",
        "vision_model.patch_embedding.linear.weight", "vision_model.vision_adapter.mlp.fc1.weight",
        "vision_model.vision_adapter.mlp.fc2.weight", "multi_modal_projector.linear_1.weight"};
    static const char *const layer[] = {
        "self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight", "self_attn.o_proj.weight",
        "self_attn.q_proj.bias", "self_attn.k_proj.bias", "self_attn.v_proj.bias", "self_attn.o_proj.bias",
        "mlp.fc1.weight", "mlp.fc1.bias", "mlp.fc2.weight", "mlp.fc2.bias", "input_layernorm.weight",
        "input_layernorm.bias", "post_attention_layernorm.weight", "post_attention_layernorm.bias"};
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build_text(ctx, SCOUT, 0);
    int built = 0;
    for (int i = 0; i < m->params.n; i++) {
        const char *n = ((mt_param *)m->params.items[i])->name;
        if (strncmp(n, "vision_model.", 13) != 0 && strncmp(n, "multi_modal_projector.", 22) != 0) continue;
        built++;
        bool known = false;
        for (size_t k = 0; k < sizeof top / sizeof top[0]; k++) known = known || strcmp(n, top[k]) == 0;
        int L = -1, used = 0;
        if (!known && sscanf(n, "vision_model.model.layers.%d.%n", &L, &used) == 1 && L >= 0 && L < 34)
            for (size_t k = 0; k < sizeof layer / sizeof layer[0]; k++) known = known || strcmp(n + used, layer[k]) == 0;
        cr_assert(known, "%s is not a key of the checkpoint", n);
    }
    cr_assert_eq(built, 10 + 34 * 16, "%d", built);
    for (size_t k = 0; k < sizeof top / sizeof top[0]; k++) cr_assert_not_null(mt_model_param(m, top[k]), "%s", top[k]);
    mt_ctx_free(ctx);
}

/* Maverick's checkpoint: its language model (maverick_matches_card) with the same tower and
 * projector. The Hugging Face API's count for the Maverick checkpoint, 401,583,781,376 (as public
 * notes quote it: SOURCES.md), less the language model's 400,711,848,960 by hand leaves
 * 871,932,416, exactly Scout's tower + projector; Maverick's vision_config is taken to be Scout's
 * (no verbatim copy of it was found) and the totals agree with that. */
Test(llama4, maverick_whole_checkpoint) {
    char json[8192];
    snprintf(json, sizeof json,
             "{\"model_type\": \"llama4\", \"torch_dtype\": \"bfloat16\", \"text_config\": %s, \"vision_config\": %s}",
             MAVERICK_TEXT, SCOUT_VISION);
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build_text(ctx, json, 0);
    mt_totals t;
    cr_assert_eq(mt_model_totals(m, &t), MT_OK);
    cr_assert_eq(401583781376LL - 400711848960LL, SCOUT_VISION_PARAMS + SCOUT_PROJECTOR_PARAMS);
    cr_assert_eq(t.params, 401583781376LL, "%lld", (long long)t.params);
    cr_assert_eq(t.param_bytes, 2 * 401583781376LL);
    cr_assert_eq(t.text_params, 400711848960LL);
    cr_assert_eq(t.active_params, 17184691200LL + SCOUT_VISION_PARAMS + SCOUT_PROJECTOR_PARAMS);
    mt_ctx_free(ctx);
}

/* The trace of Scout at 2 layers each (the tower's first two and the language model's), against
 * modeling_llama4.py: pixel_values [images, 3, 336, 336] unfolded into 576 columns of 3 * 14 * 14,
 * the class token appended (577), the 2-D rotary as a complex product with freqs_ci viewed [1, 577,
 * 1, 44], attention without a mask (bidirectional, nothing cached), the class token dropped, the
 * pixel shuffle by 0.5 (24 x 12 x 2816, then 12 x 12 x 5632: 144 tokens a tile), the adapter to
 * 4096, the projector to 5120 and the scatter where input_ids == 200092. */
Test(llama4, scout_trace_tower_and_merge) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build_text(ctx, SCOUT, 2);
    mt_graph *g = tu_trace(m);
    tu_check_logits(m, g, 202048);
    cr_assert_eq(m->inputs.n, 3);
    const mt_tensor *px = m->inputs.items[2];
    cr_assert_eq(px->dtype, MT_BFLOAT16);
    cr_assert_str_eq(mt_sym_str(px->shape[0]), "images");
    cr_assert_eq(mt_sym_const_value(px->shape[1]), 3);
    cr_assert_eq(mt_sym_const_value(px->shape[2]), 336);
    cr_assert_eq(mt_sym_const_value(px->shape[3]), 336);
    /* 2 tower layers (--layers applies to the tower as to mistral3's and gemma3's) */
    cr_assert_not_null(mt_module_find(m->root, "vision_model.model.layers.1"));
    cr_assert_null(mt_module_find(m->root, "vision_model.model.layers.2"));
    mt_node *uf = tu_first_op(g, MT_OP_UNFOLD, "vision_model.patch_embedding.unfold");
    cr_assert_not_null(uf);
    cr_assert_eq(mt_sym_const_value(uf->outs[0].shape[1]), 588);
    cr_assert_eq(mt_sym_const_value(uf->outs[0].shape[2]), 576);
    mt_node *cat = tu_first_op(g, MT_OP_CAT, "vision_model");
    cr_assert_not_null(cat);
    cr_assert_eq(mt_sym_const_value(cat->outs[0].shape[1]), 577);
    /* q and k rotated in complex form in each tower layer: 2 view_as_complex, freqs viewed once */
    cr_assert_eq(tu_count_ops(g, MT_OP_VIEW_AS_COMPLEX, "vision_model.model.layers.0.self_attn"), 2);
    cr_assert_eq(tu_count_ops(g, MT_OP_VIEW_AS_REAL, "vision_model.model.layers.1.self_attn"), 2);
    mt_node *vc = tu_first_op(g, MT_OP_VIEW_AS_COMPLEX, "vision_model.model.layers.0.self_attn");
    cr_assert_eq(vc->outs[0].dtype, MT_COMPLEX64);
    cr_assert_eq(mt_sym_const_value(vc->outs[0].shape[2]), 16);
    cr_assert_eq(mt_sym_const_value(vc->outs[0].shape[3]), 44);
    mt_node *fv = NULL;
    for (int i = 0; i < g->n && !fv; i++)
        if (tu_is_op(g->nodes[i], MT_OP_VIEW) && tu_under(g->nodes[i], "vision_model.model.layers.0.self_attn") &&
            g->nodes[i]->outs[0].dtype == MT_COMPLEX64)
            fv = g->nodes[i];
    cr_assert_not_null(fv);
    cr_assert_eq(fv->outs[0].ndim, 4);
    cr_assert_eq(mt_sym_const_value(fv->outs[0].shape[0]), 1);
    cr_assert_eq(mt_sym_const_value(fv->outs[0].shape[1]), 577);
    cr_assert_eq(mt_sym_const_value(fv->outs[0].shape[2]), 1);
    cr_assert_eq(mt_sym_const_value(fv->outs[0].shape[3]), 44);
    /* the tower's attention: sdpa without a mask, on [images, 16, 577, 88] */
    mt_node *sd = tu_first_op(g, MT_OP_SDPA, "vision_model.model.layers.0.self_attn");
    cr_assert_not_null(sd);
    cr_assert_eq(mt_sym_const_value(sd->outs[0].shape[2]), 577);
    cr_assert_eq(mt_sym_const_value(sd->outs[0].shape[3]), 88);
    const mt_arg *am = tu_kwarg(sd, "attn_mask");
    cr_assert(am && am->kind == MT_ARG_NONE);
    /* the class token dropped, then the pixel shuffle */
    mt_node *gi = tu_first_op(g, MT_OP_GETITEM, "vision_model");
    cr_assert_not_null(gi);
    cr_assert_eq(mt_sym_const_value(gi->outs[0].shape[1]), 576);
    int views = 0;
    for (int i = 0; i < g->n; i++) {
        const mt_node *n = g->nodes[i];
        if (!tu_is_op(n, MT_OP_VIEW) || !tu_under(n, "vision_model.vision_adapter") || n->outs[0].ndim != 4) continue;
        static const int64_t want[3][3] = {{24, 24, 1408}, {24, 12, 2816}, {12, 12, 5632}};
        cr_assert_lt(views, 3);
        for (int d = 0; d < 3; d++) cr_assert_eq(mt_sym_const_value(n->outs[0].shape[d + 1]), want[views][d]);
        views++;
    }
    cr_assert_eq(views, 3);
    mt_node *fc1 = NULL;
    for (int i = 0; i < g->n && !fc1; i++)
        if (g->nodes[i]->name && strcmp(g->nodes[i]->name, "vision_model_vision_adapter_mlp_fc1") == 0) fc1 = g->nodes[i];
    cr_assert_not_null(fc1);
    cr_assert_eq(mt_sym_const_value(fc1->outs[0].shape[1]), 144);
    cr_assert_eq(mt_sym_const_value(fc1->outs[0].shape[2]), 4096);
    cr_assert_eq(tu_count_ops(g, MT_OP_GELU, "vision_model.vision_adapter.mlp.activation_fn"), 2);
    mt_node *ms = tu_first_op(g, MT_OP_MASKED_SCATTER, NULL);
    cr_assert_not_null(ms);
    const mt_tensor *src = ms->args[2].v.t;
    cr_assert_str_eq(mt_sym_str(src->shape[0]), "144*images");
    cr_assert_eq(mt_sym_const_value(src->shape[1]), 5120);
    mt_node *eq = ms->args[1].v.t->node; /* expand <- unsqueeze <- eq */
    eq = eq->args[0].v.t->node;
    eq = eq->args[0].v.t->node;
    cr_assert(tu_is_op(eq, MT_OP_EQ));
    cr_assert_eq(eq->args[1].v.i, 200092);
    /* the merge precedes the language model, whose embedding it reads */
    cr_assert(tu_under(ms->args[0].v.t->node, "language_model.model.embed_tokens"));
    /* images: at most one tile per 144 tokens */
    const mt_symbol_info *si = mt_sym_info_of(ctx, px->shape[0]);
    cr_assert_eq(si->lo, 1);
    cr_assert_str_eq(mt_sym_str(si->hi), "(batch*seq)//144");
    /* the cache is the language model's: 2 layers * 4,096 B; the tower's 2 layers are bidirectional */
    mt_sizing s;
    mt_sizing_opts so = {.kv_dtype = MT_DTYPE_NONE, .seq = 4096};
    cr_assert_eq(mt_model_sizing(m, g, &so, &s), MT_OK, "%s", mt_ctx_errmsg(ctx));
    cr_assert_eq(s.kv_bytes_per_token, 2 * 4096);
    int bidir = 0;
    for (int i = 0; i < s.nattn; i++) bidir += s.attn[i].kind == MT_ATTN_BIDIRECTIONAL;
    cr_assert_eq(bidir, 2);
    mt_ctx_free(ctx);
}

/* --attn eager: the tower uses Llama 4's vision_eager_attention_forward (head_dim^-0.5 = 88^-0.5,
 * softmax without a float32 cast), as the language model does. */
Test(llama4, scout_tower_eager_attention) {
    mt_ctx *ctx = mt_ctx_new();
    mt_config *cfg = mt_config_parse(ctx, SCOUT, strlen(SCOUT), "scout.json");
    mt_build_opts o = {.dtype = MT_DTYPE_NONE, .num_layers = 1, .attn = MT_ATTN_IMPL_EAGER};
    mt_model *m = mt_model_build(ctx, cfg, &o);
    cr_assert_not_null(m, "%s", mt_ctx_errmsg(ctx));
    mt_graph *g = tu_trace(m);
    cr_assert_eq(tu_count_ops(g, MT_OP_SDPA, NULL), 0);
    mt_node *sm = tu_first_op(g, MT_OP_SOFTMAX, "vision_model.model.layers.0.self_attn");
    cr_assert_not_null(sm);
    cr_assert_null(tu_kwarg(sm, "dtype"));
    cr_assert_eq(sm->outs[0].dtype, MT_BFLOAT16);
    mt_node *sc = sm->args[0].v.t->node; /* softmax <- mul(matmul, scaling) */
    cr_assert(tu_is_op(sc, MT_OP_MUL) && sc->args[1].kind == MT_ARG_FLOAT);
    cr_assert_float_eq(sc->args[1].v.f, 1.0 / sqrt(88.0), 1e-15);
    mt_ctx_free(ctx);
}

/* Vision configs that would not run in transformers' forward, refused with the field named. */
Test(llama4, vision_config_errors) {
    static const struct {
        const char *vision, *top, *field, *msg;
    } bad[] = {
        {NULL, "", "vision_config", "expected a vision_config object"},
        {"{\"model_type\": \"siglip_vision_model\"}", "", "vision_config.model_type", "llama4_vision_model"},
        {"{\"hidden_size\": 1408, \"intermediate_size\": 4096, \"vision_output_dim\": 4096}", "",
         "vision_config.intermediate_size", "not the 5632 channels the pixel shuffle gives"},
        {"{\"hidden_size\": 1408, \"projector_output_dim\": 2048, \"vision_output_dim\": 2048}", "",
         "vision_config.projector_output_dim", "differs from projector_input_dim 4096"},
        {"{\"hidden_size\": 1408}", "", "vision_config.vision_output_dim", "differs from projector_output_dim 4096"},
        {"{\"hidden_size\": 1408, \"vision_output_dim\": 4096, \"num_attention_heads\": 64}", "",
         "vision_config.num_attention_heads", "head_dim 22"},
        {"{\"hidden_size\": 1408, \"vision_output_dim\": 4096, \"image_size\": 350}", "",
         "vision_config.pixel_shuffle_ratio", "25 x 25 patch grid"},
        {"{\"hidden_size\": 1408, \"vision_output_dim\": 4096, \"pixel_shuffle_ratio\": 0}", "",
         "vision_config.pixel_shuffle_ratio", "expected a ratio"},
        {"{\"hidden_size\": 1408, \"vision_output_dim\": 4096, \"patch_size\": 500}", "", "vision_config.patch_size",
         "larger than image_size"},
        {"{\"hidden_size\": 1408, \"vision_output_dim\": 4096}", "\"image_token_index\": 300000, ",
         "image_token_index", "outside the vocabulary (202048)"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char json[4096];
        if (bad[i].vision)
            snprintf(json, sizeof json,
                     "{\"model_type\": \"llama4\", %s\"text_config\": {\"num_hidden_layers\": 1}, "
                     "\"vision_config\": %s}",
                     bad[i].top, bad[i].vision);
        else
            snprintf(json, sizeof json, "{\"model_type\": \"llama4\", %s\"text_config\": {\"num_hidden_layers\": 1}}",
                     bad[i].top);
        mt_ctx *ctx = mt_ctx_new();
        const char *e = build_error(ctx, json);
        const mt_error *er = mt_ctx_error(ctx);
        cr_assert_str_eq(er->field, bad[i].field, "case %zu: %s", i, e);
        cr_assert_not_null(strstr(e, bad[i].msg), "case %zu: %s", i, e);
        mt_ctx_free(ctx);
    }
}

Test(llama4, maverick_matches_card) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build_text(ctx, MAVERICK_TEXT, 0);
    mt_totals t;
    cr_assert_eq(mt_model_totals(m, &t), MT_OK);
    /* By hand: moe_layers = range(1, 48, 2), 24 sparse layers. Dense layer: attention 62,914,560 +
     * norms 10,240 + MLP 3*5120*16384 = 251,658,240 -> 314,583,040. Sparse layer: experts
     * 128*5120*16384 + 128*8192*5120 = 16,106,127,360, router 128*5120 = 655,360, shared expert
     * 125,829,120 -> 16,295,536,640 with attention and norms. 24*(314,583,040 + 16,295,536,640)
     * + 2*1,034,485,760 + 5,120 = 400,711,848,960 (card: 400B total). Active: 24*127/128 of
     * 16,106,127,360 idle = 383,527,157,760 -> 17,184,691,200 (card: 17B active). */
    cr_assert_eq(t.params, 400711848960LL, "%lld", (long long)t.params);
    cr_assert_eq(t.active_params, 17184691200LL, "%lld", (long long)t.active_params);
    TU_SHAPE(m, "model.layers.0.feed_forward.gate_proj.weight", 16384, 5120);
    TU_SHAPE(m, "model.layers.1.feed_forward.experts.gate_up_proj", 128, 5120, 16384);
    TU_SHAPE(m, "model.layers.1.feed_forward.router.weight", 128, 5120);
    cr_assert_null(mt_model_param(m, "model.layers.0.feed_forward.router.weight"));
    mt_ctx_free(ctx);
}

/* K/V by hand for Scout (bf16): 8 kv heads * 128 * 2 (K, V) * 2 bytes = 4,096 B per layer and token,
 * 48 layers = 196,608 B/token. At a context of 131,072 tokens the 36 chunked layers hold at most
 * 8,192 tokens each and the 12 NoPE (global) layers all of them: 36*8192*4096 + 12*131072*4096 =
 * 1,207,959,552 + 6,442,450,944 = 7,650,410,496 bytes. */
Test(llama4, scout_kv_cache_by_hand) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build_text(ctx, SCOUT_TEXT, 0);
    mt_graph *g = tu_trace(m);
    mt_sizing_opts o = {.kv_dtype = MT_DTYPE_NONE, .seq = 64, .context = 131072};
    mt_sizing s;
    cr_assert_eq(mt_model_sizing(m, g, &o, &s), MT_OK, "%s", mt_ctx_errmsg(ctx));
    cr_assert_eq(s.kv_bytes_per_token, 196608);
    cr_assert_eq(s.kv_bytes_at_context, 7650410496LL, "%lld", (long long)s.kv_bytes_at_context);
    cr_assert_eq(s.nattn, 48);
    for (int i = 0; i < s.nattn; i++)
        cr_assert_eq(s.attn[i].window, (i + 1) % 4 == 0 ? 0 : 8192, "layer %d: window %lld", i,
                     (long long)s.attn[i].window);
    mt_ctx_free(ctx);
}

/* Four layers of Scout: layers 0..2 RoPE (complex rotary, L2 qk_norm, chunked mask), layer 3 NoPE
 * (temperature tuning, the full causal mask, no qk_norm). */
Test(llama4, graph_details) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build_text(ctx, SCOUT_TEXT, 4);
    mt_graph *g = tu_trace(m);
    tu_check_logits(m, g, 202048);
    /* freqs_cis once at model level: polar(ones_like(freqs), freqs), complex64 [1, seq, 64] */
    cr_assert_eq(tu_count_ops(g, MT_OP_POLAR, NULL), 1);
    mt_node *pol = tu_first_op(g, MT_OP_POLAR, "model.rotary_emb");
    cr_assert_not_null(pol);
    cr_assert_eq(pol->outs[0].dtype, MT_COMPLEX64);
    cr_assert_eq(pol->outs[0].shape[2], mt_sym_const(ctx, 64));
    /* q and k rotated in complex form on layers 0..2 only */
    cr_assert_eq(tu_count_ops(g, MT_OP_VIEW_AS_COMPLEX, NULL), 6);
    cr_assert_eq(tu_count_ops(g, MT_OP_VIEW_AS_REAL, "model.layers.3"), 0);
    mt_node *vr = tu_first_op(g, MT_OP_VIEW_AS_REAL, "model.layers.0.self_attn");
    cr_assert_eq(vr->outs[0].dtype, MT_FLOAT32);
    cr_assert_eq(vr->outs[0].ndim, 5);
    cr_assert_eq(vr->outs[0].shape[2], mt_sym_const(ctx, 40));
    /* the L2 qk_norm: built on RoPE layers only, weightless, applied to q and k */
    cr_assert_not_null(mt_module_find(m->root, "model.layers.2.self_attn.qk_norm"));
    cr_assert_null(mt_module_find(m->root, "model.layers.3.self_attn.qk_norm"));
    cr_assert_eq(tu_count_ops(g, MT_OP_RSQRT, "model.layers.0.self_attn.qk_norm"), 2);
    /* temperature tuning on the NoPE layer: log1p(floor((cache_position + 1) / 8192)) * 0.1 + 1 */
    cr_assert_eq(tu_count_ops(g, MT_OP_FLOOR, NULL), 1);
    mt_node *fl = tu_first_op(g, MT_OP_FLOOR, "model.layers.3.self_attn");
    cr_assert_not_null(fl);
    mt_node *dv = fl->args[0].v.t->node;
    cr_assert(tu_is_op(dv, MT_OP_TRUEDIV) && dv->args[1].kind == MT_ARG_INT && dv->args[1].v.i == 8192);
    cr_assert_eq(tu_count_ops(g, MT_OP_LOG1P, "model.layers.3.self_attn"), 1);
    /* the chunked mask: q // 8192 != k // 8192 */
    cr_assert_eq(tu_count_ops(g, MT_OP_FLOORDIV, NULL), 2);
    /* the experts: bmm over all 16 experts, [16, tokens, 5120] @ [16, 5120, 16384] */
    cr_assert_eq(tu_count_ops(g, MT_OP_BMM, "model.layers.0.feed_forward.experts"), 2);
    mt_node *bmm = tu_first_op(g, MT_OP_BMM, "model.layers.0.feed_forward.experts");
    cr_assert_eq(bmm->outs[0].shape[0], mt_sym_const(ctx, 16));
    cr_assert_eq(bmm->outs[0].shape[2], mt_sym_const(ctx, 16384));
    mt_node *rep = tu_first_op(g, MT_OP_REPEAT, "model.layers.0.feed_forward");
    cr_assert(rep && rep->args[1].kind == MT_ARG_INT && rep->args[1].v.i == 16);
    cr_assert_eq(tu_count_ops(g, MT_OP_SIGMOID, "model.layers.0.feed_forward.router"), 1);
    cr_assert_eq(tu_count_ops(g, MT_OP_NONZERO, NULL), 0);
    mt_ctx_free(ctx);
}

Test(llama4, eager_softmax_keeps_the_dtype) {
    mt_ctx *ctx = mt_ctx_new();
    mt_config *cfg = mt_config_parse(ctx, SCOUT_TEXT, strlen(SCOUT_TEXT), "scout.json");
    mt_build_opts o = {.dtype = MT_DTYPE_NONE, .num_layers = 1, .attn = MT_ATTN_IMPL_EAGER};
    mt_model *m = mt_model_build(ctx, cfg, &o);
    cr_assert_not_null(m, "%s", mt_ctx_errmsg(ctx));
    mt_graph *g = tu_trace(m);
    cr_assert_eq(tu_count_ops(g, MT_OP_SDPA, NULL), 0);
    mt_node *sm = tu_first_op(g, MT_OP_SOFTMAX, "model.layers.0.self_attn");
    cr_assert_not_null(sm);
    cr_assert_null(tu_kwarg(sm, "dtype")); /* Llama 4's eager: no float32 softmax */
    cr_assert_eq(sm->outs[0].dtype, MT_BFLOAT16);
    mt_ctx_free(ctx);
}

Test(llama4, config_errors_name_field_and_family) {
    mt_ctx *ctx = mt_ctx_new();
    const char *e = build_error(ctx, "{\"model_type\": \"llama4_text\", \"num_hidden_layers\": 2, "
                                     "\"attention_chunk_size\": null}");
    cr_assert(strstr(e, "attention_chunk_size") && strstr(e, "llama4_text"), "%s", e);
    mt_ctx_free(ctx);
    ctx = mt_ctx_new();
    e = build_error(ctx, "{\"model_type\": \"llama4_text\", \"num_hidden_layers\": 2, \"moe_layers\": [5]}");
    cr_assert(strstr(e, "moe_layers.0") && strstr(e, "llama4_text"), "%s", e);
    mt_ctx_free(ctx);
    ctx = mt_ctx_new();
    e = build_error(ctx, "{\"model_type\": \"llama4_text\", \"num_hidden_layers\": 2, "
                         "\"layer_types\": [\"full_attention\", \"sliding_attention\"]}");
    cr_assert(strstr(e, "layer_types.1") && strstr(e, "chunked_attention"), "%s", e);
    mt_ctx_free(ctx);
    ctx = mt_ctx_new();
    e = build_error(ctx, "{\"model_type\": \"llama4\", \"text_config\": {\"num_hidden_layers\": 2, "
                         "\"num_local_experts\": 2, \"num_experts_per_tok\": 3}, \"vision_config\": " SCOUT_VISION "}");
    cr_assert(strstr(e, "text_config.num_experts_per_tok"), "%s", e);
    mt_ctx_free(ctx);
    ctx = mt_ctx_new();
    e = build_error(ctx, "{\"model_type\": \"llama4\", \"text_config\": 5}");
    cr_assert(strstr(e, "text_config") && strstr(e, "expected an object"), "%s", e);
    mt_ctx_free(ctx);
}

/* Prefill FLOPs of a chunked layer count the pairs its chunks keep. The tiny llama4_text (layer 0
 * chunked, layer 1 full) at seq 64, traced with chunks of 8 and of 64 (one chunk: plain causal):
 * the graphs differ only in the chunk constant, so the prefill difference is layer 0's sdpa per
 * pair, batch 1 * 4 heads * (2*16 + 2*16 + 5) = 276, times the kept pairs: 8 chunks of 8*9/2 = 36
 * is 288 against 64*65/2 = 2080, i.e. 276 * (288 - 2080) = -494,592 (a sliding window of 8 would
 * keep 36 + 56*8 = 484). */
static int64_t tiny_prefill(int64_t chunk) {
    const tiny_config *t = tiny_for("llama4_text");
    char json[2048];
    snprintf(json, sizeof json, "%s", t->json);
    char *at = strstr(json, "\"attention_chunk_size\": 8,");
    cr_assert_not_null(at);
    char rest[2048];
    snprintf(rest, sizeof rest, "%s", at + strlen("\"attention_chunk_size\": 8,"));
    snprintf(at, sizeof json - (size_t)(at - json), "\"attention_chunk_size\": %lld,%s", (long long)chunk, rest);
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build_text(ctx, json, 0);
    mt_graph *g = tu_trace(m);
    mt_sizing_opts o = {.kv_dtype = MT_DTYPE_NONE, .seq = 64};
    mt_sizing s;
    cr_assert_eq(mt_model_sizing(m, g, &o, &s), MT_OK, "%s", mt_ctx_errmsg(ctx));
    cr_assert_eq(s.attn[0].window, chunk);
    int64_t f = s.flops_prefill;
    mt_ctx_free(ctx);
    return f;
}

Test(llama4, chunked_prefill_pairs_by_hand) {
    cr_assert_eq(tiny_prefill(8) - tiny_prefill(64), -494592LL, "%lld",
                 (long long)(tiny_prefill(8) - tiny_prefill(64)));
}

/* --text-only on the multimodal config: text_config alone as the standalone Llama4ForCausalLM
 * (model.*, lm_head names), the same count as the language model under language_model. */
Test(llama4, text_only_traces_the_standalone_language_model) {
    mt_ctx *ctx = mt_ctx_new();
    mt_config *cfg = mt_config_parse(ctx, SCOUT, strlen(SCOUT), "scout.json");
    mt_build_opts o = {.dtype = MT_DTYPE_NONE, .num_layers = 0, .text_only = true};
    mt_model *m = mt_model_build(ctx, cfg, &o);
    cr_assert_not_null(m, "%s", mt_ctx_errmsg(ctx));
    cr_assert_str_eq(m->model_type, "llama4_text");
    cr_assert(m->note && strstr(m->note, "vision tower"), "%s", m->note ? m->note : "(none)");
    mt_totals t;
    cr_assert_eq(mt_model_totals(m, &t), MT_OK);
    cr_assert_eq(t.params, SCOUT_TEXT_PARAMS);
    TU_SHAPE(m, "model.layers.0.feed_forward.experts.gate_up_proj", 16, 5120, 16384);
    cr_assert_null(mt_model_param(m, "language_model.lm_head.weight"));
    mt_ctx_free(ctx);
}

/* Llama-4-Scout-17B-16E-Instruct's rope_scaling is llama3 with factor 16 and high_freq_factor ==
 * low_freq_factor == 1 (as a public vLLM test copies the Instruct text_config, code-search file id
 * 67089035748). transformers' _compute_llama3_parameters (modeling_rope_utils.py) computes it: the
 * smoothed band between original/high and original/low is empty, so wavelengths above 8192 are
 * divided by the factor and the rest kept; _validate_llama3_parameters only warns that high should
 * exceed low. We accept it as transformers does, and the model is the same as the base's with its
 * llama3 rope (the rope changes values, not shapes); a zero factor, a division by zero in
 * transformers, is refused with the field named. */
static char *scout_with_rope(const char *rope) {
    static const char base_rope[] = "{\"factor\": 8.0, \"high_freq_factor\": 4.0, \"low_freq_factor\": 1.0, ";
    const char *at = strstr(SCOUT_TEXT, base_rope);
    cr_assert_not_null(at);
    static char json[4096];
    snprintf(json, sizeof json, "%.*s%s%s", (int)(at - SCOUT_TEXT), SCOUT_TEXT, rope, at + strlen(base_rope));
    return json;
}

Test(llama4, scout_instruct_rope_high_equals_low) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *base = tu_build_text(ctx, SCOUT_TEXT, 4);
    mt_model *inst = tu_build_text(ctx, scout_with_rope("{\"factor\": 16.0, \"high_freq_factor\": 1.0, "
                                                        "\"low_freq_factor\": 1.0, "), 4);
    const mt_arg *rt = mt_module_get_attr(mt_module_find(inst->root, "model.rotary_emb"), "rope_type");
    cr_assert_not_null(rt);
    cr_assert_str_eq(rt->v.s, "llama3");
    mt_graph *gb = tu_trace(base), *gi = tu_trace(inst);
    cr_assert_eq(gi->n, gb->n);
    for (int i = 0; i < gb->n; i++) cr_assert_eq(gi->nodes[i]->opid, gb->nodes[i]->opid, "node %d", i);
    mt_totals tb, ti;
    cr_assert_eq(mt_model_totals(base, &tb), MT_OK);
    cr_assert_eq(mt_model_totals(inst, &ti), MT_OK);
    cr_assert_eq(ti.params, tb.params);
    /* high below low: transformers warns and computes (no smoothed band either) */
    tu_build_text(ctx, scout_with_rope("{\"factor\": 16.0, \"high_freq_factor\": 1.0, \"low_freq_factor\": 2.0, "), 2);
    mt_ctx_free(ctx);
    ctx = mt_ctx_new();
    const char *e = build_error(ctx, scout_with_rope("{\"factor\": 16.0, \"high_freq_factor\": 0.0, "
                                                     "\"low_freq_factor\": 1.0, "));
    cr_assert(strstr(e, "rope_scaling.high_freq_factor") && strstr(e, "other than 0"), "%s", e);
    mt_ctx_free(ctx);
}

/* The plan of Scout (text, bf16) at tp=8, by hand (counts above): the experts, 48 x (16 x 5120 x
 * 16384 + 16 x 8192 x 5120) = 96,636,764,160 parameters, 193,273,528,320 B (180 GiB), go whole, 2
 * per rank: 24,159,191,040 B (22.5 GiB) per rank; attention 62,914,560 and the shared expert
 * 125,829,120 parameters per layer are sharded 8 ways (40 heads, 8 KV heads, 8192 wide):
 * 48 x 188,743,680 x 2 / 8 = 2,264,924,160 B; embed_tokens and lm_head 202048 x 5120 x 2 / 8 =
 * 258,621,440 B each (vocab and width divide by 8); the router 16 x 5120 and the norms 2 x 5120
 * per layer + 5120 stay whole: (48 x 92,160 + 5,120) x 2 = 8,857,600 B. Per rank 26,950,215,680
 * B of 215,539,722,240; the whole ones 7 x 8,857,600 = 62,003,200 B more over the ranks.
 * Collectives (bf16, 7/8 of the bytes on the wire, twice for an all-reduce): per layer o_proj's
 * [T, 5120] and the experts' partial sum added to the shared expert's, 2 x 10,240 x 2 x 7/8 =
 * 35,840; the embedding's columns 10,240 x 7/8 = 8,960 and the logits 202,048 x 2 x 7/8 =
 * 353,584 gathered: 48 x 35,840 + 8,960 + 353,584 = 2,082,864 B/token in 96 all-reduces and 2
 * all-gathers. */
Test(llama4, scout_plan_per_rank_by_hand) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build_text(ctx, SCOUT_TEXT, 0);
    mt_graph *g = tu_trace(m);
    mt_plan_opts o = {.tp = 8, .style = MT_PLAN_OURS, .search = MT_SEARCH_BEST};
    mt_plan *p = mt_plan_run(m, g, &o);
    cr_assert(p && p->valid, "%s", p ? p->reason : mt_ctx_errmsg(ctx));
    cr_assert_eq(p->nexperts, 1);
    const mt_plan_experts *x = &p->experts[0];
    cr_assert(x->fused);
    cr_assert_str_eq(x->placement, "expert_parallel");
    cr_assert_eq(x->layers, 48);
    cr_assert_eq(x->experts, 16);
    cr_assert_eq(x->param_bytes, 193273528320LL);
    cr_assert_eq(x->local_bytes, 24159191040LL, "%lld", (long long)x->local_bytes);
    cr_assert_eq(x->local_bytes, 193273528320LL / 8);
    cr_assert_eq(p->mem.total_param_bytes, 2 * SCOUT_TEXT_PARAMS);
    cr_assert_eq(p->mem.param_bytes, 24159191040LL + 2264924160LL + 2 * 258621440LL + 8857600LL, "%lld",
                 (long long)p->mem.param_bytes);
    cr_assert_eq(p->mem.param_bytes, 26950215680LL);
    cr_assert_eq(p->mem.replicated_extra_bytes, 7 * 8857600LL, "%lld", (long long)p->mem.replicated_extra_bytes);
    int ar = 0, ag = 0;
    for (int k = 0; k < p->ncomms; k++) {
        ar += p->comms[k].kind == MT_COMM_ALL_REDUCE;
        ag += p->comms[k].kind == MT_COMM_ALL_GATHER;
    }
    cr_assert_eq(ar, 96, "%d all-reduces", ar);
    cr_assert_eq(ag, 2, "%d all-gathers", ag);
    cr_assert_float_eq(p->comm_per_token, 48 * 35840.0 + 8960 + 353584, 1e-6, "%.3f", p->comm_per_token);
    mt_ctx_free(ctx);
}

/* The CLI on the tiny llama4 (tests/tiny_configs.h): the tile note, the language model's row and --bind images;
 * --text-only the standalone language model with the wrapper's note. */
Test(llama4, cli_note_text_only_and_images) {
    const char *cfg = tu_write(tu_tmpdir(), "llama4.config.json", tiny_for("llama4")->json);
    char *out = NULL, *err = NULL;
    const char *whole[] = {cfg, "--bind", "images=2", NULL};
    cr_assert_eq(tu_run_cli(whole, &out, &err), 0, "%s", err);
    cr_assert(strstr(out, "Llama4ForConditionalGeneration (model_type llama4)"), "%s", out);
    cr_assert(strstr(out, "each pixel_values row is one 28 x 28 px tile"), "%s", out);
    cr_assert(strstr(out, "199,232 (199.23K)") && strstr(out, "without the vision tower and projector"), "%s", out);
    cr_assert(strstr(out, "237,216 (237.22K)"), "%s", out);
    free(out), free(err);
    const char *text[] = {cfg, "--text-only", NULL};
    cr_assert_eq(tu_run_cli(text, &out, &err), 0, "%s", err);
    cr_assert(strstr(out, "Llama4ForCausalLM (model_type llama4_text)"), "%s", out);
    cr_assert(strstr(out, "model_type 'llama4' is multimodal"), "%s", out);
    cr_assert_null(strstr(out, "pixel_values row"), "%s", out);
    free(out), free(err);
}
