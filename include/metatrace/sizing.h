/* metatrace — sizing: what a model needs, read off the traced graph.
 *
 * FLOPs per node (one rule per op, next to its shape rule), the KV cache by
 * attention kind recognised in the graph (MHA/GQA/MQA, MLA latent, sliding
 * windows, encoders, cross-attention), weights (quantized checkpoints through
 * quant.h), the activation peak from liveness, and training memory under
 * ZeRO. Results are plain structs in the model's context. See docs/sizing.md. */
#ifndef METATRACE_SIZING_H
#define METATRACE_SIZING_H

#include <stdio.h>

#include "model.h"
#include "quant.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- FLOPs per node --------------------------------------------------------
 * Floating-point operations of one node as a symbolic expression in the
 * graph's symbols (batch, seq, dec_seq, nnz_k), counting a multiply-add as 2
 * (docs/sizing.md, "FLOPs", states every convention):
 *   matmul 2*numel(out)*k (k the inner dim; every rank case of torch.matmul);
 *   linear 2*rows*in*out, + rows*out for a bias;
 *   sdpa 2*R*sk*dk + 2*R*sk*dv + 5*R*sk over R = B*h*sq query rows (h query
 *     heads under GQA), the whole score matrix: the sizing pass applies the
 *     causal/window halving; the scale and mask add are not counted;
 *   elementwise ops (arithmetic, comparisons, activations, where, masked_fill)
 *     numel of the output; reductions (sum, mean, amax, topk) numel of the
 *     input; softmax 5 and layer_norm 5 per element (+1 each for weight, bias);
 *   shape ops, indexing, casts (to, type_as), constructors, embedding lookups,
 *     dropout and placeholders/get_attr/output 0.
 * call_module nodes count as their functional op (Linear, Conv1D as linear,
 * LayerNorm as layer_norm, activations elementwise, Dropout and Embedding 0).
 * The rules are one table indexed by op id in trace/flops.c.
 * Returns NULL, with the error on ctx, when the arithmetic overflows int64
 * (MT_ERR_OVERFLOW) or the node is not one a trace records (MT_ERR_INTERNAL:
 * an op without a FLOP rule, a call_module without its module); never NULL
 * otherwise (0 is a constant). */
MT_API const mt_sym *mt_node_flops(mt_ctx *ctx, const mt_node *n);

/* ---- attention recognised in the graph ----------------------------------- */
typedef enum mt_attn_kind {
    MT_ATTN_CAUSAL = 0,  /* decoder self-attention: K/V grow by one entry per token */
    MT_ATTN_BIDIRECTIONAL, /* encoder self-attention: nothing cached */
    MT_ATTN_CROSS,       /* decoder over the encoder's output: fixed by the encoder length */
    MT_ATTN_KIND_COUNT
} mt_attn_kind;
MT_API const char *mt_attn_kind_name(mt_attn_kind k); /* "causal", "bidirectional", "cross" */

typedef struct mt_sizing_attn {
    const mt_node *core;     /* the sdpa node, or the softmax of an eager attention */
    const char *module;      /* the attention module's path ("model.layers.3.self_attn") */
    int layer;               /* index among the attention cores of its stack, 0-based */
    mt_attn_kind kind;
    bool eager;              /* matmul-softmax-matmul rather than sdpa */
    int64_t window;          /* sliding window in tokens; 0: full attention */
    int64_t heads;           /* query heads */
    int64_t kv_heads;        /* key/value heads as cached (before repeat_kv) */
    int64_t head_dim_k, head_dim_v;
    bool mla;                /* multi-head latent attention (K/V decompressed from a latent) */
    int64_t mla_latent;      /* MLA: kv_lora_rank + qk_rope_head_dim cached per token */
    int64_t cache_bytes_per_token; /* what this layer caches per token (at kv dtype) */
    const mt_tensor *key, *value;  /* the cached tensors in the graph (before repeat_kv) */
} mt_sizing_attn;

/* ---- training --------------------------------------------------------------- */
typedef enum mt_optimizer { MT_OPT_ADAM = 0, MT_OPT_SGD, MT_OPT_COUNT } mt_optimizer;

typedef struct mt_train_mem {
    int zero_stage;          /* 0..3 */
    int64_t weights, grads, optimizer, activations, activations_ckpt; /* bytes per rank */
    int64_t total, total_ckpt;
} mt_train_mem;

/* ---- the pass ----------------------------------------------------------------- */
typedef struct mt_sizing_opts {
    mt_dtype kv_dtype;       /* MT_DTYPE_NONE: the dtype of the traced keys/values */
    bool mla_decompressed;   /* count MLA's decompressed K/V instead of the latent */
    int64_t batch, seq;      /* bound shapes; 0: the trace's binding, else batch 1 and the
                                context below */
    int64_t context;         /* tokens for "KV at context"; 0: seq, else
                                min(max_position_embeddings, MT_SIZING_CONTEXT_CAP) */
    int64_t mem_budget;      /* bytes of one device for the KV capacity; 0: not asked */
    const char *quant;       /* "what if" quantization (quant.h); NULL: the config's */
    mt_optimizer optimizer;  /* training figures */
    int dp;                  /* data-parallel degree for ZeRO (0: 1) */
} mt_sizing_opts;
#define MT_SIZING_CONTEXT_CAP 131072

typedef struct mt_sizing {
    /* weights */
    mt_quant_inventory weights;    /* stored tensors (quantized or not) */
    int64_t weight_bytes;          /* == weights.total_bytes */
    /* FLOPs: symbolic, and evaluated at the bound shapes */
    const mt_sym *flops_forward;   /* dense, as the nodes compute it (no halving) */
    int64_t flops_prefill;         /* at batch x seq, causal/window halving applied */
    double flops_prefill_per_token;
    int64_t flops_decode_per_token;/* one new token over a cache of `context` tokens; -1: encoder */
    int64_t flops_decode_fixed;    /* decode = fixed + per_cached * cache, for a cache of at least */
    int64_t flops_decode_per_cached; /* every window's length (-1, -1 for encoders) */
    /* KV cache */
    int nattn;
    mt_sizing_attn *attn;
    bool has_kv;                   /* false: nothing grows per token (encoders) */
    int64_t kv_bytes_per_token;    /* all layers, one sequence, full-attention growth */
    int64_t kv_bytes_at_context;   /* batch sequences of `context` tokens, windows capped */
    int64_t kv_cross_bytes;        /* cross-attention K/V for an encoder of `seq` tokens */
    int64_t context;
    const char *context_note;      /* where `context` came from */
    mt_dtype kv_dtype;
    int64_t kv_capacity_tokens;    /* -1: no budget given; tokens that fit after weights+activations */
    /* activations at the bound shapes */
    int64_t activation_peak;       /* inference: max over the schedule of live tensor bytes */
    const char *peak_node;         /* where the peak happens */
    /* training (per rank), one entry per ZeRO stage */
    mt_train_mem train[4];
    int64_t batch, seq;
    const char *largest_layer;     /* module path of the largest repeated block */
    int64_t largest_layer_bytes;
    const double *node_flops;      /* per graph node at the bound shapes (dense, expected routing) */
    int nnodes;
    mt_optimizer optimizer;
    int dp;
    bool mixed_precision;          /* weights below 32 bits: Adam keeps an fp32 master copy */
    /* recurrent state (Mamba-2 mixers): a fixed size per sequence, whatever its length, as
     * transformers' HybridMambaAttentionDynamicCache allocates it in the model's dtype:
     * conv state [conv_dim, d_conv] and SSM state [heads, head_dim, d_state] per mixer */
    int state_layers;              /* mixers found (0: none; the fields below are 0) */
    mt_dtype state_dtype;          /* the conv state's (the model's dtype) */
    int64_t conv_state_bytes;      /* all mixers, one sequence */
    int64_t ssm_state_bytes;       /* all mixers, one sequence */
    int64_t state_bytes_per_seq;   /* conv + ssm */
    int64_t state_bytes_at_batch;  /* x batch */
    mt_dtype state_ssm_dtype;      /* the SSM / linear-attention state's: float32 for Qwen3-Next's
                                      Gated DeltaNet, else state_dtype */
} mt_sizing;

/* Run the pass on a traced graph of m. opts NULL: the defaults (batch 1, seq
 * and context from the trace's binding or the config, no budget, Adam, dp 1).
 * Everything lives in m's context. Errors: MT_ERR_CONFIG for a bad
 * quantization_config (located), MT_ERR_USAGE for a bad option. */
MT_API mt_status mt_model_sizing(mt_model *m, const mt_graph *g, const mt_sizing_opts *opts, mt_sizing *out);

/* Only the attention layers and the KV figures (attn, has_kv, kv_*, context):
 * what the tensor-parallel planner reads. The other fields are left zero. */
MT_API mt_status mt_model_sizing_kv(mt_model *m, const mt_graph *g, const mt_sizing_opts *opts, mt_sizing *out);

/* ---- output ------------------------------------------------------------------ */
/* The graph JSON (mt_export_json) with its "sizing" member from `s` (NULL:
 * computed with the defaults, as mt_export_json does). */
MT_API mt_status mt_export_json_sized(mt_model *m, mt_graph *g, const mt_sizing *s, FILE *out);
/* Options of the graph JSON (docs/graph-format.md, "Stable and compact"). */
typedef struct mt_json_opts {
    /* For snapshots: "model.config" holds only the config's file name (its
     * last path component, no directory) and "tool.version" is null, so the
     * same model gives the same bytes from any directory, machine or release. */
    bool stable;
    /* One line: no newlines or indentation, ',' and ':' without spaces, then a
     * final newline. Same keys in the same order; parses to the same value. */
    bool compact;
} mt_json_opts;
/* The graph JSON with options (NULL: as mt_export_json_sized); sizing from
 * `s` (NULL: computed with the defaults). */
MT_API mt_status mt_export_json_opts(mt_model *m, mt_graph *g, const mt_sizing *s, const mt_json_opts *opts, FILE *out);
/* The summary table (mt_export_summary) with its sizing section from `s`
 * (NULL: the defaults). */
MT_API mt_status mt_export_summary_sized(mt_model *m, mt_graph *g, const mt_sizing *s, FILE *out);
/* A per-module table like torchinfo's: module path (indented), class, output
 * shape, parameters, % of parameters, FLOPs at the bound shapes; modules deeper
 * than `depth` (root children are depth 1) are left out; consecutive identical
 * ModuleList entries fold into one row "x N" unless `unfold`. */
MT_API mt_status mt_export_module_table(mt_model *m, mt_graph *g, const mt_sizing *s, int depth, bool unfold, FILE *out);

#ifdef __cplusplus
}
#endif
#endif
