/* metatrace — export-private: the one DOT writer (dot.c), shared by the DOT
 * exporter, the plan DOT (dot_plan.c, through a style) and the SVG/PNG
 * renderer (render.c, which lays out the text read back by cgraph). */
#ifndef METATRACE_EXPORT_DOT_INTERNAL_H
#define METATRACE_EXPORT_DOT_INTERNAL_H

#include <stddef.h>
#include <stdio.h>

#include <metatrace/metatrace.h>

#include "model_internal.h"

/* The attributes of one node or edge, printed in this order. A style hook
 * sets more with mtx_dot_set; values must live until the object is written
 * (string literals, the model's strings, or `scratch`). */
#define MTX_DOT_MAX_ATTRS 8
typedef struct mtx_dot_attrs {
    int n;
    const char *name[MTX_DOT_MAX_ATTRS];
    const char *value[MTX_DOT_MAX_ATTRS];
    char scratch[160]; /* room for one formatted value */
} mtx_dot_attrs;

/* Replace the value of `name`, or append it (ignored when full: the
 * attribute sets here are fixed and small). */
void mtx_dot_set(mtx_dot_attrs *a, const char *name, const char *value);

/* What a caller draws on top of the graph (NULL: the plain graph).
 * `title` is raw text (label-escaped by the writer); NULL keeps the model's.
 * The defaults are extra name/value pairs (NULL-terminated) declared after
 * ours; empty values are not written (an undeclared attribute reads as ""). */
typedef struct mtx_dot_style {
    const char *title;
    const char *const *node_defaults;
    const char *const *edge_defaults;
    void *data;
    void (*node)(void *data, const mt_node *n, mtx_dot_attrs *a);
    void (*edge)(void *data, const mt_node *tail, const mt_node *head, mtx_dot_attrs *a);
    const char *legend;       /* a legend node's HTML-like label (the table), written unless plain; NULL: none */
} mtx_dot_style;

/* Write the DOT text of a traced model: one node per FX node (id = the FX
 * name), module clusters nested as the nodes' module stacks, an edge from
 * every referenced node to its consumer — as the picture options `po` (NULL:
 * the defaults, picture.h) fold and collapse them into groups. A style (the
 * plan) draws the plain graph with its own attributes. Deterministic and
 * linear in the graph. Errors go on m->ctx. */
mt_status mtx_dot_write(mt_model *m, mt_graph *g, const mtx_dot_style *style, const mt_picture_opts *po,
                        FILE *out);

/* The same text in memory: a NUL-terminated buffer from the context heap
 * (release with mt_heap_free), its length in *len; NULL on error. */
char *mtx_dot_text(mt_model *m, mt_graph *g, const mtx_dot_style *style, const mt_picture_opts *po, size_t *len);

#endif
