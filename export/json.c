/* metatrace — JSON exporter: the complete record of a traced model.
 *
 * The format is specified in docs/graph-format.md (format "metatrace-graph",
 * version MT_JSON_VERSION); keep the two in step. The document is written in
 * a fixed key order, in exactly the bytes json_dumpf(doc, JSON_INDENT(2))
 * (or JSON_COMPACT) of jansson would print for it, so the same model and
 * graph always give the same bytes; the text is written directly, section by
 * section and node by node (jsonw.h), without building jansson objects:
 * building and dumping them cost most of the export (see docs/benchmarks.md).
 * Only a caller's extra member (the tensor-parallel plan, built by
 * plan_json.c) is dumped by jansson, at its place in the document.
 *
 * Linear in graph size, in time and memory: node references are direct
 * pointers (tensor -> node -> name), and the text goes out through one
 * buffer of fixed size. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ctx_internal.h"
#include "json_internal.h"
#include "jsonw.h"

#include <metatrace/metatrace.h>

typedef struct jb {
    mt_ctx *ctx;
    mt_status err;       /* first error (MT_OK while all is well) */
    int real_precision;  /* significant digits that round-trip every real (scan_reals) */
    bool compact;        /* mt_json_opts.compact: no newlines or indentation, ',' and ':' alone */
    bool stable;         /* mt_json_opts.stable: no config directory, no tool version */
    /* scan_reals: the last distinct reals checked (a model repeats a few) */
    uint64_t seen[8];
    int nseen, next_seen;
} jb;

static void fail_nomem(jb *b)
{
    if (b->err == MT_OK)
        b->err = mt_fail(b->ctx, MT_ERR_NOMEM, "out of memory while building the JSON document");
}

/* Smallest of 15, 16, 17 significant digits that gives back f exactly.
 * With 15 digits a value whose shortest form is shorter prints in that
 * shortest form (0.1, 1e-6); 17 always round-trips. */
static int digits_needed(double f)
{
    char buf[40];
    for (int p = 15; p < 17; p++) {
        snprintf(buf, sizeof buf, "%.*g", p, f);
        if (strtod(buf, NULL) == f)
            return p;
    }
    return 17;
}

/* ---- sections -------------------------------------------------------------- */

/* model.config: the path as given, or under --stable only its last component
 * (where the file lives is not part of the model). */
static const char *config_name(const jb *b, const mt_model *m)
{
    const char *path = m->cfg ? mt_config_path(m->cfg) : NULL;
    if (!path || !b->stable)
        return path;
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static const mt_tensor *param_tensor(const mt_param *p)
{
    if (p->t)
        return p->t;
    return p->tied_to ? p->tied_to->t : NULL;
}

static const char *node_target(const mt_node *n)
{
    if (n->target)
        return n->target;
    if (n->op == MT_NODE_PLACEHOLDER)
        return n->name;
    if (n->op == MT_NODE_OUTPUT)
        return "output";
    return NULL;
}

/* ---- reals ------------------------------------------------------------------
 * One precision for the whole document (as jansson has no per-value one, and
 * the plan member is still dumped by it): the smallest of 15/16/17 digits that
 * round-trips every real. A pre-pass finds it, since the nodes are written as
 * they are visited. */

static void scan_real(jb *b, double f)
{
    if (b->real_precision >= 17 || !isfinite(f))
        return;
    uint64_t bits;
    memcpy(&bits, &f, sizeof bits);
    for (int i = 0; i < b->nseen; i++)
        if (b->seen[i] == bits)
            return;
    b->seen[b->next_seen] = bits;
    b->next_seen = (b->next_seen + 1) % 8;
    if (b->nseen < 8)
        b->nseen++;
    int p = digits_needed(f);
    if (p > b->real_precision)
        b->real_precision = p;
}

static void scan_arg(jb *b, const mt_arg *a)
{
    if (a->kind == MT_ARG_FLOAT) {
        scan_real(b, a->v.f);
    } else if (a->kind == MT_ARG_LIST) {
        for (int i = 0; i < a->v.list.n; i++)
            scan_arg(b, &a->v.list.items[i]);
    }
}

static void scan_kwargs(jb *b, const mt_kwarg *kw, int n)
{
    for (int i = 0; i < n; i++)
        scan_arg(b, &kw[i].value);
}

static void scan_modules(jb *b, const mt_module *mod)
{
    scan_kwargs(b, mod->attrs, mod->nattrs);
    for (int i = 0; i < mod->children.n; i++)
        scan_modules(b, mod->children.items[i]);
}

static void scan_reals(jb *b, const mt_model *m, const mt_graph *g)
{
    int ninfo;
    const mt_kwarg *info = mt__model_infos(m, &ninfo);
    scan_kwargs(b, info, ninfo);
    if (m->root)
        scan_modules(b, m->root);
    for (int i = 0; i < g->n; i++) {
        const mt_node *n = g->nodes[i];
        for (int k = 0; k < n->nargs; k++)
            if (n->args[k].kind == MT_ARG_FLOAT || n->args[k].kind == MT_ARG_LIST)
                scan_arg(b, &n->args[k]);
        scan_kwargs(b, n->kwargs, n->nkwargs);
    }
}

/* ---- the writer ---------------------------------------------------------------- */

enum { STACK_TEXT_MAX = 4096, SHAPES = 4, SHAPE_DIMS = 6, SHAPE_TEXT = 200 };

typedef struct jw {
    mtx_jw w;
    jb *b;
    /* the rendering of the last module stack written (nodes in a row share
     * their stack): its bytes, valid while last_stack is set */
    const mt_modstack *last_stack;
    char *stack_text;
    size_t stack_len;
    /* the last shapes written (shapes repeat from node to node): dims by
     * address, at an indentation depth, and their text */
    struct {
        int depth, ndim, len;
        const mt_sym *dims[SHAPE_DIMS];
        char text[SHAPE_TEXT];
    } shapes[SHAPES];
    int nshapes, next_shape;
} jw;

static void w_tagged_str(mtx_jw *w, const char *tag, const char *v)
{
    mtx_w_open(w, '{');
    mtx_w_key(w, tag);
    mtx_w_gstr(w, v);
    mtx_w_close(w, '}');
}

static void w_symarg(mtx_jw *w, const mt_sym *sym, bool ustr)
{
    if (!sym) {
        mtx_w_null(w);
    } else if (mt_sym_is_const(sym)) {
        mtx_w_int(w, (long long)mt_sym_const_value(sym));
    } else {
        mtx_w_open(w, '{');
        MTX_W_KEY(w, "sym");
        if (ustr)
            mtx_w_ustr(w, mt_sym_str(sym));
        else
            mtx_w_gstr(w, mt_sym_str(sym));
        mtx_w_close(w, '}');
    }
}

static void w_dtype(mtx_jw *w, mt_dtype d)
{
    if (d == MT_DTYPE_NONE)
        mtx_w_null(w);
    else
        mtx_w_gstr(w, mt_dtype_name(d));
}

/* An argument (docs/graph-format.md, "Argument encoding"). `where` names the
 * node for error messages (NULL outside nodes). `ustr`: strings as jansson's
 * json_string took them (the sections it used to build: model.info). */
static void w_arg_as(jw *j, const mt_arg *a, const char *where, bool ustr)
{
    mtx_jw *w = &j->w;
    jb *b = j->b;
    switch (a->kind) {
    case MT_ARG_NONE: mtx_w_null(w); return;
    case MT_ARG_TENSOR:
        if (!a->v.t || !a->v.t->node || !a->v.t->node->name) {
            if (b->err == MT_OK) {
                if (ustr)
                    b->err = mt_fail(b->ctx, MT_ERR_INTERNAL,
                                     "JSON export: %s%s%sa tensor argument has no producing node",
                                     where ? "node '" : "", where ? where : "", where ? "': " : "");
                else
                    b->err = mt_fail(b->ctx, MT_ERR_INTERNAL,
                                     "JSON export: node '%s': a tensor argument has no producing node",
                                     where ? where : "?");
            }
            mtx_w_null(w);
            return;
        }
        if (ustr) {
            mtx_w_open(w, '{');
            MTX_W_KEY(w, "node");
            mtx_w_ustr(w, a->v.t->node->name);
            mtx_w_close(w, '}');
        } else {
            w_tagged_str(w, "node", a->v.t->node->name);
        }
        return;
    case MT_ARG_INT: mtx_w_int(w, (long long)a->v.i); return;
    case MT_ARG_FLOAT: mtx_w_real(w, a->v.f); return;
    case MT_ARG_BOOL: mtx_w_bool(w, a->v.b); return;
    case MT_ARG_SYM: w_symarg(w, a->v.sym, ustr); return;
    case MT_ARG_DTYPE:
        mtx_w_open(w, '{');
        MTX_W_KEY(w, "dtype");
        w_dtype(w, a->v.dtype);
        mtx_w_close(w, '}');
        return;
    case MT_ARG_STR:
        if (ustr)
            mtx_w_ustr(w, a->v.s);
        else
            mtx_w_gstr(w, a->v.s);
        return;
    case MT_ARG_SLICE:
        mtx_w_open(w, '{');
        MTX_W_KEY(w, "slice");
        mtx_w_open(w, '[');
        mtx_w_elem(w);
        w_symarg(w, a->v.slice.start, ustr);
        mtx_w_elem(w);
        w_symarg(w, a->v.slice.stop, ustr);
        mtx_w_elem(w);
        w_symarg(w, a->v.slice.step, ustr);
        mtx_w_close(w, ']');
        mtx_w_close(w, '}');
        return;
    case MT_ARG_ELLIPSIS:
        mtx_w_open(w, '{');
        MTX_W_KEY(w, "ellipsis");
        MTX_W_LIT(w, "true");
        mtx_w_close(w, '}');
        return;
    case MT_ARG_LIST:
        mtx_w_open(w, '[');
        for (int i = 0; i < a->v.list.n; i++) {
            mtx_w_elem(w);
            w_arg_as(j, &a->v.list.items[i], where, ustr);
        }
        mtx_w_close(w, ']');
        return;
    case MT_ARG_DEVICE: w_tagged_str(w, "device", mt_device_name(a->v.device)); return;
    case MT_ARG_KIND_COUNT: break;
    }
    if (b->err == MT_OK)
        b->err = mt_fail(b->ctx, MT_ERR_INTERNAL, "JSON export: unknown argument kind %d", (int)a->kind);
    mtx_w_null(w);
}

static void w_arg(jw *j, const mt_arg *a, const char *where) { w_arg_as(j, a, where, false); }

static void w_shape_text(mtx_jw *w, int ndim, const mt_sym *const *shape)
{
    mtx_w_open(w, '[');
    for (int i = 0; i < ndim; i++) {
        mtx_w_elem(w);
        if (!shape[i])
            mtx_w_null(w);
        else if (mt_sym_is_const(shape[i]))
            mtx_w_int(w, (long long)mt_sym_const_value(shape[i]));
        else
            mtx_w_gstr(w, mt_sym_str(shape[i]));
    }
    mtx_w_close(w, ']');
}

/* A shape written before at this depth is copied from its text. */
static void w_shape(jw *j, int ndim, const mt_sym *const *shape)
{
    mtx_jw *w = &j->w;
    if (ndim > SHAPE_DIMS || ndim <= 0) {
        w_shape_text(w, ndim, shape);
        return;
    }
    for (int k = 0; k < j->nshapes; k++) {
        if (j->shapes[k].ndim != ndim || j->shapes[k].depth != w->depth)
            continue;
        int i = 0;
        while (i < ndim && j->shapes[k].dims[i] == shape[i])
            i++;
        if (i == ndim) {
            mtx_w_raw(w, j->shapes[k].text, (size_t)j->shapes[k].len);
            return;
        }
    }
    mtx_sink *s = w->s;
    unsigned long flushes = s->flushes;
    const char *from = s->p;
    w_shape_text(w, ndim, shape);
    size_t len = (size_t)(s->p - from);
    if (s->flushes != flushes || len > SHAPE_TEXT)
        return;
    int k = j->next_shape;
    j->next_shape = (k + 1) % SHAPES;
    if (j->nshapes < SHAPES)
        j->nshapes++;
    j->shapes[k].depth = w->depth;
    j->shapes[k].ndim = ndim;
    j->shapes[k].len = (int)len;
    memcpy(j->shapes[k].dims, shape, (size_t)ndim * sizeof *shape);
    memcpy(j->shapes[k].text, from, len);
}

static void w_module_stack(jw *j, const mt_modstack *st)
{
    mtx_jw *w = &j->w;
    mtx_sink *s = w->s;
    if (st && st == j->last_stack) {
        mtx_w_raw(w, j->stack_text, j->stack_len);
        return;
    }
    unsigned long flushes = s->flushes;
    const char *from = s->p;
    MTX_W_KEY(w, "module_stack");
    mtx_w_open(w, '[');
    for (int i = 0; st && i < st->depth; i++) {
        const mt_module *mod = st->mods[i];
        if (!mod || !mod->path || !mod->path[0]) /* the root is not listed */
            continue;
        mtx_w_elem(w);
        mtx_w_gstr(w, mod->path);
    }
    mtx_w_close(w, ']');
    /* The text (separator, key and array) is kept for the next node when it
     * is still whole in the buffer (nothing flushed meanwhile). */
    j->last_stack = NULL;
    size_t len = (size_t)(s->p - from);
    if (st && j->stack_text && s->flushes == flushes && len <= STACK_TEXT_MAX) {
        memcpy(j->stack_text, from, len);
        j->stack_len = len;
        j->last_stack = st;
    }
}

static void w_node(jw *j, const mt_node *n)
{
    mtx_jw *w = &j->w;
    mtx_w_open(w, '{');
    MTX_W_KEY(w, "name");
    mtx_w_gstr(w, n->name);
    MTX_W_KEY(w, "op");
    mtx_w_gstr(w, mt_opkind_name(n->op));
    MTX_W_KEY(w, "target");
    mtx_w_gstr(w, node_target(n));
    MTX_W_KEY(w, "args");
    mtx_w_open(w, '[');
    for (int i = 0; i < n->nargs; i++) {
        mtx_w_elem(w);
        w_arg(j, &n->args[i], n->name);
    }
    mtx_w_close(w, ']');
    MTX_W_KEY(w, "kwargs");
    mtx_w_open(w, '{');
    for (int i = 0; i < n->nkwargs; i++) {
        mtx_w_key(w, n->kwargs[i].name ? n->kwargs[i].name : "");
        w_arg(j, &n->kwargs[i].value, n->name);
    }
    mtx_w_close(w, '}');
    if (n->is_tuple) {
        MTX_W_KEY(w, "shape");
        mtx_w_null(w);
        MTX_W_KEY(w, "dtype");
        mtx_w_null(w);
        MTX_W_KEY(w, "outputs");
        mtx_w_open(w, '[');
        for (int i = 0; i < n->nout; i++) {
            mtx_w_elem(w);
            mtx_w_open(w, '{');
            MTX_W_KEY(w, "shape");
            w_shape(j, n->outs[i].ndim, n->outs[i].shape);
            MTX_W_KEY(w, "dtype");
            w_dtype(w, n->outs[i].dtype);
            mtx_w_close(w, '}');
        }
        mtx_w_close(w, ']');
    } else if (n->op != MT_NODE_OUTPUT && n->nout > 0 && n->outs) {
        MTX_W_KEY(w, "shape");
        w_shape(j, n->outs[0].ndim, n->outs[0].shape);
        MTX_W_KEY(w, "dtype");
        w_dtype(w, n->outs[0].dtype);
    } else {
        MTX_W_KEY(w, "shape");
        mtx_w_null(w);
        MTX_W_KEY(w, "dtype");
        mtx_w_null(w);
    }
    w_module_stack(j, n->stack);
    mtx_w_close(w, '}');
}

/* parameters, buffers and modules (about 2,000 entries for a 70B model). */
static void w_param_common(jw *j, const mt_param *p)
{
    mtx_jw *w = &j->w;
    const mt_tensor *t = param_tensor(p);
    MTX_W_KEY(w, "name");
    mtx_w_gstr(w, p->name);
    MTX_W_KEY(w, "shape");
    if (t)
        w_shape(j, t->ndim, t->shape);
    else
        mtx_w_null(w);
    MTX_W_KEY(w, "dtype");
    if (t)
        w_dtype(w, t->dtype);
    else
        mtx_w_null(w);
}

static void w_parameters(jw *j, const mt_model *m)
{
    mtx_jw *w = &j->w;
    MTX_W_KEY(w, "parameters");
    mtx_w_open(w, '[');
    for (int i = 0; i < m->params.n; i++) {
        const mt_param *p = m->params.items[i];
        mtx_w_elem(w);
        mtx_w_open(w, '{');
        w_param_common(j, p);
        MTX_W_KEY(w, "tied_to");
        mtx_w_gstr(w, p->tied_to ? p->tied_to->name : NULL);
        mtx_w_close(w, '}');
    }
    mtx_w_close(w, ']');
}

static void w_buffers(jw *j, const mt_model *m)
{
    mtx_jw *w = &j->w;
    MTX_W_KEY(w, "buffers");
    mtx_w_open(w, '[');
    for (int i = 0; i < m->buffers.n; i++) {
        const mt_param *p = m->buffers.items[i];
        mtx_w_elem(w);
        mtx_w_open(w, '{');
        w_param_common(j, p);
        MTX_W_KEY(w, "persistent");
        mtx_w_bool(w, p->persistent);
        MTX_W_KEY(w, "computed");
        mtx_w_bool(w, p->computed);
        mtx_w_close(w, '}');
    }
    mtx_w_close(w, ']');
}

static void w_modules_walk(jw *j, const mt_module *mod, int depth)
{
    mtx_jw *w = &j->w;
    if (depth > 0) {
        mtx_w_elem(w);
        mtx_w_open(w, '{');
        MTX_W_KEY(w, "path");
        mtx_w_gstr(w, mod->path);
        MTX_W_KEY(w, "type");
        mtx_w_gstr(w, mod->type);
        MTX_W_KEY(w, "leaf");
        mtx_w_bool(w, mod->leaf != MT_LEAF_NONE);
        MTX_W_KEY(w, "attributes");
        mtx_w_open(w, '{');
        for (int i = 0; i < mod->nattrs; i++) {
            mtx_w_key(w, mod->attrs[i].name ? mod->attrs[i].name : "");
            w_arg(j, &mod->attrs[i].value, NULL);
        }
        mtx_w_close(w, '}');
        mtx_w_close(w, '}');
    }
    for (int i = 0; i < mod->children.n; i++)
        w_modules_walk(j, mod->children.items[i], depth + 1);
}

static void w_modules(jw *j, const mt_model *m)
{
    MTX_W_KEY(&j->w, "modules");
    mtx_w_open(&j->w, '[');
    if (m->root)
        w_modules_walk(j, m->root, 0);
    mtx_w_close(&j->w, ']');
}

static void w_nodes(jw *j, const mt_graph *g)
{
    mtx_jw *w = &j->w;
    MTX_W_KEY(w, "nodes");
    mtx_w_open(w, '[');
    for (int i = 0; i < g->n && j->b->err == MT_OK && !w->s->failed; i++) {
        mtx_w_elem(w);
        w_node(j, g->nodes[i]);
    }
    mtx_w_close(w, ']');
}

/* ---- the sections jansson used to build ------------------------------------------
 * Their strings are written as json_string took them (mtx_w_ustr); an object's
 * keys as json_object_set_new stored them: a repeated key keeps its first
 * place and takes its last value. */

static void w_tool(jw *j)
{
    mtx_jw *w = &j->w;
    MTX_W_KEY(w, "tool");
    mtx_w_open(w, '{');
    MTX_W_KEY(w, "name");
    MTX_W_LIT(w, "\"metatrace\"");
    MTX_W_KEY(w, "version");
    if (j->b->stable)
        mtx_w_null(w);
    else
        mtx_w_ustr(w, MT_VERSION_STRING);
    mtx_w_close(w, '}');
}

static void w_model(jw *j, const mt_model *m)
{
    mtx_jw *w = &j->w;
    MTX_W_KEY(w, "model");
    mtx_w_open(w, '{');
    MTX_W_KEY(w, "model_type");
    mtx_w_ustr(w, m->model_type);
    MTX_W_KEY(w, "class");
    mtx_w_ustr(w, m->class_name);
    MTX_W_KEY(w, "config");
    mtx_w_ustr(w, config_name(j->b, m));
    MTX_W_KEY(w, "dtype");
    w_dtype(w, m->dtype);
    MTX_W_KEY(w, "num_layers");
    mtx_w_int(w, (long long)m->num_layers);
    MTX_W_KEY(w, "info");
    mtx_w_open(w, '{');
    int ninfo;
    const mt_kwarg *info = mt__model_infos(m, &ninfo);
    for (int i = 0; i < ninfo; i++) {
        const char *name = info[i].name ? info[i].name : "";
        bool seen = false;
        int last = i;
        for (int k = 0; k < ninfo && !seen; k++) {
            const char *other = info[k].name ? info[k].name : "";
            if (k != i && strcmp(other, name) == 0) {
                if (k < i)
                    seen = true;
                else
                    last = k;
            }
        }
        if (seen)
            continue;
        mtx_w_key(w, name);
        w_arg_as(j, &info[last].value, NULL, true);
    }
    mtx_w_close(w, '}');
    mtx_w_close(w, '}');
}

static void w_symbols(jw *j)
{
    mtx_jw *w = &j->w;
    MTX_W_KEY(w, "symbols");
    mtx_w_open(w, '[');
    int n = mt_sym_count(j->b->ctx);
    for (int i = 0; i < n; i++) {
        const mt_symbol_info *s = mt_sym_info(j->b->ctx, i);
        if (!s)
            continue;
        mtx_w_elem(w);
        mtx_w_open(w, '{');
        MTX_W_KEY(w, "name");
        mtx_w_ustr(w, s->name);
        MTX_W_KEY(w, "lo");
        mtx_w_int(w, (long long)s->lo);
        MTX_W_KEY(w, "hi");
        if (!s->hi)
            mtx_w_null(w);
        else if (mt_sym_is_const(s->hi))
            mtx_w_int(w, (long long)mt_sym_const_value(s->hi));
        else
            mtx_w_ustr(w, mt_sym_str(s->hi));
        MTX_W_KEY(w, "origin");
        mtx_w_ustr(w, s->origin);
        mtx_w_close(w, '}');
    }
    mtx_w_close(w, ']');
}

static void w_totals(jw *j, const mt_totals *t)
{
    mtx_jw *w = &j->w;
    MTX_W_KEY(w, "totals");
    mtx_w_open(w, '{');
    MTX_W_KEY(w, "parameters");
    mtx_w_int(w, (long long)t->params);
    MTX_W_KEY(w, "parameter_bytes");
    mtx_w_int(w, (long long)t->param_bytes);
    MTX_W_KEY(w, "by_dtype");
    mtx_w_open(w, '{');
    for (int d = 0; d < MT_DTYPE_COUNT; d++) {
        if (t->params_by_dtype[d] == 0 && t->bytes_by_dtype[d] == 0)
            continue;
        mtx_w_key(w, mt_dtype_name((mt_dtype)d));
        mtx_w_open(w, '{');
        MTX_W_KEY(w, "parameters");
        mtx_w_int(w, (long long)t->params_by_dtype[d]);
        MTX_W_KEY(w, "bytes");
        mtx_w_int(w, (long long)t->bytes_by_dtype[d]);
        mtx_w_close(w, '}');
    }
    mtx_w_close(w, '}');
    MTX_W_KEY(w, "buffer_elements");
    mtx_w_int(w, (long long)t->buffers);
    MTX_W_KEY(w, "active_parameters");
    mtx_w_int(w, (long long)t->active_params);
    MTX_W_KEY(w, "extra_parameters");
    mtx_w_int(w, (long long)t->extra_params);
    if (t->text_params != 0) { /* multimodal models only */
        MTX_W_KEY(w, "language_model_parameters");
        mtx_w_int(w, (long long)t->text_params);
        MTX_W_KEY(w, "language_model_bytes");
        mtx_w_int(w, (long long)t->text_param_bytes);
    }
    mtx_w_close(w, '}');
}

/* jansson hands the callback one token at a time (the extra member only). */
static int sink_cb(const char *buf, size_t size, void *data)
{
    mtx_sink *s = data;
    size_t start = 0;
    for (size_t i = 0; i < size; i++) {
        if (buf[i] == '\n') {
            mtx_sink_write(s, buf + start, i + 1 - start);
            mtx_sink_write(s, s->indent, strlen(s->indent));
            start = i + 1;
        }
    }
    mtx_sink_write(s, buf + start, size - start);
    return s->failed ? -1 : 0;
}

/* `"key": value` of the top level, the value (consumed) dumped by jansson. */
static void w_jansson_member(jw *j, const char *key, json_t *v)
{
    mtx_jw *w = &j->w;
    mtx_w_key(w, key);
    if (!v) {
        fail_nomem(j->b);
        return;
    }
    if (j->b->err == MT_OK && !w->s->failed) {
        size_t flags = (w->compact ? JSON_COMPACT : JSON_INDENT(2)) | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY |
                       JSON_REAL_PRECISION(w->real_precision);
        w->s->indent = w->compact ? "" : "  ";
        if (json_dump_callback(v, sink_cb, w->s, flags) != 0 && !w->s->failed)
            fail_nomem(j->b);
    }
    json_decref(v);
}

mt_status mt_export_json(mt_model *m, mt_graph *g, FILE *out)
{
    return mtx_export_json_full(m, g, NULL, NULL, NULL, NULL, out);
}

mt_status mt_export_json_sized(mt_model *m, mt_graph *g, const mt_sizing *sz, FILE *out)
{
    return mtx_export_json_full(m, g, sz, NULL, NULL, NULL, out);
}

mt_status mt_export_json_opts(mt_model *m, mt_graph *g, const mt_sizing *sz, const mt_json_opts *opts, FILE *out)
{
    return mtx_export_json_full(m, g, sz, opts, NULL, NULL, out);
}

mt_status mtx_export_json_member(mt_model *m, mt_graph *g, const mt_sizing *sz, const char *key, json_t *extra,
                                 FILE *out)
{
    return mtx_export_json_full(m, g, sz, NULL, key, extra, out);
}

mt_status mtx_export_json_full(mt_model *m, mt_graph *g, const mt_sizing *sz, const mt_json_opts *opts,
                               const char *key, json_t *extra, FILE *out)
{
    if (!m || !g || !out) {
        json_decref(extra);
        return m ? mt_fail(m->ctx, MT_ERR_USAGE, "mt_export_json: NULL argument") : MT_ERR_USAGE;
    }

    mt_totals totals;
    memset(&totals, 0, sizeof totals);
    mt_status st = mt_model_totals(m, &totals);
    if (st != MT_OK) {
        json_decref(extra);
        return st;
    }

    mt_sizing own;
    if (!sz) {
        if ((st = mt_model_sizing(m, g, NULL, &own)) != MT_OK) {
            json_decref(extra);
            return st;
        }
        sz = &own;
    }

    jb b = {.ctx = m->ctx,
            .err = MT_OK,
            .real_precision = 15,
            .compact = opts && opts->compact,
            .stable = opts && opts->stable};
    scan_reals(&b, m, g);
    char *buf = mt__heap_alloc_raw(m->ctx, MTX_SINK_BUF + STACK_TEXT_MAX);
    if (!buf) {
        json_decref(extra);
        return mt_ctx_status(m->ctx);
    }
    mtx_sink s = {.out = out, .failed = false, .buf = buf, .p = buf, .end = buf + MTX_SINK_BUF, .indent = ""};
    jw j = {.b = &b, .stack_text = buf + MTX_SINK_BUF};
    j.w.s = &s;
    j.w.compact = b.compact;
    j.w.real_precision = b.real_precision;
    mtx_jw *w = &j.w;

    mtx_w_open(w, '{');
    MTX_W_KEY(w, "format");
    MTX_W_LIT(w, "\"" MT_JSON_FORMAT "\"");
    MTX_W_KEY(w, "version");
    mtx_w_int(w, MT_JSON_VERSION);
    w_tool(&j);
    w_model(&j, m);
    w_symbols(&j);
    w_parameters(&j, m);
    w_buffers(&j, m);
    w_modules(&j, m);
    w_nodes(&j, g);
    w_totals(&j, &totals);
    MTX_W_KEY(w, "sizing");
    mtx_sizing_write(w, sz);
    if (key && extra)
        w_jansson_member(&j, key, extra);
    else
        json_decref(extra);
    mtx_w_close(w, '}');
    MTX_W_LIT(w, "\n");
    mtx_sink_flush(&s);
    mt_heap_free(m->ctx, buf);

    if (b.err != MT_OK)
        return b.err;
    if (s.failed || ferror(out))
        return mt_fail(m->ctx, MT_ERR_IO, "writing the JSON document failed");
    return MT_OK;
}
