/* How a node's output dims come from its input dims (opinfo_internal.h):
 * one spec per dims class of the op table, read forward by the planner's
 * axis propagation and backward by its constraints' walks (src/plan/constraints.c). */
#include "opinfo_internal.h"

int mt__wrap_dim(int64_t d, int nd) {
    if (d < 0) d += nd;
    return d >= 0 && d < nd ? (int)d : -1;
}

/* view/reshape: input and output dims grouped into runs with equal products,
 * in order: run r covers input dims [ri[r], ri[r+1]) and output dims
 * [rj[r], rj[r+1]). Returns the number of runs (stops at the first dims whose
 * products cannot be matched). */
static int view_runs(mt_ctx *ctx, const mt_tensor *x, const mt_tensor *y, int *ri, int *rj) {
    int i = 0, j = 0, n = 0;
    ri[0] = rj[0] = 0;
    while (i < x->ndim && j < y->ndim) {
        const mt_sym *pa = x->shape[i++], *pb = y->shape[j++];
        int guard = 0;
        while (pa != pb && pa && pb && guard++ < 2 * MT_MAX_DIMS) {
            if (i < x->ndim && mt_sym_divides(ctx, pa, pb)) pa = mt_sym_mul(ctx, pa, x->shape[i++]);
            else if (j < y->ndim && mt_sym_divides(ctx, pb, pa)) pb = mt_sym_mul(ctx, pb, y->shape[j++]);
            else break;
        }
        if (!pa || pa != pb) break;
        n++;
        ri[n] = i, rj[n] = j;
    }
    return n;
}

static mt_dimspec ds(int kind, int in) { return (mt_dimspec){(signed char)kind, (signed char)in, 1, 0, 1}; }

/* x[index] (an index, not a tuple element): map[i] = the output dim input dim
 * i becomes, -1 when it disappears (an int index) or is cut (a slice changing
 * its size). False for advanced (tensor) indexing or an index not understood. */
static bool getitem_map(const mt_node *n, const mt_tensor *x, const mt_tensor *y, int *map) {
    for (int i = 0; i < MT_MAX_DIMS; i++) map[i] = -1;
    const mt_arg *idx = mt__node_arg(n, "b"); /* operator.getitem(a, b): the index */
    if (!idx) return false;
    const mt_arg *items = idx;
    int k = 1;
    if (idx->kind == MT_ARG_LIST) items = idx->v.list.items, k = idx->v.list.n;
    int consume = 0;
    for (int i = 0; i < k; i++)
        if (items[i].kind == MT_ARG_INT || items[i].kind == MT_ARG_SYM || items[i].kind == MT_ARG_SLICE) consume++;
    int d = 0, o = 0;
    for (int i = 0; i < k; i++) {
        switch (items[i].kind) {
        case MT_ARG_ELLIPSIS:
            for (int q = 0; q < x->ndim - consume && d < x->ndim; q++) map[d++] = o++;
            break;
        case MT_ARG_NONE: o++; break;
        case MT_ARG_SLICE:
            if (d < x->ndim && o < y->ndim && x->shape[d] == y->shape[o]) map[d] = o;
            d++, o++;
            break;
        case MT_ARG_INT:
        case MT_ARG_SYM: d++; break;
        default: return false;
        }
        if (d > x->ndim) return false;
    }
    while (d < x->ndim && o < y->ndim) map[d++] = o++;
    return true;
}

/* The dims `dim` names (an int or a list; None or [] all of them). */
static void dims_named(const mt_arg *a, int nd, bool *named) {
    for (int i = 0; i < MT_MAX_DIMS; i++) named[i] = false;
    if (!a) {
        for (int i = 0; i < nd; i++) named[i] = true;
        return;
    }
    const mt_arg *items = a;
    int k = 1;
    if (a->kind == MT_ARG_LIST) items = a->v.list.items, k = a->v.list.n;
    if (k == 0)
        for (int i = 0; i < nd; i++) named[i] = true;
    for (int i = 0; i < k; i++) {
        int d = items[i].kind == MT_ARG_INT ? mt__wrap_dim(items[i].v.i, nd) : -1;
        if (d >= 0) named[d] = true;
    }
}

/* Dims read whole kept in place, the others whole: spec from `named`. */
static void spec_reading(int nd, const bool *named, bool keep, mt_dimspec *spec) {
    int o = 0;
    for (int i = 0; i < nd; i++) {
        if (!named[i]) spec[o++] = ds(MT_DS_DIM, i);
        else if (keep) spec[o++] = ds(MT_DS_READ, i);
    }
}

static void spec_view(mt_ctx *ctx, const mt_tensor *x, const mt_tensor *y, mt_dimspec *spec) {
    int ri[MT_MAX_DIMS + 1], rj[MT_MAX_DIMS + 1];
    int nr = view_runs(ctx, x, y, ri, rj);
    for (int r = 0; r < nr; r++) {
        int nin = ri[r + 1] - ri[r], nout = rj[r + 1] - rj[r];
        for (int q = 0; q < nout; q++)
            spec[rj[r] + q] = nin == 1 && nout == 1 ? ds(MT_DS_DIM, ri[r])
                                                    : (mt_dimspec){MT_DS_RUN, (signed char)ri[r], (signed char)nin,
                                                                   (signed char)q, (signed char)nout};
    }
}

const mt_tensor *mt__dimspec(mt_ctx *ctx, const mt_node *n, int out, mt_dimspec *spec) {
    const mt_opinfo *info = mt__op_info(n->opid);
    if (!info || out < 0 || out >= n->nout) return NULL;
    const mt_tensor *y = &n->outs[out], *x = NULL;
    if (info->dims == MT_DIMS_CAT || info->dims == MT_DIMS_STACK) {
        const mt_arg *l = mt__node_arg(n, "tensors");
        if (l && l->kind == MT_ARG_LIST && l->v.list.n > 0 && l->v.list.items[0].kind == MT_ARG_TENSOR)
            x = l->v.list.items[0].v.t;
    } else {
        x = mt__node_input(n);
    }
    if (!x) return NULL;
    for (int o = 0; o < MT_MAX_DIMS; o++) spec[o] = ds(MT_DS_NEW, -1);
    int64_t d = 0;
    bool named[MT_MAX_DIMS] = {false};
    switch (info->dims) {
    case MT_DIMS_VIEW: spec_view(ctx, x, y, spec); break;
    case MT_DIMS_TRANSPOSE: {
        int64_t a = 0, b = 0;
        for (int o = 0; o < y->ndim; o++) spec[o] = ds(MT_DS_DIM, o);
        if (mt__node_int(n, "dim0", &a) && mt__node_int(n, "dim1", &b)) {
            int wa = mt__wrap_dim(a, x->ndim), wb = mt__wrap_dim(b, x->ndim);
            if (wa >= 0 && wb >= 0) spec[wa] = ds(MT_DS_DIM, wb), spec[wb] = ds(MT_DS_DIM, wa);
        }
        break;
    }
    case MT_DIMS_PERMUTE: {
        int k = 0;
        const mt_arg *items = mt__node_rest(n, "dims", &k);
        for (int o = 0; o < k && o < MT_MAX_DIMS; o++) {
            int w = items[o].kind == MT_ARG_INT ? mt__wrap_dim(items[o].v.i, x->ndim) : -1;
            if (w >= 0) spec[o] = ds(MT_DS_DIM, w);
        }
        break;
    }
    case MT_DIMS_UNSQUEEZE: {
        mt__node_int(n, "dim", &d);
        int w = mt__wrap_dim(d, x->ndim + 1);
        for (int o = 0; o < y->ndim; o++)
            if (o != w) spec[o] = ds(MT_DS_DIM, o < w ? o : o - 1);
        break;
    }
    case MT_DIMS_SQUEEZE: {
        int j = 0;
        for (int i = 0; i < x->ndim; i++) {
            bool kept = j < y->ndim && (x->ndim - i) > (y->ndim - j)
                            ? x->shape[i] == y->shape[j] &&
                                  !(mt_sym_is_const(x->shape[i]) && mt_sym_const_value(x->shape[i]) == 1)
                            : true;
            if (j < y->ndim && kept) spec[j++] = ds(MT_DS_DIM, i);
        }
        break;
    }
    case MT_DIMS_EXPAND: {
        int off = y->ndim - x->ndim;
        for (int i = 0; i < x->ndim; i++)
            spec[i + off] = ds(x->shape[i] == y->shape[i + off] ? MT_DS_DIM : MT_DS_BCAST, i);
        break;
    }
    case MT_DIMS_INDEX: {
        int map[MT_MAX_DIMS];
        if (!getitem_map(n, x, y, map)) return NULL;
        for (int i = 0; i < x->ndim; i++)
            if (map[i] >= 0) spec[map[i]] = ds(MT_DS_DIM, i);
        break;
    }
    case MT_DIMS_REDUCE: {
        dims_named(mt__node_arg(n, "dim"), x->ndim, named);
        const mt_arg *kd = mt__node_arg(n, "keepdim");
        spec_reading(x->ndim, named, kd && kd->kind == MT_ARG_BOOL && kd->v.b, spec);
        break;
    }
    case MT_DIMS_ALONG:
    case MT_DIMS_SPLIT:
    case MT_DIMS_CAT: {
        d = info->dims == MT_DIMS_ALONG ? -1 : 0;
        mt__node_int(n, "dim", &d);
        int w = mt__wrap_dim(d, x->ndim);
        if (w >= 0) named[w] = true;
        spec_reading(x->ndim, named, true, spec);
        break;
    }
    case MT_DIMS_STACK: {
        mt__node_int(n, "dim", &d);
        int w = mt__wrap_dim(d, y->ndim);
        for (int o = 0; o < y->ndim; o++)
            if (o != w) spec[o] = ds(MT_DS_DIM, o < w ? o : o - 1);
        break;
    }
    case MT_DIMS_COMPLEX:
        for (int o = 0; o < y->ndim && o < x->ndim; o++) spec[o] = ds(MT_DS_DIM, o);
        break;
    case MT_DIMS_NORM:
    case MT_DIMS_TRIANGLE: {
        const mt_arg *ns = info->dims == MT_DIMS_NORM ? mt__node_arg(n, "normalized_shape") : NULL;
        int k = info->dims == MT_DIMS_TRIANGLE ? 2 : ns && ns->kind == MT_ARG_LIST ? ns->v.list.n : 1;
        for (int i = x->ndim - k; i < x->ndim; i++)
            if (i >= 0) named[i] = true;
        spec_reading(x->ndim, named, true, spec);
        break;
    }
    default: return NULL;
    }
    return x;
}

void mt__dimspec_forward(mt_ctx *ctx, const mt_tensor *x, const mt_tensor *y, const mt_dimspec *spec, int *map) {
    const mt_sym *one = mt_sym_const(ctx, 1);
    for (int i = 0; i < MT_MAX_DIMS; i++) map[i] = -1;
    for (int o = 0; o < y->ndim; o++) {
        const mt_dimspec *s = &spec[o];
        if (s->kind == MT_DS_DIM) {
            map[s->in] = o;
        } else if (s->kind == MT_DS_RUN && s->piece == 0) {
            int a = s->in, b = o;
            while (a < s->in + s->nin - 1 && x->shape[a] == one) a++;
            while (b < o + s->nout - 1 && y->shape[b] == one) b++;
            map[a] = b;
        }
    }
}
