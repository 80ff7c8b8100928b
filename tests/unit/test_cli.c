/* The metatrace CLI, run as a separate process (MT_CLI_PATH): exit codes,
 * messages (FILE:LINE:COL where they apply), no partial or clobbered output
 * on failure, formats, and the snapshot tests against tests/snapshots/.
 *
 * Every test gets its own temporary directory `xt_work` (tests run forked and in
 * parallel); captured stdout/stderr live elsewhere, so "no output file
 * appeared" is "xt_work holds only what the test put there".
 *
 * Expected numbers come from hand calculation (torch.nn shapes of LLaMA):
 * tiny-llama (vocab 128, hidden 64, intermediate 176, 2 layers, 4 heads of 16,
 * 2 kv heads):
 *   embed 128*64 = 8192; per layer q 64*64 + k 32*64 + v 32*64 + o 64*64 = 12288,
 *   mlp 3*64*176 = 33792, two norms 128 -> 46208; final norm 64; lm_head 8192
 *   total 8192 + 2*46208 + 64 + 8192 = 108864 parameters, 435456 bytes in float32.
 * huggyllama/llama-7b has 6,738,415,616 parameters (the published count);
 * with 2 layers: 2*32000*4096 + 4096 + 2*(4*4096^2 + 3*4096*11008 + 2*4096)
 *   = 666,914,816. */
#include <jansson.h>

#include "export_testutil.h"

#define TINY_REL "tests/snapshots/tiny-llama.config.json"
#define L7B_REL "samples/configs/huggyllama--llama-7b.config.json"

/* Write a config into xt_work/<name>; returns a malloc'd path. */
static char *config(const char *name, const char *text)
{
    char *p = xt_join(xt_work, name);
    FILE *f = fopen(p, "wb");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
    return p;
}

#define RUN(...) xt_run_result(NULL, (const char *const[]){__VA_ARGS__, NULL})
#define RUN_IN(cwd, ...) xt_run_result(cwd, (const char *const[]){__VA_ARGS__, NULL})

static void expect_error(xt_result *r, int status, const char *const *needles)
{
    cr_assert_eq(r->status, status, "exit status %d, expected %d; stderr: %s", r->status, status,
                 r->err);
    cr_assert_eq(strncmp(r->err, "metatrace: error: ", 18), 0, "stderr: %s", r->err);
    for (const char *const *n = needles; *n; n++)
        cr_assert_not_null(strstr(r->err, *n), "stderr lacks \"%s\": %s", *n, r->err);
    cr_assert_str_eq(r->out, "", "nothing on stdout on failure");
}

#define EXPECT_ERROR(r, status, ...) expect_error(r, status, (const char *const[]){__VA_ARGS__, NULL})

/* A bad config: exit 1, the message, and xt_work/ holds only the config. */
static void bad_config(const char *text, const char *const *needles)
{
    char *cfg = config("config.json", text);
    char *out = xt_join(xt_work, "out.json");
    xt_result r = RUN(cfg, "-o", out);
    expect_error(&r, 1, needles);
    cr_assert_not(tu_exists(out), "no output file on failure");
    cr_assert_eq(xt_count_entries(xt_work), 1, "no temporary left behind");
    xt_result_free(&r);
    free(cfg);
    free(out);
}

#define BAD_CONFIG(text, ...) bad_config(text, (const char *const[]){__VA_ARGS__, NULL})

static const char *const tiny_llama =
    "{\n"
    "  \"architectures\": [\"LlamaForCausalLM\"],\n"
    "  \"model_type\": \"llama\",\n"
    "  \"vocab_size\": 128,\n"
    "  \"hidden_size\": 64,\n"
    "  \"intermediate_size\": 176,\n"
    "  \"num_hidden_layers\": 2,\n"
    "  \"num_attention_heads\": 4,\n"
    "  \"num_key_value_heads\": 2\n"
    "}\n";

/* ---- bad input: exit 1 ------------------------------------------------------------ */

XT_WORK_SUITE(cli_input);

Test(cli_input, missing_file)
{
    char *cfg = xt_join(xt_work, "nope.json");
    char *out = xt_join(xt_work, "out.json");
    xt_result r = RUN(cfg, "-o", out);
    EXPECT_ERROR(&r, 1, "nope.json");
    cr_assert_not(tu_exists(out));
    cr_assert_eq(xt_count_entries(xt_work), 0);
    xt_result_free(&r);
    free(cfg);
    free(out);
}

Test(cli_input, directory_without_config)
{
    char *out = xt_join(xt_work, "out.json");
    xt_result r = RUN(xt_work, "-o", out);
    EXPECT_ERROR(&r, 1, "config.json");
    cr_assert_eq(xt_count_entries(xt_work), 0);
    xt_result_free(&r);
    free(out);
}

/* jansson reports the offending character: the second ',' on line 3 is
 * column 21 ("  " 1-2, "\"hidden_size\"" 3-15, ':' 16, ' ' 17, "64" 18-19, ',' 20). */
Test(cli_input, malformed_json)
{
    BAD_CONFIG("{\n  \"model_type\": \"llama\",\n  \"hidden_size\": 64,,\n  \"vocab_size\": 128\n}\n",
               "config.json:3:21:");
}

/* Field errors point at the key's opening quote: line 5, column 3. */
Test(cli_input, wrong_field_type)
{
    BAD_CONFIG("{\n  \"model_type\": \"llama\",\n  \"vocab_size\": 128,\n  \"num_hidden_layers\": 2,\n"
               "  \"hidden_size\": \"big\"\n}\n",
               "config.json:5:3: field 'hidden_size'");
}

Test(cli_input, missing_model_type)
{
    BAD_CONFIG("{\n  \"hidden_size\": 64\n}\n", "config.json", "model_type");
}

Test(cli_input, zero_size)
{
    BAD_CONFIG("{\n  \"model_type\": \"llama\",\n  \"hidden_size\": 0\n}\n",
               "config.json:3:3: field 'hidden_size'");
}

Test(cli_input, negative_size)
{
    BAD_CONFIG("{\n  \"model_type\": \"llama\",\n  \"hidden_size\": 64,\n  \"num_hidden_layers\": -2\n}\n",
               "config.json:4:3: field 'num_hidden_layers'");
}

Test(cli_input, hidden_not_divisible_by_heads)
{
    BAD_CONFIG("{\n  \"model_type\": \"llama\",\n  \"hidden_size\": 64,\n  \"num_attention_heads\": 5,\n"
               "  \"num_key_value_heads\": 5\n}\n",
               "config.json:", "hidden_size", "num_attention_heads", "divisible");
}

Test(cli_input, heads_not_divisible_by_kv_heads)
{
    BAD_CONFIG("{\n  \"model_type\": \"llama\",\n  \"hidden_size\": 64,\n  \"num_attention_heads\": 4,\n"
               "  \"num_key_value_heads\": 3\n}\n",
               "config.json:", "num_key_value_heads", "divisible");
}

Test(cli_input, unknown_model_type_lists_supported)
{
    BAD_CONFIG("{\n  \"model_type\": \"nosuchmodel\",\n  \"hidden_size\": 64\n}\n",
               "config.json:2:3: field 'model_type'", "nosuchmodel", "llama");
}

Test(cli_input, failure_leaves_existing_output_untouched)
{
    char *cfg = config("config.json", "{\n  \"model_type\": \"llama\",\n  \"hidden_size\": 0\n}\n");
    char *out = xt_join(xt_work, "out.json");
    FILE *f = fopen(out, "wb");
    cr_assert_not_null(f);
    fputs("precious\n", f);
    fclose(f);
    xt_result r = RUN(cfg, "-o", out);
    cr_assert_eq(r.status, 1, "%s", r.err);
    char *kept = tu_read(out, NULL);
    cr_assert_str_eq(kept, "precious\n", "the output file is not clobbered");
    cr_assert_eq(xt_count_entries(xt_work), 2, "no temporary left behind");
    free(kept);
    xt_result_free(&r);

    /* Same after a usage error. */
    r = RUN(cfg, "-o", out, "--layers", "0");
    cr_assert_eq(r.status, 2, "%s", r.err);
    kept = tu_read(out, NULL);
    cr_assert_str_eq(kept, "precious\n");
    cr_assert_eq(xt_count_entries(xt_work), 2);
    free(kept);
    xt_result_free(&r);
    free(cfg);
    free(out);
}

Test(cli_input, output_directory_missing)
{
    char *cfg = config("config.json", tiny_llama);
    char *out = xt_join(xt_work, "no/such/dir/out.json");
    xt_result r = RUN(cfg, "-o", out);
    EXPECT_ERROR(&r, 1, "no/such/dir/out.json");
    cr_assert_eq(xt_count_entries(xt_work), 1);
    xt_result_free(&r);
    free(cfg);
    free(out);
}

/* ---- usage errors: exit 2 ----------------------------------------------------------- */

XT_WORK_SUITE(cli_usage);

typedef struct usage_case {
    const char *argv[6]; /* "CFG" is replaced by the config path, "OUT" by xt_work/out.json */
    const char *message;
} usage_case;

static const usage_case usage_cases[] = {
    {{"--frobnicate", "CFG"}, "unknown option '--frobnicate'"},
    {{"-x", "CFG"}, "unknown option '-x'"},
    {{"CFG", "-o"}, "option '-o' requires an argument"},
    {{"CFG", "--bind"}, "option '--bind' requires an argument"},
    {{"CFG", "--help=yes"}, "option '--help' takes no argument"},
    {{"CFG", "--bind", "batch"}, "--bind: 'batch' is not NAME=VALUE"},
    {{"CFG", "--bind", "batch=0"}, "--bind: the value of 'batch' must be a positive integer, got '0'"},
    {{"CFG", "--bind", "batch=-1"}, "got '-1'"},
    {{"CFG", "--bind", "batch=1x"}, "got '1x'"},
    {{"CFG", "--bind", "batch=99999999999999999999"}, "got '99999999999999999999'"},
    {{"CFG", "--bind", "=4"}, "'' is not a symbol name"},
    {{"CFG", "--bind", "1x=4"}, "'1x' is not a symbol name"},
    {{"CFG", "--bind", "batch=1,,seq=2"}, "'' is not NAME=VALUE"},
    {{"CFG", "--bind", "batch=1,batch=2"}, "'batch' is bound twice"},
    {{"CFG", "--bind", ""}, "--bind: expected NAME=VALUE"},
    {{"CFG", "--layers", "0"}, "--layers: expected a positive integer, got '0'"},
    {{"CFG", "--layers", "-3"}, "got '-3'"},
    {{"CFG", "--layers", "two"}, "got 'two'"},
    {{"CFG", "--layers="}, "got ''"},
    {{"CFG", "--dtype", "float42"}, "--dtype: unknown dtype 'float42'"},
    {{"CFG", "--dtype", "int64"}, "--dtype: 'int64' is not a floating-point dtype"},
    {{"CFG", "--format", "xml"}, "--format: unknown format 'xml'"},
    {{"CFG", "-o", "OUT.txt.bak"}, "cannot tell the format of"},
    {{"CFG", "-o", "OUT"}, "cannot tell the format of"},
    {{NULL}, "missing CONFIG"},
    {{"CFG", "CFG"}, "unexpected argument"},
};

Test(cli_usage, bad_options_exit_2)
{
    char *cfg = config("config.json", tiny_llama);
    char *out = xt_join(xt_work, "out");
    char *outx = xt_join(xt_work, "out.txt.bak");
    for (size_t i = 0; i < sizeof usage_cases / sizeof usage_cases[0]; i++) {
        const usage_case *c = &usage_cases[i];
        const char *argv[8];
        int n = 0;
        for (; n < 6 && c->argv[n]; n++) {
            const char *a = c->argv[n];
            argv[n] = strcmp(a, "CFG") == 0 ? cfg : strcmp(a, "OUT") == 0 ? out
                                                  : strcmp(a, "OUT.txt.bak") == 0 ? outx
                                                                                   : a;
        }
        argv[n] = NULL;
        xt_result r = xt_run_result(NULL, argv);
        cr_expect_eq(r.status, 2, "case %zu (%s): status %d, stderr %s", i, c->message, r.status,
                     r.err);
        cr_expect(strncmp(r.err, "metatrace: error: ", 18) == 0, "case %zu: %s", i, r.err);
        cr_expect_not_null(strstr(r.err, c->message), "case %zu: expected \"%s\" in: %s", i,
                           c->message, r.err);
        cr_expect_not_null(strstr(r.err, "Try 'metatrace --help'"), "case %zu: %s", i, r.err);
        cr_expect_str_eq(r.out, "", "case %zu", i);
        cr_expect_eq(xt_count_entries(xt_work), 1, "case %zu left a file behind", i);
        xt_result_free(&r);
    }
    free(cfg);
    free(out);
    free(outx);
}

/* A symbol the trace does not have is a usage error too (a typo must not be
 * silently ignored). */
Test(cli_usage, bind_unknown_symbol)
{
    char *cfg = config("config.json", tiny_llama);
    char *out = xt_join(xt_work, "out.json");
    xt_result r = RUN(cfg, "--bind", "btach=2", "-o", out);
    EXPECT_ERROR(&r, 2, "btach");
    cr_assert_eq(xt_count_entries(xt_work), 1);
    xt_result_free(&r);
    free(cfg);
    free(out);
}

/* ---- successful runs ----------------------------------------------------------------- */

XT_WORK_SUITE(cli);

Test(cli, help_and_version)
{
    xt_result r = RUN("--help");
    cr_assert_eq(r.status, 0);
    cr_assert_not_null(strstr(r.out, "Usage: metatrace [options] CONFIG"));
    const char *opts[] = {"--output", "--format", "--dtype", "--layers", "--bind", "--help",
                          "--version", "Supported model types:", "llama"};
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++)
        cr_assert_not_null(strstr(r.out, opts[i]), "help lacks %s", opts[i]);
    cr_assert_str_eq(r.err, "");
    xt_result_free(&r);

    r = RUN("-h");
    cr_assert_eq(r.status, 0);
    xt_result_free(&r);

    r = RUN("-V");
    cr_assert_eq(r.status, 0);
    cr_assert_str_eq(r.out, "metatrace " MT_VERSION_STRING "\n");
    xt_result_free(&r);
}

Test(cli, summary_by_default)
{
    char *cfg = config("config.json", tiny_llama);
    xt_result r = RUN(cfg);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_str_eq(r.err, "");
    cr_assert_not_null(strstr(r.out, "LlamaForCausalLM (model_type llama)"), "%s", r.out);
    cr_assert_not_null(strstr(r.out, "108,864"), "parameter total: %s", r.out);
    cr_assert_not_null(strstr(r.out, "435,456 bytes"), "%s", r.out);
    cr_assert_not_null(strstr(r.out, "float32"), "%s", r.out);
    cr_assert_not_null(strstr(r.out, "logits"), "%s", r.out);
    cr_assert_not_null(strstr(r.out, "[batch, seq, 128] float32"), "%s", r.out);
    cr_assert_eq(xt_count_entries(xt_work), 1);
    xt_result_free(&r);
    free(cfg);
}

static json_t *load_json(const char *path)
{
    json_error_t e;
    json_t *j = json_load_file(path, 0, &e);
    cr_assert_not_null(j, "%s:%d:%d: %s", path, e.line, e.column, e.text);
    return j;
}

static json_t *logits_shape(json_t *doc)
{
    json_t *nodes = json_object_get(doc, "nodes");
    json_t *out = json_array_get(nodes, json_array_size(nodes) - 1);
    cr_assert_str_eq(json_string_value(json_object_get(out, "op")), "output");
    const char *src = json_string_value(json_object_get(json_array_get(json_object_get(out, "args"), 0), "node"));
    cr_assert_not_null(src);
    size_t i;
    json_t *n;
    json_array_foreach(nodes, i, n) if (strcmp(json_string_value(json_object_get(n, "name")), src) == 0) return json_object_get(n, "shape");
    cr_assert_fail("no node %s", src);
    return NULL;
}

Test(cli, json_file_and_options)
{
    char *cfg = config("config.json", tiny_llama);
    char *out = xt_join(xt_work, "graph.json");
    xt_result r = RUN(cfg, "-o", out);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_str_eq(r.out, "");
    xt_result_free(&r);
    cr_assert_eq(xt_count_entries(xt_work), 2, "config and graph.json, no temporary");
    json_t *doc = load_json(out);
    /* jansson's own JSON_INDENT(2) layout, reals at 15, 16 or 17 digits. */
    char *text = tu_read(out, NULL);
    bool canonical = false;
    for (int p = 15; p <= 17 && !canonical; p++) {
        char *again = json_dumps(doc, JSON_INDENT(2) | JSON_REAL_PRECISION(p));
        size_t n = strlen(again);
        canonical = strncmp(text, again, n) == 0 && strcmp(text + n, "\n") == 0;
        free(again);
    }
    cr_assert(canonical, "graph.json is not in jansson's JSON_INDENT(2) layout");
    free(text);
    json_t *want = json_pack("[s, s, i]", "batch", "seq", 128);
    cr_assert(json_equal(logits_shape(doc), want), "logits [batch, seq, 128]");
    json_t *totals = json_object_get(doc, "totals");
    cr_assert_eq(json_integer_value(json_object_get(totals, "parameters")), 108864);
    cr_assert_eq(json_integer_value(json_object_get(totals, "parameter_bytes")), 435456);
    json_decref(doc);
    json_decref(want);

    /* --bind: concrete sizes; --layers 1: one layer fewer (46208 parameters);
     * --dtype bfloat16: 2 bytes each. Overwrites graph.json. */
    r = RUN(cfg, "-o", out, "--bind", "batch=1,seq=16", "--layers", "1", "--dtype", "bfloat16");
    cr_assert_eq(r.status, 0, "%s", r.err);
    xt_result_free(&r);
    doc = load_json(out);
    want = json_pack("[i, i, i]", 1, 16, 128);
    cr_assert(json_equal(logits_shape(doc), want), "logits [1, 16, 128]");
    totals = json_object_get(doc, "totals");
    cr_assert_eq(json_integer_value(json_object_get(totals, "parameters")), 108864 - 46208);
    cr_assert_eq(json_integer_value(json_object_get(totals, "parameter_bytes")), 2 * (108864 - 46208));
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(doc, "model"), "num_layers")), 1);
    json_decref(doc);
    json_decref(want);
    cr_assert_eq(xt_count_entries(xt_work), 2);
    free(cfg);
    free(out);
}

Test(cli, config_directory_and_stdout)
{
    char *cfg = config("config.json", tiny_llama);
    xt_result r = RUN(xt_work, "-o", "-", "--format", "json");
    cr_assert_eq(r.status, 0, "%s", r.err);
    json_error_t e;
    json_t *doc = json_loads(r.out, 0, &e);
    cr_assert_not_null(doc, "stdout is JSON: %s", e.text);
    const char *path = json_string_value(json_object_get(json_object_get(doc, "model"), "config"));
    cr_assert_not_null(strstr(path, "config.json"), "the file read: %s", path);
    json_decref(doc);
    xt_result_free(&r);
    cr_assert_eq(xt_count_entries(xt_work), 1);
    free(cfg);
}

Test(cli, formats_by_extension_and_flag)
{
    char *cfg = config("config.json", tiny_llama);
    struct {
        const char *name;
        const char *format; /* NULL: from the extension */
        const char *starts;
    } cases[] = {
        {"g.dot", NULL, "digraph"},
        {"g.gv", NULL, "digraph"},
        {"g.JSON", NULL, "{\n  \"format\": \"metatrace-graph\""},
        {"g.txt", NULL, "model "},
        {"g.out", "json", "{\n  \"format\": \"metatrace-graph\""},
        {"g.json", "summary", "model "},
        {"g.svg", NULL, "<?xml"},
        {"g.png", NULL, "\x89PNG\r\n\x1a\n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *out = xt_join(xt_work, cases[i].name);
        xt_result r = cases[i].format ? RUN(cfg, "-o", out, "--format", cases[i].format)
                                   : RUN(cfg, "-o", out);
        cr_assert_eq(r.status, 0, "%s: %s", cases[i].name, r.err);
        size_t len = 0;
        char *text = tu_read(out, &len);
        cr_assert_not_null(text);
        size_t k = strlen(cases[i].starts);
        cr_assert(len >= k && memcmp(text, cases[i].starts, k) == 0, "%s starts with %s",
                  cases[i].name, cases[i].starts);
        free(text);
        xt_result_free(&r);
        free(out);
        cr_assert_eq(xt_count_entries(xt_work), (int)i + 2, "no temporary after %s", cases[i].name);
    }
    free(cfg);
}

/* The output file gets ordinary permissions, not mkstemp's 0600. */
Test(cli, output_mode)
{
    char *cfg = config("config.json", tiny_llama);
    char *out = xt_join(xt_work, "g.json");
    mode_t mask = umask(022);
    xt_result r = RUN(cfg, "-o", out);
    umask(mask);
    cr_assert_eq(r.status, 0, "%s", r.err);
    struct stat st;
    cr_assert_eq(stat(out, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0644);
    xt_result_free(&r);
    free(cfg);
    free(out);
}

/* ---- snapshots ------------------------------------------------------------------------ */

XT_WORK_SUITE(snapshot);

/* Run from the source tree with a relative config path, so the goldens hold
 * the same "config" on every machine. */
static void snapshot(const char *config_rel, const char *layers, const char *golden)
{
    char *out = xt_join(xt_work, golden);
    xt_result r = layers ? RUN_IN(MT_SOURCE_DIR, config_rel, "--layers", layers, "-o", out)
                      : RUN_IN(MT_SOURCE_DIR, config_rel, "-o", out);
    cr_assert_eq(r.status, 0, "%s", r.err);
    xt_result_free(&r);
    xt_snapshot(golden, out);
    free(out);
}

Test(snapshot, tiny_llama_json)
{
    snapshot(TINY_REL, NULL, "tiny-llama.json");
}

Test(snapshot, tiny_llama_dot)
{
    snapshot(TINY_REL, NULL, "tiny-llama.dot");
}

Test(snapshot, llama_7b_2_layers_json)
{
    snapshot(L7B_REL, "2", "llama-7b-2layers.json");
}

Test(snapshot, llama_7b_2_layers_dot)
{
    snapshot(L7B_REL, "2", "llama-7b-2layers.dot");
}

/* The full 32-layer model: the published parameter count. */
Test(cli, llama_7b_parameter_count)
{
    xt_result r = RUN_IN(MT_SOURCE_DIR, L7B_REL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_not_null(strstr(r.out, "6,738,415,616"), "%s", r.out);
    cr_assert_not_null(strstr(r.out, "[batch, seq, 32000] float16"), "%s", r.out);
    xt_result_free(&r);
    r = RUN_IN(MT_SOURCE_DIR, L7B_REL, "--layers", "2", "-o", "-", "-f", "json");
    cr_assert_eq(r.status, 0, "%s", r.err);
    json_t *doc = json_loads(r.out, 0, NULL);
    cr_assert_not_null(doc);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(doc, "totals"), "parameters")),
                 666914816);
    json_decref(doc);
    xt_result_free(&r);
}

/* ---- quantization: --dtype float8 refused, --quant validated (docs/quant.md) ------ */

/* A float8 parameter dtype passed the option checks and then every trace failed
 * in the mask (no common dtype for float8_e4m3fn and bool); PyTorch cannot run
 * a model with float8 parameters either: refused up front, pointing at --quant. */
Test(cli_usage, dtype_float8_refused)
{
    char *cfg = config("config.json", tiny_llama);
    const char *names[] = {"float8_e4m3fn", "float8_e5m2", "torch.float8_e4m3fn"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        xt_result r = RUN(cfg, "--dtype", names[i]);
        EXPECT_ERROR(&r, 2, "--dtype", "cannot run a forward pass", "--quant fp8", "Try 'metatrace --help'");
        cr_assert_str_eq(r.out, "");
        xt_result_free(&r);
    }
    free(cfg);
}

Test(cli_usage, quant_method_checked_early)
{
    char *cfg = config("config.json", tiny_llama);
    const char *bad[] = {"int3", "", "fp8,awq", "FP8", "bitsandbytes"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        xt_result r = RUN(cfg, "--quant", bad[i]);
        EXPECT_ERROR(&r, 2, "--quant: unknown method", "fp8,mxfp4,gptq,awq,bnb-8bit,bnb-4bit");
        cr_assert_str_eq(r.out, "");
        xt_result_free(&r);
    }
    /* checked before the config is read: a missing config still gets the usage error */
    char *missing = xt_join(xt_work, "missing.json");
    xt_result r = RUN(missing, "--quant", "int3");
    EXPECT_ERROR(&r, 2, "--quant: unknown method 'int3'");
    xt_result_free(&r);
    free(missing);
    free(cfg);
}

/* --quant METHOD is read by the sizing pass: the summary's weights change and
 * name the method; everything above the sizing section stays as it was. */
Test(cli, quant_accepted_and_documented)
{
    /* llama-7b: widths that every method's packing divides (4096, 11008) */
    char *cfg = strdup(tu_src(L7B_REL));
    xt_result plain = RUN(cfg);
    cr_assert_eq(plain.status, 0, "%s", plain.err);
    /* a tiny llama's 176-wide MLP cannot be packed by GPTQ's 32-row words: exit 1 saying so */
    char *tiny = config("config.json", tiny_llama);
    xt_result gq = RUN(tiny, "--quant", "gptq");
    EXPECT_ERROR(&gq, 1, "not multiples of 32");
    xt_result_free(&gq);
    free(tiny);
    /* mxfp4 stores gpt-oss experts only: a llama cannot be sized that way (exit 1) */
    xt_result mx = RUN(cfg, "--quant", "mxfp4");
    EXPECT_ERROR(&mx, 1, "mxfp4 quantizes gpt-oss experts (GptOssExperts) only; llama has none");
    xt_result_free(&mx);
    const char *ok[] = {"fp8", "gptq", "awq", "bnb-8bit", "bnb-4bit"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        xt_result r = RUN(cfg, "--quant", ok[i]);
        cr_assert_eq(r.status, 0, "%s: %s", ok[i], r.err);
        const char *cut = strstr(plain.out, "\nsizing ");
        cr_assert_not_null(cut);
        size_t head = (size_t)(cut - plain.out);
        cr_assert_eq(strncmp(r.out, plain.out, head), 0, "%s: the model part is unchanged", ok[i]);
        cr_assert_str_neq(r.out, plain.out, "%s: the weights are sized as quantized", ok[i]);
        xt_result_free(&r);
    }
    xt_result_free(&plain);
    xt_result h = RUN("--help");
    cr_assert_eq(h.status, 0);
    cr_assert_not_null(strstr(h.out, "--quant METHOD"), "%s", h.out);
    cr_assert_not_null(strstr(h.out, "use --quant fp8"), "%s", h.out);
    xt_result_free(&h);
    free(cfg);
}
