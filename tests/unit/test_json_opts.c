/* The graph JSON's --stable and --compact (docs/graph-format.md, "Stable and
 * compact"):
 * - stable: the same model exported from two directories, given by relative
 *   and absolute paths, gives the same bytes; model.config is the file name,
 *   tool.version null, every other member as without --stable;
 * - compact: one line plus the final newline, parses (duplicates rejected) to
 *   a value json_equal to the indented document, for several families;
 * - the CLI refuses them where they mean nothing (summary, DOT, --tp). */
#include <jansson.h>

#include "export_testutil.h"

#define MISTRAL "samples/configs/mistralai--Mistral-7B-v0.1.config.json"

static json_t *parse(const char *text, const char *what)
{
    json_error_t e;
    json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, &e);
    cr_assert(j, "%s does not parse: %s at %d:%d", what, e.text, e.line, e.column);
    return j;
}

static char *copy_file(const char *from, const char *dir, const char *name)
{
    char *text = tu_read(from, NULL);
    cr_assert(text, "cannot read %s", from);
    char *p = strdup(tu_write(dir, name, text));
    free(text);
    return p;
}

/* Export the document with the library into a malloc'd string. */
static char *export_opts(const char *rel, int64_t layers, bool stable, bool compact)
{
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build(ctx, tu_src(rel), layers);
    mt_graph *g = tu_trace(m);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    mt_json_opts o = {.stable = stable, .compact = compact};
    cr_assert_eq(mt_export_json_opts(m, g, NULL, &o, f), MT_OK, "%s", mt_ctx_errmsg(ctx));
    fclose(f);
    mt_ctx_free(ctx);
    return buf;
}

Test(json_opts, stable_same_bytes_from_two_directories)
{
    const char *tmp = tu_tmpdir();
    char d1[512], d2[512];
    snprintf(d1, sizeof d1, "%s/machine-a", tmp);
    snprintf(d2, sizeof d2, "%s/other/place/machine-b", tmp);
    cr_assert_eq(mkdir(d1, 0755), 0);
    char mid[512];
    snprintf(mid, sizeof mid, "%s/other", tmp);
    mkdir(mid, 0755);
    snprintf(mid, sizeof mid, "%s/other/place", tmp);
    mkdir(mid, 0755);
    cr_assert_eq(mkdir(d2, 0755), 0);
    const char *name = "mistralai--Mistral-7B-v0.1.config.json";
    char *c1 = copy_file(tu_src(MISTRAL), d1, name);
    char *c2 = copy_file(tu_src(MISTRAL), d2, name);
    (void)c2;

    /* One run inside d1 with a relative path, one from the test's cwd with an
     * absolute path into d2. */
    char o2[600];
    snprintf(o2, sizeof o2, "%s/out.json", d2);
    char *c2abs = strdup(c2);
    const char *a1[] = {name, "--layers", "2", "--stable", "-o", "out.json", NULL};
    const char *a2[] = {c2abs, "--layers", "2", "--stable", "-o", o2, NULL};
    cr_assert_eq(xt_run(d1, a1, NULL, NULL), 0);
    cr_assert_eq(xt_run(NULL, a2, NULL, NULL), 0);
    char o1[600];
    snprintf(o1, sizeof o1, "%s/out.json", d1);
    size_t n1 = 0, n2 = 0;
    char *t1 = tu_read(o1, &n1), *t2 = tu_read(o2, &n2);
    cr_assert(t1 && t2);
    cr_assert(n1 == n2 && memcmp(t1, t2, n1) == 0, "--stable exports from two directories differ");

    json_t *j = parse(t1, "the stable document");
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "model"), "config")), name);
    json_t *tool = json_object_get(j, "tool");
    cr_assert(json_is_null(json_object_get(tool, "version")), "tool.version must be null under --stable");
    cr_assert_str_eq(json_string_value(json_object_get(tool, "name")), "metatrace");

    /* Without --stable the two differ (the paths), and only there: the
     * documents are equal once model.config and tool.version are set alike. */
    const char *b1[] = {name, "--layers", "2", "-o", "plain.json", NULL};
    cr_assert_eq(xt_run(d1, b1, NULL, NULL), 0);
    char p1[600];
    snprintf(p1, sizeof p1, "%s/plain.json", d1);
    char *tp = tu_read(p1, NULL);
    json_t *plain = parse(tp, "the plain document");
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(plain, "model"), "config")), name);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(plain, "tool"), "version")),
                     MT_VERSION_STRING);
    json_object_set_new(json_object_get(plain, "tool"), "version", json_null());
    cr_assert(json_equal(plain, j), "--stable changed more than tool.version");
    json_decref(plain);
    json_decref(j);
    free(tp);
    free(t1);
    free(t2);
    free(c1);
    free(c2);
    free(c2abs);
}

Test(json_opts, stable_config_path_reduced_to_file_name)
{
    /* A path with directories keeps only its last component. */
    char *t = export_opts("tests/snapshots/tiny-llama.config.json", 0, true, false);
    json_t *j = parse(t, "stable");
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "model"), "config")),
                     "tiny-llama.config.json");
    json_decref(j);
    free(t);
    t = export_opts("tests/snapshots/tiny-llama.config.json", 0, false, false);
    j = parse(t, "plain");
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "model"), "config")),
                     tu_src("tests/snapshots/tiny-llama.config.json"));
    json_decref(j);
    free(t);
}

static void check_compact(const char *rel, int64_t layers)
{
    for (int stable = 0; stable < 2; stable++) {
        char *ind = export_opts(rel, layers, stable, false);
        char *cmp = export_opts(rel, layers, stable, true);
        size_t n = strlen(cmp);
        cr_assert(n > 2 && cmp[n - 1] == '\n', "%s: the compact document ends with a newline", rel);
        cr_assert_null(memchr(cmp, '\n', n - 1), "%s: a newline inside the compact document", rel);
        cr_assert_null(strstr(cmp, "\": "), "%s: a space after a key in the compact document", rel);
        cr_assert(strlen(ind) > n, "%s: compact is not smaller", rel);
        json_t *a = parse(ind, "indented"), *b = parse(cmp, "compact");
        cr_assert(json_equal(a, b), "%s: the compact document differs from the indented one", rel);
        /* Same key order: jansson's own compact dump of the indented document,
         * keys in document order, has the same keys in the same places. */
        json_t *keys_a = json_object_get(a, "nodes"), *keys_b = json_object_get(b, "nodes");
        cr_assert_eq(json_array_size(keys_a), json_array_size(keys_b));
        const char *ka = NULL, *kb = NULL;
        void *ia = json_object_iter(a), *ib = json_object_iter(b);
        while (ia && ib) {
            ka = json_object_iter_key(ia);
            kb = json_object_iter_key(ib);
            cr_assert_str_eq(ka, kb, "%s: top-level key order differs", rel);
            ia = json_object_iter_next(a, ia);
            ib = json_object_iter_next(b, ib);
        }
        cr_assert(!ia && !ib);
        json_decref(a);
        json_decref(b);
        free(ind);
        free(cmp);
    }
}

Test(json_opts, compact_parses_to_the_indented_document)
{
    check_compact("tests/snapshots/tiny-llama.config.json", 0);
    check_compact(MISTRAL, 2);
    check_compact("samples/configs/openai-community--gpt2-large.config.json", 1);   /* Conv1D, reals */
    check_compact("samples/configs/deepseek-ai--DeepSeek-V3.config.json", 4);      /* MLA, MoE, split */
    check_compact("samples/configs/google-bert--bert-base-uncased.config.json", 1); /* encoder */
}

Test(json_opts, compact_key_order_is_the_indented_order)
{
    /* Every key of the compact document, in order, is the indented one's:
     * compare the documents with whitespace outside strings removed. */
    char *ind = export_opts(MISTRAL, 1, false, false);
    char *cmp = export_opts(MISTRAL, 1, false, true);
    size_t n = 0;
    bool in_str = false;
    for (const char *p = ind; *p; p++) {
        if (*p == '"' && (p == ind || p[-1] != '\\'))
            in_str = !in_str;
        if (!in_str && (*p == ' ' || *p == '\n'))
            continue;
        ind[n++] = *p;
    }
    ind[n] = 0;
    size_t m = strlen(cmp);
    cr_assert(m > 0);
    cmp[m - 1] = 0; /* the final newline */
    cr_assert_str_eq(ind, cmp, "compact is not the indented document without its whitespace");
    free(ind);
    free(cmp);
}

Test(json_opts, cli_compact_and_stable_only_for_json)
{
    const char *cfg = tu_src("tests/snapshots/tiny-llama.config.json");
    char *out = NULL, *err = NULL;
    const char *a[] = {cfg, "--compact", "-f", "json", NULL};
    cr_assert_eq(tu_run_cli(a, &out, &err), 0, "%s", err);
    cr_assert_null(memchr(out, '\n', strlen(out) - 1));
    free(out);
    free(err);
    const char *s[] = {cfg, "--stable", NULL}; /* the summary */
    cr_assert_eq(tu_run_cli(s, &out, &err), 2);
    cr_assert(strstr(err, "metatrace: error: --stable shapes the graph JSON document"), "%s", err);
    free(out);
    free(err);
    const char *d[] = {cfg, "--compact", "-f", "dot", NULL};
    cr_assert_eq(tu_run_cli(d, &out, &err), 2);
    free(out);
    free(err);
    /* with --tp N the plan document is shaped too (tests/unit/test_cli_sizing.c);
     * --tp auto lists degrees, not a graph document */
    const char *t[] = {cfg, "--stable", "--tp", "auto", "-f", "json", NULL};
    cr_assert_eq(tu_run_cli(t, &out, &err), 2);
    cr_assert(strstr(err, "not --tp auto"), "%s", err);
    free(out);
    free(err);
}

Test(json_opts, default_export_unchanged)
{
    /* mt_export_json and mt_export_json_opts(NULL) write the same bytes. */
    mt_ctx *ctx = mt_ctx_new();
    mt_model *m = tu_build(ctx, tu_src("tests/snapshots/tiny-llama.config.json"), 0);
    mt_graph *g = tu_trace(m);
    char *b1 = NULL, *b2 = NULL;
    size_t l1 = 0, l2 = 0;
    FILE *f1 = open_memstream(&b1, &l1), *f2 = open_memstream(&b2, &l2);
    cr_assert_eq(mt_export_json(m, g, f1), MT_OK);
    cr_assert_eq(mt_export_json_opts(m, g, NULL, NULL, f2), MT_OK);
    fclose(f1);
    fclose(f2);
    cr_assert(l1 == l2 && memcmp(b1, b2, l1) == 0);
    free(b1);
    free(b2);
    mt_ctx_free(ctx);
}
