/* metatrace — GPU presets, cluster specs and files, collective costs
 * (include/metatrace/fit.h). Every figure of the presets is cited in
 * docs/plan.md, "Clusters": memory, dense tensor throughput and memory
 * bandwidth from the vendors' datasheets, links from the datasheets and the
 * vendors' reference servers (DGX/HGX); latencies are stated assumptions. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>
#include <metatrace/fit.h>

#define GiB (1024.0 * 1024.0 * 1024.0)
#define T12 1e12
#define G9 1e9
#define US 1e-6

/* Bandwidths per direction: NVLink 4 is 900 GB/s bidirectional per GPU (450
 * each way), NVLink 3 600 (300), NVLink 5 1.8 TB/s (900), MI300X's seven
 * xGMI links 64 GB/s each way (448), PCIe Gen4 x16 64 GB/s bidirectional (32).
 * Networks: one 400 Gb/s NIC per GPU (DGX H100/H200/B200, 50 GB/s), one 200
 * Gb/s per GPU (DGX A100, 25 GB/s). Dense throughput is half the datasheets'
 * "with sparsity" figures. */
static const mt_gpu_spec PRESETS[] = {
    {"H100", "NVIDIA H100 SXM5 80 GB", (int64_t)(80 * GiB), 989.4 * T12, 1978.9 * T12, 3.35 * T12,
     "NVLink 4 (900 GB/s bidirectional)", 450 * G9, 5 * US, "400 Gb/s InfiniBand per GPU", 50 * G9, 10 * US, 8},
    {"H200", "NVIDIA H200 SXM 141 GB", (int64_t)(141 * GiB), 989.4 * T12, 1978.9 * T12, 4.8 * T12,
     "NVLink 4 (900 GB/s bidirectional)", 450 * G9, 5 * US, "400 Gb/s InfiniBand per GPU", 50 * G9, 10 * US, 8},
    {"A100-80GB", "NVIDIA A100 SXM4 80 GB", (int64_t)(80 * GiB), 312 * T12, 0, 2.039 * T12,
     "NVLink 3 (600 GB/s bidirectional)", 300 * G9, 5 * US, "200 Gb/s InfiniBand per GPU", 25 * G9, 10 * US, 8},
    {"A100-40GB", "NVIDIA A100 SXM4 40 GB", (int64_t)(40 * GiB), 312 * T12, 0, 1.555 * T12,
     "NVLink 3 (600 GB/s bidirectional)", 300 * G9, 5 * US, "200 Gb/s InfiniBand per GPU", 25 * G9, 10 * US, 8},
    {"B200", "NVIDIA B200 (HGX/DGX B200) 180 GB", (int64_t)(180 * GiB), 2250 * T12, 4500 * T12, 8.0 * T12,
     "NVLink 5 (1.8 TB/s bidirectional)", 900 * G9, 5 * US, "400 Gb/s InfiniBand per GPU", 50 * G9, 10 * US, 8},
    {"MI300X", "AMD Instinct MI300X 192 GB", (int64_t)(192 * GiB), 1307.4 * T12, 2614.9 * T12, 5.3 * T12,
     "xGMI Infinity Fabric (7 x 64 GB/s each way)", 448 * G9, 5 * US, "400 Gb/s network per GPU", 50 * G9, 10 * US,
     8},
    {"L40S", "NVIDIA L40S 48 GB (PCIe)", (int64_t)(48 * GiB), 362.05 * T12, 733 * T12, 0.864 * T12,
     "PCIe Gen4 x16 (64 GB/s bidirectional)", 32 * G9, 10 * US, "200 Gb/s network per GPU", 25 * G9, 10 * US, 8},
};
#define NPRESETS ((int)(sizeof PRESETS / sizeof PRESETS[0]))

const mt_gpu_spec *mt_gpu_presets(int *n) {
    if (n) *n = NPRESETS;
    return PRESETS;
}

mt_fit_params mt_fit_default_params(void) {
    return (mt_fit_params){.compute_efficiency = 0.6,
                           .memory_efficiency = 0.8,
                           .link_efficiency = 0.8,
                           .mem_utilization = 0.9,
                           .default_seq = 4096};
}

double mt_collective_seconds(mt_comm_kind kind, int p, double bytes, double alpha, double beta) {
    if (p <= 1 || beta <= 0) return 0;
    double f = (double)(p - 1) / (double)p;
    if (kind == MT_COMM_ALL_REDUCE) f *= 2;
    return alpha + f * bytes / beta;
}

static bool name_eq(const char *a, size_t n, const char *b) {
    if (strlen(b) != n) return false;
    for (size_t i = 0; i < n; i++)
        if (tolower((unsigned char)a[i]) != tolower((unsigned char)b[i])) return false;
    return true;
}

/* A preset by name (case-insensitive; "A100" is the 80 GB one). */
static const mt_gpu_spec *preset(const char *s, size_t n) {
    for (int i = 0; i < NPRESETS; i++)
        if (name_eq(s, n, PRESETS[i].name)) return &PRESETS[i];
    if (name_eq(s, n, "A100")) return &PRESETS[2];
    return NULL;
}

static const char *preset_list(mt_ctx *ctx) {
    const char *s = "";
    for (int i = 0; i < NPRESETS; i++) s = mt_sprintf(ctx, "%s%s%s", s, i ? ", " : "", PRESETS[i].name);
    return s;
}

/* "123" -> 123 (1..100000), else -1. */
static int count_of(const char *s, size_t n) {
    if (n == 0 || n > 6) return -1;
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v >= 1 && v <= 100000 ? v : -1;
}

/* [NODESx][GPUSx]NAME */
static mt_status parse_spec(mt_ctx *ctx, const char *spec, mt_cluster *out) {
    const char *parts[3];
    size_t lens[3];
    int np = 0;
    const char *p = spec;
    for (;;) {
        const char *x = strpbrk(p, "xX");
        /* a count is digits followed by 'x'; anything else starts the name */
        if (!x || np == 2 || count_of(p, (size_t)(x - p)) < 0) break;
        parts[np] = p;
        lens[np++] = (size_t)(x - p);
        p = x + 1;
    }
    const mt_gpu_spec *g = preset(p, strlen(p));
    if (!g)
        return mt_fail(ctx, MT_ERR_USAGE,
                       "cluster '%s': expected [NODESx][GPUSx]GPU (8xH100, 2x8xH100) with GPU one of %s, or a "
                       "cluster JSON file (docs/plan.md, Clusters)",
                       spec, preset_list(ctx));
    memset(out, 0, sizeof *out);
    out->gpu = *g;
    out->nodes = 1;
    out->gpus_per_node = g->gpus_per_node;
    if (np == 1) {
        out->gpus_per_node = count_of(parts[0], lens[0]);
    } else if (np == 2) {
        out->nodes = count_of(parts[0], lens[0]);
        out->gpus_per_node = count_of(parts[1], lens[1]);
    }
    if (out->gpus_per_node > g->gpus_per_node && out->nodes == 1 && np == 1)
        return mt_fail(ctx, MT_ERR_USAGE,
                       "cluster '%s': one %s node holds %d GPUs; write NODESxGPUSx%s for more (e.g. %dx%dx%s)", spec,
                       g->name, g->gpus_per_node, g->name, (out->gpus_per_node + g->gpus_per_node - 1) / g->gpus_per_node,
                       g->gpus_per_node, g->name);
    if (out->gpus_per_node > g->gpus_per_node)
        return mt_fail(ctx, MT_ERR_USAGE, "cluster '%s': one %s node holds at most %d GPUs", spec, g->name,
                       g->gpus_per_node);
    out->name = mt_sprintf(ctx, "%s%dx%s", out->nodes > 1 ? mt_sprintf(ctx, "%dx", out->nodes) : "",
                           out->gpus_per_node, g->name);
    return out->name ? MT_OK : mt_ctx_status(ctx);
}

/* A positive number at `field` (absent: keep *v). */
static bool pos_num(mt_config *c, const char *field, double scale, double *v) {
    if (!mt_config_has(c, field)) return true;
    double d;
    if (!mt_config_float(c, field, 0, &d)) return false;
    if (!(d > 0) || d > 1e9) {
        mt_config_error(c, field, "expected a positive number, got %g", d);
        return false;
    }
    *v = d * scale;
    return true;
}

/* The GPU fields of an object (the top level or "gpu"), over *g. */
static bool gpu_fields(mt_config *c, mt_gpu_spec *g) {
    double mem = (double)g->mem_bytes;
    if (!pos_num(c, "memory_gib", GiB, &mem) || !pos_num(c, "bf16_tflops", T12, &g->bf16_flops) ||
        !pos_num(c, "fp8_tflops", T12, &g->fp8_flops) || !pos_num(c, "memory_bandwidth_gbps", G9, &g->mem_bw) ||
        !pos_num(c, "intra_node_gbps", G9, &g->intra_bw) || !pos_num(c, "intra_node_latency_us", US, &g->intra_lat) ||
        !pos_num(c, "inter_node_gbps", G9, &g->inter_bw) || !pos_num(c, "inter_node_latency_us", US, &g->inter_lat))
        return false;
    g->mem_bytes = (int64_t)mem;
    return true;
}

static const char *const GPU_KEYS[] = {"name",          "memory_gib",          "bf16_tflops",
                                       "fp8_tflops",    "memory_bandwidth_gbps", "intra_node_gbps",
                                       "intra_node_latency_us", "inter_node_gbps", "inter_node_latency_us",
                                       NULL};
static const char *const TOP_KEYS[] = {"nodes", "gpus_per_node", "gpu", NULL};

static bool known(const char *k, const char *const *a, const char *const *b) {
    for (int i = 0; a && a[i]; i++)
        if (strcmp(a[i], k) == 0) return true;
    for (int i = 0; b && b[i]; i++)
        if (strcmp(b[i], k) == 0) return true;
    return false;
}

/* Unknown keys are errors: a misspelt "memory_gb" must not be ignored.
 * prefix NULL: the top level (the GPU fields may stand there too). */
static bool check_keys(mt_config *c, const char *prefix) {
    json_t *obj = mt_config_json(c, prefix ? prefix : "");
    const char *const *extra = prefix ? NULL : TOP_KEYS;
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v) {
        (void)v;
        if (!known(k, GPU_KEYS, extra)) {
            mt_ctx *ctx = mt_config_ctx(c);
            mt_config_error(c, prefix ? mt_sprintf(ctx, "%s.%s", prefix, k) : k, "unknown field (expected one of: %s%s)",
                         prefix ? "" : "nodes, gpus_per_node, gpu, ",
                         "name, memory_gib, bf16_tflops, fp8_tflops, memory_bandwidth_gbps, intra_node_gbps, "
                         "intra_node_latency_us, inter_node_gbps, inter_node_latency_us");
            return false;
        }
    }
    return true;
}

static mt_status load_file(mt_ctx *ctx, const char *path, mt_cluster *out) {
    mt_config *c = mt_config_load(ctx, path);
    if (!c) return mt_ctx_status(ctx);
    memset(out, 0, sizeof *out);
    if (!json_is_object((json_t *)mt_config_json(c, ""))) {
        mt_config_error(c, NULL, "a cluster file holds one JSON object (docs/plan.md, Clusters)");
        return mt_ctx_status(ctx);
    }
    if (!check_keys(c, NULL)) return mt_ctx_status(ctx);
    /* the GPU: a preset name, an object (optionally naming a preset to start from), or top-level fields */
    mt_gpu_spec g = {0};
    bool have = false;
    json_t *gj = mt_config_json(c, "gpu");
    const char *base = NULL;
    if (gj && json_is_string(gj)) {
        base = json_string_value(gj);
    } else if (gj && json_is_object(gj)) {
        json_t *n = json_object_get(gj, "name");
        if (n && !json_is_string(n)) {
            mt_config_error(c, "gpu.name", "expected a string");
            return mt_ctx_status(ctx);
        }
        if (n) base = json_string_value(n);
        if (!check_keys(c, "gpu")) return mt_ctx_status(ctx);
    } else if (gj) {
        mt_config_error(c, "gpu", "expected a preset name (%s) or an object of GPU figures", preset_list(ctx));
        return mt_ctx_status(ctx);
    }
    if (base) {
        const mt_gpu_spec *p = preset(base, strlen(base));
        if (p) {
            g = *p;
            have = true;
        } else if (gj && json_is_string(gj)) {
            mt_config_error(c, "gpu", "unknown GPU '%s' (presets: %s); give its figures in an object instead", base,
                         preset_list(ctx));
            return mt_ctx_status(ctx);
        } else {
            g.name = mt_strdup(ctx, base);
            g.description = g.name;
        }
    }
    if (!g.name) g.name = g.description = "custom";
    if (!g.intra_link) g.intra_link = "intra-node link";
    if (!g.inter_link) g.inter_link = "network";
    mt_config *gc = gj && json_is_object(gj) ? mt_config_sub(c, "gpu") : NULL;
    if ((gc && !gpu_fields(gc, &g)) || !gpu_fields(c, &g)) return mt_ctx_status(ctx);
    /* every figure a cost needs must be known */
    static const char *const need[] = {"memory_gib", "bf16_tflops", "memory_bandwidth_gbps", "intra_node_gbps",
                                       "inter_node_gbps"};
    double vals[] = {(double)g.mem_bytes, g.bf16_flops, g.mem_bw, g.intra_bw, g.inter_bw};
    for (int i = 0; i < 5; i++)
        if (!(vals[i] > 0)) {
            mt_config_error(c, gj && json_is_object(gj) ? "gpu" : NULL,
                         "the GPU needs '%s' (or \"gpu\": a preset name: %s)", need[i], preset_list(ctx));
            return mt_ctx_status(ctx);
        }
    if (!have && !(g.intra_lat > 0)) g.intra_lat = 5 * US;
    if (!have && !(g.inter_lat > 0)) g.inter_lat = 10 * US;
    int64_t nodes = 1, gpn = have ? g.gpus_per_node : 0;
    if (!mt_config_pos_int(c, "nodes", 1, &nodes)) return mt_ctx_status(ctx);
    if (!mt_config_pos_int(c, "gpus_per_node", gpn, &gpn)) return mt_ctx_status(ctx);
    if (nodes > 100000 || gpn > 1024) {
        mt_config_error(c, nodes > 100000 ? "nodes" : "gpus_per_node", "expected at most %s",
                     nodes > 100000 ? "100000 nodes" : "1024 GPUs per node");
        return mt_ctx_status(ctx);
    }
    const char *name = NULL;
    if (!mt_config_str(c, "name", NULL, &name)) return mt_ctx_status(ctx);
    g.gpus_per_node = (int)gpn;
    out->gpu = g;
    out->nodes = (int)nodes;
    out->gpus_per_node = (int)gpn;
    out->name = name ? mt_strdup(ctx, name) : mt_sprintf(ctx, "%lldx%lldx%s", (long long)nodes, (long long)gpn, g.name);
    return MT_OK;
}

mt_status mt_cluster_parse(mt_ctx *ctx, const char *spec, mt_cluster *out) {
    if (!ctx || !spec || !out) return MT_ERR_USAGE;
    size_t n = strlen(spec);
    struct stat st;
    bool file = (n > 5 && strcmp(spec + n - 5, ".json") == 0) || strchr(spec, '/') != NULL ||
                (stat(spec, &st) == 0 && S_ISREG(st.st_mode));
    return file ? load_file(ctx, spec, out) : parse_spec(ctx, spec, out);
}
