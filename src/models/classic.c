/* Shared blocks for the classic and encoder families (see classic.h). */
#include <math.h>
#include <string.h>

#include "classic.h"

static mt_dtype dt_of(mt_model *m) { return m->dtype; }

mt_module *cl_linear(mt_model *m, mt_module *parent, const char *name, int64_t in, int64_t out, bool bias) {
    return mt_nn_linear(m->ctx, parent, name, in, out, bias, dt_of(m), MT_DEVICE_CPU);
}

mt_module *cl_conv1d(mt_model *m, mt_module *parent, const char *name, int64_t in, int64_t out) {
    return mt_nn_conv1d(m->ctx, parent, name, out, in, dt_of(m), MT_DEVICE_CPU);
}

mt_module *cl_embedding(mt_model *m, mt_module *parent, const char *name, int64_t num, int64_t dim) {
    return mt_nn_embedding(m->ctx, parent, name, num, dim, dt_of(m), MT_DEVICE_CPU);
}

mt_module *cl_layernorm(mt_model *m, mt_module *parent, const char *name, int64_t dim, double eps, bool bias) {
    return mt_nn_layernorm(m->ctx, parent, name, dim, eps, true, bias, dt_of(m), MT_DEVICE_CPU);
}

mt_module *cl_dropout(mt_model *m, mt_module *parent, const char *name, double p) {
    return mt_nn_dropout(m->ctx, parent, name, p);
}

mt_module *cl_list(mt_model *m, mt_module *parent, const char *name) {
    return mt_module_new(m->ctx, parent, name, "ModuleList");
}

mt_module *cl_layer(mt_model *m, mt_module *list, int64_t i, const char *cls) {
    char idx[24];
    snprintf(idx, sizeof idx, "%lld", (long long)i);
    return mt_module_new(m->ctx, list, idx, cls);
}

mt_module *cl_lm_head(mt_model *m, mt_module *parent, const char *name, mt_module *emb, bool tie,
                      int64_t hidden, int64_t vocab, bool bias) {
    if (tie && !bias) return mt_nn_linear_tied(m->ctx, parent, name, mt_module_param(emb, "weight"));
    return cl_linear(m, parent, name, hidden, vocab, bias);
}

mt_module *cl_rotary_module(mt_model *m, mt_module *parent, const char *name, const char *cls, int64_t dim,
                            double theta) {
    mt_module *r = mt_rope_module(m, parent, name, cls, dim);
    if (!r) return NULL;
    mt_module_attr(m->ctx, r, "dim", mt_a_int(dim));
    mt_module_attr(m->ctx, r, "base", mt_a_float(theta));
    return r;
}

mt_status cl_read_dtype_layers(mt_model *m, mt_dtype *dt, const char *layers_key, int64_t def, int64_t *layers) {
    if (mt_model_read_dtype(m, dt) != MT_OK) return mt_ctx_status(m->ctx);
    m->dtype = *dt;
    if (!mt_config_pos_int(m->cfg, layers_key, def, layers)) return mt_ctx_status(m->ctx);
    if (m->num_layers > 0) *layers = m->num_layers;
    m->num_layers = *layers;
    return MT_OK;
}

mt_status cl_check_heads(mt_model *m, const char *field, int64_t hidden, int64_t heads) {
    if (heads <= 0 || hidden % heads != 0)
        return mt_config_error(m->cfg, field, "hidden size %lld is not divisible by the number of heads %lld (%s)",
                            (long long)hidden, (long long)heads, m->model_type);
    return MT_OK;
}

/* ---- forward ---- */
static const mt_sym *C(mt_tracer *tr, int64_t v) { return mt_sym_const(tr->ctx, v); }

mt_tensor *cl_scalar_op(mt_tracer *tr, mt_op_id id, mt_tensor *a, mt_arg b) {
    if (!a) return NULL;
    mt_arg args[2] = {mt_a_tensor(a), b};
    return mt_tr_op1(tr, id, args, 2, NULL, 0);
}

mt_tensor *cl_arange(mt_tracer *tr, const mt_sym *n) {
    mt_arg aa[1] = {mt_a_dim(n)};
    return mt_tr_op1(tr, MT_OP_ARANGE, aa, 1, NULL, 0);
}

mt_tensor *cl_causal_mask(mt_tracer *tr, mt_tensor *amask, mt_dtype dt) {
    if (!amask) return NULL;
    return mt_dec_causal_mask(tr, amask, cl_arange(tr, amask->shape[1]), dt);
}

mt_tensor *cl_padding_mask(mt_tracer *tr, mt_tensor *amask, mt_dtype dt) {
    if (!amask) return NULL;
    mt_arg im[4] = {mt_a_slice(NULL, NULL, NULL), mt_a_none(), mt_a_none(), mt_a_slice(NULL, NULL, NULL)};
    mt_tensor *e = mt_to(tr, mt_index(tr, amask, im, 4), dt);
    if (!e) return NULL;
    /* 1.0 - e (operator.sub with the scalar first) */
    mt_arg sa[2] = {mt_a_float(1.0), mt_a_tensor(e)};
    mt_tensor *inv = mt_tr_op1(tr, MT_OP_SUB, sa, 2, NULL, 0);
    return mt_mul_s(tr, inv, mt_dtype_min(dt));
}

mt_tensor *cl_split_heads(mt_tracer *tr, mt_tensor *x, int64_t heads, int64_t hd) {
    if (!x) return NULL;
    const mt_sym *s[4] = {x->shape[0], x->shape[1], C(tr, heads), C(tr, hd)};
    return mt_transpose(tr, mt_view(tr, x, 4, s), 1, 2);
}

mt_tensor *cl_merge_heads(mt_tracer *tr, mt_tensor *x) {
    if (!x) return NULL;
    mt_tensor *t = mt_contiguous(tr, mt_transpose(tr, x, 1, 2));
    if (!t) return NULL;
    const mt_sym *s[3] = {t->shape[0], t->shape[1], NULL};
    return mt_reshape(tr, t, 3, s);
}

mt_tensor *cl_sdpa(mt_tracer *tr, mt_tensor *q, mt_tensor *k, mt_tensor *v, mt_tensor *mask, double scale) {
    if (!q || !k || !v) return NULL;
    mt_arg a[3] = {mt_a_tensor(q), mt_a_tensor(k), mt_a_tensor(v)};
    mt_kwarg kw[4] = {{"attn_mask", mask ? mt_a_tensor(mask) : mt_a_none()}, {"dropout_p", mt_a_float(0.0)},
                      {"is_causal", mt_a_bool(false)}, {"scale", mt_a_float(scale)}};
    return mt_tr_op1(tr, MT_OP_SDPA, a, 3, kw, scale > 0 ? 4 : 3);
}

mt_tensor *cl_eager_attn(mt_tracer *tr, mt_tensor *q, mt_tensor *k, mt_tensor *v, mt_tensor *bias,
                         mt_tensor *mask, double scale, bool softmax_fp32) {
    if (!q || !k || !v) return NULL;
    mt_tensor *s = mt_matmul(tr, q, mt_transpose(tr, k, -1, -2));
    if (scale > 0) s = mt_mul_s(tr, s, scale);
    if (bias) s = mt_add(tr, s, bias);
    if (mask) s = mt_add(tr, s, mask);
    mt_tensor *w = mt_softmax(tr, s, -1, softmax_fp32 ? MT_FLOAT32 : MT_DTYPE_NONE);
    if (softmax_fp32) w = mt_to(tr, w, v->dtype);
    return mt_matmul(tr, w, v);
}

mt_tensor *cl_apply_rotary(mt_tracer *tr, mt_tensor *x, mt_tensor *cos, mt_tensor *sin, int64_t rdim,
                           bool interleaved) {
    if (!x || !cos || !sin) return NULL;
    mt_tensor *c = mt_unsqueeze(tr, cos, 1), *s = mt_unsqueeze(tr, sin, 1);
    return mt_rope_apply(tr, x, c, s, interleaved ? MT_ROPE_EVERY_TWO : MT_ROPE_HALF, rdim);
}

mt_tensor *cl_alibi(mt_tracer *tr, mt_tensor *amask, int64_t heads, mt_dtype dt, bool slopes_bf16) {
    if (!amask) return NULL;
    mt_ctx *ctx = tr->ctx;
    const mt_sym *b = amask->shape[0], *seq = amask->shape[1];
    /* slopes [heads]: a constant tensor built from the head count (arange/pow in
     * transformers; shapes only here) */
    int64_t hh = heads;
    mt_arg sa[2] = {mt_a_ints(ctx, &hh, 1), mt_a_float(1.0)};
    mt_kwarg sk[1] = {{"dtype", mt_a_dtype(MT_FLOAT32)}};
    mt_tensor *slopes = mt_tr_op1(tr, MT_OP_FULL, sa, 2, sk, 1);
    /* positions: ((attention_mask.cumsum(dim=-1) - 1) * attention_mask)[:, None, :] */
    mt_kwarg ck[1] = {{"dim", mt_a_int(-1)}};
    mt_tensor *cs = mt_tr_op1(tr, MT_OP_CUMSUM_METHOD, (mt_arg[]){mt_a_tensor(amask)}, 1, ck, 1);
    mt_tensor *pos = mt_mul(tr, cl_scalar_op(tr, MT_OP_SUB, cs, mt_a_int(1)), amask);
    mt_arg ip[3] = {mt_a_slice(NULL, NULL, NULL), mt_a_none(), mt_a_slice(NULL, NULL, NULL)};
    pos = mt_index(tr, pos, ip, 3);
    mt_arg is[2] = {mt_a_ellipsis(), mt_a_none()};
    mt_tensor *sl = mt_index(tr, slopes, is, 2);
    if (slopes_bf16) sl = mt_to(tr, sl, MT_BFLOAT16); /* Falcon: slopes[..., None].bfloat16() */
    mt_tensor *al = mt_mul(tr, sl, pos);
    const mt_sym *rs[3] = {mt_sym_mul_const(ctx, b, heads), C(tr, 1), seq};
    return mt_to(tr, mt_reshape(tr, al, 3, rs), dt);
}

mt_status cl_output(mt_tracer *tr, mt_tensor *t) {
    if (!t) return mt_ctx_status(tr->ctx) != MT_OK ? mt_ctx_status(tr->ctx)
                                                    : mt_fail(tr->ctx, MT_ERR_INTERNAL, "forward produced no output");
    return mt_tr_output(tr, &t, 1);
}

mt_module *cl_embedding_tied(mt_model *m, mt_module *parent, const char *name, mt_param *weight) {
    if (!weight || weight->t->ndim != 2) return NULL;
    mt_module *e = mt_module_new(m->ctx, parent, name, "Embedding");
    if (!e) return NULL;
    e->leaf = MT_LEAF_EMBEDDING;
    mt_module_attr(m->ctx, e, "num_embeddings", mt_a_dim(weight->t->shape[0]));
    mt_module_attr(m->ctx, e, "embedding_dim", mt_a_dim(weight->t->shape[1]));
    return mt_param_tie(m->ctx, e, "weight", weight) ? e : NULL;
}

mt_tensor *cl_fdropout(mt_tracer *tr, mt_tensor *x, double p) {
    if (!x) return NULL;
    mt_arg a[1] = {mt_a_tensor(x)};
    mt_kwarg kw[2] = {{"p", mt_a_float(p)}, {"training", mt_a_bool(false)}};
    return mt_tr_op1(tr, MT_OP_DROPOUT, a, 1, kw, 2);
}
