/* metatrace — export-private pointer map (open addressing, linear probing).
 *
 * Used by the exporters to stay linear in graph size: module -> DOT cluster,
 * module stack -> shared JSON array. Storage comes from the context's heap
 * (mt_heap_alloc) and is released by mtx_ptrmap_free. */
#ifndef METATRACE_EXPORT_PTRMAP_H
#define METATRACE_EXPORT_PTRMAP_H

#include <metatrace/metatrace.h>

typedef struct mtx_ptrmap {
    mt_ctx *ctx;
    const void **keys;
    void **vals;
    size_t cap; /* power of two, 0 before the first put */
    size_t n;
} mtx_ptrmap;

void mtx_ptrmap_init(mtx_ptrmap *m, mt_ctx *ctx);
/* NULL when absent (NULL keys are never stored). */
void *mtx_ptrmap_get(const mtx_ptrmap *m, const void *key);
/* Insert or replace; false when out of memory (MT_ERR_NOMEM on the context). */
bool mtx_ptrmap_put(mtx_ptrmap *m, const void *key, void *val);
void mtx_ptrmap_free(mtx_ptrmap *m);

#endif
