/* A program that uses metatrace as a library: build, trace, size. Prints the
 * parameter count and the KV cache per token; exits 1 on any error. */
#include <stdio.h>

#include <metatrace/metatrace.h>

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: consumer CONFIG\n");
        return 2;
    }
    mt_ctx *ctx = mt_ctx_new();
    mt_config *cfg = mt_config_load(ctx, argv[1]);
    mt_model *m = cfg ? mt_model_build(ctx, cfg, NULL) : NULL;
    mt_graph *g = m ? mt_model_trace(m, NULL) : NULL;
    mt_totals t;
    mt_sizing s;
    if (!g || mt_model_totals(m, &t) != MT_OK || mt_model_sizing(m, g, NULL, &s) != MT_OK) {
        fprintf(stderr, "consumer: %s\n", mt_ctx_errmsg(ctx));
        mt_ctx_free(ctx);
        return 1;
    }
    printf("metatrace %s: %lld parameters, %lld KV bytes per token\n", MT_VERSION_STRING, (long long)t.params,
           (long long)s.kv_bytes_per_token);
    mt_ctx_free(ctx);
    return 0;
}
