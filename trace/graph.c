/* The FX-style graph: nodes in recording order, unique FX names. */
#include <stdio.h>
#include <string.h>

#include <metatrace/graph.h>
#include <metatrace/model.h>

#include "ctx_internal.h"
#include "graph_internal.h"

/* Open-addressing table of names -> next suffix. */
typedef struct name_ent {
    const char *name;
    uint32_t hash;
    int next_suffix;
} name_ent;

typedef struct name_tab {
    name_ent *e;
    size_t cap, n;
    int64_t max_nodes; /* the graph's node limit */
} name_tab;

static uint32_t hash_str(const char *s) {
    uint32_t h = 2166136261u; /* FNV-1a: a name's hash continues its base's */
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

static name_ent *tab_find(name_tab *t, const char *s, uint32_t h) {
    size_t mask = t->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        name_ent *e = &t->e[i];
        if (!e->name || (e->hash == h && strcmp(e->name, s) == 0)) return e;
    }
}

static bool tab_grow(mt_ctx *ctx, name_tab *t) {
    size_t ncap = t->cap ? t->cap * 2 : 1024;
    name_ent *old = t->e;
    size_t ocap = t->cap;
    t->e = mt_heap_alloc(ctx, ncap * sizeof *t->e);
    if (!t->e) { t->e = old; return false; }
    t->cap = ncap;
    for (size_t i = 0; i < ocap; i++)
        if (old[i].name) *tab_find(t, old[i].name, old[i].hash) = old[i];
    mt_heap_free(ctx, old);
    return true;
}

static uint32_t hash_more(uint32_t h, const char *s) {
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

/* Insert `s` (hash h) if absent; returns the entry. The table keeps `s`
 * itself when `owned` (arena memory), else a copy made on insertion. */
static name_ent *tab_get(mt_ctx *ctx, name_tab *t, const char *s, uint32_t h, bool owned, bool *fresh) {
    if ((t->n + 1) * 2 > t->cap && !tab_grow(ctx, t)) return NULL;
    name_ent *e = tab_find(t, s, h);
    *fresh = !e->name;
    if (!e->name) {
        const char *keep = owned ? s : mt_strdup(ctx, s);
        if (!keep) return NULL;
        e->name = keep;
        e->hash = h;
        e->next_suffix = 1;
        t->n++;
    }
    return e;
}

/* A graph and its private part: mt_graph_new allocates this, the public
 * struct first, so a graph's address is its graph_impl's (C11 6.7.2.1). */
typedef struct graph_impl {
    mt_graph g;
    int cap;        /* entries allocated in g.nodes */
    name_tab names; /* name -> next suffix, and the node limit */
    mt__layer_run *runs; /* vouched layer runs (graph_internal.h) */
    int nruns, capruns;
} graph_impl;

static graph_impl *impl(mt_graph *g) { return (graph_impl *)g; }

mt_graph *mt_graph_new(mt_ctx *ctx) {
    graph_impl *gi = mt_alloc(ctx, sizeof *gi);
    if (!gi) return NULL;
    gi->g.ctx = ctx;
    gi->names.max_nodes = MT_MAX_GRAPH_NODES;
    return &gi->g;
}

void mt__graph_set_max_nodes(mt_graph *g, int64_t max) {
    if (max > (int64_t)1 << 30) max = (int64_t)1 << 30; /* g->n and the capacity are ints */
    if (g) impl(g)->names.max_nodes = max > 0 ? max : MT_MAX_GRAPH_NODES;
}

bool mt__graph_run_begin(mt_graph *g, const struct mt_module *layer, mt_tensor *const *in, int nin, int nstream) {
    graph_impl *gi = impl(g);
    if (nin < 0 || nin > MT__RUN_MAX_IN || nstream < 0 || nstream > nin) {
        mt_fail(g->ctx, MT_ERR_INTERNAL, "a layer run with %d inputs (at most %d), %d of them its stream", nin,
                MT__RUN_MAX_IN, nstream);
        return false;
    }
    if (gi->nruns == gi->capruns) {
        int ncap = gi->capruns ? 2 * gi->capruns : 64;
        mt__layer_run *nr = mt__alloc_raw(g->ctx, (size_t)ncap * sizeof *nr);
        if (!nr) return false;
        if (gi->nruns) memcpy(nr, gi->runs, (size_t)gi->nruns * sizeof *nr);
        gi->runs = nr;
        gi->capruns = ncap;
    }
    mt__layer_run *r = &gi->runs[gi->nruns++];
    memset(r, 0, sizeof *r);
    r->layer = layer;
    r->first = g->n;
    r->end = -1;
    r->nin = nin;
    r->nstream = nstream;
    for (int i = 0; i < nin; i++) r->in[i] = in[i];
    return true;
}

void mt__graph_run_end(mt_graph *g) {
    graph_impl *gi = impl(g);
    if (gi->nruns > 0 && gi->runs[gi->nruns - 1].end < 0) gi->runs[gi->nruns - 1].end = g->n;
}

const mt__layer_run *mt__graph_runs(const mt_graph *g, int *n) {
    const graph_impl *gi = (const graph_impl *)g;
    int k = gi->nruns;
    if (k > 0 && gi->runs[k - 1].end < 0) k--; /* an open run (a failed trace) is not vouched for */
    *n = k;
    return k > 0 ? gi->runs : NULL;
}

void mt__graph_drop_runs(mt_graph *g) { impl(g)->nruns = 0; }

const char *mt_fx_name(mt_ctx *ctx, const char *path) {
    char *s = mt_strdup(ctx, path);
    if (!s) return NULL;
    for (char *p = s; *p; p++)
        if (*p == '.') *p = '_';
    return s;
}

/* "%d" without the formatter (a name is made per node). */
static void format_int(char buf[16], int v) {
    char tmp[16];
    int n = 0;
    unsigned u = v < 0 ? 0u - (unsigned)v : (unsigned)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    int k = 0;
    if (v < 0) buf[k++] = '-';
    while (n) buf[k++] = tmp[--n];
    buf[k] = 0;
}

static const char *unique_name(mt_graph *g, const char *base) {
    name_tab *t = &impl(g)->names;
    bool fresh;
    uint32_t hb = hash_str(base);
    name_ent *e = tab_get(g->ctx, t, base, hb, false, &fresh);
    if (!e) return NULL;
    if (fresh) return e->name;
    for (;;) {
        char suffix[17];
        suffix[0] = '_';
        format_int(suffix + 1, e->next_suffix++);
        char *cand = mt__join(g->ctx, base, '_', suffix + 1);
        if (!cand) return NULL;
        name_ent *c = tab_get(g->ctx, t, cand, hash_more(hb, suffix), true, &fresh);
        if (!c) return NULL;
        if (fresh) return cand;
        e = tab_find(t, base, hb); /* table may have grown */
    }
}

static bool copy_arg(mt_ctx *ctx, mt_arg *dst, const mt_arg *src) {
    *dst = *src;
    if (src->kind == MT_ARG_LIST && src->v.list.n) {
        dst->v.list.items = mt_alloc_array(ctx, (size_t)src->v.list.n, sizeof(mt_arg));
        if (!dst->v.list.items) return false;
        for (int i = 0; i < src->v.list.n; i++)
            if (!copy_arg(ctx, &dst->v.list.items[i], &src->v.list.items[i])) return false;
    }
    return true;
}

mt_node *mt_graph_append(mt_graph *g, mt_opkind op, const char *base, const char *target,
                         const mt_arg *args, int nargs, const mt_kwarg *kwargs, int nkwargs) {
    mt_ctx *ctx = g->ctx;
    /* A runaway trace (a config at every limit at once, or a family looping)
     * stops here with a message instead of growing until memory runs out. */
    graph_impl *gi = impl(g);
    int64_t max_nodes = gi->names.max_nodes;
    if ((int64_t)g->n >= max_nodes) {
        mt_fail(ctx, MT_ERR_OVERFLOW,
                "the graph has reached %lld nodes, the most a trace may record; trace fewer layers "
                "(--layers, mt_build_opts.num_layers)",
                (long long)max_nodes);
        return NULL;
    }
    if (g->n == gi->cap) {
        int ncap = gi->cap ? gi->cap * 2 : 256;
        mt_node **nn = mt_heap_alloc(ctx, (size_t)ncap * sizeof *nn);
        if (!nn) return NULL;
        if (g->n) memcpy(nn, g->nodes, (size_t)g->n * sizeof *nn);
        mt_heap_free(ctx, g->nodes);
        g->nodes = nn;
        gi->cap = ncap;
    }
    mt_node *n = mt_alloc(ctx, sizeof *n);
    if (!n) return NULL;
    n->index = g->n;
    n->op = op;
    n->opid = -1;
    n->name = unique_name(g, base);
    n->target = target;
    if (!n->name) return NULL;
    if (nargs) {
        n->args = mt_alloc_array(ctx, (size_t)nargs, sizeof *n->args);
        if (!n->args) return NULL;
        for (int i = 0; i < nargs; i++)
            if (!copy_arg(ctx, &n->args[i], &args[i])) return NULL;
    }
    n->nargs = nargs;
    if (nkwargs) {
        n->kwargs = mt_alloc_array(ctx, (size_t)nkwargs, sizeof *n->kwargs);
        if (!n->kwargs) return NULL;
        for (int i = 0; i < nkwargs; i++) {
            n->kwargs[i].name = kwargs[i].name;
            if (!copy_arg(ctx, &n->kwargs[i].value, &kwargs[i].value)) return NULL;
        }
    }
    n->nkwargs = nkwargs;
    g->nodes[g->n++] = n;
    return n;
}

void mt_graph_count(const mt_graph *g, int counts[MT_NODE_KIND_COUNT]) {
    for (int k = 0; k < MT_NODE_KIND_COUNT; k++) counts[k] = 0;
    for (int i = 0; i < g->n; i++) counts[g->nodes[i]->op]++;
}
