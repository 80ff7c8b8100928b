/* Exporters on a tiny synthetic model built by hand: JSON keys and order
 * (docs/graph-format.md), tuple nodes, determinism, DOT read back with agread.
 *
 * The model (expected values worked out by hand from the torch.nn shapes):
 *   ToyModel
 *     block (ToyBlock): proj = Linear(8, 16, bias), buffer scale [8]
 *     head = Linear(8, 4, no bias)
 *     tied_weight: alias of block.proj.weight
 *   forward(x [batch, seq, 8]):
 *     h = proj(x)                    [batch, seq, 16]
 *     a, b = h.chunk(2, dim=-1)      2 x [batch, seq, 8]   (tuple + getitem)
 *     y = a * silu(b) * scale * 0.5  [batch, seq, 8]
 *     y = y + 1e-6
 *     return head(y)                 [batch, seq, 4]
 * Parameters: 16*8 + 16 + 4*8 = 176 (tied alias not counted), 704 bytes in
 * float32; buffer elements 8. */
#include <math.h>

#include <graphviz/cgraph.h>
#include <jansson.h>

#include "export_testutil.h"

typedef struct toy {
    mt_ctx *ctx;
    mt_model *m;
    mt_graph *g;
} toy;

/* A hand-built model still names an architecture (no build/forward: the
 * test builds and traces it itself). */
static const mt_arch toy_arch = {.model_type = "toy", .default_class = "ToyModel"};

static toy toy_build(void)
{
    toy t;
    t.ctx = mt_ctx_new();
    cr_assert_not_null(t.ctx);
    mt_ctx *ctx = t.ctx;
    mt_model *m = mt_alloc(ctx, sizeof *m);
    cr_assert_not_null(m);
    m->ctx = ctx;
    m->arch = &toy_arch;
    m->model_type = "toy";
    m->class_name = "ToyModel";
    m->dtype = MT_FLOAT32;
    m->num_layers = 1;
    m->root = mt_module_new(ctx, NULL, "", "ToyModel");
    cr_assert_not_null(m->root);

    mt_meta_scope_enter(ctx);
    mt_module *block = mt_module_new(ctx, m->root, "block", "ToyBlock");
    mt_module *proj = mt_nn_linear(ctx, block, "proj", 8, 16, true, MT_FLOAT32, MT_DEVICE_CPU);
    int64_t scale_shape[1] = {8};
    mt_param *scale =
        mt_buffer_new(ctx, block, "scale", MT_FLOAT32, MT_DEVICE_CPU, 1, scale_shape, false, true);
    mt_module *head = mt_nn_linear(ctx, m->root, "head", 8, 4, false, MT_FLOAT32, MT_DEVICE_CPU);
    cr_assert(block && proj && scale && head, "%s", mt_ctx_errmsg(ctx));
    mt_param *tied = mt_param_tie(ctx, m->root, "tied_weight", mt_module_param(proj, "weight"));
    cr_assert_not_null(tied, "%s", mt_ctx_errmsg(ctx));
    mt_meta_scope_exit(ctx);
    mt_model_collect(m);
    mt_model_info(m, "hidden_size", mt_a_int(8));
    mt_model_info(m, "eps", mt_a_float(1e-6));

    mt_graph *g = mt_graph_new(ctx);
    cr_assert_not_null(g);
    mt_tracer tr;
    mt_tr_init(&tr, m, g);
    const mt_sym *shape[3] = {mt_sym_var(ctx, "batch"), mt_sym_var(ctx, "seq"),
                              mt_sym_const(ctx, 8)};
    mt_tensor *x = mt_tr_placeholder(&tr, "x", MT_FLOAT32, 3, shape);
    mt_tr_enter(&tr, block);
    mt_tensor *h = mt_tr_call(&tr, proj, x);
    mt_node *ch = mt_chunk(&tr, h, 2, -1);
    mt_tensor *a = mt_tr_item(&tr, ch, 0);
    mt_tensor *b = mt_tr_item(&tr, ch, 1);
    mt_tensor *y = mt_mul(&tr, a, mt_unary(&tr, MT_OP_SILU, b));
    y = mt_mul(&tr, y, mt_tr_get_attr(&tr, scale));
    y = mt_mul_s(&tr, y, 0.5);
    y = mt_add_s(&tr, y, 1e-6);
    mt_tr_leave(&tr);
    mt_tensor *z = mt_tr_call(&tr, head, y);
    cr_assert_not_null(z, "trace: %s", mt_ctx_errmsg(ctx));
    cr_assert_eq(mt_tr_output(&tr, &z, 1), MT_OK, "%s", mt_ctx_errmsg(ctx));
    t.m = m;
    t.g = g;
    return t;
}

typedef mt_status (*exporter)(mt_model *, mt_graph *, FILE *);

/* Export into a malloc'd buffer. */
static char *export_to_string(toy *t, exporter fn, size_t *len)
{
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    cr_assert_not_null(f);
    mt_status st = fn(t->m, t->g, f);
    cr_assert_eq(fclose(f), 0);
    cr_assert_eq(st, MT_OK, "export: %s", mt_ctx_errmsg(t->ctx));
    if (len)
        *len = n;
    return buf;
}

static json_t *export_json(toy *t, char **text)
{
    char *s = export_to_string(t, mt_export_json, NULL);
    json_error_t e;
    json_t *root = json_loads(s, 0, &e);
    cr_assert_not_null(root, "invalid JSON at %d:%d: %s", e.line, e.column, e.text);
    if (text)
        *text = s;
    else
        free(s);
    return root;
}

/* The object's keys, in document order, are exactly `keys`. */
static void assert_keys(json_t *obj, const char *const *keys, int n, const char *what)
{
    cr_assert(json_is_object(obj), "%s is not an object", what);
    cr_assert_eq((int)json_object_size(obj), n, "%s has %d keys, expected %d", what,
                 (int)json_object_size(obj), n);
    int i = 0;
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v) {
        (void)v;
        cr_assert_str_eq(k, keys[i], "%s: key %d is '%s', expected '%s'", what, i, k, keys[i]);
        i++;
    }
}

#define KEYS(...) ((const char *const[]){__VA_ARGS__}), (int)(sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *))

static json_t *shape_of(int n, const json_int_t *dims, const char *const *syms)
{
    /* dims[i] < 0 means the symbol syms[i] */
    json_t *a = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(a, dims[i] < 0 ? json_string(syms[i]) : json_integer(dims[i]));
    return a;
}

static json_t *find_node(json_t *nodes, const char *name)
{
    size_t i;
    json_t *n;
    json_array_foreach(nodes, i, n) {
        if (strcmp(json_string_value(json_object_get(n, "name")), name) == 0)
            return n;
    }
    return NULL;
}

Test(export_json, top_level_keys_in_documented_order)
{
    toy t = toy_build();
    json_t *root = export_json(&t, NULL);
    assert_keys(root, KEYS("format", "version", "tool", "model", "symbols", "parameters", "buffers",
                           "modules", "nodes", "totals", "sizing"),
                "document");
    cr_assert_str_eq(json_string_value(json_object_get(root, "format")), "metatrace-graph");
    cr_assert_eq(json_integer_value(json_object_get(root, "version")), 2);
    assert_keys(json_object_get(root, "sizing"),
                KEYS("batch", "seq", "context", "context_source", "weights", "kv_cache", "flops", "activations",
                     "training", "largest_layer"),
                "sizing");
    json_t *tool = json_object_get(root, "tool");
    assert_keys(tool, KEYS("name", "version"), "tool");
    cr_assert_str_eq(json_string_value(json_object_get(tool, "version")), MT_VERSION_STRING);

    json_t *model = json_object_get(root, "model");
    assert_keys(model, KEYS("model_type", "class", "config", "dtype", "num_layers", "info"), "model");
    cr_assert_str_eq(json_string_value(json_object_get(model, "class")), "ToyModel");
    cr_assert(json_is_null(json_object_get(model, "config")), "no config file: null");
    cr_assert_str_eq(json_string_value(json_object_get(model, "dtype")), "float32");
    json_t *info = json_object_get(model, "info");
    assert_keys(info, KEYS("hidden_size", "eps"), "model.info");
    cr_assert(json_is_real(json_object_get(info, "eps")));
    cr_assert(json_real_value(json_object_get(info, "eps")) == 1e-6, "reals round-trip");

    json_t *totals = json_object_get(root, "totals");
    assert_keys(totals, KEYS("parameters", "parameter_bytes", "by_dtype", "buffer_elements",
                             "active_parameters", "extra_parameters"),
                "totals");
    cr_assert_eq(json_integer_value(json_object_get(totals, "parameters")), 176);
    cr_assert_eq(json_integer_value(json_object_get(totals, "parameter_bytes")), 704);
    json_t *by = json_object_get(totals, "by_dtype");
    assert_keys(by, KEYS("float32"), "totals.by_dtype");
    assert_keys(json_object_get(by, "float32"), KEYS("parameters", "bytes"), "by_dtype.float32");
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(by, "float32"), "bytes")), 704);
    cr_assert_eq(json_integer_value(json_object_get(totals, "buffer_elements")), 8);
    cr_assert_eq(json_integer_value(json_object_get(totals, "active_parameters")), 176);
    cr_assert_eq(json_integer_value(json_object_get(totals, "extra_parameters")), 0);
    json_decref(root);
    mt_ctx_free(t.ctx);
}

Test(export_json, symbols_parameters_buffers_modules)
{
    toy t = toy_build();
    json_t *root = export_json(&t, NULL);

    json_t *syms = json_object_get(root, "symbols");
    cr_assert(json_array_size(syms) >= 2);
    json_t *s0 = json_array_get(syms, 0);
    assert_keys(s0, KEYS("name", "lo", "hi", "origin"), "symbols[0]");
    cr_assert_str_eq(json_string_value(json_object_get(s0, "name")), "batch");
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(syms, 1), "name")), "seq");
    cr_assert(json_is_null(json_object_get(s0, "hi")));

    /* named_parameters: proj.weight [16, 8], proj.bias [16], head.weight [4, 8], and the alias. */
    json_t *params = json_object_get(root, "parameters");
    cr_assert_eq(json_array_size(params), 4);
    bool seen[4] = {false, false, false, false};
    size_t i;
    json_t *p;
    json_array_foreach(params, i, p) {
        assert_keys(p, KEYS("name", "shape", "dtype", "tied_to"), "parameter");
        const char *name = json_string_value(json_object_get(p, "name"));
        json_t *shape = json_object_get(p, "shape");
        json_t *tied = json_object_get(p, "tied_to");
        json_t *want = NULL;
        if (strcmp(name, "block.proj.weight") == 0) {
            want = shape_of(2, (json_int_t[]){16, 8}, NULL);
            seen[0] = true;
            cr_assert(json_is_null(tied));
        } else if (strcmp(name, "block.proj.bias") == 0) {
            want = shape_of(1, (json_int_t[]){16}, NULL);
            seen[1] = true;
            cr_assert(json_is_null(tied));
        } else if (strcmp(name, "head.weight") == 0) {
            want = shape_of(2, (json_int_t[]){4, 8}, NULL);
            seen[2] = true;
            cr_assert(json_is_null(tied));
        } else if (strcmp(name, "tied_weight") == 0) {
            want = shape_of(2, (json_int_t[]){16, 8}, NULL);
            seen[3] = true;
            cr_assert_str_eq(json_string_value(tied), "block.proj.weight");
        } else {
            cr_assert_fail("unexpected parameter %s", name);
        }
        cr_assert(json_equal(shape, want), "shape of %s", name);
        cr_assert_str_eq(json_string_value(json_object_get(p, "dtype")), "float32");
        json_decref(want);
    }
    cr_assert(seen[0] && seen[1] && seen[2] && seen[3]);
    /* Within block.proj, weight is registered before bias (torch.nn.Linear). */
    int iw = -1, ib = -1;
    json_array_foreach(params, i, p) {
        const char *name = json_string_value(json_object_get(p, "name"));
        if (strcmp(name, "block.proj.weight") == 0)
            iw = (int)i;
        if (strcmp(name, "block.proj.bias") == 0)
            ib = (int)i;
    }
    cr_assert_lt(iw, ib);

    json_t *bufs = json_object_get(root, "buffers");
    cr_assert_eq(json_array_size(bufs), 1);
    json_t *b0 = json_array_get(bufs, 0);
    assert_keys(b0, KEYS("name", "shape", "dtype", "persistent", "computed"), "buffer");
    cr_assert_str_eq(json_string_value(json_object_get(b0, "name")), "block.scale");
    cr_assert(json_is_false(json_object_get(b0, "persistent")));
    cr_assert(json_is_true(json_object_get(b0, "computed")));

    /* Pre-order, root excluded: block, block.proj, head. */
    json_t *mods = json_object_get(root, "modules");
    cr_assert_eq(json_array_size(mods), 3);
    const char *paths[3] = {"block", "block.proj", "head"};
    const char *types[3] = {"ToyBlock", "Linear", "Linear"};
    const bool leaf[3] = {false, true, true};
    json_array_foreach(mods, i, p) {
        assert_keys(p, KEYS("path", "type", "leaf", "attributes"), "module");
        cr_assert_str_eq(json_string_value(json_object_get(p, "path")), paths[i]);
        cr_assert_str_eq(json_string_value(json_object_get(p, "type")), types[i]);
        cr_assert_eq(json_is_true(json_object_get(p, "leaf")), leaf[i], "leaf of %s", paths[i]);
    }
    json_t *attrs = json_object_get(json_array_get(mods, 1), "attributes");
    cr_assert_eq(json_integer_value(json_object_get(attrs, "in_features")), 8);
    cr_assert_eq(json_integer_value(json_object_get(attrs, "out_features")), 16);
    json_decref(root);
    mt_ctx_free(t.ctx);
}

Test(export_json, nodes_and_tuple_outputs)
{
    toy t = toy_build();
    char *text = NULL;
    json_t *root = export_json(&t, &text);
    json_t *nodes = json_object_get(root, "nodes");
    cr_assert_eq((int)json_array_size(nodes), t.g->n);

    const char *const std_keys[] = {"name", "op", "target", "args", "kwargs", "shape", "dtype",
                                    "module_stack"};
    const char *const tuple_keys[] = {"name",  "op",      "target",      "args", "kwargs",
                                      "shape", "dtype",   "outputs",     "module_stack"};
    const char *chunk_name = NULL;
    for (int i = 0; i < t.g->n; i++) {
        const mt_node *n = t.g->nodes[i];
        json_t *jn = json_array_get(nodes, (size_t)i);
        cr_assert_str_eq(json_string_value(json_object_get(jn, "name")), n->name);
        cr_assert_str_eq(json_string_value(json_object_get(jn, "op")), mt_opkind_name(n->op));
        if (n->is_tuple) {
            assert_keys(jn, tuple_keys, 9, n->name);
            chunk_name = n->name;
        } else {
            assert_keys(jn, std_keys, 8, n->name);
        }
    }
    cr_assert_not_null(chunk_name, "the chunk node is a tuple");

    /* The tuple: shape/dtype null, two outputs of [batch, seq, 8] float32. */
    json_t *ch = find_node(nodes, chunk_name);
    cr_assert_str_eq(json_string_value(json_object_get(ch, "target")), "chunk");
    cr_assert(json_is_null(json_object_get(ch, "shape")));
    cr_assert(json_is_null(json_object_get(ch, "dtype")));
    json_t *outs = json_object_get(ch, "outputs");
    cr_assert_eq(json_array_size(outs), 2);
    json_t *half = shape_of(3, (json_int_t[]){-1, -1, 8}, (const char *const[]){"batch", "seq", NULL});
    for (size_t k = 0; k < 2; k++) {
        json_t *o = json_array_get(outs, k);
        assert_keys(o, KEYS("shape", "dtype"), "outputs[k]");
        cr_assert(json_equal(json_object_get(o, "shape"), half), "chunk output %zu shape", k);
        cr_assert_str_eq(json_string_value(json_object_get(o, "dtype")), "float32");
    }
    json_t *stack = json_object_get(ch, "module_stack");
    cr_assert_eq(json_array_size(stack), 1);
    cr_assert_str_eq(json_string_value(json_array_get(stack, 0)), "block");

    /* getitem consumers: args [{"node": chunk}, k]. */
    int getitems = 0;
    size_t i;
    json_t *jn;
    json_array_foreach(nodes, i, jn) {
        if (strcmp(json_string_value(json_object_get(jn, "target")), "operator.getitem") != 0)
            continue;
        json_t *args = json_object_get(jn, "args");
        cr_assert_eq(json_array_size(args), 2);
        json_t *ref = json_array_get(args, 0);
        assert_keys(ref, KEYS("node"), "node reference");
        cr_assert_str_eq(json_string_value(json_object_get(ref, "node")), chunk_name);
        cr_assert_eq(json_integer_value(json_array_get(args, 1)), getitems);
        cr_assert(json_equal(json_object_get(jn, "shape"), half));
        getitems++;
    }
    cr_assert_eq(getitems, 2);
    json_decref(half);

    /* Placeholder, call_module, output. */
    json_t *x = json_array_get(nodes, 0);
    cr_assert_str_eq(json_string_value(json_object_get(x, "op")), "placeholder");
    cr_assert_str_eq(json_string_value(json_object_get(x, "target")), "x");
    cr_assert_eq(json_array_size(json_object_get(x, "module_stack")), 0);
    json_t *last = json_array_get(nodes, json_array_size(nodes) - 1);
    cr_assert_str_eq(json_string_value(json_object_get(last, "op")), "output");
    cr_assert(json_is_null(json_object_get(last, "shape")));
    json_t *ret = json_array_get(json_object_get(last, "args"), 0);
    const char *head_node = json_string_value(json_object_get(ret, "node"));
    cr_assert_not_null(head_node);
    json_t *hn = find_node(nodes, head_node);
    cr_assert_str_eq(json_string_value(json_object_get(hn, "op")), "call_module");
    cr_assert_str_eq(json_string_value(json_object_get(hn, "target")), "head");
    json_t *out_shape = shape_of(3, (json_int_t[]){-1, -1, 4}, (const char *const[]){"batch", "seq", NULL});
    cr_assert(json_equal(json_object_get(hn, "shape"), out_shape), "head output [batch, seq, 4]");
    json_decref(out_shape);

    /* Float arguments: 0.5 and 1e-6 read back exactly and print short (15 digits suffice). */
    bool half_seen = false, eps_seen = false;
    json_array_foreach(nodes, i, jn) {
        json_t *args = json_object_get(jn, "args");
        json_t *a1 = json_array_get(args, 1);
        if (json_is_real(a1) && json_real_value(a1) == 0.5)
            half_seen = true;
        if (json_is_real(a1) && json_real_value(a1) == 1e-6)
            eps_seen = true;
    }
    cr_assert(half_seen && eps_seen, "scalar arguments are reals");
    cr_assert_not_null(strstr(text, "1e-6"), "1e-6 is printed in its shortest form");
    cr_assert_null(strstr(text, "9.9999999999999995e-7"));
    free(text);
    json_decref(root);
    mt_ctx_free(t.ctx);
}

/* The document is jansson's own JSON_INDENT(2) form: re-dumping the parsed
 * document gives the same bytes (at the precision the document uses). */
Test(export_json, canonical_jansson_layout)
{
    toy t = toy_build();
    char *text = NULL;
    json_t *root = export_json(&t, &text);
    bool same = false;
    for (int p = 15; p <= 17 && !same; p++) {
        char *again = json_dumps(root, JSON_INDENT(2) | JSON_REAL_PRECISION(p));
        cr_assert_not_null(again);
        size_t n = strlen(again);
        same = strncmp(text, again, n) == 0 && strcmp(text + n, "\n") == 0;
        free(again);
    }
    cr_assert(same, "the export is not jansson's JSON_INDENT(2) layout:\n%s", text);
    free(text);
    json_decref(root);
    mt_ctx_free(t.ctx);
}

/* The text writer against jansson's own dump (the reference for the layout
 * and the escapes): strings with quotes, backslashes, control bytes and
 * UTF-8, a string longer than the writer's 64 KiB buffer with escapes
 * across its pieces, in the model section (strings as jansson's json_string
 * takes them) and in a module's attributes (written as given); the same
 * document compact. */
static mt_status export_json_compact(mt_model *m, mt_graph *g, FILE *out)
{
    mt_json_opts o = {.compact = true};
    return mt_export_json_opts(m, g, NULL, &o, out);
}

Test(export_json, strings_escaped_as_jansson_dumps_them)
{
    toy t = toy_build();
    size_t big_n = 200000;
    char *big = mt_alloc(t.ctx, big_n + 1);
    cr_assert_not_null(big);
    for (size_t i = 0; i < big_n; i++)
        big[i] = i % 997 == 0 ? '"' : i % 1009 == 0 ? '\n' : i % 61 == 0 ? '\\' : (char)('a' + i % 26);
    big[big_n] = 0;
    mt_module *block = mt_module_child(t.m->root, "block");
    cr_assert_not_null(block);
    const char *tricky = "q\"uote \\back \x01\x1f ctl\ttab\nnl\r\b\f caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 /slash \x7f";
    mt_model_info(t.m, "tricky", mt_a_str(tricky));
    /* every length from 1 to 40 with the one byte to escape last, first or
     * in the middle (the writer checks short strings and words apart) */
    for (int len = 1; len <= 40; len++)
        for (int where = 0; where < 3; where++) {
            char *v = mt_alloc(t.ctx, (size_t)len + 1);
            char *k = mt_alloc(t.ctx, 16);
            cr_assert(v && k);
            memset(v, 'x', (size_t)len);
            v[where == 0 ? len - 1 : where == 1 ? 0 : len / 2] = "\"\\\n"[len % 3];
            snprintf(k, 16, "s%d_%d", len, where);
            mt_model_info(t.m, k, mt_a_str(v));
            mt_module_attr(t.ctx, block, k, mt_a_str(v));
        }
    mt_model_info(t.m, "big", mt_a_str(big));
    mt_module_attr(t.ctx, block, "note", mt_a_str(tricky));
    mt_module_attr(t.ctx, block, "long_note", mt_a_str(big));

    char *text = NULL;
    json_t *root = export_json(&t, &text);
    json_t *info = json_object_get(json_object_get(root, "model"), "info");
    cr_assert_str_eq(json_string_value(json_object_get(info, "tricky")), tricky);
    cr_assert_str_eq(json_string_value(json_object_get(info, "big")), big);
    char *again = json_dumps(root, JSON_INDENT(2) | JSON_REAL_PRECISION(15));
    cr_assert_not_null(again);
    size_t n = strlen(again);
    cr_assert(strncmp(text, again, n) == 0 && strcmp(text + n, "\n") == 0,
              "the export differs from jansson's JSON_INDENT(2) dump of it");
    free(again);

    char *compact = export_to_string(&t, export_json_compact, NULL);
    again = json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(15));
    cr_assert_not_null(again);
    n = strlen(again);
    cr_assert(strncmp(compact, again, n) == 0 && strcmp(compact + n, "\n") == 0,
              "the compact export differs from jansson's JSON_COMPACT dump of it");
    free(again);
    free(compact);
    free(text);
    json_decref(root);
    mt_ctx_free(t.ctx);
}

/* The model section's strings are what jansson's json_string accepted when it
 * built the section: text that is not UTF-8 (a file name in another
 * encoding) has '?' for each byte >= 0x80, valid UTF-8 is kept; a repeated
 * info key keeps its first place and takes the last value (a JSON object has
 * each key once). */
Test(export_json, model_section_strings_as_json_string_takes_them)
{
    toy t = toy_build();
    mt_model_info(t.m, "latin1", mt_a_str("caf\xe9 na\xefve"));
    mt_model_info(t.m, "overlong", mt_a_str("\xc0\xaf"));
    mt_model_info(t.m, "surrogate", mt_a_str("\xed\xa0\x80"));
    mt_model_info(t.m, "utf8", mt_a_str("caf\xc3\xa9"));
    mt_model_info(t.m, "hidden_size", mt_a_int(9));
    char *text = NULL;
    json_t *root = export_json(&t, &text);
    json_t *info = json_object_get(json_object_get(root, "model"), "info");
    cr_assert_str_eq(json_string_value(json_object_get(info, "latin1")), "caf? na?ve");
    cr_assert_str_eq(json_string_value(json_object_get(info, "overlong")), "??");
    cr_assert_str_eq(json_string_value(json_object_get(info, "surrogate")), "???");
    cr_assert_str_eq(json_string_value(json_object_get(info, "utf8")), "caf\xc3\xa9");
    assert_keys(info, KEYS("hidden_size", "eps", "latin1", "overlong", "surrogate", "utf8"), "model.info");
    cr_assert_eq(json_integer_value(json_object_get(info, "hidden_size")), 9);
    free(text);
    json_decref(root);
    mt_ctx_free(t.ctx);
}

Test(export_json, non_finite_float_is_an_object)
{
    toy t = toy_build();
    mt_model_info(t.m, "big", mt_a_float(INFINITY));
    json_t *root = export_json(&t, NULL);
    json_t *big = json_object_get(json_object_get(json_object_get(root, "model"), "info"), "big");
    assert_keys(big, KEYS("float"), "inf");
    cr_assert_str_eq(json_string_value(json_object_get(big, "float")), "inf");
    json_decref(root);
    mt_ctx_free(t.ctx);
}

Test(export, deterministic_bytes)
{
    exporter fns[3] = {mt_export_json, mt_export_dot, mt_export_summary};
    const char *names[3] = {"json", "dot", "summary"};
    for (int k = 0; k < 3; k++) {
        toy a = toy_build();
        size_t la, lb;
        char *sa = export_to_string(&a, fns[k], &la);
        char *sa2 = export_to_string(&a, fns[k], NULL);
        toy b = toy_build();
        char *sb = export_to_string(&b, fns[k], &lb);
        cr_assert(la == lb && memcmp(sa, sb, la) == 0, "%s differs between two builds", names[k]);
        cr_assert_str_eq(sa, sa2, "%s differs between two exports of one graph", names[k]);
        free(sa);
        free(sa2);
        free(sb);
        mt_ctx_free(a.ctx);
        mt_ctx_free(b.ctx);
    }
}

static Agraph_t *read_dot(const char *text)
{
    FILE *f = fmemopen((void *)text, strlen(text), "r");
    cr_assert_not_null(f);
    Agraph_t *g = agread(f, NULL);
    fclose(f);
    cr_assert_not_null(g, "agread failed");
    return g;
}

/* The plain FX graph: every node, FX labels (the default picture is tested in
 * test_pictures.c). */
static mt_status export_dot_plain(mt_model *m, mt_graph *g, FILE *out)
{
    mt_picture_opts po = {.unfold = true, .verbose_labels = true, .plain = true};
    return mt_export_dot_opts(m, g, &po, out);
}

Test(export_dot, parses_back_with_clusters_nodes_and_edges)
{
    toy t = toy_build();
    char *text = export_to_string(&t, export_dot_plain, NULL);
    cr_assert_eq(strncmp(text, "digraph", 7), 0);
    Agraph_t *g = read_dot(text);
    cr_assert(agisdirected(g));
    cr_assert_eq(agnnodes(g), t.g->n, "one DOT node per graph node");

    /* One cluster: block (head and block.proj are leaves called as modules). */
    Agraph_t *cl = agsubg(g, "cluster_block", 0);
    cr_assert_not_null(cl, "cluster_block");
    cr_assert_eq(agnsubg(g), 1);
    cr_assert_str_eq(agget(cl, "label"), "block (ToyBlock)");

    /* Every node recorded under block is inside the cluster, the others not. */
    for (int i = 0; i < t.g->n; i++) {
        const mt_node *n = t.g->nodes[i];
        Agnode_t *an = agnode(g, (char *)n->name, 0);
        cr_assert_not_null(an, "node %s", n->name);
        bool under_block = false;
        for (int k = 0; n->stack && k < n->stack->depth; k++)
            if (strcmp(n->stack->mods[k]->path, "block") == 0)
                under_block = true;
        cr_assert_eq(agsubnode(cl, an, 0) != NULL, under_block, "cluster membership of %s", n->name);
    }

    /* Labels: "name\nop target\nshape dtype" with a literal backslash-n. */
    Agnode_t *x = agnode(g, "x", 0);
    cr_assert_not_null(x);
    cr_assert_str_eq(agget(x, "label"), "x\\nplaceholder x\\n[batch, seq, 8] float32");
    cr_assert_str_eq(agget(x, "shape"), "invhouse");

    /* Parameters and buffers through get_attr are boxes. */
    int boxes = 0;
    for (Agnode_t *n = agfstnode(g); n; n = agnxtnode(g, n))
        if (strcmp(agget(n, "shape"), "box") == 0)
            boxes++;
    cr_assert_eq(boxes, 1, "one get_attr node (block.scale)");

    /* Edges: one per (producer, consumer) pair, by hand from the forward:
     * x->proj, proj->chunk, chunk->getitem (2), getitem_1->silu, getitem->mul, silu->mul,
     * mul->mul_1, scale->mul_1, mul_1->mul_2, mul_2->add, add->head, head->output = 13. */
    cr_assert_eq(agnedges(g), 13);
    for (int i = 0; i < t.g->n; i++) {
        const mt_node *n = t.g->nodes[i];
        for (int k = 0; k < n->nargs; k++) {
            if (n->args[k].kind != MT_ARG_TENSOR)
                continue;
            Agnode_t *tail = agnode(g, (char *)n->args[k].v.t->node->name, 0);
            Agnode_t *hd = agnode(g, (char *)n->name, 0);
            cr_assert_not_null(agedge(g, tail, hd, NULL, 0), "edge %s -> %s",
                               n->args[k].v.t->node->name, n->name);
        }
    }
    agclose(g);
    free(text);
    mt_ctx_free(t.ctx);
}

Test(export_summary, table_rows)
{
    toy t = toy_build();
    char *s = export_to_string(&t, mt_export_summary, NULL);
    cr_assert_not_null(strstr(s, "ToyModel (model_type toy)"), "%s", s);
    cr_assert_not_null(strstr(s, "176 (176)"), "parameter total: %s", s);
    cr_assert_not_null(strstr(s, "704 B (704 bytes)"), "bytes: %s", s);
    cr_assert_not_null(strstr(s, "tied_weight -> block.proj.weight"), "%s", s);
    cr_assert_not_null(strstr(s, "1 (8 elements)"), "buffers: %s", s);
    cr_assert_not_null(strstr(s, "[batch, seq, 4] float32"), "output shape: %s", s);
    cr_assert_null(strstr(s, "active parameters"), "dense: no active row");
    free(s);
    mt_ctx_free(t.ctx);
}

Test(export_render, svg_document)
{
    toy t = toy_build();
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    cr_assert_eq(mt_export_render(t.m, t.g, "svg", f), MT_OK, "%s", mt_ctx_errmsg(t.ctx));
    fclose(f);
    cr_assert_not_null(strstr(buf, "<svg"));
    cr_assert_not_null(strstr(buf, "cluster_block"), "clusters drawn");
    free(buf);
    cr_assert_neq(mt_export_render(t.m, t.g, "gif", stdout), MT_OK);
    mt_ctx_free(t.ctx);
}
