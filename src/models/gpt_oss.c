/* gpt-oss (GptOssForCausalLM), after transformers' modeling_gpt_oss.py and
 * GptOssConfig (defaults: the gpt-oss-120b shape — 36 layers, 128 experts).
 *
 * Parameters per layer, in registration order:
 *   self_attn: q_proj, k_proj, v_proj, o_proj (bias = attention_bias, default
 *     true), sinks [num_attention_heads] (attention sinks);
 *   mlp (GptOssMLP): router (GptOssTopKRouter: weight [E, hidden], bias [E]),
 *     experts (GptOssExperts: gate_up_proj [E, hidden, 2*I], gate_up_proj_bias
 *     [E, 2*I], down_proj [E, I, hidden], down_proj_bias [E, hidden]);
 *   input_layernorm, post_attention_layernorm (GptOssRMSNorm).
 * The model: embed_tokens, layers, norm, rotary_emb (inv_freq buffer), lm_head.
 *
 * Forward:
 *   masks: a causal one for "full_attention" layers and a sliding-window one
 *     for "sliding_attention" layers (layer_types; default even layers slide);
 *   rotary: cos/sin of freqs (no duplication: [1, seq, head_dim/2]) times the
 *     rope type's attention scaling (yarn by default: 0.1*ln(factor)+1);
 *     q/k rotated as chunk(2): (a*cos - b*sin, b*cos + a*sin) concatenated;
 *   eager attention with sinks: scores = q k^T * head_dim^-0.5 + mask;
 *     cat with sinks.reshape(1,-1,1,1).expand(b,-1,q,-1) on the last dim;
 *     minus its row max; softmax(dim=-1, dtype=its dtype); drop the sink
 *     column; dropout; @ v;
 *   router: F.linear(x, weight, bias) -> topk -> softmax over the top-k ->
 *     zeros_like(logits).scatter_(1, indices, values);
 *   experts: the per-expert loop of GptOssExperts.forward (the branch taken on
 *     CPU and in training): one_hot(indices, num_experts + 1).permute(2, 1, 0),
 *     torch.where(mask[e]) -> the tokens routed to expert e, a fresh symbol
 *     nnz_k in [0, batch*seq*top_k]; x[tokens] @ gate_up_proj[e] + bias[e];
 *     gate = gu[..., ::2].clamp(max=limit), up = gu[..., 1::2].clamp(-limit,
 *     limit); (up + 1) * gate * sigmoid(gate * alpha); @ down_proj[e] +
 *     down_proj_bias[e]; * routing_weights[tokens, e, None]; index_add_.
 *   RMSNorm: (weight * x.float() * rsqrt(...)).to(input dtype).
 * Recorded simplifications (as in moe.c): x[tokens] and routing_weights
 * [tokens, e, None] are recorded as index_select (+ getitem), every expert is
 * recorded (the loop over expert_hit = nonzero(mask.sum(...) > 0) may run for
 * any of them, so that bookkeeping is not recorded), and `.max(dim=-1,
 * keepdim=True).values` is recorded as amax. The dense bmm branch that
 * transformers takes on accelerators computes every expert for every token;
 * the loop is recorded because it is the routed computation (what
 * active_params counts). */
#include <math.h>
#include <string.h>

#include "moe.h"

static const mt_dec_names gpt_oss_names = {
    "GptOssModel", "GptOssDecoderLayer", "GptOssAttention", "GptOssMLP", "GptOssRMSNorm",
    "GptOssRotaryEmbedding",
};

/* GptOssConfig defaults. */
static const mt_dec_defaults gpt_oss_defaults = {
    .vocab = 201088, .hidden = 2880, .intermediate = 2880, .layers = 36, .heads = 64, .kv_heads = 8,
    .head_dim = 64, .norm_eps = 1e-5, .rope_theta = 150000.0, .hidden_act = "silu",
    .norm_eps_key = "rms_norm_eps", .tie_embeddings = false,
};

typedef struct goss {
    double alpha, limit;
    double scaling; /* head_dim^-0.5 */
} goss;

static const mt_sym *C(mt_tracer *tr, int64_t v) { return mt_sym_const(tr->ctx, v); }

static mt_tensor *op(mt_tracer *tr, mt_op_id id, const mt_arg *a, int n, const mt_kwarg *kw, int nkw) {
    return mt_tr_op1(tr, id, a, n, kw, nkw);
}

/* ---- construction ---- */

/* GptOssMLP's handle (blocks.h, "handles bound at build"); the attention is the shared mt_attn_h with
 * its sinks, the decoder's modules the shared blocks'. */
typedef struct goss_mlp_h {
    mt_module *router, *experts;
    mt_param *router_w, *router_b, *gate_up, *gate_up_b, *down, *down_b;
} goss_mlp_h;
static const mt_handle_kind goss_mlp_h_kind = {"gpt_oss goss_mlp_h"};

static mt_status build_attn(mt_model *m, const mt_dec_spec *s, mt_module *layer, int64_t index) {
    if (mt_dec_build_attn(m, s, layer, index) != MT_OK) return mt_ctx_status(m->ctx);
    mt_module *at = mt_bind_child(m->ctx, layer, "self_attn");
    mt_attn_h *ah = mt_module_bound_checked(m->ctx, at, &mt_attn_h_kind);
    if (!ah || !(ah->sinks = mt_param_new(m->ctx, at, "sinks", s->dtype, MT_DEVICE_CPU, 1, &s->heads)))
        return mt_ctx_status(m->ctx);
    mt_module_attr(m->ctx, at, "sliding", mt_a_bool(s->caps.sliding && s->caps.sliding[index]));
    return MT_OK;
}

static mt_status build_mlp(mt_model *m, const mt_dec_spec *s, mt_module *layer, int64_t index) {
    (void)index;
    mt_ctx *ctx = m->ctx;
    mt_moe_model *mm = s->ext;
    const mt_moe_spec *e = &mm->moe;
    int64_t E = e->num_experts, H = s->hidden, I = e->expert_inter;
    mt_module *mlp = mt_module_new(ctx, layer, "mlp", "GptOssMLP");
    goss_mlp_h *h = MT_BIND(ctx, mlp, goss_mlp_h);
    mt_module *r = h ? h->router = mt_module_new(ctx, mlp, "router", "GptOssTopKRouter") : NULL;
    if (!r) return mt_ctx_status(ctx);
    mt_module_attr(ctx, r, "top_k", mt_a_int(e->top_k));
    mt_module_attr(ctx, r, "num_experts", mt_a_int(E));
    int64_t rw[2] = {E, H};
    if (!(h->router_w = mt_param_new(ctx, r, "weight", s->dtype, MT_DEVICE_CPU, 2, rw)) ||
        !(h->router_b = mt_param_new(ctx, r, "bias", s->dtype, MT_DEVICE_CPU, 1, &E)))
        return mt_ctx_status(ctx);
    mt_module *ex = h->experts = mt_module_new(ctx, mlp, "experts", "GptOssExperts");
    if (!ex) return mt_ctx_status(ctx);
    int64_t gu[3] = {E, H, 2 * I}, gub[2] = {E, 2 * I}, dn[3] = {E, I, H}, dnb[2] = {E, H};
    if (!(h->gate_up = mt_param_new(ctx, ex, "gate_up_proj", s->dtype, MT_DEVICE_CPU, 3, gu)) ||
        !(h->gate_up_b = mt_param_new(ctx, ex, "gate_up_proj_bias", s->dtype, MT_DEVICE_CPU, 2, gub)) ||
        !(h->down = mt_param_new(ctx, ex, "down_proj", s->dtype, MT_DEVICE_CPU, 3, dn)) ||
        !(h->down_b = mt_param_new(ctx, ex, "down_proj_bias", s->dtype, MT_DEVICE_CPU, 2, dnb)))
        return mt_ctx_status(ctx);
    return mt_moe_add_routed(m, mm, ex, E, e->top_k) ? MT_OK : mt_ctx_status(ctx);
}

/* ---- forward ---- */

/* GptOssRMSNorm: (weight * x.float() * rsqrt(mean(x^2) + eps)).to(input dtype). */
static mt_tensor *norm_forward(mt_tracer *tr, mt_module *n, mt_tensor *x) {
    if (!x || !n) return NULL;
    const mt_norm_h *nh = MT_BOUND(tr, n, mt_norm_h);
    if (!nh) return NULL;
    const mt_arg *eps = mt_module_get_attr(n, "eps");
    mt_dtype in_dt = x->dtype;
    mt_tr_enter(tr, n);
    mt_tensor *h = mt_to(tr, x, MT_FLOAT32);
    mt_tensor *var = mt_reduce(tr, MT_OP_MEAN, mt_pow_s(tr, h, 2), -1, true);
    h = mt_mul(tr, h, mt_unary(tr, MT_OP_RSQRT, mt_add_s(tr, var, eps->v.f)));
    mt_tensor *y = mt_to(tr, mt_mul(tr, mt_tr_get_attr(tr, nh->weight), h), in_dt);
    mt_tr_leave(tr);
    return y;
}

static mt_tensor *attn_forward(mt_tracer *tr, mt_module *at, mt_tensor *x, mt_tensor *mask, mt_tensor *cos,
                               mt_tensor *sin, const mt_dec_spec *s) {
    if (!x || !at) return NULL;
    const mt_attn_h *ah = MT_BOUND(tr, at, mt_attn_h);
    if (!ah) return NULL;
    const goss *g = ((const mt_moe_model *)s->ext)->fam;
    const mt_sym *b = x->shape[0], *q_len = x->shape[1];
    mt_tr_enter(tr, at);
    const mt_sym *hs[4] = {b, q_len, NULL, C(tr, s->head_dim)};
    mt_tensor *q = mt_transpose(tr, mt_view(tr, mt_tr_call(tr, ah->q, x), 4, hs), 1, 2);
    mt_tensor *k = mt_transpose(tr, mt_view(tr, mt_tr_call(tr, ah->k, x), 4, hs), 1, 2);
    mt_tensor *v = mt_transpose(tr, mt_view(tr, mt_tr_call(tr, ah->v, x), 4, hs), 1, 2);
    mt_tensor *c = mt_unsqueeze(tr, cos, 1), *sn = mt_unsqueeze(tr, sin, 1);
    q = mt_rope_apply(tr, q, c, sn, MT_ROPE_CHUNK, 0);
    k = mt_rope_apply(tr, k, c, sn, MT_ROPE_CHUNK, 0);
    k = mt_dec_repeat_kv(tr, k, s->heads / s->kv_heads);
    v = mt_dec_repeat_kv(tr, v, s->heads / s->kv_heads);
    mt_tensor *w = mt_mul_s(tr, mt_matmul(tr, q, mt_transpose(tr, k, 2, 3)), g->scaling);
    if (mask && k) {
        mt_arg idx[4] = {mt_a_slice(NULL, NULL, NULL), mt_a_slice(NULL, NULL, NULL), mt_a_slice(NULL, NULL, NULL),
                         mt_a_slice(NULL, k->shape[2], NULL)};
        w = mt_add(tr, w, mt_index(tr, mask, idx, 4));
    }
    mt_tensor *sinks = mt_tr_get_attr(tr, ah->sinks);
    const mt_sym *r4[4] = {C(tr, 1), NULL, C(tr, 1), C(tr, 1)};
    const mt_sym *e4[4] = {b, NULL, q_len, NULL};
    sinks = mt_expand(tr, mt_reshape(tr, sinks, 4, r4), 4, e4);
    mt_tensor *parts[2] = {w, sinks};
    mt_tensor *comb = mt_cat(tr, parts, 2, -1);
    comb = mt_sub(tr, comb, mt_reduce(tr, MT_OP_AMAX, comb, -1, true));
    mt_tensor *probs = comb ? mt_softmax(tr, comb, -1, comb->dtype) : NULL;
    mt_arg drop[2] = {mt_a_ellipsis(), mt_a_slice(NULL, C(tr, -1), NULL)};
    mt_tensor *scores = mt_index(tr, probs, drop, 2);
    scores = scores ? op(tr, MT_OP_DROPOUT, (mt_arg[]){mt_a_tensor(scores)}, 1,
                         (mt_kwarg[]){{"p", mt_a_float(0.0)}, {"training", mt_a_bool(false)}}, 2) : NULL;
    mt_tensor *o = mt_contiguous(tr, mt_transpose(tr, mt_matmul(tr, scores, v), 1, 2));
    const mt_sym *os[3] = {b, q_len, NULL};
    o = mt_contiguous(tr, mt_reshape(tr, o, 3, os));
    o = mt_tr_call(tr, ah->o, o);
    mt_tr_leave(tr);
    return o;
}

static mt_tensor *clamp(mt_tracer *tr, mt_tensor *x, mt_arg lo, mt_arg hi) {
    if (!x) return NULL;
    return op(tr, MT_OP_CLAMP, (mt_arg[]){mt_a_tensor(x)}, 1, (mt_kwarg[]){{"min", lo}, {"max", hi}}, 2);
}

static mt_tensor *expert_slice(mt_tracer *tr, mt_param *p, int64_t e) {
    mt_tensor *w = mt_tr_get_attr(tr, p);
    return w ? op(tr, MT_OP_GETITEM, (mt_arg[]){mt_a_tensor(w), mt_a_int(e)}, 2, NULL, 0) : NULL;
}

static mt_tensor *mlp_forward(mt_tracer *tr, mt_module *mlp, mt_tensor *x, const mt_dec_spec *s) {
    if (!x || !mlp) return NULL;
    const goss_mlp_h *mh = MT_BOUND(tr, mlp, goss_mlp_h);
    if (!mh) return NULL;
    const mt_moe_model *mm = s->ext;
    const goss *g = mm->fam;
    const mt_moe_spec *e = &mm->moe;
    const mt_sym *h = C(tr, s->hidden), *rs[2] = {NULL, h};
    mt_tr_enter(tr, mlp);
    /* router */
    mt_tr_enter(tr, mh->router);
    mt_tensor *xr = mt_reshape(tr, x, 2, rs);
    mt_tensor *rw = mt_tr_get_attr(tr, mh->router_w), *rb = mt_tr_get_attr(tr, mh->router_b);
    mt_tensor *logits = xr && rw && rb ? op(tr, MT_OP_LINEAR, (mt_arg[]){mt_a_tensor(xr), mt_a_tensor(rw), mt_a_tensor(rb)}, 3, NULL, 0) : NULL;
    mt_node *tk = logits ? mt_tr_op(tr, MT_OP_TOPK, (mt_arg[]){mt_a_tensor(logits), mt_a_int(e->top_k)}, 2,
                                    (mt_kwarg[]){{"dim", mt_a_int(-1)}}, 1) : NULL;
    mt_tensor *tv = mt_tr_item(tr, tk, 0), *idx = mt_tr_item(tr, tk, 1);
    tv = tv ? op(tr, MT_OP_SOFTMAX, (mt_arg[]){mt_a_tensor(tv)}, 1,
                 (mt_kwarg[]){{"dim", mt_a_int(1)}, {"dtype", mt_a_dtype(tv->dtype)}}, 2) : NULL;
    mt_tensor *scores = logits ? op(tr, MT_OP_ZEROS_LIKE, (mt_arg[]){mt_a_tensor(logits)}, 1, NULL, 0) : NULL;
    scores = scores && idx && tv ? op(tr, MT_OP_SCATTER, (mt_arg[]){mt_a_tensor(scores), mt_a_int(1), mt_a_tensor(idx), mt_a_tensor(tv)}, 4, NULL, 0) : NULL;
    mt_tr_leave(tr);
    /* experts: the routed loop */
    mt_tr_enter(tr, mh->experts);
    mt_tensor *hs = mt_reshape(tr, x, 2, rs);
    mt_tensor *next = hs ? op(tr, MT_OP_ZEROS_LIKE, (mt_arg[]){mt_a_tensor(hs)}, 1,
                              (mt_kwarg[]){{"dtype", mt_a_dtype(hs->dtype)}}, 1) : NULL;
    mt_tensor *mask = idx ? op(tr, MT_OP_ONE_HOT, (mt_arg[]){mt_a_tensor(idx)}, 1,
                               (mt_kwarg[]){{"num_classes", mt_a_int(e->num_experts + 1)}}, 1) : NULL;
    int64_t perm[3] = {2, 1, 0};
    mask = mt_permute(tr, mask, 3, perm);
    for (int64_t i = 0; i < e->num_experts && next; i++) {
        mt_tensor *me = mask ? op(tr, MT_OP_GETITEM, (mt_arg[]){mt_a_tensor(mask), mt_a_int(i)}, 2, NULL, 0) : NULL;
        mt_node *nz = mt_moe_where(tr, me, i, mlp->path);
        if (!nz) { next = NULL; break; }
        mt_tensor *tok = mt_tr_item(tr, nz, 1);
        mt_tensor *cur = tok ? op(tr, MT_OP_INDEX_SELECT, (mt_arg[]){mt_a_tensor(hs), mt_a_int(0), mt_a_tensor(tok)}, 3, NULL, 0) : NULL;
        /* cur @ gate_up_proj[i] + gate_up_proj_bias[i]: the bias slice is recorded first, as the goldens have it */
        mt_tensor *gub = expert_slice(tr, mh->gate_up_b, i);
        mt_tensor *gu = mt_add(tr, mt_matmul(tr, cur, expert_slice(tr, mh->gate_up, i)), gub);
        mt_arg ev[2] = {mt_a_ellipsis(), mt_a_slice(NULL, NULL, C(tr, 2))};
        mt_arg od[2] = {mt_a_ellipsis(), mt_a_slice(C(tr, 1), NULL, C(tr, 2))};
        mt_tensor *gate = clamp(tr, mt_index(tr, gu, ev, 2), mt_a_none(), mt_a_float(g->limit));
        mt_tensor *up = clamp(tr, mt_index(tr, gu, od, 2), mt_a_float(-g->limit), mt_a_float(g->limit));
        mt_tensor *glu = mt_mul(tr, gate, mt_unary(tr, MT_OP_SIGMOID, mt_mul_s(tr, gate, g->alpha)));
        mt_tensor *go = mt_mul(tr, mt_add_s(tr, up, 1), glu);
        mt_tensor *dpb = expert_slice(tr, mh->down_b, i); /* first, as the goldens have it */
        mt_tensor *out = mt_add(tr, mt_matmul(tr, go, expert_slice(tr, mh->down, i)), dpb);
        mt_tensor *w = scores && tok ? op(tr, MT_OP_INDEX_SELECT, (mt_arg[]){mt_a_tensor(scores), mt_a_int(0), mt_a_tensor(tok)}, 3, NULL, 0) : NULL;
        mt_arg wi[3] = {mt_a_slice(NULL, NULL, NULL), mt_a_int(i), mt_a_none()};
        out = mt_mul(tr, out, mt_index(tr, w, wi, 3));
        out = mt_to(tr, out, hs->dtype);
        next = out && tok ? op(tr, MT_OP_INDEX_ADD, (mt_arg[]){mt_a_tensor(next), mt_a_int(0), mt_a_tensor(tok), mt_a_tensor(out)}, 4, NULL, 0) : NULL;
    }
    const mt_sym *vs[3] = {x->shape[0], NULL, h};
    next = mt_view(tr, next, 3, vs);
    mt_tr_leave(tr);
    mt_tr_leave(tr);
    return next;
}

static mt_status gpt_oss_forward(mt_model *m, mt_tracer *tr) {
    const mt_moe_model *mm = m->family;
    const mt_dec_spec *s = &mm->dec;
    mt_tensor *ids = m->inputs.items[0], *amask = m->inputs.items[1];
    const mt_dec_h *dh = MT_BOUND(tr, m->root, mt_dec_h);
    if (!dh) return mt_ctx_status(tr->ctx);
    mt_module *model = dh->model;
    mt_tr_enter(tr, model);
    mt_tensor *h = mt_tr_call(tr, dh->embed, ids);
    mt_tensor *cache_pos = op(tr, MT_OP_ARANGE, (mt_arg[]){mt_a_dim(ids->shape[1])}, 1, NULL, 0);
    mt_tensor *pos = mt_unsqueeze(tr, cache_pos, 0);
    /* transformers builds the full and the sliding mask independently from the
     * inputs (create_causal_mask, create_sliding_window_causal_mask) */
    mt_tensor *full = mt_dec_causal_mask(tr, amask, cache_pos, s->dtype);
    mt_tensor *slide = s->caps.sliding_window > 0
                           ? mt_dec_sliding_mask(tr, mt_dec_causal_mask(tr, amask, cache_pos, s->dtype),
                                                 cache_pos, s->caps.sliding_window, s->dtype)
                           : NULL;
    mt_tensor *cos = NULL, *sin = NULL;
    /* cos/sin [1, seq, head_dim/2]: emb = freqs, not duplicated */
    mt_rope_cos_sin(tr, dh->rotary, h, pos, MT_ROPE_FREQS, s->attention_scaling, &cos, &sin);
    mt_module *layers = dh->layers;
    for (int i = 0; i < layers->children.n && h; i++) {
        mt_module *L = layers->children.items[i];
        const mt_dec_layer_h *lh = MT_BOUND(tr, L, mt_dec_layer_h);
        if (!lh) return mt_ctx_status(tr->ctx);
        bool sl = s->caps.sliding_window > 0 && s->caps.sliding && s->caps.sliding[i];
        mt_tr_enter(tr, L);
        mt_tensor *a = norm_forward(tr, lh->norm[0], h);
        a = attn_forward(tr, lh->attn, a, sl ? slide : full, cos, sin, s);
        h = mt_add(tr, h, a);
        mt_tensor *f = norm_forward(tr, lh->norm[1], h);
        f = mlp_forward(tr, lh->mlp, f, s);
        h = mt_add(tr, h, f);
        mt_tr_leave(tr);
    }
    h = norm_forward(tr, dh->norm, h);
    mt_tr_leave(tr);
    mt_tensor *logits = mt_tr_call(tr, dh->lm_head, h);
    return mt_tr_output(tr, &logits, 1);
}

/* ---- config ---- */

static double yarn_mscale(double scale) { return scale <= 1.0 ? 1.0 : 0.1 * log(scale) + 1.0; }

/* layer_types: "sliding_attention" / "full_attention" per layer; default
 * (GptOssConfig): layer i slides when (i + 1) % 2 != 0, i.e. even layers. */
static mt_status read_layer_types(mt_model *m, mt_dec_spec *s, int64_t cfg_layers) {
    bool *v = mt_alloc_array(m->ctx, (size_t)s->layers, sizeof *v);
    if (!v) return mt_ctx_status(m->ctx);
    s->caps.sliding = v;
    bool have = mt_config_has(m->cfg, "layer_types");
    for (int64_t i = 0; i < s->layers; i++) {
        if (!have) { v[i] = (i + 1) % 2 != 0; continue; }
        char field[48];
        snprintf(field, sizeof field, "layer_types.%lld", (long long)i);
        if (!mt_config_has(m->cfg, field))
            return mt_config_error(m->cfg, "layer_types", "expected %lld entries (num_hidden_layers), got %lld (gpt_oss)",
                                (long long)cfg_layers, (long long)i);
        const char *t;
        if (!mt_config_str(m->cfg, field, NULL, &t)) return mt_ctx_status(m->ctx);
        if (strcmp(t, "sliding_attention") == 0) v[i] = true;
        else if (strcmp(t, "full_attention") == 0) v[i] = false;
        else
            return mt_config_error(m->cfg, field, "expected \"sliding_attention\" or \"full_attention\", got \"%s\" (gpt_oss)", t);
    }
    return MT_OK;
}

static mt_status gpt_oss_build(mt_model *m) {
    mt_moe_model *mm = mt_moe_model_new(m);
    goss *g = mt_alloc(m->ctx, sizeof *g);
    if (!mm || !g) return mt_ctx_status(m->ctx);
    mm->fam = g;
    mt_dec_spec *s = &mm->dec;
    mt_config *c = m->cfg;
    s->cls = gpt_oss_names;
    int64_t cfg_layers;
    if (!mt_config_pos_int(c, "num_hidden_layers", gpt_oss_defaults.layers, &cfg_layers)) return mt_ctx_status(m->ctx);
    if (mt_dec_read_common(m, s, &gpt_oss_defaults) != MT_OK) return mt_ctx_status(m->ctx);
    bool bias;
    if (!mt_config_bool(c, "attention_bias", true, &bias)) return mt_ctx_status(m->ctx);
    s->qkv_bias = s->o_bias = bias;
    /* rope: GptOssConfig's default rope_scaling is yarn (factor 32, beta_fast 32,
     * beta_slow 1, original_max_position_embeddings 4096); attention scaling as
     * _compute_yarn_parameters: attention_factor, else mscale ratio, else
     * 0.1 * ln(factor) + 1. */
    s->attention_scaling = 1.0;
    if (!mt_config_has(c, "rope_scaling") && !mt_dec_cfg_is_null(m, "rope_scaling")) {
        s->rope_type = "yarn";
        s->attention_scaling = yarn_mscale(32.0);
    } else {
        if (mt_dec_read_rope(m, s) != MT_OK) return mt_ctx_status(m->ctx);
        if (strcmp(s->rope_type, "yarn") == 0) {
            double f, ms, msa, af;
            if (!mt_config_float(c, "rope_scaling.factor", 1.0, &f) || !mt_config_float(c, "rope_scaling.mscale", 0, &ms) ||
                !mt_config_float(c, "rope_scaling.mscale_all_dim", 0, &msa) ||
                !mt_config_float(c, "rope_scaling.attention_factor", 0, &af))
                return mt_ctx_status(m->ctx);
            if (af != 0) s->attention_scaling = af;
            else if (ms != 0 && msa != 0) s->attention_scaling = (0.1 * ms * log(f) + 1.0) / (0.1 * msa * log(f) + 1.0);
            else s->attention_scaling = yarn_mscale(f);
        } else if (strcmp(s->rope_type, "default") != 0) {
            return mt_config_error(c, "rope_scaling", "rope type '%s' is not supported for gpt_oss (expected yarn or default)",
                                s->rope_type);
        }
    }
    if (!mt_dec_read_window(m, "sliding_window", 128, &s->caps.sliding_window) ||
        read_layer_types(m, s, cfg_layers) != MT_OK)
        return mt_ctx_status(m->ctx);
    if (!mt_config_float(c, "swiglu_limit", 7.0, &g->limit) || !mt_config_float(c, "swiglu_alpha", 1.702, &g->alpha))
        return mt_ctx_status(m->ctx);
    g->scaling = 1.0 / sqrt((double)s->head_dim);
    mt_moe_spec *e = &mm->moe;
    e->block_cls = "GptOssMLP";
    e->expert_inter = s->intermediate;
    if (!mt_config_pos_int(c, "num_local_experts", 128, &e->num_experts) ||
        !mt_config_pos_int(c, "num_experts_per_tok", 4, &e->top_k))
        return mt_ctx_status(m->ctx);
    if (e->top_k > e->num_experts)
        return mt_config_error(c, "num_experts_per_tok", "num_experts_per_tok %lld exceeds num_local_experts %lld (gpt_oss)",
                            (long long)e->top_k, (long long)e->num_experts);
    s->hooks.build_attn = build_attn;
    s->hooks.build_mlp = build_mlp;
    s->hooks.attn_forward = attn_forward;
    s->caps.eager_only = true; /* the sinks need eager attention: GptOss has no sdpa (_supports_sdpa = False) */
    s->hooks.mlp_forward = mlp_forward;
    if (mt_dec_build(m, s) != MT_OK) return mt_ctx_status(m->ctx);
    mt_model_info(m, "num_local_experts", mt_a_int(e->num_experts));
    mt_model_info(m, "num_experts_per_tok", mt_a_int(e->top_k));
    mt_model_info(m, "attention_scaling", mt_a_float(s->attention_scaling));
    return MT_OK;
}

const mt_arch mt_arch_gpt_oss = {
    .model_type = "gpt_oss",
    .default_class = "GptOssForCausalLM",
    .example = "openai/gpt-oss-20b",
    .build = gpt_oss_build,
    .forward = gpt_oss_forward,
    .totals = mt_moe_totals,
};
