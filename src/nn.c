/* Module tree, parameters, the meta scope, and leaf modules with their
 * meta-aware forwards. */
#include <string.h>

#include <metatrace/family.h>

#include "ctx_internal.h"

/* ---- meta scope ---- */
void mt_meta_scope_enter(mt_ctx *ctx) { (*mt__ctx_meta_depth(ctx))++; }
void mt_meta_scope_exit(mt_ctx *ctx) {
    int *d = mt__ctx_meta_depth(ctx);
    if (*d > 0) (*d)--;
}
int mt_meta_scope_depth(const mt_ctx *ctx) { return *mt__ctx_meta_depth((mt_ctx *)ctx); }
mt_device mt_meta_init(mt_ctx *ctx, mt_device requested) {
    return mt_meta_scope_depth(ctx) > 0 ? MT_DEVICE_META : requested;
}

/* ---- modules ---- */
/* A module and its private part: mt_module_new allocates this, the public
 * struct first, so a module's address is its module_impl's (C11 6.7.2.1). */
typedef struct module_impl {
    mt_module m;
    int attrcap; /* entries allocated in m.attrs */
    const mt_handle_kind *bound_kind; /* the kind of the handle bound at build (mt_module_bind), or NULL */
    void *bound;
} module_impl;

mt_module *mt_module_new(mt_ctx *ctx, mt_module *parent, const char *name, const char *type) {
    module_impl *mi = mt_alloc(ctx, sizeof *mi);
    if (!mi) return NULL;
    mt_module *m = &mi->m;
    m->name = mt_strdup(ctx, name ? name : "");
    m->type = mt_strdup(ctx, type);
    m->leaf = MT_LEAF_NONE;
    m->parent = parent;
    if (parent && parent->path[0]) m->path = mt__join(ctx, parent->path, '.', name);
    else m->path = mt_strdup(ctx, name ? name : "");
    if (!m->name || !m->type || !m->path) return NULL;
    if (parent && !mt_vec_push(ctx, &parent->children, m)) return NULL;
    return m;
}

/* ---- typed handles bound at build ---- */
static const char *path_of(const mt_module *m) { return m->path && *m->path ? m->path : "(the model)"; }

void *mt_module_bind(mt_ctx *ctx, mt_module *m, const mt_handle_kind *kind, size_t size) {
    if (!m) return NULL;
    module_impl *mi = (module_impl *)m;
    if (mi->bound_kind == kind) return mi->bound; /* bound already (a shared constructor composed twice) */
    if (mi->bound_kind) {
        mt_fail(ctx, MT_ERR_INTERNAL, "module '%s' (%s) is bound as %s, bound again as %s", path_of(m),
                m->type ? m->type : "?", mi->bound_kind->name, kind->name);
        return NULL;
    }
    void *h = mt_alloc(ctx, size);
    if (!h) return NULL;
    mi->bound_kind = kind;
    mi->bound = h;
    return h;
}

void *mt_module_bound(const mt_module *m, const mt_handle_kind *kind) {
    const module_impl *mi = (const module_impl *)m;
    return m && mi->bound_kind == kind ? mi->bound : NULL;
}

void *mt_module_bound_checked(mt_ctx *ctx, const mt_module *m, const mt_handle_kind *kind) {
    if (!m) return NULL;
    const module_impl *mi = (const module_impl *)m;
    if (mi->bound_kind == kind) return mi->bound;
    if (mi->bound_kind)
        mt_fail(ctx, MT_ERR_INTERNAL, "module '%s' (%s) is bound as %s, read as %s", path_of(m),
                m->type ? m->type : "?", mi->bound_kind->name, kind->name);
    else
        mt_fail(ctx, MT_ERR_INTERNAL, "module '%s' (%s) has no bound %s (its build did not bind it)", path_of(m),
                m->type ? m->type : "?", kind->name);
    return NULL;
}

mt_module *mt_bind_child(mt_ctx *ctx, const mt_module *m, const char *name) {
    if (!m) return NULL;
    mt_module *c = mt_module_child(m, name);
    if (!c)
        mt_fail(ctx, MT_ERR_INTERNAL, "module '%s' (%s) has no child '%s'", path_of(m), m->type ? m->type : "?",
                name);
    return c;
}

mt_param *mt_bind_param(mt_ctx *ctx, const mt_module *m, const char *name) {
    if (!m) return NULL;
    mt_param *p = mt_module_param(m, name);
    if (!p)
        mt_fail(ctx, MT_ERR_INTERNAL, "module '%s' (%s) has no parameter or buffer '%s'", path_of(m),
                m->type ? m->type : "?", name);
    return p;
}

mt_module *mt_module_child(const mt_module *m, const char *name) {
    for (int i = 0; i < m->children.n; i++) {
        mt_module *c = m->children.items[i];
        if (c->name[0] == name[0] && strcmp(c->name, name) == 0) return c;
    }
    return NULL;
}

mt_module *mt_module_find(const mt_module *root, const char *path) {
    const mt_module *m = root;
    char part[256];
    while (m && *path) {
        const char *dot = strchr(path, '.');
        size_t len = dot ? (size_t)(dot - path) : strlen(path);
        if (len >= sizeof part) return NULL;
        memcpy(part, path, len);
        part[len] = 0;
        m = mt_module_child(m, part);
        path += len + (dot ? 1 : 0);
    }
    return (mt_module *)m;
}

void mt_module_attr(mt_ctx *ctx, mt_module *m, const char *name, mt_arg value) {
    /* setting an attribute again replaces it in place, as Python's setattr
     * does (BERT's decoder gets bias=True after its bias=False constructor) */
    for (int i = 0; i < m->nattrs; i++)
        if (strcmp(m->attrs[i].name, name) == 0) {
            m->attrs[i].value = value;
            return;
        }
    module_impl *mi = (module_impl *)m;
    if (m->nattrs == mi->attrcap) {
        int ncap = mi->attrcap ? mi->attrcap * 2 : 4;
        mt_kwarg *na = mt_alloc_array(ctx, (size_t)ncap, sizeof *na);
        if (!na) return;
        if (m->nattrs) memcpy(na, m->attrs, (size_t)m->nattrs * sizeof *na);
        m->attrs = na;
        mi->attrcap = ncap;
    }
    m->attrs[m->nattrs].name = name;
    m->attrs[m->nattrs].value = value;
    m->nattrs++;
}

const mt_arg *mt_module_get_attr(const mt_module *m, const char *name) {
    /* (the first byte first: the sizing pass asks every module for a few names) */
    for (int i = 0; i < m->nattrs; i++)
        if (m->attrs[i].name[0] == name[0] && strcmp(m->attrs[i].name, name) == 0) return &m->attrs[i].value;
    return NULL;
}

/* ---- parameters ---- */
static mt_param *param_common(mt_ctx *ctx, mt_module *m, const char *local) {
    mt_param *p = mt_alloc(ctx, sizeof *p);
    if (!p) return NULL;
    p->local = mt_strdup(ctx, local);
    p->name = m->path[0] ? mt__join(ctx, m->path, '.', local) : mt_strdup(ctx, local);
    p->owner = m;
    if (!p->local || !p->name) return NULL;
    return p;
}

static mt_tensor *make_tensor(mt_ctx *ctx, const char *name, mt_dtype dt, mt_device requested,
                              int ndim, const int64_t *shape) {
    for (int i = 0; i < ndim; i++)
        if (shape[i] < 0) {
            mt_fail(ctx, MT_ERR_CONFIG, "%s: negative dimension %lld", name, (long long)shape[i]);
            return NULL;
        }
    mt_tensor *t = mt_tensor_meta_i(ctx, dt, ndim, shape);
    if (!t) return NULL;
    t->device = mt_meta_init(ctx, requested); /* the meta scope decides */
    if (t->device == MT_DEVICE_CPU) {
        int64_t bytes = (int64_t)mt_dtype_size(dt);
        for (int i = 0; i < ndim; i++)
            if (!mt_checked_mul(ctx, bytes, shape[i], &bytes, name)) return NULL;
        t->data = mt_heap_alloc(ctx, (size_t)bytes);
        if (!t->data && bytes) return NULL;
    }
    return t;
}

mt_param *mt_param_new(mt_ctx *ctx, mt_module *m, const char *local, mt_dtype dt,
                       mt_device requested, int ndim, const int64_t *shape) {
    mt_param *p = param_common(ctx, m, local);
    if (!p) return NULL;
    p->t = make_tensor(ctx, p->name, dt, requested, ndim, shape);
    if (!p->t || !mt_vec_push(ctx, &m->params, p)) return NULL;
    return p;
}

mt_param *mt_buffer_new(mt_ctx *ctx, mt_module *m, const char *local, mt_dtype dt,
                        mt_device requested, int ndim, const int64_t *shape, bool persistent,
                        bool computed) {
    mt_param *p = mt_param_new(ctx, m, local, dt, requested, ndim, shape);
    if (!p) return NULL;
    p->is_buffer = true;
    p->persistent = persistent;
    p->computed = computed;
    return p;
}

mt_param *mt_param_tie(mt_ctx *ctx, mt_module *m, const char *local, mt_param *target) {
    if (!target) return NULL;
    mt_param *p = param_common(ctx, m, local);
    if (!p) return NULL;
    p->t = target->t;
    p->tied_to = target->tied_to ? target->tied_to : target;
    if (!mt_vec_push(ctx, &m->params, p)) return NULL;
    return p;
}

mt_param *mt_module_param(const mt_module *m, const char *local) {
    for (int i = 0; i < m->params.n; i++) {
        mt_param *p = m->params.items[i];
        if (p->local[0] == local[0] && strcmp(p->local, local) == 0) return p;
    }
    return NULL;
}

/* ---- leaf modules ---- */
static mt_module *leaf_new(mt_ctx *ctx, mt_module *parent, const char *name, const char *type,
                           mt_leaf_kind k) {
    mt_module *m = mt_module_new(ctx, parent, name, type);
    if (m) m->leaf = k;
    return m;
}

mt_module *mt_nn_linear(mt_ctx *ctx, mt_module *parent, const char *name, int64_t in,
                        int64_t out, bool bias, mt_dtype dt, mt_device dev) {
    mt_module *m = leaf_new(ctx, parent, name, "Linear", MT_LEAF_LINEAR);
    if (!m) return NULL;
    mt_module_attr(ctx, m, "in_features", mt_a_int(in));
    mt_module_attr(ctx, m, "out_features", mt_a_int(out));
    mt_module_attr(ctx, m, "bias", mt_a_bool(bias));
    int64_t ws[2] = {out, in};
    if (!mt_param_new(ctx, m, "weight", dt, dev, 2, ws)) return NULL;
    if (bias && !mt_param_new(ctx, m, "bias", dt, dev, 1, &out)) return NULL;
    return m;
}

mt_module *mt_nn_linear_tied(mt_ctx *ctx, mt_module *parent, const char *name, mt_param *weight) {
    if (!weight) return NULL;
    mt_module *m = leaf_new(ctx, parent, name, "Linear", MT_LEAF_LINEAR);
    if (!m) return NULL;
    const mt_tensor *w = weight->t;
    mt_module_attr(ctx, m, "in_features", mt_a_dim(w->shape[1]));
    mt_module_attr(ctx, m, "out_features", mt_a_dim(w->shape[0]));
    mt_module_attr(ctx, m, "bias", mt_a_bool(false));
    return mt_param_tie(ctx, m, "weight", weight) ? m : NULL;
}

mt_module *mt_nn_embedding(mt_ctx *ctx, mt_module *parent, const char *name, int64_t num,
                           int64_t dim, mt_dtype dt, mt_device dev) {
    mt_module *m = leaf_new(ctx, parent, name, "Embedding", MT_LEAF_EMBEDDING);
    if (!m) return NULL;
    mt_module_attr(ctx, m, "num_embeddings", mt_a_int(num));
    mt_module_attr(ctx, m, "embedding_dim", mt_a_int(dim));
    int64_t ws[2] = {num, dim};
    if (!mt_param_new(ctx, m, "weight", dt, dev, 2, ws)) return NULL;
    return m;
}

mt_module *mt_nn_layernorm(mt_ctx *ctx, mt_module *parent, const char *name, int64_t dim,
                           double eps, bool affine, bool bias, mt_dtype dt, mt_device dev) {
    mt_module *m = leaf_new(ctx, parent, name, "LayerNorm", MT_LEAF_LAYERNORM);
    if (!m) return NULL;
    mt_module_attr(ctx, m, "normalized_shape", mt_a_ints(ctx, &dim, 1));
    mt_module_attr(ctx, m, "eps", mt_a_float(eps));
    mt_module_attr(ctx, m, "elementwise_affine", mt_a_bool(affine));
    if (affine) {
        if (!mt_param_new(ctx, m, "weight", dt, dev, 1, &dim)) return NULL;
        if (bias && !mt_param_new(ctx, m, "bias", dt, dev, 1, &dim)) return NULL;
    }
    return m;
}

mt_module *mt_nn_conv1d(mt_ctx *ctx, mt_module *parent, const char *name, int64_t nf, int64_t nx,
                        mt_dtype dt, mt_device dev) {
    mt_module *m = leaf_new(ctx, parent, name, "Conv1D", MT_LEAF_CONV1D);
    if (!m) return NULL;
    mt_module_attr(ctx, m, "nf", mt_a_int(nf));
    mt_module_attr(ctx, m, "nx", mt_a_int(nx));
    int64_t ws[2] = {nx, nf};
    if (!mt_param_new(ctx, m, "weight", dt, dev, 2, ws)) return NULL;
    if (!mt_param_new(ctx, m, "bias", dt, dev, 1, &nf)) return NULL;
    return m;
}

mt_module *mt_nn_conv1d_nn(mt_ctx *ctx, mt_module *parent, const char *name, int64_t in, int64_t out,
                           int64_t kernel, int64_t padding, int64_t groups, bool bias, mt_dtype dt, mt_device dev) {
    if (groups <= 0 || in % groups != 0 || out % groups != 0) {
        mt_fail(ctx, MT_ERR_SHAPE, "%s: Conv1d in_channels (%lld) and out_channels (%lld) must be divisible by groups "
                "(%lld)", name, (long long)in, (long long)out, (long long)groups);
        return NULL;
    }
    mt_module *m = leaf_new(ctx, parent, name, "Conv1d", MT_LEAF_NN_CONV1D);
    if (!m) return NULL;
    mt_module_attr(ctx, m, "in_channels", mt_a_int(in));
    mt_module_attr(ctx, m, "out_channels", mt_a_int(out));
    mt_module_attr(ctx, m, "kernel_size", mt_a_int(kernel));
    mt_module_attr(ctx, m, "stride", mt_a_int(1));
    mt_module_attr(ctx, m, "padding", mt_a_int(padding));
    mt_module_attr(ctx, m, "dilation", mt_a_int(1));
    mt_module_attr(ctx, m, "groups", mt_a_int(groups));
    int64_t ws[3] = {out, in / groups, kernel};
    if (!mt_param_new(ctx, m, "weight", dt, dev, 3, ws)) return NULL;
    if (bias && !mt_param_new(ctx, m, "bias", dt, dev, 1, &out)) return NULL;
    return m;
}

mt_module *mt_nn_dropout(mt_ctx *ctx, mt_module *parent, const char *name, double p) {
    mt_module *m = leaf_new(ctx, parent, name, "Dropout", MT_LEAF_DROPOUT);
    if (m) mt_module_attr(ctx, m, "p", mt_a_float(p));
    return m;
}

mt_module *mt_nn_act(mt_ctx *ctx, mt_module *parent, const char *name, const char *type) {
    return leaf_new(ctx, parent, name, type, MT_LEAF_ACT);
}

/* Recording helper from tracer.c. */
mt_tensor *mt__tr_call_module(mt_tracer *tr, mt_module *m, mt_tensor *x, const mt_tensor *out);

static mt_tensor *param_arg(mt_module *m, const char *local) {
    mt_param *p = mt_module_param(m, local);
    if (!p) return NULL;
    return p->tied_to ? p->tied_to->t : p->t;
}

/* Each leaf forward builds the functional op's arguments from its parameters
 * and lets the op table's rule infer the output (one shape rule per op). */
static mt_status fwd_linear(mt_tracer *tr, mt_module *m, mt_tensor *x, mt_tensor *out) {
    mt_tensor *b = param_arg(m, "bias");
    mt_arg a[3] = {mt_a_tensor(x), mt_a_tensor(param_arg(m, "weight")), b ? mt_a_tensor(b) : mt_a_none()};
    int n = 1;
    bool tup;
    return mt_op_infer(tr->ctx, MT_OP_LINEAR, a, 3, NULL, 0, out, &n, &tup);
}

static mt_status fwd_embedding(mt_tracer *tr, mt_module *m, mt_tensor *x, mt_tensor *out) {
    mt_arg a[2] = {mt_a_tensor(x), mt_a_tensor(param_arg(m, "weight"))};
    int n = 1;
    bool tup;
    return mt_op_infer(tr->ctx, MT_OP_EMBEDDING, a, 2, NULL, 0, out, &n, &tup);
}

static mt_status fwd_layernorm(mt_tracer *tr, mt_module *m, mt_tensor *x, mt_tensor *out) {
    mt_tensor *w = param_arg(m, "weight"), *b = param_arg(m, "bias");
    const mt_arg *ns = mt_module_get_attr(m, "normalized_shape");
    const mt_arg *eps = mt_module_get_attr(m, "eps");
    mt_arg a[5] = {mt_a_tensor(x), *ns, w ? mt_a_tensor(w) : mt_a_none(),
                   b ? mt_a_tensor(b) : mt_a_none(), *eps};
    int n = 1;
    bool tup;
    return mt_op_infer(tr->ctx, MT_OP_LAYER_NORM, a, 5, NULL, 0, out, &n, &tup);
}

static mt_status fwd_dropout(mt_tracer *tr, mt_module *m, mt_tensor *x, mt_tensor *out) {
    (void)m;
    mt_arg a = mt_a_tensor(x);
    int n = 1;
    bool tup;
    return mt_op_infer(tr->ctx, MT_OP_DROPOUT, &a, 1, NULL, 0, out, &n, &tup);
}

/* Activation modules by class name -> the functional op they apply. */
static const struct { const char *type; mt_op_id op; const char *approximate; } act_table[] = {
    {"SiLU", MT_OP_SILU, NULL},
    {"GELU", MT_OP_GELU, NULL},
    {"GELUActivation", MT_OP_GELU, NULL},
    {"GELUTanh", MT_OP_GELU, "tanh"},
    {"NewGELUActivation", MT_OP_GELU, "tanh"},
    {"PytorchGELUTanh", MT_OP_GELU, "tanh"},
    {"FastGELUActivation", MT_OP_GELU, "tanh"},
    {"ReLU", MT_OP_RELU, NULL},
    {"Tanh", MT_OP_TANH, NULL},
    {"Sigmoid", MT_OP_SIGMOID, NULL},
};

static mt_status fwd_act(mt_tracer *tr, mt_module *m, mt_tensor *x, mt_tensor *out) {
    for (size_t i = 0; i < sizeof act_table / sizeof act_table[0]; i++) {
        if (strcmp(act_table[i].type, m->type) != 0) continue;
        mt_arg a = mt_a_tensor(x);
        mt_kwarg k = {"approximate", mt_a_str(act_table[i].approximate)};
        int n = 1;
        bool tup;
        return mt_op_infer(tr->ctx, act_table[i].op, &a, 1, &k, act_table[i].approximate ? 1 : 0,
                           out, &n, &tup);
    }
    return mt_fail(tr->ctx, MT_ERR_UNSUPPORTED, "%s: unknown activation module type '%s'", m->path, m->type);
}

/* Conv1D computes addmm(bias, x.view(-1, nx), weight).view(..., nf): the
 * shape is x @ weight's (matmul rule on the [in, out] weight), then + bias. */
static mt_status fwd_conv1d(mt_tracer *tr, mt_module *m, mt_tensor *x, mt_tensor *out) {
    mt_arg a[2] = {mt_a_tensor(x), mt_a_tensor(param_arg(m, "weight"))};
    mt_tensor tmp[MT_MAX_OUTS];
    int n = 1;
    bool tup;
    mt_status st = mt_op_infer(tr->ctx, MT_OP_MATMUL, a, 2, NULL, 0, tmp, &n, &tup);
    if (st != MT_OK) return st;
    mt_arg b[2] = {mt_a_tensor(&tmp[0]), mt_a_tensor(param_arg(m, "bias"))};
    return mt_op_infer(tr->ctx, MT_OP_ADD, b, 2, NULL, 0, out, &n, &tup);
}

/* torch.nn.Conv1d.forward: F.conv1d(x, weight, bias, stride, padding, dilation, groups). */
static mt_status fwd_conv1d_nn(mt_tracer *tr, mt_module *m, mt_tensor *x, mt_tensor *out) {
    mt_tensor *b = param_arg(m, "bias");
    mt_arg a[7] = {mt_a_tensor(x), mt_a_tensor(param_arg(m, "weight")), b ? mt_a_tensor(b) : mt_a_none(),
                   *mt_module_get_attr(m, "stride"), *mt_module_get_attr(m, "padding"),
                   *mt_module_get_attr(m, "dilation"), *mt_module_get_attr(m, "groups")};
    int n = 1;
    bool tup;
    return mt_op_infer(tr->ctx, MT_OP_CONV1D, a, 7, NULL, 0, out, &n, &tup);
}

typedef mt_status (*leaf_fwd)(mt_tracer *, mt_module *, mt_tensor *, mt_tensor *);
/* ORDER mt_leaf_kind */
static const leaf_fwd leaf_table[MT_LEAF_COUNT] = {fwd_linear, fwd_embedding, fwd_layernorm,
                                                   fwd_dropout, fwd_act, fwd_conv1d, fwd_conv1d_nn};
_Static_assert(sizeof leaf_table / sizeof leaf_table[0] == MT_LEAF_COUNT, "leaf table");

mt_tensor *mt_leaf_forward(mt_tracer *tr, mt_module *m, mt_tensor *x) {
    if (!x || mt_ctx_status(tr->ctx) != MT_OK) return NULL;
    if (m->leaf < 0 || m->leaf >= MT_LEAF_COUNT) {
        mt_fail(tr->ctx, MT_ERR_INTERNAL, "%s (%s) is not a leaf module", m->path, m->type);
        return NULL;
    }
    mt_tensor out;
    memset(&out, 0, sizeof out);
    if (leaf_table[m->leaf](tr, m, x, &out) != MT_OK) {
        /* Name the module in addition to the op's own message. */
        const mt_error *e = mt_ctx_error(tr->ctx);
        if (e->message && !strstr(e->message, m->path)) {
            const char *msg = mt_sprintf(tr->ctx, "%s (%s): %s", m->path, m->type, e->message);
            mt_status st = e->status;
            mt_error_clear(tr->ctx);
            mt_fail(tr->ctx, st, "%s", msg);
        }
        return NULL;
    }
    return mt__tr_call_module(tr, m, x, &out);
}
