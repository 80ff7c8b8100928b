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

static mt_status gemma3_build(mt_model *m) {
    mt_dec_spec *s = mt_alloc(m->ctx, sizeof *s);
    if (!s) return mt_ctx_status(m->ctx);
    m->family = s;
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
    s->caps.layout = MT_LAYOUT_SANDWICH;
    s->caps.qk_norm = MT_QK_NORM_HEAD_T;
    s->caps.attn_scale = pow(qpas, -0.5);
    s->caps.embed_scale = sqrt((double)s->hidden);
    s->caps.embed_cls = "Gemma3TextScaledWordEmbedding";
    s->caps.embed_padding_idx = mt_dec_cfg_is_null(m, "pad_token_id") ? -1 : pad;
    s->caps.local_rope_theta = local_theta;
    s->caps.sliding = read_sliding(m, s);
    if (!s->caps.sliding) return mt_ctx_status(m->ctx);
    if (mt_dec_read_rope(m, s) != MT_OK) return mt_ctx_status(m->ctx);
    return mt_dec_build(m, s);
}

static mt_status gemma3_forward(mt_model *m, mt_tracer *tr) { return mt_dec_forward(m, tr, m->family); }

const mt_arch mt_arch_gemma3_text = {
    .model_type = "gemma3_text",
    .default_class = "Gemma3ForCausalLM",
    .example = "google/gemma-3-1b-it",
    .build = gemma3_build,
    .forward = gemma3_forward,
};
