/* The SigLIP vision tower: transformers' SiglipVisionModel (models/siglip/
 * modeling_siglip.py, read at commit 00b206564aa2 of the stored mirror):
 *   vision_model (SiglipVisionTransformer)
 *     embeddings (SiglipVisionEmbeddings): patch_embedding nn.Conv2d(num_channels,
 *       hidden, kernel = stride = patch_size, padding "valid"), position_embedding
 *       nn.Embedding(num_patches, hidden), non-persistent buffer position_ids
 *       arange(num_patches).expand((1, -1)); forward: conv, flatten(2), transpose(1, 2),
 *       + position_embedding(position_ids)
 *     encoder (SiglipEncoder): layers (ModuleList of SiglipEncoderLayer: self_attn,
 *       layer_norm1, mlp, layer_norm2 in __init__ order; pre-norm residual blocks)
 *       self_attn (SiglipAttention): k_proj, v_proj, q_proj, out_proj (with bias, in
 *         that order), heads of hidden / num_attention_heads, no mask, not causal
 *       mlp (SiglipMLP): activation_fn (hidden_act), fc1, fc2
 *     post_layernorm (nn.LayerNorm)
 * nn.Conv2d is traced through as the F.conv2d its forward calls (like the scaled
 * embeddings elsewhere), so the oracle and the sizing see the functional op.
 * The attention follows the model's implementation (--attn): SiglipSdpaAttention
 * (F.scaled_dot_product_attention with attn_mask None, is_causal False, no scale=)
 * or SiglipAttention's eager matmul/softmax with head_dim**-0.5. Defaults from
 * SiglipVisionConfig (configuration_siglip.py). */
#include <math.h>

#include "siglip.h"

mt_status mt_siglip_read(mt_model *m, mt_config *c, int64_t layers_override, mt_siglip_spec *v) {
    bool head = true;
    if (!mt_config_pos_int(c, "hidden_size", 768, &v->hidden) ||
        !mt_config_pos_int(c, "intermediate_size", 3072, &v->intermediate) ||
        !mt_config_pos_int(c, "num_hidden_layers", 12, &v->layers) ||
        !mt_config_pos_int(c, "num_attention_heads", 12, &v->heads) ||
        !mt_config_pos_int(c, "num_channels", 3, &v->channels) ||
        !mt_config_pos_int(c, "image_size", 224, &v->image_size) ||
        !mt_config_pos_int(c, "patch_size", 16, &v->patch_size) ||
        !mt_config_float(c, "layer_norm_eps", 1e-6, &v->eps) ||
        !mt_config_str(c, "hidden_act", "gelu_pytorch_tanh", &v->hidden_act) ||
        !mt_config_bool(c, "vision_use_head", true, &head))
        return mt_ctx_status(m->ctx);
    /* sizes above MT_MAX_HIDDEN are typos (real towers: 3 channels, a few hundred to a few
     * thousand pixels); bounding them keeps patches_side^2 and the tensors' numels far from overflow */
    static const char *const sized[] = {"image_size", "patch_size", "num_channels"};
    const int64_t vals[] = {v->image_size, v->patch_size, v->channels};
    for (int i = 0; i < 3; i++)
        if (vals[i] > MT_MAX_HIDDEN)
            return mt_config_error(c, sized[i], "%lld is more than the limit of %d (docs/cli.md, Limits)",
                                   (long long)vals[i], MT_MAX_HIDDEN);
    /* SiglipVisionTransformer: use_head = config.vision_use_head when the config has it, else True */
    if (head)
        return mt_config_error(c, "vision_use_head",
                               "the attention-pooling head (SiglipMultiheadAttentionPoolingHead) is not modelled; "
                               "the multimodal towers metatrace traces set vision_use_head false");
    if (v->hidden % v->heads != 0)
        return mt_config_error(c, "num_attention_heads",
                               "hidden_size %lld is not divisible by num_attention_heads %lld (SiglipAttention)",
                               (long long)v->hidden, (long long)v->heads);
    /* the valid convolution keeps image_size // patch_size patches a side (384 px in 14 px patches: 27) */
    if (v->image_size < v->patch_size)
        return mt_config_error(c, "patch_size", "patch_size %lld is larger than image_size %lld",
                               (long long)v->patch_size, (long long)v->image_size);
    v->head_dim = v->hidden / v->heads;
    v->patches_side = v->image_size / v->patch_size;
    if (layers_override > 0 && layers_override < v->layers) v->layers = layers_override;
    v->dtype = m->dtype;
    return MT_OK;
}

/* The handles the forward reads (blocks.h, "handles bound at build"): the
 * tower's, bound to the SiglipVisionModel, and each encoder layer's. */
typedef struct siglip_h {
    mt_module *vm, *emb, *enc, *layers, *patch, *pos_emb, *post_ln;
    mt_param *patch_w, *patch_b, *pos_ids;
} siglip_h;
static const mt_handle_kind siglip_h_kind = {"siglip_h"};
typedef struct siglip_layer_h {
    mt_module *ln1, *attn, *q, *k, *v, *o, *ln2, *mlp;
} siglip_layer_h;
static const mt_handle_kind siglip_layer_h_kind = {"siglip_layer_h"};

static mt_module *conv2d_module(mt_model *m, mt_module *parent, const char *name, const mt_siglip_spec *v,
                                siglip_h *th) {
    mt_ctx *ctx = m->ctx;
    mt_module *c = mt_module_new(ctx, parent, name, "Conv2d");
    if (!c) return NULL;
    int64_t k[2] = {v->patch_size, v->patch_size}, one[2] = {1, 1};
    mt_module_attr(ctx, c, "in_channels", mt_a_int(v->channels));
    mt_module_attr(ctx, c, "out_channels", mt_a_int(v->hidden));
    mt_module_attr(ctx, c, "kernel_size", mt_a_ints(ctx, k, 2));
    mt_module_attr(ctx, c, "stride", mt_a_ints(ctx, k, 2));
    mt_module_attr(ctx, c, "padding", mt_a_str("valid"));
    mt_module_attr(ctx, c, "dilation", mt_a_ints(ctx, one, 2));
    mt_module_attr(ctx, c, "groups", mt_a_int(1));
    int64_t ws[4] = {v->hidden, v->channels, v->patch_size, v->patch_size};
    if (!(th->patch_w = mt_param_new(ctx, c, "weight", v->dtype, MT_DEVICE_CPU, 4, ws)) ||
        !(th->patch_b = mt_param_new(ctx, c, "bias", v->dtype, MT_DEVICE_CPU, 1, &v->hidden)))
        return NULL;
    return c;
}

mt_module *mt_siglip_build(mt_model *m, mt_module *parent, const char *name, const mt_siglip_spec *v) {
    mt_ctx *ctx = m->ctx;
    mt_dtype dt = v->dtype;
    mt_device dev = MT_DEVICE_CPU;
    mt_module *tower = mt_module_new(ctx, parent, name, "SiglipVisionModel");
    siglip_h *th = MT_BIND(ctx, tower, siglip_h);
    mt_module *vm = th ? th->vm = mt_module_new(ctx, tower, "vision_model", "SiglipVisionTransformer") : NULL;
    mt_module *emb = vm ? th->emb = mt_module_new(ctx, vm, "embeddings", "SiglipVisionEmbeddings") : NULL;
    if (!emb || !(th->patch = conv2d_module(m, emb, "patch_embedding", v, th))) return NULL;
    int64_t npos = v->patches_side * v->patches_side, ids[2] = {1, npos};
    if (!(th->pos_emb = mt_nn_embedding(ctx, emb, "position_embedding", npos, v->hidden, dt, dev)) ||
        !(th->pos_ids = mt_buffer_new(ctx, emb, "position_ids", MT_INT64, dev, 2, ids, false, true)))
        return NULL;
    mt_module *enc = th->enc = mt_module_new(ctx, vm, "encoder", "SiglipEncoder");
    mt_module *layers = enc ? th->layers = mt_module_new(ctx, enc, "layers", "ModuleList") : NULL;
    if (!layers) return NULL;
    for (int64_t i = 0; i < v->layers; i++) {
        char idx[24];
        snprintf(idx, sizeof idx, "%lld", (long long)i);
        mt_module *L = mt_module_new(ctx, layers, idx, "SiglipEncoderLayer");
        siglip_layer_h *lh = MT_BIND(ctx, L, siglip_layer_h);
        mt_module *at = lh ? lh->attn = mt_module_new(ctx, L, "self_attn", "SiglipAttention") : NULL;
        if (!at) return NULL;
        mt_module_attr(ctx, at, "num_heads", mt_a_int(v->heads));
        mt_module_attr(ctx, at, "head_dim", mt_a_int(v->head_dim));
        static const char *const proj[4] = {"k_proj", "v_proj", "q_proj", "out_proj"};
        mt_module **slot[4] = {&lh->k, &lh->v, &lh->q, &lh->o};
        for (int p = 0; p < 4; p++)
            if (!(*slot[p] = mt_nn_linear(ctx, at, proj[p], v->hidden, v->hidden, true, dt, dev))) return NULL;
        if (!(lh->ln1 = mt_nn_layernorm(ctx, L, "layer_norm1", v->hidden, v->eps, true, true, dt, dev))) return NULL;
        mt_module *mlp = lh->mlp = mt_module_new(ctx, L, "mlp", "SiglipMLP");
        mt_module *act = mlp ? mt_act_new(m, mlp, "activation_fn", v->hidden_act, "hidden_act") : NULL;
        mt_module *fc1 = act ? mt_nn_linear(ctx, mlp, "fc1", v->hidden, v->intermediate, true, dt, dev) : NULL;
        mt_module *fc2 = fc1 ? mt_nn_linear(ctx, mlp, "fc2", v->intermediate, v->hidden, true, dt, dev) : NULL;
        if (!fc2 || mt_fc_mlp_bind(ctx, mlp, fc1, act, fc2) != MT_OK ||
            !(lh->ln2 = mt_nn_layernorm(ctx, L, "layer_norm2", v->hidden, v->eps, true, true, dt, dev)))
            return NULL;
    }
    if (!(th->post_ln = mt_nn_layernorm(ctx, vm, "post_layernorm", v->hidden, v->eps, true, true, dt, dev)))
        return NULL;
    return tower;
}

static mt_tensor *patch_conv_forward(mt_tracer *tr, const siglip_h *th, mt_tensor *x) {
    mt_module *c = th->patch;
    if (!c || !x) return NULL;
    mt_tr_enter(tr, c);
    mt_tensor *w = mt_tr_get_attr(tr, th->patch_w);
    mt_tensor *b = mt_tr_get_attr(tr, th->patch_b);
    mt_tensor *y = w && b ? mt_tr_op1(tr, MT_OP_CONV2D,
                                      (mt_arg[]){mt_a_tensor(x), mt_a_tensor(w), mt_a_tensor(b),
                                                 *mt_module_get_attr(c, "stride"), *mt_module_get_attr(c, "padding"),
                                                 *mt_module_get_attr(c, "dilation"), *mt_module_get_attr(c, "groups")},
                                      7, NULL, 0)
                          : NULL;
    mt_tr_leave(tr);
    return y;
}

static mt_tensor *attn_forward(mt_tracer *tr, const siglip_layer_h *lh, mt_tensor *x, const mt_siglip_spec *v) {
    if (!x) return NULL;
    const mt_sym *b = x->shape[0], *n = x->shape[1];
    mt_ctx *ctx = tr->ctx;
    mt_tr_enter(tr, lh->attn);
    /* query, key, value in the forward's order */
    mt_tensor *q = mt_tr_call(tr, lh->q, x);
    mt_tensor *k = mt_tr_call(tr, lh->k, x);
    mt_tensor *val = mt_tr_call(tr, lh->v, x);
    const mt_sym *hd[4] = {b, n, mt_sym_const(ctx, v->heads), mt_sym_const(ctx, v->head_dim)};
    q = mt_transpose(tr, mt_view(tr, q, 4, hd), 1, 2);
    k = mt_transpose(tr, mt_view(tr, k, 4, hd), 1, 2);
    val = mt_transpose(tr, mt_view(tr, val, 4, hd), 1, 2);
    mt_attn_impl impl = tr->model->attn == MT_ATTN_IMPL_EAGER ? MT_ATTN_IMPL_EAGER : MT_ATTN_IMPL_SDPA;
    mt_attn_args aa = {.n_rep = 1, .scaling = impl == MT_ATTN_IMPL_EAGER ? pow((double)v->head_dim, -0.5) : 0};
    mt_tensor *o = mt_attn_forward(tr, impl, q, k, val, NULL, &aa);
    const mt_sym *flat[3] = {b, n, mt_sym_const(ctx, v->hidden)};
    o = mt_reshape(tr, o, 3, flat);
    o = mt_tr_call(tr, lh->o, o);
    mt_tr_leave(tr);
    return o;
}

mt_tensor *mt_siglip_forward(mt_tracer *tr, mt_module *tower, mt_tensor *px, const mt_siglip_spec *v) {
    const siglip_h *th = MT_BOUND(tr, tower, siglip_h);
    if (!th) return NULL;
    mt_module *vm = th->vm, *emb = th->emb, *enc = th->enc, *layers = th->layers;
    mt_tr_enter(tr, tower);
    mt_tr_enter(tr, vm);
    mt_tr_enter(tr, emb);
    mt_tensor *h = patch_conv_forward(tr, th, px);
    h = h ? mt_tr_op1(tr, MT_OP_FLATTEN, (mt_arg[]){mt_a_tensor(h), mt_a_int(2)}, 2, NULL, 0) : NULL;
    h = mt_transpose(tr, h, 1, 2);
    mt_tensor *pos = mt_tr_get_attr(tr, th->pos_ids);
    mt_tensor *pe = mt_tr_call(tr, th->pos_emb, pos);
    h = mt_add(tr, h, pe);
    mt_tr_leave(tr);
    mt_tr_enter(tr, enc);
    for (int i = 0; i < layers->children.n && h; i++) {
        mt_module *L = layers->children.items[i];
        const siglip_layer_h *lh = MT_BOUND(tr, L, siglip_layer_h);
        if (!lh) return NULL;
        mt_tr_enter(tr, L);
        mt_tensor *res = h;
        mt_tensor *a = mt_tr_call(tr, lh->ln1, h);
        a = attn_forward(tr, lh, a, v);
        h = mt_add(tr, res, a);
        res = h;
        mt_tensor *f = mt_tr_call(tr, lh->ln2, h);
        f = mt_fc_mlp_forward(tr, lh->mlp, f);
        h = mt_add(tr, res, f);
        mt_tr_leave(tr);
    }
    mt_tr_leave(tr);
    h = mt_tr_call(tr, th->post_ln, h);
    mt_tr_leave(tr);
    mt_tr_leave(tr);
    return h;
}
