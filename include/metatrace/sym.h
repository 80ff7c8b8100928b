/* metatrace — symbolic dimensions.
 *
 * A dim is a canonical polynomial over named symbols with int64 coefficients
 * (a constant is the degree-0 case). Expressions are interned per context, so
 * two equal expressions are the same pointer: compare with ==.
 * Floor division by a constant that does not divide every coefficient yields a
 * canonical opaque atom "(expr)//c", which then behaves like a symbol. */
#ifndef METATRACE_SYM_H
#define METATRACE_SYM_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mt_sym mt_sym; /* opaque, interned, immutable */

/* Constants and symbols. Symbol names are identifiers ([A-Za-z_][A-Za-z0-9_]*).
 * mt_sym_var returns the same pointer for the same name. */
MT_API const mt_sym *mt_sym_const(mt_ctx *ctx, int64_t v);
MT_API const mt_sym *mt_sym_var(mt_ctx *ctx, const char *name);
/* A fresh symbol named "<prefix>_<k>" (k counts up per prefix, starting at 0)
 * with bounds [lo, hi] (hi may be NULL: unbounded). For data-dependent sizes. */
MT_API const mt_sym *mt_sym_fresh(mt_ctx *ctx, const char *prefix, int64_t lo, const mt_sym *hi);

/* Arithmetic. NULL arguments propagate to a NULL result. Overflow of a
 * coefficient sets MT_ERR_OVERFLOW and returns NULL. */
MT_API const mt_sym *mt_sym_add(mt_ctx *ctx, const mt_sym *a, const mt_sym *b);
MT_API const mt_sym *mt_sym_sub(mt_ctx *ctx, const mt_sym *a, const mt_sym *b);
MT_API const mt_sym *mt_sym_mul(mt_ctx *ctx, const mt_sym *a, const mt_sym *b);
MT_API const mt_sym *mt_sym_add_const(mt_ctx *ctx, const mt_sym *a, int64_t c);
MT_API const mt_sym *mt_sym_mul_const(mt_ctx *ctx, const mt_sym *a, int64_t c);
/* a / b when b divides a exactly as polynomials (b a monomial, or b == a's
 * factor, or both constants); otherwise NULL with MT_ERR_SHAPE and a message
 * printing both. */
MT_API const mt_sym *mt_sym_div_exact(mt_ctx *ctx, const mt_sym *a, const mt_sym *b);
/* Non-failing test: a is divisible by b (same cases as div_exact). */
MT_API bool mt_sym_divides(mt_ctx *ctx, const mt_sym *b, const mt_sym *a);
/* floor(a / c) for a constant c > 0. */
MT_API const mt_sym *mt_sym_floordiv(mt_ctx *ctx, const mt_sym *a, int64_t c);
/* Product of n dims (numel); the empty product is 1. */
MT_API const mt_sym *mt_sym_prod(mt_ctx *ctx, const mt_sym *const *dims, int n);

/* Queries. */
MT_API bool mt_sym_is_const(const mt_sym *s);
MT_API int64_t mt_sym_const_value(const mt_sym *s); /* valid only if is_const */
MT_API bool mt_sym_is_var(const mt_sym *s);          /* a bare symbol (coefficient 1, degree 1) */
/* Printing: "batch*seq", "2*seq + 1", "4096". Returns a string owned by the
 * context (cached on the expression). */
MT_API const char *mt_sym_str(const mt_sym *s);

/* Symbol table (for JSON "symbols"): every named symbol created in ctx, in
 * creation order, with bounds. */
typedef struct mt_symbol_info {
    const char *name;
    const mt_sym *sym;
    int64_t lo;       /* lower bound (default 1 for mt_sym_var) */
    const mt_sym *hi; /* upper bound or NULL */
    const char *origin; /* free text ("input", "tokens routed to expert 3"), may be NULL */
} mt_symbol_info;
MT_API int mt_sym_count(const mt_ctx *ctx);
MT_API const mt_symbol_info *mt_sym_info(const mt_ctx *ctx, int i);
MT_API mt_symbol_info *mt_sym_info_of(mt_ctx *ctx, const mt_sym *var); /* NULL if not a bare symbol */
MT_API void mt_sym_set_bounds(mt_ctx *ctx, const mt_sym *var, int64_t lo, const mt_sym *hi);

/* Evaluation under a binding of symbol names to values. Fails with
 * MT_ERR_USAGE naming the first unbound symbol, or MT_ERR_OVERFLOW. */
typedef struct mt_binding {
    const char *const *names;
    const int64_t *values;
    int n;
} mt_binding;
MT_API mt_status mt_sym_eval(mt_ctx *ctx, const mt_sym *s, const mt_binding *b, int64_t *out);
/* Substitute bound symbols by constants (unbound ones stay). */
MT_API const mt_sym *mt_sym_subst(mt_ctx *ctx, const mt_sym *s, const mt_binding *b);

#ifdef __cplusplus
}
#endif
#endif
