/* One JSON snapshot per registered family, from its tiny config
 * (tests/tiny_configs.h), in tests/snapshots/families/<model_type>.json.
 * UPDATE_SNAPSHOTS=1 rewrites them; a mismatch prints a unified diff.
 * The goldens' content is checked independently: parameter totals against
 * the hand counts in tiny_configs.h (test_families), and every node's shape
 * and dtype against ATen by the oracle's replay of the same tiny configs
 * (oracle_replay_families). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "export_testutil.h"
#include "testutil.h"
#include "tiny_configs.h"

Test(family_snapshots, every_family_matches_its_golden) {
    const char *dir = tu_tmpdir();
    for (int i = 0; i < mt_arch_count(); i++) {
        const mt_arch *a = mt_arch_at(i);
        const tiny_config *t = tiny_for(a->model_type);
        cr_assert_not_null(t, "no tiny config for %s", a->model_type);
        mt_ctx *ctx = mt_ctx_new();
        char label[256];
        snprintf(label, sizeof label, "tiny/%s.config.json", a->model_type);
        mt_config *cfg = mt_config_parse(ctx, t->json, strlen(t->json), label);
        cr_assert_not_null(cfg, "%s: %s", a->model_type, mt_ctx_errmsg(ctx));
        mt_model *m = mt_model_build(ctx, cfg, NULL);
        cr_assert_not_null(m, "%s: %s", a->model_type, mt_ctx_errmsg(ctx));
        mt_graph *g = mt_model_trace(m, NULL);
        cr_assert_not_null(g, "%s: %s", a->model_type, mt_ctx_errmsg(ctx));
        char out[512], golden[256];
        snprintf(out, sizeof out, "%s/%s.json", dir, a->model_type);
        snprintf(golden, sizeof golden, "families/%s.json", a->model_type);
        FILE *f = fopen(out, "wb");
        cr_assert_not_null(f);
        cr_assert_eq(mt_export_json(m, g, f), MT_OK, "%s: %s", a->model_type, mt_ctx_errmsg(ctx));
        cr_assert_eq(fclose(f), 0);
        mt_ctx_free(ctx);
        xt_snapshot(golden, out);
    }
}
