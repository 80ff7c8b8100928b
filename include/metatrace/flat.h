/* metatrace — the flat API: handles, strings and integers only.
 *
 * Every call here takes and returns opaque handles (mt_ctx, mt_config,
 * mt_model, mt_graph, mt_flat), C strings and integers, never a struct by
 * value or a struct whose fields the caller must lay out. It exists for
 * language bindings that call the shared library through a foreign-function
 * interface (the Python package python/metatrace uses it through ctypes,
 * docs/python.md), where mirroring a C struct layout would break silently on
 * any change to it. Options are named as the CLI's long options (docs/cli.md)
 * and spelled as their values there; results are documents written into
 * memory (the graph JSON, docs/graph-format.md; the plan JSON, docs/plan.md),
 * which the binding parses.
 *
 * Errors are set on the context as everywhere (mt_ctx_status, mt_ctx_errmsg;
 * the first error wins until mt_error_clear). */
#ifndef METATRACE_FLAT_H
#define METATRACE_FLAT_H

#include "model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Options for building, tracing and exporting: the CLI's options. */
typedef struct mt_flat mt_flat;

/* New options with every default (the CLI without options), in ctx's arena.
 * NULL only when the allocator fails (MT_ERR_NOMEM). */
MT_API mt_flat *mt_flat_new(mt_ctx *ctx);

/* Set option `name` to `value`, both as on the CLI without the dashes:
 *   build:   dtype (a floating dtype name, not float8), layers (1..MT_MAX_LAYERS),
 *            attn (eager, sdpa), text-only (true, false: a multimodal config's
 *            language model alone);
 *   sizing:  quant (a mt_quant_methods() name), kv-dtype, mem (bytes, a
 *            decimal integer), mla-cache (latent, full), dp (1..1000000),
 *            optimizer (adam, adamw, sgd), context (tokens of the KV figures);
 *   JSON:    stable, compact (true, false);
 *   plans:   tp (1..4096), plan-style (ours, transformers), sp (true, false),
 *            search (best, first, full), max-tp (1..4096, for plan-degrees),
 *            all (true, false: plan-degrees lists the unusable degrees too);
 *   tables:  depth (1..64), unfold (true, false).
 * A NULL value resets the option to its default. Returns MT_OK, or
 * MT_ERR_USAGE with a message naming the option and what was expected (an
 * unknown name lists the known ones). */
MT_API mt_status mt_flat_set(mt_flat *f, const char *name, const char *value);

/* Bind an input symbol ("batch", "seq", "dec_seq") to a positive value for
 * the next mt_flat_trace (the CLI's --bind NAME=VALUE). Binding a name twice
 * replaces its value. MT_ERR_USAGE for a bad name or value. */
MT_API mt_status mt_flat_bind(mt_flat *f, const char *name, int64_t value);

/* mt_model_build with the build options (dtype, layers, attn). NULL on error. */
MT_API mt_model *mt_flat_build(mt_flat *f, mt_config *cfg);

/* mt_model_trace with the bound symbols. NULL on error (binding a name no
 * input uses is MT_ERR_USAGE). */
MT_API mt_graph *mt_flat_trace(mt_flat *f, mt_model *m);

/* Write `format` of the traced graph g of m into memory:
 *   "json"          the graph JSON with its sizing member (sizing and JSON options);
 *   "dot"           the graph as DOT;
 *   "summary"       the summary table (sizing options);
 *   "table"         the per-module table (depth, default 3; unfold);
 *   "svg", "png"    rendered through Graphviz (slow on big graphs);
 *   "html"          the interactive viewer (viewer.h; sizing options);
 *   "plan-json"     the plan object alone for tp ranks (docs/plan.md);
 *   "plan-graph-json" the graph JSON with the plan member (as `--tp N -o x.json`);
 *   "plan-dot", "plan-table" the plan drawn on the graph, and its table;
 *   "plan-html"     the viewer with the plan (an unusable degree: MT_ERR_UNSUPPORTED);
 *   "plan-degrees"  every degree 1..max-tp (default 64): the JSON of `--tp auto -f json`.
 * Plans use tp (default 1), plan-style, sp, search, and the bound batch/seq.
 * Returns a NUL-terminated block of *len bytes (len may be NULL) owned by the
 * context: free it early with mt_heap_free, else mt_ctx_free does. NULL on
 * error (unknown format: MT_ERR_USAGE; an exporter's error as it sets it). */
MT_API char *mt_flat_export(mt_flat *f, mt_model *m, mt_graph *g, const char *format, size_t *len);

#ifdef __cplusplus
}
#endif
#endif
