/* metatrace — which (tp, pp, ep, dp) layouts of a model fit a cluster, and how
 * fast each would run (include/metatrace/fit.h, docs/plan.md "Fit").
 *
 * One pass over the graph, the parameters and the stored inventory groups
 * everything by unit: the embedding side (nodes before the first layer), each
 * layer (the first ModuleList entry on a node's stack, as the sizing pass
 * reads layers), the head side (the rest). Per unit: dense FLOPs at the bound
 * shapes, active weight elements, stored bytes split into tensor-parallel
 * shards (>= 2-D outside routed experts), replicated (1-D) and routed
 * experts, and the cached KV of its attention layers. A layout is then a sum
 * over the units of its stages, divided by its degrees: no layout traces,
 * plans or sizes anything again. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <metatrace/fit.h>

#include "plan_internal.h"

/* ---- a pointer -> int map (open addressing, in the arena) ------------------- */
typedef struct pmap {
    const void **keys;
    int *vals;
    size_t mask;
} pmap;

static bool pmap_init(mt_ctx *ctx, pmap *m, size_t n) {
    size_t cap = 16;
    while (cap < 2 * n + 16) cap <<= 1;
    m->keys = mt_alloc_array(ctx, cap, sizeof *m->keys);
    m->vals = mt_alloc_array(ctx, cap, sizeof *m->vals);
    m->mask = cap - 1;
    if (!m->keys || !m->vals) return false;
    memset(m->keys, 0, cap * sizeof *m->keys);
    return true;
}

static size_t phash(const void *p) { return (size_t)(((uint64_t)(uintptr_t)p * 0x9e3779b97f4a7c15ULL) >> 17); }

/* The value of key (or -1); with `add` >= 0, inserts add when absent. */
static int pmap_get(pmap *m, const void *key, int add) {
    size_t i = phash(key) & m->mask;
    while (m->keys[i]) {
        if (m->keys[i] == key) return m->vals[i];
        i = (i + 1) & m->mask;
    }
    if (add < 0) return -1;
    m->keys[i] = key;
    m->vals[i] = add;
    return add;
}

/* ---- units --------------------------------------------------------------------- */
typedef struct vocab_t {     /* a >= 2-D tensor on the embedding or head side */
    int64_t dim0, bytes;
    bool tied;               /* the head's copy of a tied embedding (only when stages differ) */
} vocab_t;

typedef struct unit {
    double flops;            /* dense node FLOPs at the bound shapes */
    double active;           /* weight elements a token multiplies (experts x top_k / E) */
    int64_t w_shard, w_rep, w_exp;
    vocab_t *vocab;          /* embedding / head side: divisibility decides */
    int nvocab, capvocab;
    int full_attn;           /* causal layers without a window (the decode per-cached share) */
    bool moe;
    mt_vec mods;             /* mt_module*: what a pipeline stage holding the unit holds: the
                                layer, or the embedding/head side's modules with parameters or
                                buffers */
} unit;

typedef struct kv_t {
    int unit;
    int64_t bytes;           /* per token cached, whole */
    int64_t window;          /* 0: full */
    int64_t div;             /* heads that tp may split (1: MLA latent, on every rank) */
} kv_t;

/* A recurrent mixer's fixed state per sequence, split by min(tp, div) (heads or channels). */
typedef struct state_t {
    int unit;
    int64_t bytes;
    int64_t div;
} state_t;

typedef struct fx {
    mt_ctx *ctx;
    mt_model *m;
    const mt_graph *g;
    mt_sizing sz;
    const pl_limits *lim;
    mt_fit_params P;
    const mt_cluster *C;
    int nlayers, nunits;     /* units: 0 pre, 1..nlayers layers, nlayers+1 post */
    unit *u;
    kv_t *kv;
    int nkv;
    state_t *st;             /* recurrent mixers: conv and SSM state, one entry each */
    int nst;
    int experts, top_k;
    int64_t hidden, act_size;
    int64_t B, S;
    double pf_ratio;         /* causal prefill / dense FLOPs */
    double active_total;
    int full_attn_total;
    int64_t max_pos;
    double peak;             /* FLOP/s of one GPU for this model's weights */
    int **splits;            /* per pp (1..nlayers): layer counts, computed on demand */
    int M;                   /* micro-batches asked for */
} fx;

static bool is_index(const char *nm) { return nm && *nm >= '0' && *nm <= '9'; }

/* The first ModuleList entry on a node's stack (the sizing pass's layers). */
static const mt_module *layer_of(const mt_node *n) {
    for (int d = 0; n->stack && d < n->stack->depth; d++)
        if (is_index(n->stack->mods[d]->name)) return n->stack->mods[d];
    return NULL;
}

static bool add_vocab(fx *F, unit *u, int64_t dim0, int64_t bytes, bool tied) {
    if (u->nvocab == u->capvocab) {
        int cap = u->capvocab ? 2 * u->capvocab : 8;
        vocab_t *v = mt_alloc_array(F->ctx, (size_t)cap, sizeof *v);
        if (!v) return false;
        if (u->nvocab) memcpy(v, u->vocab, (size_t)u->nvocab * sizeof *v);
        u->vocab = v;
        u->capvocab = cap;
    }
    u->vocab[u->nvocab++] = (vocab_t){dim0, bytes, tied};
    return true;
}

/* Records that the unit holds module `mod` (once). */
static bool add_mod(fx *F, unit *u, const mt_module *mod) {
    if (!mod || !mod->path || !*mod->path) return true;
    for (int k = 0; k < u->mods.n; k++)
        if (u->mods.items[k] == mod) return true;
    return mt_vec_push(F->ctx, &u->mods, (void *)mod);
}

/* The module a pipeline stage moves for a parameter outside the layers: its
 * ancestor whose parent is the layers' ModuleList's parent or one of that
 * one's ancestors ("model.embed_tokens", "model.norm", "lm_head"; under a
 * vision-language wrapper "language_model.lm_head", "vision_tower"). `beside`
 * is the ModuleList's parent (NULL: the root's children). */
static bool on_chain(const mt_module *x, const mt_module *beside) {
    for (const mt_module *b = beside; b; b = b->parent)
        if (b == x) return true;
    return !x->parent; /* the root */
}

static const mt_module *stage_module(const mt_module *owner, const mt_module *beside) {
    const mt_module *a = owner;
    while (a && a->parent && !on_chain(a->parent, beside)) a = a->parent;
    return a;
}

static int64_t param_numel(const mt_param *p) {
    int64_t n = 1;
    for (int d = 0; d < p->t->ndim; d++) {
        const mt_sym *s = p->t->shape[d];
        if (!mt_sym_is_const(s)) return 0;
        n *= mt_sym_const_value(s);
    }
    return n;
}

/* Where a parameter lives: its unit, and whether it belongs to a routed expert
 * (a ModuleList entry inside its layer); *experts gets that list's length. */
static int param_unit(fx *F, pmap *layers, pmap *mods, const mt_param *p, bool *expert, int *experts) {
    *expert = false;
    const mt_module *inner = NULL;
    for (const mt_module *mm = p->owner; mm; mm = mm->parent) {
        int li = pmap_get(layers, mm, -1);
        if (li >= 0) {
            if (inner) {
                *expert = true;
                *experts = inner->parent ? inner->parent->children.n : 0;
            }
            return li + 1;
        }
        if (is_index(mm->name)) inner = mm;
    }
    int u = pmap_get(mods, p->owner, -1);
    return u >= 0 ? u : F->nlayers + 1;
}

static mt_status gather(fx *F) {
    mt_ctx *ctx = F->ctx;
    const mt_graph *g = F->g;
    mt_model *m = F->m;
    pmap layers, mods;
    /* every key comes from a node: g->n bounds both maps (never full) */
    if (!pmap_init(ctx, &layers, (size_t)g->n) || !pmap_init(ctx, &mods, (size_t)g->n)) return mt_ctx_status(ctx);
    int *node_unit = mt_alloc_array(ctx, (size_t)g->n + 1, sizeof *node_unit);
    if (!node_unit) return mt_ctx_status(ctx);
    /* A vision-language model's tower (its layers fed by pixel_values) runs with
     * the embedding on the first stage: only the decoder's layers - the
     * ModuleList of the last layer in graph order - are the stages' layers. */
    const mt_module *decoder = NULL;
    bool vision = false;
    for (int i = 0; i < g->n && !vision; i++)
        vision = g->nodes[i]->op == MT_NODE_PLACEHOLDER && strcmp(g->nodes[i]->name, "pixel_values") == 0;
    for (int i = g->n - 1; i >= 0 && vision && !decoder; i--) {
        const mt_module *L = layer_of(g->nodes[i]);
        if (L) decoder = L->parent;
    }
    const mt_modstack *last_stack = NULL;
    int last_unit = 0, nl = 0;
    bool seen = false;
    for (int i = 0; i < g->n; i++) {
        const mt_node *n = g->nodes[i];
        int u;
        if (n->stack && n->stack == last_stack) {
            u = last_unit;
        } else {
            const mt_module *L = layer_of(n);
            if (L && decoder && L->parent != decoder) L = NULL;
            if (L) {
                int li = pmap_get(&layers, L, -1);
                if (li < 0) li = pmap_get(&layers, L, nl++); /* layers in order of first appearance */
                u = li + 1;
                seen = true;
            } else {
                u = seen ? -2 : 0; /* -2: the head side, resolved once the layers are counted */
            }
            last_stack = n->stack;
            last_unit = u;
        }
        node_unit[i] = u;
    }
    F->nlayers = nl;
    F->nunits = nl + 2;
    F->u = mt_alloc_array(ctx, (size_t)F->nunits, sizeof *F->u);
    if (!F->u) return mt_ctx_status(ctx);
    memset(F->u, 0, (size_t)F->nunits * sizeof *F->u);
    double dense = 0;
    const mt_module *beside = NULL; /* the layers' ModuleList's parent */
    for (int i = 0; i < g->n; i++) {
        if (node_unit[i] == -2) node_unit[i] = nl + 1;
        const mt_node *n = g->nodes[i];
        if (node_unit[i] >= 1 && node_unit[i] <= nl && F->u[node_unit[i]].mods.n == 0) {
            const mt_module *L = layer_of(n);
            if (!beside && L->parent) beside = L->parent->parent;
            if (!add_mod(F, &F->u[node_unit[i]], L)) return mt_ctx_status(ctx);
        }
        double fl = F->sz.node_flops ? F->sz.node_flops[i] : 0;
        F->u[node_unit[i]].flops += fl;
        dense += fl;
        if (n->op == MT_NODE_CALL_MODULE && n->module) pmap_get(&mods, n->module, node_unit[i]);
        if (n->op == MT_NODE_GET_ATTR && n->param) pmap_get(&mods, n->param->owner, node_unit[i]);
        /* routed experts per token: the largest k of the routers' topk (DeepSeek's
         * group selection takes topk of 2 and 4 before its top 8) */
        if (n->opid == MT_OP_TOPK && node_unit[i] >= 1 && node_unit[i] <= nl) {
            int64_t k = 0;
            if (mt__node_int(n, "k", &k) && k > F->top_k) F->top_k = (int)k;
        }
    }
    F->pf_ratio = dense > 0 ? (double)F->sz.flops_prefill / dense : 1;
    /* parameters: active elements, expert layers, the hidden size */
    pmap params;
    if (!pmap_init(ctx, &params, (size_t)m->params.n + 16)) return mt_ctx_status(ctx);
    for (int i = 0; i < m->params.n; i++) {
        const mt_param *p = m->params.items[i];
        if (p->tied_to) continue;
        bool ex;
        int E = 0;
        int u = param_unit(F, &layers, &mods, p, &ex, &E);
        pmap_get(&params, p, u * 2 + (ex ? 1 : 0));
        if ((u == 0 || u == nl + 1) && !add_mod(F, &F->u[u], stage_module(p->owner, beside)))
            return mt_ctx_status(ctx);
        if (ex) {
            if (E > F->experts) F->experts = E;
            F->u[u].moe = true;
        }
        int64_t n = param_numel(p);
        if (p->owner && p->owner->leaf == MT_LEAF_EMBEDDING) {
            if (!F->hidden && p->t->ndim == 2 && mt_sym_is_const(p->t->shape[1]))
                F->hidden = mt_sym_const_value(p->t->shape[1]);
            continue; /* a lookup multiplies nothing */
        }
        F->u[u].active += ex ? 0 : (double)n;
    }
    /* experts are active top_k / E of the time */
    for (int i = 0; i < m->params.n; i++) {
        const mt_param *p = m->params.items[i];
        if (p->tied_to) continue;
        int v = pmap_get(&params, p, -1);
        if (v >= 0 && (v & 1) && F->experts > 0)
            F->u[v / 2].active += (double)param_numel(p) * (F->top_k > 0 ? F->top_k : 1) / F->experts;
    }
    for (int i = 0; i < F->nunits; i++) F->active_total += F->u[i].active;
    /* stored bytes (quantized as the checkpoint stores them) */
    const mt_quant_inventory *inv = &F->sz.weights;
    for (int i = 0; i < inv->n; i++) {
        const mt_stored_tensor *t = &inv->tensors[i];
        int v = t->param ? pmap_get(&params, t->param, -1) : -1;
        int u = v >= 0 ? v / 2 : nl + 1;
        unit *U = &F->u[u];
        if (v >= 0 && (v & 1))
            U->w_exp += t->bytes;
        else if (t->ndim <= 1)
            U->w_rep += t->bytes;
        else if (u == 0 || u == nl + 1) {
            if (!add_vocab(F, U, t->shape[0], t->bytes, false)) return mt_ctx_status(ctx);
        } else
            U->w_shard += t->bytes;
    }
    /* a tied head reads the embedding: a stage of its own needs a copy */
    for (int i = 0; i < m->params.n; i++) {
        const mt_param *p = m->params.items[i];
        if (!p->tied_to) continue;
        bool ex;
        int E;
        int ua = param_unit(F, &layers, &mods, p, &ex, &E);
        if ((ua == 0 || ua == nl + 1) && !add_mod(F, &F->u[ua], stage_module(p->owner, beside)))
            return mt_ctx_status(ctx);
        int vt = pmap_get(&params, p->tied_to, -1);
        if (vt < 0 || vt / 2 == ua) continue;
        for (int k = 0; k < inv->n; k++)
            if (inv->tensors[k].param == p->tied_to) {
                const mt_stored_tensor *t = &inv->tensors[k];
                if (!add_vocab(F, &F->u[ua], t->ndim >= 1 ? t->shape[0] : 1, t->bytes, true))
                    return mt_ctx_status(ctx);
            }
    }
    /* attention layers */
    if (F->sz.has_kv) {
        F->kv = mt_alloc_array(ctx, (size_t)F->sz.nattn + 1, sizeof *F->kv);
        if (!F->kv) return mt_ctx_status(ctx);
        for (int i = 0; i < F->sz.nattn; i++) {
            const mt_sizing_attn *a = &F->sz.attn[i];
            if (a->kind != MT_ATTN_CAUSAL) continue;
            int u = node_unit[a->core->index];
            int64_t div = a->mla ? 1 : (a->kv_heads > 0 ? a->kv_heads : 1);
            F->kv[F->nkv++] = (kv_t){u, a->cache_bytes_per_token, a->window, div};
            if (a->window <= 0) {
                F->u[u].full_attn++;
                F->full_attn_total++;
            }
        }
    }
    /* recurrent mixers (the sizing pass's recurrent state): each one's layer, found up its
     * module path; the conv state split by its channels, the SSM state by its heads */
    mt__state_mixer *mx = NULL;
    int nmx = mt__state_mixers(ctx, m, &mx);
    if (nmx < 0) return mt_ctx_status(ctx);
    if (nmx > 0) {
        F->st = mt_alloc_array(ctx, (size_t)nmx * 2, sizeof *F->st);
        if (!F->st) return mt_ctx_status(ctx);
    }
    for (int i = 0; i < nmx; i++) {
        int u = -1;
        for (const mt_module *a = mx[i].mixer; a && u < 0; a = a->parent) {
            int li = pmap_get(&layers, a, -1);
            if (li >= 0) u = li + 1;
        }
        if (u < 0) u = 0; /* outside the layers: with the embedding */
        if (mx[i].conv_bytes > 0) F->st[F->nst++] = (state_t){u, mx[i].conv_bytes, mx[i].conv_channels};
        if (mx[i].ssm_bytes > 0) F->st[F->nst++] = (state_t){u, mx[i].ssm_bytes, mx[i].heads};
    }
    if (!F->hidden) {
        int ninfo;
        const mt_kwarg *info = mt__model_infos(m, &ninfo);
        for (int i = 0; i < ninfo; i++)
            if ((strcmp(info[i].name, "hidden_size") == 0 || strcmp(info[i].name, "n_embd") == 0 ||
                 strcmp(info[i].name, "d_model") == 0) &&
                info[i].value.kind == MT_ARG_INT)
                F->hidden = info[i].value.v.i;
    }
    if (!F->max_pos) F->max_pos = mt__model_max_positions(m, NULL, NULL);
    return MT_OK;
}

/* ---- pipeline splits ------------------------------------------------------------ */
mt_status mt_fit_split(mt_ctx *ctx, const double *cost, int n, double pre, double post, int pp, int *out) {
    if (!ctx || !out || pp < 1 || (n > 0 && !cost)) return MT_ERR_USAGE;
    if (pp > (n > 0 ? n : 1))
        return mt_fail(ctx, MT_ERR_USAGE, "%d pipeline stages for %d layers: at most one stage per layer", pp, n);
    if (pp == 1) {
        out[0] = n;
        return MT_OK;
    }
    double *pre_sum = mt_alloc_array(ctx, (size_t)n + 1, sizeof *pre_sum);
    if (!pre_sum) return mt_ctx_status(ctx);
    pre_sum[0] = 0;
    for (int i = 0; i < n; i++) pre_sum[i + 1] = pre_sum[i] + cost[i];
    double best_max = INFINITY, best_gap = INFINITY;
    int bf = -1, bm = 0;
    /* first f layers, pp-2 stages of m, last l = n - f - (pp-2)m >= 1 */
    for (int m = pp == 2 ? 0 : 1; m <= (pp == 2 ? 0 : n); m++) {
        int mid = (pp - 2) * m;
        if (mid > n - 2) break;
        for (int f = n - mid - 1; f >= 1; f--) {
            int l = n - mid - f;
            double first = pre + pre_sum[f], last = post + pre_sum[n] - pre_sum[n - l];
            double hi = first > last ? first : last, lo = first < last ? first : last;
            for (int s = 0; s < pp - 2; s++) {
                int a = f + s * m;
                double c = pre_sum[a + m] - pre_sum[a];
                if (c > hi) hi = c;
                if (c < lo) lo = c;
            }
            /* ties within a part in 10^9 of the heaviest are ties */
            double eps = 1e-9 * (hi > 0 ? hi : 1);
            if (hi < best_max - eps || (hi <= best_max + eps && hi - lo < best_gap - eps)) {
                best_max = hi;
                best_gap = hi - lo;
                bf = f;
                bm = m;
            }
        }
    }
    if (bf < 0) return mt_fail(ctx, MT_ERR_INTERNAL, "no pipeline split of %d layers into %d stages", n, pp);
    out[0] = bf;
    for (int s = 1; s < pp - 1; s++) out[s] = bm;
    out[pp - 1] = n - bf - (pp - 2) * bm;
    return MT_OK;
}

static const int *split_for(fx *F, int pp) {
    if (!F->splits[pp]) {
        double *cost = mt_alloc_array(F->ctx, (size_t)F->nlayers + 1, sizeof *cost);
        int *out = mt_alloc_array(F->ctx, (size_t)pp, sizeof *out);
        if (!cost || !out) return NULL;
        for (int i = 0; i < F->nlayers; i++) cost[i] = F->u[i + 1].flops;
        if (mt_fit_split(F->ctx, cost, F->nlayers, F->u[0].flops, F->u[F->nlayers + 1].flops, pp, out) != MT_OK)
            return NULL;
        F->splits[pp] = out;
    }
    return F->splits[pp];
}

/* ---- one layout ------------------------------------------------------------------ */
static double ceil_div(int64_t a, int64_t b) { return (double)((a + b - 1) / b); }

static bool crosses(int ranks_per_stage, int boundary, int gpn) {
    if (ranks_per_stage >= gpn) return true;
    int64_t r = (int64_t)boundary * ranks_per_stage; /* first rank of the next stage */
    return (r - 1) / gpn != r / gpn;
}

static const char *flags(fx *F, const mt_fit_row *r, const int *split, int which) {
    mt_ctx *ctx = F->ctx;
    int tp = r->tp, pp = r->pp, ep = r->ep, dp = r->dp;
    const char *len = r->max_model_len > 0 ? mt_sprintf(ctx, "%lld", (long long)r->max_model_len) : NULL;
    if (which == 0) { /* vLLM: expert parallelism spans TP x DP */
        if (ep > 1 && ep != tp * dp) return NULL;
        return mt_sprintf(ctx, "vllm serve MODEL --tensor-parallel-size %d --pipeline-parallel-size %d%s%s%s%s", tp,
                          pp, dp > 1 ? mt_sprintf(ctx, " --data-parallel-size %d", dp) : "",
                          ep > 1 ? " --enable-expert-parallel" : "", len ? " --max-model-len " : "", len ? len : "");
    }
    if (which == 1) { /* SGLang: --ep-size inside the TP group; attention DP to span replicas */
        const char *par;
        if (ep == 1)
            par = mt_sprintf(ctx, "--tp-size %d --pp-size %d%s", tp, pp,
                             dp > 1 ? mt_sprintf(ctx, " --dp-size %d", dp) : "");
        else if (ep == tp && dp == 1)
            par = mt_sprintf(ctx, "--tp-size %d --pp-size %d --ep-size %d", tp, pp, ep);
        else if (ep == tp * dp)
            par = mt_sprintf(ctx, "--tp-size %d --pp-size %d --dp-size %d --enable-dp-attention --ep-size %d", tp * dp,
                             pp, dp, ep);
        else
            return NULL;
        return mt_sprintf(ctx, "python -m sglang.launch_server --model-path MODEL %s%s%s", par,
                          len ? " --context-length " : "", len ? len : "");
    }
    /* Megatron-LM: uneven first/last stages; data parallelism is what is left */
    bool even = true;
    for (int s = 1; s < pp; s++) even = even && split[s] == split[0];
    return mt_sprintf(ctx, "--tensor-model-parallel-size %d --pipeline-model-parallel-size %d%s%s", tp, pp,
                      ep > 1 ? mt_sprintf(ctx, " --expert-model-parallel-size %d --expert-tensor-parallel-size 1", ep)
                             : "",
                      even ? ""
                           : mt_sprintf(ctx, " --decoder-first-pipeline-num-layers %d --decoder-last-pipeline-num-layers %d",
                                        split[0], split[pp - 1]));
}

static const char *human(mt_ctx *ctx, double b) {
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    int i = 0;
    while (b >= 1024 && i < 5) {
        b /= 1024;
        i++;
    }
    return i ? mt_sprintf(ctx, "%.2f %s", b, units[i]) : mt_sprintf(ctx, "%.0f B", b);
}

/* A stage's modules: its units' in order. */
static bool stage_modules(fx *F, mt_fit_stage *st, int u0, int u1) {
    int n = 0;
    for (int u = u0; u <= u1; u++) n += F->u[u].mods.n;
    st->modules = mt_alloc_array(F->ctx, (size_t)n + 1, sizeof *st->modules);
    if (!st->modules) return false;
    for (int u = u0; u <= u1; u++)
        for (int k = 0; k < F->u[u].mods.n; k++)
            st->modules[st->nmodules++] = ((const mt_module *)F->u[u].mods.items[k])->path;
    return true;
}

/* mb micro-batches through pp stages taking t[s] each (c[s] of it in
 * collectives), then h[s] to hand the activations to the next stage: the first
 * passes every stage, each further one adds the slowest stage's time. The
 * bubble is the share of pp x step the stages idle. */
static void pipeline(const double *t, const double *c, const double *h, int pp, int mb, double *step, double *comm,
                     double *bubble) {
    double sum = 0, csum = 0, hi = 0, chi = 0;
    for (int s = 0; s < pp; s++) {
        sum += t[s];
        sum += h[s];
        csum += c[s];
        csum += h[s];
        if (t[s] + h[s] > hi) hi = t[s] + h[s], chi = c[s] + h[s];
    }
    *step = sum + (mb - 1) * hi;
    *comm = csum + (mb - 1) * chi;
    *bubble = *step > 0 ? 1 - (double)mb * sum / ((double)pp * *step) : 0;
}

/* ", recurrent state X" for a stage holding recurrent mixers, else "". */
static const char *state_str(mt_ctx *ctx, const mt_fit_stage *s) {
    return s->state_bytes ? mt_sprintf(ctx, ", recurrent state %s", human(ctx, (double)s->state_bytes)) : "";
}

static mt_status layout(fx *F, int tp, int pp, int ep, int dp, mt_fit_row *r) {
    mt_ctx *ctx = F->ctx;
    const mt_gpu_spec *G = &F->C->gpu;
    const mt_fit_params *P = &F->P;
    int gpn = F->C->gpus_per_node;
    const int *split = split_for(F, pp);
    if (!split) return mt_ctx_status(ctx);
    memset(r, 0, sizeof *r);
    r->tp = tp, r->pp = pp, r->ep = ep, r->dp = dp;
    r->nstages = pp;
    r->stages = mt_alloc_array(ctx, (size_t)pp, sizeof *r->stages);
    if (!r->stages) return mt_ctx_status(ctx);
    double usable = (double)G->mem_bytes * P->mem_utilization;
    int64_t b = (int64_t)ceil_div(F->B, dp); /* sequences per replica */
    /* micro-batches of bm sequences go through the stages one after another
     * (without stages, splitting the batch would only repeat the weight reads) */
    int mb = pp == 1 ? 1 : F->M < b ? F->M : (int)b;
    int64_t bm = (int64_t)ceil_div(b, mb);
    r->microbatches = mb;
    double share = (double)bm / (double)F->B, kv_part = (double)bm / (double)b;
    double Tp = (double)bm * (double)F->S, Td = (double)bm;
    double a = (double)F->act_size, H = (double)F->hidden;
    double intra_b = G->intra_bw * P->link_efficiency, inter_b = G->inter_bw * P->link_efficiency;
    bool ep_inter = ep > gpn;
    double ep_beta = ep_inter ? inter_b : intra_b, ep_alpha = ep_inter ? G->inter_lat : G->intra_lat;
    double kfrac = F->experts > 0 ? (double)(F->top_k > 0 ? F->top_k : 1) / F->experts : 0;
    double group_tokens = Td * (ep > tp ? (double)ep / tp : 1);
    double touched = F->experts > 0 ? 1 - pow(1 - kfrac, group_tokens) : 1;
    bool decode = F->sz.has_kv && F->sz.flops_decode_per_token >= 0;
    double dec_fixed = (double)F->sz.flops_decode_fixed, dec_cache = (double)F->sz.flops_decode_per_cached * F->S;
    int64_t kv_cap = -1;
    int first = 0;
    r->rank_bytes = -1;
    /* per stage, one micro-batch through it and on to the next: all of it and the collectives */
    double *T_pf = mt_alloc_array(ctx, (size_t)pp * 6, sizeof *T_pf);
    if (!T_pf) return mt_ctx_status(ctx);
    memset(T_pf, 0, (size_t)pp * 6 * sizeof *T_pf);
    double *T_dec = T_pf + pp, *C_pf = T_pf + 2 * pp, *C_dec = T_pf + 3 * pp, *H_pf = T_pf + 4 * pp,
           *H_dec = T_pf + 5 * pp;
    for (int s = 0; s < pp; s++) {
        mt_fit_stage *st = &r->stages[s];
        st->first_layer = first;
        st->nlayers = split[s];
        st->embedding = s == 0;
        st->head = s == pp - 1;
        double w_plain = 0, w_exp = 0, flops_pf = 0, flops_dec = 0, comm_pf = 0, comm_dec = 0;
        int u0 = s == 0 ? 0 : first + 1, u1 = s == pp - 1 ? F->nlayers + 1 : first + split[s];
        for (int u = u0; u <= u1; u++) {
            const unit *U = &F->u[u];
            w_plain += (double)U->w_rep + (double)U->w_shard / tp;
            for (int k = 0; k < U->nvocab; k++) {
                if (U->vocab[k].tied && pp == 1) continue;
                w_plain += U->vocab[k].dim0 % tp == 0 ? (double)U->vocab[k].bytes / tp : (double)U->vocab[k].bytes;
            }
            w_exp += (double)U->w_exp / (ep > 1 ? ep : tp);
            flops_pf += U->flops * F->pf_ratio * share;
            if (decode)
                flops_dec += (dec_fixed * (F->active_total > 0 ? U->active / F->active_total : 0) +
                              (F->full_attn_total > 0 ? dec_cache * U->full_attn / F->full_attn_total : 0)) *
                             (double)bm;
            if (u >= 1 && u <= F->nlayers) {
                /* Megatron's layer: an all-reduce after attention and one after the MLP */
                comm_pf += 2 * mt_collective_seconds(MT_COMM_ALL_REDUCE, tp, Tp * H * a, G->intra_lat, intra_b);
                comm_dec += 2 * mt_collective_seconds(MT_COMM_ALL_REDUCE, tp, Td * H * a, G->intra_lat, intra_b);
                if (U->moe && ep > 1) { /* dispatch and combine of the routed copies */
                    double k = F->top_k > 0 ? F->top_k : 1;
                    comm_pf += 2 * mt_collective_seconds(MT_COMM_ALL_TO_ALL, ep, Tp / tp * k * H * a, ep_alpha, ep_beta);
                    comm_dec += 2 * mt_collective_seconds(MT_COMM_ALL_TO_ALL, ep, Td / tp * k * H * a, ep_alpha, ep_beta);
                }
            }
        }
        double kv_tok = 0, kv_budget = 0;
        for (int k = 0; k < F->nkv; k++) {
            const kv_t *e = &F->kv[k];
            if (e->unit < u0 || e->unit > u1) continue;
            double per = (double)e->bytes / (double)(tp < e->div ? tp : e->div);
            kv_tok += per;
            int64_t toks = e->window > 0 && e->window < F->S ? e->window : F->S;
            kv_budget += per * (double)toks * (double)b;
        }
        /* the recurrent state of the replica's sequences, held whatever their length */
        double state = 0;
        for (int k = 0; k < F->nst; k++) {
            const state_t *e = &F->st[k];
            if (e->unit >= u0 && e->unit <= u1) state += (double)e->bytes / (double)(tp < e->div ? tp : e->div) * (double)b;
        }
        double act = (double)F->sz.activation_peak * share / tp; /* one micro-batch at a time */
        st->weight_bytes = (int64_t)ceil(w_plain + w_exp);
        st->kv_bytes = (int64_t)ceil(kv_budget);
        st->activation_bytes = (int64_t)ceil(act);
        st->state_bytes = (int64_t)ceil(state);
        st->total_bytes = st->weight_bytes + st->kv_bytes + st->activation_bytes + st->state_bytes;
        st->kv_bytes_per_token = (int64_t)ceil(kv_tok);
        if (st->total_bytes > r->rank_bytes) {
            r->rank_bytes = st->total_bytes;
            r->heaviest = s;
        }
        if (kv_tok > 0) {
            double free_b = usable - (double)st->weight_bytes - (double)st->activation_bytes - (double)st->state_bytes;
            int64_t t = free_b > 0 ? (int64_t)floor(free_b / kv_tok) : 0;
            if (kv_cap < 0 || t < kv_cap) kv_cap = t;
        }
        /* time: the compute or the memory traffic, whichever is longer, then the collectives */
        double eff_flops = F->peak * P->compute_efficiency, eff_bw = G->mem_bw * P->memory_efficiency;
        double t_pf = fmax(flops_pf / tp / eff_flops, (w_plain + w_exp) / eff_bw);
        double t_dec = decode ? fmax(flops_dec / tp / eff_flops,
                                     (w_plain + w_exp * touched + kv_budget * kv_part) / eff_bw)
                              : 0;
        st->prefill_s = t_pf + comm_pf;
        st->decode_s = decode ? t_dec + comm_dec : 0;
        T_pf[s] = st->prefill_s, C_pf[s] = comm_pf;
        T_dec[s] = st->decode_s, C_dec[s] = decode ? comm_dec : 0;
        if (s + 1 < pp) { /* the activations cross to the next stage */
            bool x = crosses(tp * dp, s + 1, gpn);
            double al = x ? G->inter_lat : G->intra_lat, be = x ? inter_b : intra_b;
            double p_pf = al + Tp * H * a / be, p_dec = al + Td * H * a / be;
            H_pf[s] = p_pf;
            if (decode) H_dec[s] = p_dec;
        }
        if (!stage_modules(F, st, u0, u1)) return mt_ctx_status(ctx);
        first += split[s];
    }
    /* the step: the first micro-batch through every stage, then one more per
     * time of the slowest stage (GPipe's forward schedule) */
    pipeline(T_pf, C_pf, H_pf, pp, mb, &r->prefill_s, &r->comm_prefill_s, &r->prefill_bubble);
    if (decode) pipeline(T_dec, C_dec, H_dec, pp, mb, &r->decode_s, &r->comm_decode_s, &r->decode_bubble);
    r->fits = (double)r->rank_bytes <= usable;
    r->kv_tokens = F->nkv > 0 ? kv_cap : -1;
    double tokens = (double)F->B * (double)F->S;
    r->prefill_per_token_s = r->prefill_s / tokens;
    r->decode_per_token_s = decode ? r->decode_s / (double)F->B : 0;
    if (!r->fits) {
        const mt_fit_stage *h = &r->stages[r->heaviest];
        r->reason = mt_sprintf(ctx, "%s needs %s (weights %s, KV %s, activations %s%s), a GPU has %s usable",
                               pp > 1 ? mt_sprintf(ctx, "a rank of stage %d", r->heaviest) : "each rank", human(ctx, (double)h->total_bytes),
                               human(ctx, (double)h->weight_bytes), human(ctx, (double)h->kv_bytes),
                               human(ctx, (double)h->activation_bytes), state_str(ctx, h), human(ctx, usable));
        r->kv_tokens_left = 0;
        return MT_OK;
    }
    r->kv_tokens_left = r->kv_tokens >= 0 ? r->kv_tokens - b * F->S : -1;
    if (r->kv_tokens_left < 0 && r->kv_tokens >= 0) {
        /* windows cap the budget below seq tokens; the window-agnostic capacity is conservative */
        r->kv_tokens_left = 0;
    }
    r->max_model_len = r->kv_tokens >= 0 ? (F->max_pos > 0 && F->max_pos < r->kv_tokens ? F->max_pos : r->kv_tokens) : 0;
    r->vllm = flags(F, r, split, 0);
    r->sglang = flags(F, r, split, 1);
    r->megatron = flags(F, r, split, 2);
    return MT_OK;
}

static int row_cmp(const void *pa, const void *pb) {
    const mt_fit_row *a = pa, *b = pb;
    if (a->fits != b->fits) return a->fits ? -1 : 1;
    if (a->fits) {
        if (a->decode_per_token_s != b->decode_per_token_s) return a->decode_per_token_s < b->decode_per_token_s ? -1 : 1;
        if (a->prefill_per_token_s != b->prefill_per_token_s)
            return a->prefill_per_token_s < b->prefill_per_token_s ? -1 : 1;
    } else if (a->rank_bytes != b->rank_bytes) {
        return a->rank_bytes < b->rank_bytes ? -1 : 1;
    }
    if (a->tp != b->tp) return a->tp < b->tp ? -1 : 1;
    if (a->pp != b->pp) return a->pp < b->pp ? -1 : 1;
    if (a->ep != b->ep) return a->ep < b->ep ? -1 : 1;
    return a->dp < b->dp ? -1 : a->dp > b->dp;
}

mt_fit *mt_fit_run(mt_model *m, const mt_graph *g, const mt_fit_opts *o) {
    if (!m || !g || !o || !o->cluster) {
        if (m) mt_fail(m->ctx, MT_ERR_USAGE, "mt_fit_run: a model, a graph and a cluster are needed");
        return NULL;
    }
    mt_ctx *ctx = m->ctx;
    fx F;
    memset(&F, 0, sizeof F);
    F.ctx = ctx;
    F.m = m;
    F.g = g;
    F.C = o->cluster;
    F.P = o->params ? *o->params : mt_fit_default_params();
    if (F.C->nodes < 1 || F.C->gpus_per_node < 1) {
        mt_fail(ctx, MT_ERR_USAGE, "cluster '%s': no GPUs", F.C->name ? F.C->name : "?");
        return NULL;
    }
    F.B = o->batch > 0 ? o->batch : 1;
    if (o->microbatches < 0) {
        mt_fail(ctx, MT_ERR_USAGE, "mt_fit_run: %d micro-batches: expected a count >= 1 (0: 1)", o->microbatches);
        return NULL;
    }
    F.M = o->microbatches > 0 ? o->microbatches : 1;
    F.S = o->seq > 0 ? o->seq : (F.P.default_seq > 0 ? F.P.default_seq : 4096);
    mt_sizing_opts so = o->sizing ? *o->sizing : (mt_sizing_opts){.kv_dtype = MT_DTYPE_NONE};
    so.batch = F.B;
    so.seq = F.S;
    so.context = F.S;
    so.mem_budget = 0;
    if (mt_model_sizing(m, g, &so, &F.sz) != MT_OK) return NULL;
    F.act_size = (int64_t)mt_dtype_size(m->dtype);
    F.lim = pl_limits_new(m, g);
    if (!F.lim || gather(&F) != MT_OK) return NULL;
    bool fp8 = F.sz.weights.method && strcmp(F.sz.weights.method, "fp8") == 0 && F.C->gpu.fp8_flops > 0;
    F.peak = fp8 ? F.C->gpu.fp8_flops : F.C->gpu.bf16_flops;
    int N = F.C->nodes * F.C->gpus_per_node, gpn = F.C->gpus_per_node;
    int maxpp = F.nlayers > 0 ? F.nlayers : 1;
    F.splits = mt_alloc_array(ctx, (size_t)maxpp + 1, sizeof *F.splits);
    if (!F.splits) return NULL;
    memset(F.splits, 0, ((size_t)maxpp + 1) * sizeof *F.splits);

    mt_fit *R = mt_alloc(ctx, sizeof *R);
    if (!R) return NULL;
    memset(R, 0, sizeof *R);
    R->cluster = *F.C;
    R->params = F.P;
    R->model = m;
    R->batch = F.B;
    R->seq = F.S;
    R->gpus = N;
    R->layers = F.nlayers;
    R->experts = F.experts;
    R->top_k = F.experts ? F.top_k : 0;
    R->weight_bytes = F.sz.weight_bytes;
    R->activation_bytes = F.sz.activation_peak;
    for (int k = 0; k < F.nst; k++) R->state_bytes += F.st[k].bytes * F.B;
    R->compute_dtype = fp8 ? "fp8" : "bf16";
    R->microbatches = F.M;
    for (int k = 0; k < F.nkv; k++) {
        int64_t toks = F.kv[k].window > 0 && F.kv[k].window < F.S ? F.kv[k].window : F.S;
        R->kv_bytes += F.kv[k].bytes * toks * F.B;
    }
    /* count, then fill */
    int cap = 0;
    for (int pass = 0; pass < 2; pass++) {
        int n = 0;
        for (int tp = 1; tp <= gpn; tp++) {
            if (gpn % tp || N % tp) continue;
            const char *why, *note;
            pl_limits_check(F.lim, tp, &why, &note);
            if (why) continue;
            for (int pp = 1; pp <= N / tp && pp <= maxpp; pp++) {
                if ((N / tp) % pp) continue;
                int dp = N / tp / pp;
                /* ep: 1, or a divisor of the experts that divides tp x dp, at least tp */
                for (int ep = 1; ep <= (F.experts > 1 ? F.experts : 1); ep++) {
                    if (ep > 1 && (F.experts % ep || (tp * dp) % ep || ep < tp)) continue;
                    if (pass == 1) {
                        if (layout(&F, tp, pp, ep, dp, &R->rows[n]) != MT_OK) return NULL;
                        R->nfit += R->rows[n].fits;
                    }
                    n++;
                }
            }
        }
        if (pass == 0) {
            cap = n;
            R->rows = mt_alloc_array(ctx, (size_t)cap + 1, sizeof *R->rows);
            if (!R->rows) return NULL;
        }
        R->nrows = n;
    }
    qsort(R->rows, (size_t)R->nrows, sizeof *R->rows, row_cmp);
    if (R->nfit == 0) {
        double have = (double)N * (double)F.C->gpu.mem_bytes, usable = have * F.P.mem_utilization;
        double need = (double)R->weight_bytes + (double)R->kv_bytes + (double)R->activation_bytes + (double)R->state_bytes;
        const char *what = mt_sprintf(ctx, "weights %s + KV cache %s for %lld x %lld tokens + activations %s%s",
                                      human(ctx, (double)R->weight_bytes), human(ctx, (double)R->kv_bytes),
                                      (long long)F.B, (long long)F.S, human(ctx, (double)R->activation_bytes),
                                      R->state_bytes ? mt_sprintf(ctx, " + recurrent state %s",
                                                                  human(ctx, (double)R->state_bytes)) : "");
        const char *has = mt_sprintf(ctx, "the cluster has %s (%d x %s; %s usable at %.0f%%)", human(ctx, have), N,
                                     human(ctx, (double)F.C->gpu.mem_bytes), human(ctx, usable),
                                     100 * F.P.mem_utilization);
        if (need > usable || R->nrows == 0)
            R->missing = mt_sprintf(ctx, "needs %s (%s), %s", human(ctx, need), what, has);
        else
            R->missing = mt_sprintf(ctx,
                                    "no layout fits although the model needs %s and %s: the lightest, tp=%d pp=%d "
                                    "ep=%d dp=%d, %s",
                                    human(ctx, need), has, R->rows[0].tp, R->rows[0].pp, R->rows[0].ep,
                                    R->rows[0].dp, R->rows[0].reason);
        if (!R->missing) return NULL;
    }
    return R;
}

/* ---- output ------------------------------------------------------------------------ */
static const char *dur(mt_ctx *ctx, double s) {
    if (s >= 1) return mt_sprintf(ctx, "%.3f s", s);
    if (s >= 1e-3) return mt_sprintf(ctx, "%.3f ms", s * 1e3);
    if (s >= 1e-6) return mt_sprintf(ctx, "%.3f us", s * 1e6);
    return mt_sprintf(ctx, "%.1f ns", s * 1e9);
}

static const char *stage_str(mt_ctx *ctx, const mt_fit_stage *s) {
    const char *lay = s->nlayers ? mt_sprintf(ctx, "layers %d-%d", s->first_layer, s->first_layer + s->nlayers - 1)
                                 : "no layers";
    return mt_sprintf(ctx, "%s%s%s (%d)", lay, s->embedding ? " +embedding" : "", s->head ? " +head" : "", s->nlayers);
}

mt_status mt_fit_print(const mt_fit *f, bool all, FILE *out) {
    if (!f || !out) return MT_ERR_USAGE;
    mt_ctx *ctx = f->model->ctx;
    const mt_gpu_spec *G = &f->cluster.gpu;
    fprintf(out, "fit of %s (%s) on %s: %d x %s, %d node%s of %d\n", f->model->class_name, f->model->model_type,
            f->cluster.name, f->gpus, G->description, f->cluster.nodes, f->cluster.nodes > 1 ? "s" : "",
            f->cluster.gpus_per_node);
    fprintf(out, "  model      %d layers%s; weights %s as stored; KV budget %s (batch %lld x seq %lld); activations %s\n",
            f->layers, f->experts ? mt_sprintf(ctx, ", %d experts (top %d)", f->experts, f->top_k) : "",
            human(ctx, (double)f->weight_bytes), human(ctx, (double)f->kv_bytes), (long long)f->batch,
            (long long)f->seq, human(ctx, (double)f->activation_bytes));
    fprintf(out, "  GPU        %s memory (%s usable at %.0f%%), %.0f TFLOP/s %s dense x %.2f, %.2f TB/s x %.2f; %s %.0f GB/s, "
                 "%s %.0f GB/s per direction\n",
            human(ctx, (double)G->mem_bytes), human(ctx, (double)G->mem_bytes * f->params.mem_utilization),
            100 * f->params.mem_utilization, (strcmp(f->compute_dtype, "fp8") == 0 ? G->fp8_flops : G->bf16_flops) / 1e12,
            f->compute_dtype, f->params.compute_efficiency, G->mem_bw / 1e12, f->params.memory_efficiency, G->intra_link,
            G->intra_bw / 1e9, G->inter_link, G->inter_bw / 1e9);
    if (f->nfit == 0) fprintf(out, "  DOES NOT FIT: %s\n", f->missing);
    fprintf(out, "\n%4s %4s %4s %4s %4s  %-11s %-10s %-10s %-12s %-12s %s\n", "#", "tp", "pp", "ep", "dp",
            "rank memory", "KV tokens", "KV left", "prefill/tok", "decode/tok", "comm (decode)");
    int shown = 0;
    if (f->nfit == 0 && !all) fprintf(out, "   (none)\n");
    for (int i = 0; i < f->nrows; i++) {
        const mt_fit_row *r = &f->rows[i];
        if (!r->fits && !all) continue;
        shown++;
        bool kv = r->fits && r->kv_tokens >= 0;
        fprintf(out, "%4d %4d %4d %4d %4d  %-11s %-10s %-10s %-12s %-12s %s\n", shown, r->tp, r->pp, r->ep, r->dp,
                human(ctx, (double)r->rank_bytes), kv ? mt_sprintf(ctx, "%lld", (long long)r->kv_tokens) : "-",
                kv ? mt_sprintf(ctx, "%lld", (long long)r->kv_tokens_left) : "-", dur(ctx, r->prefill_per_token_s), r->decode_s > 0 ? dur(ctx, r->decode_per_token_s) : "-",
                r->decode_s > 0 ? mt_sprintf(ctx, "%.0f%%", 100 * r->comm_decode_s / r->decode_s) : "-");
        if (!r->fits) {
            fprintf(out, "       does not fit: %s\n", r->reason);
            continue;
        }
        if (r->nstages == 1)
            fprintf(out, "       per rank: weights %s, KV %s, activations %s%s\n", human(ctx, (double)r->stages[0].weight_bytes),
                    human(ctx, (double)r->stages[0].kv_bytes), human(ctx, (double)r->stages[0].activation_bytes),
                    state_str(ctx, &r->stages[0]));
        for (int s = 0; s < r->nstages && r->nstages > 1; s++) {
            const mt_fit_stage *st = &r->stages[s];
            fprintf(out, "       stage %d: %s, %s per rank (weights %s, KV %s, activations %s%s)\n", s,
                    stage_str(ctx, st), human(ctx, (double)st->total_bytes), human(ctx, (double)st->weight_bytes),
                    human(ctx, (double)st->kv_bytes), human(ctx, (double)st->activation_bytes), state_str(ctx, st));
        }
        if (r->nstages > 1)
            fprintf(out, "       pipeline: %d micro-batch%s per step, stages idle %.0f%% of prefill%s\n", r->microbatches,
                    r->microbatches > 1 ? "es" : "", 100 * r->prefill_bubble,
                    r->decode_s > 0 ? mt_sprintf(ctx, ", %.0f%% of decode", 100 * r->decode_bubble) : "");
        if (r->vllm) fprintf(out, "       vLLM:     %s\n", r->vllm);
        if (r->sglang) fprintf(out, "       SGLang:   %s\n", r->sglang);
        fprintf(out, "       Megatron: %s\n", r->megatron);
    }
    if (!all && f->nrows > f->nfit)
        fprintf(out, "\n%d other layout%s do%s not fit (--all lists them with the reason)\n", f->nrows - f->nfit,
                f->nrows - f->nfit > 1 ? "s" : "", f->nrows - f->nfit > 1 ? "" : "es");
    fprintf(out, "\nTimes are estimates (docs/plan.md, Fit): per token over the tokens one step produces; "
                 "MODEL stands for the checkpoint.\n");
    return ferror(out) ? mt_fail(ctx, MT_ERR_IO, "writing the fit table failed") : MT_OK;
}

static json_t *jint_or_null(int64_t v, bool ok) { return ok ? json_integer(v) : json_null(); }
static json_t *jstr_or_null(const char *s) { return s ? json_string(s) : json_null(); }

mt_status mt_fit_export_json(const mt_fit *f, bool all, FILE *out) {
    if (!f || !out) return MT_ERR_USAGE;
    mt_ctx *ctx = f->model->ctx;
    const mt_gpu_spec *G = &f->cluster.gpu;
    json_t *root = json_object();
    json_object_set_new(root, "format", json_string(MT_FIT_FORMAT));
    json_object_set_new(root, "version", json_integer(MT_FIT_VERSION));
    json_t *mo = json_object();
    json_object_set_new(mo, "model_type", json_string(f->model->model_type));
    json_object_set_new(mo, "class", json_string(f->model->class_name));
    json_object_set_new(mo, "layers", json_integer(f->layers));
    json_object_set_new(mo, "experts", json_integer(f->experts));
    json_object_set_new(mo, "top_k", json_integer(f->top_k));
    json_object_set_new(mo, "weight_bytes", json_integer(f->weight_bytes));
    json_object_set_new(mo, "kv_bytes", json_integer(f->kv_bytes));
    json_object_set_new(mo, "activation_bytes", json_integer(f->activation_bytes));
    json_object_set_new(mo, "state_bytes", json_integer(f->state_bytes));
    json_object_set_new(root, "model", mo);
    json_t *cl = json_object();
    json_object_set_new(cl, "name", json_string(f->cluster.name));
    json_object_set_new(cl, "nodes", json_integer(f->cluster.nodes));
    json_object_set_new(cl, "gpus_per_node", json_integer(f->cluster.gpus_per_node));
    json_t *gj = json_object();
    json_object_set_new(gj, "name", json_string(G->name));
    json_object_set_new(gj, "description", json_string(G->description));
    json_object_set_new(gj, "memory_bytes", json_integer(G->mem_bytes));
    json_object_set_new(gj, "bf16_flops", json_real(G->bf16_flops));
    json_object_set_new(gj, "fp8_flops", G->fp8_flops > 0 ? json_real(G->fp8_flops) : json_null());
    json_object_set_new(gj, "memory_bandwidth", json_real(G->mem_bw));
    json_object_set_new(gj, "intra_node_link", json_string(G->intra_link));
    json_object_set_new(gj, "intra_node_bandwidth", json_real(G->intra_bw));
    json_object_set_new(gj, "intra_node_latency", json_real(G->intra_lat));
    json_object_set_new(gj, "inter_node_link", json_string(G->inter_link));
    json_object_set_new(gj, "inter_node_bandwidth", json_real(G->inter_bw));
    json_object_set_new(gj, "inter_node_latency", json_real(G->inter_lat));
    json_object_set_new(cl, "gpu", gj);
    json_object_set_new(root, "cluster", cl);
    json_t *pj = json_object();
    json_object_set_new(pj, "compute_efficiency", json_real(f->params.compute_efficiency));
    json_object_set_new(pj, "memory_efficiency", json_real(f->params.memory_efficiency));
    json_object_set_new(pj, "link_efficiency", json_real(f->params.link_efficiency));
    json_object_set_new(pj, "mem_utilization", json_real(f->params.mem_utilization));
    json_object_set_new(root, "params", pj);
    json_t *bj = json_object();
    json_object_set_new(bj, "batch", json_integer(f->batch));
    json_object_set_new(bj, "seq", json_integer(f->seq));
    json_object_set_new(bj, "microbatches", json_integer(f->microbatches));
    json_object_set_new(root, "bound", bj);
    json_object_set_new(root, "compute_dtype", json_string(f->compute_dtype));
    json_object_set_new(root, "fits", json_integer(f->nfit));
    json_object_set_new(root, "missing", jstr_or_null(f->missing));
    json_t *rows = json_array();
    for (int i = 0; i < f->nrows; i++) {
        const mt_fit_row *r = &f->rows[i];
        if (!r->fits && !all) continue;
        json_t *rj = json_object();
        json_object_set_new(rj, "tp", json_integer(r->tp));
        json_object_set_new(rj, "pp", json_integer(r->pp));
        json_object_set_new(rj, "ep", json_integer(r->ep));
        json_object_set_new(rj, "dp", json_integer(r->dp));
        json_object_set_new(rj, "fits", json_boolean(r->fits));
        json_object_set_new(rj, "reason", jstr_or_null(r->reason));
        json_object_set_new(rj, "rank_bytes", json_integer(r->rank_bytes));
        json_object_set_new(rj, "heaviest_stage", json_integer(r->heaviest));
        json_object_set_new(rj, "kv_tokens", jint_or_null(r->kv_tokens, r->fits && r->kv_tokens >= 0));
        json_object_set_new(rj, "kv_tokens_left", jint_or_null(r->kv_tokens_left, r->fits && r->kv_tokens >= 0));
        json_object_set_new(rj, "max_model_len", jint_or_null(r->max_model_len, r->fits && r->max_model_len > 0));
        bool dec = r->decode_s > 0;
        json_object_set_new(rj, "prefill_s", json_real(r->prefill_s));
        json_object_set_new(rj, "decode_s", dec ? json_real(r->decode_s) : json_null());
        json_object_set_new(rj, "prefill_per_token_s", json_real(r->prefill_per_token_s));
        json_object_set_new(rj, "decode_per_token_s", dec ? json_real(r->decode_per_token_s) : json_null());
        json_object_set_new(rj, "comm_prefill_s", json_real(r->comm_prefill_s));
        json_object_set_new(rj, "comm_decode_s", dec ? json_real(r->comm_decode_s) : json_null());
        json_object_set_new(rj, "microbatches", json_integer(r->microbatches));
        json_object_set_new(rj, "prefill_bubble", json_real(r->prefill_bubble));
        json_object_set_new(rj, "decode_bubble", dec ? json_real(r->decode_bubble) : json_null());
        json_t *sj = json_array();
        for (int s = 0; s < r->nstages; s++) {
            const mt_fit_stage *st = &r->stages[s];
            json_t *o = json_object();
            json_object_set_new(o, "first_layer", json_integer(st->first_layer));
            json_object_set_new(o, "layers", json_integer(st->nlayers));
            json_object_set_new(o, "embedding", json_boolean(st->embedding));
            json_object_set_new(o, "head", json_boolean(st->head));
            json_object_set_new(o, "weight_bytes", json_integer(st->weight_bytes));
            json_object_set_new(o, "kv_bytes", json_integer(st->kv_bytes));
            json_object_set_new(o, "activation_bytes", json_integer(st->activation_bytes));
            json_object_set_new(o, "state_bytes", json_integer(st->state_bytes));
            json_object_set_new(o, "total_bytes", json_integer(st->total_bytes));
            json_object_set_new(o, "kv_bytes_per_token", json_integer(st->kv_bytes_per_token));
            json_object_set_new(o, "prefill_s", json_real(st->prefill_s));
            json_object_set_new(o, "decode_s", dec ? json_real(st->decode_s) : json_null());
            json_t *mods = json_array();
            for (int k = 0; k < st->nmodules; k++) json_array_append_new(mods, json_string(st->modules[k]));
            json_object_set_new(o, "modules", mods);
            json_array_append_new(sj, o);
        }
        json_object_set_new(rj, "stages", sj);
        json_object_set_new(rj, "vllm", jstr_or_null(r->vllm));
        json_object_set_new(rj, "sglang", jstr_or_null(r->sglang));
        json_object_set_new(rj, "megatron", jstr_or_null(r->megatron));
        json_array_append_new(rows, rj);
    }
    json_object_set_new(root, "layouts", rows);
    int rc = json_dumpf(root, out, JSON_INDENT(2) | JSON_REAL_PRECISION(17));
    json_decref(root);
    if (rc != 0 || fputc('\n', out) == EOF || ferror(out))
        return mt_fail(ctx, MT_ERR_IO, "writing the fit JSON document failed");
    return MT_OK;
}
