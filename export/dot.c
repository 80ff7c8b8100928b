/* metatrace — DOT exporter (Graphviz cgraph) and the graph builder shared
 * with render.c.
 *
 * Node ids are the FX node names; modules become nested `cluster_<fx name>`
 * subgraphs following each node's module stack; an edge goes from every node
 * an argument refers to (args and kwargs, lists included) to its consumer.
 *
 * Determinism: cgraph's default ID discipline uses the address of the
 * interned name as the object id and orders subgraphs by id, so cluster order
 * in agwrite output would follow heap addresses. Our discipline hands out
 * sequential ids, so every object (nodes, edges and subgraphs) is written in
 * creation order. */
#include <string.h>

#include <metatrace/metatrace.h>

#include "dot_internal.h"
#include "ptrmap.h"

/* Graphviz 2.42/2.43 takes `char *` for names and values it only reads:
 * the one place we cast const away. */
static char *cg(const char *s)
{
    return (char *)s;
}

/* ---- ID discipline: sequential ids and our own name table -----------------
 *
 * Object ids count up from 1 in creation order (subgraphs are then written in
 * creation order). Names live in a table owned by the discipline state: id ->
 * name for agnameof, name -> id for lookups. (Leaving names to cgraph's
 * internal map instead leaks that map in Graphviz 2.43's agclose.) The state
 * is allocated in the context arena, its tables on the context heap; they are
 * released by agclose (ids_close) or at the latest by mt_ctx_free. The names
 * themselves are cgraph strings, freed by agclose. */

typedef struct seq_ids {
    mt_ctx *ctx;
    Agraph_t *root;
    const char **names; /* by id; NULL for anonymous objects (edges); [0] unused */
    size_t n, cap;      /* ids in use: 1 .. n-1 */
    size_t *slots;      /* hash of names: id, or 0 when empty */
    size_t nslots;      /* power of two */
    size_t named;
} seq_ids;

typedef struct ids_disc {
    Agdisc_t disc; /* first: cgraph hands ids_open a pointer to it */
    seq_ids *ids;
} ids_disc;

static size_t name_hash(const char *s)
{
    uint64_t h = UINT64_C(14695981039346656037);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        h ^= *p;
        h *= UINT64_C(1099511628211);
    }
    return (size_t)h;
}

static size_t ids_find(const seq_ids *s, const char *name)
{
    if (!s->nslots)
        return 0;
    for (size_t i = name_hash(name) & (s->nslots - 1);; i = (i + 1) & (s->nslots - 1)) {
        size_t id = s->slots[i];
        if (!id || strcmp(s->names[id], name) == 0)
            return id;
    }
}

static void ids_slot_insert(seq_ids *s, size_t id)
{
    size_t i = name_hash(s->names[id]) & (s->nslots - 1);
    while (s->slots[i])
        i = (i + 1) & (s->nslots - 1);
    s->slots[i] = id;
}

/* A new id for `name` (NULL: anonymous); 0 when out of memory. */
static size_t ids_new(seq_ids *s, const char *name)
{
    if (s->n == 0)
        s->n = 1; /* id 0 is never handed out */
    if (s->n >= s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 1024;
        const char **names = mt_heap_alloc(s->ctx, cap * sizeof *names);
        if (!names)
            return 0;
        if (s->names) {
            memcpy(names, s->names, s->n * sizeof *names);
            mt_heap_free(s->ctx, (void *)s->names);
        }
        s->names = names;
        s->cap = cap;
    }
    if (name && (s->named + 1) * 2 > s->nslots) {
        size_t nslots = s->nslots ? s->nslots * 2 : 1024;
        size_t *slots = mt_heap_alloc(s->ctx, nslots * sizeof *slots);
        if (!slots)
            return 0;
        if (s->slots)
            mt_heap_free(s->ctx, s->slots);
        s->slots = slots;
        s->nslots = nslots;
        for (size_t id = 1; id < s->n; id++)
            if (s->names[id])
                ids_slot_insert(s, id);
    }
    /* cgraph expects names to be its reference-counted strings (it reads
     * their header, e.g. to tell HTML labels): agstrdup, freed by agclose. */
    const char *copy = NULL;
    if (name && !(copy = agstrdup(s->root, cg(name))))
        return 0;
    size_t id = s->n++;
    s->names[id] = copy;
    if (copy) {
        ids_slot_insert(s, id);
        s->named++;
    }
    return id;
}

static void *ids_open(Agraph_t *g, Agdisc_t *disc)
{
    seq_ids *s = ((ids_disc *)disc)->ids;
    s->root = g;
    return s;
}

static long ids_map(void *state, int objtype, char *str, IDTYPE *id, int createflag)
{
    (void)objtype;
    seq_ids *s = state;
    size_t k = str ? ids_find(s, str) : 0;
    if (!k && str && !createflag)
        return 0; /* no such name */
    if (!k)
        k = ids_new(s, str);
    if (!k)
        return 0;
    *id = (IDTYPE)k;
    return 1;
}

static long ids_alloc(void *state, int objtype, IDTYPE request)
{
    (void)state;
    (void)objtype;
    (void)request;
    return 0; /* no caller-chosen ids */
}

static void ids_free(void *state, int objtype, IDTYPE id)
{
    (void)state;
    (void)objtype;
    (void)id; /* names stay until the graph is closed */
}

static char *ids_print(void *state, int objtype, IDTYPE id)
{
    (void)objtype;
    const seq_ids *s = state;
    return id < s->n ? (char *)s->names[id] : NULL;
}

static void ids_close(void *state)
{
    seq_ids *s = state;
    if (s->names)
        mt_heap_free(s->ctx, (void *)s->names);
    if (s->slots)
        mt_heap_free(s->ctx, s->slots);
    s->names = NULL;
    s->slots = NULL;
    s->n = s->cap = s->nslots = s->named = 0;
}

static void ids_register(void *state, int objtype, void *obj)
{
    (void)state;
    (void)objtype;
    (void)obj;
}

static const Agiddisc_t seq_id_disc = {ids_open,  ids_map,   ids_alloc,   ids_free,
                                       ids_print, ids_close, ids_register};

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
 * literal one is doubled; quotes are escaped by agwrite itself. */
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

/* ---- the builder ------------------------------------------------------------- */

/* Node shape by op kind. ORDER mt_opkind. */
static const char *const op_shape[MT_NODE_KIND_COUNT] = {
    "invhouse", /* placeholder */
    "box",      /* get_attr: parameters and buffers */
    "ellipse",  /* call_module */
    "ellipse",  /* call_function */
    "ellipse",  /* call_method */
    "house",    /* output */
};

typedef struct builder {
    mt_ctx *ctx;
    mt_graph *g;
    Agraph_t *root;
    Agsym_t *graph_label, *node_label, *node_shape, *node_style;
    mtx_ptrmap clusters; /* mt_module* -> Agraph_t* */
    Agnode_t **agn;      /* by node index */
    int *mark;           /* mark[p] == i + 1: edge p -> i already added */
    sbuf sb;
    mt_status err;
} builder;

static void b_fail(builder *b, mt_status st, const char *what)
{
    if (b->err == MT_OK)
        b->err = mt_fail(b->ctx, st, "DOT export: %s", what);
}

static Agraph_t *cluster_of(builder *b, const mt_module *mod, Agraph_t *parent)
{
    Agraph_t *c = mtx_ptrmap_get(&b->clusters, mod);
    if (c)
        return c;
    const char *fx = mt_fx_name(b->ctx, mod->path);
    const char *name = fx ? mt_sprintf(b->ctx, "cluster_%s", fx) : NULL;
    if (!name) {
        b_fail(b, MT_ERR_NOMEM, "out of memory");
        return NULL;
    }
    c = agsubg(parent, cg(name), 1);
    if (!c) {
        b_fail(b, MT_ERR_INTERNAL, "cannot create a cluster");
        return NULL;
    }
    sb_clear(&b->sb);
    sb_label(&b->sb, mod->path);
    sb_puts(&b->sb, " (");
    sb_label(&b->sb, mod->type ? mod->type : "?");
    sb_puts(&b->sb, ")");
    if (b->sb.oom || agxset(c, b->graph_label, b->sb.p) != 0 ||
        !mtx_ptrmap_put(&b->clusters, mod, c)) {
        b_fail(b, MT_ERR_NOMEM, "out of memory");
        return NULL;
    }
    return c;
}

/* The innermost cluster a node goes in (the root graph when none). A
 * call_module node is not boxed alone in the cluster of the module it calls. */
static Agraph_t *home_of(builder *b, const mt_node *n)
{
    Agraph_t *where = b->root;
    const mt_modstack *st = n->stack;
    if (!st)
        return where;
    for (int i = 0; i < st->depth && where; i++) {
        const mt_module *mod = st->mods[i];
        if (!mod || !mod->path || !mod->path[0])
            continue; /* the root module is the whole graph */
        if (i == st->depth - 1 && n->op == MT_NODE_CALL_MODULE && mod == n->module)
            break;
        where = cluster_of(b, mod, where);
    }
    return where;
}

static void node_label(builder *b, const mt_node *n)
{
    sbuf *s = &b->sb;
    sb_clear(s);
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

static void add_edges(builder *b, const mt_arg *a, int consumer)
{
    if (a->kind == MT_ARG_LIST) {
        for (int i = 0; i < a->v.list.n; i++)
            add_edges(b, &a->v.list.items[i], consumer);
        return;
    }
    if (a->kind != MT_ARG_TENSOR)
        return;
    const mt_node *p = a->v.t ? a->v.t->node : NULL;
    if (!p || p->index < 0 || p->index >= consumer || b->g->nodes[p->index] != p) {
        b_fail(b, MT_ERR_INTERNAL, "an argument refers to a tensor not produced earlier in the graph");
        return;
    }
    if (b->mark[p->index] == consumer + 1)
        return; /* one edge per producer/consumer pair */
    b->mark[p->index] = consumer + 1;
    if (!agedge(b->root, b->agn[p->index], b->agn[consumer], NULL, 1))
        b_fail(b, MT_ERR_INTERNAL, "cannot create an edge");
}

static const char *graph_title(builder *b, const mt_model *m)
{
    return mt_sprintf(b->ctx, "%s (%s), %s, %lld layer%s",
                      m->class_name ? m->class_name : "model",
                      m->model_type ? m->model_type : "?",
                      m->dtype == MT_DTYPE_NONE ? "?" : mt_dtype_name(m->dtype),
                      (long long)m->num_layers, m->num_layers == 1 ? "" : "s");
}

Agraph_t *mtx_dot_build(mt_model *m, mt_graph *g)
{
    if (!m || !g) {
        if (m)
            mt_fail(m->ctx, MT_ERR_USAGE, "DOT export: NULL graph");
        return NULL;
    }
    builder b;
    memset(&b, 0, sizeof b);
    b.ctx = m->ctx;
    b.g = g;
    b.err = MT_OK;
    b.sb.ctx = m->ctx;
    mtx_ptrmap_init(&b.clusters, m->ctx);

    ids_disc disc;
    disc.disc.mem = &AgMemDisc;
    disc.disc.id = (Agiddisc_t *)&seq_id_disc; /* cgraph only reads it */
    disc.disc.io = &AgIoDisc;
    disc.ids = mt_alloc(m->ctx, sizeof *disc.ids);
    const char *title = graph_title(&b, m);
    if (!disc.ids || !title)
        return NULL;
    disc.ids->ctx = m->ctx;
    b.root = agopen(cg("metatrace"), Agdirected, &disc.disc);
    if (!b.root) {
        if (b.root)
            agclose(b.root);
        mt_fail(m->ctx, MT_ERR_NOMEM, "DOT export: out of memory");
        return NULL;
    }
    /* Defaults, declared once. */
    b.graph_label = agattr(b.root, AGRAPH, cg("label"), cg(title));
    agattr(b.root, AGRAPH, cg("labelloc"), cg("t"));
    agattr(b.root, AGRAPH, cg("fontname"), cg("Helvetica"));
    agattr(b.root, AGRAPH, cg("style"), cg("rounded"));
    b.node_label = agattr(b.root, AGNODE, cg("label"), cg("\\N"));
    b.node_shape = agattr(b.root, AGNODE, cg("shape"), cg("ellipse"));
    b.node_style = agattr(b.root, AGNODE, cg("style"), cg(""));
    agattr(b.root, AGNODE, cg("fontname"), cg("Courier"));
    agattr(b.root, AGNODE, cg("fontsize"), cg("10"));

    if (g->n > 0) {
        b.agn = mt_heap_alloc(b.ctx, (size_t)g->n * sizeof *b.agn);
        b.mark = mt_heap_alloc(b.ctx, (size_t)g->n * sizeof *b.mark);
        if (!b.agn || !b.mark)
            b_fail(&b, MT_ERR_NOMEM, "out of memory");
    }
    if (!b.graph_label || !b.node_label || !b.node_shape || !b.node_style)
        b_fail(&b, MT_ERR_INTERNAL, "cannot declare attributes");

    for (int i = 0; i < g->n && b.err == MT_OK; i++) {
        const mt_node *n = g->nodes[i];
        if (n->index != i) {
            b_fail(&b, MT_ERR_INTERNAL, "node index out of step with its position");
            break;
        }
        Agraph_t *home = home_of(&b, n);
        if (!home)
            break;
        Agnode_t *an = agnode(home, cg(n->name), 1);
        if (!an) {
            b_fail(&b, MT_ERR_INTERNAL, "cannot create a node");
            break;
        }
        b.agn[i] = an;
        node_label(&b, n);
        if (b.sb.oom) {
            b_fail(&b, MT_ERR_NOMEM, "out of memory");
            break;
        }
        agxset(an, b.node_label, b.sb.p);
        if ((int)n->op >= 0 && n->op < MT_NODE_KIND_COUNT && strcmp(op_shape[n->op], "ellipse"))
            agxset(an, b.node_shape, cg(op_shape[n->op]));
        if (n->op == MT_NODE_CALL_MODULE)
            agxset(an, b.node_style, cg("bold"));
        for (int k = 0; k < n->nargs; k++)
            add_edges(&b, &n->args[k], i);
        for (int k = 0; k < n->nkwargs; k++)
            add_edges(&b, &n->kwargs[k].value, i);
    }

    sb_free(&b.sb);
    mtx_ptrmap_free(&b.clusters);
    if (b.agn)
        mt_heap_free(b.ctx, b.agn);
    if (b.mark)
        mt_heap_free(b.ctx, b.mark);
    if (b.err != MT_OK) {
        agclose(b.root);
        return NULL;
    }
    return b.root;
}

mt_status mt_export_dot(mt_model *m, mt_graph *g, FILE *out)
{
    if (!m || !out)
        return m ? mt_fail(m->ctx, MT_ERR_USAGE, "mt_export_dot: NULL argument") : MT_ERR_USAGE;
    Agraph_t *ag = mtx_dot_build(m, g);
    if (!ag)
        return mt_ctx_status(m->ctx) != MT_OK ? mt_ctx_status(m->ctx) : MT_ERR_INTERNAL;
    int rc = agwrite(ag, out);
    agclose(ag);
    if (rc != 0 || ferror(out))
        return mt_fail(m->ctx, MT_ERR_IO, "writing the DOT graph failed");
    return MT_OK;
}
