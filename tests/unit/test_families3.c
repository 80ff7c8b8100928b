/* Frontier text families (issue 12): SmolLM3 (NoPE layers), OLMoE, GLM-4.5 MoE,
 * Hunyuan. Real configs checked against the checkpoints' published totals
 * and index names (samples/configs/SOURCES.md), the graph details particular
 * to each family, and config errors naming field and family. Expected values
 * come from the transformers sources (models/<family>/modeling_*.py), the
 * checkpoints' safetensors indexes, and hand arithmetic written here. */
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


static mt_model *real(mt_ctx *ctx, const char *file, int64_t params, int64_t bytes, mt_dtype dt) {
    char rel[256];
    snprintf(rel, sizeof rel, "samples/configs/%s", file);
    mt_model *m = tu_build(ctx, tu_src(rel), 0);
    mt_totals t;
    cr_assert_eq(mt_model_totals(m, &t), MT_OK);
    cr_assert_eq(t.params, params, "%s: %lld parameters, expected %lld", file, (long long)t.params, (long long)params);
    cr_assert_eq(t.param_bytes, bytes, "%s: %lld bytes, expected %lld", file, (long long)t.param_bytes,
                 (long long)bytes);
    cr_assert_eq(t.params_by_dtype[dt], params);
    return m;
}

static char *path_of(char *buf, size_t n, const char *fmt, int i) {
    snprintf(buf, n, fmt, i);
    return buf;
}

/* ---- smollm3 ------------------------------------------------------------------ */

Test(smollm3, smollm3_3b_matches_checkpoint) {
    mt_ctx *ctx = mt_ctx_new();
    /* SOURCES.md: the index's total_parameters 3,075,098,624 and total_size 6,150,197,248 (bf16).
     * By hand: embed 128256*2048 = 262,668,288; layer q 2048*2048 + k, v 2048*512 each + o 2048*2048
     * = 10,485,760, MLP 3*2048*11008 = 67,633,152, norms 4096 -> 78,123,008; 36 layers 2,812,428,288;
     * final norm 2048; tied head: 3,075,098,624. */
    mt_model *m = real(ctx, "HuggingFaceTB--SmolLM3-3B.config.json", 3075098624LL, 6150197248LL, MT_BFLOAT16);
    mt_param *head = mt_model_param(m, "lm_head.weight");
    cr_assert_not_null(head);
    cr_assert_not_null(head->tied_to, "tie_word_embeddings: the index stores no lm_head.weight");
    TU_SHAPE(m, "model.layers.3.self_attn.k_proj.weight", 512, 2048);
    mt_graph *g = tu_trace(m);
    tu_check_logits(m, g, 128256);
    cr_assert_eq(tu_count_ops(g, MT_OP_SDPA, NULL), 36);
    /* no_rope_layers [1, 1, 1, 0] x 9: layers 3, 7, ..., 35 rotate nothing (no rotate_half cat),
     * the others rotate q and k (two cats each) */
    char path[64];
    for (int i = 0; i < 36; i++) {
        int cats = tu_count_ops(g, MT_OP_CAT, path_of(path, sizeof path, "model.layers.%d.self_attn", i));
        cr_assert_eq(cats, i % 4 == 3 ? 0 : 2, "layer %d: %d rotate_half cats", i, cats);
    }
    /* use_sliding_window false: no sliding mask */
    cr_assert_null(tu_first_op(g, MT_OP_GE, NULL));
    mt_ctx_free(ctx);
}

/* Without no_rope_layers the interval decides; with use_sliding_window and a window, the NoPE
 * layers slide (SmolLM3Config.__post_init__). */
Test(smollm3, nope_interval_and_sliding_layers) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build_text(ctx,
        "{\"model_type\": \"smollm3\", \"no_rope_layer_interval\": 3, \"use_sliding_window\": true, "
        "\"sliding_window\": 8, \"vocab_size\": 256, \"hidden_size\": 64, \"intermediate_size\": 128, "
        "\"num_hidden_layers\": 6, \"num_attention_heads\": 4, \"num_key_value_heads\": 2}", 0);
    mt_graph *g = tu_trace(m);
    char path[64];
    for (int i = 0; i < 6; i++) {
        bool nope = (i + 1) % 3 == 0; /* layers 2 and 5 */
        mt_node *sdpa = tu_first_op(g, MT_OP_SDPA, path_of(path, sizeof path, "model.layers.%d.self_attn", i));
        cr_assert_not_null(sdpa);
        cr_assert_eq(tu_count_ops(g, MT_OP_CAT, path), nope ? 0 : 2, "layer %d", i);
        /* mask[:, :, :, :k] of the sliding mask (masked_fill of the window) or of the causal one */
        const mt_arg *am = tu_kwarg(sdpa, "attn_mask");
        cr_assert_not_null(am);
        mt_node *src = am->v.t->node->args[0].v.t->node;
        bool sliding = src->opid == MT_OP_MASKED_FILL && src->args[1].v.t->node->opid == MT_OP_GE;
        cr_assert_eq(sliding, nope, "layer %d: sliding %d", i, sliding);
    }
    mt_ctx_free(ctx);
}

Test(smollm3, config_errors_name_field_and_family) {
    mt_ctx *ctx = mt_ctx_new();
    const char *e = build_error(ctx, "{\"model_type\": \"smollm3\", \"num_hidden_layers\": 2, \"no_rope_layers\": [1]}");
    cr_assert(strstr(e, "no_rope_layers") && strstr(e, "at least 2") && strstr(e, "smollm3"), "%s", e);
    mt_ctx_free(ctx);
    ctx = mt_ctx_new();
    e = build_error(ctx, "{\"model_type\": \"smollm3\", \"num_hidden_layers\": 2, \"no_rope_layers\": [1, 2]}");
    cr_assert(strstr(e, "no_rope_layers.1") && strstr(e, "0 or 1"), "%s", e);
    mt_ctx_free(ctx);
    ctx = mt_ctx_new();
    e = build_error(ctx, "{\"model_type\": \"smollm3\", \"num_hidden_layers\": 2, "
                         "\"layer_types\": [\"full_attention\", \"sliding_attention\"]}");
    cr_assert(strstr(e, "sliding_window") && strstr(e, "smollm3"), "%s", e);
    mt_ctx_free(ctx);
}

/* ---- olmoe -------------------------------------------------------------------- */

Test(olmoe, olmoe_1b_7b_matches_published_count) {
    mt_ctx *ctx = mt_ctx_new();
    /* By hand (OlmoeConfig of the checkpoint): embed and lm_head 50304*2048 = 103,022,592 each;
     * layer: q, k, v, o 4*2048*2048 = 16,777,216, q_norm 2048 + k_norm 16*128 = 2048, gate 64*2048
     * = 131,072, 64 experts 3*2048*1024 = 402,653,184, two norms 4096 -> 419,569,664; 16 layers
     * 6,713,114,624; + 206,045,184 + final norm 2048 = 6,919,161,856 (OLMoE paper and card: 6.9B total).
     * Active: 56 of 64 experts idle per layer, 16 * 56 * 6,291,456 = 5,637,144,576 less:
     * 1,282,017,280 (1.3B active). bf16: twice the count in bytes. */
    mt_model *m = real(ctx, "allenai--OLMoE-1B-7B-0125-Instruct.config.json", 6919161856LL, 13838323712LL,
                       MT_BFLOAT16);
    mt_totals t;
    cr_assert_eq(mt_model_totals(m, &t), MT_OK);
    cr_assert_eq(t.active_params, 1282017280LL, "%lld active", (long long)t.active_params);
    /* the checkpoint's names and shapes (OlmoeAttention, OlmoeSparseMoeBlock) */
    TU_SHAPE(m, "model.layers.0.self_attn.q_norm.weight", 2048);
    TU_SHAPE(m, "model.layers.0.self_attn.k_norm.weight", 2048);
    TU_SHAPE(m, "model.layers.15.mlp.gate.weight", 64, 2048);
    TU_SHAPE(m, "model.layers.15.mlp.experts.63.gate_proj.weight", 1024, 2048);
    TU_SHAPE(m, "model.layers.15.mlp.experts.63.down_proj.weight", 2048, 1024);
    TU_SHAPE(m, "lm_head.weight", 50304, 2048);
    cr_assert_null(mt_model_param(m, "lm_head.weight")->tied_to);
    mt_graph *g = tu_trace(m);
    tu_check_logits(m, g, 50304);
    /* every layer sparse: 16 x 64 expert loops, softmax routing over 64 */
    cr_assert_eq(tu_count_ops(g, MT_OP_NONZERO, NULL), 16 * 64);
    cr_assert_eq(tu_count_ops(g, MT_OP_SDPA, NULL), 16);
    /* q_norm(q_proj(x)) before k_proj: the q_norm's first node comes before the k_proj call */
    int qn = -1, kp = -1;
    for (int i = 0; i < g->n && (qn < 0 || kp < 0); i++) {
        mt_node *n = g->nodes[i];
        if (qn < 0 && tu_under(n, "model.layers.0.self_attn.q_norm")) qn = i;
        if (kp < 0 && n->op == MT_NODE_CALL_MODULE && strcmp(n->module->path, "model.layers.0.self_attn.k_proj") == 0)
            kp = i;
    }
    cr_assert(qn >= 0 && kp > qn, "q_norm at %d, k_proj at %d", qn, kp);
    mt_ctx_free(ctx);
}

/* clip_qkv clamps the normalized q and k (OlmoeAttention: norm, then clamp_) */
Test(olmoe, clip_after_qk_norm) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build_text(ctx,
        "{\"model_type\": \"olmoe\", \"clip_qkv\": 8.0, \"num_experts\": 4, \"num_experts_per_tok\": 2, "
        "\"vocab_size\": 256, \"hidden_size\": 64, \"intermediate_size\": 32, \"num_hidden_layers\": 1, "
        "\"num_attention_heads\": 4}", 0);
    mt_graph *g = tu_trace(m);
    mt_node *c = tu_first_op(g, MT_OP_CLAMP_, "model.layers.0.self_attn");
    cr_assert_not_null(c);
    /* the first clamp_ takes q_norm's output */
    mt_node *src = c->args[0].v.t->node;
    cr_assert(tu_under(src, "model.layers.0.self_attn.q_norm"), "clamp_ of %s", src->name);
    cr_assert_eq(tu_count_ops(g, MT_OP_CLAMP_, NULL), 3);
    mt_ctx_free(ctx);
}

/* ---- glm4_moe ----------------------------------------------------------------- */

/* zai-org/GLM-4.5-Air's config.json fields as transcribed in a public conversion script
 * (SOURCES.md; its num_nextn_predict_layers 1 from the model card's MTP layer). */
static const char *GLM45_AIR =
    "{\"architectures\": [\"Glm4MoeForCausalLM\"], \"attention_bias\": true, \"attention_dropout\": 0.0, "
    "\"pad_token_id\": 151329, \"eos_token_id\": [151329, 151336, 151338], \"head_dim\": 128, \"hidden_act\": \"silu\", "
    "\"hidden_size\": 4096, \"initializer_range\": 0.02, \"intermediate_size\": 10944, "
    "\"max_position_embeddings\": 131072, \"model_type\": \"glm4_moe\", \"moe_intermediate_size\": 1408, "
    "\"norm_topk_prob\": true, \"num_attention_heads\": 96, \"n_group\": 1, \"topk_group\": 1, "
    "\"n_routed_experts\": 128, \"n_shared_experts\": 1, \"routed_scaling_factor\": 1.0, \"num_experts_per_tok\": 8, "
    "\"first_k_dense_replace\": 1, \"num_hidden_layers\": 46, \"num_key_value_heads\": 8, "
    "\"num_nextn_predict_layers\": 1, \"partial_rotary_factor\": 0.5, \"rms_norm_eps\": 1e-5, "
    "\"rope_scaling\": null, \"rope_theta\": 1000000, \"tie_word_embeddings\": false, \"torch_dtype\": \"bfloat16\", "
    "\"use_cache\": true, \"vocab_size\": 151552}";

/* GLM-4.5 (355B-A32B): the same with the fields that differ. */
static const char *GLM45 =
    "{\"architectures\": [\"Glm4MoeForCausalLM\"], \"attention_bias\": true, \"head_dim\": 128, \"hidden_act\": \"silu\", "
    "\"hidden_size\": 5120, \"partial_rotary_factor\": 0.5, \"intermediate_size\": 12288, "
    "\"max_position_embeddings\": 131072, \"model_type\": \"glm4_moe\", \"moe_intermediate_size\": 1536, "
    "\"norm_topk_prob\": true, \"num_attention_heads\": 96, \"n_group\": 1, \"topk_group\": 1, "
    "\"n_routed_experts\": 160, \"n_shared_experts\": 1, \"routed_scaling_factor\": 2.5, \"num_experts_per_tok\": 8, "
    "\"first_k_dense_replace\": 3, \"num_hidden_layers\": 92, \"num_key_value_heads\": 8, \"rms_norm_eps\": 1e-5, "
    "\"rope_scaling\": null, \"rope_theta\": 1000000, \"num_nextn_predict_layers\": 1, \"tie_word_embeddings\": false, "
    "\"use_qk_norm\": true, \"torch_dtype\": \"bfloat16\", \"vocab_size\": 151552}";

Test(glm4_moe, glm_4_5_air_matches_published_count) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build_text(ctx, GLM45_AIR, 0);
    mt_totals t;
    cr_assert_eq(mt_model_totals(m, &t), MT_OK);
    /* By hand: attention q 4096*12288 = 50,331,648 + bias 12,288, k and v 4096*1024 = 4,194,304 + 1,024
     * each, o 12288*4096 = 50,331,648 (no bias) = 109,066,240. Layer 0: + dense MLP 3*4096*10944 =
     * 134,479,872 + norms 8,192 = 243,554,304. Layers 1..45: + router 128*4096 = 524,288, 128 experts
     * 3*4096*1408 = 17,301,504 each = 2,214,592,512, shared expert 17,301,504, norms 8,192
     * = 2,341,492,736. Embedding and lm_head 151552*4096 = 620,756,992 each, final norm 4,096:
     * 2*620,756,992 + 4,096 + 243,554,304 + 45*2,341,492,736 = 106,852,245,504 (card: 106B total). */
    cr_assert_eq(t.params, 106852245504LL, "%lld", (long long)t.params);
    cr_assert_eq(t.param_bytes, 2 * 106852245504LL);
    /* active: 120 of 128 experts idle in 45 layers, 45*120*17,301,504 = 93,428,121,600 less
     * = 13,424,123,904; less the two 620,756,992 embeddings 12,182,609,920 (card: 12B active) */
    cr_assert_eq(t.active_params, 13424123904LL, "%lld", (long long)t.active_params);
    /* MTP layer 46: a MoE layer 2,341,492,736 + enorm, hnorm 8,192 + eh_proj 2*4096*4096 = 33,554,432
     * + shared_head.norm 4,096 = 2,375,059,456 */
    cr_assert_eq(t.extra_params, 2375059456LL, "%lld", (long long)t.extra_params);
    /* the checkpoint's names and shapes */
    TU_SHAPE(m, "model.layers.0.mlp.gate_proj.weight", 10944, 4096);
    TU_SHAPE(m, "model.layers.1.mlp.gate.weight", 128, 4096);
    TU_SHAPE(m, "model.layers.1.mlp.gate.e_score_correction_bias", 128);
    TU_SHAPE(m, "model.layers.45.mlp.experts.127.down_proj.weight", 4096, 1408);
    TU_SHAPE(m, "model.layers.45.mlp.shared_experts.up_proj.weight", 1408, 4096);
    TU_SHAPE(m, "model.layers.2.self_attn.q_proj.bias", 12288);
    cr_assert_null(mt_model_param(m, "model.layers.2.self_attn.o_proj.bias"));
    cr_assert_null(mt_model_param(m, "model.layers.2.self_attn.q_norm.weight"));
    /* partial_rotary_factor 0.5 of head_dim 128: inv_freq of 32 */
    TU_SHAPE(m, "model.rotary_emb.inv_freq", 32);
    mt_ctx_free(ctx);
}

Test(glm4_moe, glm_4_5_matches_published_count) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build_text(ctx, GLM45, 0);
    mt_totals t;
    cr_assert_eq(mt_model_totals(m, &t), MT_OK);
    /* By hand: attention q 5120*12288 = 62,914,560 + 12,288, k and v 5120*1024 = 5,242,880 + 1,024 each,
     * o 62,914,560, q_norm and k_norm 128 each = 136,329,472. Dense layers 0..2: + 3*5120*12288 =
     * 188,743,680 + norms 10,240 = 325,083,392. Layers 3..91: + router 160*5120 = 819,200, 160 experts
     * 3*5120*1536 = 23,592,960 each = 3,774,873,600, shared 23,592,960, norms 10,240 = 3,935,625,472.
     * 2*151552*5120 = 2*775,946,240, final norm 5,120: 1,551,897,600 + 5,120 + 3*325,083,392
     * + 89*3,935,625,472 = 352,797,814,784; active: less 89*152*23,592,960 = 319,165,562,880
     * -> 33,632,251,904, 32,080,359,424 without the embeddings (card: 355B total / 32B active). */
    cr_assert_eq(t.params, 352797814784LL, "%lld", (long long)t.params);
    cr_assert_eq(t.active_params, 33632251904LL, "%lld", (long long)t.active_params);
    /* MTP: 3,935,625,472 + 10,240 + 2*5120*5120 = 52,428,800 + 5,120 = 3,988,069,632 */
    cr_assert_eq(t.extra_params, 3988069632LL, "%lld", (long long)t.extra_params);
    TU_SHAPE(m, "model.layers.91.self_attn.q_norm.weight", 128);
    TU_SHAPE(m, "model.layers.3.mlp.experts.159.gate_proj.weight", 1536, 5120);
    cr_assert_null(mt_model_param(m, "model.layers.3.mlp.gate_proj.weight"));
    TU_SHAPE(m, "model.layers.2.mlp.gate_proj.weight", 12288, 5120);
    mt_ctx_free(ctx);
}

/* The traced graph of 3 layers of GLM-4.5: q/k norms per head after the view, rotary on the first 64
 * of 128 channels, a dense MLP in layers 0..2 only with first_k_dense_replace 2 (here), the
 * DeepSeek-V3 router (sigmoid, bias, topk 2 per group, scaling 2.5) on the sparse layer. */
Test(glm4_moe, graph_details) {
    mt_ctx *ctx = mt_ctx_new();
    char json[4096];
    snprintf(json, sizeof json, "%s", GLM45);
    char *f = strstr(json, "\"first_k_dense_replace\": 3");
    cr_assert_not_null(f);
    f[strlen("\"first_k_dense_replace\": ")] = '2';
    mt_model *m = tu_build_text(ctx, json, 3);
    mt_graph *g = tu_trace(m);
    tu_check_logits(m, g, 151552);
    cr_assert_null(tu_first_op(g, MT_OP_NONZERO, "model.layers.1"));
    cr_assert_eq(tu_count_ops(g, MT_OP_NONZERO, "model.layers.2.mlp"), 160);
    cr_assert_eq(tu_count_ops(g, MT_OP_SIGMOID, "model.layers.2.mlp.gate"), 1);
    mt_node *rsf = NULL;
    for (int i = 0; i < g->n; i++)
        if (tu_is_op(g->nodes[i], MT_OP_MUL) && tu_under(g->nodes[i], "model.layers.2.mlp.gate") &&
            g->nodes[i]->args[1].kind == MT_ARG_FLOAT)
            rsf = g->nodes[i];
    cr_assert_not_null(rsf);
    cr_assert_float_eq(rsf->args[1].v.f, 2.5, 0);
    /* q_norm runs on [batch, seq, 96, 128] (after the view, before the transpose) */
    mt_node *qn = tu_first_op(g, MT_OP_POW, "model.layers.0.self_attn.q_norm");
    cr_assert_not_null(qn);
    const mt_tensor *qin = qn->args[0].v.t;
    cr_assert_eq(qin->ndim, 4);
    cr_assert_eq(qin->shape[2], mt_sym_const(ctx, 96));
    /* partial rotary: the rotated slice is q[..., :64], the rest passed through and concatenated */
    mt_node *cat = NULL;
    for (int i = 0; i < g->n; i++)
        if (tu_is_op(g->nodes[i], MT_OP_CAT) && tu_under(g->nodes[i], "model.layers.0.self_attn")) cat = g->nodes[i];
    cr_assert_not_null(cat);
    cr_assert_eq(cat->outs[0].shape[3], mt_sym_const(ctx, 128));
    mt_ctx_free(ctx);
}

Test(glm4_moe, config_errors_name_field_and_family) {
    mt_ctx *ctx = mt_ctx_new();
    const char *e = build_error(ctx, "{\"model_type\": \"glm4_moe\", \"head_dim\": 16, \"hidden_size\": 64, "
                                     "\"num_attention_heads\": 4, \"num_key_value_heads\": 2, \"partial_rotary_factor\": 0.05}");
    cr_assert(strstr(e, "partial_rotary_factor") && strstr(e, "glm4_moe"), "%s", e);
    mt_ctx_free(ctx);
    ctx = mt_ctx_new();
    e = build_error(ctx, "{\"model_type\": \"glm4_moe\", \"head_dim\": 128, \"n_routed_experts\": 10, \"n_group\": 4}");
    cr_assert(strstr(e, "n_group") && strstr(e, "glm4_moe"), "%s", e);
    mt_ctx_free(ctx);
}

/* ---- hunyuan_v1_moe / hunyuan_v1_dense ------------------------------------------ */

Test(hunyuan, hunyuan_a13b_matches_published_count) {
    mt_ctx *ctx = mt_ctx_new();
    /* By hand: attention q, o 4096*4096 = 16,777,216 each, k, v 4096*1024 = 4,194,304 each, query/key_layernorm
     * 128 each = 41,943,296; gate.wg 64*4096 = 262,144 (float32); 64 experts 3*4096*3072 = 37,748,736 each =
     * 2,415,919,104; shared_mlp 37,748,736; norms 8,192 -> 2,495,881,472 per layer; 32 layers 79,868,207,104;
     * embedding 128167*4096 = 524,972,032 (tied head); final norm 4,096: 80,393,183,232 (card: 80B total).
     * Bytes: 32*262,144 = 8,388,608 float32 parameters (4 bytes), the rest bfloat16:
     * 2*80,384,794,624 + 4*8,388,608 = 160,803,143,680. */
    mt_model *m = tu_build(ctx, tu_src("samples/configs/tencent--Hunyuan-A13B-Instruct.config.json"), 0);
    cr_assert_eq(m->arch, mt_arch_find("hunyuan_v1_moe"), "remote-code model_type hunyuan is hunyuan_v1_moe");
    mt_totals t;
    cr_assert_eq(mt_model_totals(m, &t), MT_OK);
    cr_assert_eq(t.params, 80393183232LL, "%lld", (long long)t.params);
    cr_assert_eq(t.params_by_dtype[MT_FLOAT32], 8388608LL);
    cr_assert_eq(t.param_bytes, 160803143680LL, "%lld", (long long)t.param_bytes);
    /* active: 56 of 64 experts idle per layer, 32*56*37,748,736 = 67,645,734,912 less: 12,747,448,320
     * (card: 13B active) */
    cr_assert_eq(t.active_params, 12747448320LL, "%lld", (long long)t.active_params);
    mt_param *wg = mt_model_param(m, "model.layers.31.mlp.gate.wg.weight");
    cr_assert_not_null(wg);
    cr_assert_eq(wg->t->dtype, MT_FLOAT32);
    TU_SHAPE(m, "model.layers.31.mlp.gate.wg.weight", 64, 4096);
    TU_SHAPE(m, "model.layers.0.mlp.experts.63.down_proj.weight", 4096, 3072);
    TU_SHAPE(m, "model.layers.0.mlp.shared_mlp.gate_proj.weight", 3072, 4096);
    TU_SHAPE(m, "model.layers.0.self_attn.query_layernorm.weight", 128);
    TU_SHAPE(m, "model.layers.0.self_attn.key_layernorm.weight", 128);
    cr_assert_not_null(mt_model_param(m, "lm_head.weight")->tied_to);
    mt_ctx_free(ctx);
}

/* The graph of 1 layer: q/k norms after the rotary, the shared MLP before the float32 gate, the routed
 * output reshaped then added to it. */
Test(hunyuan, graph_order) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build(ctx, tu_src("samples/configs/tencent--Hunyuan-A13B-Instruct.config.json"), 1);
    mt_graph *g = tu_trace(m);
    tu_check_logits(m, g, 128167);
    int rope = -1, qn = -1, shared = -1, wg = -1;
    for (int i = 0; i < g->n; i++) {
        mt_node *n = g->nodes[i];
        if (tu_is_op(n, MT_OP_CAT) && tu_under(n, "model.layers.0.self_attn")) rope = i; /* last rotate_half cat */
        if (qn < 0 && tu_under(n, "model.layers.0.self_attn.query_layernorm")) qn = i;
        if (shared < 0 && tu_under(n, "model.layers.0.mlp.shared_mlp")) shared = i;
        if (wg < 0 && n->op == MT_NODE_CALL_MODULE && strcmp(n->module->path, "model.layers.0.mlp.gate.wg") == 0) wg = i;
    }
    cr_assert(rope >= 0 && qn > rope, "query_layernorm at %d, rotary at %d", qn, rope);
    cr_assert(shared >= 0 && wg > shared, "shared_mlp at %d, gate.wg at %d", shared, wg);
    /* the gate's input is cast to float32 and the logits are float32 */
    mt_node *w = g->nodes[wg];
    cr_assert_eq(w->args[0].v.t->dtype, MT_FLOAT32);
    cr_assert_eq(tu_count_ops(g, MT_OP_NONZERO, "model.layers.0.mlp"), 64);
    /* the block's last node: reshape(routed) + shared */
    mt_node *add = NULL;
    for (int i = 0; i < g->n; i++)
        if (tu_is_op(g->nodes[i], MT_OP_ADD) && strcmp(g->nodes[i]->stack->mods[g->nodes[i]->stack->depth - 1]->path,
                                                     "model.layers.0.mlp") == 0)
            add = g->nodes[i];
    cr_assert_not_null(add);
    cr_assert(tu_is_op(add->args[0].v.t->node, MT_OP_RESHAPE));
    cr_assert(tu_under(add->args[1].v.t->node, "model.layers.0.mlp.shared_mlp"));
    mt_ctx_free(ctx);
}

/* num_experts and moe_topk as per-layer lists: layer 0 has 4 experts (top 2), layer 1 has 2 (top 1). */
Test(hunyuan, per_layer_expert_lists) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build_text(ctx,
        "{\"model_type\": \"hunyuan_v1_moe\", \"head_dim\": 16, \"num_experts\": [4, 2], \"moe_topk\": [2, 1], "
        "\"vocab_size\": 256, \"hidden_size\": 64, \"intermediate_size\": 32, \"num_hidden_layers\": 2, "
        "\"num_attention_heads\": 4, \"num_key_value_heads\": 2}", 0);
    mt_totals t;
    cr_assert_eq(mt_model_totals(m, &t), MT_OK);
    /* layer: attention 12288 + norms 32, shared 3*64*32 = 6144, layer norms 128; layer 0 gate 256 + 4 experts
     * 24576, layer 1 gate 128 + 2 experts 12288: 2*18592 + 24832 + 12416 = 74432; + 16384 + 64 + 16384 untied
     * = 107264; idle: 2 experts of layer 0 and 1 of layer 1, 3*6144 = 18432 */
    cr_assert_eq(t.params, 107264LL, "%lld", (long long)t.params);
    cr_assert_eq(t.active_params, 107264LL - 18432LL, "%lld", (long long)t.active_params);
    mt_graph *g = tu_trace(m);
    cr_assert_eq(tu_count_ops(g, MT_OP_NONZERO, "model.layers.0.mlp"), 4);
    cr_assert_eq(tu_count_ops(g, MT_OP_NONZERO, "model.layers.1.mlp"), 2);
    mt_node *tk = tu_first_op(g, MT_OP_TOPK, "model.layers.1.mlp");
    cr_assert_not_null(tk);
    cr_assert_eq(tk->args[1].v.i, 1);
    mt_ctx_free(ctx);
}

Test(hunyuan, config_errors_name_field_and_family) {
    mt_ctx *ctx = mt_ctx_new();
    const char *e = build_error(ctx, "{\"model_type\": \"hunyuan_v1_moe\", \"use_cla\": true}");
    cr_assert(strstr(e, "use_cla") && strstr(e, "hunyuan_v1_moe"), "%s", e);
    mt_ctx_free(ctx);
    ctx = mt_ctx_new();
    e = build_error(ctx, "{\"model_type\": \"hunyuan_v1_moe\", \"num_hidden_layers\": 2, \"num_experts\": 4, "
                         "\"moe_topk\": [2, 8]}");
    cr_assert(strstr(e, "moe_topk.1") && strstr(e, "8 experts of 4"), "%s", e);
    mt_ctx_free(ctx);
    ctx = mt_ctx_new();
    e = build_error(ctx, "{\"model_type\": \"hunyuan\", \"use_mixed_mlp_moe\": false}");
    cr_assert(strstr(e, "use_mixed_mlp_moe") && strstr(e, "hunyuan"), "%s", e);
    mt_ctx_free(ctx);
}

/* The dense model: Llama blocks with query/key_layernorm after the rotary, no MoE. */
Test(hunyuan, dense_norms_after_rotary) {
    mt_ctx *ctx = mt_ctx_new();
    const tiny_config *tc = tiny_for("hunyuan_v1_dense");
    cr_assert_not_null(tc);
    mt_model *m = tu_build_text(ctx, tc->json, 0);
    cr_assert_str_eq(m->class_name, "HunYuanDenseV1ForCausalLM");
    mt_graph *g = tu_trace(m);
    mt_node *pw = tu_first_op(g, MT_OP_POW, "model.layers.1.self_attn.key_layernorm");
    cr_assert_not_null(pw);
    /* k after the rotary: to(float32) of the rotary's add */
    mt_node *src = pw->args[0].v.t->node->args[0].v.t->node;
    cr_assert(tu_is_op(src, MT_OP_ADD), "key_layernorm input from %s", src->name);
    cr_assert_eq(tu_count_ops(g, MT_OP_NONZERO, NULL), 0);
    mt_ctx_free(ctx);
}

/* ---- bamba (Mamba-2 hybrid) ---------------------------------------------------------------
 * No checkpoint index of a Bamba model was found in the public mirrors searched (SOURCES.md), so
 * the config is kept inline and reconstructed from published sources: BambaConfig's defaults
 * (configuration_bamba.py: hidden 4096, intermediate 14336, 32 layers, 32 heads, 8 KV heads,
 * mamba_n_heads 128, d_conv 4, expand 2, chunk 256, conv bias, no proj bias, untied), the
 * Bamba-9B release post (foundation-model-stack/bamba blog/bamba-9b-release.md: 32 layers, 3
 * attention and 29 Mamba2, head dimension 64, 128k vocabulary, 32 heads / 8 KV heads), the
 * attention layers [9, 18, 27] and d_state 128 as public tools quote ibm-ai-platform/Bamba-9B,
 * and d_head 64, n_groups 1, d_state 128 of the Bamba conversion script's "unsettables".
 * The total is checked by hand below and against the model card's 9.78B. */
static const char *BAMBA_9B =
    "{\"architectures\": [\"BambaForCausalLM\"], \"model_type\": \"bamba\", \"vocab_size\": 128256, "
    "\"hidden_size\": 4096, \"intermediate_size\": 14336, \"num_hidden_layers\": 32, \"num_attention_heads\": 32, "
    "\"num_key_value_heads\": 8, \"attn_layer_indices\": [9, 18, 27], \"mamba_n_heads\": 128, \"mamba_d_head\": 64, "
    "\"mamba_n_groups\": 1, \"mamba_d_state\": 128, \"mamba_d_conv\": 4, \"mamba_expand\": 2, "
    "\"mamba_chunk_size\": 256, \"mamba_conv_bias\": true, \"mamba_proj_bias\": false, \"rms_norm_eps\": 1e-5, "
    "\"rope_theta\": 10000.0, \"max_position_embeddings\": 262144, \"tie_word_embeddings\": false, "
    "\"torch_dtype\": \"bfloat16\"}";

Test(bamba, bamba_9b_by_hand_and_model_card) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build_text(ctx, BAMBA_9B, 0);
    /* By hand (modeling_bamba.py): embed and lm_head 2*128256*4096 = 1,050,673,152.
     * Mixer: intermediate 8192, conv_dim 8192 + 2*1*128 = 8448, in_proj 4096*(8192+8448+128) =
     * 68,681,728, conv1d 8448*1*4 + 8448 = 42,240, dt_bias/A_log/D 3*128, norm 8192, out_proj 8192*4096 =
     * 33,554,432 -> 102,286,976; MLP 3*4096*14336 = 176,160,768; two norms 8192: Mamba layer
     * 278,455,936, x29 = 8,075,222,144. Attention q/o 2*4096*4096 + k/v 2*4096*1024 = 41,943,040:
     * layer 218,112,000, x3 = 654,336,000. Final norm 4096. Total 9,780,235,392 (9.78B: the card's
     * "9B (9.78B)"), bfloat16 2 bytes each. */
    mt_totals t;
    cr_assert_eq(mt_model_totals(m, &t), MT_OK);
    cr_assert_eq(t.params, 9780235392LL, "%lld", (long long)t.params);
    cr_assert_eq(t.param_bytes, 2 * 9780235392LL);
    cr_assert_eq(llround((double)t.params / 1e7), 978, "model card: 9.78B");
    /* names and shapes as BambaMixer / BambaAttention register them */
    TU_SHAPE(m, "model.layers.0.mamba.in_proj.weight", 16768, 4096);
    TU_SHAPE(m, "model.layers.0.mamba.conv1d.weight", 8448, 1, 4);
    TU_SHAPE(m, "model.layers.0.mamba.conv1d.bias", 8448);
    TU_SHAPE(m, "model.layers.0.mamba.A_log", 128);
    TU_SHAPE(m, "model.layers.0.mamba.D", 128);
    TU_SHAPE(m, "model.layers.0.mamba.dt_bias", 128);
    TU_SHAPE(m, "model.layers.0.mamba.norm.weight", 8192);
    TU_SHAPE(m, "model.layers.0.mamba.out_proj.weight", 4096, 8192);
    TU_SHAPE(m, "model.layers.0.feed_forward.gate_proj.weight", 14336, 4096);
    TU_SHAPE(m, "model.layers.0.pre_ff_layernorm.weight", 4096);
    TU_SHAPE(m, "model.layers.9.self_attn.k_proj.weight", 1024, 4096);
    TU_SHAPE(m, "model.final_layernorm.weight", 4096);
    TU_SHAPE(m, "lm_head.weight", 128256, 4096);
    cr_assert_null(mt_model_param(m, "model.layers.9.mamba.A_log"), "layer 9 is an attention layer");
    cr_assert_null(mt_model_param(m, "model.layers.8.self_attn.q_proj.weight"), "layer 8 is a Mamba layer");
    mt_graph *g = tu_trace(m);
    tu_check_logits(m, g, 128256);
    cr_assert_eq(tu_count_ops(g, MT_OP_SDPA, NULL), 3);
    cr_assert_eq(tu_count_ops(g, MT_OP_SOFTPLUS, NULL), 29);
    /* segment_sum twice per mixer (the chunk's L and the inter-chunk decay): 2 tril(ones) masks each */
    cr_assert_eq(tu_count_ops(g, MT_OP_TRIL, NULL), 29 * 4);
    cr_assert_eq(tu_count_ops(g, MT_OP_PAD, "model.layers.0.mamba"), 6);
    /* sizing at batch 1: K/V of 3 attention layers, 8 heads * 128 * 2 (K, V) * 2 bytes = 4096 B per layer
     * and token -> 12,288 B/token. Recurrent state per sequence (HybridMambaAttentionDynamicCache, bf16):
     * conv 8448*4*2 = 67,584 B and SSM 128*64*128*2 = 2,097,152 B per Mamba layer; x29: 1,959,936 +
     * 60,817,408 = 62,777,344 B. */
    mt_sizing_opts o = {.kv_dtype = MT_DTYPE_NONE, .seq = 4096};
    mt_sizing s;
    cr_assert_eq(mt_model_sizing(m, g, &o, &s), MT_OK, "%s", mt_ctx_errmsg(ctx));
    cr_assert_eq(s.kv_bytes_per_token, 12288);
    cr_assert_eq(s.state_layers, 29);
    cr_assert_eq(s.conv_state_bytes, 1959936);
    cr_assert_eq(s.ssm_state_bytes, 60817408);
    cr_assert_eq(s.state_bytes_per_seq, 62777344);
    mt_ctx_free(ctx);
}

/* The mixer's graph, symbolic in seq: conv1d keeps seq + d_conv - 1 and is sliced back to seq; the
 * scan pads seq to chunk*((seq + chunk - 1)//chunk) (pad_size = (chunk - seq % chunk) % chunk) and
 * slices back; the inter-chunk recurrence runs over the chunk count + 1. Tiny config: chunk 16. */
Test(bamba, mixer_graph_symbolic_in_seq) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build_text(ctx, tiny_for("bamba")->json, 0);
    mt_graph *g = tu_trace(m);
    const mt_sym *seq = mt_sym_var(ctx, "seq"), *b = mt_sym_var(ctx, "batch");
    const mt_sym *chunks = mt_sym_floordiv(ctx, mt_sym_add_const(ctx, seq, 15), 16);
    const mt_sym *padded = mt_sym_mul_const(ctx, chunks, 16);
    mt_node *conv = NULL;
    for (int i = 0; i < g->n && !conv; i++)
        if (g->nodes[i]->op == MT_NODE_CALL_MODULE && strcmp(g->nodes[i]->target, "model.layers.0.mamba.conv1d") == 0)
            conv = g->nodes[i];
    cr_assert_not_null(conv);
    /* [b, conv_dim 160, seq + 3] */
    cr_assert(conv->outs[0].shape[0] == b && mt_sym_is_const(conv->outs[0].shape[1]) &&
              mt_sym_const_value(conv->outs[0].shape[1]) == 160 && conv->outs[0].shape[2] == mt_sym_add_const(ctx, seq, 3));
    mt_node *pad = tu_first_op(g, MT_OP_PAD, "model.layers.0.mamba");
    cr_assert_not_null(pad);
    cr_assert(pad->outs[0].shape[1] == padded, "padded to %s", mt_sym_str(pad->outs[0].shape[1]));
    /* torch.cumsum over the last dim of A [b, heads 8, chunks, 16] */
    mt_node *cs = tu_first_op(g, MT_OP_CUMSUM, "model.layers.0.mamba");
    cr_assert(cs->outs[0].ndim == 4 && cs->outs[0].shape[2] == chunks);
    /* the ones of the second segment_sum are [chunks + 1, chunks + 1] bool */
    int k = 0;
    mt_node *ones = NULL;
    for (int i = 0; i < g->n; i++)
        if (tu_is_op(g->nodes[i], MT_OP_ONES) && tu_under(g->nodes[i], "model.layers.0.mamba") && ++k == 3)
            ones = g->nodes[i];
    cr_assert_not_null(ones);
    cr_assert(ones->outs[0].dtype == MT_BOOL && ones->outs[0].shape[0] == mt_sym_add_const(ctx, chunks, 1));
    /* the mixer's output is [b, seq, hidden] again */
    mt_node *out = NULL;
    for (int i = 0; i < g->n; i++)
        if (g->nodes[i]->op == MT_NODE_CALL_MODULE && strcmp(g->nodes[i]->target, "model.layers.0.mamba.out_proj") == 0)
            out = g->nodes[i];
    cr_assert(out && out->outs[0].shape[1] == seq);
    mt_ctx_free(ctx);
}

Test(bamba, config_errors_name_field_and_family) {
    mt_ctx *ctx = mt_ctx_new();
    const char *msg = build_error(ctx, "{\"model_type\": \"bamba\", \"hidden_size\": 64, \"num_attention_heads\": 4, \"num_key_value_heads\": 2, "
                                       "\"mamba_n_heads\": 6}");
    cr_assert(strstr(msg, "mamba_n_heads") && strstr(msg, "bamba"), "%s", msg);
    mt_ctx_free(ctx);
    ctx = mt_ctx_new();
    msg = build_error(ctx, "{\"model_type\": \"bamba\", \"hidden_size\": 64, \"num_attention_heads\": 4, \"num_key_value_heads\": 2, "
                           "\"num_hidden_layers\": 2, \"mamba_n_heads\": 8, \"attn_layer_indices\": [5]}");
    cr_assert(strstr(msg, "attn_layer_indices") && strstr(msg, "[0, 2)"), "%s", msg);
    mt_ctx_free(ctx);
    ctx = mt_ctx_new();
    msg = build_error(ctx, "{\"model_type\": \"bamba\", \"hidden_size\": 64, \"num_attention_heads\": 4, \"num_key_value_heads\": 2, "
                           "\"mamba_n_heads\": 8, \"mamba_d_head\": 8}");
    cr_assert(strstr(msg, "mamba_d_head"), "%s", msg);
    mt_ctx_free(ctx);
}

/* ---- granitemoehybrid (Granite 4.0-H) ------------------------------------------------------
 * ibm-granite/granite-4.0-h-350m's config as a public test quotes it (code-search file id 54665629904,
 * an MLX conversion's config.json; its "quantization" entry dropped), kept inline; no index was found.
 * Dense (num_local_experts 0: the shared MLP alone), NoPE, tied embeddings. */
static const char *GRANITE_4_H_350M =
    "{\"architectures\": [\"GraniteMoeHybridForCausalLM\"], \"model_type\": \"granitemoehybrid\", "
    "\"attention_bias\": false, \"attention_multiplier\": 0.015625, \"embedding_multiplier\": 12, "
    "\"hidden_size\": 768, \"intermediate_size\": 2048, \"logits_scaling\": 3, \"layer_types\": [\"mamba\", "
    "\"mamba\", \"mamba\", \"mamba\", \"mamba\", \"mamba\", \"mamba\", \"mamba\", \"mamba\", \"mamba\", \"attention\", "
    "\"mamba\", \"mamba\", \"attention\", \"mamba\", \"mamba\", \"mamba\", \"attention\", \"mamba\", \"mamba\", "
    "\"mamba\", \"mamba\", \"mamba\", \"mamba\", \"mamba\", \"mamba\", \"mamba\", \"attention\", \"mamba\", \"mamba\", "
    "\"mamba\", \"mamba\"], \"mamba_conv_bias\": true, \"mamba_d_conv\": 4, \"mamba_d_head\": 32, "
    "\"mamba_d_state\": 128, \"mamba_n_groups\": 1, \"mamba_n_heads\": 48, \"mamba_proj_bias\": false, "
    "\"max_position_embeddings\": 32768, \"num_attention_heads\": 12, \"num_experts_per_tok\": 0, "
    "\"num_hidden_layers\": 32, \"num_key_value_heads\": 4, \"num_local_experts\": 0, "
    "\"position_embedding_type\": \"nope\", \"residual_multiplier\": 0.246, \"rms_norm_eps\": 1e-05, "
    "\"rope_theta\": 10000, \"shared_intermediate_size\": 2048, \"tie_word_embeddings\": true, "
    "\"vocab_size\": 100352, \"torch_dtype\": \"bfloat16\"}";

Test(granitemoehybrid, granite_4_h_350m_by_hand) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build_text(ctx, GRANITE_4_H_350M, 0);
    /* By hand (modular_granitemoehybrid.py over BambaMixer): embed 100352*768 = 77,070,336 (tied head).
     * Mixer: intermediate 48*32 = 1536, conv_dim 1536 + 2*128 = 1792, in_proj 768*(1536+1792+48) =
     * 2,592,768, conv1d 1792*4 + 1792 = 8,960, dt_bias/A_log/D 144, norm 1536, out_proj 1536*768 =
     * 1,179,648 -> 3,783,056; shared_mlp 768*4096 + 2048*768 = 4,718,592; norms 1536: Mamba layer
     * 8,503,184 x 28 = 238,089,152. Attention (12 heads of 64, 4 KV heads): 2*768*768 + 2*768*256 =
     * 1,572,864, layer 6,292,992 x 4 = 25,171,968. Final norm 768. Total 340,332,224. */
    mt_totals t;
    cr_assert_eq(mt_model_totals(m, &t), MT_OK);
    cr_assert_eq(t.params, 340332224LL, "%lld", (long long)t.params);
    cr_assert_eq(t.active_params, 340332224LL, "dense: every parameter active");
    TU_SHAPE(m, "model.layers.0.mamba.in_proj.weight", 3376, 768);
    TU_SHAPE(m, "model.layers.0.mamba.conv1d.weight", 1792, 1, 4);
    TU_SHAPE(m, "model.layers.0.shared_mlp.input_linear.weight", 4096, 768);
    TU_SHAPE(m, "model.layers.0.shared_mlp.output_linear.weight", 768, 2048);
    TU_SHAPE(m, "model.layers.10.self_attn.k_proj.weight", 256, 768);
    cr_assert_null(mt_model_param(m, "model.layers.0.block_sparse_moe.router.layer.weight"), "no experts");
    cr_assert_null(mt_model_param(m, "model.layers.10.mamba.A_log"), "layer 10 is an attention layer");
    cr_assert_not_null(mt_model_param(m, "lm_head.weight")->tied_to);
    cr_assert_eq(m->buffers.n, 0, "NoPE: no rotary inv_freq");
    mt_graph *g = tu_trace(m);
    tu_check_logits(m, g, 100352);
    cr_assert_eq(tu_count_ops(g, MT_OP_SDPA, NULL), 4);
    cr_assert_eq(tu_count_ops(g, MT_OP_COS, NULL), 0, "no rotary");
    mt_node *sdpa = tu_first_op(g, MT_OP_SDPA, NULL);
    const mt_arg *sc = tu_kwarg(sdpa, "scale");
    cr_assert(sc && sc->kind == MT_ARG_FLOAT && sc->v.f == 0.015625, "attention_multiplier as the sdpa scale");
    /* K/V: 4 layers x 4 KV heads x 64 x 2 x 2 bytes = 4096 B/token; state per sequence: 28 x (1792*4 +
     * 48*32*128) x 2 = 28 x (7,168 + 196,608) x 2 = 11,411,456 B */
    mt_sizing_opts o = {.kv_dtype = MT_DTYPE_NONE, .seq = 1024};
    mt_sizing s;
    cr_assert_eq(mt_model_sizing(m, g, &o, &s), MT_OK, "%s", mt_ctx_errmsg(ctx));
    cr_assert_eq(s.kv_bytes_per_token, 4096);
    cr_assert_eq(s.state_layers, 28);
    cr_assert_eq(s.state_bytes_per_seq, 11411456);
    mt_ctx_free(ctx);
}

/* The MoE variant (tiny): block_sparse_moe(x) + shared_mlp(x) in each layer; active parameters drop the
 * unrouted half of the experts: 307,448 - 2 layers x (65536 + 32768) x 2/4 = 209,144. */
Test(granitemoehybrid, moe_plus_shared_mlp) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build_text(ctx, tiny_for("granitemoehybrid")->json, 0);
    mt_totals t;
    cr_assert_eq(mt_model_totals(m, &t), MT_OK);
    cr_assert_eq(t.params, 307448);
    cr_assert_eq(t.active_params, 209144, "%lld", (long long)t.active_params);
    mt_module *blk = mt_module_find(m->root, "model.layers.0.block_sparse_moe");
    cr_assert_str_eq(blk->type, "GraniteMoeHybridMoE");
    cr_assert_str_eq(mt_module_find(m->root, "model.layers.0.block_sparse_moe.router")->type, "GraniteMoeHybridTopKGating");
    mt_graph *g = tu_trace(m);
    /* the MLP slot ends in the add of the sparse block's view and the shared MLP's output_linear */
    int adds = 0;
    for (int i = 0; i < g->n; i++) {
        mt_node *n = g->nodes[i];
        if (!tu_is_op(n, MT_OP_ADD) || !tu_under(n, "model.layers.0") || n->nargs != 2) continue;
        if (n->args[1].kind == MT_ARG_TENSOR && n->args[1].v.t->node && n->args[1].v.t->node->op == MT_NODE_CALL_MODULE &&
            strcmp(n->args[1].v.t->node->target, "model.layers.0.shared_mlp.output_linear") == 0)
            adds++;
    }
    cr_assert_eq(adds, 1);
    mt_ctx_free(ctx);
}

Test(granitemoehybrid, config_errors_name_field_and_family) {
    mt_ctx *ctx = mt_ctx_new();
    const char *msg = build_error(ctx, "{\"model_type\": \"granitemoehybrid\", \"hidden_size\": 64, "
                                       "\"num_attention_heads\": 4, \"num_hidden_layers\": 2, \"mamba_n_heads\": 8, "
                                       "\"layer_types\": [\"mamba\", \"conv\"]}");
    cr_assert(strstr(msg, "layer_types") && strstr(msg, "granitemoehybrid"), "%s", msg);
    mt_ctx_free(ctx);
}

/* Real Mamba-2 configs carry time_step_limit as Python's json.dumps writes (0.0, inf): the bare token
 * Infinity, invalid in strict JSON; transformers 5 writes {"__float__": "Infinity"}. Both load, the
 * limit reaches torch.clamp, and a wrong one is a located error. */
Test(bamba, time_step_limit_as_python_writes_it) {
    const char *forms[] = {"[0.0, Infinity]", "[0.0, {\"__float__\": \"Infinity\"}]", "[0.0, \"Infinity\"]", "[0.001, 100.0]"};
    const double hi[] = {INFINITY, INFINITY, INFINITY, 100.0};
    for (int f = 0; f < 4; f++) {
        mt_ctx *ctx = mt_ctx_new();
        char json[1024];
        snprintf(json, sizeof json,
                 "{\"model_type\": \"bamba\", \"time_step_limit\": %s, \"attn_layer_indices\": [1], "
                 "\"mamba_n_heads\": 8, \"mamba_n_groups\": 2, \"mamba_d_state\": 8, \"mamba_chunk_size\": 16, "
                 "\"vocab_size\": 256, \"hidden_size\": 64, \"intermediate_size\": 128, \"num_hidden_layers\": 2, "
                 "\"num_attention_heads\": 4, \"num_key_value_heads\": 2}",
                 forms[f]);
        mt_model *m = tu_build_text(ctx, json, 0);
        mt_graph *g = tu_trace(m);
        mt_node *cl = tu_first_op(g, MT_OP_CLAMP_FN, NULL);
        cr_assert_not_null(cl);
        cr_assert(cl->args[2].kind == MT_ARG_FLOAT && cl->args[2].v.f == hi[f], "%s", forms[f]);
        mt_ctx_free(ctx);
    }
    mt_ctx *ctx = mt_ctx_new();
    const char *msg = build_error(ctx, "{\"model_type\": \"bamba\", \"hidden_size\": 64, \"num_attention_heads\": 4, "
                                       "\"num_key_value_heads\": 2, \"mamba_n_heads\": 8,\n  \"time_step_limit\": [NaN, 1.0]}");
    cr_assert(strstr(msg, "bad.json:2:3") && strstr(msg, "time_step_limit"), "%s", msg);
    mt_ctx_free(ctx);
}
