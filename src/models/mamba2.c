/* The Mamba-2 mixer of transformers' hybrids (BambaMixer; GraniteMoeHybrid's
 * Mamba layer subclasses it), built as BambaMixer.__init__ registers it and
 * traced on its torch_forward path (no cache, no CUDA kernels). Read at the
 * source: transformers main, src/transformers/models/bamba/modeling_bamba.py
 * (commit 00511f5df3). The recorded sequence is listed in mamba2.h. */
#include <math.h>
#include <string.h>

#include "mamba2.h"

static const mt_sym *K(mt_tracer *tr, int64_t v) { return mt_sym_const(tr->ctx, v); }

/* ---- build ---- */

/* What the forward reads (blocks.h, "handles bound at build"). */
typedef struct mamba2_h {
    mt_module *act, *conv1d, *in_proj, *norm, *out_proj;
    mt_param *dt_bias, *A_log, *D, *norm_weight;
} mamba2_h;
static const mt_handle_kind mamba2_h_kind = {"mamba2_h"};

mt_module *mt_mamba2_build(mt_model *m, mt_module *parent, const char *name, const mt_mamba2 *e) {
    mt_ctx *ctx = m->ctx;
    mt_dtype dt = e->dtype;
    mt_device dev = MT_DEVICE_CPU;
    mt_module *mx = mt_module_new(ctx, parent, name, e->cls);
    mamba2_h *mh = MT_BIND(ctx, mx, mamba2_h);
    if (!mh) return NULL;
    /* __init__ order: act (ACT2FN module), conv1d, in_proj, dt_bias, A_log, norm, D, out_proj */
    int64_t h = e->heads;
    if (!(mh->act = mt_act_new(m, mx, "act", e->hidden_act, "hidden_act")) ||
        !(mh->conv1d = mt_nn_conv1d_nn(ctx, mx, "conv1d", e->conv_dim, e->conv_dim, e->conv_kernel,
                                       e->conv_kernel - 1, e->conv_dim, e->conv_bias, dt, dev)) ||
        !(mh->in_proj = mt_nn_linear(ctx, mx, "in_proj", e->hidden, e->intermediate + e->conv_dim + e->heads,
                                     e->proj_bias, dt, dev)) ||
        !(mh->dt_bias = mt_param_new(ctx, mx, "dt_bias", dt, dev, 1, &h)) ||
        !(mh->A_log = mt_param_new(ctx, mx, "A_log", dt, dev, 1, &h)))
        return NULL;
    mt_module *norm = mh->norm = mt_module_new(ctx, mx, "norm", e->norm_cls);
    if (!norm || !(mh->norm_weight = mt_param_new(ctx, norm, "weight", dt, dev, 1, &e->intermediate))) return NULL;
    mt_module_attr(ctx, norm, "eps", mt_a_float(e->norm_eps));
    if (!(mh->D = mt_param_new(ctx, mx, "D", dt, dev, 1, &h)) ||
        !(mh->out_proj = mt_nn_linear(ctx, mx, "out_proj", e->intermediate, e->hidden, e->proj_bias, dt, dev)))
        return NULL;
    mt_module_attr(ctx, mx, "num_heads", mt_a_int(e->heads));
    mt_module_attr(ctx, mx, "head_dim", mt_a_int(e->head_dim));
    mt_module_attr(ctx, mx, "n_groups", mt_a_int(e->groups));
    mt_module_attr(ctx, mx, "ssm_state_size", mt_a_int(e->state));
    mt_module_attr(ctx, mx, "chunk_size", mt_a_int(e->chunk));
    return mx;
}

/* ---- forward ---- */

static mt_arg SL(void) { return mt_a_slice(NULL, NULL, NULL); }

/* (h * attention_mask[:, :, None]).to(h.dtype) (apply_mask_to_padding_states). */
static mt_tensor *mask_states(mt_tracer *tr, mt_tensor *h, mt_tensor *amask) {
    if (!h) return NULL;
    mt_arg idx[3] = {SL(), SL(), mt_a_none()};
    mt_tensor *am = mt_index(tr, amask, idx, 3);
    return mt_to(tr, mt_mul(tr, h, am), h->dtype);
}

static mt_tensor *op1(mt_tracer *tr, mt_op_id id, mt_tensor *x, const mt_arg *more, int nmore, const mt_kwarg *kw,
                      int nkw) {
    if (!x) return NULL;
    mt_arg a[8];
    a[0] = mt_a_tensor(x);
    for (int i = 0; i < nmore && i < 7; i++) a[1 + i] = more[i];
    return mt_tr_op1(tr, id, a, 1 + nmore, kw, nkw);
}

/* x[..., None] and friends: idx items over x. */
static mt_tensor *ix(mt_tracer *tr, mt_tensor *x, int n, const mt_arg *idx) { return mt_index(tr, x, idx, n); }

/* x.sum(dim=d) */
static mt_tensor *sum_dim(mt_tracer *tr, mt_tensor *x, int64_t d) {
    mt_kwarg k = {"dim", mt_a_int(d)};
    return op1(tr, MT_OP_SUM, x, NULL, 0, &k, 1);
}

/* F.pad(x, pad) with pad a list of dims; mode="constant", value=0 when `kw`. */
static mt_tensor *pad(mt_tracer *tr, mt_tensor *x, int n, const mt_sym *const *p, bool kw) {
    mt_arg a = mt_a_dims(tr->ctx, p, n);
    mt_kwarg k[2] = {{"mode", mt_a_str("constant")}, {"value", mt_a_int(0)}};
    return op1(tr, MT_OP_PAD, x, &a, 1, k, kw ? 2 : 0);
}

/* segment_sum(x): x[..., None].expand(*x.size(), L); masked by tril(ones(L, L, bool), -1);
 * cumsum(dim=-2); masked_fill(~tril(ones, 0), -inf). */
static mt_tensor *segment_sum(mt_tracer *tr, mt_tensor *x) {
    if (!x) return NULL;
    const mt_sym *L = x->shape[x->ndim - 1];
    mt_arg i1[2] = {mt_a_ellipsis(), mt_a_none()};
    mt_tensor *e = ix(tr, x, 2, i1);
    const mt_sym *ex[MT_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++) ex[i] = x->shape[i];
    ex[x->ndim] = L;
    e = mt_expand(tr, e, x->ndim + 1, ex);
    mt_tensor *seg = NULL;
    for (int pass = 0; pass < 2; pass++) {
        mt_arg oa[2] = {mt_a_dim(L), mt_a_dim(L)};
        mt_kwarg ok = {"dtype", mt_a_dtype(MT_BOOL)};
        mt_tensor *ones = mt_tr_op1(tr, MT_OP_ONES, oa, 2, &ok, 1);
        mt_kwarg tk = {"diagonal", mt_a_int(pass == 0 ? -1 : 0)};
        mt_tensor *mask = op1(tr, MT_OP_TRIL, ones, NULL, 0, &tk, 1);
        mt_tensor *inv = op1(tr, MT_OP_INVERT, mask, NULL, 0, NULL, 0);
        if (!inv) return NULL;
        if (pass == 0) {
            mt_arg fa[2] = {mt_a_tensor(inv), mt_a_int(0)};
            e = op1(tr, MT_OP_MASKED_FILL, e, fa, 2, NULL, 0);
            mt_kwarg ck = {"dim", mt_a_int(-2)};
            seg = op1(tr, MT_OP_CUMSUM, e, NULL, 0, &ck, 1);
        } else {
            mt_arg fa[2] = {mt_a_tensor(inv), mt_a_float(-INFINITY)};
            seg = op1(tr, MT_OP_MASKED_FILL, seg, fa, 2, NULL, 0);
        }
    }
    return seg;
}

/* reshape_into_chunks: pad seq (dim 1) by pad_size, then reshape(b, -1, chunk, *rest). */
static mt_tensor *into_chunks(mt_tracer *tr, mt_tensor *x, const mt_sym *pad_size, int64_t chunk) {
    if (!x) return NULL;
    const mt_sym *z = K(tr, 0);
    mt_tensor *p;
    if (x->ndim == 4) {
        const mt_sym *ps[8] = {z, z, z, z, z, pad_size, z, z};
        p = pad(tr, x, 8, ps, true);
    } else {
        const mt_sym *ps[6] = {z, z, z, pad_size, z, z};
        p = pad(tr, x, 6, ps, true);
    }
    if (!p) return NULL;
    const mt_sym *rs[5] = {p->shape[0], NULL, K(tr, chunk), p->shape[2], p->ndim == 4 ? p->shape[3] : NULL};
    return mt_reshape(tr, p, p->ndim == 4 ? 5 : 4, rs);
}

/* BambaRMSNormGated.forward(h, gate). */
static mt_tensor *gated_norm(mt_tracer *tr, const mamba2_h *mh, mt_tensor *h, mt_tensor *gate) {
    mt_module *n = mh->norm;
    if (!h) return NULL;
    mt_dtype in_dt = h->dtype;
    const mt_arg *eps = mt_module_get_attr(n, "eps");
    mt_tr_enter(tr, n);
    h = mt_to(tr, h, MT_FLOAT32);
    mt_tensor *g = mt_to(tr, gate, MT_FLOAT32);
    g = op1(tr, MT_OP_SILU, g, NULL, 0, NULL, 0);
    h = mt_mul(tr, h, g);
    mt_tensor *var = mt_reduce(tr, MT_OP_MEAN, mt_pow_s(tr, h, 2), -1, true);
    mt_tensor *r = mt_unary(tr, MT_OP_RSQRT, mt_add_s(tr, var, eps->v.f));
    h = mt_mul(tr, h, r);
    mt_tensor *w = mt_tr_get_attr(tr, mh->norm_weight);
    mt_tensor *y = mt_mul(tr, w, mt_to(tr, h, in_dt));
    mt_tr_leave(tr);
    return y;
}

/* BambaMixer.forward -> torch_forward (no cache), x [b, seq, hidden]. */
mt_tensor *mt_mamba2_forward(mt_tracer *tr, mt_module *mx, mt_tensor *x, mt_tensor *amask, const mt_mamba2 *e) {
    if (!x || !amask || !mx) return NULL;
    const mamba2_h *mh = MT_BOUND(tr, mx, mamba2_h);
    if (!mh) return NULL;
    mt_ctx *ctx = tr->ctx;
    const mt_sym *b = x->shape[0], *seq = x->shape[1];
    mt_dtype dtype = x->dtype;
    const int64_t I = e->intermediate, H = e->heads, P = e->head_dim, N = e->state, G = e->groups, CH = e->chunk;
    mt_tr_enter(tr, mx);
    /* forward(): the padding mask, then torch_forward's apply_mask_to_padding_states */
    x = mask_states(tr, x, amask);
    x = mask_states(tr, x, amask);
    mt_tensor *proj = mt_tr_call(tr, mh->in_proj, x);
    int64_t sz[3] = {I, e->conv_dim, H};
    mt_node *sp = mt_split(tr, proj, 3, sz, -1);
    mt_tensor *gate = mt_tr_item(tr, sp, 0), *xbc = mt_tr_item(tr, sp, 1), *dt = mt_tr_item(tr, sp, 2);
    /* act(conv1d(xBC.transpose(1, 2))[..., :seq_len].transpose(1, 2)) */
    mt_tensor *t = mt_transpose(tr, xbc, 1, 2);
    t = mt_tr_call(tr, mh->conv1d, t);
    mt_arg cut[2] = {mt_a_ellipsis(), mt_a_slice(NULL, seq, NULL)};
    t = ix(tr, t, 2, cut);
    t = mt_transpose(tr, t, 1, 2);
    xbc = mt_act_forward(tr, mh->act, t);
    xbc = mask_states(tr, xbc, amask);
    int64_t sz2[3] = {I, G * N, G * N};
    mt_node *sp2 = mt_split(tr, xbc, 3, sz2, -1);
    mt_tensor *hs = mt_tr_item(tr, sp2, 0), *B = mt_tr_item(tr, sp2, 1), *C = mt_tr_item(tr, sp2, 2);
    /* A = -exp(A_log.float()) */
    mt_tensor *A = mt_tr_get_attr(tr, mh->A_log);
    A = mt_to(tr, A, MT_FLOAT32);
    A = mt_unary(tr, MT_OP_EXP, A);
    A = mt_unary(tr, MT_OP_NEG, A);
    /* dt = clamp(softplus(dt + dt_bias), *time_step_limit) */
    mt_tensor *dtb = mt_tr_get_attr(tr, mh->dt_bias);
    dt = mt_add(tr, dt, dtb);
    dt = op1(tr, MT_OP_SOFTPLUS, dt, NULL, 0, NULL, 0);
    mt_arg lim[2] = {mt_a_float(e->dt_min), mt_a_float(e->dt_max)};
    dt = op1(tr, MT_OP_CLAMP_FN, dt, lim, 2, NULL, 0);
    const mt_sym *r4p[4] = {b, seq, NULL, K(tr, P)}, *r4n[4] = {b, seq, NULL, K(tr, N)};
    hs = mt_to(tr, mt_reshape(tr, hs, 4, r4p), MT_FLOAT32);
    B = mt_to(tr, mt_reshape(tr, B, 4, r4n), MT_FLOAT32);
    C = mt_to(tr, mt_reshape(tr, C, 4, r4n), MT_FLOAT32);
    mt_arg rep = mt_a_int(H / G);
    mt_kwarg rk[2] = {{"dim", mt_a_int(2)}, {"output_size", mt_a_int(H)}};
    B = op1(tr, MT_OP_REPEAT_INTERLEAVE_METHOD, B, &rep, 1, rk, 2);
    C = op1(tr, MT_OP_REPEAT_INTERLEAVE_METHOD, C, &rep, 1, rk, 2);
    /* pad_size = (chunk - seq % chunk) % chunk = chunk*((seq + chunk - 1)//chunk) - seq */
    const mt_sym *padded = mt_sym_mul_const(ctx, mt_sym_floordiv(ctx, mt_sym_add_const(ctx, seq, CH - 1), CH), CH);
    const mt_sym *pad_size = mt_sym_sub(ctx, padded, seq);
    if (!pad_size) {
        mt_tr_leave(tr);
        return NULL;
    }
    /* D_residual = D[..., None] * pad_tensor_by_size(hidden_states, pad_size) */
    mt_tensor *D = mt_tr_get_attr(tr, mh->D);
    mt_arg en[2] = {mt_a_ellipsis(), mt_a_none()};
    D = ix(tr, D, 2, en);
    const mt_sym *z = K(tr, 0);
    const mt_sym *ps[8] = {z, z, z, z, z, pad_size, z, z};
    mt_tensor *hp = pad(tr, hs, 8, ps, true);
    mt_tensor *d_res = mt_mul(tr, D, hp);
    /* discretize x and A */
    mt_tensor *dtn = ix(tr, dt, 2, en);
    hs = mt_mul(tr, hs, dtn);
    A = mt_to(tr, A, hs ? hs->dtype : MT_FLOAT32);
    A = mt_mul(tr, A, dt);
    hs = into_chunks(tr, hs, pad_size, CH);
    A = into_chunks(tr, A, pad_size, CH);
    B = into_chunks(tr, B, pad_size, CH);
    C = into_chunks(tr, C, pad_size, CH);
    int64_t perm_a[4] = {0, 3, 1, 2};
    A = mt_permute(tr, A, 4, perm_a);
    mt_kwarg cd = {"dim", mt_a_int(-1)};
    mt_tensor *A_cs = op1(tr, MT_OP_CUMSUM, A, NULL, 0, &cd, 1);
    /* 1. diagonal blocks */
    mt_tensor *Lm = mt_unary(tr, MT_OP_EXP, segment_sum(tr, A));
    mt_arg ic[6] = {SL(), SL(), SL(), mt_a_none(), SL(), SL()};
    mt_arg ib[6] = {SL(), SL(), mt_a_none(), SL(), SL(), SL()};
    mt_tensor *Cx = ix(tr, C, 6, ic);
    mt_tensor *Bx = ix(tr, B, 6, ib);
    mt_tensor *G_ = sum_dim(tr, mt_mul(tr, Cx, Bx), -1);
    mt_tensor *Gn = ix(tr, G_, 2, en);
    int64_t perm_l[5] = {0, 2, 3, 4, 1};
    mt_tensor *Lp = ix(tr, mt_permute(tr, Lm, 5, perm_l), 2, en);
    mt_tensor *M = sum_dim(tr, mt_mul(tr, Gn, Lp), -1);
    mt_tensor *Mn = ix(tr, M, 2, en);
    mt_arg ih[3] = {SL(), SL(), mt_a_none()};
    mt_tensor *hsn = ix(tr, hs, 3, ih);
    mt_tensor *Y_diag = sum_dim(tr, mt_mul(tr, Mn, hsn), 3);
    /* 2. chunk states */
    const mt_sym *m1 = K(tr, -1);
    mt_arg il[4] = {SL(), SL(), SL(), mt_a_slice(m1, NULL, NULL)};
    mt_tensor *last = ix(tr, A_cs, 4, il);
    mt_tensor *decay = mt_unary(tr, MT_OP_EXP, mt_sub(tr, last, A_cs));
    int64_t perm_d[4] = {0, -2, -1, 1};
    mt_tensor *dp = ix(tr, mt_permute(tr, decay, 4, perm_d), 2, en);
    mt_tensor *B_decay = mt_mul(tr, B, dp);
    mt_arg ibd[3] = {mt_a_ellipsis(), mt_a_none(), SL()};
    mt_tensor *bdx = ix(tr, B_decay, 3, ibd);
    mt_tensor *hsx = ix(tr, hs, 2, en);
    mt_tensor *states = sum_dim(tr, mt_mul(tr, bdx, hsx), 2);
    /* 3. inter-chunk recurrence */
    mt_arg i01[2] = {SL(), mt_a_slice(NULL, K(tr, 1), NULL)};
    mt_tensor *prev = op1(tr, MT_OP_ZEROS_LIKE, ix(tr, states, 2, i01), NULL, 0, NULL, 0);
    mt_tensor *cat2[2] = {prev, states};
    states = mt_cat(tr, cat2, 2, 1);
    mt_arg ilast[4] = {SL(), SL(), SL(), mt_a_int(-1)};
    mt_tensor *lastc = ix(tr, A_cs, 4, ilast);
    const mt_sym *p10[2] = {K(tr, 1), z};
    mt_tensor *dch = mt_unary(tr, MT_OP_EXP, segment_sum(tr, pad(tr, lastc, 2, p10, false)));
    dch = mt_transpose(tr, dch, 1, 3);
    mt_arg inn[3] = {mt_a_ellipsis(), mt_a_none(), mt_a_none()};
    mt_tensor *dchx = ix(tr, dch, 3, inn);
    mt_arg isn[4] = {SL(), SL(), mt_a_none(), mt_a_ellipsis()};
    mt_tensor *stx = ix(tr, states, 4, isn);
    mt_tensor *new_states = sum_dim(tr, mt_mul(tr, dchx, stx), 1);
    mt_arg ih1[2] = {SL(), mt_a_slice(NULL, m1, NULL)};
    states = ix(tr, new_states, 2, ih1);
    mt_arg ilst[2] = {SL(), mt_a_int(-1)};
    (void)ix(tr, new_states, 2, ilst); /* ssm_state: the cache's state, unused without a cache */
    /* 4. state -> output */
    mt_tensor *sdo = mt_unary(tr, MT_OP_EXP, A_cs);
    mt_arg icx[3] = {mt_a_ellipsis(), mt_a_none(), SL()};
    mt_tensor *Cs = ix(tr, C, 3, icx);
    mt_tensor *sts = ix(tr, states, 4, isn);
    mt_tensor *cts = mt_mul(tr, Cs, sts);
    int64_t perm_o[4] = {0, 2, 3, 1};
    mt_tensor *sdop = mt_permute(tr, sdo, 4, perm_o);
    mt_tensor *csum = cts ? op1(tr, MT_OP_SUM, cts, (mt_arg[]){mt_a_int(-1)}, 1, NULL, 0) : NULL;
    mt_tensor *Y_off = mt_mul(tr, csum, ix(tr, sdop, 2, en));
    mt_tensor *y = mt_add(tr, Y_diag, Y_off);
    const mt_sym *ry[4] = {b, NULL, K(tr, H), K(tr, P)};
    y = mt_reshape(tr, y, 4, ry);
    y = mt_add(tr, y, d_res);
    mt_arg icut[4] = {SL(), mt_a_slice(NULL, seq, NULL), SL(), SL()};
    y = ix(tr, y, 4, icut);
    const mt_sym *r3[3] = {b, seq, NULL};
    y = mt_reshape(tr, y, 3, r3);
    mt_tensor *scan = gated_norm(tr, mh, y, gate);
    mt_module *out_proj = mh->out_proj;
    mt_tensor *out = mt_tr_call(tr, out_proj, mt_to(tr, scan, dtype));
    mt_tr_leave(tr);
    return out;
}
