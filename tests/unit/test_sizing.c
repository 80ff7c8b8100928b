/* The sizing pass (src/sizing.c): KV cache by attention kind, FLOPs with
 * causal halving and decode, activation liveness, training memory. Every
 * expected value is hand arithmetic written next to it (widths from the
 * configs, published parameter counts), never the pass's own output. */
#include <criterion/criterion.h>
#include <string.h>

#include "testutil.h"
#include "tiny_configs.h"

static mt_sizing size_of(mt_model *m, mt_graph *g, const mt_sizing_opts *o) {
    mt_sizing s;
    cr_assert_eq(mt_model_sizing(m, g, o, &s), MT_OK, "sizing %s: %s", m->model_type, mt_ctx_errmsg(m->ctx));
    return s;
}

/* ---- KV cache: every registered family's tiny config ------------------------------
 * Tiny widths (tests/tiny_configs.h), float32 (4 bytes), 2 layers, bound seq 64,
 * batch 1. Per layer and token: kv_heads * head_dim * 2 (K and V) * 4 bytes. */
typedef struct kv_row {
    const char *model_type;
    int64_t per_token;   /* all layers; -1: nothing cached (encoder) */
    int64_t at_64;       /* 64 tokens, windows capped */
    int64_t cross;       /* cross-attention K/V for an encoder of 64 tokens */
    int64_t window[2];   /* per decoder self-attention layer (0: full) */
} kv_row;

/* Decoder self-attention layers of a tiny config: 2 (every layer) except in the hybrids. */
static int causal_layers(const char *model_type) {
    return strcmp(model_type, "bamba") == 0 || strcmp(model_type, "granitemoehybrid") == 0 ||
                   strcmp(model_type, "qwen3_next") == 0 || strcmp(model_type, "qwen3_5_text") == 0 ||
                   strcmp(model_type, "qwen3_5_moe_text") == 0 || strcmp(model_type, "qwen3_5") == 0 ||
                   strcmp(model_type, "qwen3_5_moe") == 0 ||
                   strcmp(model_type, "jamba") == 0 || strcmp(model_type, "minimax") == 0
               ? 1
               : 2;
}

#define GQA_LAYER (2 * 16 * 2 * 4)  /* 2 KV heads of 16: 256 */
#define MHA_LAYER (4 * 16 * 2 * 4)  /* 4 heads of 16: 512 */
#define MLA_LAYER ((16 + 4) * 4)    /* kv_lora_rank + qk_rope_head_dim: 80 */

static const kv_row kv_rows[] = {
    {"llama", 2 * GQA_LAYER, 2 * 64 * GQA_LAYER, 0, {0, 0}},
    /* window 8 on every layer: 8 tokens held per layer */
    {"mistral", 2 * GQA_LAYER, 2 * 8 * GQA_LAYER, 0, {8, 8}},
    /* use_sliding_window with max_window_layers 1: layer 1 slides */
    {"qwen2", 2 * GQA_LAYER, (64 + 8) * GQA_LAYER, 0, {0, 8}},
    {"qwen3", 2 * GQA_LAYER, 2 * 64 * GQA_LAYER, 0, {0, 0}},
    {"gemma", 2 * GQA_LAYER, 2 * 64 * GQA_LAYER, 0, {0, 0}},
    /* even layers slide (layer 0) */
    {"gemma2", 2 * GQA_LAYER, (8 + 64) * GQA_LAYER, 0, {8, 0}},
    {"granite", 2 * GQA_LAYER, 2 * 64 * GQA_LAYER, 0, {0, 0}},
    {"olmo2", 2 * GQA_LAYER, 2 * 64 * GQA_LAYER, 0, {0, 0}},
    {"stablelm", 2 * GQA_LAYER, 2 * 64 * GQA_LAYER, 0, {0, 0}},
    {"stablelm_epoch", 2 * GQA_LAYER, 2 * 64 * GQA_LAYER, 0, {0, 0}},
    {"starcoder2", 2 * GQA_LAYER, 2 * 8 * GQA_LAYER, 0, {8, 8}},
    {"olmo", 2 * GQA_LAYER, 2 * 64 * GQA_LAYER, 0, {0, 0}},
    {"internlm2", 2 * GQA_LAYER, 2 * 64 * GQA_LAYER, 0, {0, 0}},
    {"cohere", 2 * GQA_LAYER, 2 * 64 * GQA_LAYER, 0, {0, 0}},
    /* sliding_window_pattern 2: (i + 1) % 2 != 0 slides, layer 0 */
    {"gemma3_text", 2 * GQA_LAYER, (8 + 64) * GQA_LAYER, 0, {8, 0}},
    {"phi3", 2 * GQA_LAYER, 2 * 64 * GQA_LAYER, 0, {0, 0}},
    {"gpt_neox", 2 * MHA_LAYER, 2 * 64 * MHA_LAYER, 0, {0, 0}},
    /* new decoder architecture with 2 KV heads (cached before the broadcast to 4) */
    {"falcon", 2 * GQA_LAYER, 2 * 64 * GQA_LAYER, 0, {0, 0}},
    {"gpt2", 2 * MHA_LAYER, 2 * 64 * MHA_LAYER, 0, {0, 0}},
    {"bloom", 2 * MHA_LAYER, 2 * 64 * MHA_LAYER, 0, {0, 0}},
    {"gptj", 2 * MHA_LAYER, 2 * 64 * MHA_LAYER, 0, {0, 0}},
    {"opt", 2 * MHA_LAYER, 2 * 64 * MHA_LAYER, 0, {0, 0}},
    {"phi", 2 * GQA_LAYER, 2 * 64 * GQA_LAYER, 0, {0, 0}},
    {"mixtral", 2 * GQA_LAYER, 2 * 64 * GQA_LAYER, 0, {0, 0}},
    {"qwen2_moe", 2 * GQA_LAYER, 2 * 64 * GQA_LAYER, 0, {0, 0}},
    {"qwen3_moe", 2 * GQA_LAYER, 2 * 64 * GQA_LAYER, 0, {0, 0}},
    /* MLA caches the latent */
    {"deepseek_v2", 2 * MLA_LAYER, 2 * 64 * MLA_LAYER, 0, {0, 0}},
    {"deepseek_v3", 2 * MLA_LAYER, 2 * 64 * MLA_LAYER, 0, {0, 0}},
    {"granitemoe", 2 * GQA_LAYER, 2 * 64 * GQA_LAYER, 0, {0, 0}},
    /* layer_types default: even layers slide */
    {"gpt_oss", 2 * GQA_LAYER, (8 + 64) * GQA_LAYER, 0, {8, 0}},
    {"bert", -1, 0, 0, {0, 0}},
    /* decoder self-attention grows; cross-attention holds the encoder's 64 tokens */
    {"t5", 2 * MHA_LAYER, 2 * 64 * MHA_LAYER, 2 * 64 * MHA_LAYER, {0, 0}},
    {"mt5", 2 * MHA_LAYER, 2 * 64 * MHA_LAYER, 2 * 64 * MHA_LAYER, {0, 0}},
    {"bart", 2 * MHA_LAYER, 2 * 64 * MHA_LAYER, 2 * 64 * MHA_LAYER, {0, 0}},
    /* NoPE layers cache K/V like the others */
    {"smollm3", 2 * GQA_LAYER, 2 * 64 * GQA_LAYER, 0, {0, 0}},
    {"olmoe", 2 * GQA_LAYER, 2 * 64 * GQA_LAYER, 0, {0, 0}},
    {"glm4_moe", 2 * GQA_LAYER, 2 * 64 * GQA_LAYER, 0, {0, 0}},
    {"hunyuan_v1_moe", 2 * GQA_LAYER, 2 * 64 * GQA_LAYER, 0, {0, 0}},
    {"hunyuan_v1_dense", 2 * GQA_LAYER, 2 * 64 * GQA_LAYER, 0, {0, 0}},
    /* the language model's cache only (gemma3_text's row): the SigLIP tower's layers are
     * bidirectional, with nothing cached */
    {"gemma3", 2 * GQA_LAYER, (8 + 64) * GQA_LAYER, 0, {8, 0}},
    /* one attention layer (attn_layer_indices [1]); the Mamba layer caches no K/V (its fixed state:
     * sizing.recurrent_state_by_hand) */
    {"bamba", GQA_LAYER, 64 * GQA_LAYER, 0, {0, 0}},
    /* likewise one attention layer (layer_types [mamba, attention]), NoPE */
    {"granitemoehybrid", GQA_LAYER, 64 * GQA_LAYER, 0, {0, 0}},
    /* layer 0 chunked (attention_chunk_size 8: 8 tokens held), layer 1 NoPE full attention */
    {"llama4_text", 2 * GQA_LAYER, (8 + 64) * GQA_LAYER, 0, {8, 0}},
    /* the language model's cache only (llama4_text's row): the vision tower's layers are bidirectional */
    {"llama4", 2 * GQA_LAYER, (8 + 64) * GQA_LAYER, 0, {8, 0}},
    /* one full-attention layer (layer_types [linear_attention, full_attention]); the Gated DeltaNet layer
     * caches no K/V (its fixed state: sizing.deltanet_state_by_hand) */
    {"qwen3_next", GQA_LAYER, 64 * GQA_LAYER, 0, {0, 0}},
    /* the same layer pattern (Qwen3.5 dense and MoE): one full-attention layer's K/V */
    {"qwen3_5_text", GQA_LAYER, 64 * GQA_LAYER, 0, {0, 0}},
    {"qwen3_5_moe_text", GQA_LAYER, 64 * GQA_LAYER, 0, {0, 0}},
    /* the whole models: their language model's cache only (the rows above); the vision blocks' full
     * attention runs per image without a cache */
    {"qwen3_5", GQA_LAYER, 64 * GQA_LAYER, 0, {0, 0}},
    {"qwen3_5_moe", GQA_LAYER, 64 * GQA_LAYER, 0, {0, 0}},
    /* the language model's cache only (mistral's row, window 8 on both layers): the Pixtral tower's
     * attention runs per image without a cache */
    {"mistral3", 2 * GQA_LAYER, 2 * 8 * GQA_LAYER, 0, {8, 8}},
    /* one attention layer (attn_layer_period 2, offset 1); the Mamba layer's fixed state:
     * sizing.recurrent_state_by_hand */
    {"jamba", GQA_LAYER, 64 * GQA_LAYER, 0, {0, 0}},
    /* layer 0 softmax attention, layer 1 lightning attention (its fixed state:
     * sizing.recurrent_state_by_hand) */
    {"minimax", GQA_LAYER, 64 * GQA_LAYER, 0, {0, 0}},
    /* layer 0 sliding (window 8): 2 kv heads of 16; layer 1 full with attention_k_eq_v: 1 kv head of
     * global_head_dim 32, its values the keys' projection but cached apart: 1 * 32 * 2 * 4 = 256 */
    {"gemma4_text", 2 * GQA_LAYER, (8 + 64) * GQA_LAYER, 0, {8, 0}},
    /* two sliding layers (window 8); layer 1 reads layer 0's K/V (num_kv_shared_layers 1) and caches nothing */
    {"gemma3n_text", GQA_LAYER, 8 * GQA_LAYER, 0, {8, 8}},
    /* the language model's cache only: layer 0 sliding (8 tokens held), layer 1 full; no tower is built */
    {"gemma3n", 2 * GQA_LAYER, (8 + 64) * GQA_LAYER, 0, {8, 0}},
    /* the language model's cache only (qwen2's layers without a window): the vision blocks' attention
     * (windowed or full) runs per image without a cache */
    {"qwen2_5_vl", 2 * GQA_LAYER, 2 * 64 * GQA_LAYER, 0, {0, 0}},
    {"qwen2_5_vl_text", 2 * GQA_LAYER, 2 * 64 * GQA_LAYER, 0, {0, 0}},
    /* the language model's cache only (qwen3's layers: 2 KV heads of head_dim 16): the vision blocks' full
     * attention runs per image without a cache, the deepstack adds cache nothing */
    {"qwen3_vl", 2 * GQA_LAYER, 2 * 64 * GQA_LAYER, 0, {0, 0}},
    {"qwen3_vl_text", 2 * GQA_LAYER, 2 * 64 * GQA_LAYER, 0, {0, 0}},
    /* the same attention (Qwen3-VL-MoE): the sparse blocks cache nothing */
    {"qwen3_vl_moe", 2 * GQA_LAYER, 2 * 64 * GQA_LAYER, 0, {0, 0}},
    {"qwen3_vl_moe_text", 2 * GQA_LAYER, 2 * 64 * GQA_LAYER, 0, {0, 0}},
};

Test(sizing, kv_cache_of_every_family_by_hand)
{
    cr_assert_eq((int)(sizeof kv_rows / sizeof kv_rows[0]), mt_arch_count(), "a row per registered family");
    for (size_t i = 0; i < sizeof kv_rows / sizeof kv_rows[0]; i++) {
        const kv_row *r = &kv_rows[i];
        const tiny_config *t = tiny_for(r->model_type);
        cr_assert_not_null(t, "%s", r->model_type);
        mt_ctx *ctx = mt_ctx_new();
        mt_model *m = tu_build_text(ctx, t->json, 0);
        mt_graph *g = tu_trace(m);
        mt_sizing_opts o = {.kv_dtype = MT_DTYPE_NONE, .seq = 64};
        mt_sizing s = size_of(m, g, &o);
        if (r->per_token < 0) {
            cr_assert(!s.has_kv, "%s caches nothing", r->model_type);
        } else {
            cr_assert(s.has_kv, "%s", r->model_type);
            cr_assert_eq(s.kv_bytes_per_token, r->per_token, "%s: %lld B/token, expected %lld", r->model_type,
                         (long long)s.kv_bytes_per_token, (long long)r->per_token);
        }
        cr_assert_eq(s.kv_bytes_at_context, r->at_64, "%s: %lld at 64, expected %lld", r->model_type,
                     (long long)s.kv_bytes_at_context, (long long)r->at_64);
        cr_assert_eq(s.kv_cross_bytes, r->cross, "%s: cross %lld, expected %lld", r->model_type,
                     (long long)s.kv_cross_bytes, (long long)r->cross);
        int k = 0;
        for (int j = 0; j < s.nattn; j++) {
            if (s.attn[j].kind != MT_ATTN_CAUSAL) continue;
            cr_assert_lt(k, 2, "%s: two decoder layers", r->model_type);
            cr_assert_eq(s.attn[j].window, r->window[k], "%s layer %d: window %lld", r->model_type, k,
                         (long long)s.attn[j].window);
            k++;
        }
        cr_assert_eq(k, r->per_token < 0 ? 0 : causal_layers(r->model_type), "%s: %d causal layers", r->model_type, k);
        mt_ctx_free(ctx);
    }
}

/* Recurrent state (HybridMambaAttentionDynamicCache, modeling_bamba.py): per Mamba layer and sequence a
 * conv state [mamba_expand*hidden + 2*n_groups*d_state, d_conv] and an SSM state [n_heads, d_head, d_state],
 * in the model's dtype. Tiny bamba (float32, 4 bytes): one Mamba layer, conv (128 + 2*2*8) * 4 = 640
 * elements = 2560 B, SSM 8 * 16 * 8 = 1024 elements = 4096 B; at batch 3: 3 * 6656. Families without a
 * mixer have none. */
Test(sizing, recurrent_state_by_hand)
{
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build_text(ctx, tiny_for("bamba")->json, 0);
    mt_graph *g = tu_trace(m);
    mt_sizing_opts o = {.kv_dtype = MT_DTYPE_NONE, .seq = 64, .batch = 3};
    mt_sizing s = size_of(m, g, &o);
    cr_assert_eq(s.state_layers, 1);
    cr_assert_eq(s.state_dtype, MT_FLOAT32);
    cr_assert_eq(s.conv_state_bytes, 2560);
    cr_assert_eq(s.ssm_state_bytes, 4096);
    cr_assert_eq(s.state_bytes_per_seq, 6656);
    cr_assert_eq(s.state_bytes_at_batch, 3 * 6656);
    /* the K/V of the one attention layer still grows per token: 3 sequences of 64 */
    cr_assert_eq(s.kv_bytes_at_context, 3 * 64 * GQA_LAYER);
    mt_ctx_free(ctx);
    /* Jamba's Mamba-1 mixer (HybridMambaAttentionDynamicCache of modeling_jamba.py): conv state
     * [mamba_expand*hidden, d_conv] = 128 * 4 = 512 elements = 2048 B, SSM state [mamba_expand*hidden,
     * d_state] = 128 * 8 = 1024 elements = 4096 B, one Mamba layer in the tiny config */
    ctx = mt_ctx_new();
    m = tu_build_text(ctx, tiny_for("jamba")->json, 0);
    s = size_of(m, tu_trace(m), &o);
    cr_assert_eq(s.state_layers, 1);
    cr_assert_eq(s.conv_state_bytes, 2048);
    cr_assert_eq(s.ssm_state_bytes, 4096);
    cr_assert_eq(s.state_bytes_at_batch, 3 * 6144);
    cr_assert_eq(s.kv_bytes_at_context, 3 * 64 * GQA_LAYER);
    mt_ctx_free(ctx);
    /* MiniMax's lightning attention (MiniMaxCache's linear cache, K^T V per layer): [heads, head_dim,
     * head_dim] = 4 * 16 * 16 = 1024 elements = 4096 B, one lightning layer in the tiny config, no conv */
    ctx = mt_ctx_new();
    m = tu_build_text(ctx, tiny_for("minimax")->json, 0);
    s = size_of(m, tu_trace(m), &o);
    cr_assert_eq(s.state_layers, 1);
    cr_assert_eq(s.conv_state_bytes, 0);
    cr_assert_eq(s.ssm_state_bytes, 4096);
    cr_assert_eq(s.state_bytes_at_batch, 3 * 4096);
    cr_assert_eq(s.kv_bytes_at_context, 3 * 64 * GQA_LAYER);
    mt_ctx_free(ctx);
    ctx = mt_ctx_new();
    m = tu_build_text(ctx, tiny_for("llama")->json, 0);
    s = size_of(m, tu_trace(m), &o);
    cr_assert_eq(s.state_layers, 0);
    cr_assert_eq(s.state_bytes_per_seq, 0);
    mt_ctx_free(ctx);
}

/* Gated DeltaNet (Qwen3-Next): per linear-attention layer and sequence the cache keeps the conv state
 * [conv_dim, kernel] (F.pad of mixed_qkv: the model's dtype) and the recurrent state [num_v_heads,
 * head_k_dim, head_v_dim] that torch_chunk_gated_delta_rule returns in float32 (its value.to(float32)).
 * Tiny qwen3_next in bfloat16 (2 bytes): conv_dim 2*2*8 + 4*8 = 64, conv 64*4*2 = 512 B; recurrent
 * 4*8*8 = 256 elements * 4 B = 1024 B (not 512: float32 whatever the model dtype); at batch 3: 3 * 1536.
 * K/V: the one full-attention layer, 2 KV heads of 16, K and V in bfloat16: 2*16*2*2 = 128 B per token. */
Test(sizing, deltanet_state_by_hand)
{
    mt_ctx *ctx = mt_ctx_new();
    const char *tiny = tiny_for("qwen3_next")->json, *f32 = strstr(tiny, "\"float32\"");
    cr_assert(f32);
    const char *json = mt_sprintf(ctx, "%.*s\"bfloat16\"%s", (int)(f32 - tiny), tiny, f32 + 9);
    mt_model *m = tu_build_text(ctx, json, 0);
    cr_assert(m);
    mt_graph *g = tu_trace(m);
    mt_sizing_opts o = {.kv_dtype = MT_DTYPE_NONE, .seq = 64, .batch = 3};
    mt_sizing s = size_of(m, g, &o);
    cr_assert_eq(s.state_layers, 1);
    cr_assert_eq(s.conv_state_bytes, 512);
    cr_assert_eq(s.ssm_state_bytes, 1024);
    cr_assert_eq(s.state_bytes_per_seq, 1536);
    cr_assert_eq(s.state_bytes_at_batch, 3 * 1536);
    cr_assert_eq(s.kv_bytes_per_token, 128);
    cr_assert_eq(s.kv_bytes_at_context, 3 * 64 * 128);
    mt_ctx_free(ctx);
}

Test(sizing, attention_kinds_of_encoders_and_encoder_decoders)
{
    /* BERT: 2 bidirectional; T5 and BART: 2 encoder (bidirectional), 2 decoder
     * self (causal), 2 cross, in graph order encoder first */
    const char *fams[] = {"bert", "t5", "bart"};
    const char *expect[] = {"BB", "BBCXCX", "BBCXCX"};
    for (int f = 0; f < 3; f++) {
        mt_ctx *ctx = mt_ctx_new();
        mt_model *m = tu_build_text(ctx, tiny_for(fams[f])->json, 0);
        mt_sizing s = size_of(m, tu_trace(m), NULL);
        char got[16] = {0};
        for (int j = 0; j < s.nattn && j < 15; j++) got[j] = "BBCX"[s.attn[j].kind == MT_ATTN_CAUSAL ? 2 : s.attn[j].kind == MT_ATTN_CROSS ? 3 : 0];
        cr_assert_str_eq(got, expect[f], "%s", fams[f]);
        mt_ctx_free(ctx);
    }
}

/* ---- KV cache: real checkpoints ------------------------------------------------------- */

static mt_sizing real(mt_ctx *ctx, const char *cfg, mt_dtype dtype, const mt_sizing_opts *o) {
    mt_config *c = mt_config_load(ctx, tu_src(cfg));
    cr_assert_not_null(c, "%s", mt_ctx_errmsg(ctx));
    mt_build_opts bo = {.dtype = dtype};
    mt_model *m = mt_model_build(ctx, c, &bo);
    cr_assert_not_null(m, "%s", mt_ctx_errmsg(ctx));
    return size_of(m, tu_trace(m), o);
}

Test(sizing, gemma2_2b_alternating_window)
{
    /* 26 layers x 4 KV heads x 256 x 2 x 2 bytes (float16) = 106,496 B/token; at its
     * 8192-token context the 13 sliding layers hold 4096 tokens, the 13 global 8192 */
    mt_ctx *ctx = mt_ctx_new();
    mt_sizing s = real(ctx, "samples/configs/Ayush2006128--mithoon-2b.gemma-2-2b-finetune.config.json",
                       MT_DTYPE_NONE, NULL);
    cr_assert_eq(s.kv_bytes_per_token, 26 * 4 * 256 * 2 * 2);
    cr_assert_eq(s.kv_bytes_per_token, 106496);
    cr_assert_eq(s.context, 8192);
    cr_assert_eq(s.kv_bytes_at_context, 13LL * 4096 * 4096 + 13LL * 8192 * 4096);
    mt_ctx_free(ctx);
}

Test(sizing, bloom_560m_alibi_eager)
{
    /* 24 layers x 16 heads x 64 x 2 x 2 bytes in float16 (the config has no
     * torch_dtype: float32 by default, twice that) */
    mt_ctx *ctx = mt_ctx_new();
    mt_sizing s = real(ctx, "samples/configs/bigscience--bloom-560m.config.json", MT_FLOAT16, NULL);
    cr_assert_eq(s.kv_bytes_per_token, 24 * 16 * 64 * 2 * 2);
    cr_assert_eq(s.kv_bytes_per_token, 98304);
    cr_assert(s.attn[0].eager);
    mt_ctx_free(ctx);
    ctx = mt_ctx_new();
    s = real(ctx, "samples/configs/bigscience--bloom-560m.config.json", MT_DTYPE_NONE, NULL);
    cr_assert_eq(s.kv_bytes_per_token, 2 * 98304);
    mt_ctx_free(ctx);
}

Test(sizing, bert_caches_nothing)
{
    mt_ctx *ctx = mt_ctx_new();
    mt_sizing s = real(ctx, "samples/configs/google-bert--bert-base-uncased.config.json", MT_DTYPE_NONE, NULL);
    cr_assert(!s.has_kv);
    cr_assert_eq(s.nattn, 12);
    for (int i = 0; i < s.nattn; i++) cr_assert_eq(s.attn[i].kind, MT_ATTN_BIDIRECTIONAL);
    cr_assert_eq(s.flops_decode_per_token, -1, "no decode for an encoder");
    mt_ctx_free(ctx);
}

Test(sizing, deepseek_v3_mla_latent_and_decompressed)
{
    /* latent: 61 layers x (kv_lora_rank 512 + qk_rope_head_dim 64) x 2 bytes = 70,272;
     * decompressed: 61 x (128 heads x (128 + 64) keys + 128 x 128 values) x 2 = 4,997,120 */
    mt_ctx *ctx = mt_ctx_new();
    mt_sizing s = real(ctx, "samples/configs/deepseek-ai--DeepSeek-V3.config.json", MT_DTYPE_NONE, NULL);
    cr_assert_eq(s.kv_bytes_per_token, 61 * (512 + 64) * 2);
    cr_assert_eq(s.kv_bytes_per_token, 70272);
    cr_assert(s.attn[0].mla);
    cr_assert_eq(s.attn[0].mla_latent, 576);
    cr_assert_eq(s.attn[0].heads, 128);
    mt_ctx_free(ctx);
    ctx = mt_ctx_new();
    mt_sizing_opts o = {.kv_dtype = MT_DTYPE_NONE, .mla_decompressed = true};
    s = real(ctx, "samples/configs/deepseek-ai--DeepSeek-V3.config.json", MT_DTYPE_NONE, &o);
    cr_assert_eq(s.kv_bytes_per_token, 61LL * (128 * (128 + 64) + 128 * 128) * 2);
    cr_assert_eq(s.kv_bytes_per_token, 4997120);
    mt_ctx_free(ctx);
}

Test(sizing, mistral_window_caps_the_context)
{
    /* 32 layers x 8 KV heads x 128 x 2 x 2 bytes = 131,072 B/token; at 32,768 tokens
     * each layer holds its 4096-token window */
    mt_ctx *ctx = mt_ctx_new();
    mt_sizing_opts o = {.kv_dtype = MT_DTYPE_NONE, .seq = 32768};
    mt_sizing s = real(ctx, "samples/configs/mistralai--Mistral-7B-v0.1.config.json", MT_DTYPE_NONE, &o);
    cr_assert_eq(s.kv_bytes_per_token, 32 * 8 * 128 * 2 * 2);
    cr_assert_eq(s.context, 32768);
    cr_assert_eq(s.kv_bytes_at_context, 32LL * 4096 * (8 * 128 * 2 * 2));
    cr_assert_eq(s.kv_bytes_at_context, 536870912);
    mt_ctx_free(ctx);
}

Test(sizing, kv_dtype_and_memory_budget)
{
    /* llama-7b: 32 layers x 32 heads x 128 x 2; float8 1 byte each */
    mt_ctx *ctx = mt_ctx_new();
    mt_sizing_opts o = {.kv_dtype = MT_FLOAT8_E4M3FN, .mem_budget = 80LL << 30};
    mt_sizing s = real(ctx, "samples/configs/huggyllama--llama-7b.config.json", MT_DTYPE_NONE, &o);
    cr_assert_eq(s.kv_bytes_per_token, 32 * 32 * 128 * 2 * 1);
    cr_assert_eq(s.kv_dtype, MT_FLOAT8_E4M3FN);
    /* weights: 6,738,415,616 parameters (index total) x 2 bytes */
    cr_assert_eq(s.weight_bytes, 2LL * 6738415616);
    cr_assert_eq(s.kv_capacity_tokens, ((80LL << 30) - s.weight_bytes - s.activation_peak) / (32 * 32 * 128 * 2));
    cr_assert_eq(s.context, 2048, "max_position_embeddings");
    mt_ctx_free(ctx);
}

Test(sizing, context_from_text_config_or_the_family_default)
{
    /* medgemma-27b-it and Mistral-Small-3.1 keep max_position_embeddings 131072 in their
     * text_config (lines 89 and 15 of the files); gemma-3-4b-it has none anywhere, so
     * Gemma3TextConfig's __init__ default applies (max_position_embeddings=131_072 in
     * transformers' configuration_gemma3.py), not a blanket 4096 */
    static const struct {
        const char *cfg, *source;
    } rows[] = {
        {"samples/configs/multimodal/google--medgemma-27b-it.config.json", "the config's text_config.max_position_embeddings"},
        {"samples/configs/multimodal/mistralai--Mistral-Small-3.1-24B-Instruct-2503.config.json",
         "the config's text_config.max_position_embeddings"},
        {"samples/configs/multimodal/google--gemma-3-4b-it.config.json",
         "gemma3's default max_position_embeddings (not in the config)"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        mt_ctx *ctx = mt_ctx_new();
        mt_sizing s = real(ctx, rows[i].cfg, MT_DTYPE_NONE, NULL);
        cr_assert_eq(s.context, 131072, "%s: context %lld", rows[i].cfg, (long long)s.context);
        cr_assert_str_eq(s.context_note, rows[i].source, "%s", rows[i].cfg);
        mt_ctx_free(ctx);
    }
}

/* ---- FLOPs ---------------------------------------------------------------------------- */

static bool is_linear(const mt_node *n) {
    return n->op == MT_NODE_CALL_MODULE && n->module && n->module->leaf == MT_LEAF_LINEAR;
}

/* Per layer, per (query, key) pair: scores 2*h*dk + weighted sum 2*h*dv + softmax 5*h. */
static int64_t pair_flops(int64_t h, int64_t dk, int64_t dv) { return 2 * h * dk + 2 * h * dv + 5 * h; }

Test(sizing, llama2_70b_flops_by_hand)
{
    /* Llama-2-70B, 2 layers, batch 1, seq S = 4096 */
    const int64_t S = 4096, H = 8192, I = 28672, KV = 1024, V = 32000, L = 2;
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build(ctx, tu_src("tests/bench/configs/llama-2-70b.config.json"), L);
    mt_graph *g = tu_trace(m);
    mt_sizing_opts o = {.kv_dtype = MT_DTYPE_NONE, .seq = S};
    mt_sizing s = size_of(m, g, &o);
    /* 2 x (non-embedding parameters less the norm weights) per token, to the FLOP:
     * per layer q, o H*H, k, v H*KV, gate/up/down 3*H*I; lm_head H*V */
    int64_t lin_params = L * (2 * H * H + 2 * H * KV + 3 * H * I) + H * V;
    mt_totals t;
    mt_model_totals(m, &t);
    cr_assert_eq(lin_params, t.params - H * V /* embed_tokens */ - (2 * L + 1) * H /* RMSNorm weights */);
    double lin = 0, dense = 0;
    for (int i = 0; i < g->n; i++) {
        dense += s.node_flops[i];
        if (is_linear(g->nodes[i])) lin += s.node_flops[i];
    }
    cr_assert(lin == (double)(2 * lin_params * S), "linear %.0f vs %lld", lin, (long long)(2 * lin_params * S));
    /* prefill halves each causal core: query i sees i + 1 keys, S(S+1)/2 pairs of S^2 */
    int64_t per_pair = pair_flops(64, 128, 128);
    int64_t removed = L * per_pair * (S * S - S * (S + 1) / 2);
    cr_assert_eq(s.flops_prefill, (int64_t)dense - removed, "prefill %lld", (long long)s.flops_prefill);
    /* decode: the graph at batch 1, seq 1 plus each layer's pairs with the other
     * context - 1 cached keys (context = the bound seq) */
    mt_ctx *c1 = mt_ctx_new();
    mt_model *m1 = tu_build(c1, tu_src("tests/bench/configs/llama-2-70b.config.json"), L);
    const char *names[2] = {"batch", "seq"};
    int64_t vals[2] = {1, 1};
    mt_trace_opts to = {.bind = {names, vals, 2}};
    mt_graph *g1 = mt_model_trace(m1, &to);
    cr_assert_not_null(g1);
    int64_t f11 = 0;
    for (int i = 0; i < g1->n; i++) {
        const mt_sym *f = mt_node_flops(c1, g1->nodes[i]);
        cr_assert(f && mt_sym_is_const(f));
        f11 += mt_sym_const_value(f);
    }
    cr_assert_eq(s.flops_decode_per_token, f11 + L * per_pair * (S - 1), "decode %lld",
                 (long long)s.flops_decode_per_token);
    /* as a formula in the cached tokens: L * per_pair per cached token */
    cr_assert_eq(s.flops_decode_per_cached, L * per_pair);
    cr_assert_eq(s.flops_decode_fixed + s.flops_decode_per_cached * S, s.flops_decode_per_token);
    mt_ctx_free(c1);
    mt_ctx_free(ctx);
}

/* A trace bound to batch 1, seq S has constant shapes; its decode step is still
 * one new token over S cached (it used to be the whole bound prefill: 54 TFLOP
 * "per decode token" for llama-7b at seq 4096). Hand figure as above: the graph
 * at batch 1, seq 1 plus each layer's pairs with the S - 1 other cached keys. */
Test(sizing, bound_trace_decodes_one_token)
{
    const int64_t S = 4096, L = 2;
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build(ctx, tu_src("tests/bench/configs/llama-2-70b.config.json"), L);
    const char *names[2] = {"batch", "seq"};
    int64_t vals[2] = {1, S}, ones[2] = {1, 1};
    mt_trace_opts to = {.bind = {names, vals, 2}};
    mt_graph *g = mt_model_trace(m, &to);
    cr_assert_not_null(g, "%s", mt_ctx_errmsg(ctx));
    int before = mt_sym_count(ctx);
    mt_sizing s = size_of(m, g, NULL);
    cr_assert_eq(mt_sym_count(ctx), before, "the decode step's trace left symbols in the caller's context");
    cr_assert_eq(s.context, S);
    mt_ctx *c1 = mt_ctx_new();
    mt_model *m1 = tu_build(c1, tu_src("tests/bench/configs/llama-2-70b.config.json"), L);
    mt_trace_opts t1 = {.bind = {names, ones, 2}};
    mt_graph *g1 = mt_model_trace(m1, &t1);
    cr_assert_not_null(g1);
    int64_t f11 = 0;
    for (int i = 0; i < g1->n; i++) f11 += mt_sym_const_value(mt_node_flops(c1, g1->nodes[i]));
    int64_t per_pair = pair_flops(64, 128, 128);
    cr_assert_eq(s.flops_decode_per_token, f11 + L * per_pair * (S - 1), "decode %lld",
                 (long long)s.flops_decode_per_token);
    cr_assert_eq(s.flops_decode_per_cached, L * per_pair);
    cr_assert_eq(s.flops_decode_fixed + s.flops_decode_per_cached * S, s.flops_decode_per_token);
    mt_ctx_free(c1);
    mt_ctx_free(ctx);
}

Test(sizing, mixtral_flops_count_the_routed_experts)
{
    /* Mixtral-8x7B, 2 layers, S = 4096: each expert receives its expected share of
     * the S * top_k (token, slot) pairs, S * 2 / 8; so the Linear FLOPs per token are
     * 2 x (attention + router + top-2 experts) per layer + lm_head */
    const int64_t S = 4096, H = 4096, I = 14336, KV = 1024, E = 8, K = 2, V = 32000, L = 2;
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build(ctx, tu_src("samples/configs/mistralai--Mixtral-8x7B-v0.1.config.json"), L);
    mt_graph *g = tu_trace(m);
    mt_sizing_opts o = {.kv_dtype = MT_DTYPE_NONE, .seq = S};
    mt_sizing s = size_of(m, g, &o);
    int64_t per_layer = 2 * H * H + 2 * H * KV + H * E + K * 3 * H * I;
    int64_t expect = 2 * (L * per_layer + H * V) * S;
    double lin = 0;
    for (int i = 0; i < g->n; i++)
        if (is_linear(g->nodes[i])) lin += s.node_flops[i];
    cr_assert(lin == (double)expect, "experts %.0f vs %lld", lin, (long long)expect);
    /* the symbolic count enters the experts at that load: evaluated at S it matches */
    mt_binding b = {(const char *[]){"batch", "seq"}, (int64_t[]){1, S}, 2};
    int64_t fwd = 0;
    cr_assert_eq(mt_sym_eval(ctx, s.flops_forward, &b, &fwd), MT_OK, "%s", mt_ctx_errmsg(ctx));
    double dense = 0;
    for (int i = 0; i < g->n; i++) dense += s.node_flops[i];
    cr_assert(fwd == (int64_t)dense, "symbolic %lld vs nodes %.0f", (long long)fwd, dense);
    mt_ctx_free(ctx);
}

/* ---- training memory ------------------------------------------------------------------- */

Test(sizing, llama7b_zero_stages_at_dp8)
{
    /* P = 6,738,415,616 (index total); bf16/fp16 mixed precision with Adam: weights 2P,
     * gradients 2P, optimizer 12P (fp32 master + two moments); ZeRO-1 shards the
     * optimizer, ZeRO-2 also the gradients, ZeRO-3 also the weights, over 8 ranks */
    const int64_t P = 6738415616LL;
    mt_ctx *ctx = mt_ctx_new();
    mt_sizing_opts o = {.kv_dtype = MT_DTYPE_NONE, .dp = 8};
    mt_sizing s = real(ctx, "samples/configs/huggyllama--llama-7b.config.json", MT_DTYPE_NONE, &o);
    int64_t w[4] = {2 * P, 2 * P, 2 * P, 2 * P / 8}, gr[4] = {2 * P, 2 * P, 2 * P / 8, 2 * P / 8},
            op[4] = {12 * P, 12 * P / 8, 12 * P / 8, 12 * P / 8};
    for (int z = 0; z < 4; z++) {
        cr_assert_eq(s.train[z].weights, w[z], "ZeRO-%d weights", z);
        cr_assert_eq(s.train[z].grads, gr[z], "ZeRO-%d gradients", z);
        cr_assert_eq(s.train[z].optimizer, op[z], "ZeRO-%d optimizer", z);
        cr_assert_eq(s.train[z].total, w[z] + gr[z] + op[z] + s.train[z].activations);
    }
    cr_assert_eq(s.train[0].weights + s.train[0].grads + s.train[0].optimizer, 16 * P, "16 bytes per parameter");
    mt_ctx_free(ctx);
    /* SGD: only the fp32 master copy */
    ctx = mt_ctx_new();
    o.optimizer = MT_OPT_SGD;
    s = real(ctx, "samples/configs/huggyllama--llama-7b.config.json", MT_DTYPE_NONE, &o);
    cr_assert_eq(s.train[0].optimizer, 4 * P);
    mt_ctx_free(ctx);
}

/* ---- activations: liveness on a graph small enough to follow by hand ------------------------ */

static mt_arch toy_arch = {.model_type = "toy", .default_class = "ToyModel"};

Test(sizing, liveness_peak_and_saved_tensors_by_hand)
{
    /* x [2, 3, 8] -> proj Linear(8, 16) -> chunk(2) -> a, b; y1 = a * silu(b);
     * y2 = y1 * scale (a buffer); y3 = y2 * 0.5; y4 = y3 + 1e-6; z = head Linear(8, 4) */
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = mt_alloc(ctx, sizeof *m);
    m->ctx = ctx;
    m->arch = &toy_arch;
    m->model_type = "toy";
    m->dtype = MT_FLOAT32;
    m->root = mt_module_new(ctx, NULL, "", "ToyModel");
    mt_meta_scope_enter(ctx);
    mt_module *block = mt_module_new(ctx, m->root, "block", "ToyBlock");
    mt_module *proj = mt_nn_linear(ctx, block, "proj", 8, 16, true, MT_FLOAT32, MT_DEVICE_CPU);
    mt_param *scale = mt_buffer_new(ctx, block, "scale", MT_FLOAT32, MT_DEVICE_CPU, 1, (int64_t[]){8}, false, true);
    mt_module *head = mt_nn_linear(ctx, m->root, "head", 8, 4, false, MT_FLOAT32, MT_DEVICE_CPU);
    mt_meta_scope_exit(ctx);
    mt_model_collect(m);
    mt_graph *g = mt_graph_new(ctx);
    mt_tracer tr;
    mt_tr_init(&tr, m, g);
    const mt_sym *shape[3] = {mt_sym_const(ctx, 2), mt_sym_const(ctx, 3), mt_sym_const(ctx, 8)};
    mt_tensor *x = mt_tr_placeholder(&tr, "x", MT_FLOAT32, 3, shape);
    mt_vec_push(ctx, &m->inputs, x);
    mt_tr_enter(&tr, block);
    mt_tensor *h = mt_tr_call(&tr, proj, x);
    mt_node *ch = mt_chunk(&tr, h, 2, -1);
    mt_tensor *y = mt_mul(&tr, mt_tr_item(&tr, ch, 0), mt_unary(&tr, MT_OP_SILU, mt_tr_item(&tr, ch, 1)));
    y = mt_mul(&tr, y, mt_tr_get_attr(&tr, scale));
    y = mt_add_s(&tr, mt_mul_s(&tr, y, 0.5), 1e-6);
    mt_tr_leave(&tr);
    mt_tensor *z = mt_tr_call(&tr, head, y);
    cr_assert_eq(mt_tr_output(&tr, &z, 1), MT_OK, "%s", mt_ctx_errmsg(ctx));
    mt_sizing s = size_of(m, g, NULL);
    /* 6 tokens, float32: x 6*8*4 = 192, h 384 (a, b views of it), silu(b) 192, y1..y4 192,
     * z 96. Live after each node (freed after its last use): x 192; proj 576 -> 384;
     * silu 576; y1 = a * silu(b) 768 (peak), then h and silu(b) free -> 192; ... z 288 */
    cr_assert_eq(s.activation_peak, 768);
    cr_assert_str_eq(s.peak_node, "mul");
    /* kept for backward: x (proj's input), h (silu's input, and a for the product),
     * silu(b) (the product's other operand), y4 (head's input); y1 is not (the
     * buffer needs no gradient), nor y2 (times a Python scalar) */
    cr_assert_eq(s.train[0].activations, 192 + 384 + 192 + 192);
    /* toy: no layers to checkpoint */
    cr_assert_eq(s.train[0].activations_ckpt, s.train[0].activations);
    mt_ctx_free(ctx);
}

Test(sizing, eager_and_sdpa_cache_the_same)
{
    /* the tiny llama traced both ways: the same cores, the same cache (2 layers x
     * 2 KV heads x 16 x 2 x 4 bytes); eager counts the same score and value matmuls
     * and softmax, plus its scaling and mask add per (query, key) pair and head */
    int64_t pf[2];
    for (int k = 0; k < 2; k++) {
        mt_ctx *ctx = mt_ctx_new();
        mt_config *c = mt_config_parse(ctx, tiny_for("llama")->json, strlen(tiny_for("llama")->json), "tiny");
        mt_build_opts bo = {.dtype = MT_DTYPE_NONE, .attn = k ? MT_ATTN_IMPL_EAGER : MT_ATTN_IMPL_SDPA};
        mt_model *m = mt_model_build(ctx, c, &bo);
        cr_assert_not_null(m, "%s", mt_ctx_errmsg(ctx));
        mt_sizing_opts o = {.kv_dtype = MT_DTYPE_NONE, .seq = 64};
        mt_sizing s = size_of(m, tu_trace(m), &o);
        cr_assert_eq(s.nattn, 2);
        cr_assert_eq(s.attn[0].eager, k == 1);
        cr_assert_eq(s.kv_bytes_per_token, 2 * 2 * 16 * 2 * 4);
        pf[k] = s.flops_decode_per_cached;
        mt_ctx_free(ctx);
    }
    /* per cached token and layer: sdpa 2*4*(16 + 16) + 5*4 = 276; eager adds the
     * scaling (mul) and the mask add: 2 x 4 heads */
    cr_assert_eq(pf[0], 2 * 276);
    cr_assert_eq(pf[1], 2 * (276 + 8));
}

/* ---- the tensor-parallel planner reads the pass's attention layers ------------------------ */

Test(sizing, planner_kv_per_rank_from_the_sizing_pass)
{
    /* gemma-2-2b (eager attention, which the planner missed before) at tp=2: 4 KV
     * heads split 2 per rank, 26 layers x 2 x 256 x 2 (K, V) x 2 bytes = 53,248 B/token
     * per rank; at seq 8192 the 13 sliding layers hold 4096 tokens */
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build(ctx, tu_src("samples/configs/Ayush2006128--mithoon-2b.gemma-2-2b-finetune.config.json"), 0);
    mt_graph *g = tu_trace(m);
    mt_plan_opts po = {.tp = 2, .seq = 8192};
    mt_plan *p = mt_plan_run(m, g, &po);
    cr_assert_not_null(p, "%s", mt_ctx_errmsg(ctx));
    int64_t layer = 2 * 256 * 2 * 2;
    cr_assert_eq(p->mem.kv_bytes_per_token, 26 * layer);
    cr_assert_eq(p->mem.kv_bytes, 13 * layer * 4096 + 13 * layer * 8192);
    mt_ctx_free(ctx);
    /* DeepSeek-V3, 4 layers, tp=8: the MLA latent (512 + 64) x 2 bytes is held whole
     * by every rank */
    ctx = mt_ctx_new();
    m = tu_build(ctx, tu_src("samples/configs/deepseek-ai--DeepSeek-V3.config.json"), 4);
    g = tu_trace(m);
    mt_plan_opts pd = {.tp = 8};
    p = mt_plan_run(m, g, &pd);
    cr_assert_not_null(p, "%s", mt_ctx_errmsg(ctx));
    cr_assert_eq(p->mem.kv_bytes_per_token, 4 * (512 + 64) * 2);
    mt_ctx_free(ctx);
}

/* Widths at their limits: every shape fits, but q_proj's FLOPs at seq 4096 are
 * 2 * 1,048,576 * (16,384 * 1,048,576) * 4096 = 2^80: the error names the node
 * and the overflow (it used to say only "a shape could not be evaluated"). */
Test(sizing, overflow_names_the_node)
{
    static const char json[] = "{\"model_type\": \"llama\", \"vocab_size\": 16777216, \"hidden_size\": 1048576, "
                               "\"intermediate_size\": 1048576, \"num_hidden_layers\": 1, "
                               "\"num_attention_heads\": 16384, \"head_dim\": 1048576}";
    mt_ctx *ctx = mt_ctx_new();
    mt_config *cfg = mt_config_parse(ctx, json, sizeof json - 1, "wide.json");
    mt_build_opts bo = {.dtype = MT_DTYPE_NONE};
    mt_model *m = mt_model_build(ctx, cfg, &bo);
    cr_assert_not_null(m, "%s", mt_ctx_errmsg(ctx));
    mt_graph *g = tu_trace(m);
    mt_sizing s;
    cr_assert_eq(mt_model_sizing(m, g, NULL, &s), MT_ERR_OVERFLOW);
    cr_assert(strstr(mt_ctx_errmsg(ctx), "node 'model_layers_0_self_attn_q_proj'") &&
                  strstr(mt_ctx_errmsg(ctx), "overflows 64 bits"),
              "%s", mt_ctx_errmsg(ctx));
    mt_ctx_free(ctx);
}
