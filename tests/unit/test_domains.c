/* Issue 13, "validation in the config reader": a real-valued field outside its
 * domain (an epsilon of 0, a negative rotary base, a rotary fraction above 1, a
 * dropout probability of 1.5) and a negative count are located errors where they
 * are read, whatever the family. Before, each of these built and traced: the
 * value only showed up as a NaN, an inf or a negative size later, or not at all.
 * Domains by hand from what the value means (src/config.c DOMAINS). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "testutil.h"
#include "tiny_configs.h"

static const char *tiny_json(const char *model_type) {
    for (size_t i = 0; i < sizeof tiny_configs / sizeof tiny_configs[0]; i++)
        if (strcmp(tiny_configs[i].model_type, model_type) == 0) return tiny_configs[i].json;
    cr_assert_fail("no tiny config for %s", model_type);
    return NULL;
}

/* The family's tiny config with `"field": value` (first, or in place of its own); NULL when it builds, else the error. */
static const char *build_with(mt_ctx *ctx, const char *model_type, const char *field, const char *value) {
    const char *base = tiny_json(model_type);
    char json[4096], key[64];
    snprintf(key, sizeof key, "\"%s\": ", field);
    const char *at = strstr(base, key);
    if (at) { /* the tiny config sets it: replace its (scalar) value */
        const char *v = at + strlen(key), *end = v + strcspn(v, ",}");
        snprintf(json, sizeof json, "%.*s%s%s", (int)(v - base), base, value, end);
    } else {
        snprintf(json, sizeof json, "{\"%s\": %s, %s", field, value, base + 1);
    }
    mt_config *cfg = mt_config_parse(ctx, json, strlen(json), "bad.json");
    cr_assert_not_null(cfg, "%s", mt_ctx_errmsg(ctx));
    mt_build_opts o = {.dtype = MT_DTYPE_NONE};
    mt_model *m = mt_model_build(ctx, cfg, &o);
    return m ? NULL : mt_ctx_errmsg(ctx);
}

typedef struct dcase {
    const char *model_type, *field, *bad, *good, *expected;
} dcase;

static const dcase CASES[] = {
    {"llama", "rms_norm_eps", "0", "1e-06", "a number > 0"},
    {"llama", "rope_theta", "-10000", "500000", "a number > 0"},
    {"gpt2", "layer_norm_epsilon", "0.0", "1e-05", "a number > 0"},
    {"starcoder2", "norm_epsilon", "-1e-05", "1e-05", "a number > 0"},
    {"phi", "partial_rotary_factor", "0", "0.5", "a number in (0, 1]"},
    {"stablelm", "partial_rotary_factor", "1.25", "1", "a number in (0, 1]"},
    {"phi3", "partial_rotary_factor", "1.5", "1.0", "a number in (0, 1]"},
    {"gpt_neox", "layer_norm_eps", "0", "1e-05", "a number > 0"},
    {"gpt_neox", "rotary_emb_base", "0", "10000", "a number > 0"},
    {"deepseek_v3", "routed_scaling_factor", "0", "2.5", "a number > 0"},
    {"cohere", "logit_scale", "0", "0.0625", "a number > 0"},
    {"gemma2", "final_logit_softcapping", "0", "30.0", "a number > 0"},
    {"granite", "residual_multiplier", "-0.22", "0.22", "a number > 0"},
    {"bart", "activation_dropout", "1.5", "1", "a probability in [0, 1]"},
    {"deepseek_v3", "num_nextn_predict_layers", "-1", "1", "a count >= 0"},
};

Test(domains, out_of_domain_values_are_located_errors) {
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        const dcase *c = &CASES[i];
        mt_ctx *ctx = mt_ctx_new();
        const char *e = build_with(ctx, c->model_type, c->field, c->bad);
        cr_assert_not_null(e, "%s: %s = %s built", c->model_type, c->field, c->bad);
        char where[96], got[96];
        snprintf(where, sizeof where, ": field '%s'", c->field);
        snprintf(got, sizeof got, "expected %s, got %s", c->expected, c->bad);
        cr_assert(strncmp(e, "bad.json:1:", 11) == 0 && strstr(e, where) && strstr(e, got), "%s %s=%s: %s", c->model_type, c->field, c->bad, e);
        mt_ctx_free(ctx);
        /* the boundary or a real value is accepted */
        ctx = mt_ctx_new();
        e = build_with(ctx, c->model_type, c->field, c->good);
        cr_assert_null(e, "%s: %s = %s refused: %s", c->model_type, c->field, c->good, e);
        mt_ctx_free(ctx);
    }
}

/* Inside text_config the message names the full path. */
Test(domains, nested_field_named_in_full) {
    mt_ctx *ctx = mt_ctx_new();
    const char *json = "{\"model_type\": \"llava\", \"text_config\": {\"model_type\": \"llama\", "
                       "\"rms_norm_eps\": 0, " TINY_DIMS "}}";
    mt_config *cfg = mt_config_parse(ctx, json, strlen(json), "mm.json");
    cr_assert_not_null(cfg);
    mt_build_opts o = {.dtype = MT_DTYPE_NONE};
    cr_assert_null(mt_model_build(ctx, cfg, &o));
    cr_assert(strstr(mt_ctx_errmsg(ctx), "text_config.rms_norm_eps") &&
                  strstr(mt_ctx_errmsg(ctx), "expected a number > 0, got 0"),
              "%s", mt_ctx_errmsg(ctx));
    mt_ctx_free(ctx);
}

/* architectures[0]: a class the family does not build (another head) is traced
 * as the family's class with a note naming both; classes with the family's head
 * are kept, remote-code names included. */
static mt_model *build_class(mt_ctx *ctx, const char *model_type, const char *cls) {
    char json[4096];
    snprintf(json, sizeof json, "{\"architectures\": [\"%s\"], %s", cls, tiny_json(model_type) + 1);
    mt_config *cfg = mt_config_parse(ctx, json, strlen(json), "cls.json");
    cr_assert_not_null(cfg, "%s", mt_ctx_errmsg(ctx));
    mt_build_opts o = {.dtype = MT_DTYPE_NONE};
    mt_model *m = mt_model_build(ctx, cfg, &o);
    cr_assert_not_null(m, "%s", mt_ctx_errmsg(ctx));
    return m;
}

Test(domains, architectures_class_checked) {
    static const struct {
        const char *model_type, *cls, *built;
        bool noted;
    } C[] = {
        {"llama", "LlamaForCausalLM", "LlamaForCausalLM", false},
        {"llama", "LlamaForSequenceClassification", "LlamaForCausalLM", true},
        {"mistral", "MistralModel", "MistralForCausalLM", true},
        {"falcon", "RWForCausalLM", "RWForCausalLM", false}, /* tiiuae/falcon-7b's remote-code class */
        {"gpt2", "GPT2LMHeadModel", "GPT2LMHeadModel", false},
        {"gpt2", "GPT2ForTokenClassification", "GPT2LMHeadModel", true},
        {"bert", "BertModel", "BertModel", false},
        {"bert", "BertForSequenceClassification", "BertForMaskedLM", true},
        {"bart", "BartModel", "BartModel", false},
    };
    for (size_t i = 0; i < sizeof C / sizeof C[0]; i++) {
        mt_ctx *ctx = mt_ctx_new();
        mt_model *m = build_class(ctx, C[i].model_type, C[i].cls);
        cr_assert_str_eq(m->class_name, C[i].built, "%s %s", C[i].model_type, C[i].cls);
        cr_assert_str_eq(m->root->type, C[i].built);
        if (C[i].noted) {
            cr_assert_not_null(m->note, "%s: no note", C[i].cls);
            cr_assert(strstr(m->note, C[i].cls) && strstr(m->note, C[i].built), "%s", m->note);
        } else {
            cr_assert_null(m->note, "%s: %s", C[i].cls, m->note);
        }
        mt_ctx_free(ctx);
    }
}
