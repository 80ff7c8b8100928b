/* metatrace — the DOT writer: the text of a traced graph, written directly.
 *
 * Node ids are the FX node names; modules become nested `cluster_<fx name>`
 * subgraphs following each node's module stack; an edge goes from every node
 * an argument refers to (args and kwargs, lists included) to its consumer,
 * one per pair. The plan DOT (dot_plan.c) adds its colours through a style;
 * render.c reads the text back with cgraph to lay it out.
 *
 * Layout of the text: graph attributes and node (edge) defaults; then the
 * root's items in creation order, where an item is a node or a cluster, a
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

/* ---- the writer -------------------------------------------------------------- */

/* Node shape by op kind. ORDER mt_opkind. */
static const char *const op_shape[MT_NODE_KIND_COUNT] = {
    "invhouse", /* placeholder */
    "box",      /* get_attr: parameters and buffers */
    "ellipse",  /* call_module */
    "ellipse",  /* call_function */
    "ellipse",  /* call_method */
    "house",    /* output */
};

#define NONE (-1)

/* Items are nodes (their index) and clusters (g->n + cluster index); each
 * container (the root or a cluster) lists its items in creation order. */
typedef struct dclus {
    const mt_module *mod;
    int head, tail; /* items inside */
    int next;       /* next item of the parent */
} dclus;

typedef struct writer {
    mt_ctx *ctx;
    mt_graph *g;
    const mtx_dot_style *style;
    dsink s;
    sbuf sb;            /* labels and cluster names */
    mtx_ptrmap cmap;    /* mt_module* -> cluster index + 1 */
    dclus *cl;
    int ncl, capcl;
    int *next;          /* by node index: next item of its container */
    int *mark;          /* mark[p] == i + 1: edge p -> i already written */
    int root_head, root_tail;
    mt_status err;
} writer;

static void w_fail(writer *w, mt_status st, const char *what)
{
    if (w->err == MT_OK)
        w->err = mt_fail(w->ctx, st, "DOT export: %s", what);
}

static int *item_next(writer *w, int item)
{
    return item < w->g->n ? &w->next[item] : &w->cl[item - w->g->n].next;
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
    if (w->ncl == w->capcl) {
        int cap = w->capcl ? w->capcl * 2 : 64;
        dclus *cl = mt_heap_alloc(w->ctx, (size_t)cap * sizeof *cl);
        if (!cl) {
            w_fail(w, MT_ERR_NOMEM, "out of memory");
            return NONE;
        }
        if (w->cl) {
            memcpy(cl, w->cl, (size_t)w->ncl * sizeof *cl);
            mt_heap_free(w->ctx, w->cl);
        }
        w->cl = cl;
        w->capcl = cap;
    }
    int c = w->ncl++;
    w->cl[c] = (dclus){mod, NONE, NONE, NONE};
    if (!mtx_ptrmap_put(&w->cmap, mod, (void *)(uintptr_t)(c + 1))) {
        w_fail(w, MT_ERR_NOMEM, "out of memory");
        return NONE;
    }
    append(w, parent, w->g->n + c);
    return c;
}

/* The innermost cluster a node goes in (NONE: the root). A call_module node
 * is not boxed alone in the cluster of the module it calls. */
static int home_of(writer *w, const mt_node *n)
{
    int where = NONE;
    const mt_modstack *st = n->stack;
    if (!st)
        return where;
    for (int i = 0; i < st->depth && w->err == MT_OK; i++) {
        const mt_module *mod = st->mods[i];
        if (!mod || !mod->path || !mod->path[0])
            continue; /* the root module is the whole graph */
        if (i == st->depth - 1 && n->op == MT_NODE_CALL_MODULE && mod == n->module)
            break;
        where = cluster_of(w, mod, where);
    }
    return where;
}

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

static void check_args(writer *w, const mt_arg *a, int consumer)
{
    if (a->kind == MT_ARG_LIST)
        for (int i = 0; i < a->v.list.n; i++)
            check_args(w, &a->v.list.items[i], consumer);
    else if (a->kind == MT_ARG_TENSOR)
        producer(w, a, consumer);
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

static void node_label(writer *w, const mt_node *n)
{
    sbuf *s = &w->sb;
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
    if ((int)n->op >= 0 && n->op < MT_NODE_KIND_COUNT && strcmp(op_shape[n->op], "ellipse"))
        mtx_dot_set(&a, "shape", op_shape[n->op]);
    if (n->op == MT_NODE_CALL_MODULE)
        mtx_dot_set(&a, "style", "bold");
    if (w->style && w->style->node)
        w->style->node(w->style->data, n, &a);
    indent(w, depth);
    put_id(w, n->name);
    put_attrs(w, &a);
}

static void write_items(writer *w, int head, int depth);

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
    if (s->oom) {
        w_fail(w, MT_ERR_NOMEM, "out of memory");
        return;
    }
    indent(w, depth);
    ds_puts(&w->s, "subgraph ");
    put_id(w, s->p);
    ds_puts(&w->s, " {\n");
    sb_clear(s);
    sb_label(s, mod->path);
    sb_puts(s, " (");
    sb_label(s, mod->type ? mod->type : "?");
    sb_puts(s, ")");
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
        if (item < w->g->n)
            write_node(w, w->g->nodes[item], depth);
        else
            write_cluster(w, &w->cl[item - w->g->n], depth);
    }
}

static void write_edges(writer *w, const mt_arg *a, const mt_node *head)
{
    if (a->kind == MT_ARG_LIST) {
        for (int i = 0; i < a->v.list.n; i++)
            write_edges(w, &a->v.list.items[i], head);
        return;
    }
    if (a->kind != MT_ARG_TENSOR)
        return;
    const mt_node *tail = producer(w, a, head->index);
    if (!tail || w->mark[tail->index] == head->index + 1)
        return; /* one edge per producer/consumer pair */
    w->mark[tail->index] = head->index + 1;
    mtx_dot_attrs ea;
    ea.n = 0;
    if (w->style && w->style->edge)
        w->style->edge(w->style->data, tail, head, &ea);
    ds_write(&w->s, "\t", 1);
    put_id(w, tail->name);
    ds_puts(&w->s, " -> ");
    put_id(w, head->name);
    put_attrs(w, &ea);
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

/* Plan the containers (first pass, also checking every argument), then
 * write. The text goes to `out`, or stays in w->s.buf when out is NULL. */
static mt_status write_dot(writer *w, mt_model *m, mt_graph *g, const mtx_dot_style *style, FILE *out)
{
    memset(w, 0, sizeof *w);
    w->ctx = m->ctx;
    w->g = g;
    w->style = style;
    w->err = MT_OK;
    w->s.ctx = m->ctx;
    w->s.out = out;
    w->sb.ctx = m->ctx;
    w->root_head = w->root_tail = NONE;
    mtx_ptrmap_init(&w->cmap, m->ctx);

    const char *title = style && style->title ? style->title : graph_title(m->ctx, m);
    if (!title)
        w_fail(w, MT_ERR_NOMEM, "out of memory");
    if (g->n > 0 && w->err == MT_OK) {
        w->next = mt_heap_alloc(w->ctx, (size_t)g->n * sizeof *w->next);
        w->mark = mt_heap_alloc(w->ctx, (size_t)g->n * sizeof *w->mark);
        if (!w->next || !w->mark)
            w_fail(w, MT_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < g->n && w->err == MT_OK; i++) {
        const mt_node *n = g->nodes[i];
        if (n->index != i) {
            w_fail(w, MT_ERR_INTERNAL, "node index out of step with its position");
            break;
        }
        w->next[i] = NONE;
        int home = home_of(w, n);
        if (w->err != MT_OK)
            break;
        append(w, home, i);
        for (int k = 0; k < n->nargs; k++)
            check_args(w, &n->args[k], i);
        for (int k = 0; k < n->nkwargs; k++)
            check_args(w, &n->kwargs[k].value, i);
    }

    if (w->err == MT_OK) {
        ds_puts(&w->s, "digraph metatrace {\n");
        sb_clear(&w->sb);
        sb_label(&w->sb, title);
        const char *graph_attrs[] = {"fontname", "Helvetica", "label", w->sb.p ? w->sb.p : "",
                                     "labelloc", "t",         "style", "rounded",
                                     NULL};
        if (w->sb.oom)
            w_fail(w, MT_ERR_NOMEM, "out of memory");
        write_defaults(w, "graph", graph_attrs, NULL);
        static const char *const node_attrs[] = {"fontname", "Courier", "fontsize", "10", "label",
                                                 "\\N",      "shape",   "ellipse",  NULL};
        write_defaults(w, "node", node_attrs, style ? style->node_defaults : NULL);
        write_defaults(w, "edge", NULL, style ? style->edge_defaults : NULL);
        write_items(w, w->root_head, 1);
        for (int i = 0; i < g->n && w->err == MT_OK; i++) {
            const mt_node *n = g->nodes[i];
            for (int k = 0; k < n->nargs; k++)
                write_edges(w, &n->args[k], n);
            for (int k = 0; k < n->nkwargs; k++)
                write_edges(w, &n->kwargs[k].value, n);
        }
        ds_puts(&w->s, "}\n");
        if (out)
            ds_flush(&w->s);
        if (w->s.nomem)
            w_fail(w, MT_ERR_NOMEM, "out of memory");
        else if (w->s.ioerr || (out && ferror(out)))
            w_fail(w, MT_ERR_IO, "writing the DOT graph failed");
    }

    sb_free(&w->sb);
    mtx_ptrmap_free(&w->cmap);
    if (w->cl)
        mt_heap_free(w->ctx, w->cl);
    if (w->next)
        mt_heap_free(w->ctx, w->next);
    if (w->mark)
        mt_heap_free(w->ctx, w->mark);
    if (out && w->s.buf) {
        mt_heap_free(w->ctx, w->s.buf);
        w->s.buf = NULL;
    }
    return w->err;
}

mt_status mtx_dot_write(mt_model *m, mt_graph *g, const mtx_dot_style *style, FILE *out)
{
    if (!m || !g || !out)
        return m ? mt_fail(m->ctx, MT_ERR_USAGE, "DOT export: NULL argument") : MT_ERR_USAGE;
    writer w;
    return write_dot(&w, m, g, style, out);
}

char *mtx_dot_text(mt_model *m, mt_graph *g, const mtx_dot_style *style, size_t *len)
{
    if (!m || !g) {
        if (m)
            mt_fail(m->ctx, MT_ERR_USAGE, "DOT export: NULL argument");
        return NULL;
    }
    writer w;
    if (write_dot(&w, m, g, style, NULL) != MT_OK) {
        if (w.s.buf)
            mt_heap_free(m->ctx, w.s.buf);
        return NULL;
    }
    w.s.buf[w.s.n] = '\0';
    if (len)
        *len = w.s.n;
    return w.s.buf;
}

mt_status mt_export_dot(mt_model *m, mt_graph *g, FILE *out)
{
    if (!m || !out)
        return m ? mt_fail(m->ctx, MT_ERR_USAGE, "mt_export_dot: NULL argument") : MT_ERR_USAGE;
    if (!g)
        return mt_fail(m->ctx, MT_ERR_USAGE, "DOT export: NULL graph");
    return mtx_dot_write(m, g, NULL, out);
}
