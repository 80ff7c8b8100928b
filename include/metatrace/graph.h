/* metatrace — tensors, FX-style graph, op table and tracer. */
#ifndef METATRACE_GRAPH_H
#define METATRACE_GRAPH_H

#include "core.h"
#include "dtype.h"
#include "sym.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MT_MAX_DIMS 8

typedef enum mt_device { MT_DEVICE_CPU = 0, MT_DEVICE_META = 1 } mt_device;
MT_API const char *mt_device_name(mt_device d);

struct mt_node;
struct mt_module;

/* A tensor: dtype and shape, and storage only when it lives on CPU. */
typedef struct mt_tensor {
    mt_dtype dtype;
    int ndim;
    const mt_sym *shape[MT_MAX_DIMS];
    mt_device device;
    void *data;            /* NULL on META */
    struct mt_node *node;  /* producing node while tracing (NULL outside a graph) */
} mt_tensor;

/* A META tensor allocated in the arena (no storage). */
MT_API mt_tensor *mt_tensor_meta(mt_ctx *ctx, mt_dtype dt, int ndim, const mt_sym *const *shape);
/* Same with concrete int64 dims. */
MT_API mt_tensor *mt_tensor_meta_i(mt_ctx *ctx, mt_dtype dt, int ndim, const int64_t *shape);
MT_API const mt_sym *mt_tensor_numel(mt_ctx *ctx, const mt_tensor *t);
/* "[batch, seq, 4096]" in the arena. */
MT_API const char *mt_shape_str(mt_ctx *ctx, int ndim, const mt_sym *const *shape);

/* ---- arguments -------------------------------------------------------------
 * Op arguments mirror FX: tensors (printed as node references), Python
 * scalars, symbolic ints, dtypes, strings, None, slices, Ellipsis, lists. */
typedef enum mt_argkind {
    MT_ARG_NONE = 0,
    MT_ARG_TENSOR,   /* .t (its producing node is the FX reference) */
    MT_ARG_INT,      /* .i */
    MT_ARG_FLOAT,    /* .f */
    MT_ARG_BOOL,     /* .b */
    MT_ARG_SYM,      /* .sym: a symbolic int (never a constant: use INT) */
    MT_ARG_DTYPE,    /* .dtype */
    MT_ARG_STR,      /* .s */
    MT_ARG_SLICE,    /* .slice: start/stop/step, each NULL for None */
    MT_ARG_ELLIPSIS,
    MT_ARG_LIST,     /* .list (a Python tuple/list) */
    MT_ARG_DEVICE,   /* .device */
    MT_ARG_KIND_COUNT
} mt_argkind;

typedef struct mt_arg {
    mt_argkind kind;
    union {
        mt_tensor *t;
        int64_t i;
        double f;
        bool b;
        const mt_sym *sym;
        mt_dtype dtype;
        const char *s;
        mt_device device;
        struct { const mt_sym *start, *stop, *step; } slice;
        struct { struct mt_arg *items; int n; } list;
    } v;
} mt_arg;

typedef struct mt_kwarg {
    const char *name;
    mt_arg value;
} mt_kwarg;

/* Constructors (by value; lists copy their items into the arena). */
MT_API mt_arg mt_a_tensor(mt_tensor *t);
MT_API mt_arg mt_a_int(int64_t i);
MT_API mt_arg mt_a_float(double f);
MT_API mt_arg mt_a_bool(bool b);
MT_API mt_arg mt_a_dim(const mt_sym *s);   /* INT when constant, SYM otherwise */
MT_API mt_arg mt_a_dtype(mt_dtype d);
MT_API mt_arg mt_a_str(const char *s);
MT_API mt_arg mt_a_none(void);
MT_API mt_arg mt_a_ellipsis(void);
MT_API mt_arg mt_a_slice(const mt_sym *start, const mt_sym *stop, const mt_sym *step);
MT_API mt_arg mt_a_list(mt_ctx *ctx, const mt_arg *items, int n);
MT_API mt_arg mt_a_dims(mt_ctx *ctx, const mt_sym *const *dims, int n); /* list of mt_a_dim */
MT_API mt_arg mt_a_ints(mt_ctx *ctx, const int64_t *v, int n);

/* ---- graph ------------------------------------------------------------------ */
typedef enum mt_opkind {
    MT_NODE_PLACEHOLDER = 0,
    MT_NODE_GET_ATTR,
    MT_NODE_CALL_MODULE,
    MT_NODE_CALL_FUNCTION,
    MT_NODE_CALL_METHOD,
    MT_NODE_OUTPUT,
    MT_NODE_KIND_COUNT
} mt_opkind;
MT_API const char *mt_opkind_name(mt_opkind k); /* "call_function", ... */

/* The module stack a node was recorded under (outermost first), like FX's
 * nn_module_stack. Shared between nodes recorded under the same stack. */
typedef struct mt_modstack {
    int depth;
    struct mt_module **mods;
} mt_modstack;

typedef struct mt_node {
    int index;               /* position in graph */
    mt_opkind op;
    int opid;                /* mt_op_id for call_function/call_method, -1 otherwise */
    const char *name;        /* unique, FX style */
    const char *target;      /* module path / qualified function / method / param path */
    mt_arg *args;
    int nargs;
    mt_kwarg *kwargs;
    int nkwargs;
    mt_tensor *outs;         /* nout outputs (one unless is_tuple) */
    int nout;
    bool is_tuple;           /* multi-output (split, chunk, topk): consumed through getitem */
    const mt_modstack *stack;
    struct mt_module *module;/* call_module: the module called */
    struct mt_param *param;  /* get_attr: the parameter or buffer */
    void *pass_data;         /* free slot for a program's own passes (the library never uses it) */
} mt_node;

/* A traced graph: read its nodes directly (read-only: only mt_graph_append
 * adds them). The library keeps private state beside these fields (capacity,
 * the FX-name table), so a graph is only ever made by mt_graph_new or a trace,
 * never declared or copied by value. */
typedef struct mt_graph {
    mt_ctx *ctx;
    mt_node **nodes;         /* n nodes in recording order; nodes[i]->index == i */
    int n;
} mt_graph;

/* An empty graph owned by ctx (freed by mt_ctx_free), or NULL with
 * MT_ERR_NOMEM. */
MT_API mt_graph *mt_graph_new(mt_ctx *ctx);
/* Append a node; `base` is uniquified FX style (add, add_1, ...). Args and
 * kwargs are copied. */
MT_API mt_node *mt_graph_append(mt_graph *g, mt_opkind op, const char *base, const char *target,
                         const mt_arg *args, int nargs, const mt_kwarg *kwargs, int nkwargs);
/* Turn "model.layers.0.self_attn" into "model_layers_0_self_attn" (arena). */
MT_API const char *mt_fx_name(mt_ctx *ctx, const char *path);
/* Counts by op kind. */
MT_API void mt_graph_count(const mt_graph *g, int counts[MT_NODE_KIND_COUNT]);

/* ---- op table ---------------------------------------------------------------
 * One rule per op: validate inputs (messages print the shapes), compute the
 * output shape(s) and dtype(s). ORDER mt_op_id: keep in step with trace/ops.c. */
#define MT_OPS(X)                                                                      \
    /* id            kind                 target                                promo */ \
    X(ADD,           MT_NODE_CALL_FUNCTION, "operator.add",                      MT_PROMO_DEFAULT)      \
    X(SUB,           MT_NODE_CALL_FUNCTION, "operator.sub",                      MT_PROMO_DEFAULT)      \
    X(MUL,           MT_NODE_CALL_FUNCTION, "operator.mul",                      MT_PROMO_DEFAULT)      \
    X(TRUEDIV,       MT_NODE_CALL_FUNCTION, "operator.truediv",                  MT_PROMO_INT_TO_FLOAT) \
    X(POW,           MT_NODE_CALL_METHOD,   "pow",                               MT_PROMO_DEFAULT)      \
    X(MAXIMUM,       MT_NODE_CALL_FUNCTION, "torch.maximum",                     MT_PROMO_DEFAULT)      \
    X(MINIMUM,       MT_NODE_CALL_FUNCTION, "torch.minimum",                     MT_PROMO_DEFAULT)      \
    X(EQ,            MT_NODE_CALL_FUNCTION, "operator.eq",                       MT_PROMO_ALWAYS_BOOL)  \
    X(NE,            MT_NODE_CALL_FUNCTION, "operator.ne",                       MT_PROMO_ALWAYS_BOOL)  \
    X(LT,            MT_NODE_CALL_FUNCTION, "operator.lt",                       MT_PROMO_ALWAYS_BOOL)  \
    X(LE,            MT_NODE_CALL_FUNCTION, "operator.le",                       MT_PROMO_ALWAYS_BOOL)  \
    X(GT,            MT_NODE_CALL_FUNCTION, "operator.gt",                       MT_PROMO_ALWAYS_BOOL)  \
    X(GE,            MT_NODE_CALL_FUNCTION, "operator.ge",                       MT_PROMO_ALWAYS_BOOL)  \
    X(AND,           MT_NODE_CALL_FUNCTION, "operator.and_",                     MT_PROMO_DEFAULT)      \
    X(OR,            MT_NODE_CALL_FUNCTION, "operator.or_",                      MT_PROMO_DEFAULT)      \
    X(WHERE,         MT_NODE_CALL_FUNCTION, "torch.where",                       MT_PROMO_DEFAULT)      \
    X(MASKED_FILL,   MT_NODE_CALL_METHOD,   "masked_fill",                       MT_PROMO_KEEP_FIRST)   \
    X(NEG,           MT_NODE_CALL_FUNCTION, "operator.neg",                      MT_PROMO_DEFAULT)      \
    X(ABS,           MT_NODE_CALL_FUNCTION, "torch.abs",                         MT_PROMO_COMPLEX_TO_FLOAT) \
    X(RSQRT,         MT_NODE_CALL_FUNCTION, "torch.rsqrt",                       MT_PROMO_INT_TO_FLOAT) \
    X(SQRT,          MT_NODE_CALL_FUNCTION, "torch.sqrt",                        MT_PROMO_INT_TO_FLOAT) \
    X(EXP,           MT_NODE_CALL_FUNCTION, "torch.exp",                         MT_PROMO_INT_TO_FLOAT) \
    X(LOG,           MT_NODE_CALL_FUNCTION, "torch.log",                         MT_PROMO_INT_TO_FLOAT) \
    X(SIN,           MT_NODE_CALL_METHOD,   "sin",                               MT_PROMO_INT_TO_FLOAT) \
    X(COS,           MT_NODE_CALL_METHOD,   "cos",                               MT_PROMO_INT_TO_FLOAT) \
    X(TANH,          MT_NODE_CALL_FUNCTION, "torch.tanh",                        MT_PROMO_INT_TO_FLOAT) \
    X(SIGMOID,       MT_NODE_CALL_FUNCTION, "torch.sigmoid",                     MT_PROMO_INT_TO_FLOAT) \
    X(SILU,          MT_NODE_CALL_FUNCTION, "torch.nn.functional.silu",          MT_PROMO_DEFAULT)      \
    X(GELU,          MT_NODE_CALL_FUNCTION, "torch.nn.functional.gelu",          MT_PROMO_DEFAULT)      \
    X(RELU,          MT_NODE_CALL_FUNCTION, "torch.nn.functional.relu",          MT_PROMO_DEFAULT)      \
    X(TO,            MT_NODE_CALL_METHOD,   "to",                                MT_PROMO_DEFAULT)      \
    X(TYPE_AS,       MT_NODE_CALL_METHOD,   "type_as",                           MT_PROMO_DEFAULT)      \
    X(SUM,           MT_NODE_CALL_METHOD,   "sum",                               MT_PROMO_BOOL_TO_LONG) \
    X(MEAN,          MT_NODE_CALL_METHOD,   "mean",                              MT_PROMO_DEFAULT)      \
    X(AMAX,          MT_NODE_CALL_METHOD,   "amax",                              MT_PROMO_DEFAULT)      \
    X(SOFTMAX,       MT_NODE_CALL_FUNCTION, "torch.nn.functional.softmax",       MT_PROMO_DEFAULT)      \
    X(MATMUL,        MT_NODE_CALL_FUNCTION, "torch.matmul",                      MT_PROMO_DEFAULT)      \
    X(LINEAR,        MT_NODE_CALL_FUNCTION, "torch.nn.functional.linear",        MT_PROMO_DEFAULT)      \
    X(EMBEDDING,     MT_NODE_CALL_FUNCTION, "torch.nn.functional.embedding",     MT_PROMO_DEFAULT)      \
    X(LAYER_NORM,    MT_NODE_CALL_FUNCTION, "torch.nn.functional.layer_norm",    MT_PROMO_DEFAULT)      \
    X(VIEW,          MT_NODE_CALL_METHOD,   "view",                              MT_PROMO_DEFAULT)      \
    X(RESHAPE,       MT_NODE_CALL_METHOD,   "reshape",                           MT_PROMO_DEFAULT)      \
    X(TRANSPOSE,     MT_NODE_CALL_METHOD,   "transpose",                         MT_PROMO_DEFAULT)      \
    X(PERMUTE,       MT_NODE_CALL_METHOD,   "permute",                           MT_PROMO_DEFAULT)      \
    X(UNSQUEEZE,     MT_NODE_CALL_METHOD,   "unsqueeze",                         MT_PROMO_DEFAULT)      \
    X(SQUEEZE,       MT_NODE_CALL_METHOD,   "squeeze",                           MT_PROMO_DEFAULT)      \
    X(EXPAND,        MT_NODE_CALL_METHOD,   "expand",                            MT_PROMO_DEFAULT)      \
    X(CONTIGUOUS,    MT_NODE_CALL_METHOD,   "contiguous",                        MT_PROMO_DEFAULT)      \
    X(CAT,           MT_NODE_CALL_FUNCTION, "torch.cat",                         MT_PROMO_DEFAULT)      \
    X(SPLIT,         MT_NODE_CALL_METHOD,   "split",                             MT_PROMO_DEFAULT)      \
    X(CHUNK,         MT_NODE_CALL_METHOD,   "chunk",                             MT_PROMO_DEFAULT)      \
    X(TOPK,          MT_NODE_CALL_FUNCTION, "torch.topk",                        MT_PROMO_DEFAULT)      \
    X(GETITEM,       MT_NODE_CALL_FUNCTION, "operator.getitem",                  MT_PROMO_DEFAULT)      \
    X(ARANGE,        MT_NODE_CALL_FUNCTION, "torch.arange",                      MT_PROMO_DEFAULT)      \
    X(FULL,          MT_NODE_CALL_FUNCTION, "torch.full",                        MT_PROMO_DEFAULT)      \
    X(TRIU,          MT_NODE_CALL_FUNCTION, "torch.triu",                        MT_PROMO_DEFAULT)      \
    X(SDPA,          MT_NODE_CALL_FUNCTION, "torch.nn.functional.scaled_dot_product_attention", MT_PROMO_DEFAULT) \
    X(DROPOUT,       MT_NODE_CALL_FUNCTION, "torch.nn.functional.dropout",       MT_PROMO_DEFAULT)      \
    X(ONE_HOT,       MT_NODE_CALL_FUNCTION, "torch.nn.functional.one_hot",       MT_PROMO_DEFAULT)      \
    X(NONZERO,       MT_NODE_CALL_FUNCTION, "torch.nonzero",                     MT_PROMO_DEFAULT)      \
    X(INDEX_SELECT,  MT_NODE_CALL_FUNCTION, "torch.index_select",                MT_PROMO_DEFAULT)      \
    X(GATHER,        MT_NODE_CALL_FUNCTION, "torch.gather",                      MT_PROMO_DEFAULT)      \
    X(INDEX_ADD,     MT_NODE_CALL_METHOD,   "index_add_",                        MT_PROMO_DEFAULT)      \
    X(ZEROS,         MT_NODE_CALL_FUNCTION, "torch.zeros",                       MT_PROMO_DEFAULT)      \
    X(ZEROS_LIKE,    MT_NODE_CALL_FUNCTION, "torch.zeros_like",                  MT_PROMO_DEFAULT)      \
    X(SCATTER,       MT_NODE_CALL_METHOD,   "scatter_",                          MT_PROMO_DEFAULT)      \
    X(INVERT,        MT_NODE_CALL_FUNCTION, "operator.invert",                   MT_PROMO_DEFAULT)      \
    X(CLAMP_,        MT_NODE_CALL_METHOD,   "clamp_",                            MT_PROMO_DEFAULT)      \
    X(CLAMP,         MT_NODE_CALL_METHOD,   "clamp",                             MT_PROMO_DEFAULT)      \
    X(REPEAT_INTERLEAVE, MT_NODE_CALL_FUNCTION, "torch.repeat_interleave",           MT_PROMO_DEFAULT)      \
    X(STACK,         MT_NODE_CALL_FUNCTION, "torch.stack",                       MT_PROMO_DEFAULT)      \
    X(FLATTEN,       MT_NODE_CALL_METHOD,   "flatten",                           MT_PROMO_DEFAULT) \
    X(MIN,           MT_NODE_CALL_FUNCTION, "torch.min",                         MT_PROMO_DEFAULT) \
    X(FULL_LIKE,     MT_NODE_CALL_FUNCTION, "torch.full_like",                   MT_PROMO_DEFAULT) \
    X(CUMSUM,        MT_NODE_CALL_FUNCTION, "torch.cumsum",                      MT_PROMO_BOOL_TO_LONG) \
    X(CUMSUM_METHOD, MT_NODE_CALL_METHOD,   "cumsum",                            MT_PROMO_BOOL_TO_LONG) \
    X(CONV2D,        MT_NODE_CALL_FUNCTION, "torch.nn.functional.conv2d",        MT_PROMO_DEFAULT) \
    X(AVG_POOL2D,    MT_NODE_CALL_FUNCTION, "torch.nn.functional.avg_pool2d",    MT_PROMO_DEFAULT) \
    X(MASKED_SCATTER, MT_NODE_CALL_METHOD,  "masked_scatter",                    MT_PROMO_KEEP_FIRST) \
    X(CONV1D,        MT_NODE_CALL_FUNCTION, "torch.nn.functional.conv1d",        MT_PROMO_DEFAULT)      \
    X(PAD,           MT_NODE_CALL_FUNCTION, "torch.nn.functional.pad",           MT_PROMO_DEFAULT)      \
    X(SOFTPLUS,      MT_NODE_CALL_FUNCTION, "torch.nn.functional.softplus",      MT_PROMO_DEFAULT)      \
    X(TRIL,          MT_NODE_CALL_FUNCTION, "torch.tril",                        MT_PROMO_DEFAULT)      \
    X(ONES,          MT_NODE_CALL_FUNCTION, "torch.ones",                        MT_PROMO_DEFAULT)      \
    X(CLAMP_FN,      MT_NODE_CALL_FUNCTION, "torch.clamp",                       MT_PROMO_DEFAULT)      \
    X(REPEAT_INTERLEAVE_METHOD, MT_NODE_CALL_METHOD, "repeat_interleave",         MT_PROMO_DEFAULT) \
    X(BMM,           MT_NODE_CALL_FUNCTION, "torch.bmm",                         MT_PROMO_DEFAULT) \
    X(REPEAT,        MT_NODE_CALL_METHOD,   "repeat",                            MT_PROMO_DEFAULT) \
    X(ONES_LIKE,     MT_NODE_CALL_FUNCTION, "torch.ones_like",                   MT_PROMO_DEFAULT) \
    X(POLAR,         MT_NODE_CALL_FUNCTION, "torch.polar",                       MT_PROMO_DEFAULT) \
    X(VIEW_AS_COMPLEX, MT_NODE_CALL_FUNCTION, "torch.view_as_complex",           MT_PROMO_DEFAULT) \
    X(VIEW_AS_REAL,  MT_NODE_CALL_FUNCTION, "torch.view_as_real",                MT_PROMO_DEFAULT) \
    X(FLOOR,         MT_NODE_CALL_FUNCTION, "torch.floor",                       MT_PROMO_DEFAULT) \
    X(LOG1P,         MT_NODE_CALL_FUNCTION, "torch.log1p",                       MT_PROMO_INT_TO_FLOAT) \
    X(FLOORDIV,      MT_NODE_CALL_FUNCTION, "operator.floordiv",                 MT_PROMO_DEFAULT) \
    X(ADD_,          MT_NODE_CALL_METHOD,   "add_",                              MT_PROMO_KEEP_FIRST) \
    X(CHUNK_GATED_DELTA_RULE, MT_NODE_CALL_FUNCTION,                                                 \
      "transformers.models.qwen3_next.modeling_qwen3_next.torch_chunk_gated_delta_rule", MT_PROMO_DEFAULT) \
    X(UNFOLD,        MT_NODE_CALL_FUNCTION, "torch.nn.functional.unfold",        MT_PROMO_DEFAULT) \
    X(SELECTIVE_SCAN, MT_NODE_CALL_FUNCTION, "mamba_ssm.ops.selective_scan_interface.selective_scan_fn", MT_PROMO_DEFAULT) \
    X(LIGHTNING_ATTENTION, MT_NODE_CALL_FUNCTION, "metatrace.ops.lightning_attention", MT_PROMO_DEFAULT) \
    X(CONV3D,        MT_NODE_CALL_FUNCTION, "torch.nn.functional.conv3d",        MT_PROMO_DEFAULT) \
    X(UNBIND,        MT_NODE_CALL_METHOD,   "unbind",                            MT_PROMO_DEFAULT) \
    X(OUTER,         MT_NODE_CALL_FUNCTION, "torch.outer",                       MT_PROMO_DEFAULT) \
    X(ARGSORT,       MT_NODE_CALL_FUNCTION, "torch.argsort",                     MT_PROMO_DEFAULT) \
    X(STD,           MT_NODE_CALL_FUNCTION, "torch.std",                         MT_PROMO_DEFAULT) \
    X(CLONE,         MT_NODE_CALL_METHOD,   "clone",                             MT_PROMO_DEFAULT) \
    X(TENSOR,        MT_NODE_CALL_FUNCTION, "torch.tensor",                      MT_PROMO_DEFAULT)

typedef enum mt_op_id {
#define MT_X_ENUM(id, kind, target, promo) MT_OP_##id,
    MT_OPS(MT_X_ENUM)
#undef MT_X_ENUM
    MT_OP_COUNT
} mt_op_id;

typedef struct mt_opdef {
    const char *name;   /* lower-case id: "add", "matmul" */
    mt_opkind kind;
    const char *target; /* FX target */
    mt_promo_kind promo;
} mt_opdef;

MT_API const mt_opdef *mt_op_def(mt_op_id id);
/* Look up by FX kind + target (call_function "torch.matmul", call_method "view"). */
MT_API int mt_op_find(mt_opkind kind, const char *target); /* -1 if unknown */

/* Apply the op's shape/dtype rule without recording anything. On success
 * fills outs[0..*nout) (META tensors, node NULL) and sets *is_tuple.
 * On failure returns NULL-equivalent status with a message on ctx that names
 * the op and prints the input shapes. `outs` must hold MT_MAX_OUTS entries. */
#define MT_MAX_OUTS 64
MT_API mt_status mt_op_infer(mt_ctx *ctx, mt_op_id id, const mt_arg *args, int nargs,
                      const mt_kwarg *kwargs, int nkwargs, mt_tensor *outs, int *nout,
                      bool *is_tuple);

#ifdef __cplusplus
}
#endif
#endif
