/* Private to the symbolic-dim module (src/sym.c); not public API. */
#ifndef METATRACE_SYM_INTERNAL_H
#define METATRACE_SYM_INTERNAL_H

#include <metatrace/sym.h>

/* The per-context intern tables of sym.c. Created lazily on first use and kept
 * in the context slot MT_SLOT_SYMTAB (see ctx_internal.h); all of its memory
 * comes from mt_heap_alloc / mt_alloc, so mt_ctx_free releases it. Returns
 * NULL (with MT_ERR_NOMEM set) when the allocator fails. */
struct mt_symtab;
struct mt_symtab *mt__symtab(mt_ctx *ctx);

/* mt_sym_is_const and mt_sym_const_value in one call: true with *v set when
 * s is a constant. */
bool mt__sym_const_of(const mt_sym *s, int64_t *v);

#endif
