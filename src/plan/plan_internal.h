/* Private state of the tensor-parallel planner (src/plan/): its parameters
 * (pl_params), the read-only view of the graph every pass reads (pl_view,
 * built once per graph by the setup), one degree (pl_degree: options), the
 * propagation state (pl_eval), the passes' entry points and small shared
 * helpers (the scratch, the hash index). */
#ifndef METATRACE_PLAN_INTERNAL_H
#define METATRACE_PLAN_INTERNAL_H

#include <metatrace/plan.h>

#include "model_internal.h"

#include "opinfo_internal.h"
#include "walk_internal.h"

/* The planner's budgets, bounds and tolerances, every pass's in one place
 * (PL_PARAMS, below): how far the constraints walk, the bound's defaults,
 * the setup's walks and signature rounds, the propagation's tie tolerance
 * and the search's budgets. */
typedef struct pl_params {
    /* constraints (constraints.c) */
    int walk_steps;         /* a key walked back to its head split */
    int score_visits;       /* a softmax walked back to its scores matmul: nodes visited */
    int score_depth;        /* ... and depth */
    int mlp_depth;          /* an activation back to its Linear, a Linear back to its activation */
    int vocab_steps;        /* the first output back to the Linear producing it */
    /* setup (setup.c) */
    int64_t default_batch;  /* the bound when neither the options nor the traced input give one */
    int64_t default_seq;
    int pack_steps;         /* a chunk back to the product it cuts */
    int sig_rounds;         /* rounds of neighbourhood hashing of the structural signatures */
    /* propagation (placements.c): a candidate beats the best so far when it
     * costs less than best x (1 - tie_rel) - tie_abs (the first wins ties) */
    double tie_rel, tie_abs;
    /* search (search.c) */
    int group_sweeps;       /* passes over the groups of equal weights */
    int pair_rounds;        /* passes over pairs of groups (1 when only pairs of one block are tried) */
    int weight_sweeps;      /* passes over single weights */
    double pair_budget;     /* pairs x option pairs x propagated nodes for every pair to be tried */
    double block_budget;    /* past it, pairs of one block x nodes under this */
    double weight_budget;   /* options x weights x nodes for the weight-by-weight pass */
    double time_tol;        /* relative: communication times closer than this are equal */
    double time_floor;      /* seconds: the smallest time the tolerance is taken of */
    double window_comm_tol; /* relative, on wire bytes: the window's cost equals the whole graph's */
    double window_coll_tol; /* on collectives, likewise */
} pl_params;

/* The values, one definition; a static const so every pass's reads fold
 * into constants (the propagation's tie test runs per candidate). Pairs of
 * groups are changed together in the search: a column-parallel projection
 * and the row-parallel one after it only pay off together (either alone
 * costs the same or more), which single moves never find; run while the
 * work stays small. */
static const pl_params PL_PARAMS = {
    .walk_steps = 64,
    .score_visits = 48,
    .score_depth = 12,
    .mlp_depth = 4,
    .vocab_steps = 8,
    .default_batch = 1,
    .default_seq = 4096,
    .pack_steps = 8,
    .sig_rounds = 3,
    .tie_rel = 1e-12,
    .tie_abs = 1e-9,
    .group_sweeps = 6,
    .pair_rounds = 3,
    .weight_sweeps = 4,
    .pair_budget = 1.5e6,
    .block_budget = 20 * 1.5e6,
    .weight_budget = 2e6,
    .time_tol = 1e-9,
    .time_floor = 1e-12,
    .window_comm_tol = 1e-6,
    .window_coll_tol = 1e-6,
};

/* A placement and the placements already materialized for one tensor:
 * bit 0 replicated, bit 1 partial, bit 2+d sharded on d into tp blocks. */
typedef struct pl_val {
    mt_placement p;
    uint32_t avail;
} pl_val;

/* One option for a weight: shard dim (-1 replicated) and blocks; lay: the
 * packed layout of the dim (0: one block per rank; else each rank holds its
 * block of every part, the parts the chunk after the product cuts). */
typedef struct pl_opt {
    int dim;
    int ways;
    int lay;
} pl_opt;

/* A search variable: one unique weight (tied aliases share it), the
 * Linear/Embedding call nodes that read it, or a fused 3-D expert weight's
 * get_attr nodes. */
#define PL_MAX_OPTS 10
typedef struct pl_var {
    const mt_param *weight;
    const mt_module *module;  /* first module calling it */
    int out_dim;              /* weight dim of the output features: 0 (Linear, Embedding rows), 1 (Conv1D; fused
                                 experts [E, out, in] of F.linear), 2 (fused experts [E, in, out] of matmul/bmm) */
    bool expert3d;            /* a fused 3-D expert weight read by get_attr into matmul/bmm or F.linear */
    int pack_lay;             /* the product is chunked into equal parts along its output features: their
                                 layout (the column option then holds its block of each part), else 0 */
    uint64_t sig;             /* structural signature (op ids and shapes around its calls) */
    int64_t bytes;            /* full weight bytes */
} pl_var;

/* A variable's options at one degree, and its group: structurally equal
 * variables with equal options, searched as one (the leader: group == its
 * index). */
typedef struct pl_vopts {
    int nopts;
    pl_opt opts[PL_MAX_OPTS];
    int group;
} pl_vopts;

typedef struct pl_rec {
    int kind;
    int slot;
    const mt_node *consumer;
    mt_placement from, to;
    double bytes, wire;
} pl_rec;

/* Runs `body` with `t` (const mt_tensor *) bound to each tensor argument of
 * node `nd_` - positional, keyword, and the items of list arguments - in order
 * (the body is variadic so that it may hold commas).
 * `continue` in body skips to the next argument. */
#define PL_FOR_TENSOR_ARGS MT__FOR_TENSOR_ARGS

/* What a degree must divide, read once per graph (constraints.c). */
typedef struct pl_limits pl_limits;
/* NULL on error (message on the context). Read without the view: the fit
 * (fit.c) checks degrees with it alone. */
pl_limits *pl_limits_new(mt_model *m, const mt_graph *g);
/* For degree tp: *reason when it cannot work, *note for what it costs (KV
 * replication, embeddings left whole); returns ranks per KV head (1: none). */
int pl_limits_check(const pl_limits *L, int tp, const char **reason, const char **note);
/* KV heads and head dim (for the KV-replication option of k/v projections). */
bool pl_limits_kv(const pl_limits *L, int64_t *kv_heads, int64_t *head_dim);

/* An open-addressing index (below): keys are hashes; the caller's
 * `eq` tells entries with equal hashes apart. */
typedef struct pl_map {
    uint64_t *keys;
    int *vals;   /* -1: empty */
    size_t mask;
} pl_map;

/* What a node's sharding rule reads, resolved once per graph by name through
 * its op's signature (pl_nviews, placements.c). */
#define PL_NV_IN 5 /* the gated delta rule's query, key, value, g, beta */
typedef struct pl_nview {
    int in[PL_NV_IN];             /* slots of the rule's tensor parameters (the input of a dim-map rule); -1: none */
    int dim;                      /* the `dim` parameter, wrapped (-1: none); a tuple element's getitem: its slot */
    signed char map[MT_MAX_DIMS]; /* dim-map rules: input dim -> output dim (-1: not whole) */
    bool follow;                  /* the map is known (false: replicate) */
    bool has_dim, tuple;
    const mt_arg *list;           /* cat/stack: the tensors */
    int lay;                      /* cat: the layout of the joined dim (its inputs' lengths); split/chunk: of
                                     the split dim (the pieces' lengths) */
    signed char pdim, pout;       /* view/reshape: input dim pdim, inside a run of dims flattened into output
                                     dim pout, makes it packed in parts of pdim's inner length (play) */
    signed char udim, uout;       /* view/reshape: input dim udim unflattened, its innermost output dim uout;
                                     a udim packed in parts of uout's length (ulay) lands on uout */
    int play, ulay;               /* 0: none */
} pl_nview;

/* The read-only view every pass reads: the graph and its parameters, the
 * indexes over them, the bound and the link, built once per graph by the
 * setup (pl_prepare, pl_nviews, pl_packs, pl_signatures: setup.c) and read
 * through `const pl_view *` by the placements, the search and the report
 * (mt_plan_auto shares it between the degrees). The parameters are
 * PL_PARAMS, read by every pass. */
typedef struct pl_view {
    mt_ctx *ctx;
    mt_model *m;
    const mt_graph *g;
    const pl_limits *lim;     /* the constraints (constraints.c), read per degree */
    int64_t batch, seq;
    double link_alpha, link_beta; /* the in-node link the collectives are priced on (seconds, bytes/s) */
    const char *link;
    const char **bind_names;  /* batch, seq and the expected routed-token counts */
    int64_t *bind_values;
    const mt_sym **bind_syms; /* [2..nbind): the routed-token symbols, indexed by bind_map */
    int nbind;
    struct pl_map bind_map;
    int *out_off;             /* per node: first slot */
    int nslots;
    const mt_tensor **slot_t;
    const mt_node **slot_node;
    double *bpt;              /* bytes per token of each slot at the bound */
    double *bytes_at;         /* bytes of each slot at the bound */
    int *in_off;              /* per node (and n): first of its producers in `ins` */
    int *ins;                 /* the slots of every node's tensor arguments with a producer, in order (CSR) */
    int *node_var;            /* per node: var index or -1 */
    pl_nview *nv;             /* per node: what its sharding rule reads */
    pl_var *vars;
    int nvars;
    int *param_var;           /* per model parameter: its var (-1: none) */
    signed char *param_kind;  /* per model parameter: 1 weight, 2 bias, 3 fused 3-D expert weight, 0 other */
    /* The search window: per node, how many identical blocks (layers) the
     * node stands for (0: skipped by the search, its block is identical to
     * one evaluated). NULL: the whole graph. See blocks() in setup.c. */
    double *node_w;
    int *win;                 /* the nodes with node_w > 0, in order */
    int *mir_head, *mir_next; /* per window node: skipped nodes mirroring it (read by the window) */
    int nwin;
    const mt_module **containers; /* parents of nested blocks (the experts ModuleLists) */
    int ncontainers;
    int nblocks, nblock_kinds;
    mt_plan_layout *lays;     /* packed layouts (mt_placement.layout - 1), interned by the setup */
    int nlays, caplays;
} pl_view;

/* One degree (pl_set_degree, setup.c): the degree, the style, sequence
 * parallelism and every variable's options and group. */
typedef struct pl_degree {
    int tp;
    mt_plan_style style;
    const mt_sym *seq_sym;    /* sequence parallelism: the `seq` symbol (NULL: off) */
    pl_vopts *vo;             /* per var */
    int *gnext;               /* next member of the var's group (-1: last) */
} pl_degree;

/* The propagation's state (placements.c) at one degree, one per planner:
 * its buffers serve every degree of mt_plan_auto. */
typedef struct pl_eval {
    const pl_view *G;
    pl_degree D;              /* the degree (pl_set_degree); read-only to the propagation and the search */
    int *choice;              /* per var: option index (set through set_choice) */
    int64_t repl, rank;       /* bytes of weights left whole; weight bytes per rank */
    pl_val *vals;
    bool *sliced;             /* per slot: a shard was cut locally from a whole copy */
    bool *split_in;           /* per node: rowwise Linear fed by a whole input */
    double comm;
    double ncoll;
    double w;                 /* weight of the node being propagated */
    bool window;              /* search: evaluate the window only (G->node_w) */
    bool infeasible;
    bool record;
    bool lost;                /* a record could not be kept (out of memory) */
    pl_rec *recs;
    int nrecs, caprecs;
} pl_eval;

typedef struct pl_cost {
    bool infeasible;
    int64_t repl;   /* bytes of weights left whole on every rank */
    double comm;    /* wire bytes per token */
    int64_t rank;   /* weight bytes per rank */
    double ncoll;
    double time;    /* seconds of communication: a prefill of the bound tokens plus one decode step */
} pl_cost;

void pl_propagate(pl_eval *E);
/* The packed layout of a dim of n parts of the lengths `lens` (all equal:
 * parts of one length), or (n 0) of parts of lens[0] each, interned in the
 * view (setup only): its id (mt_placement.layout), 0 when it is no packing
 * (one part) or on error. */
int pl_layout(pl_view *G, int n, const int64_t *lens);
/* Dim d of t (lay: its packed layout) splits into w blocks of every part. */
bool pl_layout_divides(const pl_view *G, const mt_tensor *t, int d, int lay, int w);
/* Of a matmul/bmm whose second operand is a fused 3-D expert weight [E, in,
 * out] (directly, or one expert's slice w[e]), or an F.linear whose weight is
 * one expert's slice of [E, out, in]: the weight's get_attr node, else NULL
 * (setup.c). */
const mt_node *pl_expert3d_attr(const mt_node *n);
mt_status pl_nviews(pl_view *G);

/* The passes (setup.c, search.c, report.c; driven by plan.c). The setup
 * builds the view; the others read it. */
mt_status pl_prepare(pl_view *G, mt_model *m, const mt_graph *g, const mt_plan_opts *o);
mt_status pl_signatures(pl_view *G);
mt_status pl_packs(pl_view *G);
mt_status pl_set_degree(pl_degree *D, const pl_view *G, int tp, mt_plan_style style, bool sp);
pl_cost pl_search(pl_eval *E, mt_plan_search mode, int *evals, bool *window_exact);
/* Seconds of communication for `comm` wire bytes per token in `ncoll` collectives. */
double pl_comm_time(const pl_view *G, double comm, double ncoll);
mt_status pl_results(const pl_view *G, const pl_degree *D, pl_eval *E, mt_plan *R, bool full, pl_cost best);
void pl_push_rec(pl_eval *E, const pl_rec *r);

/* ---- the passes' one clean-up style ----
 * What outlives a pass function (the view, the report) lives in the
 * context's arena, freed with it. What a function needs only while it runs
 * (work arrays, indexes) comes from its scratch: heap blocks recorded there
 * and freed together by pl_scratch_end, which every return of the function
 * goes through (`return pl_scratch_end(&S, st)`). */
#define PL_SCRATCH_MAX 16
typedef struct pl_scratch {
    mt_ctx *ctx;
    void *blk[PL_SCRATCH_MAX];
    int n;
} pl_scratch;

/* A zeroed heap block of `bytes` held by S, NULL on failure (the status on
 * the context). */
static inline void *pl_tmp(pl_scratch *S, size_t bytes) {
    if (S->n == PL_SCRATCH_MAX) {
        mt_fail(S->ctx, MT_ERR_INTERNAL, "planner: more than %d scratch blocks in one pass", PL_SCRATCH_MAX);
        return NULL;
    }
    void *p = mt_heap_alloc(S->ctx, bytes);
    if (p) S->blk[S->n++] = p;
    return p;
}

/* An array of n elements of `elem` bytes (n + 1 allocated: never empty). */
static inline void *pl_tmp_array(pl_scratch *S, size_t n, size_t elem) {
    if (n + 1 > SIZE_MAX / elem) {
        mt_fail(S->ctx, MT_ERR_OVERFLOW, "planner: a scratch array of %zu elements overflows", n);
        return NULL;
    }
    return pl_tmp(S, (n + 1) * elem);
}

/* Frees what S holds; returns st. */
static inline mt_status pl_scratch_end(pl_scratch *S, mt_status st) {
    for (int i = 0; i < S->n; i++) mt_heap_free(S->ctx, S->blk[i]);
    S->n = 0;
    return st;
}

/* ---- an open-addressing index (keys are hashes; the caller's `eq` tells
 * entries with equal hashes apart), so every lookup of the passes is O(1) ---- */
typedef bool (*pl_eq_fn)(const void *u, int val, const void *key);

/* An index for n entries: its arrays from S (NULL: the context's arena, for
 * an index the view keeps). */
static inline bool map_init(mt_ctx *ctx, pl_scratch *S, pl_map *m, size_t n) {
    size_t cap = 16;
    while (cap < 2 * n + 2) cap *= 2;
    m->keys = S ? pl_tmp(S, cap * sizeof *m->keys) : mt_alloc_array(ctx, cap, sizeof *m->keys);
    m->vals = S ? pl_tmp(S, cap * sizeof *m->vals) : mt_alloc_array(ctx, cap, sizeof *m->vals);
    m->mask = cap - 1;
    if (!m->keys || !m->vals) return false;
    for (size_t i = 0; i < cap; i++) m->vals[i] = -1;
    return true;
}

/* The value stored under `key` (eq(u, value, key) true), or -1 after storing
 * `add` under it (nothing stored when add < 0). */
static inline int map_get(const pl_map *m, uint64_t h, pl_eq_fn eq, const void *u, const void *key, int add) {
    size_t i = (size_t)(h * 0x9e3779b97f4a7c15ULL >> 20) & m->mask;
    for (;; i = (i + 1) & m->mask) {
        if (m->vals[i] < 0) {
            if (add >= 0) m->keys[i] = h, m->vals[i] = add;
            return -1;
        }
        if (m->keys[i] == h && eq(u, m->vals[i], key)) return m->vals[i];
    }
}

static inline uint64_t ptr_hash(const void *p) { return (uint64_t)(uintptr_t)p * 0xff51afd7ed558ccdULL; }

static inline bool ptr_eq(const void *u, int v, const void *key) { return ((const void *const *)u)[v] == key; }

static inline uint64_t str_hash(const char *s) {
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static inline bool sym_eq(const void *u, int v, const void *key) { return ((const mt_sym *const *)u)[v] == key; }

/* The first input of g of at least `ndim` dims (its output), or NULL. */
static inline const mt_tensor *pl_first_input(const mt_graph *g, int ndim) {
    for (int i = 0; i < g->n; i++) {
        const mt_node *n = g->nodes[i];
        if (n->op == MT_NODE_PLACEHOLDER && n->nout > 0 && n->outs[0].ndim >= ndim) return &n->outs[0];
    }
    return NULL;
}

/* Dim d of t when constant, else -1. */
static inline int64_t dimv(const mt_tensor *t, int d) {
    return mt_sym_is_const(t->shape[d]) ? mt_sym_const_value(t->shape[d]) : -1;
}

#endif
