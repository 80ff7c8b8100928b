/* Plan tensor parallelism for a config at a list of degrees and print a
 * per-rank table, then every degree 1..64 that works (or why not).
 * Usage: sample_tp_planner CONFIG [TP...]   (default degrees 1 2 4 8) */
#include <stdio.h>
#include <stdlib.h>

#include <metatrace/metatrace.h>

static double gib(int64_t b) { return (double)b / (1024.0 * 1024.0 * 1024.0); }

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s CONFIG [TP...]\n", argv[0]);
        return 2;
    }
    mt_ctx *ctx = mt_ctx_new();
    mt_config *cfg = mt_config_load(ctx, argv[1]);
    mt_build_opts bo = {.dtype = MT_DTYPE_NONE, .num_layers = 0};
    mt_model *m = cfg ? mt_model_build(ctx, cfg, &bo) : NULL;
    mt_trace_opts to = {{NULL, NULL, 0}};
    mt_graph *g = m ? mt_model_trace(m, &to) : NULL;
    if (!g) {
        fprintf(stderr, "error: %s\n", mt_ctx_errmsg(ctx));
        mt_ctx_free(ctx);
        return 1;
    }
    int defaults[4] = {1, 2, 4, 8};
    int n = argc > 2 ? argc - 2 : 4;
    printf("%s (%s), %d graph nodes\n", argv[1], mt_model_type(m), g->n);
    printf("%4s %-6s %12s %12s %14s %14s %12s\n", "tp", "valid", "params GiB", "extra GiB", "KV B/token",
           "comm B/token", "collectives");
    for (int i = 0; i < n; i++) {
        mt_plan_opts o = {.tp = argc > 2 ? atoi(argv[i + 2]) : defaults[i], .style = MT_PLAN_OURS,
                          .search = MT_SEARCH_BEST, .batch = 1, .seq = 4096};
        mt_plan *p = mt_plan_run(m, g, &o);
        if (!p) {
            fprintf(stderr, "error: %s\n", mt_ctx_errmsg(ctx));
            mt_ctx_free(ctx);
            return 1;
        }
        printf("%4d %-6s %12.3f %12.3f %14lld %14.0f %12d\n", p->tp, p->valid ? "yes" : "no",
               gib(p->mem.param_bytes), gib(p->mem.replicated_extra_bytes), (long long)p->mem.kv_bytes_per_token,
               p->comm_per_token, p->ncomms);
        if (!p->valid) printf("     reason: %s\n", p->reason);
        if (p->note) printf("     note: %s\n", p->note);
        for (int k = 0; k < p->nexperts && p->valid; k++) {
            const mt_plan_experts *x = &p->experts[k];
            printf("     %s: %d x %d experts, %s %.3f GiB/rank %.0f B/token", x->pattern, x->layers,
                   x->experts, x->placement, gib(x->local_bytes), x->comm_per_token);
            if (x->ep_valid)
                printf("; expert parallel %.3f GiB/rank %.0f B/token\n", gib(x->ep_local_bytes),
                       x->ep_comm_per_token);
            else
                printf("; expert parallel: %s\n", x->ep_reason);
        }
        if (p->tp == (argc > 2 ? atoi(argv[argc - 1]) : 8))
            for (int r = 0; r < p->nrules; r++) printf("     %-46s %s\n", p->rules[r].pattern, p->rules[r].style);
    }
    mt_plan_degree deg[64];
    mt_plan_opts base = {.tp = 1, .style = MT_PLAN_OURS, .search = MT_SEARCH_BEST, .batch = 1, .seq = 4096};
    if (mt_plan_auto(m, g, &base, 64, deg) != MT_OK) {
        fprintf(stderr, "error: %s\n", mt_ctx_errmsg(ctx));
        mt_ctx_free(ctx);
        return 1;
    }
    printf("degrees that work:");
    for (int i = 0; i < 64; i++)
        if (deg[i].valid) printf(" %d%s", deg[i].tp, deg[i].kv_replication > 1 ? "*" : "");
    printf("   (* KV heads replicated)\n");
    mt_ctx_free(ctx);
    return 0;
}
