/* The HTML viewer's document (mt_export_html, export/html.c): what the page is
 * given, checked without a browser (tests/html/browser_test.py drives the page
 * itself in Chromium).
 *
 * Expected values come from the configs and hand arithmetic: the number of
 * layers and experts, DeepSeek-V3's first_k_dense_replace, Gemma 2's
 * alternating sliding/global layers, a Linear's FLOPs 2*rows*in*out, the
 * per-rank shape of a column-parallel weight. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "tiny_configs.h"

static const char *tiny(const char *model_type)
{
    for (size_t i = 0; i < sizeof tiny_configs / sizeof tiny_configs[0]; i++)
        if (strcmp(tiny_configs[i].model_type, model_type) == 0)
            return tiny_configs[i].json;
    cr_assert_fail("no tiny config for %s", model_type);
    return NULL;
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* The page of a model (and its plan, when tp > 0) in memory. */
static char *page_of(mt_model *m, mt_graph *g, int tp)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cr_assert(f);
    mt_html_opts o = {0};
    if (tp > 0) {
        mt_plan_opts po = {.tp = tp};
        o.plan = mt_plan_run(m, g, &po);
        cr_assert(o.plan && o.plan->valid);
    }
    cr_assert_eq(mt_export_html(m, g, &o, f), MT_OK, "%s", mt_ctx_errmsg(m->ctx));
    fclose(f);
    return buf;
}

/* The JSON document inside the page. */
static json_t *doc_of(const char *page)
{
    const char *tag = "<script type=\"application/json\" id=\"mt-data\">";
    const char *a = strstr(page, tag);
    cr_assert(a, "no data element");
    a += strlen(tag);
    const char *b = strstr(a, "</script>");
    cr_assert(b);
    json_error_t e;
    json_t *d = json_loadb(a, (size_t)(b - a), JSON_REJECT_DUPLICATES, &e);
    cr_assert(d, "the document is not JSON: %s at %d:%d", e.text, e.line, e.column);
    cr_assert_str_eq(json_string_value(json_object_get(d, "format")), "metatrace-viewer");
    return d;
}

static const char *str_at(json_t *d, json_t *idx)
{
    return json_string_value(json_array_get(json_object_get(d, "s"), (size_t)json_integer_value(idx)));
}

/* The module path of module index m. */
static void mod_path(json_t *d, int m, char *out, size_t n)
{
    json_t *mod = json_object_get(d, "mod");
    json_t *parent = json_object_get(mod, "parent"), *name = json_object_get(mod, "name");
    char tmp[512] = "";
    out[0] = '\0';
    while (m > 0) {
        snprintf(tmp, sizeof tmp, "%s%s%s", str_at(d, json_array_get(name, (size_t)m)), out[0] ? "." : "", out);
        snprintf(out, n, "%s", tmp);
        m = (int)json_integer_value(json_array_get(parent, (size_t)m));
    }
}

/* The runs as "path first period reps" lines. */
static char *runs_of(json_t *d)
{
    static char buf[8192];
    size_t len = 0;
    json_t *r = json_object_get(d, "runs");
    buf[0] = '\0';
    for (size_t i = 0; i + 3 < json_array_size(r); i += 4) {
        char path[512];
        mod_path(d, (int)json_integer_value(json_array_get(r, i)), path, sizeof path);
        len += (size_t)snprintf(buf + len, sizeof buf - len, "%s %lld %lld %lld\n", path,
                                (long long)json_integer_value(json_array_get(r, i + 1)),
                                (long long)json_integer_value(json_array_get(r, i + 2)),
                                (long long)json_integer_value(json_array_get(r, i + 3)));
    }
    return buf;
}

/* Index of the node named `name`, -1 if none. */
static int node_named(json_t *d, const char *name)
{
    json_t *names = json_object_get(json_object_get(d, "node"), "name");
    for (size_t i = 0; i < json_array_size(names); i++)
        if (strcmp(str_at(d, json_array_get(names, i)), name) == 0)
            return (int)i;
    return -1;
}

Test(html, self_contained_page)
{
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build_text(ctx, tiny("llama"), 0);
    mt_graph *g = tu_trace(m);
    char *page = page_of(m, g, 0);
    cr_assert(strncmp(page, "<!DOCTYPE html>", 15) == 0);
    /* three script elements (library, data, viewer), nothing fetched */
    cr_assert_eq(count(page, "<script"), 3);
    cr_assert_eq(count(page, "</script"), 3);
    cr_assert_eq(count(page, "<link"), 0);
    cr_assert_eq(count(page, " src="), 0);
    /* no address but the SVG namespace (the browser test watches the requests) */
    cr_assert_eq(count(page, "http://") + count(page, "https://"), count(page, "http://www.w3.org/2000/svg"));
    cr_assert(strstr(page, "Copyright (c) 2012-2014 Chris Pettitt"), "the layout library's licence is carried");
    cr_assert_null(strstr(page, "@METATRACE_"), "a template slot was left unfilled");
    json_t *d = doc_of(page);
    size_t nn = json_array_size(json_object_get(json_object_get(d, "node"), "op"));
    cr_assert_eq(nn, (size_t)g->n);
    json_t *off = json_object_get(json_object_get(d, "node"), "in_off");
    cr_assert_eq(json_array_size(off), nn + 1);
    /* 2 identical layers fold as one run of 2 */
    cr_assert_str_eq(runs_of(d), "model.layers 0 1 2\n");
    json_decref(d);
    free(page);
    mt_ctx_free(ctx);
}

Test(html, node_figures_by_hand)
{
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build_text(ctx, tiny("llama"), 0);
    mt_graph *g = tu_trace(m);
    char *page = page_of(m, g, 0);
    json_t *d = doc_of(page);
    int q = node_named(d, "model_layers_1_self_attn_q_proj");
    cr_assert(q >= 0);
    json_t *node = json_object_get(d, "node");
    /* the sizing default binds batch 1 and seq = the context, 4096 when the
     * config has no max_position_embeddings (docs/sizing.md): q_proj (64 -> 64,
     * no bias) is 2*4096*64*64 FLOPs */
    cr_assert_eq(json_integer_value(json_array_get(json_object_get(node, "flops"), (size_t)q)), 2LL * 4096 * 64 * 64);
    cr_assert_str_eq(str_at(d, json_array_get(json_object_get(node, "shape"), (size_t)q)), "[batch, seq, 64]");
    cr_assert_str_eq(str_at(d, json_array_get(json_object_get(node, "dtype"), (size_t)q)), "float32");
    /* its weight: [64, 64] float32, 64*64*4 bytes, owned by the called module */
    int call = (int)json_integer_value(json_array_get(json_object_get(node, "call"), (size_t)q));
    char path[512];
    mod_path(d, call, path, sizeof path);
    cr_assert_str_eq(path, "model.layers.1.self_attn.q_proj");
    json_t *par = json_object_get(d, "param");
    bool found = false;
    for (size_t i = 0; i < json_array_size(json_object_get(par, "mod")); i++) {
        if (json_integer_value(json_array_get(json_object_get(par, "mod"), i)) != call)
            continue;
        cr_assert_str_eq(str_at(d, json_array_get(json_object_get(par, "name"), i)), "weight");
        cr_assert_str_eq(str_at(d, json_array_get(json_object_get(par, "shape"), i)), "[64, 64]");
        cr_assert_eq(json_integer_value(json_array_get(json_object_get(par, "bytes"), i)), 64 * 64 * 4);
        found = true;
    }
    cr_assert(found);
    json_decref(d);
    free(page);
    mt_ctx_free(ctx);
}

Test(html, experts_fold_and_loop_glue_is_drawn_in_its_expert)
{
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build_text(ctx, tiny("mixtral"), 6);
    mt_graph *g = tu_trace(m);
    char *page = page_of(m, g, 0);
    json_t *d = doc_of(page);
    /* 6 identical layers; 4 identical experts in each */
    const char *want = "model.layers 0 1 6\n"
                       "model.layers.0.block_sparse_moe.experts 0 1 4\n"
                       "model.layers.1.block_sparse_moe.experts 0 1 4\n"
                       "model.layers.2.block_sparse_moe.experts 0 1 4\n"
                       "model.layers.3.block_sparse_moe.experts 0 1 4\n"
                       "model.layers.4.block_sparse_moe.experts 0 1 4\n"
                       "model.layers.5.block_sparse_moe.experts 0 1 4\n";
    cr_assert_str_eq(runs_of(d), want);
    /* the loop adds each expert's weighted output with index_add_: recorded in
     * the MoE block, drawn in the expert it serves (the first: expert 0) */
    int ia = node_named(d, "index_add_");
    cr_assert(ia >= 0);
    json_t *node = json_object_get(d, "node");
    char drawn[512], rec[512];
    mod_path(d, (int)json_integer_value(json_array_get(json_object_get(node, "mod"), (size_t)ia)), drawn, sizeof drawn);
    mod_path(d, (int)json_integer_value(json_array_get(json_object_get(node, "rec"), (size_t)ia)), rec, sizeof rec);
    cr_assert_str_eq(drawn, "model.layers.0.block_sparse_moe.experts.0");
    cr_assert_str_eq(rec, "model.layers.0.block_sparse_moe");
    json_decref(d);
    free(page);
    mt_ctx_free(ctx);
}

Test(html, dense_and_moe_layers_fold_apart)
{
    /* DeepSeek-V3: first_k_dense_replace 3 (config), so layers 0-2 are dense
     * and 3-4 MoE at --layers 5; 256 routed experts (n_routed_experts) */
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build(ctx, tu_src("samples/configs/deepseek-ai--DeepSeek-V3.config.json"), 5);
    mt_graph *g = tu_trace(m);
    char *page = page_of(m, g, 0);
    json_t *d = doc_of(page);
    cr_assert_str_eq(runs_of(d), "model.layers 0 1 3\n"
                                 "model.layers 3 1 2\n"
                                 "model.layers.3.mlp.experts 0 1 256\n"
                                 "model.layers.4.mlp.experts 0 1 256\n");
    json_decref(d);
    free(page);
    mt_ctx_free(ctx);
}

Test(html, alternating_layers_fold_by_phase)
{
    /* Gemma 2 alternates sliding-window and global layers: two runs of period 2 */
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build_text(ctx, tiny("gemma2"), 6);
    mt_graph *g = tu_trace(m);
    char *page = page_of(m, g, 0);
    json_t *d = doc_of(page);
    cr_assert_str_eq(runs_of(d), "model.layers 0 2 3\nmodel.layers 1 2 3\n");
    json_decref(d);
    free(page);
    mt_ctx_free(ctx);
}

Test(html, plan_roles_and_shards)
{
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build_text(ctx, tiny("llama"), 0);
    mt_graph *g = tu_trace(m);
    char *page = page_of(m, g, 2);
    json_t *d = doc_of(page);
    json_t *plan = json_object_get(d, "plan"), *par = json_object_get(d, "param");
    cr_assert(plan);
    cr_assert_eq(json_integer_value(json_object_get(plan, "tp")), 2);
    int checked = 0;
    for (size_t i = 0; i < json_array_size(json_object_get(par, "mod")); i++) {
        char path[512];
        mod_path(d, (int)json_integer_value(json_array_get(json_object_get(par, "mod"), i)), path, sizeof path);
        const char *role = str_at(d, json_array_get(json_object_get(plan, "role"), i));
        const char *local = str_at(d, json_array_get(json_object_get(plan, "local"), i));
        /* q_proj [64 out, 64 in] column-parallel: rows cut in 2; o_proj row-parallel: columns */
        if (strcmp(path, "model.layers.0.self_attn.q_proj") == 0) {
            cr_assert_str_eq(role, "colwise, dim 0 in 2 blocks");
            cr_assert_str_eq(local, "[32, 64]");
            checked++;
        } else if (strcmp(path, "model.layers.0.self_attn.o_proj") == 0) {
            cr_assert_str_eq(role, "rowwise, dim 1 in 2 blocks");
            cr_assert_str_eq(local, "[64, 32]");
            checked++;
        }
    }
    cr_assert_eq(checked, 2);
    cr_assert_eq(json_array_size(json_object_get(plan, "place")), (size_t)g->n);
    cr_assert(json_array_size(json_object_get(plan, "comms")) > 0);
    json_decref(d);
    free(page);
    mt_ctx_free(ctx);
}

Test(html, unusable_plan_and_write_failure_are_errors)
{
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build_text(ctx, tiny("llama"), 0);
    mt_graph *g = tu_trace(m);
    mt_plan_opts po = {.tp = 3}; /* 4 heads are not divisible by 3 */
    mt_plan *p = mt_plan_run(m, g, &po);
    cr_assert(p && !p->valid);
    mt_html_opts o = {.plan = p};
    FILE *f = fopen("/dev/null", "w");
    cr_assert_eq(mt_export_html(m, g, &o, f), MT_ERR_USAGE);
    fclose(f);
    mt_error_clear(ctx);
    f = fopen("/dev/full", "w");
    if (f) {
        cr_assert_eq(mt_export_html(m, g, NULL, f), MT_ERR_IO);
        fclose(f);
    }
    mt_ctx_free(ctx);
}

Test(html, markup_in_names_cannot_close_the_data)
{
    /* architectures[0] comes from the config and is shown (the note naming the
     * class traced instead): '</script>' in it stays inside the JSON */
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build_text(ctx,
                                "{\"model_type\": \"llama\", \"architectures\": [\"LlamaForCausalLM</script><b>x\"], "
                                TINY_DIMS "}",
                                0);
    mt_graph *g = tu_trace(m);
    char *page = page_of(m, g, 0);
    cr_assert_eq(count(page, "</script"), 3);
    json_t *d = doc_of(page);
    char *text = json_dumps(d, 0);
    cr_assert(strstr(text, "LlamaForCausalLM</script><b>x"), "%.300s", text);
    free(text);
    json_decref(d);
    free(page);
    mt_ctx_free(ctx);
}

Test(html, cli)
{
    const char *dir = tu_tmpdir();
    char out[4096], *so = NULL, *se = NULL;
    snprintf(out, sizeof out, "%s/graph.html", dir);
    const char *cfg = tu_src("samples/configs/huggyllama--llama-7b.config.json");
    const char *a1[] = {cfg, "-o", out, NULL};
    cr_assert_eq(tu_run_cli(a1, &so, &se), 0, "%s", se);
    size_t len;
    char *page = tu_read(out, &len);
    cr_assert(page && strncmp(page, "<!DOCTYPE html>", 15) == 0);
    free(page);
    free(so), free(se);
    /* --format html on standard output */
    const char *a2[] = {cfg, "--layers", "1", "-f", "html", NULL};
    cr_assert_eq(tu_run_cli(a2, &so, &se), 0, "%s", se);
    cr_assert(strncmp(so, "<!DOCTYPE html>", 15) == 0);
    free(so), free(se);
    /* the viewer shows one plan: --tp auto is a usage error, and so is --fit */
    const char *a3[] = {cfg, "--tp", "auto", "-o", out, NULL};
    cr_assert_eq(tu_run_cli(a3, &so, &se), 2);
    cr_assert(strstr(se, "--tp N"), "%s", se);
    free(so), free(se);
    const char *a4[] = {cfg, "--fit", "8xH100", "-f", "html", NULL};
    cr_assert_eq(tu_run_cli(a4, &so, &se), 2);
    free(so), free(se);
}

Test(html, every_family)
{
    /* every registered family's tiny config (2 layers): a page whose document
     * has every node, and runs inside their lists */
    for (size_t i = 0; i < sizeof tiny_configs / sizeof tiny_configs[0]; i++) {
        mt_ctx *ctx = mt_ctx_new();
        mt_model *m = tu_build_text(ctx, tiny_configs[i].json, 0);
        mt_graph *g = tu_trace(m);
        char *page = page_of(m, g, 0);
        json_t *d = doc_of(page);
        json_t *node = json_object_get(d, "node"), *mod = json_object_get(d, "mod");
        size_t nm = json_array_size(json_object_get(mod, "parent"));
        cr_assert_eq(json_array_size(json_object_get(node, "mod")), (size_t)g->n, "%s", tiny_configs[i].model_type);
        for (size_t k = 0; k < (size_t)g->n; k++) {
            json_int_t v = json_integer_value(json_array_get(json_object_get(node, "mod"), k));
            cr_assert(v >= 0 && (size_t)v < nm, "%s: node %zu drawn in module %lld", tiny_configs[i].model_type, k,
                      (long long)v);
        }
        json_t *r = json_object_get(d, "runs");
        for (size_t k = 0; k + 3 < json_array_size(r); k += 4)
            cr_assert(json_integer_value(json_array_get(r, k + 3)) >= 2, "%s", tiny_configs[i].model_type);
        json_decref(d);
        free(page);
        mt_ctx_free(ctx);
    }
}

/* The flat API's "html" and "plan-html" are the CLI's bytes. */
static char *flat_html(const char *format, int tp, size_t *len)
{
    mt_ctx *ctx = mt_ctx_new();
    mt_flat *f = mt_flat_new(ctx);
    cr_assert_eq(mt_flat_set(f, "layers", "2"), MT_OK);
    if (tp) {
        char t[16];
        snprintf(t, sizeof t, "%d", tp);
        cr_assert_eq(mt_flat_set(f, "tp", t), MT_OK);
    }
    mt_model *m = mt_flat_build(f, mt_config_load(ctx, tu_src("samples/configs/huggyllama--llama-7b.config.json")));
    mt_graph *g = m ? mt_flat_trace(f, m) : NULL;
    cr_assert(g, "%s", mt_ctx_errmsg(ctx));
    char *text = mt_flat_export(f, m, g, format, len);
    char *copy = NULL;
    if (text) {
        copy = malloc(*len + 1);
        memcpy(copy, text, *len + 1);
    } else {
        cr_assert_eq(mt_ctx_status(ctx), MT_ERR_UNSUPPORTED, "%s", mt_ctx_errmsg(ctx));
        cr_assert(strstr(mt_ctx_errmsg(ctx), "cannot use this degree"), "%s", mt_ctx_errmsg(ctx));
    }
    mt_ctx_free(ctx);
    return copy;
}

Test(html, flat_api_is_the_cli)
{
    const char *cfg = tu_src("samples/configs/huggyllama--llama-7b.config.json");
    char *so = NULL, *se = NULL;
    size_t len = 0;
    const char *a1[] = {cfg, "--layers", "2", "-f", "html", NULL};
    cr_assert_eq(tu_run_cli(a1, &so, &se), 0, "%s", se);
    char *flat = flat_html("html", 0, &len);
    cr_assert(flat && len == strlen(so) && memcmp(flat, so, len) == 0, "flat html differs from the CLI's");
    free(flat), free(so), free(se);
    const char *a2[] = {cfg, "--layers", "2", "--tp", "2", "-f", "html", NULL};
    cr_assert_eq(tu_run_cli(a2, &so, &se), 0, "%s", se);
    flat = flat_html("plan-html", 2, &len);
    cr_assert(flat && len == strlen(so) && memcmp(flat, so, len) == 0, "flat plan-html differs from the CLI's");
    free(flat), free(so), free(se);
    /* 32 heads cannot be split over 3 ranks: an error, no page */
    cr_assert_null(flat_html("plan-html", 3, &len));
}

/* An allocator that fails from the n-th allocation on. */
typedef struct failing {
    long n, count;
} failing;
static void *fail_alloc(size_t size, void *ud)
{
    failing *f = ud;
    return ++f->count >= f->n ? NULL : malloc(size);
}
static void *fail_realloc(void *p, size_t old, size_t size, void *ud)
{
    (void)old;
    failing *f = ud;
    return ++f->count >= f->n ? NULL : realloc(p, size);
}
static void fail_free(void *p, size_t size, void *ud)
{
    (void)size, (void)ud;
    free(p);
}

Test(html, out_of_memory_is_an_error_never_a_crash)
{
    /* every allocation the export makes fails in turn: MT_ERR_NOMEM (with a
     * message) or success, never a crash or a success with an error set */
    int errors = 0;
    for (long k = 1;; k++) {
        failing fl = {1L << 40, 0};
        mt_allocator a = {fail_alloc, fail_realloc, fail_free, &fl};
        mt_ctx *ctx = mt_ctx_new_with(&a);
        mt_model *m = tu_build_text(ctx, tiny("mixtral"), 3);
        mt_graph *g = tu_trace(m);
        mt_sizing sz;
        cr_assert_eq(mt_model_sizing(m, g, NULL, &sz), MT_OK);
        fl.n = fl.count + k; /* the k-th allocation from here fails */
        FILE *f = fopen("/dev/null", "w");
        mt_html_opts o = {.sizing = &sz};
        mt_status st = mt_export_html(m, g, &o, f);
        fclose(f);
        bool reached = fl.count < fl.n; /* the export made fewer than k allocations */
        if (st == MT_OK)
            cr_assert_eq(mt_ctx_status(ctx), MT_OK, "k=%ld: success with an error set: %s", k, mt_ctx_errmsg(ctx));
        else {
            cr_assert(st == MT_ERR_NOMEM || st == MT_ERR_OVERFLOW, "k=%ld: %s", k, mt_status_name(st));
            cr_assert(mt_ctx_errmsg(ctx)[0], "k=%ld: no message", k);
            errors++;
        }
        mt_ctx_free(ctx);
        if (reached) {
            cr_assert_eq(st, MT_OK);
            break;
        }
    }
    cr_assert(errors > 0, "no allocation failed");
}

/* The page of a model with --module / --depth options (NULL: the defaults). */
static mt_status page_with(mt_model *m, mt_graph *g, const char *module, int depth, char **page)
{
    size_t len = 0;
    *page = NULL;
    FILE *f = open_memstream(page, &len);
    cr_assert(f);
    mt_html_opts o = {.module = module, .depth = depth};
    mt_status st = mt_export_html(m, g, &o, f);
    fclose(f);
    return st;
}

/* --module PATH opens the page at that module, --depth N opens N levels of the
 * module tree: the document names the module (by its index in the module
 * table) and the depth; without them neither is there (the viewer's choice). */
Test(html, module_and_depth_open_the_page)
{
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build_text(ctx, tiny("llama"), 0);
    mt_graph *g = tu_trace(m);
    char *page;
    cr_assert_eq(page_with(m, g, "model.layers.1.mlp", 2, &page), MT_OK, "%s", mt_ctx_errmsg(ctx));
    json_t *d = doc_of(page);
    json_t *open = json_object_get(d, "open");
    cr_assert(json_is_integer(open), "the document names the module to open");
    char path[512];
    mod_path(d, (int)json_integer_value(open), path, sizeof path);
    cr_assert_str_eq(path, "model.layers.1.mlp");
    cr_assert_eq(json_integer_value(json_object_get(d, "depth")), 2);
    json_decref(d);
    free(page);
    /* the defaults: neither member */
    cr_assert_eq(page_with(m, g, NULL, 0, &page), MT_OK);
    d = doc_of(page);
    cr_assert_null(json_object_get(d, "open"));
    cr_assert_null(json_object_get(d, "depth"));
    json_decref(d);
    free(page);
    /* depth alone counts from the root */
    cr_assert_eq(page_with(m, g, "", 3, &page), MT_OK);
    d = doc_of(page);
    cr_assert_null(json_object_get(d, "open"));
    cr_assert_eq(json_integer_value(json_object_get(d, "depth")), 3);
    json_decref(d);
    free(page);
    mt_ctx_free(ctx);
}

/* A path that names no module, or a depth outside 0..64, is a usage error and
 * nothing is written. LlamaModel's children (transformers' modeling_llama):
 * embed_tokens, layers, norm, rotary_emb. */
Test(html, bad_module_or_depth_is_a_usage_error)
{
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build_text(ctx, tiny("llama"), 0);
    mt_graph *g = tu_trace(m);
    char *page;
    cr_assert_eq(page_with(m, g, "model.layer", 0, &page), MT_ERR_USAGE);
    cr_assert_str_eq(page, "", "nothing written");
    cr_assert(strstr(mt_ctx_errmsg(ctx), "--module: no module 'model.layer' in LlamaForCausalLM; under 'model' there "
                                         "are: model.embed_tokens, model.layers, model.norm, model.rotary_emb"),
              "%s", mt_ctx_errmsg(ctx));
    free(page);
    mt_error_clear(ctx);
    /* an entry a list does not have: the list's entries named */
    cr_assert_eq(page_with(m, g, "model.layers.7", 0, &page), MT_ERR_USAGE);
    cr_assert(strstr(mt_ctx_errmsg(ctx), "under 'model.layers' there are: model.layers.0, model.layers.1"),
              "%s", mt_ctx_errmsg(ctx));
    free(page);
    mt_error_clear(ctx);
    for (int depth = -1; depth <= 65; depth += 66) {
        cr_assert_eq(page_with(m, g, NULL, depth, &page), MT_ERR_USAGE, "depth %d", depth);
        cr_assert_str_eq(page, "");
        cr_assert(strstr(mt_ctx_errmsg(ctx), "1 to 64"), "%s", mt_ctx_errmsg(ctx));
        free(page);
        mt_error_clear(ctx);
    }
    mt_ctx_free(ctx);
}

Test(html, cli_module_and_depth)
{
    const char *dir = tu_tmpdir();
    char out[4096], *so = NULL, *se = NULL;
    snprintf(out, sizeof out, "%s/layer.html", dir);
    const char *cfg = tu_src("samples/configs/huggyllama--llama-7b.config.json");
    const char *a1[] = {cfg, "--layers", "2", "--module", "model.layers.1.self_attn", "--depth", "2", "-o", out, NULL};
    cr_assert_eq(tu_run_cli(a1, &so, &se), 0, "%s", se);
    size_t len;
    char *page = tu_read(out, &len);
    json_t *d = doc_of(page);
    char path[512];
    mod_path(d, (int)json_integer_value(json_object_get(d, "open")), path, sizeof path);
    cr_assert_str_eq(path, "model.layers.1.self_attn");
    cr_assert_eq(json_integer_value(json_object_get(d, "depth")), 2);
    json_decref(d);
    free(page);
    free(so), free(se);
    remove(out);
    /* a path that names no module: exit 2, the modules listed, nothing written */
    const char *a2[] = {cfg, "--layers", "2", "--module", "model.layer", "-o", out, NULL};
    cr_assert_eq(tu_run_cli(a2, &so, &se), 2, "%s", se);
    cr_assert(strstr(se, "--module: no module 'model.layer' in LlamaForCausalLM"), "%s", se);
    cr_assert(!tu_exists(out), "nothing written");
    free(so), free(se);
    /* --unfold has no meaning for the page (groups unfold in it): exit 2 */
    const char *a3[] = {cfg, "--layers", "2", "--unfold", "-o", out, NULL};
    cr_assert_eq(tu_run_cli(a3, &so, &se), 2, "%s", se);
    cr_assert(strstr(se, "--unfold"), "%s", se);
    cr_assert(!tu_exists(out), "nothing written");
    free(so), free(se);
}
