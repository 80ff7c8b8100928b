/* Shared decoder blocks: config reading, module construction, forward. */
#include <float.h>
#include <math.h>
#include <string.h>

#include <jansson.h>

#include "blocks.h"
#include "graph_internal.h"

/* ---- activations ---- */
static const struct act_def {
    const char *hidden_act; /* config name */
    const char *cls;        /* transformers class */
    bool leaf;              /* torch.nn built-in (call_module) */
    mt_op_id op;
    const char *approximate;
} act_defs[] = {
    {"silu", "SiLU", true, MT_OP_SILU, NULL},
    {"swish", "SiLU", true, MT_OP_SILU, NULL},
    {"relu", "ReLU", true, MT_OP_RELU, NULL},
    {"tanh", "Tanh", true, MT_OP_TANH, NULL},
    {"sigmoid", "Sigmoid", true, MT_OP_SIGMOID, NULL},
    {"gelu", "GELUActivation", false, MT_OP_GELU, NULL},
    {"gelu_new", "NewGELUActivation", false, MT_OP_GELU, "tanh"},
    {"gelu_fast", "FastGELUActivation", false, MT_OP_GELU, "tanh"},
    {"gelu_pytorch_tanh", "PytorchGELUTanh", false, MT_OP_GELU, "tanh"},
};

static const struct act_def *act_lookup(const char *name) {
    for (size_t i = 0; i < sizeof act_defs / sizeof act_defs[0]; i++)
        if (strcmp(act_defs[i].hidden_act, name) == 0) return &act_defs[i];
    return NULL;
}

mt_module *mt_act_new(mt_model *m, mt_module *parent, const char *name, const char *hidden_act,
                      const char *field) {
    const struct act_def *d = act_lookup(hidden_act);
    if (!d) {
        char list[512] = "";
        for (size_t i = 0; i < sizeof act_defs / sizeof act_defs[0]; i++) {
            if (i) strncat(list, ", ", sizeof list - strlen(list) - 1);
            strncat(list, act_defs[i].hidden_act, sizeof list - strlen(list) - 1);
        }
        mt_config_error(m->cfg, field, "unsupported activation '%s'; expected one of: %s", hidden_act, list);
        return NULL;
    }
    mt_module *a = d->leaf ? mt_nn_act(m->ctx, parent, name, d->cls)
                           : mt_module_new(m->ctx, parent, name, d->cls);
    if (a) mt_module_attr(m->ctx, a, "hidden_act", mt_a_str(d->hidden_act));
    return a;
}

mt_tensor *mt_act_forward(mt_tracer *tr, mt_module *act, mt_tensor *x) {
    if (!x || !act) return NULL;
    if (act->leaf != MT_LEAF_NONE) return mt_tr_call(tr, act, x);
    const mt_arg *h = mt_module_get_attr(act, "hidden_act");
    const struct act_def *d = h ? act_lookup(h->v.s) : NULL;
    if (!d) return NULL;
    mt_tr_enter(tr, act);
    mt_tensor *y = d->op == MT_OP_GELU ? mt_gelu(tr, x, d->approximate) : mt_unary(tr, d->op, x);
    mt_tr_leave(tr);
    return y;
}

double mt_dtype_min(mt_dtype dt) {
    switch (dt) {
    case MT_FLOAT16: return -65504.0;
    case MT_BFLOAT16: return -3.3895313892515355e+38;
    case MT_FLOAT64: return -DBL_MAX;
    default: return -FLT_MAX;
    }
}

/* Round to the nearest value of dt: float16 keeps 11 significant bits,
 * bfloat16 8, float32 24 (ties to even; normal range only). */
double mt_dtype_round(mt_dtype dt, double v) {
    int bits = dt == MT_FLOAT16 ? 11 : dt == MT_BFLOAT16 ? 8 : dt == MT_FLOAT32 ? 24 : 0;
    if (!bits || v == 0.0 || !isfinite(v)) return v;
    int e;
    double m = frexp(v, &e); /* v = m * 2^e, 0.5 <= |m| < 1 */
    return ldexp(nearbyint(ldexp(m, bits)), e - bits);
}

bool mt_dec_cfg_is_null(mt_model *m, const char *key) {
    json_t *root = mt_config_json(m->cfg, "");
    json_t *v = root ? json_object_get(root, key) : NULL;
    return v && json_is_null(v);
}

bool mt_dec_read_window(mt_model *m, const char *key, int64_t def, int64_t *out) {
    if (mt_dec_cfg_is_null(m, key)) { *out = 0; return true; }
    int64_t w;
    if (!mt_config_int(m->cfg, key, def, &w)) return false;
    if (w < 0) {
        mt_config_error(m->cfg, key, "expected a non-negative window size or null, got %lld (%s)", (long long)w,
                     m->model_type);
        return false;
    }
    *out = w;
    return true;
}

bool mt_dec_require(mt_model *m, const char *field) {
    if (mt_config_has(m->cfg, field)) return true;
    mt_config_error(m->cfg, field, "missing required field '%s' (family %s)", field, m->model_type);
    return false;
}

bool mt_dec_read_layer_flags(mt_model *m, const char *key, int64_t cfg_layers, int64_t layers, const bool **out) {
    *out = NULL;
    json_t *root = mt_config_json(m->cfg, "");
    json_t *v = root ? json_object_get(root, key) : NULL;
    if (!v || json_is_null(v)) return true;
    if (!json_is_array(v) || (int64_t)json_array_size(v) < cfg_layers) {
        mt_config_error(m->cfg, key, "expected a list of at least %lld per-layer 0/1 flags (num_hidden_layers) (%s)",
                     (long long)cfg_layers, m->model_type);
        return false;
    }
    bool *f = mt_alloc_array(m->ctx, (size_t)(layers > 0 ? layers : 1), sizeof *f);
    if (!f) return false;
    for (size_t i = 0; i < json_array_size(v); i++) {
        json_t *e = json_array_get(v, i);
        bool ok = json_is_boolean(e) || (json_is_integer(e) && (json_integer_value(e) == 0 || json_integer_value(e) == 1));
        if (!ok) {
            char field[64];
            snprintf(field, sizeof field, "%s.%zu", key, i);
            mt_config_error(m->cfg, field, "expected 0 or 1 (%s)", m->model_type);
            return false;
        }
        if ((int64_t)i < layers) f[i] = json_is_boolean(e) ? json_is_true(e) : json_integer_value(e) != 0;
    }
    *out = f;
    return true;
}

bool mt_dec_read_layer_types(mt_model *m, int64_t cfg_layers, int64_t layers, const bool **out) {
    *out = NULL;
    json_t *root = mt_config_json(m->cfg, "");
    json_t *lt = root ? json_object_get(root, "layer_types") : NULL;
    if (!lt || json_is_null(lt)) return true;
    if (!json_is_array(lt) || (int64_t)json_array_size(lt) != cfg_layers) {
        mt_config_error(m->cfg, "layer_types", "expected a list of %lld layer types (num_hidden_layers) (%s)",
                     (long long)cfg_layers, m->model_type);
        return false;
    }
    bool *v = mt_alloc_array(m->ctx, (size_t)(layers > 0 ? layers : 1), sizeof *v);
    if (!v) return false;
    for (size_t i = 0; i < json_array_size(lt); i++) {
        const char *t = json_string_value(json_array_get(lt, i));
        bool slide = t && strcmp(t, "sliding_attention") == 0;
        if (!slide && !(t && strcmp(t, "full_attention") == 0)) {
            char field[48];
            snprintf(field, sizeof field, "layer_types.%zu", i);
            mt_config_error(m->cfg, field, "expected \"sliding_attention\" or \"full_attention\" (%s)", m->model_type);
            return false;
        }
        if ((int64_t)i < layers) v[i] = slide;
    }
    *out = v;
    return true;
}

const bool *mt_dec_sliding_pattern(mt_model *m, int64_t layers, int64_t period, int64_t offset) {
    bool *v = mt_alloc_array(m->ctx, (size_t)(layers > 0 ? layers : 1), sizeof *v);
    if (!v) return NULL;
    for (int64_t i = 0; i < layers; i++) v[i] = period > 0 && (i + offset) % period != 0;
    return v;
}

/* The kinds of the shared blocks' handles (blocks.h). */
const mt_handle_kind mt_dec_h_kind = {"mt_dec_h"};
const mt_handle_kind mt_dec_layer_h_kind = {"mt_dec_layer_h"};
const mt_handle_kind mt_attn_h_kind = {"mt_attn_h"};
const mt_handle_kind mt_mlp_h_kind = {"mt_mlp_h"};
const mt_handle_kind mt_fc_mlp_h_kind = {"mt_fc_mlp_h"};
const mt_handle_kind mt_norm_h_kind = {"mt_norm_h"};
const mt_handle_kind mt_rope_h_kind = {"mt_rope_h"};

mt_status mt_fc_mlp_bind(mt_ctx *ctx, mt_module *mlp, mt_module *fc1, mt_module *act, mt_module *fc2) {
    mt_fc_mlp_h *h = MT_BIND(ctx, mlp, mt_fc_mlp_h);
    if (!h) return mt_ctx_status(ctx);
    *h = (mt_fc_mlp_h){fc1, act, fc2};
    return MT_OK;
}

/* Module names: the family's override or Llama's. */
#define NM(s, field, def) ((s)->names.field ? (s)->names.field : (def))

/* ---- config ---- */
mt_status mt_model_read_dtype(mt_model *m, mt_dtype *out) {
    if (m->dtype != MT_DTYPE_NONE) { *out = m->dtype; return MT_OK; }
    /* a language model read from a multimodal config's text_config takes the
     * whole checkpoint's torch_dtype when its own config has none */
    mt_config *cfg = m->cfg;
    while (!mt_config_has(cfg, "torch_dtype") && !mt_config_has(cfg, "dtype") && mt_config_parent(cfg))
        cfg = mt_config_parent(cfg);
    /* and a whole multimodal checkpoint whose config records it only in text_config (Qwen3-VL's
     * Hub configs) takes that one */
    bool own = mt_config_has(cfg, "torch_dtype") || mt_config_has(cfg, "dtype");
    mt_config *tc = own ? NULL : mt_config_sub(cfg, "text_config");
    if (tc && (mt_config_has(tc, "torch_dtype") || mt_config_has(tc, "dtype"))) cfg = tc;
    const char *key = mt_config_has(cfg, "torch_dtype") ? "torch_dtype" : "dtype";
    const char *name;
    if (!mt_config_str(cfg, key, "float32", &name)) return mt_ctx_status(m->ctx);
    if (strcmp(name, "auto") == 0) name = "float32";
    mt_dtype dt = mt_dtype_parse(name);
    if (dt == MT_DTYPE_NONE || !mt_dtype_is_floating(dt))
        return mt_config_error(cfg, key, "expected a floating dtype name such as \"bfloat16\", got \"%s\"", name);
    *out = dt;
    return MT_OK;
}

mt_status mt_dec_read_common(mt_model *m, mt_dec_spec *s, const mt_dec_defaults *d) {
    mt_config *c = m->cfg;
    s->family = m->model_type;
    if (mt_model_read_dtype(m, &s->dtype) != MT_OK) return mt_ctx_status(m->ctx);
    if (!mt_config_pos_int(c, "vocab_size", d->vocab, &s->vocab) ||
        !mt_config_pos_int(c, "hidden_size", d->hidden, &s->hidden) ||
        !mt_config_pos_int(c, "intermediate_size", d->intermediate, &s->intermediate) ||
        !mt_config_pos_int(c, "num_hidden_layers", d->layers, &s->layers) ||
        !mt_config_pos_int(c, "num_attention_heads", d->heads, &s->heads) ||
        !mt_config_pos_int(c, "num_key_value_heads",
                        (d->kv_heads > 0 && !mt_dec_cfg_is_null(m, "num_key_value_heads")) ? d->kv_heads : s->heads,
                        &s->kv_heads) ||
        !mt_config_float(c, d->norm_eps_key, d->norm_eps, &s->norm_eps) ||
        !mt_config_str(c, "hidden_act", d->hidden_act, &s->hidden_act) ||
        !mt_config_bool(c, "tie_word_embeddings", d->tie_embeddings, &s->tie_embeddings) ||
        !mt_config_float(c, "rope_theta", d->rope_theta, &s->rope_theta))
        return mt_ctx_status(m->ctx);
    if (m->num_layers > 0) s->layers = m->num_layers; /* --layers override */
    m->num_layers = s->layers;
    if (mt_config_has(c, "head_dim")) {
        if (!mt_config_pos_int(c, "head_dim", 0, &s->head_dim)) return mt_ctx_status(m->ctx);
    } else if (d->head_dim > 0 && !mt_dec_cfg_is_null(m, "head_dim")) {
        s->head_dim = d->head_dim;
    } else {
        if (s->hidden % s->heads != 0)
            return mt_config_error(c, "num_attention_heads",
                                "hidden_size %lld is not divisible by num_attention_heads %lld (%s)",
                                (long long)s->hidden, (long long)s->heads, s->family);
        s->head_dim = s->hidden / s->heads;
    }
    if (s->heads % s->kv_heads != 0)
        return mt_config_error(c, "num_key_value_heads",
                            "num_attention_heads %lld is not divisible by num_key_value_heads %lld (%s)",
                            (long long)s->heads, (long long)s->kv_heads, s->family);
    s->rotary_dim = s->head_dim;
    s->attention_scaling = 1.0;
    return MT_OK;
}

static bool need_float(mt_model *m, const char *field, double *out) {
    if (!mt_config_has(m->cfg, field)) {
        mt_config_error(m->cfg, field, "missing required field '%s' for this rope type (%s)", field, m->model_type);
        return false;
    }
    return mt_config_float(m->cfg, field, 0, out);
}

mt_status mt_dec_read_rope(mt_model *m, mt_dec_spec *s) {
    mt_config *c = m->cfg;
    s->rope_type = "default";
    if (!mt_config_has(c, "rope_scaling")) return MT_OK;
    const char *type = NULL;
    if (mt_config_has(c, "rope_scaling.rope_type")) {
        if (!mt_config_str(c, "rope_scaling.rope_type", NULL, &type)) return mt_ctx_status(m->ctx);
    } else if (mt_config_has(c, "rope_scaling.type")) {
        if (!mt_config_str(c, "rope_scaling.type", NULL, &type)) return mt_ctx_status(m->ctx);
    } else {
        return mt_config_error(c, "rope_scaling", "expected a 'rope_type' (or 'type') field");
    }
    double f;
    if (strcmp(type, "default") == 0) {
    } else if (strcmp(type, "linear") == 0 || strcmp(type, "dynamic") == 0) {
        if (!need_float(m, "rope_scaling.factor", &f)) return mt_ctx_status(m->ctx);
        if (f < 1.0) return mt_config_error(c, "rope_scaling.factor", "expected a number >= 1, got %g", f);
    } else if (strcmp(type, "llama3") == 0) {
        double lo, hi, orig;
        if (!need_float(m, "rope_scaling.factor", &f) ||
            !need_float(m, "rope_scaling.low_freq_factor", &lo) ||
            !need_float(m, "rope_scaling.high_freq_factor", &hi) ||
            !need_float(m, "rope_scaling.original_max_position_embeddings", &orig))
            return mt_ctx_status(m->ctx);
        /* transformers (modeling_rope_utils.py, _compute_llama3_parameters) divides
         * original_max_position_embeddings by each factor; high <= low only warns there
         * (_validate_llama3_parameters): the smoothed band between the two wavelengths is
         * then empty, wavelengths above original / low are divided by factor and the rest
         * kept (Llama-4-Scout-17B-16E-Instruct: high = low = 1). A zero factor is a
         * division by zero there. */
        if (lo == 0)
            return mt_config_error(c, "rope_scaling.low_freq_factor", "expected a number other than 0 (%s)",
                                   m->model_type);
        if (hi == 0)
            return mt_config_error(c, "rope_scaling.high_freq_factor", "expected a number other than 0 (%s)",
                                   m->model_type);
    } else if (strcmp(type, "yarn") == 0 || strcmp(type, "longrope") == 0 || strcmp(type, "su") == 0) {
        /* shapes unchanged; the family computes attention_scaling if it uses them */
    } else {
        return mt_config_error(c, "rope_scaling.rope_type",
                            "unsupported rope type '%s'; expected default, linear, dynamic, llama3, yarn or longrope",
                            type);
    }
    s->rope_type = type;
    return MT_OK;
}

/* ---- construction ---- */
mt_module *mt_dec_rms_norm(mt_model *m, mt_module *parent, const char *name, const mt_dec_spec *s,
                           int64_t dim) {
    mt_module *n = mt_module_new(m->ctx, parent, name, s->cls.norm);
    if (!n) return NULL;
    mt_module_attr(m->ctx, n, "eps", mt_a_float(s->norm_eps));
    mt_param *w = mt_param_new(m->ctx, n, "weight", s->dtype, MT_DEVICE_CPU, 1, &dim);
    mt_norm_h *h = w ? MT_BIND(m->ctx, n, mt_norm_h) : NULL;
    if (!h) return NULL;
    h->weight = w;
    return n;
}

mt_module *mt_dec_norm(mt_model *m, mt_module *parent, const char *name, const mt_dec_spec *s, int64_t dim) {
    mt_ctx *ctx = m->ctx;
    mt_module *n;
    switch (s->caps.norm) {
    case MT_NORM_LAYER:
        return mt_nn_layernorm(ctx, parent, name, dim, s->norm_eps, true, !s->caps.norm_no_bias, s->dtype,
                               MT_DEVICE_CPU);
    case MT_NORM_LAYER_NOPARAM:
        n = mt_module_new(ctx, parent, name, s->cls.norm);
        if (!n) return NULL;
        mt_module_attr(ctx, n, "normalized_shape", mt_a_ints(ctx, &dim, 1));
        mt_module_attr(ctx, n, "eps", mt_a_float(s->norm_eps));
        return n;
    default: /* RMS, Gemma RMS, Cohere LayerNorm: one weight of [dim] */
        return mt_dec_rms_norm(m, parent, name, s, dim);
    }
}

static mt_module *rms_norm(mt_model *m, mt_module *parent, const char *name, const mt_dec_spec *s) {
    return mt_dec_norm(m, parent, name, s, s->hidden);
}

/* q_norm / k_norm with the class of the family's q/k norms. */
static mt_module *qk_norm(mt_model *m, mt_module *parent, const char *name, const mt_dec_spec *s, int64_t dim) {
    mt_dec_spec t = *s;
    if (s->caps.extra_norm_cls) t.cls.norm = s->caps.extra_norm_cls;
    return mt_dec_norm(m, parent, name, &t, dim);
}

/* A q/k norm with one weight row per head: [heads, head_dim] (CohereLayerNorm
 * built with hidden_size=(heads, head_dim); it still normalizes over head_dim). */
static mt_module *head_norm(mt_model *m, mt_module *parent, const char *name, const mt_dec_spec *s, int64_t heads) {
    mt_module *n = mt_module_new(m->ctx, parent, name, s->caps.extra_norm_cls ? s->caps.extra_norm_cls : s->cls.norm);
    if (!n) return NULL;
    mt_module_attr(m->ctx, n, "eps", mt_a_float(s->norm_eps));
    int64_t shape[2] = {heads, s->head_dim};
    mt_param *w = mt_param_new(m->ctx, n, "weight", s->dtype, MT_DEVICE_CPU, 2, shape);
    mt_norm_h *h = w ? MT_BIND(m->ctx, n, mt_norm_h) : NULL;
    if (!h) return NULL;
    h->weight = w;
    return n;
}

mt_status mt_dec_build_attn(mt_model *m, const mt_dec_spec *s, mt_module *L, int64_t index) {
    (void)index;
    mt_ctx *ctx = m->ctx;
    mt_dtype dt = s->dtype;
    mt_device dev = MT_DEVICE_CPU;
    int64_t qdim = s->heads * s->head_dim, kvdim = s->kv_heads * s->head_dim;
    mt_module *at = mt_module_new(ctx, L, NM(s, attn, "self_attn"), s->cls.attn);
    mt_attn_h *h = MT_BIND(ctx, at, mt_attn_h);
    if (!h) return mt_ctx_status(ctx);
    mt_module_attr(ctx, at, "num_heads", mt_a_int(s->heads));
    mt_module_attr(ctx, at, "num_key_value_heads", mt_a_int(s->kv_heads));
    mt_module_attr(ctx, at, "head_dim", mt_a_int(s->head_dim));
    if (s->caps.qkv == MT_QKV_FUSED_GROUPED) {
        if (!(h->qkv = mt_nn_linear(ctx, at, NM(s, qkv, "qkv_proj"), s->hidden, qdim + 2 * kvdim, s->qkv_bias, dt,
                                    dev)))
            return mt_ctx_status(ctx);
    } else if (!(h->q = mt_nn_linear(ctx, at, NM(s, q, "q_proj"), s->hidden, qdim, s->qkv_bias, dt, dev)) ||
               !(h->k = mt_nn_linear(ctx, at, NM(s, k, "k_proj"), s->hidden, kvdim, s->qkv_bias, dt, dev)) ||
               !(h->v = mt_nn_linear(ctx, at, NM(s, v, "v_proj"), s->hidden, kvdim, s->qkv_bias, dt, dev))) {
        return mt_ctx_status(ctx);
    }
    if (!(h->o = mt_nn_linear(ctx, at, NM(s, o, "o_proj"), qdim, s->hidden, s->o_bias, dt, dev)))
        return mt_ctx_status(ctx);
    if (s->caps.qk_norm != MT_QK_NORM_NONE && s->caps.qk_norm_per_head) {
        if (!(h->q_norm = head_norm(m, at, NM(s, q_norm, "q_norm"), s, s->heads)) ||
            !(h->k_norm = head_norm(m, at, NM(s, k_norm, "k_norm"), s, s->kv_heads)))
            return mt_ctx_status(ctx);
    } else if (s->caps.qk_norm != MT_QK_NORM_NONE) {
        bool head = s->caps.qk_norm != MT_QK_NORM_FULL;
        if (!(h->q_norm = qk_norm(m, at, NM(s, q_norm, "q_norm"), s, head ? s->head_dim : qdim)) ||
            !(h->k_norm = qk_norm(m, at, NM(s, k_norm, "k_norm"), s, head ? s->head_dim : kvdim)))
            return mt_ctx_status(ctx);
    }
    return MT_OK;
}

mt_module *mt_dec_gated_mlp(mt_model *m, const mt_dec_spec *s, mt_module *parent, const char *name,
                            const char *cls, int64_t inter) {
    mt_ctx *ctx = m->ctx;
    mt_dtype dt = s->dtype;
    mt_device dev = MT_DEVICE_CPU;
    mt_module *mlp = mt_module_new(ctx, parent, name, cls);
    mt_mlp_h *h = MT_BIND(ctx, mlp, mt_mlp_h);
    if (!h ||
        !(h->gate = mt_nn_linear(ctx, mlp, NM(s, gate, "gate_proj"), s->hidden, inter, s->mlp_bias, dt, dev)) ||
        !(h->up = mt_nn_linear(ctx, mlp, NM(s, up, "up_proj"), s->hidden, inter, s->mlp_bias, dt, dev)) ||
        !(h->down = mt_nn_linear(ctx, mlp, NM(s, down, "down_proj"), inter, s->hidden, s->mlp_bias, dt, dev)) ||
        !(h->act = mt_act_new(m, mlp, "act_fn", s->hidden_act, "hidden_act")))
        return NULL;
    return mlp;
}

/* c_fc -> act -> c_proj (StarCoder2MLP registration order: c_fc, c_proj, act). */
static mt_module *plain_mlp(mt_model *m, const mt_dec_spec *s, mt_module *parent, const char *name) {
    mt_ctx *ctx = m->ctx;
    mt_module *mlp = mt_module_new(ctx, parent, name, s->cls.mlp);
    mt_mlp_h *h = MT_BIND(ctx, mlp, mt_mlp_h);
    if (!h ||
        !(h->up = mt_nn_linear(ctx, mlp, NM(s, fc_in, "c_fc"), s->hidden, s->intermediate, s->mlp_bias, s->dtype,
                               MT_DEVICE_CPU)) ||
        !(h->down = mt_nn_linear(ctx, mlp, NM(s, fc_out, "c_proj"), s->intermediate, s->hidden, s->mlp_bias,
                                 s->dtype, MT_DEVICE_CPU)) ||
        !(h->act = mt_act_new(m, mlp, "act", s->hidden_act, "hidden_act")))
        return NULL;
    return mlp;
}

mt_status mt_dec_build_mlp(mt_model *m, const mt_dec_spec *s, mt_module *L, int64_t index) {
    (void)index;
    if (s->caps.mlp == MT_MLP_PLAIN)
        return plain_mlp(m, s, L, NM(s, mlp, "mlp")) ? MT_OK : mt_ctx_status(m->ctx);
    return mt_dec_gated_mlp(m, s, L, NM(s, mlp, "mlp"), s->cls.mlp, s->intermediate) ? MT_OK
                                                                                      : mt_ctx_status(m->ctx);
}

/* Llama's pre-norm layer: input_layernorm, post_attention_layernorm. */
static mt_status pre_norms(mt_model *m, const mt_dec_spec *s, mt_module *L, mt_module *norms[MT_DEC_MAX_NORMS]) {
    const char *in = NM(s, attn_norm, "input_layernorm"), *post = NM(s, mlp_norm, "post_attention_layernorm");
    return (norms[0] = rms_norm(m, L, in, s)) && (norms[1] = rms_norm(m, L, post, s)) ? MT_OK
                                                                                       : mt_ctx_status(m->ctx);
}

/* LlamaRotaryEmbedding and its copies: rope_type and rope_theta recorded as attributes. */
static mt_module *rotary_module(mt_model *m, mt_module *model, const char *name, const char *rope_type,
                                double theta, int64_t rotary_dim, const char *cls) {
    mt_module *rot = mt_rope_module(m, model, name, cls, rotary_dim);
    if (!rot) return NULL;
    mt_module_attr(m->ctx, rot, "rope_type", mt_a_str(rope_type));
    mt_module_attr(m->ctx, rot, "rope_theta", mt_a_float(theta));
    return rot;
}

/* An nn.Embedding subclass traced through (Gemma3TextScaledWordEmbedding):
 * weight [vocab, hidden], then a non-persistent 0-dim buffer embed_scale
 * (torch.tensor(python float) takes the default dtype, which from_pretrained
 * sets to the model dtype while building). */
static mt_module *scaled_embedding(mt_model *m, mt_module *model, const mt_dec_spec *s, mt_dec_h *dh) {
    mt_ctx *ctx = m->ctx;
    mt_module *e = mt_module_new(ctx, model, NM(s, embed, "embed_tokens"), s->caps.embed_cls);
    if (!e) return NULL;
    mt_module_attr(ctx, e, "num_embeddings", mt_a_int(s->vocab));
    mt_module_attr(ctx, e, "embedding_dim", mt_a_int(s->hidden));
    mt_module_attr(ctx, e, "padding_idx", s->caps.embed_padding_idx >= 0 ? mt_a_int(s->caps.embed_padding_idx)
                                                                         : mt_a_none());
    mt_module_attr(ctx, e, "embed_scale", mt_a_float(s->caps.embed_scale));
    int64_t shape[2] = {s->vocab, s->hidden};
    if (!(dh->embed_weight = mt_param_new(ctx, e, "weight", s->dtype, MT_DEVICE_CPU, 2, shape)) ||
        !(dh->embed_scale = mt_buffer_new(ctx, e, "embed_scale", s->dtype, MT_DEVICE_CPU, 0, shape, false, true)))
        return NULL;
    return e;
}

mt_status mt_dec_build(mt_model *m, const mt_dec_spec *s) {
    mt_ctx *ctx = m->ctx;
    /* transformers has eager and sdpa for every decoder here and picks sdpa, except where the
     * family's spec asks for eager (soft-capping); a family's own attention hook traces its
     * default only */
    bool eager = s->caps.eager_attn || s->caps.eager_only || s->caps.attn_softcap > 0;
    mt_attn_impl def = eager ? MT_ATTN_IMPL_EAGER : MT_ATTN_IMPL_SDPA;
    unsigned has = s->caps.eager_only ? MT_ATTN_BIT(MT_ATTN_IMPL_EAGER) : MT_ATTN_BOTH;
    if (mt_attn_choose(m, has, s->hooks.attn_forward ? MT_ATTN_BIT(def) : has, def) != MT_OK)
        return mt_ctx_status(ctx);
    mt_dtype dt = s->dtype;
    mt_device dev = MT_DEVICE_CPU; /* requested; the meta scope turns it into META */
    mt_module *root = s->root ? s->root : m->root;
    mt_module *model_parent = s->model_parent ? s->model_parent : root;
    mt_dec_h *dh = MT_BIND(ctx, root, mt_dec_h);
    if (!dh) return mt_ctx_status(ctx);
    mt_module *model = dh->model = mt_module_new(ctx, model_parent, NM(s, model, "model"), s->cls.model);
    if (!model) return mt_ctx_status(ctx);
    mt_module *emb = dh->embed = s->caps.embed_cls ? scaled_embedding(m, model, s, dh)
                                       : mt_nn_embedding(ctx, model, NM(s, embed, "embed_tokens"), s->vocab, s->hidden, dt, dev);
    mt_module *layers = dh->layers = mt_module_new(ctx, model, NM(s, layers, "layers"), "ModuleList");
    if (!emb || !layers) return mt_ctx_status(ctx);
    mt_status (*build_attn)(mt_model *, const mt_dec_spec *, mt_module *, int64_t) =
        s->hooks.build_attn ? s->hooks.build_attn : mt_dec_build_attn;
    mt_status (*build_mlp)(mt_model *, const mt_dec_spec *, mt_module *, int64_t) =
        s->hooks.build_mlp ? s->hooks.build_mlp : mt_dec_build_mlp;
    for (int64_t i = 0; i < s->layers; i++) {
        char idx[24];
        snprintf(idx, sizeof idx, "%lld", (long long)i);
        mt_module *L = mt_module_new(ctx, layers, idx, s->cls.layer);
        mt_dec_layer_h *lh = MT_BIND(ctx, L, mt_dec_layer_h);
        if (!lh) return mt_ctx_status(ctx);
        /* registration order = transformers' __init__ order: self_attn, mlp, norms */
        if (build_attn(m, s, L, i) != MT_OK || build_mlp(m, s, L, i) != MT_OK) return mt_ctx_status(ctx);
        if ((s->caps.layout ? s->caps.layout->build_norms : pre_norms)(m, s, L, lh->norm) != MT_OK)
            return mt_ctx_status(ctx);
        if (s->hooks.build_after_norms && s->hooks.build_after_norms(m, s, L, i) != MT_OK) return mt_ctx_status(ctx);
        /* the hooks made these: bound by name here, so a wrong name fails the build. A layer whose
         * attention slot holds another mixer (names.attn_alt, Bamba's "mamba") has no self_attn */
        const char *at_name = NM(s, attn, "self_attn");
        if (s->names.attn_alt && !mt_module_child(L, at_name)) at_name = s->names.attn_alt;
        if (!(lh->attn = mt_bind_child(ctx, L, at_name)) || !(lh->mlp = mt_bind_child(ctx, L, NM(s, mlp, "mlp"))))
            return mt_ctx_status(ctx);
    }
    if (!(dh->norm = rms_norm(m, model, NM(s, final_norm, "norm"), s))) return mt_ctx_status(ctx);
    if (!s->caps.no_rotary &&
        !(dh->rotary = rotary_module(m, model, "rotary_emb", s->rope_type, s->rope_theta, s->rotary_dim,
                                     s->cls.rotary)))
        return mt_ctx_status(ctx);
    if (s->caps.local_rope_theta > 0 &&
        !(dh->rotary_local = rotary_module(m, model, "rotary_emb_local", "default", s->caps.local_rope_theta,
                                           s->rotary_dim, s->cls.rotary)))
        return mt_ctx_status(ctx);
    const char *head = NM(s, lm_head, "lm_head");
    if (s->tie_embeddings) {
        if (!(dh->lm_head = mt_nn_linear_tied(ctx, root, head, mt_module_param(emb, "weight"))))
            return mt_ctx_status(ctx);
    } else if (!(dh->lm_head = mt_nn_linear(ctx, root, head, s->hidden, s->vocab, false, dt, dev))) {
        return mt_ctx_status(ctx);
    }
    mt_model_info(m, "vocab_size", mt_a_int(s->vocab));
    mt_model_info(m, "hidden_size", mt_a_int(s->hidden));
    mt_model_info(m, "intermediate_size", mt_a_int(s->intermediate));
    mt_model_info(m, "num_hidden_layers", mt_a_int(s->layers));
    mt_model_info(m, "num_attention_heads", mt_a_int(s->heads));
    mt_model_info(m, "num_key_value_heads", mt_a_int(s->kv_heads));
    mt_model_info(m, "head_dim", mt_a_int(s->head_dim));
    mt_model_info(m, "hidden_act", mt_a_str(s->hidden_act));
    mt_model_info(m, "rms_norm_eps", mt_a_float(s->norm_eps));
    mt_model_info(m, "rope_theta", mt_a_float(s->rope_theta));
    mt_model_info(m, "rope_type", mt_a_str(s->rope_type));
    mt_model_info(m, "tie_word_embeddings", mt_a_bool(s->tie_embeddings));
    if (s->rotary_dim != s->head_dim) mt_model_info(m, "rotary_dim", mt_a_int(s->rotary_dim));
    if (s->caps.sliding_window > 0) mt_model_info(m, "sliding_window", mt_a_int(s->caps.sliding_window));
    if (s->caps.attn_softcap > 0) mt_model_info(m, "attn_logit_softcapping", mt_a_float(s->caps.attn_softcap));
    if (s->caps.final_softcap > 0) mt_model_info(m, "final_logit_softcapping", mt_a_float(s->caps.final_softcap));
    if (s->caps.local_rope_theta > 0) mt_model_info(m, "rope_local_base_freq", mt_a_float(s->caps.local_rope_theta));
    if (s->caps.logits_mul != 0) mt_model_info(m, "logit_scale", mt_a_float(s->caps.logits_mul));
    return MT_OK;
}

/* ---- forward ---- */
static const mt_sym *C(mt_tracer *tr, int64_t v) { return mt_sym_const(tr->ctx, v); }

mt_tensor *mt_dec_rms_forward(mt_tracer *tr, mt_module *n, mt_tensor *x) {
    if (!x) return NULL;
    const mt_arg *eps = mt_module_get_attr(n, "eps");
    mt_dtype in_dt = x->dtype;
    mt_tr_enter(tr, n);
    mt_tensor *h = mt_to(tr, x, MT_FLOAT32);
    mt_tensor *var = mt_reduce(tr, MT_OP_MEAN, mt_pow_s(tr, h, 2), -1, true);
    h = mt_mul(tr, h, mt_unary(tr, MT_OP_RSQRT, mt_add_s(tr, var, eps->v.f)));
    const mt_norm_h *nh = MT_BOUND(tr, n, mt_norm_h);
    mt_tensor *w = nh ? mt_tr_get_attr(tr, nh->weight) : NULL;
    mt_tensor *y = mt_mul(tr, w, mt_to(tr, h, in_dt));
    mt_tr_leave(tr);
    return y;
}

/* Gemma: output = norm(x.float()) * (1.0 + w.float()), then type_as(x). */
static mt_tensor *gemma_rms_forward(mt_tracer *tr, mt_module *n, mt_tensor *x) {
    if (!x) return NULL;
    const mt_arg *eps = mt_module_get_attr(n, "eps");
    mt_tr_enter(tr, n);
    mt_tensor *h = mt_to(tr, x, MT_FLOAT32);
    mt_tensor *var = mt_reduce(tr, MT_OP_MEAN, mt_pow_s(tr, h, 2), -1, true);
    h = mt_mul(tr, h, mt_unary(tr, MT_OP_RSQRT, mt_add_s(tr, var, eps->v.f)));
    const mt_norm_h *nh = MT_BOUND(tr, n, mt_norm_h);
    mt_tensor *w = nh ? mt_to(tr, mt_tr_get_attr(tr, nh->weight), MT_FLOAT32) : NULL;
    mt_tensor *w1 = w ? mt_tr_op1(tr, MT_OP_ADD, (mt_arg[]){mt_a_float(1.0), mt_a_tensor(w)}, 2, NULL, 0) : NULL;
    h = mt_mul(tr, h, w1);
    mt_tensor *y = h ? mt_tr_op1(tr, MT_OP_TYPE_AS, (mt_arg[]){mt_a_tensor(h), mt_a_tensor(x)}, 2, NULL, 0) : NULL;
    mt_tr_leave(tr);
    return y;
}

/* Cohere: weight-only LayerNorm computed in float32. */
static mt_tensor *fp32_layer_norm_forward(mt_tracer *tr, mt_module *n, mt_tensor *x) {
    if (!x) return NULL;
    const mt_arg *eps = mt_module_get_attr(n, "eps");
    mt_dtype in_dt = x->dtype;
    mt_tr_enter(tr, n);
    mt_tensor *h = mt_to(tr, x, MT_FLOAT32);
    mt_tensor *mean = mt_reduce(tr, MT_OP_MEAN, h, -1, true);
    mt_tensor *var = mt_reduce(tr, MT_OP_MEAN, mt_pow_s(tr, mt_sub(tr, h, mean), 2), -1, true);
    /* (h - mean) * rsqrt(var + eps): the rsqrt side is recorded first, as the goldens have it */
    mt_tensor *inv = mt_unary(tr, MT_OP_RSQRT, mt_add_s(tr, var, eps->v.f));
    mt_tensor *centered = mt_sub(tr, h, mean);
    h = mt_mul(tr, centered, inv);
    const mt_norm_h *nh = MT_BOUND(tr, n, mt_norm_h);
    mt_tensor *w = nh ? mt_to(tr, mt_tr_get_attr(tr, nh->weight), MT_FLOAT32) : NULL;
    mt_tensor *y = mt_to(tr, mt_mul(tr, w, h), in_dt);
    mt_tr_leave(tr);
    return y;
}

/* OLMo: F.layer_norm(x.to(float32), normalized_shape, None, None, eps).to(x.dtype). */
static mt_tensor *noparam_layer_norm_forward(mt_tracer *tr, mt_module *n, mt_tensor *x) {
    if (!x) return NULL;
    const mt_arg *eps = mt_module_get_attr(n, "eps"), *shape = mt_module_get_attr(n, "normalized_shape");
    mt_dtype in_dt = x->dtype;
    mt_tr_enter(tr, n);
    mt_tensor *h = mt_to(tr, x, MT_FLOAT32);
    mt_tensor *y = h ? mt_tr_op1(tr, MT_OP_LAYER_NORM, (mt_arg[]){mt_a_tensor(h), *shape, mt_a_none(), mt_a_none()},
                                 4, (mt_kwarg[]){{"eps", *eps}}, 1)
                     : NULL;
    y = mt_to(tr, y, in_dt);
    mt_tr_leave(tr);
    return y;
}

mt_tensor *mt_dec_norm_forward(mt_tracer *tr, mt_module *n, mt_tensor *x, const mt_dec_spec *s) {
    if (!x || !n) return NULL;
    switch (s->caps.norm) {
    case MT_NORM_RMS_GEMMA: return gemma_rms_forward(tr, n, x);
    case MT_NORM_LAYER: return mt_tr_call(tr, n, x);
    case MT_NORM_LAYER_FP32: return fp32_layer_norm_forward(tr, n, x);
    case MT_NORM_LAYER_NOPARAM: return noparam_layer_norm_forward(tr, n, x);
    default: return mt_dec_rms_forward(tr, n, x);
    }
}

mt_tensor *mt_dec_repeat_kv(mt_tracer *tr, mt_tensor *x, int64_t n_rep) {
    if (!x || n_rep == 1) return x;
    mt_arg idx[5] = {mt_a_slice(NULL, NULL, NULL), mt_a_slice(NULL, NULL, NULL), mt_a_none(),
                     mt_a_slice(NULL, NULL, NULL), mt_a_slice(NULL, NULL, NULL)};
    mt_tensor *e = mt_index(tr, x, idx, 5);
    const mt_sym *ex[5] = {x->shape[0], x->shape[1], C(tr, n_rep), x->shape[2], x->shape[3]};
    e = mt_expand(tr, e, 5, ex);
    const mt_sym *rs[4] = {x->shape[0], mt_sym_mul_const(tr->ctx, x->shape[1], n_rep), x->shape[2], x->shape[3]};
    return mt_reshape(tr, e, 4, rs);
}

/* x.clamp_(min=-c, max=c) (OLMo clip_qkv). */
static mt_tensor *clamp_sym(mt_tracer *tr, mt_tensor *x, double c) {
    if (!x) return NULL;
    mt_arg a[1] = {mt_a_tensor(x)};
    mt_kwarg kw[2] = {{"min", mt_a_float(-c)}, {"max", mt_a_float(c)}};
    return mt_tr_op1(tr, MT_OP_CLAMP_, a, 1, kw, 2);
}

/* q, k, v [b, heads, seq, head_dim] from the projections the spec describes. */
static void attn_qkv(mt_tracer *tr, const mt_attn_h *at, mt_tensor *x, const mt_dec_spec *s, mt_tensor **qo,
                     mt_tensor **ko, mt_tensor **vo) {
    const mt_sym *b = x->shape[0], *q_len = x->shape[1];
    mt_tensor *q, *k, *v;
    if (s->caps.qkv == MT_QKV_FUSED_GROUPED) {
        /* rows grouped per kv head: [groups query heads, key, value] */
        int64_t groups = s->heads / s->kv_heads;
        mt_tensor *qkv = mt_tr_call(tr, at->qkv, x);
        const mt_sym *gs[5] = {b, q_len, C(tr, s->kv_heads), C(tr, groups + 2), C(tr, s->head_dim)};
        qkv = mt_view(tr, qkv, 5, gs);
        mt_arg iq[3] = {mt_a_ellipsis(), mt_a_slice(NULL, C(tr, groups), NULL), mt_a_slice(NULL, NULL, NULL)};
        q = mt_index(tr, qkv, iq, 3);
        const mt_sym *qs[4] = {b, q_len, C(tr, s->heads), C(tr, s->head_dim)};
        q = mt_reshape(tr, q, 4, qs);
        mt_arg ik[3] = {mt_a_ellipsis(), mt_a_int(-2), mt_a_slice(NULL, NULL, NULL)};
        mt_arg iv[3] = {mt_a_ellipsis(), mt_a_int(-1), mt_a_slice(NULL, NULL, NULL)};
        k = mt_index(tr, qkv, ik, 3);
        v = mt_index(tr, qkv, iv, 3);
        *qo = mt_transpose(tr, q, 1, 2);
        *ko = mt_transpose(tr, k, 1, 2);
        *vo = mt_transpose(tr, v, 1, 2);
        return;
    }
    bool full = s->caps.qk_norm == MT_QK_NORM_FULL, first = full && s->caps.qk_norm_first;
    /* OLMoE: q_norm(q_proj(x)), k_norm(k_proj(x)), v_proj(x) in that order */
    q = mt_tr_call(tr, at->q, x);
    if (first) q = mt_dec_norm_forward(tr, at->q_norm, q, s);
    k = mt_tr_call(tr, at->k, x);
    if (first) k = mt_dec_norm_forward(tr, at->k_norm, k, s);
    v = mt_tr_call(tr, at->v, x);
    if (s->caps.clip_qkv > 0) {
        q = clamp_sym(tr, q, s->caps.clip_qkv);
        k = clamp_sym(tr, k, s->caps.clip_qkv);
        v = clamp_sym(tr, v, s->caps.clip_qkv);
    }
    if (full && !first) {
        q = mt_dec_norm_forward(tr, at->q_norm, q, s);
        k = mt_dec_norm_forward(tr, at->k_norm, k, s);
    }
    const mt_sym *qs[4] = {b, q_len, C(tr, s->heads), C(tr, s->head_dim)};
    const mt_sym *ks[4] = {b, q_len, C(tr, s->kv_heads), C(tr, s->head_dim)};
    if (s->caps.qk_norm == MT_QK_NORM_HEAD_T) {
        /* Gemma3: view, transpose, then q_norm/k_norm on [b, heads, seq, head_dim] */
        q = mt_transpose(tr, mt_view(tr, q, 4, qs), 1, 2);
        k = mt_transpose(tr, mt_view(tr, k, 4, ks), 1, 2);
        *vo = mt_transpose(tr, mt_view(tr, v, 4, ks), 1, 2);
        *qo = mt_dec_norm_forward(tr, at->q_norm, q, s);
        *ko = mt_dec_norm_forward(tr, at->k_norm, k, s);
        return;
    }
    if (s->caps.qk_norm == MT_QK_NORM_HEAD) {
        q = mt_dec_norm_forward(tr, at->q_norm, mt_view(tr, q, 4, qs), s);
        k = mt_dec_norm_forward(tr, at->k_norm, mt_view(tr, k, 4, ks), s);
        *qo = mt_transpose(tr, q, 1, 2);
        *ko = mt_transpose(tr, k, 1, 2);
    } else {
        *qo = mt_transpose(tr, mt_view(tr, q, 4, qs), 1, 2);
        *ko = mt_transpose(tr, mt_view(tr, k, 4, ks), 1, 2);
    }
    *vo = mt_transpose(tr, mt_view(tr, v, 4, ks), 1, 2);
}

const char *mt_attn_name(mt_attn_impl impl) {
    return impl == MT_ATTN_IMPL_EAGER ? "eager" : impl == MT_ATTN_IMPL_SDPA ? "sdpa" : "default";
}

mt_status mt_attn_choose(mt_model *m, unsigned has, unsigned modelled, mt_attn_impl def) {
    mt_attn_impl want = m->attn == MT_ATTN_IMPL_DEFAULT ? def : m->attn;
    unsigned bit = MT_ATTN_BIT(want);
    if (!(has & bit)) {
        mt_attn_impl other = want == MT_ATTN_IMPL_EAGER ? MT_ATTN_IMPL_SDPA : MT_ATTN_IMPL_EAGER;
        return mt_fail(m->ctx, MT_ERR_USAGE,
                       "--attn %s: model_type '%s' has no %s attention in transformers (only %s)",
                       mt_attn_name(want), m->model_type, mt_attn_name(want), mt_attn_name(other));
    }
    if (!(modelled & bit))
        return mt_fail(m->ctx, MT_ERR_UNSUPPORTED,
                       "--attn %s: model_type '%s' has %s attention in transformers, but metatrace traces only "
                       "its %s attention",
                       mt_attn_name(want), m->model_type, mt_attn_name(want), mt_attn_name(def));
    m->attn = want;
    m->attn_resolved = true;
    return MT_OK;
}

/* mask[:, :, :, :k_len] */
static mt_tensor *slice_mask(mt_tracer *tr, mt_tensor *mask, const mt_tensor *k) {
    if (!mask || !k) return mask;
    mt_arg idx[4] = {mt_a_slice(NULL, NULL, NULL), mt_a_slice(NULL, NULL, NULL), mt_a_slice(NULL, NULL, NULL),
                     mt_a_slice(NULL, k->shape[2], NULL)};
    return mt_index(tr, mask, idx, 4);
}

mt_tensor *mt_attn_forward(mt_tracer *tr, mt_attn_impl impl, mt_tensor *q, mt_tensor *k, mt_tensor *v,
                           mt_tensor *mask, const mt_attn_args *a) {
    if (!q || !k || !v) return NULL;
    k = mt_dec_repeat_kv(tr, k, a->n_rep);
    v = mt_dec_repeat_kv(tr, v, a->n_rep);
    mt_tensor *o = NULL;
    if (impl == MT_ATTN_IMPL_EAGER) {
        mt_tensor *kt = a->kt_neg ? mt_transpose(tr, k, -1, -2) : mt_transpose(tr, k, 2, 3);
        mt_tensor *w = mt_mul_s(tr, mt_matmul(tr, q, kt), a->scaling);
        if (a->softcap > 0) {
            w = mt_div_s(tr, w, a->softcap);
            w = mt_unary(tr, MT_OP_TANH, w);
            w = mt_mul_s(tr, w, a->softcap);
        }
        if (mask) w = mt_add(tr, w, a->eager_slice ? slice_mask(tr, mask, k) : mask);
        w = mt_to(tr, mt_softmax(tr, w, -1, MT_FLOAT32), q->dtype);
        w = w ? mt_tr_op1(tr, MT_OP_DROPOUT, (mt_arg[]){mt_a_tensor(w)}, 1,
                          (mt_kwarg[]){{"p", mt_a_float(0.0)}, {"training", mt_a_bool(false)}}, 2)
              : NULL;
        o = mt_matmul(tr, w, v);
    } else {
        bool masked = mask != NULL;
        if (mask && a->sdpa_slice) mask = slice_mask(tr, mask, k);
        if (k && v && (mask || !masked)) {
            mt_arg sa[3] = {mt_a_tensor(q), mt_a_tensor(k), mt_a_tensor(v)};
            mt_kwarg kw[4] = {{"attn_mask", mask ? mt_a_tensor(mask) : mt_a_none()}, {"dropout_p", mt_a_float(0.0)},
                              {"is_causal", mt_a_bool(false)}, {"scale", mt_a_float(a->scaling)}};
            o = mt_tr_op1(tr, MT_OP_SDPA, sa, 3, kw, a->scaling > 0 ? 4 : 3);
        }
    }
    return mt_contiguous(tr, mt_transpose(tr, o, 1, 2));
}

/* M-RoPE's section pick (apply_multimodal_rotary_pos_emb, before its unsqueeze):
 * torch.cat([m[i % 3] for i, m in enumerate(t.split(mrope_section * 2, dim=-1))], dim=-1),
 * t [3, batch, seq, head_dim] -> [batch, seq, head_dim]. */
static mt_tensor *mrope_pick(mt_tracer *tr, mt_tensor *t, const int64_t *sec) {
    if (!t) return NULL;
    mt_arg sizes[6];
    for (int i = 0; i < 6; i++) sizes[i] = mt_a_int(sec[i % 3]);
    mt_arg sa[2] = {mt_a_tensor(t), mt_a_list(tr->ctx, sizes, 6)};
    mt_node *sp = mt_tr_op(tr, MT_OP_SPLIT, sa, 2, (mt_kwarg[]){{"dim", mt_a_int(-1)}}, 1);
    if (!sp) return NULL;
    mt_tensor *parts[6];
    for (int i = 0; i < 6; i++) {
        mt_tensor *piece = mt_tr_item(tr, sp, i);
        parts[i] = piece ? mt_tr_op1(tr, MT_OP_GETITEM, (mt_arg[]){mt_a_tensor(piece), mt_a_int(i % 3)}, 2, NULL, 0)
                         : NULL;
        if (!parts[i]) return NULL;
    }
    return mt_cat(tr, parts, 6, -1);
}

mt_tensor *mt_dec_attn_forward(mt_tracer *tr, mt_module *at, mt_tensor *x, mt_tensor *mask,
                               mt_tensor *cos, mt_tensor *sin, const mt_dec_spec *s) {
    if (!x) return NULL;
    const mt_sym *b = x->shape[0], *q_len = x->shape[1];
    const mt_attn_h *ah = MT_BOUND(tr, at, mt_attn_h);
    if (!ah) return NULL;
    mt_tr_enter(tr, at);
    mt_tensor *q, *k, *v;
    attn_qkv(tr, ah, x, s, &q, &k, &v);
    if (s->caps.rope_interleave) {
        /* Cohere apply_rotary_pos_emb: q.float(), k.float(), rotate, .to(dtype) */
        mt_dtype qdt = q ? q->dtype : s->dtype, kdt = k ? k->dtype : s->dtype;
        q = mt_to(tr, q, MT_FLOAT32);
        k = mt_to(tr, k, MT_FLOAT32);
        mt_tensor *c = mt_unsqueeze(tr, cos, 1), *sn = mt_unsqueeze(tr, sin, 1);
        q = mt_rope_apply(tr, q, c, sn, MT_ROPE_HALF_INTERLEAVED, 0);
        k = mt_rope_apply(tr, k, c, sn, MT_ROPE_HALF_INTERLEAVED, 0);
        q = mt_to(tr, q, qdt);
        k = mt_to(tr, k, kdt);
    } else if (cos || sin) { /* neither: a NoPE layer (caps.nope) */
        mt_tensor *c, *sn;
        /* apply_multimodal_rotary_pos_emb: cat(...).unsqueeze(1), cos then sin (Qwen3-VL's interleaved: ready) */
        if (s->caps.mrope_section && !s->caps.mrope_interleaved) {
            c = mt_unsqueeze(tr, mrope_pick(tr, cos, s->caps.mrope_section), 1);
            sn = mt_unsqueeze(tr, mrope_pick(tr, sin, s->caps.mrope_section), 1);
        } else {
            c = mt_unsqueeze(tr, cos, 1);
            sn = mt_unsqueeze(tr, sin, 1);
        }
        q = mt_rope_apply(tr, q, c, sn, MT_ROPE_HALF, s->rotary_dim);
        k = mt_rope_apply(tr, k, c, sn, MT_ROPE_HALF, s->rotary_dim);
    }
    if (s->caps.qk_norm == MT_QK_NORM_HEAD_POST_ROPE) { /* Hunyuan: on [b, heads, seq, head_dim] after rotary */
        q = mt_dec_norm_forward(tr, ah->q_norm, q, s);
        k = mt_dec_norm_forward(tr, ah->k_norm, k, s);
    }
    mt_tensor *o = NULL;
    if (mask) {
        mt_attn_impl impl = tr->model->attn;
        mt_attn_args aa = {.n_rep = s->heads / s->kv_heads, .softcap = s->caps.attn_softcap,
                           .eager_slice = true, .sdpa_slice = true};
        /* eager always multiplies by module.scaling; sdpa passes scale= only where the family sets one */
        aa.scaling = impl == MT_ATTN_IMPL_EAGER
                         ? (s->caps.attn_scale > 0 ? s->caps.attn_scale : 1.0 / sqrt((double)s->head_dim))
                         : s->caps.attn_scale;
        o = mt_attn_forward(tr, impl, q, k, v, mask, &aa);
    }
    const mt_sym *os[3] = {b, q_len, NULL};
    o = mt_view(tr, o, 3, os);
    o = mt_tr_call(tr, ah->o, o);
    mt_tr_leave(tr);
    return o;
}

mt_tensor *mt_dec_mlp_forward(mt_tracer *tr, mt_module *mlp, mt_tensor *x, const mt_dec_spec *s) {
    const mt_mlp_h *mh = MT_BOUND(tr, mlp, mt_mlp_h);
    if (!mh) return NULL;
    mt_tr_enter(tr, mlp);
    mt_tensor *y;
    if (s->caps.mlp == MT_MLP_PLAIN) {
        mt_tensor *h = mt_tr_call(tr, mh->up, x);
        h = mt_act_forward(tr, mh->act, h);
        y = mt_tr_call(tr, mh->down, h);
    } else {
        mt_tensor *gp = mt_tr_call(tr, mh->gate, x);
        mt_tensor *g = mt_act_forward(tr, mh->act, gp);
        mt_tensor *u = mt_tr_call(tr, mh->up, x);
        y = mt_tr_call(tr, mh->down, mt_mul(tr, g, u));
    }
    mt_tr_leave(tr);
    return y;
}

/* The 4-D additive causal mask [batch, 1, seq, seq] from the 2-D attention_mask,
 * as transformers builds it (full, triu, arange comparison, padding). */
mt_tensor *mt_dec_causal_mask(mt_tracer *tr, mt_tensor *attn_mask, mt_tensor *cache_pos,
                              mt_dtype dt) {
    if (!attn_mask || !cache_pos) return NULL;
    mt_ctx *ctx = tr->ctx;
    const mt_sym *b = attn_mask->shape[0], *seq = attn_mask->shape[1];
    double min = mt_dtype_min(dt);
    const mt_sym *sz[2] = {seq, seq};
    mt_arg fa[2] = {mt_a_dims(ctx, sz, 2), mt_a_float(min)};
    mt_kwarg fk[1] = {{"dtype", mt_a_dtype(dt)}};
    mt_tensor *cm = mt_tr_op1(tr, MT_OP_FULL, fa, 2, fk, 1);
    mt_arg ta[1] = {mt_a_tensor(cm)};
    mt_kwarg tk[1] = {{"diagonal", mt_a_int(1)}};
    cm = mt_tr_op1(tr, MT_OP_TRIU, ta, cm ? 1 : 0, tk, 1);
    mt_arg aa[1] = {mt_a_dim(seq)};
    mt_tensor *ar = mt_tr_op1(tr, MT_OP_ARANGE, aa, 1, NULL, 0);
    const mt_sym *rs[2] = {NULL, C(tr, 1)};
    mt_tensor *gt = (ar && cache_pos) ? mt_tr_op1(tr, MT_OP_GT, (mt_arg[]){mt_a_tensor(ar),
                         mt_a_tensor(mt_reshape(tr, cache_pos, 2, rs))}, 2, NULL, 0) : NULL;
    cm = mt_mul(tr, cm, gt);
    mt_arg i4[4] = {mt_a_none(), mt_a_none(), mt_a_slice(NULL, NULL, NULL), mt_a_slice(NULL, NULL, NULL)};
    cm = mt_index(tr, cm, i4, 4);
    const mt_sym *ex[4] = {b, C(tr, 1), NULL, NULL};
    cm = mt_expand(tr, cm, 4, ex);
    mt_arg im[4] = {mt_a_slice(NULL, NULL, NULL), mt_a_none(), mt_a_none(), mt_a_slice(NULL, NULL, NULL)};
    mt_tensor *pad = mt_add(tr, cm, mt_index(tr, attn_mask, im, 4));
    pad = pad ? mt_tr_op1(tr, MT_OP_EQ, (mt_arg[]){mt_a_tensor(pad), mt_a_int(0)}, 2, NULL, 0) : NULL;
    if (!cm || !pad) return NULL;
    mt_arg ma[3] = {mt_a_tensor(cm), mt_a_tensor(pad), mt_a_float(min)};
    return mt_tr_op1(tr, MT_OP_MASKED_FILL, ma, 3, NULL, 0);
}

/* The sliding-window variant of the causal mask: keys more than window-1
 * positions behind the query are masked too (q - k >= window). */
mt_tensor *mt_dec_sliding_mask(mt_tracer *tr, mt_tensor *mask, mt_tensor *cache_pos, int64_t window,
                               mt_dtype dt) {
    if (!mask || !cache_pos) return NULL;
    const mt_sym *rs[2] = {NULL, C(tr, 1)};
    mt_arg aa[1] = {mt_a_dim(cache_pos->shape[0])};
    mt_tensor *ar = mt_tr_op1(tr, MT_OP_ARANGE, aa, 1, NULL, 0);
    mt_tensor *diff = mt_sub(tr, mt_reshape(tr, cache_pos, 2, rs), ar);
    mt_tensor *far = diff ? mt_tr_op1(tr, MT_OP_GE, (mt_arg[]){mt_a_tensor(diff), mt_a_int(window)}, 2, NULL, 0)
                          : NULL;
    if (!far) return NULL;
    mt_arg ma[3] = {mt_a_tensor(mask), mt_a_tensor(far), mt_a_float(mt_dtype_min(dt))};
    return mt_tr_op1(tr, MT_OP_MASKED_FILL, ma, 3, NULL, 0);
}

static bool layer_slides(const mt_dec_spec *s, int i) {
    if (s->caps.sliding_window <= 0) return false;
    return s->caps.sliding ? s->caps.sliding[i] : true;
}

/* residual + out (* residual_scale) */
mt_tensor *mt_dec_residual_add(mt_tracer *tr, mt_tensor *res, mt_tensor *out, const mt_dec_spec *s) {
    if (s->caps.residual_scale != 0) out = mt_mul_s(tr, out, s->caps.residual_scale);
    return mt_add(tr, res, out);
}

mt_tensor *mt_dec_layer_norm(mt_tracer *tr, const mt_dec_layer *ly, int i, mt_tensor *x, const mt_dec_spec *s) {
    mt_module *n = ly->norm && i >= 0 && i < MT_DEC_MAX_NORMS ? ly->norm[i] : NULL;
    if (!n && x)
        mt_fail(tr->ctx, MT_ERR_INTERNAL,
                "module '%s' (%s): its layout reads norm %d, which its build_norms did not make",
                ly->L->path, ly->L->type, i);
    return mt_dec_norm_forward(tr, n, x, s);
}

mt_tensor *mt_dec_layer_attn(mt_tracer *tr, const mt_dec_layer *ly, mt_tensor *x, const mt_dec_spec *s) {
    return (s->hooks.attn_forward ? s->hooks.attn_forward : mt_dec_attn_forward)(tr, ly->attn, x, ly->mask, ly->cos,
                                                                                  ly->sin, s);
}

mt_tensor *mt_dec_layer_mlp(mt_tracer *tr, const mt_dec_layer *ly, mt_tensor *x, const mt_dec_spec *s) {
    return (s->hooks.mlp_forward ? s->hooks.mlp_forward : mt_dec_mlp_forward)(tr, ly->mlp, x, s);
}

/* Llama's pre-norm layer: x + attn(input_layernorm(x)); x + mlp(post_attention_layernorm(x)). */
static mt_tensor *pre_norm_forward(mt_tracer *tr, const mt_dec_layer *ly, mt_tensor *h, const mt_dec_spec *s) {
    mt_tensor *res = h;
    mt_tensor *a = mt_dec_layer_norm(tr, ly, 0, h, s);
    a = mt_dec_layer_attn(tr, ly, a, s);
    h = mt_dec_residual_add(tr, res, a, s);
    res = h;
    mt_tensor *f = mt_dec_layer_norm(tr, ly, 1, h, s);
    f = mt_dec_layer_mlp(tr, ly, f, s);
    return mt_dec_residual_add(tr, res, f, s);
}

/* nn.Embedding.forward inlined, then * embed_scale.to(weight.dtype). */
static mt_tensor *scaled_embedding_forward(mt_tracer *tr, const mt_dec_h *dh, mt_tensor *ids) {
    mt_module *e = dh->embed;
    if (!e || !ids) return NULL;
    const mt_arg *pad = mt_module_get_attr(e, "padding_idx");
    mt_tr_enter(tr, e);
    mt_tensor *w = mt_tr_get_attr(tr, dh->embed_weight);
    mt_tensor *h = w ? mt_tr_op1(tr, MT_OP_EMBEDDING,
                                 (mt_arg[]){mt_a_tensor(ids), mt_a_tensor(w), pad ? *pad : mt_a_none(), mt_a_none(),
                                            mt_a_float(2.0), mt_a_bool(false), mt_a_bool(false)},
                                 7, NULL, 0)
                     : NULL;
    mt_tensor *sc = mt_to(tr, mt_tr_get_attr(tr, dh->embed_scale), w ? w->dtype : MT_FLOAT32);
    mt_tensor *y = mt_mul(tr, h, sc);
    mt_tr_leave(tr);
    return y;
}

void mt_vision_info(mt_model *m, int64_t hidden, int64_t intermediate, int64_t layers, int64_t heads,
                    int64_t image_size, int64_t patch_size) {
    mt_model_info(m, "vision_hidden_size", mt_a_int(hidden));
    mt_model_info(m, "vision_intermediate_size", mt_a_int(intermediate));
    mt_model_info(m, "vision_num_hidden_layers", mt_a_int(layers));
    mt_model_info(m, "vision_num_attention_heads", mt_a_int(heads));
    mt_model_info(m, "image_size", mt_a_int(image_size));
    mt_model_info(m, "patch_size", mt_a_int(patch_size));
}

mt_tensor *mt_fc_mlp_forward(mt_tracer *tr, mt_module *mlp, mt_tensor *x) {
    if (!mlp) return NULL;
    mt_tr_enter(tr, mlp);
    const mt_fc_mlp_h *fh = MT_BOUND(tr, mlp, mt_fc_mlp_h);
    if (!fh) return NULL;
    mt_tensor *f = mt_tr_call(tr, fh->fc1, x);
    f = mt_act_forward(tr, fh->act, f);
    f = mt_tr_call(tr, fh->fc2, f);
    mt_tr_leave(tr);
    return f;
}

mt_tensor *mt_image_token_mask(mt_tracer *tr, mt_tensor *ids, int64_t image_token, const mt_tensor *embeds) {
    if (!ids || !embeds) return NULL;
    mt_tensor *mask = mt_tr_op1(tr, MT_OP_EQ, (mt_arg[]){mt_a_tensor(ids), mt_a_int(image_token)}, 2, NULL, 0);
    mask = mt_unsqueeze(tr, mask, -1);
    return mt_expand(tr, mask, embeds->ndim, embeds->shape); /* expand_as(inputs_embeds) */
}

mt_tensor *mt_masked_scatter(mt_tracer *tr, mt_tensor *x, mt_tensor *mask, mt_tensor *source) {
    if (!x || !mask || !source) return NULL;
    return mt_tr_op1(tr, MT_OP_MASKED_SCATTER, (mt_arg[]){mt_a_tensor(x), mt_a_tensor(mask), mt_a_tensor(source)}, 3,
                     NULL, 0);
}

bool mt_params_under(mt_ctx *ctx, const mt_module *mod, int64_t *out) {
    for (int i = 0; i < mod->params.n; i++) {
        const mt_param *p = mod->params.items[i];
        if (p->is_buffer || p->tied_to) continue;
        const mt_sym *n = mt_tensor_numel(ctx, p->t);
        if (!n) return false;
        if (!mt_sym_is_const(n)) {
            mt_fail(ctx, MT_ERR_INTERNAL, "parameter '%s' has a symbolic shape", p->name);
            return false;
        }
        if (!mt_checked_add(ctx, *out, mt_sym_const_value(n), out, "parameter total")) return false;
    }
    for (int i = 0; i < mod->children.n; i++)
        if (!mt_params_under(ctx, mod->children.items[i], out)) return false;
    return true;
}

const mt_sym *mt_image_count(mt_model *m, int64_t tokens_per_image) {
    mt_ctx *ctx = m->ctx;
    const mt_tensor *ids = m->inputs.items[0];
    const mt_sym *images = mt_model_input_dim(m, "images");
    const mt_sym *tokens = images ? mt_sym_mul(ctx, ids->shape[0], ids->shape[1]) : NULL;
    if (!tokens) return NULL;
    if (mt_sym_is_const(tokens)) {
        /* bound shapes: every image fills tokens_per_image of input_ids' positions (with
         * images unbound and not one image fitting, the bound is [1, 0] and the sizing
         * takes 0 images: what a text-only prompt of that length needs) */
        long long t = (long long)mt_sym_const_value(tokens), tpi = (long long)tokens_per_image;
        if (mt_sym_is_const(images) && mt_sym_const_value(images) * tpi > t) {
            long long n = (long long)mt_sym_const_value(images);
            mt_fail(ctx, MT_ERR_USAGE,
                    "%s: images=%lld need %lld x %lld = %lld image tokens, more than batch x seq = %lld; at most "
                    "%lld images fit",
                    m->model_type, n, n, tpi, n * tpi, t, t / tpi);
            return NULL;
        }
    }
    if (!mt_sym_is_const(images)) {
        const mt_sym *hi = mt_sym_floordiv(ctx, tokens, tokens_per_image);
        if (!hi) return NULL;
        mt_sym_set_bounds(ctx, images, 1, hi);
    }
    return images;
}

mt_status mt_image_input(mt_model *m, mt_tracer *tr, int64_t tokens_per_image, int64_t channels, int64_t size,
                         mt_dtype dtype) {
    mt_ctx *ctx = m->ctx;
    const mt_sym *images = mt_image_count(m, tokens_per_image);
    if (!images) return mt_ctx_status(ctx);
    const mt_sym *dims[4] = {images, mt_sym_const(ctx, channels), mt_sym_const(ctx, size), mt_sym_const(ctx, size)};
    mt_tensor *px = mt_tr_placeholder(tr, "pixel_values", dtype, 4, dims);
    if (!px) return mt_ctx_status(ctx);
    return mt_vec_push(ctx, &m->inputs, px) ? MT_OK : mt_ctx_status(ctx);
}

mt_status mt_dec_forward(mt_model *m, mt_tracer *tr, const mt_dec_spec *s) {
    mt_tensor *ids = m->inputs.items[0], *amask = m->inputs.items[1];
    mt_module *root = s->root ? s->root : m->root;
    const mt_dec_h *dh = MT_BOUND(tr, root, mt_dec_h);
    if (!dh) return mt_ctx_status(tr->ctx);
    mt_module *model = dh->model, *emb = dh->embed;
    mt_tensor *h = NULL;
    if (s->hooks.merge_embeds) { /* embedded and merged by the wrapper, then the decoder runs */
        if (s->model_parent) mt_tr_enter(tr, s->model_parent); /* the wrapper model embeds and merges */
        h = s->caps.embed_cls ? scaled_embedding_forward(tr, dh, ids) : mt_tr_call(tr, emb, ids);
        h = s->hooks.merge_embeds(tr, m, s, ids, h);
        if (s->root) mt_tr_enter(tr, root); /* a wrapper's language_model (the model's own root is entered) */
        mt_tr_enter(tr, model);
    } else {
        if (s->model_parent) mt_tr_enter(tr, s->model_parent);
        mt_tr_enter(tr, model);
        h = s->caps.embed_cls ? scaled_embedding_forward(tr, dh, ids) : mt_tr_call(tr, emb, ids);
    }
    if (s->caps.embed_scale != 0 && !s->caps.embed_scale_in_dtype && !s->caps.embed_cls)
        h = mt_mul_s(tr, h, s->caps.embed_scale);
    mt_arg aa[1] = {mt_a_dim(ids->shape[1])};
    mt_tensor *cache_pos = mt_tr_op1(tr, MT_OP_ARANGE, aa, 1, NULL, 0);
    mt_tensor *pos = s->hooks.position_ids ? s->hooks.position_ids(tr, m, s, cache_pos, h)
                                           : mt_unsqueeze(tr, cache_pos, 0);
    mt_tensor *mask = mt_dec_causal_mask(tr, amask, cache_pos, s->dtype);
    mt_tensor *smask = s->caps.sliding_window > 0
                           ? mt_dec_sliding_mask(tr, mask, cache_pos, s->caps.sliding_window, s->dtype)
                           : NULL;
    mt_tensor *cos = NULL, *sin = NULL, *lcos = NULL, *lsin = NULL;
    mt_rope_layout layout = s->caps.rope_interleave ? MT_ROPE_REPEAT : MT_ROPE_CAT;
    if (s->caps.mrope_section && s->caps.mrope_interleaved)
        mt_rope_cos_sin_mrope(tr, dh->rotary, h, pos, s->caps.mrope_section, s->attention_scaling, &cos, &sin);
    else if (!s->caps.no_rotary)
        mt_rope_cos_sin(tr, dh->rotary, h, pos, layout, s->attention_scaling, &cos, &sin);
    if (s->caps.local_rope_theta > 0)
        mt_rope_cos_sin(tr, dh->rotary_local, h, pos, layout, 1.0, &lcos, &lsin);
    if (s->caps.embed_scale != 0 && s->caps.embed_scale_in_dtype && !s->caps.embed_cls && h)
        h = mt_mul_s(tr, h, mt_dtype_round(h->dtype, s->caps.embed_scale));
    mt_module *layers = dh->layers;
    for (int i = 0; i < layers->children.n && h; i++) {
        mt_module *L = layers->children.items[i];
        bool slide = layer_slides(s, i);
        mt_tensor *lm = slide ? smask : mask;
        mt_tensor *c = (slide && lcos) ? lcos : cos, *sn = (slide && lsin) ? lsin : sin;
        if (s->caps.nope && s->caps.nope[i]) c = sn = NULL; /* NoPE layer: no rotary */
        const mt_dec_layer_h *lh = MT_BOUND(tr, L, mt_dec_layer_h);
        if (!lh) return mt_ctx_status(tr->ctx);
        mt_tr_enter(tr, L);
        /* The layer's forward reads L's modules (through their handles), these
         * tensors and the spec shared by every layer, nothing else: vouched
         * for here, so the sizing pass finds repeated layers without reading
         * their nodes (graph_internal.h, "vouched layer runs"). A layout or
         * hook that reads the layer's index or carries state from one layer
         * to the next breaks that promise: the test sizing/vouched_runs
         * checks it on every config of the suite. */
        mt_tensor *ins[4] = {h, lm, c, sn}; /* h: the stream, from the layer before */
        if (!mt__graph_run_begin(tr->g, L, ins, 4, 1)) return mt_ctx_status(tr->ctx);
        mt_dec_layer ly = {L, lh->attn, lh->mlp, lm, c, sn, lh->norm};
        h = (s->caps.layout ? s->caps.layout->forward : pre_norm_forward)(tr, &ly, h, s);
        mt__graph_run_end(tr->g);
        mt_tr_leave(tr);
        if (s->hooks.after_layer) h = s->hooks.after_layer(tr, m, s, i, h);
    }
    h = mt_dec_norm_forward(tr, dh->norm, h, s);
    mt_tr_leave(tr);
    if (s->model_parent) mt_tr_leave(tr);
    mt_tensor *logits = mt_tr_call(tr, dh->lm_head, h);
    if (s->caps.logits_mul != 0) logits = mt_mul_s(tr, logits, s->caps.logits_mul);
    if (s->caps.logits_div != 0) logits = mt_div_s(tr, logits, s->caps.logits_div);
    if (s->caps.final_softcap > 0) {
        logits = mt_div_s(tr, logits, s->caps.final_softcap);
        logits = mt_unary(tr, MT_OP_TANH, logits);
        logits = mt_mul_s(tr, logits, s->caps.final_softcap);
    }
    if (s->hooks.merge_embeds && s->root) mt_tr_leave(tr); /* the wrapper's language_model */
    return mt_tr_output(tr, &logits, 1);
}
