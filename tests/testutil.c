#include "testutil.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

const char *tu_src(const char *rel) {
    static char buf[8][1024];
    static int k;
    char *b = buf[k++ & 7];
    snprintf(b, 1024, "%s/%s", MT_SOURCE_DIR, rel);
    return b;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int tu_shipped_configs(const char *const **out) {
    static char names[64][512];
    static const char *list[64];
    static int n = -1;
    if (n < 0) {
        n = 0;
        DIR *d = opendir(tu_src("samples/configs"));
        cr_assert_not_null(d, "cannot list samples/configs");
        struct dirent *e;
        while ((e = readdir(d)) && n < 64) {
            size_t len = strlen(e->d_name);
            if (len < 12 || strcmp(e->d_name + len - 12, ".config.json") != 0) continue;
            snprintf(names[n], sizeof names[n], "samples/configs/%s", e->d_name);
            list[n] = names[n];
            n++;
        }
        closedir(d);
        qsort(list, (size_t)n, sizeof *list, cmp_str);
    }
    *out = list;
    return n;
}

const char *tu_tmpdir(void) {
    static char buf[8][256];
    static int k;
    char *b = buf[k++ & 7];
    snprintf(b, 256, "/tmp/mt-test-XXXXXX");
    cr_assert_not_null(mkdtemp(b), "mkdtemp failed");
    return b;
}

char *tu_write(const char *dir, const char *name, const char *text) {
    static char buf[8][1024];
    static int k;
    char *b = buf[k++ & 7];
    snprintf(b, 1024, "%s/%s", dir, name);
    FILE *f = fopen(b, "wb");
    cr_assert_not_null(f, "cannot write %s", b);
    fputs(text, f);
    fclose(f);
    return b;
}

char *tu_read(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    size_t r;
    while ((r = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += r;
        if (cap - n < 2) buf = realloc(buf, cap *= 2);
    }
    fclose(f);
    buf[n] = 0;
    if (len) *len = n;
    return buf;
}

bool tu_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

int tu_run_cli(const char *const *argv, char **out, char **err) {
    char of[] = "/tmp/mt-cli-out-XXXXXX", ef[] = "/tmp/mt-cli-err-XXXXXX";
    int ofd = mkstemp(of), efd = mkstemp(ef);
    cr_assert(ofd >= 0 && efd >= 0);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(ofd, 1);
        dup2(efd, 2);
        const char *av[64];
        int n = 0;
        av[n++] = MT_CLI_PATH;
        for (; argv[n - 1] && n < 63; n++) av[n] = argv[n - 1];
        av[n] = NULL;
        execv(MT_CLI_PATH, (char *const *)av);
        _exit(127);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    close(ofd);
    close(efd);
    if (out) *out = tu_read(of, NULL);
    if (err) *err = tu_read(ef, NULL);
    unlink(of);
    unlink(ef);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

mt_model *tu_build(mt_ctx *ctx, const char *config_path, int64_t layers) {
    mt_config *cfg = mt_config_load(ctx, config_path);
    cr_assert_not_null(cfg, "config: %s", mt_ctx_errmsg(ctx));
    mt_build_opts o = {.dtype = MT_DTYPE_NONE, .num_layers = layers};
    mt_model *m = mt_model_build(ctx, cfg, &o);
    cr_assert_not_null(m, "build: %s", mt_ctx_errmsg(ctx));
    return m;
}

mt_graph *tu_trace(mt_model *m) {
    mt_graph *g = mt_model_trace(m, NULL);
    cr_assert_not_null(g, "trace: %s", mt_ctx_errmsg(m->ctx));
    return g;
}

static int cmpstr(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

char **tu_index_keys(const char *index_name, int *n) {
    char rel[512];
    snprintf(rel, sizeof rel, "tests/data/index/%s", index_name);
    json_error_t e;
    json_t *root = json_load_file(tu_src(rel), 0, &e);
    cr_assert_not_null(root, "index %s: %s", rel, e.text);
    json_t *wm = json_object_get(root, "weight_map");
    cr_assert_not_null(wm);
    size_t cnt = json_object_size(wm), i = 0;
    char **keys = malloc((cnt + 1) * sizeof *keys);
    const char *k;
    json_t *v;
    json_object_foreach(wm, k, v) keys[i++] = strdup(k);
    keys[i] = NULL;
    qsort(keys, cnt, sizeof *keys, cmpstr);
    json_decref(root);
    *n = (int)cnt;
    return keys;
}

bool tu_is_stored_buffer(const char *k) {
    size_t n = strlen(k);
    return strstr(k, "rotary_emb.inv_freq") || strstr(k, "masked_bias") ||
           (n > 15 && strcmp(k + n - 15, ".attention.bias") == 0) ||
           (n > 10 && strcmp(k + n - 10, ".attn.bias") == 0);
}

void tu_check_index_names(mt_model *m, const char *index, bool keep_tied) {
    int n;
    char **keys = tu_index_keys(index, &n);
    char **want = malloc(sizeof *want * (size_t)(n + 1));
    int nw = 0;
    for (int i = 0; i < n; i++)
        if (!tu_is_stored_buffer(keys[i])) want[nw++] = keys[i];
    const char **have = malloc(sizeof *have * (size_t)(m->params.n + 1));
    int nh = 0;
    for (int i = 0; i < m->params.n; i++) {
        mt_param *p = m->params.items[i];
        if (!p->tied_to || keep_tied) have[nh++] = p->name;
    }
    qsort(have, (size_t)nh, sizeof *have, cmpstr);
    qsort(want, (size_t)nw, sizeof *want, cmpstr);
    for (int i = 0; i < nw && i < nh; i++)
        cr_assert_str_eq(have[i], want[i], "parameter names differ at %d: ours %s, checkpoint %s", i,
                         have[i], want[i]);
    cr_assert_eq(nh, nw, "ours %d parameters, checkpoint %d", nh, nw);
    for (int i = 0; i < n; i++) free(keys[i]);
    free(keys);
    free(want);
    free(have);
}

void tu_check_shape(mt_model *m, const char *name, int ndim, int64_t d0, int64_t d1) {
    mt_param *p = mt_model_param(m, name);
    cr_assert_not_null(p, "no parameter %s", name);
    cr_assert_eq(p->t->ndim, ndim, "%s rank", name);
    cr_assert_eq(mt_sym_const_value(p->t->shape[0]), d0, "%s dim 0", name);
    if (ndim > 1) cr_assert_eq(mt_sym_const_value(p->t->shape[1]), d1, "%s dim 1", name);
}

mt_model *tu_build_text(mt_ctx *ctx, const char *json, int64_t layers) {
    mt_config *cfg = mt_config_parse(ctx, json, strlen(json), "config.json");
    cr_assert_not_null(cfg, "config: %s", mt_ctx_errmsg(ctx));
    mt_build_opts o = {.dtype = MT_DTYPE_NONE, .num_layers = layers};
    mt_model *m = mt_model_build(ctx, cfg, &o);
    cr_assert_not_null(m, "build: %s", mt_ctx_errmsg(ctx));
    return m;
}

void tu_check_dims(mt_model *m, const char *name, int ndim, const int64_t *dims) {
    mt_param *p = mt_model_param(m, name);
    cr_assert_not_null(p, "no parameter %s", name);
    cr_assert_eq(p->t->ndim, ndim, "%s rank", name);
    for (int i = 0; i < ndim; i++)
        cr_assert_eq(mt_sym_const_value(p->t->shape[i]), dims[i], "%s dim %d", name, i);
}

void tu_check_logits(mt_model *m, mt_graph *g, int64_t vocab) {
    mt_node *out = g->nodes[g->n - 1];
    cr_assert_eq(out->op, MT_NODE_OUTPUT);
    const mt_tensor *l = out->args[0].v.t;
    cr_assert_eq(l->ndim, 3);
    cr_assert_eq(l->shape[0], mt_sym_var(m->ctx, "batch"));
    cr_assert_eq(l->shape[1], mt_sym_var(m->ctx, "seq"));
    cr_assert_eq(l->shape[2], mt_sym_const(m->ctx, vocab));
}

bool tu_is_op(const mt_node *n, mt_op_id id) {
    return (n->op == MT_NODE_CALL_FUNCTION || n->op == MT_NODE_CALL_METHOD) && n->opid == (int)id;
}

bool tu_under(const mt_node *n, const char *path) {
    for (int d = 0; n->stack && d < n->stack->depth; d++)
        if (strcmp(n->stack->mods[d]->path, path) == 0) return true;
    return false;
}

int tu_count_ops(mt_graph *g, mt_op_id id, const char *path) {
    int k = 0;
    for (int i = 0; i < g->n; i++)
        if (tu_is_op(g->nodes[i], id) && (!path || tu_under(g->nodes[i], path))) k++;
    return k;
}

mt_node *tu_first_op(mt_graph *g, mt_op_id id, const char *path) {
    for (int i = 0; i < g->n; i++)
        if (tu_is_op(g->nodes[i], id) && (!path || tu_under(g->nodes[i], path))) return g->nodes[i];
    return NULL;
}

const mt_arg *tu_kwarg(const mt_node *n, const char *name) {
    for (int i = 0; i < n->nkwargs; i++)
        if (strcmp(n->kwargs[i].name, name) == 0) return &n->kwargs[i].value;
    return NULL;
}
