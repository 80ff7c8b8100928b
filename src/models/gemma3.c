/* Gemma3 text (Gemma3ForCausalLM, model_type gemma3_text): Gemma2's layer
 * (Gemma (1 + w) RMSNorm in float32, norms before and after attention and
 * MLP, scores scaled by query_pre_attn_scalar^-0.5) plus RMSNorm on each query
 * and key head after the transpose, sliding-window layers chosen by
 * layer_types (or every layer but each sliding_window_pattern-th), a second
 * rotary embedding (rotary_emb_local, rope_local_base_freq, default rope) for
 * the sliding layers, Gemma3TextScaledWordEmbedding (an nn.Embedding subclass
 * traced through, with a non-persistent embed_scale buffer), soft-capping
 * only when configured, tied head. Defaults from transformers'
 * Gemma3TextConfig (models/gemma3/configuration_gemma3.py, 4.x signature). */
#include <math.h>
#include <string.h>

#include <jansson.h>

#include "blocks.h"
#include "siglip.h"

static const mt_dec_names gemma3_names = {
    "Gemma3TextModel", "Gemma3DecoderLayer", "Gemma3Attention", "Gemma3MLP", "Gemma3RMSNorm",
    "Gemma3RotaryEmbedding",
};

static const mt_dec_defaults gemma3_defaults = {
    .vocab = 262208, .hidden = 2304, .intermediate = 9216, .layers = 26, .heads = 8,
    .norm_eps = 1e-6, .rope_theta = 1000000.0, .hidden_act = "gelu_pytorch_tanh",
    .norm_eps_key = "rms_norm_eps", .tie_embeddings = true, .kv_heads = 4, .head_dim = 256,
};

/* An optional positive float: absent or null means none (0). */
static bool read_cap(mt_model *m, const char *key, double *out) {
    *out = 0;
    if (!mt_config_has(m->cfg, key) || mt_dec_cfg_is_null(m, key)) return true;
    if (!mt_config_float(m->cfg, key, 0, out)) return false;
    if (*out < 0) {
        mt_config_error(m->cfg, key, "expected a positive number or null, got %g (gemma3_text)", *out);
        return false;
    }
    return true;
}

/* Per-layer sliding flags: layer_types when given (its length must be the
 * config's num_hidden_layers), else every layer but each pattern-th. */
static const bool *read_sliding(mt_model *m, mt_dec_spec *s) {
    json_t *root = mt_config_json(m->cfg, "");
    json_t *lt = root ? json_object_get(root, "layer_types") : NULL;
    if (!lt || json_is_null(lt)) {
        int64_t pattern;
        if (!mt_config_int(m->cfg, "sliding_window_pattern", 6, &pattern)) return NULL;
        if (pattern <= 0) {
            mt_config_error(m->cfg, "sliding_window_pattern", "expected a positive layer period, got %lld (gemma3_text)",
                         (long long)pattern);
            return NULL;
        }
        return mt_dec_sliding_pattern(m, s->layers, pattern, 1); /* (i + 1) % pattern != 0 slides */
    }
    int64_t config_layers;
    if (!mt_config_int(m->cfg, "num_hidden_layers", gemma3_defaults.layers, &config_layers)) return NULL;
    if (!json_is_array(lt) || (int64_t)json_array_size(lt) != config_layers) {
        mt_config_error(m->cfg, "layer_types", "expected a list of %lld layer types (num_hidden_layers) (gemma3_text)",
                     (long long)config_layers);
        return NULL;
    }
    bool *v = mt_alloc_array(m->ctx, (size_t)(s->layers > 0 ? s->layers : 1), sizeof *v);
    if (!v) return NULL;
    for (size_t i = 0; i < json_array_size(lt); i++) {
        const char *t = json_string_value(json_array_get(lt, i));
        bool slide = t && strcmp(t, "sliding_attention") == 0;
        if (!slide && !(t && strcmp(t, "full_attention") == 0)) {
            char field[48];
            snprintf(field, sizeof field, "layer_types[%zu]", i);
            mt_config_error(m->cfg, field, "expected \"sliding_attention\" or \"full_attention\" (gemma3_text)");
            return NULL;
        }
        if ((int64_t)i < s->layers) v[i] = slide;
    }
    return v;
}

/* The language model's spec from m->cfg (Gemma3TextConfig): reads only, builds nothing. */
static mt_status gemma3_text_spec(mt_model *m, mt_dec_spec *s) {
    s->cls = gemma3_names;
    if (mt_dec_read_common(m, s, &gemma3_defaults) != MT_OK) return mt_ctx_status(m->ctx);
    bool bias, bidirectional;
    double qpas, local_theta;
    int64_t pad = 0;
    /* Gemma3MLP uses hidden_activation (hidden_act is not read) */
    if (!mt_config_str(m->cfg, "hidden_activation", "gelu_pytorch_tanh", &s->hidden_act) ||
        !mt_config_bool(m->cfg, "attention_bias", false, &bias) ||
        !mt_config_float(m->cfg, "query_pre_attn_scalar", 256, &qpas) ||
        !mt_config_float(m->cfg, "rope_local_base_freq", 10000.0, &local_theta) ||
        !mt_dec_read_window(m, "sliding_window", 4096, &s->caps.sliding_window) ||
        !read_cap(m, "attn_logit_softcapping", &s->caps.attn_softcap) ||
        !read_cap(m, "final_logit_softcapping", &s->caps.final_softcap) ||
        !mt_config_bool(m->cfg, "use_bidirectional_attention", false, &bidirectional) ||
        (!mt_dec_cfg_is_null(m, "pad_token_id") && !mt_config_int(m->cfg, "pad_token_id", 0, &pad)))
        return mt_ctx_status(m->ctx);
    if (bidirectional)
        return mt_config_error(m->cfg, "use_bidirectional_attention",
                            "bidirectional attention (EmbeddingGemma) is not supported (gemma3_text)");
    s->qkv_bias = s->o_bias = bias;
    s->caps.norm = MT_NORM_RMS_GEMMA;
    s->caps.layout = &mt_gemma2_sandwich_layout;
    s->caps.qk_norm = MT_QK_NORM_HEAD_T;
    s->caps.attn_scale = pow(qpas, -0.5);
    s->caps.embed_scale = sqrt((double)s->hidden);
    s->caps.embed_cls = "Gemma3TextScaledWordEmbedding";
    s->caps.embed_padding_idx = mt_dec_cfg_is_null(m, "pad_token_id") ? -1 : pad;
    s->caps.local_rope_theta = local_theta;
    s->caps.sliding = read_sliding(m, s);
    if (!s->caps.sliding) return mt_ctx_status(m->ctx);
    return mt_dec_read_rope(m, s);
}

static mt_status gemma3_build(mt_model *m) {
    mt_dec_spec *s = mt_alloc(m->ctx, sizeof *s);
    if (!s) return mt_ctx_status(m->ctx);
    m->family = s;
    if (gemma3_text_spec(m, s) != MT_OK) return mt_ctx_status(m->ctx);
    return mt_dec_build(m, s);
}

static mt_status gemma3_forward(mt_model *m, mt_tracer *tr) { return mt_dec_forward(m, tr, m->family); }

const mt_arch mt_arch_gemma3_text = {
    .model_type = "gemma3_text",
    .default_class = "Gemma3ForCausalLM",
    .example = "google/gemma-3-1b-it",
    .build = gemma3_build,
    .forward = gemma3_forward,
    .max_positions = 131072, /* Gemma3TextConfig(max_position_embeddings=131_072) */
};

/* ---- Gemma3ForConditionalGeneration (model_type gemma3) -----------------------
 * Read at transformers' models/gemma3/modeling_gemma3.py, commit 0018aa647bb1 of
 * the stored mirror (Gemma3Model, Gemma3MultiModalProjector,
 * Gemma3ForConditionalGeneration), with the SigLIP tower of siglip.c.
 *
 * Names. The checkpoints (google/gemma-3-4b-it, google/medgemma-27b-it: their
 * model.safetensors.index.json) store the layout of transformers 4.50, where the
 * wrapper held the three parts itself: vision_tower.vision_model.*,
 * multi_modal_projector.*, language_model.model.* (a Gemma3ForCausalLM whose
 * lm_head is tied to the embedding, so absent from the index). Newer transformers
 * nests them as model.vision_tower / model.multi_modal_projector /
 * model.language_model and lm_head, and maps the stored names through
 * _checkpoint_conversion_mapping ("^language_model.model" -> "model.language_model",
 * "^vision_tower" -> "model.vision_tower", "^multi_modal_projector" ->
 * "model.multi_modal_projector", "^language_model.lm_head" -> "lm_head"). metatrace
 * builds the stored layout, so every parameter carries its checkpoint name; the
 * module classes are the same either way (Gemma3TextModel under
 * language_model.model). Registration order: vision_tower, multi_modal_projector,
 * language_model, as Gemma3Model.__init__.
 *
 * Forward (Gemma3Model.forward with pixel_values): the token embedding
 * (get_input_embeddings, Gemma3TextScaledWordEmbedding); image_features =
 * multi_modal_projector(vision_tower(pixel_values).last_hidden_state), then
 * .to(inputs_embeds.dtype); special_image_mask = (input_ids == image_token_index)
 * .unsqueeze(-1).expand_as(inputs_embeds); inputs_embeds.masked_scatter(mask,
 * image_features); then the language model on inputs_embeds and lm_head. Left out:
 * get_placeholder_mask's checks (mask.sum() for the message and
 * inputs_embeds[mask].numel() compared with the features: validation only), the
 * .to(device) moves, and token_type_ids (the bidirectional mask over each image's
 * tokens is built only when token_type_ids is passed; without it, as traced, the
 * mask is the text model's causal/sliding one). The image token must lie inside
 * the vocabulary (262144 < 262208 in every Gemma 3 config): otherwise transformers
 * first replaces it by 0 in a clone of input_ids, which is not modelled.
 *
 * Inputs: input_ids and attention_mask [batch, seq], and pixel_values [images,
 * num_channels, image_size, image_size] in the model dtype; `images` is an input
 * symbol (--bind images=N) with bounds [1, batch*seq // mm_tokens_per_image]:
 * each image fills mm_tokens_per_image placeholder tokens of input_ids. */
typedef struct gemma3_mm {
    mt_dec_spec text;
    mt_siglip_spec vision;
    int64_t mm_tokens, image_token, tokens_side, kernel;
    mt_module *tower, *proj;
} gemma3_mm;

/* The projector's handle (blocks.h, "handles bound at build"): its norm, pool and weight. */
typedef struct projector_h {
    mt_module *norm, *pool;
    mt_param *w;
} projector_h;
static const mt_handle_kind projector_h_kind = {"gemma3 projector_h"};

/* Gemma3MultiModalProjector.forward. */
static mt_tensor *projector_forward(mt_tracer *tr, const gemma3_mm *g, mt_tensor *vis) {
    if (!vis) return NULL;
    mt_ctx *ctx = tr->ctx;
    mt_module *p = g->proj;
    const projector_h *ph = MT_BOUND(tr, p, projector_h);
    if (!ph) return NULL;
    mt_tr_enter(tr, p);
    mt_tensor *r = mt_transpose(tr, vis, 1, 2);
    const mt_sym *rs[4] = {vis->shape[0], vis->shape[2], mt_sym_const(ctx, g->vision.patches_side),
                           mt_sym_const(ctx, g->vision.patches_side)};
    r = mt_reshape(tr, r, 4, rs);
    r = mt_contiguous(tr, r);
    mt_tr_enter(tr, ph->pool);
    mt_tensor *pooled = r ? mt_tr_op1(tr, MT_OP_AVG_POOL2D,
                                      (mt_arg[]){mt_a_tensor(r), mt_a_int(g->kernel), mt_a_int(g->kernel), mt_a_int(0),
                                                 mt_a_bool(false), mt_a_bool(true), mt_a_none()},
                                      7, NULL, 0)
                          : NULL;
    mt_tr_leave(tr);
    pooled = pooled ? mt_tr_op1(tr, MT_OP_FLATTEN, (mt_arg[]){mt_a_tensor(pooled), mt_a_int(2)}, 2, NULL, 0) : NULL;
    pooled = mt_transpose(tr, pooled, 1, 2);
    mt_tensor *normed = mt_dec_norm_forward(tr, ph->norm, pooled, &g->text);
    mt_tensor *w = mt_tr_get_attr(tr, ph->w);
    mt_tensor *proj = mt_matmul(tr, normed, w);
    mt_tensor *y = proj ? mt_tr_op1(tr, MT_OP_TYPE_AS, (mt_arg[]){mt_a_tensor(proj), mt_a_tensor(vis)}, 2, NULL, 0)
                        : NULL;
    mt_tr_leave(tr);
    return y;
}

static mt_tensor *gemma3_merge(mt_tracer *tr, mt_model *m, const mt_dec_spec *s, mt_tensor *ids, mt_tensor *embeds) {
    const gemma3_mm *g = s->ext;
    if (!embeds || m->inputs.n < 3) return NULL;
    mt_tensor *px = m->inputs.items[2];
    mt_tensor *vis = mt_siglip_forward(tr, g->tower, px, &g->vision);
    mt_tensor *feat = projector_forward(tr, g, vis);
    feat = mt_to(tr, feat, embeds->dtype);
    mt_tensor *mask = mt_image_token_mask(tr, ids, g->image_token, embeds);
    return mt_masked_scatter(tr, embeds, mask, feat);
}

static mt_config *need_sub(mt_model *m, const char *field) {
    mt_config *c = mt_config_sub(m->cfg, field);
    if (!c) mt_config_error(m->cfg, field, "expected a %s object (Gemma3Config)", field);
    return c;
}

static mt_status gemma3_mm_build(mt_model *m) {
    mt_ctx *ctx = m->ctx;
    gemma3_mm *g = mt_alloc(ctx, sizeof *g);
    if (!g) return mt_ctx_status(ctx);
    m->family = g;
    mt_config *top = m->cfg;
    mt_config *tc = need_sub(m, "text_config");
    mt_config *vc = tc ? need_sub(m, "vision_config") : NULL;
    if (!vc) return mt_ctx_status(ctx);
    if (!mt_config_pos_int(top, "mm_tokens_per_image", 256, &g->mm_tokens) ||
        !mt_config_int(top, "image_token_index", 262144, &g->image_token))
        return mt_ctx_status(ctx);
    /* the tower first: --layers (m->num_layers) still holds the request */
    m->cfg = vc;
    mt_status st = mt_siglip_read(m, vc, m->num_layers, &g->vision);
    m->cfg = tc;
    if (st == MT_OK) st = gemma3_text_spec(m, &g->text);
    m->cfg = top;
    if (st != MT_OK) return mt_ctx_status(ctx);
    /* Gemma3MultiModalProjector: tokens_per_side = int(mm_tokens_per_image ** 0.5),
     * kernel = patches_per_image // tokens_per_side; the pooled side is then
     * patches_per_image // kernel, and its square must be mm_tokens_per_image for the
     * features to fill the image tokens */
    int64_t side = 0, ps = g->vision.patches_side;
    while (side < ps && (side + 1) * (side + 1) <= g->mm_tokens) side++; /* int(mm_tokens ** 0.5), capped */
    g->tokens_side = side;
    g->kernel = side > 0 ? g->vision.patches_side / side : 0;
    if (g->kernel < 1 || (g->vision.patches_side / g->kernel) * (g->vision.patches_side / g->kernel) != g->mm_tokens)
        return mt_config_error(top, "mm_tokens_per_image",
                               "%lld image tokens do not tile the %lldx%lld patches (image_size / patch_size): "
                               "expected the square of a divisor of %lld",
                               (long long)g->mm_tokens, (long long)g->vision.patches_side,
                               (long long)g->vision.patches_side, (long long)g->vision.patches_side);
    if (g->image_token < 0 || g->image_token >= g->text.vocab)
        return mt_config_error(top, "image_token_index",
                               "image token %lld outside the vocabulary (%lld): transformers' out-of-vocabulary "
                               "image-token path (input_ids cloned, image tokens set to 0) is not modelled",
                               (long long)g->image_token, (long long)g->text.vocab);
    m->cfg = vc;
    g->tower = mt_siglip_build(m, m->root, "vision_tower", &g->vision);
    m->cfg = top;
    if (!g->tower) return mt_ctx_status(ctx);
    g->proj = mt_module_new(ctx, m->root, "multi_modal_projector", "Gemma3MultiModalProjector");
    projector_h *ph = MT_BIND(ctx, g->proj, projector_h);
    if (!ph) return mt_ctx_status(ctx);
    int64_t pw[2] = {g->vision.hidden, g->text.hidden};
    mt_dec_spec ns = g->text;
    ns.norm_eps = g->vision.eps; /* Gemma3RMSNorm(vision hidden, eps=vision_config.layer_norm_eps) */
    mt_module *pool = NULL;
    if (!(ph->w = mt_param_new(ctx, g->proj, "mm_input_projection_weight", g->text.dtype, MT_DEVICE_CPU, 2, pw)) ||
        !(ph->norm = mt_dec_rms_norm(m, g->proj, "mm_soft_emb_norm", &ns, g->vision.hidden)) ||
        !(ph->pool = pool = mt_module_new(ctx, g->proj, "avg_pool", "AvgPool2d")))
        return mt_ctx_status(ctx);
    mt_module_attr(ctx, pool, "kernel_size", mt_a_int(g->kernel));
    mt_module_attr(ctx, pool, "stride", mt_a_int(g->kernel));
    mt_module_attr(ctx, pool, "padding", mt_a_int(0));
    mt_module *lm = mt_module_new(ctx, m->root, "language_model", "Gemma3ForCausalLM");
    if (!lm) return mt_ctx_status(ctx);
    g->text.root = lm;
    g->text.ext = g;
    g->text.hooks.merge_embeds = gemma3_merge;
    m->cfg = tc;
    st = mt_dec_build(m, &g->text);
    m->cfg = top;
    if (st != MT_OK) return mt_ctx_status(ctx);
    mt_vision_info(m, g->vision.hidden, g->vision.intermediate, g->vision.layers, g->vision.heads,
                   g->vision.image_size, g->vision.patch_size);
    mt_model_info(m, "mm_tokens_per_image", mt_a_int(g->mm_tokens));
    mt_model_info(m, "image_token_index", mt_a_int(g->image_token));
    return MT_OK;
}

static mt_status gemma3_mm_forward(mt_model *m, mt_tracer *tr) {
    gemma3_mm *g = m->family;
    mt_status st = mt_image_input(m, tr, g->mm_tokens, g->vision.channels, g->vision.image_size, g->text.dtype);
    if (st != MT_OK) return st;
    return mt_dec_forward(m, tr, &g->text);
}

/* The language model alone: mt_totals.text_params. */
static mt_status gemma3_mm_totals(const mt_model *m, mt_totals *t) {
    const gemma3_mm *g = m->family;
    if (!mt_params_under(m->ctx, g->text.root, &t->text_params)) return mt_ctx_status(m->ctx);
    t->text_param_bytes = t->text_params * (int64_t)mt_dtype_size(g->text.dtype);
    return MT_OK;
}

static const char *const gemma3_mm_classes[] = {"Gemma3ForConditionalGeneration", NULL};

const mt_arch mt_arch_gemma3 = {
    .model_type = "gemma3",
    .default_class = "Gemma3ForConditionalGeneration",
    .example = "google/gemma-3-4b-it",
    .build = gemma3_mm_build,
    .forward = gemma3_mm_forward,
    .totals = gemma3_mm_totals,
    .classes = gemma3_mm_classes,
    .max_positions = 131072, /* its text_config's, Gemma3TextConfig's default */
};
