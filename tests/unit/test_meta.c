/* The meta scope: construction inside it allocates no parameter storage;
 * outside it on CPU it does; scopes nest; forwards trace after it closes. */
#include <criterion/criterion.h>
#include <string.h>

#include "testutil.h"

/* Counting allocator: total live bytes, peak, and the largest single block. */
typedef struct counter {
    size_t live, peak, largest, calls;
} counter;

static void *c_alloc(size_t n, void *ud) {
    counter *c = ud;
    c->live += n;
    c->calls++;
    if (c->live > c->peak) c->peak = c->live;
    if (n > c->largest) c->largest = n;
    return malloc(n);
}
static void *c_realloc(void *p, size_t o, size_t n, void *ud) {
    counter *c = ud;
    c->live += n - o;
    if (n > c->largest) c->largest = n;
    return realloc(p, n);
}
static void c_free(void *p, size_t n, void *ud) {
    counter *c = ud;
    c->live -= n;
    free(p);
}

static mt_ctx *counting_ctx(counter *c) {
    memset(c, 0, sizeof *c);
    mt_allocator a = {c_alloc, c_realloc, c_free, c};
    mt_ctx *ctx = mt_ctx_new_with(&a);
    cr_assert_not_null(ctx);
    return ctx;
}

Test(meta, llama2_70b_builds_in_kilobytes) {
    counter c;
    mt_ctx *ctx = counting_ctx(&c);
    mt_model *m = tu_build(ctx, tu_src("tests/bench/configs/llama-2-70b.config.json"), 0);
    mt_totals t;
    cr_assert_eq(mt_model_totals(m, &t), MT_OK);
    /* 68,976,648,192: the published Llama-2-70b-hf count, and by hand:
     * 80 x (2*8192^2 + 2*8192*1024 + 3*8192*28672 + 2*8192) + 2*32000*8192 + 8192. */
    cr_assert_eq(t.params, 68976648192LL);
    for (int i = 0; i < m->params.n; i++) {
        mt_param *p = m->params.items[i];
        cr_assert_eq(p->t->device, MT_DEVICE_META, "%s not on meta", p->name);
        cr_assert_null(p->t->data, "%s has storage", p->name);
    }
    /* No single allocation as large as the smallest weight matrix (a k_proj:
     * 8192*1024*2 bytes), and under 16 MiB in total. */
    cr_assert_lt(c.largest, (size_t)8192 * 1024 * 2, "largest allocation %zu", c.largest);
    cr_assert_lt(c.peak, (size_t)16 << 20, "peak %zu bytes", c.peak);
    mt_ctx_free(ctx);
    cr_assert_eq(c.live, 0, "leaked %zu bytes", c.live);
}

Test(meta, cpu_outside_scope_allocates_weight_bytes) {
    counter c;
    mt_ctx *ctx = counting_ctx(&c);
    mt_module *root = mt_module_new(ctx, NULL, "", "Root");
    mt_module *lin = mt_nn_linear(ctx, root, "proj", 1024, 512, true, MT_FLOAT16, MT_DEVICE_CPU);
    cr_assert_not_null(lin);
    mt_param *w = mt_module_param(lin, "weight");
    cr_assert_eq(w->t->device, MT_DEVICE_CPU);
    cr_assert_not_null(w->t->data);
    cr_assert_geq(c.largest, (size_t)512 * 1024 * 2, "weight storage was not allocated");
    const unsigned char *d = w->t->data;
    for (size_t i = 0; i < (size_t)512 * 1024 * 2; i += 4093) cr_assert_eq(d[i], 0, "storage not zeroed");
    mt_ctx_free(ctx);
}

Test(meta, scope_overrides_nests_and_restores) {
    mt_ctx *ctx = mt_ctx_new();
    mt_module *root = mt_module_new(ctx, NULL, "", "Root");
    cr_assert_eq(mt_meta_init(ctx, MT_DEVICE_CPU), MT_DEVICE_CPU);
    mt_meta_scope_enter(ctx);
    mt_meta_scope_enter(ctx);
    cr_assert_eq(mt_meta_scope_depth(ctx), 2);
    mt_module *a = mt_nn_embedding(ctx, root, "a", 100, 8, MT_FLOAT32, MT_DEVICE_CPU);
    mt_meta_scope_exit(ctx);
    mt_module *b = mt_nn_layernorm(ctx, root, "b", 8, 1e-5, true, true, MT_FLOAT32, MT_DEVICE_CPU);
    mt_meta_scope_exit(ctx);
    mt_module *c = mt_nn_linear(ctx, root, "c", 8, 4, false, MT_FLOAT32, MT_DEVICE_CPU);
    cr_assert_eq(mt_module_param(a, "weight")->t->device, MT_DEVICE_META);
    cr_assert_eq(mt_module_param(b, "weight")->t->device, MT_DEVICE_META, "inner exit must keep the outer scope");
    cr_assert_eq(mt_module_param(c, "weight")->t->device, MT_DEVICE_CPU, "leaving the last scope restores CPU");
    cr_assert_not_null(mt_module_param(c, "weight")->t->data);
    mt_meta_scope_exit(ctx); /* unbalanced exit is harmless */
    cr_assert_eq(mt_meta_scope_depth(ctx), 0);
    mt_ctx_free(ctx);
}

Test(meta, forwards_trace_after_scope_closes) {
    mt_ctx *ctx = mt_ctx_new();
    mt_module *root = mt_module_new(ctx, NULL, "", "Root");
    mt_meta_scope_enter(ctx);
    mt_module *emb = mt_nn_embedding(ctx, root, "emb", 1000, 64, MT_BFLOAT16, MT_DEVICE_CPU);
    mt_module *lin = mt_nn_linear(ctx, root, "lin", 64, 32, true, MT_BFLOAT16, MT_DEVICE_CPU);
    mt_meta_scope_exit(ctx);
    mt_graph *g = mt_graph_new(ctx);
    mt_model model = {0};
    model.ctx = ctx;
    model.root = root;
    mt_tracer tr;
    mt_tr_init(&tr, &model, g);
    const mt_sym *dims[2] = {mt_sym_var(ctx, "batch"), mt_sym_var(ctx, "seq")};
    mt_tensor *ids = mt_tr_placeholder(&tr, "input_ids", MT_INT64, 2, dims);
    mt_tensor *h = mt_tr_call(&tr, emb, ids);
    mt_tensor *y = mt_tr_call(&tr, lin, h);
    cr_assert_not_null(y, "%s", mt_ctx_errmsg(ctx));
    cr_assert_eq(y->ndim, 3);
    cr_assert_eq(y->shape[0], dims[0]);
    cr_assert_eq(y->shape[1], dims[1]);
    cr_assert_eq(y->shape[2], mt_sym_const(ctx, 32));
    cr_assert_eq(y->dtype, MT_BFLOAT16);
    cr_assert_eq(g->n, 3);
    cr_assert_eq(g->nodes[1]->op, MT_NODE_CALL_MODULE);
    cr_assert_str_eq(g->nodes[2]->target, "lin");
    cr_assert_str_eq(g->nodes[2]->name, "lin");
    /* A wrong input width is rejected by the meta-aware forward. */
    mt_tensor *bad = mt_tr_call(&tr, lin, ids);
    cr_assert_null(bad);
    cr_assert_str_not_empty(mt_ctx_errmsg(ctx));
    mt_ctx_free(ctx);
}
