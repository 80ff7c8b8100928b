/* Finding a config.json where Hugging Face tools leave it, offline: a model
 * folder, a Hub cache folder `models--org--name` (refs/<revision> names the
 * snapshot commit, snapshots/<commit>/config.json the file), or a model id
 * `org/name` looked up in the caches huggingface_hub uses, in its order:
 * $HF_HUB_CACHE, else $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub,
 * else ~/.cache/huggingface/hub. Nothing is downloaded. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <metatrace/model.h>

static bool is_dir(const char *p) {
    struct stat st;
    return p && stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool exists(const char *p) {
    struct stat st;
    return p && stat(p, &st) == 0;
}

/* A Hub cache repository folder: it has snapshots/. */
static bool is_cache_repo(mt_ctx *ctx, const char *dir) {
    return is_dir(mt_sprintf(ctx, "%s/snapshots", dir));
}

/* The first line of a small regular file (a refs/<name> commit hash), or
 * NULL. A FIFO or device there is not read: stat refuses it before open
 * (opening a FIFO for reading waits for a writer), O_NONBLOCK keeps an open
 * raced into one from waiting, and fstat checks what was opened. */
static char *first_line(mt_ctx *ctx, const char *path) {
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) return NULL;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) return NULL;
    char buf[128];
    ssize_t r = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? read(fd, buf, sizeof buf - 1) : -1;
    close(fd);
    if (r < 0) return NULL;
    size_t n = (size_t)r;
    buf[n] = '\0';
    size_t k = strcspn(buf, "\r\n \t");
    buf[k] = '\0';
    return k ? mt_strdup(ctx, buf) : NULL;
}

static bool safe_component(const char *s) {
    if (!s || !*s || strcmp(s, ".") == 0 || strcmp(s, "..") == 0) return false;
    for (const char *p = s; *p; p++)
        if (*p == '/' || (unsigned char)*p < 0x20) return false;
    return true;
}

/* snapshots/<commit>/config.json of a cache repository at `revision` (a ref
 * name such as "main", or a commit). NULL with a located error. */
static const char *from_cache_repo(mt_ctx *ctx, const char *dir, const char *revision) {
    const char *rev = revision ? revision : "main";
    if (!safe_component(rev)) {
        mt_fail(ctx, MT_ERR_USAGE, "revision '%s' is not a ref name or a commit", rev);
        return NULL;
    }
    const char *ref = mt_sprintf(ctx, "%s/refs/%s", dir, rev);
    const char *commit = exists(ref) ? first_line(ctx, ref) : NULL;
    if (exists(ref) && (!commit || !safe_component(commit))) {
        mt_error_set(ctx, MT_ERR_IO, ref, 0, 0, NULL, "does not hold a commit hash");
        return NULL;
    }
    if (!commit) commit = rev; /* a commit given directly */
    const char *snap = mt_sprintf(ctx, "%s/snapshots/%s", dir, commit);
    if (!is_dir(snap)) {
        if (exists(ref))
            mt_error_set(ctx, MT_ERR_IO, dir, 0, 0, NULL,
                         "refs/%s names commit %s, but snapshots/%s is missing (an incomplete download?)", rev,
                         commit, commit);
        else
            mt_error_set(ctx, MT_ERR_IO, dir, 0, 0, NULL,
                         "revision '%s' is neither in refs/ nor a snapshot in snapshots/", rev);
        return NULL;
    }
    const char *cfg = mt_sprintf(ctx, "%s/config.json", snap);
    if (!exists(cfg)) {
        mt_error_set(ctx, MT_ERR_IO, snap, 0, 0, NULL, "snapshot has no config.json (not downloaded?)");
        return NULL;
    }
    return cfg;
}

/* "org/name" (or "name"): Hub id characters only, one slash at most. */
static bool looks_like_model_id(const char *s) {
    int slashes = 0;
    if (!*s || *s == '/' || *s == '.' || *s == '-') return false;
    for (const char *p = s; *p; p++) {
        if (*p == '/') {
            if (++slashes > 1 || p[1] == '\0' || p[1] == '.' || p[1] == '-') return false;
            continue;
        }
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
              *p == '_' || *p == '.'))
            return false;
    }
    return slashes == 1 && strstr(s, "..") == NULL;
}

typedef struct hub_root {
    const char *path;  /* NULL: not applicable */
    const char *how;   /* where it came from, for the message */
} hub_root;

/* The Hub cache huggingface_hub would use. */
static hub_root hub_cache(mt_ctx *ctx) {
    const char *v;
    if ((v = getenv("HF_HUB_CACHE")) && *v) return (hub_root){v, "$HF_HUB_CACHE"};
    if ((v = getenv("HF_HOME")) && *v) return (hub_root){mt_sprintf(ctx, "%s/hub", v), "$HF_HOME/hub"};
    if ((v = getenv("XDG_CACHE_HOME")) && *v)
        return (hub_root){mt_sprintf(ctx, "%s/huggingface/hub", v), "$XDG_CACHE_HOME/huggingface/hub"};
    if ((v = getenv("HOME")) && *v)
        return (hub_root){mt_sprintf(ctx, "%s/.cache/huggingface/hub", v), "~/.cache/huggingface/hub"};
    return (hub_root){NULL, "~/.cache/huggingface/hub ($HOME unset)"};
}

const char *mt_hub_config_path(mt_ctx *ctx, const char *spec, const char *revision) {
    if (!ctx) return NULL;
    if (!spec || !*spec) {
        mt_fail(ctx, MT_ERR_USAGE, "no config path given");
        return NULL;
    }
    struct stat st;
    if (stat(spec, &st) == 0) {
        if (!S_ISDIR(st.st_mode)) {
            if (revision) {
                mt_error_set(ctx, MT_ERR_USAGE, spec, 0, 0, NULL,
                             "a revision applies to a Hub cache folder or a model id, not to a file");
                return NULL;
            }
            return spec;
        }
        size_t n = strlen(spec);
        const char *file = mt_sprintf(ctx, "%s%sconfig.json", spec, spec[n - 1] == '/' ? "" : "/");
        if (!file) return NULL;
        if (!revision && exists(file)) return file;
        if (is_cache_repo(ctx, spec)) return from_cache_repo(ctx, spec, revision);
        if (revision) {
            mt_error_set(ctx, MT_ERR_USAGE, spec, 0, 0, NULL,
                         "a revision applies to a Hub cache folder (models--org--name, with snapshots/) or a "
                         "model id; this directory is neither");
            return NULL;
        }
        mt_error_set(ctx, MT_ERR_IO, spec, 0, 0, NULL,
                     "directory has no config.json (nor snapshots/ of a Hub cache folder models--org--name)");
        return NULL;
    }
    int err = errno;
    if (err != ENOENT || !looks_like_model_id(spec)) {
        mt_error_set(ctx, MT_ERR_IO, spec, 0, 0, NULL, "cannot open: %s", strerror(err));
        return NULL;
    }
    /* a model id: models--org--name in the Hub cache */
    const char *slash = strchr(spec, '/');
    char *folder = mt_sprintf(ctx, "models--%.*s--%s", (int)(slash - spec), spec, slash + 1);
    if (!folder) return NULL;
    hub_root root = hub_cache(ctx);
    const char *repo = root.path ? mt_sprintf(ctx, "%s/%s", root.path, folder) : NULL;
    if (repo && is_cache_repo(ctx, repo)) return from_cache_repo(ctx, repo, revision);
    mt_error_set(ctx, MT_ERR_IO, spec, 0, 0, NULL,
                 "no such file, and no Hub cache folder %s in %s (%s); metatrace reads caches offline "
                 "(download %s's config.json there first, or give its path)",
                 folder, root.path ? root.path : "-", root.how, spec);
    return NULL;
}
