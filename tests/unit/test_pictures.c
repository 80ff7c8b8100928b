/* The default pictures (export/dot.c over export/fold.c): folded layers and
 * experts, --depth, --module, short labels, fills, and the CLI's guards.
 *
 * Every picture is read back by cgraph and counted. The expected counts come
 * from the traced graph itself through a mapping written here (a node under
 * a folded entry counts as the fold node; an edge joins the mapped ends once
 * per pair, none inside a group), and the per-layer and per-expert node
 * counts from the transformers forwards, by hand. */
#include <signal.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <graphviz/cgraph.h>

#include "export_testutil.h"

#define TINY "tests/snapshots/tiny-llama.config.json"
#define MIXTRAL "samples/configs/mistralai--Mixtral-8x7B-v0.1.config.json"
#define GEMMA2 "samples/configs/Ayush2006128--mithoon-2b.gemma-2-2b-finetune.config.json"
#define DSV3 "samples/configs/deepseek-ai--DeepSeek-V3.config.json"

static char *cs(const char *s) { return (char *)s; }

static char *picture(mt_model *m, mt_graph *g, const mt_picture_opts *po)
{
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    cr_assert_not_null(f);
    mt_status st = mt_export_dot_opts(m, g, po, f);
    cr_assert_eq(fclose(f), 0);
    cr_assert_eq(st, MT_OK, "%s", mt_ctx_errmsg(m->ctx));
    return buf;
}

static Agraph_t *parse(const char *text)
{
    Agraph_t *ag = agmemread(text);
    cr_assert_not_null(ag, "cgraph cannot read the picture back:\n%.2000s", text);
    return ag;
}

/* A node is under module `path` (or one of its descendants). */
static bool node_under(const mt_node *n, const char *path)
{
    size_t k = strlen(path);
    for (int d = 0; n->stack && d < n->stack->depth; d++) {
        const char *p = n->stack->mods[d]->path;
        if (strncmp(p, path, k) == 0 && (p[k] == '\0' || p[k] == '.'))
            return true;
    }
    return false;
}

/* The expected picture: group[i] is the group node i is drawn in (-1: drawn
 * as itself). Counts nodes (graph nodes outside groups, plus the groups, plus
 * the legend) and distinct edges between the drawn ends. */
typedef struct expect {
    int nodes, edges, in[8], out[8]; /* in/out edges of each group */
} expect;

static int drawn(const int *group, int i) { return group[i] >= 0 ? -2 - group[i] : i; }

static void count_args(const mt_arg *a, int c, const int *group, int n, char *seen, expect *e)
{
    if (a->kind == MT_ARG_LIST) {
        for (int k = 0; k < a->v.list.n; k++)
            count_args(&a->v.list.items[k], c, group, n, seen, e);
        return;
    }
    if (a->kind != MT_ARG_TENSOR)
        return;
    int p = a->v.t->node->index;
    int dp = drawn(group, p), dc = drawn(group, c);
    if (dp == dc)
        return;
    /* pairs as an index into a table of (n + 8)^2 bits would be large:
     * mapped ids fit in n + 8, and the test graphs are small */
    size_t w = (size_t)n + 8, key = (size_t)(dp + 8) * w + (size_t)(dc + 8);
    if (seen[key])
        return;
    seen[key] = 1;
    e->edges++;
    if (dc < 0)
        e->in[-2 - dc]++;
    if (dp < 0)
        e->out[-2 - dp]++;
}

static expect expected(const mt_graph *g, const int *group, int ngroups)
{
    expect e;
    memset(&e, 0, sizeof e);
    size_t w = (size_t)g->n + 8;
    char *seen = calloc(w * w, 1);
    cr_assert_not_null(seen);
    for (int i = 0; i < g->n; i++) {
        e.nodes += group[i] < 0;
        const mt_node *n = g->nodes[i];
        for (int k = 0; k < n->nargs; k++)
            count_args(&n->args[k], i, group, g->n, seen, &e);
        for (int k = 0; k < n->nkwargs; k++)
            count_args(&n->kwargs[k].value, i, group, g->n, seen, &e);
    }
    e.nodes += ngroups + 1; /* the groups, the legend */
    free(seen);
    return e;
}

static int in_degree(Agraph_t *ag, const char *name)
{
    Agnode_t *n = agnode(ag, cs(name), 0);
    cr_assert_not_null(n, "no node %s", name);
    int k = 0;
    for (Agedge_t *e = agfstin(ag, n); e; e = agnxtin(ag, e))
        k++;
    return k;
}

static int out_degree(Agraph_t *ag, const char *name)
{
    Agnode_t *n = agnode(ag, cs(name), 0);
    cr_assert_not_null(n, "no node %s", name);
    int k = 0;
    for (Agedge_t *e = agfstout(ag, n); e; e = agnxtout(ag, e))
        k++;
    return k;
}

/* Layers 1..5 of a 6-layer Llama fold into one node after layer 0. */
Test(pictures, folded_llama_counts)
{
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build(ctx, tu_src(TINY), 6);
    mt_graph *g = tu_trace(m);
    int *group = malloc((size_t)g->n * sizeof *group);
    int per_layer[6] = {0};
    for (int i = 0; i < g->n; i++) {
        group[i] = -1;
        for (int k = 0; k < 6; k++) {
            char path[32];
            snprintf(path, sizeof path, "model.layers.%d", k);
            if (node_under(g->nodes[i], path)) {
                per_layer[k]++;
                if (k >= 1)
                    group[i] = 0;
            }
        }
    }
    /* LlamaDecoderLayer, by hand: input_layernorm 9 (to, pow, mean, add, rsqrt,
     * mul, weight, to, mul); self_attn 37 (q/k/v_proj 3, view+transpose x3 6,
     * cos/sin unsqueeze 2, rotate_half and the two products for q and k 7 + 7,
     * repeat_kv getitem/expand/reshape for k and v 3 + 3, mask slice 1, sdpa 1,
     * transpose/contiguous/view 3, o_proj 1); residual add 1;
     * post_attention_layernorm 9; mlp 5 (gate_proj, act_fn, up_proj, mul,
     * down_proj); residual add 1: 62. */
    for (int k = 0; k < 6; k++)
        cr_assert_eq(per_layer[k], 62, "layer %d: %d nodes", k, per_layer[k]);
    expect e = expected(g, group, 1);
    cr_assert_eq(e.nodes, g->n - 5 * 62 + 1 + 1);
    char *text = picture(m, g, NULL);
    Agraph_t *ag = parse(text);
    cr_assert_eq(agnnodes(ag), e.nodes, "nodes");
    cr_assert_eq(agnedges(ag), e.edges, "edges");
    /* into the fold: layer 0's output, the rotary cos and sin, the mask; out
     * of it: the final norm's cast, nothing else */
    cr_assert_eq(in_degree(ag, "fold_model_layers_1_5"), 4);
    cr_assert_eq(e.in[0], 4);
    cr_assert_eq(out_degree(ag, "fold_model_layers_1_5"), 1);
    const char *label = agget(agnode(ag, cs("fold_model_layers_1_5"), 0), cs("label"));
    cr_assert(strstr(label, "layers 1-5 (x 5, identical)\\nLlamaDecoderLayer\\nin [b, s, 64]"), "%s", label);
    cr_assert(strstr(label, "\\nout [b, s, 64]\\n"), "%s", label);
    /* parameters of a tiny layer: q 64x64, k/v 64x32 each, o 64x64, gate/up/down
     * 3x64x176, two norms 64: 4096+2048+2048+4096+33792+128 = 46208, x 5 */
    cr_assert(strstr(label, "231.04K params (46.21K each)"), "%s", label);
    /* layer 0 stays drawn, the others are gone */
    cr_assert_not_null(agsubg(agsubg(ag, cs("cluster_model"), 0), cs("cluster_model_layers_0"), 0));
    cr_assert_null(agnode(ag, cs("model_layers_1_self_attn_q_proj"), 0));
    cr_assert_not_null(agnode(ag, cs("model_layers_0_self_attn_q_proj"), 0));
    /* short labels and fills */
    Agnode_t *q = agnode(ag, cs("model_layers_0_self_attn_q_proj"), 0);
    cr_assert_str_eq(agget(q, cs("label")), "q_proj  Linear  [b, s, 64]");
    cr_assert_str_eq(agget(q, cs("fillcolor")), "#a6cee3");
    cr_assert_not_null(agnode(ag, cs("legend"), 0));
    agclose(ag);
    free(text);
    /* --unfold draws every node, and the graph's edges */
    mt_picture_opts po = {.unfold = true};
    text = picture(m, g, &po);
    ag = parse(text);
    cr_assert_eq(agnnodes(ag), g->n + 1);
    cr_assert_null(agnode(ag, cs("fold_model_layers_1_5"), 0));
    agclose(ag);
    free(text);
    /* under MT_PICTURE_FOLD_MIN layers nothing folds */
    mt_ctx_free(ctx);
    ctx = mt_ctx_new();
    m = tu_build(ctx, tu_src(TINY), MT_PICTURE_FOLD_MIN - 1);
    g = tu_trace(m);
    text = picture(m, g, NULL);
    ag = parse(text);
    cr_assert_eq(agnnodes(ag), g->n + 1);
    agclose(ag);
    free(text);
    free(group);
    mt_ctx_free(ctx);
}

/* Mixtral's experts 1..7 fold with the glue of their loop iterations. */
Test(pictures, folded_experts)
{
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build(ctx, tu_src(MIXTRAL), 1);
    mt_graph *g = tu_trace(m);
    /* one expert's iteration of MixtralSparseMoeBlock's loop, by hand:
     * expert_mask[e] getitem, torch.where (nonzero + 2 getitems), the tokens'
     * index_select; the expert w1, act_fn, w3, mul, w2; the routing weights'
     * index_select, unsqueeze, gather, mul, cast, index_add_: 16 nodes */
    int first = -1, last = -1, under = 0;
    for (int i = 0; i < g->n; i++)
        if (node_under(g->nodes[i], "model.layers.0.block_sparse_moe.experts.1")) {
            under++;
            if (first < 0)
                first = i;
            last = i;
        }
    cr_assert_eq(under, 5);
    int seg_lo = first - 5, seg_hi = last + 6; /* one iteration: 5 before, 6 after */
    cr_assert_str_eq(g->nodes[seg_lo]->target, "operator.getitem");
    cr_assert_str_eq(g->nodes[seg_hi]->target, "index_add_");
    int *group = malloc((size_t)g->n * sizeof *group);
    int folded = 0;
    for (int i = 0; i < g->n; i++) {
        /* experts 1..7: from expert 1's iteration to expert 7's last index_add_ */
        group[i] = i >= seg_lo && i <= seg_lo + 7 * 16 - 1 ? 0 : -1;
        folded += group[i] == 0;
    }
    cr_assert_eq(folded, 112);
    cr_assert_str_eq(g->nodes[seg_lo + 7 * 16 - 1]->target, "index_add_");
    expect e = expected(g, group, 1); /* one layer: only the experts fold */
    char *text = picture(m, g, NULL);
    Agraph_t *ag = parse(text);
    const char *id = "fold_model_layers_0_block_sparse_moe_experts_1_7";
    cr_assert_not_null(agnode(ag, cs(id), 0), "%s", text);
    cr_assert_eq(agnnodes(ag), e.nodes);
    cr_assert_eq(agnedges(ag), e.edges);
    /* in: the expert mask (permute), the hidden states (view), the routing
     * weights, and expert 0's index_add_ accumulator; out: the last
     * accumulator to the reshape back */
    cr_assert_eq(in_degree(ag, id), 4);
    cr_assert_eq(out_degree(ag, id), 1);
    const char *label = agget(agnode(ag, cs(id), 0), cs("label"));
    cr_assert(strstr(label, "experts 1-7 (x 7, identical)\\nMixtralBlockSparseTop2MLP"), "%s", label);
    /* 3 x 4096 x 14336 per expert */
    cr_assert(strstr(label, "1.23B params (176.16M each)"), "%s", label);
    agclose(ag);
    free(text);
    free(group);
    mt_ctx_free(ctx);
}

/* Gemma 2 alternates sliding and global layers: layers 0-1 are drawn, the
 * rest fold as repeats of that pattern; sliding layers never fold with
 * global ones (they read another mask). */
Test(pictures, periodic_layers)
{
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build(ctx, tu_src(GEMMA2), 8);
    mt_graph *g = tu_trace(m);
    int *group = malloc((size_t)g->n * sizeof *group);
    for (int i = 0; i < g->n; i++) {
        group[i] = -1;
        for (int k = 2; k < 8; k++) {
            char path[32];
            snprintf(path, sizeof path, "model.layers.%d", k);
            if (node_under(g->nodes[i], path))
                group[i] = 0;
        }
    }
    expect e = expected(g, group, 1);
    char *text = picture(m, g, NULL);
    Agraph_t *ag = parse(text);
    Agnode_t *f = agnode(ag, cs("fold_model_layers_2_7"), 0);
    cr_assert_not_null(f, "%s", text);
    cr_assert(strstr(agget(f, cs("label")), "layers 2-7 (x 3, pattern of 0-1)"), "%s", agget(f, cs("label")));
    cr_assert_eq(agnnodes(ag), e.nodes);
    cr_assert_eq(agnedges(ag), e.edges);
    agclose(ag);
    free(text);
    free(group);
    mt_ctx_free(ctx);
}

/* --depth 2: each layer is one node (layer 0; the rest folded), modules at
 * depth 2 (embed_tokens, norm, rotary_emb) keep their nodes. */
Test(pictures, depth_collapses_modules)
{
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build(ctx, tu_src(TINY), 6);
    mt_graph *g = tu_trace(m);
    int *group = malloc((size_t)g->n * sizeof *group);
    for (int i = 0; i < g->n; i++)
        group[i] = node_under(g->nodes[i], "model.layers.0") ? 0 : -1;
    for (int i = 0; i < g->n; i++)
        for (int k = 1; k < 6; k++) {
            char path[32];
            snprintf(path, sizeof path, "model.layers.%d", k);
            if (node_under(g->nodes[i], path))
                group[i] = 1;
        }
    expect e = expected(g, group, 2);
    mt_picture_opts po = {.depth = 2};
    char *text = picture(m, g, &po);
    Agraph_t *ag = parse(text);
    cr_assert_eq(agnnodes(ag), e.nodes);
    cr_assert_eq(agnedges(ag), e.edges);
    Agnode_t *l0 = agnode(ag, cs("module_model_layers_0"), 0);
    cr_assert_not_null(l0, "%s", text);
    const char *label = agget(l0, cs("label"));
    /* 46,208 parameters; FLOPs at the sizing defaults are some number */
    cr_assert(strstr(label, "0  LlamaDecoderLayer\\nin [b, s, 64], "), "%s", label);
    cr_assert(strstr(label, "\\nout [b, s, 64]\\n46.21K params, "), "%s", label);
    cr_assert(strstr(label, "FLOP"), "%s", label);
    cr_assert(strstr(agget(ag, cs("label")), "FLOPs at batch 1, seq "), "%s", agget(ag, cs("label")));
    agclose(ag);
    free(text);
    /* --depth 3: inside the layer, attention and the MLP are one node each */
    po.depth = 3;
    text = picture(m, g, &po);
    ag = parse(text);
    cr_assert_not_null(agnode(ag, cs("module_model_layers_0_self_attn"), 0));
    cr_assert_not_null(agnode(ag, cs("module_model_layers_0_mlp"), 0));
    cr_assert_null(agnode(ag, cs("model_layers_0_self_attn_q_proj"), 0));
    agclose(ag);
    free(text);
    free(group);
    mt_ctx_free(ctx);
}

/* --module draws one subtree, with what feeds it and what reads it. */
Test(pictures, module_subtree)
{
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build(ctx, tu_src(TINY), 2);
    mt_graph *g = tu_trace(m);
    const char *path = "model.layers.1.self_attn";
    int inside = 0, ins = 0, outs = 0;
    char *in_seen = calloc((size_t)g->n, 1), *out_seen = calloc((size_t)g->n, 1);
    for (int i = 0; i < g->n; i++) {
        const mt_node *n = g->nodes[i];
        bool u = node_under(n, path);
        inside += u;
        for (int k = 0; k < n->nargs; k++) {
            const mt_arg *a = &n->args[k];
            if (a->kind != MT_ARG_TENSOR)
                continue;
            const mt_node *p = a->v.t->node;
            bool pu = node_under(p, path);
            if (u && !pu && !in_seen[p->index])
                in_seen[p->index] = 1, ins++;
            if (!u && pu && !out_seen[i])
                out_seen[i] = 1, outs++;
        }
    }
    cr_assert_eq(inside, 37);
    /* by hand: the input norm's output, cos, sin and the mask feed it; the
     * residual add reads it */
    cr_assert_eq(ins, 4);
    cr_assert_eq(outs, 1);
    mt_picture_opts po = {.module = path};
    char *text = picture(m, g, &po);
    Agraph_t *ag = parse(text);
    cr_assert_eq(agnnodes(ag), inside + ins + outs + 1);
    cr_assert_not_null(agsubg(ag, cs("cluster_model_layers_1_self_attn"), 0));
    cr_assert_eq(agnsubg(ag), 1);
    cr_assert(strstr(agget(ag, cs("label")), "module model.layers.1.self_attn"));
    agclose(ag);
    free(text);
    /* a path that is not there: a usage error naming the nearest paths */
    po.module = "model.layers.1.self_atn";
    FILE *f = fopen("/dev/null", "w");
    cr_assert_eq(mt_export_dot_opts(m, g, &po, f), MT_ERR_USAGE);
    fclose(f);
    const char *msg = mt_ctx_errmsg(ctx);
    cr_assert(strstr(msg, "no module 'model.layers.1.self_atn'"), "%s", msg);
    cr_assert(strstr(msg, "under 'model.layers.1' there are: model.layers.1.self_attn, model.layers.1.mlp"), "%s",
              msg);
    free(in_seen);
    free(out_seen);
    mt_ctx_free(ctx);
}

/* --verbose-labels: the FX labels; the same input gives the same bytes. */
Test(pictures, verbose_labels_and_determinism)
{
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build(ctx, tu_src(MIXTRAL), 2);
    mt_graph *g = tu_trace(m);
    mt_picture_opts po = {.verbose_labels = true};
    char *text = picture(m, g, &po);
    cr_assert(strstr(text, "label=\"model_layers_0_self_attn_q_proj\\ncall_module model.layers.0.self_attn.q_proj\\n"
                           "[batch, seq, 4096] bfloat16\""),
              "%.3000s", text);
    char *a = picture(m, g, NULL), *b = picture(m, g, NULL);
    cr_assert_str_eq(a, b);
    free(a);
    free(b);
    free(text);
    mt_ctx_free(ctx);
}

/* The plan's DOT folds the same runs: layer 0 keeps its roles and red
 * collectives, layers 1-5 are one node. */
Test(pictures, plan_folded)
{
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build(ctx, tu_src(TINY), 6);
    mt_graph *g = tu_trace(m);
    mt_plan *p = mt_plan_run(m, g, &(mt_plan_opts){.tp = 2});
    cr_assert_not_null(p, "%s", mt_ctx_errmsg(ctx));
    int *group = malloc((size_t)g->n * sizeof *group);
    for (int i = 0; i < g->n; i++) {
        group[i] = -1;
        for (int k = 1; k < 6; k++) {
            char path[32];
            snprintf(path, sizeof path, "model.layers.%d", k);
            if (node_under(g->nodes[i], path))
                group[i] = 0;
        }
    }
    expect e = expected(g, group, 1);
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    cr_assert_eq(mt_plan_export_dot(p, f), MT_OK, "%s", mt_ctx_errmsg(ctx));
    fclose(f);
    Agraph_t *ag = parse(buf);
    cr_assert_eq(agnnodes(ag), e.nodes, "the groups and the plan's legend");
    cr_assert_not_null(agnode(ag, cs("legend"), 0));
    /* the legend names every role's fill, the expert-parallel one included */
    const char *roles[] = {"colwise (output features", "rowwise (input features", "vocab-parallel embedding",
                           "embedding, columns sharded", "bias of a colwise Linear", "expert parallel", "replicated"};
    for (int k = 0; k < 7; k++) cr_assert_not_null(strstr(buf, roles[k]), "legend lacks '%s'", roles[k]);
    /* a sharded activation says what one rank holds: q_proj's [b, s, 64] viewed as
     * [b, s, 4 heads, 16], heads split over 2 ranks */
    Agnode_t *v = agnode(ag, cs("view"), 0);
    cr_assert_not_null(v);
    cr_assert_str_eq(agget(v, cs("xlabel")), "rank [b, s, 2, 16]");
    cr_assert_eq(agnedges(ag), e.edges);
    cr_assert_not_null(agnode(ag, cs("fold_model_layers_1_5"), 0));
    /* layer 0's attention output is all-reduced into the residual add */
    Agnode_t *o = agnode(ag, cs("model_layers_0_self_attn_o_proj"), 0);
    cr_assert_not_null(o);
    int red = 0;
    for (Agedge_t *x = agfstout(ag, o); x; x = agnxtout(ag, x))
        red += strcmp(agget(x, cs("color")), "red") == 0;
    cr_assert_eq(red, 1, "%s", buf);
    cr_assert_str_eq(agget(o, cs("xlabel")), "rowwise");
    agclose(ag);
    free(buf);
    free(group);
    mt_ctx_free(ctx);
}

/* ---- the CLI ----------------------------------------------------------------- */

XT_WORK_SUITE(pictures_cli);

#define RUN(...) xt_run_result(MT_SOURCE_DIR, (const char *const[]){__VA_ARGS__, NULL})

Test(pictures_cli, options_and_usage_errors)
{
    char *out = xt_join(xt_work, "x.dot");
    xt_result r = RUN(TINY, "--layers", "6", "--depth", "2", "--module", "model", "-o", out);
    cr_assert_eq(r.status, 0, "%s", r.err);
    char *text = tu_read(out, NULL);
    cr_assert(strstr(text, "module_model_layers_0"), "%s", text);
    cr_assert(strstr(text, "fold_model_layers_1_5"), "%s", text);
    free(text);
    xt_result_free(&r);
    r = RUN(TINY, "--module", "model.layer", "-o", out);
    cr_assert_eq(r.status, 2, "%s", r.err);
    cr_assert(strstr(r.err, "--module: no module 'model.layer' in LlamaForCausalLM; under 'model' there are: "
                            "model.embed_tokens, model.layers, model.norm, model.rotary_emb"),
              "%s", r.err);
    xt_result_free(&r);
    const char *bad[][4] = {
        {"--module", "model", "-f", "json"},
        {"--verbose-labels", "-f", "summary", NULL},
        {"--unfold", "-f", "json", NULL},
        {"--verbose-labels", "--tp", "2", NULL}, /* the plan's table */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = bad[i][3] ? RUN(TINY, bad[i][0], bad[i][1], bad[i][2], bad[i][3])
                      : RUN(TINY, bad[i][0], bad[i][1], bad[i][2]);
        cr_assert_eq(r.status, 2, "case %zu: %s", i, r.err);
        cr_assert(strstr(r.err, "shape"), "case %zu: %s", i, r.err);
        xt_result_free(&r);
    }
    free(out);
}

/* A layout Graphviz would spend minutes on is refused before it starts, with
 * the node count and what to do instead; nothing is written. */
Test(pictures_cli, slow_render_refused, .timeout = 120)
{
    char *out = xt_join(xt_work, "ds.png");
    xt_result r = RUN(DSV3, "--layers", "4", "--unfold", "-o", out);
    cr_assert_eq(r.status, 1, "%s", r.err);
    cr_assert(strstr(r.err, "metatrace: error: render: "), "%s", r.err);
    cr_assert(strstr(r.err, " nodes and "), "%s", r.err);
    cr_assert(strstr(r.err, "Graphviz would take about "), "%s", r.err);
    cr_assert(strstr(r.err, "--depth N"), "%s", r.err);
    cr_assert_eq(xt_count_entries(xt_work), 0);
    xt_result_free(&r);
    /* the same model folded is drawn */
    r = RUN(DSV3, "--layers", "4", "-o", out);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(tu_exists(out));
    xt_result_free(&r);
    free(out);
}

/* A PNG taller than cairo can draw is refused, not shrunk to illegibility. */
Test(pictures_cli, png_beyond_cairo_refused, .timeout = 200)
{
    char *out = xt_join(xt_work, "tall.png");
    /* 16 unfolded layers lay out (about 10 s) 39,000 pixels tall */
    xt_result r = RUN(TINY, "--layers", "16", "--unfold", "-o", out);
    cr_assert_eq(r.status, 1, "%s", r.err);
    cr_assert(strstr(r.err, "render: the PNG would be "), "%s", r.err);
    cr_assert(strstr(r.err, "more than the 32767 a side cairo can draw"), "%s", r.err);
    cr_assert(strstr(r.err, "write .svg"), "%s", r.err);
    cr_assert_eq(xt_count_entries(xt_work), 0);
    xt_result_free(&r);
    free(out);
}

/* SIGTERM (or SIGINT) during a render: no file, no temporary. */
Test(pictures_cli, signal_during_render_leaves_nothing, .timeout = 120)
{
    int sigs[2] = {SIGTERM, SIGINT};
    for (int k = 0; k < 2; k++) {
        char *out = xt_join(xt_work, "slow.svg");
        const char *const argv[] = {MT_CLI_PATH, tu_src(TINY), "--layers", "12", "--unfold", "-o", out, NULL};
        fflush(NULL);
        pid_t pid = fork();
        cr_assert(pid >= 0);
        if (pid == 0) {
            signal(SIGINT, SIG_DFL);
            signal(SIGTERM, SIG_DFL);
            int devnull = open("/dev/null", O_WRONLY);
            dup2(devnull, 2);
            execv(MT_CLI_PATH, (char *const *)argv);
            _exit(127);
        }
        nanosleep(&(struct timespec){0, 700 * 1000 * 1000}, NULL); /* laying out by now (it takes seconds) */
        kill(pid, sigs[k]);
        int st = 0;
        waitpid(pid, &st, 0);
        cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == sigs[k], "died of the signal (status %d)", st);
        cr_assert_eq(xt_count_entries(xt_work), 0, "nothing left behind");
        free(out);
    }
}
