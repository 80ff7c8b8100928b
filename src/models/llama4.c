/* Llama 4: Llama4ForCausalLM (model_type llama4_text) and
 * Llama4ForConditionalGeneration (model_type llama4: the vision tower and the
 * multi-modal projector from vision_config, then text_config's language model
 * built under language_model, the checkpoint's names; the tower is described
 * before l4_forward below).
 * After transformers' models/llama4/modeling_llama4.py and
 * configuration_llama4.py (main: modeling at 000c33fd, configuration at
 * 008e5743 — the v5 sources with rope_parameters and log1p temperature).
 *
 * Parameters, in registration order:
 *   model: embed_tokens, layers, norm, rotary_emb (inv_freq buffer); lm_head
 *     (tie_word_embeddings false by default).
 *   layer (Llama4TextDecoderLayer): self_attn (q/k/v/o_proj, bias =
 *     attention_bias; a parameterless qk_norm (Llama4TextL2Norm) on RoPE layers
 *     when use_qk_norm), feed_forward, input_layernorm, post_attention_layernorm.
 *   feed_forward on moe_layers (default range(step - 1, layers, step) with step
 *     interleave_moe_layer_step) is Llama4TextMoe: experts (Llama4TextExperts:
 *     gate_up_proj [E, hidden, 2*intermediate_size], down_proj [E,
 *     intermediate_size, hidden], act_fn), router (Llama4Router, an nn.Linear
 *     subclass: weight [E, hidden]), shared_expert (Llama4TextMLP of
 *     intermediate_size); elsewhere a Llama4TextMLP of intermediate_size_mlp
 *     (gate_proj, up_proj, down_proj, activation_fn).
 *
 * Forward (Llama4TextModel.forward and below):
 *   cache_position = arange(seq), position_ids = cache_position[None];
 *   masks: the causal mask for "full_attention" layers and, built apart from the
 *     inputs, a chunked one for "chunked_attention" layers: keys of another
 *     attention_chunk_size block than the query's masked too (q // chunk !=
 *     k // chunk, masking_utils' chunked_overlay; recorded like the sliding mask
 *     of the other families, on the additive mask);
 *   layer_types default: chunked on RoPE layers, full on NoPE layers;
 *   freqs_cis (Llama4TextRotaryEmbedding): freqs = (inv_freq[None, :, None]
 *     .float().expand(1, -1, 1) @ position_ids[:, None, :].float()).transpose(1,
 *     2); polar(ones_like(freqs), freqs) * attention_scaling — complex64;
 *   norms (Llama4TextRMSNorm): x.float() * rsqrt(x.float().pow(2).mean(-1,
 *     keepdim=True) + eps), .type_as(x), * weight;
 *   attention: q, k viewed [b, s, -1, head_dim], v viewed and transposed; on
 *     RoPE layers (no_rope_layers[i] == 1; default: every fourth layer is NoPE)
 *     apply_rotary_emb: view_as_complex(x.float().reshape(..., -1, 2)) *
 *     freqs_cis[:, :, None, :], view_as_real, flatten(3), type_as(x); then the
 *     L2 qk_norm where built; on NoPE layers with attn_temperature_tuning:
 *     q = (q * (log1p(floor((cache_position.float() + 1.0) / floor_scale)) *
 *     attn_scale + 1.0).view(1, s, 1, 1).expand(b, s, 1, 1)).to(q.dtype); q, k
 *     transposed; sdpa (transformers' default; repeat_kv, the mask sliced to
 *     the key length) or Llama 4's eager (softmax without the float32 cast);
 *     reshape(b, s, -1).contiguous(); o_proj;
 *   MoE: x.reshape(-1, hidden); router: F.linear, topk(top_k, dim=1),
 *     full_like(logits, -inf).scatter_(1, indices, values), sigmoid(.float())
 *     .to(dtype); routed_in = x.repeat(E, 1) * scores.transpose(0,
 *     1).reshape(-1, 1); experts: view(E, -1, hidden), bmm(gate_up_proj),
 *     chunk(2, -1), bmm(up * act_fn(gate), down_proj), view(-1, hidden) — every
 *     expert on every token (the scores zero the unselected ones), as
 *     transformers computes it, so the sizing pass counts the experts' FLOPs
 *     dense; active_params counts top_k of E experts; the shared expert on x;
 *     out + routed_out.reshape(E, -1, hidden).sum(dim=0);
 *   layer: residual + attn(input_layernorm(h)); residual +
 *     feed_forward(post_attention_layernorm(h)).view(residual.shape).
 * Recorded simplifications: position_embeddings.to(device) and the
 * inv_freq .to(device) moves are not recorded (as for the other families);
 * sdpa gets no scale= (head_dim^-0.5 is its default), as for the other
 * families. */
#include <jansson.h>
#include <math.h>
#include <string.h>

#include "moe.h"

static const mt_dec_names l4_names = {
    "Llama4TextModel", "Llama4TextDecoderLayer", "Llama4TextAttention", "Llama4TextMLP", "Llama4TextRMSNorm",
    "Llama4TextRotaryEmbedding",
};

/* Llama4TextConfig defaults (the Scout shape; default_theta 500000). */
static const mt_dec_defaults l4_defaults = {
    .vocab = 202048, .hidden = 5120, .intermediate = 8192, .layers = 48, .heads = 40, .kv_heads = 8,
    .head_dim = 128, .norm_eps = 1e-5, .rope_theta = 500000.0, .hidden_act = "silu",
    .norm_eps_key = "rms_norm_eps", .tie_embeddings = false,
};

typedef struct l4_vision l4_vision;

typedef struct l4 {
    const l4_vision *vis; /* llama4 with its vision tower; NULL: the language model alone */
    const bool *rope;     /* per layer: no_rope_layers[i] == 1 */
    const bool *moe;      /* per layer: in moe_layers */
    const bool *chunked;  /* per layer: layer_types "chunked_attention" */
    int64_t inter_mlp, chunk;
    bool qk_norm, temp_tuning, wrapped;
    double floor_scale, attn_scale;
    bool floor_scale_int;
} l4;

static const mt_sym *C(mt_tracer *tr, int64_t v) { return mt_sym_const(tr->ctx, v); }

/* ---- construction ---- */

/* The handles the forwards read (blocks.h, "handles bound at build"): the text MoE block's, the
 * vision tower's (with the projector's Linear) and each vision layer's. The decoder's modules are
 * the shared blocks' (mt_dec_h, mt_dec_layer_h, mt_attn_h with qk_norm as both q/k norms, mt_mlp_h). */
typedef struct l4_moe_h {
    mt_module *router, *experts, *act, *shared;
    mt_param *router_w, *gate_up, *down;
} l4_moe_h;
static const mt_handle_kind l4_moe_h_kind = {"llama4 l4_moe_h"};
typedef struct l4_vision_h {
    mt_module *pe, *unfold, *linear, *enc, *layers, *ln_pre, *ln_post, *rot, *adapter, *mlp2, *fc1, *act, *fc2;
    mt_module *proj_linear;
    mt_param *class_emb, *pos_emb, *freqs;
} l4_vision_h;
static const mt_handle_kind l4_vision_h_kind = {"llama4 l4_vision_h"};
typedef struct l4_vlayer_h {
    mt_module *ln1, *attn, *ln2, *mlp;
} l4_vlayer_h;
static const mt_handle_kind l4_vlayer_h_kind = {"llama4 l4_vlayer_h"};

/* Llama4TextMLP: gate_proj, up_proj, down_proj, activation_fn. */
static mt_module *text_mlp(mt_model *m, const mt_dec_spec *s, mt_module *parent, const char *name, int64_t inter) {
    mt_ctx *ctx = m->ctx;
    mt_module *mlp = mt_module_new(ctx, parent, name, "Llama4TextMLP");
    mt_mlp_h *h = MT_BIND(ctx, mlp, mt_mlp_h);
    if (!h || !(h->gate = mt_nn_linear(ctx, mlp, "gate_proj", s->hidden, inter, false, s->dtype, MT_DEVICE_CPU)) ||
        !(h->up = mt_nn_linear(ctx, mlp, "up_proj", s->hidden, inter, false, s->dtype, MT_DEVICE_CPU)) ||
        !(h->down = mt_nn_linear(ctx, mlp, "down_proj", inter, s->hidden, false, s->dtype, MT_DEVICE_CPU)) ||
        !(h->act = mt_act_new(m, mlp, "activation_fn", s->hidden_act, "hidden_act")))
        return NULL;
    return mlp;
}

static mt_status build_attn(mt_model *m, const mt_dec_spec *s, mt_module *layer, int64_t index) {
    const l4 *f = ((const mt_moe_model *)s->ext)->fam;
    if (mt_dec_build_attn(m, s, layer, index) != MT_OK) return mt_ctx_status(m->ctx);
    mt_module *at = mt_bind_child(m->ctx, layer, "self_attn");
    mt_attn_h *h = mt_module_bound_checked(m->ctx, at, &mt_attn_h_kind);
    if (!h) return mt_ctx_status(m->ctx);
    mt_module_attr(m->ctx, at, "use_rope", mt_a_bool(f->rope[index]));
    if (f->qk_norm && f->rope[index]) { /* one Llama4TextL2Norm for q and k */
        mt_module *n = h->q_norm = h->k_norm = mt_module_new(m->ctx, at, "qk_norm", "Llama4TextL2Norm");
        if (!n) return mt_ctx_status(m->ctx);
        mt_module_attr(m->ctx, n, "eps", mt_a_float(s->norm_eps));
    }
    return MT_OK;
}

static mt_status build_mlp(mt_model *m, const mt_dec_spec *s, mt_module *layer, int64_t index) {
    mt_ctx *ctx = m->ctx;
    mt_moe_model *mm = s->ext;
    const l4 *f = mm->fam;
    if (!f->moe[index]) return text_mlp(m, s, layer, "feed_forward", f->inter_mlp) ? MT_OK : mt_ctx_status(ctx);
    const mt_moe_spec *e = &mm->moe;
    int64_t E = e->num_experts, H = s->hidden, I = e->expert_inter;
    mt_module *ff = mt_module_new(ctx, layer, "feed_forward", "Llama4TextMoe");
    l4_moe_h *h = MT_BIND(ctx, ff, l4_moe_h);
    mt_module *ex = h ? h->experts = mt_module_new(ctx, ff, "experts", "Llama4TextExperts") : NULL;
    if (!ex) return mt_ctx_status(ctx);
    mt_module_attr(ctx, ff, "num_experts", mt_a_int(E));
    mt_module_attr(ctx, ff, "top_k", mt_a_int(e->top_k));
    int64_t gu[3] = {E, H, 2 * I}, dn[3] = {E, I, H}, rw[2] = {E, H};
    if (!(h->gate_up = mt_param_new(ctx, ex, "gate_up_proj", s->dtype, MT_DEVICE_CPU, 3, gu)) ||
        !(h->down = mt_param_new(ctx, ex, "down_proj", s->dtype, MT_DEVICE_CPU, 3, dn)) ||
        !(h->act = mt_act_new(m, ex, "act_fn", s->hidden_act, "hidden_act")))
        return mt_ctx_status(ctx);
    mt_module *r = h->router = mt_module_new(ctx, ff, "router", "Llama4Router");
    if (!r) return mt_ctx_status(ctx);
    mt_module_attr(ctx, r, "in_features", mt_a_int(H));
    mt_module_attr(ctx, r, "out_features", mt_a_int(E));
    if (!(h->router_w = mt_param_new(ctx, r, "weight", s->dtype, MT_DEVICE_CPU, 2, rw)) ||
        !(h->shared = text_mlp(m, s, ff, "shared_expert", s->intermediate)))
        return mt_ctx_status(ctx);
    return mt_moe_add_routed(m, mm, ex, E, e->top_k) ? MT_OK : mt_ctx_status(ctx);
}

/* ---- forward ---- */

static mt_tensor *type_as(mt_tracer *tr, mt_tensor *x, mt_tensor *like) {
    return x && like ? mt_tr_op1(tr, MT_OP_TYPE_AS, (mt_arg[]){mt_a_tensor(x), mt_a_tensor(like)}, 2, NULL, 0) : NULL;
}

static mt_tensor *op1(mt_tracer *tr, mt_op_id id, mt_tensor *x) {
    return x ? mt_tr_op1(tr, id, (mt_arg[]){mt_a_tensor(x)}, 1, NULL, 0) : NULL;
}

/* Llama4TextRMSNorm (weight) and Llama4TextL2Norm (no weight):
 * _norm(x.float()).type_as(x) [* weight]. */
static mt_tensor *norm_forward(mt_tracer *tr, mt_module *n, mt_tensor *x) {
    if (!x || !n) return NULL;
    const mt_arg *eps = mt_module_get_attr(n, "eps");
    mt_tr_enter(tr, n);
    mt_tensor *h = mt_to(tr, x, MT_FLOAT32);
    mt_tensor *var = mt_reduce(tr, MT_OP_MEAN, mt_pow_s(tr, h, 2), -1, true);
    h = mt_mul(tr, h, mt_unary(tr, MT_OP_RSQRT, mt_add_s(tr, var, eps ? eps->v.f : 1e-5)));
    h = type_as(tr, h, x);
    const mt_norm_h *nh = mt_module_bound(n, &mt_norm_h_kind); /* none: Llama4TextL2Norm has no weight */
    if (nh) h = mt_mul(tr, h, mt_tr_get_attr(tr, nh->weight));
    mt_tr_leave(tr);
    return h;
}

/* freqs_cis [1, seq, head_dim/2] complex64. */
static mt_tensor *rotary(mt_tracer *tr, mt_module *rot, mt_tensor *pos, double scaling) {
    const mt_rope_h *rh = MT_BOUND(tr, rot, mt_rope_h);
    if (!rh) return NULL;
    mt_tr_enter(tr, rot);
    mt_tensor *inv = mt_tr_get_attr(tr, rh->inv_freq);
    mt_arg i1[3] = {mt_a_none(), mt_a_slice(NULL, NULL, NULL), mt_a_none()};
    mt_tensor *invx = mt_to(tr, mt_index(tr, inv, i1, 3), MT_FLOAT32);
    const mt_sym *ex[3] = {pos ? pos->shape[0] : NULL, NULL, C(tr, 1)};
    invx = mt_expand(tr, invx, 3, ex);
    mt_arg i2[3] = {mt_a_slice(NULL, NULL, NULL), mt_a_none(), mt_a_slice(NULL, NULL, NULL)};
    mt_tensor *posx = mt_to(tr, mt_index(tr, pos, i2, 3), MT_FLOAT32);
    mt_tensor *freqs = mt_transpose(tr, mt_matmul(tr, invx, posx), 1, 2);
    mt_tensor *ones = op1(tr, MT_OP_ONES_LIKE, freqs);
    mt_tensor *fc = ones && freqs ? mt_tr_op1(tr, MT_OP_POLAR, (mt_arg[]){mt_a_tensor(ones), mt_a_tensor(freqs)}, 2,
                                              NULL, 0)
                                  : NULL;
    fc = mt_mul_s(tr, fc, scaling);
    mt_tr_leave(tr);
    return fc;
}

/* apply_rotary_emb on one of q, k: view_as_real(view_as_complex(x.float()
 * .reshape(..., -1, 2)) * freqs_cis[:, :, None, :]).flatten(3), then type_as(x)
 * (the caller sequences the two type_as calls after both products). */
static mt_tensor *to_complex(mt_tracer *tr, mt_tensor *x) {
    if (!x) return NULL;
    const mt_sym *rs[5] = {x->shape[0], x->shape[1], x->shape[2], NULL, C(tr, 2)};
    return op1(tr, MT_OP_VIEW_AS_COMPLEX, mt_reshape(tr, mt_to(tr, x, MT_FLOAT32), 5, rs));
}

static mt_tensor *rotate(mt_tracer *tr, mt_tensor *xc, mt_tensor *fc) {
    mt_arg idx[4] = {mt_a_slice(NULL, NULL, NULL), mt_a_slice(NULL, NULL, NULL), mt_a_none(),
                     mt_a_slice(NULL, NULL, NULL)};
    mt_tensor *f4 = mt_index(tr, fc, idx, 4);
    mt_tensor *r = op1(tr, MT_OP_VIEW_AS_REAL, mt_mul(tr, xc, f4));
    return r ? mt_tr_op1(tr, MT_OP_FLATTEN, (mt_arg[]){mt_a_tensor(r), mt_a_int(3)}, 2, NULL, 0) : NULL;
}

/* mask[:, :, :, :k_len] */
static mt_tensor *slice_mask(mt_tracer *tr, mt_tensor *mask, const mt_tensor *k) {
    if (!mask || !k) return NULL;
    mt_arg idx[4] = {mt_a_slice(NULL, NULL, NULL), mt_a_slice(NULL, NULL, NULL), mt_a_slice(NULL, NULL, NULL),
                     mt_a_slice(NULL, k->shape[2], NULL)};
    return mt_index(tr, mask, idx, 4);
}

/* Llama 4's eager_attention_forward: as Llama's but softmax without the
 * float32 cast. */
static mt_tensor *eager(mt_tracer *tr, mt_tensor *q, mt_tensor *k, mt_tensor *v, mt_tensor *mask, int64_t n_rep,
                        double scaling) {
    k = mt_dec_repeat_kv(tr, k, n_rep);
    v = mt_dec_repeat_kv(tr, v, n_rep);
    mt_tensor *w = mt_mul_s(tr, mt_matmul(tr, q, mt_transpose(tr, k, 2, 3)), scaling);
    if (mask) w = mt_add(tr, w, slice_mask(tr, mask, k));
    w = mt_softmax(tr, w, -1, MT_DTYPE_NONE);
    w = w ? mt_tr_op1(tr, MT_OP_DROPOUT, (mt_arg[]){mt_a_tensor(w)}, 1,
                      (mt_kwarg[]){{"p", mt_a_float(0.0)}, {"training", mt_a_bool(false)}}, 2)
          : NULL;
    return mt_contiguous(tr, mt_transpose(tr, mt_matmul(tr, w, v), 1, 2));
}

static mt_tensor *attn_forward(mt_tracer *tr, mt_module *at, mt_tensor *x, mt_tensor *mask, mt_tensor *fc,
                               mt_tensor *cache_pos, const mt_dec_spec *s, bool use_rope) {
    if (!x || !at) return NULL;
    const mt_attn_h *ah = MT_BOUND(tr, at, mt_attn_h);
    if (!ah) return NULL;
    const l4 *f = ((const mt_moe_model *)s->ext)->fam;
    const mt_sym *b = x->shape[0], *sq = x->shape[1];
    mt_tr_enter(tr, at);
    const mt_sym *hs[4] = {b, sq, NULL, C(tr, s->head_dim)};
    mt_tensor *q = mt_view(tr, mt_tr_call(tr, ah->q, x), 4, hs);
    mt_tensor *k = mt_view(tr, mt_tr_call(tr, ah->k, x), 4, hs);
    mt_tensor *v = mt_transpose(tr, mt_view(tr, mt_tr_call(tr, ah->v, x), 4, hs), 1, 2);
    if (use_rope) {
        mt_tensor *qc = to_complex(tr, q), *kc = to_complex(tr, k);
        mt_tensor *qo = rotate(tr, qc, fc), *ko = rotate(tr, kc, fc);
        mt_tensor *qt = type_as(tr, qo, q), *kt = type_as(tr, ko, k);
        q = qt;
        k = kt;
    }
    mt_module *qkn = ah->q_norm; /* NULL but on RoPE layers with use_qk_norm */
    if (qkn) {
        q = norm_forward(tr, qkn, q);
        k = norm_forward(tr, qkn, k);
    }
    if (f->temp_tuning && !use_rope && q && cache_pos) {
        mt_dtype qdt = q->dtype;
        mt_tensor *t = mt_add_s(tr, mt_to(tr, cache_pos, MT_FLOAT32), 1.0);
        t = !t ? NULL
            : f->floor_scale_int ? mt_tr_op1(tr, MT_OP_TRUEDIV, (mt_arg[]){mt_a_tensor(t), mt_a_int((int64_t)f->floor_scale)},
                                             2, NULL, 0)
                                 : mt_div_s(tr, t, f->floor_scale);
        t = op1(tr, MT_OP_LOG1P, op1(tr, MT_OP_FLOOR, t));
        t = mt_add_s(tr, mt_mul_s(tr, t, f->attn_scale), 1.0);
        const mt_sym *vs[4] = {C(tr, 1), sq, C(tr, 1), C(tr, 1)}, *es[4] = {b, sq, C(tr, 1), C(tr, 1)};
        t = mt_expand(tr, mt_view(tr, t, 4, vs), 4, es);
        q = mt_to(tr, mt_mul(tr, q, t), qdt);
    }
    q = mt_transpose(tr, q, 1, 2);
    k = mt_transpose(tr, k, 1, 2);
    int64_t n_rep = s->heads / s->kv_heads;
    mt_tensor *o;
    if (tr->model->attn == MT_ATTN_IMPL_EAGER) {
        o = eager(tr, q, k, v, mask, n_rep, 1.0 / sqrt((double)s->head_dim));
    } else {
        mt_attn_args aa = {.n_rep = n_rep, .sdpa_slice = true};
        o = mt_attn_forward(tr, MT_ATTN_IMPL_SDPA, q, k, v, mask, &aa);
    }
    const mt_sym *os[3] = {b, sq, NULL};
    o = mt_contiguous(tr, mt_reshape(tr, o, 3, os));
    o = mt_tr_call(tr, ah->o, o);
    mt_tr_leave(tr);
    return o;
}

/* Llama4TextMLP: down_proj(activation_fn(gate_proj(x)) * up_proj(x)). */
static mt_tensor *mlp_forward(mt_tracer *tr, mt_module *mlp, mt_tensor *x) {
    if (!x || !mlp) return NULL;
    const mt_mlp_h *mh = MT_BOUND(tr, mlp, mt_mlp_h);
    if (!mh) return NULL;
    mt_tr_enter(tr, mlp);
    mt_tensor *gp = mt_tr_call(tr, mh->gate, x);
    mt_tensor *g = mt_act_forward(tr, mh->act, gp);
    mt_tensor *u = mt_tr_call(tr, mh->up, x);
    mt_tensor *y = mt_tr_call(tr, mh->down, mt_mul(tr, g, u));
    mt_tr_leave(tr);
    return y;
}

/* Llama4TextMoe on x [b, s, hidden] -> [b*s, hidden]. */
static mt_tensor *moe_forward(mt_tracer *tr, mt_module *ff, mt_tensor *x, const mt_dec_spec *s) {
    if (!x || !ff) return NULL;
    const l4_moe_h *fh = MT_BOUND(tr, ff, l4_moe_h);
    if (!fh) return NULL;
    const mt_moe_spec *e = &((const mt_moe_model *)s->ext)->moe;
    int64_t E = e->num_experts;
    const mt_sym *H = C(tr, s->hidden), *r2[2] = {NULL, H};
    mt_tr_enter(tr, ff);
    mt_tensor *hs = mt_reshape(tr, x, 2, r2);
    /* router */
    mt_tr_enter(tr, fh->router);
    mt_tensor *w = mt_tr_get_attr(tr, fh->router_w);
    mt_tensor *logits = hs && w ? mt_tr_op1(tr, MT_OP_LINEAR, (mt_arg[]){mt_a_tensor(hs), mt_a_tensor(w), mt_a_none()},
                                            3, NULL, 0)
                                : NULL;
    mt_node *tk = logits ? mt_tr_op(tr, MT_OP_TOPK, (mt_arg[]){mt_a_tensor(logits), mt_a_int(e->top_k)}, 2,
                                    (mt_kwarg[]){{"dim", mt_a_int(1)}}, 1)
                         : NULL;
    mt_tensor *tv = mt_tr_item(tr, tk, 0), *ti = mt_tr_item(tr, tk, 1);
    mt_tensor *sc = logits ? mt_tr_op1(tr, MT_OP_FULL_LIKE, (mt_arg[]){mt_a_tensor(logits), mt_a_float(-INFINITY)}, 2,
                                       NULL, 0)
                           : NULL;
    sc = sc && ti && tv ? mt_tr_op1(tr, MT_OP_SCATTER,
                                    (mt_arg[]){mt_a_tensor(sc), mt_a_int(1), mt_a_tensor(ti), mt_a_tensor(tv)}, 4, NULL, 0)
                        : NULL;
    mt_dtype sdt = sc ? sc->dtype : s->dtype;
    sc = mt_to(tr, op1(tr, MT_OP_SIGMOID, mt_to(tr, sc, MT_FLOAT32)), sdt);
    mt_tr_leave(tr);
    /* routed input: x.repeat(E, 1) * scores.transpose(0, 1).reshape(-1, 1) */
    mt_tensor *ri = hs ? mt_tr_op1(tr, MT_OP_REPEAT, (mt_arg[]){mt_a_tensor(hs), mt_a_int(E), mt_a_int(1)}, 3, NULL, 0)
                       : NULL;
    const mt_sym *c1[2] = {NULL, C(tr, 1)};
    ri = mt_mul(tr, ri, mt_reshape(tr, mt_transpose(tr, sc, 0, 1), 2, c1));
    /* experts: bmm over every expert */
    mt_tr_enter(tr, fh->experts);
    const mt_sym *e3[3] = {C(tr, E), NULL, H};
    mt_tensor *h3 = mt_view(tr, ri, 3, e3);
    mt_tensor *gup = mt_tr_get_attr(tr, fh->gate_up);
    mt_tensor *gu = h3 && gup ? mt_tr_op1(tr, MT_OP_BMM, (mt_arg[]){mt_a_tensor(h3), mt_a_tensor(gup)}, 2, NULL, 0)
                              : NULL;
    mt_node *ch = mt_chunk(tr, gu, 2, -1);
    mt_tensor *gate = mt_tr_item(tr, ch, 0), *up = mt_tr_item(tr, ch, 1);
    mt_tensor *act = mt_act_forward(tr, fh->act, gate);
    mt_tensor *prod = mt_mul(tr, up, act);
    mt_tensor *dp = mt_tr_get_attr(tr, fh->down);
    mt_tensor *nx = prod && dp ? mt_tr_op1(tr, MT_OP_BMM, (mt_arg[]){mt_a_tensor(prod), mt_a_tensor(dp)}, 2, NULL, 0)
                               : NULL;
    nx = mt_view(tr, nx, 2, r2);
    mt_tr_leave(tr);
    /* shared expert, then + the routed outputs summed over the experts */
    mt_tensor *out = mlp_forward(tr, fh->shared, hs);
    mt_tensor *r3 = mt_reshape(tr, nx, 3, e3);
    mt_tensor *sum = mt_reduce(tr, MT_OP_SUM, r3, 0, false);
    out = out && sum ? mt_tr_op1(tr, MT_OP_ADD_, (mt_arg[]){mt_a_tensor(out), mt_a_tensor(sum)}, 2, NULL, 0) : NULL;
    mt_tr_leave(tr);
    return out;
}

/* The chunked variant of the causal mask: keys in another chunk than the
 * query's are masked too (cache_position // chunk != arange // chunk). */
static mt_tensor *chunked_mask(mt_tracer *tr, mt_tensor *mask, mt_tensor *cache_pos, int64_t chunk, mt_dtype dt) {
    if (!mask || !cache_pos) return NULL;
    const mt_sym *rs[2] = {NULL, C(tr, 1)};
    mt_tensor *qp = mt_reshape(tr, cache_pos, 2, rs);
    mt_tensor *qb = qp ? mt_tr_op1(tr, MT_OP_FLOORDIV, (mt_arg[]){mt_a_tensor(qp), mt_a_int(chunk)}, 2, NULL, 0) : NULL;
    mt_tensor *ar = mt_tr_op1(tr, MT_OP_ARANGE, (mt_arg[]){mt_a_dim(cache_pos->shape[0])}, 1, NULL, 0);
    mt_tensor *kb = ar ? mt_tr_op1(tr, MT_OP_FLOORDIV, (mt_arg[]){mt_a_tensor(ar), mt_a_int(chunk)}, 2, NULL, 0) : NULL;
    mt_tensor *other = qb && kb ? mt_tr_op1(tr, MT_OP_NE, (mt_arg[]){mt_a_tensor(qb), mt_a_tensor(kb)}, 2, NULL, 0) : NULL;
    if (!other) return NULL;
    return mt_tr_op1(tr, MT_OP_MASKED_FILL,
                     (mt_arg[]){mt_a_tensor(mask), mt_a_tensor(other), mt_a_float(mt_dtype_min(dt))}, 3, NULL, 0);
}

/* ---- the vision tower and the projector (model_type llama4) ----
 * After modeling_llama4.py (Llama4VisionModel and below, Llama4MultiModalProjector,
 * Llama4ForConditionalGeneration.forward) and Llama4VisionConfig's defaults.
 *
 * Parameters, in registration order (Llama4ForConditionalGeneration.__init__:
 * vision_model, multi_modal_projector, language_model; the checkpoints store these
 * names, base_model_prefix "model" is not applied to them):
 *   vision_model (Llama4VisionModel): class_embedding [hidden] and
 *     positional_embedding_vlm [side^2 + 1, hidden] (its own parameters, listed before
 *     its children's as named_parameters does), patch_embedding
 *     (Llama4UnfoldConvolution: unfold nn.Unfold(kernel (patch, patch), stride patch),
 *     linear [hidden, channels * patch^2], no bias), rotary_embedding
 *     (Llama4VisionRotaryEmbedding), layernorm_pre, layernorm_post (nn.LayerNorm(hidden),
 *     eps 1e-5: norm_eps is not read), model (Llama4VisionEncoder: layers of
 *     Llama4VisionEncoderLayer: self_attn (q/k/v/o_proj with bias, heads of
 *     hidden // heads), mlp (Llama4VisionMLP: activation_fn nn.GELU(), fc1, fc2 with
 *     bias), input_layernorm, post_attention_layernorm), vision_adapter
 *     (Llama4VisionPixelShuffleMLP: mlp (Llama4VisionMLP2: fc1 [projector_input_dim,
 *     intermediate_size], fc2 [projector_output_dim, projector_output_dim], no biases,
 *     activation_fn nn.GELU())); hidden_act is not read (nn.GELU() is hard-coded);
 *   multi_modal_projector (Llama4MultiModalProjector): linear_1 [text hidden,
 *     vision_output_dim], no bias (multi_modal_projector_bias is not read).
 * rotary_embedding keeps freqs_ci [side^2 + 1, 1, head_dim / 2] complex64 as a plain
 * tensor attribute computed at construction (neither a parameter nor a buffer, so in
 * no checkpoint); it is listed here as a non-persistent computed buffer, the get_attr
 * torch.fx records for such an attribute.
 *
 * Forward (Llama4VisionModel.forward on pixel_values [images, channels, image_size,
 * image_size]): unfold, permute(0, 2, 1), linear; reshape(images, patches, hidden);
 * cat with class_embedding.expand(images, 1, hidden) on dim 1 (the class token last);
 * reshape(images, 1, patches + 1, hidden) + positional_embedding_vlm.to(dtype=...);
 * layernorm_pre; view(images, -1, hidden); freqs_ci; each layer: residual +
 * self_attn(input_layernorm(h)), residual + mlp(post_attention_layernorm(h)) (fc1,
 * activation_fn, fc2); the attention: q, k, v viewed [images, tokens, -1, head_dim],
 * vision_apply_rotary_emb (view_as_complex(x.float().reshape(..., -1, 2)) *
 * freqs_ci.view(1, tokens, 1, head_dim / 2), view_as_real, flatten(3), type_as, q
 * then k), q, k, v transposed, attention without a mask and not causal (sdpa without
 * scale=, or Llama 4's eager with head_dim^-0.5 and no float32 softmax: the vision
 * tower uses it for "eager" and "flex_attention"), reshape(images, tokens, -1)
 * .contiguous(), o_proj; layernorm_post; [:, :-1, :] drops the class token;
 * pixel_shuffle (view(images, side, side, -1), view(images, side, int(side * r),
 * int(hidden / r)), permute(0, 2, 1, 3).contiguous(), view(images, int(side * r),
 * int(side * r), int(hidden / r^2)), permute(0, 2, 1, 3).contiguous(), view(images,
 * -1, hidden / r^2)) and the adapter MLP (fc1, activation_fn, F.dropout(p =
 * projector_dropout, training False), fc2, activation_fn).
 * Then (Llama4ForConditionalGeneration.forward): the token embedding
 * (get_input_embeddings); image_features.view(-1, size(-1)); multi_modal_projector;
 * .to(inputs_embeds.dtype); special_image_mask = (input_ids == image_token_index)
 * .unsqueeze(-1).expand_as(inputs_embeds); inputs_embeds.masked_scatter; the language
 * model on inputs_embeds. Left out, as for gemma3 and mistral3: get_placeholder_mask's
 * checks (mask.sum() and the numel comparison, validation only) and the .to(device)
 * moves. Every pixel_values row is one tile of vision_config.image_size (Llama4's
 * image processor resizes and cuts images into such tiles), int(side * r)^2 image
 * tokens each; `images` (the tile count) is an input symbol bounded by
 * [1, batch * seq // tokens per tile]. */
struct l4_vision {
    int64_t hidden, intermediate, layers, heads, head_dim, channels, image_size, patch_size;
    int64_t side;                 /* image_size // patch_size patches a side */
    int64_t ps_w, ps_c, ps_c2;    /* pixel shuffle: int(side * r), int(hidden / r), int(hidden / r^2) */
    int64_t tokens;               /* image tokens per tile: ps_w^2 */
    int64_t proj_in, proj_out, out_dim, text_hidden, image_token;
    double ratio, dropout, rope_theta;
    mt_dtype dtype;
    mt_module *tower, *proj;
};

/* image_token_index, or image_token_id when only that is given (Llama4Config.attribute_map). */
static const char *image_token_field(const mt_config *top) {
    return mt_config_has(top, "image_token_index") || !mt_config_has(top, "image_token_id") ? "image_token_index"
                                                                                            : "image_token_id";
}

static mt_config *l4_need_sub(mt_model *m, mt_config *top, const char *field, const char *what) {
    mt_config *c = mt_config_sub(top, field);
    if (!c && mt_ctx_status(m->ctx) == MT_OK)
        mt_config_error(top, field, "expected a %s object (%s); --text-only traces the language model alone", field,
                        what);
    return c;
}

/* Llama4VisionConfig (configuration_llama4.py defaults) from `vc`; the projector's
 * text side from `tc` (NULL: Llama4TextConfig's defaults). Shapes that would not
 * run in transformers' forward are refused here, with the field named. */
static mt_status l4_vision_read(mt_model *m, mt_config *top, mt_config *vc, mt_config *tc, l4_vision *v) {
    const char *vt = NULL;
    if (!mt_config_str(vc, "model_type", "llama4_vision_model", &vt)) return mt_ctx_status(m->ctx);
    if (strcmp(vt, "llama4_vision_model") != 0)
        return mt_config_error(vc, "model_type", "expected \"llama4_vision_model\" (Llama4VisionConfig), got \"%s\"",
                               vt);
    if (!mt_config_pos_int(vc, "hidden_size", 768, &v->hidden) ||
        !mt_config_pos_int(vc, "intermediate_size", 5632, &v->intermediate) ||
        !mt_config_pos_int(vc, "num_hidden_layers", 34, &v->layers) ||
        !mt_config_pos_int(vc, "num_attention_heads", 16, &v->heads) ||
        !mt_config_pos_int(vc, "num_channels", 3, &v->channels) ||
        !mt_config_pos_int(vc, "image_size", 448, &v->image_size) ||
        !mt_config_pos_int(vc, "patch_size", 14, &v->patch_size) ||
        !mt_config_pos_int(vc, "vision_output_dim", 7680, &v->out_dim) ||
        !mt_config_pos_int(vc, "projector_input_dim", 4096, &v->proj_in) ||
        !mt_config_pos_int(vc, "projector_output_dim", 4096, &v->proj_out) ||
        !mt_config_float(vc, "pixel_shuffle_ratio", 0.5, &v->ratio) ||
        !mt_config_float(vc, "projector_dropout", 0.0, &v->dropout) ||
        !mt_config_float(vc, "rope_theta", 10000.0, &v->rope_theta) ||
        !mt_config_float(vc, "rope_parameters.rope_theta", v->rope_theta, &v->rope_theta))
        return mt_ctx_status(m->ctx);
    /* the projector's width: text_config.hidden_size, as the language model reads it */
    v->text_hidden = l4_defaults.hidden;
    if ((tc && !mt_config_pos_int(tc, "hidden_size", l4_defaults.hidden, &v->text_hidden)) ||
        !mt_config_int(top, image_token_field(top), 200092, &v->image_token))
        return mt_ctx_status(m->ctx);
    static const char *const sized[] = {"image_size", "patch_size", "num_channels"};
    const int64_t vals[] = {v->image_size, v->patch_size, v->channels};
    for (int i = 0; i < 3; i++)
        if (vals[i] > MT_MAX_HIDDEN)
            return mt_config_error(vc, sized[i], "%lld is more than the limit of %d (docs/cli.md, Limits)",
                                   (long long)vals[i], MT_MAX_HIDDEN);
    if (v->image_size < v->patch_size)
        return mt_config_error(vc, "patch_size", "patch_size %lld is larger than image_size %lld",
                               (long long)v->patch_size, (long long)v->image_size);
    v->side = v->image_size / v->patch_size; /* the unfold's blocks a side: floor((s - p) / p) + 1 */
    /* Llama4VisionAttention: head_dim = hidden // heads; the 2-D rotary splits head_dim / 2
     * complex channels into x and y halves, which broadcast only when 4 divides head_dim */
    v->head_dim = v->hidden / v->heads;
    if (v->head_dim == 0 || v->head_dim % 4 != 0)
        return mt_config_error(vc, "num_attention_heads",
                               "head_dim %lld (hidden_size %lld // num_attention_heads %lld) is not a positive "
                               "multiple of 4: Llama4VisionRotaryEmbedding's x and y frequencies would not "
                               "broadcast against the complex q/k",
                               (long long)v->head_dim, (long long)v->hidden, (long long)v->heads);
    if (!(v->ratio > 0) || v->ratio > 1)
        return mt_config_error(vc, "pixel_shuffle_ratio", "expected a ratio in (0, 1], got %g", v->ratio);
    /* pixel_shuffle's views (Python's int() truncation of the float products) must keep the
     * element count: side * side * hidden */
    v->ps_w = (int64_t)((double)v->side * v->ratio);
    v->ps_c = (int64_t)((double)v->hidden / v->ratio);
    v->ps_c2 = (int64_t)((double)v->hidden / (v->ratio * v->ratio));
    if (v->ps_w < 1 || v->side * v->ps_w * v->ps_c != v->side * v->side * v->hidden ||
        v->ps_w * v->ps_w * v->ps_c2 != v->side * v->side * v->hidden)
        return mt_config_error(vc, "pixel_shuffle_ratio",
                               "a %lld x %lld patch grid of %lld channels does not pixel-shuffle by %g (the views to "
                               "%lld x %lld x %lld and %lld x %lld x %lld change the element count)",
                               (long long)v->side, (long long)v->side, (long long)v->hidden, v->ratio,
                               (long long)v->side, (long long)v->ps_w, (long long)v->ps_c, (long long)v->ps_w,
                               (long long)v->ps_w, (long long)v->ps_c2);
    v->tokens = v->ps_w * v->ps_w;
    if (v->intermediate != v->ps_c2)
        return mt_config_error(vc, "intermediate_size",
                               "%lld is not the %lld channels the pixel shuffle gives (hidden_size / "
                               "pixel_shuffle_ratio^2): Llama4VisionMLP2's fc1 reads intermediate_size features",
                               (long long)v->intermediate, (long long)v->ps_c2);
    if (v->proj_out != v->proj_in)
        return mt_config_error(vc, "projector_output_dim",
                               "%lld differs from projector_input_dim %lld: Llama4VisionMLP2's fc2 "
                               "(projector_output_dim in) reads fc1's projector_input_dim features",
                               (long long)v->proj_out, (long long)v->proj_in);
    if (v->out_dim != v->proj_out)
        return mt_config_error(vc, "vision_output_dim",
                               "%lld differs from projector_output_dim %lld: multi_modal_projector.linear_1 "
                               "(vision_output_dim in) reads the vision adapter's output",
                               (long long)v->out_dim, (long long)v->proj_out);
    if (m->num_layers > 0 && m->num_layers < v->layers) v->layers = m->num_layers;
    v->dtype = m->dtype;
    return MT_OK;
}

/* vision_model and multi_modal_projector under m->root, in __init__ order. */
static mt_status l4_vision_build(mt_model *m, l4_vision *v) {
    mt_ctx *ctx = m->ctx;
    mt_dtype dt = v->dtype;
    mt_device dev = MT_DEVICE_CPU;
    mt_module *tower = mt_module_new(ctx, m->root, "vision_model", "Llama4VisionModel");
    l4_vision_h *th = MT_BIND(ctx, tower, l4_vision_h);
    mt_module *pe = th ? th->pe = mt_module_new(ctx, tower, "patch_embedding", "Llama4UnfoldConvolution") : NULL;
    mt_module *uf = pe ? th->unfold = mt_module_new(ctx, pe, "unfold", "Unfold") : NULL;
    if (!uf) return mt_ctx_status(ctx);
    int64_t k[2] = {v->patch_size, v->patch_size};
    mt_module_attr(ctx, uf, "kernel_size", mt_a_ints(ctx, k, 2));
    mt_module_attr(ctx, uf, "dilation", mt_a_int(1));
    mt_module_attr(ctx, uf, "padding", mt_a_int(0));
    mt_module_attr(ctx, uf, "stride", mt_a_int(v->patch_size));
    int64_t npos[2] = {v->side * v->side + 1, v->hidden};
    if (!(th->linear = mt_nn_linear(ctx, pe, "linear", v->channels * v->patch_size * v->patch_size, v->hidden, false,
                                    dt, dev)) ||
        !(th->class_emb = mt_param_new(ctx, tower, "class_embedding", dt, dev, 1, &v->hidden)) ||
        !(th->pos_emb = mt_param_new(ctx, tower, "positional_embedding_vlm", dt, dev, 2, npos)))
        return mt_ctx_status(ctx);
    mt_module *rot = th->rot = mt_module_new(ctx, tower, "rotary_embedding", "Llama4VisionRotaryEmbedding");
    if (!rot) return mt_ctx_status(ctx);
    mt_module_attr(ctx, rot, "rope_theta", mt_a_float(v->rope_theta));
    int64_t fs[3] = {v->side * v->side + 1, 1, v->head_dim / 2};
    if (!(th->freqs = mt_buffer_new(ctx, rot, "freqs_ci", MT_COMPLEX64, dev, 3, fs, false, true)) ||
        !(th->ln_pre = mt_nn_layernorm(ctx, tower, "layernorm_pre", v->hidden, 1e-5, true, true, dt, dev)) ||
        !(th->ln_post = mt_nn_layernorm(ctx, tower, "layernorm_post", v->hidden, 1e-5, true, true, dt, dev)))
        return mt_ctx_status(ctx);
    mt_module *enc = th->enc = mt_module_new(ctx, tower, "model", "Llama4VisionEncoder");
    mt_module *layers = enc ? th->layers = mt_module_new(ctx, enc, "layers", "ModuleList") : NULL;
    if (!layers) return mt_ctx_status(ctx);
    int64_t hh = v->heads * v->head_dim;
    for (int64_t i = 0; i < v->layers; i++) {
        char idx[24];
        snprintf(idx, sizeof idx, "%lld", (long long)i);
        mt_module *L = mt_module_new(ctx, layers, idx, "Llama4VisionEncoderLayer");
        l4_vlayer_h *lh = MT_BIND(ctx, L, l4_vlayer_h);
        mt_module *at = lh ? lh->attn = mt_module_new(ctx, L, "self_attn", "Llama4VisionAttention") : NULL;
        mt_attn_h *ah = MT_BIND(ctx, at, mt_attn_h);
        if (!ah) return mt_ctx_status(ctx);
        mt_module_attr(ctx, at, "num_heads", mt_a_int(v->heads));
        mt_module_attr(ctx, at, "head_dim", mt_a_int(v->head_dim));
        if (!(ah->q = mt_nn_linear(ctx, at, "q_proj", v->hidden, hh, true, dt, dev)) ||
            !(ah->k = mt_nn_linear(ctx, at, "k_proj", v->hidden, hh, true, dt, dev)) ||
            !(ah->v = mt_nn_linear(ctx, at, "v_proj", v->hidden, hh, true, dt, dev)) ||
            !(ah->o = mt_nn_linear(ctx, at, "o_proj", hh, v->hidden, true, dt, dev)))
            return mt_ctx_status(ctx);
        mt_module *mlp = lh->mlp = mt_module_new(ctx, L, "mlp", "Llama4VisionMLP");
        mt_module *act = mlp ? mt_act_new(m, mlp, "activation_fn", "gelu", "hidden_act") : NULL;
        mt_module *fc1 = act ? mt_nn_linear(ctx, mlp, "fc1", v->hidden, v->intermediate, true, dt, dev) : NULL;
        mt_module *fc2 = fc1 ? mt_nn_linear(ctx, mlp, "fc2", v->intermediate, v->hidden, true, dt, dev) : NULL;
        if (!fc2 || mt_fc_mlp_bind(ctx, mlp, fc1, act, fc2) != MT_OK ||
            !(lh->ln1 = mt_nn_layernorm(ctx, L, "input_layernorm", v->hidden, 1e-5, true, true, dt, dev)) ||
            !(lh->ln2 = mt_nn_layernorm(ctx, L, "post_attention_layernorm", v->hidden, 1e-5, true, true, dt, dev)))
            return mt_ctx_status(ctx);
    }
    mt_module *ad = th->adapter = mt_module_new(ctx, tower, "vision_adapter", "Llama4VisionPixelShuffleMLP");
    mt_module *mlp2 = ad ? th->mlp2 = mt_module_new(ctx, ad, "mlp", "Llama4VisionMLP2") : NULL;
    if (!mlp2) return mt_ctx_status(ctx);
    mt_module_attr(ctx, ad, "pixel_shuffle_ratio", mt_a_float(v->ratio));
    if (!(th->fc1 = mt_nn_linear(ctx, mlp2, "fc1", v->intermediate, v->proj_in, false, dt, dev)) ||
        !(th->fc2 = mt_nn_linear(ctx, mlp2, "fc2", v->proj_out, v->proj_out, false, dt, dev)) ||
        !(th->act = mt_act_new(m, mlp2, "activation_fn", "gelu", "hidden_act")))
        return mt_ctx_status(ctx);
    mt_module *proj = mt_module_new(ctx, m->root, "multi_modal_projector", "Llama4MultiModalProjector");
    if (!proj || !(th->proj_linear = mt_nn_linear(ctx, proj, "linear_1", v->out_dim, v->text_hidden, false, dt, dev)))
        return mt_ctx_status(ctx);
    v->tower = tower;
    v->proj = proj;
    return MT_OK;
}

/* Llama4VisionAttention on x [images, tokens, hidden]. */
static mt_tensor *vision_attn(mt_tracer *tr, mt_module *at, mt_tensor *x, mt_tensor *freqs, const l4_vision *v) {
    if (!x || !at) return NULL;
    const mt_attn_h *ah = MT_BOUND(tr, at, mt_attn_h);
    if (!ah) return NULL;
    const mt_sym *b = x->shape[0], *n = x->shape[1];
    mt_tr_enter(tr, at);
    const mt_sym *hs[4] = {b, n, NULL, C(tr, v->head_dim)};
    mt_tensor *q = mt_view(tr, mt_tr_call(tr, ah->q, x), 4, hs);
    mt_tensor *k = mt_view(tr, mt_tr_call(tr, ah->k, x), 4, hs);
    mt_tensor *val = mt_view(tr, mt_tr_call(tr, ah->v, x), 4, hs);
    /* vision_apply_rotary_emb */
    mt_tensor *qc = to_complex(tr, q), *kc = to_complex(tr, k);
    const mt_sym *fb[4] = {C(tr, 1), n, C(tr, 1), C(tr, v->head_dim / 2)}; /* reshape_for_broadcast */
    mt_tensor *fv = mt_view(tr, freqs, 4, fb);
    mt_tensor *qr = op1(tr, MT_OP_VIEW_AS_REAL, mt_mul(tr, qc, fv));
    mt_tensor *qo = qr ? mt_tr_op1(tr, MT_OP_FLATTEN, (mt_arg[]){mt_a_tensor(qr), mt_a_int(3)}, 2, NULL, 0) : NULL;
    mt_tensor *kr = op1(tr, MT_OP_VIEW_AS_REAL, mt_mul(tr, kc, fv));
    mt_tensor *ko = kr ? mt_tr_op1(tr, MT_OP_FLATTEN, (mt_arg[]){mt_a_tensor(kr), mt_a_int(3)}, 2, NULL, 0) : NULL;
    mt_tensor *qt = type_as(tr, qo, q), *kt = type_as(tr, ko, k);
    q = mt_transpose(tr, qt, 1, 2);
    k = mt_transpose(tr, kt, 1, 2);
    val = mt_transpose(tr, val, 1, 2);
    mt_tensor *o;
    if (tr->model->attn == MT_ATTN_IMPL_EAGER) {
        o = eager(tr, q, k, val, NULL, 1, pow((double)v->head_dim, -0.5)); /* vision_eager_attention_forward */
    } else {
        mt_attn_args aa = {.n_rep = 1};
        o = mt_attn_forward(tr, MT_ATTN_IMPL_SDPA, q, k, val, NULL, &aa);
    }
    const mt_sym *os[3] = {b, n, NULL};
    o = mt_contiguous(tr, mt_reshape(tr, o, 3, os));
    o = mt_tr_call(tr, ah->o, o);
    mt_tr_leave(tr);
    return o;
}

/* Llama4VisionModel(pixel_values).last_hidden_state: [images, tokens, projector_output_dim]. */
static mt_tensor *vision_forward(mt_tracer *tr, const l4_vision *v, mt_tensor *px) {
    mt_module *tower = v->tower;
    const l4_vision_h *th = MT_BOUND(tr, tower, l4_vision_h);
    if (!px || !th) return NULL;
    mt_module *pe = th->pe, *uf = th->unfold, *enc = th->enc, *layers = th->layers, *ad = th->adapter, *mlp2 = th->mlp2;
    const mt_sym *imgs = px->shape[0], *H = C(tr, v->hidden), *np = C(tr, v->side * v->side);
    mt_tr_enter(tr, tower);
    /* patch_embedding: unfold (nn.Unfold's F.unfold(input, kernel_size, dilation, padding, stride)),
     * permute(0, 2, 1), linear */
    mt_tr_enter(tr, pe);
    mt_tr_enter(tr, uf);
    mt_tensor *h = mt_tr_op1(tr, MT_OP_UNFOLD,
                             (mt_arg[]){mt_a_tensor(px), *mt_module_get_attr(uf, "kernel_size"),
                                        *mt_module_get_attr(uf, "dilation"), *mt_module_get_attr(uf, "padding"),
                                        *mt_module_get_attr(uf, "stride")},
                             5, NULL, 0);
    mt_tr_leave(tr);
    static const int64_t p021[3] = {0, 2, 1};
    h = mt_permute(tr, h, 3, p021);
    h = mt_tr_call(tr, th->linear, h);
    mt_tr_leave(tr);
    /* the class token, appended last */
    const mt_sym *r3[3] = {imgs, np, H};
    h = mt_reshape(tr, h, 3, r3);
    mt_tensor *cls = mt_tr_get_attr(tr, th->class_emb);
    const mt_sym *ce[3] = {imgs, C(tr, 1), H};
    cls = mt_expand(tr, cls, 3, ce);
    mt_tensor *parts[2] = {h, cls};
    h = h && cls ? mt_cat(tr, parts, 2, 1) : NULL;
    const mt_sym *r4[4] = {imgs, C(tr, 1), C(tr, v->side * v->side + 1), H};
    h = mt_reshape(tr, h, 4, r4);
    mt_tensor *pos = mt_tr_get_attr(tr, th->pos_emb);
    pos = pos && h ? mt_tr_op1(tr, MT_OP_TO, (mt_arg[]){mt_a_tensor(pos)}, 1,
                               (mt_kwarg[]){{"dtype", mt_a_dtype(h->dtype)}}, 1)
                   : NULL;
    h = mt_add(tr, h, pos);
    h = mt_tr_call(tr, th->ln_pre, h);
    const mt_sym *r3b[3] = {imgs, NULL, H};
    h = mt_view(tr, h, 3, r3b);
    /* freqs_ci = self.rotary_embedding(pixel_values): the constant attribute (.to(device) not recorded) */
    mt_tr_enter(tr, th->rot);
    mt_tensor *freqs = mt_tr_get_attr(tr, th->freqs);
    mt_tr_leave(tr);
    mt_tr_enter(tr, enc);
    for (int i = 0; i < layers->children.n && h; i++) {
        mt_module *L = layers->children.items[i];
        const l4_vlayer_h *lh = MT_BOUND(tr, L, l4_vlayer_h);
        if (!lh) return NULL;
        mt_tr_enter(tr, L);
        mt_tensor *res = h;
        mt_tensor *a = mt_tr_call(tr, lh->ln1, h);
        a = vision_attn(tr, lh->attn, a, freqs, v);
        h = mt_add(tr, res, a);
        res = h;
        mt_tensor *f = mt_tr_call(tr, lh->ln2, h);
        f = mt_fc_mlp_forward(tr, lh->mlp, f);
        h = mt_add(tr, res, f);
        mt_tr_leave(tr);
    }
    mt_tr_leave(tr);
    h = mt_tr_call(tr, th->ln_post, h);
    /* hidden_state[:, :-1, :] */
    mt_arg drop[3] = {mt_a_slice(NULL, NULL, NULL), mt_a_slice(NULL, C(tr, -1), NULL), mt_a_slice(NULL, NULL, NULL)};
    h = h ? mt_index(tr, h, drop, 3) : NULL;
    /* vision_adapter: pixel_shuffle, then the MLP */
    mt_tr_enter(tr, ad);
    static const int64_t p0213[4] = {0, 2, 1, 3};
    const mt_sym *s1[4] = {imgs, C(tr, v->side), C(tr, v->side), NULL};
    const mt_sym *s2[4] = {imgs, C(tr, v->side), C(tr, v->ps_w), C(tr, v->ps_c)};
    const mt_sym *s3[4] = {imgs, C(tr, v->ps_w), C(tr, v->ps_w), C(tr, v->ps_c2)};
    const mt_sym *s4[3] = {imgs, NULL, C(tr, v->ps_c2)};
    h = mt_view(tr, h, 4, s1);
    h = mt_view(tr, h, 4, s2);
    h = mt_contiguous(tr, mt_permute(tr, h, 4, p0213));
    h = mt_view(tr, h, 4, s3);
    h = mt_contiguous(tr, mt_permute(tr, h, 4, p0213));
    h = mt_view(tr, h, 3, s4);
    mt_tr_enter(tr, mlp2);
    mt_module *act = th->act;
    h = mt_tr_call(tr, th->fc1, h);
    h = mt_act_forward(tr, act, h);
    h = h ? mt_tr_op1(tr, MT_OP_DROPOUT, (mt_arg[]){mt_a_tensor(h)}, 1,
                      (mt_kwarg[]){{"p", mt_a_float(v->dropout)}, {"training", mt_a_bool(false)}}, 2)
          : NULL;
    h = mt_tr_call(tr, th->fc2, h);
    h = mt_act_forward(tr, act, h);
    mt_tr_leave(tr);
    mt_tr_leave(tr);
    mt_tr_leave(tr);
    return h;
}

/* The image features scattered into the token embeddings (inputs_embeds). */
static mt_tensor *l4_merge(mt_tracer *tr, mt_model *m, const l4_vision *v, mt_tensor *ids, mt_tensor *embeds) {
    if (!embeds || m->inputs.n < 3) return NULL;
    mt_tensor *feat = vision_forward(tr, v, m->inputs.items[2]);
    const mt_sym *flat[2] = {NULL, feat ? feat->shape[2] : NULL};
    feat = feat ? mt_view(tr, feat, 2, flat) : NULL; /* image_features.view(-1, image_features.size(-1)) */
    const l4_vision_h *th = MT_BOUND(tr, v->tower, l4_vision_h);
    mt_tr_enter(tr, v->proj);
    feat = mt_tr_call(tr, th ? th->proj_linear : NULL, feat);
    mt_tr_leave(tr);
    feat = mt_to(tr, feat, embeds->dtype);
    mt_tensor *mask = mt_image_token_mask(tr, ids, v->image_token, embeds);
    return mt_masked_scatter(tr, embeds, mask, feat);
}

static mt_status l4_forward(mt_model *m, mt_tracer *tr) {
    const mt_moe_model *mm = m->family;
    const mt_dec_spec *s = &mm->dec;
    const l4 *f = mm->fam;
    if (f->vis) {
        mt_status st = mt_image_input(m, tr, f->vis->tokens, f->vis->channels, f->vis->image_size, s->dtype);
        if (st != MT_OK) return st;
    }
    mt_tensor *ids = m->inputs.items[0], *amask = m->inputs.items[1];
    mt_module *lm = s->root ? s->root : m->root; /* llama4: language_model */
    const mt_dec_h *dh = MT_BOUND(tr, lm, mt_dec_h);
    if (!dh) return mt_ctx_status(tr->ctx);
    mt_module *model = dh->model;
    mt_tensor *h;
    if (f->wrapped) { /* Llama4ForConditionalGeneration: get_input_embeddings()(input_ids), then the language model */
        h = mt_tr_call(tr, dh->embed, ids);
        if (f->vis) h = l4_merge(tr, m, f->vis, ids, h);
        mt_tr_enter(tr, lm);
        mt_tr_enter(tr, model);
    } else {
        mt_tr_enter(tr, model);
        h = mt_tr_call(tr, dh->embed, ids);
    }
    mt_tensor *cache_pos = mt_tr_op1(tr, MT_OP_ARANGE, (mt_arg[]){mt_a_dim(ids->shape[1])}, 1, NULL, 0);
    mt_tensor *pos = mt_unsqueeze(tr, cache_pos, 0);
    mt_tensor *full = mt_dec_causal_mask(tr, amask, cache_pos, s->dtype);
    bool any_chunked = false;
    for (int64_t i = 0; i < s->layers; i++) any_chunked = any_chunked || f->chunked[i];
    mt_tensor *chunked = NULL;
    if (any_chunked)
        chunked = chunked_mask(tr, mt_dec_causal_mask(tr, amask, cache_pos, s->dtype), cache_pos, f->chunk, s->dtype);
    mt_tensor *fc = rotary(tr, dh->rotary, pos, s->attention_scaling);
    mt_module *layers = dh->layers;
    for (int i = 0; layers && i < layers->children.n && h; i++) {
        mt_module *L = layers->children.items[i];
        const mt_dec_layer_h *lh = MT_BOUND(tr, L, mt_dec_layer_h);
        if (!lh) return mt_ctx_status(tr->ctx);
        mt_tr_enter(tr, L);
        mt_tensor *res = h;
        mt_tensor *a = norm_forward(tr, lh->norm[0], h);
        a = attn_forward(tr, lh->attn, a, f->chunked[i] ? chunked : full, fc, cache_pos, s, f->rope[i]);
        h = mt_add(tr, res, a);
        res = h;
        mt_tensor *x = norm_forward(tr, lh->norm[1], h);
        mt_module *ff = lh->mlp;
        x = f->moe[i] ? moe_forward(tr, ff, x, s) : mlp_forward(tr, ff, x);
        x = res ? mt_view(tr, x, res->ndim, res->shape) : NULL;
        h = mt_add(tr, res, x);
        mt_tr_leave(tr);
    }
    h = norm_forward(tr, dh->norm, h);
    mt_tr_leave(tr);
    mt_tensor *logits = mt_tr_call(tr, dh->lm_head, h);
    if (f->wrapped) mt_tr_leave(tr);
    return mt_tr_output(tr, &logits, 1);
}

/* ---- config ---- */

/* A boolean field that configs also write as a number (attn_temperature_tuning: 4
 * in Meta's exports; Python reads it by truthiness). */
static bool truthy(mt_model *m, const char *key, bool def, bool *out) {
    json_t *v = mt_config_json(m->cfg, key);
    if (!v || json_is_null(v)) return *out = def, true;
    if (json_is_integer(v)) return *out = json_integer_value(v) != 0, true;
    return mt_config_bool(m->cfg, key, def, out);
}

/* moe_layers (explicit list of layer indices) or every interleave_moe_layer_step-th
 * layer from step - 1. */
static bool read_moe_layers(mt_model *m, int64_t cfg_layers, int64_t layers, bool *moe) {
    json_t *v = mt_config_json(m->cfg, "moe_layers");
    if (v && !json_is_null(v)) {
        if (!json_is_array(v))
            return mt_config_error(m->cfg, "moe_layers", "expected a list of layer indices (%s)", m->model_type),
                   false;
        for (size_t k = 0; k < json_array_size(v); k++) {
            json_t *e = json_array_get(v, k);
            if (!json_is_integer(e) || json_integer_value(e) < 0 || json_integer_value(e) >= cfg_layers) {
                char field[48];
                snprintf(field, sizeof field, "moe_layers.%zu", k);
                mt_config_error(m->cfg, field, "expected a layer index in [0, %lld) (num_hidden_layers) (%s)",
                                (long long)cfg_layers, m->model_type);
                return false;
            }
            if (json_integer_value(e) < layers) moe[json_integer_value(e)] = true;
        }
        return true;
    }
    int64_t step;
    if (!mt_config_pos_int(m->cfg, "interleave_moe_layer_step", 1, &step)) return false;
    for (int64_t i = step - 1; i < layers; i += step) moe[i] = true;
    return true;
}

/* layer_types: "chunked_attention" / "full_attention" per layer (default: chunked
 * where RoPE). */
static bool read_layer_types(mt_model *m, int64_t cfg_layers, int64_t layers, const bool *rope, bool *chunked) {
    json_t *v = mt_config_json(m->cfg, "layer_types");
    if (!v || json_is_null(v)) {
        for (int64_t i = 0; i < layers; i++) chunked[i] = rope[i];
        return true;
    }
    if (!json_is_array(v) || (int64_t)json_array_size(v) != cfg_layers)
        return mt_config_error(m->cfg, "layer_types", "expected %lld entries (num_hidden_layers) (%s)",
                               (long long)cfg_layers, m->model_type),
               false;
    for (int64_t i = 0; i < layers; i++) {
        char field[48];
        snprintf(field, sizeof field, "layer_types.%lld", (long long)i);
        const char *t;
        if (!mt_config_str(m->cfg, field, NULL, &t)) return false;
        if (strcmp(t, "chunked_attention") == 0) chunked[i] = true;
        else if (strcmp(t, "full_attention") == 0) chunked[i] = false;
        else
            return mt_config_error(m->cfg, field, "expected \"chunked_attention\" or \"full_attention\", got \"%s\" (%s)",
                                   t, m->model_type),
                   false;
    }
    return true;
}

static mt_status l4_build_common(mt_model *m, mt_module *root, mt_dtype force_dt) {
    mt_ctx *ctx = m->ctx;
    mt_moe_model *mm = mt_moe_model_new(m);
    l4 *f = mt_alloc(ctx, sizeof *f);
    if (!mm || !f) return mt_ctx_status(ctx);
    mm->fam = f;
    f->wrapped = root != NULL;
    mt_dec_spec *s = &mm->dec;
    s->root = root; /* NULL: m->root; llama4: language_model */
    s->cls = l4_names;
    s->names.mlp = "feed_forward";
    int64_t cfg_layers;
    if (!mt_config_pos_int(m->cfg, "num_hidden_layers", l4_defaults.layers, &cfg_layers)) return mt_ctx_status(ctx);
    if (mt_dec_read_common(m, s, &l4_defaults) != MT_OK || mt_dec_read_rope(m, s) != MT_OK) return mt_ctx_status(ctx);
    if (force_dt != MT_DTYPE_NONE) s->dtype = force_dt;
    mt_config *c = m->cfg;
    bool bias;
    int64_t interval;
    if (!mt_config_bool(c, "attention_bias", false, &bias) ||
        !mt_config_pos_int(c, "intermediate_size_mlp", 16384, &f->inter_mlp) ||
        !mt_config_bool(c, "use_qk_norm", true, &f->qk_norm) || !truthy(m, "attn_temperature_tuning", true, &f->temp_tuning) ||
        !mt_config_float(c, "floor_scale", 8192, &f->floor_scale) || !mt_config_float(c, "attn_scale", 0.1, &f->attn_scale) ||
        !mt_config_pos_int(c, "no_rope_layer_interval", 4, &interval))
        return mt_ctx_status(ctx);
    if (!(f->floor_scale > 0))
        return mt_config_error(c, "floor_scale", "expected a positive number, got %g (%s)", f->floor_scale, m->model_type);
    json_t *fs = mt_config_json(c, "floor_scale");
    f->floor_scale_int = !fs || json_is_integer(fs);
    s->qkv_bias = s->o_bias = bias;
    /* no_rope_layers: 1 = RoPE; absent, null or empty: NoPE every interval-th layer */
    const bool *rope_cfg = NULL;
    json_t *nr = mt_config_json(c, "no_rope_layers");
    if (nr && json_is_array(nr) && json_array_size(nr) == 0) nr = NULL;
    if (nr && !mt_dec_read_layer_flags(m, "no_rope_layers", cfg_layers, s->layers, &rope_cfg)) return mt_ctx_status(ctx);
    bool *rope = mt_alloc_array(ctx, (size_t)s->layers, sizeof *rope);
    bool *moe = mt_alloc_array(ctx, (size_t)s->layers, sizeof *moe);
    bool *chunked = mt_alloc_array(ctx, (size_t)s->layers, sizeof *chunked);
    if (!rope || !moe || !chunked) return mt_ctx_status(ctx);
    for (int64_t i = 0; i < s->layers; i++) rope[i] = rope_cfg ? rope_cfg[i] : (i + 1) % interval != 0;
    if (!read_moe_layers(m, cfg_layers, s->layers, moe) || !read_layer_types(m, cfg_layers, s->layers, rope, chunked))
        return mt_ctx_status(ctx);
    f->rope = rope, f->moe = moe, f->chunked = chunked;
    bool any_chunked = false;
    for (int64_t i = 0; i < s->layers; i++) any_chunked |= chunked[i];
    if (!mt_dec_read_window(m, "attention_chunk_size", 8192, &f->chunk)) return mt_ctx_status(ctx);
    if (any_chunked && f->chunk <= 0)
        return mt_config_error(c, "attention_chunk_size",
                               "layer_types has chunked_attention layers but attention_chunk_size is not set (%s)",
                               m->model_type);
    mt_moe_spec *e = &mm->moe;
    e->block_cls = "Llama4TextMoe";
    e->expert_inter = s->intermediate;
    if (!mt_config_pos_int(c, "num_local_experts", 16, &e->num_experts) ||
        !mt_config_pos_int(c, "num_experts_per_tok", 1, &e->top_k))
        return mt_ctx_status(ctx);
    if (e->top_k > e->num_experts)
        return mt_config_error(c, "num_experts_per_tok", "num_experts_per_tok %lld exceeds num_local_experts %lld (%s)",
                               (long long)e->top_k, (long long)e->num_experts, m->model_type);
    s->hooks.build_attn = build_attn;
    s->hooks.build_mlp = build_mlp;
    if (mt_dec_build(m, s) != MT_OK) return mt_ctx_status(ctx);
    int64_t nope = 0, nmoe = 0;
    for (int64_t i = 0; i < s->layers; i++) nope += !rope[i], nmoe += moe[i];
    mt_model_info(m, "intermediate_size_mlp", mt_a_int(f->inter_mlp));
    mt_model_info(m, "num_local_experts", mt_a_int(e->num_experts));
    mt_model_info(m, "num_experts_per_tok", mt_a_int(e->top_k));
    mt_model_info(m, "moe_layers", mt_a_int(nmoe));
    mt_model_info(m, "nope_layers", mt_a_int(nope));
    if (any_chunked) mt_model_info(m, "attention_chunk_size", mt_a_int(f->chunk));
    return MT_OK;
}

static mt_status l4_text_build(mt_model *m) { return l4_build_common(m, NULL, MT_DTYPE_NONE); }

/* model_type llama4 (Llama4ForConditionalGeneration): vision_model and
 * multi_modal_projector from vision_config, then text_config's language model
 * under language_model (the checkpoint's names). The model dtype is the top-level
 * config's (from_pretrained reads it there); text_config's own, if any, agrees in
 * Meta's exports. */
static mt_status l4_build(mt_model *m) {
    mt_ctx *ctx = m->ctx;
    mt_config *top = m->cfg, *sub = mt_config_sub(top, "text_config");
    if (mt_ctx_status(ctx) != MT_OK) return mt_ctx_status(ctx);
    if (!sub && mt_config_has(top, "text_config"))
        return mt_config_error(top, "text_config", "expected an object (Llama4TextConfig's fields) (%s)", m->model_type);
    /* vision_config absent: Llama4VisionConfig's defaults, which do not run in transformers
     * (hidden 768 shuffles into 3072 channels, fc1 takes intermediate_size 5632) */
    mt_config *vc = l4_need_sub(m, top, "vision_config",
                                "Llama4VisionConfig; its defaults do not run: hidden_size 768 pixel-shuffles into 3072 "
                                "channels where fc1 takes intermediate_size 5632");
    if (!vc) return mt_ctx_status(ctx);
    l4_vision *v = mt_alloc(ctx, sizeof *v);
    if (!v) return mt_ctx_status(ctx);
    /* the tower first: --layers (m->num_layers) still holds the request */
    m->cfg = vc;
    mt_status st = l4_vision_read(m, top, vc, sub, v);
    if (st == MT_OK) st = l4_vision_build(m, v);
    m->cfg = top;
    if (st != MT_OK) return st;
    mt_module *lm = mt_module_new(ctx, m->root, "language_model", "Llama4ForCausalLM");
    if (!lm) return mt_ctx_status(ctx);
    if (sub) m->cfg = sub; /* no text_config: Llama4TextConfig's defaults (the top level has none of its keys) */
    st = l4_build_common(m, lm, m->dtype);
    m->cfg = top;
    if (st != MT_OK) return st;
    mt_moe_model *mm = m->family;
    l4 *f = mm->fam;
    if (v->image_token < 0 || v->image_token >= mm->dec.vocab)
        return mt_config_error(top, image_token_field(top), "image token %lld outside the vocabulary (%lld)",
                               (long long)v->image_token, (long long)mm->dec.vocab);
    f->vis = v;
    mt_vision_info(m, v->hidden, v->intermediate, v->layers, v->heads, v->image_size, v->patch_size);
    mt_model_info(m, "pixel_shuffle_ratio", mt_a_float(v->ratio));
    mt_model_info(m, "image_tokens_per_image", mt_a_int(v->tokens));
    mt_model_info(m, "image_token_index", mt_a_int(v->image_token));
    const char *tiles = mt_sprintf(ctx,
                                   "each pixel_values row is one %lld x %lld px tile (vision_config.image_size, as "
                                   "Llama4's processor cuts images), %lld image tokens (docs/cli.md, Multimodal "
                                   "models)",
                                   (long long)v->image_size, (long long)v->image_size, (long long)v->tokens);
    m->note = m->note ? mt_sprintf(ctx, "%s; %s", m->note, tiles) : tiles;
    return MT_OK;
}

/* The active count (mt_moe_totals) and, for llama4, the language model alone. */
static mt_status l4_totals(const mt_model *m, mt_totals *t) {
    mt_status st = mt_moe_totals(m, t);
    const mt_moe_model *mm = m->family;
    if (st != MT_OK || !mm) return st;
    const l4 *f = mm->fam;
    if (f && f->vis && mm->dec.root) {
        if (!mt_params_under(m->ctx, mm->dec.root, &t->text_params)) return mt_ctx_status(m->ctx);
        t->text_param_bytes = t->text_params * (int64_t)mt_dtype_size(mm->dec.dtype);
    }
    return MT_OK;
}

const mt_arch mt_arch_llama4_text = {
    .model_type = "llama4_text",
    .default_class = "Llama4ForCausalLM",
    .example = "meta-llama/Llama-4-Scout-17B-16E (text_config)",
    .build = l4_text_build,
    .forward = l4_forward,
    .totals = mt_moe_totals,
};

const mt_arch mt_arch_llama4 = {
    .model_type = "llama4",
    .default_class = "Llama4ForConditionalGeneration",
    .example = "meta-llama/Llama-4-Scout-17B-16E",
    .build = l4_build,
    .forward = l4_forward,
    .totals = l4_totals,
};
