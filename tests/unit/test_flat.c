/* The flat API (flat.h): options by the CLI's names, build/trace/export into
 * memory. Expected values: the CLI run as a separate program with the same
 * options (its bytes), hand-derived counts, and the messages flat.h documents. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define LLAMA "samples/configs/huggyllama--llama-7b.config.json"

/* The CLI's standard output for argv (asserting exit 0). */
static char *cli_out(const char *const *argv)
{
    char *out = NULL, *err = NULL;
    int rc = tu_run_cli(argv, &out, &err);
    cr_assert_eq(rc, 0, "exit %d: %s", rc, err);
    free(err);
    return out;
}

/* Export `format` with options set by name (NULL-terminated name, value pairs). */
static char *flat_export(mt_ctx *ctx, const char *format, const char *const *opts, int64_t batch, int64_t seq)
{
    mt_flat *f = mt_flat_new(ctx);
    cr_assert_not_null(f);
    for (int i = 0; opts && opts[i]; i += 2)
        cr_assert_eq(mt_flat_set(f, opts[i], opts[i + 1]), MT_OK, "%s=%s: %s", opts[i], opts[i + 1], mt_ctx_errmsg(ctx));
    if (batch) cr_assert_eq(mt_flat_bind(f, "batch", batch), MT_OK);
    if (seq) cr_assert_eq(mt_flat_bind(f, "seq", seq), MT_OK);
    mt_config *cfg = mt_config_load(ctx, tu_src(LLAMA));
    mt_model *m = mt_flat_build(f, cfg);
    cr_assert_not_null(m, "%s", mt_ctx_errmsg(ctx));
    mt_graph *g = mt_flat_trace(f, m);
    cr_assert_not_null(g, "%s", mt_ctx_errmsg(ctx));
    size_t len = 0;
    char *s = mt_flat_export(f, m, g, format, &len);
    cr_assert_not_null(s, "%s: %s", format, mt_ctx_errmsg(ctx));
    cr_assert_eq(strlen(s), len);
    return s;
}

Test(flat, exports_equal_the_cli_with_the_same_options) {
    struct {
        const char *format;
        const char *opts[9];
        const char *argv[14];
    } cases[] = {
        {"json", {"layers", "2", "kv-dtype", "float8_e4m3fn", "dp", "4", "stable", "true", NULL},
         {"--layers", "2", "--kv-dtype", "float8_e4m3fn", "--dp", "4", "--stable", "--bind", "batch=1,seq=64", "-f",
          "json", "-o", "-", NULL}},
        {"dot", {"layers", "1", NULL}, {"--layers", "1", "--bind", "batch=1,seq=64", "-f", "dot", "-o", "-", NULL}},
        {"summary", {"layers", "2", "dtype", "bfloat16", "mem", "85899345920", NULL},
         {"--layers", "2", "--dtype", "bfloat16", "--mem", "80GiB", "--bind", "batch=1,seq=64", NULL}},
        {"plan-graph-json", {"layers", "2", "tp", "4", "plan-style", "transformers", NULL},
         {"--layers", "2", "--tp", "4", "--plan-style", "transformers", "--bind", "batch=1,seq=64", "-f", "json", "-o",
          "-", NULL}},
        {"plan-degrees", {"layers", "2", NULL},
         {"--layers", "2", "--tp", "auto", "--bind", "batch=1,seq=64", "-f", "json", "-o", "-", NULL}},
        {"table", {"layers", "2", "depth", "2", NULL}, {"--layers", "2", "--depth", "2", "--bind", "batch=1,seq=64", NULL}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mt_ctx *ctx = mt_ctx_new();
        char *ours = flat_export(ctx, cases[i].format, cases[i].opts, 1, 64);
        const char *argv[16] = {tu_src(LLAMA)};
        for (int k = 0; cases[i].argv[k]; k++) argv[k + 1] = cases[i].argv[k];
        char *theirs = cli_out(argv);
        cr_assert_str_eq(ours, theirs, "format %s differs from the CLI", cases[i].format);
        free(theirs);
        mt_ctx_free(ctx);
    }
}

Test(flat, plan_json_is_the_plan_member) {
    mt_ctx *ctx = mt_ctx_new();
    const char *opts[] = {"layers", "1", "tp", "8", NULL};
    char *s = flat_export(ctx, "plan-json", opts, 0, 0);
    cr_assert(strncmp(s, "{\n  \"plan\": {\n    \"format\": \"metatrace-plan\"", 44) == 0, "%.80s", s);
    cr_assert_not_null(strstr(s, "\"tp\": 8"));
    mt_ctx_free(ctx);
}

Test(flat, bad_options_are_usage_errors_naming_them) {
    mt_ctx *ctx = mt_ctx_new();
    mt_flat *f = mt_flat_new(ctx);
    struct { const char *name, *value, *msg; } cases[] = {
        {"layers", "0", "option 'layers': expected a number of layers from 1 to 1024, got '0'"},
        {"layers", "2x", "option 'layers': expected a number of layers from 1 to 1024, got '2x'"},
        {"layers", "1025", "option 'layers': expected a number of layers from 1 to 1024, got '1025'"},
        {"dtype", "int8", "option 'dtype': expected a floating-point dtype (float32, bfloat16, float16, ...), got 'int8'"},
        {"attn", "flash", "option 'attn': expected eager or sdpa, got 'flash'"},
        {"quant", "bnb", "option 'quant': unknown quantization method 'bnb' (known: fp8,mxfp4,gptq,awq,bnb-8bit,bnb-4bit)"},
        {"stable", "yes", "option 'stable': expected true or false, got 'yes'"},
        {"tp", "4097", "option 'tp': expected a tensor-parallel degree from 1 to 4096, got '4097'"},
        {"mem", "-1", "option 'mem': expected one device's memory in bytes (a positive integer), got '-1'"},
        {"layer", "2", "unknown option 'layer' (known: dtype, layers, attn, quant, kv-dtype, mem, mla-cache, dp, "
                       "optimizer, context, stable, compact, tp, plan-style, sp, search, max-tp, depth, unfold, all, text-only)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cr_assert_eq(mt_flat_set(f, cases[i].name, cases[i].value), MT_ERR_USAGE, "%s=%s", cases[i].name, cases[i].value);
        cr_assert_str_eq(mt_ctx_errmsg(ctx), cases[i].msg);
        mt_error_clear(ctx);
    }
    cr_assert_eq(mt_flat_set(f, "dtype", "float8_e5m2"), MT_ERR_USAGE);
    cr_assert_not_null(strstr(mt_ctx_errmsg(ctx), "set quant to fp8"));
    mt_error_clear(ctx);
    cr_assert_eq(mt_flat_bind(f, "2seq", 3), MT_ERR_USAGE);
    mt_error_clear(ctx);
    cr_assert_eq(mt_flat_bind(f, "seq", 0), MT_ERR_USAGE);
    cr_assert_str_eq(mt_ctx_errmsg(ctx), "bind: the value of 'seq' must be a positive integer, got 0");
    mt_error_clear(ctx);
    mt_ctx_free(ctx);
}

Test(flat, reset_rebind_and_unknown_format) {
    mt_ctx *ctx = mt_ctx_new();
    mt_flat *f = mt_flat_new(ctx);
    cr_assert_eq(mt_flat_set(f, "layers", "2"), MT_OK);
    cr_assert_eq(mt_flat_set(f, "layers", NULL), MT_OK); /* back to the config's 32 */
    cr_assert_eq(mt_flat_bind(f, "seq", 8), MT_OK);
    cr_assert_eq(mt_flat_bind(f, "seq", 16), MT_OK);     /* replaces */
    mt_model *m = mt_flat_build(f, mt_config_load(ctx, tu_src(LLAMA)));
    cr_assert_not_null(m);
    cr_assert_eq(m->num_layers, 32);
    mt_graph *g = mt_flat_trace(f, m);
    cr_assert_not_null(g, "%s", mt_ctx_errmsg(ctx));
    cr_assert_str_eq(mt_sym_str(g->nodes[0]->outs[0].shape[1]), "16");
    size_t len = 7;
    cr_assert_null(mt_flat_export(f, m, g, "pdf", &len));
    cr_assert_eq(len, 0);
    cr_assert_eq(mt_ctx_status(ctx), MT_ERR_USAGE);
    cr_assert_not_null(strstr(mt_ctx_errmsg(ctx), "unknown export format 'pdf'"));
    mt_error_clear(ctx);
    /* sp splits the symbolic sequence: refused with seq bound, as the CLI does */
    cr_assert_eq(mt_flat_set(f, "sp", "true"), MT_OK);
    cr_assert_eq(mt_flat_set(f, "tp", "2"), MT_OK);
    cr_assert_null(mt_flat_export(f, m, g, "plan-json", NULL));
    cr_assert_not_null(strstr(mt_ctx_errmsg(ctx), "option 'sp'"));
    mt_error_clear(ctx);
    /* a failed load reaches build as NULL: the load's error stays the message */
    cr_assert_null(mt_flat_build(f, mt_config_load(ctx, "/nonexistent/config.json")));
    cr_assert_str_eq(mt_ctx_errmsg(ctx), "/nonexistent/config.json: cannot open: No such file or directory");
    mt_ctx_free(ctx);
}

Test(flat, text_only_builds_a_multimodal_config_s_language_model)
{
    mt_ctx *ctx = mt_ctx_new();
    mt_flat *f = mt_flat_new(ctx);
    mt_config *cfg = mt_config_load(ctx, tu_src("samples/configs/multimodal/google--gemma-3-4b-it.config.json"));
    cr_assert_not_null(cfg);
    mt_model *m = mt_flat_build(f, cfg);
    cr_assert_not_null(m, "%s", mt_ctx_errmsg(ctx));
    cr_assert_str_eq(m->model_type, "gemma3"); /* default: the whole model */
    cr_assert_eq(mt_flat_set(f, "text-only", "true"), MT_OK);
    m = mt_flat_build(f, cfg);
    cr_assert_not_null(m, "%s", mt_ctx_errmsg(ctx));
    cr_assert_str_eq(m->model_type, "gemma3_text");
    cr_assert_eq(mt_flat_set(f, "text-only", NULL), MT_OK); /* reset */
    m = mt_flat_build(f, cfg);
    cr_assert_str_eq(m->model_type, "gemma3");
    mt_ctx_free(ctx);
}
