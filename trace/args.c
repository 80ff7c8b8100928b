/* Tensors metadata and op arguments. */
#include <string.h>

#include <metatrace/graph.h>

static const char *const device_names[] = {"cpu", "meta"};
const char *mt_device_name(mt_device d) { return (d == MT_DEVICE_CPU || d == MT_DEVICE_META) ? device_names[d] : "?"; }

/* ORDER mt_opkind */
static const char *const opkind_names[MT_NODE_KIND_COUNT] = {
    "placeholder", "get_attr", "call_module", "call_function", "call_method", "output",
};
_Static_assert(sizeof opkind_names / sizeof opkind_names[0] == MT_NODE_KIND_COUNT, "opkind names");
const char *mt_opkind_name(mt_opkind k) { return (k >= 0 && k < MT_NODE_KIND_COUNT) ? opkind_names[k] : "?"; }

mt_tensor *mt_tensor_meta(mt_ctx *ctx, mt_dtype dt, int ndim, const mt_sym *const *shape) {
    if (ndim < 0 || ndim > MT_MAX_DIMS) {
        mt_fail(ctx, MT_ERR_SHAPE, "tensor rank %d exceeds the supported maximum %d", ndim, MT_MAX_DIMS);
        return NULL;
    }
    mt_tensor *t = mt_alloc(ctx, sizeof *t);
    if (!t) return NULL;
    t->dtype = dt;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) {
        if (!shape[i]) return NULL;
        t->shape[i] = shape[i];
    }
    t->device = MT_DEVICE_META;
    return t;
}

mt_tensor *mt_tensor_meta_i(mt_ctx *ctx, mt_dtype dt, int ndim, const int64_t *shape) {
    const mt_sym *dims[MT_MAX_DIMS];
    if (ndim < 0 || ndim > MT_MAX_DIMS) return mt_tensor_meta(ctx, dt, ndim, NULL);
    for (int i = 0; i < ndim; i++) dims[i] = mt_sym_const(ctx, shape[i]);
    return mt_tensor_meta(ctx, dt, ndim, dims);
}

const mt_sym *mt_tensor_numel(mt_ctx *ctx, const mt_tensor *t) {
    return mt_sym_prod(ctx, t->shape, t->ndim);
}

const char *mt_shape_str(mt_ctx *ctx, int ndim, const mt_sym *const *shape) {
    size_t len = 3;
    for (int i = 0; i < ndim; i++) len += strlen(shape[i] ? mt_sym_str(shape[i]) : "?") + 2;
    char *s = mt_alloc(ctx, len);
    if (!s) return "[?]";
    char *p = s;
    *p++ = '[';
    for (int i = 0; i < ndim; i++) {
        const char *d = shape[i] ? mt_sym_str(shape[i]) : "?";
        if (i) { *p++ = ','; *p++ = ' '; }
        size_t k = strlen(d);
        memcpy(p, d, k);
        p += k;
    }
    *p++ = ']';
    *p = 0;
    return s;
}

mt_arg mt_a_tensor(mt_tensor *t) { mt_arg a = {.kind = MT_ARG_TENSOR}; a.v.t = t; return a; }
mt_arg mt_a_int(int64_t i) { mt_arg a = {.kind = MT_ARG_INT}; a.v.i = i; return a; }
mt_arg mt_a_float(double f) { mt_arg a = {.kind = MT_ARG_FLOAT}; a.v.f = f; return a; }
mt_arg mt_a_bool(bool b) { mt_arg a = {.kind = MT_ARG_BOOL}; a.v.b = b; return a; }
mt_arg mt_a_dtype(mt_dtype d) { mt_arg a = {.kind = MT_ARG_DTYPE}; a.v.dtype = d; return a; }
mt_arg mt_a_str(const char *s) { mt_arg a = {.kind = MT_ARG_STR}; a.v.s = s; return a; }
mt_arg mt_a_none(void) { mt_arg a = {.kind = MT_ARG_NONE}; return a; }
mt_arg mt_a_ellipsis(void) { mt_arg a = {.kind = MT_ARG_ELLIPSIS}; return a; }

mt_arg mt_a_dim(const mt_sym *s) {
    if (s && mt_sym_is_const(s)) return mt_a_int(mt_sym_const_value(s));
    mt_arg a = {.kind = MT_ARG_SYM};
    a.v.sym = s;
    return a;
}

mt_arg mt_a_slice(const mt_sym *start, const mt_sym *stop, const mt_sym *step) {
    mt_arg a = {.kind = MT_ARG_SLICE};
    a.v.slice.start = start;
    a.v.slice.stop = stop;
    a.v.slice.step = step;
    return a;
}

mt_arg mt_a_list(mt_ctx *ctx, const mt_arg *items, int n) {
    mt_arg a = {.kind = MT_ARG_LIST};
    a.v.list.n = n;
    a.v.list.items = n ? mt_alloc_array(ctx, (size_t)n, sizeof *items) : NULL;
    if (a.v.list.items) memcpy(a.v.list.items, items, (size_t)n * sizeof *items);
    else a.v.list.n = 0;
    return a;
}

mt_arg mt_a_dims(mt_ctx *ctx, const mt_sym *const *dims, int n) {
    mt_arg tmp[MT_MAX_DIMS * 2];
    if (n > (int)(sizeof tmp / sizeof tmp[0])) n = (int)(sizeof tmp / sizeof tmp[0]);
    for (int i = 0; i < n; i++) tmp[i] = dims[i] ? mt_a_dim(dims[i]) : mt_a_int(-1);
    return mt_a_list(ctx, tmp, n);
}

mt_arg mt_a_ints(mt_ctx *ctx, const int64_t *v, int n) {
    mt_arg tmp[MT_MAX_DIMS * 2];
    if (n > (int)(sizeof tmp / sizeof tmp[0])) n = (int)(sizeof tmp / sizeof tmp[0]);
    for (int i = 0; i < n; i++) tmp[i] = mt_a_int(v[i]);
    return mt_a_list(ctx, tmp, n);
}
