/* Issue 13, "It runs away": inputs that used to build or read until memory ran
 * out, or block forever, now fail at once with a message naming the limit
 * (docs/cli.md, "Limits"). The CLI cases run the real binary in a child that
 * cannot run away either: an alarm (kept across exec) ends it after
 * CHILD_SECONDS and its address space is capped, so a regression fails the
 * test instead of hanging or exhausting the machine. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "graph_internal.h"
#include "testutil.h"
#include "tiny_configs.h"

#define CHILD_SECONDS 20
#define FAST_SECONDS 5.0 /* "fails fast": a refusal takes milliseconds; this leaves room for a loaded machine */

typedef struct run {
    int status; /* exit status, or -signal */
    double seconds;
    char *err;
} run;

/* Run the CLI with argv (NULL-terminated, without argv[0]) under the alarm and
 * a 2 GiB address-space cap; stdout is discarded, stderr captured. */
static run run_cli(const char *const *argv) {
    char ef[] = "/tmp/mt-bounds-err-XXXXXX";
    int efd = mkstemp(ef);
    cr_assert(efd >= 0);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
#ifndef __SANITIZE_ADDRESS__ /* AddressSanitizer reserves terabytes of shadow address space: the alarm alone bounds it */
        struct rlimit as = {(rlim_t)2 << 30, (rlim_t)2 << 30};
        setrlimit(RLIMIT_AS, &as);
#endif
        int nul = open("/dev/null", O_WRONLY);
        dup2(nul, 1);
        dup2(efd, 2);
        const char *av[32];
        int n = 0;
        av[n++] = MT_CLI_PATH;
        for (int i = 0; argv[i] && n < 31; i++) av[n++] = argv[i];
        av[n] = NULL;
        alarm(CHILD_SECONDS);
        execv(MT_CLI_PATH, (char *const *)av);
        _exit(127);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    close(efd);
    run r;
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? -WTERMSIG(st) : -1000;
    r.seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    r.err = tu_read(ef, NULL);
    unlink(ef);
    if (!r.err) r.err = strdup("");
    return r;
}

/* The CLI on CONFIG (plus an optional extra option) fails fast with `status`
 * and a message holding every one of the NULL-terminated `parts`. */
static void expect_refused(const char *const *argv, int status, const char *const *parts) {
    run r = run_cli(argv);
    cr_assert_eq(r.status, status, "%s: exit status %d (negative: killed by that signal), expected %d; stderr: %s",
                 argv[0], r.status, status, r.err);
    cr_assert_lt(r.seconds, FAST_SECONDS, "%s: took %.1f s", argv[0], r.seconds);
    for (int i = 0; parts[i]; i++)
        cr_assert_not_null(strstr(r.err, parts[i]), "%s: message lacks \"%s\": %s", argv[0], parts[i], r.err);
    free(r.err);
}

/* ---- CONFIG must be a regular file under the cap ------------------------------ */

Test(bounds, dev_zero_is_refused_fast) {
    expect_refused((const char *const[]){"/dev/zero", NULL}, 1,
                   (const char *const[]){"metatrace: error: /dev/zero: ", "is not a regular file (a character device)",
                                         NULL});
}

Test(bounds, dev_urandom_is_refused_fast) {
    expect_refused((const char *const[]){"/dev/urandom", NULL}, 1,
                   (const char *const[]){"/dev/urandom", "is not a regular file (a character device)", NULL});
}

Test(bounds, fifo_without_writer_is_refused_fast) {
    char fifo[512];
    snprintf(fifo, sizeof fifo, "%s/config.json", tu_tmpdir());
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    expect_refused((const char *const[]){fifo, NULL}, 1,
                   (const char *const[]){fifo, "is not a regular file (a FIFO)", NULL});
    /* the same FIFO reached through its folder */
    char dir[512];
    snprintf(dir, sizeof dir, "%s", fifo);
    *strrchr(dir, '/') = '\0';
    expect_refused((const char *const[]){dir, NULL}, 1, (const char *const[]){"is not a regular file (a FIFO)", NULL});
}

/* A Hub cache folder whose refs/main is a FIFO: read to find the snapshot, it
 * must not block either. */
Test(bounds, hub_ref_fifo_does_not_block) {
    char repo[512], path[600];
    snprintf(repo, sizeof repo, "%s/models--acme--tiny", tu_tmpdir());
    snprintf(path, sizeof path, "%s", repo);
    cr_assert_eq(mkdir(path, 0755), 0);
    snprintf(path, sizeof path, "%s/refs", repo);
    cr_assert_eq(mkdir(path, 0755), 0);
    snprintf(path, sizeof path, "%s/snapshots", repo);
    cr_assert_eq(mkdir(path, 0755), 0);
    snprintf(path, sizeof path, "%s/refs/main", repo);
    cr_assert_eq(mkfifo(path, 0600), 0);
    expect_refused((const char *const[]){repo, NULL}, 1, (const char *const[]){"refs/main", NULL});
}

/* 17 MiB (a sparse file: nothing to write) is over the 16 MiB cap. */
Test(bounds, file_over_cap_is_refused_naming_it) {
    char *f = tu_write(tu_tmpdir(), "config.json", "");
    int fd = open(f, O_WRONLY);
    cr_assert(fd >= 0);
    cr_assert_eq(ftruncate(fd, (off_t)17 << 20), 0);
    close(fd);
    expect_refused((const char *const[]){f, NULL}, 1,
                   (const char *const[]){"17.0 MiB is more than the 16 MiB a config may have", NULL});
}

/* The cap is inclusive: a real config padded with spaces to exactly 16 MiB loads. */
Test(bounds, file_at_cap_loads) {
    const char *json = tiny_configs[0].json;
    size_t n = strlen(json), size = (size_t)16 << 20;
    char *text = malloc(size + 1);
    memcpy(text, json, n);
    memset(text + n, ' ', size - n);
    text[size] = 0;
    char *f = tu_write(tu_tmpdir(), "config.json", text);
    free(text);
    mt_ctx *ctx = mt_ctx_new();
    mt_config *c = mt_config_load(ctx, f);
    cr_assert_not_null(c, "%s", mt_ctx_errmsg(ctx));
    cr_assert_not_null(mt_model_build(ctx, c, NULL), "%s", mt_ctx_errmsg(ctx));
    mt_ctx_free(ctx);
}

/* ---- counts: each refused with the field, its place, the value and the limit -- */

/* A one-line config {"FIELD": VALUE, REST}; the message must locate the key at
 * line 1, column 2 (its opening quote) and name the value and the limit. */
static void expect_count_refused(const char *field, const char *value, const char *rest, const char *shown,
                                 const char *limit) {
    char json[1024], loc[256], what[256];
    snprintf(json, sizeof json, "{\"%s\": %s, %s}", field, value, rest);
    char *f = tu_write(tu_tmpdir(), "config.json", json);
    snprintf(loc, sizeof loc, "config.json:1:2: field '%s': ", field);
    snprintf(what, sizeof what, "%s is more than the limit of %s", shown, limit);
    expect_refused((const char *const[]){f, NULL}, 1, (const char *const[]){loc, what, NULL});
}

#define LLAMA_REST                                                                                   \
    "\"model_type\": \"llama\", \"vocab_size\": 256, \"hidden_size\": 64, \"intermediate_size\": 128, " \
    "\"num_attention_heads\": 4"

Test(bounds, layers_1e9_is_refused) {
    expect_count_refused("num_hidden_layers", "1e9", LLAMA_REST, "1e+09", "1,024 layers");
}

Test(bounds, layers_1000000000_is_refused) {
    expect_count_refused("num_hidden_layers", "1000000000", LLAMA_REST, "1000000000", "1,024 layers");
}

Test(bounds, gpt2_n_layer_is_refused) {
    expect_count_refused("n_layer", "1e9", "\"model_type\": \"gpt2\", \"vocab_size\": 256, \"n_embd\": 64, \"n_head\": 4",
                         "1e+09", "1,024 layers");
}

Test(bounds, experts_1e7_is_refused) {
    expect_count_refused("num_local_experts", "1e7",
                         "\"model_type\": \"mixtral\", \"num_experts_per_tok\": 2, \"num_hidden_layers\": 2, "
                         "\"vocab_size\": 256, \"hidden_size\": 64, \"intermediate_size\": 128, "
                         "\"num_attention_heads\": 4, \"num_key_value_heads\": 2",
                         "1e+07", "4,096 experts");
}

Test(bounds, vocab_1e12_is_refused) {
    /* "vocab_size" starts after the 24 characters {"model_type": "llama",  */
    const char *json = "{\"model_type\": \"llama\", \"vocab_size\": 1e12, \"hidden_size\": 64, "
                       "\"intermediate_size\": 128, \"num_hidden_layers\": 2, \"num_attention_heads\": 4}";
    char *f = tu_write(tu_tmpdir(), "config.json", json);
    expect_refused((const char *const[]){f, NULL}, 1,
                   (const char *const[]){"config.json:1:25: field 'vocab_size': ",
                                         "1e+12 is more than the limit of 16,777,216 tokens", NULL});
}

Test(bounds, heads_and_widths_are_refused) {
    expect_count_refused("num_attention_heads", "1e6",
                         "\"model_type\": \"llama\", \"vocab_size\": 256, \"hidden_size\": 64, "
                         "\"intermediate_size\": 128",
                         "1e+06", "16,384 heads");
    expect_count_refused("intermediate_size", "100000000",
                         "\"model_type\": \"llama\", \"vocab_size\": 256, \"hidden_size\": 64, "
                         "\"num_attention_heads\": 4",
                         "100000000", "1,048,576 for a width");
}

/* A multimodal wrapper's language model: the full dotted field is named. */
Test(bounds, text_config_field_is_named) {
    const char *json = "{\"model_type\": \"llava\", \"text_config\": {\"model_type\": \"llama\", "
                       "\"num_hidden_layers\": 1e9, \"vocab_size\": 256, \"hidden_size\": 64, "
                       "\"intermediate_size\": 128, \"num_attention_heads\": 4}}";
    char *f = tu_write(tu_tmpdir(), "config.json", json);
    expect_refused((const char *const[]){f, NULL}, 1,
                   (const char *const[]){"field 'text_config.num_hidden_layers': 1e+09 is more than the limit of "
                                         "1,024 layers",
                                         NULL});
}

/* Every field within its limit, the product not: 4,096 experts x 1,024 layers
 * would be 4 million expert blocks. Refused before building, suggesting
 * --layers; with --layers 1 it builds. */
Test(bounds, experts_times_layers_is_refused_before_building) {
    const char *json = "{\"model_type\": \"mixtral\", \"num_local_experts\": 4096, \"num_experts_per_tok\": 2, "
                       "\"vocab_size\": 256, \"hidden_size\": 64, \"intermediate_size\": 128, "
                       "\"num_hidden_layers\": 1024, \"num_attention_heads\": 4, \"num_key_value_heads\": 2}";
    char *f = tu_write(tu_tmpdir(), "config.json", json);
    expect_refused((const char *const[]){f, NULL}, 1,
                   (const char *const[]){"field 'num_local_experts': 4096 experts x 1024 layers (num_hidden_layers) = "
                                         "4194304 expert blocks, more than the limit of 65536",
                                         "--layers", NULL});
    expect_refused((const char *const[]){f, "--layers", "17", NULL}, 1,
                   (const char *const[]){"4096 experts x 17 layers (--layers) = 69632 expert blocks", NULL});
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build(ctx, f, 1);
    cr_assert_eq(m->num_layers, 1);
    mt_ctx_free(ctx);
}

/* ---- --layers / mt_build_opts.num_layers ---------------------------------------- */

Test(bounds, cli_layers_over_limit_is_usage_error) {
    char *f = tu_write(tu_tmpdir(), "config.json", tiny_configs[0].json);
    expect_refused((const char *const[]){"--layers", "2147483648", f, NULL}, 2,
                   (const char *const[]){"--layers: 2147483648 is more than the limit of 1024 layers",
                                         "Try 'metatrace --help'", NULL});
    expect_refused((const char *const[]){"--layers", "1025", f, NULL}, 2,
                   (const char *const[]){"--layers: 1025 is more than the limit", NULL});
}

Test(bounds, api_num_layers_over_limit_is_usage_error) {
    mt_ctx *ctx = mt_ctx_new();
    mt_config *c = mt_config_parse(ctx, tiny_configs[0].json, strlen(tiny_configs[0].json), "config.json");
    cr_assert_not_null(c);
    mt_build_opts bo = {.dtype = MT_DTYPE_NONE, .num_layers = MT_MAX_LAYERS + 1, .attn = MT_ATTN_IMPL_DEFAULT};
    cr_assert_null(mt_model_build(ctx, c, &bo));
    cr_assert_eq(mt_ctx_status(ctx), MT_ERR_USAGE);
    cr_assert_not_null(strstr(mt_ctx_errmsg(ctx), "more than the limit of 1024 layers"), "%s", mt_ctx_errmsg(ctx));
    mt_ctx_free(ctx);
}

/* ---- the node guard -------------------------------------------------------------- */

Test(bounds, graph_stops_at_its_node_limit) {
    mt_ctx *ctx = mt_ctx_new();
    mt_graph *g = mt_graph_new(ctx);
    cr_assert_not_null(g);
    mt__graph_set_max_nodes(g, 3);
    for (int i = 0; i < 3; i++)
        cr_assert_not_null(mt_graph_append(g, MT_NODE_PLACEHOLDER, "x", "x", NULL, 0, NULL, 0));
    cr_assert_null(mt_graph_append(g, MT_NODE_PLACEHOLDER, "x", "x", NULL, 0, NULL, 0));
    cr_assert_eq(g->n, 3);
    cr_assert_eq(mt_ctx_status(ctx), MT_ERR_OVERFLOW);
    const char *msg = mt_ctx_errmsg(ctx);
    cr_assert_not_null(strstr(msg, "reached 3 nodes"), "%s", msg);
    cr_assert_not_null(strstr(msg, "--layers"), "%s", msg);
    mt_ctx_free(ctx);
}

/* The largest model within the limits stays far below the default node limit:
 * 1,024 Llama layers. */
Test(bounds, thousand_layers_trace_under_node_limit) {
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build_text(ctx, tiny_configs[0].json, MT_MAX_LAYERS);
    mt_graph *g = tu_trace(m);
    cr_assert_lt(g->n, MT_MAX_GRAPH_NODES);
    mt_ctx_free(ctx);
}

/* ---- the limits are generous: everything real still builds ------------------------ */

static void build_and_trace(const char *path) {
    mt_ctx *ctx = mt_ctx_new();
    mt_config *c = mt_config_load(ctx, path);
    cr_assert_not_null(c, "%s: %s", path, mt_ctx_errmsg(ctx));
    mt_model *m = mt_model_build(ctx, c, NULL);
    cr_assert_not_null(m, "%s: %s", path, mt_ctx_errmsg(ctx));
    cr_assert_not_null(mt_model_trace(m, NULL), "%s: %s", path, mt_ctx_errmsg(ctx));
    mt_ctx_free(ctx);
}

Test(bounds, shipped_configs_still_build, .timeout = 300) {
    const char *const dirs[] = {"samples/configs", "samples/configs/multimodal", "samples/configs/quantized"};
    int seen = 0;
    for (size_t d = 0; d < sizeof dirs / sizeof dirs[0]; d++) {
        const char *dir = tu_src(dirs[d]);
        DIR *dp = opendir(dir);
        cr_assert_not_null(dp, "cannot list %s", dir);
        struct dirent *e;
        while ((e = readdir(dp))) {
            size_t n = strlen(e->d_name);
            if (n < 5 || strcmp(e->d_name + n - 5, ".json") != 0) continue;
            char path[1024];
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            build_and_trace(path);
            seen++;
        }
        closedir(dp);
    }
    const char *const *shipped;
    cr_assert_gt(seen, tu_shipped_configs(&shipped), "the subfolders were not read");
}

Test(bounds, tiny_configs_still_build) {
    for (int i = 0; i < TINY_CONFIG_COUNT; i++) {
        mt_ctx *ctx = mt_ctx_new();
        mt_model *m = tu_build_text(ctx, tiny_configs[i].json, 0);
        cr_assert_not_null(tu_trace(m), "%s", tiny_configs[i].model_type);
        mt_ctx_free(ctx);
    }
}
