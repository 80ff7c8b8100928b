/* The CLI's sizing options and outputs: usage errors (exit 2, nothing written),
 * the summary section, the JSON member with nulls where a figure does not
 * apply, and the per-module table. Expected values are hand arithmetic. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define L7B "samples/configs/huggyllama--llama-7b.config.json"
#define BERT "samples/configs/google-bert--bert-base-uncased.config.json"
#define MIXTRAL "samples/configs/mistralai--Mixtral-8x7B-v0.1.config.json"

typedef struct usage_case {
    const char *argv[6];
    const char *message;
} usage_case;

static const usage_case cases[] = {
    {{"--kv-dtype", "float42"}, "--kv-dtype: expected a floating-point dtype"},
    {{"--kv-dtype", "int8"}, "got 'int8'"},
    {{"--mem", "80G"}, "--mem: expected a size such as 80GiB"},
    {{"--mem", "lots"}, "got 'lots'"},
    {{"--mem", "-1GiB"}, "got '-1GiB'"},
    {{"--mem", "0"}, "got '0'"},
    {{"--mem", "1e30TiB"}, "got '1e30TiB'"},
    {{"--dp", "0"}, "--dp: expected a data-parallel degree"},
    {{"--optimizer", "lion"}, "--optimizer: expected 'adam'"},
    {{"--mla-cache", "half"}, "--mla-cache: expected 'latent'"},
    {{"--depth", "0"}, "--depth: expected a module depth from 1 to 64"},
    {{"--depth", "2", "-f", "json"}, "--depth shapes the per-module table (summary, .txt), the pictures"},
    {{"--unfold", "-f", "summary"}, "--unfold unfolds the per-module table: give --depth N too"},
    {{"--mem", "80GiB", "--tp", "2"}, "--mem sizes the KV capacity"},
};

Test(cli_sizing, bad_options_exit_2_and_write_nothing)
{
    const char *dir = tu_tmpdir();
    char out[1024];
    snprintf(out, sizeof out, "%s/out.json", dir);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *argv[10];
        int n = 0;
        argv[n++] = tu_src(L7B);
        for (int k = 0; k < 6 && cases[i].argv[k]; k++) argv[n++] = cases[i].argv[k];
        bool has_format = false;
        for (int k = 0; k < n; k++) has_format |= strcmp(argv[k], "-f") == 0 || strcmp(argv[k], "--tp") == 0;
        if (!has_format) {
            argv[n++] = "-o";
            argv[n++] = out;
        }
        argv[n] = NULL;
        char *o = NULL, *e = NULL;
        int st = tu_run_cli(argv, &o, &e);
        cr_expect_eq(st, 2, "case %zu: status %d: %s", i, st, e);
        cr_expect(strncmp(e, "metatrace: error: ", 18) == 0, "case %zu: %s", i, e);
        cr_expect_not_null(strstr(e, cases[i].message), "case %zu: expected \"%s\" in %s", i, cases[i].message, e);
        cr_expect_str_eq(o, "", "case %zu", i);
        cr_expect(!tu_exists(out), "case %zu wrote a file", i);
        free(o);
        free(e);
    }
}

static json_t *json_of(const char *const *argv) {
    char *o = NULL, *e = NULL;
    int st = tu_run_cli(argv, &o, &e);
    cr_assert_eq(st, 0, "status %d: %s", st, e);
    json_error_t je;
    json_t *doc = json_loads(o, JSON_REJECT_DUPLICATES, &je);
    cr_assert_not_null(doc, "JSON: %s", je.text);
    free(o);
    free(e);
    return doc;
}

#define JGET(doc, ...) jget(doc, (const char *const[]){__VA_ARGS__, NULL})
static json_t *jget(json_t *v, const char *const *path) {
    for (; *path; path++) v = json_object_get(v, *path);
    return v;
}

Test(cli_sizing, json_member_with_options)
{
    /* llama-7b at a bound 4096 tokens, float8 KV (1 byte): 32 layers x 32 heads x 128 x 2;
     * 80 GiB budget; ZeRO over 4 ranks: ZeRO-3 weights 2 x 6,738,415,616 / 4 */
    json_t *d = json_of((const char *const[]){tu_src(L7B), "-f", "json", "-o", "-", "--bind", "batch=1,seq=4096",
                                              "--kv-dtype", "float8_e4m3fn", "--mem", "80GiB", "--dp", "4", NULL});
    cr_assert_eq(json_integer_value(JGET(d, "version")), 2);
    cr_assert_eq(json_integer_value(JGET(d, "sizing", "seq")), 4096);
    cr_assert_str_eq(json_string_value(JGET(d, "sizing", "context_source")), "the bound seq");
    cr_assert_eq(json_integer_value(JGET(d, "sizing", "kv_cache", "bytes_per_token")), 32 * 32 * 128 * 2);
    cr_assert_eq(json_integer_value(JGET(d, "sizing", "kv_cache", "bytes_at_context")), 32LL * 32 * 128 * 2 * 4096);
    cr_assert_str_eq(json_string_value(JGET(d, "sizing", "kv_cache", "dtype")), "float8_e4m3fn");
    json_int_t cap = json_integer_value(JGET(d, "sizing", "kv_cache", "capacity_tokens"));
    json_int_t peak = json_integer_value(JGET(d, "sizing", "activations", "peak_bytes"));
    cr_assert_eq(cap, ((80LL << 30) - 2LL * 6738415616 - peak) / (32 * 32 * 128 * 2));
    json_t *z3 = json_array_get(JGET(d, "sizing", "training", "zero"), 3);
    cr_assert_eq(json_integer_value(json_object_get(z3, "weights")), 2LL * 6738415616 / 4);
    cr_assert_eq(json_array_size(JGET(d, "sizing", "kv_cache", "layers")), 32);
    cr_assert(json_is_null(JGET(d, "sizing", "kv_cache", "cross_attention_bytes")));
    json_decref(d);
}

Test(cli_sizing, encoder_figures_are_null_not_zero)
{
    json_t *d = json_of((const char *const[]){tu_src(BERT), "-f", "json", "-o", "-", NULL});
    cr_assert(json_is_null(JGET(d, "sizing", "kv_cache", "bytes_per_token")));
    cr_assert(json_is_null(JGET(d, "sizing", "kv_cache", "bytes_at_context")));
    cr_assert(json_is_null(JGET(d, "sizing", "kv_cache", "capacity_tokens")));
    cr_assert(json_is_null(JGET(d, "sizing", "flops", "decode_per_token")));
    json_t *l0 = json_array_get(JGET(d, "sizing", "kv_cache", "layers"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(l0, "kind")), "bidirectional");
    cr_assert(json_is_null(json_object_get(l0, "bytes_per_token")));
    /* max_position_embeddings 512 */
    cr_assert_eq(json_integer_value(JGET(d, "sizing", "context")), 512);
    json_decref(d);
}

Test(cli_sizing, summary_section)
{
    char *o = NULL, *e = NULL;
    int st = tu_run_cli((const char *const[]){tu_src(L7B), NULL}, &o, &e);
    cr_assert_eq(st, 0, "%s", e);
    /* 32 layers x 32 heads x 128 x 2 x 2 bytes = 524,288; context 2048 = 1 GiB */
    cr_assert_not_null(strstr(o, "KV cache per token      512.00 KiB (524,288 bytes), float16"), "%s", o);
    cr_assert_not_null(strstr(o, "KV cache at 2048        1.00 GiB (1,073,741,824 bytes)"), "%s", o);
    cr_assert_not_null(strstr(o, "32 query, 32 key/value (MHA), head_dim 128"), "%s", o);
    cr_assert_not_null(strstr(o, "context 2048 tokens (the config's max_position_embeddings)"), "%s", o);
    cr_assert_not_null(strstr(o, "ZeRO-3"), "%s", o);
    free(o);
    free(e);
}

Test(cli_sizing, module_table_folds_identical_layers)
{
    char *o = NULL, *e = NULL;
    int st = tu_run_cli((const char *const[]){tu_src(MIXTRAL), "--depth", "3", NULL}, &o, &e);
    cr_assert_eq(st, 0, "%s", e);
    /* 32 identical decoder layers of 1,451,270,144 parameters each: attention 4096*4096*2 +
     * 4096*1024*2, 8 experts x 3 x 4096 x 14336, router 4096*8, two norms 4096 */
    int64_t layer = 2LL * 4096 * 4096 + 2LL * 4096 * 1024 + 8LL * 3 * 4096 * 14336 + 4096 * 8 + 2 * 4096;
    cr_assert_eq(layer, 1451270144);
    cr_assert_not_null(strstr(o, "0-31 (x 32)"), "%s", o);
    cr_assert_not_null(strstr(o, "1,451,270,144 each"), "%s", o);
    cr_assert_not_null(strstr(o, "46,702,792,704"), "total: %s", o);
    free(o);
    free(e);
    st = tu_run_cli((const char *const[]){tu_src(MIXTRAL), "--depth", "3", "--unfold", NULL}, &o, &e);
    cr_assert_eq(st, 0, "%s", e);
    cr_assert_null(strstr(o, "(x 32)"), "%s", o);
    cr_assert_not_null(strstr(o, "    31 "), "%s", o);
    free(o);
    free(e);
}

Test(cli_sizing, module_table_folds_alternating_layers)
{
    /* gemma-2-2b: 26 layers, the even ones sliding (window 4096): two rows of 13,
     * one per phase of the period-2 pattern */
    char *o = NULL, *e = NULL;
    int st = tu_run_cli((const char *const[]){tu_src("samples/configs/Ayush2006128--mithoon-2b.gemma-2-2b-finetune.config.json"),
                                              "--depth", "3", NULL},
                        &o, &e);
    cr_assert_eq(st, 0, "%s", e);
    cr_assert_not_null(strstr(o, "0-24 step 2 (x 13), window 4096 "), "%s", o);
    cr_assert_not_null(strstr(o, "1-25 step 2 (x 13) "), "%s", o);
    free(o);
    free(e);
}

Test(cli_sizing, summary_escapes_control_characters)
{
    /* architectures[0] is echoed as the model class: an escape sequence in it
     * must reach the terminal as text, not as control bytes */
    const char *dir = tu_tmpdir();
    char *cfg = strdup(tu_write(dir, "config.json",
                                "{\"model_type\": \"llama\", \"architectures\": [\"Evil\\u001b[31mRed\"], "
                                "\"vocab_size\": 64, \"hidden_size\": 32, \"intermediate_size\": 64, "
                                "\"num_hidden_layers\": 1, \"num_attention_heads\": 2}"));
    char *o = NULL, *e = NULL;
    int st = tu_run_cli((const char *const[]){cfg, NULL}, &o, &e);
    cr_assert_eq(st, 0, "%s", e);
    cr_assert_null(strchr(o, '\x1b'), "raw ESC in the summary");
    /* not a class llama builds: named in the note, traced as LlamaForCausalLM */
    cr_assert_not_null(strstr(o, "architectures[0] 'Evil\\x1b[31mRed' is not a class"), "%s", o);
    cr_assert_not_null(strstr(o, "LlamaForCausalLM (model_type llama)"), "%s", o);
    free(o);
    free(e);
    free(cfg);
}

Test(cli_sizing, error_messages_escape_control_characters)
{
    /* an unsupported model_type is echoed in the error: as text, on one line */
    const char *dir = tu_tmpdir();
    char *cfg = strdup(tu_write(dir, "config.json", "{\"model_type\": \"evil\\u001b]0;pwned\\u0007\\nfake line\"}"));
    char *o = NULL, *e = NULL;
    int st = tu_run_cli((const char *const[]){cfg, NULL}, &o, &e);
    cr_assert_eq(st, 1, "%s", e);
    cr_assert_null(strchr(e, '\x1b'), "raw ESC in: %s", e);
    cr_assert_null(strchr(e, '\x07'), "raw BEL in: %s", e);
    cr_assert_not_null(strstr(e, "evil\\x1b]0;pwned\\x07\\x0afake line"), "%s", e);
    cr_assert_eq(strchr(e, '\n'), e + strlen(e) - 1, "one line: %s", e);
    free(o);
    free(e);
    free(cfg);
}

Test(cli_sizing, stable_compact_plan_json)
{
    /* --tp N writes the graph document with its plan member: --stable and --compact
     * shape it as they shape the graph JSON (one line; config by file name) */
    char *o = NULL, *e = NULL;
    int st = tu_run_cli((const char *const[]){tu_src(L7B), "--layers", "1", "--tp", "2", "-f", "json", "--stable",
                                              "--compact", NULL},
                        &o, &e);
    cr_assert_eq(st, 0, "%s", e);
    cr_assert_eq(strchr(o, '\n'), o + strlen(o) - 1, "one line");
    json_error_t je;
    json_t *d = json_loads(o, JSON_REJECT_DUPLICATES, &je);
    cr_assert_not_null(d, "%s", je.text);
    cr_assert_str_eq(json_string_value(JGET(d, "model", "config")), "huggyllama--llama-7b.config.json");
    cr_assert_eq(json_integer_value(JGET(d, "plan", "tp")), 2);
    json_decref(d);
    free(o);
    free(e);
    st = tu_run_cli((const char *const[]){tu_src(L7B), "--tp", "auto", "-f", "json", "--stable", NULL}, &o, &e);
    cr_assert_eq(st, 2, "%s", e);
    cr_assert_not_null(strstr(e, "not --tp auto"), "%s", e);
    free(o);
    free(e);
}
