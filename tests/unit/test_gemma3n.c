/* Gemma 3n (gemma3n_text; gemma3n traced as its language model): google/gemma-3n-E2B-it's text_config (as a
 * public re-implementation states it, see samples/configs/SOURCES.md; no config.json or index of the checkpoint
 * was found in a public mirror) counted by hand from modeling_gemma3n.py and checked against the published
 * text-only parameter count of an export of the checkpoint; transformers' defaults (E4B) likewise; the K/V per
 * token by hand (KV-shared layers caching nothing, sliding layers capped by the window); the graph's Gemma 3n
 * pieces (AltUp, Laurel, the activation sparsity's cutoff, the per-layer inputs); the multimodal wrapper's
 * names; config errors. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/blocks.h"
#include "testutil.h"

/* google/gemma-3n-E2B-it's text_config: hidden 2048, 30 layers (every fifth full), 8 heads, 2 K/V heads of
 * 256, intermediate 8192 on every layer, vocab 262400, per-layer inputs of 256 over 262144 tokens,
 * laurel_rank 64, 4 AltUp inputs, num_kv_shared_layers 10, activation sparsity 0.95 on the first 10 layers,
 * sliding_window 512, rope_theta 1e6 / rope_local_base_freq 1e4, final soft-capping 30, bfloat16. The
 * per-layer lists are written out here by loops over those values. */
static char *e2b_json(void) {
    size_t cap = 16384, n = 0;
    char *s = malloc(cap);
    cr_assert_not_null(s);
    n += (size_t)snprintf(s + n, cap - n,
                          "{\"model_type\": \"gemma3n_text\", \"hidden_size\": 2048, \"num_hidden_layers\": 30, "
                          "\"num_attention_heads\": 8, \"num_key_value_heads\": 2, \"head_dim\": 256, "
                          "\"vocab_size\": 262400, \"vocab_size_per_layer_input\": 262144, "
                          "\"hidden_size_per_layer_input\": 256, \"laurel_rank\": 64, \"altup_num_inputs\": 4, "
                          "\"altup_active_idx\": 0, \"altup_coef_clip\": 120.0, \"altup_correct_scale\": true, "
                          "\"num_kv_shared_layers\": 10, \"sliding_window\": 512, \"rope_theta\": 1000000.0, "
                          "\"rope_local_base_freq\": 10000.0, \"rope_scaling\": null, \"rms_norm_eps\": 1e-06, "
                          "\"final_logit_softcapping\": 30.0, \"hidden_activation\": \"gelu_pytorch_tanh\", "
                          "\"max_position_embeddings\": 32768, \"tie_word_embeddings\": true, "
                          "\"torch_dtype\": \"bfloat16\", \"intermediate_size\": [");
    for (int i = 0; i < 30; i++) n += (size_t)snprintf(s + n, cap - n, "%s8192", i ? ", " : "");
    n += (size_t)snprintf(s + n, cap - n, "], \"activation_sparsity_pattern\": [");
    for (int i = 0; i < 30; i++) n += (size_t)snprintf(s + n, cap - n, "%s%s", i ? ", " : "", i < 10 ? "0.95" : "0.0");
    n += (size_t)snprintf(s + n, cap - n, "], \"layer_types\": [");
    for (int i = 0; i < 30; i++)
        n += (size_t)snprintf(s + n, cap - n, "%s\"%s\"", i ? ", " : "",
                              (i + 1) % 5 == 0 ? "full_attention" : "sliding_attention");
    n += (size_t)snprintf(s + n, cap - n, "]}");
    cr_assert_lt(n, cap);
    return s;
}

/* The tiny configs of tests/tiny_configs.h (hand counts there). */
static const char *TINY =
    "{\"model_type\": \"gemma3n_text\", \"head_dim\": 16, \"sliding_window\": 8, \"layer_types\": "
    "[\"sliding_attention\", \"sliding_attention\"], \"num_kv_shared_layers\": 1, \"hidden_size_per_layer_input\": 8, "
    "\"vocab_size_per_layer_input\": 256, \"laurel_rank\": 8, \"altup_num_inputs\": 4, "
    "\"activation_sparsity_pattern\": [0.95, 0.0], \"vocab_size\": 256, \"hidden_size\": 64, \"intermediate_size\": "
    "128, \"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"num_key_value_heads\": 2, \"torch_dtype\": "
    "\"float32\"}";
static const char *TINY_MM =
    "{\"model_type\": \"gemma3n\", \"torch_dtype\": \"float32\", \"text_config\": {\"model_type\": \"gemma3n_text\", "
    "\"head_dim\": 16, \"sliding_window\": 8, \"layer_types\": [\"sliding_attention\", \"full_attention\"], "
    "\"num_kv_shared_layers\": 0, \"hidden_size_per_layer_input\": 8, \"vocab_size_per_layer_input\": 256, "
    "\"laurel_rank\": 8, \"activation_sparsity_pattern\": [0.95, 0.0], \"vocab_size\": 256, \"hidden_size\": 64, "
    "\"intermediate_size\": 128, \"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"num_key_value_heads\": 2, "
    "\"torch_dtype\": \"float32\"}}";

static const char *build_error(mt_ctx *ctx, const char *json) {
    mt_config *cfg = mt_config_parse(ctx, json, strlen(json), "bad.json");
    cr_assert_not_null(cfg, "config: %s", mt_ctx_errmsg(ctx));
    mt_build_opts o = {.dtype = MT_DTYPE_NONE, .num_layers = 0};
    cr_assert_null(mt_model_build(ctx, cfg, &o), "expected the build to fail");
    return mt_ctx_errmsg(ctx);
}

static mt_model *build_opts(mt_ctx *ctx, const char *json, mt_dtype dt, bool text_only) {
    mt_config *cfg = mt_config_parse(ctx, json, strlen(json), "config.json");
    cr_assert_not_null(cfg, "config: %s", mt_ctx_errmsg(ctx));
    mt_build_opts o = {.dtype = dt, .num_layers = 0, .text_only = text_only};
    mt_model *m = mt_model_build(ctx, cfg, &o);
    cr_assert_not_null(m, "%s", mt_ctx_errmsg(ctx));
    return m;
}

/* Nodes recorded under `path` (any op, call_module included). */
static int nodes_under(mt_graph *g, const char *path) {
    int n = 0;
    for (int i = 0; i < g->n; i++) n += tu_under(g->nodes[i], path);
    return n;
}

/* E2B by hand from modeling_gemma3n.py (H 2048, 30 layers, q 8 x 256, k/v 2 x 256, I 8192, ple 256, n 4):
 *   a layer: q_proj 2048*2048 4,194,304 + k_proj, v_proj 2048*512 1,048,576 each + o_proj 4,194,304 +
 *   q_norm, k_norm 256 each = 10,486,272 (v_norm's weight is a buffer; the KV-shared layers 20-29 keep
 *   their k/v_proj and k_norm); MLP 3*2048*8192 50,331,648; four norms 8,192; altup correct_output_scale
 *   2,048 + correction_coefs 16 + prediction_coefs 64 + modality_router 8,192 + router_norm 2,048 = 12,368;
 *   laurel 2*2048*64 + 2,048 = 264,192; per_layer_input_gate, per_layer_projection 2048*256 each + norm
 *   2,048 = 1,050,624 -> 62,153,296, 30 layers 1,864,598,880;
 *   embed_tokens 262400*2048 537,395,200, embed_tokens_per_layer 262144*(30*256) 2,013,265,920,
 *   per_layer_model_projection 2048*7680 15,728,640, per_layer_projection_norm 256, altup_projections and
 *   altup_unembed_projections 6*2048*2048 25,165,824, norm 2,048; lm_head tied:
 *   4,456,156,768, the "text parameters 4.46b" an ExecuTorch export of google/gemma-3n-E2B-it publishes
 *   for its language model and lm_head (samples/configs/SOURCES.md). */
Test(gemma3n, e2b_by_hand) {
    mt_ctx *ctx = mt_ctx_new();
    char *json = e2b_json();
    mt_model *m = tu_build_text(ctx, json, 0);
    mt_totals t;
    cr_assert_eq(mt_model_totals(m, &t), MT_OK);
    cr_assert_eq(t.params, 4456156768LL, "%lld", (long long)t.params);
    cr_assert_eq(llround((double)t.params / 1e7), 446); /* 4.46b */
    TU_SHAPE(m, "model.embed_tokens.weight", 262400, 2048);
    TU_SHAPE(m, "model.embed_tokens_per_layer.weight", 262144, 7680);
    TU_SHAPE(m, "model.per_layer_model_projection.weight", 7680, 2048);
    TU_SHAPE(m, "model.per_layer_projection_norm.weight", 256);
    TU_SHAPE(m, "model.altup_projections.2.weight", 2048, 2048);
    TU_SHAPE(m, "model.altup_unembed_projections.0.weight", 2048, 2048);
    TU_SHAPE(m, "model.layers.0.altup.correct_output_scale", 2048);
    TU_SHAPE(m, "model.layers.0.altup.correction_coefs.weight", 4, 4);
    TU_SHAPE(m, "model.layers.0.altup.prediction_coefs.weight", 16, 4);
    TU_SHAPE(m, "model.layers.0.altup.modality_router.weight", 4, 2048);
    TU_SHAPE(m, "model.layers.0.altup.router_norm.weight", 2048);
    TU_SHAPE(m, "model.layers.0.laurel.linear_left.weight", 64, 2048);
    TU_SHAPE(m, "model.layers.0.laurel.linear_right.weight", 2048, 64);
    TU_SHAPE(m, "model.layers.0.laurel.post_laurel_norm.weight", 2048);
    TU_SHAPE(m, "model.layers.29.self_attn.k_proj.weight", 512, 2048);
    TU_SHAPE(m, "model.layers.29.self_attn.k_norm.weight", 256);
    TU_SHAPE(m, "model.layers.29.mlp.down_proj.weight", 2048, 8192);
    TU_SHAPE(m, "model.layers.29.per_layer_input_gate.weight", 256, 2048);
    TU_SHAPE(m, "model.layers.29.per_layer_projection.weight", 2048, 256);
    TU_SHAPE(m, "model.layers.29.post_per_layer_input_norm.weight", 2048);
    /* with_scale=False: v_norm's weight is a 0-d non-persistent buffer, as router_input_scale is */
    const mt_param *vw = mt_model_param(m, "model.layers.0.self_attn.v_norm.weight");
    const mt_param *ris = mt_model_param(m, "model.layers.0.altup.router_input_scale");
    cr_assert(vw && vw->is_buffer && !vw->persistent && vw->t->ndim == 0);
    cr_assert(ris && ris->is_buffer && !ris->persistent && ris->t->ndim == 0);
    free(json);
    mt_ctx_free(ctx);
}

/* transformers' defaults are E4B's ("gemma3n_text-E4B style configuration"): 35 layers, I 16384,
 * num_kv_shared_layers 15. A layer: attention 10,486,272 + MLP 3*2048*16384 100,663,296 + norms 8,192 +
 * altup 12,368 + laurel 264,192 + per-layer input 1,050,624 = 112,484,944, 35 layers 3,936,973,040;
 * embed_tokens 537,395,200, embed_tokens_per_layer 262144*8960 2,348,810,240, per_layer_model_projection
 * 2048*8960 18,350,080, its norm 256, altup projections 25,165,824, norm 2,048: 6,866,696,688. With the
 * tied lm_head counted apart, 7,404,091,888: the "text parameters 7.40b" the same export publishes for
 * google/gemma-3n-E4B-it (which counts the head that way there, not for E2B). */
Test(gemma3n, defaults_are_e4b) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build_text(ctx, "{\"model_type\": \"gemma3n_text\", \"torch_dtype\": \"bfloat16\"}", 0);
    mt_totals t;
    cr_assert_eq(mt_model_totals(m, &t), MT_OK);
    cr_assert_eq(t.params, 6866696688LL, "%lld", (long long)t.params);
    cr_assert_eq(llround((double)(t.params + 262400LL * 2048) / 1e7), 740);
    TU_SHAPE(m, "model.layers.34.mlp.gate_proj.weight", 16384, 2048);
    mt_ctx_free(ctx);
}

/* E2B's K/V by hand (bf16, 2 K/V heads of 256: 2 * 256 * 2 * 2 = 2,048 B per layer and token): layers
 * 0-19 cache (16 sliding, full at 4, 9, 14, 19); 20-29 read layer 18's (sliding) or 19's (full) K/V and
 * cache nothing: 20 * 2,048 = 40,960 B/token; at 32,768 tokens 16 * 512 * 2,048 + 4 * 32,768 * 2,048 =
 * 16,777,216 + 268,435,456 = 285,212,672. */
Test(gemma3n, e2b_shared_layers_cache_nothing) {
    mt_ctx *ctx = mt_ctx_new();
    char *json = e2b_json();
    mt_model *m = tu_build_text(ctx, json, 0);
    mt_graph *g = tu_trace(m);
    tu_check_logits(m, g, 262400);
    mt_sizing_opts o = {.kv_dtype = MT_DTYPE_NONE, .seq = 64, .context = 32768};
    mt_sizing s;
    cr_assert_eq(mt_model_sizing(m, g, &o, &s), MT_OK, "%s", mt_ctx_errmsg(ctx));
    cr_assert_eq(s.kv_bytes_per_token, 40960, "%lld", (long long)s.kv_bytes_per_token);
    cr_assert_eq(s.kv_bytes_at_context, 285212672LL, "%lld", (long long)s.kv_bytes_at_context);
    cr_assert_eq(s.nattn, 30);
    for (int i = 0; i < 30; i++) {
        bool full = (i + 1) % 5 == 0;
        cr_assert_eq(s.attn[i].window, full ? 0 : 512, "layer %d", i);
        cr_assert_eq(s.attn[i].cache_bytes_per_token, i >= 20 ? 0 : 2048, "layer %d: %lld", i,
                     (long long)s.attn[i].cache_bytes_per_token);
    }
    cr_assert_eq(s.attn[20].key, s.attn[18].key, "layer 20 reads layer 18's keys");
    cr_assert_eq(s.attn[28].value, s.attn[18].value, "layer 28 reads layer 18's values");
    cr_assert_eq(s.attn[29].value, s.attn[19].value, "layer 29 (full) reads layer 19's values");
    cr_assert_eq(s.attn[24].key, s.attn[19].key, "layer 24 reads layer 19's keys");
    cr_assert_neq(s.attn[18].key, s.attn[17].key);
    /* the shared layers' k_proj/v_proj exist but are not called */
    cr_assert_eq(nodes_under(g, "model.layers.20.self_attn.k_proj"), 0);
    cr_assert_eq(nodes_under(g, "model.layers.20.self_attn.v_proj"), 0);
    cr_assert_eq(nodes_under(g, "model.layers.19.self_attn.k_proj"), 1);
    /* activation sparsity on layers 0-9 only: one torch.std each */
    cr_assert_eq(tu_count_ops(g, MT_OP_STD, NULL), 10);
    cr_assert_eq(tu_count_ops(g, MT_OP_STD, "model.layers.9.mlp"), 1);
    cr_assert_eq(tu_count_ops(g, MT_OP_STD, "model.layers.10.mlp"), 0);
    free(json);
    mt_ctx_free(ctx);
}

/* The graph's Gemma 3n pieces on the tiny config (two sliding layers, layer 1 KV-shared, layer 0 sparse). */
Test(gemma3n, graph_details) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build_text(ctx, TINY, 0);
    mt_graph *g = tu_trace(m);
    tu_check_logits(m, g, 256);
    /* _gaussian_topk: torch.std(x, dim=-1, keepdim=True, unbiased=False), relu(x - (mean + std * m)), m =
     * Normal(0, 1).icdf(0.95) = 1.6448536269514722 (the normal quantile) as float32: 1.64485359191894531 */
    mt_node *sd = tu_first_op(g, MT_OP_STD, "model.layers.0.mlp");
    cr_assert_not_null(sd);
    const mt_arg *ub = tu_kwarg(sd, "unbiased"), *kd = tu_kwarg(sd, "keepdim"), *dm = tu_kwarg(sd, "dim");
    cr_assert(ub && ub->kind == MT_ARG_BOOL && !ub->v.b);
    cr_assert(kd && kd->kind == MT_ARG_BOOL && kd->v.b);
    cr_assert(dm && dm->kind == MT_ARG_INT && dm->v.i == -1);
    cr_assert_eq(tu_count_ops(g, MT_OP_RELU, "model.layers.0.mlp"), 1);
    cr_assert_eq(tu_count_ops(g, MT_OP_RELU, "model.layers.1.mlp"), 0);
    mt_node *mul = tu_first_op(g, MT_OP_MUL, "model.layers.0.mlp");
    cr_assert(mul && mul->nargs == 2 && mul->args[1].kind == MT_ARG_FLOAT);
    cr_assert_eq(mul->args[1].v.f, (double)1.6448536269514722f, "%.17g", mul->args[1].v.f);
    /* AltUp: the magnitude floor torch.tensor(1e-5) once, the streams stacked twice (in, out), a clone and
     * an in-place add_ per layer, tanh twice per layer (predict, correct) and once for the soft-capping */
    cr_assert_eq(tu_count_ops(g, MT_OP_TENSOR, NULL), 1);
    cr_assert_eq(tu_count_ops(g, MT_OP_STACK, NULL), 2);
    cr_assert_eq(tu_count_ops(g, MT_OP_CLONE, NULL), 2);
    cr_assert_eq(tu_count_ops(g, MT_OP_ADD_, NULL), 2);
    cr_assert_eq(tu_count_ops(g, MT_OP_TANH, NULL), 5);
    cr_assert_eq(tu_count_ops(g, MT_OP_MAXIMUM, NULL), 6); /* 3 streams in, 3 out */
    cr_assert_eq(tu_count_ops(g, MT_OP_REPEAT, "model.layers.0"), 1);
    /* Gemma3nRMSNorm divides by torch.sqrt (no rsqrt, no pow(-0.5)); v_norm multiplies by its 1.0 buffer */
    cr_assert_eq(tu_count_ops(g, MT_OP_RSQRT, NULL), 0);
    cr_assert_eq(tu_count_ops(g, MT_OP_MUL, "model.layers.0.self_attn.v_norm"), 1);
    /* the rotary runs once per entry of layer_types */
    cr_assert_eq(tu_count_ops(g, MT_OP_COS, "model.rotary_emb"), 2);
    /* scaling 1.0 passed to sdpa; layer 1 attends over layer 0's K/V and calls no k_proj */
    mt_node *a1 = tu_first_op(g, MT_OP_SDPA, "model.layers.1.self_attn");
    const mt_arg *sc = a1 ? tu_kwarg(a1, "scale") : NULL;
    cr_assert(sc && sc->kind == MT_ARG_FLOAT && sc->v.f == 1.0);
    cr_assert_eq(nodes_under(g, "model.layers.1.self_attn.k_proj"), 0);
    mt_sizing_opts o = {.kv_dtype = MT_DTYPE_NONE, .seq = 16, .context = 64};
    mt_sizing s;
    cr_assert_eq(mt_model_sizing(m, g, &o, &s), MT_OK, "%s", mt_ctx_errmsg(ctx));
    cr_assert_eq(s.attn[1].key, s.attn[0].key);
    cr_assert_eq(s.attn[1].cache_bytes_per_token, 0);
    mt_ctx_free(ctx);
}

/* std_multiplier.type(inputs.dtype): in bfloat16 the quantile 1.6448536 is 1.6484375 (211 / 128: bfloat16
 * keeps 8 significant bits, 1.6448536 * 128 = 210.54 rounds to 211). */
Test(gemma3n, sparsity_cutoff_in_the_activations_dtype) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = build_opts(ctx, TINY, MT_BFLOAT16, false);
    mt_graph *g = tu_trace(m);
    mt_node *mul = tu_first_op(g, MT_OP_MUL, "model.layers.0.mlp");
    cr_assert(mul && mul->args[1].kind == MT_ARG_FLOAT);
    cr_assert_eq(mul->args[1].v.f, 1.6484375, "%.17g", mul->args[1].v.f);
    mt_ctx_free(ctx);
}

/* activation_sparsity_pattern None: 0.95 on the first 10 layers when there are more than 10, else none
 * (Gemma3nTextConfig.__post_init__). */
Test(gemma3n, default_sparsity_pattern) {
    static const char *fmt = "{\"model_type\": \"gemma3n_text\", \"num_hidden_layers\": %d, \"num_kv_shared_layers\": 0, "
                             "\"vocab_size\": 64, \"vocab_size_per_layer_input\": 64, \"hidden_size\": 32, "
                             "\"intermediate_size\": 64, \"num_attention_heads\": 2, \"num_key_value_heads\": 1, "
                             "\"head_dim\": 16, \"hidden_size_per_layer_input\": 4, \"laurel_rank\": 4, "
                             "\"sliding_window\": 4, \"torch_dtype\": \"float32\"}";
    int layers[2] = {12, 10}, expect[2] = {10, 0};
    for (int k = 0; k < 2; k++) {
        char json[1024];
        snprintf(json, sizeof json, fmt, layers[k]);
        mt_ctx *ctx = mt_ctx_new();
        mt_model *m = tu_build_text(ctx, json, 0);
        mt_graph *g = tu_trace(m);
        cr_assert_eq(tu_count_ops(g, MT_OP_STD, NULL), expect[k], "%d layers", layers[k]);
        /* layer_types None: every fifth layer full */
        cr_assert_eq(tu_count_ops(g, MT_OP_COS, "model.rotary_emb"), layers[k]);
        mt_ctx_free(ctx);
    }
}

/* gemma3n (Gemma3nForConditionalGeneration): its language model under model.language_model with lm_head
 * tied to its embedding, as the checkpoints store it; a note naming the towers left out; with --text-only
 * the standalone Gemma3nForCausalLM's names (model.*). */
Test(gemma3n, wrapper_names_and_note) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = build_opts(ctx, TINY_MM, MT_DTYPE_NONE, false);
    cr_assert_str_eq(m->model_type, "gemma3n");
    cr_assert(m->note && strstr(m->note, "audio tower") && strstr(m->note, "MobileNetV5") &&
                  strstr(m->note, "embed_vision"),
              "%s", m->note ? m->note : "(none)");
    TU_SHAPE(m, "model.language_model.embed_tokens.weight", 256, 64);
    TU_SHAPE(m, "model.language_model.layers.1.altup.correct_output_scale", 64);
    TU_SHAPE(m, "model.language_model.altup_unembed_projections.2.weight", 64, 64);
    cr_assert_null(mt_model_param(m, "model.embed_tokens.weight"));
    const mt_param *lm = mt_model_param(m, "lm_head.weight");
    cr_assert(lm && lm->tied_to && strcmp(lm->tied_to->name, "model.language_model.embed_tokens.weight") == 0);
    cr_assert_not_null(mt_module_find(m->root, "model.language_model.rotary_emb"));
    mt_totals t;
    cr_assert_eq(mt_model_totals(m, &t), MT_OK);
    cr_assert_eq(t.params, 125736);
    cr_assert_eq(t.text_params, 125736);
    mt_graph *g = tu_trace(m);
    tu_check_logits(m, g, 256);
    cr_assert_eq(tu_count_ops(g, MT_OP_SDPA, "model.language_model.layers.1.self_attn"), 1);
    mt_ctx_free(ctx);
    ctx = mt_ctx_new();
    m = build_opts(ctx, TINY_MM, MT_DTYPE_NONE, true);
    cr_assert_str_eq(m->model_type, "gemma3n_text");
    TU_SHAPE(m, "model.layers.1.altup.correct_output_scale", 64);
    cr_assert(m->note && strstr(m->note, "audio tower"), "%s", m->note ? m->note : "(none)");
    mt_ctx_free(ctx);
}

Test(gemma3n, config_errors_name_the_field) {
    static const struct {
        const char *json, *field, *what;
    } cases[] = {
        {"{\"model_type\": \"gemma3n_text\", \"num_hidden_layers\": 4, \"num_kv_shared_layers\": 4}",
         "num_kv_shared_layers", "fewer than num_hidden_layers"},
        {"{\"model_type\": \"gemma3n_text\", \"num_hidden_layers\": 2, \"num_kv_shared_layers\": 0, "
         "\"intermediate_size\": [8, 8, 8]}",
         "intermediate_size", "one per layer"},
        {"{\"model_type\": \"gemma3n_text\", \"num_hidden_layers\": 2, \"num_kv_shared_layers\": 0, "
         "\"activation_sparsity_pattern\": [0.95]}",
         "activation_sparsity_pattern", "one per layer"},
        {"{\"model_type\": \"gemma3n_text\", \"num_hidden_layers\": 2, \"num_kv_shared_layers\": 0, "
         "\"activation_sparsity_pattern\": [0.95, 1.5]}",
         "activation_sparsity_pattern[1]", "[0, 1)"},
        {"{\"model_type\": \"gemma3n_text\", \"num_hidden_layers\": 2, \"num_kv_shared_layers\": 0, "
         "\"layer_types\": [\"sliding_attention\", \"chunked_attention\"]}",
         "layer_types[1]", "full_attention"},
        {"{\"model_type\": \"gemma3n_text\", \"num_hidden_layers\": 3, \"num_kv_shared_layers\": 1, "
         "\"layer_types\": [\"sliding_attention\", \"sliding_attention\", \"full_attention\"]}",
         "num_kv_shared_layers", "no earlier layer of its kind"},
        {"{\"model_type\": \"gemma3n_text\", \"rope_scaling\": {\"rope_type\": \"linear\", \"factor\": 2.0}}",
         "rope_scaling", "not modelled"},
        {"{\"model_type\": \"gemma3n_text\", \"rope_parameters\": {\"full_attention\": {\"rope_type\": \"yarn\"}}}",
         "rope_type", "not modelled"},
        {"{\"model_type\": \"gemma3n_text\", \"altup_active_idx\": 4}", "altup_active_idx", "altup_num_inputs"},
        {"{\"model_type\": \"gemma3n_text\", \"hidden_size\": 100}", "hidden_size", "multiple of"},
        {"{\"model_type\": \"gemma3n\"}", "text_config", "Gemma3nConfig"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mt_ctx *ctx = mt_ctx_new();
        const char *e = build_error(ctx, cases[i].json);
        cr_assert(strstr(e, cases[i].field) && strstr(e, cases[i].what), "case %zu: %s", i, e);
        mt_ctx_free(ctx);
    }
}

/* The forwards read the handles the build bound, not names: Gemma3nRotaryEmbedding's one inv_freq per kind
 * ([head_dim / 2] = [8] each) is bound in the kinds' order, sliding then full; children and buffers renamed
 * after the build (AltUp, Laurel, attention, the model's scale buffers, the wrapper's model) leave the trace as
 * it was, where a forward that looked them up by name would fail. */
Test(gemma3n, forwards_read_handles_not_names) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = build_opts(ctx, TINY_MM, MT_DTYPE_NONE, false);
    mt_graph *g0 = mt_model_trace(m, NULL);
    cr_assert_not_null(g0, "%s", mt_ctx_errmsg(ctx));
    int before = g0->n;
    const mt_rope_kinds_h *rh =
        mt_module_bound(mt_module_find(m->root, "model.language_model.rotary_emb"), &mt_rope_kinds_h_kind);
    cr_assert_not_null(rh);
    cr_assert_eq(rh->inv_freq[0], mt_model_param(m, "model.language_model.rotary_emb.sliding_attention_inv_freq"));
    cr_assert_eq(rh->inv_freq[1], mt_model_param(m, "model.language_model.rotary_emb.full_attention_inv_freq"));
    cr_assert_eq(mt_sym_const_value(rh->inv_freq[1]->t->shape[0]), 8);
    rh->inv_freq[0]->local = "renamed_sliding";
    rh->inv_freq[1]->local = "renamed_full";
    mt_model_param(m, "model.language_model.per_layer_projection_scale")->local = "renamed_scale";
    mt_model_param(m, "model.language_model.layers.1.altup.router_input_scale")->local = "renamed_router_scale";
    static const char *const renamed[] = {"model.language_model.layers.1.altup.modality_router",
                                          "model.language_model.layers.1.laurel.linear_left",
                                          "model.language_model.layers.0.self_attn.v_norm",
                                          "model.language_model.layers.0.mlp.act_fn",
                                          "model.language_model.altup_projections",
                                          "model.language_model.layers.1.per_layer_input_gate",
                                          "model.language_model", "lm_head"};
    for (size_t i = 0; i < sizeof renamed / sizeof *renamed; i++) {
        mt_module *mod = mt_module_find(m->root, renamed[i]);
        cr_assert_not_null(mod, "%s", renamed[i]);
        mod->name = "renamed";
    }
    mt_graph *g = mt_model_trace(m, NULL);
    cr_assert_not_null(g, "%s", mt_ctx_errmsg(ctx));
    cr_assert_eq(g->n, before);
    mt_ctx_free(ctx);
}
