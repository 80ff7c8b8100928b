/* config.json loading, typed getters and located errors.
 *
 * Expected positions are counted by hand on the texts below (lines and
 * columns 1-based, a column counts characters) or read off the sample files
 * with grep -n; jansson's parse-error positions follow its lexer (the column
 * of the last character of the offending token, see jansson src/load.c). */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include <metatrace/metatrace.h>

#define LLAMA7B MT_SOURCE_DIR "/samples/configs/huggyllama--llama-7b.config.json"
#define LLAMA32 MT_SOURCE_DIR "/samples/configs/meta-llama--Llama-3.2-3B.resaved.config.json"

/* Each test runs in its own process: this per-process state tracks the temp
 * directory the test made so the suite's fini can remove it. */
static struct {
    char dir[64];
    char file[128];
    mt_ctx *ctx;
} T;

static void make_dir(void) {
    if (T.dir[0]) return;
    strcpy(T.dir, "/tmp/mt_test_config_XXXXXX");
    cr_assert_not_null(mkdtemp(T.dir), "mkdtemp: %s", strerror(errno));
}

/* Write text as DIR/config.json in a fresh directory; returns the file path. */
static const char *write_cfg(const char *text) {
    make_dir();
    snprintf(T.file, sizeof T.file, "%s/config.json", T.dir);
    FILE *f = fopen(T.file, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(text, 1, strlen(text), f), strlen(text));
    cr_assert_eq(fclose(f), 0);
    return T.file;
}

static void setup(void) { T.ctx = mt_ctx_new(); cr_assert_not_null(T.ctx); }

static void teardown(void) {
    mt_ctx_free(T.ctx);
    if (T.file[0]) unlink(T.file);
    if (T.dir[0]) rmdir(T.dir);
}

TestSuite(config, .init = setup, .fini = teardown);

static mt_config *load_text(const char *text) {
    const char *path = write_cfg(text);
    mt_config *c = mt_config_load(T.ctx, path);
    cr_assert_not_null(c, "load failed: %s", mt_ctx_errmsg(T.ctx));
    return c;
}

/* Expect the context's formatted error to be exactly `want`. */
static void expect_msg(const char *want) {
    cr_assert_str_eq(mt_ctx_errmsg(T.ctx), want);
}

static char *fmt(const char *f, const char *a) {
    static char buf[512]; /* per-process (tests are forked) */
    snprintf(buf, sizeof buf, f, a);
    return buf;
}

/* ---- real files --------------------------------------------------------------- */

Test(config, real_llama7b) {
    mt_config *c = mt_config_load(T.ctx, LLAMA7B);
    cr_assert_not_null(c, "%s", mt_ctx_errmsg(T.ctx));
    cr_assert_str_eq(mt_config_path(c), LLAMA7B);
    cr_assert_eq(mt_config_ctx(c), T.ctx);
    cr_assert_str_eq(mt_config_model_type(c), "llama");
    cr_assert_str_eq(mt_config_architecture(c), "LlamaForCausalLM");

    int64_t i = 0;
    cr_assert(mt_config_int(c, "hidden_size", 1, &i));
    cr_assert_eq(i, 4096);
    cr_assert(mt_config_req_int(c, "num_hidden_layers", &i));
    cr_assert_eq(i, 32);
    cr_assert(mt_config_pos_int(c, "intermediate_size", 0, &i));
    cr_assert_eq(i, 11008);
    /* absent: the default */
    cr_assert(mt_config_int(c, "num_key_value_heads", 32, &i));
    cr_assert_eq(i, 32);
    cr_assert_not(mt_config_has(c, "num_key_value_heads"));
    cr_assert(mt_config_has(c, "vocab_size"));

    double d = 0;
    cr_assert(mt_config_float(c, "rms_norm_eps", 1.0, &d));
    cr_assert_eq(d, 1e-06);
    cr_assert(mt_config_float(c, "hidden_size", 0, &d)); /* ints read as floats */
    cr_assert_eq(d, 4096.0);
    cr_assert(mt_config_float(c, "rope_theta", 10000.0, &d));
    cr_assert_eq(d, 10000.0);

    bool b = true;
    cr_assert(mt_config_bool(c, "tie_word_embeddings", true, &b));
    cr_assert_not(b);
    cr_assert(mt_config_bool(c, "use_cache", false, &b));
    cr_assert(b);

    const char *s = NULL;
    cr_assert(mt_config_str(c, "torch_dtype", "float32", &s));
    cr_assert_str_eq(s, "float16");
    cr_assert(mt_config_str(c, "rope_scaling.rope_type", "default", &s));
    cr_assert_str_eq(s, "default");

    /* grep -n: line 9 is `  "hidden_size": 4096,` */
    int line = -1, col = -1;
    mt_config_locate(c, "hidden_size", &line, &col);
    cr_assert_eq(line, 9);
    cr_assert_eq(col, 3);
    mt_config_locate(c, "no_such_field", &line, &col);
    cr_assert_eq(line, 0);
    cr_assert_eq(col, 0);
    cr_assert_eq(mt_ctx_status(T.ctx), MT_OK);
}

Test(config, real_nested_rope_scaling) {
    mt_config *c = mt_config_load(T.ctx, LLAMA32);
    cr_assert_not_null(c, "%s", mt_ctx_errmsg(T.ctx));
    double d = 0;
    cr_assert(mt_config_float(c, "rope_scaling.factor", 1.0, &d));
    cr_assert_eq(d, 32.0);
    int64_t i = 0; /* an integral real is accepted as an integer */
    cr_assert(mt_config_int(c, "rope_scaling.factor", 1, &i));
    cr_assert_eq(i, 32);
    cr_assert(mt_config_int(c, "rope_scaling.original_max_position_embeddings", 0, &i));
    cr_assert_eq(i, 8192);
    const char *s = NULL;
    cr_assert(mt_config_str(c, "rope_scaling.rope_type", NULL, &s));
    cr_assert_str_eq(s, "llama3");
    cr_assert(mt_config_str(c, "architectures.0", NULL, &s));
    cr_assert_str_eq(s, "LlamaForCausalLM");
    cr_assert(mt_config_has(c, "rope_scaling"));
    cr_assert_not_null(mt_config_json(c, "rope_scaling"));
    cr_assert_null(mt_config_json(c, "rope_scaling.nope"));

    /* grep -n: 22 `  "rope_scaling": {`, 23 `    "factor": 32.0,`, 3 `    "LlamaForCausalLM"` */
    int line, col;
    mt_config_locate(c, "rope_scaling.factor", &line, &col);
    cr_assert_eq(line, 23);
    cr_assert_eq(col, 5);
    mt_config_locate(c, "rope_scaling", &line, &col);
    cr_assert_eq(line, 22);
    cr_assert_eq(col, 3);
    mt_config_locate(c, "architectures.0", &line, &col);
    cr_assert_eq(line, 3);
    cr_assert_eq(col, 5);
    mt_config_locate(c, "architectures.1", &line, &col);
    cr_assert_eq(line, 0);
    cr_assert_eq(col, 0);

    /* a semantic error raised by a family lands on the nested key */
    cr_assert_eq(mt_config_error(c, "rope_scaling.factor", "factor %g is too large", 32.0),
                 MT_ERR_CONFIG);
    expect_msg(fmt("%s:23:5: field 'rope_scaling.factor': factor 32 is too large", LLAMA32));
}

/* ---- loading ------------------------------------------------------------------ */

Test(config, directory_load) {
    write_cfg("{\"model_type\": \"llama\", \"hidden_size\": 64}");
    mt_config *c = mt_config_load(T.ctx, T.dir);
    cr_assert_not_null(c, "%s", mt_ctx_errmsg(T.ctx));
    cr_assert_str_eq(mt_config_path(c), T.file);
    int64_t i = 0;
    cr_assert(mt_config_int(c, "hidden_size", 0, &i));
    cr_assert_eq(i, 64);

    char slash[80];
    snprintf(slash, sizeof slash, "%s/", T.dir);
    c = mt_config_load(T.ctx, slash);
    cr_assert_not_null(c, "%s", mt_ctx_errmsg(T.ctx));
    cr_assert_str_eq(mt_config_path(c), T.file);
}

Test(config, directory_without_config) {
    make_dir();
    cr_assert_null(mt_config_load(T.ctx, T.dir));
    cr_assert_eq(mt_ctx_status(T.ctx), MT_ERR_IO);
    cr_assert_str_eq(mt_ctx_error(T.ctx)->file, T.dir);
    expect_msg(fmt("%s: directory has no config.json (nor snapshots/ of a Hub cache folder models--org--name)", T.dir));
}

Test(config, missing_file) {
    make_dir();
    char path[96];
    snprintf(path, sizeof path, "%s/nope.json", T.dir);
    cr_assert_null(mt_config_load(T.ctx, path));
    const mt_error *e = mt_ctx_error(T.ctx);
    cr_assert_eq(e->status, MT_ERR_IO);
    cr_assert_str_eq(e->file, path);
    cr_assert_eq(e->line, 0);
    char want[256];
    snprintf(want, sizeof want, "%s: cannot open: %s", path, strerror(ENOENT));
    expect_msg(want);
}

Test(config, parse_from_memory_with_label) {
    const char text[] = "{\"a\": 1} trailing bytes are not passed";
    mt_config *c = mt_config_parse(T.ctx, text, 8, "mem.json");
    cr_assert_not_null(c, "%s", mt_ctx_errmsg(T.ctx));
    cr_assert_str_eq(mt_config_path(c), "mem.json");
    int64_t i = 0;
    cr_assert(mt_config_int(c, "a", 0, &i));
    cr_assert_eq(i, 1);
    cr_assert_not(mt_config_int(c, "a.b", 0, &i));
    expect_msg("mem.json:1:2: field 'a': expected an object (to read 'a.b'), got an integer 1");
}

/* ---- malformed JSON ----------------------------------------------------------- */

Test(config, malformed_unexpected_token) {
    /* line 3 `  "b": }`: the '}' is character 8 */
    const char *path = write_cfg("{\n  \"a\": 1,\n  \"b\": }\n");
    cr_assert_null(mt_config_load(T.ctx, path));
    const mt_error *e = mt_ctx_error(T.ctx);
    cr_assert_eq(e->status, MT_ERR_PARSE);
    cr_assert_str_eq(e->file, path);
    cr_assert_eq(e->line, 3);
    cr_assert_eq(e->col, 8);
    expect_msg(fmt("%s:3:8: unexpected token near '}'", path));
}

Test(config, malformed_missing_comma) {
    /* after 1 the lexer reads the string "b", ending at character 5 of line 3 */
    const char *path = write_cfg("{\n  \"a\": 1\n  \"b\": 2\n}\n");
    cr_assert_null(mt_config_load(T.ctx, path));
    expect_msg(fmt("%s:3:5: '}' expected near '\"b\"'", path));
}

Test(config, malformed_truncated) {
    /* `{"a": 1` is 7 characters; the file ends there */
    const char *path = write_cfg("{\"a\": 1");
    cr_assert_null(mt_config_load(T.ctx, path));
    cr_assert_eq(mt_ctx_status(T.ctx), MT_ERR_PARSE);
    expect_msg(fmt("%s:1:7: '}' expected near end of file", path));
}

Test(config, malformed_empty_file) {
    const char *path = write_cfg("");
    cr_assert_null(mt_config_load(T.ctx, path));
    cr_assert_eq(mt_ctx_status(T.ctx), MT_ERR_PARSE);
    cr_assert_str_eq(mt_ctx_error(T.ctx)->file, path);
}

Test(config, duplicate_keys_rejected) {
    /* the duplicate is detected once the key string `"a"` (ends at col 5) is read */
    const char *path = write_cfg("{\n  \"a\": 1,\n  \"a\": 2\n}\n");
    cr_assert_null(mt_config_load(T.ctx, path));
    cr_assert_eq(mt_ctx_status(T.ctx), MT_ERR_PARSE);
    expect_msg(fmt("%s:3:5: duplicate object key near '\"a\"'", path));
}

Test(config, top_level_must_be_object) {
    const char *path = write_cfg("\n  [1, 2]\n");
    cr_assert_null(mt_config_load(T.ctx, path));
    cr_assert_eq(mt_ctx_status(T.ctx), MT_ERR_CONFIG);
    expect_msg(fmt("%s:2:3: expected a JSON object at top level, got an array", path));
}

Test(config, top_level_scalar) {
    cr_assert_null(mt_config_parse(T.ctx, "42", 2, "x.json"));
    expect_msg("x.json:1:1: expected a JSON object at top level, got an integer 42");
}

/* ---- wrong types, located ----------------------------------------------------- */

static const char TYPES[] =
    "{\n"                                 /* 1 */
    "  \"num_hidden_layers\": 2,\n"       /* 2 */
    "  \"hidden_size\": \"4096\",\n"      /* 3 */
    "  \"rms_norm_eps\": \"1e-6\",\n"     /* 4 */
    "  \"use_cache\": 1,\n"               /* 5 */
    "  \"torch_dtype\": [\"float16\"],\n" /* 6 */
    "  \"rope_theta\": 1.5,\n"            /* 7 */
    "  \"rope_scaling\": {\"factor\": true},\n" /* 8 */
    "  \"flag\": null,\n"                 /* 9 */
    "  \"sub\": {}\n"                     /* 10 */
    "}\n";

Test(config, wrong_type_int) {
    mt_config *c = load_text(TYPES);
    int64_t i = 7;
    cr_assert_not(mt_config_int(c, "hidden_size", 0, &i));
    const mt_error *e = mt_ctx_error(T.ctx);
    cr_assert_eq(e->status, MT_ERR_CONFIG);
    cr_assert_eq(e->line, 3);
    cr_assert_eq(e->col, 3);
    cr_assert_str_eq(e->field, "hidden_size");
    expect_msg(fmt("%s:3:3: field 'hidden_size': expected an integer, got a string \"4096\"",
                   T.file));
}

Test(config, wrong_type_int_nonintegral_real) {
    mt_config *c = load_text(TYPES);
    int64_t i;
    cr_assert_not(mt_config_int(c, "rope_theta", 0, &i));
    expect_msg(fmt("%s:7:3: field 'rope_theta': expected an integer, got a number 1.5", T.file));
}

Test(config, wrong_type_float) {
    mt_config *c = load_text(TYPES);
    double d;
    cr_assert_not(mt_config_float(c, "rms_norm_eps", 0, &d));
    expect_msg(fmt("%s:4:3: field 'rms_norm_eps': expected a number, got a string \"1e-6\"",
                   T.file));
}

Test(config, wrong_type_bool) {
    mt_config *c = load_text(TYPES);
    bool b;
    cr_assert_not(mt_config_bool(c, "use_cache", false, &b));
    expect_msg(fmt("%s:5:3: field 'use_cache': expected a boolean, got an integer 1", T.file));
}

Test(config, wrong_type_str) {
    mt_config *c = load_text(TYPES);
    const char *s;
    cr_assert_not(mt_config_str(c, "torch_dtype", NULL, &s));
    expect_msg(fmt("%s:6:3: field 'torch_dtype': expected a string, got an array", T.file));
}

Test(config, wrong_type_str_object) {
    mt_config *c = load_text(TYPES);
    const char *s;
    cr_assert_not(mt_config_str(c, "sub", NULL, &s));
    expect_msg(fmt("%s:10:3: field 'sub': expected a string, got an object", T.file));
}

Test(config, wrong_type_nested) {
    /* line 8 `  "rope_scaling": {"factor": true},`: "factor" opens at character 20 */
    mt_config *c = load_text(TYPES);
    double d;
    cr_assert_not(mt_config_float(c, "rope_scaling.factor", 1.0, &d));
    expect_msg(fmt("%s:8:20: field 'rope_scaling.factor': expected a number, got a boolean true",
                   T.file));
}

Test(config, wrong_type_parent) {
    mt_config *c = load_text(TYPES);
    double d;
    cr_assert_not(mt_config_float(c, "hidden_size.factor", 1.0, &d));
    expect_msg(fmt("%s:3:3: field 'hidden_size': expected an object (to read "
                   "'hidden_size.factor'), got a string \"4096\"", T.file));
}

Test(config, first_error_kept) {
    mt_config *c = load_text(TYPES);
    int64_t i;
    bool b;
    cr_assert_not(mt_config_int(c, "hidden_size", 0, &i));
    cr_assert_not(mt_config_bool(c, "use_cache", false, &b));
    cr_assert_str_eq(mt_ctx_error(T.ctx)->field, "hidden_size");
}

Test(config, long_string_value_is_cut) {
    const char *text = "{\"n\": \"0123456789012345678901234567890123456789tail\"}";
    mt_config *c = mt_config_parse(T.ctx, text, strlen(text), "l.json");
    cr_assert_not_null(c, "%s", mt_ctx_errmsg(T.ctx));
    int64_t i;
    cr_assert_not(mt_config_int(c, "n", 0, &i));
    expect_msg("l.json:1:2: field 'n': expected an integer, got a string "
               "\"0123456789012345678901234567890123456789\"...");
}

Test(config, string_value_is_escaped) {
    /* the value `a"b\c` followed by a newline escape prints as JSON would */
    const char *text = "{\"n\": \"a\\\"b\\\\c\\n\"}";
    mt_config *c = mt_config_parse(T.ctx, text, strlen(text), "e.json");
    cr_assert_not_null(c, "%s", mt_ctx_errmsg(T.ctx));
    bool b;
    cr_assert_not(mt_config_bool(c, "n", false, &b));
    expect_msg("e.json:1:2: field 'n': expected a boolean, got a string \"a\\\"b\\\\c\\u000a\"");
}

/* ---- integers ------------------------------------------------------------------ */

Test(config, integral_real_accepted) {
    mt_config *c = load_text("{\"max_position_embeddings\": 4096.0, \"n\": -2.0}");
    int64_t i = 0;
    cr_assert(mt_config_int(c, "max_position_embeddings", 0, &i));
    cr_assert_eq(i, 4096);
    cr_assert(mt_config_pos_int(c, "max_position_embeddings", 0, &i));
    cr_assert_eq(i, 4096);
    cr_assert(mt_config_int(c, "n", 0, &i));
    cr_assert_eq(i, -2);
    cr_assert_not(mt_config_pos_int(c, "n", 1, &i));
    expect_msg(fmt("%s:1:37: field 'n': expected a positive integer, got -2.0", T.file));
}

Test(config, pos_int_zero) {
    mt_config *c = load_text("{\n  \"a\": 1,\n  \"num_attention_heads\": 0\n}\n");
    int64_t i;
    cr_assert_not(mt_config_pos_int(c, "num_attention_heads", 32, &i));
    expect_msg(fmt("%s:3:3: field 'num_attention_heads': expected a positive integer, got 0",
                   T.file));
}

Test(config, pos_int_negative) {
    mt_config *c = load_text("{\n\t\"vocab_size\": -3\n}");
    int64_t i;
    cr_assert_not(mt_config_pos_int(c, "vocab_size", 32000, &i));
    const mt_error *e = mt_ctx_error(T.ctx);
    cr_assert_eq(e->line, 2);
    cr_assert_eq(e->col, 2); /* a tab is one character */
    expect_msg(fmt("%s:2:2: field 'vocab_size': expected a positive integer, got -3", T.file));
}

Test(config, pos_int_wrong_type) {
    mt_config *c = load_text("{\"heads\": \"8\"}");
    int64_t i;
    cr_assert_not(mt_config_pos_int(c, "heads", 8, &i));
    expect_msg(fmt("%s:1:2: field 'heads': expected a positive integer, got a string \"8\"",
                   T.file));
}

Test(config, pos_int_default_and_required) {
    mt_config *c = load_text("{\"a\": 1}");
    int64_t i = 0;
    cr_assert(mt_config_pos_int(c, "heads", 8, &i));
    cr_assert_eq(i, 8);
    cr_assert_not(mt_config_pos_int(c, "hidden_size", 0, &i));
    const mt_error *e = mt_ctx_error(T.ctx);
    cr_assert_eq(e->status, MT_ERR_CONFIG);
    cr_assert_eq(e->line, 0);
    expect_msg(fmt("%s: missing required field 'hidden_size'", T.file));
}

Test(config, required_missing) {
    mt_config *c = load_text("{\"vocab_size\": 100}");
    int64_t i;
    cr_assert_not(mt_config_req_int(c, "hidden_size", &i));
    const mt_error *e = mt_ctx_error(T.ctx);
    cr_assert_eq(e->status, MT_ERR_CONFIG);
    cr_assert_str_eq(e->file, T.file);
    cr_assert_eq(e->line, 0);
    cr_assert_eq(e->col, 0);
    expect_msg(fmt("%s: missing required field 'hidden_size'", T.file));
}

Test(config, int64_range) {
    mt_config *c = load_text("{\"big\": 9223372036854775807, \"small\": -9223372036854775808}");
    int64_t i = 0;
    cr_assert(mt_config_int(c, "big", 0, &i));
    cr_assert_eq(i, INT64_MAX);
    cr_assert(mt_config_int(c, "small", 0, &i));
    cr_assert_eq(i, INT64_MIN);
}

Test(config, real_outside_int64_rejected) {
    /* 2^63 as a real is integral but not representable as int64 */
    mt_config *c = load_text("{\"x\": 9223372036854775808.0}");
    int64_t i;
    cr_assert_not(mt_config_int(c, "x", 0, &i));
    expect_msg(fmt("%s:1:2: field 'x': expected an integer, got a number 9.223372036854776e+18",
                   T.file));
}

/* ---- null is absent ------------------------------------------------------------ */

Test(config, null_is_absent) {
    mt_config *c = load_text("{\"sliding_window\": null, \"rope_scaling\": null, \"s\": null}");
    int64_t i = 0;
    cr_assert(mt_config_int(c, "sliding_window", 4096, &i));
    cr_assert_eq(i, 4096);
    cr_assert(mt_config_pos_int(c, "sliding_window", 7, &i));
    cr_assert_eq(i, 7);
    double d = 0;
    cr_assert(mt_config_float(c, "rope_scaling.factor", 1.0, &d)); /* null parent: absent */
    cr_assert_eq(d, 1.0);
    const char *s = "x";
    cr_assert(mt_config_str(c, "s", NULL, &s));
    cr_assert_null(s);
    bool b = false;
    cr_assert(mt_config_bool(c, "s", true, &b));
    cr_assert(b);
    cr_assert_not(mt_config_has(c, "sliding_window"));
    cr_assert_null(mt_config_json(c, "sliding_window"));
    cr_assert_eq(mt_ctx_status(T.ctx), MT_OK);
    /* required and null: missing */
    cr_assert_not(mt_config_req_int(c, "sliding_window", &i));
    expect_msg(fmt("%s: missing required field 'sliding_window'", T.file));
}

/* ---- the locator ----------------------------------------------------------------- */

static const char TRICKY[] =
    "{\n"                                                          /* 1 */
    "  \"note\": \"{\\\"hidden_size\\\": 1, [\",\n"                /* 2 */
    "  \"text_config\": {\"hidden_size\": 1, \"x\": [1, {\"y\": 2}]},\n" /* 3 */
    "  \"we\\u0069rd\": 3,\n"                                      /* 4 */
    "  \"hidden_size\": 2\n"                                       /* 5 */
    "}\n";

Test(config, locate_skips_strings_and_nesting) {
    mt_config *c = load_text(TRICKY);
    int line, col;
    /* the top-level key, not the one inside the string on line 2 or the
     * object on line 3 */
    mt_config_locate(c, "hidden_size", &line, &col);
    cr_assert_eq(line, 5);
    cr_assert_eq(col, 3);
    /* line 3: `{` at 18, its first key at 19 */
    mt_config_locate(c, "text_config.hidden_size", &line, &col);
    cr_assert_eq(line, 3);
    cr_assert_eq(col, 19);
    /* line 3: `[` at 42, element 1 `{` at 46, its key "y" at 47 */
    mt_config_locate(c, "text_config.x.1", &line, &col);
    cr_assert_eq(line, 3);
    cr_assert_eq(col, 46);
    mt_config_locate(c, "text_config.x.1.y", &line, &col);
    cr_assert_eq(line, 3);
    cr_assert_eq(col, 47);
    /* an escaped key matches its decoded name */
    mt_config_locate(c, "weird", &line, &col);
    cr_assert_eq(line, 4);
    cr_assert_eq(col, 3);
    int64_t i = 0;
    cr_assert(mt_config_int(c, "weird", 0, &i));
    cr_assert_eq(i, 3);
    cr_assert(mt_config_int(c, "text_config.x.1.y", 0, &i));
    cr_assert_eq(i, 2);
    /* absent paths */
    mt_config_locate(c, "note.x", &line, &col);
    cr_assert_eq(line + col, 0);
    mt_config_locate(c, "text_config.x.5", &line, &col);
    cr_assert_eq(line + col, 0);
    mt_config_locate(c, "text_config.zzz", &line, &col);
    cr_assert_eq(line + col, 0);
}

Test(config, locate_counts_characters) {
    /* `{"ü": 1, "k": 2}`: ü is two bytes but one character, so "k" opens at 10 */
    mt_config *c = mt_config_parse(T.ctx, "{\"\xc3\xbc\": 1, \"k\": 2}", 17, "u.json");
    cr_assert_not_null(c, "%s", mt_ctx_errmsg(T.ctx));
    int line, col;
    mt_config_locate(c, "k", &line, &col);
    cr_assert_eq(line, 1);
    cr_assert_eq(col, 10);
    mt_config_locate(c, "\xc3\xbc", &line, &col);
    cr_assert_eq(col, 2);
}

Test(config, cfg_error_semantic) {
    mt_config *c = load_text("{\n  \"num_attention_heads\": 30,\n  \"hidden_size\": 4096\n}\n");
    cr_assert_eq(mt_config_error(c, "hidden_size", "hidden_size %d is not divisible by "
                              "num_attention_heads %d", 4096, 30), MT_ERR_CONFIG);
    expect_msg(fmt("%s:3:3: field 'hidden_size': hidden_size 4096 is not divisible by "
                   "num_attention_heads 30", T.file));
}

Test(config, cfg_error_absent_field) {
    mt_config *c = load_text("{}");
    mt_config_error(c, "head_dim", "cannot derive head_dim");
    expect_msg(fmt("%s: field 'head_dim': cannot derive head_dim", T.file));
}

/* ---- model_type ------------------------------------------------------------------ */

Test(config, model_type_missing_names_architecture) {
    mt_config *c = load_text("{\"architectures\": [\"GPTNeoXForCausalLM\"]}");
    cr_assert_str_eq(mt_config_architecture(c), "GPTNeoXForCausalLM");
    cr_assert_null(mt_config_model_type(c));
    cr_assert_eq(mt_ctx_status(T.ctx), MT_ERR_CONFIG);
    expect_msg(fmt("%s: missing field 'model_type' (architectures[0] is "
                   "\"GPTNeoXForCausalLM\"; add the model_type of that class)", T.file));
}

Test(config, model_type_missing) {
    mt_config *c = load_text("{\"hidden_size\": 8}");
    cr_assert_null(mt_config_architecture(c));
    cr_assert_eq(mt_ctx_status(T.ctx), MT_OK); /* no architecture is not an error */
    cr_assert_null(mt_config_model_type(c));
    expect_msg(fmt("%s: missing field 'model_type'", T.file));
}

Test(config, model_type_wrong_type) {
    mt_config *c = load_text("{\n  \"model_type\": 3\n}");
    cr_assert_null(mt_config_model_type(c));
    expect_msg(fmt("%s:2:3: field 'model_type': expected a string, got an integer 3", T.file));
}

Test(config, json_access) {
    mt_config *c = load_text("{\"architectures\": [\"A\", \"B\"], \"o\": {\"k\": 1}}");
    cr_assert_not_null(mt_config_json(c, "architectures"));
    cr_assert_not_null(mt_config_json(c, "architectures.1"));
    cr_assert_null(mt_config_json(c, "architectures.2"));
    cr_assert_null(mt_config_json(c, "architectures.x"));
    cr_assert_not_null(mt_config_json(c, "o.k"));
    cr_assert(mt_config_has(c, "o.k"));
    cr_assert_not(mt_config_has(c, "o.k.z"));
    cr_assert_eq(mt_ctx_status(T.ctx), MT_OK);
}

/* Python's json.dumps writes inf and nan as the bare tokens Infinity, -Infinity and NaN (transformers'
 * Mamba-2 configs: "time_step_limit": [0.0, Infinity]); strict JSON has none. Outside strings they load as
 * same-length strings ("Inf", "-Inf", "N"), so positions in messages do not move; inside strings and as
 * parts of longer words they are left alone. */
Test(config, python_infinity_tokens) {
    mt_ctx *ctx = mt_ctx_new();
    const char *txt = "{\"a\": [0.0, Infinity, -Infinity, NaN],\n \"s\": \"Infinity NaN\", \"b\": 2.0,\n  \"c\": Infinity}";
    mt_config *c = mt_config_parse(ctx, txt, strlen(txt), "py.json");
    cr_assert_not_null(c, "%s", mt_ctx_errmsg(ctx));
    const char *s = NULL;
    cr_assert(mt_config_str(c, "s", NULL, &s));
    cr_assert_str_eq(s, "Infinity NaN");
    cr_assert(mt_config_str(c, "c", NULL, &s));
    cr_assert_str_eq(s, "Inf");
    double b = 0;
    cr_assert(mt_config_float(c, "b", 0, &b) && b == 2.0);
    /* a float field holding one: a located error naming the field, not a parse error of the file */
    double v = 0;
    cr_assert(!mt_config_float(c, "c", 0, &v));
    cr_assert(strstr(mt_ctx_errmsg(ctx), "py.json:3:3"), "%s", mt_ctx_errmsg(ctx));
    mt_ctx_free(ctx);
    /* not a token of its own: still invalid JSON */
    ctx = mt_ctx_new();
    const char *bad = "{\"a\": xInfinity}";
    cr_assert_null(mt_config_parse(ctx, bad, strlen(bad), "bad.json"));
    mt_ctx_free(ctx);
}
