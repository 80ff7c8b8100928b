/* metatrace — core: context, arena, errors, checked arithmetic.
 *
 * A context owns an arena. Everything built in it (configs, models, tensors,
 * graphs, strings) is freed together by mt_ctx_free. There is no global
 * mutable state: two contexts used from two threads never interfere. */
#ifndef METATRACE_CORE_H
#define METATRACE_CORE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MT_VERSION_MAJOR 0
#define MT_VERSION_MINOR 1
#define MT_VERSION_PATCH 0
#define MT_VERSION_STRING "0.1.0"
/* The shared library's ABI version (its SONAME is libmetatrace.so.MT_ABI_VERSION). */
#define MT_ABI_VERSION 3

#if defined(__GNUC__)
#define MT_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define MT_PRINTF(f, a)
#endif

/* Marks the public functions: the shared library exports exactly these (the
 * library is compiled with hidden visibility; tests/consumer/symbols.sh checks
 * the exported symbols against the headers). */
#if defined(__GNUC__)
#define MT_API __attribute__((visibility("default")))
#else
#define MT_API
#endif

typedef struct mt_ctx mt_ctx;

/* Status codes. ORDER mt_status: keep in step with the name table in core.c. */
typedef enum mt_status {
    MT_OK = 0,
    MT_ERR_IO,          /* file missing or unreadable */
    MT_ERR_PARSE,       /* malformed JSON */
    MT_ERR_CONFIG,      /* a config field is missing, mistyped or out of range */
    MT_ERR_SHAPE,       /* an op rejected its inputs */
    MT_ERR_NOMEM,       /* the allocator failed */
    MT_ERR_OVERFLOW,    /* a size or count overflowed 64 bits */
    MT_ERR_UNSUPPORTED, /* unknown model_type, op, ... */
    MT_ERR_USAGE,       /* bad API / CLI usage */
    MT_ERR_INTERNAL,
    MT_STATUS_COUNT
} mt_status;

MT_API const char *mt_status_name(mt_status s);

/* The library's version at run time ("0.1.0") and ABI version, to compare with
 * the MT_VERSION_* and MT_ABI_VERSION a program was compiled against. */
MT_API const char *mt_version(void);
MT_API int mt_abi_version(void);

/* Allocator hook (tests inject counting or failing allocators). All three
 * functions receive `ud`. Defaults are malloc/realloc/free. */
typedef struct mt_allocator {
    void *(*alloc)(size_t size, void *ud);
    void *(*realloc)(void *p, size_t old_size, size_t new_size, void *ud);
    void (*free)(void *p, size_t size, void *ud);
    void *ud;
} mt_allocator;

MT_API mt_ctx *mt_ctx_new(void);
MT_API mt_ctx *mt_ctx_new_with(const mt_allocator *a); /* NULL a: default allocator */
MT_API void mt_ctx_free(mt_ctx *ctx);

/* Arena allocation: zeroed, 16-byte aligned, freed with the context. Returns
 * NULL (and sets MT_ERR_NOMEM) when the allocator fails. */
MT_API void *mt_alloc(mt_ctx *ctx, size_t size);
MT_API void *mt_alloc_array(mt_ctx *ctx, size_t n, size_t elem); /* checked n*elem */
MT_API char *mt_strdup(mt_ctx *ctx, const char *s);
MT_API char *mt_strndup(mt_ctx *ctx, const char *s, size_t n);
MT_API char *mt_sprintf(mt_ctx *ctx, const char *fmt, ...) MT_PRINTF(2, 3);
MT_API char *mt_vsprintf(mt_ctx *ctx, const char *fmt, va_list ap);

/* Heap allocation through the context's allocator, outside the arena (used for
 * real CPU storage and for growable tables that are freed with the context). */
MT_API void *mt_heap_alloc(mt_ctx *ctx, size_t size);  /* zeroed; tracked; freed by mt_ctx_free */
MT_API void mt_heap_free(mt_ctx *ctx, void *p);

/* Bytes currently obtained from the allocator by this context (arena chunks +
 * heap blocks), and the high-water mark. */
MT_API size_t mt_ctx_bytes(const mt_ctx *ctx);
MT_API size_t mt_ctx_peak_bytes(const mt_ctx *ctx);

/* ---- errors ---------------------------------------------------------------
 * The first error set on a context is kept until mt_error_clear; later ones are
 * ignored, so the message names the root cause. */
typedef struct mt_error {
    mt_status status;
    const char *file;  /* NULL when not about a file */
    int line, col;     /* 0 when unknown */
    const char *field; /* config field path ("rope_scaling.factor"), or NULL */
    const char *message;
} mt_error;

MT_API mt_status mt_error_set(mt_ctx *ctx, mt_status st, const char *file, int line, int col,
                       const char *field, const char *fmt, ...) MT_PRINTF(7, 8);
MT_API mt_status mt_error_setv(mt_ctx *ctx, mt_status st, const char *file, int line, int col,
                        const char *field, const char *fmt, va_list ap);
/* Shorthand for errors without a location. */
MT_API mt_status mt_fail(mt_ctx *ctx, mt_status st, const char *fmt, ...) MT_PRINTF(3, 4);
MT_API void mt_error_clear(mt_ctx *ctx);
MT_API mt_status mt_ctx_status(const mt_ctx *ctx);
MT_API const mt_error *mt_ctx_error(const mt_ctx *ctx);
/* "FILE:LINE:COL: field 'x': message" (parts omitted when absent). Never NULL. */
MT_API const char *mt_ctx_errmsg(const mt_ctx *ctx);

/* ---- checked 64-bit arithmetic -------------------------------------------- */
static inline bool mt_add_ok(int64_t a, int64_t b, int64_t *r) { return !__builtin_add_overflow(a, b, r); }
static inline bool mt_sub_ok(int64_t a, int64_t b, int64_t *r) { return !__builtin_sub_overflow(a, b, r); }
static inline bool mt_mul_ok(int64_t a, int64_t b, int64_t *r) { return !__builtin_mul_overflow(a, b, r); }
/* Same, setting MT_ERR_OVERFLOW with `what` on failure. */
MT_API bool mt_checked_add(mt_ctx *ctx, int64_t a, int64_t b, int64_t *r, const char *what);
MT_API bool mt_checked_mul(mt_ctx *ctx, int64_t a, int64_t b, int64_t *r, const char *what);

/* ---- small growable pointer vector in the arena ---------------------------- */
typedef struct mt_vec {
    void **items;
    int n, cap;
} mt_vec;
MT_API bool mt_vec_push(mt_ctx *ctx, mt_vec *v, void *item);

#ifdef __cplusplus
}
#endif
#endif
