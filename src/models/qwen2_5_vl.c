/* Qwen2.5-VL (Qwen2_5_VLForConditionalGeneration, model_type qwen2_5_vl): a
 * vision transformer (Conv3d patch embedding, 2-D rotary over the patch grid,
 * windowed attention on most blocks and full attention on fullatt_block_indexes,
 * RMSNorm + SwiGLU blocks, the patch merger) and a Qwen2 decoder with multimodal
 * rotary positions (M-RoPE, rope_scaling.mrope_section), the image features
 * scattered into the token embeddings.
 *
 * Read at transformers' models/qwen2_5_vl/modeling_qwen2_5_vl.py (stored mirror
 * commit 00b676f8f048: the attention-interface generation; efa7189c5546, the 4.49
 * generation with per-implementation vision attention classes, and the v5 modular
 * file 00d01082bab1 compared) and configuration_qwen2_5_vl.py (018c8e0394c4).
 *
 * Names. Checkpoints (Qwen/Qwen2.5-VL-3B-Instruct's model.safetensors.index.json,
 * tests/data/index) store the layout of transformers 4.49: visual.*, model.*
 * (the text model), lm_head. Newer transformers nests them as model.visual and
 * model.language_model and maps the stored names through
 * Qwen2_5_VLForConditionalGeneration._checkpoint_conversion_mapping ("^visual" ->
 * "model.visual", "^model(?!\.(language_model|visual))" -> "model.language_model").
 * metatrace builds the stored layout, so every parameter carries its checkpoint
 * name; registration order visual, model, lm_head (4.49's __init__). lm_head is
 * tied when tie_word_embeddings says so (the 3B: true, absent from its index).
 * Left out: the 4.5x Qwen2_5_VLAttention also built an unused rotary_emb per layer
 * (a non-persistent inv_freq its forward never reads; gone in v5).
 *
 *   visual (Qwen2_5_VisionTransformerPretrainedModel): patch_embed
 *     (Qwen2_5_VisionPatchEmbed: proj nn.Conv3d(in_channels, hidden, kernel = stride
 *     = (temporal_patch_size, patch_size, patch_size), bias=False)), rotary_pos_emb
 *     (Qwen2_5_VisionRotaryEmbedding(head_dim // 2): non-persistent float32 inv_freq
 *     [head_dim // 4]), blocks (depth x Qwen2_5_VLVisionBlock: norm1, norm2
 *     (Qwen2RMSNorm eps 1e-6), attn (Qwen2_5_VLVisionAttention: qkv Linear(dim, 3 dim),
 *     proj Linear(dim, dim), both biased), mlp (Qwen2_5_VLMLP with bias: gate_proj,
 *     up_proj, down_proj, act_fn = vision hidden_act)), merger (Qwen2_5_VLPatchMerger:
 *     ln_q Qwen2RMSNorm(hidden, 1e-6), mlp nn.Sequential(Linear(4 hidden, 4 hidden),
 *     nn.GELU(), Linear(4 hidden, out_hidden_size)) for spatial_merge_size 2).
 *
 * Fixed grid (docs/cli.md, "Multimodal models"). The processor resizes each image
 * to its own grid (grid_thw) and transformers loops over the images in Python
 * (rot_pos_emb, get_window_index, cu_seqlens, .tolist()). The trace takes every
 * image as one temporal patch of side x side patches, side = 4 windows of
 * window_size // patch_size patches (Qwen2.5-VL: 112 // 14 = 8, side 32: a 448 x
 * 448 px image, 1,024 patches, 256 image tokens); everything those loops compute
 * is then a constant of the config:
 *   - pixel_values is the processor's [images * side^2, C * T * P * P] rows;
 *   - rot_pos_emb's per-image (h, w) ids are recorded once (arange, expand,
 *     reshape, permute, flatten, stack) and the per-image torch.cat as
 *     .repeat(images, 1); max_grid_size is side;
 *   - get_window_index's per-image order, without the -100 padding F.pad adds (a
 *     whole extra window row and column when the grid is a multiple of the window)
 *     and its removal by a boolean mask, which give the same permutation:
 *     arange(tokens).reshape(1, nw, w, nw, w).permute(0, 1, 3, 2, 4).reshape(-1),
 *     plus arange(images) * tokens per image for the torch.cat over images;
 *     x[window_index, :, :] is recorded x[window_index] (the same rows);
 *   - every window holds (w * merge)^2 patches and every image side^2, so the
 *     attention over cu_seqlens chunks (torch.split by lengths.tolist(), one
 *     attention call per chunk, torch.cat) is one attention call batched over the
 *     chunks: q [seq, heads, d] viewed [chunks, chunk, heads, d] and transposed,
 *     the output reshaped back to [seq, dim] (q.transpose(0, 1).unsqueeze(0) is
 *     folded into that view); cu_seqlens and cu_window_seqlens are not recorded;
 *   - get_image_features' torch.split by image and the torch.cat after it are a
 *     no-op pair, not recorded; pixel_values.type(visual.dtype) is a no-op too (the
 *     input is in the model dtype);
 *   - get_rope_index (a Python loop over input_ids' values) is not a graph op: its
 *     result position_ids [3, batch, seq] is a graph input, as when a caller passes
 *     position_ids.
 * Smaller, larger or non-square images, and videos, are not modelled.
 *
 * Forward (Qwen2_5_VLModel.forward with pixel_values and position_ids): the token
 * embedding; the tower; image_mask = input_ids == image_token_id, .unsqueeze(-1)
 * .expand_as(inputs_embeds); image_embeds.to(inputs_embeds.dtype);
 * inputs_embeds.masked_scatter(image_mask, image_embeds); the text model on
 * inputs_embeds with position_ids (M-RoPE: cos/sin [3, batch, seq, head_dim], each
 * attention taking its mrope_section chunks from rows t, h, w); lm_head. Left out:
 * the image-token count check (validation only) and the .to(device) moves.
 * Inputs: input_ids, attention_mask [batch, seq], position_ids [3, batch, seq]
 * int64, pixel_values [images * side^2, C * T * P * P], image_grid_thw [images, 3]
 * int64 (read by no traced op: its rows are the constants above); `images` an input
 * symbol bounded by [1, batch * seq // tokens per image]. */
#include <math.h>
#include <string.h>

#include <jansson.h>

#include "qwen_vl.h"

#define VIT_EPS 1e-6       /* Qwen2RMSNorm(hidden, eps=1e-6) in the blocks and ln_q */
#define WINDOWS_A_SIDE 4   /* the traced image: 4 x 4 attention windows */

static const mt_dec_names qwen_vl_names = {
    "Qwen2_5_VLTextModel", "Qwen2_5_VLDecoderLayer", "Qwen2_5_VLAttention", "Qwen2MLP", "Qwen2RMSNorm",
    "Qwen2_5_VLRotaryEmbedding",
};

/* Qwen2_5_VLTextConfig's defaults. */
static const mt_dec_defaults qwen_vl_defaults = {
    .vocab = 152064, .hidden = 8192, .intermediate = 29568, .layers = 80, .heads = 64,
    .norm_eps = 1e-5, .rope_theta = 1000000.0, .hidden_act = "silu",
    .norm_eps_key = "rms_norm_eps", .tie_embeddings = false, .kv_heads = 8,
};

typedef struct qwen_vl {
    mt_dec_spec text;
    qwen_vit vision;
    mt_dec_spec vspec; /* the vision blocks' norms and MLPs: Qwen2RMSNorm eps 1e-6, biased gated MLP */
    int64_t mrope[3];
    int64_t image_token;
    mt_module *visual;
    mt_tensor *position_ids, *pixel_values; /* the trace's inputs */
} qwen_vl;

static const mt_sym *K(mt_tracer *tr, int64_t v) { return mt_sym_const(tr->ctx, v); }

/* ---- configuration ------------------------------------------------------------- */

/* rope_scaling (or rope_parameters): type "mrope" or "default", mrope_section three
 * positive ints summing to head_dim / 2 (Qwen2_5_VLTextConfig maps "mrope" to "default";
 * another rope type is not modelled). */
static mt_status read_mrope(mt_model *m, mt_dec_spec *s, int64_t sec[3]) {
    const char *key = mt_config_has(m->cfg, "rope_parameters") && !mt_dec_cfg_is_null(m, "rope_parameters")
                          ? "rope_parameters"
                          : "rope_scaling";
    char f[64];
    json_t *rs = mt_config_json(m->cfg, key);
    if (!rs || !json_is_object(rs))
        return mt_config_error(m->cfg, key, "expected an object with mrope_section (Qwen2.5-VL's multimodal rotary)");
    const char *type = NULL;
    snprintf(f, sizeof f, "%s.rope_type", key);
    if (!mt_config_str(m->cfg, f, NULL, &type)) return mt_ctx_status(m->ctx);
    if (!type) {
        snprintf(f, sizeof f, "%s.type", key);
        if (!mt_config_str(m->cfg, f, "default", &type)) return mt_ctx_status(m->ctx);
    }
    if (strcmp(type, "mrope") != 0 && strcmp(type, "default") != 0)
        return mt_config_error(m->cfg, f, "rope type \"%s\" is not modelled for qwen2_5_vl (\"mrope\" or \"default\")",
                               type);
    snprintf(f, sizeof f, "%s.mrope_section", key);
    json_t *ms = mt_config_json(m->cfg, f);
    if (!ms || !json_is_array(ms) || json_array_size(ms) != 3)
        return mt_config_error(m->cfg, f, "expected a list of 3 positive ints (temporal, height, width channels)");
    int64_t sum = 0;
    for (int i = 0; i < 3; i++) {
        json_t *v = json_array_get(ms, (size_t)i);
        if (!json_is_integer(v) || json_integer_value(v) <= 0 || json_integer_value(v) > MT_MAX_HIDDEN)
            return mt_config_error(m->cfg, f, "entry %d: expected a positive int", i);
        sec[i] = json_integer_value(v);
        sum += sec[i];
    }
    if (sum * 2 != s->head_dim)
        return mt_config_error(m->cfg, f,
                               "sections sum to %lld, expected head_dim / 2 = %lld (cos/sin are split by "
                               "mrope_section * 2 over head_dim)",
                               (long long)sum, (long long)(s->head_dim / 2));
    if (key[5] == 'p') { /* rope_parameters.rope_theta overrides rope_theta */
        if (!mt_config_float(m->cfg, "rope_parameters.rope_theta", s->rope_theta, &s->rope_theta))
            return mt_ctx_status(m->ctx);
    }
    s->rope_type = "default";
    s->attention_scaling = 1.0;
    s->rotary_dim = s->head_dim;
    return MT_OK;
}

/* Qwen2_5_VLTextConfig from m->cfg (the top-level config of the Hub checkpoints, or
 * text_config): reads only. */
static mt_status text_spec(mt_model *m, mt_dec_spec *s, int64_t mrope[3]) {
    s->cls = qwen_vl_names;
    s->family = "qwen2_5_vl";
    if (mt_dec_read_common(m, s, &qwen_vl_defaults) != MT_OK) return mt_ctx_status(m->ctx);
    if (s->hidden % s->heads != 0 || s->head_dim != s->hidden / s->heads)
        return mt_config_error(m->cfg, "num_attention_heads",
                               "hidden_size %lld is not divisible by num_attention_heads %lld (Qwen2_5_VLAttention: "
                               "head_dim = hidden_size // num_heads)",
                               (long long)s->hidden, (long long)s->heads);
    s->qkv_bias = true;
    bool use_sw;
    int64_t window, max_window_layers;
    if (!mt_config_bool(m->cfg, "use_sliding_window", false, &use_sw) ||
        !mt_dec_read_window(m, "sliding_window", 4096, &window) ||
        !mt_config_int(m->cfg, "max_window_layers", 80, &max_window_layers))
        return mt_ctx_status(m->ctx);
    if (use_sw && window > 0) { /* layer_types: sliding from max_window_layers on */
        bool *sl = mt_alloc_array(m->ctx, (size_t)s->layers, sizeof *sl);
        if (!sl) return mt_ctx_status(m->ctx);
        for (int64_t i = 0; i < s->layers; i++) sl[i] = i >= max_window_layers;
        s->caps.sliding_window = window;
        s->caps.sliding = sl;
    }
    if (!mt_config_float(m->cfg, "rope_theta", qwen_vl_defaults.rope_theta, &s->rope_theta))
        return mt_ctx_status(m->ctx);
    if (read_mrope(m, s, mrope) != MT_OK) return mt_ctx_status(m->ctx);
    s->caps.mrope_section = mrope;
    return MT_OK;
}

/* Qwen2_5_VLVisionConfig's defaults. */
static mt_status vit_read(mt_model *m, mt_config *c, qwen_vit *v) {
    if (!mt_config_pos_int(c, "depth", 32, &v->depth) || !mt_config_pos_int(c, "hidden_size", 3584, &v->hidden) ||
        !mt_config_str(c, "hidden_act", "silu", &v->act) ||
        !mt_config_pos_int(c, "intermediate_size", 3420, &v->intermediate) ||
        !mt_config_pos_int(c, "num_heads", 16, &v->heads) || !mt_config_pos_int(c, "in_channels", 3, &v->channels) ||
        !mt_config_pos_int(c, "patch_size", 14, &v->patch) ||
        !mt_config_pos_int(c, "spatial_merge_size", 2, &v->merge) ||
        !mt_config_pos_int(c, "temporal_patch_size", 2, &v->temporal) ||
        !mt_config_pos_int(c, "window_size", 112, &v->window) ||
        !mt_config_pos_int(c, "out_hidden_size", 3584, &v->out_hidden))
        return mt_ctx_status(m->ctx);
    static const char *const sized[] = {"hidden_size", "intermediate_size", "in_channels", "patch_size",
                                        "spatial_merge_size", "temporal_patch_size", "window_size", "out_hidden_size"};
    const int64_t vals[] = {v->hidden, v->intermediate, v->channels, v->patch, v->merge, v->temporal, v->window,
                            v->out_hidden};
    for (int i = 0; i < 8; i++)
        if (vals[i] > MT_MAX_HIDDEN)
            return mt_config_error(c, sized[i], "%lld is more than the limit of %d (docs/cli.md, Limits)",
                                   (long long)vals[i], MT_MAX_HIDDEN);
    if (v->hidden % v->heads != 0)
        return mt_config_error(c, "num_heads", "hidden_size %lld is not divisible by num_heads %lld "
                               "(Qwen2_5_VLVisionAttention)", (long long)v->hidden, (long long)v->heads);
    v->head_dim = v->hidden / v->heads;
    if (v->head_dim % 4 != 0)
        return mt_config_error(c, "num_heads",
                               "head_dim %lld (hidden_size / num_heads) is not a multiple of 4: the 2-D rotary "
                               "gives height and width head_dim / 4 frequencies each",
                               (long long)v->head_dim);
    v->win = v->window / v->merge / v->patch;
    if (v->win < 1 || v->win * v->merge * v->patch != v->window)
        return mt_config_error(c, "window_size",
                               "%lld is not a positive multiple of spatial_merge_size x patch_size (%lld): the "
                               "traced windows would not tile the grid",
                               (long long)v->window, (long long)(v->merge * v->patch));
    v->side = WINDOWS_A_SIDE * v->win * v->merge;
    v->patches = v->side * v->side;
    v->tokens = v->patches / (v->merge * v->merge);
    v->in_dim = v->channels * v->temporal * v->patch * v->patch;
    if (v->in_dim > MT_MAX_HIDDEN * (int64_t)64)
        return mt_config_error(c, "patch_size", "a patch of %lld values is more than the limit", (long long)v->in_dim);
    int64_t cfg_depth = v->depth;
    if (m->num_layers > 0 && m->num_layers < v->depth) v->depth = m->num_layers;
    bool *full = mt_alloc_array(m->ctx, (size_t)v->depth, sizeof *full);
    if (!full) return mt_ctx_status(m->ctx);
    json_t *fa = mt_config_json(c, "fullatt_block_indexes");
    if (!fa || json_is_null(fa)) {
        static const int64_t dflt[] = {7, 15, 23, 31};
        for (int i = 0; i < 4; i++)
            if (dflt[i] < v->depth) full[dflt[i]] = true;
    } else {
        if (!json_is_array(fa))
            return mt_config_error(c, "fullatt_block_indexes", "expected a list of block indexes");
        for (size_t i = 0; i < json_array_size(fa); i++) {
            json_t *e = json_array_get(fa, i);
            if (!json_is_integer(e) || json_integer_value(e) < 0 || json_integer_value(e) >= cfg_depth)
                return mt_config_error(c, "fullatt_block_indexes", "entry %zu: expected a block index in [0, %lld)",
                                       i, (long long)cfg_depth);
            if (json_integer_value(e) < v->depth) full[json_integer_value(e)] = true;
        }
    }
    v->full = full;
    v->dtype = m->dtype;
    return MT_OK;
}

/* ---- build ----------------------------------------------------------------------- */

static mt_module *vit_build(mt_model *m, qwen_vl *g) {
    mt_ctx *ctx = m->ctx;
    const qwen_vit *v = &g->vision;
    mt_dtype dt = v->dtype;
    mt_device dev = MT_DEVICE_CPU;
    mt_module *vis = mt_module_new(ctx, m->root, "visual", "Qwen2_5_VisionTransformerPretrainedModel");
    mt_qwen_vit_h *th = vis ? MT_BIND(ctx, vis, mt_qwen_vit_h) : NULL;
    if (!th || !mt_qwen_vit_patch_embed_new(m, vis, v, "Qwen2_5_VisionPatchEmbed", false, th)) return NULL;
    mt_module *rot = th->rotary = mt_module_new(ctx, vis, "rotary_pos_emb", "Qwen2_5_VisionRotaryEmbedding");
    int64_t nf = v->head_dim / 4; /* arange(0, head_dim // 2, 2) */
    if (!rot || !(th->inv_freq = mt_buffer_new(ctx, rot, "inv_freq", MT_FLOAT32, dev, 1, &nf, false, true)))
        return NULL;
    mt_module *blocks = th->blocks = mt_module_new(ctx, vis, "blocks", "ModuleList");
    if (!blocks) return NULL;
    for (int64_t i = 0; i < v->depth; i++) {
        char idx[24];
        snprintf(idx, sizeof idx, "%lld", (long long)i);
        mt_module *B = mt_module_new(ctx, blocks, idx, "Qwen2_5_VLVisionBlock");
        mt_qwen_vit_block_h *bh = B ? MT_BIND(ctx, B, mt_qwen_vit_block_h) : NULL;
        if (!bh || !(bh->norm1 = mt_dec_rms_norm(m, B, "norm1", &g->vspec, v->hidden)) ||
            !(bh->norm2 = mt_dec_rms_norm(m, B, "norm2", &g->vspec, v->hidden)))
            return NULL;
        mt_module *at = bh->attn = mt_module_new(ctx, B, "attn", "Qwen2_5_VLVisionAttention");
        mt_attn_h *ah = at ? MT_BIND(ctx, at, mt_attn_h) : NULL;
        if (!ah) return NULL;
        mt_module_attr(ctx, at, "num_heads", mt_a_int(v->heads));
        mt_module_attr(ctx, at, "full_attention", mt_a_bool(v->full[i]));
        if (!(ah->qkv = mt_nn_linear(ctx, at, "qkv", v->hidden, 3 * v->hidden, true, dt, dev)) ||
            !(ah->o = mt_nn_linear(ctx, at, "proj", v->hidden, v->hidden, true, dt, dev)) ||
            !(bh->mlp = mt_dec_gated_mlp(m, &g->vspec, B, "mlp", "Qwen2_5_VLMLP", v->intermediate)))
            return NULL;
    }
    mt_module *mg = th->merger = mt_module_new(ctx, vis, "merger", "Qwen2_5_VLPatchMerger");
    mt_qwen_vit_merger_h *mgh = mg ? MT_BIND(ctx, mg, mt_qwen_vit_merger_h) : NULL;
    if (!mgh || !(mgh->norm = mt_dec_rms_norm(m, mg, "ln_q", &g->vspec, v->hidden))) return NULL;
    int64_t mh = v->hidden * v->merge * v->merge;
    mt_module *seq = mgh->seq = mt_module_new(ctx, mg, "mlp", "Sequential");
    if (!seq || !(mgh->fc1 = mt_nn_linear(ctx, seq, "0", mh, mh, true, dt, dev)) ||
        !(mgh->act = mt_nn_act(ctx, seq, "1", "GELU")) ||
        !(mgh->fc2 = mt_nn_linear(ctx, seq, "2", mh, v->out_hidden, true, dt, dev)))
        return NULL;
    return vis;
}

/* ---- pieces Qwen3-VL's tower shares (qwen_vl.h) ------------------------------------ */

const mt_handle_kind mt_qwen_vit_h_kind = {"mt_qwen_vit_h"};
const mt_handle_kind mt_qwen_vit_block_h_kind = {"mt_qwen_vit_block_h"};
const mt_handle_kind mt_qwen_vit_merger_h_kind = {"mt_qwen_vit_merger_h"};

mt_module *mt_qwen_vit_patch_embed_new(mt_model *m, mt_module *vis, const qwen_vit *v, const char *cls, bool bias,
                                       mt_qwen_vit_h *th) {
    mt_ctx *ctx = m->ctx;
    mt_module *pe = th->patch_embed = mt_module_new(ctx, vis, "patch_embed", cls);
    mt_module *conv = pe ? th->proj = mt_module_new(ctx, pe, "proj", "Conv3d") : NULL;
    if (!conv) return NULL;
    int64_t k[3] = {v->temporal, v->patch, v->patch}, zero[3] = {0, 0, 0}, one[3] = {1, 1, 1};
    mt_module_attr(ctx, conv, "in_channels", mt_a_int(v->channels));
    mt_module_attr(ctx, conv, "out_channels", mt_a_int(v->hidden));
    mt_module_attr(ctx, conv, "kernel_size", mt_a_ints(ctx, k, 3));
    mt_module_attr(ctx, conv, "stride", mt_a_ints(ctx, k, 3));
    mt_module_attr(ctx, conv, "padding", mt_a_ints(ctx, zero, 3));
    mt_module_attr(ctx, conv, "dilation", mt_a_ints(ctx, one, 3));
    mt_module_attr(ctx, conv, "groups", mt_a_int(1));
    int64_t ws[5] = {v->hidden, v->channels, v->temporal, v->patch, v->patch};
    if (!(th->proj_w = mt_param_new(ctx, conv, "weight", v->dtype, MT_DEVICE_CPU, 5, ws))) return NULL;
    if (bias && !(th->proj_b = mt_param_new(ctx, conv, "bias", v->dtype, MT_DEVICE_CPU, 1, &v->hidden))) return NULL;
    return pe;
}

mt_tensor *mt_qwen_vit_patch_embed(mt_tracer *tr, const qwen_vit *v, const mt_qwen_vit_h *th, mt_tensor *px) {
    mt_module *pe = th->patch_embed, *conv = th->proj;
    if (!conv || !px) return NULL;
    /* view(-1, C, T, P, P), proj(x.to(dtype=proj.weight.dtype)).view(-1, embed_dim) */
    mt_tr_enter(tr, pe);
    const mt_sym *p5[5] = {NULL, K(tr, v->channels), K(tr, v->temporal), K(tr, v->patch), K(tr, v->patch)};
    mt_tensor *x = mt_view(tr, px, 5, p5);
    x = x ? mt_tr_op1(tr, MT_OP_TO, (mt_arg[]){mt_a_tensor(x)}, 1, (mt_kwarg[]){{"dtype", mt_a_dtype(v->dtype)}}, 1)
          : NULL;
    mt_tr_enter(tr, conv);
    mt_tensor *w = mt_tr_get_attr(tr, th->proj_w);
    mt_param *bp = th->proj_b;
    mt_tensor *b = bp ? mt_tr_get_attr(tr, bp) : NULL;
    mt_tensor *h = w && x && (b || !bp)
                       ? mt_tr_op1(tr, MT_OP_CONV3D,
                                   (mt_arg[]){mt_a_tensor(x), mt_a_tensor(w), b ? mt_a_tensor(b) : mt_a_none(),
                                              *mt_module_get_attr(conv, "stride"),
                                              *mt_module_get_attr(conv, "padding"),
                                              *mt_module_get_attr(conv, "dilation"),
                                              *mt_module_get_attr(conv, "groups")},
                                   7, NULL, 0)
                       : NULL;
    mt_tr_leave(tr);
    const mt_sym *e2[2] = {NULL, K(tr, v->hidden)};
    h = mt_view(tr, h, 2, e2);
    mt_tr_leave(tr);
    return h;
}

/* ---- the vision forward ---------------------------------------------------------- */

/* rot_pos_emb for the fixed grid: [images * side^2, head_dim / 2] (float32). */
static mt_tensor *vit_rot_pos_emb(mt_tracer *tr, const qwen_vl *g, const mt_qwen_vit_h *th, const mt_sym *images) {
    const qwen_vit *v = &g->vision;
    int64_t s = v->side, mg = v->merge;
    const mt_sym *grid[4] = {K(tr, s / mg), K(tr, mg), K(tr, s / mg), K(tr, mg)};
    static const int64_t perm[4] = {0, 2, 1, 3};
    /* hpos_ids = arange(h).unsqueeze(1).expand(-1, w).reshape(...).permute(0, 2, 1, 3).flatten() */
    mt_tensor *hp = mt_tr_op1(tr, MT_OP_ARANGE, (mt_arg[]){mt_a_int(s)}, 1, NULL, 0);
    hp = mt_unsqueeze(tr, hp, 1);
    const mt_sym *ehw[2] = {NULL, K(tr, s)};
    hp = mt_expand(tr, hp, 2, ehw);
    hp = mt_reshape(tr, hp, 4, grid);
    hp = mt_permute(tr, hp, 4, perm);
    hp = hp ? mt_tr_op1(tr, MT_OP_FLATTEN, (mt_arg[]){mt_a_tensor(hp)}, 1, NULL, 0) : NULL;
    /* wpos_ids = arange(w).unsqueeze(0).expand(h, -1).reshape(...).permute(0, 2, 1, 3).flatten() */
    mt_tensor *wp = mt_tr_op1(tr, MT_OP_ARANGE, (mt_arg[]){mt_a_int(s)}, 1, NULL, 0);
    wp = mt_unsqueeze(tr, wp, 0);
    const mt_sym *ewh[2] = {K(tr, s), NULL};
    wp = mt_expand(tr, wp, 2, ewh);
    wp = mt_reshape(tr, wp, 4, grid);
    wp = mt_permute(tr, wp, 4, perm);
    wp = wp ? mt_tr_op1(tr, MT_OP_FLATTEN, (mt_arg[]){mt_a_tensor(wp)}, 1, NULL, 0) : NULL;
    if (!hp || !wp) return NULL;
    /* torch.stack([hpos_ids, wpos_ids], dim=-1).repeat(t, 1), then torch.cat over the images:
     * identical blocks, recorded as one .repeat(images, 1) */
    mt_arg items[2] = {mt_a_tensor(hp), mt_a_tensor(wp)};
    mt_arg sa[1] = {mt_a_list(tr->ctx, items, 2)};
    mt_tensor *pos = mt_tr_op1(tr, MT_OP_STACK, sa, 1, (mt_kwarg[]){{"dim", mt_a_int(-1)}}, 1);
    pos = pos ? mt_tr_op1(tr, MT_OP_REPEAT, (mt_arg[]){mt_a_tensor(pos), mt_a_dim(images), mt_a_int(1)}, 3, NULL, 0)
              : NULL;
    /* self.rotary_pos_emb(max_grid_size): seq = arange(side, dtype=float32); torch.outer(seq, inv_freq) */
    mt_tr_enter(tr, th->rotary);
    mt_tensor *inv = mt_tr_get_attr(tr, th->inv_freq);
    mt_tensor *sq = mt_tr_op1(tr, MT_OP_ARANGE, (mt_arg[]){mt_a_int(s)}, 1,
                              (mt_kwarg[]){{"dtype", mt_a_dtype(MT_FLOAT32)}}, 1);
    mt_tensor *full = sq && inv ? mt_tr_op1(tr, MT_OP_OUTER, (mt_arg[]){mt_a_tensor(sq), mt_a_tensor(inv)}, 2, NULL, 0)
                                : NULL;
    mt_tr_leave(tr);
    /* rotary_pos_emb_full[pos_ids].flatten(1) */
    mt_tensor *r = full && pos ? mt_tr_op1(tr, MT_OP_GETITEM, (mt_arg[]){mt_a_tensor(full), mt_a_tensor(pos)}, 2,
                                           NULL, 0)
                               : NULL;
    return r ? mt_tr_op1(tr, MT_OP_FLATTEN, (mt_arg[]){mt_a_tensor(r), mt_a_int(1)}, 2, NULL, 0) : NULL;
}

/* get_window_index for the fixed grid: [images * tokens] int64. */
static mt_tensor *vit_window_index(mt_tracer *tr, const qwen_vl *g, const mt_sym *images) {
    const qwen_vit *v = &g->vision;
    int64_t lh = v->side / v->merge, nw = lh / v->win;
    /* index = arange(t * llm_h * llm_w).reshape(t, nw, w, nw, w).permute(0, 1, 3, 2, 4).reshape(-1) */
    mt_tensor *idx = mt_tr_op1(tr, MT_OP_ARANGE, (mt_arg[]){mt_a_int(v->tokens)}, 1, NULL, 0);
    const mt_sym *five[5] = {K(tr, 1), K(tr, nw), K(tr, v->win), K(tr, nw), K(tr, v->win)};
    idx = mt_reshape(tr, idx, 5, five);
    static const int64_t perm[5] = {0, 1, 3, 2, 4};
    idx = mt_permute(tr, idx, 5, perm);
    const mt_sym *flat[1] = {NULL};
    idx = mt_reshape(tr, idx, 1, flat);
    /* index_new + window_index_id for each image, torch.cat: arange(images) * tokens added */
    mt_tensor *base = mt_tr_op1(tr, MT_OP_ARANGE, (mt_arg[]){mt_a_dim(images)}, 1, NULL, 0);
    base = base ? mt_tr_op1(tr, MT_OP_MUL, (mt_arg[]){mt_a_tensor(base), mt_a_int(v->tokens)}, 2, NULL, 0) : NULL;
    base = mt_unsqueeze(tr, base, 1);
    idx = mt_unsqueeze(tr, idx, 0);
    mt_tensor *all = mt_add(tr, base, idx);
    return mt_reshape(tr, all, 1, flat);
}

mt_tensor *mt_qwen_vit_attn(mt_tracer *tr, const qwen_vit *v, mt_module *at, mt_tensor *x, mt_tensor *cos,
                            mt_tensor *sin, int64_t chunk) {
    if (!x) return NULL;
    const mt_sym *seq = x->shape[0];
    const mt_attn_h *ah = MT_BOUND(tr, at, mt_attn_h);
    if (!ah) return NULL;
    mt_tr_enter(tr, at);
    mt_tensor *qkv = mt_tr_call(tr, ah->qkv, x);
    const mt_sym *r4[4] = {seq, K(tr, 3), K(tr, v->heads), NULL};
    qkv = mt_reshape(tr, qkv, 4, r4);
    static const int64_t p4[4] = {1, 0, 2, 3};
    qkv = mt_permute(tr, qkv, 4, p4);
    mt_node *ub = qkv ? mt_tr_op(tr, MT_OP_UNBIND, (mt_arg[]){mt_a_tensor(qkv), mt_a_int(0)}, 2, NULL, 0) : NULL;
    mt_tensor *q = ub ? mt_tr_item(tr, ub, 0) : NULL;
    mt_tensor *k = ub ? mt_tr_item(tr, ub, 1) : NULL;
    mt_tensor *val = ub ? mt_tr_item(tr, ub, 2) : NULL;
    /* apply_rotary_pos_emb_vision: q.float(), k.float(); cos/sin.unsqueeze(-2).float();
     * rotate; .to(the original dtypes) */
    mt_dtype qdt = q ? q->dtype : v->dtype, kdt = k ? k->dtype : v->dtype;
    q = mt_to(tr, q, MT_FLOAT32);
    k = mt_to(tr, k, MT_FLOAT32);
    mt_tensor *c = mt_to(tr, mt_unsqueeze(tr, cos, -2), MT_FLOAT32);
    mt_tensor *s = mt_to(tr, mt_unsqueeze(tr, sin, -2), MT_FLOAT32);
    q = mt_rope_apply(tr, q, c, s, MT_ROPE_HALF, 0);
    k = mt_rope_apply(tr, k, c, s, MT_ROPE_HALF, 0);
    q = mt_to(tr, q, qdt);
    k = mt_to(tr, k, kdt);
    /* the cu_seqlens chunks, batched: [seq, heads, d] -> [chunks, heads, chunk, d] */
    const mt_sym *cv[4] = {NULL, K(tr, chunk), K(tr, v->heads), K(tr, v->head_dim)};
    q = mt_transpose(tr, mt_view(tr, q, 4, cv), 1, 2);
    k = mt_transpose(tr, mt_view(tr, k, 4, cv), 1, 2);
    val = mt_transpose(tr, mt_view(tr, val, 4, cv), 1, 2);
    mt_attn_impl impl = tr->model->attn == MT_ATTN_IMPL_EAGER ? MT_ATTN_IMPL_EAGER : MT_ATTN_IMPL_SDPA;
    mt_attn_args aa = {.n_rep = 1, .scaling = impl == MT_ATTN_IMPL_EAGER ? pow((double)v->head_dim, -0.5) : 0};
    mt_tensor *o = mt_attn_forward(tr, impl, q, k, val, NULL, &aa);
    const mt_sym *flat[2] = {seq, NULL};
    o = mt_contiguous(tr, mt_reshape(tr, o, 2, flat));
    o = mt_tr_call(tr, ah->o, o);
    mt_tr_leave(tr);
    return o;
}

/* Qwen2_5_VisionTransformerPretrainedModel(pixel_values, grid_thw): [images * tokens, out_hidden]. */
static mt_tensor *vit_forward(mt_tracer *tr, const qwen_vl *g, mt_tensor *px, const mt_sym *images) {
    const qwen_vit *v = &g->vision;
    mt_module *vis = g->visual;
    const mt_qwen_vit_h *th = MT_BOUND(tr, vis, mt_qwen_vit_h);
    if (!th || !px) return NULL;
    mt_module *blocks = th->blocks;
    int64_t unit = v->merge * v->merge;
    mt_tr_enter(tr, vis);
    mt_tensor *h = mt_qwen_vit_patch_embed(tr, v, th, px);
    mt_tensor *rpe = vit_rot_pos_emb(tr, g, th, images);
    mt_tensor *widx = vit_window_index(tr, g, images);
    if (!h || !rpe || !widx) {
        mt_tr_leave(tr);
        return NULL;
    }
    const mt_sym *seq = h->shape[0];
    const mt_sym *groups = mt_sym_mul_const(tr->ctx, images, v->tokens);
    /* hidden_states.reshape(seq // unit, unit, -1)[window_index].reshape(seq, -1) */
    const mt_sym *g3[3] = {groups, K(tr, unit), NULL};
    const mt_sym *s2[2] = {seq, NULL};
    h = mt_reshape(tr, h, 3, g3);
    h = h ? mt_tr_op1(tr, MT_OP_GETITEM, (mt_arg[]){mt_a_tensor(h), mt_a_tensor(widx)}, 2, NULL, 0) : NULL;
    h = mt_reshape(tr, h, 2, s2);
    rpe = mt_reshape(tr, rpe, 3, g3);
    rpe = rpe ? mt_tr_op1(tr, MT_OP_GETITEM, (mt_arg[]){mt_a_tensor(rpe), mt_a_tensor(widx)}, 2, NULL, 0) : NULL;
    rpe = mt_reshape(tr, rpe, 2, s2);
    mt_tensor *two[2] = {rpe, rpe};
    mt_tensor *emb = rpe ? mt_cat(tr, two, 2, -1) : NULL;
    mt_tensor *cos = mt_unary(tr, MT_OP_COS, emb);
    mt_tensor *sin = mt_unary(tr, MT_OP_SIN, emb);
    int64_t win_patches = v->win * v->merge * v->win * v->merge;
    for (int i = 0; i < blocks->children.n && h; i++) {
        mt_module *B = blocks->children.items[i];
        const mt_qwen_vit_block_h *bh = MT_BOUND(tr, B, mt_qwen_vit_block_h);
        if (!bh) {
            h = NULL;
            break;
        }
        mt_tr_enter(tr, B);
        mt_tensor *res = h;
        mt_tensor *a = mt_dec_rms_forward(tr, bh->norm1, h);
        a = mt_qwen_vit_attn(tr, v, bh->attn, a, cos, sin, v->full[i] ? v->patches : win_patches);
        h = mt_add(tr, res, a);
        res = h;
        mt_tensor *f = mt_dec_rms_forward(tr, bh->norm2, h);
        f = mt_dec_mlp_forward(tr, bh->mlp, f, &g->vspec);
        h = mt_add(tr, res, f);
        mt_tr_leave(tr);
    }
    /* merger: mlp(ln_q(x).view(-1, hidden * unit)) */
    const mt_qwen_vit_merger_h *mh = MT_BOUND(tr, th->merger, mt_qwen_vit_merger_h);
    if (mh && h) {
        mt_tr_enter(tr, th->merger);
        h = mt_dec_rms_forward(tr, mh->norm, h);
        const mt_sym *mv[2] = {NULL, K(tr, v->hidden * unit)};
        h = mt_view(tr, h, 2, mv);
        mt_tr_enter(tr, mh->seq);
        h = mt_tr_call(tr, mh->fc1, h);
        h = mt_tr_call(tr, mh->act, h);
        h = mt_tr_call(tr, mh->fc2, h);
        mt_tr_leave(tr);
        mt_tr_leave(tr);
    } else {
        h = NULL;
    }
    /* reverse_indices = torch.argsort(window_index); hidden_states[reverse_indices, :] */
    mt_tensor *rev = mt_tr_op1(tr, MT_OP_ARGSORT, (mt_arg[]){mt_a_tensor(widx)}, 1, NULL, 0);
    h = h && rev ? mt_tr_op1(tr, MT_OP_GETITEM, (mt_arg[]){mt_a_tensor(h), mt_a_tensor(rev)}, 2, NULL, 0) : NULL;
    mt_tr_leave(tr);
    return h;
}

static mt_tensor *qwen_vl_merge(mt_tracer *tr, mt_model *m, const mt_dec_spec *s, mt_tensor *ids,
                                mt_tensor *embeds) {
    const qwen_vl *g = s->ext;
    if (!embeds || !g->pixel_values) return NULL;
    const mt_sym *images = mt_model_input_dim(m, "images");
    mt_tensor *feat = vit_forward(tr, g, g->pixel_values, images);
    mt_tensor *mask = mt_image_token_mask(tr, ids, g->image_token, embeds);
    feat = mt_to(tr, feat, embeds->dtype);
    return mt_masked_scatter(tr, embeds, mask, feat);
}

/* The whole model: position_ids is the graph input (get_rope_index's result). */
static mt_tensor *input_position_ids(mt_tracer *tr, mt_model *m, const mt_dec_spec *s, mt_tensor *cache_pos,
                                     mt_tensor *h) {
    (void)tr, (void)m, (void)cache_pos, (void)h;
    return ((const qwen_vl *)s->ext)->position_ids;
}

mt_tensor *mt_qwen_vl_text_position_ids(mt_tracer *tr, mt_model *m, const mt_dec_spec *s, mt_tensor *cache_pos,
                                        mt_tensor *h) {
    (void)m, (void)s;
    if (!h) return NULL;
    const mt_sym *v3[3] = {K(tr, 1), K(tr, 1), NULL};
    mt_tensor *p = mt_view(tr, cache_pos, 3, v3);
    const mt_sym *e3[3] = {K(tr, 3), h->shape[0], NULL};
    return mt_expand(tr, p, 3, e3);
}

static mt_config *need_sub(mt_model *m, const char *field) {
    mt_config *c = mt_config_sub(m->cfg, field);
    if (!c) mt_config_error(m->cfg, field, "expected a %s object (Qwen2_5_VLConfig)", field);
    return c;
}

static mt_status qwen_vl_build(mt_model *m) {
    mt_ctx *ctx = m->ctx;
    qwen_vl *g = mt_alloc(ctx, sizeof *g);
    if (!g) return mt_ctx_status(ctx);
    m->family = g;
    mt_config *top = m->cfg;
    mt_config *vc = need_sub(m, "vision_config");
    if (!vc) return mt_ctx_status(ctx);
    /* Qwen2_5_VLConfig: text_config, or for the Hub checkpoints (no text_config) the
     * top-level fields, which it passes to Qwen2_5_VLTextConfig */
    mt_config *tc = mt_config_sub(top, "text_config");
    if (!tc) tc = top;
    if (!mt_config_int(top, "image_token_id", 151655, &g->image_token)) return mt_ctx_status(ctx);
    /* the tower first: --layers (m->num_layers) still holds the request */
    m->cfg = vc;
    mt_status st = vit_read(m, vc, &g->vision);
    m->cfg = tc;
    if (st == MT_OK) st = text_spec(m, &g->text, g->mrope);
    m->cfg = top;
    if (st != MT_OK) return mt_ctx_status(ctx);
    if (g->vision.out_hidden != g->text.hidden)
        return mt_config_error(vc, "out_hidden_size",
                               "%lld, expected the language model's hidden_size %lld: the merged image features "
                               "replace token embeddings",
                               (long long)g->vision.out_hidden, (long long)g->text.hidden);
    if (g->image_token < 0 || g->image_token >= g->text.vocab)
        return mt_config_error(top, "image_token_id", "image token %lld outside the vocabulary (%lld)",
                               (long long)g->image_token, (long long)g->text.vocab);
    g->vspec.cls.norm = "Qwen2RMSNorm";
    g->vspec.norm_eps = VIT_EPS;
    g->vspec.dtype = g->vision.dtype;
    g->vspec.hidden = g->vision.hidden;
    g->vspec.mlp_bias = true;
    g->vspec.hidden_act = g->vision.act;
    m->cfg = vc;
    g->visual = vit_build(m, g);
    m->cfg = top;
    if (!g->visual) return mt_ctx_status(ctx);
    g->text.ext = g;
    g->text.hooks.merge_embeds = qwen_vl_merge;
    g->text.hooks.position_ids = input_position_ids;
    m->cfg = tc;
    st = mt_dec_build(m, &g->text);
    m->cfg = top;
    if (st != MT_OK) return mt_ctx_status(ctx);
    const qwen_vit *v = &g->vision;
    mt_model_info(m, "vision_hidden_size", mt_a_int(v->hidden));
    mt_model_info(m, "vision_intermediate_size", mt_a_int(v->intermediate));
    mt_model_info(m, "vision_depth", mt_a_int(v->depth));
    mt_model_info(m, "vision_num_heads", mt_a_int(v->heads));
    mt_model_info(m, "patch_size", mt_a_int(v->patch));
    mt_model_info(m, "temporal_patch_size", mt_a_int(v->temporal));
    mt_model_info(m, "window_size", mt_a_int(v->window));
    mt_model_info(m, "spatial_merge_size", mt_a_int(v->merge));
    mt_model_info(m, "image_side_patches", mt_a_int(v->side));
    mt_model_info(m, "image_tokens_per_image", mt_a_int(v->tokens));
    mt_model_info(m, "image_token_id", mt_a_int(g->image_token));
    const char *fixed = mt_sprintf(ctx,
                                   "each image is traced as one %lld x %lld px frame pair (a %lld x %lld patch grid, "
                                   "%lld x %lld attention windows, %lld image tokens); position_ids [3, batch, seq] "
                                   "(get_rope_index's result) is an input (docs/cli.md, Multimodal models)",
                                   (long long)(v->side * v->patch), (long long)(v->side * v->patch),
                                   (long long)v->side, (long long)v->side, (long long)WINDOWS_A_SIDE,
                                   (long long)WINDOWS_A_SIDE, (long long)v->tokens);
    m->note = m->note ? mt_sprintf(ctx, "%s; %s", m->note, fixed) : fixed;
    return MT_OK;
}

mt_status mt_qwen_vl_inputs(mt_model *m, mt_tracer *tr, const qwen_vit *v, mt_dtype dt, mt_tensor **position_ids,
                            mt_tensor **pixel_values) {
    mt_ctx *ctx = m->ctx;
    const mt_tensor *ids = m->inputs.items[0];
    const mt_sym *pd[3] = {mt_sym_const(ctx, 3), ids->shape[0], ids->shape[1]};
    *position_ids = mt_tr_placeholder(tr, "position_ids", MT_INT64, 3, pd);
    if (!*position_ids || !mt_vec_push(ctx, &m->inputs, *position_ids)) return mt_ctx_status(ctx);
    const mt_sym *images = mt_image_count(m, v->tokens);
    if (!images) return mt_ctx_status(ctx);
    const mt_sym *rows = mt_sym_mul_const(ctx, images, v->patches);
    if (!rows) return mt_ctx_status(ctx);
    const mt_sym *px[2] = {rows, mt_sym_const(ctx, v->in_dim)};
    *pixel_values = mt_tr_placeholder(tr, "pixel_values", dt, 2, px);
    if (!*pixel_values || !mt_vec_push(ctx, &m->inputs, *pixel_values)) return mt_ctx_status(ctx);
    const mt_sym *gd[2] = {images, mt_sym_const(ctx, 3)};
    mt_tensor *grid = mt_tr_placeholder(tr, "image_grid_thw", MT_INT64, 2, gd);
    if (!grid || !mt_vec_push(ctx, &m->inputs, grid)) return mt_ctx_status(ctx);
    return MT_OK;
}

static mt_status qwen_vl_forward(mt_model *m, mt_tracer *tr) {
    qwen_vl *g = m->family;
    if (mt_qwen_vl_inputs(m, tr, &g->vision, g->text.dtype, &g->position_ids, &g->pixel_values) != MT_OK)
        return mt_ctx_status(m->ctx);
    return mt_dec_forward(m, tr, &g->text);
}

/* The language model alone (model.* and lm_head): mt_totals.text_params. */
static mt_status qwen_vl_totals(const mt_model *m, mt_totals *t) {
    const qwen_vl *g = m->family;
    int64_t n = 0;
    for (int i = 0; i < m->root->children.n; i++) {
        const mt_module *c = m->root->children.items[i];
        if (c != g->visual && !mt_params_under(m->ctx, c, &n)) return mt_ctx_status(m->ctx);
    }
    t->text_params = n;
    t->text_param_bytes = n * (int64_t)mt_dtype_size(g->text.dtype);
    return MT_OK;
}

static const char *const qwen_vl_classes[] = {"Qwen2_5_VLForConditionalGeneration", NULL};

const mt_arch mt_arch_qwen2_5_vl = {
    .model_type = "qwen2_5_vl",
    .default_class = "Qwen2_5_VLForConditionalGeneration",
    .example = "Qwen/Qwen2.5-VL-7B-Instruct",
    .build = qwen_vl_build,
    .forward = qwen_vl_forward,
    .totals = qwen_vl_totals,
    .classes = qwen_vl_classes,
};

/* ---- the language model alone (model_type qwen2_5_vl_text; --text-only) -----------
 * Qwen2_5_VLTextModel and lm_head under their checkpoint names (model.*, lm_head),
 * position_ids from cache_position (M-RoPE with the three rows equal). */
static mt_status qwen_vl_text_build(mt_model *m) {
    qwen_vl *g = mt_alloc(m->ctx, sizeof *g);
    if (!g) return mt_ctx_status(m->ctx);
    m->family = g;
    if (text_spec(m, &g->text, g->mrope) != MT_OK) return mt_ctx_status(m->ctx);
    g->text.ext = g;
    g->text.hooks.position_ids = mt_qwen_vl_text_position_ids;
    return mt_dec_build(m, &g->text);
}

static mt_status qwen_vl_text_forward(mt_model *m, mt_tracer *tr) {
    qwen_vl *g = m->family;
    return mt_dec_forward(m, tr, &g->text);
}

const mt_arch mt_arch_qwen2_5_vl_text = {
    .model_type = "qwen2_5_vl_text",
    .default_class = "Qwen2_5_VLForConditionalGeneration",
    .example = "Qwen/Qwen2.5-VL-7B-Instruct (--text-only)",
    .build = qwen_vl_text_build,
    .forward = qwen_vl_text_forward,
};
