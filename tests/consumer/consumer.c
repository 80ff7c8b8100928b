/* A program that uses metatrace as a library: build, trace, size. Prints what
 * the model is (through the model's accessors: mt_model is opaque to a program
 * that includes metatrace.h only), the parameter count and the KV cache per
 * token; exits 1 on any error. */
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
    int tensors = 0; /* named_parameters() entries that are not tied aliases */
    for (int i = 0; i < mt_model_param_count(m); i++)
        if (!mt_model_param_at(m, i)->tied_to) tensors++;
    printf("metatrace %s: %s %s, %lld layers, %d parameter tensors, %lld parameters, %lld KV bytes per token\n",
           MT_VERSION_STRING, mt_model_type(m), mt_model_class(m), (long long)mt_model_num_layers(m), tensors,
           (long long)t.params, (long long)s.kv_bytes_per_token);
    mt_ctx_free(ctx);
    return 0;
}
