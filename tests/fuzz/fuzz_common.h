/* Shared by the fuzz targets (tests/fuzz/fuzz_*.c): each defines
 * LLVMFuzzerTestOneInput and runs under libFuzzer (clang, `make fuzz`) or under
 * tests/fuzz/replay.c (any compiler: ctest replays the seeds and every input
 * that ever failed). A target reports a defect by aborting (FUZZ_CHECK); a bad
 * input that the library refuses with an error is not a defect. */
#ifndef METATRACE_FUZZ_COMMON_H
#define METATRACE_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <metatrace/metatrace.h>

#define FUZZ_CHECK(cond, ...)                                                                \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            fprintf(stderr, "fuzz check failed at %s:%d: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                                    \
            fputc('\n', stderr);                                                             \
            abort();                                                                         \
        }                                                                                    \
    } while (0)

/* Layers are capped for the fuzz runs (every count within the documented
 * limits is legal, but a 1,024-layer build takes a second: the fuzzer would
 * spend its time there instead of on the fields). */
#define FUZZ_LAYERS 2

/* An error the library reported must say something. */
static inline void fuzz_expect_message(mt_ctx *ctx) {
    const char *e = mt_ctx_errmsg(ctx);
    FUZZ_CHECK(mt_ctx_status(ctx) != MT_OK, "a failure left no error status");
    FUZZ_CHECK(e && *e, "an error without a message");
}

/* Run `call`, which writes to the FILE* named `f`, into memory: `text` gets the
 * malloc'd bytes (NUL-terminated, length `len`), or NULL when the call failed. */
#define FUZZ_CAPTURE(text, len, f, call)                   \
    do {                                                   \
        char *buf_ = NULL;                                 \
        size_t n_ = 0;                                     \
        FILE *f = open_memstream(&buf_, &n_);              \
        FUZZ_CHECK(f != NULL, "open_memstream");           \
        mt_status st_ = (call);                            \
        fclose(f);                                         \
        if (st_ != MT_OK) {                                \
            free(buf_);                                    \
            buf_ = NULL;                                   \
        }                                                  \
        (text) = buf_;                                     \
        (len) = n_;                                        \
    } while (0)

#endif
