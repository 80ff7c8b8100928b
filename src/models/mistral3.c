/* Mistral 3 (Mistral3ForConditionalGeneration, model_type mistral3: Mistral
 * Small 3.1 / 3.2): the Pixtral vision tower, Mistral3MultiModalProjector (RMS
 * norm, the patch merger, two Linears) and a Mistral language model.
 *
 * Read at transformers' models/mistral3/modeling_mistral3.py (stored mirror
 * commit 00dcc6dda6f6), configuration_mistral3.py (0db25542f219) and
 * models/pixtral/modeling_pixtral.py (0233e509531a) with
 * configuration_pixtral.py (05cd1ec14dbe).
 *
 * Names. Checkpoints store the layout of transformers 4.50, where the wrapper
 * held its three parts itself: vision_tower.*, multi_modal_projector.*,
 * language_model.model.* and language_model.lm_head (a MistralForCausalLM).
 * Newer transformers nests them as model.vision_tower / model.multi_modal_projector
 * / model.language_model and lm_head, mapping the stored names through
 * Mistral3ForConditionalGeneration._checkpoint_conversion_mapping
 * ("^language_model.model" -> "model.language_model", "^vision_tower" ->
 * "model.vision_tower", "^multi_modal_projector" -> "model.multi_modal_projector",
 * "^language_model.lm_head" -> "lm_head"). metatrace builds the stored layout, so
 * every parameter carries its checkpoint name. Registration order as
 * Mistral3Model.__init__: vision_tower, multi_modal_projector, language_model.
 * The head is tied only when text_config.tie_word_embeddings says so (tie_weights
 * reads the text config; MistralConfig's default is false: Mistral Small stores
 * language_model.lm_head.weight).
 *
 *   vision_tower (PixtralVisionModel): patch_conv nn.Conv2d(num_channels, hidden,
 *     kernel = stride = patch_size, bias=False), ln_pre PixtralRMSNorm(eps=1e-5),
 *     transformer (PixtralTransformer): layers (ModuleList of PixtralAttentionLayer:
 *     attention_norm, feed_forward (PixtralMLP: gate_proj, up_proj, down_proj,
 *     act_fn = hidden_act), attention (PixtralAttention: k_proj, v_proj, q_proj,
 *     o_proj, no bias, head_dim = hidden / heads), ffn_norm, in __init__ order),
 *     patch_positional_embedding (PixtralRotaryEmbedding: non-persistent float32
 *     inv_freq [side * side, head_dim], side = image_size // patch_size; the v5
 *     class also keeps original_inv_freq, a non-persistent copy, not built);
 *   multi_modal_projector: norm Mistral3RMSNorm(vision hidden, eps =
 *     text_config.rms_norm_eps), patch_merger (merging_layer Linear(hidden *
 *     spatial_merge_size^2, hidden, bias=False)), linear_1 (vision hidden ->
 *     text hidden), act (projector_hidden_act), linear_2 (text -> text), both with
 *     multimodal_projector_bias.
 *
 * Fixed resolution (docs/cli.md, "Multimodal models"). transformers loops in
 * Python over the images and their image_sizes: every image's patches go into
 * one sequence [1, sum of patches, hidden] with a block-diagonal attention mask,
 * 2-D rotary ids per image, and per image an unfold in the patch merger. The
 * trace takes every image at vision_config.image_size (square), so each image
 * is a side x side grid of patches (side = image_size // patch_size) and
 * everything those loops compute is a constant of the config:
 *   - the per-image crop embed[..., :side, :side] of the convolution's output is
 *     the whole of it (not recorded);
 *   - the sequence is traced batched per image, [images, side^2, hidden]
 *     (flatten(2).transpose(1, 2) for each image's flatten(1).T and the cat), and
 *     the block-diagonal mask restricted to one image is all zeros, so attention
 *     batched per image without a mask is exactly the masked attention over the
 *     concatenation (the mask is not recorded);
 *   - position_ids_in_meshgrid gives h * side + w over the full grid, which is
 *     arange(side^2): traced as torch.arange(side^2) (the meshgrid/stack/chunk
 *     arithmetic that builds it is not recorded), then inv_freq[position_ids],
 *     cos, sin, .to(dtype) inside PixtralRotaryEmbedding; the position_ids kwarg
 *     (read by flash attention only) is not recorded;
 *   - the patch merger's per-image view(side, side, d).permute(2, 0, 1)
 *     .unsqueeze(0), F.unfold(kernel = stride = spatial_merge_size), view(d * m^2,
 *     -1).t() and the cat are traced batched: view(images, side, side, d)
 *     .permute(0, 3, 1, 2), F.unfold, transpose(1, 2); the split per image and
 *     torch.cat(image_features) after the projector as one reshape to
 *     [images * tokens, text hidden];
 *   - image_sizes (the processor's [images, 2] tensor, read only by those Python
 *     loops) is not a graph input, and selected_image_feature.squeeze(0) (of the
 *     single flattened sequence) has no counterpart in the batched form.
 * Each image fills (side // spatial_merge_size)^2 image tokens of input_ids
 * (Mistral Small: 1540 // 14 = 110, // 2 = 55, 3,025 tokens).
 *
 * Forward (Mistral3Model.forward with pixel_values): the token embedding; the
 * tower (output_hidden_states=True, so hidden_states[vision_feature_layer] is
 * taken, [-1] the last layer's output: PixtralTransformer has no final norm);
 * the projector; special_image_mask = (input_ids == image_token_index)
 * .unsqueeze(-1).expand_as(inputs_embeds); image_features.to(inputs_embeds
 * .dtype); inputs_embeds.masked_scatter(mask, image_features); the language model
 * on inputs_embeds; lm_head. Left out: the image-token count check
 * (inputs_embeds[mask].numel(), validation only) and the .to(device) moves.
 * Inputs: input_ids, attention_mask [batch, seq], pixel_values [images,
 * num_channels, image_size, image_size] in the model dtype; `images` an input
 * symbol (--bind images=N) bounded by [1, batch * seq // tokens per image]. */
#include <math.h>
#include <string.h>

#include <jansson.h>

#include "blocks.h"

#define PIXTRAL_EPS 1e-5 /* PixtralRMSNorm(hidden, eps=1e-5) in PixtralAttentionLayer and ln_pre */

typedef struct pixtral_spec {
    int64_t hidden, intermediate, layers, heads, head_dim, channels, image_size, patch_size;
    int64_t side;       /* image_size // patch_size patches a side */
    double rope_theta;
    const char *act;
    mt_dtype dtype;
} pixtral_spec;

typedef struct mistral3 {
    mt_dec_spec text;
    pixtral_spec vision;
    mt_dec_spec vnorm;   /* PixtralRMSNorm: class and eps for mt_dec_rms_norm */
    mt_dec_spec pnorm;   /* Mistral3RMSNorm */
    int64_t merge, merged_side, tokens, image_token, feature_layer;
    bool proj_bias;
    mt_module *tower, *proj;
} mistral3;

/* The handles the forwards read (blocks.h, "handles bound at build"): the Pixtral tower's, each
 * of its layers' (the attention an mt_attn_h, the MLP an mt_mlp_h) and the projector's. */
typedef struct pixtral_h {
    mt_module *conv, *ln_pre, *tf, *layers, *rot;
    mt_param *conv_w, *inv_freq;
} pixtral_h;
static const mt_handle_kind pixtral_h_kind = {"mistral3 pixtral_h"};
typedef struct pixtral_layer_h {
    mt_module *attn_norm, *ff, *attn, *ffn_norm;
} pixtral_layer_h;
static const mt_handle_kind pixtral_layer_h_kind = {"mistral3 pixtral_layer_h"};
typedef struct projector_h {
    mt_module *norm, *pm, *merging, *linear_1, *act, *linear_2;
} projector_h;
static const mt_handle_kind projector_h_kind = {"mistral3 projector_h"};

static mt_config *need_sub(mt_model *m, const char *field) {
    mt_config *c = mt_config_sub(m->cfg, field);
    if (!c) mt_config_error(m->cfg, field, "expected a %s object (Mistral3Config)", field);
    return c;
}

/* PixtralVisionConfig (configuration_pixtral.py defaults). */
static mt_status pixtral_read(mt_model *m, mt_config *c, pixtral_spec *v) {
    const char *vt = NULL, *rope_type = NULL;
    if (!mt_config_str(c, "model_type", "pixtral", &vt)) return mt_ctx_status(m->ctx);
    if (strcmp(vt, "pixtral") != 0)
        return mt_config_error(c, "model_type", "expected \"pixtral\" (PixtralVisionConfig), got \"%s\": mistral3 "
                               "traces the Pixtral vision tower", vt);
    if (!mt_config_pos_int(c, "hidden_size", 1024, &v->hidden) ||
        !mt_config_pos_int(c, "intermediate_size", 4096, &v->intermediate) ||
        !mt_config_pos_int(c, "num_hidden_layers", 24, &v->layers) ||
        !mt_config_pos_int(c, "num_attention_heads", 16, &v->heads) ||
        !mt_config_pos_int(c, "num_channels", 3, &v->channels) ||
        !mt_config_pos_int(c, "image_size", 1024, &v->image_size) ||
        !mt_config_pos_int(c, "patch_size", 16, &v->patch_size) ||
        !mt_config_str(c, "hidden_act", "gelu", &v->act) ||
        !mt_config_float(c, "rope_theta", 10000.0, &v->rope_theta) ||
        !mt_config_float(c, "rope_parameters.rope_theta", v->rope_theta, &v->rope_theta) ||
        !mt_config_str(c, "rope_parameters.rope_type", "default", &rope_type))
        return mt_ctx_status(m->ctx);
    if (strcmp(rope_type, "default") != 0)
        return mt_config_error(c, "rope_parameters.rope_type",
                               "PixtralRotaryEmbedding does not support non-default RoPE, got \"%s\"", rope_type);
    static const char *const sized[] = {"image_size", "patch_size", "num_channels"};
    const int64_t vals[] = {v->image_size, v->patch_size, v->channels};
    for (int i = 0; i < 3; i++)
        if (vals[i] > MT_MAX_HIDDEN)
            return mt_config_error(c, sized[i], "%lld is more than the limit of %d (docs/cli.md, Limits)",
                                   (long long)vals[i], MT_MAX_HIDDEN);
    /* PixtralVisionConfig sets head_dim = hidden_size // num_attention_heads (a head_dim in
     * the file is overwritten); PixtralAttention views q/k/v as heads x that */
    if (v->hidden % v->heads != 0)
        return mt_config_error(c, "num_attention_heads",
                               "hidden_size %lld is not divisible by num_attention_heads %lld (PixtralAttention)",
                               (long long)v->hidden, (long long)v->heads);
    v->head_dim = v->hidden / v->heads;
    if (v->head_dim % 4 != 0)
        return mt_config_error(c, "num_attention_heads",
                               "head_dim %lld (hidden_size / num_attention_heads) is not a multiple of 4: the 2-D "
                               "rotary splits it into height and width frequencies",
                               (long long)v->head_dim);
    if (v->image_size < v->patch_size)
        return mt_config_error(c, "patch_size", "patch_size %lld is larger than image_size %lld",
                               (long long)v->patch_size, (long long)v->image_size);
    v->side = v->image_size / v->patch_size; /* the unpadded convolution: floor((s - p) / p) + 1 */
    if (m->num_layers > 0 && m->num_layers < v->layers) v->layers = m->num_layers;
    v->dtype = m->dtype;
    return MT_OK;
}

static mt_module *pixtral_build(mt_model *m, mistral3 *g) {
    mt_ctx *ctx = m->ctx;
    const pixtral_spec *v = &g->vision;
    mt_dtype dt = v->dtype;
    mt_device dev = MT_DEVICE_CPU;
    mt_module *tower = mt_module_new(ctx, m->root, "vision_tower", "PixtralVisionModel");
    pixtral_h *th = MT_BIND(ctx, tower, pixtral_h);
    mt_module *conv = th ? th->conv = mt_module_new(ctx, tower, "patch_conv", "Conv2d") : NULL;
    if (!conv) return NULL;
    int64_t k[2] = {v->patch_size, v->patch_size}, zero[2] = {0, 0}, one[2] = {1, 1};
    mt_module_attr(ctx, conv, "in_channels", mt_a_int(v->channels));
    mt_module_attr(ctx, conv, "out_channels", mt_a_int(v->hidden));
    mt_module_attr(ctx, conv, "kernel_size", mt_a_ints(ctx, k, 2));
    mt_module_attr(ctx, conv, "stride", mt_a_ints(ctx, k, 2));
    mt_module_attr(ctx, conv, "padding", mt_a_ints(ctx, zero, 2));
    mt_module_attr(ctx, conv, "dilation", mt_a_ints(ctx, one, 2));
    mt_module_attr(ctx, conv, "groups", mt_a_int(1));
    int64_t ws[4] = {v->hidden, v->channels, v->patch_size, v->patch_size};
    if (!(th->conv_w = mt_param_new(ctx, conv, "weight", dt, dev, 4, ws)) ||
        !(th->ln_pre = mt_dec_rms_norm(m, tower, "ln_pre", &g->vnorm, v->hidden)))
        return NULL;
    mt_module *tf = th->tf = mt_module_new(ctx, tower, "transformer", "PixtralTransformer");
    mt_module *layers = tf ? th->layers = mt_module_new(ctx, tf, "layers", "ModuleList") : NULL;
    if (!layers) return NULL;
    for (int64_t i = 0; i < v->layers; i++) {
        char idx[24];
        snprintf(idx, sizeof idx, "%lld", (long long)i);
        mt_module *L = mt_module_new(ctx, layers, idx, "PixtralAttentionLayer");
        pixtral_layer_h *lh = MT_BIND(ctx, L, pixtral_layer_h);
        if (!lh || !(lh->attn_norm = mt_dec_rms_norm(m, L, "attention_norm", &g->vnorm, v->hidden))) return NULL;
        mt_module *ff = lh->ff = mt_module_new(ctx, L, "feed_forward", "PixtralMLP");
        mt_mlp_h *fh = MT_BIND(ctx, ff, mt_mlp_h);
        if (!fh || !(fh->gate = mt_nn_linear(ctx, ff, "gate_proj", v->hidden, v->intermediate, false, dt, dev)) ||
            !(fh->up = mt_nn_linear(ctx, ff, "up_proj", v->hidden, v->intermediate, false, dt, dev)) ||
            !(fh->down = mt_nn_linear(ctx, ff, "down_proj", v->intermediate, v->hidden, false, dt, dev)) ||
            !(fh->act = mt_act_new(m, ff, "act_fn", v->act, "hidden_act")))
            return NULL;
        mt_module *at = lh->attn = mt_module_new(ctx, L, "attention", "PixtralAttention");
        mt_attn_h *ah = MT_BIND(ctx, at, mt_attn_h);
        if (!ah) return NULL;
        mt_module_attr(ctx, at, "num_heads", mt_a_int(v->heads));
        mt_module_attr(ctx, at, "head_dim", mt_a_int(v->head_dim));
        static const char *const proj[4] = {"k_proj", "v_proj", "q_proj", "o_proj"};
        mt_module **slot[4] = {&ah->k, &ah->v, &ah->q, &ah->o};
        for (int p = 0; p < 4; p++)
            if (!(*slot[p] = mt_nn_linear(ctx, at, proj[p], v->hidden, v->hidden, false, dt, dev))) return NULL;
        if (!(lh->ffn_norm = mt_dec_rms_norm(m, L, "ffn_norm", &g->vnorm, v->hidden))) return NULL;
    }
    mt_module *rot = th->rot = mt_module_new(ctx, tower, "patch_positional_embedding", "PixtralRotaryEmbedding");
    if (!rot) return NULL;
    mt_module_attr(ctx, rot, "rope_theta", mt_a_float(v->rope_theta));
    /* inv_freq: (side x side) positions, head_dim // 2 frequencies (height's then width's) cat twice */
    int64_t inv[2] = {v->side * v->side, v->head_dim};
    if (!(th->inv_freq = mt_buffer_new(ctx, rot, "inv_freq", MT_FLOAT32, dev, 2, inv, false, true))) return NULL;
    return tower;
}

/* cos, sin [side^2, head_dim] in x's dtype: PixtralRotaryEmbedding(x, position_ids). */
static void pixtral_rope(mt_tracer *tr, const pixtral_h *th, mt_tensor *x, const pixtral_spec *v, mt_tensor **cos,
                         mt_tensor **sin) {
    *cos = *sin = NULL;
    mt_module *rot = th->rot;
    if (!rot || !x) return;
    /* position_ids_in_meshgrid over the full grid: h * side + w = arange(side^2) */
    mt_tensor *pos = mt_tr_op1(tr, MT_OP_ARANGE, (mt_arg[]){mt_a_int(v->side * v->side)}, 1, NULL, 0);
    mt_tr_enter(tr, rot);
    mt_tensor *inv = mt_tr_get_attr(tr, th->inv_freq);
    mt_tensor *freqs = inv && pos ? mt_tr_op1(tr, MT_OP_GETITEM, (mt_arg[]){mt_a_tensor(inv), mt_a_tensor(pos)}, 2,
                                              NULL, 0)
                                  : NULL;
    mt_tensor *c = mt_unary(tr, MT_OP_COS, freqs);
    mt_tensor *s = mt_unary(tr, MT_OP_SIN, freqs);
    *cos = mt_to(tr, c, x->dtype);
    *sin = mt_to(tr, s, x->dtype);
    mt_tr_leave(tr);
}

static mt_tensor *pixtral_attn(mt_tracer *tr, mt_module *at, mt_tensor *x, mt_tensor *cos, mt_tensor *sin,
                               const pixtral_spec *v) {
    if (!x) return NULL;
    const mt_attn_h *ah = MT_BOUND(tr, at, mt_attn_h);
    if (!ah) return NULL;
    mt_ctx *ctx = tr->ctx;
    const mt_sym *b = x->shape[0], *n = x->shape[1];
    mt_tr_enter(tr, at);
    mt_tensor *q = mt_tr_call(tr, ah->q, x);
    mt_tensor *k = mt_tr_call(tr, ah->k, x);
    mt_tensor *val = mt_tr_call(tr, ah->v, x);
    const mt_sym *hd[4] = {b, n, mt_sym_const(ctx, v->heads), mt_sym_const(ctx, v->head_dim)};
    q = mt_transpose(tr, mt_view(tr, q, 4, hd), 1, 2);
    k = mt_transpose(tr, mt_view(tr, k, 4, hd), 1, 2);
    val = mt_transpose(tr, mt_view(tr, val, 4, hd), 1, 2);
    /* apply_rotary_pos_emb(q, k, cos, sin, unsqueeze_dim=0) */
    mt_tensor *c = mt_unsqueeze(tr, cos, 0), *s = mt_unsqueeze(tr, sin, 0);
    q = mt_rope_apply(tr, q, c, s, MT_ROPE_HALF, 0);
    k = mt_rope_apply(tr, k, c, s, MT_ROPE_HALF, 0);
    mt_attn_impl impl = tr->model->attn == MT_ATTN_IMPL_EAGER ? MT_ATTN_IMPL_EAGER : MT_ATTN_IMPL_SDPA;
    /* Pixtral's eager_attention_forward (SigLIP's copy): matmul(query, key.transpose(-1, -2)) * scaling */
    mt_attn_args aa = {.n_rep = 1,
                       .scaling = impl == MT_ATTN_IMPL_EAGER ? pow((double)v->head_dim, -0.5) : 0,
                       .kt_neg = true};
    mt_tensor *o = mt_attn_forward(tr, impl, q, k, val, NULL, &aa);
    const mt_sym *flat[3] = {b, n, NULL};
    o = mt_contiguous(tr, mt_reshape(tr, o, 3, flat));
    o = mt_tr_call(tr, ah->o, o);
    mt_tr_leave(tr);
    return o;
}

static mt_tensor *pixtral_mlp(mt_tracer *tr, mt_module *ff, mt_tensor *x) {
    if (!x) return NULL;
    const mt_mlp_h *fh = MT_BOUND(tr, ff, mt_mlp_h);
    if (!fh) return NULL;
    mt_tr_enter(tr, ff);
    mt_tensor *gt = mt_tr_call(tr, fh->gate, x);
    gt = mt_act_forward(tr, fh->act, gt);
    mt_tensor *up = mt_tr_call(tr, fh->up, x);
    mt_tensor *y = mt_tr_call(tr, fh->down, mt_mul(tr, gt, up));
    mt_tr_leave(tr);
    return y;
}

/* hidden_states[vision_feature_layer] of PixtralVisionModel(pixel_values) [images,
 * side^2, hidden] (index 0: ln_pre's output, i + 1: layer i's). */
static mt_tensor *pixtral_forward(mt_tracer *tr, const mistral3 *g, mt_tensor *px) {
    const pixtral_spec *v = &g->vision;
    mt_module *tower = g->tower;
    const pixtral_h *th = MT_BOUND(tr, tower, pixtral_h);
    if (!th) return NULL;
    mt_module *conv = th->conv, *layers = th->layers;
    mt_tr_enter(tr, tower);
    /* self.patch_conv(pixel_values.to(dtype=patch_conv.weight.dtype)) */
    mt_tensor *x = px ? mt_tr_op1(tr, MT_OP_TO, (mt_arg[]){mt_a_tensor(px)}, 1,
                                  (mt_kwarg[]){{"dtype", mt_a_dtype(v->dtype)}}, 1)
                      : NULL;
    mt_tr_enter(tr, conv);
    mt_tensor *w = mt_tr_get_attr(tr, th->conv_w);
    mt_tensor *h = w && x ? mt_tr_op1(tr, MT_OP_CONV2D,
                                      (mt_arg[]){mt_a_tensor(x), mt_a_tensor(w), mt_a_none(),
                                                 *mt_module_get_attr(conv, "stride"),
                                                 *mt_module_get_attr(conv, "padding"),
                                                 *mt_module_get_attr(conv, "dilation"),
                                                 *mt_module_get_attr(conv, "groups")},
                                      7, NULL, 0)
                          : NULL;
    mt_tr_leave(tr);
    /* each image's p.flatten(1).T, concatenated: batched per image */
    h = h ? mt_tr_op1(tr, MT_OP_FLATTEN, (mt_arg[]){mt_a_tensor(h), mt_a_int(2)}, 2, NULL, 0) : NULL;
    h = mt_transpose(tr, h, 1, 2);
    h = mt_dec_rms_forward(tr, th->ln_pre, h);
    mt_tensor *cos, *sin;
    pixtral_rope(tr, th, h, v, &cos, &sin);
    mt_tensor *picked = g->feature_layer == 0 ? h : NULL;
    mt_tr_enter(tr, th->tf);
    for (int i = 0; i < layers->children.n && h; i++) {
        mt_module *L = layers->children.items[i];
        const pixtral_layer_h *lh = MT_BOUND(tr, L, pixtral_layer_h);
        if (!lh) return NULL;
        mt_tr_enter(tr, L);
        mt_tensor *res = h;
        mt_tensor *a = mt_dec_rms_forward(tr, lh->attn_norm, h);
        a = pixtral_attn(tr, lh->attn, a, cos, sin, v);
        h = mt_add(tr, res, a);
        res = h;
        mt_tensor *f = mt_dec_rms_forward(tr, lh->ffn_norm, h);
        f = pixtral_mlp(tr, lh->ff, f);
        h = mt_add(tr, res, f);
        mt_tr_leave(tr);
        if (g->feature_layer == i + 1) picked = h;
    }
    mt_tr_leave(tr);
    mt_tr_leave(tr);
    return picked;
}

/* Mistral3MultiModalProjector.forward, batched per image: [images, tokens, text hidden]. */
static mt_tensor *projector_forward(mt_tracer *tr, const mistral3 *g, mt_tensor *feat) {
    if (!feat) return NULL;
    mt_ctx *ctx = tr->ctx;
    mt_module *p = g->proj;
    const projector_h *ph = MT_BOUND(tr, p, projector_h);
    if (!ph) return NULL;
    mt_tr_enter(tr, p);
    mt_tensor *x = mt_dec_rms_forward(tr, ph->norm, feat);
    mt_module *pm = ph->pm;
    mt_tr_enter(tr, pm);
    const mt_sym *grid[4] = {feat->shape[0], mt_sym_const(ctx, g->vision.side), mt_sym_const(ctx, g->vision.side),
                             mt_sym_const(ctx, g->vision.hidden)};
    x = mt_view(tr, x, 4, grid);
    static const int64_t chw[4] = {0, 3, 1, 2};
    x = mt_permute(tr, x, 4, chw);
    x = x ? mt_tr_op1(tr, MT_OP_UNFOLD, (mt_arg[]){mt_a_tensor(x)}, 1,
                      (mt_kwarg[]){{"kernel_size", mt_a_int(g->merge)}, {"stride", mt_a_int(g->merge)}}, 2)
          : NULL;
    x = mt_transpose(tr, x, 1, 2);
    x = mt_tr_call(tr, ph->merging, x);
    mt_tr_leave(tr);
    x = mt_tr_call(tr, ph->linear_1, x);
    x = mt_act_forward(tr, ph->act, x);
    x = mt_tr_call(tr, ph->linear_2, x);
    mt_tr_leave(tr);
    return x;
}

static mt_tensor *mistral3_merge(mt_tracer *tr, mt_model *m, const mt_dec_spec *s, mt_tensor *ids,
                                 mt_tensor *embeds) {
    const mistral3 *g = s->ext;
    if (!embeds || m->inputs.n < 3) return NULL;
    mt_tensor *feat = projector_forward(tr, g, pixtral_forward(tr, g, m->inputs.items[2]));
    /* torch.split per image, then torch.cat(image_features, dim=0) */
    const mt_sym *rows[2] = {NULL, mt_sym_const(tr->ctx, g->text.hidden)};
    feat = mt_reshape(tr, feat, 2, rows);
    mt_tensor *mask = mt_image_token_mask(tr, ids, g->image_token, embeds);
    feat = mt_to(tr, feat, embeds->dtype);
    return mt_masked_scatter(tr, embeds, mask, feat);
}

static mt_status mistral3_build(mt_model *m) {
    mt_ctx *ctx = m->ctx;
    mistral3 *g = mt_alloc(ctx, sizeof *g);
    if (!g) return mt_ctx_status(ctx);
    m->family = g;
    mt_config *top = m->cfg;
    mt_config *tc = need_sub(m, "text_config");
    mt_config *vc = tc ? need_sub(m, "vision_config") : NULL;
    if (!vc) return mt_ctx_status(ctx);
    const char *tt = NULL, *pact = NULL;
    if (!mt_config_str(tc, "model_type", "mistral", &tt)) return mt_ctx_status(ctx);
    if (strcmp(tt, "mistral") != 0)
        return mt_config_error(tc, "model_type",
                               "mistral3 traces a mistral language model (MistralConfig), got \"%s\"; --text-only "
                               "traces the language model alone",
                               tt);
    json_t *fl = mt_config_json(top, "vision_feature_layer");
    if (fl && !json_is_integer(fl))
        return mt_config_error(top, "vision_feature_layer",
                               "expected an int: with a list the projector's norm (over vision hidden_size) cannot "
                               "take the concatenated layers, as in transformers");
    if (!mt_config_int(top, "image_token_index", 10, &g->image_token) ||
        !mt_config_int(top, "vision_feature_layer", -1, &g->feature_layer) ||
        !mt_config_pos_int(top, "spatial_merge_size", 2, &g->merge) ||
        !mt_config_bool(top, "multimodal_projector_bias", false, &g->proj_bias) ||
        !mt_config_str(top, "projector_hidden_act", "gelu", &pact))
        return mt_ctx_status(ctx);
    /* the tower first: --layers (m->num_layers) still holds the request */
    m->cfg = vc;
    mt_status st = pixtral_read(m, vc, &g->vision);
    m->cfg = tc;
    if (st == MT_OK) st = mt_mistral_spec(m, &g->text);
    m->cfg = top;
    if (st != MT_OK) return mt_ctx_status(ctx);
    const pixtral_spec *v = &g->vision;
    int64_t fl_idx = g->feature_layer < 0 ? g->feature_layer + v->layers + 1 : g->feature_layer;
    if (fl_idx < 0 || fl_idx > v->layers)
        return mt_config_error(top, "vision_feature_layer",
                               "%lld is not an index of the tower's %lld hidden states (the embeddings and each of "
                               "%lld layers traced)",
                               (long long)g->feature_layer, (long long)(v->layers + 1), (long long)v->layers);
    g->feature_layer = fl_idx;
    if (g->merge > v->side)
        return mt_config_error(top, "spatial_merge_size",
                               "%lld is more than the %lld patches a side (vision_config.image_size / patch_size): "
                               "F.unfold finds no block",
                               (long long)g->merge, (long long)v->side);
    g->merged_side = v->side / g->merge;
    g->tokens = g->merged_side * g->merged_side;
    if (g->image_token < 0 || g->image_token >= g->text.vocab)
        return mt_config_error(top, "image_token_index", "image token %lld outside the vocabulary (%lld)",
                               (long long)g->image_token, (long long)g->text.vocab);
    g->vnorm.cls.norm = "PixtralRMSNorm";
    g->vnorm.norm_eps = PIXTRAL_EPS;
    g->vnorm.dtype = v->dtype;
    g->pnorm.cls.norm = "Mistral3RMSNorm";
    g->pnorm.norm_eps = g->text.norm_eps; /* eps=config.text_config.rms_norm_eps */
    g->pnorm.dtype = g->text.dtype;
    m->cfg = vc;
    g->tower = pixtral_build(m, g);
    m->cfg = top;
    if (!g->tower) return mt_ctx_status(ctx);
    g->proj = mt_module_new(ctx, m->root, "multi_modal_projector", "Mistral3MultiModalProjector");
    projector_h *ph = MT_BIND(ctx, g->proj, projector_h);
    mt_module *pm = ph && (ph->norm = mt_dec_rms_norm(m, g->proj, "norm", &g->pnorm, v->hidden))
                        ? ph->pm = mt_module_new(ctx, g->proj, "patch_merger", "Mistral3PatchMerger")
                        : NULL;
    mt_dtype dt = g->text.dtype;
    if (!pm) return mt_ctx_status(ctx);
    mt_module_attr(ctx, pm, "spatial_merge_size", mt_a_int(g->merge));
    mt_module_attr(ctx, pm, "patch_size", mt_a_int(v->patch_size));
    if (!(ph->merging = mt_nn_linear(ctx, pm, "merging_layer", v->hidden * g->merge * g->merge, v->hidden, false, dt,
                                     MT_DEVICE_CPU)) ||
        !(ph->linear_1 = mt_nn_linear(ctx, g->proj, "linear_1", v->hidden, g->text.hidden, g->proj_bias, dt,
                                      MT_DEVICE_CPU)))
        return mt_ctx_status(ctx);
    if (!(ph->act = mt_act_new(m, g->proj, "act", pact, "projector_hidden_act")) ||
        !(ph->linear_2 = mt_nn_linear(ctx, g->proj, "linear_2", g->text.hidden, g->text.hidden, g->proj_bias, dt,
                                      MT_DEVICE_CPU)))
        return mt_ctx_status(ctx);
    mt_module *lm = mt_module_new(ctx, m->root, "language_model", "MistralForCausalLM");
    if (!lm) return mt_ctx_status(ctx);
    g->text.root = lm;
    g->text.ext = g;
    g->text.hooks.merge_embeds = mistral3_merge;
    m->cfg = tc;
    st = mt_dec_build(m, &g->text);
    m->cfg = top;
    if (st != MT_OK) return mt_ctx_status(ctx);
    mt_vision_info(m, v->hidden, v->intermediate, v->layers, v->heads, v->image_size, v->patch_size);
    mt_model_info(m, "spatial_merge_size", mt_a_int(g->merge));
    mt_model_info(m, "image_tokens_per_image", mt_a_int(g->tokens));
    mt_model_info(m, "image_token_index", mt_a_int(g->image_token));
    const char *fixed = mt_sprintf(ctx,
                                   "images are traced at vision_config.image_size (%lld x %lld px, a %lld x %lld "
                                   "patch grid, %lld image tokens each): transformers' per-image loops over "
                                   "image_sizes are constants there and attention runs batched per image "
                                   "(docs/cli.md, Multimodal models)",
                                   (long long)v->image_size, (long long)v->image_size, (long long)v->side,
                                   (long long)v->side, (long long)g->tokens);
    m->note = m->note ? mt_sprintf(ctx, "%s; %s", m->note, fixed) : fixed;
    return MT_OK;
}

static mt_status mistral3_forward(mt_model *m, mt_tracer *tr) {
    mistral3 *g = m->family;
    mt_status st = mt_image_input(m, tr, g->tokens, g->vision.channels, g->vision.image_size, g->text.dtype);
    if (st != MT_OK) return st;
    return mt_dec_forward(m, tr, &g->text);
}

/* The language model alone: mt_totals.text_params. */
static mt_status mistral3_totals(const mt_model *m, mt_totals *t) {
    const mistral3 *g = m->family;
    if (!mt_params_under(m->ctx, g->text.root, &t->text_params)) return mt_ctx_status(m->ctx);
    t->text_param_bytes = t->text_params * (int64_t)mt_dtype_size(g->text.dtype);
    return MT_OK;
}

static const char *const mistral3_classes[] = {"Mistral3ForConditionalGeneration", NULL};

const mt_arch mt_arch_mistral3 = {
    .model_type = "mistral3",
    .default_class = "Mistral3ForConditionalGeneration",
    .example = "mistralai/Mistral-Small-3.1-24B-Instruct-2503",
    .build = mistral3_build,
    .forward = mistral3_forward,
    .totals = mistral3_totals,
    .classes = mistral3_classes,
};
