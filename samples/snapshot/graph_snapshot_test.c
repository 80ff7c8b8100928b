/* A graph snapshot test, as a user would write one for CI.
 *
 *   graph_snapshot_test CONFIG SNAPSHOT [LAYERS]
 *
 * Builds CONFIG (LAYERS layers, default 2, to keep the snapshot small),
 * exports its graph as stable JSON (no directory in model.config, no tool
 * version: the same bytes on every machine) and compares it with the
 * committed SNAPSHOT through mt_graph_diff_mem. On drift it prints the diff,
 * in graph order, and fails.
 *
 * Exit status: 0 the graph matches the snapshot, 1 it drifted, 2 trouble
 * (the config, the snapshot or the export failed).
 *
 * To accept a drift, review the printed diff, then rewrite the snapshot:
 *   UPDATE_SNAPSHOTS=1 graph_snapshot_test CONFIG SNAPSHOT
 * or, with the CLI (the same bytes):
 *   metatrace CONFIG --layers 2 --stable -o SNAPSHOT */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <metatrace/metatrace.h>

/* The whole stream from the start, NUL-terminated (malloc'd), or NULL. */
static char *slurp(FILE *f, size_t *len)
{
    if (fseek(f, 0, SEEK_END) != 0)
        return NULL;
    long n = ftell(f);
    if (n < 0 || fseek(f, 0, SEEK_SET) != 0)
        return NULL;
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        return NULL;
    }
    if (buf) {
        buf[n] = 0;
        *len = (size_t)n;
    }
    return buf;
}

static int fail(mt_ctx *ctx, const char *what)
{
    fprintf(stderr, "graph_snapshot_test: %s: %s\n", what, mt_ctx_errmsg(ctx));
    mt_ctx_free(ctx);
    return 2;
}

int main(int argc, char **argv)
{
    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: %s CONFIG SNAPSHOT [LAYERS]\n", argv[0]);
        return 2;
    }
    const char *config = argv[1], *snapshot = argv[2];
    long layers = argc == 4 ? strtol(argv[3], NULL, 10) : 2;

    mt_ctx *ctx = mt_ctx_new();
    if (!ctx)
        return 2;
    mt_config *cfg = mt_config_load(ctx, config);
    mt_build_opts bo = {.dtype = MT_DTYPE_NONE, .num_layers = layers};
    mt_model *m = cfg ? mt_model_build(ctx, cfg, &bo) : NULL;
    mt_trace_opts to = {{NULL, NULL, 0}};
    mt_graph *g = m ? mt_model_trace(m, &to) : NULL;
    if (!g)
        return fail(ctx, config);

    /* The stable export, into a temporary file. */
    FILE *tmp = tmpfile();
    mt_json_opts opts = {.stable = true, .compact = false};
    if (!tmp)
        return fail(ctx, "tmpfile");
    if (mt_export_json_opts(m, g, NULL, &opts, tmp) != MT_OK) {
        fclose(tmp);
        return fail(ctx, "export");
    }
    size_t now_len = 0;
    char *now = slurp(tmp, &now_len);
    fclose(tmp);
    if (!now)
        return fail(ctx, "reading the export back");

    const char *update = getenv("UPDATE_SNAPSHOTS");
    if (update && strcmp(update, "1") == 0) {
        FILE *f = fopen(snapshot, "wb");
        int ok = f && fwrite(now, 1, now_len, f) == now_len;
        ok = f && fclose(f) == 0 && ok;
        free(now);
        mt_ctx_free(ctx);
        fprintf(stderr, "%s %s\n", ok ? "wrote" : "cannot write", snapshot);
        return ok ? 0 : 2;
    }

    FILE *f = fopen(snapshot, "rb");
    size_t want_len = 0;
    char *want = f ? slurp(f, &want_len) : NULL;
    if (f)
        fclose(f);
    if (!want) {
        fprintf(stderr, "graph_snapshot_test: cannot read the snapshot %s (UPDATE_SNAPSHOTS=1 writes it)\n",
                snapshot);
        free(now);
        mt_ctx_free(ctx);
        return 2;
    }

    mt_diff *d = mt_graph_diff_mem(ctx, snapshot, want, want_len, "the graph now", now, now_len);
    int rc;
    if (!d) {
        rc = fail(ctx, "comparing");
        ctx = NULL;
    } else if (d->n == 0) {
        printf("%s: %d nodes, matches %s\n", config, g->n, snapshot);
        rc = 0;
    } else {
        printf("snapshot drift: the graph of %s no longer matches %s\n", config, snapshot);
        mt_diff_print(ctx, d, stdout);
        printf("review the changes above; if they are intended: UPDATE_SNAPSHOTS=1 %s %s %s\n", argv[0], config,
               snapshot);
        rc = 1;
    }
    free(now);
    free(want);
    if (ctx)
        mt_ctx_free(ctx);
    return rc;
}
