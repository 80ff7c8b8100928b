/* T5 and mT5 (T5ForConditionalGeneration / MT5ForConditionalGeneration,
 * modeling_t5.py, modeling_mt5.py): a `shared` embedding used by both stacks
 * (encoder.embed_tokens and decoder.embed_tokens are aliases of it), blocks of
 * T5LayerSelfAttention [+ T5LayerCrossAttention in the decoder] + T5LayerFF,
 * each pre-normed by T5LayerNorm (RMS, weight only, variance in float32), and
 * attention without scaling whose additive bias is the relative position bias
 * (an Embedding(num_buckets, heads) in block 0 of each stack only, the bias
 * then reused by every block) plus the mask. The feed-forward is
 * DenseReluDense (wi, wo) or, for feed_forward_proj "gated-<act>",
 * wi_0/wi_1/wo ("gated-gelu" means gelu_new). With tie_word_embeddings the
 * lm_head is tied to `shared` and the decoder output is scaled by
 * d_model**-0.5 first.
 *
 * The decoder runs over its own input, `decoder_input_ids` [batch, dec_seq]
 * int64, with a causal mask built from a ones mask (transformers makes
 * torch.ones(batch, dec_seq) when decoder_attention_mask is None; traced as
 * torch.full(..., 1.0)). Not traced: the float16-only clamp of T5Block
 * (torch.isinf(...).any() / torch.clamp), which changes no shape.
 *
 * Defaults: T5Config (configuration_t5.py) and MT5Config (configuration_mt5.py;
 * tie_word_embeddings False there through transformers 4.x — real mT5 configs
 * state it). */
#include <math.h>
#include <string.h>

#include "classic.h"

typedef struct t5 {
    mt_dtype dt;
    int64_t vocab, dmodel, dkv, dff, layers, dec_layers, heads, buckets, maxdist, inner;
    double eps;
    bool gated, tie;
    const char *act;
    const char *pfx; /* class-name prefix: "T5" or "MT5" */
} t5;

static const mt_sym *C(mt_tracer *tr, int64_t v) { return mt_sym_const(tr->ctx, v); }

static const char *cls(mt_model *m, const t5 *p, const char *suffix) {
    size_t n = strlen(p->pfx) + strlen(suffix) + 1;
    char *s = mt_alloc(m->ctx, n);
    if (s) snprintf(s, n, "%s%s", p->pfx, suffix);
    return s;
}

/* The handles the forward reads (blocks.h, "handles bound at build"): the model's (encoder, decoder,
 * lm_head), each stack's, each block's sub-layers, each sub-layer's (its norm, its attention or
 * DenseReluDense, its dropout), each attention's (relative_attention_bias NULL but on the first
 * block's self-attention) and each DenseReluDense's. The norms bind the shared mt_norm_h. */
typedef struct t5_h {
    mt_module *encoder, *decoder, *lm_head;
} t5_h;
static const mt_handle_kind t5_h_kind = {"t5 t5_h"};
typedef struct t5_stack_h {
    mt_module *embed, *list, *final_norm, *drop;
} t5_stack_h;
static const mt_handle_kind t5_stack_h_kind = {"t5 t5_stack_h"};
typedef struct t5_block_h {
    mt_module *self, *cross, *ff; /* cross: decoder blocks only */
} t5_block_h;
static const mt_handle_kind t5_block_h_kind = {"t5 t5_block_h"};
typedef struct t5_sub_h {
    mt_module *norm, *inner, *drop;
} t5_sub_h;
static const mt_handle_kind t5_sub_h_kind = {"t5 t5_sub_h"};
typedef struct t5_attn_h {
    mt_module *q, *k, *v, *o, *rel;
} t5_attn_h;
static const mt_handle_kind t5_attn_h_kind = {"t5 t5_attn_h"};
typedef struct t5_ff_h {
    mt_module *wi, *wi_0, *wi_1, *wo, *drop, *act;
} t5_ff_h;
static const mt_handle_kind t5_ff_h_kind = {"t5 t5_ff_h"};

static mt_module *t5_norm(mt_model *m, const t5 *p, mt_module *parent, const char *name) {
    mt_module *n = mt_module_new(m->ctx, parent, name, cls(m, p, "LayerNorm"));
    mt_norm_h *h = MT_BIND(m->ctx, n, mt_norm_h);
    if (!h) return NULL;
    mt_module_attr(m->ctx, n, "eps", mt_a_float(p->eps));
    return (h->weight = mt_param_new(m->ctx, n, "weight", p->dt, MT_DEVICE_CPU, 1, &p->dmodel)) ? n : NULL;
}

static mt_module *t5_attn(mt_model *m, const t5 *p, mt_module *parent, const char *name, bool rel_bias) {
    mt_module *a = mt_module_new(m->ctx, parent, name, cls(m, p, "Attention"));
    t5_attn_h *h = MT_BIND(m->ctx, a, t5_attn_h);
    if (!h || !(h->q = cl_linear(m, a, "q", p->dmodel, p->inner, false)) ||
        !(h->k = cl_linear(m, a, "k", p->dmodel, p->inner, false)) ||
        !(h->v = cl_linear(m, a, "v", p->dmodel, p->inner, false)) ||
        !(h->o = cl_linear(m, a, "o", p->inner, p->dmodel, false)))
        return NULL;
    mt_module_attr(m->ctx, a, "has_relative_attention_bias", mt_a_bool(rel_bias));
    if (rel_bias && !(h->rel = cl_embedding(m, a, "relative_attention_bias", p->buckets, p->heads))) return NULL;
    return a;
}

/* A sub-layer's handle: its norm, attention (or DenseReluDense) and dropout, built before this. */
static bool bind_sub(mt_ctx *ctx, mt_module *L, mt_module *norm, mt_module *inner, mt_module *drop) {
    t5_sub_h *h = norm && inner && drop ? MT_BIND(ctx, L, t5_sub_h) : NULL;
    if (h) *h = (t5_sub_h){norm, inner, drop};
    return h != NULL;
}

static mt_status t5_stack(mt_model *m, const t5 *p, mt_module *shared, const char *name, bool decoder) {
    mt_ctx *ctx = m->ctx;
    mt_module *st = mt_module_new(ctx, m->root, name, cls(m, p, "Stack"));
    t5_stack_h *sh = MT_BIND(ctx, st, t5_stack_h);
    t5_h *mh = mt_module_bound_checked(ctx, m->root, &t5_h_kind);
    if (!sh || !mh || !(sh->embed = cl_embedding_tied(m, st, "embed_tokens", mt_module_param(shared, "weight"))))
        return mt_ctx_status(ctx);
    *(decoder ? &mh->decoder : &mh->encoder) = st;
    mt_module_attr(ctx, st, "is_decoder", mt_a_bool(decoder));
    mt_module *list = sh->list = cl_list(m, st, "block");
    if (!list) return mt_ctx_status(ctx);
    int64_t n = decoder ? p->dec_layers : p->layers;
    for (int64_t i = 0; i < n; i++) {
        mt_module *B = cl_layer(m, list, i, cls(m, p, "Block"));
        t5_block_h *bh = MT_BIND(ctx, B, t5_block_h);
        mt_module *ll = bh ? cl_list(m, B, "layer") : NULL;
        mt_module *sa = ll ? bh->self = cl_layer(m, ll, 0, cls(m, p, "LayerSelfAttention")) : NULL;
        mt_module *sat = sa ? t5_attn(m, p, sa, "SelfAttention", i == 0) : NULL;
        mt_module *sn = sat ? t5_norm(m, p, sa, "layer_norm") : NULL;
        if (!sn || !bind_sub(ctx, sa, sn, sat, cl_dropout(m, sa, "dropout", 0.1))) return mt_ctx_status(ctx);
        int64_t next = 1;
        if (decoder) {
            mt_module *ca = bh->cross = cl_layer(m, ll, next++, cls(m, p, "LayerCrossAttention"));
            mt_module *cat = ca ? t5_attn(m, p, ca, "EncDecAttention", false) : NULL;
            mt_module *cn = cat ? t5_norm(m, p, ca, "layer_norm") : NULL;
            if (!cn || !bind_sub(ctx, ca, cn, cat, cl_dropout(m, ca, "dropout", 0.1))) return mt_ctx_status(ctx);
        }
        mt_module *ff = bh->ff = cl_layer(m, ll, next, cls(m, p, "LayerFF"));
        mt_module *d = ff ? mt_module_new(ctx, ff, "DenseReluDense",
                                          cls(m, p, p->gated ? "DenseGatedActDense" : "DenseActDense"))
                          : NULL;
        t5_ff_h *dh = MT_BIND(ctx, d, t5_ff_h);
        if (!dh) return mt_ctx_status(ctx);
        bool ok = p->gated ? (dh->wi_0 = cl_linear(m, d, "wi_0", p->dmodel, p->dff, false)) &&
                                 (dh->wi_1 = cl_linear(m, d, "wi_1", p->dmodel, p->dff, false))
                           : (dh->wi = cl_linear(m, d, "wi", p->dmodel, p->dff, false)) != NULL;
        mt_module *fn = NULL;
        if (!ok || !(dh->wo = cl_linear(m, d, "wo", p->dff, p->dmodel, false)) ||
            !(dh->drop = cl_dropout(m, d, "dropout", 0.1)) ||
            !(dh->act = mt_act_new(m, d, "act", p->act, "feed_forward_proj")) ||
            !(fn = t5_norm(m, p, ff, "layer_norm")) ||
            !bind_sub(ctx, ff, fn, d, cl_dropout(m, ff, "dropout", 0.1)))
            return mt_ctx_status(ctx);
    }
    if (!(sh->final_norm = t5_norm(m, p, st, "final_layer_norm")) || !(sh->drop = cl_dropout(m, st, "dropout", 0.1)))
        return mt_ctx_status(ctx);
    return MT_OK;
}

static mt_status t5_build_common(mt_model *m, const t5 *defaults) {
    mt_config *c = m->cfg;
    mt_ctx *ctx = m->ctx;
    t5 *p = mt_alloc(ctx, sizeof *p);
    if (!p) return mt_ctx_status(ctx);
    *p = *defaults;
    m->family = p;
    const char *ffp;
    bool override = m->num_layers > 0;
    if (cl_read_dtype_layers(m, &p->dt, "num_layers", defaults->layers, &p->layers) != MT_OK ||
        !mt_config_pos_int(c, "vocab_size", defaults->vocab, &p->vocab) ||
        !mt_config_pos_int(c, "d_model", defaults->dmodel, &p->dmodel) ||
        !mt_config_pos_int(c, "d_kv", defaults->dkv, &p->dkv) || !mt_config_pos_int(c, "d_ff", defaults->dff, &p->dff) ||
        !mt_config_pos_int(c, "num_heads", defaults->heads, &p->heads) ||
        !mt_config_pos_int(c, "relative_attention_num_buckets", 32, &p->buckets) ||
        !mt_config_pos_int(c, "relative_attention_max_distance", 128, &p->maxdist) ||
        !mt_config_float(c, "layer_norm_epsilon", 1e-6, &p->eps) ||
        !mt_config_str(c, "feed_forward_proj", defaults->act, &ffp) ||
        !mt_config_bool(c, "tie_word_embeddings", defaults->tie, &p->tie))
        return mt_ctx_status(ctx);
    /* num_decoder_layers defaults to num_layers; --layers overrides both stacks */
    if (!mt_config_pos_int(c, "num_decoder_layers", p->layers, &p->dec_layers)) return mt_ctx_status(ctx);
    if (override) p->dec_layers = p->layers;
    /* feed_forward_proj: "<act>" or "gated-<act>"; "gated-gelu" means gelu_new */
    const char *dash = strchr(ffp, '-');
    if (dash && (strncmp(ffp, "gated-", 6) != 0 || strchr(dash + 1, '-')))
        return mt_config_error(c, "feed_forward_proj",
                            "'%s' is not a valid feed_forward_proj (%s): expected 'gated-{ACT_FN}' or '{ACT_FN}', "
                            "e.g. 'gated-gelu' or 'relu'",
                            ffp, m->model_type);
    p->gated = dash != NULL;
    p->act = strcmp(ffp, "gated-gelu") == 0 ? "gelu_new" : (dash ? dash + 1 : ffp);
    p->inner = p->heads * p->dkv;
    t5_h *mh = MT_BIND(ctx, m->root, t5_h);
    mt_module *shared = mh ? cl_embedding(m, m->root, "shared", p->vocab, p->dmodel) : NULL;
    if (!shared || t5_stack(m, p, shared, "encoder", false) != MT_OK ||
        t5_stack(m, p, shared, "decoder", true) != MT_OK ||
        !(mh->lm_head = cl_lm_head(m, m->root, "lm_head", shared, p->tie, p->dmodel, p->vocab, false)))
        return mt_ctx_status(ctx);
    mt_model_info(m, "d_model", mt_a_int(p->dmodel));
    mt_model_info(m, "num_layers", mt_a_int(p->layers));
    mt_model_info(m, "num_decoder_layers", mt_a_int(p->dec_layers));
    mt_model_info(m, "num_heads", mt_a_int(p->heads));
    mt_model_info(m, "d_kv", mt_a_int(p->dkv));
    mt_model_info(m, "d_ff", mt_a_int(p->dff));
    mt_model_info(m, "feed_forward_proj", mt_a_str(ffp));
    /* transformers' T5 has eager attention only (no sdpa) */
    if (mt_attn_choose(m, MT_ATTN_BIT(MT_ATTN_IMPL_EAGER), MT_ATTN_BIT(MT_ATTN_IMPL_EAGER), MT_ATTN_IMPL_EAGER) != MT_OK)
        return mt_ctx_status(m->ctx);
    return MT_OK;
}

static mt_status t5_build(mt_model *m) {
    /* T5Config: vocab 32128, d_model 512, d_kv 64, d_ff 2048, 6 layers, 8 heads, "relu", tied */
    static const t5 d = {.vocab = 32128, .dmodel = 512, .dkv = 64, .dff = 2048, .layers = 6, .heads = 8,
                         .act = "relu", .tie = true, .pfx = "T5"};
    return t5_build_common(m, &d);
}

static mt_status mt5_build(mt_model *m) {
    /* MT5Config: vocab 250112, d_model 512, d_kv 64, d_ff 1024, 8 layers, 6 heads, "gated-gelu", untied */
    static const t5 d = {.vocab = 250112, .dmodel = 512, .dkv = 64, .dff = 1024, .layers = 8, .heads = 6,
                         .act = "gated-gelu", .tie = false, .pfx = "MT5"};
    return t5_build_common(m, &d);
}

/* ---- forward ---- */

/* T5LayerNorm: w * (x * rsqrt(x.to(float32).pow(2).mean(-1, keepdim=True) + eps)),
 * cast back to the weight's dtype when that is float16/bfloat16. */
static mt_tensor *t5_norm_fwd(mt_tracer *tr, mt_module *n, mt_tensor *x) {
    if (!n || !x) return NULL;
    const mt_norm_h *nh = MT_BOUND(tr, n, mt_norm_h);
    if (!nh) return NULL;
    const mt_arg *eps = mt_module_get_attr(n, "eps");
    mt_tr_enter(tr, n);
    mt_tensor *var = mt_reduce(tr, MT_OP_MEAN, mt_pow_s(tr, mt_to(tr, x, MT_FLOAT32), 2), -1, true);
    mt_tensor *h = mt_mul(tr, x, mt_unary(tr, MT_OP_RSQRT, mt_add_s(tr, var, eps->v.f)));
    mt_param *w = nh->weight;
    if (w->t->dtype == MT_FLOAT16 || w->t->dtype == MT_BFLOAT16) h = mt_to(tr, h, w->t->dtype);
    h = mt_mul(tr, mt_tr_get_attr(tr, w), h);
    mt_tr_leave(tr);
    return h;
}

/* _relative_position_bucket over relative_position [q, k] int64. */
static mt_tensor *t5_bucket(mt_tracer *tr, mt_tensor *rp, bool bidirectional, int64_t nb, int64_t maxdist) {
    if (!rp) return NULL;
    mt_tensor *buckets = NULL; /* Python int 0 until the first `+=` */
    if (bidirectional) {
        nb /= 2;
        /* 0 + (rp > 0).to(torch.long) * num_buckets */
        mt_tensor *gt = mt_to(tr, cl_scalar_op(tr, MT_OP_GT, rp, mt_a_int(0)), MT_INT64);
        gt = cl_scalar_op(tr, MT_OP_MUL, gt, mt_a_int(nb));
        if (!gt) return NULL;
        mt_arg aa[2] = {mt_a_int(0), mt_a_tensor(gt)};
        buckets = mt_tr_op1(tr, MT_OP_ADD, aa, 2, NULL, 0);
        rp = mt_unary(tr, MT_OP_ABS, rp);
    } else {
        mt_arg za[1] = {mt_a_tensor(rp)};
        mt_tensor *z = mt_tr_op1(tr, MT_OP_ZEROS_LIKE, za, 1, NULL, 0);
        if (!z) return NULL;
        mt_arg ma[2] = {mt_a_tensor(rp), mt_a_tensor(z)};
        rp = mt_unary(tr, MT_OP_NEG, mt_tr_op1(tr, MT_OP_MIN, ma, 2, NULL, 0));
    }
    int64_t max_exact = nb / 2;
    mt_tensor *small = cl_scalar_op(tr, MT_OP_LT, rp, mt_a_int(max_exact));
    mt_tensor *lg = mt_div_s(tr, mt_to(tr, rp, MT_FLOAT32), (double)max_exact);
    lg = mt_unary(tr, MT_OP_LOG, lg);
    lg = mt_div_s(tr, lg, log((double)maxdist / (double)max_exact));
    lg = cl_scalar_op(tr, MT_OP_MUL, lg, mt_a_int(nb - max_exact));
    lg = mt_to(tr, lg, MT_INT64);
    if (!lg) return NULL;
    mt_arg ea[2] = {mt_a_int(max_exact), mt_a_tensor(lg)};
    mt_tensor *large = mt_tr_op1(tr, MT_OP_ADD, ea, 2, NULL, 0);
    if (!large) return NULL;
    mt_arg fa[2] = {mt_a_tensor(large), mt_a_int(nb - 1)};
    mt_tensor *cap = mt_tr_op1(tr, MT_OP_FULL_LIKE, fa, 2, NULL, 0);
    if (!cap) return NULL;
    mt_arg ma[2] = {mt_a_tensor(large), mt_a_tensor(cap)};
    large = mt_tr_op1(tr, MT_OP_MIN, ma, 2, NULL, 0);
    if (!small || !rp || !large) return NULL;
    mt_arg wa[3] = {mt_a_tensor(small), mt_a_tensor(rp), mt_a_tensor(large)};
    mt_tensor *w = mt_tr_op1(tr, MT_OP_WHERE, wa, 3, NULL, 0);
    if (!w) return NULL;
    if (buckets) return mt_add(tr, buckets, w);
    mt_arg aa[2] = {mt_a_int(0), mt_a_tensor(w)};
    return mt_tr_op1(tr, MT_OP_ADD, aa, 2, NULL, 0);
}

/* compute_bias(q_len, k_len): [1, heads, q, k] from the bucketed
 * arange(k)[None, :] - arange(q)[:, None]. */
static mt_tensor *t5_compute_bias(mt_tracer *tr, const t5 *p, mt_module *rel, const mt_sym *q, const mt_sym *k,
                                  bool bidirectional) {
    mt_kwarg lk[1] = {{"dtype", mt_a_dtype(MT_INT64)}};
    mt_arg qa[1] = {mt_a_dim(q)}, ka[1] = {mt_a_dim(k)};
    mt_tensor *ctxp = mt_tr_op1(tr, MT_OP_ARANGE, qa, 1, lk, 1);
    mt_arg i0[2] = {mt_a_slice(NULL, NULL, NULL), mt_a_none()};
    ctxp = mt_index(tr, ctxp, i0, 2);
    mt_tensor *mem = mt_tr_op1(tr, MT_OP_ARANGE, ka, 1, lk, 1);
    mt_arg i1[2] = {mt_a_none(), mt_a_slice(NULL, NULL, NULL)};
    mem = mt_index(tr, mem, i1, 2);
    mt_tensor *rp = mt_sub(tr, mem, ctxp);
    mt_tensor *b = t5_bucket(tr, rp, bidirectional, p->buckets, p->maxdist);
    mt_tensor *v = mt_tr_call(tr, rel, b);
    int64_t perm[3] = {2, 0, 1};
    return mt_unsqueeze(tr, mt_permute(tr, v, 3, perm), 0);
}

/* T5Attention over x [b, s, d] (keys/values from kv when given). *pbias is the
 * shared position bias: computed here when NULL (relative bias or zeros) plus
 * mask[:, :, :, :k_len], then reused by later blocks. */
static mt_tensor *t5_attn_fwd(mt_tracer *tr, const t5 *p, mt_module *a, mt_tensor *x, mt_tensor *kv,
                              mt_tensor *mask, mt_tensor **pbias, bool bidirectional) {
    if (!x) return NULL;
    const t5_attn_h *ah = MT_BOUND(tr, a, t5_attn_h);
    if (!ah) return NULL;
    mt_tr_enter(tr, a);
    const mt_sym *b = x->shape[0];
    mt_tensor *src = kv ? kv : x;
    const mt_sym *qs[4] = {b, NULL, C(tr, p->heads), C(tr, p->dkv)};
    mt_tensor *q = mt_transpose(tr, mt_view(tr, mt_tr_call(tr, ah->q, x), 4, qs), 1, 2);
    mt_tensor *k = mt_transpose(tr, mt_view(tr, mt_tr_call(tr, ah->k, src), 4, qs), 1, 2);
    mt_tensor *v = mt_transpose(tr, mt_view(tr, mt_tr_call(tr, ah->v, src), 4, qs), 1, 2);
    mt_tensor *scores = mt_matmul(tr, q, mt_transpose(tr, k, 3, 2));
    if (!*pbias && scores && k) {
        const mt_sym *ql = x->shape[1], *kl = k->shape[2];
        mt_tensor *pb;
        if (ah->rel) {
            /* transformers then takes position_bias[:, :, -seq_length:, :], the whole
             * tensor without a cache (our slice rule reads a symbolic start as
             * non-negative, so the no-op slice is left out) */
            pb = t5_compute_bias(tr, p, ah->rel, ql, kl, bidirectional);
        } else {
            const mt_sym *zs[4] = {C(tr, 1), C(tr, p->heads), ql, kl};
            mt_arg za[1] = {mt_a_dims(tr->ctx, zs, 4)};
            mt_kwarg zk[1] = {{"dtype", mt_a_dtype(scores->dtype)}};
            pb = mt_tr_op1(tr, MT_OP_ZEROS, za, 1, zk, 1);
        }
        if (mask) {
            mt_arg ml[4] = {mt_a_slice(NULL, NULL, NULL), mt_a_slice(NULL, NULL, NULL), mt_a_slice(NULL, NULL, NULL),
                            mt_a_slice(NULL, kl, NULL)};
            pb = mt_add(tr, pb, mt_index(tr, mask, ml, 4));
        }
        *pbias = pb;
    }
    scores = mt_add(tr, scores, *pbias);
    mt_tensor *w = mt_softmax(tr, mt_to(tr, scores, MT_FLOAT32), -1, MT_DTYPE_NONE);
    if (w && scores) {
        mt_arg ta[2] = {mt_a_tensor(w), mt_a_tensor(scores)};
        w = mt_tr_op1(tr, MT_OP_TYPE_AS, ta, 2, NULL, 0);
    }
    w = cl_fdropout(tr, w, 0.1);
    mt_tensor *o = mt_contiguous(tr, mt_transpose(tr, mt_matmul(tr, w, v), 1, 2));
    const mt_sym *os[3] = {b, NULL, C(tr, p->inner)};
    o = mt_tr_call(tr, ah->o, mt_view(tr, o, 3, os));
    mt_tr_leave(tr);
    return o;
}

/* One T5Layer{Self,Cross}Attention: x + dropout(attn(layer_norm(x))). */
static mt_tensor *t5_attn_layer(mt_tracer *tr, const t5 *p, mt_module *L, mt_tensor *x, mt_tensor *kv,
                                mt_tensor *mask, mt_tensor **pbias, bool bidirectional) {
    const t5_sub_h *lh = MT_BOUND(tr, L, t5_sub_h);
    if (!lh) return NULL;
    mt_tr_enter(tr, L);
    mt_tensor *n = t5_norm_fwd(tr, lh->norm, x);
    mt_tensor *o = t5_attn_fwd(tr, p, lh->inner, n, kv, mask, pbias, bidirectional);
    mt_tensor *h = mt_add(tr, x, mt_tr_call(tr, lh->drop, o));
    mt_tr_leave(tr);
    return h;
}

static mt_tensor *t5_ff_layer(mt_tracer *tr, const t5 *p, mt_module *L, mt_tensor *x) {
    const t5_sub_h *lh = MT_BOUND(tr, L, t5_sub_h);
    const t5_ff_h *dh = lh ? MT_BOUND(tr, lh->inner, t5_ff_h) : NULL;
    if (!dh) return NULL;
    mt_tr_enter(tr, L);
    mt_tensor *n = t5_norm_fwd(tr, lh->norm, x);
    mt_tr_enter(tr, lh->inner);
    mt_module *act = dh->act;
    mt_tensor *f;
    if (p->gated) {
        /* act(wi_0(n)) * wi_1(n): wi_1 is recorded first, as the goldens have it (Python: wi_0 first) */
        mt_tensor *lin = mt_tr_call(tr, dh->wi_1, n);
        mt_tensor *g = mt_tr_call(tr, dh->wi_0, n);
        f = mt_mul(tr, mt_act_forward(tr, act, g), lin);
    } else {
        f = mt_act_forward(tr, act, mt_tr_call(tr, dh->wi, n));
    }
    f = mt_tr_call(tr, dh->wo, mt_tr_call(tr, dh->drop, f));
    mt_tr_leave(tr);
    mt_tensor *h = mt_add(tr, x, mt_tr_call(tr, lh->drop, f));
    mt_tr_leave(tr);
    return h;
}

static mt_tensor *t5_stack_fwd(mt_tracer *tr, const t5 *p, mt_module *st, mt_tensor *ids, mt_tensor *mask,
                               mt_tensor *enc, mt_tensor *enc_mask) {
    bool decoder = enc != NULL;
    const t5_stack_h *sh = MT_BOUND(tr, st, t5_stack_h);
    if (!sh) return NULL;
    mt_tr_enter(tr, st);
    mt_tensor *h = mt_tr_call(tr, sh->embed, ids);
    mt_tensor *m4;
    if (decoder) {
        /* attention_mask = torch.ones(batch, dec_seq); the causal 4-D mask from it */
        const mt_sym *os[2] = {ids->shape[0], ids->shape[1]};
        mt_arg fa[2] = {mt_a_dims(tr->ctx, os, 2), mt_a_float(1.0)};
        mt_tensor *ones = mt_tr_op1(tr, MT_OP_FULL, fa, 2, NULL, 0);
        m4 = cl_causal_mask(tr, ones, h ? h->dtype : p->dt);
    } else {
        m4 = cl_padding_mask(tr, mask, h ? h->dtype : p->dt);
    }
    mt_tensor *em = decoder ? cl_padding_mask(tr, enc_mask, h ? h->dtype : p->dt) : NULL;
    mt_tensor *pbias = NULL, *xbias = NULL;
    h = mt_tr_call(tr, sh->drop, h);
    mt_module *list = sh->list;
    for (int i = 0; i < list->children.n && h; i++) {
        mt_module *B = list->children.items[i];
        const t5_block_h *bh = MT_BOUND(tr, B, t5_block_h);
        if (!bh) return NULL;
        mt_tr_enter(tr, B);
        h = t5_attn_layer(tr, p, bh->self, h, NULL, m4, &pbias, !decoder);
        if (decoder) h = t5_attn_layer(tr, p, bh->cross, h, enc, em, &xbias, false);
        h = t5_ff_layer(tr, p, bh->ff, h);
        mt_tr_leave(tr);
    }
    h = t5_norm_fwd(tr, sh->final_norm, h);
    h = mt_tr_call(tr, sh->drop, h);
    mt_tr_leave(tr);
    return h;
}

static mt_status t5_forward(mt_model *m, mt_tracer *tr) {
    const t5 *p = m->family;
    mt_ctx *ctx = m->ctx;
    mt_tensor *ids = m->inputs.items[0], *amask = m->inputs.items[1];
    const mt_sym *ds[2] = {ids->shape[0], mt_model_input_dim(m, "dec_seq")};
    mt_symbol_info *info = mt_sym_info_of(ctx, ds[1]);
    if (info) info->origin = "input";
    mt_tensor *dec_ids = mt_tr_placeholder(tr, "decoder_input_ids", MT_INT64, 2, ds);
    if (!dec_ids) return mt_ctx_status(ctx);
    mt_vec_push(ctx, &m->inputs, dec_ids);
    const t5_h *mh = MT_BOUND(tr, m->root, t5_h);
    if (!mh) return mt_ctx_status(ctx);
    mt_tensor *enc = t5_stack_fwd(tr, p, mh->encoder, ids, amask, NULL, NULL);
    mt_tensor *h = t5_stack_fwd(tr, p, mh->decoder, dec_ids, NULL, enc, amask);
    if (p->tie) h = mt_mul_s(tr, h, pow((double)p->dmodel, -0.5));
    return cl_output(tr, mt_tr_call(tr, mh->lm_head, h));
}

const mt_arch mt_arch_t5 = {
    .model_type = "t5",
    .default_class = "T5ForConditionalGeneration",
    .example = "google-t5/t5-small",
    .build = t5_build,
    .forward = t5_forward,
};

const mt_arch mt_arch_mt5 = {
    .model_type = "mt5",
    .default_class = "MT5ForConditionalGeneration",
    .example = "google/mt5-small",
    .build = mt5_build,
    .forward = t5_forward,
};
