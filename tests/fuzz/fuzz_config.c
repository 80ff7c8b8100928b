/* Fuzz target: a config.json through everything a user can reach from it --
 * parse, build (at FUZZ_LAYERS layers), trace, size, every text exporter, a
 * tensor-parallel plan, a --fit over two nodes -- and our own output read back: the JSON by jansson
 * with duplicate keys rejected, the DOT by cgraph, the HTML viewer's data by
 * jansson. Any input may be refused
 * with an error; none may crash, leak past the context, print a document
 * that does not parse, or fail without a message. */
#define _GNU_SOURCE 1 /* open_memstream */
#include <graphviz/cgraph.h>
#include <jansson.h>

#include "fuzz_common.h"

static void check_json(const char *text, size_t len, const char *what) {
    json_error_t err;
    json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
    FUZZ_CHECK(j != NULL, "%s does not parse (line %d: %s)", what, err.line, err.text);
    json_decref(j);
}

static void check_dot(char *text, const char *what) {
    Agraph_t *gr = agmemread(text);
    FUZZ_CHECK(gr != NULL, "%s: cgraph cannot read it back", what);
    FUZZ_CHECK(agnnodes(gr) > 0, "%s: no nodes", what);
    agclose(gr);
}

/* The viewer's page: its data element parses, and nothing in it closes a
 * script element early (three scripts: library, data, viewer). */
static void check_html(const char *text, const char *what) {
    const char *tag = "id=\"mt-data\">";
    const char *a = strstr(text, tag);
    FUZZ_CHECK(a != NULL, "%s: no data element", what);
    a += strlen(tag);
    const char *b = strstr(a, "</script>");
    FUZZ_CHECK(b != NULL, "%s: the data element is not closed", what);
    check_json(a, (size_t)(b - a), what);
    int n = 0;
    for (const char *p = strstr(text, "</script"); p; p = strstr(p + 1, "</script"))
        n++;
    FUZZ_CHECK(n == 3, "%s: %d script ends, expected 3", what, n);
}

static void exports(mt_model *m, mt_graph *g, mt_sizing *sz) {
    char *text;
    size_t len;
    FUZZ_CAPTURE(text, len, f, mt_export_json_sized(m, g, sz, f));
    FUZZ_CHECK(text != NULL, "JSON export failed: %s", mt_ctx_errmsg(mt_model_ctx(m)));
    check_json(text, len, "the graph JSON");
    free(text);
    FUZZ_CAPTURE(text, len, f, mt_export_dot(m, g, f));
    FUZZ_CHECK(text != NULL, "DOT export failed: %s", mt_ctx_errmsg(mt_model_ctx(m)));
    check_dot(text, "the graph DOT");
    free(text);
    FUZZ_CAPTURE(text, len, f, mt_export_summary_sized(m, g, sz, f));
    FUZZ_CHECK(text != NULL, "summary failed: %s", mt_ctx_errmsg(mt_model_ctx(m)));
    free(text);
    FUZZ_CAPTURE(text, len, f, mt_export_module_table(m, g, sz, 2, false, f));
    FUZZ_CHECK(text != NULL, "module table failed: %s", mt_ctx_errmsg(mt_model_ctx(m)));
    free(text);
    mt_html_opts ho = {.sizing = sz, .plan = NULL};
    FUZZ_CAPTURE(text, len, f, mt_export_html(m, g, &ho, f));
    FUZZ_CHECK(text != NULL, "HTML viewer failed: %s", mt_ctx_errmsg(mt_model_ctx(m)));
    check_html(text, "the HTML viewer");
    free(text);
}

static void plan(mt_model *m, mt_graph *g) {
    mt_plan_opts po;
    memset(&po, 0, sizeof po);
    po.tp = 2;
    mt_plan *p = mt_plan_run(m, g, &po);
    if (!p) {
        fuzz_expect_message(mt_model_ctx(m));
        return;
    }
    char *text;
    size_t len;
    FUZZ_CAPTURE(text, len, f, mt_plan_export_graph_json(p, f));
    FUZZ_CHECK(text != NULL, "plan JSON failed: %s", mt_ctx_errmsg(mt_model_ctx(m)));
    check_json(text, len, "the plan JSON");
    free(text);
    FUZZ_CAPTURE(text, len, f, mt_plan_export_dot(p, f));
    FUZZ_CHECK(text != NULL, "plan DOT failed: %s", mt_ctx_errmsg(mt_model_ctx(m)));
    check_dot(text, "the plan DOT");
    free(text);
    if (p->valid) {
        mt_html_opts ho = {.sizing = NULL, .plan = p};
        FUZZ_CAPTURE(text, len, f, mt_export_html(m, g, &ho, f));
        FUZZ_CHECK(text != NULL, "plan HTML failed: %s", mt_ctx_errmsg(mt_model_ctx(m)));
        check_html(text, "the plan HTML");
        free(text);
    }
}

/* A config with at most FUZZ_LAYERS + 2 layers of its own is built as it is
 * (one-layer models have their own defects: T5's tied embeddings at --tp 2);
 * larger ones at FUZZ_LAYERS. */
static bool own_layers_small(mt_ctx *ctx, mt_config *cfg) {
    static const char *const fields[] = {"num_hidden_layers", "num_layers", "n_layer", "n_layers"};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        int64_t v = 0;
        if (!mt_config_has(cfg, fields[i])) continue;
        bool ok = mt_config_int(cfg, fields[i], 0, &v);
        mt_error_clear(ctx);
        return ok && v >= 1 && v <= FUZZ_LAYERS + 2;
    }
    return false;
}

/* --fit 2x8xH100: every layout, printed and as JSON read back. */
static void fit(mt_model *m, mt_graph *g) {
    mt_cluster cl;
    FUZZ_CHECK(mt_cluster_parse(mt_model_ctx(m), "2x8xH100", &cl) == MT_OK, "%s", mt_ctx_errmsg(mt_model_ctx(m)));
    mt_fit_opts fo;
    memset(&fo, 0, sizeof fo);
    fo.cluster = &cl;
    mt_fit *f = mt_fit_run(m, g, &fo);
    if (!f) {
        fuzz_expect_message(mt_model_ctx(m));
        return;
    }
    char *text;
    size_t len;
    FUZZ_CAPTURE(text, len, out, mt_fit_export_json(f, true, out));
    FUZZ_CHECK(text != NULL, "fit JSON failed: %s", mt_ctx_errmsg(mt_model_ctx(m)));
    check_json(text, len, "the fit JSON");
    free(text);
    FUZZ_CAPTURE(text, len, out, mt_fit_print(f, true, out));
    FUZZ_CHECK(text != NULL, "fit table failed: %s", mt_ctx_errmsg(mt_model_ctx(m)));
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mt_ctx *ctx = mt_ctx_new();
    FUZZ_CHECK(ctx != NULL, "mt_ctx_new");
    mt_config *cfg = mt_config_parse(ctx, (const char *)data, size, "fuzz.json");
    mt_model *m = NULL;
    mt_graph *g = NULL;
    if (cfg) {
        mt_build_opts o;
        memset(&o, 0, sizeof o);
        o.num_layers = own_layers_small(ctx, cfg) ? 0 : FUZZ_LAYERS;
        m = mt_model_build(ctx, cfg, &o);
    }
    if (m) g = mt_model_trace(m, NULL);
    if (!g) {
        fuzz_expect_message(ctx);
        mt_ctx_free(ctx);
        return 0;
    }
    mt_sizing sz;
    if (mt_model_sizing(m, g, NULL, &sz) != MT_OK) {
        fuzz_expect_message(ctx);
    } else {
        exports(m, g, &sz);
        plan(m, g);
        fit(m, g);
    }
    mt_ctx_free(ctx);
    return 0;
}
