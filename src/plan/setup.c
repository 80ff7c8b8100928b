/* Tensor-parallel planning, pass 1 of 3 per graph: setup. The bound shapes,
 * one slot per node output with its bytes, the search variables (one per
 * unique Linear/Conv1D/Embedding weight, and one per fused 3-D expert weight
 * read by get_attr into matmul/bmm) with their options per degree, the
 * structural signatures grouping equal weights, and the search window
 * (identical blocks solved once). Read-only over the graph; its state is the
 * planner (plan_internal.h), freed by pl_release (plan.c). */
#include <stdlib.h>
#include <string.h>

#include <metatrace/fit.h>
#include <metatrace/sizing.h>

#include "plan_internal.h"

/* ---- setup ---- */

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
 * mask, or over the routed indices compared with the expert's number) at its
 * expectation under uniform routing: its upper bound (the slice's numel,
 * tokens x top_k) over the number of sibling slices or comparisons (the
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
        const mt_tensor *x = n->opid == MT_OP_NONZERO && n->nout > 0 && n->outs[0].ndim > 0 ? mt__node_input(n) : NULL;
        if (!x) continue;
        /* a slice of a larger tensor, or a comparison of one with a number
         * (granitemoe's indices == e): siblings share that tensor */
        const mt_arg *e = x->node && x->node->opid == MT_OP_EQ ? mt__node_arg(x->node, "other") : NULL;
        if (x->node && (x->node->opid == MT_OP_GETITEM || (e && e->kind == MT_ARG_INT)) && mt__node_input(x->node))
            x = mt__node_input(x->node);
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


static void add_opt(pl_var *v, int dim, int ways, int lay) {
    if (v->nopts < PL_MAX_OPTS) v->opts[v->nopts++] = (pl_opt){dim, ways, lay};
}

/* The column option of a weight whose product is chunked into equal parts
 * along its output features: the packed layout (each rank its block of every
 * part), when tp divides the part; else 0 (one block per rank). */
static int col_lay(const planner *P, const pl_var *v, int tp) {
    if (v->pack_lay <= 0 || (P->style == MT_PLAN_TRANSFORMERS && !v->expert3d)) return 0;
    return P->lays[v->pack_lay - 1].part % tp == 0 ? v->pack_lay : 0;
}

/* A call of a module whose weight the search places. */
static bool weight_call(const mt_node *n) {
    return n->op == MT_NODE_CALL_MODULE && n->module &&
           (n->module->leaf == MT_LEAF_LINEAR || n->module->leaf == MT_LEAF_EMBEDDING ||
            n->module->leaf == MT_LEAF_CONV1D);
}

/* A get_attr of a 3-D parameter (fused expert weights) whose value is a
 * matmul/bmm's second operand [E, in, out], directly (Llama 4's bmm) or
 * through one expert's slice w[e] (gpt_oss's loop), or F.linear's weight
 * [E, out, in] through one expert's slice (granitemoe's
 * GraniteMoeParallelExperts). */
const mt_node *pl_expert3d_attr(const mt_node *n) {
    bool lin = n->opid == MT_OP_LINEAR;
    if (n->opid != MT_OP_MATMUL && n->opid != MT_OP_BMM && !lin) return NULL;
    /* matmul's other, bmm's mat2|other, linear's weight */
    const mt_tensor *b = mt__node_tensor(n, lin ? "weight" : "other");
    const mt_node *src = b ? b->node : NULL;
    if (src && src->opid == MT_OP_GETITEM && n->opid != MT_OP_BMM) {
        const mt_tensor *x = mt__node_input(src);
        const mt_arg *e = mt__node_arg(src, "b"); /* w[e]: one expert's slice */
        src = x && x->node && x->node->op == MT_NODE_GET_ATTR && e && e->kind == MT_ARG_INT ? x->node : NULL;
    } else if (lin) {
        src = NULL; /* a whole 3-D weight is no Linear's */
    }
    if (!src || src->op != MT_NODE_GET_ATTR || !src->param || !src->param->t || src->param->t->ndim != 3 ||
        src->param->tied_to || !src->param->owner)
        return NULL;
    return src;
}

static bool var_weight_eq(const void *u, int v, const void *key) {
    return ((const pl_var *)u)[v].weight == key;
}

/* Everything that does not depend on the degree: slots, bytes at the bound,
 * the search variables (one per unique Linear/Conv1D/Embedding weight, keyed
 * by its call node; one per fused 3-D expert weight, keyed by its get_attr
 * node, whose placement the choice sets). */
mt_status pl_prepare(planner *P, mt_model *m, const mt_graph *g, const mt_plan_opts *o) {
    mt_ctx *ctx = m->ctx;
    P->ctx = ctx;
    P->m = m;
    P->g = g;
    /* the bound: the options, else the first input's dims when they were
     * bound at trace time (bytes per token then divide by the tokens the
     * concrete shapes hold), else the defaults (PL_PARAMS: 1 x 4096) */
    int64_t in_b = 0, in_s = 0;
    for (int i = 0; i < g->n; i++) {
        const mt_node *n = g->nodes[i];
        if (n->op != MT_NODE_PLACEHOLDER || n->nout < 1 || n->outs[0].ndim < 2) continue;
        in_b = dimv(&n->outs[0], 0);
        in_s = dimv(&n->outs[0], 1);
        break;
    }
    P->batch = o->batch > 0 ? o->batch : in_b > 0 ? in_b : PL_PARAMS.default_batch;
    P->seq = o->seq > 0 ? o->seq : in_s > 0 ? in_s : PL_PARAMS.default_seq;
    /* the link inside a node: the cluster's GPU, or the H100 preset's NVLink */
    int npre = 0;
    const mt_gpu_spec *gpu = o->cluster ? &o->cluster->gpu : &mt_gpu_presets(&npre)[0];
    P->link_alpha = gpu->intra_lat;
    P->link_beta = gpu->intra_bw * mt_fit_default_params().link_efficiency;
    P->link = mt_sprintf(ctx, "%s of %s", gpu->intra_link ? gpu->intra_link : "in-node link",
                         gpu->description ? gpu->description : gpu->name ? gpu->name : "a GPU");
    if (!(P->link_beta > 0) || !(P->link_alpha >= 0))
        return mt_fail(ctx, MT_ERR_USAGE, "cluster %s: the in-node link needs a bandwidth > 0 and a latency >= 0",
                       o->cluster && o->cluster->name ? o->cluster->name : "?");
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
    for (int i = 0; i < g->n; i++) ncalls += weight_call(g->nodes[i]) || pl_expert3d_attr(g->nodes[i]);
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
        const mt_node *x3 = pl_expert3d_attr(n);
        if (!x3 && !weight_call(n)) continue;
        const mt_param *w = x3 ? x3->param : mt_module_param(n->module, "weight");
        if (!w) continue;
        const mt_param *owner = w->tied_to ? w->tied_to : w;
        int vi = map_get(&byw, ptr_hash(owner), var_weight_eq, P->vars, owner, P->nvars);
        if (vi < 0) {
            vi = P->nvars++;
            pl_var *v = &P->vars[vi];
            v->weight = owner;
            v->module = x3 ? owner->owner : n->module;
            v->expert3d = x3 != NULL;
            /* every weight sum below stays within 64 bits: checked here, once */
            double b = slot_bytes(P, owner->t);
            v->bytes = b < 9223372036854775807.0 ? (int64_t)b : -1;
            if (v->bytes < 0 || !mt_checked_add(ctx, weight_total, v->bytes, &weight_total, "weight bytes")) {
                map_free(ctx, &byw);
                return v->bytes < 0 ? mt_fail(ctx, MT_ERR_OVERFLOW, "weight '%s': its bytes overflow 64 bits",
                                              owner->name)
                                    : mt_ctx_status(ctx);
            }
            v->out_dim = x3 ? (n->opid == MT_OP_LINEAR ? 1 : 2) : n->module->leaf == MT_LEAF_CONV1D ? 1 : 0;
        }
        P->node_var[x3 ? x3->index : i] = vi;
    }
    map_free(ctx, &byw);
    return MT_OK;
}

static bool var_group_eq(const void *u, int k, const void *key);

/* Weights whose product is chunked (or split into equal pieces) along its
 * output features, the product followed back from the chunk through shape
 * ops and casts that keep that dim whole (Llama 4's bmm then chunk(2, -1),
 * granitemoe's F.linear(x, w[e]) then chunk, Jamba's in_proj transposed then
 * chunked, Phi-3's gate_up_proj): their pack_lay, the pieces' layout, unless
 * two chunks of one weight disagree. Once per graph, after pl_nviews. */
mt_status pl_packs(planner *P) {
    const mt_graph *g = P->g;
    for (int i = 0; i < g->n; i++) {
        const mt_node *n = g->nodes[i];
        const pl_nview *V = &P->nv[i];
        const mt_opinfo *info = mt__op_info(n->opid);
        if (n->op == MT_NODE_CALL_MODULE || !info || info->shard != MT_SHARD_SPLIT || !V->lay || V->dim < 0 ||
            V->in[0] < 0 || P->lays[V->lay - 1].nparts != 0)
            continue;
        const mt_tensor *x = P->slot_t[V->in[0]];
        int d = V->dim;
        for (int step = 0; step < PL_PARAMS.pack_steps && x && x->node; step++) {
            const mt_node *m = x->node;
            const mt_node *a = pl_expert3d_attr(m);
            int vi = a ? P->node_var[a->index]
                       : m->op == MT_NODE_CALL_MODULE && m->module && m->module->leaf != MT_LEAF_EMBEDDING
                             ? P->node_var[m->index] : -1;
            if (vi >= 0) {
                if (d == x->ndim - 1 && m->nout == 1) {
                    pl_var *v = &P->vars[vi];
                    v->pack_lay = v->pack_lay == 0 || v->pack_lay == V->lay ? V->lay : -1;
                }
                break;
            }
            const mt_opinfo *mi = mt__op_info(m->opid);
            if (m->op == MT_NODE_CALL_MODULE || !mi || m->nout != 1) break;
            const pl_nview *W = &P->nv[m->index];
            const mt_tensor *in = NULL;
            int e = -1;
            if (mi->shard == MT_SHARD_MAP && W->follow && W->in[0] >= 0) {
                in = P->slot_t[W->in[0]];
                for (int k = 0; k < in->ndim; k++)
                    if (W->map[k] == d) e = k;
            } else if (mi->shard == MT_SHARD_ELEMENTWISE && mi->operands == 1 && m->nargs >= 1 &&
                       m->args[0].kind == MT_ARG_TENSOR) { /* a cast, contiguous */
                in = m->args[0].v.t;
                e = d - (x->ndim - in->ndim);
            }
            if (!in || e < 0 || e >= in->ndim || in->shape[e] != x->shape[d]) break;
            x = in;
            d = e;
        }
    }
    return MT_OK;
}

/* The options of every weight at degree tp (divisibility decides) and the
 * groups of structurally equal weights with equal options. */
mt_status pl_set_degree(planner *P, int tp, mt_plan_style style, bool sp) {
    P->tp = tp;
    P->style = style;
    P->seq_sym = sp && tp > 1 ? mt_sym_var(P->ctx, "seq") : NULL;
    for (int vi = 0; vi < P->nvars; vi++) {
        pl_var *v = &P->vars[vi];
        v->nopts = 0;
        const mt_tensor *wt = v->weight->t;
        if (v->expert3d) {
            /* fused experts ([E, in, out], or F.linear's [E, out, in]): the
             * output features inside every expert (the output's last dim),
             * the input features (the contraction, output partial), or whole
             * experts per rank (the bmm's batch dim) */
            int order[3] = {v->out_dim, 3 - v->out_dim, 0};
            for (int k = 0; k < 3 && tp > 1; k++)
                if (dimv(wt, order[k]) > 0 && dimv(wt, order[k]) % tp == 0)
                    add_opt(v, order[k], tp, k == 0 ? col_lay(P, v, tp) : 0);
            add_opt(v, -1, 1, 0);
            continue;
        }
        int od = v->out_dim, id = 1 - v->out_dim;
        int64_t dout = wt->ndim == 2 ? dimv(wt, od) : -1, din = wt->ndim == 2 ? dimv(wt, id) : -1;
        bool emb = v->module->leaf == MT_LEAF_EMBEDDING;
        bool allow = tp > 1 && dout > 0 && din > 0 && !(emb && style == MT_PLAN_TRANSFORMERS);
        if (allow) {
            if (dout % tp == 0) add_opt(v, od, tp, emb ? 0 : col_lay(P, v, tp));
            /* fewer blocks than ranks only for a projection onto KV heads when
             * tp exceeds them (each KV head then lives on tp/kv ranks) */
            int64_t kv, hd;
            if (!emb && pl_limits_kv(P->lim, &kv, &hd) && kv > 0 && tp > kv && tp % kv == 0 && dout == kv * hd)
                add_opt(v, od, (int)kv, 0);
            if (din % tp == 0) add_opt(v, id, tp, 0);
        }
        add_opt(v, -1, 1, 0);
    }
    pl_map groups = {0};
    if (!map_init(P->ctx, &groups, (size_t)P->nvars)) return mt_ctx_status(P->ctx);
    for (int i = 0; i < P->nvars; i++) {
        pl_var *v = &P->vars[i];
        uint64_t key = v->sig;
        for (int k = 0; k < v->nopts; k++)
            key = mix(key, ((uint64_t)(v->opts[k].dim + 2) * 131 + (uint64_t)v->opts[k].ways) * 8191 + (uint64_t)v->opts[k].lay);
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

/* Structural signatures: a few rounds of neighbourhood hashing over op ids,
 * leaf kinds and shapes (never names), so weights in repeated blocks that
 * play the same part get the same signature and are searched together. */
mt_status pl_signatures(planner *P) {
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
    for (int round = 0; round < PL_PARAMS.sig_rounds; round++) {
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
