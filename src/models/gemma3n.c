/* Gemma 3n: Gemma3nForCausalLM (model_type gemma3n_text) and the multimodal
 * Gemma3nForConditionalGeneration (model_type gemma3n) traced as its language
 * model under the checkpoints' names (model.language_model.*, lm_head), with a
 * note that the towers are not built. After transformers'
 * models/gemma3n/modeling_gemma3n.py (the stored mirror at commit 00aa0f5d) and
 * configuration_gemma3n.py (01854809). Gemma 4 (gemma4.c) descends from it; the
 * scaled word embedding is shared through gemma4.h.
 *
 * Parameters, in registration order:
 *   Gemma3nForCausalLM: model, lm_head (tied to model.embed_tokens.weight with
 *     tie_word_embeddings, true by default).
 *   Gemma3nForConditionalGeneration: model (Gemma3nModel: vision_tower,
 *     language_model, audio_tower, embed_vision, embed_audio; only language_model
 *     is built), lm_head (tied likewise, the top-level tie_word_embeddings).
 *   Gemma3nTextModel: embed_tokens (Gemma3nTextScaledWordEmbedding [vocab,
 *     hidden], padding_idx pad_token_id, a 0-d embed_scale buffer hidden**0.5),
 *     layers, norm, rotary_emb (Gemma3nRotaryEmbedding: a non-persistent float32
 *     "<kind>_inv_freq" buffer [head_dim / 2] per attention kind of layer_types;
 *     "<kind>_original_inv_freq" is a plain attribute, not a buffer),
 *     embed_tokens_per_layer ([vocab_size_per_layer_input, layers * ple], scale
 *     ple**0.5), per_layer_model_projection (Linear hidden -> layers * ple),
 *     per_layer_projection_norm (over ple), altup_projections and
 *     altup_unembed_projections (ModuleLists of altup_num_inputs - 1 Linear
 *     hidden -> hidden), the 0-d buffers per_layer_projection_scale
 *     (hidden**-0.5) and per_layer_input_scale (rsqrt(2)).
 *   Gemma3nTextDecoderLayer: self_attn, mlp, input_layernorm,
 *     post_attention_layernorm, pre_feedforward_layernorm,
 *     post_feedforward_layernorm, act_fn, altup (Gemma3nTextAltUp:
 *     correct_output_scale [hidden], correction_coefs Linear(n, n),
 *     prediction_coefs Linear(n, n*n), modality_router Linear(hidden, n),
 *     router_norm, a 0-d router_input_scale buffer hidden**-1; n =
 *     altup_num_inputs), laurel (Gemma3nTextLaurelBlock: linear_left hidden ->
 *     laurel_rank, linear_right back, post_laurel_norm), per_layer_input_gate
 *     (hidden -> ple), per_layer_projection (ple -> hidden),
 *     post_per_layer_input_norm. Every Linear without bias but attention_bias's.
 *   Gemma3nTextAttention: q_proj, k_proj, v_proj, o_proj (heads * head_dim),
 *     q_norm, k_norm (head_dim), v_norm (with_scale False: a non-persistent 0-d
 *     weight buffer 1.0). A KV-shared layer keeps its k_proj, v_proj and k_norm
 *     (they are in the checkpoints) but reads the K/V the last earlier non-shared
 *     layer of its kind computed.
 *   Gemma3nTextMLP: gate_proj, up_proj, down_proj (intermediate_size[i]: an int
 *     or one per layer), act_fn (hidden_activation).
 *   Gemma3nRMSNorm: weight [dim] (plain, not 1 + w).
 *
 * Forward (Gemma3nForCausalLM.forward, Gemma3nTextModel.forward, input_ids given):
 *   inputs_embeds = embed_tokens(ids); per_layer_inputs = embed_tokens_per_layer(
 *     ids).reshape(b, s, L, ple); project_per_layer_inputs: per_layer_model_projection(
 *     inputs_embeds) * per_layer_projection_scale.to(dtype), reshape(b, s, L, ple),
 *     per_layer_projection_norm, (+ per_layer_inputs) * per_layer_input_scale.to(dtype);
 *   cache_position = arange(seq) + 0, position_ids = cache_position.unsqueeze(0);
 *     the causal mask and the sliding one (sliding_window);
 *   AltUp's inputs: target = mean(h0 ** 2, -1, keepdim) ** 0.5, eps =
 *     torch.tensor(1e-5); for i in 1..n-1: p = altup_projections[i-1](h0).to(dtype),
 *     p * target / sqrt(maximum(mean(p ** 2, -1, keepdim), eps)); stack(dim=0)
 *     [n, b, s, hidden];
 *   rotary_emb(hidden_states, position_ids, layer_type) for every entry of
 *     layer_types in order (a dict keeps the last of each kind; each call is
 *     recorded, as Python runs it);
 *   layer (per_layer_input = per_layer_inputs[:, :, i, :]):
 *     predict: modalities = tanh(modality_router(router_norm(h[active]) *
 *       router_input_scale).float()).type_as(x); coefs = prediction_coefs(
 *       modalities).reshape(b, s, n, n).permute(0, 1, 3, 2); predictions =
 *       matmul(h.permute(1, 2, 3, 0), coefs).permute(3, 0, 1, 2) + h,
 *       .contiguous().type_as(h);
 *     active = predictions[active]; normed = input_layernorm(active); laurel =
 *       normed + post_laurel_norm(linear_right(linear_left(normed)));
 *     attn = post_attention_layernorm(self_attn(normed)); attn_laurel = (active +
 *       attn + laurel) / sqrt(2) (two adds, then the divide);
 *     ffw = attn_laurel + post_feedforward_layernorm(mlp(pre_feedforward_layernorm(
 *       attn_laurel)));
 *     correct: modalities of ffw; innovation = (ffw - predictions[active]).repeat(
 *       n, 1, 1, 1); coefs = (correction_coefs(modalities) + 1.0).permute(2, 0, 1)
 *       .unsqueeze(-1); corrected = innovation * coefs + predictions,
 *       .contiguous().type_as(ffw);
 *     first = corrected[active].clone(), with altup_correct_scale
 *       altup.forward(first): (first.type_as(correct_output_scale) *
 *       correct_output_scale).type_as(first); per_layer_input_gate, act_fn, *
 *       per_layer_input, per_layer_projection, post_per_layer_input_norm;
 *       corrected[1:] += first (a getitem view and an in-place add_ on it: the
 *       layer returns corrected, the base the add_ writes through);
 *   MLP: gate = gate_proj(x); with activation_sparsity_pattern[i] > 0 the
 *     gaussian top-k: relu(gate - (mean(gate, -1, keepdim) + std(gate, -1,
 *     keepdim, unbiased=False) * m)), m = Normal(0, 1).icdf(sparsity) cast to the
 *     activations' dtype (std_multiplier.type(inputs.dtype)); then
 *     down_proj(act_fn(gate) * up_proj(x));
 *   attention: q = q_norm(q_proj(x).view(b, s, -1, head_dim)), rotary with cos/sin
 *     unsqueezed at dim 2, transpose(1, 2); k likewise with k_norm; v =
 *     v_norm(v_proj(x).view(..)).transpose(1, 2); a KV-shared layer uses the
 *     producer's K/V (past_key_values.shared_layers, use_cache true by default);
 *     scaling 1.0, sdpa (default) or eager; reshape(b, s, -1).contiguous(), o_proj;
 *   after the layers: target = mean(h[0] ** 2, -1, keepdim) ** 0.5; for i in
 *     1..n-1 altup_unembed_projections[i-1](h[i]) rescaled as above; stack, mean
 *     over dim 0, norm; lm_head; final_logit_softcapping (div, tanh, mul) when set.
 *   Gemma3nRMSNorm: (x.float() / sqrt(x.float().pow(2).mean(-1, keepdim) + eps))
 *     * weight.float(), type_as(x).
 *
 * Recorded simplifications: the in-place `*=` / `+=` on fresh tensors
 * (per_layer_projection *= scale, predictions += h, corrected += predictions) as
 * out-of-place ops; `**` as the method pow; torch.mean / torch.multiply /
 * torch.mul as the method mean and operator.mul; .float() / .type(dtype) as .to;
 * the icdf constant as a Python float in the multiply (metatrace computes
 * Normal(0, 1).icdf(p) = erfinv(2p - 1) * sqrt(2) in double, rounds it to float32
 * as torch computes it and then to the activations' dtype, as .type does: the
 * value, not the few 0-d ops that compute it, is recorded); the .to(device)
 * moves are not recorded; lm_head gets the hidden states whole (logits_to_keep 0).
 * Not recorded: AltUp's clamp_ of its coefficient weights' .data to
 * altup_coef_clip in correct (a mutation of parameters outside autograd, not of
 * the activations; predict's runs only in training). The Python set that orders
 * the rotary buffers is taken in first-appearance order of layer_types (a set's
 * order is the strings' hash's). Not modelled (refused with the field named): a
 * rope_type other than "default". The multimodal model's towers are not built:
 * the vision tower is a timm MobileNetV5 via TimmWrapper (timm's code, not
 * transformers', so not read here); the audio tower, Gemma3nAudioEncoder (a
 * conformer: sub-sampling convolutions with a cumulative group norm, chunked
 * local attention with relative-position logits and a logit cap, a light
 * convolution block), needs ops metatrace does not have yet (Tensor.unfold's
 * sliding windows, F.glu) and a second input (input_features and its mask) whose
 * merge into the text makes the token count data dependent: left for later, not
 * refused on principle. Neither are their embedders (embed_vision, embed_audio:
 * Gemma3nMultimodalEmbedder) nor the forward that merges their token ids and
 * features into inputs_embeds: the wrapper traces its language model on
 * input_ids, as Gemma3nForCausalLM does. */
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "gemma4.h"

typedef struct g3n {
    mt_dtype dtype;
    int64_t vocab, hidden, layers, heads, kv_heads, head_dim, window, ple, vocab_ple, pad;
    int64_t altup_n, altup_active, laurel_rank, first_shared;
    double eps, final_softcap, theta_sliding, theta_full;
    const char *act;
    bool bias, tie, pad_none, correct_scale;
    bool wrapper;          /* gemma3n: the language model under model.language_model */
    int64_t *inter;        /* per layer */
    double *sparsity;      /* per layer: activation_sparsity_pattern */
    bool *sliding;         /* per layer */
    int64_t *kv_src;       /* per layer: the layer whose K/V it reads (itself when it computes them) */
    int nkinds;
    bool kind_sliding[2];  /* the attention kinds of layer_types, in first-appearance order */
    mt_module *lm;         /* the Gemma3nTextModel */
} g3n;

static const mt_sym *C(mt_tracer *tr, int64_t v) { return mt_sym_const(tr->ctx, v); }
static const char *kind_name(bool sliding) { return sliding ? "sliding_attention" : "full_attention"; }
static bool layer_shared(const g3n *f, int64_t i) { return f->first_shared > 0 && i >= f->first_shared; }

/* ---- handles (blocks.h, "handles bound at build"; the embedding's and attention's are gemma4.h's) ---- */
/* The CausalLM's (bound to m->root): the wrapper's model (NULL for gemma3n_text), the text model and
 * its children, lm_head. */
typedef struct g3n_h {
    mt_module *wrapper, *model, *embed, *layers, *norm, *rotary, *embed_ple, *ple_proj, *ple_norm;
    mt_module *altup_proj, *altup_unembed, *lm_head;
    mt_param *ple_proj_scale, *ple_input_scale;
} g3n_h;
static const mt_handle_kind g3n_h_kind = {"gemma3n g3n_h"};
/* A decoder layer's. */
typedef struct g3n_layer_h {
    mt_module *attn, *mlp, *in_norm, *post_attn_norm, *pre_ff_norm, *post_ff_norm, *act;
    mt_module *altup, *laurel, *pl_gate, *pl_proj, *pl_norm;
} g3n_layer_h;
static const mt_handle_kind g3n_layer_h_kind = {"gemma3n g3n_layer_h"};
/* Gemma3nTextAltUp's. */
typedef struct g3n_altup_h {
    mt_module *correction, *prediction, *router, *router_norm;
    mt_param *correct_output_scale, *router_input_scale;
} g3n_altup_h;
static const mt_handle_kind g3n_altup_h_kind = {"gemma3n g3n_altup_h"};
/* Gemma3nTextLaurelBlock's. */
typedef struct g3n_laurel_h {
    mt_module *left, *right, *norm;
} g3n_laurel_h;
static const mt_handle_kind g3n_laurel_h_kind = {"gemma3n g3n_laurel_h"};

/* ---- construction ---- */

/* Gemma3nRMSNorm(dim, eps, with_scale): a weight [dim], or without scale a
 * non-persistent 0-d weight buffer (torch.tensor(1.0)). */
static mt_module *rms_norm(mt_model *m, const g3n *f, mt_module *parent, const char *name, int64_t dim, bool scale) {
    mt_module *n = mt_module_new(m->ctx, parent, name, "Gemma3nRMSNorm");
    if (!n) return NULL;
    mt_module_attr(m->ctx, n, "eps", mt_a_float(f->eps));
    mt_module_attr(m->ctx, n, "with_scale", mt_a_bool(scale));
    mt_norm_h *h = MT_BIND(m->ctx, n, mt_norm_h);
    if (!h) return NULL;
    h->weight = scale ? mt_param_new(m->ctx, n, "weight", f->dtype, MT_DEVICE_CPU, 1, &dim)
                      : mt_buffer_new(m->ctx, n, "weight", f->dtype, MT_DEVICE_CPU, 0, &dim, false, true);
    return h->weight ? n : NULL;
}

static mt_module *linear(mt_model *m, const g3n *f, mt_module *parent, const char *name, int64_t in, int64_t out) {
    return mt_nn_linear(m->ctx, parent, name, in, out, false, f->dtype, MT_DEVICE_CPU);
}

static mt_param *scalar_buffer(mt_model *m, const g3n *f, mt_module *mod, const char *name, double value) {
    int64_t none = 0;
    mt_param *b = mt_buffer_new(m->ctx, mod, name, f->dtype, MT_DEVICE_CPU, 0, &none, false, true);
    if (b) mt_module_attr(m->ctx, mod, name, mt_a_float(value));
    return b;
}

/* Normal(0, 1).icdf(p) = erfinv(2p - 1) * sqrt(2) (torch.distributions.Normal), by
 * Newton's method on erf from a bisection start, in double; then rounded as torch
 * rounds it: float32 (the tensor's dtype), then the activations' dtype. */
static double round_to(double v, mt_dtype dt) {
    float x = (float)v;
    if (dt == MT_FLOAT32 || dt == MT_FLOAT64 || !isfinite(x)) return x;
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    if (dt == MT_BFLOAT16) { /* round to nearest even on the 16 dropped bits */
        u += 0x7fffu + ((u >> 16) & 1u);
        u &= 0xffff0000u;
        memcpy(&x, &u, sizeof x);
        return x;
    }
    if (dt == MT_FLOAT16) { /* 10 mantissa bits (normal range): ldexp to an integer and back */
        int e;
        double fr = frexp((double)x, &e); /* x = fr * 2^e, 0.5 <= |fr| < 1 */
        return ldexp(nearbyint(ldexp(fr, 11)), e - 11);
    }
    return x;
}

static double normal_icdf(double p) {
    double y = 2 * p - 1, lo = -6, hi = 6;
    for (int i = 0; i < 60; i++) { /* erf(x) = y: bisection, then Newton */
        double mid = (lo + hi) / 2;
        if (erf(mid) < y) lo = mid;
        else hi = mid;
    }
    double x = (lo + hi) / 2;
    for (int i = 0; i < 3; i++) x -= (erf(x) - y) / (1.1283791670955126 * exp(-x * x)); /* erf' = 2/sqrt(pi) e^-x^2 */
    return x * sqrt(2.0);
}

static mt_status build_layer(mt_model *m, const g3n *f, mt_module *layers, int64_t i) {
    mt_ctx *ctx = m->ctx;
    char idx[24];
    snprintf(idx, sizeof idx, "%lld", (long long)i);
    int64_t H = f->hidden, hd = f->head_dim, n = f->altup_n;
    mt_module *L = mt_module_new(ctx, layers, idx, "Gemma3nTextDecoderLayer");
    g3n_layer_h *lh = MT_BIND(ctx, L, g3n_layer_h);
    mt_module *at = lh ? lh->attn = mt_module_new(ctx, L, "self_attn", "Gemma3nTextAttention") : NULL;
    mt_g4_attn_h *ah = MT_BIND(ctx, at, mt_g4_attn_h);
    if (!ah) return mt_ctx_status(ctx);
    mt_module_attr(ctx, at, "head_dim", mt_a_int(hd));
    mt_module_attr(ctx, at, "is_sliding", mt_a_bool(f->sliding[i]));
    mt_module_attr(ctx, at, "is_kv_shared_layer", mt_a_bool(layer_shared(f, i)));
    if (layer_shared(f, i)) mt_module_attr(ctx, at, "kv_shared_layer_index", mt_a_int(f->kv_src[i]));
    if (!(ah->q = mt_nn_linear(ctx, at, "q_proj", H, f->heads * hd, f->bias, f->dtype, MT_DEVICE_CPU)) ||
        !(ah->k = mt_nn_linear(ctx, at, "k_proj", H, f->kv_heads * hd, f->bias, f->dtype, MT_DEVICE_CPU)) ||
        !(ah->v = mt_nn_linear(ctx, at, "v_proj", H, f->kv_heads * hd, f->bias, f->dtype, MT_DEVICE_CPU)) ||
        !(ah->o = mt_nn_linear(ctx, at, "o_proj", f->heads * hd, H, f->bias, f->dtype, MT_DEVICE_CPU)) ||
        !(ah->q_norm = rms_norm(m, f, at, "q_norm", hd, true)) ||
        !(ah->k_norm = rms_norm(m, f, at, "k_norm", hd, true)) ||
        !(ah->v_norm = rms_norm(m, f, at, "v_norm", hd, false)))
        return mt_ctx_status(ctx);
    mt_module *mlp = lh->mlp = mt_module_new(ctx, L, "mlp", "Gemma3nTextMLP");
    mt_mlp_h *mh = MT_BIND(ctx, mlp, mt_mlp_h);
    if (!mh || !(mh->gate = linear(m, f, mlp, "gate_proj", H, f->inter[i])) ||
        !(mh->up = linear(m, f, mlp, "up_proj", H, f->inter[i])) ||
        !(mh->down = linear(m, f, mlp, "down_proj", f->inter[i], H)) ||
        !(mh->act = mt_act_new(m, mlp, "act_fn", f->act, "hidden_activation")))
        return mt_ctx_status(ctx);
    mt_module_attr(ctx, mlp, "activation_sparsity", mt_a_float(f->sparsity[i]));
    if (f->sparsity[i] > 0)
        mt_module_attr(ctx, mlp, "std_multiplier", mt_a_float(round_to(normal_icdf(f->sparsity[i]), f->dtype)));
    if (!(lh->in_norm = rms_norm(m, f, L, "input_layernorm", H, true)) ||
        !(lh->post_attn_norm = rms_norm(m, f, L, "post_attention_layernorm", H, true)) ||
        !(lh->pre_ff_norm = rms_norm(m, f, L, "pre_feedforward_layernorm", H, true)) ||
        !(lh->post_ff_norm = rms_norm(m, f, L, "post_feedforward_layernorm", H, true)) ||
        !(lh->act = mt_act_new(m, L, "act_fn", f->act, "hidden_activation")))
        return mt_ctx_status(ctx);
    mt_module *au = lh->altup = mt_module_new(ctx, L, "altup", "Gemma3nTextAltUp");
    g3n_altup_h *uh = MT_BIND(ctx, au, g3n_altup_h);
    if (!uh || !(uh->correct_output_scale = mt_param_new(ctx, au, "correct_output_scale", f->dtype, MT_DEVICE_CPU, 1,
                                                          &f->hidden)) ||
        !(uh->correction = linear(m, f, au, "correction_coefs", n, n)) ||
        !(uh->prediction = linear(m, f, au, "prediction_coefs", n, n * n)) ||
        !(uh->router = linear(m, f, au, "modality_router", H, n)) ||
        !(uh->router_norm = rms_norm(m, f, au, "router_norm", H, true)) ||
        !(uh->router_input_scale = scalar_buffer(m, f, au, "router_input_scale", 1.0 / (double)H)))
        return mt_ctx_status(ctx);
    mt_module *lr = lh->laurel = mt_module_new(ctx, L, "laurel", "Gemma3nTextLaurelBlock");
    g3n_laurel_h *rh = MT_BIND(ctx, lr, g3n_laurel_h);
    if (!rh || !(rh->left = linear(m, f, lr, "linear_left", H, f->laurel_rank)) ||
        !(rh->right = linear(m, f, lr, "linear_right", f->laurel_rank, H)) ||
        !(rh->norm = rms_norm(m, f, lr, "post_laurel_norm", H, true)) ||
        !(lh->pl_gate = linear(m, f, L, "per_layer_input_gate", H, f->ple)) ||
        !(lh->pl_proj = linear(m, f, L, "per_layer_projection", f->ple, H)) ||
        !(lh->pl_norm = rms_norm(m, f, L, "post_per_layer_input_norm", H, true)))
        return mt_ctx_status(ctx);
    return MT_OK;
}

static mt_status build_model(mt_model *m, g3n *f) {
    mt_ctx *ctx = m->ctx;
    if (mt_attn_choose(m, MT_ATTN_BOTH, MT_ATTN_BOTH, MT_ATTN_IMPL_SDPA) != MT_OK) return mt_ctx_status(ctx);
    g3n_h *gh = MT_BIND(ctx, m->root, g3n_h);
    if (!gh) return mt_ctx_status(ctx);
    mt_module *parent = m->root;
    if (f->wrapper && !(parent = gh->wrapper = mt_module_new(ctx, m->root, "model", "Gemma3nModel")))
        return mt_ctx_status(ctx);
    const char *model_name = f->wrapper ? "language_model" : "model";
    mt_module *model = gh->model = mt_module_new(ctx, parent, model_name, "Gemma3nTextModel");
    f->lm = model;
    mt_module *emb = model ? gh->embed = mt_g4_scaled_embedding(m, model, "embed_tokens",
                                                                "Gemma3nTextScaledWordEmbedding", f->vocab, f->hidden,
                                                                sqrt((double)f->hidden), f->dtype, f->pad_none, f->pad)
                           : NULL;
    mt_module *layers = emb ? gh->layers = mt_module_new(ctx, model, "layers", "ModuleList") : NULL;
    if (!layers) return mt_ctx_status(ctx);
    for (int64_t i = 0; i < f->layers; i++)
        if (build_layer(m, f, layers, i) != MT_OK) return mt_ctx_status(ctx);
    mt_module *rot = (gh->norm = rms_norm(m, f, model, "norm", f->hidden, true))
                         ? gh->rotary = mt_module_new(ctx, model, "rotary_emb", "Gemma3nRotaryEmbedding")
                         : NULL;
    mt_rope_kinds_h *rh = MT_BIND(ctx, rot, mt_rope_kinds_h);
    if (!rh) return mt_ctx_status(ctx);
    for (int k = 0; k < f->nkinds; k++) {
        bool sl = f->kind_sliding[k];
        int64_t half = f->head_dim / 2;
        char name[48];
        snprintf(name, sizeof name, "%s_inv_freq", kind_name(sl));
        rh->inv_freq[sl ? 0 : 1] = mt_buffer_new(ctx, rot, name, MT_FLOAT32, MT_DEVICE_CPU, 1, &half, false, true);
        if (!rh->inv_freq[sl ? 0 : 1]) return mt_ctx_status(ctx);
    }
    mt_module *ap = NULL, *aup = NULL;
    if (!(gh->embed_ple = mt_g4_scaled_embedding(m, model, "embed_tokens_per_layer", "Gemma3nTextScaledWordEmbedding",
                                                 f->vocab_ple, f->layers * f->ple, sqrt((double)f->ple), f->dtype,
                                                 f->pad_none, f->pad)) ||
        !(gh->ple_proj = linear(m, f, model, "per_layer_model_projection", f->hidden, f->layers * f->ple)) ||
        !(gh->ple_norm = rms_norm(m, f, model, "per_layer_projection_norm", f->ple, true)) ||
        !(gh->altup_proj = ap = mt_module_new(ctx, model, "altup_projections", "ModuleList")))
        return mt_ctx_status(ctx);
    for (int64_t i = 1; i < f->altup_n; i++) {
        char idx[24];
        snprintf(idx, sizeof idx, "%lld", (long long)(i - 1));
        if (!linear(m, f, ap, idx, f->hidden, f->hidden)) return mt_ctx_status(ctx);
    }
    if (!(gh->altup_unembed = aup = mt_module_new(ctx, model, "altup_unembed_projections", "ModuleList")))
        return mt_ctx_status(ctx);
    for (int64_t i = 1; i < f->altup_n; i++) {
        char idx[24];
        snprintf(idx, sizeof idx, "%lld", (long long)(i - 1));
        if (!linear(m, f, aup, idx, f->hidden, f->hidden)) return mt_ctx_status(ctx);
    }
    if (!(gh->ple_proj_scale =
              scalar_buffer(m, f, model, "per_layer_projection_scale", pow((double)f->hidden, -0.5))) ||
        !(gh->ple_input_scale = scalar_buffer(m, f, model, "per_layer_input_scale", 1.0 / sqrt(2.0))))
        return mt_ctx_status(ctx);
    const mt_g4_embed_h *eh = mt_module_bound(emb, &mt_g4_embed_h_kind);
    gh->lm_head = f->tie ? mt_nn_linear_tied(ctx, m->root, "lm_head", eh->weight)
                         : mt_nn_linear(ctx, m->root, "lm_head", f->hidden, f->vocab, false, f->dtype, MT_DEVICE_CPU);
    if (!gh->lm_head) return mt_ctx_status(ctx);
    return MT_OK;
}

/* ---- forward ---- */

static mt_tensor *op(mt_tracer *tr, mt_op_id id, const mt_arg *a, int n, const mt_kwarg *kw, int nkw) {
    for (int i = 0; i < n; i++)
        if (a[i].kind == MT_ARG_TENSOR && !a[i].v.t) return NULL;
    for (int i = 0; i < nkw; i++)
        if (kw[i].value.kind == MT_ARG_TENSOR && !kw[i].value.v.t) return NULL;
    return mt_tr_op1(tr, id, a, n, kw, nkw);
}

/* x[i] along dim 0. */
static mt_tensor *item0(mt_tracer *tr, mt_tensor *x, int64_t i) {
    mt_arg ix = mt_a_int(i);
    return mt_index(tr, x, &ix, 1);
}

/* mean(x, dim=-1, keepdim=True). */
static mt_tensor *mean_last(mt_tracer *tr, mt_tensor *x) { return mt_reduce(tr, MT_OP_MEAN, x, -1, true); }

/* Gemma3nRMSNorm.forward: (_norm(x.float()) * weight.float()).type_as(x), _norm(h) =
 * h / torch.sqrt(h.pow(2).mean(-1, keepdim=True) + eps). */
static mt_tensor *norm_forward(mt_tracer *tr, mt_module *n, mt_tensor *x) {
    if (!x || !n) return NULL;
    const mt_norm_h *nh = MT_BOUND(tr, n, mt_norm_h);
    if (!nh) return NULL;
    const mt_arg *eps = mt_module_get_attr(n, "eps");
    mt_tr_enter(tr, n);
    mt_tensor *h = mt_to(tr, x, MT_FLOAT32);
    mt_tensor *ms = mt_add_s(tr, mean_last(tr, mt_pow_s(tr, h, 2)), eps ? eps->v.f : 1e-6);
    mt_tensor *rt = mt_unary(tr, MT_OP_SQRT, ms);
    h = mt_div(tr, h, rt);
    mt_tensor *w = mt_to(tr, mt_tr_get_attr(tr, nh->weight), MT_FLOAT32);
    h = mt_mul(tr, h, w);
    mt_tensor *y = op(tr, MT_OP_TYPE_AS, (mt_arg[]){mt_a_tensor(h), mt_a_tensor(x)}, 2, NULL, 0);
    mt_tr_leave(tr);
    return y;
}

/* A 0-d buffer, .to(dtype). */
static mt_tensor *buffer_to(mt_tracer *tr, mt_param *b, mt_dtype dt) { return mt_to(tr, mt_tr_get_attr(tr, b), dt); }

typedef struct kv_pair {
    mt_tensor *k, *v;
} kv_pair;

/* Gemma3nTextAttention.forward. */
static mt_tensor *attn_forward(mt_tracer *tr, const g3n *f, mt_module *at, int64_t i, mt_tensor *x, mt_tensor *mask,
                               mt_tensor *cos, mt_tensor *sin, kv_pair *kv) {
    if (!x || !at) return NULL;
    const mt_g4_attn_h *ah = MT_BOUND(tr, at, mt_g4_attn_h);
    if (!ah) return NULL;
    const mt_sym *b = x->shape[0], *sq = x->shape[1];
    mt_tr_enter(tr, at);
    const mt_sym *hs[4] = {b, sq, NULL, C(tr, f->head_dim)};
    mt_tensor *q = mt_view(tr, mt_tr_call(tr, ah->q, x), 4, hs);
    q = norm_forward(tr, ah->q_norm, q);
    mt_tensor *qc = mt_unsqueeze(tr, cos, 2), *qs = mt_unsqueeze(tr, sin, 2);
    q = mt_rope_apply(tr, q, qc, qs, MT_ROPE_HALF, 0);
    q = mt_transpose(tr, q, 1, 2);
    mt_tensor *k, *v;
    if (layer_shared(f, i)) { /* past_key_values.shared_layers[kv_shared_layer_index] */
        k = kv[f->kv_src[i]].k;
        v = kv[f->kv_src[i]].v;
        if (!k || !v) {
            mt_fail(tr->ctx, MT_ERR_INTERNAL, "gemma3n: layer %lld reads the K/V of layer %lld, which has none",
                    (long long)i, (long long)f->kv_src[i]);
            mt_tr_leave(tr);
            return NULL;
        }
    } else {
        k = mt_view(tr, mt_tr_call(tr, ah->k, x), 4, hs);
        k = norm_forward(tr, ah->k_norm, k);
        mt_tensor *kc = mt_unsqueeze(tr, cos, 2), *ks = mt_unsqueeze(tr, sin, 2);
        k = mt_rope_apply(tr, k, kc, ks, MT_ROPE_HALF, 0);
        k = mt_transpose(tr, k, 1, 2);
        v = mt_view(tr, mt_tr_call(tr, ah->v, x), 4, hs);
        v = norm_forward(tr, ah->v_norm, v);
        v = mt_transpose(tr, v, 1, 2);
        kv[i].k = k;
        kv[i].v = v;
    }
    mt_attn_args aa = {.n_rep = f->heads / f->kv_heads, .scaling = 1.0, .eager_slice = true, .sdpa_slice = true};
    mt_tensor *o = mt_attn_forward(tr, tr->model->attn, q, k, v, mask, &aa);
    const mt_sym *os[3] = {b, sq, NULL};
    o = mt_contiguous(tr, mt_reshape(tr, o, 3, os));
    o = mt_tr_call(tr, ah->o, o);
    mt_tr_leave(tr);
    return o;
}

/* Gemma3nTextMLP.forward with _gaussian_topk on sparse layers. */
static mt_tensor *mlp_forward(mt_tracer *tr, mt_module *mlp, mt_tensor *x) {
    if (!x || !mlp) return NULL;
    const mt_mlp_h *mh = MT_BOUND(tr, mlp, mt_mlp_h);
    if (!mh) return NULL;
    const mt_arg *mul = mt_module_get_attr(mlp, "std_multiplier");
    mt_tr_enter(tr, mlp);
    mt_tensor *g = mt_tr_call(tr, mh->gate, x);
    if (mul && g) {
        mt_tensor *mean = mean_last(tr, g);
        mt_tensor *sd = op(tr, MT_OP_STD, (mt_arg[]){mt_a_tensor(g)}, 1,
                           (mt_kwarg[]){{"dim", mt_a_int(-1)}, {"keepdim", mt_a_bool(true)},
                                        {"unbiased", mt_a_bool(false)}},
                           3);
        mt_tensor *cut = mt_add(tr, mean, mt_mul_s(tr, sd, mul->v.f));
        g = mt_unary(tr, MT_OP_RELU, mt_sub(tr, g, cut));
    }
    mt_tensor *a = mt_act_forward(tr, mh->act, g);
    mt_tensor *u = mt_tr_call(tr, mh->up, x);
    mt_tensor *y = mt_tr_call(tr, mh->down, mt_mul(tr, a, u));
    mt_tr_leave(tr);
    return y;
}

/* Gemma3nTextAltUp.compute_router_modalities(x). */
static mt_tensor *router_modalities(mt_tracer *tr, const g3n_altup_h *uh, mt_tensor *x) {
    mt_tensor *r = norm_forward(tr, uh->router_norm, x);
    r = mt_mul(tr, r, mt_tr_get_attr(tr, uh->router_input_scale));
    r = mt_tr_call(tr, uh->router, r);
    r = mt_unary(tr, MT_OP_TANH, mt_to(tr, r, MT_FLOAT32));
    return x ? op(tr, MT_OP_TYPE_AS, (mt_arg[]){mt_a_tensor(r), mt_a_tensor(x)}, 2, NULL, 0) : NULL;
}

/* Gemma3nTextAltUp.predict(h [n, b, s, hidden]). Recorded where transformers' call
 * runs: inside the decoder layer (predict is a method, not the module's forward). */
static mt_tensor *altup_predict(mt_tracer *tr, const g3n *f, mt_module *au, mt_tensor *h) {
    if (!h || !au) return NULL;
    const g3n_altup_h *uh = MT_BOUND(tr, au, g3n_altup_h);
    if (!uh) return NULL;
    mt_tensor *mod = router_modalities(tr, uh, item0(tr, h, f->altup_active));
    mt_tensor *c = mt_tr_call(tr, uh->prediction, mod);
    const mt_sym *cs[4] = {h->shape[1], h->shape[2], C(tr, f->altup_n), C(tr, f->altup_n)};
    c = mt_reshape(tr, c, 4, cs);
    static const int64_t p0132[4] = {0, 1, 3, 2}, p1230[4] = {1, 2, 3, 0}, p3012[4] = {3, 0, 1, 2};
    c = mt_permute(tr, c, 4, p0132);
    mt_tensor *hp = mt_permute(tr, h, 4, p1230);
    mt_tensor *p = mt_matmul(tr, hp, c);
    p = mt_permute(tr, p, 4, p3012);
    p = mt_add(tr, p, h); /* predictions += hidden_states */
    p = mt_contiguous(tr, p);
    return p ? op(tr, MT_OP_TYPE_AS, (mt_arg[]){mt_a_tensor(p), mt_a_tensor(h)}, 2, NULL, 0) : NULL;
}

/* Gemma3nTextAltUp.correct(predictions, activated). */
static mt_tensor *altup_correct(mt_tracer *tr, const g3n *f, mt_module *au, mt_tensor *pred, mt_tensor *act) {
    if (!pred || !act || !au) return NULL;
    const g3n_altup_h *uh = MT_BOUND(tr, au, g3n_altup_h);
    if (!uh) return NULL;
    mt_tensor *mod = router_modalities(tr, uh, act);
    mt_tensor *inn = mt_sub(tr, act, item0(tr, pred, f->altup_active));
    inn = op(tr, MT_OP_REPEAT, (mt_arg[]){mt_a_tensor(inn), mt_a_int(f->altup_n), mt_a_int(1), mt_a_int(1), mt_a_int(1)},
             5, NULL, 0);
    mt_tensor *c = mt_tr_call(tr, uh->correction, mod);
    c = mt_add_s(tr, c, 1.0);
    static const int64_t p201[3] = {2, 0, 1};
    c = mt_unsqueeze(tr, mt_permute(tr, c, 3, p201), -1);
    mt_tensor *y = mt_mul(tr, inn, c);
    y = mt_add(tr, y, pred); /* corrected += predictions */
    y = mt_contiguous(tr, y);
    return y ? op(tr, MT_OP_TYPE_AS, (mt_arg[]){mt_a_tensor(y), mt_a_tensor(act)}, 2, NULL, 0) : NULL;
}

/* Gemma3nTextAltUp.forward (scale_corrected_output), a call of the altup module. */
static mt_tensor *altup_scale(mt_tracer *tr, mt_module *au, mt_tensor *x) {
    if (!x || !au) return NULL;
    const g3n_altup_h *uh = MT_BOUND(tr, au, g3n_altup_h);
    if (!uh) return NULL;
    mt_tr_enter(tr, au);
    mt_tensor *s = mt_tr_get_attr(tr, uh->correct_output_scale);
    mt_tensor *y = s ? op(tr, MT_OP_TYPE_AS, (mt_arg[]){mt_a_tensor(x), mt_a_tensor(s)}, 2, NULL, 0) : NULL;
    y = mt_mul(tr, y, s);
    y = y ? op(tr, MT_OP_TYPE_AS, (mt_arg[]){mt_a_tensor(y), mt_a_tensor(x)}, 2, NULL, 0) : NULL;
    mt_tr_leave(tr);
    return y;
}

/* Gemma3nTextLaurelBlock.forward. */
static mt_tensor *laurel_forward(mt_tracer *tr, mt_module *lr, mt_tensor *x) {
    if (!x || !lr) return NULL;
    const g3n_laurel_h *rh = MT_BOUND(tr, lr, g3n_laurel_h);
    if (!rh) return NULL;
    mt_tr_enter(tr, lr);
    mt_tensor *h = mt_tr_call(tr, rh->left, x);
    h = mt_tr_call(tr, rh->right, h);
    h = norm_forward(tr, rh->norm, h);
    mt_tensor *y = mt_add(tr, x, h);
    mt_tr_leave(tr);
    return y;
}

/* The rescaled AltUp stream: p.to(dtype) * target / sqrt(maximum(mean(p**2), eps)). */
static mt_tensor *rescale(mt_tracer *tr, mt_tensor *p, mt_dtype dt, mt_tensor *target, mt_tensor *eps) {
    mt_tensor *cur = mt_to(tr, p, dt);
    mt_tensor *nm = mean_last(tr, mt_pow_s(tr, cur, 2));
    nm = op(tr, MT_OP_MAXIMUM, (mt_arg[]){mt_a_tensor(nm), mt_a_tensor(eps)}, 2, NULL, 0);
    nm = mt_unary(tr, MT_OP_SQRT, nm);
    cur = mt_mul(tr, cur, target);
    return mt_div(tr, cur, nm);
}

static mt_tensor *stack0(mt_tracer *tr, mt_tensor **ts, int n, bool dim_kw) {
    mt_arg items[16];
    for (int i = 0; i < n; i++) {
        if (!ts[i]) return NULL;
        items[i] = mt_a_tensor(ts[i]);
    }
    mt_arg sa[1] = {mt_a_list(tr->ctx, items, n)};
    return mt_tr_op1(tr, MT_OP_STACK, sa, 1, dim_kw ? (mt_kwarg[]){{"dim", mt_a_int(0)}} : NULL, dim_kw ? 1 : 0);
}

static mt_status g3n_forward(mt_model *m, mt_tracer *tr) {
    const g3n *f = m->family;
    mt_ctx *ctx = m->ctx;
    mt_tensor *ids = m->inputs.items[0], *amask = m->inputs.items[1];
    const g3n_h *gh = MT_BOUND(tr, m->root, g3n_h);
    if (!gh) return mt_ctx_status(ctx);
    mt_module *model = gh->model;
    mt_module *parent = gh->wrapper;
    if (parent) mt_tr_enter(tr, parent);
    mt_tr_enter(tr, model);
    mt_tensor *h0 = mt_g4_embedding_forward(tr, gh->embed, ids);
    mt_dtype dt = h0 ? h0->dtype : f->dtype;
    /* get_per_layer_inputs, project_per_layer_inputs */
    const mt_sym *ps[4] = {ids->shape[0], ids->shape[1], C(tr, f->layers), C(tr, f->ple)};
    mt_tensor *tok = mt_g4_embedding_forward(tr, gh->embed_ple, ids);
    tok = mt_reshape(tr, tok, 4, ps);
    mt_tensor *proj = mt_tr_call(tr, gh->ple_proj, h0);
    proj = mt_mul(tr, proj, buffer_to(tr, gh->ple_proj_scale, dt));
    proj = mt_reshape(tr, proj, 4, ps);
    proj = norm_forward(tr, gh->ple_norm, proj);
    mt_tensor *pli_all = mt_add(tr, proj, tok);
    pli_all = mt_mul(tr, pli_all, buffer_to(tr, gh->ple_input_scale, dt));
    mt_tensor *ar = mt_tr_op1(tr, MT_OP_ARANGE, (mt_arg[]){mt_a_dim(ids->shape[1])}, 1, NULL, 0);
    mt_tensor *cache_pos = op(tr, MT_OP_ADD, (mt_arg[]){mt_a_tensor(ar), mt_a_int(0)}, 2, NULL, 0);
    mt_tensor *pos = mt_unsqueeze(tr, cache_pos, 0);
    /* create_causal_mask, create_sliding_window_causal_mask */
    mt_tensor *full = mt_dec_causal_mask(tr, amask, cache_pos, f->dtype);
    mt_tensor *slide = f->window > 0 ? mt_dec_sliding_mask(tr, full, cache_pos, f->window, f->dtype) : NULL;
    /* the AltUp streams */
    mt_tensor *target = mt_pow_s(tr, mean_last(tr, mt_pow_s(tr, h0, 2)), 0.5);
    mt_tensor *eps = op(tr, MT_OP_TENSOR, (mt_arg[]){mt_a_float(1e-5)}, 1, NULL, 0);
    mt_tensor *streams[16] = {h0};
    mt_module *ap = gh->altup_proj;
    for (int64_t i = 1; i < f->altup_n && ap; i++) {
        mt_tensor *p = mt_tr_call(tr, ap->children.items[i - 1], h0);
        streams[i] = rescale(tr, p, dt, target, eps);
    }
    mt_tensor *h = stack0(tr, streams, (int)f->altup_n, true);
    /* position_embeddings[layer_type] = rotary_emb(hidden_states, position_ids, layer_type), every layer's type */
    mt_module *rot = gh->rotary;
    mt_tensor *cs[2] = {NULL, NULL}, *sn[2] = {NULL, NULL}; /* [0] sliding, [1] full */
    for (int64_t i = 0; i < f->layers && h; i++) {
        bool sl = f->sliding[i];
        mt_rope_cos_sin_kind(tr, rot, sl, h, pos, MT_ROPE_CAT, 1.0, &cs[sl ? 0 : 1], &sn[sl ? 0 : 1]);
    }
    kv_pair *kv = mt_alloc_array(ctx, (size_t)f->layers, sizeof *kv);
    if (!kv) return mt_ctx_status(ctx);
    mt_module *layers = gh->layers;
    for (int64_t i = 0; layers && i < layers->children.n && h; i++) {
        mt_module *L = layers->children.items[i];
        bool sl = f->sliding[i];
        mt_arg ix[4] = {mt_a_slice(NULL, NULL, NULL), mt_a_slice(NULL, NULL, NULL), mt_a_int(i),
                        mt_a_slice(NULL, NULL, NULL)};
        mt_tensor *pli = mt_index(tr, pli_all, ix, 4);
        const g3n_layer_h *lh = MT_BOUND(tr, L, g3n_layer_h);
        if (!lh) return mt_ctx_status(ctx);
        mt_tr_enter(tr, L);
        mt_module *au = lh->altup;
        mt_tensor *pred = altup_predict(tr, f, au, h);
        mt_tensor *active = item0(tr, pred, f->altup_active);
        mt_tensor *normed = norm_forward(tr, lh->in_norm, active);
        mt_tensor *laurel = laurel_forward(tr, lh->laurel, normed);
        mt_tensor *a = attn_forward(tr, f, lh->attn, i, normed, sl ? slide : full, cs[sl ? 0 : 1], sn[sl ? 0 : 1], kv);
        a = norm_forward(tr, lh->post_attn_norm, a);
        mt_tensor *gated = mt_add(tr, active, a);
        mt_tensor *al = mt_div_s(tr, mt_add(tr, gated, laurel), sqrt(2.0));
        mt_tensor *x = norm_forward(tr, lh->pre_ff_norm, al);
        x = mlp_forward(tr, lh->mlp, x);
        x = norm_forward(tr, lh->post_ff_norm, x);
        mt_tensor *ffw = mt_add(tr, al, x);
        mt_tensor *corr = altup_correct(tr, f, au, pred, ffw);
        mt_tensor *first = item0(tr, corr, f->altup_active);
        first = first ? op(tr, MT_OP_CLONE, (mt_arg[]){mt_a_tensor(first)}, 1, NULL, 0) : NULL;
        if (f->correct_scale) first = altup_scale(tr, au, first);
        first = mt_tr_call(tr, lh->pl_gate, first);
        first = mt_act_forward(tr, lh->act, first);
        first = mt_mul(tr, first, pli);
        first = mt_tr_call(tr, lh->pl_proj, first);
        first = norm_forward(tr, lh->pl_norm, first);
        /* corrected_predictions[1:] += first_prediction: in place through the view */
        mt_arg rest = mt_a_slice(C(tr, 1), NULL, NULL);
        mt_tensor *tail = mt_index(tr, corr, &rest, 1);
        if (!op(tr, MT_OP_ADD_, (mt_arg[]){mt_a_tensor(tail), mt_a_tensor(first)}, 2, NULL, 0)) corr = NULL;
        h = corr;
        mt_tr_leave(tr);
    }
    /* per-layer inputs to a single output */
    mt_tensor *h_0 = item0(tr, h, 0);
    target = mt_pow_s(tr, mean_last(tr, mt_pow_s(tr, h_0, 2)), 0.5);
    streams[0] = item0(tr, h, 0);
    mt_module *aup = gh->altup_unembed;
    for (int64_t i = 1; i < f->altup_n && aup; i++) {
        mt_tensor *p = mt_tr_call(tr, aup->children.items[i - 1], item0(tr, h, i));
        streams[i] = rescale(tr, p, dt, target, eps);
    }
    h = stack0(tr, streams, (int)f->altup_n, false);
    h = mt_reduce(tr, MT_OP_MEAN, h, 0, false);
    h = norm_forward(tr, gh->norm, h);
    mt_tr_leave(tr);
    if (parent) mt_tr_leave(tr);
    mt_tensor *logits = mt_tr_call(tr, gh->lm_head, h);
    if (f->final_softcap > 0) {
        logits = mt_div_s(tr, logits, f->final_softcap);
        logits = mt_unary(tr, MT_OP_TANH, logits);
        logits = mt_mul_s(tr, logits, f->final_softcap);
    }
    return mt_tr_output(tr, &logits, 1);
}

/* ---- config (Gemma3nTextConfig) ---- */

/* A per-layer list of cfg_layers numbers, or one number for every layer
 * (is_int: integers, positive). */
static bool read_per_layer(mt_model *m, const char *key, int64_t cfg_layers, bool is_int, bool scalar_ok, double dflt,
                           double *out, int64_t n) {
    json_t *v = mt_config_json(m->cfg, key);
    if (!v || json_is_null(v)) {
        for (int64_t i = 0; i < n; i++) out[i] = dflt;
        return true;
    }
    if (json_is_number(v) && scalar_ok) {
        double x = json_number_value(v);
        if (is_int && (!json_is_integer(v) || x <= 0))
            return mt_config_error(m->cfg, key, "expected a positive integer or a list of them (gemma3n_text)"), false;
        for (int64_t i = 0; i < n; i++) out[i] = x;
        return true;
    }
    if (!json_is_array(v) || (int64_t)json_array_size(v) != cfg_layers)
        return mt_config_error(m->cfg, key, "expected a list of %lld values, one per layer (num_hidden_layers) "
                               "(gemma3n_text)", (long long)cfg_layers),
               false;
    for (int64_t i = 0; i < cfg_layers; i++) {
        json_t *e = json_array_get(v, (size_t)i);
        bool ok = is_int ? json_is_integer(e) && json_integer_value(e) > 0 : json_is_number(e);
        double x = ok ? json_number_value(e) : 0;
        if (ok && !is_int) ok = x >= 0 && x < 1;
        if (!ok) {
            char field[64];
            snprintf(field, sizeof field, "%s[%lld]", key, (long long)i);
            return mt_config_error(m->cfg, field, is_int ? "expected a positive integer (gemma3n_text)"
                                                         : "expected a sparsity in [0, 1) (gemma3n_text)"),
                   false;
        }
        if (i < n) out[i] = x;
    }
    return true;
}

/* layer_types (num_hidden_layers entries) or every fifth layer full (Gemma3nTextConfig.__post_init__). */
static bool read_layer_types(mt_model *m, g3n *f, int64_t cfg_layers) {
    json_t *lt = mt_config_json(m->cfg, "layer_types");
    bool *v = mt_alloc_array(m->ctx, (size_t)f->layers, sizeof *v);
    if (!v) return false;
    f->sliding = v;
    if (!lt || json_is_null(lt)) {
        for (int64_t i = 0; i < f->layers; i++) v[i] = (i + 1) % 5 != 0;
        return true;
    }
    if (!json_is_array(lt) || (int64_t)json_array_size(lt) != cfg_layers)
        return mt_config_error(m->cfg, "layer_types", "expected a list of %lld layer types (num_hidden_layers) "
                               "(gemma3n_text)", (long long)cfg_layers),
               false;
    for (int64_t i = 0; i < cfg_layers; i++) {
        const char *t = json_string_value(json_array_get(lt, (size_t)i));
        bool sl = t && strcmp(t, "sliding_attention") == 0;
        if (!sl && !(t && strcmp(t, "full_attention") == 0)) {
            char field[48];
            snprintf(field, sizeof field, "layer_types[%lld]", (long long)i);
            return mt_config_error(m->cfg, field, "expected \"sliding_attention\" or \"full_attention\" "
                                   "(gemma3n_text)"),
                   false;
        }
        if (i < f->layers) v[i] = sl;
    }
    return true;
}

/* The rotary bases: rope_parameters.<kind> (rope_type "default", rope_theta), or the
 * older rope_theta / rope_local_base_freq with rope_scaling null
 * (Gemma3nTextConfig.convert_rope_params_to_dict). */
static bool read_rope(mt_model *m, g3n *f) {
    mt_config *c = m->cfg;
    if (mt_config_has(c, "rope_parameters")) {
        for (int k = 0; k < 2; k++) {
            bool sl = k == 0;
            char tf[80], th[80];
            snprintf(tf, sizeof tf, "rope_parameters.%s.rope_type", kind_name(sl));
            snprintf(th, sizeof th, "rope_parameters.%s.rope_theta", kind_name(sl));
            const char *type;
            double *theta = sl ? &f->theta_sliding : &f->theta_full;
            if (!mt_config_str(c, tf, "default", &type) ||
                !mt_config_float(c, th, sl ? 10000.0 : 1000000.0, theta))
                return false;
            if (strcmp(type, "default") != 0)
                return mt_config_error(c, tf, "rope_type \"%s\" is not modelled (expected \"default\") (gemma3n_text)",
                                       type), false;
        }
        return true;
    }
    if (mt_config_has(c, "rope_scaling"))
        return mt_config_error(c, "rope_scaling", "rope scaling is not modelled for gemma3n_text (expected null)"),
               false;
    return mt_config_float(c, "rope_theta", 1000000.0, &f->theta_full) &&
           mt_config_float(c, "rope_local_base_freq", 10000.0, &f->theta_sliding);
}

/* Gemma3nTextConfig from m->cfg into f. */
static mt_status read_text(mt_model *m, g3n *f) {
    mt_ctx *ctx = m->ctx;
    mt_config *c = m->cfg;
    int64_t cfg_layers, shared;
    f->dtype = m->dtype;
    if (!mt_config_pos_int(c, "vocab_size", 262400, &f->vocab) ||
        !mt_config_pos_int(c, "hidden_size", 2048, &f->hidden) ||
        !mt_config_pos_int(c, "num_hidden_layers", 35, &cfg_layers) ||
        !mt_config_pos_int(c, "num_attention_heads", 8, &f->heads) ||
        !mt_config_pos_int(c, "num_key_value_heads", 2, &f->kv_heads) ||
        !mt_config_pos_int(c, "head_dim", 256, &f->head_dim) ||
        !mt_config_str(c, "hidden_activation", "gelu_pytorch_tanh", &f->act) ||
        !mt_config_float(c, "rms_norm_eps", 1e-6, &f->eps) || !mt_config_bool(c, "tie_word_embeddings", true, &f->tie) ||
        !mt_config_bool(c, "attention_bias", false, &f->bias) ||
        !mt_dec_read_window(m, "sliding_window", 512, &f->window) ||
        !mt_config_pos_int(c, "vocab_size_per_layer_input", 262144, &f->vocab_ple) ||
        !mt_config_pos_int(c, "hidden_size_per_layer_input", 256, &f->ple) ||
        !mt_config_int(c, "altup_active_idx", 0, &f->altup_active) ||
        !mt_config_bool(c, "altup_correct_scale", true, &f->correct_scale) ||
        !mt_config_pos_int(c, "altup_num_inputs", 4, &f->altup_n) ||
        !mt_config_int(c, "num_kv_shared_layers", 15, &shared) ||
        !mt_config_pos_int(c, "laurel_rank", 64, &f->laurel_rank))
        return mt_ctx_status(ctx);
    f->final_softcap = 30.0;
    if (mt_dec_cfg_is_null(m, "final_logit_softcapping")) f->final_softcap = 0;
    else if (!mt_config_float(c, "final_logit_softcapping", 30.0, &f->final_softcap)) return mt_ctx_status(ctx);
    f->pad_none = mt_dec_cfg_is_null(m, "pad_token_id");
    if (!f->pad_none && !mt_config_int(c, "pad_token_id", 0, &f->pad)) return mt_ctx_status(ctx);
    if (f->hidden % f->heads != 0) /* Gemma3nTextConfig.validate_architecture */
        return mt_config_error(c, "hidden_size", "hidden_size %lld is not a multiple of num_attention_heads %lld "
                               "(gemma3n_text)", (long long)f->hidden, (long long)f->heads);
    if (f->heads % f->kv_heads != 0)
        return mt_config_error(c, "num_key_value_heads", "num_attention_heads %lld is not divisible by "
                               "num_key_value_heads %lld (gemma3n_text)", (long long)f->heads, (long long)f->kv_heads);
    if (f->head_dim % 2)
        return mt_config_error(c, "head_dim", "expected an even head_dim for the rotary, got %lld (gemma3n_text)",
                               (long long)f->head_dim);
    if (f->altup_n > 16)
        return mt_config_error(c, "altup_num_inputs", "at most 16 AltUp inputs are modelled, got %lld (gemma3n_text)",
                               (long long)f->altup_n);
    if (f->altup_active < 0 || f->altup_active >= f->altup_n)
        return mt_config_error(c, "altup_active_idx", "expected 0 to %lld (altup_num_inputs - 1), got %lld "
                               "(gemma3n_text)", (long long)(f->altup_n - 1), (long long)f->altup_active);
    if (shared < 0 || shared >= cfg_layers)
        return mt_config_error(c, "num_kv_shared_layers", "expected 0 to %lld (fewer than num_hidden_layers), got "
                               "%lld (gemma3n_text)", (long long)(cfg_layers - 1), (long long)shared);
    f->layers = cfg_layers;
    if (m->num_layers > 0) { /* --layers N: the first N layers, N counting as num_hidden_layers */
        if (m->num_layers > cfg_layers)
            return mt_config_error(c, "num_hidden_layers", "--layers %lld exceeds num_hidden_layers %lld: the "
                                   "per-layer lists have %lld entries (gemma3n_text)", (long long)m->num_layers,
                                   (long long)cfg_layers, (long long)cfg_layers);
        f->layers = m->num_layers;
    }
    m->num_layers = f->layers;
    double *inter = mt_alloc_array(ctx, (size_t)f->layers, sizeof *inter);
    f->inter = mt_alloc_array(ctx, (size_t)f->layers, sizeof *f->inter);
    f->sparsity = mt_alloc_array(ctx, (size_t)f->layers, sizeof *f->sparsity);
    if (!inter || !f->inter || !f->sparsity) return mt_ctx_status(ctx);
    if (!read_per_layer(m, "intermediate_size", cfg_layers, true, true, 16384, inter, f->layers))
        return mt_ctx_status(ctx);
    for (int64_t i = 0; i < f->layers; i++) f->inter[i] = (int64_t)inter[i];
    /* activation_sparsity_pattern: a list of num_hidden_layers values; None: 0.95 on the first 10 layers
     * when there are more than 10, else none (over the config's layers, then the first N taken) */
    json_t *asp = mt_config_json(c, "activation_sparsity_pattern");
    if (!asp || json_is_null(asp)) {
        for (int64_t i = 0; i < f->layers; i++) f->sparsity[i] = cfg_layers > 10 && i < 10 ? 0.95 : 0.0;
    } else if (!read_per_layer(m, "activation_sparsity_pattern", cfg_layers, false, false, 0, f->sparsity, f->layers)) {
        return mt_ctx_status(ctx);
    }
    if (!read_layer_types(m, f, cfg_layers) || !read_rope(m, f)) return mt_ctx_status(ctx);
    for (int64_t i = 0; i < f->layers; i++) {
        bool seen = false;
        for (int k = 0; k < f->nkinds; k++) seen = seen || f->kind_sliding[k] == f->sliding[i];
        if (!seen) f->kind_sliding[f->nkinds++] = f->sliding[i];
    }
    bool any_sliding = false;
    for (int64_t i = 0; i < f->layers; i++) any_sliding = any_sliding || f->sliding[i];
    if (any_sliding && f->window <= 0)
        return mt_config_error(c, "sliding_window", "layer_types has sliding_attention layers but no sliding_window "
                               "(gemma3n_text)");
    if (f->window < 0) f->window = 0;
    /* KV sharing: layers from num_hidden_layers - num_kv_shared_layers on read the K/V of the last
     * earlier layer of their kind (kv_shared_layer_index); --layers N counts as num_hidden_layers N */
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
        if (f->kv_src[i] < 0) /* prev_layers[::-1].index(layer_type) raises ValueError */
            return mt_config_error(c, "num_kv_shared_layers", "layer %lld (%s) shares K/V but no earlier layer of "
                                   "its kind computes them (gemma3n_text)", (long long)i, kind_name(f->sliding[i]));
    }
    return MT_OK;
}

static void g3n_info(mt_model *m, const g3n *f) {
    int64_t nfull = 0, nsparse = 0;
    for (int64_t i = 0; i < f->layers; i++) nfull += !f->sliding[i], nsparse += f->sparsity[i] > 0;
    mt_model_info(m, "vocab_size", mt_a_int(f->vocab));
    mt_model_info(m, "hidden_size", mt_a_int(f->hidden));
    mt_model_info(m, "intermediate_size", mt_a_int(f->inter[0]));
    mt_model_info(m, "num_hidden_layers", mt_a_int(f->layers));
    mt_model_info(m, "num_attention_heads", mt_a_int(f->heads));
    mt_model_info(m, "num_key_value_heads", mt_a_int(f->kv_heads));
    mt_model_info(m, "head_dim", mt_a_int(f->head_dim));
    mt_model_info(m, "full_attention_layers", mt_a_int(nfull));
    if (f->window > 0) mt_model_info(m, "sliding_window", mt_a_int(f->window));
    if (f->first_shared > 0) mt_model_info(m, "num_kv_shared_layers", mt_a_int(f->layers - f->first_shared));
    mt_model_info(m, "hidden_size_per_layer_input", mt_a_int(f->ple));
    mt_model_info(m, "altup_num_inputs", mt_a_int(f->altup_n));
    mt_model_info(m, "laurel_rank", mt_a_int(f->laurel_rank));
    mt_model_info(m, "sparse_activation_layers", mt_a_int(nsparse));
    mt_model_info(m, "hidden_activation", mt_a_str(f->act));
    mt_model_info(m, "rms_norm_eps", mt_a_float(f->eps));
    if (nfull < f->layers) mt_model_info(m, "rope_theta_sliding", mt_a_float(f->theta_sliding));
    if (nfull > 0) mt_model_info(m, "rope_theta_full", mt_a_float(f->theta_full));
    if (f->final_softcap > 0) mt_model_info(m, "final_logit_softcapping", mt_a_float(f->final_softcap));
    mt_model_info(m, "tie_word_embeddings", mt_a_bool(f->tie));
}

static mt_status g3n_text_build(mt_model *m) {
    g3n *f = mt_alloc(m->ctx, sizeof *f);
    if (!f) return mt_ctx_status(m->ctx);
    m->family = f;
    if (read_text(m, f) != MT_OK || build_model(m, f) != MT_OK) return mt_ctx_status(m->ctx);
    g3n_info(m, f);
    return MT_OK;
}

/* Gemma3nConfig: its text_config under model.language_model; the towers are not built. */
static mt_status g3n_build(mt_model *m) {
    mt_ctx *ctx = m->ctx;
    g3n *f = mt_alloc(ctx, sizeof *f);
    if (!f) return mt_ctx_status(ctx);
    m->family = f;
    f->wrapper = true;
    mt_config *top = m->cfg, *tc = mt_config_sub(top, "text_config");
    if (!tc) return mt_config_error(top, "text_config", "expected a text_config object (Gemma3nConfig)");
    bool tie;
    if (!mt_config_bool(top, "tie_word_embeddings", true, &tie)) return mt_ctx_status(ctx);
    m->cfg = tc;
    mt_status st = read_text(m, f);
    f->tie = tie; /* Gemma3nConfig's own, which ties lm_head to the language model's embedding */
    if (st == MT_OK) st = build_model(m, f);
    m->cfg = top;
    if (st != MT_OK) return mt_ctx_status(ctx);
    const char *note = "model_type 'gemma3n' is multimodal: traced is its language model on input_ids (text_config, "
                       "model.language_model.* and lm_head as the checkpoints name them); the vision tower (timm "
                       "MobileNetV5: timm's code, not transformers'), the audio tower (Gemma3nAudioEncoder, a "
                       "conformer not built yet) and their embedders (embed_vision, embed_audio) are not included";
    m->note = m->note ? mt_sprintf(ctx, "%s; %s", note, m->note) : note;
    g3n_info(m, f);
    return MT_OK;
}

/* The language model alone: mt_totals.text_params (all of the built model). */
static mt_status g3n_totals(const mt_model *m, mt_totals *t) {
    const g3n *f = m->family;
    if (!f || !f->wrapper) return MT_OK;
    if (!mt_params_under(m->ctx, f->lm, &t->text_params)) return mt_ctx_status(m->ctx);
    t->text_param_bytes = t->text_params * (int64_t)mt_dtype_size(f->dtype);
    return MT_OK;
}

const mt_arch mt_arch_gemma3n_text = {
    .model_type = "gemma3n_text",
    .default_class = "Gemma3nForCausalLM",
    .example = "google/gemma-3n-E2B-it (text_config)",
    .build = g3n_text_build,
    .forward = g3n_forward,
    .max_positions = 32768, /* Gemma3nTextConfig's default */
};

static const char *const g3n_classes[] = {"Gemma3nForConditionalGeneration", NULL};

const mt_arch mt_arch_gemma3n = {
    .model_type = "gemma3n",
    .default_class = "Gemma3nForConditionalGeneration",
    .example = "google/gemma-3n-E2B-it",
    .build = g3n_build,
    .forward = g3n_forward,
    .totals = g3n_totals,
    .classes = g3n_classes,
    .max_positions = 32768, /* its text_config's, Gemma3nTextConfig's default */
};
