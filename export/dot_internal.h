/* metatrace — export-private: the one Graphviz graph builder shared by the
 * DOT writer (dot.c) and the SVG/PNG renderer (render.c). */
#ifndef METATRACE_EXPORT_DOT_INTERNAL_H
#define METATRACE_EXPORT_DOT_INTERNAL_H

#include <graphviz/cgraph.h>

#include <metatrace/metatrace.h>

/* Build the cgraph graph of a traced model: one node per FX node (id = the
 * FX name), module clusters nested as the nodes' module stacks, an edge from
 * every referenced node to its consumer. Objects are ordered by creation
 * (a private ID discipline), so agwrite output depends only on the input.
 * NULL with an error on m->ctx. Release with agclose. */
Agraph_t *mtx_dot_build(mt_model *m, mt_graph *g);

#endif
