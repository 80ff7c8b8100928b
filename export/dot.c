/* metatrace — the DOT writer: the text of a traced graph, written directly.
 *
 * Node ids are the FX node names; modules become nested `cluster_<fx name>`
 * subgraphs following each node's module stack; an edge goes from every node
 * an argument refers to (args and kwargs, lists included) to its consumer,
 * one per pair of drawn items. What is drawn is a view of the graph
 * (picture.h): a node stands for itself, or is part of a group (a folded run
 * of identical list entries, found by fold.c; a module collapsed by the depth
 * limit; an outside producer or consumer of the one module drawn), or is not
 * drawn. By default a picture has short labels, fills by op class, a legend
 * node and layout hints (a heavy residual stream, weightless side inputs);
 * `plain` gives the writer's original attributes. The plan DOT (dot_plan.c)
 * adds its colours through a style; render.c reads the text back with cgraph
 * to lay it out.
 *
 * Layout of the text: graph attributes and node (edge) defaults; then the
 * root's items in creation order, where an item is a node, a group or a cluster, a
 * cluster being created where its first node is met (so the text reads in
 * FX order, each cluster's nodes written inside its block); then every edge,
 * at the root, in creation order (consumers in graph order, their arguments
 * in order). Nothing depends on addresses: the same input gives the same
 * bytes. Linear: each node, cluster and argument is visited a fixed number
 * of times (cgraph's writer costs O(clusters x nodes) on this graph shape).
 *
 * Quoting follows the DOT language as cgraph's scanner reads it (checked by
 * tests/unit/test_dot_writer.c): an ID that is a plain identifier (not a
 * keyword) or a numeral is written bare, anything else in double quotes,
 * where `\"` stands for a quote, a backslash pair stays a backslash pair and
 * a single backslash before anything else stays itself. So a quote is
 * escaped and backslashes are written as they are; a string with an odd run
 * of backslashes before a quote, a line break or its end has no DOT spelling
 * at all and is refused. Labels never have one: label text (module paths,
 * class names, shapes, the title) is escaped for Graphviz's label language
 * first, a backslash doubled and a line break written `\n`. */
#include <stdint.h>
#include <string.h>

#include <metatrace/metatrace.h>

#include "dot_internal.h"
#include "fold.h"
#include "ptrmap.h"

void mtx_dot_set(mtx_dot_attrs *a, const char *name, const char *value)
{
    for (int i = 0; i < a->n; i++)
        if (strcmp(a->name[i], name) == 0) {
            a->value[i] = value;
            return;
        }
    if (a->n < MTX_DOT_MAX_ATTRS) {
        a->name[a->n] = name;
        a->value[a->n] = value;
        a->n++;
    }
}

/* ---- a small growable string in the context heap ----------------------------- */

typedef struct sbuf {
    mt_ctx *ctx;
    char *p;
    size_t n, cap;
    bool oom;
} sbuf;

static void sb_reserve(sbuf *b, size_t extra)
{
    if (b->oom || b->n + extra + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->n + extra + 1)
        cap *= 2;
    char *p = mt_heap_alloc(b->ctx, cap);
    if (!p) {
        b->oom = true;
        return;
    }
    if (b->p) {
        memcpy(p, b->p, b->n + 1);
        mt_heap_free(b->ctx, b->p);
    }
    b->p = p;
    b->cap = cap;
}

static void sb_putn(sbuf *b, const char *s, size_t n)
{
    sb_reserve(b, n);
    if (b->oom)
        return;
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void sb_puts(sbuf *b, const char *s)
{
    sb_putn(b, s, strlen(s));
}

/* Text inside a Graphviz label: a backslash starts an escape there, so a
 * literal one is doubled, and a line break is the escape `\n`. */
static void sb_label(sbuf *b, const char *s)
{
    for (const char *p = s; *p; p++) {
        if (*p == '\\')
            sb_putn(b, "\\\\", 2);
        else if (*p == '\n')
            sb_putn(b, "\\n", 2);
        else
            sb_putn(b, p, 1);
    }
}

static void sb_clear(sbuf *b)
{
    b->n = 0;
    sb_reserve(b, 0);
    if (b->p)
        b->p[0] = '\0';
}

static void sb_free(sbuf *b)
{
    if (b->p)
        mt_heap_free(b->ctx, b->p);
    b->p = NULL;
    b->n = b->cap = 0;
}

/* "[batch, seq, 64] float32" (without the arena: mt_sym_str is cached). */
static void sb_tensor(sbuf *b, const mt_tensor *t)
{
    sb_puts(b, "[");
    for (int i = 0; i < t->ndim; i++) {
        if (i)
            sb_puts(b, ", ");
        sb_label(b, t->shape[i] ? mt_sym_str(t->shape[i]) : "?");
    }
    sb_puts(b, "] ");
    sb_label(b, t->dtype == MT_DTYPE_NONE ? "?" : mt_dtype_name(t->dtype));
}

/* ---- the output: a file in large blocks, or memory --------------------------- */

#define SINK_BUF (64 * 1024)

typedef struct dsink {
    mt_ctx *ctx;
    FILE *out; /* NULL: everything stays in buf */
    char *buf;
    size_t n, cap;
    bool nomem, ioerr;
} dsink;

static void ds_flush(dsink *s)
{
    if (s->out && s->n && !s->ioerr && fwrite(s->buf, 1, s->n, s->out) != s->n)
        s->ioerr = true;
    s->n = 0;
}

static bool ds_grow(dsink *s, size_t need)
{
    size_t cap = s->cap ? s->cap : SINK_BUF;
    while (cap < need)
        cap *= 2;
    char *p = mt_heap_alloc(s->ctx, cap);
    if (!p) {
        s->nomem = true;
        return false;
    }
    if (s->buf) {
        memcpy(p, s->buf, s->n);
        mt_heap_free(s->ctx, s->buf);
    }
    s->buf = p;
    s->cap = cap;
    return true;
}

static void ds_write(dsink *s, const char *p, size_t n)
{
    if (s->nomem || s->ioerr || n == 0)
        return;
    if (s->n + n + 1 > s->cap) { /* + 1: room for the memory text's NUL */
        if (s->out && s->buf) {
            ds_flush(s);
            if (n + 1 > s->cap) {
                if (fwrite(p, 1, n, s->out) != n)
                    s->ioerr = true;
                return;
            }
        } else if (!ds_grow(s, s->n + n + 1)) {
            return;
        }
    }
    memcpy(s->buf + s->n, p, n);
    s->n += n;
}

static void ds_puts(dsink *s, const char *str)
{
    ds_write(s, str, strlen(str));
}

/* ---- IDs --------------------------------------------------------------------- */

static bool is_alpha_(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* An ASCII identifier that is not a DOT keyword (keywords are matched
 * without regard to case). */
static bool bare_name(const char *s)
{
    if (!is_alpha_((unsigned char)s[0]))
        return false;
    for (const char *p = s + 1; *p; p++)
        if (!is_alpha_((unsigned char)*p) && !is_digit((unsigned char)*p))
            return false;
    static const char *const keywords[] = {"node", "edge", "graph", "digraph", "subgraph", "strict"};
    for (size_t k = 0; k < sizeof keywords / sizeof keywords[0]; k++) {
        const char *a = s, *b = keywords[k];
        while (*a && *b && (*a | 0x20) == *b)
            a++, b++;
        if (!*a && !*b)
            return false;
    }
    return true;
}

/* A DOT numeral: [-]?(.[0-9]+ | [0-9]+(.[0-9]*)?) */
static bool bare_numeral(const char *s)
{
    const char *p = s + (*s == '-');
    int digits = 0, dots = 0;
    for (; *p; p++) {
        if (is_digit((unsigned char)*p))
            digits++;
        else if (*p == '.' && !dots)
            dots++;
        else
            return false;
    }
    return digits > 0;
}

/* Write one ID; false when the string has no DOT spelling (see the top). */
static bool ds_id(dsink *s, const char *id)
{
    if (bare_name(id) || bare_numeral(id)) {
        ds_puts(s, id);
        return true;
    }
    ds_write(s, "\"", 1);
    const char *run = id; /* start of the text not yet written */
    for (const char *p = id; *p;) {
        if (*p == '\\') {
            const char *q = p;
            while (*q == '\\')
                q++;
            if (((q - p) & 1) && (*q == '"' || *q == '\n' || *q == '\0'))
                return false;
            p = q;
        } else if (*p == '"') {
            ds_write(s, run, (size_t)(p - run));
            ds_write(s, "\\\"", 2);
            run = ++p;
        } else {
            p++;
        }
    }
    ds_puts(s, run);
    ds_write(s, "\"", 1);
    return true;
}

/* ---- the view: what is drawn for each graph node ------------------------------
 *
 * Items are graph nodes drawn as themselves, groups (a folded run of list
 * entries, a module collapsed by the depth limit, an outside node feeding or
 * reading the subtree drawn with --module) and clusters (visible modules). An
 * item is coded 3 * index + kind. Every graph node maps to the item it is drawn
 * as (or to nothing, outside the subtree); an edge joins the items of a
 * producer and its consumer when they differ, once per pair. */

enum { IT_NODE = 0, IT_GROUP = 1, IT_CLUSTER = 2 };
#define ITEM(i, k) (3 * (i) + (k))
#define HIDDEN (-1)
#define NONE (-1)

typedef enum gkind { G_FOLD, G_DEPTH, G_IN, G_OUT } gkind;

typedef struct dgroup {
    gkind kind;
    const mt_module *mod;  /* FOLD: the list; DEPTH: the module */
    int first, last;       /* FOLD: the entries folded */
    int period, reps;      /* FOLD: the run's period, and the periods folded */
    const mt_node *node;   /* IN/OUT: the outside node; else the first node */
    const mt_tensor *in[3], *out[2];
    int nin, nout;
    double flops;
    int home;              /* its cluster (NONE: the root) */
    int next;
    bool spine;
} dgroup;

typedef struct dclus {
    const mt_module *mod;
    int head, tail; /* items inside */
    int next;       /* next item of the parent */
    bool side;      /* the side inputs of the main list's loop module */
} dclus;

/* Node fill by op class. ORDER op_class. */
typedef enum op_class {
    C_IO = 0,   /* inputs, parameters and buffers, the output */
    C_LINEAR,   /* Linear, Conv1D, matmul */
    C_ATTN,     /* sdpa, softmax */
    C_NORM,     /* LayerNorm, and every op of a *Norm module */
    C_ELEM,     /* elementwise arithmetic, activations, reductions */
    C_SHAPE,    /* views, casts, concatenation, getitem */
    C_INDEX,    /* embedding lookup, routing: topk, nonzero, gather, index_add */
    C_CONST,    /* tensors made from nothing: arange, full, zeros, triu */
    C_GROUP,    /* folded repeats and collapsed modules */
    C_COUNT
} op_class;

static const char *const class_fill[C_COUNT] = {
    "white", "#a6cee3", "#fb9a99", "#b2df8a", "#fdbf6f", "#e5e5e5", "#cab2d6", "#f5f5dc", "#ffffb3",
};
static const char *const class_name[C_COUNT] = {
    "input, parameter, output", "linear / matmul", "attention", "norm", "elementwise",
    "shape, view, cast", "indexing, routing", "constant, mask", "folded / collapsed",
};

typedef struct u64set {
    uint64_t *k; /* key + 1; 0 empty */
    size_t cap, n;
} u64set;

typedef struct dedge {
    int tail, head;             /* items */
    const mt_node *t, *h;       /* the graph nodes, for the style's hook */
} dedge;

typedef struct writer {
    mt_ctx *ctx;
    mt_model *m;
    mt_graph *g;
    const mtx_dot_style *style;
    mt_picture_opts po;
    bool styled;         /* fills, legend, layout hints */
    dsink s;
    sbuf sb;             /* labels and cluster names */
    mtx_ptrmap cmap;     /* mt_module* -> cluster index + 1 */
    mtx_ptrmap dmap;     /* mt_module* -> depth group index + 1 */
    mtx_ptrmap xmap;     /* outside mt_node* -> IN/OUT group index + 1 */
    dclus *cl;
    int ncl, capcl;
    dgroup *gr;
    int ngr, capgr;
    int *next;           /* by node index: next item of its container */
    int *view;           /* by node index: its item, or HIDDEN */
    int *fold;           /* by node index: its fold group, or NONE */
    dedge *edges;
    int nedges, capedges;
    u64set pairs;
    int root_head, root_tail;
    const mt_module *sub;  /* the subtree drawn (the root: everything) */
    int sub_depth;
    const mtx_folds *folds;
    const mt_sizing *sz;
    mt_sizing own_sz;
    /* the spine: the residual stream through the main list */
    const mt_module *spine_list, *spine_scope;
    const mt_tensor *spine_shape;
    int spine_first;     /* the first node of the main list's first entry */
    int side_cl;         /* the side inputs' box (NONE: not made yet) */
    mt_status err;
} writer;

static void w_fail(writer *w, mt_status st, const char *what)
{
    if (w->err == MT_OK)
        w->err = mt_fail(w->ctx, st, "DOT export: %s", what);
}

static void *w_grow(writer *w, void *p, int n, int *cap, size_t elem)
{
    if (n < *cap)
        return p;
    int c = *cap ? *cap * 2 : 64;
    void *q = mt_heap_alloc(w->ctx, (size_t)c * elem);
    if (!q) {
        w_fail(w, MT_ERR_NOMEM, "out of memory");
        return NULL;
    }
    if (p) {
        memcpy(q, p, (size_t)n * elem);
        mt_heap_free(w->ctx, p);
    }
    *cap = c;
    return q;
}

/* Insert (a, b); true when it was not there yet. */
static bool pair_new(writer *w, int a, int b)
{
    u64set *s = &w->pairs;
    if ((s->n + 1) * 2 > s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 1024;
        uint64_t *k = mt_heap_alloc(w->ctx, cap * sizeof *k);
        if (!k) {
            w_fail(w, MT_ERR_NOMEM, "out of memory");
            return false;
        }
        for (size_t i = 0; i < s->cap; i++) {
            if (!s->k[i])
                continue;
            uint64_t h = (s->k[i] * UINT64_C(0x9E3779B97F4A7C15)) >> 17;
            size_t j = (size_t)h & (cap - 1);
            while (k[j])
                j = (j + 1) & (cap - 1);
            k[j] = s->k[i];
        }
        if (s->k)
            mt_heap_free(w->ctx, s->k);
        s->k = k;
        s->cap = cap;
    }
    uint64_t key = (((uint64_t)(uint32_t)a << 32) | (uint32_t)b) + 1;
    size_t j = (size_t)((key * UINT64_C(0x9E3779B97F4A7C15)) >> 17) & (s->cap - 1);
    while (s->k[j]) {
        if (s->k[j] == key)
            return false;
        j = (j + 1) & (s->cap - 1);
    }
    s->k[j] = key;
    s->n++;
    return true;
}

static int *item_next(writer *w, int item)
{
    int i = item / 3;
    switch (item % 3) {
    case IT_NODE:
        return &w->next[i];
    case IT_GROUP:
        return &w->gr[i].next;
    default:
        return &w->cl[i].next;
    }
}

static void append(writer *w, int container, int item)
{
    int *head = container == NONE ? &w->root_head : &w->cl[container].head;
    int *tail = container == NONE ? &w->root_tail : &w->cl[container].tail;
    if (*tail == NONE)
        *head = item;
    else
        *item_next(w, *tail) = item;
    *tail = item;
}

static int cluster_of(writer *w, const mt_module *mod, int parent)
{
    void *v = mtx_ptrmap_get(&w->cmap, mod);
    if (v)
        return (int)((uintptr_t)v - 1);
    dclus *cl = w_grow(w, w->cl, w->ncl, &w->capcl, sizeof *cl);
    if (!cl)
        return NONE;
    w->cl = cl;
    int c = w->ncl++;
    w->cl[c] = (dclus){mod, NONE, NONE, NONE, false};
    if (!mtx_ptrmap_put(&w->cmap, mod, (void *)(uintptr_t)(c + 1))) {
        w_fail(w, MT_ERR_NOMEM, "out of memory");
        return NONE;
    }
    append(w, parent, ITEM(c, IT_CLUSTER));
    return c;
}

static int new_group(writer *w, gkind kind, const mt_node *node)
{
    dgroup *gr = w_grow(w, w->gr, w->ngr, &w->capgr, sizeof *gr);
    if (!gr)
        return NONE;
    w->gr = gr;
    int i = w->ngr++;
    memset(&gr[i], 0, sizeof gr[i]);
    gr[i].kind = kind;
    gr[i].node = node;
    gr[i].home = NONE;
    gr[i].next = NONE;
    return i;
}

static int tree_depth(const mt_module *mod)
{
    int d = 0;
    for (; mod && mod->parent; mod = mod->parent)
        d++;
    return d;
}

/* Depth below the subtree drawn (its root 0; outside it: negative). */
static int rel_depth(const writer *w, const mt_module *mod)
{
    return tree_depth(mod) - w->sub_depth;
}

static bool under(const mt_module *mod, const mt_module *top)
{
    for (; mod; mod = mod->parent)
        if (mod == top)
            return true;
    return false;
}

static bool in_subtree(const writer *w, const mt_node *n)
{
    if (!w->sub->parent)
        return true;
    for (int d = 0; n->stack && d < n->stack->depth; d++)
        if (n->stack->mods[d] == w->sub)
            return true;
    return false;
}

/* The cluster of stack levels [0, stop) of n: modules of the subtree drawn,
 * the root module excepted (it is the whole graph). */
static int place(writer *w, const mt_node *n, int stop)
{
    int where = NONE;
    const mt_modstack *st = n->stack;
    for (int i = 0; st && i < stop && i < st->depth && w->err == MT_OK; i++) {
        const mt_module *mod = st->mods[i];
        if (!mod || !mod->path || !mod->path[0] || rel_depth(w, mod) < 0)
            continue;
        where = cluster_of(w, mod, where);
    }
    return where;
}

/* The level of mod in n's stack (-1: not in it). */
static int level_of(const mt_node *n, const mt_module *mod)
{
    for (int d = 0; n->stack && d < n->stack->depth; d++)
        if (n->stack->mods[d] == mod)
            return d;
    return -1;
}

/* Fold groups: for every list drawn with enough entries, each run keeps its
 * first period and folds the rest; an inner list inside a folded range is
 * part of that range (outer lists are met first). */
static void mark_folds(writer *w, const mt_module *mod)
{
    if (mtx_is_list(mod) && mod->children.n >= MT_PICTURE_FOLD_MIN) {
        const mt_module *scope = mtx_folds_scope(w->folds, mod);
        int nr = 0;
        const mtx_run *runs = mtx_folds_runs(w->folds, mod, &nr);
        bool visible = scope && under(scope, w->sub) && (w->po.depth == 0 || rel_depth(w, scope) <= w->po.depth);
        for (int r = 0; visible && r < nr && w->err == MT_OK; r++) {
            int a = runs[r].first + runs[r].period, b = runs[r].first + runs[r].period * runs[r].reps - 1;
            int lo, hi, lo2, hi2;
            if (!mtx_folds_segment(w->folds, mod, a, &lo, &hi) || !mtx_folds_segment(w->folds, mod, b, &lo2, &hi2) ||
                w->fold[lo] != NONE)
                continue;
            int gi = new_group(w, G_FOLD, w->g->nodes[lo]);
            if (gi == NONE)
                return;
            dgroup *G = &w->gr[gi];
            G->mod = mod;
            G->first = a;
            G->last = b;
            G->period = runs[r].period;
            G->reps = runs[r].reps - 1;
            for (int i = lo; i <= hi2; i++)
                if (w->fold[i] == NONE)
                    w->fold[i] = gi;
        }
    }
    for (int i = 0; i < mod->children.n; i++)
        mark_folds(w, mod->children.items[i]);
}

/* The group of module `mod` collapsed by the depth limit. */
static int depth_group(writer *w, const mt_module *mod, const mt_node *n, int level)
{
    void *v = mtx_ptrmap_get(&w->dmap, mod);
    if (v)
        return (int)((uintptr_t)v - 1);
    int gi = new_group(w, G_DEPTH, n);
    if (gi == NONE)
        return NONE;
    w->gr[gi].mod = mod;
    if (!mtx_ptrmap_put(&w->dmap, mod, (void *)(uintptr_t)(gi + 1))) {
        w_fail(w, MT_ERR_NOMEM, "out of memory");
        return NONE;
    }
    int home = place(w, n, level);
    w->gr[gi].home = home;
    append(w, home, ITEM(gi, IT_GROUP));
    return gi;
}

/* A side input: made in the main list's loop module itself, before its first
 * entry, off the residual stream (the attention mask, position ids): grouped
 * in a box of its own inside that module. */
static bool spine_node(const writer *w, const mt_node *n);
static bool side_input(const writer *w, const mt_node *n, int stop)
{
    if (!w->styled || !w->spine_scope || stop < 1 || n->stack->mods[stop - 1] != w->spine_scope ||
        n->op == MT_NODE_PLACEHOLDER || n->op == MT_NODE_OUTPUT || n->index >= w->spine_first || spine_node(w, n))
        return false;
    return true;
}

/* What node i is drawn as; placed in its container on first sight. */
static int view_of(writer *w, int i)
{
    const mt_node *n = w->g->nodes[i];
    if (!in_subtree(w, n))
        return HIDDEN;
    if (w->fold[i] != NONE) {
        int gi = w->fold[i];
        dgroup *G = &w->gr[gi];
        if (G->node == n) { /* its first node: place it in the cluster of the loop's module */
            const mt_module *scope = mtx_folds_scope(w->folds, G->mod);
            int lv = level_of(n, scope);
            G->home = place(w, n, lv + 1);
            append(w, G->home, ITEM(gi, IT_GROUP));
        }
        return ITEM(gi, IT_GROUP);
    }
    const mt_modstack *st = n->stack;
    int depth = st ? st->depth : 0;
    if (w->po.depth > 0)
        for (int d = 0; d < depth; d++) {
            const mt_module *mod = st->mods[d];
            if (!mod || !mod->parent || rel_depth(w, mod) <= w->po.depth)
                continue;
            if (d == depth - 1 && n->op == MT_NODE_CALL_MODULE && mod == n->module)
                break; /* a leaf's call is one node already */
            int gi = depth_group(w, mod, n, d);
            return gi == NONE ? HIDDEN : ITEM(gi, IT_GROUP);
        }
    /* a call_module node is not boxed alone in the cluster of the module it calls */
    int stop = depth;
    if (depth > 0 && n->op == MT_NODE_CALL_MODULE && st->mods[depth - 1] == n->module)
        stop = depth - 1;
    int home = place(w, n, stop);
    if (side_input(w, n, stop)) {
        if (w->side_cl == NONE) {
            dclus *cl = w_grow(w, w->cl, w->ncl, &w->capcl, sizeof *cl);
            if (!cl)
                return HIDDEN;
            w->cl = cl;
            w->side_cl = w->ncl++;
            w->cl[w->side_cl] = (dclus){w->spine_scope, NONE, NONE, NONE, true};
            append(w, home, ITEM(w->side_cl, IT_CLUSTER));
        }
        home = w->side_cl;
    }
    append(w, home, ITEM(i, IT_NODE));
    return ITEM(i, IT_NODE);
}

/* An IN (or OUT) node for an outside producer (consumer) of the subtree. */
static int outside(writer *w, const mt_node *n, gkind kind)
{
    const void *key = (const char *)n + (kind == G_OUT); /* distinct keys for the two roles */
    void *v = mtx_ptrmap_get(&w->xmap, key);
    if (v)
        return ITEM((int)((uintptr_t)v - 1), IT_GROUP);
    int gi = new_group(w, kind, n);
    if (gi == NONE)
        return HIDDEN;
    if (!mtx_ptrmap_put(&w->xmap, key, (void *)(uintptr_t)(gi + 1))) {
        w_fail(w, MT_ERR_NOMEM, "out of memory");
        return HIDDEN;
    }
    append(w, NONE, ITEM(gi, IT_GROUP));
    return ITEM(gi, IT_GROUP);
}

/* ---- labels ------------------------------------------------------------------ */

/* Node shape by op kind. ORDER mt_opkind. */
static const char *const op_shape[MT_NODE_KIND_COUNT] = {
    "invhouse", /* placeholder */
    "box",      /* get_attr: parameters and buffers */
    "ellipse",  /* call_module */
    "ellipse",  /* call_function */
    "ellipse",  /* call_method */
    "house",    /* output */
};

static op_class class_of_op(int opid)
{
    switch (opid) {
    case MT_OP_MATMUL: case MT_OP_LINEAR:
        return C_LINEAR;
    case MT_OP_SDPA: case MT_OP_SOFTMAX:
        return C_ATTN;
    case MT_OP_LAYER_NORM:
        return C_NORM;
    case MT_OP_VIEW: case MT_OP_RESHAPE: case MT_OP_TRANSPOSE: case MT_OP_PERMUTE: case MT_OP_UNSQUEEZE:
    case MT_OP_SQUEEZE: case MT_OP_EXPAND: case MT_OP_CONTIGUOUS: case MT_OP_CAT: case MT_OP_SPLIT:
    case MT_OP_CHUNK: case MT_OP_GETITEM: case MT_OP_STACK: case MT_OP_FLATTEN: case MT_OP_TO:
    case MT_OP_TYPE_AS: case MT_OP_REPEAT_INTERLEAVE:
        return C_SHAPE;
    case MT_OP_EMBEDDING: case MT_OP_TOPK: case MT_OP_NONZERO: case MT_OP_INDEX_SELECT: case MT_OP_GATHER:
    case MT_OP_INDEX_ADD: case MT_OP_ONE_HOT: case MT_OP_SCATTER:
        return C_INDEX;
    case MT_OP_ARANGE: case MT_OP_FULL: case MT_OP_TRIU: case MT_OP_ZEROS: case MT_OP_ZEROS_LIKE:
    case MT_OP_FULL_LIKE:
        return C_CONST;
    default:
        return C_ELEM;
    }
}

static op_class class_of(const mt_node *n)
{
    op_class c;
    const mt_module *owner = n->stack && n->stack->depth > 0 ? n->stack->mods[n->stack->depth - 1] : NULL;
    switch (n->op) {
    case MT_NODE_PLACEHOLDER: case MT_NODE_GET_ATTR: case MT_NODE_OUTPUT:
        return C_IO;
    case MT_NODE_CALL_MODULE:
        switch (n->module ? n->module->leaf : MT_LEAF_NONE) {
        case MT_LEAF_LINEAR: case MT_LEAF_CONV1D:
            return C_LINEAR;
        case MT_LEAF_EMBEDDING:
            return C_INDEX;
        case MT_LEAF_LAYERNORM:
            return C_NORM;
        default:
            c = C_ELEM;
        }
        if (n->stack && n->stack->depth > 1)
            owner = n->stack->mods[n->stack->depth - 2];
        break;
    default:
        c = class_of_op(n->opid);
    }
    /* the pieces of an RMSNorm (pow, mean, rsqrt, mul) are the norm */
    if ((c == C_ELEM || c == C_SHAPE) && owner && owner->type && strstr(owner->type, "Norm"))
        c = C_NORM;
    return c;
}

/* A dim with batch and seq written b and s (short labels), in label text. */
static void sb_dim_short(sbuf *b, const char *s)
{
    for (const char *p = s; *p;) {
        bool start = p == s || !(is_alpha_((unsigned char)p[-1]) || is_digit((unsigned char)p[-1]));
        if (start && strncmp(p, "batch", 5) == 0 && !is_alpha_((unsigned char)p[5]) && !is_digit((unsigned char)p[5])) {
            sb_puts(b, "b");
            p += 5;
        } else if (start && strncmp(p, "seq", 3) == 0 && !is_alpha_((unsigned char)p[3]) && !is_digit((unsigned char)p[3])) {
            sb_puts(b, "s");
            p += 3;
        } else {
            if (*p == '\\')
                sb_putn(b, "\\\\", 2);
            else if (*p == '\n')
                sb_putn(b, "\\n", 2);
            else
                sb_putn(b, p, 1);
            p++;
        }
    }
}

/* "[b, s, 4096]", with the dtype when it is not the model's. */
static void sb_shape_short(writer *w, sbuf *b, const mt_tensor *t)
{
    sb_puts(b, "[");
    for (int i = 0; i < t->ndim; i++) {
        if (i)
            sb_puts(b, ", ");
        sb_dim_short(b, t->shape[i] ? mt_sym_str(t->shape[i]) : "?");
    }
    sb_puts(b, "]");
    if (t->dtype != w->m->dtype) {
        sb_puts(b, " ");
        sb_label(b, t->dtype == MT_DTYPE_NONE ? "?" : mt_dtype_name(t->dtype));
    }
}

static void sb_outs_short(writer *w, sbuf *s, const mt_node *n)
{
    if (n->op == MT_NODE_OUTPUT || n->nout <= 0 || !n->outs)
        return;
    sb_puts(s, "  ");
    if (!n->is_tuple) {
        sb_shape_short(w, s, &n->outs[0]);
        return;
    }
    sb_puts(s, "(");
    for (int i = 0; i < n->nout && i < 3; i++) {
        if (i)
            sb_puts(s, ", ");
        sb_shape_short(w, s, &n->outs[i]);
    }
    if (n->nout > 3)
        sb_puts(s, ", ...");
    sb_puts(s, ")");
}

static const char *last_component(const char *s)
{
    const char *dot = s ? strrchr(s, '.') : NULL;
    return dot ? dot + 1 : s ? s : "";
}

static void node_label(writer *w, const mt_node *n)
{
    sbuf *s = &w->sb;
    sb_clear(s);
    if (!w->po.verbose_labels) {
        /* "q_proj  Linear  [b, s, 4096]", "matmul  [b, 32, s, s]", "inv_freq  [64]" */
        if (n->op == MT_NODE_CALL_MODULE && n->module) {
            sb_label(s, n->module->name);
            sb_puts(s, "  ");
            sb_label(s, n->module->type ? n->module->type : "?");
        } else if (n->op == MT_NODE_GET_ATTR) {
            sb_label(s, last_component(n->target));
        } else if (n->op == MT_NODE_OUTPUT) {
            sb_puts(s, "output");
        } else if (n->op == MT_NODE_PLACEHOLDER || n->opid < 0) {
            sb_label(s, n->target ? n->target : n->name);
        } else {
            sb_label(s, mt_op_def((mt_op_id)n->opid)->name);
        }
        sb_outs_short(w, s, n);
        return;
    }
    sb_label(s, n->name);
    sb_puts(s, "\\n");
    sb_label(s, mt_opkind_name(n->op));
    const char *target = n->target ? n->target : n->op == MT_NODE_OUTPUT ? "output" : n->name;
    sb_puts(s, " ");
    sb_label(s, target);
    if (n->op == MT_NODE_OUTPUT || n->nout <= 0 || !n->outs)
        return;
    sb_puts(s, "\\n");
    if (!n->is_tuple) {
        sb_tensor(s, &n->outs[0]);
        return;
    }
    sb_puts(s, "(");
    for (int i = 0; i < n->nout; i++) {
        if (i)
            sb_puts(s, ", ");
        sb_tensor(s, &n->outs[i]);
    }
    sb_puts(s, ")");
}

static void sb_shapes(writer *w, sbuf *s, const char *lead, const mt_tensor *const *t, int n)
{
    if (n == 0)
        return;
    sb_puts(s, "\\n");
    sb_puts(s, lead);
    for (int i = 0; i < n; i++) {
        sb_puts(s, i ? ", " : " ");
        sb_shape_short(w, s, t[i]);
    }
}

/* "layers 1-31 (x 31, identical)", "experts 1-255 (x 255, identical)". */
static void group_label(writer *w, const dgroup *G)
{
    sbuf *s = &w->sb;
    char a[48], b[48];
    sb_clear(s);
    switch (G->kind) {
    case G_IN:
    case G_OUT:
        sb_puts(s, G->kind == G_IN ? "from " : "to ");
        sb_label(s, G->node->name);
        if (G->kind == G_IN)
            sb_outs_short(w, s, G->node);
        return;
    case G_FOLD: {
        const mt_module *e0 = G->mod->children.items[G->first], *e1 = G->mod->children.items[G->last];
        sb_label(s, G->mod->name);
        sb_puts(s, " ");
        sb_label(s, e0->name);
        sb_puts(s, "-");
        sb_label(s, e1->name);
        if (G->period == 1) {
            snprintf(a, sizeof a, " (x %d, identical)", G->reps);
            sb_puts(s, a);
        } else {
            const mt_module *p0 = G->mod->children.items[G->first - G->period];
            const mt_module *p1 = G->mod->children.items[G->first - 1];
            snprintf(a, sizeof a, " (x %d, pattern of ", G->reps);
            sb_puts(s, a);
            sb_label(s, p0->name);
            sb_puts(s, "-");
            sb_label(s, p1->name);
            sb_puts(s, ")");
        }
        sb_puts(s, "\\n");
        sb_label(s, e0->type ? e0->type : "?");
        int64_t each = 0, total = 0;
        for (int k = G->first; k <= G->last; k++) {
            int64_t p = mtx_module_params(G->mod->children.items[k]);
            total += p;
            if (k < G->first + G->period)
                each += p;
        }
        sb_shapes(w, s, "in", G->in, G->nin);
        sb_shapes(w, s, "out", G->out, G->nout);
        sb_puts(s, "\\n");
        sb_puts(s, mtx_count_text((double)total, a, sizeof a));
        sb_puts(s, " params");
        if (G->reps > 1) {
            sb_puts(s, " (");
            sb_puts(s, mtx_count_text((double)each, a, sizeof a));
            sb_puts(s, G->period == 1 ? " each)" : " per pattern)");
        }
        sb_puts(s, ", ");
        sb_puts(s, mtx_flops_text(G->flops, b, sizeof b));
        return;
    }
    case G_DEPTH: {
        if (w->po.verbose_labels) {
            sb_label(s, G->mod->path);
            sb_puts(s, "\\n");
        }
        sb_label(s, G->mod->name);
        sb_puts(s, "  ");
        sb_label(s, G->mod->type ? G->mod->type : "?");
        sb_shapes(w, s, "in", G->in, G->nin);
        sb_shapes(w, s, "out", G->out, G->nout);
        sb_puts(s, "\\n");
        sb_puts(s, mtx_count_text((double)mtx_module_params(G->mod), a, sizeof a));
        sb_puts(s, " params, ");
        sb_puts(s, mtx_flops_text(G->flops, b, sizeof b));
        return;
    }
    }
}

/* ---- writing ------------------------------------------------------------------ */

static bool check_args(writer *w, const mt_arg *a, int consumer);

/* The producer of a tensor argument of node `consumer`, or NULL (with an
 * error) when it is not a node earlier in the graph. */
static const mt_node *producer(writer *w, const mt_arg *a, int consumer)
{
    const mt_node *p = a->v.t ? a->v.t->node : NULL;
    if (!p || p->index < 0 || p->index >= consumer || w->g->nodes[p->index] != p) {
        w_fail(w, MT_ERR_INTERNAL, "an argument refers to a tensor not produced earlier in the graph");
        return NULL;
    }
    return p;
}

static bool check_args(writer *w, const mt_arg *a, int consumer)
{
    if (a->kind == MT_ARG_LIST)
        for (int i = 0; i < a->v.list.n; i++)
            check_args(w, &a->v.list.items[i], consumer);
    else if (a->kind == MT_ARG_TENSOR)
        producer(w, a, consumer);
    return w->err == MT_OK;
}

static void put_id(writer *w, const char *id)
{
    if (!ds_id(&w->s, id))
        w_fail(w, MT_ERR_UNSUPPORTED,
               "a name with a backslash before a quote, a line break or its end has no DOT spelling");
}

static void indent(writer *w, int depth)
{
    static const char tabs[] = "\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t";
    while (depth > 0) {
        int k = depth < 16 ? depth : 16;
        ds_write(&w->s, tabs, (size_t)k);
        depth -= k;
    }
}

/* " [a=b, c=d]" (nothing when empty), then ";\n". */
static void put_attrs(writer *w, const mtx_dot_attrs *a)
{
    for (int i = 0; i < a->n; i++) {
        ds_puts(&w->s, i ? ", " : "\t[");
        put_id(w, a->name[i]);
        ds_write(&w->s, "=", 1);
        put_id(w, a->value[i]);
    }
    ds_puts(&w->s, a->n ? "];\n" : ";\n");
}

static bool same_shape(const mt_tensor *a, const mt_tensor *b)
{
    if (a->ndim != b->ndim || a->dtype != b->dtype)
        return false;
    for (int d = 0; d < a->ndim; d++)
        if (a->shape[d] != b->shape[d])
            return false;
    return true;
}

/* On the residual stream: an output shaped like the stream, recorded in the
 * main list's loop module or directly in one of its entries (not inside
 * attention or the MLP). */
static bool spine_node(const writer *w, const mt_node *n)
{
    if (!w->spine_shape || n->op == MT_NODE_GET_ATTR || n->op == MT_NODE_PLACEHOLDER || n->op == MT_NODE_OUTPUT ||
        n->nout != 1 || n->is_tuple || !same_shape(&n->outs[0], w->spine_shape) || !n->stack || !n->stack->depth)
        return false;
    int d = n->stack->depth - 1;
    if (n->op == MT_NODE_CALL_MODULE && n->stack->mods[d] == n->module)
        d--;
    const mt_module *owner = d >= 0 ? n->stack->mods[d] : NULL;
    return owner && (owner == w->spine_scope || owner->parent == w->spine_list);
}

static void write_node(writer *w, const mt_node *n, int depth)
{
    node_label(w, n);
    if (w->sb.oom) {
        w_fail(w, MT_ERR_NOMEM, "out of memory");
        return;
    }
    mtx_dot_attrs a;
    a.n = 0;
    mtx_dot_set(&a, "label", w->sb.p);
    if (!w->styled) {
        if ((int)n->op >= 0 && n->op < MT_NODE_KIND_COUNT && strcmp(op_shape[n->op], "ellipse"))
            mtx_dot_set(&a, "shape", op_shape[n->op]);
        if (n->op == MT_NODE_CALL_MODULE)
            mtx_dot_set(&a, "style", "bold");
    } else {
        if (n->op == MT_NODE_PLACEHOLDER || n->op == MT_NODE_OUTPUT)
            mtx_dot_set(&a, "shape", op_shape[n->op]);
        if (n->op == MT_NODE_GET_ATTR)
            mtx_dot_set(&a, "style", "filled");
        op_class c = class_of(n);
        if (c != C_IO)
            mtx_dot_set(&a, "fillcolor", class_fill[c]);
    }
    if (w->style && w->style->node)
        w->style->node(w->style->data, n, &a);
    indent(w, depth);
    put_id(w, n->name);
    put_attrs(w, &a);
}

static const char *group_id(writer *w, const dgroup *G)
{
    switch (G->kind) {
    case G_FOLD: {
        const char *fx = mt_fx_name(w->ctx, G->mod->path);
        const mt_module *e0 = G->mod->children.items[G->first], *e1 = G->mod->children.items[G->last];
        return fx ? mt_sprintf(w->ctx, "fold_%s_%s_%s", fx, e0->name, e1->name) : NULL;
    }
    case G_DEPTH: {
        const char *fx = mt_fx_name(w->ctx, G->mod->path);
        return fx ? mt_sprintf(w->ctx, "module_%s", fx) : NULL;
    }
    case G_IN:
        return mt_sprintf(w->ctx, "in_%s", G->node->name);
    case G_OUT:
        return mt_sprintf(w->ctx, "out_%s", G->node->name);
    }
    return NULL;
}

static void write_group(writer *w, const dgroup *G, int depth)
{
    const char *id = group_id(w, G);
    group_label(w, G);
    if (!id || w->sb.oom) {
        w_fail(w, MT_ERR_NOMEM, "out of memory");
        return;
    }
    mtx_dot_attrs a;
    a.n = 0;
    mtx_dot_set(&a, "label", w->sb.p);
    switch (G->kind) {
    case G_FOLD:
        mtx_dot_set(&a, "shape", "box3d");
        mtx_dot_set(&a, "style", "filled,bold");
        break;
    case G_DEPTH:
        mtx_dot_set(&a, "style", w->styled ? "rounded,filled,bold" : "bold");
        break;
    case G_IN:
        mtx_dot_set(&a, "shape", "invhouse");
        mtx_dot_set(&a, "style", "dashed");
        break;
    case G_OUT:
        mtx_dot_set(&a, "shape", "house");
        mtx_dot_set(&a, "style", "dashed");
        break;
    }
    if (w->styled && (G->kind == G_FOLD || G->kind == G_DEPTH))
        mtx_dot_set(&a, "fillcolor", class_fill[C_GROUP]);
    indent(w, depth);
    put_id(w, id);
    put_attrs(w, &a);
}

static void write_items(writer *w, int head, int depth);

/* "self_attn (LlamaAttention)"; an index is shown with its list ("layers.0");
 * the FX labels and the plain graph show the full path. */
static void cluster_label(writer *w, const mt_module *mod)
{
    sbuf *s = &w->sb;
    sb_clear(s);
    if (!w->styled || w->po.verbose_labels) {
        sb_label(s, mod->path);
    } else {
        if (mod->name[0] >= '0' && mod->name[0] <= '9' && mod->parent && mod->parent->name[0]) {
            sb_label(s, mod->parent->name);
            sb_puts(s, ".");
        }
        sb_label(s, mod->name);
    }
    sb_puts(s, " (");
    sb_label(s, mod->type ? mod->type : "?");
    sb_puts(s, ")");
}

static void write_cluster(writer *w, const dclus *c, int depth)
{
    const mt_module *mod = c->mod;
    const char *fx = mt_fx_name(w->ctx, mod->path);
    if (!fx) {
        w_fail(w, MT_ERR_NOMEM, "out of memory");
        return;
    }
    sbuf *s = &w->sb;
    sb_clear(s);
    sb_puts(s, "cluster_");
    sb_puts(s, fx);
    if (c->side)
        sb_puts(s, "_side_inputs");
    if (s->oom) {
        w_fail(w, MT_ERR_NOMEM, "out of memory");
        return;
    }
    indent(w, depth);
    ds_puts(&w->s, "subgraph ");
    put_id(w, s->p);
    ds_puts(&w->s, " {\n");
    cluster_label(w, mod);
    if (c->side) {
        sb_clear(s);
        sb_puts(s, "positions, attention mask");
    }
    if (s->oom) {
        w_fail(w, MT_ERR_NOMEM, "out of memory");
        return;
    }
    indent(w, depth + 1);
    ds_puts(&w->s, "graph [label=");
    put_id(w, s->p);
    ds_puts(&w->s, "];\n");
    write_items(w, c->head, depth + 1);
    indent(w, depth);
    ds_puts(&w->s, "}\n");
}

static void write_items(writer *w, int item, int depth)
{
    for (; item != NONE && w->err == MT_OK; item = *item_next(w, item)) {
        int i = item / 3;
        switch (item % 3) {
        case IT_NODE:
            write_node(w, w->g->nodes[i], depth);
            break;
        case IT_GROUP:
            write_group(w, &w->gr[i], depth);
            break;
        default:
            write_cluster(w, &w->cl[i], depth);
        }
    }
}

static bool is_spine_item(const writer *w, int item)
{
    if (item % 3 == IT_NODE)
        return spine_node(w, w->g->nodes[item / 3]);
    return item % 3 == IT_GROUP && w->gr[item / 3].spine;
}

/* Inside an entry of the main list (or a group of them). */
static bool in_entry(const writer *w, int item)
{
    if (!w->spine_list)
        return false;
    if (item % 3 == IT_NODE) {
        const mt_modstack *st = w->g->nodes[item / 3]->stack;
        for (int d = 0; st && d < st->depth; d++)
            if (st->mods[d]->parent == w->spine_list)
                return true;
        return false;
    }
    const dgroup *G = &w->gr[item / 3];
    if (G->kind == G_FOLD)
        return G->mod == w->spine_list;
    for (const mt_module *mod = G->kind == G_DEPTH ? G->mod : NULL; mod; mod = mod->parent)
        if (mod->parent == w->spine_list)
            return true;
    return false;
}

static void write_edge(writer *w, const dedge *e)
{
    mtx_dot_attrs ea;
    ea.n = 0;
    /* A side input (rotary table, mask) read inside the layers does not pull
     * its readers up to where it is made: they stay beside their consumers. */
    if (w->styled && !is_spine_item(w, e->tail) && !in_entry(w, e->tail) && in_entry(w, e->head))
        mtx_dot_set(&ea, "weight", "0");
    if (w->styled && is_spine_item(w, e->tail) && is_spine_item(w, e->head)) {
        /* heavier and thicker: the stream runs straight down; a Graphviz
         * group on its nodes pulls whole clusters out of order instead */
        mtx_dot_set(&ea, "weight", "4");
        mtx_dot_set(&ea, "penwidth", "2");
    }
    if (w->style && w->style->edge) /* a group's edge: the first pair it stands for */
        w->style->edge(w->style->data, e->t, e->h, &ea);
    ds_write(&w->s, "\t", 1);
    const char *ids[2];
    int items[2] = {e->tail, e->head};
    for (int k = 0; k < 2; k++) {
        int it = items[k];
        ids[k] = it % 3 == IT_NODE ? w->g->nodes[it / 3]->name : group_id(w, &w->gr[it / 3]);
        if (!ids[k]) {
            w_fail(w, MT_ERR_NOMEM, "out of memory");
            return;
        }
    }
    put_id(w, ids[0]);
    ds_puts(&w->s, " -> ");
    put_id(w, ids[1]);
    put_attrs(w, &ea);
}

static void add_shape(const mt_tensor **list, int *n, int cap, const mt_tensor *t)
{
    for (int i = 0; i < *n; i++)
        if (same_shape(list[i], t))
            return;
    if (*n < cap)
        list[(*n)++] = t;
}

/* The edges of one argument of consumer i (items vc), deduplicated. */
static void collect_edges(writer *w, const mt_arg *a, int i, int vc)
{
    if (a->kind == MT_ARG_LIST) {
        for (int k = 0; k < a->v.list.n; k++)
            collect_edges(w, &a->v.list.items[k], i, vc);
        return;
    }
    if (a->kind != MT_ARG_TENSOR || w->err != MT_OK)
        return;
    const mt_node *p = producer(w, a, i), *c = w->g->nodes[i];
    if (!p)
        return;
    int vp = w->view[p->index], vh = vc;
    if (vp == HIDDEN && vh == HIDDEN)
        return;
    if (vp == HIDDEN)
        vp = outside(w, p, G_IN);
    else if (vh == HIDDEN)
        vh = outside(w, c, G_OUT);
    if (vp == vh || vp == HIDDEN || vh == HIDDEN)
        return;
    if (vh % 3 == IT_GROUP && p->op != MT_NODE_GET_ATTR) {
        dgroup *G = &w->gr[vh / 3];
        add_shape(G->in, &G->nin, 3, a->v.t);
    }
    if (vp % 3 == IT_GROUP) {
        dgroup *G = &w->gr[vp / 3];
        add_shape(G->out, &G->nout, 2, a->v.t);
    }
    if (!pair_new(w, vp, vh))
        return;
    dedge *e = w_grow(w, w->edges, w->nedges, &w->capedges, sizeof *e);
    if (!e)
        return;
    w->edges = e;
    e[w->nedges++] = (dedge){vp, vh, p, c};
}

/* `kind [a=b, ...];` for the defaults, empty values left out; nothing when
 * none is left. */
static void write_defaults(writer *w, const char *kind, const char *const *ours,
                           const char *const *extra)
{
    bool any = false;
    const char *const *lists[2] = {ours, extra};
    for (int l = 0; l < 2; l++)
        for (const char *const *p = lists[l]; p && p[0]; p += 2) {
            if (!p[1][0])
                continue;
            if (!any) {
                ds_write(&w->s, "\t", 1);
                ds_puts(&w->s, kind);
                ds_puts(&w->s, " [");
            } else {
                ds_puts(&w->s, ", ");
            }
            any = true;
            put_id(w, p[0]);
            ds_write(&w->s, "=", 1);
            put_id(w, p[1]);
        }
    if (any)
        ds_puts(&w->s, "];\n");
}

static const char *graph_title(mt_ctx *ctx, const mt_model *m)
{
    return mt_sprintf(ctx, "%s (%s), %s, %lld layer%s", m->class_name ? m->class_name : "model",
                      m->model_type ? m->model_type : "?",
                      m->dtype == MT_DTYPE_NONE ? "?" : mt_dtype_name(m->dtype),
                      (long long)m->num_layers, m->num_layers == 1 ? "" : "s");
}

/* The legend: one HTML-like table node (fixed text, written as is). */
static void write_legend(writer *w)
{
    ds_puts(&w->s, "\tlegend\t[shape=plaintext, style=\"\", label=<<table border=\"0\" cellborder=\"1\" "
                   "cellspacing=\"0\" cellpadding=\"3\"><tr><td colspan=\"2\"><b>legend</b></td></tr>");
    for (int c = 0; c < C_COUNT; c++) {
        ds_puts(&w->s, "<tr><td bgcolor=\"");
        ds_puts(&w->s, class_fill[c]);
        ds_puts(&w->s, "\">   </td><td align=\"left\">");
        ds_puts(&w->s, class_name[c]);
        ds_puts(&w->s, "</td></tr>");
    }
    ds_puts(&w->s, "<tr><td colspan=\"2\" align=\"left\">b = batch, s = seq; thick edges: residual stream</td></tr>"
                   "</table>>];\n");
}

/* The spine: the list whose loop module is shallowest (most entries on a
 * tie), its stream the first input its first entry reads from before it. */
static void find_spine(writer *w, const mt_module *mod, int *best)
{
    if (mtx_is_list(mod)) {
        const mt_module *scope = mtx_folds_scope(w->folds, mod);
        int lo, hi;
        if (scope && under(scope, w->sub) && mtx_folds_segment(w->folds, mod, 0, &lo, &hi)) {
            int d = tree_depth(scope) * 4096 - mod->children.n;
            if (*best < 0 || d < *best) {
                const mt_tensor *in = NULL;
                for (int i = lo; i <= hi && !in; i++) {
                    const mt_node *n = w->g->nodes[i];
                    for (int k = 0; k < n->nargs && !in; k++)
                        if (n->args[k].kind == MT_ARG_TENSOR && n->args[k].v.t && n->args[k].v.t->node &&
                            n->args[k].v.t->node->index < lo && n->args[k].v.t->node->op != MT_NODE_GET_ATTR)
                            in = n->args[k].v.t;
                }
                /* a stream passes through: the entry gives back what it read
                 * (layers do; experts read a routing mask, give hidden states) */
                const mt_node *last = w->g->nodes[hi];
                if (in && (last->nout != 1 || !same_shape(&last->outs[0], in)))
                    in = NULL;
                if (in) {
                    w->spine_first = lo;
                    *best = d;
                    w->spine_list = mod;
                    w->spine_scope = scope;
                    w->spine_shape = in;
                }
            }
        }
    }
    for (int i = 0; i < mod->children.n; i++)
        find_spine(w, mod->children.items[i], best);
}

static void release(writer *w)
{
    sb_free(&w->sb);
    mtx_ptrmap_free(&w->cmap);
    mtx_ptrmap_free(&w->dmap);
    mtx_ptrmap_free(&w->xmap);
    void *blocks[] = {w->cl, w->gr, w->next, w->view, w->fold, w->edges, w->pairs.k};
    for (size_t i = 0; i < sizeof blocks / sizeof blocks[0]; i++)
        if (blocks[i])
            mt_heap_free(w->ctx, blocks[i]);
    w->cl = NULL;
    w->gr = NULL;
    w->next = w->view = w->fold = NULL;
    w->edges = NULL;
    w->pairs.k = NULL;
}

/* Plan the picture: check every argument, fold, collapse, place, collect the
 * edges. */
static void plan_view(writer *w)
{
    mt_graph *g = w->g;
    w->sub = w->m->root;
    if (w->po.module && w->po.module[0]) {
        w->sub = mtx_find_module(w->m, w->po.module);
        if (!w->sub) {
            if (w->err == MT_OK)
                w->err = mt_ctx_status(w->ctx);
            return;
        }
    }
    w->sub_depth = tree_depth(w->sub);
    if (w->po.depth < 0)
        w_fail(w, MT_ERR_USAGE, "the depth must be 0 (everything) or positive");
    if (g->n > 0 && w->err == MT_OK) {
        w->next = mt_heap_alloc(w->ctx, (size_t)g->n * sizeof *w->next);
        w->view = mt_heap_alloc(w->ctx, (size_t)g->n * sizeof *w->view);
        w->fold = mt_heap_alloc(w->ctx, (size_t)g->n * sizeof *w->fold);
        if (!w->next || !w->view || !w->fold)
            w_fail(w, MT_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < g->n && w->err == MT_OK; i++) {
        const mt_node *n = g->nodes[i];
        if (n->index != i) {
            w_fail(w, MT_ERR_INTERNAL, "node index out of step with its position");
            break;
        }
        w->next[i] = NONE;
        w->fold[i] = NONE;
        for (int k = 0; k < n->nargs; k++)
            check_args(w, &n->args[k], i);
        for (int k = 0; k < n->nkwargs; k++)
            check_args(w, &n->kwargs[k].value, i);
    }
    if (w->err != MT_OK)
        return;
    if (w->styled || !w->po.unfold) {
        w->folds = mtx_folds_find(w->m, g);
        if (!w->folds) {
            w_fail(w, MT_ERR_NOMEM, "out of memory");
            return;
        }
    }
    if (!w->po.unfold)
        mark_folds(w, w->sub);
    if (w->styled) {
        int best = -1;
        find_spine(w, w->sub, &best);
    }
    for (int i = 0; i < g->n && w->err == MT_OK; i++)
        w->view[i] = view_of(w, i);
    for (int i = 0; i < g->n && w->err == MT_OK; i++) {
        const mt_node *n = g->nodes[i];
        for (int k = 0; k < n->nargs; k++)
            collect_edges(w, &n->args[k], i, w->view[i]);
        for (int k = 0; k < n->nkwargs; k++)
            collect_edges(w, &n->kwargs[k].value, i, w->view[i]);
    }
    if (w->err != MT_OK)
        return;
    /* totals of the groups: FLOPs (the sizing pass, once) and the spine */
    bool sized = false;
    for (int k = 0; k < w->ngr && !sized; k++)
        sized = w->gr[k].kind == G_FOLD || w->gr[k].kind == G_DEPTH;
    if (sized) {
        w->sz = w->po.sizing;
        if (!w->sz) {
            if (mt_model_sizing(w->m, g, NULL, &w->own_sz) != MT_OK) {
                w->err = mt_ctx_status(w->ctx);
                return;
            }
            w->sz = &w->own_sz;
        }
        for (int i = 0; i < g->n; i++)
            if (w->view[i] != HIDDEN && w->view[i] % 3 == IT_GROUP && w->sz->node_flops && i < w->sz->nnodes)
                w->gr[w->view[i] / 3].flops += w->sz->node_flops[i];
    }
    for (int k = 0; k < w->ngr; k++) {
        dgroup *G = &w->gr[k];
        if (G->kind == G_FOLD)
            G->spine = G->mod == w->spine_list;
        else if (G->kind == G_DEPTH)
            G->spine = G->mod->parent == w->spine_list ||
                       (G->nout == 1 && w->spine_shape && same_shape(G->out[0], w->spine_shape) &&
                        G->mod->parent == w->spine_scope);
    }
}

/* Seconds Graphviz dot spends on a picture, from its size and its widest
 * rank: crossing minimisation dominates, and it grows with the edges times
 * the width of the ranks they cross (a long edge is a chain of virtual nodes
 * through every rank it spans, so side inputs read by every layer widen them
 * all). Ranks are the longest path from the sources; the constant is fitted
 * on Graphviz 2.43 with the writer's attributes (docs/cli.md, "Pictures"):
 * llama-7b unfolded at 16/32/64 layers 5.7/11/14 s (estimated 5.5/21/83),
 * Mixtral 8 layers 5.2 s (7.7), DeepSeek-V3 4 layers unfolded over 240 s
 * (236); the default (folded) pictures of those models stay under 1 s. */
#define MTX_LAYOUT_SECONDS_PER_UNIT 2.2e-5

static void measure_layout(writer *w, mt_picture_size *out)
{
    int n = w->g->n, ng = w->ngr;
    int *rank = mt_heap_alloc(w->ctx, ((size_t)n + (size_t)ng + 1) * sizeof *rank);
    if (!rank) {
        w_fail(w, MT_ERR_NOMEM, "out of memory");
        return;
    }
    int maxr = 0;
    for (int i = 0; i < w->nedges; i++) { /* consumers in graph order: producers are ranked first */
        const dedge *e = &w->edges[i];
        int t = e->tail % 3 == IT_NODE ? e->tail / 3 : n + e->tail / 3;
        int h = e->head % 3 == IT_NODE ? e->head / 3 : n + e->head / 3;
        if (rank[h] < rank[t] + 1)
            rank[h] = rank[t] + 1;
        if (rank[h] > maxr)
            maxr = rank[h];
    }
    int64_t *width = mt_heap_alloc(w->ctx, ((size_t)maxr + 2) * sizeof *width);
    if (!width) {
        mt_heap_free(w->ctx, rank);
        w_fail(w, MT_ERR_NOMEM, "out of memory");
        return;
    }
    for (int i = 0; i < n; i++)
        if (w->view[i] == ITEM(i, IT_NODE))
            width[rank[i]]++, width[rank[i] + 1]--;
    for (int k = 0; k < ng; k++)
        width[rank[n + k]]++, width[rank[n + k] + 1]--;
    for (int i = 0; i < w->nedges; i++) { /* virtual nodes between the ends */
        const dedge *e = &w->edges[i];
        int t = e->tail % 3 == IT_NODE ? e->tail / 3 : n + e->tail / 3;
        int h = e->head % 3 == IT_NODE ? e->head / 3 : n + e->head / 3;
        if (rank[h] > rank[t] + 1)
            width[rank[t] + 1]++, width[rank[h]]--;
    }
    int64_t run = 0, widest = 0;
    for (int r = 0; r <= maxr; r++) {
        run += width[r];
        if (run > widest)
            widest = run;
    }
    out->widest_rank = (int)widest;
    out->layout_seconds = MTX_LAYOUT_SECONDS_PER_UNIT * ((double)out->nodes + out->edges) * (double)widest;
    mt_heap_free(w->ctx, width);
    mt_heap_free(w->ctx, rank);
}

/* Plan, then write. The text goes to `out`, or stays in w->s.buf when out is
 * NULL; with `count`, nothing is written: the picture is measured. */
static mt_status write_dot(writer *w, mt_model *m, mt_graph *g, const mtx_dot_style *style,
                           const mt_picture_opts *po, FILE *out, mt_picture_size *count)
{
    memset(w, 0, sizeof *w);
    w->ctx = m->ctx;
    w->m = m;
    w->g = g;
    w->style = style;
    if (po)
        w->po = *po;
    w->styled = !w->po.plain && !style;
    w->err = MT_OK;
    w->s.ctx = m->ctx;
    w->s.out = out;
    w->sb.ctx = m->ctx;
    w->root_head = w->root_tail = NONE;
    w->side_cl = NONE;
    mtx_ptrmap_init(&w->cmap, m->ctx);
    mtx_ptrmap_init(&w->dmap, m->ctx);
    mtx_ptrmap_init(&w->xmap, m->ctx);

    const char *title = style && style->title ? style->title : graph_title(m->ctx, m);
    if (!title)
        w_fail(w, MT_ERR_NOMEM, "out of memory");
    if (w->err == MT_OK)
        plan_view(w);
    if (w->err == MT_OK && count) {
        count->nodes = w->ngr + (w->styled ? 1 : 0);
        for (int i = 0; i < g->n; i++)
            count->nodes += w->view[i] == ITEM(i, IT_NODE);
        count->edges = w->nedges;
        count->clusters = w->ncl;
        measure_layout(w, count);
    }

    if (w->err == MT_OK && !count) {
        ds_puts(&w->s, "digraph metatrace {\n");
        sb_clear(&w->sb);
        sb_label(&w->sb, title);
        if (w->sz) {
            char line[96];
            snprintf(line, sizeof line, "\\nFLOPs at batch %lld, seq %lld", (long long)w->sz->batch,
                     (long long)w->sz->seq);
            sb_puts(&w->sb, line);
        }
        if (w->sub->parent) {
            sb_puts(&w->sb, "\\nmodule ");
            sb_label(&w->sb, w->sub->path);
        }
        const char *plain_graph[] = {"fontname", "Helvetica", "label", w->sb.p ? w->sb.p : "",
                                     "labelloc", "t",         "style", "rounded",
                                     NULL};
        const char *styled_graph[] = {"fontname", "Helvetica", "fontsize", "14", "label", w->sb.p ? w->sb.p : "",
                                      "labelloc", "t", "newrank", "true", "nodesep", "0.25", "rankdir", "TB", "ranksep", "0.3",
                                      "style", "rounded", NULL};
        if (w->sb.oom)
            w_fail(w, MT_ERR_NOMEM, "out of memory");
        write_defaults(w, "graph", w->styled ? styled_graph : plain_graph, NULL);
        static const char *const plain_node[] = {"fontname", "Courier", "fontsize", "10", "label",
                                                 "\\N",      "shape",   "ellipse",  NULL};
        static const char *const styled_node[] = {"fillcolor", "white", "fontname", "Helvetica", "fontsize", "10",
                                                  "height", "0.3", "label", "\\N", "margin", "0.08,0.03",
                                                  "shape", "box", "style", "rounded,filled", NULL};
        static const char *const styled_edge[] = {"arrowsize", "0.6", "color", "#555555", NULL};
        write_defaults(w, "node", w->styled ? styled_node : plain_node, style ? style->node_defaults : NULL);
        write_defaults(w, "edge", w->styled ? styled_edge : NULL, style ? style->edge_defaults : NULL);
        if (w->styled)
            write_legend(w);
        else if (style && style->legend && !w->po.plain) {
            ds_puts(&w->s, "\tlegend\t[shape=plaintext, style=\"\", label=<");
            ds_puts(&w->s, style->legend);
            ds_puts(&w->s, ">];\n");
        }
        write_items(w, w->root_head, 1);
        for (int i = 0; i < w->nedges && w->err == MT_OK; i++)
            write_edge(w, &w->edges[i]);
        ds_puts(&w->s, "}\n");
        if (out)
            ds_flush(&w->s);
        if (w->s.nomem)
            w_fail(w, MT_ERR_NOMEM, "out of memory");
        else if (w->s.ioerr || (out && ferror(out)))
            w_fail(w, MT_ERR_IO, "writing the DOT graph failed");
    }
    release(w);
    if (out && w->s.buf) {
        mt_heap_free(w->ctx, w->s.buf);
        w->s.buf = NULL;
    }
    return w->err;
}

mt_status mtx_dot_write(mt_model *m, mt_graph *g, const mtx_dot_style *style, const mt_picture_opts *po, FILE *out)
{
    if (!m || !g || !out)
        return m ? mt_fail(m->ctx, MT_ERR_USAGE, "DOT export: NULL argument") : MT_ERR_USAGE;
    writer w;
    return write_dot(&w, m, g, style, po, out, NULL);
}

char *mtx_dot_text(mt_model *m, mt_graph *g, const mtx_dot_style *style, const mt_picture_opts *po, size_t *len)
{
    if (!m || !g) {
        if (m)
            mt_fail(m->ctx, MT_ERR_USAGE, "DOT export: NULL argument");
        return NULL;
    }
    writer w;
    if (write_dot(&w, m, g, style, po, NULL, NULL) != MT_OK) {
        if (w.s.buf)
            mt_heap_free(m->ctx, w.s.buf);
        return NULL;
    }
    w.s.buf[w.s.n] = '\0';
    if (len)
        *len = w.s.n;
    return w.s.buf;
}

mt_status mt_picture_measure(mt_model *m, mt_graph *g, const mt_picture_opts *opts, mt_picture_size *out)
{
    if (!m || !g || !out)
        return m ? mt_fail(m->ctx, MT_ERR_USAGE, "mt_picture_measure: NULL argument") : MT_ERR_USAGE;
    memset(out, 0, sizeof *out);
    writer w;
    return write_dot(&w, m, g, NULL, opts, NULL, out);
}

mt_status mt_export_dot(mt_model *m, mt_graph *g, FILE *out)
{
    return mt_export_dot_opts(m, g, NULL, out);
}

mt_status mt_export_dot_opts(mt_model *m, mt_graph *g, const mt_picture_opts *opts, FILE *out)
{
    if (!m || !out)
        return m ? mt_fail(m->ctx, MT_ERR_USAGE, "mt_export_dot: NULL argument") : MT_ERR_USAGE;
    if (!g)
        return mt_fail(m->ctx, MT_ERR_USAGE, "DOT export: NULL graph");
    return mtx_dot_write(m, g, NULL, opts, out);
}
