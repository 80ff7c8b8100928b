/* Tensor-parallel planning: the entry points (mt_plan_run, mt_plan_auto).
 * Per graph: the constraints (constraints.c) and the setup (setup.c), once
 * for every degree; per degree: the options, the search (search.c) and the
 * report (report.c). docs/plan.md. */
#include <stdlib.h>
#include <string.h>

#include <metatrace/fit.h>
#include <metatrace/sizing.h>

#include "plan_internal.h"

/* The planner: the view (built once per graph) and the propagation state
 * with one degree's options; mt_plan_auto keeps one for every degree. */
typedef struct planner {
    pl_view G;
    pl_eval E; /* with the degree (E.D) */
} planner;

/* The constraints, then the setup building the view. */
static mt_status plan_prepare(planner *P, mt_model *m, const mt_graph *g, const mt_plan_opts *o) {
    memset(P, 0, sizeof *P);
    pl_view *G = &P->G;
    G->lim = pl_limits_new(m, g);
    if (!G->lim || pl_prepare(G, m, g, o) != MT_OK || pl_nviews(G) != MT_OK || pl_packs(G) != MT_OK ||
        pl_signatures(G) != MT_OK)
        return mt_ctx_status(m->ctx);
    /* the propagation's buffers: one set for every degree of mt_plan_auto */
    pl_eval *E = &P->E;
    E->G = G;
    E->choice = mt_heap_alloc(m->ctx, ((size_t)G->nvars + 1) * sizeof *E->choice);
    E->vals = mt_heap_alloc(m->ctx, ((size_t)G->nslots + 1) * sizeof *E->vals);
    E->sliced = mt_heap_alloc(m->ctx, ((size_t)G->nslots + 1) * sizeof *E->sliced);
    E->split_in = mt_heap_alloc(m->ctx, ((size_t)g->n + 1) * sizeof *E->split_in);
    if (!E->choice || !E->vals || !E->sliced || !E->split_in) return mt_ctx_status(m->ctx);
    return MT_OK;
}

/* What the passes keep lives in the context's arena (freed with it); the
 * propagation's buffers are heap blocks (they serve every degree, and the
 * records grow), freed here. */
static void plan_release(planner *P) {
    mt_ctx *ctx = P->G.ctx;
    if (!ctx) return;
    pl_eval *E = &P->E;
    void *bufs[5] = {E->choice, E->vals, E->sliced, E->split_in, E->recs};
    for (int i = 0; i < 5; i++) mt_heap_free(ctx, bufs[i]);
}

static mt_plan *plan_degree(planner *P, const mt_plan_opts *o, bool full) {
    const pl_view *G = &P->G;
    mt_ctx *ctx = G->ctx;
    if (pl_set_degree(&P->E.D, G, o->tp, o->style, o->sequence_parallel) != MT_OK) return NULL;
    mt_plan *R = mt_alloc(ctx, sizeof *R);
    if (!R) return NULL;
    R->ctx = ctx;
    R->model = G->m;
    R->graph = G->g;
    R->tp = o->tp;
    R->style = o->style;
    R->sequence_parallel = P->E.D.seq_sym != NULL;
    R->batch = G->batch;
    R->seq = G->seq;
    R->kv_replication = pl_limits_check(G->lim, o->tp, &R->reason, &R->note);
    R->valid = R->reason == NULL;
    pl_eval *E = &P->E;
    E->window = E->infeasible = E->record = false;
    memset(E->split_in, 0, ((size_t)G->g->n + 1) * sizeof *E->split_in);
    pl_cost best = pl_search(E, o->search, &R->evals, &R->window_exact);
    return pl_results(G, &E->D, E, R, full, best) == MT_OK ? R : NULL;
}

static bool degree_ok(mt_ctx *ctx, const mt_plan_opts *o) {
    if (o && o->tp >= 1 && o->tp <= 4096) return true;
    mt_fail(ctx, MT_ERR_USAGE, "tensor-parallel degree must be between 1 and 4096, got %d", o ? o->tp : 0);
    return false;
}

mt_plan *mt_plan_run(mt_model *m, const mt_graph *g, const mt_plan_opts *opts) {
    if (!m || !g || !degree_ok(m->ctx, opts)) return NULL;
    planner P;
    mt_plan *R = plan_prepare(&P, m, g, opts) == MT_OK ? plan_degree(&P, opts, true) : NULL;
    plan_release(&P);
    return R;
}

void mt_plan_param_slice(const mt_plan *p, const mt_plan_param *pp, int rank, int64_t *start, int64_t *stop) {
    if (pp->shard_dim < 0) {
        *start = 0;
        *stop = pp->ndim > 0 ? pp->shape[0] : 1;
        return;
    }
    int64_t r[1][2];
    mt_plan_param_ranges(p, pp, rank, r, 1);
    *start = r[0][0];
    *stop = r[0][1];
}

int mt_plan_param_ranges(const mt_plan *p, const mt_plan_param *pp, int rank, int64_t (*ranges)[2], int max) {
    if (pp->shard_dim < 0) {
        if (max > 0) ranges[0][0] = 0, ranges[0][1] = pp->ndim > 0 ? pp->shape[0] : 1;
        return 1;
    }
    int per_block = p->tp / pp->ways; /* ranks holding each block */
    int block = rank / per_block;
    int parts = pp->parts > 1 ? pp->parts : 1;
    int64_t part = pp->shape[pp->shard_dim] / parts, len = part / pp->ways;
    for (int k = 0; k < parts && k < max; k++) {
        ranges[k][0] = k * part + block * len;
        ranges[k][1] = ranges[k][0] + len;
    }
    return parts;
}

mt_status mt_plan_auto(mt_model *m, const mt_graph *g, const mt_plan_opts *base, int max_tp,
                       mt_plan_degree *out) {
    if (!m || !g || !out) return MT_ERR_USAGE;
    if (max_tp <= 0) max_tp = 64;
    mt_plan_opts o = base ? *base : (mt_plan_opts){0};
    o.tp = 1;
    planner P;
    if (plan_prepare(&P, m, g, &o) != MT_OK) {
        plan_release(&P);
        return mt_ctx_status(m->ctx);
    }
    for (int tp = 1; tp <= max_tp; tp++) {
        mt_plan_degree *d = &out[tp - 1];
        memset(d, 0, sizeof *d);
        d->tp = tp;
        const char *reason, *note;
        d->kv_replication = pl_limits_check(P.G.lim, tp, &reason, &note);
        d->valid = reason == NULL;
        d->reason = reason ? reason : note;
        if (!d->valid) continue;
        o.tp = tp;
        mt_plan *p = plan_degree(&P, &o, false);
        if (!p) {
            plan_release(&P);
            return mt_ctx_status(m->ctx);
        }
        d->param_bytes = p->mem.param_bytes;
        d->comm_per_token = p->comm_per_token;
    }
    plan_release(&P);
    return MT_OK;
}
