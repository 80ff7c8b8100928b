/* Helpers for the exporter and CLI tests (test_export.c, test_cli.c).
 * Header-only: CMake links tests with tests/testutil.c alone. */
#ifndef METATRACE_EXPORT_TESTUTIL_H
#define METATRACE_EXPORT_TESTUTIL_H

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "testutil.h"

/* Run the CLI (MT_CLI_PATH) in directory `cwd` (NULL: the test's cwd) with
 * argv (NULL-terminated, without argv[0]). stdout/stderr are captured into
 * malloc'd strings (out/err may be NULL). Returns the exit status, or -1 when
 * the process did not exit normally. */
static inline int xt_run(const char *cwd, const char *const *argv, char **out, char **err)
{
    char of[] = "/tmp/mt-xt-out-XXXXXX", ef[] = "/tmp/mt-xt-err-XXXXXX";
    int ofd = mkstemp(of), efd = mkstemp(ef);
    cr_assert(ofd >= 0 && efd >= 0, "mkstemp failed");
    const char *av[64];
    int n = 0;
    av[n++] = "metatrace";
    while (argv[n - 1] && n < 63) {
        av[n] = argv[n - 1];
        n++;
    }
    av[n] = NULL;
    fflush(NULL);
    pid_t pid = fork();
    cr_assert(pid >= 0, "fork failed");
    if (pid == 0) {
        if (cwd && chdir(cwd) != 0)
            _exit(126);
        dup2(ofd, 1);
        dup2(efd, 2);
        execv(MT_CLI_PATH, (char *const *)av);
        _exit(127);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    close(ofd);
    close(efd);
    if (out)
        *out = tu_read(of, NULL);
    if (err)
        *err = tu_read(ef, NULL);
    unlink(of);
    unlink(ef);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Number of directory entries (without . and ..). */
static inline int xt_count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    cr_assert_not_null(d, "opendir %s", dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

/* malloc'd "dir/name". */
static inline char *xt_join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    cr_assert_not_null(p);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* Remove a directory tree made by a test (regular files and subdirectories). */
static inline void xt_rmtree(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char *path = xt_join(dir, e->d_name);
        struct stat st;
        if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
            xt_rmtree(path);
        else
            unlink(path);
        free(path);
    }
    closedir(d);
    rmdir(dir);
}

/* Compare a produced file with the golden tests/snapshots/<golden>. With
 * UPDATE_SNAPSHOTS=1 in the environment the golden is rewritten instead. A
 * mismatch prints `diff -u golden produced` and fails the test. */
static inline void xt_snapshot(const char *golden, const char *produced)
{
    char rel[512];
    snprintf(rel, sizeof rel, "tests/snapshots/%s", golden);
    char gpath[1024];
    snprintf(gpath, sizeof gpath, "%s", tu_src(rel));
    size_t plen = 0, glen = 0;
    char *p = tu_read(produced, &plen);
    cr_assert_not_null(p, "cannot read %s", produced);
    const char *upd = getenv("UPDATE_SNAPSHOTS");
    if (upd && strcmp(upd, "1") == 0) {
        FILE *f = fopen(gpath, "wb");
        cr_assert_not_null(f, "cannot write golden %s", gpath);
        cr_assert_eq(fwrite(p, 1, plen, f), plen);
        cr_assert_eq(fclose(f), 0);
        free(p);
        return;
    }
    char *g = tu_read(gpath, &glen);
    cr_assert_not_null(g, "golden %s is missing: run the tests with UPDATE_SNAPSHOTS=1 and review it",
                       gpath);
    bool same = glen == plen && memcmp(g, p, plen) == 0;
    free(g);
    free(p);
    if (!same) {
        char cmd[4096];
        snprintf(cmd, sizeof cmd, "diff -u '%s' '%s' | head -n 300 1>&2", gpath, produced);
        fflush(NULL);
        int rc = system(cmd);
        (void)rc;
        cr_assert_fail("%s differs from the golden %s (diff above; UPDATE_SNAPSHOTS=1 rewrites "
                       "it after review)",
                       produced, gpath);
    }
}

/* ---- CLI test scaffolding (test_cli.c, test_cli_output.c) ----------------------
 * Each test gets its own scratch directory `xt_work` (Criterion forks each
 * test, so this is per test process): XT_WORK_SUITE(name) declares a suite
 * whose tests create and remove it. */
static char *xt_work;

static inline void xt_work_setup(void) { xt_work = strdup(tu_tmpdir()); }

static inline void xt_work_teardown(void)
{
    if (xt_work)
        xt_rmtree(xt_work);
    free(xt_work);
    xt_work = NULL;
}

#define XT_WORK_SUITE(name) TestSuite(name, .init = xt_work_setup, .fini = xt_work_teardown)

/* A CLI run: exit status and the captured output streams (malloc'd). */
typedef struct xt_result {
    int status;
    char *out, *err;
} xt_result;

static inline xt_result xt_run_result(const char *cwd, const char *const *argv)
{
    xt_result r;
    r.status = xt_run(cwd, argv, &r.out, &r.err);
    cr_assert_not_null(r.out);
    cr_assert_not_null(r.err);
    return r;
}

static inline void xt_result_free(xt_result *r)
{
    free(r->out);
    free(r->err);
}

#endif
