/* metatrace — tensor-parallel planning on the traced graph.
 *
 * An axis-propagation pass decides, from dataflow and the op shape rules
 * alone, which axis of every activation is sharded across `tp` ranks, and from
 * that the role of every parameter (column-parallel, row-parallel,
 * vocab-parallel embedding, replicated). A small search over the choices of the
 * Linear/Embedding weights keeps the assignment with the least communication.
 * Results are plain structs in the model's context. See docs/plan.md. */
#ifndef METATRACE_PLAN_H
#define METATRACE_PLAN_H

#include <stdio.h>

#include "model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Where a tensor lives across the ranks. */
typedef enum mt_place_kind {
    MT_PLACE_REPLICATE = 0, /* every rank holds the whole tensor */
    MT_PLACE_PARTIAL,       /* every rank holds a partial sum (all-reduce pending) */
    MT_PLACE_SHARD          /* dim `dim` cut into `ways` equal blocks */
} mt_place_kind;

typedef struct mt_placement {
    mt_place_kind kind;
    int dim;  /* SHARD: the sharded dim; -1 otherwise */
    int ways; /* SHARD: distinct blocks (== tp, or fewer when KV heads are replicated) */
    int layout; /* SHARD: 0 when the dim is cut into `ways` consecutive blocks; else the dim is
                   packed, parts one after the other ([gate | up], cat([q, k, v])), and each rank
                   holds its block of every part (vLLM's MergedColumnParallelLinear): the parts
                   are mt_plan.layouts[layout - 1] */
} mt_placement;

/* The parts of a packed dim (mt_placement.layout): `nparts` parts of the
 * lengths `lens`, or (nparts 0) parts of `part` elements each, as many as the
 * dim holds (a dim flattened from [..., heads] with the heads sharded). */
#define MT_PLAN_MAX_PARTS 8
typedef struct mt_plan_layout {
    int nparts;
    int64_t part;
    int64_t lens[MT_PLAN_MAX_PARTS];
} mt_plan_layout;

/* "R", "P", "S(2)", "S(1)/8" in the arena. */
MT_API const char *mt_placement_str(mt_ctx *ctx, mt_placement p);

typedef enum mt_plan_role {
    MT_ROLE_REPLICATE = 0,
    MT_ROLE_COLWISE,        /* Linear: out_features sharded (weight dim 0; Conv1D's [in, out]: dim 1) */
    MT_ROLE_ROWWISE,        /* Linear: in_features sharded (weight dim 1; Conv1D: dim 0), all-reduce after */
    MT_ROLE_VOCAB,          /* Embedding: rows (vocab) sharded, all-reduce after */
    MT_ROLE_EMBED_COLWISE,  /* Embedding: embedding_dim sharded (weight dim 1) */
    MT_ROLE_BIAS,           /* bias of a column-parallel Linear: sharded with it */
    MT_ROLE_EXPERTS,        /* fused 3-D expert weight [E, in, out]: whole experts per rank (dim 0) */
    MT_ROLE_COUNT
} mt_plan_role;
MT_API const char *mt_plan_role_name(mt_plan_role r); /* "colwise", ... */

typedef struct mt_plan_param {
    const mt_param *param;   /* unique parameter (tied aliases are listed under their owner) */
    const char *name;
    mt_plan_role role;
    int shard_dim;           /* -1: replicated */
    int ways;                /* distinct blocks; tp / ways ranks hold each block */
    int parts;               /* packed (a fused [gate | up] cut per part): the shard dim holds `parts`
                                equal parts and a rank reads its block of each; 0: one block */
    int ndim;
    int64_t shape[MT_MAX_DIMS];
    int64_t local[MT_MAX_DIMS]; /* per-rank shape */
    int64_t bytes, local_bytes;
} mt_plan_param;

typedef enum mt_comm_kind {
    MT_COMM_ALL_REDUCE = 0,
    MT_COMM_ALL_GATHER,
    MT_COMM_ALL_TO_ALL,
    MT_COMM_REDUCE_SCATTER,  /* partial sums -> each rank its block of the sum */
    MT_COMM_COUNT
} mt_comm_kind;
MT_API const char *mt_comm_kind_name(mt_comm_kind k); /* "all_reduce", ... */

/* A collective inserted on the output of `producer` before `consumer` reads it. */
typedef struct mt_plan_comm {
    mt_comm_kind kind;
    const mt_node *producer;
    int output;              /* output index of producer (tuples) */
    const mt_node *consumer;
    mt_placement from, to;
    double bytes_per_token;  /* logical tensor bytes per token (batch*seq) at the bound shapes */
    double wire_per_token;   /* bytes each rank sends per token (ring algorithms) */
} mt_plan_comm;

/* One entry of the transformers-style plan dict. */
typedef struct mt_plan_rule {
    const char *pattern;     /* module path, layer indices as '*': "model.layers.*.mlp.up_proj" */
    const char *style;       /* colwise, rowwise, colwise_gather_output, rowwise_split_input,
                                embedding_rowwise, replicate */
    int ways;                /* shard blocks (tp unless KV replication) */
} mt_plan_rule;

typedef enum mt_plan_style {
    MT_PLAN_OURS = 0,        /* embeddings sharded when cheaper */
    MT_PLAN_TRANSFORMERS     /* transformers' convention: embeddings replicated */
} mt_plan_style;

typedef enum mt_plan_search {
    MT_SEARCH_BEST = 0,      /* least communication (coordinate descent over the choices) */
    MT_SEARCH_FIRST,         /* the first feasible assignment (each weight's first option) */
    MT_SEARCH_FULL           /* as BEST, but every propagation covers the whole graph instead of
                                one block of each kind (slow; checks the window) */
} mt_plan_search;

struct mt_cluster;

typedef struct mt_plan_opts {
    int tp;                  /* degree (>= 1) */
    mt_plan_style style;
    mt_plan_search search;
    int64_t batch, seq;      /* bound shapes for bytes; 0: the first input's dims when the trace
                                bound them, else 1 and 4096 */
    bool sequence_parallel;  /* partial sums may be reduce-scattered along the sequence, so the
                                residual stream and norms between the tensor-parallel regions
                                are held in blocks of the sequence (Megatron sequence
                                parallelism); needs the bound seq divisible by tp */
    const struct mt_cluster *cluster; /* the GPUs whose in-node link prices the collectives
                                (fit.h; NULL: the H100 preset's NVLink) */
} mt_plan_opts;

typedef struct mt_plan_memory {
    int64_t param_bytes;                      /* per rank */
    int64_t param_bytes_by_dtype[MT_DTYPE_COUNT];
    int64_t total_param_bytes;                /* unsharded model */
    int64_t replicated_extra_bytes;           /* tp * per rank - total */
    int64_t kv_replicated_bytes;              /* part of the extra due to KV head replication */
    int64_t kv_bytes_per_token;               /* per rank, all layers */
    int64_t kv_bytes;                         /* per rank at batch*seq bound tokens */
    int64_t activation_peak_bytes;            /* per rank, live tensors at the bound shapes */
} mt_plan_memory;

/* The routed experts of MoE layers, one entry per container pattern
 * ("model.layers.*.mlp.experts"): a ModuleList of experts, or one module
 * holding fused 3-D weights [E, in, out] (gpt_oss, Llama 4). `placement` says
 * how the plan holds them: sharded inside every expert (column/row-parallel,
 * as any Linear), or for fused weights possibly whole experts per rank;
 * expert parallelism is reported beside it for comparison. */
typedef struct mt_plan_experts {
    const char *pattern;
    int layers;               /* containers matching the pattern */
    int experts;              /* experts per container */
    double top_k;             /* routed experts per token (expected routed tokens / tokens) */
    int64_t hidden;           /* width entering an expert */
    int64_t param_bytes;      /* all these experts, unsharded */
    int64_t local_bytes;      /* per rank as planned (sharded inside each expert) */
    double comm_per_token;    /* the plan's wire bytes/token produced inside the MoE blocks
                                 holding the containers (router, experts, shared experts, sum) */
    bool ep_valid;            /* experts divisible by tp */
    const char *ep_reason;    /* why not, when !ep_valid */
    int64_t ep_local_bytes;   /* per rank with experts/tp whole experts each (ep_valid) */
    double ep_comm_per_token; /* dispatch + combine all-to-all of the routed tokens, all layers:
                                 2 x top_k x hidden x dtype bytes x (tp-1)/tp per layer */
    bool fused;               /* one module holding 3-D weights [E, in, out] per layer (else a ModuleList) */
    const char *placement;    /* as planned: "sharded" (inside every expert), "expert_parallel" (experts/tp
                                 whole experts per rank: fused weights on dim 0), "replicated" (whole on
                                 every rank), "mixed" (weights placed differently) */
} mt_plan_experts;

typedef struct mt_plan {
    mt_ctx *ctx;
    const mt_model *model;
    const mt_graph *graph;
    int tp;
    mt_plan_style style;
    bool sequence_parallel;
    int64_t batch, seq;
    bool valid;               /* false: `reason` says why the degree does not work */
    const char *reason;
    const char *note;         /* e.g. KV replication; NULL when none */
    int kv_replication;       /* ranks per KV head (1: none) */
    mt_plan_param *params;
    int nparams;
    mt_placement *nodes;      /* per graph node (outs[0]), indexed by node->index */
    mt_plan_layout *layouts;  /* the packed dims' parts, indexed by mt_placement.layout - 1 */
    int nlayouts;
    mt_plan_comm *comms;
    int ncomms;
    mt_plan_rule *rules;
    int nrules;
    mt_plan_memory mem;
    mt_plan_experts *experts; /* MoE models: routed experts, sharded vs expert-parallel */
    int nexperts;
    double comm_per_token;    /* sum of wire_per_token */
    int evals;                /* propagations run by the search */
    bool window_exact;        /* false: the one-block-per-kind window disagreed with the whole
                                 graph and the search went on over the whole graph */
    double comm_seconds;      /* estimated time of the plan's collectives for a prefill of
                                 batch x seq tokens plus one decode step, over `link` */
    const char *link;         /* the link priced: "NVLink 4 of NVIDIA H100 SXM5 80 GB" */
} mt_plan;

/* Plan `g` (traced from `m`) for opts->tp ranks. Constraint violations
 * (divisibility) give a plan with valid=false and a reason, not an error;
 * NULL only on errors (message on the context). */
MT_API mt_plan *mt_plan_run(mt_model *m, const mt_graph *g, const mt_plan_opts *opts);

/* The slice [start, stop) along the shard dim of the checkpoint tensor that
 * `rank` reads (the whole dim when replicated; of a packed parameter, its
 * block of the first part: mt_plan_param_ranges gives every part's). */
MT_API void mt_plan_param_slice(const mt_plan *p, const mt_plan_param *pp, int rank, int64_t *start,
                         int64_t *stop);

/* Every slice of the shard dim that `rank` reads, in order, as
 * ranges[k][0..1] = [start, stop): one, or one per part of a packed parameter
 * (mt_plan_param.parts). Returns how many (at most max are written). */
MT_API int mt_plan_param_ranges(const mt_plan *p, const mt_plan_param *pp, int rank, int64_t (*ranges)[2], int max);

/* Degrees 1..max_tp: valid, valid with KV replication, or the exact reason. */
typedef struct mt_plan_degree {
    int tp;
    bool valid;
    const char *reason;      /* invalid: why; valid: NULL or a note (KV replication) */
    int kv_replication;
    int64_t param_bytes;     /* per rank (valid degrees) */
    double comm_per_token;
} mt_plan_degree;

/* Check every degree 1..max_tp (0: 64) and plan the valid ones. `out` holds
 * max_tp entries. */
MT_API mt_status mt_plan_auto(mt_model *m, const mt_graph *g, const mt_plan_opts *base, int max_tp,
                       mt_plan_degree *out);

/* The degrees of mt_plan_auto as the JSON document of `metatrace --tp auto
 * -f json` (docs/plan.md): {"model_type": ..., "degrees": [{"tp", "valid",
 * "kv_replication", "param_bytes_per_rank", "comm_bytes_per_token",
 * "reason"}, ...]}, one entry of `deg` per line: the usable degrees, and with
 * `all` the others too (their per-rank figures null, their reason given; the
 * CLI's --all). MT_ERR_IO when writing fails. */
MT_API mt_status mt_plan_degrees_export_json(const mt_model *m, const mt_plan_degree *deg, int n, bool all, FILE *out);

/* The standalone plan JSON object (docs/plan.md). */
#define MT_PLAN_FORMAT "metatrace-plan"
#define MT_PLAN_VERSION 4
MT_API mt_status mt_plan_export_json(const mt_plan *p, FILE *out);
/* The graph JSON document (docs/graph-format.md, as mt_export_json writes
 * it) with the plan object as its last top-level member, "plan": what
 * `metatrace CONFIG --tp N -o plan.json` writes. */
MT_API mt_status mt_plan_export_graph_json(const mt_plan *p, FILE *out);
/* The same with the graph JSON options (stable, compact: sizing.h); NULL opts:
 * as mt_plan_export_graph_json. */
struct mt_json_opts;
MT_API mt_status mt_plan_export_graph_json_opts(const mt_plan *p, const struct mt_json_opts *opts, FILE *out);
/* The traced graph as DOT with the plan drawn on it: get_attr nodes of
 * parameters filled by role (colwise light blue, rowwise salmon, vocab green,
 * ...), sharded activations outlined blue, partial sums orange, and every
 * inserted collective as a red edge labelled with its kind and wire bytes per
 * token. Repeated layers and experts are folded as in the pictures
 * (picture.h: mt_plan_export_dot_opts takes the picture options). */
MT_API mt_status mt_plan_export_dot(const mt_plan *p, FILE *out);
/* A human table: per-rank memory, communication, plan dict. */
MT_API mt_status mt_plan_print(const mt_plan *p, FILE *out);

#ifdef __cplusplus
}
#endif
#endif
