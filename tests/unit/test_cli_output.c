/* Output safety of the CLI (docs/cli.md, "Output safety"): what `-o FILE`
 * does to what is already at FILE.
 *
 * - a character device or FIFO is written in place, never replaced;
 * - a symlink is followed: its target is replaced, the link stays a link;
 * - the input config is never the output (same device and inode);
 * - a replaced file keeps its permission bits but never setuid/setgid/sticky;
 * - the temporary has a short name, so a 255-byte output name works;
 * - a write error while rendering SVG/PNG is our error line, no temporary;
 * - SIGTERM during a write removes the temporary.
 *
 * Device nodes: the tests make their own node with the rdev of /dev/null or
 * /dev/full (tests run as root) inside the test's directory, so a CLI that
 * replaced devices would replace that private node, not the machine's. The
 * real /dev/null and /dev/stdout are used only once the CLI has left the
 * private node alone. */
#define _XOPEN_SOURCE 700 /* mknod */
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/sysmacros.h>
#include <time.h>

#include "export_testutil.h"

#define TINY_REL "tests/snapshots/tiny-llama.config.json"
#define DSV3_REL "samples/configs/deepseek-ai--DeepSeek-V3.config.json"

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

XT_WORK_SUITE(cli_output);

#define RUN(...) xt_run_result(NULL, (const char *const[]){__VA_ARGS__, NULL})

/* A copy of the tiny LLaMA config in xt_work/config.json (malloc'd path). */
static char *tiny_config(void)
{
    char *text = tu_read(tu_src(TINY_REL), NULL);
    cr_assert_not_null(text);
    char *p = strdup(tu_write(xt_work, "config.json", text));
    free(text);
    return p;
}

/* The JSON the CLI writes for cfg, produced into a scratch file outside xt_work. */
static char *reference_json(const char *cfg, size_t *len)
{
    char dir[] = "/tmp/mt-ref-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char *ref = xt_join(dir, "ref.json");
    xt_result r = RUN(cfg, "-o", ref);
    cr_assert_eq(r.status, 0, "%s", r.err);
    xt_result_free(&r);
    char *text = tu_read(ref, len);
    cr_assert_not_null(text);
    unlink(ref);
    rmdir(dir);
    free(ref);
    return text;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "cannot write %s", path);
    fputs(text, f);
    cr_assert_eq(fclose(f), 0);
}

/* A private device node xt_work/<name> with the rdev of `like` (a /dev node). */
static char *private_device(const char *name, const char *like)
{
    struct stat st;
    cr_assert_eq(stat(like, &st), 0, "stat %s", like);
    cr_assert(S_ISCHR(st.st_mode), "%s is not a character device", like);
    char *p = xt_join(xt_work, name);
    if (mknod(p, S_IFCHR | 0666, st.st_rdev) != 0)
        cr_skip_test("mknod %s: %s (the output tests need root, as CI has)", p, strerror(errno));
    return p;
}

static void expect_chardev(const char *path, const char *like)
{
    struct stat st, want;
    cr_assert_eq(stat(like, &want), 0);
    cr_assert_eq(lstat(path, &st), 0, "%s is gone", path);
    cr_assert(S_ISCHR(st.st_mode), "%s is no longer a character device (mode %o)", path,
              (unsigned)st.st_mode);
    cr_assert_eq(st.st_rdev, want.st_rdev, "%s is another device", path);
}

Test(cli_output, character_device_written_in_place)
{
    char *cfg = tiny_config();
    char *null = private_device("null", "/dev/null");
    xt_result r = RUN(cfg, "-f", "json", "-o", null);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_str_eq(r.err, "");
    xt_result_free(&r);
    expect_chardev(null, "/dev/null");
    cr_assert_eq(xt_count_entries(xt_work), 2, "config and the node, no temporary");

    /* The private node survived: the machine's /dev/null will too. */
    r = RUN(cfg, "-f", "json", "-o", "/dev/null");
    cr_assert_eq(r.status, 0, "%s", r.err);
    xt_result_free(&r);
    expect_chardev("/dev/null", "/dev/null");

    /* /dev/stdout (a symlink into /proc naming descriptor 1): standard output. */
    size_t n = 0;
    char *want = reference_json(cfg, &n);
    r = RUN(cfg, "-f", "json", "-o", "/dev/stdout");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_str_eq(r.out, want, "-o /dev/stdout writes the JSON to standard output");
    xt_result_free(&r);
    struct stat st;
    cr_assert_eq(lstat("/dev/stdout", &st), 0);
    cr_assert(S_ISLNK(st.st_mode), "/dev/stdout is still a symlink");
    free(want);
    free(null);
    free(cfg);
}

/* A FIFO with a reader (a child process copying it to a file) gets the bytes
 * through the FIFO and stays a FIFO. */
Test(cli_output, fifo_written_in_place)
{
    char *cfg = tiny_config();
    size_t n = 0;
    char *want = reference_json(cfg, &n);
    char *fifo = xt_join(xt_work, "pipe.json");
    cr_assert_eq(mkfifo(fifo, 0644), 0, "mkfifo: %s", strerror(errno));
    char rdir[] = "/tmp/mt-fifo-XXXXXX";
    cr_assert_not_null(mkdtemp(rdir));
    char *got = xt_join(rdir, "got");
    fflush(NULL);
    pid_t reader = fork();
    cr_assert(reader >= 0);
    if (reader == 0) {
        int in = open(fifo, O_RDONLY); /* blocks until the CLI opens it for writing */
        int out = open(got, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (in < 0 || out < 0)
            _exit(1);
        char buf[65536];
        ssize_t k;
        while ((k = read(in, buf, sizeof buf)) > 0)
            if (write(out, buf, (size_t)k) != k)
                _exit(1);
        _exit(k == 0 && close(out) == 0 ? 0 : 1);
    }
    xt_result r = RUN(cfg, "-o", fifo);
    /* A CLI that never opened the FIFO leaves the reader blocked: end it. */
    int st = 0;
    for (int i = 0; i < 500 && waitpid(reader, &st, WNOHANG) == 0; i++)
        sleep_ms(10);
    if (waitpid(reader, &st, WNOHANG) == 0) {
        kill(reader, SIGKILL);
        waitpid(reader, &st, 0);
    }
    cr_assert_eq(r.status, 0, "%s", r.err);
    struct stat s;
    cr_assert_eq(lstat(fifo, &s), 0);
    cr_assert(S_ISFIFO(s.st_mode), "pipe.json is no longer a FIFO (mode %o)", (unsigned)s.st_mode);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the reader did not get an end of file");
    size_t glen = 0;
    char *text = tu_read(got, &glen);
    cr_assert_not_null(text);
    cr_assert(glen == n && memcmp(text, want, n) == 0, "the reader got %zu bytes, want %zu", glen, n);
    cr_assert_eq(xt_count_entries(xt_work), 2, "config and the FIFO, no temporary");
    xt_result_free(&r);
    unlink(got);
    rmdir(rdir);
    free(text);
    free(got);
    free(fifo);
    free(want);
    free(cfg);
}

/* A symlink is followed: the target gets the new content (atomically, in its
 * own directory), the link stays the same link. A dangling link creates its
 * target. */
Test(cli_output, symlink_followed)
{
    char *cfg = tiny_config();
    size_t n = 0;
    char *want = reference_json(cfg, &n);
    char *sub = xt_join(xt_work, "sub");
    cr_assert_eq(mkdir(sub, 0755), 0);
    char *target = xt_join(sub, "target.json");
    write_file(target, "old\n");
    char *link = xt_join(xt_work, "link.json");
    cr_assert_eq(symlink("sub/target.json", link), 0);
    xt_result r = RUN(cfg, "-o", link);
    cr_assert_eq(r.status, 0, "%s", r.err);
    xt_result_free(&r);
    struct stat st;
    cr_assert_eq(lstat(link, &st), 0);
    cr_assert(S_ISLNK(st.st_mode), "link.json is no longer a symlink");
    char buf[256];
    ssize_t k = readlink(link, buf, sizeof buf - 1);
    cr_assert(k > 0);
    buf[k] = 0;
    cr_assert_str_eq(buf, "sub/target.json", "the link's text is unchanged");
    size_t glen = 0;
    char *text = tu_read(target, &glen);
    cr_assert(glen == n && memcmp(text, want, n) == 0, "the target holds the new JSON");
    free(text);
    cr_assert_eq(xt_count_entries(xt_work), 3, "config, sub and the link");
    cr_assert_eq(xt_count_entries(sub), 1, "the target, no temporary");

    /* A dangling link: its target is created, the link stays. */
    char *dangling = xt_join(xt_work, "new-link.json");
    cr_assert_eq(symlink("sub/new.json", dangling), 0);
    r = RUN(cfg, "-o", dangling);
    cr_assert_eq(r.status, 0, "%s", r.err);
    xt_result_free(&r);
    cr_assert_eq(lstat(dangling, &st), 0);
    cr_assert(S_ISLNK(st.st_mode), "new-link.json is no longer a symlink");
    char *created = xt_join(sub, "new.json");
    text = tu_read(created, &glen);
    cr_assert_not_null(text, "the link's target was created");
    cr_assert(glen == n && memcmp(text, want, n) == 0);
    free(text);
    cr_assert_eq(xt_count_entries(sub), 2, "two targets, no temporary");
    free(created);
    free(dangling);
    free(link);
    free(target);
    free(sub);
    free(want);
    free(cfg);
}

/* -o naming the input config, by any path to the same inode, is refused:
 * exit 1, one error line, the config byte-identical, nothing created. */
Test(cli_output, output_is_the_config_refused)
{
    char *cfg = tiny_config();
    size_t n = 0;
    char *orig = tu_read(cfg, &n);
    char *sub = xt_join(xt_work, "sub");
    cr_assert_eq(mkdir(sub, 0755), 0);
    char *hard = xt_join(xt_work, "hard.json");
    cr_assert_eq(link(cfg, hard), 0);
    char *soft = xt_join(xt_work, "soft.json");
    cr_assert_eq(symlink("config.json", soft), 0);
    char *dotdot = xt_join(xt_work, "sub/../config.json");
    struct {
        const char *config, *output;
    } cases[] = {
        {cfg, cfg}, {cfg, hard}, {cfg, soft}, {cfg, dotdot}, {hard, cfg}, {xt_work, cfg}, {xt_work, dotdot},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        xt_result r = RUN(cases[i].config, "-o", cases[i].output);
        cr_assert_eq(r.status, 1, "%s -o %s: status %d, %s", cases[i].config, cases[i].output, r.status,
                     r.err);
        cr_assert_eq(strncmp(r.err, "metatrace: error: ", 18), 0, "stderr: %s", r.err);
        cr_assert_not_null(strstr(r.err, "config"), "the message says why: %s", r.err);
        cr_assert_str_eq(r.out, "");
        size_t k = 0;
        char *now = tu_read(cfg, &k);
        cr_assert(k == n && memcmp(now, orig, n) == 0, "%s -o %s changed the config", cases[i].config,
                  cases[i].output);
        free(now);
        struct stat st;
        cr_assert_eq(lstat(soft, &st), 0);
        cr_assert(S_ISLNK(st.st_mode));
        cr_assert_eq(lstat(hard, &st), 0);
        cr_assert_eq(st.st_nlink, 2, "config.json and hard.json are still one inode");
        cr_assert_eq(xt_count_entries(xt_work), 4, "config, sub, hard.json, soft.json: no temporary");
        cr_assert_eq(xt_count_entries(sub), 0);
        xt_result_free(&r);
    }
    free(dotdot);
    free(soft);
    free(hard);
    free(sub);
    free(orig);
    free(cfg);
}

/* A replaced file keeps its permission bits, never the setuid/setgid/sticky ones. */
Test(cli_output, setuid_not_kept)
{
    char *cfg = tiny_config();
    char *out = xt_join(xt_work, "out.json");
    write_file(out, "old\n");
    cr_assert_eq(chmod(out, 06755 | 01000), 0);
    xt_result r = RUN(cfg, "-o", out);
    cr_assert_eq(r.status, 0, "%s", r.err);
    xt_result_free(&r);
    struct stat st;
    cr_assert_eq(stat(out, &st), 0);
    cr_assert(S_ISREG(st.st_mode));
    cr_assert_eq(st.st_mode & 07000, 0, "mode %o keeps setuid/setgid/sticky", (unsigned)st.st_mode);
    cr_assert_eq(st.st_mode & 0777, 0755, "mode %o: the permission bits are kept", (unsigned)st.st_mode);
    char *text = tu_read(out, NULL);
    cr_assert_eq(strncmp(text, "{\n", 2), 0, "replaced by the JSON");
    free(text);
    free(out);
    free(cfg);
}

/* A 250-byte file name (NAME_MAX is 255): the temporary's name must not be
 * longer than the output's. */
Test(cli_output, long_output_name)
{
    char *cfg = tiny_config();
    char name[251];
    memset(name, 'n', 245);
    memcpy(name + 245, ".json", 6);
    cr_assert_eq(strlen(name), 250);
    char *out = xt_join(xt_work, name);
    xt_result r = RUN(cfg, "-o", out);
    cr_assert_eq(r.status, 0, "%s", r.err);
    xt_result_free(&r);
    char *text = tu_read(out, NULL);
    cr_assert_not_null(text);
    cr_assert_eq(strncmp(text, "{\n", 2), 0);
    cr_assert_eq(xt_count_entries(xt_work), 2, "config and the output, no temporary");
    free(text);
    free(out);
    free(cfg);
}

/* Spawn the CLI with stdout/stderr into files under errdir; fsize > 0 limits
 * the size of any file it writes (RLIMIT_FSIZE; SIGXFSZ ignored, so a write
 * past the limit fails with EFBIG). Returns the pid. */
static pid_t spawn_cli(const char *const *argv, const char *errdir, rlim_t fsize)
{
    const char *av[16];
    int n = 0;
    av[n++] = "metatrace";
    while (argv[n - 1] && n < 15) {
        av[n] = argv[n - 1];
        n++;
    }
    av[n] = NULL;
    char *o = xt_join(errdir, "stdout"), *e = xt_join(errdir, "stderr");
    fflush(NULL);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        int ofd = open(o, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int efd = open(e, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (ofd < 0 || efd < 0)
            _exit(126);
        dup2(ofd, 1);
        dup2(efd, 2);
        signal(SIGINT, SIG_DFL); /* a shell's background job may have them ignored */
        signal(SIGTERM, SIG_DFL);
        if (fsize > 0) {
            struct rlimit rl = {fsize, fsize};
            signal(SIGXFSZ, SIG_IGN);
            if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
                _exit(126);
        }
        execv(MT_CLI_PATH, (char *const *)av);
        _exit(127);
    }
    free(o);
    free(e);
    return pid;
}

static char *read_in(const char *dir, const char *name)
{
    char *p = xt_join(dir, name);
    char *t = tu_read(p, NULL);
    unlink(p);
    free(p);
    cr_assert_not_null(t);
    return t;
}

/* A write error while rendering: Graphviz exits the process from inside
 * gvRender when its own write fails, so the CLI must never hand it a file that
 * can fail. Here writes past 2000 bytes fail (RLIMIT_FSIZE): an SVG of the
 * tiny model is far larger. */
Test(cli_output, render_write_error_reported)
{
    char *cfg = tiny_config();
    char edir[] = "/tmp/mt-render-XXXXXX";
    cr_assert_not_null(mkdtemp(edir));
    const char *formats[] = {"g.svg", "g.png"};
    for (size_t i = 0; i < 2; i++) {
        char *out = xt_join(xt_work, formats[i]);
        pid_t pid = spawn_cli((const char *const[]){cfg, "-o", out, NULL}, edir, 2000);
        int st = 0;
        waitpid(pid, &st, 0);
        char *err = read_in(edir, "stderr"), *so = read_in(edir, "stdout");
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 1, "%s: status %d, stderr: %s", formats[i], st, err);
        cr_assert_eq(strncmp(err, "metatrace: error: ", 18), 0, "%s: stderr: %s", formats[i], err);
        cr_assert_not_null(strstr(err, formats[i]), "the message names the output: %s", err);
        cr_assert_str_eq(so, "");
        cr_assert_eq(xt_count_entries(xt_work), 1, "%s: no output, no temporary", formats[i]);
        free(err);
        free(so);
        free(out);
    }

    /* The same on a device that fails every write (/dev/full), written in place. */
    char *full = private_device("full", "/dev/full");
    xt_result r = RUN(cfg, "-f", "svg", "-o", full);
    cr_assert_eq(r.status, 1, "status %d, stderr: %s", r.status, r.err);
    cr_assert_eq(strncmp(r.err, "metatrace: error: ", 18), 0, "stderr: %s", r.err);
    xt_result_free(&r);
    expect_chardev(full, "/dev/full");
    cr_assert_eq(xt_count_entries(xt_work), 2, "config and the node");
    rmdir(edir);
    free(full);
    free(cfg);
}

/* SIGTERM (and SIGINT) while the temporary exists: it is removed and the
 * process dies of the signal. DeepSeek-V3's JSON (230k nodes, ~140 MB) takes
 * seconds to write; the signal is sent once the temporary has appeared. */
static void signal_during_write(int sig)
{
    char edir[] = "/tmp/mt-sig-XXXXXX";
    cr_assert_not_null(mkdtemp(edir));
    char *out = xt_join(xt_work, "X.json");
    pid_t pid = spawn_cli((const char *const[]){tu_src(DSV3_REL), "-o", out, NULL}, edir, 0);
    bool seen = false;
    int st = 0;
    bool exited = false;
    for (int i = 0; i < 6000 && !seen; i++) { /* up to 60 s */
        if (waitpid(pid, &st, WNOHANG) == pid) {
            exited = true;
            break;
        }
        seen = xt_count_entries(xt_work) > 0;
        if (!seen)
            sleep_ms(10);
    }
    cr_assert(!exited, "the CLI finished before a temporary appeared");
    cr_assert(seen, "no temporary appeared within 60 s");
    sleep_ms(200); /* well into the write */
    kill(pid, sig);
    waitpid(pid, &st, 0);
    char *err = read_in(edir, "stderr"), *so = read_in(edir, "stdout");
    cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == sig, "the CLI should die of signal %d (status %d, stderr %s)",
              sig, st, err);
    cr_assert_eq(xt_count_entries(xt_work), 0, "no temporary (and no X.json) after the signal");
    rmdir(edir);
    free(err);
    free(so);
    free(out);
}

Test(cli_output, sigterm_removes_temporary, .timeout = 120)
{
    signal_during_write(SIGTERM);
}

Test(cli_output, sigint_removes_temporary, .timeout = 120)
{
    signal_during_write(SIGINT);
}

/* A JSON export that fails to write (a device full on every write, written in
 * place) says which file and why, not only that the document failed. */
Test(cli_output, json_write_error_names_the_file)
{
    char *cfg = tiny_config();
    char *full = private_device("full", "/dev/full");
    xt_result r = RUN(cfg, "-f", "json", "-o", full);
    cr_assert_eq(r.status, 1, "status %d, stderr: %s", r.status, r.err);
    char want[1200];
    snprintf(want, sizeof want, "metatrace: error: writing '%s': No space left on device", full);
    cr_assert_not_null(strstr(r.err, want), "stderr: %s", r.err);
    xt_result_free(&r);
    expect_chardev(full, "/dev/full");
    free(full);
    free(cfg);
}
