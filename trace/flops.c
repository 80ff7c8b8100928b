/* FLOPs per node (sizing.h): one FLOP rule per op, in one table indexed by op
 * id, next to the shape rules of trace/ops.c. The conventions (what counts,
 * and how much) are stated in docs/sizing.md, section "FLOPs"; each rule below
 * names the one it applies.
 *
 * Every count is a symbolic polynomial built with the checked mt_sym
 * arithmetic, so it stays exact in batch, seq and the data-dependent nnz_k.
 * The rules read a node's recorded arguments and outputs, which its shape rule
 * has already validated; a node that does not look like it (hand-made, or a
 * table out of step) is an MT_ERR_INTERNAL, never a silent 0. */
#include <metatrace/nn.h>
#include <metatrace/sizing.h>

#include "opinfo_internal.h"

/* Internal, for tests/unit/test_flops.c (which declares it itself): the rule
 * kind of op `opid` ("zero", "elementwise", ...), NULL when the table has no
 * row for it or the id is out of range. */
const char *mt__flops_rule_name(int opid);
bool mt__flops_always_zero(const mt_node *n);

/* FLOPs per element of the conventions that are not 1 (docs/sizing.md). */
enum {
    FL_SOFTMAX = 5,    /* max, subtract, exp, sum, divide */
    FL_LAYER_NORM = 5, /* mean (sum), subtract, square, sum (variance), scale by 1/std */
};

typedef const mt_sym *(*flop_fn)(mt_ctx *ctx, const mt_node *n);

typedef struct flop_rule {
    const char *name; /* the convention's name, as in docs/sizing.md */
    flop_fn fn;
} flop_rule;

/* ---- reading a recorded node ----------------------------------------------
 * Parameters by name through the op's signature (mt__node_tensor, the op
 * table); NULL when absent or None. */

static const mt_sym *bad_node(mt_ctx *ctx, const mt_node *n, const char *what) {
    mt_fail(ctx, MT_ERR_INTERNAL, "FLOPs of node %s (%s): %s", n->name ? n->name : "?",
            n->target ? n->target : "?", what);
    return NULL;
}

static const mt_tensor *out0(const mt_node *n) { return n->nout > 0 && n->outs ? &n->outs[0] : NULL; }

/* A module attribute that is a size: an int or a symbolic int. */
static const mt_sym *attr_dim(mt_ctx *ctx, const mt_module *m, const char *name) {
    const mt_arg *a = mt_module_get_attr(m, name);
    if (a && a->kind == MT_ARG_INT) return mt_sym_const(ctx, a->v.i);
    if (a && a->kind == MT_ARG_SYM) return a->v.sym;
    return NULL;
}

/* ---- shared counts ------------------------------------------------------------ */

/* A product y = x·W (+ b) with `out_numel` outputs, each a dot product of
 * length k: 2·out·k, plus out for the bias. */
static const mt_sym *product_flops(mt_ctx *ctx, const mt_sym *out_numel, const mt_sym *k, bool bias) {
    const mt_sym *f = mt_sym_mul_const(ctx, mt_sym_mul(ctx, out_numel, k), 2);
    return bias ? mt_sym_add(ctx, f, out_numel) : f;
}

/* layer_norm over x: FL_LAYER_NORM per element, +1 each for the weight and the bias. */
static const mt_sym *layer_norm_flops(mt_ctx *ctx, const mt_tensor *x, bool weight, bool bias) {
    return mt_sym_mul_const(ctx, mt_tensor_numel(ctx, x), FL_LAYER_NORM + (weight ? 1 : 0) + (bias ? 1 : 0));
}

/* ---- rules per op ---------------------------------------------------------------- */

/* Shape ops, indexing, constructors, casts, embedding lookups, inference dropout. */
static const mt_sym *fl_zero(mt_ctx *ctx, const mt_node *n) {
    (void)n;
    return mt_sym_const(ctx, 0);
}

/* One per output element (broadcast shape; the in-place ops' self). */
static const mt_sym *fl_elementwise(mt_ctx *ctx, const mt_node *n) {
    const mt_tensor *y = out0(n);
    return y ? mt_tensor_numel(ctx, y) : bad_node(ctx, n, "no output");
}

/* One per input element (the tensor reduced or searched, first argument). */
static const mt_sym *fl_reduction(mt_ctx *ctx, const mt_node *n) {
    const mt_tensor *x = mt__node_tensor(n, "input");
    return x ? mt_tensor_numel(ctx, x) : bad_node(ctx, n, "no input tensor");
}

static const mt_sym *fl_softmax(mt_ctx *ctx, const mt_node *n) {
    const mt_tensor *x = mt__node_tensor(n, "input");
    return x ? mt_sym_mul_const(ctx, mt_tensor_numel(ctx, x), FL_SOFTMAX) : bad_node(ctx, n, "no input tensor");
}

/* torch.matmul in every rank case: each output element is a dot product over
 * the inner dim, the last dim of the first operand (1-D·1-D: a 0-dim output
 * of one element). Broadcast batch dims are in the output's numel. */
static const mt_sym *fl_matmul(mt_ctx *ctx, const mt_node *n) {
    const mt_tensor *a = mt__node_tensor(n, "input"), *y = out0(n);
    if (!a || !y || a->ndim < 1) return bad_node(ctx, n, "expected input [..., k] and an output");
    return product_flops(ctx, mt_tensor_numel(ctx, y), a->shape[a->ndim - 1], false);
}

/* F.linear(x [..., in], W [out, in] or [in], b): rows·out outputs, each of in
 * multiply-adds, + rows·out for the bias. */
static const mt_sym *fl_linear(mt_ctx *ctx, const mt_node *n) {
    const mt_tensor *w = mt__node_tensor(n, "weight"), *y = out0(n);
    if (!w || !y || w->ndim < 1) return bad_node(ctx, n, "expected a weight [out, in] and an output");
    return product_flops(ctx, mt_tensor_numel(ctx, y), w->shape[w->ndim - 1], mt__node_tensor(n, "bias") != NULL);
}

/* F.conv1d / conv2d / conv3d (x, W [out, in / groups, *kernel], b): each output
 * element a dot product of in / groups · (the kernel's elements) terms, 2 FLOPs
 * each, plus one add for the bias. */
static const mt_sym *fl_conv(mt_ctx *ctx, const mt_node *n) {
    const mt_tensor *w = mt__node_tensor(n, "weight"), *y = out0(n);
    if (!w || !y || w->ndim < 3) return bad_node(ctx, n, "expected a weight [out, in / groups, *kernel] and an output");
    return product_flops(ctx, mt_tensor_numel(ctx, y), mt_sym_prod(ctx, w->shape + 1, w->ndim - 1),
                         mt__node_tensor(n, "bias") != NULL);
}

/* selective_scan(u [b, d, L], delta, A [d, n], B, C, D, z, delta_bias): per state element
 * and step 8 (delta*A, exp, delta*B, *u, the decay multiply, the add, *C, the sum over the
 * state); per channel and step 2 for the D skip (multiply, add), 2 for the gate z (silu,
 * multiply), 1 for delta_bias and 1 for the softplus when given. */
static const mt_sym *fl_selective_scan(mt_ctx *ctx, const mt_node *n) {
    const mt_tensor *u = mt__node_tensor(n, "u"), *A = mt__node_tensor(n, "A");
    if (!u || !A || A->ndim != 2) return bad_node(ctx, n, "expected u [b, d, L] and A [d, n]");
    const mt_arg *sp = mt__node_arg(n, "delta_softplus");
    int64_t per = (mt__node_tensor(n, "D") ? 2 : 0) + (mt__node_tensor(n, "z") ? 2 : 0) +
                  (mt__node_tensor(n, "delta_bias") ? 1 : 0) + (sp && sp->kind == MT_ARG_BOOL && sp->v.b ? 1 : 0);
    const mt_sym *numel = mt_tensor_numel(ctx, u);
    const mt_sym *state = mt_sym_mul_const(ctx, mt_sym_mul(ctx, numel, A->shape[1]), 8);
    return mt_sym_add(ctx, state, mt_sym_mul_const(ctx, numel, per));
}

/* lightning_attention(q [b, h, L, d], k, v [b, h, L, e], decays with block size B), the
 * loop of MiniMaxLightningAttention per block: intra-block q·kᵀ (2·d per pair), the decay
 * multiply (1) and ·v (2·e), with every block counted full (B pairs per query: the last
 * block's partial square is over-counted by at most B² pairs); inter-block q·decay (d) and
 * ·state (2·d·e) and the add (e) per query; the next state's k·decay (d) and kᵀ·v (2·d·e)
 * per key, and the state's decay and add (2·d·e) once per block, ceil(L / B) blocks. */
static const mt_sym *fl_lightning(mt_ctx *ctx, const mt_node *n) {
    const mt_tensor *q = mt__node_tensor(n, "query"), *v = mt__node_tensor(n, "value"),
                    *qd = mt__node_tensor(n, "query_decay");
    if (!q || !v || !qd || q->ndim != 4 || v->ndim != 4 || qd->ndim != 3 || !mt_sym_is_const(qd->shape[1]))
        return bad_node(ctx, n, "expected q [b, h, L, d], v [b, h, L, e] and query_decay [h, B, 1]");
    int64_t B = mt_sym_const_value(qd->shape[1]);
    if (!mt_sym_is_const(q->shape[3]) || !mt_sym_is_const(v->shape[3]))
        return bad_node(ctx, n, "expected constant head dims");
    int64_t d = mt_sym_const_value(q->shape[3]), e = mt_sym_const_value(v->shape[3]);
    const mt_sym *bhl = mt_sym_mul(ctx, mt_sym_mul(ctx, q->shape[0], q->shape[1]), q->shape[2]);
    const mt_sym *bh = mt_sym_mul(ctx, q->shape[0], q->shape[1]);
    const mt_sym *blocks = mt_sym_floordiv(ctx, mt_sym_add_const(ctx, q->shape[2], B - 1), B);
    int64_t per_query = B * (2 * d + 1 + 2 * e) + d + 2 * d * e + e + d + 2 * d * e;
    const mt_sym *f = mt_sym_mul_const(ctx, bhl, per_query);
    return mt_sym_add(ctx, f, mt_sym_mul_const(ctx, mt_sym_mul(ctx, bh, blocks), 2 * d * e));
}

static const mt_sym *fl_layer_norm(mt_ctx *ctx, const mt_node *n) {
    const mt_tensor *x = mt__node_tensor(n, "input");
    if (!x) return bad_node(ctx, n, "no input tensor");
    return layer_norm_flops(ctx, x, mt__node_tensor(n, "weight") != NULL, mt__node_tensor(n, "bias") != NULL);
}

/* sdpa(q [.., h, sq, dk], k [.., hk, sk, dk], v [.., hk, sk, dv]) -> [.., h, sq, dv]:
 * over the whole score matrix of R = B·h·sq rows by sk (R from the output, so
 * broadcasting and GQA count h query heads): scores 2·R·sk·dk, weighted sum
 * 2·R·sk·dv, softmax FL_SOFTMAX·R·sk. No causal/window halving, no scale or
 * mask add (docs/sizing.md). */
static const mt_sym *fl_sdpa(mt_ctx *ctx, const mt_node *n) {
    const mt_tensor *q = mt__node_tensor(n, "query"), *k = mt__node_tensor(n, "key");
    const mt_tensor *v = mt__node_tensor(n, "value"), *y = out0(n);
    if (!q || !k || !v || !y || q->ndim < 2 || k->ndim < 2 || v->ndim < 2 || y->ndim < 1)
        return bad_node(ctx, n, "expected query, key, value of rank >= 2 and an output");
    const mt_sym *rows = mt_sym_prod(ctx, y->shape, y->ndim - 1);
    const mt_sym *cells = mt_sym_mul(ctx, rows, k->shape[k->ndim - 2]);
    const mt_sym *per = mt_sym_add_const(
        ctx, mt_sym_mul_const(ctx, mt_sym_add(ctx, q->shape[q->ndim - 1], v->shape[v->ndim - 1]), 2), FL_SOFTMAX);
    return mt_sym_mul(ctx, cells, per);
}

/* torch_chunk_gated_delta_rule(q, k [B, T, H, K], v [B, T, H, V], g, beta,
 * chunk_size C): per batch, head and chunk of the N = ceil(T / C) chunks (the
 * sequence padded to N·C), the products of the chunked algorithm, 2 per
 * multiply-add: k_beta·kᵀ, attn·(k_beta·exp g), q·kᵀ (3 of C·C·K), attn·v_beta,
 * attn·v_new (2 of C·C·V), k_cumdecay·S, (q·exp g)·S, kᵀ·v_new (3 of C·K·V), and
 * the forward substitution of the C×C block (row i: i·i multiply-adds for
 * i < C, Σ 2i² = (C−1)·C·(2C−1)/3). Elementwise work (decays, exps, masks, the
 * l2 norms: O(T·(K+V) + N·C²)) is not counted (docs/sizing.md). */
static const mt_sym *fl_chunk_gdr(mt_ctx *ctx, const mt_node *n) {
    const mt_tensor *k = mt__node_tensor(n, "key"), *v = mt__node_tensor(n, "value");
    int64_t C = 64;
    if (mt__node_arg(n, "chunk_size") && !mt__node_int(n, "chunk_size", &C))
        return bad_node(ctx, n, "chunk_size is not an int");
    if (!k || !v || k->ndim != 4 || v->ndim != 4 || C < 1)
        return bad_node(ctx, n, "expected key and value [batch, seq, heads, dim] and chunk_size >= 1");
    const mt_sym *K = k->shape[3], *V = v->shape[3];
    const mt_sym *chunks = mt_sym_floordiv(ctx, mt_sym_add_const(ctx, k->shape[1], C - 1), C);
    const mt_sym *bhn = mt_sym_mul(ctx, mt_sym_mul(ctx, k->shape[0], k->shape[2]), chunks);
    const mt_sym *kk = mt_sym_mul_const(ctx, K, 6 * C * C), *vv = mt_sym_mul_const(ctx, V, 4 * C * C);
    const mt_sym *kv = mt_sym_mul_const(ctx, mt_sym_mul(ctx, K, V), 6 * C);
    const mt_sym *per = mt_sym_add_const(ctx, mt_sym_add(ctx, mt_sym_add(ctx, kk, vv), kv), (C - 1) * C * (2 * C - 1) / 3);
    return mt_sym_mul(ctx, bhn, per);
}

/* torch.min: torch.min(input) reduces (input numel); torch.min(input, other)
 * is elementwise (output numel). Same split as its shape rule. */
static const mt_sym *fl_min(mt_ctx *ctx, const mt_node *n) {
    return n->nargs == 1 && n->nkwargs == 0 ? fl_reduction(ctx, n) : fl_elementwise(ctx, n);
}

/* self.index_add_(dim, index, source): one add per source element. */
static const mt_sym *fl_index_add(mt_ctx *ctx, const mt_node *n) {
    const mt_tensor *src = mt__node_tensor(n, "source");
    return src ? mt_tensor_numel(ctx, src) : bad_node(ctx, n, "no source tensor");
}

/* self.scatter_(dim, index, src, reduce=None): a plain scatter copies (0); with
 * reduce='add'/'multiply' one op per index element. */
static const mt_sym *fl_scatter(mt_ctx *ctx, const mt_node *n) {
    if (!mt__node_arg(n, "reduce")) return mt_sym_const(ctx, 0);
    const mt_tensor *idx = mt__node_tensor(n, "index");
    return idx ? mt_tensor_numel(ctx, idx) : bad_node(ctx, n, "no index tensor");
}

/* F.avg_pool2d(x, kernel_size, ...): per output element kh·kw - 1 adds and one
 * divide, kh·kw. */
static const mt_sym *fl_avg_pool2d(mt_ctx *ctx, const mt_node *n) {
    const mt_arg *k = mt__node_arg(n, "kernel_size");
    const mt_tensor *y = out0(n);
    int64_t kk;
    if (k && k->kind == MT_ARG_INT) kk = k->v.i * k->v.i;
    else if (k && k->kind == MT_ARG_LIST && k->v.list.n >= 1 && k->v.list.items[0].kind == MT_ARG_INT &&
             k->v.list.items[k->v.list.n - 1].kind == MT_ARG_INT)
        kk = k->v.list.items[0].v.i * k->v.list.items[k->v.list.n - 1].v.i;
    else
        return bad_node(ctx, n, "expected an int kernel_size");
    if (!y) return bad_node(ctx, n, "no output");
    return mt_sym_mul_const(ctx, mt_tensor_numel(ctx, y), kk);
}

/* torch.std(x, dim): the mean (one add per input element), the deviations
 * (a subtract and a square each), their sum (an add each): 4 per input element;
 * the divide and square root per output element are not counted. */
static const mt_sym *fl_std(mt_ctx *ctx, const mt_node *n) {
    const mt_tensor *x = mt__node_tensor(n, "input");
    return x ? mt_sym_mul_const(ctx, mt_tensor_numel(ctx, x), 4) : bad_node(ctx, n, "no input tensor");
}

#define RULE(name, fn) {name, fn}
#define R_ZERO RULE("zero", fl_zero)
#define R_ELEM RULE("elementwise", fl_elementwise)
#define R_REDUCE RULE("reduction", fl_reduction)

/* One row per op of MT_OPS. Designated initialisers: a duplicate row trips
 * -Woverride-init (in -Wextra; an error under MT_WERROR), and the row count is
 * checked against MT_OP_COUNT below, so an op added to MT_OPS without a FLOP
 * rule fails the build (and tests/unit/test_flops.c checks no row is empty). */
#define MT_FLOP_RULES(R)                                                   \
    R(ADD, R_ELEM) R(SUB, R_ELEM) R(MUL, R_ELEM) R(TRUEDIV, R_ELEM)        \
    R(POW, R_ELEM) R(MAXIMUM, R_ELEM) R(MINIMUM, R_ELEM)                   \
    R(EQ, R_ELEM) R(NE, R_ELEM) R(LT, R_ELEM) R(LE, R_ELEM)                \
    R(GT, R_ELEM) R(GE, R_ELEM) R(AND, R_ELEM) R(OR, R_ELEM)               \
    R(WHERE, R_ELEM) R(MASKED_FILL, R_ELEM)                                \
    R(NEG, R_ELEM) R(ABS, R_ELEM) R(RSQRT, R_ELEM) R(SQRT, R_ELEM)         \
    R(EXP, R_ELEM) R(LOG, R_ELEM) R(SIN, R_ELEM) R(COS, R_ELEM)            \
    R(TANH, R_ELEM) R(SIGMOID, R_ELEM) R(SILU, R_ELEM) R(GELU, R_ELEM)     \
    R(RELU, R_ELEM)                                                        \
    R(TO, R_ZERO) R(TYPE_AS, R_ZERO)                                       \
    R(SUM, R_REDUCE) R(MEAN, R_REDUCE) R(AMAX, R_REDUCE)                   \
    R(SOFTMAX, RULE("softmax", fl_softmax))                                \
    R(MATMUL, RULE("matmul", fl_matmul))                                   \
    R(LINEAR, RULE("linear", fl_linear))                                   \
    R(EMBEDDING, R_ZERO)                                                   \
    R(LAYER_NORM, RULE("layer_norm", fl_layer_norm))                       \
    R(VIEW, R_ZERO) R(RESHAPE, R_ZERO) R(TRANSPOSE, R_ZERO)                \
    R(PERMUTE, R_ZERO) R(UNSQUEEZE, R_ZERO) R(SQUEEZE, R_ZERO)             \
    R(EXPAND, R_ZERO) R(CONTIGUOUS, R_ZERO) R(CAT, R_ZERO)                 \
    R(SPLIT, R_ZERO) R(CHUNK, R_ZERO)                                      \
    R(TOPK, R_REDUCE)                                                      \
    R(GETITEM, R_ZERO) R(ARANGE, R_ZERO) R(FULL, R_ZERO) R(TRIU, R_ZERO)   \
    R(SDPA, RULE("sdpa", fl_sdpa))                                         \
    R(DROPOUT, R_ZERO) R(ONE_HOT, R_ZERO) R(NONZERO, R_ZERO)               \
    R(INDEX_SELECT, R_ZERO) R(GATHER, R_ZERO)                              \
    R(INDEX_ADD, RULE("index_add", fl_index_add))                          \
    R(ZEROS, R_ZERO) R(ZEROS_LIKE, R_ZERO)                                 \
    R(SCATTER, RULE("scatter", fl_scatter))                                \
    R(INVERT, R_ELEM) R(CLAMP_, R_ELEM) R(CLAMP, R_ELEM)                   \
    R(REPEAT_INTERLEAVE, R_ZERO) R(STACK, R_ZERO) R(FLATTEN, R_ZERO)       \
    R(MIN, RULE("min", fl_min))                                            \
    R(FULL_LIKE, R_ZERO)                                                    \
    /* a running sum: one add per input element */                         \
    R(CUMSUM, R_REDUCE) R(CUMSUM_METHOD, R_REDUCE)                         \
    R(CONV2D, RULE("conv2d", fl_conv))                                   \
    R(AVG_POOL2D, RULE("avg_pool2d", fl_avg_pool2d))                       \
    /* a copy of source elements where mask is true */                     \
    R(MASKED_SCATTER, R_ZERO)                                              \
    R(CONV1D, RULE("conv1d", fl_conv))                                   \
    R(PAD, R_ZERO) R(SOFTPLUS, R_ELEM) R(TRIL, R_ZERO) R(ONES, R_ZERO)     \
    R(CLAMP_FN, R_ELEM) R(REPEAT_INTERLEAVE_METHOD, R_ZERO)                 \
    /* Llama 4: bmm as matmul (2 per multiply-add); a complex multiply counts \
     * one per output element like any elementwise op */                  \
    R(BMM, RULE("matmul", fl_matmul)) R(REPEAT, R_ZERO) R(ONES_LIKE, R_ZERO) \
    R(POLAR, R_ELEM) R(VIEW_AS_COMPLEX, R_ZERO) R(VIEW_AS_REAL, R_ZERO)    \
    R(FLOOR, R_ELEM) R(LOG1P, R_ELEM) R(FLOORDIV, R_ELEM) R(ADD_, R_ELEM)  \
    R(CHUNK_GATED_DELTA_RULE, RULE("chunk_gated_delta_rule", fl_chunk_gdr)) \
    /* im2col copies input elements into blocks */                         \
    R(UNFOLD, R_ZERO) \
    R(SELECTIVE_SCAN, RULE("selective_scan", fl_selective_scan))         \
    R(LIGHTNING_ATTENTION, RULE("lightning_attention", fl_lightning))       \
    /* Qwen2.5-VL's vision tower: conv3d (a dot product per output element over \
     * its window); unbind is a view; outer one multiply per     \
     * output element; argsort compares, it does no arithmetic */            \
    R(CONV3D, RULE("conv3d", fl_conv)) R(UNBIND, R_ZERO) R(OUTER, R_ELEM) R(ARGSORT, R_ZERO)     \
    /* Gemma 3n: std as the reductions it is made of (see fl_std); clone copies; \
     * torch.tensor creates */                                              \
    R(STD, RULE("std", fl_std)) R(CLONE, R_ZERO) R(TENSOR, R_ZERO)

static const flop_rule FLOP_RULES[MT_OP_COUNT] = {
#define MT_X_FLOP(id, rule) [MT_OP_##id] = rule,
    MT_FLOP_RULES(MT_X_FLOP)
#undef MT_X_FLOP
};

enum {
#define MT_X_COUNT(id, rule) +1
    FLOP_RULE_COUNT = 0 MT_FLOP_RULES(MT_X_COUNT)
#undef MT_X_COUNT
};

_Static_assert(sizeof FLOP_RULES / sizeof FLOP_RULES[0] == MT_OP_COUNT, "FLOP table sized by MT_OPS");
_Static_assert((int)FLOP_RULE_COUNT == (int)MT_OP_COUNT,
               "MT_FLOP_RULES must give every op of MT_OPS exactly one FLOP rule (trace/flops.c)");

/* Private to the sizing pass: true when the node's count is 0 by its rule
 * (shape ops, casts, constructors, placeholders, parameters, the output), so
 * the pass can skip it without building the expression. */
bool mt__flops_always_zero(const mt_node *n) {
    if (n->op == MT_NODE_PLACEHOLDER || n->op == MT_NODE_GET_ATTR || n->op == MT_NODE_OUTPUT) return true;
    if (n->op == MT_NODE_CALL_MODULE)
        return n->module && (n->module->leaf == MT_LEAF_DROPOUT || n->module->leaf == MT_LEAF_EMBEDDING);
    return n->opid >= 0 && n->opid < MT_OP_COUNT && FLOP_RULES[n->opid].fn == fl_zero;
}

const char *mt__flops_rule_name(int opid) {
    if (opid < 0 || opid >= MT_OP_COUNT || !FLOP_RULES[opid].fn) return NULL;
    return FLOP_RULES[opid].name;
}

/* ---- leaf modules: counted as their functional op ------------------------------ */

static const mt_sym *fl_module(mt_ctx *ctx, const mt_node *n) {
    const mt_module *m = n->module;
    const mt_tensor *x = mt__node_tensor(n, "input"), *y = out0(n);
    if (!m || !x || !y) return bad_node(ctx, n, "call_module without its module, input or output");
    switch (m->leaf) {
    case MT_LEAF_LINEAR: { /* F.linear(x, W [out, in], b) */
        const mt_sym *in = attr_dim(ctx, m, "in_features");
        if (!in) return bad_node(ctx, n, "Linear without in_features");
        return product_flops(ctx, mt_tensor_numel(ctx, y), in, mt_module_param(m, "bias") != NULL);
    }
    case MT_LEAF_CONV1D: { /* addmm(bias, x.view(-1, nx), W [nx, nf]): as a Linear with a bias */
        const mt_sym *in = attr_dim(ctx, m, "nx");
        if (!in) return bad_node(ctx, n, "Conv1D without nx");
        return product_flops(ctx, mt_tensor_numel(ctx, y), in, mt_module_param(m, "bias") != NULL);
    }
    case MT_LEAF_NN_CONV1D: { /* F.conv1d: in_channels / groups * kernel_size per output element */
        const mt_sym *in = attr_dim(ctx, m, "in_channels"), *k = attr_dim(ctx, m, "kernel_size");
        const mt_arg *g = mt_module_get_attr(m, "groups");
        if (!in || !k || !g || g->kind != MT_ARG_INT || g->v.i <= 0) return bad_node(ctx, n, "Conv1d without its sizes");
        const mt_sym *per = mt_sym_div_exact(ctx, mt_sym_mul(ctx, in, k), mt_sym_const(ctx, g->v.i));
        return product_flops(ctx, mt_tensor_numel(ctx, y), per, mt_module_param(m, "bias") != NULL);
    }
    case MT_LEAF_LAYERNORM:
        return layer_norm_flops(ctx, x, mt_module_param(m, "weight") != NULL, mt_module_param(m, "bias") != NULL);
    case MT_LEAF_ACT:
        return mt_tensor_numel(ctx, y);
    case MT_LEAF_DROPOUT:   /* identity at inference */
    case MT_LEAF_EMBEDDING: /* a lookup */
        return mt_sym_const(ctx, 0);
    default:
        return bad_node(ctx, n, "not a leaf module");
    }
}

const mt_sym *mt_node_flops(mt_ctx *ctx, const mt_node *n) {
    if (!n) {
        mt_fail(ctx, MT_ERR_USAGE, "mt_node_flops: no node");
        return NULL;
    }
    switch (n->op) {
    case MT_NODE_PLACEHOLDER:
    case MT_NODE_GET_ATTR:
    case MT_NODE_OUTPUT:
        return mt_sym_const(ctx, 0);
    case MT_NODE_CALL_MODULE:
        return fl_module(ctx, n);
    case MT_NODE_CALL_FUNCTION:
    case MT_NODE_CALL_METHOD:
        if (n->opid < 0 || n->opid >= MT_OP_COUNT || !FLOP_RULES[n->opid].fn)
            return bad_node(ctx, n, "no FLOP rule for this op");
        return FLOP_RULES[n->opid].fn(ctx, n);
    default:
        return bad_node(ctx, n, "unknown node kind");
    }
}
