/* Shared mixture-of-experts blocks (see moe.h).
 *
 * What the graph records for one sparse block, following transformers' eager
 * forwards (MixtralSparseMoeBlock, Qwen2MoeSparseMoeBlock, Qwen3MoeSparseMoeBlock,
 * OlmoeSparseMoeBlock, DeepseekV2Moe / DeepseekV3MoE / Glm4MoeMoE, HunYuanMoEV1Moe):
 *   x.view(-1, hidden); router logits (the `gate` Linear, or F.linear in
 *   float32 for DeepSeek); softmax / sigmoid; torch.topk (+ DeepSeek's
 *   group-limited selection); renormalization; the one_hot expert mask and its
 *   permute; then for EVERY expert e (transformers loops over all experts):
 *     mask[e] -> torch.nonzero(.., as_tuple=True)   (== torch.where(mask[e]))
 *       the count of routed (token, slot) pairs is a fresh symbol nnz_k in
 *       [0, batch*seq*top_k] (the numel of mask[e]); its origin says which
 *       expert of which layer it counts;
 *     the expert's inputs  x[top_x]            recorded as torch.index_select(x, 0, top_x)
 *     the routing weights  w[top_x, idx, None] recorded as index_select + gather(1, idx[:, None])
 *     expert(inputs) * weights, .to(dtype), final.index_add_(0, top_x, ..)
 *   shared experts (and Qwen2-MoE's sigmoid shared_expert_gate) are added;
 *   Hunyuan runs its shared MLP first and its gate casts the 3-D input to
 *   float32 for the float32 `wg` before the view.
 * Simplified bookkeeping: the advanced indexing above (our getitem has no
 * tensor indices) and DeepSeek's `if token_indices.numel() > 0` guard (every
 * expert is recorded, as the loop may run for any of them); `.max().values`
 * of DeepSeek-V2's group scores is recorded as amax. Shapes and dtypes are
 * those of the eager forward. */
#include <string.h>

#include "moe.h"

static const mt_sym *C(mt_tracer *tr, int64_t v) { return mt_sym_const(tr->ctx, v); }

const mt_handle_kind mt_moe_h_kind = {"mt_moe_h"};

mt_moe_model *mt_moe_model_new(mt_model *m) {
    mt_moe_model *mm = mt_alloc(m->ctx, sizeof *mm);
    if (!mm) return NULL;
    mm->dec.ext = mm;
    m->family = mm;
    return mm;
}

bool mt_moe_add_routed(mt_model *m, mt_moe_model *mm, mt_module *mod, int64_t num_experts, int64_t top_k) {
    mt_moe_routed *r = mt_alloc(m->ctx, sizeof *r);
    if (!r) return false;
    r->mod = mod;
    r->num_experts = num_experts;
    r->top_k = top_k;
    return mt_vec_push(m->ctx, &mm->routed, r);
}

/* ---- construction ---- */

static mt_module *expert_mlp(mt_model *m, const mt_moe_model *mm, mt_module *parent, const char *name,
                             const char *cls, int64_t inter) {
    const mt_dec_spec *s = &mm->dec;
    if (!mm->moe.mixtral_names) return mt_dec_gated_mlp(m, s, parent, name, cls, inter);
    mt_ctx *ctx = m->ctx;
    mt_module *e = mt_module_new(ctx, parent, name, cls);
    mt_mlp_h *h = MT_BIND(ctx, e, mt_mlp_h); /* w1 the gate, w2 down, w3 up */
    if (!h || !(h->gate = mt_nn_linear(ctx, e, "w1", s->hidden, inter, false, s->dtype, MT_DEVICE_CPU)) ||
        !(h->down = mt_nn_linear(ctx, e, "w2", inter, s->hidden, false, s->dtype, MT_DEVICE_CPU)) ||
        !(h->up = mt_nn_linear(ctx, e, "w3", s->hidden, inter, false, s->dtype, MT_DEVICE_CPU)) ||
        !(h->act = mt_act_new(m, e, "act_fn", s->hidden_act, "hidden_act")))
        return NULL;
    return e;
}

/* Hunyuan's gate: a module holding wg = nn.Linear(hidden, E, bias=False, dtype=torch.float32). */
static mt_module *wg_router(mt_model *m, const mt_moe_model *mm, mt_module *blk, mt_moe_h *h) {
    mt_ctx *ctx = m->ctx;
    const mt_moe_spec *e = &mm->moe;
    mt_module *g = mt_module_new(ctx, blk, "gate", e->router_cls);
    if (!g || !(h->wg = mt_nn_linear(ctx, g, "wg", mm->dec.hidden, e->num_experts, false, MT_FLOAT32, MT_DEVICE_CPU)))
        return NULL;
    return g;
}

static bool is_deepseek(const mt_moe_spec *e) {
    return e->router == MT_ROUTE_DEEPSEEK_V2 || e->router == MT_ROUTE_DEEPSEEK_V3;
}

static mt_module *v3_router(mt_model *m, const mt_moe_model *mm, mt_module *blk, mt_moe_h *h) {
    mt_ctx *ctx = m->ctx;
    const mt_moe_spec *e = &mm->moe;
    mt_module *g = mt_module_new(ctx, blk, "gate", e->router_cls);
    if (!g) return NULL;
    mt_module_attr(ctx, g, "top_k", mt_a_int(e->top_k));
    mt_module_attr(ctx, g, "n_routed_experts", mt_a_int(e->num_experts));
    mt_module_attr(ctx, g, "n_group", mt_a_int(e->n_group));
    mt_module_attr(ctx, g, "topk_group", mt_a_int(e->topk_group));
    int64_t w[2] = {e->num_experts, mm->dec.hidden};
    /* weight: nn.Parameter(empty(E, hidden)) in the model dtype;
     * e_score_correction_bias: a persistent float32 buffer (saved in the checkpoint). */
    if (!(h->gate_weight = mt_param_new(ctx, g, "weight", mm->dec.dtype, MT_DEVICE_CPU, 2, w)) ||
        !(h->gate_bias = mt_buffer_new(ctx, g, "e_score_correction_bias", MT_FLOAT32, MT_DEVICE_CPU, 1,
                                       &e->num_experts, true, false)))
        return NULL;
    return g;
}

mt_module *mt_moe_build(mt_model *m, mt_moe_model *mm, mt_module *parent, const char *name) {
    mt_ctx *ctx = m->ctx;
    const mt_moe_spec *e = &mm->moe;
    const mt_dec_spec *s = &mm->dec;
    mt_module *blk = mt_module_new(ctx, parent, name, e->block_cls);
    mt_moe_h *h = MT_BIND(ctx, blk, mt_moe_h);
    if (!h) return NULL;
    mt_module_attr(ctx, blk, "num_experts", mt_a_int(e->num_experts));
    mt_module_attr(ctx, blk, "top_k", mt_a_int(e->top_k));
    bool deepseek = is_deepseek(e);
    /* registration order as in __init__: Mixtral/Qwen/Hunyuan gate then experts;
     * DeepSeek experts then gate then shared_experts. */
    if (e->router == MT_ROUTE_GATE_WG_FP32 ? !(h->gate = wg_router(m, mm, blk, h))
        : !deepseek && !(h->gate = mt_nn_linear(ctx, blk, e->router_name ? e->router_name : "gate", s->hidden,
                                                e->num_experts, false, s->dtype, MT_DEVICE_CPU)))
        return NULL;
    mt_module *ex = h->experts = mt_module_new(ctx, blk, "experts", "ModuleList");
    if (!ex) return NULL;
    for (int64_t i = 0; i < e->num_experts; i++) {
        char idx[24];
        snprintf(idx, sizeof idx, "%lld", (long long)i);
        if (!expert_mlp(m, mm, ex, idx, e->expert_cls, e->expert_inter)) return NULL;
    }
    if (!mt_moe_add_routed(m, mm, ex, e->num_experts, e->top_k)) return NULL;
    if (e->router == MT_ROUTE_DEEPSEEK_V3 && !(h->gate = v3_router(m, mm, blk, h))) return NULL;
    /* V2: the Linear's weight, read by F.linear in float32 */
    if (e->router == MT_ROUTE_DEEPSEEK_V2 &&
        (!(h->gate = mt_nn_linear(ctx, blk, "gate", s->hidden, e->num_experts, false, s->dtype, MT_DEVICE_CPU)) ||
         !(h->gate_weight = mt_bind_param(ctx, h->gate, "weight"))))
        return NULL;
    if (e->shared_name) {
        if (!(h->shared = mt_dec_gated_mlp(m, s, blk, e->shared_name, e->shared_cls, e->shared_inter))) return NULL;
        if (e->shared_gate &&
            !(h->shared_gate = mt_nn_linear(ctx, blk, "shared_expert_gate", s->hidden, 1, false, s->dtype,
                                            MT_DEVICE_CPU)))
            return NULL;
    }
    return blk;
}

/* ---- forward ---- */

static mt_tensor *expert_forward(mt_tracer *tr, mt_module *ex, mt_tensor *x, const mt_moe_model *mm) {
    if (!mm->moe.mixtral_names) return mt_dec_mlp_forward(tr, ex, x, &mm->dec);
    /* MixtralBlockSparseTop2MLP: w2(act_fn(w1(x)) * w3(x)) */
    const mt_mlp_h *eh = MT_BOUND(tr, ex, mt_mlp_h);
    if (!eh) return NULL;
    mt_tr_enter(tr, ex);
    mt_tensor *g1 = mt_tr_call(tr, eh->gate, x);
    mt_tensor *g = mt_act_forward(tr, eh->act, g1);
    mt_tensor *u = mt_tr_call(tr, eh->up, x);
    mt_tensor *y = mt_tr_call(tr, eh->down, mt_mul(tr, g, u));
    mt_tr_leave(tr);
    return y;
}

static mt_tensor *op(mt_tracer *tr, mt_op_id id, const mt_arg *a, int n, const mt_kwarg *kw, int nkw) {
    return mt_tr_op1(tr, id, a, n, kw, nkw);
}

mt_node *mt_moe_where(mt_tracer *tr, mt_tensor *hit, int64_t e, const char *path) {
    if (!hit) return NULL;
    mt_node *nz = mt_tr_op(tr, MT_OP_NONZERO, (mt_arg[]){mt_a_tensor(hit)}, 1,
                           (mt_kwarg[]){{"as_tuple", mt_a_bool(true)}}, 1);
    if (!nz) return NULL;
    mt_symbol_info *info = mt_sym_info_of(tr->ctx, nz->outs[0].shape[0]);
    if (info) info->origin = mt_sprintf(tr->ctx, "tokens routed to expert %lld of %s", (long long)e, path);
    return nz;
}

mt_tensor *mt_moe_slot_weights(mt_tracer *tr, mt_tensor *w, mt_tensor *tok, mt_tensor *slot) {
    if (!w || !tok || !slot) return NULL;
    mt_tensor *ws = op(tr, MT_OP_INDEX_SELECT, (mt_arg[]){mt_a_tensor(w), mt_a_int(0), mt_a_tensor(tok)}, 3, NULL, 0);
    mt_tensor *si = mt_unsqueeze(tr, slot, -1);
    return ws && si ? op(tr, MT_OP_GATHER, (mt_arg[]){mt_a_tensor(ws), mt_a_int(1), mt_a_tensor(si)}, 3, NULL, 0) : NULL;
}

/* ---- fused 3-D experts (moe.h) ---- */

const mt_handle_kind mt_moe_fused_h_kind = {"mt_moe_fused_h"};

mt_module *mt_moe_fused_build(mt_model *m, mt_module *parent, const char *name, const char *cls, int64_t num_experts,
                              int64_t hidden, int64_t inter, const char *act, const char *act_field, mt_dtype dtype,
                              bool in_out) {
    mt_ctx *ctx = m->ctx;
    mt_module *ex = mt_module_new(ctx, parent, name, cls);
    mt_moe_fused_h *h = MT_BIND(ctx, ex, mt_moe_fused_h);
    int64_t gu[3] = {num_experts, 2 * inter, hidden}, dn[3] = {num_experts, hidden, inter};
    if (in_out) gu[1] = hidden, gu[2] = 2 * inter, dn[1] = inter, dn[2] = hidden;
    if (!h || !(h->gate_up = mt_param_new(ctx, ex, "gate_up_proj", dtype, MT_DEVICE_CPU, 3, gu)) ||
        !(h->down = mt_param_new(ctx, ex, "down_proj", dtype, MT_DEVICE_CPU, 3, dn)) ||
        !(h->act = mt_act_new(m, ex, "act_fn", act, act_field)))
        return NULL;
    h->num_experts = num_experts;
    h->in_out = in_out;
    mt_module_attr(ctx, ex, "num_experts", mt_a_int(num_experts));
    return ex;
}

/* op() that records nothing when a tensor argument is missing (an earlier failure). */
static mt_tensor *op_t(mt_tracer *tr, mt_op_id id, const mt_arg *a, int n, const mt_kwarg *kw, int nkw) {
    for (int i = 0; i < n; i++)
        if (a[i].kind == MT_ARG_TENSOR && !a[i].v.t) return NULL;
    return mt_tr_op1(tr, id, a, n, kw, nkw);
}

mt_tensor *mt_moe_fused_forward(mt_tracer *tr, mt_module *ex, mt_tensor *x, mt_tensor *idx, mt_tensor *w) {
    if (!x || !ex || !idx || !w) return NULL;
    const mt_moe_fused_h *h = MT_BOUND(tr, ex, mt_moe_fused_h);
    if (!h) return NULL;
    mt_tr_enter(tr, ex);
    mt_tensor *final = op_t(tr, MT_OP_ZEROS_LIKE, (mt_arg[]){mt_a_tensor(x)}, 1, NULL, 0);
    mt_tensor *mask = op_t(tr, MT_OP_ONE_HOT, (mt_arg[]){mt_a_tensor(idx)}, 1,
                           (mt_kwarg[]){{"num_classes", mt_a_int(h->num_experts)}}, 1);
    static const int64_t p210[3] = {2, 1, 0};
    mask = mt_permute(tr, mask, 3, p210); /* [E, k, T] */
    for (int64_t e = 0; e < h->num_experts && final; e++) {
        mt_tensor *me = op_t(tr, MT_OP_GETITEM, (mt_arg[]){mt_a_tensor(mask), mt_a_int(e)}, 2, NULL, 0);
        mt_node *nz = mt_moe_where(tr, me, e, ex->path); /* torch.where(expert_mask[expert_idx]) */
        if (!nz) break;
        mt_tensor *slot = mt_tr_item(tr, nz, 0), *tok = mt_tr_item(tr, nz, 1);
        /* hidden_states[token_idx], recorded as index_select (this file's convention) */
        mt_tensor *cur = op_t(tr, MT_OP_INDEX_SELECT, (mt_arg[]){mt_a_tensor(x), mt_a_int(0), mt_a_tensor(tok)}, 3,
                              NULL, 0);
        mt_tensor *gw = mt_tr_get_attr(tr, h->gate_up);
        gw = op_t(tr, MT_OP_GETITEM, (mt_arg[]){mt_a_tensor(gw), mt_a_int(e)}, 2, NULL, 0);
        mt_tensor *gu = h->in_out ? (cur && gw ? mt_matmul(tr, cur, gw) : NULL)
                                  : op_t(tr, MT_OP_LINEAR, (mt_arg[]){mt_a_tensor(cur), mt_a_tensor(gw)}, 2, NULL, 0);
        mt_node *ch = mt_chunk(tr, gu, 2, -1);
        mt_tensor *gate = mt_tr_item(tr, ch, 0), *up = mt_tr_item(tr, ch, 1);
        mt_tensor *y = mt_act_forward(tr, h->act, gate);
        y = mt_mul(tr, y, up);
        mt_tensor *dw = mt_tr_get_attr(tr, h->down);
        dw = op_t(tr, MT_OP_GETITEM, (mt_arg[]){mt_a_tensor(dw), mt_a_int(e)}, 2, NULL, 0);
        y = h->in_out ? (y && dw ? mt_matmul(tr, y, dw) : NULL)
                      : op_t(tr, MT_OP_LINEAR, (mt_arg[]){mt_a_tensor(y), mt_a_tensor(dw)}, 2, NULL, 0);
        y = mt_mul(tr, y, mt_moe_slot_weights(tr, w, tok, slot)); /* top_k_weights[token_idx, top_k_pos, None] */
        y = mt_to(tr, y, x->dtype);
        final = op_t(tr, MT_OP_INDEX_ADD,
                     (mt_arg[]){mt_a_tensor(final), mt_a_int(0), mt_a_tensor(tok), mt_a_tensor(y)}, 4, NULL, 0);
    }
    mt_tr_leave(tr);
    return final;
}

/* Group-limited selection mask (DeepSeek): scores [T, E] -> scores with the
 * experts outside the topk_group best groups set to 0. `group_scores` [T, G]. */
static mt_tensor *group_limit(mt_tracer *tr, mt_tensor *scores, mt_tensor *group_scores, const mt_moe_spec *e) {
    mt_node *gt = mt_tr_op(tr, MT_OP_TOPK, (mt_arg[]){mt_a_tensor(group_scores), mt_a_int(e->topk_group)}, 2,
                           (mt_kwarg[]){{"dim", mt_a_int(-1)}, {"sorted", mt_a_bool(false)}}, 2);
    mt_tensor *gidx = mt_tr_item(tr, gt, 1);
    mt_tensor *gmask = group_scores ? op(tr, MT_OP_ZEROS_LIKE, (mt_arg[]){mt_a_tensor(group_scores)}, 1, NULL, 0) : NULL;
    gmask = gmask && gidx ? op(tr, MT_OP_SCATTER, (mt_arg[]){mt_a_tensor(gmask), mt_a_int(1), mt_a_tensor(gidx), mt_a_int(1)}, 4, NULL, 0) : NULL;
    const mt_sym *ex3[3] = {NULL, C(tr, e->n_group), C(tr, e->num_experts / e->n_group)};
    mt_tensor *sm = mt_expand(tr, mt_unsqueeze(tr, gmask, -1), 3, ex3);
    const mt_sym *rs[2] = {NULL, C(tr, e->num_experts)};
    sm = mt_reshape(tr, sm, 2, rs);
    sm = sm ? op(tr, MT_OP_INVERT, (mt_arg[]){mt_a_tensor(mt_to(tr, sm, MT_BOOL))}, 1, NULL, 0) : NULL;
    if (!sm || !scores) return NULL;
    return op(tr, MT_OP_MASKED_FILL, (mt_arg[]){mt_a_tensor(scores), mt_a_tensor(sm), mt_a_float(0.0)}, 3, NULL, 0);
}

/* Router: fills the top-k expert indices [T, k] (int64) and weights [T, k]. */
static void route(mt_tracer *tr, const mt_moe_h *bh, mt_tensor *x2, const mt_moe_model *mm, mt_tensor **idx,
                  mt_tensor **w) {
    const mt_moe_spec *e = &mm->moe;
    mt_kwarg dimk[1] = {{"dim", mt_a_int(-1)}};
    *idx = *w = NULL;
    if (e->router == MT_ROUTE_SOFTMAX_TOPK || e->router == MT_ROUTE_GATE_WG_FP32) {
        mt_tensor *logits;
        if (e->router == MT_ROUTE_GATE_WG_FP32) {
            /* gate(x): x.reshape(-1, hidden), .float() (wg is float32), wg(x); x2 is the 3-D input here */
            mt_module *gate = bh->gate;
            mt_tr_enter(tr, gate);
            const mt_sym *rs[2] = {NULL, x2 ? x2->shape[x2->ndim - 1] : NULL};
            mt_tensor *xf = mt_to(tr, mt_reshape(tr, x2, 2, rs), MT_FLOAT32);
            logits = mt_tr_call(tr, bh->wg, xf);
            mt_tr_leave(tr);
        } else {
            logits = mt_tr_call(tr, bh->gate, x2);
        }
        mt_tensor *rw = logits ? op(tr, MT_OP_SOFTMAX, (mt_arg[]){mt_a_tensor(logits)}, 1,
                                    (mt_kwarg[]){{"dim", mt_a_int(1)}, {"dtype", mt_a_dtype(MT_FLOAT32)}}, 2) : NULL;
        mt_node *tk = rw ? mt_tr_op(tr, MT_OP_TOPK, (mt_arg[]){mt_a_tensor(rw), mt_a_int(e->top_k)}, 2, dimk, 1) : NULL;
        rw = mt_tr_item(tr, tk, 0);
        *idx = mt_tr_item(tr, tk, 1);
        if (e->norm_topk) rw = mt_div(tr, rw, mt_reduce(tr, MT_OP_SUM, rw, -1, true));
        *w = mt_to(tr, rw, x2 ? x2->dtype : MT_FLOAT32);
        return;
    }
    mt_module *gate = bh->gate;
    /* router_logits = F.linear(x.type(float32), weight.type(float32)) */
    if (e->router == MT_ROUTE_DEEPSEEK_V3) mt_tr_enter(tr, gate);
    mt_tensor *xf = mt_to(tr, x2, MT_FLOAT32);
    mt_tensor *wt = mt_to(tr, mt_tr_get_attr(tr, bh->gate_weight), MT_FLOAT32);
    mt_tensor *logits = xf && wt ? op(tr, MT_OP_LINEAR, (mt_arg[]){mt_a_tensor(xf), mt_a_tensor(wt)}, 2, NULL, 0) : NULL;
    mt_tensor *scores, *choice;
    if (e->router == MT_ROUTE_DEEPSEEK_V3) {
        scores = mt_unary(tr, MT_OP_SIGMOID, logits);
        const mt_sym *vs[2] = {NULL, C(tr, e->num_experts)};
        mt_tensor *bias = mt_tr_get_attr(tr, bh->gate_bias);
        /* scores.view(-1, n) + bias.unsqueeze(0): the unsqueeze is recorded first, as the goldens have it */
        mt_tensor *bias0 = mt_unsqueeze(tr, bias, 0);
        choice = mt_add(tr, mt_view(tr, scores, 2, vs), bias0);
        const mt_sym *gs[3] = {NULL, C(tr, e->n_group), C(tr, e->num_experts / e->n_group)};
        mt_node *t2 = mt_tr_op(tr, MT_OP_TOPK, (mt_arg[]){mt_a_tensor(mt_view(tr, choice, 3, gs)), mt_a_int(2)}, 2,
                               dimk, 1);
        mt_tensor *gsc = mt_reduce(tr, MT_OP_SUM, mt_tr_item(tr, t2, 0), -1, false);
        choice = group_limit(tr, choice, gsc, e);
    } else {
        scores = logits ? op(tr, MT_OP_SOFTMAX, (mt_arg[]){mt_a_tensor(logits)}, 1,
                             (mt_kwarg[]){{"dim", mt_a_int(-1)}, {"dtype", mt_a_dtype(MT_FLOAT32)}}, 2) : NULL;
        choice = scores;
        if (e->group_limited) {
            /* router_logits.view(batch * seq, n_group, -1).max(dim=-1).values */
            const mt_sym *gs[3] = {scores ? scores->shape[0] : NULL, C(tr, e->n_group), NULL};
            mt_tensor *gsc = mt_reduce(tr, MT_OP_AMAX, mt_view(tr, scores, 3, gs), -1, false);
            choice = group_limit(tr, scores, gsc, e);
        }
    }
    mt_node *tk = choice ? mt_tr_op(tr, MT_OP_TOPK, (mt_arg[]){mt_a_tensor(choice), mt_a_int(e->top_k)}, 2,
                                    (mt_kwarg[]){{"dim", mt_a_int(-1)}, {"sorted", mt_a_bool(false)}}, 2) : NULL;
    mt_tensor *ti = mt_tr_item(tr, tk, 1), *tw;
    if (e->router == MT_ROUTE_DEEPSEEK_V3) {
        tw = scores && ti ? op(tr, MT_OP_GATHER, (mt_arg[]){mt_a_tensor(scores), mt_a_int(1), mt_a_tensor(ti)}, 3, NULL, 0) : NULL;
        if (e->norm_topk) tw = mt_div(tr, tw, mt_add_s(tr, mt_reduce(tr, MT_OP_SUM, tw, -1, true), 1e-20));
    } else {
        tw = mt_tr_item(tr, tk, 0);
    }
    *w = mt_mul_s(tr, tw, e->routed_scaling);
    *idx = ti;
    if (e->router == MT_ROUTE_DEEPSEEK_V3) mt_tr_leave(tr);
}

mt_tensor *mt_moe_forward(mt_tracer *tr, mt_module *blk, mt_tensor *x, const mt_moe_model *mm_in) {
    if (!x || !blk) return NULL;
    const mt_moe_h *bh = MT_BOUND(tr, blk, mt_moe_h);
    if (!bh) return NULL;
    mt_ctx *ctx = tr->ctx;
    /* this block's expert count and top-k (they may differ per layer) */
    mt_moe_model local = *mm_in;
    const mt_arg *ne = mt_module_get_attr(blk, "num_experts"), *tk = mt_module_get_attr(blk, "top_k");
    if (ne) local.moe.num_experts = ne->v.i;
    if (tk) local.moe.top_k = tk->v.i;
    const mt_moe_model *mm = &local;
    const mt_moe_spec *e = &mm->moe;
    bool deepseek = is_deepseek(e);
    mt_tr_enter(tr, blk);
    const mt_sym *b = x->shape[0], *sq = x->shape[1], *h = x->shape[2];
    const mt_sym *vs[2] = {NULL, h};
    mt_tensor *sh_first = NULL, *x2, *idx, *w;
    if (e->shared_first && e->shared_name)
        sh_first = mt_dec_mlp_forward(tr, bh->shared, x, &mm->dec);
    if (e->router == MT_ROUTE_GATE_WG_FP32) { /* the gate takes the 3-D input; the view follows it */
        route(tr, bh, x, mm, &idx, &w);
        x2 = mt_view(tr, x, 2, vs);
    } else {
        x2 = mt_view(tr, x, 2, vs);
        route(tr, bh, x2, mm, &idx, &w);
    }
    mt_tensor *final;
    if (deepseek) {
        final = x2 && w ? op(tr, MT_OP_ZEROS_LIKE, (mt_arg[]){mt_a_tensor(x2)}, 1,
                              (mt_kwarg[]){{"dtype", mt_a_dtype(w->dtype)}}, 1) : NULL;
    } else {
        const mt_sym *zs[2] = {mt_sym_mul(ctx, b, sq), h};
        final = op(tr, MT_OP_ZEROS, (mt_arg[]){mt_a_dims(ctx, zs, 2)}, 1, (mt_kwarg[]){{"dtype", mt_a_dtype(x->dtype)}}, 1);
    }
    /* Mixtral/Qwen: one_hot(selected).permute(2, 1, 0) -> [E, k, T], where -> (slot, token);
     * DeepSeek:    one_hot(topk_indices).permute(2, 0, 1) -> [E, T, k], where -> (token, slot). */
    mt_tensor *mask = idx ? op(tr, MT_OP_ONE_HOT, (mt_arg[]){mt_a_tensor(idx)}, 1,
                               (mt_kwarg[]){{"num_classes", mt_a_int(e->num_experts)}}, 1) : NULL;
    int64_t perm_m[3] = {2, 1, 0}, perm_d[3] = {2, 0, 1};
    mask = mt_permute(tr, mask, 3, deepseek ? perm_d : perm_m);
    mt_module *experts = bh->experts;
    for (int i = 0; i < experts->children.n && final; i++) {
        mt_module *ex = experts->children.items[i];
        mt_tensor *me = mask ? op(tr, MT_OP_GETITEM, (mt_arg[]){mt_a_tensor(mask), mt_a_int(i)}, 2, NULL, 0) : NULL;
        mt_node *nz = mt_moe_where(tr, me, i, blk->path);
        if (!nz) return NULL;
        mt_tensor *a0 = mt_tr_item(tr, nz, 0), *a1 = mt_tr_item(tr, nz, 1);
        mt_tensor *tok = deepseek ? a0 : a1, *slot = deepseek ? a1 : a0;
        mt_tensor *cur = op(tr, MT_OP_INDEX_SELECT, (mt_arg[]){mt_a_tensor(x2), mt_a_int(0), mt_a_tensor(tok)}, 3, NULL, 0);
        mt_tensor *y = expert_forward(tr, ex, cur, mm);
        y = mt_mul(tr, y, mt_moe_slot_weights(tr, w, tok, slot));
        if (!deepseek) y = mt_to(tr, y, x->dtype);
        final = y && tok ? op(tr, MT_OP_INDEX_ADD, (mt_arg[]){mt_a_tensor(final), mt_a_int(0), mt_a_tensor(tok), mt_a_tensor(y)}, 4, NULL, 0) : NULL;
    }
    if (deepseek) final = mt_to(tr, final, x->dtype);
    if (sh_first) { /* Hunyuan: final.reshape(b, s, h) + shared_mlp(x) */
        const mt_sym *os[3] = {b, sq, h};
        final = mt_add(tr, mt_reshape(tr, final, 3, os), sh_first);
        mt_tr_leave(tr);
        return final;
    }
    if (e->shared_name) {
        mt_tensor *in = deepseek ? x : x2;
        mt_tensor *sh = mt_dec_mlp_forward(tr, bh->shared, in, &mm->dec);
        if (e->shared_gate)
            sh = mt_mul(tr, mt_unary(tr, MT_OP_SIGMOID, mt_tr_call(tr, bh->shared_gate, x2)), sh);
        if (deepseek) {
            const mt_sym *os[3] = {b, sq, h};
            final = mt_add(tr, mt_view(tr, final, 3, os), sh);
            mt_tr_leave(tr);
            return final;
        }
        final = mt_add(tr, final, sh);
    }
    const mt_sym *os[3] = {b, sq, h};
    final = deepseek ? mt_view(tr, final, 3, os) : mt_reshape(tr, final, 3, os);
    mt_tr_leave(tr);
    return final;
}

mt_tensor *mt_moe_mlp_forward(mt_tracer *tr, mt_module *mlp, mt_tensor *x, const mt_dec_spec *s) {
    if (mlp && mt_module_bound(mlp, &mt_moe_h_kind)) return mt_moe_forward(tr, mlp, x, s->ext);
    return mt_dec_mlp_forward(tr, mlp, x, s);
}

/* ---- totals ---- */

mt_status mt_moe_totals(const mt_model *m, mt_totals *t) {
    const mt_moe_model *mm = m->family;
    if (!mm) return MT_OK;
    int64_t inactive = 0;
    for (int i = 0; i < mm->routed.n; i++) {
        const mt_moe_routed *r = mm->routed.items[i];
        int64_t n = 0;
        if (!mt_params_under(m->ctx, r->mod, &n)) return mt_ctx_status(m->ctx) ? mt_ctx_status(m->ctx) : MT_ERR_INTERNAL;
        if (n % r->num_experts != 0)
            return mt_fail(m->ctx, MT_ERR_INTERNAL, "%s: %lld expert parameters do not split into %lld experts",
                           r->mod->path, (long long)n, (long long)r->num_experts);
        inactive += n / r->num_experts * (r->num_experts - r->top_k);
    }
    t->active_params = t->params - inactive;
    t->extra_params = mm->extra_params;
    return MT_OK;
}
