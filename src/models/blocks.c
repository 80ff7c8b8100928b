/* Shared decoder blocks: config reading, module construction, forward. */
#include <float.h>
#include <string.h>

#include "blocks.h"

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
        mt_cfg_error(m->cfg, field, "unsupported activation '%s'; expected one of: %s", hidden_act, list);
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

/* ---- config ---- */
mt_status mt_model_read_dtype(mt_model *m, mt_dtype *out) {
    if (m->dtype != MT_DTYPE_NONE) { *out = m->dtype; return MT_OK; }
    const char *key = mt_cfg_has(m->cfg, "torch_dtype") ? "torch_dtype" : "dtype";
    const char *name;
    if (!mt_cfg_str(m->cfg, key, "float32", &name)) return mt_ctx_status(m->ctx);
    if (strcmp(name, "auto") == 0) name = "float32";
    mt_dtype dt = mt_dtype_parse(name);
    if (dt == MT_DTYPE_NONE || !mt_dtype_is_floating(dt))
        return mt_cfg_error(m->cfg, key, "expected a floating dtype name such as \"bfloat16\", got \"%s\"", name);
    *out = dt;
    return MT_OK;
}

mt_status mt_dec_read_common(mt_model *m, mt_dec_spec *s, const mt_dec_defaults *d) {
    mt_config *c = m->cfg;
    s->family = m->model_type;
    if (mt_model_read_dtype(m, &s->dtype) != MT_OK) return mt_ctx_status(m->ctx);
    if (!mt_cfg_pos_int(c, "vocab_size", d->vocab, &s->vocab) ||
        !mt_cfg_pos_int(c, "hidden_size", d->hidden, &s->hidden) ||
        !mt_cfg_pos_int(c, "intermediate_size", d->intermediate, &s->intermediate) ||
        !mt_cfg_pos_int(c, "num_hidden_layers", d->layers, &s->layers) ||
        !mt_cfg_pos_int(c, "num_attention_heads", d->heads, &s->heads) ||
        !mt_cfg_pos_int(c, "num_key_value_heads", s->heads, &s->kv_heads) ||
        !mt_cfg_float(c, d->norm_eps_key, d->norm_eps, &s->norm_eps) ||
        !mt_cfg_str(c, "hidden_act", d->hidden_act, &s->hidden_act) ||
        !mt_cfg_bool(c, "tie_word_embeddings", d->tie_embeddings, &s->tie_embeddings) ||
        !mt_cfg_float(c, "rope_theta", d->rope_theta, &s->rope_theta))
        return mt_ctx_status(m->ctx);
    if (m->num_layers > 0) s->layers = m->num_layers; /* --layers override */
    m->num_layers = s->layers;
    if (mt_cfg_has(c, "head_dim")) {
        if (!mt_cfg_pos_int(c, "head_dim", 0, &s->head_dim)) return mt_ctx_status(m->ctx);
    } else {
        if (s->hidden % s->heads != 0)
            return mt_cfg_error(c, "num_attention_heads",
                                "hidden_size %lld is not divisible by num_attention_heads %lld (%s)",
                                (long long)s->hidden, (long long)s->heads, s->family);
        s->head_dim = s->hidden / s->heads;
    }
    if (s->heads % s->kv_heads != 0)
        return mt_cfg_error(c, "num_key_value_heads",
                            "num_attention_heads %lld is not divisible by num_key_value_heads %lld (%s)",
                            (long long)s->heads, (long long)s->kv_heads, s->family);
    s->rotary_dim = s->head_dim;
    s->attention_scaling = 1.0;
    return MT_OK;
}

static bool need_float(mt_model *m, const char *field, double *out) {
    if (!mt_cfg_has(m->cfg, field)) {
        mt_cfg_error(m->cfg, field, "missing required field '%s' for this rope type (%s)", field, m->model_type);
        return false;
    }
    return mt_cfg_float(m->cfg, field, 0, out);
}

mt_status mt_dec_read_rope(mt_model *m, mt_dec_spec *s) {
    mt_config *c = m->cfg;
    s->rope_type = "default";
    if (!mt_cfg_has(c, "rope_scaling")) return MT_OK;
    const char *type = NULL;
    if (mt_cfg_has(c, "rope_scaling.rope_type")) {
        if (!mt_cfg_str(c, "rope_scaling.rope_type", NULL, &type)) return mt_ctx_status(m->ctx);
    } else if (mt_cfg_has(c, "rope_scaling.type")) {
        if (!mt_cfg_str(c, "rope_scaling.type", NULL, &type)) return mt_ctx_status(m->ctx);
    } else {
        return mt_cfg_error(c, "rope_scaling", "expected a 'rope_type' (or 'type') field");
    }
    double f;
    if (strcmp(type, "default") == 0) {
    } else if (strcmp(type, "linear") == 0 || strcmp(type, "dynamic") == 0) {
        if (!need_float(m, "rope_scaling.factor", &f)) return mt_ctx_status(m->ctx);
        if (f < 1.0) return mt_cfg_error(c, "rope_scaling.factor", "expected a number >= 1, got %g", f);
    } else if (strcmp(type, "llama3") == 0) {
        double lo, hi, orig;
        if (!need_float(m, "rope_scaling.factor", &f) ||
            !need_float(m, "rope_scaling.low_freq_factor", &lo) ||
            !need_float(m, "rope_scaling.high_freq_factor", &hi) ||
            !need_float(m, "rope_scaling.original_max_position_embeddings", &orig))
            return mt_ctx_status(m->ctx);
        if (hi <= lo)
            return mt_cfg_error(c, "rope_scaling.high_freq_factor",
                                "expected high_freq_factor > low_freq_factor, got %g <= %g", hi, lo);
    } else if (strcmp(type, "yarn") == 0 || strcmp(type, "longrope") == 0 || strcmp(type, "su") == 0) {
        /* shapes unchanged; the family computes attention_scaling if it uses them */
    } else {
        return mt_cfg_error(c, "rope_scaling.rope_type",
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
    if (!mt_param_new(m->ctx, n, "weight", s->dtype, MT_DEVICE_CPU, 1, &dim)) return NULL;
    return n;
}

static mt_module *rms_norm(mt_model *m, mt_module *parent, const char *name, const mt_dec_spec *s) {
    return mt_dec_rms_norm(m, parent, name, s, s->hidden);
}

mt_status mt_dec_build_attn(mt_model *m, const mt_dec_spec *s, mt_module *L, int64_t index) {
    (void)index;
    mt_ctx *ctx = m->ctx;
    mt_dtype dt = s->dtype;
    mt_device dev = MT_DEVICE_CPU;
    int64_t qdim = s->heads * s->head_dim, kvdim = s->kv_heads * s->head_dim;
    mt_module *at = mt_module_new(ctx, L, "self_attn", s->cls.attn);
    if (!at) return mt_ctx_status(ctx);
    mt_module_attr(ctx, at, "num_heads", mt_a_int(s->heads));
    mt_module_attr(ctx, at, "num_key_value_heads", mt_a_int(s->kv_heads));
    mt_module_attr(ctx, at, "head_dim", mt_a_int(s->head_dim));
    if (!mt_nn_linear(ctx, at, "q_proj", s->hidden, qdim, s->qkv_bias, dt, dev) ||
        !mt_nn_linear(ctx, at, "k_proj", s->hidden, kvdim, s->qkv_bias, dt, dev) ||
        !mt_nn_linear(ctx, at, "v_proj", s->hidden, kvdim, s->qkv_bias, dt, dev) ||
        !mt_nn_linear(ctx, at, "o_proj", qdim, s->hidden, s->o_bias, dt, dev))
        return mt_ctx_status(ctx);
    return MT_OK;
}

mt_module *mt_dec_gated_mlp(mt_model *m, const mt_dec_spec *s, mt_module *parent, const char *name,
                            const char *cls, int64_t inter) {
    mt_ctx *ctx = m->ctx;
    mt_dtype dt = s->dtype;
    mt_device dev = MT_DEVICE_CPU;
    mt_module *mlp = mt_module_new(ctx, parent, name, cls);
    if (!mlp ||
        !mt_nn_linear(ctx, mlp, "gate_proj", s->hidden, inter, s->mlp_bias, dt, dev) ||
        !mt_nn_linear(ctx, mlp, "up_proj", s->hidden, inter, s->mlp_bias, dt, dev) ||
        !mt_nn_linear(ctx, mlp, "down_proj", inter, s->hidden, s->mlp_bias, dt, dev) ||
        !mt_act_new(m, mlp, "act_fn", s->hidden_act, "hidden_act"))
        return NULL;
    return mlp;
}

mt_status mt_dec_build_mlp(mt_model *m, const mt_dec_spec *s, mt_module *L, int64_t index) {
    (void)index;
    return mt_dec_gated_mlp(m, s, L, "mlp", s->cls.mlp, s->intermediate) ? MT_OK : mt_ctx_status(m->ctx);
}

mt_status mt_dec_build(mt_model *m, const mt_dec_spec *s) {
    mt_ctx *ctx = m->ctx;
    mt_dtype dt = s->dtype;
    mt_device dev = MT_DEVICE_CPU; /* requested; the meta scope turns it into META */
    mt_module *model = mt_module_new(ctx, m->root, "model", s->cls.model);
    if (!model) return mt_ctx_status(ctx);
    mt_module *emb = mt_nn_embedding(ctx, model, "embed_tokens", s->vocab, s->hidden, dt, dev);
    mt_module *layers = mt_module_new(ctx, model, "layers", "ModuleList");
    if (!emb || !layers) return mt_ctx_status(ctx);
    mt_status (*build_attn)(mt_model *, const mt_dec_spec *, mt_module *, int64_t) =
        s->hooks.build_attn ? s->hooks.build_attn : mt_dec_build_attn;
    mt_status (*build_mlp)(mt_model *, const mt_dec_spec *, mt_module *, int64_t) =
        s->hooks.build_mlp ? s->hooks.build_mlp : mt_dec_build_mlp;
    for (int64_t i = 0; i < s->layers; i++) {
        char idx[24];
        snprintf(idx, sizeof idx, "%lld", (long long)i);
        mt_module *L = mt_module_new(ctx, layers, idx, s->cls.layer);
        if (!L) return mt_ctx_status(ctx);
        /* registration order = transformers' __init__ order: self_attn, mlp, norms */
        if (build_attn(m, s, L, i) != MT_OK || build_mlp(m, s, L, i) != MT_OK) return mt_ctx_status(ctx);
        if (!rms_norm(m, L, "input_layernorm", s) || !rms_norm(m, L, "post_attention_layernorm", s))
            return mt_ctx_status(ctx);
    }
    if (!rms_norm(m, model, "norm", s)) return mt_ctx_status(ctx);
    mt_module *rot = mt_module_new(ctx, model, "rotary_emb", s->cls.rotary);
    if (!rot) return mt_ctx_status(ctx);
    mt_module_attr(ctx, rot, "rope_type", mt_a_str(s->rope_type));
    mt_module_attr(ctx, rot, "rope_theta", mt_a_float(s->rope_theta));
    int64_t half = s->rotary_dim / 2;
    /* inv_freq: non-persistent, computed from rope_theta at materialization. */
    if (!mt_buffer_new(ctx, rot, "inv_freq", MT_FLOAT32, dev, 1, &half, false, true))
        return mt_ctx_status(ctx);
    if (s->tie_embeddings) {
        if (!mt_nn_linear_tied(ctx, m->root, "lm_head", mt_module_param(emb, "weight")))
            return mt_ctx_status(ctx);
    } else if (!mt_nn_linear(ctx, m->root, "lm_head", s->hidden, s->vocab, false, dt, dev)) {
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
    mt_tensor *w = mt_tr_get_attr(tr, mt_module_param(n, "weight"));
    mt_tensor *y = mt_mul(tr, w, mt_to(tr, h, in_dt));
    mt_tr_leave(tr);
    return y;
}

/* cos/sin [1, seq, rotary_dim] from position_ids [1, seq]. */
static void rotary_forward(mt_tracer *tr, mt_module *rot, mt_tensor *x, mt_tensor *pos,
                           const mt_dec_spec *s, mt_tensor **cos, mt_tensor **sin) {
    mt_tr_enter(tr, rot);
    mt_tensor *inv = mt_tr_get_attr(tr, mt_module_param(rot, "inv_freq"));
    mt_arg i1[3] = {mt_a_none(), mt_a_slice(NULL, NULL, NULL), mt_a_none()};
    mt_tensor *invx = mt_to(tr, mt_index(tr, inv, i1, 3), MT_FLOAT32);
    const mt_sym *ex[3] = {pos ? pos->shape[0] : NULL, NULL, C(tr, 1)};
    invx = mt_expand(tr, invx, 3, ex);
    mt_arg i2[3] = {mt_a_slice(NULL, NULL, NULL), mt_a_none(), mt_a_slice(NULL, NULL, NULL)};
    mt_tensor *posx = mt_to(tr, mt_index(tr, pos, i2, 3), MT_FLOAT32);
    mt_tensor *freqs = mt_transpose(tr, mt_matmul(tr, invx, posx), 1, 2);
    mt_tensor *two[2] = {freqs, freqs};
    mt_tensor *emb = mt_cat(tr, two, 2, -1);
    mt_tensor *c = mt_mul_s(tr, mt_unary(tr, MT_OP_COS, emb), s->attention_scaling);
    mt_tensor *sn = mt_mul_s(tr, mt_unary(tr, MT_OP_SIN, emb), s->attention_scaling);
    *cos = mt_to(tr, c, x ? x->dtype : MT_FLOAT32);
    *sin = mt_to(tr, sn, x ? x->dtype : MT_FLOAT32);
    mt_tr_leave(tr);
}

static mt_tensor *rotate_half(mt_tracer *tr, mt_tensor *x) {
    if (!x) return NULL;
    const mt_sym *d = x->shape[x->ndim - 1];
    const mt_sym *h = mt_sym_floordiv(tr->ctx, d, 2);
    mt_tensor *x1 = mt_slice_last(tr, x, NULL, h);
    mt_tensor *x2 = mt_slice_last(tr, x, h, NULL);
    mt_tensor *parts[2] = {mt_unary(tr, MT_OP_NEG, x2), x1};
    return mt_cat(tr, parts, 2, -1);
}

mt_tensor *mt_dec_apply_rotary(mt_tracer *tr, mt_tensor *x, mt_tensor *cos, mt_tensor *sin) {
    return mt_add(tr, mt_mul(tr, x, cos), mt_mul(tr, rotate_half(tr, x), sin));
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

mt_tensor *mt_dec_attn_forward(mt_tracer *tr, mt_module *at, mt_tensor *x, mt_tensor *mask,
                               mt_tensor *cos, mt_tensor *sin, const mt_dec_spec *s) {
    if (!x) return NULL;
    const mt_sym *b = x->shape[0], *q_len = x->shape[1];
    mt_tr_enter(tr, at);
    mt_tensor *q = mt_tr_call(tr, mt_module_child(at, "q_proj"), x);
    mt_tensor *k = mt_tr_call(tr, mt_module_child(at, "k_proj"), x);
    mt_tensor *v = mt_tr_call(tr, mt_module_child(at, "v_proj"), x);
    const mt_sym *qs[4] = {b, q_len, C(tr, s->heads), C(tr, s->head_dim)};
    const mt_sym *ks[4] = {b, q_len, C(tr, s->kv_heads), C(tr, s->head_dim)};
    q = mt_transpose(tr, mt_view(tr, q, 4, qs), 1, 2);
    k = mt_transpose(tr, mt_view(tr, k, 4, ks), 1, 2);
    v = mt_transpose(tr, mt_view(tr, v, 4, ks), 1, 2);
    mt_tensor *c = mt_unsqueeze(tr, cos, 1), *sn = mt_unsqueeze(tr, sin, 1);
    q = mt_dec_apply_rotary(tr, q, c, sn);
    k = mt_dec_apply_rotary(tr, k, c, sn);
    k = mt_dec_repeat_kv(tr, k, s->heads / s->kv_heads);
    v = mt_dec_repeat_kv(tr, v, s->heads / s->kv_heads);
    mt_tensor *m4 = NULL;
    if (mask && k) {
        mt_arg idx[4] = {mt_a_slice(NULL, NULL, NULL), mt_a_slice(NULL, NULL, NULL),
                         mt_a_slice(NULL, NULL, NULL), mt_a_slice(NULL, k->shape[2], NULL)};
        m4 = mt_index(tr, mask, idx, 4);
    }
    mt_tensor *o = NULL;
    if (q && k && v && m4) {
        mt_arg a[3] = {mt_a_tensor(q), mt_a_tensor(k), mt_a_tensor(v)};
        mt_kwarg kw[3] = {{"attn_mask", mt_a_tensor(m4)}, {"dropout_p", mt_a_float(0.0)},
                          {"is_causal", mt_a_bool(false)}};
        o = mt_tr_op1(tr, MT_OP_SDPA, a, 3, kw, 3);
    }
    o = mt_contiguous(tr, mt_transpose(tr, o, 1, 2));
    const mt_sym *os[3] = {b, q_len, NULL};
    o = mt_view(tr, o, 3, os);
    o = mt_tr_call(tr, mt_module_child(at, "o_proj"), o);
    mt_tr_leave(tr);
    return o;
}

mt_tensor *mt_dec_mlp_forward(mt_tracer *tr, mt_module *mlp, mt_tensor *x, const mt_dec_spec *s) {
    (void)s;
    mt_tr_enter(tr, mlp);
    mt_tensor *g = mt_act_forward(tr, mt_module_child(mlp, "act_fn"),
                                  mt_tr_call(tr, mt_module_child(mlp, "gate_proj"), x));
    mt_tensor *u = mt_tr_call(tr, mt_module_child(mlp, "up_proj"), x);
    mt_tensor *y = mt_tr_call(tr, mt_module_child(mlp, "down_proj"), mt_mul(tr, g, u));
    mt_tr_leave(tr);
    return y;
}

/* The 4-D additive causal mask [batch, 1, seq, seq] from the 2-D attention_mask,
 * as transformers builds it (full, triu, arange comparison, padding). */
static mt_tensor *causal_mask(mt_tracer *tr, mt_tensor *attn_mask, mt_tensor *cache_pos,
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

mt_status mt_dec_forward(mt_model *m, mt_tracer *tr, const mt_dec_spec *s) {
    mt_tensor *ids = m->inputs.items[0], *amask = m->inputs.items[1];
    mt_module *model = mt_module_child(m->root, "model");
    mt_tr_enter(tr, model);
    mt_tensor *h = mt_tr_call(tr, mt_module_child(model, "embed_tokens"), ids);
    mt_arg aa[1] = {mt_a_dim(ids->shape[1])};
    mt_tensor *cache_pos = mt_tr_op1(tr, MT_OP_ARANGE, aa, 1, NULL, 0);
    mt_tensor *pos = mt_unsqueeze(tr, cache_pos, 0);
    mt_tensor *mask = causal_mask(tr, amask, cache_pos, s->dtype);
    mt_tensor *cos = NULL, *sin = NULL;
    rotary_forward(tr, mt_module_child(model, "rotary_emb"), h, pos, s, &cos, &sin);
    mt_module *layers = mt_module_child(model, "layers");
    for (int i = 0; i < layers->children.n && h; i++) {
        mt_module *L = layers->children.items[i];
        mt_tr_enter(tr, L);
        mt_tensor *res = h;
        mt_tensor *a = mt_dec_rms_forward(tr, mt_module_child(L, "input_layernorm"), h);
        a = (s->hooks.attn_forward ? s->hooks.attn_forward : mt_dec_attn_forward)(
            tr, mt_module_child(L, "self_attn"), a, mask, cos, sin, s);
        h = mt_add(tr, res, a);
        res = h;
        mt_tensor *f = mt_dec_rms_forward(tr, mt_module_child(L, "post_attention_layernorm"), h);
        f = (s->hooks.mlp_forward ? s->hooks.mlp_forward : mt_dec_mlp_forward)(
            tr, mt_module_child(L, "mlp"), f, s);
        h = mt_add(tr, res, f);
        mt_tr_leave(tr);
    }
    h = mt_dec_rms_forward(tr, mt_module_child(model, "norm"), h);
    mt_tr_leave(tr);
    mt_tensor *logits = mt_tr_call(tr, mt_module_child(m->root, "lm_head"), h);
    return mt_tr_output(tr, &logits, 1);
}
