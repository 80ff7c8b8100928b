/* Tensor-parallel planning: setup, the search over weight choices, and the
 * per-rank results (parameters, collectives, memory, plan dict, constraints). */
#include <stdlib.h>
#include <string.h>

#include <metatrace/fit.h>
#include <metatrace/sizing.h>

#include "plan_internal.h"

void pl_push_rec(pl_eval *E, const pl_rec *r) {
    mt_ctx *ctx = E->P->ctx;
    if (E->nrecs == E->caprecs) {
        int nc = E->caprecs ? E->caprecs * 2 : 64;
        pl_rec *n = mt_heap_alloc(ctx, (size_t)nc * sizeof *n);
        if (!n) return;
        if (E->nrecs) memcpy(n, E->recs, (size_t)E->nrecs * sizeof *n);
        if (E->recs) mt_heap_free(ctx, E->recs);
        E->recs = n;
        E->caprecs = nc;
    }
    E->recs[E->nrecs++] = *r;
}


/* ---- an open-addressing index (keys are hashes; the caller's `eq` tells
 * entries with equal hashes apart), so every lookup below is O(1) ---- */
typedef bool (*pl_eq_fn)(const void *u, int val, const void *key);

static bool map_init(mt_ctx *ctx, pl_map *m, size_t n) {
    size_t cap = 16;
    while (cap < 2 * n + 2) cap *= 2;
    m->keys = mt_heap_alloc(ctx, cap * sizeof *m->keys);
    m->vals = mt_heap_alloc(ctx, cap * sizeof *m->vals);
    m->mask = cap - 1;
    if (!m->keys || !m->vals) return false;
    for (size_t i = 0; i < cap; i++) m->vals[i] = -1;
    return true;
}

static void map_free(mt_ctx *ctx, pl_map *m) {
    if (m->keys) mt_heap_free(ctx, m->keys);
    if (m->vals) mt_heap_free(ctx, m->vals);
}

/* The value stored under `key` (eq(u, value, key) true), or -1 after storing
 * `add` under it (nothing stored when add < 0). */
static int map_get(pl_map *m, uint64_t h, pl_eq_fn eq, const void *u, const void *key, int add) {
    size_t i = (size_t)(h * 0x9e3779b97f4a7c15ULL >> 20) & m->mask;
    for (;; i = (i + 1) & m->mask) {
        if (m->vals[i] < 0) {
            if (add >= 0) m->keys[i] = h, m->vals[i] = add;
            return -1;
        }
        if (m->keys[i] == h && eq(u, m->vals[i], key)) return m->vals[i];
    }
}

static uint64_t ptr_hash(const void *p) { return (uint64_t)(uintptr_t)p * 0xff51afd7ed558ccdULL; }

static bool ptr_eq(const void *u, int v, const void *key) { return ((const void *const *)u)[v] == key; }

static uint64_t str_hash(const char *s) {
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* ---- setup ---- */
static bool sym_eq(const void *u, int v, const void *key) { return ((const mt_sym *const *)u)[v] == key; }

/* Bytes of t at the bound shapes (0 when a dim stays symbolic). */
static double slot_bytes(planner *P, const mt_tensor *t) {
    mt_binding b = {P->bind_names, P->bind_values, 2};
    double n = 1;
    for (int d = 0; d < t->ndim; d++) {
        const mt_sym *s = mt_sym_subst(P->ctx, t->shape[d], &b);
        if (s && !mt_sym_is_const(s) && mt_sym_is_var(s) && P->nbind > 2) {
            int k = map_get(&P->bind_map, ptr_hash(s), sym_eq, P->bind_syms, s, -1);
            if (k >= 0) s = mt_sym_const(P->ctx, P->bind_values[k]);
        } else if (s && !mt_sym_is_const(s) && P->nbind > 2) {
            mt_binding all = {P->bind_names, P->bind_values, P->nbind};
            s = mt_sym_subst(P->ctx, s, &all);
        }
        if (!s || !mt_sym_is_const(s)) return 0;
        n *= (double)mt_sym_const_value(s);
    }
    return n * (double)mt_dtype_size(t->dtype);
}

/* The bound shapes: batch and seq, and every data-dependent size (the
 * tokens routed to one expert, a `nonzero` over one slice of the routing
 * mask) at its expectation under uniform routing: its upper bound (the
 * slice's numel, tokens x top_k) over the number of sibling slices (the
 * experts). A nonzero without siblings is taken at its bound. */
static mt_status bind_shapes(planner *P) {
    mt_ctx *ctx = P->ctx;
    const mt_graph *g = P->g;
    int cap = 2 + mt_sym_count(ctx); /* + other input symbols (a vision-language model's images) */
    for (int i = 0; i < g->n; i++) cap += g->nodes[i]->opid == MT_OP_NONZERO;
    P->bind_names = mt_alloc_array(ctx, (size_t)cap, sizeof *P->bind_names);
    P->bind_values = mt_alloc_array(ctx, (size_t)cap, sizeof *P->bind_values);
    const mt_tensor **src = mt_heap_alloc(ctx, (size_t)cap * sizeof *src);
    const mt_sym **sym = mt_heap_alloc(ctx, (size_t)cap * sizeof *sym);
    if (!P->bind_names || !P->bind_values || !src || !sym) return mt_ctx_status(ctx);
    P->bind_names[0] = "batch";
    P->bind_names[1] = "seq";
    P->bind_values[0] = P->batch;
    P->bind_values[1] = P->seq;
    int nz = 0;
    for (int i = 0; i < g->n; i++) {
        const mt_node *n = g->nodes[i];
        if (n->opid != MT_OP_NONZERO || n->nout < 1 || n->outs[0].ndim < 1 || n->nargs < 1 ||
            n->args[0].kind != MT_ARG_TENSOR)
            continue;
        const mt_tensor *x = n->args[0].v.t;
        /* a slice of a larger tensor: siblings share the sliced tensor */
        if (x->node && x->node->opid == MT_OP_GETITEM && x->node->nargs > 0 && x->node->args[0].kind == MT_ARG_TENSOR)
            x = x->node->args[0].v.t;
        src[nz] = x;
        sym[nz] = n->outs[0].shape[0];
        nz++;
    }
    mt_binding b0 = {P->bind_names, P->bind_values, 2};
    /* siblings are consecutive in practice; count them with an index anyway */
    pl_map bysrc = {0};
    int *count = mt_heap_alloc(ctx, ((size_t)nz + 1) * sizeof *count);
    if (!count || !map_init(ctx, &bysrc, (size_t)nz + 1)) return mt_ctx_status(ctx);
    for (int k = 0; k < nz; k++) count[k] = 0;
    int *grp = mt_heap_alloc(ctx, ((size_t)nz + 1) * sizeof *grp);
    if (!grp) return mt_ctx_status(ctx);
    for (int k = 0; k < nz; k++) {
        int f = map_get(&bysrc, ptr_hash(src[k]), ptr_eq, src, src[k], k);
        grp[k] = f >= 0 ? f : k;
        count[grp[k]]++;
    }
    P->nbind = 2;
    P->bind_syms = mt_alloc_array(ctx, (size_t)cap, sizeof *P->bind_syms);
    if (!P->bind_syms || !map_init(ctx, &P->bind_map, (size_t)nz + 1)) return mt_ctx_status(ctx);
    for (int k = 0; k < nz; k++) {
        mt_symbol_info *si = mt_sym_is_var(sym[k]) ? mt_sym_info_of(ctx, sym[k]) : NULL;
        int64_t hi;
        if (!si || !si->hi || mt_sym_eval(ctx, si->hi, &b0, &hi) != MT_OK) continue;
        if (map_get(&P->bind_map, ptr_hash(sym[k]), sym_eq, P->bind_syms, sym[k], P->nbind) >= 0) continue;
        P->bind_syms[P->nbind] = sym[k];
        P->bind_names[P->nbind] = si->name;
        P->bind_values[P->nbind] = hi / count[grp[k]];
        P->nbind++;
    }
    /* other input symbols with an upper bound (the images of pixel_values, at most
     * batch*seq // mm_tokens_per_image) at that bound, as the sizing pass takes them */
    for (int i = 0; i < mt_sym_count(ctx); i++) {
        const mt_symbol_info *si = mt_sym_info(ctx, i);
        int64_t hi;
        if (!si->origin || strcmp(si->origin, "input") != 0 || !si->hi || strcmp(si->name, "batch") == 0 ||
            strcmp(si->name, "seq") == 0 || mt_sym_eval(ctx, si->hi, &b0, &hi) != MT_OK)
            continue;
        if (map_get(&P->bind_map, ptr_hash(si->sym), sym_eq, P->bind_syms, si->sym, P->nbind) >= 0) continue;
        P->bind_syms[P->nbind] = si->sym;
        P->bind_names[P->nbind] = si->name;
        P->bind_values[P->nbind] = hi;
        P->nbind++;
    }
    map_free(ctx, &bysrc);
    mt_heap_free(ctx, count);
    mt_heap_free(ctx, grp);
    mt_heap_free(ctx, src);
    mt_heap_free(ctx, sym);
    return MT_OK;
}

static uint64_t mix(uint64_t h, uint64_t v) {
    h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
    h *= 0xff51afd7ed558ccdULL;
    return h ^ (h >> 33);
}

static int64_t dimv(const mt_tensor *t, int d) {
    return mt_sym_is_const(t->shape[d]) ? mt_sym_const_value(t->shape[d]) : -1;
}

static void add_opt(pl_var *v, int dim, int ways) {
    if (v->nopts < PL_MAX_OPTS) v->opts[v->nopts++] = (pl_opt){dim, ways};
}

/* A call of a module whose weight the search places. */
static bool weight_call(const mt_node *n) {
    return n->op == MT_NODE_CALL_MODULE && n->module &&
           (n->module->leaf == MT_LEAF_LINEAR || n->module->leaf == MT_LEAF_EMBEDDING ||
            n->module->leaf == MT_LEAF_CONV1D);
}

static bool var_weight_eq(const void *u, int v, const void *key) {
    return ((const pl_var *)u)[v].weight == key;
}

/* Everything that does not depend on the degree: slots, bytes at the bound,
 * the search variables (one per unique Linear/Conv1D/Embedding weight). */
static mt_status prepare(planner *P, mt_model *m, const mt_graph *g, const mt_plan_opts *o) {
    mt_ctx *ctx = m->ctx;
    P->ctx = ctx;
    P->m = m;
    P->g = g;
    /* the bound: the options, else the first input's dims when they were
     * bound at trace time (bytes per token then divide by the tokens the
     * concrete shapes hold), else 1 x 4096 */
    int64_t in_b = 0, in_s = 0;
    for (int i = 0; i < g->n; i++) {
        const mt_node *n = g->nodes[i];
        if (n->op != MT_NODE_PLACEHOLDER || n->nout < 1 || n->outs[0].ndim < 2) continue;
        in_b = dimv(&n->outs[0], 0);
        in_s = dimv(&n->outs[0], 1);
        break;
    }
    P->batch = o->batch > 0 ? o->batch : in_b > 0 ? in_b : 1;
    P->seq = o->seq > 0 ? o->seq : in_s > 0 ? in_s : 4096;
    P->out_off = mt_alloc_array(ctx, (size_t)g->n + 1, sizeof *P->out_off);
    P->node_var = mt_alloc_array(ctx, (size_t)g->n + 1, sizeof *P->node_var);
    if (!P->out_off || !P->node_var) return mt_ctx_status(ctx);
    int ns = 0;
    for (int i = 0; i < g->n; i++) {
        P->out_off[i] = ns;
        ns += g->nodes[i]->nout > 0 ? g->nodes[i]->nout : 1;
    }
    P->nslots = ns;
    P->slot_t = mt_alloc_array(ctx, (size_t)ns + 1, sizeof *P->slot_t);
    P->slot_node = mt_alloc_array(ctx, (size_t)ns + 1, sizeof *P->slot_node);
    P->bpt = mt_alloc_array(ctx, (size_t)ns + 1, sizeof *P->bpt);
    P->bytes_at = mt_alloc_array(ctx, (size_t)ns + 1, sizeof *P->bytes_at);
    int ncalls = 0;
    for (int i = 0; i < g->n; i++) ncalls += weight_call(g->nodes[i]);
    P->vars = mt_alloc_array(ctx, (size_t)ncalls + 1, sizeof *P->vars);
    if (!P->slot_t || !P->slot_node || !P->bpt || !P->bytes_at || !P->vars) return mt_ctx_status(ctx);
    if (bind_shapes(P) != MT_OK) return mt_ctx_status(ctx);
    double tokens = (double)P->batch * (double)P->seq;
    pl_map byw = {0};
    int64_t weight_total = 0;
    if (!map_init(ctx, &byw, (size_t)ncalls + 1)) return mt_ctx_status(ctx);
    for (int i = 0; i < g->n; i++) {
        const mt_node *n = g->nodes[i];
        for (int k = 0; k < n->nout; k++) {
            int s = P->out_off[i] + k;
            P->slot_t[s] = &n->outs[k];
            P->slot_node[s] = n;
            P->bytes_at[s] = slot_bytes(P, &n->outs[k]);
            P->bpt[s] = P->bytes_at[s] / tokens;
        }
        P->node_var[i] = -1;
        if (!weight_call(n)) continue;
        mt_param *w = mt_module_param(n->module, "weight");
        if (!w) continue;
        const mt_param *owner = w->tied_to ? w->tied_to : w;
        int vi = map_get(&byw, ptr_hash(owner), var_weight_eq, P->vars, owner, P->nvars);
        if (vi < 0) {
            vi = P->nvars++;
            pl_var *v = &P->vars[vi];
            v->weight = owner;
            v->module = n->module;
            /* every weight sum below stays within 64 bits: checked here, once */
            double b = slot_bytes(P, owner->t);
            v->bytes = b < 9223372036854775807.0 ? (int64_t)b : -1;
            if (v->bytes < 0 || !mt_checked_add(ctx, weight_total, v->bytes, &weight_total, "weight bytes")) {
                map_free(ctx, &byw);
                return v->bytes < 0 ? mt_fail(ctx, MT_ERR_OVERFLOW, "weight '%s': its bytes overflow 64 bits",
                                              owner->name)
                                    : mt_ctx_status(ctx);
            }
            v->out_dim = n->module->leaf == MT_LEAF_CONV1D ? 1 : 0;
        }
        P->node_var[i] = vi;
    }
    map_free(ctx, &byw);
    return MT_OK;
}

static bool var_group_eq(const void *u, int k, const void *key);

/* The options of every weight at degree tp (divisibility decides) and the
 * groups of structurally equal weights with equal options. */
static mt_status set_degree(planner *P, int tp, mt_plan_style style, bool sp) {
    P->tp = tp;
    P->style = style;
    P->seq_sym = sp && tp > 1 ? mt_sym_var(P->ctx, "seq") : NULL;
    for (int vi = 0; vi < P->nvars; vi++) {
        pl_var *v = &P->vars[vi];
        v->nopts = 0;
        const mt_tensor *wt = v->weight->t;
        int od = v->out_dim, id = 1 - v->out_dim;
        int64_t dout = wt->ndim == 2 ? dimv(wt, od) : -1, din = wt->ndim == 2 ? dimv(wt, id) : -1;
        bool emb = v->module->leaf == MT_LEAF_EMBEDDING;
        bool allow = tp > 1 && dout > 0 && din > 0 && !(emb && style == MT_PLAN_TRANSFORMERS);
        if (allow) {
            if (dout % tp == 0) add_opt(v, od, tp);
            /* fewer blocks than ranks only for a projection onto KV heads when
             * tp exceeds them (each KV head then lives on tp/kv ranks) */
            int64_t kv, hd;
            if (!emb && pl_limits_kv(P->lim, &kv, &hd) && kv > 0 && tp > kv && tp % kv == 0 && dout == kv * hd)
                add_opt(v, od, (int)kv);
            if (din % tp == 0) add_opt(v, id, tp);
        }
        add_opt(v, -1, 1);
    }
    pl_map groups = {0};
    if (!map_init(P->ctx, &groups, (size_t)P->nvars)) return mt_ctx_status(P->ctx);
    for (int i = 0; i < P->nvars; i++) {
        pl_var *v = &P->vars[i];
        uint64_t key = v->sig;
        for (int k = 0; k < v->nopts; k++) key = mix(key, (uint64_t)(v->opts[k].dim + 2) * 131 + (uint64_t)v->opts[k].ways);
        int gi = map_get(&groups, key, var_group_eq, P->vars, v, i);
        v->group = gi >= 0 ? gi : i;
    }
    map_free(P->ctx, &groups);
    /* members of each group, in one array (groups are searched as one) */
    if (!P->gnext) {
        P->gnext = mt_alloc_array(P->ctx, (size_t)P->nvars + 1, sizeof *P->gnext);
        if (!P->gnext) return mt_ctx_status(P->ctx);
    }
    for (int i = 0; i < P->nvars; i++) P->gnext[i] = -1;
    for (int i = P->nvars - 1; i >= 0; i--) {
        int gi = P->vars[i].group;
        if (gi != i) {
            P->gnext[i] = P->gnext[gi];
            P->gnext[gi] = i;
        }
    }
    return MT_OK;
}

static bool var_group_eq(const void *u, int k, const void *key) {
    const pl_var *a = &((const pl_var *)u)[k], *b = key;
    return a->sig == b->sig && a->nopts == b->nopts &&
           memcmp(a->opts, b->opts, (size_t)b->nopts * sizeof *b->opts) == 0;
}


/* ---- the search window: identical blocks solved once ----
 * A block is one child of a container whose children (two or more) all have
 * the same class (the decoder layers, the experts of a layer): the outermost
 * such module on a node's module stack. Blocks with the same content (the
 * multiset of node kinds and shapes, and of the structural signatures of the
 * weights they call) are identical; the search evaluates the first of each
 * kind with its nodes' costs counted once per identical block, and skips the
 * others. Every weight of a group gets one choice, so an identical block
 * would make the same choices at the same cost: when the placement entering
 * each block is the same (the residual stream is replicated between layers,
 * as every rule here leaves it), the window's cost equals the whole graph's,
 * and the cheapest choice on the window is the cheapest on the graph. The
 * final plan is propagated over the whole graph. */
static bool same_class_children(const mt_module *p) {
    if (!p || p->children.n < 2) return false;
    const mt_module *c0 = p->children.items[0];
    for (int i = 1; i < p->children.n; i++) {
        const mt_module *c = p->children.items[i];
        if (strcmp(c->type, c0->type) != 0) return false;
    }
    return true;
}

typedef struct blk {
    const mt_module *mod;
    int parent; /* enclosing block (-1: none) */
    uint64_t sig;
    int nodes;
    int kind;   /* representative block index */
    int count;  /* blocks of this kind under the same parent (representatives) */
    int stand;  /* representatives: the block standing for the skipped ones */
} blk;

/* How many blocks b stands for in the window (0: skipped). Outermost blocks
 * (the layers) are entered from the previous one, so the first of a kind is
 * evaluated alone and the second, entered from one of its own kind (the
 * steady state), stands for the rest; nested blocks (the experts, all
 * entered from their layer) are stood for by the first. */
static double blk_w(const blk *B, int b) {
    const blk *k = &B[B[b].kind];
    if (b == B[b].kind) return k->stand == b ? (double)k->count : 1.0;
    return b == k->stand ? (double)(k->count - 1) : 0.0;
}

static bool blk_mod_eq(const void *u, int v, const void *key) { return ((const blk *)u)[v].mod == key; }
static bool blk_kind_eq(const void *u, int v, const void *key) {
    const blk *a = &((const blk *)u)[v], *b = key;
    return a->sig == b->sig && a->nodes == b->nodes && a->parent == b->parent;
}
static bool mod_eq(const void *u, int v, const void *key) { return ((const mt_module *const *)u)[v] == key; }

/* A skipped block's outputs may be read by window nodes outside it (the
 * expert outputs summed by the MoE layer): such a node mirrors the node at
 * the same position in its kind's representative, whose placement the
 * propagation copies to it (see pl_propagate). Positions count every node of
 * a block, nested ones included, in graph order. */
static mt_status mirrors(planner *P, const int *nb, const blk *B, int nblk) {
    mt_ctx *ctx = P->ctx;
    const mt_graph *g = P->g;
    int n = g->n;
    int *start = mt_heap_alloc(ctx, ((size_t)nblk + 1) * sizeof *start);
    int *cnt = mt_heap_alloc(ctx, ((size_t)nblk + 1) * sizeof *cnt);
    size_t total = 0;
    for (int b = 0; b < nblk; b++) total += (size_t)B[b].nodes;
    int *list = mt_heap_alloc(ctx, (total + 1) * sizeof *list);
    int *mir = mt_heap_alloc(ctx, ((size_t)n + 1) * sizeof *mir);
    mt_status st = MT_OK;
    P->mir_head = mt_alloc_array(ctx, (size_t)n + 1, sizeof *P->mir_head);
    P->mir_next = mt_alloc_array(ctx, (size_t)n + 1, sizeof *P->mir_next);
    if (!start || !cnt || !list || !mir || !P->mir_head || !P->mir_next) {
        st = mt_ctx_status(ctx);
        goto done;
    }
    for (int b = 0, o = 0; b < nblk; b++) {
        start[b] = o;
        cnt[b] = 0;
        o += B[b].nodes;
    }
    for (int i = 0; i < n; i++) {
        mir[i] = -1;
        P->mir_head[i] = P->mir_next[i] = -1;
        int outer = -1, pos = 0;
        for (int b = nb[i]; b >= 0; b = B[b].parent) {
            int k = cnt[b]++;
            list[start[b] + k] = i;
            if (blk_w(B, b) == 0) outer = b, pos = k;
        }
        if (outer < 0) continue;
        int r = B[B[outer].kind].stand;
        if (pos >= B[r].nodes) continue;
        int j = list[start[r] + pos];
        mir[i] = P->node_w[j] > 0 ? j : mir[j];
    }
    /* only skipped nodes read by the window need their placement */
    for (int k = 0; k < P->nwin; k++) {
        const mt_node *x = g->nodes[P->win[k]];
        PL_FOR_TENSOR_ARGS(x, t, {
            if (!t->node) continue;
            int src = t->node->index, r = mir[src];
            if (P->node_w[src] > 0 || r < 0) continue;
            mir[src] = -1; /* listed once */
            P->mir_next[src] = P->mir_head[r];
            P->mir_head[r] = src;
        })
    }
done:
    if (start) mt_heap_free(ctx, start);
    if (cnt) mt_heap_free(ctx, cnt);
    if (list) mt_heap_free(ctx, list);
    if (mir) mt_heap_free(ctx, mir);
    return st;
}

/* The child of block `parent` on b's chain, or -1. */
static int child_of(const blk *B, int b, int parent) {
    while (b >= 0 && B[b].parent != parent) b = B[b].parent;
    return b;
}

/* Inside a block, the nodes its parent module records around a child block
 * (routing the tokens to expert k, weighting and summing its output) go with
 * the one child block they exchange data with: first by what they read
 * (forward: expert k's output, then its weighting), then by who reads them
 * (backward: expert k's token selection and routing weights). A node
 * touching two children (the running sum over the experts) stays with the
 * parent. The experts then window like the layers. */
static mt_status attach(planner *P, int *nb, const blk *B, int nblk) {
    const mt_graph *g = P->g;
    mt_ctx *ctx = P->ctx;
    int n = g->n;
    (void)nblk;
    /* is nb[i] a block with child blocks? */
    bool *parent = mt_heap_alloc(ctx, (size_t)nblk + 1);
    int *user = mt_heap_alloc(ctx, ((size_t)n + 1) * sizeof *user); /* -1 none, -2 several, else child */
    if (!parent || !user) return mt_ctx_status(ctx);
    memset(parent, 0, (size_t)nblk + 1);
    for (int b = 0; b < nblk; b++)
        if (B[b].parent >= 0) parent[B[b].parent] = true;
    for (int i = 0; i < n; i++) {
        int p = nb[i];
        if (p < 0 || !parent[p]) continue;
        int got = -1;
        PL_FOR_TENSOR_ARGS(g->nodes[i], t, {
            if (!t->node) continue;
            int j = t->node->index;
            int c = nb[j] >= 0 ? child_of(B, nb[j], p) : -1;
            if (c >= 0 && c != p) got = got == -1 || got == c ? c : -2;
        })
        if (got >= 0) nb[i] = got;
    }
    for (int i = 0; i < n; i++) user[i] = -1;
    for (int i = n - 1; i >= 0; i--) {
        int p = nb[i];
        if (p >= 0 && parent[p] && user[i] >= 0) nb[i] = user[i];
        /* tell the producers which child of their block reads them */
        PL_FOR_TENSOR_ARGS(g->nodes[i], t, {
            if (!t->node) continue;
            int j = t->node->index;
            int pj = nb[j];
            if (pj < 0 || !parent[pj]) continue;
            int c = nb[i] >= 0 ? child_of(B, nb[i], pj) : -1;
            if (c < 0 || c == pj) c = -2;
            user[j] = user[j] == -1 || user[j] == c ? c : -2;
        })
    }
    mt_heap_free(ctx, parent);
    mt_heap_free(ctx, user);
    return MT_OK;
}

/* Blocks nest (the experts of a MoE layer inside the layers): a node's
 * weight is the product, over the blocks on its stack, of the number of
 * identical blocks each stands for (0 inside a block that is not its kind's
 * representative under its parent). */
static mt_status blocks(planner *P, const uint64_t *h0) {
    const mt_graph *g = P->g;
    mt_ctx *ctx = P->ctx;
    int n = g->n;
    P->node_w = NULL;
    int *nb = mt_heap_alloc(ctx, ((size_t)n + 1) * sizeof *nb);
    blk *B = mt_heap_alloc(ctx, ((size_t)n + 1) * sizeof *B);
    const mt_module **cm = mt_heap_alloc(ctx, ((size_t)n + 1) * sizeof *cm);
    signed char *cv = mt_heap_alloc(ctx, (size_t)n + 1);
    pl_map bymod = {0}, cache = {0}, kinds = {0};
    mt_status st = MT_OK;
    if (!nb || !B || !cm || !cv || !map_init(ctx, &bymod, (size_t)n) || !map_init(ctx, &cache, (size_t)n) ||
        !map_init(ctx, &kinds, (size_t)n)) {
        st = mt_ctx_status(ctx);
        goto done;
    }
    int ncache = 0, nblk = 0;
    for (int i = 0; i < n; i++) {
        const mt_node *x = g->nodes[i];
        nb[i] = -1;
        for (int d = 0; x->stack && d < x->stack->depth; d++) {
            const mt_module *m = x->stack->mods[d];
            int c = map_get(&cache, ptr_hash(m), mod_eq, cm, m, -1);
            if (c < 0) {
                c = ncache++;
                cm[c] = m;
                cv[c] = m->leaf == MT_LEAF_NONE && same_class_children(m->parent) ? 1 : 0;
                map_get(&cache, ptr_hash(m), mod_eq, cm, m, c);
            }
            if (!cv[c]) continue;
            int b = map_get(&bymod, ptr_hash(m), blk_mod_eq, B, m, nblk);
            if (b < 0) {
                b = nblk++;
                B[b] = (blk){m, nb[i], 0x7b10c, 0, b, 0, b};
            }
            nb[i] = b;
        }
    }
    st = attach(P, nb, B, nblk);
    if (st != MT_OK) goto done;
    for (int i = 0; i < n; i++) {
        uint64_t v = h0[i];
        if (P->node_var[i] >= 0) v = mix(v, P->vars[P->node_var[i]].sig);
        v = mix(v, 0xb10c);
        for (int b = nb[i]; b >= 0; b = B[b].parent) {
            B[b].nodes++;
            B[b].sig += v;
        }
    }
    int nkinds = 0;
    for (int b = 0; b < nblk; b++) {
        uint64_t key = mix(B[b].sig * 31 + (uint64_t)B[b].nodes, (uint64_t)(B[b].parent + 1));
        int k = map_get(&kinds, key, blk_kind_eq, B, &B[b], b);
        B[b].kind = k >= 0 ? k : b;
        B[B[b].kind].count++;
        nkinds += k < 0;
        if (k >= 0 && B[b].parent < 0 && B[k].stand == k) B[k].stand = b;
    }
    P->nblocks = nblk;
    P->nblock_kinds = nkinds;
    if (nkinds == nblk) goto done; /* nothing repeats: search the whole graph */
    P->node_w = mt_alloc_array(ctx, (size_t)n + 1, sizeof *P->node_w);
    if (!P->node_w) {
        st = mt_ctx_status(ctx);
        goto done;
    }
    P->win = mt_alloc_array(ctx, (size_t)n + 1, sizeof *P->win);
    if (!P->win) {
        st = mt_ctx_status(ctx);
        goto done;
    }
    P->nwin = 0;
    for (int i = 0; i < n; i++) {
        double w = 1.0;
        for (int b = nb[i]; b >= 0 && w > 0; b = B[b].parent) w *= blk_w(B, b);
        P->node_w[i] = w;
        if (w > 0) P->win[P->nwin++] = i;
    }
    st = mirrors(P, nb, B, nblk);
    /* containers of nested blocks: the expert lists (the experts report) */
    P->containers = mt_alloc_array(ctx, (size_t)nblk + 1, sizeof *P->containers);
    if (!P->containers) {
        st = mt_ctx_status(ctx);
        goto done;
    }
    for (int b = 0; b < nblk; b++) {
        const mt_module *c = B[b].parent >= 0 ? B[b].mod->parent : NULL;
        if (c && (P->ncontainers == 0 || P->containers[P->ncontainers - 1] != c)) P->containers[P->ncontainers++] = c;
    }
done:
    map_free(ctx, &bymod);
    map_free(ctx, &cache);
    map_free(ctx, &kinds);
    if (nb) mt_heap_free(ctx, nb);
    if (B) mt_heap_free(ctx, B);
    if (cm) mt_heap_free(ctx, cm);
    if (cv) mt_heap_free(ctx, cv);
    return st;
}

#define PL_SIG_ROUNDS 3

/* Structural signatures: a few rounds of neighbourhood hashing over op ids,
 * leaf kinds and shapes (never names), so weights in repeated blocks that
 * play the same part get the same signature and are searched together. */
static mt_status signatures(planner *P) {
    const mt_graph *g = P->g;
    mt_ctx *ctx = P->ctx;
    int n = g->n;
    uint64_t *h = mt_heap_alloc(ctx, (size_t)n * sizeof *h), *h2 = mt_heap_alloc(ctx, (size_t)n * sizeof *h2);
    uint64_t *h0 = mt_heap_alloc(ctx, (size_t)n * sizeof *h0);
    /* the producers of every node's tensor arguments, in one array (CSR) */
    int *off = mt_heap_alloc(ctx, ((size_t)n + 1) * sizeof *off);
    if (!h || !h2 || !h0 || !off) return mt_ctx_status(ctx);
    size_t cap = 0;
    for (int i = 0; i < n; i++) PL_FOR_TENSOR_ARGS(g->nodes[i], t, { cap += t->node != NULL; })
    int *ins = mt_heap_alloc(ctx, (cap + 1) * sizeof *ins);
    if (!ins) return mt_ctx_status(ctx);
    int nins = 0;
    for (int i = 0; i < n; i++) {
        const mt_node *x = g->nodes[i];
        uint64_t v = mix((uint64_t)x->op, (uint64_t)(x->opid + 7));
        v = mix(v, x->module ? (uint64_t)(x->module->leaf + 3) : 1);
        v = mix(v, (uint64_t)x->nout);
        if (x->nout > 0) {
            const mt_tensor *t = &x->outs[0];
            v = mix(v, (uint64_t)t->ndim);
            /* constant dims by value; symbolic ones alike (the per-expert
             * token counts are distinct fresh symbols of one role) */
            for (int d = 0; d < t->ndim; d++)
                v = mix(v, mt_sym_is_const(t->shape[d]) ? (uint64_t)mt_sym_const_value(t->shape[d]) : 0x5eedULL);
        }
        h[i] = h0[i] = v;
        off[i] = nins;
        PL_FOR_TENSOR_ARGS(x, t, {
            if (t->node) ins[nins++] = t->node->index;
        })
    }
    off[n] = nins;
    for (int round = 0; round < PL_SIG_ROUNDS; round++) {
        for (int i = 0; i < n; i++) h2[i] = mix(h[i], 0x51);
        for (int i = 0; i < n; i++)
            for (int k = 0; k < off[i + 1] - off[i]; k++) {
                int j = ins[off[i] + k];
                h2[i] = mix(h2[i], mix(h[j], (uint64_t)k));
                h2[j] += mix(h[i], (uint64_t)k + 100); /* users, order-free */
            }
        memcpy(h, h2, (size_t)n * sizeof *h);
    }
    for (int i = 0; i < P->nvars; i++) P->vars[i].sig = 0x1234;
    for (int i = 0; i < n; i++)
        if (P->node_var[i] >= 0) P->vars[P->node_var[i]].sig += mix(h[i], 0x77);
    mt_status st = blocks(P, h0);
    mt_heap_free(ctx, ins);
    mt_heap_free(ctx, off);
    mt_heap_free(ctx, h);
    mt_heap_free(ctx, h2);
    mt_heap_free(ctx, h0);
    return st;
}

/* ---- cost ---- */
typedef struct pl_cost {
    bool infeasible;
    int64_t repl;   /* bytes of weights left whole on every rank */
    double comm;    /* wire bytes per token */
    int64_t rank;   /* weight bytes per rank */
    double ncoll;
    double time;    /* seconds of communication: a prefill of the bound tokens plus one decode step */
} pl_cost;

/* A collective costs alpha + bytes / beta over the link inside a node
 * (fit.h; the H100 preset's NVLink: 5 us, 450 GB/s at the fit model's link
 * efficiency). A forward runs every collective once: a prefill of T tokens
 * moves comm x T bytes, a decode step comm x 1; both pay alpha per collective.
 * So thousands of small collectives lose to one all-reduce per layer. */
static double comm_time(const planner *P, double comm, double ncoll) {
    int n = 0;
    const mt_gpu_spec *g = mt_gpu_presets(&n);
    double beta = g[0].intra_bw * mt_fit_default_params().link_efficiency, alpha = g[0].intra_lat;
    double T = (double)P->batch * (double)P->seq;
    return comm * (T + 1) / beta + 2 * ncoll * alpha;
}

/* Every choice goes through here: the weight-byte totals follow it. */
static void set_choice(pl_eval *E, int i, int o) {
    const pl_var *v = &E->P->vars[i];
    pl_opt a = v->opts[E->choice[i]], b = v->opts[o];
    E->repl += (b.dim < 0 ? v->bytes : 0) - (a.dim < 0 ? v->bytes : 0);
    E->rank += (b.dim < 0 ? v->bytes : v->bytes / b.ways) - (a.dim < 0 ? v->bytes : v->bytes / a.ways);
    E->choice[i] = o;
}

static pl_cost evaluate(pl_eval *E) {
    pl_propagate(E);
    return (pl_cost){E->infeasible, E->repl, E->comm, E->rank, E->ncoll, comm_time(E->P, E->comm, E->ncoll)};
}

static bool better(pl_cost a, pl_cost b) {
    if (a.infeasible != b.infeasible) return !a.infeasible;
    if (a.repl != b.repl) return a.repl < b.repl;
    double tol = 1e-9 * (b.time > 1e-12 ? b.time : 1e-12);
    if (a.time < b.time - tol) return true;
    if (a.time > b.time + tol) return false;
    if (a.rank != b.rank) return a.rank < b.rank;
    return a.ncoll < b.ncoll;
}

static void set_group(pl_eval *E, int gi, int o) {
    for (int i = gi; i >= 0; i = E->P->gnext[i]) set_choice(E, i, o);
}

/* Coordinate descent over groups of structurally equal weights. */
static pl_cost descend_groups(pl_eval *E, pl_cost best, int *evals) {
    const planner *P = E->P;
    for (int sweep = 0; sweep < 6; sweep++) {
        bool improved = false;
        for (int gi = 0; gi < P->nvars; gi++) {
            if (P->vars[gi].group != gi) continue;
            int curo = E->choice[gi];
            for (int o = 0; o < P->vars[gi].nopts; o++) {
                if (o == curo) continue;
                set_group(E, gi, o);
                pl_cost c = evaluate(E);
                (*evals)++;
                if (better(c, best)) {
                    best = c;
                    curo = o;
                    improved = true;
                }
            }
            set_group(E, gi, curo);
        }
        if (!improved) break;
    }
    return best;
}

/* Pairs of groups changed together: a column-parallel projection and the
 * row-parallel one after it only pay off together (either alone costs the
 * same or more), which single moves never find. Run while the work stays
 * small: pairs x option pairs x propagated nodes. */
#define PL_PAIR_BUDGET 1.5e6

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

/* Both choices shard their weight over every rank (column- or row-parallel): the
 * moves single changes cannot make (replicating a weight is a single move). */
static bool both_sharded(const pl_var *a, int oa, const pl_var *b, int ob, int tp) {
    pl_opt x = a->opts[oa], y = b->opts[ob];
    return x.dim >= 0 && y.dim >= 0 && x.ways == tp && y.ways == tp;
}

static pl_cost descend_pairs(pl_eval *E, pl_cost best, int *evals) {
    const planner *P = E->P;
    double pairs = 0, leaders = 0, opts = 0, near = 0;
    for (int gi = 0; gi < P->nvars; gi++)
        if (P->vars[gi].group == gi) leaders++, opts += P->vars[gi].nopts - 1;
    if (leaders < 2) return best;
    pairs = opts * opts / 2;
    double nodes = E->window ? P->nwin : P->g->n;
    /* over budget: only pairs inside one block (a column-parallel projection
     * and its row-parallel partner are always in one) */
    bool block_only = pairs * nodes > PL_PAIR_BUDGET;
    if (block_only && !E->window && P->node_w) return best; /* the window found them; the whole graph only checks */
    if (block_only) {
        for (int gi = 0; gi < P->nvars; gi++)
            for (int gj = gi + 1; P->vars[gi].group == gi && gj < P->nvars; gj++)
                if (P->vars[gj].group == gj && same_block(P->vars[gi].module, P->vars[gj].module))
                    near += 2;
        if (near * nodes > 20 * PL_PAIR_BUDGET) return best;
    }
    for (int round = 0; round < (block_only ? 1 : 3); round++) {
        bool improved = false;
        for (int gi = 0; gi < P->nvars; gi++) {
            if (P->vars[gi].group != gi) continue;
            for (int gj = gi + 1; gj < P->nvars; gj++) {
                if (P->vars[gj].group != gj) continue;
                if (block_only && !same_block(P->vars[gi].module, P->vars[gj].module)) continue;
                int ci = E->choice[gi], cj = E->choice[gj];
                for (int oi = 0; oi < P->vars[gi].nopts; oi++) {
                    if (oi == ci) continue;
                    for (int oj = 0; oj < P->vars[gj].nopts; oj++) {
                        if (oj == cj) continue;
                        if (block_only && !both_sharded(&P->vars[gi], oi, &P->vars[gj], oj, P->tp)) continue;
                        set_group(E, gi, oi);
                        set_group(E, gj, oj);
                        pl_cost c = evaluate(E);
                        (*evals)++;
                        if (better(c, best)) {
                            best = c;
                            ci = oi;
                            cj = oj;
                            improved = true;
                        }
                    }
                }
                set_group(E, gi, ci);
                set_group(E, gj, cj);
            }
        }
        if (!improved) break;
        best = descend_groups(E, best, evals);
    }
    return best;
}

static bool same_cost(pl_cost a, pl_cost b) {
    double tol = 1e-6 * (b.comm > 1 ? b.comm : 1);
    return a.infeasible == b.infeasible && a.comm <= b.comm + tol && a.comm >= b.comm - tol &&
           a.ncoll <= b.ncoll + 1e-6 && a.ncoll >= b.ncoll - 1e-6;
}

static pl_cost search(pl_eval *E, mt_plan_search mode, int *evals, bool *window_exact) {
    const planner *P = E->P;
    E->repl = E->rank = 0;
    for (int i = 0; i < P->nvars; i++) {
        pl_opt o = P->vars[i].opts[0];
        E->choice[i] = 0;
        E->repl += o.dim < 0 ? P->vars[i].bytes : 0;
        E->rank += o.dim < 0 ? P->vars[i].bytes : P->vars[i].bytes / o.ways;
    }
    for (int i = 0; i < P->nslots; i++) E->vals[i] = (pl_val){{MT_PLACE_REPLICATE, -1, 1}, 0u};
    E->window = P->node_w != NULL && mode == MT_SEARCH_BEST;
    pl_cost best = evaluate(E);
    (*evals)++;
    *window_exact = true;
    if (mode == MT_SEARCH_FIRST) return best;
    best = descend_groups(E, best, evals);
    best = descend_pairs(E, best, evals);
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
            full = descend_groups(E, full, evals);
            full = descend_pairs(E, full, evals);
        }
        best = full;
    }
    /* then one weight at a time when the graph is small enough (over the
     * whole graph: single weights may break the symmetry of the blocks) */
    double work = 0;
    for (int i = 0; i < P->nvars; i++) work += P->vars[i].nopts;
    work *= P->g->n;
    if (work > 2e6) return best;
    for (int sweep = 0; sweep < 4; sweep++) {
        bool improved = false;
        for (int i = 0; i < P->nvars; i++) {
            int curo = E->choice[i];
            for (int o = 0; o < P->vars[i].nopts; o++) {
                if (o == curo) continue;
                set_choice(E, i, o);
                pl_cost c = evaluate(E);
                (*evals)++;
                if (better(c, best)) {
                    best = c;
                    curo = o;
                    improved = true;
                }
            }
            set_choice(E, i, curo);
        }
        if (!improved) break;
    }
    return best;
}

/* ---- results ---- */
static const char *pattern_of(mt_ctx *ctx, const char *path) {
    char *s = mt_alloc(ctx, strlen(path) + 1);
    if (!s) return path;
    const char *p = path;
    char *o = s;
    while (*p) {
        const char *e = strchr(p, '.');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        bool num = len > 0;
        for (size_t i = 0; i < len; i++) num = num && p[i] >= '0' && p[i] <= '9';
        if (num) *o++ = '*';
        else memcpy(o, p, len), o += len;
        p += len;
        if (*p == '.') *o++ = *p++;
    }
    *o = 0;
    return s;
}

static bool var_module_eq(const void *u, int v, const void *key) {
    return ((const pl_var *)u)[v].module == key;
}

typedef struct str_tab {
    const char **s;
} str_tab;

static bool str_eq(const void *u, int v, const void *key) {
    return strcmp(((const str_tab *)u)->s[v], key) == 0;
}


static int64_t local_bytes(double full, mt_placement p) {
    return (int64_t)(p.kind == MT_PLACE_SHARD ? full / p.ways : full);
}

/* Per parameter: role, shard dim, per-rank shape; per-rank parameter bytes. */
/* keep false (mt_plan_auto): the per-rank totals only, no per-parameter records. */
static mt_status params_memory(planner *P, pl_eval *E, mt_plan *R, bool keep) {
    mt_ctx *ctx = P->ctx;
    int tp = P->tp;
    if (keep) {
        R->params = mt_alloc_array(ctx, (size_t)P->m->params.n + 1, sizeof *R->params);
        if (!R->params) return mt_ctx_status(ctx);
    }
    mt_plan_memory *M = &R->mem;
    int np = P->m->params.n;
    if (!P->param_var) {
        /* once per planner: each parameter's variable (the Linear/Embedding
         * owning it) and whether it is that module's weight or bias */
        P->param_var = mt_alloc_array(ctx, (size_t)np + 1, sizeof *P->param_var);
        P->param_kind = mt_alloc_array(ctx, (size_t)np + 1, 1);
        if (!P->param_var || !P->param_kind || !map_init(ctx, &P->by_module, (size_t)P->nvars))
            return mt_ctx_status(ctx);
        for (int i = 0; i < P->nvars; i++)
            map_get(&P->by_module, ptr_hash(P->vars[i].module), var_module_eq, P->vars, P->vars[i].module, i);
        for (int i = 0; i < np; i++) {
            const mt_param *p = P->m->params.items[i];
            P->param_var[i] = map_get(&P->by_module, ptr_hash(p->owner), var_module_eq, P->vars, p->owner, -1);
            P->param_kind[i] = strcmp(p->local, "weight") == 0 ? 1 : strcmp(p->local, "bias") == 0 ? 2 : 0;
        }
    }
    mt_plan_param scratch;
    for (int i = 0; i < np; i++) {
        const mt_param *p = P->m->params.items[i];
        if (p->tied_to) continue;
        mt_plan_param *pp = keep ? &R->params[R->nparams++] : &scratch;
        pp->param = p;
        pp->name = p->name;
        pp->role = MT_ROLE_REPLICATE;
        pp->shard_dim = -1;
        pp->ways = 1;
        pp->ndim = p->t->ndim;
        int vi = P->param_var[i];
        if (vi >= 0) {
            pl_opt o = P->vars[vi].opts[E->choice[vi]];
            bool emb = P->vars[vi].module->leaf == MT_LEAF_EMBEDDING;
            if (o.dim >= 0 && P->param_kind[i] == 1) {
                pp->shard_dim = o.dim;
                pp->ways = o.ways;
                bool out = o.dim == P->vars[vi].out_dim;
                pp->role = emb ? (out ? MT_ROLE_VOCAB : MT_ROLE_EMBED_COLWISE)
                               : (out ? MT_ROLE_COLWISE : MT_ROLE_ROWWISE);
            } else if (o.dim == P->vars[vi].out_dim && !emb && P->param_kind[i] == 2) {
                pp->shard_dim = 0;
                pp->ways = o.ways;
                pp->role = MT_ROLE_BIAS;
            }
        }
        /* checked: sizes past 64 bits are the same located error as in the exporters,
         * never a wrapped (negative) figure */
        int64_t numel = 1, lnumel = 1, es = (int64_t)mt_dtype_size(p->t->dtype), repl = 0;
        for (int d = 0; d < pp->ndim; d++) {
            pp->shape[d] = dimv(p->t, d);
            pp->local[d] = d == pp->shard_dim ? pp->shape[d] / pp->ways : pp->shape[d];
            if (!mt_checked_mul(ctx, numel, pp->shape[d], &numel, "parameter elements") ||
                !mt_checked_mul(ctx, lnumel, pp->local[d], &lnumel, "parameter elements"))
                return mt_ctx_status(ctx);
        }
        if (!mt_checked_mul(ctx, numel, es, &pp->bytes, "parameter bytes") ||
            !mt_checked_mul(ctx, lnumel, es, &pp->local_bytes, "parameter bytes") ||
            !mt_checked_add(ctx, M->param_bytes, pp->local_bytes, &M->param_bytes, "parameter bytes per rank") ||
            !mt_checked_add(ctx, M->param_bytes_by_dtype[p->t->dtype], pp->local_bytes,
                            &M->param_bytes_by_dtype[p->t->dtype], "parameter bytes per rank") ||
            !mt_checked_add(ctx, M->total_param_bytes, pp->bytes, &M->total_param_bytes, "parameter bytes"))
            return mt_ctx_status(ctx);
        if (pp->ways > 1 && pp->ways < tp &&
            (!mt_checked_mul(ctx, tp, pp->local_bytes, &repl, "replicated bytes") ||
             !mt_checked_add(ctx, M->kv_replicated_bytes, repl - pp->bytes, &M->kv_replicated_bytes, "replicated bytes")))
            return mt_ctx_status(ctx);
    }
    int64_t all_ranks = 0;
    if (!mt_checked_mul(ctx, tp, M->param_bytes, &all_ranks, "parameter bytes over the ranks")) return mt_ctx_status(ctx);
    M->replicated_extra_bytes = all_ranks - M->total_param_bytes;
    return MT_OK;
}

static int64_t module_param_bytes(const mt_module *m) {
    int64_t b = 0;
    for (int i = 0; i < m->params.n; i++) {
        const mt_param *p = m->params.items[i];
        if (p->is_buffer || p->tied_to) continue;
        int64_t n = (int64_t)mt_dtype_size(p->t->dtype);
        for (int d = 0; d < p->t->ndim; d++) n *= dimv(p->t, d);
        b += n;
    }
    for (int i = 0; i < m->children.n; i++) b += module_param_bytes(m->children.items[i]);
    return b;
}

/* Routed experts: the containers of nested blocks whose experts read a
 * data-dependent number of tokens (a bound routed-token count), grouped by
 * pattern; the plan's bytes and communication for them, and what expert
 * parallelism would hold and move instead. One pass over nodes, parameters
 * and collectives (containers found through a pointer index). */
typedef struct pl_box {
    const mt_node *first;    /* first Linear call under it reading routed tokens */
    const mt_module *last;   /* expert of the previous such call */
    double routed;           /* expected routed tokens, all experts */
    int entry;               /* R->experts index, -1 none */
} pl_box;

/* The container m lies under (and its index), or -1; *child: its expert. */
static int box_of(planner *P, pl_map *idx, const mt_module *m, const mt_module **child) {
    for (const mt_module *c = m; c && c->parent; c = c->parent) {
        int k = map_get(idx, ptr_hash(c->parent), ptr_eq, P->containers, c->parent, -1);
        if (k >= 0) {
            if (child) *child = c;
            return k;
        }
    }
    return -1;
}

static mt_status experts_report(planner *P, mt_plan *R) {
    mt_ctx *ctx = P->ctx;
    const mt_graph *g = P->g;
    int tp = P->tp, nc = P->ncontainers;
    if (nc == 0) return MT_OK;
    R->experts = mt_alloc_array(ctx, (size_t)nc + 1, sizeof *R->experts);
    pl_box *bx = mt_heap_alloc(ctx, (size_t)nc * sizeof *bx);
    pl_map idx = {0}, moe = {0}, pats = {0};
    const mt_module **moes = mt_heap_alloc(ctx, (size_t)nc * sizeof *moes);
    const char **patl = mt_heap_alloc(ctx, (size_t)nc * sizeof *patl);
    mt_status st = MT_OK;
    if (!R->experts || !bx || !moes || !patl || !map_init(ctx, &idx, (size_t)nc) || !map_init(ctx, &moe, (size_t)nc) ||
        !map_init(ctx, &pats, (size_t)nc)) {
        st = mt_ctx_status(ctx);
        goto done;
    }
    for (int c = 0; c < nc; c++) {
        map_get(&idx, ptr_hash(P->containers[c]), ptr_eq, P->containers, P->containers[c], c);
        moes[c] = P->containers[c]->parent;
        map_get(&moe, ptr_hash(moes[c]), ptr_eq, moes, moes[c], c);
        bx[c] = (pl_box){NULL, NULL, 0, -1};
    }
    mt_binding b2 = {P->bind_names, P->bind_values, 2};
    for (int i = 0; i < g->n; i++) {
        const mt_node *n = g->nodes[i];
        if (P->node_var[i] < 0 || n->nargs < 1 || n->args[0].kind != MT_ARG_TENSOR) continue;
        const mt_tensor *x = n->args[0].v.t;
        if (x->ndim != 2 || mt_sym_is_const(x->shape[0])) continue;
        const mt_module *child = NULL;
        int c = box_of(P, &idx, n->module, &child);
        /* the first Linear call of each expert: [its routed tokens, hidden] */
        if (c < 0 || child == bx[c].last) continue;
        bx[c].last = child;
        if (!bx[c].first) bx[c].first = n;
        const mt_sym *s = mt_sym_subst(ctx, x->shape[0], &b2);
        int k = s && mt_sym_is_var(s) ? map_get(&P->bind_map, ptr_hash(s), sym_eq, P->bind_syms, s, -1) : -1;
        if (k >= 0) bx[c].routed += (double)P->bind_values[k];
    }
    double tokens = (double)P->batch * (double)P->seq;
    str_tab pt = {patl};
    for (int c = 0; c < nc; c++) {
        const mt_module *box = P->containers[c];
        if (!bx[c].first || bx[c].routed <= 0) continue;
        const mt_tensor *x = bx[c].first->args[0].v.t;
        const char *pat = pattern_of(ctx, box->path);
        patl[R->nexperts] = pat;
        int e = map_get(&pats, str_hash(pat), str_eq, &pt, pat, R->nexperts);
        if (e < 0) {
            e = R->nexperts++;
            mt_plan_experts *X = &R->experts[e];
            memset(X, 0, sizeof *X);
            X->pattern = pat;
            X->experts = box->children.n;
            X->top_k = bx[c].routed / tokens;
            X->hidden = dimv(x, 1);
            X->ep_valid = X->experts % tp == 0;
            if (!X->ep_valid) X->ep_reason = mt_sprintf(ctx, "%d experts not divisible by %d", X->experts, tp);
        }
        bx[c].entry = e;
        mt_plan_experts *X = &R->experts[e];
        X->layers++;
        X->param_bytes += module_param_bytes(box);
        X->ep_comm_per_token += 2.0 * X->top_k * (double)X->hidden * (double)mt_dtype_size(x->dtype) *
                                (double)(tp - 1) / (double)tp;
    }
    for (int i = 0; i < R->nparams; i++) {
        int c = box_of(P, &idx, R->params[i].param->owner, NULL);
        if (c >= 0 && bx[c].entry >= 0) R->experts[bx[c].entry].local_bytes += R->params[i].local_bytes;
    }
    for (int i = 0; i < R->ncomms; i++) {
        const mt_node *pn = R->comms[i].producer;
        for (int d = 0; pn->stack && d < pn->stack->depth; d++) {
            int c = map_get(&moe, ptr_hash(pn->stack->mods[d]), ptr_eq, moes, pn->stack->mods[d], -1);
            if (c >= 0) {
                if (bx[c].entry >= 0) R->experts[bx[c].entry].comm_per_token += R->comms[i].wire_per_token;
                break;
            }
        }
    }
    for (int k = 0; k < R->nexperts; k++)
        if (R->experts[k].ep_valid) R->experts[k].ep_local_bytes = R->experts[k].param_bytes / tp;
done:
    map_free(ctx, &idx);
    map_free(ctx, &moe);
    map_free(ctx, &pats);
    if (bx) mt_heap_free(ctx, bx);
    if (moes) mt_heap_free(ctx, moes);
    if (patl) mt_heap_free(ctx, patl);
    return st;
}

/* With full false (mt_plan_auto) only the per-rank bytes and the
 * communication of `best` (a whole-graph cost) are filled. */
static mt_status results(planner *P, pl_eval *E, mt_plan *R, bool full, pl_cost best) {
    mt_ctx *ctx = P->ctx;
    const mt_graph *g = P->g;
    if (!full) {
        R->comm_per_token = best.comm;
        return params_memory(P, E, R, false);
    }
    E->record = true;
    pl_propagate(E);
    E->record = false;
    R->nodes = mt_alloc_array(ctx, (size_t)g->n + 1, sizeof *R->nodes);
    R->comms = mt_alloc_array(ctx, (size_t)E->nrecs + 1, sizeof *R->comms);
    R->rules = mt_alloc_array(ctx, (size_t)P->nvars + 1, sizeof *R->rules);
    if (!R->nodes || !R->comms || !R->rules) return mt_ctx_status(ctx);
    for (int i = 0; i < g->n; i++) R->nodes[i] = E->vals[P->out_off[i]].p;
    for (int i = 0; i < E->nrecs; i++) {
        const pl_rec *r = &E->recs[i];
        mt_plan_comm *c = &R->comms[R->ncomms++];
        c->kind = (mt_comm_kind)r->kind;
        c->producer = P->slot_node[r->slot];
        c->output = r->slot - P->out_off[c->producer->index];
        c->consumer = r->consumer;
        c->from = r->from;
        c->to = r->to;
        c->bytes_per_token = r->bytes;
        c->wire_per_token = r->wire;
        R->comm_per_token += r->wire;
    }
    mt_status st = params_memory(P, E, R, true);
    if (st != MT_OK) return st;
    mt_plan_memory *M = &R->mem;
    /* KV cache: the sizing pass's attention layers (docs/sizing.md), each
     * cached key/value at its placement in this plan (a head-sharded one holds
     * 1/ways per rank); an MLA latent is held whole by every rank, as serving
     * engines keep it; sliding windows cap the tokens held at the bound seq */
    if (!P->kv) {
        P->kv = mt_alloc(ctx, sizeof *P->kv);
        mt_sizing_opts so = {.kv_dtype = MT_DTYPE_NONE, .batch = P->batch, .seq = P->seq};
        if (!P->kv || mt_model_sizing_kv(P->m, g, &so, P->kv) != MT_OK) return mt_ctx_status(ctx);
    }
    double kv = 0, kv_held = 0;
    for (int i = 0; i < P->kv->nattn; i++) {
        const mt_sizing_attn *a = &P->kv->attn[i];
        if (a->kind != MT_ATTN_CAUSAL) continue;
        int ways = 1;
        if (!a->mla && a->key && a->key->node) {
            mt_placement pl = E->vals[P->out_off[a->key->node->index] + (int)(a->key - a->key->node->outs)].p;
            if (pl.kind == MT_PLACE_SHARD) ways = pl.ways;
        }
        double per = (double)a->cache_bytes_per_token / ways;
        kv += per;
        kv_held += per * (double)(a->window > 0 && a->window < P->seq ? a->window : P->seq);
    }
    M->kv_bytes_per_token = (int64_t)kv;
    M->kv_bytes = (int64_t)(kv_held * (double)P->batch);
    /* activations: live tensors (last use) at the bound shapes */
    int *last = mt_heap_alloc(ctx, (size_t)P->nslots * sizeof *last);
    if (!last) return mt_ctx_status(ctx);
    for (int s = 0; s < P->nslots; s++) last[s] = P->slot_node[s] ? P->slot_node[s]->index : 0;
    for (int i = 0; i < g->n; i++) {
        PL_FOR_TENSOR_ARGS(g->nodes[i], t, {
            if (!t->node) continue;
            int s = P->out_off[t->node->index] + (int)(t - t->node->outs);
            if (last[s] < i) last[s] = i;
        })
    }
    double live = 0, peak = 0;
    double *freeat = mt_heap_alloc(ctx, (size_t)(g->n + 1) * sizeof *freeat);
    if (!freeat) return mt_ctx_status(ctx);
    for (int s = 0; s < P->nslots; s++) {
        const mt_node *n = P->slot_node[s];
        if (!n || n->op == MT_NODE_GET_ATTR || n->is_tuple) continue;
        freeat[last[s]] += (double)local_bytes(P->bytes_at[s], E->vals[s].p);
    }
    for (int i = 0; i < g->n; i++) {
        const mt_node *n = g->nodes[i];
        if (n->op != MT_NODE_GET_ATTR && !n->is_tuple)
            for (int k = 0; k < n->nout; k++)
                live += (double)local_bytes(P->bytes_at[P->out_off[i] + k], E->vals[P->out_off[i] + k].p);
        if (live > peak) peak = live;
        live -= freeat[i];
    }
    M->activation_peak_bytes = (int64_t)peak;
    mt_heap_free(ctx, freeat);
    mt_heap_free(ctx, last);
    st = experts_report(P, R);
    if (st != MT_OK) return st;
    /* plan dict */
    const char **pats = mt_alloc_array(ctx, (size_t)g->n + 1, sizeof *pats);
    const char **paths = mt_alloc_array(ctx, (size_t)g->n + 1, sizeof *paths);
    const char **styles = mt_alloc_array(ctx, (size_t)g->n + 1, sizeof *styles);
    int *ways = mt_alloc_array(ctx, (size_t)g->n + 1, sizeof *ways);
    if (!pats || !paths || !styles || !ways) return mt_ctx_status(ctx);
    int nm = 0;
    bool *gath = mt_heap_alloc(ctx, (size_t)P->nslots + 1);
    pl_map seenp = {0}, bypat = {0};
    if (!gath || !map_init(ctx, &seenp, (size_t)g->n + 1) || !map_init(ctx, &bypat, (size_t)P->nvars + 1))
        return mt_ctx_status(ctx);
    for (int r = 0; r < E->nrecs; r++)
        if (E->recs[r].kind == MT_COMM_ALL_GATHER) gath[E->recs[r].slot] = true;
    const char **seen = mt_heap_alloc(ctx, ((size_t)P->nvars + g->n + 1) * sizeof *seen);
    if (!seen) return mt_ctx_status(ctx);
    int nseen = 0;
    str_tab seentab = {seen}, pattab = {pats};
    for (int i = 0; i < g->n; i++) {
        int vi = P->node_var[i];
        if (vi < 0) continue;
        const mt_node *n = g->nodes[i];
        seen[nseen] = n->module->path;
        if (map_get(&seenp, str_hash(n->module->path), str_eq, &seentab, n->module->path, nseen) >= 0) continue;
        nseen++;
        pl_opt o = P->vars[vi].opts[E->choice[vi]];
        bool emb = n->module->leaf == MT_LEAF_EMBEDDING;
        bool gathered = gath[P->out_off[i]];
        const char *st;
        if (o.dim < 0) st = "replicate";
        else if (emb && o.dim == 0) st = "embedding_rowwise";
        else if (o.dim == P->vars[vi].out_dim || emb) st = gathered ? "colwise_gather_output" : "colwise";
        else st = E->split_in[i] ? "rowwise_split_input" : "rowwise";
        if (o.dim < 0 && R->style == MT_PLAN_TRANSFORMERS) continue;
        paths[nm] = n->module->path;
        pats[nm] = pattern_of(ctx, n->module->path);
        styles[nm] = st;
        ways[nm] = o.ways;
        nm++;
    }
    /* one rule per pattern when every module under it agrees, else one per path */
    int *first = mt_heap_alloc(ctx, ((size_t)nm + 1) * sizeof *first);
    bool *mixed = mt_heap_alloc(ctx, (size_t)nm + 1);
    if (!first || !mixed) return mt_ctx_status(ctx);
    for (int k = 0; k < nm; k++) {
        int f = map_get(&bypat, str_hash(pats[k]), str_eq, &pattab, pats[k], k);
        first[k] = f >= 0 ? f : k;
        if (f >= 0 && (strcmp(styles[f], styles[k]) != 0 || ways[f] != ways[k])) mixed[f] = true;
    }
    for (int k = 0; k < nm; k++) {
        bool uniform = !mixed[first[k]];
        if (uniform && first[k] != k) continue;
        mt_plan_rule *r = &R->rules[R->nrules++];
        r->pattern = uniform ? pats[k] : paths[k];
        r->style = styles[k];
        r->ways = ways[k];
    }
    map_free(ctx, &seenp);
    map_free(ctx, &bypat);
    mt_heap_free(ctx, gath);
    mt_heap_free(ctx, seen);
    mt_heap_free(ctx, first);
    mt_heap_free(ctx, mixed);
    return MT_OK;
}

/* The degree-independent part, once per graph (mt_plan_auto shares it). */
static mt_status plan_prepare(planner *P, mt_model *m, const mt_graph *g, const mt_plan_opts *o) {
    memset(P, 0, sizeof *P);
    P->lim = pl_limits_new(m, g);
    if (!P->lim) return mt_ctx_status(m->ctx);
    if (prepare(P, m, g, o) != MT_OK || signatures(P) != MT_OK) return mt_ctx_status(m->ctx);
    return MT_OK;
}

static void plan_release(planner *P) {
    map_free(P->ctx, &P->bind_map);
    map_free(P->ctx, &P->by_module);
    void *bufs[4] = {P->ev.choice, P->ev.vals, P->ev.sliced, P->ev.split_in};
    for (int i = 0; i < 4; i++)
        if (bufs[i]) mt_heap_free(P->ctx, bufs[i]);
}

static mt_plan *plan_degree(planner *P, const mt_plan_opts *o, bool full) {
    mt_ctx *ctx = P->ctx;
    const mt_graph *g = P->g;
    if (set_degree(P, o->tp, o->style, o->sequence_parallel) != MT_OK) return NULL;
    mt_plan *R = mt_alloc(ctx, sizeof *R);
    if (!R) return NULL;
    R->ctx = ctx;
    R->model = P->m;
    R->graph = g;
    R->tp = o->tp;
    R->style = o->style;
    R->sequence_parallel = P->seq_sym != NULL;
    R->batch = P->batch;
    R->seq = P->seq;
    R->kv_replication = pl_limits_check(P->lim, o->tp, &R->reason, &R->note);
    R->valid = R->reason == NULL;
    pl_eval E;
    memset(&E, 0, sizeof E);
    E.P = P;
    /* the propagation buffers live as long as the planner (one set for
     * every degree of mt_plan_auto) */
    if (!P->ev.choice) {
        P->ev.choice = mt_heap_alloc(ctx, ((size_t)P->nvars + 1) * sizeof *E.choice);
        P->ev.vals = mt_heap_alloc(ctx, ((size_t)P->nslots + 1) * sizeof *E.vals);
        P->ev.sliced = mt_heap_alloc(ctx, ((size_t)P->nslots + 1) * sizeof *E.sliced);
        P->ev.split_in = mt_heap_alloc(ctx, ((size_t)g->n + 1) * sizeof *E.split_in);
    }
    E.choice = P->ev.choice;
    E.vals = P->ev.vals;
    E.sliced = P->ev.sliced;
    E.split_in = P->ev.split_in;
    if (E.split_in) memset(E.split_in, 0, ((size_t)g->n + 1) * sizeof *E.split_in);
    mt_status st = MT_OK;
    if (!E.choice || !E.vals || !E.sliced || !E.split_in) st = mt_ctx_status(ctx);
    if (st == MT_OK) {
        pl_cost best = search(&E, o->search, &R->evals, &R->window_exact);
        st = results(P, &E, R, full, best);
    }
    if (E.recs) mt_heap_free(ctx, E.recs);
    return st == MT_OK ? R : NULL;
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
    int per_block = p->tp / pp->ways; /* ranks holding each block */
    int block = rank / per_block;
    int64_t len = pp->local[pp->shard_dim];
    *start = block * len;
    *stop = *start + len;
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
        d->kv_replication = pl_limits_check(P.lim, tp, &reason, &note);
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
