/* Gemma 4 (gemma4_text; gemma4 traced as its language model): gemma-4-31B-it checked
 * name by name and shape by shape against the tensor table of a report read from its
 * safetensors files (tests/data/index/google--gemma-4-31B-it.weights-report.md,
 * provenance in samples/configs/SOURCES.md), its parameter total derived from the
 * report's; an E2B-shaped config (per-layer inputs, KV sharing, double-wide MLP) by
 * hand from modeling_gemma4.py; the K/V per token by hand (sliding vs full layers,
 * shared layers caching nothing); the graph's Gemma 4 details; config errors. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/moe.h"
#include "testutil.h"

#define G4_31B "samples/configs/multimodal/google--gemma-4-31B-it.config.json"
#define G4_REPORT "tests/data/index/google--gemma-4-31B-it.weights-report.md"
#define G4_26B "samples/configs/multimodal/google--gemma-4-26B-A4B-it.config.json"
#define G4_26B_INV "tests/data/index/google--gemma-4-26B-A4B-it.inventory.txt"

/* google/gemma-4-E2B(-it)'s text_config as public re-implementations quote the real checkpoint's in
 * their tests (the same values in several: see samples/configs/SOURCES.md); no index of it was found. */
static const char *E2B =
    "{\"model_type\": \"gemma4_text\", \"hidden_size\": 1536, \"num_hidden_layers\": 35, "
    "\"intermediate_size\": 6144, \"num_attention_heads\": 8, \"head_dim\": 256, \"global_head_dim\": 512, "
    "\"rms_norm_eps\": 1e-6, \"vocab_size\": 262144, \"num_key_value_heads\": 1, \"num_kv_shared_layers\": 20, "
    "\"hidden_size_per_layer_input\": 256, \"vocab_size_per_layer_input\": 262144, \"sliding_window\": 512, "
    "\"max_position_embeddings\": 131072, \"final_logit_softcapping\": 30.0, \"attention_bias\": false, "
    "\"attention_k_eq_v\": false, \"use_double_wide_mlp\": true, \"enable_moe_block\": false, "
    "\"tie_word_embeddings\": true, \"dtype\": \"bfloat16\", \"rope_parameters\": {\"full_attention\": "
    "{\"partial_rotary_factor\": 0.25, \"rope_theta\": 1000000.0, \"rope_type\": \"proportional\"}, "
    "\"sliding_attention\": {\"rope_theta\": 10000.0, \"rope_type\": \"default\"}}, \"layer_types\": ["
    "\"sliding_attention\", \"sliding_attention\", \"sliding_attention\", \"sliding_attention\", \"full_attention\", "
    "\"sliding_attention\", \"sliding_attention\", \"sliding_attention\", \"sliding_attention\", \"full_attention\", "
    "\"sliding_attention\", \"sliding_attention\", \"sliding_attention\", \"sliding_attention\", \"full_attention\", "
    "\"sliding_attention\", \"sliding_attention\", \"sliding_attention\", \"sliding_attention\", \"full_attention\", "
    "\"sliding_attention\", \"sliding_attention\", \"sliding_attention\", \"sliding_attention\", \"full_attention\", "
    "\"sliding_attention\", \"sliding_attention\", \"sliding_attention\", \"sliding_attention\", \"full_attention\", "
    "\"sliding_attention\", \"sliding_attention\", \"sliding_attention\", \"sliding_attention\", \"full_attention\"]}";

static const char *build_error(mt_ctx *ctx, const char *json) {
    mt_config *cfg = mt_config_parse(ctx, json, strlen(json), "bad.json");
    cr_assert_not_null(cfg, "config: %s", mt_ctx_errmsg(ctx));
    mt_build_opts o = {.dtype = MT_DTYPE_NONE, .num_layers = 0};
    cr_assert_null(mt_model_build(ctx, cfg, &o), "expected the build to fail");
    return mt_ctx_errmsg(ctx);
}

static int64_t numel(const mt_tensor *t) {
    int64_t n = 1;
    for (int d = 0; d < t->ndim; d++) n *= mt_sym_const_value(t->shape[d]);
    return n;
}

static const mt_param *find_buffer(mt_model *m, const char *name) {
    for (int i = 0; i < m->buffers.n; i++) {
        const mt_param *p = m->buffers.items[i];
        if (strcmp(p->name, name) == 0) return p;
    }
    return NULL;
}

/* One tensor of the report against ours: the language model's names lose the wrapper's
 * "language_model." (the text checkpoint's names); layer_scalar is a persistent buffer. */
static void check_tensor(mt_model *m, const char *name, const int64_t *shape, int nd, int *seen_params) {
    const char *lm = "model.language_model.";
    cr_assert(strncmp(name, lm, strlen(lm)) == 0, "%s", name);
    char ours[256];
    snprintf(ours, sizeof ours, "model.%s", name + strlen(lm));
    const mt_param *p = find_buffer(m, ours);
    if (p) {
        cr_assert(p->persistent, "%s is stored: a persistent buffer", ours);
    } else {
        p = mt_model_param(m, ours);
        cr_assert_not_null(p, "the checkpoint's %s is not in the model (%s)", name, ours);
        (*seen_params)++;
    }
    cr_assert_eq(p->t->ndim, nd, "%s: rank", ours);
    for (int d = 0; d < nd; d++)
        cr_assert_eq(mt_sym_const_value(p->t->shape[d]), shape[d], "%s: dim %d is %lld, checkpoint %lld", ours, d,
                     (long long)mt_sym_const_value(p->t->shape[d]), (long long)shape[d]);
    cr_assert_eq(p->t->dtype, MT_BFLOAT16, "%s", ours);
}

/* Every row of the report: name (a "layers.A-B." range with its count expands, the
 * merged v_proj row to the sliding layers of that range as the config's layer_types
 * give them, every sixth full), shape; the sum of the rows must be the report's totals. */
Test(gemma4, gemma_4_31b_it_equals_its_checkpoint_tensor_by_tensor) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build(ctx, tu_src(G4_31B), 0);
    cr_assert_not_null(m->note);
    cr_assert(strstr(m->note, "vision and audio towers"), "%s", m->note);
    cr_assert_str_eq(m->model_type, "gemma4_text");
    cr_assert_str_eq(m->class_name, "Gemma4ForCausalLM");
    size_t len;
    char *text = tu_read(tu_src(G4_REPORT), &len);
    cr_assert_not_null(text);
    int64_t elements = 0, tensors = 0, lm_elements = 0, lm_tensors = 0;
    int seen_params = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (strncmp(line, "| `", 3) != 0) continue;
        char name[256], shp[64];
        int count = 1;
        const char *tick = strchr(line + 3, '`');
        cr_assert_not_null(tick);
        snprintf(name, sizeof name, "%.*s", (int)(tick - (line + 3)), line + 3);
        const char *x = strstr(tick, "(×");
        if (x && x < strstr(tick, "| `")) count = atoi(x + strlen("(×"));
        const char *sb = strstr(tick, "`[");
        cr_assert_not_null(sb);
        snprintf(shp, sizeof shp, "%.*s", (int)(strchr(sb, ']') - (sb + 2)), sb + 2);
        int64_t shape[4];
        int nd = 0;
        for (char *tok = shp; nd < 4;) {
            shape[nd++] = strtoll(tok, &tok, 10);
            if (*tok != ',') break;
            tok += 2;
        }
        int64_t n = 1;
        for (int d = 0; d < nd; d++) n *= shape[d];
        elements += n * count;
        tensors += count;
        if (strncmp(name, "model.language_model.", 21) != 0) continue; /* the towers: not built */
        lm_elements += n * count;
        lm_tensors += count;
        const char *range = strstr(name, "layers.");
        int a, b, used = 0;
        if (range && sscanf(range, "layers.%d-%d.%n", &a, &b, &used) == 2 && used > 0) {
            const char *rest = range + used;
            int expanded = 0;
            for (int i = a; i <= b; i++) {
                bool full = (i + 1) % 6 == 0;
                if (count != b - a + 1 && full) continue; /* the merged v_proj row: sliding layers only */
                char one[256];
                snprintf(one, sizeof one, "%.*slayers.%d.%s", (int)(range - name), name, i, rest);
                check_tensor(m, one, shape, nd, &seen_params);
                expanded++;
            }
            cr_assert_eq(expanded, count, "%s: %d layers, the report says %d", name, expanded, count);
        } else {
            check_tensor(m, name, shape, nd, &seen_params);
        }
    }
    free(text);
    /* the report's own totals: 1,188 tensors, 31,273,088,876 elements */
    cr_assert_eq(tensors, 1188);
    cr_assert_eq(elements, 31273088876LL);
    /* the language model: 832 tensors, 60 of them the layer_scalar buffers; every parameter of ours is one */
    cr_assert_eq(lm_tensors, 832, "%lld", (long long)lm_tensors);
    int untied = 0;
    for (int i = 0; i < m->params.n; i++) untied += !((mt_param *)m->params.items[i])->tied_to;
    cr_assert_eq(seen_params, untied, "ours %d parameters, the checkpoint's language model %d", untied, seen_params);
    mt_totals t;
    cr_assert_eq(mt_model_totals(m, &t), MT_OK);
    cr_assert_eq(t.params, lm_elements - 60, "%lld", (long long)t.params);
    /* by hand, the same figure: the towers are 27 layers of (4*1152*1152 + 3*1152*4304 + 4*1152 + 2*72 =
     * 20,187,792) = 545,070,384, input_proj 1152*768 = 884,736, position_embedding_table 2*10240*1152 =
     * 23,592,960, std_bias/std_scale 2,304, embed_vision 5376*1152 = 6,193,152: 575,743,536 of the
     * report's 31,273,088,876, and the 60 layer_scalars */
    cr_assert_eq(t.params, 31273088876LL - 575743536LL - 60);
    cr_assert_eq(t.params, 30697345280LL);
    cr_assert_eq(t.param_bytes, 2 * 30697345280LL);
    /* full layers: no v_proj (attention_k_eq_v), 4 K heads of 512 */
    cr_assert_null(mt_model_param(m, "model.layers.5.self_attn.v_proj.weight"));
    TU_SHAPE(m, "model.layers.5.self_attn.k_proj.weight", 2048, 5376);
    TU_SHAPE(m, "lm_head.weight", 262144, 5376);
    cr_assert_not_null(mt_model_param(m, "lm_head.weight")->tied_to);
    mt_ctx_free(ctx);
}

/* google/gemma-4-26B-A4B-it, every tensor of its checkpoint (the inventory of its two safetensors shards,
 * tests/data/index/google--gemma-4-26B-A4B-it.inventory.txt, provenance in SOURCES.md) against ours: the
 * language model's 657 tensors by name and shape (the mixture-of-experts block's router.proj/scale/
 * per_expert_scale, experts.gate_up_proj [128, 1408, 2816] and down_proj [128, 2816, 704], the three extra
 * norms), and the total from the inventory's payload: 51,611,872,412 bytes, all bf16, so 25,805,936,206
 * elements, less the towers' rows and the 30 layer_scalar buffers. By hand (hidden 2816, 16 heads of 256,
 * 8 KV heads on sliding layers, 2 of 512 on full ones with k_eq_v): sliding attention q 2816*4096 + k, v
 * 2816*2048 each + o 4096*2816 + q/k_norm 512 = 34,603,520; full attention q 2816*8192 + k 2816*1024 + o
 * 8192*2816 + q/k_norm 1024 = 49,021,952; dense MLP 3*2816*2112 = 17,842,176; seven norms 19,712; router
 * 128*2816 + 2816 + 128 = 363,392; experts 128*1408*2816 + 128*2816*704 = 761,266,176; layers 25 sliding
 * 814,094,976 + 5 full 828,513,408 = 24,494,941,440; embed_tokens 262144*2816 = 738,197,504 (lm_head tied),
 * norm 2816: 25,233,141,760. Active: 8 of 128 experts, 30 * 120/128 * 761,266,176 = 21,410,611,200 idle,
 * 3,822,530,560 active (the card's "A4B", 3.8B active). */
Test(gemma4, gemma_4_26b_a4b_it_equals_its_checkpoint_tensor_by_tensor) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build(ctx, tu_src(G4_26B), 0);
    cr_assert_str_eq(m->model_type, "gemma4_text");
    size_t len;
    char *text = tu_read(tu_src(G4_26B_INV), &len);
    cr_assert_not_null(text);
    int64_t payload = 0, count = 0, tensors = 0, towers = 0, lm_tensors = 0, scalars = 0;
    int seen_params = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (sscanf(line, "# tensor_payload_bytes %lld", (long long *)&payload) == 1) continue;
        if (sscanf(line, "# tensor_count %lld", (long long *)&count) == 1) continue;
        if (line[0] == '#') continue;
        char *tab = strchr(line, '\t');
        cr_assert_not_null(tab, "%s", line);
        *tab = 0;
        int64_t shape[4], n = 1;
        int nd = 0;
        for (char *tok = tab + 1; nd < 4;) {
            shape[nd++] = strtoll(tok, &tok, 10);
            if (*tok != ',') break;
            tok++;
        }
        for (int d = 0; d < nd; d++) n *= shape[d];
        tensors++;
        if (strncmp(line, "model.language_model.", 21) != 0) { /* the vision tower and embed_vision: not built */
            towers += n;
            continue;
        }
        lm_tensors++;
        scalars += strstr(line, ".layer_scalar") != NULL;
        check_tensor(m, line, shape, nd, &seen_params);
    }
    free(text);
    cr_assert_eq(tensors, count);
    cr_assert_eq(count, 1013);
    cr_assert_eq(lm_tensors, 657, "%lld", (long long)lm_tensors);
    cr_assert_eq(scalars, 30);
    int untied = 0;
    for (int i = 0; i < m->params.n; i++) untied += !((mt_param *)m->params.items[i])->tied_to;
    cr_assert_eq(seen_params, untied, "ours %d parameters, the checkpoint's language model %d", untied, seen_params);
    mt_totals t;
    cr_assert_eq(mt_model_totals(m, &t), MT_OK);
    cr_assert_eq(payload % 2, 0);
    cr_assert_eq(t.params, payload / 2 - towers - scalars, "%lld", (long long)t.params);
    cr_assert_eq(t.params, 25233141760LL);
    cr_assert_eq(25 * 814094976LL + 5 * 828513408LL + 738197504LL + 2816, 25233141760LL);
    cr_assert_eq(t.param_bytes, 2 * 25233141760LL);
    cr_assert_eq(t.active_params, 25233141760LL - 30 * 120 * (761266176LL / 128), "%lld", (long long)t.active_params);
    cr_assert_eq(t.active_params, 3822530560LL);
    TU_SHAPE(m, "model.layers.29.experts.gate_up_proj", 128, 1408, 2816);
    TU_SHAPE(m, "model.layers.29.experts.down_proj", 128, 2816, 704);
    TU_SHAPE(m, "model.layers.29.router.proj.weight", 128, 2816);
    cr_assert_null(mt_model_param(m, "model.layers.0.router.norm.weight"), "the router's norm has no weight");
    mt_ctx_free(ctx);
}

/* The 26B-A4B's K/V by hand (bf16): 25 sliding layers of 8 heads * 256 * 2 (K, V) * 2 B = 8,192 B and 5 full
 * layers of 2 * 512 * 2 * 2 = 4,096 B: 225,280 B/token; the experts cache nothing. One layer's trace, against
 * modeling_gemma4.py's Gemma4TextDecoderLayer / Gemma4TextRouter / Gemma4TextExperts (eager): the router on
 * the pre-MLP residual flattened to [T, 2816], softmax, topk(8), the renormalisation and per_expert_scale
 * read at the chosen indices; one_hot over 128 experts; per expert a torch.where (a fresh symbol bounded by
 * the T * 8 routed slots), the expert's slice of gate_up_proj and down_proj through F.linear, index_add_. */
Test(gemma4, gemma_4_26b_moe_trace_and_kv_by_hand) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *whole = tu_build(ctx, tu_src(G4_26B), 0);
    mt_sizing s;
    cr_assert_eq(mt_model_sizing(whole, tu_trace(whole), NULL, &s), MT_OK, "%s", mt_ctx_errmsg(ctx));
    cr_assert_eq(s.kv_bytes_per_token, 25 * 8192 + 5 * 4096);
    mt_model *m = tu_build(ctx, tu_src(G4_26B), 1);
    mt_graph *g = tu_trace(m);
    tu_check_logits(m, g, 262144);
    mt_node *tk = tu_first_op(g, MT_OP_TOPK, "model.layers.0.router");
    cr_assert_not_null(tk);
    const mt_arg *k = tu_kwarg(tk, "k");
    cr_assert(k && k->kind == MT_ARG_INT && k->v.i == 8);
    cr_assert_eq(mt_sym_const_value(tk->outs[0].shape[1]), 8);
    mt_node *sm = tu_first_op(g, MT_OP_SOFTMAX, "model.layers.0.router");
    cr_assert_not_null(sm);
    cr_assert_null(tu_kwarg(sm, "dtype"));
    cr_assert_eq(mt_sym_const_value(sm->outs[0].shape[1]), 128);
    mt_node *oh = tu_first_op(g, MT_OP_ONE_HOT, "model.layers.0.experts");
    cr_assert_not_null(oh);
    cr_assert_eq(tu_count_ops(g, MT_OP_NONZERO, "model.layers.0.experts"), 128);
    cr_assert_eq(tu_count_ops(g, MT_OP_INDEX_ADD, "model.layers.0.experts"), 128);
    cr_assert_eq(tu_count_ops(g, MT_OP_LINEAR, "model.layers.0.experts"), 2 * 128);
    mt_node *nz = tu_first_op(g, MT_OP_NONZERO, "model.layers.0.experts");
    const mt_symbol_info *si = mt_sym_info_of(ctx, nz->outs[0].shape[0]);
    cr_assert_not_null(si);
    cr_assert_str_eq(mt_sym_str(si->hi), "8*batch*seq");
    /* the expert's slice: gate_up_proj[e] [1408, 2816] */
    mt_node *lin = tu_first_op(g, MT_OP_LINEAR, "model.layers.0.experts");
    const mt_tensor *wt = lin->args[1].v.t;
    cr_assert_eq(wt->ndim, 2);
    cr_assert_eq(mt_sym_const_value(wt->shape[0]), 1408);
    cr_assert_eq(mt_sym_const_value(wt->shape[1]), 2816);
    /* the two branches meet: post_feedforward_layernorm_1(mlp) + post_feedforward_layernorm_2(experts) */
    cr_assert_not_null(tu_first_op(g, MT_OP_TYPE_AS, "model.layers.0.post_feedforward_layernorm_2"));
    cr_assert_not_null(tu_first_op(g, MT_OP_TYPE_AS, "model.layers.0.pre_feedforward_layernorm_2"));
    mt_ctx_free(ctx);
}

/* K/V by hand (bf16): sliding layers 16 heads * 256 * 2 (K, V) * 2 bytes = 16,384 B, full layers 4 * 512 * 2 * 2
 * = 8,192 B (values cached apart though projected by k_proj): 50 * 16,384 + 10 * 8,192 = 901,120 B/token. At
 * 131,072 tokens the sliding layers hold 1,024: 50 * 1024 * 16,384 + 10 * 131,072 * 8,192 = 838,860,800 +
 * 10,737,418,240 = 11,576,279,040. */
Test(gemma4, gemma_4_31b_kv_cache_by_hand) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build(ctx, tu_src(G4_31B), 0);
    mt_graph *g = tu_trace(m);
    mt_sizing_opts o = {.kv_dtype = MT_DTYPE_NONE, .seq = 64, .context = 131072};
    mt_sizing s;
    cr_assert_eq(mt_model_sizing(m, g, &o, &s), MT_OK, "%s", mt_ctx_errmsg(ctx));
    cr_assert_eq(s.kv_bytes_per_token, 901120, "%lld", (long long)s.kv_bytes_per_token);
    cr_assert_eq(s.kv_bytes_at_context, 11576279040LL, "%lld", (long long)s.kv_bytes_at_context);
    cr_assert_eq(s.nattn, 60);
    for (int i = 0; i < s.nattn; i++) {
        bool full = (i + 1) % 6 == 0;
        cr_assert_eq(s.attn[i].window, full ? 0 : 1024, "layer %d", i);
        cr_assert_eq(s.attn[i].kv_heads, full ? 4 : 16, "layer %d", i);
        cr_assert_eq(s.attn[i].head_dim_k, full ? 512 : 256, "layer %d", i);
    }
    mt_ctx_free(ctx);
}

/* E2B by hand from modeling_gemma4.py. Layers 0-14 compute K/V (full at 4, 9, 14); 15-34 share them
 * (num_kv_shared_layers 20; full at 19, 24, 29, 34) and have double-wide MLPs.
 *   sliding attention q 1536*2048 + k, v 1536*256 each + o 2048*1536 + q/k_norm 2*256 = 7,078,400;
 *   full: q 1536*4096 + k, v 1536*512 + o + 2*512 = 14,156,800; shared layers keep q_proj, q_norm, o_proj:
 *   6,291,712 (sliding), 12,583,424 (full); MLP 3*1536*6144 = 28,311,552, doubled 56,623,104; four norms
 *   6,144; per-layer input gate + projection 2*1536*256 + norm 1536 = 787,968.
 *   layers 0-14: 12*7,078,400 + 3*14,156,800 + 15*(28,311,552 + 6,144 + 787,968) = 563,996,160;
 *   15-34: 16*6,291,712 + 4*12,583,424 + 20*(56,623,104 + 6,144 + 787,968) = 1,299,345,408;
 *   embed_tokens 262144*1536 = 402,653,184, embed_tokens_per_layer 262144*35*256 = 2,348,810,240,
 *   per_layer_model_projection 1536*8960 = 13,762,560, per_layer_projection_norm 256, norm 1,536 (lm_head tied):
 *   4,628,569,344; less the per-layer table 2,279,759,104 (card: 2.3B effective, 5.1B with embeddings and the
 *   towers). */
Test(gemma4, e2b_by_hand) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build_text(ctx, E2B, 0);
    mt_totals t;
    cr_assert_eq(mt_model_totals(m, &t), MT_OK);
    cr_assert_eq(t.params, 4628569344LL, "%lld", (long long)t.params);
    cr_assert_eq(t.params - 2348810240LL, 2279759104LL);
    TU_SHAPE(m, "model.embed_tokens_per_layer.weight", 262144, 8960);
    TU_SHAPE(m, "model.per_layer_model_projection.weight", 8960, 1536);
    TU_SHAPE(m, "model.layers.14.self_attn.k_proj.weight", 512, 1536);
    TU_SHAPE(m, "model.layers.14.self_attn.v_proj.weight", 512, 1536);
    TU_SHAPE(m, "model.layers.14.mlp.gate_proj.weight", 6144, 1536);
    TU_SHAPE(m, "model.layers.15.mlp.gate_proj.weight", 12288, 1536);
    TU_SHAPE(m, "model.layers.15.self_attn.q_proj.weight", 2048, 1536);
    TU_SHAPE(m, "model.layers.19.self_attn.o_proj.weight", 1536, 4096);
    TU_SHAPE(m, "model.layers.34.per_layer_input_gate.weight", 256, 1536);
    cr_assert_null(mt_model_param(m, "model.layers.15.self_attn.k_proj.weight"));
    cr_assert_null(mt_model_param(m, "model.layers.15.self_attn.k_norm.weight"));
    cr_assert_null(mt_module_find(m->root, "model.layers.15.self_attn.v_norm"));
    cr_assert_not_null(mt_module_find(m->root, "model.layers.14.self_attn.v_norm"));
    cr_assert_null(mt_model_param(m, "model.layers.14.self_attn.v_norm.weight")); /* with_scale=False */
    mt_ctx_free(ctx);
}

/* E2B's K/V by hand (bf16): only layers 0-14 cache: 12 sliding * (1 * 256 * 2 * 2 = 1,024) + 3 full *
 * (1 * 512 * 2 * 2 = 2,048) = 18,432 B/token; at 131,072 tokens: 12 * 512 * 1,024 + 3 * 131,072 * 2,048 =
 * 6,291,456 + 805,306,368 = 811,597,824. The shared layers read layer 13's (sliding) or 14's (full) K/V:
 * their attention takes those very tensors. */
Test(gemma4, e2b_shared_layers_cache_nothing) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build_text(ctx, E2B, 0);
    mt_graph *g = tu_trace(m);
    tu_check_logits(m, g, 262144);
    mt_sizing_opts o = {.kv_dtype = MT_DTYPE_NONE, .seq = 64, .context = 131072};
    mt_sizing s;
    cr_assert_eq(mt_model_sizing(m, g, &o, &s), MT_OK, "%s", mt_ctx_errmsg(ctx));
    cr_assert_eq(s.kv_bytes_per_token, 18432, "%lld", (long long)s.kv_bytes_per_token);
    cr_assert_eq(s.kv_bytes_at_context, 811597824LL, "%lld", (long long)s.kv_bytes_at_context);
    cr_assert_eq(s.nattn, 35);
    for (int i = 0; i < 35; i++) {
        bool full = (i + 1) % 5 == 0;
        cr_assert_eq(s.attn[i].window, full ? 0 : 512, "layer %d", i);
        cr_assert_eq(s.attn[i].cache_bytes_per_token, i >= 15 ? 0 : full ? 2048 : 1024, "layer %d: %lld", i,
                     (long long)s.attn[i].cache_bytes_per_token);
    }
    /* layer 15 (sliding) attends over layer 13's K/V, layer 19 (full) over layer 14's: the same tensors */
    cr_assert_eq(s.attn[15].key, s.attn[13].key, "layer 15 reads layer 13's keys");
    cr_assert_eq(s.attn[15].value, s.attn[13].value, "layer 15 reads layer 13's values");
    cr_assert_eq(s.attn[19].key, s.attn[14].key, "layer 19 reads layer 14's keys");
    cr_assert_eq(s.attn[34].value, s.attn[14].value, "layer 34 reads layer 14's values");
    cr_assert_neq(s.attn[13].key, s.attn[12].key);
    mt_ctx_free(ctx);
}

/* Two layers of the 31B: the Gemma 4 pieces of the graph. */
Test(gemma4, graph_details) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build(ctx, tu_src(G4_31B), 6);
    mt_graph *g = tu_trace(m);
    tu_check_logits(m, g, 262144);
    /* one rotary module, one inv_freq table per attention kind: default [128] for the sliding layers,
     * proportional [256] (global_head_dim 512 / 2) for the full ones */
    const mt_param *sl = find_buffer(m, "model.rotary_emb.sliding_attention_inv_freq");
    const mt_param *fl = find_buffer(m, "model.rotary_emb.full_attention_inv_freq");
    cr_assert(sl && fl);
    cr_assert_eq(numel(sl->t), 128);
    cr_assert_eq(numel(fl->t), 256);
    cr_assert(!sl->persistent && !fl->persistent);
    cr_assert_not_null(find_buffer(m, "model.rotary_emb.full_attention_original_inv_freq"));
    /* scaling 1.0 passed to sdpa; the full layer's q [b, 32, s, 512] against 4 K heads repeated 8 times */
    mt_node *a5 = tu_first_op(g, MT_OP_SDPA, "model.layers.5.self_attn");
    cr_assert_not_null(a5);
    const mt_arg *sc = tu_kwarg(a5, "scale");
    cr_assert(sc && sc->kind == MT_ARG_FLOAT && sc->v.f == 1.0);
    cr_assert_eq(a5->args[0].v.t->shape[1], mt_sym_const(ctx, 32));
    cr_assert_eq(a5->args[0].v.t->shape[3], mt_sym_const(ctx, 512));
    /* k_eq_v: the values are v_norm of k_proj's output, no v_proj call */
    cr_assert_eq(tu_count_ops(g, MT_OP_VIEW, "model.layers.5.self_attn"), 2);
    /* Gemma4RMSNorm: x * pow(mean(x^2) + eps, -0.5), no rsqrt, weight not 1 + w; v_norm without weight */
    cr_assert_eq(tu_count_ops(g, MT_OP_RSQRT, NULL), 0);
    cr_assert_eq(tu_count_ops(g, MT_OP_POW, "model.layers.0.self_attn.v_norm"), 2);
    /* layer_scalar multiplies each layer's output; final soft-capping 30 */
    cr_assert_eq(tu_count_ops(g, MT_OP_TANH, NULL), 1);
    mt_ctx_free(ctx);
}

Test(gemma4, config_errors_name_the_field) {
    mt_ctx *ctx = mt_ctx_new();
    const char *e = build_error(ctx, "{\"model_type\": \"gemma4_text\", \"enable_moe_block\": true, \"num_experts\": 4, "
                                     "\"top_k_experts\": 2}");
    cr_assert(strstr(e, "moe_intermediate_size") && strstr(e, "required with enable_moe_block"), "%s", e);
    mt_ctx_free(ctx);
    ctx = mt_ctx_new();
    e = build_error(ctx, "{\"model_type\": \"gemma4_text\", \"enable_moe_block\": true, \"num_experts\": 4, "
                         "\"top_k_experts\": 5, \"moe_intermediate_size\": 8}");
    cr_assert(strstr(e, "top_k_experts") && strstr(e, "exceeds num_experts 4"), "%s", e);
    mt_ctx_free(ctx);
    ctx = mt_ctx_new();
    e = build_error(ctx, "{\"model_type\": \"gemma4_text\", \"num_hidden_layers\": 4, \"num_kv_shared_layers\": 4}");
    cr_assert(strstr(e, "num_kv_shared_layers"), "%s", e);
    mt_ctx_free(ctx);
    ctx = mt_ctx_new();
    e = build_error(ctx, "{\"model_type\": \"gemma4_text\", \"attention_k_eq_v\": true}");
    cr_assert(strstr(e, "num_global_key_value_heads"), "%s", e);
    mt_ctx_free(ctx);
    ctx = mt_ctx_new();
    e = build_error(ctx, "{\"model_type\": \"gemma4_text\", \"num_hidden_layers\": 2, \"layer_types\": "
                         "[\"sliding_attention\"]}");
    cr_assert(strstr(e, "layer_types"), "%s", e);
    mt_ctx_free(ctx);
    ctx = mt_ctx_new();
    e = build_error(ctx, "{\"model_type\": \"gemma4_text\", \"use_bidirectional_attention\": \"all\"}");
    cr_assert(strstr(e, "use_bidirectional_attention"), "%s", e);
    mt_ctx_free(ctx);
}

/* gemma4 (Gemma4ForConditionalGeneration) is traced as its language model with or without
 * --text-only: the same parameters, a note naming the towers left out. */
Test(gemma4, wrapper_traces_its_language_model_with_a_note) {
    mt_ctx *ctx = mt_ctx_new();
    mt_config *cfg = mt_config_load(ctx, tu_src(G4_31B));
    cr_assert_not_null(cfg, "%s", mt_ctx_errmsg(ctx));
    mt_build_opts o = {.dtype = MT_DTYPE_NONE, .num_layers = 2, .text_only = true};
    mt_model *m = mt_model_build(ctx, cfg, &o);
    cr_assert_not_null(m, "%s", mt_ctx_errmsg(ctx));
    cr_assert_str_eq(m->model_type, "gemma4_text");
    cr_assert(m->note && strstr(m->note, "model_type 'gemma4' is multimodal") && strstr(m->note, "audio towers"),
              "%s", m->note ? m->note : "(none)");
    /* 2 layers: embed 262144*5376, norm 5376, two sliding layers of (q 5376*8192 44,040,192 + k, v 5376*4096
     * 22,020,096 each + o 44,040,192 + q/k_norm 512 + MLP 3*5376*21504 346,816,512 + 4 norms 21,504) = 478,959,104 */
    mt_totals t;
    cr_assert_eq(mt_model_totals(m, &t), MT_OK);
    cr_assert_eq(t.params, 262144LL * 5376 + 5376 + 2 * 478959104LL, "%lld", (long long)t.params);
    mt_ctx_free(ctx);
}

/* null fields read as transformers reads None: no per-layer inputs (`if hidden_size_per_layer_input:`),
 * full layers of head_dim (global_head_dim None), no soft-capping, no padding_idx. By hand: embed 64*32
 * 2048; each layer q 32*32 + k, v 32*16 + o 32*32 + q/k_norm 2*16 = 3104, MLP 3*32*64 6144, norms 128 ->
 * 9376; final norm 32: 2048 + 2*9376 + 32 = 20,832. */
Test(gemma4, null_fields_read_as_none) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build_text(ctx, "{\"model_type\": \"gemma4_text\", \"num_hidden_layers\": 2, \"vocab_size\": 64, "
                                     "\"hidden_size\": 32, \"intermediate_size\": 64, \"num_attention_heads\": 2, "
                                     "\"num_key_value_heads\": 1, \"head_dim\": 16, \"global_head_dim\": null, "
                                     "\"hidden_size_per_layer_input\": null, \"final_logit_softcapping\": null, "
                                     "\"sliding_window\": 4, \"pad_token_id\": null, \"torch_dtype\": \"float32\"}", 0);
    mt_totals t;
    cr_assert_eq(mt_model_totals(m, &t), MT_OK);
    cr_assert_eq(t.params, 20832, "%lld", (long long)t.params);
    cr_assert_null(mt_module_find(m->root, "model.embed_tokens_per_layer"));
    TU_SHAPE(m, "model.layers.1.self_attn.q_proj.weight", 32, 32);
    mt_graph *g = tu_trace(m);
    cr_assert_eq(tu_count_ops(g, MT_OP_TANH, NULL), 0);
    mt_ctx_free(ctx);
}

/* The forwards read the handles the build bound, not names (docs/ARCHITECTURE.md, Decisions, "Typed handles
 * bound at build"). The expected pointers and shapes are transformers': Gemma4TextExperts holds gate_up_proj
 * [num_experts, 2 * moe_intermediate_size, hidden] = [128, 2 * 704, 2816] and down_proj [128, 2816, 704] (the
 * 26B-A4B config's values; the same form as Qwen3VLMoeTextExperts); Gemma4TextRotaryEmbedding one inv_freq per
 * kind present in the layers built, head_dim / 2 = 128 (sliding) and global_head_dim / 2 = 256 (full,
 * "proportional"); with one layer (sliding) no full one is bound, as no such buffer is built. Then children and
 * buffers are renamed after the build: a forward that looked them up by name would fail; the trace records
 * the same nodes. */
Test(gemma4, forwards_read_handles_not_names) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build(ctx, tu_src(G4_26B), 6); /* five sliding layers, then a full one: both kinds */
    int before = tu_trace(m)->n;
    mt_module *ex = mt_module_find(m->root, "model.layers.0.experts");
    const mt_moe_fused_h *eh = mt_module_bound(ex, &mt_moe_fused_h_kind);
    cr_assert_not_null(eh);
    cr_assert_eq(eh->num_experts, 128);
    cr_assert_eq(eh->gate_up, mt_model_param(m, "model.layers.0.experts.gate_up_proj"));
    cr_assert_eq(eh->down, mt_model_param(m, "model.layers.0.experts.down_proj"));
    cr_assert_eq(eh->act, mt_module_find(m->root, "model.layers.0.experts.act_fn"));
    TU_SHAPE(m, "model.layers.0.experts.gate_up_proj", 128, 1408, 2816);
    mt_module *rot = mt_module_find(m->root, "model.rotary_emb");
    const mt_rope_kinds_h *rh = mt_module_bound(rot, &mt_rope_kinds_h_kind);
    cr_assert_not_null(rh);
    cr_assert_eq(rh->inv_freq[0], mt_model_param(m, "model.rotary_emb.sliding_attention_inv_freq"));
    cr_assert_eq(rh->inv_freq[1], mt_model_param(m, "model.rotary_emb.full_attention_inv_freq"));
    cr_assert_eq(mt_sym_const_value(rh->inv_freq[0]->t->shape[0]), 128);
    cr_assert_eq(mt_sym_const_value(rh->inv_freq[1]->t->shape[0]), 256);
    mt_model *one = tu_build(ctx, tu_src(G4_26B), 1);
    const mt_rope_kinds_h *r1 = mt_module_bound(mt_module_find(one->root, "model.rotary_emb"), &mt_rope_kinds_h_kind);
    cr_assert(r1 && r1->inv_freq[0] && !r1->inv_freq[1]);
    cr_assert_null(mt_model_param(one, "model.rotary_emb.full_attention_inv_freq"));
    eh->act->name = "activation";
    rh->inv_freq[0]->local = "renamed_sliding";
    rh->inv_freq[1]->local = "renamed_full";
    static const char *const renamed[] = {"model.layers.0.self_attn.q_proj", "model.layers.0.router.proj",
                                          "model.layers.0.pre_feedforward_layernorm_2", "model.layers.0.mlp.up_proj",
                                          "model.embed_tokens", "model.norm", "lm_head"};
    for (size_t i = 0; i < sizeof renamed / sizeof *renamed; i++) {
        mt_module *mod = mt_module_find(m->root, renamed[i]);
        cr_assert_not_null(mod, "%s", renamed[i]);
        mod->name = "renamed";
    }
    mt_graph *g = mt_model_trace(m, NULL);
    cr_assert_not_null(g, "%s", mt_ctx_errmsg(ctx));
    cr_assert_eq(g->n, before);
    mt_ctx_free(ctx);
}
