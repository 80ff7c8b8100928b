/* Agreement with transformers' hand-written tensor-parallel plans.
 *
 * Each `base_model_tp_plan` below was copied from the config class in
 * huggingface/transformers (read at the source, not from memory):
 *   src/transformers/models/<family>/configuration_<family>.py
 *   at commit 008e574391258935f3ecc3035c882e73bbcac419 for llama, qwen2, qwen3, gemma,
 *     gemma2, granite, olmo, olmo2, cohere, starcoder2, qwen2_moe, qwen3_moe, deepseek_v2,
 *     deepseek_v3;
 *   mistral at 001f85b38fb432858ace93f18622f07cec46d874;
 *   gemma3 (Gemma3TextConfig) at d98ac17cc00f337eeee9a1e2380072dc8cafabd4;
 *   mixtral at ad467bd7633c63ba3ae55da29ff08a30a47cc008 (the block_sparse_moe.experts.*.w1
 *     layout we build; 008e574 moved to fused experts.gate_up_proj "packed_colwise" +
 *     "moe_tp_experts", a layout and styles we do not model).
 * stablelm has no base_model_tp_plan (configuration_stablelm.py at 05cd1ec): not listed.
 *
 * transformers' keys are relative to the base model ("layers.*.self_attn.q_proj"); ours carry
 * the path from the top, so every key is prefixed with "model." here. We plan in the
 * MT_PLAN_TRANSFORMERS style and compare the rules under model.layers.*. Families whose dict
 * we fully model are `exact`: the set of layer rules must be the dict (with the listed
 * deliberate differences applied) and nothing more. For the MoE families only the dict's own
 * keys are checked (our expert entries have no counterpart; see docs/plan.md, "Agreement
 * with transformers"). Real configs are used where one is shipped; otherwise the tiny
 * config (tests/tiny_configs.h: 4 heads, 2 KV heads) at tp 2, and the same config with
 * num_key_value_heads = 4 at tp 4 (so every degree divides the heads and KV heads). */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "testutil.h"
#include "tiny_configs.h"

/* a deliberate difference: what we emit for a transformers key (NULL: no rule) */
typedef struct agree_diff {
    const char *key;
    const char *ours;
} agree_diff;

/* `ours` of a key whose transformers style we do not model and whose choice is not asserted */
#define UNCHECKED "(unchecked)"

typedef struct agree_case {
    const char *family;     /* model_type */
    const char *config;     /* shipped config, or NULL: tiny_for(family) */
    int degrees[4];         /* 0-ended; tiny configs: 2 (as is) and 4 (kv heads 4) */
    bool exact;             /* no layer rules beyond the dict */
    const char *const *hf;  /* transformers' base_model_tp_plan, pairs, NULL-ended */
    const agree_diff *diffs; /* {NULL} -ended */
} agree_case;

#define ATTN                                                                                        \
    "layers.*.self_attn.q_proj", "colwise", "layers.*.self_attn.k_proj", "colwise",                \
        "layers.*.self_attn.v_proj", "colwise", "layers.*.self_attn.o_proj", "rowwise"
#define GATED_MLP                                                                                   \
    "layers.*.mlp.gate_proj", "colwise", "layers.*.mlp.up_proj", "colwise", "layers.*.mlp.down_proj", \
        "rowwise"

/* llama, mistral, qwen2, gemma, gemma2, gemma3_text, granite, olmo, cohere: the same dict */
static const char *const HF_DENSE[] = {ATTN, GATED_MLP, NULL};
static const char *const HF_QWEN3[] = {"layers.*.self_attn.q_proj", "colwise", "layers.*.self_attn.k_proj", "colwise",
                                       "layers.*.self_attn.v_proj", "colwise", "layers.*.self_attn.q_norm",
                                       "replicated_with_grad_allreduce", "layers.*.self_attn.k_norm",
                                       "replicated_with_grad_allreduce", "layers.*.self_attn.o_proj", "rowwise",
                                       GATED_MLP, NULL};
static const char *const HF_OLMO2[] = {"layers.*.self_attn.q_proj", "colwise_gather_output",
                                       "layers.*.self_attn.k_proj", "colwise_gather_output",
                                       "layers.*.self_attn.v_proj", "colwise_gather_output",
                                       "layers.*.self_attn.o_proj", "rowwise_split_input", GATED_MLP, NULL};
static const char *const HF_STARCODER2[] = {ATTN, "layers.*.mlp.c_fc", "colwise", "layers.*.mlp.c_proj", "rowwise",
                                            NULL};
static const char *const HF_MIXTRAL[] = {ATTN,
                                         "layers.*.block_sparse_moe.gate", "colwise_rep",
                                         "layers.*.block_sparse_moe.experts.*.w1", "colwise",
                                         "layers.*.block_sparse_moe.experts.*.w2", "rowwise",
                                         "layers.*.block_sparse_moe.experts.*.w3", "colwise",
                                         NULL};
static const char *const HF_QWEN2_MOE[] = {ATTN, GATED_MLP, NULL};
static const char *const HF_QWEN3_MOE[] = {"layers.*.self_attn.q_proj", "colwise", "layers.*.self_attn.k_proj",
                                           "colwise", "layers.*.self_attn.v_proj", "colwise",
                                           "layers.*.self_attn.q_norm", "replicated_with_grad_allreduce",
                                           "layers.*.self_attn.k_norm", "replicated_with_grad_allreduce",
                                           "layers.*.self_attn.o_proj", "rowwise",
                                           "layers.*.mlp.experts.gate_up_proj", "packed_colwise",
                                           "layers.*.mlp.experts.down_proj", "rowwise",
                                           "layers.*.mlp.experts", "moe_tp_experts", GATED_MLP, NULL};
#define HF_DEEPSEEK_MLP                                                                              \
    "layers.*.mlp.experts.gate_up_proj", "packed_colwise", "layers.*.mlp.experts.down_proj", "rowwise", \
        "layers.*.mlp.experts", "moe_tp_experts", "layers.*.mlp.shared_experts.gate_proj", "colwise",   \
        "layers.*.mlp.shared_experts.up_proj", "colwise", "layers.*.mlp.shared_experts.down_proj",      \
        "rowwise", GATED_MLP
static const char *const HF_DEEPSEEK_V2[] = {"layers.*.self_attn.q_proj", "colwise",
                                             "layers.*.self_attn.q_b_proj", "colwise",
                                             "layers.*.self_attn.kv_a_proj_with_mqa", "mla_kv_a_proj",
                                             "layers.*.self_attn.kv_b_proj", "colwise",
                                             "layers.*.self_attn.o_proj", "rowwise", HF_DEEPSEEK_MLP, NULL};
static const char *const HF_DEEPSEEK_V3[] = {HF_DEEPSEEK_MLP, NULL};

static const agree_diff NO_DIFF[] = {{NULL, NULL}};
/* q_norm/k_norm are RMSNorm weights: our dict lists Linear/Embedding weights only, and
 * every parameter not listed is replicated (the grad all-reduce is a training concern) */
static const agree_diff D_QWEN3[] = {{"layers.*.self_attn.q_norm", NULL}, {"layers.*.self_attn.k_norm", NULL}, {NULL, NULL}};
/* OLMo2's q_norm/k_norm normalize the whole projection: we keep q/k/v column-parallel and
 * the attention head-sharded (the norm gathers what it reduces over) instead of gathering
 * the three projections and running every head on every rank */
static const agree_diff D_OLMO2[] = {{"layers.*.self_attn.q_proj", "colwise"},
                                     {"layers.*.self_attn.k_proj", "colwise"},
                                     {"layers.*.self_attn.v_proj", "colwise"},
                                     {"layers.*.self_attn.o_proj", "rowwise"},
                                     {NULL, NULL}};
/* "colwise_rep" is transformers v4's name for ColwiseParallel(output_layouts=Replicate()),
 * our colwise_gather_output. The experts (w1/w3 colwise, w2 rowwise) are asserted: routed
 * activations are priced at their expected token counts and index_select/index_add_ carry
 * shards and partial sums, so the experts' Megatron pair costs one all-reduce per layer. */
static const agree_diff D_MIXTRAL[] = {{"layers.*.block_sparse_moe.gate", "colwise_gather_output"},
                                       {NULL, NULL}};
/* the tiny configs have no dense (mlp_only / first_k_dense) layer: no mlp.gate_proj module */
static const agree_diff D_QWEN2_MOE[] = {{"layers.*.mlp.gate_proj", NULL},
                                         {"layers.*.mlp.up_proj", NULL},
                                         {"layers.*.mlp.down_proj", NULL},
                                         {NULL, NULL}};
/* + fused experts.gate_up_proj/down_proj (ours: experts.N.gate_proj/up_proj/down_proj) */
static const agree_diff D_QWEN3_MOE[] = {{"layers.*.self_attn.q_norm", NULL},
                                         {"layers.*.self_attn.k_norm", NULL},
                                         {"layers.*.mlp.experts.gate_up_proj", NULL},
                                         {"layers.*.mlp.experts.down_proj", NULL},
                                         {"layers.*.mlp.experts", NULL},
                                         {"layers.*.mlp.gate_proj", NULL},
                                         {"layers.*.mlp.up_proj", NULL},
                                         {"layers.*.mlp.down_proj", NULL},
                                         {NULL, NULL}};
/* q_lora_rank null (V2-Lite): no q_b_proj; "mla_kv_a_proj" keeps the weight whole (ours
 * shards and gathers it); fused experts as above */
/* The shared expert's down_proj is rowwise as transformers writes it: by bytes alone, at the
 * tiny widths (moe_intermediate_size 32 under hidden 64), gathering its intermediate and then
 * its output (192 B/token at tp=2) would beat all-reducing the output (256); priced in time
 * (docs/plan.md, "Cost"), each collective's latency makes the one all-reduce cheaper. */
static const agree_diff D_DEEPSEEK_V2[] = {{"layers.*.self_attn.q_b_proj", NULL},
                                           {"layers.*.self_attn.kv_a_proj_with_mqa", UNCHECKED},
                                           {"layers.*.mlp.experts.gate_up_proj", NULL},
                                           {"layers.*.mlp.experts.down_proj", NULL},
                                           {"layers.*.mlp.experts", NULL},
                                           {NULL, NULL}};
static const agree_diff D_DEEPSEEK_V3[] = {{"layers.*.mlp.experts.gate_up_proj", NULL},
                                           {"layers.*.mlp.experts.down_proj", NULL},
                                           {"layers.*.mlp.experts", NULL},
                                           {NULL, NULL}};

#define TINY NULL
static const agree_case CASES[] = {
    {"llama", "samples/configs/meta-llama--Llama-3.2-3B.resaved.config.json", {2, 4, 8}, true, HF_DENSE, NO_DIFF},
    {"llama", "samples/configs/ibm-granite--granite-3b-code-instruct-128k.config.json", {2, 4, 8}, true, HF_DENSE,
     NO_DIFF},
    {"mistral", "samples/configs/mistralai--Mistral-7B-v0.1.config.json", {2, 4, 8}, true, HF_DENSE, NO_DIFF},
    {"qwen2", "samples/configs/SeaLLMs--SeaLLMs-v3-7B-Chat.config.json", {2, 4}, true, HF_DENSE, NO_DIFF},
    {"gemma2", "samples/configs/Ayush2006128--mithoon-2b.gemma-2-2b-finetune.config.json", {2, 4}, true, HF_DENSE,
     NO_DIFF},
    {"granite", TINY, {2, 4}, true, HF_DENSE, NO_DIFF},
    {"olmo", TINY, {2, 4}, true, HF_DENSE, NO_DIFF},
    {"cohere", TINY, {2, 4}, true, HF_DENSE, NO_DIFF},
    {"qwen3", TINY, {2, 4}, true, HF_QWEN3, D_QWEN3},
    {"olmo2", TINY, {2, 4}, true, HF_OLMO2, D_OLMO2},
    {"gemma", TINY, {2, 4}, true, HF_DENSE, NO_DIFF},
    {"gemma3_text", TINY, {2, 4}, true, HF_DENSE, NO_DIFF},
    {"starcoder2", TINY, {2, 4}, true, HF_STARCODER2, NO_DIFF},
    {"mixtral", TINY, {2, 4}, false, HF_MIXTRAL, D_MIXTRAL},
    {"mixtral", "samples/configs/mistralai--Mixtral-8x7B-v0.1.config.json", {2, 4, 8}, false, HF_MIXTRAL, D_MIXTRAL},
    {"qwen3_moe", "samples/configs/Qwen--Qwen3-Coder-30B-A3B-Instruct.config.json", {2, 4}, false, HF_QWEN3_MOE,
     D_QWEN3_MOE},
    /* the real config's first_k_dense_replace = 3 dense layers: mlp.gate_proj/up_proj/down_proj
     * are compared too, with the shared experts */
    {"deepseek_v3", "samples/configs/deepseek-ai--DeepSeek-V3.config.json", {2, 4, 8}, false, HF_DEEPSEEK_V3,
     D_DEEPSEEK_V3},
    {"qwen2_moe", TINY, {2, 4}, false, HF_QWEN2_MOE, D_QWEN2_MOE},
    {"qwen3_moe", TINY, {2, 4}, false, HF_QWEN3_MOE, D_QWEN3_MOE},
    {"deepseek_v2", TINY, {2, 4}, false, HF_DEEPSEEK_V2, D_DEEPSEEK_V2},
    {"deepseek_v3", TINY, {2, 4}, false, HF_DEEPSEEK_V3, D_DEEPSEEK_V3},
};
#define NCASES ((int)(sizeof CASES / sizeof CASES[0]))

static const char *rule(const mt_plan *p, const char *pattern) {
    for (int i = 0; i < p->nrules; i++)
        if (strcmp(p->rules[i].pattern, pattern) == 0) return p->rules[i].style;
    return NULL;
}

/* What we should emit for a transformers key: its style, or the listed difference. */
static const char *expected(const agree_case *c, const char *key, const char *hf_style, bool *differs) {
    for (const agree_diff *d = c->diffs; d->key; d++)
        if (strcmp(d->key, key) == 0) {
            *differs = true;
            return d->ours;
        }
    *differs = false;
    return hf_style;
}

/* The tiny config with num_key_value_heads raised to `kv` (malloc'd). */
static char *tiny_with_kv(const char *json, int kv) {
    json_error_t err;
    json_t *j = json_loads(json, 0, &err);
    cr_assert_not_null(j, "%s", err.text);
    json_object_set_new(j, "num_key_value_heads", json_integer(kv));
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return s;
}

static void check_case(const agree_case *c, mt_model *m, mt_graph *g, int tp) {
    const char *src = c->config ? c->config : "tiny config";
    mt_plan_opts o = {.tp = tp, .style = MT_PLAN_TRANSFORMERS, .search = MT_SEARCH_BEST, .batch = 1, .seq = 4096};
    mt_plan *p = mt_plan_run(m, g, &o);
    cr_assert_not_null(p, "%s: %s", c->family, mt_ctx_errmsg(m->ctx));
    cr_assert(p->valid, "%s (%s) tp=%d: %s", c->family, src, tp, p->reason);
    cr_assert_eq(p->kv_replication, 1, "%s tp=%d: a degree that needs KV replication", c->family, tp);
    int nwant = 0;
    for (int k = 0; c->hf[k]; k += 2) {
        char key[160];
        snprintf(key, sizeof key, "model.%s", c->hf[k]);
        bool differs;
        const char *want = expected(c, c->hf[k], c->hf[k + 1], &differs);
        const char *got = rule(p, key);
        if (want && strcmp(want, UNCHECKED) == 0) {
            nwant += got != NULL;
            continue;
        }
        if (!want) {
            cr_assert_null(got, "%s tp=%d: %s is %s; expected no rule", c->family, tp, key, got);
            continue;
        }
        nwant++;
        cr_assert_not_null(got, "%s (%s) tp=%d: no rule for %s (transformers: %s)", c->family, src, tp, key,
                           c->hf[k + 1]);
        cr_assert_str_eq(got, want, "%s (%s) tp=%d: %s is %s, expected %s (transformers: %s%s)", c->family, src, tp,
                         key, got, want, c->hf[k + 1], differs ? ", a listed difference" : "");
    }
    if (!c->exact) return;
    int n = 0;
    for (int i = 0; i < p->nrules; i++) {
        if (strncmp(p->rules[i].pattern, "model.layers.", 13) != 0) continue;
        n++;
        bool known = false;
        for (int k = 0; c->hf[k] && !known; k += 2) known = strcmp(p->rules[i].pattern + 6, c->hf[k]) == 0;
        cr_assert(known, "%s tp=%d: extra layer rule %s -> %s", c->family, tp, p->rules[i].pattern,
                  p->rules[i].style);
    }
    cr_assert_eq(n, nwant, "%s tp=%d: %d layer rules, expected %d", c->family, tp, n, nwant);
}

Test(plan_agree, transformers_base_model_tp_plans) {
    for (int ci = 0; ci < NCASES; ci++) {
        const agree_case *c = &CASES[ci];
        if (!mt_arch_find(c->family)) continue; /* not registered in this build */
        const tiny_config *t = c->config ? NULL : tiny_for(c->family);
        cr_assert(c->config || t, "%s: no tiny config", c->family);
        /* a shipped config is built once for every degree; a tiny one (4 heads, 2 KV heads)
         * as is for tp 2, with 4 KV heads above */
        for (int di = 0; di < 4 && c->degrees[di] && (t || di == 0); di++) {
            mt_ctx *ctx = mt_ctx_new();
            char *json = t && c->degrees[di] > 2 ? tiny_with_kv(t->json, 4) : NULL;
            mt_model *m = t ? tu_build_text(ctx, json ? json : t->json, 0) : tu_build(ctx, tu_src(c->config), 0);
            free(json);
            cr_assert_str_eq(m->model_type, c->family);
            mt_graph *g = tu_trace(m);
            for (int k = di; k < 4 && c->degrees[k] && (k == di || !t); k++) check_case(c, m, g, c->degrees[k]);
            mt_ctx_free(ctx);
        }
    }
}
