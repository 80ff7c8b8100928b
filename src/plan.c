/* Tensor-parallel planning: axis propagation over the traced graph, a search
 * over the Linear/Embedding weight choices, and the per-rank report.
 *
 * Every tensor (node output) carries a placement (replicated, partial sum,
 * or sharded on one dim into `ways` blocks) and the set of placements already
 * materialized for it (a gathered copy is reused by later consumers). Each op
 * has one propagation rule (the table at the end, indexed by mt_op_id; leaf
 * modules by mt_leaf_kind): it lists candidate output placements with the
 * placement each input must have, and keeps the cheapest; converting an input
 * inserts a collective (all-reduce, all-gather, all-to-all) or is free
 * (slicing a replicated tensor). Parameter roles follow from the choice made
 * for each Linear/Embedding weight; the search keeps the cheapest choice. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "plan_internal.h"

/* ---- placements ---- */
static const mt_placement PL_R = {MT_PLACE_REPLICATE, -1, 1};
static const mt_placement PL_P = {MT_PLACE_PARTIAL, -1, 1};
static mt_placement PL_S(int d, int w) { return (mt_placement){MT_PLACE_SHARD, d, w}; }

static bool pl_eq(mt_placement a, mt_placement b) {
    if (a.kind != b.kind) return false;
    return a.kind != MT_PLACE_SHARD || (a.dim == b.dim && a.ways == b.ways);
}

const char *mt_placement_str(mt_ctx *ctx, mt_placement p) {
    switch (p.kind) {
    case MT_PLACE_REPLICATE: return "R";
    case MT_PLACE_PARTIAL: return "P";
    default: return mt_sprintf(ctx, "S(%d)/%d", p.dim, p.ways);
    }
}

static const char *const ROLE_NAMES[MT_ROLE_COUNT] = {"replicate", "colwise", "rowwise", "embedding_rowwise",
                                                      "embedding_colwise", "colwise_bias"};
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
static bool shardable(const planner *P, const mt_tensor *t, int d, int w) {
    int64_t v;
    if (w < 1 || d < 0 || d >= t->ndim) return false;
    if (dim_const(t, d, &v)) return v % w == 0;
    return P->seq_sym && t->shape[d] == P->seq_sym && P->seq % w == 0;
}

/* ---- evaluation: conversions ---- */
#define INF 1e300

static uint32_t bit_of(mt_placement p, int tp) {
    if (p.kind == MT_PLACE_REPLICATE) return 1u;
    if (p.kind == MT_PLACE_PARTIAL) return 2u;
    return p.ways == tp ? 4u << p.dim : 0u;
}

static bool has(const pl_val *v, mt_placement want, int tp) {
    if (pl_eq(v->p, want)) return true;
    uint32_t b = bit_of(want, tp);
    return b && (v->avail & b);
}

static double elem_factor(int tp) { return (double)(tp - 1) / (double)tp; }

/* Cost of turning slot s into `want`; with commit, records and marks available. */
static double convert(pl_eval *E, int s, mt_placement want, const mt_node *consumer, bool commit) {
    const planner *P = E->P;
    int tp = P->tp;
    pl_val *v = &E->vals[s];
    if (has(v, want, tp)) return 0;
    const mt_tensor *t = P->slot_t[s];
    double B = P->bpt[s];
    bool have_r = v->p.kind == MT_PLACE_REPLICATE || (v->avail & 1u);
    double cost = 0;
    int kind = -1;
    if (want.kind == MT_PLACE_PARTIAL) return INF;
    if (want.kind == MT_PLACE_SHARD) {
        if (!shardable(P, t, want.dim, want.ways)) return INF;
        if (v->p.kind == MT_PLACE_SHARD && v->p.dim == want.dim && want.ways % v->p.ways == 0) {
            cost = 0; /* finer blocks of what the rank holds: local slice */
        } else if (have_r) {
            cost = 0;
        } else if (v->p.kind == MT_PLACE_PARTIAL && want.ways == tp && (P->style == MT_PLAN_OURS || P->seq_sym)) {
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
        if (x < bc * (1 - 1e-12) - 1e-9 || (best < 0 && x < INF)) {
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

/* ---- args ---- */
static int slot_of(const planner *P, const mt_tensor *t) {
    if (!t || !t->node) return -1;
    return P->out_off[t->node->index] + (int)(t - t->node->outs);
}

static const mt_arg *arg_at(const mt_node *n, int pos, const char *kw) {
    if (pos >= 0 && pos < n->nargs) return &n->args[pos];
    for (int i = 0; kw && i < n->nkwargs; i++)
        if (strcmp(n->kwargs[i].name, kw) == 0) return &n->kwargs[i].value;
    return NULL;
}

static const mt_tensor *tensor_at(const mt_node *n, int pos, const char *kw) {
    const mt_arg *a = arg_at(n, pos, kw);
    return a && a->kind == MT_ARG_TENSOR ? a->v.t : NULL;
}

static bool int_at(const mt_node *n, int pos, const char *kw, int64_t *v) {
    const mt_arg *a = arg_at(n, pos, kw);
    if (!a || a->kind != MT_ARG_INT) return false;
    *v = a->v.i;
    return true;
}

static int wrapd(int64_t d, int nd) {
    if (d < 0) d += nd;
    return (d >= 0 && d < nd) ? (int)d : -1;
}

/* All tensor arguments (args, lists, kwargs) in order. */
static int tensor_args(const planner *P, const mt_node *n, int *slots, int max) {
    int k = 0;
    PL_FOR_TENSOR_ARGS(n, t, {
        if (k < max) slots[k++] = slot_of(P, t);
    })
    return k;
}

static const mt_placement *cur(pl_eval *E, int s) { return &E->vals[s].p; }

/* The placement an input effectively offers: its own, or (when replicated)
 * nothing specific. */
static bool is_shard(pl_eval *E, int s) { return s >= 0 && cur(E, s)->kind == MT_PLACE_SHARD; }

/* ---- rules ---- */
typedef void (*rule_fn)(pl_eval *E, const mt_node *n, mt_placement *out);

static void all_r(pl_eval *E, const mt_node *n, cands *cs) {
    cand *c = cand_new(cs, PL_R);
    int sl[MAXREQ];
    int k = tensor_args(E->P, n, sl, MAXREQ);
    for (int i = 0; i < k; i++) cand_req(c, sl[i], PL_R);
}

static void rule_replicate(pl_eval *E, const mt_node *n, mt_placement *out) {
    cands cs = {.n = 0};
    all_r(E, n, &cs);
    for (int i = 0; i < n->nout; i++) out[i] = PL_R;
    out[0] = choose(E, &cs, n);
    for (int i = 1; i < n->nout; i++) out[i] = out[0];
}

/* Elementwise with broadcasting. `linear_in`: bitmask of argument positions
 * through which a partial sum may pass unreduced (mul/div by a replicated
 * factor, neg, casts); `all_partial`: add/sub of partial sums. */
static void elementwise(pl_eval *E, const mt_node *n, mt_placement *out, int max_args, uint32_t linear_in,
                        bool all_partial) {
    const planner *P = E->P;
    const mt_tensor *y = &n->outs[0];
    int sl[MAXREQ];
    const mt_tensor *ts[MAXREQ];
    int k = 0;
    bool nontensor = false;
    for (int i = 0; i < n->nargs && i < max_args; i++) {
        if (n->args[i].kind == MT_ARG_TENSOR && k < MAXREQ) {
            ts[k] = n->args[i].v.t;
            sl[k++] = slot_of(P, n->args[i].v.t);
        } else if (n->args[i].kind == MT_ARG_INT || n->args[i].kind == MT_ARG_FLOAT ||
                   n->args[i].kind == MT_ARG_BOOL) {
            nontensor = true;
        }
    }
    cands cs = {.n = 0};
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
        c = cand_new(&cs, PL_S(od, ip.ways));
        for (int j = 0; j < k; j++) {
            int jd = od - (y->ndim - ts[j]->ndim);
            if (jd >= 0 && ts[j]->shape[jd] == y->shape[od]) cand_req(c, sl[j], PL_S(jd, ip.ways));
            else cand_req(c, sl[j], PL_R);
        }
    }
    /* sequence parallelism: a partial sum reduce-scattered along the
     * sequence (the residual stream then stays in sequence blocks) */
    int sd = -1;
    for (int d = 0; P->seq_sym && d < y->ndim && sd < 0; d++)
        if (y->shape[d] == P->seq_sym && !tried[d]) sd = d;
    for (int i = 0; i < k && sd >= 0; i++) {
        if (cur(E, sl[i])->kind != MT_PLACE_PARTIAL) continue;
        c = cand_new(&cs, PL_S(sd, P->tp));
        for (int j = 0; j < k; j++) {
            int jd = sd - (y->ndim - ts[j]->ndim);
            if (jd >= 0 && ts[j]->shape[jd] == y->shape[sd]) cand_req(c, sl[j], PL_S(jd, P->tp));
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

static void rule_binary_add(pl_eval *E, const mt_node *n, mt_placement *out) { elementwise(E, n, out, 2, 0, true); }
static void rule_binary_mul(pl_eval *E, const mt_node *n, mt_placement *out) { elementwise(E, n, out, 2, 3, false); }
static void rule_binary_div(pl_eval *E, const mt_node *n, mt_placement *out) { elementwise(E, n, out, 2, 1, false); }
static void rule_pointwise(pl_eval *E, const mt_node *n, mt_placement *out) { elementwise(E, n, out, 3, 0, false); }
static void rule_linear1(pl_eval *E, const mt_node *n, mt_placement *out) { elementwise(E, n, out, 1, 1, false); }
static void rule_nonlinear1(pl_eval *E, const mt_node *n, mt_placement *out) { elementwise(E, n, out, 1, 0, false); }
/* clamp/clamp_ act on each element alone (OLMo's clip_qkv keeps a
 * column-parallel q/k/v sharded); positional tensor bounds broadcast like any
 * elementwise operand, keyword tensor bounds keep the op replicated. Not
 * linear: a partial sum is reduced first. */
static void rule_clamp(pl_eval *E, const mt_node *n, mt_placement *out) {
    for (int i = 0; i < n->nkwargs; i++)
        if (n->kwargs[i].value.kind == MT_ARG_TENSOR) { rule_replicate(E, n, out); return; }
    elementwise(E, n, out, 3, 0, false);
}

/* Shape-only ops: a map from input dims to output dims (-1: the dim does not
 * survive as a whole). Partial sums pass through. */
static void shape_map(pl_eval *E, const mt_node *n, mt_placement *out, const int *map, int need_div) {
    const planner *P = E->P;
    const mt_tensor *x = n->args[0].v.t;
    int s = slot_of(P, x);
    cands cs = {.n = 0};
    cand *c = cand_new(&cs, PL_R);
    cand_req(c, s, PL_R);
    if (is_shard(E, s)) {
        mt_placement ip = *cur(E, s);
        int od = map[ip.dim];
        if (od >= 0 && (!need_div || shardable(E->P, &n->outs[0], od, ip.ways))) {
            c = cand_new(&cs, PL_S(od, ip.ways));
            cand_req(c, s, ip);
        }
    }
    if (cur(E, s)->kind == MT_PLACE_PARTIAL) {
        c = cand_new(&cs, PL_P);
        cand_req(c, s, PL_P);
    }
    out[0] = choose(E, &cs, n);
}

/* view/reshape: input and output dims grouped into runs with equal
 * products, in order: run r covers input dims [ri[r], ri[r+1]) and output
 * dims [rj[r], rj[r+1]). Returns the number of runs (stops at the first dims
 * whose products cannot be matched). */
int pl_view_runs(mt_ctx *ctx, const mt_tensor *x, const mt_tensor *y, int *ri, int *rj) {
    int i = 0, j = 0, n = 0;
    ri[0] = rj[0] = 0;
    while (i < x->ndim && j < y->ndim) {
        const mt_sym *pa = x->shape[i++], *pb = y->shape[j++];
        int guard = 0;
        while (pa != pb && pa && pb && guard++ < 2 * MT_MAX_DIMS) {
            if (i < x->ndim && mt_sym_divides(ctx, pa, pb)) pa = mt_sym_mul(ctx, pa, x->shape[i++]);
            else if (j < y->ndim && mt_sym_divides(ctx, pb, pa)) pb = mt_sym_mul(ctx, pb, y->shape[j++]);
            else break;
        }
        if (!pa || pa != pb) break;
        n++;
        ri[n] = i, rj[n] = j;
    }
    return n;
}

/* view/reshape: the outermost (non-1) dim of an input run maps to the
 * outermost (non-1) dim of the output run. */
static void rule_view(pl_eval *E, const mt_node *n, mt_placement *out) {
    mt_ctx *ctx = E->P->ctx;
    const mt_tensor *x = n->args[0].v.t, *y = &n->outs[0];
    int map[MT_MAX_DIMS], ri[MT_MAX_DIMS + 1], rj[MT_MAX_DIMS + 1];
    for (int i = 0; i < MT_MAX_DIMS; i++) map[i] = -1;
    const mt_sym *one = mt_sym_const(ctx, 1);
    int nr = pl_view_runs(ctx, x, y, ri, rj);
    for (int r = 0; r < nr; r++) {
        int a = ri[r], b = rj[r];
        while (a < ri[r + 1] - 1 && x->shape[a] == one) a++;
        while (b < rj[r + 1] - 1 && y->shape[b] == one) b++;
        map[a] = b;
    }
    shape_map(E, n, out, map, 1);
}

static void rule_transpose(pl_eval *E, const mt_node *n, mt_placement *out) {
    const mt_tensor *x = n->args[0].v.t;
    int64_t a = 0, b = 0;
    int map[MT_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++) map[i] = i;
    if (int_at(n, 1, "dim0", &a) && int_at(n, 2, "dim1", &b)) {
        int wa = wrapd(a, x->ndim), wb = wrapd(b, x->ndim);
        if (wa >= 0 && wb >= 0) map[wa] = wb, map[wb] = wa;
    }
    shape_map(E, n, out, map, 0);
}

static void rule_permute(pl_eval *E, const mt_node *n, mt_placement *out) {
    const mt_tensor *x = n->args[0].v.t;
    int map[MT_MAX_DIMS];
    for (int i = 0; i < MT_MAX_DIMS; i++) map[i] = -1;
    const mt_arg *items = n->args + 1;
    int k = n->nargs - 1;
    if (k == 1 && n->args[1].kind == MT_ARG_LIST) items = n->args[1].v.list.items, k = n->args[1].v.list.n;
    for (int o = 0; o < k && o < MT_MAX_DIMS; o++) {
        if (items[o].kind != MT_ARG_INT) continue;
        int d = wrapd(items[o].v.i, x->ndim);
        if (d >= 0) map[d] = o;
    }
    shape_map(E, n, out, map, 0);
}

static void rule_unsqueeze(pl_eval *E, const mt_node *n, mt_placement *out) {
    const mt_tensor *x = n->args[0].v.t;
    int64_t d = 0;
    int map[MT_MAX_DIMS];
    int_at(n, 1, "dim", &d);
    int w = wrapd(d, x->ndim + 1);
    for (int i = 0; i < x->ndim; i++) map[i] = i < w ? i : i + 1;
    shape_map(E, n, out, map, 0);
}

/* squeeze and expand: match dims from the right / by size. */
static void rule_squeeze(pl_eval *E, const mt_node *n, mt_placement *out) {
    const mt_tensor *x = n->args[0].v.t, *y = &n->outs[0];
    int map[MT_MAX_DIMS];
    int j = 0;
    for (int i = 0; i < x->ndim; i++) {
        bool kept = j < y->ndim && (x->ndim - i) > (y->ndim - j) ? x->shape[i] == y->shape[j] &&
                                                                      !(mt_sym_is_const(x->shape[i]) &&
                                                                        mt_sym_const_value(x->shape[i]) == 1)
                                                                : true;
        if (j < y->ndim && kept) map[i] = j++;
        else map[i] = -1;
    }
    shape_map(E, n, out, map, 0);
}

static void rule_expand(pl_eval *E, const mt_node *n, mt_placement *out) {
    const mt_tensor *x = n->args[0].v.t, *y = &n->outs[0];
    int map[MT_MAX_DIMS];
    int off = y->ndim - x->ndim;
    for (int i = 0; i < x->ndim; i++) map[i] = (x->shape[i] == y->shape[i + off]) ? i + off : -1;
    shape_map(E, n, out, map, 0);
}

static void rule_getitem(pl_eval *E, const mt_node *n, mt_placement *out) {
    const mt_tensor *x = n->args[0].v.t;
    if (x->node && x->node->is_tuple) { /* an element of a tuple: take its placement */
        int64_t i = 0;
        int_at(n, 1, NULL, &i);
        if (i < 0) i += x->node->nout;
        int s = E->P->out_off[x->node->index] + (int)i;
        out[0] = E->vals[s].p;
        E->vals[E->P->out_off[n->index]].avail = E->vals[s].avail;
        return;
    }
    int map[MT_MAX_DIMS];
    if (!pl_getitem_map(n, x, &n->outs[0], map)) {
        rule_replicate(E, n, out);
        return;
    }
    shape_map(E, n, out, map, 0);
}

/* x[index] (an index, not a tuple element): map[i] = the output dim input
 * dim i becomes, -1 when it disappears (an int index) or is cut (a slice
 * changing its size). False for advanced (tensor) indexing or an index kind
 * not understood. */
bool pl_getitem_map(const mt_node *n, const mt_tensor *x, const mt_tensor *y, int *map) {
    for (int i = 0; i < MT_MAX_DIMS; i++) map[i] = -1;
    const mt_arg *idx = arg_at(n, 1, NULL);
    if (!idx) return false;
    const mt_arg *items = idx;
    int k = 1;
    if (idx->kind == MT_ARG_LIST) items = idx->v.list.items, k = idx->v.list.n;
    int consume = 0;
    for (int i = 0; i < k; i++)
        if (items[i].kind == MT_ARG_INT || items[i].kind == MT_ARG_SYM || items[i].kind == MT_ARG_SLICE) consume++;
    int d = 0, o = 0;
    for (int i = 0; i < k; i++) {
        switch (items[i].kind) {
        case MT_ARG_ELLIPSIS:
            for (int q = 0; q < x->ndim - consume && d < x->ndim; q++) map[d++] = o++;
            break;
        case MT_ARG_NONE: o++; break;
        case MT_ARG_SLICE:
            if (d < x->ndim && o < y->ndim && x->shape[d] == y->shape[o]) map[d] = o;
            d++, o++;
            break;
        case MT_ARG_INT:
        case MT_ARG_SYM: d++; break;
        default: return false;
        }
        if (d > x->ndim) return false;
    }
    while (d < x->ndim && o < y->ndim) map[d++] = o++;
    return true;
}

/* Reductions: a reduced dim cannot be sharded. */
static void reduce_like(pl_eval *E, const mt_node *n, mt_placement *out, const bool *reduced, bool keepdim) {
    const planner *P = E->P;
    const mt_tensor *x = n->args[0].v.t;
    int map[MT_MAX_DIMS];
    int o = 0;
    for (int i = 0; i < x->ndim; i++) {
        if (reduced[i]) map[i] = -1, o += keepdim ? 1 : 0;
        else map[i] = o++;
    }
    int s = slot_of(P, x);
    cands cs = {.n = 0};
    cand *c = cand_new(&cs, PL_R);
    cand_req(c, s, PL_R);
    if (is_shard(E, s) && map[cur(E, s)->dim] >= 0) {
        mt_placement ip = *cur(E, s);
        c = cand_new(&cs, PL_S(map[ip.dim], ip.ways));
        cand_req(c, s, ip);
    }
    mt_placement r = choose(E, &cs, n);
    for (int i = 0; i < n->nout; i++) out[i] = r;
}

static void dims_of(const mt_arg *a, int nd, bool *reduced) {
    for (int i = 0; i < MT_MAX_DIMS; i++) reduced[i] = false;
    if (!a || a->kind == MT_ARG_NONE) {
        for (int i = 0; i < nd; i++) reduced[i] = true;
        return;
    }
    const mt_arg *items = a;
    int k = 1;
    if (a->kind == MT_ARG_LIST) items = a->v.list.items, k = a->v.list.n;
    if (k == 0)
        for (int i = 0; i < nd; i++) reduced[i] = true;
    for (int i = 0; i < k; i++) {
        int d = items[i].kind == MT_ARG_INT ? wrapd(items[i].v.i, nd) : -1;
        if (d >= 0) reduced[d] = true;
    }
}

static void rule_reduce(pl_eval *E, const mt_node *n, mt_placement *out) {
    const mt_tensor *x = n->args[0].v.t;
    bool reduced[MT_MAX_DIMS];
    dims_of(arg_at(n, 1, "dim"), x->ndim, reduced);
    const mt_arg *kd = arg_at(n, 2, "keepdim");
    reduce_like(E, n, out, reduced, kd && kd->kind == MT_ARG_BOOL && kd->v.b);
}

static void rule_softmax(pl_eval *E, const mt_node *n, mt_placement *out) {
    const mt_tensor *x = n->args[0].v.t;
    bool reduced[MT_MAX_DIMS] = {false};
    int64_t d = -1;
    int_at(n, 1, "dim", &d);
    int w = wrapd(d, x->ndim);
    if (w >= 0) reduced[w] = true;
    reduce_like(E, n, out, reduced, true);
}

/* index_select(input, dim, index): picking rows along `dim` keeps a shard
 * on another dim, and is linear (a partial sum passes). The index is whole. */
static void rule_index_select(pl_eval *E, const mt_node *n, mt_placement *out) {
    const planner *P = E->P;
    const mt_tensor *x = tensor_at(n, 0, "input");
    const mt_tensor *ix = tensor_at(n, 2, "index");
    int64_t d = 0;
    if (!x || !ix || !int_at(n, 1, "dim", &d)) {
        rule_replicate(E, n, out);
        return;
    }
    int dim = wrapd(d, x->ndim), sx = slot_of(P, x), si = slot_of(P, ix);
    cands cs = {.n = 0};
    cand *c = cand_new(&cs, PL_R);
    cand_req(c, sx, PL_R);
    cand_req(c, si, PL_R);
    if ((is_shard(E, sx) && cur(E, sx)->dim != dim) || (sx >= 0 && cur(E, sx)->kind == MT_PLACE_PARTIAL)) {
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
    const planner *P = E->P;
    const mt_tensor *self = tensor_at(n, 0, "self"), *ix = tensor_at(n, 2, "index"), *src = tensor_at(n, 3, "source");
    int64_t d = 0;
    if (!self || !ix || !src || !int_at(n, 1, "dim", &d) || self->ndim != src->ndim) {
        rule_replicate(E, n, out);
        return;
    }
    int dim = wrapd(d, self->ndim), ss = slot_of(P, self), si = slot_of(P, ix), sr = slot_of(P, src);
    bool zero = self->node && (self->node->opid == MT_OP_ZEROS || self->node->opid == MT_OP_ZEROS_LIKE);
    cands cs = {.n = 0};
    cand *c = cand_new(&cs, PL_R);
    cand_req(c, ss, PL_R);
    cand_req(c, si, PL_R);
    cand_req(c, sr, PL_R);
    const mt_placement *ps = sr >= 0 ? cur(E, sr) : NULL;
    if (ps && ((ps->kind == MT_PLACE_SHARD && ps->dim != dim) || ps->kind == MT_PLACE_PARTIAL)) {
        c = cand_new(&cs, *ps);
        if (!zero) cand_req(c, ss, *ps);
        cand_req(c, si, PL_R);
        cand_req(c, sr, *ps);
    }
    out[0] = choose(E, &cs, n);
}

static void rule_topk(pl_eval *E, const mt_node *n, mt_placement *out) {
    const mt_tensor *x = n->args[0].v.t;
    bool reduced[MT_MAX_DIMS] = {false};
    int64_t d = -1;
    int_at(n, 2, "dim", &d);
    int w = wrapd(d, x->ndim);
    if (w >= 0) reduced[w] = true;
    reduce_like(E, n, out, reduced, true);
}

static void rule_layer_norm(pl_eval *E, const mt_node *n, mt_placement *out) {
    const mt_tensor *x = n->args[0].v.t;
    const mt_arg *ns = arg_at(n, 1, "normalized_shape");
    int k = ns && ns->kind == MT_ARG_LIST ? ns->v.list.n : 1;
    bool reduced[MT_MAX_DIMS] = {false};
    for (int i = x->ndim - k; i < x->ndim; i++)
        if (i >= 0) reduced[i] = true;
    /* weight and bias are replicated: require them whole */
    cands tmp = {.n = 0};
    cand *c = cand_new(&tmp, PL_R);
    for (int i = 2; i < 4; i++) {
        const mt_tensor *t = tensor_at(n, i, i == 2 ? "weight" : "bias");
        if (t) cand_req(c, slot_of(E->P, t), PL_R);
    }
    for (int i = 0; i < c->n; i++) convert(E, c->slot[i], c->want[i], n, true);
    reduce_like(E, n, out, reduced, true);
}

static void rule_triu(pl_eval *E, const mt_node *n, mt_placement *out) {
    const mt_tensor *x = n->args[0].v.t;
    bool reduced[MT_MAX_DIMS] = {false};
    for (int i = x->ndim - 2; i < x->ndim; i++)
        if (i >= 0) reduced[i] = true;
    reduce_like(E, n, out, reduced, true);
}

/* split/chunk: the split dim cannot be sharded (each rank's block would cut
 * across pieces); other dims pass to every piece. */
static void rule_split(pl_eval *E, const mt_node *n, mt_placement *out) {
    const mt_tensor *x = n->args[0].v.t;
    bool reduced[MT_MAX_DIMS] = {false};
    int64_t d = 0;
    int_at(n, 2, "dim", &d);
    int w = wrapd(d, x->ndim);
    if (w >= 0) reduced[w] = true;
    const planner *P = E->P;
    int s = slot_of(P, x);
    if (cur(E, s)->kind == MT_PLACE_PARTIAL) { /* slicing is linear */
        for (int i = 0; i < n->nout; i++) out[i] = PL_P;
        return;
    }
    reduce_like(E, n, out, reduced, true);
}

/* cat / stack of a list along `dim`: every input must carry the same
 * placement. cat cannot cut along its dim (so a shard there is gathered);
 * stack inserts a new dim, moving a shard at or after it one dim on
 * (Cohere's interleaved rotate_half stacks the head-sharded halves). Partial
 * sums pass through both. */
static void list_join(pl_eval *E, const mt_node *n, mt_placement *out, bool stack) {
    const planner *P = E->P;
    const mt_arg *l = arg_at(n, 0, "tensors");
    if (!l || l->kind != MT_ARG_LIST) { rule_replicate(E, n, out); return; }
    int64_t d = 0;
    int_at(n, 1, "dim", &d);
    int jd = wrapd(d, n->outs[0].ndim);
    int sl[MAXREQ], k = 0;
    for (int i = 0; i < l->v.list.n && k < MAXREQ; i++)
        if (l->v.list.items[i].kind == MT_ARG_TENSOR) sl[k++] = slot_of(P, l->v.list.items[i].v.t);
    cands cs = {.n = 0};
    cand *c = cand_new(&cs, PL_R);
    for (int i = 0; i < k; i++) cand_req(c, sl[i], PL_R);
    for (int i = 0; i < k && jd >= 0; i++) {
        if (!is_shard(E, sl[i]) || (!stack && cur(E, sl[i])->dim == jd)) continue;
        mt_placement ip = *cur(E, sl[i]);
        c = cand_new(&cs, stack ? PL_S(ip.dim < jd ? ip.dim : ip.dim + 1, ip.ways) : ip);
        for (int j = 0; j < k; j++) cand_req(c, sl[j], ip);
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
static void rule_cat(pl_eval *E, const mt_node *n, mt_placement *out) { list_join(E, n, out, false); }
static void rule_stack(pl_eval *E, const mt_node *n, mt_placement *out) { list_join(E, n, out, true); }

/* matmul: batch dims shard together, rows of a, columns of b, or the inner
 * dim in both (a partial sum). */
static void rule_matmul(pl_eval *E, const mt_node *n, mt_placement *out) {
    const planner *P = E->P;
    const mt_tensor *a = tensor_at(n, 0, "input"), *b = tensor_at(n, 1, "other"), *y = &n->outs[0];
    if (!a || !b || a->ndim < 2 || b->ndim < 2) { rule_replicate(E, n, out); return; }
    int sa = slot_of(P, a), sb = slot_of(P, b);
    int tp = P->tp;
    cands cs = {.n = 0};
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
        int w = tp;
        if (ad >= 0 && is_shard(E, sa) && cur(E, sa)->dim == ad) w = cur(E, sa)->ways;
        else if (bd >= 0 && is_shard(E, sb) && cur(E, sb)->dim == bd) w = cur(E, sb)->ways;
        else continue; /* only dims an input is already sharded on */
        o = PL_S(od, w);
        c = cand_new(&cs, o);
        cand_req(c, sa, ad >= 0 ? PL_S(ad, w) : PL_R);
        cand_req(c, sb, bd >= 0 ? PL_S(bd, w) : PL_R);
    }
    if (is_shard(E, sa) && cur(E, sa)->dim == a->ndim - 1) {
        c = cand_new(&cs, PL_P);
        cand_req(c, sa, PL_S(a->ndim - 1, tp));
        cand_req(c, sb, PL_S(b->ndim - 2, tp));
    }
    out[0] = choose(E, &cs, n);
}

/* functional linear with a weight that is a graph value (get_attr). */
static void rule_flinear(pl_eval *E, const mt_node *n, mt_placement *out) {
    const planner *P = E->P;
    const mt_tensor *x = tensor_at(n, 0, "input"), *w = tensor_at(n, 1, "weight"), *b = tensor_at(n, 2, "bias");
    int sx = slot_of(P, x), sw = slot_of(P, w), sb = b ? slot_of(P, b) : -1;
    int last = x->ndim - 1;
    cands cs = {.n = 0};
    cand *c = cand_new(&cs, PL_R);
    cand_req(c, sx, PL_R), cand_req(c, sw, PL_R), cand_req(c, sb, PL_R);
    if (is_shard(E, sx) && cur(E, sx)->dim != last) {
        c = cand_new(&cs, *cur(E, sx));
        cand_req(c, sx, *cur(E, sx)), cand_req(c, sw, PL_R), cand_req(c, sb, PL_R);
    }
    if (is_shard(E, sx) && cur(E, sx)->dim == last && !b) {
        c = cand_new(&cs, PL_P);
        cand_req(c, sx, PL_S(last, P->tp)), cand_req(c, sw, PL_S(1, P->tp));
    }
    out[0] = choose(E, &cs, n);
}

static void rule_fembedding(pl_eval *E, const mt_node *n, mt_placement *out) {
    const planner *P = E->P;
    const mt_tensor *x = tensor_at(n, 0, "input"), *w = tensor_at(n, 1, "weight");
    int sx = slot_of(P, x), sw = slot_of(P, w);
    cands cs = {.n = 0};
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
    const planner *P = E->P;
    const mt_tensor *q = tensor_at(n, 0, "query"), *k = tensor_at(n, 1, "key"), *v = tensor_at(n, 2, "value");
    const mt_tensor *m = tensor_at(n, 3, "attn_mask");
    if (!q || !k || !v || q->ndim < 3) { rule_replicate(E, n, out); return; }
    int sq = slot_of(P, q), sk = slot_of(P, k), sv = slot_of(P, v), sm = m ? slot_of(P, m) : -1;
    cands cs = {.n = 0};
    cand *c = cand_new(&cs, PL_R);
    cand_req(c, sq, PL_R), cand_req(c, sk, PL_R), cand_req(c, sv, PL_R), cand_req(c, sm, PL_R);
    int dims[2] = {q->ndim - 3, 0};
    for (int i = 0; i < 2; i++) {
        int d = dims[i];
        if (i == 1 && d == dims[0]) break;
        int w = P->tp;
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

static void rule_layer_norm_module(pl_eval *E, const mt_node *n, mt_placement *out) {
    const mt_tensor *x = n->args[0].v.t;
    const mt_arg *ns = mt_module_get_attr(n->module, "normalized_shape");
    int k = ns && ns->kind == MT_ARG_LIST ? ns->v.list.n : 1;
    bool reduced[MT_MAX_DIMS] = {false};
    for (int i = x->ndim - k; i < x->ndim; i++)
        if (i >= 0) reduced[i] = true;
    reduce_like(E, n, out, reduced, true);
}

/* Linear / Embedding modules: the choice of their weight decides. */
static void rule_weight(pl_eval *E, const mt_node *n, mt_placement *out) {
    const planner *P = E->P;
    const pl_var *V = &P->vars[P->node_var[n->index]];
    pl_opt o = V->opts[E->choice[P->node_var[n->index]]];
    const mt_tensor *x = n->args[0].v.t;
    int sx = slot_of(P, x);
    int last = x->ndim - 1;
    bool emb = n->module->leaf == MT_LEAF_EMBEDDING;
    cands cs = {.n = 0};
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
        int s = E->P->out_off[n->index];
        E->vals[s].p = o.dim == 0 ? PL_P : PL_S(n->outs[0].ndim - 1, o.ways);
        E->vals[s].avail = 0;
        convert(E, s, PL_R, n, true);
        out[0] = PL_R;
        return;
    } else if (o.dim == V->out_dim) {
        c = cand_new(&cs, PL_S(n->outs[0].ndim - 1, o.ways));
        cand_req(c, sx, PL_R);
    } else {
        E->split_in[n->index] = !(is_shard(E, sx) && cur(E, sx)->dim == last && cur(E, sx)->ways == P->tp);
        c = cand_new(&cs, PL_P);
        cand_req(c, sx, PL_S(last, P->tp));
    }
    out[0] = choose(E, &cs, n);
}

static void rule_call_module(pl_eval *E, const mt_node *n, mt_placement *out) {
    switch (n->module ? n->module->leaf : MT_LEAF_NONE) {
    case MT_LEAF_LINEAR:
    case MT_LEAF_CONV1D:
    case MT_LEAF_EMBEDDING: rule_weight(E, n, out); break;
    case MT_LEAF_LAYERNORM: rule_layer_norm_module(E, n, out); break;
    case MT_LEAF_DROPOUT: rule_linear1(E, n, out); break;
    case MT_LEAF_ACT: rule_nonlinear1(E, n, out); break;
    default: rule_replicate(E, n, out); break;
    }
}

/* view_as_complex drops the trailing pair dim; view_as_real adds it. The
 * other dims keep their shard (a column-parallel q stays sharded by heads). */
static void rule_view_as_complex(pl_eval *E, const mt_node *n, mt_placement *out) {
    const mt_tensor *x = n->args[0].v.t;
    int map[MT_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++) map[i] = i < x->ndim - 1 ? i : -1;
    shape_map(E, n, out, map, 0);
}
static void rule_view_as_real(pl_eval *E, const mt_node *n, mt_placement *out) {
    const mt_tensor *x = n->args[0].v.t;
    int map[MT_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++) map[i] = i;
    shape_map(E, n, out, map, 0);
}

/* One propagation rule per op. ORDER mt_op_id (designated initializers). */
static const rule_fn OP_RULES[MT_OP_COUNT] = {
    [MT_OP_ADD] = rule_binary_add, [MT_OP_SUB] = rule_binary_add, [MT_OP_MUL] = rule_binary_mul,
    [MT_OP_TRUEDIV] = rule_binary_div, [MT_OP_POW] = rule_pointwise, [MT_OP_MAXIMUM] = rule_pointwise,
    [MT_OP_MINIMUM] = rule_pointwise, [MT_OP_EQ] = rule_pointwise, [MT_OP_NE] = rule_pointwise,
    [MT_OP_LT] = rule_pointwise, [MT_OP_LE] = rule_pointwise, [MT_OP_GT] = rule_pointwise,
    [MT_OP_GE] = rule_pointwise, [MT_OP_AND] = rule_pointwise, [MT_OP_OR] = rule_pointwise,
    [MT_OP_WHERE] = rule_pointwise, [MT_OP_MASKED_FILL] = rule_pointwise, [MT_OP_NEG] = rule_linear1,
    [MT_OP_ABS] = rule_nonlinear1, [MT_OP_RSQRT] = rule_nonlinear1, [MT_OP_SQRT] = rule_nonlinear1,
    [MT_OP_EXP] = rule_nonlinear1, [MT_OP_LOG] = rule_nonlinear1, [MT_OP_SIN] = rule_nonlinear1,
    [MT_OP_COS] = rule_nonlinear1, [MT_OP_TANH] = rule_nonlinear1, [MT_OP_SIGMOID] = rule_nonlinear1,
    [MT_OP_SILU] = rule_nonlinear1, [MT_OP_GELU] = rule_nonlinear1, [MT_OP_RELU] = rule_nonlinear1,
    [MT_OP_TO] = rule_linear1, [MT_OP_TYPE_AS] = rule_linear1, [MT_OP_SUM] = rule_reduce,
    [MT_OP_MEAN] = rule_reduce, [MT_OP_AMAX] = rule_reduce, [MT_OP_SOFTMAX] = rule_softmax,
    [MT_OP_MATMUL] = rule_matmul, [MT_OP_LINEAR] = rule_flinear, [MT_OP_EMBEDDING] = rule_fembedding,
    [MT_OP_LAYER_NORM] = rule_layer_norm, [MT_OP_VIEW] = rule_view, [MT_OP_RESHAPE] = rule_view,
    [MT_OP_TRANSPOSE] = rule_transpose, [MT_OP_PERMUTE] = rule_permute, [MT_OP_UNSQUEEZE] = rule_unsqueeze,
    [MT_OP_SQUEEZE] = rule_squeeze, [MT_OP_EXPAND] = rule_expand, [MT_OP_CONTIGUOUS] = rule_linear1,
    [MT_OP_CAT] = rule_cat, [MT_OP_SPLIT] = rule_split, [MT_OP_CHUNK] = rule_split, [MT_OP_TOPK] = rule_topk,
    [MT_OP_GETITEM] = rule_getitem, [MT_OP_ARANGE] = rule_replicate, [MT_OP_FULL] = rule_replicate,
    [MT_OP_TRIU] = rule_triu, [MT_OP_SDPA] = rule_sdpa, [MT_OP_DROPOUT] = rule_linear1,
    [MT_OP_CLAMP] = rule_clamp, [MT_OP_CLAMP_] = rule_clamp, [MT_OP_STACK] = rule_stack,
    [MT_OP_FLATTEN] = rule_view, [MT_OP_INDEX_SELECT] = rule_index_select, [MT_OP_INDEX_ADD] = rule_index_add,
    /* cumsum is a scan along dim: a shard on dim would need the earlier shards'
     * totals, so dim is gathered like softmax's; other dims keep their shard */
    [MT_OP_CUMSUM] = rule_softmax, [MT_OP_CUMSUM_METHOD] = rule_softmax,
    /* the vision ops run on replicated tensors: conv2d's output channels could shard
     * with its weight, but the patch embedding is one small layer per image; avg_pool2d
     * windows span the spatial dims; masked_scatter reads source positions known only
     * with the data (Gemma 3's image merge) */
    [MT_OP_CONV2D] = rule_replicate, [MT_OP_AVG_POOL2D] = rule_replicate,
    [MT_OP_MASKED_SCATTER] = rule_replicate,
    /* Llama 4: bmm as a batched matmul (equal batch dims); repeat keeps the
     * shard of a dim repeated once, as expand does; the complex rotary views */
    [MT_OP_BMM] = rule_matmul, [MT_OP_REPEAT] = rule_expand, [MT_OP_ONES_LIKE] = rule_replicate,
    [MT_OP_POLAR] = rule_pointwise, [MT_OP_VIEW_AS_COMPLEX] = rule_view_as_complex,
    [MT_OP_VIEW_AS_REAL] = rule_view_as_real, [MT_OP_FLOOR] = rule_nonlinear1, [MT_OP_LOG1P] = rule_nonlinear1,
    [MT_OP_FLOORDIV] = rule_pointwise, [MT_OP_ADD_] = rule_binary_add,
};

/* ---- one propagation ---- */
void pl_propagate(pl_eval *E) {
    const planner *P = E->P;
    const mt_graph *g = P->g;
    E->comm = 0;
    E->ncoll = 0;
    E->infeasible = false;
    E->nrecs = 0;
    /* the window: the nodes of one block of each kind (weighted by the
     * blocks it stands for) and the nodes outside blocks; the skipped
     * blocks' outputs stay replicated and are never read by the window */
    const double *w = E->window ? P->node_w : NULL;
    int nn = w ? P->nwin : g->n;
    if (w) {
        for (int k = 0; k < nn; k++) {
            int i = P->win[k];
            int nout = g->nodes[i]->nout > 0 ? g->nodes[i]->nout : 1;
            for (int j = 0; j < nout; j++) {
                E->vals[P->out_off[i] + j] = (pl_val){PL_R, 0u};
                E->sliced[P->out_off[i] + j] = false;
            }
        }
    } else {
        memset(E->sliced, 0, (size_t)P->nslots * sizeof *E->sliced);
        for (int i = 0; i < P->nslots; i++) E->vals[i] = (pl_val){PL_R, 0u};
    }
    mt_placement outs[MT_MAX_OUTS];
    E->w = 1;
    for (int k = 0; k < nn; k++) {
        int i = w ? P->win[k] : k;
        const mt_node *n = g->nodes[i];
        if (w) E->w = w[i];
        int nout = n->nout > 0 ? n->nout : 1;
        for (int k = 0; k < nout; k++) outs[k] = PL_R;
        switch (n->op) {
        case MT_NODE_PLACEHOLDER:
        case MT_NODE_GET_ATTR: break;
        case MT_NODE_OUTPUT: {
            cands cs = {.n = 0};
            all_r(E, n, &cs);
            choose(E, &cs, n);
            continue;
        }
        case MT_NODE_CALL_MODULE: rule_call_module(E, n, outs); break;
        default:
            if (n->opid >= 0 && n->opid < MT_OP_COUNT && OP_RULES[n->opid]) OP_RULES[n->opid](E, n, outs);
            else rule_replicate(E, n, outs);
            break;
        }
        for (int k = 0; k < n->nout; k++) {
            pl_val *v = &E->vals[P->out_off[i] + k];
            uint32_t keep = (n->opid == MT_OP_GETITEM && k == 0) ? v->avail : 0;
            v->p = outs[k];
            v->avail = keep | bit_of(outs[k], P->tp);
        }
        /* skipped blocks' nodes read by the window hold what their
         * representative produced */
        if (w)
            for (int j = P->mir_head[i]; j >= 0; j = P->mir_next[j])
                for (int k = 0; k < n->nout && k < g->nodes[j]->nout; k++)
                    E->vals[P->out_off[j] + k] = (pl_val){outs[k], bit_of(outs[k], P->tp)};
    }
}
