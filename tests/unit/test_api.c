/* The model as a program that includes metatrace.h only sees it: an opaque
 * handle read through the accessors of model.h (this file must not include
 * family.h, which defines struct mt_model, nor testutil.h, which includes it).
 * Expected values from the config files and transformers' modules, by hand. */
#include <math.h>
#include <string.h>

#include <criterion/criterion.h>

#include <metatrace/metatrace.h>

#ifdef METATRACE_FAMILY_H
#error "test_api.c checks the user API: family.h must not be included"
#endif

static mt_config *load(mt_ctx *ctx, const char *rel) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", MT_SOURCE_DIR, rel);
    mt_config *c = mt_config_load(ctx, path);
    cr_assert_not_null(c, "%s", mt_ctx_errmsg(ctx));
    return c;
}

static const mt_arg *info(const mt_model *m, const char *name) {
    for (int i = 0; i < mt_model_info_count(m); i++) {
        const mt_kwarg *kw = mt_model_info_at(m, i);
        cr_assert_not_null(kw);
        if (strcmp(kw->name, name) == 0) return &kw->value;
    }
    return NULL;
}

Test(api, model_accessors_llama_7b) {
    mt_ctx *ctx = mt_ctx_new();
    mt_config *cfg = load(ctx, "samples/configs/huggyllama--llama-7b.config.json");
    mt_model *m = mt_model_build(ctx, cfg, NULL);
    cr_assert_not_null(m, "%s", mt_ctx_errmsg(ctx));
    cr_assert_eq(mt_model_ctx(m), ctx);
    cr_assert_eq(mt_model_config(m), cfg);
    cr_assert_eq(mt_model_arch(m), mt_arch_find("llama"));
    cr_assert_str_eq(mt_model_type(m), "llama");
    cr_assert_str_eq(mt_model_class(m), "LlamaForCausalLM");         /* architectures[0] */
    cr_assert_null(mt_model_note(m));
    cr_assert_eq(mt_model_dtype(m), MT_FLOAT16);                     /* torch_dtype */
    cr_assert_eq(mt_model_num_layers(m), 32);                         /* num_hidden_layers */
    cr_assert_eq(mt_model_attn(m), MT_ATTN_IMPL_SDPA);                /* transformers' default for llama */
    mt_module *root = mt_model_root(m);
    cr_assert_not_null(root);
    cr_assert_str_eq(root->path, "");
    cr_assert_str_eq(root->type, "LlamaForCausalLM");
    cr_assert_not_null(mt_module_find(root, "model.layers.31.mlp.down_proj"));

    /* named_parameters(): embed_tokens, 32 x (q, k, v, o, gate, up, down, two
     * norms), norm, lm_head = 1 + 32 * 9 + 2 = 291 (the checkpoint index lists
     * these 291 and 32 rotary inv_freq buffers of old checkpoints). */
    cr_assert_eq(mt_model_param_count(m), 291);
    cr_assert_str_eq(mt_model_param_at(m, 0)->name, "model.embed_tokens.weight");
    cr_assert_str_eq(mt_model_param_at(m, 1)->name, "model.layers.0.self_attn.q_proj.weight");
    cr_assert_str_eq(mt_model_param_at(m, 9)->name, "model.layers.0.post_attention_layernorm.weight");
    cr_assert_str_eq(mt_model_param_at(m, 289)->name, "model.norm.weight");
    cr_assert_str_eq(mt_model_param_at(m, 290)->name, "lm_head.weight");
    cr_assert_null(mt_model_param_at(m, 291));
    cr_assert_null(mt_model_param_at(m, -1));
    for (int i = 0; i < mt_model_param_count(m); i++) {
        mt_param *p = mt_model_param_at(m, i);
        cr_assert(!p->is_buffer && !p->tied_to, "%s", p->name); /* tie_word_embeddings false */
        cr_assert_eq(mt_model_param(m, p->name), p);
    }
    /* named_buffers(): LlamaModel's one rotary embedding, inv_freq (non-persistent). */
    cr_assert_eq(mt_model_buffer_count(m), 1);
    mt_param *b = mt_model_buffer_at(m, 0);
    cr_assert_str_eq(b->name, "model.rotary_emb.inv_freq");
    cr_assert(b->is_buffer && !b->persistent);
    cr_assert_null(mt_model_buffer_at(m, 1));

    /* The resolved hyper-parameters, as the config states them. */
    cr_assert_gt(mt_model_info_count(m), 0);
    cr_assert_null(mt_model_info_at(m, mt_model_info_count(m)));
    cr_assert_null(mt_model_info_at(m, -1));
    const struct { const char *name; int64_t v; } ints[] = {
        {"hidden_size", 4096}, {"intermediate_size", 11008}, {"num_attention_heads", 32},
        {"num_key_value_heads", 32}, {"head_dim", 128}, {"vocab_size", 32000}, {"num_hidden_layers", 32},
    };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        const mt_arg *a = info(m, ints[i].name);
        cr_assert(a && a->kind == MT_ARG_INT && a->v.i == ints[i].v, "info %s", ints[i].name);
    }
    const mt_arg *eps = info(m, "rms_norm_eps");
    cr_assert(eps && eps->kind == MT_ARG_FLOAT && fabs(eps->v.f - 1e-6) < 1e-18);

    /* The graph a trace gives: read through its public fields. */
    mt_graph *g = mt_model_trace(m, NULL);
    cr_assert_not_null(g, "%s", mt_ctx_errmsg(ctx));
    cr_assert_gt(g->n, 2);
    cr_assert_eq(g->ctx, ctx);
    for (int i = 0; i < g->n; i++) cr_assert_eq(g->nodes[i]->index, i);
    cr_assert_str_eq(g->nodes[0]->name, "input_ids");
    cr_assert_str_eq(g->nodes[1]->name, "attention_mask");
    cr_assert_eq(g->nodes[g->n - 1]->op, MT_NODE_OUTPUT);
    mt_ctx_free(ctx);
}

Test(api, model_accessors_options) {
    mt_ctx *ctx = mt_ctx_new();
    mt_config *cfg = load(ctx, "samples/configs/huggyllama--llama-7b.config.json");
    mt_build_opts o = {.dtype = MT_BFLOAT16, .num_layers = 2, .attn = MT_ATTN_IMPL_EAGER};
    mt_model *m = mt_model_build(ctx, cfg, &o);
    cr_assert_not_null(m, "%s", mt_ctx_errmsg(ctx));
    cr_assert_eq(mt_model_dtype(m), MT_BFLOAT16);
    cr_assert_eq(mt_model_num_layers(m), 2);
    cr_assert_eq(mt_model_attn(m), MT_ATTN_IMPL_EAGER);
    cr_assert_eq(mt_model_param_count(m), 1 + 2 * 9 + 2);
    cr_assert_eq(mt_model_param_at(m, 0)->t->dtype, MT_BFLOAT16);
    mt_ctx_free(ctx);
}

/* A multimodal config traced as its language model: the model's config is
 * the text_config view, its model_type and class the text checkpoint's
 * (transformers' Gemma3ForCausalLM over gemma3_text), and the note says so. */
Test(api, model_accessors_text_only) {
    mt_ctx *ctx = mt_ctx_new();
    mt_config *cfg = load(ctx, "samples/configs/multimodal/google--gemma-3-4b-it.config.json");
    mt_build_opts o = {.text_only = true, .num_layers = 2};
    mt_model *m = mt_model_build(ctx, cfg, &o);
    cr_assert_not_null(m, "%s", mt_ctx_errmsg(ctx));
    cr_assert_neq(mt_model_config(m), cfg);
    cr_assert_eq(mt_config_parent(mt_model_config(m)), cfg);
    cr_assert_str_eq(mt_model_type(m), "gemma3_text");
    cr_assert_str_eq(mt_model_class(m), "Gemma3ForCausalLM");
    cr_assert_not_null(mt_model_note(m));
    cr_assert_not_null(strstr(mt_model_note(m), "text_config"), "%s", mt_model_note(m));
    mt_ctx_free(ctx);
}
