/* metatrace — clusters, collective costs and "does it fit on these GPUs?".
 *
 * A cluster is nodes x GPUs of one kind: a built-in preset (H100, H200,
 * A100-80GB, A100-40GB, B200, MI300X, L40S; figures and their sources in
 * docs/plan.md, "Clusters") or a JSON file. A collective costs
 * alpha + factor(p) x bytes / beta over the link it crosses (ring algorithms);
 * compute costs FLOPs / (throughput x efficiency). Every constant of the cost
 * model is in mt_fit_params.
 *
 * mt_fit_run enumerates the (tp, pp, ep, dp) layouts of a model over a
 * cluster, from the sizing pass's figures (weights as stored, KV per layer,
 * FLOPs per node, activation peak) and the tensor-parallel usable-degree
 * check, analytically: nothing is traced or searched per layout. See
 * docs/plan.md, "Fit". */
#ifndef METATRACE_FIT_H
#define METATRACE_FIT_H

#include <stdio.h>

#include "plan.h"
#include "sizing.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One GPU model and the links around it. Bandwidths are bytes per second in
 * one direction, per GPU; latencies seconds. */
typedef struct mt_gpu_spec {
    const char *name;        /* preset name as written in a spec: "H100" */
    const char *description; /* "NVIDIA H100 SXM5 80 GB" */
    int64_t mem_bytes;       /* device memory */
    double bf16_flops;       /* dense BF16/FP16 tensor throughput, FLOP/s */
    double fp8_flops;        /* dense FP8 throughput; 0: no FP8 tensor cores */
    double mem_bw;           /* device memory bandwidth */
    const char *intra_link;  /* "NVLink 4", "xGMI (Infinity Fabric)", "PCIe Gen4 x16" */
    double intra_bw;         /* GPU to GPU inside a node */
    double intra_lat;
    const char *inter_link;  /* "InfiniBand NDR 400 Gb/s per GPU" */
    double inter_bw;         /* GPU to GPU across nodes (its share of the network) */
    double inter_lat;
    int gpus_per_node;       /* GPUs one node holds (the preset's server) */
} mt_gpu_spec;

/* The built-in presets; *n receives their count. */
MT_API const mt_gpu_spec *mt_gpu_presets(int *n);

typedef struct mt_cluster {
    mt_gpu_spec gpu;
    int nodes;
    int gpus_per_node;       /* GPUs used per node */
    const char *name;        /* "2x8xH100", or the JSON file's "name" */
} mt_cluster;

/* A cluster from a spec: "H100" (one node of the preset's size), "8xH100"
 * (one node of 8), "2x8xH100" (2 nodes of 8), names case-insensitive; or a
 * path to a JSON file (a spec ending in ".json", or any existing file):
 *   {"name": "my-cluster", "nodes": 2, "gpus_per_node": 8,
 *    "gpu": "H100" | {"name", "memory_gib", "bf16_tflops", "fp8_tflops",
 *                     "memory_bandwidth_gbps", "intra_node_gbps",
 *                     "intra_node_latency_us", "inter_node_gbps",
 *                     "inter_node_latency_us"},
 *    ... any gpu field at the top level overrides the preset's}
 * (GB/s are 10^9 bytes per second, one direction.) Errors: MT_ERR_USAGE for a
 * bad spec (the message lists the presets), MT_ERR_IO for an unreadable file,
 * MT_ERR_CONFIG for a bad file, located as FILE:LINE:COL: field 'x': ... */
MT_API mt_status mt_cluster_parse(mt_ctx *ctx, const char *spec, mt_cluster *out);

/* ---- the cost model ---------------------------------------------------------- */
typedef struct mt_fit_params {
    double compute_efficiency; /* achieved / dense peak tensor throughput (0.6) */
    double memory_efficiency;  /* achieved / peak device memory bandwidth (0.8) */
    double link_efficiency;    /* achieved / peak link bandwidth for collectives (0.8) */
    double mem_utilization;    /* share of device memory the engine may use for weights,
                                  activations and KV cache (vLLM's gpu_memory_utilization
                                  default, 0.9) */
    int64_t default_seq;       /* sequence when --bind gives none (4096) */
} mt_fit_params;
/* The defaults above. */
MT_API mt_fit_params mt_fit_default_params(void);

/* Ring cost of one collective over p ranks, each holding `bytes` (all-reduce,
 * all-to-all: the whole buffer; all-gather: the gathered result; reduce-scatter:
 * the input): alpha + f(p) * bytes / beta with f = 2(p-1)/p for all-reduce and
 * (p-1)/p for all-gather, reduce-scatter and all-to-all. 0 when p <= 1. */
MT_API double mt_collective_seconds(mt_comm_kind kind, int p, double bytes, double alpha, double beta);

/* ---- pipeline splits --------------------------------------------------------- */
/* Split `nlayers` layers of cost `cost[i]` into `pp` contiguous stages, the
 * first stage also paying `pre` (embedding) and the last `post` (final norm,
 * head), in the shape Megatron-LM can express: first f, then pp-2 stages of m,
 * last l layers (pp 2: f and l). Minimises the heaviest stage, then the gap
 * between the heaviest and the lightest, then prefers more layers on the first
 * stage. `out` receives pp layer counts. MT_ERR_USAGE when pp < 1 or
 * pp > nlayers. */
MT_API mt_status mt_fit_split(mt_ctx *ctx, const double *cost, int nlayers, double pre, double post, int pp,
                              int *out);

/* ---- fit ------------------------------------------------------------------------ */
typedef struct mt_fit_opts {
    const mt_cluster *cluster;
    const mt_sizing_opts *sizing; /* kv dtype, quantization, MLA cache (NULL: defaults) */
    int64_t batch, seq;      /* sequences and tokens each (0: 1 and params.default_seq); the
                                graph should keep batch and seq symbolic */
    const mt_fit_params *params; /* NULL: mt_fit_default_params() */
    int microbatches;        /* micro-batches a replica's step is split into, pipelined through
                                its stages (0: 1; at most the replica's sequences) */
} mt_fit_opts;

typedef struct mt_fit_stage {
    int first_layer, nlayers;    /* layers [first_layer, first_layer + nlayers) */
    bool embedding, head;        /* holds the embedding / the final norm and head */
    int64_t weight_bytes;        /* per rank (stored bytes, quantized as the checkpoint) */
    int64_t kv_bytes;            /* per rank for the KV budget (batch share x seq) */
    int64_t activation_bytes;    /* per rank */
    int64_t state_bytes;         /* per rank: the recurrent mixers' fixed state (hybrid models: conv and
                                    SSM/linear-attention state) for the batch share, split by tp per
                                    head or channel; 0 without recurrent layers */
    int64_t total_bytes;
    int64_t kv_bytes_per_token;  /* per rank, this stage's layers */
    double prefill_s, decode_s;  /* this stage's time for one micro-batch (compute or memory, plus
                                    collectives) */
    const char **modules;        /* the module paths whose parameters and buffers the stage holds,
                                    in model order ("model.embed_tokens", "model.layers.0", ...):
                                    torchtitan's module_fqns_per_model_part entry */
    int nmodules;
} mt_fit_stage;

typedef struct mt_fit_row {
    int tp, pp, ep, dp;
    bool fits;
    const char *reason;          /* !fits: the heaviest rank's shortfall */
    int nstages;
    mt_fit_stage *stages;
    int heaviest;                /* stage of the heaviest rank */
    int64_t rank_bytes;          /* the heaviest rank's total */
    int64_t kv_tokens;           /* KV cache tokens one replica holds (-1: no KV, encoders) */
    int64_t kv_tokens_left;      /* beyond the budget batch x seq (fits only) */
    int64_t max_model_len;       /* min(kv_tokens, max_position_embeddings) (0: none) */
    double prefill_s;            /* one replica's prefill of its batch share at seq */
    double decode_s;             /* one replica's decode step at context seq */
    double comm_prefill_s, comm_decode_s; /* the collectives' part of the above */
    double prefill_per_token_s;  /* prefill_s over the tokens the cluster prefills per step */
    double decode_per_token_s;   /* decode_s over the tokens the cluster decodes per step */
    const char *vllm;            /* engine flags; NULL when the engine cannot express it */
    const char *sglang;
    const char *megatron;
    int microbatches;            /* per replica step, pipelined through the stages */
    double prefill_bubble;       /* share of the step a stage idles on average (pp 1: 0; balanced
                                    stages: (pp-1)/(microbatches+pp-1)) */
    double decode_bubble;
} mt_fit_row;

typedef struct mt_fit {
    mt_cluster cluster;
    mt_fit_params params;
    const mt_model *model;
    int64_t batch, seq;
    int gpus;
    int layers;                  /* repeated blocks the stages split */
    int experts, top_k;          /* routed experts per MoE layer (0: dense) */
    int64_t weight_bytes;        /* whole model as stored */
    int64_t kv_bytes;            /* the KV budget: batch sequences of seq tokens */
    int64_t activation_bytes;    /* activation peak at batch x seq, unsharded */
    int64_t state_bytes;         /* recurrent state of batch sequences, unsharded (0: none) */
    const char *compute_dtype;   /* "bf16" or "fp8" (FP8 weights on a GPU with FP8) */
    int nrows;
    mt_fit_row *rows;            /* fitting rows first, fastest decode first; then the rest */
    int nfit;
    const char *missing;         /* nfit == 0: what is missing ("needs 1.4 TiB, the cluster has 1.1 TiB") */
    int microbatches;            /* as asked (each row: at most its replica's sequences) */
} mt_fit;

/* Enumerate the layouts of `g` (traced from `m`, batch and seq symbolic or
 * bound) over opts->cluster. NULL on error (message on the context). */
MT_API mt_fit *mt_fit_run(mt_model *m, const mt_graph *g, const mt_fit_opts *opts);

/* A table: the fitting layouts ranked (all: the others too, with reasons),
 * per-stage memory of the best, and the engine flags. */
MT_API mt_status mt_fit_print(const mt_fit *f, bool all, FILE *out);
/* The JSON document (format "metatrace-fit", docs/plan.md). */
#define MT_FIT_FORMAT "metatrace-fit"
#define MT_FIT_VERSION 3
MT_API mt_status mt_fit_export_json(const mt_fit *f, bool all, FILE *out);

#ifdef __cplusplus
}
#endif
#endif
