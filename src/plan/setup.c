/* Tensor-parallel planning: the setup, building the read-only view every
 * pass reads (pl_view, plan_internal.h) once per graph - the bound shapes,
 * one slot per node output with its bytes, the producers of every node, the
 * search variables (one per unique Linear/Conv1D/Embedding weight, and one
 * per fused 3-D expert weight read by get_attr into matmul/bmm), each model
 * parameter's variable, the structural signatures grouping equal weights and
 * the search window (identical blocks solved once) - and per degree the
 * options of every variable (pl_set_degree, into pl_degree). Read-only over
 * the graph; what it keeps lives in the context's arena. */
#include <stdlib.h>
#include <string.h>

#include <metatrace/fit.h>
#include <metatrace/sizing.h>

#include "plan_internal.h"

/* ---- setup ---- */

/* Bytes of t at the bound shapes (0 when a dim stays symbolic). */
static double slot_bytes(pl_view *G, const mt_tensor *t) {
    mt_binding b = {G->bind_names, G->bind_values, 2};
    double n = 1;
    for (int d = 0; d < t->ndim; d++) {
        const mt_sym *s = mt_sym_subst(G->ctx, t->shape[d], &b);
        if (s && !mt_sym_is_const(s) && mt_sym_is_var(s) && G->nbind > 2) {
            int k = map_get(&G->bind_map, ptr_hash(s), sym_eq, G->bind_syms, s, -1);
            if (k >= 0) s = mt_sym_const(G->ctx, G->bind_values[k]);
        } else if (s && !mt_sym_is_const(s) && G->nbind > 2) {
            mt_binding all = {G->bind_names, G->bind_values, G->nbind};
            s = mt_sym_subst(G->ctx, s, &all);
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
static mt_status bind_shapes(pl_view *G) {
    mt_ctx *ctx = G->ctx;
    const mt_graph *g = G->g;
    int cap = 2 + mt_sym_count(ctx); /* + other input symbols (a vision-language model's images) */
    for (int i = 0; i < g->n; i++) cap += g->nodes[i]->opid == MT_OP_NONZERO;
    pl_scratch S = {.ctx = ctx};
    G->bind_names = mt_alloc_array(ctx, (size_t)cap, sizeof *G->bind_names);
    G->bind_values = mt_alloc_array(ctx, (size_t)cap, sizeof *G->bind_values);
    const mt_tensor **src = pl_tmp_array(&S, (size_t)cap, sizeof *src);
    const mt_sym **sym = pl_tmp_array(&S, (size_t)cap, sizeof *sym);
    if (!G->bind_names || !G->bind_values || !src || !sym) return pl_scratch_end(&S, mt_ctx_status(ctx));
    G->bind_names[0] = "batch";
    G->bind_names[1] = "seq";
    G->bind_values[0] = G->batch;
    G->bind_values[1] = G->seq;
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
    mt_binding b0 = {G->bind_names, G->bind_values, 2};
    /* siblings are consecutive in practice; count them with an index anyway */
    pl_map bysrc = {0};
    int *count = pl_tmp_array(&S, (size_t)nz, sizeof *count); /* zeroed */
    int *grp = pl_tmp_array(&S, (size_t)nz, sizeof *grp);
    if (!count || !grp || !map_init(ctx, &S, &bysrc, (size_t)nz + 1)) return pl_scratch_end(&S, mt_ctx_status(ctx));
    for (int k = 0; k < nz; k++) {
        int f = map_get(&bysrc, ptr_hash(src[k]), ptr_eq, src, src[k], k);
        grp[k] = f >= 0 ? f : k;
        count[grp[k]]++;
    }
    G->nbind = 2;
    G->bind_syms = mt_alloc_array(ctx, (size_t)cap, sizeof *G->bind_syms);
    if (!G->bind_syms || !map_init(ctx, NULL, &G->bind_map, (size_t)nz + 1)) return pl_scratch_end(&S, mt_ctx_status(ctx));
    for (int k = 0; k < nz; k++) {
        mt_symbol_info *si = mt_sym_is_var(sym[k]) ? mt_sym_info_of(ctx, sym[k]) : NULL;
        int64_t hi;
        if (!si || !si->hi || mt_sym_eval(ctx, si->hi, &b0, &hi) != MT_OK) continue;
        if (map_get(&G->bind_map, ptr_hash(sym[k]), sym_eq, G->bind_syms, sym[k], G->nbind) >= 0) continue;
        G->bind_syms[G->nbind] = sym[k];
        G->bind_names[G->nbind] = si->name;
        G->bind_values[G->nbind] = hi / count[grp[k]];
        G->nbind++;
    }
    /* other input symbols with an upper bound (the images of pixel_values, at most
     * batch*seq // mm_tokens_per_image) at that bound, as the sizing pass takes them */
    for (int i = 0; i < mt_sym_count(ctx); i++) {
        const mt_symbol_info *si = mt_sym_info(ctx, i);
        int64_t hi;
        if (!si->origin || strcmp(si->origin, "input") != 0 || !si->hi || strcmp(si->name, "batch") == 0 ||
            strcmp(si->name, "seq") == 0 || mt_sym_eval(ctx, si->hi, &b0, &hi) != MT_OK)
            continue;
        if (map_get(&G->bind_map, ptr_hash(si->sym), sym_eq, G->bind_syms, si->sym, G->nbind) >= 0) continue;
        G->bind_syms[G->nbind] = si->sym;
        G->bind_names[G->nbind] = si->name;
        G->bind_values[G->nbind] = hi;
        G->nbind++;
    }
    return pl_scratch_end(&S, MT_OK);
}

static uint64_t mix(uint64_t h, uint64_t v) {
    h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
    h *= 0xff51afd7ed558ccdULL;
    return h ^ (h >> 33);
}


static void add_opt(pl_vopts *v, int dim, int ways, int lay) {
    if (v->nopts < PL_MAX_OPTS) v->opts[v->nopts++] = (pl_opt){dim, ways, lay};
}

/* The column option of a weight whose product is chunked into equal parts
 * along its output features: the packed layout (each rank its block of every
 * part), when tp divides the part; else 0 (one block per rank). */
static int col_lay(const pl_view *G, const pl_degree *D, const pl_var *v) {
    if (v->pack_lay <= 0 || (D->style == MT_PLAN_TRANSFORMERS && !v->expert3d)) return 0;
    return G->lays[v->pack_lay - 1].part % D->tp == 0 ? v->pack_lay : 0;
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

/* The producers of every node's tensor arguments, in one array (CSR): the
 * slots they read, in argument order (the signatures, the search window and
 * the activations' last uses walk them). */
static mt_status producers(pl_view *G) {
    mt_ctx *ctx = G->ctx;
    const mt_graph *g = G->g;
    size_t cap = 0;
    for (int i = 0; i < g->n; i++) PL_FOR_TENSOR_ARGS(g->nodes[i], t, { cap += t->node != NULL; })
    G->in_off = mt_alloc_array(ctx, (size_t)g->n + 1, sizeof *G->in_off);
    G->ins = mt_alloc_array(ctx, cap + 1, sizeof *G->ins);
    if (!G->in_off || !G->ins) return mt_ctx_status(ctx);
    int k = 0;
    for (int i = 0; i < g->n; i++) {
        G->in_off[i] = k;
        PL_FOR_TENSOR_ARGS(g->nodes[i], t, {
            if (t->node) G->ins[k++] = G->out_off[t->node->index] + (int)(t - t->node->outs);
        })
    }
    G->in_off[g->n] = k;
    return MT_OK;
}

static bool var_module_eq(const void *u, int v, const void *key) { return ((const pl_var *)u)[v].module == key; }

/* Each model parameter's variable (the Linear/Embedding owning it, or the
 * fused 3-D expert weight it is) and whether it is that module's weight or
 * bias (the report's roles and slices). */
static mt_status param_index(pl_view *G) {
    mt_ctx *ctx = G->ctx;
    int np = G->m->params.n;
    G->param_var = mt_alloc_array(ctx, (size_t)np + 1, sizeof *G->param_var);
    G->param_kind = mt_alloc_array(ctx, (size_t)np + 1, 1);
    pl_scratch S = {.ctx = ctx};
    pl_map bymod = {0}, byw = {0};
    if (!G->param_var || !G->param_kind || !map_init(ctx, &S, &bymod, (size_t)G->nvars) ||
        !map_init(ctx, &S, &byw, (size_t)G->nvars))
        return pl_scratch_end(&S, mt_ctx_status(ctx));
    for (int i = 0; i < G->nvars; i++)
        map_get(&bymod, ptr_hash(G->vars[i].module), var_module_eq, G->vars, G->vars[i].module, i);
    for (int i = 0; i < np; i++) {
        const mt_param *p = G->m->params.items[i];
        G->param_var[i] = map_get(&bymod, ptr_hash(p->owner), var_module_eq, G->vars, p->owner, -1);
        G->param_kind[i] = strcmp(p->local, "weight") == 0 ? 1 : strcmp(p->local, "bias") == 0 ? 2 : 0;
    }
    /* fused 3-D expert weights: their own variable (the experts module
     * holds several), found by the parameter */
    bool any = false;
    for (int i = 0; i < G->nvars; i++)
        if (G->vars[i].expert3d)
            map_get(&byw, ptr_hash(G->vars[i].weight), var_weight_eq, G->vars, G->vars[i].weight, i), any = true;
    for (int i = 0; i < np && any; i++) {
        const mt_param *p = G->m->params.items[i];
        int vi = map_get(&byw, ptr_hash(p), var_weight_eq, G->vars, p, -1);
        if (vi >= 0) G->param_var[i] = vi, G->param_kind[i] = 3;
        else if (G->param_var[i] >= 0 && G->vars[G->param_var[i]].expert3d) G->param_var[i] = -1;
    }
    return pl_scratch_end(&S, MT_OK);
}

/* Everything that does not depend on the degree: slots, bytes at the bound,
 * the search variables (one per unique Linear/Conv1D/Embedding weight, keyed
 * by its call node; one per fused 3-D expert weight, keyed by its get_attr
 * node, whose placement the choice sets). */
mt_status pl_prepare(pl_view *G, mt_model *m, const mt_graph *g, const mt_plan_opts *o) {
    mt_ctx *ctx = m->ctx;
    G->ctx = ctx;
    G->m = m;
    G->g = g;
    /* the bound: the options, else the first input's dims when they were
     * bound at trace time (bytes per token then divide by the tokens the
     * concrete shapes hold), else the defaults (PL_PARAMS: 1 x 4096) */
    const mt_tensor *in = pl_first_input(g, 2);
    int64_t in_b = in ? dimv(in, 0) : 0, in_s = in ? dimv(in, 1) : 0;
    G->batch = o->batch > 0 ? o->batch : in_b > 0 ? in_b : PL_PARAMS.default_batch;
    G->seq = o->seq > 0 ? o->seq : in_s > 0 ? in_s : PL_PARAMS.default_seq;
    /* the link inside a node: the cluster's GPU, or the H100 preset's NVLink */
    int npre = 0;
    const mt_gpu_spec *gpu = o->cluster ? &o->cluster->gpu : &mt_gpu_presets(&npre)[0];
    G->link_alpha = gpu->intra_lat;
    G->link_beta = gpu->intra_bw * mt_fit_default_params().link_efficiency;
    G->link = mt_sprintf(ctx, "%s of %s", gpu->intra_link ? gpu->intra_link : "in-node link",
                         gpu->description ? gpu->description : gpu->name ? gpu->name : "a GPU");
    if (!(G->link_beta > 0) || !(G->link_alpha >= 0))
        return mt_fail(ctx, MT_ERR_USAGE, "cluster %s: the in-node link needs a bandwidth > 0 and a latency >= 0",
                       o->cluster && o->cluster->name ? o->cluster->name : "?");
    G->out_off = mt_alloc_array(ctx, (size_t)g->n + 1, sizeof *G->out_off);
    G->node_var = mt_alloc_array(ctx, (size_t)g->n + 1, sizeof *G->node_var);
    if (!G->out_off || !G->node_var) return mt_ctx_status(ctx);
    int ns = 0;
    for (int i = 0; i < g->n; i++) {
        G->out_off[i] = ns;
        ns += g->nodes[i]->nout > 0 ? g->nodes[i]->nout : 1;
    }
    G->nslots = ns;
    G->slot_t = mt_alloc_array(ctx, (size_t)ns + 1, sizeof *G->slot_t);
    G->slot_node = mt_alloc_array(ctx, (size_t)ns + 1, sizeof *G->slot_node);
    G->bpt = mt_alloc_array(ctx, (size_t)ns + 1, sizeof *G->bpt);
    G->bytes_at = mt_alloc_array(ctx, (size_t)ns + 1, sizeof *G->bytes_at);
    int ncalls = 0;
    for (int i = 0; i < g->n; i++) ncalls += weight_call(g->nodes[i]) || pl_expert3d_attr(g->nodes[i]);
    G->vars = mt_alloc_array(ctx, (size_t)ncalls + 1, sizeof *G->vars);
    if (!G->slot_t || !G->slot_node || !G->bpt || !G->bytes_at || !G->vars) return mt_ctx_status(ctx);
    if (bind_shapes(G) != MT_OK) return mt_ctx_status(ctx);
    double tokens = (double)G->batch * (double)G->seq;
    pl_scratch S = {.ctx = ctx};
    pl_map byw = {0};
    int64_t weight_total = 0;
    if (!map_init(ctx, &S, &byw, (size_t)ncalls + 1)) return pl_scratch_end(&S, mt_ctx_status(ctx));
    for (int i = 0; i < g->n; i++) {
        const mt_node *n = g->nodes[i];
        for (int k = 0; k < n->nout; k++) {
            int s = G->out_off[i] + k;
            G->slot_t[s] = &n->outs[k];
            G->slot_node[s] = n;
            G->bytes_at[s] = slot_bytes(G, &n->outs[k]);
            G->bpt[s] = G->bytes_at[s] / tokens;
        }
        G->node_var[i] = -1;
        const mt_node *x3 = pl_expert3d_attr(n);
        if (!x3 && !weight_call(n)) continue;
        const mt_param *w = x3 ? x3->param : mt_module_param(n->module, "weight");
        if (!w) continue;
        const mt_param *owner = w->tied_to ? w->tied_to : w;
        int vi = map_get(&byw, ptr_hash(owner), var_weight_eq, G->vars, owner, G->nvars);
        if (vi < 0) {
            vi = G->nvars++;
            pl_var *v = &G->vars[vi];
            v->weight = owner;
            v->module = x3 ? owner->owner : n->module;
            v->expert3d = x3 != NULL;
            /* every weight sum below stays within 64 bits: checked here, once */
            double b = slot_bytes(G, owner->t);
            v->bytes = b < 9223372036854775807.0 ? (int64_t)b : -1;
            if (v->bytes < 0 || !mt_checked_add(ctx, weight_total, v->bytes, &weight_total, "weight bytes"))
                return pl_scratch_end(&S, v->bytes < 0 ? mt_fail(ctx, MT_ERR_OVERFLOW,
                                                                 "weight '%s': its bytes overflow 64 bits", owner->name)
                                                       : mt_ctx_status(ctx));
            v->out_dim = x3 ? (n->opid == MT_OP_LINEAR ? 1 : 2) : n->module->leaf == MT_LEAF_CONV1D ? 1 : 0;
        }
        G->node_var[x3 ? x3->index : i] = vi;
    }
    pl_scratch_end(&S, MT_OK);
    if (producers(G) != MT_OK) return mt_ctx_status(ctx);
    return param_index(G);
}

/* Weights whose product is chunked (or split into equal pieces) along its
 * output features, the product followed back from the chunk through shape
 * ops and casts that keep that dim whole (Llama 4's bmm then chunk(2, -1),
 * granitemoe's F.linear(x, w[e]) then chunk, Jamba's in_proj transposed then
 * chunked, Phi-3's gate_up_proj): their pack_lay, the pieces' layout, unless
 * two chunks of one weight disagree. Once per graph, after pl_nviews. */
mt_status pl_packs(pl_view *G) {
    const mt_graph *g = G->g;
    for (int i = 0; i < g->n; i++) {
        const mt_node *n = g->nodes[i];
        const pl_nview *V = &G->nv[i];
        const mt_opinfo *info = mt__op_info(n->opid);
        if (n->op == MT_NODE_CALL_MODULE || !info || info->shard != MT_SHARD_SPLIT || !V->lay || V->dim < 0 ||
            V->in[0] < 0 || G->lays[V->lay - 1].nparts != 0)
            continue;
        const mt_tensor *x = G->slot_t[V->in[0]];
        int d = V->dim;
        for (int step = 0; step < PL_PARAMS.pack_steps && x && x->node; step++) {
            const mt_node *m = x->node;
            const mt_node *a = pl_expert3d_attr(m);
            int vi = a ? G->node_var[a->index]
                       : m->op == MT_NODE_CALL_MODULE && m->module && m->module->leaf != MT_LEAF_EMBEDDING
                             ? G->node_var[m->index] : -1;
            if (vi >= 0) {
                if (d == x->ndim - 1 && m->nout == 1) {
                    pl_var *v = &G->vars[vi];
                    v->pack_lay = v->pack_lay == 0 || v->pack_lay == V->lay ? V->lay : -1;
                }
                break;
            }
            const mt_opinfo *mi = mt__op_info(m->opid);
            if (m->op == MT_NODE_CALL_MODULE || !mi || m->nout != 1) break;
            const pl_nview *W = &G->nv[m->index];
            const mt_tensor *in = NULL;
            int e = -1;
            if (mi->shard == MT_SHARD_MAP && W->follow && W->in[0] >= 0) {
                in = G->slot_t[W->in[0]];
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

/* The variables of the group being indexed (var_group_eq): signatures and options. */
typedef struct pl_vars_at {
    const pl_var *vars;
    const pl_vopts *vo;
} pl_vars_at;

static bool var_group_eq(const void *u, int k, const void *key) {
    const pl_vars_at *at = u;
    int j = *(const int *)key;
    const pl_vopts *a = &at->vo[k], *b = &at->vo[j];
    return at->vars[k].sig == at->vars[j].sig && a->nopts == b->nopts &&
           memcmp(a->opts, b->opts, (size_t)b->nopts * sizeof *b->opts) == 0;
}

/* The options of every weight at degree tp (divisibility decides) and the
 * groups of structurally equal weights with equal options. */
mt_status pl_set_degree(pl_degree *D, const pl_view *G, int tp, mt_plan_style style, bool sp) {
    D->tp = tp;
    D->style = style;
    D->seq_sym = sp && tp > 1 ? mt_sym_var(G->ctx, "seq") : NULL;
    if (!D->vo) {
        D->vo = mt_alloc_array(G->ctx, (size_t)G->nvars + 1, sizeof *D->vo);
        D->gnext = mt_alloc_array(G->ctx, (size_t)G->nvars + 1, sizeof *D->gnext);
        if (!D->vo || !D->gnext) return mt_ctx_status(G->ctx);
    }
    for (int vi = 0; vi < G->nvars; vi++) {
        const pl_var *v = &G->vars[vi];
        pl_vopts *vo = &D->vo[vi];
        vo->nopts = 0;
        const mt_tensor *wt = v->weight->t;
        if (v->expert3d) {
            /* fused experts ([E, in, out], or F.linear's [E, out, in]): the
             * output features inside every expert (the output's last dim),
             * the input features (the contraction, output partial), or whole
             * experts per rank (the bmm's batch dim) */
            int order[3] = {v->out_dim, 3 - v->out_dim, 0};
            for (int k = 0; k < 3 && tp > 1; k++)
                if (dimv(wt, order[k]) > 0 && dimv(wt, order[k]) % tp == 0)
                    add_opt(vo, order[k], tp, k == 0 ? col_lay(G, D, v) : 0);
            add_opt(vo, -1, 1, 0);
            continue;
        }
        int od = v->out_dim, id = 1 - v->out_dim;
        int64_t dout = wt->ndim == 2 ? dimv(wt, od) : -1, din = wt->ndim == 2 ? dimv(wt, id) : -1;
        bool emb = v->module->leaf == MT_LEAF_EMBEDDING;
        bool allow = tp > 1 && dout > 0 && din > 0 && !(emb && style == MT_PLAN_TRANSFORMERS);
        if (allow) {
            if (dout % tp == 0) add_opt(vo, od, tp, emb ? 0 : col_lay(G, D, v));
            /* fewer blocks than ranks only for a projection onto KV heads when
             * tp exceeds them (each KV head then lives on tp/kv ranks) */
            int64_t kv, hd;
            if (!emb && pl_limits_kv(G->lim, &kv, &hd) && kv > 0 && tp > kv && tp % kv == 0 && dout == kv * hd)
                add_opt(vo, od, (int)kv, 0);
            if (din % tp == 0) add_opt(vo, id, tp, 0);
        }
        add_opt(vo, -1, 1, 0);
    }
    pl_scratch S = {.ctx = G->ctx};
    pl_map groups = {0};
    if (!map_init(G->ctx, &S, &groups, (size_t)G->nvars)) return pl_scratch_end(&S, mt_ctx_status(G->ctx));
    pl_vars_at at = {G->vars, D->vo};
    for (int i = 0; i < G->nvars; i++) {
        pl_vopts *vo = &D->vo[i];
        uint64_t key = G->vars[i].sig;
        for (int k = 0; k < vo->nopts; k++)
            key = mix(key, ((uint64_t)(vo->opts[k].dim + 2) * 131 + (uint64_t)vo->opts[k].ways) * 8191 + (uint64_t)vo->opts[k].lay);
        int gi = map_get(&groups, key, var_group_eq, &at, &i, i);
        vo->group = gi >= 0 ? gi : i;
    }
    pl_scratch_end(&S, MT_OK);
    /* members of each group, in one array (groups are searched as one) */
    for (int i = 0; i < G->nvars; i++) D->gnext[i] = -1;
    for (int i = G->nvars - 1; i >= 0; i--) {
        int gi = D->vo[i].group;
        if (gi != i) {
            D->gnext[i] = D->gnext[gi];
            D->gnext[gi] = i;
        }
    }
    return MT_OK;
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
static mt_status mirrors(pl_view *G, const int *nb, const blk *B, int nblk) {
    mt_ctx *ctx = G->ctx;
    const mt_graph *g = G->g;
    int n = g->n;
    pl_scratch S = {.ctx = ctx};
    int *start = pl_tmp_array(&S, (size_t)nblk, sizeof *start);
    int *cnt = pl_tmp_array(&S, (size_t)nblk, sizeof *cnt);
    size_t total = 0;
    for (int b = 0; b < nblk; b++) total += (size_t)B[b].nodes;
    int *list = pl_tmp_array(&S, total, sizeof *list);
    int *mir = pl_tmp_array(&S, (size_t)n, sizeof *mir);
    G->mir_head = mt_alloc_array(ctx, (size_t)n + 1, sizeof *G->mir_head);
    G->mir_next = mt_alloc_array(ctx, (size_t)n + 1, sizeof *G->mir_next);
    if (!start || !cnt || !list || !mir || !G->mir_head || !G->mir_next) return pl_scratch_end(&S, mt_ctx_status(ctx));
    for (int b = 0, o = 0; b < nblk; b++) {
        start[b] = o;
        cnt[b] = 0;
        o += B[b].nodes;
    }
    for (int i = 0; i < n; i++) {
        mir[i] = -1;
        G->mir_head[i] = G->mir_next[i] = -1;
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
        mir[i] = G->node_w[j] > 0 ? j : mir[j];
    }
    /* only skipped nodes read by the window need their placement */
    for (int k = 0; k < G->nwin; k++) {
        int x = G->win[k];
        for (int a = G->in_off[x]; a < G->in_off[x + 1]; a++) {
            int src = G->slot_node[G->ins[a]]->index, r = mir[src];
            if (G->node_w[src] > 0 || r < 0) continue;
            mir[src] = -1; /* listed once */
            G->mir_next[src] = G->mir_head[r];
            G->mir_head[r] = src;
        }
    }
    return pl_scratch_end(&S, MT_OK);
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
static mt_status attach(const pl_view *G, int *nb, const blk *B, int nblk) {
    int n = G->g->n;
    pl_scratch S = {.ctx = G->ctx};
    /* is nb[i] a block with child blocks? */
    bool *parent = pl_tmp_array(&S, (size_t)nblk, sizeof *parent);                 /* zeroed */
    int *user = pl_tmp_array(&S, (size_t)n, sizeof *user); /* -1 none, -2 several, else child */
    if (!parent || !user) return pl_scratch_end(&S, mt_ctx_status(G->ctx));
    for (int b = 0; b < nblk; b++)
        if (B[b].parent >= 0) parent[B[b].parent] = true;
    for (int i = 0; i < n; i++) {
        int p = nb[i];
        if (p < 0 || !parent[p]) continue;
        int got = -1;
        for (int a = G->in_off[i]; a < G->in_off[i + 1]; a++) {
            int j = G->slot_node[G->ins[a]]->index;
            int c = nb[j] >= 0 ? child_of(B, nb[j], p) : -1;
            if (c >= 0 && c != p) got = got == -1 || got == c ? c : -2;
        }
        if (got >= 0) nb[i] = got;
    }
    for (int i = 0; i < n; i++) user[i] = -1;
    for (int i = n - 1; i >= 0; i--) {
        int p = nb[i];
        if (p >= 0 && parent[p] && user[i] >= 0) nb[i] = user[i];
        /* tell the producers which child of their block reads them */
        for (int a = G->in_off[i]; a < G->in_off[i + 1]; a++) {
            int j = G->slot_node[G->ins[a]]->index;
            int pj = nb[j];
            if (pj < 0 || !parent[pj]) continue;
            int c = nb[i] >= 0 ? child_of(B, nb[i], pj) : -1;
            if (c < 0 || c == pj) c = -2;
            user[j] = user[j] == -1 || user[j] == c ? c : -2;
        }
    }
    return pl_scratch_end(&S, MT_OK);
}

/* Blocks nest (the experts of a MoE layer inside the layers): a node's
 * weight is the product, over the blocks on its stack, of the number of
 * identical blocks each stands for (0 inside a block that is not its kind's
 * representative under its parent). */
static mt_status blocks(pl_view *G, const uint64_t *h0) {
    const mt_graph *g = G->g;
    mt_ctx *ctx = G->ctx;
    int n = g->n;
    G->node_w = NULL;
    pl_scratch S = {.ctx = ctx};
    int *nb = pl_tmp_array(&S, (size_t)n, sizeof *nb);
    blk *B = pl_tmp_array(&S, (size_t)n, sizeof *B);
    const mt_module **cm = pl_tmp_array(&S, (size_t)n, sizeof *cm);
    signed char *cv = pl_tmp_array(&S, (size_t)n, sizeof *cv);
    pl_map bymod = {0}, cache = {0}, kinds = {0};
    if (!nb || !B || !cm || !cv || !map_init(ctx, &S, &bymod, (size_t)n) || !map_init(ctx, &S, &cache, (size_t)n) ||
        !map_init(ctx, &S, &kinds, (size_t)n))
        return pl_scratch_end(&S, mt_ctx_status(ctx));
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
    if (attach(G, nb, B, nblk) != MT_OK) return pl_scratch_end(&S, mt_ctx_status(ctx));
    for (int i = 0; i < n; i++) {
        uint64_t v = h0[i];
        if (G->node_var[i] >= 0) v = mix(v, G->vars[G->node_var[i]].sig);
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
    G->nblocks = nblk;
    G->nblock_kinds = nkinds;
    if (nkinds == nblk) return pl_scratch_end(&S, MT_OK); /* nothing repeats: search the whole graph */
    G->node_w = mt_alloc_array(ctx, (size_t)n + 1, sizeof *G->node_w);
    G->win = mt_alloc_array(ctx, (size_t)n + 1, sizeof *G->win);
    if (!G->node_w || !G->win) return pl_scratch_end(&S, mt_ctx_status(ctx));
    G->nwin = 0;
    for (int i = 0; i < n; i++) {
        double w = 1.0;
        for (int b = nb[i]; b >= 0 && w > 0; b = B[b].parent) w *= blk_w(B, b);
        G->node_w[i] = w;
        if (w > 0) G->win[G->nwin++] = i;
    }
    if (mirrors(G, nb, B, nblk) != MT_OK) return pl_scratch_end(&S, mt_ctx_status(ctx));
    /* containers of nested blocks: the expert lists (the experts report) */
    G->containers = mt_alloc_array(ctx, (size_t)nblk + 1, sizeof *G->containers);
    if (!G->containers) return pl_scratch_end(&S, mt_ctx_status(ctx));
    for (int b = 0; b < nblk; b++) {
        const mt_module *c = B[b].parent >= 0 ? B[b].mod->parent : NULL;
        if (c && (G->ncontainers == 0 || G->containers[G->ncontainers - 1] != c)) G->containers[G->ncontainers++] = c;
    }
    return pl_scratch_end(&S, MT_OK);
}

/* Structural signatures: a few rounds of neighbourhood hashing over op ids,
 * leaf kinds and shapes (never names), so weights in repeated blocks that
 * play the same part get the same signature and are searched together. */
mt_status pl_signatures(pl_view *G) {
    const mt_graph *g = G->g;
    mt_ctx *ctx = G->ctx;
    int n = g->n;
    pl_scratch S = {.ctx = ctx};
    uint64_t *h = pl_tmp_array(&S, (size_t)n, sizeof *h), *h2 = pl_tmp_array(&S, (size_t)n, sizeof *h2);
    uint64_t *h0 = pl_tmp_array(&S, (size_t)n, sizeof *h0);
    if (!h || !h2 || !h0) return pl_scratch_end(&S, mt_ctx_status(ctx));
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
    }
    const int *off = G->in_off;
    for (int round = 0; round < PL_PARAMS.sig_rounds; round++) {
        for (int i = 0; i < n; i++) h2[i] = mix(h[i], 0x51);
        for (int i = 0; i < n; i++)
            for (int k = 0; k < off[i + 1] - off[i]; k++) {
                int j = G->slot_node[G->ins[off[i] + k]]->index;
                h2[i] = mix(h2[i], mix(h[j], (uint64_t)k));
                h2[j] += mix(h[i], (uint64_t)k + 100); /* users, order-free */
            }
        memcpy(h, h2, (size_t)n * sizeof *h);
    }
    for (int i = 0; i < G->nvars; i++) G->vars[i].sig = 0x1234;
    for (int i = 0; i < n; i++)
        if (G->node_var[i] >= 0) G->vars[G->node_var[i]].sig += mix(h[i], 0x77);
    return pl_scratch_end(&S, blocks(G, h0));
}
