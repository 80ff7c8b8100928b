/* Qwen3.5 (qwen3_5_text; the multimodal qwen3_5 traced as its language model) and Qwen3.5-MoE
 * (qwen3_5_moe_text / qwen3_5_moe). Expected values come from real checkpoint indexes
 * (tests/data/index/, samples/configs/SOURCES.md), published parameter counts and hand arithmetic
 * from modular_qwen3_5.py / modular_qwen3_5_moe.py written here. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "models/blocks.h"
#include "testutil.h"
#include "tiny_configs.h"

/* The index keys files: '#' comments, "total_size N" / "total_parameters N", then keys. */
typedef struct keys {
    char **k;
    int n;
    int64_t total_size, total_params;
} keys;

static keys read_keys(const char *name) {
    char rel[256];
    snprintf(rel, sizeof rel, "tests/data/index/%s", name);
    size_t len;
    char *text = tu_read(tu_src(rel), &len);
    cr_assert_not_null(text, "%s", rel);
    keys r = {malloc(sizeof(char *) * 2048), 0, -1, -1};
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] == '#') continue;
        if (strncmp(line, "total_size ", 11) == 0) r.total_size = strtoll(line + 11, NULL, 10);
        else if (strncmp(line, "total_parameters ", 17) == 0) r.total_params = strtoll(line + 17, NULL, 10);
        else if (r.n < 2048) r.k[r.n++] = strdup(line);
    }
    free(text);
    return r;
}

static void free_keys(keys *k) {
    for (int i = 0; i < k->n; i++) free(k->k[i]);
    free(k->k);
}

static int cmpstr(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The model's stored parameters (tied aliases left out, as the index stores them once), less those
 * `skip` rejects, against the index's keys; *skipped counts the ones left out. */
static void check_names(mt_model *m, keys *want, bool (*skip)(const char *), int64_t *skipped) {
    const char **have = malloc(sizeof *have * (size_t)(m->params.n + 1));
    int n = 0;
    *skipped = 0;
    for (int i = 0; i < m->params.n; i++) {
        const mt_param *p = m->params.items[i];
        if (p->tied_to) continue;
        if (skip && skip(p->name)) {
            (*skipped)++;
            continue;
        }
        have[n++] = p->name;
    }
    qsort(have, (size_t)n, sizeof *have, cmpstr);
    qsort(want->k, (size_t)want->n, sizeof *want->k, cmpstr);
    for (int i = 0; i < n && i < want->n; i++)
        cr_assert_str_eq(have[i], want->k[i], "names differ at %d: ours %s, checkpoint %s", i, have[i], want->k[i]);
    cr_assert_eq(n, want->n, "ours %d tensors, checkpoint %d", n, want->n);
    free(have);
}

/* lawrence3699/Jev-Style-2B-Decision-v3's config.json (a Qwen3_5ForCausalLM fine-tune with Qwen3.5-2B's
 * shapes, saved by transformers 5.17; samples/configs/SOURCES.md), layer_types left to
 * full_attention_interval 4 (the same pattern as its list). */
static const char *JEV_2B =
    "{\"architectures\": [\"Qwen3_5ForCausalLM\"], \"attention_bias\": false, \"attention_dropout\": 0.0, "
    "\"attn_output_gate\": true, \"bos_token_id\": null, \"dtype\": \"bfloat16\", \"eos_token_id\": 248044, "
    "\"full_attention_interval\": 4, \"head_dim\": 256, \"hidden_act\": \"silu\", \"hidden_size\": 2048, "
    "\"initializer_range\": 0.02, \"intermediate_size\": 6144, \"linear_conv_kernel_dim\": 4, "
    "\"linear_key_head_dim\": 128, \"linear_num_key_heads\": 16, \"linear_num_value_heads\": 16, "
    "\"linear_value_head_dim\": 128, \"mamba_ssm_dtype\": \"float32\", \"max_position_embeddings\": 262144, "
    "\"mlp_only_layers\": [], \"model_type\": \"qwen3_5_text\", \"mtp_num_hidden_layers\": 1, "
    "\"mtp_use_dedicated_embeddings\": false, \"num_attention_heads\": 8, \"num_hidden_layers\": 24, "
    "\"num_key_value_heads\": 2, \"pad_token_id\": null, \"partial_rotary_factor\": 0.25, \"rms_norm_eps\": 1e-06, "
    "\"rope_parameters\": {\"mrope_interleaved\": true, \"mrope_section\": [11, 11, 10], "
    "\"partial_rotary_factor\": 0.25, \"rope_theta\": 10000000, \"rope_type\": \"default\"}, "
    "\"tie_word_embeddings\": true, \"transformers_version\": \"5.17.0\", \"use_cache\": false, "
    "\"vocab_size\": 248320}";

/* By hand (modular_qwen3_5.py): embed 248320*2048 = 508,559,360 (lm_head tied to it, stored once), final
 * norm 2048. Gated DeltaNet (18 layers): key_dim = value_dim = 16*128 = 2048, conv_dim 6144: in_proj_qkv
 * 2048*6144 = 12,582,912, in_proj_z 2048*2048 = 4,194,304, in_proj_b/in_proj_a 2*2048*16 = 65,536, conv1d
 * 6144*4 = 24,576, dt_bias/A_log 2*16, norm 128, out_proj 4,194,304 -> 21,061,792. Gated attention (6
 * layers): q_proj 2048*(8*256*2) = 8,388,608, k/v_proj 2*2048*512 = 2,097,152, o_proj 2048*2048 =
 * 4,194,304, q/k_norm 2*256 -> 14,680,576. MLP (24) 3*2048*6144 = 37,748,736, two norms 4096.
 * 508,559,360 + 2048 + 18*21,061,792 + 6*14,680,576 + 24*37,752,832 = 1,881,825,088: the index's
 * metadata.total_parameters, and 2 bytes each its total_size 3,763,650,176. */
Test(qwen3_5, jev_2b_equals_its_index) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build_text(ctx, JEV_2B, 0);
    keys k = read_keys("lawrence3699--Jev-Style-2B-Decision-v3.index.keys.txt");
    cr_assert_eq(k.n, 320);
    int64_t skipped;
    check_names(m, &k, NULL, &skipped);
    mt_totals t;
    cr_assert_eq(mt_model_totals(m, &t), MT_OK);
    cr_assert_eq(t.params, 1881825088LL, "%lld", (long long)t.params);
    cr_assert_eq(t.params, k.total_params);
    cr_assert_eq(t.param_bytes, k.total_size);
    TU_SHAPE(m, "model.language_model.layers.0.linear_attn.in_proj_qkv.weight", 6144, 2048);
    TU_SHAPE(m, "model.language_model.layers.0.linear_attn.in_proj_z.weight", 2048, 2048);
    TU_SHAPE(m, "model.language_model.layers.0.linear_attn.in_proj_b.weight", 16, 2048);
    TU_SHAPE(m, "model.language_model.layers.0.linear_attn.in_proj_a.weight", 16, 2048);
    TU_SHAPE(m, "model.language_model.layers.0.linear_attn.conv1d.weight", 6144, 1, 4);
    TU_SHAPE(m, "model.language_model.layers.3.self_attn.q_proj.weight", 4096, 2048);
    TU_SHAPE(m, "model.language_model.layers.3.mlp.gate_proj.weight", 6144, 2048);
    cr_assert_not_null(mt_model_param(m, "lm_head.weight"));
    cr_assert(mt_model_param(m, "lm_head.weight")->tied_to, "tie_word_embeddings: lm_head is embed_tokens");
    cr_assert_null(mt_model_param(m, "model.language_model.layers.0.linear_attn.in_proj_qkvz.weight"));
    free_keys(&k);
    mt_ctx_free(ctx);
}

#define Q35_9B "samples/configs/multimodal/unsloth--Qwen3.5-9B.config.json"

/* unsloth/Qwen3.5-9B (Qwen3_5ForConditionalGeneration, model_type qwen3_5) with --text-only is traced as its
 * language model, with a note naming the vision tower. By hand: embed and lm_head 2*248320*4096
 * = 2,034,237,440, final norm 4096; DeltaNet (24 layers): key_dim 2048, value_dim 4096, conv_dim 8192:
 * in_proj_qkv 4096*8192 = 33,554,432, in_proj_z 4096*4096 = 16,777,216, in_proj_b/a 2*4096*32 = 262,144,
 * conv1d 32,768, dt_bias/A_log 64, norm 128, out_proj 16,777,216 -> 67,403,968; attention (8 layers):
 * q_proj 4096*8192 = 33,554,432, k/v_proj 2*4096*1024 = 8,388,608, o_proj 16,777,216, q/k_norm 512 ->
 * 58,720,768; MLP (32) 3*4096*12288 = 150,994,944 + norms 8192. Sum 8,953,803,264: the Qwen3_5ForCausalLM
 * count a public report reads off a Qwen3.5-9B-architecture checkpoint's headers (9,409,813,744 for
 * Qwen3_5ForConditionalGeneration less the 456,010,480 of the 333 model.visual.* tensors it drops;
 * code-search file id 70577654386), and llama.cpp's "model params = 8.95 B" for a Qwen3.5-9B GGUF (file id
 * 62739017613, which also prints this config). */
Test(qwen3_5, qwen3_5_9b_text_only_traces_its_language_model) {
    {
        int text_only = 1;
        mt_ctx *ctx = mt_ctx_new();
        mt_config *cfg = mt_config_load(ctx, tu_src(Q35_9B));
        cr_assert_not_null(cfg, "%s", mt_ctx_errmsg(ctx));
        mt_build_opts o = {.dtype = MT_DTYPE_NONE, .text_only = text_only};
        mt_model *m = mt_model_build(ctx, cfg, &o);
        cr_assert_not_null(m, "%s", mt_ctx_errmsg(ctx));
        cr_assert_str_eq(m->model_type, "qwen3_5_text");
        cr_assert(m->note && strstr(m->note, "model_type 'qwen3_5' is multimodal") && strstr(m->note, "vision tower"),
                  "%s", m->note ? m->note : "(none)");
        mt_totals t;
        cr_assert_eq(mt_model_totals(m, &t), MT_OK);
        cr_assert_eq(t.params, 8953803264LL, "%lld", (long long)t.params);
        cr_assert_eq(t.params, 9409813744LL - 456010480LL);
        cr_assert_eq(t.param_bytes, 2 * 8953803264LL);
        cr_assert_eq(t.active_params, t.params);
        TU_SHAPE(m, "model.language_model.embed_tokens.weight", 248320, 4096);
        TU_SHAPE(m, "model.language_model.layers.0.linear_attn.in_proj_qkv.weight", 8192, 4096);
        TU_SHAPE(m, "model.language_model.layers.0.linear_attn.out_proj.weight", 4096, 4096);
        TU_SHAPE(m, "model.language_model.layers.0.linear_attn.A_log", 32);
        TU_SHAPE(m, "model.language_model.layers.0.linear_attn.norm.weight", 128);
        TU_SHAPE(m, "model.language_model.layers.31.self_attn.q_proj.weight", 8192, 4096);
        TU_SHAPE(m, "model.language_model.layers.31.self_attn.k_proj.weight", 1024, 4096);
        TU_SHAPE(m, "model.language_model.layers.31.self_attn.q_norm.weight", 256);
        TU_SHAPE(m, "model.language_model.norm.weight", 4096);
        TU_SHAPE(m, "lm_head.weight", 248320, 4096);
        mt_ctx_free(ctx);
    }
}

/* Sizing of the 9B (the whole model) by hand. K/V per token: 8 full-attention layers * 4 KV heads * 256 *
 * (K, V) * 2 bytes = 32,768 B. Per linear layer and sequence: conv state [8192, 4] in bfloat16 = 65,536 B, recurrent state
 * [32, 128, 128] in float32 = 2,097,152 B; 24 layers: 51,904,512 B. */
Test(qwen3_5, qwen3_5_9b_kv_and_recurrent_state_by_hand) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build(ctx, tu_src(Q35_9B), 0);
    mt_graph *g = tu_trace(m);
    mt_sizing_opts o = {.kv_dtype = MT_DTYPE_NONE, .seq = 4096};
    mt_sizing s;
    cr_assert_eq(mt_model_sizing(m, g, &o, &s), MT_OK, "%s", mt_ctx_errmsg(ctx));
    cr_assert_eq(s.kv_bytes_per_token, 32768);
    cr_assert_eq(s.state_layers, 24);
    cr_assert_eq(s.conv_state_bytes, 24 * 65536);
    cr_assert_eq(s.ssm_state_bytes, 24 * 2097152LL);
    cr_assert_eq(s.state_bytes_per_seq, 51904512);
    /* the whole model: the tower's 27 blocks attend per image and cache nothing */
    cr_assert_eq(tu_count_ops(g, MT_OP_SDPA, "model.language_model"), 8);
    cr_assert_eq(tu_count_ops(g, MT_OP_SDPA, "model.visual"), 27);
    cr_assert_eq(tu_count_ops(g, MT_OP_CHUNK_GATED_DELTA_RULE, NULL), 24);
    mt_ctx_free(ctx);
}

/* bryce-hoehn/Qwen3.5-18B-REAP-A3B-Coding's config.json at its upload commit (Qwen3_5MoeForCausalLM, Qwen3.5-
 * 35B-A3B with its experts merged to 128 per layer, saved by transformers 5.2.0; samples/configs/SOURCES.md),
 * layer_types left to full_attention_interval 4 (the same pattern as its list). */
#define REAP_CONFIG(experts)                                                                                     \
    "{\"architectures\": [\"Qwen3_5MoeForCausalLM\"], \"attention_bias\": false, \"attention_dropout\": 0.0, "  \
    "\"attn_output_gate\": true, \"bos_token_id\": null, \"dtype\": \"float16\", \"eos_token_id\": 248044, "     \
    "\"full_attention_interval\": 4, \"head_dim\": 256, \"hidden_act\": \"silu\", \"hidden_size\": 2048, "      \
    "\"initializer_range\": 0.02, \"linear_conv_kernel_dim\": 4, \"linear_key_head_dim\": 128, "                \
    "\"linear_num_key_heads\": 16, \"linear_num_value_heads\": 32, \"linear_value_head_dim\": 128, "            \
    "\"mamba_ssm_dtype\": \"float32\", \"max_position_embeddings\": 262144, \"mlp_only_layers\": [], "          \
    "\"model_type\": \"qwen3_5_moe_text\", \"moe_intermediate_size\": 512, \"mtp_num_hidden_layers\": 1, "      \
    "\"mtp_use_dedicated_embeddings\": false, \"num_attention_heads\": 16, \"num_experts\": " experts ", "      \
    "\"num_experts_per_tok\": 8, \"num_hidden_layers\": 40, \"num_key_value_heads\": 2, "                       \
    "\"output_router_logits\": false, \"pad_token_id\": null, \"partial_rotary_factor\": 0.25, "                \
    "\"rms_norm_eps\": 1e-06, \"rope_parameters\": {\"mrope_interleaved\": true, \"mrope_section\": [11, 11, "  \
    "10], \"partial_rotary_factor\": 0.25, \"rope_theta\": 10000000, \"rope_type\": \"default\"}, "             \
    "\"router_aux_loss_coef\": 0.001, \"shared_expert_intermediate_size\": 512, \"tie_word_embeddings\": false, " \
    "\"transformers_version\": \"5.2.0\", \"use_cache\": true, \"vocab_size\": 248320}"

/* the experts of layers 1-39, which the keys file leaves out (every layer holds the same 384) */
static bool later_experts(const char *name) {
    const char *p = "model.language_model.layers.";
    if (strncmp(name, p, strlen(p)) != 0) return false;
    char *end;
    long layer = strtol(name + strlen(p), &end, 10);
    return layer >= 1 && strncmp(end, ".mlp.experts.", 13) == 0;
}

/* By hand (modular_qwen3_5_moe.py, Qwen3-Next's sparse block on every layer): embed and lm_head
 * 2*248320*2048 = 1,017,118,720, final norm 2048; DeltaNet (30 layers) 33,718,464 (Qwen3-Next's: in_proj_qkv
 * 2048*8192 + in_proj_z 2048*4096 = in_proj_qkvz's 25,165,824, in_proj_b/a 131,072, conv1d 32,768, 64, 128,
 * out_proj 8,388,608); attention (10 layers) 27,263,488; per layer: gate 128*2048 = 262,144, experts
 * 128*3*2048*512 = 402,653,184, shared_expert 3,145,728, shared_expert_gate 2048, norms 4096 -> 406,067,200.
 * 1,017,118,720 + 2048 + 30*33,718,464 + 10*27,263,488 + 40*406,067,200 = 18,543,997,568, float16: 2 bytes
 * each = the index's total_size 37,087,995,136. Active: 8 of 128 experts, minus 40*120*3,145,728 ->
 * 3,444,503,168. Tensors: 3 + 30*11 + 10*10 + 40*(2 + 384 + 5) = 15,973, the index's key count. */
Test(qwen3_5, reap_128_experts_equals_its_index) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build_text(ctx, REAP_CONFIG("128"), 0);
    keys k = read_keys("bryce-hoehn--Qwen3.5-18B-REAP-A3B-Coding.index.keys.txt");
    int64_t skipped;
    check_names(m, &k, later_experts, &skipped);
    cr_assert_eq(skipped, 39 * 128 * 3);
    cr_assert_eq(k.n + skipped, 15973);
    mt_totals t;
    cr_assert_eq(mt_model_totals(m, &t), MT_OK);
    cr_assert_eq(t.params, 18543997568LL, "%lld", (long long)t.params);
    cr_assert_eq(t.param_bytes, k.total_size);
    cr_assert_eq(k.total_size, 37087995136LL);
    cr_assert_eq(t.active_params, 3444503168LL, "%lld", (long long)t.active_params);
    TU_SHAPE(m, "model.language_model.layers.0.mlp.gate.weight", 128, 2048);
    TU_SHAPE(m, "model.language_model.layers.0.mlp.experts.127.gate_proj.weight", 512, 2048);
    TU_SHAPE(m, "model.language_model.layers.0.mlp.experts.127.down_proj.weight", 2048, 512);
    TU_SHAPE(m, "model.language_model.layers.3.mlp.shared_expert.up_proj.weight", 512, 2048);
    TU_SHAPE(m, "model.language_model.layers.3.mlp.shared_expert_gate.weight", 1, 2048);
    TU_SHAPE(m, "model.language_model.layers.3.self_attn.o_proj.weight", 2048, 4096);
    free_keys(&k);
    mt_ctx_free(ctx);
}

/* Qwen3.5-35B-A3B: the same text_config with its 256 experts. Adding 40*128*(3,145,728 + 2048) = 16,116,613,120
 * gives 34,660,610,688: the parameter count the Hub (gguf.total) and llama.cpp (n_params) report for
 * Qwen3.6-35B-A3B, the same architecture (code-search file ids 66353810228, 71636743893), and a public
 * breakdown of that checkpoint's 35,951,822,704 tensors less its vision tower (446,571,248) and its MTP
 * block (844,640,768) (file ids 69391292325, 61048187650). Active: 8 of 256 experts, minus
 * 40*248*3,145,728 = 31,205,621,760 -> 3,454,988,928; "A3B". */
Test(qwen3_5, qwen3_5_35b_a3b_matches_published_count) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build_text(ctx, REAP_CONFIG("256"), 0);
    mt_totals t;
    cr_assert_eq(mt_model_totals(m, &t), MT_OK);
    cr_assert_eq(t.params, 34660610688LL, "%lld", (long long)t.params);
    cr_assert_eq(t.params, 35951822704LL - 446571248LL - 844640768LL);
    cr_assert_eq(t.active_params, 3454988928LL, "%lld", (long long)t.active_params);
    mt_ctx_free(ctx);
}

/* The split DeltaNet's graph (tiny config: 2 key heads, 4 value heads of 8): four projections, no
 * fix_query_key_value_ordering (no view/split of a fused projection, no cat), the conv kept at seq + 3 and
 * sliced back, one chunked rule, q/k repeated to the value heads; the MoE tiny puts the sparse block on
 * both layers. */
Test(qwen3_5, deltanet_graph) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build_text(ctx, tiny_for("qwen3_5_text")->json, 0);
    mt_graph *g = tu_trace(m);
    const char *la = "model.language_model.layers.0.linear_attn";
    cr_assert_eq(tu_count_ops(g, MT_OP_CHUNK_GATED_DELTA_RULE, NULL), 1);
    cr_assert_eq(tu_count_ops(g, MT_OP_CAT, la), 0);
    cr_assert_eq(tu_count_ops(g, MT_OP_REPEAT_INTERLEAVE_METHOD, la), 2);
    cr_assert_eq(tu_count_ops(g, MT_OP_SPLIT, la), 1);
    cr_assert_eq(tu_count_ops(g, MT_OP_CHUNK, "model.language_model.layers.1.self_attn"), 1);
    cr_assert_null(mt_model_param(m, "model.language_model.layers.1.mlp.gate.weight"), "dense MLP");
    mt_ctx_free(ctx);
    ctx = mt_ctx_new();
    m = tu_build_text(ctx, tiny_for("qwen3_5_moe_text")->json, 0);
    cr_assert_not_null(mt_model_param(m, "model.language_model.layers.0.mlp.gate.weight"));
    cr_assert_not_null(mt_model_param(m, "model.language_model.layers.1.mlp.shared_expert_gate.weight"));
    mt_ctx_free(ctx);
}

/* unsloth/Qwen3.5-9B as the whole Qwen3_5ForConditionalGeneration (model.visual beside model.language_model,
 * lm_head), traced at the tower's fixed grid (48 x 48 patches, 576 image tokens). Independent figures: the
 * public report's count off the safetensors headers of a checkpoint with Qwen3.5-9B's architecture
 * (XiaomiMiMo/MiMo-V2.6-Distill-Qwen-9B: 9,409,813,744 parameters, of which the 333 model.visual.* tensors
 * 456,010,480; file id 70577654386). The tower by hand (vision_config: depth 27, hidden 1152, 4304, 16 px
 * patches over 2 frames, 2304 positions, out 4096): patch_embed 1152*3*2*16*16 + 1152 = 1,770,624, pos_embed
 * 2304*1152 = 2,654,208; a block: norms 4*1152 = 4,608, qkv 1152*3456 + 3456 = 3,984,768, proj 1152*1152 +
 * 1152 = 1,328,256, linear_fc1 1152*4304 + 4304 = 4,962,512, linear_fc2 4304*1152 + 1152 = 4,959,360 ->
 * 15,239,504, x 27 = 411,466,608; merger: norm 2,304, linear_fc1 4608*4608 + 4608 = 21,238,272, linear_fc2
 * 4608*4096 + 4096 = 18,878,464 -> 40,119,040. Sum 456,010,480; tensors 2 + 1 + 27*12 + 6 = 333. The names
 * are Qwen3-VL's tower's (Cosmos-Reason2-8B's index, the same 27 x 1152 tower with out 4096) without its
 * deepstack_merger_list: Qwen3_5VisionModel builds no deepstack mergers. */
Test(qwen3_5, qwen3_5_9b_whole_model) {
    mt_ctx *ctx = mt_ctx_new();
    mt_config *cfg = mt_config_load(ctx, tu_src(Q35_9B));
    cr_assert_not_null(cfg, "%s", mt_ctx_errmsg(ctx));
    mt_build_opts o = {.dtype = MT_DTYPE_NONE};
    mt_model *m = mt_model_build(ctx, cfg, &o);
    cr_assert_not_null(m, "%s", mt_ctx_errmsg(ctx));
    cr_assert_str_eq(m->model_type, "qwen3_5");
    cr_assert(m->note && strstr(m->note, "576 image tokens"), "%s", m->note ? m->note : "(none)");
    mt_totals t;
    cr_assert_eq(mt_model_totals(m, &t), MT_OK);
    cr_assert_eq(t.params, 9409813744LL, "%lld", (long long)t.params);
    cr_assert_eq(t.text_params, 8953803264LL, "%lld", (long long)t.text_params);
    cr_assert_eq(t.params - t.text_params, 456010480LL);
    cr_assert_eq(t.active_params, t.params);
    int visual = 0;
    for (int i = 0; i < m->params.n; i++) {
        const mt_param *p = m->params.items[i];
        if (strncmp(p->name, "model.visual.", 13) == 0) visual++;
    }
    cr_assert_eq(visual, 333);
    int n;
    char **keys = tu_index_keys("nvidia--Cosmos-Reason2-8B.index.json", &n);
    int want = 0;
    for (int i = 0; i < n; i++) {
        if (strncmp(keys[i], "model.visual.", 13) == 0 && !strstr(keys[i], "deepstack_merger_list")) {
            want++;
            cr_assert_not_null(mt_model_param(m, keys[i]), "%s", keys[i]);
        }
        free(keys[i]);
    }
    free(keys);
    cr_assert_eq(want, 333);
    tu_check_shape(m, "model.visual.patch_embed.proj.weight", 5, 1152, 3);
    TU_SHAPE(m, "model.visual.merger.linear_fc2.weight", 4096, 4608);
    TU_SHAPE(m, "model.language_model.layers.0.linear_attn.in_proj_qkv.weight", 8192, 4096);
    TU_SHAPE(m, "lm_head.weight", 248320, 4096);
    /* the trace: one tower (27 blocks' attention), the image features merged once, no deepstack adds; the
     * interleaved M-RoPE's two writes over the position_ids input [3, batch, seq] */
    mt_graph *g = tu_trace(m);
    tu_check_logits(m, g, 248320);
    cr_assert_eq(m->inputs.n, 5);
    cr_assert_str_eq(((mt_tensor *)m->inputs.items[2])->node->name, "position_ids");
    cr_assert_eq(tu_count_ops(g, MT_OP_CONV3D, "model.visual"), 1);
    cr_assert_eq(tu_count_ops(g, MT_OP_SDPA, "model.visual"), 27);
    cr_assert_eq(tu_count_ops(g, MT_OP_MASKED_SCATTER, NULL), 1);
    cr_assert_eq(tu_count_ops(g, MT_OP_ZEROS_LIKE, NULL), 0);
    cr_assert_eq(tu_count_ops(g, MT_OP_SCATTER, "model.language_model.rotary_emb"), 2);
    mt_ctx_free(ctx);
}

/* Qwen3.5-35B-A3B's tower: the same as the 9B's with out_hidden_size 2048 (its language model's hidden size):
 * 456,010,480 - 4608*2048 - 2048 = 446,571,248, the published breakdown of its checkpoint (file ids
 * 69391292325, 61048187650; samples/configs/SOURCES.md). Built on a 2-layer language model. */
Test(qwen3_5, qwen3_5_moe_35b_a3b_tower) {
    mt_ctx *ctx = mt_ctx_new();
    const char *json =
        "{\"model_type\": \"qwen3_5_moe\", \"vision_config\": {\"out_hidden_size\": 2048}, \"text_config\": "
        "{\"model_type\": \"qwen3_5_moe_text\", \"hidden_size\": 2048, \"num_hidden_layers\": 2, "
        "\"layer_types\": [\"linear_attention\", \"full_attention\"], \"num_experts\": 8}}";
    mt_config *cfg = mt_config_parse(ctx, json, strlen(json), "q35moe.json");
    cr_assert_not_null(cfg, "%s", mt_ctx_errmsg(ctx));
    mt_build_opts o = {.dtype = MT_DTYPE_NONE};
    mt_model *m = mt_model_build(ctx, cfg, &o);
    cr_assert_not_null(m, "%s", mt_ctx_errmsg(ctx));
    mt_totals t;
    cr_assert_eq(mt_model_totals(m, &t), MT_OK);
    cr_assert_eq(t.params - t.text_params, 446571248LL, "%lld", (long long)(t.params - t.text_params));
    cr_assert_not_null(mt_model_param(m, "model.language_model.layers.0.mlp.experts.7.down_proj.weight"));
    mt_module *vis = mt_module_child(mt_module_child(m->root, "model"), "visual");
    cr_assert(vis && strcmp(vis->type, "Qwen3_5MoeVisionModel") == 0);
    mt_ctx_free(ctx);
}

/* qwen3_5_moe (Qwen3_5MoeForConditionalGeneration) with --text-only is traced as its text_config's
 * qwen3_5_moe_text, and a text_config without a model_type takes transformers' default for the wrapper; the same
 * parameters as the tiny text model (126,704 by hand in tests/tiny_configs.h). */
Test(qwen3_5, moe_wrapper_text_only_traces_its_language_model) {
    const char *tiny = tiny_for("qwen3_5_moe_text")->json;
    const char *prefix = "{\"model_type\": \"qwen3_5_moe_text\", ";
    cr_assert(strncmp(tiny, prefix, strlen(prefix)) == 0);
    for (int v = 0; v < 2; v++) {
        mt_ctx *ctx = mt_ctx_new();
        /* variant 1: the tiny config's fields without its model_type */
        const char *text = v == 0 ? tiny : mt_sprintf(ctx, "{%s", tiny + strlen(prefix));
        const char *json = mt_sprintf(ctx, "{\"model_type\": \"qwen3_5_moe\", \"text_config\": %s}", text);
        mt_config *cfg = mt_config_parse(ctx, json, strlen(json), "tiny.json");
        cr_assert_not_null(cfg, "%s", mt_ctx_errmsg(ctx));
        mt_build_opts o = {.dtype = MT_DTYPE_NONE, .text_only = true};
        mt_model *m = mt_model_build(ctx, cfg, &o);
        cr_assert_not_null(m, "%s", mt_ctx_errmsg(ctx));
        cr_assert_str_eq(m->model_type, "qwen3_5_moe_text");
        cr_assert(m->note && strstr(m->note, "model_type 'qwen3_5_moe' is multimodal") && strstr(m->note, "vision tower"),
                  "%s", m->note ? m->note : "(none)");
        mt_totals t;
        cr_assert_eq(mt_model_totals(m, &t), MT_OK);
        cr_assert_eq(t.params, 126704);
        mt_ctx_free(ctx);
    }
}

static const char *build_error(mt_ctx *ctx, const char *json) {
    mt_config *cfg = mt_config_parse(ctx, json, strlen(json), "bad.json");
    cr_assert_not_null(cfg, "config: %s", mt_ctx_errmsg(ctx));
    mt_build_opts o = {.dtype = MT_DTYPE_NONE, .num_layers = 0};
    cr_assert_null(mt_model_build(ctx, cfg, &o), "expected the build to fail");
    return mt_ctx_errmsg(ctx);
}

Test(qwen3_5, config_errors_name_field_and_family) {
    struct { const char *json, *field, *family; } cases[] = {
        {"{\"model_type\": \"qwen3_5_text\", \"linear_num_key_heads\": 3, \"linear_num_value_heads\": 4}",
         "linear_num_value_heads", "qwen3_5_text"},
        {"{\"model_type\": \"qwen3_5_text\", \"num_hidden_layers\": 2, \"layer_types\": [\"linear_attention\", "
         "\"sliding_attention\"]}", "layer_types.1", "qwen3_5_text"},
        {"{\"model_type\": \"qwen3_5_text\", \"rope_parameters\": {\"rope_type\": \"yarn\"}}",
         "rope_parameters.rope_type", "qwen3_5_text"},
        {"{\"model_type\": \"qwen3_5_text\", \"rope_parameters\": {\"partial_rotary_factor\": 0.001}}",
         "rope_parameters.partial_rotary_factor", "qwen3_5_text"},
        {"{\"model_type\": \"qwen3_5_moe_text\", \"num_experts\": 4, \"num_experts_per_tok\": 8}",
         "num_experts_per_tok", "qwen3_5_moe_text"},
        {"{\"model_type\": \"qwen3_5_moe\", \"vision_config\": {}, \"text_config\": {\"model_type\": "
         "\"qwen3_5_moe_text\", \"num_experts\": 0}}", "num_experts", "text_config"},
        /* the whole model: the wrapper's sub-configs and the interleaved sections */
        {"{\"model_type\": \"qwen3_5\", \"text_config\": {}}", "vision_config", "Qwen3_5Config"},
        {"{\"model_type\": \"qwen3_5\", \"vision_config\": {\"out_hidden_size\": 4096}, \"text_config\": "
         "{\"rope_parameters\": {\"mrope_section\": [11, 12, 10]}}}", "text_config.rope_parameters.mrope_section",
         "past the 32 rotary frequencies"},
        {"{\"model_type\": \"qwen3_5\", \"vision_config\": {}, \"text_config\": {}}", "out_hidden_size",
         "hidden_size 4096"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mt_ctx *ctx = mt_ctx_new();
        const char *e = build_error(ctx, cases[i].json);
        cr_assert(strstr(e, cases[i].field), "case %zu: %s", i, e);
        cr_assert(strstr(e, cases[i].family), "case %zu: %s", i, e);
        mt_ctx_free(ctx);
    }
}
