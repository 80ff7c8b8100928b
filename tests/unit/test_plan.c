/* Tensor-parallel planning. Expected plans are transformers' hand-written
 * base_model_tp_plan dicts (read at the source: models/llama/
 * configuration_llama.py and models/phi3/configuration_phi3.py); byte
 * figures are hand calculations from the configs. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "testutil.h"
#include "../tiny_configs.h"

static mt_plan *plan(mt_model *m, mt_graph *g, int tp, mt_plan_style st, mt_plan_search se) {
    mt_plan_opts o = {.tp = tp, .style = st, .search = se, .batch = 1, .seq = 4096};
    mt_plan *p = mt_plan_run(m, g, &o);
    cr_assert_not_null(p, "%s", mt_ctx_errmsg(m->ctx));
    return p;
}

static const char *rule(const mt_plan *p, const char *pattern) {
    for (int i = 0; i < p->nrules; i++)
        if (strcmp(p->rules[i].pattern, pattern) == 0) return p->rules[i].style;
    return NULL;
}

/* The rules under model.layers.* must be exactly `want` (pairs, NULL-ended). */
static void expect_layers(const mt_plan *p, const char *const *want) {
    int nw = 0;
    for (; want[nw]; nw += 2) {
        const char *got = rule(p, want[nw]);
        cr_assert_not_null(got, "tp=%d: no rule for %s", p->tp, want[nw]);
        cr_assert_str_eq(got, want[nw + 1], "tp=%d: %s", p->tp, want[nw]);
    }
    int n = 0;
    for (int i = 0; i < p->nrules; i++) n += strncmp(p->rules[i].pattern, "model.layers.", 13) == 0;
    cr_assert_eq(n, nw / 2, "tp=%d: %d layer rules, transformers has %d", p->tp, n, nw / 2);
}

static const char *const LLAMA_PLAN[] = {
    "model.layers.*.self_attn.q_proj", "colwise", "model.layers.*.self_attn.k_proj", "colwise",
    "model.layers.*.self_attn.v_proj", "colwise", "model.layers.*.self_attn.o_proj", "rowwise",
    "model.layers.*.mlp.gate_proj",    "colwise", "model.layers.*.mlp.up_proj",      "colwise",
    "model.layers.*.mlp.down_proj",    "rowwise", NULL};

/* per rank x ranks = total + (ranks - 1) x replicated + KV replication extra */
static void check_bytes(const mt_plan *p, const mt_model *m) {
    mt_totals t;
    cr_assert_eq(mt_model_totals(m, &t), MT_OK);
    cr_assert_eq(p->mem.total_param_bytes, t.param_bytes);
    int64_t repl = 0, kvx = 0, sum = 0, bydt = 0;
    for (int i = 0; i < p->nparams; i++) {
        const mt_plan_param *pp = &p->params[i];
        sum += pp->local_bytes;
        if (pp->shard_dim < 0) repl += pp->bytes;
        else if (pp->ways < p->tp) kvx += pp->bytes * (p->tp / pp->ways - 1);
    }
    for (int d = 0; d < MT_DTYPE_COUNT; d++) bydt += p->mem.param_bytes_by_dtype[d];
    cr_assert_eq(sum, p->mem.param_bytes);
    cr_assert_eq(bydt, p->mem.param_bytes);
    cr_assert_eq(p->mem.param_bytes * p->tp, t.param_bytes + (p->tp - 1) * repl + kvx, "tp=%d", p->tp);
    cr_assert_eq(p->mem.kv_replicated_bytes, kvx);
}

Test(plan, llama_7b_degrees_match_transformers) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build(ctx, tu_src("samples/configs/huggyllama--llama-7b.config.json"), 0);
    mt_graph *g = tu_trace(m);
    int degrees[4] = {1, 2, 4, 8};
    for (int i = 0; i < 4; i++) {
        mt_plan *p = plan(m, g, degrees[i], MT_PLAN_TRANSFORMERS, MT_SEARCH_BEST);
        cr_assert(p->valid, "tp=%d: %s", p->tp, p->reason);
        check_bytes(p, m);
        if (p->tp > 1) {
            expect_layers(p, LLAMA_PLAN);
            cr_assert_null(rule(p, "model.embed_tokens"), "transformers style leaves the embedding replicated");
        }
        if (p->tp == 4) {
            /* q_proj [4096, 4096] colwise: rank 2 reads rows [2048, 3072) */
            for (int k = 0; k < p->nparams; k++) {
                if (strcmp(p->params[k].name, "model.layers.0.self_attn.q_proj.weight") != 0) continue;
                int64_t a, b;
                mt_plan_param_slice(p, &p->params[k], 2, &a, &b);
                cr_assert_eq(a, 2048);
                cr_assert_eq(b, 3072);
                cr_assert_eq(p->params[k].local[0], 1024);
            }
            /* Megatron: two all-reduces per layer of [4096] fp16 + 2 (embedding, logits):
             * 2 * 3/4 * 8192 B per all-reduce */
            int ar = 0;
            for (int k = 0; k < p->ncomms; k++) ar += p->comms[k].kind == MT_COMM_ALL_REDUCE;
            cr_assert_eq(ar, 64);
        }
    }
    mt_plan *bad = plan(m, g, 3, MT_PLAN_OURS, MT_SEARCH_BEST);
    cr_assert(!bad->valid);
    cr_assert(strstr(bad->reason, "num_attention_heads=32 not divisible by 3"), "%s", bad->reason);
    mt_ctx_free(ctx);
}

Test(plan, mistral_kv_replication) {
    if (!mt_arch_find("mistral")) cr_skip_test("mistral not registered yet");
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build(ctx, tu_src("samples/configs/mistralai--Mistral-7B-v0.1.config.json"), 0);
    mt_graph *g = tu_trace(m);
    mt_plan *p = plan(m, g, 16, MT_PLAN_OURS, MT_SEARCH_BEST);
    cr_assert(p->valid, "%s", p->reason);
    cr_assert_eq(p->kv_replication, 2);
    cr_assert(strstr(p->note, "num_key_value_heads=8 not divisible by 16; would need KV replication x2"), "%s", p->note);
    /* k/v weights [1024, 4096] bf16 = 8 MiB each; 8 blocks over 16 ranks:
     * 16 * 1 MiB - 8 MiB = 8 MiB extra, x 2 x 32 layers */
    cr_assert_eq(p->mem.kv_replicated_bytes, 512LL * 1024 * 1024);
    check_bytes(p, m);
    mt_plan *q = plan(m, g, 64, MT_PLAN_OURS, MT_SEARCH_BEST);
    cr_assert(!q->valid);
    cr_assert(strstr(q->reason, "num_attention_heads=32 not divisible by 64"), "%s", q->reason);
    mt_ctx_free(ctx);
}

Test(plan, phi3_fused_projections_gather) {
    if (!mt_arch_find("phi3")) cr_skip_test("phi3 not registered yet");
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build(ctx, tu_src("samples/configs/microsoft--Phi-3-mini-128k-instruct.config.json"), 2);
    mt_graph *g = tu_trace(m);
    static const char *const PHI3[] = {
        "model.layers.*.self_attn.qkv_proj", "colwise_gather_output", "model.layers.*.self_attn.o_proj",
        "rowwise_split_input", "model.layers.*.mlp.gate_up_proj", "colwise_gather_output",
        "model.layers.*.mlp.down_proj", "rowwise_split_input", NULL};
    for (int tp = 2; tp <= 8; tp *= 2) expect_layers(plan(m, g, tp, MT_PLAN_TRANSFORMERS, MT_SEARCH_BEST), PHI3);
    mt_ctx_free(ctx);
}

Test(plan, llama3_invalid_heads) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build(ctx, tu_src("samples/configs/meta-llama--Llama-3.2-3B.resaved.config.json"), 2);
    mt_graph *g = tu_trace(m);
    mt_plan *p = plan(m, g, 16, MT_PLAN_OURS, MT_SEARCH_BEST);
    cr_assert(!p->valid);
    cr_assert(strstr(p->reason, "num_attention_heads=24 not divisible by 16"), "%s", p->reason);
    mt_plan_degree d[64];
    cr_assert_eq(mt_plan_auto(m, g, NULL, 64, d), MT_OK);
    /* heads 24, kv 8: 1 2 4 8 work; 3 6 12 24 need KV replication? no: kv 8 % 3 != 0 and 3 % 8 != 0 */
    int ok[] = {1, 2, 4, 8};
    int n = 0;
    for (int i = 0; i < 64; i++) n += d[i].valid;
    cr_assert_eq(n, 4);
    for (int i = 0; i < 4; i++) cr_assert(d[ok[i] - 1].valid, "tp=%d: %s", ok[i], d[ok[i] - 1].reason);
    mt_ctx_free(ctx);
}

/* x -> A (64 -> 256) -> gelu -> B (256 -> 64): the first feasible assignment
 * (both column-parallel) gathers B's input and the output; the cheapest is
 * A column-, B row-parallel with one all-reduce. tp = 4, float32, per token:
 * first = 3/4 * 1024 + 3/4 * 256 = 960 B, best = 2 * 3/4 * 256 = 384 B. */
Test(plan, cheapest_differs_from_first_feasible) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = mt_alloc(ctx, sizeof *m);
    m->ctx = ctx;
    m->model_type = "synthetic";
    m->dtype = MT_FLOAT32;
    m->root = mt_module_new(ctx, NULL, "", "Toy");
    mt_meta_scope_enter(ctx);
    mt_module *a = mt_nn_linear(ctx, m->root, "a", 64, 256, false, MT_FLOAT32, MT_DEVICE_CPU);
    mt_module *b = mt_nn_linear(ctx, m->root, "b", 256, 64, false, MT_FLOAT32, MT_DEVICE_CPU);
    mt_meta_scope_exit(ctx);
    mt_model_collect(m);
    mt_graph *g = mt_graph_new(ctx);
    mt_tracer tr;
    mt_tr_init(&tr, m, g);
    const mt_sym *dims[3] = {mt_sym_var(ctx, "batch"), mt_sym_var(ctx, "seq"), mt_sym_const(ctx, 64)};
    mt_tensor *x = mt_tr_placeholder(&tr, "x", MT_FLOAT32, 3, dims);
    mt_tensor *y = mt_tr_call(&tr, b, mt_gelu(&tr, mt_tr_call(&tr, a, x), NULL));
    cr_assert_eq(mt_tr_output(&tr, &y, 1), MT_OK, "%s", mt_ctx_errmsg(ctx));
    mt_plan *first = plan(m, g, 4, MT_PLAN_OURS, MT_SEARCH_FIRST);
    mt_plan *best = plan(m, g, 4, MT_PLAN_OURS, MT_SEARCH_BEST);
    cr_assert_str_eq(rule(first, "b"), "colwise_gather_output");
    cr_assert_float_eq(first->comm_per_token, 960.0, 1e-6);
    cr_assert_str_eq(rule(best, "a"), "colwise");
    cr_assert_str_eq(rule(best, "b"), "rowwise");
    cr_assert_float_eq(best->comm_per_token, 384.0, 1e-6);
    /* the JSON reads back */
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cr_assert_eq(mt_plan_export_json(best, f), MT_OK);
    fclose(f);
    json_error_t err;
    json_t *j = json_loads(buf, 0, &err);
    cr_assert_not_null(j, "%s", err.text);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(json_object_get(j, "plan"), "tp_plan"), "b")),
                     "rowwise");
    json_decref(j);
    free(buf);
    mt_ctx_free(ctx);
}

/* mt_plan_auto answers for every shipped config (samples/configs): degree 1
 * always works, every invalid degree says why, and every valid degree > 1
 * holds at most the whole model per rank. */
Test(plan, auto_answers_every_shipped_config) {
    const char *const *configs;
    int nconf = tu_shipped_configs(&configs);
    for (int c = 0; c < nconf; c++) {
        const char *rel = configs[c];
        mt_ctx *ctx = mt_ctx_new();
        mt_model *m = tu_build(ctx, tu_src(rel), 0);
        mt_graph *g = tu_trace(m);
        mt_plan_degree deg[64];
        cr_assert_eq(mt_plan_auto(m, g, NULL, 64, deg), MT_OK, "%s: %s", rel, mt_ctx_errmsg(ctx));
        cr_assert(deg[0].valid, "%s: tp=1 invalid: %s", rel, deg[0].reason);
        mt_totals t;
        cr_assert_eq(mt_model_totals(m, &t), MT_OK);
        cr_assert_eq(deg[0].param_bytes, t.param_bytes, "%s", rel);
        for (int i = 0; i < 64; i++) {
            cr_assert_eq(deg[i].tp, i + 1);
            if (!deg[i].valid)
                cr_assert(deg[i].reason && deg[i].reason[0], "%s: tp=%d invalid without a reason", rel, i + 1);
            else
                cr_assert(deg[i].param_bytes > 0 && deg[i].param_bytes <= t.param_bytes, "%s: tp=%d", rel,
                          i + 1);
        }
        mt_ctx_free(ctx);
    }
    cr_assert_geq(nconf, 18, "only %d shipped configs found", nconf);
}

/* Mixtral-8x7B at tp=8 (bf16, hidden 4096, vocab 32000, 8 experts, 32 layers), by hand:
 * each expert is the Megatron pair (w1/w3 colwise, w2 rowwise), the routed partial sums
 * add up through index_add_ and are all-reduced once per layer, like the attention:
 * 2 x 7/8 x 8192 B = 14336 B/token each, 2 per layer; the router (4096 -> 8, colwise)
 * gathers 7/8 x 16 = 14; the embedding's columns gather 7/8 x 8192 = 7168 once, the
 * lm_head's vocab blocks 7/8 x 64000 = 56000 once:
 * 32 x (2 x 14336 + 14) + 7168 + 56000 = 981120 B/token, 64 all-reduces. */
Test(plan, mixtral_experts_one_all_reduce_per_layer) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build(ctx, tu_src("samples/configs/mistralai--Mixtral-8x7B-v0.1.config.json"), 0);
    mt_graph *g = tu_trace(m);
    mt_plan *p = plan(m, g, 8, MT_PLAN_OURS, MT_SEARCH_BEST);
    cr_assert(p->valid);
    static const char *const want[] = {
        "model.layers.*.block_sparse_moe.experts.*.w1", "colwise",
        "model.layers.*.block_sparse_moe.experts.*.w3", "colwise",
        "model.layers.*.block_sparse_moe.experts.*.w2", "rowwise", NULL};
    for (int i = 0; want[i]; i += 2) {
        const char *got = rule(p, want[i]);
        cr_assert_not_null(got, "no rule for %s", want[i]);
        cr_assert_str_eq(got, want[i + 1], "%s", want[i]);
    }
    int ar = 0;
    for (int i = 0; i < p->ncomms; i++) ar += p->comms[i].kind == MT_COMM_ALL_REDUCE;
    cr_assert_eq(ar, 64);
    cr_assert(p->comm_per_token > 981120 - 0.5 && p->comm_per_token < 981120 + 0.5, "%.3f B/token",
              p->comm_per_token);
    mt_ctx_free(ctx);
}

/* The same plan's experts report, by hand: 32 layers x 8 experts of 3 x 4096 x 14336 bf16
 * weights = 90,194,313,216 B, 1/8 per rank either way; inside the MoE blocks the plan moves
 * 32 x (14336 all-reduce + 14 router gather) = 459200 B/token; expert parallelism (one
 * expert per rank) would move 32 x 2 x top-2 x 4096 x 2 B x 7/8 = 917504 B/token. At tp=3
 * expert parallelism is impossible (8 experts). */
Test(plan, mixtral_experts_report) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build(ctx, tu_src("samples/configs/mistralai--Mixtral-8x7B-v0.1.config.json"), 0);
    mt_graph *g = tu_trace(m);
    mt_plan *p = plan(m, g, 8, MT_PLAN_OURS, MT_SEARCH_BEST);
    cr_assert_eq(p->nexperts, 1);
    const mt_plan_experts *x = &p->experts[0];
    cr_assert_str_eq(x->pattern, "model.layers.*.block_sparse_moe.experts");
    cr_assert_eq(x->layers, 32);
    cr_assert_eq(x->experts, 8);
    cr_assert(x->top_k > 1.999 && x->top_k < 2.001, "top_k %g", x->top_k);
    cr_assert_eq(x->hidden, 4096);
    cr_assert_eq(x->param_bytes, 90194313216LL);
    cr_assert_eq(x->local_bytes, 90194313216LL / 8);
    cr_assert(x->ep_valid);
    cr_assert_eq(x->ep_local_bytes, 90194313216LL / 8);
    cr_assert(x->comm_per_token > 459199.5 && x->comm_per_token < 459200.5, "%.3f", x->comm_per_token);
    cr_assert(x->ep_comm_per_token > 917503.5 && x->ep_comm_per_token < 917504.5, "%.3f", x->ep_comm_per_token);
    cr_assert_not(x->fused);
    cr_assert_str_eq(x->placement, "sharded");
    mt_plan *p3 = plan(m, g, 3, MT_PLAN_OURS, MT_SEARCH_BEST);
    cr_assert_eq(p3->nexperts, 1);
    cr_assert_not(p3->experts[0].ep_valid);
    cr_assert_str_eq(p3->experts[0].ep_reason, "8 experts not divisible by 3");
    /* dense models have no experts entry */
    mt_ctx *c2 = mt_ctx_new();
    mt_model *m2 = tu_build(c2, tu_src("samples/configs/mistralai--Mistral-7B-v0.1.config.json"), 2);
    mt_plan *p2 = plan(m2, tu_trace(m2), 2, MT_PLAN_OURS, MT_SEARCH_BEST);
    cr_assert_eq(p2->nexperts, 0);
    mt_ctx_free(c2);
    mt_ctx_free(ctx);
}

/* A partial sum cut into blocks is a reduce-scatter, half an all-reduce. Tiny Cohere
 * (hidden 64, float32: 256 B/token whole; parallel block x + attn + mlp; tied embedding),
 * tp=2, ours: per layer the attention output is gathered for a column-parallel o_proj
 * (1/2 x 256 = 128), down_proj's partial sum is reduce-scattered onto o_proj's blocks (128)
 * and gathered at the next norm (128) - 384, where the Megatron pair's two all-reduces cost
 * 2 x (2 x 1/2 x 256) = 512; plus the vocab-parallel embedding's all-reduce (256) and the
 * tied lm_head's vocab blocks gathered (1/2 x 256 x 4 = 512): 256 + 2 x 384 + 512 = 1536.
 * transformers' style all-reduces row-parallel outputs: 4 x 256 = 1024 (embedding whole). */
/* The plan is priced in time (alpha per collective + bytes / beta): the bytes dominate only
 * when many tokens move, so this is planned at 1,024 x 65,536 tokens (1536 B/token x 2^26
 * tokens / 360 GB/s = 0.29 s against a few collectives x 10 us). */
static mt_plan *plan_at(mt_model *m, mt_graph *g, int tp, mt_plan_style st, int64_t batch, int64_t seq) {
    mt_plan_opts o = {.tp = tp, .style = st, .search = MT_SEARCH_BEST, .batch = batch, .seq = seq};
    mt_plan *p = mt_plan_run(m, g, &o);
    cr_assert_not_null(p, "%s", mt_ctx_errmsg(m->ctx));
    return p;
}

Test(plan, reduce_scatter_is_half_an_all_reduce) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build_text(ctx, tiny_for("cohere")->json, 0);
    mt_graph *g = tu_trace(m);
    mt_plan *p = plan_at(m, g, 2, MT_PLAN_OURS, 1024, 65536);
    int n[MT_COMM_COUNT] = {0};
    for (int i = 0; i < p->ncomms; i++) n[p->comms[i].kind]++;
    cr_assert_eq(n[MT_COMM_REDUCE_SCATTER], 2);
    cr_assert(p->comm_per_token > 1535.5 && p->comm_per_token < 1536.5, "%.3f", p->comm_per_token);
    mt_plan *t = plan_at(m, g, 2, MT_PLAN_TRANSFORMERS, 1024, 65536);
    for (int i = 0; i < t->ncomms; i++) cr_assert_neq(t->comms[i].kind, MT_COMM_REDUCE_SCATTER);
    cr_assert(t->comm_per_token > 1023.5 && t->comm_per_token < 1024.5, "%.3f", t->comm_per_token);
    /* at 1 x 4096 tokens these bytes take microseconds: latency decides, and 6 collectives
     * beat 8 at more bytes: the embedding's all-reduce (256), two all-reduces per layer
     * (2 x 2 x (2 x 1/2 x 256) = 1024) and the tied head's gather (512) = 1792 B/token */
    mt_plan *q = plan(m, g, 2, MT_PLAN_OURS, MT_SEARCH_BEST);
    int nq[MT_COMM_COUNT] = {0};
    for (int i = 0; i < q->ncomms; i++) nq[q->comms[i].kind]++;
    cr_assert_eq(p->ncomms, 8);
    cr_assert_eq(q->ncomms, 6);
    cr_assert_eq(nq[MT_COMM_ALL_REDUCE], 5);
    cr_assert_eq(nq[MT_COMM_ALL_GATHER], 1);
    cr_assert(q->comm_per_token > 1791.5 && q->comm_per_token < 1792.5, "%.3f", q->comm_per_token);
    mt_ctx_free(ctx);
}

/* Sequence parallelism, llama-7b cut to 2 layers at tp=8 (float16, hidden 4096: 8192 B/token
 * whole), by hand: each of the 4 row-parallel outputs (o_proj, down_proj per layer) is
 * reduce-scattered along the sequence (7/8 x 8192 = 7168) instead of all-reduced (14336),
 * the residual add and the norm run on sequence blocks, and the next column-parallel input is
 * all-gathered (7168): the same bytes, 57344, with the embedding's columns (7168) and lm_head's
 * vocab blocks (7/8 x 64000 = 56000) gathered as without it: 120512 B/token either way. */
Test(plan, sequence_parallel_llama) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build(ctx, tu_src("samples/configs/huggyllama--llama-7b.config.json"), 2);
    mt_graph *g = tu_trace(m);
    mt_plan_opts o = {.tp = 8, .style = MT_PLAN_OURS, .search = MT_SEARCH_BEST, .batch = 1, .seq = 4096};
    mt_plan *tp = mt_plan_run(m, g, &o);
    o.sequence_parallel = true;
    mt_plan *sp = mt_plan_run(m, g, &o);
    cr_assert(tp && sp && sp->sequence_parallel && !tp->sequence_parallel);
    int a[MT_COMM_COUNT] = {0}, b[MT_COMM_COUNT] = {0};
    for (int i = 0; i < tp->ncomms; i++) a[tp->comms[i].kind]++;
    for (int i = 0; i < sp->ncomms; i++) b[sp->comms[i].kind]++;
    cr_assert(a[MT_COMM_ALL_REDUCE] == 4 && a[MT_COMM_REDUCE_SCATTER] == 0 && a[MT_COMM_ALL_GATHER] == 2);
    cr_assert(b[MT_COMM_ALL_REDUCE] == 0 && b[MT_COMM_REDUCE_SCATTER] == 4 && b[MT_COMM_ALL_GATHER] == 6);
    cr_assert(tp->comm_per_token > 120511.5 && tp->comm_per_token < 120512.5, "%.3f", tp->comm_per_token);
    cr_assert(sp->comm_per_token > 120511.5 && sp->comm_per_token < 120512.5, "%.3f", sp->comm_per_token);
    /* every reduce-scatter lands on the sequence dim ([batch, seq, hidden]: dim 1), and the
     * residual add it feeds stays in sequence blocks */
    for (int i = 0; i < sp->ncomms; i++) {
        const mt_plan_comm *c = &sp->comms[i];
        if (c->kind != MT_COMM_REDUCE_SCATTER) continue;
        cr_assert(c->to.kind == MT_PLACE_SHARD && c->to.dim == 1 && c->to.ways == 8);
        mt_placement out = sp->nodes[c->consumer->index];
        cr_assert(out.kind == MT_PLACE_SHARD && out.dim == 1, "%s: %s", c->consumer->name,
                  mt_placement_str(ctx, out));
    }
    /* the plan dict does not change */
    cr_assert_eq(sp->nrules, tp->nrules);
    for (int i = 0; i < sp->nrules; i++) cr_assert_str_eq(sp->rules[i].style, tp->rules[i].style);
    mt_ctx_free(ctx);
}

/* A graph traced with concrete batch/seq plans at those shapes when the options leave
 * the bound at 0: the bytes per token are the symbolic trace's (120512 for llama-7b cut to
 * 2 layers at tp=8, see sequence_parallel_llama), not 4x them for 8 x 2048 tokens. */
Test(plan, bound_follows_a_bound_trace) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build(ctx, tu_src("samples/configs/huggyllama--llama-7b.config.json"), 2);
    const char *names[2] = {"batch", "seq"};
    int64_t vals[2] = {8, 2048};
    mt_trace_opts to = {{names, vals, 2}};
    mt_graph *g = mt_model_trace(m, &to);
    cr_assert_not_null(g, "%s", mt_ctx_errmsg(ctx));
    mt_plan_opts o = {.tp = 8};
    mt_plan *p = mt_plan_run(m, g, &o);
    cr_assert_not_null(p);
    cr_assert(p->batch == 8 && p->seq == 2048, "bound %lld x %lld", (long long)p->batch, (long long)p->seq);
    cr_assert(p->comm_per_token > 120511.5 && p->comm_per_token < 120512.5, "%.3f", p->comm_per_token);
    cr_assert_eq(p->mem.kv_bytes_per_token, 4096);
    mt_ctx_free(ctx);
}

/* Issue 13: sizes past 64 bits in the planner are a located error, not a
 * wrapped figure ("-60751863 GiB per rank", exit 0, before). 1,024 layers of
 * q_proj 1,048,576 x (16,384 x 1,048,576) in bf16 hold 2^75 bytes. */
Test(plan, overflowing_sizes_are_an_error) {
    static const char json[] = "{\"model_type\": \"llama\", \"vocab_size\": 16777216, \"hidden_size\": 1048576, "
                               "\"intermediate_size\": 1048576, \"num_hidden_layers\": 1024, "
                               "\"num_attention_heads\": 16384, \"head_dim\": 1048576, \"torch_dtype\": \"bfloat16\"}";
    mt_ctx *ctx = mt_ctx_new();
    mt_config *cfg = mt_config_parse(ctx, json, sizeof json - 1, "wide.json");
    mt_build_opts bo = {.dtype = MT_DTYPE_NONE};
    mt_model *m = mt_model_build(ctx, cfg, &bo);
    cr_assert_not_null(m, "%s", mt_ctx_errmsg(ctx));
    mt_graph *g = tu_trace(m);
    mt_plan_opts po = {.tp = 2};
    cr_assert_null(mt_plan_run(m, g, &po));
    cr_assert_eq(mt_ctx_status(ctx), MT_ERR_OVERFLOW);
    cr_assert(strstr(mt_ctx_errmsg(ctx), "overflows 64 bits"), "%s", mt_ctx_errmsg(ctx));
    mt_ctx_free(ctx);
}

/* Issue 10: routed experts are sharded as column -> row pairs inside each expert
 * (their partial sums run through the routing weights and index_add_ and are
 * all-reduced once per layer), never column -> column (an all-gather of every
 * expert's intermediate: DeepSeek-V3 at tp=8 used to plan 15,378 all-gathers per
 * forward); the shared expert and the dense MLP the same. And the per-layer roles
 * do not depend on how many layers are traced. */
static void assert_pair(const mt_plan *p, const char *up, const char *down, const char *what) {
    cr_assert_str_eq(rule(p, up), "colwise", "%s tp=%d: %s is %s", what, p->tp, up, rule(p, up));
    cr_assert_str_eq(rule(p, down), "rowwise", "%s tp=%d: %s is %s", what, p->tp, down, rule(p, down));
}

Test(plan, moe_experts_are_column_row_pairs) {
    static const struct {
        const char *cfg, *up, *down;
        int64_t layers;
    } C[] = {
        {"samples/configs/mistralai--Mixtral-8x7B-v0.1.config.json", "model.layers.*.block_sparse_moe.experts.*.w1",
         "model.layers.*.block_sparse_moe.experts.*.w2", 0},
        {"samples/configs/Qwen--Qwen3-Coder-30B-A3B-Instruct.config.json", "model.layers.*.mlp.experts.*.gate_proj",
         "model.layers.*.mlp.experts.*.down_proj", 0},
        {"samples/configs/deepseek-ai--DeepSeek-V3.config.json", "model.layers.*.mlp.experts.*.gate_proj",
         "model.layers.*.mlp.experts.*.down_proj", 5},
    };
    for (size_t i = 0; i < sizeof C / sizeof C[0]; i++) {
        mt_ctx *ctx = mt_ctx_new();
        mt_model *m = tu_build(ctx, tu_src(C[i].cfg), C[i].layers);
        mt_graph *g = tu_trace(m);
        for (int tp = 2; tp <= 8; tp *= 2) {
            mt_plan *p = plan(m, g, tp, MT_PLAN_OURS, MT_SEARCH_BEST);
            cr_assert(p->valid, "%s tp=%d: %s", C[i].cfg, tp, p->reason);
            assert_pair(p, C[i].up, C[i].down, C[i].cfg);
        }
        mt_ctx_free(ctx);
    }
}

Test(plan, deepseek_v3_roles_do_not_depend_on_the_layers) {
    const mt_plan_rule *first = NULL;
    int nfirst = 0;
    mt_ctx *keep = NULL;
    static const int64_t layers[] = {4, 8, 61};
    for (size_t k = 0; k < 3; k++) {
        mt_ctx *ctx = mt_ctx_new();
        mt_model *m = tu_build(ctx, tu_src("samples/configs/deepseek-ai--DeepSeek-V3.config.json"), layers[k]);
        mt_plan *p = plan(m, tu_trace(m), 8, MT_PLAN_OURS, MT_SEARCH_BEST);
        assert_pair(p, "model.layers.*.mlp.experts.*.gate_proj", "model.layers.*.mlp.experts.*.down_proj", "DeepSeek-V3");
        assert_pair(p, "model.layers.*.mlp.shared_experts.gate_proj", "model.layers.*.mlp.shared_experts.down_proj",
                    "DeepSeek-V3");
        assert_pair(p, "model.layers.*.mlp.gate_proj", "model.layers.*.mlp.down_proj", "DeepSeek-V3");
        int ag = 0;
        for (int i = 0; i < p->ncomms; i++) ag += p->comms[i].kind == MT_COMM_ALL_GATHER;
        cr_assert_lt(ag, 4 * layers[k], "%lld layers: %d all-gathers", (long long)layers[k], ag);
        if (!first) {
            first = p->rules;
            nfirst = p->nrules;
            keep = ctx;
            continue;
        }
        cr_assert_eq(p->nrules, nfirst, "%lld layers: %d rules, %d at 4", (long long)layers[k], p->nrules, nfirst);
        for (int i = 0; i < nfirst; i++) {
            cr_assert_str_eq(p->rules[i].pattern, first[i].pattern);
            cr_assert_str_eq(p->rules[i].style, first[i].style, "%s at %lld layers", first[i].pattern,
                             (long long)layers[k]);
        }
        mt_ctx_free(ctx);
    }
    mt_ctx_free(keep);
}

/* The collectives are priced on the in-node link of the cluster asked for
 * (--cluster with --tp), by default the H100 preset's NVLink; the plan reports
 * their time: wire bytes per token x (T + 1) / beta + 2 alpha per collective,
 * T = 1 x 4096 bound tokens. H100: NVLink 450 GB/s x 0.8, 5 us; L40S: PCIe Gen4
 * x16 32 GB/s x 0.8, 10 us (docs/plan.md, Clusters). */
Test(plan, collectives_priced_on_the_cluster_link) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build(ctx, tu_src("samples/configs/huggyllama--llama-7b.config.json"), 0);
    mt_graph *g = tu_trace(m);
    mt_cluster l40s;
    cr_assert_eq(mt_cluster_parse(ctx, "4xL40S", &l40s), MT_OK, "%s", mt_ctx_errmsg(ctx));
    mt_plan_opts o = {.tp = 4, .style = MT_PLAN_TRANSFORMERS, .search = MT_SEARCH_BEST};
    mt_plan *h = mt_plan_run(m, g, &o);
    o.cluster = &l40s;
    mt_plan *l = mt_plan_run(m, g, &o);
    cr_assert(h && l && h->valid && l->valid);
    /* the Megatron plan either way: 64 all-reduces of 2 x 3/4 x 8192 B, and the
     * logits (32000 fp16, vocabulary-parallel) all-gathered: 3/4 x 64000 B */
    cr_assert_eq(h->ncomms, 65);
    cr_assert_eq(l->ncomms, 65);
    double T = 4096 + 1, w = 64 * 1.5 * 8192 + 0.75 * 64000;
    cr_assert_float_eq(h->comm_per_token, w, 1e-6);
    cr_assert_float_eq(h->comm_seconds, w * T / (450e9 * 0.8) + 2 * 65 * 5e-6, 1e-12, "%.9g", h->comm_seconds);
    cr_assert_float_eq(l->comm_seconds, w * T / (32e9 * 0.8) + 2 * 65 * 10e-6, 1e-12, "%.9g", l->comm_seconds);
    cr_assert_not_null(strstr(h->link, "NVLink 4"), "%s", h->link);
    cr_assert_not_null(strstr(l->link, "PCIe Gen4"), "%s", l->link);
    mt_ctx_free(ctx);
}

/* ---- fused 3-D expert weights [E, in, out] (gpt_oss, Llama 4) ---- */

static const mt_plan_param *param_named(const mt_plan *p, const char *name) {
    for (int i = 0; i < p->nparams; i++)
        if (strcmp(p->params[i].name, name) == 0) return &p->params[i];
    cr_assert_fail("tp=%d: no parameter %s", p->tp, name);
    return NULL;
}

static void expect_expert(const mt_plan *p, const char *name, int64_t numel, int dim, mt_plan_role role) {
    const mt_plan_param *pp = param_named(p, name);
    int64_t es = (int64_t)mt_dtype_size(pp->param->t->dtype);
    cr_assert_eq(pp->shard_dim, dim, "tp=%d %s: dim %d", p->tp, name, pp->shard_dim);
    cr_assert_eq(pp->ways, p->tp, "tp=%d %s", p->tp, name);
    cr_assert_eq(pp->role, role, "tp=%d %s: %s", p->tp, name, mt_plan_role_name(pp->role));
    cr_assert_eq(pp->bytes, numel * es, "tp=%d %s", p->tp, name);
    cr_assert_eq(pp->local_bytes, numel * es / p->tp, "tp=%d %s", p->tp, name);
}

/* gpt_oss computes each expert as x[tokens] @ gate_up_proj[e] (+ bias), then gate =
 * gu[..., ::2], up = gu[..., 1::2] (modeling_gpt_oss.py), @ down_proj[e]: the pair is
 * column -> row inside every expert (gate_up_proj [E, H, 2I] on dim 2, each rank's block of
 * interleaved columns holding its gate and up columns; down_proj [E, I, H] on dim 1), never
 * column -> column and never whole. gpt-oss-20b: E 32, H = I = 2880, 24 layers: gate_up
 * 32 x 2880 x 5760 = 530,841,600 and down 32 x 2880 x 2880 = 265,420,800 elements per layer,
 * 1/tp per rank. Collectives: per layer one all-reduce after o_proj and one per expert (its
 * down_proj partial sum is reduced before down_proj_bias[e] is added): 24 x (1 + 32) = 792. */
Test(plan, gpt_oss_20b_experts_column_row) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build(ctx, tu_src("samples/configs/quantized/openai--gpt-oss-20b.config.json"), 0);
    mt_graph *g = tu_trace(m);
    int degrees[3] = {2, 4, 8};
    for (int i = 0; i < 3; i++) {
        mt_plan *p = plan(m, g, degrees[i], MT_PLAN_OURS, MT_SEARCH_BEST);
        cr_assert(p->valid, "tp=%d: %s", p->tp, p->reason);
        check_bytes(p, m);
        cr_assert_str_eq(rule(p, "model.layers.*.mlp.experts.gate_up_proj"), "colwise");
        cr_assert_str_eq(rule(p, "model.layers.*.mlp.experts.down_proj"), "rowwise");
        int64_t experts_local = 0;
        for (int l = 0; l < 24; l++) {
            char gu[96], dp[96];
            snprintf(gu, sizeof gu, "model.layers.%d.mlp.experts.gate_up_proj", l);
            snprintf(dp, sizeof dp, "model.layers.%d.mlp.experts.down_proj", l);
            expect_expert(p, gu, 530841600, 2, MT_ROLE_COLWISE);
            expect_expert(p, dp, 265420800, 1, MT_ROLE_ROWWISE);
            experts_local += param_named(p, gu)->local_bytes + param_named(p, dp)->local_bytes;
        }
        int64_t es = (int64_t)mt_dtype_size(param_named(p, "model.layers.0.mlp.experts.down_proj")->param->t->dtype);
        cr_assert_eq(experts_local, 24 * 796262400LL * es / p->tp, "tp=%d", p->tp);
        int ar = 0;
        for (int k = 0; k < p->ncomms; k++) ar += p->comms[k].kind == MT_COMM_ALL_REDUCE;
        cr_assert_eq(ar, 24 * 33, "tp=%d: %d all-reduces", p->tp, ar);
    }
    mt_ctx_free(ctx);
}

/* Tiny gpt_oss (tests/tiny_configs.h: E 4, H 64, I 128, float32): gate_up_proj
 * [4, 64, 256] = 65536 and down_proj [4, 128, 64] = 32768 elements, column -> row. */
Test(plan, tiny_gpt_oss_experts_column_row) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build_text(ctx, tiny_for("gpt_oss")->json, 0);
    mt_graph *g = tu_trace(m);
    for (int tp = 2; tp <= 4; tp *= 2) {
        mt_plan *p = plan(m, g, tp, MT_PLAN_OURS, MT_SEARCH_BEST);
        cr_assert(p->valid, "tp=%d: %s", tp, p->reason);
        check_bytes(p, m);
        for (int l = 0; l < 2; l++) {
            char gu[96], dp[96];
            snprintf(gu, sizeof gu, "model.layers.%d.mlp.experts.gate_up_proj", l);
            snprintf(dp, sizeof dp, "model.layers.%d.mlp.experts.down_proj", l);
            expect_expert(p, gu, 65536, 2, MT_ROLE_COLWISE);
            expect_expert(p, dp, 32768, 1, MT_ROLE_ROWWISE);
            cr_assert_eq(param_named(p, gu)->local_bytes, 65536 * 4 / tp);
        }
    }
    mt_ctx_free(ctx);
}

/* Llama 4 (modeling_llama4.py Llama4TextExperts): hidden.view(E, -1, H) bmm gate_up_proj
 * [E, H, 2I], chunk(2, -1), bmm down_proj [E, I, H], then the MoE layer sums the routed
 * outputs over the experts. gate_up's columns are cut packed, as transformers'
 * get_packed_weights (integrations/tensor_parallel.py, its `packed_rowwise` for Llama 4) and
 * vLLM's merged column-parallel layers do: each rank holds its block of the gate half and of
 * the up half, so the chunk gives each rank matching gate and up columns and nothing is
 * gathered; down_proj is cut on its rows (the contraction), its output a partial sum that
 * passes the view and the sum over experts (linear) and is all-reduced once with the shared
 * expert's. Whole experts per rank (expert parallelism) cost the same here; the search keeps
 * the first it reaches. Tiny llama4_text: layer 1 is the MoE layer, gate_up_proj [4, 64, 256]
 * = 65536, down_proj [4, 128, 64] = 32768 elements (float32), 1/tp per rank. Rank r of tp
 * reads gate_up's columns [r x 128/tp, (r+1) x 128/tp) and 128 + the same (I = 128). */
Test(plan, tiny_llama4_experts_packed_column_row) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build_text(ctx, tiny_for("llama4_text")->json, 0);
    mt_graph *g = tu_trace(m);
    for (int tp = 2; tp <= 4; tp *= 2) {
        mt_plan *p = plan(m, g, tp, MT_PLAN_OURS, MT_SEARCH_BEST);
        cr_assert(p->valid, "tp=%d: %s", tp, p->reason);
        check_bytes(p, m);
        cr_assert_str_eq(rule(p, "model.layers.*.feed_forward.experts.gate_up_proj"), "packed_colwise");
        cr_assert_str_eq(rule(p, "model.layers.*.feed_forward.experts.down_proj"), "rowwise");
        const char *gu = "model.layers.1.feed_forward.experts.gate_up_proj";
        expect_expert(p, gu, 65536, 2, MT_ROLE_COLWISE);
        expect_expert(p, "model.layers.1.feed_forward.experts.down_proj", 32768, 1, MT_ROLE_ROWWISE);
        cr_assert_eq(param_named(p, "model.layers.1.feed_forward.experts.down_proj")->local_bytes, 32768 * 4 / tp);
        const mt_plan_param *pg = param_named(p, gu);
        cr_assert_eq(pg->parts, 2);
        cr_assert_eq(pg->local[2], 256 / tp);
        for (int r = 0; r < tp; r++) {
            int64_t rg[4][2];
            cr_assert_eq(mt_plan_param_ranges(p, pg, r, rg, 4), 2);
            int64_t b = 128 / tp;
            cr_assert(rg[0][0] == r * b && rg[0][1] == (r + 1) * b, "tp=%d rank %d", tp, r);
            cr_assert(rg[1][0] == 128 + r * b && rg[1][1] == 128 + (r + 1) * b, "tp=%d rank %d", tp, r);
        }
        /* attention's o_proj in both layers, layer 0's dense down_proj, and layer 1's shared
         * expert down_proj + the experts' partial sum added, then reduced once: 4; gathered:
         * the embedding's columns and the logits only */
        int ar = 0, ag = 0;
        for (int k = 0; k < p->ncomms; k++) {
            ar += p->comms[k].kind == MT_COMM_ALL_REDUCE;
            ag += p->comms[k].kind == MT_COMM_ALL_GATHER;
        }
        cr_assert_eq(ar, 4, "tp=%d: %d all-reduces", tp, ar);
        cr_assert_eq(ag, 2, "tp=%d: %d all-gathers", tp, ag);
    }
    mt_ctx_free(ctx);
}

/* The experts report of fused 3-D experts, by hand. gpt-oss-20b (float32: the config
 * names no torch_dtype): 24 layers, each one module mlp.experts holding gate_up_proj
 * [32, 2880, 5760] = 530,841,600, gate_up_proj_bias [32, 5760] = 184,320, down_proj
 * [32, 2880, 2880] = 265,420,800 and down_proj_bias [32, 2880] = 92,160 elements: 796,538,880
 * x 4 B = 3,186,155,520 B per layer, 76,467,732,480 B in all. The plan shards the two
 * weights inside every expert (column -> row, 1/tp each) and keeps the biases whole:
 * 24 x 4 x (796,262,400 / tp + 276,480) B per rank. The router's topk takes 4
 * (experts_per_token); an expert reads [tokens, 2880]. Expert parallelism: 32/tp whole
 * experts, 76,467,732,480 / tp B per rank, dispatch + combine 24 x 2 x 4 x 2880 x 4 B x
 * (tp-1)/tp. Inside the MoE blocks the plan all-reduces each expert's [routed tokens,
 * 2880] float32 output: T x 4/32 tokens per expert, 32 experts, so 4 x 2880 x 4 = 46,080
 * B/token per layer at 2 (tp-1)/tp on the wire. */
Test(plan, gpt_oss_20b_fused_experts_report) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build(ctx, tu_src("samples/configs/quantized/openai--gpt-oss-20b.config.json"), 0);
    mt_graph *g = tu_trace(m);
    for (int tp = 2; tp <= 8; tp *= 2) {
        mt_plan *p = plan(m, g, tp, MT_PLAN_OURS, MT_SEARCH_BEST);
        cr_assert(p->valid, "tp=%d: %s", tp, p->reason);
        cr_assert_eq(p->nexperts, 1, "tp=%d", tp);
        const mt_plan_experts *x = &p->experts[0];
        cr_assert_str_eq(x->pattern, "model.layers.*.mlp.experts");
        cr_assert(x->fused);
        cr_assert_str_eq(x->placement, "sharded", "tp=%d", tp);
        cr_assert_eq(x->layers, 24);
        cr_assert_eq(x->experts, 32);
        cr_assert_float_eq(x->top_k, 4.0, 1e-12);
        cr_assert_eq(x->hidden, 2880);
        cr_assert_eq(x->param_bytes, 76467732480LL);
        cr_assert_eq(x->local_bytes, 24LL * 4 * (796262400LL / tp + 276480), "tp=%d: %lld", tp, (long long)x->local_bytes);
        cr_assert(x->ep_valid, "tp=%d", tp);
        cr_assert_eq(x->ep_local_bytes, 76467732480LL / tp);
        double t1 = (double)(tp - 1) / tp;
        cr_assert_float_eq(x->ep_comm_per_token, 24.0 * 2 * 4 * 2880 * 4 * t1, 1e-6, "tp=%d: %.3f", tp,
                           x->ep_comm_per_token);
        cr_assert_float_eq(x->comm_per_token, 24.0 * 46080 * 2 * t1, 1e-3, "tp=%d: %.3f", tp, x->comm_per_token);
    }
    mt_ctx_free(ctx);
}

/* Tiny llama4_text (tests/tiny_configs.h): layer 1's feed_forward.experts holds gate_up_proj
 * [4, 64, 256] = 65,536 and down_proj [4, 128, 64] = 32,768 float32 elements, 393,216 B; the
 * plan shards both inside every expert (packed columns -> rows), so the report says sharded,
 * 393,216 / tp B per rank; expert parallelism would hold 4/tp whole experts, the same bytes. The router's topk takes 1; the experts' bmm
 * reads [4, tokens, 64]. All-to-all if dispatched: 2 x 1 x 64 x 4 B x (tp-1)/tp. At tp=3
 * nothing divides: the experts stay whole on every rank. No collective is produced inside the
 * block: the experts' partial sum, added to the shared expert's, is all-reduced after the
 * layer's view of the block's output (counted with the layer). */
Test(plan, tiny_llama4_fused_experts_report) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build_text(ctx, tiny_for("llama4_text")->json, 0);
    mt_graph *g = tu_trace(m);
    for (int tp = 2; tp <= 4; tp *= 2) {
        mt_plan *p = plan(m, g, tp, MT_PLAN_OURS, MT_SEARCH_BEST);
        cr_assert(p->valid, "tp=%d: %s", tp, p->reason);
        cr_assert_eq(p->nexperts, 1, "tp=%d", tp);
        const mt_plan_experts *x = &p->experts[0];
        cr_assert_str_eq(x->pattern, "model.layers.*.feed_forward.experts");
        cr_assert(x->fused);
        cr_assert_str_eq(x->placement, "sharded", "tp=%d", tp);
        cr_assert_eq(x->layers, 1);
        cr_assert_eq(x->experts, 4);
        cr_assert_float_eq(x->top_k, 1.0, 1e-12);
        cr_assert_eq(x->hidden, 64);
        cr_assert_eq(x->param_bytes, 393216);
        cr_assert_eq(x->local_bytes, 393216 / tp, "tp=%d: %lld", tp, (long long)x->local_bytes);
        cr_assert(x->ep_valid);
        cr_assert_eq(x->ep_local_bytes, 393216 / tp);
        cr_assert_float_eq(x->ep_comm_per_token, 2.0 * 64 * 4 * (tp - 1) / tp, 1e-9);
        cr_assert_float_eq(x->comm_per_token, 0, 1e-12, "tp=%d: %.3f", tp, x->comm_per_token);
    }
    mt_plan *p3 = plan(m, g, 3, MT_PLAN_OURS, MT_SEARCH_BEST);
    cr_assert_eq(p3->nexperts, 1);
    cr_assert_str_eq(p3->experts[0].placement, "replicated");
    cr_assert_eq(p3->experts[0].local_bytes, 393216);
    cr_assert_not(p3->experts[0].ep_valid);
    cr_assert_str_eq(p3->experts[0].ep_reason, "4 experts not divisible by 3");
    mt_ctx_free(ctx);
}

/* granitemoe (modeling_granitemoe.py GraniteMoeParallelExperts): each expert is F.linear(x,
 * input_linear.weight[e]) -> chunk(2, -1) -> act(first) * second -> F.linear(.., output_linear.weight[e]),
 * the weights [E, out, in]. Tiny granitemoe (tests/tiny_configs.h, float32, 2 layers, E 4, top-2):
 * input_linear [4, 256, 64] = 65,536 and output_linear [4, 64, 128] = 32,768 elements, 393,216 B per
 * layer. The plan shards both (weights left whole cost first): input_linear on its output features
 * (dim 1) packed - each rank its block of the gate half and of the up half, rows [r x 128/tp, (r+1) x
 * 128/tp) and 128 + the same, so chunk(2, -1) hands each rank matching gate and up columns (as
 * Llama 4's, and vLLM's merged column-parallel layers) - and output_linear on its input features
 * (dim 2), 1/tp each: 786,432 / tp B per rank. Nothing is gathered inside an expert (before packing,
 * each expert's [routed, 256] output was: 4 x 512 B/token per layer); output_linear's partial sums go
 * through the gate product and index_add_ and are all-reduced once per layer, after the block
 * (Granite's residual multiplier). Inside the MoE blocks: 2 layers x the router's [T, 4] float32
 * logits gathered for topk, 16 B, x (tp-1)/tp = 32 (tp-1)/tp. Expert parallelism: 2 x 2 x top-2 x 64
 * x 4 B x (tp-1)/tp. */
Test(plan, tiny_granitemoe_fused_experts_column_row) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build_text(ctx, tiny_for("granitemoe")->json, 0);
    mt_graph *g = tu_trace(m);
    for (int tp = 2; tp <= 4; tp *= 2) {
        mt_plan *p = plan(m, g, tp, MT_PLAN_OURS, MT_SEARCH_BEST);
        cr_assert(p->valid, "tp=%d: %s", tp, p->reason);
        check_bytes(p, m);
        cr_assert_str_eq(rule(p, "model.layers.*.block_sparse_moe.input_linear.weight"), "packed_colwise");
        cr_assert_str_eq(rule(p, "model.layers.*.block_sparse_moe.output_linear.weight"), "rowwise");
        for (int l = 0; l < 2; l++) {
            char il[96], ol[96];
            snprintf(il, sizeof il, "model.layers.%d.block_sparse_moe.input_linear.weight", l);
            snprintf(ol, sizeof ol, "model.layers.%d.block_sparse_moe.output_linear.weight", l);
            expect_expert(p, il, 65536, 1, MT_ROLE_COLWISE);
            expect_expert(p, ol, 32768, 2, MT_ROLE_ROWWISE);
            cr_assert_eq(param_named(p, ol)->local[2], 128 / tp);
            const mt_plan_param *pi = param_named(p, il);
            cr_assert_eq(pi->parts, 2);
            for (int r = 0; r < tp; r++) {
                int64_t rg[4][2], b = 128 / tp;
                cr_assert_eq(mt_plan_param_ranges(p, pi, r, rg, 4), 2);
                cr_assert(rg[0][0] == r * b && rg[0][1] == (r + 1) * b && rg[1][0] == 128 + r * b &&
                          rg[1][1] == 128 + (r + 1) * b, "tp=%d rank %d", tp, r);
            }
        }
        int ar = 0, ag = 0;
        for (int k = 0; k < p->ncomms; k++) {
            ar += p->comms[k].kind == MT_COMM_ALL_REDUCE;
            ag += p->comms[k].kind == MT_COMM_ALL_GATHER;
        }
        /* attention and experts once per layer; the embedding, 2 routers, the logits */
        cr_assert_eq(ar, 4, "tp=%d: %d all-reduces", tp, ar);
        cr_assert_eq(ag, 4, "tp=%d: %d all-gathers", tp, ag);
        cr_assert_eq(p->nexperts, 1);
        const mt_plan_experts *x = &p->experts[0];
        cr_assert_str_eq(x->pattern, "model.layers.*.block_sparse_moe");
        cr_assert(x->fused);
        cr_assert_str_eq(x->placement, "sharded");
        cr_assert_eq(x->layers, 2);
        cr_assert_eq(x->experts, 4);
        cr_assert_float_eq(x->top_k, 2.0, 1e-12);
        cr_assert_eq(x->hidden, 64);
        cr_assert_eq(x->param_bytes, 786432);
        cr_assert_eq(x->local_bytes, 786432 / tp);
        double t1 = (double)(tp - 1) / tp;
        cr_assert_float_eq(x->comm_per_token, 32 * t1, 1e-6, "tp=%d: %.3f", tp, x->comm_per_token);
        cr_assert_float_eq(x->ep_comm_per_token, 2.0 * 2 * 2 * 64 * 4 * t1, 1e-9);
    }
    mt_ctx_free(ctx);
}
