/* Tiny synthetic configs, one per registered model_type, for the
 * all-architectures test (tests/unit/test_families.c): 2 layers, small
 * widths. Add a line for every family you register; a registered family
 * without one fails that test. `params` is the unique parameter count worked
 * out by hand from the transformers modeling source (0: not checked). */
#ifndef METATRACE_TINY_CONFIGS_H
#define METATRACE_TINY_CONFIGS_H

#include <stdint.h>

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
};

#define TINY_CONFIG_COUNT ((int)(sizeof tiny_configs / sizeof tiny_configs[0]))

#endif
