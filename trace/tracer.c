/* The tracer: records nodes through the op table, keeps the module stack. */
#include <string.h>

#include <metatrace/family.h>

/* The module stack (family.h keeps it behind mt_tracer.priv). */
struct mt_tracer_private {
    mt_module *stack[MT_MAX_STACK];
    int depth;
    const mt_modstack *cur;   /* stack for the current depth (shared by its nodes) */
    const mt_modstack *outer[MT_MAX_STACK]; /* cur before each enter, restored by leave */
};

void mt_tr_init(mt_tracer *tr, mt_model *m, mt_graph *g) {
    memset(tr, 0, sizeof *tr);
    tr->ctx = g->ctx;
    tr->g = g;
    tr->model = m;
    tr->priv = mt_alloc(tr->ctx, sizeof *tr->priv);
    mt_modstack *root = mt_alloc(tr->ctx, sizeof *root);
    if (tr->priv) tr->priv->cur = root; /* depth 0, no modules */
}

/* Stacks are built once per enter and shared by every node recorded under it. */
void mt_tr_enter(mt_tracer *tr, mt_module *m) {
    struct mt_tracer_private *p = tr->priv;
    if (!p) return; /* mt_tr_init failed (its error is set) */
    if (!m) { /* a failed lookup (its error is set): keep enter/leave balanced, record nothing under it */
        if (mt_ctx_status(tr->ctx) == MT_OK) mt_fail(tr->ctx, MT_ERR_INTERNAL, "entering a missing module");
        if (p->depth >= MT_MAX_STACK) return;
        p->outer[p->depth] = p->cur;
        p->stack[p->depth++] = NULL;
        return;
    }
    if (p->depth >= MT_MAX_STACK) {
        mt_fail(tr->ctx, MT_ERR_INTERNAL, "module nesting deeper than %d at %s", MT_MAX_STACK, m->path);
        return;
    }
    p->outer[p->depth] = p->cur;
    p->stack[p->depth++] = m;
    mt_modstack *s = mt_alloc(tr->ctx, sizeof *s);
    if (!s) return;
    s->depth = p->depth;
    s->mods = mt_alloc_array(tr->ctx, (size_t)p->depth, sizeof *s->mods);
    if (!s->mods) return;
    memcpy(s->mods, p->stack, (size_t)p->depth * sizeof *s->mods);
    p->cur = s;
}

void mt_tr_leave(mt_tracer *tr) {
    struct mt_tracer_private *p = tr->priv;
    if (!p || p->depth == 0) return;
    p->depth--;
    p->cur = p->outer[p->depth]; /* the enclosing module's stack, shared again */
}

static mt_node *record(mt_tracer *tr, mt_opkind op, const char *base, const char *target,
                       const mt_arg *args, int nargs, const mt_kwarg *kw, int nkw) {
    if (!tr->priv) return NULL; /* mt_tr_init failed (its error is set) */
    mt_node *n = mt_graph_append(tr->g, op, base, target, args, nargs, kw, nkw);
    if (n) n->stack = tr->priv->cur;
    return n;
}

static bool set_outs(mt_tracer *tr, mt_node *n, const mt_tensor *outs, int nout, bool is_tuple) {
    n->outs = mt_alloc_array(tr->ctx, (size_t)nout, sizeof *n->outs);
    if (!n->outs) return false;
    memcpy(n->outs, outs, (size_t)nout * sizeof *outs);
    for (int i = 0; i < nout; i++) n->outs[i].node = n;
    n->nout = nout;
    n->is_tuple = is_tuple;
    return true;
}

mt_tensor *mt_tr_placeholder(mt_tracer *tr, const char *name, mt_dtype dt, int ndim,
                             const mt_sym *const *shape) {
    mt_tensor *t = mt_tensor_meta(tr->ctx, dt, ndim, shape);
    if (!t) return NULL;
    mt_node *n = record(tr, MT_NODE_PLACEHOLDER, name, mt_strdup(tr->ctx, name), NULL, 0, NULL, 0);
    if (!n || !set_outs(tr, n, t, 1, false)) return NULL;
    return &n->outs[0];
}

mt_tensor *mt_tr_get_attr(mt_tracer *tr, mt_param *p) {
    if (!p) return NULL;
    mt_param *q = p->tied_to ? p->tied_to : p;
    mt_tensor t = *q->t;
    t.device = MT_DEVICE_META;
    t.data = NULL;
    mt_node *n = record(tr, MT_NODE_GET_ATTR, mt_fx_name(tr->ctx, p->name), p->name, NULL, 0, NULL, 0);
    if (!n || !set_outs(tr, n, &t, 1, false)) return NULL;
    n->param = p;
    return &n->outs[0];
}

static bool args_ok(const mt_arg *a, int n) {
    for (int i = 0; i < n; i++) {
        if (a[i].kind == MT_ARG_TENSOR && !a[i].v.t) return false;
        if (a[i].kind == MT_ARG_LIST && !args_ok(a[i].v.list.items, a[i].v.list.n)) return false;
    }
    return true;
}

static bool kwargs_ok(const mt_kwarg *k, int n) {
    for (int i = 0; i < n; i++)
        if (!args_ok(&k[i].value, 1)) return false;
    return true;
}

mt_node *mt_tr_op(mt_tracer *tr, mt_op_id id, const mt_arg *args, int nargs,
                  const mt_kwarg *kwargs, int nkwargs) {
    if (mt_ctx_status(tr->ctx) != MT_OK) return NULL;
    if (!args_ok(args, nargs) || !kwargs_ok(kwargs, nkwargs)) return NULL;
    mt_tensor outs[MT_MAX_OUTS];
    int nout = 0;
    bool is_tuple = false;
    if (mt_op_infer(tr->ctx, id, args, nargs, kwargs, nkwargs, outs, &nout, &is_tuple) != MT_OK)
        return NULL;
    const mt_opdef *d = mt_op_def(id);
    mt_node *n = record(tr, d->kind, d->name, d->target, args, nargs, kwargs, nkwargs);
    if (!n || !set_outs(tr, n, outs, nout, is_tuple)) return NULL;
    n->opid = (int)id;
    return n;
}

mt_tensor *mt_tr_op1(mt_tracer *tr, mt_op_id id, const mt_arg *args, int nargs,
                     const mt_kwarg *kwargs, int nkwargs) {
    mt_node *n = mt_tr_op(tr, id, args, nargs, kwargs, nkwargs);
    return n ? &n->outs[0] : NULL;
}

mt_tensor *mt_tr_item(mt_tracer *tr, mt_node *tuple, int i) {
    if (!tuple) return NULL;
    mt_arg a[2] = {mt_a_tensor(&tuple->outs[0]), mt_a_int(i)};
    return mt_tr_op1(tr, MT_OP_GETITEM, a, 2, NULL, 0);
}

mt_tensor *mt_tr_call(mt_tracer *tr, mt_module *leaf, mt_tensor *x) {
    if (!x || !leaf) return NULL;
    return mt_leaf_forward(tr, leaf, x);
}

static const char *path_of(const mt_module *m) { return m->path && *m->path ? m->path : "(the model)"; }

void *mt_tr_bound(mt_tracer *tr, const mt_module *m, const mt_handle_kind *kind) {
    return mt_module_bound_checked(tr->ctx, m, kind);
}

mt_module *mt_tr_child(mt_tracer *tr, const mt_module *m, const char *name) {
    if (!m) return NULL;
    mt_module *c = mt_module_child(m, name);
    if (!c)
        mt_fail(tr->ctx, MT_ERR_INTERNAL, "module '%s' (%s) has no child '%s'", path_of(m), m->type ? m->type : "?",
                name);
    return c;
}

mt_param *mt_tr_param(mt_tracer *tr, const mt_module *m, const char *name) {
    if (!m) return NULL;
    mt_param *p = mt_module_param(m, name);
    if (!p)
        mt_fail(tr->ctx, MT_ERR_INTERNAL, "module '%s' (%s) has no parameter or buffer '%s'", path_of(m),
                m->type ? m->type : "?", name);
    return p;
}

/* Used by nn.c's leaf forwards: record a call_module node with a computed output. */
mt_tensor *mt__tr_call_module(mt_tracer *tr, mt_module *m, mt_tensor *x, const mt_tensor *out);
mt_tensor *mt__tr_call_module(mt_tracer *tr, mt_module *m, mt_tensor *x, const mt_tensor *out) {
    mt_arg a = mt_a_tensor(x);
    mt_tr_enter(tr, m);
    mt_node *n = record(tr, MT_NODE_CALL_MODULE, mt_fx_name(tr->ctx, m->path), m->path, &a, 1, NULL, 0);
    mt_tr_leave(tr);
    if (!n || !set_outs(tr, n, out, 1, false)) return NULL;
    n->module = m;
    return &n->outs[0];
}

mt_status mt_tr_output(mt_tracer *tr, mt_tensor *const *outs, int n) {
    if (mt_ctx_status(tr->ctx) != MT_OK) return mt_ctx_status(tr->ctx);
    mt_arg items[8];
    if (n > 8) return mt_fail(tr->ctx, MT_ERR_INTERNAL, "too many outputs");
    for (int i = 0; i < n; i++) {
        if (!outs[i]) return mt_fail(tr->ctx, MT_ERR_INTERNAL, "output %d is missing", i);
        items[i] = mt_a_tensor(outs[i]);
    }
    mt_arg a = n == 1 ? items[0] : mt_a_list(tr->ctx, items, n);
    mt_node *node = record(tr, MT_NODE_OUTPUT, "output", "output", &a, 1, NULL, 0);
    return node ? MT_OK : mt_ctx_status(tr->ctx);
}

/* ---- wrappers ---- */
static mt_tensor *bin(mt_tracer *tr, mt_op_id id, mt_arg a, mt_arg b) {
    mt_arg v[2] = {a, b};
    return mt_tr_op1(tr, id, v, 2, NULL, 0);
}
mt_tensor *mt_add(mt_tracer *tr, mt_tensor *a, mt_tensor *b) { return (a && b) ? bin(tr, MT_OP_ADD, mt_a_tensor(a), mt_a_tensor(b)) : NULL; }
mt_tensor *mt_sub(mt_tracer *tr, mt_tensor *a, mt_tensor *b) { return (a && b) ? bin(tr, MT_OP_SUB, mt_a_tensor(a), mt_a_tensor(b)) : NULL; }
mt_tensor *mt_mul(mt_tracer *tr, mt_tensor *a, mt_tensor *b) { return (a && b) ? bin(tr, MT_OP_MUL, mt_a_tensor(a), mt_a_tensor(b)) : NULL; }
mt_tensor *mt_div(mt_tracer *tr, mt_tensor *a, mt_tensor *b) { return (a && b) ? bin(tr, MT_OP_TRUEDIV, mt_a_tensor(a), mt_a_tensor(b)) : NULL; }
mt_tensor *mt_add_s(mt_tracer *tr, mt_tensor *a, double s) { return a ? bin(tr, MT_OP_ADD, mt_a_tensor(a), mt_a_float(s)) : NULL; }
mt_tensor *mt_mul_s(mt_tracer *tr, mt_tensor *a, double s) { return a ? bin(tr, MT_OP_MUL, mt_a_tensor(a), mt_a_float(s)) : NULL; }
mt_tensor *mt_div_s(mt_tracer *tr, mt_tensor *a, double s) { return a ? bin(tr, MT_OP_TRUEDIV, mt_a_tensor(a), mt_a_float(s)) : NULL; }

mt_tensor *mt_pow_s(mt_tracer *tr, mt_tensor *a, double e) {
    if (!a) return NULL;
    mt_arg ex = (e == (double)(int64_t)e) ? mt_a_int((int64_t)e) : mt_a_float(e);
    return bin(tr, MT_OP_POW, mt_a_tensor(a), ex);
}

mt_tensor *mt_unary(mt_tracer *tr, mt_op_id id, mt_tensor *a) {
    if (!a) return NULL;
    mt_arg v = mt_a_tensor(a);
    return mt_tr_op1(tr, id, &v, 1, NULL, 0);
}

mt_tensor *mt_gelu(mt_tracer *tr, mt_tensor *a, const char *approximate) {
    if (!a) return NULL;
    mt_arg v = mt_a_tensor(a);
    mt_kwarg k = {"approximate", mt_a_str(approximate)};
    bool exact = !approximate || strcmp(approximate, "none") == 0;
    return mt_tr_op1(tr, MT_OP_GELU, &v, 1, &k, exact ? 0 : 1);
}

mt_tensor *mt_to(mt_tracer *tr, mt_tensor *a, mt_dtype dt) {
    return a ? bin(tr, MT_OP_TO, mt_a_tensor(a), mt_a_dtype(dt)) : NULL;
}

mt_tensor *mt_reduce(mt_tracer *tr, mt_op_id id, mt_tensor *a, int64_t dim, bool keepdim) {
    if (!a) return NULL;
    mt_arg v[2] = {mt_a_tensor(a), mt_a_int(dim)};
    mt_kwarg k = {"keepdim", mt_a_bool(true)};
    return mt_tr_op1(tr, id, v, 2, &k, keepdim ? 1 : 0);
}

mt_tensor *mt_softmax(mt_tracer *tr, mt_tensor *a, int64_t dim, mt_dtype dt) {
    if (!a) return NULL;
    mt_arg v = mt_a_tensor(a);
    mt_kwarg k[2] = {{"dim", mt_a_int(dim)}, {"dtype", mt_a_dtype(dt)}};
    return mt_tr_op1(tr, MT_OP_SOFTMAX, &v, 1, k, dt == MT_DTYPE_NONE ? 1 : 2);
}

mt_tensor *mt_matmul(mt_tracer *tr, mt_tensor *a, mt_tensor *b) {
    return (a && b) ? bin(tr, MT_OP_MATMUL, mt_a_tensor(a), mt_a_tensor(b)) : NULL;
}

/* view/reshape/expand take their sizes as separate positional args, as FX records
 * x.view(b, s, -1). */
static mt_tensor *sized(mt_tracer *tr, mt_op_id id, mt_tensor *a, int n, const mt_sym *const *dims) {
    if (!a) return NULL;
    mt_arg v[MT_MAX_DIMS + 1];
    if (n > MT_MAX_DIMS) { mt_fail(tr->ctx, MT_ERR_SHAPE, "too many dims (%d)", n); return NULL; }
    v[0] = mt_a_tensor(a);
    for (int i = 0; i < n; i++) v[i + 1] = dims[i] ? mt_a_dim(dims[i]) : mt_a_int(-1);
    return mt_tr_op1(tr, id, v, n + 1, NULL, 0);
}
mt_tensor *mt_view(mt_tracer *tr, mt_tensor *a, int n, const mt_sym *const *d) { return sized(tr, MT_OP_VIEW, a, n, d); }
mt_tensor *mt_reshape(mt_tracer *tr, mt_tensor *a, int n, const mt_sym *const *d) { return sized(tr, MT_OP_RESHAPE, a, n, d); }
mt_tensor *mt_expand(mt_tracer *tr, mt_tensor *a, int n, const mt_sym *const *d) { return sized(tr, MT_OP_EXPAND, a, n, d); }

mt_tensor *mt_transpose(mt_tracer *tr, mt_tensor *a, int64_t d0, int64_t d1) {
    if (!a) return NULL;
    mt_arg v[3] = {mt_a_tensor(a), mt_a_int(d0), mt_a_int(d1)};
    return mt_tr_op1(tr, MT_OP_TRANSPOSE, v, 3, NULL, 0);
}

mt_tensor *mt_permute(mt_tracer *tr, mt_tensor *a, int n, const int64_t *perm) {
    if (!a) return NULL;
    mt_arg v[MT_MAX_DIMS + 1];
    if (n > MT_MAX_DIMS) return NULL;
    v[0] = mt_a_tensor(a);
    for (int i = 0; i < n; i++) v[i + 1] = mt_a_int(perm[i]);
    return mt_tr_op1(tr, MT_OP_PERMUTE, v, n + 1, NULL, 0);
}

mt_tensor *mt_unsqueeze(mt_tracer *tr, mt_tensor *a, int64_t dim) {
    return a ? bin(tr, MT_OP_UNSQUEEZE, mt_a_tensor(a), mt_a_int(dim)) : NULL;
}

mt_tensor *mt_contiguous(mt_tracer *tr, mt_tensor *a) { return mt_unary(tr, MT_OP_CONTIGUOUS, a); }

mt_tensor *mt_cat(mt_tracer *tr, mt_tensor *const *ts, int n, int64_t dim) {
    mt_arg items[16];
    if (n > 16) return NULL;
    for (int i = 0; i < n; i++) {
        if (!ts[i]) return NULL;
        items[i] = mt_a_tensor(ts[i]);
    }
    mt_arg v = mt_a_list(tr->ctx, items, n);
    mt_kwarg k = {"dim", mt_a_int(dim)};
    return mt_tr_op1(tr, MT_OP_CAT, &v, 1, &k, 1);
}

mt_node *mt_split(mt_tracer *tr, mt_tensor *a, int n, const int64_t *sizes, int64_t dim) {
    if (!a) return NULL;
    mt_arg v[2] = {mt_a_tensor(a), n == 1 ? mt_a_int(sizes[0]) : mt_a_ints(tr->ctx, sizes, n)};
    mt_kwarg k = {"dim", mt_a_int(dim)};
    return mt_tr_op(tr, MT_OP_SPLIT, v, 2, &k, 1);
}

mt_node *mt_chunk(mt_tracer *tr, mt_tensor *a, int64_t chunks, int64_t dim) {
    if (!a) return NULL;
    mt_arg v[2] = {mt_a_tensor(a), mt_a_int(chunks)};
    mt_kwarg k = {"dim", mt_a_int(dim)};
    return mt_tr_op(tr, MT_OP_CHUNK, v, 2, &k, 1);
}

mt_tensor *mt_index(mt_tracer *tr, mt_tensor *a, const mt_arg *idx, int n) {
    if (!a) return NULL;
    mt_arg v[2] = {mt_a_tensor(a), n == 1 ? idx[0] : mt_a_list(tr->ctx, idx, n)};
    return mt_tr_op1(tr, MT_OP_GETITEM, v, 2, NULL, 0);
}

mt_tensor *mt_slice_last(mt_tracer *tr, mt_tensor *a, const mt_sym *start, const mt_sym *stop) {
    mt_arg idx[2] = {mt_a_ellipsis(), mt_a_slice(start, stop, NULL)};
    return mt_index(tr, a, idx, 2);
}
