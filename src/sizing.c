/* The sizing pass (sizing.h): FLOPs, KV cache by attention kind, activation
 * peak, training memory, read off a traced graph. docs/sizing.md states every
 * convention used here.
 *
 * Evaluation. Figures are taken at bound shapes (batch, seq; dec_seq = seq for
 * encoder-decoders). A data-dependent symbol (the tokens routed to an expert,
 * nnz_k in [0, batch*seq*top_k]) takes its expected value: its upper bound
 * divided by the experts of its block (uniform routing). Expert nodes are
 * linear in their own nnz symbol, so a fractional expectation is evaluated
 * exactly as floor + frac * slope. */
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <metatrace/sizing.h>

#include "ctx_internal.h"
#include "graph_internal.h"
#include "model_internal.h"
#include "opinfo_internal.h"
#include "ptrmap.h"
#include "walk_internal.h"

const char *mt_attn_kind_name(mt_attn_kind k) {
    static const char *const names[MT_ATTN_KIND_COUNT] = {"causal", "bidirectional", "cross"};
    return (unsigned)k < MT_ATTN_KIND_COUNT ? names[k] : "?";
}

/* ---- evaluation at the bound shapes ------------------------------------------ */

enum { MAX_INPUT_SYMS = 3 };

typedef struct dsym {  /* a data-dependent symbol */
    const char *name;
    int64_t lo;        /* floor of the expectation */
    long double frac;  /* expectation - lo */
} dsym;

typedef struct evaluator {
    mt_ctx *ctx;
    const char *in_names[MAX_INPUT_SYMS];
    int64_t in_vals[MAX_INPUT_SYMS];
    int nin;
    dsym *d;
    int nd;
    mtx_ptrmap dmap;   /* symbol pointer -> dsym index + 1 */
    mtx_ptrmap memo;   /* expression -> value + 1 (expressions free of data symbols) */
    long double *memo_vals;
    int nmemo, capmemo;
    const char **all_names;  /* every symbol (fallback binding) */
    int64_t *all_vals;
    int nall;
    bool failed;
    const char *fail_msg;     /* the first failure: what the evaluation said, */
    const mt_node *fail_node; /* for which node (NULL: none known) */
} evaluator;

static bool ev_init(evaluator *E, mt_ctx *ctx, int64_t batch, int64_t seq, int64_t dec_seq) {
    memset(E, 0, sizeof *E);
    E->ctx = ctx;
    const char *names[MAX_INPUT_SYMS] = {"batch", "seq", "dec_seq"};
    int64_t vals[MAX_INPUT_SYMS] = {batch, seq, dec_seq};
    for (int i = 0; i < MAX_INPUT_SYMS; i++) {
        E->in_names[i] = names[i];
        E->in_vals[i] = vals[i];
    }
    E->nin = MAX_INPUT_SYMS;
    mtx_ptrmap_init(&E->dmap, ctx);
    mtx_ptrmap_init(&E->memo, ctx);
    int ns = mt_sym_count(ctx);
    E->d = mt_alloc_array(ctx, (size_t)(ns ? ns : 1), sizeof *E->d);
    E->all_names = mt_alloc_array(ctx, (size_t)ns + MAX_INPUT_SYMS, sizeof *E->all_names);
    E->all_vals = mt_alloc_array(ctx, (size_t)ns + MAX_INPUT_SYMS, sizeof *E->all_vals);
    if (!E->d || !E->all_names || !E->all_vals) return false;
    for (int i = 0; i < MAX_INPUT_SYMS; i++) {
        E->all_names[E->nall] = names[i];
        E->all_vals[E->nall++] = vals[i];
    }
    /* experts per block: data symbols grouped by the " of <path>" of their
     * origin; a block's symbols are created one after another */
    mt_binding inb = {E->in_names, E->in_vals, E->nin};
    int run_start = 0, run_len = 0;
    for (int i = 0; i < ns; i++) {
        const mt_symbol_info *si = mt_sym_info(ctx, i);
        bool input = false;
        for (int k = 0; k < MAX_INPUT_SYMS; k++) input |= strcmp(si->name, names[k]) == 0;
        if (input) continue;
        long double expect = 0;
        if (si->hi) {
            int64_t hi = 0;
            if (mt_sym_eval(ctx, si->hi, &inb, &hi) != MT_OK) return false;
            const char *of = si->origin ? strstr(si->origin, " of ") : NULL;
            if (i >= run_start + run_len || run_len == 0) {
                run_start = i;
                run_len = 1;
                for (int j = i + 1; of && j < ns; j++) {
                    const mt_symbol_info *sj = mt_sym_info(ctx, j);
                    const char *oj = sj->origin ? strstr(sj->origin, " of ") : NULL;
                    if (!oj || strcmp(oj, of) != 0) break;
                    run_len++;
                }
            }
            expect = (long double)hi / (of ? run_len : 1);
        } else {
            expect = (long double)si->lo;
        }
        dsym *d = &E->d[E->nd];
        d->name = si->name;
        d->lo = (int64_t)floorl(expect);
        d->frac = expect - (long double)d->lo;
        if (!mtx_ptrmap_put(&E->dmap, si->sym, (void *)(intptr_t)(E->nd + 1))) return false;
        E->nd++;
        E->all_names[E->nall] = si->name;
        E->all_vals[E->nall++] = d->lo;
    }
    return true;
}

/* The data symbols among the dims of a node's outputs and tensor arguments. */
static int node_dsyms(const evaluator *E, const mt_node *n, int *idx, int cap) {
    int k = 0;
    if (E->nd == 0) return 0;
    for (int o = -1; o < n->nargs + n->nout; o++) {
        const mt_tensor *t = NULL;
        if (o < 0) continue;
        if (o < n->nout) t = &n->outs[o];
        else if (n->args[o - n->nout].kind == MT_ARG_TENSOR) t = n->args[o - n->nout].v.t;
        for (int d = 0; t && d < t->ndim; d++) {
            if (!t->shape[d] || !mt_sym_is_var(t->shape[d])) continue;
            intptr_t v = (intptr_t)mtx_ptrmap_get(&E->dmap, t->shape[d]);
            if (!v) continue;
            bool seen = false;
            for (int j = 0; j < k; j++) seen |= idx[j] == (int)v - 1;
            if (!seen && k < cap) idx[k++] = (int)v - 1;
        }
    }
    return k;
}

static void ev_fail(evaluator *E, const mt_node *n) {
    if (!E->failed) {
        E->fail_msg = mt_strdup(E->ctx, mt_ctx_errmsg(E->ctx));
        E->fail_node = n;
    }
    E->failed = true;
    mt_error_clear(E->ctx);
}

/* Evaluate `s` for node n (its data symbols at their expectation). */
static long double ev_node(evaluator *E, const mt_sym *s, const mt_node *n) {
    if (!s) return 0;
    if (mt_sym_is_const(s)) return (long double)mt_sym_const_value(s);
    enum { CAP = 4 };
    int idx[CAP];
    int k = n ? node_dsyms(E, n, idx, CAP) : 0;
    if (k == 0) {
        intptr_t slot = (intptr_t)mtx_ptrmap_get(&E->memo, s);
        if (slot) return E->memo_vals[slot - 1];
    }
    const char *names[MAX_INPUT_SYMS + CAP];
    int64_t vals[MAX_INPUT_SYMS + CAP];
    int nb = 0;
    for (int i = 0; i < E->nin; i++) {
        names[nb] = E->in_names[i];
        vals[nb++] = E->in_vals[i];
    }
    for (int j = 0; j < k; j++) {
        names[nb] = E->d[idx[j]].name;
        vals[nb++] = E->d[idx[j]].lo;
    }
    mt_binding b = {names, vals, nb};
    int64_t v0 = 0;
    if (mt_sym_eval(E->ctx, s, &b, &v0) != MT_OK) {
        /* a data symbol hidden in a composite dim: the full binding */
        mt_error_clear(E->ctx);
        mt_binding all = {E->all_names, E->all_vals, E->nall};
        if (mt_sym_eval(E->ctx, s, &all, &v0) != MT_OK) {
            ev_fail(E, n);
            return 0;
        }
        return (long double)v0;
    }
    long double r = (long double)v0;
    if (k == 0) {
        if (E->nmemo == E->capmemo) {
            int cap = E->capmemo ? 2 * E->capmemo : 256;
            long double *nv = mt_alloc_array(E->ctx, (size_t)cap, sizeof *nv);
            if (!nv) return r;
            if (E->nmemo) memcpy(nv, E->memo_vals, (size_t)E->nmemo * sizeof *nv);
            E->memo_vals = nv;
            E->capmemo = cap;
        }
        E->memo_vals[E->nmemo] = r;
        if (mtx_ptrmap_put(&E->memo, s, (void *)(intptr_t)(E->nmemo + 1))) E->nmemo++;
        return r;
    }
    /* linear in each data symbol: add frac * slope */
    for (int j = 0; j < k; j++) {
        const dsym *d = &E->d[idx[j]];
        if (d->frac == 0) continue;
        vals[E->nin + j] = d->lo + 1;
        int64_t v1 = 0;
        if (mt_sym_eval(E->ctx, s, &b, &v1) != MT_OK) {
            ev_fail(E, n);
            return r;
        }
        vals[E->nin + j] = d->lo;
        r += d->frac * (long double)(v1 - v0);
    }
    return r;
}

static long double ev_numel(evaluator *E, const mt_tensor *t, const mt_node *n) {
    long double r = 1;
    for (int d = 0; d < t->ndim; d++) r *= ev_node(E, t->shape[d], n);
    return r;
}

/* ---- graph indexes -------------------------------------------------------------- */

/* One walk over the graph (gindex_build) records what every later step reads:
 * output slots, each node's tensor inputs as producer slots (CSR, in the order
 * MT__FOR_TENSOR_ARGS visits them), the layer each node runs in and, for the
 * nodes of layers, a structural hash from which identical layers are found
 * with one comparison per layer (see "identical layers" below). */
typedef struct gindex {
    int nslots;
    int *off;        /* node -> first output slot */
    int *in_off;     /* node -> first input edge */
    int *in_node;    /* edge -> producing node */
    int *in_slot;    /* edge -> producing output slot */
    int nedges, capedges;
    const mt_module **lay; /* node -> its layer (first ModuleList entry on its stack), NULL outside */
    int *cons_off;   /* node -> first consumer in cons[] */
    int *cons;       /* consumer node indexes */
    uint64_t *deps;  /* node -> placeholders it depends on (bit per placeholder) */
    int ids_dec;     /* placeholder index of decoder_input_ids, -1 if none */
    int *cand;       /* sdpa and softmax nodes (attention core candidates), in order */
    int ncand, capcand;
    int *outputs;    /* output nodes */
    int noutputs, capoutputs;
    /* spans (twins only): runs of nodes in one layer or outside the layers;
     * span k holds nodes sp_start[k] .. sp_start[k+1]-1 (sp_start[nspans] = n) */
    int nspans;
    int *sp_start;
    int *sp_tmpl;    /* span -> the first span of its identical layers, -1: none earlier */
    uint64_t *sp_hash; /* span -> its structural hash (a copied span: its template's) */
    unsigned char *sp_flags; /* span -> SPAN_COPIED, SPAN_UNCOPYABLE, SPAN_FRESH, SPAN_RESTREAMED */
    const mt__layer_run *runs; /* the graph's vouched runs (graph_internal.h) */
    int *sp_run;     /* span -> the run it is, -1: none */
} gindex;

enum {
    SPAN_COPIED = 1,     /* a vouched run copied from sp_tmpl without reading its nodes */
    SPAN_UNCOPYABLE = 2, /* holds a placeholder or an output: no copy of it */
    SPAN_FRESH = 4,      /* holds a nonzero: each copy has its own fresh symbols */
    SPAN_RESTREAMED = 8, /* a copy whose stream comes from elsewhere than its first instance's
                          * (layer 1 from layer 0, layer 0's from the embedding) */
};

/* Append v to a growable int list in the arena. */
static bool ilist_push(mt_ctx *ctx, int **a, int *n, int *cap, int v) {
    if (*n == *cap) {
        int ncap = *cap ? 2 * *cap : 64;
        int *na = mt__alloc_raw(ctx, (size_t)ncap * sizeof *na);
        if (!na) return false;
        if (*n) memcpy(na, *a, (size_t)*n * sizeof *na);
        *a = na;
        *cap = ncap;
    }
    (*a)[(*n)++] = v;
    return true;
}

static const mt_tensor *arg_tensor(const mt_arg *a) { return a->kind == MT_ARG_TENSOR ? a->v.t : NULL; }

/* Every tensor argument of a node that a node produced (args, kwargs, list items). */
#define FOR_TENSOR_ARGS(ND, T, BODY) MT__FOR_TENSOR_ARGS(ND, T, if (!T || !T->node) continue; BODY)

/* The input edges of node i: producer slot s = X->in_slot[e], node X->in_node[e]. */
#define FOR_INPUTS(X, I, E) for (int E = (X)->in_off[I]; E < (X)->in_off[(I) + 1]; E++)

/* ---- identical layers -------------------------------------------------------------
 * A node's structural hash covers what a FLOP or byte count reads: op, target
 * (not for a module call or a parameter read: their paths differ per layer), the
 * called module's class, parameters and attributes, argument kinds and scalar
 * values, tensor dtypes and shapes (interned: pointers), and where each tensor
 * input comes from: its offset back from the node when it was made inside a
 * layer, the producing node itself when outside (a mask, rotary tables). A
 * layer's hash folds its nodes' hashes in order. A layer is compared with the
 * few layers before it of the same length (periodic patterns: sliding/global,
 * dense/MoE) and, when the hashes are equal, each of its nodes takes the
 * figures of the node at the same place (FLOPs, bytes, attention facts).
 * Strings compare by address (the class name and parameter names, copied per
 * module, by content): two equal strings at different addresses only cost a
 * reuse, never a wrong figure. The hash is 64 bits wide: the chance that two
 * different layers among a few hundred compare equal is below 2^-50. */
enum { TWIN_LOOKBACK = 8 };

static inline uint64_t hmix(uint64_t h, uint64_t w) { return (h ^ w) * 0x9e3779b97f4a7c15ull; }

static uint64_t hstr(uint64_t h, const char *s) {
    if (!s) return hmix(h, 0);
    uint64_t w = 0x6c62272e07bb0142ull;
    for (; *s; s++) w = (w ^ (uint8_t)*s) * 0x100000001b3ull;
    return hmix(h, w);
}

static uint64_t htensor(const mt_tensor *t, bool attr) {
    uint64_t h = hmix(0x243f6a8885a308d3ull, ((uint64_t)(uint32_t)t->dtype << 32) | ((uint64_t)attr << 16) | (uint32_t)t->ndim);
    for (int d = 0; d < t->ndim; d++) h = hmix(h, (uint64_t)(uintptr_t)t->shape[d]);
    return h;
}

static bool is_attr(const mt_tensor *t) { return t->node && t->node->op == MT_NODE_GET_ATTR; }

/* An argument by value, its kind folded in (kinds are spread by a random odd
 * constant: a value of one kind cannot pass for another's). */
static uint64_t hscalar(uint64_t h, const mt_arg *a) {
    uint64_t w = 0, tag = (uint64_t)a->kind * 0xc2b2ae3d27d4eb4full;
    switch (a->kind) {
    case MT_ARG_INT: w = (uint64_t)a->v.i; break;
    case MT_ARG_FLOAT: memcpy(&w, &a->v.f, sizeof w); break;
    case MT_ARG_BOOL: w = (uint64_t)a->v.b; break;
    case MT_ARG_SYM: w = (uint64_t)(uintptr_t)a->v.sym; break;
    case MT_ARG_DTYPE: w = (uint64_t)a->v.dtype; break;
    case MT_ARG_STR: w = (uint64_t)(uintptr_t)a->v.s; break;
    case MT_ARG_DEVICE: w = (uint64_t)a->v.device; break;
    case MT_ARG_SLICE:
        h = hmix(h, (uint64_t)(uintptr_t)a->v.slice.start);
        h = hmix(h, (uint64_t)(uintptr_t)a->v.slice.stop);
        w = (uint64_t)(uintptr_t)a->v.slice.step;
        break;
    case MT_ARG_TENSOR: w = a->v.t ? htensor(a->v.t, is_attr(a->v.t)) : 0; break;
    case MT_ARG_LIST:
        h = hmix(h, (uint64_t)a->v.list.n);
        for (int i = 0; i < a->v.list.n; i++) h = hscalar(h, &a->v.list.items[i]);
        break;
    default:
        break;
    }
    return hmix(h, w ^ tag);
}

#if defined(__GNUC__)
#define MT_INLINE __attribute__((always_inline)) inline
#else
#define MT_INLINE inline
#endif

/* A plain argument's value in one word (kinds with more go through hscalar). */
static MT_INLINE bool scalar_word(const mt_arg *a, uint64_t *w) {
    switch (a->kind) {
    case MT_ARG_INT: *w = (uint64_t)a->v.i; return true;
    case MT_ARG_FLOAT: memcpy(w, &a->v.f, sizeof *w); return true;
    case MT_ARG_BOOL: *w = (uint64_t)a->v.b; return true;
    case MT_ARG_SYM: *w = (uint64_t)(uintptr_t)a->v.sym; return true;
    case MT_ARG_DTYPE: *w = (uint64_t)a->v.dtype; return true;
    case MT_ARG_STR: *w = (uint64_t)(uintptr_t)a->v.s; return true;
    case MT_ARG_DEVICE: *w = (uint64_t)a->v.device; return true;
    case MT_ARG_NONE: case MT_ARG_ELLIPSIS: *w = 0; return true;
    default: return false;
    }
}

static uint64_t hmodule(uint64_t h, const mt_module *m) {
    /* (not its class name: no figure reads it; its leaf kind, parameters and
     * attributes are what FLOP rules and leaf forwards read) */
    h = hmix(h, ((uint64_t)(uint32_t)m->leaf << 32) | ((uint64_t)(uint32_t)m->params.n << 16) | (uint32_t)m->nattrs);
    for (int i = 0; i < m->params.n; i++) {
        const mt_param *p = m->params.items[i];
        h = hstr(h, p->local);
        h = hmix(h, htensor(p->t, is_attr(p->t)));
    }
    for (int i = 0; i < m->nattrs; i++) {
        const mt_arg *v = &m->attrs[i].value;
        uint64_t w;
        h = hmix(h, (uint64_t)(uintptr_t)m->attrs[i].name);
        h = scalar_word(v, &w) ? hmix(h, w ^ (uint64_t)v->kind * 0xc2b2ae3d27d4eb4full) : hscalar(h, v);
    }
    return h;
}

/* Two vouched layers (graph_internal.h, "vouched layer runs") by what their
 * forwards may read: each module of their subtrees in order, with its class
 * (by content: copied per module), leaf kind, parameters (dtype, shape,
 * buffer, tied) and attributes (by value), but not the names (a forward
 * reaches its modules through handles its build bound by position in the same
 * code; names change node targets only, which no figure reads). */
static bool attr_same(const mt_arg *a, const mt_arg *b) {
    uint64_t wa, wb;
    if (a->kind != b->kind) return false;
    if (scalar_word(a, &wa) && scalar_word(b, &wb)) return wa == wb;
    return hscalar(0, a) == hscalar(0, b);
}

static bool same_module(const mt_module *a, const mt_module *b) {
    if (a->leaf != b->leaf || a->children.n != b->children.n || a->params.n != b->params.n ||
        a->nattrs != b->nattrs || (a->type != b->type && (!a->type || !b->type || strcmp(a->type, b->type) != 0)))
        return false;
    for (int i = 0; i < a->params.n; i++) {
        const mt_param *p = a->params.items[i], *q = b->params.items[i];
        const mt_tensor *x = p->t, *y = q->t;
        if (x->dtype != y->dtype || x->ndim != y->ndim || p->is_buffer != q->is_buffer ||
            (p->tied_to != NULL) != (q->tied_to != NULL))
            return false;
        for (int d = 0; d < x->ndim; d++)
            if (x->shape[d] != y->shape[d]) return false;
    }
    /* (equal bytes are equal attributes; unequal bytes may still be: unused union bytes) */
    if (a->nattrs && memcmp(a->attrs, b->attrs, (size_t)a->nattrs * sizeof *a->attrs) != 0)
        for (int i = 0; i < a->nattrs; i++)
            if (a->attrs[i].name != b->attrs[i].name || !attr_same(&a->attrs[i].value, &b->attrs[i].value))
                return false;
    return true;
}

static bool same_subtree(const mt_module *a, const mt_module *b) {
    if (!same_module(a, b)) return false;
    for (int i = 0; i < a->children.n; i++) {
        const mt_module *x = a->children.items[i], *y = b->children.items[i];
        if (!(x->children.n ? same_subtree(x, y) : same_module(x, y))) return false;
    }
    return true;
}

/* Where a vouched run's inputs come from, by the walk's rule (made in a
 * layer: how far back from the run's first node; outside the layers: the
 * producing output itself), with their types (run_key). 0: the run cannot be
 * vouched for (an input made after its first node)... */
static uint64_t from_word(const mt__layer_run *r, int k, const mt_module *const *lay) {
    const mt_tensor *t = r->in[k];
    if (!t || !t->node) return 0xa5a5u + (uint64_t)(t != NULL);
    int p = t->node->index, o = (int)(t - t->node->outs);
    return lay[p] ? ((uint64_t)(uint32_t)(r->first - p) << 8) | (uint32_t)o
                  : (((uint64_t)(uint32_t)p << 24) | ((uint64_t)(uint32_t)o << 4)) + 0x9b;
}

/* ... the stream inputs (in[0..nstream)) by type alone: a copy takes its own
 * stream where its template took its (span_copy maps those edges). */
static uint64_t run_key(const mt__layer_run *r, const mt_module *const *lay) {
    uint64_t h = 0x3243f6a8885a308dull;
    for (int k = 0; k < r->nin; k++) {
        const mt_tensor *t = r->in[k];
        if (t && t->node && t->node->index >= r->first) return 0;
        if (k < r->nstream) h = hmix(h, t && t->node ? 0x5bd1e995u : 0xa5a5u + (uint64_t)(t != NULL));
        else h = hmix(h, from_word(r, k, lay));
        if (t && t->node) h = hmix(h, htensor(t, false));
    }
    return h ? h : 1;
}

/* Stream input k of run r as an output slot (-1: none). */
static int stream_slot(const mt__layer_run *r, int k, const int *off) {
    const mt_tensor *t = k < r->nstream ? r->in[k] : NULL;
    return t && t->node ? off[t->node->index] + (int)(t - t->node->outs) : -1;
}

/* Room for more edges (the arrays double). */
typedef struct egrow {
    int *node, *slot;
    int cap;
} egrow;

static egrow edges_grow(mt_ctx *ctx, const int *node, const int *slot, int n, int cap) {
    egrow r = {NULL, NULL, cap * 2};
    int *nn = mt__alloc_raw(ctx, (size_t)r.cap * sizeof *nn), *ns = mt__alloc_raw(ctx, (size_t)r.cap * sizeof *ns);
    if (!nn || !ns) return r;
    memcpy(nn, node, (size_t)n * sizeof *nn);
    memcpy(ns, slot, (size_t)n * sizeof *ns);
    r.node = nn;
    r.slot = ns;
    return r;
}

/* A ModuleList entry ("0", "1", ...). */
static bool numeric_name(const mt_module *x) { return x->name && *x->name >= '0' && *x->name <= '9'; }

static const mt_module *layer_entry(const mt_modstack *st) {
    for (int d = 0; st && d < st->depth; d++)
        if (numeric_name(st->mods[d])) return st->mods[d];
    return NULL;
}

_Static_assert(offsetof(mt_node, opid) == offsetof(mt_node, op) + sizeof(int), "op, opid side by side");

/* Where gindex_build is while it walks: what span_copy reads and advances. */
typedef struct gwalk {
    const mt_module **lay;
    int *off, *in_off, *inn, *ins;
    int ne, cape, nslots;
} gwalk;

/* Nodes [a, a + len) are a vouched run identical to the span at tb: their
 * layer, output slots and input edges are the template's shifted (an input
 * made in a layer, d nodes later; outside the layers, the same output), read
 * without their arguments. Each node is still checked against the
 * template's at the same place (kind, op, outputs), and the node after the
 * run must be outside L (else the span runs on): 1 copied, 0 not identical
 * after all (the caller walks the span node by node, overwriting what was
 * written), -1 out of memory. A template with a nonzero (an MoE layer's
 * routing) is copied too: the copy's shapes hold its own fresh token counts
 * where the template's hold theirs, with the same bounds and expectations,
 * and the figures taken from the template are numbers at those
 * expectations, never the symbols (data-dependent FLOPs are summed apart
 * from the symbolic terms); mt__sizing_check_runs checks such copies with
 * the symbols renamed. */
static int span_copy(mt_ctx *ctx, const mt_graph *g, gindex *X, gwalk *w, const mt__layer_run *cr,
                     const mt__layer_run *tr, int a, int len, int tb) {
    const mt_module *L = cr->layer;
    mt_node *const *nodes = g->nodes;
    const mt_module **lay = w->lay;
    int *off = w->off, *in_off = w->in_off;
    int d = a - tb, DS = w->nslots - off[tb], DE = w->ne - in_off[tb];
    /* (every node of the run was recorded with L entered, under the modules
     * the first one has above L: all run in L as the first does, which the
     * caller saw) */
    if (a + len < g->n && layer_entry(nodes[a + len]->stack) == L) return 0;
    for (int j = 0; j < len; j++) {
        const mt_node *x = nodes[a + j], *t = nodes[tb + j];
        /* (op and opid side by side: one word; the template has no placeholder or output,
         * SPAN_UNCOPYABLE, so neither has this node when it matches) */
        uint64_t wx, wt;
        memcpy(&wx, &x->op, sizeof wx);
        memcpy(&wt, &t->op, sizeof wt);
        if ((wx ^ wt) | (uint64_t)(unsigned)(x->nout ^ t->nout)) return 0;
        lay[a + j] = L;
        off[a + j] = off[tb + j] + DS;
        in_off[a + j] = in_off[tb + j] + DE;
    }
    /* the template's attention candidates, shifted (cand is in node order) */
    int ncand0 = X->ncand, lo = 0, hi = X->ncand;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (X->cand[mid] < tb) lo = mid + 1;
        else hi = mid;
    }
    for (int c = lo; c < X->ncand && X->cand[c] < tb + len; c++)
        if (!ilist_push(ctx, &X->cand, &X->ncand, &X->capcand, X->cand[c] + d)) return -1;
    /* (the template may end where this span starts: its end is then where the walk is) */
    int e0 = in_off[tb], e1 = tb + len < a ? in_off[tb + len] : w->ne;
    int s1 = tb + len < a ? off[tb + len] : w->nslots;
    while (w->ne + (e1 - e0) > w->cape) {
        egrow r = edges_grow(ctx, w->inn, w->ins, w->ne, w->cape);
        if (!r.node) return -1;
        w->inn = r.node;
        w->ins = r.slot;
        w->cape = r.cap;
    }
    int *inn = w->inn, *ins = w->ins, ne = w->ne;
    int tss[MT__RUN_MAX_IN], css[MT__RUN_MAX_IN]; /* the stream inputs' slots, template's and this run's */
    for (int k = 0; k < tr->nstream; k++) {
        tss[k] = stream_slot(tr, k, off);
        css[k] = stream_slot(cr, k, off);
        if ((tss[k] < 0) != (css[k] < 0)) { /* (run_key tells a missing stream apart: not reached) */
            X->ncand = ncand0;
            return 0;
        }
    }
    for (int e = e0; e < e1; e++) {
        int p = inn[e];
        if (p >= tb) { /* made in the template: its slots moved by DS */
            inn[ne] = p + d;
            ins[ne++] = ins[e] + DS;
            continue;
        }
        int ts = -1;
        for (int k = 0; ts < 0 && k < tr->nstream; k++)
            if (ins[e] == tss[k]) ts = k;
        if (ts >= 0) { /* the template's stream input: this run's own */
            inn[ne] = cr->in[ts]->node->index;
            ins[ne++] = css[ts];
        } else {
            int q = p + (lay[p] ? d : 0);
            inn[ne] = q;
            ins[ne++] = off[q] + (ins[e] - off[p]);
        }
    }
    w->ne = ne;
    w->nslots += s1 - off[tb];
    return 1;
}

/* Output slots, input edges, layers; with `twins`, identical layers; and the
 * inputs each node depends on (only encoder-decoders need them: a
 * cross-attention's query depends on the decoder's ids, its key does not). */
static bool gindex_build(mt_ctx *ctx, const mt_graph *g, gindex *X, bool twins, bool use_runs) {
    memset(X, 0, sizeof *X);
    X->ids_dec = -1;
    size_t n = (size_t)g->n;
    /* (the walk keeps what it writes in locals: stores through the int
     * arrays would otherwise reload every field of X) */
    int *off = mt__alloc_raw(ctx, (n + 1) * sizeof *off);
    int *in_off = mt__alloc_raw(ctx, (n + 1) * sizeof *in_off);
    const mt_module **lay = mt__alloc_raw(ctx, (n + 1) * sizeof *lay);
    int cape = 2 * g->n + 16, ne = 0, nslots = 0;
    int *inn = mt__alloc_raw(ctx, (size_t)cape * sizeof *inn);
    int *ins = mt__alloc_raw(ctx, (size_t)cape * sizeof *ins);
    /* spans: runs of nodes in one layer or outside the layers; the hash of each (twins only) */
    int *span_start = twins ? mt__alloc_raw(ctx, (n + 2) * sizeof *span_start) : NULL;
    uint64_t *span_hash = twins ? mt__alloc_raw(ctx, (n + 1) * sizeof *span_hash) : NULL;
    int *sp_tmpl = twins ? mt__alloc_raw(ctx, (n + 1) * sizeof *sp_tmpl) : NULL;
    unsigned char *sp_flags = twins ? mt__alloc_raw(ctx, n + 1) : NULL;
    int *sp_run = twins ? mt__alloc_raw(ctx, (n + 1) * sizeof *sp_run) : NULL;
    if (!off || !in_off || !lay || !inn || !ins ||
        (twins && (!span_start || !span_hash || !sp_tmpl || !sp_flags || !sp_run)))
        return false;
    /* vouched runs (graph_internal.h): each one's key and span (-1: not a clean span) */
    int nruns = 0, rc = 0, cur_run = -1;
    const mt__layer_run *runs = twins && use_runs ? mt__graph_runs(g, &nruns) : NULL;
    uint64_t *run_keys = nruns ? mt__alloc_raw(ctx, (size_t)nruns * sizeof *run_keys) : NULL;
    int *run_span = nruns ? mt__alloc_raw(ctx, (size_t)nruns * sizeof *run_span) : NULL;
    if (nruns && (!run_keys || !run_span)) return false;
    for (int r = 0; r < nruns; r++) run_span[r] = -1;
    bool copied = false; /* the span that is ending was copied from its template */
    int nph = 0, nspans = 0, span0 = 0;
    const mt_modstack *memo_st = NULL;
    const mt_module *memo_lay = NULL, *prev = NULL;
    uint64_t lh = 0;
    mt_node *const *nodes = g->nodes;
    /* a tensor input made by node p_ (output o_): its edge */
#define GX_EDGE(T)                                                                         \
    const mt_tensor *t_ = (T);                                                             \
    int p_ = t_->node->index, o_ = (int)(t_ - t_->node->outs);                             \
    if (ne == cape) {                                                                      \
        egrow r_ = edges_grow(ctx, inn, ins, ne, cape);                                    \
        if (!r_.node) return false;                                                        \
        inn = r_.node;                                                                     \
        ins = r_.slot;                                                                     \
        cape = r_.cap;                                                                     \
    }                                                                                      \
    inn[ne] = p_;                                                                          \
    ins[ne++] = off[p_] + o_;
    /* ... and where it comes from in the hash. From the node's own layer:
     * how far back and which output (that node's hash holds the type); from
     * another layer: how far back and the type; from outside the layers:
     * which output slot. */
#define GX_FROM(H)                                                                                  \
    {                                                                                               \
        uint64_t back_ = ((uint64_t)(uint32_t)(i - p_) << 8) | (uint32_t)o_;                        \
        if (p_ >= span0) H = hmix(H, back_);                                                        \
        else if (lay[p_]) H = hmix(hmix(H, back_ + 0x5bd1e995), htensor(t_, is_attr(t_)));          \
        else H = hmix(H, ((uint64_t)(uint32_t)(off[p_] + o_) << 24) + 0x9b);                        \
    }
    /* one argument or list item: a tensor a node made becomes an edge; the rest is hashed by value */
#define GX_ITEM(A, H)                                                                      \
    {                                                                                      \
        const mt_arg *x_ = (A);                                                            \
        if (x_->kind == MT_ARG_INT) {                                                      \
            H = hmix(H, (uint64_t)x_->v.i ^ (uint64_t)MT_ARG_INT * 0xc2b2ae3d27d4eb4full);   \
        } else if (x_->kind == MT_ARG_TENSOR && x_->v.t && x_->v.t->node) {                \
            GX_EDGE(x_->v.t)                                                               \
            GX_FROM(H)                                                                     \
        } else {                                                                           \
            uint64_t w_;                                                                   \
            if (scalar_word(x_, &w_)) H = hmix(H, w_ ^ (uint64_t)x_->kind * 0xc2b2ae3d27d4eb4full); \
            else H = hscalar(H, x_);                                                       \
        }                                                                                  \
    }
    /* any argument: list items one level down, as MT__FOR_TENSOR_ARGS visits them */
#define GX_ARG(A, H)                                                                       \
    {                                                                                      \
        const mt_arg *a_ = (A);                                                            \
        if (a_->kind != MT_ARG_LIST) GX_ITEM(a_, H)                                        \
        else {                                                                             \
            H = hmix(H, ((uint64_t)MT_ARG_LIST << 32) | (uint32_t)a_->v.list.n);           \
            for (int k_ = 0; k_ < a_->v.list.n; k_++) GX_ITEM(&a_->v.list.items[k_], H)     \
        }                                                                                  \
    }
    /* without a hash: the edges only */
#define GX_ARG_EDGES(A)                                                                    \
    {                                                                                      \
        const mt_arg *a_ = (A);                                                            \
        int c_ = a_->kind == MT_ARG_LIST ? a_->v.list.n : 1;                               \
        for (int k_ = 0; k_ < c_; k_++) {                                                  \
            const mt_arg *x_ = a_->kind == MT_ARG_LIST ? &a_->v.list.items[k_] : a_;       \
            if (x_->kind == MT_ARG_TENSOR && x_->v.t && x_->v.t->node) {                   \
                GX_EDGE(x_->v.t)                                                           \
            }                                                                              \
        }                                                                                  \
    }
    for (int i = 0; i <= g->n; i++) {
        const mt_node *nd = NULL;
        const mt_module *L = NULL;
        if (i < g->n) {
            nd = nodes[i];
            if (nd->stack != memo_st) {
                memo_st = nd->stack;
                memo_lay = layer_entry(nd->stack);
            }
            L = memo_lay;
            if (L == prev && i > 0) goto same_span;
        }
        {
            /* the span of layer `prev` ended: compare it with the spans before */
            if (twins && prev && nspans > 0) {
                int len = i - span_start[nspans - 1];
                if (!copied) {
                    span_hash[nspans - 1] = hmix(lh, (uint64_t)len);
                    for (int back = 1; back <= TWIN_LOOKBACK && nspans - 1 - back >= 0; back++) {
                        int bs = nspans - 1 - back, b = span_start[bs];
                        if (span_start[bs + 1] - b != len || span_hash[bs] != span_hash[nspans - 1] || !lay[b]) continue;
                        sp_tmpl[nspans - 1] = sp_tmpl[bs] >= 0 ? sp_tmpl[bs] : bs;
                        break;
                    }
                }
                if (cur_run >= 0 && runs[cur_run].end - runs[cur_run].first == len) run_span[cur_run] = nspans - 1;
                else sp_run[nspans - 1] = -1;
            }
            copied = false;
            cur_run = -1;
            if (twins && nd) {
                span_hash[nspans] = 0;
                sp_tmpl[nspans] = -1;
                sp_flags[nspans] = 0;
                sp_run[nspans] = -1;
                span_start[nspans++] = i;
            }
            span0 = i;
            lh = 0x452821e638d01377ull;
            /* a vouched run starting here whose key an earlier run has: its
             * nodes are that run's, shifted (span_copy) */
            while (rc < nruns && runs[rc].first < i) rc++;
            if (L && rc < nruns && runs[rc].first == i && runs[rc].layer == L) {
                cur_run = rc++;
                sp_run[nspans - 1] = cur_run;
                uint64_t key = run_keys[cur_run] = run_key(&runs[cur_run], lay);
                int len = runs[cur_run].end - i, ts = -1, tr = -1;
                for (int r = cur_run - 1; key && r >= 0 && r >= cur_run - TWIN_LOOKBACK && ts < 0; r--)
                    if (run_span[r] >= 0 && run_keys[r] == key && runs[r].end - runs[r].first == len &&
                        same_subtree(L, runs[r].layer)) {
                        ts = run_span[r];
                        tr = r;
                    }
                if (ts >= 0 && len > 0) {
                    gwalk w = {lay, off, in_off, inn, ins, ne, cape, nslots};
                    int c = sp_flags[ts] & SPAN_UNCOPYABLE
                                ? 0
                                : span_copy(ctx, g, X, &w, &runs[cur_run], &runs[tr], i, len, span_start[ts]);
                    if (c < 0) return false;
                    if (c > 0) {
                        inn = w.inn;
                        ins = w.ins;
                        ne = w.ne;
                        cape = w.cape;
                        nslots = w.nslots;
                        span_hash[nspans - 1] = span_hash[ts];
                        sp_tmpl[nspans - 1] = sp_tmpl[ts] >= 0 ? sp_tmpl[ts] : ts;
                        sp_flags[nspans - 1] = SPAN_COPIED | (sp_flags[ts] & SPAN_FRESH);
                        /* a stream from elsewhere than the first instance's (which the rules
                         * reading a first instance's tensors must not shift) */
                        int root = sp_tmpl[nspans - 1], rr = sp_run[root];
                        for (int k = 0; k < runs[cur_run].nstream; k++)
                            if (rr < 0 || from_word(&runs[cur_run], k, lay) != from_word(&runs[rr], k, lay))
                                sp_flags[nspans - 1] |= SPAN_RESTREAMED;
                        copied = true;
                        prev = L;
                        memo_st = nodes[i + len - 1]->stack;
                        memo_lay = L;
                        i += len - 1;
                        continue;
                    }
                }
            }
        }
        prev = L;
        if (!nd) break;
    same_span:
        lay[i] = L;
        off[i] = nslots;
        in_off[i] = ne;
        nslots += nd->nout > 0 ? nd->nout : 1;
        if (twins && L) {
            uint64_t h = hmix(hmix(0x13198a2e03707344ull, ((uint64_t)(uint32_t)nd->opid << 32) | (uint32_t)nd->op),
                              ((uint64_t)(uint32_t)nd->nout << 32) | (uint32_t)nd->nargs);
            if (nd->nkwargs) h = hmix(h, (uint64_t)(uint32_t)nd->nkwargs + 0x3c6ef372u);
            /* An op's target follows from its id, and its outputs from its
             * inputs (hashed with their producers) and arguments: the shape
             * rules are functions of them, except nonzero's fresh symbol. */
            bool op = nd->opid >= 0 && (nd->op == MT_NODE_CALL_FUNCTION || nd->op == MT_NODE_CALL_METHOD);
            if (nd->op == MT_NODE_PLACEHOLDER || nd->op == MT_NODE_OUTPUT) sp_flags[nspans - 1] |= SPAN_UNCOPYABLE;
            if (nd->opid == MT_OP_NONZERO) sp_flags[nspans - 1] |= SPAN_FRESH;
            if (nd->op == MT_NODE_CALL_MODULE) h = nd->module ? hmodule(h, nd->module) : hmix(h, 1);
            else if (nd->op != MT_NODE_GET_ATTR && !op) h = hmix(h, (uint64_t)(uintptr_t)nd->target);
            if (!op || nd->opid == MT_OP_NONZERO) {
                bool attr = nd->op == MT_NODE_GET_ATTR;
                for (int o = 0; o < nd->nout; o++) h = hmix(h, htensor(&nd->outs[o], attr));
                /* a parameter or a buffer (the one requires grad) */
                if (attr) h = hmix(h, nd->param ? 1u + (unsigned)nd->param->is_buffer : 0u);
            }
            const mt_arg *args = nd->args;
            for (int a = 0; a < nd->nargs; a++) GX_ARG(&args[a], h)
            for (int a = 0; a < nd->nkwargs; a++) {
                h = hmix(h, (uint64_t)(uintptr_t)nd->kwargs[a].name);
                GX_ARG(&nd->kwargs[a].value, h)
            }
            lh = hmix(lh, h ^ (h >> 29));
        } else {
            for (int a = 0; a < nd->nargs; a++) GX_ARG_EDGES(&nd->args[a])
            for (int a = 0; a < nd->nkwargs; a++) GX_ARG_EDGES(&nd->kwargs[a].value)
        }
        if (nd->op == MT_NODE_PLACEHOLDER) {
            if (nd->name && strcmp(nd->name, "decoder_input_ids") == 0) X->ids_dec = nph;
            nph++;
        } else if (nd->opid == MT_OP_SDPA || nd->opid == MT_OP_SOFTMAX) {
            if (!ilist_push(ctx, &X->cand, &X->ncand, &X->capcand, i)) return false;
        } else if (nd->op == MT_NODE_OUTPUT) {
            if (!ilist_push(ctx, &X->outputs, &X->noutputs, &X->capoutputs, i)) return false;
        }
    }
#undef GX_ARG_EDGES
#undef GX_ARG
#undef GX_ITEM
#undef GX_FROM
#undef GX_EDGE
    off[g->n] = nslots;
    in_off[g->n] = ne;
    X->off = off;
    X->in_off = in_off;
    X->lay = lay;
    X->in_node = inn;
    X->in_slot = ins;
    X->nedges = ne;
    X->capedges = cape;
    X->nslots = nslots;
    if (twins) {
        span_start[nspans] = g->n;
        X->sp_start = span_start;
        X->sp_tmpl = sp_tmpl;
        X->sp_hash = span_hash;
        X->sp_flags = sp_flags;
        X->sp_run = sp_run;
        X->runs = runs;
        X->nspans = nspans;
    }
    if (X->ids_dec < 0) return true;
    X->deps = mt_alloc_array(ctx, n + 1, sizeof *X->deps);
    if (!X->deps) return false;
    nph = 0;
    for (int i = 0; i < g->n; i++) {
        FOR_INPUTS(X, i, e) X->deps[i] |= X->deps[X->in_node[e]];
        if (g->nodes[i]->op == MT_NODE_PLACEHOLDER && nph < 64) X->deps[i] |= (uint64_t)1 << nph++;
    }
    return true;
}

/* The identical layer's node at the same place as node i of span k (its
 * first instance's), -1: none. */
static int twin_of(const gindex *X, int k, int i) {
    int t = X->sp_start ? X->sp_tmpl[k] : -1;
    return t >= 0 ? X->sp_start[t] + (i - X->sp_start[k]) : -1;
}

/* The span holding node i. */
static int span_of(const gindex *X, int i) {
    int lo = 0, hi = X->nspans - 1;
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (X->sp_start[mid] <= i) lo = mid;
        else hi = mid - 1;
    }
    return lo;
}

/* ---- checking the vouch (tests) ----------------------------------------------------
 * Span a (a copy) against span t (its template), node by node, reading every
 * argument: the same op, module structure, parameters, scalars, output types
 * and wiring (an input made in its own span at the same place, outside the
 * layers the same output, in another layer as far back), with the fresh
 * symbols each nonzero makes renamed: the k-th of the copy and of the
 * template are both bound to the same large value, distinct per k, so two
 * shapes compare as the expressions left once those are substituted (batch,
 * seq and the like stay symbols), and each one's stream inputs (its run's)
 * pair up. Slow (a substitution per distinct shape, memoised);
 * for mt__sizing_check_runs only. */
typedef struct renaming {
    mt_ctx *ctx;
    const mt__layer_run *rx, *ry; /* the copy's run and the template's (their stream inputs correspond) */
    const char **names;
    int64_t *vals;
    int n, cap;
    mtx_ptrmap memo; /* expression -> substituted (reset as names are added) */
} renaming;

static const mt_sym *canon(renaming *R, const mt_sym *s) {
    if (!s || R->n == 0) return s;
    const mt_sym *c = mtx_ptrmap_get(&R->memo, s);
    if (c) return c;
    mt_binding b = {R->names, R->vals, R->n};
    c = mt_sym_subst(R->ctx, s, &b);
    if (c) mtx_ptrmap_put(&R->memo, s, (void *)c);
    return c;
}

static bool rename_fresh(renaming *R, const mt_sym *x, const mt_sym *y) {
    const mt_symbol_info *ix = mt_sym_info_of(R->ctx, x), *iy = mt_sym_info_of(R->ctx, y);
    if (!ix || !iy) return x == y;
    if (R->n + 2 > R->cap) {
        int nc = R->cap ? 2 * R->cap : 64;
        const char **nn = mt__alloc_raw(R->ctx, (size_t)nc * sizeof *nn);
        int64_t *nv = mt__alloc_raw(R->ctx, (size_t)nc * sizeof *nv);
        if (!nn || !nv) return false;
        if (R->n) {
            memcpy(nn, R->names, (size_t)R->n * sizeof *nn);
            memcpy(nv, R->vals, (size_t)R->n * sizeof *nv);
        }
        R->names = nn;
        R->vals = nv;
        R->cap = nc;
    }
    /* (distinct values above any size a test config reaches) */
    int64_t v = 1000003 + 7919 * (int64_t)(R->n / 2) * 2;
    R->names[R->n] = ix->name;
    R->vals[R->n++] = v;
    R->names[R->n] = iy->name;
    R->vals[R->n++] = v;
    mtx_ptrmap_free(&R->memo);
    mtx_ptrmap_init(&R->memo, R->ctx);
    return true;
}

static bool types_same(renaming *R, const mt_tensor *x, const mt_tensor *y) {
    if (x->dtype != y->dtype || x->ndim != y->ndim) return false;
    for (int d = 0; d < x->ndim; d++)
        if (canon(R, x->shape[d]) != canon(R, y->shape[d])) return false;
    return true;
}

static bool args_same(renaming *R, const gindex *X, const mt_arg *x, const mt_arg *y, int ia, int it, int a, int t) {
    if (x->kind != y->kind) return false;
    switch (x->kind) {
    case MT_ARG_TENSOR: {
        const mt_tensor *p = x->v.t, *q = y->v.t;
        if (!p || !q || !p->node || !q->node) return p == q;
        int pi = p->node->index, qi = q->node->index;
        /* each one's own stream input k (its vouched run's) */
        for (int k = 0; R->rx && R->ry && k < R->rx->nstream && k < R->ry->nstream; k++)
            if (p == R->rx->in[k] && q == R->ry->in[k]) return types_same(R, p, q);
        if ((int)(p - p->node->outs) != (int)(q - q->node->outs)) return false;
        if (pi >= a) return pi - a == qi - t;            /* made in the span: at the same place */
        if (!X->lay[pi]) return p == q;                  /* outside the layers: the same output */
        return X->lay[qi] && ia - pi == it - qi && types_same(R, p, q); /* another layer: as far back */
    }
    case MT_ARG_SYM: return canon(R, x->v.sym) == canon(R, y->v.sym);
    case MT_ARG_SLICE:
        return canon(R, x->v.slice.start) == canon(R, y->v.slice.start) &&
               canon(R, x->v.slice.stop) == canon(R, y->v.slice.stop) &&
               canon(R, x->v.slice.step) == canon(R, y->v.slice.step);
    case MT_ARG_LIST:
        if (x->v.list.n != y->v.list.n) return false;
        for (int i = 0; i < x->v.list.n; i++)
            if (!args_same(R, X, &x->v.list.items[i], &y->v.list.items[i], ia, it, a, t)) return false;
        return true;
    default: return attr_same(x, y);
    }
}

static bool span_same(mt_ctx *ctx, const mt_graph *g, const gindex *X, int a, int t, int len,
                      const mt__layer_run *rx, const mt__layer_run *ry) {
    renaming R = {.ctx = ctx, .rx = rx, .ry = ry};
    mtx_ptrmap_init(&R.memo, ctx);
    bool ok = true;
    for (int j = 0; ok && j < len; j++) {
        const mt_node *x = g->nodes[a + j], *y = g->nodes[t + j];
        if (x->op != y->op || x->opid != y->opid || x->nout != y->nout || x->nargs != y->nargs ||
            x->nkwargs != y->nkwargs || x->is_tuple != y->is_tuple) {
            ok = false;
            break;
        }
        if (x->op == MT_NODE_CALL_MODULE) ok = x->module && y->module && same_module(x->module, y->module);
        else if (x->op == MT_NODE_GET_ATTR) ok = x->param && y->param && x->param->is_buffer == y->param->is_buffer;
        else if (x->opid < 0) ok = x->target == y->target || (x->target && y->target && strcmp(x->target, y->target) == 0);
        if (ok && x->opid == MT_OP_NONZERO && x->nout >= 1 && x->outs[0].ndim > 0)
            ok = rename_fresh(&R, x->outs[0].shape[0], y->outs[0].shape[0]);
        for (int o = 0; ok && o < x->nout; o++) ok = types_same(&R, &x->outs[o], &y->outs[o]);
        for (int i = 0; ok && i < x->nargs; i++) ok = args_same(&R, X, &x->args[i], &y->args[i], a + j, t + j, a, t);
        for (int i = 0; ok && i < x->nkwargs; i++)
            ok = x->kwargs[i].name == y->kwargs[i].name &&
                 args_same(&R, X, &x->kwargs[i].value, &y->kwargs[i].value, a + j, t + j, a, t);
    }
    mtx_ptrmap_free(&R.memo);
    return ok;
}

int mt__sizing_check_runs(mt_ctx *ctx, const mt_graph *g, int *confirmed) {
    gindex V, F; /* vouched, and every node read */
    *confirmed = 0;
    if (!gindex_build(ctx, g, &V, true, true) || !gindex_build(ctx, g, &F, true, false)) return -1;
    if (V.nspans != F.nspans) return -1;
    int copied = 0;
    for (int k = 0; k < V.nspans; k++) {
        if (!(V.sp_flags[k] & SPAN_COPIED)) continue;
        copied++;
        int t = V.sp_tmpl[k], len = V.sp_start[k + 1] - V.sp_start[k];
        if (V.sp_start[k] != F.sp_start[k] || V.sp_start[t + 1] - V.sp_start[t] != len) continue;
        if (V.sp_run[k] < 0 || V.sp_run[t] < 0) continue;
        /* read node by node (fresh symbols renamed, each its own stream); the structural hash
         * agrees too, with the first instance or an earlier copy of it, unless the span has
         * fresh symbols or takes its stream from elsewhere than the first instance */
        bool hash_ok = F.sp_hash[k] == F.sp_hash[t];
        for (int p = t + 1; !hash_ok && p < k; p++) hash_ok = V.sp_tmpl[p] == t && F.sp_hash[p] == F.sp_hash[k];
        if (span_same(ctx, g, &F, V.sp_start[k], V.sp_start[t], len, &V.runs[V.sp_run[k]], &V.runs[V.sp_run[t]]) &&
            (hash_ok || (V.sp_flags[k] & (SPAN_FRESH | SPAN_RESTREAMED))))
            ++*confirmed;
    }
    return copied;
}

/* Consumers of each node (CSR), built on first use: only eager attention
 * walks forward from its softmax. */
static bool gindex_consumers(mt_ctx *ctx, const mt_graph *g, gindex *X) {
    if (X->cons) return true;
    X->cons_off = mt_alloc_array(ctx, (size_t)g->n + 2, sizeof *X->cons_off);
    int *fill = mt_alloc_array(ctx, (size_t)g->n + 1, sizeof *fill);
    if (!X->cons_off || !fill) return false;
    for (int e = 0; e < X->nedges; e++) X->cons_off[X->in_node[e] + 1]++;
    for (int i = 0; i < g->n; i++) X->cons_off[i + 1] += X->cons_off[i];
    X->cons_off[g->n + 1] = X->cons_off[g->n];
    X->cons = mt__alloc_raw(ctx, ((size_t)X->cons_off[g->n] + 1) * sizeof *X->cons);
    if (!X->cons) return false;
    for (int i = 0; i < g->n; i++)
        FOR_INPUTS(X, i, e) {
            int p = X->in_node[e];
            X->cons[X->cons_off[p] + fill[p]++] = i;
        }
    return true;
}

/* ---- attention recognition ------------------------------------------------------- */

static bool is_op(const mt_node *n, int op) { return n && n->opid == op; }

/* Ops that only reshape or broadcast (the cached tensor is the smallest one
 * walking back through them: repeat_kv's expand, head views, transposes). */
static bool shape_only(const mt_node *n) {
    switch (n->opid) {
    case MT_OP_VIEW: case MT_OP_RESHAPE: case MT_OP_TRANSPOSE: case MT_OP_PERMUTE: case MT_OP_CONTIGUOUS:
    case MT_OP_UNSQUEEZE: case MT_OP_SQUEEZE: case MT_OP_EXPAND: case MT_OP_REPEAT_INTERLEAVE:
    case MT_OP_FLATTEN: case MT_OP_GETITEM:
        return true;
    default:
        return false;
    }
}

/* Walk back through shape-only ops while the numel does not drop going back
 * (a slice of a fused projection drops it: stop there). */
static long double ev_numel(struct evaluator *E, const mt_tensor *t, const mt_node *n);

static const mt_tensor *cached_source(struct evaluator *E, const mt_tensor *t) {
    while (t && t->node && shape_only(t->node)) {
        const mt_node *n = t->node;
        const mt_tensor *in = mt__node_input(n);
        if (!in || (n->opid == MT_OP_GETITEM && in->node && in->node->is_tuple)) break;
        bool grow = n->opid == MT_OP_EXPAND || n->opid == MT_OP_REPEAT_INTERLEAVE;
        if (!grow && ev_numel(E, in, n) != ev_numel(E, t, n)) break;
        t = in;
    }
    return t;
}

/* Elementwise steps between the score matmul and the softmax (scale, soft-cap,
 * bias, mask, casts, sinks concatenated). */
static bool score_step(const mt_node *n) {
    switch (n->opid) {
    case MT_OP_ADD: case MT_OP_SUB: case MT_OP_MUL: case MT_OP_TRUEDIV: case MT_OP_TANH: case MT_OP_TO:
    case MT_OP_TYPE_AS: case MT_OP_MASKED_FILL: case MT_OP_CAT: case MT_OP_WHERE: case MT_OP_CONTIGUOUS:
    case MT_OP_VIEW: case MT_OP_RESHAPE:
        return true;
    default:
        return false;
    }
}

static bool prob_step(const mt_node *n) {
    switch (n->opid) {
    case MT_OP_TO: case MT_OP_TYPE_AS: case MT_OP_DROPOUT: case MT_OP_GETITEM: case MT_OP_CONTIGUOUS:
    case MT_OP_VIEW: case MT_OP_RESHAPE:
        return true;
    default:
        return n->op == MT_NODE_CALL_MODULE && n->module && n->module->leaf == MT_LEAF_DROPOUT;
    }
}

typedef struct core {
    const mt_node *node;      /* sdpa or softmax */
    const mt_node *scores_mm; /* eager: q @ k^T */
    const mt_node *pv_mm;     /* eager: probs @ v */
    const mt_tensor *q, *k, *v, *mask;
    const mt_sym *sq, *sk;    /* query and key lengths */
    bool chunked;             /* causal with a chunked mask (window = the chunk) */
} core;

/* The right operand of a score matmul is the key laid out [.., head_dim,
 * keys]: a transpose, permute or reshape of it. */
static bool key_layout(const mt_node *mm) {
    const mt_tensor *kt = mt__node_tensor(mm, "other");
    return kt && kt->node &&
           (is_op(kt->node, MT_OP_TRANSPOSE) || is_op(kt->node, MT_OP_PERMUTE) || is_op(kt->node, MT_OP_RESHAPE) ||
            is_op(kt->node, MT_OP_VIEW));
}

/* Search back from the softmax input through score steps for the score
 * matmul, trying the most recent operand first (the bias or mask branch
 * ends elsewhere and is abandoned). */
static const mt_node *find_scores(const mt_tensor *t, int depth, int *seen, int epoch) {
    if (!t || !t->node || depth > 24 || seen[t->node->index] == epoch) return NULL;
    const mt_node *n = t->node;
    seen[n->index] = epoch;
    if (is_op(n, MT_OP_MATMUL)) return key_layout(n) ? n : NULL;
    if (!score_step(n)) return NULL;
    enum { CAP = 8 };
    const mt_tensor *cand[CAP];
    int nc = 0;
    for (int a = 0; a < n->nargs; a++) {
        const mt_arg *x = &n->args[a];
        int ni = x->kind == MT_ARG_LIST ? x->v.list.n : 1;
        for (int j = 0; j < ni; j++) {
            const mt_tensor *c = arg_tensor(x->kind == MT_ARG_LIST ? &x->v.list.items[j] : x);
            if (c && c->node && nc < CAP) cand[nc++] = c;
        }
    }
    for (int i = 1; i < nc; i++)
        for (int j = i; j > 0 && cand[j]->node->index > cand[j - 1]->node->index; j--) {
            const mt_tensor *tmp = cand[j];
            cand[j] = cand[j - 1];
            cand[j - 1] = tmp;
        }
    for (int i = 0; i < nc; i++) {
        const mt_node *r = find_scores(cand[i], depth + 1, seen, epoch);
        if (r) return r;
    }
    return NULL;
}

/* An eager core: the softmax reached from a matmul whose right operand is a
 * key in [.., head_dim, keys] layout, feeding a matmul with the values. */
static bool eager_core(const mt_graph *g, const gindex *X, const mt_node *sm, core *c, int *seen, int epoch) {
    c->scores_mm = find_scores(mt__node_input(sm), 0, seen, epoch);
    const mt_tensor *kt = c->scores_mm ? mt__node_tensor(c->scores_mm, "other") : NULL;
    if (!kt) return false;
    /* forward from the softmax to the matmul with v */
    const mt_node *n = sm;
    for (int guard = 0; guard < 8 && !c->pv_mm; guard++) {
        const mt_node *nx = NULL;
        for (int j = X->cons_off[n->index]; j < X->cons_off[n->index + 1]; j++) {
            const mt_node *u = g->nodes[X->cons[j]];
            if (is_op(u, MT_OP_MATMUL) && mt__node_tensor(u, "other") && mt__node_tensor(u, "input") &&
                mt__node_tensor(u, "input")->node == n) {
                c->pv_mm = u;
                break;
            }
            if (prob_step(u) && !nx) nx = u;
        }
        if (!nx) break;
        n = nx;
    }
    if (!c->pv_mm) return false;
    const mt_tensor *sc = &c->scores_mm->outs[0];
    c->node = sm;
    c->q = mt__node_tensor(c->scores_mm, "input");
    c->k = kt;
    c->v = mt__node_tensor(c->pv_mm, "other");
    c->sq = sc->shape[sc->ndim - 2];
    c->sk = sc->shape[sc->ndim - 1];
    c->mask = mt__node_input(sm); /* the scores after the mask: its ancestry holds the mask */
    return c->q && c->k && c->v;
}

static bool sdpa_core(const mt_node *n, core *c) {
    c->node = n;
    c->q = mt__node_tensor(n, "query");
    c->k = mt__node_tensor(n, "key");
    c->v = mt__node_tensor(n, "value");
    c->mask = mt__node_tensor(n, "attn_mask");
    if (!c->q || !c->k || !c->v || c->q->ndim < 2) return false;
    c->sq = c->q->shape[c->q->ndim - 2];
    c->sk = c->k->shape[c->k->ndim - 2];
    return true;
}

static bool kwarg_true(const mt_node *n, const char *name) {
    for (int i = 0; i < n->nkwargs; i++)
        if (strcmp(n->kwargs[i].name, name) == 0) return n->kwargs[i].value.kind == MT_ARG_BOOL && n->kwargs[i].value.v.b;
    return false;
}

/* Mask facts found in the ancestry of a mask tensor: a triu (causal) and
 * "q - k >= window" (sliding window) or "q // chunk" (chunked attention).
 * Walks constructor/elementwise nodes only:
 * it stops at modules, parameters and matmuls, so it stays in the mask
 * subgraph. The result is cached per node (masks are shared by layers). */
typedef struct maskinfo {
    bool done, causal;
    int64_t window;
    bool chunked;  /* the window is a chunk (from a floordiv) */
    bool local;    /* the scan met only nodes of the mask's own layer or outside the layers */
} maskinfo;

static void mask_scan(const mt_graph *g, const gindex *X, const mt_node *root, maskinfo *mi, int *seen, int epoch,
                      int *stack, int cap) {
    int sp = 0;
    stack[sp++] = root->index;
    seen[root->index] = epoch;
    const mt_module *L0 = X->lay[root->index];
    mi->local = true;
    while (sp > 0) {
        int i = stack[--sp];
        const mt_node *n = g->nodes[i];
        if (X->lay[i] && X->lay[i] != L0) mi->local = false;
        if (n->opid == MT_OP_TRIU) mi->causal = true;
        /* q - k >= window (sliding), or q // chunk != k // chunk (Llama 4's chunked attention: at most
         * chunk keys are held, reported as a window of chunk) */
        int64_t w = 0;
        if ((n->opid == MT_OP_GE || n->opid == MT_OP_FLOORDIV) && mt__node_int(n, "other", &w) && w > 0) {
            if (mi->window == 0 || w < mi->window) {
                mi->window = w;
                mi->chunked = n->opid == MT_OP_FLOORDIV;
            }
        }
        if (n->op == MT_NODE_CALL_MODULE || n->op == MT_NODE_GET_ATTR || n->opid == MT_OP_MATMUL ||
            n->opid == MT_OP_LINEAR || n->opid == MT_OP_SDPA)
            continue;
        FOR_INPUTS(X, i, e) {
            int p = X->in_node[e];
            if (seen[p] != epoch && sp < cap) {
                seen[p] = epoch;
                stack[sp++] = p;
            }
        }
    }
    mi->done = true;
}

/* MLA: the key is decompressed from a latent inside the attention module (a
 * Linear fed by another Linear of the same module). Returns the latent width
 * (out_features of the module's entry Linears on the key path), 0 otherwise. */
static bool under(const mt_node *n, const mt_module *m) {
    for (int d = 0; n->stack && d < n->stack->depth; d++)
        if (n->stack->mods[d] == m) return true;
    return false;
}

static int64_t mla_latent(const mt_graph *g, const gindex *X, const mt_tensor *k, const mt_module *attn, int *seen,
                          int epoch, int *stack, int cap) {
    if (!k || !k->node || !attn) return 0;
    int sp = 0, nlin = 0;
    int64_t entry = 0;
    stack[sp++] = k->node->index;
    seen[k->node->index] = epoch;
    const mt_modstack *in_st = NULL; /* the last stack found inside: nodes share stacks */
    while (sp > 0) {
        int i = stack[--sp];
        const mt_node *n = g->nodes[i];
        if (n->stack != in_st) {
            if (!under(n, attn)) continue;
            in_st = n->stack;
        }
        bool lin = n->op == MT_NODE_CALL_MODULE && n->module && n->module->leaf == MT_LEAF_LINEAR;
        if (lin) {
            nlin++;
            const mt_tensor *x = mt__node_input(n);
            bool from_inside = x && x->node && under(x->node, attn);
            const mt_arg *of = mt_module_get_attr(n->module, "out_features");
            if (!from_inside && of && of->kind == MT_ARG_INT) entry += of->v.i;
        }
        FOR_INPUTS(X, i, e) {
            int p = X->in_node[e];
            if (seen[p] != epoch && sp < cap) {
                seen[p] = epoch;
                stack[sp++] = p;
            }
        }
    }
    return nlin >= 2 ? entry : 0;
}

static const mt_module *core_module(const mt_node *n) {
    return n->stack && n->stack->depth > 0 ? n->stack->mods[n->stack->depth - 1] : NULL;
}

/* ---- the pass ----------------------------------------------------------------------- */

typedef struct sizer {
    mt_ctx *ctx;
    mt_model *m;
    const mt_graph *g;
    const mt_sizing_opts *o;
    gindex X;
    evaluator E;
    core *cores;
    int ncores;
    int *core_of;    /* node -> 1 + the attention core it belongs to (pair-proportional FLOPs), 0: none */
    int *marks, nmarks, capmarks; /* the nodes with a core_of, in the order find_cores marks them */
    bool marks_sorted;
    bool dec_given;  /* bound trace: noncore_dec comes from the model traced with symbolic inputs */
    long double noncore_dec;
    int *seen, *stack;
    int epoch;
} sizer;

static int64_t config_context(sizer *S, const char **note) {
    const char *where;
    bool dflt;
    int64_t v = mt__model_max_positions(S->m, &where, &dflt);
    if (v <= 0) {
        *note = "no max_position_embeddings in the config: 4096 assumed";
        return 4096;
    }
    if (v > MT_SIZING_CONTEXT_CAP) {
        *note = mt_sprintf(S->ctx, "%s %lld capped at %d", where, (long long)v, MT_SIZING_CONTEXT_CAP);
        return MT_SIZING_CONTEXT_CAP;
    }
    *note = dflt ? mt_sprintf(S->ctx, "%s (not in the config)", where) : mt_sprintf(S->ctx, "the config's %s", where);
    return v;
}

static int core_at(const sizer *S, int node);
static const mt_tensor *shifted(const mt_graph *g, const mt_tensor *t, int d);

/* A tensor argument of a node of an identical layer, seen from its first
 * instance d nodes earlier: made in a layer, it is made d nodes later (the
 * layer hash holds how far back each input comes from); outside the layers,
 * the same tensor. */
static const mt_tensor *shift_arg(const sizer *S, const mt_tensor *t, int d) {
    if (!t || !t->node || !S->X.lay[t->node->index]) return t;
    return shifted(S->g, t, d);
}

/* The attention core at node i when its layer is identical to an earlier
 * one whose node at the same place is a core: the same core shifted (its
 * kind, window and cached tensors are still analysed on their own). */
static bool shift_core(sizer *S, int i, core *c) {
    const gindex *X = &S->X;
    int k = X->sp_start && X->lay[i] ? span_of(X, i) : -1;
    int tw = k >= 0 ? twin_of(X, k, i) : -1;
    int j = tw >= 0 ? core_at(S, tw) : -1;
    if (j < 0) return false;
    const core *t = &S->cores[j];
    int d = i - tw;
    if (!t->q || !t->k || !t->v || !t->q->node || !t->k->node || !t->v->node) return false;
    /* (a copy whose stream came from elsewhere: a query, key or value made before its first
     * instance, the stream itself, is not that tensor shifted; found on its own instead) */
    int t0 = X->sp_start[X->sp_tmpl[k]];
    if ((X->sp_flags[k] & SPAN_RESTREAMED) &&
        (t->q->node->index < t0 || t->k->node->index < t0 || t->v->node->index < t0))
        return false;
    if (t->scores_mm) {
        if (!X->lay[t->scores_mm->index] || !X->lay[t->pv_mm->index]) return false;
        c->scores_mm = S->g->nodes[t->scores_mm->index + d];
        c->pv_mm = S->g->nodes[t->pv_mm->index + d];
        const mt_tensor *sc = &c->scores_mm->outs[0];
        c->sq = sc->shape[sc->ndim - 2];
        c->sk = sc->shape[sc->ndim - 1];
    }
    c->node = S->g->nodes[i];
    c->q = shift_arg(S, t->q, d);
    c->k = shift_arg(S, t->k, d);
    c->v = shift_arg(S, t->v, d);
    c->mask = shift_arg(S, t->mask, d);
    if (!t->scores_mm) {
        c->sq = c->q->shape[c->q->ndim - 2];
        c->sk = c->k->shape[c->k->ndim - 2];
    }
    return true;
}

/* Node i now belongs to a core: listed (for counting a span's, marked_in). */
static bool mark(sizer *S, int i) {
    if (S->nmarks == 0) S->marks_sorted = true;
    else if (S->marks[S->nmarks - 1] >= i) S->marks_sorted = false;
    return ilist_push(S->ctx, &S->marks, &S->nmarks, &S->capmarks, i);
}

/* How many nodes of [a, b) belong to a core (marks sorted). */
static int marked_in(const sizer *S, int a, int b) {
    int lo = 0, hi = S->nmarks;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (S->marks[mid] < a) lo = mid + 1;
        else hi = mid;
    }
    int k = lo;
    hi = S->nmarks;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (S->marks[mid] < b) lo = mid + 1;
        else hi = mid;
    }
    return lo - k;
}

static bool find_cores(sizer *S) {
    const mt_graph *g = S->g;
    S->cores = mt_alloc_array(S->ctx, (size_t)S->X.ncand + 1, sizeof *S->cores);
    S->core_of = mt_alloc_array(S->ctx, (size_t)g->n + 1, sizeof *S->core_of);
    if (!S->cores || !S->core_of) return false;
    for (int ci = 0; ci < S->X.ncand; ci++) {
        int i = S->X.cand[ci];
        const mt_node *n = g->nodes[i];
        core c;
        memset(&c, 0, sizeof c);
        bool ok = shift_core(S, i, &c);
        if (!ok && n->opid == MT_OP_SOFTMAX && !gindex_consumers(S->ctx, g, &S->X)) return false;
        if (!ok)
            ok = n->opid == MT_OP_SDPA ? sdpa_core(n, &c)
                 : n->opid == MT_OP_SOFTMAX && eager_core(g, &S->X, n, &c, S->seen, ++S->epoch);
        if (!ok) continue;
        S->cores[S->ncores++] = c;
        if (n->opid == MT_OP_SDPA) {
            S->core_of[i] = S->ncores;
            if (!mark(S, i)) return false;
            continue;
        }
        /* eager: every node from the score matmul to the value matmul */
        for (int j = c.scores_mm->index; j <= c.pv_mm->index; j++) {
            const mt_node *u = g->nodes[j];
            if (u->stack != c.node->stack && u != c.scores_mm && u != c.pv_mm) continue;
            if (u->nout < 1 || u->outs[0].ndim < 2) continue;
            const mt_tensor *o = &u->outs[0];
            if ((u == c.pv_mm || (o->shape[o->ndim - 1] == c.sk && o->shape[o->ndim - 2] == c.sq) ||
                 u == c.scores_mm) && !S->core_of[j]) {
                S->core_of[j] = S->ncores;
                if (!mark(S, j)) return false;
            }
        }
    }
    return true;
}

/* A core in a layer identical to an earlier one (same structure and wiring,
 * see "identical layers") caches what the core at the same place there
 * caches, when the walks that found it stayed inside the layer (its cached
 * K/V are nodes of the layer, its MLA walk never leaves its attention module)
 * and it has the same kind. Its kind and window are read off its own mask. */
static int core_at(const sizer *S, int node) {
    int lo = 0, hi = S->ncores - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2, at = S->cores[mid].node->index;
        if (at == node) return mid;
        if (at < node) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}

static const mt_tensor *shifted(const mt_graph *g, const mt_tensor *t, int d) {
    const mt_node *n = g->nodes[t->node->index + d];
    return &n->outs[t - t->node->outs];
}

static bool reuse_kv(sizer *S, mt_sizing *out, int i) {
    const gindex *X = &S->X;
    const core *c = &S->cores[i];
    int at = c->node->index, tw = X->sp_start ? twin_of(X, span_of(X, at), at) : -1;
    int j = tw >= 0 ? core_at(S, tw) : -1;
    if (j < 0) return false;
    const mt_sizing_attn *aj = &out->attn[j];
    mt_sizing_attn *a = &out->attn[i];
    const mt_module *L = X->lay[tw];
    if (aj->kind != a->kind || !aj->key || !aj->value || !aj->key->node || !aj->value->node ||
        X->lay[aj->key->node->index] != L || X->lay[aj->value->node->index] != L)
        return false;
    int d = at - tw;
    a->heads = aj->heads;
    a->kv_heads = aj->kv_heads;
    a->head_dim_k = aj->head_dim_k;
    a->head_dim_v = aj->head_dim_v;
    a->mla = aj->mla;
    a->mla_latent = aj->mla_latent;
    a->cache_bytes_per_token = aj->cache_bytes_per_token;
    a->key = shifted(S->g, aj->key, d);
    a->value = shifted(S->g, aj->value, d);
    return true;
}

static mt_status analyse_attention(sizer *S, mt_sizing *out) {
    mt_ctx *ctx = S->ctx;
    const mt_graph *g = S->g;
    maskinfo *mi = mt_alloc_array(ctx, (size_t)S->ncores + 1, sizeof *mi); /* per core, by its mask */
    out->attn = mt_alloc_array(ctx, (size_t)S->ncores + 1, sizeof *out->attn);
    if (!mi || !out->attn) return mt_ctx_status(ctx);
    out->nattn = S->ncores;
    int64_t batch = S->E.in_vals[0];
    const mt_sym *batch_sym = S->m->inputs.n > 0 ? ((const mt_tensor *)S->m->inputs.items[0])->shape[0] : NULL;
    for (int i = 0; i < S->ncores; i++) {
        core *c = &S->cores[i];
        mt_sizing_attn *a = &out->attn[i];
        const mt_module *mod = core_module(c->node);
        a->core = c->node;
        a->eager = c->node->opid != MT_OP_SDPA;
        a->module = mod ? mod->path : "";
        a->layer = i;
        /* kind: cross when the query depends on an input the key does not;
         * else causal when its mask holds a triu (or is_causal) */
        bool encdec = S->X.ids_dec >= 0;
        uint64_t dq = encdec && c->q->node ? S->X.deps[c->q->node->index] : 0;
        uint64_t dk = encdec && c->k->node ? S->X.deps[c->k->node->index] : 0;
        maskinfo info = {0};
        if (c->mask && c->mask->node) {
            /* masks are shared by layers: scanned once */
            maskinfo *slot = &mi[i];
            /* a mask made in a layer identical to an earlier one, from nodes of
             * that layer and outside the layers only: the earlier mask's facts */
            int at = c->node->index, tw = S->X.sp_start && S->X.lay[at] ? twin_of(&S->X, span_of(&S->X, at), at) : -1;
            int j0 = tw >= 0 ? core_at(S, tw) : -1;
            if (j0 >= 0 && mi[j0].done && mi[j0].local && S->cores[j0].mask && S->cores[j0].mask->node &&
                S->X.lay[S->cores[j0].mask->node->index] == S->X.lay[tw] &&
                c->mask->node->index - S->cores[j0].mask->node->index == at - tw)
                *slot = mi[j0];
            for (int j = i - 1; j >= 0 && !slot->done; j--)
                if (mi[j].done && S->cores[j].mask && S->cores[j].mask->node == c->mask->node) {
                    *slot = mi[j];
                    break;
                }
            if (!slot->done) {
                S->epoch++;
                mask_scan(g, &S->X, c->mask->node, slot, S->seen, S->epoch, S->stack, g->n);
            }
            info = *slot;
        }
        if (dq & ~dk) a->kind = MT_ATTN_CROSS;
        else if (info.causal || (!a->eager && kwarg_true(c->node, "is_causal"))) a->kind = MT_ATTN_CAUSAL;
        else a->kind = MT_ATTN_BIDIRECTIONAL;
        a->window = a->kind == MT_ATTN_CAUSAL ? info.window : 0;
        c->chunked = a->kind == MT_ATTN_CAUSAL && info.window > 0 && info.chunked;
        if (reuse_kv(S, out, i)) continue;
        /* cached tensors and their per-token widths */
        const mt_tensor *ks = cached_source(&S->E, c->k), *vs = cached_source(&S->E, c->v);
        /* the core's own batch: a vision tower's attention runs over images, not sequences */
        long double bq = (long double)batch;
        if (batch_sym && c->q->ndim == 4 && c->q->shape[0] != batch_sym &&
            (mt_sym_is_var(c->q->shape[0]) || mt_sym_is_const(c->q->shape[0])))
            bq = ev_node(&S->E, c->q->shape[0], c->node);
        long double tok = bq * ev_node(&S->E, c->sk, c->node);
        long double kel = tok > 0 ? ev_numel(&S->E, ks, c->node) / tok : 0;
        long double vel = tok > 0 ? ev_numel(&S->E, vs, c->node) / tok : 0;
        a->head_dim_k = c->q->ndim ? (int64_t)ev_node(&S->E, c->q->shape[c->q->ndim - 1], c->node) : 0;
        a->head_dim_v = c->v->ndim ? (int64_t)ev_node(&S->E, c->v->shape[c->v->ndim - 1], c->node) : 0;
        /* heads as cached: read on the value path (a key may be broadcast to the
         * query heads before its rotary, Falcon's new architecture) */
        a->kv_heads = a->head_dim_v > 0 ? (int64_t)llroundl(vel) / a->head_dim_v : 0;
        kel = (long double)a->kv_heads * (long double)a->head_dim_k;
        long double qel = bq * ev_node(&S->E, c->sq, c->node);
        a->heads = (qel > 0 && a->head_dim_k > 0)
                       ? (int64_t)llroundl(ev_numel(&S->E, c->q, c->node) / qel) / a->head_dim_k
                       : 0;
        S->epoch++;
        a->mla_latent = mla_latent(g, &S->X, c->k, mod, S->seen, S->epoch, S->stack, g->n);
        a->mla = a->mla_latent > 0;
        mt_dtype kdt = S->o->kv_dtype != MT_DTYPE_NONE ? S->o->kv_dtype : ks->dtype;
        size_t es = mt_dtype_size(kdt);
        long double per = a->mla && !S->o->mla_decompressed ? (long double)a->mla_latent : kel + vel;
        a->cache_bytes_per_token = a->kind == MT_ATTN_BIDIRECTIONAL ? 0 : (int64_t)llroundl(per * (long double)es);
        /* K and V an earlier core already caches (Gemma 4's KV-shared layers read the last
         * non-shared layer's): read from that cache, nothing added */
        for (int j = 0; j < i; j++)
            if (out->attn[j].key == ks && out->attn[j].value == vs) {
                a->cache_bytes_per_token = 0;
                break;
            }
        a->key = ks;
        a->value = vs;
        if (out->kv_dtype == MT_DTYPE_NONE) out->kv_dtype = kdt;
    }
    return MT_OK;
}

/* Keys one query of position i (0-based) sees under causal attention with a
 * window (0: none), summed over i < s. */
static long double causal_pairs(int64_t s, int64_t w);
/* The same under chunked attention (Llama 4): a query sees the keys of its own
 * chunk of c up to itself, (i mod c) + 1: c(c+1)/2 per whole chunk, r(r+1)/2 for
 * the last r = s mod c. */
static long double chunked_pairs(int64_t s, int64_t c) {
    if (c <= 0 || c >= s) return causal_pairs(s, 0);
    long double r = (long double)(s % c);
    return (long double)(s / c) * (long double)c * (long double)(c + 1) / 2 + r * (r + 1) / 2;
}

static long double causal_pairs(int64_t s, int64_t w) {
    if (w <= 0 || w >= s) return (long double)s * (long double)(s + 1) / 2;
    return (long double)w * (long double)(w + 1) / 2 + (long double)(s - w) * (long double)w;
}

static void kv_totals(sizer *S, mt_sizing *out) {
    int64_t L = out->context, batch = S->E.in_vals[0], seq = S->E.in_vals[1];
    for (int i = 0; i < out->nattn; i++) {
        const mt_sizing_attn *a = &out->attn[i];
        if (a->kind == MT_ATTN_CAUSAL) {
            out->has_kv = true;
            out->kv_bytes_per_token += a->cache_bytes_per_token;
            int64_t held = a->window > 0 && a->window < L ? a->window : L;
            out->kv_bytes_at_context += a->cache_bytes_per_token * held * batch;
        } else if (a->kind == MT_ATTN_CROSS) {
            out->kv_cross_bytes += a->cache_bytes_per_token * seq * batch;
        }
    }
}

/* ---- recurrent state --------------------------------------------------------------
 * A Mamba mixer is a module with a torch.nn.Conv1d child "conv1d" and the
 * attribute ssm_state_size, plus either num_heads and head_dim (Mamba-2: the
 * families that build one record them) or intermediate_size (Mamba-1, Jamba's
 * JambaMambaMixer: one state row per channel). transformers'
 * HybridMambaAttentionDynamicCache holds per mixer and sequence a conv state
 * [conv channels, d_conv] and an SSM state [num_heads, head_dim, d_state] (Mamba-2)
 * or [intermediate_size, d_state] (Mamba-1), both in the model's dtype (the conv
 * weight's). A linear-attention layer declares recurrent_state_numel instead (its
 * state counted with the SSM states). They do not grow with the sequence. A
 * Gated DeltaNet layer (Qwen3-Next) records num_heads, head_dim and
 * ssm_state_size for its recurrent state [num_v_heads, head_k_dim, head_v_dim]
 * and an attribute state_dtype (float32: the chunked rule returns its final
 * state in float32 and the cache keeps it), which then sizes that state
 * instead of the conv weight's dtype. */
/* The dtype of the first parameter under mod (depth first), NONE without one. */
static mt_dtype param_dtype(const mt_module *mod) {
    for (int i = 0; i < mod->params.n; i++) {
        const mt_param *p = mod->params.items[i];
        if (!p->is_buffer && p->t) return p->t->dtype;
    }
    for (int i = 0; i < mod->children.n; i++) {
        mt_dtype d = param_dtype(mod->children.items[i]);
        if (d != MT_DTYPE_NONE) return d;
    }
    return MT_DTYPE_NONE;
}

/* The attributes state_walk reads, found in one pass over a module's attributes
 * (it visits every module: one pass instead of a lookup per name). */
typedef struct state_attrs {
    const mt_arg *numel, *lin_heads, *heads, *head_dim, *inter, *d_state, *dtype;
} state_attrs;

static void state_attrs_of(const mt_module *mod, state_attrs *a) {
    memset(a, 0, sizeof *a);
    for (int i = 0; i < mod->nattrs; i++) {
        const char *nm = mod->attrs[i].name;
        const mt_arg *v = &mod->attrs[i].value;
        switch (nm[0]) {
        case 'r': if (strcmp(nm, "recurrent_state_numel") == 0) a->numel = v; break;
        case 'n':
            if (strcmp(nm, "num_heads") == 0) a->heads = v;
            else if (strcmp(nm, "num_attention_heads") == 0) a->lin_heads = v;
            break;
        case 'h': if (strcmp(nm, "head_dim") == 0) a->head_dim = v; break;
        case 'i': if (strcmp(nm, "intermediate_size") == 0) a->inter = v; break;
        case 's':
            if (strcmp(nm, "ssm_state_size") == 0) a->d_state = v;
            else if (strcmp(nm, "state_dtype") == 0) a->dtype = v;
            break;
        default: break;
        }
    }
}

static bool int_of(const mt_arg *a, int64_t *v) {
    if (!a || a->kind != MT_ARG_INT) return false;
    *v = a->v.i;
    return true;
}

/* One mixer's state per sequence (state_walk's visit); heads: what tp may split the SSM
 * state by (its heads, or a Mamba-1 mixer's channels), channels the conv state's. */
typedef struct state_visit {
    mt_sizing *out;
    mt__state_mixer *list; /* NULL: totals only */
    int n, cap;
    mt_ctx *ctx;
    bool failed;           /* the list could not grow */
} state_visit;

static void state_add(state_visit *v, const mt_module *mod, int64_t conv, int64_t ssm, int64_t channels, int64_t heads,
                      mt_dtype conv_dt, mt_dtype ssm_dt) {
    mt_sizing *out = v->out;
    out->state_layers++;
    out->state_dtype = conv_dt;
    out->state_ssm_dtype = ssm_dt;
    out->conv_state_bytes += conv;
    out->ssm_state_bytes += ssm;
    if (!v->ctx) return;
    if (v->n == v->cap) {
        int nc = v->cap ? 2 * v->cap : 16;
        mt__state_mixer *a = mt_alloc_array(v->ctx, (size_t)nc, sizeof *a);
        if (!a) {
            v->failed = true;
            return;
        }
        if (v->n) memcpy(a, v->list, (size_t)v->n * sizeof *a);
        v->list = a;
        v->cap = nc;
    }
    v->list[v->n++] = (mt__state_mixer){mod, conv, ssm, channels > 0 ? channels : 1, heads > 0 ? heads : 1};
}

/* A module declaring a recurrent state: ssm_state_size (a Mamba or DeltaNet
 * mixer) or recurrent_state_numel (lightning attention); a torch.nn
 * built-in (a leaf) never does. */
static bool has_state(const mt_module *mod) {
    if (mod->leaf != MT_LEAF_NONE) return false;
    for (int i = 0; i < mod->nattrs; i++) {
        const char *nm = mod->attrs[i].name;
        if ((nm[0] == 's' && strcmp(nm, "ssm_state_size") == 0) ||
            (nm[0] == 'r' && strcmp(nm, "recurrent_state_numel") == 0))
            return true;
    }
    return false;
}

static void state_walk(const mt_module *mod, state_visit *v) {
    if (has_state(mod)) {
        state_attrs A;
        state_attrs_of(mod, &A);
        /* a linear-attention layer (MiniMax's lightning attention) declares the elements of its fixed
         * state per sequence, held in its parameters' dtype (MiniMaxCache keeps K^T V in v's dtype),
         * one [head_dim, head_dim] block per head */
        int64_t numel, lh = 1;
        if (int_of(A.numel, &numel) && numel > 0) {
            mt_dtype dt = param_dtype(mod);
            if (!int_of(A.lin_heads, &lh)) lh = 1;
            if (dt != MT_DTYPE_NONE) state_add(v, mod, 0, numel * (int64_t)mt_dtype_size(dt), 1, lh, dt, dt);
        }
        int64_t h, p, n, rows = 0, heads = 0;
        if (int_of(A.heads, &h) && int_of(A.head_dim, &p)) rows = h * p, heads = h;
        else if (!int_of(A.inter, &rows)) rows = 0;
        else heads = rows; /* Mamba-1: one state row per channel */
        const mt_module *conv = rows > 0 && A.d_state ? mt_module_child(mod, "conv1d") : NULL;
        if (conv && conv->leaf == MT_LEAF_NN_CONV1D && int_of(A.d_state, &n)) {
            const mt_arg *ch = mt_module_get_attr(conv, "in_channels"), *k = mt_module_get_attr(conv, "kernel_size");
            const mt_param *w = mt_module_param(conv, "weight");
            if (ch && k && w && ch->kind == MT_ARG_INT && k->kind == MT_ARG_INT) {
                int64_t es = (int64_t)mt_dtype_size(w->t->dtype);
                const mt_arg *sd = A.dtype;
                mt_dtype sdt = sd && sd->kind == MT_ARG_DTYPE ? sd->v.dtype : w->t->dtype;
                state_add(v, mod, ch->v.i * k->v.i * es, rows * n * (int64_t)mt_dtype_size(sdt), ch->v.i, heads,
                          w->t->dtype, sdt);
            }
        }
    }
    for (int i = 0; i < mod->children.n; i++) {
        const mt_module *c = mod->children.items[i];
        if (c->leaf == MT_LEAF_NONE || c->children.n) state_walk(c, v);
    }
}

static void state_totals(const mt_model *m, mt_sizing *out, int64_t batch) {
    out->state_dtype = MT_DTYPE_NONE;
    out->state_ssm_dtype = MT_DTYPE_NONE;
    state_visit v = {out, NULL, 0, 0, NULL, false};
    if (m->root) state_walk(m->root, &v);
    out->state_bytes_per_seq = out->conv_state_bytes + out->ssm_state_bytes;
    out->state_bytes_at_batch = out->state_bytes_per_seq * batch;
}

int mt__state_mixers(mt_ctx *ctx, const mt_model *m, mt__state_mixer **list) {
    mt_sizing scratch;
    memset(&scratch, 0, sizeof scratch);
    state_visit v = {&scratch, NULL, 0, 0, ctx, false};
    if (m->root) state_walk(m->root, &v);
    *list = v.list;
    return v.failed ? -1 : v.n;
}

/* ---- FLOPs -------------------------------------------------------------------------- */

/* mt_node_flops depends only on what a node's signature holds (op, target,
 * the called module's class and attributes, argument kinds and scalar values,
 * tensor dtypes and shapes); identical layers repeat signatures, so the count
 * is computed once per signature. Shapes are interned: pointers compare. */
enum { SIG_MAX = 192 };

typedef struct sigbuf {
    uint64_t w[SIG_MAX];
    int n;
    bool overflow;
} sigbuf;

static void sig_put(sigbuf *b, uint64_t v) {
    if (b->n < SIG_MAX) b->w[b->n++] = v;
    else b->overflow = true;
}

static void sig_tensor(sigbuf *b, const mt_tensor *t) {
    sig_put(b, ((uint64_t)(uint32_t)t->dtype << 32) | (uint32_t)t->ndim);
    sig_put(b, (uint64_t)(t->node && t->node->op == MT_NODE_GET_ATTR));
    for (int d = 0; d < t->ndim; d++) sig_put(b, (uint64_t)(uintptr_t)t->shape[d]);
}

static void sig_arg(sigbuf *b, const mt_arg *a) {
    sig_put(b, (uint64_t)a->kind);
    uint64_t bits = 0;
    switch (a->kind) {
    case MT_ARG_TENSOR:
        if (a->v.t) sig_tensor(b, a->v.t);
        break;
    case MT_ARG_INT: sig_put(b, (uint64_t)a->v.i); break;
    case MT_ARG_FLOAT: memcpy(&bits, &a->v.f, sizeof bits); sig_put(b, bits); break;
    case MT_ARG_BOOL: sig_put(b, (uint64_t)a->v.b); break;
    case MT_ARG_SYM: sig_put(b, (uint64_t)(uintptr_t)a->v.sym); break;
    case MT_ARG_DTYPE: sig_put(b, (uint64_t)a->v.dtype); break;
    case MT_ARG_STR: sig_put(b, (uint64_t)(uintptr_t)a->v.s); break;
    case MT_ARG_DEVICE: sig_put(b, (uint64_t)a->v.device); break;
    case MT_ARG_SLICE:
        sig_put(b, (uint64_t)(uintptr_t)a->v.slice.start);
        sig_put(b, (uint64_t)(uintptr_t)a->v.slice.stop);
        sig_put(b, (uint64_t)(uintptr_t)a->v.slice.step);
        break;
    case MT_ARG_LIST:
        sig_put(b, (uint64_t)a->v.list.n);
        for (int i = 0; i < a->v.list.n; i++) sig_arg(b, &a->v.list.items[i]);
        break;
    default:
        break;
    }
}

static void node_sig(const mt_node *n, sigbuf *b) {
    b->n = 0;
    b->overflow = false;
    sig_put(b, ((uint64_t)(uint32_t)n->op << 32) | (uint32_t)n->opid);
    sig_put(b, (uint64_t)(uintptr_t)(n->op == MT_NODE_CALL_MODULE ? NULL : n->target));
    if (n->op == MT_NODE_CALL_MODULE && n->module) {
        const mt_module *m = n->module;
        sig_put(b, (uint64_t)(uintptr_t)m->type);
        sig_put(b, ((uint64_t)(uint32_t)m->leaf << 32) | (uint32_t)m->params.n);
        for (int i = 0; i < m->params.n; i++) {
            const mt_param *p = m->params.items[i];
            sig_put(b, (uint64_t)(uintptr_t)p->local);
            sig_tensor(b, p->t);
        }
        for (int i = 0; i < m->nattrs; i++) {
            sig_put(b, (uint64_t)(uintptr_t)m->attrs[i].name);
            sig_arg(b, &m->attrs[i].value);
        }
    }
    sig_put(b, (uint64_t)n->nout);
    for (int o = 0; o < n->nout; o++) sig_tensor(b, &n->outs[o]);
    sig_put(b, (uint64_t)n->nargs);
    for (int i = 0; i < n->nargs; i++) sig_arg(b, &n->args[i]);
    sig_put(b, (uint64_t)n->nkwargs);
    for (int i = 0; i < n->nkwargs; i++) {
        sig_put(b, (uint64_t)(uintptr_t)n->kwargs[i].name);
        sig_arg(b, &n->kwargs[i].value);
    }
}

typedef struct flops_cache {
    mt_ctx *ctx;
    uint64_t *hash;
    uint64_t **words;
    int *nwords;
    const mt_sym **val;
    size_t cap, n;
} flops_cache;

static uint64_t sig_hash(const sigbuf *b) {
    uint64_t h = 1469598103934665603ull;
    for (int i = 0; i < b->n; i++) {
        h ^= b->w[i];
        h *= 1099511628211ull;
        h ^= h >> 29;
    }
    return h ? h : 1;
}

static bool fc_grow(flops_cache *c) {
    size_t ncap = c->cap ? 2 * c->cap : 256;
    uint64_t *nh = mt_alloc_array(c->ctx, ncap, sizeof *nh);
    uint64_t **nw = mt_alloc_array(c->ctx, ncap, sizeof *nw);
    int *nn = mt_alloc_array(c->ctx, ncap, sizeof *nn);
    const mt_sym **nv = mt_alloc_array(c->ctx, ncap, sizeof *nv);
    if (!nh || !nw || !nn || !nv) return false;
    for (size_t i = 0; i < c->cap; i++) {
        if (!c->hash[i]) continue;
        size_t j = c->hash[i] & (ncap - 1);
        while (nh[j]) j = (j + 1) & (ncap - 1);
        nh[j] = c->hash[i];
        nw[j] = c->words[i];
        nn[j] = c->nwords[i];
        nv[j] = c->val[i];
    }
    c->hash = nh;
    c->words = nw;
    c->nwords = nn;
    c->val = nv;
    c->cap = ncap;
    return true;
}

bool mt__flops_always_zero(const mt_node *n); /* trace/flops.c */

static const mt_sym *flops_of(flops_cache *c, const mt_node *n) {
    if (mt__flops_always_zero(n)) return NULL;
    sigbuf b;
    node_sig(n, &b);
    if (b.overflow) return mt_node_flops(c->ctx, n);
    uint64_t h = sig_hash(&b);
    if (c->cap) {
        for (size_t j = h & (c->cap - 1); c->hash[j]; j = (j + 1) & (c->cap - 1))
            if (c->hash[j] == h && c->nwords[j] == b.n && memcmp(c->words[j], b.w, (size_t)b.n * sizeof b.w[0]) == 0)
                return c->val[j];
    }
    const mt_sym *f = mt_node_flops(c->ctx, n);
    if (!f) return NULL;
    if ((c->n + 1) * 2 > c->cap && !fc_grow(c)) return f;
    uint64_t *w = mt_alloc_array(c->ctx, (size_t)b.n, sizeof *w);
    if (!w) return f;
    memcpy(w, b.w, (size_t)b.n * sizeof *w);
    size_t j = h & (c->cap - 1);
    while (c->hash[j]) j = (j + 1) & (c->cap - 1);
    c->hash[j] = h;
    c->words[j] = w;
    c->nwords[j] = b.n;
    c->val[j] = f;
    c->n++;
    return f;
}

/* The decode step of a bound trace. Its shapes are constants, so the step of
 * one new token cannot be evaluated on it: the non-attention decode FLOPs come
 * from the same model built and traced with symbolic inputs, in a context of
 * its own (the caller's graph, symbols and exports stay as they are); the
 * attention terms are per (query, key) pair and come from the bound graph. */
static bool sym_decode_core(sizer *T, int64_t context, long double *sum) {
    mt_ctx *ctx = T->ctx;
    const mt_graph *g = T->g;
    T->seen = mt_alloc_array(ctx, (size_t)g->n + 1, sizeof *T->seen);
    T->stack = mt__alloc_raw(ctx, ((size_t)g->n + 1) * sizeof *T->stack); /* (written before read) */
    if (!T->seen || !T->stack || !gindex_build(ctx, g, &T->X, false, false) || !find_cores(T)) return false;
    bool encdec = T->X.ids_dec >= 0;
    evaluator D;
    if (!ev_init(&D, ctx, 1, encdec ? context : 1, 1)) return false;
    flops_cache fc = {.ctx = ctx};
    *sum = 0;
    for (int i = 0; i < g->n; i++) {
        const mt_node *n = g->nodes[i];
        if (T->core_of[i] || (encdec && !(T->X.deps[i] >> T->X.ids_dec & 1))) continue;
        const mt_sym *f = flops_of(&fc, n);
        if (!f && mt_ctx_status(ctx) != MT_OK) return false;
        if (f) *sum += ev_node(&D, f, n);
    }
    mtx_ptrmap_free(&D.dmap);
    mtx_ptrmap_free(&D.memo);
    return !D.failed;
}

static mt_status symbolic_decode(sizer *S, int64_t context) {
    mt_config *top = S->m->cfg;
    while (mt_config_parent(top)) top = mt_config_parent(top);
    char *text = json_dumps((const json_t *)mt_config_json(top, ""), JSON_COMPACT);
    if (!text) return mt_fail(S->ctx, MT_ERR_NOMEM, "sizing: copying the config for the decode step");
    mt_ctx *c2 = mt_ctx_new();
    const char *why = "out of memory";
    bool ok = false;
    if (c2) {
        mt_config *cfg = mt_config_parse(c2, text, strlen(text), mt_config_path(top));
        mt_build_opts bo = {.dtype = S->m->dtype, .num_layers = S->m->num_layers, .attn = S->m->attn};
        mt_model *m2 = cfg ? mt_model_build(c2, cfg, &bo) : NULL;
        mt_graph *g2 = m2 ? mt_model_trace(m2, NULL) : NULL;
        sizer T;
        memset(&T, 0, sizeof T);
        T.ctx = c2;
        T.m = m2;
        T.g = g2;
        T.o = S->o;
        ok = g2 && sym_decode_core(&T, context, &S->noncore_dec);
        if (!ok) why = mt_ctx_errmsg(c2);
    }
    free(text);
    S->dec_given = ok;
    mt_status st = ok ? MT_OK
                      : mt_fail(S->ctx, MT_ERR_INTERNAL, "sizing: the symbolic trace for the decode step failed: %s",
                                why ? why : "?");
    if (c2) mt_ctx_free(c2);
    return st;
}

/* The sums of a first instance of identical layers (see flops()). */
typedef struct flop_tmpl {
    bool exact;          /* every value a non-negative integer */
    long double total, noncore_dec, expert;
    int *slots, nslots, capslots; /* pairs: 1 + symbolic key, nodes */
    int *cores, ncores, capcores; /* offsets in the span of the nodes of attention cores */
} flop_tmpl;

/* Span [a, a+len) identical to the span t: its per-node figures are t's, its
 * sums t's sums. 1: done; 0: walk its nodes; -1: out of memory. */
static int flop_span(sizer *S, flop_tmpl **ft, int t, int a, int len, double *node_fl, const mt_sym **fsym,
                     long double *val, long double *dec, int *slot_of, long double *core_fl, int64_t *counts,
                     long double *sums) {
    const int *core_of = S->core_of;
    int ta = S->X.sp_start[t];
    flop_tmpl *T = ft[t];
    if (!T) {
        if (!(T = mt_alloc_array(S->ctx, 1, sizeof *T))) return -1;
        T->exact = true;
        for (int j = ta; j < ta + len; j++) {
            if (!fsym[j]) continue;
            long double v = val[j], d = dec[j];
            if (core_of[j] && !ilist_push(S->ctx, &T->cores, &T->ncores, &T->capcores, j - ta)) return -1;
            if (!(v >= 0 && floorl(v) == v && d >= 0 && floorl(d) == d)) T->exact = false;
            T->total += v;
            if (!core_of[j]) T->noncore_dec += d;
            if (!slot_of[j]) {
                T->expert += v;
                continue;
            }
            int k = 0;
            while (k < T->nslots && T->slots[k] != slot_of[j]) k += 2;
            if (k == T->nslots && (!ilist_push(S->ctx, &T->slots, &T->nslots, &T->capslots, slot_of[j]) ||
                                   !ilist_push(S->ctx, &T->slots, &T->nslots, &T->capslots, 0)))
                return -1;
            T->slots[k + 1]++;
        }
        ft[t] = T;
    }
    if (!T->exact) return 0;
    /* the same attention cores at the same places (their FLOPs are summed apart):
     * as many core nodes in the span (marked_in counts them) and each of the
     * template's matched with one offset */
    if (!S->marks_sorted || marked_in(S, a, a + len) != T->ncores) return 0;
    int coff = 0;
    for (int k = 0; k < T->ncores; k++) {
        int j = T->cores[k], c1 = core_of[a + j], c0 = core_of[ta + j];
        if (!c1 || (k > 0 && c1 - c0 != coff)) return 0;
        coff = c1 - c0;
    }
    /* (the other per-node arrays are read at first instances only: twin_of) */
    memcpy(node_fl + a, node_fl + ta, (size_t)len * sizeof *node_fl);
    for (int k = 0; k < T->ncores; k++) {
        int j = T->cores[k];
        core_fl[core_of[a + j] - 1] = core_fl[core_of[ta + j] - 1];
    }
    sums[0] += T->total;
    sums[1] += T->noncore_dec;
    sums[2] += T->expert;
    for (int k = 0; k < T->nslots; k += 2) counts[T->slots[k] - 1] += T->slots[k + 1];
    return 1;
}

static mt_status flops(sizer *S, mt_sizing *out) {
    mt_ctx *ctx = S->ctx;
    const mt_graph *g = S->g;
    long double total = 0, noncore_dec = 0;
    const mt_sym *sym = mt_sym_const(ctx, 0);
    /* per core: FLOPs proportional to (query, key) pairs */
    long double *core_fl = mt_alloc_array(ctx, (size_t)S->ncores + 1, sizeof *core_fl);
    const int *core_of = S->core_of;
    double *node_fl = mt__alloc_raw(ctx, ((size_t)g->n + 1) * sizeof *node_fl); /* every entry written below */
    if (!core_fl || !node_fl) return mt_ctx_status(ctx);
    out->node_flops = node_fl;
    out->nnodes = g->n;
    /* symbolic sum over distinct expressions (layers repeat them) */
    mtx_ptrmap uniq;
    mtx_ptrmap_init(&uniq, ctx);
    const mt_sym **keys = mt__alloc_raw(ctx, ((size_t)g->n + 1) * sizeof *keys);
    int64_t *counts = mt__alloc_raw(ctx, ((size_t)g->n + 1) * sizeof *counts);
    int nk = 0;
    if (!keys || !counts) return mt_ctx_status(ctx);
    long double expert_sum = 0; /* data-dependent nodes at their expectation */
    /* decode: one token; encoder-decoders count only what depends on the decoder ids */
    evaluator D;
    int64_t C = out->context;
    bool encdec = S->X.ids_dec >= 0;
    if (!ev_init(&D, ctx, 1, encdec ? C : 1, 1)) return mt_ctx_status(ctx);
    flops_cache fc = {.ctx = ctx};
    /* per node, for the nodes of later identical layers to reuse */
    /* (fsym is written for every node; the others where fsym is set) */
    const mt_sym **fsym = mt__alloc_raw(ctx, ((size_t)g->n + 1) * sizeof *fsym);
    long double *val = mt__alloc_raw(ctx, ((size_t)g->n + 1) * sizeof *val);
    long double *dec = mt__alloc_raw(ctx, ((size_t)g->n + 1) * sizeof *dec);
    int *slot_of = mt__alloc_raw(ctx, ((size_t)g->n + 1) * sizeof *slot_of); /* 1 + key, 0: data-dependent */
    if (!fsym || !val || !dec || !slot_of) return mt_ctx_status(ctx);
    /* Spans of identical layers add their first instance's sums (and copy
     * its per-node figures) instead of walking their nodes, while every
     * value added so far is a non-negative integer: then each sum is exact
     * in long double (below 2^63, checked at the end; else the nodes are
     * walked one by one again) and the same in any order. Encoder-decoders
     * walk every node (what depends on the decoder's ids differs by layer). */
    const gindex *X = &S->X;
    int nsp = X->sp_start ? X->nspans : 1;
    flop_tmpl **ft = X->sp_start && !encdec ? mt_alloc_array(ctx, (size_t)nsp + 1, sizeof *ft) : NULL;
    if (X->sp_start && !encdec && !ft) return mt_ctx_status(ctx);
    for (int attempt = 0;; attempt++) {
    bool exact = attempt == 0 && ft;
    total = 0;
    noncore_dec = 0;
    expert_sum = 0;
    for (int c = 0; c < S->ncores; c++) core_fl[c] = 0;
    for (int k = 0; k < nk; k++) counts[k] = 0;
    for (int k = 0; k < nsp; k++) {
    int a = X->sp_start ? X->sp_start[k] : 0, b = X->sp_start ? X->sp_start[k + 1] : g->n;
    int t = exact ? X->sp_tmpl[k] : -1;
    if (t >= 0) {
        long double sums[3] = {total, noncore_dec, expert_sum};
        int r = flop_span(S, ft, t, a, b - a, node_fl, fsym, val, dec, slot_of, core_fl, counts, sums);
        if (r < 0) return mt_ctx_status(ctx);
        if (r > 0) {
            total = sums[0];
            noncore_dec = sums[1];
            expert_sum = sums[2];
            continue;
        }
    }
    for (int i = a; i < b; i++) {
        const mt_node *n = g->nodes[i];
        int tw = twin_of(X, k, i);
        node_fl[i] = 0;
        fsym[i] = NULL;
        if (tw >= 0) {
            if (!fsym[tw]) continue;
            fsym[i] = fsym[tw];
            val[i] = val[tw];
            dec[i] = dec[tw];
            slot_of[i] = slot_of[tw];
        } else {
            const mt_sym *f = flops_of(&fc, n);
            if (!f && mt_ctx_status(ctx) != MT_OK) return mt_ctx_status(ctx);
            if (!f || (mt_sym_is_const(f) && mt_sym_const_value(f) == 0)) continue;
            int tmp[1];
            bool data = node_dsyms(&S->E, n, tmp, 1) > 0;
            fsym[i] = f;
            val[i] = ev_node(&S->E, f, n);
            dec[i] = ev_node(&D, f, n);
            slot_of[i] = 0;
            if (!data) {
                intptr_t slot = (intptr_t)mtx_ptrmap_get(&uniq, f);
                if (!slot) {
                    keys[nk] = f;
                    counts[nk] = 0;
                    if (!mtx_ptrmap_put(&uniq, f, (void *)(intptr_t)(nk + 1))) return mt_ctx_status(ctx);
                    slot = ++nk;
                }
                slot_of[i] = (int)slot;
            }
        }
        long double v = val[i];
        node_fl[i] = (double)v;
        total += v;
        if (core_of[i]) core_fl[core_of[i] - 1] += v;
        else if (!encdec || (S->X.deps[i] >> S->X.ids_dec & 1)) noncore_dec += dec[i];
        if (slot_of[i]) counts[slot_of[i] - 1]++;
        else expert_sum += v;
        if (exact && fsym[i] && !(val[i] >= 0 && floorl(val[i]) == val[i] && dec[i] >= 0 && floorl(dec[i]) == dec[i]))
            exact = false;
    }
    }
    if (!ft || attempt > 0) break;
    long double lim = 9223372036854775808.0L; /* 2^63 */
    bool ok = total < lim && noncore_dec < lim && expert_sum < lim;
    for (int c = 0; c < S->ncores; c++) ok &= core_fl[c] < lim;
    if (ok) break;
    }
    if (S->dec_given) noncore_dec = S->noncore_dec;
    for (int i = 0; i < nk && sym; i++) sym = mt_sym_add(ctx, sym, mt_sym_mul_const(ctx, keys[i], counts[i]));
    mtx_ptrmap_free(&uniq);
    mtx_ptrmap_free(&D.dmap);
    mtx_ptrmap_free(&D.memo);
    if (expert_sum != 0 && sym) {
        /* routed experts at their expected load, linear in batch*seq */
        long double per_tok = expert_sum / ((long double)S->E.in_vals[0] * (long double)S->E.in_vals[1]);
        const mt_sym *bs = mt_sym_mul(ctx, mt_sym_var(ctx, "batch"), mt_sym_var(ctx, "seq"));
        sym = mt_sym_add(ctx, sym, mt_sym_mul_const(ctx, bs, llroundl(per_tok)));
    }
    if (!sym) return mt_ctx_status(ctx);
    out->flops_forward = sym;
    /* prefill: causal and window halving on each core */
    long double prefill = total, decode = noncore_dec, dec_const = noncore_dec, dec_cache = 0;
    for (int c = 0; c < S->ncores; c++) {
        const mt_sizing_attn *a = &out->attn[c];
        long double sq = ev_node(&S->E, S->cores[c].sq, S->cores[c].node);
        long double sk = ev_node(&S->E, S->cores[c].sk, S->cores[c].node);
        long double pairs = sq * sk;
        if (pairs <= 0) continue;
        long double per_pair = core_fl[c] / pairs;
        if (a->kind == MT_ATTN_CAUSAL && sq == sk)
            prefill -= per_pair * (pairs - (S->cores[c].chunked ? chunked_pairs((int64_t)sq, a->window)
                                                                 : causal_pairs((int64_t)sq, a->window)));
        int64_t keys_dec = a->kind == MT_ATTN_CAUSAL ? (a->window > 0 && a->window < C ? a->window : C) : C;
        if (a->kind != MT_ATTN_BIDIRECTIONAL) {
            long double pp = per_pair / (long double)S->E.in_vals[0];
            decode += pp * (long double)keys_dec;
            if (a->kind == MT_ATTN_CAUSAL && a->window > 0) dec_const += pp * (long double)a->window;
            else dec_cache += pp;
        }
    }
    out->flops_decode_fixed = out->has_kv ? llroundl(dec_const) : -1;
    out->flops_decode_per_cached = out->has_kv ? llroundl(dec_cache) : -1;
    out->flops_prefill = llroundl(prefill);
    out->flops_prefill_per_token = (double)(prefill / ((long double)S->E.in_vals[0] * (long double)S->E.in_vals[1]));
    out->flops_decode_per_token = out->has_kv ? llroundl(decode) : -1;
    return MT_OK;
}

/* ---- activations: liveness and what backward keeps -------------------------------------- */

/* An output that aliases its first tensor argument (no new storage). */
static bool aliases_input(const mt_node *n) {
    switch (n->opid) {
    case MT_OP_VIEW: case MT_OP_RESHAPE: case MT_OP_TRANSPOSE: case MT_OP_PERMUTE: case MT_OP_UNSQUEEZE:
    case MT_OP_SQUEEZE: case MT_OP_EXPAND: case MT_OP_SPLIT: case MT_OP_CHUNK: case MT_OP_FLATTEN: case MT_OP_UNBIND:
    case MT_OP_DROPOUT: case MT_OP_CLAMP_: case MT_OP_INDEX_ADD: case MT_OP_SCATTER:
    case MT_OP_VIEW_AS_COMPLEX: case MT_OP_VIEW_AS_REAL: case MT_OP_ADD_:
        return true;
    case MT_OP_GETITEM: {
        const mt_tensor *in = mt__node_input(n);
        if (in && in->node && in->node->is_tuple) return true;
        /* basic indexing is a view; a tensor index copies */
        for (int a = 1; a < n->nargs; a++) {
            if (arg_tensor(&n->args[a])) return false;
            if (n->args[a].kind == MT_ARG_LIST)
                for (int j = 0; j < n->args[a].v.list.n; j++)
                    if (arg_tensor(&n->args[a].v.list.items[j])) return false;
        }
        return true;
    }
    case MT_OP_TO: {
        const mt_tensor *in = mt__node_input(n);
        return in && n->nout > 0 && in->dtype == n->outs[0].dtype;
    }
    default:
        return n->op == MT_NODE_CALL_MODULE && n->module && n->module->leaf == MT_LEAF_DROPOUT;
    }
}

/* Which tensors an op keeps for its gradient (autograd's saved tensors). */
typedef enum save_rule {
    SAVE_NONE = 0,
    SAVE_INPUTS,   /* each tensor input whose gradient needs it (unary: its own; products: the others') */
    SAVE_OUTPUT,
    SAVE_BOTH
} save_rule;

/* Products need an operand only for the other operands' gradients. */
static bool product_op(const mt_node *n) {
    return n->opid == MT_OP_MUL || n->opid == MT_OP_TRUEDIV || n->opid == MT_OP_MATMUL || n->opid == MT_OP_LINEAR;
}

static save_rule save_of(const mt_node *n) {
    if (n->op == MT_NODE_CALL_MODULE && n->module) {
        switch (n->module->leaf) {
        case MT_LEAF_LINEAR: case MT_LEAF_CONV1D: case MT_LEAF_LAYERNORM: case MT_LEAF_ACT: case MT_LEAF_EMBEDDING:
        case MT_LEAF_NN_CONV1D:
            return SAVE_INPUTS;
        default:
            return SAVE_NONE;
        }
    }
    switch (n->opid) {
    case MT_OP_MUL: case MT_OP_TRUEDIV: case MT_OP_MATMUL: case MT_OP_LINEAR: case MT_OP_SILU: case MT_OP_GELU:
    case MT_OP_RELU: case MT_OP_POW: case MT_OP_LAYER_NORM: case MT_OP_EMBEDDING: case MT_OP_MASKED_FILL:
    case MT_OP_WHERE: case MT_OP_INDEX_SELECT: case MT_OP_GATHER: case MT_OP_MEAN: case MT_OP_AMAX:
    case MT_OP_MAXIMUM: case MT_OP_MINIMUM: case MT_OP_LOG: case MT_OP_SIN: case MT_OP_COS: case MT_OP_CLAMP:
    case MT_OP_INDEX_ADD: case MT_OP_ABS:
    case MT_OP_CONV1D: case MT_OP_SOFTPLUS: case MT_OP_CLAMP_FN: /* Mamba-2 mixer: inputs, as linear/silu/clamp */
    case MT_OP_SELECTIVE_SCAN: case MT_OP_LIGHTNING_ATTENTION: /* the scans keep their inputs for the backward */
    case MT_OP_CONV3D: /* input and weight, for each other's gradient */
        return SAVE_INPUTS;
    case MT_OP_SOFTMAX: case MT_OP_EXP: case MT_OP_RSQRT: case MT_OP_SQRT: case MT_OP_TANH: case MT_OP_SIGMOID:
        return SAVE_OUTPUT;
    case MT_OP_SDPA:
    case MT_OP_STD: /* (x - mean) / (n * std) needs both */
        return SAVE_BOTH;
    default:
        return SAVE_NONE;
    }
}

enum {
    AF_ALIAS = 1,      /* aliases_input */
    AF_SAVE_IN = 2,    /* saves inputs (SAVE_INPUTS, SAVE_BOTH) */
    AF_SAVE_OUT = 4,   /* saves outputs (SAVE_OUTPUT, SAVE_BOTH) */
    AF_PROD = 8,       /* product_op */
    AF_RG = 16,        /* requires grad by itself (a parameter, a module with parameters) */
    AF_NOGRAD = 32,    /* its output is not floating: never requires grad */
    AF_ATTR = 64       /* a parameter or buffer read */
};

static unsigned act_flags(const mt_node *n, const bool *flt) {
    unsigned f = 0;
    if (aliases_input(n)) f |= AF_ALIAS;
    save_rule r = save_of(n);
    if (r == SAVE_INPUTS || r == SAVE_BOTH) f |= AF_SAVE_IN;
    if (r == SAVE_OUTPUT || r == SAVE_BOTH) f |= AF_SAVE_OUT;
    if (product_op(n)) f |= AF_PROD;
    if (n->op == MT_NODE_CALL_MODULE && n->module && n->module->params.n > 0) f |= AF_RG;
    if (n->nout > 0 && ((unsigned)n->outs[0].dtype >= MT_DTYPE_COUNT || !flt[n->outs[0].dtype])) f |= AF_NOGRAD;
    return f;
}

/* Pass 1 of the activations, per node: flags, the storage each output lives
 * in (base slot), its bytes, last uses, requires-grad, saved tensors. */
typedef struct actx {
    sizer *S;
    const bool *flt;
    int *base, *last, *lastin;
    long double *bytes;
    int64_t *ibytes;    /* the same as integers where they are exact (read only when every one is) */
    unsigned char *fl;  /* AF_* per node */
    bool *rg;           /* requires grad */
    int *nrg;           /* tensor inputs requiring grad */
    bool *saved, *savedin;
    bool inexact;         /* a byte count that is not a non-negative integer */
    long double max_bytes;
} actx;

static void act_node(actx *A, int i) {
    const gindex *X = &A->S->X;
    const mt_node *n = A->S->g->nodes[i];
    const int *in_node = X->in_node, *in_slot = X->in_slot;
    int *base = A->base, *last = A->last;
    unsigned char *fl = A->fl;
    bool *rg = A->rg;
    int o0 = X->off[i], e0 = X->in_off[i], e1 = X->in_off[i + 1];
    unsigned f = act_flags(n, A->flt);
    if (n->op == MT_NODE_GET_ATTR) {
        f |= AF_ATTR;
        if (n->param && !n->param->is_buffer) f |= AF_RG;
    }
    fl[i] = (unsigned char)f;
    if (n->nout <= 0) base[o0] = -1;
    /* the first argument, when a node made it, is the first input edge */
    int src = -1;
    if ((f & AF_ALIAS) && n->nargs && n->args[0].kind == MT_ARG_TENSOR && n->args[0].v.t && n->args[0].v.t->node)
        src = base[in_slot[e0]];
    for (int o = 0; o < n->nout; o++) {
        int s = o0 + o;
        if (src >= 0) {
            base[s] = src;
        } else {
            base[s] = s;
            long double by = 0;
            if (!(f & AF_ATTR)) by = ev_numel(&A->S->E, &n->outs[o], n) * (long double)mt_dtype_size(n->outs[o].dtype);
            A->bytes[s] = by;
            if (!(by >= 0 && floorl(by) == by)) A->inexact = true;
            else A->ibytes[s] = by < 9223372036854775808.0L ? (int64_t)by : INT64_MAX;
            if (by > A->max_bytes) A->max_bytes = by;
        }
        last[base[s]] = i;
    }
    bool r = (f & AF_RG) != 0;
    int nrg = 0;
    for (int e = e0; e < e1; e++) {
        last[base[in_slot[e]]] = i;
        nrg += rg[in_node[e]];
    }
    A->nrg[i] = nrg;
    r = !(f & AF_NOGRAD) && (r || nrg > 0);
    rg[i] = r;
    if (!r) return;
    if (f & AF_SAVE_IN) {
        for (int e = e0; e < e1; e++) {
            int p = in_node[e];
            if (fl[p] & AF_ATTR) continue;
            /* products: kept when another operand needs it for its gradient */
            if ((f & AF_PROD) && nrg - (int)rg[p] == 0) continue;
            A->saved[base[in_slot[e]]] = true;
        }
    }
    if (f & AF_SAVE_OUT)
        for (int o = 0; o < n->nout; o++) A->saved[base[o0 + o]] = true;
}

/* What a span of identical layers needs besides its template's per-node
 * figures: the input edges from nodes before the span (their requires-grad
 * and parameter flags must be the template's), and the edges and outputs
 * whose storage is older than the span (last uses and saved tensors of
 * storage the span does not own, replayed one by one). */
typedef struct act_tmpl {
    int *cross, ncross, capcross;
    int *bedge, nbedge, capbedge;  /* pairs: edge, consumer node */
    int *bout, nbout, capbout;     /* pairs: output slot, node */
} act_tmpl;

static bool act_tmpl_build(actx *A, int a, int len, act_tmpl *T) {
    const gindex *X = &A->S->X;
    mt_ctx *ctx = A->S->ctx;
    int s0 = X->off[a];
    for (int i = a; i < a + len; i++) {
        for (int s = X->off[i]; s < X->off[i + 1]; s++)
            if (A->base[s] >= 0 && A->base[s] < s0 &&
                (!ilist_push(ctx, &T->bout, &T->nbout, &T->capbout, s) ||
                 !ilist_push(ctx, &T->bout, &T->nbout, &T->capbout, i)))
                return false;
        for (int e = X->in_off[i]; e < X->in_off[i + 1]; e++) {
            if (A->base[X->in_slot[e]] < s0 && (!ilist_push(ctx, &T->bedge, &T->nbedge, &T->capbedge, e) ||
                                                !ilist_push(ctx, &T->bedge, &T->nbedge, &T->capbedge, i)))
                return false;
            if (X->in_node[e] < a && !ilist_push(ctx, &T->cross, &T->ncross, &T->capcross, e)) return false;
        }
    }
    return true;
}

/* Span [a, a+len) identical to the span at ta (its first instance): its nodes
 * take the template's per-node figures shifted, when its inputs from before
 * the span require grad as the template's do. False: walk it node by node. */
static bool act_shift(actx *A, int a, int ta, int len, const act_tmpl *T) {
    const gindex *X = &A->S->X;
    const int *in_node = X->in_node, *in_slot = X->in_slot;
    int D = a - ta, DS = X->off[a] - X->off[ta], DE = X->in_off[a] - X->in_off[ta];
    for (int k = 0; k < T->ncross; k++) {
        int p0 = in_node[T->cross[k]], p1 = in_node[T->cross[k] + DE];
        if (A->rg[p0] != A->rg[p1] || ((A->fl[p0] ^ A->fl[p1]) & AF_ATTR)) return false;
    }
    memcpy(A->fl + a, A->fl + ta, (size_t)len);
    memcpy(A->rg + a, A->rg + ta, (size_t)len * sizeof *A->rg);
    memcpy(A->nrg + a, A->nrg + ta, (size_t)len * sizeof *A->nrg);
    int s0 = X->off[ta], s1 = X->off[ta + len];
    memcpy(A->bytes + s0 + DS, A->bytes + s0, (size_t)(s1 - s0) * sizeof *A->bytes);
    memcpy(A->ibytes + s0 + DS, A->ibytes + s0, (size_t)(s1 - s0) * sizeof *A->ibytes);
    int *base = A->base, *last = A->last;
    for (int s = s0; s < s1; s++) {
        int b = base[s];
        if (b < s0) {
            base[s + DS] = b; /* -1 (no output), or older storage: set below */
            continue;
        }
        base[s + DS] = b + DS;
        if (b == s) {
            last[s + DS] = A->lastin[s] + D;
            A->saved[s + DS] = A->savedin[s];
        }
    }
    /* outputs aliasing older storage, in node order (alias chains) */
    for (int k = 0; k < T->nbout; k += 2) {
        int s = T->bout[k] + DS, i = T->bout[k + 1] + D;
        int b = base[in_slot[X->in_off[i]]];
        base[s] = b;
        if (i > last[b]) last[b] = i;
        if (A->rg[i] && (A->fl[i] & AF_SAVE_OUT)) A->saved[b] = true;
    }
    for (int k = 0; k < T->nbedge; k += 2) {
        int e = T->bedge[k] + DE, i = T->bedge[k + 1] + D, b = base[in_slot[e]];
        if (i > last[b]) last[b] = i;
        unsigned f = A->fl[i];
        if (!A->rg[i] || !(f & AF_SAVE_IN)) continue;
        int p = in_node[e];
        if ((A->fl[p] & AF_ATTR) || ((f & AF_PROD) && A->nrg[i] - (int)A->rg[p] == 0)) continue;
        A->saved[b] = true;
    }
    return true;
}

/* A layer's input where a layer starts: the largest tensor entering it. */
static void layer_input(const gindex *X, int i, const mt_module *prev, const int *base, const long double *bytes,
                        long double *sum) {
    const mt_module *L = X->lay[i];
    if (!L || L == prev) return;
    long double in = 0;
    FOR_INPUTS(X, i, e) {
        long double by = bytes[base[X->in_slot[e]]];
        if (by > in) in = by;
    }
    *sum += in;
}

static mt_status activations(sizer *S, mt_sizing *out) {
    mt_ctx *ctx = S->ctx;
    const mt_graph *g = S->g;
    const gindex *X = &S->X;
    int ns = X->nslots, nn = g->n;
    const int *off = X->off, *in_slot = X->in_slot;
    /* every entry below is written before it is read (slots of nodes without
     * outputs get base -1), so the scratch arrays are not zeroed */
    bool flt[MT_DTYPE_COUNT];
    for (int d = 0; d < MT_DTYPE_COUNT; d++) flt[d] = mt_dtype_is_floating((mt_dtype)d);
    actx A = {.S = S, .flt = flt};
    A.base = mt__alloc_raw(ctx, ((size_t)ns + 1) * sizeof *A.base);
    A.last = mt__alloc_raw(ctx, ((size_t)ns + 1) * sizeof *A.last);
    A.bytes = mt__alloc_raw(ctx, ((size_t)ns + 1) * sizeof *A.bytes);
    A.ibytes = mt__alloc_raw(ctx, ((size_t)ns + 1) * sizeof *A.ibytes);
    A.fl = mt__alloc_raw(ctx, (size_t)nn + 1);
    A.rg = mt__alloc_raw(ctx, ((size_t)nn + 1) * sizeof *A.rg);
    A.nrg = mt__alloc_raw(ctx, ((size_t)nn + 1) * sizeof *A.nrg);
    A.saved = mt_alloc_array(ctx, (size_t)ns + 1, sizeof *A.saved);
    if (!A.base || !A.last || !A.bytes || !A.ibytes || !A.fl || !A.rg || !A.nrg || !A.saved)
        return mt_ctx_status(ctx);
    int *base = A.base, *last = A.last;
    long double *bytes = A.bytes;
    bool *saved = A.saved;
    /* spans of identical layers take their first instance's figures shifted
     * (its last uses and saved flags as they stood at its end) */
    int nsp = X->sp_start ? X->nspans : 1;
    act_tmpl **tm = NULL; /* per span: what its identical spans need (built on first use) */
    bool *root = NULL;    /* per span: the first instance of identical spans */
    if (X->sp_start) {
        tm = mt_alloc_array(ctx, (size_t)nsp + 1, sizeof *tm);
        root = mt_alloc_array(ctx, (size_t)nsp + 1, sizeof *root);
        A.lastin = mt__alloc_raw(ctx, ((size_t)ns + 1) * sizeof *A.lastin);
        A.savedin = mt__alloc_raw(ctx, ((size_t)ns + 1) * sizeof *A.savedin);
        if (!tm || !root || !A.lastin || !A.savedin) return mt_ctx_status(ctx);
        for (int k = 0; k < nsp; k++)
            if (X->sp_tmpl[k] >= 0) root[X->sp_tmpl[k]] = true;
    }
    for (int k = 0; k < nsp; k++) {
        int a = X->sp_start ? X->sp_start[k] : 0, b = X->sp_start ? X->sp_start[k + 1] : nn;
        int t = X->sp_start ? X->sp_tmpl[k] : -1;
        if (t >= 0) {
            act_tmpl *T = tm[t];
            int ta = X->sp_start[t];
            if (!T) {
                T = mt_alloc_array(ctx, 1, sizeof *T);
                if (!T || !act_tmpl_build(&A, ta, b - a, T)) return mt_ctx_status(ctx);
                tm[t] = T;
            }
            if (act_shift(&A, a, ta, b - a, T)) continue;
        }
        for (int i = a; i < b; i++) act_node(&A, i);
        if (root && root[k]) {
            memcpy(A.lastin + off[a], last + off[a], (size_t)(off[b] - off[a]) * sizeof *last);
            memcpy(A.savedin + off[a], saved + off[a], (size_t)(off[b] - off[a]) * sizeof *saved);
        }
    }
    /* the graph's outputs live to the end */
    for (int k = 0; k < X->noutputs; k++) FOR_INPUTS(X, X->outputs[k], e) last[base[in_slot[e]]] = nn;
    /* what each node frees, summed in slot order (as a per-node list of its
     * slots would be); whether every byte count is a non-negative integer
     * and all of them together stay below 2^63: then every sum below is exact
     * in long double, in any order */
    bool exact = X->sp_start != NULL && !A.inexact && A.max_bytes * (long double)ns < 9223372036854775808.0L;
    long double *fr = exact ? NULL : mt_alloc_array(ctx, (size_t)nn + 1, sizeof *fr);
    int64_t *fri = exact ? mt_alloc_array(ctx, (size_t)nn + 1, sizeof *fri) : NULL; /* (exact: as integers) */
    if (!fr && !fri) return mt_ctx_status(ctx);
    if (fri) {
        const int64_t *ib = A.ibytes;
        for (int s = 0; s < ns; s++)
            if (last[s] < nn && base[s] == s) fri[last[s]] += ib[s];
    } else {
        for (int s = 0; s < ns; s++)
            if (last[s] < nn && base[s] == s && bytes[s] > 0) fr[last[s]] += bytes[s];
    }
    /* one pass in order: the inference peak (allocate outputs, then free what
     * this node used last); the saved tensors for training, in total, outside
     * the layers and per layer; each layer's input: the largest tensor entering
     * it from outside (the hidden state). With full checkpointing per layer:
     * each layer's input plus one layer's saved tensors recomputed at a time.
     * When the sums are exact, a span of identical layers that allocates,
     * frees and saves what its first instance does adds that instance's
     * figures: its live bytes rise and fall the same from where they start. */
    long double live = 0, peak = 0;
    int peak_at = -1;
    long double all = 0, outside = 0, layer_max = 0, cur = 0, layer_inputs = 0;
    const mt_module *cur_layer = NULL, *prev = NULL;
    typedef struct span_sum {
        bool have, any_saved;
        int argmax;          /* first node (from the span's start) at the span's highest live bytes */
        long double max, net, saved; /* relative to the live bytes at the span's start */
    } span_sum;
    span_sum *ss = exact && tm ? mt__alloc_raw(ctx, ((size_t)nsp + 1) * sizeof *ss) : NULL;
    if (exact && tm && !ss) return mt_ctx_status(ctx);
    for (int k = 0; k < nsp; k++) {
        int a = X->sp_start ? X->sp_start[k] : 0, b = X->sp_start ? X->sp_start[k + 1] : nn;
        const mt_module *L = X->lay[a];
        int t = ss ? X->sp_tmpl[k] : -1;
        if (ss) ss[k].have = false;
        if (t >= 0 && ss[t].have) {
            /* (which slots own storage follows from the nodes, identical;
             * saved flags are set on those slots only) */
            int ta = X->sp_start[t];
            if (memcmp(fri + a, fri + ta, (size_t)(b - a) * sizeof *fri) == 0 &&
                memcmp(saved + off[a], saved + off[ta], (size_t)(off[b] - off[a]) * sizeof *saved) == 0) {
                const span_sum *T = &ss[t];
                layer_input(X, a, prev, base, bytes, &layer_inputs);
                prev = L;
                if (live + T->max > peak) {
                    peak = live + T->max;
                    peak_at = a + T->argmax;
                }
                live += T->net;
                if (T->any_saved) {
                    all += T->saved;
                    if (L != cur_layer) {
                        if (cur > layer_max) layer_max = cur;
                        cur = 0;
                        cur_layer = L;
                    }
                    cur += T->saved;
                }
                continue;
            }
        }
        long double live0 = live, smax = 0, ssaved = 0;
        int sarg = -1;
        bool any_saved = false;
        for (int i = a; i < b; i++) {
            const mt_module *Li = X->lay[i];
            layer_input(X, i, prev, base, bytes, &layer_inputs);
            prev = Li;
            for (int s = off[i]; s < off[i + 1]; s++) {
                if (base[s] != s) continue;
                live += bytes[s];
                if (!saved[s]) continue;
                all += bytes[s];
                if (!Li) {
                    outside += bytes[s];
                    continue;
                }
                any_saved = true;
                ssaved += bytes[s];
                if (Li != cur_layer) {
                    if (cur > layer_max) layer_max = cur;
                    cur = 0;
                    cur_layer = Li;
                }
                cur += bytes[s];
            }
            if (live > peak) {
                peak = live;
                peak_at = i;
            }
            if (sarg < 0 || live - live0 > smax) {
                smax = live - live0;
                sarg = i - a;
            }
            live -= fri ? (long double)fri[i] : fr[i];
        }
        if (ss && root[k] && L && sarg >= 0) {
            ss[k] = (span_sum){.have = true, .any_saved = any_saved, .argmax = sarg, .max = smax,
                               .net = live - live0, .saved = ssaved};
        }
    }
    if (cur > layer_max) layer_max = cur;
    out->activation_peak = (int64_t)ceill(peak);
    out->peak_node = peak_at >= 0 ? g->nodes[peak_at]->name : NULL;
    for (int z = 0; z < 4; z++) {
        out->train[z].activations = (int64_t)ceill(all);
        out->train[z].activations_ckpt = (int64_t)ceill(outside + layer_inputs + layer_max);
    }
    return MT_OK;
}

/* ---- training memory ------------------------------------------------------------------ */

static int64_t ceil_div(int64_t a, int64_t b) { return b > 0 ? (a + b - 1) / b : a; }

/* The model's parameters (tied ones once), all training reads of
 * mt_model_totals; false when a shape is symbolic or the count overflows
 * (mt_model_totals then says which). */
static bool param_count(const mt_model *m, int64_t *total) {
    int64_t sum = 0;
    for (int i = 0; i < m->params.n; i++) {
        const mt_param *p = m->params.items[i];
        if (p->tied_to) continue;
        int64_t n = 1;
        for (int d = 0; d < p->t->ndim; d++) {
            const mt_sym *x = p->t->shape[d];
            if (!mt_sym_is_const(x) || __builtin_mul_overflow(n, mt_sym_const_value(x), &n)) return false;
        }
        if (__builtin_add_overflow(sum, n, &sum)) return false;
    }
    *total = sum;
    return true;
}

/* The same count from an unquantized inventory (it lists every parameter but
 * tied aliases once, with its shape): false for a quantized one, or when the
 * sum overflows. */
static bool stored_param_count(const mt_quant_inventory *w, int64_t *total) {
    if (w->method) return false;
    int64_t sum = 0;
    for (int i = 0; i < w->n; i++) {
        const mt_stored_tensor *t = &w->tensors[i];
        if (!t->param || t->param->is_buffer) continue;
        int64_t n = 1;
        for (int d = 0; d < t->ndim; d++)
            if (__builtin_mul_overflow(n, t->shape[d], &n)) return false;
        if (__builtin_add_overflow(sum, n, &sum)) return false;
    }
    *total = sum;
    return true;
}

static void training(sizer *S, mt_sizing *out, const mt_totals *t) {
    int64_t P = t->params, dp = S->o->dp > 0 ? S->o->dp : 1;
    size_t w = mt_dtype_size(S->m->dtype);
    bool mixed = w < 4;
    out->optimizer = S->o->optimizer;
    out->dp = (int)dp;
    out->mixed_precision = mixed;
    /* weights and gradients in the model dtype; Adam: fp32 master copy (mixed
     * precision only) + two fp32 moments; SGD (no momentum): the master copy */
    int64_t opt_per = S->o->optimizer == MT_OPT_SGD ? (mixed ? 4 : 0) : (mixed ? 12 : 8);
    int64_t W = P * (int64_t)w, G = P * (int64_t)w, O = P * opt_per;
    for (int z = 0; z < 4; z++) {
        mt_train_mem *r = &out->train[z];
        r->zero_stage = z;
        r->optimizer = z >= 1 ? ceil_div(O, dp) : O;
        r->grads = z >= 2 ? ceil_div(G, dp) : G;
        r->weights = z >= 3 ? ceil_div(W, dp) : W;
        r->total = r->weights + r->grads + r->optimizer + r->activations;
        r->total_ckpt = r->weights + r->grads + r->optimizer + r->activations_ckpt;
    }
}

/* The ModuleList entry with the most stored bytes (quantized tensors at their
 * stored size), like accelerate's "largest layer". */
static void largest_layer(mt_sizing *out) {
    const mt_module *best = NULL, *cur_m = NULL, *memo_own = NULL, *memo_L = NULL;
    const mt_module *memo_par = NULL, *memo_parL = NULL;
    bool have_par = false;
    int64_t best_bytes = 0, cur = 0;
    for (int i = 0; i <= out->weights.n; i++) {
        const mt_stored_tensor *t = i < out->weights.n ? &out->weights.tensors[i] : NULL;
        const mt_module *L = NULL, *own = t && t->param ? t->param->owner : NULL;
        if (own && own == memo_own) {
            L = memo_L; /* a module's tensors come one after another */
        } else if (own) {
            /* the outermost ModuleList entry above own: its parent's, else own when it is one
             * (siblings come one after another too) */
            if (!have_par || own->parent != memo_par) {
                memo_par = own->parent;
                memo_parL = NULL;
                for (const mt_module *x = memo_par; x; x = x->parent)
                    if (numeric_name(x)) memo_parL = x;
                have_par = true;
            }
            L = memo_parL ? memo_parL : numeric_name(own) ? own : NULL;
            memo_own = own;
            memo_L = L;
        }
        if (!t || L != cur_m) {
            if (cur_m && cur > best_bytes) {
                best = cur_m;
                best_bytes = cur;
            }
            cur = 0;
            cur_m = L;
        }
        if (t && L) cur += t->bytes;
    }
    out->largest_layer = best ? best->path : NULL;
    out->largest_layer_bytes = best_bytes;
}

static mt_status sizing_run(mt_model *m, const mt_graph *g, const mt_sizing_opts *opts, mt_sizing *out, bool kv_only);

mt_status mt_model_sizing(mt_model *m, const mt_graph *g, const mt_sizing_opts *opts, mt_sizing *out) {
    return sizing_run(m, g, opts, out, false);
}

mt_status mt_model_sizing_kv(mt_model *m, const mt_graph *g, const mt_sizing_opts *opts, mt_sizing *out) {
    return sizing_run(m, g, opts, out, true);
}

static mt_status sizing_run(mt_model *m, const mt_graph *g, const mt_sizing_opts *opts, mt_sizing *out, bool kv_only) {
    if (!m || !g || !out) return m ? mt_fail(m->ctx, MT_ERR_USAGE, "mt_model_sizing: NULL argument") : MT_ERR_USAGE;
    mt_ctx *ctx = m->ctx;
    memset(out, 0, sizeof *out);
    mt_sizing_opts defaults = {.kv_dtype = MT_DTYPE_NONE};
    sizer S;
    memset(&S, 0, sizeof S);
    S.ctx = ctx;
    S.m = m;
    S.g = g;
    S.o = opts ? opts : &defaults;
    if (S.o->batch < 0 || S.o->seq < 0 || S.o->context < 0 || S.o->mem_budget < 0 || S.o->dp < 0)
        return mt_fail(ctx, MT_ERR_USAGE, "mt_model_sizing: negative option");
    /* bound shapes: the trace's binding, then the options, then the context */
    const mt_tensor *ids = m->inputs.n > 0 ? m->inputs.items[0] : NULL;
    int64_t tb = ids && mt_sym_is_const(ids->shape[0]) ? mt_sym_const_value(ids->shape[0]) : 0;
    int64_t ts = ids && ids->ndim > 1 && mt_sym_is_const(ids->shape[1]) ? mt_sym_const_value(ids->shape[1]) : 0;
    const char *note = NULL;
    int64_t cfg_ctx = config_context(&S, &note);
    out->batch = tb ? tb : S.o->batch ? S.o->batch : 1;
    out->seq = ts ? ts : S.o->seq ? S.o->seq : S.o->context ? S.o->context : cfg_ctx;
    if (S.o->context) {
        out->context = S.o->context;
        out->context_note = "given";
    } else if (ts || S.o->seq) {
        out->context = out->seq;
        out->context_note = "the bound seq";
    } else {
        out->context = cfg_ctx;
        out->context_note = note;
    }
    out->kv_dtype = MT_DTYPE_NONE;
    out->kv_capacity_tokens = -1;
    if (!ev_init(&S.E, ctx, out->batch, out->seq, out->seq) || !gindex_build(ctx, g, &S.X, !kv_only, true)) return mt_ctx_status(ctx);
    S.seen = mt_alloc_array(ctx, (size_t)g->n + 1, sizeof *S.seen);
    S.stack = mt__alloc_raw(ctx, ((size_t)g->n + 1) * sizeof *S.stack); /* (written before read) */
    if (!S.seen || !S.stack || !find_cores(&S)) return mt_ctx_status(ctx);
    mt_status st;
    if ((st = analyse_attention(&S, out)) != MT_OK) return st;
    kv_totals(&S, out);
    state_totals(m, out, out->batch);
    if (kv_only) return MT_OK;
    if ((st = mt_quant_inventory_of(m, S.o->quant, &out->weights)) != MT_OK) return st;
    out->weight_bytes = out->weights.total_bytes;
    /* (a model built by hand, without a config, keeps the bound graph's figures) */
    if ((tb || ts) && m->cfg && (st = symbolic_decode(&S, out->context)) != MT_OK) return st;
    if ((st = flops(&S, out)) != MT_OK || (st = activations(&S, out)) != MT_OK) return st;
    mt_totals t;
    if (!stored_param_count(&out->weights, &t.params) && !param_count(m, &t.params) &&
        (st = mt_model_totals(m, &t)) != MT_OK)
        return st;
    training(&S, out, &t);
    largest_layer(out);
    if (S.o->mem_budget > 0 && out->has_kv && out->kv_bytes_per_token > 0) {
        int64_t room = S.o->mem_budget - out->weight_bytes - out->activation_peak - out->state_bytes_at_batch;
        out->kv_capacity_tokens = room > 0 ? room / out->kv_bytes_per_token : 0;
    }
    mtx_ptrmap_free(&S.E.dmap);
    mtx_ptrmap_free(&S.E.memo);
    if (S.E.failed) {
        const mt_node *n = S.E.fail_node;
        const char *mod = n && n->stack && n->stack->depth > 0 ? n->stack->mods[n->stack->depth - 1]->path : NULL;
        return mt_fail(ctx, MT_ERR_OVERFLOW, "sizing at batch=%lld seq=%lld: %s%s%s%s%s: %s", (long long)out->batch,
                       (long long)out->seq, n ? "node '" : "a figure", n ? n->name : "", n ? "'" : "",
                       mod ? " in " : "", mod ? mod : "", S.E.fail_msg ? S.E.fail_msg : "cannot be evaluated");
    }
    return MT_OK;
}
