/* metatrace — the DOT graph of a tensor-parallel plan: the traced graph
 * (written by the one DOT writer, dot.c) with parameters coloured by role,
 * activations by placement, and every inserted collective drawn as a red,
 * labelled edge. All of it is a style on the writer: a title, defaults, and
 * hooks that add attributes to a node or an edge as it is written. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <metatrace/metatrace.h>

#include "dot_internal.h"
#include "ptrmap.h"

/* ORDER mt_plan_role: each role's fill and what the legend says of it */
static const struct {
    const char *fill, *meaning;
} role_style[] = {
    {"white", "replicated"},
    {"lightblue", "colwise (output features sharded)"},
    {"lightsalmon", "rowwise (input features sharded, output partial)"},
    {"palegreen", "vocab-parallel embedding"},
    {"khaki", "embedding, columns sharded"},
    {"lightcyan", "bias of a colwise Linear"},
    {"plum", "expert parallel (fused 3-D expert weight, whole experts per rank)"},
};
_Static_assert(sizeof role_style / sizeof role_style[0] == MT_ROLE_COUNT, "role colours");

static const char *const plan_node_defaults[] = {"color", "black", "fillcolor", "white", "xlabel", "",
                                                 NULL};
static const char *const plan_edge_defaults[] = {"color", "black", "label", "", "penwidth", "1", NULL};

typedef struct plan_style {
    const mt_plan *p;
    bool per_rank;     /* the picture (not the plain graph): sharded outputs get their per-rank shape */
    mtx_ptrmap roles;  /* mt_param* (tied aliases resolved to their owner) -> mt_plan_param* */
    int *first_comm;   /* by consumer node index: its last collective, -1 when none */
    int *prev_comm;    /* by collective: the one before it with the same consumer */
} plan_style;

/* A dim as the picture's labels write it: b and s for batch and seq. */
static const char *dim_text(const mt_sym *s)
{
    const char *t = s ? mt_sym_str(s) : "?";
    return strcmp(t, "batch") == 0 ? "b" : strcmp(t, "seq") == 0 ? "s" : t;
}

/* Parameters: fill by role on their get_attr nodes, and on the call_module
 * nodes of leaf modules (a Linear's weight is read inside its call);
 * activations: outlined by placement. */
static void plan_node(void *data, const mt_node *n, mtx_dot_attrs *a)
{
    plan_style *ps = data;
    const mt_plan *p = ps->p;
    const mt_param *want = NULL;
    if (n->op == MT_NODE_GET_ATTR && n->param)
        want = n->param;
    else if (n->op == MT_NODE_CALL_MODULE && n->module)
        want = mt_module_param(n->module, "weight");
    if (want && want->tied_to)
        want = want->tied_to;
    const mt_plan_param *pp = want ? mtx_ptrmap_get(&ps->roles, want) : NULL;
    if (pp) {
        mtx_dot_set(a, "fillcolor", role_style[pp->role].fill);
        mtx_dot_set(a, "style", "filled");
        mtx_dot_set(a, "xlabel", mt_plan_role_name(pp->role));
    }
    if (p->nodes && n->index < p->graph->n) {
        mt_placement pl = p->nodes[n->index];
        if (pl.kind == MT_PLACE_SHARD)
            mtx_dot_set(a, "color", "blue");
        else if (pl.kind == MT_PLACE_PARTIAL)
            mtx_dot_set(a, "color", "orange");
        /* what one rank holds: the sharded dim divided by the ways */
        if (ps->per_rank && !pp && pl.kind == MT_PLACE_SHARD && n->nout > 0 && pl.dim >= 0 &&
            pl.dim < n->outs[0].ndim && pl.ways > 1) {
            const mt_tensor *t = &n->outs[0];
            size_t k = (size_t)snprintf(a->scratch, sizeof a->scratch, "rank [");
            for (int d = 0; d < t->ndim && k < sizeof a->scratch; d++) {
                const mt_sym *s = t->shape[d];
                const char *sep = d ? ", " : "";
                if (d == pl.dim && s && mt_sym_is_const(s))
                    k += (size_t)snprintf(a->scratch + k, sizeof a->scratch - k, "%s%lld", sep,
                                          (long long)(mt_sym_const_value(s) / pl.ways));
                else if (d == pl.dim)
                    k += (size_t)snprintf(a->scratch + k, sizeof a->scratch - k, "%s%s/%d", sep, dim_text(s),
                                          pl.ways);
                else
                    k += (size_t)snprintf(a->scratch + k, sizeof a->scratch - k, "%s%s", sep, dim_text(s));
            }
            if (k < sizeof a->scratch)
                snprintf(a->scratch + k, sizeof a->scratch - k, "]");
            mtx_dot_set(a, "xlabel", a->scratch);
        }
    }
}

/* The picture's legend: fills by role (the sharded roles, then replicated),
 * outlines by placement, collectives. */
static const char *plan_legend(mt_ctx *ctx) {
    const char *t = "<table border=\"0\" cellborder=\"1\" cellspacing=\"0\" cellpadding=\"3\">"
                    "<tr><td colspan=\"2\"><b>legend</b></td></tr>";
    for (int k = 1; k <= MT_ROLE_COUNT && t; k++) {
        int r = k % MT_ROLE_COUNT;
        t = mt_sprintf(ctx, "%s<tr><td bgcolor=\"%s\">   </td><td align=\"left\">%s</td></tr>", t, role_style[r].fill,
                       role_style[r].meaning);
    }
    return t ? mt_sprintf(ctx, "%s%s", t,
                          "<tr><td><font color=\"blue\">blue</font></td><td align=\"left\">outline: sharded activation (xlabel: what one rank holds)</td></tr>"
                          "<tr><td><font color=\"orange\">orange</font></td><td align=\"left\">outline: partial sum (a reduction pending)</td></tr>"
                          "<tr><td><font color=\"red\">red</font></td><td align=\"left\">edge: collective, bytes each rank sends per token</td></tr>"
                          "</table>")
             : NULL;
}

/* Collectives: the edge producer -> consumer, red and labelled (the last
 * collective listed for a pair wins). */
static void plan_edge(void *data, const mt_node *tail, const mt_node *head, mtx_dot_attrs *a)
{
    plan_style *ps = data;
    for (int i = ps->first_comm[head->index]; i >= 0; i = ps->prev_comm[i]) {
        const mt_plan_comm *c = &ps->p->comms[i];
        if (c->producer != tail)
            continue;
        snprintf(a->scratch, sizeof a->scratch, "%s %.0f B/token", mt_comm_kind_name(c->kind),
                 c->wire_per_token);
        mtx_dot_set(a, "color", "red");
        mtx_dot_set(a, "label", a->scratch);
        mtx_dot_set(a, "penwidth", "2");
        return;
    }
}

mt_status mt_plan_export_dot(const mt_plan *p, FILE *out)
{
    return mt_plan_export_dot_opts(p, NULL, out);
}

mt_status mt_plan_export_dot_opts(const mt_plan *p, const mt_picture_opts *opts, FILE *out)
{
    if (!p || !out)
        return MT_ERR_USAGE;
    mt_model *m = (mt_model *)p->model;
    mt_graph *g = (mt_graph *)p->graph;
    mt_ctx *ctx = p->ctx;
    if (!m || !g)
        return mt_fail(ctx, MT_ERR_USAGE, "plan DOT export: the plan has no graph");
    char title[256];
    snprintf(title, sizeof title, "tensor parallel tp=%d (%s)%s%s", p->tp,
             p->style == MT_PLAN_TRANSFORMERS ? "transformers style" : "metatrace style",
             p->valid ? "" : ": INVALID: ", p->valid ? "" : (p->reason ? p->reason : ""));

    plan_style ps = {.p = p, .per_rank = !(opts && opts->plain)};
    mtx_ptrmap_init(&ps.roles, ctx);
    mt_status st = MT_OK;
    for (int k = 0; k < p->nparams && st == MT_OK; k++)
        if (p->params[k].param && !mtx_ptrmap_put(&ps.roles, p->params[k].param, &p->params[k]))
            st = mt_fail(ctx, MT_ERR_NOMEM, "out of memory");
    if (st == MT_OK && g->n > 0) {
        ps.first_comm = mt_heap_alloc(ctx, (size_t)g->n * sizeof *ps.first_comm);
        ps.prev_comm = mt_heap_alloc(ctx, (size_t)(p->ncomms > 0 ? p->ncomms : 1) * sizeof *ps.prev_comm);
        if (!ps.first_comm || !ps.prev_comm)
            st = mt_fail(ctx, MT_ERR_NOMEM, "out of memory");
    }
    if (st == MT_OK) {
        for (int i = 0; i < g->n; i++)
            ps.first_comm[i] = -1;
        for (int i = 0; i < p->ncomms; i++) {
            const mt_node *h = p->comms[i].consumer;
            ps.prev_comm[i] = -1;
            if (!p->comms[i].producer || !h || h->index < 0 || h->index >= g->n || g->nodes[h->index] != h)
                continue;
            ps.prev_comm[i] = ps.first_comm[h->index];
            ps.first_comm[h->index] = i;
        }
        mtx_dot_style style = {
            .title = title,
            .node_defaults = plan_node_defaults,
            .edge_defaults = plan_edge_defaults,
            .data = &ps,
            .node = plan_node,
            .edge = plan_edge,
            .legend = plan_legend(ctx),
        };
        st = mtx_dot_write(m, g, &style, opts, out);
    }
    mtx_ptrmap_free(&ps.roles);
    if (ps.first_comm)
        mt_heap_free(ctx, ps.first_comm);
    if (ps.prev_comm)
        mt_heap_free(ctx, ps.prev_comm);
    return st;
}
