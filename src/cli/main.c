/* metatrace — command-line interface: a thin client of the public API.
 *
 *   metatrace [options] CONFIG
 *
 * Pipeline: mt_config_load -> mt_model_build -> mt_model_trace -> exporter.
 * Exit status: 0 success, 1 bad input (config, model, trace or output error),
 * 2 usage error. A failed run never creates or clobbers an output file: a
 * regular file is written to a temporary next to it, renamed over it on
 * success; devices and FIFOs are written in place (the "output" section
 * below). docs/cli.md documents the behaviour; keep the two in step. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <metatrace/metatrace.h>

#define PROG "metatrace"

enum { EXIT_INPUT = 1, EXIT_USAGE = 2 };

typedef enum out_format {
    FMT_NONE = 0,
    FMT_SUMMARY,
    FMT_JSON,
    FMT_DOT,
    FMT_SVG,
    FMT_PNG,
    FMT_HTML
} out_format;

static const struct {
    const char *name;
    out_format fmt;
} format_names[] = {
    {"summary", FMT_SUMMARY}, {"json", FMT_JSON}, {"dot", FMT_DOT},
    {"svg", FMT_SVG},         {"png", FMT_PNG},     {"html", FMT_HTML},
};

static const struct {
    const char *ext;
    out_format fmt;
} format_exts[] = {
    {".json", FMT_JSON}, {".dot", FMT_DOT}, {".gv", FMT_DOT},
    {".svg", FMT_SVG},   {".png", FMT_PNG}, {".txt", FMT_SUMMARY},
    {".html", FMT_HTML}, {".htm", FMT_HTML},
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define MAX_BINDINGS 16

typedef enum opt_id {
    OPT_OUTPUT, OPT_FORMAT, OPT_DTYPE, OPT_LAYERS, OPT_BIND, OPT_TP, OPT_PLAN_STYLE, OPT_SP, OPT_HELP, OPT_VERSION,
    OPT_KV_DTYPE, OPT_MEM, OPT_DP, OPT_OPTIMIZER, OPT_MLA_CACHE, OPT_DEPTH, OPT_UNFOLD,
    OPT_QUANT,
    OPT_ATTN, OPT_REVISION,
    OPT_STABLE, OPT_COMPACT,
    OPT_ALL, OPT_FIT, OPT_CLUSTER,
    OPT_MODULE, OPT_VERBOSE_LABELS, OPT_MICROBATCHES,
    OPT_TEXT_ONLY
} opt_id;

static const struct {
    char short_name; /* 0: long only */
    const char *long_name;
    bool has_arg;
    opt_id id;
} options[] = {
    {'o', "output", true, OPT_OUTPUT}, {'f', "format", true, OPT_FORMAT},
    {0, "dtype", true, OPT_DTYPE},     {0, "layers", true, OPT_LAYERS},
    {0, "bind", true, OPT_BIND},       {0, "tp", true, OPT_TP},
    {0, "plan-style", true, OPT_PLAN_STYLE}, {0, "sp", false, OPT_SP}, {'h', "help", false, OPT_HELP},
    {'V', "version", false, OPT_VERSION},
    {0, "kv-dtype", true, OPT_KV_DTYPE}, {0, "mem", true, OPT_MEM}, {0, "dp", true, OPT_DP},
    {0, "optimizer", true, OPT_OPTIMIZER}, {0, "mla-cache", true, OPT_MLA_CACHE}, {0, "depth", true, OPT_DEPTH},
    {0, "unfold", false, OPT_UNFOLD},
    {0, "quant", true, OPT_QUANT},
    {0, "attn", true, OPT_ATTN},
    {0, "revision", true, OPT_REVISION},
    {0, "stable", false, OPT_STABLE},
    {0, "compact", false, OPT_COMPACT},
    {0, "all", false, OPT_ALL},
    {0, "fit", true, OPT_FIT},
    {0, "microbatches", true, OPT_MICROBATCHES},
    {0, "cluster", true, OPT_CLUSTER},
    {0, "module", true, OPT_MODULE},
    {0, "verbose-labels", false, OPT_VERBOSE_LABELS},
    {0, "text-only", false, OPT_TEXT_ONLY},
};

typedef struct cli {
    mt_ctx *ctx;
    const char *config;
    const char *output;  /* NULL: stdout */
    out_format format;   /* FMT_NONE: from the output's extension, else summary */
    mt_dtype dtype;
    int64_t layers;
    const char *bind_names[MAX_BINDINGS];
    int64_t bind_values[MAX_BINDINGS];
    int nbind;
    int tp;                     /* 0: no plan; -1: auto (degrees 1..64); else the degree */
    mt_plan_style plan_style;
    bool sp;             /* --sp: sequence parallelism in the plan */
    mt_sizing_opts sz;   /* --kv-dtype, --mem, --dp, --optimizer, --mla-cache */
    int depth;           /* --depth: the per-module table (0: the summary), or the picture's depth */
    bool unfold;         /* --unfold: no folding of identical layers (table and pictures) */
    const char *module;  /* --module PATH: the one subtree a picture draws */
    bool verbose_labels; /* --verbose-labels: FX labels in pictures */
    const char *quant;   /* --quant METHOD: "what if" checkpoint quantization (quant.h); NULL: the config's */
    mt_attn_impl attn;   /* --attn eager|sdpa; DEFAULT: the family's */
    bool text_only;      /* --text-only: a multimodal config's language model alone */
    const char *revision; /* --revision REV of a Hub cache folder or model id (NULL: main) */
    mt_json_opts json;   /* --stable, --compact (graph JSON only) */
    bool all;            /* --all: --tp auto lists the unusable degrees too; --fit the layouts that do not fit */
    const char *fit;     /* --fit CLUSTER: which (tp, pp, ep, dp) layouts fit (fit.h) */
    const char *cluster_spec; /* --cluster CLUSTER: with --tp, the GPUs a plan is priced on; else --fit's */
    mt_cluster cluster;  /* parsed --cluster / --fit */
    bool has_cluster;
    int microbatches;    /* --microbatches M: a replica's step pipelined in M parts (0: 1) */
    mt_plan *plan;       /* --tp N: the plan, made before any output is opened (an unusable degree
                            is an error and writes nothing) */
    mt_fit *fitres;      /* --fit: the layouts, computed before any output is opened */
} cli;

/* The message after "metatrace: error: ", one line: control characters (from
 * a config value, a file name or an option echoed back) print as \xNN, so
 * what a user passes cannot drive the terminal or forge extra lines. */
static void put_message_kind(const char *kind, const char *fmt, va_list ap)
{
    char buf[4096];
    vsnprintf(buf, sizeof buf, fmt, ap);
    fprintf(stderr, PROG ": %s: ", kind);
    for (const unsigned char *p = (const unsigned char *)buf; *p; p++) {
        if (*p < 0x20 || *p == 0x7f)
            fprintf(stderr, "\\x%02x", *p);
        else
            fputc(*p, stderr);
    }
    fputc('\n', stderr);
}

static void put_message(const char *fmt, va_list ap) { put_message_kind("error", fmt, ap); }

/* What a reader must know about a successful run ("metatrace: note: ..."). */
static void note(const char *fmt, ...) MT_PRINTF(1, 2);
static void note(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    put_message_kind("note", fmt, ap);
    va_end(ap);
}

static void error(const char *fmt, ...) MT_PRINTF(1, 2);
static void error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    put_message(fmt, ap);
    va_end(ap);
}

/* Usage errors end with a pointer to --help; always exit status 2. */
static int usage_error(const char *fmt, ...) MT_PRINTF(1, 2);
static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    put_message(fmt, ap);
    va_end(ap);
    fputs("Try '" PROG " --help' for more information.\n", stderr);
    return EXIT_USAGE;
}

/* The library's message for the error on ctx; exit status 1. The arguments
 * were checked before the library saw them, so a library usage error can only
 * come from an option value it rejects (binding an unknown symbol): 2. */
static int input_error(mt_ctx *ctx)
{
    error("%s", mt_ctx_errmsg(ctx));
    return mt_ctx_status(ctx) == MT_ERR_USAGE ? EXIT_USAGE : EXIT_INPUT;
}

/* A positive decimal integer: digits only, no sign, fits int64. */
static bool parse_positive(const char *s, int64_t *out)
{
    if (!s || !*s)
        return false;
    int64_t v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return false;
        if (!mt_mul_ok(v, 10, &v) || !mt_add_ok(v, *p - '0', &v))
            return false;
    }
    if (v <= 0)
        return false;
    *out = v;
    return true;
}

/* A memory size: a number (decimals allowed) with a unit B, KB, MB, GB, TB
 * (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024); no unit: bytes. */
static bool parse_mem(const char *s, int64_t *out)
{
    static const struct {
        const char *unit;
        double mul;
    } units[] = {{"", 1},         {"B", 1},           {"KB", 1e3},          {"MB", 1e6},
                 {"GB", 1e9},     {"TB", 1e12},       {"KiB", 1024.0},      {"MiB", 1048576.0},
                 {"GiB", 1073741824.0}, {"TiB", 1099511627776.0}};
    const char *p = s;
    if (!(*p >= '0' && *p <= '9'))
        return false;
    while ((*p >= '0' && *p <= '9') || *p == '.')
        p++;
    char *end = NULL;
    double v = strtod(s, &end);
    if (end != p || v <= 0)
        return false;
    for (size_t i = 0; i < COUNT(units); i++)
        if (strcmp(p, units[i].unit) == 0) {
            double b = v * units[i].mul;
            if (b < 1 || b > 9.0e18)
                return false;
            *out = (int64_t)b;
            return true;
        }
    return false;
}

static bool is_identifier(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
        if (!alpha && !(i > 0 && c >= '0' && c <= '9'))
            return false;
    }
    return true;
}

/* A --bind value (0 when not bound): the plan's bound shapes follow it, so
 * bytes per token divide by the tokens the concrete shapes hold. */
static int64_t bound_of(const cli *c, const char *name)
{
    for (int i = 0; i < c->nbind; i++)
        if (strcmp(c->bind_names[i], name) == 0)
            return c->bind_values[i];
    return 0;
}

/* "batch=1,seq=4096": each item NAME=POSITIVE_INT; repeated --bind add up. */
static int parse_bind(cli *c, const char *spec)
{
    if (!*spec)
        return usage_error("--bind: expected NAME=VALUE[,NAME=VALUE...], got an empty string");
    const char *p = spec;
    for (;;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char *item = mt_strndup(c->ctx, p, len);
        if (!item)
            return input_error(c->ctx);
        char *eq = strchr(item, '=');
        if (!eq)
            return usage_error("--bind: '%s' is not NAME=VALUE (e.g. batch=1,seq=4096)", item);
        *eq = '\0';
        int64_t v;
        if (!is_identifier(item, strlen(item)))
            return usage_error("--bind: '%s' is not a symbol name (letters, digits, '_')", item);
        if (!parse_positive(eq + 1, &v))
            return usage_error("--bind: the value of '%s' must be a positive integer, got '%s'", item,
                               eq + 1);
        for (int i = 0; i < c->nbind; i++)
            if (strcmp(c->bind_names[i], item) == 0)
                return usage_error("--bind: '%s' is bound twice", item);
        if (c->nbind == MAX_BINDINGS)
            return usage_error("--bind: more than %d bindings", MAX_BINDINGS);
        c->bind_names[c->nbind] = item;
        c->bind_values[c->nbind] = v;
        c->nbind++;
        if (!end)
            return 0;
        p = end + 1;
    }
}

static out_format format_by_name(const char *name)
{
    for (size_t i = 0; i < COUNT(format_names); i++)
        if (strcmp(format_names[i].name, name) == 0)
            return format_names[i].fmt;
    return FMT_NONE;
}

static out_format format_by_extension(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    const char *dot = strrchr(base, '.');
    if (!dot)
        return FMT_NONE;
    for (size_t i = 0; i < COUNT(format_exts); i++) {
        const char *e = format_exts[i].ext;
        size_t k = 0;
        while (e[k] && dot[k] && (dot[k] | 0x20) == e[k]) /* ASCII case-insensitive */
            k++;
        if (!e[k] && !dot[k])
            return format_exts[i].fmt;
    }
    return FMT_NONE;
}

static void print_wrapped(FILE *out, const char *lead, const char *list, int width)
{
    int col = fprintf(out, "%s", lead);
    const char *p = list;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) + 1 : strlen(p);
        if (col + (int)len + 1 > width && col > (int)strlen(lead)) {
            fputs("\n ", out);
            col = 1;
        }
        col += fprintf(out, " %.*s", (int)len, p);
        p += len;
        while (*p == ' ')
            p++;
    }
    fputc('\n', out);
}

static void help(mt_ctx *ctx)
{
    fputs("Usage: " PROG " [options] CONFIG\n"
          "       " PROG " diff [--format text|json] A.json B.json\n"
          "\n"
          "Build a Hugging Face model from CONFIG on the meta device, trace its forward\n"
          "pass symbolically and export the graph. Without -o, print a summary to standard\n"
          "output. CONFIG: a config.json, a directory holding one, a Hub cache folder\n"
          "(models--org--name), or a model id org/name found offline in the Hub cache\n"
          "($HF_HUB_CACHE, $HF_HOME/hub or ~/.cache/huggingface/hub).\n"
          "\n"
          "Options:\n"
          "  -o, --output FILE   write to FILE; the format follows its extension (.json,\n"
          "                      .dot/.gv, .svg, .png, .html for the interactive viewer,\n"
          "                      .txt for the summary); '-' is standard output\n"
          "  -f, --format FMT    json, dot, svg, png, html or summary (overrides the\n"
          "                      extension)\n"
          "      --dtype NAME    parameter dtype, overriding torch_dtype (float32,\n"
          "                      bfloat16, float16, ...)\n"
          "                      (float8 dtypes are refused: use --quant fp8)\n"
          "      --layers N      number of layers, overriding num_hidden_layers (1..1024)\n"
          "      --revision REV  of a Hub cache folder or model id: a ref (default main)\n"
          "                      or a commit\n"
          "      --attn IMPL     attention to trace: eager or sdpa (default: the one\n"
          "                      transformers picks for the model type)\n"
          "      --text-only     of a multimodal config (one with a text_config): trace its\n"
          "                      language model alone, named as the text-only checkpoint\n"
          "      --bind LIST     concrete sizes instead of symbols, e.g. batch=1,seq=4096\n"
          "                      (vision-language models: images=N, the images in pixel_values)\n"
          "      --tp N|auto     plan tensor parallelism over N ranks (JSON, table, or a\n"
          "                      picture: .dot/.svg/.png, .html), or list\n"
          "                      the degrees 1..64 the model can use (--all: the others too,\n"
          "                      with the reason); an unusable N is an error (exit 1)\n"
          "      --fit CLUSTER   which tensor x pipeline x expert x data parallel layouts fit\n"
          "                      CLUSTER (8xH100, 2x8xH100, a cluster JSON file; presets\n"
          "                      H100 H200 A100-80GB A100-40GB B200 MI300X L40S), ranked by\n"
          "                      estimated time per token, with vLLM/SGLang/Megatron flags;\n"
          "                      --bind batch=B,seq=S sets the KV budget (default 1 x 4096)\n"
          "      --cluster CLUSTER  with --tp: price the plan's collectives on CLUSTER's\n"
          "                      in-node link (default: H100 NVLink); alone: --fit CLUSTER\n"
          "      --microbatches M  with --fit: each replica's batch goes through its\n"
          "                      pipeline stages as M micro-batches (default 1)\n"
          "      --all           with --tp auto or --fit: list what does not work too\n"
          "      --plan-style S  ours (embeddings sharded when cheaper) or transformers\n"
          "      --sp            with --tp: sequence parallelism (residual stream and norms\n"
          "                      held in blocks of the sequence between the sharded regions)\n"
          "      --stable        JSON for snapshots: the config's file name without its\n"
          "                      directory, no tool version (same bytes anywhere)\n"
          "      --compact       JSON on one line, no indentation\n"
          "\n"
          "Sizing (summary and JSON; docs/sizing.md):\n"
          "      --kv-dtype NAME KV cache dtype (default: the keys' own), e.g. float8_e4m3fn\n"
          "      --mem SIZE      one device's memory, e.g. 80GiB: the KV tokens that fit\n"
          "                      beside the weights and the activation peak\n"
          "      --mla-cache K   latent (default, as vLLM/SGLang cache MLA) or full\n"
          "      --dp N          data-parallel degree for the ZeRO training rows (default 1)\n"
          "      --optimizer O   adam (default) or sgd for the training rows\n"
          "      --depth N       print a per-module table to depth N instead of the summary\n"
          "      --unfold        with --depth: one row per layer, not 'x N' for repeats\n"
          "      --quant METHOD  size the checkpoint as if quantized with METHOD (fp8,\n"
          "                      mxfp4, gptq, awq, bnb-8bit, bnb-4bit; docs/quant.md)\n"
          "\n",
          stdout);
    fputs("Pictures (.dot, .svg, .png; docs/cli.md, Pictures):\n"
          "      --depth N       modules deeper than N drawn as one node each (shapes,\n"
          "                      parameters, FLOPs)\n"
          "      --module PATH   draw one module, e.g. model.layers.0\n"
          "      --unfold        draw every repeated layer and expert (default: folded)\n"
          "      --verbose-labels  FX labels (node name, op and target, shape and dtype)\n"
          "\n"
          "Viewer (.html; docs/cli.md, Interactive viewer):\n"
          "      --module PATH   open the page at one module, e.g. model.layers.3.mlp\n"
          "      --depth N       open N levels of the module tree below it (or the root)\n"
          "\n"
          "  -h, --help          show this help and exit\n"
          "  -V, --version       show the version and exit\n"
          "\n",
          stdout);
    const char *list = mt_arch_list(ctx);
    print_wrapped(stdout, "Supported model types:", list ? list : "(none)", 79);
    fputs("\n"
          "Exit status: 0 success, 1 bad input (config, model, trace or output error),\n"
          "2 usage error. diff: 0 the same, 1 different, 2 trouble ('" PROG " diff --help').\n",
          stdout);
}

/* Returns -1 to continue, else the exit status. */
static int parse_args(cli *c, int argc, char **argv)
{
    bool no_more_options = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (no_more_options || a[0] != '-' || a[1] == '\0') {
            if (c->config)
                return usage_error("unexpected argument '%s' (only one CONFIG)", a);
            c->config = a;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            no_more_options = true;
            continue;
        }
        /* Find the option; `value` is an attached argument ("--x=v", "-ov"). */
        int k = -1;
        const char *value = NULL;
        if (a[1] == '-') {
            const char *name = a + 2;
            const char *eq = strchr(name, '=');
            size_t len = eq ? (size_t)(eq - name) : strlen(name);
            for (size_t j = 0; j < COUNT(options); j++)
                if (strlen(options[j].long_name) == len && strncmp(options[j].long_name, name, len) == 0)
                    k = (int)j;
            if (k < 0)
                return usage_error("unknown option '%.*s'", (int)(len + 2), a);
            if (eq) {
                if (!options[k].has_arg)
                    return usage_error("option '--%s' takes no argument", options[k].long_name);
                value = eq + 1;
            }
        } else {
            for (size_t j = 0; j < COUNT(options); j++)
                if (options[j].short_name && options[j].short_name == a[1])
                    k = (int)j;
            if (k < 0)
                return usage_error("unknown option '-%c'", a[1]);
            if (a[2]) {
                if (!options[k].has_arg)
                    return usage_error("unknown option '%s'", a);
                value = a + 2;
            }
        }
        if (options[k].has_arg && !value) {
            if (i + 1 >= argc)
                return usage_error("option '%s' requires an argument", a);
            value = argv[++i];
        }

        switch (options[k].id) {
        case OPT_OUTPUT:
            if (!*value)
                return usage_error("--output: empty file name");
            c->output = value;
            break;
        case OPT_FORMAT:
            c->format = format_by_name(value);
            if (c->format == FMT_NONE)
                return usage_error("--format: unknown format '%s' (expected json, dot, svg, png, "
                                   "html or summary)",
                                   value);
            break;
        case OPT_DTYPE: {
            mt_dtype d = mt_dtype_parse(value);
            if (d == MT_DTYPE_NONE)
                return usage_error("--dtype: unknown dtype '%s' (e.g. float32, bfloat16, float16)",
                                   value);
            if (!mt_dtype_is_floating(d))
                return usage_error("--dtype: '%s' is not a floating-point dtype", value);
            /* PyTorch cannot run a model with float8 parameters either (no type
             * promotion with the bool/float masks): an fp8 checkpoint is a quantization. */
            if (d == MT_FLOAT8_E4M3FN || d == MT_FLOAT8_E5M2)
                return usage_error("--dtype: %s parameters cannot run a forward pass (PyTorch does not "
                                   "promote float8 with the other dtypes a layer mixes in); for an FP8 "
                                   "checkpoint use --quant fp8",
                                   mt_dtype_name(d));
            c->dtype = d;
            break;
        }
        case OPT_QUANT: {
            /* Validated here, before any model is built; read by the sizing pass. */
            const char *methods = mt_quant_methods();
            size_t n = strlen(value);
            const char *p = methods;
            bool found = false;
            while (*p && !found) {
                size_t len = strcspn(p, ",");
                found = n > 0 && len == n && strncmp(p, value, n) == 0;
                p += len;
                while (*p == ',' || *p == ' ') p++;
            }
            if (!found) return usage_error("--quant: unknown method '%s' (expected one of %s)", value, methods);
            c->quant = value;
            c->sz.quant = value;
            break;
        }
        case OPT_LAYERS:
            if (!parse_positive(value, &c->layers))
                return usage_error("--layers: expected a positive integer, got '%s'", value);
            if (c->layers > MT_MAX_LAYERS)
                return usage_error("--layers: %s is more than the limit of %d layers (docs/cli.md, Limits)", value,
                                   MT_MAX_LAYERS);
            break;
        case OPT_REVISION:
            if (!*value || strchr(value, '/') || strcmp(value, ".") == 0 || strcmp(value, "..") == 0)
                return usage_error("--revision: expected a ref name (main) or a commit, got '%s'", value);
            c->revision = value;
            break;
        case OPT_ATTN:
            if (strcmp(value, "eager") == 0)
                c->attn = MT_ATTN_IMPL_EAGER;
            else if (strcmp(value, "sdpa") == 0)
                c->attn = MT_ATTN_IMPL_SDPA;
            else
                return usage_error("--attn: expected eager or sdpa, got '%s'", value);
            break;
        case OPT_BIND: {
            int rc = parse_bind(c, value);
            if (rc != 0)
                return rc;
            break;
        }
        case OPT_TP: {
            int64_t v;
            if (strcmp(value, "auto") == 0)
                c->tp = -1;
            else if (parse_positive(value, &v) && v <= 4096)
                c->tp = (int)v;
            else
                return usage_error("--tp: expected a degree from 1 to 4096 or 'auto', got '%s'", value);
            break;
        }
        case OPT_PLAN_STYLE:
            if (strcmp(value, "ours") == 0)
                c->plan_style = MT_PLAN_OURS;
            else if (strcmp(value, "transformers") == 0)
                c->plan_style = MT_PLAN_TRANSFORMERS;
            else
                return usage_error("--plan-style: expected 'ours' or 'transformers', got '%s'", value);
            break;
        case OPT_SP: c->sp = true; break;
        case OPT_KV_DTYPE: {
            mt_dtype d = mt_dtype_parse(value);
            if (d == MT_DTYPE_NONE || !mt_dtype_is_floating(d))
                return usage_error("--kv-dtype: expected a floating-point dtype (e.g. bfloat16, float16, "
                                   "float8_e4m3fn), got '%s'", value);
            c->sz.kv_dtype = d;
            break;
        }
        case OPT_MEM:
            if (!parse_mem(value, &c->sz.mem_budget))
                return usage_error("--mem: expected a size such as 80GiB, 141GB or 17179869184 (units B, KB, MB, "
                                   "GB, TB, KiB, MiB, GiB, TiB), got '%s'", value);
            break;
        case OPT_DP: {
            int64_t v;
            if (!parse_positive(value, &v) || v > 1000000)
                return usage_error("--dp: expected a data-parallel degree from 1 to 1000000, got '%s'", value);
            c->sz.dp = (int)v;
            break;
        }
        case OPT_OPTIMIZER:
            if (strcmp(value, "adam") == 0 || strcmp(value, "adamw") == 0)
                c->sz.optimizer = MT_OPT_ADAM;
            else if (strcmp(value, "sgd") == 0)
                c->sz.optimizer = MT_OPT_SGD;
            else
                return usage_error("--optimizer: expected 'adam' (or 'adamw') or 'sgd', got '%s'", value);
            break;
        case OPT_MLA_CACHE:
            if (strcmp(value, "latent") == 0)
                c->sz.mla_decompressed = false;
            else if (strcmp(value, "full") == 0)
                c->sz.mla_decompressed = true;
            else
                return usage_error("--mla-cache: expected 'latent' (what vLLM and SGLang cache) or 'full' "
                                   "(decompressed K/V), got '%s'", value);
            break;
        case OPT_DEPTH: {
            int64_t v;
            if (!parse_positive(value, &v) || v > 64)
                return usage_error("--depth: expected a module depth from 1 to 64, got '%s'", value);
            c->depth = (int)v;
            break;
        }
        case OPT_UNFOLD: c->unfold = true; break;
        case OPT_TEXT_ONLY: c->text_only = true; break;
        case OPT_ALL: c->all = true; break;
        case OPT_FIT:
        case OPT_CLUSTER:
            if (!*value)
                return usage_error("--%s: expected a cluster such as 8xH100, 2x8xH100 or a cluster JSON file",
                                   options[k].long_name);
            if (options[k].id == OPT_FIT) c->fit = value;
            else c->cluster_spec = value;
            if (c->fit && c->cluster_spec && strcmp(c->fit, c->cluster_spec) != 0)
                return usage_error("--fit and --cluster name one cluster: got '%s' and '%s'", c->fit, c->cluster_spec);
            break;
        case OPT_MICROBATCHES: {
            int64_t v;
            if (!parse_positive(value, &v) || v > 1000000)
                return usage_error("--microbatches: expected a count from 1 to 1000000, got '%s'", value);
            c->microbatches = (int)v;
            break;
        }
        case OPT_MODULE:
            if (!*value)
                return usage_error("--module: expected a module path such as model.layers.0, got an empty string");
            c->module = value;
            break;
        case OPT_VERBOSE_LABELS: c->verbose_labels = true; break;
        case OPT_STABLE: c->json.stable = true; break;
        case OPT_COMPACT: c->json.compact = true; break;
        case OPT_HELP:
            help(c->ctx);
            return fflush(stdout) == 0 && !ferror(stdout) ? 0 : EXIT_INPUT;
        case OPT_VERSION:
            printf(PROG " %s\n", MT_VERSION_STRING);
            return fflush(stdout) == 0 && !ferror(stdout) ? 0 : EXIT_INPUT;
        }
    }
    if (!c->config)
        return usage_error("missing CONFIG (a config.json or a directory holding one)");
    if (c->format == FMT_NONE) {
        if (c->output && strcmp(c->output, "-") != 0) {
            c->format = format_by_extension(c->output);
            if (c->format == FMT_NONE)
                return usage_error("cannot tell the format of '%s' from its extension (use "
                                   "--format, or .json, .dot, .gv, .svg, .png, .html, .txt)",
                                   c->output);
        } else {
            c->format = FMT_SUMMARY;
        }
    }
    if (c->tp < 0 && (c->format == FMT_SVG || c->format == FMT_PNG))
        return usage_error("--tp auto lists degrees: write it as JSON or a table, not a picture");
    if (c->tp < 0 && c->format == FMT_DOT)
        return usage_error("--tp auto lists degrees: write it as JSON or a table, not DOT");
    /* pictures: .dot/.svg/.png, and the plan's .dot (--tp N) */
    bool picture = (c->format == FMT_DOT || c->format == FMT_SVG || c->format == FMT_PNG) && c->tp >= 0;
    bool viewer = c->format == FMT_HTML;
    if (c->depth && !picture && !viewer && (c->format != FMT_SUMMARY || c->tp != 0))
        return usage_error("--depth shapes the per-module table (summary, .txt), the pictures (.dot, .svg, .png; a "
                           "--tp N plan as .dot) and the viewer (.html): not JSON or a --tp table");
    if (c->unfold && !picture && (c->format != FMT_SUMMARY || c->tp != 0))
        return usage_error("--unfold shapes the per-module table (summary, .txt) and the pictures (.dot, .svg, .png; "
                           "a --tp N plan as .dot): not JSON, a --tp table or the viewer (.html, where a folded "
                           "group unfolds with a double-click)");
    if (c->unfold && !c->depth && !picture)
        return usage_error("--unfold unfolds the per-module table: give --depth N too (or draw a picture: .dot, "
                           ".svg, .png)");
    if (c->module && !picture && !viewer)
        return usage_error("--module shapes the pictures and the viewer: write .dot, .svg, .png or .html (or a --tp N "
                           "plan as .dot)");
    if (c->verbose_labels && !picture)
        return usage_error("--verbose-labels shapes the pictures: write .dot, .svg or .png (or a --tp N plan as .dot)");
    if (c->sz.mem_budget && c->tp != 0)
        return usage_error("--mem sizes the KV capacity of one device in the summary and JSON; it does not "
                           "apply to --tp plans");
    if ((c->json.stable || c->json.compact) && (c->format != FMT_JSON || c->tp < 0))
        return usage_error("--%s shapes the graph JSON document: write JSON (.json or --format json), "
                           "with --tp N or without --tp (not --tp auto)", c->json.stable ? "stable" : "compact");
    /* --cluster alone is --fit; with --tp it prices the plan on that cluster's link */
    if (c->cluster_spec && !c->fit && c->tp == 0)
        c->fit = c->cluster_spec;
    if (c->fit && c->tp != 0)
        return usage_error("--fit enumerates tensor, pipeline, expert and data parallel layouts itself: drop --tp");
    if (c->fit && (c->format == FMT_DOT || c->format == FMT_SVG || c->format == FMT_PNG || c->format == FMT_HTML))
        return usage_error("--fit writes a table (summary, .txt) or JSON (.json), not DOT/SVG/PNG/HTML");
    if (c->fit && (c->depth || c->sz.mem_budget || c->json.stable || c->json.compact || c->sp))
        return usage_error("--fit does not take --depth, --mem (the cluster gives the memory), --stable, --compact "
                           "or --sp");
    if (c->microbatches && !c->fit)
        return usage_error("--microbatches splits the steps of --fit's pipelines: give --fit CLUSTER");
    if (c->all && !(c->tp < 0 || c->fit))
        return usage_error("--all lists the unusable degrees of --tp auto, or the layouts of --fit that do not fit");
    if (c->sp && c->tp == 0) return usage_error("--sp plans sequence parallelism: it needs --tp N or --tp auto");
    if (c->sp && bound_of(c, "seq"))
        return usage_error("--sp splits the symbolic sequence: drop seq from --bind (the plan's bytes are "
                           "per token, at seq=4096 unless bound)");
    if (c->tp < 0 && c->format == FMT_HTML)
        return usage_error("--tp auto lists degrees: write it as JSON or a table, not HTML (the HTML viewer shows "
                           "the plan of one degree: --tp N)");
    return -1;
}

/* --tp auto: the usable degrees 1..64; with --all the others too, with the
 * reason (their per-rank figures are null in JSON, "-" in the table: never 0). */
static mt_status export_auto(const cli *c, mt_model *m, mt_graph *g, bool json, FILE *out)
{
    mt_plan_degree deg[64];
    mt_plan_opts base = {.tp = 1, .style = c->plan_style, .search = MT_SEARCH_BEST, .sequence_parallel = c->sp,
                         .batch = bound_of(c, "batch"), .seq = bound_of(c, "seq"),
                         .cluster = c->has_cluster ? &c->cluster : NULL};
    mt_status st = mt_plan_auto(m, g, &base, 64, deg);
    if (st != MT_OK)
        return st;
    if (json)
        return mt_plan_degrees_export_json(m, deg, 64, c->all, out);
    fprintf(out, "tensor-parallel degrees for %s (%s)%s:\n", mt_model_class(m), mt_model_type(m),
            c->all ? "" : ", the usable ones (--all adds the others with the reason)");
    fprintf(out, "%5s  %-6s  %16s  %18s  %s\n", "tp", "ok", "params/rank (MiB)", "comm (bytes/token)", "note");
    for (int i = 0; i < 64; i++) {
        if (deg[i].valid)
            fprintf(out, "%5d  %-6s  %16.1f  %18.0f  %s\n", deg[i].tp, "yes",
                    deg[i].param_bytes / 1048576.0, deg[i].comm_per_token,
                    deg[i].reason ? deg[i].reason : "");
        else if (c->all)
            fprintf(out, "%5d  %-6s  %16s  %18s  %s\n", deg[i].tp, "no", "-", "-",
                    deg[i].reason ? deg[i].reason : "");
    }
    return MT_OK;
}

/* --tp N: the plan was made (and found usable) before the output was opened. */
static mt_status export_plan(const cli *c, mt_model *m, mt_graph *g, FILE *out)
{
    bool json = c->format == FMT_JSON;
    if (c->tp < 0)
        return export_auto(c, m, g, json, out);
    mt_picture_opts po = {.depth = c->depth, .module = c->module, .unfold = c->unfold,
                          .verbose_labels = c->verbose_labels};
    if (c->format == FMT_DOT)
        return mt_plan_export_dot_opts(c->plan, &po, out);
    if (c->format == FMT_SVG || c->format == FMT_PNG)
        return mt_plan_export_render_opts(c->plan, c->format == FMT_SVG ? "svg" : "png", &po, out);
    return json ? mt_plan_export_graph_json_opts(c->plan, &c->json, out) : mt_plan_print(c->plan, out);
}

/* The interactive viewer, with the plan under --tp N (made before the output
 * was opened). */
static mt_status export_html(const cli *c, mt_model *m, mt_graph *g, FILE *out)
{
    mt_sizing sz;
    if (mt_model_sizing(m, g, &c->sz, &sz) != MT_OK)
        return mt_ctx_status(c->ctx);
    mt_html_opts ho = {.sizing = &sz, .plan = c->tp > 0 ? c->plan : NULL, .module = c->module, .depth = c->depth};
    return mt_export_html(m, g, &ho, out);
}

static mt_status export_to(const cli *c, out_format f, mt_model *m, mt_graph *g, FILE *out)
{
    if (f == FMT_HTML)
        return export_html(c, m, g, out);
    if (c->tp != 0)
        return export_plan(c, m, g, out);
    if (c->fit)
        return f == FMT_JSON ? mt_fit_export_json(c->fitres, c->all, out) : mt_fit_print(c->fitres, c->all, out);
    mt_sizing sz;
    if ((f == FMT_JSON || f == FMT_SUMMARY || f == FMT_NONE) && mt_model_sizing(m, g, &c->sz, &sz) != MT_OK)
        return mt_ctx_status(c->ctx);
    mt_picture_opts po = {.depth = c->depth, .module = c->module, .unfold = c->unfold,
                          .verbose_labels = c->verbose_labels};
    switch (f) {
    case FMT_JSON:
        return mt_export_json_opts(m, g, &sz, &c->json, out);
    case FMT_DOT:
        return mt_export_dot_opts(m, g, &po, out);
    case FMT_SVG:
        return mt_export_render_opts(m, g, "svg", &po, out);
    case FMT_PNG:
        return mt_export_render_opts(m, g, "png", &po, out);
    case FMT_SUMMARY:
    case FMT_NONE:
    case FMT_HTML: /* export_html, above */
        break;
    }
    if (c->depth)
        return mt_export_module_table(m, g, &sz, c->depth, c->unfold, out);
    return mt_export_summary_sized(m, g, &sz, out);
}

/* ---- output ------------------------------------------------------------------------
 *
 * docs/cli.md, "Output safety", states what follows; keep the two in step.
 * - A regular file (or a name that does not exist yet) is replaced atomically:
 *   a temporary ".metatrace-XXXXXX" in the same directory (short, so any
 *   output name that fits NAME_MAX works), written, fsync'ed, renamed over it.
 * - Anything else that exists (character device, FIFO, block device, socket)
 *   is opened for writing and written in place, never replaced or unlinked.
 * - A symlink is followed to its final target, which is what gets written
 *   (replaced in the target's own directory); the link stays a link. A link
 *   or name into /proc/self/fd, /dev/fd or /dev/std{in,out,err} names one of
 *   our descriptors: written through that descriptor.
 * - SVG/PNG are rendered into memory first: Graphviz calls exit(1) when one of
 *   its own writes fails, so it is never handed a file that can fail.
 * - The input config is never the output (same device and inode). */

/* What a signal handler needs must be static: it cannot reach the cli
 * struct. The library has no global mutable state (docs/CONTRIBUTING.md); this
 * is the CLI's process-wide cleanup, set only by write_replace(), and read only
 * by on_signal(). sig_tmp is the temporary's path while sig_tmp_armed is 1. */
#ifndef PATH_MAX
#define PATH_MAX 4096
#endif
static char sig_tmp[PATH_MAX];
static volatile sig_atomic_t sig_tmp_armed;
static const int cleanup_signals[] = {SIGINT, SIGTERM, SIGHUP};

/* Async-signal-safe: unlink() and raise() only. SA_RESETHAND has already put
 * back the default action and SA_NODEFER leaves the signal unblocked, so the
 * raise terminates the process the way the signal would have. */
static void on_signal(int sig)
{
    if (sig_tmp_armed)
        unlink(sig_tmp);
    raise(sig);
}

/* Install on_signal for the cleanup signals, except ones already ignored (a
 * background job started with SIGINT ignored keeps ignoring it). */
static void install_cleanup(void)
{
    for (size_t i = 0; i < COUNT(cleanup_signals); i++) {
        struct sigaction old;
        if (sigaction(cleanup_signals[i], NULL, &old) != 0 || old.sa_handler == SIG_IGN)
            continue;
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = SA_RESETHAND | SA_NODEFER;
        sigaction(cleanup_signals[i], &sa, NULL);
    }
}

/* Block (or restore) the cleanup signals around changes to sig_tmp. */
static void block_cleanup(bool block, sigset_t *saved)
{
    if (block) {
        sigset_t set;
        sigemptyset(&set);
        for (size_t i = 0; i < COUNT(cleanup_signals); i++)
            sigaddset(&set, cleanup_signals[i]);
        sigprocmask(SIG_BLOCK, &set, saved);
    } else {
        sigprocmask(SIG_SETMASK, saved, NULL);
    }
}

/* Remove the temporary (if any) and forget it, signals blocked meanwhile. */
static void drop_tmp(bool remove)
{
    sigset_t saved;
    block_cleanup(true, &saved);
    if (remove && sig_tmp_armed)
        unlink(sig_tmp);
    sig_tmp_armed = 0;
    block_cleanup(false, &saved);
}

/* SVG/PNG go through Graphviz, which exits the process when a write of its own
 * fails: render them into memory (open_memstream) and write the bytes
 * ourselves. Other formats stream straight into the output. */
typedef struct staged {
    bool used;
    char *buf;
    size_t len;
} staged;

/* Graphviz's dot layout grows faster than the picture: a layout expected to
 * take a minute or more (mt_picture_measure's estimate, refused from 45 s on:
 * the estimate is a fit, and the slow cases grow steeply past it) is refused
 * before it starts, with what to draw instead; one of some seconds is
 * announced. */
#define RENDER_REFUSE_SECONDS 45.0
#define RENDER_NOTE_SECONDS 10.0

static int render_guard(const cli *c, mt_model *m, mt_graph *g)
{
    mt_picture_opts po = {.depth = c->depth, .module = c->module, .unfold = c->unfold,
                          .verbose_labels = c->verbose_labels};
    mt_picture_size ps;
    if (mt_picture_measure(m, g, &po, &ps) != MT_OK)
        return input_error(c->ctx);
    double t = ps.layout_seconds;
    if (t > RENDER_REFUSE_SECONDS) {
        error("render: %d nodes and %d edges to lay out: Graphviz would take about %.0f minutes; draw less with "
              "--depth N (e.g. --depth 3) or --module PATH%s, or write the DOT (.dot) and lay it out yourself",
              ps.nodes, ps.edges, t < 90 ? 1 : t / 60.0, c->unfold ? ", keep the folding (drop --unfold)" : "");
        return EXIT_INPUT;
    }
    if (t > RENDER_NOTE_SECONDS)
        fprintf(stderr, PROG ": note: laying out %d nodes and %d edges takes about %.0f seconds\n", ps.nodes, ps.edges, t);
    return 0;
}

static int stage(const cli *c, mt_model *m, mt_graph *g, staged *s)
{
    memset(s, 0, sizeof *s);
    if (c->tp < 0 || (c->format != FMT_SVG && c->format != FMT_PNG))
        return 0;
    s->used = true;
    int rc = render_guard(c, m, g);
    if (rc != 0)
        return rc;
    FILE *mem = open_memstream(&s->buf, &s->len);
    if (!mem) {
        error("rendering into memory: %s", strerror(errno));
        return EXIT_INPUT;
    }
    mt_status st = export_to(c, c->format, m, g, mem);
    int bad = fclose(mem) != 0;
    if (st != MT_OK) {
        free(s->buf);
        s->buf = NULL;
        return input_error(c->ctx);
    }
    if (bad) {
        free(s->buf);
        s->buf = NULL;
        error("rendering into memory: %s", strerror(ENOMEM));
        return EXIT_INPUT;
    }
    return 0;
}

/* Export (or copy the staged bytes) into f and flush it; the error names `name`.
 * Returns 0 or the exit status, the message printed. */
static int emit(const cli *c, mt_model *m, mt_graph *g, const staged *s, FILE *f, const char *name)
{
    errno = 0;
    if (s->used) {
        if (s->len > 0 && fwrite(s->buf, 1, s->len, f) != s->len && !ferror(f))
            errno = EIO;
    } else if (export_to(c, c->format, m, g, f) != MT_OK) {
        /* an exporter's write failure ("writing the JSON document failed") says
         * which file and why */
        if (mt_ctx_status(c->ctx) == MT_ERR_IO && ferror(f)) {
            int e = errno ? errno : EIO;
            error("writing '%s': %s (%s)", name, strerror(e), mt_ctx_errmsg(c->ctx));
            return EXIT_INPUT;
        }
        return input_error(c->ctx);
    }
    if (fflush(f) != 0 || ferror(f)) {
        error("writing '%s': %s", name, strerror(errno ? errno : EIO));
        return EXIT_INPUT;
    }
    return 0;
}

static int write_stdout(const cli *c, mt_model *m, mt_graph *g)
{
    staged s;
    int rc = stage(c, m, g, &s);
    if (rc == 0)
        rc = emit(c, m, g, &s, stdout, "standard output");
    free(s.buf);
    return rc;
}

/* The descriptor a path names ("/dev/stdout", "/dev/fd/3", "/proc/self/fd/3"),
 * or -1. */
static int fd_alias(const char *p)
{
    static const char *const std[] = {"/dev/stdin", "/dev/stdout", "/dev/stderr"};
    for (int i = 0; i < 3; i++)
        if (strcmp(p, std[i]) == 0)
            return i;
    const char *n = NULL;
    if (strncmp(p, "/dev/fd/", 8) == 0)
        n = p + 8;
    else if (strncmp(p, "/proc/self/fd/", 14) == 0)
        n = p + 14;
    if (!n)
        return -1;
    if (strcmp(n, "0") == 0)
        return 0;
    int64_t v = 0;
    return parse_positive(n, &v) && v <= 1000000 ? (int)v : -1;
}

/* Where -o leads: an open descriptor, a file written in place, or a regular
 * file (existing or not) replaced through a temporary. */
typedef struct target {
    const char *path; /* the final target, symlinks followed */
    int fd;           /* >= 0: that descriptor of ours */
    bool exists;
    struct stat st;   /* the target's, when it exists */
} target;

/* Follow symlinks from c->output to what is written. Returns 0 or the exit
 * status, the message printed. */
static int resolve_output(const cli *c, target *t)
{
    memset(t, 0, sizeof *t);
    t->fd = -1;
    const char *p = c->output;
    for (int hops = 0;; hops++) {
        if ((t->fd = fd_alias(p)) >= 0) {
            t->path = p;
            return 0;
        }
        if (lstat(p, &t->st) != 0) {
            if (errno != ENOENT) {
                error("cannot write '%s': %s", c->output, strerror(errno));
                return EXIT_INPUT;
            }
            t->path = p; /* created; a missing directory fails when the temporary is made */
            return 0;
        }
        if (!S_ISLNK(t->st.st_mode))
            break;
        if (hops == 40) {
            error("cannot write '%s': %s", c->output, strerror(ELOOP));
            return EXIT_INPUT;
        }
        char link[PATH_MAX];
        ssize_t n = readlink(p, link, sizeof link - 1);
        if (n < 0 || (size_t)n >= sizeof link - 1) {
            error("cannot write '%s': reading the symlink '%s': %s", c->output, p,
                  strerror(n < 0 ? errno : ENAMETOOLONG));
            return EXIT_INPUT;
        }
        link[n] = 0;
        const char *slash = strrchr(p, '/');
        if (link[0] == '/' || !slash)
            p = mt_strndup(c->ctx, link, (size_t)n);
        else
            p = mt_sprintf(c->ctx, "%.*s/%s", (int)(slash - p), p, link);
        if (!p)
            return input_error(c->ctx);
    }
    t->path = p;
    t->exists = true;
    if (S_ISDIR(t->st.st_mode)) {
        error("cannot write '%s': %s", c->output, strerror(EISDIR));
        return EXIT_INPUT;
    }
    return 0;
}

/* Refuse an output that is the input config (the file mt_config_load reads:
 * CONFIG, CONFIG/config.json for a directory, the snapshot's for a Hub cache
 * folder or model id), compared by device and inode so that hard links,
 * symlinks and "dir/../config.json" are caught. */
static int check_not_config(const cli *c)
{
    struct stat cs, os;
    if (stat(c->output, &os) != 0)
        return 0;
    const char *file = mt_hub_config_path(c->ctx, c->config, c->revision);
    if (!file) {
        mt_error_clear(c->ctx); /* loading the config reports it */
        return 0;
    }
    if (stat(file, &cs) != 0)
        return 0;
    if (cs.st_dev == os.st_dev && cs.st_ino == os.st_ino) {
        error("the output '%s' is the input config '%s': refusing to overwrite it", c->output, file);
        return EXIT_INPUT;
    }
    return 0;
}

/* Write into an existing non-regular file, or one of our descriptors, in
 * place: opened for writing, never created, truncated, replaced or unlinked. */
static int write_in_place(const cli *c, mt_model *m, mt_graph *g, const target *t, const staged *s)
{
    if (t->fd == 1)
        return emit(c, m, g, s, stdout, c->output);
    int fd = t->fd >= 0 ? dup(t->fd) : open(t->path, O_WRONLY | O_NOCTTY);
    FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
    if (!f) {
        error("cannot write '%s': %s", c->output, strerror(errno));
        if (fd >= 0)
            close(fd);
        return EXIT_INPUT;
    }
    int rc = emit(c, m, g, s, f, c->output);
    if (fclose(f) != 0 && rc == 0) {
        error("writing '%s': %s", c->output, strerror(errno));
        rc = EXIT_INPUT;
    }
    return rc;
}

/* Replace the regular file t->path (or create it): a temporary in its
 * directory, written, fsync'ed and renamed over it. On any failure, or on
 * SIGINT/SIGTERM/SIGHUP, the temporary is removed and t->path left as it was. */
static int write_replace(const cli *c, mt_model *m, mt_graph *g, const target *t, const staged *s)
{
    const char *slash = strrchr(t->path, '/');
    int dlen = !slash ? 1 : slash == t->path ? 1 : (int)(slash - t->path);
    const char *dir = !slash ? "." : t->path;
    install_cleanup();
    sigset_t saved;
    block_cleanup(true, &saved);
    int fd = -1, e = ENAMETOOLONG;
    int n = snprintf(sig_tmp, sizeof sig_tmp, "%.*s/.metatrace-XXXXXX", dlen, dir);
    if (n > 0 && (size_t)n < sizeof sig_tmp) {
        fd = mkstemp(sig_tmp);
        e = errno;
        sig_tmp_armed = fd >= 0;
    }
    block_cleanup(false, &saved);
    if (fd < 0) {
        error("cannot write '%s': creating a temporary file beside it: %s", c->output, strerror(e));
        return EXIT_INPUT;
    }
    /* mkstemp makes the file 0600. A replaced file keeps its permission bits
     * (never setuid, setgid or sticky); a new one gets 0666 less the umask. */
    mode_t mode;
    if (t->exists) {
        mode = t->st.st_mode & 0777;
    } else {
        mode_t mask = umask(022);
        umask(mask);
        mode = 0666 & ~mask;
    }
    (void)fchmod(fd, mode);

    FILE *f = fdopen(fd, "wb");
    if (!f) {
        error("cannot write '%s': %s", c->output, strerror(errno));
        close(fd);
        drop_tmp(true);
        return EXIT_INPUT;
    }
    int rc = emit(c, m, g, s, f, c->output);
    if (rc == 0 && fsync(fd) != 0) {
        error("writing '%s': %s", c->output, strerror(errno));
        rc = EXIT_INPUT;
    }
    if (fclose(f) != 0 && rc == 0) {
        error("writing '%s': %s", c->output, strerror(errno));
        rc = EXIT_INPUT;
    }
    if (rc != 0) {
        drop_tmp(true);
        return rc;
    }
    block_cleanup(true, &saved);
    int ok = rename(sig_tmp, t->path) == 0;
    e = errno;
    if (!ok)
        unlink(sig_tmp);
    sig_tmp_armed = 0;
    block_cleanup(false, &saved);
    if (!ok) {
        error("cannot write '%s': %s", c->output, strerror(e));
        return EXIT_INPUT;
    }
    /* The rename is durable once the directory is: best effort. */
    char *d = mt_strndup(c->ctx, dir, (size_t)dlen);
    int dfd = d ? open(d, O_RDONLY) : -1;
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
    return 0;
}

static int write_file(const cli *c, mt_model *m, mt_graph *g, const target *t)
{
    staged s;
    int rc = stage(c, m, g, &s);
    if (rc == 0) {
        if (t->fd >= 0 || (t->exists && !S_ISREG(t->st.st_mode)))
            rc = write_in_place(c, m, g, t, &s);
        else
            rc = write_replace(c, m, g, t, &s);
    }
    free(s.buf);
    return rc;
}

static int run(cli *c)
{
    /* The output is checked before any work: the input config is refused,
     * symlinks are followed, a directory is an error. */
    bool to_file = c->output && strcmp(c->output, "-") != 0;
    target t;
    int rc = to_file ? check_not_config(c) : 0;
    if (rc == 0 && to_file)
        rc = resolve_output(c, &t);
    if (rc != 0)
        return rc;
    /* --fit: the cluster first (a bad spec fails before any work) */
    const char *spec = c->fit ? c->fit : c->cluster_spec;
    if (spec) {
        if (mt_cluster_parse(c->ctx, spec, &c->cluster) != MT_OK)
            return input_error(c->ctx);
        c->has_cluster = true;
    }
    mt_config *cfg = mt_config_load_revision(c->ctx, c->config, c->revision);
    if (!cfg)
        return input_error(c->ctx);
    mt_build_opts bo;
    memset(&bo, 0, sizeof bo);
    bo.dtype = c->dtype;
    bo.num_layers = c->layers;
    bo.attn = c->attn;
    bo.text_only = c->text_only;
    mt_model *m = mt_model_build(c->ctx, cfg, &bo);
    if (!m)
        return input_error(c->ctx);
    /* the summary has a note row; other outputs would not show it */
    if (mt_model_note(m) && c->format != FMT_SUMMARY)
        note("%s", mt_model_note(m));
    mt_trace_opts to;
    memset(&to, 0, sizeof to);
    to.bind.names = c->bind_names;
    to.bind.values = c->bind_values;
    to.bind.n = c->nbind;
    /* --fit sizes at the bound batch and seq itself and needs them symbolic in
     * the graph (decode is evaluated at one token): the other bindings trace */
    const char *fit_names[MAX_BINDINGS];
    int64_t fit_values[MAX_BINDINGS];
    if (c->fit) {
        int n = 0;
        for (int i = 0; i < c->nbind; i++)
            if (strcmp(c->bind_names[i], "batch") != 0 && strcmp(c->bind_names[i], "seq") != 0) {
                fit_names[n] = c->bind_names[i];
                fit_values[n++] = c->bind_values[i];
            }
        to.bind.names = fit_names;
        to.bind.values = fit_values;
        to.bind.n = n;
    }
    mt_graph *g = mt_model_trace(m, &to);
    if (!g)
        return input_error(c->ctx);
    /* A plan or fit is computed before any output is opened: an unusable
     * degree is an error that writes nothing. */
    if (c->tp > 0) {
        mt_plan_opts o = {.tp = c->tp, .style = c->plan_style, .search = MT_SEARCH_BEST, .sequence_parallel = c->sp,
                          .batch = bound_of(c, "batch"), .seq = bound_of(c, "seq"),
                          .cluster = c->has_cluster ? &c->cluster : NULL};
        c->plan = mt_plan_run(m, g, &o);
        if (!c->plan)
            return input_error(c->ctx);
        if (!c->plan->valid) {
            error("--tp %d: the model cannot use this degree: %s (--tp auto lists the usable degrees)", c->tp,
                  c->plan->reason);
            return EXIT_INPUT;
        }
    }
    if (c->fit) {
        mt_fit_opts fo = {.cluster = &c->cluster, .sizing = &c->sz, .batch = bound_of(c, "batch"), .seq = bound_of(c, "seq"),
                          .microbatches = c->microbatches};
        c->fitres = mt_fit_run(m, g, &fo);
        if (!c->fitres)
            return input_error(c->ctx);
    }
    return to_file ? write_file(c, m, g, &t) : write_stdout(c, m, g);
}

/* ---- metatrace diff A.json B.json -------------------------------------------------
 *
 * Compares two graph JSON documents (mt_graph_diff). Exit status as diff(1)
 * and cmp(1): 0 the same, 1 different, 2 trouble (usage, an unreadable file,
 * not a metatrace-graph document, different versions), so that a CI job can
 * tell "different" from "broken". Only the report is written, on stdout. */

static void diff_help(void)
{
    fputs("Usage: " PROG " diff [--format text|json] A.json B.json\n"
          "\n"
          "Compare two metatrace graph JSON documents (indented, --compact or --stable):\n"
          "parameters, buffers and symbols by name, modules by path, nodes by name (shape,\n"
          "dtype, target, op, args, ...), in graph order; then the model, totals and\n"
          "sizing figures that changed. tool and model.config are not compared.\n"
          "\n"
          "  -f, --format FMT    text (default) or json (docs/diff.md)\n"
          "  -h, --help          show this help and exit\n"
          "\n"
          "Exit status: 0 the same, 1 different, 2 trouble (usage error, unreadable\n"
          "file, not a metatrace-graph document, different format versions).\n"
          "A config file named 'diff' is reached as ./diff.\n",
          stdout);
}

static int diff_main(mt_ctx *ctx, int argc, char **argv)
{
    const char *files[2] = {NULL, NULL};
    int nfiles = 0;
    bool json = false, no_more_options = false;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (no_more_options || a[0] != '-' || a[1] == '\0') {
            if (nfiles == 2)
                return usage_error("diff: unexpected argument '%s' (two documents: A.json B.json)", a);
            files[nfiles++] = a;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            no_more_options = true;
            continue;
        }
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            diff_help();
            return fflush(stdout) == 0 && !ferror(stdout) ? 0 : EXIT_USAGE;
        }
        const char *value = NULL;
        if (strcmp(a, "-f") == 0 || strcmp(a, "--format") == 0) {
            if (i + 1 >= argc)
                return usage_error("option '%s' requires an argument", a);
            value = argv[++i];
        } else if (strncmp(a, "--format=", 9) == 0) {
            value = a + 9;
        } else if (strncmp(a, "-f", 2) == 0) {
            value = a + 2;
        } else {
            return usage_error("diff: unknown option '%s' (diff takes --format text|json)", a);
        }
        if (strcmp(value, "json") == 0)
            json = true;
        else if (strcmp(value, "text") == 0)
            json = false;
        else
            return usage_error("diff --format: expected text or json, got '%s'", value);
    }
    if (nfiles < 2)
        return usage_error("diff: expected two graph documents, A.json B.json");
    mt_diff *d = mt_graph_diff(ctx, files[0], files[1]);
    if (!d) {
        error("%s", mt_ctx_errmsg(ctx));
        return EXIT_USAGE;
    }
    if ((json ? mt_diff_print_json(ctx, d, stdout) : mt_diff_print(ctx, d, stdout)) != MT_OK) {
        error("%s", mt_ctx_errmsg(ctx));
        return EXIT_USAGE;
    }
    return d->n == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    cli c;
    memset(&c, 0, sizeof c);
    c.dtype = MT_DTYPE_NONE;
    c.sz.kv_dtype = MT_DTYPE_NONE;
    c.ctx = mt_ctx_new();
    if (!c.ctx) {
        error("out of memory");
        return EXIT_INPUT;
    }
    /* "diff" as the first argument is the subcommand; a config file named
     * diff is ./diff. */
    int rc = argc > 1 && strcmp(argv[1], "diff") == 0 ? diff_main(c.ctx, argc, argv) : parse_args(&c, argc, argv);
    if (rc < 0)
        rc = run(&c);
    mt_ctx_free(c.ctx);
    return rc;
}
