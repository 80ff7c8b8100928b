/* CONFIG as users have it: a Hugging Face Hub cache folder or a model id,
 * resolved offline (src/hub.c). Each test builds a fake cache laid out as
 * huggingface_hub lays it out (refs/<name> holds a commit, snapshots/<commit>/
 * the files) and points the environment at it. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

static const char *const tiny =
    "{\"model_type\": \"llama\", \"vocab_size\": 64, \"hidden_size\": 32, \"intermediate_size\": 64, "
    "\"num_hidden_layers\": 1, \"num_attention_heads\": 2}";

static char *join(const char *a, const char *b) {
    size_t n = strlen(a) + strlen(b) + 2;
    char *s = malloc(n);
    snprintf(s, n, "%s/%s", a, b);
    return s;
}

static void mkdirs(const char *path) {
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(buf, 0755);
            *p = '/';
        }
    mkdir(buf, 0755);
}

/* hub/models--org--name with refs/main -> commit "abc123" holding config.json,
 * and an older snapshot "old456" (no ref). Returns the hub dir. */
static char *fake_hub(void) {
    char *hub = join(tu_tmpdir(), "hub");
    char *repo = join(hub, "models--acme--tiny-llama");
    char *snap = join(repo, "snapshots/abc123");
    char *old = join(repo, "snapshots/old456");
    char *refs = join(repo, "refs");
    mkdirs(snap);
    mkdirs(old);
    mkdirs(refs);
    tu_write(snap, "config.json", tiny);
    tu_write(old, "config.json", tiny);
    tu_write(refs, "main", "abc123\n");
    free(repo);
    free(snap);
    free(old);
    free(refs);
    return hub;
}

static void load_ok(const char *spec, const char *rev, const char *ends_with) {
    mt_ctx *ctx = mt_ctx_new();
    mt_config *c = mt_config_load_revision(ctx, spec, rev);
    cr_assert_not_null(c, "%s: %s", spec, mt_ctx_errmsg(ctx));
    const char *p = mt_config_path(c);
    size_t n = strlen(p), k = strlen(ends_with);
    cr_assert(n >= k && strcmp(p + n - k, ends_with) == 0, "%s read %s", spec, p);
    mt_ctx_free(ctx);
}

static void load_fails(const char *spec, const char *rev, const char *needle) {
    mt_ctx *ctx = mt_ctx_new();
    cr_assert_null(mt_config_load_revision(ctx, spec, rev), "%s loaded", spec);
    cr_assert_not_null(strstr(mt_ctx_errmsg(ctx), needle), "%s: %s", spec, mt_ctx_errmsg(ctx));
    mt_ctx_free(ctx);
}

Test(hub, cache_folder_follows_refs_main)
{
    char *hub = fake_hub();
    char *repo = join(hub, "models--acme--tiny-llama");
    load_ok(repo, NULL, "models--acme--tiny-llama/snapshots/abc123/config.json");
    load_ok(repo, "old456", "snapshots/old456/config.json");
    load_fails(repo, "v2", "revision 'v2' is neither in refs/ nor a snapshot in snapshots/");
    load_fails(repo, "../x", "revision '../x' is not a ref name or a commit");
    free(repo);
    free(hub);
}

Test(hub, model_id_in_hf_hub_cache)
{
    char *hub = fake_hub();
    setenv("HF_HUB_CACHE", hub, 1);
    load_ok("acme/tiny-llama", NULL, "snapshots/abc123/config.json");
    load_ok("acme/tiny-llama", "old456", "snapshots/old456/config.json");
    load_fails("acme/other", NULL, "no such file, and no Hub cache folder models--acme--other in");
    load_fails("acme/other", NULL, "($HF_HUB_CACHE)");
    free(hub);
}

Test(hub, model_id_under_hf_home_then_home)
{
    /* HF_HOME/hub when HF_HUB_CACHE is unset; ~/.cache/huggingface/hub without either */
    char *home = join(tu_tmpdir(), "hfhome");
    char *hub = join(home, "hub");
    mkdirs(home);
    char *made = fake_hub();
    cr_assert_eq(rename(made, hub), 0);
    unsetenv("HF_HUB_CACHE");
    unsetenv("XDG_CACHE_HOME");
    setenv("HF_HOME", home, 1);
    load_ok("acme/tiny-llama", NULL, "hfhome/hub/models--acme--tiny-llama/snapshots/abc123/config.json");
    unsetenv("HF_HOME");
    char *fakehome = join(tu_tmpdir(), "user");
    char *cache = join(fakehome, ".cache/huggingface");
    mkdirs(cache);
    char *dest = join(cache, "hub");
    cr_assert_eq(rename(hub, dest), 0);
    setenv("HOME", fakehome, 1);
    load_ok("acme/tiny-llama", NULL, ".cache/huggingface/hub/models--acme--tiny-llama/snapshots/abc123/config.json");
    load_fails("acme/missing", NULL, "(~/.cache/huggingface/hub)");
    free(home);
    free(hub);
    free(made);
    free(fakehome);
    free(cache);
    free(dest);
}

Test(hub, broken_caches_say_what_is_wrong)
{
    char *hub = fake_hub();
    char *repo = join(hub, "models--acme--tiny-llama");
    /* refs/main naming a snapshot that is not there */
    char *refs = join(repo, "refs");
    tu_write(refs, "main", "deadbeef\n");
    load_fails(repo, NULL, "refs/main names commit deadbeef, but snapshots/deadbeef is missing");
    /* a snapshot without config.json */
    tu_write(refs, "main", "abc123\n");
    char *cfg = join(repo, "snapshots/abc123/config.json");
    cr_assert_eq(unlink(cfg), 0);
    load_fails(repo, NULL, "snapshot has no config.json");
    /* a revision for a plain file */
    load_fails(tu_write(tu_tmpdir(), "c.json", tiny), "main", "a revision applies to a Hub cache folder");
    /* something that is neither a path nor a model id */
    load_fails("no/such/path.json", NULL, "cannot open: No such file or directory");
    free(hub);
    free(repo);
    free(refs);
    free(cfg);
}

Test(hub, cli_takes_a_model_id_and_a_revision)
{
    char *hub = fake_hub();
    setenv("HF_HUB_CACHE", hub, 1);
    char *o = NULL, *e = NULL;
    int st = tu_run_cli((const char *const[]){"acme/tiny-llama", "--revision", "old456", NULL}, &o, &e);
    cr_assert_eq(st, 0, "%s", e);
    cr_assert_not_null(strstr(o, "snapshots/old456/config.json"), "%s", o);
    free(o);
    free(e);
    st = tu_run_cli((const char *const[]){"acme/nothing", NULL}, &o, &e);
    cr_assert_eq(st, 1);
    cr_assert_not_null(strstr(e, "metatrace: error: acme/nothing: no such file, and no Hub cache folder"), "%s", e);
    free(o);
    free(e);
    free(hub);
}
