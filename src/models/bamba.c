/* Bamba (BambaForCausalLM): a Mamba-2 hybrid. Each decoder layer is a
 * Mamba-2 mixer ("mamba") or, at the indices attn_layer_indices lists, a
 * Llama-style attention ("self_attn"); every layer has the SwiGLU MLP
 * "feed_forward" and the RMSNorms input_layernorm / pre_ff_layernorm; the
 * model ends in final_layernorm. Read at the source: transformers main,
 * src/transformers/models/bamba/modeling_bamba.py (commit 00511f5df3) and
 * configuration_bamba.py (commit 001f85b38f).
 *
 * The mixer is traced on BambaMixer.torch_forward, the path PyTorch runs
 * without the CUDA kernels (no cache): in_proj, split into gate / xBC / dt,
 * the depthwise causal conv1d (padding K-1, sliced back to seq), the
 * activation, the padding mask, split into x / B / C, softplus(dt + dt_bias)
 * clamped to time_step_limit, A = -exp(A_log.float()), and the chunked SSD
 * scan: the sequence padded to a multiple of mamba_chunk_size (the pad,
 * (chunk - seq % chunk) % chunk, is the symbolic chunk*((seq+chunk-1)//chunk)
 * - seq), reshaped into chunks, segment_sum (expand, tril(ones) masks,
 * masked_fill, cumsum), the diagonal blocks, the chunk states, the
 * inter-chunk recurrence over the chunk count + 1, the off-diagonal output,
 * the D skip connection, the slice back to seq, the gated RMSNorm and
 * out_proj. Data-dependent branches follow the general case, as the other
 * families' masks do: the attention mask has padding (so the Mamba layers get
 * it and multiply the hidden states by it, batch > 1 and seq > 1 assumed), and
 * pad_size > 0 (the slice back to seq is recorded; it is the identity when seq
 * is a multiple of the chunk). Where the graph departs from FX's recording: the
 * .float() calls are recorded as .to(torch.float32) (the project's convention),
 * torch.split as the split method (same rule), and torch.ones(..., device=)
 * without the device.
 *
 * Rotary: BambaConfig hard-codes partial_rotary_factor = 0.5, but the default
 * rope initialisation of this modeling file uses the full head_dim
 * (compute_default_rope_parameters reads head_dim only), so cos/sin cover the
 * whole head and apply_rotary_pos_emb's q[..., rotary_dim:] pass-through is
 * empty; the slices and the concatenation are recorded as Bamba's function
 * does them. Other rope types go through ROPE_INIT_FUNCTIONS, which honour
 * the factor (half the head). */
#include <math.h>
#include <string.h>

#include <jansson.h>

#include "blocks.h"

static const mt_dec_names bamba_names = {
    "BambaModel", "BambaDecoderLayer", "BambaAttention", "BambaMLP", "BambaRMSNorm", "BambaRotaryEmbedding",
};

/* BambaConfig defaults (configuration_bamba.py); rope_theta 10000 is the
 * rope_parameters default. */
static const mt_dec_defaults bamba_defaults = {
    .vocab = 128000, .hidden = 4096, .intermediate = 14336, .layers = 32, .heads = 32, .kv_heads = 8,
    .norm_eps = 1e-5, .rope_theta = 10000.0, .hidden_act = "silu", .norm_eps_key = "rms_norm_eps",
    .tie_embeddings = false,
};

/* The Mamba-2 mixer's sizes (BambaMixer.__init__). */
typedef struct bamba_ext {
    int64_t heads, head_dim, groups, state, conv_kernel, chunk, intermediate, conv_dim;
    bool conv_bias, proj_bias;
    double dt_min, dt_max; /* time_step_limit */
    const bool *attn;      /* per layer: an attention layer */
} bamba_ext;

static const mt_sym *K(mt_tracer *tr, int64_t v) { return mt_sym_const(tr->ctx, v); }

static mt_tensor *bamba_attn(mt_tracer *tr, mt_module *at, mt_tensor *x, mt_tensor *mask, mt_tensor *cos,
                             mt_tensor *sin, const mt_dec_spec *s);

/* ---- build ---- */

static mt_status build_mixer(mt_model *m, const mt_dec_spec *s, mt_module *L) {
    mt_ctx *ctx = m->ctx;
    const bamba_ext *e = s->ext;
    mt_dtype dt = s->dtype;
    mt_device dev = MT_DEVICE_CPU;
    mt_module *mx = mt_module_new(ctx, L, "mamba", "BambaMixer");
    if (!mx) return mt_ctx_status(ctx);
    /* __init__ order: act (ACT2FN module), conv1d, in_proj, dt_bias, A_log, norm, D, out_proj */
    int64_t h = e->heads;
    if (!mt_act_new(m, mx, "act", s->hidden_act, "hidden_act") ||
        !mt_nn_conv1d_nn(ctx, mx, "conv1d", e->conv_dim, e->conv_dim, e->conv_kernel, e->conv_kernel - 1, e->conv_dim,
                         e->conv_bias, dt, dev) ||
        !mt_nn_linear(ctx, mx, "in_proj", s->hidden, e->intermediate + e->conv_dim + e->heads, e->proj_bias, dt, dev) ||
        !mt_param_new(ctx, mx, "dt_bias", dt, dev, 1, &h) || !mt_param_new(ctx, mx, "A_log", dt, dev, 1, &h))
        return mt_ctx_status(ctx);
    mt_module *norm = mt_module_new(ctx, mx, "norm", "BambaRMSNormGated");
    if (!norm || !mt_param_new(ctx, norm, "weight", dt, dev, 1, &e->intermediate)) return mt_ctx_status(ctx);
    mt_module_attr(ctx, norm, "eps", mt_a_float(s->norm_eps));
    if (!mt_param_new(ctx, mx, "D", dt, dev, 1, &h) ||
        !mt_nn_linear(ctx, mx, "out_proj", e->intermediate, s->hidden, e->proj_bias, dt, dev))
        return mt_ctx_status(ctx);
    mt_module_attr(ctx, mx, "num_heads", mt_a_int(e->heads));
    mt_module_attr(ctx, mx, "head_dim", mt_a_int(e->head_dim));
    mt_module_attr(ctx, mx, "n_groups", mt_a_int(e->groups));
    mt_module_attr(ctx, mx, "ssm_state_size", mt_a_int(e->state));
    mt_module_attr(ctx, mx, "chunk_size", mt_a_int(e->chunk));
    return MT_OK;
}

/* The attention slot of mt_dec_build: self_attn on attention layers, the mixer elsewhere. */
static mt_status bamba_build_attn(mt_model *m, const mt_dec_spec *s, mt_module *L, int64_t index) {
    const bamba_ext *e = s->ext;
    return e->attn[index] ? mt_dec_build_attn(m, s, L, index) : build_mixer(m, s, L);
}

/* attn_layer_indices: distinct indices in [0, num_hidden_layers). */
static bool read_attn_layers(mt_model *m, int64_t cfg_layers, int64_t layers, const bool **out) {
    bool *f = mt_alloc_array(m->ctx, (size_t)(layers > 0 ? layers : 1), sizeof *f);
    if (!f) return false;
    *out = f;
    json_t *v = mt_config_json(m->cfg, "attn_layer_indices");
    if (!v) return true; /* None: every layer is a Mamba layer */
    if (!json_is_array(v)) {
        mt_config_error(m->cfg, "attn_layer_indices", "expected a list of layer indices (bamba)");
        return false;
    }
    for (size_t i = 0; i < json_array_size(v); i++) {
        json_t *x = json_array_get(v, i);
        json_int_t k = json_is_integer(x) ? json_integer_value(x) : -1;
        if (k < 0 || k >= cfg_layers) {
            mt_config_error(m->cfg, "attn_layer_indices", "entry %zu must be a layer index in [0, %lld) (bamba)", i,
                            (long long)cfg_layers);
            return false;
        }
        if (k < layers) f[k] = true;
    }
    return true;
}

/* time_step_limit: a pair of numbers; absent or null: (0.0, inf). */
static bool read_time_step_limit(mt_model *m, double *lo, double *hi) {
    *lo = 0.0;
    *hi = INFINITY;
    json_t *v = mt_config_json(m->cfg, "time_step_limit");
    if (!v) return true;
    if (!json_is_array(v) || json_array_size(v) != 2 || !json_is_number(json_array_get(v, 0)) ||
        !json_is_number(json_array_get(v, 1))) {
        mt_config_error(m->cfg, "time_step_limit", "expected a pair of numbers [min, max] (bamba)");
        return false;
    }
    *lo = json_number_value(json_array_get(v, 0));
    *hi = json_number_value(json_array_get(v, 1));
    return true;
}

static mt_status bamba_build(mt_model *m) {
    mt_ctx *ctx = m->ctx;
    mt_dec_spec *s = mt_alloc(ctx, sizeof *s);
    bamba_ext *e = mt_alloc(ctx, sizeof *e);
    if (!s || !e) return mt_ctx_status(ctx);
    m->family = s;
    s->cls = bamba_names;
    s->ext = e;
    if (mt_dec_read_common(m, s, &bamba_defaults) != MT_OK) return mt_ctx_status(ctx);
    mt_config *c = m->cfg;
    int64_t cfg_layers, expand, d_head = 0;
    const char *d_head_s = NULL;
    bool d_head_auto = !mt_config_has(c, "mamba_d_head");
    if (!d_head_auto) {
        json_t *v = mt_config_json(c, "mamba_d_head");
        if (json_is_string(v)) {
            if (!mt_config_str(c, "mamba_d_head", "auto", &d_head_s)) return mt_ctx_status(ctx);
            if (strcmp(d_head_s, "auto") != 0)
                return mt_config_error(c, "mamba_d_head", "expected a positive int or \"auto\", got \"%s\" (bamba)",
                                       d_head_s);
            d_head_auto = true;
        } else if (!mt_config_pos_int(c, "mamba_d_head", 0, &d_head)) {
            return mt_ctx_status(ctx);
        }
    }
    if (!mt_config_int(c, "num_hidden_layers", bamba_defaults.layers, &cfg_layers) ||
        !mt_config_pos_int(c, "mamba_n_heads", 128, &e->heads) || !mt_config_pos_int(c, "mamba_n_groups", 1, &e->groups) ||
        !mt_config_pos_int(c, "mamba_d_state", 256, &e->state) || !mt_config_pos_int(c, "mamba_d_conv", 4, &e->conv_kernel) ||
        !mt_config_pos_int(c, "mamba_expand", 2, &expand) || !mt_config_pos_int(c, "mamba_chunk_size", 256, &e->chunk) ||
        !mt_config_bool(c, "mamba_conv_bias", true, &e->conv_bias) ||
        !mt_config_bool(c, "mamba_proj_bias", false, &e->proj_bias) || !read_time_step_limit(m, &e->dt_min, &e->dt_max) ||
        !read_attn_layers(m, cfg_layers, s->layers, &e->attn))
        return mt_ctx_status(ctx);
    bool attn_bias = false, mlp_bias = false; /* BambaConfig sets both False */
    s->qkv_bias = s->o_bias = attn_bias;
    s->mlp_bias = mlp_bias;
    e->intermediate = expand * s->hidden;
    if (e->intermediate % e->heads != 0)
        return mt_config_error(c, "mamba_n_heads", "mamba_n_heads (%lld) must divide mamba_expand * hidden_size (%lld) "
                               "(bamba)", (long long)e->heads, (long long)e->intermediate);
    e->head_dim = d_head_auto ? e->intermediate / e->heads : d_head;
    if (e->head_dim * e->heads != e->intermediate)
        return mt_config_error(c, "mamba_d_head", "mamba_d_head * mamba_n_heads (%lld * %lld) must equal mamba_expand * "
                               "hidden_size (%lld) (bamba)", (long long)e->head_dim, (long long)e->heads,
                               (long long)e->intermediate);
    if (e->heads % e->groups != 0)
        return mt_config_error(c, "mamba_n_groups", "mamba_n_groups (%lld) must divide mamba_n_heads (%lld) (bamba)",
                               (long long)e->groups, (long long)e->heads);
    e->conv_dim = e->intermediate + 2 * e->groups * e->state;
    if (mt_dec_read_rope(m, s) != MT_OK) return mt_ctx_status(ctx);
    s->rotary_dim = strcmp(s->rope_type, "default") == 0 ? s->head_dim : s->head_dim / 2;
    s->names.mlp = "feed_forward";
    s->names.mlp_norm = "pre_ff_layernorm";
    s->names.final_norm = "final_layernorm";
    s->names.attn_alt = "mamba";
    s->hooks.build_attn = bamba_build_attn;
    if (mt_dec_build(m, s) != MT_OK) return mt_ctx_status(ctx);
    /* BambaDecoderLayer registers feed_forward, input_layernorm, pre_ff_layernorm, then the mixer or
     * self_attn; mt_dec_build made the attention slot first: move it last */
    mt_module *layers = mt_module_find(m->root, "model.layers");
    for (int i = 0; layers && i < layers->children.n; i++) {
        mt_module *L = layers->children.items[i];
        void **it = L->children.items;
        int n = L->children.n;
        if (n < 2) continue;
        void *first = it[0];
        memmove(it, it + 1, (size_t)(n - 1) * sizeof *it);
        it[n - 1] = first;
    }
    s->hooks.attn_forward = bamba_attn; /* after mt_dec_build: its attention choice keeps eager and sdpa */
    int64_t nattn = 0;
    for (int64_t i = 0; i < s->layers; i++) nattn += e->attn[i];
    mt_model_info(m, "attention_layers", mt_a_int(nattn));
    mt_model_info(m, "mamba_layers", mt_a_int(s->layers - nattn));
    mt_model_info(m, "mamba_n_heads", mt_a_int(e->heads));
    mt_model_info(m, "mamba_d_head", mt_a_int(e->head_dim));
    mt_model_info(m, "mamba_n_groups", mt_a_int(e->groups));
    mt_model_info(m, "mamba_d_state", mt_a_int(e->state));
    mt_model_info(m, "mamba_d_conv", mt_a_int(e->conv_kernel));
    mt_model_info(m, "mamba_chunk_size", mt_a_int(e->chunk));
    mt_model_info(m, "mamba_conv_dim", mt_a_int(e->conv_dim));
    return MT_OK;
}

/* ---- forward ---- */

static mt_arg SL(void) { return mt_a_slice(NULL, NULL, NULL); }

/* (h * attention_mask[:, :, None]).to(h.dtype) (apply_mask_to_padding_states). */
static mt_tensor *mask_states(mt_tracer *tr, mt_tensor *h, mt_tensor *amask) {
    if (!h) return NULL;
    mt_arg idx[3] = {SL(), SL(), mt_a_none()};
    mt_tensor *am = mt_index(tr, amask, idx, 3);
    return mt_to(tr, mt_mul(tr, h, am), h->dtype);
}

static mt_tensor *op1(mt_tracer *tr, mt_op_id id, mt_tensor *x, const mt_arg *more, int nmore, const mt_kwarg *kw,
                      int nkw) {
    if (!x) return NULL;
    mt_arg a[8];
    a[0] = mt_a_tensor(x);
    for (int i = 0; i < nmore && i < 7; i++) a[1 + i] = more[i];
    return mt_tr_op1(tr, id, a, 1 + nmore, kw, nkw);
}

/* x[..., None] and friends: idx items over x. */
static mt_tensor *ix(mt_tracer *tr, mt_tensor *x, int n, const mt_arg *idx) { return mt_index(tr, x, idx, n); }

/* x.sum(dim=d) */
static mt_tensor *sum_dim(mt_tracer *tr, mt_tensor *x, int64_t d) {
    mt_kwarg k = {"dim", mt_a_int(d)};
    return op1(tr, MT_OP_SUM, x, NULL, 0, &k, 1);
}

/* F.pad(x, pad) with pad a list of dims; mode="constant", value=0 when `kw`. */
static mt_tensor *pad(mt_tracer *tr, mt_tensor *x, int n, const mt_sym *const *p, bool kw) {
    mt_arg a = mt_a_dims(tr->ctx, p, n);
    mt_kwarg k[2] = {{"mode", mt_a_str("constant")}, {"value", mt_a_int(0)}};
    return op1(tr, MT_OP_PAD, x, &a, 1, k, kw ? 2 : 0);
}

/* segment_sum(x): x[..., None].expand(*x.size(), L); masked by tril(ones(L, L, bool), -1);
 * cumsum(dim=-2); masked_fill(~tril(ones, 0), -inf). */
static mt_tensor *segment_sum(mt_tracer *tr, mt_tensor *x) {
    if (!x) return NULL;
    const mt_sym *L = x->shape[x->ndim - 1];
    mt_arg i1[2] = {mt_a_ellipsis(), mt_a_none()};
    mt_tensor *e = ix(tr, x, 2, i1);
    const mt_sym *ex[MT_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++) ex[i] = x->shape[i];
    ex[x->ndim] = L;
    e = mt_expand(tr, e, x->ndim + 1, ex);
    mt_tensor *seg = NULL;
    for (int pass = 0; pass < 2; pass++) {
        mt_arg oa[2] = {mt_a_dim(L), mt_a_dim(L)};
        mt_kwarg ok = {"dtype", mt_a_dtype(MT_BOOL)};
        mt_tensor *ones = mt_tr_op1(tr, MT_OP_ONES, oa, 2, &ok, 1);
        mt_kwarg tk = {"diagonal", mt_a_int(pass == 0 ? -1 : 0)};
        mt_tensor *mask = op1(tr, MT_OP_TRIL, ones, NULL, 0, &tk, 1);
        mt_tensor *inv = op1(tr, MT_OP_INVERT, mask, NULL, 0, NULL, 0);
        if (!inv) return NULL;
        if (pass == 0) {
            mt_arg fa[2] = {mt_a_tensor(inv), mt_a_int(0)};
            e = op1(tr, MT_OP_MASKED_FILL, e, fa, 2, NULL, 0);
            mt_kwarg ck = {"dim", mt_a_int(-2)};
            seg = op1(tr, MT_OP_CUMSUM, e, NULL, 0, &ck, 1);
        } else {
            mt_arg fa[2] = {mt_a_tensor(inv), mt_a_float(-INFINITY)};
            seg = op1(tr, MT_OP_MASKED_FILL, seg, fa, 2, NULL, 0);
        }
    }
    return seg;
}

/* reshape_into_chunks: pad seq (dim 1) by pad_size, then reshape(b, -1, chunk, *rest). */
static mt_tensor *into_chunks(mt_tracer *tr, mt_tensor *x, const mt_sym *pad_size, int64_t chunk) {
    if (!x) return NULL;
    const mt_sym *z = K(tr, 0);
    mt_tensor *p;
    if (x->ndim == 4) {
        const mt_sym *ps[8] = {z, z, z, z, z, pad_size, z, z};
        p = pad(tr, x, 8, ps, true);
    } else {
        const mt_sym *ps[6] = {z, z, z, pad_size, z, z};
        p = pad(tr, x, 6, ps, true);
    }
    if (!p) return NULL;
    const mt_sym *rs[5] = {p->shape[0], NULL, K(tr, chunk), p->shape[2], p->ndim == 4 ? p->shape[3] : NULL};
    return mt_reshape(tr, p, p->ndim == 4 ? 5 : 4, rs);
}

/* BambaRMSNormGated.forward(h, gate). */
static mt_tensor *gated_norm(mt_tracer *tr, mt_module *n, mt_tensor *h, mt_tensor *gate) {
    if (!h) return NULL;
    mt_dtype in_dt = h->dtype;
    const mt_arg *eps = mt_module_get_attr(n, "eps");
    mt_tr_enter(tr, n);
    h = mt_to(tr, h, MT_FLOAT32);
    mt_tensor *g = mt_to(tr, gate, MT_FLOAT32);
    g = op1(tr, MT_OP_SILU, g, NULL, 0, NULL, 0);
    h = mt_mul(tr, h, g);
    mt_tensor *var = mt_reduce(tr, MT_OP_MEAN, mt_pow_s(tr, h, 2), -1, true);
    mt_tensor *r = mt_unary(tr, MT_OP_RSQRT, mt_add_s(tr, var, eps->v.f));
    h = mt_mul(tr, h, r);
    mt_tensor *w = mt_tr_get_attr(tr, mt_module_param(n, "weight"));
    mt_tensor *y = mt_mul(tr, w, mt_to(tr, h, in_dt));
    mt_tr_leave(tr);
    return y;
}

/* BambaMixer.forward -> torch_forward (no cache), x [b, seq, hidden]. */
static mt_tensor *mixer_forward(mt_tracer *tr, mt_module *mx, mt_tensor *x, mt_tensor *amask, const mt_dec_spec *s) {
    if (!x || !amask) return NULL;
    const bamba_ext *e = s->ext;
    mt_ctx *ctx = tr->ctx;
    const mt_sym *b = x->shape[0], *seq = x->shape[1];
    mt_dtype dtype = x->dtype;
    const int64_t I = e->intermediate, H = e->heads, P = e->head_dim, N = e->state, G = e->groups, CH = e->chunk;
    mt_tr_enter(tr, mx);
    /* forward(): the padding mask, then torch_forward's apply_mask_to_padding_states */
    x = mask_states(tr, x, amask);
    x = mask_states(tr, x, amask);
    mt_tensor *proj = mt_tr_call(tr, mt_module_child(mx, "in_proj"), x);
    int64_t sz[3] = {I, e->conv_dim, H};
    mt_node *sp = mt_split(tr, proj, 3, sz, -1);
    mt_tensor *gate = mt_tr_item(tr, sp, 0), *xbc = mt_tr_item(tr, sp, 1), *dt = mt_tr_item(tr, sp, 2);
    /* act(conv1d(xBC.transpose(1, 2))[..., :seq_len].transpose(1, 2)) */
    mt_tensor *t = mt_transpose(tr, xbc, 1, 2);
    t = mt_tr_call(tr, mt_module_child(mx, "conv1d"), t);
    mt_arg cut[2] = {mt_a_ellipsis(), mt_a_slice(NULL, seq, NULL)};
    t = ix(tr, t, 2, cut);
    t = mt_transpose(tr, t, 1, 2);
    xbc = mt_act_forward(tr, mt_module_child(mx, "act"), t);
    xbc = mask_states(tr, xbc, amask);
    int64_t sz2[3] = {I, G * N, G * N};
    mt_node *sp2 = mt_split(tr, xbc, 3, sz2, -1);
    mt_tensor *hs = mt_tr_item(tr, sp2, 0), *B = mt_tr_item(tr, sp2, 1), *C = mt_tr_item(tr, sp2, 2);
    /* A = -exp(A_log.float()) */
    mt_tensor *A = mt_tr_get_attr(tr, mt_module_param(mx, "A_log"));
    A = mt_to(tr, A, MT_FLOAT32);
    A = mt_unary(tr, MT_OP_EXP, A);
    A = mt_unary(tr, MT_OP_NEG, A);
    /* dt = clamp(softplus(dt + dt_bias), *time_step_limit) */
    mt_tensor *dtb = mt_tr_get_attr(tr, mt_module_param(mx, "dt_bias"));
    dt = mt_add(tr, dt, dtb);
    dt = op1(tr, MT_OP_SOFTPLUS, dt, NULL, 0, NULL, 0);
    mt_arg lim[2] = {mt_a_float(e->dt_min), mt_a_float(e->dt_max)};
    dt = op1(tr, MT_OP_CLAMP_FN, dt, lim, 2, NULL, 0);
    const mt_sym *r4p[4] = {b, seq, NULL, K(tr, P)}, *r4n[4] = {b, seq, NULL, K(tr, N)};
    hs = mt_to(tr, mt_reshape(tr, hs, 4, r4p), MT_FLOAT32);
    B = mt_to(tr, mt_reshape(tr, B, 4, r4n), MT_FLOAT32);
    C = mt_to(tr, mt_reshape(tr, C, 4, r4n), MT_FLOAT32);
    mt_arg rep = mt_a_int(H / G);
    mt_kwarg rk[2] = {{"dim", mt_a_int(2)}, {"output_size", mt_a_int(H)}};
    B = op1(tr, MT_OP_REPEAT_INTERLEAVE_METHOD, B, &rep, 1, rk, 2);
    C = op1(tr, MT_OP_REPEAT_INTERLEAVE_METHOD, C, &rep, 1, rk, 2);
    /* pad_size = (chunk - seq % chunk) % chunk = chunk*((seq + chunk - 1)//chunk) - seq */
    const mt_sym *padded = mt_sym_mul_const(ctx, mt_sym_floordiv(ctx, mt_sym_add_const(ctx, seq, CH - 1), CH), CH);
    const mt_sym *pad_size = mt_sym_sub(ctx, padded, seq);
    if (!pad_size) {
        mt_tr_leave(tr);
        return NULL;
    }
    /* D_residual = D[..., None] * pad_tensor_by_size(hidden_states, pad_size) */
    mt_tensor *D = mt_tr_get_attr(tr, mt_module_param(mx, "D"));
    mt_arg en[2] = {mt_a_ellipsis(), mt_a_none()};
    D = ix(tr, D, 2, en);
    const mt_sym *z = K(tr, 0);
    const mt_sym *ps[8] = {z, z, z, z, z, pad_size, z, z};
    mt_tensor *hp = pad(tr, hs, 8, ps, true);
    mt_tensor *d_res = mt_mul(tr, D, hp);
    /* discretize x and A */
    mt_tensor *dtn = ix(tr, dt, 2, en);
    hs = mt_mul(tr, hs, dtn);
    A = mt_to(tr, A, hs ? hs->dtype : MT_FLOAT32);
    A = mt_mul(tr, A, dt);
    hs = into_chunks(tr, hs, pad_size, CH);
    A = into_chunks(tr, A, pad_size, CH);
    B = into_chunks(tr, B, pad_size, CH);
    C = into_chunks(tr, C, pad_size, CH);
    int64_t perm_a[4] = {0, 3, 1, 2};
    A = mt_permute(tr, A, 4, perm_a);
    mt_kwarg cd = {"dim", mt_a_int(-1)};
    mt_tensor *A_cs = op1(tr, MT_OP_CUMSUM, A, NULL, 0, &cd, 1);
    /* 1. diagonal blocks */
    mt_tensor *Lm = mt_unary(tr, MT_OP_EXP, segment_sum(tr, A));
    mt_arg ic[6] = {SL(), SL(), SL(), mt_a_none(), SL(), SL()};
    mt_arg ib[6] = {SL(), SL(), mt_a_none(), SL(), SL(), SL()};
    mt_tensor *Cx = ix(tr, C, 6, ic);
    mt_tensor *Bx = ix(tr, B, 6, ib);
    mt_tensor *G_ = sum_dim(tr, mt_mul(tr, Cx, Bx), -1);
    mt_tensor *Gn = ix(tr, G_, 2, en);
    int64_t perm_l[5] = {0, 2, 3, 4, 1};
    mt_tensor *Lp = ix(tr, mt_permute(tr, Lm, 5, perm_l), 2, en);
    mt_tensor *M = sum_dim(tr, mt_mul(tr, Gn, Lp), -1);
    mt_tensor *Mn = ix(tr, M, 2, en);
    mt_arg ih[3] = {SL(), SL(), mt_a_none()};
    mt_tensor *hsn = ix(tr, hs, 3, ih);
    mt_tensor *Y_diag = sum_dim(tr, mt_mul(tr, Mn, hsn), 3);
    /* 2. chunk states */
    const mt_sym *m1 = K(tr, -1);
    mt_arg il[4] = {SL(), SL(), SL(), mt_a_slice(m1, NULL, NULL)};
    mt_tensor *last = ix(tr, A_cs, 4, il);
    mt_tensor *decay = mt_unary(tr, MT_OP_EXP, mt_sub(tr, last, A_cs));
    int64_t perm_d[4] = {0, -2, -1, 1};
    mt_tensor *dp = ix(tr, mt_permute(tr, decay, 4, perm_d), 2, en);
    mt_tensor *B_decay = mt_mul(tr, B, dp);
    mt_arg ibd[3] = {mt_a_ellipsis(), mt_a_none(), SL()};
    mt_tensor *bdx = ix(tr, B_decay, 3, ibd);
    mt_tensor *hsx = ix(tr, hs, 2, en);
    mt_tensor *states = sum_dim(tr, mt_mul(tr, bdx, hsx), 2);
    /* 3. inter-chunk recurrence */
    mt_arg i01[2] = {SL(), mt_a_slice(NULL, K(tr, 1), NULL)};
    mt_tensor *prev = op1(tr, MT_OP_ZEROS_LIKE, ix(tr, states, 2, i01), NULL, 0, NULL, 0);
    mt_tensor *cat2[2] = {prev, states};
    states = mt_cat(tr, cat2, 2, 1);
    mt_arg ilast[4] = {SL(), SL(), SL(), mt_a_int(-1)};
    mt_tensor *lastc = ix(tr, A_cs, 4, ilast);
    const mt_sym *p10[2] = {K(tr, 1), z};
    mt_tensor *dch = mt_unary(tr, MT_OP_EXP, segment_sum(tr, pad(tr, lastc, 2, p10, false)));
    dch = mt_transpose(tr, dch, 1, 3);
    mt_arg inn[3] = {mt_a_ellipsis(), mt_a_none(), mt_a_none()};
    mt_tensor *dchx = ix(tr, dch, 3, inn);
    mt_arg isn[4] = {SL(), SL(), mt_a_none(), mt_a_ellipsis()};
    mt_tensor *stx = ix(tr, states, 4, isn);
    mt_tensor *new_states = sum_dim(tr, mt_mul(tr, dchx, stx), 1);
    mt_arg ih1[2] = {SL(), mt_a_slice(NULL, m1, NULL)};
    states = ix(tr, new_states, 2, ih1);
    mt_arg ilst[2] = {SL(), mt_a_int(-1)};
    (void)ix(tr, new_states, 2, ilst); /* ssm_state: the cache's state, unused without a cache */
    /* 4. state -> output */
    mt_tensor *sdo = mt_unary(tr, MT_OP_EXP, A_cs);
    mt_arg icx[3] = {mt_a_ellipsis(), mt_a_none(), SL()};
    mt_tensor *Cs = ix(tr, C, 3, icx);
    mt_tensor *sts = ix(tr, states, 4, isn);
    mt_tensor *cts = mt_mul(tr, Cs, sts);
    int64_t perm_o[4] = {0, 2, 3, 1};
    mt_tensor *sdop = mt_permute(tr, sdo, 4, perm_o);
    mt_tensor *csum = cts ? op1(tr, MT_OP_SUM, cts, (mt_arg[]){mt_a_int(-1)}, 1, NULL, 0) : NULL;
    mt_tensor *Y_off = mt_mul(tr, csum, ix(tr, sdop, 2, en));
    mt_tensor *y = mt_add(tr, Y_diag, Y_off);
    const mt_sym *ry[4] = {b, NULL, K(tr, H), K(tr, P)};
    y = mt_reshape(tr, y, 4, ry);
    y = mt_add(tr, y, d_res);
    mt_arg icut[4] = {SL(), mt_a_slice(NULL, seq, NULL), SL(), SL()};
    y = ix(tr, y, 4, icut);
    const mt_sym *r3[3] = {b, seq, NULL};
    y = mt_reshape(tr, y, 3, r3);
    mt_tensor *scan = gated_norm(tr, mt_module_child(mx, "norm"), y, gate);
    mt_tensor *out = mt_tr_call(tr, mt_module_child(mx, "out_proj"), mt_to(tr, scan, dtype));
    mt_tr_leave(tr);
    return out;
}

/* rotate_half(x): cat((-x[..., d//2:], x[..., :d//2]), dim=-1), in Python's order. */
static mt_tensor *rotate_half(mt_tracer *tr, mt_tensor *x) {
    if (!x) return NULL;
    const mt_sym *h = mt_sym_floordiv(tr->ctx, x->shape[x->ndim - 1], 2);
    mt_tensor *x1 = mt_slice_last(tr, x, NULL, h);
    mt_tensor *x2 = mt_slice_last(tr, x, h, NULL);
    mt_tensor *parts[2] = {mt_unary(tr, MT_OP_NEG, x2), x1};
    return mt_cat(tr, parts, 2, -1);
}

/* (x * cos) + (rotate_half(x) * sin), recorded in Python's order. */
static mt_tensor *rope(mt_tracer *tr, mt_tensor *x, mt_tensor *cos, mt_tensor *sin) {
    mt_tensor *xc = mt_mul(tr, x, cos);
    mt_tensor *xs = mt_mul(tr, rotate_half(tr, x), sin);
    return mt_add(tr, xc, xs);
}

/* The attention slot's forward: the mixer on Mamba layers (with the 2-D
 * attention_mask, as BambaModel passes it to them), else BambaAttention with
 * Bamba's apply_rotary_pos_emb: cos/sin unsqueezed, q and k split at
 * rotary_dim = cos.shape[-1], rotated, concatenated with the pass-through. */
static mt_tensor *bamba_attn(mt_tracer *tr, mt_module *at, mt_tensor *x, mt_tensor *mask, mt_tensor *cos,
                             mt_tensor *sin, const mt_dec_spec *s) {
    if (!x || !at) return NULL;
    if (strcmp(at->name, "mamba") == 0) return mixer_forward(tr, at, x, tr->model->inputs.items[1], s);
    const mt_sym *b = x->shape[0], *q_len = x->shape[1];
    mt_tr_enter(tr, at);
    const mt_sym *hs[4] = {b, q_len, NULL, K(tr, s->head_dim)};
    mt_tensor *q = mt_tr_call(tr, mt_module_child(at, "q_proj"), x);
    q = mt_transpose(tr, mt_view(tr, q, 4, hs), 1, 2);
    mt_tensor *k = mt_tr_call(tr, mt_module_child(at, "k_proj"), x);
    k = mt_transpose(tr, mt_view(tr, k, 4, hs), 1, 2);
    mt_tensor *v = mt_tr_call(tr, mt_module_child(at, "v_proj"), x);
    v = mt_transpose(tr, mt_view(tr, v, 4, hs), 1, 2);
    mt_tensor *c = mt_unsqueeze(tr, cos, 1);
    mt_tensor *sn = mt_unsqueeze(tr, sin, 1);
    const mt_sym *r = c ? c->shape[c->ndim - 1] : NULL;
    mt_arg i1[2] = {mt_a_ellipsis(), mt_a_slice(NULL, r, NULL)};
    mt_arg i2[2] = {mt_a_ellipsis(), mt_a_slice(r, NULL, NULL)};
    mt_tensor *q_rot = ix(tr, q, 2, i1);
    mt_tensor *q_pass = ix(tr, q, 2, i2);
    mt_tensor *k_rot = ix(tr, k, 2, i1);
    mt_tensor *k_pass = ix(tr, k, 2, i2);
    mt_tensor *qe = rope(tr, q_rot, c, sn);
    mt_tensor *ke = rope(tr, k_rot, c, sn);
    mt_tensor *qp[2] = {qe, q_pass}, *kp[2] = {ke, k_pass};
    q = mt_cat(tr, qp, 2, -1);
    k = mt_cat(tr, kp, 2, -1);
    mt_attn_impl impl = tr->model->attn;
    /* eager multiplies by module.scaling = head_dim**-0.5; sdpa without scale= (the project's convention) */
    mt_attn_args aa = {.n_rep = s->heads / s->kv_heads, .eager_slice = true, .sdpa_slice = true};
    aa.scaling = impl == MT_ATTN_IMPL_EAGER ? 1.0 / sqrt((double)s->head_dim) : 0;
    mt_tensor *o = mt_attn_forward(tr, impl, q, k, v, mask, &aa);
    const mt_sym *os[3] = {b, q_len, NULL};
    o = mt_contiguous(tr, mt_reshape(tr, o, 3, os));
    o = mt_tr_call(tr, mt_module_child(at, "o_proj"), o);
    mt_tr_leave(tr);
    return o;
}

static mt_status bamba_forward(mt_model *m, mt_tracer *tr) { return mt_dec_forward(m, tr, m->family); }

const mt_arch mt_arch_bamba = {
    .model_type = "bamba",
    .default_class = "BambaForCausalLM",
    .example = "ibm-ai-platform/Bamba-9B-v2",
    .build = bamba_build,
    .forward = bamba_forward,
};
