/* Private context hooks shared by library modules (not public API). */
#ifndef METATRACE_CTX_INTERNAL_H
#define METATRACE_CTX_INTERNAL_H

#include <metatrace/core.h>

/* Per-context slots owned by one module each. */
#define MT_SLOT_SYMTAB 0
#define MT_SLOT_META 1
#define MT_SLOT_COUNT 4

void **mt__ctx_slot(mt_ctx *ctx, int which);
/* Run fn(arg) when the context is freed (reverse registration order). */
bool mt__ctx_on_free(mt_ctx *ctx, void (*fn)(void *), void *arg);
/* Meta-scope depth counter (nn.c). */
int *mt__ctx_meta_depth(mt_ctx *ctx);
/* Arena memory like mt_alloc, not zeroed: for scratch arrays a pass fills
 * completely before reading (zeroing is most of the cost of a large one). */
void *mt__alloc_raw(mt_ctx *ctx, size_t size);
/* A heap block like mt_heap_alloc (freed by mt_heap_free), not zeroed: for
 * buffers written before they are read. */
void *mt__heap_alloc_raw(mt_ctx *ctx, size_t size);
/* a, sep, b in one arena string: mt_sprintf(ctx, "%s.%s", a, b) with sep '.'
 * (NULL printed as printf prints it), without the formatter's cost (module
 * paths, parameter names and node names are made thousands of times). */
char *mt__join(mt_ctx *ctx, const char *a, char sep, const char *b);

#endif
