/* metatrace — module tree, parameters, the meta scope and leaf modules. */
#ifndef METATRACE_NN_H
#define METATRACE_NN_H

#include "graph.h"

#ifdef __cplusplus
extern "C" {
#endif

struct mt_tracer;

/* A parameter or buffer, named exactly as in the Hugging Face state_dict. */
typedef struct mt_param {
    const char *name;          /* full dotted path: "model.layers.0.self_attn.q_proj.weight" */
    const char *local;         /* "weight" */
    struct mt_module *owner;
    mt_tensor *t;
    bool is_buffer;
    bool persistent;           /* buffers: saved in state_dict */
    bool computed;             /* buffers: must be computed at materialization (rotary inv_freq) */
    struct mt_param *tied_to;  /* non-NULL: an alias of that parameter (counted once) */
} mt_param;

/* Leaf module kinds: torch.nn built-ins that FX treats as leaves (call_module).
 * ORDER mt_leaf_kind: keep in step with the table in src/nn.c. */
typedef enum mt_leaf_kind {
    MT_LEAF_NONE = -1,         /* model-specific module: traced through */
    MT_LEAF_LINEAR = 0,
    MT_LEAF_EMBEDDING,
    MT_LEAF_LAYERNORM,
    MT_LEAF_DROPOUT,
    MT_LEAF_ACT,               /* activation module (SiLU, GELU, ReLU, Tanh, ...) */
    MT_LEAF_CONV1D,            /* transformers' Conv1D (GPT-2): weight [in, out], bias [out] */
    MT_LEAF_NN_CONV1D,         /* torch.nn.Conv1d: weight [out, in / groups, kernel], bias [out] (Mamba's depthwise conv) */
    MT_LEAF_COUNT
} mt_leaf_kind;

typedef struct mt_module {
    const char *name;          /* local name ("q_proj"); "" for the root */
    const char *path;          /* dotted path ("model.layers.0.self_attn.q_proj"); "" for root */
    const char *type;          /* class name ("LlamaAttention", "Linear") */
    mt_leaf_kind leaf;
    struct mt_module *parent;
    mt_vec children;           /* mt_module* in registration order */
    mt_vec params;             /* mt_param* (parameters then buffers, registration order) */
    mt_kwarg *attrs;           /* constructor attributes (in_features, eps, ...); set with mt_module_attr */
    int nattrs;
} mt_module;

/* A module registered as `name` under parent (NULL: a root), of class
 * `type`; owned by ctx, NULL with MT_ERR_NOMEM. The library keeps private
 * state beside mt_module's fields: modules are only ever made here (and by
 * the leaf constructors), never declared or copied by value. */
MT_API mt_module *mt_module_new(mt_ctx *ctx, mt_module *parent, const char *name, const char *type);
/* Child names may be ints ("0") for ModuleList entries. */
MT_API mt_module *mt_module_child(const mt_module *m, const char *name);
MT_API mt_module *mt_module_find(const mt_module *root, const char *path);
/* Set a constructor attribute; setting one again replaces its value in place. */
MT_API void mt_module_attr(mt_ctx *ctx, mt_module *m, const char *name, mt_arg value);
MT_API const mt_arg *mt_module_get_attr(const mt_module *m, const char *name);

/* ---- typed handles bound at build (docs/ARCHITECTURE.md, Decisions) -------
 * A family's build binds to each module its forward reads a handle: a struct
 * of the child modules and parameters that forward needs, filled at build
 * (the pointers the build got, or mt_bind_child/mt_bind_param for a
 * descendant a shared constructor made), so the forward reads pointers, never
 * names. A kind names the handle's type; each module holds at most one
 * handle, and reading it as another kind is an error, not a bad cast. */
typedef struct mt_handle_kind {
    const char *name;          /* the handle's type, for messages ("mt_attn_h") */
} mt_handle_kind;
/* A zeroed handle of `size` bytes in ctx's arena bound to m as `kind` (the
 * same handle when m is bound as kind already). NULL for a NULL m, on
 * MT_ERR_NOMEM, or when m is bound as another kind (MT_ERR_INTERNAL naming
 * the module and both kinds). */
MT_API void *mt_module_bind(mt_ctx *ctx, mt_module *m, const mt_handle_kind *kind, size_t size);
/* m's handle when it is bound as kind, else NULL (no error: for a module
 * that may or may not have one). */
MT_API void *mt_module_bound(const mt_module *m, const mt_handle_kind *kind);
/* m's handle of kind; NULL with MT_ERR_INTERNAL naming the module's path when
 * it has none or one of another kind. A NULL m returns NULL without a new
 * error. Forwards read it through mt_tr_bound (family.h). */
MT_API void *mt_module_bound_checked(mt_ctx *ctx, const mt_module *m, const mt_handle_kind *kind);
/* The child `name` of m for a build binding a handle: NULL with
 * MT_ERR_INTERNAL naming the path when it is missing ("module
 * 'model.layers.0.self_attn' (LlamaAttention) has no child 'q_proj'"), so
 * the build fails there rather than a trace later. A NULL m returns NULL. */
MT_API mt_module *mt_bind_child(mt_ctx *ctx, const mt_module *m, const char *name);
/* The parameter or buffer `name` of m (its own), likewise. */
MT_API mt_param *mt_bind_param(mt_ctx *ctx, const mt_module *m, const char *name);

/* ---- the meta scope (the MetaAwareMethodsPatcher of metatrace) -------------
 * While a scope is open, every parameter-allocating constructor has its
 * requested device replaced by META: shape and dtype, no storage. Scopes nest;
 * leaving the last one restores the caller's device choice. */
MT_API void mt_meta_scope_enter(mt_ctx *ctx);
MT_API void mt_meta_scope_exit(mt_ctx *ctx);
MT_API int mt_meta_scope_depth(const mt_ctx *ctx);
/* The device a constructor must use for a caller's request. */
MT_API mt_device mt_meta_init(mt_ctx *ctx, mt_device requested);

/* Register a parameter / buffer on m. The device goes through mt_meta_init;
 * on CPU zeroed storage is allocated (dims must then be concrete). NULL on
 * error (overflow, out of memory). */
MT_API mt_param *mt_param_new(mt_ctx *ctx, mt_module *m, const char *local, mt_dtype dt,
                       mt_device requested, int ndim, const int64_t *shape);
MT_API mt_param *mt_buffer_new(mt_ctx *ctx, mt_module *m, const char *local, mt_dtype dt,
                        mt_device requested, int ndim, const int64_t *shape,
                        bool persistent, bool computed);
/* Register `local` on m as an alias of `target` (tie_word_embeddings). */
MT_API mt_param *mt_param_tie(mt_ctx *ctx, mt_module *m, const char *local, mt_param *target);
MT_API mt_param *mt_module_param(const mt_module *m, const char *local);

/* Leaf constructors (torch.nn signatures). */
MT_API mt_module *mt_nn_linear(mt_ctx *ctx, mt_module *parent, const char *name, int64_t in_features,
                        int64_t out_features, bool bias, mt_dtype dt, mt_device dev);
/* A Linear whose weight is tied to an existing [out, in] parameter (lm_head
 * under tie_word_embeddings): no new storage, the alias is listed once. */
MT_API mt_module *mt_nn_linear_tied(mt_ctx *ctx, mt_module *parent, const char *name, mt_param *weight);
MT_API mt_module *mt_nn_embedding(mt_ctx *ctx, mt_module *parent, const char *name, int64_t num,
                           int64_t dim, mt_dtype dt, mt_device dev);
MT_API mt_module *mt_nn_layernorm(mt_ctx *ctx, mt_module *parent, const char *name, int64_t dim,
                           double eps, bool elementwise_affine, bool bias, mt_dtype dt,
                           mt_device dev);
/* transformers.pytorch_utils.Conv1D(nf, nx): weight stored [nx, nf] (in, out), bias [nf]. */
MT_API mt_module *mt_nn_conv1d(mt_ctx *ctx, mt_module *parent, const char *name, int64_t nf, int64_t nx,
                        mt_dtype dt, mt_device dev);
/* torch.nn.Conv1d(in_channels, out_channels, kernel_size, stride=1, padding, dilation=1, groups, bias):
 * weight [out, in / groups, kernel], bias [out]; forward F.conv1d(x, weight, bias, 1, padding, 1, groups). */
MT_API mt_module *mt_nn_conv1d_nn(mt_ctx *ctx, mt_module *parent, const char *name, int64_t in_channels,
                           int64_t out_channels, int64_t kernel_size, int64_t padding, int64_t groups, bool bias,
                           mt_dtype dt, mt_device dev);
MT_API mt_module *mt_nn_dropout(mt_ctx *ctx, mt_module *parent, const char *name, double p);
/* type: "SiLU", "GELU" (approximate "none"/"tanh" in attr), "ReLU", "Tanh", "GELUTanh",
 * "NewGELUActivation", ... */
MT_API mt_module *mt_nn_act(mt_ctx *ctx, mt_module *parent, const char *name, const char *type);

/* The meta-aware forward of a leaf module: checks the input against the
 * module's attributes, infers the output and records a call_module node.
 * Stays in force after the scope closes. NULL on error (message on ctx). */
MT_API mt_tensor *mt_leaf_forward(struct mt_tracer *tr, mt_module *m, mt_tensor *x);

#ifdef __cplusplus
}
#endif
#endif
