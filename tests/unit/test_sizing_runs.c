/* Vouched layer runs (trace/graph_internal.h): the shared decoder loop vouches
 * that a layer's forward reads only its own modules, the tensors it passes
 * and what every layer shares, and the sizing pass then copies an identical
 * layer's index from an earlier one without reading its nodes. These tests
 * hold the loop to that promise on every config the suite has: each copied
 * layer must also be identical to its template read node by node (every
 * argument, the fresh token-count symbols of MoE routing renamed) and, when
 * it has no such symbol, by the structural hash (the pass's own rule when
 * nothing is vouched), and every figure (the JSON with its sizing member,
 * the summary, the module tables) must be byte-identical with the runs and
 * without them. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph_internal.h"
#include "model_internal.h"
#include "testutil.h"
#include "tiny_configs.h"

/* Every figure a user reads off the pass, as text. */
static char *figures(mt_model *m, mt_graph *g, const char *what) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cr_assert_not_null(f);
    mt_sizing s;
    cr_assert_eq(mt_model_sizing(m, g, NULL, &s), MT_OK, "%s: sizing: %s", what, mt_ctx_errmsg(m->ctx));
    mt_json_opts jo = {.stable = true, .compact = true};
    cr_assert_eq(mt_export_json_opts(m, g, &s, &jo, f), MT_OK, "%s: json: %s", what, mt_ctx_errmsg(m->ctx));
    cr_assert_eq(mt_export_summary_sized(m, g, &s, f), MT_OK, "%s: summary: %s", what, mt_ctx_errmsg(m->ctx));
    cr_assert_eq(mt_export_module_table(m, g, &s, 3, false, f), MT_OK, "%s: table", what);
    cr_assert_eq(mt_export_module_table(m, g, &s, 3, true, f), MT_OK, "%s: unfolded table", what);
    fclose(f);
    return buf;
}

typedef struct tally {
    int graphs, copied;
} tally;

/* One model traced one way: copied spans confirmed, figures equal. */
static void check_graph(mt_model *m, mt_graph *g, const char *what, tally *t) {
    int confirmed = 0, copied = mt__sizing_check_runs(m->ctx, g, &confirmed);
    cr_assert_geq(copied, 0, "%s: %s", what, mt_ctx_errmsg(m->ctx));
    cr_assert_eq(confirmed, copied, "%s: %d layers copied on the decoder loop's word, only %d identical node by node",
                 what, copied, confirmed);
    char *with = figures(m, g, what);
    mt__graph_drop_runs(g);
    int c2 = 0;
    cr_assert_eq(mt__sizing_check_runs(m->ctx, g, &c2), 0, "%s: runs dropped, still copied", what);
    char *without = figures(m, g, what);
    if (strcmp(with, without) != 0) {
        size_t i = 0;
        while (with[i] && with[i] == without[i]) i++;
        size_t from = i > 80 ? i - 80 : 0;
        cr_assert_fail("%s: figures differ at byte %zu:\n  runs:    %.160s\n  no runs: %.160s", what, i, with + from,
                       without + from);
    }
    free(with);
    free(without);
    t->graphs++;
    t->copied += copied;
}

/* The config symbolic and bound (batch 1, seq 64), with impls_too in every
 * attention implementation the family has. */
static void check_config(const char *json, const char *what, int64_t layers, bool impls_too, tally *t) {
    static const mt_attn_impl impls[] = {MT_ATTN_IMPL_DEFAULT, MT_ATTN_IMPL_EAGER, MT_ATTN_IMPL_SDPA};
    for (size_t a = 0; a < (impls_too ? sizeof impls / sizeof *impls : 1); a++)
        for (int bound = 0; bound < 2; bound++) {
            mt_ctx *ctx = mt_ctx_new();
            mt_config *cfg = mt_config_parse(ctx, json, strlen(json), "config.json");
            cr_assert_not_null(cfg, "%s: %s", what, mt_ctx_errmsg(ctx));
            mt_build_opts o = {.dtype = MT_DTYPE_NONE, .num_layers = layers, .attn = impls[a]};
            mt_model *m = mt_model_build(ctx, cfg, &o);
            if (!m) { /* an implementation the family does not have, or per-layer lists of another length */
                cr_assert(impls[a] != MT_ATTN_IMPL_DEFAULT || layers, "%s: build: %s", what, mt_ctx_errmsg(ctx));
                mt_ctx_free(ctx);
                continue;
            }
            static const char *const names[] = {"batch", "seq"};
            static const int64_t vals[] = {1, 64};
            mt_trace_opts to = {.bind = {names, vals, 2}};
            mt_graph *g = mt_model_trace(m, bound ? &to : NULL);
            cr_assert_not_null(g, "%s: trace: %s", what, mt_ctx_errmsg(ctx));
            char label[512];
            snprintf(label, sizeof label, "%s (attn %d, %s)", what, (int)impls[a], bound ? "bound" : "symbolic");
            check_graph(m, g, label, t);
            mt_ctx_free(ctx);
        }
}

Test(sizing_runs, tiny_configs_of_every_family) {
    tally t = {0, 0};
    for (int i = 0; i < TINY_CONFIG_COUNT; i++) {
        check_config(tiny_configs[i].json, tiny_configs[i].model_type, 0, true, &t);
        check_config(tiny_configs[i].json, tiny_configs[i].model_type, 6, true, &t);
    }
    /* (the test can fail: the loop's layers are copied, so the check above has something to check) */
    cr_assert_gt(t.copied, TINY_CONFIG_COUNT, "only %d layers copied over %d graphs", t.copied, t.graphs);
}

static void check_files(const char *dir, tally *t) {
    DIR *d = opendir(tu_src(dir));
    cr_assert_not_null(d, "cannot list %s", dir);
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 5 || strcmp(e->d_name + len - 5, ".json") != 0) continue;
        char rel[1024];
        snprintf(rel, sizeof rel, "%s/%s", dir, e->d_name);
        size_t n;
        char *json = tu_read(tu_src(rel), &n);
        cr_assert_not_null(json, "%s", rel);
        check_config(json, rel, 0, false, t);
        free(json);
    }
    closedir(d);
}

Test(sizing_runs, shipped_configs, .timeout = 600) {
    tally t = {0, 0};
    check_files("samples/configs", &t);
    check_files("samples/configs/multimodal", &t);
    check_files("samples/configs/quantized", &t);
    check_files("tests/bench/configs", &t);
    /* Llama-2-70B alone: 79 of its 80 layers copied (all but layer 0) */
    cr_assert_gt(t.copied, 79, "%d layers copied over %d graphs", t.copied, t.graphs);
}

Test(sizing_runs, llama_copies_all_but_the_first_layer) {
    /* tiny llama at 6 layers: layer 0 is read node by node; layer 1 takes its nodes shifted, its
     * stream (the hidden state) its own (layer 0's output where layer 0 read the embedding's);
     * layers 2-5 likewise from the layer before */
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build_text(ctx, tiny_for("llama")->json, 6);
    mt_graph *g = tu_trace(m);
    int confirmed = 0;
    cr_assert_eq(mt__sizing_check_runs(ctx, g, &confirmed), 5);
    cr_assert_eq(confirmed, 5);
    int nruns = 0;
    const mt__layer_run *r = mt__graph_runs(g, &nruns);
    cr_assert_eq(nruns, 6);
    for (int i = 0; i < 6; i++) {
        char path[32];
        snprintf(path, sizeof path, "model.layers.%d", i);
        cr_assert_str_eq(r[i].layer->path, path);
        cr_assert_eq(r[i].nin, 4);
        cr_assert_eq(r[i].nstream, 1);
        cr_assert(r[i].first < r[i].end && (i == 0 || r[i - 1].end <= r[i].first));
    }
    mt_ctx_free(ctx);
}

Test(sizing_runs, moe_layers_copied_with_their_own_routing_symbols) {
    /* tiny mixtral at 6 layers: every layer routes its tokens through nonzero, each with fresh
     * nnz symbols of its own; layers 1-5 are copied from the layer before all the same, and read
     * node by node they equal layer 0 once the k-th symbol of each is renamed to the same value */
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build_text(ctx, tiny_for("mixtral")->json, 6);
    mt_graph *g = tu_trace(m);
    cr_assert_gt(tu_count_ops(g, MT_OP_NONZERO, "model.layers.5"), 0, "the layer routes through nonzero");
    int confirmed = 0;
    cr_assert_eq(mt__sizing_check_runs(ctx, g, &confirmed), 5);
    cr_assert_eq(confirmed, 5);
    mt_ctx_free(ctx);
}
