/* Qwen3-Next (Qwen3NextForCausalLM): the hybrid of Gated DeltaNet linear attention and gated full
 * attention with a 512-expert sparse block. Real configuration checked against the checkpoint's
 * published figures (samples/configs/SOURCES.md), the graph's details, the recurrent state by hand,
 * and config errors. Expected values come from modeling_qwen3_next.py / configuration_qwen3_next.py,
 * public copies of the release's config and tensor names, and hand arithmetic written here. */
#include <criterion/criterion.h>
#include <string.h>

#include <metatrace/plan.h>

#include "models/blocks.h"
#include "testutil.h"
#include "tiny_configs.h"

/* Qwen/Qwen3-Coder-Next's config.json as a public test transcribes it (code-search file id
 * 70175107227, its quantization_config left out, layer_types left to full_attention_interval: the
 * same 3 linear + 1 full pattern); Qwen/Qwen3-Next-80B-A3B-Instruct has the same shapes with
 * rope_theta 10000000. */
static const char *CODER_NEXT =
    "{\"architectures\": [\"Qwen3NextForCausalLM\"], \"attention_bias\": false, \"attention_dropout\": 0, "
    "\"bos_token_id\": 151643, \"decoder_sparse_step\": 1, \"dtype\": \"bfloat16\", \"eos_token_id\": 151645, "
    "\"full_attention_interval\": 4, \"head_dim\": 256, \"hidden_act\": \"silu\", \"hidden_size\": 2048, "
    "\"initializer_range\": 0.02, \"intermediate_size\": 5120, \"linear_conv_kernel_dim\": 4, "
    "\"linear_key_head_dim\": 128, \"linear_num_key_heads\": 16, \"linear_num_value_heads\": 32, "
    "\"linear_value_head_dim\": 128, \"max_position_embeddings\": 262144, \"mlp_only_layers\": [], "
    "\"model_type\": \"qwen3_next\", \"moe_intermediate_size\": 512, \"norm_topk_prob\": true, "
    "\"num_attention_heads\": 16, \"num_experts\": 512, \"num_experts_per_tok\": 10, \"num_hidden_layers\": 48, "
    "\"num_key_value_heads\": 2, \"output_router_logits\": false, \"partial_rotary_factor\": 0.25, "
    "\"rms_norm_eps\": 1e-06, \"rope_scaling\": null, \"rope_theta\": 5000000, \"router_aux_loss_coef\": 0.001, "
    "\"shared_expert_intermediate_size\": 512, \"tie_word_embeddings\": false, \"use_cache\": true, "
    "\"use_sliding_window\": false, \"vocab_size\": 151936}";

Test(qwen3_next, coder_next_80b_matches_published_count) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build_text(ctx, CODER_NEXT, 0);
    /* By hand (modeling_qwen3_next.py): embed + lm_head 2*151936*2048 = 622,329,856; final norm 2048.
     * Gated DeltaNet (36 layers): key_dim 16*128 = 2048, value_dim 32*128 = 4096, conv_dim 8192:
     * conv1d 8192*4 = 32,768, in_proj_qkvz 2048*12288 = 25,165,824, in_proj_ba 2048*64 = 131,072,
     * dt_bias/A_log 2*32, norm 128, out_proj 4096*2048 = 8,388,608 -> 33,718,464.
     * Gated attention (12 layers): q_proj 2048*8192 = 16,777,216, k/v 2*2048*512 = 2,097,152, o_proj
     * 4096*2048 = 8,388,608, q/k norms 2*256 -> 27,263,488.
     * Sparse block (48 layers): gate 512*2048 = 1,048,576, experts 512*3*2048*512 = 1,610,612,736,
     * shared_expert 3*2048*512 = 3,145,728, shared_expert_gate 2048 -> 1,614,809,088; norms 4096.
     * 622,329,856 + 2048 + 36*33,718,464 + 12*27,263,488 + 48*1,614,813,184 = 79,674,391,296: the
     * safetensors total the Hub API reports for Qwen/Qwen3-Coder-Next (code-search file id
     * 61762937035) and llama.cpp's n_params for it (file id 62450386783); "80B" on the card. */
    mt_totals t;
    cr_assert_eq(mt_model_totals(m, &t), MT_OK);
    cr_assert_eq(t.params, 79674391296LL, "%lld", (long long)t.params);
    cr_assert_eq(t.param_bytes, 2 * 79674391296LL);
    /* active: 10 of 512 experts: minus 48*502*3*2048*512 = 75,799,461,888 -> 3,874,929,408, the
     * figure a public test derives from the published total (file id 70181782850); "A3B" on the card */
    cr_assert_eq(t.active_params, 3874929408LL, "%lld", (long long)t.active_params);
    /* tensor count: 3 globals + 48*(2 norms + 1541 in the sparse block) + 36*7 + 12*6 = 74,391, the
     * official_tensor_count a public audit of the 80B architecture checks, beside its official_parameter_count
     * 79,674,391,296 (file id 59179990010) */
    int64_t n = 0;
    for (int i = 0; i < m->params.n; i++) n += !((mt_param *)m->params.items[i])->tied_to;
    cr_assert_eq(n, 74391);
    /* names and shapes as the checkpoint stores them (a public binding table of the release, file id
     * 70175107227: in_proj_qkvz [12288, 2048], in_proj_ba [64, 2048], out_proj [2048, 4096], q_proj 8192
     * rows, k_proj 512, o_proj 2048, mlp.gate [512, 2048], shared_expert_gate [1, 2048], experts.511) */
    TU_SHAPE(m, "model.layers.0.linear_attn.in_proj_qkvz.weight", 12288, 2048);
    TU_SHAPE(m, "model.layers.0.linear_attn.in_proj_ba.weight", 64, 2048);
    TU_SHAPE(m, "model.layers.0.linear_attn.out_proj.weight", 2048, 4096);
    TU_SHAPE(m, "model.layers.0.linear_attn.conv1d.weight", 8192, 1, 4);
    TU_SHAPE(m, "model.layers.0.linear_attn.A_log", 32);
    TU_SHAPE(m, "model.layers.0.linear_attn.dt_bias", 32);
    TU_SHAPE(m, "model.layers.0.linear_attn.norm.weight", 128);
    TU_SHAPE(m, "model.layers.3.self_attn.q_proj.weight", 8192, 2048);
    TU_SHAPE(m, "model.layers.3.self_attn.k_proj.weight", 512, 2048);
    TU_SHAPE(m, "model.layers.3.self_attn.v_proj.weight", 512, 2048);
    TU_SHAPE(m, "model.layers.3.self_attn.o_proj.weight", 2048, 4096);
    TU_SHAPE(m, "model.layers.3.self_attn.q_norm.weight", 256);
    TU_SHAPE(m, "model.layers.3.mlp.gate.weight", 512, 2048);
    TU_SHAPE(m, "model.layers.3.mlp.shared_expert_gate.weight", 1, 2048);
    TU_SHAPE(m, "model.layers.3.mlp.shared_expert.down_proj.weight", 2048, 512);
    TU_SHAPE(m, "model.layers.3.mlp.experts.511.gate_proj.weight", 512, 2048);
    TU_SHAPE(m, "model.layers.3.mlp.experts.511.down_proj.weight", 2048, 512);
    TU_SHAPE(m, "model.embed_tokens.weight", 151936, 2048);
    TU_SHAPE(m, "model.norm.weight", 2048);
    TU_SHAPE(m, "lm_head.weight", 151936, 2048);
    cr_assert_null(mt_model_param(m, "model.layers.3.linear_attn.A_log"), "layer 3 is a full-attention layer");
    cr_assert_null(mt_model_param(m, "model.layers.2.self_attn.q_proj.weight"), "layer 2 is a linear layer");
    mt_ctx_free(ctx);
}

/* Sizing of the 2-layer cut (layer 0 linear, layer 1 linear) and of 4 layers (3 linear, 1 full). K/V
 * per token: each full-attention layer 2 KV heads * 256 * (K, V) * 2 bytes = 2048 B. Recurrent state
 * per linear layer and sequence: conv [8192, 4] in bfloat16 = 65,536 B, recurrent [32, 128, 128] in
 * float32 = 2,097,152 B. The whole model: 12 * 2048 = 24,576 B/token and 36 * 2,162,688 =
 * 77,856,768 B per sequence. */
Test(qwen3_next, kv_and_recurrent_state_by_hand) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build_text(ctx, CODER_NEXT, 4);
    mt_graph *g = tu_trace(m);
    mt_sizing_opts o = {.kv_dtype = MT_DTYPE_NONE, .seq = 4096};
    mt_sizing s;
    cr_assert_eq(mt_model_sizing(m, g, &o, &s), MT_OK, "%s", mt_ctx_errmsg(ctx));
    cr_assert_eq(s.kv_bytes_per_token, 2048);
    cr_assert_eq(s.state_layers, 3);
    cr_assert_eq(s.conv_state_bytes, 3 * 65536);
    cr_assert_eq(s.ssm_state_bytes, 3 * 2097152);
    mt_ctx_free(ctx);
    ctx = mt_ctx_new();
    m = tu_build_text(ctx, CODER_NEXT, 0);
    g = tu_trace(m);
    cr_assert_eq(mt_model_sizing(m, g, &o, &s), MT_OK, "%s", mt_ctx_errmsg(ctx));
    cr_assert_eq(s.kv_bytes_per_token, 24576);
    cr_assert_eq(s.state_layers, 36);
    cr_assert_eq(s.state_bytes_per_seq, 77856768);
    cr_assert_eq(tu_count_ops(g, MT_OP_SDPA, NULL), 12);
    cr_assert_eq(tu_count_ops(g, MT_OP_CHUNK_GATED_DELTA_RULE, NULL), 36);
    mt_ctx_free(ctx);
}

/* The Gated DeltaNet's graph (tiny config: 2 key heads, 4 value heads of 8): the rule is one node on
 * q, k repeated to the value heads, [batch, seq, 4, 8]; its output in the model dtype, one element
 * (no final state without a cache); the conv1d keeps seq + 3 and is sliced back to seq. FLOPs of the
 * rule by the chunked algorithm (docs/sizing.md) at batch 1, seq 64 (one chunk of 64, K = V = 8, 4
 * heads): per head 6*64*64*8 + 4*64*64*8 + 6*64*8*8 + 63*64*127/3 = 196,608 + 131,072 + 24,576 +
 * 170,688 = 522,944; x4 heads = 2,091,776; seq 65 is two chunks: twice that. */
Test(qwen3_next, deltanet_graph_and_flops) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build_text(ctx, tiny_for("qwen3_next")->json, 0);
    mt_graph *g = tu_trace(m);
    const mt_node *rule = NULL;
    for (int i = 0; i < g->n; i++)
        if (g->nodes[i]->opid == MT_OP_CHUNK_GATED_DELTA_RULE) rule = g->nodes[i];
    cr_assert_not_null(rule);
    cr_assert(rule->is_tuple);
    cr_assert_eq(rule->nout, 1);
    cr_assert_eq(rule->outs[0].ndim, 4);
    cr_assert_eq(rule->outs[0].dtype, MT_FLOAT32);
    cr_assert_eq(mt_sym_const_value(rule->outs[0].shape[2]), 4);
    cr_assert_eq(mt_sym_const_value(rule->outs[0].shape[3]), 8);
    cr_assert_eq(tu_count_ops(g, MT_OP_REPEAT_INTERLEAVE_METHOD, "model.layers.0.linear_attn"), 2);
    cr_assert_eq(tu_count_ops(g, MT_OP_CHUNK, "model.layers.1.self_attn"), 1);
    const char *names[] = {"batch", "seq"};
    int64_t v64[] = {1, 64}, v65[] = {1, 65};
    const mt_sym *f = mt_node_flops(ctx, rule);
    cr_assert_not_null(f, "%s", mt_ctx_errmsg(ctx));
    int64_t a = 0, b = 0;
    mt_binding b64 = {names, v64, 2}, b65 = {names, v65, 2};
    cr_assert_eq(mt_sym_eval(ctx, f, &b64, &a), MT_OK);
    cr_assert_eq(mt_sym_eval(ctx, f, &b65, &b), MT_OK);
    cr_assert_eq(a, 2091776);
    cr_assert_eq(b, 2 * 2091776);
    mt_ctx_free(ctx);
}

static const char *build_error(mt_ctx *ctx, const char *json) {
    mt_config *cfg = mt_config_parse(ctx, json, strlen(json), "bad.json");
    cr_assert_not_null(cfg, "config: %s", mt_ctx_errmsg(ctx));
    mt_build_opts o = {.dtype = MT_DTYPE_NONE, .num_layers = 0};
    cr_assert_null(mt_model_build(ctx, cfg, &o), "expected the build to fail");
    return mt_ctx_errmsg(ctx);
}

Test(qwen3_next, config_errors_name_field_and_family) {
    struct { const char *json, *field; } cases[] = {
        {"{\"model_type\": \"qwen3_next\", \"linear_num_key_heads\": 3, \"linear_num_value_heads\": 4}",
         "linear_num_value_heads"},
        {"{\"model_type\": \"qwen3_next\", \"num_hidden_layers\": 2, \"layer_types\": [\"linear_attention\"]}",
         "layer_types"},
        {"{\"model_type\": \"qwen3_next\", \"num_hidden_layers\": 2, \"layer_types\": [\"linear_attention\", "
         "\"mamba\"]}", "layer_types.1"},
        {"{\"model_type\": \"qwen3_next\", \"mlp_only_layers\": [-1]}", "mlp_only_layers.0"},
        {"{\"model_type\": \"qwen3_next\", \"partial_rotary_factor\": 0.001}", "partial_rotary_factor"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mt_ctx *ctx = mt_ctx_new();
        const char *e = build_error(ctx, cases[i].json);
        cr_assert(strstr(e, cases[i].field), "case %zu: %s", i, e);
        cr_assert(strstr(e, "qwen3_next"), "case %zu: %s", i, e);
        mt_ctx_free(ctx);
    }
}

/* ---- the Gated DeltaNet sharded by heads ----
 * vLLM's Qwen3-Next (qwen3_next.py) holds its key/value heads per rank: in_proj_qkvz and in_proj_ba
 * column-parallel by key head, the depthwise conv1d by channel (its q, k and v channels each cut per
 * rank), the recurrence per head, out_proj row-parallel. The plan gets there through packed layouts:
 * q, k and v [b, s, heads x d] each sharded on their heads are joined by cat into mixed_qkv, whose
 * channels are then packed (each rank its block of the q part, of the k part, of the v part), the
 * transposes, the depthwise conv, the slice and the silu keep it, and the split back into q, k, v
 * hands each rank its blocks; the rule's [b, s, heads, d] output flattened to [-1, d] for the gated
 * norm is packed in parts of the heads (each rank its heads of every (b, s)) and viewed back. */

/* The DeltaNet's part of a plan: comms produced or consumed inside layer `layer`'s linear_attn. */
static int deltanet_comms(const mt_plan *p, int layer, mt_comm_kind kind) {
    char pre[64];
    snprintf(pre, sizeof pre, "model.layers.%d.linear_attn", layer);
    int n = 0;
    for (int k = 0; k < p->ncomms; k++) {
        const mt_plan_comm *c = &p->comms[k];
        const mt_node *nd[2] = {c->producer, c->consumer};
        bool in = false;
        for (int j = 0; j < 2; j++) {
            const mt_modstack *st = nd[j] ? nd[j]->stack : NULL;
            for (int d = 0; st && d < st->depth && !in; d++) in = strcmp(st->mods[d]->path, pre) == 0;
            if (nd[j] && nd[j]->module && strncmp(nd[j]->module->path, pre, strlen(pre)) == 0) in = true;
        }
        /* out_proj's all-reduce feeds the residual add outside the mixer: counted by its producer */
        n += in && c->kind == kind;
    }
    return n;
}

static const mt_plan_param *plan_param(const mt_plan *p, const char *name) {
    for (int i = 0; i < p->nparams; i++)
        if (strcmp(p->params[i].name, name) == 0) return &p->params[i];
    cr_assert_fail("no parameter %s in the plan", name);
    return NULL;
}

static const mt_node *node_named(const mt_graph *g, const char *name) {
    for (int i = 0; i < g->n; i++)
        if (strcmp(g->nodes[i]->name, name) == 0) return g->nodes[i];
    cr_assert_fail("no node %s", name);
    return NULL;
}

/* Tiny qwen3_next (tests/tiny_configs.h, float32) at tp 2: 2 key heads of 8, 4 value heads of 8, so
 * key_dim 16, value_dim 32, conv_dim 64. Per rank, by hand: in_proj_qkvz [96, 64] on its rows, 6144/2
 * x 4 B = 12,288; in_proj_ba [8, 64], 256 x 4 = 1,024; out_proj [64, 32] on its columns, 1,024 x 4 =
 * 4,096; the conv1d weight [64, 1, 4] (1,024 B), dt_bias and A_log (16 B each) and the norm (32 B)
 * whole. The mixed_qkv channels are packed [16 | 16 | 32], 8 + 8 + 16 per rank; the rule runs on 1 key
 * / 2 value heads per rank; nothing is gathered in the mixer and its one collective is out_proj's
 * all-reduce of [T, 64] float32, 256 B/token. */
Test(qwen3_next, deltanet_sharded_by_heads_tiny) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build_text(ctx, tiny_for("qwen3_next")->json, 0);
    mt_graph *g = tu_trace(m);
    mt_plan_opts o = {.tp = 2, .batch = 1, .seq = 4096};
    mt_plan *p = mt_plan_run(m, g, &o);
    cr_assert_not_null(p, "%s", mt_ctx_errmsg(ctx));
    cr_assert(p->valid, "%s", p->reason);
    static const struct { const char *name; int64_t local; int dim; } W[] = {
        {"model.layers.0.linear_attn.in_proj_qkvz.weight", 12288, 0},
        {"model.layers.0.linear_attn.in_proj_ba.weight", 1024, 0},
        {"model.layers.0.linear_attn.out_proj.weight", 4096, 1},
        {"model.layers.0.linear_attn.conv1d.weight", 1024, -1},
        {"model.layers.0.linear_attn.dt_bias", 16, -1},
        {"model.layers.0.linear_attn.A_log", 16, -1},
        {"model.layers.0.linear_attn.norm.weight", 32, -1},
    };
    for (size_t i = 0; i < sizeof W / sizeof *W; i++) {
        const mt_plan_param *pp = plan_param(p, W[i].name);
        cr_assert_eq(pp->local_bytes, W[i].local, "%s: %lld", W[i].name, (long long)pp->local_bytes);
        cr_assert_eq(pp->shard_dim, W[i].dim, "%s", W[i].name);
    }
    /* the conv's input: mixed_qkv transposed to [b, 64, s], packed on the channels */
    const mt_node *conv = node_named(g, "model_layers_0_linear_attn_conv1d");
    mt_placement pc = p->nodes[conv->index];
    cr_assert_eq(pc.kind, MT_PLACE_SHARD);
    cr_assert_eq(pc.dim, 1);
    cr_assert(pc.layout > 0 && pc.layout <= p->nlayouts);
    const mt_plan_layout *L = &p->layouts[pc.layout - 1];
    cr_assert(L->nparts == 3 && L->lens[0] == 16 && L->lens[1] == 16 && L->lens[2] == 32);
    const mt_node *rule = node_named(g, "torch_chunk_gated_delta_rule");
    mt_placement pr = p->nodes[rule->index];
    cr_assert(pr.kind == MT_PLACE_SHARD && pr.dim == 2 && pr.ways == 2 && pr.layout == 0);
    cr_assert_eq(deltanet_comms(p, 0, MT_COMM_ALL_GATHER), 0);
    cr_assert_eq(deltanet_comms(p, 0, MT_COMM_ALL_TO_ALL), 0);
    cr_assert_eq(deltanet_comms(p, 0, MT_COMM_ALL_REDUCE), 1);
    for (int k = 0; k < p->ncomms; k++)
        if (p->comms[k].producer->module &&
            strcmp(p->comms[k].producer->module->path, "model.layers.0.linear_attn.out_proj") == 0)
            cr_assert_float_eq(p->comms[k].wire_per_token, 256.0, 1e-9);
    mt_ctx_free(ctx);
}

/* The real Qwen3-Coder-Next config (4 layers: 3 DeltaNet + 1 full attention, bfloat16) at tp 4 and 8:
 * 16 key heads of 128 and 32 value heads of 128 cut into tp blocks. Per rank and DeltaNet layer, by
 * hand: in_proj_qkvz [12288, 2048] 25,165,824 x 2 B / tp, in_proj_ba [64, 2048] 131,072 x 2 / tp,
 * out_proj [2048, 4096] 8,388,608 x 2 / tp; conv1d [8192, 1, 4] 65,536 B, dt_bias and A_log 32 x 2
 * B... whole (the checkpoint's dtypes, read from the plan's parameters), norm 128 x 2 whole; no
 * all-gather or all-to-all in a mixer, one all-reduce (out_proj's). */
Test(qwen3_next, deltanet_sharded_by_heads_coder_next) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build_text(ctx, CODER_NEXT, 4);
    mt_graph *g = tu_trace(m);
    for (int tp = 4; tp <= 8; tp *= 2) {
        mt_plan_opts o = {.tp = tp, .batch = 1, .seq = 4096};
        mt_plan *p = mt_plan_run(m, g, &o);
        cr_assert_not_null(p, "%s", mt_ctx_errmsg(ctx));
        cr_assert(p->valid, "tp=%d: %s", tp, p->reason);
        for (int l = 0; l < 3; l++) {
            char nm[128];
            int64_t want[3] = {25165824LL * 2 / tp, 131072LL * 2 / tp, 8388608LL * 2 / tp};
            const char *proj[3] = {"in_proj_qkvz", "in_proj_ba", "out_proj"};
            for (int k = 0; k < 3; k++) {
                snprintf(nm, sizeof nm, "model.layers.%d.linear_attn.%s.weight", l, proj[k]);
                const mt_plan_param *pp = plan_param(p, nm);
                cr_assert_eq(pp->local_bytes, want[k], "tp=%d %s: %lld", tp, nm, (long long)pp->local_bytes);
                cr_assert_eq(pp->shard_dim, k == 2 ? 1 : 0, "tp=%d %s", tp, nm);
            }
            snprintf(nm, sizeof nm, "model.layers.%d.linear_attn.conv1d.weight", l);
            cr_assert_eq(plan_param(p, nm)->local_bytes, 65536);
            cr_assert_eq(deltanet_comms(p, l, MT_COMM_ALL_GATHER), 0, "tp=%d layer %d", tp, l);
            cr_assert_eq(deltanet_comms(p, l, MT_COMM_ALL_TO_ALL), 0, "tp=%d layer %d", tp, l);
            cr_assert_eq(deltanet_comms(p, l, MT_COMM_ALL_REDUCE), 1, "tp=%d layer %d", tp, l);
        }
    }
    mt_ctx_free(ctx);
}
