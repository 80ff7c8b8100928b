/* metatrace — the API for writing a model family (docs/CONTRIBUTING.md).
 *
 * A family's build creates its module tree (nn.h) and records what reports
 * show (mt_model_info); its forward records the graph through a tracer: the
 * op table's rules (graph.h) behind mt_tr_op and the wrappers below. Programs
 * that only load, trace and export models need none of this: metatrace.h is
 * their header. Family sources include this one. */
#ifndef METATRACE_FAMILY_H
#define METATRACE_FAMILY_H

#include "graph.h"
#include "model.h"
#include "nn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The model as a family's build and forward see it (model.h declares it
 * opaque: programs that load, trace and export read it through mt_model_*
 * accessors). mt_model_build allocates it, fills ctx to root (an empty root
 * module of class class_name; dtype resolved) and calls the family's build,
 * which reads the config, sets num_layers, resolves attn (mt_attn_choose),
 * builds the tree under root and sets family; the library fills params and
 * buffers after it (mt_model_collect). The library's own
 * state (the recorded info, the trace's bindings) is behind priv: never read
 * or written by family code. A program tracing by hand may zero-initialise a
 * model on its stack and set ctx and root. */
struct mt_model {
    mt_ctx *ctx;
    mt_config *cfg;           /* the config built from (a text_config view for a multimodal one traced
                                 as its language model) */
    const mt_arch *arch;
    const char *model_type;
    const char *class_name;   /* architectures[0] or the arch's default_class */
    mt_dtype dtype;           /* parameter dtype */
    int64_t num_layers;
    mt_attn_impl attn;        /* requested; the family's build resolves it (mt_attn_choose, src/models/blocks.h) */
    bool attn_resolved;       /* true when it did: attn is then EAGER or SDPA */
    const char *note;         /* what a reader must know (a multimodal config traced as its
                                 language model), or NULL */
    mt_module *root;
    mt_vec params;            /* mt_param*: named_parameters order; tied aliases included, flagged */
    mt_vec buffers;           /* mt_param* with is_buffer */
    void *family;             /* the family's own resolved config: set by build, read by forward and totals */
    mt_vec inputs;            /* mt_tensor*: the trace's placeholders in order (input_ids, attention_mask,
                                 then those the family's forward adds) */
    struct mt_model_private *priv; /* the library's (src/model_internal.h) */
};

/* Record a resolved hyper-parameter for reports (mt_model_info_at, the
 * JSON's model.info): name is kept, not copied (a literal or arena string).
 * On allocation failure nothing is recorded and MT_ERR_NOMEM is set. */
MT_API void mt_model_info(mt_model *m, const char *name, mt_arg value);
/* Walk the module tree and fill m->params / m->buffers (done by mt_model_build). */
MT_API void mt_model_collect(mt_model *m);

/* The deepest module nesting a trace records (mt_tr_enter fails beyond it). */
#define MT_MAX_STACK 32
/* A tracer records one forward into a graph. It lives where its caller puts
 * it (mt_model_trace: on its stack) and is set up by mt_tr_init; the module
 * stack it keeps is behind priv (trace/tracer.c). */
typedef struct mt_tracer {
    mt_ctx *ctx;
    mt_graph *g;
    mt_model *model;
    struct mt_tracer_private *priv;
} mt_tracer;

/* A dim of a model input named `name` ("batch", "seq", "dec_seq"): the bound
 * constant when the trace binds it (--bind), else the symbol (origin "input").
 * Families creating extra placeholders (decoder_input_ids) use it so every
 * input symbol can be bound. */
MT_API const mt_sym *mt_model_input_dim(mt_model *m, const char *name);

/* Set up tr to record into g (nodes in g's context) for the model m; its
 * module stack is allocated in the arena (MT_ERR_NOMEM on failure: every
 * later tracer call then records nothing and returns NULL). */
MT_API void mt_tr_init(mt_tracer *tr, mt_model *m, mt_graph *g);
/* Enter module m: nodes recorded until the matching mt_tr_leave carry it on
 * their module stack (mt_node.stack). A NULL m (a failed lookup) keeps
 * enter/leave balanced and records nothing new. */
MT_API void mt_tr_enter(mt_tracer *tr, mt_module *m);
MT_API void mt_tr_leave(mt_tracer *tr);
MT_API mt_tensor *mt_tr_placeholder(mt_tracer *tr, const char *name, mt_dtype dt, int ndim,
                             const mt_sym *const *shape);
MT_API mt_tensor *mt_tr_get_attr(mt_tracer *tr, mt_param *p);
/* Record an op of the table. Any NULL tensor argument makes this return NULL
 * without recording (errors propagate). */
MT_API mt_node *mt_tr_op(mt_tracer *tr, mt_op_id id, const mt_arg *args, int nargs,
                  const mt_kwarg *kwargs, int nkwargs);
MT_API mt_tensor *mt_tr_op1(mt_tracer *tr, mt_op_id id, const mt_arg *args, int nargs,
                     const mt_kwarg *kwargs, int nkwargs);
/* getitem on a tuple-producing node. */
MT_API mt_tensor *mt_tr_item(mt_tracer *tr, mt_node *tuple, int i);
/* call_module on a leaf (its meta-aware forward). */
MT_API mt_tensor *mt_tr_call(mt_tracer *tr, mt_module *leaf, mt_tensor *x);
/* The handle of `kind` bound to m at build (nn.h, mt_module_bind): how a
 * forward reaches the modules and parameters it needs. NULL and an error
 * naming the path when m has none or one of another kind ("module
 * 'model.layers.0.self_attn' (LlamaAttention) has no bound mt_attn_h"); a
 * NULL m returns NULL without a new error. */
MT_API void *mt_tr_bound(mt_tracer *tr, const mt_module *m, const mt_handle_kind *kind);
/* The child `name` of m for a forward that needs it (kept for family code
 * written before handles; the families in the tree read mt_tr_bound): NULL and an error naming
 * the path when it is missing ("module 'model.layers.0.self_attn'
 * (LlamaAttention) has no child 'q_proj'"). A NULL m returns NULL without a new
 * error (the lookup that gave it failed first). Optional children are asked
 * with mt_module_child. */
MT_API mt_module *mt_tr_child(mt_tracer *tr, const mt_module *m, const char *name);
/* The parameter or buffer `name` of m (its own, not a descendant's), likewise. */
MT_API mt_param *mt_tr_param(mt_tracer *tr, const mt_module *m, const char *name);
MT_API mt_status mt_tr_output(mt_tracer *tr, mt_tensor *const *outs, int n);

/* Convenience wrappers over mt_tr_op (NULL in, NULL out). */
MT_API mt_tensor *mt_add(mt_tracer *tr, mt_tensor *a, mt_tensor *b);
MT_API mt_tensor *mt_sub(mt_tracer *tr, mt_tensor *a, mt_tensor *b);
MT_API mt_tensor *mt_mul(mt_tracer *tr, mt_tensor *a, mt_tensor *b);
MT_API mt_tensor *mt_div(mt_tracer *tr, mt_tensor *a, mt_tensor *b);
MT_API mt_tensor *mt_add_s(mt_tracer *tr, mt_tensor *a, double s);
MT_API mt_tensor *mt_mul_s(mt_tracer *tr, mt_tensor *a, double s);
MT_API mt_tensor *mt_div_s(mt_tracer *tr, mt_tensor *a, double s);
MT_API mt_tensor *mt_pow_s(mt_tracer *tr, mt_tensor *a, double e);
MT_API mt_tensor *mt_unary(mt_tracer *tr, mt_op_id id, mt_tensor *a);
MT_API mt_tensor *mt_gelu(mt_tracer *tr, mt_tensor *a, const char *approximate);
MT_API mt_tensor *mt_to(mt_tracer *tr, mt_tensor *a, mt_dtype dt);
MT_API mt_tensor *mt_reduce(mt_tracer *tr, mt_op_id id, mt_tensor *a, int64_t dim, bool keepdim);
MT_API mt_tensor *mt_softmax(mt_tracer *tr, mt_tensor *a, int64_t dim, mt_dtype dt);
MT_API mt_tensor *mt_matmul(mt_tracer *tr, mt_tensor *a, mt_tensor *b);
MT_API mt_tensor *mt_view(mt_tracer *tr, mt_tensor *a, int n, const mt_sym *const *dims); /* NULL dim = -1 */
MT_API mt_tensor *mt_reshape(mt_tracer *tr, mt_tensor *a, int n, const mt_sym *const *dims);
MT_API mt_tensor *mt_transpose(mt_tracer *tr, mt_tensor *a, int64_t d0, int64_t d1);
MT_API mt_tensor *mt_permute(mt_tracer *tr, mt_tensor *a, int n, const int64_t *perm);
MT_API mt_tensor *mt_unsqueeze(mt_tracer *tr, mt_tensor *a, int64_t dim);
MT_API mt_tensor *mt_expand(mt_tracer *tr, mt_tensor *a, int n, const mt_sym *const *dims); /* NULL = -1 */
MT_API mt_tensor *mt_contiguous(mt_tracer *tr, mt_tensor *a);
MT_API mt_tensor *mt_cat(mt_tracer *tr, mt_tensor *const *ts, int n, int64_t dim);
MT_API mt_node *mt_split(mt_tracer *tr, mt_tensor *a, int n, const int64_t *sizes, int64_t dim);
MT_API mt_node *mt_chunk(mt_tracer *tr, mt_tensor *a, int64_t chunks, int64_t dim);
/* x[..., start:stop] along the last dim (stop NULL = end). */
MT_API mt_tensor *mt_slice_last(mt_tracer *tr, mt_tensor *a, const mt_sym *start, const mt_sym *stop);
MT_API mt_tensor *mt_index(mt_tracer *tr, mt_tensor *a, const mt_arg *idx, int n); /* a[idx...] */

#ifdef __cplusplus
}
#endif

#endif
