/* The flat API (flat.h): the CLI's options by name, build/trace/export over
 * opaque handles, documents written into memory. For language bindings. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <metatrace/flat.h>
#include <metatrace/plan.h>
#include <metatrace/sizing.h>
#include <metatrace/viewer.h>

#define FLAT_MAX_BIND 8

struct mt_flat {
    mt_ctx *ctx;
    mt_build_opts build;
    mt_sizing_opts sizing;
    mt_json_opts json;
    mt_plan_opts plan;
    int max_tp;
    bool all;            /* plan-degrees: the unusable degrees too */
    int depth;
    bool unfold;
    const char *names[FLAT_MAX_BIND];
    int64_t values[FLAT_MAX_BIND];
    int nbind;
};

static void defaults(mt_flat *f) {
    mt_ctx *ctx = f->ctx;
    int nbind = f->nbind;
    const char *names[FLAT_MAX_BIND];
    int64_t values[FLAT_MAX_BIND];
    memcpy(names, f->names, sizeof names);
    memcpy(values, f->values, sizeof values);
    memset(f, 0, sizeof *f);
    f->ctx = ctx;
    f->build.dtype = MT_DTYPE_NONE;
    f->sizing.kv_dtype = MT_DTYPE_NONE;
    f->plan.tp = 1;
    f->max_tp = 64;
    memcpy(f->names, names, sizeof names);
    memcpy(f->values, values, sizeof values);
    f->nbind = nbind;
}

mt_flat *mt_flat_new(mt_ctx *ctx) {
    mt_flat *f = mt_alloc(ctx, sizeof *f);
    if (!f) return NULL;
    f->ctx = ctx;
    defaults(f);
    return f;
}

/* ---- option values ---------------------------------------------------------- */

static mt_status bad(mt_flat *f, const char *name, const char *value, const char *expected) {
    return mt_fail(f->ctx, MT_ERR_USAGE, "option '%s': expected %s, got '%s'", name, expected, value);
}

/* A decimal integer in [lo, hi], the whole string. */
static bool int_in(const char *v, int64_t lo, int64_t hi, int64_t *out) {
    if (!v || !*v || (*v != '-' && (*v < '0' || *v > '9'))) return false;
    errno = 0;
    char *end;
    long long x = strtoll(v, &end, 10);
    if (errno != 0 || *end != '\0' || x < lo || x > hi) return false;
    *out = x;
    return true;
}

static bool bool_of(const char *v, bool *out) {
    if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0) *out = true;
    else if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0) *out = false;
    else return false;
    return true;
}

typedef mt_status (*setter)(mt_flat *f, const char *name, const char *v);

static mt_status set_dtype(mt_flat *f, const char *name, const char *v) {
    mt_dtype d = mt_dtype_parse(v);
    if (d == MT_DTYPE_NONE || !mt_dtype_is_floating(d))
        return bad(f, name, v, "a floating-point dtype (float32, bfloat16, float16, ...)");
    if (d == MT_FLOAT8_E4M3FN || d == MT_FLOAT8_E5M2)
        return mt_fail(f->ctx, MT_ERR_USAGE, "option 'dtype': %s parameters cannot run a forward pass "
                       "(PyTorch does not promote float8 with the other dtypes a layer mixes in); for an "
                       "FP8 checkpoint set quant to fp8", mt_dtype_name(d));
    f->build.dtype = d;
    return MT_OK;
}

static mt_status set_layers(mt_flat *f, const char *name, const char *v) {
    int64_t x;
    if (!int_in(v, 1, MT_MAX_LAYERS, &x)) return bad(f, name, v, "a number of layers from 1 to 1024");
    f->build.num_layers = x;
    return MT_OK;
}

static mt_status set_attn(mt_flat *f, const char *name, const char *v) {
    if (strcmp(v, "eager") == 0) f->build.attn = MT_ATTN_IMPL_EAGER;
    else if (strcmp(v, "sdpa") == 0) f->build.attn = MT_ATTN_IMPL_SDPA;
    else return bad(f, name, v, "eager or sdpa");
    return MT_OK;
}

static mt_status set_quant(mt_flat *f, const char *name, const char *v) {
    /* The method is checked by name here, as the CLI does before reading the config. */
    const char *list = mt_quant_methods();
    size_t n = strlen(v);
    for (const char *p = list; n && (p = strstr(p, v)) != NULL; p += n)
        if ((p == list || p[-1] == ',' || p[-1] == ' ') && (p[n] == '\0' || p[n] == ','))
            return (f->sizing.quant = mt_strdup(f->ctx, v)) ? MT_OK : MT_ERR_NOMEM;
    return mt_fail(f->ctx, MT_ERR_USAGE, "option '%s': unknown quantization method '%s' (known: %s)", name, v,
                   list);
}

static mt_status set_kv_dtype(mt_flat *f, const char *name, const char *v) {
    mt_dtype d = mt_dtype_parse(v);
    if (d == MT_DTYPE_NONE || !mt_dtype_is_floating(d))
        return bad(f, name, v, "a floating-point dtype (bfloat16, float16, float8_e4m3fn, ...)");
    f->sizing.kv_dtype = d;
    return MT_OK;
}

static mt_status set_mem(mt_flat *f, const char *name, const char *v) {
    int64_t x;
    if (!int_in(v, 1, INT64_MAX, &x)) return bad(f, name, v, "one device's memory in bytes (a positive integer)");
    f->sizing.mem_budget = x;
    return MT_OK;
}

static mt_status set_mla(mt_flat *f, const char *name, const char *v) {
    if (strcmp(v, "latent") == 0) f->sizing.mla_decompressed = false;
    else if (strcmp(v, "full") == 0) f->sizing.mla_decompressed = true;
    else return bad(f, name, v, "latent or full");
    return MT_OK;
}

static mt_status set_dp(mt_flat *f, const char *name, const char *v) {
    int64_t x;
    if (!int_in(v, 1, 1000000, &x)) return bad(f, name, v, "a data-parallel degree from 1 to 1000000");
    f->sizing.dp = (int)x;
    return MT_OK;
}

static mt_status set_optimizer(mt_flat *f, const char *name, const char *v) {
    if (strcmp(v, "adam") == 0 || strcmp(v, "adamw") == 0) f->sizing.optimizer = MT_OPT_ADAM;
    else if (strcmp(v, "sgd") == 0) f->sizing.optimizer = MT_OPT_SGD;
    else return bad(f, name, v, "adam (or adamw) or sgd");
    return MT_OK;
}

static mt_status set_context(mt_flat *f, const char *name, const char *v) {
    int64_t x;
    if (!int_in(v, 1, INT64_MAX, &x)) return bad(f, name, v, "a number of tokens (a positive integer)");
    f->sizing.context = x;
    return MT_OK;
}

static mt_status set_bool(mt_flat *f, const char *name, const char *v, bool *dst) {
    return bool_of(v, dst) ? MT_OK : bad(f, name, v, "true or false");
}
static mt_status set_stable(mt_flat *f, const char *n, const char *v) { return set_bool(f, n, v, &f->json.stable); }
static mt_status set_compact(mt_flat *f, const char *n, const char *v) { return set_bool(f, n, v, &f->json.compact); }
static mt_status set_sp(mt_flat *f, const char *n, const char *v) { return set_bool(f, n, v, &f->plan.sequence_parallel); }
static mt_status set_unfold(mt_flat *f, const char *n, const char *v) { return set_bool(f, n, v, &f->unfold); }
static mt_status set_all(mt_flat *f, const char *n, const char *v) { return set_bool(f, n, v, &f->all); }
static mt_status set_text_only(mt_flat *f, const char *n, const char *v) { return set_bool(f, n, v, &f->build.text_only); }

static mt_status set_tp(mt_flat *f, const char *name, const char *v) {
    int64_t x;
    if (!int_in(v, 1, 4096, &x)) return bad(f, name, v, "a tensor-parallel degree from 1 to 4096");
    f->plan.tp = (int)x;
    return MT_OK;
}

static mt_status set_max_tp(mt_flat *f, const char *name, const char *v) {
    int64_t x;
    if (!int_in(v, 1, 4096, &x)) return bad(f, name, v, "a largest degree from 1 to 4096");
    f->max_tp = (int)x;
    return MT_OK;
}

static mt_status set_style(mt_flat *f, const char *name, const char *v) {
    if (strcmp(v, "ours") == 0) f->plan.style = MT_PLAN_OURS;
    else if (strcmp(v, "transformers") == 0) f->plan.style = MT_PLAN_TRANSFORMERS;
    else return bad(f, name, v, "ours or transformers");
    return MT_OK;
}

static mt_status set_search(mt_flat *f, const char *name, const char *v) {
    if (strcmp(v, "best") == 0) f->plan.search = MT_SEARCH_BEST;
    else if (strcmp(v, "first") == 0) f->plan.search = MT_SEARCH_FIRST;
    else if (strcmp(v, "full") == 0) f->plan.search = MT_SEARCH_FULL;
    else return bad(f, name, v, "best, first or full");
    return MT_OK;
}

static mt_status set_depth(mt_flat *f, const char *name, const char *v) {
    int64_t x;
    if (!int_in(v, 1, 64, &x)) return bad(f, name, v, "a depth from 1 to 64");
    f->depth = (int)x;
    return MT_OK;
}

/* Resetting one option: a fresh default set, that option copied back. */
static void reset_one(mt_flat *f, setter s) {
    mt_flat d = {.ctx = f->ctx};
    defaults(&d);
#define MT_RESET(fn, field) if (s == fn) f->field = d.field
    MT_RESET(set_dtype, build.dtype); MT_RESET(set_layers, build.num_layers); MT_RESET(set_attn, build.attn);
    MT_RESET(set_quant, sizing.quant); MT_RESET(set_kv_dtype, sizing.kv_dtype);
    MT_RESET(set_mem, sizing.mem_budget); MT_RESET(set_mla, sizing.mla_decompressed);
    MT_RESET(set_dp, sizing.dp); MT_RESET(set_optimizer, sizing.optimizer); MT_RESET(set_context, sizing.context);
    MT_RESET(set_stable, json.stable); MT_RESET(set_compact, json.compact); MT_RESET(set_sp, plan.sequence_parallel);
    MT_RESET(set_unfold, unfold); MT_RESET(set_all, all); MT_RESET(set_tp, plan.tp); MT_RESET(set_max_tp, max_tp);
    MT_RESET(set_style, plan.style); MT_RESET(set_search, plan.search); MT_RESET(set_depth, depth);
    MT_RESET(set_text_only, build.text_only);
#undef MT_RESET
}

static const struct { const char *name; setter set; } options[] = {
    {"dtype", set_dtype},     {"layers", set_layers},       {"attn", set_attn},
    {"quant", set_quant},     {"kv-dtype", set_kv_dtype},   {"mem", set_mem},
    {"mla-cache", set_mla},   {"dp", set_dp},               {"optimizer", set_optimizer},
    {"context", set_context}, {"stable", set_stable},       {"compact", set_compact},
    {"tp", set_tp},           {"plan-style", set_style},    {"sp", set_sp},
    {"search", set_search},   {"max-tp", set_max_tp},       {"depth", set_depth},
    {"unfold", set_unfold},   {"all", set_all},
    {"text-only", set_text_only},
};
#define NOPTIONS (sizeof options / sizeof options[0])

mt_status mt_flat_set(mt_flat *f, const char *name, const char *value) {
    if (!f) return MT_ERR_USAGE;
    if (!name) return mt_fail(f->ctx, MT_ERR_USAGE, "option name is NULL");
    for (size_t i = 0; i < NOPTIONS; i++) {
        if (strcmp(options[i].name, name) != 0) continue;
        if (!value) {
            reset_one(f, options[i].set);
            return MT_OK;
        }
        return options[i].set(f, name, value);
    }
    char known[512] = "";
    for (size_t i = 0; i < NOPTIONS; i++) {
        if (i) strncat(known, ", ", sizeof known - strlen(known) - 1);
        strncat(known, options[i].name, sizeof known - strlen(known) - 1);
    }
    return mt_fail(f->ctx, MT_ERR_USAGE, "unknown option '%s' (known: %s)", name, known);
}

mt_status mt_flat_bind(mt_flat *f, const char *name, int64_t value) {
    if (!f) return MT_ERR_USAGE;
    bool ident = name && ((*name >= 'a' && *name <= 'z') || (*name >= 'A' && *name <= 'Z') || *name == '_');
    for (const char *p = name ? name : ""; ident && *p; p++)
        ident = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_';
    if (!ident)
        return mt_fail(f->ctx, MT_ERR_USAGE, "bind: '%s' is not a symbol name (an identifier such as batch or seq)",
                       name ? name : "(null)");
    if (value < 1)
        return mt_fail(f->ctx, MT_ERR_USAGE, "bind: the value of '%s' must be a positive integer, got %" PRId64,
                       name, value);
    for (int i = 0; i < f->nbind; i++)
        if (strcmp(f->names[i], name) == 0) {
            f->values[i] = value;
            return MT_OK;
        }
    if (f->nbind == FLAT_MAX_BIND)
        return mt_fail(f->ctx, MT_ERR_USAGE, "bind: at most %d symbols may be bound", FLAT_MAX_BIND);
    const char *copy = mt_strdup(f->ctx, name);
    if (!copy) return MT_ERR_NOMEM;
    f->names[f->nbind] = copy;
    f->values[f->nbind++] = value;
    return MT_OK;
}

static int64_t bound(const mt_flat *f, const char *name) {
    for (int i = 0; i < f->nbind; i++)
        if (strcmp(f->names[i], name) == 0) return f->values[i];
    return 0;
}

mt_model *mt_flat_build(mt_flat *f, mt_config *cfg) {
    if (!f) return NULL;
    if (!cfg) {
        if (mt_ctx_status(f->ctx) == MT_OK) mt_fail(f->ctx, MT_ERR_USAGE, "mt_flat_build: no config");
        return NULL;
    }
    return mt_model_build(f->ctx, cfg, &f->build);
}

mt_graph *mt_flat_trace(mt_flat *f, mt_model *m) {
    if (!f) return NULL;
    if (!m) {
        if (mt_ctx_status(f->ctx) == MT_OK) mt_fail(f->ctx, MT_ERR_USAGE, "mt_flat_trace: no model");
        return NULL;
    }
    mt_trace_opts to = {.bind = {.names = f->names, .values = f->values, .n = f->nbind}};
    return mt_model_trace(m, &to);
}

/* ---- export into memory -------------------------------------------------------- */

static mt_status plan_opts(mt_flat *f, mt_plan_opts *o) {
    *o = f->plan;
    o->batch = bound(f, "batch");
    o->seq = bound(f, "seq");
    if (o->sequence_parallel && o->seq)
        return mt_fail(f->ctx, MT_ERR_USAGE, "option 'sp' splits the symbolic sequence: do not bind seq "
                       "(the plan's bytes are per token, at seq=4096 unless bound)");
    return MT_OK;
}

static mt_status write_format(mt_flat *f, mt_model *m, mt_graph *g, const char *format, FILE *out) {
    bool sized = strcmp(format, "json") == 0 || strcmp(format, "summary") == 0 || strcmp(format, "table") == 0 ||
                 strcmp(format, "html") == 0;
    if (sized) {
        mt_sizing sz;
        if (mt_model_sizing(m, g, &f->sizing, &sz) != MT_OK) return mt_ctx_status(f->ctx);
        if (strcmp(format, "json") == 0) return mt_export_json_opts(m, g, &sz, &f->json, out);
        if (strcmp(format, "html") == 0) {
            mt_html_opts ho = {.sizing = &sz, .plan = NULL};
            return mt_export_html(m, g, &ho, out);
        }
        if (strcmp(format, "summary") == 0) return mt_export_summary_sized(m, g, &sz, out);
        return mt_export_module_table(m, g, &sz, f->depth ? f->depth : 3, f->unfold, out);
    }
    if (strcmp(format, "dot") == 0) return mt_export_dot(m, g, out);
    if (strcmp(format, "svg") == 0 || strcmp(format, "png") == 0) return mt_export_render(m, g, format, out);
    if (strncmp(format, "plan-", 5) == 0) {
        mt_plan_opts o;
        if (plan_opts(f, &o) != MT_OK) return mt_ctx_status(f->ctx);
        if (strcmp(format, "plan-degrees") == 0) {
            mt_plan_degree *deg = mt_alloc_array(f->ctx, (size_t)f->max_tp, sizeof *deg);
            if (!deg) return mt_ctx_status(f->ctx);
            o.tp = 1;
            if (mt_plan_auto(m, g, &o, f->max_tp, deg) != MT_OK) return mt_ctx_status(f->ctx);
            return mt_plan_degrees_export_json(m, deg, f->max_tp, f->all, out);
        }
        bool known = strcmp(format, "plan-json") == 0 || strcmp(format, "plan-graph-json") == 0 ||
                     strcmp(format, "plan-dot") == 0 || strcmp(format, "plan-table") == 0 ||
                     strcmp(format, "plan-html") == 0;
        if (known) {
            mt_plan *p = mt_plan_run(m, g, &o);
            if (!p) return mt_ctx_status(f->ctx);
            if (strcmp(format, "plan-json") == 0) return mt_plan_export_json(p, out);
            if (strcmp(format, "plan-graph-json") == 0) return mt_plan_export_graph_json_opts(p, &f->json, out);
            if (strcmp(format, "plan-dot") == 0) return mt_plan_export_dot(p, out);
            if (strcmp(format, "plan-html") == 0) {
                /* as the CLI: an unusable degree is an error, not a page */
                if (!p->valid) return mt_fail(f->ctx, MT_ERR_UNSUPPORTED, "tp %d: the model cannot use this degree: %s", p->tp,
                                              p->reason ? p->reason : "unusable");
                mt_sizing sz;
                if (mt_model_sizing(m, g, &f->sizing, &sz) != MT_OK) return mt_ctx_status(f->ctx);
                mt_html_opts ho = {.sizing = &sz, .plan = p};
                return mt_export_html(m, g, &ho, out);
            }
            return mt_plan_print(p, out);
        }
    }
    return mt_fail(f->ctx, MT_ERR_USAGE, "unknown export format '%s' (json, dot, summary, table, svg, png, html, "
                   "plan-json, plan-graph-json, plan-dot, plan-table, plan-html, plan-degrees)", format);
}

char *mt_flat_export(mt_flat *f, mt_model *m, mt_graph *g, const char *format, size_t *len) {
    if (len) *len = 0;
    if (!f) return NULL;
    if (!m || !g || !format) {
        if (mt_ctx_status(f->ctx) == MT_OK)
            mt_fail(f->ctx, MT_ERR_USAGE, "mt_flat_export: %s is NULL", !m ? "the model" : !g ? "the graph" : "format");
        return NULL;
    }
    /* The exporters write to a FILE: an in-memory one, copied into a block of
     * the context once complete (never a partial document). */
    char *buf = NULL;
    size_t n = 0;
    FILE *mem = open_memstream(&buf, &n);
    if (!mem) {
        mt_fail(f->ctx, MT_ERR_NOMEM, "cannot open a memory stream for the %s export", format);
        return NULL;
    }
    mt_status st = write_format(f, m, g, format, mem);
    bool write_failed = fclose(mem) != 0;
    if (st == MT_OK && write_failed) st = mt_fail(f->ctx, MT_ERR_NOMEM, "writing the %s export into memory failed", format);
    if (st != MT_OK && mt_ctx_status(f->ctx) == MT_OK) mt_fail(f->ctx, st, "the %s export failed", format);
    char *out = st == MT_OK ? mt_heap_alloc(f->ctx, n + 1) : NULL;
    if (out) {
        memcpy(out, buf, n);
        out[n] = '\0';
        if (len) *len = n;
    }
    free(buf);
    return out;
}
