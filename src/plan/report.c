/* Tensor-parallel planning, pass 3: the report of the chosen plan, one
 * function per report, run in order by pl_results - collectives_report (the
 * propagation recorded: node placements, collectives, their time),
 * memory_report (the parameters' roles and slices, memory per rank, KV from
 * the sizing pass, activation peak), experts_report (ModuleList and fused
 * experts: how they are held, expert parallelism beside) and plan_dict.
 * Writers: export/plan_json.c (JSON, table) and export/dot_plan.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <metatrace/fit.h>
#include <metatrace/sizing.h>

#include "plan_internal.h"

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
static mt_status params_memory(const pl_view *G, const pl_degree *D, pl_eval *E, mt_plan *R, bool keep) {
    mt_ctx *ctx = G->ctx;
    int tp = D->tp;
    if (keep) {
        R->params = mt_alloc_array(ctx, (size_t)G->m->params.n + 1, sizeof *R->params);
        if (!R->params) return mt_ctx_status(ctx);
    }
    mt_plan_memory *M = &R->mem;
    int np = G->m->params.n;
    mt_plan_param scratch;
    for (int i = 0; i < np; i++) {
        const mt_param *p = G->m->params.items[i];
        if (p->tied_to) continue;
        mt_plan_param *pp = keep ? &R->params[R->nparams++] : &scratch;
        pp->param = p;
        pp->name = p->name;
        pp->role = MT_ROLE_REPLICATE;
        pp->shard_dim = -1;
        pp->ways = 1;
        pp->parts = 0;
        pp->ndim = p->t->ndim;
        int vi = G->param_var[i];
        if (vi >= 0) {
            pl_opt o = D->vo[vi].opts[E->choice[vi]];
            bool emb = G->vars[vi].module->leaf == MT_LEAF_EMBEDDING;
            if (o.lay && (G->param_kind[i] == 3 || G->param_kind[i] == 1 || G->param_kind[i] == 2)) {
                /* packed: the parts the chunk after the product cuts (a bias with its weight) */
                const mt_plan_layout *L = &G->lays[o.lay - 1];
                int64_t n = dimv(p->t, G->param_kind[i] == 2 ? 0 : o.dim);
                pp->parts = L->nparts ? L->nparts : L->part > 0 ? (int)(n / L->part) : 0;
            }
            if (o.dim >= 0 && G->param_kind[i] == 3) {
                pp->shard_dim = o.dim;
                pp->ways = o.ways;
                pp->role = o.dim == 0 ? MT_ROLE_EXPERTS : o.dim == G->vars[vi].out_dim ? MT_ROLE_COLWISE : MT_ROLE_ROWWISE;
            } else if (o.dim >= 0 && G->param_kind[i] == 1) {
                pp->shard_dim = o.dim;
                pp->ways = o.ways;
                bool out = o.dim == G->vars[vi].out_dim;
                pp->role = emb ? (out ? MT_ROLE_VOCAB : MT_ROLE_EMBED_COLWISE)
                               : (out ? MT_ROLE_COLWISE : MT_ROLE_ROWWISE);
            } else if (o.dim == G->vars[vi].out_dim && !emb && G->param_kind[i] == 2) {
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
 * data-dependent number of tokens (a bound routed-token count), and the
 * modules holding fused 3-D expert weights [E, in, out] (one per layer), each
 * grouped by pattern; the plan's bytes and communication for them, how it
 * holds them, and what expert parallelism would hold and move instead. One
 * pass over nodes, parameters and collectives (modules found through pointer
 * indexes). */
typedef struct pl_box {
    const mt_node *first;    /* first Linear call under it reading routed tokens */
    const mt_module *last;   /* expert of the previous such call */
    double routed;           /* expected routed tokens, all experts */
    int entry;               /* R->experts index, -1 none */
} pl_box;

/* How an entry's expert weights are held (bits, per weight): sharded inside
 * each expert, whole experts per rank (fused dim 0), whole on every rank. */
enum { PL_X_INSIDE = 1, PL_X_WHOLE = 2, PL_X_REPL = 4 };

static const char *placement_name(unsigned f) {
    return f == PL_X_INSIDE ? "sharded" : f == PL_X_WHOLE ? "expert_parallel"
           : f == PL_X_REPL || f == 0 ? "replicated" : "mixed";
}

static unsigned role_bit(mt_plan_role r) {
    return r == MT_ROLE_REPLICATE ? PL_X_REPL : r == MT_ROLE_EXPERTS ? PL_X_WHOLE : PL_X_INSIDE;
}

/* The container m lies under (and its index), or -1; *child: its expert. */
static int box_of(const pl_view *G, pl_map *idx, const mt_module *m, const mt_module **child) {
    for (const mt_module *c = m; c && c->parent; c = c->parent) {
        int k = map_get(idx, ptr_hash(c->parent), ptr_eq, G->containers, c->parent, -1);
        if (k >= 0) {
            if (child) *child = c;
            return k;
        }
    }
    return -1;
}

/* The index of the first module of `mods` on n's module stack (the MoE
 * block a collective is produced in), or -1. */
static int stack_find(pl_map *m, const mt_module **mods, const mt_node *n) {
    for (int d = 0; n->stack && d < n->stack->depth; d++) {
        int c = map_get(m, ptr_hash(n->stack->mods[d]), ptr_eq, mods, n->stack->mods[d], -1);
        if (c >= 0) return c;
    }
    return -1;
}

/* Experts in ModuleLists (G->containers): entries of R->experts. */
static mt_status list_experts(const pl_view *G, const pl_degree *D, mt_plan *R, pl_map *pats, const char **patl, unsigned *flags) {
    mt_ctx *ctx = G->ctx;
    const mt_graph *g = G->g;
    int tp = D->tp, nc = G->ncontainers;
    if (nc == 0) return MT_OK;
    pl_scratch S = {.ctx = ctx};
    pl_box *bx = pl_tmp_array(&S, (size_t)nc, sizeof *bx);
    pl_map idx = {0}, moe = {0};
    const mt_module **moes = pl_tmp_array(&S, (size_t)nc, sizeof *moes);
    if (!bx || !moes || !map_init(ctx, &S, &idx, (size_t)nc) || !map_init(ctx, &S, &moe, (size_t)nc))
        return pl_scratch_end(&S, mt_ctx_status(ctx));
    for (int c = 0; c < nc; c++) {
        map_get(&idx, ptr_hash(G->containers[c]), ptr_eq, G->containers, G->containers[c], c);
        moes[c] = G->containers[c]->parent;
        map_get(&moe, ptr_hash(moes[c]), ptr_eq, moes, moes[c], c);
        bx[c] = (pl_box){NULL, NULL, 0, -1};
    }
    mt_binding b2 = {G->bind_names, G->bind_values, 2};
    for (int i = 0; i < g->n; i++) {
        const mt_node *n = g->nodes[i];
        const mt_tensor *x = G->node_var[i] >= 0 ? mt__node_input(n) : NULL;
        if (!x || x->ndim != 2 || mt_sym_is_const(x->shape[0])) continue;
        const mt_module *child = NULL;
        int c = box_of(G, &idx, n->module, &child);
        /* the first Linear call of each expert: [its routed tokens, hidden] */
        if (c < 0 || child == bx[c].last) continue;
        bx[c].last = child;
        if (!bx[c].first) bx[c].first = n;
        const mt_sym *s = mt_sym_subst(ctx, x->shape[0], &b2);
        int k = s && mt_sym_is_var(s) ? map_get(&G->bind_map, ptr_hash(s), sym_eq, G->bind_syms, s, -1) : -1;
        if (k >= 0) bx[c].routed += (double)G->bind_values[k];
    }
    double tokens = (double)G->batch * (double)G->seq;
    str_tab pt = {patl};
    for (int c = 0; c < nc; c++) {
        const mt_module *box = G->containers[c];
        if (!bx[c].first || bx[c].routed <= 0) continue;
        const mt_tensor *x = mt__node_input(bx[c].first);
        const char *pat = pattern_of(ctx, box->path);
        patl[R->nexperts] = pat;
        int e = map_get(pats, str_hash(pat), str_eq, &pt, pat, R->nexperts);
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
        int c = box_of(G, &idx, R->params[i].param->owner, NULL);
        if (c < 0 || bx[c].entry < 0) continue;
        R->experts[bx[c].entry].local_bytes += R->params[i].local_bytes;
        if (R->params[i].ndim >= 2) flags[bx[c].entry] |= role_bit(R->params[i].role);
    }
    for (int i = 0; i < R->ncomms; i++) {
        int c = stack_find(&moe, moes, R->comms[i].producer);
        if (c >= 0 && bx[c].entry >= 0) R->experts[bx[c].entry].comm_per_token += R->comms[i].wire_per_token;
    }
    return pl_scratch_end(&S, MT_OK);
}

/* Fused experts: the 3-D weights a matmul/bmm or F.linear reads
 * (pl_expert3d_attr: gpt_oss's loop over w[e], Llama 4's bmm, granitemoe's
 * F.linear(x, w[e])) hold one layer's E experts; grouped by their modules'
 * MoE block (the parent: gpt_oss's and Llama 4's one experts module,
 * granitemoe's input_linear and output_linear), named by the module holding
 * them, or by the block when it holds several. top_k: the largest k of the
 * topk nodes in the block (the router's); hidden: the last dim of the first
 * product's input (the width entering an expert). Entries of R->experts after
 * the ModuleLists'. */
static mt_status fused_experts(const pl_view *G, const pl_degree *D, mt_plan *R, int nf, pl_map *pats, const char **patl, unsigned *flags) {
    mt_ctx *ctx = G->ctx;
    const mt_graph *g = G->g;
    int tp = D->tp, nm = 0, no = 0;
    pl_scratch S = {.ctx = ctx};
    size_t n = (size_t)nf;
    const mt_module **moes = pl_tmp_array(&S, n, sizeof *moes);   /* per block */
    const mt_module **owner = pl_tmp_array(&S, n, sizeof *owner); /* per block: its first module */
    const mt_node **first = pl_tmp_array(&S, n, sizeof *first);
    int64_t *topk = pl_tmp_array(&S, n, sizeof *topk), *bytes = pl_tmp_array(&S, n, sizeof *bytes);
    int *entry = pl_tmp_array(&S, n, sizeof *entry), *nown = pl_tmp_array(&S, n, sizeof *nown);
    const mt_module **mods = pl_tmp_array(&S, n, sizeof *mods);    /* per module holding weights */
    int *block = pl_tmp_array(&S, n, sizeof *block);               /* per module: its block */
    pl_map bymod = {0}, bymoe = {0};
    if (!moes || !owner || !first || !topk || !bytes || !entry || !nown || !mods || !block ||
        !map_init(ctx, &S, &bymod, n) || !map_init(ctx, &S, &bymoe, n))
        return pl_scratch_end(&S, mt_ctx_status(ctx));
    for (int i = 0; i < g->n && no < nf; i++) {
        const mt_node *a = pl_expert3d_attr(g->nodes[i]);
        if (!a) continue;
        const mt_module *mod = a->param->owner;
        mods[no] = mod;
        if (map_get(&bymod, ptr_hash(mod), ptr_eq, mods, mod, no) >= 0) continue;
        const mt_module *moe = mod->parent ? mod->parent : mod;
        moes[nm] = moe;
        int f = map_get(&bymoe, ptr_hash(moe), ptr_eq, moes, moe, nm);
        if (f < 0) {
            f = nm++;
            owner[f] = mod;
            first[f] = g->nodes[i];
            topk[f] = bytes[f] = 0;
            entry[f] = -1;
            nown[f] = 0;
        }
        block[no++] = f;
        nown[f]++;
        bytes[f] += module_param_bytes(mod);
    }
    for (int i = 0; i < g->n; i++) {
        const mt_node *n = g->nodes[i];
        int64_t k = 0;
        if (n->opid != MT_OP_TOPK || !mt__node_int(n, "k", &k)) continue;
        int f = stack_find(&bymoe, moes, n);
        if (f >= 0 && k > topk[f]) topk[f] = k;
    }
    str_tab pt = {patl};
    for (int f = 0; f < nm; f++) {
        const mt_tensor *x = mt__node_input(first[f]), *w = pl_expert3d_attr(first[f])->param->t;
        const char *pat = pattern_of(ctx, (nown[f] > 1 ? moes[f] : owner[f])->path);
        patl[R->nexperts] = pat;
        int e = map_get(pats, str_hash(pat), str_eq, &pt, pat, R->nexperts);
        if (e < 0) {
            e = R->nexperts++;
            mt_plan_experts *X = &R->experts[e];
            memset(X, 0, sizeof *X);
            X->pattern = pat;
            X->fused = true;
            X->experts = (int)dimv(w, 0);
            X->top_k = (double)topk[f];
            X->hidden = x && x->ndim > 0 ? dimv(x, x->ndim - 1) : -1;
            X->ep_valid = X->experts > 0 && X->experts % tp == 0;
            if (!X->ep_valid) X->ep_reason = mt_sprintf(ctx, "%d experts not divisible by %d", X->experts, tp);
        }
        entry[f] = e;
        mt_plan_experts *X = &R->experts[e];
        X->layers++;
        X->param_bytes += bytes[f];
        X->ep_comm_per_token += 2.0 * X->top_k * (double)X->hidden * (double)mt_dtype_size(x ? x->dtype : w->dtype) *
                                (double)(tp - 1) / (double)tp;
    }
    for (int i = 0; i < R->nparams; i++) {
        const mt_param *p = R->params[i].param;
        int k = map_get(&bymod, ptr_hash(p->owner), ptr_eq, mods, p->owner, -1);
        if (k < 0) continue;
        int e = entry[block[k]];
        R->experts[e].local_bytes += R->params[i].local_bytes;
        if (R->params[i].ndim == 3) flags[e] |= role_bit(R->params[i].role);
    }
    for (int i = 0; i < R->ncomms; i++) {
        int f = stack_find(&bymoe, moes, R->comms[i].producer);
        if (f >= 0) R->experts[entry[f]].comm_per_token += R->comms[i].wire_per_token;
    }
    return pl_scratch_end(&S, MT_OK);
}

static mt_status experts_report(const pl_view *G, const pl_degree *D, mt_plan *R) {
    mt_ctx *ctx = G->ctx;
    int nc = G->ncontainers, nf = 0;
    for (int i = 0; i < G->nvars; i++) nf += G->vars[i].expert3d;
    if (nc == 0 && nf == 0) return MT_OK;
    size_t n = (size_t)nc + (size_t)nf + 1;
    pl_scratch S = {.ctx = ctx};
    R->experts = mt_alloc_array(ctx, n, sizeof *R->experts);
    const char **patl = pl_tmp_array(&S, n, sizeof *patl);
    unsigned *flags = pl_tmp_array(&S, n, sizeof *flags); /* zeroed */
    pl_map pats = {0};
    if (!R->experts || !patl || !flags || !map_init(ctx, &S, &pats, n) ||
        list_experts(G, D, R, &pats, patl, flags) != MT_OK ||
        (nf > 0 && fused_experts(G, D, R, nf, &pats, patl, flags) != MT_OK))
        return pl_scratch_end(&S, mt_ctx_status(ctx));
    for (int k = 0; k < R->nexperts; k++) {
        mt_plan_experts *X = &R->experts[k];
        if (X->ep_valid) X->ep_local_bytes = X->param_bytes / D->tp;
        X->placement = placement_name(flags[k]);
    }
    return pl_scratch_end(&S, MT_OK);
}

/* The collectives of the chosen plan: its propagation recorded, each
 * conversion it inserted a collective, priced on the link; the nodes'
 * placements. */
static mt_status collectives_report(const pl_view *G, pl_eval *E, mt_plan *R) {
    mt_ctx *ctx = G->ctx;
    const mt_graph *g = G->g;
    E->record = true;
    E->lost = false;
    pl_propagate(E);
    E->record = false;
    if (E->lost) return mt_ctx_status(ctx);
    R->nodes = mt_alloc_array(ctx, (size_t)g->n + 1, sizeof *R->nodes);
    R->comms = mt_alloc_array(ctx, (size_t)E->nrecs + 1, sizeof *R->comms);
    if (!R->nodes || !R->comms) return mt_ctx_status(ctx);
    for (int i = 0; i < g->n; i++) R->nodes[i] = E->vals[G->out_off[i]].p;
    R->nlayouts = G->nlays;
    R->layouts = G->nlays ? mt_alloc_array(ctx, (size_t)G->nlays, sizeof *R->layouts) : NULL;
    if (G->nlays && !R->layouts) return mt_ctx_status(ctx);
    if (G->nlays) memcpy(R->layouts, G->lays, (size_t)G->nlays * sizeof *R->layouts);
    for (int i = 0; i < E->nrecs; i++) {
        const pl_rec *r = &E->recs[i];
        mt_plan_comm *c = &R->comms[R->ncomms++];
        c->kind = (mt_comm_kind)r->kind;
        c->producer = G->slot_node[r->slot];
        c->output = r->slot - G->out_off[c->producer->index];
        c->consumer = r->consumer;
        c->from = r->from;
        c->to = r->to;
        c->bytes_per_token = r->bytes;
        c->wire_per_token = r->wire;
        R->comm_per_token += r->wire;
    }
    /* an estimate, reported to the picosecond: at most 15 significant digits, so
     * every JSON writer (15 or 17 digits) round-trips the same double */
    R->comm_seconds = round(pl_comm_time(G, R->comm_per_token, (double)R->ncomms) * 1e12) / 1e12;
    R->link = G->link;
    return MT_OK;
}

/* Memory per rank: the parameters (params_memory), the KV cache at the
 * plan's placements and the activation peak. */
static mt_status memory_report(const pl_view *G, const pl_degree *D, pl_eval *E, mt_plan *R) {
    mt_ctx *ctx = G->ctx;
    const mt_graph *g = G->g;
    mt_status st = params_memory(G, D, E, R, true);
    if (st != MT_OK) return st;
    mt_plan_memory *M = &R->mem;
    /* KV cache: the sizing pass's attention layers (docs/sizing.md), each
     * cached key/value at its placement in this plan (a head-sharded one holds
     * 1/ways per rank); an MLA latent is held whole by every rank, as serving
     * engines keep it; sliding windows cap the tokens held at the bound seq */
    mt_sizing *kvs = mt_alloc(ctx, sizeof *kvs);
    mt_sizing_opts so = {.kv_dtype = MT_DTYPE_NONE, .batch = G->batch, .seq = G->seq};
    if (!kvs || mt_model_sizing_kv(G->m, g, &so, kvs) != MT_OK) return mt_ctx_status(ctx);
    double kv = 0, kv_held = 0;
    for (int i = 0; i < kvs->nattn; i++) {
        const mt_sizing_attn *a = &kvs->attn[i];
        if (a->kind != MT_ATTN_CAUSAL) continue;
        int ways = 1;
        if (!a->mla && a->key && a->key->node) {
            mt_placement pl = E->vals[G->out_off[a->key->node->index] + (int)(a->key - a->key->node->outs)].p;
            if (pl.kind == MT_PLACE_SHARD) ways = pl.ways;
        }
        double per = (double)a->cache_bytes_per_token / ways;
        kv += per;
        kv_held += per * (double)(a->window > 0 && a->window < G->seq ? a->window : G->seq);
    }
    M->kv_bytes_per_token = (int64_t)kv;
    M->kv_bytes = (int64_t)(kv_held * (double)G->batch);
    /* activations: live tensors (last use) at the bound shapes */
    pl_scratch S = {.ctx = ctx};
    int *last = pl_tmp_array(&S, (size_t)G->nslots, sizeof *last);
    double *freeat = pl_tmp_array(&S, (size_t)g->n, sizeof *freeat); /* zeroed */
    if (!last || !freeat) return pl_scratch_end(&S, mt_ctx_status(ctx));
    for (int s = 0; s < G->nslots; s++) last[s] = G->slot_node[s] ? G->slot_node[s]->index : 0;
    for (int i = 0; i < g->n; i++)
        for (int k = G->in_off[i]; k < G->in_off[i + 1]; k++)
            if (last[G->ins[k]] < i) last[G->ins[k]] = i;
    double live = 0, peak = 0;
    for (int s = 0; s < G->nslots; s++) {
        const mt_node *n = G->slot_node[s];
        if (!n || n->op == MT_NODE_GET_ATTR || n->is_tuple) continue;
        freeat[last[s]] += (double)local_bytes(G->bytes_at[s], E->vals[s].p);
    }
    for (int i = 0; i < g->n; i++) {
        const mt_node *n = g->nodes[i];
        if (n->op != MT_NODE_GET_ATTR && !n->is_tuple)
            for (int k = 0; k < n->nout; k++)
                live += (double)local_bytes(G->bytes_at[G->out_off[i] + k], E->vals[G->out_off[i] + k].p);
        if (live > peak) peak = live;
        live -= freeat[i];
    }
    M->activation_peak_bytes = (int64_t)peak;
    return pl_scratch_end(&S, MT_OK);
}

/* The plan dict: one rule per Linear/Embedding weight or fused expert weight
 * (transformers style: the sharded ones only), by pattern when every module
 * under it agrees. */
static mt_status plan_dict(const pl_view *G, const pl_degree *D, pl_eval *E, mt_plan *R) {
    mt_ctx *ctx = G->ctx;
    const mt_graph *g = G->g;
    R->rules = mt_alloc_array(ctx, (size_t)G->nvars + 1, sizeof *R->rules);
    pl_scratch S = {.ctx = ctx};
    const char **pats = pl_tmp_array(&S, (size_t)g->n, sizeof *pats);
    const char **paths = pl_tmp_array(&S, (size_t)g->n, sizeof *paths);
    const char **styles = pl_tmp_array(&S, (size_t)g->n, sizeof *styles);
    int *ways = pl_tmp_array(&S, (size_t)g->n, sizeof *ways);
    int nm = 0;
    bool *gath = pl_tmp_array(&S, (size_t)G->nslots, sizeof *gath); /* zeroed */
    const char **seen = pl_tmp_array(&S, (size_t)G->nvars + (size_t)g->n, sizeof *seen);
    pl_map seenp = {0}, bypat = {0};
    if (!R->rules || !pats || !paths || !styles || !ways || !gath || !seen ||
        !map_init(ctx, &S, &seenp, (size_t)g->n + 1) || !map_init(ctx, &S, &bypat, (size_t)G->nvars + 1))
        return pl_scratch_end(&S, mt_ctx_status(ctx));
    for (int r = 0; r < E->nrecs; r++)
        if (E->recs[r].kind == MT_COMM_ALL_GATHER) gath[E->recs[r].slot] = true;
    int nseen = 0;
    str_tab seentab = {seen}, pattab = {pats};
    for (int i = 0; i < g->n; i++) {
        int vi = G->node_var[i];
        if (vi < 0) continue;
        const mt_node *n = g->nodes[i];
        bool x3 = G->vars[vi].expert3d;
        /* a fused expert weight is named by its parameter */
        const char *path = x3 ? G->vars[vi].weight->name : n->module->path;
        seen[nseen] = path;
        if (map_get(&seenp, str_hash(path), str_eq, &seentab, path, nseen) >= 0) continue;
        nseen++;
        pl_opt o = D->vo[vi].opts[E->choice[vi]];
        bool emb = !x3 && n->module->leaf == MT_LEAF_EMBEDDING;
        bool gathered = gath[G->out_off[i]];
        const char *st;
        if (o.dim < 0) st = "replicate";
        else if (x3) st = o.dim == 0 ? "expert_parallel" : o.dim == G->vars[vi].out_dim ? (o.lay ? "packed_colwise" : "colwise") : "rowwise";
        else if (emb && o.dim == 0) st = "embedding_rowwise";
        else if (o.lay) st = gathered ? "packed_colwise_gather_output" : "packed_colwise";
        else if (o.dim == G->vars[vi].out_dim || emb) st = gathered ? "colwise_gather_output" : "colwise";
        else st = E->split_in[i] ? "rowwise_split_input" : "rowwise";
        if (o.dim < 0 && R->style == MT_PLAN_TRANSFORMERS) continue;
        paths[nm] = path;
        pats[nm] = pattern_of(ctx, path);
        styles[nm] = st;
        ways[nm] = o.ways;
        nm++;
    }
    /* one rule per pattern when every module under it agrees, else one per path */
    int *first = pl_tmp_array(&S, (size_t)nm, sizeof *first);
    bool *mixed = pl_tmp_array(&S, (size_t)nm, sizeof *mixed); /* zeroed */
    if (!first || !mixed) return pl_scratch_end(&S, mt_ctx_status(ctx));
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
    return pl_scratch_end(&S, MT_OK);
}

/* With full false (mt_plan_auto) only the per-rank bytes and the
 * communication of `best` (a whole-graph cost) are filled. */
mt_status pl_results(const pl_view *G, const pl_degree *D, pl_eval *E, mt_plan *R, bool full, pl_cost best) {
    if (!full) {
        R->comm_per_token = best.comm;
        return params_memory(G, D, E, R, false);
    }
    mt_status st = collectives_report(G, E, R);
    if (st == MT_OK) st = memory_report(G, D, E, R);
    if (st == MT_OK) st = experts_report(G, D, R);
    if (st == MT_OK) st = plan_dict(G, D, E, R);
    return st;
}

/* The degree-independent part, once per graph (mt_plan_auto shares it). */
