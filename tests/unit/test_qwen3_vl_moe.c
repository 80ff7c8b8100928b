/* Qwen3-VL-MoE (model_type qwen3_vl_moe, Qwen3VLMoeForConditionalGeneration) and its language
 * model alone (qwen3_vl_moe_text): Qwen3-VL's tower and decoder with the sparse block of
 * modeling_qwen3_vl_moe.py, built whole against the tensor table of Qwen/Qwen3-VL-30B-A3B-Instruct's
 * safetensors files (tests/data/index/Qwen--Qwen3-VL-30B-A3B-Instruct.weights-report.md) and its
 * config (samples/configs/multimodal/, provenance in samples/configs/SOURCES.md). Sources of every
 * expected figure are given at each test. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "tiny_configs.h"

#define A3B "samples/configs/multimodal/Qwen--Qwen3-VL-30B-A3B-Instruct.config.json"
#define A3B_REPORT "tests/data/index/Qwen--Qwen3-VL-30B-A3B-Instruct.weights-report.md"

static mt_model *build(mt_ctx *ctx, const char *rel, bool text_only, int64_t layers) {
    mt_config *c = mt_config_load(ctx, tu_src(rel));
    cr_assert_not_null(c, "%s", mt_ctx_errmsg(ctx));
    mt_build_opts o = {.dtype = MT_DTYPE_NONE, .num_layers = layers, .text_only = text_only};
    mt_model *m = mt_model_build(ctx, c, &o);
    cr_assert_not_null(m, "%s", mt_ctx_errmsg(ctx));
    return m;
}

static mt_model *build_json(mt_ctx *ctx, const char *json) {
    mt_config *c = mt_config_parse(ctx, json, strlen(json), "config.json");
    cr_assert_not_null(c, "%s", mt_ctx_errmsg(ctx));
    mt_model *m = mt_model_build(ctx, c, NULL);
    cr_assert_not_null(m, "%s", mt_ctx_errmsg(ctx));
    return m;
}

/* By hand from the config (text_config: 48 layers, hidden 2048, 32 heads and 4 KV heads of 128, 128
 * experts of moe_intermediate_size 768, 8 per token, every layer sparse, vocab 151936, lm_head untied):
 * attention q 2048*4096 + k, v 2048*512 each + o 4096*2048 + q/k_norm 2*128 = 18,874,624; two norms
 * 4096; router 128*2048 = 262,144; experts 128*(2048*1536 + 768*2048) = 603,979,776 -> 623,120,640 a
 * layer; embedding and lm_head 151936*2048 each, final norm 2048. */
#define A3B_EXPERTS (128LL * (2048 * 1536 + 768 * 2048))
static int64_t text_a3b(void) {
    int64_t layer = 2048LL * 4096 + 2 * 2048LL * 512 + 4096LL * 2048 + 2 * 128 + 2 * 2048 + 128LL * 2048 + A3B_EXPERTS;
    return 48 * layer + 2 * 151936LL * 2048 + 2048;
}

/* The tower (vision_config: depth 27, hidden 1152, intermediate 4304, out 2048, 2304 positions,
 * deepstack at 8, 16, 24): patch_embed 1152*3*2*16*16 + 1152, pos_embed 2304*1152, 27 blocks of
 * 15,239,504, merger norm 2*1152 + linear_fc1 4608*4608 + 4608 + linear_fc2 4608*2048 + 2048, three
 * deepstack mergers with their norm over 4608. */
static int64_t vision_a3b(void) {
    int64_t block = 1152LL * 3456 + 3456 + 1152LL * 1152 + 1152 + 1152LL * 4304 + 4304 + 4304LL * 1152 + 1152 +
                    4 * 1152;
    int64_t fc = 4608LL * 4608 + 4608 + 4608LL * 2048 + 2048;
    return 1152LL * 3 * 2 * 16 * 16 + 1152 + 2304LL * 1152 + 27 * block + 2 * 1152 + fc + 3 * (2 * 4608 + fc);
}

static void check_tensor(mt_model *m, const char *name, const int64_t *shape, int nd) {
    const mt_param *p = mt_model_param(m, name);
    cr_assert_not_null(p, "the checkpoint's %s is not in the model", name);
    cr_assert_eq(p->t->ndim, nd, "%s: rank", name);
    for (int d = 0; d < nd; d++)
        cr_assert_eq(mt_sym_const_value(p->t->shape[d]), shape[d], "%s: dim %d is %lld, checkpoint %lld", name, d,
                     (long long)mt_sym_const_value(p->t->shape[d]), (long long)shape[d]);
    cr_assert_eq(p->t->dtype, MT_BFLOAT16, "%s", name);
}

/* Every row of the report (a "layers.A-B." / "blocks.A-B." / "list.A-B." range with its count
 * expands), by name, shape and dtype — the experts as stored, gate_up_proj [128, 2048, 1536] and
 * down_proj [128, 768, 2048] (the transpose of transformers v5's module); the rows' sum must be the
 * report's totals, 882 tensors and 31,070,754,032 parameters, which is also the hand count above and
 * the paramCount a public model catalogue lists for Qwen3-VL-30B-A3B (SOURCES.md); ours has exactly
 * those tensors. Active: the 120 idle experts of 128 in every layer. */
Test(qwen3_vl_moe, a3b_equals_its_checkpoint_tensor_by_tensor)
{
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = build(ctx, A3B, false, 0);
    cr_assert_str_eq(m->model_type, "qwen3_vl_moe");
    cr_assert_str_eq(m->class_name, "Qwen3VLMoeForConditionalGeneration");
    cr_assert_eq(m->dtype, MT_BFLOAT16);
    size_t len;
    char *text = tu_read(tu_src(A3B_REPORT), &len);
    cr_assert_not_null(text);
    int64_t elements = 0, tensors = 0, lm_elements = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (strncmp(line, "| `", 3) != 0) continue;
        char name[256], shp[64];
        int count = 1;
        const char *tick = strchr(line + 3, '`');
        cr_assert_not_null(tick);
        snprintf(name, sizeof name, "%.*s", (int)(tick - (line + 3)), line + 3);
        const char *x = strstr(tick, "(×");
        if (x) count = atoi(x + strlen("(×"));
        const char *sb = strstr(tick, "`[");
        cr_assert_not_null(sb);
        snprintf(shp, sizeof shp, "%.*s", (int)(strchr(sb, ']') - (sb + 2)), sb + 2);
        int64_t shape[5];
        int nd = 0;
        for (char *tok = shp; nd < 5;) {
            shape[nd++] = strtoll(tok, &tok, 10);
            if (*tok != ',') break;
            tok += 2;
        }
        int64_t n = 1;
        for (int d = 0; d < nd; d++) n *= shape[d];
        elements += n * count;
        tensors += count;
        if (strncmp(name, "model.visual.", 13) != 0) lm_elements += n * count;
        /* the range: the first ".A-B." in the name */
        const char *dot = name;
        int a = 0, b = 0, used = 0;
        bool ranged = false;
        while ((dot = strchr(dot, '.'))) {
            if (sscanf(dot, ".%d-%d.%n", &a, &b, &used) == 2 && used > 0) {
                ranged = true;
                break;
            }
            dot++;
        }
        if (!ranged) {
            cr_assert_eq(count, 1, "%s", name);
            check_tensor(m, name, shape, nd);
            continue;
        }
        cr_assert_eq(b - a + 1, count, "%s", name);
        for (int i = a; i <= b; i++) {
            char one[256];
            snprintf(one, sizeof one, "%.*s.%d.%s", (int)(dot - name), name, i, dot + used);
            check_tensor(m, one, shape, nd);
        }
    }
    free(text);
    cr_assert_eq(tensors, 882);
    cr_assert_eq(elements, 31070754032LL);
    cr_assert_eq(m->params.n, 882, "ours %d parameters, the checkpoint's 882 tensors", m->params.n);
    mt_totals t;
    cr_assert_eq(mt_model_totals(m, &t), MT_OK);
    cr_assert_eq(t.params, 31070754032LL);
    cr_assert_eq(t.params, text_a3b() + vision_a3b());
    cr_assert_eq(t.param_bytes, 2 * 31070754032LL);
    cr_assert_eq(t.text_params, lm_elements);
    cr_assert_eq(t.text_params, 30532122624LL);
    /* 48 x 120/128 of the experts idle: 31,070,754,032 - 48 * 566,231,040 = 3,891,664,112 */
    cr_assert_eq(t.active_params, 31070754032LL - 48 * (A3B_EXPERTS / 128 * 120));
    cr_assert_eq(t.active_params, 3891664112LL);
    cr_assert_null(mt_model_param(m, "lm_head.weight")->tied_to);
    mt_ctx_free(ctx);
}

/* Qwen/Qwen3-VL-235B-A22B-Instruct, its config as a public architecture note lists it field by field
 * (samples/configs/SOURCES.md; no copy of the file itself nor of its index was found): text 94 layers,
 * hidden 4096, 64 heads and 4 KV heads of 128, 128 experts of 1536, 8 per token, every layer sparse,
 * intermediate_size 12288 unused; the tower as 30B-A3B's with out_hidden_size 4096. By hand: attention
 * 4096*8192 + 2*4096*512 + 8192*4096 + 2*128 = 71,303,424, norms 8192, router 128*4096, experts
 * 128*3*4096*1536 = 2,415,919,104 -> 2,487,755,008 a layer, x 94 = 233,848,970,752; embedding and lm_head
 * 2*151936*4096, final norm 4096 -> 235,093,634,560; the tower 576,388,336 (Qwen3-VL-8B's, the same
 * shapes: tests/unit/test_qwen3_vl.c). The sum, 235,670,022,896, is the paramCount a public model catalogue
 * lists for Qwen 3 VL 235B A22B Instruct (SOURCES.md); active: 94 x 120/128 of the experts idle. */
Test(qwen3_vl_moe, a22b_counts)
{
    const char *json =
        "{\"architectures\": [\"Qwen3VLMoeForConditionalGeneration\"], \"model_type\": \"qwen3_vl_moe\", "
        "\"image_token_id\": 151655, \"tie_word_embeddings\": false, \"text_config\": {\"model_type\": "
        "\"qwen3_vl_moe_text\", \"dtype\": \"bfloat16\", \"hidden_size\": 4096, \"num_hidden_layers\": 94, "
        "\"num_attention_heads\": 64, \"num_key_value_heads\": 4, \"head_dim\": 128, \"intermediate_size\": 12288, "
        "\"num_experts\": 128, \"num_experts_per_tok\": 8, \"moe_intermediate_size\": 1536, "
        "\"decoder_sparse_step\": 1, \"mlp_only_layers\": [], \"norm_topk_prob\": true, \"vocab_size\": 151936, "
        "\"rope_theta\": 5000000, \"max_position_embeddings\": 262144, \"rope_scaling\": {\"mrope_interleaved\": "
        "true, \"mrope_section\": [24, 20, 20], \"rope_type\": \"default\"}}, \"vision_config\": {\"model_type\": "
        "\"qwen3_vl_moe\", \"depth\": 27, \"hidden_size\": 1152, \"num_heads\": 16, \"in_channels\": 3, "
        "\"patch_size\": 16, \"spatial_merge_size\": 2, \"temporal_patch_size\": 2, \"out_hidden_size\": 4096, "
        "\"intermediate_size\": 4304, \"hidden_act\": \"gelu_pytorch_tanh\", \"num_position_embeddings\": 2304, "
        "\"deepstack_visual_indexes\": [8, 16, 24]}}";
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = build_json(ctx, json);
    TU_SHAPE(m, "model.language_model.layers.93.mlp.experts.gate_up_proj", 128, 4096, 3072);
    TU_SHAPE(m, "model.language_model.layers.93.mlp.experts.down_proj", 128, 1536, 4096);
    int64_t experts = 128LL * 3 * 4096 * 1536;
    int64_t layer = 4096LL * 8192 + 2 * 4096LL * 512 + 8192LL * 4096 + 2 * 128 + 2 * 4096 + 128LL * 4096 + experts;
    int64_t text = 94 * layer + 2 * 151936LL * 4096 + 4096;
    mt_totals t;
    cr_assert_eq(mt_model_totals(m, &t), MT_OK);
    cr_assert_eq(t.text_params, text);
    cr_assert_eq(t.text_params, 235093634560LL);
    cr_assert_eq(t.params, text + 576388336LL);
    cr_assert_eq(t.params, 235670022896LL);
    cr_assert_eq(t.active_params, t.params - 94 * (experts / 128 * 120));
    cr_assert_eq(t.active_params, 22767151856LL);
    mt_ctx_free(ctx);
}

/* --text-only: qwen3_vl_moe_text on text_config alone, named as the whole model's language model
 * (model.language_model.*, lm_head). text_config has no tie_word_embeddings, and Qwen3VLMoeTextConfig's
 * default is true (configuration_qwen3_vl_moe.py; transformers 5.7.0 prints text_config's
 * "tie_word_embeddings": true for this checkpoint, the report of SOURCES.md): lm_head tied, so the
 * language model's count less one 151936 x 2048 matrix. */
Test(qwen3_vl_moe, a3b_text_only)
{
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = build(ctx, A3B, true, 0);
    cr_assert_str_eq(m->model_type, "qwen3_vl_moe_text");
    cr_assert_not_null(strstr(m->note, "deepstack mergers"), "%s", m->note);
    mt_totals t;
    cr_assert_eq(mt_model_totals(m, &t), MT_OK);
    cr_assert_eq(t.params, text_a3b() - 151936LL * 2048);
    cr_assert_not_null(mt_model_param(m, "lm_head.weight")->tied_to);
    TU_SHAPE(m, "model.language_model.layers.47.mlp.experts.gate_up_proj", 128, 2048, 1536);
    TU_SHAPE(m, "model.language_model.layers.47.mlp.experts.down_proj", 128, 768, 2048);
    TU_SHAPE(m, "model.language_model.layers.47.mlp.gate.weight", 128, 2048);
    mt_ctx_free(ctx);
}

/* The sparse block traced (one layer of the real config, one tower block): Qwen3VLMoeTextSparseMoeBlock
 * views to [batch*seq, 2048]; inside gate the F.linear against the raw [128, 2048] weight, softmax over
 * the 128 experts in float32, topk 8, the division by the sum, the cast back to bf16; then the experts'
 * loop, 128 iterations, each x @ gate_up_proj[e] -> [nnz, 1536], chunk, x @ down_proj[e] -> [nnz, 2048],
 * index_add_; no shared expert. */
Test(qwen3_vl_moe, a3b_trace_sparse_block)
{
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = build(ctx, A3B, false, 1);
    mt_graph *g = tu_trace(m);
    tu_check_logits(m, g, 151936);
    const char *blk = "model.language_model.layers.0.mlp";
    mt_node *lin = tu_first_op(g, MT_OP_LINEAR, "model.language_model.layers.0.mlp.gate");
    cr_assert_not_null(lin);
    cr_assert_eq(mt_sym_const_value(lin->outs[0].shape[1]), 128);
    cr_assert_eq(lin->outs[0].dtype, MT_BFLOAT16);
    mt_node *sm = tu_first_op(g, MT_OP_SOFTMAX, "model.language_model.layers.0.mlp.gate");
    cr_assert(sm && sm->outs[0].dtype == MT_FLOAT32);
    mt_node *tk = tu_first_op(g, MT_OP_TOPK, blk);
    cr_assert(tk && mt_sym_const_value(tk->outs[0].shape[1]) == 8);
    cr_assert_eq(tu_count_ops(g, MT_OP_TRUEDIV, "model.language_model.layers.0.mlp.gate"), 1);
    cr_assert_eq(tu_count_ops(g, MT_OP_INDEX_ADD, "model.language_model.layers.0.mlp.experts"), 128);
    cr_assert_eq(tu_count_ops(g, MT_OP_MATMUL, "model.language_model.layers.0.mlp.experts"), 256);
    cr_assert_eq(tu_count_ops(g, MT_OP_LINEAR, "model.language_model.layers.0.mlp.experts"), 0);
    mt_node *up = tu_first_op(g, MT_OP_MATMUL, "model.language_model.layers.0.mlp.experts");
    cr_assert(up && mt_sym_const_value(up->outs[0].shape[1]) == 1536);
    cr_assert_eq(tu_count_ops(g, MT_OP_SIGMOID, blk), 0, "no shared_expert_gate");
    mt_ctx_free(ctx);
}

/* Which layers are sparse (Qwen3VLMoeTextDecoderLayer): not in mlp_only_layers, num_experts > 0 and
 * (index + 1) % decoder_sparse_step == 0. Four layers of the tiny text config with step 2 and
 * mlp_only_layers [3]: layer 1 sparse; 0 and 2 off the step, 3 listed: dense Qwen3VLMoeTextMLP of
 * intermediate_size 128. By hand: 16384 + 4 * (12288 + 32 + 128) + 256 + 24576 + 3 * 24576 + 64 (tied). */
Test(qwen3_vl_moe, sparse_step_and_mlp_only_layers)
{
    const char *tiny = tiny_for("qwen3_vl_moe_text")->json;
    char json[4096];
    snprintf(json, sizeof json, "{\"decoder_sparse_step\": 2, \"mlp_only_layers\": [3], %s", tiny + 1);
    char *nl = strstr(json, "\"num_hidden_layers\": 2");
    cr_assert_not_null(nl);
    nl[strlen("\"num_hidden_layers\": ")] = '4';
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = build_json(ctx, json);
    cr_assert_not_null(mt_model_param(m, "model.language_model.layers.1.mlp.gate.weight"));
    for (int i = 0; i < 4; i++) {
        if (i == 1) continue;
        char name[96];
        snprintf(name, sizeof name, "model.language_model.layers.%d.mlp.gate_proj.weight", i);
        TU_SHAPE(m, name, 128, 64);
    }
    mt_totals t;
    cr_assert_eq(mt_model_totals(m, &t), MT_OK);
    cr_assert_eq(t.params, 16384 + 4 * (12288 + 32 + 128) + 256 + 24576 + 3 * 24576 + 64);
    cr_assert_eq(t.active_params, t.params - 24576 / 4 * 2);
    mt_ctx_free(ctx);
}

Test(qwen3_vl_moe, bad_configs_are_located)
{
    static const struct {
        const char *json, *field, *msg;
    } bad[] = {
        {"{\"model_type\": \"qwen3_vl_moe_text\", \"num_experts\": 4, \"num_experts_per_tok\": 5}",
         "num_experts_per_tok", "5 experts per token of 4"},
        {"{\"model_type\": \"qwen3_vl_moe_text\", \"mlp_only_layers\": 3}", "mlp_only_layers", "a list"},
        {"{\"model_type\": \"qwen3_vl_moe_text\", \"mlp_only_layers\": [1, -2]}", "mlp_only_layers.1",
         "layer index"},
        {"{\"model_type\": \"qwen3_vl_moe_text\", \"decoder_sparse_step\": 0}", "decoder_sparse_step", ""},
        {"{\"model_type\": \"qwen3_vl_moe_text\", \"num_hidden_layers\": 600, \"num_experts\": 4000}",
         "num_experts", "more than the limit of 65536"},
        {"{\"model_type\": \"qwen3_vl_moe\", \"text_config\": {\"num_hidden_layers\": 600, \"num_experts\": 4000}, "
         "\"vision_config\": {\"out_hidden_size\": 2048}}",
         "text_config.num_experts", "more than the limit of 65536"},
        {"{\"model_type\": \"qwen3_vl_moe\", \"text_config\": {}}", "vision_config", "(Qwen3VLMoeConfig)"},
        {"{\"model_type\": \"qwen3_vl_moe\", \"text_config\": {}, \"vision_config\": {}}",
         "vision_config.out_hidden_size", "expected the language model's hidden_size 2048"},
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

/* The CLI names the class and, with --text-only, the language model. */
Test(qwen3_vl_moe, cli_whole_and_text_only)
{
    char *out = NULL, *err = NULL;
    const char *whole[] = {tu_src(A3B), "--layers", "1", NULL};
    cr_assert_eq(tu_run_cli(whole, &out, &err), 0, "%s", err);
    cr_assert(strstr(out, "Qwen3VLMoeForConditionalGeneration (model_type qwen3_vl_moe)"), "%s", out);
    free(out), free(err);
    const char *text[] = {tu_src(A3B), "--text-only", "--layers", "1", NULL};
    cr_assert_eq(tu_run_cli(text, &out, &err), 0, "%s", err);
    cr_assert(strstr(out, "(model_type qwen3_vl_moe_text)"), "%s", out);
    cr_assert(strstr(out, "model_type 'qwen3_vl_moe' is multimodal"), "%s", out);
    free(out), free(err);
}
