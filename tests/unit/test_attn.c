/* The attention implementation switch (mt_build_opts.attn, --attn), the
 * cumsum positions of OPT and BLOOM, and the non-persistent attention buffers
 * of GPT-2 (and their absence in current GPT-NeoX / GPT-J).
 *
 * Expected node sequences are transformers' source read line by line:
 * - eager_attention_forward (models/llama/modeling_llama.py):
 *     key_states = repeat_kv(key, n_rep); value_states = repeat_kv(value, n_rep)
 *       (repeat_kv: x[:, :, None, :, :].expand(...).reshape(...))
 *     attn_weights = torch.matmul(query, key_states.transpose(2, 3)) * scaling
 *     causal_mask = attention_mask[:, :, :, : key_states.shape[-2]]; attn_weights + causal_mask
 *     softmax(attn_weights, dim=-1, dtype=torch.float32).to(query.dtype)
 *     dropout(attn_weights, p=dropout, training=False); torch.matmul(attn_weights, value_states)
 *     attn_output.transpose(1, 2).contiguous()
 * - OPTDecoder.forward: torch.cumsum(attention_mask, dim=1); (position_ids * attention_mask - 1).long();
 *   position_ids[:, past_seen_tokens:]; OPTLearnedPositionalEmbedding: F.embedding(position_ids + 2)
 * - build_alibi_tensor (BLOOM): ((attention_mask.cumsum(dim=-1) - 1) * attention_mask)[:, None, :]
 * - GPT2Attention.__init__: register_buffer("bias", tril(ones(n, n, bool)).view(1, 1, n, n),
 *   persistent=False); register_buffer("masked_bias", torch.tensor(-1e4), persistent=False). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "tiny_configs.h"

static const char *tiny(const char *model_type) {
    for (size_t i = 0; i < sizeof tiny_configs / sizeof tiny_configs[0]; i++)
        if (strcmp(tiny_configs[i].model_type, model_type) == 0) return tiny_configs[i].json;
    cr_assert_fail("no tiny config for %s", model_type);
    return NULL;
}

static mt_model *build(mt_ctx *ctx, const char *model_type, mt_attn_impl attn, mt_dtype dt) {
    const char *json = tiny(model_type);
    mt_config *cfg = mt_config_parse(ctx, json, strlen(json), "config.json");
    cr_assert_not_null(cfg, "%s", mt_ctx_errmsg(ctx));
    mt_build_opts o = {.dtype = dt, .num_layers = 0, .attn = attn};
    return mt_model_build(ctx, cfg, &o);
}

static bool in_module(const mt_node *n, const char *path) {
    return n->stack && n->stack->depth > 0 && strcmp(n->stack->mods[n->stack->depth - 1]->path, path) == 0;
}

/* The call_function/call_method targets recorded directly in `path`, in order. */
static int targets_in(const mt_graph *g, const char *path, const char **out, int cap) {
    int k = 0;
    for (int i = 0; i < g->n && k < cap; i++) {
        const mt_node *n = g->nodes[i];
        if ((n->op == MT_NODE_CALL_FUNCTION || n->op == MT_NODE_CALL_METHOD) && in_module(n, path))
            out[k++] = n->target;
    }
    return k;
}

static const mt_node *first(const mt_graph *g, const char *target, const char *path) {
    for (int i = 0; i < g->n; i++)
        if (strcmp(g->nodes[i]->target, target) == 0 && (!path || in_module(g->nodes[i], path)))
            return g->nodes[i];
    return NULL;
}

static const mt_arg *kwarg(const mt_node *n, const char *name) {
    for (int i = 0; i < n->nkwargs; i++)
        if (strcmp(n->kwargs[i].name, name) == 0) return &n->kwargs[i].value;
    return NULL;
}

static int count_target(const mt_graph *g, const char *target) {
    int c = 0;
    for (int i = 0; i < g->n; i++) c += strcmp(g->nodes[i]->target, target) == 0;
    return c;
}

/* Tiny llama: 4 heads, 2 kv heads (n_rep 2), head_dim 16. */
Test(attn, eager_llama_follows_eager_attention_forward) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = build(ctx, "llama", MT_ATTN_IMPL_EAGER, MT_DTYPE_NONE);
    cr_assert_not_null(m, "%s", mt_ctx_errmsg(ctx));
    cr_assert_eq(m->attn, MT_ATTN_IMPL_EAGER);
    mt_graph *g = tu_trace(m);
    const char *t[128];
    int n = targets_in(g, "model.layers.0.self_attn", t, 128);
    static const char *const want[] = {
        "operator.getitem", "expand", "reshape",            /* repeat_kv(key) */
        "operator.getitem", "expand", "reshape",            /* repeat_kv(value) */
        "transpose", "torch.matmul", "operator.mul",         /* matmul(q, k.transpose(2, 3)) * scaling */
        "operator.getitem", "operator.add",                  /* + attention_mask[:, :, :, :k_len] */
        "torch.nn.functional.softmax", "to",                 /* softmax(dtype=float32).to(q.dtype) */
        "torch.nn.functional.dropout", "torch.matmul",       /* dropout, @ value */
        "transpose", "contiguous",                           /* transpose(1, 2).contiguous() */
        "view",                                              /* reshape(*input_shape, -1) */
    };
    int nw = (int)(sizeof want / sizeof want[0]);
    cr_assert_geq(n, nw);
    for (int i = 0; i < nw; i++)
        cr_assert_str_eq(t[n - nw + i], want[i], "node %d of the attention tail", i);
    const mt_node *sm = first(g, "torch.nn.functional.softmax", "model.layers.0.self_attn");
    cr_assert_not_null(sm);
    const mt_arg *dt = kwarg(sm, "dtype");
    cr_assert(dt && dt->kind == MT_ARG_DTYPE && dt->v.dtype == MT_FLOAT32, "softmax in float32");
    cr_assert_eq(count_target(g, "torch.nn.functional.scaled_dot_product_attention"), 0);
    mt_ctx_free(ctx);
}

/* eager and sdpa give the same logits shape and dtype (bfloat16 weights: the
 * float32 softmax is cast back to the query's dtype). */
Test(attn, eager_and_sdpa_agree_on_logits) {
    const char *fams[] = {"llama", "gemma2", "opt", "gpt_neox", "qwen2_moe"};
    for (size_t f = 0; f < sizeof fams / sizeof fams[0]; f++) {
        mt_ctx *ctx = mt_ctx_new();
        mt_model *e = build(ctx, fams[f], MT_ATTN_IMPL_EAGER, MT_BFLOAT16);
        mt_model *s = build(ctx, fams[f], MT_ATTN_IMPL_SDPA, MT_BFLOAT16);
        cr_assert(e && s, "%s: %s", fams[f], mt_ctx_errmsg(ctx));
        mt_graph *ge = tu_trace(e), *gs = tu_trace(s);
        const mt_tensor *le = ge->nodes[ge->n - 1]->args[0].v.t, *ls = gs->nodes[gs->n - 1]->args[0].v.t;
        cr_assert_eq(le->dtype, ls->dtype, "%s", fams[f]);
        cr_assert_eq(le->ndim, 3);
        cr_assert_eq(ls->ndim, 3);
        for (int i = 0; i < 3; i++) cr_assert_eq(le->shape[i], ls->shape[i], "%s dim %d", fams[f], i);
        cr_assert_eq(count_target(ge, "torch.nn.functional.scaled_dot_product_attention"), 0, "%s", fams[f]);
        /* one softmax per layer more in eager (a router's softmax is in both) */
        cr_assert_eq(count_target(ge, "torch.nn.functional.softmax") - count_target(gs, "torch.nn.functional.softmax"),
                     e->num_layers, "%s", fams[f]);
        cr_assert_gt(count_target(gs, "torch.nn.functional.scaled_dot_product_attention"), 0, "%s", fams[f]);
        mt_ctx_free(ctx);
    }
}

/* The default is transformers' choice: sdpa for Llama, eager for BLOOM / GPT-J / T5 (no sdpa)
 * and the soft-capping Gemma 2. */
Test(attn, defaults) {
    static const struct {
        const char *fam;
        mt_attn_impl want;
    } cases[] = {{"llama", MT_ATTN_IMPL_SDPA},  {"opt", MT_ATTN_IMPL_SDPA},   {"gpt_neox", MT_ATTN_IMPL_SDPA},
                 {"gpt2", MT_ATTN_IMPL_SDPA},   {"bloom", MT_ATTN_IMPL_EAGER}, {"gptj", MT_ATTN_IMPL_EAGER},
                 {"t5", MT_ATTN_IMPL_EAGER},    {"gemma2", MT_ATTN_IMPL_EAGER}, {"gpt_oss", MT_ATTN_IMPL_EAGER}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mt_ctx *ctx = mt_ctx_new();
        mt_model *m = build(ctx, cases[i].fam, MT_ATTN_IMPL_DEFAULT, MT_DTYPE_NONE);
        cr_assert_not_null(m, "%s: %s", cases[i].fam, mt_ctx_errmsg(ctx));
        cr_assert_eq(m->attn, cases[i].want, "%s", cases[i].fam);
        mt_ctx_free(ctx);
    }
}

Test(attn, unavailable_choices_are_errors_naming_the_family) {
    static const struct {
        const char *fam;
        mt_attn_impl attn;
        mt_status st;
        const char *msg;
    } cases[] = {
        {"bloom", MT_ATTN_IMPL_SDPA, MT_ERR_USAGE, "model_type 'bloom' has no sdpa attention in transformers"},
        {"gptj", MT_ATTN_IMPL_SDPA, MT_ERR_USAGE, "model_type 'gptj' has no sdpa attention"},
        {"t5", MT_ATTN_IMPL_SDPA, MT_ERR_USAGE, "model_type 't5' has no sdpa attention"},
        {"gpt_oss", MT_ATTN_IMPL_SDPA, MT_ERR_USAGE, "model_type 'gpt_oss' has no sdpa attention"},
        {"gpt2", MT_ATTN_IMPL_EAGER, MT_ERR_UNSUPPORTED, "metatrace traces only its sdpa attention"},
        {"phi3", MT_ATTN_IMPL_EAGER, MT_ERR_UNSUPPORTED, "model_type 'phi3'"},
        {"bert", MT_ATTN_IMPL_EAGER, MT_ERR_UNSUPPORTED, "model_type 'bert'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mt_ctx *ctx = mt_ctx_new();
        mt_model *m = build(ctx, cases[i].fam, cases[i].attn, MT_DTYPE_NONE);
        cr_assert_null(m, "%s", cases[i].fam);
        cr_assert_eq(mt_ctx_status(ctx), cases[i].st, "%s: %s", cases[i].fam, mt_ctx_errmsg(ctx));
        cr_assert(strstr(mt_ctx_errmsg(ctx), cases[i].msg), "%s: %s", cases[i].fam, mt_ctx_errmsg(ctx));
        mt_ctx_free(ctx);
    }
    /* the families' own choice, asked for explicitly, is fine */
    mt_ctx *ctx = mt_ctx_new();
    cr_assert_not_null(build(ctx, "bloom", MT_ATTN_IMPL_EAGER, MT_DTYPE_NONE), "%s", mt_ctx_errmsg(ctx));
    cr_assert_not_null(build(ctx, "bert", MT_ATTN_IMPL_SDPA, MT_DTYPE_NONE), "%s", mt_ctx_errmsg(ctx));
    mt_ctx_free(ctx);
}

Test(attn, cli_option) {
    const char *dir = tu_tmpdir();
    const char *cfg = tu_write(dir, "llama.config.json", tiny("llama"));
    char path[4096];
    snprintf(path, sizeof path, "%s", cfg);
    char *out = NULL, *err = NULL;
    const char *ok[] = {path, "--attn", "eager", NULL};
    cr_assert_eq(tu_run_cli(ok, &out, &err), 0, "%s", err);
    free(out), free(err);
    const char *bad[] = {path, "--attn", "flash", NULL};
    cr_assert_eq(tu_run_cli(bad, &out, &err), 2);
    cr_assert(strstr(err, "--attn: expected eager or sdpa, got 'flash'"), "%s", err);
    free(out), free(err);
    const char *bcfg = tu_write(dir, "bloom.config.json", tiny("bloom"));
    snprintf(path, sizeof path, "%s", bcfg);
    const char *nosdpa[] = {path, "--attn", "sdpa", NULL};
    cr_assert_eq(tu_run_cli(nosdpa, &out, &err), 2);
    cr_assert(strstr(err, "'bloom' has no sdpa attention"), "%s", err);
    free(out), free(err);
}

/* OPT positions: cumsum(attention_mask, dim=1) * mask - 1, .long(), [:, 0:], + 2, F.embedding. */
Test(attn, opt_positions_use_cumsum) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = build(ctx, "opt", MT_ATTN_IMPL_DEFAULT, MT_DTYPE_NONE);
    cr_assert_not_null(m, "%s", mt_ctx_errmsg(ctx));
    mt_graph *g = tu_trace(m);
    const mt_node *cs = first(g, "torch.cumsum", "model.decoder");
    cr_assert_not_null(cs);
    cr_assert_eq(cs->op, MT_NODE_CALL_FUNCTION);
    cr_assert_str_eq(cs->args[0].v.t->node->name, "attention_mask");
    const mt_arg *d = kwarg(cs, "dim");
    cr_assert(d && d->kind == MT_ARG_INT && d->v.i == 1);
    cr_assert_eq(cs->outs[0].dtype, MT_INT64);
    static const char *const want[] = {"torch.cumsum", "operator.mul", "operator.sub", "to", "operator.getitem",
                                       "operator.add", "torch.nn.functional.embedding"};
    for (int i = 0; i < 7; i++) cr_assert_str_eq(g->nodes[cs->index + i + (i >= 6)]->target, want[i], "node %d", i);
    cr_assert_eq(count_target(g, "torch.arange"), 2, "only the causal mask's two aranges remain");
    mt_ctx_free(ctx);
}

/* BLOOM's ALiBi positions: attention_mask.cumsum(dim=-1) (a method call) - 1, * mask. */
Test(attn, bloom_alibi_uses_cumsum_method) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = build(ctx, "bloom", MT_ATTN_IMPL_DEFAULT, MT_DTYPE_NONE);
    cr_assert_not_null(m, "%s", mt_ctx_errmsg(ctx));
    mt_graph *g = tu_trace(m);
    const mt_node *cs = first(g, "cumsum", NULL);
    cr_assert_not_null(cs);
    cr_assert_eq(cs->op, MT_NODE_CALL_METHOD);
    cr_assert_str_eq(cs->name, "cumsum");
    const mt_arg *d = kwarg(cs, "dim");
    cr_assert(d && d->kind == MT_ARG_INT && d->v.i == -1);
    cr_assert_str_eq(g->nodes[cs->index + 1]->target, "operator.sub");
    cr_assert_str_eq(g->nodes[cs->index + 2]->target, "operator.mul");
    mt_ctx_free(ctx);
}

/* GPT-2: per layer bias [1, 1, n_positions, n_positions] bool and masked_bias [], non-persistent
 * buffers; the parameters (the checkpoint) are unchanged. */
Test(attn, gpt2_causal_mask_buffers) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = build(ctx, "gpt2", MT_ATTN_IMPL_DEFAULT, MT_DTYPE_NONE);
    cr_assert_not_null(m, "%s", mt_ctx_errmsg(ctx));
    int64_t npos = 32; /* the tiny config's n_positions */
    cr_assert_eq(m->buffers.n, 2 * m->num_layers);
    for (int64_t l = 0; l < m->num_layers; l++) {
        char name[96];
        snprintf(name, sizeof name, "transformer.h.%lld.attn.bias", (long long)l);
        mt_param *b = mt_model_param(m, name);
        cr_assert(b && b->is_buffer && !b->persistent, "%s", name);
        cr_assert_eq(b->t->dtype, MT_BOOL);
        cr_assert_eq(b->t->ndim, 4);
        int64_t want[4] = {1, 1, npos, npos};
        for (int i = 0; i < 4; i++) cr_assert_eq(mt_sym_const_value(b->t->shape[i]), want[i]);
        snprintf(name, sizeof name, "transformer.h.%lld.attn.masked_bias", (long long)l);
        mt_param *mb = mt_model_param(m, name);
        cr_assert(mb && mb->is_buffer && !mb->persistent && mb->t->ndim == 0, "%s", name);
        cr_assert_eq(mb->t->dtype, MT_FLOAT32);
    }
    mt_totals t;
    cr_assert_eq(mt_model_totals(m, &t), MT_OK);
    cr_assert_eq(t.buffers, m->num_layers * (npos * npos + 1));
    for (size_t i = 0; i < sizeof tiny_configs / sizeof tiny_configs[0]; i++)
        if (strcmp(tiny_configs[i].model_type, "gpt2") == 0) cr_assert_eq(t.params, tiny_configs[i].params);
    mt_ctx_free(ctx);
}

/* Current transformers' GPTNeoXAttention and GPTJAttention register no bias/masked_bias. */
Test(attn, neox_and_gptj_have_no_mask_buffers) {
    const char *fams[] = {"gpt_neox", "gptj"};
    for (int f = 0; f < 2; f++) {
        mt_ctx *ctx = mt_ctx_new();
        mt_model *m = build(ctx, fams[f], MT_ATTN_IMPL_DEFAULT, MT_DTYPE_NONE);
        cr_assert_not_null(m, "%s", mt_ctx_errmsg(ctx));
        for (int i = 0; i < m->buffers.n; i++) {
            const mt_param *b = m->buffers.items[i];
            cr_assert(strcmp(b->local, "bias") != 0 && strcmp(b->local, "masked_bias") != 0, "%s: %s", fams[f],
                      b->name);
        }
        mt_ctx_free(ctx);
    }
}
