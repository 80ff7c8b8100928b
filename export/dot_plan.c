/* metatrace — the DOT graph of a tensor-parallel plan: the traced graph (built
 * by the one shared builder) with parameters coloured by role, activations by
 * placement, and every inserted collective drawn as a red, labelled edge. */
#include <stdio.h>
#include <string.h>

#include <metatrace/metatrace.h>

#include "dot_internal.h"
#include "ptrmap.h"

static char *cs(const char *s) { return (char *)s; } /* cgraph takes char * */

/* ORDER mt_plan_role */
static const char *const role_fill[MT_ROLE_COUNT] = {
    "white",      /* replicate */
    "lightblue",  /* colwise */
    "lightsalmon",/* rowwise */
    "palegreen",  /* vocab-parallel embedding */
    "khaki",      /* embedding, embedding_dim sharded */
    "lightcyan",  /* bias of a colwise Linear */
};
_Static_assert(sizeof role_fill / sizeof role_fill[0] == MT_ROLE_COUNT, "role colours");

mt_status mt_plan_export_dot(const mt_plan *p, FILE *out)
{
    if (!p || !out)
        return MT_ERR_USAGE;
    mt_model *m = (mt_model *)p->model;
    mt_graph *g = (mt_graph *)p->graph;
    mt_ctx *ctx = p->ctx;
    Agraph_t *ag = mtx_dot_build(m, g);
    if (!ag)
        return mt_ctx_status(ctx) != MT_OK ? mt_ctx_status(ctx) : MT_ERR_INTERNAL;
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

    /* parameter -> its plan entry (tied aliases resolve to their owner) */
    mtx_ptrmap roles;
    mtx_ptrmap_init(&roles, ctx);
    for (int k = 0; k < p->nparams; k++)
        if (p->params[k].param && !mtx_ptrmap_put(&roles, p->params[k].param, &p->params[k])) {
            mtx_ptrmap_free(&roles);
            agclose(ag);
            return mt_fail(ctx, MT_ERR_NOMEM, "out of memory");
        }
    /* parameters: fill by role on their get_attr nodes, and on the call_module
     * nodes of leaf modules (a Linear's weight is read inside its call) */
    for (int i = 0; i < g->n; i++) {
        const mt_node *n = g->nodes[i];
        Agnode_t *an = agnode(ag, cs(n->name), 0);
        if (!an)
            continue;
        const mt_param *want = NULL;
        if (n->op == MT_NODE_GET_ATTR && n->param)
            want = n->param;
        else if (n->op == MT_NODE_CALL_MODULE && n->module)
            want = mt_module_param(n->module, "weight");
        if (want && want->tied_to)
            want = want->tied_to;
        const mt_plan_param *pp = want ? mtx_ptrmap_get(&roles, want) : NULL;
        if (pp) {
            agxset(an, nfill, cs(role_fill[pp->role]));
            agxset(an, nstyle, cs("filled"));
            agxset(an, nxlabel, cs(mt_plan_role_name(pp->role)));
        }
        if (p->nodes && n->index < g->n) {
            mt_placement pl = p->nodes[n->index];
            if (pl.kind == MT_PLACE_SHARD)
                agxset(an, ncolor, cs("blue"));
            else if (pl.kind == MT_PLACE_PARTIAL)
                agxset(an, ncolor, cs("orange"));
        }
    }
    /* collectives: the edge producer -> consumer, red and labelled */
    for (int i = 0; i < p->ncomms; i++) {
        const mt_plan_comm *c = &p->comms[i];
        if (!c->producer || !c->consumer)
            continue;
        Agnode_t *t = agnode(ag, cs(c->producer->name), 0);
        Agnode_t *h = agnode(ag, cs(c->consumer->name), 0);
        Agedge_t *e = (t && h) ? agedge(ag, t, h, NULL, 0) : NULL;
        if (!e)
            continue;
        char lab[96];
        snprintf(lab, sizeof lab, "%s %.0f B/token", mt_comm_kind_name(c->kind), c->wire_per_token);
        agxset(e, ecolor, cs("red"));
        agxset(e, ewidth, cs("2"));
        agxset(e, elabel, cs(lab));
    }
    mtx_ptrmap_free(&roles);
    int rc = agwrite(ag, out);
    agclose(ag);
    if (rc != 0 || ferror(out))
        return mt_fail(ctx, MT_ERR_IO, "writing the plan DOT graph failed");
    return MT_OK;
}
