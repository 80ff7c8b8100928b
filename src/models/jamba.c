/* Jamba (JambaForCausalLM): a hybrid of Mamba-1 mixers and attention, with
 * mixture-of-experts MLPs. Layer i is an attention layer ("self_attn") when
 * i % attn_layer_period == attn_layer_offset, else a Mamba layer ("mamba"); its
 * "feed_forward" is a JambaSparseMoeBlock (router + num_experts JambaMLPs,
 * softmax top-k without renormalization) when i % expert_layer_period ==
 * expert_layer_offset, else a JambaMLP; every layer has input_layernorm and
 * pre_ff_layernorm; the model ends in final_layernorm. No positions at all (no
 * rotary, no learned positions). Read at the source: transformers
 * src/transformers/models/jamba/modeling_jamba.py (commit 008f5c8c29, the last
 * before the modular rewrite: the mixer, the per-expert MoE block whose names the
 * checkpoints carry, the decoder layers, the model) and modular_jamba.py (commit
 * 0159620269: JambaAttention is LlamaAttention without rotary, through
 * eager_attention_forward / sdpa_attention_forward, as mt_attn_forward records
 * them), configuration_jamba.py (commit 008f5c8c29) for the defaults.
 *
 * The mixer (JambaMambaMixer) is traced on slow_forward, the path PyTorch runs
 * without the CUDA kernels, with no cache and the 2-D attention mask (padding
 * present, as the other families assume): in_proj, transpose, chunk into
 * hidden_states / gate, the mask, act(conv1d(.)[..., :seq]), the mask, x_proj
 * on the transposed states, split into time_step / B / C, the three inner
 * RMSNorms, dt_proj, softplus, transpose, A = -exp(A_log.float()). slow_forward
 * then loops over the sequence in Python (discretization, the recurrence, the
 * stack, the D skip, the gate): that loop, with the D skip and the silu gate, is
 * one op here, mamba_ssm's selective_scan_fn (ops.c), called as the fast path
 * calls it: selective_scan_fn(hidden_states, discrete_time_step, A,
 * B.transpose(1, 2), C.transpose(1, 2), self.D.float(), gate), with the bias
 * already in dt_proj and the softplus already applied (delta_bias None,
 * delta_softplus False), so the values are slow_forward's. Its zero initial
 * state (torch.zeros in slow_forward) is inside the op. Then
 * out_proj(scan.transpose(1, 2)). The gate of mamba_ssm's scan is silu, so a
 * hidden_act other than silu is refused as not modelled. */
#include <math.h>
#include <string.h>

#include <jansson.h>

#include "moe.h"

static const mt_dec_names jamba_names = {
    "JambaModel", "JambaAttentionDecoderLayer", "JambaAttention", "JambaMLP", "JambaRMSNorm", "JambaRotaryEmbedding",
};

/* JambaConfig defaults (configuration_jamba.py). */
static const mt_dec_defaults jamba_defaults = {
    .vocab = 65536, .hidden = 4096, .intermediate = 14336, .layers = 32, .heads = 32, .kv_heads = 8,
    .norm_eps = 1e-6, .rope_theta = 10000.0, .hidden_act = "silu", .norm_eps_key = "rms_norm_eps",
    .tie_embeddings = false,
};

typedef struct jamba_ext {
    int64_t intermediate;   /* mamba_expand * hidden_size */
    int64_t state, conv_kernel, dt_rank;
    bool conv_bias, proj_bias;
    const bool *attn;       /* per layer: an attention layer */
    const bool *moe;        /* per layer: a sparse MoE block */
} jamba_ext;

static mt_tensor *jamba_attn(mt_tracer *tr, mt_module *at, mt_tensor *x, mt_tensor *mask, mt_tensor *cos,
                             mt_tensor *sin, const mt_dec_spec *s);

/* ---- build ---- */

/* JambaMambaMixer.__init__: conv1d, act, in_proj, x_proj, dt_proj, A_log, D, out_proj, dt_layernorm,
 * b_layernorm, c_layernorm. The attributes intermediate_size and ssm_state_size let the sizing pass
 * find its recurrent state. */
/* JambaMambaMixer's handle (blocks.h, "handles bound at build"); the attention layers, the sparse
 * blocks and the decoder are the shared blocks'. */
typedef struct mixer_h {
    mt_module *conv1d, *act, *in_proj, *x_proj, *dt_proj, *out_proj, *dt_ln, *b_ln, *c_ln;
    mt_param *A_log, *D;
} mixer_h;
static const mt_handle_kind mixer_h_kind = {"jamba mixer_h"};

static mt_module *mixer_build(mt_model *m, const mt_dec_spec *s, mt_module *L, const jamba_ext *e) {
    mt_ctx *ctx = m->ctx;
    mt_dtype dt = s->dtype;
    mt_device dev = MT_DEVICE_CPU;
    int64_t I = e->intermediate, N = e->state, R = e->dt_rank;
    mt_module *mx = mt_module_new(ctx, L, "mamba", "JambaMambaMixer");
    mixer_h *h = MT_BIND(ctx, mx, mixer_h);
    if (!h) return NULL;
    int64_t an[2] = {I, N};
    if (!(h->conv1d = mt_nn_conv1d_nn(ctx, mx, "conv1d", I, I, e->conv_kernel, e->conv_kernel - 1, I, e->conv_bias, dt,
                                      dev)) ||
        !(h->act = mt_act_new(m, mx, "act", s->hidden_act, "hidden_act")) ||
        !(h->in_proj = mt_nn_linear(ctx, mx, "in_proj", s->hidden, 2 * I, e->proj_bias, dt, dev)) ||
        !(h->x_proj = mt_nn_linear(ctx, mx, "x_proj", I, R + 2 * N, false, dt, dev)) ||
        !(h->dt_proj = mt_nn_linear(ctx, mx, "dt_proj", R, I, true, dt, dev)) ||
        !(h->A_log = mt_param_new(ctx, mx, "A_log", dt, dev, 2, an)) ||
        !(h->D = mt_param_new(ctx, mx, "D", dt, dev, 1, &I)) ||
        !(h->out_proj = mt_nn_linear(ctx, mx, "out_proj", I, s->hidden, e->proj_bias, dt, dev)) ||
        !(h->dt_ln = mt_dec_rms_norm(m, mx, "dt_layernorm", s, R)) ||
        !(h->b_ln = mt_dec_rms_norm(m, mx, "b_layernorm", s, N)) ||
        !(h->c_ln = mt_dec_rms_norm(m, mx, "c_layernorm", s, N)))
        return NULL;
    mt_module_attr(ctx, mx, "intermediate_size", mt_a_int(I));
    mt_module_attr(ctx, mx, "ssm_state_size", mt_a_int(N));
    mt_module_attr(ctx, mx, "conv_kernel_size", mt_a_int(e->conv_kernel));
    mt_module_attr(ctx, mx, "time_step_rank", mt_a_int(R));
    return mx;
}

static mt_status jamba_build_attn(mt_model *m, const mt_dec_spec *s, mt_module *L, int64_t index) {
    const jamba_ext *e = ((const mt_moe_model *)s->ext)->fam;
    if (e->attn[index]) return mt_dec_build_attn(m, s, L, index);
    return mixer_build(m, s, L, e) ? MT_OK : mt_ctx_status(m->ctx);
}

static mt_status jamba_build_mlp(mt_model *m, const mt_dec_spec *s, mt_module *L, int64_t index) {
    mt_moe_model *mm = s->ext;
    const jamba_ext *e = mm->fam;
    if (e->moe[index]) return mt_moe_build(m, mm, L, "feed_forward") ? MT_OK : mt_ctx_status(m->ctx);
    return mt_dec_gated_mlp(m, s, L, "feed_forward", "JambaMLP", s->intermediate) ? MT_OK : mt_ctx_status(m->ctx);
}

/* i % period == offset for each of the first `layers` layers; offset < period as JambaConfig checks. */
static bool read_pattern(mt_model *m, const char *what, const char *kp, const char *ko, int64_t dp, int64_t dof,
                         int64_t layers, const bool **out) {
    int64_t period, offset;
    if (!mt_config_pos_int(m->cfg, kp, dp, &period) || !mt_config_int(m->cfg, ko, dof, &offset)) return false;
    if (offset < 0 || offset >= period) {
        mt_config_error(m->cfg, ko, "%s layer offset (%lld) must be in [0, %s layer period (%lld)) (jamba)", what,
                        (long long)offset, what, (long long)period);
        return false;
    }
    bool *f = mt_alloc_array(m->ctx, (size_t)(layers > 0 ? layers : 1), sizeof *f);
    if (!f) return false;
    for (int64_t i = 0; i < layers; i++) f[i] = i % period == offset;
    *out = f;
    return true;
}

static mt_status jamba_build(mt_model *m) {
    mt_ctx *ctx = m->ctx;
    mt_moe_model *mm = mt_moe_model_new(m);
    jamba_ext *e = mt_alloc(ctx, sizeof *e);
    if (!mm || !e) return mt_ctx_status(ctx);
    mm->fam = e;
    mt_dec_spec *s = &mm->dec;
    mt_config *c = m->cfg;
    s->cls = jamba_names;
    if (mt_dec_read_common(m, s, &jamba_defaults) != MT_OK) return mt_ctx_status(ctx);
    int64_t expand, experts, top_k;
    if (!read_pattern(m, "attention", "attn_layer_period", "attn_layer_offset", 8, 4, s->layers, &e->attn) ||
        !read_pattern(m, "expert", "expert_layer_period", "expert_layer_offset", 2, 1, s->layers, &e->moe) ||
        !mt_config_pos_int(c, "num_experts", 16, &experts) || !mt_config_pos_int(c, "num_experts_per_tok", 2, &top_k) ||
        !mt_config_pos_int(c, "mamba_d_state", 16, &e->state) || !mt_config_pos_int(c, "mamba_d_conv", 4, &e->conv_kernel) ||
        !mt_config_pos_int(c, "mamba_expand", 2, &expand) || !mt_config_bool(c, "mamba_conv_bias", true, &e->conv_bias) ||
        !mt_config_bool(c, "mamba_proj_bias", false, &e->proj_bias))
        return mt_ctx_status(ctx);
    /* mamba_dt_rank: an int, or "auto" (the default): ceil(hidden_size / 16) */
    e->dt_rank = (s->hidden + 15) / 16;
    if (mt_config_has(c, "mamba_dt_rank")) {
        const char *r = NULL;
        json_t *v = mt_config_json(c, "mamba_dt_rank");
        if (json_is_string(v)) {
            if (!mt_config_str(c, "mamba_dt_rank", "auto", &r)) return mt_ctx_status(ctx);
            if (strcmp(r, "auto") != 0)
                return mt_config_error(c, "mamba_dt_rank", "expected a positive int or \"auto\", got \"%s\" (jamba)", r);
        } else if (!mt_config_pos_int(c, "mamba_dt_rank", e->dt_rank, &e->dt_rank)) {
            return mt_ctx_status(ctx);
        }
    }
    if (strcmp(s->hidden_act, "silu") != 0)
        return mt_fail(ctx, MT_ERR_UNSUPPORTED,
                       "jamba: the Mamba mixer's gate is traced as mamba_ssm's selective scan, whose gate is silu; "
                       "hidden_act \"%s\" is not modelled", s->hidden_act);
    if (top_k > experts)
        return mt_config_error(c, "num_experts_per_tok", "num_experts_per_tok %lld exceeds num_experts %lld (jamba)",
                               (long long)top_k, (long long)experts);
    e->intermediate = expand * s->hidden;
    /* JambaConfig sets no attention or MLP bias */
    s->qkv_bias = s->o_bias = s->mlp_bias = false;
    s->caps.no_rotary = true;
    s->rope_type = "default";
    s->rotary_dim = s->head_dim;
    mt_moe_spec *ms = &mm->moe;
    ms->router = MT_ROUTE_SOFTMAX_TOPK;
    ms->block_cls = "JambaSparseMoeBlock";
    ms->expert_cls = "JambaMLP";
    ms->router_name = "router";
    ms->norm_topk = false;
    ms->expert_inter = s->intermediate;
    ms->num_experts = experts;
    ms->top_k = top_k;
    s->names.mlp = "feed_forward";
    s->names.mlp_norm = "pre_ff_layernorm";
    s->names.final_norm = "final_layernorm";
    s->names.attn_alt = "mamba";
    s->hooks.build_attn = jamba_build_attn;
    s->hooks.build_mlp = jamba_build_mlp;
    if (mt_dec_build(m, s) != MT_OK) return mt_ctx_status(ctx);
    /* ALL_DECODER_LAYER_TYPES: the layer's class follows its kind */
    const mt_dec_h *dh = mt_module_bound_checked(ctx, m->root, &mt_dec_h_kind); /* mt_dec_build's */
    if (!dh) return mt_ctx_status(ctx);
    mt_module *layers = dh->layers;
    int64_t nattn = 0, nmoe = 0;
    for (int i = 0; layers && i < layers->children.n; i++) {
        mt_module *L = layers->children.items[i];
        L->type = e->attn[i] ? "JambaAttentionDecoderLayer" : "JambaMambaDecoderLayer";
        nattn += e->attn[i];
        nmoe += e->moe[i];
    }
    s->hooks.mlp_forward = mt_moe_mlp_forward;
    s->hooks.attn_forward = jamba_attn; /* after mt_dec_build: its attention choice keeps eager and sdpa */
    mt_model_info(m, "attention_layers", mt_a_int(nattn));
    mt_model_info(m, "mamba_layers", mt_a_int(s->layers - nattn));
    mt_model_info(m, "expert_layers", mt_a_int(nmoe));
    mt_model_info(m, "num_experts", mt_a_int(experts));
    mt_model_info(m, "num_experts_per_tok", mt_a_int(top_k));
    mt_model_info(m, "mamba_d_state", mt_a_int(e->state));
    mt_model_info(m, "mamba_d_conv", mt_a_int(e->conv_kernel));
    mt_model_info(m, "mamba_expand", mt_a_int(expand));
    mt_model_info(m, "mamba_dt_rank", mt_a_int(e->dt_rank));
    return MT_OK;
}

/* ---- forward ---- */

/* hidden_states * attention_mask.unsqueeze(1) on [b, channels, seq]. */
static mt_tensor *mask_channels(mt_tracer *tr, mt_tensor *h, mt_tensor *amask) {
    mt_tensor *am = mt_unsqueeze(tr, amask, 1);
    return mt_mul(tr, h, am);
}

/* JambaMambaMixer.slow_forward (no cache), x [b, seq, hidden], amask [b, seq]. */
static mt_tensor *mixer_forward(mt_tracer *tr, mt_module *mx, mt_tensor *x, mt_tensor *amask, const jamba_ext *e) {
    if (!x || !mx || !amask) return NULL;
    const mixer_h *h = MT_BOUND(tr, mx, mixer_h);
    if (!h) return NULL;
    const mt_sym *seq = x->shape[1];
    mt_tr_enter(tr, mx);
    mt_tensor *proj = mt_tr_call(tr, h->in_proj, x);
    proj = mt_transpose(tr, proj, 1, 2);
    mt_node *ch = mt_chunk(tr, proj, 2, 1);
    mt_tensor *hs = mt_tr_item(tr, ch, 0), *gate = mt_tr_item(tr, ch, 1);
    hs = mask_channels(tr, hs, amask);
    /* act(conv1d(hidden_states)[..., :seq_len]) */
    mt_tensor *t = mt_tr_call(tr, h->conv1d, hs);
    mt_arg cut[2] = {mt_a_ellipsis(), mt_a_slice(NULL, seq, NULL)};
    t = mt_index(tr, t, cut, 2);
    hs = mt_act_forward(tr, h->act, t);
    hs = mask_channels(tr, hs, amask);
    /* x_proj(hidden_states.transpose(1, 2)), split into time_step, B, C */
    mt_tensor *ht = mt_transpose(tr, hs, 1, 2);
    mt_tensor *ssm = mt_tr_call(tr, h->x_proj, ht);
    int64_t sz[3] = {e->dt_rank, e->state, e->state};
    mt_node *sp = mt_split(tr, ssm, 3, sz, -1);
    mt_tensor *ts = mt_tr_item(tr, sp, 0), *B = mt_tr_item(tr, sp, 1), *C = mt_tr_item(tr, sp, 2);
    ts = mt_dec_rms_forward(tr, h->dt_ln, ts);
    B = mt_dec_rms_forward(tr, h->b_ln, B);
    C = mt_dec_rms_forward(tr, h->c_ln, C);
    /* softplus(dt_proj(time_step)).transpose(1, 2) */
    mt_tensor *dts = mt_tr_call(tr, h->dt_proj, ts);
    dts = dts ? mt_tr_op1(tr, MT_OP_SOFTPLUS, (mt_arg[]){mt_a_tensor(dts)}, 1, NULL, 0) : NULL;
    dts = mt_transpose(tr, dts, 1, 2);
    /* A = -torch.exp(self.A_log.float()) */
    mt_tensor *A = mt_tr_get_attr(tr, h->A_log);
    A = mt_unary(tr, MT_OP_NEG, mt_unary(tr, MT_OP_EXP, mt_to(tr, A, MT_FLOAT32)));
    /* the scan: selective_scan_fn(hidden_states, dt, A, B.transpose(1, 2), C.transpose(1, 2), D.float(), gate) */
    mt_tensor *Bt = mt_transpose(tr, B, 1, 2);
    mt_tensor *Ct = mt_transpose(tr, C, 1, 2);
    mt_tensor *D = mt_to(tr, mt_tr_get_attr(tr, h->D), MT_FLOAT32);
    mt_tensor *y = NULL;
    if (hs && dts && A && Bt && Ct && D && gate) {
        mt_arg sa[7] = {mt_a_tensor(hs), mt_a_tensor(dts), mt_a_tensor(A), mt_a_tensor(Bt),
                        mt_a_tensor(Ct), mt_a_tensor(D), mt_a_tensor(gate)};
        y = mt_tr_op1(tr, MT_OP_SELECTIVE_SCAN, sa, 7, NULL, 0);
    }
    mt_tensor *out = mt_tr_call(tr, h->out_proj, mt_transpose(tr, y, 1, 2));
    mt_tr_leave(tr);
    return out;
}

/* The attention slot: the mixer on Mamba layers (given the 2-D attention_mask, as JambaModel passes
 * it to them), else JambaAttention without rotary. */
static mt_tensor *jamba_attn(mt_tracer *tr, mt_module *at, mt_tensor *x, mt_tensor *mask, mt_tensor *cos,
                             mt_tensor *sin, const mt_dec_spec *s) {
    if (!at) return NULL;
    if (mt_module_bound(at, &mixer_h_kind))
        return mixer_forward(tr, at, x, tr->model->inputs.items[1], ((const mt_moe_model *)s->ext)->fam);
    return mt_dec_attn_forward(tr, at, x, mask, cos, sin, s);
}

static mt_status jamba_forward(mt_model *m, mt_tracer *tr) {
    mt_moe_model *mm = m->family;
    return mt_dec_forward(m, tr, &mm->dec);
}

const mt_arch mt_arch_jamba = {
    .model_type = "jamba",
    .default_class = "JambaForCausalLM",
    .example = "ai21labs/AI21-Jamba-1.5-Mini",
    .build = jamba_build,
    .forward = jamba_forward,
    .totals = mt_moe_totals,
};
