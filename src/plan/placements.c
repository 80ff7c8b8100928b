/* Tensor-parallel planning: candidate placements - the axis propagation
 * over the traced graph that prices one set of weight choices (search.c
 * calls it per move, report.c once with records).
 *
 * Every tensor (node output) carries a placement (replicated, partial sum,
 * or sharded on one dim into `ways` blocks) and the set of placements already
 * materialized for it (a gathered copy is reused by later consumers). Each op
 * has one propagation rule (its sharding rule in the op table, trace/ops.c,
 * dispatched by rule_op; leaf modules by mt_leaf_kind): it lists candidate output placements with the
 * placement each input must have, and keeps the cheapest; converting an input
 * inserts a collective (all-reduce, all-gather, all-to-all) or is free
 * (slicing a replicated tensor). Parameter roles follow from the choice made
 * for each Linear/Embedding weight; the search keeps the cheapest choice. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "plan_internal.h"

/* ---- placements ---- */
static const mt_placement PL_R = {MT_PLACE_REPLICATE, -1, 1, 0};
static const mt_placement PL_P = {MT_PLACE_PARTIAL, -1, 1, 0};
static mt_placement PL_S(int d, int w) { return (mt_placement){MT_PLACE_SHARD, d, w, 0}; }
/* sharded on d in w blocks of every part of the packed layout lay (0: plain) */
static mt_placement PL_SL(int d, int w, int lay) { return (mt_placement){MT_PLACE_SHARD, d, w, lay}; }

static bool pl_eq(mt_placement a, mt_placement b) {
    if (a.kind != b.kind) return false;
    return a.kind != MT_PLACE_SHARD || (a.dim == b.dim && a.ways == b.ways && a.layout == b.layout);
}

const char *mt_placement_str(mt_ctx *ctx, mt_placement p) {
    switch (p.kind) {
    case MT_PLACE_REPLICATE: return "R";
    case MT_PLACE_PARTIAL: return "P";
    default: return p.layout ? mt_sprintf(ctx, "S(%d)/%d packed", p.dim, p.ways) : mt_sprintf(ctx, "S(%d)/%d", p.dim, p.ways);
    }
}

/* ---- packed layouts: the parts of a dim, each cut into the ranks' blocks ---- */
int pl_layout(pl_view *G, int n, const int64_t *lens) {
    mt_plan_layout L = {0, 0, {0}};
    if (n < 0 || n > MT_PLAN_MAX_PARTS || (n == 0 && lens[0] < 1)) return 0;
    bool equal = true;
    for (int i = 0; i < n; i++) {
        if (lens[i] < 1) return 0;
        equal = equal && lens[i] == lens[0];
    }
    if (n == 1) return 0;
    if (n == 0 || equal) {
        L.part = lens[0];
    } else {
        L.nparts = n;
        memcpy(L.lens, lens, (size_t)n * sizeof *lens);
    }
    for (int i = 0; i < G->nlays; i++)
        if (memcmp(&G->lays[i], &L, sizeof L) == 0) return i + 1;
    if (G->nlays == G->caplays) {
        int nc = G->caplays ? 2 * G->caplays : 8;
        mt_plan_layout *a = mt_alloc_array(G->ctx, (size_t)nc, sizeof *a);
        if (!a) return 0;
        if (G->nlays) memcpy(a, G->lays, (size_t)G->nlays * sizeof *a);
        G->lays = a;
        G->caplays = nc;
    }
    G->lays[G->nlays++] = L;
    return G->nlays;
}

bool pl_layout_divides(const pl_view *G, const mt_tensor *t, int d, int lay, int w) {
    if (!lay) return true;
    if (lay > G->nlays || d < 0 || d >= t->ndim) return false;
    const mt_plan_layout *L = &G->lays[lay - 1];
    if (L->nparts == 0) {
        if (L->part % w != 0) return false;
        /* a constant dim holds whole parts; a symbolic one (rows x heads) is
         * taken to, as the view that made it said */
        return !mt_sym_is_const(t->shape[d]) || mt_sym_const_value(t->shape[d]) % L->part == 0;
    }
    int64_t sum = 0;
    for (int i = 0; i < L->nparts; i++) {
        if (L->lens[i] % w != 0) return false;
        sum += L->lens[i];
    }
    return mt_sym_is_const(t->shape[d]) && mt_sym_const_value(t->shape[d]) == sum;
}

static const char *const ROLE_NAMES[MT_ROLE_COUNT] = {"replicate", "colwise", "rowwise", "embedding_rowwise",
                                                      "embedding_colwise", "colwise_bias", "expert_parallel"};
const char *mt_plan_role_name(mt_plan_role r) { return (unsigned)r < MT_ROLE_COUNT ? ROLE_NAMES[r] : "?"; }
static const char *const COMM_NAMES[MT_COMM_COUNT] = {"all_reduce", "all_gather", "all_to_all", "reduce_scatter"};
const char *mt_comm_kind_name(mt_comm_kind k) { return (unsigned)k < MT_COMM_COUNT ? COMM_NAMES[k] : "?"; }

/* ---- shapes at the bound ---- */
static bool dim_const(const mt_tensor *t, int d, int64_t *v) {
    if (d < 0 || d >= t->ndim || !mt_sym_is_const(t->shape[d])) return false;
    *v = mt_sym_const_value(t->shape[d]);
    return true;
}

/* Dim d of t splits into w equal blocks: a constant dim divisible by w, or
 * (sequence parallelism) the sequence, when its bound is. */
static bool shardable(const pl_eval *E, const mt_tensor *t, int d, int w, int lay) {
    const pl_view *G = E->G;
    int64_t v;
    if (w < 1 || d < 0 || d >= t->ndim) return false;
    if (lay) return pl_layout_divides(G, t, d, lay, w);
    if (dim_const(t, d, &v)) return v % w == 0;
    return E->D.seq_sym && t->shape[d] == E->D.seq_sym && G->seq % w == 0;
}

/* A symbolic dim d of t whose constant factor w divides (Llama 4's experts
 * [E, tokens, H] viewed as [E x tokens, H]: E/w experts' rows per rank are one
 * block of E x tokens / w rows, whatever the tokens). */
static bool sym_splits(const pl_view *G, const mt_tensor *t, int d, int w) {
    if (w < 2 || d < 0 || d >= t->ndim || mt_sym_is_const(t->shape[d])) return false;
    return mt_sym_divides(G->ctx, mt_sym_const(G->ctx, w), t->shape[d]);
}

/* ---- evaluation: conversions ---- */
#define INF 1e300

static uint32_t bit_of(mt_placement p, int tp) {
    if (p.kind == MT_PLACE_REPLICATE) return 1u;
    if (p.kind == MT_PLACE_PARTIAL) return 2u;
    return p.ways == tp && !p.layout ? 4u << p.dim : 0u;
}

static bool has(const pl_val *v, mt_placement want, int tp) {
    if (pl_eq(v->p, want)) return true;
    uint32_t b = bit_of(want, tp);
    return b && (v->avail & b);
}

static double elem_factor(int tp) { return (double)(tp - 1) / (double)tp; }

/* Slot s holds a fused 3-D expert weight as its choice placed it (its
 * get_attr, or one expert's slice w[e] of it). */
static bool expert_weight(const pl_view *G, int s) {
    const mt_node *n = s >= 0 ? G->slot_node[s] : NULL;
    if (n && n->opid == MT_OP_GETITEM) {
        const mt_tensor *x = mt__node_input(n);
        n = x ? x->node : NULL;
    }
    return n && n->op == MT_NODE_GET_ATTR && G->node_var[n->index] >= 0;
}

/* Cost of turning slot s into `want`; with commit, records and marks available. */
static double convert(pl_eval *E, int s, mt_placement want, const mt_node *consumer, bool commit) {
    const pl_view *G = E->G;
    const pl_degree *D = &E->D;
    int tp = D->tp;
    pl_val *v = &E->vals[s];
    if (has(v, want, tp)) return 0;
    /* a sharded expert weight is used as held: never gathered nor cut anew */
    if (v->p.kind == MT_PLACE_SHARD && expert_weight(G, s)) return INF;
    const mt_tensor *t = G->slot_t[s];
    double B = G->bpt[s];
    bool have_r = v->p.kind == MT_PLACE_REPLICATE || (v->avail & 1u);
    double cost = 0;
    int kind = -1;
    if (want.kind == MT_PLACE_PARTIAL) return INF;
    if (want.kind == MT_PLACE_SHARD) {
        if (!shardable(E, t, want.dim, want.ways, want.layout)) return INF;
        if (v->p.kind == MT_PLACE_SHARD && v->p.dim == want.dim && want.ways % v->p.ways == 0 &&
            v->p.layout == want.layout) {
            cost = 0; /* finer blocks of what the rank holds: local slice */
        } else if (have_r) {
            cost = 0;
        } else if (v->p.kind == MT_PLACE_PARTIAL && want.ways == tp && (D->style == MT_PLAN_OURS || D->seq_sym)) {
            /* half an all-reduce; transformers' row-parallel layers all-reduce
             * their output (unless sequence parallel: output_layouts=Shard(1)),
             * so its style slices after a full one */
            cost = elem_factor(tp) * B, kind = MT_COMM_REDUCE_SCATTER;
        } else if (v->p.kind == MT_PLACE_PARTIAL) {
            cost = 2 * elem_factor(tp) * B, kind = MT_COMM_ALL_REDUCE;
        } else if (v->p.kind == MT_PLACE_SHARD && v->p.dim != want.dim && v->p.ways == tp && want.ways == tp) {
            cost = elem_factor(tp) * B / tp, kind = MT_COMM_ALL_TO_ALL;
        } else {
            cost = (double)(v->p.ways - 1) / v->p.ways * B, kind = MT_COMM_ALL_GATHER;
        }
    } else { /* replicate */
        if (v->p.kind == MT_PLACE_PARTIAL) cost = 2 * elem_factor(tp) * B, kind = MT_COMM_ALL_REDUCE;
        else cost = (double)(v->p.ways - 1) / v->p.ways * B, kind = MT_COMM_ALL_GATHER;
    }
    if (commit) {
        if (kind >= 0) {
            E->comm += cost * E->w;
            E->ncoll += E->w;
            if (kind != MT_COMM_ALL_TO_ALL && kind != MT_COMM_REDUCE_SCATTER)
                v->avail |= 1u; /* the whole tensor now exists */
            if (E->record) {
                pl_rec rec = {kind, s, consumer, v->p, want, B, cost};
                pl_push_rec(E, &rec);
            }
        }
        v->avail |= bit_of(want, tp);
        if (want.kind == MT_PLACE_SHARD && kind < 0) E->sliced[s] = true;
    }
    return cost;
}

/* ---- candidates ---- */
#define MAXREQ 40
typedef struct cand {
    mt_placement out;
    int n;
    int slot[MAXREQ];
    mt_placement want[MAXREQ];
} cand;

typedef struct cands {
    cand c[12];
    int n;
} cands;

static cand *cand_new(cands *cs, mt_placement out) {
    if (cs->n >= 12) return NULL;
    cand *c = &cs->c[cs->n++];
    c->out = out;
    c->n = 0;
    return c;
}

static void cand_req(cand *c, int slot, mt_placement want) {
    if (!c || slot < 0 || c->n >= MAXREQ) return;
    c->slot[c->n] = slot;
    c->want[c->n] = want;
    c->n++;
}

static double cand_cost(pl_eval *E, const cand *c, const mt_node *n) {
    double sum = 0;
    for (int i = 0; i < c->n; i++) {
        double x = convert(E, c->slot[i], c->want[i], n, false);
        if (x >= INF) return INF;
        sum += x;
    }
    return sum;
}

/* Keep the cheapest candidate (the first on ties: rules list R first) and
 * apply its conversions. Returns its output placement. */
static mt_placement choose(pl_eval *E, cands *cs, const mt_node *n) {
    int best = -1;
    double bc = INF;
    for (int i = 0; i < cs->n; i++) {
        double x = cand_cost(E, &cs->c[i], n);
        if (x < bc * (1 - PL_PARAMS.tie_rel) - PL_PARAMS.tie_abs || (best < 0 && x < INF)) {
            bc = x;
            best = i;
        }
    }
    if (best < 0) {
        E->infeasible = true;
        return PL_R;
    }
    cand *c = &cs->c[best];
    for (int i = 0; i < c->n; i++) convert(E, c->slot[i], c->want[i], n, true);
    return c->out;
}

/* ---- the node view: each node's parameters, read once by name ----
 * A sharding rule reads the tensor parameters RULE_PARAMS names (through the
 * op's signature: positional or keyword, aliases included), the `dim`
 * parameter and, for the dim-map rules, the forward map of the op's dims
 * class (trace/dims.c), all resolved here once per graph, so a propagation
 * reads no argument by name or position. */

/* The tensor parameters each sharding rule reads, in pl_nview.in's order. */
static const char *const RULE_PARAMS[MT_SHARD_COUNT][PL_NV_IN] = {
    [MT_SHARD_MATMUL] = {"input", "other"},
    [MT_SHARD_LINEAR] = {"input", "weight", "bias"},
    [MT_SHARD_EMBEDDING] = {"input", "weight"},
    [MT_SHARD_SDPA] = {"query", "key", "value", "attn_mask"},
    [MT_SHARD_LAYER_NORM] = {"input", "weight", "bias"},
    [MT_SHARD_INDEX_SELECT] = {"input", "index"},
    [MT_SHARD_INDEX_ADD] = {"self", "index", "source"},
    [MT_SHARD_HEADS] = {"query", "key", "value", "g", "beta"},
    [MT_SHARD_REPEAT] = {"input"},
};

static int slot_of(const pl_view *G, const mt_tensor *t) {
    if (!t || !t->node) return -1;
    return G->out_off[t->node->index] + (int)(t - t->node->outs);
}

static const mt_tensor *tensor_of(const pl_view *G, int s) { return s >= 0 ? G->slot_t[s] : NULL; }

static void set_map(pl_nview *V, const int *map) {
    for (int d = 0; d < MT_MAX_DIMS; d++) V->map[d] = (signed char)map[d];
    V->follow = true;
}

/* A layer norm module reads its last len(normalized_shape) dims whole. */
static void module_norm_map(const mt_node *n, const mt_tensor *x, pl_nview *V) {
    const mt_arg *ns = mt_module_get_attr(n->module, "normalized_shape");
    int k = ns && ns->kind == MT_ARG_LIST ? ns->v.list.n : 1;
    int map[MT_MAX_DIMS];
    for (int i = 0; i < MT_MAX_DIMS; i++) map[i] = i < x->ndim && i < x->ndim - k ? i : -1;
    set_map(V, map);
}

/* A view's runs of dims (its dims spec) where a shard can become packed or
 * a packed dim plain again (view_packed): the first input dim inside a run
 * flattened into one output dim whose inner length (it and the dims after it
 * in the run) is constant, and the last input dim unflattened into several,
 * its innermost output dim. */
static void view_runs(pl_view *G, pl_nview *V, const mt_tensor *x, const mt_tensor *y, const mt_dimspec *spec) {
    for (int o = 0; o < y->ndim; o++) {
        const mt_dimspec *sp = &spec[o];
        if (sp->kind != MT_DS_RUN || sp->piece != 0) continue;
        if (sp->nout == 1 && sp->nin > 1 && V->pdim < 0) {
            /* the outermost non-1 dim maps whole (pl_nview.map); the ones inside it pack */
            int first = sp->in;
            while (first < sp->in + sp->nin - 1 && dimv(x, first) == 1) first++;
            for (int d = first + 1; d < sp->in + sp->nin && V->pdim < 0; d++) {
                int64_t inner = 1;
                for (int e = d; e < sp->in + sp->nin && inner > 0; e++) {
                    int64_t v = dimv(x, e);
                    inner = v > 0 && inner <= INT64_MAX / v ? inner * v : -1;
                }
                if (inner <= 1 || dimv(x, d) <= 1) continue;
                int lay = pl_layout(G, 0, &inner);
                if (lay) V->pdim = (signed char)d, V->pout = (signed char)o, V->play = lay;
            }
        } else if (sp->nin == 1 && sp->nout > 1) {
            int64_t part = dimv(y, o + sp->nout - 1);
            int lay = part > 1 ? pl_layout(G, 0, &part) : 0;
            if (lay) V->udim = sp->in, V->uout = (signed char)(o + sp->nout - 1), V->ulay = lay;
        }
    }
}

mt_status pl_nviews(pl_view *G) {
    mt_ctx *ctx = G->ctx;
    const mt_graph *g = G->g;
    G->nv = mt_alloc_array(ctx, (size_t)g->n + 1, sizeof *G->nv);
    if (!G->nv) return mt_ctx_status(ctx);
    for (int i = 0; i < g->n; i++) {
        const mt_node *n = g->nodes[i];
        pl_nview *V = &G->nv[i];
        for (int k = 0; k < PL_NV_IN; k++) V->in[k] = -1;
        for (int d = 0; d < MT_MAX_DIMS; d++) V->map[d] = -1;
        V->dim = -1;
        V->pdim = V->pout = V->udim = V->uout = -1;
        if (n->op == MT_NODE_CALL_MODULE) {
            const mt_tensor *x = mt__node_input(n);
            V->in[0] = slot_of(G, x);
            if (x && n->module && n->module->leaf == MT_LEAF_LAYERNORM) module_norm_map(n, x, V);
            continue;
        }
        const mt_opinfo *info = mt__op_info(n->opid);
        if (!info || n->nout < 1) continue;
        for (int k = 0; k < PL_NV_IN && RULE_PARAMS[info->shard][k]; k++)
            V->in[k] = slot_of(G, mt__node_tensor(n, RULE_PARAMS[info->shard][k]));
        int64_t d = 0;
        switch (info->shard) {
        case MT_SHARD_GETITEM: {
            const mt_tensor *x = mt__node_input(n);
            if (x && x->node && x->node->is_tuple) { /* an element of a tuple */
                int64_t e = 0;
                mt__node_int(n, "b", &e); /* operator.getitem(a, b) */
                if (e < 0) e += x->node->nout;
                V->tuple = true;
                V->dim = G->out_off[x->node->index] + (int)e;
                break;
            }
        }
        /* fall through */
        case MT_SHARD_MAP:
        case MT_SHARD_SPLIT:
        case MT_SHARD_LAYER_NORM: {
            mt_dimspec spec[MT_MAX_DIMS];
            int map[MT_MAX_DIMS];
            const mt_tensor *x = mt__dimspec(ctx, n, 0, spec);
            if (!x) break;
            mt__dimspec_forward(ctx, x, &n->outs[0], spec, map);
            set_map(V, map);
            V->in[0] = slot_of(G, x);
            if (info->dims == MT_DIMS_VIEW) view_runs(G, V, x, &n->outs[0], spec);
            if (info->shard == MT_SHARD_SPLIT && mt__node_int(n, "dim", &d)) {
                /* the pieces' lengths along the split dim: the layout a packed input must have */
                V->dim = mt__wrap_dim(d, x->ndim);
                int64_t lens[MT_PLAN_MAX_PARTS];
                bool ok = n->nout >= 2 && n->nout <= MT_PLAN_MAX_PARTS && V->dim >= 0;
                for (int k = 0; ok && k < n->nout; k++) ok = (lens[k] = dimv(&n->outs[k], V->dim)) > 0;
                if (ok) V->lay = pl_layout(G, n->nout, lens);
            }
            break;
        }
        case MT_SHARD_JOIN: {
            V->list = mt__node_arg(n, "tensors");
            mt__node_int(n, "dim", &d);
            V->dim = mt__wrap_dim(d, n->outs[0].ndim);
            /* the inputs' lengths along the joined dim: the layout of a join of sharded pieces */
            const mt_arg *l = V->list;
            int64_t lens[MT_PLAN_MAX_PARTS];
            bool ok = l && l->kind == MT_ARG_LIST && l->v.list.n >= 2 && l->v.list.n <= MT_PLAN_MAX_PARTS &&
                      info->dims == MT_DIMS_CAT && V->dim >= 0;
            for (int k = 0; ok && k < l->v.list.n; k++)
                ok = l->v.list.items[k].kind == MT_ARG_TENSOR && l->v.list.items[k].v.t->ndim == n->outs[0].ndim &&
                     (lens[k] = dimv(l->v.list.items[k].v.t, V->dim)) > 0;
            if (ok) V->lay = pl_layout(G, l->v.list.n, lens);
            break;
        }
        case MT_SHARD_REPEAT: {
            const mt_arg *r = mt__node_arg(n, "repeats");
            const mt_tensor *x = tensor_of(G, V->in[0]);
            V->has_dim = r && r->kind == MT_ARG_INT && r->v.i >= 1 && x && mt__node_int(n, "dim", &d);
            V->dim = V->has_dim ? mt__wrap_dim(d, x->ndim) : -1;
            break;
        }
        case MT_SHARD_INDEX_SELECT:
        case MT_SHARD_INDEX_ADD: {
            const mt_tensor *x = tensor_of(G, V->in[0]);
            V->has_dim = mt__node_int(n, "dim", &d);
            V->dim = x ? mt__wrap_dim(d, x->ndim) : -1;
            break;
        }
        default: break;
        }
    }
    return MT_OK;
}

/* All tensor arguments (args, lists, kwargs) in order. */
static int tensor_args(const pl_view *G, const mt_node *n, int *slots, int max) {
    int k = 0;
    PL_FOR_TENSOR_ARGS(n, t, {
        if (k < max) slots[k++] = slot_of(G, t);
    })
    return k;
}

static const mt_placement *cur(pl_eval *E, int s) { return &E->vals[s].p; }

/* The placement an input effectively offers: its own, or (when replicated)
 * nothing specific. */
static bool is_shard(pl_eval *E, int s) { return s >= 0 && cur(E, s)->kind == MT_PLACE_SHARD; }
static bool is_partial(pl_eval *E, int s) { return s >= 0 && cur(E, s)->kind == MT_PLACE_PARTIAL; }

/* ---- rules ---- */

static void all_r(pl_eval *E, const mt_node *n, cands *cs) {
    cand *c = cand_new(cs, PL_R);
    int sl[MAXREQ];
    int k = tensor_args(E->G, n, sl, MAXREQ);
    for (int i = 0; i < k; i++) cand_req(c, sl[i], PL_R);
}

static void rule_replicate(pl_eval *E, const mt_node *n, mt_placement *out) {
    cands cs;
    cs.n = 0;
    all_r(E, n, &cs);
    for (int i = 0; i < n->nout; i++) out[i] = PL_R;
    out[0] = choose(E, &cs, n);
    for (int i = 1; i < n->nout; i++) out[i] = out[0];
}

/* Elementwise with broadcasting over the op's `operands` leading arguments.
 * Partial sums pass by the linearity: through any one operand, the others
 * whole (EACH: mul, neg, casts), through the first (FIRST: division), or as
 * the sum of partial operands (SUM: add, sub, with no scalar operand). */
static void elementwise(pl_eval *E, const mt_node *n, mt_placement *out, int operands, mt_lin lin) {
    const pl_view *G = E->G;
    const pl_degree *D = &E->D;
    const mt_tensor *y = &n->outs[0];
    uint32_t linear_in = lin == MT_LIN_EACH ? (1u << operands) - 1u : lin == MT_LIN_FIRST ? 1u : 0u;
    bool all_partial = lin == MT_LIN_SUM;
    int sl[MAXREQ];
    const mt_tensor *ts[MAXREQ];
    int k = 0;
    bool nontensor = false;
    for (int i = 0; i < n->nargs && i < operands; i++) {
        if (n->args[i].kind == MT_ARG_TENSOR && k < MAXREQ) {
            ts[k] = n->args[i].v.t;
            sl[k++] = slot_of(G, n->args[i].v.t);
        } else if (n->args[i].kind == MT_ARG_INT || n->args[i].kind == MT_ARG_FLOAT ||
                   n->args[i].kind == MT_ARG_BOOL) {
            nontensor = true;
        }
    }
    cands cs;
    cs.n = 0;
    cand *c = cand_new(&cs, PL_R);
    for (int i = 0; i < k; i++) cand_req(c, sl[i], PL_R);
    /* sharded candidates: one per output dim some input is sharded on */
    bool tried[MT_MAX_DIMS] = {false};
    for (int i = 0; i < k; i++) {
        if (!is_shard(E, sl[i])) continue;
        mt_placement ip = *cur(E, sl[i]);
        int od = ip.dim + (y->ndim - ts[i]->ndim);
        if (od < 0 || od >= y->ndim || tried[od]) continue;
        tried[od] = true;
        c = cand_new(&cs, PL_SL(od, ip.ways, ip.layout));
        for (int j = 0; j < k; j++) {
            int jd = od - (y->ndim - ts[j]->ndim);
            if (jd >= 0 && ts[j]->shape[jd] == y->shape[od]) cand_req(c, sl[j], PL_SL(jd, ip.ways, ip.layout));
            else cand_req(c, sl[j], PL_R);
        }
    }
    /* sequence parallelism: a partial sum reduce-scattered along the
     * sequence (the residual stream then stays in sequence blocks) */
    int sd = -1;
    for (int d = 0; D->seq_sym && d < y->ndim && sd < 0; d++)
        if (y->shape[d] == D->seq_sym && !tried[d]) sd = d;
    for (int i = 0; i < k && sd >= 0; i++) {
        if (cur(E, sl[i])->kind != MT_PLACE_PARTIAL) continue;
        c = cand_new(&cs, PL_S(sd, D->tp));
        for (int j = 0; j < k; j++) {
            int jd = sd - (y->ndim - ts[j]->ndim);
            if (jd >= 0 && ts[j]->shape[jd] == y->shape[sd]) cand_req(c, sl[j], PL_S(jd, D->tp));
            else cand_req(c, sl[j], PL_R);
        }
        break;
    }
    /* partial sums */
    for (int i = 0; i < k; i++) {
        if (cur(E, sl[i])->kind != MT_PLACE_PARTIAL) continue;
        if (all_partial && !nontensor) {
            c = cand_new(&cs, PL_P);
            for (int j = 0; j < k; j++) cand_req(c, sl[j], PL_P);
        } else if (linear_in & (1u << i)) {
            c = cand_new(&cs, PL_P);
            for (int j = 0; j < k; j++) cand_req(c, sl[j], j == i ? PL_P : PL_R);
        }
        break;
    }
    out[0] = choose(E, &cs, n);
}

static const mt_opinfo *info_of(const mt_node *n) { return mt__op_info(n->opid); }

static void rule_elementwise(pl_eval *E, const mt_node *n, mt_placement *out) {
    const mt_opinfo *info = info_of(n);
    elementwise(E, n, out, info->operands, info->lin);
}

/* clamp/clamp_ act on each element alone (OLMo's clip_qkv keeps a
 * column-parallel q/k/v sharded); positional tensor bounds broadcast like any
 * elementwise operand, keyword tensor bounds keep the op replicated. Not
 * linear: a partial sum is reduced first. */
static void rule_clamp(pl_eval *E, const mt_node *n, mt_placement *out) {
    for (int i = 0; i < n->nkwargs; i++)
        if (n->kwargs[i].value.kind == MT_ARG_TENSOR) { rule_replicate(E, n, out); return; }
    rule_elementwise(E, n, out);
}

/* A view whose input is held as ip, a dim that does not pass whole: flattened
 * after the dims before it (Qwen3-Next's [b, s, heads, d] -> [-1, d] with the
 * heads sharded: each rank's rows are its heads of every (b, s), the parts
 * the heads' run), or a packed dim of equal parts unflattened so its
 * innermost output dim is one part (back to [b, s, heads, d]: the heads
 * sharded again). Replicated (kind R) when neither. */
static mt_placement view_packed(const pl_eval *E, const mt_node *n, mt_placement ip) {
    const pl_nview *V = &E->G->nv[n->index];
    const mt_tensor *y = &n->outs[0];
    if (!ip.layout && V->play && ip.dim == V->pdim && shardable(E, y, V->pout, ip.ways, V->play))
        return PL_SL(V->pout, ip.ways, V->play);
    if (ip.layout && ip.layout == V->ulay && ip.dim == V->udim && shardable(E, y, V->uout, ip.ways, 0))
        return PL_S(V->uout, ip.ways);
    return PL_R;
}

/* One input (slot s), its dims moved by `map` (input dim -> output dim, -1:
 * the dim does not survive whole, so a shard there is gathered); view/reshape
 * need the blocks to divide the output dim; partial sums pass when `pass`.
 * Every output takes the placement chosen. */
static void map_rule(pl_eval *E, const mt_node *n, mt_placement *out, int s, const signed char *map, bool need_div,
                     bool pass) {
    cands cs;
    cs.n = 0;
    cand *c = cand_new(&cs, PL_R);
    cand_req(c, s, PL_R);
    if (is_shard(E, s)) {
        mt_placement ip = *cur(E, s);
        const mt_tensor *x = tensor_of(E->G, s);
        int od = map[ip.dim];
        /* a packed dim keeps its parts where the dim passes whole */
        if (od >= 0 && ip.layout && x->shape[ip.dim] != n->outs[0].shape[od]) od = -1;
        if (od >= 0 && (!need_div || shardable(E, &n->outs[0], od, ip.ways, ip.layout) ||
                        sym_splits(E->G, &n->outs[0], od, ip.ways))) {
            c = cand_new(&cs, PL_SL(od, ip.ways, ip.layout));
            cand_req(c, s, ip);
        } else if (need_div) {
            /* a view: a shard flattened with the dims before it (packed: parts
             * of its run's inner length), or a packed dim unflattened so its
             * part is the output's inner dims (the shard lands on the first) */
            mt_placement o = view_packed(E, n, ip);
            if (o.kind == MT_PLACE_SHARD) {
                c = cand_new(&cs, o);
                cand_req(c, s, ip);
            }
        }
    }
    if (pass && is_partial(E, s)) {
        c = cand_new(&cs, PL_P);
        cand_req(c, s, PL_P);
    }
    mt_placement r = choose(E, &cs, n);
    for (int i = 0; i < n->nout; i++) out[i] = r;
}

/* Shape ops (view, transpose, ... getitem), reductions, softmax, topk, triu:
 * the op's dims class maps the input's shard (pl_nviews). */
static void rule_map(pl_eval *E, const mt_node *n, mt_placement *out) {
    const pl_nview *V = &E->G->nv[n->index];
    const mt_opinfo *info = info_of(n);
    if (!V->follow) { rule_replicate(E, n, out); return; }
    int s = V->in[0];
    if (n->opid == MT_OP_SUM && is_shard(E, s) && cur(E, s)->ways == E->D.tp && V->map[cur(E, s)->dim] < 0) {
        /* a sum over the sharded dim: each rank sums its block, a partial
         * sum (Llama 4's routed outputs summed over experts held E/tp per
         * rank); with fewer blocks than ranks a block would be counted twice */
        cands cs;
        cs.n = 0;
        cand *c = cand_new(&cs, PL_R);
        cand_req(c, s, PL_R);
        c = cand_new(&cs, PL_P);
        cand_req(c, s, *cur(E, s));
        mt_placement r = choose(E, &cs, n);
        for (int i = 0; i < n->nout; i++) out[i] = r;
        return;
    }
    map_rule(E, n, out, s, V->map, info->dims == MT_DIMS_VIEW, info->lin != MT_LIN_NONE);
}

/* x[..., start::step] on dim d held in `ways` blocks: each rank's block
 * starts at a multiple of the step when the step divides the block, so the
 * rank slices its own block and holds the output's block d (gpt_oss's
 * interleaved gate/up columns, gate_up[..., ::2] and [..., 1::2]). */
static bool strided_keeps(const mt_node *n, const mt_tensor *x, int d, int ways) {
    const mt_arg *ix = mt__node_arg(n, "b"); /* operator.getitem(a, b): the index */
    if (!ix || n->nout < 1 || x->ndim != n->outs[0].ndim) return false;
    const mt_arg *items = ix->kind == MT_ARG_LIST ? ix->v.list.items : ix;
    int cnt = ix->kind == MT_ARG_LIST ? ix->v.list.n : 1, k = 0;
    for (int i = 0; i < cnt; i++) {
        if (items[i].kind == MT_ARG_SLICE) k++;
        else if (items[i].kind != MT_ARG_ELLIPSIS) return false;
    }
    for (int i = 0, pos = 0; i < cnt; i++) {
        if (items[i].kind == MT_ARG_ELLIPSIS) {
            pos += x->ndim - k;
            continue;
        }
        if (pos++ != d) continue;
        const mt_sym *st = items[i].v.slice.start, *sp = items[i].v.slice.stop, *step = items[i].v.slice.step;
        int64_t a = st && mt_sym_is_const(st) ? mt_sym_const_value(st) : st ? -1 : 0;
        int64_t b = step && mt_sym_is_const(step) ? mt_sym_const_value(step) : -1;
        int64_t N = dimv(x, d);
        return !sp && b > 1 && a >= 0 && a < b && N > 0 && N % ((int64_t)ways * b) == 0;
    }
    return false;
}

static void rule_getitem(pl_eval *E, const mt_node *n, mt_placement *out) {
    const pl_nview *V = &E->G->nv[n->index];
    if (V->tuple) { /* an element of a tuple: take its placement */
        out[0] = E->vals[V->dim].p;
        E->vals[E->G->out_off[n->index]].avail = E->vals[V->dim].avail;
        return;
    }
    int s = V->in[0];
    const mt_tensor *x = tensor_of(E->G, s);
    if (V->follow && x && is_shard(E, s) && !cur(E, s)->layout && V->map[cur(E, s)->dim] < 0 &&
        strided_keeps(n, x, cur(E, s)->dim, cur(E, s)->ways)) {
        signed char map[MT_MAX_DIMS];
        memcpy(map, V->map, sizeof map);
        map[cur(E, s)->dim] = (signed char)cur(E, s)->dim;
        map_rule(E, n, out, s, map, false, true);
        return;
    }
    rule_map(E, n, out);
}

/* split/chunk: the split dim cannot be sharded (each rank's block would cut
 * across pieces); other dims pass to every piece, and so does a partial sum
 * (slicing is linear). */
static void rule_split(pl_eval *E, const mt_node *n, mt_placement *out) {
    const pl_nview *V = &E->G->nv[n->index];
    if (!V->follow) { rule_replicate(E, n, out); return; }
    if (is_partial(E, V->in[0])) {
        for (int i = 0; i < n->nout; i++) out[i] = PL_P;
        return;
    }
    int s = V->in[0];
    if (is_shard(E, s) && cur(E, s)->dim == V->dim && cur(E, s)->layout && cur(E, s)->layout == V->lay) {
        /* pieces that are the parts of a packed dim: each rank holds its
         * block of every piece (vLLM's merged column-parallel [gate | up]) */
        cands cs;
        cs.n = 0;
        cand *c = cand_new(&cs, PL_R);
        cand_req(c, s, PL_R);
        c = cand_new(&cs, PL_S(V->dim, cur(E, s)->ways));
        cand_req(c, s, *cur(E, s));
        mt_placement r = choose(E, &cs, n);
        for (int i = 0; i < n->nout; i++) out[i] = r;
        return;
    }
    map_rule(E, n, out, s, V->map, false, false);
}

/* repeat_interleave(x, r, dim) with an int r: each element repeated in place,
 * so a rank's block of `dim` repeated is its block of the output (Qwen3-Next's
 * key heads repeated to the value heads stay head-sharded); other dims pass as
 * they are. A tensor of repeats, or no dim (flattened): whole. */
static void rule_repeat(pl_eval *E, const mt_node *n, mt_placement *out) {
    const pl_nview *V = &E->G->nv[n->index];
    int s = V->in[0];
    if (!V->has_dim || V->dim < 0 || !n->nargs) { rule_replicate(E, n, out); return; }
    cands cs;
    cs.n = 0;
    cand *c = cand_new(&cs, PL_R);
    cand_req(c, s, PL_R);
    if (is_shard(E, s) && (cur(E, s)->dim != V->dim || !cur(E, s)->layout)) {
        c = cand_new(&cs, *cur(E, s));
        cand_req(c, s, *cur(E, s));
    }
    out[0] = choose(E, &cs, n);
}

/* index_select(input, dim, index): picking rows along `dim` keeps a shard
 * on another dim, and is linear (a partial sum passes). The index is whole. */
static void rule_index_select(pl_eval *E, const mt_node *n, mt_placement *out) {
    const pl_nview *V = &E->G->nv[n->index];
    int sx = V->in[0], si = V->in[1], dim = V->dim;
    if (sx < 0 || si < 0 || !V->has_dim) {
        rule_replicate(E, n, out);
        return;
    }
    cands cs;
    cs.n = 0;
    cand *c = cand_new(&cs, PL_R);
    cand_req(c, sx, PL_R);
    cand_req(c, si, PL_R);
    if ((is_shard(E, sx) && cur(E, sx)->dim != dim) || is_partial(E, sx)) {
        c = cand_new(&cs, *cur(E, sx));
        cand_req(c, sx, *cur(E, sx));
        cand_req(c, si, PL_R);
    }
    out[0] = choose(E, &cs, n);
}

/* index_add_(self, dim, index, source): adding rows along `dim` keeps a
 * shard on another dim held by both, and sums partial sums; a self made by
 * zeros/zeros_like is zero in any placement (every rank's zeros sum to
 * zero), so it takes the source's. */
static void rule_index_add(pl_eval *E, const mt_node *n, mt_placement *out) {
    const pl_view *G = E->G;
    const pl_nview *V = &G->nv[n->index];
    int ss = V->in[0], si = V->in[1], sr = V->in[2], dim = V->dim;
    const mt_tensor *self = tensor_of(G, ss), *src = tensor_of(G, sr);
    if (!self || si < 0 || !src || !V->has_dim || self->ndim != src->ndim) {
        rule_replicate(E, n, out);
        return;
    }
    bool zero = self->node && (self->node->opid == MT_OP_ZEROS || self->node->opid == MT_OP_ZEROS_LIKE);
    cands cs;
    cs.n = 0;
    cand *c = cand_new(&cs, PL_R);
    cand_req(c, ss, PL_R);
    cand_req(c, si, PL_R);
    cand_req(c, sr, PL_R);
    const mt_placement *ps = cur(E, sr);
    if ((ps->kind == MT_PLACE_SHARD && ps->dim != dim) || ps->kind == MT_PLACE_PARTIAL) {
        c = cand_new(&cs, *ps);
        if (!zero) cand_req(c, ss, *ps);
        cand_req(c, si, PL_R);
        cand_req(c, sr, *ps);
    }
    out[0] = choose(E, &cs, n);
}

static void rule_layer_norm(pl_eval *E, const mt_node *n, mt_placement *out) {
    const pl_nview *V = &E->G->nv[n->index];
    /* weight and bias are replicated: require them whole */
    cands tmp;
    tmp.n = 0;
    cand *c = cand_new(&tmp, PL_R);
    for (int i = 1; i < 3; i++)
        if (V->in[i] >= 0) cand_req(c, V->in[i], PL_R);
    for (int i = 0; i < c->n; i++) convert(E, c->slot[i], c->want[i], n, true);
    if (!V->follow) { rule_replicate(E, n, out); return; }
    map_rule(E, n, out, V->in[0], V->map, false, false);
}

/* cat / stack of a list along `dim`: every input must carry the same
 * placement. cat cannot cut along its dim (so a shard there is gathered);
 * stack inserts a new dim, moving a shard at or after it one dim on
 * (Cohere's interleaved rotate_half stacks the head-sharded halves). Partial
 * sums pass through both. */
static void rule_join(pl_eval *E, const mt_node *n, mt_placement *out) {
    const pl_view *G = E->G;
    const pl_nview *V = &G->nv[n->index];
    bool stack = info_of(n)->dims == MT_DIMS_STACK;
    const mt_arg *l = V->list;
    if (!l || l->kind != MT_ARG_LIST) { rule_replicate(E, n, out); return; }
    int jd = V->dim;
    int sl[MAXREQ], k = 0;
    for (int i = 0; i < l->v.list.n && k < MAXREQ; i++)
        if (l->v.list.items[i].kind == MT_ARG_TENSOR) sl[k++] = slot_of(G, l->v.list.items[i].v.t);
    cands cs;
    cs.n = 0;
    cand *c = cand_new(&cs, PL_R);
    for (int i = 0; i < k; i++) cand_req(c, sl[i], PL_R);
    for (int i = 0; i < k && jd >= 0; i++) {
        if (!is_shard(E, sl[i]) || (!stack && cur(E, sl[i])->dim == jd)) continue;
        mt_placement ip = *cur(E, sl[i]);
        c = cand_new(&cs, stack ? PL_SL(ip.dim < jd ? ip.dim : ip.dim + 1, ip.ways, ip.layout) : ip);
        for (int j = 0; j < k; j++) cand_req(c, sl[j], ip);
        break;
    }
    for (int i = 0; i < k && jd >= 0 && !stack && V->lay; i++) {
        /* pieces sharded on the joined dim: each rank joins its blocks, the
         * output packed in the pieces' parts (Qwen3-Next's cat(q, k, v) of
         * head-sharded projections before its depthwise conv) */
        if (!is_shard(E, sl[i]) || cur(E, sl[i])->dim != jd || cur(E, sl[i])->layout) continue;
        int w = cur(E, sl[i])->ways;
        if (!shardable(E, &n->outs[0], jd, w, V->lay)) break;
        c = cand_new(&cs, PL_SL(jd, w, V->lay));
        for (int j = 0; j < k; j++) cand_req(c, sl[j], PL_S(jd, w));
        break;
    }
    bool allp = k > 0;
    for (int i = 0; i < k; i++) allp = allp && cur(E, sl[i])->kind == MT_PLACE_PARTIAL;
    if (allp) {
        c = cand_new(&cs, PL_P);
        for (int j = 0; j < k; j++) cand_req(c, sl[j], PL_P);
    }
    out[0] = choose(E, &cs, n);
}

/* matmul: batch dims shard together, rows of a, columns of b, or the inner
 * dim in both (a partial sum). */
static void rule_matmul(pl_eval *E, const mt_node *n, mt_placement *out) {
    const pl_view *G = E->G;
    const pl_degree *D = &E->D;
    const pl_nview *V = &G->nv[n->index];
    int sa = V->in[0], sb = V->in[1];
    const mt_tensor *a = tensor_of(G, sa), *b = tensor_of(G, sb), *y = &n->outs[0];
    if (!a || !b || a->ndim < 2 || b->ndim < 2) { rule_replicate(E, n, out); return; }
    int tp = D->tp;
    cands cs;
    cs.n = 0;
    cand *c = cand_new(&cs, PL_R);
    cand_req(c, sa, PL_R), cand_req(c, sb, PL_R);
    for (int od = 0; od < y->ndim; od++) {
        int ad, bd;
        mt_placement o;
        if (od == y->ndim - 2) ad = a->ndim - 2, bd = -1;
        else if (od == y->ndim - 1) ad = -1, bd = b->ndim - 1;
        else {
            ad = od - (y->ndim - a->ndim);
            bd = od - (y->ndim - b->ndim);
            if (ad >= 0 && a->shape[ad] != y->shape[od]) ad = -1;
            if (bd >= 0 && b->shape[bd] != y->shape[od]) bd = -1;
        }
        int w = tp, lay = 0;
        if (ad >= 0 && is_shard(E, sa) && cur(E, sa)->dim == ad) w = cur(E, sa)->ways, lay = cur(E, sa)->layout;
        else if (bd >= 0 && is_shard(E, sb) && cur(E, sb)->dim == bd) w = cur(E, sb)->ways, lay = cur(E, sb)->layout;
        else continue; /* only dims an input is already sharded on */
        o = PL_SL(od, w, lay);
        c = cand_new(&cs, o);
        cand_req(c, sa, ad >= 0 ? PL_SL(ad, w, lay) : PL_R);
        cand_req(c, sb, bd >= 0 ? PL_SL(bd, w, lay) : PL_R);
    }
    if ((is_shard(E, sa) && cur(E, sa)->dim == a->ndim - 1) ||
        (is_shard(E, sb) && cur(E, sb)->dim == b->ndim - 2 && expert_weight(G, sb))) {
        /* the inner dim (an expert weight's rows: the input is cut locally) */
        c = cand_new(&cs, PL_P);
        cand_req(c, sa, PL_S(a->ndim - 1, tp));
        cand_req(c, sb, PL_S(b->ndim - 2, tp));
    }
    out[0] = choose(E, &cs, n);
}

/* functional linear with a weight that is a graph value (get_attr). */
static void rule_flinear(pl_eval *E, const mt_node *n, mt_placement *out) {
    const pl_view *G = E->G;
    const pl_degree *D = &E->D;
    const pl_nview *V = &G->nv[n->index];
    int sx = V->in[0], sw = V->in[1], sb = V->in[2];
    const mt_tensor *x = tensor_of(G, sx);
    if (!x) { rule_replicate(E, n, out); return; }
    int last = x->ndim - 1;
    cands cs;
    cs.n = 0;
    cand *c = cand_new(&cs, PL_R);
    cand_req(c, sx, PL_R), cand_req(c, sw, PL_R), cand_req(c, sb, PL_R);
    if (is_shard(E, sx) && cur(E, sx)->dim != last) {
        c = cand_new(&cs, *cur(E, sx));
        cand_req(c, sx, *cur(E, sx)), cand_req(c, sw, PL_R), cand_req(c, sb, PL_R);
    }
    bool xw = expert_weight(G, sw) && is_shard(E, sw); /* one expert's slice [out, in] of a sharded fused weight */
    if (((is_shard(E, sx) && cur(E, sx)->dim == last) || (xw && cur(E, sw)->dim == 1)) && sb < 0) {
        /* the contraction (an expert weight's input features: the input is cut locally) */
        c = cand_new(&cs, PL_P);
        cand_req(c, sx, PL_S(last, D->tp)), cand_req(c, sw, PL_S(1, D->tp));
    }
    if (xw && cur(E, sw)->dim == 0 && sb < 0) {
        /* an expert weight's output features: columns of the output */
        c = cand_new(&cs, PL_SL(last, cur(E, sw)->ways, cur(E, sw)->layout));
        cand_req(c, sx, PL_R), cand_req(c, sw, *cur(E, sw));
    }
    out[0] = choose(E, &cs, n);
}

static void rule_fembedding(pl_eval *E, const mt_node *n, mt_placement *out) {
    const pl_nview *V = &E->G->nv[n->index];
    int sx = V->in[0], sw = V->in[1];
    cands cs;
    cs.n = 0;
    cand *c = cand_new(&cs, PL_R);
    cand_req(c, sx, PL_R), cand_req(c, sw, PL_R);
    if (is_shard(E, sx)) {
        c = cand_new(&cs, *cur(E, sx));
        cand_req(c, sx, *cur(E, sx)), cand_req(c, sw, PL_R);
    }
    out[0] = choose(E, &cs, n);
}

/* sdpa: shard heads (or batch) of q, k, v and the mask where it is not broadcast. */
static void rule_sdpa(pl_eval *E, const mt_node *n, mt_placement *out) {
    const pl_view *G = E->G;
    const pl_degree *D = &E->D;
    const pl_nview *V = &G->nv[n->index];
    int sq = V->in[0], sk = V->in[1], sv = V->in[2], sm = V->in[3];
    const mt_tensor *q = tensor_of(G, sq), *k = tensor_of(G, sk), *v = tensor_of(G, sv), *m = tensor_of(G, sm);
    if (!q || !k || !v || q->ndim < 3) { rule_replicate(E, n, out); return; }
    cands cs;
    cs.n = 0;
    cand *c = cand_new(&cs, PL_R);
    cand_req(c, sq, PL_R), cand_req(c, sk, PL_R), cand_req(c, sv, PL_R), cand_req(c, sm, PL_R);
    int dims[2] = {q->ndim - 3, 0};
    for (int i = 0; i < 2; i++) {
        int d = dims[i];
        if (i == 1 && d == dims[0]) break;
        int w = D->tp;
        c = cand_new(&cs, PL_S(d, w));
        cand_req(c, sq, PL_S(d, w));
        cand_req(c, sk, PL_S(d - (q->ndim - k->ndim), w));
        cand_req(c, sv, PL_S(d - (q->ndim - v->ndim), w));
        if (m) {
            int md = d - (q->ndim - m->ndim);
            cand_req(c, sm, md >= 0 && m->shape[md] == q->shape[d] ? PL_S(md, w) : PL_R);
        }
    }
    out[0] = choose(E, &cs, n);
}

/* The gated delta rule (q, k, v [B, T, H, d], g, beta [B, T, H]): each head's
 * recurrence reads only its own head, so the heads (dim 2 of every operand)
 * split with no communication; or everything whole. A final state [B, H, K, V]
 * is split at its heads (dim 1) alike. */
static void rule_heads(pl_eval *E, const mt_node *n, mt_placement *out) {
    const pl_view *G = E->G;
    const pl_degree *D = &E->D;
    const pl_nview *V = &G->nv[n->index];
    cands cs;
    cs.n = 0;
    cand *c = cand_new(&cs, PL_R);
    for (int k = 0; k < 5; k++) cand_req(c, V->in[k], PL_R);
    const mt_tensor *q = tensor_of(G, V->in[0]);
    if (q && q->ndim == 4) {
        c = cand_new(&cs, PL_S(2, D->tp));
        for (int k = 0; k < 5; k++) cand_req(c, V->in[k], PL_S(2, D->tp));
    }
    out[0] = choose(E, &cs, n);
    for (int i = 1; i < n->nout; i++)
        out[i] = out[0].kind == MT_PLACE_SHARD ? PL_S(1, out[0].ways) : out[0];
}

/* A recurrent scan: every channel's (selective_scan) or head's (lightning_attention)
 * recurrence is its own, so the operands that carry the channel or head dim split alike
 * there and the result keeps the split on dim 1; operands shared by the channels (the
 * scan's B and C) stay whole. Read by name through the op's signature. */
typedef struct chan_operand {
    const char *name;
    int dim; /* -1: whole */
} chan_operand;

static const chan_operand SCAN_OPERANDS[] = {{"u", 1}, {"delta", 1}, {"z", 1}, {"A", 0}, {"D", 0},
                                             {"delta_bias", 0}, {"B", -1}, {"C", -1}, {NULL, 0}};
static const chan_operand LIGHTNING_OPERANDS[] = {{"query", 1}, {"key", 1}, {"value", 1}, {"slope_rate", 0},
                                                  {"query_decay", 0}, {"key_decay", 0}, {"diagonal_decay", 1},
                                                  {NULL, 0}};

static void rule_channels(pl_eval *E, const mt_node *n, mt_placement *out) {
    const pl_view *G = E->G;
    const pl_degree *D = &E->D;
    const chan_operand *ops = n->opid == MT_OP_SELECTIVE_SCAN ? SCAN_OPERANDS
                              : n->opid == MT_OP_LIGHTNING_ATTENTION ? LIGHTNING_OPERANDS : NULL;
    if (!ops || n->nout < 1 || n->outs[0].ndim < 2) { rule_replicate(E, n, out); return; }
    cands cs;
    cs.n = 0;
    for (int k = 0; k < 2; k++) {
        int w = D->tp;
        cand *c = cand_new(&cs, k == 0 ? PL_R : PL_S(1, w));
        for (const chan_operand *o = ops; o->name; o++) {
            int sl = slot_of(G, mt__node_tensor(n, o->name));
            if (sl >= 0) cand_req(c, sl, k == 0 || o->dim < 0 ? PL_R : PL_S(o->dim, w));
        }
    }
    out[0] = choose(E, &cs, n);
}

/* Linear / Embedding modules: the choice of their weight decides. */
static void rule_weight(pl_eval *E, const mt_node *n, mt_placement *out) {
    const pl_view *G = E->G;
    const pl_degree *D = &E->D;
    const pl_var *Vr = &G->vars[G->node_var[n->index]];
    pl_opt o = D->vo[G->node_var[n->index]].opts[E->choice[G->node_var[n->index]]];
    int sx = G->nv[n->index].in[0];
    int last = G->slot_t[sx]->ndim - 1;
    bool emb = n->module->leaf == MT_LEAF_EMBEDDING;
    cands cs;
    cs.n = 0;
    cand *c;
    if (o.dim < 0) {
        c = cand_new(&cs, PL_R);
        cand_req(c, sx, PL_R);
        if (is_shard(E, sx) && (emb || cur(E, sx)->dim != last)) {
            c = cand_new(&cs, *cur(E, sx));
            cand_req(c, sx, *cur(E, sx));
        }
    } else if (emb) {
        /* a sharded lookup is made whole right away (all-reduce of the vocab
         * blocks, all-gather of the embedding columns): the residual stream
         * starts replicated */
        c = cand_new(&cs, PL_R);
        cand_req(c, sx, PL_R);
        choose(E, &cs, n);
        int s = E->G->out_off[n->index];
        E->vals[s].p = o.dim == 0 ? PL_P : PL_S(n->outs[0].ndim - 1, o.ways);
        E->vals[s].avail = 0;
        convert(E, s, PL_R, n, true);
        out[0] = PL_R;
        return;
    } else if (o.dim == Vr->out_dim) {
        c = cand_new(&cs, PL_SL(n->outs[0].ndim - 1, o.ways, o.lay));
        cand_req(c, sx, PL_R);
    } else {
        E->split_in[n->index] = !(is_shard(E, sx) && cur(E, sx)->dim == last && cur(E, sx)->ways == D->tp);
        c = cand_new(&cs, PL_P);
        cand_req(c, sx, PL_S(last, D->tp));
    }
    out[0] = choose(E, &cs, n);
}

/* torch.nn.Conv1d over [b, C, s]: a depthwise one (groups = in = out channels)
 * convolves every channel alone, so a shard of the channels (packed or not)
 * passes to the output, each rank convolving its channels with its rows of the
 * weight (held whole in the plan's memory: C x kernel elements); any other
 * conv1d runs whole. */
static void rule_conv1d(pl_eval *E, const mt_node *n, mt_placement *out) {
    int s = E->G->nv[n->index].in[0];
    const mt_arg *gr = mt_module_get_attr(n->module, "groups");
    const mt_arg *ic = mt_module_get_attr(n->module, "in_channels");
    const mt_arg *oc = mt_module_get_attr(n->module, "out_channels");
    bool depthwise = gr && ic && oc && gr->kind == MT_ARG_INT && ic->kind == MT_ARG_INT && oc->kind == MT_ARG_INT &&
                     gr->v.i == ic->v.i && ic->v.i == oc->v.i;
    cands cs;
    cs.n = 0;
    cand *c = cand_new(&cs, PL_R);
    cand_req(c, s, PL_R);
    if (depthwise && is_shard(E, s) && cur(E, s)->dim == 1 && tensor_of(E->G, s)->ndim == 3) {
        c = cand_new(&cs, *cur(E, s));
        cand_req(c, s, *cur(E, s));
    }
    out[0] = choose(E, &cs, n);
}

static void rule_call_module(pl_eval *E, const mt_node *n, mt_placement *out) {
    const pl_nview *V = &E->G->nv[n->index];
    switch (n->module ? n->module->leaf : MT_LEAF_NONE) {
    case MT_LEAF_LINEAR:
    case MT_LEAF_CONV1D:
    case MT_LEAF_EMBEDDING: rule_weight(E, n, out); break;
    case MT_LEAF_LAYERNORM: map_rule(E, n, out, V->in[0], V->map, false, false); break;
    case MT_LEAF_DROPOUT: elementwise(E, n, out, 1, MT_LIN_EACH); break;
    case MT_LEAF_ACT: elementwise(E, n, out, 1, MT_LIN_NONE); break;
    case MT_LEAF_NN_CONV1D: rule_conv1d(E, n, out); break;
    default: rule_replicate(E, n, out); break;
    }
}

/* The op table's sharding rule of a call_function/call_method node. A switch
 * without default: -Wswitch (in -Wall, an error under MT_WERROR) names a rule
 * of mt_shard left without its function. */
static void rule_op(pl_eval *E, const mt_node *n, mt_placement *out) {
    const mt_opinfo *info = info_of(n);
    switch (info ? info->shard : MT_SHARD_MISSING) {
    case MT_SHARD_MISSING:
    case MT_SHARD_COUNT:
    case MT_SHARD_REPLICATE: rule_replicate(E, n, out); break;
    case MT_SHARD_ELEMENTWISE: rule_elementwise(E, n, out); break;
    case MT_SHARD_CLAMP: rule_clamp(E, n, out); break;
    case MT_SHARD_MAP: rule_map(E, n, out); break;
    case MT_SHARD_GETITEM: rule_getitem(E, n, out); break;
    case MT_SHARD_SPLIT: rule_split(E, n, out); break;
    case MT_SHARD_JOIN: rule_join(E, n, out); break;
    case MT_SHARD_MATMUL: rule_matmul(E, n, out); break;
    case MT_SHARD_LINEAR: rule_flinear(E, n, out); break;
    case MT_SHARD_EMBEDDING: rule_fembedding(E, n, out); break;
    case MT_SHARD_SDPA: rule_sdpa(E, n, out); break;
    case MT_SHARD_LAYER_NORM: rule_layer_norm(E, n, out); break;
    case MT_SHARD_INDEX_SELECT: rule_index_select(E, n, out); break;
    case MT_SHARD_INDEX_ADD: rule_index_add(E, n, out); break;
    case MT_SHARD_HEADS: rule_heads(E, n, out); break;
    case MT_SHARD_CHANNELS: rule_channels(E, n, out); break;
    case MT_SHARD_REPEAT: rule_repeat(E, n, out); break;
    }
}

/* ---- one propagation ---- */
void pl_propagate(pl_eval *E) {
    const pl_view *G = E->G;
    const pl_degree *D = &E->D;
    const mt_graph *g = G->g;
    E->comm = 0;
    E->ncoll = 0;
    E->infeasible = false;
    E->nrecs = 0;
    /* the window: the nodes of one block of each kind (weighted by the
     * blocks it stands for) and the nodes outside blocks; the skipped
     * blocks' outputs stay replicated and are never read by the window */
    const double *w = E->window ? G->node_w : NULL;
    int nn = w ? G->nwin : g->n;
    if (w) {
        for (int k = 0; k < nn; k++) {
            int i = G->win[k];
            int nout = g->nodes[i]->nout > 0 ? g->nodes[i]->nout : 1;
            for (int j = 0; j < nout; j++) {
                E->vals[G->out_off[i] + j] = (pl_val){PL_R, 0u};
                E->sliced[G->out_off[i] + j] = false;
            }
        }
    } else {
        memset(E->sliced, 0, (size_t)G->nslots * sizeof *E->sliced);
        for (int i = 0; i < G->nslots; i++) E->vals[i] = (pl_val){PL_R, 0u};
    }
    mt_placement outs[MT_MAX_OUTS];
    E->w = 1;
    for (int k = 0; k < nn; k++) {
        int i = w ? G->win[k] : k;
        const mt_node *n = g->nodes[i];
        if (w) E->w = w[i];
        int nout = n->nout > 0 ? n->nout : 1;
        for (int k = 0; k < nout; k++) outs[k] = PL_R;
        switch (n->op) {
        case MT_NODE_PLACEHOLDER: break;
        case MT_NODE_GET_ATTR:
            /* a fused 3-D expert weight: held as its choice */
            if (G->node_var[i] >= 0) {
                pl_opt o = D->vo[G->node_var[i]].opts[E->choice[G->node_var[i]]];
                outs[0] = o.dim < 0 ? PL_R : PL_SL(o.dim, o.ways, o.lay);
            }
            break;
        case MT_NODE_OUTPUT: {
            cands cs;
            cs.n = 0;
            all_r(E, n, &cs);
            choose(E, &cs, n);
            continue;
        }
        case MT_NODE_CALL_MODULE: rule_call_module(E, n, outs); break;
        default: rule_op(E, n, outs); break;
        }
        for (int k = 0; k < n->nout; k++) {
            pl_val *v = &E->vals[G->out_off[i] + k];
            uint32_t keep = (n->opid == MT_OP_GETITEM && k == 0) ? v->avail : 0;
            v->p = outs[k];
            v->avail = keep | bit_of(outs[k], D->tp);
        }
        /* skipped blocks' nodes read by the window hold what their
         * representative produced */
        if (w)
            for (int j = G->mir_head[i]; j >= 0; j = G->mir_next[j])
                for (int k = 0; k < n->nout && k < g->nodes[j]->nout; k++)
                    E->vals[G->out_off[j] + k] = (pl_val){outs[k], bit_of(outs[k], D->tp)};
    }
}

void pl_push_rec(pl_eval *E, const pl_rec *r) {
    mt_ctx *ctx = E->G->ctx;
    if (E->nrecs == E->caprecs) {
        int nc = E->caprecs ? E->caprecs * 2 : 64;
        pl_rec *n = mt_heap_alloc(ctx, (size_t)nc * sizeof *n);
        if (!n) {
            E->lost = true; /* the report fails (the status is on the context) */
            return;
        }
        if (E->nrecs) memcpy(n, E->recs, (size_t)E->nrecs * sizeof *n);
        if (E->recs) mt_heap_free(ctx, E->recs);
        E->recs = n;
        E->caprecs = nc;
    }
    E->recs[E->nrecs++] = *r;
}
