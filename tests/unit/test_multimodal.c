/* Multimodal configs whose language model is a registered family: traced as
 * that language model from text_config, with a note; errors inside
 * text_config name the full field path and its place in the file. */
#include <criterion/criterion.h>
#include <string.h>

#include "testutil.h"

Test(multimodal, gemma3_4b_language_model)
{
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build(ctx, tu_src("samples/configs/multimodal/google--gemma-3-4b-it.config.json"), 0);
    cr_assert_str_eq(m->model_type, "gemma3_text");
    cr_assert_not_null(m->note);
    cr_assert_not_null(strstr(m->note, "model_type 'gemma3' is multimodal"), "%s", m->note);
    cr_assert_not_null(strstr(m->note, "SigLIP vision tower"), "%s", m->note);
    /* torch_dtype comes from the top level (text_config has none) */
    cr_assert_eq(m->dtype, MT_BFLOAT16);
    /* by hand (Gemma3TextConfig defaults for what text_config leaves out: 8 heads,
     * 4 KV heads, head_dim 256, vocab 262208): layer = q 2560*2048 + k, v 2560*1024
     * + o 2048*2560 + q/k norms 2*256 + MLP 3*2560*10240 + 4 norms 4*2560
     * = 94,382,592; 34 layers + final norm 2560 + tied embedding 262208*2560.
     * The report's non-embedding 3,209M is 34 * 94,382,592 + 2560. */
    int64_t layer = 2560LL * 2048 + 2 * 2560LL * 1024 + 2048LL * 2560 + 2 * 256 + 3 * 2560LL * 10240 + 4 * 2560;
    cr_assert_eq(layer, 94382592);
    mt_totals t;
    cr_assert_eq(mt_model_totals(m, &t), MT_OK);
    cr_assert_eq(t.params, 34 * layer + 2560 + 262208LL * 2560);
    cr_assert_eq(t.params, 3880263168LL);
    mt_ctx_free(ctx);
}

Test(multimodal, errors_inside_text_config_are_located)
{
    const char *dir = tu_tmpdir();
    const char *path = tu_write(dir, "config.json",
                                "{\n"
                                "  \"model_type\": \"llava\",\n"
                                "  \"text_config\": {\n"
                                "    \"model_type\": \"llama\",\n"
                                "    \"hidden_size\": -8\n"
                                "  }\n"
                                "}\n");
    mt_ctx *ctx = mt_ctx_new();
    mt_config *c = mt_config_load(ctx, path);
    cr_assert_not_null(c);
    cr_assert_null(mt_model_build(ctx, c, NULL));
    const mt_error *e = mt_ctx_error(ctx);
    cr_assert_str_eq(e->field, "text_config.hidden_size");
    cr_assert_eq(e->line, 5, "line %d", e->line);
    mt_ctx_free(ctx);
}

Test(multimodal, llava_defaults_to_llama_and_unknown_text_models_are_refused)
{
    const char *dir = tu_tmpdir();
    /* LlavaConfig's text model defaults to llama when text_config names none */
    const char *ok = tu_write(dir, "llava.json",
                              "{\"model_type\": \"llava\", \"text_config\": {\"vocab_size\": 64, \"hidden_size\": 32, "
                              "\"intermediate_size\": 64, \"num_hidden_layers\": 1, \"num_attention_heads\": 2}}");
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build(ctx, ok, 0);
    cr_assert_str_eq(m->model_type, "llama");
    cr_assert_not_null(strstr(m->note, "CLIP vision tower"), "%s", m->note);
    mt_ctx_free(ctx);
    /* a text model we do not have: the wrapper's model_type is what is unsupported */
    const char *bad = tu_write(dir, "bad.json",
                               "{\"model_type\": \"fuyu\", \"text_config\": {\"model_type\": \"persimmon\"}}");
    ctx = mt_ctx_new();
    mt_config *c = mt_config_load(ctx, bad);
    cr_assert_null(mt_model_build(ctx, c, NULL));
    cr_assert_not_null(strstr(mt_ctx_errmsg(ctx), "unsupported model_type 'fuyu'"), "%s", mt_ctx_errmsg(ctx));
    mt_ctx_free(ctx);
}
