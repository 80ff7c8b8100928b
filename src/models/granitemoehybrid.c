/* GraniteMoeHybrid (GraniteMoeHybridForCausalLM, IBM Granite 4.0-H): Granite's
 * decoder (embedding, residual, attention and logits multipliers) where each
 * layer is a Mamba-2 mixer ("mamba", BambaMixer's, mamba2.[ch]) or an
 * attention ("self_attn") by layer_types (absent: every layer Mamba), followed
 * by GraniteMoe's sparse block "block_sparse_moe" (when num_local_experts > 0)
 * plus the shared MLP "shared_mlp" (input_linear [2 * shared_intermediate_size,
 * hidden], activation, output_linear): moe(x) + shared_mlp(x), or the shared MLP
 * alone for the dense checkpoints (num_local_experts 0). Positions: a rotary
 * embedding only when position_embedding_type is "rope"; otherwise (None, the
 * default, or "nope" as the Granite 4.0-H configs say) no rotary module and no
 * rotary on q/k. Read at the source: transformers main,
 * src/transformers/models/granitemoehybrid/modular_granitemoehybrid.py (commit
 * 023633dd63) and configuration_granitemoehybrid.py (commit 008f5c8c29) for the
 * defaults; the mixer's forward is BambaMixer.torch_forward (bamba.c).
 *
 * Registration order (GraniteMoeHybridDecoderLayer over GraniteMoeShared's):
 * self_attn (left None on Mamba layers), block_sparse_moe (None without
 * experts), input_layernorm, post_attention_layernorm, shared_mlp, mamba. The
 * Mamba layers get the 2-D attention_mask, as for Bamba (padding assumed; the
 * data-dependent torch.all(attention_mask == 1) is not recorded). */
#include <math.h>
#include <string.h>

#include <jansson.h>

#include "mamba2.h"
#include "moe.h"

static const mt_dec_names gmh_names = {
    "GraniteMoeHybridModel", "GraniteMoeHybridDecoderLayer", "GraniteMoeHybridAttention", "GraniteMoeHybridMoE",
    "GraniteMoeHybridRMSNorm", "GraniteMoeHybridRotaryEmbedding",
};

/* GraniteMoeHybridConfig defaults. */
static const mt_dec_defaults gmh_defaults = {
    .vocab = 32000, .hidden = 4096, .intermediate = 11008, .layers = 32, .heads = 32,
    .norm_eps = 1e-6, .rope_theta = 10000.0, .hidden_act = "silu",
    .norm_eps_key = "rms_norm_eps", .tie_embeddings = false,
};

typedef struct gmh_ext {
    mt_mamba2 mx;
    const bool *attn;       /* per layer: an attention layer */
    int64_t shared_inter;   /* shared_intermediate_size */
    bool experts;           /* num_local_experts > 0 */
} gmh_ext;

static bool positive(mt_model *m, const char *key, double *v) {
    if (!mt_config_float(m->cfg, key, 1.0, v)) return false;
    if (*v <= 0) {
        mt_config_error(m->cfg, key, "expected a positive number, got %g (granitemoehybrid)", *v);
        return false;
    }
    return true;
}

/* layer_types (alias layers_block_type): "mamba" / "attention", num_hidden_layers entries. */
static bool read_layer_types(mt_model *m, int64_t cfg_layers, int64_t layers, const bool **out) {
    bool *f = mt_alloc_array(m->ctx, (size_t)(layers > 0 ? layers : 1), sizeof *f);
    if (!f) return false;
    *out = f;
    const char *key = mt_config_has(m->cfg, "layer_types") ? "layer_types" : "layers_block_type";
    json_t *v = mt_config_json(m->cfg, key);
    if (!v) return true; /* None: every layer Mamba */
    if (!json_is_array(v) || (int64_t)json_array_size(v) != cfg_layers) {
        mt_config_error(m->cfg, key, "expected a list of %lld layer types (granitemoehybrid)", (long long)cfg_layers);
        return false;
    }
    for (size_t i = 0; i < json_array_size(v); i++) {
        const char *t = json_string_value(json_array_get(v, i));
        bool attn = t && strcmp(t, "attention") == 0;
        if (!t || (!attn && strcmp(t, "mamba") != 0)) {
            mt_config_error(m->cfg, key, "entry %zu must be \"mamba\" or \"attention\" (granitemoehybrid)", i);
            return false;
        }
        if ((int64_t)i < layers) f[i] = attn;
    }
    return true;
}

/* GraniteMoeSharedMLP's handle (blocks.h, "handles bound at build"). */
typedef struct shared_h {
    mt_module *in, *act, *out;
} shared_h;
static const mt_handle_kind shared_h_kind = {"granitemoehybrid shared_h"};

/* GraniteMoeSharedMLP: input_linear, output_linear (activation has no parameters). */
static mt_module *shared_mlp(mt_model *m, const mt_dec_spec *s, mt_module *L, int64_t inter) {
    mt_module *mlp = mt_module_new(m->ctx, L, "shared_mlp", "GraniteMoeHybridMLP");
    shared_h *h = MT_BIND(m->ctx, mlp, shared_h);
    if (!h || !(h->act = mt_act_new(m, mlp, "activation", s->hidden_act, "hidden_act")) ||
        !(h->in = mt_nn_linear(m->ctx, mlp, "input_linear", s->hidden, 2 * inter, false, s->dtype, MT_DEVICE_CPU)) ||
        !(h->out = mt_nn_linear(m->ctx, mlp, "output_linear", inter, s->hidden, false, s->dtype, MT_DEVICE_CPU)))
        return NULL;
    return mlp;
}

static mt_status gmh_build_attn(mt_model *m, const mt_dec_spec *s, mt_module *L, int64_t index) {
    const gmh_ext *e = ((const mt_moe_model *)s->ext)->fam;
    return e->attn[index] ? mt_dec_build_attn(m, s, L, index) : MT_OK; /* the mixer comes last */
}

static mt_status gmh_build_mlp(mt_model *m, const mt_dec_spec *s, mt_module *L, int64_t index) {
    const gmh_ext *e = ((const mt_moe_model *)s->ext)->fam;
    return e->experts ? mt_granitemoe_build_moe(m, s, L, index) : MT_OK;
}

/* After the norms (GraniteMoeHybridDecoderLayer's order): shared_mlp (the MLP slot without experts,
 * else beside the sparse block, stored as the layer's aux), then the mixer on Mamba layers. */
static mt_status gmh_build_after_norms(mt_model *m, const mt_dec_spec *s, mt_module *L, int64_t index) {
    const gmh_ext *e = ((const mt_moe_model *)s->ext)->fam;
    mt_dec_layer_h *lh = mt_module_bound_checked(m->ctx, L, &mt_dec_layer_h_kind);
    if (!lh || !(lh->aux = shared_mlp(m, s, L, e->shared_inter))) return mt_ctx_status(m->ctx);
    if (!e->attn[index] && !mt_mamba2_build(m, L, "mamba", &e->mx)) return mt_ctx_status(m->ctx);
    return MT_OK;
}

/* shared_mlp(x): output_linear(act(chunk0) * chunk1) over input_linear(x).chunk(2, dim=-1). */
static mt_tensor *shared_forward(mt_tracer *tr, mt_module *mlp, mt_tensor *x) {
    if (!x || !mlp) return NULL;
    const shared_h *sh = MT_BOUND(tr, mlp, shared_h);
    if (!sh) return NULL;
    mt_tr_enter(tr, mlp);
    mt_tensor *h = mt_tr_call(tr, sh->in, x);
    mt_node *ch = mt_chunk(tr, h, 2, -1);
    mt_tensor *a = mt_act_forward(tr, sh->act, mt_tr_item(tr, ch, 0));
    mt_tensor *b = mt_tr_item(tr, ch, 1);
    mt_tensor *y = mt_tr_call(tr, sh->out, mt_mul(tr, a, b));
    mt_tr_leave(tr);
    return y;
}

/* The MLP slot: block_sparse_moe(x) + shared_mlp(x), or shared_mlp(x) alone. */
static mt_tensor *gmh_mlp_forward(mt_tracer *tr, mt_module *mlp, mt_tensor *x, const mt_dec_spec *s) {
    if (!x || !mlp) return NULL;
    if (mt_module_bound(mlp, &shared_h_kind)) return shared_forward(tr, mlp, x); /* no experts */
    const mt_dec_layer_h *lh = MT_BOUND(tr, mlp->parent, mt_dec_layer_h);
    if (!lh) return NULL;
    mt_tensor *moe = mt_granitemoe_moe_forward(tr, mlp, x, s);
    mt_tensor *sh = shared_forward(tr, lh->aux, x);
    return mt_add(tr, moe, sh);
}

/* The attention slot: the mixer on Mamba layers, Granite's attention (no rotary without "rope"). */
static mt_tensor *gmh_attn_forward(mt_tracer *tr, mt_module *at, mt_tensor *x, mt_tensor *mask, mt_tensor *cos,
                                   mt_tensor *sin, const mt_dec_spec *s) {
    if (!at) return NULL;
    const gmh_ext *e = ((const mt_moe_model *)s->ext)->fam;
    if (!mt_module_bound(at, &mt_attn_h_kind)) return mt_mamba2_forward(tr, at, x, tr->model->inputs.items[1], &e->mx);
    return mt_dec_attn_forward(tr, at, x, mask, cos, sin, s);
}

static mt_status gmh_build(mt_model *m) {
    mt_ctx *ctx = m->ctx;
    mt_moe_model *mm = mt_moe_model_new(m);
    gmh_ext *e = mt_alloc(ctx, sizeof *e);
    if (!mm || !e) return mt_ctx_status(ctx);
    mm->fam = e;
    mt_dec_spec *s = &mm->dec;
    mt_config *c = m->cfg;
    s->cls = gmh_names;
    if (mt_dec_read_common(m, s, &gmh_defaults) != MT_OK) return mt_ctx_status(ctx);
    bool attn_bias;
    int64_t cfg_layers, expand, d_head = 0, experts;
    const char *pos_type = NULL;
    if (!mt_config_bool(c, "attention_bias", false, &attn_bias) ||
        !positive(m, "embedding_multiplier", &s->caps.embed_scale) ||
        !positive(m, "residual_multiplier", &s->caps.residual_scale) ||
        !positive(m, "attention_multiplier", &s->caps.attn_scale) ||
        !positive(m, "logits_scaling", &s->caps.logits_div) ||
        !mt_config_str(c, "position_embedding_type", NULL, &pos_type) ||
        !mt_config_int(c, "num_hidden_layers", gmh_defaults.layers, &cfg_layers) ||
        !mt_config_int(c, "num_local_experts", 8, &experts) ||
        !mt_config_int(c, "shared_intermediate_size", 1024, &e->shared_inter) ||
        !mt_config_pos_int(c, "mamba_n_heads", 128, &e->mx.heads) || !mt_config_pos_int(c, "mamba_n_groups", 1, &e->mx.groups) ||
        !mt_config_pos_int(c, "mamba_d_state", 256, &e->mx.state) || !mt_config_pos_int(c, "mamba_d_conv", 4, &e->mx.conv_kernel) ||
        !mt_config_pos_int(c, "mamba_expand", 2, &expand) || !mt_config_pos_int(c, "mamba_chunk_size", 256, &e->mx.chunk) ||
        !mt_config_bool(c, "mamba_conv_bias", true, &e->mx.conv_bias) ||
        !mt_config_bool(c, "mamba_proj_bias", false, &e->mx.proj_bias) ||
        !read_layer_types(m, cfg_layers, s->layers, &e->attn))
        return mt_ctx_status(ctx);
    json_t *dh = mt_config_json(c, "mamba_d_head");
    if (dh && !json_is_string(dh) && !mt_config_pos_int(c, "mamba_d_head", 0, &d_head)) return mt_ctx_status(ctx);
    if (json_is_string(dh) && strcmp(json_string_value(dh), "auto") != 0)
        return mt_config_error(c, "mamba_d_head", "expected a positive int or \"auto\" (granitemoehybrid)");
    if (experts < 0 || e->shared_inter <= 0)
        return mt_config_error(c, experts < 0 ? "num_local_experts" : "shared_intermediate_size",
                               "expected %s (granitemoehybrid)", experts < 0 ? "a count >= 0" : "a positive size");
    s->qkv_bias = s->o_bias = attn_bias;
    e->mx.intermediate = expand * s->hidden;
    if (e->mx.intermediate % e->mx.heads != 0)
        return mt_config_error(c, "mamba_n_heads", "mamba_n_heads (%lld) must divide mamba_expand * hidden_size (%lld) "
                               "(granitemoehybrid)", (long long)e->mx.heads, (long long)e->mx.intermediate);
    e->mx.head_dim = d_head > 0 ? d_head : e->mx.intermediate / e->mx.heads;
    if (e->mx.head_dim * e->mx.heads != e->mx.intermediate)
        return mt_config_error(c, "mamba_d_head", "mamba_d_head * mamba_n_heads (%lld * %lld) must equal mamba_expand * "
                               "hidden_size (%lld) (granitemoehybrid)", (long long)e->mx.head_dim, (long long)e->mx.heads,
                               (long long)e->mx.intermediate);
    if (e->mx.heads % e->mx.groups != 0)
        return mt_config_error(c, "mamba_n_groups", "mamba_n_groups (%lld) must divide mamba_n_heads (%lld) "
                               "(granitemoehybrid)", (long long)e->mx.groups, (long long)e->mx.heads);
    e->mx.conv_dim = e->mx.intermediate + 2 * e->mx.groups * e->mx.state;
    e->mx.hidden = s->hidden;
    e->mx.norm_eps = s->norm_eps;
    e->mx.hidden_act = s->hidden_act;
    e->mx.dtype = s->dtype;
    e->mx.dt_min = 0.0; /* GraniteMoeHybridConfig has no time_step_limit: BambaMixer's (0, inf) */
    e->mx.dt_max = INFINITY;
    e->mx.cls = "GraniteMoeHybridMambaLayer";
    e->mx.norm_cls = "GraniteMoeHybridRMSNormGated";
    e->experts = experts > 0;
    mt_moe_spec *ms = &mm->moe;
    ms->block_cls = "GraniteMoeHybridMoE";
    ms->expert_inter = s->intermediate;
    if (e->experts) {
        ms->num_experts = experts;
        if (!mt_config_pos_int(c, "num_experts_per_tok", 2, &ms->top_k)) return mt_ctx_status(ctx);
        if (ms->top_k > experts)
            return mt_config_error(c, "num_experts_per_tok", "num_experts_per_tok %lld exceeds num_local_experts %lld "
                                   "(granitemoehybrid)", (long long)ms->top_k, (long long)experts);
    }
    bool rope = pos_type && strcmp(pos_type, "rope") == 0;
    if (rope && mt_dec_read_rope(m, s) != MT_OK) return mt_ctx_status(ctx);
    if (!rope) {
        s->caps.no_rotary = true;
        s->rope_type = "default";
        s->rotary_dim = s->head_dim;
    }
    s->names.mlp = e->experts ? "block_sparse_moe" : "shared_mlp";
    s->names.attn_alt = "mamba";
    s->hooks.build_attn = gmh_build_attn;
    s->hooks.build_mlp = gmh_build_mlp;
    s->hooks.build_after_norms = gmh_build_after_norms;
    if (mt_dec_build(m, s) != MT_OK) return mt_ctx_status(ctx);
    s->hooks.attn_forward = gmh_attn_forward; /* after mt_dec_build: both attention kinds stay available */
    s->hooks.mlp_forward = gmh_mlp_forward;
    int64_t nattn = 0;
    for (int64_t i = 0; i < s->layers; i++) nattn += e->attn[i];
    mt_model_info(m, "attention_layers", mt_a_int(nattn));
    mt_model_info(m, "mamba_layers", mt_a_int(s->layers - nattn));
    mt_model_info(m, "position_embedding_type", mt_a_str(rope ? "rope" : pos_type ? pos_type : "none"));
    mt_model_info(m, "num_local_experts", mt_a_int(experts));
    if (e->experts) mt_model_info(m, "num_experts_per_tok", mt_a_int(ms->top_k));
    mt_model_info(m, "shared_intermediate_size", mt_a_int(e->shared_inter));
    mt_model_info(m, "mamba_n_heads", mt_a_int(e->mx.heads));
    mt_model_info(m, "mamba_d_head", mt_a_int(e->mx.head_dim));
    mt_model_info(m, "mamba_n_groups", mt_a_int(e->mx.groups));
    mt_model_info(m, "mamba_d_state", mt_a_int(e->mx.state));
    mt_model_info(m, "mamba_chunk_size", mt_a_int(e->mx.chunk));
    return MT_OK;
}

static mt_status gmh_forward(mt_model *m, mt_tracer *tr) {
    mt_moe_model *mm = m->family;
    return mt_dec_forward(m, tr, &mm->dec);
}

const mt_arch mt_arch_granitemoehybrid = {
    .model_type = "granitemoehybrid",
    .default_class = "GraniteMoeHybridForCausalLM",
    .example = "ibm-granite/granite-4.0-h-350m",
    .build = gmh_build,
    .forward = gmh_forward,
    .totals = mt_moe_totals,
};
