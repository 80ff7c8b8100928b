/* Mixture-of-experts families: names and shapes against real checkpoint
 * indexes, totals and active parameters computed by hand from the configs and
 * transformers' modeling sources, and the routed graph (router, top-k, every
 * expert on a data-dependent token count). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define SHAPE TU_SHAPE

/* Graph facts for the routed blocks: count of nonzero nodes (one per expert per
 * MoE layer), each producing a fresh symbol bounded by batch*seq*top_k, and
 * every expert's first Linear sees [that symbol, hidden]. */
static int check_routing(mt_model *m, mt_graph *g, int64_t top_k, int64_t hidden) {
    mt_ctx *ctx = m->ctx;
    const mt_sym *bound = mt_sym_mul_const(ctx, mt_sym_mul(ctx, mt_sym_var(ctx, "batch"), mt_sym_var(ctx, "seq")), top_k);
    int nnz = 0;
    for (int i = 0; i < g->n; i++) {
        mt_node *n = g->nodes[i];
        if (n->opid != MT_OP_NONZERO) continue;
        nnz++;
        const mt_sym *s = n->outs[0].shape[0];
        cr_assert(mt_sym_is_var(s), "%s: data-dependent size must be a fresh symbol, got %s", n->name, mt_sym_str(s));
        mt_symbol_info *info = mt_sym_info_of(ctx, s);
        cr_assert_not_null(info);
        cr_assert_eq(info->lo, 0);
        cr_assert_eq(info->hi, bound, "%s bound %s", info->name, info->hi ? mt_sym_str(info->hi) : "none");
        cr_assert_not_null(info->origin);
        cr_assert(strstr(info->origin, "tokens routed to expert"), "%s", info->origin);
        /* the next index_select feeds an expert: find the expert's first linear */
        for (int j = i + 1; j < g->n; j++) {
            mt_node *k = g->nodes[j];
            if (k->op == MT_NODE_CALL_MODULE && k->module->leaf == MT_LEAF_LINEAR) {
                const mt_tensor *x = k->args[0].v.t;
                cr_assert_eq(x->ndim, 2, "%s", k->name);
                cr_assert_eq(x->shape[0], s, "%s input rows %s, want %s", k->name, mt_sym_str(x->shape[0]), mt_sym_str(s));
                cr_assert_eq(x->shape[1], mt_sym_const(ctx, hidden));
                break;
            }
        }
    }
    return nnz;
}

Test(moe, mixtral_8x7b_matches_checkpoint) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build(ctx, tu_src("samples/configs/mistralai--Mixtral-8x7B-v0.1.config.json"), 0);
    mt_totals t;
    cr_assert_eq(mt_model_totals(m, &t), MT_OK, "%s", mt_ctx_errmsg(ctx));
    /* SOURCES.md (index-derived): 46,702,792,704. By hand: per layer attention
     * 2*4096*4096 + 2*4096*1024 = 41,943,040, norms 8,192, gate 8*4096 = 32,768,
     * experts 8 * 3*4096*14336 = 1,409,286,144 -> 1,451,270,144; * 32 layers
     * + embed and lm_head 2*32000*4096 + final norm 4096. */
    cr_assert_eq(t.params, 46702792704LL);
    cr_assert_eq(t.param_bytes, 2 * 46702792704LL); /* bfloat16; index total_size 93,405,585,408 */
    /* active: 32 * (41,943,040 + 8,192 + 32,768 + 2 * 176,160,768) + 262,148,096
     * = 12,879,925,248 (Mixtral paper: 13B active; "12.9B") */
    cr_assert_eq(t.active_params, 12879925248LL);
    cr_assert_eq(t.extra_params, 0);
    tu_check_index_names(m, "mistralai--Mixtral-8x7B-v0.1.index.json", false);
    SHAPE(m, "model.layers.0.block_sparse_moe.gate.weight", 8, 4096);
    SHAPE(m, "model.layers.31.block_sparse_moe.experts.7.w1.weight", 14336, 4096);
    SHAPE(m, "model.layers.31.block_sparse_moe.experts.7.w2.weight", 4096, 14336);
    SHAPE(m, "model.layers.31.block_sparse_moe.experts.7.w3.weight", 14336, 4096);
    SHAPE(m, "model.layers.5.self_attn.k_proj.weight", 1024, 4096);
    mt_ctx_free(ctx);
}

Test(moe, mixtral_graph_routes_every_expert) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build(ctx, tu_src("samples/configs/mistralai--Mixtral-8x7B-v0.1.config.json"), 2);
    mt_graph *g = tu_trace(m);
    tu_check_logits(m, g, 32000);
    cr_assert_eq(check_routing(m, g, 2, 4096), 2 * 8);
    /* router: gate Linear then softmax(dim=1, float32) and topk(2) */
    int gates = 0, topk = 0, onehot = 0, index_add = 0;
    for (int i = 0; i < g->n; i++) {
        mt_node *n = g->nodes[i];
        if (n->op == MT_NODE_CALL_MODULE && strstr(n->target, "block_sparse_moe.gate")) {
            gates++;
            cr_assert_eq(n->outs[0].shape[1], mt_sym_const(ctx, 8));
        }
        if (n->opid == MT_OP_TOPK) topk++;
        if (n->opid == MT_OP_ONE_HOT) onehot++;
        if (n->opid == MT_OP_INDEX_ADD) {
            index_add++;
            cr_assert_eq(n->outs[0].dtype, MT_BFLOAT16);
        }
    }
    cr_assert_eq(gates, 2);
    cr_assert_eq(topk, 2);
    cr_assert_eq(onehot, 2);
    cr_assert_eq(index_add, 16);
    mt_ctx_free(ctx);
}

Test(moe, qwen3_coder_30b_a3b_totals) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build(ctx, tu_src("samples/configs/Qwen--Qwen3-Coder-30B-A3B-Instruct.config.json"), 0);
    mt_totals t;
    cr_assert_eq(mt_model_totals(m, &t), MT_OK, "%s", mt_ctx_errmsg(ctx));
    /* By hand from the config and modeling_qwen3_moe.py (no index available):
     * attention q 2048x4096, k/v 2048x512 each, o 4096x2048, q_norm/k_norm 128 each
     *   = 18,874,624; two layer norms 4,096; router gate 128x2048 = 262,144;
     *   experts 128 x 3x2048x768 = 603,979,776 -> 623,120,640 per layer; x48
     *   = 29,909,790,720; + embed and untied lm_head 2 x 151936x2048 = 622,329,856
     *   + final norm 2,048 = 30,532,122,624 (card: 30.5B total). */
    cr_assert_eq(t.params, 30532122624LL);
    /* active: 48 x (18,874,624 + 4,096 + 262,144 + 8 x 4,718,592) + 622,331,904
     * = 3,353,032,704 (card: 3.3B activated) */
    cr_assert_eq(t.active_params, 3353032704LL);
    SHAPE(m, "model.layers.0.self_attn.q_norm.weight", 128);
    SHAPE(m, "model.layers.0.self_attn.q_proj.weight", 4096, 2048);
    SHAPE(m, "model.layers.47.mlp.gate.weight", 128, 2048);
    SHAPE(m, "model.layers.47.mlp.experts.127.down_proj.weight", 2048, 768);
    cr_assert_null(mt_model_param(m, "model.layers.0.mlp.shared_expert.gate_proj.weight"));
    mt_ctx_free(ctx);
}

Test(moe, qwen3_moe_graph) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build(ctx, tu_src("samples/configs/Qwen--Qwen3-Coder-30B-A3B-Instruct.config.json"), 1);
    mt_graph *g = tu_trace(m);
    tu_check_logits(m, g, 151936);
    cr_assert_eq(check_routing(m, g, 8, 2048), 128);
    mt_ctx_free(ctx);
}

/* Qwen2-MoE on a tiny config: layer 1 is in mlp_only_layers (dense), layers 0
 * and 2 sparse (decoder_sparse_step 1); shared expert + its sigmoid gate. */
static const char *qwen2_moe_tiny =
    "{\"model_type\": \"qwen2_moe\", \"vocab_size\": 100, \"hidden_size\": 16, \"intermediate_size\": 40,"
    " \"num_hidden_layers\": 3, \"num_attention_heads\": 4, \"num_key_value_heads\": 2,"
    " \"num_experts\": 4, \"num_experts_per_tok\": 2, \"moe_intermediate_size\": 8,"
    " \"shared_expert_intermediate_size\": 24, \"mlp_only_layers\": [1], \"torch_dtype\": \"bfloat16\"}";

Test(moe, qwen2_moe_tiny_counts) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build_text(ctx, qwen2_moe_tiny, 0);
    mt_totals t;
    cr_assert_eq(mt_model_totals(m, &t), MT_OK, "%s", mt_ctx_errmsg(ctx));
    /* modeling_qwen2_moe.py: attention q 16x16+16, k/v 16x8+8 each, o 16x16 = 800;
     * norms 32. Sparse layer: gate 4x16 = 64, experts 4 x 3x16x8 = 1,536,
     * shared expert 3x16x24 = 1,152, shared_expert_gate 16 -> 2,768.
     * Dense layer: 3x16x40 = 1,920. Layers: 2 x (832 + 2,768) + (832 + 1,920)
     * = 9,952; embed + lm_head 2x100x16 = 3,200; final norm 16 -> 13,168. */
    cr_assert_eq(t.params, 13168);
    /* active drops 2 of 4 experts in 2 sparse layers: 2 x 2 x 384 = 1,536 */
    cr_assert_eq(t.active_params, 13168 - 1536);
    SHAPE(m, "model.layers.0.self_attn.q_proj.bias", 16);
    cr_assert_null(mt_model_param(m, "model.layers.0.self_attn.o_proj.bias"));
    SHAPE(m, "model.layers.0.mlp.shared_expert_gate.weight", 1, 16);
    SHAPE(m, "model.layers.2.mlp.shared_expert.up_proj.weight", 24, 16);
    SHAPE(m, "model.layers.1.mlp.gate_proj.weight", 40, 16);
    cr_assert_null(mt_model_param(m, "model.layers.1.mlp.gate.weight"));
    mt_graph *g = tu_trace(m);
    tu_check_logits(m, g, 100);
    cr_assert_eq(check_routing(m, g, 2, 16), 8);
    int sig = 0;
    for (int i = 0; i < g->n; i++) sig += g->nodes[i]->opid == MT_OP_SIGMOID;
    cr_assert_eq(sig, 2, "one sigmoid shared-expert gate per sparse layer");
    mt_ctx_free(ctx);
}

Test(moe, deepseek_v3_totals_and_mtp) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build(ctx, tu_src("samples/configs/deepseek-ai--DeepSeek-V3.config.json"), 0);
    mt_totals t;
    cr_assert_eq(mt_model_totals(m, &t), MT_OK, "%s", mt_ctx_errmsg(ctx));
    /* By hand from the config and modeling_deepseek_v3.py (no index here):
     * MLA attention: q_a_proj 7168x1536 + q_a_layernorm 1536 + q_b_proj 1536x(128x192)
     *   + kv_a_proj_with_mqa 7168x576 + kv_a_layernorm 512 + kv_b_proj 512x(128x256)
     *   + o_proj (128x128)x7168 = 187,107,328; layer norms 2x7168.
     * Dense layers (first_k_dense_replace 3): + MLP 3x7168x18432 -> 583,483,392 each.
     * MoE layers (58): + gate 256x7168 + 256 experts x 3x7168x2048 + 1 shared expert
     *   (3x7168x2048) -> 11,507,286,016 each (e_score_correction_bias is a buffer).
     * Embed + lm_head 2x129280x7168 + final norm 7168:
     * 3x583,483,392 + 58x11,507,286,016 + 1,853,358,080 + 7,168 = 671,026,404,352
     * (README_WEIGHTS / card: 671B main model). */
    cr_assert_eq(t.params, 671026404352LL);
    /* Active: 58 MoE layers keep 8 routed + 1 shared expert:
     * 3x583,483,392 + 58x(187,107,328 + 14,336 + 1,835,008 + 9x44,040,192)
     * + 1,853,358,080 + 7,168 = 37,552,282,624 (card: 37B activated; README_WEIGHTS
     * of V3-Base: 36.6B including the 0.9B output head, i.e. without the input
     * embedding: 37,552,282,624 - 926,679,040 = 36,625,603,584). */
    cr_assert_eq(t.active_params, 37552282624LL);
    cr_assert_eq(t.active_params - 129280LL * 7168, 36625603584LL);
    /* MTP (num_nextn_predict_layers 1), reported apart: one MoE layer 11,507,286,016
     * + enorm, hnorm 2x7168 + eh_proj 14336x7168 + shared_head.norm 7168
     * = 11,610,067,968 unique (README_WEIGHTS: "11.5B unique", which is the
     * transformer layer alone, 11.51B; with the shared 0.9B embedding and 0.9B head
     * 13,463,426,048, the "14B" MTP module). Not part of params. */
    cr_assert_eq(t.extra_params, 11610067968LL);
    cr_assert_eq(t.extra_params + 2 * 129280LL * 7168, 13463426048LL);
    SHAPE(m, "model.layers.0.self_attn.q_a_proj.weight", 1536, 7168);
    SHAPE(m, "model.layers.0.self_attn.q_a_layernorm.weight", 1536);
    SHAPE(m, "model.layers.0.self_attn.q_b_proj.weight", 24576, 1536);
    SHAPE(m, "model.layers.0.self_attn.kv_a_proj_with_mqa.weight", 576, 7168);
    SHAPE(m, "model.layers.0.self_attn.kv_a_layernorm.weight", 512);
    SHAPE(m, "model.layers.0.self_attn.kv_b_proj.weight", 32768, 512);
    SHAPE(m, "model.layers.0.self_attn.o_proj.weight", 7168, 16384);
    SHAPE(m, "model.layers.2.mlp.gate_proj.weight", 18432, 7168);
    cr_assert_null(mt_model_param(m, "model.layers.2.mlp.gate.weight"));
    SHAPE(m, "model.layers.3.mlp.gate.weight", 256, 7168);
    SHAPE(m, "model.layers.3.mlp.gate.e_score_correction_bias", 256);
    cr_assert(mt_model_param(m, "model.layers.3.mlp.gate.e_score_correction_bias")->is_buffer);
    SHAPE(m, "model.layers.60.mlp.experts.255.down_proj.weight", 7168, 2048);
    SHAPE(m, "model.layers.60.mlp.shared_experts.up_proj.weight", 2048, 7168);
    cr_assert_null(mt_model_param(m, "model.layers.61.self_attn.q_a_proj.weight"), "MTP layer is not in the model");
    SHAPE(m, "model.rotary_emb.inv_freq", 32);
    mt_ctx_free(ctx);
}

Test(moe, deepseek_v3_graph) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build(ctx, tu_src("samples/configs/deepseek-ai--DeepSeek-V3.config.json"), 4);
    mt_graph *g = tu_trace(m);
    tu_check_logits(m, g, 129280);
    cr_assert_eq(check_routing(m, g, 8, 7168), 256, "layer 3 is the only MoE layer of 4");
    int sdpa = 0, sig = 0, scatter = 0;
    for (int i = 0; i < g->n; i++) {
        mt_node *n = g->nodes[i];
        if (n->opid == MT_OP_SDPA) {
            sdpa++;
            /* q/k heads of 192 (nope 128 + rope 64), v of 128 */
            cr_assert_eq(n->args[0].v.t->shape[3], mt_sym_const(ctx, 192));
            cr_assert_eq(n->args[1].v.t->shape[3], mt_sym_const(ctx, 192));
            cr_assert_eq(n->args[2].v.t->shape[3], mt_sym_const(ctx, 128));
            cr_assert_eq(n->outs[0].shape[1], mt_sym_const(ctx, 128));
        }
        sig += n->opid == MT_OP_SIGMOID;
        scatter += n->opid == MT_OP_SCATTER;
    }
    cr_assert_eq(sdpa, 4);
    cr_assert_eq(sig, 1, "sigmoid router scores");
    cr_assert_eq(scatter, 1, "group mask");
    mt_ctx_free(ctx);
}

/* DeepSeek-V2-Lite style: q_lora_rank null (plain q_proj), group-limited routing,
 * one dense layer first, two shared experts fused into one MLP. */
static const char *deepseek_v2_tiny =
    "{\"model_type\": \"deepseek_v2\", \"vocab_size\": 50, \"hidden_size\": 16, \"intermediate_size\": 24,"
    " \"num_hidden_layers\": 3, \"num_attention_heads\": 2, \"num_key_value_heads\": 2, \"q_lora_rank\": null,"
    " \"kv_lora_rank\": 8, \"qk_nope_head_dim\": 4, \"qk_rope_head_dim\": 2, \"v_head_dim\": 4,"
    " \"n_routed_experts\": 4, \"n_shared_experts\": 2, \"num_experts_per_tok\": 2, \"moe_intermediate_size\": 4,"
    " \"first_k_dense_replace\": 1, \"moe_layer_freq\": 1, \"topk_method\": \"group_limited_greedy\","
    " \"n_group\": 2, \"topk_group\": 1, \"torch_dtype\": \"bfloat16\"}";

Test(moe, deepseek_v2_tiny_counts) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build_text(ctx, deepseek_v2_tiny, 0);
    mt_totals t;
    cr_assert_eq(mt_model_totals(m, &t), MT_OK, "%s", mt_ctx_errmsg(ctx));
    /* attention: q_proj 16x(2x6) 192 + kv_a_proj_with_mqa 16x10 160 + kv_a_layernorm 8
     * + kv_b_proj 8x(2x8) 128 + o_proj 8x16 128 = 616; norms 32.
     * layer 0 dense MLP 3x16x24 = 1,152 -> 1,800; layers 1-2: gate 4x16 64 + experts
     * 4x3x16x4 768 + shared (4x2 wide) 3x16x8 384 -> 1,864 each; embed + head 1,600,
     * final norm 16: 1,800 + 3,728 + 1,616 = 7,144. */
    cr_assert_eq(t.params, 7144);
    cr_assert_eq(t.active_params, 7144 - 2 * 2 * 192);
    cr_assert_eq(t.extra_params, 0);
    SHAPE(m, "model.layers.0.self_attn.q_proj.weight", 12, 16);
    cr_assert_null(mt_model_param(m, "model.layers.0.self_attn.q_a_proj.weight"));
    SHAPE(m, "model.layers.1.mlp.gate.weight", 4, 16);
    SHAPE(m, "model.layers.1.mlp.shared_experts.gate_proj.weight", 8, 16);
    mt_graph *g = tu_trace(m);
    tu_check_logits(m, g, 50);
    cr_assert_eq(check_routing(m, g, 2, 16), 8);
    mt_ctx_free(ctx);
}

/* The routing op rules, against PyTorch semantics (F.one_hot, torch.nonzero,
 * Tensor.index_add_, torch.gather, torch.index_select docs / ATen checks). */
static mt_tensor *meta(mt_ctx *ctx, mt_dtype dt, int n, const mt_sym *const *s) { return mt_tensor_meta(ctx, dt, n, s); }

Test(moe, routing_op_rules) {
    mt_ctx *ctx = mt_ctx_new();
    const mt_sym *T = mt_sym_var(ctx, "T"), *k2 = mt_sym_const(ctx, 2), *h = mt_sym_const(ctx, 8);
    mt_tensor outs[MT_MAX_OUTS];
    int n;
    bool tup;
    /* one_hot([T, 2] int64, num_classes=4) -> [T, 2, 4] int64 */
    const mt_sym *ti[2] = {T, k2};
    mt_tensor *idx = meta(ctx, MT_INT64, 2, ti);
    mt_arg a1[1] = {mt_a_tensor(idx)};
    mt_kwarg nc[1] = {{"num_classes", mt_a_int(4)}};
    cr_assert_eq(mt_op_infer(ctx, MT_OP_ONE_HOT, a1, 1, nc, 1, outs, &n, &tup), MT_OK, "%s", mt_ctx_errmsg(ctx));
    cr_assert_eq(outs[0].ndim, 3);
    cr_assert_eq(outs[0].shape[2], mt_sym_const(ctx, 4));
    cr_assert_eq(outs[0].dtype, MT_INT64);
    /* one_hot of a float tensor is refused */
    mt_tensor *fl = meta(ctx, MT_FLOAT32, 2, ti);
    mt_arg af[1] = {mt_a_tensor(fl)};
    cr_assert_neq(mt_op_infer(ctx, MT_OP_ONE_HOT, af, 1, nc, 1, outs, &n, &tup), MT_OK);
    mt_error_clear(ctx);
    /* nonzero(as_tuple=True) on [2, T]: two [u] int64 tensors, u fresh in [0, 2*T] */
    const mt_sym *ms[2] = {k2, T};
    mt_tensor *mask = meta(ctx, MT_INT64, 2, ms);
    mt_arg am[1] = {mt_a_tensor(mask)};
    mt_kwarg at[1] = {{"as_tuple", mt_a_bool(true)}};
    cr_assert_eq(mt_op_infer(ctx, MT_OP_NONZERO, am, 1, at, 1, outs, &n, &tup), MT_OK, "%s", mt_ctx_errmsg(ctx));
    cr_assert(tup);
    cr_assert_eq(n, 2);
    const mt_sym *u = outs[0].shape[0];
    cr_assert(mt_sym_is_var(u));
    cr_assert_eq(outs[1].shape[0], u);
    mt_symbol_info *info = mt_sym_info_of(ctx, u);
    cr_assert_eq(info->lo, 0);
    cr_assert_eq(info->hi, mt_sym_mul_const(ctx, T, 2));
    /* default as_tuple=False: [u', 2], a different fresh symbol */
    cr_assert_eq(mt_op_infer(ctx, MT_OP_NONZERO, am, 1, NULL, 0, outs, &n, &tup), MT_OK);
    cr_assert(!tup);
    cr_assert_eq(outs[0].shape[1], k2);
    cr_assert_neq(outs[0].shape[0], u);
    /* index_add_(0, index [u], source [u, 8]) on [T, 8] -> [T, 8]; wrong rows refused */
    const mt_sym *xs[2] = {T, h}, *ss[2] = {u, h}, *bad[2] = {T, h};
    mt_tensor *x = meta(ctx, MT_BFLOAT16, 2, xs), *src = meta(ctx, MT_BFLOAT16, 2, ss), *bsrc = meta(ctx, MT_BFLOAT16, 2, bad);
    mt_tensor *ix = meta(ctx, MT_INT64, 1, &u);
    mt_arg ia[4] = {mt_a_tensor(x), mt_a_int(0), mt_a_tensor(ix), mt_a_tensor(src)};
    cr_assert_eq(mt_op_infer(ctx, MT_OP_INDEX_ADD, ia, 4, NULL, 0, outs, &n, &tup), MT_OK, "%s", mt_ctx_errmsg(ctx));
    cr_assert_eq(outs[0].shape[0], T);
    ia[3] = mt_a_tensor(bsrc);
    cr_assert_neq(mt_op_infer(ctx, MT_OP_INDEX_ADD, ia, 4, NULL, 0, outs, &n, &tup), MT_OK);
    mt_error_clear(ctx);
    /* index_select(x, 0, ix) -> [u, 8]; gather(w [u, 2], 1, [u, 1]) -> [u, 1] */
    mt_arg sa[3] = {mt_a_tensor(x), mt_a_int(0), mt_a_tensor(ix)};
    cr_assert_eq(mt_op_infer(ctx, MT_OP_INDEX_SELECT, sa, 3, NULL, 0, outs, &n, &tup), MT_OK);
    cr_assert_eq(outs[0].shape[0], u);
    cr_assert_eq(outs[0].shape[1], h);
    const mt_sym *ws[2] = {u, k2}, *gs[2] = {u, mt_sym_const(ctx, 1)};
    mt_tensor *w = meta(ctx, MT_FLOAT32, 2, ws), *gi = meta(ctx, MT_INT64, 2, gs);
    mt_arg ga[3] = {mt_a_tensor(w), mt_a_int(1), mt_a_tensor(gi)};
    cr_assert_eq(mt_op_infer(ctx, MT_OP_GATHER, ga, 3, NULL, 0, outs, &n, &tup), MT_OK);
    cr_assert_eq(outs[0].shape[1], mt_sym_const(ctx, 1));
    cr_assert_eq(outs[0].dtype, MT_FLOAT32);
    /* ~ on a float tensor is refused (bitwise_not: integral and bool only) */
    mt_arg inv[1] = {mt_a_tensor(w)};
    cr_assert_neq(mt_op_infer(ctx, MT_OP_INVERT, inv, 1, NULL, 0, outs, &n, &tup), MT_OK);
    mt_ctx_free(ctx);
}
