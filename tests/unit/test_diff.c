/* metatrace diff / mt_graph_diff (docs/diff.md).
 *
 * The base document is the tiny Llama's graph exported by the CLI; each test
 * changes a copy the way a regression would (jansson edits, dumped indented
 * or compact) and checks the report's lines and the exit status: 0 equal
 * (empty report), 1 different, 2 trouble (usage, unreadable, not JSON, not a
 * metatrace-graph document, different versions). */
#include <jansson.h>

#include "export_testutil.h"

#define TINY "tests/snapshots/tiny-llama.config.json"

static char *dir;
static char *base_path;

static void setup(void)
{
    dir = strdup(tu_tmpdir());
    base_path = strdup(tu_write(dir, "base.json", ""));
    const char *a[] = {tu_src(TINY), "-o", base_path, NULL};
    char *err = NULL;
    cr_assert_eq(tu_run_cli(a, NULL, &err), 0, "%s", err);
    free(err);
}

static void teardown(void)
{
    free(base_path);
    free(dir);
}

TestSuite(diff, .init = setup, .fini = teardown);

static json_t *load_base(void)
{
    json_error_t e;
    json_t *j = json_load_file(base_path, JSON_REJECT_DUPLICATES, &e);
    cr_assert(j, "%s", e.text);
    return j;
}

/* Dump j (consumed) to dir/name; returns the path (malloc'd). */
static char *save(json_t *j, const char *name, bool compact)
{
    char *text = json_dumps(j, (compact ? JSON_COMPACT : JSON_INDENT(2)) | JSON_PRESERVE_ORDER |
                                   JSON_REAL_PRECISION(17));
    cr_assert(text);
    char *p = strdup(tu_write(dir, name, text));
    free(text);
    json_decref(j);
    return p;
}

static int run_diff(const char *a, const char *b, const char *format, char **out, char **err)
{
    if (format) {
        const char *av[] = {"diff", "--format", format, a, b, NULL};
        return tu_run_cli(av, out, err);
    }
    const char *av[] = {"diff", a, b, NULL};
    return tu_run_cli(av, out, err);
}

static json_t *find_by(json_t *arr, const char *key, const char *value, size_t *index)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        const char *s = json_string_value(json_object_get(v, key));
        if (s && strcmp(s, value) == 0) {
            if (index)
                *index = i;
            return v;
        }
    }
    cr_assert_fail("no entry %s=%s", key, value);
    return NULL;
}

static void assert_line(const char *out, const char *line)
{
    char *want = malloc(strlen(line) + 3);
    sprintf(want, "\n%s\n", line);
    char *hay = malloc(strlen(out) + 2);
    sprintf(hay, "\n%s", out);
    cr_assert(strstr(hay, want), "line not in the report:\n  %s\nreport:\n%s", line, out);
    free(want);
    free(hay);
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

Test(diff, identical_documents_exit_0_and_print_nothing)
{
    char *out = NULL, *err = NULL;
    cr_assert_eq(run_diff(base_path, base_path, NULL, &out, &err), 0, "%s", err);
    cr_assert_str_empty(out);
    cr_assert_str_empty(err);
    free(out);
    free(err);
    /* The same content, compact and with another tool version and config
     * path: equal too (tool and model.config are not compared). */
    json_t *j = load_base();
    json_object_set_new(json_object_get(j, "tool"), "version", json_string("9.9.9"));
    json_object_set_new(json_object_get(j, "model"), "config", json_string("/elsewhere/config.json"));
    char *p = save(j, "same.json", true);
    cr_assert_eq(run_diff(base_path, p, NULL, &out, &err), 0, "%s%s", out, err);
    cr_assert_str_empty(out);
    free(out);
    free(err);
    cr_assert_eq(run_diff(base_path, p, "json", &out, &err), 0);
    json_error_t e;
    json_t *r = json_loads(out, JSON_REJECT_DUPLICATES, &e);
    cr_assert(r, "the JSON report does not parse: %s", e.text);
    cr_assert(json_is_true(json_object_get(r, "equal")));
    cr_assert_eq(json_array_size(json_object_get(r, "differences")), 0);
    json_decref(r);
    free(out);
    free(err);
    free(p);
}

Test(diff, parameter_reshaped)
{
    json_t *j = load_base();
    json_t *p = find_by(json_object_get(j, "parameters"), "name", "model.layers.0.mlp.up_proj.weight", NULL);
    json_t *shape = json_object_get(p, "shape");
    json_int_t d0 = json_integer_value(json_array_get(shape, 0)), d1 = json_integer_value(json_array_get(shape, 1));
    json_array_set_new(shape, 0, json_integer(d0 + 1));
    char *path = save(j, "reshaped.json", false);
    char *out = NULL, *err = NULL;
    cr_assert_eq(run_diff(base_path, path, NULL, &out, &err), 1, "%s", err);
    char line[256];
    snprintf(line, sizeof line, "~ parameter model.layers.0.mlp.up_proj.weight: shape [%lld,%lld] -> [%lld,%lld]",
             (long long)d0, (long long)d1, (long long)d0 + 1, (long long)d1);
    assert_line(out, line);
    assert_line(out, "1 difference: parameters ~1");
    /* header, one entry, summary */
    cr_assert_eq(count_lines(out), 4, "%s", out);
    free(out);
    free(err);
    free(path);
}

Test(diff, node_removed_in_graph_order_with_its_module)
{
    json_t *j = load_base();
    json_t *nodes = json_object_get(j, "nodes");
    /* Remove the first node recorded inside a layer's self_attn, and change
     * the dtype of a later node: the removal is reported first. */
    size_t i, k = 0;
    json_t *v;
    char *removed = NULL, *module = NULL;
    json_array_foreach(nodes, i, v)
    {
        json_t *st = json_object_get(v, "module_stack");
        size_t n = json_array_size(st);
        if (n && strstr(json_string_value(json_array_get(st, n - 1)), "self_attn") &&
            !json_is_null(json_object_get(v, "dtype"))) {
            removed = strdup(json_string_value(json_object_get(v, "name")));
            module = strdup(json_string_value(json_array_get(st, n - 1)));
            k = i;
            break;
        }
    }
    cr_assert(removed);
    json_t *later = json_array_get(nodes, k + 5);
    char *later_name = strdup(json_string_value(json_object_get(later, "name")));
    char *old_dtype = strdup(json_string_value(json_object_get(later, "dtype")));
    const char *new_dtype = strcmp(old_dtype, "float64") ? "float64" : "float16";
    json_object_set_new(later, "dtype", json_string(new_dtype));
    json_array_remove(nodes, k);
    char *path = save(j, "node.json", true);

    char *out = NULL, *err = NULL;
    cr_assert_eq(run_diff(base_path, path, NULL, &out, &err), 1, "%s", err);
    char prefix[256];
    snprintf(prefix, sizeof prefix, "\n- node %s (%s): ", removed, module);
    char *at_removed = strstr(out, prefix);
    cr_assert(at_removed, "no removal line '%s' in:\n%s", prefix + 1, out);
    char line[512];
    json_t *base = load_base();
    json_t *later_base = json_array_get(json_object_get(base, "nodes"), k + 5);
    json_t *st = json_object_get(later_base, "module_stack");
    size_t sn = json_array_size(st);
    if (sn)
        snprintf(line, sizeof line, "~ node %s (%s): dtype \"%s\" -> \"%s\"", later_name,
                 json_string_value(json_array_get(st, sn - 1)), old_dtype, new_dtype);
    else
        snprintf(line, sizeof line, "~ node %s: dtype \"%s\" -> \"%s\"", later_name, old_dtype, new_dtype);
    assert_line(out, line);
    cr_assert(strstr(out, line) > at_removed, "the report is not in graph order:\n%s", out);
    assert_line(out, "2 differences: nodes -1 ~1");
    json_decref(base);
    free(out);
    free(err);
    free(path);
    free(removed);
    free(module);
    free(later_name);
    free(old_dtype);
}

Test(diff, module_added_and_retyped)
{
    json_t *j = load_base();
    json_t *mods = json_object_get(j, "modules");
    json_t *m = json_object();
    json_object_set_new(m, "path", json_string("model.extra_proj"));
    json_object_set_new(m, "type", json_string("Linear"));
    json_object_set_new(m, "leaf", json_true());
    json_object_set_new(m, "attributes", json_object());
    json_array_append_new(mods, m);
    json_t *norm = find_by(mods, "path", "model.norm", NULL);
    const char *old_type = json_string_value(json_object_get(norm, "type"));
    char *old = strdup(old_type);
    json_object_set_new(norm, "type", json_string("LayerNorm"));
    char *path = save(j, "module.json", false);
    char *out = NULL, *err = NULL;
    cr_assert_eq(run_diff(base_path, path, NULL, &out, &err), 1, "%s", err);
    assert_line(out, "+ module model.extra_proj: Linear");
    char line[256];
    snprintf(line, sizeof line, "~ module model.norm: type \"%s\" -> \"LayerNorm\"", old);
    assert_line(out, line);
    assert_line(out, "2 differences: modules +1 ~1");
    free(out);
    free(err);
    /* Reversed: the module is removed. */
    cr_assert_eq(run_diff(path, base_path, NULL, &out, &err), 1);
    assert_line(out, "- module model.extra_proj: Linear");
    free(out);
    free(err);
    free(path);
    free(old);
}

Test(diff, buffer_parameter_dtype_totals_and_sizing)
{
    json_t *j = load_base();
    json_t *b = json_array_get(json_object_get(j, "buffers"), 0);
    cr_assert(b, "the tiny model has a buffer");
    char *bname = strdup(json_string_value(json_object_get(b, "name")));
    json_object_set_new(b, "dtype", json_string("float64"));
    json_t *params = json_object_get(j, "parameters");
    json_t *last = json_array_get(params, json_array_size(params) - 1);
    char *pname = strdup(json_string_value(json_object_get(last, "name")));
    json_array_remove(params, json_array_size(params) - 1);
    json_t *totals = json_object_get(j, "totals");
    json_int_t np = json_integer_value(json_object_get(totals, "parameters"));
    json_object_set_new(totals, "parameters", json_integer(np - 7));
    json_t *kv = json_object_get(json_object_get(j, "sizing"), "kv_cache");
    json_int_t bpt = json_integer_value(json_object_get(kv, "bytes_per_token"));
    json_object_set_new(kv, "bytes_per_token", json_integer(bpt * 2));
    char *path = save(j, "many.json", false);

    char *out = NULL, *err = NULL;
    cr_assert_eq(run_diff(base_path, path, NULL, &out, &err), 1, "%s", err);
    char line[512];
    snprintf(line, sizeof line, "~ buffer %s: dtype \"float32\" -> \"float64\"", bname);
    assert_line(out, line);
    cr_assert(strstr(out, pname), "%s", out);
    snprintf(line, sizeof line, "~ totals.parameters: %lld -> %lld", (long long)np, (long long)np - 7);
    assert_line(out, line);
    snprintf(line, sizeof line, "~ sizing.kv_cache.bytes_per_token: %lld -> %lld", (long long)bpt,
             (long long)bpt * 2);
    assert_line(out, line);
    /* Sections in report order: parameters, buffers, totals, sizing. */
    cr_assert(strstr(out, "- parameter ") < strstr(out, "~ buffer ") &&
              strstr(out, "~ buffer ") < strstr(out, "~ totals.") && strstr(out, "~ totals.") < strstr(out, "~ sizing."),
              "%s", out);
    free(out);
    free(err);

    /* The JSON report says the same. */
    cr_assert_eq(run_diff(base_path, path, "json", &out, &err), 1);
    json_error_t e;
    json_t *r = json_loads(out, JSON_REJECT_DUPLICATES, &e);
    cr_assert(r, "%s\n%s", e.text, out);
    cr_assert_str_eq(json_string_value(json_object_get(r, "format")), "metatrace-graph-diff");
    cr_assert(json_is_false(json_object_get(r, "equal")));
    json_t *counts = json_object_get(r, "counts");
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(counts, "parameters"), "removed")), 1);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(counts, "buffers"), "changed")), 1);
    json_t *diffs = json_object_get(r, "differences");
    json_t *removed = find_by(diffs, "name", pname, NULL);
    cr_assert_str_eq(json_string_value(json_object_get(removed, "change")), "removed");
    cr_assert(json_is_object(json_object_get(removed, "old")));
    cr_assert_null(json_object_get(removed, "new"));
    json_t *bufd = find_by(diffs, "name", bname, NULL);
    cr_assert_str_eq(json_string_value(json_object_get(bufd, "field")), "dtype");
    cr_assert_str_eq(json_string_value(json_object_get(bufd, "old")), "float32");
    cr_assert_str_eq(json_string_value(json_object_get(bufd, "new")), "float64");
    json_t *kvd = find_by(diffs, "name", "kv_cache.bytes_per_token", NULL);
    cr_assert_str_eq(json_string_value(json_object_get(kvd, "section")), "sizing");
    cr_assert_eq(json_integer_value(json_object_get(kvd, "new")), bpt * 2);
    json_decref(r);
    free(out);
    free(err);
    free(path);
    free(bname);
    free(pname);
}

Test(diff, node_target_and_op)
{
    json_t *j = load_base();
    json_t *nodes = json_object_get(j, "nodes");
    size_t i;
    json_t *v, *hit = NULL;
    json_array_foreach(nodes, i, v)
    {
        if (strcmp(json_string_value(json_object_get(v, "op")), "call_function") == 0) {
            hit = v;
            break;
        }
    }
    cr_assert(hit);
    char *name = strdup(json_string_value(json_object_get(hit, "name")));
    char *target = strdup(json_string_value(json_object_get(hit, "target")));
    json_object_set_new(hit, "target", json_string("torch.mystery"));
    json_object_set_new(hit, "op", json_string("call_method"));
    char *path = save(j, "target.json", false);
    char *out = NULL, *err = NULL;
    cr_assert_eq(run_diff(base_path, path, NULL, &out, &err), 1);
    char want[512];
    snprintf(want, sizeof want, ": op \"call_function\" -> \"call_method\"\n");
    cr_assert(strstr(out, want), "%s", out);
    snprintf(want, sizeof want, ": target \"%s\" -> \"torch.mystery\"\n", target);
    cr_assert(strstr(out, want), "%s", out);
    snprintf(want, sizeof want, "~ node %s", name);
    cr_assert(strstr(out, want), "%s", out);
    free(out);
    free(err);
    free(path);
    free(name);
    free(target);
}

Test(diff, library_in_memory)
{
    char *a = tu_read(base_path, NULL);
    json_t *j = load_base();
    json_object_set_new(json_object_get(j, "model"), "num_layers", json_integer(7));
    char *b = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
    json_decref(j);
    mt_ctx *ctx = mt_ctx_new();
    mt_diff *d = mt_graph_diff_mem(ctx, "a", a, strlen(a), "b", b, strlen(b));
    cr_assert(d, "%s", mt_ctx_errmsg(ctx));
    cr_assert_eq(d->n, 1);
    cr_assert_eq(d->entries[0].section, MT_DIFF_MODEL);
    cr_assert_eq(d->entries[0].change, MT_DIFF_CHANGED);
    cr_assert_str_eq(d->entries[0].name, "num_layers");
    cr_assert_str_eq(d->entries[0].new_value, "7");
    cr_assert_eq(d->counts[MT_DIFF_MODEL][MT_DIFF_CHANGED], 1);
    d = mt_graph_diff_mem(ctx, "a", a, strlen(a), "a", a, strlen(a));
    cr_assert(d);
    cr_assert_eq(d->n, 0);
    /* Reals at another precision and strings with escapes are the same values. */
    const char *x = "{\"format\": \"metatrace-graph\", \"version\": 2, \"model\": {\"eps\": 0.1, \"s\": \"A\"}}";
    const char *y = "{\"format\":\"metatrace-graph\",\"version\":2,\"model\":{\"eps\":1e-1,\"s\":\"\\u0041\"}}";
    d = mt_graph_diff_mem(ctx, "x", x, strlen(x), "y", y, strlen(y));
    cr_assert(d, "%s", mt_ctx_errmsg(ctx));
    cr_assert_eq(d->n, 0);
    /* ... but an integer is not a real. */
    const char *z = "{\"format\":\"metatrace-graph\",\"version\":2,\"model\":{\"eps\":1,\"s\":\"A\"}}";
    const char *w = "{\"format\":\"metatrace-graph\",\"version\":2,\"model\":{\"eps\":1.0,\"s\":\"A\"}}";
    d = mt_graph_diff_mem(ctx, "z", z, strlen(z), "w", w, strlen(w));
    cr_assert(d && d->n == 1);
    mt_ctx_free(ctx);
    free(a);
    free(b);
}

/* ---- trouble: exit 2 ------------------------------------------------------------- */

static void expect_trouble(const char *a, const char *b, const char *needle)
{
    char *out = NULL, *err = NULL;
    cr_assert_eq(run_diff(a, b, NULL, &out, &err), 2, "stdout:\n%s\nstderr:\n%s", out, err);
    cr_assert_str_empty(out);
    cr_assert(strncmp(err, "metatrace: error: ", 18) == 0, "%s", err);
    cr_assert(strstr(err, needle), "'%s' not in: %s", needle, err);
    free(out);
    free(err);
}

Test(diff, errors_exit_2_naming_the_file)
{
    char missing[600];
    snprintf(missing, sizeof missing, "%s/nope.json", dir);
    expect_trouble(base_path, missing, "nope.json: cannot open: No such file or directory");
    expect_trouble(missing, base_path, "nope.json: cannot open");
    char *bad = strdup(tu_write(dir, "bad.json", "{\n  \"format\": \"metatrace-graph\",\n  \"version\": 2,\n  oops\n}\n"));
    expect_trouble(base_path, bad, "bad.json:4:3: not JSON");
    char *other = strdup(tu_write(dir, "other.json", "{\"model_type\": \"llama\"}"));
    expect_trouble(base_path, other, "other.json: not a metatrace-graph document");
    char *arr = strdup(tu_write(dir, "arr.json", "[1, 2]"));
    expect_trouble(arr, base_path, "arr.json: not a metatrace-graph document");
    char *empty = strdup(tu_write(dir, "empty.json", ""));
    expect_trouble(base_path, empty, "empty.json:1:1: not JSON");
    expect_trouble(dir, base_path, "cannot read: Is a directory");

    json_t *j = load_base();
    json_object_set_new(j, "version", json_integer(1));
    char *v1 = save(j, "v1.json", false);
    expect_trouble(base_path, v1, "v1.json: metatrace-graph version 1, but");
    j = load_base();
    json_object_set_new(j, "version", json_integer(99));
    char *v99 = save(j, "v99.json", false);
    expect_trouble(base_path, v99, "v99.json: metatrace-graph version 99: this metatrace reads versions 1 to 2");
    j = load_base();
    json_array_append(json_object_get(j, "nodes"), json_array_get(json_object_get(j, "nodes"), 0));
    char *dup = save(j, "dup.json", false);
    expect_trouble(base_path, dup, "dup.json: not a metatrace-graph document: nodes \"");
    free(bad);
    free(other);
    free(arr);
    free(empty);
    free(v1);
    free(v99);
    free(dup);
}

Test(diff, usage_errors_exit_2)
{
    char *out = NULL, *err = NULL;
    const char *a[] = {"diff", NULL};
    cr_assert_eq(tu_run_cli(a, &out, &err), 2);
    cr_assert(strstr(err, "diff: expected two graph documents"), "%s", err);
    cr_assert(strstr(err, "Try 'metatrace --help'"), "%s", err);
    free(out);
    free(err);
    const char *b[] = {"diff", base_path, base_path, base_path, NULL};
    cr_assert_eq(tu_run_cli(b, &out, &err), 2);
    free(out);
    free(err);
    const char *c[] = {"diff", "--format", "xml", base_path, base_path, NULL};
    cr_assert_eq(tu_run_cli(c, &out, &err), 2);
    cr_assert(strstr(err, "expected text or json"), "%s", err);
    free(out);
    free(err);
    const char *d[] = {"diff", "--layers", "2", base_path, base_path, NULL};
    cr_assert_eq(tu_run_cli(d, &out, &err), 2);
    free(out);
    free(err);
    const char *h[] = {"diff", "--help", NULL};
    cr_assert_eq(tu_run_cli(h, &out, &err), 0);
    cr_assert(strstr(out, "0 the same, 1 different, 2 trouble"), "%s", out);
    free(out);
    free(err);
    /* -f json and --format=json spellings */
    const char *e[] = {"diff", "-fjson", base_path, base_path, NULL};
    cr_assert_eq(tu_run_cli(e, &out, &err), 0);
    cr_assert(strstr(out, "\"equal\": true"), "%s", out);
    free(out);
    free(err);
    const char *f[] = {"diff", "--format=json", "--", base_path, base_path, NULL};
    cr_assert_eq(tu_run_cli(f, &out, &err), 0);
    free(out);
    free(err);
}

Test(diff, a_config_named_diff_is_reached_as_dot_slash)
{
    char *text = tu_read(tu_src(TINY), NULL);
    tu_write(dir, "diff", text);
    free(text);
    const char *a[] = {"./diff", NULL};
    char *out = NULL, *err = NULL;
    cr_assert_eq(xt_run(dir, a, &out, &err), 0, "%s", err);
    cr_assert(strstr(out, "LlamaForCausalLM"), "%s", out);
    free(out);
    free(err);
    /* "diff" alone is the subcommand. */
    const char *b[] = {"diff", NULL};
    cr_assert_eq(xt_run(dir, b, &out, &err), 2);
    free(out);
    free(err);
}
