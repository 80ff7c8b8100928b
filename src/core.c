/* Context, arena, heap tracking, errors. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <metatrace/core.h>

#include "ctx_internal.h"

#define ARENA_MIN_CHUNK (64u * 1024u)
#define ALIGN 16u

typedef struct chunk {
    struct chunk *next;
    size_t size; /* usable bytes after the header */
    size_t used;
    size_t pad; /* keeps the payload 16-byte aligned */
} chunk;

/* Heap blocks carry a header so they can be freed individually and all at once. */
typedef struct hblock {
    struct hblock *prev, *next;
    size_t size;
    size_t pad; /* keeps the payload 16-byte aligned */
} hblock;

typedef struct cleanup {
    struct cleanup *next;
    void (*fn)(void *);
    void *arg;
} cleanup;

struct mt_ctx {
    mt_allocator a;
    chunk *chunks;
    hblock *heap;
    cleanup *cleanups;
    size_t bytes, peak;
    size_t chunk_size; /* next chunk size (grows) */
    mt_error err;
    char *errbuf;      /* formatted errmsg, heap */
    void *slots[MT_SLOT_COUNT];
    int meta_depth;
};

static const char *const status_names[MT_STATUS_COUNT] = {
    /* ORDER mt_status */
    "ok", "io error", "parse error", "config error", "shape error", "out of memory",
    "overflow", "unsupported", "usage error", "internal error",
};
_Static_assert(sizeof status_names / sizeof status_names[0] == MT_STATUS_COUNT,
               "status_names out of step with mt_status");

const char *mt_version(void) { return MT_VERSION_STRING; }
int mt_abi_version(void) { return MT_ABI_VERSION; }

const char *mt_status_name(mt_status s) {
    return (s >= 0 && s < MT_STATUS_COUNT) ? status_names[s] : "unknown";
}

static void *def_alloc(size_t n, void *ud) { (void)ud; return malloc(n); }
static void *def_realloc(void *p, size_t o, size_t n, void *ud) { (void)o; (void)ud; return realloc(p, n); }
static void def_free(void *p, size_t n, void *ud) { (void)n; (void)ud; free(p); }

static void account(mt_ctx *ctx, size_t add, size_t sub) {
    ctx->bytes += add;
    ctx->bytes -= sub;
    if (ctx->bytes > ctx->peak) ctx->peak = ctx->bytes;
}

mt_ctx *mt_ctx_new(void) { return mt_ctx_new_with(NULL); }

mt_ctx *mt_ctx_new_with(const mt_allocator *a) {
    mt_allocator al = {def_alloc, def_realloc, def_free, NULL};
    if (a) al = *a;
    mt_ctx *ctx = al.alloc(sizeof *ctx, al.ud);
    if (!ctx) return NULL;
    memset(ctx, 0, sizeof *ctx);
    ctx->a = al;
    ctx->chunk_size = ARENA_MIN_CHUNK;
    account(ctx, sizeof *ctx, 0);
    return ctx;
}

void mt_ctx_free(mt_ctx *ctx) {
    if (!ctx) return;
    for (cleanup *c = ctx->cleanups; c; c = c->next) c->fn(c->arg);
    hblock *h = ctx->heap;
    while (h) {
        hblock *n = h->next;
        ctx->a.free(h, sizeof *h + h->size, ctx->a.ud);
        h = n;
    }
    chunk *c = ctx->chunks;
    while (c) {
        chunk *n = c->next;
        ctx->a.free(c, sizeof *c + c->size, ctx->a.ud);
        c = n;
    }
    if (ctx->errbuf) ctx->a.free(ctx->errbuf, strlen(ctx->errbuf) + 1, ctx->a.ud);
    mt_allocator a = ctx->a;
    a.free(ctx, sizeof *ctx, a.ud);
}

void **mt__ctx_slot(mt_ctx *ctx, int which) { return &ctx->slots[which]; }
int *mt__ctx_meta_depth(mt_ctx *ctx) { return &ctx->meta_depth; }

bool mt__ctx_on_free(mt_ctx *ctx, void (*fn)(void *), void *arg) {
    cleanup *c = mt_alloc(ctx, sizeof *c);
    if (!c) return false;
    c->fn = fn;
    c->arg = arg;
    c->next = ctx->cleanups;
    ctx->cleanups = c;
    return true;
}

size_t mt_ctx_bytes(const mt_ctx *ctx) { return ctx->bytes; }
size_t mt_ctx_peak_bytes(const mt_ctx *ctx) { return ctx->peak; }

/* ---- arena ---- */
static inline void *arena_take(mt_ctx *ctx, size_t size) {
    size_t need = (size + (ALIGN - 1)) & ~(size_t)(ALIGN - 1);
    if (need < size) {
        mt_fail(ctx, MT_ERR_OVERFLOW, "allocation of %zu bytes overflows", size);
        return NULL;
    }
    if (need == 0) need = ALIGN;
    chunk *c = ctx->chunks;
    if (!c || c->size - c->used < need) {
        size_t csize = ctx->chunk_size;
        while (csize < need) csize *= 2;
        c = ctx->a.alloc(sizeof *c + csize, ctx->a.ud);
        if (!c) {
            mt_fail(ctx, MT_ERR_NOMEM, "out of memory (arena chunk of %zu bytes)", csize);
            return NULL;
        }
        c->size = csize;
        c->used = 0;
        c->next = ctx->chunks;
        ctx->chunks = c;
        account(ctx, sizeof *c + csize, 0);
        if (ctx->chunk_size < (4u << 20)) ctx->chunk_size *= 2; /* grow in chunks */
    }
    void *p = (char *)(c + 1) + c->used;
    c->used += need;
    return p;
}

void *mt__alloc_raw(mt_ctx *ctx, size_t size) { return arena_take(ctx, size); }

void *mt_alloc(mt_ctx *ctx, size_t size) {
    void *p = arena_take(ctx, size);
    if (p) memset(p, 0, size);
    return p;
}
_Static_assert(sizeof(chunk) % 16 == 0, "arena payload must stay 16-byte aligned");
_Static_assert(sizeof(hblock) % 16 == 0, "heap payload must stay 16-byte aligned");

void *mt_alloc_array(mt_ctx *ctx, size_t n, size_t elem) {
    size_t total;
    if (__builtin_mul_overflow(n, elem, &total)) {
        mt_fail(ctx, MT_ERR_OVERFLOW, "array of %zu x %zu bytes overflows", n, elem);
        return NULL;
    }
    return mt_alloc(ctx, total);
}

char *mt_strndup(mt_ctx *ctx, const char *s, size_t n) {
    char *p = arena_take(ctx, n + 1); /* every byte is written */
    if (p) { memcpy(p, s, n); p[n] = 0; }
    return p;
}

char *mt__join(mt_ctx *ctx, const char *a, char sep, const char *b) {
    if (!a) a = "(null)"; /* as printf's %s prints it */
    if (!b) b = "(null)";
    size_t na = strlen(a), nb = strlen(b);
    if (na > SIZE_MAX / 2 || nb > SIZE_MAX / 2) {
        mt_fail(ctx, MT_ERR_OVERFLOW, "a name of %zu + %zu bytes overflows", na, nb);
        return NULL;
    }
    char *p = arena_take(ctx, na + nb + 2);
    if (!p) return NULL;
    memcpy(p, a, na);
    p[na] = sep;
    memcpy(p + na + 1, b, nb + 1);
    return p;
}
char *mt_strdup(mt_ctx *ctx, const char *s) { return s ? mt_strndup(ctx, s, strlen(s)) : NULL; }

char *mt_vsprintf(mt_ctx *ctx, const char *fmt, va_list ap) {
    va_list ap2;
    va_copy(ap2, ap);
    char small[256];
    int n = vsnprintf(small, sizeof small, fmt, ap2);
    va_end(ap2);
    if (n < 0) return NULL;
    char *p = mt_alloc(ctx, (size_t)n + 1);
    if (!p) return NULL;
    if ((size_t)n < sizeof small) memcpy(p, small, (size_t)n + 1);
    else vsnprintf(p, (size_t)n + 1, fmt, ap);
    return p;
}

char *mt_sprintf(mt_ctx *ctx, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *p = mt_vsprintf(ctx, fmt, ap);
    va_end(ap);
    return p;
}

/* ---- heap ---- */
void *mt_heap_alloc(mt_ctx *ctx, size_t size) {
    void *p = mt__heap_alloc_raw(ctx, size);
    if (p) memset(p, 0, size);
    return p;
}

void *mt__heap_alloc_raw(mt_ctx *ctx, size_t size) {
    if (size > SIZE_MAX - sizeof(hblock)) {
        mt_fail(ctx, MT_ERR_OVERFLOW, "allocation of %zu bytes overflows", size);
        return NULL;
    }
    hblock *h = ctx->a.alloc(sizeof *h + size, ctx->a.ud);
    if (!h) {
        mt_fail(ctx, MT_ERR_NOMEM, "out of memory (%zu bytes)", size);
        return NULL;
    }
    h->size = size;
    h->prev = NULL;
    h->next = ctx->heap;
    if (ctx->heap) ctx->heap->prev = h;
    ctx->heap = h;
    account(ctx, sizeof *h + size, 0);
    return h + 1;
}

void mt_heap_free(mt_ctx *ctx, void *p) {
    if (!p) return;
    hblock *h = (hblock *)p - 1;
    if (h->prev) h->prev->next = h->next;
    else ctx->heap = h->next;
    if (h->next) h->next->prev = h->prev;
    account(ctx, 0, sizeof *h + h->size);
    ctx->a.free(h, sizeof *h + h->size, ctx->a.ud);
}

/* ---- errors ---- */
mt_status mt_error_setv(mt_ctx *ctx, mt_status st, const char *file, int line, int col,
                        const char *field, const char *fmt, va_list ap) {
    if (ctx->err.status != MT_OK) return ctx->err.status; /* keep the root cause */
    ctx->err.status = st;
    /* Error strings live in the arena; if the arena itself failed we keep a
     * static message. */
    ctx->err.file = file ? mt_strdup(ctx, file) : NULL;
    ctx->err.line = line;
    ctx->err.col = col;
    ctx->err.field = field ? mt_strdup(ctx, field) : NULL;
    ctx->err.message = mt_vsprintf(ctx, fmt, ap);
    if (!ctx->err.message) ctx->err.message = "out of memory while reporting an error";
    ctx->err.status = st; /* mt_alloc failures above must not override */
    return st;
}

mt_status mt_error_set(mt_ctx *ctx, mt_status st, const char *file, int line, int col,
                       const char *field, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    mt_status r = mt_error_setv(ctx, st, file, line, col, field, fmt, ap);
    va_end(ap);
    return r;
}

mt_status mt_fail(mt_ctx *ctx, mt_status st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    mt_status r = mt_error_setv(ctx, st, NULL, 0, 0, NULL, fmt, ap);
    va_end(ap);
    return r;
}

void mt_error_clear(mt_ctx *ctx) { memset(&ctx->err, 0, sizeof ctx->err); }
mt_status mt_ctx_status(const mt_ctx *ctx) { return ctx->err.status; }
const mt_error *mt_ctx_error(const mt_ctx *ctx) { return &ctx->err; }

const char *mt_ctx_errmsg(const mt_ctx *ctx) {
    mt_ctx *c = (mt_ctx *)ctx; /* the formatted message is cached */
    const mt_error *e = &c->err;
    if (e->status == MT_OK) return "no error";
    char buf[4096];
    size_t n = 0;
    buf[0] = 0;
#define APP(...) do { int k = snprintf(buf + n, sizeof buf - n, __VA_ARGS__); \
                      if (k > 0) n = (n + (size_t)k < sizeof buf) ? n + (size_t)k : sizeof buf - 1; } while (0)
    if (e->file) {
        APP("%s", e->file);
        if (e->line > 0) {
            APP(":%d", e->line);
            if (e->col > 0) APP(":%d", e->col);
        }
        APP(": ");
    }
    if (e->field) APP("field '%s': ", e->field);
    APP("%s", e->message ? e->message : mt_status_name(e->status));
#undef APP
    if (c->errbuf) c->a.free(c->errbuf, strlen(c->errbuf) + 1, c->a.ud);
    c->errbuf = c->a.alloc(n + 1, c->a.ud);
    if (!c->errbuf) return e->message ? e->message : "error";
    memcpy(c->errbuf, buf, n + 1);
    return c->errbuf;
}

bool mt_checked_add(mt_ctx *ctx, int64_t a, int64_t b, int64_t *r, const char *what) {
    if (mt_add_ok(a, b, r)) return true;
    mt_fail(ctx, MT_ERR_OVERFLOW, "%s overflows 64 bits (%lld + %lld)", what, (long long)a, (long long)b);
    return false;
}

bool mt_checked_mul(mt_ctx *ctx, int64_t a, int64_t b, int64_t *r, const char *what) {
    if (mt_mul_ok(a, b, r)) return true;
    mt_fail(ctx, MT_ERR_OVERFLOW, "%s overflows 64 bits (%lld x %lld)", what, (long long)a, (long long)b);
    return false;
}

/* ---- vector (heap-backed so growth does not waste the arena) ---- */
bool mt_vec_push(mt_ctx *ctx, mt_vec *v, void *item) {
    if (v->n == v->cap) {
        int ncap = v->cap ? v->cap * 2 : 8;
        void **ni = mt_heap_alloc(ctx, (size_t)ncap * sizeof *ni);
        if (!ni) return false;
        if (v->n) memcpy(ni, v->items, (size_t)v->n * sizeof *ni);
        mt_heap_free(ctx, v->items);
        v->items = ni;
        v->cap = ncap;
    }
    v->items[v->n++] = item;
    return true;
}
