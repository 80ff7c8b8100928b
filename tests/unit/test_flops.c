/* FLOPs per node (trace/flops.c, conventions in docs/sizing.md "FLOPs").
 *
 * Every expected value is worked out by hand in the test from the shapes and
 * the stated conventions (a multiply-add is 2; elementwise ops by output
 * numel; reductions by input numel; softmax 5 and layer_norm 5 per element,
 * +1 each for weight and bias; sdpa 2·R·sk·(dk + dv) + 5·R·sk over R = B·h·sq
 * rows), never read back from the library. The whole-model checks write the
 * Llama-2-70B formula out layer by layer from the ops its trace records
 * (src/models/blocks.c, the node list of `metatrace --layers 1 -f json`). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "testutil.h"
#include "tiny_configs.h"

/* Internal (trace/flops.c): the FLOP rule kind of an op id, NULL when the
 * table has no row for it. */
const char *mt__flops_rule_name(int opid);

/* ---- a small tracer over placeholders ------------------------------------- */

typedef struct fx {
    mt_ctx *ctx;
    mt_model model;
    mt_graph *g;
    mt_tracer tr;
    int nph;
} fx;

static void fx_init(fx *f) {
    memset(f, 0, sizeof *f);
    f->ctx = mt_ctx_new();
    cr_assert_not_null(f->ctx);
    f->model.ctx = f->ctx;
    f->model.root = mt_module_new(f->ctx, NULL, "", "Root");
    f->g = mt_graph_new(f->ctx);
    cr_assert(f->model.root && f->g);
    mt_tr_init(&f->tr, &f->model, f->g);
}

static const mt_sym *vb(fx *f) { return mt_sym_var(f->ctx, "batch"); }
static const mt_sym *vs(fx *f) { return mt_sym_var(f->ctx, "seq"); }
static const mt_sym *kc(fx *f, int64_t v) { return mt_sym_const(f->ctx, v); }

/* A placeholder of the given dims (NULL-terminated list of dims). */
static mt_tensor *ph(fx *f, mt_dtype dt, int ndim, const mt_sym *const *dims) {
    char name[32];
    snprintf(name, sizeof name, "x%d", f->nph++);
    mt_tensor *t = mt_tr_placeholder(&f->tr, name, dt, ndim, dims);
    cr_assert_not_null(t, "%s", mt_ctx_errmsg(f->ctx));
    return t;
}
#define PH(f, ...) \
    ph(f, MT_FLOAT32, (int)(sizeof((const mt_sym *[]){__VA_ARGS__}) / sizeof(const mt_sym *)), \
       (const mt_sym *[]){__VA_ARGS__})

/* The FLOPs of the node that produced t, which must equal `want`. */
static void check(fx *f, const mt_tensor *t, const mt_sym *want, const char *what) {
    cr_assert_not_null(t, "%s: trace failed: %s", what, mt_ctx_errmsg(f->ctx));
    cr_assert_not_null(t->node, "%s", what);
    cr_assert_not_null(want, "%s: expected value overflowed", what);
    const mt_sym *got = mt_node_flops(f->ctx, t->node);
    cr_assert_not_null(got, "%s: %s", what, mt_ctx_errmsg(f->ctx));
    cr_assert_eq(got, want, "%s: got %s, want %s", what, mt_sym_str(got), mt_sym_str(want));
}

static mt_tensor *op(fx *f, mt_op_id id, const mt_arg *args, int nargs, const mt_kwarg *kw, int nkw) {
    mt_tensor *t = mt_tr_op1(&f->tr, id, args, nargs, kw, nkw);
    cr_assert_not_null(t, "%s: %s", mt_op_def(id)->name, mt_ctx_errmsg(f->ctx));
    return t;
}

/* c·batch^i·seq^j */
static const mt_sym *mono(fx *f, int64_t c, int bi, int sj) {
    const mt_sym *r = kc(f, c);
    for (int i = 0; i < bi; i++) r = mt_sym_mul(f->ctx, r, vb(f));
    for (int j = 0; j < sj; j++) r = mt_sym_mul(f->ctx, r, vs(f));
    return r;
}

/* ---- the table ---------------------------------------------------------------- */

Test(flops, every_op_has_a_rule) {
    char missing[2048] = "";
    for (int id = 0; id < MT_OP_COUNT; id++) {
        if (mt__flops_rule_name(id)) continue;
        size_t len = strlen(missing);
        snprintf(missing + len, sizeof missing - len, " %s", mt_op_def((mt_op_id)id)->name);
    }
    cr_assert_eq(missing[0], '\0', "ops without a FLOP rule in trace/flops.c:%s", missing);
    cr_assert_null(mt__flops_rule_name(-1));
    cr_assert_null(mt__flops_rule_name(MT_OP_COUNT));
    /* a few rows, as docs/sizing.md states them */
    cr_assert_str_eq(mt__flops_rule_name(MT_OP_ADD), "elementwise");
    cr_assert_str_eq(mt__flops_rule_name(MT_OP_EQ), "elementwise");
    cr_assert_str_eq(mt__flops_rule_name(MT_OP_SILU), "elementwise");
    cr_assert_str_eq(mt__flops_rule_name(MT_OP_MEAN), "reduction");
    cr_assert_str_eq(mt__flops_rule_name(MT_OP_TOPK), "reduction");
    cr_assert_str_eq(mt__flops_rule_name(MT_OP_TO), "zero");
    cr_assert_str_eq(mt__flops_rule_name(MT_OP_VIEW), "zero");
    cr_assert_str_eq(mt__flops_rule_name(MT_OP_EMBEDDING), "zero");
    cr_assert_str_eq(mt__flops_rule_name(MT_OP_DROPOUT), "zero");
    cr_assert_str_eq(mt__flops_rule_name(MT_OP_MATMUL), "matmul");
    cr_assert_str_eq(mt__flops_rule_name(MT_OP_LINEAR), "linear");
    cr_assert_str_eq(mt__flops_rule_name(MT_OP_SDPA), "sdpa");
    cr_assert_str_eq(mt__flops_rule_name(MT_OP_SOFTMAX), "softmax");
    cr_assert_str_eq(mt__flops_rule_name(MT_OP_LAYER_NORM), "layer_norm");
}

/* ---- per op --------------------------------------------------------------------- */

Test(flops, matmul_every_rank_case) {
    fx f;
    fx_init(&f);
    mt_tracer *tr = &f.tr;
    /* 1-D · 1-D: a dot product of 7: 7 multiply-adds */
    check(&f, mt_matmul(tr, PH(&f, kc(&f, 7)), PH(&f, kc(&f, 7))), kc(&f, 2 * 7), "[7]·[7]");
    /* 2-D · 1-D: 5 dot products of 7 */
    check(&f, mt_matmul(tr, PH(&f, kc(&f, 5), kc(&f, 7)), PH(&f, kc(&f, 7))), kc(&f, 2 * 5 * 7), "[5,7]·[7]");
    /* 1-D · 2-D: 3 dot products of 7 */
    check(&f, mt_matmul(tr, PH(&f, kc(&f, 7)), PH(&f, kc(&f, 7), kc(&f, 3))), kc(&f, 2 * 7 * 3), "[7]·[7,3]");
    /* 2-D · 2-D: m=5, n=3, k=7 */
    check(&f, mt_matmul(tr, PH(&f, kc(&f, 5), kc(&f, 7)), PH(&f, kc(&f, 7), kc(&f, 3))), kc(&f, 2 * 5 * 3 * 7),
          "[5,7]·[7,3]");
    /* batched scores: [batch, 4, seq, 16] · [batch, 4, 16, seq]: 2·batch·4·seq·seq·16 */
    check(&f,
          mt_matmul(tr, PH(&f, vb(&f), kc(&f, 4), vs(&f), kc(&f, 16)), PH(&f, vb(&f), kc(&f, 4), kc(&f, 16), vs(&f))),
          mono(&f, 2 * 4 * 16, 1, 2), "batched");
    /* broadcast batch dims: [batch, 1, 5, 7] · [3, 7, 2] -> [batch, 3, 5, 2], k = 7 */
    check(&f, mt_matmul(tr, PH(&f, vb(&f), kc(&f, 1), kc(&f, 5), kc(&f, 7)), PH(&f, kc(&f, 3), kc(&f, 7), kc(&f, 2))),
          mono(&f, 2 * 3 * 5 * 2 * 7, 1, 0), "broadcast");
    /* N-D · 1-D: [batch, 5, 7] · [7] -> [batch, 5] */
    check(&f, mt_matmul(tr, PH(&f, vb(&f), kc(&f, 5), kc(&f, 7)), PH(&f, kc(&f, 7))), mono(&f, 2 * 5 * 7, 1, 0),
          "[batch,5,7]·[7]");
    /* 1-D · N-D: [7] · [batch, 7, 3] -> [batch, 3] */
    check(&f, mt_matmul(tr, PH(&f, kc(&f, 7)), PH(&f, vb(&f), kc(&f, 7), kc(&f, 3))), mono(&f, 2 * 7 * 3, 1, 0),
          "[7]·[batch,7,3]");
    mt_ctx_free(f.ctx);
}

Test(flops, linear_with_and_without_bias) {
    fx f;
    fx_init(&f);
    mt_tensor *x = PH(&f, vb(&f), vs(&f), kc(&f, 64));
    mt_tensor *w = PH(&f, kc(&f, 32), kc(&f, 64));
    mt_tensor *b = PH(&f, kc(&f, 32));
    /* rows = batch·seq, in 64, out 32: 2·rows·64·32 = 4096·rows */
    mt_arg a2[2] = {mt_a_tensor(x), mt_a_tensor(w)};
    check(&f, op(&f, MT_OP_LINEAR, a2, 2, NULL, 0), mono(&f, 4096, 1, 1), "linear, no bias");
    /* + rows·32 for the bias */
    mt_arg a3[3] = {mt_a_tensor(x), mt_a_tensor(w), mt_a_tensor(b)};
    check(&f, op(&f, MT_OP_LINEAR, a3, 3, NULL, 0), mono(&f, 4096 + 32, 1, 1), "linear, bias");
    /* bias by keyword; a None bias counts as none */
    mt_kwarg kb = {"bias", mt_a_tensor(b)};
    check(&f, op(&f, MT_OP_LINEAR, a2, 2, &kb, 1), mono(&f, 4096 + 32, 1, 1), "linear, bias=");
    mt_arg an[3] = {mt_a_tensor(x), mt_a_tensor(w), mt_a_none()};
    check(&f, op(&f, MT_OP_LINEAR, an, 3, NULL, 0), mono(&f, 4096, 1, 1), "linear, bias None");
    /* a 1-D weight [64]: one dot product per row, 2·seq·64 */
    mt_arg a1[2] = {mt_a_tensor(PH(&f, vs(&f), kc(&f, 64))), mt_a_tensor(PH(&f, kc(&f, 64)))};
    check(&f, op(&f, MT_OP_LINEAR, a1, 2, NULL, 0), mono(&f, 128, 0, 1), "linear, 1-D weight");
    mt_ctx_free(f.ctx);
}

Test(flops, sdpa_gqa_and_cross_lengths) {
    fx f;
    fx_init(&f);
    /* GQA: 32 query heads over 8 key/value heads, dk 128, dv 64:
     * R = batch·32·seq rows by sk = seq: 2·R·seq·128 + 2·R·seq·64 + 5·R·seq
     * = batch·seq²·32·(256 + 128 + 5) = 12448·batch·seq² */
    mt_tensor *q = PH(&f, vb(&f), kc(&f, 32), vs(&f), kc(&f, 128));
    mt_tensor *k = PH(&f, vb(&f), kc(&f, 8), vs(&f), kc(&f, 128));
    mt_tensor *v = PH(&f, vb(&f), kc(&f, 8), vs(&f), kc(&f, 64));
    mt_arg a[3] = {mt_a_tensor(q), mt_a_tensor(k), mt_a_tensor(v)};
    mt_kwarg gqa = {"enable_gqa", mt_a_bool(true)};
    check(&f, op(&f, MT_OP_SDPA, a, 3, &gqa, 1), mono(&f, 32 * (256 + 128 + 5), 1, 2), "sdpa gqa");
    /* cross lengths, constants: q [2, 4, 10, 16], k/v [2, 4, 6, 16]: R = 80 rows by 6:
     * 2·80·6·16 + 2·80·6·16 + 5·80·6 = 15360 + 15360 + 2400 */
    mt_arg c[3] = {mt_a_tensor(PH(&f, kc(&f, 2), kc(&f, 4), kc(&f, 10), kc(&f, 16))),
                   mt_a_tensor(PH(&f, kc(&f, 2), kc(&f, 4), kc(&f, 6), kc(&f, 16))),
                   mt_a_tensor(PH(&f, kc(&f, 2), kc(&f, 4), kc(&f, 6), kc(&f, 16)))};
    check(&f, op(&f, MT_OP_SDPA, c, 3, NULL, 0), kc(&f, 33120), "sdpa sq != sk");
    /* a causal flag changes nothing here (the sizing pass halves) */
    mt_kwarg causal = {"is_causal", mt_a_bool(true)};
    check(&f, op(&f, MT_OP_SDPA, c, 3, &causal, 1), kc(&f, 33120), "sdpa is_causal");
    mt_ctx_free(f.ctx);
}

Test(flops, elementwise_reduction_softmax_and_zero) {
    fx f;
    fx_init(&f);
    mt_tracer *tr = &f.tr;
    mt_tensor *x = PH(&f, vb(&f), vs(&f), kc(&f, 64));
    /* elementwise by the broadcast output: [batch, seq, 1] + [seq, 64] -> [batch, seq, 64] */
    check(&f, mt_add(tr, PH(&f, vb(&f), vs(&f), kc(&f, 1)), PH(&f, vs(&f), kc(&f, 64))), mono(&f, 64, 1, 1),
          "add broadcast");
    check(&f, mt_unary(tr, MT_OP_SILU, x), mono(&f, 64, 1, 1), "silu");
    check(&f, mt_mul_s(tr, x, 0.5), mono(&f, 64, 1, 1), "mul by a scalar");
    /* a comparison on a mask: [batch, 1, seq, seq] == 0 */
    mt_tensor *mask = PH(&f, vb(&f), kc(&f, 1), vs(&f), vs(&f));
    mt_arg eq[2] = {mt_a_tensor(mask), mt_a_int(0)};
    check(&f, op(&f, MT_OP_EQ, eq, 2, NULL, 0), mono(&f, 1, 1, 2), "eq on a mask");
    /* reductions by the input: mean over the last dim reads 64·batch·seq */
    check(&f, mt_reduce(tr, MT_OP_MEAN, x, -1, true), mono(&f, 64, 1, 1), "mean");
    check(&f, mt_reduce(tr, MT_OP_SUM, x, 1, false), mono(&f, 64, 1, 1), "sum");
    /* topk(x, 2): one comparison per input element */
    mt_arg tk[2] = {mt_a_tensor(x), mt_a_int(2)};
    mt_node *t = mt_tr_op(tr, MT_OP_TOPK, tk, 2, NULL, 0);
    cr_assert_not_null(t, "%s", mt_ctx_errmsg(f.ctx));
    cr_assert_eq(mt_node_flops(f.ctx, t), mono(&f, 64, 1, 1));
    /* its getitem is free */
    check(&f, mt_tr_item(tr, t, 0), kc(&f, 0), "getitem of topk");
    /* softmax: 5 per element of [batch, 4, seq, seq] */
    check(&f, mt_softmax(tr, PH(&f, vb(&f), kc(&f, 4), vs(&f), vs(&f)), -1, MT_DTYPE_NONE), mono(&f, 5 * 4, 1, 2),
          "softmax");
    /* layer_norm without and with affine parameters: 5, 6 and 7 per element */
    mt_tensor *g = PH(&f, kc(&f, 64)), *bb = PH(&f, kc(&f, 64));
    mt_arg ln0[2] = {mt_a_tensor(x), mt_a_ints(f.ctx, (int64_t[]){64}, 1)};
    check(&f, op(&f, MT_OP_LAYER_NORM, ln0, 2, NULL, 0), mono(&f, 5 * 64, 1, 1), "layer_norm");
    mt_arg ln1[3] = {mt_a_tensor(x), mt_a_ints(f.ctx, (int64_t[]){64}, 1), mt_a_tensor(g)};
    check(&f, op(&f, MT_OP_LAYER_NORM, ln1, 3, NULL, 0), mono(&f, 6 * 64, 1, 1), "layer_norm weight");
    mt_arg ln2[4] = {mt_a_tensor(x), mt_a_ints(f.ctx, (int64_t[]){64}, 1), mt_a_tensor(g), mt_a_tensor(bb)};
    check(&f, op(&f, MT_OP_LAYER_NORM, ln2, 4, NULL, 0), mono(&f, 7 * 64, 1, 1), "layer_norm weight+bias");
    /* shape ops, casts, constructors: 0 */
    check(&f, mt_transpose(tr, x, 1, 2), kc(&f, 0), "transpose");
    check(&f, mt_view(tr, x, 2, (const mt_sym *[]){NULL, kc(&f, 64)}), kc(&f, 0), "view");
    check(&f, mt_contiguous(tr, x), kc(&f, 0), "contiguous");
    check(&f, mt_to(tr, x, MT_BFLOAT16), kc(&f, 0), "to");
    check(&f, mt_cat(tr, (mt_tensor *[]){x, x}, 2, -1), kc(&f, 0), "cat");
    mt_arg ar[1] = {mt_a_dim(vs(&f))};
    check(&f, op(&f, MT_OP_ARANGE, ar, 1, NULL, 0), kc(&f, 0), "arange");
    mt_ctx_free(f.ctx);
}

Test(flops, ops_with_their_own_rule) {
    fx f;
    fx_init(&f);
    /* masked_fill by its broadcast output: [batch, 1, 1, seq] with a [batch, 1, seq, seq] mask */
    mt_tensor *mask = ph(&f, MT_BOOL, 4, (const mt_sym *[]){vb(&f), kc(&f, 1), vs(&f), vs(&f)});
    mt_arg mf[3] = {mt_a_tensor(PH(&f, vb(&f), kc(&f, 1), kc(&f, 1), vs(&f))), mt_a_tensor(mask), mt_a_float(-1e9)};
    check(&f, op(&f, MT_OP_MASKED_FILL, mf, 3, NULL, 0), mono(&f, 1, 1, 2), "masked_fill");
    /* index_add_(0, index [4], source [4, 64]): one add per source element */
    mt_arg ia[4] = {mt_a_tensor(PH(&f, kc(&f, 10), kc(&f, 64))), mt_a_int(0),
                    mt_a_tensor(ph(&f, MT_INT64, 1, (const mt_sym *[]){kc(&f, 4)})),
                    mt_a_tensor(PH(&f, kc(&f, 4), kc(&f, 64)))};
    check(&f, op(&f, MT_OP_INDEX_ADD, ia, 4, NULL, 0), kc(&f, 4 * 64), "index_add_");
    /* scatter_(1, index [5, 2], 1.0): a copy, 0; with reduce='add' one add per index element */
    mt_arg sc[4] = {mt_a_tensor(PH(&f, kc(&f, 5), kc(&f, 8))), mt_a_int(1),
                    mt_a_tensor(ph(&f, MT_INT64, 2, (const mt_sym *[]){kc(&f, 5), kc(&f, 2)})), mt_a_float(1.0)};
    check(&f, op(&f, MT_OP_SCATTER, sc, 4, NULL, 0), kc(&f, 0), "scatter_");
    mt_kwarg red = {"reduce", mt_a_str("add")};
    check(&f, op(&f, MT_OP_SCATTER, sc, 4, &red, 1), kc(&f, 5 * 2), "scatter_ reduce=add");
    /* torch.min(x [3, 1]) reads 3 elements; torch.min(x [3, 1], y [4]) writes [3, 4] */
    mt_tensor *x = PH(&f, kc(&f, 3), kc(&f, 1));
    mt_arg m1[1] = {mt_a_tensor(x)};
    check(&f, op(&f, MT_OP_MIN, m1, 1, NULL, 0), kc(&f, 3), "min(input)");
    mt_arg m2[2] = {mt_a_tensor(x), mt_a_tensor(PH(&f, kc(&f, 4)))};
    check(&f, op(&f, MT_OP_MIN, m2, 2, NULL, 0), kc(&f, 12), "min(input, other)");
    mt_ctx_free(f.ctx);
}

Test(flops, leaf_modules_count_as_their_functional_op) {
    fx f;
    fx_init(&f);
    mt_ctx *ctx = f.ctx;
    mt_module *root = f.model.root;
    mt_meta_scope_enter(ctx);
    mt_module *lin = mt_nn_linear(ctx, root, "lin", 64, 32, true, MT_FLOAT32, MT_DEVICE_CPU);
    mt_module *lin_nb = mt_nn_linear(ctx, root, "lin_nb", 64, 32, false, MT_FLOAT32, MT_DEVICE_CPU);
    mt_module *conv = mt_nn_conv1d(ctx, root, "conv", 32, 64, MT_FLOAT32, MT_DEVICE_CPU); /* nf 32, nx 64 */
    mt_module *ln = mt_nn_layernorm(ctx, root, "ln", 64, 1e-5, true, true, MT_FLOAT32, MT_DEVICE_CPU);
    mt_module *ln_nb = mt_nn_layernorm(ctx, root, "ln_nb", 64, 1e-5, true, false, MT_FLOAT32, MT_DEVICE_CPU);
    mt_module *act = mt_nn_act(ctx, root, "act", "GELU");
    mt_module *drop = mt_nn_dropout(ctx, root, "drop", 0.1);
    mt_module *emb = mt_nn_embedding(ctx, root, "emb", 1000, 64, MT_FLOAT32, MT_DEVICE_CPU);
    mt_meta_scope_exit(ctx);
    cr_assert(lin && lin_nb && conv && ln && ln_nb && act && drop && emb, "%s", mt_ctx_errmsg(ctx));
    mt_tracer *tr = &f.tr;
    mt_tensor *x = PH(&f, vb(&f), vs(&f), kc(&f, 64));
    /* Linear(64, 32): 2·rows·64·32 (+ rows·32 with the bias) */
    check(&f, mt_tr_call(tr, lin, x), mono(&f, 4096 + 32, 1, 1), "Linear bias");
    check(&f, mt_tr_call(tr, lin_nb, x), mono(&f, 4096, 1, 1), "Linear no bias");
    /* Conv1D(nf 32, nx 64), weight [64, 32], always a bias: as Linear(64, 32, bias) */
    check(&f, mt_tr_call(tr, conv, x), mono(&f, 4096 + 32, 1, 1), "Conv1D");
    /* LayerNorm(64): 7 and 6 per element */
    check(&f, mt_tr_call(tr, ln, x), mono(&f, 7 * 64, 1, 1), "LayerNorm");
    check(&f, mt_tr_call(tr, ln_nb, x), mono(&f, 6 * 64, 1, 1), "LayerNorm, no bias");
    check(&f, mt_tr_call(tr, act, x), mono(&f, 64, 1, 1), "GELU");
    check(&f, mt_tr_call(tr, drop, x), kc(&f, 0), "Dropout");
    mt_tensor *ids = ph(&f, MT_INT64, 2, (const mt_sym *[]){vb(&f), vs(&f)});
    check(&f, mt_tr_call(tr, emb, ids), kc(&f, 0), "Embedding");
    /* placeholders are free */
    cr_assert_eq(mt_node_flops(ctx, ids->node), kc(&f, 0));
    mt_ctx_free(ctx);
}

Test(flops, overflow_and_bad_nodes_are_errors) {
    fx f;
    fx_init(&f);
    /* [2^31, 2^20] · [2^20, 2^31]: 2^62 outputs fit, 2·2^62·2^20 does not */
    mt_tensor *y = mt_matmul(&f.tr, PH(&f, kc(&f, INT64_C(1) << 31), kc(&f, INT64_C(1) << 20)),
                             PH(&f, kc(&f, INT64_C(1) << 20), kc(&f, INT64_C(1) << 31)));
    cr_assert_not_null(y, "%s", mt_ctx_errmsg(f.ctx));
    cr_assert_null(mt_node_flops(f.ctx, y->node));
    cr_assert_eq(mt_ctx_status(f.ctx), MT_ERR_OVERFLOW, "%s", mt_ctx_errmsg(f.ctx));
    mt_error_clear(f.ctx);
    /* a call_function with no op id (no row to apply) */
    mt_node bad;
    memset(&bad, 0, sizeof bad);
    bad.op = MT_NODE_CALL_FUNCTION;
    bad.opid = -1;
    bad.name = "bad";
    bad.target = "torch.unknown";
    cr_assert_null(mt_node_flops(f.ctx, &bad));
    cr_assert_eq(mt_ctx_status(f.ctx), MT_ERR_INTERNAL);
    cr_assert(strstr(mt_ctx_errmsg(f.ctx), "no FLOP rule"), "%s", mt_ctx_errmsg(f.ctx));
    mt_ctx_free(f.ctx);
}

/* ---- whole models ---------------------------------------------------------------- */

static const mt_sym *sum_flops(mt_ctx *ctx, const mt_graph *g, bool (*keep)(const mt_node *)) {
    const mt_sym *s = mt_sym_const(ctx, 0);
    for (int i = 0; i < g->n; i++) {
        if (keep && !keep(g->nodes[i])) continue;
        const mt_sym *f = mt_node_flops(ctx, g->nodes[i]);
        cr_assert_not_null(f, "%s: %s", g->nodes[i]->name, mt_ctx_errmsg(ctx));
        s = mt_sym_add(ctx, s, f);
    }
    cr_assert_not_null(s, "%s", mt_ctx_errmsg(ctx));
    return s;
}

static bool is_linear(const mt_node *n) { return n->op == MT_NODE_CALL_MODULE && n->module->leaf == MT_LEAF_LINEAR; }
static bool is_product(const mt_node *n) {
    return is_linear(n) || n->opid == MT_OP_MATMUL || n->opid == MT_OP_SDPA || n->opid == MT_OP_LINEAR;
}

static int64_t eval_bs(mt_ctx *ctx, const mt_sym *s, int64_t batch, int64_t seq) {
    const char *names[2] = {"batch", "seq"};
    int64_t vals[2] = {batch, seq};
    mt_binding b = {names, vals, 2};
    int64_t v = 0;
    cr_assert_eq(mt_sym_eval(ctx, s, &b, &v), MT_OK, "%s: %s", mt_sym_str(s), mt_ctx_errmsg(ctx));
    return v;
}

/* Llama-2-70B shapes (tests/bench/configs/llama-2-70b.config.json), 2 layers. */
enum { L70_H = 8192, L70_I = 28672, L70_V = 32000, L70_NH = 64, L70_NKV = 8, L70_D = 128, L70_L = 2 };

/* Weights of every Linear: per layer q [H, H], k and v [NKV·D, H], o [H, H],
 * gate/up [I, H], down [H, I]; lm_head [V, H]. */
static int64_t l70_linear_weights(void) {
    int64_t layer = (int64_t)L70_H * L70_H * 2 + (int64_t)L70_H * L70_NKV * L70_D * 2 + (int64_t)3 * L70_H * L70_I;
    return L70_L * layer + (int64_t)L70_H * L70_V;
}

/* The Linear + matmul + sdpa part at batch 1, seq S (tokens T = S):
 * 2·T·(Linear weights); sdpa per layer over the whole S×S score matrix of 64
 * heads: 2·64·S·S·128 (scores) + 2·64·S·S·128 (weighted sum) + 5·64·S·S
 * (softmax); the rotary matmul inv_freq [1, 64, 1] · positions [1, 1, S]:
 * 2·64·S·1. */
static int64_t l70_products(int64_t S) {
    int64_t T = S;
    int64_t attn = (int64_t)L70_NH * S * S * (2 * L70_D + 2 * L70_D + 5);
    int64_t rotary_matmul = (int64_t)2 * (L70_D / 2) * S;
    return 2 * T * l70_linear_weights() + L70_L * attn + rotary_matmul;
}

/* Everything, written out from the ops the trace records (src/models/blocks.c,
 * LlamaModel), at batch 1, seq S:
 *   causal mask: gt [S,S] S², mul [S,S] S², add/eq/masked_fill [1,1,S,S] 3·S²
 *   rotary tables: cos, ·1.0, sin, ·1.0 over [1, S, D]: 4·D·S (casts free)
 *   per RMSNorm over [1, S, H]: pow H·S, mean H·S, +eps S, rsqrt S, ·rsqrt H·S,
 *     ·weight H·S: 4·H·S + 2·S (casts free)
 *   per layer: 2 RMSNorms; apply_rotary_pos_emb on q (NH heads) and k (NKV):
 *     neg on half the head, ·cos, ·sin, + on the whole: (NH + NKV)·S·(D/2 + 3·D);
 *     2 residual adds 2·H·S; act_fn I·S and act·up I·S
 *   final RMSNorm, and the products above. */
static int64_t l70_total(int64_t S) {
    int64_t mask = 5 * S * S;
    int64_t rotary_tables = 4 * (int64_t)L70_D * S;
    int64_t rms = 4 * (int64_t)L70_H * S + 2 * S;
    int64_t rope = (int64_t)(L70_NH + L70_NKV) * S * (L70_D / 2 + 3 * L70_D);
    int64_t layer = 2 * rms + rope + 2 * (int64_t)L70_H * S + 2 * (int64_t)L70_I * S;
    return mask + rotary_tables + L70_L * layer + rms + l70_products(S);
}

Test(flops, llama_2_70b_two_layers) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build(ctx, tu_src("tests/bench/configs/llama-2-70b.config.json"), L70_L);
    mt_graph *g = tu_trace(m);
    /* The Linear weights are every parameter but the embedding and the
     * 2·L + 1 RMSNorm weights (a cross-check of the hand count). */
    mt_totals t;
    cr_assert_eq(mt_model_totals(m, &t), MT_OK);
    cr_assert_eq(t.params - (int64_t)L70_V * L70_H - (2 * L70_L + 1) * (int64_t)L70_H, l70_linear_weights());

    const mt_sym *linear = sum_flops(ctx, g, is_linear);
    const mt_sym *products = sum_flops(ctx, g, is_product);
    const mt_sym *total = sum_flops(ctx, g, NULL);
    const int64_t seqs[] = {1, 7, 4096};
    for (size_t i = 0; i < sizeof seqs / sizeof seqs[0]; i++) {
        int64_t S = seqs[i];
        cr_assert_eq(eval_bs(ctx, linear, 1, S), 2 * S * l70_linear_weights(), "Linear part at seq %lld",
                     (long long)S);
        cr_assert_eq(eval_bs(ctx, products, 1, S), l70_products(S), "Linear+matmul+sdpa at seq %lld: %s",
                     (long long)S, mt_sym_str(products));
        cr_assert_eq(eval_bs(ctx, total, 1, S), l70_total(S), "total at seq %lld: got %lld, want %lld (%s)",
                     (long long)S, (long long)eval_bs(ctx, total, 1, S), (long long)l70_total(S),
                     mt_sym_str(total));
    }
    /* Linear FLOPs are linear in the tokens: batch 3 is 3 times batch 1. */
    cr_assert_eq(eval_bs(ctx, linear, 3, 5), 3 * eval_bs(ctx, linear, 1, 5));
    mt_ctx_free(ctx);
}

/* The same model traced with batch=1, seq=S bound: every count is a constant. */
Test(flops, llama_2_70b_bound_shapes) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build(ctx, tu_src("tests/bench/configs/llama-2-70b.config.json"), L70_L);
    const char *names[2] = {"batch", "seq"};
    int64_t vals[2] = {1, 4096};
    mt_trace_opts o = {{names, vals, 2}};
    mt_graph *g = mt_model_trace(m, &o);
    cr_assert_not_null(g, "%s", mt_ctx_errmsg(ctx));
    const mt_sym *total = sum_flops(ctx, g, NULL);
    cr_assert(mt_sym_is_const(total), "%s", mt_sym_str(total));
    cr_assert_eq(mt_sym_const_value(total), l70_total(4096));
    cr_assert_eq(mt_sym_const_value(sum_flops(ctx, g, is_product)), l70_products(4096));
    mt_ctx_free(ctx);
}

/* Mixtral-8x7B (samples/configs): hidden 4096, intermediate 14336, 8 local
 * experts, 2 per token; 2 layers. Each expert's w1, w3 ([nnz_k, 4096] ->
 * [nnz_k, 14336]) and w2 (back) cost 2·nnz_k·4096·14336, symbolic in the
 * tokens routed to it. With the expected routing nnz_k = T·2/8, the experts of
 * one layer cost 2·T·2·(3·4096·14336). */
enum { MX_H = 4096, MX_I = 14336, MX_E = 8, MX_TOPK = 2, MX_L = 2 };

static bool is_expert_linear(const mt_node *n) { return is_linear(n) && strstr(n->target, ".experts."); }

Test(flops, mixtral_experts_by_routed_tokens) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build(ctx, tu_src("samples/configs/mistralai--Mixtral-8x7B-v0.1.config.json"), MX_L);
    mt_graph *g = tu_trace(m);
    int nexpert_linears = 0;
    for (int i = 0; i < g->n; i++) {
        mt_node *n = g->nodes[i];
        if (!is_expert_linear(n)) continue;
        nexpert_linears++;
        const mt_sym *rows = n->args[0].v.t->shape[0];
        cr_assert(mt_sym_is_var(rows) && strncmp(mt_sym_str(rows), "nnz_", 4) == 0, "%s rows %s", n->name,
                  mt_sym_str(rows));
        const mt_sym *want = mt_sym_mul_const(ctx, rows, 2 * (int64_t)MX_H * MX_I);
        cr_assert_eq(mt_node_flops(ctx, n), want, "%s: %s", n->name, mt_sym_str(mt_node_flops(ctx, n)));
    }
    cr_assert_eq(nexpert_linears, MX_L * MX_E * 3);

    /* Bind every nnz_k to the expected routed tokens T·top_k/E (T = seq at batch 1). */
    const int64_t S = 4096, T = S;
    const char *names[64];
    int64_t vals[64];
    int nb = 0;
    names[nb] = "batch";
    vals[nb++] = 1;
    names[nb] = "seq";
    vals[nb++] = S;
    for (int i = 0; i < mt_sym_count(ctx); i++) {
        const mt_symbol_info *si = mt_sym_info(ctx, i);
        if (strncmp(si->name, "nnz_", 4) != 0) continue;
        cr_assert_lt(nb, 64);
        names[nb] = si->name;
        vals[nb++] = T * MX_TOPK / MX_E;
    }
    cr_assert_eq(nb, 2 + MX_L * MX_E, "one nnz symbol per expert per layer");
    mt_binding b = {names, vals, nb};
    const mt_sym *experts = sum_flops(ctx, g, is_expert_linear);
    int64_t v = 0;
    cr_assert_eq(mt_sym_eval(ctx, experts, &b, &v), MT_OK, "%s", mt_ctx_errmsg(ctx));
    cr_assert_eq(v, MX_L * 2 * T * MX_TOPK * (3 * (int64_t)MX_H * MX_I), "experts: %lld", (long long)v);
    /* substitution leaves a constant too */
    const mt_sym *sub = mt_sym_subst(ctx, experts, &b);
    cr_assert(sub && mt_sym_is_const(sub) && mt_sym_const_value(sub) == v);
    /* and the whole graph evaluates under the same binding */
    cr_assert_eq(mt_sym_eval(ctx, sum_flops(ctx, g, NULL), &b, &v), MT_OK, "%s", mt_ctx_errmsg(ctx));
    mt_ctx_free(ctx);
}

/* Every node of every family's tiny config has a count (no internal error). */
Test(flops, every_family_node_has_a_count) {
    for (size_t i = 0; i < sizeof tiny_configs / sizeof tiny_configs[0]; i++) {
        mt_ctx *ctx = mt_ctx_new();
        mt_model *m = tu_build_text(ctx, tiny_configs[i].json, 0);
        mt_graph *g = tu_trace(m);
        for (int j = 0; j < g->n; j++) {
            const mt_sym *f = mt_node_flops(ctx, g->nodes[j]);
            cr_assert_not_null(f, "%s: node %s: %s", tiny_configs[i].model_type, g->nodes[j]->name,
                               mt_ctx_errmsg(ctx));
        }
        mt_ctx_free(ctx);
    }
}
