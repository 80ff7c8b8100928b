/* Tensor-parallel planning, pass 2: the search over the weights' choices, by
 * coordinate descent (one routine, its budgets in PL_PARAMS, plan_internal.h), each choice
 * priced by a propagation of placements (placements.c). */
#include <stdlib.h>
#include <string.h>

#include <metatrace/fit.h>
#include <metatrace/sizing.h>

#include "plan_internal.h"

/* ---- cost ---- */

/* A collective costs alpha + bytes / beta over the link inside a node
 * (fit.h: the cluster's GPU, by default the H100 preset's NVLink: 5 us,
 * 450 GB/s at the fit model's link efficiency). A forward runs every
 * collective once: a prefill of T tokens moves comm x T bytes, a decode step
 * comm x 1; both pay alpha per collective. So thousands of small collectives
 * lose to one all-reduce per layer. */
double pl_comm_time(const pl_view *G, double comm, double ncoll) {
    double T = (double)G->batch * (double)G->seq;
    return comm * (T + 1) / G->link_beta + 2 * ncoll * G->link_alpha;
}

/* Every choice goes through here: the weight-byte totals follow it. */
static void set_choice(pl_eval *E, int i, int o) {
    const pl_var *v = &E->G->vars[i];
    const pl_vopts *vo = &E->D.vo[i];
    pl_opt a = vo->opts[E->choice[i]], b = vo->opts[o];
    E->repl += (b.dim < 0 ? v->bytes : 0) - (a.dim < 0 ? v->bytes : 0);
    E->rank += (b.dim < 0 ? v->bytes : v->bytes / b.ways) - (a.dim < 0 ? v->bytes : v->bytes / a.ways);
    E->choice[i] = o;
}

static pl_cost evaluate(pl_eval *E) {
    pl_propagate(E);
    return (pl_cost){E->infeasible, E->repl, E->comm, E->rank, E->ncoll, pl_comm_time(E->G, E->comm, E->ncoll)};
}

static bool better(pl_cost a, pl_cost b) {
    if (a.infeasible != b.infeasible) return !a.infeasible;
    if (a.repl != b.repl) return a.repl < b.repl;
    double tol = PL_PARAMS.time_tol * (b.time > PL_PARAMS.time_floor ? b.time : PL_PARAMS.time_floor);
    if (a.time < b.time - tol) return true;
    if (a.time > b.time + tol) return false;
    if (a.rank != b.rank) return a.rank < b.rank;
    return a.ncoll < b.ncoll;
}

/* Two weights of one block: their modules' nearest common ancestor is inside
 * a layer (an attention or MLP block: q/o projections, an expert's down_proj
 * and the shared expert's), not a layer itself (integer-named) or the model. */
static bool same_block(const mt_module *a, const mt_module *b) {
    for (const mt_module *x = a; x; x = x->parent)
        for (const mt_module *y = b; y; y = y->parent)
            if (x == y) {
                const char *nm = x->name;
                return x->parent && nm && !(*nm >= '0' && *nm <= '9') && x->parent->parent;
            }
    return false;
}

/* One coordinate descent: the units are the groups of structurally equal
 * weights (a move sets every member) or single weights; a move changes one
 * unit or, with `pairs`, two together (with `block_only`, two of one block
 * both sharded over every rank: the moves single changes cannot make, since
 * replicating a weight is a single move). At most `sweeps` passes, until one
 * improves nothing; `then` runs after every improving pass. */
typedef struct pl_descent {
    bool groups, pairs, block_only;
    int sweeps;
    const struct pl_descent *then;
} pl_descent;

static bool is_unit(const pl_degree *D, const pl_descent *d, int i) { return !d->groups || D->vo[i].group == i; }

static void set_unit(pl_eval *E, const pl_descent *d, int i, int o) {
    if (!d->groups) {
        set_choice(E, i, o);
        return;
    }
    for (int k = i; k >= 0; k = E->D.gnext[k]) set_choice(E, k, o);
}

/* Every other option of units u[0..n) (n: 1 or 2), the best kept. */
static bool try_moves(pl_eval *E, const pl_descent *d, const int *u, int n, pl_cost *best, int *evals) {
    const pl_degree *D = &E->D;
    int cur[2] = {E->choice[u[0]], n > 1 ? E->choice[u[1]] : 0};
    int o[2] = {0, 0};
    bool improved = false;
    for (o[0] = 0; o[0] < D->vo[u[0]].nopts; o[0]++) {
        if (o[0] == cur[0]) continue;
        for (o[1] = 0; o[1] < (n > 1 ? D->vo[u[1]].nopts : 1); o[1]++) {
            if (n > 1 && o[1] == cur[1]) continue;
            if (n > 1 && d->block_only) {
                pl_opt x = D->vo[u[0]].opts[o[0]], y = D->vo[u[1]].opts[o[1]];
                if (!(x.dim >= 0 && y.dim >= 0 && x.ways == D->tp && y.ways == D->tp)) continue;
            }
            for (int k = 0; k < n; k++) set_unit(E, d, u[k], o[k]);
            pl_cost c = evaluate(E);
            (*evals)++;
            if (better(c, *best)) {
                *best = c;
                for (int k = 0; k < n; k++) cur[k] = o[k];
                improved = true;
            }
        }
    }
    for (int k = 0; k < n; k++) set_unit(E, d, u[k], cur[k]);
    return improved;
}

static pl_cost descend(pl_eval *E, pl_cost best, int *evals, const pl_descent *d) {
    const pl_view *G = E->G;
    const pl_degree *D = &E->D;
    for (int sweep = 0; sweep < d->sweeps; sweep++) {
        bool improved = false;
        for (int gi = 0; gi < G->nvars; gi++) {
            if (!is_unit(D, d, gi)) continue;
            if (!d->pairs) {
                improved |= try_moves(E, d, (int[]){gi}, 1, &best, evals);
                continue;
            }
            for (int gj = gi + 1; gj < G->nvars; gj++) {
                if (!is_unit(D, d, gj)) continue;
                if (d->block_only && !same_block(G->vars[gi].module, G->vars[gj].module)) continue;
                improved |= try_moves(E, d, (int[]){gi, gj}, 2, &best, evals);
            }
        }
        if (!improved) break;
        if (d->then) best = descend(E, best, evals, d->then);
    }
    return best;
}

/* Groups, then pairs of groups while the work stays within the budget; past
 * it, one round over the pairs of one block (a column-parallel projection
 * and its row-parallel partner are always in one). */
static pl_cost descend_groups_and_pairs(pl_eval *E, pl_cost best, int *evals) {
    const pl_view *G = E->G;
    const pl_degree *D = &E->D;
    const pl_descent groups = {.groups = true, .sweeps = PL_PARAMS.group_sweeps};
    best = descend(E, best, evals, &groups);
    double leaders = 0, opts = 0, near = 0;
    for (int gi = 0; gi < G->nvars; gi++)
        if (D->vo[gi].group == gi) leaders++, opts += D->vo[gi].nopts - 1;
    if (leaders < 2) return best;
    double pairs = opts * opts / 2;
    double nodes = E->window ? G->nwin : G->g->n;
    bool block_only = pairs * nodes > PL_PARAMS.pair_budget;
    if (block_only && !E->window && G->node_w) return best; /* the window found them; the whole graph only checks */
    if (block_only) {
        for (int gi = 0; gi < G->nvars; gi++)
            for (int gj = gi + 1; D->vo[gi].group == gi && gj < G->nvars; gj++)
                if (D->vo[gj].group == gj && same_block(G->vars[gi].module, G->vars[gj].module))
                    near += 2;
        if (near * nodes > PL_PARAMS.block_budget) return best;
    }
    pl_descent d = {.groups = true, .pairs = true, .block_only = block_only,
                    .sweeps = block_only ? 1 : PL_PARAMS.pair_rounds, .then = &groups};
    return descend(E, best, evals, &d);
}

static bool same_cost(pl_cost a, pl_cost b) {
    double tol = PL_PARAMS.window_comm_tol * (b.comm > 1 ? b.comm : 1);
    return a.infeasible == b.infeasible && a.comm <= b.comm + tol && a.comm >= b.comm - tol &&
           a.ncoll <= b.ncoll + PL_PARAMS.window_coll_tol && a.ncoll >= b.ncoll - PL_PARAMS.window_coll_tol;
}

pl_cost pl_search(pl_eval *E, mt_plan_search mode, int *evals, bool *window_exact) {
    const pl_view *G = E->G;
    const pl_degree *D = &E->D;
    E->repl = E->rank = 0;
    for (int i = 0; i < G->nvars; i++) {
        pl_opt o = D->vo[i].opts[0];
        E->choice[i] = 0;
        E->repl += o.dim < 0 ? G->vars[i].bytes : 0;
        E->rank += o.dim < 0 ? G->vars[i].bytes : G->vars[i].bytes / o.ways;
    }
    for (int i = 0; i < G->nslots; i++) E->vals[i] = (pl_val){{MT_PLACE_REPLICATE, -1, 1, 0}, 0u};
    E->window = G->node_w != NULL && mode == MT_SEARCH_BEST;
    pl_cost best = evaluate(E);
    (*evals)++;
    *window_exact = true;
    if (mode == MT_SEARCH_FIRST) return best;
    best = descend_groups_and_pairs(E, best, evals);
    if (E->window) {
        /* The window stands for the whole graph only when every block is
         * entered the way its representative is (the residual stream
         * replicated). Check on the whole graph; if it is not so, search
         * the whole graph from here. */
        E->window = false;
        pl_cost full = evaluate(E);
        (*evals)++;
        if (!same_cost(full, best)) {
            *window_exact = false;
            full = descend_groups_and_pairs(E, full, evals);
        }
        best = full;
    }
    /* then one weight at a time when the graph is small enough (over the
     * whole graph: single weights may break the symmetry of the blocks) */
    double work = 0;
    for (int i = 0; i < G->nvars; i++) work += D->vo[i].nopts;
    work *= G->g->n;
    if (work > PL_PARAMS.weight_budget) return best;
    const pl_descent weights = {.sweeps = PL_PARAMS.weight_sweeps};
    return descend(E, best, evals, &weights);
}
