/* Tiny synthetic configs, one per registered model_type, for the
 * all-architectures test (tests/unit/test_families.c): 2 layers, small
 * widths. Add a line for every family you register; a registered family
 * without one fails that test. `params` is the unique parameter count worked
 * out by hand from the transformers modeling source (0: not checked). */
#ifndef METATRACE_TINY_CONFIGS_H
#define METATRACE_TINY_CONFIGS_H

#include <stdint.h>
#include <string.h>

typedef struct tiny_config {
    const char *model_type;
    const char *json;
    int64_t vocab;  /* logits last dim */
    int64_t params; /* expected unique parameters, 0 = not checked */
} tiny_config;

/* Shared widths: vocab 256, hidden 64, intermediate 128, 4 heads of 16, 2 kv heads.
 * Llama-shaped layer: q 64*64 + k 64*32 + v 64*32 + o 64*64 = 12288; gated MLP
 * 3*64*128 = 24576; two RMSNorms 128 -> 36992 per layer. Embedding 16384,
 * final norm 64, untied lm_head 16384. */
#define TINY_DIMS \
    "\"vocab_size\": 256, \"hidden_size\": 64, \"intermediate_size\": 128, \"num_hidden_layers\": 2, " \
    "\"num_attention_heads\": 4, \"num_key_value_heads\": 2, \"torch_dtype\": \"float32\""

static const tiny_config tiny_configs[] = {
    /* 16384 + 2*36992 + 64 + 16384 */
    {"llama", "{\"model_type\": \"llama\", " TINY_DIMS "}", 256, 106816},
    /* as llama; the sliding window adds no parameters */
    {"mistral", "{\"model_type\": \"mistral\", \"sliding_window\": 8, " TINY_DIMS "}", 256, 106816},
    /* + q/k/v biases 64 + 32 + 32 per layer */
    {"qwen2", "{\"model_type\": \"qwen2\", \"use_sliding_window\": true, \"sliding_window\": 8, "
              "\"max_window_layers\": 1, " TINY_DIMS "}", 256, 107072},
    /* + q_norm 16 + k_norm 16 per layer */
    {"qwen3", "{\"model_type\": \"qwen3\", \"head_dim\": 16, " TINY_DIMS "}", 256, 106880},
    /* tied head: 106816 - 16384 */
    {"gemma", "{\"model_type\": \"gemma\", \"head_dim\": 16, " TINY_DIMS "}", 256, 90432},
    /* tied, four norms per layer: 90432 + 2*128 */
    {"gemma2", "{\"model_type\": \"gemma2\", \"head_dim\": 16, \"sliding_window\": 8, "
               "\"query_pre_attn_scalar\": 16, " TINY_DIMS "}", 256, 90688},
    /* multipliers add no parameters */
    {"granite", "{\"model_type\": \"granite\", \"embedding_multiplier\": 12.0, \"residual_multiplier\": 0.22, "
                "\"attention_multiplier\": 0.0078125, \"logits_scaling\": 8.0, " TINY_DIMS "}", 256, 106816},
    /* + q_norm 64 + k_norm 32 per layer (two post-norms replace the two pre-norms) */
    {"olmo2", "{\"model_type\": \"olmo2\", " TINY_DIMS "}", 256, 107008},
    /* LayerNorm with bias: + 64 per norm (2 per layer + final) */
    {"stablelm", "{\"model_type\": \"stablelm\", " TINY_DIMS "}", 256, 107136},
    {"stablelm_epoch", "{\"model_type\": \"stablelm_epoch\", " TINY_DIMS "}", 256, 107136},
    /* layer: attention 12288 + biases 192, c_fc 8192+128, c_proj 8192+64, two LayerNorms 256
     * = 29312; 16384 + 2*29312 + final LayerNorm 128, tied head */
    {"starcoder2", "{\"model_type\": \"starcoder2\", \"sliding_window\": 8, " TINY_DIMS "}", 256, 75136},
    /* no norm parameters at all: 106816 - 2*128 - 64; clip_qkv adds none */
    {"olmo", "{\"model_type\": \"olmo\", \"clip_qkv\": 8.0, " TINY_DIMS "}", 256, 106496},
    /* wqkv 64*128 + 128, wo 4096 + 64, MLP 24576, norms 128 = 37184 per layer */
    {"internlm2", "{\"model_type\": \"internlm2\", " TINY_DIMS "}", 256, 107200},
    /* CohereForCausalLM, tied: layer = attention 12288 + MLP 24576 + one weight-only LayerNorm 64
     * + use_qk_norm q_norm [4, 16] 64 + k_norm [2, 16] 32 = 37024; 16384 + 2*37024 + final norm 64 */
    {"cohere", "{\"model_type\": \"cohere\", \"use_qk_norm\": true, " TINY_DIMS "}", 256, 90496},
    /* Gemma3ForCausalLM, tied: layer = attention 12288 + q_norm 16 + k_norm 16 + MLP 24576 + four
     * norms 256 = 37152; 16384 + 2*37152 + final norm 64 (embed_scale and inv_freq are buffers) */
    {"gemma3_text", "{\"model_type\": \"gemma3_text\", \"head_dim\": 16, \"sliding_window\": 8, "
                    "\"sliding_window_pattern\": 2, \"query_pre_attn_scalar\": 16, " TINY_DIMS "}", 256, 90752},
    /* SmolLM3ForCausalLM, tied, layer 1 NoPE (no_rope_layer_interval 2): llama's 106816 - 16384
     * (NoPE adds no parameters) */
    {"smollm3", "{\"model_type\": \"smollm3\", \"no_rope_layer_interval\": 2, " TINY_DIMS "}", 256, 90432},
    /* ---- classic families (hand counts from the transformers modeling sources) ---- */
    /* as llama: fused qkv 64*128 and gate_up 64*256 hold the same weights */
    {"phi3", "{\"model_type\": \"phi3\", " TINY_DIMS "}", 256, 106816},
    /* layer: 2 LayerNorms 256, qkv 64*192+192, dense 4160, h_to_4h 8320, 4h_to_h 8256 = 33472;
     * 16384 + 2*33472 + final LayerNorm 128 + embed_out 16384 */
    {"gpt_neox", "{\"model_type\": \"gpt_neox\", \"vocab_size\": 256, \"hidden_size\": 64, \"intermediate_size\": 128, "
                 "\"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"rotary_pct\": 0.25}", 256, 99840},
    /* new architecture, 2 kv heads: qkv (2*2+4)*16*64 8192, dense 4096, MLP 2*64*256, ln_attn+ln_mlp 256
     * = 45312; 16384 + 2*45312 + ln_f 128, tied head */
    {"falcon", "{\"model_type\": \"falcon\", \"vocab_size\": 256, \"hidden_size\": 64, \"num_hidden_layers\": 2, "
               "\"num_attention_heads\": 4, \"new_decoder_architecture\": true, \"num_kv_heads\": 2}", 256, 107136},
    /* layer: ln 256, c_attn 12480, c_proj 4160, c_fc 16640, c_proj 16448 = 49984;
     * wte 16384 + wpe 32*64 + 2*49984 + ln_f 128, tied */
    {"gpt2", "{\"model_type\": \"gpt2\", \"vocab_size\": 256, \"n_embd\": 64, \"n_layer\": 2, \"n_head\": 4, "
             "\"n_positions\": 32}", 256, 118528},
    /* as gpt2's layer (49984) without positions; + word_embeddings_layernorm 128, tied */
    {"bloom", "{\"model_type\": \"bloom\", \"vocab_size\": 256, \"hidden_size\": 64, \"n_layer\": 2, \"n_head\": 4}",
     256, 116608},
    /* layer: ln_1 128, q/k/v/out 4*4096, fc_in 16640, fc_out 16448 = 49600;
     * 16384 + 2*49600 + ln_f 128 + lm_head 16384+256 */
    {"gptj", "{\"model_type\": \"gptj\", \"vocab_size\": 256, \"n_embd\": 64, \"n_layer\": 2, \"n_head\": 4, "
             "\"rotary_dim\": 8}", 256, 132352},
    /* layer: 4*(4096+64), 2 LayerNorms 256, fc1 8320, fc2 8256 = 33472;
     * 16384 + positions 34*64 + final LayerNorm 128 + 2*33472, tied */
    {"opt", "{\"model_type\": \"opt\", \"vocab_size\": 256, \"hidden_size\": 64, \"ffn_dim\": 128, "
            "\"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"max_position_embeddings\": 32}", 256, 85632},
    /* layer: q 4160, k 2080, v 2080, dense 4160, fc1 8320, fc2 8256, ln 128 = 29184;
     * 16384 + 2*29184 + final 128 + lm_head 16384+256 */
    {"phi", "{\"model_type\": \"phi\", " TINY_DIMS "}", 256, 91520},
    /* ---- mixture of experts (hand counts; see tests/unit/test_moe.c) ---- */
    /* layer: attention 12288, norms 128, gate 4*64, 4 experts of 24576 = 110976;
     * 16384 + 2*110976 + 64 + 16384 */
    {"mixtral", "{\"model_type\": \"mixtral\", \"num_local_experts\": 4, \"num_experts_per_tok\": 2, " TINY_DIMS "}",
     256, 254784},
    /* layer: attention 12288 + q/k/v biases 128, norms 128, gate 256, 4 experts 3*64*32,
     * shared expert 3*64*64, shared_expert_gate 64 = 49728; 2 layers + 32832 */
    {"qwen2_moe", "{\"model_type\": \"qwen2_moe\", \"num_experts\": 4, \"num_experts_per_tok\": 2, "
                  "\"moe_intermediate_size\": 32, \"shared_expert_intermediate_size\": 64, " TINY_DIMS "}",
     256, 132288},
    /* layer: attention 12288 + q/k norms 32, norms 128, gate 256, 4 experts 24576 = 37280 */
    {"qwen3_moe", "{\"model_type\": \"qwen3_moe\", \"head_dim\": 16, \"num_experts\": 4, \"num_experts_per_tok\": 2, "
                  "\"moe_intermediate_size\": 32, " TINY_DIMS "}", 256, 107392},
    /* MLA: q_proj 64*(4*12) 3072, kv_a_proj_with_mqa 64*20 1280, kv_a_layernorm 16,
     * kv_b_proj 16*64 1024, o_proj 32*64 2048 = 7440; layer 0 dense 7440+128+24576;
     * layer 1 MoE 7440+128 + gate 256 + 4 experts 3*64*32 + shared 3*64*32 = 38544 */
    {"deepseek_v2", "{\"model_type\": \"deepseek_v2\", \"q_lora_rank\": null, \"kv_lora_rank\": 16, "
                    "\"qk_nope_head_dim\": 8, \"qk_rope_head_dim\": 4, \"v_head_dim\": 8, \"n_routed_experts\": 4, "
                    "\"n_shared_experts\": 1, \"num_experts_per_tok\": 2, \"moe_intermediate_size\": 32, "
                    "\"first_k_dense_replace\": 1, " TINY_DIMS "}", 256, 103520},
    /* as deepseek_v2 with q_a_proj 2048 + q_a_layernorm 32 + q_b_proj 1536 instead of q_proj:
     * attention 7984; the MTP layer is reported apart (extra_params) */
    {"deepseek_v3", "{\"model_type\": \"deepseek_v3\", \"q_lora_rank\": 32, \"kv_lora_rank\": 16, "
                    "\"qk_nope_head_dim\": 8, \"qk_rope_head_dim\": 4, \"v_head_dim\": 8, \"n_routed_experts\": 4, "
                    "\"n_shared_experts\": 1, \"num_experts_per_tok\": 2, \"moe_intermediate_size\": 32, "
                    "\"first_k_dense_replace\": 1, \"n_group\": 2, \"topk_group\": 1, "
                    "\"num_nextn_predict_layers\": 1, " TINY_DIMS "}", 256, 104608},
    /* GraniteMoeMoE (modeling_granitemoe.py): input_linear 4x(2x128)x64 65536 + output_linear
     * 4x64x128 32768 + router.layer 4x64 256, attention 12288, norms 128 = 110976 per layer;
     * 16384 + 2*110976 + 64 + 16384 (as mixtral: the fused weights hold the same numbers) */
    {"granitemoe", "{\"model_type\": \"granitemoe\", \"num_local_experts\": 4, \"num_experts_per_tok\": 2, "
                   "\"embedding_multiplier\": 12.0, \"residual_multiplier\": 0.22, \"attention_multiplier\": 0.0625, "
                   "\"logits_scaling\": 8.0, " TINY_DIMS "}", 256, 254784},
    /* modeling_gpt_oss.py, head_dim 16: q 64*64+64, k/v 64*32+32, o 64*64+64, sinks 4 = 12484;
     * norms 128; router 4*64+4 = 260; experts gate_up 4*64*256 + 4*256, down 4*128*64 + 4*64
     * = 99584 -> 112456 per layer; 16384 + 2*112456 + 64 + 16384 */
    {"gpt_oss", "{\"model_type\": \"gpt_oss\", \"head_dim\": 16, \"num_local_experts\": 4, "
                "\"num_experts_per_tok\": 2, \"sliding_window\": 8, " TINY_DIMS "}", 256, 257744},
    /* OlmoeForCausalLM, every layer sparse: attention 12288 + q_norm 64 + k_norm 2*16 = 32, gate 4*64 256,
     * 4 experts of intermediate_size 3*64*128 = 98304, norms 128 -> 111072 per layer;
     * 16384 + 2*111072 + 64 + 16384 */
    {"olmoe", "{\"model_type\": \"olmoe\", \"num_experts\": 4, \"num_experts_per_tok\": 2, " TINY_DIMS "}", 256,
     254976},
    /* Glm4MoeForCausalLM, head_dim 16, rotary on 8 channels: attention q 4096+64, k and v 2048+32 each,
     * o 4096 (no bias), q_norm/k_norm 16 each = 12448; layer 0 dense MLP 24576 + norms 128 -> 37152;
     * layer 1 router 4*64 256 + 4 experts 3*64*32 each 24576 + shared 6144 + norms 128 -> 43552;
     * 16384 + 37152 + 43552 + 64 + 16384 (the MTP layer is reported apart, extra_params) */
    {"glm4_moe", "{\"model_type\": \"glm4_moe\", \"head_dim\": 16, \"attention_bias\": true, \"use_qk_norm\": true, "
                 "\"partial_rotary_factor\": 0.5, \"n_routed_experts\": 4, \"n_shared_experts\": 1, "
                 "\"num_experts_per_tok\": 2, \"moe_intermediate_size\": 32, \"first_k_dense_replace\": 1, "
                 "\"n_group\": 2, \"topk_group\": 1, \"routed_scaling_factor\": 2.5, "
                 "\"num_nextn_predict_layers\": 1, " TINY_DIMS "}", 256, 113536},
    /* HunYuanMoEV1ForCausalLM: attention 12288 + query/key_layernorm 16 + 16, gate.wg 4*64 256, 4 experts of
     * intermediate_size 3*64*128 = 98304, shared_mlp 24576, norms 128 -> 135584 per layer;
     * 16384 + 2*135584 + 64 + 16384 */
    {"hunyuan_v1_moe", "{\"model_type\": \"hunyuan_v1_moe\", \"head_dim\": 16, \"num_experts\": 4, \"moe_topk\": 2, "
                       TINY_DIMS "}", 256, 304000},
    /* HunYuanDenseV1ForCausalLM: llama's 106816 + query/key_layernorm 32 per layer */
    {"hunyuan_v1_dense", "{\"model_type\": \"hunyuan_v1_dense\", \"head_dim\": 16, " TINY_DIMS "}", 256, 106880},
    /* BambaForCausalLM, layer 0 Mamba-2, layer 1 attention (attn_layer_indices [1]); mixer (modeling_bamba.py
     * BambaMixer): intermediate 2*64 = 128, conv_dim 128 + 2*2*8 = 160, in_proj 64*(128+160+8) 18944,
     * conv1d 160*1*4 + 160 = 800, dt_bias/A_log/D 3*8, norm 128, out_proj 128*64 8192 = 28088; + feed_forward
     * 24576 + input_layernorm/pre_ff_layernorm 128 -> 52792; attention layer 36992; untied lm_head:
     * 16384 + 52792 + 36992 + 64 + 16384 */
    {"bamba", "{\"model_type\": \"bamba\", \"attn_layer_indices\": [1], \"mamba_n_heads\": 8, \"mamba_n_groups\": 2, "
              "\"mamba_d_state\": 8, \"mamba_d_conv\": 4, \"mamba_chunk_size\": 16, " TINY_DIMS "}", 256, 122616},
    /* GraniteMoeHybridForCausalLM, layer 0 Mamba-2, layer 1 attention (NoPE), both with GraniteMoe's sparse
     * block (input_linear 4*256*64 65536 + output_linear 4*64*128 32768 + router 4*64 256 = 98560) and the
     * shared MLP (64*192 + 96*64 = 18432), norms 128: Mamba layer 28088 (as bamba's) + 117120 = 145208,
     * attention layer 12288 + 117120 = 129408; untied: 16384 + 145208 + 129408 + 64 + 16384 */
    {"granitemoehybrid", "{\"model_type\": \"granitemoehybrid\", \"layer_types\": [\"mamba\", \"attention\"], "
                         "\"num_local_experts\": 4, \"num_experts_per_tok\": 2, \"shared_intermediate_size\": 96, "
                         "\"mamba_n_heads\": 8, \"mamba_n_groups\": 2, \"mamba_d_state\": 8, \"mamba_chunk_size\": 16, "
                         "\"embedding_multiplier\": 12.0, \"residual_multiplier\": 0.22, \"attention_multiplier\": 0.0625, "
                         "\"logits_scaling\": 4.0, \"position_embedding_type\": \"nope\", " TINY_DIMS "}", 256, 307448},
    /* Llama4ForCausalLM, layer 0 dense + RoPE (chunked, 8), layer 1 MoE + NoPE (full): attention
     * 12288 per layer (the L2 qk_norm has no weight), norms 128; layer 0 MLP of intermediate_size_mlp
     * 3*64*96 = 18432 -> 30848; layer 1 experts gate_up_proj 4*64*256 = 65536, down_proj 4*128*64 =
     * 32768, router 4*64 = 256, shared expert 3*64*128 = 24576 -> 135552; 16384 + 30848 + 135552
     * + 64 + 16384 */
    {"llama4_text", "{\"model_type\": \"llama4_text\", \"head_dim\": 16, \"intermediate_size_mlp\": 96, "
                    "\"num_local_experts\": 4, \"interleave_moe_layer_step\": 2, \"no_rope_layers\": [1, 0], "
                    "\"attention_chunk_size\": 8, \"floor_scale\": 8, " TINY_DIMS "}", 256, 199232},
    /* Llama4ForConditionalGeneration (modeling_llama4.py): the same language model under language_model
     * (199232), and the vision tower of hidden 32, 2 heads of 16, 2 layers, 28 px tiles in 7 px patches (4x4 =
     * 16 patches + the class token): class_embedding 32, positional_embedding_vlm 17*32 = 544,
     * patch_embedding.linear 3*7*7*32 = 4704 (no bias), layernorm_pre/post 4*32 = 128; layer: q/k/v/o_proj
     * 4*(32*32 + 32) = 4224, fc1 32*128 + 128 = 4224, fc2 128*32 + 32 = 4128, two LayerNorms 128 -> 12704;
     * vision_adapter (pixel shuffle by 0.5: 2x2 tokens of 32*4 = 128 channels) fc1 128*32 = 4096, fc2 32*32
     * = 1024 -> 32 + 544 + 4704 + 128 + 2*12704 + 5120 = 35936; multi_modal_projector.linear_1 32*64 = 2048.
     * 199232 + 35936 + 2048 */
    {"llama4", "{\"model_type\": \"llama4\", \"torch_dtype\": \"float32\", \"image_token_index\": 255, "
               "\"text_config\": {\"model_type\": \"llama4_text\", \"head_dim\": 16, \"intermediate_size_mlp\": 96, "
               "\"num_local_experts\": 4, \"interleave_moe_layer_step\": 2, \"no_rope_layers\": [1, 0], "
               "\"attention_chunk_size\": 8, \"floor_scale\": 8, " TINY_DIMS "}, \"vision_config\": "
               "{\"model_type\": \"llama4_vision_model\", \"hidden_size\": 32, \"intermediate_size\": 128, "
               "\"num_hidden_layers\": 2, \"num_attention_heads\": 2, \"image_size\": 28, \"patch_size\": 7, "
               "\"pixel_shuffle_ratio\": 0.5, \"projector_input_dim\": 32, \"projector_output_dim\": 32, "
               "\"vision_output_dim\": 32}}", 256, 237216},
    /* Qwen3NextForCausalLM, layer 0 Gated DeltaNet with a dense MLP (mlp_only_layers [0]), layer 1 gated
     * full attention with the sparse block (modeling_qwen3_next.py): key_dim 2*8 = 16, value_dim 4*8 = 32,
     * conv_dim 64; linear_attn: conv1d 64*1*4 = 256 (no bias), in_proj_qkvz 64*(2*16 + 2*32) = 6144, in_proj_ba
     * 64*2*4 = 512, dt_bias/A_log 2*4, norm 8, out_proj 32*64 = 2048 -> 8976; + MLP 3*64*128 = 24576 + norms 128
     * -> 33680; self_attn: q_proj 64*(4*16*2) = 8192, k_proj/v_proj 2*64*32 = 4096, o_proj 64*64 = 4096, q_norm/
     * k_norm 2*16 -> 16416; sparse block: gate 64*4 = 256, experts 4*3*64*32 = 24576, shared_expert 3*64*48 =
     * 9216, shared_expert_gate 64 -> 34112; + norms 128 -> 50656; untied: 16384 + 33680 + 50656 + 64 + 16384 */
    {"qwen3_next", "{\"model_type\": \"qwen3_next\", \"head_dim\": 16, \"partial_rotary_factor\": 0.25, "
                   "\"layer_types\": [\"linear_attention\", \"full_attention\"], \"linear_num_key_heads\": 2, "
                   "\"linear_num_value_heads\": 4, \"linear_key_head_dim\": 8, \"linear_value_head_dim\": 8, "
                   "\"linear_conv_kernel_dim\": 4, \"num_experts\": 4, \"num_experts_per_tok\": 2, "
                   "\"moe_intermediate_size\": 32, \"shared_expert_intermediate_size\": 48, "
                   "\"mlp_only_layers\": [0], " TINY_DIMS "}", 256, 117168},
    /* Qwen3_5ForCausalLM (modular_qwen3_5.py), layer 0 Gated DeltaNet, layer 1 gated full attention, a dense
     * MLP on both: key_dim 2*8 = 16, value_dim 4*8 = 32, conv_dim 64; linear_attn: conv1d 64*1*4 = 256, dt_bias/
     * A_log 2*4, norm 8, out_proj 32*64 = 2048, in_proj_qkv 64*64 = 4096, in_proj_z 64*32 = 2048, in_proj_b/
     * in_proj_a 2*64*4 = 512 -> 8976; + MLP 3*64*128 = 24576 + norms 128 -> 33680; self_attn: q_proj
     * 64*(4*16*2) = 8192, k_proj/v_proj 2*64*32 = 4096, o_proj 64*64 = 4096, q_norm/k_norm 2*16 -> 16416;
     * + MLP 24576 + norms 128 -> 41120; untied: 16384 + 33680 + 41120 + 64 + 16384. Rotary from
     * rope_parameters: int(16 * 0.25) = 4 channels. */
    {"qwen3_5_text", "{\"model_type\": \"qwen3_5_text\", \"head_dim\": 16, \"rope_parameters\": {\"rope_type\": "
                     "\"default\", \"rope_theta\": 10000000, \"partial_rotary_factor\": 0.25}, \"layer_types\": "
                     "[\"linear_attention\", \"full_attention\"], \"linear_num_key_heads\": 2, "
                     "\"linear_num_value_heads\": 4, \"linear_key_head_dim\": 8, \"linear_value_head_dim\": 8, "
                     "\"linear_conv_kernel_dim\": 4, " TINY_DIMS "}", 256, 107632},
    /* Qwen3_5MoeForCausalLM (modular_qwen3_5_moe.py): the same mixers, Qwen3-Next's sparse block on both layers:
     * gate 64*4 = 256, experts 4*3*64*32 = 24576, shared_expert 3*64*48 = 9216, shared_expert_gate 64 -> 34112;
     * layer 0 8976 + 34112 + 128 = 43216, layer 1 16416 + 34112 + 128 = 50656; 16384 + 43216 + 50656 + 64 +
     * 16384 */
    {"qwen3_5_moe_text", "{\"model_type\": \"qwen3_5_moe_text\", \"head_dim\": 16, \"rope_parameters\": "
                         "{\"rope_type\": \"default\", \"rope_theta\": 10000000, \"partial_rotary_factor\": 0.25}, "
                         "\"layer_types\": [\"linear_attention\", \"full_attention\"], \"linear_num_key_heads\": 2, "
                         "\"linear_num_value_heads\": 4, \"linear_key_head_dim\": 8, \"linear_value_head_dim\": 8, "
                         "\"linear_conv_kernel_dim\": 4, \"num_experts\": 4, \"num_experts_per_tok\": 2, "
                         "\"moe_intermediate_size\": 32, \"shared_expert_intermediate_size\": 48, " TINY_DIMS "}",
     256, 126704},
    /* Qwen3_5ForConditionalGeneration (modeling_qwen3_5.py): the language model is qwen3_5_text's 107632 (lm_head
     * untied: the top-level tie_word_embeddings absent, false), names under model.language_model, its rotary
     * over int(16 * 0.5) = 8 channels (4 frequencies, mrope_section [2, 1, 1] interleaved: height at 1, width at
     * 2); the vision tower is qwen3_vl's above without the deepstack mergers: 800 + 512 + 2*8544 + 24832 =
     * 43232. 107632 + 43232 */
    {"qwen3_5", "{\"model_type\": \"qwen3_5\", \"image_token_id\": 255, \"text_config\": {\"model_type\": "
                "\"qwen3_5_text\", \"head_dim\": 16, \"rope_parameters\": {\"rope_type\": \"default\", "
                "\"rope_theta\": 10000000, \"partial_rotary_factor\": 0.5, \"mrope_interleaved\": true, "
                "\"mrope_section\": [2, 1, 1]}, \"layer_types\": [\"linear_attention\", \"full_attention\"], "
                "\"linear_num_key_heads\": 2, \"linear_num_value_heads\": 4, \"linear_key_head_dim\": 8, "
                "\"linear_value_head_dim\": 8, \"linear_conv_kernel_dim\": 4, " TINY_DIMS "}, "
                "\"vision_config\": {\"depth\": 2, \"hidden_size\": 32, \"intermediate_size\": 64, "
                "\"num_heads\": 2, \"patch_size\": 2, \"spatial_merge_size\": 2, \"temporal_patch_size\": 2, "
                "\"out_hidden_size\": 64, \"num_position_embeddings\": 16}}",
     256, 150864},
    /* Qwen3_5MoeForConditionalGeneration: qwen3_5_moe_text's 126704 and the same tower's 43232 */
    {"qwen3_5_moe", "{\"model_type\": \"qwen3_5_moe\", \"image_token_id\": 255, \"text_config\": "
                    "{\"model_type\": \"qwen3_5_moe_text\", \"head_dim\": 16, \"rope_parameters\": {\"rope_type\": "
                    "\"default\", \"rope_theta\": 10000000, \"partial_rotary_factor\": 0.5, "
                    "\"mrope_interleaved\": true, \"mrope_section\": [2, 1, 1]}, \"layer_types\": "
                    "[\"linear_attention\", \"full_attention\"], \"linear_num_key_heads\": 2, "
                    "\"linear_num_value_heads\": 4, \"linear_key_head_dim\": 8, \"linear_value_head_dim\": 8, "
                    "\"linear_conv_kernel_dim\": 4, \"num_experts\": 4, \"num_experts_per_tok\": 2, "
                    "\"moe_intermediate_size\": 32, \"shared_expert_intermediate_size\": 48, " TINY_DIMS "}, "
                    "\"vision_config\": {\"depth\": 2, \"hidden_size\": 32, \"intermediate_size\": 64, "
                    "\"num_heads\": 2, \"patch_size\": 2, \"spatial_merge_size\": 2, \"temporal_patch_size\": 2, "
                    "\"out_hidden_size\": 64, \"num_position_embeddings\": 16}}",
     256, 169936},
    /* JambaForCausalLM, layer 0 Mamba + MoE (expert_layer_offset 0), layer 1 attention + dense MLP
     * (attn_layer_period 2, offset 1); mixer (modeling_jamba.py JambaMambaMixer): intermediate 2*64 = 128,
     * dt_rank ceil(64/16) = 4; conv1d 128*1*4 + 128 = 640, in_proj 64*256 16384, x_proj 128*(4+2*8) 2560,
     * dt_proj 4*128 + 128 = 640, A_log 128*8 1024, D 128, out_proj 128*64 8192, dt/b/c_layernorm 4+8+8 = 20
     * -> 29588; MoE: router 64*4 256 + 4 experts * 24576 = 98560; norms 128 -> layer 0 128276; layer 1
     * 36992; untied: 16384 + 128276 + 36992 + 64 + 16384 */
    {"jamba", "{\"model_type\": \"jamba\", \"attn_layer_period\": 2, \"attn_layer_offset\": 1, "
              "\"expert_layer_period\": 2, \"expert_layer_offset\": 0, \"num_experts\": 4, "
              "\"num_experts_per_tok\": 2, \"mamba_d_state\": 8, \"mamba_d_conv\": 4, \"mamba_expand\": 2, "
              TINY_DIMS "}", 256, 198100},
    /* MiniMaxForCausalLM, MiniMaxConfig's default layer_types: layer 0 full attention (12288), layer 1
     * lightning attention (modeling_minimax.py MiniMaxLightningAttention: qkv_proj 64*192 12288, out_proj
     * 4096, output_gate 4096, norm 64 -> 20544; its decay buffers are no parameters); both with the sparse
     * block (gate 64*4 256 + 4 experts * 3*64*128 = 98560) and two norms 128: 110976 + 119232; untied:
     * 16384 + 110976 + 119232 + 64 + 16384 */
    {"minimax", "{\"model_type\": \"minimax\", \"num_local_experts\": 4, \"num_experts_per_tok\": 2, "
                "\"block_size\": 4, " TINY_DIMS "}", 256, 263040},
    /* ---- encoders and encoder-decoders (hand counts from modeling_bert/t5/bart.py) ---- */
    /* BertForMaskedLM: embeddings 16384 + 32*64 + 2*64 + LayerNorm 128 = 18688; layer: query/key/value/
     * attention.output.dense 4*4160, 2 LayerNorms 256, intermediate 8320, output 8256 = 33472;
     * head: transform dense 4160 + LayerNorm 128 + bias 256 (decoder weight tied, decoder.bias an alias)
     * = 18688 + 2*33472 + 4544 */
    {"bert", "{\"model_type\": \"bert\", \"vocab_size\": 256, \"hidden_size\": 64, \"intermediate_size\": 128, "
             "\"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"max_position_embeddings\": 32}", 256, 90176},
    /* shared 16384; encoder layer: q/k/v/o 4*64*64, wi 8192, wo 8192, 2 T5LayerNorms 128 = 32896, block 0
     * + relative_attention_bias 8*4, final norm 64 -> 65888; decoder layer + EncDecAttention 16384 + norm 64
     * = 49344 -> 98784; lm_head tied */
    {"t5", "{\"model_type\": \"t5\", \"vocab_size\": 256, \"d_model\": 64, \"d_kv\": 16, \"d_ff\": 128, "
           "\"num_layers\": 2, \"num_heads\": 4, \"relative_attention_num_buckets\": 8, "
           "\"relative_attention_max_distance\": 16}", 256, 181056},
    /* as t5 with gated-gelu (wi_0, wi_1: +8192 per layer) and an untied lm_head 16384:
     * 16384 + (2*41088 + 96) + (2*57536 + 96) + 16384 */
    {"mt5", "{\"model_type\": \"mt5\", \"vocab_size\": 256, \"d_model\": 64, \"d_kv\": 16, \"d_ff\": 128, "
            "\"num_layers\": 2, \"num_heads\": 4, \"relative_attention_num_buckets\": 8, "
            "\"relative_attention_max_distance\": 16, \"torch_dtype\": \"float32\"}", 256, 230208},
    /* shared 16384; encoder: positions (32+2)*64 2176, layer k/v/q/out 4*4160 + 2 LayerNorms 256 + fc1 8320
     * + fc2 8256 = 33472, layernorm_embedding 128 -> 69248; decoder layer + encoder_attn 16640 + norm 128
     * = 50240 -> 102784; lm_head tied, final_logits_bias a buffer */
    {"bart", "{\"model_type\": \"bart\", \"vocab_size\": 256, \"d_model\": 64, \"encoder_layers\": 2, "
             "\"decoder_layers\": 2, \"encoder_attention_heads\": 4, \"decoder_attention_heads\": 4, "
             "\"encoder_ffn_dim\": 128, \"decoder_ffn_dim\": 128, \"max_position_embeddings\": 32}", 256, 188416},
    /* Gemma4ForCausalLM (modeling_gemma4.py), tied, layer 0 sliding (head_dim 16, 2 kv heads), layer 1 full
     * (global_head_dim 32, attention_k_eq_v: 1 kv head, no v_proj), per-layer inputs of 8. Layer 0: q 64*64
     * 4096 + q_norm 16 + k_norm 16 + k 64*32 2048 + v 2048 + o 4096 = 12320 (v_norm has no weight); MLP 24576;
     * four norms 256; per_layer_input_gate 64*8 512 + per_layer_projection 8*64 512 + its norm 64 = 1088 ->
     * 38240. Layer 1: q 64*128 8192 + q_norm 32 + k_norm 32 + k 64*32 2048 + o 128*64 8192 = 18496, + 24576
     * + 256 + 1088 = 44416. Model: embed_tokens 16384, embed_tokens_per_layer 256*(2*8) 4096,
     * per_layer_model_projection 64*16 1024, per_layer_projection_norm 8, norm 64 (layer_scalar, embed_scale
     * and the inv_freq tables are buffers): 16384 + 4096 + 1024 + 8 + 64 + 38240 + 44416 = 104232. With the
     * mixture-of-experts block (the 26B-A4B's; 4 experts of 32, top 2) each layer adds the router (proj 4*64 256,
     * scale 64, per_expert_scale 4: 324; its norm has no weight), the experts (gate_up_proj 4*64*64 16384,
     * down_proj 4*64*32 8192) and three norms 192: 25092, twice: 104232 + 50184 */
    {"gemma4_text", "{\"model_type\": \"gemma4_text\", \"head_dim\": 16, \"global_head_dim\": 32, "
                    "\"sliding_window\": 8, \"layer_types\": [\"sliding_attention\", \"full_attention\"], "
                    "\"attention_k_eq_v\": true, \"num_global_key_value_heads\": 1, "
                    "\"hidden_size_per_layer_input\": 8, \"vocab_size_per_layer_input\": 256, "
                    "\"final_logit_softcapping\": 30.0, \"enable_moe_block\": true, \"num_experts\": 4, "
                    "\"top_k_experts\": 2, \"moe_intermediate_size\": 32, " TINY_DIMS "}", 256, 154416},
    /* Gemma3nForCausalLM (modeling_gemma3n.py), tied, two sliding layers (head_dim 16, 2 kv heads), layer 1
     * reading layer 0's K/V (num_kv_shared_layers 1), layer 0 with activation sparsity, 4 AltUp inputs,
     * laurel_rank 8, per-layer inputs of 8. Each layer: q 64*64 4096 + k 64*32 2048 + v 2048 + o 4096 +
     * q_norm 16 + k_norm 16 = 12320 (v_norm's weight is a buffer; the shared layer keeps its k/v_proj);
     * MLP 3*64*128 24576; four norms 256; altup: correct_output_scale 64 + correction_coefs 4*4 16 +
     * prediction_coefs 16*4 64 + modality_router 4*64 256 + router_norm 64 = 464; laurel 64*8 512 + 8*64
     * 512 + norm 64 = 1088; per_layer_input_gate 64*8 512 + per_layer_projection 512 + norm 64 = 1088 ->
     * 39792. Model: embed_tokens 16384, embed_tokens_per_layer 256*(2*8) 4096, per_layer_model_projection
     * 64*16 1024, per_layer_projection_norm 8, altup_projections and altup_unembed_projections 2*3*64*64
     * 24576, norm 64: 16384 + 4096 + 1024 + 8 + 24576 + 64 + 2*39792 = 125736 */
    {"gemma3n_text", "{\"model_type\": \"gemma3n_text\", \"head_dim\": 16, \"sliding_window\": 8, "
                     "\"layer_types\": [\"sliding_attention\", \"sliding_attention\"], \"num_kv_shared_layers\": 1, "
                     "\"hidden_size_per_layer_input\": 8, \"vocab_size_per_layer_input\": 256, \"laurel_rank\": 8, "
                     "\"altup_num_inputs\": 4, \"activation_sparsity_pattern\": [0.95, 0.0], " TINY_DIMS "}", 256, 125736},
    /* ---- vision-language (hand counts from modeling_gemma3.py / modeling_siglip.py) ---- */
    /* Gemma3ForConditionalGeneration: the language model is gemma3_text's 90752 (lm_head tied); SigLIP tower
     * of hidden 32, 2 heads, 2 layers, 28 px images in 7 px patches (4x4 = 16 patches): patch_embedding
     * 32*3*7*7 + 32 = 4736, position_embedding 16*32 = 512; layer: k/v/q/out_proj 4*(32*32 + 32) = 4224,
     * layer_norm1/2 2*64 = 128, fc1 32*64 + 64 = 2112, fc2 64*32 + 32 = 2080 -> 8544; post_layernorm 64
     * -> 4736 + 512 + 2*8544 + 64 = 22400; projector: mm_input_projection_weight 32*64 = 2048 +
     * mm_soft_emb_norm 32 = 2080 (4 tokens per image: the 4x4 patches pooled by 2x2). 90752 + 22400 + 2080 */
    {"gemma3", "{\"model_type\": \"gemma3\", \"mm_tokens_per_image\": 4, \"image_token_index\": 255, "
               "\"torch_dtype\": \"float32\", \"text_config\": {\"model_type\": \"gemma3_text\", \"head_dim\": 16, "
               "\"sliding_window\": 8, \"sliding_window_pattern\": 2, \"query_pre_attn_scalar\": 16, " TINY_DIMS "}, "
               "\"vision_config\": {\"model_type\": \"siglip_vision_model\", \"hidden_size\": 32, "
               "\"intermediate_size\": 64, \"num_hidden_layers\": 2, \"num_attention_heads\": 2, "
               "\"image_size\": 28, \"patch_size\": 7, \"vision_use_head\": false}}", 256, 115232},
    /* Gemma3nForConditionalGeneration traced as its language model (model.language_model.*): gemma3n_text's
     * 125736 (the same sizes; layer 1 full, no KV sharing: the same parameters); no tower is built */
    {"gemma3n", "{\"model_type\": \"gemma3n\", \"torch_dtype\": \"float32\", \"text_config\": {\"model_type\": "
                "\"gemma3n_text\", \"head_dim\": 16, \"sliding_window\": 8, \"layer_types\": [\"sliding_attention\", "
                "\"full_attention\"], \"num_kv_shared_layers\": 0, \"hidden_size_per_layer_input\": 8, "
                "\"vocab_size_per_layer_input\": 256, \"laurel_rank\": 8, \"activation_sparsity_pattern\": [0.95, 0.0], "
                TINY_DIMS "}}", 256, 125736},
    /* Mistral3ForConditionalGeneration (modeling_mistral3.py / modeling_pixtral.py): the language model is
     * mistral's 106816 (lm_head untied); Pixtral tower of hidden 32, 2 heads of 16, 2 layers, 28 px images
     * in 7 px patches (4x4 = 16 patches): patch_conv 32*3*7*7 = 4704 (no bias), ln_pre 32; layer:
     * k/v/q/o_proj 4*32*32 = 4096, gate/up/down_proj 3*32*64 = 6144, attention_norm + ffn_norm 64 -> 10304
     * -> 4704 + 32 + 2*10304 = 25344; projector: norm 32, merging_layer (32*2*2)*32 = 4096, linear_1 32*64
     * = 2048, linear_2 64*64 = 4096 -> 10272 (4 tokens per image: the 4x4 patches merged 2x2).
     * 106816 + 25344 + 10272 */
    {"mistral3", "{\"model_type\": \"mistral3\", \"image_token_index\": 255, \"spatial_merge_size\": 2, "
                 "\"torch_dtype\": \"float32\", \"text_config\": {\"model_type\": \"mistral\", "
                 "\"sliding_window\": 8, " TINY_DIMS "}, \"vision_config\": {\"model_type\": \"pixtral\", "
                 "\"hidden_size\": 32, \"intermediate_size\": 64, \"num_hidden_layers\": 2, "
                 "\"num_attention_heads\": 2, \"image_size\": 28, \"patch_size\": 7, \"hidden_act\": \"silu\"}}",
     256, 142432},
    /* Qwen2_5_VLForConditionalGeneration (modeling_qwen2_5_vl.py), text fields at the top level as the Hub
     * configs keep them: the language model is qwen2's 107072 (q/k/v biases, lm_head untied; mrope_section
     * 2 + 3 + 3 = head_dim 16 / 2); vision tower of hidden 32, 2 heads of 16, 2 blocks (block 1 full
     * attention), 2 px patches over 2 frames, 3 channels: patch_embed 32*3*2*2*2 = 768 (no bias); block:
     * qkv 32*96 + 96 = 3168, proj 32*32 + 32 = 1056, gate/up 2*(32*64 + 64) = 4224, down 64*32 + 32 = 2080,
     * norm1 + norm2 64 -> 10592; merger: ln_q 32, mlp.0 128*128 + 128 = 16512, mlp.2 128*64 + 64 = 8256
     * -> 24800. 107072 + 768 + 2*10592 + 24800 (window_size 4: 1 merged token, 2x2 patches a window; the
     * traced image 8x8 patches, 16 image tokens) */
    {"qwen2_5_vl", "{\"model_type\": \"qwen2_5_vl\", \"image_token_id\": 255, "
                   "\"rope_scaling\": {\"type\": \"mrope\", \"mrope_section\": [2, 3, 3]}, " TINY_DIMS ", "
                   "\"vision_config\": {\"depth\": 2, \"hidden_size\": 32, \"intermediate_size\": 64, "
                   "\"num_heads\": 2, \"patch_size\": 2, \"spatial_merge_size\": 2, \"temporal_patch_size\": 2, "
                   "\"window_size\": 4, \"out_hidden_size\": 64, \"fullatt_block_indexes\": [1]}}",
     256, 153824},
    /* its language model alone (Qwen2_5_VLTextConfig, --text-only): qwen2's 107072 */
    {"qwen2_5_vl_text", "{\"model_type\": \"qwen2_5_vl_text\", "
                        "\"rope_scaling\": {\"type\": \"mrope\", \"mrope_section\": [2, 3, 3]}, " TINY_DIMS "}",
     256, 107072},
    /* Qwen3VLForConditionalGeneration (modeling_qwen3_vl.py): the language model is qwen3's 106880 (q/k norms
     * over head_dim 16, lm_head untied: the top-level tie_word_embeddings absent, false), names under
     * model.language_model; vision tower of hidden 32, 2 heads of 16, 2 blocks, 2 px patches over 2 frames, 3
     * channels, a 16-entry position table (the traced image its 4 x 4 grid, 4 image tokens): patch_embed
     * 32*3*2*2*2 + 32 = 800 (biased), pos_embed 16*32 = 512; block: qkv 32*96 + 96 = 3168, proj 32*32 + 32 =
     * 1056, linear_fc1 32*64 + 64 = 2112, linear_fc2 64*32 + 32 = 2080, norm1 + norm2 (LayerNorm) 128 -> 8544;
     * merger: norm 64, linear_fc1 128*128 + 128 = 16512, linear_fc2 128*64 + 64 = 8256 -> 24832; two deepstack
     * mergers (blocks 0 and 1), their norm over 128: 256 + 16512 + 8256 = 25024 each.
     * 106880 + 800 + 512 + 2*8544 + 24832 + 2*25024 */
    {"qwen3_vl", "{\"model_type\": \"qwen3_vl\", \"image_token_id\": 255, \"text_config\": {\"model_type\": "
                 "\"qwen3_vl_text\", \"head_dim\": 16, \"rope_scaling\": {\"mrope_interleaved\": true, "
                 "\"mrope_section\": [4, 2, 2], \"rope_type\": \"default\"}, " TINY_DIMS "}, "
                 "\"vision_config\": {\"depth\": 2, \"hidden_size\": 32, \"intermediate_size\": 64, "
                 "\"num_heads\": 2, \"patch_size\": 2, \"spatial_merge_size\": 2, \"temporal_patch_size\": 2, "
                 "\"out_hidden_size\": 64, \"num_position_embeddings\": 16, \"deepstack_visual_indexes\": [0, 1]}}",
     256, 200160},
    /* its language model alone (Qwen3VLTextConfig, --text-only): qwen3's 106880 */
    {"qwen3_vl_text", "{\"model_type\": \"qwen3_vl_text\", \"head_dim\": 16, \"rope_scaling\": "
                      "{\"mrope_interleaved\": true, \"mrope_section\": [4, 2, 2], \"rope_type\": \"default\"}, "
                      TINY_DIMS "}",
     256, 106880},
    /* Qwen3VLMoeForConditionalGeneration (modeling_qwen3_vl_moe.py): qwen3_vl's with layer 0 a sparse block
     * (mlp_only_layers [1] keeps layer 1 dense): experts gate_up_proj 4*64*(2*32) 16384 + down_proj 4*32*64 8192,
     * gate weight 4*64 256, no shared expert; layer 0: attention 12288 + q/k norms 32 + norms 128 + 256 + 24576 =
     * 37280; layer 1 qwen3's 37024; 16384 + 37280 + 37024 + 64 + 16384 (lm_head untied: the top-level
     * tie_word_embeddings absent, false) = 107136; the same tower's 93280. Active: 200416 - 24576 / 4 * (4 - 2) */
    {"qwen3_vl_moe", "{\"model_type\": \"qwen3_vl_moe\", \"image_token_id\": 255, \"text_config\": {\"model_type\": "
                     "\"qwen3_vl_moe_text\", \"head_dim\": 16, \"rope_scaling\": {\"mrope_interleaved\": true, "
                     "\"mrope_section\": [4, 2, 2], \"rope_type\": \"default\"}, \"num_experts\": 4, "
                     "\"num_experts_per_tok\": 2, \"moe_intermediate_size\": 32, \"mlp_only_layers\": [1], "
                     TINY_DIMS "}, "
                     "\"vision_config\": {\"depth\": 2, \"hidden_size\": 32, \"intermediate_size\": 64, "
                     "\"num_heads\": 2, \"patch_size\": 2, \"spatial_merge_size\": 2, \"temporal_patch_size\": 2, "
                     "\"out_hidden_size\": 64, \"num_position_embeddings\": 16, \"deepstack_visual_indexes\": [0, 1]}}",
     256, 200416},
    /* its language model alone (Qwen3VLMoeTextConfig, --text-only): both layers sparse (decoder_sparse_step 1,
     * mlp_only_layers absent), lm_head tied (Qwen3VLMoeTextConfig's tie_word_embeddings default true):
     * 16384 + 2*37280 + 64 */
    {"qwen3_vl_moe_text", "{\"model_type\": \"qwen3_vl_moe_text\", \"head_dim\": 16, \"rope_scaling\": "
                          "{\"mrope_interleaved\": true, \"mrope_section\": [4, 2, 2], \"rope_type\": \"default\"}, "
                          "\"num_experts\": 4, \"num_experts_per_tok\": 2, \"moe_intermediate_size\": 32, "
                          TINY_DIMS "}",
     256, 91008},
};

#define TINY_CONFIG_COUNT ((int)(sizeof tiny_configs / sizeof tiny_configs[0]))

/* The tiny config of a model_type, or NULL. */
static inline const tiny_config *tiny_for(const char *model_type) {
    for (int i = 0; i < TINY_CONFIG_COUNT; i++)
        if (strcmp(tiny_configs[i].model_type, model_type) == 0) return &tiny_configs[i];
    return NULL;
}

#endif
