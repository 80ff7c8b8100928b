/* Bamba (BambaForCausalLM): a Mamba-2 hybrid. Each decoder layer is a
 * Mamba-2 mixer ("mamba") or, at the indices attn_layer_indices lists, a
 * Llama-style attention ("self_attn"); every layer has the SwiGLU MLP
 * "feed_forward" and the RMSNorms input_layernorm / pre_ff_layernorm; the
 * model ends in final_layernorm. Read at the source: transformers main,
 * src/transformers/models/bamba/modeling_bamba.py (commit 00511f5df3) and
 * configuration_bamba.py (commit 001f85b38f).
 *
 * The mixer (the shared block mamba2.[ch]) is traced on BambaMixer.torch_forward, the path PyTorch runs
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

#include "mamba2.h"

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
    mt_mamba2 mx;     /* the mixer's sizes */
    const bool *attn; /* per layer: an attention layer */
} bamba_ext;

static const mt_sym *K(mt_tracer *tr, int64_t v) { return mt_sym_const(tr->ctx, v); }

static mt_tensor *bamba_attn(mt_tracer *tr, mt_module *at, mt_tensor *x, mt_tensor *mask, mt_tensor *cos,
                             mt_tensor *sin, const mt_dec_spec *s);

/* ---- build ---- */

/* The attention slot of mt_dec_build: self_attn on attention layers, the mixer elsewhere. */
static mt_status bamba_build_attn(mt_model *m, const mt_dec_spec *s, mt_module *L, int64_t index) {
    const bamba_ext *e = s->ext;
    if (e->attn[index]) return mt_dec_build_attn(m, s, L, index);
    return mt_mamba2_build(m, L, "mamba", &e->mx) ? MT_OK : mt_ctx_status(m->ctx);
}

/* attn_layer_indices: indices in [0, num_hidden_layers) (a repeat is harmless, as in the config class). */
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

/* A number, or infinity as configs spell it: Python's bare Infinity / -Infinity (which the config
 * loader turns into the strings "Inf" / "-Inf"), the strings "Infinity" / "-Infinity", or
 * transformers 5's {"__float__": "Infinity"}. */
static bool number_or_inf(json_t *v, double *out) {
    if (json_is_number(v)) {
        *out = json_number_value(v);
        return true;
    }
    if (json_is_object(v)) v = json_object_get(v, "__float__");
    const char *t = json_string_value(v);
    if (!t) return false;
    if (strcmp(t, "Inf") == 0 || strcmp(t, "Infinity") == 0 || strcmp(t, "inf") == 0) *out = INFINITY;
    else if (strcmp(t, "-Inf") == 0 || strcmp(t, "-Infinity") == 0 || strcmp(t, "-inf") == 0) *out = -INFINITY;
    else return false;
    return true;
}

/* time_step_limit: a pair of numbers; absent or null: (0.0, inf). */
static bool read_time_step_limit(mt_model *m, double *lo, double *hi) {
    *lo = 0.0;
    *hi = INFINITY;
    json_t *v = mt_config_json(m->cfg, "time_step_limit");
    if (!v) return true;
    if (!json_is_array(v) || json_array_size(v) != 2 || !number_or_inf(json_array_get(v, 0), lo) ||
        !number_or_inf(json_array_get(v, 1), hi) || !(*lo <= *hi)) {
        mt_config_error(m->cfg, "time_step_limit", "expected a pair of numbers [min, max], min <= max (bamba)");
        return false;
    }
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
        !mt_config_pos_int(c, "mamba_n_heads", 128, &e->mx.heads) || !mt_config_pos_int(c, "mamba_n_groups", 1, &e->mx.groups) ||
        !mt_config_pos_int(c, "mamba_d_state", 256, &e->mx.state) || !mt_config_pos_int(c, "mamba_d_conv", 4, &e->mx.conv_kernel) ||
        !mt_config_pos_int(c, "mamba_expand", 2, &expand) || !mt_config_pos_int(c, "mamba_chunk_size", 256, &e->mx.chunk) ||
        !mt_config_bool(c, "mamba_conv_bias", true, &e->mx.conv_bias) ||
        !mt_config_bool(c, "mamba_proj_bias", false, &e->mx.proj_bias) || !read_time_step_limit(m, &e->mx.dt_min, &e->mx.dt_max) ||
        !read_attn_layers(m, cfg_layers, s->layers, &e->attn))
        return mt_ctx_status(ctx);
    bool attn_bias = false, mlp_bias = false; /* BambaConfig sets both False */
    s->qkv_bias = s->o_bias = attn_bias;
    s->mlp_bias = mlp_bias;
    e->mx.intermediate = expand * s->hidden;
    if (e->mx.intermediate % e->mx.heads != 0)
        return mt_config_error(c, "mamba_n_heads", "mamba_n_heads (%lld) must divide mamba_expand * hidden_size (%lld) "
                               "(bamba)", (long long)e->mx.heads, (long long)e->mx.intermediate);
    e->mx.head_dim = d_head_auto ? e->mx.intermediate / e->mx.heads : d_head;
    if (e->mx.head_dim * e->mx.heads != e->mx.intermediate)
        return mt_config_error(c, "mamba_d_head", "mamba_d_head * mamba_n_heads (%lld * %lld) must equal mamba_expand * "
                               "hidden_size (%lld) (bamba)", (long long)e->mx.head_dim, (long long)e->mx.heads,
                               (long long)e->mx.intermediate);
    if (e->mx.heads % e->mx.groups != 0)
        return mt_config_error(c, "mamba_n_groups", "mamba_n_groups (%lld) must divide mamba_n_heads (%lld) (bamba)",
                               (long long)e->mx.groups, (long long)e->mx.heads);
    e->mx.conv_dim = e->mx.intermediate + 2 * e->mx.groups * e->mx.state;
    e->mx.hidden = s->hidden;
    e->mx.norm_eps = s->norm_eps;
    e->mx.hidden_act = s->hidden_act;
    e->mx.dtype = s->dtype;
    e->mx.cls = "BambaMixer";
    e->mx.norm_cls = "BambaRMSNormGated";
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
    const mt_dec_h *dh = mt_module_bound_checked(ctx, m->root, &mt_dec_h_kind); /* mt_dec_build's */
    if (!dh) return mt_ctx_status(ctx);
    mt_module *layers = dh->layers;
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
    mt_model_info(m, "mamba_n_heads", mt_a_int(e->mx.heads));
    mt_model_info(m, "mamba_d_head", mt_a_int(e->mx.head_dim));
    mt_model_info(m, "mamba_n_groups", mt_a_int(e->mx.groups));
    mt_model_info(m, "mamba_d_state", mt_a_int(e->mx.state));
    mt_model_info(m, "mamba_d_conv", mt_a_int(e->mx.conv_kernel));
    mt_model_info(m, "mamba_chunk_size", mt_a_int(e->mx.chunk));
    mt_model_info(m, "mamba_conv_dim", mt_a_int(e->mx.conv_dim));
    return MT_OK;
}

/* ---- forward ---- */

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
    const mt_attn_h *ah = mt_module_bound(at, &mt_attn_h_kind); /* mt_dec_build_attn's; else the Mamba-2 mixer */
    if (!ah) return mt_mamba2_forward(tr, at, x, tr->model->inputs.items[1], &((const bamba_ext *)s->ext)->mx);
    const mt_sym *b = x->shape[0], *q_len = x->shape[1];
    mt_tr_enter(tr, at);
    const mt_sym *hs[4] = {b, q_len, NULL, K(tr, s->head_dim)};
    mt_tensor *q = mt_tr_call(tr, ah->q, x);
    q = mt_transpose(tr, mt_view(tr, q, 4, hs), 1, 2);
    mt_tensor *k = mt_tr_call(tr, ah->k, x);
    k = mt_transpose(tr, mt_view(tr, k, 4, hs), 1, 2);
    mt_tensor *v = mt_tr_call(tr, ah->v, x);
    v = mt_transpose(tr, mt_view(tr, v, 4, hs), 1, 2);
    mt_tensor *c = mt_unsqueeze(tr, cos, 1);
    mt_tensor *sn = mt_unsqueeze(tr, sin, 1);
    const mt_sym *r = c ? c->shape[c->ndim - 1] : NULL;
    mt_arg i1[2] = {mt_a_ellipsis(), mt_a_slice(NULL, r, NULL)};
    mt_arg i2[2] = {mt_a_ellipsis(), mt_a_slice(r, NULL, NULL)};
    mt_tensor *q_rot = mt_index(tr, q, i1, 2);
    mt_tensor *q_pass = mt_index(tr, q, i2, 2);
    mt_tensor *k_rot = mt_index(tr, k, i1, 2);
    mt_tensor *k_pass = mt_index(tr, k, i2, 2);
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
    o = mt_tr_call(tr, ah->o, o);
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
