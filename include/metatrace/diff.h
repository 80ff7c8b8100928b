/* metatrace — comparing two graph JSON documents (docs/diff.md).
 *
 * mt_graph_diff reads two "metatrace-graph" documents (docs/graph-format.md;
 * indented, compact or stable alike) and lists what changed, section by
 * section in graph order: parameters, buffers, symbols by name, modules by
 * path, nodes by name (each entry matched across the two documents through a
 * hash map, so the diff is linear in the documents' size), and the model,
 * totals, sizing and any other member leaf by leaf. "tool" and
 * "model.config" are not compared: they say where and with what a document
 * was made, not what the model is. */
#ifndef METATRACE_DIFF_H
#define METATRACE_DIFF_H

#include <stddef.h>
#include <stdio.h>

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ORDER: the report's section order (mt_diff_section_name). */
typedef enum mt_diff_section {
    MT_DIFF_MODEL,      /* "model" leaf by leaf ("config" not compared) */
    MT_DIFF_SYMBOLS,    /* by "name" */
    MT_DIFF_PARAMETERS, /* by "name" */
    MT_DIFF_BUFFERS,    /* by "name" */
    MT_DIFF_MODULES,    /* by "path" */
    MT_DIFF_NODES,      /* by "name" */
    MT_DIFF_TOTALS,     /* leaf by leaf */
    MT_DIFF_SIZING,     /* leaf by leaf */
    MT_DIFF_OTHER,      /* any other top-level member ("plan"), leaf by leaf */
    MT_DIFF_SECTION_COUNT
} mt_diff_section;

typedef enum mt_diff_change {
    MT_DIFF_ADDED,   /* only in the second document */
    MT_DIFF_REMOVED, /* only in the first */
    MT_DIFF_CHANGED, /* in both, a field or leaf differs */
    MT_DIFF_CHANGE_COUNT
} mt_diff_change;

/* One difference. Strings live in the context's arena. */
typedef struct mt_diff_entry {
    mt_diff_section section;
    mt_diff_change change;
    /* Keyed sections: the parameter/buffer/symbol/node name or module path.
     * Leaf sections: the path below the section ("num_layers",
     * "kv_cache.layers[3].heads"); MT_DIFF_OTHER: from the member's key on
     * ("plan.tp"). */
    const char *name;
    /* Nodes: the innermost module the node was recorded under (the last of
     * its module_stack; "" at top level). NULL for the other sections. */
    const char *module;
    /* Keyed sections, MT_DIFF_CHANGED: the entry's member that differs
     * ("shape", "dtype", "target", "op", "args", ...). NULL otherwise. */
    const char *field;
    /* Compact JSON text of the value before and after: the field's or leaf's
     * value, or the whole entry for an added/removed one. NULL on the side
     * that has none (old of an added entry, a field only one side has). */
    const char *old_value;
    const char *new_value;
    /* Added/removed entries of keyed sections: a short description for the
     * text report (parameters and buffers "SHAPE DTYPE", modules the type,
     * nodes "OP TARGET SHAPE DTYPE"). NULL otherwise. */
    const char *detail;
} mt_diff_entry;

typedef struct mt_diff {
    const char *name_a, *name_b; /* as given */
    int n;                        /* 0: the documents are equal */
    const mt_diff_entry *entries; /* report order: sections in order, graph order within */
    int counts[MT_DIFF_SECTION_COUNT][MT_DIFF_CHANGE_COUNT];
} mt_diff;

/* Compare the documents in files path_a and path_b (a pipe such as
 * /dev/fd/N works). NULL on error, the context's error set and naming the
 * file: MT_ERR_IO (unreadable), MT_ERR_PARSE (not JSON; line and column),
 * MT_ERR_UNSUPPORTED (not a metatrace-graph document, a version this
 * metatrace does not read, or two different versions). */
MT_API mt_diff *mt_graph_diff(mt_ctx *ctx, const char *path_a, const char *path_b);
/* The same on documents in memory; name_a/name_b label them in messages. */
MT_API mt_diff *mt_graph_diff_mem(mt_ctx *ctx, const char *name_a, const char *text_a, size_t len_a, const char *name_b,
                           const char *text_b, size_t len_b);

/* "model", "symbols", "parameters", ... ("?" when out of range). */
MT_API const char *mt_diff_section_name(mt_diff_section s);
/* "added", "removed", "changed". */
MT_API const char *mt_diff_change_name(mt_diff_change c);

/* The text report (docs/diff.md): nothing for equal documents, else a
 * "--- A" / "+++ B" header, one line per entry and a summary line. */
MT_API mt_status mt_diff_print(mt_ctx *ctx, const mt_diff *d, FILE *out);
/* The JSON report (format "metatrace-graph-diff", docs/diff.md). */
MT_API mt_status mt_diff_print_json(mt_ctx *ctx, const mt_diff *d, FILE *out);

#ifdef __cplusplus
}
#endif
#endif
