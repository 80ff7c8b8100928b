/* The DOT writer (export/dot.c) against the cgraph builder it replaced,
 * drawing the plain FX graph (mt_picture_opts: unfold, verbose_labels, plain).
 *
 * The reference below is the exporter as it was before the writer: the graph
 * built through cgraph (agopen, nested cluster subgraphs, agedge) and printed
 * by agwrite, with the plan colours set through agxset. Both texts are parsed
 * back by cgraph (agmemread) and compared as graphs: the root's attributes,
 * every node with every attribute (an undeclared attribute reads as "", as
 * Graphviz treats it), every edge with its attributes, and every cluster with
 * its attributes, its nodes, its edges and its sub-clusters, nested the same
 * way. Byte equality is not asked (the layout of the text changed); the
 * graphs Graphviz reads must be the same.
 *
 * Also: the read-back counts against the traced graph itself for every
 * shipped config, quoting and escaping of awkward names and labels as cgraph
 * reads them, refusal of a name with no DOT spelling, determinism. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <graphviz/cgraph.h>

#include "export_testutil.h"
#include "tiny_configs.h"

/* ---- the reference: today's cgraph builder ----------------------------------- */

static char *cs(const char *s) { return (char *)s; }

/* Graphviz label text as the old builder escaped it. */
static void lab(FILE *f, const char *s)
{
    for (const char *p = s; *p; p++) {
        if (*p == '\\')
            fputs("\\\\", f);
        else if (*p == '\n')
            fputs("\\n", f);
        else
            fputc(*p, f);
    }
}

/* A label built with the old label escaping into a malloc'd string. */
typedef struct mstr {
    char *p;
    size_t n;
    FILE *f;
} mstr;

static void ms_open(mstr *m)
{
    m->p = NULL;
    m->n = 0;
    m->f = open_memstream(&m->p, &m->n);
    cr_assert_not_null(m->f);
}

static char *ms_close(mstr *m)
{
    cr_assert_eq(fclose(m->f), 0);
    return m->p;
}

static void ms_tensor(mstr *m, const mt_tensor *t)
{
    fputs("[", m->f);
    for (int i = 0; i < t->ndim; i++) {
        if (i)
            fputs(", ", m->f);
        lab(m->f, t->shape[i] ? mt_sym_str(t->shape[i]) : "?");
    }
    fputs("] ", m->f);
    lab(m->f, t->dtype == MT_DTYPE_NONE ? "?" : mt_dtype_name(t->dtype));
}

static char *ref_node_label(const mt_node *n)
{
    mstr m;
    ms_open(&m);
    lab(m.f, n->name);
    fputs("\\n", m.f);
    lab(m.f, mt_opkind_name(n->op));
    const char *target = n->target ? n->target : n->op == MT_NODE_OUTPUT ? "output" : n->name;
    fputs(" ", m.f);
    lab(m.f, target);
    if (!(n->op == MT_NODE_OUTPUT || n->nout <= 0 || !n->outs)) {
        fputs("\\n", m.f);
        if (!n->is_tuple) {
            ms_tensor(&m, &n->outs[0]);
        } else {
            fputs("(", m.f);
            for (int i = 0; i < n->nout; i++) {
                if (i)
                    fputs(", ", m.f);
                ms_tensor(&m, &n->outs[i]);
            }
            fputs(")", m.f);
        }
    }
    return ms_close(&m);
}

typedef struct ref_cl {
    const mt_module *mod;
    Agraph_t *sg;
} ref_cl;

typedef struct ref {
    Agraph_t *root;
    ref_cl *cl;
    int ncl, cap;
} ref;

static Agraph_t *ref_cluster(ref *r, mt_ctx *ctx, const mt_module *mod, Agraph_t *parent)
{
    for (int i = 0; i < r->ncl; i++) /* quadratic, and fine for a test */
        if (r->cl[i].mod == mod)
            return r->cl[i].sg;
    const char *name = mt_sprintf(ctx, "cluster_%s", mt_fx_name(ctx, mod->path));
    Agraph_t *sg = agsubg(parent, cs(name), 1);
    cr_assert_not_null(sg);
    mstr m;
    ms_open(&m);
    lab(m.f, mod->path);
    fputs(" (", m.f);
    lab(m.f, mod->type ? mod->type : "?");
    fputs(")", m.f);
    char *l = ms_close(&m);
    agset(sg, cs("label"), l);
    free(l);
    if (r->ncl == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 64;
        r->cl = realloc(r->cl, (size_t)r->cap * sizeof *r->cl);
        cr_assert_not_null(r->cl);
    }
    r->cl[r->ncl++] = (ref_cl){mod, sg};
    return sg;
}

static void ref_edges(Agraph_t *root, Agnode_t **agn, int *mark, const mt_arg *a, int consumer)
{
    if (a->kind == MT_ARG_LIST) {
        for (int i = 0; i < a->v.list.n; i++)
            ref_edges(root, agn, mark, &a->v.list.items[i], consumer);
        return;
    }
    if (a->kind != MT_ARG_TENSOR)
        return;
    const mt_node *p = a->v.t->node;
    if (mark[p->index] == consumer + 1)
        return;
    mark[p->index] = consumer + 1;
    cr_assert_not_null(agedge(root, agn[p->index], agn[consumer], NULL, 1));
}

static Agraph_t *ref_build(mt_model *m, mt_graph *g)
{
    ref r = {0};
    r.root = agopen(cs("metatrace"), Agdirected, NULL);
    cr_assert_not_null(r.root);
    const char *title = mt_sprintf(m->ctx, "%s (%s), %s, %lld layer%s",
                                   m->class_name ? m->class_name : "model",
                                   m->model_type ? m->model_type : "?",
                                   m->dtype == MT_DTYPE_NONE ? "?" : mt_dtype_name(m->dtype),
                                   (long long)m->num_layers, m->num_layers == 1 ? "" : "s");
    agattr(r.root, AGRAPH, cs("label"), cs(title));
    agattr(r.root, AGRAPH, cs("labelloc"), cs("t"));
    agattr(r.root, AGRAPH, cs("fontname"), cs("Helvetica"));
    agattr(r.root, AGRAPH, cs("style"), cs("rounded"));
    agattr(r.root, AGNODE, cs("label"), cs("\\N"));
    agattr(r.root, AGNODE, cs("shape"), cs("ellipse"));
    agattr(r.root, AGNODE, cs("style"), cs(""));
    agattr(r.root, AGNODE, cs("fontname"), cs("Courier"));
    agattr(r.root, AGNODE, cs("fontsize"), cs("10"));
    static const char *const shape[MT_NODE_KIND_COUNT] = {"invhouse", "box", "ellipse",
                                                          "ellipse", "ellipse", "house"};
    Agnode_t **agn = calloc((size_t)g->n + 1, sizeof *agn);
    int *mark = calloc((size_t)g->n + 1, sizeof *mark);
    cr_assert(agn && mark);
    for (int i = 0; i < g->n; i++) {
        const mt_node *n = g->nodes[i];
        Agraph_t *home = r.root;
        for (int k = 0; n->stack && k < n->stack->depth; k++) {
            const mt_module *mod = n->stack->mods[k];
            if (!mod || !mod->path || !mod->path[0])
                continue;
            if (k == n->stack->depth - 1 && n->op == MT_NODE_CALL_MODULE && mod == n->module)
                break;
            home = ref_cluster(&r, m->ctx, mod, home);
        }
        agn[i] = agnode(home, cs(n->name), 1);
        cr_assert_not_null(agn[i]);
        char *l = ref_node_label(n);
        agset(agn[i], cs("label"), l);
        free(l);
        if (strcmp(shape[n->op], "ellipse"))
            agset(agn[i], cs("shape"), cs(shape[n->op]));
        if (n->op == MT_NODE_CALL_MODULE)
            agset(agn[i], cs("style"), cs("bold"));
        for (int k = 0; k < n->nargs; k++)
            ref_edges(r.root, agn, mark, &n->args[k], i);
        for (int k = 0; k < n->nkwargs; k++)
            ref_edges(r.root, agn, mark, &n->kwargs[k].value, i);
    }
    free(agn);
    free(mark);
    free(r.cl);
    return r.root;
}

/* The plan colours as the old dot_plan.c set them on the cgraph graph. */
static void ref_plan(Agraph_t *ag, const mt_plan *p)
{
    static const char *const fill[MT_ROLE_COUNT] = {"white",     "lightblue", "lightsalmon",
                                                    "palegreen", "khaki",     "lightcyan", "plum"};
    const mt_graph *g = p->graph;
    Agsym_t *ncolor = agattr(ag, AGNODE, cs("color"), cs("black"));
    Agsym_t *nfill = agattr(ag, AGNODE, cs("fillcolor"), cs("white"));
    Agsym_t *nstyle = agattr(ag, AGNODE, cs("style"), cs(""));
    Agsym_t *nxlabel = agattr(ag, AGNODE, cs("xlabel"), cs(""));
    Agsym_t *ecolor = agattr(ag, AGEDGE, cs("color"), cs("black"));
    Agsym_t *elabel = agattr(ag, AGEDGE, cs("label"), cs(""));
    Agsym_t *ewidth = agattr(ag, AGEDGE, cs("penwidth"), cs("1"));
    char title[256];
    snprintf(title, sizeof title, "tensor parallel tp=%d (%s)%s%s", p->tp,
             p->style == MT_PLAN_TRANSFORMERS ? "transformers style" : "metatrace style",
             p->valid ? "" : ": INVALID: ", p->valid ? "" : (p->reason ? p->reason : ""));
    agattr(ag, AGRAPH, cs("label"), cs(title));
    for (int i = 0; i < g->n; i++) {
        const mt_node *n = g->nodes[i];
        Agnode_t *an = agnode(ag, cs(n->name), 0);
        cr_assert_not_null(an);
        const mt_param *want = NULL;
        if (n->op == MT_NODE_GET_ATTR && n->param)
            want = n->param;
        else if (n->op == MT_NODE_CALL_MODULE && n->module)
            want = mt_module_param(n->module, "weight");
        if (want && want->tied_to)
            want = want->tied_to;
        const mt_plan_param *pp = NULL;
        for (int k = 0; want && k < p->nparams; k++) /* linear search: a test */
            if (p->params[k].param == want)
                pp = &p->params[k];
        if (pp) {
            agxset(an, nfill, cs(fill[pp->role]));
            agxset(an, nstyle, cs("filled"));
            agxset(an, nxlabel, cs(mt_plan_role_name(pp->role)));
        }
        if (p->nodes) {
            if (p->nodes[i].kind == MT_PLACE_SHARD)
                agxset(an, ncolor, cs("blue"));
            else if (p->nodes[i].kind == MT_PLACE_PARTIAL)
                agxset(an, ncolor, cs("orange"));
        }
    }
    for (int i = 0; i < p->ncomms; i++) {
        const mt_plan_comm *c = &p->comms[i];
        if (!c->producer || !c->consumer)
            continue;
        Agnode_t *t = agnode(ag, cs(c->producer->name), 0);
        Agnode_t *h = agnode(ag, cs(c->consumer->name), 0);
        Agedge_t *e = (t && h) ? agedge(ag, t, h, NULL, 0) : NULL;
        if (!e)
            continue;
        char l[96];
        snprintf(l, sizeof l, "%s %.0f B/token", mt_comm_kind_name(c->kind), c->wire_per_token);
        agxset(e, ecolor, cs("red"));
        agxset(e, ewidth, cs("2"));
        agxset(e, elabel, cs(l));
    }
}

/* agwrite's text of a reference graph (the graph is closed). */
static char *ref_text(Agraph_t *ag)
{
    mstr m;
    ms_open(&m);
    cr_assert_eq(agwrite(ag, m.f), 0);
    agclose(ag);
    return ms_close(&m);
}

/* ---- the new writer's text --------------------------------------------------- */

/* The plain FX graph (every node, FX labels, no fills or layout hints): the
 * graph the old builder drew. The pictures drawn by default (folded, short
 * labels, fills) are tested in test_pictures.c. */
static char *dot_text(mt_model *m, mt_graph *g)
{
    mstr s;
    ms_open(&s);
    mt_picture_opts po = {.unfold = true, .verbose_labels = true, .plain = true};
    mt_status st = mt_export_dot_opts(m, g, &po, s.f);
    char *t = ms_close(&s);
    cr_assert_eq(st, MT_OK, "%s", mt_ctx_errmsg(m->ctx));
    return t;
}

static char *plan_text(const mt_plan *p)
{
    mstr s;
    ms_open(&s);
    mt_picture_opts po = {.unfold = true, .verbose_labels = true, .plain = true};
    mt_status st = mt_plan_export_dot_opts(p, &po, s.f);
    char *t = ms_close(&s);
    cr_assert_eq(st, MT_OK, "%s", mt_ctx_errmsg(p->ctx));
    return t;
}

static Agraph_t *parse(const char *text, const char *what)
{
    Agraph_t *g = agmemread(text);
    cr_assert_not_null(g, "%s: cgraph cannot read the DOT back", what);
    return g;
}

/* ---- comparing two graphs as cgraph reads them ------------------------------ */

typedef struct diff {
    char msg[512];
} diff;

#define DIFF(d, ...) (snprintf((d)->msg, sizeof (d)->msg, __VA_ARGS__), false)

static const char *val(void *obj, Agraph_t *root, int kind, const char *name)
{
    Agsym_t *s = agattr(root, kind, cs(name), NULL);
    const char *v = s ? agxget(obj, s) : NULL;
    return v ? v : "";
}

/* Every attribute declared in a or b has the same value on oa and ob. */
static bool same_attrs(Agraph_t *a, void *oa, Agraph_t *b, void *ob, int kind, const char *what, diff *d)
{
    Agraph_t *gs[2] = {a, b};
    for (int k = 0; k < 2; k++)
        for (Agsym_t *s = agnxtattr(gs[k], kind, NULL); s; s = agnxtattr(gs[k], kind, s)) {
            const char *va = val(oa, a, kind, s->name), *vb = val(ob, b, kind, s->name);
            if (strcmp(va, vb) != 0)
                return DIFF(d, "%s: attribute %s: '%s' vs '%s'", what, s->name, va, vb);
        }
    return true;
}

static bool same_clusters(Agraph_t *ra, Agraph_t *sa, Agraph_t *rb, Agraph_t *sb, diff *d)
{
    const char *name = agnameof(sa);
    if (agnnodes(sa) != agnnodes(sb))
        return DIFF(d, "%s: %d vs %d nodes", name, agnnodes(sa), agnnodes(sb));
    if (agnedges(sa) != agnedges(sb))
        return DIFF(d, "%s: %d vs %d edges", name, agnedges(sa), agnedges(sb));
    if (agnsubg(sa) != agnsubg(sb))
        return DIFF(d, "%s: %d vs %d subgraphs", name, agnsubg(sa), agnsubg(sb));
    if (sa != ra && !same_attrs(ra, sa, rb, sb, AGRAPH, name, d))
        return false;
    for (Agnode_t *n = agfstnode(sa); n; n = agnxtnode(sa, n)) {
        Agnode_t *nb = agnode(rb, agnameof(n), 0);
        if (!nb || !agsubnode(sb, nb, 0))
            return DIFF(d, "%s: node %s missing", name, agnameof(n));
    }
    for (Agraph_t *c = agfstsubg(sa); c; c = agnxtsubg(c)) {
        Agraph_t *cb = agsubg(sb, agnameof(c), 0);
        if (!cb)
            return DIFF(d, "%s: subgraph %s missing", name, agnameof(c));
        if (!same_clusters(ra, c, rb, cb, d))
            return false;
    }
    return true;
}

/* The edges of a are in b with the same attributes (one per pair in a). */
static bool edges_in(Agraph_t *a, Agraph_t *b, diff *d)
{
    for (Agnode_t *n = agfstnode(a); n; n = agnxtnode(a, n))
        for (Agedge_t *e = agfstout(a, n); e; e = agnxtout(a, e)) {
            Agnode_t *t = agnode(b, agnameof(agtail(e)), 0), *h = agnode(b, agnameof(aghead(e)), 0);
            Agedge_t *eb = t && h ? agedge(b, t, h, NULL, 0) : NULL;
            char what[256];
            snprintf(what, sizeof what, "edge %s -> %s", agnameof(agtail(e)), agnameof(aghead(e)));
            if (!eb)
                return DIFF(d, "%s missing", what);
            if (!same_attrs(a, e, b, eb, AGEDGE, what, d))
                return false;
        }
    return true;
}

static bool same_graph(Agraph_t *a, Agraph_t *b, diff *d)
{
    if (strcmp(agnameof(a), agnameof(b)) != 0 || agisdirected(a) != agisdirected(b) ||
        agisstrict(a) != agisstrict(b))
        return DIFF(d, "graph name or kind differ");
    if (!same_attrs(a, a, b, b, AGRAPH, "graph", d))
        return false;
    for (Agnode_t *n = agfstnode(a); n; n = agnxtnode(a, n)) {
        Agnode_t *nb = agnode(b, agnameof(n), 0);
        if (!nb)
            return DIFF(d, "node %s missing", agnameof(n));
        if (!same_attrs(a, n, b, nb, AGNODE, agnameof(n), d))
            return false;
    }
    return same_clusters(a, a, b, b, d) && edges_in(a, b, d) && edges_in(b, a, d);
}

static void assert_same(const char *ref_dot, const char *new_dot, const char *what)
{
    Agraph_t *a = parse(ref_dot, what), *b = parse(new_dot, what);
    diff d = {{0}};
    bool same = same_graph(a, b, &d);
    diff d2 = {{0}};
    bool same2 = same_graph(b, a, &d2); /* and the other way round */
    agclose(a);
    agclose(b);
    cr_assert(same, "%s: %s", what, d.msg);
    cr_assert(same2, "%s: %s", what, d2.msg);
}

/* Model and plan DOT of one config against the reference. */
static void check_model_titled(mt_model *m, mt_graph *g, const char *what, const char *title)
{
    Agraph_t *ref = ref_build(m, g);
    if (title)
        agattr(ref, AGRAPH, cs("label"), cs(title));
    char *old = ref_text(ref);
    char *now = dot_text(m, g);
    assert_same(old, now, what);
    free(old);
    free(now);
}

static void check_model(mt_model *m, mt_graph *g, const char *what)
{
    check_model_titled(m, g, what, NULL);
}

/* ---- the graph's own counts ------------------------------------------------- */

static int distinct_pairs(const mt_graph *g, const mt_arg *a, int consumer, int *mark)
{
    if (a->kind == MT_ARG_LIST) {
        int k = 0;
        for (int i = 0; i < a->v.list.n; i++)
            k += distinct_pairs(g, &a->v.list.items[i], consumer, mark);
        return k;
    }
    if (a->kind != MT_ARG_TENSOR || mark[a->v.t->node->index] == consumer + 1)
        return 0;
    mark[a->v.t->node->index] = consumer + 1;
    return 1;
}

/* Node, edge and cluster counts of our DOT read back equal the graph's:
 * nodes, distinct (producer, consumer) pairs, and distinct modules that
 * hold a node (a call_module node is not counted in the module it calls). */
static void check_counts(mt_model *m, mt_graph *g, const char *what)
{
    int *mark = calloc((size_t)g->n + 1, sizeof *mark);
    const mt_module **mods = calloc((size_t)g->n * 64 + 1, sizeof *mods);
    cr_assert(mark && mods);
    int edges = 0, nmods = 0;
    for (int i = 0; i < g->n; i++) {
        const mt_node *n = g->nodes[i];
        for (int k = 0; k < n->nargs; k++)
            edges += distinct_pairs(g, &n->args[k], i, mark);
        for (int k = 0; k < n->nkwargs; k++)
            edges += distinct_pairs(g, &n->kwargs[k].value, i, mark);
        for (int k = 0; n->stack && k < n->stack->depth; k++) {
            const mt_module *mod = n->stack->mods[k];
            if (!mod->path[0] ||
                (k == n->stack->depth - 1 && n->op == MT_NODE_CALL_MODULE && mod == n->module))
                continue;
            bool seen = false;
            for (int j = 0; j < nmods && !seen; j++)
                seen = mods[j] == mod;
            if (!seen)
                mods[nmods++] = mod;
        }
    }
    char *text = dot_text(m, g);
    Agraph_t *ag = parse(text, what);
    cr_assert_eq(agnnodes(ag), g->n, "%s: nodes", what);
    cr_assert_eq(agnedges(ag), edges, "%s: edges", what);
    int clusters = 0;
    /* count every subgraph, nested ones included, breadth first */
    Agraph_t **queue = calloc((size_t)nmods + 2, sizeof *queue);
    int qh = 0, qt = 0;
    queue[qt++] = ag;
    while (qh < qt) {
        Agraph_t *s = queue[qh++];
        for (Agraph_t *c = agfstsubg(s); c; c = agnxtsubg(c)) {
            cr_assert_eq(strncmp(agnameof(c), "cluster_", 8), 0, "%s: %s", what, agnameof(c));
            cr_assert_eq(agnedges(c), 0, "%s: edges belong to the root", what);
            clusters++;
            cr_assert(qt < nmods + 2, "%s: more clusters than modules", what);
            queue[qt++] = c;
        }
    }
    cr_assert_eq(clusters, nmods, "%s: clusters", what);
    free(queue);
    agclose(ag);
    free(text);
    free(mark);
    free(mods);
}

/* ---- tests ------------------------------------------------------------------- */

Test(dot_writer, shipped_configs_equal_the_cgraph_graph_and_counts, .timeout = 300)
{
    const char *const *configs;
    int n = tu_shipped_configs(&configs);
    cr_assert_gt(n, 10);
    for (int i = 0; i < n; i++) {
        mt_ctx *ctx = mt_ctx_new();
        mt_model *m = tu_build(ctx, tu_src(configs[i]), 2);
        mt_graph *g = tu_trace(m);
        check_model(m, g, configs[i]);
        check_counts(m, g, configs[i]);
        mt_ctx_free(ctx);
    }
}

Test(dot_writer, tiny_configs_equal_the_cgraph_graph, .timeout = 300)
{
    for (size_t i = 0; i < sizeof tiny_configs / sizeof tiny_configs[0]; i++) {
        mt_ctx *ctx = mt_ctx_new();
        mt_model *m = tu_build_text(ctx, tiny_configs[i].json, 0);
        mt_graph *g = tu_trace(m);
        check_model(m, g, tiny_configs[i].model_type);
        check_counts(m, g, tiny_configs[i].model_type);
        mt_ctx_free(ctx);
    }
}

static void check_plan(const char *config, int64_t layers, mt_plan_opts o, bool expect_valid)
{
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build(ctx, tu_src(config), layers);
    mt_graph *g = tu_trace(m);
    mt_plan *p = mt_plan_run(m, g, &o);
    cr_assert_not_null(p, "%s", mt_ctx_errmsg(ctx));
    cr_assert_eq(p->valid, expect_valid, "%s tp=%d", config, o.tp);
    Agraph_t *ag = ref_build(m, g);
    ref_plan(ag, p);
    char *old = ref_text(ag);
    char *now = plan_text(p);
    char what[256];
    snprintf(what, sizeof what, "%s tp=%d plan", config, o.tp);
    assert_same(old, now, what);
    /* the plan draws something: collectives, roles and placements */
    if (expect_valid) {
        cr_assert(p->ncomms > 0, "%s: no collectives", what);
        cr_assert(strstr(now, "color=red"), "%s", what);
        cr_assert(strstr(now, "xlabel=colwise"), "%s", what);
    } else {
        cr_assert(strstr(now, "INVALID: "), "%s", what);
    }
    free(old);
    free(now);
    mt_ctx_free(ctx);
}

Test(dot_writer, plan_equals_the_cgraph_plan, .timeout = 120)
{
    check_plan("samples/configs/mistralai--Mistral-7B-v0.1.config.json", 2, (mt_plan_opts){.tp = 2}, true);
    check_plan("samples/configs/huggyllama--llama-7b.config.json", 1,
               (mt_plan_opts){.tp = 4, .style = MT_PLAN_TRANSFORMERS}, true);
    check_plan("samples/configs/mistralai--Mixtral-8x7B-v0.1.config.json", 1, (mt_plan_opts){.tp = 8}, true);
    /* a degree with KV replication, and an invalid one: the reason goes in the title */
    check_plan("samples/configs/mistralai--Mistral-7B-v0.1.config.json", 1, (mt_plan_opts){.tp = 16}, true);
    check_plan("samples/configs/mistralai--Mistral-7B-v0.1.config.json", 1, (mt_plan_opts){.tp = 3}, false);
}

/* The comparison can fail: a changed label, a node moved out of its cluster
 * and a missing edge are each found. */
Test(dot_writer, comparison_finds_differences)
{
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build_text(ctx, tiny_configs[0].json, 1);
    mt_graph *g = tu_trace(m);
    char *now = dot_text(m, g);
    diff d;
    Agraph_t *a = parse(now, "a"), *b = parse(now, "b");
    cr_assert(same_graph(a, b, &d), "%s", d.msg);
    agset(agnode(b, cs("lm_head"), 0), cs("label"), cs("changed"));
    cr_assert(!same_graph(a, b, &d));
    cr_assert(strstr(d.msg, "lm_head"), "%s", d.msg);
    agclose(b);

    b = parse(now, "b");
    Agraph_t *cl = agsubg(b, cs("cluster_model"), 0);
    cr_assert_not_null(cl);
    Agnode_t *emb = agnode(b, cs("model_embed_tokens"), 0);
    cr_assert_not_null(emb);
    agdelnode(cl, emb);
    cr_assert(!same_graph(a, b, &d));
    agclose(b);

    b = parse(now, "b");
    Agnode_t *h = agnode(b, cs("lm_head"), 0), *o = agnode(b, cs("output"), 0);
    agdeledge(b, agedge(b, h, o, NULL, 0));
    cr_assert(!same_graph(a, b, &d) || !same_graph(b, a, &d));
    agclose(b);
    agclose(a);
    free(now);
    mt_ctx_free(ctx);
}

/* ---- awkward names ------------------------------------------------------------ */

static const mt_arch odd_arch = {.model_type = "odd", .default_class = "Odd"};

typedef struct odd {
    mt_ctx *ctx;
    mt_model *m;
    mt_graph *g;
} odd;

/* A hand-built model whose class, module names and types and placeholder
 * names carry quotes, backslashes, line breaks, spaces, keywords, numerals
 * and non-ASCII bytes. `last` names the last placeholder. */
static odd odd_build(const char *last)
{
    odd t;
    t.ctx = mt_ctx_new();
    mt_ctx *ctx = t.ctx;
    mt_model *m = mt_alloc(ctx, sizeof *m);
    cr_assert_not_null(m);
    m->ctx = ctx;
    m->arch = &odd_arch;
    m->model_type = "odd";
    m->class_name = "My\"Model\\x\nY";
    m->dtype = MT_FLOAT32;
    m->num_layers = 1;
    m->root = mt_module_new(ctx, NULL, "", m->class_name);
    mt_meta_scope_enter(ctx);
    mt_module *blk = mt_module_new(ctx, m->root, "bl\"ock\\x", "T\"y\\pe\\");
    mt_module *sub = mt_module_new(ctx, blk, "node", "\xc3\xa9t\xc3\xa9 type");
    mt_meta_scope_exit(ctx);
    cr_assert(m->root && blk && sub, "%s", mt_ctx_errmsg(ctx));
    mt_model_collect(m);
    mt_graph *g = mt_graph_new(ctx);
    mt_tracer tr;
    mt_tr_init(&tr, m, g);
    const mt_sym *shape[1] = {mt_sym_const(ctx, 4)};
    mt_tensor *a = mt_tr_placeholder(&tr, "node", MT_FLOAT32, 1, shape);
    mt_tensor *b = mt_tr_placeholder(&tr, "a b\"c\\d", MT_FLOAT32, 1, shape);
    mt_tr_enter(&tr, blk);
    mt_tensor *c = mt_tr_placeholder(&tr, "1.5", MT_FLOAT32, 1, shape);
    mt_tr_enter(&tr, sub);
    mt_tensor *d = mt_tr_placeholder(&tr, "\xc3\xa9t\xc3\xa9", MT_FLOAT32, 1, shape);
    mt_tensor *e = mt_tr_placeholder(&tr, last, MT_FLOAT32, 1, shape);
    mt_tensor *y = mt_add(&tr, mt_add(&tr, mt_add(&tr, a, b), mt_add(&tr, c, d)), e);
    mt_tr_leave(&tr);
    mt_tr_leave(&tr);
    cr_assert_not_null(y, "%s", mt_ctx_errmsg(ctx));
    cr_assert_eq(mt_tr_output(&tr, &y, 1), MT_OK, "%s", mt_ctx_errmsg(ctx));
    t.m = m;
    t.g = g;
    return t;
}

Test(dot_writer, awkward_names_read_back_as_written)
{
    odd t = odd_build("Graph\nline");
    char *text = dot_text(t.m, t.g);
    Agraph_t *ag = parse(text, "odd");
    /* every name reads back as the node's name */
    cr_assert_eq(agnnodes(ag), t.g->n);
    for (int i = 0; i < t.g->n; i++)
        cr_assert_not_null(agnode(ag, cs(t.g->nodes[i]->name), 0), "node '%s'\n%s", t.g->nodes[i]->name, text);
    /* keywords (any case) and non-identifiers are quoted; numerals may be bare */
    cr_assert(strstr(text, "\t\"node\"\t["), "%s", text);
    cr_assert(strstr(text, "\t\"a b\\\"c\\d\"\t["), "%s", text);
    cr_assert(strstr(text, "\t1.5\t["), "%s", text);
    /* labels: the node name and the title in Graphviz's label escapes
     * (backslash doubled, line break as \n), quotes as they are */
    cr_assert_str_eq(agget(agnode(ag, cs("a b\"c\\d"), 0), cs("label")),
                     "a b\"c\\\\d\\nplaceholder a b\"c\\\\d\\n[4] float32");
    cr_assert_str_eq(agget(ag, cs("label")), "My\"Model\\\\x\\nY (odd), float32, 1 layer");
    cr_assert_str_eq(agget(agnode(ag, cs("Graph\nline"), 0), cs("label")),
                     "Graph\\nline\\nplaceholder Graph\\nline\\n[4] float32");
    /* clusters: named after the module paths, labels escaped, nested, and
     * holding the nodes recorded under them */
    Agraph_t *blk = agsubg(ag, cs("cluster_bl\"ock\\x"), 0);
    cr_assert_not_null(blk, "%s", text);
    cr_assert_str_eq(agget(blk, cs("label")), "bl\"ock\\\\x (T\"y\\\\pe\\\\)");
    Agraph_t *sub = agsubg(blk, cs("cluster_bl\"ock\\x_node"), 0);
    cr_assert_not_null(sub, "%s", text);
    cr_assert_str_eq(agget(sub, cs("label")), "bl\"ock\\\\x.node (\xc3\xa9t\xc3\xa9 type)");
    cr_assert_eq(agnsubg(ag), 1);
    cr_assert_not_null(agsubnode(blk, agnode(ag, cs("1.5"), 0), 0));
    cr_assert_null(agsubnode(sub, agnode(ag, cs("1.5"), 0), 0));
    cr_assert_not_null(agsubnode(sub, agnode(ag, cs("\xc3\xa9t\xc3\xa9"), 0), 0));
    cr_assert_not_null(agsubnode(sub, agnode(ag, cs("Graph\nline"), 0), 0));
    cr_assert_null(agsubnode(blk, agnode(ag, cs("node"), 0), 0));
    /* the same graph as the old builder's, read back, but for the one
     * intended change: the title is label text now, escaped like the others
     * (the old builder set the class name raw, so its backslash and line
     * break were read as label escapes) */
    check_model_titled(t.m, t.g, "odd", "My\"Model\\\\x\\nY (odd), float32, 1 layer");
    agclose(ag);
    free(text);
    mt_ctx_free(t.ctx);
}

/* A name with an odd run of backslashes before a quote, a line break or its
 * end has no DOT spelling (cgraph's scanner reads \" as a quote and drops a
 * backslash before a line break): refused, not written wrong. */
Test(dot_writer, name_without_dot_spelling_is_refused)
{
    const char *names[] = {"x\\", "a\\\"b", "a\\\nb", "x\\\\\\"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        odd t = odd_build(names[i]);
        char *buf = NULL;
        size_t n = 0;
        FILE *f = open_memstream(&buf, &n);
        mt_status st = mt_export_dot(t.m, t.g, f);
        fclose(f);
        cr_assert_eq(st, MT_ERR_UNSUPPORTED, "case %zu", i);
        cr_assert(strstr(mt_ctx_errmsg(t.ctx), "no DOT spelling"), "%s", mt_ctx_errmsg(t.ctx));
        free(buf);
        mt_ctx_free(t.ctx);
    }
    /* an even run is fine */
    odd t = odd_build("x\\\\");
    char *text = dot_text(t.m, t.g);
    Agraph_t *ag = parse(text, "even");
    cr_assert_not_null(agnode(ag, cs("x\\\\"), 0), "%s", text);
    agclose(ag);
    free(text);
    mt_ctx_free(t.ctx);
}

/* Same input, same bytes: two exports of one graph, and two builds. */
Test(dot_writer, deterministic_bytes)
{
    const char *cfg = "samples/configs/mistralai--Mixtral-8x7B-v0.1.config.json";
    mt_ctx *c1 = mt_ctx_new(), *c2 = mt_ctx_new();
    mt_model *m1 = tu_build(c1, tu_src(cfg), 2);
    mt_graph *g1 = tu_trace(m1);
    char *a = dot_text(m1, g1), *b = dot_text(m1, g1);
    /* a second context, with allocations in between, gives other addresses */
    for (int i = 0; i < 1000; i++)
        cr_assert_not_null(mt_alloc(c2, (size_t)(i % 97) + 1));
    mt_model *m2 = tu_build(c2, tu_src(cfg), 2);
    mt_graph *g2 = tu_trace(m2);
    char *c = dot_text(m2, g2);
    cr_assert_str_eq(a, b);
    cr_assert_str_eq(a, c);
    free(a);
    free(b);
    free(c);
    mt_ctx_free(c1);
    mt_ctx_free(c2);
}
