/* metatrace — JSON exporter: the complete record of a traced model.
 *
 * The format is specified in docs/graph-format.md (format "metatrace-graph",
 * version MT_JSON_VERSION); keep the two in step. Objects are built with
 * jansson in a fixed key order and dumped with JSON_INDENT(2), so the same
 * model and graph always give the same bytes.
 *
 * Linear in graph size, in time and memory: node references are direct
 * pointers (tensor -> node -> name); the nodes array is written directly,
 * node by node, in the bytes jansson would print (see "direct node writer"). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "json_internal.h"

#include <metatrace/metatrace.h>


typedef struct jb {
    mt_ctx *ctx;
    mt_status err;       /* first error (MT_OK while all is well) */
    int real_precision;  /* significant digits that round-trip every real (scan_reals) */
    bool compact;        /* mt_json_opts.compact: no newlines or indentation, ',' and ':' alone */
    bool stable;         /* mt_json_opts.stable: no config directory, no tool version */
} jb;

static void fail_nomem(jb *b)
{
    if (b->err == MT_OK)
        b->err = mt_fail(b->ctx, MT_ERR_NOMEM, "out of memory while building the JSON document");
}

/* Take ownership of v and store it under key (v NULL: failure). */
static void put(jb *b, json_t *obj, const char *key, json_t *v)
{
    if (!v || !obj) {
        json_decref(v);
        fail_nomem(b);
        return;
    }
    if (json_object_set_new(obj, key, v) != 0)
        fail_nomem(b);
}

static void push(jb *b, json_t *arr, json_t *v)
{
    if (!v || !arr) {
        json_decref(v);
        fail_nomem(b);
        return;
    }
    if (json_array_append_new(arr, v) != 0)
        fail_nomem(b);
}

/* A JSON string; NULL gives null. Bytes that are not UTF-8 (a file name in
 * another encoding) are replaced by '?' rather than failing the export. */
static json_t *jstr(jb *b, const char *s)
{
    if (!s)
        return json_null();
    json_t *v = json_string(s);
    if (v)
        return v;
    size_t n = strlen(s);
    char *t = mt_heap_alloc(b->ctx, n + 1);
    if (!t)
        return NULL;
    for (size_t i = 0; i < n; i++)
        t[i] = (unsigned char)s[i] < 0x80 ? s[i] : '?';
    v = json_string(t);
    mt_heap_free(b->ctx, t);
    return v;
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

static json_t *jfloat(jb *b, double f)
{
    if (isfinite(f))
        return json_real(f); /* precision: see scan_reals */
    /* JSON has no inf/nan: an object, as documented. */
    json_t *o = json_object();
    put(b, o, "float", json_string(isnan(f) ? "nan" : f > 0 ? "inf" : "-inf"));
    return o;
}

static json_t *jdim(jb *b, const mt_sym *d)
{
    if (!d)
        return json_null();
    if (mt_sym_is_const(d))
        return json_integer(mt_sym_const_value(d));
    return jstr(b, mt_sym_str(d));
}

static json_t *jdtype(jb *b, mt_dtype d)
{
    if (d == MT_DTYPE_NONE)
        return json_null();
    return jstr(b, mt_dtype_name(d));
}

/* A symbolic int in an argument or slice: an integer when constant. */
static json_t *jsymarg(jb *b, const mt_sym *s)
{
    if (!s)
        return json_null();
    if (mt_sym_is_const(s))
        return json_integer(mt_sym_const_value(s));
    json_t *o = json_object();
    put(b, o, "sym", jstr(b, mt_sym_str(s)));
    return o;
}

static json_t *jtagged(jb *b, const char *tag, json_t *v)
{
    json_t *o = json_object();
    put(b, o, tag, v);
    return o;
}

/* Encode an argument (docs/graph-format.md, "Argument encoding"). `where`
 * names the node for error messages (NULL outside nodes). */
static json_t *jarg(jb *b, const mt_arg *a, const char *where)
{
    switch (a->kind) {
    case MT_ARG_NONE:
        return json_null();
    case MT_ARG_TENSOR:
        if (!a->v.t || !a->v.t->node || !a->v.t->node->name) {
            if (b->err == MT_OK)
                b->err = mt_fail(b->ctx, MT_ERR_INTERNAL,
                                 "JSON export: %s%s%sa tensor argument has no producing node",
                                 where ? "node '" : "", where ? where : "", where ? "': " : "");
            return json_null();
        }
        return jtagged(b, "node", jstr(b, a->v.t->node->name));
    case MT_ARG_INT:
        return json_integer(a->v.i);
    case MT_ARG_FLOAT:
        return jfloat(b, a->v.f);
    case MT_ARG_BOOL:
        return json_boolean(a->v.b);
    case MT_ARG_SYM:
        return jsymarg(b, a->v.sym);
    case MT_ARG_DTYPE:
        return jtagged(b, "dtype", jdtype(b, a->v.dtype));
    case MT_ARG_STR:
        return jstr(b, a->v.s);
    case MT_ARG_SLICE: {
        json_t *s = json_array();
        push(b, s, jsymarg(b, a->v.slice.start));
        push(b, s, jsymarg(b, a->v.slice.stop));
        push(b, s, jsymarg(b, a->v.slice.step));
        return jtagged(b, "slice", s);
    }
    case MT_ARG_ELLIPSIS:
        return jtagged(b, "ellipsis", json_true());
    case MT_ARG_LIST: {
        json_t *l = json_array();
        for (int i = 0; i < a->v.list.n; i++)
            push(b, l, jarg(b, &a->v.list.items[i], where));
        return l;
    }
    case MT_ARG_DEVICE:
        return jtagged(b, "device", jstr(b, mt_device_name(a->v.device)));
    case MT_ARG_KIND_COUNT:
        break;
    }
    if (b->err == MT_OK)
        b->err = mt_fail(b->ctx, MT_ERR_INTERNAL, "JSON export: unknown argument kind %d",
                         (int)a->kind);
    return json_null();
}

static json_t *jkwargs(jb *b, const mt_kwarg *kw, int n, const char *where)
{
    json_t *o = json_object();
    for (int i = 0; i < n; i++)
        put(b, o, kw[i].name ? kw[i].name : "", jarg(b, &kw[i].value, where));
    return o;
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

static json_t *jmodel(jb *b, const mt_model *m)
{
    json_t *o = json_object();
    put(b, o, "model_type", jstr(b, m->model_type));
    put(b, o, "class", jstr(b, m->class_name));
    put(b, o, "config", jstr(b, config_name(b, m)));
    put(b, o, "dtype", jdtype(b, m->dtype));
    put(b, o, "num_layers", json_integer(m->num_layers));
    int ninfo;
    const mt_kwarg *info = mt__model_infos(m, &ninfo);
    put(b, o, "info", jkwargs(b, info, ninfo, NULL));
    return o;
}

static json_t *jsymbols(jb *b)
{
    json_t *a = json_array();
    int n = mt_sym_count(b->ctx);
    for (int i = 0; i < n; i++) {
        const mt_symbol_info *s = mt_sym_info(b->ctx, i);
        if (!s)
            continue;
        json_t *o = json_object();
        put(b, o, "name", jstr(b, s->name));
        put(b, o, "lo", json_integer(s->lo));
        put(b, o, "hi", jdim(b, s->hi));
        put(b, o, "origin", jstr(b, s->origin));
        push(b, a, o);
    }
    return a;
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

static json_t *jtotals(jb *b, const mt_totals *t)
{
    json_t *o = json_object();
    put(b, o, "parameters", json_integer(t->params));
    put(b, o, "parameter_bytes", json_integer(t->param_bytes));
    json_t *by = json_object();
    for (int d = 0; d < MT_DTYPE_COUNT; d++) {
        if (t->params_by_dtype[d] == 0 && t->bytes_by_dtype[d] == 0)
            continue;
        json_t *e = json_object();
        put(b, e, "parameters", json_integer(t->params_by_dtype[d]));
        put(b, e, "bytes", json_integer(t->bytes_by_dtype[d]));
        put(b, by, mt_dtype_name((mt_dtype)d), e);
    }
    put(b, o, "by_dtype", by);
    put(b, o, "buffer_elements", json_integer(t->buffers));
    put(b, o, "active_parameters", json_integer(t->active_params));
    put(b, o, "extra_parameters", json_integer(t->extra_params));
    if (t->text_params != 0) { /* multimodal models only */
        put(b, o, "language_model_parameters", json_integer(t->text_params));
        put(b, o, "language_model_bytes", json_integer(t->text_param_bytes));
    }
    return o;
}

/* ---- reals ------------------------------------------------------------------
 * One precision for the whole document (jansson has no per-value one): the
 * smallest of 15/16/17 digits that round-trips every real. A pre-pass finds
 * it, since the nodes are written as they are built. */

static void scan_arg(jb *b, const mt_arg *a)
{
    if (a->kind == MT_ARG_FLOAT && isfinite(a->v.f)) {
        if (b->real_precision < 17) {
            int p = digits_needed(a->v.f);
            if (p > b->real_precision)
                b->real_precision = p;
        }
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
            scan_arg(b, &n->args[k]);
        scan_kwargs(b, n->kwargs, n->nkwargs);
    }
}

/* ---- writing ------------------------------------------------------------------
 * The document is exactly what json_dumpf(doc, JSON_INDENT(2)) would print, but
 * written section by section and node by node (a node's objects are freed as
 * soon as it is written), so memory does not grow with the graph: each value is
 * dumped by jansson with every line after the first indented to its depth. */

/* jansson hands the callback one token at a time; a locked fwrite per token
 * dominated the export, so tokens are gathered in a buffer and written in
 * large blocks. */
#define SINK_BUF (64 * 1024)

typedef struct sink {
    FILE *out;
    const char *indent; /* written after every newline of a dumped value */
    size_t flags;
    bool failed;
    size_t used;
    char *buf;          /* SINK_BUF bytes */
} sink;

static void sink_flush(sink *s)
{
    if (s->used && !s->failed && fwrite(s->buf, 1, s->used, s->out) != s->used)
        s->failed = true;
    s->used = 0;
}

static void sink_write(sink *s, const char *buf, size_t n)
{
    if (s->failed || n == 0)
        return;
    if (n > SINK_BUF - s->used) {
        sink_flush(s);
        if (n > SINK_BUF) {
            if (fwrite(buf, 1, n, s->out) != n)
                s->failed = true;
            return;
        }
    }
    memcpy(s->buf + s->used, buf, n);
    s->used += n;
}

static void sink_puts(sink *s, const char *str)
{
    sink_write(s, str, strlen(str));
}

static int sink_cb(const char *buf, size_t size, void *data)
{
    sink *s = data;
    size_t start = 0;
    for (size_t i = 0; i < size; i++) {
        if (buf[i] == '\n') {
            sink_write(s, buf + start, i + 1 - start);
            sink_puts(s, s->indent);
            start = i + 1;
        }
    }
    sink_write(s, buf + start, size - start);
    return s->failed ? -1 : 0;
}

/* Dump v (consumed) at the given indentation. */
static void emit(jb *b, sink *s, json_t *v, const char *indent)
{
    if (!v) {
        fail_nomem(b);
        return;
    }
    if (b->err == MT_OK && !s->failed) {
        s->indent = indent;
        if (json_dump_callback(v, sink_cb, s, s->flags) != 0 && !s->failed)
            fail_nomem(b);
    }
    json_decref(v);
}

/* `  "key": ` of the top-level object (`"key":` when compact). */
static void member_key(const jb *b, sink *s, const char *key)
{
    sink_puts(s, b->compact ? "\"" : "  \"");
    sink_puts(s, key);
    sink_puts(s, b->compact ? "\":" : "\": ");
}

/* After a top-level member's value; `last` ends the object. */
static void member_end(const jb *b, sink *s, bool last)
{
    if (b->compact)
        sink_puts(s, last ? "" : ",");
    else
        sink_puts(s, last ? "\n" : ",\n");
}

/* `  "key": value` of the top-level object; `last` ends the object. */
static void emit_member(jb *b, sink *s, const char *key, json_t *v, bool last)
{
    member_key(b, s, key);
    emit(b, s, v, b->compact ? "" : "  ");
    member_end(b, s, last);
}

/* ---- direct node writer -------------------------------------------------------
 * Nodes are most of the document (5,000 for Llama-2-70B). Building jansson
 * objects for each and dumping them cost ~80% of the export, so nodes are
 * written directly, in exactly the bytes jansson's JSON_INDENT(2) dump gives
 * (the snapshot tests compare whole documents, and test_export re-parses and
 * re-dumps with jansson to check the layout). */

typedef struct jw {
    sink *s;
    jb *b;
    int depth;           /* indentation level (2 spaces each) */
    bool first[32];      /* no element written yet at this depth */
} jw;

static void w_raw(jw *w, const char *str, size_t n) { sink_write(w->s, str, n); }
static void w_puts(jw *w, const char *str) { sink_write(w->s, str, strlen(str)); }

static void w_newline(jw *w)
{
    if (w->b->compact)
        return;
    static const char spaces[] = "\n                                                                ";
    size_t n = (size_t)w->depth * 2;
    if (n > sizeof spaces - 2)
        n = sizeof spaces - 2;
    w_raw(w, spaces, n + 1);
}

/* Before an element of the current array/object. */
static void w_elem(jw *w)
{
    if (!w->first[w->depth])
        w_raw(w, ",", 1);
    w->first[w->depth] = false;
    w_newline(w);
}

static void w_open(jw *w, char c)
{
    w_raw(w, &c, 1);
    w->depth++;
    w->first[w->depth] = true;
}

static void w_close(jw *w, char c)
{
    bool empty = w->first[w->depth];
    w->depth--;
    if (!empty)
        w_newline(w);
    w_raw(w, &c, 1);
}

/* A JSON string as jansson escapes it (quotes, backslash, control bytes;
 * UTF-8 kept; invalid UTF-8 replaced by '?', as jstr does). */
static void w_str(jw *w, const char *str)
{
    if (!str) {
        w_puts(w, "null");
        return;
    }
    w_raw(w, "\"", 1);
    const unsigned char *p = (const unsigned char *)str, *run = p;
    for (; *p; p++) {
        const char *esc = NULL;
        char ubuf[8];
        switch (*p) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        default:
            if (*p < 0x20) {
                snprintf(ubuf, sizeof ubuf, "\\u%04X", *p);
                esc = ubuf;
            }
        }
        if (esc) {
            w_raw(w, (const char *)run, (size_t)(p - run));
            w_puts(w, esc);
            run = p + 1;
        }
    }
    w_raw(w, (const char *)run, (size_t)(p - run));
    w_raw(w, "\"", 1);
}

static void w_key(jw *w, const char *k)
{
    w_elem(w);
    w_str(w, k);
    if (w->b->compact)
        w_raw(w, ":", 1);
    else
        w_raw(w, ": ", 2);
}

static void w_int(jw *w, long long v)
{
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%lld", v);
    w_raw(w, buf, (size_t)n);
}

/* jansson's real format: %.*g, a ".0" when neither '.' nor 'e' appears, and
 * the exponent without '+' or leading zeros. */
static void w_real(jw *w, double f)
{
    if (!isfinite(f)) {
        w_open(w, '{');
        w_key(w, "float");
        w_str(w, isnan(f) ? "nan" : f > 0 ? "inf" : "-inf");
        w_close(w, '}');
        return;
    }
    char buf[48];
    int n = snprintf(buf, sizeof buf, "%.*g", w->b->real_precision, f);
    if (!strchr(buf, '.') && !strchr(buf, 'e')) {
        buf[n++] = '.';
        buf[n++] = '0';
        buf[n] = 0;
    }
    char *e = strchr(buf, 'e');
    if (e) {
        char *start = e + 1, *end = start + 1;
        if (*start == '-')
            start++;
        while (*end == '0')
            end++;
        if (end != start) {
            memmove(start, end, strlen(end) + 1);
        }
        n = (int)strlen(buf);
    }
    w_raw(w, buf, (size_t)n);
}

static void w_symarg(jw *w, const mt_sym *sym)
{
    if (!sym) {
        w_puts(w, "null");
    } else if (mt_sym_is_const(sym)) {
        w_int(w, (long long)mt_sym_const_value(sym));
    } else {
        w_open(w, '{');
        w_key(w, "sym");
        w_str(w, mt_sym_str(sym));
        w_close(w, '}');
    }
}

static void w_tagged_str(jw *w, const char *tag, const char *v)
{
    w_open(w, '{');
    w_key(w, tag);
    w_str(w, v);
    w_close(w, '}');
}

static void w_arg(jw *w, const mt_arg *a, const char *where)
{
    jb *b = w->b;
    switch (a->kind) {
    case MT_ARG_NONE: w_puts(w, "null"); return;
    case MT_ARG_TENSOR:
        if (!a->v.t || !a->v.t->node || !a->v.t->node->name) {
            if (b->err == MT_OK)
                b->err = mt_fail(b->ctx, MT_ERR_INTERNAL,
                                 "JSON export: node '%s': a tensor argument has no producing node",
                                 where ? where : "?");
            w_puts(w, "null");
            return;
        }
        w_tagged_str(w, "node", a->v.t->node->name);
        return;
    case MT_ARG_INT: w_int(w, (long long)a->v.i); return;
    case MT_ARG_FLOAT: w_real(w, a->v.f); return;
    case MT_ARG_BOOL: w_puts(w, a->v.b ? "true" : "false"); return;
    case MT_ARG_SYM: w_symarg(w, a->v.sym); return;
    case MT_ARG_DTYPE:
        w_open(w, '{');
        w_key(w, "dtype");
        if (a->v.dtype == MT_DTYPE_NONE) w_puts(w, "null");
        else w_str(w, mt_dtype_name(a->v.dtype));
        w_close(w, '}');
        return;
    case MT_ARG_STR: w_str(w, a->v.s); return;
    case MT_ARG_SLICE:
        w_open(w, '{');
        w_key(w, "slice");
        w_open(w, '[');
        w_elem(w); w_symarg(w, a->v.slice.start);
        w_elem(w); w_symarg(w, a->v.slice.stop);
        w_elem(w); w_symarg(w, a->v.slice.step);
        w_close(w, ']');
        w_close(w, '}');
        return;
    case MT_ARG_ELLIPSIS:
        w_open(w, '{');
        w_key(w, "ellipsis");
        w_puts(w, "true");
        w_close(w, '}');
        return;
    case MT_ARG_LIST:
        w_open(w, '[');
        for (int i = 0; i < a->v.list.n; i++) {
            w_elem(w);
            w_arg(w, &a->v.list.items[i], where);
        }
        w_close(w, ']');
        return;
    case MT_ARG_DEVICE: w_tagged_str(w, "device", mt_device_name(a->v.device)); return;
    case MT_ARG_KIND_COUNT: break;
    }
    if (b->err == MT_OK)
        b->err = mt_fail(b->ctx, MT_ERR_INTERNAL, "JSON export: unknown argument kind %d", (int)a->kind);
    w_puts(w, "null");
}

static void w_shape(jw *w, int ndim, const mt_sym *const *shape)
{
    w_open(w, '[');
    for (int i = 0; i < ndim; i++) {
        w_elem(w);
        if (!shape[i]) w_puts(w, "null");
        else if (mt_sym_is_const(shape[i])) w_int(w, (long long)mt_sym_const_value(shape[i]));
        else w_str(w, mt_sym_str(shape[i]));
    }
    w_close(w, ']');
}

static void w_dtype(jw *w, mt_dtype d)
{
    if (d == MT_DTYPE_NONE) w_puts(w, "null");
    else w_str(w, mt_dtype_name(d));
}

static void w_node(jw *w, const mt_node *n)
{
    w_open(w, '{');
    w_key(w, "name"); w_str(w, n->name);
    w_key(w, "op"); w_str(w, mt_opkind_name(n->op));
    w_key(w, "target"); w_str(w, node_target(n));
    w_key(w, "args");
    w_open(w, '[');
    for (int i = 0; i < n->nargs; i++) {
        w_elem(w);
        w_arg(w, &n->args[i], n->name);
    }
    w_close(w, ']');
    w_key(w, "kwargs");
    w_open(w, '{');
    for (int i = 0; i < n->nkwargs; i++) {
        w_key(w, n->kwargs[i].name ? n->kwargs[i].name : "");
        w_arg(w, &n->kwargs[i].value, n->name);
    }
    w_close(w, '}');
    if (n->is_tuple) {
        w_key(w, "shape"); w_puts(w, "null");
        w_key(w, "dtype"); w_puts(w, "null");
        w_key(w, "outputs");
        w_open(w, '[');
        for (int i = 0; i < n->nout; i++) {
            w_elem(w);
            w_open(w, '{');
            w_key(w, "shape"); w_shape(w, n->outs[i].ndim, n->outs[i].shape);
            w_key(w, "dtype"); w_dtype(w, n->outs[i].dtype);
            w_close(w, '}');
        }
        w_close(w, ']');
    } else if (n->op != MT_NODE_OUTPUT && n->nout > 0 && n->outs) {
        w_key(w, "shape"); w_shape(w, n->outs[0].ndim, n->outs[0].shape);
        w_key(w, "dtype"); w_dtype(w, n->outs[0].dtype);
    } else {
        w_key(w, "shape"); w_puts(w, "null");
        w_key(w, "dtype"); w_puts(w, "null");
    }
    w_key(w, "module_stack");
    w_open(w, '[');
    const mt_modstack *st = n->stack;
    for (int i = 0; st && i < st->depth; i++) {
        const mt_module *mod = st->mods[i];
        if (!mod || !mod->path || !mod->path[0]) /* the root is not listed */
            continue;
        w_elem(w);
        w_str(w, mod->path);
    }
    w_close(w, ']');
    w_close(w, '}');
}

static void emit_nodes(jb *b, sink *s, const mt_graph *g)
{
    member_key(b, s, "nodes");
    jw w = {.s = s, .b = b, .depth = 1};
    w.first[1] = true;
    w_open(&w, '[');
    for (int i = 0; i < g->n && b->err == MT_OK && !s->failed; i++) {
        w_elem(&w);
        w_node(&w, g->nodes[i]);
    }
    w_close(&w, ']');
    member_end(b, s, false);
}

/* parameters, buffers and modules (about 2,000 entries for a 70B model) go
 * through the direct writer too. */
static void w_param_common(jw *w, const mt_param *p)
{
    const mt_tensor *t = param_tensor(p);
    w_key(w, "name"); w_str(w, p->name);
    w_key(w, "shape");
    if (t) w_shape(w, t->ndim, t->shape);
    else w_puts(w, "null");
    w_key(w, "dtype");
    if (t) w_dtype(w, t->dtype);
    else w_puts(w, "null");
}

static void w_section_begin(jw *w, sink *s, const char *key)
{
    member_key(w->b, s, key);
    w->depth = 1;
    w_open(w, '[');
}

static void w_section_end(jw *w, sink *s)
{
    w_close(w, ']');
    member_end(w->b, s, false);
}

static void emit_parameters(jb *b, sink *s, const mt_model *m)
{
    jw w = {.s = s, .b = b};
    w_section_begin(&w, s, "parameters");
    for (int i = 0; i < m->params.n; i++) {
        const mt_param *p = m->params.items[i];
        w_elem(&w);
        w_open(&w, '{');
        w_param_common(&w, p);
        w_key(&w, "tied_to"); w_str(&w, p->tied_to ? p->tied_to->name : NULL);
        w_close(&w, '}');
    }
    w_section_end(&w, s);
}

static void emit_buffers(jb *b, sink *s, const mt_model *m)
{
    jw w = {.s = s, .b = b};
    w_section_begin(&w, s, "buffers");
    for (int i = 0; i < m->buffers.n; i++) {
        const mt_param *p = m->buffers.items[i];
        w_elem(&w);
        w_open(&w, '{');
        w_param_common(&w, p);
        w_key(&w, "persistent"); w_puts(&w, p->persistent ? "true" : "false");
        w_key(&w, "computed"); w_puts(&w, p->computed ? "true" : "false");
        w_close(&w, '}');
    }
    w_section_end(&w, s);
}

static void w_modules_walk(jw *w, const mt_module *mod, int depth)
{
    if (depth > 0) {
        w_elem(w);
        w_open(w, '{');
        w_key(w, "path"); w_str(w, mod->path);
        w_key(w, "type"); w_str(w, mod->type);
        w_key(w, "leaf"); w_puts(w, mod->leaf != MT_LEAF_NONE ? "true" : "false");
        w_key(w, "attributes");
        w_open(w, '{');
        for (int i = 0; i < mod->nattrs; i++) {
            w_key(w, mod->attrs[i].name ? mod->attrs[i].name : "");
            w_arg(w, &mod->attrs[i].value, NULL);
        }
        w_close(w, '}');
        w_close(w, '}');
    }
    for (int i = 0; i < mod->children.n; i++)
        w_modules_walk(w, mod->children.items[i], depth + 1);
}

static void emit_modules(jb *b, sink *s, const mt_model *m)
{
    jw w = {.s = s, .b = b};
    w_section_begin(&w, s, "modules");
    if (m->root)
        w_modules_walk(&w, m->root, 0);
    w_section_end(&w, s);
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
    sink s = {.out = out,
              .indent = "",
              .flags = (b.compact ? JSON_COMPACT : JSON_INDENT(2)) | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY |
                       JSON_REAL_PRECISION(b.real_precision),
              .failed = false,
              .used = 0,
              .buf = mt_heap_alloc(m->ctx, SINK_BUF)};
    if (!s.buf) {
        json_decref(extra);
        return mt_ctx_status(m->ctx);
    }

    sink_puts(&s, b.compact ? "{" : "{\n");
    emit_member(&b, &s, "format", json_string(MT_JSON_FORMAT), false);
    emit_member(&b, &s, "version", json_integer(MT_JSON_VERSION), false);
    json_t *tool = json_object();
    put(&b, tool, "name", json_string("metatrace"));
    put(&b, tool, "version", b.stable ? json_null() : json_string(MT_VERSION_STRING));
    emit_member(&b, &s, "tool", tool, false);
    emit_member(&b, &s, "model", jmodel(&b, m), false);
    emit_member(&b, &s, "symbols", jsymbols(&b), false);
    emit_parameters(&b, &s, m);
    emit_buffers(&b, &s, m);
    emit_modules(&b, &s, m);
    emit_nodes(&b, &s, g);
    emit_member(&b, &s, "totals", jtotals(&b, &totals), false);
    emit_member(&b, &s, "sizing", mtx_sizing_json(sz), !(key && extra));
    if (key && extra)
        emit_member(&b, &s, key, extra, true);
    sink_puts(&s, "}\n");
    sink_flush(&s);
    mt_heap_free(m->ctx, s.buf);

    if (b.err != MT_OK)
        return b.err;
    if (s.failed || ferror(out))
        return mt_fail(m->ctx, MT_ERR_IO, "writing the JSON document failed");
    return MT_OK;
}
