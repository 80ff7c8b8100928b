/* Qwen3-VL (Qwen3VLForConditionalGeneration, model_type qwen3_vl) and its language
 * model alone (qwen3_vl_text); Qwen3-VL-MoE (Qwen3VLMoeForConditionalGeneration, qwen3_vl_moe,
 * and qwen3_vl_moe_text), the same model under the Qwen3VLMoe class names with sparse blocks
 * (see "the MoE language model" below). Qwen3-VL is a vision transformer (Conv3d patch embedding with a
 * bias, a learned position table interpolated to the grid, 2-D rotary, LayerNorm +
 * GELU-MLP blocks with full attention per image, the patch merger and the deepstack
 * mergers at deepstack_visual_indexes) and a Qwen3 decoder (q/k RMSNorm over
 * head_dim, no biases) with interleaved multimodal rotary positions; the image
 * features are scattered into the token embeddings and the deepstack features added
 * to the hidden states of the first decoder layers at the image positions.
 *
 * Read at transformers' models/qwen3_vl/modeling_qwen3_vl.py (stored mirror commit
 * 00709b862bb8: the generation whose rot_pos_emb builds block_rows / intra_row ids)
 * and configuration_qwen3_vl.py (000c33fdfde1: rope_parameters, default_theta
 * 500000). Checkpoints (Qwen3-VL-8B-Instruct's layout, tests/data/index) store
 * model.visual.*, model.language_model.*, lm_head: the layout transformers builds
 * (Qwen3VLModel: visual, then language_model; lm_head beside model), so no name
 * mapping. lm_head is tied when the top-level tie_word_embeddings says so
 * (Qwen3VLConfig passes it to PreTrainedConfig; default false).
 *
 *   model.visual (Qwen3VLVisionModel): patch_embed (Qwen3VLVisionPatchEmbed: proj
 *     nn.Conv3d(in_channels, hidden, kernel = stride = (T, P, P), bias=True)), pos_embed
 *     nn.Embedding(num_position_embeddings, hidden), rotary_pos_emb
 *     (Qwen3VLVisionRotaryEmbedding(head_dim // 2): float32 inv_freq [head_dim // 4],
 *     non-persistent), blocks (depth x Qwen3VLVisionBlock: norm1, norm2 nn.LayerNorm(hidden,
 *     eps=1e-6), attn (Qwen3VLVisionAttention: qkv Linear(dim, 3 dim), proj Linear(dim,
 *     dim), both biased), mlp (Qwen3VLVisionMLP: linear_fc1, act_fn = hidden_act,
 *     linear_fc2, biased)), merger (Qwen3VLVisionPatchMerger: norm nn.LayerNorm(hidden,
 *     1e-6), linear_fc1 Linear(4 hidden, 4 hidden), act_fn nn.GELU(), linear_fc2
 *     Linear(4 hidden, out_hidden_size)), deepstack_merger_list (one merger per entry of
 *     deepstack_visual_indexes, use_postshuffle_norm: its norm over 4 hidden).
 *
 * Fixed grid (docs/cli.md, "Multimodal models"). As for Qwen2.5-VL, the processor
 * gives each image its own grid and the tower loops over grid_thw in Python; the
 * trace takes every image as one temporal patch of side x side patches with side =
 * num_grid_per_side = int(num_position_embeddings ** 0.5), the position table's own
 * grid (Qwen3-VL: 48 patches of 16 px, a 768 x 768 px image, 2,304 patches, 576 image
 * tokens). Everything the loops compute is then a constant of the config:
 *   - fast_pos_embed_interpolate: linspace(0, side - 1, side) is arange(side) exactly,
 *     so the floor indices are arange(side), the ceilings (floor + 1).clip(max=side - 1)
 *     and dh = dw = 0 (weights 1, 0, 0, 0). The four index and weight lists Python
 *     builds (.tolist(), torch.tensor) are recorded as the arithmetic giving them, once
 *     for the height and width ids (equal on the square grid), stacked to [4, side^2]
 *     and .repeat(1, images) for the extend over the images; the weights cast to the
 *     table's dtype (torch.tensor(dtype=pos_embed.weight.dtype)); the per-image split,
 *     .repeat(t=1, 1) and the torch.cat after the permute are one view over the images
 *     (view(images, side/m, m, side/m, m, -1).permute(0, 1, 3, 2, 4, 5).flatten(0, 4));
 *   - rot_pos_emb: the block_rows / block_cols / intra_row / intra_col aranges, the
 *     broadcast products, expand, reshape, stack once; the per-image writes into
 *     torch.empty(total, 2) as .repeat(images, 1); max_hw is side;
 *   - every image's side^2 patches form one cu_seqlens chunk: the per-chunk attention
 *     is one attention batched over the images (mt_qwen_vit_attn, shared with
 *     Qwen2.5-VL); cu_seqlens is not recorded;
 *   - get_image_features' split and the cat after it, pixel_values.type(visual.dtype)
 *     and the .to(device) moves are no-ops, not recorded; get_rope_index is not a
 *     graph op: position_ids [3, batch, seq] is an input.
 *
 * Forward: the token embedding (Qwen3VLModel calls language_model.embed_tokens); the
 * tower, returning the merged features and one deepstack feature per index;
 * image_embeds.to(inputs_embeds.dtype); the placeholder mask (input_ids ==
 * image_token_id, unsqueeze(-1), expand_as); masked_scatter; visual_pos_masks =
 * image_mask[..., 0]; the text model on inputs_embeds with position_ids: its rotary
 * (Qwen3VLTextRotaryEmbedding, interleaved: mt_rope_cos_sin_mrope), then after each
 * of the first len(deepstack) layers (the features of the blocks reached, in block order; --layers
 * may cut the tower short of some indexes) _deepstack_process: visual_embeds.to(dtype);
 * hidden_states.clone(); hidden_states[visual_pos_masks, :] += visual_embeds. The
 * boolean-mask read and write (a data-dependent count of rows, not modelled by
 * getitem) are recorded as the same sum written where the mask is set:
 * hidden_states + zeros_like(hidden_states).masked_scatter(mask.unsqueeze(-1)
 * .expand_as(hidden_states), visual_embeds) — every masked row h + v in the hidden
 * dtype as transformers computes it, every other row h + 0 = h (the clone's copy);
 * the add runs over all rows instead of the masked ones. lm_head on the final norm.
 * Left out: the image-token count check (validation only); videos. */
#include <math.h>
#include <string.h>

#include <jansson.h>

#include "moe.h"
#include "qwen_vl.h"

#define VIT_EPS 1e-6 /* nn.LayerNorm(..., eps=1e-6) in the blocks and mergers */
/* A tower class name: the family's prefix and the class's own part ("Qwen3VL" "VisionBlock") */
#define CLS(t, part) mt_sprintf(ctx, "%s%s", (t)->cls, part)

static const mt_dec_names qwen3_vl_names = {
    "Qwen3VLTextModel", "Qwen3VLTextDecoderLayer", "Qwen3VLTextAttention", "Qwen3VLTextMLP", "Qwen3VLTextRMSNorm",
    "Qwen3VLTextRotaryEmbedding",
};

/* Qwen3VLTextConfig's defaults. */
static const mt_dec_defaults qwen3_vl_defaults = {
    .vocab = 151936, .hidden = 4096, .intermediate = 22016, .layers = 32, .heads = 32, .kv_heads = 32,
    .head_dim = 128, .norm_eps = 1e-6, .rope_theta = 500000.0, .hidden_act = "silu",
    .norm_eps_key = "rms_norm_eps", .tie_embeddings = false,
};

static const mt_dec_names qwen3_vl_moe_names = {
    "Qwen3VLMoeTextModel", "Qwen3VLMoeTextDecoderLayer", "Qwen3VLMoeTextAttention", "Qwen3VLMoeTextMLP",
    "Qwen3VLMoeTextRMSNorm", "Qwen3VLMoeTextRotaryEmbedding",
};

/* Qwen3VLMoeTextConfig's defaults (configuration_qwen3_vl_moe.py; head_dim hidden / heads). */
static const mt_dec_defaults qwen3_vl_moe_defaults = {
    .vocab = 151936, .hidden = 2048, .intermediate = 5632, .layers = 24, .heads = 16, .kv_heads = 16,
    .norm_eps = 1e-6, .rope_theta = 500000.0, .hidden_act = "silu", .norm_eps_key = "rms_norm_eps",
    .tie_embeddings = true,
};

/* What the dense and the MoE model differ in: class prefixes, the text config's defaults, the sparse blocks. */
typedef struct q3vl_variant {
    const char *family, *text_family, *prefix, *model_cls, *wrapper_cls;
    const mt_dec_names *names;
    const mt_dec_defaults *defaults;
    bool moe;
} q3vl_variant;

static const q3vl_variant dense_variant = {"qwen3_vl", "qwen3_vl_text", "Qwen3VL", "Qwen3VLModel", "Qwen3VLConfig",
                                           &qwen3_vl_names, &qwen3_vl_defaults, false};
static const q3vl_variant moe_variant = {"qwen3_vl_moe", "qwen3_vl_moe_text", "Qwen3VLMoe", "Qwen3VLMoeModel",
                                         "Qwen3VLMoeConfig", &qwen3_vl_moe_names, &qwen3_vl_moe_defaults, true};

typedef struct qwen3_vl {
    mt_moe_model mm; /* first: mt_moe_totals reads m->family as it; the decoder spec is mm.dec */
    mt_qwen3_vit t; /* the tower (qwen_vl.h) */
    int64_t mrope[3];
    int64_t image_token;
    mt_module *model;
    mt_tensor *position_ids, *pixel_values; /* the trace's inputs */
    mt_tensor *visual_mask;                 /* visual_pos_masks [batch, seq] */
    bool *mlp_only;                         /* MoE: mlp_only_layers as flags per built layer */
    int64_t sparse_step;                    /* MoE: decoder_sparse_step */
} qwen3_vl;

static const mt_sym *K(mt_tracer *tr, int64_t v) { return mt_sym_const(tr->ctx, v); }

/* ---- configuration ------------------------------------------------------------- */

/* rope_parameters (or the older rope_scaling with rope_theta beside it): rope_type
 * "default" (or "mrope", an alias), rope_theta, mrope_section (default [24, 20, 20]:
 * Qwen3VLTextRotaryEmbedding's .get) of three positive ints whose interleaved channels
 * 3 * section[1] and 3 * section[2] fit in head_dim / 2. */
static mt_status read_rope(mt_model *m, mt_dec_spec *s, int64_t sec[3]) {
    mt_config *c = m->cfg;
    const char *key = mt_config_has(c, "rope_parameters") && !mt_dec_cfg_is_null(m, "rope_parameters")
                          ? "rope_parameters"
                          : "rope_scaling";
    char f[64];
    if (!mt_config_float(c, "rope_theta", s->rope_theta, &s->rope_theta)) return mt_ctx_status(m->ctx);
    json_t *rs = mt_config_json(c, key);
    const char *type = "default";
    sec[0] = 24, sec[1] = 20, sec[2] = 20;
    if (rs && !json_is_null(rs)) {
        if (!json_is_object(rs)) return mt_config_error(c, key, "expected an object (rope_type, mrope_section)");
        snprintf(f, sizeof f, "%s.rope_type", key);
        if (!mt_config_str(c, f, NULL, &type)) return mt_ctx_status(m->ctx);
        if (!type) {
            snprintf(f, sizeof f, "%s.type", key);
            if (!mt_config_str(c, f, "default", &type)) return mt_ctx_status(m->ctx);
        }
        snprintf(f, sizeof f, "%s.rope_theta", key);
        if (!mt_config_float(c, f, s->rope_theta, &s->rope_theta)) return mt_ctx_status(m->ctx);
        snprintf(f, sizeof f, "%s.mrope_section", key);
        json_t *ms = mt_config_json(c, f);
        if (ms && !json_is_null(ms)) {
            if (!json_is_array(ms) || json_array_size(ms) != 3)
                return mt_config_error(c, f, "expected a list of 3 positive ints (temporal, height, width channels)");
            for (int i = 0; i < 3; i++) {
                json_t *v = json_array_get(ms, (size_t)i);
                if (!json_is_integer(v) || json_integer_value(v) <= 0 || json_integer_value(v) > MT_MAX_HIDDEN)
                    return mt_config_error(c, f, "entry %d: expected a positive int", i);
                sec[i] = json_integer_value(v);
            }
        }
    }
    if (strcmp(type, "default") != 0 && strcmp(type, "mrope") != 0)
        return mt_config_error(c, key, "rope type \"%s\" is not modelled for %s (\"default\")", type, s->family);
    if (s->rope_theta <= 0) return mt_config_error(c, "rope_theta", "expected a positive rope_theta");
    for (int i = 1; i < 3; i++)
        if (3 * sec[i] > s->head_dim / 2)
            return mt_config_error(c, key,
                                   "mrope_section[%d] = %lld: the interleaved channels up to 3 x %lld exceed head_dim "
                                   "/ 2 = %lld",
                                   i, (long long)sec[i], (long long)sec[i], (long long)(s->head_dim / 2));
    s->rope_type = "default";
    s->attention_scaling = 1.0;
    s->rotary_dim = s->head_dim;
    return MT_OK;
}

/* Qwen3VLTextConfig from m->cfg (text_config): reads only. */
static mt_status text_spec(mt_model *m, mt_dec_spec *s, int64_t mrope[3], const char *family, const q3vl_variant *var) {
    s->cls = *var->names;
    s->family = family;
    if (mt_dec_read_common(m, s, var->defaults) != MT_OK) return mt_ctx_status(m->ctx);
    bool bias;
    if (!mt_config_bool(m->cfg, "attention_bias", false, &bias)) return mt_ctx_status(m->ctx);
    s->qkv_bias = s->o_bias = bias;
    s->caps.qk_norm = MT_QK_NORM_HEAD;
    if (read_rope(m, s, mrope) != MT_OK) return mt_ctx_status(m->ctx);
    s->caps.mrope_section = mrope;
    s->caps.mrope_interleaved = true;
    s->names.model = "language_model";
    return MT_OK;
}

/* Qwen3VLVisionConfig (its defaults). */
mt_status mt_qwen3_vit_read(mt_model *m, mt_config *c, mt_qwen3_vit *t) {
    qwen_vit *v = &t->v;
    if (!mt_config_pos_int(c, "depth", 27, &v->depth) || !mt_config_pos_int(c, "hidden_size", 1152, &v->hidden) ||
        !mt_config_str(c, "hidden_act", "gelu_pytorch_tanh", &v->act) ||
        !mt_config_pos_int(c, "intermediate_size", 4304, &v->intermediate) ||
        !mt_config_pos_int(c, "num_heads", 16, &v->heads) || !mt_config_pos_int(c, "in_channels", 3, &v->channels) ||
        !mt_config_pos_int(c, "patch_size", 16, &v->patch) ||
        !mt_config_pos_int(c, "spatial_merge_size", 2, &v->merge) ||
        !mt_config_pos_int(c, "temporal_patch_size", 2, &v->temporal) ||
        !mt_config_pos_int(c, "out_hidden_size", 3584, &v->out_hidden) ||
        !mt_config_pos_int(c, "num_position_embeddings", 2304, &t->pos_num))
        return mt_ctx_status(m->ctx);
    static const char *const sized[] = {"hidden_size", "intermediate_size", "in_channels", "patch_size",
                                        "spatial_merge_size", "temporal_patch_size", "out_hidden_size"};
    const int64_t vals[] = {v->hidden, v->intermediate, v->channels, v->patch, v->merge, v->temporal, v->out_hidden};
    for (int i = 0; i < 7; i++)
        if (vals[i] > MT_MAX_HIDDEN)
            return mt_config_error(c, sized[i], "%lld is more than the limit of %d (docs/cli.md, Limits)",
                                   (long long)vals[i], MT_MAX_HIDDEN);
    if (t->pos_num > (int64_t)MT_MAX_HIDDEN * MT_MAX_HIDDEN)
        return mt_config_error(c, "num_position_embeddings", "%lld is more than the limit", (long long)t->pos_num);
    if (v->hidden % v->heads != 0)
        return mt_config_error(c, "num_heads", "hidden_size %lld is not divisible by num_heads %lld "
                               "(%sVisionAttention)", (long long)v->hidden, (long long)v->heads, t->cls);
    v->head_dim = v->hidden / v->heads;
    if (v->head_dim % 4 != 0)
        return mt_config_error(c, "num_heads",
                               "head_dim %lld (hidden_size / num_heads) is not a multiple of 4: the 2-D rotary "
                               "gives height and width head_dim / 4 frequencies each",
                               (long long)v->head_dim);
    t->grid = (int64_t)sqrt((double)t->pos_num);
    while (t->grid * t->grid > t->pos_num) t->grid--;
    while ((t->grid + 1) * (t->grid + 1) <= t->pos_num) t->grid++;
    if (t->grid * t->grid != t->pos_num || t->grid % v->merge != 0)
        return mt_config_error(c, "num_position_embeddings",
                               "%lld: the traced image is the position table's own grid, which needs a square of "
                               "a multiple of spatial_merge_size %lld",
                               (long long)t->pos_num, (long long)v->merge);
    v->side = t->grid;
    v->patches = v->side * v->side;
    v->tokens = v->patches / (v->merge * v->merge);
    v->in_dim = v->channels * v->temporal * v->patch * v->patch;
    if (v->in_dim > MT_MAX_HIDDEN * (int64_t)64)
        return mt_config_error(c, "patch_size", "a patch of %lld values is more than the limit", (long long)v->in_dim);
    int64_t cfg_depth = v->depth;
    if (m->num_layers > 0 && m->num_layers < v->depth) v->depth = m->num_layers;
    v->dtype = m->dtype;
    if (!t->deepstack_on) return MT_OK;
    json_t *ds = mt_config_json(c, "deepstack_visual_indexes");
    static const int64_t dflt[] = {8, 16, 24};
    size_t n = ds && json_is_array(ds) ? json_array_size(ds) : 3;
    if (ds && !json_is_null(ds) && !json_is_array(ds))
        return mt_config_error(c, "deepstack_visual_indexes", "expected a list of block indexes");
    if (n > 64) return mt_config_error(c, "deepstack_visual_indexes", "%zu entries, more than the limit 64", n);
    t->deepstack = mt_alloc_array(m->ctx, n ? n : 1, sizeof *t->deepstack);
    if (!t->deepstack) return mt_ctx_status(m->ctx);
    for (size_t i = 0; i < n; i++) {
        if (ds && json_is_array(ds)) {
            json_t *e = json_array_get(ds, i);
            if (!json_is_integer(e) || json_integer_value(e) < 0 || json_integer_value(e) >= cfg_depth)
                return mt_config_error(c, "deepstack_visual_indexes", "entry %zu: expected a block index in [0, %lld)",
                                       i, (long long)cfg_depth);
            t->deepstack[i] = json_integer_value(e);
        } else {
            t->deepstack[i] = dflt[i];
        }
    }
    t->n_deepstack = (int)n;
    t->ds_feats = mt_alloc_array(m->ctx, n ? n : 1, sizeof *t->ds_feats);
    return t->ds_feats ? MT_OK : mt_ctx_status(m->ctx);
}

/* ---- build ----------------------------------------------------------------------- */

/* Qwen3VLVisionPatchMerger named `name` under parent (norm over 4 hidden with use_postshuffle_norm). */
static mt_module *merger_new(mt_model *m, mt_module *parent, const char *name, const mt_qwen3_vit *t, bool post) {
    const qwen_vit *v = &t->v;
    mt_ctx *ctx = m->ctx;
    int64_t mh = v->hidden * v->merge * v->merge;
    mt_module *mg = mt_module_new(ctx, parent, name, CLS(t, "VisionPatchMerger"));
    mt_qwen_vit_merger_h *h = mg ? MT_BIND(ctx, mg, mt_qwen_vit_merger_h) : NULL;
    if (!h) return NULL;
    mt_module_attr(ctx, mg, "use_postshuffle_norm", mt_a_bool(post));
    if (!(h->norm = mt_nn_layernorm(ctx, mg, "norm", post ? mh : v->hidden, VIT_EPS, true, true, v->dtype,
                                    MT_DEVICE_CPU)) ||
        !(h->fc1 = mt_nn_linear(ctx, mg, "linear_fc1", mh, mh, true, v->dtype, MT_DEVICE_CPU)) ||
        !(h->act = mt_nn_act(ctx, mg, "act_fn", "GELU")) ||
        !(h->fc2 = mt_nn_linear(ctx, mg, "linear_fc2", mh, v->out_hidden, true, v->dtype, MT_DEVICE_CPU)))
        return NULL;
    return mg;
}

mt_status mt_qwen3_vit_check(const mt_qwen3_vit *t, mt_config *vc, mt_config *top, int64_t image_token,
                             int64_t hidden, int64_t vocab) {
    if (t->v.out_hidden != hidden)
        return mt_config_error(vc, "out_hidden_size",
                               "%lld, expected the language model's hidden_size %lld: the merged image features "
                               "replace token embeddings",
                               (long long)t->v.out_hidden, (long long)hidden);
    if (image_token < 0 || image_token >= vocab)
        return mt_config_error(top, "image_token_id", "image token %lld outside the vocabulary (%lld)",
                               (long long)image_token, (long long)vocab);
    return MT_OK;
}

void mt_qwen3_vit_info(mt_model *m, const mt_qwen3_vit *t, int64_t image_token) {
    const qwen_vit *v = &t->v;
    mt_model_info(m, "vision_hidden_size", mt_a_int(v->hidden));
    mt_model_info(m, "vision_intermediate_size", mt_a_int(v->intermediate));
    mt_model_info(m, "vision_depth", mt_a_int(v->depth));
    mt_model_info(m, "vision_num_heads", mt_a_int(v->heads));
    mt_model_info(m, "patch_size", mt_a_int(v->patch));
    mt_model_info(m, "temporal_patch_size", mt_a_int(v->temporal));
    mt_model_info(m, "spatial_merge_size", mt_a_int(v->merge));
    if (t->deepstack_on) mt_model_info(m, "deepstack_mergers", mt_a_int(t->n_deepstack));
    mt_model_info(m, "image_side_patches", mt_a_int(v->side));
    mt_model_info(m, "image_tokens_per_image", mt_a_int(v->tokens));
    mt_model_info(m, "image_token_id", mt_a_int(image_token));
    const char *fixed = mt_sprintf(m->ctx,
                                   "each image is traced as one %lld x %lld px frame pair (the position table's %lld x "
                                   "%lld patch grid, %lld image tokens); position_ids [3, batch, seq] "
                                   "(get_rope_index's result) is an input (docs/cli.md, Multimodal models)",
                                   (long long)(v->side * v->patch), (long long)(v->side * v->patch),
                                   (long long)v->side, (long long)v->side, (long long)v->tokens);
    if (fixed) m->note = m->note ? mt_sprintf(m->ctx, "%s; %s", m->note, fixed) : fixed;
}

mt_module *mt_qwen3_vit_build(mt_model *m, mt_qwen3_vit *t, mt_module *parent) {
    mt_ctx *ctx = m->ctx;
    const qwen_vit *v = &t->v;
    mt_dtype dt = v->dtype;
    mt_device dev = MT_DEVICE_CPU;
    mt_module *vis = mt_module_new(ctx, parent, "visual", CLS(t, "VisionModel"));
    mt_qwen_vit_h *th = vis ? MT_BIND(ctx, vis, mt_qwen_vit_h) : NULL;
    if (!th || !mt_qwen_vit_patch_embed_new(m, vis, v, CLS(t, "VisionPatchEmbed"), true, th) ||
        !(th->pos_embed = mt_nn_embedding(ctx, vis, "pos_embed", t->pos_num, v->hidden, dt, dev)))
        return NULL;
    mt_module *rot = th->rotary = mt_module_new(ctx, vis, "rotary_pos_emb", CLS(t, "VisionRotaryEmbedding"));
    int64_t nf = v->head_dim / 4; /* arange(0, head_dim // 2, 2) */
    if (!rot || !(th->inv_freq = mt_buffer_new(ctx, rot, "inv_freq", MT_FLOAT32, dev, 1, &nf, false, true)))
        return NULL;
    mt_module *blocks = th->blocks = mt_module_new(ctx, vis, "blocks", "ModuleList");
    if (!blocks) return NULL;
    for (int64_t i = 0; i < v->depth; i++) {
        char idx[24];
        snprintf(idx, sizeof idx, "%lld", (long long)i);
        mt_module *B = mt_module_new(ctx, blocks, idx, CLS(t, "VisionBlock"));
        mt_qwen_vit_block_h *bh = B ? MT_BIND(ctx, B, mt_qwen_vit_block_h) : NULL;
        if (!bh || !(bh->norm1 = mt_nn_layernorm(ctx, B, "norm1", v->hidden, VIT_EPS, true, true, dt, dev)) ||
            !(bh->norm2 = mt_nn_layernorm(ctx, B, "norm2", v->hidden, VIT_EPS, true, true, dt, dev)))
            return NULL;
        mt_module *at = bh->attn = mt_module_new(ctx, B, "attn", CLS(t, "VisionAttention"));
        mt_attn_h *ah = at ? MT_BIND(ctx, at, mt_attn_h) : NULL;
        if (!ah) return NULL;
        mt_module_attr(ctx, at, "num_heads", mt_a_int(v->heads));
        if (!(ah->qkv = mt_nn_linear(ctx, at, "qkv", v->hidden, 3 * v->hidden, true, dt, dev)) ||
            !(ah->o = mt_nn_linear(ctx, at, "proj", v->hidden, v->hidden, true, dt, dev)))
            return NULL;
        mt_module *mlp = bh->mlp = mt_module_new(ctx, B, "mlp", CLS(t, "VisionMLP"));
        mt_module *fc1 = mlp ? mt_nn_linear(ctx, mlp, "linear_fc1", v->hidden, v->intermediate, true, dt, dev) : NULL;
        mt_module *fc2 = fc1 ? mt_nn_linear(ctx, mlp, "linear_fc2", v->intermediate, v->hidden, true, dt, dev) : NULL;
        mt_module *act = fc2 ? mt_act_new(m, mlp, "act_fn", v->act, "hidden_act") : NULL;
        if (!act || mt_fc_mlp_bind(ctx, mlp, fc1, act, fc2) != MT_OK) return NULL;
    }
    if (!(th->merger = merger_new(m, vis, "merger", t, false))) return NULL;
    if (!t->deepstack_on) return vis;
    mt_module *dl = th->deepstack = mt_module_new(ctx, vis, "deepstack_merger_list", "ModuleList");
    if (!dl) return NULL;
    for (int i = 0; i < t->n_deepstack; i++) {
        char idx[24];
        snprintf(idx, sizeof idx, "%d", i);
        if (!merger_new(m, dl, idx, t, true)) return NULL;
    }
    return vis;
}

/* ---- the vision forward ---------------------------------------------------------- */

static mt_tensor *arange1(mt_tracer *tr, int64_t n, mt_dtype dt) {
    if (dt == MT_INT64) return mt_tr_op1(tr, MT_OP_ARANGE, (mt_arg[]){mt_a_int(n)}, 1, NULL, 0);
    return mt_tr_op1(tr, MT_OP_ARANGE, (mt_arg[]){mt_a_int(n)}, 1, (mt_kwarg[]){{"dtype", mt_a_dtype(dt)}}, 1);
}

static mt_tensor *stack(mt_tracer *tr, mt_tensor *const *ts, int n, int64_t dim) {
    mt_arg items[4];
    for (int i = 0; i < n; i++) {
        if (!ts[i]) return NULL;
        items[i] = mt_a_tensor(ts[i]);
    }
    mt_arg sa[1] = {mt_a_list(tr->ctx, items, n)};
    return mt_tr_op1(tr, MT_OP_STACK, sa, 1, (mt_kwarg[]){{"dim", mt_a_int(dim)}}, 1);
}

static mt_tensor *flatten(mt_tracer *tr, mt_tensor *x) {
    return x ? mt_tr_op1(tr, MT_OP_FLATTEN, (mt_arg[]){mt_a_tensor(x)}, 1, NULL, 0) : NULL;
}

/* (a[None].T + b[None]).flatten(), a[None].T recorded as a.unsqueeze(1): [n * n]. */
static mt_tensor *outer_flat(mt_tracer *tr, mt_op_id op, mt_tensor *a, mt_tensor *b) {
    mt_tensor *x = mt_unsqueeze(tr, a, 1), *y = mt_unsqueeze(tr, b, 0);
    mt_tensor *r = x && y ? mt_tr_op1(tr, op, (mt_arg[]){mt_a_tensor(x), mt_a_tensor(y)}, 2, NULL, 0) : NULL;
    return flatten(tr, r);
}

/* fast_pos_embed_interpolate for the fixed grid: [images * side^2, hidden] in the table's dtype. */
static mt_tensor *vit_pos_embed(mt_tracer *tr, const mt_qwen3_vit *t, const mt_qwen_vit_h *th, const mt_sym *images) {
    const qwen_vit *v = &t->v;
    int64_t G = t->grid, m = v->merge;
    mt_module *pe = th->pos_embed;
    if (!pe) return NULL;
    /* h_idxs = linspace(0, G - 1, G) (= arange(G) in float32); floor = .int(); ceil = (floor + 1).clip(max=G - 1) */
    mt_tensor *lin = arange1(tr, G, MT_FLOAT32);
    mt_tensor *fl = arange1(tr, G, MT_INT64);
    mt_tensor *ce = fl ? mt_tr_op1(tr, MT_OP_ADD, (mt_arg[]){mt_a_tensor(fl), mt_a_int(1)}, 2, NULL, 0) : NULL;
    ce = ce ? mt_tr_op1(tr, MT_OP_CLAMP, (mt_arg[]){mt_a_tensor(ce)}, 1, (mt_kwarg[]){{"max", mt_a_int(G - 1)}}, 1)
            : NULL;
    mt_tensor *dh = lin && fl ? mt_sub(tr, lin, fl) : NULL; /* h_idxs - floor (dw the same on the square grid) */
    mt_tensor *bh = fl ? mt_tr_op1(tr, MT_OP_MUL, (mt_arg[]){mt_a_tensor(fl), mt_a_int(G)}, 2, NULL, 0) : NULL;
    mt_tensor *bc = ce ? mt_tr_op1(tr, MT_OP_MUL, (mt_arg[]){mt_a_tensor(ce), mt_a_int(G)}, 2, NULL, 0) : NULL;
    mt_tensor *idx[4] = {outer_flat(tr, MT_OP_ADD, bh, fl), outer_flat(tr, MT_OP_ADD, bh, ce),
                         outer_flat(tr, MT_OP_ADD, bc, fl), outer_flat(tr, MT_OP_ADD, bc, ce)};
    /* weights: (1 - dh)(1 - dw), (1 - dh) dw, dh (1 - dw), dh dw */
    mt_tensor *one_m = dh ? mt_tr_op1(tr, MT_OP_SUB, (mt_arg[]){mt_a_int(1), mt_a_tensor(dh)}, 2, NULL, 0) : NULL;
    mt_tensor *wts[4] = {outer_flat(tr, MT_OP_MUL, one_m, one_m), outer_flat(tr, MT_OP_MUL, one_m, dh),
                         outer_flat(tr, MT_OP_MUL, dh, one_m), outer_flat(tr, MT_OP_MUL, dh, dh)};
    /* torch.tensor(idx_list, dtype=long), torch.tensor(weight_list, dtype=pos_embed.weight.dtype), the lists
     * extended once per image */
    mt_tensor *it = stack(tr, idx, 4, 0);
    mt_tensor *wt = mt_to(tr, stack(tr, wts, 4, 0), v->dtype);
    it = it ? mt_tr_op1(tr, MT_OP_REPEAT, (mt_arg[]){mt_a_tensor(it), mt_a_int(1), mt_a_dim(images)}, 3, NULL, 0)
            : NULL;
    wt = wt ? mt_tr_op1(tr, MT_OP_REPEAT, (mt_arg[]){mt_a_tensor(wt), mt_a_int(1), mt_a_dim(images)}, 3, NULL, 0)
            : NULL;
    /* pos_embeds = self.pos_embed(idx_tensor) * weight_tensor[:, :, None]; the four summed */
    mt_tensor *pos = it ? mt_tr_call(tr, pe, it) : NULL;
    mt_arg wi[3] = {mt_a_slice(NULL, NULL, NULL), mt_a_slice(NULL, NULL, NULL), mt_a_none()};
    mt_tensor *w3 = wt ? mt_index(tr, wt, wi, 3) : NULL;
    pos = pos && w3 ? mt_mul(tr, pos, w3) : NULL;
    mt_tensor *p[4];
    for (int i = 0; i < 4; i++)
        p[i] = pos ? mt_tr_op1(tr, MT_OP_GETITEM, (mt_arg[]){mt_a_tensor(pos), mt_a_int(i)}, 2, NULL, 0) : NULL;
    mt_tensor *sum = p[0] && p[1] ? mt_add(tr, p[0], p[1]) : NULL;
    sum = sum && p[2] ? mt_add(tr, sum, p[2]) : NULL;
    sum = sum && p[3] ? mt_add(tr, sum, p[3]) : NULL;
    /* per image: .view(t, h // m, m, w // m, m, -1).permute(0, 1, 3, 2, 4, 5).flatten(0, 4), then torch.cat */
    const mt_sym *v6[6] = {images, K(tr, G / m), K(tr, m), K(tr, G / m), K(tr, m), NULL};
    sum = mt_view(tr, sum, 6, v6);
    static const int64_t perm[6] = {0, 1, 3, 2, 4, 5};
    sum = mt_permute(tr, sum, 6, perm);
    return sum ? mt_tr_op1(tr, MT_OP_FLATTEN, (mt_arg[]){mt_a_tensor(sum), mt_a_int(0), mt_a_int(4)}, 3, NULL, 0)
               : NULL;
}

/* rot_pos_emb for the fixed grid: [images * side^2, head_dim / 2] (float32). */
static mt_tensor *vit_rot_pos_emb(mt_tracer *tr, const mt_qwen3_vit *t, const mt_qwen_vit_h *th,
                                  const mt_sym *images) {
    const qwen_vit *v = &t->v;
    int64_t s = v->side, m = v->merge, mh = s / m;
    /* freq_table = self.rotary_pos_emb(max_hw): arange(max_hw, dtype=float32), torch.outer(seq, inv_freq) */
    mt_tr_enter(tr, th->rotary);
    mt_tensor *inv = mt_tr_get_attr(tr, th->inv_freq);
    mt_tensor *sq = arange1(tr, s, MT_FLOAT32);
    mt_tensor *table = sq && inv ? mt_tr_op1(tr, MT_OP_OUTER, (mt_arg[]){mt_a_tensor(sq), mt_a_tensor(inv)}, 2,
                                             NULL, 0)
                                 : NULL;
    mt_tr_leave(tr);
    mt_tensor *br = arange1(tr, mh, MT_INT64), *bcl = arange1(tr, mh, MT_INT64);
    mt_tensor *ir = arange1(tr, m, MT_INT64), *icl = arange1(tr, m, MT_INT64);
    if (!br || !bcl || !ir || !icl) return NULL;
    /* row_idx = block_rows[:, None, None, None] * m + intra_row[None, None, :, None] */
    mt_arg a0[4] = {mt_a_slice(NULL, NULL, NULL), mt_a_none(), mt_a_none(), mt_a_none()};
    mt_arg a2[4] = {mt_a_none(), mt_a_none(), mt_a_slice(NULL, NULL, NULL), mt_a_none()};
    mt_arg a1[4] = {mt_a_none(), mt_a_slice(NULL, NULL, NULL), mt_a_none(), mt_a_none()};
    mt_arg a3[4] = {mt_a_none(), mt_a_none(), mt_a_none(), mt_a_slice(NULL, NULL, NULL)};
    mt_tensor *r = mt_index(tr, br, a0, 4);
    r = r ? mt_tr_op1(tr, MT_OP_MUL, (mt_arg[]){mt_a_tensor(r), mt_a_int(m)}, 2, NULL, 0) : NULL;
    mt_tensor *ri = mt_index(tr, ir, a2, 4);
    r = r && ri ? mt_add(tr, r, ri) : NULL;
    /* col_idx = block_cols[None, :, None, None] * m + intra_col[None, None, None, :] */
    mt_tensor *c = mt_index(tr, bcl, a1, 4);
    c = c ? mt_tr_op1(tr, MT_OP_MUL, (mt_arg[]){mt_a_tensor(c), mt_a_int(m)}, 2, NULL, 0) : NULL;
    mt_tensor *ci = mt_index(tr, icl, a3, 4);
    c = c && ci ? mt_add(tr, c, ci) : NULL;
    const mt_sym *e4[4] = {K(tr, mh), K(tr, mh), K(tr, m), K(tr, m)};
    const mt_sym *flat[1] = {NULL};
    r = mt_reshape(tr, mt_expand(tr, r, 4, e4), 1, flat);
    c = mt_reshape(tr, mt_expand(tr, c, 4, e4), 1, flat);
    mt_tensor *rc[2] = {r, c};
    mt_tensor *coords = stack(tr, rc, 2, -1);
    /* pos_ids[offset : offset + num_tokens] = coords for each image: coords.repeat(images, 1) */
    coords = coords ? mt_tr_op1(tr, MT_OP_REPEAT, (mt_arg[]){mt_a_tensor(coords), mt_a_dim(images), mt_a_int(1)}, 3,
                                NULL, 0)
                    : NULL;
    /* embeddings = freq_table[pos_ids].flatten(1) */
    mt_tensor *e = table && coords ? mt_tr_op1(tr, MT_OP_GETITEM, (mt_arg[]){mt_a_tensor(table), mt_a_tensor(coords)},
                                               2, NULL, 0)
                                   : NULL;
    return e ? mt_tr_op1(tr, MT_OP_FLATTEN, (mt_arg[]){mt_a_tensor(e), mt_a_int(1)}, 2, NULL, 0) : NULL;
}

/* Qwen3VLVisionPatchMerger: linear_fc2(act_fn(linear_fc1(norm(x.view(-1, 4 hidden) or x).view(-1, 4 hidden)))). */
static mt_tensor *merger_forward(mt_tracer *tr, const qwen_vit *v, mt_module *mg, mt_tensor *x, bool post) {
    if (!mg || !x) return NULL;
    const mt_qwen_vit_merger_h *mh = MT_BOUND(tr, mg, mt_qwen_vit_merger_h);
    if (!mh) return NULL;
    mt_tr_enter(tr, mg);
    const mt_sym *mv[2] = {NULL, K(tr, v->hidden * v->merge * v->merge)};
    if (post) x = mt_view(tr, x, 2, mv);
    x = mt_tr_call(tr, mh->norm, x);
    x = mt_view(tr, x, 2, mv);
    x = mt_tr_call(tr, mh->fc1, x);
    x = mt_act_forward(tr, mh->act, x);
    x = mt_tr_call(tr, mh->fc2, x);
    mt_tr_leave(tr);
    return x;
}

/* Qwen3VLVisionModel(pixel_values, grid_thw): the merged features [images * tokens, out_hidden];
 * the deepstack features into t->ds_feats. */
mt_tensor *mt_qwen3_vit_forward(mt_tracer *tr, mt_qwen3_vit *t, mt_tensor *px, const mt_sym *images) {
    const qwen_vit *v = &t->v;
    mt_module *vis = t->visual;
    const mt_qwen_vit_h *th = MT_BOUND(tr, vis, mt_qwen_vit_h);
    if (!th || !px) return NULL;
    mt_module *blocks = th->blocks, *dl = th->deepstack;
    t->n_feats = 0;
    mt_tr_enter(tr, vis);
    mt_dtype in_dt = px->dtype;
    mt_tensor *h = mt_qwen_vit_patch_embed(tr, v, th, px);
    mt_tensor *pos = vit_pos_embed(tr, t, th, images);
    /* (hidden_states + pos_embeds).to(input_dtype) (Qwen3-VL); hidden_states + pos_embeds (Qwen3.5) */
    h = h && pos ? mt_add(tr, h, pos) : NULL;
    if (t->cast_pos) h = mt_to(tr, h, in_dt);
    mt_tensor *rpe = vit_rot_pos_emb(tr, t, th, images);
    if (!h || !rpe) {
        mt_tr_leave(tr);
        return NULL;
    }
    const mt_sym *s2[2] = {h->shape[0], NULL};
    h = mt_reshape(tr, h, 2, s2);
    rpe = mt_reshape(tr, rpe, 2, s2);
    mt_tensor *two[2] = {rpe, rpe};
    mt_tensor *emb = rpe ? mt_cat(tr, two, 2, -1) : NULL;
    mt_tensor *cos = mt_unary(tr, MT_OP_COS, emb);
    mt_tensor *sin = mt_unary(tr, MT_OP_SIN, emb);
    for (int i = 0; i < blocks->children.n && h; i++) {
        mt_module *B = blocks->children.items[i];
        const mt_qwen_vit_block_h *bh = MT_BOUND(tr, B, mt_qwen_vit_block_h);
        if (!bh) {
            h = NULL;
            break;
        }
        mt_tr_enter(tr, B);
        mt_tensor *a = mt_tr_call(tr, bh->norm1, h);
        a = mt_qwen_vit_attn(tr, v, bh->attn, a, cos, sin, v->patches);
        h = a ? mt_add(tr, h, a) : NULL;
        mt_tensor *f = mt_tr_call(tr, bh->norm2, h);
        f = f ? mt_fc_mlp_forward(tr, bh->mlp, f) : NULL;
        h = f ? mt_add(tr, h, f) : NULL;
        mt_tr_leave(tr);
        /* deepstack_merger_list[deepstack_visual_indexes.index(layer_num)](hidden_states), appended in block
         * order (a block listed twice: its first merger, once) */
        for (int j = 0; j < t->n_deepstack && h; j++) {
            if (t->deepstack[j] != i) continue;
            t->ds_feats[t->n_feats++] = merger_forward(tr, v, dl->children.items[j], h, true);
            break;
        }
    }
    h = merger_forward(tr, v, th->merger, h, false);
    mt_tr_leave(tr);
    return h;
}

static mt_tensor *qwen3_vl_merge(mt_tracer *tr, mt_model *m, const mt_dec_spec *s, mt_tensor *ids,
                                 mt_tensor *embeds) {
    qwen3_vl *g = s->ext;
    if (!embeds || !g->pixel_values) return NULL;
    const mt_sym *images = mt_model_input_dim(m, "images");
    mt_tensor *feat = mt_qwen3_vit_forward(tr, &g->t, g->pixel_values, images);
    feat = mt_to(tr, feat, embeds->dtype);
    mt_tensor *mask = mt_image_token_mask(tr, ids, g->image_token, embeds);
    mt_tensor *out = mt_masked_scatter(tr, embeds, mask, feat);
    /* visual_pos_masks = image_mask[..., 0] */
    mt_arg ix[2] = {mt_a_ellipsis(), mt_a_int(0)};
    g->visual_mask = mask ? mt_index(tr, mask, ix, 2) : NULL;
    return g->visual_mask ? out : NULL;
}

/* _deepstack_process after layer `index` < len(deepstack_visual_embeds) (see the header). */
static mt_tensor *qwen3_vl_deepstack(mt_tracer *tr, mt_model *m, const mt_dec_spec *s, int64_t index, mt_tensor *h) {
    (void)m;
    const qwen3_vl *g = s->ext;
    if (!h || index >= g->t.n_feats) return h; /* layer_idx in range(len(deepstack_visual_embeds)) */
    mt_tensor *vis = mt_to(tr, g->t.ds_feats[index], h->dtype);
    mt_tensor *mask = mt_unsqueeze(tr, g->visual_mask, -1);
    mask = mask ? mt_expand(tr, mask, h->ndim, h->shape) : NULL;
    mt_tensor *z = mt_tr_op1(tr, MT_OP_ZEROS_LIKE, (mt_arg[]){mt_a_tensor(h)}, 1, NULL, 0);
    mt_tensor *add = z && vis && mask ? mt_masked_scatter(tr, z, mask, vis) : NULL;
    return add ? mt_add(tr, h, add) : NULL;
}

/* The whole model: position_ids is the graph input (get_rope_index's result). */
static mt_tensor *input_position_ids(mt_tracer *tr, mt_model *m, const mt_dec_spec *s, mt_tensor *cache_pos,
                                     mt_tensor *h) {
    (void)tr, (void)m, (void)cache_pos, (void)h;
    return ((const qwen3_vl *)s->ext)->position_ids;
}

/* ---- the MoE language model (qwen3_vl_moe, qwen3_vl_moe_text) -----------------------------
 * Qwen3VLMoeTextSparseMoeBlock (registration: experts, gate): hidden_states.view(-1, hidden);
 * gate (Qwen3VLMoeTextTopKRouter, a raw weight [E, hidden]): reshape(-1, hidden), F.linear,
 * softmax(dtype=float, dim=-1), topk(num_experts_per_tok), divided by their sum (always),
 * .to(router_logits.dtype); experts (Qwen3VLMoeTextExperts: moe.c's fused loop);
 * reshape(batch, seq, hidden). The released checkpoints store the experts transposed to the
 * module, gate_up_proj [E, hidden, 2 * moe_intermediate_size] and down_proj [E, moe_intermediate_size,
 * hidden] (transformers 4.57's module, x @ w[e]; v5 transposes them on load): built as stored, the
 * loop's products recorded as x @ w[e] (mt_moe_fused_build's in_out). A layer is sparse when it is
 * not in mlp_only_layers, num_experts > 0 and (index + 1) % decoder_sparse_step == 0, else a dense
 * Qwen3VLMoeTextMLP of intermediate_size. No shared expert. */
typedef struct q3vl_moe_h {
    mt_module *experts, *gate;
    mt_param *gate_weight;
    int64_t top_k;
} q3vl_moe_h;
static const mt_handle_kind q3vl_moe_h_kind = {"q3vl_moe_h"};

static mt_status read_moe(mt_model *m, qwen3_vl *g) {
    mt_config *c = m->cfg;
    mt_moe_spec *e = &g->mm.moe;
    if (!mt_config_int(c, "num_experts", 60, &e->num_experts) ||
        !mt_config_pos_int(c, "num_experts_per_tok", 4, &e->top_k) ||
        !mt_config_pos_int(c, "moe_intermediate_size", 1408, &e->expert_inter) ||
        !mt_config_pos_int(c, "decoder_sparse_step", 1, &g->sparse_step))
        return mt_ctx_status(m->ctx);
    if (e->num_experts < 0 || e->num_experts > MT_MAX_HIDDEN)
        return mt_config_error(c, "num_experts", "%lld: expected 0 (dense) up to %d", (long long)e->num_experts,
                               MT_MAX_HIDDEN);
    if (e->num_experts > 0 && e->top_k > e->num_experts)
        return mt_config_error(c, "num_experts_per_tok", "%lld experts per token of %lld", (long long)e->top_k,
                               (long long)e->num_experts);
    if (e->expert_inter > MT_MAX_HIDDEN)
        return mt_config_error(c, "moe_intermediate_size", "%lld is more than the limit of %d (docs/cli.md, Limits)",
                               (long long)e->expert_inter, MT_MAX_HIDDEN);
    int64_t n = g->mm.dec.layers;
    g->mlp_only = mt_alloc_array(m->ctx, (size_t)(n > 0 ? n : 1), sizeof *g->mlp_only);
    if (!g->mlp_only) return mt_ctx_status(m->ctx);
    json_t *v = mt_config_json(c, "mlp_only_layers");
    if (!v || json_is_null(v)) return MT_OK;
    if (!json_is_array(v)) return mt_config_error(c, "mlp_only_layers", "expected a list of layer indices");
    for (size_t i = 0; i < json_array_size(v); i++) {
        json_t *x = json_array_get(v, i);
        json_int_t k = json_is_integer(x) ? json_integer_value(x) : -1;
        if (k < 0) {
            char f[48];
            snprintf(f, sizeof f, "mlp_only_layers.%zu", i);
            return mt_config_error(c, f, "expected a layer index >= 0");
        }
        if (k < n) g->mlp_only[k] = true;
    }
    return MT_OK;
}

/* The MoE fields among the model's info (after the decoder's). */
static void moe_info(mt_model *m, const qwen3_vl *g) {
    mt_model_info(m, "num_experts", mt_a_int(g->mm.moe.num_experts));
    mt_model_info(m, "num_experts_per_tok", mt_a_int(g->mm.moe.top_k));
    mt_model_info(m, "moe_intermediate_size", mt_a_int(g->mm.moe.expert_inter));
}

static mt_status moe_build_mlp(mt_model *m, const mt_dec_spec *s, mt_module *layer, int64_t index) {
    qwen3_vl *g = s->ext;
    const mt_moe_spec *e = &g->mm.moe;
    if (g->mlp_only[index] || e->num_experts <= 0 || (index + 1) % g->sparse_step != 0)
        return mt_dec_build_mlp(m, s, layer, index);
    mt_ctx *ctx = m->ctx;
    mt_module *blk = mt_module_new(ctx, layer, "mlp", "Qwen3VLMoeTextSparseMoeBlock");
    q3vl_moe_h *h = blk ? MT_BIND(ctx, blk, q3vl_moe_h) : NULL;
    if (!h) return mt_ctx_status(ctx);
    h->top_k = e->top_k;
    int64_t gw[2] = {e->num_experts, s->hidden};
    if (!(h->experts = mt_moe_fused_build(m, blk, "experts", "Qwen3VLMoeTextExperts", e->num_experts, s->hidden,
                                          e->expert_inter, s->hidden_act, "hidden_act", s->dtype, true)) ||
        !(h->gate = mt_module_new(ctx, blk, "gate", "Qwen3VLMoeTextTopKRouter")) ||
        !(h->gate_weight = mt_param_new(ctx, h->gate, "weight", s->dtype, MT_DEVICE_CPU, 2, gw)))
        return mt_ctx_status(ctx);
    mt_module_attr(ctx, h->gate, "top_k", mt_a_int(e->top_k));
    mt_module_attr(ctx, h->gate, "num_experts", mt_a_int(e->num_experts));
    return mt_moe_add_routed(m, &g->mm, h->experts, e->num_experts, e->top_k) ? MT_OK : mt_ctx_status(ctx);
}

/* Qwen3VLMoeTextSparseMoeBlock.forward on x [batch, seq, hidden] (see above). */
static mt_tensor *moe_mlp_forward(mt_tracer *tr, mt_module *mlp, mt_tensor *x, const mt_dec_spec *s) {
    if (!mlp || !mt_module_bound(mlp, &q3vl_moe_h_kind)) return mt_dec_mlp_forward(tr, mlp, x, s);
    const q3vl_moe_h *h = MT_BOUND(tr, mlp, q3vl_moe_h);
    if (!h || !x) return NULL;
    mt_tr_enter(tr, mlp);
    const mt_sym *fl[2] = {NULL, x->shape[x->ndim - 1]};
    mt_tensor *x2 = mt_view(tr, x, 2, fl);
    /* the router: reshape(-1, hidden), F.linear(., weight), softmax, topk, / sum, .to(logits dtype) */
    mt_tr_enter(tr, h->gate);
    mt_tensor *xr = mt_reshape(tr, x2, 2, fl);
    mt_tensor *wt = mt_tr_get_attr(tr, h->gate_weight);
    mt_tensor *logits = xr && wt ? mt_tr_op1(tr, MT_OP_LINEAR, (mt_arg[]){mt_a_tensor(xr), mt_a_tensor(wt)}, 2, NULL, 0)
                                 : NULL;
    mt_kwarg dimk[1] = {{"dim", mt_a_int(-1)}};
    mt_tensor *p = logits ? mt_tr_op1(tr, MT_OP_SOFTMAX, (mt_arg[]){mt_a_tensor(logits)}, 1,
                                      (mt_kwarg[]){{"dtype", mt_a_dtype(MT_FLOAT32)}, {"dim", mt_a_int(-1)}}, 2)
                            : NULL;
    mt_node *tk = p ? mt_tr_op(tr, MT_OP_TOPK, (mt_arg[]){mt_a_tensor(p), mt_a_int(h->top_k)}, 2, dimk, 1) : NULL;
    mt_tensor *w = mt_tr_item(tr, tk, 0), *idx = mt_tr_item(tr, tk, 1);
    mt_tensor *sum = mt_reduce(tr, MT_OP_SUM, w, -1, true);
    w = w && sum ? mt_div(tr, w, sum) : NULL;
    w = w ? mt_to(tr, w, logits->dtype) : NULL;
    mt_tr_leave(tr);
    mt_tensor *y = mt_moe_fused_forward(tr, h->experts, x2, idx, w);
    y = y ? mt_reshape(tr, y, x->ndim, x->shape) : NULL;
    mt_tr_leave(tr);
    return y;
}

/* mt_moe_totals (active parameters) and, for the whole model, the language model alone
 * (model.language_model.* and lm_head): mt_totals.text_params. */
static mt_status qwen3_vl_totals(const mt_model *m, mt_totals *t);
static mt_status moe_totals(const mt_model *m, mt_totals *t) {
    if (mt_moe_totals(m, t) != MT_OK) return mt_ctx_status(m->ctx);
    const qwen3_vl *g = m->family;
    return g->t.visual ? qwen3_vl_totals(m, t) : MT_OK;
}

static mt_status whole_build(mt_model *m, const q3vl_variant *var) {
    mt_ctx *ctx = m->ctx;
    qwen3_vl *g = mt_alloc(ctx, sizeof *g);
    if (!g) return mt_ctx_status(ctx);
    m->family = g;
    mt_config *top = m->cfg;
    mt_config *vc = mt_config_sub(top, "vision_config");
    mt_config *tc = mt_config_sub(top, "text_config");
    if (!vc) return mt_config_error(top, "vision_config", "expected a vision_config object (%s)", var->wrapper_cls);
    if (!tc) return mt_config_error(top, "text_config", "expected a text_config object (%s)", var->wrapper_cls);
    bool tie;
    if (!mt_config_int(top, "image_token_id", 151655, &g->image_token) ||
        !mt_config_bool(top, "tie_word_embeddings", false, &tie))
        return mt_ctx_status(ctx);
    /* the tower first: --layers (m->num_layers) still holds the request */
    m->cfg = vc;
    g->t.cls = var->prefix;
    g->t.deepstack_on = true;
    g->t.cast_pos = true;
    mt_status st = mt_qwen3_vit_read(m, vc, &g->t);
    m->cfg = tc;
    if (st == MT_OK) st = text_spec(m, &g->mm.dec, g->mrope, var->family, var);
    if (st == MT_OK && var->moe) st = read_moe(m, g);
    m->cfg = top;
    if (st != MT_OK) return mt_ctx_status(ctx);
    g->mm.dec.tie_embeddings = tie; /* the wrapper config's own field ties lm_head */
    if (mt_qwen3_vit_check(&g->t, vc, top, g->image_token, g->mm.dec.hidden, g->mm.dec.vocab) != MT_OK)
        return mt_ctx_status(ctx);
    g->model = mt_module_new(ctx, m->root, "model", var->model_cls);
    if (!g->model) return mt_ctx_status(ctx);
    m->cfg = vc;
    g->t.visual = mt_qwen3_vit_build(m, &g->t, g->model);
    m->cfg = top;
    if (!g->t.visual) return mt_ctx_status(ctx);
    g->mm.dec.ext = g;
    g->mm.dec.model_parent = g->model;
    g->mm.dec.hooks.merge_embeds = qwen3_vl_merge;
    g->mm.dec.hooks.position_ids = input_position_ids;
    g->mm.dec.hooks.after_layer = qwen3_vl_deepstack;
    if (var->moe) g->mm.dec.hooks.build_mlp = moe_build_mlp, g->mm.dec.hooks.mlp_forward = moe_mlp_forward;
    m->cfg = tc;
    st = mt_dec_build(m, &g->mm.dec);
    m->cfg = top;
    if (st != MT_OK) return mt_ctx_status(ctx);
    if (var->moe) moe_info(m, g);
    mt_qwen3_vit_info(m, &g->t, g->image_token);
    return mt_ctx_status(ctx);
}

static mt_status qwen3_vl_build(mt_model *m) { return whole_build(m, &dense_variant); }
static mt_status qwen3_vl_moe_build(mt_model *m) { return whole_build(m, &moe_variant); }

static mt_status qwen3_vl_forward(mt_model *m, mt_tracer *tr) {
    qwen3_vl *g = m->family;
    if (mt_qwen_vl_inputs(m, tr, &g->t.v, g->mm.dec.dtype, &g->position_ids, &g->pixel_values) != MT_OK)
        return mt_ctx_status(m->ctx);
    return mt_dec_forward(m, tr, &g->mm.dec);
}

/* The language model alone (model.language_model.* and lm_head): mt_totals.text_params. */
static mt_status qwen3_vl_totals(const mt_model *m, mt_totals *t) {
    const qwen3_vl *g = m->family;
    int64_t n = 0;
    for (int i = 0; i < m->root->children.n; i++) {
        const mt_module *c = m->root->children.items[i];
        if (c == g->model) {
            for (int j = 0; j < c->children.n; j++)
                if (c->children.items[j] != g->t.visual && !mt_params_under(m->ctx, c->children.items[j], &n))
                    return mt_ctx_status(m->ctx);
        } else if (!mt_params_under(m->ctx, c, &n)) {
            return mt_ctx_status(m->ctx);
        }
    }
    t->text_params = n;
    t->text_param_bytes = n * (int64_t)mt_dtype_size(g->mm.dec.dtype);
    return MT_OK;
}

static const char *const qwen3_vl_classes[] = {"Qwen3VLForConditionalGeneration", NULL};

const mt_arch mt_arch_qwen3_vl = {
    .model_type = "qwen3_vl",
    .default_class = "Qwen3VLForConditionalGeneration",
    .example = "Qwen/Qwen3-VL-8B-Instruct",
    .build = qwen3_vl_build,
    .forward = qwen3_vl_forward,
    .totals = qwen3_vl_totals,
    .classes = qwen3_vl_classes,
};

/* ---- the language model alone (model_type qwen3_vl_text; --text-only) -------------
 * Qwen3VLTextModel under its checkpoint names (model.language_model.*) beside lm_head,
 * position_ids from cache_position (the three rotary rows equal, interleaved as ever). */
static mt_status text_build(mt_model *m, const q3vl_variant *var) {
    qwen3_vl *g = mt_alloc(m->ctx, sizeof *g);
    if (!g) return mt_ctx_status(m->ctx);
    m->family = g;
    if (text_spec(m, &g->mm.dec, g->mrope, var->text_family, var) != MT_OK) return mt_ctx_status(m->ctx);
    if (var->moe && read_moe(m, g) != MT_OK) return mt_ctx_status(m->ctx);
    g->mm.dec.ext = g;
    g->mm.dec.hooks.position_ids = mt_qwen_vl_text_position_ids;
    if (var->moe) g->mm.dec.hooks.build_mlp = moe_build_mlp, g->mm.dec.hooks.mlp_forward = moe_mlp_forward;
    g->mm.dec.model_parent = mt_module_new(m->ctx, m->root, "model", var->model_cls);
    if (!g->mm.dec.model_parent || mt_dec_build(m, &g->mm.dec) != MT_OK) return mt_ctx_status(m->ctx);
    if (var->moe) moe_info(m, g);
    return MT_OK;
}

static mt_status qwen3_vl_text_build(mt_model *m) { return text_build(m, &dense_variant); }
static mt_status qwen3_vl_moe_text_build(mt_model *m) { return text_build(m, &moe_variant); }

static mt_status qwen3_vl_text_forward(mt_model *m, mt_tracer *tr) {
    qwen3_vl *g = m->family;
    return mt_dec_forward(m, tr, &g->mm.dec);
}

const mt_arch mt_arch_qwen3_vl_text = {
    .model_type = "qwen3_vl_text",
    .default_class = "Qwen3VLForConditionalGeneration",
    .example = "Qwen/Qwen3-VL-8B-Instruct (--text-only)",
    .build = qwen3_vl_text_build,
    .forward = qwen3_vl_text_forward,
};

/* ---- Qwen3-VL-MoE (model_type qwen3_vl_moe) and its language model alone (qwen3_vl_moe_text) ----
 * The same wrapper, tower and decoder under the Qwen3VLMoe class names, the sparse blocks above
 * (modeling_qwen3_vl_moe.py / configuration_qwen3_vl_moe.py, stored mirror commits 0142cff20c9a /
 * 008e57439125). */
static const char *const qwen3_vl_moe_classes[] = {"Qwen3VLMoeForConditionalGeneration", NULL};

const mt_arch mt_arch_qwen3_vl_moe = {
    .model_type = "qwen3_vl_moe",
    .default_class = "Qwen3VLMoeForConditionalGeneration",
    .example = "Qwen/Qwen3-VL-30B-A3B-Instruct",
    .build = qwen3_vl_moe_build,
    .forward = qwen3_vl_forward,
    .totals = moe_totals,
    .classes = qwen3_vl_moe_classes,
};

const mt_arch mt_arch_qwen3_vl_moe_text = {
    .model_type = "qwen3_vl_moe_text",
    .default_class = "Qwen3VLMoeForConditionalGeneration",
    .example = "Qwen/Qwen3-VL-30B-A3B-Instruct (--text-only)",
    .build = qwen3_vl_moe_text_build,
    .forward = qwen3_vl_text_forward,
    .totals = moe_totals,
};
