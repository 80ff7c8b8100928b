/* Every JSON document metatrace writes parses with jansson's strict flags:
 * no duplicate keys (strict parsers reject them; BERT's decoder once carried
 * "bias" twice), for every family's tiny config and every shipped config. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "tiny_configs.h"

static void strict_parse(mt_model *m, mt_graph *g, const char *what) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cr_assert_not_null(f);
    cr_assert_eq(mt_export_json(m, g, f), MT_OK, "%s: %s", what, mt_ctx_errmsg(m->ctx));
    cr_assert_eq(fclose(f), 0);
    json_error_t e;
    json_t *doc = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &e);
    cr_assert_not_null(doc, "%s: line %d: %s", what, e.line, e.text);
    json_decref(doc);
    free(buf);
}

Test(json_strict, every_family_without_duplicate_keys)
{
    for (int i = 0; i < TINY_CONFIG_COUNT; i++) {
        mt_ctx *ctx = mt_ctx_new();
        mt_model *m = tu_build_text(ctx, tiny_configs[i].json, 0);
        strict_parse(m, tu_trace(m), tiny_configs[i].model_type);
        mt_ctx_free(ctx);
    }
}

Test(json_strict, every_shipped_config_without_duplicate_keys)
{
    const char *const *names;
    int n = tu_shipped_configs(&names);
    cr_assert_gt(n, 10);
    for (int i = 0; i < n; i++) {
        mt_ctx *ctx = mt_ctx_new();
        mt_model *m = tu_build(ctx, tu_src(names[i]), 2);
        strict_parse(m, tu_trace(m), names[i]);
        mt_ctx_free(ctx);
    }
}
