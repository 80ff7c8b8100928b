/* Clusters, collective costs, pipeline splits and --fit (include/metatrace/fit.h,
 * docs/plan.md "Fit"). Every expected figure is worked out by hand in the
 * comments from the configs and the datasheet figures of docs/plan.md. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"
#include "tiny_configs.h"

#define GiB 1073741824.0
#define L70 "tests/bench/configs/llama-2-70b.config.json" /* meta-llama/Llama-2-70b-hf config.json */
#define DSV3 "samples/configs/deepseek-ai--DeepSeek-V3.config.json"

static mt_fit *fit_of(mt_ctx *ctx, const char *config, const char *cluster) {
    mt_model *m = tu_build(ctx, tu_src(config), 0);
    mt_graph *g = tu_trace(m);
    mt_cluster cl;
    cr_assert_eq(mt_cluster_parse(ctx, cluster, &cl), MT_OK, "%s", mt_ctx_errmsg(ctx));
    mt_fit_opts o = {.cluster = &cl};
    mt_fit *f = mt_fit_run(m, g, &o);
    cr_assert_not_null(f, "%s", mt_ctx_errmsg(ctx));
    return f;
}

static const mt_fit_row *row_of(const mt_fit *f, int tp, int pp, int ep, int dp) {
    for (int i = 0; i < f->nrows; i++)
        if (f->rows[i].tp == tp && f->rows[i].pp == pp && f->rows[i].ep == ep && f->rows[i].dp == dp)
            return &f->rows[i];
    cr_assert_fail("no layout tp=%d pp=%d ep=%d dp=%d", tp, pp, ep, dp);
    return NULL;
}

static void check_split(const mt_fit_row *r, const int *want) {
    for (int s = 0; s < r->nstages; s++)
        cr_assert_eq(r->stages[s].nlayers, want[s], "tp=%d pp=%d stage %d: %d layers, want %d", r->tp, r->pp, s,
                     r->stages[s].nlayers, want[s]);
    cr_assert(r->stages[0].embedding && r->stages[r->nstages - 1].head);
}

/* ---- collectives ------------------------------------------------------------- */
Test(fit, collective_costs_by_hand) {
    /* 8 ranks over NVLink 4 at 450 GB/s x 0.8 = 360e9 B/s, alpha 5 us, 1 MiB each:
     * all-reduce 5e-6 + 2 x 7/8 x 1048576 / 360e9 = 5e-6 + 5.0972e-6 = 10.0972 us;
     * all-gather, reduce-scatter, all-to-all half the bandwidth term: 7.5486 us. */
    double ar = mt_collective_seconds(MT_COMM_ALL_REDUCE, 8, 1048576, 5e-6, 360e9);
    cr_assert_float_eq(ar, 5e-6 + 1.75 * 1048576 / 360e9, 1e-15);
    cr_assert_float_eq(ar, 10.0972e-6, 1e-10);
    cr_assert_float_eq(mt_collective_seconds(MT_COMM_ALL_GATHER, 8, 1048576, 5e-6, 360e9), 7.5486e-6, 1e-10);
    cr_assert_float_eq(mt_collective_seconds(MT_COMM_REDUCE_SCATTER, 8, 1048576, 5e-6, 360e9), 7.5486e-6, 1e-10);
    cr_assert_float_eq(mt_collective_seconds(MT_COMM_ALL_TO_ALL, 2, 1e6, 10e-6, 50e9), 10e-6 + 0.5 * 1e6 / 50e9,
                       1e-15);
    cr_assert_eq(mt_collective_seconds(MT_COMM_ALL_REDUCE, 1, 1e9, 5e-6, 1e9), 0, "one rank: nothing to do");
}

/* ---- clusters ------------------------------------------------------------------ */
Test(fit, cluster_specs) {
    mt_ctx *ctx = mt_ctx_new();
    mt_cluster c;
    cr_assert_eq(mt_cluster_parse(ctx, "2x8xH100", &c), MT_OK);
    cr_assert_eq(c.nodes, 2);
    cr_assert_eq(c.gpus_per_node, 8);
    cr_assert_str_eq(c.gpu.name, "H100");
    cr_assert_eq(c.gpu.mem_bytes, 80LL << 30);
    cr_assert_float_eq(c.gpu.bf16_flops, 989.4e12, 1e3); /* half of the datasheet's 1,979 "with sparsity" */
    cr_assert_eq(mt_cluster_parse(ctx, "8xh200", &c), MT_OK, "names are case-insensitive");
    cr_assert_eq(c.nodes, 1);
    cr_assert_eq(c.gpus_per_node, 8);
    cr_assert_str_eq(c.name, "8xH200");
    cr_assert_eq(mt_cluster_parse(ctx, "MI300X", &c), MT_OK);
    cr_assert_eq(c.gpus_per_node, 8, "a preset alone is one full node");
    cr_assert_eq(mt_cluster_parse(ctx, "8xV100", &c), MT_ERR_USAGE);
    cr_assert_not_null(strstr(mt_ctx_errmsg(ctx), "H100, H200, A100-80GB"), "%s", mt_ctx_errmsg(ctx));
    mt_error_clear(ctx);
    cr_assert_eq(mt_cluster_parse(ctx, "16xH100", &c), MT_ERR_USAGE, "an H100 node holds 8");
    cr_assert_not_null(strstr(mt_ctx_errmsg(ctx), "2x8xH100"), "%s", mt_ctx_errmsg(ctx));
    int n;
    const mt_gpu_spec *p = mt_gpu_presets(&n);
    cr_assert_geq(n, 7);
    for (int i = 0; i < n; i++)
        cr_assert(p[i].mem_bytes > 0 && p[i].bf16_flops > 0 && p[i].mem_bw > 0 && p[i].intra_bw > 0 &&
                      p[i].inter_bw > 0 && p[i].intra_lat > 0 && p[i].inter_lat > 0,
                  "%s has every figure", p[i].name);
    mt_ctx_free(ctx);
}

Test(fit, cluster_file_errors_are_located) {
    mt_ctx *ctx = mt_ctx_new();
    const char *dir = tu_tmpdir();
    /* line 3, column 11: the key "memory_gib" */
    char *path = tu_write(dir, "c.json", "{\"nodes\": 2,\n \"gpu\": {\"name\": \"H100\",\n          \"memory_gib\": \"lots\"}}\n");
    mt_cluster c;
    cr_assert_eq(mt_cluster_parse(ctx, path, &c), MT_ERR_CONFIG);
    const char *msg = mt_ctx_errmsg(ctx);
    cr_assert_not_null(strstr(msg, "c.json:3:11: field 'gpu.memory_gib'"), "%s", msg);
    mt_error_clear(ctx);
    path = tu_write(dir, "d.json", "{\"gpu\": {\"name\": \"H100\", \"memory_gb\": 94}}\n");
    cr_assert_eq(mt_cluster_parse(ctx, path, &c), MT_ERR_CONFIG);
    cr_assert_not_null(strstr(mt_ctx_errmsg(ctx), "field 'gpu.memory_gb': unknown field"), "%s", mt_ctx_errmsg(ctx));
    mt_error_clear(ctx);
    /* top level too: "gpus" (for gpus_per_node) at line 2, column 3 */
    path = tu_write(dir, "g.json", "{\"nodes\": 2,\n  \"gpus\": 8, \"gpu\": \"H100\"}\n");
    cr_assert_eq(mt_cluster_parse(ctx, path, &c), MT_ERR_CONFIG);
    cr_assert_not_null(strstr(mt_ctx_errmsg(ctx), "g.json:2:3: field 'gpus': unknown field"), "%s", mt_ctx_errmsg(ctx));
    mt_error_clear(ctx);
    /* a preset with figures overridden (H100 NVL's 94 GB), two nodes of 4 */
    path = tu_write(dir, "e.json", "{\"name\": \"lab\", \"nodes\": 2, \"gpus_per_node\": 4,\n"
                                   " \"gpu\": {\"name\": \"H100\", \"memory_gib\": 94}}\n");
    cr_assert_eq(mt_cluster_parse(ctx, path, &c), MT_OK, "%s", mt_ctx_errmsg(ctx));
    cr_assert_eq(c.gpu.mem_bytes, 94LL << 30);
    cr_assert_eq(c.nodes * c.gpus_per_node, 8);
    cr_assert_str_eq(c.name, "lab");
    /* a GPU of its own needs its figures */
    path = tu_write(dir, "f.json", "{\"gpu\": {\"name\": \"X1\", \"memory_gib\": 32}}\n");
    cr_assert_eq(mt_cluster_parse(ctx, path, &c), MT_ERR_CONFIG);
    cr_assert_not_null(strstr(mt_ctx_errmsg(ctx), "bf16_tflops"), "%s", mt_ctx_errmsg(ctx));
    mt_ctx_free(ctx);
}

/* ---- pipeline splits -------------------------------------------------------------- */
Test(fit, split_by_hand) {
    mt_ctx *ctx = mt_ctx_new();
    int out[8];
    double five[] = {1, 1, 1, 1, 1};
    /* 5 unit layers, a head of 0.5: [3, 2] (3 and 2.5) beats [2, 3] (3.5) */
    cr_assert_eq(mt_fit_split(ctx, five, 5, 0, 0.5, 2, out), MT_OK);
    cr_assert(out[0] == 3 && out[1] == 2);
    /* a head of 1.5 over 3 stages: m=2 gives [2, 2, 1] (2, 2, 2.5): the best the
     * last stage can do with one layer; m=1 would need f=3 (3) */
    cr_assert_eq(mt_fit_split(ctx, five, 5, 0, 1.5, 3, out), MT_OK);
    cr_assert(out[0] == 2 && out[1] == 2 && out[2] == 1, "%d %d %d", out[0], out[1], out[2]);
    cr_assert_eq(mt_fit_split(ctx, five, 5, 0, 0, 6, out), MT_ERR_USAGE, "more stages than layers");
    mt_ctx_free(ctx);
}

Test(fit, llama2_70b_pipeline_splits) {
    /* Per token at seq 4096 (dense node FLOPs): a layer is 2 x 855,638,016
     * weight elements (q, o 8192^2; k, v 8192 x 1024; MLP 3 x 8192 x 28672) =
     * 1.711 GFLOP plus attention 64 x 4096 x (2x128 + 2x128 + 5) = 0.136 GFLOP
     * and the small elementwise ops: c ~ 1.85 GFLOP. The head is
     * 2 x 8192 x 32000 = 0.524 GFLOP = 0.28 c, the embedding a lookup (0).
     * 4 stages: [20, 20, 20, 20] has its heaviest at 20.28 c; anything else
     * puts 21 layers on some stage. 8 stages: [10 x 8] at 10.28 c (the last
     * stage cannot drop to 9 layers without another rising to 11). */
    mt_ctx *ctx = mt_ctx_new();
    mt_fit *f = fit_of(ctx, L70, "8xH100");
    cr_assert_eq(f->layers, 80);
    check_split(row_of(f, 2, 4, 1, 1), (int[]){20, 20, 20, 20});
    check_split(row_of(f, 1, 4, 1, 2), (int[]){20, 20, 20, 20});
    check_split(row_of(f, 1, 8, 1, 1), (int[]){10, 10, 10, 10, 10, 10, 10, 10});
    /* stage 3 of tp=1 pp=8 starts at layer 30 */
    cr_assert_eq(row_of(f, 1, 8, 1, 1)->stages[3].first_layer, 30);
    mt_ctx_free(ctx);
}

Test(fit, deepseek_v3_split_61_over_8) {
    /* Per token at seq 4096: a MoE layer routes 8 of 256 experts, 8 x 3 x 7168 x
     * 2048 x 2 = 0.705 GFLOP, plus the shared expert 0.088: 0.793 GFLOP, the same
     * as the 3 dense layers' MLP (3 x 7168 x 18432 x 2), which lack only the
     * router (2 x 7168 x 256 = 3.7 MFLOP). MLA's projections (q_a 7168x1536, q_b
     * 1536x24576, kv_a 7168x576, kv_b 512x32768, o 16384x7168) add 0.374 GFLOP
     * and attention over 4096 keys 128 x 4096 x (2x192 + 2x128 + 5) = 0.338:
     * a layer c ~ 1.5 GFLOP. The head 2 x 7168 x 129280 = 1.85 GFLOP = 1.2 c.
     * 61 layers over 8 stages: some stage holds 8 layers (7 x 8 < 61), so the
     * best heaviest stage is 8 MoE layers; the last stage then takes at most 6
     * (7 + 1.2 > 8), the first the rest. Of the splits reaching 8 c, [7, 8 x 6, 6]
     * (lightest: the first, 3 dense + 4 MoE ~ 7 c) has a smaller gap than
     * [8, 8 x 6, 5] (lightest: 5 + 1.2 = 6.2 c). */
    mt_ctx *ctx = mt_ctx_new();
    mt_fit *f = fit_of(ctx, DSV3, "8xH200");
    cr_assert_eq(f->layers, 61);
    check_split(row_of(f, 1, 8, 1, 1), (int[]){7, 8, 8, 8, 8, 8, 8, 6});
    /* 2 stages: 31 + 30 (+ head 1.2 c): [31, 30] max 31.2 c vs [30, 31] 32.2 c */
    check_split(row_of(f, 4, 2, 1, 1), (int[]){31, 30});
    mt_ctx_free(ctx);
}

/* ---- fit answers ---------------------------------------------------------------- */
/* Llama-2-70B in float16: 68,976,648,192 parameters (embedding and head 32000 x
 * 8192 each, 80 layers of 855,654,400 with their two 8192 norms, the final
 * norm) = 137,953,296,384 bytes; 1-D (norms) 161 x 8192 x 2 = 2,637,824 bytes.
 * KV: 80 layers x 2 x 8 heads x 128 x 2 bytes = 327,680 B/token. An H100 has
 * 80 GiB, 72 GiB usable at 90 %. */
#define L70_W 137953296384.0
#define L70_1D 2637824.0
#define L70_KV 327680.0
#define H100_USABLE (80 * GiB * 0.9)

Test(fit, llama2_70b_on_1_h100_does_not_fit) {
    mt_ctx *ctx = mt_ctx_new();
    mt_fit *f = fit_of(ctx, L70, "1xH100");
    cr_assert_eq((double)f->weight_bytes, L70_W);
    cr_assert_eq(f->nfit, 0);
    cr_assert_eq(f->nrows, 1); /* tp = pp = dp = 1 */
    cr_assert_not(f->rows[0].fits);
    /* 128.48 GiB of weights against 80 GiB */
    cr_assert_not_null(strstr(f->missing, "needs 13"), "%s", f->missing);
    cr_assert_not_null(strstr(f->missing, "weights 128.48 GiB"), "%s", f->missing);
    cr_assert_not_null(strstr(f->missing, "the cluster has 80.00 GiB"), "%s", f->missing);
    mt_ctx_free(ctx);
}

Test(fit, llama2_70b_on_2_h100) {
    mt_ctx *ctx = mt_ctx_new();
    mt_fit *f = fit_of(ctx, L70, "2xH100");
    /* tp=2: the 2-D tensors halve (64 heads, 8 KV heads, 28672 and the
     * vocabulary 32000 all divide by 2), the norms stay whole:
     * (W - 1D) / 2 + 1D = 68,977,967,104 bytes = 64.24 GiB. */
    const mt_fit_row *r = row_of(f, 2, 1, 1, 1);
    cr_assert(r->fits, "%s", r->reason);
    cr_assert_eq((double)r->stages[0].weight_bytes, (L70_W - L70_1D) / 2 + L70_1D);
    /* KV budget: 4096 tokens x 327,680 / 2 (4 KV heads per rank) = 671,088,640 */
    cr_assert_eq(r->stages[0].kv_bytes, 671088640);
    /* KV room: (72 GiB - weights - activations / 2) / 163,840 tokens */
    double act = ceil((double)f->activation_bytes / 2);
    double want = floor((H100_USABLE - ((L70_W - L70_1D) / 2 + L70_1D) - act) / (L70_KV / 2));
    cr_assert_eq((double)r->kv_tokens, want, "%lld vs %.0f", (long long)r->kv_tokens, want);
    cr_assert_gt(r->kv_tokens, 40000); /* ~7 GiB of room: about 47k tokens */
    cr_assert_eq(r->max_model_len, 4096, "capped by max_position_embeddings");
    cr_assert_str_eq(r->vllm, "vllm serve MODEL --tensor-parallel-size 2 --pipeline-parallel-size 1 --max-model-len 4096");
    /* pp=2: 40 layers each, the embedding on stage 0 and the head on stage 1 */
    const mt_fit_row *p = row_of(f, 1, 2, 1, 1);
    cr_assert(p->fits, "%s", p->reason);
    check_split(p, (int[]){40, 40});
    /* one replica per GPU (dp=2) holds all 128.48 GiB: no */
    cr_assert_not(row_of(f, 1, 1, 1, 2)->fits);
    cr_assert_eq(f->nfit, 2);
    mt_ctx_free(ctx);
}

Test(fit, llama2_70b_on_4_h100_best_is_tp4) {
    mt_ctx *ctx = mt_ctx_new();
    mt_fit *f = fit_of(ctx, L70, "4xH100");
    /* tp=4, tp=2 x pp=2, tp=2 x dp=2, pp=2 x dp=2, pp=4 fit; tp=1 x dp=4 not */
    cr_assert_eq(f->nfit, 5);
    const mt_fit_row *r = &f->rows[0];
    cr_assert(r->tp == 4 && r->pp == 1 && r->dp == 1, "best: tp=%d pp=%d dp=%d", r->tp, r->pp, r->dp);
    /* Its decode step, by hand: memory-bound (2 x 69e9 / 4 FLOPs / (989.4e12 x 0.6)
     * = 58 us of compute against ~13 ms of reads): the weights per rank
     * (W - 1D) / 4 + 1D and the KV of 4096 tokens (327,680 / 4 B each) at
     * 3.35e12 x 0.8 B/s, plus 160 all-reduces (2 per layer) of 8192 x 2 bytes
     * over NVLink: 5 us + 2 x 3/4 x 16384 / (450e9 x 0.8). */
    double wrank = (L70_W - L70_1D) / 4 + L70_1D;
    double mem = (wrank + 4096 * L70_KV / 4) / (3.35e12 * 0.8);
    double comm = 160 * (5e-6 + 1.5 * 16384 / 360e9);
    cr_assert_float_eq(r->decode_s, mem + comm, 1e-9 * (mem + comm), "%.9g vs %.9g", r->decode_s, mem + comm);
    cr_assert_float_eq(r->comm_decode_s, comm, 1e-12);
    cr_assert_float_eq(r->decode_per_token_s, r->decode_s, 0, "batch 1: one token per step");
    /* pipelining does not shorten one token: tp=2 x pp=2 reads half the model twice */
    cr_assert_gt(row_of(f, 2, 2, 1, 1)->decode_s, r->decode_s);
    mt_ctx_free(ctx);
}

Test(fit, deepseek_v3_fp8_on_8_h200) {
    mt_ctx *ctx = mt_ctx_new();
    mt_fit *f = fit_of(ctx, DSV3, "8xH200");
    /* The FP8 checkpoint: 671.03 B parameters, of which the embedding and head
     * (2 x 129280 x 7168 = 1.853 B) stay bf16 and the 1-D norms are few; the
     * rest is one byte each plus a float32 scale per 128 x 128 block:
     * ~ 669.2e9 + 3.71e9 + 0.16e9 = 673.0e9 bytes. */
    cr_assert_float_eq((double)f->weight_bytes, 673.0e9, 0.002 * 673.0e9, "%lld", (long long)f->weight_bytes);
    cr_assert_str_eq(f->compute_dtype, "fp8");
    cr_assert_eq(f->experts, 256);
    cr_assert_eq(f->top_k, 8);
    /* tp=8 (128 heads / 8): every rank an eighth of the weights, the whole MLA
     * latent (70,272 B/token x 4096 = 287,834,112 bytes); H200: 141 GiB, 126.9
     * usable. Room: (126.9 GiB - W/8 - activations/8) / 70,272 B ~ 740k tokens. */
    const mt_fit_row *r = row_of(f, 8, 1, 1, 1);
    cr_assert(r->fits, "%s", r->reason);
    double w8 = (double)f->weight_bytes / 8;
    cr_assert_float_eq((double)r->stages[0].weight_bytes, w8, 4e6, "the 1-D tensors (~2 MB) stay whole");
    cr_assert_eq(r->stages[0].kv_bytes, 287834112);
    double usable = 141 * GiB * 0.9;
    double room = (usable - w8 - (double)f->activation_bytes / 8) / 70272;
    cr_assert_float_eq((double)r->kv_tokens, room, 0.001 * room, "%lld vs %.0f", (long long)r->kv_tokens, room);
    cr_assert_eq(r->max_model_len, 163840, "max_position_embeddings caps it");
    /* tp=4 x dp=2: a replica on 4 GPUs needs W/4 = 157 GiB per rank: no */
    cr_assert_not(row_of(f, 4, 1, 1, 2)->fits);
    /* vLLM's data parallel + expert parallel deployment: tp=1, dp=8, ep=8 -
     * the attention whole on every GPU, the 256 experts 32 per GPU */
    const mt_fit_row *e = row_of(f, 1, 1, 8, 8);
    cr_assert(e->fits, "%s", e->reason);
    cr_assert_not_null(strstr(e->vllm, "--data-parallel-size 8 --enable-expert-parallel"), "%s", e->vllm);
    cr_assert_not_null(strstr(e->sglang, "--tp-size 8 --pp-size 1 --dp-size 8 --enable-dp-attention --ep-size 8"),
                       "%s", e->sglang);
    cr_assert_not_null(strstr(e->megatron, "--expert-model-parallel-size 8"), "%s", e->megatron);
    /* the uneven pipeline in Megatron's flags */
    const mt_fit_row *p = row_of(f, 1, 8, 1, 1);
    cr_assert_not_null(strstr(p->megatron, "--decoder-first-pipeline-num-layers 7 --decoder-last-pipeline-num-layers 6"),
                       "%s", p->megatron);
    /* Expert parallelism inside the node (tp=8, ep=8) holds the same bytes per
     * rank as tp=8 (E/8 whole experts against 1/8 of each) and adds, on each of
     * the 58 MoE layers (61 - first_k_dense_replace 3), a dispatch and a combine
     * all-to-all of one token's 8 routed copies from each rank's eighth:
     * 7168 x 2 bytes x 8 / 8 = 14,336 bytes over 8 ranks, 5 us + 7/8 x 14336 /
     * 360e9 each: 116 x 5.0348 us = 584.0 us more per decode step. */
    const mt_fit_row *t8 = row_of(f, 8, 1, 1, 1), *t8e = row_of(f, 8, 1, 8, 1);
    double a2a = 116 * (5e-6 + 0.875 * 14336 / 360e9);
    cr_assert_float_eq(t8e->decode_s - t8->decode_s, a2a, 1e-9, "%.9g vs %.9g", t8e->decode_s - t8->decode_s, a2a);
    cr_assert_eq(t8e->rank_bytes, t8->rank_bytes);
    /* ranked: every fitting layout before the others, fastest decode first */
    for (int i = 1; i < f->nfit; i++) cr_assert_leq(f->rows[i - 1].decode_per_token_s, f->rows[i].decode_per_token_s);
    mt_ctx_free(ctx);
}

Test(fit, tied_head_copies_the_embedding_on_its_stage) {
    /* Llama-3.2-3B ties lm_head to embed_tokens (128256 x 3072 bf16 =
     * 788,004,864 bytes, stored once). Split over 2 stages the head's stage needs
     * its own copy: the stages hold the checkpoint plus one embedding. On one
     * stage, just the checkpoint. */
    mt_ctx *ctx = mt_ctx_new();
    mt_fit *f = fit_of(ctx, "samples/configs/meta-llama--Llama-3.2-3B.resaved.config.json", "2xH100");
    const mt_fit_row *p = row_of(f, 1, 2, 1, 1);
    cr_assert_eq(p->stages[0].weight_bytes + p->stages[1].weight_bytes, f->weight_bytes + 788004864LL);
    cr_assert_eq(row_of(f, 1, 1, 1, 2)->stages[0].weight_bytes, f->weight_bytes);
    mt_ctx_free(ctx);
}

/* ---- CLI ---------------------------------------------------------------------------- */
Test(fit, cli_json_and_missing) {
    const char *dir = tu_tmpdir();
    char out[512];
    snprintf(out, sizeof out, "%s/fit.json", dir);
    char *so = NULL, *se = NULL;
    const char *argv[] = {tu_src(L70), "--fit", "1xH100", "--all", "-o", out, NULL};
    cr_assert_eq(tu_run_cli(argv, &so, &se), 0, "%s", se);
    json_error_t e;
    json_t *j = json_load_file(out, 0, &e);
    cr_assert_not_null(j, "%s", e.text);
    cr_assert_str_eq(json_string_value(json_object_get(j, "format")), "metatrace-fit");
    cr_assert_eq(json_integer_value(json_object_get(j, "fits")), 0);
    cr_assert_not_null(strstr(json_string_value(json_object_get(j, "missing")), "the cluster has 80.00 GiB"));
    json_t *rows = json_object_get(j, "layouts");
    cr_assert_eq(json_array_size(rows), 1, "--all lists the layout that does not fit");
    json_t *r = json_array_get(rows, 0);
    cr_assert(json_is_false(json_object_get(r, "fits")));
    cr_assert(json_is_null(json_object_get(r, "kv_tokens")), "no capacity for a layout that does not fit: null");
    cr_assert(json_is_null(json_object_get(r, "vllm")));
    json_decref(j);
    free(so);
    free(se);
    /* a bad cluster is a usage error, before any work, nothing written */
    snprintf(out, sizeof out, "%s/none.json", dir);
    const char *bad[] = {tu_src(L70), "--fit", "8xV100", "-o", out, NULL};
    cr_assert_eq(tu_run_cli(bad, &so, &se), 2, "%s", se);
    cr_assert_not_null(strstr(se, "8xV100"), "%s", se);
    cr_assert(access(out, F_OK) != 0);
    free(so);
    free(se);
    /* the table on 2 nodes names the layouts and the engines' flags */
    const char *two[] = {tu_src(L70), "--cluster", "2x8xH100", "--bind", "batch=8,seq=2048", NULL};
    cr_assert_eq(tu_run_cli(two, &so, &se), 0, "%s", se);
    cr_assert_not_null(strstr(so, "on 2x8xH100: 16 x NVIDIA H100"), "%s", so);
    cr_assert_not_null(strstr(so, "batch 8 x seq 2048"), "%s", so);
    cr_assert_not_null(strstr(so, "--tensor-parallel-size 8"), "%s", so);
    free(so);
    free(se);
}

/* ---- micro-batches and the stages' modules --------------------------------------- */
static mt_fit *fit_mb(mt_ctx *ctx, const char *config, const char *cluster, int64_t batch, int mb) {
    mt_model *m = tu_build(ctx, tu_src(config), 0);
    mt_graph *g = tu_trace(m);
    mt_cluster cl;
    cr_assert_eq(mt_cluster_parse(ctx, cluster, &cl), MT_OK, "%s", mt_ctx_errmsg(ctx));
    mt_fit_opts o = {.cluster = &cl, .batch = batch, .microbatches = mb};
    mt_fit *f = mt_fit_run(m, g, &o);
    cr_assert_not_null(f, "%s", mt_ctx_errmsg(ctx));
    return f;
}

Test(fit, llama2_70b_pipeline_microbatches_by_hand) {
    mt_ctx *ctx = mt_ctx_new();
    /* 8 sequences of 4096 tokens over pp=4 (one H100 per stage), 1 or 4 micro-batches */
    mt_fit *f1 = fit_mb(ctx, L70, "4xH100", 8, 1), *f4 = fit_mb(ctx, L70, "4xH100", 8, 4);
    const mt_fit_row *a = row_of(f1, 1, 4, 1, 1), *r = row_of(f4, 1, 4, 1, 1);
    cr_assert(a->fits && r->fits);
    cr_assert_eq(a->microbatches, 1);
    cr_assert_eq(r->microbatches, 4);
    /* one micro-batch: each stage works 1/4 of the step, whatever the balance */
    cr_assert_float_eq(a->prefill_bubble, 0.75, 1e-12);
    cr_assert_float_eq(a->decode_bubble, 0.75, 1e-12);
    /* without stages nothing is split: tp=4 keeps one micro-batch and no bubble */
    cr_assert_eq(row_of(f4, 4, 1, 1, 1)->microbatches, 1);
    cr_assert_eq(row_of(f4, 4, 1, 1, 1)->prefill_bubble, 0);
    /* memory is unchanged but for the activations, one micro-batch (2 of 8
     * sequences) at a time: a quarter */
    for (int s = 0; s < 4; s++) {
        cr_assert_eq(r->stages[s].weight_bytes, a->stages[s].weight_bytes);
        cr_assert_eq(r->stages[s].kv_bytes, a->stages[s].kv_bytes);
        cr_assert_eq(r->stages[s].activation_bytes, (int64_t)ceil((double)f4->activation_bytes * 2 / 8));
    }
    /* A decode step by hand. Each stage of 20 layers is memory-bound (2 tokens x
     * 2 x 17e9 FLOPs / 593.6e12 FLOP/s = 0.11 ms against ~13 ms of reads): it
     * reads its weights and the KV of its micro-batch, 20 layers x 4096 B x 4096
     * tokens x 2 sequences, at 3.35e12 x 0.8 B/s; stages 0-2 then send 2 tokens'
     * hidden states (2 x 8192 x 2 B) over NVLink: 5 us + 32768 / 360e9. The step
     * is the first micro-batch through the four stages plus three more times the
     * slowest stage (GPipe); the bubble is 1 - 4 x (sum of stages) / (4 x step). */
    double t[4], sum = 0, hi = 0;
    for (int s = 0; s < 4; s++) {
        double kv = 20.0 * 4096 * 4096 * 2;
        t[s] = ((double)r->stages[s].weight_bytes + kv) / (3.35e12 * 0.8) + (s < 3 ? 5e-6 + 32768 / 360e9 : 0);
        sum += t[s];
        hi = fmax(hi, t[s]);
    }
    double step = sum + 3 * hi;
    cr_assert_float_eq(r->decode_s, step, 1e-9 * step, "%.12g vs %.12g", r->decode_s, step);
    cr_assert_float_eq(r->decode_bubble, 1 - 4 * sum / (4 * step), 1e-9);
    /* nearly balanced stages (the head is 0.28 of a layer): close to GPipe's (4-1)/(4+4-1) */
    cr_assert(r->decode_bubble >= 3.0 / 7 && r->decode_bubble < 3.0 / 7 + 0.01, "%g", r->decode_bubble);
    cr_assert(r->prefill_bubble >= 3.0 / 7 && r->prefill_bubble < 3.0 / 7 + 0.01, "%g", r->prefill_bubble);
    mt_ctx_free(ctx);
}

Test(fit, stages_list_their_modules_as_torchtitan_splits) {
    mt_ctx *ctx = mt_ctx_new();
    mt_fit *f = fit_mb(ctx, L70, "4xH100", 1, 0);
    /* LlamaForCausalLM: model.embed_tokens, model.layers.0-79, model.norm, lm_head */
    const mt_fit_row *r = row_of(f, 1, 4, 1, 1);
    check_split(r, (int[]){20, 20, 20, 20});
    for (int s = 0; s < 4; s++) {
        const mt_fit_stage *st = &r->stages[s];
        int extra = s == 0 ? 1 : 0, n = 20 + extra + (s == 3 ? 2 : 0);
        cr_assert_eq(st->nmodules, n, "stage %d: %d modules, want %d", s, st->nmodules, n);
        if (s == 0) cr_assert_str_eq(st->modules[0], "model.embed_tokens");
        for (int k = 0; k < 20; k++) {
            char want[32];
            snprintf(want, sizeof want, "model.layers.%d", 20 * s + k);
            cr_assert_str_eq(st->modules[extra + k], want);
        }
        if (s == 3) {
            cr_assert_str_eq(st->modules[20], "model.norm");
            cr_assert_str_eq(st->modules[21], "lm_head");
        }
    }
    mt_ctx_free(ctx);
}

Test(fit, microbatches_must_be_a_count) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build(ctx, tu_src(L70), 0);
    mt_graph *g = tu_trace(m);
    mt_cluster cl;
    cr_assert_eq(mt_cluster_parse(ctx, "4xH100", &cl), MT_OK);
    mt_fit_opts o = {.cluster = &cl, .microbatches = -2};
    cr_assert_null(mt_fit_run(m, g, &o));
    cr_assert_eq(mt_ctx_status(ctx), MT_ERR_USAGE);
    cr_assert_not_null(strstr(mt_ctx_errmsg(ctx), "-2 micro-batches"), "%s", mt_ctx_errmsg(ctx));
    mt_ctx_free(ctx);
}

Test(fit, cli_microbatches) {
    char *so = NULL, *se = NULL;
    /* the pipelines of the table say how they are driven */
    const char *ok[] = {tu_src(L70), "--fit", "4xH100", "--bind", "batch=8", "--microbatches", "4", NULL};
    cr_assert_eq(tu_run_cli(ok, &so, &se), 0, "%s", se);
    cr_assert_not_null(strstr(so, "pipeline: 4 micro-batches per step, stages idle 4"), "%s", so);
    free(so);
    free(se);
    /* only with --fit, and a positive count: usage errors */
    const char *nofit[] = {tu_src(L70), "--microbatches", "4", NULL};
    cr_assert_eq(tu_run_cli(nofit, &so, &se), 2, "%s", se);
    cr_assert_not_null(strstr(se, "give --fit CLUSTER"), "%s", se);
    free(so);
    free(se);
    const char *zero[] = {tu_src(L70), "--fit", "4xH100", "--microbatches", "0", NULL};
    cr_assert_eq(tu_run_cli(zero, &so, &se), 2, "%s", se);
    cr_assert_not_null(strstr(se, "--microbatches: expected a count from 1"), "%s", se);
    free(so);
    free(se);
}

/* A vision-language model's pipeline stages split the decoder's layers (text_config's
 * num_hidden_layers 34 for gemma-3-4b-it); the SigLIP tower (27 layers) runs with the
 * embedding on the first stage. */
Test(fit, vision_tower_runs_on_the_first_stage) {
    mt_ctx *ctx = mt_ctx_new();
    mt_fit *f = fit_of(ctx, "samples/configs/multimodal/google--gemma-3-4b-it.config.json", "2xH100");
    cr_assert_eq(f->layers, 34);
    const mt_fit_row *r = row_of(f, 1, 2, 1, 1);
    cr_assert_eq(r->stages[0].nlayers + r->stages[1].nlayers, 34);
    bool tower0 = false, tower1 = false;
    for (int k = 0; k < r->stages[0].nmodules; k++) tower0 |= strncmp(r->stages[0].modules[k], "vision_tower", 12) == 0;
    for (int k = 0; k < r->stages[1].nmodules; k++) tower1 |= strncmp(r->stages[1].modules[k], "vision_tower", 12) == 0;
    cr_assert(tower0 && !tower1, "the tower on stage 0 only");
    cr_assert_str_eq(r->stages[1].modules[r->stages[1].nmodules - 1], "language_model.lm_head");
    mt_ctx_free(ctx);
}

/* ---- recurrent state (hybrid models) ----------------------------------------------
 * A recurrent mixer holds a fixed state per sequence (the sizing pass's recurrent_state,
 * docs/sizing.md): each rank holds it for its replica's sequences, the conv state split by
 * tp over its channels and the SSM state over its heads, as serving engines shard them with
 * the heads (vLLM's MambaMixer2 / Qwen3-Next allocate conv_dim / tp and heads / tp). */
static mt_fit *fit_text(mt_ctx *ctx, const char *json, int64_t layers, const char *cluster, int64_t batch) {
    mt_model *m = tu_build_text(ctx, json, layers);
    mt_graph *g = tu_trace(m);
    mt_cluster cl;
    cr_assert_eq(mt_cluster_parse(ctx, cluster, &cl), MT_OK, "%s", mt_ctx_errmsg(ctx));
    mt_fit_opts o = {.cluster = &cl, .batch = batch};
    mt_fit *f = mt_fit_run(m, g, &o);
    cr_assert_not_null(f, "%s", mt_ctx_errmsg(ctx));
    return f;
}

/* Tiny qwen3_next (tests/tiny_configs.h, float32): one Gated DeltaNet layer (layer 0) with a
 * conv state [conv_dim 64, kernel 4] = 1,024 B and a recurrent state [4 value heads, 8, 8]
 * float32 = 1,024 B per sequence. At batch 4 on 2 x H100: tp=2 holds 4 sequences of 512 +
 * 512 B = 4,096 B per rank; tp=1 dp=2 holds 2 sequences of 2,048 = 4,096; pp=2 puts the
 * layer on stage 0 (4 x 2,048 = 8,192) and nothing on stage 1. The state adds to each
 * stage's total. */
Test(fit, recurrent_state_per_rank_tiny) {
    mt_ctx *ctx = mt_ctx_new();
    const char *json = NULL;
    for (int i = 0; i < TINY_CONFIG_COUNT; i++)
        if (strcmp(tiny_configs[i].model_type, "qwen3_next") == 0) json = tiny_configs[i].json;
    cr_assert_not_null(json);
    mt_fit *f = fit_text(ctx, json, 0, "2xH100", 4);
    cr_assert_eq(f->state_bytes, 4 * 2048);
    const mt_fit_row *r = row_of(f, 2, 1, 1, 1);
    cr_assert_eq(r->stages[0].state_bytes, 4096);
    r = row_of(f, 1, 1, 1, 2);
    cr_assert_eq(r->stages[0].state_bytes, 4096);
    r = row_of(f, 1, 2, 1, 1);
    cr_assert_eq(r->stages[0].state_bytes, 8192);
    cr_assert_eq(r->stages[1].state_bytes, 0);
    for (int i = 0; i < f->nrows; i++)
        for (int s = 0; s < f->rows[i].nstages; s++) {
            const mt_fit_stage *st = &f->rows[i].stages[s];
            cr_assert_eq(st->total_bytes, st->weight_bytes + st->kv_bytes + st->activation_bytes + st->state_bytes);
        }
    mt_ctx_free(ctx);
}

/* Qwen/Qwen3-Coder-Next's config (as in tests/unit/test_qwen3_next.c) at 4 layers: 3 Gated
 * DeltaNet layers, each with a conv state [conv_dim 8192, kernel 4] in bfloat16 = 65,536 B and a
 * recurrent state [32 value heads, 128, 128] in float32 = 2,097,152 B per sequence (the chunked
 * rule's final state is float32 and the cache keeps it). At batch 2 on 8 x H100, tp=8 holds
 * 3 x 2,162,688 x 2 / 8 = 1,622,016 B per rank, tp=4 dp=2 3 x 2,162,688 x 1 / 4 = 1,622,016 too.
 * The sizing pass names both dtypes: the conv state's (`dtype`) bfloat16, the SSM state's
 * (`ssm_dtype`) float32. */
static const char *CODER_NEXT_4 =
    "{\"architectures\": [\"Qwen3NextForCausalLM\"], \"decoder_sparse_step\": 1, \"dtype\": \"bfloat16\", "
    "\"full_attention_interval\": 4, \"head_dim\": 256, \"hidden_act\": \"silu\", \"hidden_size\": 2048, "
    "\"intermediate_size\": 5120, \"linear_conv_kernel_dim\": 4, \"linear_key_head_dim\": 128, "
    "\"linear_num_key_heads\": 16, \"linear_num_value_heads\": 32, \"linear_value_head_dim\": 128, "
    "\"max_position_embeddings\": 262144, \"mlp_only_layers\": [], \"model_type\": \"qwen3_next\", "
    "\"moe_intermediate_size\": 512, \"norm_topk_prob\": true, \"num_attention_heads\": 16, \"num_experts\": 512, "
    "\"num_experts_per_tok\": 10, \"num_hidden_layers\": 48, \"num_key_value_heads\": 2, "
    "\"partial_rotary_factor\": 0.25, \"rms_norm_eps\": 1e-06, \"rope_theta\": 5000000, "
    "\"shared_expert_intermediate_size\": 512, \"tie_word_embeddings\": false, \"vocab_size\": 151936}";

Test(fit, recurrent_state_per_rank_qwen3_coder_next) {
    mt_ctx *ctx = mt_ctx_new();
    mt_fit *f = fit_text(ctx, CODER_NEXT_4, 4, "8xH100", 2);
    cr_assert_eq(f->state_bytes, 3LL * 2162688 * 2);
    cr_assert_eq(row_of(f, 8, 1, 1, 1)->stages[0].state_bytes, 1622016);
    cr_assert_eq(row_of(f, 4, 1, 1, 2)->stages[0].state_bytes, 1622016);
    mt_model *m = tu_build_text(ctx, CODER_NEXT_4, 4);
    mt_graph *g = tu_trace(m);
    mt_sizing sz;
    cr_assert_eq(mt_model_sizing(m, g, NULL, &sz), MT_OK, "%s", mt_ctx_errmsg(ctx));
    cr_assert_eq(sz.state_layers, 3);
    cr_assert_eq(sz.state_dtype, MT_BFLOAT16);
    cr_assert_eq(sz.state_ssm_dtype, MT_FLOAT32);
    cr_assert_eq(sz.conv_state_bytes, 3 * 65536);
    cr_assert_eq(sz.ssm_state_bytes, 3 * 2097152);
    mt_ctx_free(ctx);
}
