/* Gemma 4 text: Gemma4ForCausalLM (model_type gemma4_text). The multimodal
 * Gemma4ForConditionalGeneration (model_type gemma4) is traced as this language
 * model from its text_config, with a note that the vision and audio towers and
 * their embedders are not included (src/model.c, the MULTIMODAL table).
 * After transformers' models/gemma4/modeling_gemma4.py (the stored mirror at
 * commit 0246b4f3) and configuration_gemma4.py (008e5743).
 *
 * Parameters, in registration order:
 *   Gemma4ForCausalLM: model, lm_head (tied to model.embed_tokens.weight by
 *     default, tie_word_embeddings true).
 *   Gemma4TextModel: embed_tokens (Gemma4TextScaledWordEmbedding: weight
 *     [vocab, hidden], padding_idx pad_token_id, non-persistent embed_scale
 *     buffer hidden**0.5), layers, norm, rotary_emb (Gemma4TextRotaryEmbedding:
 *     per attention kind present in layer_types, non-persistent float32 buffers
 *     "<kind>_inv_freq" and "<kind>_original_inv_freq"); when
 *     hidden_size_per_layer_input (PLE) is not 0: embed_tokens_per_layer
 *     (scaled embedding [vocab_size_per_layer_input, layers * ple], scale
 *     ple**0.5), per_layer_model_projection (Linear hidden -> layers * ple, no
 *     bias), per_layer_projection_norm (Gemma4RMSNorm over ple).
 *   Gemma4TextDecoderLayer: self_attn, mlp, input_layernorm,
 *     post_attention_layernorm, pre_feedforward_layernorm,
 *     post_feedforward_layernorm, the persistent buffer layer_scalar [1] (it is
 *     in the checkpoints: model.language_model.layers.N.layer_scalar), then with
 *     PLE act_fn, per_layer_input_gate (hidden -> ple), per_layer_projection
 *     (ple -> hidden), post_per_layer_input_norm; then with enable_moe_block
 *     router (Gemma4TextRouter: norm, a Gemma4RMSNorm without weight; proj Linear
 *     hidden -> num_experts; scale [hidden]; per_expert_scale [num_experts]),
 *     experts (Gemma4TextExperts: gate_up_proj [E, 2 * moe_intermediate_size,
 *     hidden], down_proj [E, hidden, moe_intermediate_size], act_fn
 *     (hidden_activation)), post_feedforward_layernorm_1,
 *     post_feedforward_layernorm_2, pre_feedforward_layernorm_2 (the names
 *     google/gemma-4-26B-A4B-it stores).
 *   Gemma4TextAttention: head_dim is global_head_dim on full_attention layers
 *     (when set), head_dim on sliding ones; with attention_k_eq_v the full
 *     layers have num_global_key_value_heads K heads and no v_proj (values are
 *     the keys' projection). q_proj, q_norm, then unless the layer reads
 *     another layer's K/V (the last num_kv_shared_layers layers): k_norm,
 *     v_norm (Gemma4RMSNorm without a weight), k_proj, v_proj; o_proj. Bias:
 *     attention_bias.
 *   Gemma4TextMLP: gate_proj, up_proj, down_proj (intermediate_size, doubled on
 *     the KV-shared layers when use_double_wide_mlp), act_fn
 *     (hidden_activation).
 *   Gemma4RMSNorm: weight [dim] (plain, not Gemma's 1 + w).
 *
 * Forward (Gemma4TextModel.forward and below, input_ids given):
 *   inputs_embeds = embed_tokens(ids) (F.embedding * embed_scale.to(w.dtype));
 *   PLE: embed_tokens_per_layer(ids).reshape(b, s, L, ple);
 *     per_layer_model_projection(inputs_embeds) * hidden**-0.5,
 *     .reshape(b, s, L, ple), per_layer_projection_norm, (+ token part) * 2**-0.5;
 *   position_ids = arange(seq) + 0 (past_seen_tokens), unsqueeze(0); the causal
 *     mask and the sliding one (sliding_window); cos/sin per attention kind
 *     (kinds in their first-appearance order in layer_types: transformers
 *     iterates a Python set, whose order is the string hash's);
 *   layer: residual + post_attention_layernorm(attn(input_layernorm(h)));
 *     residual + post_feedforward_layernorm(mlp(pre_feedforward_layernorm(h)));
 *     with enable_moe_block the sum inside post_feedforward_layernorm is
 *     post_feedforward_layernorm_1(mlp(..)) + post_feedforward_layernorm_2(
 *     experts(pre_feedforward_layernorm_2(flat), index, weights).reshape(
 *     residual.shape)), flat = residual.reshape(-1, hidden) (the MLP's input
 *     before its norm), index and weights = router(flat): norm(flat) * scale *
 *     hidden**-0.5, proj, softmax(-1), topk(top_k_experts, dim=-1), weights /=
 *     their sum (in place; recorded as truediv, as moe.c does), * per_expert_scale
 *     [index]; the experts as transformers' eager forward (moe.c's
 *     mt_moe_fused_forward, the shared fused 3-D experts loop): zeros_like(x),
 *     one_hot(index, E).permute(2, 1, 0), and for every expert torch.where(mask[e])
 *     (a nonzero whose count is a fresh symbol in [0, tokens * top_k]), x[token_idx]
 *     (index_select), F.linear with gate_up_proj[e], chunk(2, -1), act_fn(gate) *
 *     up, F.linear with down_proj[e], * weights[token_idx, top_k_pos, None]
 *     (index_select + gather), .to(dtype), index_add_. transformers' default
 *     experts implementation is grouped_mm where torch._grouped_mm can dispatch
 *     (torch 2.9+), eager otherwise (config._experts_implementation): the same
 *     parameters and products, grouped; metatrace records the eager loop, as for
 *     its other MoE families. Not recorded: the expert_hit filter (torch.no_grad
 *     bookkeeping that only skips experts with no tokens; every expert is traced);
 *     with PLE residual + post_per_layer_input_norm(per_layer_projection(
 *     act_fn(per_layer_input_gate(h)) * per_layer_inputs[:, :, i, :])); then
 *     h * layer_scalar;
 *   attention: q = q_norm(q_proj(x).view(b, s, -1, hd)), rotary with cos/sin
 *     unsqueezed at dim 2, transpose(1, 2); k likewise with k_norm, v =
 *     v_norm(v_proj(x).view(..)) (or of the keys' projection), transpose; a
 *     KV-shared layer uses the K/V the last earlier non-shared layer of its
 *     kind computed (store_full_length_kv), with no projection of its own;
 *     scaling 1.0 (the q/k norms replace the 1/sqrt(d)), sdpa (default) or
 *     eager; reshape(b, s, -1).contiguous(), o_proj;
 *   norm, lm_head, final_logit_softcapping (div, tanh, mul) when set.
 * Rotary: sliding layers "default" (inv_freq [head_dim / 2]); full layers
 * "proportional" (transformers' head_dim_key "global_head_dim": inv_freq
 * [global_head_dim / 2], the frequencies past partial_rotary_factor zero, so
 * the rotation spans the whole head) or "default" when the head widths agree.
 *
 * Recorded simplifications: Gemma4RMSNorm's torch.pow(mean_squared, -0.5) is
 * recorded as the method pow (the same op); `hidden_states *= layer_scalar` as
 * an out-of-place mul; the .to(device) moves of the shared K/V and of inv_freq
 * are not recorded (as for the other families); lm_head gets the hidden states
 * whole (logits_to_keep 0). Not modelled (refused with the field named):
 * use_bidirectional_attention "all". The vision and audio
 * towers (Gemma4VisionModel: pre-patchified pixels with 2-D position ids, a
 * pooler that drops padding by a data-dependent mask; the conformer audio
 * encoder) are not SigLIP's and are not built. */
#include <jansson.h>
#include <math.h>
#include <string.h>

#include "gemma4.h"
#include "moe.h"

typedef struct g4 {
    mt_dtype dtype;
    int64_t vocab, hidden, inter, layers, heads, kv_heads, head_dim, global_head_dim, global_kv_heads;
    int64_t window, ple, vocab_ple, first_shared, pad;
    double eps, final_softcap, theta_sliding, theta_full, partial_full;
    const char *act, *rope_full;
    bool bias, tie, k_eq_v, double_wide, pad_none;
    bool moe;                         /* enable_moe_block: the router and experts beside the dense MLP */
    int64_t experts, top_k, moe_inter; /* num_experts, top_k_experts, moe_intermediate_size */
    bool *sliding;     /* per layer */
    int64_t *kv_src;   /* per layer: the layer whose K/V it reads (itself when it computes them) */
    int nkinds;
    bool kind_sliding[2]; /* the attention kinds of layer_types, in first-appearance order */
} g4;

static const mt_sym *C(mt_tracer *tr, int64_t v) { return mt_sym_const(tr->ctx, v); }

/* ---- handles (blocks.h, "handles bound at build"; gemma4.h for the embedding's and attention's) ---- */
const mt_handle_kind mt_g4_embed_h_kind = {"mt_g4_embed_h"};
const mt_handle_kind mt_g4_attn_h_kind = {"mt_g4_attn_h"};
/* The CausalLM's (bound to m->root): the text model and its children, lm_head. */
typedef struct g4_h {
    mt_module *model, *embed, *layers, *norm, *rotary, *embed_ple, *ple_proj, *ple_norm, *lm_head;
} g4_h;
static const mt_handle_kind g4_h_kind = {"gemma4 g4_h"};
/* A decoder layer's: its attention (mt_g4_attn_h), MLP (mt_mlp_h), norms, the PLE gate and
 * projection, the MoE router and experts (NULL without PLE or enable_moe_block), layer_scalar. */
typedef struct g4_layer_h {
    mt_module *attn, *mlp, *in_norm, *post_attn_norm, *pre_ff_norm, *post_ff_norm;
    mt_module *act, *pl_gate, *pl_proj, *pl_norm;
    mt_module *router, *experts, *post_ff_norm_1, *post_ff_norm_2, *pre_ff_norm_2;
    mt_param *layer_scalar;
} g4_layer_h;
static const mt_handle_kind g4_layer_h_kind = {"gemma4 g4_layer_h"};
/* Gemma4TextRouter's: norm, proj, scale, per_expert_scale. */
typedef struct g4_router_h {
    mt_module *norm, *proj;
    mt_param *scale, *per_expert_scale;
} g4_router_h;
static const mt_handle_kind g4_router_h_kind = {"gemma4 g4_router_h"};

/* ---- construction ---- */

static mt_module *rms_norm(mt_model *m, const g4 *f, mt_module *parent, const char *name, int64_t dim, bool scale) {
    mt_module *n = mt_module_new(m->ctx, parent, name, "Gemma4RMSNorm");
    if (!n) return NULL;
    mt_module_attr(m->ctx, n, "eps", mt_a_float(f->eps));
    mt_module_attr(m->ctx, n, "with_scale", mt_a_bool(scale));
    mt_norm_h *h = MT_BIND(m->ctx, n, mt_norm_h);
    if (!h || (scale && !(h->weight = mt_param_new(m->ctx, n, "weight", f->dtype, MT_DEVICE_CPU, 1, &dim))))
        return NULL;
    return n;
}

/* Gemma4TextScaledWordEmbedding(num, dim, padding_idx, embed_scale) (gemma4.h). */
mt_module *mt_g4_scaled_embedding(mt_model *m, mt_module *parent, const char *name, const char *cls, int64_t num,
                                  int64_t dim, double scale, mt_dtype dtype, bool pad_none, int64_t pad) {
    mt_ctx *ctx = m->ctx;
    mt_module *e = mt_module_new(ctx, parent, name, cls);
    if (!e) return NULL;
    mt_module_attr(ctx, e, "num_embeddings", mt_a_int(num));
    mt_module_attr(ctx, e, "embedding_dim", mt_a_int(dim));
    mt_module_attr(ctx, e, "padding_idx", pad_none ? mt_a_none() : mt_a_int(pad));
    mt_module_attr(ctx, e, "embed_scale", mt_a_float(scale));
    int64_t shape[2] = {num, dim};
    mt_g4_embed_h *h = MT_BIND(ctx, e, mt_g4_embed_h);
    if (!h || !(h->weight = mt_param_new(ctx, e, "weight", dtype, MT_DEVICE_CPU, 2, shape)) ||
        !(h->embed_scale = mt_buffer_new(ctx, e, "embed_scale", dtype, MT_DEVICE_CPU, 0, shape, false, true)))
        return NULL;
    return e;
}

static mt_module *scaled_embedding(mt_model *m, const g4 *f, mt_module *parent, const char *name, int64_t num,
                                   int64_t dim, double scale) {
    return mt_g4_scaled_embedding(m, parent, name, "Gemma4TextScaledWordEmbedding", num, dim, scale, f->dtype,
                                  f->pad_none, f->pad);
}

static int64_t layer_head_dim(const g4 *f, int64_t i) { return f->sliding[i] ? f->head_dim : f->global_head_dim; }
static bool layer_k_eq_v(const g4 *f, int64_t i) { return f->k_eq_v && !f->sliding[i]; }
static int64_t layer_kv_heads(const g4 *f, int64_t i) { return layer_k_eq_v(f, i) ? f->global_kv_heads : f->kv_heads; }
static bool layer_shared(const g4 *f, int64_t i) { return f->first_shared > 0 && i >= f->first_shared; }

static mt_status build_layer(mt_model *m, const g4 *f, mt_module *layers, int64_t i) {
    mt_ctx *ctx = m->ctx;
    mt_dtype dt = f->dtype;
    mt_device dev = MT_DEVICE_CPU;
    char idx[24];
    snprintf(idx, sizeof idx, "%lld", (long long)i);
    mt_module *L = mt_module_new(ctx, layers, idx, "Gemma4TextDecoderLayer");
    g4_layer_h *lh = MT_BIND(ctx, L, g4_layer_h);
    mt_module *at = lh ? lh->attn = mt_module_new(ctx, L, "self_attn", "Gemma4TextAttention") : NULL;
    mt_g4_attn_h *ah = MT_BIND(ctx, at, mt_g4_attn_h);
    if (!ah) return mt_ctx_status(ctx);
    int64_t hd = layer_head_dim(f, i), kvh = layer_kv_heads(f, i), H = f->hidden;
    bool shared = layer_shared(f, i);
    mt_module_attr(ctx, at, "head_dim", mt_a_int(hd));
    mt_module_attr(ctx, at, "is_sliding", mt_a_bool(f->sliding[i]));
    mt_module_attr(ctx, at, "is_kv_shared_layer", mt_a_bool(shared));
    if (!(ah->q = mt_nn_linear(ctx, at, "q_proj", H, f->heads * hd, f->bias, dt, dev)) ||
        !(ah->q_norm = rms_norm(m, f, at, "q_norm", hd, true)))
        return mt_ctx_status(ctx);
    if (!shared) {
        if (!(ah->k_norm = rms_norm(m, f, at, "k_norm", hd, true)) ||
            !(ah->v_norm = rms_norm(m, f, at, "v_norm", hd, false)) ||
            !(ah->k = mt_nn_linear(ctx, at, "k_proj", H, kvh * hd, f->bias, dt, dev)))
            return mt_ctx_status(ctx);
        if (!layer_k_eq_v(f, i) && !(ah->v = mt_nn_linear(ctx, at, "v_proj", H, kvh * hd, f->bias, dt, dev)))
            return mt_ctx_status(ctx);
    }
    if (!(ah->o = mt_nn_linear(ctx, at, "o_proj", f->heads * hd, H, f->bias, dt, dev))) return mt_ctx_status(ctx);
    /* Gemma4TextMLP: first_kv_shared_layer_idx > 0 and the layer at or past it doubles with use_double_wide_mlp */
    int64_t inter = f->inter * (f->double_wide && shared ? 2 : 1);
    mt_module *mlp = lh->mlp = mt_module_new(ctx, L, "mlp", "Gemma4TextMLP");
    mt_mlp_h *mh = MT_BIND(ctx, mlp, mt_mlp_h);
    if (!mh || !(mh->gate = mt_nn_linear(ctx, mlp, "gate_proj", H, inter, false, dt, dev)) ||
        !(mh->up = mt_nn_linear(ctx, mlp, "up_proj", H, inter, false, dt, dev)) ||
        !(mh->down = mt_nn_linear(ctx, mlp, "down_proj", inter, H, false, dt, dev)) ||
        !(mh->act = mt_act_new(m, mlp, "act_fn", f->act, "hidden_activation")))
        return mt_ctx_status(ctx);
    int64_t one = 1;
    if (!(lh->in_norm = rms_norm(m, f, L, "input_layernorm", H, true)) ||
        !(lh->post_attn_norm = rms_norm(m, f, L, "post_attention_layernorm", H, true)) ||
        !(lh->pre_ff_norm = rms_norm(m, f, L, "pre_feedforward_layernorm", H, true)) ||
        !(lh->post_ff_norm = rms_norm(m, f, L, "post_feedforward_layernorm", H, true)) ||
        !(lh->layer_scalar = mt_buffer_new(ctx, L, "layer_scalar", dt, dev, 1, &one, true, false)))
        return mt_ctx_status(ctx);
    if (f->ple > 0 && (!(lh->act = mt_act_new(m, L, "act_fn", f->act, "hidden_activation")) ||
                       !(lh->pl_gate = mt_nn_linear(ctx, L, "per_layer_input_gate", H, f->ple, false, dt, dev)) ||
                       !(lh->pl_proj = mt_nn_linear(ctx, L, "per_layer_projection", f->ple, H, false, dt, dev)) ||
                       !(lh->pl_norm = rms_norm(m, f, L, "post_per_layer_input_norm", H, true))))
        return mt_ctx_status(ctx);
    if (!f->moe) return MT_OK;
    /* Gemma4TextRouter: norm (no weight), proj, scale [hidden], per_expert_scale [E] */
    mt_module *r = lh->router = mt_module_new(ctx, L, "router", "Gemma4TextRouter");
    g4_router_h *rh = MT_BIND(ctx, r, g4_router_h);
    if (!rh || !(rh->norm = rms_norm(m, f, r, "norm", H, false)) ||
        !(rh->proj = mt_nn_linear(ctx, r, "proj", H, f->experts, false, dt, dev)) ||
        !(rh->scale = mt_param_new(ctx, r, "scale", dt, dev, 1, &f->hidden)) ||
        !(rh->per_expert_scale = mt_param_new(ctx, r, "per_expert_scale", dt, dev, 1, &f->experts)))
        return mt_ctx_status(ctx);
    mt_module_attr(ctx, r, "top_k_experts", mt_a_int(f->top_k));
    /* Gemma4TextExperts: gate_up_proj [E, 2 * moe_intermediate_size, hidden], down_proj [E, hidden,
     * moe_intermediate_size], act_fn (moe.c's fused experts) */
    if (!(lh->experts = mt_moe_fused_build(m, L, "experts", "Gemma4TextExperts", f->experts, H, f->moe_inter, f->act,
                                           "hidden_activation", dt, false)))
        return mt_ctx_status(ctx);
    if (!(lh->post_ff_norm_1 = rms_norm(m, f, L, "post_feedforward_layernorm_1", H, true)) ||
        !(lh->post_ff_norm_2 = rms_norm(m, f, L, "post_feedforward_layernorm_2", H, true)) ||
        !(lh->pre_ff_norm_2 = rms_norm(m, f, L, "pre_feedforward_layernorm_2", H, true)))
        return mt_ctx_status(ctx);
    return MT_OK;
}

static const char *kind_name(bool sliding) { return sliding ? "sliding_attention" : "full_attention"; }

static mt_status build_model(mt_model *m, g4 *f) {
    mt_ctx *ctx = m->ctx;
    if (mt_attn_choose(m, MT_ATTN_BOTH, MT_ATTN_BOTH, MT_ATTN_IMPL_SDPA) != MT_OK) return mt_ctx_status(ctx);
    g4_h *gh = MT_BIND(ctx, m->root, g4_h);
    mt_module *model = gh ? gh->model = mt_module_new(ctx, m->root, "model", "Gemma4TextModel") : NULL;
    mt_module *emb = model ? gh->embed = scaled_embedding(m, f, model, "embed_tokens", f->vocab, f->hidden,
                                                          sqrt((double)f->hidden))
                           : NULL;
    mt_module *layers = emb ? gh->layers = mt_module_new(ctx, model, "layers", "ModuleList") : NULL;
    if (!layers) return mt_ctx_status(ctx);
    for (int64_t i = 0; i < f->layers; i++)
        if (build_layer(m, f, layers, i) != MT_OK) return mt_ctx_status(ctx);
    mt_module *rot = (gh->norm = rms_norm(m, f, model, "norm", f->hidden, true))
                         ? gh->rotary = mt_module_new(ctx, model, "rotary_emb", "Gemma4TextRotaryEmbedding")
                         : NULL;
    mt_rope_kinds_h *rh = MT_BIND(ctx, rot, mt_rope_kinds_h);
    if (!rh) return mt_ctx_status(ctx);
    for (int k = 0; k < f->nkinds; k++) {
        bool sl = f->kind_sliding[k];
        int64_t half = (sl ? f->head_dim : f->global_head_dim) / 2;
        char name[48];
        snprintf(name, sizeof name, "%s_inv_freq", kind_name(sl));
        rh->inv_freq[sl ? 0 : 1] = mt_buffer_new(ctx, rot, name, MT_FLOAT32, MT_DEVICE_CPU, 1, &half, false, true);
        if (!rh->inv_freq[sl ? 0 : 1]) return mt_ctx_status(ctx);
        snprintf(name, sizeof name, "%s_original_inv_freq", kind_name(sl));
        if (!mt_buffer_new(ctx, rot, name, MT_FLOAT32, MT_DEVICE_CPU, 1, &half, false, true)) return mt_ctx_status(ctx);
    }
    if (f->ple > 0 && (!(gh->embed_ple = scaled_embedding(m, f, model, "embed_tokens_per_layer", f->vocab_ple,
                                                          f->layers * f->ple, sqrt((double)f->ple))) ||
                       !(gh->ple_proj = mt_nn_linear(ctx, model, "per_layer_model_projection", f->hidden,
                                                     f->layers * f->ple, false, f->dtype, MT_DEVICE_CPU)) ||
                       !(gh->ple_norm = rms_norm(m, f, model, "per_layer_projection_norm", f->ple, true))))
        return mt_ctx_status(ctx);
    const mt_g4_embed_h *eh = mt_module_bound(emb, &mt_g4_embed_h_kind);
    gh->lm_head = f->tie ? mt_nn_linear_tied(ctx, m->root, "lm_head", eh->weight)
                         : mt_nn_linear(ctx, m->root, "lm_head", f->hidden, f->vocab, false, f->dtype, MT_DEVICE_CPU);
    if (!gh->lm_head) return mt_ctx_status(ctx);
    return MT_OK;
}

/* ---- forward ---- */

/* Gemma4RMSNorm: _norm(x.float()) [* weight.float()], type_as(x); _norm(h) =
 * h * pow(h.pow(2).mean(-1, keepdim=True) + eps, -0.5). */
static mt_tensor *norm_forward(mt_tracer *tr, mt_module *n, mt_tensor *x) {
    if (!x || !n) return NULL;
    const mt_norm_h *nh = MT_BOUND(tr, n, mt_norm_h);
    if (!nh) return NULL;
    const mt_arg *eps = mt_module_get_attr(n, "eps");
    mt_tr_enter(tr, n);
    mt_tensor *h = mt_to(tr, x, MT_FLOAT32);
    mt_tensor *ms = mt_add_s(tr, mt_reduce(tr, MT_OP_MEAN, mt_pow_s(tr, h, 2), -1, true), eps ? eps->v.f : 1e-6);
    h = mt_mul(tr, h, mt_pow_s(tr, ms, -0.5));
    mt_param *w = nh->weight; /* NULL: with_scale False (v_norm) */
    if (w) h = mt_mul(tr, h, mt_to(tr, mt_tr_get_attr(tr, w), MT_FLOAT32));
    mt_tensor *y = h ? mt_tr_op1(tr, MT_OP_TYPE_AS, (mt_arg[]){mt_a_tensor(h), mt_a_tensor(x)}, 2, NULL, 0) : NULL;
    mt_tr_leave(tr);
    return y;
}

/* Gemma4TextScaledWordEmbedding.forward: F.embedding(...) * embed_scale.to(weight.dtype) (gemma4.h). */
mt_tensor *mt_g4_embedding_forward(mt_tracer *tr, mt_module *e, mt_tensor *ids) {
    if (!e || !ids) return NULL;
    const mt_g4_embed_h *eh = MT_BOUND(tr, e, mt_g4_embed_h);
    if (!eh) return NULL;
    const mt_arg *pad = mt_module_get_attr(e, "padding_idx");
    mt_tr_enter(tr, e);
    mt_tensor *w = mt_tr_get_attr(tr, eh->weight);
    mt_tensor *h = w ? mt_tr_op1(tr, MT_OP_EMBEDDING,
                                 (mt_arg[]){mt_a_tensor(ids), mt_a_tensor(w), pad ? *pad : mt_a_none(), mt_a_none(),
                                            mt_a_float(2.0), mt_a_bool(false), mt_a_bool(false)},
                                 7, NULL, 0)
                     : NULL;
    mt_tensor *sc = mt_to(tr, mt_tr_get_attr(tr, eh->embed_scale), w ? w->dtype : MT_FLOAT32);
    mt_tensor *y = mt_mul(tr, h, sc);
    mt_tr_leave(tr);
    return y;
}

typedef struct kv_pair {
    mt_tensor *k, *v;
} kv_pair;

static mt_tensor *attn_forward(mt_tracer *tr, const g4 *f, mt_module *at, int64_t i, mt_tensor *x, mt_tensor *mask,
                               mt_tensor *cos, mt_tensor *sin, kv_pair *kv) {
    if (!x || !at) return NULL;
    const mt_g4_attn_h *ah = MT_BOUND(tr, at, mt_g4_attn_h);
    if (!ah) return NULL;
    const mt_sym *b = x->shape[0], *sq = x->shape[1];
    int64_t hd = layer_head_dim(f, i);
    mt_tr_enter(tr, at);
    const mt_sym *hs[4] = {b, sq, NULL, C(tr, hd)};
    mt_tensor *q = mt_view(tr, mt_tr_call(tr, ah->q, x), 4, hs);
    q = norm_forward(tr, ah->q_norm, q);
    mt_tensor *qc = mt_unsqueeze(tr, cos, 2), *qs = mt_unsqueeze(tr, sin, 2); /* apply_rotary_pos_emb's order */
    q = mt_rope_apply(tr, q, qc, qs, MT_ROPE_HALF, 0);
    q = mt_transpose(tr, q, 1, 2);
    mt_tensor *k, *v;
    if (layer_shared(f, i)) {
        k = kv[f->kv_src[i]].k;
        v = kv[f->kv_src[i]].v;
        if (!k || !v) {
            mt_fail(tr->ctx, MT_ERR_INTERNAL, "gemma4: layer %lld reads the K/V of layer %lld, which has none",
                    (long long)i, (long long)f->kv_src[i]);
            mt_tr_leave(tr);
            return NULL;
        }
    } else {
        k = mt_view(tr, mt_tr_call(tr, ah->k, x), 4, hs);
        v = layer_k_eq_v(f, i) ? k : mt_view(tr, mt_tr_call(tr, ah->v, x), 4, hs);
        k = norm_forward(tr, ah->k_norm, k);
        mt_tensor *kc = mt_unsqueeze(tr, cos, 2), *ks = mt_unsqueeze(tr, sin, 2);
        k = mt_rope_apply(tr, k, kc, ks, MT_ROPE_HALF, 0);
        k = mt_transpose(tr, k, 1, 2);
        v = norm_forward(tr, ah->v_norm, v);
        v = mt_transpose(tr, v, 1, 2);
        kv[i].k = k;
        kv[i].v = v;
    }
    int64_t kvh = layer_kv_heads(f, i);
    mt_attn_args aa = {.n_rep = f->heads / kvh, .scaling = 1.0, .eager_slice = true, .sdpa_slice = true};
    mt_tensor *o = mt_attn_forward(tr, tr->model->attn, q, k, v, mask, &aa);
    const mt_sym *os[3] = {b, sq, NULL};
    o = mt_contiguous(tr, mt_reshape(tr, o, 3, os));
    o = mt_tr_call(tr, ah->o, o);
    mt_tr_leave(tr);
    return o;
}

static mt_tensor *mlp_forward(mt_tracer *tr, mt_module *mlp, mt_tensor *x) {
    if (!x || !mlp) return NULL;
    const mt_mlp_h *mh = MT_BOUND(tr, mlp, mt_mlp_h);
    if (!mh) return NULL;
    mt_tr_enter(tr, mlp);
    mt_tensor *g = mt_tr_call(tr, mh->gate, x);
    g = mt_act_forward(tr, mh->act, g);
    mt_tensor *u = mt_tr_call(tr, mh->up, x);
    mt_tensor *y = mt_tr_call(tr, mh->down, mt_mul(tr, g, u));
    mt_tr_leave(tr);
    return y;
}

static mt_tensor *g4_op(mt_tracer *tr, mt_op_id id, const mt_arg *a, int n, const mt_kwarg *kw, int nkw) {
    for (int i = 0; i < n; i++)
        if (a[i].kind == MT_ARG_TENSOR && !a[i].v.t) return NULL;
    return mt_tr_op1(tr, id, a, n, kw, nkw);
}

/* Gemma4TextRouter.forward on x [T, hidden]: the top-k weights [T, k] and indices [T, k]. */
static void router_forward(mt_tracer *tr, const g4 *f, mt_module *r, mt_tensor *x, mt_tensor **w, mt_tensor **idx) {
    *w = *idx = NULL;
    if (!x || !r) return;
    const g4_router_h *rh = MT_BOUND(tr, r, g4_router_h);
    if (!rh) return;
    mt_tr_enter(tr, r);
    mt_tensor *h = norm_forward(tr, rh->norm, x);
    h = mt_mul(tr, h, mt_tr_get_attr(tr, rh->scale));
    h = mt_mul_s(tr, h, pow((double)f->hidden, -0.5)); /* scalar_root_size */
    mt_tensor *scores = mt_tr_call(tr, rh->proj, h);
    mt_tensor *probs = mt_softmax(tr, scores, -1, MT_DTYPE_NONE);
    mt_node *tk = probs ? mt_tr_op(tr, MT_OP_TOPK, (mt_arg[]){mt_a_tensor(probs)}, 1,
                                   (mt_kwarg[]){{"k", mt_a_int(f->top_k)}, {"dim", mt_a_int(-1)}}, 2)
                        : NULL;
    mt_tensor *tw = mt_tr_item(tr, tk, 0), *ti = mt_tr_item(tr, tk, 1);
    /* top_k_weights /= top_k_weights.sum(dim=-1, keepdim=True) (in place; recorded as truediv) */
    tw = mt_div(tr, tw, mt_reduce(tr, MT_OP_SUM, tw, -1, true));
    /* * self.per_expert_scale[top_k_index] */
    mt_tensor *pes = mt_tr_get_attr(tr, rh->per_expert_scale);
    mt_tensor *sel = g4_op(tr, MT_OP_GETITEM, (mt_arg[]){mt_a_tensor(pes), mt_a_tensor(ti)}, 2, NULL, 0);
    *w = mt_mul(tr, tw, sel);
    *idx = ti;
    mt_tr_leave(tr);
}

static mt_status g4_forward(mt_model *m, mt_tracer *tr) {
    const g4 *f = m->family;
    mt_ctx *ctx = m->ctx;
    mt_tensor *ids = m->inputs.items[0], *amask = m->inputs.items[1];
    const g4_h *gh = MT_BOUND(tr, m->root, g4_h);
    if (!gh) return mt_ctx_status(ctx);
    mt_module *model = gh->model;
    mt_tr_enter(tr, model);
    mt_tensor *h = mt_g4_embedding_forward(tr, gh->embed, ids);
    mt_tensor *ple = NULL;
    if (f->ple > 0) {
        const mt_sym *ps[4] = {ids->shape[0], ids->shape[1], C(tr, f->layers), C(tr, f->ple)};
        mt_tensor *tok = mt_g4_embedding_forward(tr, gh->embed_ple, ids);
        tok = mt_reshape(tr, tok, 4, ps);
        mt_tensor *proj = mt_tr_call(tr, gh->ple_proj, h);
        proj = mt_mul_s(tr, proj, pow((double)f->hidden, -0.5));
        const mt_sym *qs[4] = {h ? h->shape[0] : NULL, h ? h->shape[1] : NULL, C(tr, f->layers), C(tr, f->ple)};
        proj = h ? mt_reshape(tr, proj, 4, qs) : NULL;
        proj = norm_forward(tr, gh->ple_norm, proj);
        ple = mt_mul_s(tr, mt_add(tr, proj, tok), pow(2.0, -0.5));
    }
    mt_tensor *ar = mt_tr_op1(tr, MT_OP_ARANGE, (mt_arg[]){mt_a_dim(ids->shape[1])}, 1, NULL, 0);
    mt_tensor *cache_pos = ar ? mt_tr_op1(tr, MT_OP_ADD, (mt_arg[]){mt_a_tensor(ar), mt_a_int(0)}, 2, NULL, 0) : NULL;
    mt_tensor *pos = mt_unsqueeze(tr, cache_pos, 0);
    /* create_causal_mask and create_sliding_window_causal_mask (the window on the causal one) */
    mt_tensor *full = mt_dec_causal_mask(tr, amask, cache_pos, f->dtype);
    mt_tensor *slide = f->window > 0 ? mt_dec_sliding_mask(tr, full, cache_pos, f->window, f->dtype) : NULL;
    mt_module *rot = gh->rotary;
    mt_tensor *cs[2] = {NULL, NULL}, *sn[2] = {NULL, NULL}; /* [0] sliding, [1] full */
    for (int k = 0; k < f->nkinds; k++) {
        bool sl = f->kind_sliding[k];
        mt_rope_cos_sin_kind(tr, rot, sl, h, pos, MT_ROPE_CAT, 1.0, &cs[sl ? 0 : 1], &sn[sl ? 0 : 1]);
    }
    kv_pair *kv = mt_alloc_array(ctx, (size_t)f->layers, sizeof *kv);
    if (!kv) return mt_ctx_status(ctx);
    mt_module *layers = gh->layers;
    for (int64_t i = 0; layers && i < layers->children.n && h; i++) {
        mt_module *L = layers->children.items[i];
        bool sl = f->sliding[i];
        mt_tensor *pli = NULL;
        if (ple) {
            mt_arg ix[4] = {mt_a_slice(NULL, NULL, NULL), mt_a_slice(NULL, NULL, NULL), mt_a_int(i),
                            mt_a_slice(NULL, NULL, NULL)};
            pli = mt_index(tr, ple, ix, 4);
        }
        const g4_layer_h *lh = MT_BOUND(tr, L, g4_layer_h);
        if (!lh) return mt_ctx_status(ctx);
        mt_tr_enter(tr, L);
        mt_tensor *res = h;
        mt_tensor *a = norm_forward(tr, lh->in_norm, h);
        a = attn_forward(tr, f, lh->attn, i, a, sl ? slide : full, cs[sl ? 0 : 1], sn[sl ? 0 : 1], kv);
        a = norm_forward(tr, lh->post_attn_norm, a);
        h = mt_add(tr, res, a);
        res = h;
        mt_tensor *x = norm_forward(tr, lh->pre_ff_norm, h);
        x = mlp_forward(tr, lh->mlp, x);
        if (f->moe && res) { /* the experts on the pre-MLP residual, beside the dense MLP */
            mt_tensor *x1 = norm_forward(tr, lh->post_ff_norm_1, x);
            const mt_sym *fl[2] = {NULL, res->shape[res->ndim - 1]};
            mt_tensor *flat = mt_reshape(tr, res, 2, fl);
            mt_tensor *rw, *ri;
            router_forward(tr, f, lh->router, flat, &rw, &ri);
            mt_tensor *x2 = norm_forward(tr, lh->pre_ff_norm_2, flat);
            x2 = mt_moe_fused_forward(tr, lh->experts, x2, ri, rw); /* Gemma4TextExperts.forward */
            x2 = mt_reshape(tr, x2, res->ndim, res->shape);
            x2 = norm_forward(tr, lh->post_ff_norm_2, x2);
            x = mt_add(tr, x1, x2);
        }
        x = norm_forward(tr, lh->post_ff_norm, x);
        h = mt_add(tr, res, x);
        if (ple) {
            res = h;
            x = mt_tr_call(tr, lh->pl_gate, h);
            x = mt_act_forward(tr, lh->act, x);
            x = mt_mul(tr, x, pli);
            x = mt_tr_call(tr, lh->pl_proj, x);
            x = norm_forward(tr, lh->pl_norm, x);
            h = mt_add(tr, res, x);
        }
        h = mt_mul(tr, h, mt_tr_get_attr(tr, lh->layer_scalar));
        mt_tr_leave(tr);
    }
    h = norm_forward(tr, gh->norm, h);
    mt_tr_leave(tr);
    mt_tensor *logits = mt_tr_call(tr, gh->lm_head, h);
    if (f->final_softcap > 0) {
        logits = mt_div_s(tr, logits, f->final_softcap);
        logits = mt_unary(tr, MT_OP_TANH, logits);
        logits = mt_mul_s(tr, logits, f->final_softcap);
    }
    return mt_tr_output(tr, &logits, 1);
}

/* ---- config (Gemma4TextConfig) ---- */

static const mt_dec_defaults g4_defaults = {
    .vocab = 262144, .hidden = 2304, .intermediate = 9216, .layers = 30, .heads = 8, .kv_heads = 4,
    .head_dim = 256, .norm_eps = 1e-6, .rope_theta = 10000.0, .hidden_act = "gelu_pytorch_tanh",
    .norm_eps_key = "rms_norm_eps", .tie_embeddings = true,
};

/* An optional positive float: absent or null means none (0). */
static bool read_opt_float(mt_model *m, const char *key, double *out) {
    *out = 0;
    if (!mt_config_has(m->cfg, key)) return true;
    if (!mt_config_float(m->cfg, key, 0, out)) return false;
    if (*out < 0) return mt_config_error(m->cfg, key, "expected a positive number or null, got %g (gemma4_text)", *out), false;
    return true;
}

/* layer_types (exactly num_hidden_layers entries; the last forced to full_attention, as
 * Gemma4TextConfig.__post_init__ does) or every sixth layer full. */
static bool read_layer_types(mt_model *m, g4 *f, int64_t cfg_layers) {
    json_t *lt = mt_config_json(m->cfg, "layer_types");
    bool *v = mt_alloc_array(m->ctx, (size_t)f->layers, sizeof *v);
    if (!v) return false;
    f->sliding = v;
    if (!lt || json_is_null(lt)) {
        for (int64_t i = 0; i < f->layers; i++) v[i] = (i + 1) % 6 != 0 && i != cfg_layers - 1;
        return true;
    }
    if (!json_is_array(lt) || (int64_t)json_array_size(lt) != cfg_layers)
        return mt_config_error(m->cfg, "layer_types", "expected a list of %lld layer types (num_hidden_layers) (gemma4_text)",
                               (long long)cfg_layers),
               false;
    for (int64_t i = 0; i < cfg_layers; i++) {
        const char *t = json_string_value(json_array_get(lt, (size_t)i));
        bool sl = t && strcmp(t, "sliding_attention") == 0;
        if (!sl && !(t && strcmp(t, "full_attention") == 0)) {
            char field[48];
            snprintf(field, sizeof field, "layer_types[%lld]", (long long)i);
            return mt_config_error(m->cfg, field, "expected \"sliding_attention\" or \"full_attention\" (gemma4_text)"),
                   false;
        }
        if (i == cfg_layers - 1) sl = false; /* "Last layer must use full_attention" */
        if (i < f->layers) v[i] = sl;
    }
    return true;
}

/* rope_parameters.<kind>: rope_type and rope_theta (and partial_rotary_factor). */
static bool read_rope(mt_model *m, g4 *f, bool sliding) {
    const char *kind = kind_name(sliding);
    char tf[80], th[80], pf[80];
    snprintf(tf, sizeof tf, "rope_parameters.%s.rope_type", kind);
    snprintf(th, sizeof th, "rope_parameters.%s.rope_theta", kind);
    snprintf(pf, sizeof pf, "rope_parameters.%s.partial_rotary_factor", kind);
    bool given = mt_config_has(m->cfg, "rope_parameters");
    const char *type;
    double theta, partial;
    /* Gemma4TextConfig's defaults apply when rope_parameters is absent */
    if (!mt_config_str(m->cfg, tf, given ? "default" : sliding ? "default" : "proportional", &type) ||
        !mt_config_float(m->cfg, th, sliding ? 10000.0 : 1000000.0, &theta) ||
        !mt_config_float(m->cfg, pf, given ? 1.0 : sliding ? 1.0 : 0.25, &partial))
        return false;
    if (given && !mt_config_has(m->cfg, th))
        return mt_config_error(m->cfg, th, "missing rope_theta for the %s layers (gemma4_text)", kind), false;
    bool prop = strcmp(type, "proportional") == 0;
    if (!prop && strcmp(type, "default") != 0)
        return mt_config_error(m->cfg, tf, "rope_type \"%s\" is not modelled (expected \"default\" or \"proportional\") "
                               "(gemma4_text)", type), false;
    if (!(partial > 0 && partial <= 1))
        return mt_config_error(m->cfg, pf, "expected a factor in (0, 1], got %g (gemma4_text)", partial), false;
    /* default rope sizes inv_freq from head_dim; on a full layer of another width the
     * cos/sin would not fit the heads */
    if (!sliding && !prop && f->global_head_dim != f->head_dim)
        return mt_config_error(m->cfg, tf, "rope_type \"default\" on full_attention layers of global_head_dim %lld "
                               "(head_dim %lld): transformers sizes its frequencies from head_dim (gemma4_text)",
                               (long long)f->global_head_dim, (long long)f->head_dim), false;
    if (sliding) f->theta_sliding = theta;
    else f->theta_full = theta, f->partial_full = partial, f->rope_full = type;
    return true;
}

static mt_status g4_build(mt_model *m) {
    mt_ctx *ctx = m->ctx;
    mt_config *c = m->cfg;
    g4 *f = mt_alloc(ctx, sizeof *f);
    if (!f) return mt_ctx_status(ctx);
    m->family = f;
    int64_t cfg_layers;
    if (!mt_config_pos_int(c, "num_hidden_layers", g4_defaults.layers, &cfg_layers)) return mt_ctx_status(ctx);
    mt_dec_spec s = {0};
    if (mt_dec_read_common(m, &s, &g4_defaults) != MT_OK) return mt_ctx_status(ctx);
    f->dtype = s.dtype, f->vocab = s.vocab, f->hidden = s.hidden, f->inter = s.intermediate, f->layers = s.layers;
    f->heads = s.heads, f->kv_heads = s.kv_heads, f->head_dim = s.head_dim, f->eps = s.norm_eps, f->tie = s.tie_embeddings;
    int64_t shared;
    const char *bidir = NULL;
    if (!mt_config_str(c, "hidden_activation", "gelu_pytorch_tanh", &f->act) ||
        !mt_config_bool(c, "attention_bias", false, &f->bias) ||
        !mt_dec_read_window(m, "sliding_window", 512, &f->window) ||
        !read_opt_float(m, "final_logit_softcapping", &f->final_softcap) ||
        !mt_config_int(c, "hidden_size_per_layer_input", 256, &f->ple) ||
        !mt_config_pos_int(c, "vocab_size_per_layer_input", 262144, &f->vocab_ple) ||
        !mt_config_bool(c, "attention_k_eq_v", false, &f->k_eq_v) ||
        !mt_config_int(c, "num_kv_shared_layers", 0, &shared) ||
        !mt_config_bool(c, "enable_moe_block", false, &f->moe) ||
        !mt_config_bool(c, "use_double_wide_mlp", false, &f->double_wide) ||
        !mt_config_str(c, "use_bidirectional_attention", NULL, &bidir))
        return mt_ctx_status(ctx);
    f->pad_none = mt_dec_cfg_is_null(m, "pad_token_id");
    if (!f->pad_none && !mt_config_int(c, "pad_token_id", 0, &f->pad)) return mt_ctx_status(ctx);
    if (f->moe) { /* Gemma4TextConfig: num_experts, top_k_experts, moe_intermediate_size default to None */
        static const char *const keys[3] = {"num_experts", "top_k_experts", "moe_intermediate_size"};
        int64_t *vals[3] = {&f->experts, &f->top_k, &f->moe_inter};
        for (int k = 0; k < 3; k++) {
            if (!mt_config_has(c, keys[k]))
                return mt_config_error(c, keys[k], "required with enable_moe_block (Gemma4TextExperts, "
                                       "Gemma4TextRouter) (gemma4_text)");
            if (!mt_config_pos_int(c, keys[k], 0, vals[k])) return mt_ctx_status(ctx);
        }
        if (f->top_k > f->experts)
            return mt_config_error(c, "top_k_experts", "top_k_experts %lld exceeds num_experts %lld (gemma4_text)",
                                   (long long)f->top_k, (long long)f->experts);
    }
    if (bidir && strcmp(bidir, "all") == 0)
        return mt_config_error(c, "use_bidirectional_attention", "\"all\" (bidirectional attention on every token) is "
                               "not modelled (gemma4_text)");
    if (bidir && strcmp(bidir, "vision") != 0)
        return mt_config_error(c, "use_bidirectional_attention", "expected \"vision\", \"all\" or null, got \"%s\" "
                               "(gemma4_text)", bidir);
    if (mt_dec_cfg_is_null(m, "hidden_size_per_layer_input")) f->ple = 0; /* None: no per-layer inputs */
    if (f->ple < 0)
        return mt_config_error(c, "hidden_size_per_layer_input", "expected 0 (no per-layer inputs) or a positive size, "
                               "got %lld (gemma4_text)", (long long)f->ple);
    if (shared < 0 || shared >= cfg_layers)
        return mt_config_error(c, "num_kv_shared_layers", "expected 0 to %lld (fewer than num_hidden_layers), got %lld "
                               "(gemma4_text)", (long long)(cfg_layers - 1), (long long)shared);
    if (f->window <= 0) f->window = 0;
    if (f->k_eq_v) {
        if (!mt_config_has(c, "num_global_key_value_heads"))
            return mt_config_error(c, "num_global_key_value_heads", "required with attention_k_eq_v (gemma4_text)");
        if (!mt_config_pos_int(c, "num_global_key_value_heads", 0, &f->global_kv_heads)) return mt_ctx_status(ctx);
        if (f->heads % f->global_kv_heads != 0)
            return mt_config_error(c, "num_global_key_value_heads", "num_attention_heads %lld is not divisible by "
                                   "num_global_key_value_heads %lld (gemma4_text)",
                                   (long long)f->heads, (long long)f->global_kv_heads);
    }
    if (!read_layer_types(m, f, cfg_layers)) return mt_ctx_status(ctx);
    /* global_head_dim: popped with default 512 by Gemma4TextConfig; null means full layers keep head_dim */
    if (mt_dec_cfg_is_null(m, "global_head_dim")) f->global_head_dim = f->head_dim;
    else if (!mt_config_pos_int(c, "global_head_dim", 512, &f->global_head_dim)) return mt_ctx_status(ctx);
    for (int64_t i = 0; i < f->layers; i++) {
        bool seen = false;
        for (int k = 0; k < f->nkinds; k++) seen = seen || f->kind_sliding[k] == f->sliding[i];
        if (!seen) f->kind_sliding[f->nkinds++] = f->sliding[i];
    }
    bool any_sliding = false;
    for (int k = 0; k < f->nkinds; k++) any_sliding = any_sliding || f->kind_sliding[k];
    if (any_sliding && f->window <= 0)
        return mt_config_error(c, "sliding_window", "layer_types has sliding_attention layers but no sliding_window (gemma4_text)");
    for (int k = 0; k < f->nkinds; k++)
        if (!read_rope(m, f, f->kind_sliding[k])) return mt_ctx_status(ctx);
    if (f->head_dim % 2 || f->global_head_dim % 2)
        return mt_config_error(c, "head_dim", "expected even head widths for the rotary (head_dim %lld, global_head_dim "
                               "%lld) (gemma4_text)", (long long)f->head_dim, (long long)f->global_head_dim);
    /* KV sharing: layers from num_hidden_layers - num_kv_shared_layers on read the K/V of the last
     * earlier layer of their kind (--layers N counts as num_hidden_layers N: no sharing when
     * N <= num_kv_shared_layers) */
    f->first_shared = shared > 0 && f->layers - shared > 0 ? f->layers - shared : 0;
    f->kv_src = mt_alloc_array(ctx, (size_t)f->layers, sizeof *f->kv_src);
    if (!f->kv_src) return mt_ctx_status(ctx);
    for (int64_t i = 0; i < f->layers; i++) {
        f->kv_src[i] = i;
        if (!layer_shared(f, i)) continue;
        f->kv_src[i] = -1;
        for (int64_t j = f->first_shared - 1; j >= 0; j--)
            if (f->sliding[j] == f->sliding[i]) {
                f->kv_src[i] = j;
                break;
            }
        if (f->kv_src[i] < 0)
            return mt_config_error(c, "num_kv_shared_layers", "layer %lld (%s) shares K/V but no earlier layer of its "
                                   "kind computes them (gemma4_text)", (long long)i, kind_name(f->sliding[i]));
    }
    if (build_model(m, f) != MT_OK) return mt_ctx_status(ctx);
    int64_t nfull = 0;
    for (int64_t i = 0; i < f->layers; i++) nfull += !f->sliding[i];
    mt_model_info(m, "vocab_size", mt_a_int(f->vocab));
    mt_model_info(m, "hidden_size", mt_a_int(f->hidden));
    mt_model_info(m, "intermediate_size", mt_a_int(f->inter));
    mt_model_info(m, "num_hidden_layers", mt_a_int(f->layers));
    mt_model_info(m, "num_attention_heads", mt_a_int(f->heads));
    mt_model_info(m, "num_key_value_heads", mt_a_int(f->kv_heads));
    mt_model_info(m, "head_dim", mt_a_int(f->head_dim));
    mt_model_info(m, "global_head_dim", mt_a_int(f->global_head_dim));
    if (f->k_eq_v) mt_model_info(m, "num_global_key_value_heads", mt_a_int(f->global_kv_heads));
    mt_model_info(m, "full_attention_layers", mt_a_int(nfull));
    if (f->window > 0) mt_model_info(m, "sliding_window", mt_a_int(f->window));
    if (f->first_shared > 0) mt_model_info(m, "num_kv_shared_layers", mt_a_int(f->layers - f->first_shared));
    if (f->ple > 0) mt_model_info(m, "hidden_size_per_layer_input", mt_a_int(f->ple));
    mt_model_info(m, "hidden_activation", mt_a_str(f->act));
    mt_model_info(m, "rms_norm_eps", mt_a_float(f->eps));
    if (any_sliding) mt_model_info(m, "rope_theta_sliding", mt_a_float(f->theta_sliding));
    if (nfull > 0) {
        mt_model_info(m, "rope_theta_full", mt_a_float(f->theta_full));
        mt_model_info(m, "rope_type_full", mt_a_str(f->rope_full));
        if (f->partial_full != 1.0) mt_model_info(m, "partial_rotary_factor_full", mt_a_float(f->partial_full));
    }
    if (f->final_softcap > 0) mt_model_info(m, "final_logit_softcapping", mt_a_float(f->final_softcap));
    mt_model_info(m, "tie_word_embeddings", mt_a_bool(f->tie));
    if (f->moe) {
        mt_model_info(m, "num_experts", mt_a_int(f->experts));
        mt_model_info(m, "top_k_experts", mt_a_int(f->top_k));
        mt_model_info(m, "moe_intermediate_size", mt_a_int(f->moe_inter));
    }
    return MT_OK;
}

/* Active parameters: of each layer's experts (gate_up_proj and down_proj, E experts of
 * 3 * hidden * moe_intermediate_size) top_k_experts run per token. */
static mt_status g4_totals(const mt_model *m, mt_totals *t) {
    const g4 *f = m->family;
    if (!f || !f->moe) return MT_OK;
    int64_t per_expert = 3 * f->hidden * f->moe_inter;
    t->active_params = t->params - f->layers * (f->experts - f->top_k) * per_expert;
    return MT_OK;
}

const mt_arch mt_arch_gemma4_text = {
    .model_type = "gemma4_text",
    .default_class = "Gemma4ForCausalLM",
    .example = "google/gemma-4-31B-it (text_config)",
    .build = g4_build,
    .forward = g4_forward,
    .totals = g4_totals,
};
