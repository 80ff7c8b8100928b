/* Qwen3.5 (qwen3_5_text: Qwen3_5ForCausalLM, dense) and Qwen3.5-MoE
 * (qwen3_5_moe_text: Qwen3_5MoeForCausalLM), and the released checkpoints' whole
 * multimodal models Qwen3_5ForConditionalGeneration / Qwen3_5MoeForConditionalGeneration
 * (model_type qwen3_5 / qwen3_5_moe; --text-only traces their language model from
 * text_config, src/model.c's MULTIMODAL table). Read at the source: transformers,
 * src/transformers/models/qwen3_5/{modular,modeling,configuration}_qwen3_5.py
 * and qwen3_5_moe/{modular,configuration}_qwen3_5_moe.py (the stored mirror's
 * versions of 2026: v5, rope_parameters).
 *
 * What differs from Qwen3-Next (qwen3_next.c, whose pieces this file composes
 * through qwen3_next.h):
 * - Gated DeltaNet (Qwen3_5GatedDeltaNet): four separate input projections
 *   in_proj_qkv [2*key_dim + value_dim, hidden] (already q|k|v, no
 *   fix_query_key_value_ordering), in_proj_z [value_dim, hidden], in_proj_b and
 *   in_proj_a [num_v_heads, hidden], registered after out_proj (the modular class
 *   deletes Qwen3-Next's in_proj_qkvz / in_proj_ba and appends them); its norm's
 *   output reshaped straight to [batch, seq, -1]. The rest (padding mask, causal
 *   depthwise conv1d, torch_chunk_gated_delta_rule, the gated RMSNorm) is
 *   Qwen3-Next's.
 * - MLP: dense Qwen3_5MLP (intermediate_size) on every layer; Qwen3_5TextConfig
 *   deletes every expert field. The MoE model puts Qwen3-Next's sparse block
 *   (softmax top-k router `gate`, experts, sigmoid-gated shared_expert) on every
 *   layer: decoder_sparse_step, mlp_only_layers and norm_topk_prob are deleted from
 *   Qwen3_5MoeTextConfig (its router always renormalizes the top-k weights).
 * - Rotary: rope_parameters (rope_theta, partial_rotary_factor, mrope_section,
 *   mrope_interleaved); Qwen3_5TextRotaryEmbedding is Qwen3-VL's interleaved
 *   M-RoPE over int(head_dim * partial_rotary_factor) channels.
 * - Names: the checkpoints store model.language_model.* beside lm_head, for the
 *   multimodal class and for the text-only ones alike (transformers'
 *   conversion_mapping renames model.language_model.* to model.* when it loads
 *   Qwen3_5ForCausalLM and back when it saves; the public text-only checkpoints
 *   of tests/unit/test_qwen3_5.c store model.language_model.*), so the decoder is
 *   built under model (Qwen3_5Model) as language_model (Qwen3_5TextModel).
 * - Defaults (Qwen3_5TextConfig): vocab 248320, hidden 4096, intermediate 12288,
 *   32 layers, 16 heads, 4 KV heads, head_dim 256; (Qwen3_5MoeTextConfig): vocab
 *   248320, hidden 2048, 40 layers, 256 experts top-8, 2 KV heads; the rest
 *   Qwen3NextConfig's (moe/shared expert 512, linear heads 16 key / 32 value of
 *   128, conv kernel 4, partial_rotary_factor 0.25, untied).
 *
 * Recorded departures (as the other families' conventions): the MoE checkpoint
 * found (tests/data/index, saved by transformers 5.2) stores the experts one module
 * per expert (mlp.experts.N.{gate,up,down}_proj.weight, which transformers v5
 * merges into a 3-D Qwen3_5MoeExperts on load through its conversion_mapping), and
 * they are built and traced so, as the per-expert loop of Qwen3-Next's sparse
 * block; the chunked rule keeps Qwen3-Next's FX target (the same function, which
 * modeling_qwen3_5.py copies); the M-RoPE of a text-only input
 * (position_ids arange(seq) expanded to the 3 rotary rows, all equal) gives the
 * 1-D rotary's cos/sin, which is what is recorded (no interleaving nodes);
 * position_ids is arange(seq)[None] (the 4-row text/rotary split is not
 * recorded).
 *
 * The whole model (read at modeling_qwen3_5.py of the stored mirror commit d8c1e2844cbf, the
 * generation of qwen3_vl.c's source: rot_pos_emb with block_rows, fast_pos_embed_interpolate):
 * Qwen3_5Model holds visual (Qwen3_5VisionModel: Qwen3-VL's tower without deepstack_merger_list,
 * composed from qwen3_vl.c through qwen_vl.h; its forward adds pos_embeds without Qwen3-VL's
 * .to(input dtype)) and language_model; lm_head beside model, tied when the top-level
 * tie_word_embeddings says so. Its forward: the token embedding, the tower's merged features
 * .to(inputs_embeds.dtype) scattered where input_ids == image_token_id, then the language model
 * with position_ids [3, batch, seq] as an input (get_rope_index's result, as for Qwen3-VL; a
 * 3-row position_ids gives text_position_ids = position_ids[0], read only by the mask functions,
 * not recorded): Qwen3_5TextRotaryEmbedding's interleaved M-RoPE (apply_interleaved_mrope, as
 * Qwen3-VL's: caps.mrope_interleaved) over the rotary_dim / 2 partial frequencies, then the
 * attention's partial rotary as in the text model. No deepstack adds. Each image is traced at the
 * position table's grid (docs/cli.md, Multimodal models). The newer generation of the file
 * (009e78d6e89f: an axial vision rotary module, get_vision_interpolation_indices_and_weights,
 * 4-row position_ids) records other ops and is not what is traced here. The
 * checkpoints' multi-token-prediction layer (mtp.*) is not part of the model
 * transformers builds (_keys_to_ignore_on_load_unexpected) and not built here. */
#include <string.h>

#include <jansson.h>

#include "qwen3_next.h"
#include "qwen_vl.h"

/* The whole model's (qwen3_5, qwen3_5_moe): Qwen3-Next's hooks read mm->fam as the mt_qnext, its first member. */
typedef struct q35 {
    mt_qnext q;
    mt_qwen3_vit t;   /* the vision tower (qwen3_vl.c's, without deepstack) */
    int64_t mrope[3]; /* rope_parameters.mrope_section */
    int64_t image_token;
    bool tie;         /* the top-level tie_word_embeddings (Qwen3_5Config's own field) */
    mt_module *model; /* Qwen3_5Model: visual, language_model */
    mt_tensor *position_ids, *pixel_values; /* the trace's inputs */
} q35;

static const mt_dec_names qwen3_5_names = {
    "Qwen3_5TextModel", "Qwen3_5DecoderLayer", "Qwen3_5Attention", "Qwen3_5MLP", "Qwen3_5RMSNorm",
    "Qwen3_5TextRotaryEmbedding",
};
static const mt_dec_names qwen3_5_moe_names = {
    "Qwen3_5MoeTextModel", "Qwen3_5MoeDecoderLayer", "Qwen3_5MoeAttention", "Qwen3_5MoeMLP", "Qwen3_5MoeRMSNorm",
    "Qwen3_5MoeTextRotaryEmbedding",
};

/* Qwen3_5TextConfig / Qwen3_5MoeTextConfig defaults (the rest inherited from Qwen3NextConfig). */
static const mt_dec_defaults qwen3_5_defaults = {
    .vocab = 248320, .hidden = 4096, .intermediate = 12288, .layers = 32, .heads = 16, .kv_heads = 4,
    .norm_eps = 1e-6, .rope_theta = 10000.0, .hidden_act = "silu", .norm_eps_key = "rms_norm_eps",
    .tie_embeddings = false, .head_dim = 256,
};
static const mt_dec_defaults qwen3_5_moe_defaults = {
    .vocab = 248320, .hidden = 2048, .intermediate = 5632, .layers = 40, .heads = 16, .kv_heads = 2,
    .norm_eps = 1e-6, .rope_theta = 10000.0, .hidden_act = "silu", .norm_eps_key = "rms_norm_eps",
    .tie_embeddings = false, .head_dim = 256,
};

/* rope_parameters: rope_type "default" only; rope_theta; partial_rotary_factor (there, else the top-level key,
 * else 0.25: Qwen3_5TextConfig's kwargs.setdefault), giving rotary_dim; mrope_section recorded. */
static mt_status read_rope(mt_model *m, mt_dec_spec *s) {
    mt_config *c = m->cfg;
    const char *type;
    double prf;
    if (!mt_config_str(c, "rope_parameters.rope_type", "default", &type) ||
        !mt_config_float(c, "rope_parameters.rope_theta", s->rope_theta, &s->rope_theta) ||
        !mt_config_float(c, "partial_rotary_factor", 0.25, &prf) ||
        !mt_config_float(c, "rope_parameters.partial_rotary_factor", prf, &prf))
        return mt_ctx_status(m->ctx);
    if (strcmp(type, "default") != 0)
        return mt_config_error(c, "rope_parameters.rope_type", "unsupported rope type '%s'; expected \"default\" "
                               "(%s)", type, m->model_type);
    s->rope_type = "default";
    s->rotary_dim = (int64_t)((double)s->head_dim * prf); /* int(head_dim * partial_rotary_factor) */
    if (prf <= 0 || prf > 1 || s->rotary_dim < 2 || s->rotary_dim % 2 != 0)
        return mt_config_error(c, mt_config_has(c, "rope_parameters.partial_rotary_factor")
                                      ? "rope_parameters.partial_rotary_factor" : "partial_rotary_factor",
                               "head_dim %lld * %g gives %lld rotary channels; expected an even number >= 2 (%s)",
                               (long long)s->head_dim, prf, (long long)s->rotary_dim, m->model_type);
    return MT_OK;
}

/* rope_parameters.mrope_section (Qwen3_5TextRotaryEmbedding's .get default [11, 11, 10]): three positive ints
 * whose interleaved channels range(i, 3 * section[i], 3) for i = 1, 2 fall in the rotary_dim / 2 frequencies
 * (Python's slice stops at the end, the recorded scatter_ index does not: Qwen3.5's [11, 11, 10] over 32
 * frequencies writes height channels 1..31, its slice's stop 33 past the end). */
static mt_status read_mrope(mt_model *m, mt_dec_spec *s, q35 *w) {
    mt_config *c = m->cfg;
    const char *f = "rope_parameters.mrope_section";
    w->mrope[0] = 11, w->mrope[1] = 11, w->mrope[2] = 10;
    json_t *ms = mt_config_json(c, f);
    if (ms && !json_is_null(ms)) {
        if (!json_is_array(ms) || json_array_size(ms) != 3)
            return mt_config_error(c, f, "expected a list of 3 positive ints (temporal, height, width channels)");
        for (int i = 0; i < 3; i++) {
            json_t *v = json_array_get(ms, (size_t)i);
            if (!json_is_integer(v) || json_integer_value(v) <= 0 || json_integer_value(v) > MT_MAX_HIDDEN)
                return mt_config_error(c, f, "entry %d: expected a positive int", i);
            w->mrope[i] = json_integer_value(v);
        }
    }
    for (int i = 1; i < 3; i++) {
        int64_t last = i + 3 * ((3 * w->mrope[i] - i - 1) / 3); /* range(i, 3 * section[i], 3)[-1] */
        if (last >= s->rotary_dim / 2)
            return mt_config_error(c, f,
                                   "mrope_section[%d] = %lld: its interleaved channel %lld is past the %lld rotary "
                                   "frequencies (head_dim x partial_rotary_factor / 2)",
                                   i, (long long)w->mrope[i], (long long)last, (long long)(s->rotary_dim / 2));
    }
    s->caps.mrope_section = w->mrope;
    s->caps.mrope_interleaved = true;
    return MT_OK;
}

static q35 *q35_of(const mt_dec_spec *s) { return (q35 *)((const mt_moe_model *)s->ext)->fam; }

/* Qwen3_5Model.forward's image path: get_image_features (the tower on pixel_values), torch.cat(...)
 * .to(inputs_embeds.dtype), get_placeholder_mask (input_ids == image_token_id, unsqueeze(-1), expand_as),
 * inputs_embeds.masked_scatter. The split and the cat over the images are one tensor (not recorded). */
static mt_tensor *q35_merge(mt_tracer *tr, mt_model *m, const mt_dec_spec *s, mt_tensor *ids, mt_tensor *embeds) {
    q35 *w = q35_of(s);
    if (!embeds || !w->pixel_values) return NULL;
    const mt_sym *images = mt_model_input_dim(m, "images");
    mt_tensor *feat = mt_qwen3_vit_forward(tr, &w->t, w->pixel_values, images);
    feat = mt_to(tr, feat, embeds->dtype);
    mt_tensor *mask = mt_image_token_mask(tr, ids, w->image_token, embeds);
    return mt_masked_scatter(tr, embeds, mask, feat);
}

/* position_ids [3, batch, seq] is the graph input (get_rope_index's result). */
static mt_tensor *q35_position_ids(mt_tracer *tr, mt_model *m, const mt_dec_spec *s, mt_tensor *cache_pos,
                                   mt_tensor *h) {
    (void)tr, (void)m, (void)cache_pos, (void)h;
    return q35_of(s)->position_ids;
}

/* The language model from m->cfg (its text_config): under a new model module `model`, or, for the whole
 * model (w), under w->model beside the tower, with interleaved M-RoPE over the position_ids input. */
static mt_status build(mt_model *m, bool moe, q35 *w) {
    mt_moe_model *mm = mt_moe_model_new(m);
    mt_qnext *q = w ? &w->q : mt_alloc(m->ctx, sizeof *q);
    if (!mm || !q) return mt_ctx_status(m->ctx);
    mm->fam = q;
    mt_dec_spec *s = &mm->dec;
    mt_config *c = m->cfg;
    const mt_dec_defaults *d = moe ? &qwen3_5_moe_defaults : &qwen3_5_defaults;
    s->cls = moe ? qwen3_5_moe_names : qwen3_5_names;
    int64_t cfg_layers;
    bool bias;
    if (mt_dec_read_common(m, s, d) != MT_OK || read_rope(m, s) != MT_OK ||
        !mt_config_int(c, "num_hidden_layers", d->layers, &cfg_layers) ||
        !mt_config_bool(c, "attention_bias", false, &bias))
        return mt_ctx_status(m->ctx);
    mt_moe_spec *e = &mm->moe;
    if (moe) {
        if (!mt_config_pos_int(c, "num_experts", 256, &e->num_experts) ||
            !mt_config_pos_int(c, "num_experts_per_tok", 8, &e->top_k) ||
            !mt_config_pos_int(c, "moe_intermediate_size", 512, &e->expert_inter) ||
            !mt_config_pos_int(c, "shared_expert_intermediate_size", 512, &e->shared_inter))
            return mt_ctx_status(m->ctx);
        if (e->top_k > e->num_experts)
            return mt_config_error(c, "num_experts_per_tok", "num_experts_per_tok %lld exceeds num_experts %lld (%s)",
                                   (long long)e->top_k, (long long)e->num_experts, m->model_type);
        e->norm_topk = true;
        e->router = MT_ROUTE_SOFTMAX_TOPK;
        e->block_cls = "Qwen3_5MoeSparseMoeBlock";
        e->expert_cls = "Qwen3_5MoeMLP";
        e->shared_name = "shared_expert";
        e->shared_cls = "Qwen3_5MoeMLP";
        e->shared_gate = true;
    }
    q->split_proj = true;
    q->sparse_step = 1;
    q->deltanet_cls = moe ? "Qwen3_5MoeGatedDeltaNet" : "Qwen3_5GatedDeltaNet";
    q->gated_norm_cls = moe ? "Qwen3_5MoeRMSNormGated" : "Qwen3_5RMSNormGated";
    bool *none = mt_alloc_array(m->ctx, (size_t)(s->layers > 0 ? s->layers : 1), sizeof *none);
    if (!none) return mt_ctx_status(m->ctx);
    q->mlp_only = none; /* Qwen3.5 deletes mlp_only_layers: every layer is sparse (MoE) or dense */
    if (mt_qnext_read_linear(m, q, cfg_layers, s->layers) != MT_OK) return mt_ctx_status(m->ctx);
    s->qkv_bias = s->o_bias = bias;
    s->caps.norm = MT_NORM_RMS_GEMMA;
    s->names.attn_alt = "linear_attn";
    s->names.model = "language_model";
    s->model_parent = w ? w->model : mt_module_new(m->ctx, m->root, "model", moe ? "Qwen3_5MoeModel" : "Qwen3_5Model");
    if (!s->model_parent) return mt_ctx_status(m->ctx);
    if (w) {
        if (read_mrope(m, s, w) != MT_OK) return mt_ctx_status(m->ctx);
        s->tie_embeddings = w->tie;
        s->hooks.merge_embeds = q35_merge;
        s->hooks.position_ids = q35_position_ids;
    }
    s->hooks.build_attn = mt_qnext_build_attn;
    s->hooks.build_mlp = mt_qnext_build_mlp;
    s->hooks.mlp_forward = mt_moe_mlp_forward;
    if (mt_dec_build(m, s) != MT_OK) return mt_ctx_status(m->ctx);
    s->hooks.attn_forward = mt_qnext_attn_forward; /* after mt_dec_build: its attention choice keeps eager and sdpa */
    mt_qnext_info(m, mm);
    json_t *ms = mt_config_json(c, "rope_parameters.mrope_section");
    if (ms && json_is_array(ms) && json_array_size(ms) == 3) {
        char sec[64];
        snprintf(sec, sizeof sec, "[%lld, %lld, %lld]", (long long)json_integer_value(json_array_get(ms, 0)),
                 (long long)json_integer_value(json_array_get(ms, 1)),
                 (long long)json_integer_value(json_array_get(ms, 2)));
        mt_model_info(m, "mrope_section", mt_a_str(mt_strdup(m->ctx, sec)));
    }
    return MT_OK;
}

static mt_status qwen3_5_build(mt_model *m) { return build(m, false, NULL); }
static mt_status qwen3_5_moe_build(mt_model *m) { return build(m, true, NULL); }

static mt_status qwen3_5_forward(mt_model *m, mt_tracer *tr) {
    mt_moe_model *mm = m->family;
    return mt_dec_forward(m, tr, &mm->dec);
}

const mt_arch mt_arch_qwen3_5_text = {
    .model_type = "qwen3_5_text",
    .default_class = "Qwen3_5ForCausalLM",
    .example = "Qwen/Qwen3.5-27B (text_config)",
    .build = qwen3_5_build,
    .forward = qwen3_5_forward,
    .totals = mt_moe_totals,
};

const mt_arch mt_arch_qwen3_5_moe_text = {
    .model_type = "qwen3_5_moe_text",
    .default_class = "Qwen3_5MoeForCausalLM",
    .example = "Qwen/Qwen3.5-35B-A3B (text_config)",
    .build = qwen3_5_moe_build,
    .forward = qwen3_5_forward,
    .totals = mt_moe_totals,
};

/* ---- the whole model (qwen3_5, qwen3_5_moe; see the header) ------------------------------ */
static mt_status whole_build(mt_model *m, bool moe) {
    mt_ctx *ctx = m->ctx;
    q35 *w = mt_alloc(ctx, sizeof *w);
    if (!w) return mt_ctx_status(ctx);
    const char *wrapper = moe ? "Qwen3_5MoeConfig" : "Qwen3_5Config";
    mt_config *top = m->cfg;
    mt_config *vc = mt_config_sub(top, "vision_config");
    mt_config *tc = mt_config_sub(top, "text_config");
    if (!vc) return mt_config_error(top, "vision_config", "expected a vision_config object (%s)", wrapper);
    if (!tc) return mt_config_error(top, "text_config", "expected a text_config object (%s)", wrapper);
    if (!mt_config_int(top, "image_token_id", 248056, &w->image_token) ||
        !mt_config_bool(top, "tie_word_embeddings", false, &w->tie))
        return mt_ctx_status(ctx);
    /* the tower first: --layers (m->num_layers) still holds the request */
    w->t.cls = moe ? "Qwen3_5Moe" : "Qwen3_5";
    m->cfg = vc;
    mt_status st = mt_qwen3_vit_read(m, vc, &w->t);
    m->cfg = top;
    if (st != MT_OK) return mt_ctx_status(ctx);
    w->model = mt_module_new(ctx, m->root, "model", moe ? "Qwen3_5MoeModel" : "Qwen3_5Model");
    if (!w->model) return mt_ctx_status(ctx);
    m->cfg = vc;
    w->t.visual = mt_qwen3_vit_build(m, &w->t, w->model);
    m->cfg = tc;
    st = w->t.visual ? build(m, moe, w) : mt_ctx_status(ctx);
    m->cfg = top;
    if (st != MT_OK) return mt_ctx_status(ctx);
    mt_moe_model *mm = m->family;
    if (mt_qwen3_vit_check(&w->t, vc, top, w->image_token, mm->dec.hidden, mm->dec.vocab) != MT_OK)
        return mt_ctx_status(ctx);
    mt_qwen3_vit_info(m, &w->t, w->image_token);
    return mt_ctx_status(ctx);
}

static mt_status qwen3_5_whole_build(mt_model *m) { return whole_build(m, false); }
static mt_status qwen3_5_moe_whole_build(mt_model *m) { return whole_build(m, true); }

static mt_status whole_forward(mt_model *m, mt_tracer *tr) {
    mt_moe_model *mm = m->family;
    q35 *w = q35_of(&mm->dec);
    if (mt_qwen_vl_inputs(m, tr, &w->t.v, mm->dec.dtype, &w->position_ids, &w->pixel_values) != MT_OK)
        return mt_ctx_status(m->ctx);
    return mt_dec_forward(m, tr, &mm->dec);
}

/* mt_moe_totals (active parameters), and the language model alone (model.language_model.*, lm_head):
 * mt_totals.text_params. */
static mt_status whole_totals(const mt_model *m, mt_totals *t) {
    if (mt_moe_totals(m, t) != MT_OK) return mt_ctx_status(m->ctx);
    const mt_moe_model *mm = m->family;
    const q35 *w = (const q35 *)mm->fam;
    int64_t vis = 0;
    if (!mt_params_under(m->ctx, w->t.visual, &vis)) return mt_ctx_status(m->ctx);
    t->text_params = t->params - vis;
    t->text_param_bytes = t->text_params * (int64_t)mt_dtype_size(mm->dec.dtype);
    return MT_OK;
}

static const char *const qwen3_5_classes[] = {"Qwen3_5ForConditionalGeneration", NULL};
static const char *const qwen3_5_moe_classes[] = {"Qwen3_5MoeForConditionalGeneration", NULL};

const mt_arch mt_arch_qwen3_5 = {
    .model_type = "qwen3_5",
    .default_class = "Qwen3_5ForConditionalGeneration",
    .example = "Qwen/Qwen3.5-9B",
    .build = qwen3_5_whole_build,
    .forward = whole_forward,
    .totals = whole_totals,
    .classes = qwen3_5_classes,
};

const mt_arch mt_arch_qwen3_5_moe = {
    .model_type = "qwen3_5_moe",
    .default_class = "Qwen3_5MoeForConditionalGeneration",
    .example = "Qwen/Qwen3.5-35B-A3B",
    .build = qwen3_5_moe_whole_build,
    .forward = whole_forward,
    .totals = whole_totals,
    .classes = qwen3_5_moe_classes,
};
