/* Hybrid families with recurrent mixers traced through one scan op (issue 12):
 * Jamba (Mamba-1 mixers, mamba_ssm's selective_scan_fn) and MiniMax (lightning attention,
 * metatrace.ops.lightning_attention). Expected values come
 * from the transformers sources (models/jamba/modeling_jamba.py,
 * configuration_jamba.py, models/minimax/modular_minimax.py), the published totals of the checkpoints
 * (samples/configs/SOURCES.md) and hand arithmetic written here. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include <metatrace/plan.h>

#include "models/blocks.h"
#include "testutil.h"
#include "tiny_configs.h"

static const char *build_error(mt_ctx *ctx, const char *json) {
    mt_config *cfg = mt_config_parse(ctx, json, strlen(json), "bad.json");
    cr_assert_not_null(cfg, "config: %s", mt_ctx_errmsg(ctx));
    mt_build_opts o = {.dtype = MT_DTYPE_NONE, .num_layers = 0};
    cr_assert_null(mt_model_build(ctx, cfg, &o), "expected the build to fail");
    return mt_ctx_errmsg(ctx);
}

/* ---- jamba -------------------------------------------------------------------------------
 * ai21labs/AI21-Jamba-1.5-Mini's config.json as a public tool quotes it (code-search file id
 * 32223319525, a Python dict; use_mamba_kernels, which the tool marks as changed, left out: it
 * only picks the CUDA path, and JambaConfig's default applies), kept inline. Jamba-v0.1 has the
 * same architecture. No checkpoint index was found (samples/configs/SOURCES.md). */
static const char *JAMBA_15_MINI =
    "{\"architectures\": [\"JambaForCausalLM\"], \"attention_dropout\": 0.0, \"attn_layer_offset\": 4, "
    "\"attn_layer_period\": 8, \"bos_token_id\": 1, \"eos_token_id\": [2, 518], \"expert_layer_offset\": 1, "
    "\"expert_layer_period\": 2, \"hidden_act\": \"silu\", \"hidden_size\": 4096, \"initializer_range\": 0.02, "
    "\"intermediate_size\": 14336, \"mamba_conv_bias\": true, \"mamba_d_conv\": 4, \"mamba_d_state\": 16, "
    "\"mamba_dt_rank\": 256, \"mamba_expand\": 2, \"mamba_proj_bias\": false, \"max_position_embeddings\": 262144, "
    "\"model_type\": \"jamba\", \"num_attention_heads\": 32, \"num_experts\": 16, \"num_experts_per_tok\": 2, "
    "\"num_hidden_layers\": 32, \"num_key_value_heads\": 8, \"num_logits_to_keep\": 1, "
    "\"output_router_logits\": false, \"pad_token_id\": 0, \"rms_norm_eps\": 1e-06, "
    "\"router_aux_loss_coef\": 0.001, \"sliding_window\": null, \"tie_word_embeddings\": false, "
    "\"torch_dtype\": \"bfloat16\", \"transformers_version\": \"4.40.2\", \"use_cache\": true, "
    "\"vocab_size\": 65536}";

Test(jamba, jamba_1_5_mini_by_hand_and_model_card) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build_text(ctx, JAMBA_15_MINI, 0);
    /* By hand (modeling_jamba.py): embed and lm_head 2*65536*4096 = 536,870,912.
     * Attention layers (i % 8 == 4: 4, 12, 20, 28): q/o 2*4096*4096 + k/v 2*4096*1024 = 41,943,040.
     * Mamba layers (28): intermediate 8192; conv1d 8192*4 + 8192 = 40,960, in_proj 4096*16384 =
     * 67,108,864, x_proj 8192*(256 + 2*16) = 2,359,296, dt_proj 256*8192 + 8192 = 2,105,344, A_log
     * 8192*16 = 131,072, D 8192, out_proj 8192*4096 = 33,554,432, dt/b/c_layernorm 256 + 16 + 16 ->
     * 105,308,448. MLP 3*4096*14336 = 176,160,768: 16 dense layers (even), 16 MoE layers (odd) of
     * router 4096*16 = 65,536 + 16 experts = 2,818,637,824. Norms 2*4096 per layer, final 4096.
     * 167,772,160 + 2,948,636,544 + 2,818,572,288 + 45,098,205,184 + 262,144 + 4,096 + 536,870,912
     * = 51,570,323,328 (the card's 52B total). Active: 14 of 16 experts idle in each of the 16 MoE
     * layers, 16*14*176,160,768 = 39,460,012,032 fewer: 12,110,311,296 (the card's 12B active). */
    mt_totals t;
    cr_assert_eq(mt_model_totals(m, &t), MT_OK);
    cr_assert_eq(t.params, 51570323328LL, "%lld", (long long)t.params);
    cr_assert_eq(t.active_params, 12110311296LL, "%lld", (long long)t.active_params);
    cr_assert_eq(t.param_bytes, 2 * 51570323328LL);
    cr_assert_eq(llround((double)t.params / 1e9), 52, "model card: 52B total");
    cr_assert_eq(llround((double)t.active_params / 1e9), 12, "model card: 12B active");
    /* names and shapes as JambaMambaMixer / JambaAttention / JambaSparseMoeBlock register them */
    TU_SHAPE(m, "model.embed_tokens.weight", 65536, 4096);
    TU_SHAPE(m, "model.layers.0.mamba.in_proj.weight", 16384, 4096);
    TU_SHAPE(m, "model.layers.0.mamba.conv1d.weight", 8192, 1, 4);
    TU_SHAPE(m, "model.layers.0.mamba.conv1d.bias", 8192);
    TU_SHAPE(m, "model.layers.0.mamba.x_proj.weight", 288, 8192);
    TU_SHAPE(m, "model.layers.0.mamba.dt_proj.weight", 8192, 256);
    TU_SHAPE(m, "model.layers.0.mamba.dt_proj.bias", 8192);
    TU_SHAPE(m, "model.layers.0.mamba.A_log", 8192, 16);
    TU_SHAPE(m, "model.layers.0.mamba.D", 8192);
    TU_SHAPE(m, "model.layers.0.mamba.out_proj.weight", 4096, 8192);
    TU_SHAPE(m, "model.layers.0.mamba.dt_layernorm.weight", 256);
    TU_SHAPE(m, "model.layers.0.mamba.b_layernorm.weight", 16);
    TU_SHAPE(m, "model.layers.0.mamba.c_layernorm.weight", 16);
    TU_SHAPE(m, "model.layers.0.feed_forward.gate_proj.weight", 14336, 4096);
    TU_SHAPE(m, "model.layers.0.input_layernorm.weight", 4096);
    TU_SHAPE(m, "model.layers.0.pre_ff_layernorm.weight", 4096);
    TU_SHAPE(m, "model.layers.1.feed_forward.router.weight", 16, 4096);
    TU_SHAPE(m, "model.layers.1.feed_forward.experts.15.down_proj.weight", 4096, 14336);
    TU_SHAPE(m, "model.layers.4.self_attn.q_proj.weight", 4096, 4096);
    TU_SHAPE(m, "model.layers.4.self_attn.k_proj.weight", 1024, 4096);
    TU_SHAPE(m, "model.final_layernorm.weight", 4096);
    TU_SHAPE(m, "lm_head.weight", 65536, 4096);
    cr_assert_null(mt_model_param(m, "model.layers.4.mamba.A_log"), "layer 4 is an attention layer");
    cr_assert_null(mt_model_param(m, "model.layers.3.self_attn.q_proj.weight"), "layer 3 is a Mamba layer");
    cr_assert_null(mt_model_param(m, "model.layers.4.feed_forward.router.weight"), "layer 4 is dense");
    mt_module *l4 = mt_module_find(m->root, "model.layers.4"), *l3 = mt_module_find(m->root, "model.layers.3");
    cr_assert(l4 && strcmp(l4->type, "JambaAttentionDecoderLayer") == 0);
    cr_assert(l3 && strcmp(l3->type, "JambaMambaDecoderLayer") == 0);
    mt_graph *g = tu_trace(m);
    tu_check_logits(m, g, 65536);
    cr_assert_eq(tu_count_ops(g, MT_OP_SDPA, NULL), 4);
    cr_assert_eq(tu_count_ops(g, MT_OP_SELECTIVE_SCAN, NULL), 28);
    cr_assert_eq(tu_count_ops(g, MT_OP_SOFTPLUS, NULL), 28);
    /* sizing: K/V of 4 attention layers, 8 heads * 128 * 2 (K, V) * 2 bytes = 4096 B per layer and
     * token -> 16,384 B/token. Recurrent state per sequence (HybridMambaAttentionDynamicCache, bf16):
     * conv 8192*4*2 = 65,536 B and SSM 8192*16*2 = 262,144 B per Mamba layer; x28: 1,835,008 +
     * 7,340,032 = 9,175,040 B. */
    mt_sizing_opts o = {.kv_dtype = MT_DTYPE_NONE, .seq = 4096};
    mt_sizing s;
    cr_assert_eq(mt_model_sizing(m, g, &o, &s), MT_OK, "%s", mt_ctx_errmsg(ctx));
    cr_assert_eq(s.kv_bytes_per_token, 16384);
    cr_assert_eq(s.state_layers, 28);
    cr_assert_eq(s.conv_state_bytes, 1835008);
    cr_assert_eq(s.ssm_state_bytes, 7340032);
    cr_assert_eq(s.state_bytes_per_seq, 9175040);
    mt_ctx_free(ctx);
}

/* The mixer's graph (JambaMambaMixer.slow_forward): conv1d keeps seq + d_conv - 1 and is sliced
 * back; the scan gets u [b, I, seq], delta [b, I, seq], A [I, N] float32, B and C [b, N, seq], D
 * float32 [I] and the gate z [b, I, seq]; its result is [b, I, seq] in the model dtype. Tiny config:
 * I = 128, N = 8. */
Test(jamba, mixer_graph_and_scan_arguments) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build_text(ctx, tiny_for("jamba")->json, 0);
    mt_graph *g = tu_trace(m);
    const mt_sym *seq = mt_sym_var(ctx, "seq"), *b = mt_sym_var(ctx, "batch");
    mt_node *sc = tu_first_op(g, MT_OP_SELECTIVE_SCAN, "model.layers.0.mamba");
    cr_assert_not_null(sc);
    cr_assert_eq(sc->nargs, 7);
    const int64_t want[7][3] = {{-1, 128, -2}, {-1, 128, -2}, {128, 8, 0}, {-1, 8, -2}, {-1, 8, -2}, {128, 0, 0},
                                {-1, 128, -2}};
    const int nd[7] = {3, 3, 2, 3, 3, 1, 3};
    for (int i = 0; i < 7; i++) {
        const mt_tensor *t = sc->args[i].v.t;
        cr_assert(sc->args[i].kind == MT_ARG_TENSOR && t && t->ndim == nd[i], "argument %d", i);
        for (int d = 0; d < t->ndim; d++) {
            const mt_sym *w = want[i][d] == -1 ? b : want[i][d] == -2 ? seq : mt_sym_const(ctx, want[i][d]);
            cr_assert(t->shape[d] == w, "argument %d dim %d: %s", i, d, mt_sym_str(t->shape[d]));
        }
        cr_assert_eq(t->dtype, MT_FLOAT32, "argument %d (a float32 tiny config)", i);
    }
    cr_assert(sc->outs[0].ndim == 3 && sc->outs[0].shape[0] == b && sc->outs[0].shape[2] == seq);
    mt_node *conv = NULL;
    for (int i = 0; i < g->n && !conv; i++)
        if (g->nodes[i]->op == MT_NODE_CALL_MODULE && strcmp(g->nodes[i]->target, "model.layers.0.mamba.conv1d") == 0)
            conv = g->nodes[i];
    cr_assert_not_null(conv);
    cr_assert(conv->outs[0].shape[2] == mt_sym_add_const(ctx, seq, 3));
    /* FLOPs of the scan (docs/sizing.md): 8*b*I*seq*N + b*I*seq*(2 for D + 2 for z) at batch 2, seq 5:
     * 8*2*128*5*8 + 2*128*5*4 = 81,920 + 5,120 = 87,040 */
    const mt_sym *f = mt_node_flops(ctx, sc);
    cr_assert_not_null(f, "%s", mt_ctx_errmsg(ctx));
    const char *names[2] = {"batch", "seq"};
    int64_t vals[2] = {2, 5}, v = 0;
    mt_binding bind = {names, vals, 2};
    cr_assert_eq(mt_sym_eval(ctx, f, &bind, &v), MT_OK);
    cr_assert_eq(v, 87040);
    mt_ctx_free(ctx);
}

/* Jamba's Mamba mixer at tp 2 (vLLM's MambaMixer: in_proj merged column-parallel, x_proj row-parallel,
 * dt_proj column-parallel, the conv and the scan per channel, out_proj row-parallel). Its in_proj output
 * [b, s, 2I] is transposed and chunked into x and gate along the channels: the column option of in_proj
 * is packed, each rank its block of the x half and of the gate half (rows [r x I/2, (r+1) x I/2) and I +
 * the same; I = 8192), so the chunk keeps each rank's channels, the depthwise conv1d and the scan run on
 * them, and no all-gather is left in a Mamba layer. AI21-Jamba-1.5-Mini at 2 layers (both Mamba), bf16:
 * per rank in_proj 67,108,864 x 2 B / 2, x_proj 2,359,296 x 2 / 2 on its input features, dt_proj's
 * weight [8192, 256] and bias 1/2 on the channels, out_proj 33,554,432 x 2 / 2; the conv's weight and
 * bias, A_log, D and the three norms whole. The collectives of a layer's mixer: x_proj's partial
 * output all-reduced where its dt, B, C pieces meet their RMSNorms (three), out_proj's all-reduce. */
Test(jamba, mamba_mixer_sharded_by_channels_tp2) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build_text(ctx, JAMBA_15_MINI, 2);
    mt_graph *g = tu_trace(m);
    mt_plan_opts o = {.tp = 2, .batch = 1, .seq = 4096};
    mt_plan *p = mt_plan_run(m, g, &o);
    cr_assert_not_null(p, "%s", mt_ctx_errmsg(ctx));
    cr_assert(p->valid, "%s", p->reason);
    static const struct { const char *name; int64_t local; int dim; } W[] = {
        {"in_proj.weight", 67108864, 0},    {"x_proj.weight", 2359296, 1}, {"dt_proj.weight", 2097152, 0},
        {"dt_proj.bias", 8192, 0},          {"out_proj.weight", 33554432, 1}, {"conv1d.weight", 65536, -1},
        {"conv1d.bias", 16384, -1},         {"A_log", 262144, -1},         {"D", 16384, -1},
    };
    for (int l = 0; l < 2; l++) {
        for (size_t i = 0; i < sizeof W / sizeof *W; i++) {
            char nm[96];
            snprintf(nm, sizeof nm, "model.layers.%d.mamba.%s", l, W[i].name);
            const mt_plan_param *pp = NULL;
            for (int k = 0; k < p->nparams && !pp; k++)
                if (strcmp(p->params[k].name, nm) == 0) pp = &p->params[k];
            cr_assert_not_null(pp, "%s", nm);
            cr_assert_eq(pp->local_bytes, W[i].local, "%s: %lld", nm, (long long)pp->local_bytes);
            cr_assert_eq(pp->shard_dim, W[i].dim, "%s: %d", nm, pp->shard_dim);
            if (strcmp(W[i].name, "in_proj.weight") == 0) {
                cr_assert_eq(pp->parts, 2);
                for (int r = 0; r < 2; r++) {
                    int64_t rg[2][2];
                    cr_assert_eq(mt_plan_param_ranges(p, pp, r, rg, 2), 2);
                    cr_assert(rg[0][0] == r * 4096 && rg[0][1] == (r + 1) * 4096 && rg[1][0] == 8192 + r * 4096 &&
                              rg[1][1] == 8192 + (r + 1) * 4096, "rank %d", r);
                }
            }
        }
    }
    int ar = 0;
    for (int k = 0; k < p->ncomms; k++) {
        const mt_plan_comm *c = &p->comms[k];
        bool in = false;
        for (int d = 0; c->producer->stack && d < c->producer->stack->depth; d++)
            in = in || strstr(c->producer->stack->mods[d]->path, ".mamba") != NULL;
        if (c->producer->module && strstr(c->producer->module->path, ".mamba")) in = true;
        cr_assert(!in || c->kind == MT_COMM_ALL_REDUCE, "%s after %s", mt_comm_kind_name(c->kind), c->producer->name);
        ar += in;
    }
    cr_assert_eq(ar, 2 * 4);
    mt_node *sc = tu_first_op(g, MT_OP_SELECTIVE_SCAN, "model.layers.0.mamba");
    mt_placement ps = p->nodes[sc->index];
    cr_assert(ps.kind == MT_PLACE_SHARD && ps.dim == 1 && ps.ways == 2 && ps.layout == 0);
    mt_ctx_free(ctx);
}

/* In bfloat16 the scan keeps the model dtype for u/delta/B/C/z and float32 for A and D. */
Test(jamba, scan_dtypes_in_bfloat16) {
    mt_ctx *ctx = mt_ctx_new();
    mt_build_opts bo = {.dtype = MT_BFLOAT16, .num_layers = 0};
    mt_config *cfg = mt_config_parse(ctx, tiny_for("jamba")->json, strlen(tiny_for("jamba")->json), "t.json");
    mt_model *m = mt_model_build(ctx, cfg, &bo);
    cr_assert_not_null(m, "%s", mt_ctx_errmsg(ctx));
    mt_graph *g = tu_trace(m);
    mt_node *sc = tu_first_op(g, MT_OP_SELECTIVE_SCAN, NULL);
    cr_assert_not_null(sc);
    for (int i = 0; i < 7; i++)
        cr_assert_eq(sc->args[i].v.t->dtype, i == 2 || i == 5 ? MT_FLOAT32 : MT_BFLOAT16, "argument %d", i);
    cr_assert_eq(sc->outs[0].dtype, MT_BFLOAT16);
    mt_ctx_free(ctx);
}

Test(jamba, config_errors_name_field_and_family) {
    mt_ctx *ctx = mt_ctx_new();
    const char *msg = build_error(ctx, "{\"model_type\": \"jamba\", \"hidden_size\": 64, \"num_attention_heads\": 4, "
                                       "\"num_key_value_heads\": 2, \"attn_layer_period\": 4, \"attn_layer_offset\": 4}");
    cr_assert(strstr(msg, "attn_layer_offset") && strstr(msg, "jamba"), "%s", msg);
    mt_ctx_free(ctx);
    ctx = mt_ctx_new();
    msg = build_error(ctx, "{\"model_type\": \"jamba\", \"hidden_size\": 64, \"num_attention_heads\": 4, "
                           "\"num_key_value_heads\": 2, \"mamba_dt_rank\": \"big\"}");
    cr_assert(strstr(msg, "mamba_dt_rank") && strstr(msg, "auto"), "%s", msg);
    mt_ctx_free(ctx);
    ctx = mt_ctx_new();
    msg = build_error(ctx, "{\"model_type\": \"jamba\", \"hidden_size\": 64, \"num_attention_heads\": 4, "
                           "\"num_key_value_heads\": 2, \"num_experts\": 2, \"num_experts_per_tok\": 3}");
    cr_assert(strstr(msg, "num_experts_per_tok") && strstr(msg, "jamba"), "%s", msg);
    mt_ctx_free(ctx);
    ctx = mt_ctx_new();
    msg = build_error(ctx, "{\"model_type\": \"jamba\", \"hidden_size\": 64, \"num_attention_heads\": 4, "
                           "\"num_key_value_heads\": 2, \"hidden_act\": \"gelu\"}");
    cr_assert(strstr(msg, "silu") && strstr(msg, "jamba"), "%s", msg);
    mt_ctx_free(ctx);
}

/* ---- minimax -----------------------------------------------------------------------------
 * MiniMaxAI/MiniMax-M1's config.json (remote code, model_type minimax_m1) as a public knowledge dump
 * quotes it verbatim (code-search file id 54036155376, "File: config.json"), kept inline; MiniMax-Text-01
 * has the same architecture. No checkpoint index was found (samples/configs/SOURCES.md). */
static const char *MINIMAX_M1 =
    "{\"architectures\": [\"MiniMaxM1ForCausalLM\"], \"attention_dropout\": 0.0, \"attn_type_list\": [0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1], "
    "\"auto_map\": {\"AutoConfig\": \"configuration_minimax_m1.MiniMaxM1Config\", "
    "\"AutoModelForCausalLM\": \"modeling_minimax_m1.MiniMaxM1ForCausalLM\"}, \"bos_token_id\": null, "
    "\"eos_token_id\": null, \"head_dim\": 128, \"hidden_act\": \"silu\", \"hidden_size\": 6144, "
    "\"initializer_range\": 0.02, \"intermediate_size\": 9216, "
    "\"layernorm_full_attention_alpha\": 3.5565588200778455, \"layernorm_full_attention_beta\": 1.0, "
    "\"layernorm_linear_attention_alpha\": 3.5565588200778455, \"layernorm_linear_attention_beta\": 1.0, "
    "\"layernorm_mlp_alpha\": 3.5565588200778455, \"layernorm_mlp_beta\": 1.0, "
    "\"max_position_embeddings\": 10240000, \"model_type\": \"minimax_m1\", \"num_attention_heads\": 64, "
    "\"num_experts_per_tok\": 2, \"num_hidden_layers\": 80, \"num_key_value_heads\": 8, "
    "\"num_local_experts\": 32, \"output_router_logits\": false, \"postnorm\": true, \"rms_norm_eps\": 1e-05, "
    "\"rope_theta\": 10000000, \"rotary_dim\": 64, \"router_aux_loss_coef\": 0.001, "
    "\"router_jitter_noise\": 0.0, \"shared_intermediate_size\": 0, \"shared_moe_mode\": \"sigmoid\", "
    "\"sliding_window\": null, \"tie_word_embeddings\": false, \"transformers_version\": \"4.45.2\", "
    "\"use_cache\": true, \"vocab_size\": 200064}";

Test(minimax, minimax_m1_by_hand_and_model_card) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build_text(ctx, MINIMAX_M1, 0);
    /* By hand (modeling_minimax.py): embed and lm_head 2*200064*6144 = 2,458,386,432. Softmax layers
     * (attn_type_list 1: every 8th, 10): q/o 2*6144*8192 + k/v 2*6144*1024 = 113,246,208. Lightning
     * layers (70): qkv_proj 6144*3*8192 = 150,994,944, out_proj and output_gate 2*8192*6144 = 100,663,296,
     * norm 8192 -> 251,666,432. Sparse block in every layer: gate 6144*32 = 196,608 + 32 experts *
     * 3*6144*9216 (169,869,312) = 5,436,014,592. Norms 2*6144 per layer, final 6144.
     * 2,458,386,432 + 1,132,462,080 + 17,616,650,240 + 434,881,167,360 + 983,040 + 6,144
     * = 456,089,655,296 (the card's 456B total). Active: 30 of 32 experts idle in 80 layers,
     * 80*30*169,869,312 = 407,686,348,800 fewer: 48,403,306,496, of which 45,944,920,064 outside the
     * embedding and the head (the card's 45.9B activated per token). */
    mt_totals t;
    cr_assert_eq(mt_model_totals(m, &t), MT_OK);
    cr_assert_eq(t.params, 456089655296LL, "%lld", (long long)t.params);
    cr_assert_eq(t.active_params, 48403306496LL, "%lld", (long long)t.active_params);
    cr_assert_eq(llround((double)t.params / 1e9), 456, "model card: 456B total");
    cr_assert_eq(llround((double)(t.active_params - 2 * 200064LL * 6144) / 1e8), 459, "model card: 45.9B active");
    TU_SHAPE(m, "model.embed_tokens.weight", 200064, 6144);
    TU_SHAPE(m, "model.layers.0.self_attn.qkv_proj.weight", 24576, 6144);
    TU_SHAPE(m, "model.layers.0.self_attn.output_gate.weight", 8192, 6144);
    TU_SHAPE(m, "model.layers.0.self_attn.out_proj.weight", 6144, 8192);
    TU_SHAPE(m, "model.layers.0.self_attn.norm.weight", 8192);
    TU_SHAPE(m, "model.layers.7.self_attn.q_proj.weight", 8192, 6144);
    TU_SHAPE(m, "model.layers.7.self_attn.k_proj.weight", 1024, 6144);
    TU_SHAPE(m, "model.layers.7.self_attn.o_proj.weight", 6144, 8192);
    TU_SHAPE(m, "model.layers.0.block_sparse_moe.gate.weight", 32, 6144);
    TU_SHAPE(m, "model.layers.0.block_sparse_moe.experts.31.w1.weight", 9216, 6144);
    TU_SHAPE(m, "model.layers.0.block_sparse_moe.experts.31.w2.weight", 6144, 9216);
    TU_SHAPE(m, "model.layers.0.block_sparse_moe.experts.31.w3.weight", 9216, 6144);
    TU_SHAPE(m, "model.layers.0.input_layernorm.weight", 6144);
    TU_SHAPE(m, "model.layers.0.post_attention_layernorm.weight", 6144);
    TU_SHAPE(m, "model.norm.weight", 6144);
    TU_SHAPE(m, "lm_head.weight", 200064, 6144);
    cr_assert_null(mt_model_param(m, "model.layers.7.self_attn.qkv_proj.weight"), "layer 7 is a softmax layer");
    mt_graph *g = tu_trace(m);
    tu_check_logits(m, g, 200064);
    cr_assert_eq(tu_count_ops(g, MT_OP_SDPA, NULL), 10);
    cr_assert_eq(tu_count_ops(g, MT_OP_LIGHTNING_ATTENTION, NULL), 70);
    /* sizing: K/V of 10 softmax layers, 8 heads * 128 * 2 (K, V) * 2 bytes = 4096 B per layer and token ->
     * 40,960 B/token in bfloat16; the config has no torch_dtype, so the model is float32 (PyTorch's default):
     * 81,920 B. The lightning state per sequence: 70 * 64 * 128 * 128 elements * 4 bytes = 293,601,280 B. */
    mt_sizing_opts o = {.kv_dtype = MT_DTYPE_NONE, .seq = 4096};
    mt_sizing s;
    cr_assert_eq(mt_model_sizing(m, g, &o, &s), MT_OK, "%s", mt_ctx_errmsg(ctx));
    cr_assert_eq(s.kv_bytes_per_token, 81920);
    cr_assert_eq(s.state_layers, 70);
    cr_assert_eq(s.conv_state_bytes, 0);
    cr_assert_eq(s.ssm_state_bytes, 293601280LL);
    mt_ctx_free(ctx);
}

/* The lightning layer's graph (tiny config, blocks of 4): q, k, v [b, 4, seq, 16] and the four decay
 * buffers in the model dtype; the output [b, 4, seq, 16]; FLOPs by hand at batch 2, seq 6 (two blocks):
 * b*h*L = 48 queries * (4*(2*16 + 1 + 2*16) + 16 + 2*256 + 16 + 16 + 2*256) = 48 * 1332 = 63,936, plus
 * 2*4*2 blocks * 2*256 = 8,192 -> 72,128. */
Test(minimax, lightning_graph_and_flops) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build_text(ctx, tiny_for("minimax")->json, 0);
    mt_graph *g = tu_trace(m);
    const mt_sym *seq = mt_sym_var(ctx, "seq"), *b = mt_sym_var(ctx, "batch");
    mt_node *la = tu_first_op(g, MT_OP_LIGHTNING_ATTENTION, "model.layers.1.self_attn");
    cr_assert_not_null(la);
    cr_assert_null(tu_first_op(g, MT_OP_LIGHTNING_ATTENTION, "model.layers.0"), "layer 0 is a softmax layer");
    const int64_t bufs[4][4] = {{4, 1, 1, 0}, {4, 4, 1, 0}, {4, 4, 1, 0}, {1, 4, 4, 4}};
    for (int i = 0; i < 3; i++) {
        const mt_tensor *t = la->args[i].v.t;
        cr_assert(t->ndim == 4 && t->shape[0] == b && t->shape[2] == seq && mt_sym_const_value(t->shape[3]) == 16);
    }
    for (int i = 0; i < 4; i++) {
        const mt_tensor *t = la->args[3 + i].v.t;
        cr_assert_eq(t->ndim, i == 3 ? 4 : 3);
        for (int d = 0; d < t->ndim; d++) cr_assert_eq(mt_sym_const_value(t->shape[d]), bufs[i][d], "buffer %d dim %d", i, d);
    }
    cr_assert(la->outs[0].shape[2] == seq);
    const mt_sym *f = mt_node_flops(ctx, la);
    cr_assert_not_null(f, "%s", mt_ctx_errmsg(ctx));
    const char *names[2] = {"batch", "seq"};
    int64_t vals[2] = {2, 6}, v = 0;
    mt_binding bind = {names, vals, 2};
    cr_assert_eq(mt_sym_eval(ctx, f, &bind, &v), MT_OK);
    cr_assert_eq(v, 72128);
    mt_ctx_free(ctx);
}

Test(minimax, config_errors_and_remote_code_names) {
    mt_ctx *ctx = mt_ctx_new();
    const char *msg = build_error(ctx, "{\"model_type\": \"minimax\", \"hidden_size\": 64, \"num_attention_heads\": 4, "
                                       "\"num_key_value_heads\": 2, \"num_hidden_layers\": 2, "
                                       "\"layer_types\": [\"full_attention\", \"sliding\"]}");
    cr_assert(strstr(msg, "layer_types") && strstr(msg, "minimax"), "%s", msg);
    mt_ctx_free(ctx);
    ctx = mt_ctx_new();
    msg = build_error(ctx, "{\"model_type\": \"minimax_text_01\", \"hidden_size\": 64, \"num_attention_heads\": 4, "
                           "\"num_key_value_heads\": 2, \"num_hidden_layers\": 2, \"attn_type_list\": [0, 2]}");
    cr_assert(strstr(msg, "attn_type_list"), "%s", msg);
    mt_ctx_free(ctx);
    ctx = mt_ctx_new();
    msg = build_error(ctx, "{\"model_type\": \"minimax_m1\", \"hidden_size\": 64, \"num_attention_heads\": 4, "
                           "\"num_key_value_heads\": 2, \"num_hidden_layers\": 2, \"postnorm\": false}");
    cr_assert(strstr(msg, "postnorm"), "%s", msg);
    mt_ctx_free(ctx);
    ctx = mt_ctx_new();
    msg = build_error(ctx, "{\"model_type\": \"minimax_m1\", \"hidden_size\": 64, \"num_attention_heads\": 4, "
                           "\"num_key_value_heads\": 2, \"num_hidden_layers\": 2, \"shared_intermediate_size\": [128]}");
    cr_assert(strstr(msg, "shared"), "%s", msg);
    mt_ctx_free(ctx);
    /* the remote code's factors are read: alpha 3.5 shows as a multiply by 3.5 on the residual */
    ctx = mt_ctx_new();
    mt_model *m = tu_build_text(ctx, "{\"model_type\": \"minimax_text_01\", \"hidden_size\": 64, \"num_attention_heads\": 4, "
                                     "\"num_key_value_heads\": 2, \"num_hidden_layers\": 2, \"intermediate_size\": 32, "
                                     "\"num_local_experts\": 2, \"vocab_size\": 64, \"attn_type_list\": [0, 1], "
                                     "\"layernorm_linear_attention_alpha\": 3.5, \"block_size\": 4}", 0);
    mt_graph *g = tu_trace(m);
    cr_assert_not_null(tu_first_op(g, MT_OP_LIGHTNING_ATTENTION, "model.layers.0.self_attn"));
    cr_assert_null(tu_first_op(g, MT_OP_LIGHTNING_ATTENTION, "model.layers.1"));
    bool found = false;
    for (int i = 0; i < g->n && !found; i++) {
        const mt_node *n = g->nodes[i];
        if (n->opid == MT_OP_MUL && n->nargs == 2 && n->args[1].kind == MT_ARG_FLOAT && n->args[1].v.f == 3.5) found = true;
    }
    cr_assert(found, "residual * 3.5 recorded");
    mt_ctx_free(ctx);
}
