/* GraniteMoe (GraniteMoeForCausalLM): Granite's decoder (embedding, residual,
 * attention and logits multipliers) whose MLP is GraniteMoeMoE, named
 * `block_sparse_moe`:
 *   activation            ACT2FN[hidden_act] (no parameters)
 *   input_linear.weight   [num_local_experts, 2 * intermediate_size, hidden_size]
 *   output_linear.weight  [num_local_experts, hidden_size, intermediate_size]
 *   router.layer          Linear(hidden_size, num_local_experts, bias=False)
 * (GraniteMoeParallelExperts hold plain 3-D parameters; registration order as
 * in GraniteMoeMoE.__init__). Defaults: transformers' GraniteMoeConfig
 * (models/granitemoe/configuration_granitemoe.py).
 *
 * Forward of GraniteMoeMoE / GraniteMoeTopKGating (modeling_granitemoe.py):
 *   x.reshape(-1, hidden); logits = router.layer(x).float();
 *   topk(top_k, dim=1); softmax(top-k logits, dim=1).type_as(x);
 *   tokens sorted by expert, split into per-expert groups of data-dependent
 *   size (expert_size.tolist()), F.linear(group, input_linear.weight[e]),
 *   chunk(2) -> act(first) * second, F.linear(.., output_linear.weight[e]),
 *   * gates, zeros.index_add(0, batch_index, ..), view(b, s, hidden).
 * Recorded simplification: the sort / split / cat bookkeeping (sort, the
 * div(rounding_mode="trunc") batch index, tolist, split by a list of unbacked
 * sizes, cat) is recorded per expert instead, as in moe.c: the (token, slot)
 * pairs routed to expert e come from torch.nonzero(indices == e, as_tuple=True)
 * whose length is a fresh symbol nnz_k in [0, batch*seq*top_k] (never a
 * constant); the group is index_select(x, 0, token), its two F.linear calls use
 * the expert's slice weight[e] of the 3-D parameters, the gate is gathered
 * from the top-k weights, and the result is accumulated with index_add_.
 * The arithmetic per expert and every shape/dtype are those of the eager
 * forward; only the grouping of the rows differs. */
#include <string.h>

#include "moe.h"

static const mt_dec_names granitemoe_names = {
    "GraniteMoeModel", "GraniteMoeDecoderLayer", "GraniteMoeAttention", "GraniteMoeMoE", "GraniteMoeRMSNorm",
    "GraniteMoeRotaryEmbedding",
};

/* GraniteMoeConfig defaults. */
static const mt_dec_defaults granitemoe_defaults = {
    .vocab = 32000, .hidden = 4096, .intermediate = 11008, .layers = 32, .heads = 32,
    .norm_eps = 1e-6, .rope_theta = 10000.0, .hidden_act = "silu",
    .norm_eps_key = "rms_norm_eps", .tie_embeddings = false,
};


static bool positive(mt_model *m, const char *key, double *v) {
    if (!mt_config_float(m->cfg, key, 1.0, v)) return false;
    if (*v <= 0) {
        mt_config_error(m->cfg, key, "expected a positive number, got %g (granitemoe)", *v);
        return false;
    }
    return true;
}

/* The block's class with its "MoE" suffix replaced (GraniteMoeMoE -> GraniteMoeParallelExperts,
 * GraniteMoeHybridMoE -> GraniteMoeHybridParallelExperts). */
static const char *sibling_cls(mt_ctx *ctx, const char *block_cls, const char *suffix) {
    size_t n = strlen(block_cls);
    int keep = (int)(n >= 3 && strcmp(block_cls + n - 3, "MoE") == 0 ? n - 3 : n);
    return mt_sprintf(ctx, "%.*s%s", keep, block_cls, suffix);
}

/* GraniteMoeMoE's handle (blocks.h, "handles bound at build"): its activation, the two
 * GraniteMoeParallelExperts with their fused weights, the router and its Linear. */
typedef struct gmoe_h {
    mt_module *act, *il, *ol, *router, *router_layer;
    mt_param *il_w, *ol_w;
} gmoe_h;
static const mt_handle_kind gmoe_h_kind = {"granitemoe gmoe_h"};

static mt_module *parallel_experts(mt_model *m, mt_module *blk, const char *name, int64_t e, int64_t out, int64_t in,
                                   mt_dtype dt, mt_param **weight) {
    mt_module *p = mt_module_new(m->ctx, blk, name, sibling_cls(m->ctx, blk->type, "ParallelExperts"));
    if (!p) return NULL;
    mt_module_attr(m->ctx, p, "num_experts", mt_a_int(e));
    mt_module_attr(m->ctx, p, "input_size", mt_a_int(in));
    mt_module_attr(m->ctx, p, "output_size", mt_a_int(out));
    int64_t shape[3] = {e, out, in};
    return (*weight = mt_param_new(m->ctx, p, "weight", dt, MT_DEVICE_CPU, 3, shape)) ? p : NULL;
}

mt_status mt_granitemoe_build_moe(mt_model *m, const mt_dec_spec *s, mt_module *layer, int64_t index) {
    (void)index;
    mt_ctx *ctx = m->ctx;
    mt_moe_model *mm = s->ext;
    const mt_moe_spec *e = &mm->moe;
    mt_module *blk = mt_module_new(ctx, layer, "block_sparse_moe", e->block_cls);
    gmoe_h *h = MT_BIND(ctx, blk, gmoe_h);
    if (!h) return mt_ctx_status(ctx);
    mt_module_attr(ctx, blk, "num_experts", mt_a_int(e->num_experts));
    mt_module_attr(ctx, blk, "top_k", mt_a_int(e->top_k));
    mt_module *il, *ol, *router;
    if (!(h->act = mt_act_new(m, blk, "activation", s->hidden_act, "hidden_act")) ||
        !(il = h->il = parallel_experts(m, blk, "input_linear", e->num_experts, 2 * e->expert_inter, s->hidden,
                                        s->dtype, &h->il_w)) ||
        !(ol = h->ol = parallel_experts(m, blk, "output_linear", e->num_experts, s->hidden, e->expert_inter, s->dtype,
                                        &h->ol_w)) ||
        !(router = h->router = mt_module_new(ctx, blk, "router", sibling_cls(ctx, e->block_cls, "TopKGating"))) ||
        !(h->router_layer = mt_nn_linear(ctx, router, "layer", s->hidden, e->num_experts, false, s->dtype,
                                         MT_DEVICE_CPU)))
        return mt_ctx_status(ctx);
    mt_module_attr(ctx, router, "top_k", mt_a_int(e->top_k));
    /* both fused weights split evenly into num_experts experts, top_k of which run per token */
    if (!mt_moe_add_routed(m, mm, il, e->num_experts, e->top_k) || !mt_moe_add_routed(m, mm, ol, e->num_experts, e->top_k))
        return mt_ctx_status(ctx);
    return MT_OK;
}

static mt_tensor *op(mt_tracer *tr, mt_op_id id, const mt_arg *a, int n, const mt_kwarg *kw, int nkw) {
    return mt_tr_op1(tr, id, a, n, kw, nkw);
}

/* F.linear(x, experts.weight[e]) under the GraniteMoeParallelExperts module. */
static mt_tensor *expert_linear(mt_tracer *tr, mt_module *pe, mt_param *weight, mt_tensor *x, int64_t e) {
    if (!x || !pe) return NULL;
    mt_tr_enter(tr, pe);
    mt_tensor *w = mt_tr_get_attr(tr, weight);
    w = w ? op(tr, MT_OP_GETITEM, (mt_arg[]){mt_a_tensor(w), mt_a_int(e)}, 2, NULL, 0) : NULL;
    mt_tensor *y = w ? op(tr, MT_OP_LINEAR, (mt_arg[]){mt_a_tensor(x), mt_a_tensor(w)}, 2, NULL, 0) : NULL;
    mt_tr_leave(tr);
    return y;
}

mt_tensor *mt_granitemoe_moe_forward(mt_tracer *tr, mt_module *blk, mt_tensor *x, const mt_dec_spec *s) {
    if (!x || !blk) return NULL;
    const gmoe_h *bh = MT_BOUND(tr, blk, gmoe_h);
    if (!bh) return NULL;
    mt_ctx *ctx = tr->ctx;
    const mt_moe_model *mm = s->ext;
    const mt_moe_spec *e = &mm->moe;
    mt_tr_enter(tr, blk);
    const mt_sym *b = x->shape[0], *sq = x->shape[1], *h = x->shape[2];
    const mt_sym *rs[2] = {NULL, h};
    mt_tensor *x2 = mt_reshape(tr, x, 2, rs);
    /* router: logits = layer(x).float(); topk(k, dim=1); softmax(dim=1).type_as(x) */
    mt_tr_enter(tr, bh->router);
    mt_tensor *logits = mt_to(tr, mt_tr_call(tr, bh->router_layer, x2), MT_FLOAT32);
    mt_node *tk = logits ? mt_tr_op(tr, MT_OP_TOPK, (mt_arg[]){mt_a_tensor(logits), mt_a_int(e->top_k)}, 2,
                                    (mt_kwarg[]){{"dim", mt_a_int(1)}}, 1) : NULL;
    mt_tensor *idx = mt_tr_item(tr, tk, 1);
    mt_tensor *gates = NULL;
    if (tk) {
        mt_tensor *v = mt_tr_item(tr, tk, 0);
        gates = v ? op(tr, MT_OP_SOFTMAX, (mt_arg[]){mt_a_tensor(v)}, 1, (mt_kwarg[]){{"dim", mt_a_int(1)}}, 1) : NULL;
        gates = gates && x2 ? op(tr, MT_OP_TYPE_AS, (mt_arg[]){mt_a_tensor(gates), mt_a_tensor(x2)}, 2, NULL, 0) : NULL;
    }
    mt_tr_leave(tr);
    const mt_sym *zs[2] = {mt_sym_mul(ctx, b, sq), h};
    mt_tensor *final = op(tr, MT_OP_ZEROS, (mt_arg[]){mt_a_dims(ctx, zs, 2)}, 1,
                          (mt_kwarg[]){{"dtype", mt_a_dtype(x->dtype)}}, 1);
    mt_module *il = bh->il, *ol = bh->ol;
    mt_module *act = bh->act;
    for (int64_t i = 0; i < e->num_experts && final; i++) {
        mt_tensor *hit = idx ? op(tr, MT_OP_EQ, (mt_arg[]){mt_a_tensor(idx), mt_a_int(i)}, 2, NULL, 0) : NULL;
        mt_node *nz = mt_moe_where(tr, hit, i, blk->path);
        if (!nz) { final = NULL; break; }
        mt_tensor *tok = mt_tr_item(tr, nz, 0), *slot = mt_tr_item(tr, nz, 1);
        mt_tensor *cur = tok ? op(tr, MT_OP_INDEX_SELECT, (mt_arg[]){mt_a_tensor(x2), mt_a_int(0), mt_a_tensor(tok)}, 3, NULL, 0) : NULL;
        mt_tensor *hs = expert_linear(tr, il, bh->il_w, cur, i);
        mt_node *ch = mt_chunk(tr, hs, 2, -1);
        /* act(chunk[0]) * chunk[1]: chunk[1] is taken first, as the goldens have it (Python: chunk[0] first) */
        mt_tensor *lin = mt_tr_item(tr, ch, 1);
        hs = mt_mul(tr, mt_act_forward(tr, act, mt_tr_item(tr, ch, 0)), lin);
        mt_tensor *y = expert_linear(tr, ol, bh->ol_w, hs, i);
        y = mt_mul(tr, y, mt_moe_slot_weights(tr, gates, tok, slot));
        final = y && tok ? op(tr, MT_OP_INDEX_ADD, (mt_arg[]){mt_a_tensor(final), mt_a_int(0), mt_a_tensor(tok), mt_a_tensor(y)}, 4, NULL, 0) : NULL;
    }
    const mt_sym *os[3] = {b, sq, h};
    final = mt_view(tr, final, 3, os);
    mt_tr_leave(tr);
    return final;
}

static mt_status granitemoe_build(mt_model *m) {
    mt_moe_model *mm = mt_moe_model_new(m);
    if (!mm) return mt_ctx_status(m->ctx);
    mt_dec_spec *s = &mm->dec;
    mt_config *c = m->cfg;
    s->cls = granitemoe_names;
    if (mt_dec_read_common(m, s, &granitemoe_defaults) != MT_OK || mt_dec_read_rope(m, s) != MT_OK)
        return mt_ctx_status(m->ctx);
    bool attn_bias;
    if (!mt_config_bool(c, "attention_bias", false, &attn_bias) ||
        !positive(m, "embedding_multiplier", &s->caps.embed_scale) ||
        !positive(m, "residual_multiplier", &s->caps.residual_scale) ||
        !positive(m, "attention_multiplier", &s->caps.attn_scale) ||
        !positive(m, "logits_scaling", &s->caps.logits_div))
        return mt_ctx_status(m->ctx);
    s->qkv_bias = s->o_bias = attn_bias;
    mt_moe_spec *e = &mm->moe;
    e->block_cls = "GraniteMoeMoE";
    e->expert_inter = s->intermediate;
    if (!mt_config_pos_int(c, "num_local_experts", 8, &e->num_experts) ||
        !mt_config_pos_int(c, "num_experts_per_tok", 2, &e->top_k))
        return mt_ctx_status(m->ctx);
    if (e->top_k > e->num_experts)
        return mt_config_error(c, "num_experts_per_tok", "num_experts_per_tok %lld exceeds num_local_experts %lld (granitemoe)",
                            (long long)e->top_k, (long long)e->num_experts);
    s->hooks.build_mlp = mt_granitemoe_build_moe;
    s->hooks.mlp_forward = mt_granitemoe_moe_forward;
    s->names.mlp = "block_sparse_moe";
    if (mt_dec_build(m, s) != MT_OK) return mt_ctx_status(m->ctx);
    mt_model_info(m, "num_local_experts", mt_a_int(e->num_experts));
    mt_model_info(m, "num_experts_per_tok", mt_a_int(e->top_k));
    return MT_OK;
}

static mt_status granitemoe_forward(mt_model *m, mt_tracer *tr) {
    mt_moe_model *mm = m->family;
    return mt_dec_forward(m, tr, &mm->dec);
}

const mt_arch mt_arch_granitemoe = {
    .model_type = "granitemoe",
    .default_class = "GraniteMoeForCausalLM",
    .example = "ibm-granite/granite-3.0-1b-a400m-base",
    .build = granitemoe_build,
    .forward = granitemoe_forward,
    .totals = mt_moe_totals,
};
