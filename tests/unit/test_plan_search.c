/* The planner's search window (docs/plan.md, "Identical blocks solved
 * once"): searching one block of each kind (layers, and the experts inside a
 * MoE layer) must give the plan the whole-graph search gives, and the
 * planner's own whole-graph check must confirm the window. The reference here
 * is MT_SEARCH_FULL, which runs every propagation over the whole graph. */
#include <criterion/criterion.h>
#include <string.h>

#include "testutil.h"
#include "../tiny_configs.h"

static mt_plan *run_sp(mt_model *m, mt_graph *g, int tp, mt_plan_style st, mt_plan_search se, bool sp) {
    mt_plan_opts o = {.tp = tp, .style = st, .search = se, .batch = 1, .seq = 4096, .sequence_parallel = sp};
    mt_plan *p = mt_plan_run(m, g, &o);
    cr_assert_not_null(p, "%s", mt_ctx_errmsg(m->ctx));
    return p;
}

static mt_plan *run(mt_model *m, mt_graph *g, int tp, mt_plan_style st, mt_plan_search se) {
    return run_sp(m, g, tp, st, se, false);
}

/* Same choice for every parameter, same bytes, same collectives. */
static void expect_same(const char *what, const mt_plan *a, const mt_plan *b) {
    cr_assert_eq(a->nparams, b->nparams, "%s tp=%d", what, a->tp);
    for (int i = 0; i < a->nparams; i++) {
        cr_assert_str_eq(a->params[i].name, b->params[i].name);
        cr_assert_eq(a->params[i].shard_dim, b->params[i].shard_dim, "%s tp=%d: %s (window %d, full %d)", what,
                     a->tp, a->params[i].name, a->params[i].shard_dim, b->params[i].shard_dim);
        cr_assert_eq(a->params[i].ways, b->params[i].ways, "%s tp=%d: %s", what, a->tp, a->params[i].name);
    }
    cr_assert_eq(a->mem.param_bytes, b->mem.param_bytes, "%s tp=%d", what, a->tp);
    cr_assert_eq(a->ncomms, b->ncomms, "%s tp=%d: %d vs %d collectives", what, a->tp, a->ncomms, b->ncomms);
    double tol = 1e-9 * (b->comm_per_token > 1 ? b->comm_per_token : 1);
    cr_assert(a->comm_per_token <= b->comm_per_token + tol && a->comm_per_token >= b->comm_per_token - tol,
              "%s tp=%d: %.3f vs %.3f bytes/token", what, a->tp, a->comm_per_token, b->comm_per_token);
}

static void check_model(const char *what, mt_model *m, mt_graph *g, const int *degrees) {
    for (int k = 0; degrees[k]; k++)
        for (int st = 0; st < 3; st++) { /* ours, transformers, ours with sequence parallelism */
            mt_plan_style sty = st == 1 ? MT_PLAN_TRANSFORMERS : MT_PLAN_OURS;
            mt_plan *win = run_sp(m, g, degrees[k], sty, MT_SEARCH_BEST, st == 2);
            mt_plan *full = run_sp(m, g, degrees[k], sty, MT_SEARCH_FULL, st == 2);
            cr_assert(win->window_exact, "%s tp=%d: the window disagreed with the whole graph", what, degrees[k]);
            expect_same(what, win, full);
        }
}

/* Every family's tiny config (4 heads, 2 KV heads, widths 64/128: degrees 2
 * and 4 divide them; MoE families have 4-8 experts per layer). */
Test(plan_search, window_equals_whole_graph_every_family) {
    static const int degrees[] = {2, 4, 0};
    for (int i = 0; i < TINY_CONFIG_COUNT; i++) {
        mt_ctx *ctx = mt_ctx_new();
        mt_model *m = tu_build_text(ctx, tiny_configs[i].json, 0);
        mt_graph *g = tu_trace(m);
        check_model(tiny_configs[i].model_type, m, g, degrees);
        mt_ctx_free(ctx);
    }
}

/* Real MoE configs cut to a few layers: many experts per layer, so the
 * experts window inside the layer (Mixtral 8, Qwen3-Coder 128 experts). */
Test(plan_search, window_equals_whole_graph_real_moe) {
    static const struct {
        const char *config;
        int64_t layers;
    } cases[] = {
        {"samples/configs/mistralai--Mixtral-8x7B-v0.1.config.json", 3},
        {"samples/configs/Qwen--Qwen3-Coder-30B-A3B-Instruct.config.json", 3},
        {"samples/configs/huggyllama--llama-7b.config.json", 4},
    };
    static const int degrees[] = {2, 8, 0};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mt_ctx *ctx = mt_ctx_new();
        mt_model *m = tu_build(ctx, tu_src(cases[i].config), cases[i].layers);
        mt_graph *g = tu_trace(m);
        check_model(cases[i].config, m, g, degrees);
        mt_ctx_free(ctx);
    }
}

/* GPT-2's Conv1D keeps its weight as [in, out]: the column-parallel c_fc
 * shards dim 1, the row-parallel c_proj dim 0 (the Megatron MLP pair, one
 * all-reduce), the colwise bias goes with c_fc. Tiny gpt2: n_embd 64, MLP
 * 4*64 = 256; at tp=2: c_fc [64, 128] per rank, c_proj [128, 64]. */
static const mt_plan_param *param(const mt_plan *p, const char *name) {
    for (int i = 0; i < p->nparams; i++)
        if (strcmp(p->params[i].name, name) == 0) return &p->params[i];
    cr_assert_fail("no parameter %s", name);
    return NULL;
}

Test(plan_search, gpt2_conv1d_column_then_row) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build_text(ctx, tiny_for("gpt2")->json, 0);
    mt_graph *g = tu_trace(m);
    mt_plan *p = run(m, g, 2, MT_PLAN_TRANSFORMERS, MT_SEARCH_BEST);
    const mt_plan_param *fc = param(p, "transformer.h.0.mlp.c_fc.weight");
    const mt_plan_param *fcb = param(p, "transformer.h.0.mlp.c_fc.bias");
    const mt_plan_param *pr = param(p, "transformer.h.1.mlp.c_proj.weight");
    cr_assert_eq(fc->role, MT_ROLE_COLWISE);
    cr_assert_eq(fc->shard_dim, 1);
    cr_assert(fc->local[0] == 64 && fc->local[1] == 128, "c_fc local [%lld, %lld]", (long long)fc->local[0],
              (long long)fc->local[1]);
    cr_assert_eq(fcb->role, MT_ROLE_BIAS);
    cr_assert_eq(fcb->local[0], 128);
    cr_assert_eq(pr->role, MT_ROLE_ROWWISE);
    cr_assert_eq(pr->shard_dim, 0);
    cr_assert(pr->local[0] == 128 && pr->local[1] == 64);
    bool found = false;
    for (int i = 0; i < p->nrules; i++)
        if (strcmp(p->rules[i].pattern, "transformer.h.*.mlp.c_fc") == 0) {
            cr_assert_str_eq(p->rules[i].style, "colwise");
            found = true;
        }
    cr_assert(found, "no rule for transformer.h.*.mlp.c_fc");
    mt_ctx_free(ctx);
}
