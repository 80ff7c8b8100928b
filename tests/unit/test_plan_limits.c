/* The divisibility limits a tensor-parallel degree must satisfy, read off the
 * traced graph (src/plan/constraints.c): for every shipped config at 1, 2, 4, 8
 * and at least one invalid degree, the exact reason and note of mt_plan_run
 * and mt_plan_auto, and the per-rank bytes identity at every valid degree.
 *
 * Expected values are worked out by hand from the config JSON (the numbers
 * in each row's comment): H attention heads, K KV heads, I the MLP width
 * entering the activation, V the vocabulary. A limit is named by the config
 * field holding its value, else described from the graph. Rules: H % tp and
 * I % tp are reasons; K % tp is a reason unless tp % K == 0 and H % tp == 0
 * (KV replication x tp/K, a note); K == H (MHA, MLA after decompression) is
 * reported through H only; V % tp is a note (embeddings stay replicated).
 * Reasons list heads, then KV, then MLP limits; notes KV, then vocabulary. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "testutil.h"

typedef struct row {
    int tp;
    bool valid;
    int kvrep;
    const char *reason; /* NULL: none */
    const char *note;   /* NULL: none */
} row;

#define MAX_ROWS 8
typedef struct limits_case {
    const char *config; /* samples/configs/... or NULL with json */
    const char *json;
    int layers;
    row rows[MAX_ROWS];
} limits_case;

#define VOCAB(v, tp)                                                                                              \
    "vocab_size=" #v " not divisible by " #tp ": embedding and lm_head stay replicated (pad the vocabulary to " \
    "shard them)"
#define NO_KV_REPL(f, k, tp) f "=" #k " not divisible by " #tp ", and " #tp " is not a multiple of it (no KV replication possible)"
#define KV_REPL(f, k, tp, r) \
    f "=" #k " not divisible by " #tp "; would need KV replication x" #r " (each KV head on " #r " ranks)"

/* per rank x ranks = total + (ranks - 1) x replicated + KV replication extra */
static void check_bytes(const mt_plan *p, const mt_model *m, const char *what) {
    mt_totals t;
    cr_assert_eq(mt_model_totals(m, &t), MT_OK);
    cr_assert_eq(p->mem.total_param_bytes, t.param_bytes, "%s tp=%d", what, p->tp);
    int64_t repl = 0, kvx = 0, sum = 0;
    for (int i = 0; i < p->nparams; i++) {
        const mt_plan_param *pp = &p->params[i];
        sum += pp->local_bytes;
        if (pp->shard_dim < 0) repl += pp->bytes;
        else if (pp->ways < p->tp) kvx += pp->bytes * (p->tp / pp->ways - 1);
    }
    cr_assert_eq(sum, p->mem.param_bytes, "%s tp=%d", what, p->tp);
    cr_assert_eq(p->mem.param_bytes * p->tp, t.param_bytes + (p->tp - 1) * repl + kvx, "%s tp=%d", what, p->tp);
    cr_assert_eq(p->mem.kv_replicated_bytes, kvx, "%s tp=%d", what, p->tp);
}

static void expect_str(const char *got, const char *want, const char *what, int tp, const char *field) {
    if (!want) {
        cr_assert_null(got, "%s tp=%d: unexpected %s: %s", what, tp, field, got);
        return;
    }
    cr_assert_not_null(got, "%s tp=%d: no %s, want: %s", what, tp, field, want);
    cr_assert_str_eq(got, want, "%s tp=%d %s", what, tp, field);
}

static void check_case(const limits_case *c) {
    mt_ctx *ctx = mt_ctx_new();
    const char *what = c->config ? c->config : c->json;
    mt_model *m = c->config ? tu_build(ctx, tu_src(c->config), c->layers) : tu_build_text(ctx, c->json, c->layers);
    mt_graph *g = tu_trace(m);
    mt_plan_degree deg[64];
    cr_assert_eq(mt_plan_auto(m, g, NULL, 64, deg), MT_OK, "%s: %s", what, mt_ctx_errmsg(ctx));
    for (int r = 0; r < MAX_ROWS && c->rows[r].tp; r++) {
        const row *w = &c->rows[r];
        mt_plan_opts o = {.tp = w->tp, .style = MT_PLAN_OURS, .search = MT_SEARCH_BEST, .batch = 1, .seq = 4096};
        mt_plan *p = mt_plan_run(m, g, &o);
        cr_assert_not_null(p, "%s tp=%d: %s", what, w->tp, mt_ctx_errmsg(ctx));
        cr_assert_eq(p->valid, w->valid, "%s tp=%d: valid=%d (%s)", what, w->tp, p->valid, p->reason);
        expect_str(p->reason, w->reason, what, w->tp, "reason");
        expect_str(p->note, w->note, what, w->tp, "note");
        cr_assert_eq(p->kv_replication, w->kvrep, "%s tp=%d", what, w->tp);
        if (p->valid) check_bytes(p, m, what);
        if (w->tp <= 64) { /* mt_plan_auto agrees: the reason, or the note of a valid degree */
            const mt_plan_degree *d = &deg[w->tp - 1];
            cr_assert_eq(d->valid, w->valid, "%s auto tp=%d", what, w->tp);
            expect_str(d->reason, w->valid ? w->note : w->reason, what, w->tp, "auto reason");
            cr_assert_eq(d->kv_replication, w->kvrep, "%s auto tp=%d", what, w->tp);
        }
    }
    mt_ctx_free(ctx);
}

/* ---- the shipped configs (samples/configs) ---------------------------------- */

/* gemma-2-2b: num_attention_heads 8, num_key_value_heads 4, intermediate_size 9216,
 * vocab_size 256000 (tied). */
static const limits_case GEMMA2 = {"samples/configs/Ayush2006128--mithoon-2b.gemma-2-2b-finetune.config.json", NULL, 2, {
    {1, true, 1, NULL, NULL},
    /* 8/2, 4/2, 9216/2 = 4608, 256000/2 */
    {2, true, 1, NULL, NULL},
    /* 8/4, 4/4, 9216/4 = 2304, 256000/4 = 64000 */
    {4, true, 1, NULL, NULL},
    /* 8/8; 4 % 8 != 0 but 8 % 4 == 0 and 8/8: KV x2; 9216/8 = 1152; 256000/8 = 32000 */
    {8, true, 2, NULL, KV_REPL("num_key_value_heads", 4, 8, 2)},
    /* 8 % 3 = 2; 4 % 3 = 1 and 3 % 4 != 0; 9216 = 3 * 3072; 256000: digit sum 13 */
    {3, false, 1, "num_attention_heads=8 not divisible by 3; " NO_KV_REPL("num_key_value_heads", 4, 3), VOCAB(256000, 3)},
    /* 8 % 16 = 8 (16 % 4 == 0: the heads say it); 9216/16 = 576; 256000/16 = 16000 */
    {16, false, 1, "num_attention_heads=8 not divisible by 16", NULL}}};

/* GPT-J 6B: n_head 16 (MHA), n_inner null -> MLP 4 * n_embd = 16384 (no field holds it),
 * vocab_size 50400. */
#define GPTJ_MLP "MLP width=16384 (output of transformer.h.0.mlp.fc_in into the activation)"
static const limits_case GPTJ = {"samples/configs/EleutherAI--gpt-j-6b.config.json", NULL, 2, {
    {1, true, 1, NULL, NULL},
    /* 16/2, 16384/2, 50400/2 = 25200 */
    {2, true, 1, NULL, NULL},
    /* 16/4, 16384/4, 50400/4 = 12600 */
    {4, true, 1, NULL, NULL},
    /* 16/8, 16384/8 = 2048, 50400/8 = 6300 */
    {8, true, 1, NULL, NULL},
    /* 16 % 3 = 1; 16384: digit sum 22; 50400: digit sum 9 */
    {3, false, 1, "n_head=16 not divisible by 3; " GPTJ_MLP " not divisible by 3", NULL},
    /* 16 % 32 = 16; 16384/32 = 512; 50400/32 = 1575 */
    {32, false, 1, "n_head=16 not divisible by 32", NULL}}};

/* Qwen3-Coder-30B-A3B: num_attention_heads 32, num_key_value_heads 4; every layer sparse
 * (decoder_sparse_step 1, mlp_only_layers []), so the MLP width is the experts'
 * moe_intermediate_size 768 (intermediate_size 5472 is never traced); vocab_size 151936. */
static const limits_case QWEN3_MOE = {"samples/configs/Qwen--Qwen3-Coder-30B-A3B-Instruct.config.json", NULL, 2, {
    {1, true, 1, NULL, NULL},
    /* 32/2, 4/2, 768/2, 151936/2 */
    {2, true, 1, NULL, NULL},
    /* 32/4, 4/4, 768/4 = 192, 151936/4 = 37984 */
    {4, true, 1, NULL, NULL},
    /* 32/8; 4 % 8 != 0, 8 % 4 == 0, 32/8: KV x2; 768/8 = 96; 151936/8 = 18992 */
    {8, true, 2, NULL, KV_REPL("num_key_value_heads", 4, 8, 2)},
    /* 32 % 3 = 2; 4 % 3 = 1, 3 % 4 != 0; 768 = 3 * 256; 151936: digit sum 25 */
    {3, false, 1, "num_attention_heads=32 not divisible by 3; " NO_KV_REPL("num_key_value_heads", 4, 3), VOCAB(151936, 3)},
    /* 32 % 5 = 2; 4 % 5, 5 % 4 != 0; 768 % 5 = 3; 151936 % 5 = 1 */
    {5, false, 1,
     "num_attention_heads=32 not divisible by 5; " NO_KV_REPL("num_key_value_heads", 4, 5) "; moe_intermediate_size=768 "
     "not divisible by 5",
     VOCAB(151936, 5)},
    /* 32 % 64; 768/64 = 12; 151936/64 = 2374 */
    {64, false, 1, "num_attention_heads=32 not divisible by 64", NULL}}};

/* SeaLLMs-v3-7B (Qwen2-7B shape): num_attention_heads 28, num_key_value_heads 4,
 * intermediate_size 18944, vocab_size 152064. */
static const limits_case QWEN2 = {"samples/configs/SeaLLMs--SeaLLMs-v3-7B-Chat.config.json", NULL, 2, {
    {1, true, 1, NULL, NULL},
    /* 28/2, 4/2, 18944/2, 152064/2 */
    {2, true, 1, NULL, NULL},
    /* 28/4 = 7, 4/4, 18944/4 = 4736, 152064/4 = 38016 */
    {4, true, 1, NULL, NULL},
    /* 28 % 8 = 4 (8 % 4 == 0: the heads say it); 18944/8 = 2368; 152064/8 = 19008 */
    {8, false, 1, "num_attention_heads=28 not divisible by 8", NULL},
    /* 28 % 3 = 1; 4 % 3, 3 % 4; 18944: digit sum 26; 152064: digit sum 18 */
    {3, false, 1,
     "num_attention_heads=28 not divisible by 3; " NO_KV_REPL("num_key_value_heads", 4, 3) "; intermediate_size=18944 "
     "not divisible by 3",
     NULL},
    /* 28/7 = 4 but 4 % 7, 7 % 4 != 0; 18944 = 7 * 2706 + 2; 152064 = 7 * 21723 + 3 */
    {7, false, 1, NO_KV_REPL("num_key_value_heads", 4, 7) "; intermediate_size=18944 not divisible by 7",
     VOCAB(152064, 7)}}};

/* bloom-560m: n_head 16 (eager attention, heads folded into the batch), n_inner null ->
 * MLP 4 * hidden_size 1024 = 4096 (no field), vocab_size 250880. */
#define BLOOM_MLP "MLP width=4096 (output of transformer.h.0.mlp.dense_h_to_4h into the activation)"
static const limits_case BLOOM = {"samples/configs/bigscience--bloom-560m.config.json", NULL, 2, {
    {1, true, 1, NULL, NULL},
    /* 16/2, 4096/2, 250880/2 */
    {2, true, 1, NULL, NULL},
    /* 16/4, 4096/4, 250880/4 = 62720 */
    {4, true, 1, NULL, NULL},
    /* 16/8, 4096/8, 250880/8 = 31360 */
    {8, true, 1, NULL, NULL},
    /* 16 % 3 = 1; 4096 % 3 = 1; 250880: digit sum 23 */
    {3, false, 1, "n_head=16 not divisible by 3; " BLOOM_MLP " not divisible by 3", VOCAB(250880, 3)},
    /* 16 % 32; 4096/32 = 128; 250880/32 = 7840 */
    {32, false, 1, "n_head=16 not divisible by 32", NULL}}};

/* DeepSeek-V3 (4 layers: first_k_dense_replace 3 dense, one MoE): num_attention_heads 128
 * with MLA (as many KV heads after decompression: heads only), dense intermediate_size
 * 18432, experts and the one shared expert moe_intermediate_size 2048, vocab_size 129280. */
static const limits_case DEEPSEEK_V3 = {"samples/configs/deepseek-ai--DeepSeek-V3.config.json", NULL, 4, {
    {1, true, 1, NULL, NULL},
    /* 128/2, 18432/2, 2048/2, 129280/2 */
    {2, true, 1, NULL, NULL},
    /* 128/4, 18432/4, 2048/4, 129280/4 = 32320 */
    {4, true, 1, NULL, NULL},
    /* 128/8, 18432/8 = 2304, 2048/8, 129280/8 = 16160 */
    {8, true, 1, NULL, NULL},
    /* 128 % 3 = 2; 18432 = 2^11 * 9; 2048 % 3 = 2; 129280: digit sum 22 */
    {3, false, 1, "num_attention_heads=128 not divisible by 3; moe_intermediate_size=2048 not divisible by 3",
     VOCAB(129280, 3)},
    /* 128 % 5; 18432 % 5 = 2; 2048 % 5 = 3; 129280/5 = 25856 */
    {5, false, 1,
     "num_attention_heads=128 not divisible by 5; intermediate_size=18432 not divisible by 5; "
     "moe_intermediate_size=2048 not divisible by 5",
     NULL}}};

/* OPT-1.3b: num_attention_heads 32 (config only), ffn_dim 8192, vocab_size 50272. */
static const limits_case OPT = {"samples/configs/facebook--opt-1.3b.config.json", NULL, 2, {
    {1, true, 1, NULL, NULL},
    /* 32/2, 8192/2, 50272/2 */
    {2, true, 1, NULL, NULL},
    /* 32/4, 8192/4, 50272/4 = 12568 */
    {4, true, 1, NULL, NULL},
    /* 32/8, 8192/8, 50272/8 = 6284 */
    {8, true, 1, NULL, NULL},
    /* 32 % 3; 8192 % 3 = 2; 50272: digit sum 16 */
    {3, false, 1, "num_attention_heads=32 not divisible by 3; ffn_dim=8192 not divisible by 3", VOCAB(50272, 3)},
    /* 32 % 64; 8192/64 = 128; 50272/64 = 785.5 */
    {64, false, 1, "num_attention_heads=32 not divisible by 64", VOCAB(50272, 64)}}};

/* bert-base-uncased: num_attention_heads 12, intermediate_size 3072, vocab_size 30522
 * (= 2 * 3 * 5087). */
static const limits_case BERT = {"samples/configs/google-bert--bert-base-uncased.config.json", NULL, 2, {
    {1, true, 1, NULL, NULL},
    /* 12/2, 3072/2, 30522/2 = 15261 */
    {2, true, 1, NULL, NULL},
    /* 12/3, 3072/3 = 1024, 30522/3 = 10174 */
    {3, true, 1, NULL, NULL},
    /* 12/4, 3072/4; 30522 % 4 = 2 */
    {4, true, 1, NULL, VOCAB(30522, 4)},
    /* 12 % 8 = 4; 3072/8 = 384; 30522 % 8 = 2 */
    {8, false, 1, "num_attention_heads=12 not divisible by 8", VOCAB(30522, 8)},
    /* 12 % 5 = 2; 3072 % 5 = 2; 30522 % 5 = 2 */
    {5, false, 1, "num_attention_heads=12 not divisible by 5; intermediate_size=3072 not divisible by 5",
     VOCAB(30522, 5)}}};

/* llama-7b: num_attention_heads 32 (num_key_value_heads defaults to 32: MHA),
 * intermediate_size 11008 (= 2^8 * 43), vocab_size 32000. */
static const limits_case LLAMA7B = {"samples/configs/huggyllama--llama-7b.config.json", NULL, 2, {
    {1, true, 1, NULL, NULL},
    /* 32/2, 11008/2, 32000/2 */
    {2, true, 1, NULL, NULL},
    /* 32/4, 11008/4, 32000/4 */
    {4, true, 1, NULL, NULL},
    /* 32/8, 11008/8 = 1376, 32000/8 = 4000 */
    {8, true, 1, NULL, NULL},
    /* 32 % 3; 11008: digit sum 10; 32000: digit sum 5 */
    {3, false, 1, "num_attention_heads=32 not divisible by 3; intermediate_size=11008 not divisible by 3",
     VOCAB(32000, 3)},
    /* 32 % 64; 11008/64 = 172; 32000/64 = 500 */
    {64, false, 1, "num_attention_heads=32 not divisible by 64", NULL}}};

/* granite-3b-code-instruct-128k: num_attention_heads 32, num_key_value_heads 32,
 * intermediate_size 10240, vocab_size 49152 (tied). */
static const limits_case GRANITE = {"samples/configs/ibm-granite--granite-3b-code-instruct-128k.config.json", NULL, 2, {
    {1, true, 1, NULL, NULL},
    /* 32/2, 10240/2, 49152/2 */
    {2, true, 1, NULL, NULL},
    /* 32/4, 10240/4, 49152/4 */
    {4, true, 1, NULL, NULL},
    /* 32/8, 10240/8 = 1280, 49152/8 = 6144 */
    {8, true, 1, NULL, NULL},
    /* 32 % 3; 10240: digit sum 7; 49152: digit sum 21 */
    {3, false, 1, "num_attention_heads=32 not divisible by 3; intermediate_size=10240 not divisible by 3", NULL},
    /* 32 % 64; 10240/64 = 160; 49152/64 = 768 */
    {64, false, 1, "num_attention_heads=32 not divisible by 64", NULL}}};

/* Llama-3.2-3B: num_attention_heads 24, num_key_value_heads 8, intermediate_size 8192,
 * vocab_size 128256 (tied). */
static const limits_case LLAMA32 = {"samples/configs/meta-llama--Llama-3.2-3B.resaved.config.json", NULL, 2, {
    {1, true, 1, NULL, NULL},
    /* 24/2, 8/2, 8192/2, 128256/2 */
    {2, true, 1, NULL, NULL},
    /* 24/4, 8/4, 8192/4, 128256/4 */
    {4, true, 1, NULL, NULL},
    /* 24/8, 8/8, 8192/8, 128256/8 = 16032 */
    {8, true, 1, NULL, NULL},
    /* 24/3 = 8; 8 % 3 = 2, 3 % 8 != 0; 8192 % 3 = 2; 128256: digit sum 24 */
    {3, false, 1, NO_KV_REPL("num_key_value_heads", 8, 3) "; intermediate_size=8192 not divisible by 3", NULL},
    /* 24 % 16 = 8 (16 % 8 == 0: the heads say it); 8192/16; 128256/16 = 8016 */
    {16, false, 1, "num_attention_heads=24 not divisible by 16", NULL}}};

/* Phi-3-mini-128k: num_attention_heads 32, num_key_value_heads 32, intermediate_size 8192
 * (a chunk of the fused gate_up_proj 16384), vocab_size 32064. */
static const limits_case PHI3 = {"samples/configs/microsoft--Phi-3-mini-128k-instruct.config.json", NULL, 2, {
    {1, true, 1, NULL, NULL},
    /* 32/2, 8192/2, 32064/2 */
    {2, true, 1, NULL, NULL},
    /* 32/4, 8192/4, 32064/4 */
    {4, true, 1, NULL, NULL},
    /* 32/8, 8192/8, 32064/8 = 4008 */
    {8, true, 1, NULL, NULL},
    /* 32 % 3; 8192 % 3 = 2; 32064: digit sum 15 */
    {3, false, 1, "num_attention_heads=32 not divisible by 3; intermediate_size=8192 not divisible by 3", NULL},
    /* 32 % 64; 8192/64; 32064/64 = 501 */
    {64, false, 1, "num_attention_heads=32 not divisible by 64", NULL}}};

/* Mistral-7B: num_attention_heads 32, num_key_value_heads 8, intermediate_size 14336,
 * vocab_size 32000. */
static const limits_case MISTRAL = {"samples/configs/mistralai--Mistral-7B-v0.1.config.json", NULL, 2, {
    {1, true, 1, NULL, NULL},
    /* 32/2, 8/2, 14336/2, 32000/2 */
    {2, true, 1, NULL, NULL},
    /* 32/4, 8/4, 14336/4, 32000/4 */
    {4, true, 1, NULL, NULL},
    /* 32/8, 8/8, 14336/8 = 1792, 32000/8 */
    {8, true, 1, NULL, NULL},
    /* 32/16; 8 % 16 != 0, 16 % 8 == 0: KV x2; 14336/16 = 896; 32000/16 = 2000 */
    {16, true, 2, NULL, KV_REPL("num_key_value_heads", 8, 16, 2)},
    /* 32 % 3; 8 % 3, 3 % 8; 14336: digit sum 17; 32000: digit sum 5 */
    {3, false, 1,
     "num_attention_heads=32 not divisible by 3; " NO_KV_REPL("num_key_value_heads", 8, 3) "; intermediate_size=14336 "
     "not divisible by 3",
     VOCAB(32000, 3)},
    /* 32 % 64 (64 % 8 == 0: the heads say it); 14336/64 = 224; 32000/64 = 500 */
    {64, false, 1, "num_attention_heads=32 not divisible by 64", NULL}}};

/* Mixtral-8x7B: as Mistral (the experts' w1/w3 are intermediate_size 14336 wide). */
static const limits_case MIXTRAL = {"samples/configs/mistralai--Mixtral-8x7B-v0.1.config.json", NULL, 2, {
    {1, true, 1, NULL, NULL},
    /* 32/2, 8/2, 14336/2, 32000/2 */
    {2, true, 1, NULL, NULL},
    /* 32/4, 8/4, 14336/4, 32000/4 */
    {4, true, 1, NULL, NULL},
    /* 32/8, 8/8, 14336/8, 32000/8 */
    {8, true, 1, NULL, NULL},
    /* 32/16; 16 % 8 == 0: KV x2; 14336/16; 32000/16 */
    {16, true, 2, NULL, KV_REPL("num_key_value_heads", 8, 16, 2)},
    /* 32 % 3; 8 % 3, 3 % 8; 14336 % 3 = 2; 32000 % 3 = 2 */
    {3, false, 1,
     "num_attention_heads=32 not divisible by 3; " NO_KV_REPL("num_key_value_heads", 8, 3) "; intermediate_size=14336 "
     "not divisible by 3",
     VOCAB(32000, 3)}}};

/* gpt2-large: n_head 20, MLP 4 * n_embd 1280 = 5120 (n_inner absent: no field),
 * vocab_size 50257 (odd: never shardable). */
#define GPT2_MLP "MLP width=5120 (output of transformer.h.0.mlp.c_fc into the activation)"
static const limits_case GPT2 = {"samples/configs/openai-community--gpt2-large.config.json", NULL, 2, {
    {1, true, 1, NULL, NULL},
    /* 20/2, 5120/2; 50257 odd */
    {2, true, 1, NULL, VOCAB(50257, 2)},
    /* 20/4 = 5, 5120/4; 50257 odd */
    {4, true, 1, NULL, VOCAB(50257, 4)},
    /* 20/5, 5120/5 = 1024; 50257 % 5 = 2 */
    {5, true, 1, NULL, VOCAB(50257, 5)},
    /* 20 % 8 = 4; 5120/8 = 640; 50257 odd */
    {8, false, 1, "n_head=20 not divisible by 8", VOCAB(50257, 8)},
    /* 20 % 3 = 2; 5120: digit sum 8; 50257: digit sum 19 */
    {3, false, 1, "n_head=20 not divisible by 3; " GPT2_MLP " not divisible by 3", VOCAB(50257, 3)}}};

/* stable-code-3b: num_attention_heads 32, num_key_value_heads 32, intermediate_size 6912
 * (= 2^8 * 27), vocab_size 50304. */
static const limits_case STABLECODE = {"samples/configs/stabilityai--stable-code-3b.config.json", NULL, 2, {
    {1, true, 1, NULL, NULL},
    /* 32/2, 6912/2, 50304/2 */
    {2, true, 1, NULL, NULL},
    /* 32/4, 6912/4, 50304/4 */
    {4, true, 1, NULL, NULL},
    /* 32/8, 6912/8 = 864, 50304/8 = 6288 */
    {8, true, 1, NULL, NULL},
    /* 32 % 3; 6912 = 3 * 2304; 50304: digit sum 12 */
    {3, false, 1, "num_attention_heads=32 not divisible by 3", NULL},
    /* 32 % 5; 6912 % 5 = 2; 50304 % 5 = 4 */
    {5, false, 1, "num_attention_heads=32 not divisible by 5; intermediate_size=6912 not divisible by 5",
     VOCAB(50304, 5)}}};

/* falcon-7b: n_head 71 (resolved num_attention_heads), multi_query -> 1 KV head
 * (resolved num_kv_heads), MLP 4 * hidden_size 4544 = 18176 (no field), vocab_size 65024.
 * Only 1 and 71 divide 71. */
#define FALCON_MLP "MLP width=18176 (output of transformer.h.0.mlp.dense_h_to_4h into the activation)"
static const limits_case FALCON = {"samples/configs/tiiuae--falcon-7b.config.json", NULL, 2, {
    {1, true, 1, NULL, NULL},
    /* 71 % 2 = 1 (the single KV head needs nothing more); 18176/2; 65024/2 */
    {2, false, 1, "num_attention_heads=71 not divisible by 2", NULL},
    /* 71 % 4 = 3; 18176/4; 65024/4 */
    {4, false, 1, "num_attention_heads=71 not divisible by 4", NULL},
    /* 71 % 8 = 7; 18176/8 = 2272; 65024/8 = 8128 */
    {8, false, 1, "num_attention_heads=71 not divisible by 8", NULL},
    /* 71 % 3 = 2; 18176: digit sum 23; 65024: digit sum 17 */
    {3, false, 1, "num_attention_heads=71 not divisible by 3; " FALCON_MLP " not divisible by 3", VOCAB(65024, 3)},
    /* 71/71; one KV head: every rank holds it (x71); 18176/71 = 256; 65024 = 71 * 915 + 59 */
    {71, true, 71, NULL,
     "num_kv_heads=1 not divisible by 71; multi-query: each rank holds the single KV head (KV replication x71); " VOCAB(
         65024, 71)}}};

/* RedPajama-INCITE-7B (gpt_neox): num_attention_heads 32 (config only; fused per-head
 * query_key_value viewed [.., 32, 3 * 128]), intermediate_size 16384, vocab_size 50432. */
static const limits_case REDPAJAMA = {"samples/configs/togethercomputer--RedPajama-INCITE-7B-Base.config.json", NULL, 2, {
    {1, true, 1, NULL, NULL},
    /* 32/2, 16384/2, 50432/2 */
    {2, true, 1, NULL, NULL},
    /* 32/4, 16384/4, 50432/4 */
    {4, true, 1, NULL, NULL},
    /* 32/8, 16384/8, 50432/8 = 6304 */
    {8, true, 1, NULL, NULL},
    /* 32 % 3; 16384: digit sum 22; 50432: digit sum 14 */
    {3, false, 1, "num_attention_heads=32 not divisible by 3; intermediate_size=16384 not divisible by 3",
     VOCAB(50432, 3)},
    /* 32 % 64; 16384/64 = 256; 50432/64 = 788 */
    {64, false, 1, "num_attention_heads=32 not divisible by 64", NULL}}};

Test(plan_limits, gemma2) { check_case(&GEMMA2); }
Test(plan_limits, gptj) { check_case(&GPTJ); }
Test(plan_limits, qwen3_moe) { check_case(&QWEN3_MOE); }
Test(plan_limits, qwen2) { check_case(&QWEN2); }
Test(plan_limits, bloom) { check_case(&BLOOM); }
Test(plan_limits, deepseek_v3) { check_case(&DEEPSEEK_V3); }
Test(plan_limits, opt) { check_case(&OPT); }
Test(plan_limits, bert) { check_case(&BERT); }
Test(plan_limits, llama_7b) { check_case(&LLAMA7B); }
Test(plan_limits, granite_code) { check_case(&GRANITE); }
Test(plan_limits, llama_3_2) { check_case(&LLAMA32); }
Test(plan_limits, phi3) { check_case(&PHI3); }
Test(plan_limits, mistral) { check_case(&MISTRAL); }
Test(plan_limits, mixtral) { check_case(&MIXTRAL); }
Test(plan_limits, gpt2_large) { check_case(&GPT2); }
Test(plan_limits, stable_code) { check_case(&STABLECODE); }
Test(plan_limits, falcon_7b) { check_case(&FALCON); }
Test(plan_limits, redpajama) { check_case(&REDPAJAMA); }

/* SmolLM3-3B: num_attention_heads 16, num_key_value_heads 4, intermediate_size 11008,
 * vocab_size 128256 (tied). NoPE layers change no projection. */
static const limits_case SMOLLM3 = {"samples/configs/HuggingFaceTB--SmolLM3-3B.config.json", NULL, 4, {
    {1, true, 1, NULL, NULL},
    /* 16/2, 4/2, 11008/2 = 5504, 128256/2 */
    {2, true, 1, NULL, NULL},
    /* 16/4, 4/4, 11008/4 = 2752, 128256/4 = 32064 */
    {4, true, 1, NULL, NULL},
    /* 16/8; 4 % 8 != 0, 8 % 4 == 0, 16/8: KV x2; 11008/8 = 1376; 128256/8 = 16032 */
    {8, true, 2, NULL, KV_REPL("num_key_value_heads", 4, 8, 2)},
    /* 16/16; 16 % 4 == 0: KV x4; 11008/16 = 688; 128256/16 = 8016 */
    {16, true, 4, NULL, KV_REPL("num_key_value_heads", 4, 16, 4)},
    /* 16 % 3 = 1; 4 % 3 = 1, 3 % 4 != 0; 11008: digit sum 10; 128256: digit sum 24 */
    {3, false, 1, "num_attention_heads=16 not divisible by 3; " NO_KV_REPL("num_key_value_heads", 4, 3)
     "; intermediate_size=11008 not divisible by 3", NULL},
    /* 16 % 32 = 16 (32 % 4 == 0: the heads say it); 11008/32 = 344; 128256/32 = 4008 */
    {32, false, 1, "num_attention_heads=16 not divisible by 32", NULL}}};
Test(plan_limits, smollm3) { check_case(&SMOLLM3); }

/* OLMoE-1B-7B-0125-Instruct: num_attention_heads 16 = num_key_value_heads (MHA), 64 experts of
 * intermediate_size 1024, vocab_size 50304 (untied). */
static const limits_case OLMOE = {"samples/configs/allenai--OLMoE-1B-7B-0125-Instruct.config.json", NULL, 2, {
    {1, true, 1, NULL, NULL},
    /* 16/2, 1024/2, 50304/2 = 25152 */
    {2, true, 1, NULL, NULL},
    /* 16/4, 1024/4, 50304/4 = 12576 */
    {4, true, 1, NULL, NULL},
    /* 16/8, 1024/8, 50304/8 = 6288 */
    {8, true, 1, NULL, NULL},
    /* 16/16, 1024/16 = 64, 50304/16 = 3144 */
    {16, true, 1, NULL, NULL},
    /* 16 % 3 = 1; 1024 % 3 = 1; 50304: digit sum 12 */
    {3, false, 1, "num_attention_heads=16 not divisible by 3; intermediate_size=1024 not divisible by 3", NULL},
    /* 16 % 32 = 16; 1024/32 = 32; 50304/32 = 1572 */
    {32, false, 1, "num_attention_heads=16 not divisible by 32", NULL}}};
Test(plan_limits, olmoe) { check_case(&OLMOE); }

/* Hunyuan-A13B (remote-code model_type hunyuan): num_attention_heads 32, num_key_value_heads 8, experts and
 * shared MLP of intermediate_size 3072, vocab_size 128167 (odd: never shards; tied). */
static const limits_case HUNYUAN = {"samples/configs/tencent--Hunyuan-A13B-Instruct.config.json", NULL, 2, {
    {1, true, 1, NULL, NULL},
    /* 32/2, 8/2, 3072/2; 128167 is odd */
    {2, true, 1, NULL, VOCAB(128167, 2)},
    /* 32/4, 8/4, 3072/4 = 768 */
    {4, true, 1, NULL, VOCAB(128167, 4)},
    /* 32/8, 8/8, 3072/8 = 384 */
    {8, true, 1, NULL, VOCAB(128167, 8)},
    /* 32/16; 8 % 16 != 0, 16 % 8 == 0, 32/16: KV x2; 3072/16 = 192 */
    {16, true, 2, NULL, KV_REPL("num_key_value_heads", 8, 16, 2) "; " VOCAB(128167, 16)},
    /* 32 % 3 = 2; 8 % 3 = 2, 3 % 8 != 0; 3072 = 3 * 1024; 128167: digit sum 25 */
    {3, false, 1, "num_attention_heads=32 not divisible by 3; " NO_KV_REPL("num_key_value_heads", 8, 3),
     VOCAB(128167, 3)},
    /* 32 % 64 = 32 (64 % 8 == 0: the heads say it); 3072/64 = 48 */
    {64, false, 1, "num_attention_heads=32 not divisible by 64", VOCAB(128167, 64)}}};
Test(plan_limits, hunyuan_a13b) { check_case(&HUNYUAN); }

/* Every shipped config has a case above. */
Test(plan_limits, every_shipped_config_has_a_case) {
    const limits_case *all[] = {&GEMMA2, &GPTJ, &QWEN3_MOE, &QWEN2, &BLOOM, &DEEPSEEK_V3, &OPT, &BERT, &LLAMA7B,
                                &GRANITE, &LLAMA32, &PHI3, &MISTRAL, &MIXTRAL, &GPT2, &STABLECODE, &FALCON, &REDPAJAMA,
                                &SMOLLM3, &OLMOE, &HUNYUAN};
    int nall = (int)(sizeof all / sizeof all[0]);
    const char *const *configs;
    int n = tu_shipped_configs(&configs);
    for (int c = 0; c < n; c++) {
        bool found = false;
        for (int i = 0; i < nall && !found; i++) found = strcmp(all[i]->config, configs[c]) == 0;
        cr_assert(found, "%s has no limits case", configs[c]);
    }
    cr_assert_eq(n, nall);
}

/* ---- families without a shipped config: heads odd enough to exercise the graph
 * reading (fused per-head qkv, GQA without info, encoder-decoders, multi-query) ---- */

/* gpt_neox: 6 heads of 16 in a fused per-head query_key_value (view [.., 6, 48]),
 * intermediate_size 192, vocab_size 250 (= 2 * 5^3). */
static const limits_case TINY_NEOX = {NULL,
    "{\"model_type\": \"gpt_neox\", \"vocab_size\": 250, \"hidden_size\": 96, \"intermediate_size\": 192, "
    "\"num_hidden_layers\": 2, \"num_attention_heads\": 6, \"rotary_pct\": 0.25}", 0, {
    {1, true, 1, NULL, NULL},
    /* 6/2, 192/2, 250/2 */
    {2, true, 1, NULL, NULL},
    /* 6/3, 192/3 = 64; 250 % 3 = 1 */
    {3, true, 1, NULL, VOCAB(250, 3)},
    /* 6 % 4 = 2; 192/4; 250 % 4 = 2 */
    {4, false, 1, "num_attention_heads=6 not divisible by 4", VOCAB(250, 4)},
    /* 6/6, 192/6 = 32; 250 % 6 = 4 */
    {6, true, 1, NULL, VOCAB(250, 6)},
    /* 6 % 8; 192/8 = 24; 250 % 8 = 2 */
    {8, false, 1, "num_attention_heads=6 not divisible by 8", VOCAB(250, 8)}}};

/* phi: 6 heads, num_key_value_heads 2 (phi records neither in its info: both come from
 * config.json), intermediate_size 192, vocab_size 250. */
static const limits_case TINY_PHI = {NULL,
    "{\"model_type\": \"phi\", \"vocab_size\": 250, \"hidden_size\": 96, \"intermediate_size\": 192, "
    "\"num_hidden_layers\": 2, \"num_attention_heads\": 6, \"num_key_value_heads\": 2, \"torch_dtype\": \"float32\"}",
    0, {
    {1, true, 1, NULL, NULL},
    /* 6/2, 2/2, 192/2, 250/2 */
    {2, true, 1, NULL, NULL},
    /* 6/3; 2 % 3, 3 % 2 != 0; 192/3; 250 % 3 = 1 */
    {3, false, 1, NO_KV_REPL("num_key_value_heads", 2, 3), VOCAB(250, 3)},
    /* 6 % 4 = 2 (4 % 2 == 0: the heads say it); 192/4; 250 % 4 = 2 */
    {4, false, 1, "num_attention_heads=6 not divisible by 4", VOCAB(250, 4)},
    /* 6/6; 2 % 6 != 0, 6 % 2 == 0: KV x3; 192/6; 250 % 6 = 4 */
    {6, true, 3, NULL, KV_REPL("num_key_value_heads", 2, 6, 3) "; " VOCAB(250, 6)},
    /* 6 % 8; 192/8; 250 % 8 */
    {8, false, 1, "num_attention_heads=6 not divisible by 8", VOCAB(250, 8)}}};

/* t5: num_heads 6 (eager attention with a relative position bias), d_ff 192,
 * vocab_size 250 (shared embedding read by input_ids and decoder_input_ids). */
static const limits_case TINY_T5 = {NULL,
    "{\"model_type\": \"t5\", \"vocab_size\": 250, \"d_model\": 96, \"d_kv\": 16, \"d_ff\": 192, \"num_layers\": 2, "
    "\"num_heads\": 6, \"relative_attention_num_buckets\": 8, \"relative_attention_max_distance\": 16}", 0, {
    {1, true, 1, NULL, NULL},
    /* 6/2, 192/2, 250/2 */
    {2, true, 1, NULL, NULL},
    /* 6/3, 192/3; 250 % 3 */
    {3, true, 1, NULL, VOCAB(250, 3)},
    /* 6 % 4; 192/4; 250 % 4 */
    {4, false, 1, "num_heads=6 not divisible by 4", VOCAB(250, 4)},
    /* 6 % 5 = 1; 192 % 5 = 2; 250/5 */
    {5, false, 1, "num_heads=6 not divisible by 5; d_ff=192 not divisible by 5", NULL},
    /* 6 % 8; 192/8; 250 % 8 */
    {8, false, 1, "num_heads=6 not divisible by 8", VOCAB(250, 8)}}};

/* bart: encoder_attention_heads 6, decoder_attention_heads 4 (self and cross attention),
 * encoder_ffn_dim 192, decoder_ffn_dim 160, vocab_size 250: two limits of each kind,
 * listed in graph order (encoder first). */
static const limits_case TINY_BART = {NULL,
    "{\"model_type\": \"bart\", \"vocab_size\": 250, \"d_model\": 96, \"encoder_layers\": 2, \"decoder_layers\": 2, "
    "\"encoder_attention_heads\": 6, \"decoder_attention_heads\": 4, \"encoder_ffn_dim\": 192, "
    "\"decoder_ffn_dim\": 160, \"max_position_embeddings\": 32}", 0, {
    {1, true, 1, NULL, NULL},
    /* 6/2, 4/2, 192/2, 160/2, 250/2 */
    {2, true, 1, NULL, NULL},
    /* 6/3; 4 % 3 = 1; 192/3; 160 % 3 = 1; 250 % 3 = 1 */
    {3, false, 1, "decoder_attention_heads=4 not divisible by 3; decoder_ffn_dim=160 not divisible by 3",
     VOCAB(250, 3)},
    /* 6 % 4 = 2; 4/4; 192/4; 160/4; 250 % 4 */
    {4, false, 1, "encoder_attention_heads=6 not divisible by 4", VOCAB(250, 4)},
    /* 6 % 8, 4 % 8; 192/8 = 24; 160/8 = 20; 250 % 8 */
    {8, false, 1, "encoder_attention_heads=6 not divisible by 8; decoder_attention_heads=4 not divisible by 8",
     VOCAB(250, 8)}}};

/* falcon (multi_query, old architecture): 4 heads and one KV head cut from the fused
 * query_key_value view [.., 4 + 2, 16]; MLP 4 * hidden 64 = 256 (no field); vocab 250. */
#define TINY_FALCON_MLP "MLP width=256 (output of transformer.h.0.mlp.dense_h_to_4h into the activation)"
static const limits_case TINY_FALCON_MQA = {NULL,
    "{\"model_type\": \"falcon\", \"vocab_size\": 250, \"hidden_size\": 64, \"num_hidden_layers\": 2, "
    "\"num_attention_heads\": 4, \"multi_query\": true, \"new_decoder_architecture\": false}", 0, {
    {1, true, 1, NULL, NULL},
    /* 4/2; one KV head: x2; 256/2; 250/2 */
    {2, true, 2, NULL,
     "num_kv_heads=1 not divisible by 2; multi-query: each rank holds the single KV head (KV replication x2)"},
    /* 4 % 3 = 1; 256 % 3 = 1; 250 % 3 = 1 */
    {3, false, 1, "num_attention_heads=4 not divisible by 3; " TINY_FALCON_MLP " not divisible by 3", VOCAB(250, 3)},
    /* 4/4; x4; 256/4; 250 % 4 = 2 */
    {4, true, 4, NULL,
     "num_kv_heads=1 not divisible by 4; multi-query: each rank holds the single KV head (KV replication x4); " VOCAB(
         250, 4)},
    /* 4 % 8; 256/8; 250 % 8 */
    {8, false, 1, "num_attention_heads=4 not divisible by 8", VOCAB(250, 8)}}};

Test(plan_limits, tiny_gpt_neox) { check_case(&TINY_NEOX); }
Test(plan_limits, tiny_phi) { check_case(&TINY_PHI); }
Test(plan_limits, tiny_t5) { check_case(&TINY_T5); }
Test(plan_limits, tiny_bart) { check_case(&TINY_BART); }
Test(plan_limits, tiny_falcon_multi_query) { check_case(&TINY_FALCON_MQA); }
