/* Private: what each op's row in the op table (MT_OP_RULES, trace/ops.c) says
 * beyond its shape/dtype rule - its Python signature, how its output dims map
 * to its input dims, whether partial sums pass through it, and which sharding
 * rule the tensor-parallel planner applies to it - for the passes over a
 * traced graph (the planner, its constraints). docs/ops.md, "The op table". */
#ifndef METATRACE_OPINFO_INTERNAL_H
#define METATRACE_OPINFO_INTERNAL_H

#include <metatrace/graph.h>

/* How the output dims come from the input dims (PyTorch DTensor's DimSpec
 * idea, by class). 0 is no class: a row that forgot it. The single-input
 * classes (VIEW .. SPLIT, CAT, STACK relative to the first tensor) are spelt
 * out per output dim by mt__dimspec. */
typedef enum mt_dims {
    MT_DIMS_MISSING = 0,
    MT_DIMS_POINTWISE, /* elementwise: each output dim is the same dim of every operand, right-aligned broadcast */
    MT_DIMS_REDUCE,    /* `dim` (None: all) reduced away, or kept as 1 with `keepdim` */
    MT_DIMS_ALONG,     /* same shape; `dim` (default -1) is read whole (softmax, cumsum, topk) */
    MT_DIMS_NORM,      /* same shape; the last len(normalized_shape) dims are read whole */
    MT_DIMS_TRIANGLE,  /* same shape; the last two dims are read whole (triu) */
    MT_DIMS_VIEW,      /* view/reshape/flatten: runs of input dims flattened or split into runs of output dims */
    MT_DIMS_TRANSPOSE, /* dims dim0 and dim1 swapped */
    MT_DIMS_PERMUTE,   /* output dim o is input dim dims[o] */
    MT_DIMS_UNSQUEEZE, /* a new dim of 1 at `dim` */
    MT_DIMS_SQUEEZE,   /* dims of 1 dropped */
    MT_DIMS_EXPAND,    /* dims of 1 broadcast (repeated), new leading dims */
    MT_DIMS_INDEX,     /* x[index]: int indices drop a dim, None adds one, slices keep (or cut) it */
    MT_DIMS_SPLIT,     /* tuple of pieces of `dim` (default 0); every other dim whole in each piece */
    MT_DIMS_CAT,       /* list joined along `dim`; every other dim the same in each input */
    MT_DIMS_STACK,     /* list stacked on a new dim `dim` */
    MT_DIMS_COMPLEX,   /* view_as_complex drops the trailing pair dim, view_as_real adds one; the others kept */
    MT_DIMS_CONTRACT,  /* matmul/linear: batch dims, rows of the first, columns of the second, inner dim summed */
    MT_DIMS_ATTENTION, /* sdpa: batch and head dims of query/key/value, sequence and head dim mixed */
    MT_DIMS_LOOKUP,    /* rows picked along a dim by an index tensor (embedding, index_select, gather) */
    MT_DIMS_SCATTER,   /* rows added/written along `dim` by an index tensor (index_add_, scatter_) */
    MT_DIMS_CREATE,    /* no tensor input dims: a constructor (arange, full, zeros[_like], full_like) */
    MT_DIMS_OPAQUE,    /* dims the planner does not follow (one_hot, nonzero, repeat_interleave, min) */
    MT_DIMS_COUNT
} mt_dims;

/* Whether partial sums (a sum pending over ranks) pass through the op as the
 * planner applies it. */
typedef enum mt_lin {
    MT_LIN_MISSING = 0,
    MT_LIN_NONE,  /* a partial input is reduced first (nonlinear: softmax, norms, exp; mul of two partials) */
    MT_LIN_EACH,  /* linear in each operand, the others whole: neg, casts, views, mul by a whole factor */
    MT_LIN_FIRST, /* linear in the first operand only (division by a whole tensor, index_select's input) */
    MT_LIN_SUM,   /* the sum of partial inputs is partial (add, sub, cat, stack, index_add_) */
    MT_LIN_COUNT
} mt_lin;

/* The planner's sharding rule (src/plan/placements.c, one function per rule). */
typedef enum mt_shard {
    MT_SHARD_MISSING = 0,
    MT_SHARD_REPLICATE,   /* every input whole, output whole */
    MT_SHARD_ELEMENTWISE, /* broadcast operands; shards follow dims, partial sums per the linearity */
    MT_SHARD_CLAMP,       /* elementwise, but keyword tensor bounds keep it whole */
    MT_SHARD_MAP,         /* one input: a shard moves along the dims class's map, kept off the dims read whole */
    MT_SHARD_GETITEM,     /* a tuple element takes the tuple's placement; an index maps dims */
    MT_SHARD_SPLIT,       /* each piece maps like MAP; a partial input makes partial pieces */
    MT_SHARD_JOIN,        /* cat/stack: every input alike */
    MT_SHARD_MATMUL,      /* batch, rows, columns, or the inner dim (partial) */
    MT_SHARD_LINEAR,      /* functional linear with a graph-valued weight */
    MT_SHARD_EMBEDDING,   /* functional embedding: the index's shard */
    MT_SHARD_SDPA,        /* heads (or batch) of query/key/value and the mask where not broadcast */
    MT_SHARD_LAYER_NORM,  /* like NORM, weight and bias whole */
    MT_SHARD_INDEX_SELECT,
    MT_SHARD_INDEX_ADD,
    MT_SHARD_HEADS,       /* independent heads at dim 2 of every operand (the gated delta rule): all whole, or all
                           * split there, the output's heads with them (a final state's at its dim 1) */
    MT_SHARD_CHANNELS,    /* a recurrent scan: its channel operands split alike, the shared ones whole (selective_scan) */
    MT_SHARD_REPEAT,      /* repeat_interleave by an int: each element repeated in place, so blocks of `dim` stay
                             blocks (each rank repeats its own); other dims pass */
    MT_SHARD_COUNT
} mt_shard;

typedef struct mt_opinfo {
    /* The Python signature, NULL-terminated: "*" starts keyword-only
     * parameters, "*name" is a variadic positional, "a|b" names aliases. */
    const char *const *sig;
    int operands; /* leading parameters that are the op's tensor operands (elementwise: broadcast together) */
    mt_dims dims;
    mt_lin lin;
    mt_shard shard;
} mt_opinfo;

/* The row of op `opid` (NULL when out of range). */
const mt_opinfo *mt__op_info(int opid);
/* Checks rows[0..n) (the table itself: mt__op_info(0), n = MT_OP_COUNT, or a
 * copy in a test): -1 when every op has a signature, a dims class, a
 * linearity and a sharding rule, else the first op lacking one and *what
 * names the column. */
int mt__op_table_check(const mt_opinfo *rows, int n, const char **what);

/* Argument `name` of node n, read through its op's signature (positional or
 * keyword, aliases included; the name must be in the signature: an
 * assertion); a call_module node's one parameter is "input", the output
 * node's "result" (torch.fx Graph.output). NULL when absent or None. */
const mt_arg *mt__node_arg(const mt_node *n, const char *name);
const mt_tensor *mt__node_tensor(const mt_node *n, const char *name); /* NULL unless a tensor */
/* The tensor given for the op's first parameter (input/self), NULL if none. */
const mt_tensor *mt__node_input(const mt_node *n);
bool mt__node_int(const mt_node *n, const char *name, int64_t *v);   /* false unless an int */
/* A variadic parameter ("*dims" in the signature): (x, 0, 2, 1), (x, [0, 2, 1])
 * or dims=[0, 2, 1]; *count 0 when absent. */
const mt_arg *mt__node_rest(const mt_node *n, const char *name, int *count);
/* Dim d wrapped into [0, nd), -1 when out of range. */
int mt__wrap_dim(int64_t d, int nd);

/* One output dim's origin: DS_DIM (input dim `in`, whole), DS_BCAST (input
 * dim `in` of size 1 repeated), DS_RUN (piece `piece` of `nout` output dims
 * made from input dims [in, in + nin): a flatten when nout is 1, a split when
 * nin is 1), DS_READ (input dim `in`, but read whole: a reduced or joined dim
 * kept), DS_NEW (no input dim). */
enum { MT_DS_NEW = 0, MT_DS_DIM, MT_DS_BCAST, MT_DS_RUN, MT_DS_READ };
typedef struct mt_dimspec {
    signed char kind, in, nin, piece, nout;
} mt_dimspec;

/* For a node of a single-input dims class (VIEW .. SPLIT, ALONG, REDUCE, NORM,
 * TRIANGLE; CAT and STACK against their first tensor): the input its spec is
 * relative to, and spec[o] for every dim o of output `out` (outs[out]).
 * NULL when the node's dims cannot be followed (advanced indexing, an
 * argument not understood). */
const mt_tensor *mt__dimspec(mt_ctx *ctx, const mt_node *n, int out, mt_dimspec *spec);
/* The forward map of a spec: map[i] = the output dim input dim i becomes
 * whole (-1: it does not survive whole); a run's outermost non-1 input dim
 * maps to its outermost non-1 output dim. */
void mt__dimspec_forward(mt_ctx *ctx, const mt_tensor *x, const mt_tensor *y, const mt_dimspec *spec, int *map);

#endif
