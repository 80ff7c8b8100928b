/* metatrace benchmark: prints figures, asserts nothing (targets are read by
 * people; see docs/benchmarks.md).
 *
 * For each config: in-process stage times (config -> model -> trace -> JSON,
 * -> DOT, the default folded picture) as medians over several runs, nodes per second, context memory; then
 * the whole CLI run as a subprocess (wall time median, child peak RSS). */
#define _DEFAULT_SOURCE 1 /* wait4 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <metatrace/metatrace.h>

#ifndef MT_SOURCE_DIR
#define MT_SOURCE_DIR "."
#endif

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmpd(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmpd);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

#define RUNS 9

typedef struct stage_times {
    double cfg, build, trace, sizing, json, dot;
    int nodes;
    size_t peak;
} stage_times;

static int run_once(const char *path, int64_t layers, stage_times *t) {
    mt_ctx *ctx = mt_ctx_new();
    double t0 = now_ms();
    mt_config *cfg = mt_config_load(ctx, path);
    double t1 = now_ms();
    mt_build_opts o = {.dtype = MT_DTYPE_NONE, .num_layers = layers};
    mt_model *m = cfg ? mt_model_build(ctx, cfg, &o) : NULL;
    double t2 = now_ms();
    mt_graph *g = m ? mt_model_trace(m, NULL) : NULL;
    double t3 = now_ms();
    if (!g) {
        fprintf(stderr, "bench: %s: %s\n", path, mt_ctx_errmsg(ctx));
        mt_ctx_free(ctx);
        return -1;
    }
    mt_sizing sz;
    if (mt_model_sizing(m, g, NULL, &sz) != MT_OK) {
        fprintf(stderr, "bench: %s: sizing: %s\n", path, mt_ctx_errmsg(ctx));
        mt_ctx_free(ctx);
        return -1;
    }
    double t3s = now_ms();
    FILE *devnull = fopen("/dev/null", "w");
    mt_export_json_sized(m, g, &sz, devnull);
    double t4 = now_ms();
    mt_picture_opts po = {.sizing = &sz}; /* the default picture, FLOPs from the pass timed above */
    mt_export_dot_opts(m, g, &po, devnull);
    double t5 = now_ms();
    fclose(devnull);
    t->cfg = t1 - t0;
    t->build = t2 - t1;
    t->trace = t3 - t2;
    t->sizing = t3s - t3;
    t->json = t4 - t3s;
    t->dot = t5 - t4;
    t->nodes = g->n;
    t->peak = mt_ctx_peak_bytes(ctx);
    mt_ctx_free(ctx);
    return 0;
}

/* Whole CLI as a child: wall time and the child's peak RSS. */
/* `cli path -o out`, or with out NULL `cli path --tp auto` (stdout to /dev/null). */
static int run_cli(const char *cli, const char *path, const char *out, double *ms, long *rss_kb) {
    /* A child's freopen (below) or exit would flush a copy of our buffered
     * lines into the same pipe: nothing may be pending when we fork. */
    fflush(stdout);
    fflush(stderr);
    double t0 = now_ms();
    pid_t pid = fork();
    if (pid == 0) {
        if (out) execl(cli, cli, path, "-o", out, (char *)NULL);
        if (!freopen("/dev/null", "w", stdout)) _exit(127);
        execl(cli, cli, path, "--tp", "auto", (char *)NULL);
        _exit(127);
    }
    int st;
    struct rusage ru;
    if (wait4(pid, &st, 0, &ru) < 0) return -1;
    *ms = now_ms() - t0;
    *rss_kb = ru.ru_maxrss;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static void bench(const char *label, const char *path, const char *cli, int64_t layers) {
    double c[RUNS], b[RUNS], tr[RUNS], sz[RUNS], j[RUNS], d[RUNS];
    stage_times t = {0};
    for (int i = 0; i < RUNS; i++) {
        if (run_once(path, layers, &t) != 0) return;
        c[i] = t.cfg; b[i] = t.build; tr[i] = t.trace; sz[i] = t.sizing; j[i] = t.json; d[i] = t.dot;
    }
    double mt = median(tr, RUNS);
    printf("%-24s layers=%-4lld nodes=%-6d config %6.2f ms  build %6.2f ms  trace %6.2f ms "
           "(%.2f M nodes/s)  sizing %6.2f ms (%.0f%% of the trace)  json %6.2f ms  dot %6.2f ms  ctx peak %.1f MiB\n",
           label, (long long)layers, t.nodes, median(c, RUNS), median(b, RUNS), mt,
           t.nodes / mt / 1e3, median(sz, RUNS), 100.0 * median(sz, RUNS) / mt, median(j, RUNS), median(d, RUNS),
           t.peak / 1048576.0);
    if (!cli) return;
    const char *fmts[2] = {"json", "dot"};
    for (int f = 0; f < 2; f++) {
        char out[256];
        snprintf(out, sizeof out, "/tmp/mt-bench-%d.%s", (int)getpid(), fmts[f]);
        double w[RUNS];
        long rss = 0, r;
        for (int i = 0; i < RUNS; i++) {
            if (run_cli(cli, path, out, &w[i], &r) != 0) {
                fprintf(stderr, "bench: CLI failed on %s\n", path);
                return;
            }
            if (r > rss) rss = r;
        }
        printf("%-24s CLI -> %-4s median %7.2f ms  peak RSS %6.1f MiB\n", label, fmts[f],
               median(w, RUNS), rss / 1024.0);
        unlink(out);
    }
}

/* `metatrace CONFIG --tp auto` (trace + plans for degrees 1..64) on every
 * shipped config: the issue 5 target is "well under a second" for each. */
#include <dirent.h>
static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void bench_tp_auto(const char *cli) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/samples/configs", MT_SOURCE_DIR);
    DIR *d = opendir(dir);
    if (!d) return;
    char *names[64];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 64) {
        size_t len = strlen(e->d_name);
        if (len > 12 && strcmp(e->d_name + len - 12, ".config.json") == 0) names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, by_name);
    printf("--tp auto (CLI, medians of %d runs):\n", RUNS / 3);
    for (int k = 0; k < n; k++) {
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, names[k]);
        double w[RUNS];
        long rss = 0, r;
        int ok = 1;
        for (int i = 0; i < RUNS / 3 && ok; i++) {
            ok = run_cli(cli, path, NULL, &w[i], &r) == 0;
            if (r > rss) rss = r;
        }
        if (ok) printf("  %-58s %8.1f ms  peak RSS %6.1f MiB\n", names[k], median(w, RUNS / 3), rss / 1024.0);
        else printf("  %-58s FAILED\n", names[k]);
        free(names[k]);
    }
}

/* `mt_bench --once CONFIG`: config -> model -> trace -> sizing once, for
 * tests/bench/sizing-share.sh to count instructions under callgrind. */
static int once(const char *path) {
    mt_ctx *ctx = mt_ctx_new();
    mt_config *cfg = ctx ? mt_config_load(ctx, path) : NULL;
    mt_build_opts o = {.dtype = MT_DTYPE_NONE};
    mt_model *m = cfg ? mt_model_build(ctx, cfg, &o) : NULL;
    mt_graph *g = m ? mt_model_trace(m, NULL) : NULL;
    mt_sizing sz;
    int rc = g && mt_model_sizing(m, g, NULL, &sz) == MT_OK ? 0 : 1;
    if (rc) fprintf(stderr, "bench: %s: %s\n", path, ctx ? mt_ctx_errmsg(ctx) : "out of memory");
    else printf("%s: %d nodes\n", path, g->n);
    mt_ctx_free(ctx);
    return rc;
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "--once") == 0) return once(argv[2]);
    const char *cli = argc > 1 ? argv[1] : NULL;
    char cli_buf[1024];
    if (!cli) {
        /* default: the CLI next to this program */
        ssize_t n = readlink("/proc/self/exe", cli_buf, sizeof cli_buf - 16);
        if (n > 0) {
            cli_buf[n] = 0;
            char *slash = strrchr(cli_buf, '/');
            if (slash) strcpy(slash + 1, "metatrace");
            cli = cli_buf;
        }
    }
    char p70[1024], p405[1024];
    snprintf(p70, sizeof p70, "%s/tests/bench/configs/llama-2-70b.config.json", MT_SOURCE_DIR);
    snprintf(p405, sizeof p405, "%s/tests/bench/configs/llama-3.1-405b.config.json", MT_SOURCE_DIR);
    printf("metatrace %s benchmark (medians of %d runs)\n", MT_VERSION_STRING, RUNS);
    bench("Llama-2-70B", p70, cli, 0);
    bench("Llama-3.1-405B", p405, cli, 0);
    /* linearity: same config at growing depth */
    printf("linearity (Llama-3.1-405B widths):\n");
    int64_t depths[4] = {16, 32, 64, 126};
    for (int i = 0; i < 4; i++) bench("  405B-shape", p405, NULL, depths[i]);
    if (cli) bench_tp_auto(cli);
    return 0;
}
