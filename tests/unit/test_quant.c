/* The stored-tensor inventory of (quantized) checkpoints (quant.h, docs/quant.md).
 *
 * Expected values come from real checkpoints where one was available
 * (tests/data/index/, provenance in samples/configs/SOURCES.md) and otherwise
 * from hand arithmetic on the layouts read at the source (written out below). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "testutil.h"

static int cmpstr(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static mt_quant_inventory inventory(mt_model *m, const char *method) {
    mt_quant_inventory inv;
    cr_assert_eq(mt_quant_inventory_of(m, method, &inv), MT_OK, "%s", mt_ctx_errmsg(m->ctx));
    return inv;
}

static const mt_stored_tensor *find(const mt_quant_inventory *inv, const char *name) {
    for (int i = 0; i < inv->n; i++)
        if (strcmp(inv->tensors[i].name, name) == 0) return &inv->tensors[i];
    cr_assert_fail("no stored tensor %s", name);
    return NULL;
}

/* Assert a stored tensor's dtype and full shape. */
static void check(const mt_quant_inventory *inv, const char *name, mt_dtype dt, int ndim, const int64_t *dims) {
    const mt_stored_tensor *s = find(inv, name);
    cr_assert_eq(s->dtype, dt, "%s: dtype %s", name, mt_dtype_name(s->dtype));
    cr_assert_eq(s->ndim, ndim, "%s: rank %d", name, s->ndim);
    for (int d = 0; d < ndim; d++)
        cr_assert_eq(s->shape[d], dims[d], "%s: dim %d is %lld, want %lld", name, d, (long long)s->shape[d],
                     (long long)dims[d]);
}
#define CHECK(inv, name, dt, ...)                                                                         \
    check(inv, name, dt, (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (int64_t[]){__VA_ARGS__})

/* The inventory's names, sorted, equal `want` (sorted here). */
static void check_names(const mt_quant_inventory *inv, char **want, int nw) {
    const char **have = malloc(sizeof *have * (size_t)(inv->n + 1));
    for (int i = 0; i < inv->n; i++) have[i] = inv->tensors[i].name;
    qsort(have, (size_t)inv->n, sizeof *have, cmpstr);
    qsort(want, (size_t)nw, sizeof *want, cmpstr);
    for (int i = 0; i < nw && i < inv->n; i++)
        cr_assert_str_eq(have[i], want[i], "names differ at %d: ours %s, checkpoint %s", i, have[i], want[i]);
    cr_assert_eq(inv->n, nw, "ours %d tensors, checkpoint %d", inv->n, nw);
    free(have);
}

static int64_t numel(const mt_stored_tensor *s) {
    int64_t n = 1;
    for (int d = 0; d < s->ndim; d++) n *= s->shape[d];
    return n;
}

/* The totals agree with the tensors. */
static void check_sums(const mt_quant_inventory *inv) {
    int64_t total = 0, by[MT_DTYPE_COUNT] = {0};
    for (int i = 0; i < inv->n; i++) {
        const mt_stored_tensor *s = &inv->tensors[i];
        cr_assert_eq(s->bytes, numel(s) * (int64_t)mt_dtype_size(s->dtype), "%s", s->name);
        total += s->bytes;
        by[s->dtype] += s->bytes;
    }
    cr_assert_eq(total, inv->total_bytes);
    for (int d = 0; d < MT_DTYPE_COUNT; d++) cr_assert_eq(by[d], inv->bytes_by_dtype[d], "dtype %d", d);
}

static mt_model *build_dtype(mt_ctx *ctx, const char *rel, mt_dtype dt) {
    mt_config *cfg = mt_config_load(ctx, tu_src(rel));
    cr_assert_not_null(cfg, "%s", mt_ctx_errmsg(ctx));
    mt_build_opts o = {.dtype = dt};
    mt_model *m = mt_model_build(ctx, cfg, &o);
    cr_assert_not_null(m, "%s", mt_ctx_errmsg(ctx));
    return m;
}

#define LLAMA7B "samples/configs/huggyllama--llama-7b.config.json"

Test(quant, methods) { cr_assert_str_eq(mt_quant_methods(), "fp8,mxfp4,gptq,awq,bnb-8bit,bnb-4bit"); }

/* ---- not quantized ------------------------------------------------------------- */

/* huggyllama/llama-7b: every parameter as itself. The index also lists the 32
 * rotary inv_freq buffers old .bin checkpoints saved (float32 [64]); the model
 * registers them non-persistent (transformers >= 4.31), so they are not in the
 * inventory, as the parameter-name tests treat them. */
Test(quant, llama_7b_unquantized_is_the_index) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build(ctx, tu_src(LLAMA7B), 0);
    mt_quant_inventory inv = inventory(m, NULL);
    cr_assert_null(inv.method);
    check_sums(&inv);
    int n;
    char **keys = tu_index_keys("huggyllama--llama-7b.index.json", &n);
    char **want = malloc(sizeof *want * (size_t)n);
    int nw = 0;
    for (int i = 0; i < n; i++)
        if (!tu_is_stored_buffer(keys[i])) want[nw++] = keys[i];
    check_names(&inv, want, nw);
    /* index metadata.total_size 13,476,839,424 = ours + 32 x 64 x 4 bytes of inv_freq */
    cr_assert_eq(inv.total_bytes + 32 * 64 * 4, 13476839424LL);
    cr_assert_eq(inv.quantized_params, 0);
    for (int i = 0; i < n; i++) free(keys[i]);
    free(keys);
    free(want);
    mt_ctx_free(ctx);
}

/* ---- FP8 block-scaled: DeepSeek-V3 ----------------------------------------------
 * Checked against the tensor table of the real DeepSeek-R1 checkpoint (same
 * config as DeepSeek-V3: tests/data/index/deepseek-ai--DeepSeek-R1.weights-report.md).
 * The checkpoint also holds the MTP module as model.layers.61 (not part of the
 * transformers model: our totals report it as extra_params); by the report's
 * rows it holds one MoE layer like layer 60 (14 attention tensors, 256 x 6 expert
 * tensors, gate.weight, e_score_correction_bias, 6 shared-expert tensors = 1558)
 * plus eh_proj, embed_tokens, enorm, hnorm, shared_head.head, shared_head.norm. */
Test(quant, deepseek_v3_fp8_matches_the_checkpoint) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build(ctx, tu_src("samples/configs/deepseek-ai--DeepSeek-V3.config.json"), 0);
    mt_quant_inventory inv = inventory(m, NULL);
    cr_assert_str_eq(inv.method, "fp8");
    check_sums(&inv);
    /* report: 91,991 tensors, less layer 61's 1558 + 6 */
    cr_assert_eq(inv.n, 91991 - 1558 - 6);

    /* report: 684,531,386,000 stored elements (weights and scales). Layer 61 by
     * the report's shapes: attention 1536*7168 + 12*56 + 1536 + 24576*1536 +
     * 192*12 + 576*7168 + 5*56 + 512 + 32768*512 + 256*4 + 7168*16384 + 56*128 +
     * 2*7168 = 187,133,112; experts 256 * 3 * (2048*7168 + 16*56) = 11,274,977,280;
     * gate 256*7168 + 256 = 1,835,264; shared 3 * (2048*7168 + 16*56) = 44,042,880;
     * eh_proj 7168*14336 = 102,760,448; embed_tokens and shared_head.head
     * 2 * 129280*7168 = 1,853,358,080; three norms 21,504. Sum 13,464,128,568. */
    int64_t elements = 0;
    for (int i = 0; i < inv.n; i++) elements += numel(&inv.tensors[i]);
    cr_assert_eq(187133112LL + 11274977280LL + 1835264LL + 44042880LL + 102760448LL + 1853358080LL + 21504LL,
                 13464128568LL);
    cr_assert_eq(elements + 13464128568LL, 684531386000LL, "elements %lld", (long long)elements);

    /* Bytes: layer 61 holds (fp8 1 byte, float32 scales 4, bf16 2):
     * attention fp8 11,010,048 + 37,748,736 + 4,128,768 + 16,777,216 + 117,440,512
     * = 187,105,280; its scales 4 * (672 + 2304 + 280 + 1024 + 7168) = 45,792;
     * bf16 norms 2 * (1536 + 512 + 2*7168) = 32,768; experts + shared 257 * 3 *
     * (14,680,064 + 4*896) = 11,321,092,608; gate 2*1,835,008 + 4*256 = 3,671,040;
     * eh_proj 205,520,896; embed + head 3,706,716,160; three norms 43,008:
     * 15,424,227,552. The report's "张量累计大小" (sum of tensor sizes) is 641.29
     * GB (GiB, two decimals). */
    cr_assert_eq(187105280LL + 45792LL + 32768LL + 11321092608LL + 3671040LL + 205520896LL + 3706716160LL +
                     43008LL,
                 15424227552LL);
    double gib = (double)(inv.total_bytes + 15424227552LL) / (1024.0 * 1024.0 * 1024.0);
    cr_assert(gib >= 641.285 && gib < 641.295, "%.4f GiB", gib);

    /* the report's rows (dtype and shape), one of each kind */
    CHECK(&inv, "model.embed_tokens.weight", MT_BFLOAT16, 129280, 7168);
    CHECK(&inv, "lm_head.weight", MT_BFLOAT16, 129280, 7168); /* lm_head is not quantized */
    CHECK(&inv, "model.norm.weight", MT_BFLOAT16, 7168);
    CHECK(&inv, "model.layers.0.mlp.down_proj.weight", MT_FLOAT8_E4M3FN, 7168, 18432);
    CHECK(&inv, "model.layers.0.mlp.down_proj.weight_scale_inv", MT_FLOAT32, 56, 144);
    CHECK(&inv, "model.layers.2.mlp.gate_proj.weight_scale_inv", MT_FLOAT32, 144, 56);
    CHECK(&inv, "model.layers.60.self_attn.kv_a_proj_with_mqa.weight", MT_FLOAT8_E4M3FN, 576, 7168);
    CHECK(&inv, "model.layers.60.self_attn.kv_a_proj_with_mqa.weight_scale_inv", MT_FLOAT32, 5, 56); /* 576/128 rounds up */
    CHECK(&inv, "model.layers.7.self_attn.kv_b_proj.weight_scale_inv", MT_FLOAT32, 256, 4);
    CHECK(&inv, "model.layers.7.self_attn.o_proj.weight_scale_inv", MT_FLOAT32, 56, 128);
    CHECK(&inv, "model.layers.7.self_attn.q_a_proj.weight_scale_inv", MT_FLOAT32, 12, 56);
    CHECK(&inv, "model.layers.7.self_attn.q_b_proj.weight_scale_inv", MT_FLOAT32, 192, 12);
    CHECK(&inv, "model.layers.7.self_attn.q_a_layernorm.weight", MT_BFLOAT16, 1536);
    CHECK(&inv, "model.layers.7.self_attn.kv_a_layernorm.weight", MT_BFLOAT16, 512);
    CHECK(&inv, "model.layers.3.mlp.experts.255.down_proj.weight", MT_FLOAT8_E4M3FN, 7168, 2048);
    CHECK(&inv, "model.layers.3.mlp.experts.255.down_proj.weight_scale_inv", MT_FLOAT32, 56, 16);
    CHECK(&inv, "model.layers.60.mlp.experts.0.up_proj.weight_scale_inv", MT_FLOAT32, 16, 56);
    CHECK(&inv, "model.layers.3.mlp.gate.weight", MT_BFLOAT16, 256, 7168);
    CHECK(&inv, "model.layers.3.mlp.gate.e_score_correction_bias", MT_FLOAT32, 256);
    CHECK(&inv, "model.layers.60.mlp.shared_experts.gate_proj.weight_scale_inv", MT_FLOAT32, 16, 56);

    /* By dtype, from the report's rows less layer 61: fp8 weights 3*3 dense-MLP +
     * 61*5 attention + 58*(256*3 + 3) experts = 45,032, each with one float32
     * scale; plus 58 float32 e_score_correction_bias. */
    int n8 = 0, n32 = 0;
    for (int i = 0; i < inv.n; i++) {
        n8 += inv.tensors[i].dtype == MT_FLOAT8_E4M3FN;
        n32 += inv.tensors[i].dtype == MT_FLOAT32;
        /* a scale follows its weight (checkpoint order) */
        const char *nm = inv.tensors[i].name;
        size_t len = strlen(nm);
        if (len > 17 && strcmp(nm + len - 17, ".weight_scale_inv") == 0) {
            cr_assert(i > 0 && inv.tensors[i - 1].dtype == MT_FLOAT8_E4M3FN);
            cr_assert(strncmp(inv.tensors[i - 1].name, nm, len - 17) == 0);
        }
    }
    cr_assert_eq(n8, 45032);
    cr_assert_eq(n32, 45032 + 58);
    /* the quantized weights in the model's bf16 would take twice their fp8 bytes */
    cr_assert_eq(inv.unquantized_bytes, 2 * inv.bytes_by_dtype[MT_FLOAT8_E4M3FN]);
    mt_ctx_free(ctx);
}

/* ---- MXFP4: gpt-oss-20b ---------------------------------------------------------
 * tests/data/index/openai--gpt-oss-20b.index.keys.txt: the weight_map keys and
 * total_size of the real index. The config has no torch_dtype; the checkpoint
 * stores everything but the experts in bfloat16 (the total below checks it). */
static char **read_keys(const char *name, int *n, int64_t *total) {
    char rel[256];
    snprintf(rel, sizeof rel, "tests/data/index/%s", name);
    size_t len;
    char *text = tu_read(tu_src(rel), &len);
    cr_assert_not_null(text, "%s", rel);
    char **keys = malloc(sizeof *keys * 4096);
    *n = 0;
    *total = -1;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] == '#') continue;
        if (strncmp(line, "total_size ", 11) == 0) *total = strtoll(line + 11, NULL, 10);
        else if (*n < 4096) keys[(*n)++] = strdup(line);
    }
    free(text);
    return keys;
}

Test(quant, gpt_oss_20b_mxfp4_matches_the_index) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = build_dtype(ctx, "samples/configs/quantized/openai--gpt-oss-20b.config.json", MT_BFLOAT16);
    mt_quant_inventory inv = inventory(m, NULL);
    cr_assert_str_eq(inv.method, "mxfp4");
    check_sums(&inv);
    int n;
    int64_t total;
    char **keys = read_keys("openai--gpt-oss-20b.index.keys.txt", &n, &total);
    cr_assert_eq(n, 24 * 19 + 3);
    check_names(&inv, keys, n);
    cr_assert_eq(total, 13761264768LL);
    cr_assert_eq(inv.total_bytes, total);
    /* [E, hidden, 2*inter] -> blocks [E, 2*inter, hidden/32, 16], scales [E, 2*inter, hidden/32];
     * [E, inter, hidden] -> [E, hidden, inter/32, 16], [E, hidden, inter/32] (2880/32 = 90) */
    CHECK(&inv, "model.layers.0.mlp.experts.gate_up_proj_blocks", MT_UINT8, 32, 5760, 90, 16);
    CHECK(&inv, "model.layers.0.mlp.experts.gate_up_proj_scales", MT_UINT8, 32, 5760, 90);
    CHECK(&inv, "model.layers.23.mlp.experts.down_proj_blocks", MT_UINT8, 32, 2880, 90, 16);
    CHECK(&inv, "model.layers.23.mlp.experts.down_proj_scales", MT_UINT8, 32, 2880, 90);
    CHECK(&inv, "model.layers.0.mlp.experts.gate_up_proj_bias", MT_BFLOAT16, 32, 5760);
    CHECK(&inv, "model.layers.0.self_attn.q_proj.weight", MT_BFLOAT16, 4096, 2880); /* modules_to_not_convert */
    CHECK(&inv, "model.layers.0.mlp.router.weight", MT_BFLOAT16, 32, 2880);
    /* the model keeps transformers' in-memory names; the inventory points back */
    const mt_stored_tensor *b = find(&inv, "model.layers.5.mlp.experts.down_proj_blocks");
    cr_assert_str_eq(b->param->name, "model.layers.5.mlp.experts.down_proj");
    cr_assert(b->quantized);
    cr_assert_eq(inv.quantized_params, 24LL * 32 * (2880 * 5760 + 2880 * 2880));
    for (int i = 0; i < n; i++) free(keys[i]);
    free(keys);
    mt_ctx_free(ctx);
}

/* ---- AWQ: DeepSeek-V3, against a real AWQ index ---------------------------------------
 * tests/data/index/DeepSeek-V3-AWQ.index.excerpt.txt: total_size and 100 keys read
 * verbatim from a public AWQ quantization of DeepSeek-V3 (no config.json shipped with
 * it). The model: the shipped DeepSeek-V3 config with its quantization_config replaced
 * by AWQ 4-bit GEMM, group 64. Key count by the index's own layout: embed, 3 dense
 * layers of 28 keys (5 attention Linears x 3 + 2 attention norms, 3 MLP Linears x 3,
 * 2 norms), 58 MoE layers of 17 + 256 x 9 + 2 (router weight and correction bias)
 * + 9 (shared experts) + 2 = 2334 keys, model.norm and lm_head:
 * 1 + 84 + 135,372 + 2 = 135,459. */
static mt_model *deepseek_awq(mt_ctx *ctx, int64_t group) {
    size_t len;
    char *text = tu_read(tu_src("samples/configs/deepseek-ai--DeepSeek-V3.config.json"), &len);
    cr_assert_not_null(text);
    char *q = strstr(text, "\"quantization_config\"");
    cr_assert_not_null(q);
    char *end = strchr(q, '}');
    cr_assert_not_null(end);
    char awq[160];
    snprintf(awq, sizeof awq,
             "\"quantization_config\": {\"quant_method\": \"awq\", \"bits\": 4, \"group_size\": %lld, "
             "\"version\": \"gemm\", \"zero_point\": true}",
             (long long)group);
    size_t head = (size_t)(q - text), tail = len - (size_t)(end + 1 - text);
    char *cfg_text = malloc(head + strlen(awq) + tail + 1);
    memcpy(cfg_text, text, head);
    memcpy(cfg_text + head, awq, strlen(awq));
    memcpy(cfg_text + head + strlen(awq), end + 1, tail);
    cfg_text[head + strlen(awq) + tail] = 0;
    mt_config *cfg = mt_config_parse(ctx, cfg_text, strlen(cfg_text), "deepseek-v3-awq");
    cr_assert_not_null(cfg, "%s", mt_ctx_errmsg(ctx));
    free(text);
    free(cfg_text);
    mt_build_opts o = {.dtype = MT_DTYPE_NONE};
    mt_model *m = mt_model_build(ctx, cfg, &o);
    cr_assert_not_null(m, "%s", mt_ctx_errmsg(ctx));
    return m;
}

Test(quant, deepseek_v3_awq_matches_a_real_index) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = deepseek_awq(ctx, 64);
    mt_quant_inventory inv = inventory(m, NULL);
    cr_assert_str_eq(inv.method, "awq");
    check_sums(&inv);
    int n;
    int64_t total;
    char **keys = read_keys("DeepSeek-V3-AWQ.index.excerpt.txt", &n, &total);
    cr_assert_eq(n, 100);
    for (int i = 0; i < n; i++) find(&inv, keys[i]); /* every key of the excerpt is ours */
    cr_assert_eq(inv.n, 1 + 3 * 28 + 58 * 2334 + 2);
    cr_assert_eq(total, 364589799936LL);
    /* The one difference: the router's e_score_correction_bias [256] is float32 in ours, as in
     * DeepSeek's own checkpoint and transformers (_keep_in_fp32_modules_strict); this older
     * conversion stored it in float16: 58 layers x 256 x (4 - 2) bytes = 29,696. */
    CHECK(&inv, "model.layers.3.mlp.gate.e_score_correction_bias", MT_FLOAT32, 256);
    cr_assert_eq(inv.total_bytes, total + 58 * 256 * 2);
    /* AWQ GEMM layout: qweight int32 [in, out/8], qzeros int32 [in/64, out/8], scales
     * float16 [in/64, out]; an expert's down_proj is 2048 -> 7168 */
    CHECK(&inv, "model.layers.3.mlp.experts.255.down_proj.qweight", MT_INT32, 2048, 896);
    CHECK(&inv, "model.layers.3.mlp.experts.255.down_proj.qzeros", MT_INT32, 32, 896);
    CHECK(&inv, "model.layers.3.mlp.experts.255.down_proj.scales", MT_FLOAT16, 32, 7168);
    for (int i = 0; i < n; i++) free(keys[i]);
    free(keys);
    mt_ctx_free(ctx);
}

/* Group 128 halves the qzeros and scales: it cannot be what the index holds. */
Test(quant, deepseek_v3_awq_group_128_is_not_that_index) {
    mt_ctx *ctx = mt_ctx_new();
    mt_quant_inventory inv = inventory(deepseek_awq(ctx, 128), NULL);
    cr_assert_neq(inv.total_bytes, 364589799936LL + 58 * 256 * 2);
    CHECK(&inv, "model.layers.3.mlp.experts.255.down_proj.scales", MT_FLOAT16, 16, 7168);
    mt_ctx_free(ctx);
}

/* ---- GPTQ / AWQ / bitsandbytes: what-ifs on llama-7b, by hand -----------------------
 * llama-7b: hidden 4096, intermediate 11008, 32 layers, vocab 32000, float16.
 * Quantized: q/k/v/o (4096 -> 4096), gate/up (4096 -> 11008), down (11008 ->
 * 4096) of every layer; embed_tokens, lm_head and the norms stay float16:
 * 2 * 32000*4096*2 + 4096*2 = 524,296,192 bytes, plus 2*4096*2 = 16,384 of
 * norms per layer. */
Test(quant, gptq_what_if_by_hand) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build(ctx, tu_src(LLAMA7B), 0);
    mt_quant_inventory inv = inventory(m, "gptq");
    cr_assert_str_eq(inv.method, "gptq");
    check_sums(&inv);
    /* AutoGPTQ QuantLinear: qweight int32 [in/32*bits, out], qzeros int32
     * [ceil(in/group), out/32*bits], scales float16 [ceil(in/group), out], g_idx int32 [in] */
    CHECK(&inv, "model.layers.0.self_attn.q_proj.qweight", MT_INT32, 512, 4096);
    CHECK(&inv, "model.layers.0.self_attn.q_proj.qzeros", MT_INT32, 32, 512);
    CHECK(&inv, "model.layers.0.self_attn.q_proj.scales", MT_FLOAT16, 32, 4096);
    CHECK(&inv, "model.layers.0.self_attn.q_proj.g_idx", MT_INT32, 4096);
    CHECK(&inv, "model.layers.31.mlp.down_proj.qweight", MT_INT32, 1376, 4096);
    CHECK(&inv, "model.layers.31.mlp.down_proj.scales", MT_FLOAT16, 86, 4096);
    CHECK(&inv, "lm_head.weight", MT_FLOAT16, 32000, 4096);
    /* per 4096->4096 projection: 8,388,608 + 65,536 + 262,144 + 16,384 = 8,732,672;
     * gate/up: 512*11008*4 + 32*1376*4 + 32*11008*2 + 16,384 = 23,441,408;
     * down: 1376*4096*4 + 86*512*4 + 86*4096*2 + 11008*4 = 23,469,056;
     * layer 4*8,732,672 + 2*23,441,408 + 23,469,056 + 16,384 = 105,298,944 */
    cr_assert_eq(inv.total_bytes, 32 * 105298944LL + 524296192LL);
    cr_assert_eq(inv.n, 32 * (7 * 4 + 2) + 3);
    cr_assert_eq(inv.quantized_params, 32 * (4 * 4096LL * 4096 + 3 * 4096LL * 11008));
    mt_ctx_free(ctx);
}

Test(quant, awq_what_if_by_hand) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build(ctx, tu_src(LLAMA7B), 0);
    mt_quant_inventory inv = inventory(m, "awq");
    cr_assert_str_eq(inv.method, "awq");
    check_sums(&inv);
    /* AutoAWQ WQLinear_GEMM: qweight int32 [in, out/8], qzeros int32 [in/group, out/8],
     * scales float16 [in/group, out]; no g_idx */
    CHECK(&inv, "model.layers.0.mlp.gate_proj.qweight", MT_INT32, 4096, 1376);
    CHECK(&inv, "model.layers.0.mlp.gate_proj.qzeros", MT_INT32, 32, 1376);
    CHECK(&inv, "model.layers.0.mlp.gate_proj.scales", MT_FLOAT16, 32, 11008);
    CHECK(&inv, "model.layers.0.mlp.down_proj.qweight", MT_INT32, 11008, 512);
    /* projection 8,388,608 + 65,536 + 262,144 = 8,716,288; gate/up and down
     * 22,544,384 + 176,128 + 704,512 = 23,425,024 each;
     * layer 4*8,716,288 + 3*23,425,024 + 16,384 = 105,156,608 */
    cr_assert_eq(inv.total_bytes, 32 * 105156608LL + 524296192LL);
    cr_assert_eq(inv.n, 32 * (7 * 3 + 2) + 3);
    mt_ctx_free(ctx);
}

Test(quant, bnb_8bit_what_if_by_hand) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build(ctx, tu_src(LLAMA7B), 0);
    mt_quant_inventory inv = inventory(m, "bnb-8bit");
    cr_assert_str_eq(inv.method, "bitsandbytes_8bit");
    check_sums(&inv);
    CHECK(&inv, "model.layers.0.self_attn.v_proj.weight", MT_INT8, 4096, 4096);
    CHECK(&inv, "model.layers.0.self_attn.v_proj.SCB", MT_FLOAT32, 4096);
    const mt_stored_tensor *f = find(&inv, "model.layers.0.self_attn.v_proj.weight_format");
    cr_assert_eq(f->ndim, 0);
    cr_assert_eq(f->bytes, 1);
    /* layer: int8 weights 4*4096*4096 + 3*4096*11008 = 202,375,168; SCB 4 bytes
     * per output row (4*4096 + 2*11008 + 4096) * 4 = 169,984; 7 weight_format
     * bytes; norms 16,384: 202,561,543 */
    cr_assert_eq(inv.total_bytes, 32 * 202561543LL + 524296192LL);
    mt_ctx_free(ctx);
}

/* bitsandbytes 4-bit, nf4 with double quantization (the what-if default): the
 * packed weight holds two values a byte, [n/2, 1]; absmax one uint8 per 64
 * values, nested_absmax one float32 per 256 blocks, the two code books (16 and
 * 256 float32) and the JSON quant state (an estimate: see docs/quant.md). */
Test(quant, bnb_4bit_what_if_layout) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build(ctx, tu_src(LLAMA7B), 0);
    mt_quant_inventory inv = inventory(m, "bnb-4bit");
    cr_assert_str_eq(inv.method, "bitsandbytes_4bit");
    check_sums(&inv);
    CHECK(&inv, "model.layers.0.self_attn.q_proj.weight", MT_UINT8, 4096 * 4096 / 2, 1);
    CHECK(&inv, "model.layers.0.self_attn.q_proj.weight.absmax", MT_UINT8, 4096 * 4096 / 64);
    CHECK(&inv, "model.layers.0.self_attn.q_proj.weight.quant_map", MT_FLOAT32, 16);
    CHECK(&inv, "model.layers.0.self_attn.q_proj.weight.nested_absmax", MT_FLOAT32, 4096 * 4096 / 64 / 256);
    CHECK(&inv, "model.layers.0.self_attn.q_proj.weight.nested_quant_map", MT_FLOAT32, 256);
    const mt_stored_tensor *st = find(&inv, "model.layers.0.self_attn.q_proj.weight.quant_state.bitsandbytes__nf4");
    cr_assert_eq(st->dtype, MT_UINT8);
    /* json.dumps({"quant_type": "nf4", "blocksize": 64, "dtype": "float16", "shape": [4096, 4096],
     * "nested_blocksize": 256, "nested_dtype": "float32", "nested_offset": <19 chars>}) */
    const char *json = "{\"quant_type\": \"nf4\", \"blocksize\": 64, \"dtype\": \"float16\", \"shape\": [4096, 4096], "
                       "\"nested_blocksize\": 256, \"nested_dtype\": \"float32\", \"nested_offset\": "
                       "0.01234567890123456}";
    cr_assert_eq(st->shape[0], (int64_t)strlen(json));
    cr_assert_eq(inv.n, 32 * (7 * 6 + 2) + 3);
    mt_ctx_free(ctx);
}

/* ---- config-driven variants and skip lists (tiny configs, by hand) -------------- */

/* hidden 200 (not a multiple of 128: scale blocks round up), intermediate 300,
 * 2 layers, vocab 64, 4 heads of 50. */
#define TINY_HEAD                                                                                            \
    "{\n  \"model_type\": \"llama\", \"vocab_size\": 64, \"hidden_size\": 200, \"intermediate_size\": 300,\n" \
    "  \"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"torch_dtype\": \"bfloat16\",\n"

Test(quant, fp8_config_blocks_and_skips) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build_text(ctx,
                                TINY_HEAD "  \"quantization_config\": {\"quant_method\": \"fp8\", \"fmt\": \"e5m2\",\n"
                                          "    \"weight_block_size\": [128, 64],\n"
                                          "    \"modules_to_not_convert\": [\"q_proj\", \"model.layers.1.mlp\"]}\n}\n",
                                0);
    mt_quant_inventory inv = inventory(m, NULL);
    check_sums(&inv);
    /* k_proj [200, 200]: scales [ceil(200/128), ceil(200/64)] = [2, 4] */
    CHECK(&inv, "model.layers.0.self_attn.k_proj.weight", MT_FLOAT8_E5M2, 200, 200);
    CHECK(&inv, "model.layers.0.self_attn.k_proj.weight_scale_inv", MT_FLOAT32, 2, 4);
    /* down_proj [200, 300]: [2, 5] */
    CHECK(&inv, "model.layers.0.mlp.down_proj.weight_scale_inv", MT_FLOAT32, 2, 5);
    /* skipped: q_proj everywhere (name ends with it), layer 1's MLP (prefix) */
    CHECK(&inv, "model.layers.0.self_attn.q_proj.weight", MT_BFLOAT16, 200, 200);
    CHECK(&inv, "model.layers.1.mlp.gate_proj.weight", MT_BFLOAT16, 300, 200);
    CHECK(&inv, "model.layers.1.self_attn.o_proj.weight", MT_FLOAT8_E5M2, 200, 200);
    /* quantized: layer 0 k/v/o + gate/up/down, layer 1 k/v/o = 9 weights, each with a scale */
    int scales = 0;
    for (int i = 0; i < inv.n; i++) scales += strstr(inv.tensors[i].name, "weight_scale_inv") != NULL;
    cr_assert_eq(scales, 9);
    cr_assert_eq(inv.quantized_params, 6 * 200LL * 200 + 3 * 200LL * 300);
    mt_ctx_free(ctx);
}

Test(quant, gptq_config_group_and_bits) {
    mt_ctx *ctx = mt_ctx_new();
    /* hidden 256, intermediate 320, 8-bit, one group per row */
    mt_model *m = tu_build_text(ctx,
                                "{\"model_type\": \"llama\", \"vocab_size\": 64, \"hidden_size\": 256, "
                                "\"intermediate_size\": 320, \"num_hidden_layers\": 1, \"num_attention_heads\": 4, "
                                "\"torch_dtype\": \"float16\", \"quantization_config\": {\"quant_method\": \"gptq\", "
                                "\"bits\": 8, \"group_size\": -1, \"desc_act\": true, \"sym\": false}}",
                                0);
    mt_quant_inventory inv = inventory(m, NULL);
    /* down_proj in 320, out 256: qweight [320/32*8, 256] = [80, 256]; one group:
     * qzeros [1, 256/32*8] = [1, 64], scales [1, 256], g_idx [320] */
    CHECK(&inv, "model.layers.0.mlp.down_proj.qweight", MT_INT32, 80, 256);
    CHECK(&inv, "model.layers.0.mlp.down_proj.qzeros", MT_INT32, 1, 64);
    CHECK(&inv, "model.layers.0.mlp.down_proj.scales", MT_FLOAT16, 1, 256);
    CHECK(&inv, "model.layers.0.mlp.down_proj.g_idx", MT_INT32, 320);
    mt_ctx_free(ctx);
}

/* bitsandbytes from a config: 4-bit fp4 without double quantization keeps a
 * float32 absmax and has no nested tensors; llm_int8_skip_modules honoured. */
Test(quant, bnb_config_4bit_fp4) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build_text(ctx,
                                TINY_HEAD "  \"quantization_config\": {\"quant_method\": \"bitsandbytes\",\n"
                                          "    \"load_in_4bit\": true, \"bnb_4bit_quant_type\": \"fp4\",\n"
                                          "    \"llm_int8_skip_modules\": [\"o_proj\"]}\n}\n",
                                0);
    mt_quant_inventory inv = inventory(m, NULL);
    cr_assert_str_eq(inv.method, "bitsandbytes_4bit");
    /* q_proj n = 40,000: weight [20000, 1], absmax float32 [625] */
    CHECK(&inv, "model.layers.0.self_attn.q_proj.weight", MT_UINT8, 20000, 1);
    CHECK(&inv, "model.layers.0.self_attn.q_proj.weight.absmax", MT_FLOAT32, 625);
    find(&inv, "model.layers.0.self_attn.q_proj.weight.quant_state.bitsandbytes__fp4");
    CHECK(&inv, "model.layers.0.self_attn.o_proj.weight", MT_BFLOAT16, 200, 200);
    for (int i = 0; i < inv.n; i++) cr_assert_null(strstr(inv.tensors[i].name, "nested"), "%s", inv.tensors[i].name);
    mt_ctx_free(ctx);
}

/* ---- bad input ------------------------------------------------------------------ */

static void bad(const char *quant_fields, const char *method, mt_status want, const char *const *needles) {
    mt_ctx *ctx = mt_ctx_new();
    char text[1024];
    snprintf(text, sizeof text, TINY_HEAD "  \"quantization_config\": {%s}\n}\n", quant_fields);
    mt_model *m = tu_build_text(ctx, text, 0);
    mt_quant_inventory inv;
    mt_status st = mt_quant_inventory_of(m, method, &inv);
    cr_assert_eq(st, want, "%s: status %s: %s", quant_fields, mt_status_name(st), mt_ctx_errmsg(ctx));
    for (const char *const *n = needles; *n; n++)
        cr_assert_not_null(strstr(mt_ctx_errmsg(ctx), *n), "%s: expected \"%s\" in: %s", quant_fields, *n,
                           mt_ctx_errmsg(ctx));
    mt_ctx_free(ctx);
}
#define BAD(fields, method, st, ...) bad(fields, method, st, (const char *const[]){__VA_ARGS__, NULL})

Test(quant, bad_config_is_located) {
    /* line 4 col 27: the quant_method key inside the object on line 4 */
    BAD("\"quant_method\": \"fp9\"", NULL, MT_ERR_CONFIG, "config.json:4:27", "'quantization_config.quant_method'",
        "unknown quant_method \"fp9\"", "fp8, mxfp4, gptq, awq, bitsandbytes, compressed-tensors");
    BAD("\"quant_method\": 8", NULL, MT_ERR_CONFIG, "'quantization_config.quant_method'", "expected a string");
    BAD("\"bits\": 4", NULL, MT_ERR_CONFIG, "'quantization_config'", "missing quant_method");
    BAD("\"quant_method\": \"compressed-tensors\"", NULL, MT_ERR_CONFIG, "'quantization_config.config_groups'");
    BAD("\"quant_method\": \"fp8\", \"weight_block_size\": [128, 0]", NULL, MT_ERR_CONFIG, "config.json:4:50",
        "'quantization_config.weight_block_size'", "item 1 is zero");
    BAD("\"quant_method\": \"fp8\", \"weight_block_size\": [128, -4]", NULL, MT_ERR_CONFIG, "item 1 is negative");
    BAD("\"quant_method\": \"fp8\", \"weight_block_size\": [128]", NULL, MT_ERR_CONFIG, "two positive integers");
    BAD("\"quant_method\": \"fp8\", \"weight_block_size\": \"128x128\"", NULL, MT_ERR_CONFIG, "got a string");
    BAD("\"quant_method\": \"fp8\", \"weight_block_size\": [128, 12.5]", NULL, MT_ERR_CONFIG, "item 1 is a number");
    BAD("\"quant_method\": \"fp8\", \"fmt\": \"e3m4\"", NULL, MT_ERR_CONFIG, "'quantization_config.fmt'", "e3m4");
    BAD("\"quant_method\": \"fp8\", \"activation_scheme\": \"static\"", NULL, MT_ERR_CONFIG, "static");
    BAD("\"quant_method\": \"fp8\", \"modules_to_not_convert\": \"lm_head\"", NULL, MT_ERR_CONFIG,
        "'quantization_config.modules_to_not_convert'", "expected a list of module names, got a string");
    BAD("\"quant_method\": \"fp8\", \"modules_to_not_convert\": [\"lm_head\", 3]", NULL, MT_ERR_CONFIG,
        "item 1 is a number");
    BAD("\"quant_method\": \"gptq\", \"bits\": \"four\"", NULL, MT_ERR_CONFIG, "'quantization_config.bits'",
        "expected an integer");
    BAD("\"quant_method\": \"gptq\", \"bits\": 3", NULL, MT_ERR_CONFIG, "3-bit");
    BAD("\"quant_method\": \"gptq\", \"group_size\": 0", NULL, MT_ERR_CONFIG, "'quantization_config.group_size'",
        "got 0");
    BAD("\"quant_method\": \"gptq\", \"desc_act\": \"yes\"", NULL, MT_ERR_CONFIG, "'quantization_config.desc_act'");
    /* hidden 200 is not a multiple of 32: GPTQ cannot pack it */
    BAD("\"quant_method\": \"gptq\"", NULL, MT_ERR_CONFIG, "'quantization_config.bits'", "[200, 200]");
    /* AWQ: group_size 128 does not divide 200 input features */
    BAD("\"quant_method\": \"awq\", \"group_size\": 128", NULL, MT_ERR_CONFIG, "'quantization_config.group_size'",
        "200 input features, group_size 128");
    BAD("\"quant_method\": \"awq\", \"version\": \"gemv\"", NULL, MT_ERR_CONFIG, "GEMM");
    BAD("\"quant_method\": \"bitsandbytes\"", NULL, MT_ERR_CONFIG, "exactly one of load_in_8bit and load_in_4bit");
    BAD("\"quant_method\": \"bitsandbytes\", \"load_in_4bit\": true, \"bnb_4bit_quant_type\": \"nf3\"", NULL,
        MT_ERR_CONFIG, "'quantization_config.bnb_4bit_quant_type'");
    /* mxfp4 on a model without gpt-oss experts */
    BAD("\"quant_method\": \"mxfp4\"", NULL, MT_ERR_CONFIG, "gpt-oss experts");
}

Test(quant, bad_what_if) {
    BAD("\"quant_method\": \"fp8\"", "int3", MT_ERR_USAGE, "unknown quantization method 'int3'",
        "fp8,mxfp4,gptq,awq,bnb-8bit,bnb-4bit");
    BAD("\"quant_method\": \"fp8\"", "mxfp4", MT_ERR_UNSUPPORTED, "gpt-oss experts");
    BAD("\"quant_method\": \"fp8\"", "awq", MT_ERR_UNSUPPORTED, "quantization 'awq'", "group_size 128");
    /* a what-if overrides the config's method (and its bad fields are not read) */
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build_text(ctx, TINY_HEAD "  \"quantization_config\": {\"quant_method\": \"fp9\"}\n}\n", 0);
    mt_quant_inventory inv = inventory(m, "fp8");
    cr_assert_str_eq(inv.method, "fp8");
    cr_assert_str_eq(inv.description, "FP8 e4m3 weights, 128x128 block scales (float32 weight_scale_inv)");
    mt_ctx_free(ctx);
}

/* ---- compressed-tensors (read at the source: compressed_tensors
 * quantization/lifecycle/initialize.py and compressors/quantized_compressors/
 * pack_quantized.py; no real checkpoint was at hand: hand arithmetic) -------- */

/* hidden 256, intermediate 384, 2 layers, 4 heads, bfloat16 */
#define CT_HEAD                                                                                             \
    "{\n  \"model_type\": \"llama\", \"vocab_size\": 64, \"hidden_size\": 256, \"intermediate_size\": 384,\n" \
    "  \"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"torch_dtype\": \"bfloat16\",\n"

/* W4A16 as llm-compressor writes it: int4, group 128, symmetric, pack-quantized */
Test(quant, compressed_tensors_pack_quantized) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build_text(
        ctx,
        CT_HEAD "  \"quantization_config\": {\"quant_method\": \"compressed-tensors\", \"format\": \"pack-quantized\",\n"
                "    \"config_groups\": {\"group_0\": {\"targets\": [\"Linear\"], \"input_activations\": null,\n"
                "      \"output_activations\": null, \"weights\": {\"num_bits\": 4, \"type\": \"int\", \"symmetric\": true,\n"
                "      \"strategy\": \"group\", \"group_size\": 128, \"dynamic\": false, \"block_structure\": null}}},\n"
                "    \"ignore\": [\"lm_head\", \"re:model.layers.1.mlp.*\"], \"kv_cache_scheme\": null}\n}\n",
        0);
    mt_quant_inventory inv = inventory(m, NULL);
    cr_assert_str_eq(inv.method, "compressed-tensors");
    check_sums(&inv);
    /* q_proj [256, 256]: eight 4-bit values per int32 along the input -> [256, 32];
     * scales in the weight dtype [256, ceil(256/128)]; the original shape int64 [2] */
    CHECK(&inv, "model.layers.0.self_attn.q_proj.weight_packed", MT_INT32, 256, 32);
    CHECK(&inv, "model.layers.0.self_attn.q_proj.weight_shape", MT_INT64, 2);
    CHECK(&inv, "model.layers.0.self_attn.q_proj.weight_scale", MT_BFLOAT16, 256, 2);
    /* down_proj [256, 384]: [256, 48], scales [256, 3] */
    CHECK(&inv, "model.layers.0.mlp.down_proj.weight_packed", MT_INT32, 256, 48);
    CHECK(&inv, "model.layers.0.mlp.down_proj.weight_scale", MT_BFLOAT16, 256, 3);
    /* ignored: the head (exact name) and layer 1's MLP (re:) */
    CHECK(&inv, "lm_head.weight", MT_BFLOAT16, 64, 256);
    CHECK(&inv, "model.layers.1.mlp.up_proj.weight", MT_BFLOAT16, 384, 256);
    CHECK(&inv, "model.layers.1.self_attn.o_proj.weight_packed", MT_INT32, 256, 32);
    /* symmetric: no zero points */
    for (int i = 0; i < inv.n; i++) cr_assert_null(strstr(inv.tensors[i].name, "zero_point"));
    /* quantized: 4 attention projections x 2 layers + 3 MLP in layer 0 */
    cr_assert_eq(inv.quantized_params, 8 * 256LL * 256 + 3 * 256LL * 384);
    mt_ctx_free(ctx);
}

/* asymmetric per-channel int8: zero points packed along the output axis
 * (pack_to_int32(packed_dim=0)): [ceil(out/4), 1] int32 */
Test(quant, compressed_tensors_asymmetric_channel) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build_text(
        ctx,
        CT_HEAD "  \"quantization_config\": {\"quant_method\": \"compressed-tensors\", \"format\": \"pack-quantized\",\n"
                "    \"config_groups\": {\"g\": {\"targets\": [\"re:.*_proj$\"], \"weights\": {\"num_bits\": 8,\n"
                "      \"type\": \"int\", \"symmetric\": false, \"strategy\": \"channel\"}}}}\n}\n",
        0);
    mt_quant_inventory inv = inventory(m, NULL);
    CHECK(&inv, "model.layers.0.mlp.gate_proj.weight_packed", MT_INT32, 384, 64); /* 256 / 4 */
    CHECK(&inv, "model.layers.0.mlp.gate_proj.weight_scale", MT_BFLOAT16, 384, 1);
    CHECK(&inv, "model.layers.0.mlp.gate_proj.weight_zero_point", MT_INT32, 96, 1);
    /* targets name only the *_proj Linears: the head is not a target */
    CHECK(&inv, "lm_head.weight", MT_BFLOAT16, 64, 256);
    mt_ctx_free(ctx);

    /* no strategy: QuantizationArgs infers group from group_size > 0 (-1: channel) */
    ctx = mt_ctx_new();
    m = tu_build_text(
        ctx,
        CT_HEAD "  \"quantization_config\": {\"quant_method\": \"compressed-tensors\", \"format\": \"pack-quantized\",\n"
                "    \"config_groups\": {\"a\": {\"targets\": [\"re:.*mlp.*\"], \"weights\": {\"num_bits\": 4, \"group_size\": 64}},\n"
                "                      \"b\": {\"targets\": [\"re:.*self_attn.*\"], \"weights\": {\"num_bits\": 4, \"group_size\": -1}}}}\n}\n",
        0);
    inv = inventory(m, NULL);
    cr_assert_str_eq(inv.description, "compressed-tensors, 2 quantization groups");
    CHECK(&inv, "model.layers.0.mlp.down_proj.weight_scale", MT_BFLOAT16, 256, 6); /* 384 / 64 */
    CHECK(&inv, "model.layers.0.self_attn.v_proj.weight_scale", MT_BFLOAT16, 256, 1);
    mt_ctx_free(ctx);
}

/* FP8 as llm-compressor writes it: float8 weights with per-channel scales,
 * dynamic per-token inputs (nothing stored) or static per-tensor (input_scale [1]). */
Test(quant, compressed_tensors_fp8) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build_text(
        ctx,
        CT_HEAD "  \"quantization_config\": {\"quant_method\": \"compressed-tensors\", \"format\": \"float-quantized\",\n"
                "    \"config_groups\": {\"group_0\": {\"targets\": [\"Linear\"],\n"
                "      \"input_activations\": {\"dynamic\": true, \"num_bits\": 8, \"strategy\": \"token\", \"type\": \"float\"},\n"
                "      \"weights\": {\"num_bits\": 8, \"type\": \"float\", \"symmetric\": true, \"strategy\": \"channel\"}}},\n"
                "    \"ignore\": [\"lm_head\"]}\n}\n",
        0);
    mt_quant_inventory inv = inventory(m, NULL);
    CHECK(&inv, "model.layers.0.self_attn.k_proj.weight", MT_FLOAT8_E4M3FN, 256, 256);
    CHECK(&inv, "model.layers.0.self_attn.k_proj.weight_scale", MT_BFLOAT16, 256, 1);
    for (int i = 0; i < inv.n; i++) cr_assert_null(strstr(inv.tensors[i].name, "input_scale"));
    /* 7 Linears x 2 layers, each weight + scale; embed, 2x2 norms, norm, head */
    cr_assert_eq(inv.n, 14 * 2 + 1 + 4 + 1 + 1);
    mt_ctx_free(ctx);

    ctx = mt_ctx_new();
    m = tu_build_text(
        ctx,
        CT_HEAD "  \"quantization_config\": {\"quant_method\": \"compressed-tensors\", \"format\": \"naive-quantized\",\n"
                "    \"config_groups\": {\"group_0\": {\"targets\": [\"Linear\"],\n"
                "      \"input_activations\": {\"dynamic\": false, \"num_bits\": 8, \"strategy\": \"tensor\", \"type\": \"float\"},\n"
                "      \"weights\": {\"num_bits\": 8, \"type\": \"float\", \"strategy\": \"tensor\"}}},\n"
                "    \"ignore\": [\"lm_head\"]}\n}\n",
        0);
    inv = inventory(m, NULL);
    CHECK(&inv, "model.layers.1.mlp.down_proj.weight_scale", MT_BFLOAT16, 1);
    CHECK(&inv, "model.layers.1.mlp.down_proj.input_scale", MT_BFLOAT16, 1);
    mt_ctx_free(ctx);
}

Test(quant, compressed_tensors_bad_config) {
#define CTG(w) "\"quant_method\": \"compressed-tensors\", \"format\": \"pack-quantized\", \"config_groups\": " \
               "{\"group_0\": {\"targets\": [\"Linear\"], \"weights\": " w "}}"
    BAD(CTG("{\"num_bits\": 4, \"strategy\": \"group\"}"), NULL, MT_ERR_CONFIG,
        "'quantization_config.config_groups.group_0.weights.group_size'", "positive group_size");
    BAD(CTG("{\"num_bits\": 2, \"strategy\": \"channel\"}"), NULL, MT_ERR_CONFIG,
        "'quantization_config.config_groups.group_0.weights.num_bits'", "4- or 8-bit");
    BAD(CTG("{\"num_bits\": 4, \"strategy\": \"rows\"}"), NULL, MT_ERR_CONFIG, "expected tensor, channel, group or block");
    BAD(CTG("{\"num_bits\": 4, \"strategy\": \"group\", \"group_size\": 128, \"actorder\": \"group\"}"), NULL,
        MT_ERR_CONFIG, "'quantization_config.config_groups.group_0.weights.actorder'");
    BAD(CTG("{\"num_bits\": 4, \"strategy\": \"channel\"}") ", \"kv_cache_scheme\": {\"num_bits\": 8}", NULL,
        MT_ERR_CONFIG, "'quantization_config.kv_cache_scheme'");
    BAD("\"quant_method\": \"compressed-tensors\", \"format\": \"marlin-24\", \"config_groups\": {\"g\": "
        "{\"targets\": [\"Linear\"], \"weights\": {\"num_bits\": 4}}}",
        NULL, MT_ERR_CONFIG, "'quantization_config.format'", "marlin-24");
    BAD("\"quant_method\": \"compressed-tensors\", \"format\": \"pack-quantized\"", NULL, MT_ERR_CONFIG,
        "'quantization_config.config_groups'");
    BAD("\"quant_method\": \"compressed-tensors\", \"format\": \"pack-quantized\", \"config_groups\": {\"g\": "
        "{\"targets\": \"Linear\", \"weights\": {\"num_bits\": 4}}}",
        NULL, MT_ERR_CONFIG, "'quantization_config.config_groups.g.targets'");
#undef CTG
}

/* The skip-list matcher follows Python's re.match on the regex subset used. */
Test(quant, skip_patterns) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build_text(ctx,
                                TINY_HEAD "  \"quantization_config\": {\"quant_method\": \"fp8\",\n"
                                          "    \"modules_to_not_convert\": [\"model.layers.*.self_attn.[kv]_proj\",\n"
                                          "      \"^model\\\\.layers\\\\.1\\\\.mlp\\\\.down_proj$\"]}\n}\n",
                                0);
    mt_quant_inventory inv = inventory(m, NULL);
    /* '[kv]' is not in the subset (taken literally): k_proj and v_proj are quantized */
    CHECK(&inv, "model.layers.0.self_attn.k_proj.weight", MT_FLOAT8_E4M3FN, 200, 200);
    /* escaped dots and anchors */
    CHECK(&inv, "model.layers.1.mlp.down_proj.weight", MT_BFLOAT16, 200, 300);
    CHECK(&inv, "model.layers.0.mlp.down_proj.weight", MT_FLOAT8_E4M3FN, 200, 300);
    mt_ctx_free(ctx);
}

/* Routers that are plain Linears: GPTQ/AWQ leave them (AutoGPTQ/AutoAWQ quantize
 * attention and experts), bitsandbytes and FP8 replace every nn.Linear. */
Test(quant, moe_router_by_method) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build_text(ctx,
                                "{\"model_type\": \"mixtral\", \"vocab_size\": 64, \"hidden_size\": 64, "
                                "\"intermediate_size\": 128, \"num_hidden_layers\": 1, \"num_attention_heads\": 4, "
                                "\"num_key_value_heads\": 2, \"num_local_experts\": 4, \"num_experts_per_tok\": 2, "
                                "\"torch_dtype\": \"bfloat16\"}",
                                0);
    mt_quant_inventory g = inventory(m, "gptq");
    CHECK(&g, "model.layers.0.block_sparse_moe.gate.weight", MT_BFLOAT16, 4, 64);
    /* w1 [128, 64]: qweight [64/32*4, 128], one group of 64 < 128 */
    CHECK(&g, "model.layers.0.block_sparse_moe.experts.3.w1.qweight", MT_INT32, 8, 128);
    CHECK(&g, "model.layers.0.block_sparse_moe.experts.3.w1.scales", MT_FLOAT16, 1, 128);
    mt_quant_inventory b = inventory(m, "bnb-8bit");
    CHECK(&b, "model.layers.0.block_sparse_moe.gate.weight", MT_INT8, 4, 64);
    CHECK(&b, "model.layers.0.block_sparse_moe.gate.SCB", MT_FLOAT32, 4);
    mt_quant_inventory f = inventory(m, "fp8");
    CHECK(&f, "model.layers.0.block_sparse_moe.gate.weight_scale_inv", MT_FLOAT32, 1, 1);
    CHECK(&f, "lm_head.weight", MT_BFLOAT16, 64, 64);
    mt_ctx_free(ctx);
}
